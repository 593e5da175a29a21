//! The link model (`--conn-rate`, `--link-rate`): each TCP connection's bytes, in each
//! direction separately, go no faster than its own rate and than what is left of the link's,
//! which all connections share. It wraps the TCP stream below TLS, so it limits what a wire
//! would carry (records, headers and all), as Dropbox's per-connection throughput does.
//!
//! Writes reserve their bytes before they go, so the last byte leaves when the rate says.
//! Reads take at most a piece at a time and pay for what came afterwards: how much a read
//! will bring is not known before it. Either way the average rate is exact, and the reader
//! keeps the rest in the kernel's buffer, so TCP slows the sender as a slow link would.
//! Waiting is a [`Sleep`] kept in the stream, never a blocked thread.

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use dropbox_wire::rate::TokenBucket;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Largest piece moved at once, so that bytes flow smoothly at low rates and a burst is at
/// most this after each wait.
const PIECE: usize = 64 * 1024;

/// The limits of one emulator: the per-connection rate and the link's buckets, shared by
/// every connection it wraps. Rates are bytes per second; `None` is no limit.
#[derive(Debug, Clone)]
pub struct Link {
    conn_rate: Option<u64>,
    link_rate: Option<u64>,
    /// Inbound (what the emulator reads) and outbound, when the link is limited.
    shared: Option<[Arc<Mutex<TokenBucket>>; 2]>,
}

impl Link {
    pub fn new(conn_rate: Option<u64>, link_rate: Option<u64>) -> Link {
        let shared = link_rate.map(|rate| {
            let bucket = || Arc::new(Mutex::new(TokenBucket::new(rate, now())));
            [bucket(), bucket()]
        });
        Link {
            conn_rate,
            link_rate,
            shared,
        }
    }

    /// `inner` limited by this link; as it was when nothing is limited.
    pub fn shape<S>(&self, inner: S) -> Shaped<S> {
        // Pieces small enough for the slowest limit to stay smooth.
        let slowest = self.conn_rate.into_iter().chain(self.link_rate).min();
        let piece = slowest.map_or(PIECE, |rate| (rate as usize / 20).clamp(1024, PIECE));
        let direction = |i: usize| Direction {
            conn: self.conn_rate.map(|rate| TokenBucket::new(rate, now())),
            link: self.shared.as_ref().map(|buckets| buckets[i].clone()),
            piece,
            credit: 0,
            sleep: None,
            waiting: false,
        };
        Shaped {
            inner,
            read: direction(0),
            write: direction(1),
        }
    }
}

/// tokio's clock, so that tests on the paused clock see the rates too.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// A stream whose reads and writes a [`Link`] limits.
pub struct Shaped<S> {
    inner: S,
    read: Direction,
    write: Direction,
}

/// The limits on one direction of one connection.
struct Direction {
    conn: Option<TokenBucket>,
    /// The link's bucket for this direction.
    link: Option<Arc<Mutex<TokenBucket>>>,
    piece: usize,
    /// Bytes already paid for that may go without waiting again.
    credit: usize,
    /// Made at the first wait and reset for each later one.
    sleep: Option<Pin<Box<Sleep>>>,
    waiting: bool,
}

impl Direction {
    fn limited(&self) -> bool {
        self.conn.is_some() || self.link.is_some()
    }

    /// Pays for `n` bytes in both buckets and starts waiting for the later of the two.
    fn charge(&mut self, n: usize) {
        let now = now();
        let conn = self
            .conn
            .as_mut()
            .map_or(Duration::ZERO, |b| b.reserve(n, now));
        let link = self.link.as_ref().map_or(Duration::ZERO, |b| {
            b.lock().expect("link lock poisoned").reserve(n, now)
        });
        let wait = conn.max(link);
        if wait.is_zero() {
            return;
        }
        let deadline = Instant::now() + wait;
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().reset(deadline),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
        self.waiting = true;
    }

