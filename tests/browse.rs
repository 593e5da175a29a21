//! `whoami`, `ls` and `get` against a real emulator process.

mod support;

use std::path::Path;
use std::process::Output;

use support::{Emulator, PASSWORD, Study, TOKEN, assert_success, bin, pattern};

/// `dropbox-post CMD ARGS --encrypted keys/dropbox.enc --endpoint URL`, password by env.
fn run(study: &Study, emu: &Emulator, args: &[&str]) -> Output {
    run_with(study, emu, args, PASSWORD)
}

fn run_with(study: &Study, emu: &Emulator, args: &[&str], password: &str) -> Output {
    let out = assert_cmd::Command::new(bin())
        .args(args)
        .arg("--encrypted")
        .arg(study.path("keys/dropbox.enc"))
        .args(["--endpoint", &emu.url])
        .env("DROPBOX_POST_PASSWORD", password)
        .env_remove("DROPBOX_POST_ENDPOINT")
        .output()
        .unwrap();
    for stream in [&out.stdout, &out.stderr] {
        let s = String::from_utf8_lossy(stream);
        assert!(
            !s.contains(TOKEN) && !s.contains(PASSWORD),
            "secret in output: {s}"
        );
    }
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A study whose `out/` tree (nested, an empty folder, a 9 MiB file) is posted to /res.
fn posted() -> (Emulator, Study) {
    let emu = Emulator::start(&[]);
    let study = Study::new();
    study.write("out/b.txt", b"bee");
    study.write("out/A/c.csv", b"1,2\n");
    study.write("out/A/Deep/big.bin", &pattern(9 * 1024 * 1024 + 17, 3));
    std::fs::create_dir_all(study.path("out/empty")).unwrap();
    study.write("out/a.txt", b"");
    study.config(&[("folder", "out", "/res")]);
    assert_success(&study.post(&emu, &[]).output().unwrap());
    (emu, study)
}

#[test]
fn whoami_shows_the_account() {
    let emu = Emulator::start(&[]);
    let study = Study::new();
    let out = run(&study, &emu, &["whoami"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("name:    Emma Ulator"), "{text}");
    assert!(text.contains("email:   emulator@example.com"), "{text}");
    assert!(text.contains("account: "), "{text}");
}

#[test]
fn whoami_takes_the_credential_from_a_study_config() {
    let emu = Emulator::start(&[]);
    let study = Study::new();
    study.write("out/a.txt", b"a");
    study.config(&[("folder", "out", "/res")]);
    let out = assert_cmd::Command::new(bin())
        .args(["whoami", "--config"])
        .arg(study.path("conf/config.xml"))
        .args(["--endpoint", &emu.url])
        .env("DROPBOX_POST_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert_success(&out);
    assert!(stdout(&out).contains("emulator@example.com"));
}

#[test]
fn a_wrong_password_exits_4() {
    let emu = Emulator::start(&[]);
    let study = Study::new();
    for args in [&["whoami"][..], &["ls"], &["get", "/x", "local"]] {
        let out = run_with(&study, &emu, args, "not the password at all 42");
        assert_eq!(out.status.code(), Some(4), "{args:?}");
    }
}

#[test]
fn ls_lists_sorted_relative_paths_with_folders_marked() {
    let (emu, study) = posted();
    let out = run(&study, &emu, &["ls", "/res", "-r"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "A/\nA/c.csv\nA/Deep/\nA/Deep/big.bin\na.txt\nb.txt\nempty/\n"
    );
    let top = run(&study, &emu, &["ls"]);
    assert_eq!(stdout(&top), "res/\n");
    let top = run(&study, &emu, &["ls", "/res"]);
    assert_eq!(stdout(&top), "A/\na.txt\nb.txt\nempty/\n");

    let file = run(&study, &emu, &["ls", "/res/A/C.CSV"]);
    assert_eq!(stdout(&file), "c.csv\n");
    let long = stdout(&run(&study, &emu, &["ls", "/res/A", "--long"]));
    let lines: Vec<&str> = long.lines().collect();
    assert_eq!(lines.len(), 2, "{long}");
    let c = dropbox_post::dropbox::content_hash::content_hash(b"1,2\n");
    assert!(
        lines[0].trim_start().starts_with("4  ") && lines[0].contains(&c),
        "{long}"
    );
    assert!(lines[0].ends_with("  c.csv"), "{long}");
    assert!(lines[1].ends_with("  Deep/"), "{long}");
}

#[test]
fn ls_of_a_missing_folder_fails_clearly() {
    let emu = Emulator::start(&[]);
    let study = Study::new();
    let out = run(&study, &emu, &["ls", "/nope"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_found"));
}

fn same_tree(a: &Path, b: &Path) {
    let list = |root: &Path| -> Vec<String> {
        let mut v: Vec<String> = walkdir::WalkDir::new(root)
            .into_iter()
            .filter_map(Result::ok)
            .map(|e| {
                e.path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(list(a), list(b));
    for rel in list(a) {
        let (x, y) = (a.join(&rel), b.join(&rel));
        if x.is_file() {
            assert!(
                std::fs::read(&x).unwrap() == std::fs::read(&y).unwrap(),
                "{rel} differs"
            );
        }
    }
}

#[test]
fn get_a_folder_byte_for_byte_then_skip_everything() {
    let (emu, study) = posted();
    let dest = tempfile::tempdir().unwrap();
    let copy = dest.path().join("copy");
    let out = run(&study, &emu, &["get", "/res", copy.to_str().unwrap()]);
    assert_success(&out);
    same_tree(&study.path("out"), &copy);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("got 4 files"), "{stderr}");

    let again = run(&study, &emu, &["get", "/res", copy.to_str().unwrap()]);
    assert_success(&again);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("got 0 files (0 bytes), skipped 4 identical"),
        "{stderr}"
    );

    // A changed local file is replaced; no temporary files are left behind.
    std::fs::write(copy.join("b.txt"), b"changed").unwrap();
    let third = run(&study, &emu, &["get", "/res", copy.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&third.stderr).contains("got 1 files"));
    same_tree(&study.path("out"), &copy);
}

#[test]
fn get_a_file_into_a_folder_or_to_a_name() {
    let (emu, study) = posted();
    let dest = tempfile::tempdir().unwrap();
    let out = run(
        &study,
        &emu,
        &["get", "/res/A/c.csv", dest.path().to_str().unwrap()],
    );
    assert_success(&out);
    assert_eq!(std::fs::read(dest.path().join("c.csv")).unwrap(), b"1,2\n");
    let named = dest.path().join("renamed.csv");
    assert_success(&run(
        &study,
        &emu,
        &["get", "/res/A/c.csv", named.to_str().unwrap()],
    ));
    assert_eq!(std::fs::read(&named).unwrap(), b"1,2\n");
}

#[test]
fn get_of_a_missing_path_fails_and_writes_nothing() {
    let emu = Emulator::start(&[]);
    let study = Study::new();
    let dest = tempfile::tempdir().unwrap();
    let target = dest.path().join("x");
    let out = run(&study, &emu, &["get", "/nope", target.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(6));
    assert!(!target.exists());
}

#[test]
fn no_credential_is_a_usage_error() {
    let out = assert_cmd::Command::new(bin())
        .arg("whoami")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--encrypted"));
}
