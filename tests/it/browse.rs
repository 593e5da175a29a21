//! `whoami`, `ls` and `get` against a real emulator process.

use std::process::Output;

use crate::harness::{
    CmdExt, PASSWORD, Study, TOKEN, TestEnv, assert_no_secret, assert_same_files, assert_success,
    pattern, stderr, stdout,
};

/// `dropbox-post ARGS --encrypted keys/dropbox.enc --endpoint URL`, password by env; no
/// secret may show.
fn run(study: &Study, args: &[&str]) -> Output {
    let out = study.remote(args).output().unwrap();
    assert_no_secret(&out, &[TOKEN, PASSWORD]);
    out
}

/// A study whose `out/` tree (nested, an empty folder, a 9 MiB file) is posted to /res.
fn posted(env: &TestEnv) -> Study<'_> {
    let study = env.study();
    study.write("out/b.txt", b"bee");
    study.write("out/A/c.csv", b"1,2\n");
    study.write("out/A/Deep/big.bin", pattern(9 * 1024 * 1024 + 17, 3));
    std::fs::create_dir_all(study.path("out/empty")).unwrap();
    study.write("out/a.txt", b"");
    study.config(&[("folder", "out", "/res")]);
    assert_success(&study.post(&[]).output().unwrap());
    study
}

#[test]
fn whoami_shows_the_account() {
    let env = TestEnv::new();
    let study = env.study();
    let out = run(&study, &["whoami"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("name:    Emma Ulator"), "{text}");
    assert!(text.contains("email:   emulator@example.com"), "{text}");
    assert!(text.contains("account: "), "{text}");
}

#[test]
fn whoami_takes_the_credential_from_a_study_config() {
    let env = TestEnv::new();
    let study = env.study();
    study.write("out/a.txt", b"a");
    study.config(&[("folder", "out", "/res")]);
    let out = study
        .cmd()
        .args(["whoami", "--config"])
        .arg(study.path("conf/config.xml"))
        .endpoint(env.emulator())
        .password(PASSWORD)
        .output()
        .unwrap();
    assert_success(&out);
    assert!(stdout(&out).contains("emulator@example.com"));
}

#[test]
fn a_wrong_password_exits_4() {
    let env = TestEnv::new();
    let study = env.study();
    for args in [&["whoami"][..], &["ls"], &["get", "/x", "local"]] {
        let out = study
            .remote(args)
            .password("not the password at all 42")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4), "{args:?}");
    }
}

#[test]
fn ls_lists_sorted_relative_paths_with_folders_marked() {
    let env = TestEnv::new();
    let study = posted(&env);
    let out = run(&study, &["ls", "/res", "-r"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "A/\nA/c.csv\nA/Deep/\nA/Deep/big.bin\na.txt\nb.txt\nempty/\n"
    );
    let top = run(&study, &["ls"]);
    assert_eq!(stdout(&top), "res/\n");
    let top = run(&study, &["ls", "/res"]);
    assert_eq!(stdout(&top), "A/\na.txt\nb.txt\nempty/\n");

    let file = run(&study, &["ls", "/res/A/C.CSV"]);
    assert_eq!(stdout(&file), "c.csv\n");
    let long = stdout(&run(&study, &["ls", "/res/A", "--long"]));
    let lines: Vec<&str> = long.lines().collect();
    assert_eq!(lines.len(), 2, "{long}");
    let c = dropbox_wire::content_hash::content_hash(b"1,2\n");
    assert!(
        lines[0].trim_start().starts_with("4  ") && lines[0].contains(&c),
        "{long}"
    );
    assert!(lines[0].ends_with("  c.csv"), "{long}");
    assert!(lines[1].ends_with("  Deep/"), "{long}");
}

#[test]
fn ls_of_a_missing_folder_fails_clearly() {
    let env = TestEnv::new();
    let study = env.study();
    let out = run(&study, &["ls", "/nope"]);
    assert_eq!(out.status.code(), Some(6));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nope does not exist in Dropbox"),
        "{stderr}"
    );
}

#[test]
fn get_a_folder_byte_for_byte_then_skip_everything() {
    let env = TestEnv::new();
    let study = posted(&env);
    let copy = env.path("copy");
    let out = run(&study, &["get", "/res", copy.to_str().unwrap()]);
    assert_success(&out);
    assert_same_files(&study.path("out"), &copy);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("got 4 files"), "{stderr}");

    let again = run(&study, &["get", "/res", copy.to_str().unwrap()]);
    assert_success(&again);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("got 0 files (0 bytes), skipped 4 identical"),
        "{stderr}"
    );

    // A changed local file is replaced; no temporary files are left behind.
    std::fs::write(copy.join("b.txt"), b"changed").unwrap();
    let third = run(&study, &["get", "/res", copy.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&third.stderr).contains("got 1 files"));
    assert_same_files(&study.path("out"), &copy);
}

