//! Wire types of Dropbox API v2, shared by the client and the emulator so the two cannot
//! drift apart. Shapes follow Dropbox's Stone spec (`files.stone`, `users.stone`).
//!
//! Request arguments are strict (`deny_unknown_fields`): the emulator answers an unknown
//! field with 400 as Dropbox does. Results are lenient: the client must accept fields
//! Dropbox adds later.

use serde::{Deserialize, Deserializer, Serialize};

fn default_true() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `WriteMode`: `"add"`, `{".tag":"overwrite"}`, `{".tag":"update","update":"<rev>"}`.
#[derive(Serialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum WriteMode {
    #[default]
    Add,
    Overwrite,
    Update {
        update: String,
    },
}

/// Dropbox accepts a union member without data as a bare string: `"add"` is
/// `{".tag":"add"}`. Reads either form into `T`, the union's tagged form.
fn with_shorthand<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<T, D::Error> {
    let value = match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(tag) => serde_json::json!({ ".tag": tag }),
        other => other,
    };
    serde_json::from_value(value).map_err(serde::de::Error::custom)
}

impl<'de> Deserialize<'de> for WriteMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(tag = ".tag", rename_all = "snake_case", deny_unknown_fields)]
        enum Tagged {
            Add,
            Overwrite,
            Update { update: String },
        }
        Ok(match with_shorthand(d)? {
            Tagged::Add => WriteMode::Add,
            Tagged::Overwrite => WriteMode::Overwrite,
            Tagged::Update { update } => WriteMode::Update { update },
        })
    }
}

/// `CommitInfo` (also the body of `UploadArg`, which adds `content_hash`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CommitInfo {
    pub path: String,
    #[serde(default)]
    pub mode: WriteMode,
    #[serde(default)]
    pub autorename: bool,
    /// `%Y-%m-%dT%H:%M:%SZ`, UTC, whole seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_modified: Option<String>,
    #[serde(default)]
    pub mute: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_groups: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub strict_conflict: bool,
}

impl CommitInfo {
    pub fn new(path: impl Into<String>, mode: WriteMode) -> Self {
        CommitInfo {
            path: path.into(),
            mode,
            autorename: false,
            client_modified: None,
            mute: false,
            property_groups: None,
            strict_conflict: false,
        }
    }
}

/// `files/upload` argument.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UploadArg {
    #[serde(flatten)]
    pub commit: CommitInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum SessionType {
    #[default]
    Sequential,
    Concurrent,
}

impl<'de> Deserialize<'de> for SessionType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(tag = ".tag", rename_all = "snake_case", deny_unknown_fields)]
        enum Tagged {
            Sequential,
            Concurrent,
        }
        Ok(match with_shorthand(d)? {
            Tagged::Sequential => SessionType::Sequential,
            Tagged::Concurrent => SessionType::Concurrent,
        })
    }
}

/// `files/upload_session/start` argument.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UploadSessionStartArg {
    #[serde(default, skip_serializing_if = "is_false")]
    pub close: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_type: Option<SessionType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct UploadSessionStartResult {
    pub session_id: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UploadSessionCursor {
    pub session_id: String,
    pub offset: u64,
}

/// `files/upload_session/append_v2` argument.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UploadSessionAppendArg {
    pub cursor: UploadSessionCursor,
    #[serde(default)]
    pub close: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
}

/// `files/upload_session/start_batch` argument (an RPC: the sessions start empty).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UploadSessionStartBatchArg {
    /// 1 to 1,000.
    pub num_sessions: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_type: Option<SessionType>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct UploadSessionStartBatchResult {
    pub session_ids: Vec<String>,
}

/// One entry of `files/upload_session/append_batch`: its `length` bytes follow those of
/// the entries before it in the request body.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UploadSessionAppendBatchArgEntry {
    pub cursor: UploadSessionCursor,
    pub length: u64,
    #[serde(default)]
    pub close: bool,
}

/// `files/upload_session/append_batch` argument: up to 1,000 entries, and optionally the
/// content hash of the whole request body.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UploadSessionAppendBatchArg {
    pub entries: Vec<UploadSessionAppendBatchArgEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
}

