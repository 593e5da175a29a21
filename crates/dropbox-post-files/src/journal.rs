//! Append-only JSON-lines journals: one `{"k": key, "n": value}` record per line, the last
//! record of a key wins. Opening replays and compacts the file, so state survives restarts
//! (and a killed process) without a file, or an inode, per change. The emulator keeps its
//! namespace and sessions this way, `post` its resumable uploads. Files are private (0600).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{AtomicFile, Existing};

#[derive(Serialize, Deserialize)]
struct Record<K, V> {
    k: K,
    n: V,
}

pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Replays `path` (if any), keeps the records `keep` accepts, rewrites the file with just
    /// those and opens it for appending.
    pub fn open<V: Serialize + DeserializeOwned>(
        path: &Path,
        keep: impl Fn(&V) -> bool,
    ) -> std::io::Result<(Journal, BTreeMap<String, V>)> {
        let mut records = BTreeMap::new();
        if path.exists() {
            for (n, line) in
                BufReader::new(crate::open_regular(path).map_err(std::io::Error::other)?)
                    .lines()
                    .enumerate()
            {
                match serde_json::from_str::<Record<String, V>>(&line?) {
                    Ok(r) => {
                        records.insert(r.k, r.n);
                    }
                    // A torn last line from a crash; everything before it is intact.
                    Err(e) => tracing::warn!("{} line {} ignored: {e}", path.display(), n + 1),
                }
            }
        }
        records.retain(|_, v| keep(v));
        let mut compacted = AtomicFile::new(path)?;
        let mut out = std::io::BufWriter::new(compacted.file());
        for (k, n) in &records {
            writeln!(out, "{}", line(k, n))?;
        }
        out.flush()?;
        drop(out);
        compacted.commit(Existing::Replace)?;
        let file = OpenOptions::new().append(true).open(path)?;
        let path = path.to_path_buf();
        Ok((Journal { path, file }, records))
    }

    /// Appends one record, in one write, so a crash can only tear the last line.
    pub fn append<V: Serialize>(&mut self, key: &str, value: &V) -> std::io::Result<()> {
        self.file.write_all((line(key, value) + "\n").as_bytes())
    }

    /// Flushes the journal to disk (graceful shutdown).
    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync_all()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn line<V: Serialize>(k: &str, n: &V) -> String {
    serde_json::to_string(&Record { k, n }).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn the_last_record_wins_and_opening_compacts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let (mut j, none) = Journal::open::<Option<u32>>(&path, |_| true).unwrap();
        assert!(none.is_empty());
        for (k, v) in [("a", Some(1)), ("b", Some(2)), ("a", Some(3)), ("b", None)] {
            j.append(k, &v).unwrap();
        }
        drop(j);
        // A torn line is skipped.
        fs::write(&path, fs::read_to_string(&path).unwrap() + "{\"k\":\"c\",").unwrap();
        let (_, records) = Journal::open::<Option<u32>>(&path, Option::is_some).unwrap();
        assert_eq!(records, BTreeMap::from([("a".to_string(), Some(3))]));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"k\":\"a\",\"n\":3}\n"
        );
    }
}
