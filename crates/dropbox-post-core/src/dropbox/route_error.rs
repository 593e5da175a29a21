//! The error shapes of the routes this client calls (`files.stone`, `sharing.stone`),
//! decoded per route, so that a tag counts only where the route puts it: `conflict` under
//! `path` of `upload_session/finish`, `incorrect_offset` at the top of `append_v2` and
//! under `lookup_failed` of `finish`, and so on. What a route error says in words is
//! `error::explain`'s; this is what it means for the code that acts on it.
//!
//! Stone writes a union as `{".tag": t, t: value}` for a union or primitive member and
//! puts a struct member's fields beside the tag. Only the members acted on are decoded:
//! every other shape (`other`, tags added later, a tag out of place) is
//! [`RouteError::Other`].

use serde::Deserialize;
use serde_json::Value;

/// What a route error (a 409's `error`, a batch entry's `failure`) means to its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// The path (or the upload session) does not exist.
    NotFound,
    /// Something is already at the path.
    Conflict(WriteConflict),
    /// The server holds a different number of bytes for the session; resume there.
    IncorrectOffset(u64),
    /// The session was already closed (a retried close got through the first time).
    Closed,
    ContentHashMismatch,
    /// Namespace lock contention: retry later.
    TooManyWriteOperations,
    InsufficientSpace,
    Other,
}

/// `WriteConflictError`: what is already at the path.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum WriteConflict {
    File,
    Folder,
    FileAncestor,
    /// A kind added later: still something in the way.
    #[serde(other)]
    Other,
}

impl RouteError {
    /// The error of a call to `route`; a route this client does not call means nothing.
    pub fn of(route: &str, error: &Value) -> RouteError {
        match route {
            "files/upload_session/start" => decode::<HashMismatch>(error).map(Into::into),
            "files/upload_session/append_v2" => decode::<AppendError>(error).map(Into::into),
            "files/upload_session/append_batch" => decode::<HashMismatch>(error).map(Into::into),
            "files/upload_session/finish" => decode::<FinishError>(error).map(Into::into),
            "files/upload" => decode::<UploadError>(error).map(Into::into),
            "files/create_folder_v2" => decode::<UnderPath<WriteError>>(error).map(Into::into),
            "files/delete_v2" | "files/restore" => decode::<DeleteError>(error).map(Into::into),
            "files/delete_batch/check" => decode::<DeleteBatchError>(error).map(Into::into),
            "files/get_metadata"
            | "files/list_folder"
            | "files/list_folder/continue"
            | "files/list_revisions"
            | "files/download"
            | "sharing/create_shared_link_with_settings"
            | "sharing/list_shared_links" => {
                decode::<UnderPath<LookupError>>(error).map(Into::into)
            }
            _ => None,
        }
        .unwrap_or(RouteError::Other)
    }

    /// A failed entry of `files/upload_session/finish_batch_v2` (an `UploadSessionFinishError`).
    pub fn of_finish_entry(failure: &Value) -> RouteError {
        Self::of("files/upload_session/finish", failure)
    }

    /// A failed entry of `files/upload_session/append_batch` (an
    /// `UploadSessionAppendBatchEntryError`, whose first members are
    /// `UploadSessionLookupError`'s).
    pub fn of_append_entry(failure: &Value) -> RouteError {
        decode::<SessionLookupError>(failure).map_or(RouteError::Other, Into::into)
    }

    /// A failed entry of `files/delete_batch` (a `DeleteError`).
    pub fn of_delete_entry(failure: &Value) -> RouteError {
        Self::of("files/delete_v2", failure)
    }
}

/// A shape that does not decode (a tag out of place, a field missing) means nothing.
fn decode<T: serde::de::DeserializeOwned>(error: &Value) -> Option<T> {
    T::deserialize(error).ok()
}

/// `LookupError`.
#[derive(Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
enum LookupError {
    NotFound,
}

