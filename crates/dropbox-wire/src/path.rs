//! Dropbox's path key: the `path_lower` under which two spellings are the same entry.
//!
//! Dropbox lower-cases each character on its own (no final-sigma rule: `ΣΣ` → `σσ`) and
//! normalises to Unicode NFC, so `é` typed as one code point and as `e` + U+0301 (what
//! macOS file systems hand out) are one name. Client and emulator both key paths with this.

use icu_normalizer::ComposingNormalizerBorrowed;

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
