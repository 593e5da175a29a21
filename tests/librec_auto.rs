//! librec-auto's way of running dropbox-post: the bin/ shims with the real binary, and the
//! example study in examples/study.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::*;

/// `python3 bin/SCRIPT ARGS…` from `study`, as librec-auto runs post scripts.
fn shim(script: &str, study: &Path, emulator: Option<&Emulator>, args: &[&str]) -> Output {
    let mut cmd = Command::new("python3");
    cmd.arg(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("bin")
            .join(script),
    )
    .args(args)
    .current_dir(study)
    .env("DROPBOX_POST_BIN", bin())
    .env("PYTHONDONTWRITEBYTECODE", "1")
    .env_remove("DROPBOX_POST_PASSWORD")
    .env_remove("DROPBOX_POST_ENDPOINT");
    if let Some(emulator) = emulator {
        cmd.env("DROPBOX_POST_ENDPOINT", &emulator.url);
    }
    cmd.output().expect("python3 runs the shims")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A study sealed through bin/encrypt.py (librec-auto's encrypt.py flags).
fn sealed_study() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("token.txt"), TOKEN).unwrap();
    let args = ["--key", "token.txt", "--encrypted", "keys/dropbox.enc"];
    let out = shim(
        "encrypt.py",
        dir.path(),
        None,
        &[&args[..], &["--password", PASSWORD]].concat(),
    );
    assert!(out.status.success(), "encrypt.py: {}", stderr(&out));
    let sealed = std::fs::read(dir.path().join("keys/dropbox.enc")).unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(TOKEN));
    dir
}

#[test]
fn shims_seal_and_post_with_the_real_binary() {
    let emulator = Emulator::start(&[]);
    let study = sealed_study();
    let root = study.path();
    std::fs::create_dir_all(root.join("post")).unwrap();
    std::fs::write(root.join("post/summary.csv"), "ndcg,0.25\n").unwrap();
    std::fs::create_dir_all(root.join("exp00000/result")).unwrap();
    std::fs::write(root.join("exp00000/result/out-1.txt"), pattern(10_000, 1)).unwrap();
    std::fs::write(root.join("exp00000/log.txt"), "done\n").unwrap();

    let password = format!("--password={PASSWORD}");
    let file = [
        "config.xml",
        "--option=file",
        "--encrypted_key=keys/dropbox.enc",
        "--path=post/summary.csv",
        "--dest=/results",
        &password,
    ];
    let out = shim("dropbox_post.py", root, Some(&emulator), &file);
    assert!(out.status.success(), "file: {}", stderr(&out));
    assert_eq!(
        std::fs::read(emulator.file("/results/summary.csv")).unwrap(),
        b"ndcg,0.25\n"
    );

    let folder = [
        "config.xml",
        "--option=folder",
        "--encrypted_key=keys/dropbox.enc",
        "--path=exp00000",
        "--dest=/results/exp00000",
        "--password",
        PASSWORD,
    ];
    let out = shim("dropbox_post.py", root, Some(&emulator), &folder);
    assert!(out.status.success(), "folder: {}", stderr(&out));
    assert_same_tree(&emulator, &root.join("exp00000"), "/results/exp00000");

    // The binary's exit codes come back through the shim: 4 = credential.
    let wrong = [&file[..5], &["-k", "not the password"]].concat();
    let out = shim("dropbox_post.py", root, Some(&emulator), &wrong);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(!stderr(&out).contains("not the password"));
    // 3 = config.
    let missing = [
        &file[..3],
        &["--path=post/none.csv", "--dest=/results", &password],
    ]
    .concat();
    let out = shim("dropbox_post.py", root, Some(&emulator), &missing);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn example_study_posts_as_its_config_says() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/study");
    let study = sealed_study();
    let root = study.path();
    for entry in walkdir::WalkDir::new(&example) {
        let entry = entry.unwrap();
        let to = root.join(entry.path().strip_prefix(&example).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    // What the demo generates: 12 MiB of model weights (more than one upload chunk).
    std::fs::write(
        root.join("exp00000/model/weights.bin"),
        pattern(12 << 20, 7),
    )
    .unwrap();

    let emulator = Emulator::start(&[]);
    let out = Command::new(bin())
        .args([
            "post",
            "--config",
            "conf/config.xml",
            "--endpoint",
            &emulator.url,
        ])
        .current_dir(root)
        .env("DROPBOX_POST_PASSWORD", PASSWORD)
        .env_remove("DROPBOX_POST_ENDPOINT")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("results_graphics.py is not a dropbox script; left to librec-auto"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(emulator.file("/dropbox-post-demo/summary.csv")).unwrap(),
        std::fs::read(root.join("post/summary.csv")).unwrap()
    );
    assert_same_tree(
        &emulator,
        &root.join("exp00000"),
        "/dropbox-post-demo/exp00000",
    );
}
