//! Runs the Python unittest suite for the librec-auto shims in `bin/` (tests/shims/).

use std::process::Command;

#[test]
fn librec_auto_shims() {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests/shims", "-v"])
        .current_dir(root)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 is needed to test the librec-auto shims");
    assert!(
        output.status.success(),
        "shim tests failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
