//! Proving files unchanged by content hash before anything is sent.
//!
//! A re-run of an unchanged tree is all hashing: thousands of small files, each a few
//! microseconds of work. One blocking task per file spent more time waking threads than
//! hashing, so the files that have a remote counterpart are hashed here on a few plain
//! threads, each with one reused buffer; what differs (or cannot be proved equal) goes on
//! to the sender, which reads it again and reports any error properly.

use std::fs::File;
use std::io::Read;
use std::sync::{Arc, Mutex};

use futures_util::Stream;
use tokio::sync::mpsc;

use dropbox_wire::content_hash::ContentHasher;

use super::hash_cache::HashCache;
use super::plan::PlannedFile;
use super::walk::LocalFile;

/// Read size while hashing: big enough for few syscalls, small enough per thread.
const READ_SIZE: usize = 1024 * 1024;

/// Hashers to run: reading from a cold disk gains from a few requests in flight (rclone's
/// `--checkers` defaults to 8); a warm cache is CPU-bound and gains up to one per core.
pub fn default_checkers() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get().clamp(2, 8))
}

/// The files that differ from Dropbox's: `files` (each with `unchanged_if`) are hashed on
/// `checkers` threads, unless `cache` knows their hash already; those proved equal are
/// handed to `skip`, the others come out of the returned stream, in no particular order.
/// Stops taking new files once `stop` says so.
pub fn differing(
    files: Vec<PlannedFile>,
    cache: Arc<HashCache>,
    checkers: usize,
    stop: impl Fn() -> bool + Send + Sync + 'static,
    skip: impl Fn(PlannedFile) + Send + Sync + 'static,
) -> impl Stream<Item = PlannedFile> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    if !files.is_empty() {
        tokio::task::spawn_blocking(move || {
            let threads = checkers.clamp(1, files.len());
            let queue = Mutex::new(files.into_iter());
            let work = || {
                let mut buf = vec![0; READ_SIZE];
                loop {
                    if stop() {
                        return;
                    }
                    let Some(file) = queue.lock().expect("hash queue poisoned").next() else {
                        return;
                    };
                    let known = cache.known(&file.local).map(str::to_owned);
                    let hash = known.or_else(|| {
                        let hash = hash_of(&file.local, &mut buf)?;
                        cache.learn(&file.local, &hash);
                        Some(hash)
                    });
                    if hash == file.unchanged_if {
                        skip(file);
                    } else if tx.send(file).is_err() {
                        return;
                    }
                }
            };
            std::thread::scope(|s| {
                for _ in 1..threads {
                    s.spawn(work);
                }
                work();
            });
        });
    }
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// The content hash, if the file is still exactly as the walk saw it; `None` otherwise,
/// or on any read error (the sender meets it again and says what went wrong).
fn hash_of(file: &LocalFile, buf: &mut [u8]) -> Option<String> {
    let mut handle = dropbox_post_files::open_regular(&file.path).ok()?;
    let as_walked = |handle: &File| {
        let now = handle.metadata().ok()?;
        file.change_since_walk(&now).is_none().then_some(())
    };
    as_walked(&handle)?;
    let mut hasher = ContentHasher::new();
    let mut read = 0u64;
    loop {
        match handle.read(buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                read += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
        if read > file.size {
            return None;
        }
    }
    as_walked(&handle)?;
    (read == file.size).then(|| hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::hash_cache::test_key;
    use dropbox_wire::content_hash::content_hash;
    use dropbox_wire::types::WriteMode;
    use futures_util::StreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn planned(
        dir: &std::path::Path,
        name: &str,
        data: &[u8],
        remote: Option<&[u8]>,
    ) -> PlannedFile {
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        PlannedFile {
            local: LocalFile::new(&path, name.into(), &std::fs::metadata(&path).unwrap()),
            remote: format!("/d/{name}"),
            mode: WriteMode::Overwrite,
            unchanged_if: remote.map(content_hash),
            replaces: None,
        }
    }

    async fn split(
        files: Vec<PlannedFile>,
        cache: Arc<HashCache>,
        checkers: usize,
    ) -> (Vec<String>, Vec<String>) {
        let skipped = Arc::new(Mutex::new(Vec::new()));
        let s = skipped.clone();
        let changed = differing(
            files,
            cache,
            checkers,
            || false,
            move |f| s.lock().unwrap().push(f.local.rel),
        );
        let mut changed: Vec<String> = changed.map(|f| f.local.rel).collect().await;
        let mut skipped = skipped.lock().unwrap().clone();
        changed.sort();
        skipped.sort();
        (skipped, changed)
    }

    #[tokio::test]
    async fn equal_content_is_skipped_and_the_rest_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![7u8; READ_SIZE * 5 + 3];
        let mut other = big.clone();
        other[READ_SIZE * 4 + 1] = 8;
        let files = vec![
            planned(dir.path(), "same", b"abc", Some(b"abc")),
            planned(dir.path(), "empty", b"", Some(b"")),
            planned(dir.path(), "differs", b"abc", Some(b"abd")),
            planned(dir.path(), "big-same", &big, Some(&big)),
            planned(dir.path(), "big-differs", &big, Some(&other)),
        ];
        for checkers in [1, 3, 8] {
            let (skipped, changed) =
                split(files.clone(), Arc::new(HashCache::disabled()), checkers).await;
            assert_eq!(skipped, ["big-same", "empty", "same"]);
            assert_eq!(changed, ["big-differs", "differs"]);
        }
    }

    #[tokio::test]
    async fn a_file_not_as_walked_is_never_proved_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let grown = planned(dir.path(), "grown", b"abc", Some(b"abc"));
        std::fs::write(&grown.local.path, b"abcd").unwrap();
        let mut moved = planned(dir.path(), "moved", b"abc", Some(b"abc"));
        moved.local.modified -= std::time::Duration::from_secs(10);
        let mut gone = planned(dir.path(), "gone", b"abc", Some(b"abc"));
        gone.local.path = dir.path().join("missing");
        let (skipped, changed) =
            split(vec![grown, moved, gone], Arc::new(HashCache::disabled()), 2).await;
        assert!(skipped.is_empty());
        assert_eq!(changed, ["gone", "grown", "moved"]);
    }

    #[tokio::test]
    async fn a_remembered_hash_is_trusted_and_a_computed_one_remembered() {
        let (dir, cache_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // "stale" holds other bytes than remembered: skipped all the same, so it was not read.
        let stale = planned(dir.path(), "stale", b"new", Some(b"old"));
        let fresh = planned(dir.path(), "fresh", b"abc", Some(b"abc"));
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        let cache =
            HashCache::open_at(cache_dir.path(), dir.path(), later).verified(test_key("token"));
        cache.learn(&stale.local, stale.unchanged_if.as_ref().unwrap());
        let locals = [stale.local.clone(), fresh.local.clone()];
        cache.save(&locals).unwrap();
        let cache = Arc::new(
            HashCache::open_at(cache_dir.path(), dir.path(), later).verified(test_key("token")),
        );
        let (skipped, changed) = split(vec![stale, fresh], cache.clone(), 2).await;
        assert_eq!(skipped, ["fresh", "stale"]);
        assert!(changed.is_empty());
        assert!(
            cache.save(&locals).unwrap(),
            "the hash of fresh was learned"
        );
        let cache =
            HashCache::open_at(cache_dir.path(), dir.path(), later).verified(test_key("token"));
        assert_eq!(cache.known(&locals[1]), Some(content_hash(b"abc").as_str()));
    }

    #[tokio::test]
    async fn stopping_takes_no_more_files() {
        let dir = tempfile::tempdir().unwrap();
        let files = (0..50)
            .map(|i| planned(dir.path(), &format!("f{i}"), b"x", Some(b"x")))
            .collect();
        let skipped = Arc::new(AtomicUsize::new(0));
        let s = skipped.clone();
        let stop = skipped.clone();
        let changed = differing(
            files,
            Arc::new(HashCache::disabled()),
            1,
            move || stop.load(Ordering::Relaxed) >= 10,
            move |_| {
                s.fetch_add(1, Ordering::Relaxed);
            },
        );
        assert_eq!(changed.count().await, 0);
        assert_eq!(skipped.load(Ordering::Relaxed), 10);
    }
}
