//! Shared by the sealed-credential CLI tests: the binary, isolated from the caller's environment.

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;

/// The binary with no password in its environment, no stdin and a guard against hangs.
pub fn dropbox_post() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dropbox-post"));
    cmd.env_remove("DROPBOX_POST_PASSWORD")
        .env_remove("DROPBOX_POST_NEW_PASSWORD")
        .env_remove("RUST_LOG")
        .timeout(Duration::from_secs(60));
    cmd
}

/// `encrypt --key KEY --encrypted OUT`, without a password yet.
pub fn encrypt_cmd(key: &Path, out: &Path) -> Command {
    let mut cmd = dropbox_post();
    cmd.args(["encrypt", "--key"])
        .arg(key)
        .arg("--encrypted")
        .arg(out);
    cmd
}
