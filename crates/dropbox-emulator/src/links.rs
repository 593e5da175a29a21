//! Shared links: at most one per path, kept in `ROOT/links.json` (path key → link id) so
//! they survive restarts, and served without auth at `BASE/s/<id>/<name>` like Dropbox's
//! public links: a file's bytes, or a folder's listing as plain text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rand::Rng;
use serde_json::{Value, json};

use super::paths::name_of;
use super::store::{Kind, Store, live_below};
use dropbox_wire::types::{Metadata, SharedLinkMetadata};

pub struct Links {
    base_url: String,
    file: PathBuf,
    /// Lower-cased Dropbox path → link id.
    by_path: Mutex<BTreeMap<String, String>>,
}

/// What a link leads to now.
pub enum Target {
    /// The file's lower-cased path.
    File(String),
    /// The folder's children, one name a line, folders with a trailing `/`, sorted.
    Listing(String),
}

impl Links {
    pub fn open(root: &Path, base_url: &str) -> std::io::Result<Links> {
        let file = root.join("links.json");
        let by_path = match super::read_state(&file)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
            None => BTreeMap::new(),
        };
        Ok(Links {
            base_url: base_url.to_string(),
            file,
            by_path: Mutex::new(by_path),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.by_path.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `create_shared_link_with_settings`: a new link, or `Err` with the route's error union
    /// (`shared_link_already_exists` carries the link unless the request had settings,
    /// which exercises clients' `list_shared_links` fallback).
    pub fn create(
        &self,
        store: &Store,
        path: &str,
        with_settings: bool,
    ) -> Result<SharedLinkMetadata, Value> {
        let meta = shareable(store, path)?;
        let key = meta.path_lower().unwrap_or_default().to_string();
        let mut by_path = self.lock();
        if let Some(id) = by_path.get(&key) {
            let existing = self.metadata(id, &meta);
            let detail = if with_settings {
                Value::Null
            } else {
                json!({".tag": "metadata", "metadata": existing})
            };
            return Err(json!({
                ".tag": "shared_link_already_exists",
                "shared_link_already_exists": detail,
            }));
        }
        let id = link_id();
        by_path.insert(key, id.clone());
        if let Err(e) = super::write_json_atomically(&self.file, &*by_path) {
            tracing::error!("writing {}: {e}", self.file.display());
        }
        Ok(self.metadata(&id, &meta))
    }

    /// `list_shared_links`: the link of `path` and, unless `direct_only`, those of its
    /// ancestors; every link without a path. `Err` is a `LookupError`.
    pub fn list(
        &self,
        store: &Store,
        path: Option<&str>,
        direct_only: bool,
    ) -> Result<Vec<SharedLinkMetadata>, Value> {
        let wanted = match path.filter(|p| !p.is_empty()) {
            Some(p) => {
                let meta = store.get(p, false)?;
                Some(meta.path_lower().unwrap_or_default().to_string())
            }
            None => None,
        };
        let by_path = self.lock().clone();
        let applies = |key: &str| match &wanted {
            None => true,
            Some(w) if direct_only => key == w,
            Some(w) => key == w || w.starts_with(&format!("{key}/")),
        };
        Ok(by_path
            .iter()
            .filter(|(key, _)| applies(key))
            .filter_map(|(key, id)| Some(self.metadata(id, &store.get(key, false).ok()?)))
            .collect())
    }

    /// What link `id` shows, or `None` (unknown link, or its target is gone).
    pub fn resolve(&self, store: &Store, id: &str) -> Option<Target> {
        let key = self
            .lock()
            .iter()
            .find(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.clone())?;
        match store.get(&key, false).ok()? {
            Metadata::File(_) => Some(Target::File(key)),
            Metadata::Folder(_) => Some(Target::Listing(listing(store, &key))),
            Metadata::Deleted(_) => None,
        }
    }

    fn metadata(&self, id: &str, meta: &Metadata) -> SharedLinkMetadata {
        let (tag, name, file_id, lower) = match meta {
            Metadata::File(f) => ("file", &f.name, Some(f.id.clone()), &f.path_lower),
            Metadata::Folder(f) => ("folder", &f.name, Some(f.id.clone()), &f.path_lower),
            Metadata::Deleted(d) => ("file", &d.name, None, &d.path_lower),
        };
        let file = match meta {
            Metadata::File(f) => Some(f),
            _ => None,
        };
        SharedLinkMetadata {
            tag: tag.into(),
            url: self.url(id, name),
            name: name.clone(),
            id: file_id,
            path_lower: lower.clone(),
            link_permissions: permissions(),
            client_modified: file.map(|f| f.client_modified.clone()),
            server_modified: file.map(|f| f.server_modified.clone()),
            rev: file.map(|f| f.rev.clone()),
            size: file.map(|f| f.size),
        }
    }

    fn url(&self, id: &str, name: &str) -> String {
        match url::Url::parse(&self.base_url) {
            Ok(mut url) => {
                if let Ok(mut segments) = url.path_segments_mut() {
                    segments.pop_if_empty().extend(["s", id, name]);
                }
                url.to_string()
            }
            Err(_) => format!("{}/s/{id}/{name}", self.base_url),
        }
    }
}

/// A live file or folder (not the root). `Err` is the route's `path` error.
fn shareable(store: &Store, path: &str) -> Result<Metadata, Value> {
    let wrap = |e: Value| json!({".tag": "path", "path": e});
    if path.is_empty() || path == "/" {
        return Err(wrap(json!({".tag": "not_found"})));
    }
    store.get(path, false).map_err(wrap)
}

fn listing(store: &Store, folder: &str) -> String {
    let mut names: Vec<String> = store.read(|nodes, _| {
        live_below(nodes, folder)
            .filter(|(k, _)| !k[folder.len() + 1..].contains('/'))
            .map(|(_, n)| match n.kind {
                Kind::Folder { .. } => format!("{}/", name_of(&n.display)),
                _ => name_of(&n.display).to_string(),
            })
            .collect()
    });
    names.sort();
    names.into_iter().map(|n| n + "\n").collect()
}

/// `LinkPermissions` of a public link its owner may revoke, with every field the current
/// spec marks required, so strict SDK decoders accept it.
fn permissions() -> Value {
    json!({
        "resolved_visibility": {".tag": "public"},
        "requested_visibility": {".tag": "public"},
        "can_revoke": true,
        "effective_audience": {".tag": "public"},
        "link_access_level": {".tag": "viewer"},
        "visibility_policies": [],
        "can_set_expiry": false,
        "can_remove_expiry": false,
        "allow_download": true,
        "can_allow_download": true,
        "can_disallow_download": false,
        "allow_comments": true,
        "team_restricts_comments": false,
    })
}

fn link_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..15)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}
