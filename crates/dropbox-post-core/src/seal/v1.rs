//! Sealed format v1: Argon2id → AES-256-GCM, as specified in `docs/sealed-format.md`.
//!
//! ```text
//! dropbox-post-sealed v1
//! kdf: argon2id m=65536 t=3 p=1
//! salt: <base64, 16 bytes>
//! nonce: <base64, 12 bytes>
//! ciphertext: <base64, AES-256-GCM ciphertext followed by its 16-byte tag>
//! ```
//!
//! The first four lines (with their newlines) are the GCM associated data, so every header
//! byte is authenticated. Parsing is strict (exact lines, canonical numbers and base64) so
//! each file has exactly one valid spelling, and KDF limits are enforced while parsing,
//! before any key derivation can allocate memory.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::SealError;

pub const FIRST_LINE: &str = "dropbox-post-sealed v1";
/// What every version's first line starts with.
pub const MAGIC: &str = "dropbox-post-sealed";
pub const SALT_LEN: usize = 16;
pub const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// Argon2id cost parameters, stored in the file so they can change without a new version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes over the memory.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// RFC 9106 §4's second recommended option (memory-constrained): 64 MiB, 3 passes, 1 lane.
    pub const DEFAULT: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };
    /// Opening a file never costs more than this, whatever the file says: m·t bounds the
    /// work (the lanes share it). 4 times the default memory and 8/3 its passes: 1.3–1.9 s
    /// and 266 MiB at the caps (docs/security.md), against 18 s and 1 GiB before.
    pub const MAX_M_KIB: u32 = 256 * 1024;
    pub const MAX_T: u32 = 8;
    pub const MAX_P: u32 = 16;

    /// OWASP's Argon2id minimums (Password Storage Cheat Sheet), memory in KiB by passes:
    /// below them each offline guess at the password costs too little. More passes than the
    /// table lists need what its last row does.
    const OWASP_FLOOR: [(u32, u32); 5] = [
        (1, 47_104),
        (2, 19_456),
        (3, 12_288),
        (4, 9_216),
        (5, 7_168),
    ];

    /// The least memory (KiB) OWASP accepts with `t` passes.
    pub fn floor_kib(t: u32) -> u32 {
        Self::OWASP_FLOOR
            .iter()
            .rev()
            .find(|(passes, _)| t >= *passes)
            .map_or(Self::OWASP_FLOOR[0].1, |(_, m)| *m)
    }

    /// Why these parameters are too cheap to guard a public file, if they are: the one
    /// place `encrypt` refuses them and `key check` warns.
    pub fn weakness(&self) -> Option<String> {
        let floor = Self::floor_kib(self.t);
        (self.m_kib < floor).then(|| {
            format!(
                "Argon2id m={} KiB t={} is below OWASP's Argon2id minimum of {floor} KiB for \
                 t={}: each offline guess at the password costs almost nothing",
                self.m_kib, self.t, self.t
            )
        })
    }

    /// Accepts parameters within the caps and Argon2's own minimums (t ≥ 1, p ≥ 1, m ≥ 8·p).
    pub fn checked(self) -> Result<Self, SealError> {
        if self.m_kib > Self::MAX_M_KIB || self.t > Self::MAX_T || self.p > Self::MAX_P {
            return Err(SealError::ParamsTooLarge(self.to_string()));
        }
        if self.t < 1 || self.p < 1 || self.m_kib < 8 * self.p {
            return Err(SealError::ParamsTooSmall(self));
        }
        Ok(self)
    }
}

impl fmt::Display for KdfParams {
    /// The exact spelling of the file's `kdf:` line after the colon.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "argon2id m={} t={} p={}", self.m_kib, self.t, self.p)
    }
}

/// A structurally valid v1 file, not yet decrypted.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub params: KdfParams,
    pub salt: [u8; SALT_LEN],
    pub nonce: [u8; NONCE_LEN],
    /// The header lines, byte for byte: the GCM associated data.
    aad: Vec<u8>,
    ciphertext: Vec<u8>,
}

