//! librec-auto's encrypted key files (`bin/encrypt.py`), read so old studies keep working.
//!
//! The file is one Fernet token (base64url text, often without a trailing newline). Its key is
//! PBKDF2-HMAC-SHA256 of the UTF-8 password with 100,000 iterations and the fixed salt
//! `20200915`, 32 bytes, base64url-encoded. A fixed salt and a fast KDF make offline guessing
//! cheap, so callers suggest `dropbox-post key rekey`. We only ever read this format.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use fernet::Fernet;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::SealError;

pub const ITERATIONS: u32 = 100_000;
pub const SALT: &[u8] = b"20200915";

/// A file that looks like a Fernet token: the `0x80` version byte encodes as `gA`, and the
/// rest is base64url. Decryption checks everything else.
#[derive(Debug, Clone)]
pub struct Token(String);

pub fn parse(file: &[u8]) -> Option<Token> {
    let text = std::str::from_utf8(file).ok()?.trim();
    let looks_like_fernet = text.starts_with("gA")
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='));
    looks_like_fernet.then(|| Token(text.to_owned()))
}

impl Token {
    /// The raw plaintext (librec-auto stored the key file's bytes, newline included).
    /// No TTL: these files are years old by design.
    pub fn open(&self, password: &SecretString) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.open_with(&fernet_for(password))
    }

    /// Decrypts with an already derived key (PBKDF2 is the slow part).
    pub fn open_with(&self, fernet: &Fernet) -> Result<Zeroizing<Vec<u8>>, SealError> {
        fernet
            .decrypt(&self.0)
            .map(Zeroizing::new)
            .map_err(|_| SealError::WrongPasswordOrChanged)
    }
}

pub fn fernet_for(password: &SecretString) -> Fernet {
    let mut raw = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(
        password.expose_secret().as_bytes(),
        SALT,
        ITERATIONS,
        &mut raw[..],
    );
    let encoded = Zeroizing::new(URL_SAFE.encode(&raw[..]));
    Fernet::new(&encoded).expect("a 32-byte key encodes to a valid Fernet key")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector from issue 2: password `password`, timestamp 1600000000, IV 00 01 … 0f.
    const VECTOR: &str = "gAAAAABfXhAAAAECAwQFBgcICQoLDA0OD8yRH3aupVxt5fwqN7OngZXc5CvVFEBcMqh0c2QbARBrbJ-k0u-WVe9JyurDO0U1IyguZjoLksHo7z4PD4Ww4GQ=";

    #[test]
    fn librec_auto_vector_opens() {
        let token = parse(VECTOR.as_bytes()).unwrap();
        let plain = token.open(&SecretString::from("password")).unwrap();
        assert_eq!(&plain[..], b"sl.EXAMPLE-API-KEY\n");
    }

    #[test]
    fn trailing_newline_is_accepted_and_tampering_is_not() {
        let with_newline = format!("{VECTOR}\n");
        assert!(parse(with_newline.as_bytes()).is_some());
        assert!(matches!(
            parse(VECTOR.as_bytes())
                .unwrap()
                .open(&SecretString::from("passw0rd")),
            Err(SealError::WrongPasswordOrChanged)
        ));
        // One key derivation for all variants: PBKDF2 is slow in debug builds.
        let fernet = fernet_for(&SecretString::from("password"));
        for i in 0..VECTOR.len() - 1 {
            let mut changed = VECTOR.to_owned().into_bytes();
            changed[i] = if changed[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(changed).unwrap();
            assert!(fernet.decrypt(&changed).is_err(), "byte {i}");
        }
    }

    #[test]
    fn non_fernet_text_is_not_legacy() {
        for text in ["", "dropbox-post-sealed v1\n", "gA AA", "sl.token"] {
            assert!(parse(text.as_bytes()).is_none(), "{text}");
        }
    }

    /// Regenerates `keys.example/legacy.enc` (demo password `librec-auto demo key 2020`):
    /// `cargo test --lib seal::legacy -- --ignored`.
    #[test]
    #[ignore = "writes keys.example/legacy.enc"]
    fn regenerate_example_legacy_file() {
        let password = SecretString::from("librec-auto demo key 2020");
        let token = fernet_for(&password).encrypt(b"sl.EXAMPLE-demo-token-for-the-emulator\n");
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../keys.example/legacy.enc");
        std::fs::write(path, token).unwrap();
    }
}
