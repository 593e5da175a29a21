//! The one test harness: every integration test runs the real binary through it.
//!
//! # API (what a ported test uses)
//!
//! - [`TestEnv::new()`]: a temp world for one test. Every command it builds gets a fresh
//!   `HOME`, `XDG_{CONFIG,CACHE,DATA,STATE}_HOME`, `XDG_RUNTIME_DIR`, `TMPDIR` and
//!   `DROPBOX_POST_CACHE_DIR` inside it, and none of the caller's `DROPBOX_POST_*`, `RUST_LOG`,
//!   `COLUMNS` or `CLICOLOR_FORCE`; stdin is empty. Dropped at the end of the test, with all
//!   it holds.
//!   - `env.cmd()`: the binary as an [`assert_cmd::Command`] (cwd: `env.dir()`, 300 s guard);
//!     `env.command()` is the same as a [`std::process::Command`] for `spawn`/piped stdin.
//!   - `env.program(path)`: any other program (a copy of the binary, `groff`) the same way;
//!     `env.shim("dropbox_post.py")` is `python3 bin/SCRIPT` running the binary under test.
//!   - `env.emulator()`: `dropbox-post emulate` on 127.0.0.1, random port, started on first
//!     use and killed with the env. `TestEnv::with_emulator(&["--app", "k"])` sets its flags.
//!   - `env.path(rel)`, `env.write(rel, bytes)`: scratch files under `env.dir()`; `env.cache()`
//!     is the commands' `DROPBOX_POST_CACHE_DIR` (hash cache, upload journal).
//!   - `env.seal(cleartext, out, password)`: `encrypt` a credential into `env.path(out)`;
//!     `env.encrypt(key, out)` is that command before its password.
//!   - `env.study()` / `env.study_sealing(credential)`: a librec-auto [`Study`].
//! - [`CmdExt`] on both command types: `.password(pw)` (by `DROPBOX_POST_PASSWORD`, the way CI
//!   gives it), `.endpoint(&emulator)` (`--endpoint URL`).
//! - [`Study`] (`study.rs`): `write`, `path`, `config(&[(option, path, dest)])`,
//!   `config_with((option, path, dest), &[(param, value)])` (extra `<param>`s from line 10),
//!   `config_scripts(&[(script, &params)])` (several scripts, each with its params),
//!   `post(&[extra])` (password and endpoint set, cwd the study), `post_json`, `remote(&[..])`
//!   for `whoami`/`ls`/`get` with the study's key, `cmd()` for anything else; `post_at(url, ..)`
//!   and `remote_at(url, ..)` aim at another server; `command()`/`post_command(url, ..)` are
//!   the [`std::process::Command`] forms (to spawn and kill, or run as another user); `env()`.
//! - [`Emulator`] (`emulator.rs`): `Emulator::start(&flags)` for tests that stop, restart or
//!   talk HTTP to it: `url`, `root()`, `file("/dropbox/path")`, `stop` (SIGTERM, must exit
//!   cleanly), `kill` (SIGKILL, a crash), `start_again`, `restart`, `release` (SIGUSR1: what
//!   `--hold ROUTE:N` holds goes on), and async `advance_clock(secs)` (started with
//!   `--test-clock`: sessions and tokens expire without waiting), `rpc`, `rpc_as`
//!   (another token, extra headers), `upload`, `upload_to`, `raw`, `raw_with`, `download`,
//!   `list_all`, `grant` (an app's authorization-code flow: the token answer). Sync tests wrap
//!   them in [`block_on`]. Its stderr goes to a log kept across restarts: `log()`; started
//!   with `-v` it logs every request, and `bytes_in("/2/files/upload_session/append")` sums
//!   the body bytes it received on routes with that prefix (what a client really sent).
//!   [`HOME_NS`] and [`ROOT_NS`] are its account's namespace ids.
//! - [`HostileServer`] (`hostile_server.rs`): `HostileServer::start(router)` serves an axum
//!   router the test writes (a "Dropbox" that lies, echoes or never ends) on 127.0.0.1 from
//!   its own runtime, so sync tests can run the binary against `server.url`; with
//!   [`file_metadata`] and [`authorization`] to build its answers. `HostileServer::proxy(url,
//!   hook)` forwards every request to an emulator once `hook` has [`Seen`] it (route, argument,
//!   body): to record what a client sent, or to write as a second client at that moment.
//! - Checks: [`assert_success`], [`json_of`], [`stdout`], [`stderr`], [`assert_no_secret`],
//!   [`files`] / [`tree`] / [`assert_same_files`] (trees compared byte for byte), [`snapshot`]
//!   (a folder's entries and bytes, to show a command left it untouched), [`pattern`] (bytes),
//!   [`output_within`] (a command that must end within a limit: a hang fails the test),
//!   [`guarded`] (a [`std::process::Command`] with the 300 s guard), [`subcommands`] (every
//!   subcommand path, from the clap definitions).
//! - Constants: [`TOKEN`] (the emulator accepts it, studies seal it), [`PASSWORD`].
//!
//! A typical test:
//!
//! ```ignore
//! let env = TestEnv::new();
//! let study = env.study();
//! study.write("post/r.csv", b"1,2\n");
//! study.config(&[("file", "post/r.csv", "/results")]);
//! study.post(&[]).assert().success();
//! assert_eq!(std::fs::read(env.emulator().file("/results/r.csv")).unwrap(), b"1,2\n");
//! ```

