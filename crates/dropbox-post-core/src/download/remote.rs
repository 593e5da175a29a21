//! What is at a Dropbox path: a file, or a folder's listing. `get` downloads it; `ls`
//! shows it as a [`Listing`].

use crate::dropbox::client::DropboxClient;
use crate::dropbox::error::ApiError;
use dropbox_wire::path::relative;
use dropbox_wire::types::{FileMetadata, Metadata};

/// What a path (as [`dropbox_wire::path::normalize`] gives it) holds.
#[derive(Debug)]
pub enum Remote {
    File(FileMetadata),
    /// Only a server asked for deleted entries sends this; nothing is there.
    Deleted,
    /// A folder (or the root) and the entries below it, every level of them when recursive.
    Folder(Vec<Metadata>),
}

/// Look at `path`: the root (`""`) is always a folder, so it is listed without asking.
pub async fn at(client: &DropboxClient, path: &str, recursive: bool) -> Result<Remote, ApiError> {
    if !path.is_empty() {
        match client.get_metadata(path).await? {
            Metadata::File(file) => return Ok(Remote::File(file)),
            Metadata::Deleted(_) => return Ok(Remote::Deleted),
            Metadata::Folder(_) => {}
        }
    }
    Ok(Remote::Folder(client.list_folder(path, recursive).await?))
}

/// One entry of a [`Listing`] and its path below the listed folder, as displayed.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub rel: String,
    pub entry: Metadata,
}

/// What `ls PATH` shows: entries below the folder, or a file alone (named within its own
/// folder), in path order with each folder's entries right after it.
pub async fn listing(
    client: &DropboxClient,
    path: &str,
    recursive: bool,
) -> Result<Vec<Listed>, ApiError> {
    Ok(match at(client, path, recursive).await? {
        Remote::File(file) => {
            let lower = file.path_lower.clone().unwrap_or_default();
            let parent = lower.rsplit_once('/').map_or("", |(p, _)| p);
            sorted(parent, vec![Metadata::File(file)])
        }
        Remote::Deleted => Vec::new(),
        Remote::Folder(entries) => sorted(path, entries),
    })
}

fn sorted(base: &str, entries: Vec<Metadata>) -> Vec<Listed> {
    let mut rows: Vec<(Vec<String>, Listed)> = entries
        .into_iter()
        .filter_map(|entry| {
            let rel = relative(base, &entry)?;
            // Compared by components, so a folder's entries follow it (`A/`, `A/x`, `a.txt`).
            let order = rel.to_lowercase().split('/').map(str::to_string).collect();
            Some((order, Listed { rel, entry }))
        })
        .collect();
    rows.sort_by(|a, b| (&a.0, &a.1.rel).cmp(&(&b.0, &b.1.rel)));
    rows.into_iter().map(|(_, listed)| listed).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use dropbox_wire::path::key;

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
    fn a_listing_is_relative_and_each_folder_is_followed_by_its_entries() {
        let entries = vec![
            entry("file", "/Res/b.txt"),
            entry("folder", "/Res/A"),
            entry("file", "/Res/a.txt"),
            entry("file", "/Res/A/c.csv"),
            entry("file", "/Other/x"),
        ];
        let rels: Vec<String> = sorted("/res", entries).into_iter().map(|l| l.rel).collect();
        assert_eq!(rels, ["A", "A/c.csv", "a.txt", "b.txt"]);
        let top = sorted("", vec![entry("file", "/Top.txt")]);
        assert_eq!(top[0].rel, "Top.txt");
    }
}
