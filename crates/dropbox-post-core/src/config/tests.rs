use std::fs;

use tempfile::TempDir;

use super::*;

/// A study tree: `post/summary.csv`, `exp00000/result/out.txt`, `keys/dropbox.enc`.
/// [`super::load`], its notes ignored.
fn load(config: &Path, target: Option<&Path>) -> Result<StudyConfig, ConfigError> {
    super::load(config, target, &mut |_| {})
}

/// The job of the librec-auto form's script posting `path` of the study at `root` (whose
/// key is keys/dropbox.enc) to `dest`, with every param at its default.
fn job_of(root: &Path, kind: JobKind, path: &str, dest: &str) -> PostJob {
    PostJob {
        script: 1,
        origin: Origin::Args,
        kind,
        encrypted_key: root.join("keys/dropbox.enc"),
        path: root.join(path),
        study_dir: root.to_path_buf(),
        dest: dest.into(),
        share: false,
        outside: false,
        allow_outside: false,
        root: None,
        excludes: vec![],
        includes: vec![],
        delete: false,
    }
}

fn study_tree() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for d in ["conf", "post", "exp00000/result", "keys"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("post/summary.csv"), "a,b\n1,2\n").unwrap();
    fs::write(root.join("exp00000/result/out.txt"), "x").unwrap();
    fs::write(root.join("keys/dropbox.enc"), "sealed").unwrap();
    dir
}

/// A config with the given scripts (each already XML) under `<post>`.
fn config_xml(scripts: &[String]) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<librec-auto>\n  <post>\n{}  </post>\n</librec-auto>\n",
        scripts.concat()
    )
}

/// A `<script>`, one line per element, so line numbers are predictable.
fn script(name: &str, params: &[(&str, &str)]) -> String {
    let mut s = format!(
        "    <script lang=\"python3\" src=\"system\">\n      <script-name>{name}</script-name>\n"
    );
    for (k, v) in params {
        s.push_str(&format!("      <param name=\"{k}\">{v}</param>\n"));
    }
    s.push_str("    </script>\n");
    s
}

fn dropbox(params: &[(&str, &str)]) -> String {
    script("dropbox_post.py", params)
}

const FILE_JOB: [(&str, &str); 5] = [
    ("option", "file"),
    ("encrypted_key", "keys/dropbox.enc"),
    ("path", "post/summary.csv"),
    ("dest", "/study-results"),
    ("password", ""),
];

/// FILE_JOB with one param replaced (or removed when `value` is None).
fn file_job_with(name: &str, value: Option<&str>) -> String {
    let params: Vec<(&str, &str)> = FILE_JOB
        .iter()
        .filter_map(|&(k, v)| match (k == name, value) {
            (false, _) => Some((k, v)),
            (true, Some(new)) => Some((k, new)),
            (true, None) => None,
        })
        .collect();
    dropbox(&params)
}

fn write_config(dir: &TempDir, xml: &str) -> PathBuf {
    let path = dir.path().join("conf/config.xml");
    fs::write(&path, xml).unwrap();
    path
}

fn load_xml(xml: &str) -> (TempDir, Result<StudyConfig, ConfigError>) {
    let dir = study_tree();
    let config = write_config(&dir, xml);
    let result = load(&config, None);
    (dir, result)
}

/// The error of a config holding one dropbox script; returns (problem, line, display).
/// The problem of the file job with `extra` params after its own.
fn file_job_problem(extra: &[(&str, &str)]) -> (Problem, usize, String) {
    script_problem(dropbox(&[&FILE_JOB[..], extra].concat()))
}

fn script_problem(script_xml: String) -> (Problem, usize, String) {
    let (_dir, result) = load_xml(&config_xml(&[script_xml]));
    match result {
        Err(e @ ConfigError::Script { .. }) => {
            let text = e.to_string();
            let ConfigError::Script {
                problem,
                line,
                script,
                name,
                ..
            } = e
            else {
                unreachable!()
            };
            assert_eq!((script, name.as_str()), (1, "dropbox_post.py"));
            (*problem, line, text)
        }
        other => panic!("expected a script error, got {other:?}"),
    }
}

