//! `--bwlimit`: one token bucket ([`TokenBucket`], shared with the emulator's link model)
//! that every request body draws from, so the limit holds across all transfers in flight
//! together. Bytes are reserved before they are written; each writer then sleeps for the
//! wait its reservation returns, so writers are served in the order they asked.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use dropbox_wire::rate::TokenBucket;
pub use dropbox_wire::rate::{BadRate, parse_rate};
use futures_util::Stream;
use tokio::time::Instant;

/// Largest piece of a body written at once.
const PIECE: usize = 64 * 1024;

#[derive(Debug)]
pub struct Bandwidth {
    bucket: Mutex<TokenBucket>,
}

impl Bandwidth {
    pub fn new(bytes_per_sec: u64) -> Arc<Bandwidth> {
        let bucket = TokenBucket::new(bytes_per_sec, Instant::now().into_std());
        Arc::new(Bandwidth {
            bucket: Mutex::new(bucket),
        })
    }

    pub fn bytes_per_sec(&self) -> u64 {
        self.lock().bytes_per_sec()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TokenBucket> {
        self.bucket.lock().expect("bandwidth lock poisoned")
    }

    /// Waits until `n` more bytes may be written.
    pub async fn take(&self, n: usize) {
        // tokio's clock, so that tests on the paused clock see the limit too.
        let wait = self.lock().reserve(n, Instant::now().into_std());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// `data` as a stream of pieces, each let through by the bucket.
    pub fn throttle(
        self: &Arc<Self>,
        data: Bytes,
    ) -> impl Stream<Item = std::io::Result<Bytes>> + Send + use<> {
        // Small pieces at low rates, so that progress and the rate stay smooth.
        let piece = (self.bytes_per_sec() as usize / 20).clamp(1024, PIECE);
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

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
}
