//! Sealed credentials: read any supported format, write the current one.
//!
//! Reading is split in two so commands can fail fast: [`SealedFile::read`] checks the file's
//! structure (and refuses hostile KDF parameters) before anyone is asked for a password;
//! [`SealedFile::open`] then derives the key and decrypts.
//!
//! Formats: v1 (`v1.rs`, the only one written) and librec-auto's Fernet files (`legacy.rs`).
//! `docs/sealed-format.md` is the specification.

pub mod cleartext;
pub mod credential;
pub mod legacy;
pub mod v1;

use std::path::{Path, PathBuf};

use secrecy::SecretString;

pub use credential::{Credential, CredentialError, DerivedKey};
pub use v1::KdfParams;

use crate::password::{Password, Source};
use dropbox_post_files::{self as files, Existing, ReadError, read_bounded};

/// Sealed files are a few hundred bytes; anything much larger is not one.
pub const MAX_FILE_LEN: u64 = 64 * 1024;

/// Everything that can go wrong reading, opening or writing a sealed file.
/// No variant carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "cannot read the sealed credential {} ({error}); check the path, or seal one with \
         `dropbox-post encrypt`",
        path.display()
    )]
    Read { path: PathBuf, error: ReadError },
    #[error(
        "{} is larger than 64 KiB, so it is not a sealed credential (those are a few hundred \
         bytes); check the path, or seal the credential again with `dropbox-post encrypt`",
        path.display()
    )]
    TooLarge { path: PathBuf },
    #[error(
        "its line endings were changed to CRLF (git's autocrlf does this on Windows); add \
         `*.enc -text` to .gitattributes, then restore the file: delete it and run \
         `git checkout HEAD -- FILE`"
    )]
    LineEndings,
    /// A problem with the contents of the file at `path`.
    #[error("{}: {error}", path.display())]
    InFile {
        path: PathBuf,
        error: Box<SealError>,
    },
    #[error(
        "not a sealed credential: expected a first line `dropbox-post-sealed v1` or a \
         librec-auto encrypted key; make one with `dropbox-post encrypt`"
    )]
    NotSealed,
    #[error(
        "sealed with format version `{0}`, which this dropbox-post does not know; \
         use a newer dropbox-post"
    )]
    UnsupportedVersion(String),
    #[error("the sealed file was changed or damaged: {0}; seal the credential again")]
    Malformed(&'static str),
    #[error(
        "the sealed file asks for KDF parameters `{0}` beyond the limits (m ≤ {max_m} KiB, \
         t ≤ {max_t}, p ≤ {max_p}); it was changed or not made by dropbox-post",
        max_m = KdfParams::MAX_M_KIB, max_t = KdfParams::MAX_T, max_p = KdfParams::MAX_P
    )]
    ParamsTooLarge(String),
    #[error("KDF parameters `{0}` are below Argon2's minimums (t ≥ 1, p ≥ 1, m ≥ 8·p KiB)")]
    ParamsTooSmall(KdfParams),
    /// What the ciphers say of a wrong password and of a changed ciphertext or header
    /// alike: authenticated encryption cannot tell them apart, and neither should we.
    /// [`SealedFile::open`] turns it into [`SealError::WrongPassword`].
    #[error("wrong password, or the file was changed")]
    WrongPasswordOrChanged,
    /// The same, naming the file and where the password came from.
    #[error(
        "wrong password for {} (from {from}), or the file was changed since it was sealed; \
         check that password, or seal the credential again with `dropbox-post encrypt`",
        path.display()
    )]
    WrongPassword { path: PathBuf, from: Source },
    #[error("the sealed credential is not valid ({0}); seal it again with `dropbox-post encrypt`")]
    BadPlaintext(CredentialError),
    #[error("this credential cannot be sealed ({0}); nothing was written")]
    Unsealable(CredentialError),
    #[error("{} already exists; pass --force to replace it", path.display())]
    Exists { path: PathBuf },
    #[error(
        "cannot write {}: the folder {} does not exist; create it first",
        path.display(),
        (path.parent().filter(|p| !p.as_os_str().is_empty()))
            .map_or_else(|| ".".into(), |p| p.display().to_string())
    )]
    NoFolder { path: PathBuf },
    #[error("cannot write {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{0}")]
    Internal(&'static str),
}