// Lines in a one-script config: 1 <?xml, 2 <librec-auto>, 3 <post>, 4 <script>,
// 5 <script-name>, then one param per line from 6.
const SCRIPT_LINE: usize = 4;
fn param_line(index: usize) -> usize {
    6 + index
}

#[test]
fn happy_path_file_folder_and_foreign_script() {
    let xml = config_xml(&[
        dropbox(&FILE_JOB),
        script("results_graphics.py", &[("option", "x")]),
        script(
            "dropbox-post.py",
            &[
                ("option", " folder "),
                ("encrypted_key", "keys/dropbox.enc"),
                ("path", "exp00000"),
                ("dest", "//study-results//exp00000/"),
                ("password", ""),
                ("share", "true"),
                ("root", " Team "),
            ],
        ),
    ]);
    let (dir, result) = load_xml(&xml);
    let config = result.unwrap();
    let root = std::path::absolute(dir.path()).unwrap();
    assert_eq!(config.study_dir, root);
    assert_eq!(
        config.jobs,
        vec![
            PostJob {
                script: 1,
                origin: Origin::Config { line: 4 },
                ..job_of(&root, JobKind::File, "post/summary.csv", "/study-results")
            },
            PostJob {
                script: 3,
                origin: Origin::Config { line: 4 + 8 + 4 },
                share: true,
                root: Some(Space::Team),
                ..job_of(
                    &root,
                    JobKind::Folder,
                    "exp00000",
                    "/study-results/exp00000"
                )
            },
        ]
    );
}

#[test]
fn entities_and_cdata_in_text_are_decoded() {
    let dir = study_tree();
    fs::write(dir.path().join("post/a&b.csv"), "x").unwrap();
    let xml = config_xml(&[dropbox(&[
        ("option", "File"),
        ("encrypted_key", "<![CDATA[keys/dropbox.enc]]>"),
        ("path", "post/a&amp;b&#46;csv"),
        ("dest", "/r&#x1F600;"),
    ])]);
    let config = load(&write_config(&dir, &xml), None).unwrap();
    assert_eq!(config.jobs[0].path, config.study_dir.join("post/a&b.csv"));
    assert_eq!(config.jobs[0].dest, "/r\u{1F600}");
}

#[test]
fn target_overrides_the_study_dir() {
    let dir = study_tree();
    let other = study_tree();
    let config = write_config(&dir, &config_xml(&[dropbox(&FILE_JOB)]));
    fs::remove_file(dir.path().join("post/summary.csv")).unwrap();
    let loaded = load(&config, Some(other.path())).unwrap();
    assert_eq!(loaded.study_dir, std::path::absolute(other.path()).unwrap());
    assert!(loaded.jobs[0].path.starts_with(other.path()));
}

#[test]
fn config_outside_conf_resolves_against_its_own_folder() {
    let dir = study_tree();
    let config = dir.path().join("study.xml");
    fs::write(&config, config_xml(&[dropbox(&FILE_JOB)])).unwrap();
    let loaded = load(&config, None).unwrap();
    assert_eq!(loaded.study_dir, std::path::absolute(dir.path()).unwrap());
}

#[test]
fn default_study_dir_of_relative_paths() {
    assert_eq!(
        default_study_dir(Path::new("conf/config.xml")),
        Path::new(".")
    );
    assert_eq!(default_study_dir(Path::new("config.xml")), Path::new("."));
    assert_eq!(
        default_study_dir(Path::new("s/conf/config.xml")),
        Path::new("s")
    );
    assert_eq!(
        default_study_dir(Path::new("s/cfg/config.xml")),
        Path::new("s/cfg")
    );
}

