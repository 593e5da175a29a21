//! The `Dropbox-API-Arg` header: JSON that is safe in an HTTP header.
//!
//! Dropbox requires every char ≥ U+007F escaped as `\uXXXX`, and chars above U+FFFF as a
//! UTF-16 surrogate pair (<https://www.dropbox.com/developers/reference/json-encoding>).
//! serde_json has no ASCII-only mode, so we escape its output: inside a JSON document every
//! such char can only occur within a string literal, where `\uXXXX` means the same char.

use serde::Serialize;

/// Serialize `value` as header-safe JSON.
pub fn to_header_json<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    Ok(escape_non_ascii(&serde_json::to_string(value)?))
}

/// Escape DEL and every non-ASCII char of a JSON text as `\uXXXX` (UTF-16 code units).
pub fn escape_non_ascii(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut units = [0u16; 2];
    for c in json.chars() {
        if (c as u32) < 0x7F {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// True when `s` may be sent as a header value under Dropbox's rule (printable ASCII only).
pub fn is_header_safe(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7F).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dropbox_documented_example() {
        let v = json!({"field": "some_üñîcødé_and_\u{7f}"});
        assert_eq!(
            to_header_json(&v).unwrap(),
            r#"{"field":"some_\u00fc\u00f1\u00eec\u00f8d\u00e9_and_\u007f"}"#
        );
    }

    #[test]
    fn astral_chars_become_surrogate_pairs() {
        let s = to_header_json(&json!({"p": "/😀.csv"})).unwrap();
        assert_eq!(s, r#"{"p":"/\ud83d\ude00.csv"}"#);
        assert!(is_header_safe(&s));
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["p"], "/😀.csv");
    }

    #[test]
    fn ascii_is_untouched() {
        let s = to_header_json(&json!({"path": "/a b/\"q\".txt"})).unwrap();
        assert_eq!(s, r#"{"path":"/a b/\"q\".txt"}"#);
    }

    #[test]
    fn header_safety() {
        assert!(is_header_safe(r#"{"a":"\u00e9"}"#));
        assert!(!is_header_safe("{\"a\":\"é\"}"));
        assert!(!is_header_safe("a\nb"));
    }
}
