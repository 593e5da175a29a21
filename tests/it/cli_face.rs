//! The CLI's face as snapshots (tests/it/snapshots/): every `--help`, and every usage,
//! config, credential and Dropbox error with its exit code. A change to a message shows up
//! as a diff of these files; update them with `INSTA_UPDATE=always cargo test --test it
//! cli_face` and review `git diff tests/it/snapshots` (tests/README.md).
//!
//! Each case runs in one fixed study fixture (relative paths, so messages name them as a
//! user would type them); the env's temp dir and the emulator's URL are redacted, and no
//! case may print a secret.

use std::time::Duration;

use crate::harness::{
    CmdExt, Emulator, PASSWORD_VAR, TOKEN, TestEnv, assert_no_secret, repo, stderr, stdout,
    subcommands,
};

/// keys.example/dropbox.enc's password and token (public demo values).
const DEMO_PASSWORD: &str = "correct horse battery staple";
const DEMO_TOKEN: &str = "sl.EXAMPLE-demo-token-for-the-emulator";
const WRONG: &str = "wrong horse battery staple";
/// Given twice to `-k`: clap's error must not echo it.
const CANARY: &str = "CANARY-secret-7f3a";

/// How a case gets its password.
#[derive(Clone, Copy)]
enum Pw {
    None,
    /// By `DROPBOX_POST_PASSWORD`.
    Env(&'static str),
}

struct Case {
    name: &'static str,
    args: &'static [&'static str],
    password: Pw,
}

