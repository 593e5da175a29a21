//! Faults on demand: latency, server errors, rate limits and cut connections, drawn from
//! one seeded generator so a run can be replayed (`--seed`); stalls, requests that are
//! never answered, at a chosen point, so a test can kill its client there; holds, requests
//! kept waiting at a chosen point until released, so a test can act mid-run (as a second
//! writer would) and then let the client go on; and corrupted commits, whose stored bytes
//! differ from what was sent, so a test can see a client find a commit wrong.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What to inject. Rates are shares of requests in `0.0..=1.0`; their sum must be ≤ 1.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// `None`: a random seed (logged at start).
    pub seed: Option<u64>,
    /// Added to every request, OAuth included.
    pub latency: Duration,
    /// Answered 500 or 503.
    pub error_rate: f64,
    /// Answered 429 (JSON `too_many_requests`, plain text or `too_many_write_operations`),
    /// or, on routes that write, 409 `too_many_write_operations`.
    pub rate_limit_rate: f64,
    /// Upload requests whose connection is dropped in the middle of the body.
    pub cut_rate: f64,
    /// Requests that get no answer.
    pub stalls: Vec<Stall>,
    /// Requests served only once [`FaultPlan::release_holds`] is called (spelled like stalls).
    pub holds: Vec<Stall>,
    /// Requests served in full whose answer is then lost: the connection drops instead, as
    /// when a response dies on the way back (spelled like stalls).
    pub lost_answers: Vec<Stall>,
    /// Requests served whose answer breaks off: the connection drops half-way through the
    /// body, as when a download is cut (spelled like stalls).
    pub cut_answers: Vec<Stall>,
    /// The commits (counted from 1, every route's) stored with one byte flipped.
    pub corrupt_commits: Vec<u64>,
    /// Routes answered as Dropbox answers a route it does not have (400 "Unknown API
    /// function"), as an older or partial server would.
    pub unknown_routes: Vec<KnownRoute>,
}

/// The name of a route the emulator serves, e.g. `files/upload_session/append_batch`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownRoute(pub String);

impl FromStr for KnownRoute {
    type Err = String;

    fn from_str(route: &str) -> Result<KnownRoute, String> {
        if !super::route::is_route(route) {
            return Err(format!("{route:?} is not a route the emulator serves"));
        }
        Ok(KnownRoute(route.to_string()))
    }
}

/// The `nth` request (from 1) to `route` (e.g. `files/upload_session/append_v2`) is read to
/// the end and then held unanswered until the emulator stops. Spelled `ROUTE:N`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stall {
    pub route: String,
    pub nth: u64,
}

impl FromStr for Stall {
    type Err = String;

    fn from_str(s: &str) -> Result<Stall, String> {
        let bad = || format!("{s:?}: expected ROUTE:N, e.g. files/upload_session/append_v2:3");
        let (route, nth) = s.rsplit_once(':').ok_or_else(bad)?;
        let nth = nth.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(bad)?;
        let KnownRoute(route) = route.parse()?;
        Ok(Stall { route, nth })
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultsError {
    #[error("--{0} must be between 0 and 1, got {1}")]
    Rate(&'static str, f64),
    #[error("--error-rate, --rate-limit-rate and --cut-rate add up to {0}, more than 1")]
    Sum(f64),
}

impl Faults {
    pub fn validate(&self) -> Result<(), FaultsError> {
        for (name, r) in [
            ("error-rate", self.error_rate),
            ("rate-limit-rate", self.rate_limit_rate),
            ("cut-rate", self.cut_rate),
        ] {
            if !(0.0..=1.0).contains(&r) {
                return Err(FaultsError::Rate(name, r));
            }
        }
        let sum = self.error_rate + self.rate_limit_rate + self.cut_rate;
        if sum > 1.0 + f64::EPSILON {
            return Err(FaultsError::Sum(sum));
        }
        Ok(())
    }
}

/// One request's fate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    None,
    /// 500 or 503.
    ServerError(u16),
    /// 429 with `Retry-After`; `reason` `None` = plain-text body.
    RateLimited {
        reason: Option<&'static str>,
        retry_after: u64,
    },
    /// 409 `too_many_write_operations` in the route's own error union.
    WriteContention,
    /// Drop the connection after this share of the body.
    Cut(f64),
}

/// The kind of route, which decides the faults it can get.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exposure {
    pub writes: bool,
    pub has_body: bool,
}

pub struct FaultPlan {
    faults: Faults,
    pub seed: u64,
    rng: Mutex<StdRng>,
    /// Requests seen so far per route with a stall, hold or lost answer.
    calls: Mutex<HashMap<String, u64>>,
    /// Commits asked for so far.
    commits: AtomicU64,
    /// Cancelled when the emulator stops: stalled requests then end.
    released: CancellationToken,
    /// Wakes the requests held at the time.
    unheld: Notify,
}

/// What to do with a request before serving it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    Serve,
    /// Never answer it ([`Faults::stalls`]).
    Stall,
    /// Serve it once released ([`Faults::holds`]).
    Hold,
    /// Serve it, then drop the connection unanswered ([`Faults::lost_answers`]).
    LoseAnswer,
    /// Serve it, dropping the connection half-way through the body ([`Faults::cut_answers`]).
    CutAnswer,
}