/// Which scheme a file uses; shown by `key check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    V1(KdfParams),
    Legacy,
}

impl Format {
    pub fn describe(&self) -> String {
        match self {
            Format::V1(params) => {
                format!("{} (AES-256-GCM, key from {params})", v1::FIRST_LINE)
            }
            Format::Legacy => format!(
                "librec-auto legacy (Fernet, PBKDF2-SHA256 {} iterations, fixed salt) — weak, \
                 run `dropbox-post key rekey`",
                legacy::ITERATIONS
            ),
        }
    }
}

#[derive(Debug, Clone)]
enum Body {
    V1(v1::Parsed),
    Legacy(legacy::Token),
}

/// A sealed file whose structure has been checked; not yet decrypted.
#[derive(Debug, Clone)]
pub struct SealedFile {
    path: PathBuf,
    body: Body,
}

impl SealedFile {
    /// Reads and checks a sealed file. Errors here never need the password.
    pub fn read(path: &Path) -> Result<Self, SealError> {
        let bytes = read_bounded(path, MAX_FILE_LEN).map_err(|error| match error {
            ReadError::TooLarge(_) => SealError::TooLarge {
                path: path.to_owned(),
            },
            error => SealError::Read {
                path: path.to_owned(),
                error,
            },
        })?;
        Self::parse(path, &bytes)
    }

