//! `--bwlimit`: one token bucket that every request body draws from, so the limit holds
//! across all transfers in flight together.
//!
//! Bytes are reserved before they are written and a reservation may run into debt: each
//! writer then sleeps until the bucket has refilled to cover it, so writers are served in
//! the order they asked and the aggregate rate is exact whatever their number. The bucket
//! starts empty and holds at most a tenth of a second's worth, so the limit holds from the
//! first byte and an idle spell does not allow a burst later.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::time::Instant;

/// Largest piece of a body written at once.
const PIECE: usize = 64 * 1024;

#[derive(Debug)]
pub struct Bandwidth {
    bytes_per_sec: u64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Bytes that may go now; negative when reservations are ahead of the refill.
    tokens: f64,
    at: Instant,
}

impl Bandwidth {
    pub fn new(bytes_per_sec: u64) -> Arc<Bandwidth> {
        Arc::new(Bandwidth {
            bytes_per_sec: bytes_per_sec.max(1),
            bucket: Mutex::new(Bucket {
                tokens: 0.0,
                at: Instant::now(),
            }),
        })
    }

    pub fn bytes_per_sec(&self) -> u64 {
        self.bytes_per_sec
    }

    /// Waits until `n` more bytes may be written.
    pub async fn take(&self, n: usize) {
        let rate = self.bytes_per_sec as f64;
        let wait = {
            let mut b = self.bucket.lock().expect("bandwidth lock poisoned");
            let now = Instant::now();
            let refill = now.duration_since(b.at).as_secs_f64() * rate;
            b.tokens = (b.tokens + refill).min(rate / 10.0) - n as f64;
            b.at = now;
            (b.tokens < 0.0).then(|| Duration::from_secs_f64(-b.tokens / rate))
        };
        if let Some(wait) = wait {
            tokio::time::sleep(wait).await;
        }
    }

    /// `data` as a stream of pieces, each let through by the bucket.
    pub fn throttle(
        self: &Arc<Self>,
        data: Bytes,
    ) -> impl Stream<Item = std::io::Result<Bytes>> + Send + use<> {
        // Small pieces at low rates, so that progress and the rate stay smooth.
        let piece = (self.bytes_per_sec as usize / 20).clamp(1024, PIECE);
        let limit = self.clone();
        futures_util::stream::unfold((data, limit), move |(mut rest, limit)| async move {
            if rest.is_empty() {
                return None;
            }
            let next = rest.split_to(piece.min(rest.len()));
            limit.take(next.len()).await;
            Some((Ok(next), (rest, limit)))
        })
    }
}

/// A rate as rclone and rsync spell it: a number with an optional binary suffix `B`, `K`, `M`
/// or `G` (bytes, KiB, MiB, GiB per second; `KiB`, `MiB`, `GiB` and a trailing `/s` also
/// work); a bare number is KiB/s. `0` or `off`: no limit (`None`).
pub fn parse_rate(text: &str) -> Result<Option<u64>, String> {
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
        _ => return Err(bad_rate(text)),
    };
    let value: f64 = number.parse().map_err(|_| bad_rate(text))?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad_rate(text));
    }
    Ok((bytes >= 1.0).then_some(bytes as u64))
}

fn bad_rate(text: &str) -> String {
    format!("{text:?} is not a rate: write e.g. 10M (MiB/s), 512K (KiB/s) or 1G (GiB/s)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

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

    #[tokio::test(start_paused = true)]
    async fn writers_together_get_the_rate_from_the_first_byte() {
        let limit = Bandwidth::new(1 << 20);
        let started = Instant::now();
        // Four writers of 1 MiB at 1 MiB/s: 4 s, whatever the interleaving.
        let writers = (0..4).map(|_| {
            let limit = limit.clone();
            tokio::spawn(async move {
                let body = Bytes::from(vec![0u8; 1 << 20]);
                let pieces: Vec<_> = limit.throttle(body).collect().await;
                pieces
                    .iter()
                    .map(|p| p.as_ref().unwrap().len())
                    .sum::<usize>()
            })
        });
        let sent: usize = futures_util::future::join_all(writers)
            .await
            .into_iter()
            .map(Result::unwrap)
            .sum();
        assert_eq!(sent, 4 << 20);
        let took = started.elapsed().as_secs_f64();
        assert!((3.9..=4.1).contains(&took), "{took}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_spell_allows_no_more_than_a_tenth_of_a_second() {
        let limit = Bandwidth::new(1000);
        tokio::time::sleep(Duration::from_secs(60)).await;
        let started = Instant::now();
        limit.take(1100).await;
        // 100 bytes were saved up; the other 1,000 take a second.
        let took = started.elapsed().as_secs_f64();
        assert!((0.99..=1.01).contains(&took), "{took}");
    }
}