mod contents;
mod emulator;
mod hostile_server;
mod study;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use tempfile::TempDir;

pub use contents::snapshot;
pub use emulator::{Emulator, HOME_NS, ROOT_NS, body, hash};
pub use hostile_server::{Hook, HostileServer, Seen, authorization, file_metadata};
pub use study::Study;

/// The token the emulators accept and the studies seal.
pub const TOKEN: &str = "test-token-for-post";
/// The password of every study's sealed key.
pub const PASSWORD: &str = "correct horse battery staple 1729";
/// Where the binary reads a password from; the CI way, and the tests' default.
pub const PASSWORD_VAR: &str = "DROPBOX_POST_PASSWORD";

/// The binary under test.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_dropbox-post"))
}

/// The repository (fixtures, examples, scripts).
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One test's isolated world: HOME, XDG dirs, cache, TMPDIR and a work dir in one temp dir.
pub struct TestEnv {
    temp: TempDir,
    emulator_flags: Vec<String>,
    emulator: OnceLock<Emulator>,
    studies: std::sync::atomic::AtomicUsize,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        TestEnv::with_emulator(&[])
    }

    /// A world whose emulator, once asked for, runs with `flags`.
    pub fn with_emulator(flags: &[&str]) -> TestEnv {
        TestEnv {
            temp: temp_dir("dropbox-post-test-", &["work"]),
            emulator_flags: flags.iter().map(|f| f.to_string()).collect(),
            emulator: OnceLock::new(),
            studies: Default::default(),
        }
    }

    /// The temp dir holding everything of this env (redacted from snapshots).
    pub fn root(&self) -> &Path {
        self.temp.path()
    }

    /// The working directory of `cmd()`: scratch space for the test.
    pub fn dir(&self) -> PathBuf {
        self.root().join("work")
    }

    /// `DROPBOX_POST_CACHE_DIR` of every command.
    pub fn cache(&self) -> PathBuf {
        self.root().join("cache")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir().join(rel)
    }

    /// Writes `data` at `rel` under the work dir, creating folders; the path.
    pub fn write(&self, rel: &str, data: impl AsRef<[u8]>) -> PathBuf {
        write_file(&self.path(rel), data.as_ref())
    }

    /// The binary in this env: isolated environment, empty stdin, cwd the work dir.
    pub fn command(&self) -> std::process::Command {
        self.std_program(bin())
    }

    fn std_program(&self, program: impl AsRef<OsStr>) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        self.isolate(&mut cmd);
        cmd.current_dir(self.dir());
        cmd
    }

    /// [`TestEnv::command`] for assertions, with a guard against hangs.
    pub fn cmd(&self) -> assert_cmd::Command {
        self.program(bin())
    }

    /// Any program (a copy of the binary, python3, a shell) as [`TestEnv::cmd`] runs the
    /// binary: isolated, cwd the work dir, with the guard against hangs.
    pub fn program(&self, program: impl AsRef<OsStr>) -> assert_cmd::Command {
        guarded(self.std_program(program))
    }

    /// `python3 bin/SCRIPT` (a librec-auto shim of this repository) running the binary
    /// under test (`DROPBOX_POST_BIN`).
    pub fn shim(&self, script: &str) -> assert_cmd::Command {
        let mut cmd = self.program("python3");
        cmd.arg(repo().join("bin").join(script))
            .env("DROPBOX_POST_BIN", bin())
            .env("PYTHONDONTWRITEBYTECODE", "1");
        cmd
    }

    /// Gives `cmd` (any program) this env instead of the caller's.
    pub fn isolate(&self, cmd: &mut std::process::Command) {
        isolate_in(cmd, self.root());
    }

    /// The emulator of this env, started on first use.
    pub fn emulator(&self) -> &Emulator {
        self.emulator.get_or_init(|| {
            let flags: Vec<&str> = self.emulator_flags.iter().map(String::as_str).collect();
            Emulator::start(&flags)
        })
    }

    /// `encrypt --key KEY --encrypted OUT`, without a password yet.
    pub fn encrypt(&self, key: &Path, out: &Path) -> assert_cmd::Command {
        let mut cmd = self.cmd();
        cmd.args(["encrypt", "--key"])
            .arg(key)
            .arg("--encrypted")
            .arg(out);
        cmd
    }

    /// `encrypt` of `cleartext` into `out` (under the work dir) with `password`; the path.
    pub fn seal(&self, cleartext: &str, out: &str, password: &str) -> PathBuf {
        let key = self.write(&format!("{out}.cleartext"), cleartext);
        let sealed = self.path(out);
        std::fs::create_dir_all(sealed.parent().unwrap()).unwrap();
        self.encrypt(&key, &sealed)
            .password(password)
            .assert()
            .success();
        std::fs::remove_file(&key).unwrap();
        sealed
    }

    /// A study whose `keys/dropbox.enc` seals [`TOKEN`] with [`PASSWORD`].
    pub fn study(&self) -> Study<'_> {
        self.study_sealing(TOKEN)
    }

    /// A study whose key seals `credential` (a bare token or the JSON form).
    pub fn study_sealing(&self, credential: &str) -> Study<'_> {
        let n = self
            .studies
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Study::new(self, &format!("study{n}"), credential)
    }
}