const fn case(name: &'static str, args: &'static [&'static str]) -> Case {
    Case {
        name,
        args,
        password: Pw::None,
    }
}

const fn with_pw(name: &'static str, args: &'static [&'static str], pw: &'static str) -> Case {
    Case {
        name,
        args,
        password: Pw::Env(pw),
    }
}

/// A study as the error cases need it: the public demo keys, broken copies of them, a
/// one-line and a two-line cleartext key, password files and configs good and bad.
fn fixture() -> TestEnv {
    let env = TestEnv::new();
    let sealed = std::fs::read_to_string(repo().join("keys.example/dropbox.enc")).unwrap();
    env.write("keys/dropbox.enc", &sealed);
    env.write(
        "keys/legacy.enc",
        std::fs::read(repo().join("keys.example/legacy.enc")).unwrap(),
    );
    let i = sealed.rfind("ciphertext: ").unwrap() + "ciphertext: ".len() + 10;
    let mut changed = sealed.clone().into_bytes();
    changed[i] = if changed[i] == b'A' { b'B' } else { b'A' };
    env.write("keys/changed.enc", changed);
    env.write("keys/huge-kdf.enc", sealed.replace("m=65536", "m=4194304"));
    env.write("keys/v2.enc", sealed.replace("sealed v1", "sealed v2"));
    env.write("keys/crlf.enc", sealed.replace('\n', "\r\n"));
    env.write("keys/too-big.enc", sealed.clone() + &"a".repeat(70_000));
    let overflow = "m=99999999999999999999999999";
    env.write("keys/kdf-overflow.enc", sealed.replace("m=65536", overflow));
    env.write("keys/empty.enc", "");
    env.write("token.txt", format!("{DEMO_TOKEN}\n"));
    env.write("two-lines.txt", "sl.a\nsl.b\n");
    env.write("password.txt", format!("{DEMO_PASSWORD}\n"));
    env.write("empty-password.txt", "\n");
    env.write("weak.txt", "dropbox1\n");
    env.write("post/r.csv", "1,2\n");
    let script = |params: &str| {
        format!(
            "<librec-auto><post><script lang=\"python3\" src=\"system\">\n  \
             <script-name>dropbox_post.py</script-name>\n{params}</script></post></librec-auto>\n"
        )
    };
    let params = |option: &str, key: &str, path: &str, dest: &str| {
        format!(
            "  <param name=\"option\">{option}</param>\n  \
             <param name=\"encrypted_key\">{key}</param>\n  \
             <param name=\"path\">{path}</param>\n  <param name=\"dest\">{dest}</param>\n"
        )
    };
    let ok = params("file", "keys/dropbox.enc", "post/r.csv", "/results");
    env.write("conf/config.xml", script(&ok));
    env.write(
        "conf/missing-path.xml",
        script(&params("file", "keys/dropbox.enc", "post/none.csv", "/r")),
    );
    env.write(
        "conf/missing-key.xml",
        script(&params("file", "keys/none.enc", "post/r.csv", "/r")),
    );
    env.write(
        "conf/bad-option.xml",
        script(&params("zip", "keys/dropbox.enc", "post/r.csv", "/r")),
    );
    env.write(
        "conf/bad-dest.xml",
        script(&params(
            "file",
            "keys/dropbox.enc",
            "post/r.csv",
            "no/slash",
        )),
    );
    env.write(
        "conf/no-dest.xml",
        script(&params("file", "keys/dropbox.enc", "post/r.csv", "")),
    );
    env.write(
        "conf/password.xml",
        script(&format!(
            "{ok}  <param name=\"password\">{DEMO_PASSWORD}</param>\n"
        )),
    );
    let dest = |dest: &str| script(&params("file", "keys/dropbox.enc", "post/r.csv", dest));
    env.write("conf/bidi-dest.xml", dest("/results/\u{202e}vsc.exe"));
    env.write("conf/backslash-dest.xml", dest("/a\\..\\b"));
    env.write("conf/element-in-param.xml", dest("/a<x>b</x>"));
    std::fs::write(env.root().join("outside.csv"), "private\n").unwrap();
    let outside = params("file", "keys/dropbox.enc", "../outside.csv", "/r");
    env.write("conf/outside.xml", script(&outside));
    let share =
        "  <param name=\"share\">true</param>\n  <param name=\"allow_outside\">true</param>\n";
    env.write(
        "conf/outside-share.xml",
        script(&format!("{outside}{share}")),
    );
    env.write("post/.dropboxignore", "ok\n{unclosed\n");
    let folder = params("folder", "keys/dropbox.enc", "post", "/r");
    env.write("conf/bad-ignore.xml", script(&folder));
    // UTF-16 without its byte-order mark; Latin-1 in a nested folder; a dangling link.
    env.write("enc/.dropboxignore", b"k\0e\0y\0s\0/\0\n\0");
    env.write("nested/sub/.dropboxignore", b"r\xe9sum\xe9.pdf\n");
    env.write("dangling/r.csv", "1,2\n");
    #[cfg(unix)]
    std::os::unix::fs::symlink("nowhere", env.path("dangling/.dropboxignore")).unwrap();
    for name in ["enc", "nested", "dangling"] {
        let folder = params("folder", "keys/dropbox.enc", name, "/r");
        env.write(&format!("conf/{name}-ignore.xml"), script(&folder));
    }
    env.write("conf/not-xml.xml", "this is not <xml");
    env.write("conf/unclosed.xml", "<librec-auto><post><script>\n");
    env.write("conf/no-post.xml", "<librec-auto><data/></librec-auto>\n");
    env
}

/// Runs each case in `env` and snapshots it as `NAME.snap`.
fn snapshot_all(env: &TestEnv, endpoint: Option<&str>, cases: &[Case]) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for case in cases {
            insta::assert_snapshot!(case.name, run(env, endpoint, case));
        }
    });
}

