//! Issue 21: one place decides whether a local path may be posted. Every way a file that a
//! filter names could still reach Dropbox is a row of one table, checked against what the
//! emulator received (its store and its request log), not against what the client reports.
//! Also: files of two scripts that would be one file on Dropbox, and the local side of a
//! folder a dry run would create.

use std::path::Path;

use crate::harness::{
    Emulator, Study, TestEnv, assert_success, json_of, pattern, stderr, stdout, tree,
};

/// Starts every secret: what must never be found in the emulator's root.
const MARKER: &[u8] = b"SECRET-d41c-never-on-dropbox";
/// A secret's size: far more than everything else a row posts, so that the upload routes'
/// byte count shows whether it went.
const SECRET_LEN: usize = 64 * 1024;
const NFC: &str = "r\u{e9}sum\u{e9}.pdf";
const NFD: &str = "re\u{301}sume\u{301}.pdf";

type Script<'a> = (&'a str, &'a str, &'a str);
type Params<'a> = &'a [(&'a str, &'a str)];

fn secret() -> Vec<u8> {
    let mut bytes = MARKER.to_vec();
    bytes.extend(pattern(SECRET_LEN - MARKER.len(), 21));
    bytes
}

/// A study posting `public.csv` to `/pub` first, then `scripts`: a secret the run sent
/// before it noticed a mistake would be sent by the first script.
fn config(study: &Study, scripts: &[(Script, Params)]) {
    study.write("public.csv", b"public\n");
    let mut all: Vec<(Script, Params)> = vec![(("file", "public.csv", "/pub"), &[])];
    all.extend_from_slice(scripts);
    study.config_scripts(&all);
}

/// A folder script posting `post/` (`ok.csv`, and the secret at `rel`) to `/s`.
fn post_folder(study: &Study, rel: &str) {
    study.write(&format!("post/{rel}"), secret());
    study.write("post/ok.csv", b"ok\n");
    config(study, &[(("folder", "post", "/s"), &[])]);
}

fn link(study: &Study, target: &str, at: &str) {
    std::os::unix::fs::symlink(target, study.path(at)).unwrap();
}

/// `text` as UTF-16 with a byte-order mark, little- or big-endian (PowerShell 5's
/// `"keys/" > .dropboxignore` writes the little-endian form).
fn utf16(text: &str, little: bool) -> Vec<u8> {
    let mut out = if little {
        vec![0xFF, 0xFE]
    } else {
        vec![0xFE, 0xFF]
    };
    for unit in text.encode_utf16() {
        out.extend(if little {
            unit.to_le_bytes()
        } else {
            unit.to_be_bytes()
        });
    }
    out
}

/// Everything in the study but its sealed key, so that the next row starts afresh.
fn clear(study: &Study) {
    for entry in std::fs::read_dir(study.path("")).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == "keys" {
            for key in std::fs::read_dir(&path).unwrap() {
                let key = key.unwrap().path();
                if key.file_name().unwrap() != "dropbox.enc" {
                    remove(&key);
                }
            }
        } else {
            remove(&path);
        }
    }
}

fn remove(path: &Path) {
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        std::fs::remove_dir_all(path).unwrap();
    } else {
        std::fs::remove_file(path).unwrap();
    }
}

/// Whether any file under `dir` holds [`MARKER`].
fn holds_marker(dir: &Path) -> bool {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .any(|e| {
            let bytes = std::fs::read(e.path()).unwrap_or_default();
            bytes.windows(MARKER.len()).any(|w| w == MARKER)
        })
}

struct Row {
    name: &'static str,
    /// Writes the row's files, links and config.
    build: fn(&Study),
    flags: &'static [&'static str],
    /// A config error: exit 3 before anything is sent.
    refused: bool,
}

