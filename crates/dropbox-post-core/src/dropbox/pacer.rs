//! The one owner of retry and back-off decisions (after rclone's pacer).
//!
//! Every retried Dropbox call asks the pacer whether and how long to wait. Back-off is
//! exponential with jitter; a `Retry-After` from Dropbox overrides it and also holds back
//! every other request (rate limits are per token, so all transfers share one gate).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use super::error::ApiError;
use super::route_error::RouteError;

/// A `Retry-After` this long is said on the terminal, not only waited out.
const LONG_WAIT: Duration = Duration::from_secs(10);
/// The longest one request waits out `Retry-After`s, all its attempts together: past it the
/// request fails with the rate limit's error (Dropbox asks for seconds to minutes; a day,
/// or 900 s nine times over, means a broken or hostile server, and a wait past `Instant`'s
/// range would panic).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

#[derive(Debug)]
pub struct Pacer {
    min_sleep: Duration,
    max_sleep: Duration,
    max_attempts: u32,
    /// No request starts before this instant (set by `Retry-After`).
    gate: Mutex<Option<Instant>>,
    /// Whether the user was told Dropbox cannot be reached: the retries that follow take
    /// half a minute, and silence would look like a hang.
    said_unreachable: AtomicBool,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    RetryAfter(Duration),
    GiveUp,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new(Duration::from_millis(100), Duration::from_secs(8), 10)
    }
}

impl Pacer {
    pub fn new(min_sleep: Duration, max_sleep: Duration, max_attempts: u32) -> Self {
        Pacer {
            min_sleep,
            max_sleep,
            max_attempts,
            gate: Mutex::new(None),
            said_unreachable: AtomicBool::new(false),
        }
    }

    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Whether an error is worth another attempt of the same request.
    pub fn is_retryable(error: &ApiError) -> bool {
        match error {
            ApiError::RateLimited { .. } | ApiError::Server { .. } | ApiError::Network { .. } => {
                true
            }
            ApiError::Endpoint { .. } => {
                error.route_error() == Some(RouteError::TooManyWriteOperations)
            }
            _ => false,
        }
    }

