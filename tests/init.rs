//! The install-facing commands run as a user would: `init` on study folders, `librec-auto-dir`
//! in the layouts a wheel and `cargo install` leave, `completions` and `man`.

mod support;
#[path = "common/tree.rs"]
mod tree;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::CommandFactory;
use dropbox_post::cli::Cli;
use support::{Emulator, PASSWORD, TOKEN, assert_success, bin};
use tempfile::TempDir;
use tree::snapshot;

const SRC: &str = "/opt/dropbox-post/share/dropbox-post/librec-auto";

fn example(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/study")
        .join(rel)
}

/// A HOME and a cache of its own for every run: no test touches the user's.
struct Env {
    home: TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// `program ARGS…` in `cwd`, with `vars` set.
    fn run_with(&self, program: &Path, cwd: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
        Command::new(program)
            .args(args)
            .current_dir(cwd)
            .env("HOME", self.home.path())
            .env("DROPBOX_POST_CACHE_DIR", self.home.path().join("cache"))
            .env_remove("DROPBOX_POST_ENDPOINT")
            .env_remove("DROPBOX_POST_PASSWORD")
            .envs(vars.iter().copied())
            .output()
            .unwrap()
    }

    fn run_program(&self, program: &Path, cwd: &Path, args: &[&str]) -> Output {
        self.run_with(program, cwd, args, &[])
    }

    fn run(&self, cwd: &Path, args: &[&str]) -> Output {
        self.run_program(&bin(), cwd, args)
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A failure: the exit code, and one line on stderr saying what and what to do.
fn assert_fails(out: &Output, code: i32, says: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", stderr(out));
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("dropbox-post: error: ") && err.contains(says),
        "{err}"
    );
}

/// A study folder named `study` holding `conf/config.xml` = `config`.
fn study_with(config: &[u8]) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let study = dir.path().join("study");
    fs::create_dir_all(study.join("conf")).unwrap();
    fs::write(study.join("conf/config.xml"), config).unwrap();
    (dir, study)
}

/// The script element `init` writes, lines joined by `nl`, at `indent`, children one `unit`
/// deeper.
fn script(nl: &str, indent: &str, unit: &str, option: &str, path: &str, dest: &str) -> String {
    let child = format!("{indent}{unit}");
    let param = |name: &str, value: &str| format!("{child}<param name=\"{name}\">{value}</param>");
    [
        format!("{indent}<script lang=\"python3\" src=\"{SRC}\">"),
        format!("{child}<script-name>dropbox_post.py</script-name>"),
        param("option", option),
        param("encrypted_key", "keys/dropbox.enc"),
        param("path", path),
        param("dest", dest),
        param("password", ""),
        format!("{indent}</script>"),
    ]
    .join(nl)
}

/// A copy of examples/study in a folder named `study`.
fn example_study() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let study = dir.path().join("study");
    for entry in walkdir::WalkDir::new(example("")) {
        let entry = entry.unwrap();
        let to = study.join(entry.path().strip_prefix(example("")).unwrap());
        if entry.file_type().is_dir() {
            fs::create_dir_all(&to).unwrap();
        } else {
            fs::copy(entry.path(), &to).unwrap();
        }
    }
    (dir, study)
}

