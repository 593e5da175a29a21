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
    /// Each block's digest, when asked to keep them ([`ContentHasher::recording`]).
    blocks: Option<Vec<[u8; 32]>>,
}

impl ContentHasher {
    pub fn new() -> Self {
        Self::default()
    }

    /// A hasher that also keeps each block's digest, for [`ContentHasher::into_blocks`].
    pub fn recording() -> Self {
        ContentHasher {
            blocks: Some(Vec::new()),
            ..Self::default()
        }
    }

    /// What has hashed `pieces` one after another ([`ContentHasher::append`]): its
    /// [`ContentHasher::finish`] is their content hash.
    pub fn of_blocks(pieces: &[BlockDigests]) -> Self {
        let mut hasher = ContentHasher::new();
        pieces.iter().for_each(|p| hasher.append(p));
        hasher
    }

    /// The digests of a recording hasher's blocks, the last one partial (none if it was not
    /// recording).
    pub fn into_blocks(mut self) -> BlockDigests {
        if self.block_len > 0 {
            self.finish_block();
        }
        BlockDigests(self.blocks.unwrap_or_default())
    }

    pub fn update(&mut self, data: &[u8]) {
        self.feed(data, |_| {});
    }

    /// Hashes `data`, handing each block's digest to `block_done` as well.
    fn feed(&mut self, mut data: &[u8], mut block_done: impl FnMut([u8; 32])) {
        while !data.is_empty() {
            let take = (BLOCK_SIZE - self.block_len).min(data.len());
            self.block.update(&data[..take]);
            self.block_len += take;
            data = &data[take..];
            if self.block_len == BLOCK_SIZE {
                block_done(self.finish_block());
            }
        }
    }

    /// Feeds `data` to this hasher (a file's) and to `own`, which hashes the bytes of one
    /// request and has seen exactly what this one has since it was new. While `own` began
    /// on a block boundary of the file, their blocks are the same: each is hashed once, for
    /// both; otherwise both hash every byte.
    pub fn update_with(&mut self, own: &mut ContentHasher, data: &[u8]) {
        // Given the contract, equal offsets within a block mean the same blocks.
        if own.block_len != self.block_len {
            self.update(data);
            own.update(data);
            return;
        }
        self.feed(data, |digest| own.overall.update(digest));
        own.block = self.block.clone();
        own.block_len = self.block_len;
    }

    /// Takes `part`'s blocks as if their bytes had been fed here. Parts are taken in file
    /// order, each beginning on a block boundary; only the last may end inside a block.
    pub fn append(&mut self, part: &BlockDigests) {
        part.0.iter().for_each(|d| self.overall.update(d));
    }

    /// The digest of the block just completed, which `overall` has taken.
    fn finish_block(&mut self) -> [u8; 32] {
        let digest = std::mem::take(&mut self.block).finalize();
        self.overall.update(digest);
        self.block_len = 0;
        if let Some(blocks) = &mut self.blocks {
            blocks.push(digest.into());
        }
        digest.into()
    }

    /// Lower-case hex, as Dropbox returns it.
    pub fn finish(mut self) -> String {
        if self.block_len > 0 {
            self.finish_block();
        }
        hex::encode(self.overall.finalize())
    }
}

/// The block digests of one piece of a file that starts on a block boundary, hashed apart
/// from the rest (pieces read out of order): the piece's own content hash, and with its
/// neighbours' the whole file's ([`BlockDigests::content_hash_of`]), each byte hashed once.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct BlockDigests(Vec<[u8; 32]>);

impl BlockDigests {
    /// The piece's own content hash, as a request carrying it names it.
    pub fn content_hash(&self) -> String {
        Self::content_hash_of(std::slice::from_ref(self))
    }

    /// The content hash of a file made of `pieces` in order; all but the last must be whole
    /// blocks.
    pub fn content_hash_of(pieces: &[BlockDigests]) -> String {
        ContentHasher::of_blocks(pieces).finish()
    }

