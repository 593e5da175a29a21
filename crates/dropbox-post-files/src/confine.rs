//! Where `init` and `get` may write: below a folder the user named, never through a
//! symbolic link.
//!
//! A study can carry links (git keeps them) and a download target can hold old ones, so a
//! name below the folder is not trusted to lead where it reads. The folder itself is the
//! user's choice and opened as named; below it every path is walked one name at a time from
//! the folder's descriptor with `O_NOFOLLOW`, and a link anywhere on the way or at the end is
//! refused ([`Refused::Link`]), never followed. A file is written as a temporary file in its
//! parent's descriptor and renamed within that descriptor ([`NewFile`]), so a folder swapped
//! for a link after the walk changes nothing: the descriptor still is the folder that was
//! checked, and a rename replaces a link at the end instead of writing through it.
//!
//! Without `openat` (not Unix) the same checks are made by name and repeated right before the
//! rename; a folder swapped for a link between that check and the rename is not caught there.

use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::{Existing, kind_of};

/// Why a path below the folder was not opened or written.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// A symbolic link on the way or at the end, with where it points when that is known.
    #[error("{} is a symbolic link{}", .path.display(), to(.target))]
    Link {
        path: PathBuf,
        target: Option<PathBuf>,
    },
    #[error("{} is not a folder", .path.display())]
    NotFolder { path: PathBuf },
    #[error("{} is {what}, not a regular file", .path.display())]
    NotFile { path: PathBuf, what: &'static str },
    #[error("{}: {}", .path.display(), super::io_text(.error))]
    Io { path: PathBuf, error: io::Error },
}

fn to(target: &Option<PathBuf>) -> String {
    target
        .as_ref()
        .map(|t| format!(" (to {})", t.display()))
        .unwrap_or_default()
}

impl Refused {
    /// The path it is about, as shown.
    pub fn path(&self) -> &Path {
        match self {
            Refused::Link { path, .. }
            | Refused::NotFolder { path }
            | Refused::NotFile { path, .. }
            | Refused::Io { path, .. } => path,
        }
    }
}

/// A folder the user named, and the one handle every path below it is reached through.
#[derive(Debug)]
pub struct Folder {
    /// As shown in messages: the name the user gave, then the names walked.
    shown: PathBuf,
    imp: imp::Dir,
}

/// Whether [`Folder::folder`] creates what is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Create,
    None,
}

impl Folder {
    /// The folder at `path` (symlinks on the way followed: the user named it).
    pub fn open(path: &Path) -> io::Result<Folder> {
        Ok(Folder {
            shown: path.to_path_buf(),
            imp: imp::Dir::open(path)?,
        })
    }

    /// How `rel` below this folder is shown: the folder's name joined with it (just `rel`
    /// for `.`).
    pub fn shown(&self, rel: &Path) -> PathBuf {
        if self.shown == Path::new(".") {
            rel.to_path_buf()
        } else {
            self.shown.join(rel)
        }
    }

    /// The folder `rel` below this one, each name on the way a real folder; `Ok(None)` when
    /// one is missing and `missing` is [`Missing::None`], else it is created.
    pub fn folder(&self, rel: &Path, missing: Missing) -> Result<Option<Folder>, Refused> {
        let mut names = names(rel)?.into_iter();
        let Some(first) = names.next() else {
            return self.reopen().map(Some);
        };
        let mut cur = match self.child(first, missing)? {
            Some(dir) => dir,
            None => return Ok(None),
        };
        for name in names {
            cur = match cur.child(name, missing)? {
                Some(dir) => dir,
                None => return Ok(None),
            };
        }
        Ok(Some(cur))
    }

    fn reopen(&self) -> Result<Folder, Refused> {
        let imp = self.imp.try_clone().map_err(|error| Refused::Io {
            path: self.shown.clone(),
            error,
        })?;
        Ok(Folder {
            shown: self.shown.clone(),
            imp,
        })
    }

    fn child(&self, name: &std::ffi::OsStr, missing: Missing) -> Result<Option<Folder>, Refused> {
        let shown = self.shown(Path::new(name));
        match self.imp.child(name, missing == Missing::Create) {
            Ok(Some(imp)) => Ok(Some(Folder { shown, imp })),
            Ok(None) => Ok(None),
            Err(e) => Err(self.refusal(name, shown, e, true)),
        }
    }