#[test]
fn get_a_file_into_a_folder_or_to_a_name() {
    let env = TestEnv::new();
    let study = posted(&env);
    let dest = env.path("dest");
    std::fs::create_dir(&dest).unwrap();
    let out = run(&study, &["get", "/res/A/c.csv", dest.to_str().unwrap()]);
    assert_success(&out);
    assert_eq!(std::fs::read(dest.join("c.csv")).unwrap(), b"1,2\n");
    let named = dest.join("renamed.csv");
    assert_success(&run(
        &study,
        &["get", "/res/A/c.csv", named.to_str().unwrap()],
    ));
    assert_eq!(std::fs::read(&named).unwrap(), b"1,2\n");
}

#[test]
fn get_of_a_missing_path_fails_and_writes_nothing() {
    let env = TestEnv::new();
    let study = env.study();
    let target = env.path("x");
    let out = run(&study, &["get", "/nope", target.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(6));
    assert!(!target.exists());
}

#[test]
fn no_credential_is_a_usage_error() {
    let out = TestEnv::new().cmd().arg("whoami").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--encrypted"));
}

/// Issue 21 (13): a symlink already in the target (a folder or a file) is never written
/// through: each file behind it fails with a line naming the link, the rest lands, exit 6.
#[cfg(unix)]
#[test]
fn get_writes_nothing_through_a_symlink_in_the_target() {
    let env = TestEnv::new();
    let study = posted(&env);
    let copy = env.path("copy");
    let outside = env.path("outside");
    std::fs::create_dir_all(outside.join("Deep")).unwrap();
    std::fs::create_dir(&copy).unwrap();
    std::os::unix::fs::symlink(&outside, copy.join("A")).unwrap();
    std::os::unix::fs::symlink(outside.join("b"), copy.join("b.txt")).unwrap();
    let out = run(&study, &["get", "/res", copy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert_eq!(
        crate::harness::files(&outside),
        Vec::<std::path::PathBuf>::new()
    );
    let err = stderr(&out);
    let a = copy.join("A");
    let says = format!(
        "{} is a symbolic link (to {}); get writes only",
        a.display(),
        outside.display()
    );
    assert_eq!(err.matches(&says).count(), 4, "{err}");
    assert!(
        err.contains(&format!(
            "{} is a symbolic link",
            copy.join("b.txt").display()
        )),
        "{err}"
    );
    assert!(err.contains("got 1 files"), "{err}");
    assert_eq!(std::fs::read(copy.join("a.txt")).unwrap(), b"");
}

/// Issue 21 red team: a shared folder holding `.git/config` replaced the target
/// repository's config, whose `core.fsmonitor` ran at the next `git status`. Nothing of a
/// `.git` folder (any case) is written; the rest lands; exit 6 says so.
#[test]
fn get_never_writes_into_a_git_folder() {
    let env = TestEnv::new();
    let study = env.study();
    study.write("out/r.csv", b"1\n");
    study.write("out/.git/config", b"[core]\n\tfsmonitor = echo ran\n");
    study.write("out/sub/.GIT/hooks/post-checkout", b"#!/bin/sh\n");
    study.config(&[("folder", "out", "/res")]);
    assert_success(&study.post(&[]).output().unwrap());
    let copy = env.path("copy");
    std::fs::create_dir_all(copy.join(".git")).unwrap();
    std::fs::write(copy.join(".git/config"), b"mine").unwrap();
    let out = run(&study, &["get", "/res", copy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches("get never writes into a .git folder").count(),
        5,
        "{err}"
    );
    assert_eq!(std::fs::read(copy.join(".git/config")).unwrap(), b"mine");
    assert_eq!(
        crate::harness::files(&copy),
        [".git/config", "r.csv"].map(std::path::PathBuf::from)
    );
    assert!(copy.join("sub").is_dir() && !copy.join("sub/.GIT").exists());
}

/// Issue 21 red team: a local file `get` replaced came back 0600 whatever it was.
#[cfg(unix)]
#[test]
fn a_file_get_replaces_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let study = posted(&env);
    let copy = env.path("copy");
    assert_success(&run(&study, &["get", "/res", copy.to_str().unwrap()]));
    let b = copy.join("b.txt");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&b), 0o600, "a new file is the user's only");
    std::fs::write(&b, b"changed here").unwrap();
    std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_success(&run(&study, &["get", "/res", copy.to_str().unwrap()]));
    assert_eq!(std::fs::read(&b).unwrap(), b"bee");
    assert_eq!(mode(&b), 0o640);
}

/// Red team (issue 22): a LOCAL that cannot be a folder says why once.
#[test]
fn a_get_into_a_file_says_why_once() {
    let env = TestEnv::new();
    let study = posted(&env);
    let file = env.write("afile", "mine");
    let out = run(&study, &["get", "/res", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot create"), "{err}");
    assert_eq!(err.matches("os error").count(), 1, "{err}");
}
