//! What a folder holds, to tell that a command left it untouched. Self-contained: the
//! library's unit tests (src/study/tests.rs) include this file by path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every file and folder under `root`, with the bytes of the files.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap())
        .map(|e| {
            let bytes = e
                .file_type()
                .is_file()
                .then(|| std::fs::read(e.path()).unwrap());
            (e.path().strip_prefix(root).unwrap().to_path_buf(), bytes)
        })
        .collect()
}