    /// What a failed open of `name` means: a link, a non-folder, or the OS error.
    fn refusal(
        &self,
        name: &std::ffi::OsStr,
        path: PathBuf,
        error: io::Error,
        want_folder: bool,
    ) -> Refused {
        match self.imp.link_target(name) {
            Some(target) => Refused::Link {
                path,
                target: Some(target),
            },
            None if want_folder && error.kind() == io::ErrorKind::NotADirectory => {
                Refused::NotFolder { path }
            }
            None => Refused::Io { path, error },
        }
    }

    /// The regular file `rel` below this folder, opened for reading (and writing with
    /// `write`) without following a link; `Ok(None)` when it or a folder on the way is
    /// missing. Never blocks on a FIFO.
    pub fn open_file(&self, rel: &Path, write: bool) -> Result<Option<File>, Refused> {
        let (parent, name) = self.parent_of(rel, Missing::None)?;
        let Some(parent) = parent else {
            return Ok(None);
        };
        let path = self.shown(rel);
        let file = match parent.imp.open_file(name, write) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(parent.refusal(name, path, e, false)),
        };
        match file.metadata() {
            Ok(meta) if meta.is_file() => Ok(Some(file)),
            Ok(meta) => Err(Refused::NotFile {
                path,
                what: kind_of(&meta.file_type()),
            }),
            Err(error) => Err(Refused::Io { path, error }),
        }
    }

    /// Removes the empty folder `rel` (one this run created and now leaves unused).
    pub fn remove_folder(&self, rel: &Path) -> Result<(), Refused> {
        let (parent, name) = self.parent_of(rel, Missing::None)?;
        let io = |error| Refused::Io {
            path: self.shown(rel),
            error,
        };
        match parent {
            Some(parent) => parent.imp.remove_dir(name).map_err(io),
            None => Ok(()),
        }
    }

    /// A new file that [`NewFile::commit`] puts at `rel` below this folder (whose folders
    /// must exist). `mode` is its Unix permissions (less the umask).
    pub fn new_file(&self, rel: &Path, mode: u32) -> Result<NewFile, Refused> {
        let (parent, name) = self.parent_of(rel, Missing::None)?;
        let path = self.shown(rel);
        let Some(parent) = parent else {
            return Err(Refused::Io {
                path,
                error: io::ErrorKind::NotFound.into(),
            });
        };
        let imp = parent
            .imp
            .new_file(name, mode)
            .map_err(|error| Refused::Io {
                path: path.clone(),
                error,
            })?;
        Ok(NewFile { path, imp })
    }

    fn parent_of<'a>(
        &self,
        rel: &'a Path,
        missing: Missing,
    ) -> Result<(Option<Folder>, &'a std::ffi::OsStr), Refused> {
        let name = rel.file_name().ok_or_else(|| Refused::Io {
            path: self.shown(rel),
            error: io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
        })?;
        let parent = rel.parent().unwrap_or(Path::new(""));
        Ok((self.folder(parent, missing)?, name))
    }
}

/// `rel`'s names: plain names only (no root, `.` or `..`), else an error.
fn names(rel: &Path) -> Result<Vec<&std::ffi::OsStr>, Refused> {
    rel.components()
        .map(|c| match c {
            Component::Normal(name) => Ok(name),
            _ => Err(Refused::Io {
                path: rel.to_path_buf(),
                error: io::Error::new(io::ErrorKind::InvalidInput, "not a relative path"),
            }),
        })
        .collect()
}

/// A file being written beside its target, in the folder the walk checked; renamed into
/// place by [`NewFile::commit`], deleted when dropped uncommitted.
#[derive(Debug)]
pub struct NewFile {
    path: PathBuf,
    imp: imp::Temp,
}

impl NewFile {
    pub fn file(&mut self) -> &mut File {
        self.imp.file()
    }

    /// The target, as shown.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets the file's permissions (Unix mode bits; elsewhere only the write bit counts).
    pub fn set_mode(&mut self, mode: u32) -> io::Result<()> {
        self.imp.set_mode(mode)
    }

    /// Flushes the bytes to disk: a caller putting several files in place can make sure all
    /// are whole before the first rename.
    pub fn sync(&self) -> io::Result<()> {
        self.imp.file_ref().sync_all()
    }

    /// Flushes the bytes and renames the file over the target (never through a link there:
    /// the link is what gets replaced), or with [`Existing::Keep`] fails with
    /// `AlreadyExists` when anything is there.
    pub fn commit(self, existing: Existing) -> io::Result<()> {
        self.sync()?;
        self.imp.commit(existing)
    }
}

