//! A librec-auto study folder in a [`TestEnv`]: a sealed key at `keys/dropbox.enc`, files,
//! a `conf/config.xml` with dropbox scripts, and the commands a researcher runs in it.

use std::path::PathBuf;

use super::{CmdExt, PASSWORD, TestEnv, assert_success, guarded, json_of, write_file};

/// A dropbox script's `(option, path, dest)`.
pub type Script<'a> = (&'a str, &'a str, &'a str);
/// An extra `<param name="NAME">VALUE</param>` of a script: `(NAME, VALUE)`.
pub type Param<'a> = (&'a str, &'a str);

pub struct Study<'e> {
    env: &'e TestEnv,
    dir: PathBuf,
}

impl<'e> Study<'e> {
    /// `env.dir()/name`, its key sealing `credential` with [`PASSWORD`].
    pub(super) fn new(env: &'e TestEnv, name: &str, credential: &str) -> Study<'e> {
        env.seal(credential, &format!("{name}/keys/dropbox.enc"), PASSWORD);
        Study {
            env,
            dir: env.path(name),
        }
    }

    /// The env it lives in (its cache, its emulator).
    pub fn env(&self) -> &'e TestEnv {
        self.env
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Writes `data` at `rel` in the study, creating folders; the path.
    pub fn write(&self, rel: &str, data: impl AsRef<[u8]>) -> PathBuf {
        write_file(&self.path(rel), data.as_ref())
    }

    /// `conf/config.xml` with one dropbox script per `(option, path, dest)`.
    pub fn config(&self, scripts: &[Script]) -> PathBuf {
        let scripts: Vec<_> = scripts.iter().map(|&s| (s, &[][..])).collect();
        self.write_config(&scripts)
    }

    /// `conf/config.xml` with one dropbox script and `params` (`(name, value)`, one a line
    /// from line 10 on) after the usual five.
    pub fn config_with(&self, script: Script, params: &[Param]) -> PathBuf {
        self.write_config(&[(script, params)])
    }

    /// `conf/config.xml` with one dropbox script per `(script, params)`, in order.
    pub fn config_scripts(&self, scripts: &[(Script, &[Param])]) -> PathBuf {
        self.write_config(scripts)
    }

    fn write_config(&self, scripts: &[(Script, &[Param])]) -> PathBuf {
        let mut xml = String::from("<librec-auto>\n  <post>\n");
        for ((option, path, dest), params) in scripts {
            xml.push_str(&format!(
                "    <script lang=\"python3\" src=\"system\">\n      \
                 <script-name>dropbox_post.py</script-name>\n      \
                 <param name=\"option\">{option}</param>\n      \
                 <param name=\"encrypted_key\">keys/dropbox.enc</param>\n      \
                 <param name=\"path\">{path}</param>\n      \
                 <param name=\"dest\">{dest}</param>\n      \
                 <param name=\"password\"></param>\n"
            ));
            for (name, value) in *params {
                xml.push_str(&format!("      <param name=\"{name}\">{value}</param>\n"));
            }
            xml.push_str("    </script>\n");
        }
        xml.push_str("  </post>\n</librec-auto>\n");
        self.write("conf/config.xml", xml)
    }

    /// The binary in the env, run from the study folder, no password.
    pub fn cmd(&self) -> assert_cmd::Command {
        guarded(self.command())
    }

    /// [`Study::cmd`] as a [`std::process::Command`], to `spawn` or run as another user.
    pub fn command(&self) -> std::process::Command {
        let mut cmd = self.env.command();
        cmd.current_dir(&self.dir);
        cmd
    }

    /// `post --config conf/config.xml` on the env's emulator with `extra`, password by env.
    pub fn post(&self, extra: &[&str]) -> assert_cmd::Command {
        self.post_at(&self.env.emulator().url, extra)
    }

    /// [`Study::post`] against the server at `url` (another emulator, a hostile server).
    pub fn post_at(&self, url: &str, extra: &[&str]) -> assert_cmd::Command {
        guarded(self.post_command(url, extra))
    }

    /// [`Study::post_at`] as a [`std::process::Command`].
    pub fn post_command(&self, url: &str, extra: &[&str]) -> std::process::Command {
        let mut cmd = self.command();
        cmd.arg("post")
            .arg("--config")
            .arg(self.path("conf/config.xml"))
            .args(["--endpoint", url])
            .args(extra)
            .password(PASSWORD);
        cmd
    }

    /// `post` with `extra` and `--json`; it must succeed. The summary.
    pub fn post_json(&self, extra: &[&str]) -> serde_json::Value {
        let out = self.post(extra).arg("--json").output().unwrap();
        assert_success(&out);
        json_of(&out)
    }

    /// `ARGS --encrypted keys/dropbox.enc` on the env's emulator (`whoami`, `ls`, `get`),
    /// password by env.
    pub fn remote(&self, args: &[&str]) -> assert_cmd::Command {
        self.remote_at(&self.env.emulator().url, args)
    }

    /// [`Study::remote`] against the server at `url`.
    pub fn remote_at(&self, url: &str, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = self.cmd();
        cmd.args(args)
            .arg("--encrypted")
            .arg(self.path("keys/dropbox.enc"))
            .args(["--endpoint", url])
            .password(PASSWORD);
        cmd
    }
}
