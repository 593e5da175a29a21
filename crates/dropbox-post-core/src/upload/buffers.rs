//! File data in memory: chunk buffers drawn from a fixed byte budget and recycled.
//!
//! Readers (blocking threads) wait for room before reading; a buffer gives its room back
//! when the last `Bytes` sharing it is dropped, i.e. when the request that carried it is
//! done.
//!
//! Memory stays flat only if freed buffers really go back: glibc raises its mmap threshold
//! once a big block is freed, after which 1–8 MiB buffers come from per-thread arenas that
//! rarely shrink (peak RSS 240–265 MiB on a mixed 200-file tree with 16 files in flight).
//! So big buffers are recycled here, and glibc is told to keep anything over 1 MiB mmapped.

use std::sync::{Arc, Condvar, Mutex};

use bytes::Bytes;

pub struct Budget {
    pool: Mutex<Pool>,
    freed: Condvar,
}

struct Pool {
    /// Bytes not reserved by a live buffer.
    free: usize,
    /// Buffers waiting to be reused, holding at most `free` bytes of capacity.
    spare: Vec<Vec<u8>>,
}

/// An empty buffer with room for the bytes it reserved; `freeze` it once filled.
pub struct Buffer {
    data: Vec<u8>,
    reserved: usize,
    budget: Arc<Budget>,
}

impl Budget {
    pub fn new(bytes: usize) -> Arc<Self> {
        keep_big_blocks_mmapped();
        Arc::new(Budget {
            pool: Mutex::new(Pool {
                free: bytes,
                spare: Vec::new(),
            }),
            freed: Condvar::new(),
        })
    }

    /// Blocks until `len` bytes are free (callers never ask for more than the total).
    pub fn take(self: &Arc<Self>, len: usize) -> Buffer {
        let mut pool = self.pool.lock().expect("budget lock poisoned");
        while pool.free < len {
            pool = self.freed.wait(pool).expect("budget lock poisoned");
        }
        pool.free -= len;
        // A spare at most twice as big: a small file must not pin a big buffer's pages.
        let fits = |b: &Vec<u8>| (len..=len.saturating_mul(2)).contains(&b.capacity());
        let data = match pool.spare.iter().position(fits) {
            Some(i) => pool.spare.swap_remove(i),
            None => {
                // Sizes changed: spares of other sizes would only add to the footprint.
                pool.spare.clear();
                Vec::with_capacity(len)
            }
        };
        Buffer {
            data,
            reserved: len,
            budget: self.clone(),
        }
    }

    #[cfg(test)]
    fn free(&self) -> usize {
        self.pool.lock().unwrap().free
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_big_blocks_mmapped() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: mallopt only tunes the allocator; a fixed threshold is always valid.
    ONCE.call_once(|| unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    });
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_big_blocks_mmapped() {}

impl Buffer {
    /// The vector to read into; reading past the reserved length is the caller's bug.
    pub fn data(&mut self) -> &mut Vec<u8> {
        &mut self.data
    }

    pub fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for Buffer {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let mut data = std::mem::take(&mut self.data);
        data.clear();
        let mut pool = self.budget.pool.lock().expect("budget lock poisoned");
        pool.free += self.reserved;
        // Spares count against the budget too: live buffers plus spares stay within it.
        let held: usize = pool.spare.iter().map(Vec::capacity).sum();
        if held + data.capacity() <= pool.free {
            pool.spare.push(data);
        }
        drop(pool);
        self.budget.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_bounds_buffers_until_their_bytes_are_dropped() {
        let budget = Budget::new(10);
        let a = budget.take(6);
        let mut b = budget.take(4);
        b.data().extend_from_slice(b"abcd");
        let shared = b.freeze();
        let clone = shared.clone();
        assert_eq!(budget.free(), 0);
        let waiter = {
            let budget = budget.clone();
            std::thread::spawn(move || budget.take(8).reserved)
        };
        drop(a);
        drop(shared);
        assert_eq!(&clone[..], b"abcd");
        drop(clone);
        assert_eq!(waiter.join().unwrap(), 8);
        assert_eq!(budget.free(), 10);
    }

    #[test]
    fn buffers_are_reused_only_by_similar_sizes() {
        let budget = Budget::new(1 << 20);
        let mut big = budget.take(1 << 19);
        big.data().resize(1 << 19, 7);
        let ptr = big.data().as_ptr();
        drop(big);
        let mut again = budget.take(1 << 19);
        assert_eq!(
            again.data().as_ptr(),
            ptr,
            "the same size reuses the buffer"
        );
        assert!(again.data().is_empty(), "a reused buffer comes back empty");
        drop(again);
        // Too small to be given the big buffer, which is let go.
        let mut small = budget.take(16);
        assert!(small.data().capacity() < 1 << 19);
        drop(small);
        assert!(
            budget
                .pool
                .lock()
                .unwrap()
                .spare
                .iter()
                .all(|b| b.capacity() < 1 << 19)
        );
    }
}