impl FaultPlan {
    pub fn new(faults: Faults) -> FaultPlan {
        let seed = faults.seed.unwrap_or_else(rand::random);
        FaultPlan {
            faults,
            seed,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            calls: Mutex::new(HashMap::new()),
            commits: AtomicU64::new(0),
            released: CancellationToken::new(),
            unheld: Notify::new(),
        }
    }

    /// Whether this request to `route` is one to stall, hold, or lose or cut the answer of.
    pub fn point(&self, route: &str) -> Point {
        let f = &self.faults;
        let (stalls, holds, lost, cut) = (&f.stalls, &f.holds, &f.lost_answers, &f.cut_answers);
        if !stalls
            .iter()
            .chain(holds)
            .chain(lost)
            .chain(cut)
            .any(|s| s.route == route)
        {
            return Point::Serve;
        }
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let n = calls.entry(route.to_string()).or_default();
        *n += 1;
        let at = |points: &[Stall]| points.iter().any(|s| s.route == route && s.nth == *n);
        if at(stalls) {
            Point::Stall
        } else if at(holds) {
            Point::Hold
        } else if at(lost) {
            Point::LoseAnswer
        } else if at(cut) {
            Point::CutAnswer
        } else {
            Point::Serve
        }
    }

    /// Resolves once [`FaultPlan::release_holds`] is called after this call (not before),
    /// or the emulator stops. Call it before saying the request is held: a release that
    /// follows the saying is then never missed.
    pub fn hold(&self) -> impl Future<Output = ()> + '_ {
        // A `Notified` receives `notify_waiters` from its creation on, polled or not.
        let unheld = self.unheld.notified();
        async move {
            tokio::select! {
                _ = unheld => {}
                _ = self.released.cancelled() => {}
            }
        }
    }

    /// Lets every request held now go on.
    pub fn release_holds(&self) {
        self.unheld.notify_waiters();
    }

    /// Whether the commit asked for now (`files/upload`, `upload_session/finish`, an entry
    /// of `finish_batch_v2`) is one to store corrupted.
    pub fn corrupts_commit(&self) -> bool {
        let nth = self.commits.fetch_add(1, Ordering::Relaxed) + 1;
        self.faults.corrupt_commits.contains(&nth)
    }

    /// Resolves once the emulator stops.
    pub async fn released(&self) {
        self.released.cancelled().await;
    }

    pub fn release(&self) {
        self.released.cancel();
    }

    /// Whether `route` is to be answered as one Dropbox does not have (`--unknown-route`).
    pub fn unknown(&self, route: &str) -> bool {
        self.faults.unknown_routes.iter().any(|r| r.0 == route)
    }

    pub fn latency(&self) -> Duration {
        self.faults.latency
    }

    /// Draws the same three numbers for every request so the sequence depends only on the
    /// seed and the order of requests.
    pub fn draw(&self, exposure: Exposure) -> Fault {
        let (r, pick, share): (f64, f64, f64) = {
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            (rng.r#gen(), rng.r#gen(), rng.r#gen())
        };
        let f = &self.faults;
        if r < f.error_rate {
            return Fault::ServerError(if pick < 0.5 { 500 } else { 503 });
        }
        if r < f.error_rate + f.rate_limit_rate {
            let retry_after = 1;
            return match (pick * 4.0) as u8 {
                0 => Fault::RateLimited {
                    reason: None,
                    retry_after,
                },
                1 => Fault::RateLimited {
                    reason: Some("too_many_write_operations"),
                    retry_after,
                },
                2 if exposure.writes => Fault::WriteContention,
                _ => Fault::RateLimited {
                    reason: Some("too_many_requests"),
                    retry_after,
                },
            };
        }
        if exposure.has_body && r < f.error_rate + f.rate_limit_rate + f.cut_rate {
            return Fault::Cut(share);
        }
        Fault::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(seed: u64) -> FaultPlan {
        FaultPlan::new(Faults {
            seed: Some(seed),
            error_rate: 0.2,
            rate_limit_rate: 0.2,
            cut_rate: 0.2,
            ..Faults::default()
        })
    }

    #[test]
    fn same_seed_same_sequence() {
        let e = Exposure {
            writes: true,
            has_body: true,
        };
        let (p, q) = (plan(7), plan(8));
        let b: Vec<Fault> = (0..200).map(|_| p.draw(e)).collect();
        let c: Vec<Fault> = (0..200).map(|_| q.draw(e)).collect();
        assert_ne!(b, c);
        let again = plan(7);
        assert_eq!(b, (0..200).map(|_| again.draw(e)).collect::<Vec<_>>());
        assert!(b.contains(&Fault::None));
        assert!(b.iter().any(|f| matches!(f, Fault::Cut(_))));
    }

    #[test]
    fn stalls_holds_lost_and_cut_answers_hit_only_the_nth_request_to_their_route() {
        let at = |s: &str| s.parse::<Stall>().unwrap();
        let p = FaultPlan::new(Faults {
            stalls: vec![at("files/upload_session/append_v2:2")],
            holds: vec![at("files/upload_session/append_v2:3")],
            lost_answers: vec![at("files/upload_session/append_v2:5")],
            cut_answers: vec![at("files/upload_session/append_v2:6")],
            ..Faults::default()
        });
        let route = "files/upload_session/append_v2";
        let seen: Vec<Point> = (0..7).map(|_| p.point(route)).collect();
        use Point::{CutAnswer, Hold, LoseAnswer, Serve, Stall as Stalled};
        assert_eq!(
            seen,
            [Serve, Stalled, Hold, Serve, LoseAnswer, CutAnswer, Serve]
        );
        assert_eq!(p.point("files/upload_session/start"), Serve);
        for bad in [
            "files/upload_session/append_v2",
            "x:1",
            "files/upload:0",
            "files/upload:a",
        ] {
            assert!(bad.parse::<Stall>().is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_hold_ends_at_the_release_that_follows_it() {
        let p = FaultPlan::new(Faults::default());
        p.release_holds();
        let hold = p.hold();
        p.release_holds();
        tokio::time::timeout(std::time::Duration::from_secs(5), hold)
            .await
            .expect("released");
    }

    #[test]
    fn only_the_commits_named_are_corrupted() {
        let p = FaultPlan::new(Faults {
            corrupt_commits: vec![2, 4],
            ..Faults::default()
        });
        let seen: Vec<bool> = (0..5).map(|_| p.corrupts_commit()).collect();
        assert_eq!(seen, [false, true, false, true, false]);
    }

    #[test]
    fn rates_are_checked() {
        let bad = Faults {
            error_rate: 1.5,
            ..Faults::default()
        };
        assert!(bad.validate().is_err());
        let sum = Faults {
            error_rate: 0.6,
            cut_rate: 0.6,
            ..Faults::default()
        };
        assert_eq!(sum.validate(), Err(FaultsError::Sum(1.2)));
        assert!(Faults::default().validate().is_ok());
    }
}