/// Checks the structure of a file whose first line starts with [`MAGIC`].
pub fn parse(file: &[u8]) -> Result<Parsed, SealError> {
    let text = std::str::from_utf8(file).map_err(|_| malformed("not ASCII text"))?;
    if text.contains("\r\n") {
        return Err(SealError::LineEndings);
    }
    let body = text
        .strip_suffix('\n')
        .ok_or(malformed("does not end with a newline"))?;
    let lines: Vec<&str> = body.split('\n').collect();
    let first = lines[0];
    if first != FIRST_LINE {
        return Err(
            match first.strip_prefix(MAGIC).and_then(|v| v.strip_prefix(' ')) {
                Some(version) => SealError::UnsupportedVersion(printable(version, 16)),
                None => SealError::NotSealed,
            },
        );
    }
    let [_, kdf, salt, nonce, ciphertext] = lines[..] else {
        return Err(malformed("expected exactly 5 lines"));
    };
    let params = parse_kdf(field(kdf, "kdf")?)?.checked()?;
    let salt = b64_exact::<SALT_LEN>(field(salt, "salt")?, "salt")?;
    let nonce = b64_exact::<NONCE_LEN>(field(nonce, "nonce")?, "nonce")?;
    let ciphertext = b64(field(ciphertext, "ciphertext")?, "ciphertext")?;
    if ciphertext.len() < TAG_LEN {
        return Err(malformed("ciphertext is shorter than its tag"));
    }
    let aad_len = text.len() - ciphertext_line_len(text);
    Ok(Parsed {
        params,
        salt,
        nonce,
        aad: file[..aad_len].to_vec(),
        ciphertext,
    })
}

impl Parsed {
    /// The file's one valid spelling: parsing it gives back an equal `Parsed`.
    pub fn to_text(&self) -> String {
        format!(
            "{}ciphertext: {}\n",
            header(self.params, &self.salt, &self.nonce),
            B64.encode(&self.ciphertext)
        )
    }

    /// Derives the key and decrypts. Any wrong byte or wrong password fails the tag check.
    pub fn open(&self, password: &SecretString) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let key = derive(password, self.params, &self.salt)?;
        let cipher = Aes256Gcm::new_from_slice(&key[..]).expect("key is 32 bytes");
        let payload = Payload {
            msg: &self.ciphertext,
            aad: &self.aad,
        };
        cipher
            .decrypt(Nonce::from_slice(&self.nonce), payload)
            .map(Zeroizing::new)
            .map_err(|_| SealError::WrongPasswordOrChanged)
    }
}

/// Seals `plaintext` with a fresh random salt and nonce.
pub fn seal(
    plaintext: &[u8],
    password: &SecretString,
    params: KdfParams,
) -> Result<String, SealError> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut nonce);
    seal_with(plaintext, password, params, &salt, &nonce)
}

/// Seals with a given salt and nonce. Only [`seal`] and test vectors should call this:
/// reusing a salt/nonce pair with the same password breaks GCM.
pub fn seal_with(
    plaintext: &[u8],
    password: &SecretString,
    params: KdfParams,
    salt: &[u8; SALT_LEN],
    nonce: &[u8; NONCE_LEN],
) -> Result<String, SealError> {
    let params = params.checked()?;
    let aad = header(params, salt, nonce).into_bytes();
    let key = derive(password, params, salt)?;
    let cipher = Aes256Gcm::new_from_slice(&key[..]).expect("key is 32 bytes");
    let payload = Payload {
        msg: plaintext,
        aad: &aad,
    };
    let ciphertext = cipher
        .encrypt(Nonce::from_slice(nonce), payload)
        .map_err(|_| SealError::Internal("AES-GCM refused to encrypt"))?;
    let sealed = Parsed {
        params,
        salt: *salt,
        nonce: *nonce,
        aad,
        ciphertext,
    };
    Ok(sealed.to_text())
}

