//! Dropbox paths: case-insensitive, case-preserving, `/`-separated, root spelled `""`.

use std::fmt;

/// A validated absolute path below the root (never the root itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbxPath {
    /// As the client spelled it, e.g. `/Results/Run 1.csv`.
    pub display: String,
    /// The key every lookup uses, e.g. `/results/run 1.csv`.
    pub lower: String,
}

/// Why a path is malformed; becomes `malformed_path` (409) in most routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Longest name component we store: the limit of common filesystems under `ROOT/files`
/// (Dropbox's own, [`MAX_NAME_CHARS`] characters, is the same for ASCII names).
const MAX_NAME_BYTES: usize = MAX_NAME_CHARS;
use dropbox_wire::limits::{MAX_NAME_CHARS, MAX_PATH_BYTES};

impl DbxPath {
    /// Parses `/a/b`. The root (`/`), empty components, `.`/`..`, a trailing slash and NUL
    /// are refused.
    pub fn parse(path: &str) -> Result<DbxPath, Malformed> {
        let rest = path
            .strip_prefix('/')
            .ok_or(Malformed("path must start with '/'"))?;
        if rest.is_empty() {
            return Err(Malformed("the root folder is not a valid target"));
        }
        if path.len() > MAX_PATH_BYTES {
            return Err(Malformed("path too long"));
        }
        for name in rest.split('/') {
            match name {
                "" => return Err(Malformed("empty path component")),
                "." | ".." => return Err(Malformed("'.' and '..' are not allowed")),
                n if n.len() > MAX_NAME_BYTES => return Err(Malformed("name too long")),
                n if n.contains('\0') => return Err(Malformed("NUL in name")),
                _ => {}
            }
        }
        Ok(DbxPath {
            display: path.to_string(),
            lower: dropbox_wire::path::key(path),
        })
    }

    pub fn name(&self) -> &str {
        name_of(&self.display)
    }

    /// Lower-cased keys of every ancestor folder, outermost first (the root excluded).
    pub fn ancestors_lower(&self) -> Vec<String> {
        self.lower
            .match_indices('/')
            .skip(1)
            .map(|(i, _)| self.lower[..i].to_string())
            .collect()
    }

    /// The display path of the ancestor whose lower key is `key`, as this path spells it.
    pub fn display_prefix(&self, key: &str) -> String {
        let components = key.matches('/').count();
        self.display
            .split('/')
            .take(components + 1)
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// The last component of a display or lower path.
pub fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `name (n).ext` / `name (conflicted copy).ext`: the suffix goes before the extension.
pub fn with_suffix(name: &str, suffix: &str) -> String {
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{} ({suffix}){}", &name[..dot], &name[dot..]),
        _ => format!("{name} ({suffix})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_lowercases() {
        let p = DbxPath::parse("/Results/Run 1.CSV").unwrap();
        assert_eq!(p.lower, "/results/run 1.csv");
        assert_eq!(p.name(), "Run 1.CSV");
        assert_eq!(p.ancestors_lower(), vec!["/results".to_string()]);
        assert_eq!(p.display_prefix("/results"), "/Results");
    }

    #[test]
    fn refuses_bad_paths() {
        for bad in ["", "/", "a/b", "/a//b", "/a/", "/a/./b", "/a/../b", "/a\0b"] {
            assert!(DbxPath::parse(bad).is_err(), "{bad:?}");
        }
        assert!(DbxPath::parse(&format!("/{}", "x".repeat(256))).is_err());
        assert!(DbxPath::parse(&"/abc".repeat(1000)).is_err());
    }

    #[test]
    fn suffixes() {
        assert_eq!(with_suffix("a.tar.gz", "1"), "a.tar (1).gz");
        assert_eq!(with_suffix("notes", "2"), "notes (2)");
        assert_eq!(with_suffix(".bashrc", "1"), ".bashrc (1)");
        assert_eq!(
            with_suffix("doc.txt", "conflicted copy"),
            "doc (conflicted copy).txt"
        );
        assert_eq!(name_of("/a/b"), "b");
    }

    /// A valid name: never empty, `.` or `..`; no `/` or NUL; at most 255 bytes.
    fn name() -> impl Strategy<Value = String> {
        "[^/\\x00]{1,12}".prop_filter("reserved", |n| n != "." && n != "..")
    }

    proptest! {
        #[test]
        fn valid_paths_parse_and_fold_like_dropbox(names in proptest::collection::vec(name(), 1..6)) {
            let path = format!("/{}", names.join("/"));
            let p = DbxPath::parse(&path).unwrap();
            prop_assert_eq!(&p.display, &path);
            prop_assert_eq!(&p.lower, &dropbox_wire::path::key(&path));
            prop_assert_eq!(p.name(), names.last().unwrap().as_str());
            // Each ancestor key belongs to the display prefix with the same number of names.
            let ancestors = p.ancestors_lower();
            prop_assert_eq!(ancestors.len(), names.len() - 1);
            for (i, a) in ancestors.iter().enumerate() {
                let display = format!("/{}", names[..=i].join("/"));
                prop_assert_eq!(&p.display_prefix(a), &display);
                prop_assert_eq!(a, &dropbox_wire::path::key(&display));
            }
        }

        #[test]
        fn a_single_bad_component_is_refused(
            names in proptest::collection::vec(name(), 1..5),
            at in 0usize..5,
            bad in prop_oneof![
                Just(String::new()),
                Just(".".to_string()),
                Just("..".to_string()),
                Just("a\0b".to_string()),
                Just("x".repeat(256)),
                Just("é".repeat(128)),
            ],
        ) {
            let mut names = names;
            let at = at.min(names.len());
            names.insert(at, bad);
            let path = format!("/{}", names.join("/"));
            prop_assert!(DbxPath::parse(&path).is_err(), "{:?}", path);
            let relative = names.join("/");
            prop_assert!(relative.starts_with('/') || DbxPath::parse(&relative).is_err());
        }
    }
}