    /// Ready once the last charge's wait is over.
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.waiting
            && let Some(sleep) = &mut self.sleep
        {
            ready!(sleep.as_mut().poll(cx));
        }
        self.waiting = false;
        Poll::Ready(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Shaped<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.read.limited() || buf.remaining() == 0 {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        ready!(this.read.poll_wait(cx));
        let n = buf.remaining().min(this.read.piece);
        // A bounded slice, so one read brings at most a piece whatever the caller offers.
        let mut part = ReadBuf::new(buf.initialize_unfilled_to(n));
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut part))?;
        let got = part.filled().len();
        buf.advance(got);
        if got > 0 {
            this.read.charge(got);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Shaped<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if !this.write.limited() || data.is_empty() {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        loop {
            ready!(this.write.poll_wait(cx));
            if this.write.credit > 0 {
                let n = data.len().min(this.write.credit);
                let written = ready!(Pin::new(&mut this.inner).poll_write(cx, &data[..n]))?;
                this.write.credit -= written.min(n);
                return Poll::Ready(Ok(written));
            }
            let n = data.len().min(this.write.piece);
            this.write.credit = n;
            this.write.charge(n);
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if !self.write.limited() {
            return Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs);
        }
        // At most a piece goes at once anyway: the first buffer is enough.
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        self.poll_write(cx, first)
    }

    fn is_write_vectored(&self) -> bool {
        !self.write.limited() && self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    const MIB: u64 = 1 << 20;

    /// Writes `n` bytes through `link` into a duplex pipe drained at once: the seconds taken.
    async fn write_through(link: Link, n: usize) -> f64 {
        let (near, mut far) = tokio::io::duplex(256 * 1024);
        let drain =
            tokio::spawn(async move { tokio::io::copy(&mut far, &mut tokio::io::sink()).await });
        let started = Instant::now();
        let mut shaped = link.shape(near);
        let data = vec![7u8; n];
        shaped.write_all(&data).await.unwrap();
        let took = started.elapsed().as_secs_f64();
        shaped.shutdown().await.unwrap();
        drop(shaped);
        assert_eq!(drain.await.unwrap().unwrap(), n as u64);
        took
    }

    /// Reads `n` bytes through `link` from a duplex pipe filled at once: the seconds taken.
    async fn read_through(link: Link, n: usize) -> f64 {
        let (near, mut far): (DuplexStream, DuplexStream) = tokio::io::duplex(256 * 1024);
        let fill = tokio::spawn(async move {
            far.write_all(&vec![7u8; n]).await.unwrap();
            far.shutdown().await.unwrap();
        });
        let started = Instant::now();
        let mut shaped = link.shape(near);
        let mut got = Vec::new();
        shaped.read_to_end(&mut got).await.unwrap();
        let took = started.elapsed().as_secs_f64();
        assert_eq!(got.len(), n);
        fill.await.unwrap();
        took
    }

    fn about(took: f64, want: f64) {
        assert!(
            (took - want).abs() <= want * 0.05,
            "{took} s, not about {want} s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_connection_writes_at_its_rate() {
        let took = write_through(Link::new(Some(12 * MIB), None), 12 << 20).await;
        about(took, 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn connections_together_write_at_the_link_rate() {
        let link = Link::new(Some(12 * MIB), Some(24 * MIB));
        let writers = (0..4).map(|_| tokio::spawn(write_through(link.clone(), 12 << 20)));
        let took = futures_util::future::join_all(writers)
            .await
            .into_iter()
            .map(Result::unwrap)
            .fold(0.0, f64::max);
        // 48 MiB at 24 MiB/s, although each connection alone could do 12.
        about(took, 2.0);
    }

    #[tokio::test(start_paused = true)]
    async fn one_connection_reads_at_its_rate() {
        let took = read_through(Link::new(Some(12 * MIB), None), 12 << 20).await;
        about(took, 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn connections_together_read_at_the_link_rate() {
        let link = Link::new(Some(12 * MIB), Some(24 * MIB));
        let readers = (0..4).map(|_| tokio::spawn(read_through(link.clone(), 12 << 20)));
        let took = futures_util::future::join_all(readers)
            .await
            .into_iter()
            .map(Result::unwrap)
            .fold(0.0, f64::max);
        about(took, 2.0);
    }

    #[tokio::test(start_paused = true)]
    async fn directions_are_limited_separately() {
        // Reading and writing 12 MiB each at once at 12 MiB/s: a second, not two.
        let link = Link::new(Some(12 * MIB), Some(12 * MIB));
        let (near, far) = tokio::io::duplex(256 * 1024);
        let (mut reader, mut writer) = tokio::io::split(link.shape(near));
        let started = Instant::now();
        let far_side = tokio::spawn(async move {
            let (mut far_read, mut far_write) = tokio::io::split(far);
            let sent = async {
                far_write.write_all(&vec![1u8; 12 << 20]).await.unwrap();
            };
            let mut got = vec![0u8; 12 << 20];
            let received = far_read.read_exact(&mut got);
            let ((), r) = tokio::join!(sent, received);
            r.unwrap();
        });
        let mut got = vec![0u8; 12 << 20];
        let sending = vec![2u8; 12 << 20];
        let (r, w) = tokio::join!(reader.read_exact(&mut got), writer.write_all(&sending));
        r.unwrap();
        w.unwrap();
        far_side.await.unwrap();
        about(started.elapsed().as_secs_f64(), 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_limited_takes_no_time() {
        let took = write_through(Link::new(None, None), 12 << 20).await;
        assert_eq!(took, 0.0);
    }
}
