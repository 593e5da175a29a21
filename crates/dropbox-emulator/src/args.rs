//! Reading a route's argument the way Dropbox does: from the `Dropbox-API-Arg` header or
//! `arg` URL parameter (content routes) or the JSON body (RPC routes), then checking the
//! Stone patterns serde cannot express. Every refusal is a 400 with a plain-text reason.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use dropbox_wire::content_hash;
pub use dropbox_wire::types::is_rev;

pub const ARG_HEADER: &str = "dropbox-api-arg";

/// Parses a content route's argument. The header must be HTTP-header-safe JSON.
pub fn content_arg<T: DeserializeOwned>(
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<T, String> {
    let (source, text) = match headers.get(ARG_HEADER) {
        Some(v) => (
            "HTTP header \"Dropbox-API-Arg\"",
            v.to_str().map_err(|_| {
                "HTTP header \"Dropbox-API-Arg\": the value must be HTTP header safe JSON: escape DEL and every non-ASCII character as \\uXXXX".to_string()
            })?,
        ),
        None => match query.get("arg") {
            Some(a) => ("URL parameter \"arg\"", a.as_str()),
            None => {
                return Err(
                    "Must provide HTTP header \"Dropbox-API-Arg\" or URL parameter \"arg\"."
                        .to_string(),
                );
            }
        },
    };
    serde_json::from_str(text).map_err(|e| format!("{source}: could not decode input as JSON: {e}"))
}

/// Parses an RPC route's JSON body; `void` routes also take an empty body.
pub fn rpc_arg<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
    void: bool,
) -> Result<T, String> {
    let body: &[u8] = if void && body.is_empty() {
        b"null"
    } else {
        body
    };
    check_content_type(headers, "application/json", void)?;
    serde_json::from_slice(body)
        .map_err(|e| format!("request body: could not decode input as JSON: {e}"))
}

/// The body's `Content-Type` must be `expected` (parameters aside) or Dropbox's CORS hack.
/// Upload routes and argument-less RPC routes also take a request without one.
pub fn check_content_type(
    headers: &HeaderMap,
    expected: &str,
    may_be_missing: bool,
) -> Result<(), String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let cors_hack = content_type.replace(' ', "") == "text/plain;charset=dropbox-cors-hack";
    if mime.eq_ignore_ascii_case(expected)
        || cors_hack
        || (may_be_missing && content_type.is_empty())
    {
        return Ok(());
    }
    Err(format!(
        "Bad HTTP \"Content-Type\" header: \"{content_type}\".  Expecting one of \"{expected}\", \"text/plain; charset=dropbox-cors-hack\"."
    ))
}

/// Which Stone path alias a field follows.
#[derive(Clone, Copy)]
pub enum PathKind {
    /// `WritePath`: create_folder.
    Write,
    /// `WritePathOrId`: commits, delete.
    WriteOrId,
    /// `PathROrId`: list_folder (root is `""`).
    RootOrId,
    /// `ReadPath`: get_metadata, download.
    Read,
}

impl PathKind {
    fn pattern(self) -> &'static str {
        match self {
            PathKind::Write => r"(/(.|[\r\n])*)|(ns:[0-9]+(/.*)?)",
            PathKind::WriteOrId => r"(/(.|[\r\n])*)|(ns:[0-9]+(/.*)?)|(id:.*)",
            PathKind::RootOrId => r"(/(.|[\r\n])*)?|id:.*|(ns:[0-9]+(/.*)?)",
            PathKind::Read => r"(/(.|[\r\n])*|id:.*)|(rev:[0-9a-f]{9,})|(ns:[0-9]+(/.*)?)",
        }
    }
}

