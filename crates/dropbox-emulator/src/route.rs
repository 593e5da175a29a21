//! The routes the emulator serves, by name, and what each needs: the table both the
//! handlers (`routes`) and the fault plan (`faults`, which checks the routes its flags
//! name) read, so that neither depends on the other for it.

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Route {
    Upload,
    Start,
    Append,
    Finish,
    StartBatch,
    AppendBatch,
    Download,
    FinishBatch,
    ListFolder,
    ListContinue,
    GetMetadata,
    CreateFolder,
    Delete,
    /// `files/delete`, deprecated but still called: the metadata without a wrapper.
    DeleteV1,
    Copy,
    Move,
    DeleteBatch,
    DeleteBatchCheck,
    ListRevisions,
    Restore,
    CurrentAccount,
    CheckUser,
    CheckApp,
    CreateSharedLink,
    ListSharedLinks,
}

/// Whether the emulator serves `/2/<name>`.
pub(crate) fn is_route(name: &str) -> bool {
    Route::from_name(name).is_some()
}

impl Route {
    pub(crate) fn from_name(name: &str) -> Option<Route> {
        Some(match name {
            "files/upload" => Route::Upload,
            "files/upload_session/start" => Route::Start,
            "files/upload_session/append_v2" => Route::Append,
            "files/upload_session/finish" => Route::Finish,
            "files/upload_session/start_batch" => Route::StartBatch,
            "files/upload_session/append_batch" => Route::AppendBatch,
            "files/download" => Route::Download,
            "files/upload_session/finish_batch_v2" => Route::FinishBatch,
            "files/list_folder" => Route::ListFolder,
            "files/list_folder/continue" => Route::ListContinue,
            "files/get_metadata" => Route::GetMetadata,
            "files/create_folder_v2" => Route::CreateFolder,
            "files/delete_v2" => Route::Delete,
            "files/delete" => Route::DeleteV1,
            "files/copy_v2" => Route::Copy,
            "files/move_v2" => Route::Move,
            "files/delete_batch" => Route::DeleteBatch,
            "files/delete_batch/check" => Route::DeleteBatchCheck,
            "files/list_revisions" => Route::ListRevisions,
            "files/restore" => Route::Restore,
            "users/get_current_account" => Route::CurrentAccount,
            "check/user" => Route::CheckUser,
            "check/app" => Route::CheckApp,
            "sharing/create_shared_link_with_settings" => Route::CreateSharedLink,
            "sharing/list_shared_links" => Route::ListSharedLinks,
            _ => return None,
        })
    }

    /// The scope a token needs (`scope` in the route's Stone attributes); `None` for app
    /// authentication. `files/delete_batch` and `delete_batch/check` need
    /// `files.content.write` too.
    pub(crate) fn scope(self) -> Option<&'static str> {
        Some(match self {
            Route::Upload
            | Route::Start
            | Route::Append
            | Route::Finish
            | Route::StartBatch
            | Route::AppendBatch
            | Route::FinishBatch
            | Route::CreateFolder
            | Route::Delete
            | Route::DeleteV1
            | Route::Copy
            | Route::Move
            | Route::DeleteBatch
            | Route::DeleteBatchCheck
            | Route::Restore => "files.content.write",
            Route::Download => "files.content.read",
            Route::ListFolder | Route::ListContinue | Route::GetMetadata | Route::ListRevisions => {
                "files.metadata.read"
            }
            Route::CurrentAccount | Route::CheckUser => "account_info.read",
            Route::CreateSharedLink => "sharing.write",
            Route::ListSharedLinks => "sharing.read",
            Route::CheckApp => return None,
        })
    }

    /// Routes whose paths `Dropbox-API-Path-Root` moves; the others ignore it, so a client
    /// can always read its `root_info`.
    pub(crate) fn takes_paths(self) -> bool {
        !matches!(
            self,
            Route::CurrentAccount | Route::CheckUser | Route::CheckApp
        )
    }

    /// Content-upload routes: argument in a header, data in the body.
    pub(crate) fn uploads(self) -> bool {
        matches!(
            self,
            Route::Upload | Route::Start | Route::Append | Route::AppendBatch | Route::Finish
        )
    }
}
