//! `examples/ci/publish.sh`, the CI steps of docs/ci.md, run against the built binary.

use std::process::Command;

#[test]
fn the_ci_example_script_publishes_and_reruns_clean() {
    let out = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/ci/publish.sh"
        ))
        .env(
            "DROPBOX_POST_BIN",
            assert_cmd::cargo::cargo_bin!("dropbox-post"),
        )
        .env_remove("DROPBOX_POST_ENDPOINT")
        .env_remove("DROPBOX_POST_PASSWORD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status.code()
    );
    assert!(stdout.contains("link http"), "{stdout}");
    assert!(stdout.contains("nothing uploaded"), "{stdout}");
    assert!(stdout.ends_with("publish.sh: ok\n"), "{stdout}");
}
