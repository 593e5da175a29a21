//! Text from outside (a server's answers and names, a listing) on its way to a terminal or
//! a log: the secrets this process holds are cut out of it, and control characters are
//! escaped so the text cannot rewrite the screen, ring, set the window title or reorder
//! what follows it (bidirectional overrides).
//!
//! A hostile or broken endpoint may echo the `Authorization` header, the refresh token or
//! the app secret in an error body or a name. Every secret the process comes to hold is
//! [`register`]ed once, and [`untrusted`] replaces any stretch of text that matches one
//! (or any 16 consecutive bytes of one, so a cut or partial echo is caught too).

use std::borrow::Cow;
use std::sync::RwLock;

use zeroize::Zeroizing;

/// Shorter secrets are not scrubbed: a short password would blank ordinary words, and the
/// server never sees the password anyway. Tokens and app secrets are far longer.
const MIN_SECRET: usize = 8;
/// A secret's echo is caught from this many consecutive bytes on.
const WINDOW: usize = 16;
/// What a secret becomes.
pub const REDACTED: &str = "[REDACTED]";

static SECRETS: RwLock<Vec<Known>> = RwLock::new(Vec::new());

/// A registered secret, with its windows sorted once so that every text is searched
/// without copying or hashing the secret again.
struct Known {
    bytes: Zeroizing<Vec<u8>>,
    /// The length of the windows matched: [`WINDOW`], or the whole of a shorter secret.
    width: usize,
    /// The start of every window of `bytes`, ordered by the window's bytes.
    starts: Zeroizing<Vec<usize>>,
}

impl Known {
    fn new(secret: &[u8]) -> Known {
        let bytes = Zeroizing::new(secret.to_vec());
        let width = bytes.len().min(WINDOW);
        let mut starts = Zeroizing::new((0..=bytes.len() - width).collect::<Vec<_>>());
        starts.sort_unstable_by_key(|&o| &bytes[o..o + width]);
        Known {
            bytes,
            width,
            starts,
        }
    }

    /// Is `window` (of [`Known::width`] bytes) a stretch of this secret?
    fn holds(&self, window: &[u8]) -> bool {
        (self.starts)
            .binary_search_by(|&o| self.bytes[o..o + self.width].cmp(window))
            .is_ok()
    }
}

/// Remembers `secret` (a token, refresh token, app secret, password, OAuth code) so that
/// it is cut out of every untrusted text from now on. Wiped at exit.
pub fn register(secret: &str) {
    if secret.len() < MIN_SECRET {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    if !secrets
        .iter()
        .any(|s| s.bytes.as_slice() == secret.as_bytes())
    {
        secrets.push(Known::new(secret.as_bytes()));
    }
}

/// `text` with every known secret cut out and control characters escaped: what may be
/// printed or logged of text the tool does not control.
pub fn untrusted(text: &str) -> String {
    escape_controls(&scrub(text)).into_owned()
}

/// `text` with every stretch that matches a registered secret (whole, or any [`WINDOW`]
/// consecutive bytes of it) replaced by [`REDACTED`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    let bytes = text.as_bytes();
    let mut hidden = vec![false; bytes.len()];
    let mut any = false;
    for secret in secrets.iter() {
        let w = secret.width;
        if bytes.len() < w {
            continue;
        }
        for i in 0..=bytes.len() - w {
            if secret.holds(&bytes[i..i + w]) {
                hidden[i..i + w].fill(true);
                any = true;
            }
        }
    }
    if !any {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut in_secret = false;
    for (i, c) in text.char_indices() {
        // A character counts as secret if any of its bytes is.
        if hidden[i..i + c.len_utf8()].iter().any(|&h| h) {
            if !in_secret {
                out.push_str(REDACTED);
            }
            in_secret = true;
        } else {
            out.push(c);
            in_secret = false;
        }
    }
    Cow::Owned(out)
}

/// Control characters (C0, DEL, C1) and the invisible characters that reorder text
/// (bidirectional marks, embeddings, overrides and isolates) as `\u{…}` escapes.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Is `c` a control character or one that reorders the text around it?
pub fn needs_escape(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// The Unicode bidirectional formatting characters (UAX #9): they can make a name or path
/// read differently from what it is (`U+202E` turns `txt.exe` into `exe.txt`).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_cut_out_whole_or_in_part() {
        let token = "sl.REDACT-TEST-0123456789abcdefghijklmnopqrstuvwxyz";
        register(token);
        register("short");
        let echoed = format!("path/Bearer {token}/..");
        assert_eq!(untrusted(&echoed), "path/Bearer [REDACTED]/..");
        // A cut echo (what a length limit leaves) still shows nothing of the secret.
        let cut = format!("x {}", &token[..20]);
        assert_eq!(untrusted(&cut), "x [REDACTED]");
        let inner = format!("a{}b", &token[10..30]);
        assert_eq!(untrusted(&inner), "a[REDACTED]b");
        // Fewer than 16 bytes of a secret are ordinary text; short secrets are not kept.
        assert_eq!(untrusted("sl.REDACT-TEST"), "sl.REDACT-TEST");
        assert_eq!(untrusted("short and sweet"), "short and sweet");
        assert_eq!(untrusted("é ok"), "é ok");
    }

    #[test]
    fn control_and_bidi_characters_are_escaped() {
        assert_eq!(
            untrusted("\u{1b}]0;title\u{7}\u{1b}[2J"),
            "\\u{1b}]0;title\\u{7}\\u{1b}[2J"
        );
        assert_eq!(untrusted("a\nb\tc\u{9b}"), "a\\u{a}b\\u{9}c\\u{9b}");
        assert_eq!(untrusted("report\u{202e}vsc.exe"), "report\\u{202e}vsc.exe");
        assert_eq!(untrusted("Résumé 😀 a\\b"), "Résumé 😀 a\\b");
    }
}
