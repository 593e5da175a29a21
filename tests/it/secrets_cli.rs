//! Every subcommand of the sealed-credential family, with every password source, succeeding and
//! failing: the password, the new password and the token never appear in stdout or stderr.

use std::path::Path;

use assert_cmd::Command;

use crate::harness::{CmdExt, TestEnv};

const TOKEN: &str = "sl.CANARY-token-7f3a9c";
const PASSWORD: &str = "CANARY pass marmalade oxbow";
const NEW_PASSWORD: &str = "CANARY new quietus plinth";
const WEAK: &str = "Canary1";
const SECRETS: [&str; 4] = [TOKEN, PASSWORD, NEW_PASSWORD, WEAK];

/// How a command gets its password.
#[derive(Clone, Copy, Debug)]
enum Via {
    Flag,
    Env,
    File,
}

fn with_password(env: &TestEnv, cmd: &mut Command, via: Via, password: &str) {
    match via {
        Via::Flag => {
            cmd.args(["-k", password]);
        }
        Via::Env => {
            cmd.password(password);
        }
        Via::File => {
            let file = env.write("password.txt", format!("{password}\n"));
            cmd.arg("--password-file").arg(file);
        }
    }
}

/// Runs `cmd`, checks its exit code and that no secret leaked, even via `-vv` logs.
fn run(mut cmd: Command, want_code: i32, what: &str) {
    let output = cmd.arg("-vv").output().unwrap();
    assert_eq!(output.status.code(), Some(want_code), "{what}: {output:?}");
    for stream in [&output.stdout, &output.stderr] {
        let text = String::from_utf8_lossy(stream);
        for secret in SECRETS {
            assert!(!text.contains(secret), "{what} printed a secret: {text}");
        }
        assert!(
            !text.contains("CANARY"),
            "{what} printed part of a secret: {text}"
        );
    }
}

fn key(env: &TestEnv, sub: &str, sealed: &Path) -> Command {
    let mut cmd = env.cmd();
    cmd.args(["key", sub, "--encrypted"]).arg(sealed);
    cmd
}

#[test]
fn no_subcommand_prints_a_secret() {
    let f = TestEnv::new();
    let key_file = f.write("token.txt", format!("{TOKEN}\n"));
    for via in [Via::Flag, Via::Env, Via::File] {
        let sealed = f.path(&format!("{via:?}.enc"));
        let mut cmd = f.encrypt(&key_file, &sealed);
        with_password(&f, &mut cmd, via, PASSWORD);
        run(cmd, 0, &format!("encrypt via {via:?}"));

        let mut cmd = f.encrypt(&key_file, &sealed);
        with_password(&f, &mut cmd, via, PASSWORD);
        run(
            cmd,
            2,
            &format!("encrypt over an existing file via {via:?}"),
        );

        let mut cmd = f.encrypt(&key_file, &f.path("weak.enc"));
        with_password(&f, &mut cmd, via, WEAK);
        run(cmd, 4, &format!("encrypt with a weak password via {via:?}"));

        let mut cmd = key(&f, "check", &sealed);
        with_password(&f, &mut cmd, via, PASSWORD);
        run(cmd, 0, &format!("key check via {via:?}"));

        let mut cmd = key(&f, "check", &sealed);
        with_password(&f, &mut cmd, via, NEW_PASSWORD);
        run(
            cmd,
            4,
            &format!("key check with a wrong password via {via:?}"),
        );

        let mut cmd = key(&f, "rekey", &sealed);
        with_password(&f, &mut cmd, via, PASSWORD);
        cmd.env("DROPBOX_POST_NEW_PASSWORD", NEW_PASSWORD);
        run(cmd, 0, &format!("key rekey via {via:?}"));

        let mut cmd = key(&f, "rekey", &sealed);
        with_password(&f, &mut cmd, via, PASSWORD);
        cmd.arg("--keep-password");
        run(
            cmd,
            4,
            &format!("key rekey with the old password via {via:?}"),
        );

        let mut cmd = key(&f, "rekey", &sealed);
        with_password(&f, &mut cmd, via, NEW_PASSWORD);
        cmd.arg("--new-password-file")
            .arg(f.write("weak.txt", WEAK));
        run(cmd, 4, &format!("key rekey to a weak password via {via:?}"));
    }

    // Cleartext files that are not credentials: the error must not quote them.
    for (name, contents) in [
        ("spaces.txt", format!("{TOKEN} {PASSWORD}")),
        ("lines.txt", format!("{TOKEN}\n{TOKEN}\n")),
        (
            "json.txt",
            format!(r#"{{"type":"access_token","access_token":"{TOKEN}","x":"{PASSWORD}"}}"#),
        ),
        (
            "number.txt",
            format!(r#"{{"type":"refresh_token","app_key":1,"refresh_token":"{TOKEN}"}}"#),
        ),
    ] {
        let mut cmd = f.encrypt(&f.write(name, &contents), &f.path("bad.enc"));
        cmd.args(["-k", PASSWORD]);
        run(cmd, 2, &format!("encrypt of {name}"));
    }

    // A secret given twice is a clap error, which must not echo it either.
    let mut cmd = key(&f, "check", &f.path("Flag.enc"));
    cmd.args(["-k", PASSWORD, "-k", PASSWORD]);
    run(cmd, 2, "duplicate -k");
}
