//! Issue 13: the install-facing commands run as a user would: `init` on study folders,
//! `librec-auto-dir` in the layouts a wheel and `cargo install` leave, `completions` and
//! `man`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use tempfile::TempDir;

use crate::harness::{
    CmdExt, PASSWORD, TOKEN, TestEnv, assert_success, bin, repo, snapshot, stderr, stdout,
    subcommands,
};

const SRC: &str = "/opt/dropbox-post/share/dropbox-post/librec-auto";

fn example(rel: &str) -> PathBuf {
    repo().join("examples/study").join(rel)
}

/// `dropbox-post ARGS…` in `cwd`.
fn run(env: &TestEnv, cwd: &Path, args: &[&str]) -> Output {
    run_as(env, bin(), cwd, args)
}

/// [`run`] with the binary at `exe`.
fn run_as(env: &TestEnv, exe: &Path, cwd: &Path, args: &[&str]) -> Output {
    env.program(exe)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// A failure: the exit code, and one line on stderr saying what and what to do.
#[track_caller]
fn assert_fails(out: &Output, code: i32, says: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("dropbox-post: error: ") && err.contains(says),
        "{err}"
    );
}

/// A study folder `NAME/study` in the env, holding `conf/config.xml` = `config`.
fn study_with(env: &TestEnv, name: &str, config: &[u8]) -> PathBuf {
    let config = env.write(&format!("{name}/study/conf/config.xml"), config);
    config.parent().unwrap().parent().unwrap().to_path_buf()
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

/// A copy of examples/study in the env, in a folder named `study`.
fn example_study(env: &TestEnv) -> PathBuf {
    for entry in walkdir::WalkDir::new(example("")) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(example("")).unwrap();
            env.write(
                &format!("study/{}", rel.display()),
                fs::read(entry.path()).unwrap(),
            );
        }
    }
    env.path("study")
}

