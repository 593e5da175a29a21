use tempfile::TempDir;

use super::*;

#[path = "../../../../tests/it/harness/contents.rs"]
mod contents;
use contents::snapshot;

const EXAMPLE_CONFIG: &str = include_str!("../../../../examples/study/conf/config.xml");

fn script() -> Script {
    Script::new(
        JobKind::Folder,
        "post",
        "/study",
        "/venv/share/dropbox-post/librec-auto",
    )
    .unwrap()
}

/// A study folder with `config` as conf/config.xml.
fn study(config: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("conf")).unwrap();
    fs::write(dir.path().join(CONFIG), config).unwrap();
    dir
}

fn read(dir: &TempDir, rel: &str) -> String {
    fs::read_to_string(dir.path().join(rel)).unwrap()
}

#[test]
fn sets_a_study_up_then_finds_nothing_to_do() {
    let dir = study(EXAMPLE_CONFIG);
    let plan = plan(dir.path(), &script(), &|_| {}).unwrap();
    assert!(plan.changes_anything());
    let report = plan.report(false);
    assert_eq!(report.len(), 4, "{report:?}");
    assert!(report[0].ends_with(
        "conf/config.xml: added a dropbox_post.py script (folder post → /study) at line 64"
    ));
    assert!(report[1].ends_with("keys/: created"));
    assert!(report[2].ends_with("keys/.gitattributes: created with *.enc -text"));
    assert!(report[3].ends_with(".gitignore: created with token.txt, pw.txt"));
    plan.apply().unwrap();

    assert_eq!(read(&dir, GITATTRIBUTES), "*.enc -text\n");
    assert_eq!(
        read(&dir, GITIGNORE),
        format!("{IGNORE_HEADER}\ntoken.txt\npw.txt\n")
    );
    let config = read(&dir, CONFIG);
    assert!(
        config.starts_with(
            EXAMPLE_CONFIG
                .strip_suffix("  </post>\n</librec-auto>\n")
                .unwrap()
        )
    );
    // Nothing but the keys folder and the three files, no temporary files left over.
    let names: Vec<_> = snapshot(dir.path()).into_keys().collect();
    assert_eq!(
        names,
        [
            "",
            ".gitignore",
            "conf",
            "conf/config.xml",
            "keys",
            "keys/.gitattributes"
        ]
        .map(PathBuf::from)
    );

    let before = snapshot(dir.path());
    let again = super::plan(dir.path(), &script(), &|_| {}).unwrap();
    assert!(!again.changes_anything());
    assert_eq!(again.config_diff(), "");
    let report = again.report(false);
    assert!(report[0].contains("already posts post → /study (the script on line 64)"));
    assert!(report[1].ends_with("keys/.gitattributes: already has *.enc -text"));
    again.apply().unwrap();
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn the_same_upload_written_differently_is_not_added_again() {
    let dir = study(&EXAMPLE_CONFIG.replace(
        "<param name=\"path\">exp00000</param>",
        "<param name=\"path\"> exp00000/ </param>",
    ));
    let same = Script::new(
        JobKind::File,
        "exp00000",
        "//dropbox-post-demo/exp00000/",
        "s",
    )
    .unwrap();
    let plan = plan(dir.path(), &same, &|_| {}).unwrap();
    assert!(
        plan.report(false)[0].contains("(the script on line 56)"),
        "{:?}",
        plan.report(false)
    );
    assert_eq!(plan.config_diff(), "");
}

#[test]
fn dry_run_diff_shows_only_the_script() {
    let dir = study(EXAMPLE_CONFIG);
    let before = snapshot(dir.path());
    let plan = plan(dir.path(), &script(), &|_| {}).unwrap();
    let diff = plan.config_diff();
    let name = dir.path().join(CONFIG).display().to_string();
    assert!(
        diff.starts_with(&format!("--- {name}\n+++ {name}\n@@ -61,5 +61,13 @@\n")),
        "{diff}"
    );
    let added: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    assert_eq!(added.len(), 8, "{diff}");
    assert!(
        !diff
            .lines()
            .any(|l| l.starts_with('-') && !l.starts_with("---"))
    );
    assert!(plan.report(true)[1].ends_with("keys/: would create"));
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn git_files_keep_their_content_and_line_endings() {
    let dir = study(EXAMPLE_CONFIG);
    fs::create_dir(dir.path().join("keys")).unwrap();
    fs::write(
        dir.path().join(GITATTRIBUTES),
        "*.png binary\r\n*.enc  binary",
    )
    .unwrap();
    fs::write(dir.path().join(GITIGNORE), "/token.txt\r\nout/").unwrap();
    let plan = plan(dir.path(), &script(), &|_| {}).unwrap();
    let report = plan.report(false);
    assert_eq!(report.len(), 3, "{report:?}");
    assert!(report[1].ends_with("already has *.enc -text"));
    assert!(report[2].ends_with(".gitignore: added pw.txt"));
    plan.apply().unwrap();
    assert_eq!(read(&dir, GITATTRIBUTES), "*.png binary\r\n*.enc  binary");
    assert_eq!(
        read(&dir, GITIGNORE),
        format!("/token.txt\r\nout/\r\n{IGNORE_HEADER}\r\npw.txt\r\n")
    );
}

#[test]
fn enc_rules() {
    assert!(has_enc_rule("*.enc -text", ""));
    assert!(has_enc_rule("*.enc\t-diff -text", ""));
    assert!(has_enc_rule("*.enc binary", ""));
    assert!(!has_enc_rule("*.enc text", ""));
    assert!(!has_enc_rule("# *.enc -text", ""));
    assert!(!has_enc_rule("keys/*.enc -text", ""));
}

#[test]
fn bad_studies_are_refused_and_left_alone() {
    type Spoil = fn(&Path);
    let cases: [(&str, Spoil, &str); 7] = [
        (
            "missing",
            |p| fs::remove_dir_all(p).unwrap(),
            "cannot open the study folder",
        ),
        (
            "no conf",
            |p| fs::remove_dir_all(p.join("conf")).unwrap(),
            "no conf/ folder, so not a librec-auto study",
        ),
        (
            "no config",
            |p| fs::remove_file(p.join(CONFIG)).unwrap(),
            "cannot read the study config",
        ),
        (
            "malformed",
            |p| fs::write(p.join(CONFIG), "<librec-auto>\n<post>\n</librec-auto>\n").unwrap(),
            "config.xml:3:",
        ),
        (
            "not librec-auto",
            |p| fs::write(p.join(CONFIG), "<study/>").unwrap(),
            "the root element is <study>",
        ),
        (
            "keys is a file",
            |p| fs::write(p.join("keys"), "x").unwrap(),
            "keys: exists but is not a folder",
        ),
        (
            "gitignore is a folder",
            |p| fs::create_dir(p.join(GITIGNORE)).unwrap(),
            ".gitignore: exists but is a folder; move it away",
        ),
    ];
    for (name, spoil, message) in cases {
        let dir = study(EXAMPLE_CONFIG);
        spoil(dir.path());
        let before = dir.path().exists().then(|| snapshot(dir.path()));
        let error = plan(dir.path(), &script(), &|_| {}).unwrap_err();
        assert!(error.to_string().contains(message), "{name}: {error}");
        assert_eq!(
            dir.path().exists().then(|| snapshot(dir.path())),
            before,
            "{name}"
        );
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    let error = plan(file.path(), &script(), &|_| {}).unwrap_err();
    assert!(error.to_string().contains("not a folder"), "{error}");
}

#[test]
fn an_existing_path_must_be_of_the_option_s_kind() {
    let dir = study(EXAMPLE_CONFIG);
    fs::create_dir(dir.path().join("post")).unwrap();
    let file = Script::new(JobKind::File, "post", "/study", "s").unwrap();
    let error = plan(dir.path(), &file, &|_| {}).unwrap_err();
    assert!(
        error.to_string().ends_with(
            "post is a folder, not a file; pass --option folder, or a --path that is a file"
        ),
        "{error}"
    );
    assert!(matches!(error, StudyError::WrongKind { .. }));
    fs::write(dir.path().join("post/r.csv"), "x").unwrap();
    let folder = Script::new(JobKind::Folder, "post/r.csv", "/study", "s").unwrap();
    assert!(
        plan(dir.path(), &folder, &|_| {})
            .unwrap_err()
            .to_string()
            .contains("is a file, not a folder")
    );
    assert!(plan(dir.path(), &script(), &|_| {}).is_ok());
}

#[test]
fn a_failure_while_writing_leaves_the_study_as_it_was() {
    // Planned with no keys/, which then appears as a file: the config and .gitignore were
    // already staged and must not land, nor their temporary files stay.
    let dir = study(EXAMPLE_CONFIG);
    let plan = plan(dir.path(), &script(), &|_| {}).unwrap();
    fs::write(dir.path().join("keys"), "in the way").unwrap();
    let before = snapshot(dir.path());
    let error = plan.apply().unwrap_err();
    assert!(matches!(error, StudyError::Conflict { .. }), "{error}");
    assert!(
        error.to_string().ends_with(
            "keys: exists but is not a folder; move it away, init puts sealed keys there"
        ),
        "{error}"
    );
    drop(plan);
    assert_eq!(snapshot(dir.path()), before);

    // Planned with keys/, which then goes: keys/.gitattributes cannot be staged.
    let dir = study(EXAMPLE_CONFIG);
    fs::create_dir(dir.path().join("keys")).unwrap();
    let plan = super::plan(dir.path(), &script(), &|_| {}).unwrap();
    fs::remove_dir(dir.path().join("keys")).unwrap();
    let before = snapshot(dir.path());
    assert!(plan.apply().is_err());
    assert_eq!(snapshot(dir.path()), before);
}

#[cfg(unix)]
#[test]
fn modes_are_kept_and_links_refused() {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let dir = study(EXAMPLE_CONFIG);
    let config = dir.path().join(CONFIG);
    fs::set_permissions(&config, fs::Permissions::from_mode(0o640)).unwrap();
    plan(dir.path(), &script(), &|_| {})
        .unwrap()
        .apply()
        .unwrap();
    assert!(read(&dir, CONFIG).contains("<param name=\"dest\">/study</param>"));
    assert_eq!(
        fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o640
    );
    // New files are not private to the owner (tempfile's 0600): they are shared like any.
    let mode = fs::metadata(dir.path().join(GITIGNORE))
        .unwrap()
        .permissions()
        .mode();
    assert_ne!(mode & 0o044, 0, "{mode:o}");

    // Even a link that stays inside the study is refused: what it leads to can change.
    let dir = study(EXAMPLE_CONFIG);
    fs::rename(dir.path().join(CONFIG), dir.path().join("conf/real.xml")).unwrap();
    symlink("real.xml", dir.path().join(CONFIG)).unwrap();
    let error = plan(dir.path(), &script(), &|_| {}).unwrap_err();
    assert!(matches!(error, StudyError::Link(_)), "{error}");
    assert!(
        error.to_string().contains(
            "config.xml is a symbolic link (to real.xml); init writes only inside the study"
        ),
        "{error}"
    );
}

#[test]
fn script_values_are_checked() {
    let bad = |path: &str, dest: &str, src: &str| {
        Script::new(JobKind::Folder, path, dest, src).unwrap_err()
    };
    assert_eq!(bad(" ", "/d", "s"), "--path is empty");
    assert!(bad("a\u{7}b", "/d", "s").contains("control character"));
    assert!(bad("p", "d", "s").contains("--dest: dest \"d\" is not an absolute Dropbox path"));
    assert!(bad("p", "/a/../b", "s").contains(". or .."));
    assert_eq!(bad("p", "/d", ""), "--src is empty");
    let ok = Script::new(JobKind::File, " post/r.csv ", "/a//b/", " s ").unwrap();
    assert_eq!(ok.to_string(), "file post/r.csv → /a/b");
}

#[test]
fn next_steps_end_with_two_commands_from_where_init_ran() {
    let dir = tempfile::tempdir().unwrap();
    let study = dir.path().join("my study");
    fs::create_dir_all(study.join("keys")).unwrap();
    let quoted = |rel: &str| {
        shlex::try_quote(&study.join(rel).display().to_string())
            .unwrap()
            .into_owned()
    };
    let steps = next_steps(&study);
    let lines: Vec<&str> = steps.lines().collect();
    assert_eq!(lines.len(), 4, "{steps}");
    assert!(
        lines[0].starts_with("Next: seal the Dropbox token"),
        "{steps}"
    );
    assert!(lines[1].contains(&format!(
        "dropbox-post auth --app-key KEY --encrypted {}",
        quoted(KEY)
    )));
    assert_eq!(
        lines[2],
        format!(
            "  dropbox-post encrypt --key token.txt --encrypted {}",
            quoted(KEY)
        )
    );
    assert_eq!(
        lines[3],
        format!("  dropbox-post post --config {} --dry-run", quoted(CONFIG))
    );
    fs::write(study.join(KEY), "sealed").unwrap();
    let steps = next_steps(&study);
    assert!(
        steps.starts_with("Next: check the sealed credential"),
        "{steps}"
    );
    assert!(
        steps
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("  dropbox-post key check --encrypted '"),
        "{steps}"
    );
    assert!(
        next_steps(Path::new("."))
            .ends_with("\n  dropbox-post post --config conf/config.xml --dry-run")
    );
}

#[test]
fn default_dest_is_the_study_name() {
    let dir = tempfile::tempdir().unwrap();
    let study = dir.path().join("ml-100k study");
    fs::create_dir(&study).unwrap();
    assert_eq!(default_dest(&study).unwrap(), "/ml-100k study");
    assert_eq!(
        default_dest(&study.join("..").join("ml-100k study")).unwrap(),
        "/ml-100k study"
    );
    let root = default_dest(Path::new("/")).unwrap_err();
    assert_eq!(
        root.to_string(),
        "cannot name a Dropbox folder after /; pass --dest /FOLDER"
    );
    assert!(matches!(root, StudyError::NoDefaultDest { .. }));
    let missing = default_dest(&dir.path().join("nope")).unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("nope: cannot open the study folder"),
        "{missing}"
    );
}

/// The config is renamed after every other file: the lock is on the file it replaces, so the
/// next init locks the new config as soon as it lands and must find the rest done (and a
/// file failing to land leaves the config as it was).
#[test]
fn the_config_is_replaced_last() {
    let dir = study(EXAMPLE_CONFIG);
    let plan = plan(dir.path(), &script(), &|_| {}).unwrap();
    fs::create_dir(dir.path().join(GITIGNORE)).unwrap();
    assert!(plan.apply().is_err());
    assert_eq!(read(&dir, CONFIG), EXAMPLE_CONFIG);
}