/// `$ dropbox-post ARGS`, the exit code and both streams, redacted.
fn run(env: &TestEnv, endpoint: Option<&str>, case: &Case) -> String {
    let mut cmd = env.cmd();
    cmd.args(case.args).timeout(Duration::from_secs(60));
    if let Some(url) = endpoint {
        cmd.env("DROPBOX_POST_ENDPOINT", url);
    }
    let mut secrets = vec![DEMO_TOKEN, TOKEN, WRONG, CANARY];
    let shown_password = match case.password {
        Pw::None => String::new(),
        Pw::Env(pw) => {
            if !pw.is_empty() {
                secrets.push(pw);
            }
            cmd.password(pw);
            // Shown by length only: the case's input, never its output.
            format!("{PASSWORD_VAR}=<{} chars> ", pw.len())
        }
    };
    let out = cmd.output().unwrap();
    // The help pages may name the public demo password; a case must not echo the one given.
    assert_no_secret(&out, &secrets);
    let mut text = format!(
        "$ {shown_password}dropbox-post{}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
        case.args
            .iter()
            .map(|a| format!(" {a}"))
            .collect::<String>(),
        out.status.code().map_or("signal".into(), |c| c.to_string()),
        stdout(&out),
        stderr(&out)
    );
    if let Some(url) = endpoint {
        text = text.replace(url, "[EMULATOR]");
    }
    redact_seconds(&text.replace(env.root().to_str().unwrap(), "[ENV]"))
}

