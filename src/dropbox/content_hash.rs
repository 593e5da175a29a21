//! Dropbox's `content_hash`: SHA-256 over the concatenated SHA-256 digests of 4 MiB blocks.
//! <https://www.dropbox.com/developers/reference/content-hash>

use sha2::{Digest, Sha256};

/// Dropbox hashes files in blocks of exactly this many bytes.
pub const BLOCK_SIZE: usize = 4 * 1024 * 1024;

/// Incremental hasher: feed bytes in any split, read the hex digest at the end.
#[derive(Clone, Default, Debug)]
pub struct ContentHasher {
    overall: Sha256,
    block: Sha256,
    block_len: usize,
}

impl ContentHasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let take = (BLOCK_SIZE - self.block_len).min(data.len());
            self.block.update(&data[..take]);
            self.block_len += take;
            data = &data[take..];
            if self.block_len == BLOCK_SIZE {
                self.finish_block();
            }
        }
    }

    /// Feeds `data` and returns the content hash of `data` alone, which a request carrying
    /// it names. When `data` starts on a block boundary (every chunk of a file sent in
    /// multiples of 4 MiB does), its blocks are the file's own: each is hashed once for both.
    pub fn update_chunk(&mut self, data: &[u8]) -> String {
        if self.block_len != 0 {
            self.update(data);
            return content_hash(data);
        }
        let mut own = Sha256::new();
        for block in data.chunks(BLOCK_SIZE) {
            if block.len() == BLOCK_SIZE {
                let digest = Sha256::digest(block);
                self.overall.update(digest);
                own.update(digest);
            } else {
                // Only the last block can be short; the file's hasher goes on from it.
                self.block.update(block);
                self.block_len = block.len();
                own.update(self.block.clone().finalize());
            }
        }
        hex::encode(own.finalize())
    }

    fn finish_block(&mut self) {
        let digest = std::mem::take(&mut self.block).finalize();
        self.overall.update(digest);
        self.block_len = 0;
    }

    /// Lower-case hex, as Dropbox returns it.
    pub fn finish(mut self) -> String {
        if self.block_len > 0 {
            self.finish_block();
        }
        hex::encode(self.overall.finalize())
    }
}

/// The content hash of an in-memory buffer.
pub fn content_hash(data: &[u8]) -> String {
    let mut h = ContentHasher::new();
    h.update(data);
    h.finish()
}

/// True for a well-formed hash: 64 lower- or upper-case hex digits.
pub fn is_valid(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a_times(n: usize) -> String {
        content_hash(&vec![b'A'; n])
    }

    #[test]
    fn rclone_vectors() {
        assert_eq!(
            a_times(1),
            "1cd6ef71e6e0ff46ad2609d403dc3fee244417089aa4461245a4e4fe23a55e42"
        );
        assert_eq!(
            a_times(4_194_304),
            "d4d63bac5b866c71620185392a8a6218ac1092454a2d16f820363b69852befa3"
        );
        assert_eq!(
            a_times(4_194_305),
            "8f553da8d00d0bf509d8470e242888be33019c20c0544811f5b2b89e98360b92"
        );
        assert_eq!(
            a_times(8_388_609),
            "02c8a4aefc2bfc9036f89a7098001865885938ca580e5c9e5db672385edd303c"
        );
    }

    #[test]
    fn empty_and_small() {
        assert_eq!(
            content_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            content_hash(b"abc"),
            "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358"
        );
    }

    #[test]
    fn split_points_do_not_matter() {
        let data: Vec<u8> = (0..(BLOCK_SIZE * 2 + 17))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let whole = content_hash(&data);
        for chunk in [
            1usize,
            7,
            65_536,
            BLOCK_SIZE - 1,
            BLOCK_SIZE,
            BLOCK_SIZE + 3,
        ] {
            let mut h = ContentHasher::new();
            data.chunks(chunk).for_each(|c| h.update(c));
            assert_eq!(h.finish(), whole, "chunk size {chunk}");
        }
    }

    #[test]
    fn a_chunk_hashes_alone_and_as_part_of_the_file() {
        let data: Vec<u8> = (0..(BLOCK_SIZE * 3 + 9)).map(|i| (i % 253) as u8).collect();
        for cuts in [
            vec![0, BLOCK_SIZE * 2, data.len()],
            vec![0, 0, BLOCK_SIZE, BLOCK_SIZE * 3 + 9],
            // A chunk that does not start on a block boundary.
            vec![0, 5, BLOCK_SIZE + 7, data.len()],
        ] {
            let mut file = ContentHasher::new();
            for pair in cuts.windows(2) {
                let chunk = &data[pair[0]..pair[1]];
                assert_eq!(file.update_chunk(chunk), content_hash(chunk), "{cuts:?}");
            }
            assert_eq!(file.finish(), content_hash(&data), "{cuts:?}");
        }
    }

    #[test]
    fn validity() {
        assert!(is_valid(&content_hash(b"x")));
        assert!(!is_valid("abc"));
        assert!(!is_valid(&"g".repeat(64)));
    }
}
