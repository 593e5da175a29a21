//! `dropbox-post auth` against a real emulator process: the whole PKCE flow through piped
//! stdin/stderr, then the sealed refresh token in use (across token expiries), and the
//! ways the flow fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Output, Stdio};

use secrecy::ExposeSecret;

use crate::harness::{
    CmdExt, PASSWORD, TestEnv, assert_same_files, assert_success, block_on, pattern,
};

const APP_KEY: &str = "pkceappkey";

/// What a run of `auth` showed, and the child's result.
struct AuthRun {
    output: Output,
    stderr: String,
}

/// Run `auth` into `out`; `answer` turns the printed authorize URL into the line to paste.
fn run_auth(env: &TestEnv, out: &Path, extra: &[&str], answer: impl Fn(&str) -> String) -> AuthRun {
    let mut child = env
        .command()
        .args(["auth", "--app-key", APP_KEY, "--encrypted"])
        .arg(out)
        .endpoint(env.emulator())
        .args(extra)
        .password(PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut shown = String::new();
    let mut url = None;
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        shown.push_str(&line);
        if let Some(at) = line.find("http") {
            url = Some(line[at..].trim().to_string());
            break;
        }
        line.clear();
    }
    let mut stdin = child.stdin.take().unwrap();
    if let Some(url) = &url {
        // The child may already have exited (an error); a closed pipe is then fine.
        let _ = stdin.write_all(answer(url).as_bytes());
    }
    drop(stdin);
    stderr.read_to_string(&mut shown).unwrap();
    let output = child.wait_with_output().unwrap();
    AuthRun {
        output,
        stderr: shown,
    }
}

/// What the user does in the browser: open the URL; the emulator approves at once.
fn approve(url: &str) -> String {
    let code = block_on(async {
        let r = reqwest::get(url).await.unwrap();
        assert!(r.status().is_success(), "authorize answered {}", r.status());
        r.text().await.unwrap()
    });
    format!("{}\n", code.trim())
}

fn key_check(env: &TestEnv, path: &Path) -> String {
    let out = env
        .cmd()
        .args(["key", "check", "--encrypted"])
        .arg(path)
        .password(PASSWORD)
        .output()
        .unwrap();
    assert_success(&out);
    String::from_utf8(out.stdout).unwrap()
}

fn refresh_token_in(path: &Path) -> String {
    use dropbox_post_core::password::{Password, Source};
    let password = Password::new(PASSWORD.into(), Source::Flag("-k/--password"));
    match dropbox_post_core::seal::open_file(path, &password).unwrap() {
        dropbox_post_core::seal::Credential::RefreshToken { refresh_token, .. } => {
            refresh_token.expose_secret().to_string()
        }
        _ => panic!("auth sealed an access token"),
    }
}

