//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) and crash reproducers
//! (`fuzz/regressions/<target>/`, optional) through the fuzz target bodies, on stable Rust
//! and without cargo-fuzz. A target whose corpus is missing or empty fails.

use std::path::Path;

use dropbox_post_fuzzing as fuzzing;

use crate::harness::repo;

fn replay(target: &str, body: fn(&[u8])) {
    let fuzz = repo().join("fuzz");
    let corpus = fuzz.join("corpus").join(target);
    let mut inputs = files(&corpus);
    assert!(!inputs.is_empty(), "{} has no inputs", corpus.display());
    let regressions = fuzz.join("regressions").join(target);
    if regressions.exists() {
        inputs.extend(files(&regressions));
    }
    for path in inputs {
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| body(&data));
        assert!(outcome.is_ok(), "{target} panicked on {}", path.display());
    }
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut files: Vec<_> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn sealed_v1() {
    replay("sealed_v1", fuzzing::sealed_v1);
}

#[test]
fn legacy() {
    replay("legacy", fuzzing::legacy);
}

#[test]
fn config() {
    replay("config", fuzzing::config);
}

#[test]
fn api_arg() {
    replay("api_arg", fuzzing::api_arg);
}

#[test]
fn response() {
    replay("response", fuzzing::response);
}
