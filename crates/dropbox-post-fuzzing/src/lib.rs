//! Fuzz target bodies, one per `fuzz/fuzz_targets/<name>.rs`, kept in the library so
//! `tests/fuzz_corpus.rs` replays the committed corpus on stable Rust without cargo-fuzz.
//!
//! Each function takes any bytes and must not panic: a panic is a finding. Besides "no panic",
//! each asserts the invariants of what it parses (round trips, one-line bounded messages,
//! no planted secret in any message). No key derivation with real costs runs here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, header};
use fernet::Fernet;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde::Serialize;
use serde::de::DeserializeOwned;

use dropbox_emulator::decode::{ARG_HEADER, Validate, content_arg, rpc_arg};
use dropbox_post_core::config::{self, StudyConfig};
use dropbox_post_core::dropbox::client::{classify, decode_json};
use dropbox_post_core::seal::{Credential, SealError, legacy, v1};
use dropbox_wire::arg::{is_header_safe, to_header_json};
use dropbox_wire::types::{
    CreateFolderArg, CreateFolderResult, CreateSharedLinkArg, DeleteArg, DeleteBatchJobStatus,
    DeleteBatchLaunch, DeleteResult, DownloadArg, FileMetadata, FullAccount, GetMetadataArg,
    ListFolderArg, ListFolderContinueArg, ListFolderResult, ListSharedLinksArg,
    ListSharedLinksResult, Metadata, SharedLinkMetadata, TokenResponse, UploadArg,
    UploadSessionAppendArg, UploadSessionFinishArg, UploadSessionFinishBatchArg,
    UploadSessionFinishBatchResult, UploadSessionStartArg, UploadSessionStartResult,
};

/// Longest error line a user should ever see.
pub const MAX_MESSAGE_CHARS: usize = 1024;
/// A secret planted in seeds: where the input holds it as a secret, no message may echo it.
pub const MARKER: &str = "PlantedSecret7f3a";
/// The password the fuzzers open sealed files with (seeds hold a file sealed with it).
pub const PASSWORD: &str = "fuzz password";

/// Error messages are one line of bounded length.
fn check_message(message: &str) {
    assert!(
        !message.contains(['\n', '\r']),
        "message spans lines: {message:?}"
    );
    let chars = message.chars().count();
    assert!(chars <= MAX_MESSAGE_CHARS, "message of {chars} chars");
}

/// Sealed v1 files: a successful parse has one spelling (its input); KDF parameters past the
/// caps are refused while parsing; errors never quote base64 (salt, nonce, ciphertext); files
/// cheap enough to derive a key for are opened with [`PASSWORD`].
pub fn sealed_v1(data: &[u8]) {
    match v1::parse(data) {
        Ok(parsed) => {
            assert_eq!(parsed.to_text().as_bytes(), data, "parse/print round trip");
            assert_eq!(parsed.params.checked().ok(), Some(parsed.params));
            let cheap = parsed.params.m_kib <= 64 && parsed.params.t <= 2;
            if cheap {
                match parsed.open(&SecretString::from(PASSWORD)) {
                    Ok(plaintext) => credential(&plaintext, Credential::from_json(&plaintext)),
                    Err(e) => assert!(matches!(e, SealError::WrongPasswordOrChanged), "{e:?}"),
                }
            }
        }
        Err(e) => {
            let message = e.to_string();
            check_message(&message);
            let text = String::from_utf8_lossy(data);
            let is_b64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
            for line in text.lines() {
                let value = line.split_once(": ").map_or(line, |(_, v)| v);
                if value.len() >= 16 && value.bytes().all(is_b64) {
                    assert!(!message.contains(value), "{message:?} quotes the file");
                }
            }
        }
    }
}

/// librec-auto Fernet files (decrypted with a key derived once) and the cleartext
/// credential they hold: a valid credential re-serializes to an equal one; a refused one is
/// never quoted.
pub fn legacy(data: &[u8]) {
    static FERNET: OnceLock<Fernet> = OnceLock::new();
    if let Some(token) = legacy::parse(data) {
        let fernet = FERNET.get_or_init(|| legacy::fernet_for(&SecretString::from(PASSWORD)));
        if let Ok(plaintext) = token.open_with(fernet) {
            credential(&plaintext, Credential::from_cleartext(&plaintext));
        }
    }
    credential(data, Credential::from_cleartext(data));
}

