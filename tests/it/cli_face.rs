//! The CLI's face as snapshots (tests/it/snapshots/): every `--help`, and every usage,
//! config, credential and Dropbox error with its exit code. A change to a message shows up
//! as a diff of these files; update them with `INSTA_UPDATE=always cargo test --test it
//! cli_face` and review `git diff tests/it/snapshots` (tests/README.md).
//!
//! Each case is a test of its own, named as its snapshot (`usage_post_mode` is
//! `usage-post-mode.snap`), run in a fresh study fixture (relative paths, so messages name
//! them as a user would type them): one changed message fails its own test, not a table.
//! The env's temp dir and the emulator's URL are redacted, and no case may print a secret.

use std::time::Duration;

use crate::harness::{
    CmdExt, Emulator, PASSWORD_VAR, TOKEN, TestEnv, assert_no_secret, repo, stderr, stdout,
    subcommands,
};

/// keys.example/dropbox.enc's password and token (public demo values).
const DEMO_PASSWORD: &str = "correct horse battery staple";
const DEMO_TOKEN: &str = "sl.EXAMPLE-demo-token-for-the-emulator";
const WRONG: &str = "wrong horse battery staple";
/// The demo password, as most cases give it.
const PW: &str = DEMO_PASSWORD;
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

/// Closed: a command that sends anything there fails to connect.
const CLOSED: &str = "http://127.0.0.1:9";

/// Where a table's cases run: its study, and the endpoint they reach (`None`: none given).
struct Face {
    env: TestEnv,
    endpoint: Option<String>,
    /// An emulator of its own, beside the env's.
    _emulator: Option<Emulator>,
}

impl Face {
    fn new(env: TestEnv, endpoint: Option<&str>) -> Face {
        let endpoint = endpoint.map(str::to_string);
        Face {
            env,
            endpoint,
            _emulator: None,
        }
    }
}

/// The fixture, given no endpoint.
fn offline() -> Face {
    Face::new(fixture(), None)
}

/// The fixture, aimed at a closed port.
fn unreachable() -> Face {
    Face::new(fixture(), Some(CLOSED))
}

/// The fixture with `keys/accepted.enc`, which seals the emulator's token.
fn accepting() -> TestEnv {
    let env = fixture();
    env.seal(TOKEN, "keys/accepted.enc", DEMO_PASSWORD);
    env
}

/// [`accepting`] on the env's emulator.
fn at_emulator() -> Face {
    let env = accepting();
    let url = env.emulator().url.clone();
    Face::new(env, Some(&url))
}

