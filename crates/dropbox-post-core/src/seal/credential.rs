//! The Dropbox credential a sealed file holds, and its typed JSON plaintext.
//!
//! Plaintext shapes (the only two):
//! `{"type":"access_token","access_token":"…"}` and
//! `{"type":"refresh_token","app_key":"…","app_secret":"…","refresh_token":"…"}`
//! (`app_secret` optional: PKCE apps have none).

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// A Dropbox credential. Debug output redacts every secret (secrecy's `SecretString`).
#[derive(Debug, Clone)]
pub enum Credential {
    /// A bearer token used as is (short-lived `sl.` tokens expire after 4 h).
    AccessToken { access_token: SecretString },
    /// An offline refresh token plus the app it belongs to; access tokens are minted from it.
    RefreshToken {
        app_key: String,
        app_secret: Option<SecretString>,
        refresh_token: SecretString,
    },
}

/// Why a cleartext credential or a decrypted plaintext is not a valid credential.
/// Messages never quote the input (it may be a secret).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialError {
    #[error("the credential is empty")]
    Empty,
    #[error(
        "a bare token must be one line with no spaces or control characters \
         (for a refresh token, write the JSON form {{\"type\":\"refresh_token\",…}})"
    )]
    NotAToken,
    #[error("the credential JSON is not valid: {0}")]
    BadJson(String),
    #[error("the credential field `{0}` must be non-empty, with no spaces or control characters")]
    BadField(&'static str),
    #[error(
        "the credential is too long: sealed, it would pass the 64 KiB a sealed file may hold \
         (Dropbox's tokens are a few hundred bytes)"
    )]
    TooLong,
}

/// The JSON wire form: `&str` fields when writing, `String` fields (wiped after use) when reading.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Wire<S> {
    AccessToken {
        access_token: S,
    },
    RefreshToken {
        app_key: S,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app_secret: Option<S>,
        refresh_token: S,
    },
}

impl Credential {
    pub fn access_token(token: SecretString) -> Self {
        Credential::AccessToken {
            access_token: token,
        }
    }

    /// The `type` tag: `access_token` or `refresh_token`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Credential::AccessToken { .. } => "access_token",
            Credential::RefreshToken { .. } => "refresh_token",
        }
    }

    /// The long-lived secret: the access token or the refresh token.
    fn main_secret(&self) -> &SecretString {
        match self {
            Credential::AccessToken { access_token } => access_token,
            Credential::RefreshToken { refresh_token, .. } => refresh_token,
        }
    }

    /// First 8 bytes of SHA-256 of the token, in hex: enough to tell two credentials apart
    /// (e.g. before and after `key rekey`), useless for recovering the token.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.main_secret().expose_secret().as_bytes());
        hex::encode(&digest[..8])
    }

    /// A key for one use, named by `label`, derived from the long-lived secret (HMAC-SHA256
    /// keyed with it, over the label): what it authenticates is bound to this credential,
    /// and no one without the credential can make or check it. It lives in memory only.
    pub fn derive_key(&self, label: &str) -> DerivedKey {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.main_secret().expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(label.as_bytes());
        DerivedKey(Zeroizing::new(mac.finalize().into_bytes().into()))
    }

    /// Reads what a user puts in a cleartext key file: either a bare access token (one line)
    /// or the typed JSON document. Surrounding whitespace is ignored.
    pub fn from_cleartext(bytes: &[u8]) -> Result<Self, CredentialError> {
        let text = std::str::from_utf8(bytes).map_err(|_| CredentialError::NotAToken)?;
        let text = text.trim();
        if text.is_empty() {
            return Err(CredentialError::Empty);
        }
        if text.starts_with('{') {
            return Self::from_json(text.as_bytes());
        }
        if !is_token_like(text) {
            return Err(CredentialError::NotAToken);
        }
        Ok(Self::access_token(SecretString::from(text)))
    }

    /// Parses and validates the typed JSON plaintext.
    pub fn from_json(bytes: &[u8]) -> Result<Self, CredentialError> {
        // serde_json's message names a position and the offending field, never a value.
        let wire: Wire<String> =
            serde_json::from_slice(bytes).map_err(|e| CredentialError::BadJson(json_reason(&e)))?;
        Ok(match wire {
            Wire::AccessToken { access_token } => Credential::AccessToken {
                access_token: take_secret("access_token", access_token)?,
            },
            Wire::RefreshToken {
                app_key,
                app_secret,
                refresh_token,
            } => {
                // Take every field first so each secret is wiped even when another is invalid.
                let app_secret = app_secret.map(|s| take_secret("app_secret", s));
                let refresh_token = take_secret("refresh_token", refresh_token);
                if !is_token_like(&app_key) {
                    return Err(CredentialError::BadField("app_key"));
                }
                Credential::RefreshToken {
                    app_key,
                    app_secret: app_secret.transpose()?,
                    refresh_token: refresh_token?,
                }
            }
        })
    }

    /// The typed JSON plaintext, in a buffer wiped on drop.
    pub fn to_json(&self) -> Zeroizing<Vec<u8>> {
        let wire: Wire<&str> = match self {
            Credential::AccessToken { access_token } => Wire::AccessToken {
                access_token: access_token.expose_secret(),
            },
            Credential::RefreshToken {
                app_key,
                app_secret,
                refresh_token,
            } => Wire::RefreshToken {
                app_key,
                app_secret: app_secret.as_ref().map(|s| s.expose_secret()),
                refresh_token: refresh_token.expose_secret(),
            },
        };
        // Reserve enough up front so the buffer never reallocates (a reallocation would leave an
        // unwiped copy of the secret behind).
        let mut out = Zeroizing::new(Vec::with_capacity(1024));
        serde_json::to_writer(&mut *out, &wire).expect("serializing strings cannot fail");
        out
    }
}

