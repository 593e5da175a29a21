//! `dropbox-post whoami` and `dropbox-post ls`: read-only looks at the account the sealed
//! credential opens, to check a credential and see what a post left behind.

use clap::Args;

use super::credential::RemoteArgs;
use crate::exit::CmdResult;
use dropbox_post_core::dropbox::client::DropboxClient;
use dropbox_post_core::dropbox::error::ApiError;
use dropbox_post_core::dropbox::path::key;
use dropbox_post_core::dropbox::space::{self, Space};
use dropbox_post_core::dropbox::types::Metadata;
use dropbox_post_core::redact::untrusted;

const WHOAMI_HELP: &str = "\
Shows the account, its team if any, its root and home namespaces and where paths start
(with --root team, a personal account is refused: it has no team space).

Examples:
  dropbox-post whoami --encrypted keys/dropbox.enc
  dropbox-post whoami --root team --encrypted keys/dropbox.enc
  DROPBOX_POST_PASSWORD=\"$PW\" dropbox-post whoami --config study/conf/config.xml";

/// Show the Dropbox account a sealed credential opens.
#[derive(Args, Debug)]
#[command(after_help = WHOAMI_HELP)]
pub struct WhoamiArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
}

const LS_HELP: &str = "\
Paths are relative to PATH, sorted; folders end in `/`. With --long each line is
SIZE  SERVER_MODIFIED  CONTENT_HASH  NAME (`-` where a folder has none).

Examples:
  dropbox-post ls --encrypted keys/dropbox.enc
  dropbox-post ls /results -r --long --config study/conf/config.xml
  dropbox-post ls --root team --encrypted keys/dropbox.enc     # the team space";

/// List a Dropbox folder.
#[derive(Args, Debug)]
#[command(after_help = LS_HELP)]
pub struct LsArgs {
    /// The Dropbox folder to list, e.g. /results (default: the root, or the app folder).
    #[arg(value_name = "PATH", default_value = "")]
    pub path: String,

    /// List everything below PATH too.
    #[arg(short, long)]
    pub recursive: bool,

    /// Show sizes, server modification times and content hashes.
    #[arg(short, long)]
    pub long: bool,

    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub fn whoami(args: WhoamiArgs) -> CmdResult {
    let client = args.remote.client()?;
    let account = super::runtime()?.block_on(space::current_account(&client))?;
    if args.remote.root == Space::Team {
        space::team_root(&account)?;
    }
    println!("name:    {}", untrusted(&account.name.display_name));
    println!("email:   {}", untrusted(&account.email));
    println!("account: {}", untrusted(&account.account_type.tag));
    println!("id:      {}", untrusted(&account.account_id));
    for line in space::describe(&account, args.remote.root) {
        println!("{}", untrusted(&line));
    }
    Ok(())
}

pub fn ls(args: LsArgs) -> CmdResult {
    let path = remote_path(&args.path);
    let client = args.remote.client()?;
    let (base, entries) = super::runtime()?.block_on(async {
        let client = space::enter(client, args.remote.root).await?;
        entries_at(&client, &path, args.recursive).await
    })?;
    for line in listing(&base, entries, args.long) {
        println!("{line}");
    }
    Ok(())
}

/// What `ls PATH` shows, and the folder its names are relative to: a file lists itself.
async fn entries_at(
    client: &DropboxClient,
    path: &str,
    recursive: bool,
) -> Result<(String, Vec<Metadata>), ApiError> {
    if !path.is_empty()
        && let Metadata::File(file) = client.get_metadata(path).await?
    {
        let lower = file.path_lower.clone().unwrap_or_default();
        let parent = lower.rsplit_once('/').map_or("", |(p, _)| p).to_string();
        return Ok((parent, vec![Metadata::File(file)]));
    }
    Ok((path.to_string(), client.list_folder(path, recursive).await?))
}

/// Dropbox names the root `""`, and paths carry no trailing slash.
pub fn remote_path(path: &str) -> String {
    let trimmed = path.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

/// `entry`'s path below `base` (a path as `remote_path` gives it), as displayed.
pub fn relative(base: &str, entry: &Metadata) -> Option<String> {
    let (display, lower) = match entry {
        Metadata::File(f) => (f.path_display.as_deref()?, f.path_lower.as_deref()?),
        Metadata::Folder(f) => (f.path_display.as_deref()?, f.path_lower.as_deref()?),
        Metadata::Deleted(_) => return None,
    };
    // Folded lengths differ from display lengths (`K` is 3 bytes, its key `k` 1): cut the
    // display path by counting names, not bytes.
    if !key(lower).starts_with(&(key(base) + "/")) {
        return None;
    }
    let depth = base.matches('/').count();
    display
        .splitn(depth + 2, '/')
        .nth(depth + 1)
        .map(str::to_string)
}

fn listing(base: &str, entries: Vec<Metadata>, long: bool) -> Vec<String> {
    // Compared by components, so a folder's entries follow it (`A/`, `A/x`, `a.txt`).
    let mut rows: Vec<(Vec<String>, String)> = entries
        .iter()
        .filter_map(|entry| {
            let name = relative(base, entry)?;
            let shown = untrusted(&name);
            let line = match (entry, long) {
                (Metadata::File(_), false) => shown,
                (_, false) => format!("{shown}/"),
                (Metadata::File(f), true) => format!(
                    "{:>12}  {:20}  {:64}  {shown}",
                    f.size,
                    untrusted(&f.server_modified),
                    untrusted(f.content_hash.as_deref().unwrap_or("-"))
                ),
                (_, true) => format!("{:>12}  {:20}  {:64}  {shown}/", "-", "-", "-"),
            };
            let key = name.to_lowercase().split('/').map(str::to_string).collect();
            Some((key, line))
        })
        .collect();
    rows.sort();
    rows.into_iter().map(|(_, line)| line).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A listing entry as Dropbox would send it for `display`.
    pub(crate) fn entry(kind: &str, display: &str) -> Metadata {
        serde_json::from_value(serde_json::json!({
            ".tag": kind, "name": display.rsplit('/').next().unwrap(), "id": "id:x",
            "path_display": display, "path_lower": key(display),
            "client_modified": "2026-01-01T00:00:00Z", "server_modified": "2026-01-02T00:00:00Z",
            "rev": "0123456789", "size": 7, "content_hash": "ab".repeat(32),
        }))
        .unwrap()
    }

    #[test]
    fn paths_are_normalized() {
        assert_eq!(remote_path(""), "");
        assert_eq!(remote_path("/"), "");
        assert_eq!(remote_path("results/"), "/results");
        assert_eq!(remote_path("/a/b"), "/a/b");
    }

    #[test]
    fn listing_is_sorted_relative_and_marks_folders() {
        let entries = vec![
            entry("file", "/Res/b.txt"),
            entry("folder", "/Res/A"),
            entry("file", "/Res/A/c.csv"),
        ];
        assert_eq!(
            listing("/res", entries.clone(), false),
            ["A/", "A/c.csv", "b.txt"]
        );
        let long = listing("/res", entries, true);
        assert!(long[0].ends_with("  A/") && long[0].trim_start().starts_with('-'));
        assert!(long[2].contains(&"ab".repeat(32)) && long[2].contains("2026-01-02T00:00:00Z"));
        assert!(long[2].trim_start().starts_with("7  "));
        assert_eq!(
            listing("", vec![entry("file", "/Top.txt")], false),
            ["Top.txt"]
        );
    }
}