/// One `#[test]` per case (`NAME: [ARGS…] with PASSWORD;`, the password optional), each in
/// a fresh `$setup()` and snapshotted as NAME with `-` for `_`. `list NAMES, …` also
/// defines `const NAMES`, the cases' names.
macro_rules! faces {
    (@pw) => {
        Pw::None
    };
    (@pw $pw:expr) => {
        Pw::Env($pw)
    };
    (list $names:ident, $setup:expr;
     $($(#[$meta:meta])* $name:ident: [$($arg:expr),* $(,)?] $(with $pw:expr)?;)+) => {
        const $names: &[&str] = &[$(stringify!($name)),+];
        faces!($setup; $($(#[$meta])* $name: [$($arg),*] $(with $pw)?;)+);
    };
    ($setup:expr;
     $($(#[$meta:meta])* $name:ident: [$($arg:expr),* $(,)?] $(with $pw:expr)?;)+) => {
        $(
            $(#[$meta])*
            #[test]
            fn $name() {
                let face = ($setup)();
                let case = Case {
                    name: stringify!($name),
                    args: &[$($arg),*],
                    password: faces!(@pw $($pw)?),
                };
                snapshot(&face.env, face.endpoint.as_deref(), &case);
            }
        )+
    };
}

/// Runs `case` in `env` and snapshots it as `NAME.snap` (`_` in its name as `-`).
fn snapshot(env: &TestEnv, endpoint: Option<&str>, case: &Case) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        insta::assert_snapshot!(case.name.replace('_', "-"), run(env, endpoint, case));
    });
}

/// [`snapshot`] of each case in turn, for a story whose cases build on each other.
fn snapshot_all(env: &TestEnv, endpoint: Option<&str>, cases: &[Case]) {
    for case in cases {
        snapshot(env, endpoint, case);
    }
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
mod help {
    use super::*;

    #[test]
    fn every_subcommand_has_its_page() {
        for path in subcommands() {
            let name = format!("help_{}", path.join("_")).replace('-', "_");
            assert!(HELP.contains(&name.as_str()), "no {name} case");
        }
    }

    faces! { list HELP, || Face::new(TestEnv::new(), None);
        help: ["--help"];
        help_encrypt: ["encrypt", "--help"];
        help_key: ["key", "--help"];
        help_key_check: ["key", "check", "--help"];
        help_key_rekey: ["key", "rekey", "--help"];
        help_post: ["post", "--help"];
        help_emulate: ["emulate", "--help"];
        help_demo: ["demo", "--help"];
        help_auth: ["auth", "--help"];
        help_whoami: ["whoami", "--help"];
        help_ls: ["ls", "--help"];
        help_get: ["get", "--help"];
        help_init: ["init", "--help"];
        help_librec_auto_dir: ["librec-auto-dir", "--help"];
        help_completions: ["completions", "--help"];
        help_man: ["man", "--help"];
    }
}

/// Usage errors (exit 2).
mod usage {
    use super::*;

    faces! { offline;
        usage_no_subcommand: [];
        usage_unknown_subcommand: ["frobnicate"];
        usage_unknown_flag: ["post", "--bogus"];
        usage_post_no_config: ["post"];
        usage_post_two_configs: ["post", "--config", "a.xml", "b.xml"];
        usage_post_chunk_size: ["post", "--config", "conf/config.xml", "--chunk-size", "6"];
        usage_post_jobs_zero: ["post", "--config", "conf/config.xml", "--jobs", "0"];
        usage_post_mode: ["post", "--config", "conf/config.xml", "--mode", "sideways"];
        usage_post_path_without_option: ["post", "conf/config.xml", "--path=post/r.csv"];
        usage_encrypt_no_output: ["encrypt", "--key", "token.txt"];
        usage_encrypt_missing_cleartext: [
            "encrypt", "--key", "none.txt", "--encrypted", "new.enc",
        ] with PW;
        usage_encrypt_two_line_cleartext: [
            "encrypt", "--key", "two-lines.txt", "--encrypted", "new.enc",
        ] with PW;
        usage_encrypt_existing_output: [
            "encrypt", "--key", "token.txt", "--encrypted", "keys/dropbox.enc",
        ] with PW;
        usage_encrypt_kdf_memory: [
            "encrypt", "--key", "token.txt", "--encrypted", "new.enc", "--kdf-memory-kib",
            "2097152",
        ] with PW;
        usage_encrypt_weak_kdf: [
            "encrypt", "--key", "token.txt", "--encrypted", "new.enc", "--kdf-memory-kib", "8",
            "--kdf-passes", "1",
        ] with PW;
        usage_key_no_subcommand: ["key"];
        usage_key_check_no_file: ["key", "check"];
        usage_key_rekey_conflict: [
            "key", "rekey", "--encrypted", "keys/dropbox.enc", "--keep-password",
            "--new-password-file", "password.txt",
        ];
        usage_key_check_duplicate_password: [
            "key", "check", "--encrypted", "keys/dropbox.enc", "-k", CANARY, "-k", CANARY,
        ];
        usage_whoami_no_credential: ["whoami"];
        usage_whoami_two_credentials: [
            "whoami", "--encrypted", "keys/dropbox.enc", "--config", "conf/config.xml",
        ];
        usage_get_no_remote: ["get"];
        usage_emulate_no_root: ["emulate"];
        usage_emulate_faults: [
            "emulate", "--root", "r", "--error-rate", "0.7", "--cut-rate", "0.7",
        ];
        usage_emulate_ca_without_tls: ["emulate", "--root", "r", "--ca-cert-out", "ca.pem"];
        usage_auth_empty_app_key: ["auth", "--app-key", "", "--encrypted", "new.enc"];
        usage_post_bwlimit: ["post", "--config", "conf/config.xml", "--bwlimit", "fast"];
        usage_post_exclude: ["post", "--config", "conf/config.xml", "--exclude", "!x"];
        usage_post_root: ["post", "--config", "conf/config.xml", "--root", "office"];
        usage_whoami_root: ["whoami", "--root", "shared"];
        usage_emulate_unknown_scope: [
            "emulate", "--root", "r", "--token", "CANARY-secret-7f3a=files.content.wirte",
        ];
        usage_completions_unknown_shell: ["completions", "tcsh"];
        usage_init_option: ["init", "--option", "zip"];
    }
}

/// Config errors (exit 3).
mod config {
    use super::*;

    faces! { unreachable;
        config_missing: ["post", "--config", "conf/none.xml"] with PW;
        config_not_xml: ["post", "--config", "conf/not-xml.xml"] with PW;
        config_unclosed: ["post", "--config", "conf/unclosed.xml"] with PW;
        config_no_post: ["post", "--config", "conf/no-post.xml"] with PW;
        config_password_param: ["post", "--config", "conf/password.xml"] with PW;
        config_missing_path: ["post", "--config", "conf/missing-path.xml"] with PW;
        config_missing_key: ["post", "--config", "conf/missing-key.xml"] with PW;
        config_bad_option: ["post", "--config", "conf/bad-option.xml"] with PW;
        config_bad_dest: ["post", "--config", "conf/bad-dest.xml"] with PW;
        config_no_dest: ["post", "--config", "conf/no-dest.xml"] with PW;
        config_argv_missing_params: ["post", "conf/config.xml", "--option=file"] with PW;
        config_whoami_missing: ["whoami", "--config", "conf/none.xml"] with PW;
        config_bidi_dest: ["post", "--config", "conf/bidi-dest.xml"] with PW;
        config_backslash_dest: ["post", "--config", "conf/backslash-dest.xml"] with PW;
        config_element_in_param: ["post", "--config", "conf/element-in-param.xml"] with PW;
        config_outside: ["post", "--config", "conf/outside.xml"] with PW;
        config_outside_share: ["post", "--config", "conf/outside-share.xml"] with PW;
        config_bad_dropboxignore: ["post", "--config", "conf/bad-ignore.xml"] with PW;
        config_dropboxignore_encoding: ["post", "--config", "conf/enc-ignore.xml"] with PW;
        config_nested_dropboxignore: ["post", "--config", "conf/nested-ignore.xml"] with PW;
        #[cfg(unix)]
        config_dangling_dropboxignore: ["post", "--config", "conf/dangling-ignore.xml"] with PW;
    }
}

/// Credential errors (exit 4).
mod credential {
    use super::*;

    faces! { offline;
        credential_no_password: ["key", "check", "--encrypted", "keys/dropbox.enc"];
        credential_empty_password: ["key", "check", "--encrypted", "keys/dropbox.enc"] with "";
        credential_wrong_password: ["key", "check", "--encrypted", "keys/dropbox.enc"] with WRONG;
        credential_empty_password_file: [
            "key", "check", "--encrypted", "keys/dropbox.enc", "--password-file",
            "empty-password.txt",
        ];
        credential_missing_password_file: [
            "key", "check", "--encrypted", "keys/dropbox.enc", "--password-file", "none.txt",
        ];
        // --password-file wins over a (stale) DROPBOX_POST_PASSWORD, and is named.
        credential_wrong_password_file: [
            "key", "check", "--encrypted", "keys/dropbox.enc", "--password-file", "weak.txt",
        ] with PW;
        credential_missing_file: ["key", "check", "--encrypted", "keys/none.enc"] with PW;
        credential_empty_file: ["key", "check", "--encrypted", "keys/empty.enc"] with PW;
        credential_not_sealed: ["key", "check", "--encrypted", "two-lines.txt"] with PW;
        credential_changed_file: ["key", "check", "--encrypted", "keys/changed.enc"] with PW;
        credential_huge_kdf: ["key", "check", "--encrypted", "keys/huge-kdf.enc"] with PW;
        credential_unknown_version: ["key", "check", "--encrypted", "keys/v2.enc"] with PW;
        credential_legacy_wrong_password: [
            "key", "check", "--encrypted", "keys/legacy.enc",
        ] with WRONG;
        credential_encrypt_no_password: ["encrypt", "--key", "token.txt", "--encrypted", "new.enc"];
        credential_encrypt_weak_password: [
            "encrypt", "--key", "token.txt", "--encrypted", "new.enc",
        ] with "dropbox123";
        credential_rekey_no_new_password: [
            "key", "rekey", "--encrypted", "keys/dropbox.enc",
        ] with PW;
        credential_rekey_weak_new_password: [
            "key", "rekey", "--encrypted", "keys/dropbox.enc", "--new-password-file", "weak.txt",
        ] with PW;
        credential_post_wrong_password: ["post", "--config", "conf/config.xml"] with WRONG;
        credential_crlf: ["key", "check", "--encrypted", "keys/crlf.enc"] with PW;
        credential_too_big: ["key", "check", "--encrypted", "keys/too-big.enc"] with PW;
        credential_kdf_overflow: ["key", "check", "--encrypted", "keys/kdf-overflow.enc"] with PW;
        credential_password_file_device: [
            "key", "check", "--encrypted", "keys/dropbox.enc", "--password-file", "/dev/zero",
        ];
        credential_folder: ["key", "check", "--encrypted", "keys"] with PW;
    }
}

/// Errors from Dropbox (here the emulator, its URL redacted): refused credentials (5) and
/// failed transfers (6).
mod dropbox {
    use super::*;

    /// [`accepting`], aimed at a closed port.
    fn accepted_unreachable() -> Face {
        Face::new(accepting(), Some(CLOSED))
    }

    /// A token without files.content.write: the App Console's most common first-run miss.
    fn scoped() -> Face {
        let scoped = Emulator::start(&["--token", "reader=files.metadata.read account_info.read"]);
        let env = fixture();
        env.seal("reader", "keys/reader.enc", DEMO_PASSWORD);
        let config = std::fs::read_to_string(env.path("conf/config.xml")).unwrap();
        env.write(
            "conf/reader.xml",
            config.replace("keys/dropbox.enc", "keys/reader.enc"),
        );
        let mut face = Face::new(env, Some(&scoped.url));
        face._emulator = Some(scoped);
        face
    }

    faces! { accepted_unreachable;
        dropbox_unreachable: ["whoami", "--encrypted", "keys/accepted.enc"] with PW;
    }

    faces! { scoped;
        dropbox_missing_scope: ["post", "--config", "conf/reader.xml"] with PW;
    }

    faces! { at_emulator;
        dropbox_refused_token: ["whoami", "--encrypted", "keys/dropbox.enc"] with PW;
        dropbox_post_refused_token: ["post", "--config", "conf/config.xml"] with PW;
        dropbox_ls_not_found: ["ls", "/nope", "--encrypted", "keys/accepted.enc"] with PW;
        dropbox_get_not_found: ["get", "/nope", "out", "--encrypted", "keys/accepted.enc"] with PW;
        // -v adds Dropbox's raw answer (route, status, tags) to the log.
        dropbox_ls_not_found_verbose: [
            "ls", "/nope", "-v", "--encrypted", "keys/accepted.enc",
        ] with PW;
        dropbox_team_of_a_personal_account: [
            "whoami", "--root", "team", "--encrypted", "keys/accepted.enc",
        ] with PW;
    }
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
mod init {
    use super::*;
    /// Studies `init` cannot set up.
    fn studies() -> Face {
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
        Face::new(env, None)
    }

    faces! { studies;
        init_no_conf: ["init", "no-conf"];
        init_missing_study: ["init", "no-such-study"];
        init_malformed_config: ["init", "malformed"];
        init_not_utf_8: ["init", "not-utf-8"];
        init_bad_dest: ["init", "good", "--dest", "results"];
        #[cfg(unix)]
        init_symlink: ["init", "linked", "--dest", "/x"];
        #[cfg(unix)]
        init_read_only_config: ["init", "ro", "--dest", "/x"];
    }
}

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

/// The mirror's safety nets (`mirror.rs`): each refusal deletes nothing and exits 6.
mod mirror {
    use super::*;
    /// Studies whose configs mirror: `/`, an empty folder, a folder over `/r` (which
    /// holds a file).
    fn study() -> Face {
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
        let url = emulator.url.clone();
        Face::new(env, Some(&url))
    }

    faces! { study;
        mirror_root: ["post", "--config", "conf/root.xml"] with PW;
        mirror_empty: ["post", "--config", "conf/empty.xml"] with PW;
        mirror_max_delete: ["post", "--config", "conf/data.xml", "--max-delete", "0"] with PW;
        usage_post_max_delete: ["post", "--config", "conf/data.xml", "--max-delete", "many"];
        // librec-auto passes a config's params as flags: one may not raise the limit.
        usage_post_librec_max_delete: [
            "post", "--option=folder", "--encrypted_key=keys/k.enc", "--path=data", "--dest=/r",
            "--delete=true", "--max-delete=off",
        ];
        // Nor send the credential elsewhere, nor move the study boundary.
        usage_post_librec_endpoint: [
            "post", "conf/data.xml", "--option=folder", "--encrypted_key=keys/k.enc", "--path=data",
            "--dest=/r", "--endpoint=http://127.0.0.1:9",
        ];
        usage_post_librec_target: [
            "post", "conf/data.xml", "--option=file", "--encrypted_key=keys/k.enc",
            "--path=etc/passwd", "--dest=/r", "--target=/", "--share=true",
        ];
    }
}