/// `in 0.3 s` (a run's duration) as `in [S] s`.
fn redact_seconds(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(" in ") {
        let (head, tail) = rest.split_at(at + " in ".len());
        out.push_str(head);
        let number = tail
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(tail.len());
        if number > 0 && tail[number..].starts_with(" s") {
            out.push_str("[S]");
            rest = &tail[number..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// Every subcommand's help, checked to be in this list: a new one cannot be forgotten.
const HELP: &[Case] = &[
    case("help", &["--help"]),
    case("help-encrypt", &["encrypt", "--help"]),
    case("help-key", &["key", "--help"]),
    case("help-key-check", &["key", "check", "--help"]),
    case("help-key-rekey", &["key", "rekey", "--help"]),
    case("help-post", &["post", "--help"]),
    case("help-emulate", &["emulate", "--help"]),
    case("help-demo", &["demo", "--help"]),
    case("help-auth", &["auth", "--help"]),
    case("help-whoami", &["whoami", "--help"]),
    case("help-ls", &["ls", "--help"]),
    case("help-get", &["get", "--help"]),
    case("help-init", &["init", "--help"]),
    case("help-librec-auto-dir", &["librec-auto-dir", "--help"]),
    case("help-completions", &["completions", "--help"]),
    case("help-man", &["man", "--help"]),
];

#[test]
fn help_pages() {
    for path in subcommands() {
        let name = format!("help-{}", path.join("-"));
        assert!(HELP.iter().any(|c| c.name == name), "no {name} case");
    }
    snapshot_all(&TestEnv::new(), None, HELP);
}

#[test]
fn usage_errors() {
    let env = fixture();
    let pw = DEMO_PASSWORD;
    snapshot_all(
        &env,
        None,
        &[
            case("usage-no-subcommand", &[]),
            case("usage-unknown-subcommand", &["frobnicate"]),
            case("usage-unknown-flag", &["post", "--bogus"]),
            case("usage-post-no-config", &["post"]),
            case(
                "usage-post-two-configs",
                &["post", "--config", "a.xml", "b.xml"],
            ),
            case(
                "usage-post-chunk-size",
                &["post", "--config", "conf/config.xml", "--chunk-size", "6"],
            ),
            case(
                "usage-post-jobs-zero",
                &["post", "--config", "conf/config.xml", "--jobs", "0"],
            ),
            case(
                "usage-post-mode",
                &["post", "--config", "conf/config.xml", "--mode", "sideways"],
            ),
            case(
                "usage-post-path-without-option",
                &["post", "conf/config.xml", "--path=post/r.csv"],
            ),
            case(
                "usage-encrypt-no-output",
                &["encrypt", "--key", "token.txt"],
            ),
            with_pw(
                "usage-encrypt-missing-cleartext",
                &["encrypt", "--key", "none.txt", "--encrypted", "new.enc"],
                pw,
            ),
            with_pw(
                "usage-encrypt-two-line-cleartext",
                &[
                    "encrypt",
                    "--key",
                    "two-lines.txt",
                    "--encrypted",
                    "new.enc",
                ],
                pw,
            ),
            with_pw(
                "usage-encrypt-existing-output",
                &[
                    "encrypt",
                    "--key",
                    "token.txt",
                    "--encrypted",
                    "keys/dropbox.enc",
                ],
                pw,
            ),
            with_pw(
                "usage-encrypt-kdf-memory",
                &[
                    "encrypt",
                    "--key",
                    "token.txt",
                    "--encrypted",
                    "new.enc",
                    "--kdf-memory-kib",
                    "2097152",
                ],
                pw,
            ),
            with_pw(
                "usage-encrypt-weak-kdf",
                &[
                    "encrypt",
                    "--key",
                    "token.txt",
                    "--encrypted",
                    "new.enc",
                    "--kdf-memory-kib",
                    "8",
                    "--kdf-passes",
                    "1",
                ],
                pw,
            ),
            case("usage-key-no-subcommand", &["key"]),
            case("usage-key-check-no-file", &["key", "check"]),
            case(
                "usage-key-rekey-conflict",
                &[
                    "key",
                    "rekey",
                    "--encrypted",
                    "keys/dropbox.enc",
                    "--keep-password",
                    "--new-password-file",
                    "password.txt",
                ],
            ),
            case(
                "usage-key-check-duplicate-password",
                &[
                    "key",
                    "check",
                    "--encrypted",
                    "keys/dropbox.enc",
                    "-k",
                    CANARY,
                    "-k",
                    CANARY,
                ],
            ),
            case("usage-whoami-no-credential", &["whoami"]),
            case(
                "usage-whoami-two-credentials",
                &[
                    "whoami",
                    "--encrypted",
                    "keys/dropbox.enc",
                    "--config",
                    "conf/config.xml",
                ],
            ),
            case("usage-get-no-remote", &["get"]),
            case("usage-emulate-no-root", &["emulate"]),
            case(
                "usage-emulate-faults",
                &[
                    "emulate",
                    "--root",
                    "r",
                    "--error-rate",
                    "0.7",
                    "--cut-rate",
                    "0.7",
                ],
            ),
            case(
                "usage-emulate-ca-without-tls",
                &["emulate", "--root", "r", "--ca-cert-out", "ca.pem"],
            ),
            case(
                "usage-auth-empty-app-key",
                &["auth", "--app-key", "", "--encrypted", "new.enc"],
            ),
            case(
                "usage-post-bwlimit",
                &["post", "--config", "conf/config.xml", "--bwlimit", "fast"],
            ),
            case(
                "usage-post-exclude",
                &["post", "--config", "conf/config.xml", "--exclude", "!x"],
            ),
            case(
                "usage-post-root",
                &["post", "--config", "conf/config.xml", "--root", "office"],
            ),
            case("usage-whoami-root", &["whoami", "--root", "shared"]),
            case(
                "usage-emulate-unknown-scope",
                &[
                    "emulate",
                    "--root",
                    "r",
                    "--token",
                    "CANARY-secret-7f3a=files.content.wirte",
                ],
            ),
            case("usage-completions-unknown-shell", &["completions", "tcsh"]),
            case("usage-init-option", &["init", "--option", "zip"]),
        ],
    );
}

#[test]
fn config_errors() {
    let env = fixture();
    let post = |name, config| with_pw(name, config, DEMO_PASSWORD);
    snapshot_all(
        &env,
        Some("http://127.0.0.1:9"),
        &[
            post("config-missing", &["post", "--config", "conf/none.xml"]),
            post("config-not-xml", &["post", "--config", "conf/not-xml.xml"]),
            post(
                "config-unclosed",
                &["post", "--config", "conf/unclosed.xml"],
            ),
            post("config-no-post", &["post", "--config", "conf/no-post.xml"]),
            post(
                "config-password-param",
                &["post", "--config", "conf/password.xml"],
            ),
            post(
                "config-missing-path",
                &["post", "--config", "conf/missing-path.xml"],
            ),
            post(
                "config-missing-key",
                &["post", "--config", "conf/missing-key.xml"],
            ),
            post(
                "config-bad-option",
                &["post", "--config", "conf/bad-option.xml"],
            ),
            post(
                "config-bad-dest",
                &["post", "--config", "conf/bad-dest.xml"],
            ),
            post("config-no-dest", &["post", "--config", "conf/no-dest.xml"]),
            post(
                "config-argv-missing-params",
                &["post", "conf/config.xml", "--option=file"],
            ),
            post(
                "config-whoami-missing",
                &["whoami", "--config", "conf/none.xml"],
            ),
            post(
                "config-bidi-dest",
                &["post", "--config", "conf/bidi-dest.xml"],
            ),
            post(
                "config-backslash-dest",
                &["post", "--config", "conf/backslash-dest.xml"],
            ),
            post(
                "config-element-in-param",
                &["post", "--config", "conf/element-in-param.xml"],
            ),
            post("config-outside", &["post", "--config", "conf/outside.xml"]),
            post(
                "config-outside-share",
                &["post", "--config", "conf/outside-share.xml"],
            ),
            post(
                "config-bad-dropboxignore",
                &["post", "--config", "conf/bad-ignore.xml"],
            ),
            post(
                "config-dropboxignore-encoding",
                &["post", "--config", "conf/enc-ignore.xml"],
            ),
            post(
                "config-nested-dropboxignore",
                &["post", "--config", "conf/nested-ignore.xml"],
            ),
            #[cfg(unix)]
            post(
                "config-dangling-dropboxignore",
                &["post", "--config", "conf/dangling-ignore.xml"],
            ),
        ],
    );
}

#[test]
fn credential_errors() {
    let env = fixture();
    const CHECK: &[&str] = &["key", "check", "--encrypted", "keys/dropbox.enc"];
    snapshot_all(
        &env,
        None,
        &[
            case("credential-no-password", CHECK),
            with_pw("credential-empty-password", CHECK, ""),
            with_pw("credential-wrong-password", CHECK, WRONG),
            case(
                "credential-empty-password-file",
                &[
                    "key",
                    "check",
                    "--encrypted",
                    "keys/dropbox.enc",
                    "--password-file",
                    "empty-password.txt",
                ],
            ),
            case(
                "credential-missing-password-file",
                &[
                    "key",
                    "check",
                    "--encrypted",
                    "keys/dropbox.enc",
                    "--password-file",
                    "none.txt",
                ],
            ),
            // --password-file wins over a (stale) DROPBOX_POST_PASSWORD, and is named.
            with_pw(
                "credential-wrong-password-file",
                &[
                    "key",
                    "check",
                    "--encrypted",
                    "keys/dropbox.enc",
                    "--password-file",
                    "weak.txt",
                ],
                DEMO_PASSWORD,
            ),
            with_pw(
                "credential-missing-file",
                &["key", "check", "--encrypted", "keys/none.enc"],
                DEMO_PASSWORD,
            ),
            with_pw(
                "credential-empty-file",
                &["key", "check", "--encrypted", "keys/empty.enc"],
                DEMO_PASSWORD,
            ),
            with_pw(
                "credential-not-sealed",
                &["key", "check", "--encrypted", "two-lines.txt"],
                DEMO_PASSWORD,
            ),
            with_pw(
                "credential-changed-file",
                &["key", "check", "--encrypted", "keys/changed.enc"],
                DEMO_PASSWORD,
            ),
            with_pw(
                "credential-huge-kdf",
                &["key", "check", "--encrypted", "keys/huge-kdf.enc"],
                DEMO_PASSWORD,
            ),
            with_pw(
                "credential-unknown-version",
                &["key", "check", "--encrypted", "keys/v2.enc"],
                DEMO_PASSWORD,
            ),
            with_pw(
                "credential-legacy-wrong-password",
                &["key", "check", "--encrypted", "keys/legacy.enc"],
                WRONG,
            ),
            case(
                "credential-encrypt-no-password",
                &["encrypt", "--key", "token.txt", "--encrypted", "new.enc"],
            ),
            with_pw(
                "credential-encrypt-weak-password",
                &["encrypt", "--key", "token.txt", "--encrypted", "new.enc"],
                "dropbox123",
            ),
            with_pw(
                "credential-rekey-no-new-password",
                &["key", "rekey", "--encrypted", "keys/dropbox.enc"],
                DEMO_PASSWORD,
            ),
            with_pw(
                "credential-rekey-weak-new-password",
                &[
                    "key",
                    "rekey",
                    "--encrypted",
                    "keys/dropbox.enc",
                    "--new-password-file",
                    "weak.txt",
                ],
                DEMO_PASSWORD,
            ),
            with_pw(
                "credential-post-wrong-password",
                &["post", "--config", "conf/config.xml"],
                WRONG,
            ),
            with_pw(
                "credential-crlf",
                &["key", "check", "--encrypted", "keys/crlf.enc"],
                DEMO_PASSWORD,
            ),
            with_pw(
                "credential-too-big",
                &["key", "check", "--encrypted", "keys/too-big.enc"],
                DEMO_PASSWORD,
            ),
            with_pw(
                "credential-kdf-overflow",
                &["key", "check", "--encrypted", "keys/kdf-overflow.enc"],
                DEMO_PASSWORD,
            ),
            case(
                "credential-password-file-device",
                &[
                    "key",
                    "check",
                    "--encrypted",
                    "keys/dropbox.enc",
                    "--password-file",
                    "/dev/zero",
                ],
            ),
            with_pw(
                "credential-folder",
                &["key", "check", "--encrypted", "keys"],
                DEMO_PASSWORD,
            ),
        ],
    );
}

/// Errors from Dropbox (here the emulator, its URL redacted): refused credentials (5) and
/// failed transfers (6).
#[test]
fn dropbox_errors() {
    let env = fixture();
    env.seal(TOKEN, "keys/accepted.enc", DEMO_PASSWORD);
    let accepted = |args: &'static [&'static str], name| with_pw(name, args, DEMO_PASSWORD);
    let emulator = env.emulator();
    snapshot_all(
        &env,
        Some(&emulator.url),
        &[
            accepted(
                &["whoami", "--encrypted", "keys/dropbox.enc"],
                "dropbox-refused-token",
            ),
            accepted(
                &["post", "--config", "conf/config.xml"],
                "dropbox-post-refused-token",
            ),
            accepted(
                &["ls", "/nope", "--encrypted", "keys/accepted.enc"],
                "dropbox-ls-not-found",
            ),
            accepted(
                &["get", "/nope", "out", "--encrypted", "keys/accepted.enc"],
                "dropbox-get-not-found",
            ),
            // -v adds Dropbox's raw answer (route, status, tags) to the log.
            accepted(
                &["ls", "/nope", "-v", "--encrypted", "keys/accepted.enc"],
                "dropbox-ls-not-found-verbose",
            ),
        ],
    );
    snapshot_all(
        &env,
        Some(&emulator.url),
        &[accepted(
            &[
                "whoami",
                "--root",
                "team",
                "--encrypted",
                "keys/accepted.enc",
            ],
            "dropbox-team-of-a-personal-account",
        )],
    );
    snapshot_all(
        &env,
        Some("http://127.0.0.1:9"),
        &[accepted(
            &["whoami", "--encrypted", "keys/accepted.enc"],
            "dropbox-unreachable",
        )],
    );
    // A token without files.content.write: the App Console's most common first-run miss.
    let scoped = Emulator::start(&["--token", "reader=files.metadata.read account_info.read"]);
    env.seal("reader", "keys/reader.enc", DEMO_PASSWORD);
    let config = std::fs::read_to_string(env.path("conf/config.xml")).unwrap();
    env.write(
        "conf/reader.xml",
        config.replace("keys/dropbox.enc", "keys/reader.enc"),
    );
    snapshot_all(
        &env,
        Some(&scoped.url),
        &[accepted(
            &["post", "--config", "conf/reader.xml"],
            "dropbox-missing-scope",
        )],
    );
}

/// Commits found wrong (the emulator's `--corrupt-commit`) and rolled back: a new file
/// removed, a replaced one restored (exit 6).
#[test]
fn rolled_back_commits() {
    let env = fixture();
    env.seal(TOKEN, "keys/accepted.enc", DEMO_PASSWORD);
    let config = std::fs::read_to_string(env.path("conf/config.xml")).unwrap();
    let config = config.replace("keys/dropbox.enc", "keys/accepted.enc");
    env.write("conf/accepted.xml", config);
    let emulator = Emulator::start(&["--corrupt-commit", "1", "--corrupt-commit", "3"]);
    let post = |name| {
        let case = with_pw(
            name,
            &["post", "--config", "conf/accepted.xml"],
            DEMO_PASSWORD,
        );
        snapshot_all(&env, Some(&emulator.url), &[case]);
    };
    post("dropbox-commit-rolled-back-new-file");
    env.cmd()
        .args([
            "post",
            "--config",
            "conf/accepted.xml",
            "--endpoint",
            &emulator.url,
        ])
        .password(DEMO_PASSWORD)
        .assert()
        .success();
    env.write("post/r.csv", "1,2,3\n");
    post("dropbox-commit-rolled-back");
}

/// `init` refusing studies it cannot set up; each leaves the study as it was (`init.rs`).
#[test]
fn init_errors() {
    let env = TestEnv::new();
    env.write("good/conf/config.xml", "<librec-auto/>\n");
    std::fs::create_dir(env.path("no-conf")).unwrap();
    env.write(
        "malformed/conf/config.xml",
        "<librec-auto>\n  <post>\n</librec-auto>\n",
    );
    env.write(
        "not-utf-8/conf/config.xml",
        b"<librec-auto>\xff</librec-auto>",
    );
    env.write("linked/conf/config.xml", "<librec-auto/>\n");
    env.write("ro/conf/config.xml", "<librec-auto/>\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::os::unix::fs::symlink("/home/me/.bashrc", env.path("linked/.gitignore")).unwrap();
        let ro = std::fs::Permissions::from_mode(0o444);
        std::fs::set_permissions(env.path("ro/conf/config.xml"), ro).unwrap();
    }
    snapshot_all(
        &env,
        None,
        &[
            case("init-no-conf", &["init", "no-conf"]),
            case("init-missing-study", &["init", "no-such-study"]),
            case("init-malformed-config", &["init", "malformed"]),
            case("init-not-utf-8", &["init", "not-utf-8"]),
            case("init-bad-dest", &["init", "good", "--dest", "results"]),
            #[cfg(unix)]
            case("init-symlink", &["init", "linked", "--dest", "/x"]),
            #[cfg(unix)]
            case("init-read-only-config", &["init", "ro", "--dest", "/x"]),
        ],
    );
}

/// The mirror's safety nets (`mirror.rs`): each refusal deletes nothing and exits 6.
/// The face of success: what a researcher reads when things go well (issue 22).
#[test]
fn success_face() {
    let env = TestEnv::new();
    env.seal(TOKEN, "keys/k.enc", DEMO_PASSWORD);
    env.write("results/run-1/metrics.csv", "precision,recall\n0.41,0.37\n");
    env.write("results/run-1/log.txt", "done\n");
    env.write("results/summary.csv", "run,precision\n1,0.41\n");
    env.write(
        "conf/config.xml",
        "<librec-auto><post><script lang=\"python3\" src=\"system\">\n  \
         <script-name>dropbox_post.py</script-name>\n  \
         <param name=\"option\">folder</param>\n  \
         <param name=\"encrypted_key\">keys/k.enc</param>\n  \
         <param name=\"path\">results</param>\n  <param name=\"dest\">/study</param>\n  \
         <param name=\"exclude\">*.txt</param>\n</script></post></librec-auto>\n",
    );
    let emulator = env.emulator();
    let pw = DEMO_PASSWORD;
    snapshot_all(
        &env,
        Some(&emulator.url),
        &[
            with_pw(
                "ok-post-dry-run",
                &["post", "--config", "conf/config.xml", "--dry-run"],
                pw,
            ),
            with_pw("ok-post", &["post", "--config", "conf/config.xml"], pw),
            with_pw(
                "ok-post-again",
                &["post", "--config", "conf/config.xml"],
                pw,
            ),
            with_pw("ok-whoami", &["whoami", "--encrypted", "keys/k.enc"], pw),
            with_pw(
                "ok-ls",
                &["ls", "/study", "-r", "--encrypted", "keys/k.enc"],
                pw,
            ),
        ],
    );
}

#[test]
fn mirror_refusals() {
    let env = TestEnv::new();
    env.seal(TOKEN, "keys/k.enc", DEMO_PASSWORD);
    env.write("data/r.csv", "1,2\n");
    std::fs::create_dir(env.path("empty")).unwrap();
    let config = |name: &str, path: &str, dest: &str| {
        env.write(
            &format!("conf/{name}.xml"),
            format!(
                "<librec-auto><post><script lang=\"python3\" src=\"system\">\n  \
                 <script-name>dropbox_post.py</script-name>\n  \
                 <param name=\"option\">folder</param>\n  \
                 <param name=\"encrypted_key\">keys/k.enc</param>\n  \
                 <param name=\"path\">{path}</param>\n  <param name=\"dest\">{dest}</param>\n  \
                 <param name=\"delete\">true</param>\n</script></post></librec-auto>\n"
            ),
        );
    };
    config("root", "data", "/");
    config("empty", "empty", "/r");
    config("data", "data", "/r");
    let emulator = env.emulator();
    crate::harness::block_on(emulator.upload("/r/old.csv", b"old"));
    let pw = DEMO_PASSWORD;
    snapshot_all(
        &env,
        Some(&emulator.url),
        &[
            with_pw("mirror-root", &["post", "--config", "conf/root.xml"], pw),
            with_pw("mirror-empty", &["post", "--config", "conf/empty.xml"], pw),
            with_pw(
                "mirror-max-delete",
                &["post", "--config", "conf/data.xml", "--max-delete", "0"],
                pw,
            ),
            case(
                "usage-post-max-delete",
                &["post", "--config", "conf/data.xml", "--max-delete", "many"],
            ),
            // librec-auto passes a config's params as flags: one may not raise the limit.
            case(
                "usage-post-librec-max-delete",
                &[
                    "post",
                    "--option=folder",
                    "--encrypted_key=keys/k.enc",
                    "--path=data",
                    "--dest=/r",
                    "--delete=true",
                    "--max-delete=off",
                ],
            ),
            // Nor send the credential elsewhere, nor move the study boundary.
            case(
                "usage-post-librec-endpoint",
                &[
                    "post",
                    "conf/data.xml",
                    "--option=folder",
                    "--encrypted_key=keys/k.enc",
                    "--path=data",
                    "--dest=/r",
                    "--endpoint=http://127.0.0.1:9",
                ],
            ),
            case(
                "usage-post-librec-target",
                &[
                    "post",
                    "conf/data.xml",
                    "--option=file",
                    "--encrypted_key=keys/k.enc",
                    "--path=etc/passwd",
                    "--dest=/r",
                    "--target=/",
                    "--share=true",
                ],
            ),
        ],
    );
}