#[test]
fn init_sets_the_example_study_up_and_its_next_commands_work() {
    let env = TestEnv::new();
    let study = example_study(&env);
    let out = run(&env, &study, &["init", "--src", SRC]);
    assert_success(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let done = [
        "conf/config.xml: added a dropbox_post.py script (folder post → /study) at line 64",
        "keys/: created",
        "keys/.gitattributes: created with *.enc -text",
        ".gitignore: added token.txt, pw.txt",
    ];
    assert_eq!(lines[..4], done, "{text}");
    let next = &lines[lines.len() - 2..];
    let commands = [
        "  dropbox-post encrypt --key token.txt --encrypted keys/dropbox.enc",
        "  dropbox-post post --config conf/config.xml --dry-run",
    ];
    assert_eq!(next, commands, "{text}");

    let original = fs::read_to_string(example("conf/config.xml")).unwrap();
    let added = script("\n", "    ", "  ", "folder", "post", "/study");
    let anchor = "    </script>\n  </post>\n";
    let config = original.replacen(anchor, &format!("    </script>\n{added}\n  </post>\n"), 1);
    assert_eq!(
        fs::read_to_string(study.join("conf/config.xml")).unwrap(),
        config
    );
    assert_eq!(
        fs::read_to_string(study.join("keys/.gitattributes")).unwrap(),
        "*.enc -text\n"
    );
    let gitignore = fs::read_to_string(example(".gitignore")).unwrap();
    let ignored = "# dropbox-post: clear tokens and passwords stay out of git\ntoken.txt\npw.txt\n";
    assert_eq!(
        fs::read_to_string(study.join(".gitignore")).unwrap(),
        gitignore + ignored
    );

    // The two commands it printed, as printed, then the real post.
    fs::write(study.join("token.txt"), TOKEN).unwrap();
    let as_user = |args: &[&str]| {
        let mut cmd = env.cmd();
        cmd.args(args)
            .current_dir(&study)
            .env("DROPBOX_POST_ENDPOINT", &env.emulator().url);
        cmd.password(PASSWORD).assert().success();
    };
    for line in next {
        let words = shlex::split(line).unwrap();
        assert_eq!(words[0], "dropbox-post");
        as_user(&words[1..].iter().map(String::as_str).collect::<Vec<_>>());
    }
    as_user(&["post", "--config", "conf/config.xml"]);
    let landed = fs::read(env.emulator().file("/study/summary.csv")).unwrap();
    assert_eq!(landed, fs::read(study.join("post/summary.csv")).unwrap());

    let before = snapshot(&study);
    let out = run(&env, &env.dir(), &["init", "study", "--src", SRC]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains("nothing to change: the study is already set up"),
        "{text}"
    );
    // The key exists now: check it rather than seal another.
    let next = "  dropbox-post key check --encrypted study/keys/dropbox.enc\n  \
                dropbox-post post --config study/conf/config.xml --dry-run\n";
    assert!(text.ends_with(next), "{text}");
    assert_eq!(snapshot(&study), before);
}

#[test]
fn init_keeps_every_other_byte_of_odd_configs() {
    let env = TestEnv::new();
    // CRLF, tabs, a comment last, attributes in single quotes, no <post>.
    let crlf = "<?xml version='1.0'?>\r\n<!-- lab config -->\r\n<librec-auto>\r\n\t<data  format='UIR'>\r\n\t\t<data-dir>data</data-dir>\r\n\t</data>\r\n\t<!-- post scripts: none yet -->\r\n</librec-auto>\r\n";
    let study = study_with(&env, "crlf", crlf.as_bytes());
    let params = [
        "--option",
        "file",
        "--path",
        "post/r.csv",
        "--dest",
        "/lab//r/",
    ];
    assert_success(&run(
        &env,
        &study,
        &[&["init", "--src", SRC][..], &params].concat(),
    ));
    let added = script("\r\n", "\t\t", "\t", "file", "post/r.csv", "/lab/r");
    let anchor = "<!-- post scripts: none yet -->";
    let config = crlf.replacen(
        anchor,
        &format!("{anchor}\r\n\t<post>\r\n{added}\r\n\t</post>"),
        1,
    );
    assert_eq!(
        fs::read_to_string(study.join("conf/config.xml")).unwrap(),
        config
    );

    // An empty <post/> after another element's comment, four-space indentation.
    let empty = "<librec-auto>\n    <alg><class>biasedmf</class></alg>\n    <post/>  <!-- here -->\n</librec-auto>";
    let study = study_with(&env, "empty", empty.as_bytes());
    assert_success(&run(&env, &study, &["init", "--src", SRC]));
    let added = script("\n", "        ", "    ", "folder", "post", "/study");
    let config = empty.replacen("<post/>", &format!("<post>\n{added}\n    </post>"), 1);
    assert_eq!(
        fs::read_to_string(study.join("conf/config.xml")).unwrap(),
        config
    );
}

#[test]
fn dry_run_prints_the_diff_and_writes_nothing() {
    let env = TestEnv::new();
    let study = study_with(&env, "dry", &fs::read(example("conf/config.xml")).unwrap());
    let before = snapshot(&study);
    let out = run(
        &env,
        &study,
        &["init", "--src", SRC, "--dry-run", "--dest", "/x"],
    );
    assert_success(&out);
    assert_eq!(snapshot(&study), before);
    let text = stdout(&out);
    let header = "--- conf/config.xml\n+++ conf/config.xml\n@@ -61,5 +61,13 @@\n";
    assert!(text.starts_with(header), "{text}");
    let changed = |sign: char| {
        text.lines()
            .filter(move |l| l.starts_with(sign) && !l.starts_with(&sign.to_string().repeat(3)))
    };
    let added: Vec<&str> = changed('+').map(|l| &l[1..]).collect();
    assert_eq!(
        added.join("\n"),
        script("\n", "    ", "  ", "folder", "post", "/x")
    );
    assert_eq!(changed('-').count(), 0, "{text}");
    assert!(text.contains("\nkeys/: would create\n"), "{text}");
    assert!(text.ends_with("dry run: nothing was changed\n"), "{text}");
}

#[test]
fn init_refuses_bad_studies_and_leaves_them_alone() {
    let env = TestEnv::new();
    study_with(
        &env,
        "malformed",
        b"<librec-auto>\n  <post>\n</librec-auto>\n",
    );
    study_with(&env, "not-utf-8", b"<librec-auto>\xff</librec-auto>");
    fs::remove_dir_all(study_with(&env, "no-conf", b"<librec-auto/>").join("conf")).unwrap();
    fs::write(
        study_with(&env, "keys-a-file", b"<librec-auto/>").join("keys"),
        "",
    )
    .unwrap();
    study_with(&env, "bad-dest", b"<librec-auto/>");
    let dest = "--dest: dest \"results\" is not an absolute Dropbox path";
    for (name, extra, code, says) in [
        ("malformed", &[][..], 3, "conf/config.xml:3:"),
        ("not-utf-8", &[], 3, "not UTF-8"),
        (
            "no-conf",
            &[],
            3,
            "error: the current folder: no conf/ folder",
        ),
        (
            "keys-a-file",
            &[],
            3,
            "error: keys: exists but is not a folder",
        ),
        ("bad-dest", &["--dest", "results"], 2, dest),
    ] {
        let study = env.path(&format!("{name}/study"));
        let before = snapshot(&study);
        let out = run(&env, &study, &[&["init", "--src", SRC][..], extra].concat());
        assert_fails(&out, code, says);
        assert_eq!(snapshot(&study), before, "{name}");
    }
    let out = run(&env, &env.dir(), &["init", "no-such-study", "--src", SRC]);
    assert_fails(&out, 3, "no-such-study: cannot open the study folder");
    let out = run(&env, &env.dir(), &["init", "--option", "No"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// `dirs` read-only until dropped: chmod, and where that does not stop the user (root),
/// the immutable attribute. Fails the test if neither does.
#[cfg(unix)]
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
                let status = std::process::Command::new("chattr")
                    .arg("+i")
                    .arg(dir)
                    .status();
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
                let _ = std::process::Command::new("chattr")
                    .arg("-i")
                    .arg(dir)
                    .status();
            }
            let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
        }
    }
}