/// One result of `append_batch`, in the order of the request's entries. `failure` is an
/// `UploadSessionAppendBatchEntryError` union (`not_found`, `incorrect_offset`
/// {`correct_offset`}, `closed`, `too_large`, `concurrent_session_invalid_offset`,
/// `concurrent_session_invalid_data_size`), kept as JSON like finish_batch_v2's.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum UploadSessionAppendBatchResultEntry {
    Success,
    Failure { failure: serde_json::Value },
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct UploadSessionAppendBatchResult {
    pub entries: Vec<UploadSessionAppendBatchResultEntry>,
}

/// `files/upload_session/finish` argument, and one entry of `finish_batch_v2`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UploadSessionFinishArg {
    pub cursor: UploadSessionCursor,
    pub commit: CommitInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UploadSessionFinishBatchArg {
    pub entries: Vec<UploadSessionFinishArg>,
}

/// One result of `finish_batch_v2`, in the order of the request's entries.
/// `failure` is an `UploadSessionFinishError` union, kept as JSON (see `dropbox::error`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum UploadSessionFinishBatchResultEntry {
    Success(FileMetadata),
    Failure { failure: serde_json::Value },
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct UploadSessionFinishBatchResult {
    pub entries: Vec<UploadSessionFinishBatchResultEntry>,
}

/// `FileMetadata`. The emulator fills every field; the client needs only a few.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct FileMetadata {
    pub name: String,
    pub id: String,
    pub client_modified: String,
    pub server_modified: String,
    pub rev: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_lower: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_display: Option<String>,
    #[serde(default = "default_true")]
    pub is_downloadable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
}

/// Whether `s` is a revision as Stone's `Rev` has it: at least 9 lower-case hex digits.
pub fn is_rev(s: &str) -> bool {
    s.len() >= 9 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct FolderMetadata {
    pub name: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_lower: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_display: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DeletedMetadata {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_lower: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_display: Option<String>,
}

/// The `Metadata` union of `get_metadata` and `list_folder`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum Metadata {
    File(FileMetadata),
    Folder(FolderMetadata),
    Deleted(DeletedMetadata),
}

impl Metadata {
    pub fn path_lower(&self) -> Option<&str> {
        match self {
            Metadata::File(m) => m.path_lower.as_deref(),
            Metadata::Folder(m) => m.path_lower.as_deref(),
            Metadata::Deleted(m) => m.path_lower.as_deref(),
        }
    }

    pub fn path_display(&self) -> Option<&str> {
        match self {
            Metadata::File(m) => m.path_display.as_deref(),
            Metadata::Folder(m) => m.path_display.as_deref(),
            Metadata::Deleted(m) => m.path_display.as_deref(),
        }
    }
}

/// `files/list_folder` argument.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ListFolderArg {
    /// `""` is the root.
    pub path: String,
    #[serde(default)]
    pub recursive: bool,
    #[serde(default)]
    pub include_media_info: bool,
    #[serde(default)]
    pub include_deleted: bool,
    #[serde(default)]
    pub include_has_explicit_shared_members: bool,
    #[serde(default = "default_true")]
    pub include_mounted_folders: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_link: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_property_groups: Option<serde_json::Value>,
    #[serde(default = "default_true")]
    pub include_non_downloadable_files: bool,
    /// Sent by the Python SDK 12.x.
    #[serde(default)]
    pub include_restorable_info: bool,
}