#[test]
fn option_no_is_skipped_and_all_no_is_an_error() {
    let no = file_job_with("option", Some("No"));
    let (_d, ok) = load_xml(&config_xml(&[no.clone(), dropbox(&FILE_JOB)]));
    let jobs = ok.unwrap().jobs;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].script, 2);

    // A mirror keeps what is under a disabled script's dest; one that is no Dropbox path
    // protects nothing and breaks nothing.
    let off = |dest| {
        let params = [
            ("option", "no"),
            ("encrypted_key", "x"),
            ("path", "x"),
            ("dest", dest),
        ];
        dropbox(&params)
    };
    let scripts = [
        off("/a//b/"),
        off("relative"),
        off("/c/../d"),
        dropbox(&FILE_JOB),
    ];
    let (_d, ok) = load_xml(&config_xml(&scripts));
    assert_eq!(ok.unwrap().disabled_dests, ["/a/b"]);

    let (_d, err) = load_xml(&config_xml(&[no.clone(), no]));
    let err = err.unwrap_err();
    assert!(matches!(
        err,
        ConfigError::NoDropboxScripts { disabled: 2, .. }
    ));
    assert!(
        err.to_string()
            .contains("all 2 dropbox_post.py script(s) have option No")
    );
}

#[test]
fn no_dropbox_scripts_is_an_error() {
    for xml in [
        config_xml(&[script("result_graphics.py", &[])]),
        "<librec-auto><post/></librec-auto>".to_string(),
        "<librec-auto/>".to_string(),
        // A script outside <post> is not a post script.
        format!(
            "<librec-auto><rerank>{}</rerank></librec-auto>",
            dropbox(&FILE_JOB)
        ),
    ] {
        let (_d, err) = load_xml(&xml);
        let err = err.unwrap_err();
        assert!(
            matches!(err, ConfigError::NoDropboxScripts { disabled: 0, .. }),
            "{xml}: {err:?}"
        );
        assert!(
            err.to_string()
                .contains("config.xml: no post script to run")
        );
    }
}

#[test]
fn missing_params_point_at_the_script() {
    for name in ["option", "encrypted_key", "path", "dest"] {
        let (problem, line, text) = script_problem(file_job_with(name, None));
        assert_eq!(problem, Problem::Missing(name));
        assert_eq!(line, SCRIPT_LINE);
        assert!(
            text.contains(&format!(
                "config.xml:4: post script 1 (dropbox_post.py): param \"{name}\" is missing"
            )),
            "{text}"
        );
    }
}

#[test]
fn password_param_is_optional() {
    let (_d, ok) = load_xml(&config_xml(&[file_job_with("password", None)]));
    assert_eq!(ok.unwrap().jobs.len(), 1);
}

#[test]
fn unknown_unnamed_and_duplicate_params() {
    let mut params = FILE_JOB.to_vec();
    params.push(("colour", "blue"));
    let (problem, line, _) = script_problem(dropbox(&params));
    assert_eq!(problem, Problem::Unknown("colour".into()));
    assert_eq!(line, param_line(5));

    params.pop();
    params.push(("dest", "/other"));
    let (problem, line, text) = script_problem(dropbox(&params));
    assert_eq!(
        problem,
        Problem::Duplicate {
            name: "dest".into(),
            first_line: param_line(3)
        }
    );
    assert_eq!(line, param_line(5));
    assert!(text.contains("config.xml:11:"), "{text}");
    assert!(text.contains("given twice (first on line 9)"), "{text}");

    let xml = dropbox(&FILE_JOB).replace("<param name=\"path\">", "<param>");
    let (problem, line, _) = script_problem(xml);
    assert_eq!(problem, Problem::Unnamed);
    assert_eq!(line, SCRIPT_LINE);
}

