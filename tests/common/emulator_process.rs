//! Starting a real `dropbox-post emulate` process, shared by the test harnesses.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts `dropbox-post emulate --root ROOT --listen 127.0.0.1:0 --token TOKEN EXTRA…` and
/// returns the child with the base URL it printed as its first line.
pub fn spawn(root: &Path, token: &str, extra: &[&str]) -> (Child, String) {
    spawn_logging(root, token, extra, Stdio::null())
}

/// [`spawn`], with the emulator's log (stderr) going to `log`.
pub fn spawn_logging(root: &Path, token: &str, extra: &[&str], log: Stdio) -> (Child, String) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin!("dropbox-post"))
        .args([
            "emulate",
            "--listen",
            "127.0.0.1:0",
            "--token",
            token,
            "--root",
        ])
        .arg(root)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start the emulator");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the base URL");
    let url = line.trim().to_string();
    assert!(url.starts_with("http"), "first line is the URL: {url:?}");
    (child, url)
}