impl ListFolderArg {
    pub fn new(path: impl Into<String>, recursive: bool) -> Self {
        ListFolderArg {
            path: path.into(),
            recursive,
            include_media_info: false,
            include_deleted: false,
            include_has_explicit_shared_members: false,
            include_mounted_folders: true,
            limit: None,
            shared_link: None,
            include_property_groups: None,
            include_non_downloadable_files: true,
            include_restorable_info: false,
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ListFolderContinueArg {
    pub cursor: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ListFolderResult {
    pub entries: Vec<Metadata>,
    pub cursor: String,
    pub has_more: bool,
}

/// `files/get_metadata` argument.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GetMetadataArg {
    pub path: String,
    #[serde(default)]
    pub include_media_info: bool,
    #[serde(default)]
    pub include_deleted: bool,
    #[serde(default)]
    pub include_has_explicit_shared_members: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_property_groups: Option<serde_json::Value>,
}

impl GetMetadataArg {
    pub fn new(path: impl Into<String>) -> Self {
        GetMetadataArg {
            path: path.into(),
            include_media_info: false,
            include_deleted: false,
            include_has_explicit_shared_members: false,
            include_property_groups: None,
        }
    }
}

/// `files/create_folder_v2` argument.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CreateFolderArg {
    pub path: String,
    #[serde(default)]
    pub autorename: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CreateFolderResult {
    pub metadata: FolderMetadata,
}

/// `files/delete_v2` argument.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeleteArg {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_rev: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DeleteResult {
    pub metadata: Metadata,
}

/// `files/delete_batch` argument: at most 1,000 entries.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeleteBatchArg {
    pub entries: Vec<DeleteArg>,
}

/// One result of a delete batch, in the order of the request's entries. `failure` is a
/// `DeleteError` union, kept as JSON (see `dropbox::error`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum DeleteBatchResultEntry {
    Success { metadata: Metadata },
    Failure { failure: serde_json::Value },
}

/// `files/delete_batch` result (`DeleteBatchLaunch`): a job to poll, or already done.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum DeleteBatchLaunch {
    AsyncJobId {
        async_job_id: String,
    },
    Complete {
        entries: Vec<DeleteBatchResultEntry>,
    },
    /// A tag added to this open union after this client was written.
    #[serde(other)]
    Other,
}

/// `files/delete_batch/check` argument (`async.PollArg`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PollArg {
    pub async_job_id: String,
}

/// `files/delete_batch/check` result (`DeleteBatchJobStatus`). `failed` is a
/// `DeleteBatchError` union.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum DeleteBatchJobStatus {
    InProgress,
    Complete {
        entries: Vec<DeleteBatchResultEntry>,
    },
    Failed {
        failed: serde_json::Value,
    },
    #[serde(other)]
    Other,
}

/// `files/download` argument.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DownloadArg {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
}

/// `files/restore` argument: the file at `path` gets revision `rev`'s content as its newest.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RestoreArg {
    pub path: String,
    pub rev: String,
}

/// `files/list_revisions` argument.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ListRevisionsArg {
    pub path: String,
    #[serde(default)]
    pub mode: ListRevisionsMode,
    /// 1..=100, 10 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// Which revisions `list_revisions` lists: those at the path, or the file's across moves.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum ListRevisionsMode {
    #[default]
    Path,
    Id,
}

impl<'de> Deserialize<'de> for ListRevisionsMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(tag = ".tag", rename_all = "snake_case", deny_unknown_fields)]
        enum Tagged {
            Path,
            Id,
        }
        Ok(match with_shorthand(d)? {
            Tagged::Path => ListRevisionsMode::Path,
            Tagged::Id => ListRevisionsMode::Id,
        })
    }
}

/// `files/list_revisions` result: newest first.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ListRevisionsResult {
    pub is_deleted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_deleted: Option<String>,
    pub entries: Vec<FileMetadata>,
}

/// `users/get_current_account` result (`FullAccount`), the fields the SDK requires plus a few.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct FullAccount {
    pub account_id: String,
    pub name: AccountName,
    pub email: String,
    pub email_verified: bool,
    pub disabled: bool,
    pub locale: String,
    pub referral_link: String,
    pub is_paired: bool,
    pub account_type: Tag,
    pub root_info: RootInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Present for a member of a team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<FullTeam>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_member_id: Option<String>,
}

/// `FullTeam`. The policies are required by the spec but of no use to the client, so they
/// stay JSON.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct FullTeam {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub sharing_policies: serde_json::Value,
    #[serde(default)]
    pub office_addin_policy: serde_json::Value,
    #[serde(default)]
    pub top_level_content_policy: serde_json::Value,
}

/// `RootInfo` (`common.stone`): which namespace `/` is. A struct with subtypes, so `.tag`
/// is `user` (`UserRootInfo`: root and home are one namespace) or `team` (`TeamRootInfo`:
/// a shared team root, with the member's own folder at `home_path` under it). Kept as one
/// struct so a subtype Dropbox adds later still decodes.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct RootInfo {
    #[serde(rename = ".tag")]
    pub tag: String,
    pub root_namespace_id: String,
    pub home_namespace_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_path: Option<String>,
}

