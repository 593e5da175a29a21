//! Dropbox paths: the key under which two spellings are the same entry ([`key`]), a path as
//! a user types it in Dropbox's form ([`normalize`]), and an entry's path below a folder
//! ([`relative`]).
//!
//! Dropbox lower-cases each character on its own (no final-sigma rule: `ΣΣ` → `σσ`) and
//! normalises to Unicode NFC, so `é` typed as one code point and as `e` + U+0301 (what
//! macOS file systems hand out) are one name. Client and emulator both key paths with this.

use icu_normalizer::ComposingNormalizerBorrowed;

use crate::types::Metadata;

/// The case- and normalisation-folded key of a path or name.
pub fn key(path: &str) -> String {
    // ASCII is already NFC: the common case needs no per-char work.
    if path.is_ascii() {
        return path.to_ascii_lowercase();
    }
    let lower: String = path.chars().flat_map(char::to_lowercase).collect();
    ComposingNormalizerBorrowed::new_nfc()
        .normalize(&lower)
        .into_owned()
}

/// A path as typed (`results/`, `/a/b`, `/`) in Dropbox's form: the root is `""`, every
/// other path starts with `/`, and none ends in one.
pub fn normalize(typed: &str) -> String {
    let trimmed = typed.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

/// `entry`'s path below the folder `base` (a path as [`normalize`] gives it), as displayed;
/// `None` for a deleted entry, one without paths, or one not below `base`.
pub fn relative(base: &str, entry: &Metadata) -> Option<String> {
    if matches!(entry, Metadata::Deleted(_)) {
        return None;
    }
    let (display, lower) = (entry.path_display()?, entry.path_lower()?);
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn typed_paths_are_normalized() {
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("/"), "");
        assert_eq!(normalize(" results/ "), "/results");
        assert_eq!(normalize("/a/b"), "/a/b");
    }

    #[test]
    fn relative_cuts_the_display_path_by_names_below_the_folder() {
        let entry = |tag: &str, display: &str| -> Metadata {
            serde_json::from_value(serde_json::json!({
                ".tag": tag, "name": "n", "id": "id:x", "rev": "0123456789", "size": 1,
                "client_modified": "", "server_modified": "",
                "path_display": display, "path_lower": key(display),
            }))
            .unwrap()
        };
        // The folder typed in another case; `K` (Kelvin sign) folds to a shorter `k`.
        let kelvin = entry("file", "/\u{212a}/Run 1/a.csv");
        assert_eq!(relative("/k", &kelvin).as_deref(), Some("Run 1/a.csv"));
        assert_eq!(
            relative("", &entry("folder", "/Top")).as_deref(),
            Some("Top")
        );
        assert_eq!(
            relative("/RES", &entry("file", "/res/x")).as_deref(),
            Some("x")
        );
        // The folder itself, a sibling sharing its prefix, and a deleted entry are not below.
        assert_eq!(relative("/res", &entry("folder", "/Res")), None);
        assert_eq!(relative("/res", &entry("file", "/results/x")), None);
        assert_eq!(relative("/res", &entry("deleted", "/res/x")), None);
    }

    #[test]
    fn folds_case_per_character_and_composes() {
        assert_eq!(key("/Results/Run 1.CSV"), "/results/run 1.csv");
        assert_eq!(key("/ΑΣ/ΣΣΣ"), "/ασ/σσσ");
        assert_eq!(key("/Cafe\u{301}"), "/caf\u{e9}");
        assert_eq!(key("/CAFE\u{301}"), key("/caf\u{e9}"));
        assert_eq!(key("/😀 %20 \"q\" a\\b"), "/😀 %20 \"q\" a\\b");
        assert_eq!(key(""), "");
    }

    /// Path-ish strings: ASCII specials, Latin letters with and without combining marks,
    /// Greek, emoji and other astral chars, and `/`.
    fn pathish() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                "[a-zA-Z0-9 ._%'\"\\\\#&+=-]",
                Just("/".to_string()),
                Just("\u{301}".to_string()),
                Just("\u{308}".to_string()),
                "[À-ÿĀ-žΑ-Ωα-ωА-я]",
                "[😀-🙏𝐀-𝐙]",
                any::<char>().prop_map(String::from),
            ],
            0..24,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn key_is_idempotent(p in pathish()) {
            prop_assert_eq!(key(&key(&p)), key(&p));
        }

        /// Keys fold components separately, so a parent's key prefixes its children's.
        #[test]
        fn key_works_component_by_component(a in pathish(), b in pathish()) {
            prop_assert_eq!(key(&format!("{a}/{b}")), format!("{}/{}", key(&a), key(&b)));
        }

        #[test]
        fn case_and_normalisation_variants_share_a_key(p in pathish()) {
            let upper: String = p.chars().flat_map(char::to_uppercase).collect();
            let nfd = icu_normalizer::DecomposingNormalizerBorrowed::new_nfd().normalize(&p);
            prop_assert_eq!(key(&nfd), key(&p));
            // Case mapping is not a bijection beyond ASCII (ß → SS, ς → Σ → σ).
            if p.is_ascii() {
                prop_assert_eq!(key(&upper), key(&p));
            }
        }
    }
}