/// The first four lines: the GCM associated data.
fn header(params: KdfParams, salt: &[u8; SALT_LEN], nonce: &[u8; NONCE_LEN]) -> String {
    format!(
        "{FIRST_LINE}\nkdf: {params}\nsalt: {}\nnonce: {}\n",
        B64.encode(salt),
        B64.encode(nonce)
    )
}

fn derive(
    password: &SecretString,
    params: KdfParams,
    salt: &[u8],
) -> Result<Zeroizing<[u8; KEY_LEN]>, SealError> {
    let argon_params = Params::new(params.m_kib, params.t, params.p, Some(KEY_LEN))
        .map_err(|_| SealError::ParamsTooSmall(params))?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params)
        .hash_password_into(password.expose_secret().as_bytes(), salt, &mut key[..])
        .map_err(|_| SealError::Internal("Argon2id key derivation failed"))?;
    Ok(key)
}

fn malformed(what: &'static str) -> SealError {
    SealError::Malformed(what)
}

/// The value after `name: `, or an error naming the line.
fn field<'a>(line: &'a str, name: &'static str) -> Result<&'a str, SealError> {
    line.strip_prefix(name)
        .and_then(|rest| rest.strip_prefix(": "))
        .ok_or(SealError::Malformed(match name {
            "kdf" => "line 2 should be `kdf: argon2id m=… t=… p=…`",
            "salt" => "line 3 should be `salt: …`",
            "nonce" => "line 4 should be `nonce: …`",
            _ => "line 5 should be `ciphertext: …`",
        }))
}

fn parse_kdf(value: &str) -> Result<KdfParams, SealError> {
    let bad = || malformed("the kdf line should read `argon2id m=<KiB> t=<passes> p=<lanes>`");
    let mut words = value.split(' ');
    if words.next() != Some("argon2id") {
        return Err(bad());
    }
    let mut number = |name: &str| -> Result<u32, SealError> {
        let digits = words
            .next()
            .and_then(|w| w.strip_prefix(name))
            .and_then(|w| w.strip_prefix('='))
            .ok_or_else(bad)?;
        match canonical_u32(digits).ok_or_else(bad)? {
            Some(n) => Ok(n),
            None => Err(SealError::ParamsTooLarge(printable(value, 80))),
        }
    };
    let params = KdfParams {
        m_kib: number("m")?,
        t: number("t")?,
        p: number("p")?,
    };
    if words.next().is_some() {
        return Err(bad());
    }
    Ok(params)
}

/// Decimal without sign or leading zeros; `Some(None)` for a number beyond `u32`, reported
/// as too large (with the file's own digits) rather than as a syntax error.
fn canonical_u32(s: &str) -> Option<Option<u32>> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse::<u32>().ok())
}

/// Standard base64 with padding, in its one canonical spelling.
fn b64(value: &str, what: &'static str) -> Result<Vec<u8>, SealError> {
    let bytes = B64.decode(value).map_err(|_| malformed(b64_error(what)))?;
    if B64.encode(&bytes) != value {
        return Err(malformed(b64_error(what)));
    }
    Ok(bytes)
}

fn b64_exact<const N: usize>(value: &str, what: &'static str) -> Result<[u8; N], SealError> {
    b64(value, what)?.try_into().map_err(|_| {
        malformed(match what {
            "salt" => "the salt must be 16 bytes",
            _ => "the nonce must be 12 bytes",
        })
    })
}