#[cfg(unix)]
#[test]
fn a_read_only_study_is_left_untouched() {
    let env = TestEnv::new();
    // In target/: a disk file system, where chattr works (tmpfs has no immutable flag).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let study = dir.path().join("study");
    fs::create_dir_all(study.join("conf")).unwrap();
    fs::copy(example("conf/config.xml"), study.join("conf/config.xml")).unwrap();
    let before = snapshot(&study);
    {
        let _read_only = ReadOnly::new(&[&study.join("conf"), &study]);
        let out = run(&env, &study, &["init", "--src", SRC]);
        assert_fails(&out, 3, "is the study read-only? Nothing was changed");
        let err = stderr(&out);
        assert!(err.contains("cannot write in "), "{err}");
        assert_eq!(err.matches("(os error").count(), 1, "{err}");
    }
    assert_eq!(snapshot(&study), before);
}

/// The binary placed at `rel` under a fresh folder in target/ (hard-linked: it is big).
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
    let env = TestEnv::new();
    let (prefix, exe) = placed_binary("bin/dropbox-post");
    let share = prefix.path().join("share/dropbox-post/librec-auto");
    fs::create_dir_all(&share).unwrap();
    for script in ["dropbox_post.py", "encrypt.py", "dropbox_post_shim.py"] {
        fs::copy(repo().join("bin").join(script), share.join(script)).unwrap();
    }
    let out = run_as(&env, &exe, prefix.path(), &["librec-auto-dir"]);
    assert_success(&out);
    assert_eq!(stdout(&out), format!("{}\n", share.display()));

    // init's default src is that folder.
    let study = study_with(&env, "wheel", b"<librec-auto>\n</librec-auto>\n");
    assert_success(&run_as(&env, &exe, &study, &["init"]));
    let config = fs::read_to_string(study.join("conf/config.xml")).unwrap();
    let src = format!("<script lang=\"python3\" src=\"{}\">", share.display());
    assert!(config.contains(&src), "{config}");

    // `cargo install` copies the binary alone.
    let (bare, exe) = placed_binary("cargo/bin/dropbox-post");
    let out = run_as(&env, &exe, bare.path(), &["librec-auto-dir"]);
    assert_fails(&out, 1, "no librec-auto scripts installed with");
    assert!(
        stderr(&out).contains("pip install dropbox-post"),
        "{}",
        stderr(&out)
    );
    let study = study_with(&env, "bare", b"<librec-auto/>");
    let before = snapshot(&study);
    assert_fails(&run_as(&env, &exe, &study, &["init"]), 2, "init --src DIR");
    assert_eq!(snapshot(&study), before);
}