/// A temp dir named `prefix…` with what [`isolate_in`] points at, and `more` folders.
fn temp_dir(prefix: &str, more: &[&str]) -> TempDir {
    let temp = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    for dir in ["home", "tmp", "cache"].iter().chain(more) {
        std::fs::create_dir(temp.path().join(dir)).unwrap();
    }
    temp
}

/// Points `cmd` at `root`'s home, XDG dirs, cache and tmp, drops the variables that would
/// change what the binary does, and gives it an empty stdin.
fn isolate_in(cmd: &mut std::process::Command, root: &Path) {
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("DROPBOX_POST_")
            || ["RUST_LOG", "COLUMNS", "CLICOLOR_FORCE"].contains(&text.as_ref())
        {
            cmd.env_remove(&name);
        }
    }
    let home = root.join("home");
    cmd.env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("XDG_RUNTIME_DIR", home.join(".run"))
        .env("TMPDIR", root.join("tmp"))
        .env("DROPBOX_POST_CACHE_DIR", root.join("cache"))
        .stdin(Stdio::null());
}

/// Test-friendly setters shared by [`assert_cmd::Command`] and [`std::process::Command`].
pub trait CmdExt {
    fn set_env(&mut self, name: &str, value: &OsStr) -> &mut Self;
    fn push_args(&mut self, args: &[&OsStr]) -> &mut Self;

    /// The password, given the way CI gives it: `DROPBOX_POST_PASSWORD`.
    fn password(&mut self, password: &str) -> &mut Self {
        self.set_env(PASSWORD_VAR, password.as_ref())
    }

    /// `--endpoint URL` of `emulator`.
    fn endpoint(&mut self, emulator: &Emulator) -> &mut Self {
        self.push_args(&["--endpoint".as_ref(), emulator.url.as_ref()])
    }

    /// `emulator` through `DROPBOX_POST_ENDPOINT`, as librec-auto's form must take it.
    fn endpoint_env(&mut self, emulator: &Emulator) -> &mut Self {
        self.set_env("DROPBOX_POST_ENDPOINT", emulator.url.as_ref())
    }
}

macro_rules! cmd_ext {
    ($ty:ty) => {
        impl CmdExt for $ty {
            fn set_env(&mut self, name: &str, value: &OsStr) -> &mut Self {
                self.env(name, value)
            }
            fn push_args(&mut self, args: &[&OsStr]) -> &mut Self {
                self.args(args)
            }
        }
    };
}
cmd_ext!(assert_cmd::Command);
cmd_ext!(std::process::Command);