#[test]
fn init_sets_the_example_study_up_and_its_next_commands_work() {
    let env = Env::new();
    let (_dir, study) = example_study();
    let out = env.run(&study, &["init", "--src", SRC]);
    assert_success(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "conf/config.xml: added a dropbox_post.py script (folder post → /study) at line 64",
            "keys/: created",
            "keys/.gitattributes: created with *.enc -text",
            ".gitignore: added token.txt, pw.txt",
        ],
        "{text}"
    );
    let next = &lines[lines.len() - 2..];
    assert_eq!(
        next,
        [
            "  dropbox-post encrypt --key token.txt --encrypted keys/dropbox.enc",
            "  dropbox-post post --config conf/config.xml --dry-run",
        ],
        "{text}"
    );

    let original = fs::read_to_string(example("conf/config.xml")).unwrap();
    let anchor = "    </script>\n  </post>\n";
    let added = script("\n", "    ", "  ", "folder", "post", "/study");
    assert_eq!(
        fs::read_to_string(study.join("conf/config.xml")).unwrap(),
        original.replacen(anchor, &format!("    </script>\n{added}\n  </post>\n"), 1)
    );
    assert_eq!(
        fs::read_to_string(study.join("keys/.gitattributes")).unwrap(),
        "*.enc -text\n"
    );
    let gitignore = fs::read_to_string(example(".gitignore")).unwrap();
    assert_eq!(
        fs::read_to_string(study.join(".gitignore")).unwrap(),
        format!(
            "{gitignore}# dropbox-post: clear tokens and passwords stay out of git\ntoken.txt\npw.txt\n"
        )
    );

    // The two commands it printed, as printed, then the real post.
    let emulator = Emulator::start(&[]);
    fs::write(study.join("token.txt"), TOKEN).unwrap();
    let vars = [
        ("DROPBOX_POST_PASSWORD", PASSWORD),
        ("DROPBOX_POST_ENDPOINT", emulator.url.as_str()),
    ];
    for line in next {
        let words = shlex::split(line).unwrap();
        assert_eq!(words[0], "dropbox-post");
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        assert_success(&env.run_with(&bin(), &study, &args, &vars));
    }
    let out = env.run_with(
        &bin(),
        &study,
        &["post", "--config", "conf/config.xml"],
        &vars,
    );
    assert_success(&out);
    assert_eq!(
        fs::read(emulator.file("/study/summary.csv")).unwrap(),
        fs::read(study.join("post/summary.csv")).unwrap()
    );

    let before = snapshot(&study);
    let out = env.run(study.parent().unwrap(), &["init", "study", "--src", SRC]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains("nothing to change: the study is already set up"),
        "{text}"
    );
    // The key exists now: check it rather than seal another.
    assert!(
        text.ends_with(
            "  dropbox-post key check --encrypted study/keys/dropbox.enc\n  \
         dropbox-post post --config study/conf/config.xml --dry-run\n"
        ),
        "{text}"
    );
    assert_eq!(snapshot(&study), before);
}

#[test]
fn init_keeps_every_other_byte_of_odd_configs() {
    let env = Env::new();
    // CRLF, tabs, a comment last, attributes in single quotes, no <post>.
    let crlf = "<?xml version='1.0'?>\r\n<!-- lab config -->\r\n<librec-auto>\r\n\t<data  format='UIR'>\r\n\t\t<data-dir>data</data-dir>\r\n\t</data>\r\n\t<!-- post scripts: none yet -->\r\n</librec-auto>\r\n";
    let (_dir, study) = study_with(crlf.as_bytes());
    assert_success(&env.run(
        &study,
        &[
            "init",
            "--src",
            SRC,
            "--option",
            "file",
            "--path",
            "post/r.csv",
            "--dest",
            "/lab//r/",
        ],
    ));
    let added = script("\r\n", "\t\t", "\t", "file", "post/r.csv", "/lab/r");
    let anchor = "<!-- post scripts: none yet -->";
    assert_eq!(
        fs::read_to_string(study.join("conf/config.xml")).unwrap(),
        crlf.replacen(
            anchor,
            &format!("{anchor}\r\n\t<post>\r\n{added}\r\n\t</post>"),
            1
        )
    );

    // An empty <post/> after another element's comment, four-space indentation.
    let empty = "<librec-auto>\n    <alg><class>biasedmf</class></alg>\n    <post/>  <!-- here -->\n</librec-auto>";
    let (_dir, study) = study_with(empty.as_bytes());
    assert_success(&env.run(&study, &["init", "--src", SRC]));
    let added = script("\n", "        ", "    ", "folder", "post", "/study");
    assert_eq!(
        fs::read_to_string(study.join("conf/config.xml")).unwrap(),
        empty.replacen("<post/>", &format!("<post>\n{added}\n    </post>"), 1)
    );
}

#[test]
fn dry_run_prints_the_diff_and_writes_nothing() {
    let env = Env::new();
    let (_dir, study) = study_with(&fs::read(example("conf/config.xml")).unwrap());
    let before = snapshot(&study);
    let out = env.run(&study, &["init", "--src", SRC, "--dry-run", "--dest", "/x"]);
    assert_success(&out);
    assert_eq!(snapshot(&study), before);
    let text = stdout(&out);
    assert!(
        text.starts_with("--- conf/config.xml\n+++ conf/config.xml\n@@ -61,5 +61,13 @@\n"),
        "{text}"
    );
    let added: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .map(|l| &l[1..])
        .collect();
    assert_eq!(
        added.join("\n"),
        script("\n", "    ", "  ", "folder", "post", "/x")
    );
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with('-') && !l.starts_with("---"))
    );
    assert!(text.contains("\nkeys/: would create\n"), "{text}");
    assert!(text.ends_with("dry run: nothing was changed\n"), "{text}");
}