#[cfg(unix)]
mod imp {
    use std::ffi::{CStr, CString, OsStr};
    use std::fs::File;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};

    use super::Existing;

    #[derive(Debug)]
    pub struct Dir(OwnedFd);

    fn cstr(name: &OsStr) -> io::Result<CString> {
        CString::new(name.as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a name holds a NUL byte"))
    }

    /// Retries a call interrupted by a signal; the OS error of a failed one.
    fn check(call: impl Fn() -> libc::c_int) -> io::Result<libc::c_int> {
        loop {
            let r = call();
            if r >= 0 {
                return Ok(r);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    impl Dir {
        pub fn open(path: &Path) -> io::Result<Dir> {
            let path = cstr(path.as_os_str())?;
            let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
            let fd = check(|| unsafe { libc::open(path.as_ptr(), flags) })?;
            Ok(Dir(unsafe { OwnedFd::from_raw_fd(fd) }))
        }

        pub fn try_clone(&self) -> io::Result<Dir> {
            Ok(Dir(self.0.try_clone()?))
        }

        fn open_at(
            &self,
            name: &CStr,
            flags: libc::c_int,
            mode: libc::c_uint,
        ) -> io::Result<OwnedFd> {
            let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
            let fd =
                check(|| unsafe { libc::openat(self.0.as_raw_fd(), name.as_ptr(), flags, mode) })?;
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        }

        /// The folder `name`; created when missing and `create`.
        pub fn child(&self, name: &OsStr, create: bool) -> io::Result<Option<Dir>> {
            let c = cstr(name)?;
            let flags = libc::O_RDONLY | libc::O_DIRECTORY;
            match self.open_at(&c, flags, 0) {
                Ok(fd) => return Ok(Some(Dir(fd))),
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            }
            match check(|| unsafe { libc::mkdirat(self.0.as_raw_fd(), c.as_ptr(), 0o777) }) {
                // Another writer made it first: it is walked like any other.
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            self.open_at(&c, flags, 0).map(|fd| Some(Dir(fd)))
        }

        /// Where `name` points, if it is a symbolic link.
        pub fn link_target(&self, name: &OsStr) -> Option<PathBuf> {
            let c = cstr(name).ok()?;
            let mut buf = vec![0u8; libc::PATH_MAX as usize];
            let n = unsafe {
                libc::readlinkat(
                    self.0.as_raw_fd(),
                    c.as_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            if n < 0 {
                return None;
            }
            buf.truncate(n as usize);
            Some(PathBuf::from(OsStr::from_bytes(&buf)))
        }

        pub fn open_file(&self, name: &OsStr, write: bool) -> io::Result<File> {
            let access = if write { libc::O_RDWR } else { libc::O_RDONLY };
            // O_NONBLOCK: a FIFO opens at once (and is then refused); O_NOCTTY: a terminal
            // never becomes ours.
            let flags = access | libc::O_NONBLOCK | libc::O_NOCTTY;
            self.open_at(&cstr(name)?, flags, 0).map(File::from)
        }

        pub fn remove_dir(&self, name: &OsStr) -> io::Result<()> {
            let c = cstr(name)?;
            check(|| unsafe { libc::unlinkat(self.0.as_raw_fd(), c.as_ptr(), libc::AT_REMOVEDIR) })
                .map(drop)
        }

        pub fn new_file(self, name: &OsStr, mode: u32) -> io::Result<Temp> {
            let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
            let mut tries = 0;
            loop {
                let temp =
                    CString::new(format!(".dropbox-post-{:016x}.tmp", rand::random::<u64>()))
                        .expect("no NUL");
                match self.open_at(&temp, flags, mode as libc::c_uint) {
                    Ok(fd) => {
                        return Ok(Temp {
                            dir: self,
                            name: cstr(name)?,
                            temp,
                            file: File::from(fd),
                            committed: false,
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 8 => tries += 1,
                    Err(e) => return Err(e),
                }
            }
        }
    }

    #[derive(Debug)]
    pub struct Temp {
        dir: Dir,
        name: CString,
        temp: CString,
        file: File,
        committed: bool,
    }

    impl Temp {
        pub fn file(&mut self) -> &mut File {
            &mut self.file
        }

        pub fn file_ref(&self) -> &File {
            &self.file
        }

        pub fn set_mode(&mut self, mode: u32) -> io::Result<()> {
            use std::os::unix::fs::PermissionsExt;
            self.file
                .set_permissions(std::fs::Permissions::from_mode(mode))
        }

        pub fn commit(mut self, existing: Existing) -> io::Result<()> {
            let dir = self.dir.0.as_raw_fd();
            let (from, to) = (self.temp.as_ptr(), self.name.as_ptr());
            match existing {
                Existing::Replace => check(|| unsafe { libc::renameat(dir, from, dir, to) })?,
                Existing::Keep => no_clobber(dir, from, to)?,
            };
            self.committed = true;
            Ok(())
        }
    }

    /// Renames `from` to `to` in `dir` unless `to` exists (`AlreadyExists`).
    #[cfg(all(target_os = "linux", any(target_env = "gnu", target_env = "musl")))]
    fn no_clobber(
        dir: libc::c_int,
        from: *const libc::c_char,
        to: *const libc::c_char,
    ) -> io::Result<libc::c_int> {
        let flags = libc::RENAME_NOREPLACE;
        match check(|| unsafe { libc::renameat2(dir, from, dir, to, flags) }) {
            // A file system without RENAME_NOREPLACE: a hard link does the same.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => link_then_unlink(dir, from, to),
            other => other,
        }
    }

    #[cfg(not(all(target_os = "linux", any(target_env = "gnu", target_env = "musl"))))]
    fn no_clobber(
        dir: libc::c_int,
        from: *const libc::c_char,
        to: *const libc::c_char,
    ) -> io::Result<libc::c_int> {
        link_then_unlink(dir, from, to)
    }

    fn link_then_unlink(
        dir: libc::c_int,
        from: *const libc::c_char,
        to: *const libc::c_char,
    ) -> io::Result<libc::c_int> {
        check(|| unsafe { libc::linkat(dir, from, dir, to, 0) })?;
        check(|| unsafe { libc::unlinkat(dir, from, 0) })
    }

    impl Drop for Temp {
        fn drop(&mut self) {
            if !self.committed {
                unsafe { libc::unlinkat(self.dir.0.as_raw_fd(), self.temp.as_ptr(), 0) };
            }
        }
    }
}

#[cfg(not(unix))]
mod imp {
    use std::ffi::OsStr;
    use std::fs::File;
    use std::io;
    use std::path::{Path, PathBuf};

    use super::Existing;
    use crate::AtomicFile;

    /// A folder by name, with the names walked below the user's folder to reach it (each
    /// checked with `symlink_metadata`, and checked again before a rename).
    #[derive(Debug)]
    pub struct Dir {
        path: PathBuf,
        walked: Vec<PathBuf>,
    }

    fn not_a_link(path: &Path) -> io::Result<()> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => Err(io::Error::other("a symbolic link")),
            _ => Ok(()),
        }
    }

    impl Dir {
        pub fn open(path: &Path) -> io::Result<Dir> {
            if !std::fs::metadata(path)?.is_dir() {
                return Err(io::ErrorKind::NotADirectory.into());
            }
            Ok(Dir {
                path: path.to_path_buf(),
                walked: Vec::new(),
            })
        }

        pub fn try_clone(&self) -> io::Result<Dir> {
            Ok(Dir {
                path: self.path.clone(),
                walked: self.walked.clone(),
            })
        }

        pub fn child(&self, name: &OsStr, create: bool) -> io::Result<Option<Dir>> {
            let path = self.path.join(name);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => Err(io::Error::other("a symbolic link")),
                Ok(m) if m.is_dir() => {
                    let mut walked = self.walked.clone();
                    walked.push(path.clone());
                    Ok(Some(Dir { path, walked }))
                }
                Ok(_) => Err(io::ErrorKind::NotADirectory.into()),
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    match std::fs::create_dir(&path) {
                        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                        _ => {}
                    }
                    self.child(name, false)
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        }

        pub fn link_target(&self, name: &OsStr) -> Option<PathBuf> {
            std::fs::read_link(self.path.join(name)).ok()
        }

        pub fn open_file(&self, name: &OsStr, write: bool) -> io::Result<File> {
            let path = self.path.join(name);
            not_a_link(&path)?;
            std::fs::OpenOptions::new()
                .read(true)
                .write(write)
                .open(path)
        }

        pub fn remove_dir(&self, name: &OsStr) -> io::Result<()> {
            std::fs::remove_dir(self.path.join(name))
        }

        pub fn new_file(self, name: &OsStr, _mode: u32) -> io::Result<Temp> {
            Ok(Temp {
                atomic: AtomicFile::public(&self.path.join(name))?,
                dir: self,
            })
        }
    }

    #[derive(Debug)]
    pub struct Temp {
        dir: Dir,
        atomic: AtomicFile,
    }

    impl Temp {
        pub fn file(&mut self) -> &mut File {
            self.atomic.file()
        }

        pub fn file_ref(&self) -> &File {
            self.atomic.temp.as_file()
        }

        pub fn set_mode(&mut self, mode: u32) -> io::Result<()> {
            let mut permissions = self.file_ref().metadata()?.permissions();
            permissions.set_readonly(mode & 0o200 == 0);
            self.file_ref().set_permissions(permissions)
        }

        /// The walk checked again, by name, right before the rename.
        pub fn commit(self, existing: Existing) -> io::Result<()> {
            for path in &self.dir.walked {
                not_a_link(path)?;
            }
            self.atomic.commit(existing)
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::symlink;

    fn write(folder: &Folder, rel: &str, bytes: &[u8], existing: Existing) -> io::Result<()> {
        let mut file = folder
            .new_file(Path::new(rel), 0o600)
            .map_err(io::Error::other)?;
        file.file().write_all(bytes)?;
        file.commit(existing)
    }

    #[test]
    fn links_are_refused_wherever_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs_write(&root.join("a/b/file"));
        symlink(outside.path(), root.join("a/link")).unwrap();
        symlink(outside.path().join("f"), root.join("a/b/flink")).unwrap();
        let folder = Folder::open(root).unwrap();
        let is_link = |r: Result<(), Refused>| matches!(r, Err(Refused::Link { .. }));
        for rel in ["a/link", "a/link/x/y", "a/b/flink"] {
            let mkdir = folder.folder(Path::new(rel), Missing::Create).map(drop);
            assert!(is_link(mkdir), "{rel}");
            assert!(
                is_link(folder.open_file(Path::new(rel), false).map(drop)),
                "{rel}"
            );
        }
        // A new file at a link's own name replaces the link (see below); through one, never.
        assert!(is_link(
            folder.new_file(Path::new("a/link/f"), 0o600).map(drop)
        ));
        let err = folder.open_file(Path::new("a/link/f"), false).unwrap_err();
        let shown = root.join("a/link").display().to_string();
        let to = outside.path().display();
        assert_eq!(
            err.to_string(),
            format!("{shown} is a symbolic link (to {to})")
        );
        let err = folder
            .folder(Path::new("a/b/file/c"), Missing::Create)
            .unwrap_err();
        assert!(matches!(err, Refused::NotFolder { .. }), "{err}");
        assert!(
            folder
                .open_file(Path::new("a/nope/f"), false)
                .unwrap()
                .is_none()
        );
        assert!(
            folder
                .folder(Path::new("a/new/deep"), Missing::Create)
                .unwrap()
                .is_some()
        );
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    fn fs_write(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    /// The walk holds each folder by its descriptor: a folder swapped for a link after it
    /// was checked still gets the file, the link's target never does.
    #[test]
    fn a_folder_swapped_for_a_link_after_the_walk_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        let folder = Folder::open(root).unwrap();
        let mut file = folder.new_file(Path::new("sub/f"), 0o600).unwrap();
        file.file().write_all(b"new").unwrap();
        std::fs::rename(root.join("sub"), root.join("moved")).unwrap();
        symlink(outside.path(), root.join("sub")).unwrap();
        file.commit(Existing::Replace).unwrap();
        assert_eq!(std::fs::read(root.join("moved/f")).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        // Only the file is left: no temporary file beside it.
        assert_eq!(std::fs::read_dir(root.join("moved")).unwrap().count(), 1);
    }

    #[test]
    fn new_files_replace_or_keep() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Folder::open(dir.path()).unwrap();
        write(&folder, "f", b"one", Existing::Keep).unwrap();
        write(&folder, "f", b"two", Existing::Replace).unwrap();
        let kept = write(&folder, "f", b"three", Existing::Keep).unwrap_err();
        assert_eq!(kept.kind(), io::ErrorKind::AlreadyExists);
        let dropped = folder.new_file(Path::new("f"), 0o600).unwrap();
        drop(dropped);
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // A link at the name is replaced by the rename, never written through.
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path().join("t"), dir.path().join("l")).unwrap();
        write(&folder, "l", b"four", Existing::Replace).unwrap();
        assert!(!outside.path().join("t").exists());
        assert_eq!(std::fs::read(dir.path().join("l")).unwrap(), b"four");
    }
}
