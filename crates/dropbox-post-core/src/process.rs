//! Keep the secrets this process holds (password, tokens, derived keys) out of core dumps.
//!
//! Secrets live in `secrecy`/`zeroize` types and are wiped when dropped, but while a command
//! runs they are in memory, and a crash would write that memory to a core file. On Unix the
//! core size limit is set to 0; on Linux the process is also marked not dumpable, which in
//! addition stops other processes of the same user from attaching a debugger or reading its
//! memory and environment (`/proc/PID/mem`, `/proc/PID/environ`).

/// Every program dropbox-post runs (only `git`, today) is built here, with none of the
/// `DROPBOX_POST_*` variables: the password, a new password and an app secret can come in
/// through them, and a child (or a hook it runs) could read or log them.
pub fn child(program: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("DROPBOX_POST_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// `git` as [`child`] gives it, unable to run the code a repository names: no fsmonitor
/// hook (which even `check-ignore` would start), no hooks, and no system config; the user's
/// own config still counts.
pub fn git() -> std::process::Command {
    let mut cmd = child("git");
    cmd.args([
        "-c",
        "core.fsmonitor=false",
        "-c",
        "core.hooksPath=/dev/null",
    ])
    .env("GIT_CONFIG_NOSYSTEM", "1")
    .env("GIT_TERMINAL_PROMPT", "0");
    cmd
}

/// Best effort: a refusal by the system is ignored (the command still works).
pub fn no_core_dumps() {
    #[cfg(unix)]
    {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads the struct we pass and touches no other memory.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) };
    }
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_DUMPABLE takes an integer argument and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0)
    };
}

/// A signal that asks the process to stop (Ctrl-C, SIGTERM).
#[derive(Clone, Copy, Debug)]
pub struct Stop(i32);

/// Completes on a signal that ends a process (Ctrl-C, Ctrl-\\, SIGTERM, a closed terminal's
/// SIGHUP) with that signal; the handlers are installed when this is called. Racing a
/// command's future against it drops that future on a signal, so its temporary files go
/// with it.
pub fn stop_requested() -> impl std::future::Future<Output = Stop> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let kinds = [
            (SignalKind::interrupt(), libc::SIGINT),
            (SignalKind::terminate(), libc::SIGTERM),
            (SignalKind::hangup(), libc::SIGHUP),
            (SignalKind::quit(), libc::SIGQUIT),
        ];
        let watched: std::io::Result<Vec<_>> = (kinds.into_iter())
            .map(|(kind, number)| signal(kind).map(|s| (s, number)))
            .collect();
        async move {
            match watched {
                Ok(signals) => {
                    let next = signals.into_iter().map(|(mut s, number)| {
                        Box::pin(async move {
                            s.recv().await;
                            Stop(number)
                        })
                    });
                    futures_util::future::select_all(next).await.0
                }
                Err(e) => {
                    tracing::warn!("cannot watch SIGTERM: {e}");
                    let _ = tokio::signal::ctrl_c().await;
                    Stop(libc::SIGINT)
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            Stop(2)
        }
    }
}

impl Stop {
    /// Ends the process as the signal would have, once what it interrupted is cleaned up:
    /// the shell sees the same status (130 for Ctrl-C).
    pub fn end_process(self) -> ! {
        #[cfg(unix)]
        // SAFETY: resetting a signal's disposition and raising it touch no memory.
        unsafe {
            libc::signal(self.0, libc::SIG_DFL);
            libc::raise(self.0);
        }
        std::process::exit(128 + self.0)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn the_process_is_no_longer_dumpable() {
        super::no_core_dumps();
        let mut limit = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        // SAFETY: getrlimit writes only the struct we pass; prctl takes no pointer here.
        let (rc, dumpable) = unsafe {
            (
                libc::getrlimit(libc::RLIMIT_CORE, &mut limit),
                libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0),
            )
        };
        assert_eq!((rc, limit.rlim_cur, limit.rlim_max, dumpable), (0, 0, 0, 0));
    }
}