#[test]
fn auth_seals_a_refresh_token_that_posts_and_never_shows_it() {
    let env = TestEnv::with_emulator(&["--app", APP_KEY]);
    let study = env.study();
    let emu = env.emulator();
    let key = study.path("keys/dropbox.enc");
    let before = std::fs::read(&key).unwrap();

    // An existing output is refused before the flow starts: no URL is printed.
    let refused = run_auth(&env, &key, &[], |_| panic!("no URL expected"));
    assert_eq!(refused.output.status.code(), Some(2), "{}", refused.stderr);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(std::fs::read(&key).unwrap(), before);

    let run = run_auth(&env, &key, &["--force"], approve);
    assert_success(&run.output);
    let stdout = String::from_utf8_lossy(&run.output.stdout).into_owned();
    assert!(
        stdout.contains("refresh_token") && stdout.contains("emulator@example.com"),
        "{stdout}"
    );
    assert!(
        run.stderr.contains("code_challenge_method=S256"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("token_access_type=offline"),
        "{}",
        run.stderr
    );

    let check = key_check(&env, &key);
    assert!(check.contains("credential:  refresh_token"), "{check}");
    assert!(check.contains(APP_KEY), "{check}");

    let refresh = refresh_token_in(&key);
    assert!(refresh.len() > 20);
    for shown in [&stdout, &run.stderr, &check] {
        assert!(!shown.contains(&refresh), "refresh token leaked: {shown}");
        assert!(!shown.contains(PASSWORD), "password leaked: {shown}");
    }
    let sealed = std::fs::read_to_string(&key).unwrap();
    assert!(!sealed.contains(&refresh));

    study.write("out/a.txt", b"via auth");
    study.config(&[("folder", "out", "/r")]);
    let post = study.post(&[]).output().unwrap();
    assert_success(&post);
    assert_eq!(std::fs::read(emu.file("/r/a.txt")).unwrap(), b"via auth");
    for stream in [&post.stdout, &post.stderr] {
        let s = String::from_utf8_lossy(stream);
        assert!(!s.contains(&refresh) && !s.contains(PASSWORD), "{s}");
    }
}

#[test]
fn a_post_spanning_several_token_expiries_sends_every_file() {
    let env = TestEnv::with_emulator(&[
        "--app",
        APP_KEY,
        "--token-lifetime",
        "1",
        "--latency-ms",
        "100",
    ]);
    let study = env.study();
    let emu = env.emulator();
    let key = study.path("keys/dropbox.enc");
    assert_success(&run_auth(&env, &key, &["--force"], approve).output);
    for i in 0..60 {
        study.write(&format!("out/f{i:02}.bin"), pattern(1000 + i, i as u64));
    }
    study.config(&[("folder", "out", "/many")]);
    let post = study.post(&["--jobs", "2"]).output().unwrap();
    assert_success(&post);
    assert_same_files(&study.path("out"), &emu.file("/many"));
}

#[test]
fn empty_stdin_is_a_clear_usage_error() {
    let env = TestEnv::with_emulator(&["--app", APP_KEY]);
    let key = env.path("k.enc");
    let run = run_auth(&env, &key, &[], |_| String::new());
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("no authorization code"),
        "{}",
        run.stderr
    );
    assert!(!key.exists());
}

#[test]
fn a_wrong_code_exits_5_and_says_to_run_auth_again() {
    let env = TestEnv::with_emulator(&["--app", APP_KEY]);
    let key = env.path("k.enc");
    let run = run_auth(&env, &key, &[], |_| "not-a-real-code\n".into());
    assert_eq!(run.output.status.code(), Some(5), "{}", run.stderr);
    let error = run.stderr.lines().last().unwrap_or_default();
    assert!(
        error.starts_with("dropbox-post: error: could not authorize dropbox-post: Dropbox refused the authorization code"),
        "{error}"
    );
    assert!(
        error.contains("run `dropbox-post auth` again and paste the new code"),
        "{error}"
    );
    assert!(!key.exists());
}

#[test]
fn a_weak_password_is_refused_before_the_flow() {
    let env = TestEnv::with_emulator(&["--app", APP_KEY]);
    let key = env.path("k.enc");
    let out = env
        .cmd()
        .args(["auth", "--app-key", APP_KEY, "--encrypted"])
        .arg(&key)
        .endpoint(env.emulator())
        .password("password")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("oauth2/authorize"), "{stderr}");
    assert!(!key.exists());
}

#[test]
fn a_revoked_refresh_token_exits_5_and_says_to_run_auth() {
    let env = TestEnv::with_emulator(&["--app", APP_KEY]);
    let credential = serde_json::json!({
        "type": "refresh_token",
        "app_key": APP_KEY,
        "refresh_token": "revoked-refresh-token-value",
    });
    let study = env.study_sealing(&credential.to_string());
    let out = study.remote(&["whoami"]).output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid_grant") && stderr.contains("dropbox-post auth"),
        "{stderr}"
    );
    assert!(!stderr.contains("revoked-refresh-token-value"), "{stderr}");
}

/// Issue 21 (10): the pasted code is read with a bound: endless stdin fails at once.
#[cfg(unix)]
#[test]
fn endless_stdin_is_refused_at_once() {
    let env = TestEnv::with_emulator(&["--app", APP_KEY]);
    let key = env.path("k.enc");
    // Through sh: assert_cmd would read all of /dev/zero into memory to pipe it.
    let mut cmd = env.program("sh");
    cmd.args(["-c", "exec \"$@\" < /dev/zero", "sh"])
        .arg(crate::harness::bin())
        .args(["auth", "--app-key", APP_KEY, "--encrypted"])
        .arg(&key)
        .endpoint(env.emulator())
        .password(PASSWORD);
    let out = crate::harness::output_within(&mut cmd, std::time::Duration::from_secs(20));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error: the authorization code on stdin is longer than"),
        "{err}"
    );
    assert!(!key.exists());
}
