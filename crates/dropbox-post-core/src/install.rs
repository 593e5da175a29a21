//! Where this install keeps the librec-auto scripts (`dropbox_post.py`, `encrypt.py` and
//! their shim), so a study config's `<script src=…>` can point at them.
//!
//! The Python wheel installs the binary as a script and the scripts as data:
//! `PREFIX/bin/dropbox-post` (`PREFIX\Scripts\dropbox-post.exe` on Windows) and
//! `PREFIX/share/dropbox-post/librec-auto/`, for any prefix pip installs into (a venv, `--user`,
//! pipx, the system). A build from a checkout (`ROOT/target/PROFILE/dropbox-post`) uses the
//! checkout's `bin/`. `cargo install` copies the binary alone, so it has no scripts.

use std::path::{Path, PathBuf};

/// The scripts a folder must hold to be the librec-auto scripts folder.
pub const SCRIPTS: [&str; 3] = ["dropbox_post.py", "encrypt.py", "dropbox_post_shim.py"];

/// The folder under the install prefix that the wheel puts the scripts in.
pub const SHARE_DIR: [&str; 3] = ["share", "dropbox-post", "librec-auto"];

#[derive(Debug, thiserror::Error)]
#[error(
    "no librec-auto scripts installed with {} (looked in {}); install dropbox-post with pip \
     (pip install dropbox-post), or use a checkout's bin/ folder (init --src DIR)",
    .exe.display(),
    .looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
)]
pub struct NotInstalled {
    exe: PathBuf,
    looked: Vec<PathBuf>,
}

/// The librec-auto scripts folder of the running binary.
pub fn librec_auto_dir() -> Result<PathBuf, NotInstalled> {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("dropbox-post"));
    // The real file first: pipx and Homebrew-style installs put a symlink on PATH.
    let real = std::fs::canonicalize(&exe).unwrap_or_else(|_| exe.clone());
    let mut looked = candidates(&real);
    if real != exe {
        looked.extend(candidates(&exe));
    }
    match looked.iter().find(|dir| holds_scripts(dir)) {
        Some(dir) => Ok(dir.clone()),
        None => Err(NotInstalled { exe: real, looked }),
    }
}

/// Where the scripts may be for a binary at `exe`, most likely first.
fn candidates(exe: &Path) -> Vec<PathBuf> {
    let share = |prefix: &Path| {
        SHARE_DIR
            .iter()
            .fold(prefix.to_path_buf(), |p, d| p.join(d))
    };
    let mut out = Vec::new();
    let Some(bin_dir) = exe.parent() else {
        return out;
    };
    if let Some(prefix) = bin_dir.parent() {
        out.push(share(prefix));
        // pip --user on Windows: USERBASE\Python3XY\Scripts, data under USERBASE.
        if let Some(user_base) = prefix.parent() {
            out.push(share(user_base));
        }
        if prefix.file_name().is_some_and(|n| n == "target")
            && let Some(checkout) = prefix.parent()
        {
            out.push(checkout.join("bin"));
        }
    }
    out
}

fn holds_scripts(dir: &Path) -> bool {
    SCRIPTS.iter().all(|s| dir.join(s).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_scripts(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for s in SCRIPTS {
            std::fs::write(dir.join(s), "#").unwrap();
        }
    }

    fn found(exe: &Path) -> Option<PathBuf> {
        candidates(exe).into_iter().find(|d| holds_scripts(d))
    }

    #[test]
    fn wheel_layouts_and_checkouts() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let share = r.join("venv/share/dropbox-post/librec-auto");
        with_scripts(&share);
        assert_eq!(found(&r.join("venv/bin/dropbox-post")), Some(share.clone()));
        assert_eq!(
            found(&r.join("venv/Scripts/dropbox-post.exe")),
            Some(share.clone())
        );

        let user = r.join("user/share/dropbox-post/librec-auto");
        with_scripts(&user);
        assert_eq!(
            found(&r.join("user/Python312/Scripts/dropbox-post.exe")),
            Some(user)
        );

        with_scripts(&r.join("checkout/bin"));
        assert_eq!(
            found(&r.join("checkout/target/release/dropbox-post")),
            Some(r.join("checkout/bin"))
        );
        // A folder named bin/ beside any other build is not taken for a checkout.
        with_scripts(&r.join("other/bin"));
        assert_eq!(found(&r.join("other/out/release/dropbox-post")), None);
    }

    #[test]
    fn a_folder_missing_a_script_is_not_it() {
        let root = tempfile::tempdir().unwrap();
        let share = root.path().join("share/dropbox-post/librec-auto");
        with_scripts(&share);
        std::fs::remove_file(share.join("dropbox_post_shim.py")).unwrap();
        assert_eq!(found(&root.path().join("bin/dropbox-post")), None);
        assert_eq!(candidates(Path::new("dropbox-post")), Vec::<PathBuf>::new());
    }
}