    /// As stored: the digests' hex, one after another.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(hex::encode).collect()
    }

    /// What [`BlockDigests::to_hex`] wrote; `None` for anything else.
    pub fn from_hex(text: &str) -> Option<BlockDigests> {
        let bytes = hex::decode(text).ok()?;
        let chunks = bytes.chunks_exact(32);
        chunks.remainder().is_empty().then_some(())?;
        Some(BlockDigests(
            chunks.map(|c| c.try_into().expect("32 bytes")).collect(),
        ))
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
                let mut own = ContentHasher::new();
                // As a request's body arrives: in pieces of any size.
                for piece in data[pair[0]..pair[1]].chunks(3 * BLOCK_SIZE / 2 + 1) {
                    file.update_with(&mut own, piece);
                }
                assert_eq!(
                    own.finish(),
                    content_hash(&data[pair[0]..pair[1]]),
                    "{cuts:?}"
                );
            }
            assert_eq!(file.finish(), content_hash(&data), "{cuts:?}");
        }
    }

    #[test]
    fn pieces_hashed_apart_make_the_whole() {
        let data: Vec<u8> = (0..(BLOCK_SIZE * 3 + 9)).map(|i| (i % 247) as u8).collect();
        for cuts in [
            vec![0, data.len()],
            vec![0, BLOCK_SIZE, 3 * BLOCK_SIZE, data.len()],
        ] {
            let pieces: Vec<BlockDigests> = cuts
                .windows(2)
                .map(|w| {
                    let mut h = ContentHasher::recording();
                    data[w[0]..w[1]].chunks(1 << 20).for_each(|c| h.update(c));
                    h.into_blocks()
                })
                .collect();
            for (piece, w) in pieces.iter().zip(cuts.windows(2)) {
                assert_eq!(piece.content_hash(), content_hash(&data[w[0]..w[1]]));
            }
            assert_eq!(BlockDigests::content_hash_of(&pieces), content_hash(&data));
            let hex: Vec<String> = pieces.iter().map(BlockDigests::to_hex).collect();
            let back: Vec<BlockDigests> = hex
                .iter()
                .map(|h| BlockDigests::from_hex(h).unwrap())
                .collect();
            assert_eq!(back, pieces);
        }
        let empty = ContentHasher::recording().into_blocks();
        assert_eq!(empty.content_hash(), content_hash(b""));
        assert_eq!(BlockDigests::from_hex("ab"), None);
        assert_eq!(BlockDigests::from_hex("zz"), None);
    }

    #[test]
    fn parts_on_block_boundaries_join_into_the_whole_hash() {
        let data: Vec<u8> = (0..(BLOCK_SIZE * 5 + 3)).map(|i| (i % 241) as u8).collect();
        for cuts in [
            vec![0, data.len()],
            vec![0, BLOCK_SIZE, BLOCK_SIZE * 4, data.len()],
            // A last part of whole blocks, and one empty part.
            vec![0, BLOCK_SIZE * 2, BLOCK_SIZE * 2, data.len()],
        ] {
            let mut file = ContentHasher::new();
            for pair in cuts.windows(2) {
                let mut part = ContentHasher::recording();
                data[pair[0]..pair[1]]
                    .chunks(65_537)
                    .for_each(|c| part.update(c));
                file.append(&part.into_blocks());
            }
            assert_eq!(file.finish(), content_hash(&data), "{cuts:?}");
        }
        let whole = |data: &[u8]| {
            let (mut part, mut file) = (ContentHasher::recording(), ContentHasher::new());
            part.update(data);
            file.append(&part.into_blocks());
            file.finish()
        };
        for len in [0, 1, BLOCK_SIZE, BLOCK_SIZE + 1] {
            assert_eq!(whole(&data[..len]), content_hash(&data[..len]), "{len}");
        }
    }

    #[test]
    fn validity() {
        assert!(is_valid(&content_hash(b"x")));
        assert!(!is_valid("abc"));
        assert!(!is_valid(&"g".repeat(64)));
    }
}
