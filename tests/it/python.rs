//! The Python suites, run by `cargo test` so nobody forgets them: the official Dropbox
//! Python SDK against `dropbox-post emulate` (tests/conformance/, in target/sdk-venv, which
//! is provisioned first: the suite fails, never skips, when that is impossible) and the
//! librec-auto shims in bin/ (tests/shims/).

use std::path::Path;
use std::process::Command;

use crate::harness::{TestEnv, bin, repo, stderr, stdout};

/// Runs `program ARGS` from the repository in `env`; panics with `failure` and its output
/// unless it succeeds.
fn run_ok(env: &TestEnv, program: &Path, args: &[&str], failure: &str) {
    let mut command = Command::new(program);
    env.isolate(&mut command);
    let output = command
        .args(args)
        .current_dir(repo())
        .env("DROPBOX_POST_BIN", bin())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("{failure}: cannot start {}: {e}", program.display()));
    assert!(
        output.status.success(),
        "{failure}:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
}

/// `python -m unittest discover -s DIR -v`.
fn unittest(dir: &str) -> [&str; 6] {
    ["-m", "unittest", "discover", "-s", dir, "-v"]
}

#[test]
fn python_sdk_conformance() {
    let env = TestEnv::new();
    run_ok(
        &env,
        Path::new("sh"),
        &["tests/conformance/venv.sh"],
        "provisioning the Dropbox SDK venv failed; the conformance suite needs it",
    );
    run_ok(
        &env,
        &repo().join("target/sdk-venv/bin/python"),
        &unittest("tests/conformance"),
        "the Dropbox SDK rejected the emulator",
    );
}

#[test]
fn librec_auto_shims() {
    run_ok(
        &TestEnv::new(),
        Path::new("python3"),
        &unittest("tests/shims"),
        "shim tests failed (python3 is needed to test the librec-auto shims)",
    );
}