#[test]
fn bad_option_and_share() {
    let (problem, line, text) = script_problem(file_job_with("option", Some("files")));
    assert_eq!(problem, Problem::BadOption("files".into()));
    assert_eq!(line, param_line(0));
    assert!(text.contains("config.xml:6:"), "{text}");

    let (problem, _, _) = script_problem(file_job_with("option", Some("")));
    assert_eq!(problem, Problem::Empty("option"));

    let (problem, line, _) = file_job_problem(&[("share", "yes")]);
    let bad = |param, value: &str| Problem::BadFlag {
        param,
        value: value.into(),
    };
    assert_eq!(problem, bad("share", "yes"));
    assert_eq!(line, param_line(5));
    assert_eq!(
        file_job_problem(&[("delete", "often")]).0,
        bad("delete", "often")
    );

    let (problem, line, text) = file_job_problem(&[("root", "shared")]);
    assert_eq!(problem, Problem::BadRoot("shared".into()));
    assert_eq!(line, param_line(5));
    assert!(
        text.contains("root \"shared\" is not home or team"),
        "{text}"
    );
}

#[test]
fn filters_and_delete_params() {
    let mut params = FILE_JOB.to_vec();
    params.extend([
        ("exclude", "*.ckpt"),
        ("include", "*.csv"),
        ("exclude", " data/ "),
        ("exclude", ""),
        ("delete", "TRUE"),
    ]);
    let (_dir, result) = load_xml(&config_xml(&[dropbox(&params)]));
    let job = result.unwrap().jobs.remove(0);
    let glob = |glob: &str, index| ConfigGlob {
        glob: glob.into(),
        line: param_line(index),
    };
    assert_eq!(job.excludes, vec![glob("*.ckpt", 5), glob("data/", 7)]);
    assert_eq!(job.includes, vec![glob("*.csv", 6)]);
    assert!(job.delete);

    let (problem, line, text) = file_job_problem(&[("exclude", "*.ckpt"), ("exclude", "!keep")]);
    assert!(
        matches!(
            problem,
            Problem::BadPattern {
                param: "exclude",
                ..
            }
        ),
        "{problem:?}"
    );
    assert_eq!(line, param_line(6));
    assert!(text.contains("--include"), "{text}");
}

#[test]
fn password_in_config_is_refused() {
    let (problem, line, text) = script_problem(file_job_with("password", Some("hunter2")));
    assert_eq!(problem, Problem::PasswordInConfig);
    assert_eq!(line, param_line(4));
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("committed in clear"), "{text}");
}

#[test]
fn bad_dests() {
    let long_name = format!("/{}", "n".repeat(256));
    let long_path = "/abcd".repeat(1000);
    for (dest, expected) in [
        ("study", Problem::DestNotAbsolute("study".into())),
        ("", Problem::Empty("dest")),
        ("/a/../b", Problem::DestDotSegment("/a/../b".into())),
        ("/a/./b", Problem::DestDotSegment("/a/./b".into())),
        ("/a\tb", Problem::DestControl("/a\tb".into())),
        ("/a&#127;", Problem::DestControl("/a\u{7f}".into())),
        ("/a\u{202e}b", Problem::DestControl("/a\u{202e}b".into())),
        ("/a\\..\\b", Problem::DestDotSegment("/a\\..\\b".into())),
        ("/a/.\\b", Problem::DestDotSegment("/a/.\\b".into())),
        (
            long_name.as_str(),
            Problem::DestNameTooLong(long_name.clone()),
        ),
        (long_path.as_str(), Problem::DestTooLong(long_path.clone())),
    ] {
        let (problem, line, _) = script_problem(file_job_with("dest", Some(dest)));
        assert_eq!(problem, expected, "{dest:?}");
        assert_eq!(line, param_line(3));
    }
}

#[test]
fn dest_normalisation() {
    for (given, normal) in [
        ("/", "/"),
        ("//", "/"),
        ("/a", "/a"),
        ("/a/", "/a"),
        ("//a///b//", "/a/b"),
        ("/a.b/..c/ü", "/a.b/..c/ü"),
    ] {
        assert_eq!(normalize_dest(given).unwrap(), normal, "{given}");
    }
}

