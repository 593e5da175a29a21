//! The official Dropbox Python SDK against `dropbox-post emulate` (tests/conformance/).
//! Provisions target/sdk-venv first; fails, never skips, when that is impossible.

use std::path::Path;
use std::process::Command;

/// Runs `command` and panics with `failure` and its output unless it succeeds.
fn run_ok(command: &mut Command, failure: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{failure}: cannot start {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{failure}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn python_sdk_conformance() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    run_ok(
        Command::new("sh").arg(root.join("tests/conformance/venv.sh")),
        "provisioning the Dropbox SDK venv failed; the conformance suite needs it",
    );
    run_ok(
        Command::new(root.join("target/sdk-venv/bin/python"))
            .args([
                "-m",
                "unittest",
                "discover",
                "-s",
                "tests/conformance",
                "-v",
            ])
            .current_dir(root)
            .env(
                "DROPBOX_POST_BIN",
                assert_cmd::cargo::cargo_bin("dropbox-post"),
            )
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        "the Dropbox SDK rejected the emulator",
    );
}
