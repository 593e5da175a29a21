//! Transfer rates: how `--bwlimit` (the client) and `--conn-rate`/`--link-rate` (the
//! emulator) spell them, and the token bucket both limit with. No I/O and no clock of its
//! own: callers pass the time, so the bucket runs as well on tokio's paused test clock
//! (`tokio::time::Instant::into_std`) as on the real one.

use std::fmt;
use std::time::{Duration, Instant};

/// A token bucket of `bytes_per_sec`. A reservation may run into debt: the caller then
/// waits the time [`TokenBucket::reserve`] returns, so callers are served in the order they
/// asked and the aggregate rate is exact whatever their number. The bucket starts empty and
/// holds at most a tenth of a second's worth, so the limit holds from the first byte and an
/// idle spell does not allow a burst later.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    bytes_per_sec: u64,
    /// Bytes that may go now; negative when reservations are ahead of the refill.
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// An empty bucket at `now`; a rate of 0 counts as 1 byte/s (never infinite).
    pub fn new(bytes_per_sec: u64, now: Instant) -> TokenBucket {
        TokenBucket {
            bytes_per_sec: bytes_per_sec.max(1),
            tokens: 0.0,
            at: now,
        }
    }

    pub fn bytes_per_sec(&self) -> u64 {
        self.bytes_per_sec
    }

    /// Reserves `n` bytes at `now`: how long to wait before they may go (zero: at once).
    pub fn reserve(&mut self, n: usize, now: Instant) -> Duration {
        let rate = self.bytes_per_sec as f64;
        // A `now` before the last call (callers racing for the lock) refills nothing.
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * rate;
        self.tokens = (self.tokens + refill).min(rate / 10.0) - n as f64;
        self.at = self.at.max(now);
        if self.tokens < 0.0 {
            Duration::from_secs_f64(-self.tokens / rate)
        } else {
            Duration::ZERO
        }
    }
}

/// A rate as rclone and rsync spell it: a number with an optional binary suffix `B`, `K`, `M`
/// or `G` (bytes, KiB, MiB, GiB per second; `KiB`, `MiB`, `GiB` and a trailing `/s` also
/// work); a bare number is KiB/s. `0` or `off`: no limit (`None`).
pub fn parse_rate(text: &str) -> Result<Option<u64>, BadRate> {
    let bad = || BadRate(text.to_string());
    let s = text.trim();
    let s = s.strip_suffix("/s").unwrap_or(s);
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let digits = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(digits);
    let shift = match unit.to_ascii_lowercase().as_str() {
        "b" => 0,
        "" | "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => return Err(bad()),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok((bytes >= 1.0).then_some(bytes as u64))
}

/// A rate [`parse_rate`] cannot read; the text it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRate(pub String);

impl fmt::Display for BadRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a rate: write e.g. 10M (MiB/s), 512K (KiB/s) or 1G (GiB/s)",
            self.0
        )
    }
}

impl std::error::Error for BadRate {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_like_rclone() {
        let mib = 1 << 20;
        for (text, want) in [
            ("10M", Some(10 * mib)),
            ("10m", Some(10 * mib)),
            ("10MiB/s", Some(10 * mib)),
            ("1.5M", Some(3 * mib / 2)),
            ("512K", Some(512 * 1024)),
            ("512", Some(512 * 1024)),
            ("1G", Some(1 << 30)),
            ("100B", Some(100)),
            (" 2M ", Some(2 * mib)),
            ("0", None),
            ("off", None),
        ] {
            assert_eq!(parse_rate(text), Ok(want), "{text}");
        }
        for bad in ["", "M", "ten", "10X", "-1M", "1e400G", "10 M"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_bucket_starts_empty_and_runs_into_debt() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(1000, t0);
        assert_eq!(bucket.reserve(500, t0), Duration::from_millis(500));
        // The second reservation queues behind the first.
        assert_eq!(bucket.reserve(500, t0), Duration::from_secs(1));
        // Once the debt is paid off, the next bytes wait only for themselves.
        let later = t0 + Duration::from_secs(1);
        assert_eq!(bucket.reserve(100, later), Duration::from_millis(100));
    }

    #[test]
    fn an_idle_spell_allows_no_more_than_a_tenth_of_a_second() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(1000, t0);
        let wait = bucket.reserve(1100, t0 + Duration::from_secs(60));
        // 100 bytes were saved up; the other 1,000 take a second.
        assert_eq!(wait, Duration::from_secs(1));
    }

    #[test]
    fn an_earlier_now_refills_nothing() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(1000, t0 + Duration::from_secs(1));
        assert_eq!(bucket.reserve(1000, t0), Duration::from_secs(1));
    }
}
