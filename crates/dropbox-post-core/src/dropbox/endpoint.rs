//! Where the Dropbox hosts are. Real Dropbox uses three hosts; `--endpoint` /
//! `DROPBOX_POST_ENDPOINT` points all of them at one base URL (the emulator's).

use url::Url;

pub const ENDPOINT_ENV: &str = "DROPBOX_POST_ENDPOINT";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// RPC routes: `{api}2/files/list_folder`.
    pub api: Url,
    /// Upload and download routes: `{content}2/files/upload`.
    pub content: Url,
    /// OAuth token exchange: `{oauth}oauth2/token`.
    pub oauth: Url,
    /// Where a user approves an app: `{web}oauth2/authorize`.
    pub web: Url,
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("endpoint {0:?} is not a valid URL: {1}")]
    Invalid(String, url::ParseError),
    #[error("endpoint {0:?} must be an http:// or https:// URL")]
    Scheme(String),
}

impl Endpoints {
    /// The real Dropbox hosts.
    pub fn dropbox() -> Self {
        let u = |s: &str| Url::parse(s).expect("static URL");
        Endpoints {
            api: u("https://api.dropboxapi.com/"),
            content: u("https://content.dropboxapi.com/"),
            oauth: u("https://api.dropboxapi.com/"),
            web: u("https://www.dropbox.com/"),
        }
    }

    /// Every host at one base URL, e.g. `http://127.0.0.1:8080` (a path prefix is kept).
    pub fn single(base: &str) -> Result<Self, EndpointError> {
        let mut url = Url::parse(base).map_err(|e| EndpointError::Invalid(base.to_string(), e))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(EndpointError::Scheme(base.to_string()));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(Endpoints {
            api: url.clone(),
            content: url.clone(),
            oauth: url.clone(),
            web: url,
        })
    }

    /// `--endpoint` if given, else the real Dropbox.
    pub fn from_option(base: Option<&str>) -> Result<Self, EndpointError> {
        match base {
            Some(b) if !b.trim().is_empty() => Self::single(b.trim()),
            _ => Ok(Self::dropbox()),
        }
    }

    pub fn rpc(&self, route: &str) -> Url {
        self.api
            .join(&format!("2/{route}"))
            .expect("route is a relative path")
    }

    pub fn content_route(&self, route: &str) -> Url {
        self.content
            .join(&format!("2/{route}"))
            .expect("route is a relative path")
    }

    pub fn token_url(&self) -> Url {
        self.oauth.join("oauth2/token").expect("static path")
    }

    pub fn authorize_url(&self) -> Url {
        self.web.join("oauth2/authorize").expect("static path")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_dropbox_hosts() {
        let e = Endpoints::dropbox();
        assert_eq!(
            e.rpc("files/list_folder").as_str(),
            "https://api.dropboxapi.com/2/files/list_folder"
        );
        assert_eq!(
            e.content_route("files/upload").as_str(),
            "https://content.dropboxapi.com/2/files/upload"
        );
        assert_eq!(
            e.token_url().as_str(),
            "https://api.dropboxapi.com/oauth2/token"
        );
    }

    #[test]
    fn single_base_with_and_without_slash() {
        for base in ["http://127.0.0.1:8080", "http://127.0.0.1:8080/"] {
            let e = Endpoints::single(base).unwrap();
            assert_eq!(
                e.rpc("users/get_current_account").as_str(),
                "http://127.0.0.1:8080/2/users/get_current_account"
            );
            assert_eq!(e.token_url().as_str(), "http://127.0.0.1:8080/oauth2/token");
        }
        let e = Endpoints::single("https://proxy.example/dbx").unwrap();
        assert_eq!(
            e.content_route("files/download").as_str(),
            "https://proxy.example/dbx/2/files/download"
        );
    }

    #[test]
    fn rejects_non_http() {
        assert!(matches!(
            Endpoints::single("ftp://x"),
            Err(EndpointError::Scheme(_))
        ));
        assert!(matches!(
            Endpoints::single("not a url"),
            Err(EndpointError::Invalid(..))
        ));
        assert_eq!(
            Endpoints::from_option(Some("  ")).unwrap(),
            Endpoints::dropbox()
        );
    }
}