/// A key from [`Credential::derive_key`]; wiped on drop, never printed.
#[derive(Clone)]
pub struct DerivedKey(Zeroizing<[u8; 32]>);

impl DerivedKey {
    /// HMAC-SHA256 of `data` under this key, in hex.
    pub fn sign(&self, data: &[u8]) -> String {
        hex::encode(self.mac(data).finalize().into_bytes())
    }

    /// Whether `tag` is [`DerivedKey::sign`] of `data` (compared in constant time).
    pub fn verify(&self, data: &[u8], tag: &str) -> bool {
        hex::decode(tag).is_ok_and(|tag| self.mac(data).verify_slice(&tag).is_ok())
    }

    fn mac(&self, data: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0[..]).expect("a 32-byte key");
        mac.update(data);
        mac
    }
}

impl std::fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedKey(redacted)")
    }
}

/// Tokens go into HTTP headers and form bodies: printable ASCII without spaces.
fn is_token_like(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

/// serde_json errors can quote a token that failed to parse as some other type; keep only
/// the category and position.
fn json_reason(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => {
            "wrong shape (expected type access_token or refresh_token with its fields only)"
        }
        serde_json::error::Category::Eof => "ends too early",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// Validates one parsed field, copies it into a secret and wipes the parser's copy.
fn take_secret(field: &'static str, mut value: String) -> Result<SecretString, CredentialError> {
    let checked = if is_token_like(&value) {
        Ok(SecretString::from(value.as_str()))
    } else {
        Err(CredentialError::BadField(field))
    };
    value.zeroize();
    checked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_token_becomes_access_token() {
        let c = Credential::from_cleartext(b"  sl.abc-DEF_123\n").unwrap();
        assert_eq!(c.type_name(), "access_token");
        assert_eq!(
            &*c.to_json(),
            br#"{"type":"access_token","access_token":"sl.abc-DEF_123"}"#
        );
    }

    #[test]
    fn refresh_json_round_trips_with_and_without_secret() {
        for json in [
            r#"{"type":"refresh_token","app_key":"k1","app_secret":"s1","refresh_token":"r1"}"#,
            r#"{"type":"refresh_token","app_key":"k1","refresh_token":"r1"}"#,
        ] {
            let c = Credential::from_cleartext(json.as_bytes()).unwrap();
            assert_eq!(c.type_name(), "refresh_token");
            assert_eq!(&*c.to_json(), json.as_bytes());
        }
    }

    #[test]
    fn bad_cleartext_is_refused_without_quoting_it() {
        let cases: [(&[u8], CredentialError); 5] = [
            (b"   \n", CredentialError::Empty),
            (b"two words", CredentialError::NotAToken),
            (b"line1\nline2", CredentialError::NotAToken),
            (b"\xff\xfe", CredentialError::NotAToken),
            (
                br#"{"type":"access_token","access_token":""}"#,
                CredentialError::BadField("access_token"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(Credential::from_cleartext(input).unwrap_err(), want);
        }
        for json in [
            r#"{"type":"access_token","access_token":"SECRETX","extra":1}"#,
            r#"{"type":"password","access_token":"SECRETX"}"#,
            r#"{"type":"access_token","access_token":7}"#,
            r#"{"type":"refresh_token","refresh_token":"SECRETX"}"#,
            r#"{"type":"access_token","access_token":"SECRETX""#,
        ] {
            let err = Credential::from_json(json.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(!err.contains("SECRETX"), "{err}");
        }
    }

    #[test]
    fn derived_keys_are_the_credentials_and_the_labels_own() {
        let a = Credential::from_cleartext(b"sl.SECRET-A").unwrap();
        let b = Credential::from_cleartext(b"sl.SECRET-B").unwrap();
        let tag = a.derive_key("journal").sign(b"entry");
        assert_eq!(tag.len(), 64);
        assert!(a.derive_key("journal").verify(b"entry", &tag));
        assert!(!a.derive_key("journal").verify(b"entrY", &tag));
        assert!(!a.derive_key("other").verify(b"entry", &tag));
        assert!(!b.derive_key("journal").verify(b"entry", &tag));
        assert!(!a.derive_key("journal").verify(b"entry", "not hex"));
        assert_eq!(
            format!("{:?}", a.derive_key("journal")),
            "DerivedKey(redacted)"
        );
    }

    #[test]
    fn debug_and_fingerprint_hide_the_token() {
        let c = Credential::from_cleartext(b"sl.SECRET-TOKEN").unwrap();
        assert!(!format!("{c:?}").contains("SECRET"));
        let fp = c.fingerprint();
        assert_eq!(fp.len(), 16);
        assert_eq!(
            fp,
            Credential::from_cleartext(b"sl.SECRET-TOKEN\n")
                .unwrap()
                .fingerprint()
        );
        assert_ne!(
            fp,
            Credential::from_cleartext(b"sl.OTHER")
                .unwrap()
                .fingerprint()
        );
    }
}