    /// Checks the bytes of a sealed file; `path` is only for messages.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, SealError> {
        let in_file = |error| SealError::InFile {
            path: path.to_owned(),
            error: Box::new(error),
        };
        let body = if bytes.starts_with(v1::MAGIC.as_bytes()) {
            Body::V1(v1::parse(bytes).map_err(in_file)?)
        } else {
            Body::Legacy(legacy::parse(bytes).ok_or_else(|| in_file(SealError::NotSealed))?)
        };
        Ok(SealedFile {
            path: path.to_owned(),
            body,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn format(&self) -> Format {
        match &self.body {
            Body::V1(parsed) => Format::V1(parsed.params),
            Body::Legacy(_) => Format::Legacy,
        }
    }

    /// Logs (once per call site, on stderr) that the file uses the weak legacy scheme.
    pub fn warn_if_legacy(&self) {
        if self.format() == Format::Legacy {
            tracing::warn!(
                "{} uses librec-auto's weak legacy encryption (PBKDF2 with a fixed salt); \
                 run `dropbox-post key rekey --encrypted {}` to re-seal it",
                self.path.display(),
                self.path.display()
            );
        }
    }

    /// Derives the key, decrypts and validates the credential.
    pub fn open(&self, password: &Password) -> Result<Credential, SealError> {
        let secret = password.secret();
        let plaintext = match &self.body {
            Body::V1(parsed) => parsed.open(secret),
            Body::Legacy(token) => token.open(secret),
        };
        let plaintext = plaintext.map_err(|e| match e {
            SealError::WrongPasswordOrChanged => SealError::WrongPassword {
                path: self.path.clone(),
                from: password.source().clone(),
            },
            e => e,
        })?;
        match &self.body {
            Body::V1(_) => Credential::from_json(&plaintext),
            Body::Legacy(_) => Credential::from_cleartext(&plaintext),
        }
        .map_err(SealError::BadPlaintext)
    }
}

/// Reads, warns about the legacy format, and opens: what every command that uses a sealed
/// credential calls once its password is known.
pub fn open_file(path: &Path, password: &Password) -> Result<Credential, SealError> {
    let sealed = SealedFile::read(path)?;
    sealed.warn_if_legacy();
    sealed.open(password)
}

/// The current format's text for `credential`, with a fresh salt and nonce. What could not
/// be opened again (a field the open refuses, a file past [`MAX_FILE_LEN`]) is refused
/// here, before anything is written: a server's empty or 100 kB refresh token must not
/// replace a working key.
pub fn seal(
    credential: &Credential,
    password: &SecretString,
    params: KdfParams,
) -> Result<String, SealError> {
    let json = credential.to_json();
    Credential::from_json(&json).map_err(SealError::Unsealable)?;
    let text = v1::seal(&json, password, params)?;
    if text.len() as u64 > MAX_FILE_LEN {
        return Err(SealError::Unsealable(CredentialError::TooLong));
    }
    Ok(text)
}

/// Seals `credential` into `path` atomically (a temporary file in the same folder, renamed
/// into place). Without `force`, an existing `path` is never replaced, even by a racing writer.
pub fn seal_to_file(
    path: &Path,
    credential: &Credential,
    password: &SecretString,
    params: KdfParams,
    force: bool,
) -> Result<(), SealError> {
    refuse_existing(path, force)?;
    let text = seal(credential, password, params)?;
    write_atomically(path, text.as_bytes(), force)
}

/// Fails early (before any prompt or key derivation) when `path` exists and `force` is off.
pub fn refuse_existing(path: &Path, force: bool) -> Result<(), SealError> {
    if !force && path.exists() {
        return Err(SealError::Exists {
            path: path.to_owned(),
        });
    }
    Ok(())
}

fn write_atomically(path: &Path, contents: &[u8], force: bool) -> Result<(), SealError> {
    let existing = if force {
        Existing::Replace
    } else {
        Existing::Keep
    };
    files::write_atomically(path, contents, existing).map_err(|error| match error.kind() {
        std::io::ErrorKind::AlreadyExists => SealError::Exists {
            path: path.to_owned(),
        },
        // The temporary file beside it could not be made: say which folder is missing, not
        // the temporary name.
        std::io::ErrorKind::NotFound => SealError::NoFolder {
            path: path.to_owned(),
        },
        _ => SealError::Write {
            path: path.to_owned(),
            error,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::v1::TEST_PARAMS;
    use proptest::prelude::*;

    fn pw(s: &str) -> SecretString {
        SecretString::from(s)
    }

    /// A password as the command line gives it.
    fn given(s: &str) -> Password {
        Password::new(pw(s), Source::Flag("-k/--password"))
    }

    #[test]
    fn what_could_not_be_opened_again_is_not_sealed() {
        let password = SecretString::from("correct horse battery staple");
        let params = KdfParams {
            m_kib: 8,
            t: 1,
            p: 1,
        };
        let refresh = |token: &str| Credential::RefreshToken {
            app_key: "key".into(),
            app_secret: None,
            refresh_token: SecretString::from(token),
        };
        for token in ["", "with space", "ctl\u{7}"] {
            let err = seal(&refresh(token), &password, params).unwrap_err();
            assert!(
                matches!(err, SealError::Unsealable(CredentialError::BadField(_))),
                "{err}"
            );
        }
        let err = seal(&refresh(&"a".repeat(60_000)), &password, params).unwrap_err();
        assert!(
            matches!(err, SealError::Unsealable(CredentialError::TooLong)),
            "{err}"
        );
        assert!(seal(&refresh("ok-token"), &password, params).is_ok());
    }

    #[test]
    fn seal_to_file_round_trips_and_respects_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dropbox.enc");
        let cred = Credential::from_cleartext(b"sl.ROUND-TRIP").unwrap();
        seal_to_file(&path, &cred, &pw("pw"), TEST_PARAMS, false).unwrap();
        let opened = open_file(&path, &given("pw")).unwrap();
        assert_eq!(opened.fingerprint(), cred.fingerprint());

        let before = std::fs::read(&path).unwrap();
        let again = seal_to_file(&path, &cred, &pw("pw"), TEST_PARAMS, false);
        assert!(matches!(again, Err(SealError::Exists { .. })));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        seal_to_file(&path, &cred, &pw("pw2"), TEST_PARAMS, true).unwrap();
        assert!(open_file(&path, &given("pw2")).is_ok());
        // Only the sealed file is left: the temporary file was renamed, not copied.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn refresh_credential_round_trips() {
        let json = br#"{"type":"refresh_token","app_key":"appkey","refresh_token":"r-SECRET"}"#;
        let cred = Credential::from_cleartext(json).unwrap();
        let text = seal(&cred, &pw("pw"), TEST_PARAMS).unwrap();
        let sealed = SealedFile::parse(Path::new("x"), text.as_bytes()).unwrap();
        assert_eq!(sealed.format(), Format::V1(TEST_PARAMS));
        assert_eq!(&*sealed.open(&given("pw")).unwrap().to_json(), &json[..]);
    }

    #[test]
    fn dispatch_and_errors() {
        let p = Path::new("x");
        let inner = |bytes: &[u8]| match SealedFile::parse(p, bytes) {
            Err(SealError::InFile { path, error }) if path == p => *error,
            other => panic!("{:?}", other.map(|s| s.format())),
        };
        assert!(matches!(
            inner(b"sl.cleartext-token\n"),
            SealError::NotSealed
        ));
        assert!(matches!(
            inner(b"dropbox-post-sealed v9\n"),
            SealError::UnsupportedVersion(v) if v == "v9"
        ));
        let missing = SealedFile::read(Path::new("/nonexistent/dropbox.enc"));
        assert!(matches!(missing, Err(SealError::Read { .. })));
    }

    #[test]
    fn sealed_json_that_is_not_a_credential_is_refused() {
        let text = v1::seal(br#"{"type":"nope"}"#, &pw("pw"), TEST_PARAMS).unwrap();
        let sealed = SealedFile::parse(Path::new("x"), text.as_bytes()).unwrap();
        assert!(matches!(
            sealed.open(&given("pw")),
            Err(SealError::BadPlaintext(_))
        ));
    }

    #[test]
    fn example_keys_open_to_the_demo_token() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keys.example");
        let token = Credential::from_cleartext(b"sl.EXAMPLE-demo-token-for-the-emulator").unwrap();
        for (file, password, format_is_v1) in [
            ("dropbox.enc", "correct horse battery staple", true),
            ("legacy.enc", "librec-auto demo key 2020", false),
        ] {
            let sealed = SealedFile::read(&dir.join(file)).unwrap();
            assert_eq!(matches!(sealed.format(), Format::V1(_)), format_is_v1);
            let opened = sealed.open(&given(password)).unwrap();
            assert_eq!(opened.fingerprint(), token.fingerprint(), "{file}");
        }
    }

    /// What a credential field may hold: printable ASCII without spaces.
    fn token() -> impl Strategy<Value = String> {
        "[!-~]{1,60}"
    }

    fn credential() -> impl Strategy<Value = Credential> {
        prop_oneof![
            token().prop_map(|t| Credential::access_token(SecretString::from(t))),
            (token(), proptest::option::of(token()), token()).prop_map(|(key, secret, refresh)| {
                Credential::RefreshToken {
                    app_key: key,
                    app_secret: secret.map(SecretString::from),
                    refresh_token: SecretString::from(refresh),
                }
            }),
        ]
    }

    proptest! {
        // Each case derives three Argon2id keys: keep the cases and the memory small.
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// Any credential sealed with any password (and small KDF parameters) opens to the
        /// same credential; another password, or any one flipped bit of the file, does not.
        #[test]
        fn any_credential_round_trips_and_any_bit_flip_fails(
            cred in credential(),
            password in "\\PC{0,40}",
            (p, extra_kib, t) in (1u32..=2, 0u32..48, 1u32..=2),
            at in any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let params = KdfParams { m_kib: 8 * p + extra_kib, t, p };
            let text = seal(&cred, &pw(&password), params).unwrap();
            let sealed = SealedFile::parse(Path::new("x"), text.as_bytes()).unwrap();
            prop_assert_eq!(sealed.format(), Format::V1(params));
            let opened = sealed.open(&given(&password)).unwrap();
            prop_assert_eq!(&*opened.to_json(), &*cred.to_json());
            let other = given(&format!("{password}."));
            let wrong = sealed.open(&other);
            let refused = matches!(wrong, Err(SealError::WrongPassword { .. }));
            prop_assert!(refused);
            let mut bytes = text.into_bytes();
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
            let changed = SealedFile::parse(Path::new("x"), &bytes).and_then(|s| s.open(&given(&password)));
            prop_assert!(changed.is_err());
        }
    }
}