impl From<LookupError> for RouteError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::NotFound => RouteError::NotFound,
        }
    }
}

/// `WriteError`.
#[derive(Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
enum WriteError {
    Conflict { conflict: WriteConflict },
    InsufficientSpace,
    TooManyWriteOperations,
}

impl From<WriteError> for RouteError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Conflict { conflict } => RouteError::Conflict(conflict),
            WriteError::InsufficientSpace => RouteError::InsufficientSpace,
            WriteError::TooManyWriteOperations => RouteError::TooManyWriteOperations,
        }
    }
}

/// `UploadSessionLookupError`.
#[derive(Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
enum SessionLookupError {
    NotFound,
    /// `UploadSessionOffsetError`, a struct: its field sits beside the tag.
    IncorrectOffset {
        correct_offset: u64,
    },
    Closed,
}

impl From<SessionLookupError> for RouteError {
    fn from(e: SessionLookupError) -> Self {
        match e {
            SessionLookupError::NotFound => RouteError::NotFound,
            SessionLookupError::IncorrectOffset { correct_offset } => {
                RouteError::IncorrectOffset(correct_offset)
            }
            SessionLookupError::Closed => RouteError::Closed,
        }
    }
}

/// `content_hash_mismatch`, which `UploadSessionStartError` and `UploadSessionAppendError`
/// have besides tags this client does not act on.
#[derive(Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
enum HashMismatch {
    ContentHashMismatch,
}

impl From<HashMismatch> for RouteError {
    fn from(HashMismatch::ContentHashMismatch: HashMismatch) -> Self {
        RouteError::ContentHashMismatch
    }
}

/// `UploadSessionAppendError`: `UploadSessionLookupError` extended.
#[derive(Deserialize)]
#[serde(untagged)]
enum AppendError {
    Hash(HashMismatch),
    Lookup(SessionLookupError),
}

impl From<AppendError> for RouteError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Hash(hash) => hash.into(),
            AppendError::Lookup(lookup) => lookup.into(),
        }
    }
}

/// `UploadSessionFinishError`.
#[derive(Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
enum FinishError {
    LookupFailed { lookup_failed: SessionLookupError },
    Path { path: WriteError },
    TooManyWriteOperations,
    ContentHashMismatch,
}

impl From<FinishError> for RouteError {
    fn from(e: FinishError) -> Self {
        match e {
            FinishError::LookupFailed { lookup_failed } => lookup_failed.into(),
            FinishError::Path { path } => path.into(),
            FinishError::TooManyWriteOperations => RouteError::TooManyWriteOperations,
            FinishError::ContentHashMismatch => RouteError::ContentHashMismatch,
        }
    }
}

/// `UploadError`: its `path` member is the struct `UploadWriteFailed`, whose `reason` is
/// the `WriteError`.
#[derive(Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
enum UploadError {
    Path { reason: WriteError },
    ContentHashMismatch,
}

impl From<UploadError> for RouteError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::Path { reason } => reason.into(),
            UploadError::ContentHashMismatch => RouteError::ContentHashMismatch,
        }
    }
}

/// A route's error under `path`: a `WriteError` (`CreateFolderError`), or a `LookupError`
/// (`GetMetadataError`, `ListFolderError`, `ListFolderContinueError`, `ListRevisionsError`,
/// `DownloadError`, and sharing's `CreateSharedLinkWithSettingsError` and
/// `ListSharedLinksError`).
#[derive(Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
enum UnderPath<E> {
    Path { path: E },
}

impl<E: Into<RouteError>> From<UnderPath<E>> for RouteError {
    fn from(e: UnderPath<E>) -> Self {
        match e {
            UnderPath::Path { path } => path.into(),
        }
    }
}

/// `DeleteError`, and `RestoreError`, which has the same two path members.
#[derive(Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
enum DeleteError {
    PathLookup { path_lookup: LookupError },
    PathWrite { path_write: WriteError },
    TooManyWriteOperations,
}

