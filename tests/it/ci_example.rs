//! `examples/ci/publish.sh`, the CI steps of docs/ci.md, run against the built binary.

use crate::harness::{TestEnv, bin, repo, stderr, stdout};

#[test]
fn the_ci_example_script_publishes_and_reruns_clean() {
    let env = TestEnv::new();
    let mut script = std::process::Command::new("bash");
    env.isolate(&mut script);
    let out = script
        .arg(repo().join("examples/ci/publish.sh"))
        .env("DROPBOX_POST_BIN", bin())
        .output()
        .unwrap();
    let stdout = stdout(&out);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {}",
        out.status.code(),
        stderr(&out)
    );
    assert!(stdout.contains("link http"), "{stdout}");
    assert!(stdout.contains("nothing uploaded"), "{stdout}");
    assert!(stdout.ends_with("publish.sh: ok\n"), "{stdout}");
}
