//! Test harness: a study tree, a sealed credential, a real emulator process on 127.0.0.1,
//! and helpers to run the binary and read back what landed.
#![allow(dead_code)]

#[path = "../common/emulator_process.rs"]
pub mod emulator_process;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use tempfile::TempDir;

pub const TOKEN: &str = "test-token-for-post";
pub const PASSWORD: &str = "correct horse battery staple 1729";

pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("dropbox-post")
}

/// `dropbox-post emulate` on a random port; killed on drop.
pub struct Emulator {
    child: Child,
    pub url: String,
    pub root: TempDir,
}

impl Emulator {
    pub fn start(extra: &[&str]) -> Emulator {
        let root = tempfile::tempdir().unwrap();
        let (child, url) = emulator_process::spawn(root.path(), TOKEN, extra);
        Emulator { child, url, root }
    }

    /// Where the emulator keeps the bytes of Dropbox path `path`.
    pub fn file(&self, path: &str) -> PathBuf {
        self.root
            .path()
            .join("files")
            .join(path.trim_start_matches('/'))
    }

    /// Every file under Dropbox folder `folder`, as sorted relative paths.
    pub fn files_under(&self, folder: &str) -> Vec<String> {
        let base = self.file(folder);
        let mut out: Vec<String> = walkdir::WalkDir::new(&base)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                e.path()
                    .strip_prefix(&base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        out.sort();
        out
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A librec-auto study folder with a sealed credential at `keys/dropbox.enc`.
pub struct Study {
    pub dir: TempDir,
    /// `DROPBOX_POST_CACHE_DIR` for `post`: the user's own cache stays untouched.
    pub cache: TempDir,
}

impl Study {
    pub fn new() -> Study {
        Study::with_credential(TOKEN)
    }

    /// `credential` is the cleartext the study's key seals (a bare token or the JSON form).
    pub fn with_credential(credential: &str) -> Study {
        let dir = tempfile::tempdir().unwrap();
        let clear = dir.path().join("token.txt");
        std::fs::write(&clear, credential).unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        let out = Command::new(bin())
            .args(["encrypt", "--key"])
            .arg(&clear)
            .arg("--encrypted")
            .arg(dir.path().join("keys/dropbox.enc"))
            .env("DROPBOX_POST_PASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "encrypt failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(&clear).unwrap();
        let cache = tempfile::tempdir().unwrap();
        Study { dir, cache }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        p
    }

    /// `conf/config.xml` with one dropbox script per `(option, path, dest)`.
    pub fn config(&self, scripts: &[(&str, &str, &str)]) -> PathBuf {
        let mut xml = String::from("<librec-auto>\n  <post>\n");
        for (option, path, dest) in scripts {
            xml.push_str(&format!(
                "    <script lang=\"python3\" src=\"system\">\n      \
                 <script-name>dropbox_post.py</script-name>\n      \
                 <param name=\"option\">{option}</param>\n      \
                 <param name=\"encrypted_key\">keys/dropbox.enc</param>\n      \
                 <param name=\"path\">{path}</param>\n      \
                 <param name=\"dest\">{dest}</param>\n      \
                 <param name=\"password\"></param>\n    </script>\n"
            ));
        }
        xml.push_str("  </post>\n</librec-auto>\n");
        self.write("conf/config.xml", xml.as_bytes())
    }

    /// `dropbox-post post --config conf/config.xml --endpoint URL` + `extra`, password by env.
    pub fn post(&self, emulator: &Emulator, extra: &[&str]) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new(bin());
        cmd.arg("post")
            .arg("--config")
            .arg(self.path("conf/config.xml"))
            .args(["--endpoint", &emulator.url])
            .args(extra)
            .env("DROPBOX_POST_PASSWORD", PASSWORD)
            .env("DROPBOX_POST_CACHE_DIR", self.cache.path())
            .env_remove("DROPBOX_POST_ENDPOINT")
            .current_dir(self.dir.path());
        cmd
    }

    /// Run `post` with `extra` and `--json`; it must succeed. The summary.
    pub fn post_json(&self, emulator: &Emulator, extra: &[&str]) -> serde_json::Value {
        let out = self.post(emulator, extra).arg("--json").output().unwrap();
        assert_success(&out);
        json_of(&out)
    }
}

pub fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
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

/// Assert that every file under `local` landed byte for byte under Dropbox folder `dest`.
pub fn assert_same_tree(emulator: &Emulator, local: &Path, dest: &str) {
    let mut expected: Vec<String> = walkdir::WalkDir::new(local)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(local)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    expected.sort();
    assert_eq!(emulator.files_under(dest), expected);
    for rel in &expected {
        let landed = std::fs::read(emulator.file(&format!("{dest}/{rel}"))).unwrap();
        let original = std::fs::read(local.join(rel)).unwrap();
        assert!(landed == original, "{rel} differs after upload");
    }
}

pub fn json_of(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}