/// A shared runtime for sync tests that call the emulator's async helpers: one runtime, so
/// the emulator client's pooled connections stay usable from call to call.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    });
    RUNTIME.block_on(future)
}

/// Every subcommand's name path, nested ones too (`["key", "check"]`), read from the binary's
/// own `--help` "Commands:" lists: what help pages, completions and man pages must cover.
pub fn subcommands() -> Vec<Vec<String>> {
    fn walk(prefix: &[String], out: &mut Vec<Vec<String>>) {
        let help = std::process::Command::new(bin())
            .args(prefix)
            .arg("--help")
            .output()
            .expect("run --help");
        let text = String::from_utf8(help.stdout).expect("help is UTF-8");
        let names: Vec<String> = text
            .lines()
            .skip_while(|l| *l != "Commands:")
            .skip(1)
            .take_while(|l| !l.is_empty())
            // A wrapped description continues on a line indented deeper than a name.
            .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|name| *name != "help")
            .map(str::to_string)
            .collect();
        for name in names {
            let mut path = prefix.to_vec();
            path.push(name);
            walk(&path, out);
            out.push(path);
        }
    }
    let mut out = Vec::new();
    walk(&[], &mut out);
    out
}

/// `cmd` for assertions, killed if it runs over 300 s (a hang fails the test, not the run).
pub fn guarded(cmd: std::process::Command) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::from_std(cmd);
    cmd.timeout(Duration::from_secs(300));
    cmd
}

/// Runs `cmd` to its end, failing the test (not hanging it) if that takes over `limit`: for
/// what must fail fast rather than block (a FIFO, a costly KDF, a hostile config).
#[track_caller]
pub fn output_within(cmd: &mut assert_cmd::Command, limit: Duration) -> Output {
    let out = cmd.timeout(limit).output().expect("run the command");
    assert!(
        out.status.code().is_some(),
        "killed after {limit:?} (or by a signal): {}",
        stderr(&out)
    );
    out
}

pub fn write_file(path: &Path, data: &[u8]) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
    path.to_path_buf()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
}

/// Stdout as JSON.
#[track_caller]
pub fn json_of(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            stdout(output),
            stderr(output)
        )
    })
}

/// Neither stream shows any of `secrets`.
#[track_caller]
pub fn assert_no_secret(output: &Output, secrets: &[&str]) {
    for text in [stdout(output), stderr(output)] {
        for secret in secrets {
            assert!(!text.contains(secret), "a secret was printed: {text}");
        }
    }
}

/// A file's stamp as the cache folder keeps it (device, inode, mtime, ctime), for tests
/// that forge cache records as anyone who may write that folder could.
#[cfg(unix)]
pub fn stamp(path: &Path) -> serde_json::Value {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap();
    serde_json::json!({
        "dev": m.dev(), "ino": m.ino(),
        "mtime": [m.mtime(), m.mtime_nsec()], "ctime": [m.ctime(), m.ctime_nsec()],
    })
}

/// Deterministic pseudo-random bytes (so a wrong offset cannot go unnoticed).
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Every entry under `dir`, as sorted relative paths; folders end in `/`. Empty when `dir`
/// does not exist.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut entries: Vec<String> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().to_string_lossy();
            if e.file_type().is_dir() {
                format!("{rel}/")
            } else {
                rel.into_owned()
            }
        })
        .collect();
    entries.sort();
    entries
}

/// The files under `dir` (no folders), as sorted relative paths.
pub fn files(dir: &Path) -> Vec<String> {
    tree(dir)
        .into_iter()
        .filter(|e| !e.ends_with('/'))
        .collect()
}

/// `actual` holds exactly the files of `expected`, byte for byte, and its folders too.
#[track_caller]
pub fn assert_same_files(expected: &Path, actual: &Path) {
    let want = tree(expected);
    assert_eq!(
        tree(actual),
        want,
        "{} vs {}",
        expected.display(),
        actual.display()
    );
    for rel in want.iter().filter(|e| !e.ends_with('/')) {
        let same =
            std::fs::read(expected.join(rel)).unwrap() == std::fs::read(actual.join(rel)).unwrap();
        assert!(same, "{rel} differs");
    }
}
