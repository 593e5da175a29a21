//! `dropbox-post get`: download a Dropbox file or folder. Each file streams to a temporary
//! file beside its destination, its content hash is checked against Dropbox's, and only
//! then does it replace the destination; local files with the same size and hash are kept.
//! Below the target (LOCAL, or a single file's folder) every path is reached through
//! [`dropbox_post_core::files::confine`]: a symbolic link already there is refused, never written through.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Args;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::credential::RemoteArgs;
use crate::commands::browse::{relative, remote_path};
use crate::exit::{CmdResult, ExitKind, Failure};
use dropbox_post_core::dropbox::client::DropboxClient;
use dropbox_post_core::dropbox::content_hash::ContentHasher;
use dropbox_post_core::dropbox::error::ApiError;
use dropbox_post_core::dropbox::path::key;
use dropbox_post_core::dropbox::space;
use dropbox_post_core::dropbox::types::{FileMetadata, Metadata};
use dropbox_post_core::files::Existing;
use dropbox_post_core::files::confine::{Folder, Missing, Refused};
use dropbox_post_core::redact::untrusted;

/// Downloads in flight at once.
const PARALLEL: usize = 4;

const AFTER_HELP: &str = "\
A file lands at LOCAL, or inside LOCAL when that is an existing folder. A folder's contents
land under LOCAL (created if needed). A symbolic link already below LOCAL is never written
through: each file behind it fails; nor is anything in a .git folder written (its config
and hooks run commands). Each file lands only when its size and content hash are Dropbox's;
an interrupted get leaves no partial file. Exit 6 if any file failed (each is listed).

Examples:
  dropbox-post get /results/summary.csv . --encrypted keys/dropbox.enc
  dropbox-post get /results results-copy --config study/conf/config.xml
  dropbox-post get \"/Lab Results/run-7\" run-7 --root team --encrypted keys/dropbox.enc";

/// Download a Dropbox file or folder.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct GetArgs {
    /// The Dropbox file or folder, e.g. /results.
    #[arg(value_name = "REMOTE")]
    pub remote_path: String,

    /// Where to put it locally.
    #[arg(value_name = "LOCAL")]
    pub local: PathBuf,

    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug)]
enum GetError {
    Api(ApiError),
    Local(std::io::Error),
    Refused(Refused),
    Mismatch(String),
}

impl std::fmt::Display for GetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GetError::Api(e) => write!(f, "{e}"),
            GetError::Local(e) => write!(f, "{e}"),
            GetError::Refused(r @ Refused::Link { .. }) => write!(
                f,
                "{r}; get writes only into the target folder, never through a link: remove the \
                 link, or get into another folder"
            ),
            GetError::Refused(r) => write!(f, "{r}"),
            GetError::Mismatch(m) => write!(f, "{m}"),
        }
    }
}

/// A remote file and where it lands below the folder written into.
type Download = (FileMetadata, PathBuf);

/// What `get` writes: the folder it writes into, and each file below it.
struct Plan {
    root: Folder,
    files: Vec<Download>,
    /// Files of the listing that are not written (each was reported).
    refused_files: usize,
    /// Folders of the listing that could not be made (each was reported).
    failed_folders: usize,
}

enum Done {
    Downloaded(u64),
    Skipped,
}

pub fn run(args: GetArgs) -> CmdResult {
    let path = remote_path(&args.remote_path);
    let client = args.remote.client()?;
    super::runtime()?.block_on(async {
        let client = space::enter(client, args.remote.root).await?;
        // On Ctrl-C or SIGTERM the downloads in flight are dropped, which removes their
        // temporary files; only then does the process end.
        tokio::select! {
            done = get(&client, &path, &args.local) => done,
            stop = dropbox_post_core::process::stop_requested() => stop.end_process(),
        }
    })
}

