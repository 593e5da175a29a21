//! `list_folder` paging and its cursors. A cursor carries its whole position (folder,
//! options, last key or last change number), so it survives restarts: first the folder's
//! entries in key order, then, once `has_more` is false, the changes made since it started.

use std::collections::BTreeMap;
use std::ops::Bound;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::space::outward;
use super::store::Node;
use dropbox_wire::types::{ListFolderResult, Metadata};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Cursor {
    /// Lower key of the folder, `""` for the root.
    p: String,
    r: bool,
    /// include_deleted (first phase only; changes always report deletions).
    d: bool,
    l: u32,
    /// First phase: the last key returned so far.
    a: Option<String>,
    /// First phase: the change number when listing started; then: the last change seen.
    s: u64,
    /// In the changes phase.
    c: bool,
    /// Lower store path of the namespace the listing is relative to (`""`: the top).
    #[serde(default)]
    n: String,
}

impl Cursor {
    /// A listing of store folder `folder` (lower; `""` is the top), its entries shown
    /// relative to the namespace starting at `namespace`.
    pub fn start(
        folder: String,
        namespace: &str,
        recursive: bool,
        include_deleted: bool,
        limit: u32,
        seq: u64,
    ) -> Self {
        Cursor {
            p: folder,
            r: recursive,
            d: include_deleted,
            l: limit,
            a: None,
            s: seq,
            c: false,
            n: namespace.to_string(),
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn folder(&self) -> &str {
        &self.p
    }

    fn in_scope(&self, key: &str) -> bool {
        let rest = if self.p.is_empty() {
            key.strip_prefix('/')
        } else {
            key.strip_prefix(self.p.as_str())
                .and_then(|r| r.strip_prefix('/'))
        };
        match rest {
            Some(rest) => self.r || !rest.contains('/'),
            // A recursive listing reports the folder itself, as Dropbox does, unless it is
            // the namespace's root.
            None => self.r && self.p != self.n && key == self.p,
        }
    }

    /// One page from `nodes`.
    pub fn page(&self, nodes: &BTreeMap<String, Node>) -> ListFolderResult {
        let limit = self.l.max(1) as usize;
        let mut next = self.clone();
        let mut entries: Vec<Metadata>;
        let has_more;
        if !self.c {
            let lower = match &self.a {
                Some(a) => Bound::Excluded(a.clone()),
                None => Bound::Included(self.p.clone()),
            };
            let mut hits = nodes
                .range((lower, Bound::Unbounded))
                .take_while(|(k, _)| self.p.is_empty() || k.starts_with(&self.p))
                .filter(|(k, n)| self.in_scope(k) && (self.d || n.is_live()));
            entries = Vec::new();
            let mut last = None;
            for (k, n) in hits.by_ref().take(limit) {
                entries.push(self.shown(n, k));
                last = Some(k.clone());
            }
            has_more = hits.next().is_some();
            if has_more {
                next.a = last;
            } else {
                next.a = None;
                next.c = true;
            }
        } else {
            let mut changed: Vec<(&String, &Node)> = nodes
                .iter()
                .filter(|(k, n)| n.seq > self.s && self.in_scope(k))
                .collect();
            changed.sort_by_key(|(_, n)| n.seq);
            has_more = changed.len() > limit;
            changed.truncate(limit);
            next.s = changed.last().map_or(self.s, |(_, n)| n.seq);
            entries = changed.iter().map(|(k, n)| self.shown(n, k)).collect();
        }
        ListFolderResult {
            entries,
            cursor: next.encode(),
            has_more,
        }
    }

    fn shown(&self, node: &Node, key: &str) -> Metadata {
        let mut meta = node.metadata(key);
        outward(&self.n, &mut meta);
        meta
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Kind;

    fn folder(display: &str, seq: u64) -> Node {
        Node {
            display: display.into(),
            seq,
            kind: Kind::Folder {
                id: format!("id:{seq}"),
            },
        }
    }

    #[test]
    fn pages_then_changes() {
        let mut nodes = BTreeMap::new();
        for (i, name) in ["/a", "/a/x", "/b", "/c"].iter().enumerate() {
            nodes.insert(name.to_string(), folder(name, i as u64 + 1));
        }
        let c = Cursor::start(String::new(), "", false, false, 2, 4);
        let p1 = c.page(&nodes);
        assert_eq!(p1.entries.len(), 2);
        assert!(p1.has_more);
        let c2 = Cursor::decode(&p1.cursor).unwrap();
        let p2 = c2.page(&nodes);
        assert_eq!(p2.entries.len(), 1, "only /c is left at top level");
        assert!(!p2.has_more);
        let c3 = Cursor::decode(&p2.cursor).unwrap();
        assert!(c3.page(&nodes).entries.is_empty());
        nodes.insert("/d".into(), folder("/d", 5));
        let p4 = c3.page(&nodes);
        assert_eq!(p4.entries.len(), 1);
        let c5 = Cursor::decode(&p4.cursor).unwrap();
        assert!(c5.page(&nodes).entries.is_empty());
    }

    #[test]
    fn recursive_includes_the_folder_itself() {
        let mut nodes = BTreeMap::new();
        nodes.insert("/a".to_string(), folder("/A", 1));
        nodes.insert("/a/b".to_string(), folder("/A/b", 2));
        nodes.insert("/ab".to_string(), folder("/ab", 3));
        let page = Cursor::start("/a".into(), "", true, false, 10, 3).page(&nodes);
        let paths: Vec<_> = page
            .entries
            .iter()
            .map(|m| m.path_lower().unwrap())
            .collect();
        assert_eq!(paths, vec!["/a", "/a/b"]);
        // The same folder as a namespace's root: not itself, and paths relative to it.
        let page = Cursor::start("/a".into(), "/a", true, false, 10, 3).page(&nodes);
        let paths: Vec<_> = page
            .entries
            .iter()
            .map(|m| m.path_display().unwrap())
            .collect();
        assert_eq!(paths, vec!["/b"]);
    }

    #[test]
    fn garbage_cursors_are_refused() {
        assert!(Cursor::decode("not a cursor").is_none());
    }
}
