//! `dropbox-post whoami` and `dropbox-post ls`: read-only looks at the account the sealed
//! credential opens, to check a credential and see what a post left behind.

use clap::Args;

use super::credential::RemoteArgs;
use crate::exit::CmdResult;
use dropbox_post_core::download::remote::{self, Listed};
use dropbox_post_core::dropbox::space::{self, Space};
use dropbox_post_core::redact::untrusted;
use dropbox_wire::path::normalize;
use dropbox_wire::types::Metadata;

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
    let path = normalize(&args.path);
    let client = args.remote.client()?;
    let listing = super::runtime()?.block_on(async {
        let client = space::enter(client, args.remote.root).await?;
        remote::listing(&client, &path, args.recursive).await
    })?;
    for listed in &listing {
        println!("{}", row(listed, args.long));
    }
    Ok(())
}

/// One line of `ls`: the path below the folder, with `/` after a folder's.
fn row(Listed { rel, entry }: &Listed, long: bool) -> String {
    let shown = untrusted(rel);
    match (entry, long) {
        (Metadata::File(_), false) => shown,
        (_, false) => format!("{shown}/"),
        (Metadata::File(f), true) => format!(
            "{:>12}  {:20}  {:64}  {shown}",
            f.size,
            untrusted(&f.server_modified),
            untrusted(f.content_hash.as_deref().unwrap_or("-"))
        ),
        (_, true) => format!("{:>12}  {:20}  {:64}  {shown}/", "-", "-", "-"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dropbox_wire::types::{FileMetadata, FolderMetadata};

    #[test]
    fn rows_mark_folders_and_long_rows_show_size_time_and_hash() {
        let folder = Listed {
            rel: "A".into(),
            entry: Metadata::Folder(FolderMetadata {
                name: "A".into(),
                id: "id:a".into(),
                path_lower: None,
                path_display: None,
            }),
        };
        let file = Listed {
            rel: "A/c.csv".into(),
            entry: Metadata::File(FileMetadata {
                name: "c.csv".into(),
                id: "id:c".into(),
                client_modified: "2026-01-01T00:00:00Z".into(),
                server_modified: "2026-01-02T00:00:00Z".into(),
                rev: "0123456789".into(),
                size: 7,
                path_lower: None,
                path_display: None,
                is_downloadable: true,
                content_hash: Some("ab".repeat(32)),
            }),
        };
        assert_eq!([row(&folder, false), row(&file, false)], ["A/", "A/c.csv"]);
        let long = row(&folder, true);
        assert!(long.ends_with("  A/") && long.trim_start().starts_with('-'));
        let long = row(&file, true);
        assert!(long.contains(&"ab".repeat(32)) && long.contains("2026-01-02T00:00:00Z"));
        assert!(long.trim_start().starts_with("7  ") && long.ends_with("  A/c.csv"));
    }
}