async fn get(client: &DropboxClient, path: &str, local: &Path) -> CmdResult {
    let Plan {
        root,
        files,
        refused_files,
        failed_folders,
    } = plan(client, path, local).await?;
    let total = files.len() + refused_files;
    let root = &root;
    let mut results = futures_util::stream::iter(files)
        .map(|(remote, rel)| async move {
            let outcome = fetch(client, root, &remote, &rel).await;
            (remote, rel, outcome)
        })
        .buffer_unordered(PARALLEL);
    let (mut bytes, mut got, mut skipped, mut failed) = (0u64, 0usize, 0usize, refused_files);
    let mut fatal = None;
    while let Some((remote, rel, outcome)) = results.next().await {
        let shown = untrusted(remote.path_display.as_deref().unwrap_or(&remote.name));
        let dest = untrusted(&root.shown(&rel).to_string_lossy());
        match outcome {
            Ok(Done::Downloaded(n)) => {
                tracing::info!("{shown} -> {dest}: {n} bytes");
                bytes += n;
                got += 1;
            }
            Ok(Done::Skipped) => {
                tracing::info!("{shown}: {dest} is identical, skipped");
                skipped += 1;
            }
            // A refused credential or permission refuses every other file too: stop (the
            // downloads in flight are dropped with their temp files) and say it once.
            Err(GetError::Api(api)) if crate::exit::api_kind(&api) == ExitKind::Auth => {
                fatal = Some(api);
                break;
            }
            Err(e) => {
                eprintln!("dropbox-post: failed: {shown} -> {dest}: {e}");
                failed += 1;
            }
        }
    }
    if let Some(e) = fatal {
        eprintln!("got {got} of {total} files ({bytes} bytes) before Dropbox refused the rest");
        return Err(e.into());
    }
    eprintln!(
        "got {got} files ({bytes} bytes), skipped {skipped} identical, {failed} failed of {total}"
    );
    if failed + failed_folders > 0 {
        let folders = match failed_folders {
            0 => String::new(),
            n => format!(" and {n} folders"),
        };
        return Err(Failure::msg(
            ExitKind::Transfer,
            format!(
                "{failed} of {total} files{folders} failed (each is listed above); run get again: identical files are skipped"
            ),
        ));
    }
    Ok(())
}

/// Every remote file with its local destination below the folder written into; local
/// folders are created here.
async fn plan(client: &DropboxClient, path: &str, local: &Path) -> CmdResult<Plan> {
    let root = if path.is_empty() {
        None
    } else {
        Some(client.get_metadata(path).await?)
    };
    let open = |dir: &Path| {
        Folder::open(dir).map_err(|e| {
            Failure::msg(
                ExitKind::Transfer,
                format!(
                    "cannot open {}: {}",
                    dir.display(),
                    dropbox_post_core::files::ReadError::Io(e)
                ),
            )
        })
    };
    match root {
        Some(Metadata::File(file)) => {
            let (dir, name) = if local.is_dir() {
                (local, PathBuf::from(file_name(path, &file.name)?))
            } else {
                let name = local.file_name().ok_or_else(|| {
                    Failure::msg(
                        ExitKind::Usage,
                        format!(
                            "{} does not name a file; pass a file or folder name",
                            local.display()
                        ),
                    )
                })?;
                let dir = match local.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => dir,
                    _ => Path::new("."),
                };
                (dir, PathBuf::from(name))
            };
            Ok(Plan {
                root: open(dir)?,
                files: vec![(file, name)],
                refused_files: 0,
                failed_folders: 0,
            })
        }
        Some(Metadata::Deleted(_)) => Err(Failure::msg(
            ExitKind::Transfer,
            format!("{path} was deleted on Dropbox"),
        )),
        Some(Metadata::Folder(_)) | None => {
            let entries = client.list_folder(path, true).await?;
            // LOCAL itself is the user's to name, links on the way included.
            std::fs::create_dir_all(local).map_err(|e| {
                Failure::msg(
                    ExitKind::Transfer,
                    format!("cannot create {}: {e}", local.display()),
                )
            })?;
            let root = open(local)?;
            let report = |shown: &str, dest: &Path, why: &dyn std::fmt::Display| {
                eprintln!(
                    "dropbox-post: failed: {} -> {}: {why}",
                    untrusted(shown),
                    untrusted(&root.shown(dest).to_string_lossy())
                );
            };
            let mut layout = Layout::default();
            let mut files = Vec::new();
            let (mut refused_files, mut failed_folders) = (0, 0);
            // Every name checked before anything is made: an unsafe one writes nothing.
            let mut placed = Vec::new();
            for entry in entries {
                let Some(rel) = relative(path, &entry) else {
                    continue;
                };
                let rel = layout.place(&rel, matches!(entry, Metadata::Folder(_)));
                let dest = safe_relative(&rel)?;
                placed.push((entry, rel, dest));
            }
            for (entry, rel, dest) in placed {
                let shown = entry.path_display().unwrap_or(&rel);
                let in_git = in_git_folder(&rel);
                match entry {
                    Metadata::Folder(_) if in_git => {
                        report(shown, &dest, &GIT_FOLDER);
                        failed_folders += 1;
                    }
                    Metadata::Folder(_) => {
                        if let Err(e) = root.folder(&dest, Missing::Create) {
                            report(shown, &dest, &GetError::Refused(e));
                            failed_folders += 1;
                        }
                    }
                    Metadata::File(_) if in_git => {
                        report(shown, &dest, &GIT_FOLDER);
                        refused_files += 1;
                    }
                    Metadata::File(f) => files.push((f, dest)),
                    Metadata::Deleted(_) => {}
                }
            }
            let (mut files, twins) = one_per_name(files);
            for (f, dest) in &twins {
                let shown = f.path_display.as_deref().unwrap_or(&f.name);
                report(shown, dest, &TWINS);
            }
            refused_files += twins.len();
            files.sort_by(|a, b| a.1.cmp(&b.1));
            Ok(Plan {
                root,
                files,
                refused_files,
                failed_folders,
            })
        }
    }
}

