//! How the engine sends a plan: files in flight, chunk size, memory, batching, hashing.

use std::time::Duration;

use dropbox_wire::content_hash::BLOCK_SIZE;
use dropbox_wire::limits::{MAX_BATCH, MAX_REQUEST_BYTES};

use super::hash_check;

/// Bytes per upload request of a big file: a whole number of 4 MiB blocks (Dropbox's
/// content-hash block), at least one, within Dropbox's 150 MiB request limit, so at most
/// 148 MiB. Only such a size can be held: the one check is [`ChunkSize::from_mib`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSize(usize);

impl ChunkSize {
    /// The largest, in MiB.
    pub const MAX_MIB: usize = (MAX_REQUEST_BYTES / BLOCK_SIZE * BLOCK_SIZE) >> 20;
    const BLOCK_MIB: usize = BLOCK_SIZE >> 20;

    /// `mib` MiB, if that is a valid chunk size; else what it must be, in words.
    pub fn from_mib(mib: usize) -> Result<ChunkSize, String> {
        let block = Self::BLOCK_MIB;
        match mib {
            n if n > 0 && n % block == 0 && n <= Self::MAX_MIB => Ok(ChunkSize(n << 20)),
            _ => Err(format!(
                "must be a multiple of {block} between {block} and {}",
                Self::MAX_MIB
            )),
        }
    }

    pub fn bytes(self) -> usize {
        self.0
    }
}

impl Default for ChunkSize {
    fn default() -> Self {
        ChunkSize(2 * BLOCK_SIZE)
    }
}

/// In MiB, as `--chunk-size` takes it.
impl std::fmt::Display for ChunkSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0 >> 20)
    }
}

/// Files in flight unless told otherwise: uploads only stage data and commits are batched,
/// so many small files gain from more (rclone recommends 32–64 with batched commits).
pub const DEFAULT_TRANSFERS: u16 = 16;

/// Bytes of file data held in memory at once unless one chunk is larger.
pub const BUFFER_BUDGET: usize = 48 << 20;

/// `append_batch` bodies of small files in flight at once: while one is on the wire (at
/// real Dropbox's ~0.5 s a request) the next fills; the byte budget bounds them all.
pub const APPEND_BODIES_IN_FLIGHT: usize = 4;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Files in flight at once.
    pub transfers: usize,
    /// Bytes per request of a chunked upload.
    pub chunk_size: ChunkSize,
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
            transfers: usize::from(DEFAULT_TRANSFERS),
            chunk_size: ChunkSize::default(),
            buffer_budget: BUFFER_BUDGET,
            batch_max: MAX_BATCH,
            batch_idle: Duration::from_millis(200),
            batch_max_wait: Duration::from_secs(5),
            checkers: hash_check::default_checkers(),
            dry_run: false,
        }
    }
}

impl Settings {
    /// Make the budget hold at least one chunk, and every count at least one.
    pub fn normalized(mut self) -> Self {
        self.buffer_budget = self.buffer_budget.max(self.chunk_size.bytes());
        self.transfers = self.transfers.max(1);
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
            chunk_size: ChunkSize::from_mib(8).unwrap(),
            buffer_budget: 1,
            transfers: 0,
            batch_max: 5000,
            ..Settings::default()
        }
        .normalized();
        assert_eq!(s.buffer_budget, 8 << 20);
        assert_eq!((s.transfers, s.batch_max), (1, MAX_BATCH));
    }

    #[test]
    fn only_whole_blocks_within_the_request_limit_are_chunk_sizes() {
        for mib in [4, 8, 148] {
            assert_eq!(ChunkSize::from_mib(mib).unwrap().bytes(), mib << 20);
        }
        for mib in [0, 2, 6, 152, 1 << 20] {
            let refused = ChunkSize::from_mib(mib).unwrap_err();
            assert_eq!(
                refused, "must be a multiple of 4 between 4 and 148",
                "{mib}"
            );
        }
        assert_eq!(ChunkSize::default().to_string(), "8");
    }
}