#[test]
fn init_refuses_bad_studies_and_leaves_them_alone() {
    let env = Env::new();
    type Spoil = fn(&Path);
    let cases: [(&str, &[u8], Spoil, i32, &str); 5] = [
        (
            "malformed",
            b"<librec-auto>\n  <post>\n</librec-auto>\n",
            |_| {},
            3,
            "conf/config.xml:3:",
        ),
        (
            "not utf-8",
            b"<librec-auto>\xff</librec-auto>",
            |_| {},
            3,
            "not UTF-8",
        ),
        (
            "no conf",
            b"<librec-auto/>",
            |s| fs::remove_dir_all(s.join("conf")).unwrap(),
            3,
            "error: the current folder: no conf/ folder",
        ),
        (
            "keys a file",
            b"<librec-auto/>",
            |s| fs::write(s.join("keys"), "").unwrap(),
            3,
            "error: keys: exists but is not a folder",
        ),
        (
            "bad dest",
            b"<librec-auto/>",
            |_| {},
            2,
            "--dest: dest \"results\" is not an absolute Dropbox path",
        ),
    ];
    for (name, config, spoil, code, says) in cases {
        let (_dir, study) = study_with(config);
        spoil(&study);
        let before = snapshot(&study);
        let mut args = vec!["init", "--src", SRC];
        if name == "bad dest" {
            args.extend(["--dest", "results"]);
        }
        let out = env.run(&study, &args);
        assert_fails(&out, code, says);
        assert_eq!(snapshot(&study), before, "{name}");
    }
    let nowhere = tempfile::tempdir().unwrap();
    let out = env.run(nowhere.path(), &["init", "no-such-study", "--src", SRC]);
    assert_fails(&out, 3, "no-such-study: cannot open the study folder");
    let out = env.run(nowhere.path(), &["init", "--option", "No"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[cfg(unix)]
/// `dirs` read-only until dropped: chmod, and where that does not stop the user (root),
/// the immutable attribute. Fails the test if neither does.
struct ReadOnly(Vec<PathBuf>, bool);

#[cfg(unix)]
impl ReadOnly {
    fn new(dirs: &[&Path]) -> ReadOnly {
        use std::os::unix::fs::PermissionsExt;
        let probe = |dir: &Path| {
            let writable = fs::write(dir.join("probe"), "").is_ok();
            let _ = fs::remove_file(dir.join("probe"));
            writable
        };
        for dir in dirs {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o555)).unwrap();
        }
        let immutable = probe(dirs[0]);
        let guard = ReadOnly(dirs.iter().map(|d| d.to_path_buf()).collect(), immutable);
        if immutable {
            for dir in dirs {
                let status = Command::new("chattr").arg("+i").arg(dir).status();
                assert!(
                    status.is_ok_and(|s| s.success()),
                    "cannot make {} read-only: chmod does not stop this user and chattr +i failed",
                    dir.display()
                );
            }
        }
        assert!(!probe(dirs[0]), "{} is still writable", dirs[0].display());
        guard
    }
}

#[cfg(unix)]
impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        for dir in &self.0 {
            if self.1 {
                let _ = Command::new("chattr").arg("-i").arg(dir).status();
            }
            let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
        }
    }
}