const TWINS: &str = "Dropbox listed another file at this name; neither is written";

/// `files` split into those alone at their local name and those that share one (a broken or
/// hostile listing: Dropbox cannot hold two files at one name); writing both would silently
/// keep only the last.
fn one_per_name(files: Vec<Download>) -> (Vec<Download>, Vec<Download>) {
    let name = |dest: &Path| key(&dest.to_string_lossy());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (_, dest) in &files {
        *seen.entry(name(dest)).or_default() += 1;
    }
    files
        .into_iter()
        .partition(|(_, dest)| seen[&name(dest)] == 1)
}

/// Why nothing is written in a `.git` folder (any case, as git compares it): its config and
/// hooks run commands at the next git command there.
const GIT_FOLDER: &str = "get never writes into a .git folder (git runs what its config and \
                          hooks say); it is left out";

fn in_git_folder(rel: &str) -> bool {
    rel.split('/').any(is_dot_git)
}

/// Whether `name` is `.git` on some file system, as git itself judges tree entries: in any
/// case, with the trailing dots and spaces Windows drops, with the code points HFS+ ignores,
/// or as its 8.3 short name `GIT~1` (the folder may sit on a shared or exFAT disk).
fn is_dot_git(name: &str) -> bool {
    let hfs_ignored = |c: char| matches!(c, '\u{200C}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{206A}'..='\u{206F}' | '\u{FEFF}');
    let kept: String = name.chars().filter(|&c| !hfs_ignored(c)).collect();
    let folded = key(kept.trim_end_matches(['.', ' ']));
    folded == ".git" || folded == "git~1"
}

/// Local paths for a listing's entries: each folder keeps the spelling it is first seen
/// with, so that entries whose display paths spell a parent in another case (Dropbox vouches
/// only for the last name's) land in one local folder.
#[derive(Default)]
struct Layout(HashMap<String, String>);

impl Layout {
    /// `rel` (a folder's when `is_folder`) with each folder on the way as first placed.
    fn place(&mut self, rel: &str, is_folder: bool) -> String {
        let names: Vec<&str> = rel.split('/').collect();
        let folders = if is_folder {
            names.len()
        } else {
            names.len() - 1
        };
        let mut placed = String::new();
        for i in 0..folders {
            let spelled = match placed.is_empty() {
                true => names[i].to_string(),
                false => format!("{placed}/{}", names[i]),
            };
            placed = (self.0.entry(key(&names[..=i].join("/"))))
                .or_insert(spelled)
                .clone();
        }
        match (is_folder, placed.is_empty()) {
            (true, _) => placed,
            (false, true) => names[folders].to_string(),
            (false, false) => format!("{placed}/{}", names[folders]),
        }
    }
}