#[test]
fn completions_name_every_subcommand() {
    let env = TestEnv::new();
    let paths = subcommands();
    assert!(paths.contains(&vec!["key".to_string(), "check".to_string()]));
    assert!(paths.contains(&vec!["librec-auto-dir".to_string()]));
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = env.cmd().args(["completions", shell]).output().unwrap();
        assert_success(&out);
        for name in paths.iter().map(|p| p.last().unwrap()) {
            assert!(stdout(&out).contains(name.as_str()), "{shell}: no {name}");
        }
    }
    env.cmd().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn man_pages_one_per_subcommand_render_cleanly() {
    let env = TestEnv::new();
    let out = env.cmd().args(["man", "man/man1"]).output().unwrap();
    assert_success(&out);
    let dir = env.path("man/man1");
    let mut expected = vec![dir.join("dropbox-post.1")];
    let pages = subcommands()
        .into_iter()
        .map(|p| dir.join(format!("dropbox-post-{}.1", p.join("-"))));
    expected.extend(pages);
    expected.sort();
    let mut listed: Vec<PathBuf> = stdout(&out).lines().map(|l| env.dir().join(l)).collect();
    listed.sort();
    assert_eq!(listed, expected);
    let on_disk: Vec<PathBuf> = crate::harness::files(&dir)
        .iter()
        .map(|f| dir.join(f))
        .collect();
    assert_eq!(on_disk, expected);
    let init = fs::read_to_string(dir.join("dropbox-post-init.1")).unwrap();
    assert!(init.contains(".TH dropbox-post-init 1"), "{init}");
    assert!(init.contains("\\-\\-dry\\-run"), "{init}");

    // groff renders them with every warning on; .ci/run installs it, and CI's wheel check
    // renders the installed binary's pages the same way.
    if std::process::Command::new("groff")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("groff not installed: rendering checked by .ci/wheel-check.sh only");
        return;
    }
    for page in &expected {
        let out = env
            .program("groff")
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

/// Issue 21 (5, 20): a study may carry symlinks (git keeps them), so every path init writes
/// must be a real file or folder of the study: a link, even a dangling one, is refused with
/// one line naming it, and nothing is written, inside or out.
#[cfg(unix)]
#[test]
fn init_writes_nothing_through_a_symlink() {
    let env = TestEnv::new();
    let config = fs::read(example("conf/config.xml")).unwrap();
    let links = [
        ".gitignore",
        "keys",
        "keys/.gitattributes",
        "conf/config.xml",
        "conf",
    ];
    // The real thing moved out of the study and linked back; last, a dangling .gitignore.
    for (n, link) in links.iter().chain([&".gitignore"]).enumerate() {
        let study = study_with(&env, &format!("s{n}"), &config);
        env.write(&format!("s{n}/study/.gitignore"), "out/\n");
        env.write(&format!("s{n}/study/keys/.gitattributes"), "*.png binary\n");
        let outside = env.path(&format!("s{n}/outside"));
        if n < links.len() {
            fs::rename(study.join(link), &outside).unwrap();
        } else {
            fs::remove_file(study.join(link)).unwrap();
        }
        std::os::unix::fs::symlink(&outside, study.join(link)).unwrap();
        let outside_before = outside.exists().then(|| snapshot(&outside));
        let before = snapshot(&study);
        let out = run(&env, &study, &["init", "--src", SRC]);
        let says = format!(
            "{link} is a symbolic link (to {}); init writes only",
            outside.display()
        );
        assert_fails(&out, 3, &says);
        assert_eq!(snapshot(&study), before, "{link}");
        assert_eq!(outside.exists().then(|| snapshot(&outside)), outside_before);
    }
}

/// Issue 21 (14): concurrent inits each add their script (the config is edited under a
/// lock and re-read), or say that the same one is already there.
#[test]
fn concurrent_inits_lose_no_script() {
    let env = TestEnv::new();
    // A few rounds: the races a lock must close open only now and then.
    for round in 0..3 {
        let config = b"<librec-auto>\n  <post>\n  </post>\n</librec-auto>\n";
        let study = study_with(&env, &format!("busy{round}"), config);
        let spawn = |i: usize| {
            env.command()
                .args(["init", "--src", SRC, "--dest", &format!("/d{}", i % 6)])
                .current_dir(&study)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let runs: Vec<_> = (0..8).map(spawn).collect();
        let outs: Vec<_> = runs
            .into_iter()
            .map(|r| r.wait_with_output().unwrap())
            .collect();
        outs.iter().for_each(assert_success);
        let said: Vec<String> = outs.iter().map(stdout).collect();
        let config = fs::read_to_string(study.join("conf/config.xml")).unwrap();
        for i in 0..6 {
            let dest = format!("<param name=\"dest\">/d{i}</param>");
            assert_eq!(config.matches(&dest).count(), 1, "{config}");
        }
        let count = |what: &str| said.iter().filter(|s| s.contains(what)).count();
        let added = count("added a dropbox_post.py");
        let already = count("already posts post → /d");
        assert_eq!((added, already), (6, 2), "{said:#?}");
    }
}

/// Issue 21 (20): a config with CR line endings gets the script on lines of its own.
#[test]
fn a_config_with_cr_line_endings_keeps_them() {
    let env = TestEnv::new();
    let cr = "<librec-auto>\r  <post>\r  </post>\r</librec-auto>\r";
    let study = study_with(&env, "cr", cr.as_bytes());
    assert_success(&run(&env, &study, &["init", "--src", SRC]));
    let added = script("\r", "    ", "  ", "folder", "post", "/study");
    assert_eq!(
        fs::read_to_string(study.join("conf/config.xml")).unwrap(),
        format!("<librec-auto>\r  <post>\r{added}\r  </post>\r</librec-auto>\r")
    );
}

/// Issue 21 (20): a read-only config is refused, not replaced (even for root, whom the mode
/// does not stop).
#[cfg(unix)]
#[test]
fn a_read_only_config_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let study = study_with(&env, "ro", b"<librec-auto/>\n");
    let config = study.join("conf/config.xml");
    fs::set_permissions(&config, fs::Permissions::from_mode(0o444)).unwrap();
    let before = snapshot(&study);
    let out = run(&env, &study, &["init", "--src", SRC]);
    assert_fails(
        &out,
        3,
        "conf/config.xml is read-only; init would replace it",
    );
    assert_eq!(snapshot(&study), before);
    let mode = fs::metadata(&config).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o444);
}