#[cfg(unix)]
#[test]
fn a_read_only_study_is_left_untouched() {
    let env = Env::new();
    // In target/: a disk file system, where chattr works (tmpfs has no immutable flag).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let study = dir.path().join("study");
    fs::create_dir_all(study.join("conf")).unwrap();
    fs::copy(example("conf/config.xml"), study.join("conf/config.xml")).unwrap();
    let before = snapshot(&study);
    {
        let _read_only = ReadOnly::new(&[&study.join("conf"), &study]);
        let out = env.run(&study, &["init", "--src", SRC]);
        assert_fails(&out, 3, "is the study read-only? Nothing was changed");
        assert!(
            stderr(&out).contains("cannot write in "),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            stderr(&out).matches("(os error").count(),
            1,
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(snapshot(&study), before);
}

/// The binary placed at `rel` under a fresh folder (hard-linked: it is big).
fn placed_binary(rel: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let exe = dir.path().join(rel);
    fs::create_dir_all(exe.parent().unwrap()).unwrap();
    if fs::hard_link(bin(), &exe).is_err() {
        fs::copy(bin(), &exe).unwrap();
    }
    (dir, exe)
}

#[test]
fn librec_auto_dir_in_a_wheel_layout_and_without_scripts() {
    let env = Env::new();
    let (prefix, exe) = placed_binary("bin/dropbox-post");
    let share = prefix.path().join("share/dropbox-post/librec-auto");
    fs::create_dir_all(&share).unwrap();
    for script in ["dropbox_post.py", "encrypt.py", "dropbox_post_shim.py"] {
        fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("bin")
                .join(script),
            share.join(script),
        )
        .unwrap();
    }
    let out = env.run_program(&exe, prefix.path(), &["librec-auto-dir"]);
    assert_success(&out);
    assert_eq!(stdout(&out), format!("{}\n", share.display()));

    // init's default src is that folder.
    let (_dir, study) = study_with(b"<librec-auto>\n</librec-auto>\n");
    assert_success(&env.run_program(&exe, &study, &["init"]));
    let config = fs::read_to_string(study.join("conf/config.xml")).unwrap();
    assert!(
        config.contains(&format!(
            "<script lang=\"python3\" src=\"{}\">",
            share.display()
        )),
        "{config}"
    );

    // `cargo install` copies the binary alone.
    let (bare, exe) = placed_binary("cargo/bin/dropbox-post");
    let out = env.run_program(&exe, bare.path(), &["librec-auto-dir"]);
    assert_fails(&out, 1, "no librec-auto scripts installed with");
    assert!(
        stderr(&out).contains("pip install dropbox-post"),
        "{}",
        stderr(&out)
    );
    let (_dir, study) = study_with(b"<librec-auto/>");
    let before = snapshot(&study);
    let out = env.run_program(&exe, &study, &["init"]);
    assert_fails(&out, 2, "init --src DIR");
    assert_eq!(snapshot(&study), before);
}

/// Every subcommand's name, nested ones too (`key check`).
fn subcommand_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_string());
            walk(sub, &path, out);
            out.push(path);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), &[], &mut out);
    out
}

#[test]
fn completions_name_every_subcommand() {
    let env = Env::new();
    let paths = subcommand_paths();
    assert!(paths.contains(&vec!["key".to_string(), "check".to_string()]));
    assert!(paths.contains(&vec!["librec-auto-dir".to_string()]));
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = env.run(env.home.path(), &["completions", shell]);
        assert_success(&out);
        let script = stdout(&out);
        for path in &paths {
            let name = path.last().unwrap();
            assert!(script.contains(name.as_str()), "{shell}: no {name}");
        }
    }
    let out = env.run(env.home.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_pages_one_per_subcommand_render_cleanly() {
    let env = Env::new();
    let dir = env.home.path().join("man/man1");
    let out = env.run(env.home.path(), &["man", dir.to_str().unwrap()]);
    assert_success(&out);
    let mut expected = vec![dir.join("dropbox-post.1")];
    expected.extend(
        subcommand_paths()
            .iter()
            .map(|p| dir.join(format!("dropbox-post-{}.1", p.join("-")))),
    );
    let mut listed: Vec<PathBuf> = stdout(&out).lines().map(PathBuf::from).collect();
    let mut on_disk: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    expected.sort();
    listed.sort();
    on_disk.sort();
    assert_eq!(listed, expected);
    assert_eq!(on_disk, expected);
    let init = fs::read_to_string(dir.join("dropbox-post-init.1")).unwrap();
    assert!(init.contains(".TH dropbox-post-init 1"), "{init}");
    assert!(init.contains("\\-\\-dry\\-run"), "{init}");

    // groff renders them with every warning on; .ci/run installs it, and CI's wheel check
    // renders the installed binary's pages the same way.
    if Command::new("groff").arg("--version").output().is_err() {
        eprintln!("groff not installed: rendering checked by .ci/wheel-check.sh only");
        return;
    }
    for page in &expected {
        let out = Command::new("groff")
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .arg(page)
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}: {}",
            page.display(),
            stderr(&out)
        );
    }
}