fn is_namespace(path: &str) -> bool {
    path.strip_prefix("ns:").is_some_and(|rest| {
        let digits = rest.split('/').next().unwrap_or("");
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Checks `path` against its Stone pattern and Dropbox's extra root rules.
pub fn check_path(field: &str, path: &str, kind: PathKind) -> Result<(), String> {
    let ok = path.starts_with('/')
        || is_namespace(path)
        || match kind {
            PathKind::Write => false,
            PathKind::WriteOrId => path.starts_with("id:"),
            PathKind::RootOrId => path.is_empty() || path.starts_with("id:"),
            PathKind::Read => {
                path.starts_with("id:") || path.strip_prefix("rev:").is_some_and(is_rev)
            }
        };
    if !ok {
        return Err(format!(
            "request body: {field}: '{path}' did not match pattern '{}'",
            kind.pattern()
        ));
    }
    match (kind, path) {
        (PathKind::RootOrId, "/") => Err(format!(
            "request body: {field}: Specify the root folder as an empty string rather than as \"/\"."
        )),
        (PathKind::Read, "/") => Err(format!(
            "request body: {field}: The root folder is unsupported."
        )),
        _ => Ok(()),
    }
}

/// `content_hash` is a `Sha256HexHash`: exactly 64 characters.
pub fn check_hash(hash: Option<&str>) -> Result<(), String> {
    match hash {
        Some(h) if !content_hash::is_valid(h) => Err(format!(
            "content_hash: '{h}' must be 64 hexadecimal characters"
        )),
        _ => Ok(()),
    }
}

/// `DropboxTimestamp`: `%Y-%m-%dT%H:%M:%SZ`.
pub fn check_timestamp(field: &str, value: Option<&str>) -> Result<(), String> {
    match value {
        Some(v) if chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%SZ").is_err() => Err(
            format!("{field}: '{v}' is not a timestamp in the format '%Y-%m-%dT%H:%M:%SZ'"),
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use dropbox_wire::types::{ListFolderArg, UploadArg};

    #[test]
    fn header_must_be_ascii() {
        let mut h = HeaderMap::new();
        h.insert(
            ARG_HEADER,
            HeaderValue::from_bytes("{\"path\":\"/é\"}".as_bytes()).unwrap(),
        );
        assert!(content_arg::<UploadArg>(&h, &HashMap::new()).is_err());
        h.insert(
            ARG_HEADER,
            HeaderValue::from_static(r#"{"path":"/\ud83d\ude00"}"#),
        );
        let a: UploadArg = content_arg(&h, &HashMap::new()).unwrap();
        assert_eq!(a.commit.path, "/😀");
    }

    #[test]
    fn rpc_content_type_and_void() {
        let mut h = HeaderMap::new();
        assert!(rpc_arg::<()>(&h, b"", true).is_ok());
        assert!(rpc_arg::<ListFolderArg>(&h, br#"{"path":""}"#, false).is_err());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(rpc_arg::<ListFolderArg>(&h, br#"{"path":""}"#, false).is_ok());
        assert!(rpc_arg::<ListFolderArg>(&h, br#"{"path":"","x":1}"#, false).is_err());
    }

    #[test]
    fn path_patterns() {
        assert!(check_path("path", "", PathKind::RootOrId).is_ok());
        let root = check_path("path", "/", PathKind::RootOrId).unwrap_err();
        assert!(root.contains("empty string"));
        assert!(check_path("path", "", PathKind::Read).is_err());
        assert!(check_path("path", "/", PathKind::Read).is_err());
        assert!(check_path("path", "rev:0123456789", PathKind::Read).is_ok());
        assert!(check_path("path", "a.txt", PathKind::WriteOrId).is_err());
        assert!(check_path("path", "id:abc", PathKind::Write).is_err());
        assert!(check_path("path", "ns:12/a", PathKind::Write).is_ok());
        assert!(check_timestamp("t", Some("2015-05-12T15:50:38Z")).is_ok());
        assert!(check_timestamp("t", Some("2015-05-12 15:50:38")).is_err());
        assert!(check_hash(Some("00")).is_err());
    }

    proptest::proptest! {
        /// Any path, control characters and astral chars included, survives the trip
        /// through the header and the emulator's reading of it.
        #[test]
        fn any_path_survives_the_header(path in "/\\PC{0,40}|/.{0,20}|[\\\\%\"' ]{0,8}") {
            let json = dropbox_wire::arg::to_header_json(&serde_json::json!({"path": path, "mode": "overwrite"})).unwrap();
            proptest::prop_assert!(dropbox_wire::arg::is_header_safe(&json), "{}", json);
            let mut headers = HeaderMap::new();
            headers.insert(
                ARG_HEADER,
                HeaderValue::from_str(&json).unwrap(),
            );
            let arg: UploadArg =
                content_arg(&headers, &Default::default()).unwrap();
            proptest::prop_assert_eq!(arg.commit.path, path);
        }
    }
}