const fn row(name: &'static str, flags: &'static [&'static str], build: fn(&Study)) -> Row {
    Row {
        name,
        build,
        flags,
        refused: false,
    }
}

const fn refused(name: &'static str, build: fn(&Study)) -> Row {
    Row {
        name,
        build,
        flags: &[],
        refused: true,
    }
}

const ROWS: &[Row] = &[
    row(
        "script file under an excluded folder",
        &["--exclude", "keys/"],
        |s| {
            s.write("keys/token.txt", secret());
            config(s, &[(("file", "keys/token.txt", "/s"), &[])]);
        },
    ),
    row(
        "script file named by its study path",
        &["--exclude", "keys/token.txt"],
        |s| {
            s.write("keys/token.txt", secret());
            config(s, &[(("file", "keys/token.txt", "/s"), &[])]);
        },
    ),
    row(
        "script file under **/keys/**",
        &["--exclude", "**/keys/**"],
        |s| {
            s.write("keys/token.txt", secret());
            config(s, &[(("file", "keys/token.txt", "/s"), &[])]);
        },
    ),
    row("script folder excluded", &["--exclude", "keys/"], |s| {
        s.write("keys/token.txt", secret());
        config(s, &[(("folder", "keys", "/s"), &[])]);
    }),
    row(
        "script folder under **/keys/**",
        &["--exclude", "**/keys/**"],
        |s| {
            s.write("keys/token.txt", secret());
            config(s, &[(("folder", "keys", "/s"), &[])]);
        },
    ),
    row(
        "script folder reached by a symlink",
        &["--exclude", "keys/"],
        |s| {
            s.write("keys/token.txt", secret());
            link(s, "keys", "results");
            config(s, &[(("folder", "results", "/s"), &[])]);
        },
    ),
    row(
        "script file that is a symlink",
        &["--exclude", "keys/"],
        |s| {
            s.write("keys/token.txt", secret());
            s.write("post/ok.csv", b"ok\n");
            link(s, "../keys/token.txt", "post/latest.txt");
            config(s, &[(("file", "post/latest.txt", "/s"), &[])]);
        },
    ),
    row(
        "symlink to an excluded folder inside",
        &["--exclude", "keys/"],
        |s| {
            post_folder(s, "keys/token.txt");
            link(s, "keys", "post/latest");
        },
    ),
    row(
        "symlink to an excluded folder outside",
        &["--exclude", "keys/", "--allow-outside"],
        |s| {
            s.write("keys/token.txt", secret());
            s.write("post/ok.csv", b"ok\n");
            link(s, "../keys", "post/latest");
            config(s, &[(("folder", "post", "/s"), &[])]);
        },
    ),
    row(
        "symlink to an excluded file outside",
        &["--exclude", "*.env", "--allow-outside"],
        |s| {
            s.write(".env", secret());
            s.write("post/ok.csv", b"ok\n");
            link(s, "../.env", "post/env-copy");
            config(s, &[(("folder", "post", "/s"), &[])]);
        },
    ),
    row("symlink to a file an ignore file names", &[], |s| {
        post_folder(s, "hidden/token.txt");
        s.write("post/.dropboxignore", b"hidden/\n");
        link(s, "hidden/token.txt", "post/a-link.txt");
    }),
    row("nested ignore file", &[], |s| {
        post_folder(s, "run/token.txt");
        s.write("post/run/.dropboxignore", b"token.txt\n");
    }),
    // Issue 21 red team: one folder on Dropbox, two here; the second one's ignore file
    // was never read.
    row(
        "ignore file in the second of two folders that fold together",
        &[],
        |s| {
            s.write("post/Sub/a.csv", b"a\n");
            post_folder(s, "sub/token.txt");
            s.write("post/sub/.dropboxignore", b"token.txt\n");
        },
    ),
    row("UTF-16 LE ignore file", &[], |s| {
        post_folder(s, "keys/token.txt");
        s.write("post/.dropboxignore", utf16("keys/\r\n", true));
    }),
    row("UTF-16 BE ignore file", &[], |s| {
        post_folder(s, "keys/token.txt");
        s.write("post/.dropboxignore", utf16("keys/\r\n", false));
    }),
    row("ignore file with CR line ends", &[], |s| {
        post_folder(s, "keys/token.txt");
        s.write("post/.dropboxignore", b"# secrets\rkeys/\r");
    }),
    row("NFD name, NFC --exclude", &["--exclude", NFC], |s| {
        post_folder(s, NFD);
    }),
    row("NFC name, NFD ignore line", &[], |s| {
        post_folder(s, NFC);
        s.write("post/.dropboxignore", format!("{NFD}\n"));
    }),
    row("--exclude", &["--exclude", "token.txt"], |s| {
        post_folder(s, "token.txt");
    }),
    row("the script's exclude param", &[], |s| {
        s.write("post/token.txt", secret());
        let params: Params = &[("exclude", "token.txt")];
        config(s, &[(("folder", "post", "/s"), params)]);
    }),
    row(
        "a config's allow_outside past --exclude",
        &["--exclude", "keys/"],
        |s| {
            s.write("../other/keys/token.txt", secret());
            let params: Params = &[("allow_outside", "true")];
            config(s, &[(("file", "../other/keys/token.txt", "/s"), params)]);
        },
    ),
    row(
        "a link in the study leading out, posted as the script's folder",
        &["--exclude", "keys/"],
        |s| {
            s.write("../other/keys/token.txt", secret());
            link(s, "../other/keys", "results");
            let params: Params = &[("allow_outside", "true")];
            config(s, &[(("folder", "results", "/s"), params)]);
        },
    ),
    refused("dangling ignore file", |s| {
        post_folder(s, "token.txt");
        link(s, "nowhere", "post/.dropboxignore");
    }),
    refused("Latin-1 ignore file", |s| {
        post_folder(s, NFC);
        s.write("post/.dropboxignore", b"r\xe9sum\xe9.pdf\n");
    }),
    refused("nested UTF-16 ignore file without a BOM", |s| {
        post_folder(s, "sub/keys/token.txt");
        let bom = utf16("keys/\n", true);
        s.write("post/sub/.dropboxignore", &bom[2..]);
    }),
    // Each line parses; together they pass globset's size limit (issue 21 red team).
    refused("an exclude param too large to compile", |s| {
        s.write("post/token.txt", secret());
        let big = format!("*{}", "?".repeat(160_000));
        config(s, &[(("folder", "post", "/s"), &[("exclude", &big)])]);
    }),
    refused("an ignore file too large to compile", |s| {
        post_folder(s, "token.txt");
        let big = format!("token.txt\n*{}\n", "?".repeat(160_000));
        s.write("post/.dropboxignore", big);
    }),
    refused("FIFO ignore file", |s| {
        post_folder(s, "token.txt");
        let fifo = s.path("post/.dropboxignore");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
    }),
];

/// Why `row` let its secret through or was not refused as it should be; `None` if it held.
fn breach(study: &Study, row: &Row) -> Option<String> {
    clear(study);
    (row.build)(study);
    let emu = Emulator::start(&["-v"]);
    let out = study.post_at(&emu.url, row.flags).output().unwrap();
    let sent = emu.bytes_in("/2/files/upload");
    let code = out.status.code();
    let held = !holds_marker(&emu.root())
        && if row.refused {
            code == Some(3) && sent == 0 && tree(&emu.file("/")).is_empty()
        } else {
            code == Some(0) && sent < SECRET_LEN as u64 && emu.file("/pub/public.csv").is_file()
        };
    (!held).then(|| {
        format!(
            "{}: exit {code:?}, {sent} bytes sent\n{}",
            row.name,
            stderr(&out)
        )
    })
}

#[test]
fn no_secret_a_filter_names_reaches_dropbox() {
    let env = TestEnv::new();
    let study = env.study();
    let breaches: Vec<String> = ROWS.iter().filter_map(|row| breach(&study, row)).collect();
    assert!(breaches.is_empty(), "{}", breaches.join("\n"));
}

#[test]
fn scripts_posting_one_dropbox_name_are_refused_before_anything_is_sent() {
    let env = TestEnv::new();
    let study = env.study();
    study.write("run1/metrics.csv", b"run 1\n");
    study.write("run2/Metrics.csv", b"run 2\n");
    study.write("run2/other.csv", b"other\n");
    study.config(&[("file", "run1/metrics.csv", "/s"), ("folder", "run2", "/s")]);
    let out = study.post(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let text = stderr(&out);
    for file in ["run1/metrics.csv", "run2/Metrics.csv"] {
        assert!(
            text.contains(&*study.path(file).to_string_lossy()),
            "{text}"
        );
    }
    assert_eq!(tree(&env.emulator().file("/s")), ["other.csv"]);

    // The same file twice into one place is no clash.
    study.config(&[("folder", "run2", "/t"), ("file", "run2/other.csv", "/t")]);
    assert_success(&study.post(&[]).output().unwrap());
}

#[test]
fn a_dry_run_names_the_local_folder_it_would_create() {
    let env = TestEnv::new();
    let study = env.study();
    std::fs::create_dir_all(study.path("s/cafe")).unwrap();
    study.config(&[("folder", "s", "/s")]);
    let local = study.path("s/cafe").to_string_lossy().into_owned();
    let out = study.post(&["--dry-run"]).output().unwrap();
    assert_success(&out);
    let want = format!("would create folder {local} -> /s/cafe");
    assert!(stdout(&out).contains(&want), "{}", stdout(&out));
    let out = study.post(&["--dry-run", "--json"]).output().unwrap();
    let plan = &json_of(&out)["scripts"][0]["plan"][0];
    assert_eq!(plan["path"], local.as_str());
    assert_eq!(plan["remote"], "/s/cafe");
}