fn credential(input: &[u8], parsed: Result<Credential, dropbox_post_core::seal::CredentialError>) {
    match parsed {
        Ok(credential) => {
            let json = credential.to_json();
            let again = Credential::from_json(&json).expect("a credential's JSON parses");
            assert_eq!(*again.to_json(), *json);
            assert_eq!(again.fingerprint(), credential.fingerprint());
            assert!(!format!("{credential:?}").contains(MARKER));
        }
        Err(e) => {
            let message = e.to_string();
            check_message(&message);
            if String::from_utf8_lossy(input).contains(MARKER) {
                assert!(
                    !message.contains(MARKER),
                    "{message:?} quotes the credential"
                );
            }
        }
    }
}

/// Study configs, validated against this repository as the study directory (so
/// `keys.example/dropbox.enc` and `examples/study/post` exist). Errors are one bounded line
/// and never quote a password param; a valid config written back as XML reads the same.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match load(text) {
        Ok(study) => {
            for job in &study.jobs {
                assert_eq!(config::normalize_dest(&job.dest).as_ref(), Ok(&job.dest));
                assert!(job.path.exists() && job.encrypted_key.is_file());
            }
            let again = load(&to_xml(&study)).expect("a valid config, written back, is valid");
            let fields = |s: &StudyConfig| {
                s.jobs
                    .iter()
                    .map(|j| {
                        (
                            j.kind,
                            j.encrypted_key.clone(),
                            j.path.clone(),
                            j.dest.clone(),
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(fields(&again), fields(&study));
        }
        Err(e) => {
            let message = e.to_string();
            check_message(&message);
            if marker_only_in_passwords(text) {
                assert!(!message.contains(MARKER), "{message:?} quotes a password");
            }
        }
    }
}

fn load(text: &str) -> Result<StudyConfig, config::ConfigError> {
    let study_dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    config::from_text(text, "config.xml".into(), study_dir, &mut |note| {
        check_message(&note)
    })
}

/// True when the marker occurs and every occurrence is the whole value of a password param.
fn marker_only_in_passwords(text: &str) -> bool {
    let planted = format!(r#"<param name="password">{MARKER}</param>"#);
    text.contains(MARKER) && text.matches(MARKER).count() == text.matches(&planted).count()
}

/// The config's jobs as a librec-auto config.
fn to_xml(study: &StudyConfig) -> String {
    let escape = |s: &Path| quick_xml::escape::escape(s.to_string_lossy().into_owned()).to_string();
    let scripts: String = study
        .jobs
        .iter()
        .map(|job| {
            format!(
                "<script><script-name>dropbox_post.py</script-name>\
                 <param name=\"option\">{:?}</param><param name=\"encrypted_key\">{}</param>\
                 <param name=\"path\">{}</param><param name=\"dest\">{}</param>\
                 <param name=\"share\">{}</param></script>",
                job.kind,
                escape(&job.encrypted_key),
                escape(&job.path),
                quick_xml::escape::escape(job.dest.as_str()),
                job.share
            )
        })
        .collect();
    format!("<librec-auto><post>{scripts}</post></librec-auto>")
}

/// The emulator's reading of a route's argument (header, URL parameter or JSON body, then the
/// Stone checks), and the client's header encoder: whatever the emulator accepts, the client
/// encodes header-safe and the emulator reads back as the same value; any string the client
/// encodes is header-safe and decodes to itself.
///
/// Byte 0 picks the argument type, byte 1 where it travels; the rest is the argument.
pub fn api_arg(data: &[u8]) {
    let [kind, source, arg @ ..] = data else {
        return;
    };
    string_round_trip(&String::from_utf8_lossy(arg));
    match kind % 14 {
        0 => emulator_arg::<UploadArg>(*source, arg),
        1 => emulator_arg::<UploadSessionStartArg>(*source, arg),
        2 => emulator_arg::<UploadSessionAppendArg>(*source, arg),
        3 => emulator_arg::<UploadSessionFinishArg>(*source, arg),
        4 => emulator_arg::<UploadSessionFinishBatchArg>(*source, arg),
        5 => emulator_arg::<DownloadArg>(*source, arg),
        6 => emulator_arg::<ListFolderArg>(*source, arg),
        7 => emulator_arg::<ListFolderContinueArg>(*source, arg),
        8 => emulator_arg::<GetMetadataArg>(*source, arg),
        9 => emulator_arg::<CreateFolderArg>(*source, arg),
        10 => emulator_arg::<DeleteArg>(*source, arg),
        11 => emulator_arg::<CreateSharedLinkArg>(*source, arg),
        12 => emulator_arg::<ListSharedLinksArg>(*source, arg),
        _ => emulator_arg::<()>(*source, arg),
    }
}

fn string_round_trip(s: &str) {
    let json = to_header_json(s).expect("a string serializes");
    assert!(is_header_safe(&json), "{json:?} is not header-safe");
    assert!(HeaderValue::from_str(&json).is_ok());
    assert_eq!(
        serde_json::from_str::<String>(&json).ok().as_deref(),
        Some(s)
    );
}

fn emulator_arg<T>(source: u8, arg: &[u8])
where
    T: DeserializeOwned + Serialize + Validate + PartialEq + std::fmt::Debug,
{
    let decoded = match source % 3 {
        0 => HeaderValue::from_bytes(arg).ok().map(|value| {
            let headers =
                HeaderMap::from_iter([(header::HeaderName::from_static(ARG_HEADER), value)]);
            content_arg::<T>(&headers, &HashMap::new())
        }),
        1 => Some(content_arg::<T>(
            &HeaderMap::new(),
            &HashMap::from([("arg".to_string(), String::from_utf8_lossy(arg).into_owned())]),
        )),
        _ => {
            let headers = HeaderMap::from_iter([(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )]);
            Some(rpc_arg::<T>(&headers, arg, true))
        }
    };
    let Some(Ok(value)) = decoded else {
        return;
    };
    if value.validate().is_err() {
        return;
    }
    let json = to_header_json(&value).expect("an argument serializes");
    let headers = HeaderMap::from_iter([(
        header::HeaderName::from_static(ARG_HEADER),
        HeaderValue::from_str(&json).expect("the client's header JSON is a valid header"),
    )]);
    let again: T = content_arg(&headers, &HashMap::new()).expect("the emulator reads it back");
    assert_eq!(again, value);
    assert_eq!(again.validate(), Ok(()));
}

/// The client's reading of Dropbox's answers. Bytes 0–1 are the status, byte 2 the
/// `Retry-After` seconds (0: none), the rest the body. Error answers become one bounded line;
/// 200 bodies decode into the result types, and what decodes re-serializes to an equal value.
pub fn response(data: &[u8]) {
    let [hi, lo, retry, body @ ..] = data else {
        return;
    };
    let body = String::from_utf8_lossy(body);
    let status = match u16::from_be_bytes([*hi, *lo]) % 1000 {
        s if s < 100 => [400, 401, 403, 409, 429, 500, 503, 200][usize::from(s % 8)],
        s => s,
    };
    let Ok(status) = StatusCode::from_u16(status) else {
        return;
    };
    let retry_after = (*retry != 0).then(|| std::time::Duration::from_secs(u64::from(*retry)));
    let error = classify("files/upload", status, retry_after, &body);
    check_message(&error.to_string());
    let _ = (error.tags(), error.route_error(), error.is_fatal());

    result::<ListFolderResult>(&body);
    result::<UploadSessionFinishBatchResult>(&body);
    result::<UploadSessionStartResult>(&body);
    result::<Metadata>(&body);
    result::<FileMetadata>(&body);
    result::<CreateFolderResult>(&body);
    result::<DeleteResult>(&body);
    result::<DeleteBatchLaunch>(&body);
    result::<DeleteBatchJobStatus>(&body);
    result::<FullAccount>(&body);
    result::<TokenResponse>(&body);
    result::<SharedLinkMetadata>(&body);
    result::<ListSharedLinksResult>(&body);
    if let Ok(batch) = decode_json::<UploadSessionFinishBatchResult>("r", 200, &body) {
        for entry in &batch.entries {
            if let dropbox_wire::types::UploadSessionFinishBatchResultEntry::Failure { failure } =
                entry
            {
                let _ =
                    dropbox_post_core::dropbox::route_error::RouteError::of_finish_entry(failure);
            }
        }
    }
}

fn result<R>(body: &str)
where
    R: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    match decode_json::<R>("files/list_folder", 200, body) {
        Ok(value) => {
            let json = serde_json::to_string(&value).expect("a result serializes");
            let again: R = serde_json::from_str(&json).expect("a result reads back");
            assert_eq!(again, value);
        }
        Err(e) => check_message(&e.to_string()),
    }
}