    /// Decide after attempt number `attempt` (1-based) failed with `error`, the request
    /// having waited `waited` between its attempts so far.
    pub fn decide(&self, attempt: u32, waited: Duration, error: &ApiError) -> Decision {
        if attempt >= self.max_attempts || !Self::is_retryable(error) {
            return Decision::GiveUp;
        }
        match error {
            ApiError::RateLimited {
                retry_after: Some(after),
                ..
            } if waited.saturating_add(*after) > MAX_RETRY_AFTER => Decision::GiveUp,
            ApiError::RateLimited {
                retry_after: Some(after),
                ..
            } => {
                self.hold_all(*after);
                Decision::RetryAfter(*after)
            }
            ApiError::Network { .. } => {
                if !self.said_unreachable.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "{error}; retrying for up to {} s (Ctrl-C stops)",
                        self.patience().as_secs_f64().ceil()
                    );
                }
                Decision::RetryAfter(self.backoff(attempt))
            }
            _ => Decision::RetryAfter(self.backoff(attempt)),
        }
    }

    /// The longest a request can spend waiting between its attempts.
    fn patience(&self) -> Duration {
        (1..self.max_attempts).map(|a| self.cap(a)).sum()
    }

    /// Exponential back-off with "equal jitter": half fixed, half random, so that many
    /// transfers failing together do not retry in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let half = self.cap(attempt) / 2;
        half + half.mul_f64(rand::thread_rng().r#gen::<f64>())
    }

    fn cap(&self, attempt: u32) -> Duration {
        self.min_sleep
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max_sleep)
    }

    fn hold_all(&self, after: Duration) {
        let until = Instant::now() + after;
        let mut gate = self.gate.lock().expect("pacer gate poisoned");
        if gate.is_none_or(|g| g < until) {
            if after >= LONG_WAIT {
                tracing::warn!(
                    "Dropbox asks for a pause (rate limit): waiting {} s before the next request",
                    after.as_secs()
                );
            }
            *gate = Some(until);
        }
    }

    /// Wait until Dropbox's last `Retry-After` has passed (returns at once otherwise).
    pub async fn ready(&self) {
        let until = *self.gate.lock().expect("pacer gate poisoned");
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server() -> ApiError {
        ApiError::Server {
            route: "r".into(),
            status: 503,
            body: String::new(),
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = Pacer::new(Duration::from_millis(100), Duration::from_secs(2), 10);
        for attempt in 1..=12 {
            let cap = Duration::from_millis(100 * (1u64 << (attempt - 1).min(20)))
                .min(Duration::from_secs(2));
            for _ in 0..20 {
                let d = p.backoff(attempt);
                assert!(
                    d >= cap / 2 && d <= cap,
                    "attempt {attempt}: {d:?} vs {cap:?}"
                );
            }
        }
    }

    #[test]
    fn patience_is_the_sum_of_the_waits_a_request_may_take() {
        let p = Pacer::default();
        // 0.1 + 0.2 + 0.4 + 0.8 + 1.6 + 3.2 + 6.4 + 8 + 8 seconds, before attempts 2 to 10.
        assert_eq!(p.patience(), Duration::from_millis(28_700));
        assert!((1..20).all(|a| p.backoff(a) <= p.cap(a)));
    }

    #[test]
    fn the_waits_of_one_request_are_capped_together() {
        let p = Pacer::default();
        let e = ApiError::RateLimited {
            route: "r".into(),
            retry_after: Some(Duration::from_secs(600)),
        };
        assert!(matches!(
            p.decide(1, Duration::ZERO, &e),
            Decision::RetryAfter(_)
        ));
        let waited = Duration::from_secs(600);
        assert_eq!(p.decide(2, waited, &e), Decision::GiveUp);
    }

    #[test]
    fn a_retry_after_past_the_cap_gives_up_at_once() {
        let p = Pacer::default();
        for secs in [MAX_RETRY_AFTER.as_secs() + 1, 100_000, u64::MAX] {
            let e = ApiError::RateLimited {
                route: "r".into(),
                retry_after: Some(Duration::from_secs(secs)),
            };
            assert_eq!(p.decide(1, Duration::ZERO, &e), Decision::GiveUp, "{secs}");
        }
        assert!(p.gate.lock().unwrap().is_none());
    }

    #[test]
    fn retry_after_is_obeyed_exactly() {
        let p = Pacer::default();
        let e = ApiError::RateLimited {
            route: "r".into(),
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(
            p.decide(1, Duration::ZERO, &e),
            Decision::RetryAfter(Duration::from_secs(7))
        );
        assert!(p.gate.lock().unwrap().is_some());
    }

    #[test]
    fn what_is_retried() {
        let p = Pacer::default();
        assert!(matches!(
            p.decide(1, Duration::ZERO, &server()),
            Decision::RetryAfter(_)
        ));
        assert_eq!(p.decide(10, Duration::ZERO, &server()), Decision::GiveUp);
        let busy = ApiError::Endpoint {
            route: "files/upload_session/finish".into(),
            summary: "too_many_write_operations/".into(),
            error: json!({".tag":"too_many_write_operations"}),
            path: None,
        };
        assert!(matches!(
            p.decide(3, Duration::ZERO, &busy),
            Decision::RetryAfter(_)
        ));
        let conflict = ApiError::Endpoint {
            route: "files/upload_session/finish".into(),
            summary: "path/conflict/file/".into(),
            error: json!({".tag":"path","path":{".tag":"conflict","conflict":{".tag":"file"}}}),
            path: None,
        };
        assert_eq!(p.decide(1, Duration::ZERO, &conflict), Decision::GiveUp);
        let bad = ApiError::BadInput {
            route: "r".into(),
            message: "nope".into(),
        };
        assert_eq!(p.decide(1, Duration::ZERO, &bad), Decision::GiveUp);
        let rate = ApiError::RateLimited {
            route: "r".into(),
            retry_after: None,
        };
        assert!(matches!(
            p.decide(2, Duration::ZERO, &rate),
            Decision::RetryAfter(_)
        ));
    }
}
