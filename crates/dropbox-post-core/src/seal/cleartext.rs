//! The cleartext key file `encrypt` reads, and the check that it is not about to be committed.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::{Credential, CredentialError, MAX_FILE_LEN};
use dropbox_post_files::{ReadError, read_bounded, read_to_limit};

#[derive(Debug, thiserror::Error)]
pub enum CleartextError {
    #[error("cannot read the cleartext key file {} ({error}); check the path given to --key", path.display())]
    Read { path: PathBuf, error: ReadError },
    #[error("the cleartext key file {} is over 64 KiB; it should hold one token", path.display())]
    TooLarge { path: PathBuf },
    #[error("the cleartext key file {}: {error}", path.display())]
    Invalid {
        path: PathBuf,
        error: CredentialError,
    },
}

/// Reads a cleartext credential from `path` (`-` for stdin) into a buffer wiped after use.
pub fn read_credential(path: &Path) -> Result<Credential, CleartextError> {
    let too_large = || CleartextError::TooLarge {
        path: path.to_owned(),
    };
    let read_error = |error| CleartextError::Read {
        path: path.to_owned(),
        error,
    };
    let bytes = if path == Path::new("-") {
        read_to_limit(std::io::stdin(), MAX_FILE_LEN, MAX_FILE_LEN)
    } else {
        read_bounded(path, MAX_FILE_LEN)
    }
    .map_err(|error| match error {
        ReadError::TooLarge(_) => too_large(),
        error => read_error(error),
    })?;
    Credential::from_cleartext(&bytes).map_err(|error| CleartextError::Invalid {
        path: path.to_owned(),
        error,
    })
}

/// A warning when `path` sits in a git work tree and git does not ignore it: one `git add .`
/// away from publishing the token. Silent when git is missing or `path` is stdin.
pub fn git_exposure_warning(path: &Path) -> Option<String> {
    if path == Path::new("-") {
        return None;
    }
    let path = std::fs::canonicalize(path).ok()?;
    let dir = path.parent()?;
    let git = |args: &[&std::ffi::OsStr]| {
        crate::process::git()
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
    };
    let inside = git(&["rev-parse".as_ref(), "--is-inside-work-tree".as_ref()])?;
    if !inside.status.success() || inside.stdout.trim_ascii() != b"true" {
        return None;
    }
    // Exit 0: ignored; 1: not ignored (or tracked); anything else: git could not tell.
    let ignored = git(&[
        "check-ignore".as_ref(),
        "-q".as_ref(),
        "--".as_ref(),
        path.as_ref(),
    ])?;
    (ignored.status.code() == Some(1)).then(|| {
        format!(
            "{} is inside a git work tree and not ignored: add it to .gitignore or delete it \
             once sealed, so the cleartext token is never committed",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git_available() -> bool {
        Command::new("git").arg("--version").output().is_ok()
    }

    #[test]
    fn warns_only_for_unignored_files_in_a_work_tree() {
        if !git_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token.txt");
        std::fs::write(&token, "sl.x\n").unwrap();
        assert_eq!(git_exposure_warning(&token), None, "not a work tree yet");

        let init = Command::new("git")
            .arg("init")
            .arg("-q")
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(init.success());
        let warning = git_exposure_warning(&token).expect("unignored file in a work tree");
        assert!(warning.contains("token.txt") && warning.contains(".gitignore"));

        std::fs::write(dir.path().join(".gitignore"), "token.txt\n").unwrap();
        assert_eq!(git_exposure_warning(&token), None);
        assert_eq!(git_exposure_warning(Path::new("-")), None);
    }

    #[test]
    fn reads_and_validates_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("k");
        std::fs::write(&file, "  sl.token \n").unwrap();
        assert_eq!(read_credential(&file).unwrap().type_name(), "access_token");
        std::fs::write(&file, "not a token\n").unwrap();
        assert!(matches!(
            read_credential(&file),
            Err(CleartextError::Invalid { .. })
        ));
        std::fs::write(&file, vec![b'a'; MAX_FILE_LEN as usize + 1]).unwrap();
        assert!(matches!(
            read_credential(&file),
            Err(CleartextError::TooLarge { .. })
        ));
        assert!(matches!(
            read_credential(&dir.path().join("missing")),
            Err(CleartextError::Read { .. })
        ));
    }
}