#[test]
fn paths_must_exist_with_the_right_kind() {
    let cases = [
        ("path", "post/missing.csv", "file", "does not exist"),
        ("path", "exp00000", "file", "is not a file"),
        ("path", "post/summary.csv", "folder", "is not a folder"),
        ("path", "", "file", "is empty"),
        (
            "encrypted_key",
            "keys/missing.enc",
            "file",
            "does not exist",
        ),
        ("encrypted_key", "keys", "file", "is not a file"),
    ];
    for (param, value, option, message) in cases {
        let params: Vec<(&str, &str)> = FILE_JOB
            .iter()
            .map(|&(k, v)| match k {
                "option" => (k, option),
                _ if k == param => (k, value),
                _ => (k, v),
            })
            .collect();
        let index = FILE_JOB.iter().position(|(k, _)| *k == param).unwrap();
        let (problem, line, text) = script_problem(dropbox(&params));
        assert_eq!(problem.param(), Some(param), "{problem:?}");
        assert_eq!(line, param_line(index));
        assert!(text.contains(message), "{text}");
        assert!(
            text.contains(&format!("config.xml:{line}: post script 1")),
            "{text}"
        );
    }
}

#[test]
fn first_bad_script_wins_after_good_ones() {
    let xml = config_xml(&[dropbox(&FILE_JOB), file_job_with("dest", Some("relative"))]);
    let (_d, err) = load_xml(&xml);
    let text = err.unwrap_err().to_string();
    assert!(
        text.contains("config.xml:17: post script 2 (dropbox_post.py): dest \"relative\""),
        "{text}"
    );
}

#[test]
fn malformed_xml_gives_line_and_column() {
    let cases = [
        (
            "<librec-auto>\n  <post>\n  </posts>\n</librec-auto>",
            3,
            "this end tag does not close <post>",
        ),
        ("<librec-auto>\n  <post>\n", 3, "is not closed"),
        (
            "<librec-auto>\n <post a=\"1></post>",
            2,
            "attribute value not closed",
        ),
        (
            "<librec-auto>\n\n  x &nbsp; y</librec-auto>",
            3,
            "an unknown entity; write & as &amp;",
        ),
        ("", 1, "no root element"),
        ("<librec-auto/>\n<librec-auto/>", 2, "a second root element"),
    ];
    for (xml, line, message) in cases {
        let (_d, err) = load_xml(xml);
        match err.unwrap_err() {
            e @ ConfigError::Xml { .. } => {
                let text = e.to_string();
                let ConfigError::Xml { line: got, .. } = e else {
                    unreachable!()
                };
                assert_eq!(got, line, "{xml:?}: {text}");
                assert!(text.contains(message), "{text}");
                assert!(text.contains("config.xml:"), "{text}");
            }
            other => panic!("{xml:?}: {other:?}"),
        }
    }
}

#[test]
fn column_counts_characters() {
    assert_eq!(position("ab\ncü d", 7), (2, 4));
    assert_eq!(position("abc", 0), (1, 1));
}

#[test]
fn wrong_root_element() {
    let (_d, err) = load_xml("<?xml version=\"1.0\"?>\n<project><post/></project>");
    let err = err.unwrap_err();
    assert!(matches!(&err, ConfigError::NotLibrecAuto { found, .. } if found == "project"));
    assert!(err.to_string().contains("not <librec-auto>"));
}

#[test]
fn unreadable_configs() {
    let dir = study_tree();
    let err = load(&dir.path().join("conf/none.xml"), None).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().starts_with("cannot read the study config "));

    let config = dir.path().join("conf/config.xml");
    fs::write(&config, b"<librec-auto>\xff</librec-auto>").unwrap();
    let err = load(&config, None).unwrap_err();
    assert!(err.to_string().contains("not UTF-8"), "{err}");
}