impl RootInfo {
    /// A team space whose root is not the member's home.
    pub fn is_team(&self) -> bool {
        self.tag == "team" && self.root_namespace_id != self.home_namespace_id
    }
}

/// The header that selects the namespace paths are relative to.
pub const PATH_ROOT_HEADER: &str = "Dropbox-API-Path-Root";

/// `PathRoot` (`common.stone`), sent as JSON in `Dropbox-API-Path-Root`: `{".tag":"home"}`
/// (the default), `{".tag":"root","root":NS}` (the account's root namespace, which must
/// still be `NS`) or `{".tag":"namespace_id","namespace_id":NS}`.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum PathRoot {
    Home,
    Root { root: String },
    NamespaceId { namespace_id: String },
}

impl<'de> Deserialize<'de> for PathRoot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(tag = ".tag", rename_all = "snake_case", deny_unknown_fields)]
        enum Tagged {
            // A struct variant, so that fields beside the tag are refused too.
            Home {},
            Root { root: String },
            NamespaceId { namespace_id: String },
        }
        Ok(match with_shorthand(d)? {
            Tagged::Home {} => PathRoot::Home,
            Tagged::Root { root } => PathRoot::Root { root },
            Tagged::NamespaceId { namespace_id } => PathRoot::NamespaceId { namespace_id },
        })
    }
}

/// `check/user` and `check/app` argument.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct EchoArg {
    #[serde(default)]
    pub query: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct EchoResult {
    pub result: String,
}

/// `files/copy_v2` and `files/move_v2` argument.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RelocationArg {
    pub from_path: String,
    pub to_path: String,
    /// Deprecated; no effect.
    #[serde(default)]
    pub allow_shared_folder: bool,
    #[serde(default)]
    pub autorename: bool,
    #[serde(default)]
    pub allow_ownership_transfer: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct RelocationResult {
    pub metadata: Metadata,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AccountName {
    pub given_name: String,
    pub surname: String,
    pub familiar_name: String,
    pub display_name: String,
    pub abbreviated_name: String,
}

/// A union value with no data, e.g. `{".tag":"basic"}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    #[serde(rename = ".tag")]
    pub tag: String,
}

/// `oauth2/token` success body.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// `sharing/create_shared_link_with_settings` argument. `settings` (`SharedLinkSettings`) is
/// kept as JSON: we never send any, the emulator only tells whether there were some.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CreateSharedLinkArg {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<serde_json::Value>,
}

/// `sharing/list_shared_links` argument.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct ListSharedLinksArg {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_only: Option<bool>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ListSharedLinksResult {
    pub links: Vec<SharedLinkMetadata>,
    pub has_more: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The `SharedLinkMetadata` union (`file` = `FileLinkMetadata`, `folder` =
/// `FolderLinkMetadata`) as one struct: the file-only fields are absent for a folder.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SharedLinkMetadata {
    /// `file` or `folder`.
    #[serde(rename = ".tag")]
    pub tag: String,
    pub url: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_lower: Option<String>,
    /// `LinkPermissions`; required by the spec, ignored by the client.
    #[serde(default)]
    pub link_permissions: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// The body of a 401/409/429 error: `error_summary` is for humans; match on `error`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ApiErrorBody {
    pub error_summary: String,
    pub error: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_message: Option<serde_json::Value>,
}

impl ApiErrorBody {
    /// Builds the body with Dropbox's summary: the chain of `.tag`s, then `/` and dots.
    pub fn new(error: serde_json::Value) -> Self {
        ApiErrorBody {
            error_summary: error_summary(&error),
            error,
            user_message: None,
        }
    }
}

/// The tags of a Stone union value, outermost first (`["path", "conflict", "file"]`):
/// `.tag`, then the member named by the tag or, for a struct member like
/// `UploadWriteFailed`, its `reason` field.
pub fn union_tags(error: &serde_json::Value) -> Vec<&str> {
    let mut tags = Vec::new();
    let mut cur = error;
    while let Some(tag) = cur.get(".tag").and_then(|t| t.as_str()) {
        tags.push(tag);
        match [tag, "reason"]
            .iter()
            .find_map(|k| cur.get(*k).filter(|v| v.is_object()))
        {
            Some(next) => cur = next,
            None => break,
        }
    }
    tags
}