/// A Dropbox path below the folder, as a local relative path that cannot climb out of it.
fn safe_relative(rel: &str) -> CmdResult<PathBuf> {
    let mut out = PathBuf::new();
    for part in rel.split('/') {
        if !safe_component(part) {
            return Err(unsafe_name("path", rel));
        }
        out.push(part);
    }
    Ok(out)
}

/// The local name of the single file `asked` (the path the user gave): the name Dropbox
/// reports for it, which must be one safe component naming that same file (it may differ
/// only in case and Unicode normalisation, which Dropbox folds).
fn file_name<'a>(asked: &str, name: &'a str) -> CmdResult<&'a str> {
    let last = asked.rsplit('/').next().unwrap_or_default();
    if !safe_component(name) || key(name) != key(last) {
        return Err(unsafe_name("name", name));
    }
    Ok(name)
}

/// Is `part` one plain file name: not empty, not `.` or `..`, no separator, no NUL?
fn safe_component(part: &str) -> bool {
    // `\` separates folders only on Windows; elsewhere it is an ordinary character.
    !(part.is_empty()
        || part == "."
        || part == ".."
        || part.contains(['/', '\0'])
        || (cfg!(windows) && part.contains(['\\', ':'])))
}

fn unsafe_name(what: &str, value: &str) -> Failure {
    Failure::msg(
        ExitKind::Transfer,
        format!(
            "Dropbox returned an unsafe {what} \"{}\"; refusing to write it (nothing was written); \
             is the endpoint really Dropbox?",
            dropbox_post_core::dropbox::error::short(value)
        ),
    )
}

async fn fetch(
    client: &DropboxClient,
    root: &Folder,
    remote: &FileMetadata,
    rel: &Path,
) -> Result<Done, GetError> {
    let expected = remote.content_hash.clone();
    // A link at the file's own name is refused here, before anything is downloaded.
    let existing = root.open_file(rel, false).map_err(GetError::Refused)?;
    // A file replaced keeps its permissions; a new one is the user's only.
    let mode = existing.as_ref().map_or(0o600, mode_of);
    if let (Some(hash), Some(file)) = (&expected, existing)
        && identical(file, remote.size, hash).await
    {
        return Ok(Done::Skipped);
    }
    let name = Path::new(rel.file_name().expect("a file has a name"));
    let parent = rel.parent().unwrap_or(Path::new(""));
    let id = remote.path_lower.as_deref().unwrap_or(&remote.id);
    let (meta, mut response) = client.download(id).await.map_err(GetError::Api)?;
    if meta.size != remote.size {
        return Err(GetError::Mismatch(format!(
            "Dropbox listed {} bytes but is sending {}; it changed meanwhile: run get again",
            remote.size, meta.size
        )));
    }
    // The listing's hash and the download's must agree, and one must be there: bytes
    // nothing vouches for are not written.
    let want = match (&meta.content_hash, &expected) {
        (Some(sent), Some(listed)) if sent != listed => {
            return Err(GetError::Mismatch(format!(
                "Dropbox listed content hash {} but is sending a file with {}; it changed \
                 meanwhile: run get again",
                untrusted(listed),
                untrusted(sent)
            )));
        }
        (Some(hash), _) | (None, Some(hash)) => hash.clone(),
        (None, None) => {
            return Err(GetError::Mismatch(
                "Dropbox reported no content hash, so what it sends cannot be checked; \
                 kept the old file (is the endpoint really Dropbox?)"
                    .into(),
            ));
        }
    };
    let mut atomic = root
        .folder(parent, Missing::Create)
        .map_err(GetError::Refused)?
        .expect("created")
        .new_file(name, mode)
        .map_err(GetError::Refused)?;
    let mut file = tokio::fs::File::from_std(atomic.file().try_clone().map_err(GetError::Local)?);
    let mut hasher = ContentHasher::new();
    let mut written = 0u64;
    let url = response.url().clone();
    let cut = |e| {
        GetError::Api(dropbox_post_core::dropbox::http::network(
            "files/download",
            &url,
            &e,
        ))
    };
    while let Some(chunk) = response.chunk().await.map_err(cut)? {
        // Never more than announced: a server that streams on cannot fill the disk.
        if written + chunk.len() as u64 > meta.size {
            return Err(GetError::Mismatch(format!(
                "Dropbox sent more than the {} bytes it announced; stopped reading and kept the old file",
                meta.size
            )));
        }
        hasher.update(&chunk);
        written += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(GetError::Local)?;
    }
    file.flush().await.map_err(GetError::Local)?;
    drop(file);
    let got = hasher.finish();
    if written != meta.size || want != got {
        return Err(GetError::Mismatch(format!(
            "downloaded {written} bytes with content hash {got}, but Dropbox says {} bytes with {}; kept the old file",
            meta.size,
            untrusted(&want)
        )));
    }
    // Syncing a big file to disk takes a while: off the async threads.
    tokio::task::spawn_blocking(move || atomic.commit(Existing::Replace))
        .await
        .map_err(|e| GetError::Local(std::io::Error::other(e)))?
        .map_err(GetError::Local)?;
    Ok(Done::Downloaded(written))
}

