//! Namespaces and the `Dropbox-API-Path-Root` header.
//!
//! A personal account has one namespace: its root is its home. With `--team` the store's
//! top is the team's shared root namespace and the member's home namespace is the folder
//! [`MEMBER_FOLDER`] under it. A request's paths are relative to its home unless the header
//! says `{".tag":"root","root":ROOT_NS}` (the team root; `invalid_root` if `ROOT_NS` is not
//! the account's root) or `{".tag":"namespace_id","namespace_id":NS}` (either namespace by
//! id; `no_permission` for any other). Both errors are 422 `PathRootError`s.
//!
//! Routes translate: a client's path goes `inward` to a store path, and metadata comes back
//! `outward`, relative to the namespace (with no path when it lies outside, as Dropbox
//! leaves `path_lower` out for what is not mounted there).

use axum::http::HeaderValue;
use serde_json::{Value, json};

use dropbox_wire::types::{Metadata, PATH_ROOT_HEADER, PathRoot, RootInfo};

/// The member's home namespace (also the whole personal account).
pub const HOME_NS: &str = "3235641";
/// The team's shared root namespace in team mode.
pub const TEAM_ROOT_NS: &str = "1920468532";
/// Where the member's home is under the team root, named after the member as on Dropbox.
pub const MEMBER_FOLDER: &str = "/Emma Ulator";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Namespace {
    id: &'static str,
    /// Where the namespace starts in the store (`""`: the top).
    display: &'static str,
    lower: &'static str,
}

const PERSONAL: [Namespace; 1] = [Namespace {
    id: HOME_NS,
    display: "",
    lower: "",
}];

const TEAM: [Namespace; 2] = [
    Namespace {
        id: TEAM_ROOT_NS,
        display: "",
        lower: "",
    },
    Namespace {
        id: HOME_NS,
        display: MEMBER_FOLDER,
        lower: "/emma ulator",
    },
];

/// The emulated account's layout: personal, or a member of a team with a shared root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    pub team: bool,
}

/// Why a `Dropbox-API-Path-Root` header is refused.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// 400: not a `PathRoot`.
    Malformed(String),
    /// 422: a `PathRootError`.
    PathRoot(Value),
}

impl Account {
    fn namespaces(self) -> &'static [Namespace] {
        if self.team { &TEAM } else { &PERSONAL }
    }

    fn root(self) -> Namespace {
        self.namespaces()[0]
    }

    fn home(self) -> Namespace {
        self.namespaces()[self.namespaces().len() - 1]
    }

    /// The member's folder under the team root, which must exist (team mode).
    pub fn member_folder(self) -> Option<&'static str> {
        self.team.then_some(MEMBER_FOLDER)
    }

    pub fn root_info(self) -> RootInfo {
        RootInfo {
            tag: if self.team { "team" } else { "user" }.into(),
            root_namespace_id: self.root().id.into(),
            home_namespace_id: self.home().id.into(),
            home_path: self.member_folder().map(Into::into),
        }
    }

    /// The namespace a request works in, from its `Dropbox-API-Path-Root` header.
    pub fn select(self, header: Option<&HeaderValue>) -> Result<Ns, Refusal> {
        let here = match header {
            None => self.home(),
            Some(value) => match self.parse(value)? {
                PathRoot::Home => self.home(),
                PathRoot::Root { root } if root == self.root().id => self.root(),
                PathRoot::Root { .. } => {
                    return Err(Refusal::PathRoot(
                        json!({".tag": "invalid_root", "invalid_root": self.root_info()}),
                    ));
                }
                PathRoot::NamespaceId { namespace_id } => self
                    .namespaces()
                    .iter()
                    .find(|n| n.id == namespace_id)
                    .copied()
                    .ok_or_else(|| Refusal::PathRoot(json!({".tag": "no_permission"})))?,
            },
        };
        Ok(Ns {
            here,
            all: self.namespaces(),
        })
    }

    fn parse(self, value: &HeaderValue) -> Result<PathRoot, Refusal> {
        let malformed =
            |why: String| Refusal::Malformed(format!("HTTP header \"{PATH_ROOT_HEADER}\": {why}"));
        let text = value
            .to_str()
            .map_err(|_| malformed("the value must be ASCII JSON".into()))?;
        serde_json::from_str(text)
            .map_err(|e| malformed(format!("could not decode input as JSON: {e}")))
    }
}

/// The namespace a request's paths are relative to.
#[derive(Clone, Copy, Debug)]
pub struct Ns {
    here: Namespace,
    /// The account's namespaces, for `ns:ID/…` paths.
    all: &'static [Namespace],
}

impl Ns {
    /// Where this namespace starts in the store, lower-cased (`""`: the top).
    pub fn lower(&self) -> &'static str {
        self.here.lower
    }

    /// A client's path (`/a`, `""` for the namespace's root, `ns:ID/a`, `id:…`, `rev:…`)
    /// as a store path. An unknown `ns:` is left for the store, which does not find it.
    pub fn inward(&self, path: &str) -> String {
        if let Some(rest) = path.strip_prefix("ns:") {
            let (id, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            return match self.all.iter().find(|n| n.id == id) {
                Some(n) => format!("{}{tail}", n.display),
                None => path.to_string(),
            };
        }
        if path.is_empty() || path.starts_with('/') {
            format!("{}{path}", self.here.display)
        } else {
            path.to_string()
        }
    }

    /// `meta`'s paths relative to this namespace.
    pub fn outward(&self, meta: &mut Metadata) {
        outward(self.here.lower, meta);
    }

    /// A store path pair (`path_lower`, `path_display`) relative to this namespace.
    pub fn relative(&self, lower: &mut Option<String>, display: &mut Option<String>) {
        relative(self.here.lower, lower, display);
    }
}