#[test]
fn job_from_args_forms() {
    let dir = study_tree();
    let root = std::path::absolute(dir.path()).unwrap();
    let job = job_from_args(dir.path(), "folder", "keys/dropbox.enc", "exp00000", "/x/")
        .unwrap()
        .unwrap();
    assert_eq!(job, job_of(&root, JobKind::Folder, "exp00000", "/x"));
    assert_eq!(job_from_args(dir.path(), "No", "", "", "").unwrap(), None);

    let err = job_from_args(dir.path(), "file", "keys/dropbox.enc", "nope", "/x").unwrap_err();
    assert!(
        matches!(&err, ConfigError::Args { problem }
            if matches!(**problem, Problem::NotFound { param: "path", .. })),
        "{err:?}"
    );
    let err = job_from_args(dir.path(), "copy", "k", "p", "/x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "command line (librec-auto's --option form): option \"copy\" is not file, folder or No"
    );
}

#[test]
fn example_study_config_loads() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/study");
    let dir = tempfile::tempdir().unwrap();
    for entry in walkdir::WalkDir::new(&example) {
        let entry = entry.unwrap();
        let to = dir
            .path()
            .join(entry.path().strip_prefix(&example).unwrap());
        if entry.file_type().is_dir() {
            fs::create_dir_all(&to).unwrap();
        } else {
            fs::copy(entry.path(), &to).unwrap();
        }
    }
    let config = dir.path().join("conf/config.xml");
    assert!(matches!(
        load(&config, None),
        Err(ConfigError::Script { ref problem, .. })
            if matches!(**problem, Problem::NotFound { param: "encrypted_key", .. })
    ));
    fs::create_dir(dir.path().join("keys")).unwrap();
    fs::write(dir.path().join("keys/dropbox.enc"), "sealed").unwrap();
    let jobs = load(&config, None).unwrap().jobs;
    let summary: Vec<_> = jobs
        .iter()
        .map(|j| (j.script, j.kind, j.dest.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (1, JobKind::File, "/dropbox-post-demo"),
            (3, JobKind::Folder, "/dropbox-post-demo/exp00000"),
        ]
    );
}

#[test]
fn entities_declared_in_a_dtd_are_not_expanded_and_huge_files_are_not_read() {
    let dir = study_tree();
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<librec-auto><post><script><script-name>dropbox_post.py</script-name>
<param name="dest">/r&lol2;</param></script></post></librec-auto>"#;
    let err = load(&write_config(&dir, laughs), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("an unknown entity"), "{err}");

    let huge = dir.path().join("conf/huge.xml");
    let file = fs::File::create(&huge).unwrap();
    file.set_len(MAX_CONFIG_BYTES + 1).unwrap();
    let err = load(&huge, None).unwrap_err().to_string();
    assert!(err.contains("larger than 16 MiB"), "{err}");
}

/// Found by `cargo fuzz run config`: values, paths and XML names were repeated whole, so a
/// newline or a few KiB in the config made a multi-line, unbounded error.
#[test]
fn messages_are_one_bounded_line_whatever_the_config_holds() {
    let one_bounded_line = |text: &str| {
        assert!(!text.contains(['\n', '\r']), "{text}");
        assert!(
            text.chars().count() < 1024,
            "{} chars",
            text.chars().count()
        );
    };
    let long = "v".repeat(4000);
    for (name, value) in [
        ("option", long.as_str()),
        ("path", "a\nb.csv"),
        ("path", &long),
        ("encrypted_key", "k\r\n.enc"),
        ("dest", &long),
        ("share", &long),
        ("root", &long),
    ] {
        let mut params = FILE_JOB.to_vec();
        params.retain(|(k, _)| *k != name);
        params.push((name, value));
        let (_, _, text) = script_problem(dropbox(&params));
        one_bounded_line(&text);
    }
    let mut params = FILE_JOB.to_vec();
    params.push((&long, "x"));
    one_bounded_line(&script_problem(dropbox(&params)).2);

    for xml in [
        format!("<{long}/>"),
        format!("<librec-auto><post></{long}></post></librec-auto>"),
        format!("<librec-auto><post>&{long};</post></librec-auto>"),
    ] {
        let result = from_text(&xml, "config.xml".into(), "/study".into(), &mut |_| {});
        one_bounded_line(&result.unwrap_err().to_string());
    }
    let other = config_xml(&[script("a\nb.py", &[]), dropbox(&FILE_JOB)]);
    let mut notes = Vec::new();
    let _ = from_text(&other, "config.xml".into(), "/study".into(), &mut |n| {
        notes.push(n)
    });
    assert_eq!(notes.len(), 1);
    one_bounded_line(&notes[0]);
}

