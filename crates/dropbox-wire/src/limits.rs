//! Dropbox's protocol limits, defined once: the client keeps within them and the emulator
//! enforces them, so the two cannot drift apart.

/// Bytes of one upload request (`upload`, `upload_session/*`); more is `payload_too_large`.
pub const MAX_REQUEST_BYTES: usize = 150 * 1024 * 1024;
/// The largest file an upload session can commit: 2^41 − 2^22 bytes (about 2 TiB).
pub const MAX_FILE_BYTES: u64 = (1 << 41) - (1 << 22);
/// Entries of one `upload_session/finish_batch_v2` or `delete_batch`.
pub const MAX_BATCH: usize = 1000;
/// Entries of one `upload_session/append_batch` at most: 500 in Stone's spec (the SDK
/// refuses more), half of what `start_batch` and `finish_batch_v2` take.
pub const MAX_APPEND_BATCH: usize = 500;
/// Entries of one `list_folder` page: the most a `limit` may ask for, and the default.
pub const MAX_LIST_LIMIT: u32 = 2000;
/// Dropbox refuses a file or folder name longer than this many characters.
pub const MAX_NAME_CHARS: usize = 255;
/// The longest path dropbox-post sends, and the emulator stores (below Linux's PATH_MAX,
/// with room for the emulator's root).
pub const MAX_PATH_BYTES: usize = 3072;
