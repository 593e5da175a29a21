//! librec-auto's way of running dropbox-post: the bin/ shims with the real binary, and the
//! example study in examples/study.

use std::path::Path;
use std::process::Output;

use crate::harness::{
    CmdExt, Emulator, PASSWORD, TOKEN, TestEnv, assert_same_files, pattern, repo, stderr,
};

/// `python3 bin/SCRIPT ARGS…` from `study`, as librec-auto runs post scripts.
fn shim(
    env: &TestEnv,
    script: &str,
    study: &Path,
    emulator: Option<&Emulator>,
    args: &[&str],
) -> Output {
    let mut cmd = env.shim(script);
    cmd.args(args).current_dir(study);
    if let Some(emulator) = emulator {
        cmd.env("DROPBOX_POST_ENDPOINT", &emulator.url);
    }
    cmd.output().expect("python3 runs the shims")
}

/// A study sealed through bin/encrypt.py (librec-auto's encrypt.py flags), in `env`'s
/// work dir.
fn sealed_study(env: &TestEnv) -> std::path::PathBuf {
    let dir = env.dir();
    env.write("token.txt", TOKEN);
    std::fs::create_dir(dir.join("keys")).unwrap();
    let args = ["--key", "token.txt", "--encrypted", "keys/dropbox.enc"];
    let password = ["--password", PASSWORD];
    let out = shim(
        env,
        "encrypt.py",
        &dir,
        None,
        &[&args[..], &password].concat(),
    );
    assert!(out.status.success(), "encrypt.py: {}", stderr(&out));
    let sealed = std::fs::read(dir.join("keys/dropbox.enc")).unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(TOKEN));
    dir
}

#[test]
fn shims_seal_and_post_with_the_real_binary() {
    let env = TestEnv::new();
    let emulator = env.emulator();
    let root = &sealed_study(&env);
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
    let out = shim(&env, "dropbox_post.py", root, Some(emulator), &file);
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
    let out = shim(&env, "dropbox_post.py", root, Some(emulator), &folder);
    assert!(out.status.success(), "folder: {}", stderr(&out));
    assert_same_files(&root.join("exp00000"), &emulator.file("/results/exp00000"));

    // The binary's exit codes come back through the shim: 4 = credential.
    let wrong = [&file[..5], &["-k", "not the password"]].concat();
    let out = shim(&env, "dropbox_post.py", root, Some(emulator), &wrong);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(!stderr(&out).contains("not the password"));
    // 3 = config.
    let missing = [
        &file[..3],
        &["--path=post/none.csv", "--dest=/results", &password],
    ]
    .concat();
    let out = shim(&env, "dropbox_post.py", root, Some(emulator), &missing);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn example_study_posts_as_its_config_says() {
    let example = repo().join("examples/study");
    let env = TestEnv::new();
    let root = &sealed_study(&env);
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

    let emulator = env.emulator();
    let out = env
        .cmd()
        .args(["post", "--config", "conf/config.xml"])
        .endpoint(emulator)
        .password(PASSWORD)
        .current_dir(root)
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
    assert_same_files(
        &root.join("exp00000"),
        &emulator.file("/dropbox-post-demo/exp00000"),
    );
}