impl From<DeleteError> for RouteError {
    fn from(e: DeleteError) -> Self {
        match e {
            DeleteError::PathLookup { path_lookup } => path_lookup.into(),
            DeleteError::PathWrite { path_write } => path_write.into(),
            DeleteError::TooManyWriteOperations => RouteError::TooManyWriteOperations,
        }
    }
}

/// `DeleteBatchError`: why a whole `delete_batch` job failed.
#[derive(Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
enum DeleteBatchError {
    TooManyWriteOperations,
}

impl From<DeleteBatchError> for RouteError {
    fn from(e: DeleteBatchError) -> Self {
        match e {
            DeleteBatchError::TooManyWriteOperations => RouteError::TooManyWriteOperations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn of(route: &str, error: Value) -> RouteError {
        RouteError::of(&format!("files/{route}"), &error)
    }

    #[test]
    fn upload_session_errors() {
        let offset = json!({".tag":"incorrect_offset","correct_offset":5});
        assert_eq!(
            of("upload_session/append_v2", offset),
            RouteError::IncorrectOffset(5)
        );
        let closed = json!({".tag":"closed"});
        assert_eq!(of("upload_session/append_v2", closed), RouteError::Closed);
        let gone = json!({".tag":"not_found"});
        assert_eq!(of("upload_session/append_v2", gone), RouteError::NotFound);
        let hash = json!({".tag":"content_hash_mismatch"});
        assert_eq!(
            of("upload_session/append_v2", hash.clone()),
            RouteError::ContentHashMismatch
        );
        assert_eq!(
            of("upload_session/start", hash.clone()),
            RouteError::ContentHashMismatch
        );
        assert_eq!(
            of("upload_session/append_batch", hash),
            RouteError::ContentHashMismatch
        );
    }

    #[test]
    fn append_batch_entry_errors() {
        let entry = |failure| RouteError::of_append_entry(&failure);
        let offset = json!({".tag":"incorrect_offset","correct_offset":5});
        assert_eq!(entry(offset), RouteError::IncorrectOffset(5));
        assert_eq!(entry(json!({".tag":"closed"})), RouteError::Closed);
        assert_eq!(entry(json!({".tag":"not_found"})), RouteError::NotFound);
        let size = json!({".tag":"concurrent_session_invalid_data_size"});
        assert_eq!(entry(size), RouteError::Other);
        assert_eq!(entry(json!({".tag":"too_large"})), RouteError::Other);
    }

    #[test]
    fn finish_errors_and_finish_batch_entries() {
        let cases = [
            (
                json!({".tag":"lookup_failed","lookup_failed":{".tag":"incorrect_offset","correct_offset":8388608}}),
                RouteError::IncorrectOffset(8_388_608),
            ),
            (
                json!({".tag":"lookup_failed","lookup_failed":{".tag":"closed"}}),
                RouteError::Closed,
            ),
            (
                json!({".tag":"path","path":{".tag":"conflict","conflict":{".tag":"folder"}}}),
                RouteError::Conflict(WriteConflict::Folder),
            ),
            (
                json!({".tag":"path","path":{".tag":"insufficient_space"}}),
                RouteError::InsufficientSpace,
            ),
            (
                json!({".tag":"path","path":{".tag":"too_many_write_operations"}}),
                RouteError::TooManyWriteOperations,
            ),
            (
                json!({".tag":"too_many_write_operations"}),
                RouteError::TooManyWriteOperations,
            ),
            (json!({".tag":"other"}), RouteError::Other),
            (json!("garbage"), RouteError::Other),
        ];
        for (failure, meaning) in cases {
            assert_eq!(RouteError::of_finish_entry(&failure), meaning, "{failure}");
        }
    }

    #[test]
    fn upload_errors_put_the_write_error_under_reason() {
        let conflict = json!({".tag":"path","reason":{".tag":"conflict","conflict":{".tag":"file"}},"upload_session_id":"x"});
        assert_eq!(
            of("upload", conflict),
            RouteError::Conflict(WriteConflict::File)
        );
    }

    #[test]
    fn create_folder_lookup_and_sharing_errors() {
        let ancestor =
            json!({".tag":"path","path":{".tag":"conflict","conflict":{".tag":"file_ancestor"}}});
        assert_eq!(
            of("create_folder_v2", ancestor),
            RouteError::Conflict(WriteConflict::FileAncestor)
        );
        let missing = json!({".tag":"path","path":{".tag":"not_found"}});
        for route in [
            "files/get_metadata",
            "files/list_folder",
            "files/list_folder/continue",
            "files/list_revisions",
            "files/download",
            "sharing/create_shared_link_with_settings",
            "sharing/list_shared_links",
        ] {
            assert_eq!(
                RouteError::of(route, &missing),
                RouteError::NotFound,
                "{route}"
            );
        }
        let new_kind = json!({".tag":"path","path":{".tag":"conflict","conflict":{".tag":"new"}}});
        assert_eq!(
            of("create_folder_v2", new_kind),
            RouteError::Conflict(WriteConflict::Other)
        );
        let reset = json!({".tag":"reset"});
        assert_eq!(of("list_folder/continue", reset), RouteError::Other);
    }

    #[test]
    fn delete_restore_and_delete_batch_errors() {
        let gone = json!({".tag":"path_lookup","path_lookup":{".tag":"not_found"}});
        assert_eq!(RouteError::of_delete_entry(&gone), RouteError::NotFound);
        assert_eq!(of("restore", gone), RouteError::NotFound);
        let busy = json!({".tag":"path_write","path_write":{".tag":"too_many_write_operations"}});
        assert_eq!(
            RouteError::of_delete_entry(&busy),
            RouteError::TooManyWriteOperations
        );
        let busy = json!({".tag":"too_many_write_operations"});
        assert_eq!(
            RouteError::of_delete_entry(&busy),
            RouteError::TooManyWriteOperations
        );
        assert_eq!(
            of("delete_batch/check", busy),
            RouteError::TooManyWriteOperations
        );
    }

    /// A tag where its route does not put it means nothing, however deep it is found.
    #[test]
    fn a_tag_in_the_wrong_place_is_not_taken() {
        let cases = [
            // WriteError has no not_found: a commit is never "already there" for it.
            (
                "upload_session/finish",
                json!({".tag":"path","path":{".tag":"not_found"}}),
            ),
            // append_v2 puts incorrect_offset at the top, not under lookup_failed...
            (
                "upload_session/append_v2",
                json!({".tag":"lookup_failed","lookup_failed":{".tag":"incorrect_offset","correct_offset":5}}),
            ),
            // ...and its correct_offset beside the tag, not anywhere below.
            (
                "upload_session/append_v2",
                json!({".tag":"incorrect_offset","other":{"correct_offset":5}}),
            ),
            // `reason` holds the WriteError of files/upload only.
            (
                "upload_session/finish",
                json!({".tag":"path","reason":{".tag":"conflict","conflict":{".tag":"file"}}}),
            ),
            // A LookupError has no contention to retry.
            (
                "delete_v2",
                json!({".tag":"path_lookup","path_lookup":{".tag":"too_many_write_operations"}}),
            ),
            // Lookup routes never report a full account.
            (
                "get_metadata",
                json!({".tag":"path","path":{".tag":"insufficient_space"}}),
            ),
            // DeleteError's lookup member is path_lookup; `path` is another route's.
            (
                "delete_v2",
                json!({".tag":"path","path":{".tag":"not_found"}}),
            ),
        ];
        for (route, error) in cases {
            assert_eq!(
                of(route, error.clone()),
                RouteError::Other,
                "{route}: {error}"
            );
        }
        let anywhere = json!({".tag":"path","path":{".tag":"not_found"}});
        assert_eq!(
            RouteError::of("files/unknown_route", &anywhere),
            RouteError::Other
        );
    }
}
