//! The harness keeps every test inside its temp dir: the binary, its emulator and the
//! scripts it runs see a temp HOME, XDG dirs, TMPDIR and cache, and none of the caller's
//! dropbox-post variables.

use dropbox_post_core::upload::hash_cache::TEST_CLOCK_ENV;

use crate::harness::{TestEnv, stdout};

#[test]
fn commands_see_only_the_test_env() {
    let env = TestEnv::new();
    let mut sh = std::process::Command::new("sh");
    env.isolate(&mut sh);
    let out = sh.args(["-c", "env"]).output().unwrap();
    let seen = stdout(&out);
    let root = env.root().to_str().unwrap();
    for name in [
        "HOME",
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "XDG_RUNTIME_DIR",
        "TMPDIR",
        "DROPBOX_POST_CACHE_DIR",
    ] {
        let value = seen
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} is not set: {seen}"));
        assert!(value.starts_with(root), "{name}={value} is outside {root}");
    }
    for line in seen.lines() {
        let name = line.split('=').next().unwrap();
        assert!(
            name == "DROPBOX_POST_CACHE_DIR" || !name.starts_with("DROPBOX_POST_"),
            "inherited {name}"
        );
        assert_ne!(name, "RUST_LOG", "inherited RUST_LOG");
    }
}

/// Without `DROPBOX_POST_CACHE_DIR`, `post` remembers hashes under the temp XDG cache.
#[test]
fn the_default_cache_is_inside_the_test_env() {
    let env = TestEnv::new();
    let study = env.study();
    study.write("out/a.txt", b"a");
    study.config(&[("folder", "out", "/iso")]);
    // Remembered only when changed over 2 s before the run: the cache's clock runs ahead.
    study
        .post(&[])
        .env(TEST_CLOCK_ENV, "3")
        .env_remove("DROPBOX_POST_CACHE_DIR")
        .assert()
        .success();
    let hashes = env.root().join("home/.cache/dropbox-post/hashes");
    assert_eq!(std::fs::read_dir(&hashes).unwrap().count(), 1);
    assert!(!env.cache().join("hashes").exists());
}
