//! OAuth scopes: what a token may do. Static tokens and apps carry a scope set; a route
//! refused for want of one answers 401 `missing_scope` naming it (see `routes::Route::scope`).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The user scopes of Dropbox's App Console (Permissions tab). Team scopes are not listed:
/// the emulator serves no team-admin routes.
pub const KNOWN: [&str; 16] = [
    "account_info.read",
    "account_info.write",
    "contacts.read",
    "contacts.write",
    "email",
    "file_requests.read",
    "file_requests.write",
    "files.content.read",
    "files.content.write",
    "files.metadata.read",
    "files.metadata.write",
    "files.permanent_delete",
    "openid",
    "profile",
    "sharing.read",
    "sharing.write",
];

/// What an app with file, sharing and account permissions has: the default of every
/// `--token` and `--app`.
pub const DEFAULT: [&str; 7] = [
    "account_info.read",
    "files.content.read",
    "files.content.write",
    "files.metadata.read",
    "files.metadata.write",
    "sharing.read",
    "sharing.write",
];

/// Every user-linked app has this one; the App Console does not let it be unticked.
pub const ALWAYS_REGISTERED: &str = "account_info.read";

/// A set of scopes; shown (and given) space-separated, as OAuth writes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Scopes(BTreeSet<String>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown scope {:?}; Dropbox's user scopes are {}", .0, KNOWN.join(", "))]
pub struct UnknownScope(pub String);

impl Scopes {
    pub fn none() -> Scopes {
        Scopes(BTreeSet::new())
    }

    pub fn default_set() -> Scopes {
        Scopes(DEFAULT.iter().map(|s| s.to_string()).collect())
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// The scopes of `self` that `of` lacks.
    pub fn beyond<'a>(&'a self, of: &Scopes) -> Vec<&'a str> {
        self.0
            .iter()
            .filter(|s| !of.0.contains(*s))
            .map(String::as_str)
            .collect()
    }

    pub fn union(mut self, other: &Scopes) -> Scopes {
        self.0.extend(other.0.iter().cloned());
        self
    }

    pub fn with(mut self, scope: &str) -> Scopes {
        self.0.insert(scope.to_string());
        self
    }
}

impl FromStr for Scopes {
    type Err = UnknownScope;

    /// Space-separated names; empty is the empty set.
    fn from_str(text: &str) -> Result<Scopes, UnknownScope> {
        text.split_whitespace()
            .map(|s| match KNOWN.contains(&s) {
                true => Ok(s.to_string()),
                false => Err(UnknownScope(s.to_string())),
            })
            .collect::<Result<_, _>>()
            .map(Scopes)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(String::as_str).collect();
        f.write_str(&names.join(" "))
    }
}

impl From<Scopes> for String {
    fn from(s: Scopes) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for Scopes {
    type Error = UnknownScope;
    fn try_from(s: String) -> Result<Scopes, UnknownScope> {
        s.parse()
    }
}

/// A static access token, accepted forever, and its scopes: `--token T[=SCOPES]`.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticToken {
    pub token: String,
    pub scopes: Scopes,
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StaticToken([REDACTED], {})", self.scopes)
    }
}

/// A token with the default scopes.
impl From<&str> for StaticToken {
    fn from(token: &str) -> StaticToken {
        StaticToken {
            token: token.to_string(),
            scopes: Scopes::default_set(),
        }
    }
}

impl FromStr for StaticToken {
    type Err = UnknownScope;

    /// `T` (default scopes) or `T=SCOPE SCOPE…` (exactly those; `T=` has none).
    fn from_str(spec: &str) -> Result<StaticToken, UnknownScope> {
        Ok(match spec.split_once('=') {
            Some((token, scopes)) => StaticToken {
                token: token.to_string(),
                scopes: scopes.parse()?,
            },
            None => StaticToken::from(spec),
        })
    }
}

/// A registered OAuth app: `--app KEY[:SECRET][=SCOPES]`. Without a secret it can only use
/// PKCE. Its scopes are those ticked on its Permissions tab: the most (and, unless an
/// authorization asks for fewer, all) that its tokens get. `account_info.read` is always
/// among them, as in the App Console.
#[derive(Clone, PartialEq, Eq)]
pub struct AppSpec {
    pub key: String,
    pub secret: Option<String>,
    pub scopes: Scopes,
}

impl fmt::Debug for AppSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = if self.secret.is_some() {
            ":[REDACTED]"
        } else {
            ""
        };
        write!(f, "AppSpec({}{secret}, {})", self.key, self.scopes)
    }
}

impl FromStr for AppSpec {
    type Err = UnknownScope;

    fn from_str(spec: &str) -> Result<AppSpec, UnknownScope> {
        let (app, scopes) = match spec.split_once('=') {
            Some((app, scopes)) => (app, scopes.parse::<Scopes>()?),
            None => (spec, Scopes::default_set()),
        };
        let (key, secret) = match app.split_once(':') {
            Some((key, secret)) => (key, Some(secret.to_string())),
            None => (app, None),
        };
        Ok(AppSpec {
            key: key.to_string(),
            secret,
            scopes: scopes.with(ALWAYS_REGISTERED),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_show_and_compare() {
        let s: Scopes = "files.metadata.read  account_info.read".parse().unwrap();
        assert_eq!(s.to_string(), "account_info.read files.metadata.read");
        assert!(s.contains("files.metadata.read") && !s.contains("files.content.write"));
        assert!(s.beyond(&Scopes::default_set()).is_empty());
        assert_eq!(
            Scopes::default_set().beyond(&s),
            [
                "files.content.read",
                "files.content.write",
                "files.metadata.write",
                "sharing.read",
                "sharing.write"
            ]
        );
        assert_eq!("".parse::<Scopes>().unwrap(), Scopes::none());
        let e = "files.content.wirte".parse::<Scopes>().unwrap_err();
        assert!(e.to_string().contains("files.content.wirte"), "{e}");
        assert!(DEFAULT.iter().all(|s| KNOWN.contains(s)));
    }

    #[test]
    fn serialized_as_one_string() {
        let s = Scopes::none().with("sharing.read").with("email");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"email sharing.read\"");
        assert!(serde_json::from_str::<Scopes>("\"bogus\"").is_err());
    }

    #[test]
    fn token_and_app_specs() {
        let t: StaticToken = "tok".parse().unwrap();
        assert_eq!(t.scopes, Scopes::default_set());
        let t: StaticToken = "tok=files.metadata.read".parse().unwrap();
        assert_eq!(
            (t.token.as_str(), t.scopes.to_string().as_str()),
            ("tok", "files.metadata.read")
        );
        assert_eq!(
            "tok=".parse::<StaticToken>().unwrap().scopes,
            Scopes::none()
        );
        assert!("tok=files.write".parse::<StaticToken>().is_err());
        assert!(!format!("{t:?}").contains("tok"));
        let a: AppSpec = "key:secret=files.content.read".parse().unwrap();
        assert_eq!(a.key, "key");
        assert_eq!(a.secret.as_deref(), Some("secret"));
        assert_eq!(a.scopes.to_string(), "account_info.read files.content.read");
        assert!(!format!("{a:?}").contains("secret"));
        let a: AppSpec = "key".parse().unwrap();
        assert_eq!((a.secret, a.scopes), (None, Scopes::default_set()));
    }
}
