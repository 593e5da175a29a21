//! The official Dropbox Python SDK against `dropbox-post emulate` (tests/conformance/).
//! Provisions target/sdk-venv first; fails, never skips, when that is impossible.

use std::path::Path;
use std::process::{Command, Output};

fn describe(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn python_sdk_conformance() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let provision = Command::new("sh")
        .arg(root.join("tests/conformance/venv.sh"))
        .output()
        .expect("cannot run sh tests/conformance/venv.sh");
    assert!(
        provision.status.success(),
        "provisioning the Dropbox SDK venv failed; the conformance suite needs it:\n{}",
        describe(&provision)
    );
    let suite = Command::new(root.join("target/sdk-venv/bin/python"))
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
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("cannot run the SDK venv's python");
    assert!(
        suite.status.success(),
        "the Dropbox SDK rejected the emulator:\n{}",
        describe(&suite)
    );
}