/// Found by `cargo fuzz run config`: a broken end tag swallowed the next param, and the XML
/// error quoted it, password and all.
#[test]
fn xml_errors_never_quote_the_document() {
    let dir = study_tree();
    for broken in [
        r#"<librec-auto><post><script></parm"><param name="password">hunter2-secret</param></script></post></librec-auto>"#,
        r#"<librec-auto><post><script><param name="password">hunter2<secret</param></script></post></librec-auto>"#,
        r#"<librec-auto><post><script><param name="password">hunter2&secret;</param></script></post></librec-auto>"#,
    ] {
        let err = load(&write_config(&dir, broken), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("malformed XML"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }
    let err = load(
        &write_config(&dir, "<librec-auto><post><script></post></librec-auto>"),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("does not close <script>"), "{err}");
}

/// Issue 17: deep nesting was parsed in quadratic time and an element inside a param cut
/// its text short (dest `/a<x>b</x>` became `/a`). Both are refused now, with a place.
#[test]
fn deep_nesting_and_elements_in_params_are_refused() {
    let deep = format!(
        "<librec-auto><post>{}{}</post></librec-auto>",
        "<a>".repeat(100_000),
        "</a>".repeat(100_000)
    );
    let (_dir, result) = load_xml(&deep);
    let err = result.unwrap_err().to_string();
    assert!(err.contains("nested more than 256 deep"), "{err}");

    let (_dir, result) = load_xml(&config_xml(&[file_job_with(
        "dest",
        Some("/a<x><x>b</x></x>"),
    )]));
    let err = result.unwrap_err().to_string();
    assert!(err.contains("<param> holds an element"), "{err}");
    assert!(err.contains("config.xml:"), "{err}");
    let (_dir, result) = load_xml(&config_xml(&[script("dropbox_post.py<b/>", &FILE_JOB)]));
    let err = result.unwrap_err().to_string();
    assert!(err.contains("<script-name> holds an element"), "{err}");
}

/// Line numbers are counted once over the text, so thousands of scripts keep their own.
#[test]
fn many_scripts_keep_their_lines() {
    let scripts = vec![dropbox(&FILE_JOB); 5_000];
    let (_dir, result) = load_xml(&config_xml(&scripts));
    let jobs = result.unwrap().jobs;
    assert_eq!(jobs.len(), 5_000);
    let lines_per_script = FILE_JOB.len() + 3;
    let line = 4 + 4_999 * lines_per_script;
    assert_eq!(jobs[4_999].origin, Origin::Config { line });
    assert_eq!(jobs[4_999].script, 5_000);
}

#[cfg(unix)]
#[test]
fn paths_outside_the_study_are_marked() {
    let dir = study_tree();
    let elsewhere = tempfile::tempdir().unwrap();
    fs::write(elsewhere.path().join("secret.txt"), "s").unwrap();
    std::os::unix::fs::symlink(elsewhere.path().join("secret.txt"), dir.path().join("link"))
        .unwrap();
    let outside = |path: &str| {
        job_from_args(dir.path(), "file", "keys/dropbox.enc", path, "/x")
            .unwrap()
            .unwrap()
            .outside
    };
    assert!(!outside("post/summary.csv"));
    assert!(!outside("post/../post/summary.csv"));
    assert!(outside(
        elsewhere.path().join("secret.txt").to_str().unwrap()
    ));
    assert!(outside("link"), "a symlink is judged by where it leads");
}
