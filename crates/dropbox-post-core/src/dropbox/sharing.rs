//! Shared links: create one for a path, or find the one it already has.
//!
//! `create_shared_link_with_settings` answers 409 `shared_link_already_exists` when the path
//! has a link, usually with that link's metadata inside; when it is not there (Dropbox
//! leaves it out when it cannot match the request's settings), `list_shared_links` with
//! `direct_only` finds it. A create retried after a lost answer lands here too.

use serde_json::Value;

use super::client::DropboxClient;
use super::error::ApiError;
use dropbox_wire::types::{
    CreateSharedLinkArg, ListSharedLinksArg, ListSharedLinksResult, SharedLinkMetadata,
};

const CREATE: &str = "sharing/create_shared_link_with_settings";
const LIST: &str = "sharing/list_shared_links";

impl DropboxClient {
    /// The shared link of `path` (a file or folder), created if it has none.
    pub async fn share(&self, path: &str) -> Result<SharedLinkMetadata, ApiError> {
        let arg = CreateSharedLinkArg {
            path: path.to_string(),
            settings: None,
        };
        let error = match self.rpc::<_, SharedLinkMetadata>(CREATE, &arg).await {
            Ok(link) => return Ok(link),
            Err(e) => e,
        };
        let ApiError::Endpoint { error: body, .. } = &error else {
            return Err(error);
        };
        match already_exists(body) {
            Some(Some(link)) => Ok(link),
            Some(None) => self.find_link(path).await,
            None => Err(error),
        }
    }

    /// The direct link of `path` among its listed links.
    async fn find_link(&self, path: &str) -> Result<SharedLinkMetadata, ApiError> {
        let arg = ListSharedLinksArg {
            path: Some(path.to_string()),
            direct_only: Some(true),
            ..Default::default()
        };
        let listed: ListSharedLinksResult = self.rpc(LIST, &arg).await?;
        let lower = dropbox_wire::path::key(path);
        let mut links = listed.links.into_iter();
        let first = links.next();
        links
            .find(|l| l.path_lower.as_deref() == Some(&lower))
            .or(first)
            .ok_or_else(|| ApiError::Decode {
                route: LIST.into(),
                status: 200,
                message: format!("no link listed for {path}, though creating one said it exists"),
            })
    }
}

/// `Some(metadata if given)` when a create error says the link already exists.
fn already_exists(error: &Value) -> Option<Option<SharedLinkMetadata>> {
    if error.get(".tag")?.as_str()? != "shared_link_already_exists" {
        return None;
    }
    let metadata = error
        .get("shared_link_already_exists")
        .and_then(|v| v.get("metadata"))
        .and_then(|m| serde_json::from_value(m.clone()).ok());
    Some(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn already_exists_with_and_without_metadata() {
        let link = json!({".tag": "file", "url": "http://h/s/x/a.txt", "name": "a.txt",
            "path_lower": "/d/a.txt", "link_permissions": {"can_revoke": true}});
        let with = json!({".tag": "shared_link_already_exists",
            "shared_link_already_exists": {".tag": "metadata", "metadata": link}});
        let got = already_exists(&with).unwrap().unwrap();
        assert_eq!(got.url, "http://h/s/x/a.txt");
        assert_eq!(got.tag, "file");
        assert_eq!(
            already_exists(&json!({".tag": "shared_link_already_exists"})),
            Some(None)
        );
        assert_eq!(
            already_exists(&json!({".tag": "path", "path": {".tag": "not_found"}})),
            None
        );
    }
}