fn b64_error(what: &'static str) -> &'static str {
    match what {
        "salt" => "the salt is not canonical base64",
        "nonce" => "the nonce is not canonical base64",
        _ => "the ciphertext is not canonical base64",
    }
}

/// Length of the last line including its newline (the ciphertext line).
fn ciphertext_line_len(text: &str) -> usize {
    let body = &text[..text.len() - 1];
    body.len() - body.rfind('\n').map_or(0, |i| i + 1) + 1
}

/// File text safe to echo in an error (the file may hold anything).
fn printable(text: &str, max_chars: usize) -> String {
    text.chars()
        .take(max_chars)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) const TEST_PARAMS: KdfParams = KdfParams {
    m_kib: 8,
    t: 1,
    p: 1,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> SecretString {
        SecretString::from(s)
    }

    #[test]
    fn owasp_floor_by_passes() {
        let weak = |m_kib, t| KdfParams { m_kib, t, p: 1 }.weakness().is_some();
        for (m, t) in [
            (47_104, 1),
            (19_456, 2),
            (12_288, 3),
            (9_216, 4),
            (7_168, 5),
            (7_168, 8),
        ] {
            assert!(!weak(m, t) && weak(m - 1, t), "m={m} t={t}");
        }
        assert!(KdfParams::DEFAULT.weakness().is_none());
        assert!(weak(8, 1));
    }

    #[test]
    fn round_trip_and_fresh_randomness() {
        let a = seal(b"hello", &pw("pw"), TEST_PARAMS).unwrap();
        let b = seal(b"hello", &pw("pw"), TEST_PARAMS).unwrap();
        assert_ne!(a, b, "salt and nonce must be fresh");
        for file in [&a, &b] {
            let parsed = parse(file.as_bytes()).unwrap();
            assert_eq!(parsed.params, TEST_PARAMS);
            assert_eq!(&*parsed.open(&pw("pw")).unwrap(), b"hello");
            assert!(matches!(
                parsed.open(&pw("pW")),
                Err(SealError::WrongPasswordOrChanged)
            ));
        }
        assert!(a.starts_with("dropbox-post-sealed v1\nkdf: argon2id m=8 t=1 p=1\nsalt: "));
        assert!(a.ends_with('\n') && a.is_ascii() && a.lines().count() == 5);
    }

    #[test]
    fn every_single_byte_change_fails() {
        let file = seal(b"{\"x\":1}", &pw("pw"), TEST_PARAMS)
            .unwrap()
            .into_bytes();
        for i in 0..file.len() {
            for replacement in [file[i] ^ 0x01, file[i] ^ 0x20, b'\n', b'9', b'A'] {
                if replacement == file[i] {
                    continue;
                }
                let mut changed = file.clone();
                changed[i] = replacement;
                let result = parse(&changed).and_then(|p| p.open(&pw("pw")));
                assert!(result.is_err(), "byte {i} -> {replacement:#x} still opened");
            }
        }
    }

    #[test]
    fn truncation_and_extension_fail() {
        let file = seal(b"secret", &pw("pw"), TEST_PARAMS)
            .unwrap()
            .into_bytes();
        for len in 0..file.len() {
            let result = parse(&file[..len]).and_then(|p| p.open(&pw("pw")));
            assert!(result.is_err(), "truncated to {len} still opened");
        }
        for extra in [&b"\n"[..], b" ", b"x\n", b"\r\n"] {
            let mut longer = file.clone();
            longer.extend_from_slice(extra);
            assert!(parse(&longer).is_err());
        }
    }

    #[test]
    fn unknown_version_is_named() {
        let file = seal(b"s", &pw("pw"), TEST_PARAMS).unwrap();
        let v2 = file.replacen("sealed v1", "sealed v2", 1);
        match parse(v2.as_bytes()) {
            Err(e @ SealError::UnsupportedVersion(_)) => {
                assert!(e.to_string().contains("`v2`"), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oversized_params_are_refused_while_parsing() {
        let file = seal(b"s", &pw("pw"), TEST_PARAMS).unwrap();
        for (kdf, too_large) in [
            ("m=4194304 t=1 p=1", true),
            ("m=1048577 t=1 p=1", true),
            ("m=99999999999999 t=1 p=1", true),
            ("m=262145 t=1 p=1", true),
            ("m=8 t=9 p=1", true),
            ("m=8 t=17 p=1", true),
            ("m=4096 t=1 p=17", true),
            ("m=8 t=0 p=1", false),
            ("m=8 t=1 p=0", false),
            ("m=8 t=1 p=2", false),
        ] {
            let changed = file.replace("m=8 t=1 p=1", kdf);
            match parse(changed.as_bytes()) {
                Err(SealError::ParamsTooLarge(_)) if too_large => {}
                Err(SealError::ParamsTooSmall(_)) if !too_large => {}
                other => panic!("{kdf}: {other:?}"),
            }
        }
        // The caps themselves are accepted by the parser (and then fail the tag check).
        let at_cap = file.replace("m=8 t=1 p=1", "m=262144 t=8 p=16");
        assert_eq!(
            parse(at_cap.as_bytes()).unwrap().params,
            KdfParams {
                m_kib: KdfParams::MAX_M_KIB,
                t: KdfParams::MAX_T,
                p: KdfParams::MAX_P
            }
        );
        // A number beyond 32 bits is shown as the file spells it, not as 4294967295.
        let huge = file.replace("m=8 ", "m=99999999999999999999999999 ");
        let message = parse(huge.as_bytes()).unwrap_err().to_string();
        assert!(
            message.contains("m=99999999999999999999999999 t=1 p=1"),
            "{message}"
        );
        assert!(!message.contains("4294967295"), "{message}");
    }

    #[test]
    fn non_canonical_spellings_are_refused() {
        let file = seal(b"s", &pw("pw"), TEST_PARAMS).unwrap();
        for (from, to) in [
            ("m=8 ", "m=08 "),
            ("m=8 ", "m=+8 "),
            ("m=8 t=1 p=1", "m=8 t=1 p=1 x=1"),
            ("kdf: argon2id", "kdf: argon2i"),
            ("kdf: ", "kdf:  "),
            ("salt: ", "Salt: "),
        ] {
            let changed = file.replacen(from, to, 1);
            assert!(
                matches!(parse(changed.as_bytes()), Err(SealError::Malformed(_))),
                "{to}"
            );
        }
        let crlf = file.replace('\n', "\r\n");
        assert!(matches!(
            parse(crlf.as_bytes()),
            Err(SealError::LineEndings)
        ));
    }

    /// The `text` code blocks of the "## Test vector" section of docs/sealed-format.md.
    fn doc_vector_blocks() -> Vec<String> {
        let doc = include_str!("../../../../docs/sealed-format.md");
        let section = doc.split("## Test vector").nth(1).expect("vector section");
        let section = section.split("\n## ").next().unwrap();
        section
            .split("```text\n")
            .skip(1)
            .map(|block| block.split("```").next().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn doc_test_vector() {
        let blocks = doc_vector_blocks();
        let [inputs, file] = &blocks[..] else {
            panic!("expected an inputs block and a file block")
        };
        let input = |name: &str| {
            inputs
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        let password = pw(input("password"));
        let params = parse_kdf(input("kdf")).unwrap();
        let salt: [u8; SALT_LEN] = hex::decode(input("salt (hex)"))
            .unwrap()
            .try_into()
            .unwrap();
        let nonce: [u8; NONCE_LEN] = hex::decode(input("nonce (hex)"))
            .unwrap()
            .try_into()
            .unwrap();
        let key = derive(&password, params, &salt).unwrap();
        assert_eq!(hex::encode(&key[..]), input("key (hex)"));

        let plaintext = input("plaintext").as_bytes();
        let sealed = seal_with(plaintext, &password, params, &salt, &nonce).unwrap();
        assert_eq!(&sealed, file);
        let parsed = parse(file.as_bytes()).unwrap();
        assert_eq!((parsed.salt, parsed.nonce), (salt, nonce));
        assert_eq!(&parsed.open(&password).unwrap()[..], plaintext);
    }
}
