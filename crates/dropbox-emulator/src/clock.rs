//! The emulator's notion of now for whatever expires (upload sessions, issued access tokens,
//! authorization codes): real time plus an offset. Only an emulator started with
//! `test_clock` (`emulate --test-clock`) lets a client move the offset, by
//! `POST /test/clock` (`routes`), so a test expires a session or a token without waiting.
//! Timestamps of files (`server_modified`) stay real time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

#[derive(Default)]
pub struct Clock {
    /// Seconds added to real time; only ever grows.
    ahead: AtomicI64,
}

impl Clock {
    /// Unix seconds; a clock moved past the end of time stays there, so all has expired.
    pub fn now(&self) -> i64 {
        let ahead = self.ahead.load(Ordering::Relaxed);
        chrono::Utc::now().timestamp().saturating_add(ahead)
    }

    /// Moves now `by` forward; returns how far ahead of real time it now is, in seconds.
    pub fn advance(&self, by: Duration) -> i64 {
        let by = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        let before = self
            .ahead
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |a| {
                Some(a.saturating_add(by))
            })
            .expect("the update always succeeds");
        before.saturating_add(by)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward_by_that_much() {
        let clock = Clock::default();
        let before = clock.now();
        assert_eq!(clock.advance(Duration::from_secs(3600)), 3600);
        assert_eq!(clock.advance(Duration::from_secs(60)), 3660);
        let moved = clock.now() - before;
        assert!((3660..3662).contains(&moved), "{moved}");
    }

    /// Red team (issue 22): a huge advance wrapped now round to the distant past, so every
    /// expired token lived again.
    #[test]
    fn no_advance_moves_now_back() {
        let clock = Clock::default();
        let before = clock.now();
        clock.advance(Duration::from_secs(u64::MAX));
        assert_eq!(clock.now(), i64::MAX);
        clock.advance(Duration::from_secs(u64::MAX));
        assert!(clock.now() > before);
    }
}