#[cfg(unix)]
fn mode_of(file: &std::fs::File) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    file.metadata()
        .map_or(0o600, |m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn mode_of(_: &std::fs::File) -> u32 {
    0o600
}

/// Is the local file already `size` bytes with content hash `hash`?
async fn identical(file: std::fs::File, size: u64, hash: &str) -> bool {
    let hash = hash.to_string();
    tokio::task::spawn_blocking(move || {
        file.metadata().is_ok_and(|m| m.len() == size) && local_hash(file).is_ok_and(|h| h == hash)
    })
    .await
    .unwrap_or(false)
}

fn local_hash(mut file: std::fs::File) -> std::io::Result<String> {
    let mut hasher = ContentHasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn remote_paths_cannot_climb_out() {
        assert_eq!(
            safe_relative("a/b.txt").unwrap(),
            Path::new("a").join("b.txt")
        );
        for bad in ["../x", "a/../../x", "a//b", "", "a/\0b", "/x", "a/."] {
            assert!(safe_relative(bad).is_err(), "{bad}");
        }
        assert_eq!(safe_relative("a\\..\\b").is_err(), cfg!(windows));
    }

    /// A local file name: anything but `/`, NUL, `.` and `..`.
    fn name() -> impl Strategy<Value = String> {
        "[^/\\x00]{1,10}|[ %\"'\\\\😀é]{1,4}|e\u{301}"
            .prop_filter("reserved", |n| n != "." && n != "..")
    }

    /// Server-supplied text: path pieces an attacker would try, mixed with ordinary names.
    fn hostile() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("/".to_string()),
                Just("..".to_string()),
                Just(".".to_string()),
                Just("\\".to_string()),
                Just("\0".to_string()),
                Just("C:".to_string()),
                Just("~".to_string()),
                "[a-zA-Z0-9 ._-]{1,4}",
                any::<char>().prop_map(String::from),
            ],
            0..8,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        /// Whatever Dropbox answers, a local path built from it stays below the target
        /// folder: one plain component per name, never a root, `.`, `..` or NUL.
        #[test]
        fn server_names_never_leave_the_target(
            rel in hostile(),
            name in hostile(),
            asked in hostile(),
        ) {
            use std::path::Component;
            let target = Path::new("/target/folder");
            if let Ok(local) = safe_relative(&rel) {
                let parts: Vec<_> = local.components().collect();
                prop_assert_eq!(parts.len(), rel.split('/').count());
                prop_assert!(parts.iter().all(|c| matches!(c, Component::Normal(_))));
                prop_assert!(!rel.contains('\0'));
                prop_assert!(target.join(&local).starts_with(target));
            }
            // Asked for by that very name (the common case), or by anything else.
            let named = format!("/res/{name}");
            for asked in [asked.as_str(), named.as_str()] {
                let Ok(local) = file_name(asked, &name) else {
                    continue;
                };
                let joined = target.join(local);
                prop_assert_eq!(joined.parent(), Some(target));
                prop_assert!(matches!(
                    joined.components().next_back(),
                    Some(Component::Normal(n)) if n == name.as_str()
                ));
                prop_assert!(!name.contains(['/', '\0']));
            }
        }

        /// `post` puts `rel` at `remote_path(dest, rel)`; `get` of `dest` (typed in any case)
        /// brings it back to `rel` below the local folder.
        #[cfg(unix)]
        #[test]
        fn get_brings_back_what_post_sent(
            names in proptest::collection::vec(name(), 1..5),
            dest in prop_oneof![Just("/".to_string()), "/[A-Za-zÉéΣσK\u{212a}İ ]{1,6}"],
            upper in any::<bool>(),
        ) {
            let rel = names.join("/");
            let remote = dropbox_post_core::upload::plan::remote_path(&dest, &rel);
            let meta = crate::commands::browse::tests::entry("file", &remote);
            let typed = if upper { dest.to_uppercase() } else { dest.clone() };
            let base = remote_path(&typed);
            prop_assume!(dropbox_post_core::dropbox::path::key(&base) == dropbox_post_core::dropbox::path::key(dest.trim_end_matches('/')));
            let back = relative(&base, &meta);
            prop_assert_eq!(back.as_deref(), Some(rel.as_str()));
            let local = safe_relative(&rel).unwrap();
            prop_assert_eq!(local, names.iter().collect::<PathBuf>());
        }
    }

    #[test]
    fn each_folder_keeps_the_spelling_it_is_first_seen_with() {
        let mut layout = Layout::default();
        let placed: Vec<String> = [
            ("sub", true),
            ("Sub/a.txt", false),
            ("SUB/deeper", true),
            ("sUb/DEEPER/b.txt", false),
            ("top.txt", false),
            ("Other/x", false),
            ("other", true),
        ]
        .iter()
        .map(|(rel, folder)| layout.place(rel, *folder))
        .collect();
        assert_eq!(
            placed,
            [
                "sub",
                "sub/a.txt",
                "sub/deeper",
                "sub/deeper/b.txt",
                "top.txt",
                "Other/x",
                "Other"
            ]
        );
    }

    #[test]
    fn files_sharing_a_local_name_are_refused_and_git_folders_left_out() {
        let file = |display: &str, rel: &str| {
            let meta = crate::commands::browse::tests::entry("file", display);
            let Metadata::File(f) = meta else {
                unreachable!()
            };
            (f, PathBuf::from(rel))
        };
        let (alone, twins) = one_per_name(vec![
            file("/res/same.txt", "same.txt"),
            file("/res/Same.TXT", "Same.TXT"),
            file("/res/other.txt", "other.txt"),
        ]);
        let names = |v: &[Download]| -> Vec<String> {
            v.iter().map(|(_, p)| p.display().to_string()).collect()
        };
        assert_eq!(names(&alone), ["other.txt"]);
        assert_eq!(names(&twins), ["same.txt", "Same.TXT"]);

        for rel in [
            ".git",
            ".git/config",
            "a/.GIT/hooks/post-checkout",
            ".Git/x",
            ".git./config",
            ".git /config",
            ".git. . /config",
            "GIT~1/config",
            ".g\u{200c}it/config",
            ".git\u{feff}/config",
        ] {
            assert!(in_git_folder(rel), "{rel}");
        }
        for rel in [
            ".gitignore",
            "a/.github/x",
            "git/config",
            "x.git",
            "git~2/x",
            "..git",
        ] {
            assert!(!in_git_folder(rel), "{rel}");
        }
    }

    #[test]
    fn a_single_files_name_must_be_the_one_asked_for() {
        assert_eq!(file_name("/res/Run.csv", "run.CSV").unwrap(), "run.CSV");
        assert_eq!(file_name("/a/cafe\u{301}", "Café").unwrap(), "Café");
        for (asked, name) in [
            ("/res/run.csv", "/tmp/x/escaped.txt"),
            ("/res/run.csv", "../escaped.txt"),
            ("/res/..", ".."),
            ("/res/run.csv", "other.csv"),
            ("/res/a", "a/b"),
            ("/res/a", "a\0"),
            ("/res/x", ""),
        ] {
            let err = file_name(asked, name).unwrap_err().to_string();
            assert!(err.contains("unsafe name"), "{name}: {err}");
        }
    }

    #[test]
    fn local_hash_matches_dropbox_hash() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..9_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        assert_eq!(
            local_hash(std::fs::File::open(&p).unwrap()).unwrap(),
            dropbox_post_core::dropbox::content_hash::content_hash(&data)
        );
    }
}
