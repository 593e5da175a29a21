//! Which space paths start in. On a personal account there is one: home. A member of a
//! Dropbox team (Business, Education) works by default in their own member folder (home),
//! while the team folders live in the team's shared root; `team` sends every call with
//! `Dropbox-API-Path-Root: {".tag":"root","root":ROOT_NS}`, the root namespace read once
//! from `users/get_current_account`.

use std::fmt;
use std::str::FromStr;

use super::client::DropboxClient;
use super::error::ApiError;
use dropbox_wire::types::{FullAccount, PathRoot};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Space {
    /// The account's home namespace (no header): all of a personal account, a team
    /// member's own folder.
    #[default]
    Home,
    /// The team's shared root, where team folders and the member folders are.
    Team,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is neither home nor team")]
pub struct UnknownSpace(pub String);

impl FromStr for Space {
    type Err = UnknownSpace;

    fn from_str(s: &str) -> Result<Space, UnknownSpace> {
        match s.trim().to_ascii_lowercase().as_str() {
            "home" => Ok(Space::Home),
            "team" => Ok(Space::Team),
            _ => Err(UnknownSpace(s.to_string())),
        }
    }
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Space::Home => "home",
            Space::Team => "team",
        })
    }
}

pub async fn current_account(client: &DropboxClient) -> Result<FullAccount, ApiError> {
    client.rpc("users/get_current_account", &()).await
}

/// The `Dropbox-API-Path-Root` of the account's team space; a personal account has none.
pub fn team_root(account: &FullAccount) -> Result<PathRoot, ApiError> {
    if account.root_info.is_team() {
        Ok(PathRoot::Root {
            root: account.root_info.root_namespace_id.clone(),
        })
    } else {
        Err(ApiError::NoTeamSpace {
            account: format!("{} <{}>", account.name.display_name, account.email),
            team: account.team.as_ref().map(|t| t.name.clone()),
        })
    }
}

/// `client`, working in `space`.
pub async fn enter(client: DropboxClient, space: Space) -> Result<DropboxClient, ApiError> {
    match space {
        Space::Home => Ok(client),
        Space::Team => {
            let root = team_root(&current_account(&client).await?)?;
            Ok(client.with_path_root(&root))
        }
    }
}

/// What `whoami` says of the account's namespaces and where `space`'s paths start.
pub fn describe(account: &FullAccount, space: Space) -> Vec<String> {
    let info = &account.root_info;
    let mut lines = Vec::new();
    if let Some(team) = &account.team {
        lines.push(format!("team:    {}", team.name));
    }
    if info.is_team() {
        lines.push(format!(
            "root:    namespace {} (the team space)",
            info.root_namespace_id
        ));
        lines.push(format!(
            "home:    namespace {} ({} in the team space)",
            info.home_namespace_id,
            info.home_path.as_deref().unwrap_or("?")
        ));
        lines.push(match space {
            Space::Home => {
                "paths:   start at home; --root team starts them at the team space".into()
            }
            Space::Team => "paths:   start at the team space (--root team)".into(),
        });
    } else {
        let kind = match account.team {
            Some(_) => "the team has no shared space",
            None => "a personal space",
        };
        lines.push(format!(
            "root:    namespace {} ({kind}: the root is home)",
            info.root_namespace_id
        ));
        lines.push(format!("home:    namespace {}", info.home_namespace_id));
        lines.push("paths:   start at home".into());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(root_info: serde_json::Value, team: bool) -> FullAccount {
        let mut a = serde_json::json!({
            "account_id": "dbid:x", "email": "e@x", "email_verified": true, "disabled": false,
            "locale": "en", "referral_link": "r", "is_paired": false,
            "account_type": {".tag": "basic"}, "root_info": root_info,
            "name": {"given_name": "E", "surname": "U", "familiar_name": "E",
                     "display_name": "Emma Ulator", "abbreviated_name": "EU"},
        });
        if team {
            a["team"] = serde_json::json!({"id": "dbtid:x", "name": "Lab"});
        }
        serde_json::from_value(a).unwrap()
    }

    #[test]
    fn spaces_parse_any_case() {
        assert_eq!("Team".parse(), Ok(Space::Team));
        assert_eq!(" home ".parse(), Ok(Space::Home));
        assert!("root".parse::<Space>().is_err());
        assert_eq!(Space::Team.to_string(), "team");
    }

    #[test]
    fn team_root_only_for_a_team_space() {
        let team = account(
            serde_json::json!({".tag": "team", "root_namespace_id": "9", "home_namespace_id": "1", "home_path": "/Emma Ulator"}),
            true,
        );
        assert_eq!(
            team_root(&team).unwrap(),
            PathRoot::Root { root: "9".into() }
        );
        let lines = describe(&team, Space::Team).join("\n");
        for part in [
            "team:    Lab",
            "namespace 9",
            "namespace 1 (/Emma Ulator",
            "--root team",
        ] {
            assert!(lines.contains(part), "{lines}");
        }
        let personal = account(
            serde_json::json!({".tag": "user", "root_namespace_id": "1", "home_namespace_id": "1"}),
            false,
        );
        let e = team_root(&personal).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("Emma Ulator <e@x> is a personal Dropbox account"),
            "{e}"
        );
        assert!(
            describe(&personal, Space::Home)
                .join("\n")
                .contains("personal space")
        );
        // A team without a shared root: each member's space is their own.
        let distinct = account(
            serde_json::json!({".tag": "user", "root_namespace_id": "1", "home_namespace_id": "1"}),
            true,
        );
        let e = team_root(&distinct).unwrap_err();
        assert!(
            e.to_string().starts_with("the team Lab of Emma Ulator"),
            "{e}"
        );
        let lines = describe(&distinct, Space::Home).join("\n");
        assert!(lines.contains("the team has no shared space"), "{lines}");
    }
}
