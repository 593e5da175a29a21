//! `dropbox-post get`: download a Dropbox file or folder. Each file streams to a temporary
//! file beside its destination, its content hash is checked against Dropbox's, and only
//! then does it replace the destination; local files with the same size and hash are kept.
//! Below the target (LOCAL, or a single file's folder) every path is reached through
//! [`crate::files::confine`]: a symbolic link already there is refused, never written through.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Args;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::credential::RemoteArgs;
use crate::commands::browse::{relative, remote_path};
use crate::dropbox::client::DropboxClient;
use crate::dropbox::content_hash::ContentHasher;
use crate::dropbox::error::ApiError;
use crate::dropbox::space;
use crate::dropbox::types::{FileMetadata, Metadata};
use crate::exit::{CmdResult, ExitKind, Failure};
use crate::files::Existing;
use crate::files::confine::{Folder, Missing, Refused};
use crate::redact::untrusted;

/// Downloads in flight at once.
const PARALLEL: usize = 4;

const AFTER_HELP: &str = "\
A file lands at LOCAL, or inside LOCAL when that is an existing folder. A folder's contents
land under LOCAL (created if needed). A symbolic link already below LOCAL is never written
through: each file behind it fails. Exit 6 if any file failed (each is listed).

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

/// What `get` writes: the folder it writes into, and each file below it.
struct Plan {
    root: Folder,
    files: Vec<(FileMetadata, PathBuf)>,
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
        get(&client, &path, &args.local).await
    })
}

async fn get(client: &DropboxClient, path: &str, local: &Path) -> CmdResult {
    let Plan {
        root,
        files,
        failed_folders,
    } = plan(client, path, local).await?;
    let total = files.len();
    let root = &root;
    let mut results = futures_util::stream::iter(files)
        .map(|(remote, rel)| async move {
            let outcome = fetch(client, root, &remote, &rel).await;
            (remote, rel, outcome)
        })
        .buffer_unordered(PARALLEL);
    let (mut bytes, mut got, mut skipped, mut failed) = (0u64, 0usize, 0usize, 0usize);
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
            Err(GetError::Api(api)) if api.exit_kind() == ExitKind::Auth => {
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
                    crate::files::ReadError::Io(e)
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
            let mut files = Vec::new();
            let mut failed_folders = 0;
            for entry in entries {
                let Some(rel) = relative(path, &entry) else {
                    continue;
                };
                let dest = safe_relative(&rel)?;
                match entry {
                    Metadata::Folder(folder) => {
                        if let Err(e) = root.folder(&dest, Missing::Create) {
                            let shown = untrusted(folder.path_display.as_deref().unwrap_or(&rel));
                            let e = GetError::Refused(e);
                            eprintln!(
                                "dropbox-post: failed: {shown} -> {}: {e}",
                                untrusted(&root.shown(&dest).to_string_lossy())
                            );
                            failed_folders += 1;
                        }
                    }
                    Metadata::File(f) => files.push((f, dest)),
                    Metadata::Deleted(_) => {}
                }
            }
            files.sort_by(|a, b| a.1.cmp(&b.1));
            Ok(Plan {
                root,
                files,
                failed_folders,
            })
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
    if !safe_component(name) || crate::dropbox::path::key(name) != crate::dropbox::path::key(last) {
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
            crate::dropbox::error::short(value)
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
    let mut atomic = root
        .folder(parent, Missing::Create)
        .map_err(GetError::Refused)?
        .expect("created")
        .new_file(name, 0o600)
        .map_err(GetError::Refused)?;
    let mut file = tokio::fs::File::from_std(atomic.file().try_clone().map_err(GetError::Local)?);
    let mut hasher = ContentHasher::new();
    let mut written = 0u64;
    let url = response.url().clone();
    let cut = |e| GetError::Api(crate::dropbox::client::network("files/download", &url, &e));
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
    let want = meta.content_hash.as_deref().or(expected.as_deref());
    if written != meta.size || want.is_some_and(|w| w != got) {
        return Err(GetError::Mismatch(format!(
            "downloaded {written} bytes with content hash {got}, but Dropbox says {} bytes with {}; kept the old file",
            meta.size,
            untrusted(want.unwrap_or("no hash"))
        )));
    }
    // Syncing a big file to disk takes a while: off the async threads.
    tokio::task::spawn_blocking(move || atomic.commit(Existing::Replace))
        .await
        .map_err(|e| GetError::Local(std::io::Error::other(e)))?
        .map_err(GetError::Local)?;
    Ok(Done::Downloaded(written))
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
            let remote = crate::upload::plan::remote_path(&dest, &rel);
            let meta = crate::commands::browse::tests::entry("file", &remote);
            let typed = if upper { dest.to_uppercase() } else { dest.clone() };
            let base = remote_path(&typed);
            prop_assume!(crate::dropbox::path::key(&base) == crate::dropbox::path::key(dest.trim_end_matches('/')));
            let back = relative(&base, &meta);
            prop_assert_eq!(back.as_deref(), Some(rel.as_str()));
            let local = safe_relative(&rel).unwrap();
            prop_assert_eq!(local, names.iter().collect::<PathBuf>());
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
            crate::dropbox::content_hash::content_hash(&data)
        );
    }
}
