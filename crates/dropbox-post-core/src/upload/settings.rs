//! How the engine sends a plan: files in flight, chunk size, memory, batching, hashing.

use std::time::Duration;

use crate::dropbox::content_hash::BLOCK_SIZE;
use crate::dropbox::limits::{MAX_BATCH, MAX_REQUEST_BYTES};

use super::hash_check;

/// Files in flight unless told otherwise: uploads only stage data and commits are batched,
/// so many small files gain from more (rclone recommends 32–64 with batched commits).
pub const DEFAULT_JOBS: u16 = 16;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Files in flight at once.
    pub jobs: usize,
    /// Bytes per request of a chunked upload; a multiple of 4 MiB, at most 148 MiB.
    pub chunk_size: usize,
    /// Bytes of file data held in memory at once, across all files.
    pub buffer_budget: usize,
    pub batch_max: usize,
    /// Commit once no new file has finished sending for this long...
    pub batch_idle: Duration,
    /// ...or once the oldest waiting file has waited this long.
    pub batch_max_wait: Duration,
    /// Threads proving files unchanged by hash.
    pub checkers: usize,
    /// Read-only: list and hash, report what would happen, write nothing.
    pub dry_run: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            jobs: usize::from(DEFAULT_JOBS),
            chunk_size: 2 * BLOCK_SIZE,
            buffer_budget: 48 * 1024 * 1024,
            batch_max: MAX_BATCH,
            batch_idle: Duration::from_millis(200),
            batch_max_wait: Duration::from_secs(5),
            checkers: hash_check::default_checkers(),
            dry_run: false,
        }
    }
}

impl Settings {
    /// Round `chunk_size` to whole 4 MiB blocks within Dropbox's request limit, and make
    /// the budget hold at least one chunk.
    pub fn normalized(mut self) -> Self {
        let max = MAX_REQUEST_BYTES / BLOCK_SIZE * BLOCK_SIZE;
        self.chunk_size = (self.chunk_size / BLOCK_SIZE * BLOCK_SIZE).clamp(BLOCK_SIZE, max);
        self.buffer_budget = self.buffer_budget.max(self.chunk_size);
        self.jobs = self.jobs.max(1);
        self.checkers = self.checkers.max(1);
        self.batch_max = self.batch_max.clamp(1, MAX_BATCH);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_normalized() {
        let s = Settings {
            chunk_size: 10 * 1024 * 1024,
            buffer_budget: 1,
            jobs: 0,
            batch_max: 5000,
            ..Settings::default()
        }
        .normalized();
        assert_eq!(s.chunk_size, 8 * 1024 * 1024);
        assert_eq!(s.buffer_budget, s.chunk_size);
        assert_eq!((s.jobs, s.batch_max), (1, MAX_BATCH));
        let big = Settings {
            chunk_size: 1 << 30,
            ..Settings::default()
        }
        .normalized();
        assert_eq!(big.chunk_size, 148 * 1024 * 1024);
    }
}