/// `path/conflict/file/..` from `{".tag":"path","path":{".tag":"conflict","conflict":{".tag":"file"}}}`.
/// Dropbox appends a variable run of dots; clients must match on the prefix.
pub fn error_summary(error: &serde_json::Value) -> String {
    let tags = union_tags(error);
    format!(
        "{}/{}",
        tags.join("/"),
        ".".repeat(3usize.saturating_sub(tags.len()).max(1))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn append_batch_shapes() {
        let arg: UploadSessionAppendBatchArg = serde_json::from_value(json!({
            "entries": [{"cursor": {"session_id": "s", "offset": 4}, "length": 3}],
        }))
        .unwrap();
        assert_eq!((arg.entries[0].length, arg.entries[0].close), (3, false));
        let result: UploadSessionAppendBatchResult = serde_json::from_value(json!({
            "entries": [
                {".tag": "success"},
                {".tag": "failure", "failure": {".tag": "incorrect_offset", "correct_offset": 7}},
            ],
        }))
        .unwrap();
        assert_eq!(
            result.entries[0],
            UploadSessionAppendBatchResultEntry::Success
        );
        let UploadSessionAppendBatchResultEntry::Failure { failure } = &result.entries[1] else {
            panic!("{result:?}");
        };
        assert_eq!(failure["correct_offset"], 7);
    }

    #[test]
    fn write_mode_shapes() {
        for (text, mode) in [
            (r#""add""#, WriteMode::Add),
            (r#"{".tag":"overwrite"}"#, WriteMode::Overwrite),
            (
                r#"{".tag":"update","update":"a1c10ce0dd78"}"#,
                WriteMode::Update {
                    update: "a1c10ce0dd78".into(),
                },
            ),
        ] {
            assert_eq!(serde_json::from_str::<WriteMode>(text).unwrap(), mode);
        }
        assert!(serde_json::from_str::<WriteMode>(r#""update""#).is_err());
        assert!(serde_json::from_str::<WriteMode>(r#""replace""#).is_err());
        assert_eq!(
            serde_json::to_string(&WriteMode::Overwrite).unwrap(),
            r#"{".tag":"overwrite"}"#
        );
    }

    #[test]
    fn session_type_shorthand() {
        for text in [r#""concurrent""#, r#"{".tag":"concurrent"}"#] {
            assert_eq!(
                serde_json::from_str::<SessionType>(text).unwrap(),
                SessionType::Concurrent
            );
        }
        assert!(serde_json::from_str::<SessionType>(r#""parallel""#).is_err());
    }

    #[test]
    fn upload_arg_flattens_commit_info() {
        let a: UploadArg = serde_json::from_value(json!({
            "path": "/a.txt", "mode": "overwrite", "content_hash": "00"
        }))
        .unwrap();
        assert_eq!(a.commit.path, "/a.txt");
        assert_eq!(a.commit.mode, WriteMode::Overwrite);
        assert_eq!(a.content_hash.as_deref(), Some("00"));
    }

    #[test]
    fn unknown_arg_fields_are_rejected() {
        assert!(serde_json::from_value::<ListFolderArg>(json!({"path": "", "bogus": 1})).is_err());
        assert!(serde_json::from_value::<CommitInfo>(json!({"path": "/x", "bogus": 1})).is_err());
    }

    #[test]
    fn batch_entries_roundtrip() {
        let text =
            r#"{"entries":[{".tag":"failure","failure":{".tag":"too_many_write_operations"}}]}"#;
        let r: UploadSessionFinishBatchResult = serde_json::from_str(text).unwrap();
        assert!(matches!(
            &r.entries[0],
            UploadSessionFinishBatchResultEntry::Failure { .. }
        ));
    }

    #[test]
    fn summaries_like_dropbox() {
        let conflict = json!({".tag":"path","reason":{".tag":"conflict","conflict":{".tag":"file"}},"upload_session_id":"x"});
        assert_eq!(error_summary(&conflict), "path/conflict/file/.");
        assert_eq!(
            error_summary(&json!({".tag":"expired_access_token"})),
            "expired_access_token/.."
        );
        assert_eq!(
            error_summary(&json!({".tag":"path","path":{".tag":"not_found"}})),
            "path/not_found/."
        );
    }
}