/// `meta`'s paths relative to the namespace that starts at store path `prefix` (lower).
pub fn outward(prefix: &str, meta: &mut Metadata) {
    let (lower, display) = match meta {
        Metadata::File(m) => (&mut m.path_lower, &mut m.path_display),
        Metadata::Folder(m) => (&mut m.path_lower, &mut m.path_display),
        Metadata::Deleted(m) => (&mut m.path_lower, &mut m.path_display),
    };
    relative(prefix, lower, display);
}

/// Strips `prefix` from a store path pair; a path outside it is dropped.
fn relative(prefix: &str, lower: &mut Option<String>, display: &mut Option<String>) {
    if prefix.is_empty() {
        return;
    }
    let inside = lower
        .as_deref()
        .and_then(|l| l.strip_prefix(prefix))
        .filter(|rest| rest.starts_with('/'))
        .map(str::to_string);
    // Display and lower paths have the same names, not the same bytes: cut by names.
    let depth = prefix.matches('/').count();
    *display = match (&inside, display.take()) {
        (Some(_), Some(d)) => d
            .splitn(depth + 2, '/')
            .nth(depth + 1)
            .map(|r| format!("/{r}")),
        _ => None,
    };
    *lower = inside;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(v: &str) -> HeaderValue {
        HeaderValue::from_str(v).unwrap()
    }

    fn folder(display: &str) -> Metadata {
        serde_json::from_value(json!({
            ".tag": "folder", "name": "x", "id": "id:x",
            "path_display": display, "path_lower": dropbox_wire::path::key(display),
        }))
        .unwrap()
    }

    #[test]
    fn personal_account_has_one_namespace() {
        let a = Account { team: false };
        let info = a.root_info();
        assert_eq!((info.tag.as_str(), info.home_path), ("user", None));
        assert_eq!(info.root_namespace_id, info.home_namespace_id);
        for h in [
            None,
            Some(header(r#"{".tag":"home"}"#)),
            Some(header(r#""home""#)),
        ] {
            assert_eq!(a.select(h.as_ref()).unwrap().inward("/a"), "/a");
        }
        let root = header(&format!(r#"{{".tag":"root","root":"{HOME_NS}"}}"#));
        assert_eq!(a.select(Some(&root)).unwrap().inward(""), "");
        let stale = header(r#"{".tag":"root","root":"42"}"#);
        let Err(Refusal::PathRoot(e)) = a.select(Some(&stale)) else {
            panic!()
        };
        assert_eq!(e[".tag"], "invalid_root");
        assert_eq!(e["invalid_root"][".tag"], "user");
        assert_eq!(e["invalid_root"]["root_namespace_id"], HOME_NS);
        let other = header(r#"{".tag":"namespace_id","namespace_id":"42"}"#);
        assert_eq!(
            a.select(Some(&other)).unwrap_err(),
            Refusal::PathRoot(json!({".tag": "no_permission"}))
        );
        for bad in [
            "not json",
            r#"{".tag":"root"}"#,
            r#"{".tag":"home","x":1}"#,
            r#""team""#,
        ] {
            assert!(
                matches!(a.select(Some(&header(bad))), Err(Refusal::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn team_paths_go_in_and_come_out() {
        let a = Account { team: true };
        assert_eq!(a.root_info().home_path.as_deref(), Some(MEMBER_FOLDER));
        let home = a.select(None).unwrap();
        assert_eq!(home.inward("/Res/a.csv"), "/Emma Ulator/Res/a.csv");
        assert_eq!(home.inward(""), "/Emma Ulator");
        assert_eq!(home.inward("id:abc"), "id:abc");
        assert_eq!(home.inward(&format!("ns:{TEAM_ROOT_NS}/Lab")), "/Lab");
        assert_eq!(home.inward("ns:77/Lab"), "ns:77/Lab");
        let mut m = folder("/Emma Ulator/Res/Ünï");
        home.outward(&mut m);
        assert_eq!(
            (m.path_display(), m.path_lower()),
            (Some("/Res/Ünï"), Some("/res/ünï"))
        );
        let mut outside = folder("/Lab");
        home.outward(&mut outside);
        assert_eq!((outside.path_display(), outside.path_lower()), (None, None));
        let mut sibling = folder("/Emma Ulator2/x");
        home.outward(&mut sibling);
        assert_eq!(sibling.path_lower(), None);
        let root = header(&format!(r#"{{".tag":"root","root":"{TEAM_ROOT_NS}"}}"#));
        let root = a.select(Some(&root)).unwrap();
        assert_eq!(root.inward("/Lab/a"), "/Lab/a");
        let mut m = folder("/Emma Ulator/x");
        root.outward(&mut m);
        assert_eq!(m.path_display(), Some("/Emma Ulator/x"));
        let by_id = header(&format!(
            r#"{{".tag":"namespace_id","namespace_id":"{HOME_NS}"}}"#
        ));
        assert_eq!(
            a.select(Some(&by_id)).unwrap().inward("/a"),
            "/Emma Ulator/a"
        );
        let Err(Refusal::PathRoot(e)) =
            a.select(Some(&header(r#"{".tag":"root","root":"3235641"}"#)))
        else {
            panic!("the home namespace is not the team's root")
        };
        assert_eq!(e["invalid_root"]["home_path"], MEMBER_FOLDER);
    }
}
