"""Shared by the librec-auto shims: find the dropbox-post binary and run it with the
password moved from argv into the environment (argv is visible to every user via ps)."""

import os
import subprocess
import sys
from pathlib import Path

PASSWORD_ENV = "DROPBOX_POST_PASSWORD"
BIN_ENV = "DROPBOX_POST_BIN"
# librec-auto passes --password; dropbox-post and librec-auto's own CLI use -k/--key_password.
PASSWORD_FLAGS = ("--password", "--key_password", "-k")


class ShimError(Exception):
    """A one-line message and the exit code to leave with."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def is_executable(path):
    return os.access(path, os.X_OK) and os.path.isfile(path)


def own_install():
    """The binary installed together with these scripts, or None. A wheel puts the scripts in
    PREFIX/share/dropbox-post/librec-auto and the binary in PREFIX/bin (PREFIX\\Scripts on
    Windows, USERBASE\\Python3XY\\Scripts for a Windows `pip install --user`)."""
    here = Path(__file__).resolve().parent
    if here.parts[-3:] != ("share", "dropbox-post", "librec-auto"):
        return None
    prefix = here.parents[2]
    candidates = [
        prefix / "bin" / "dropbox-post",
        prefix / "Scripts" / "dropbox-post.exe",
        *sorted(prefix.glob("Python*/Scripts/dropbox-post.exe")),
    ]
    return next((str(c) for c in candidates if is_executable(c)), None)


def on_path():
    """`dropbox-post` in an absolute folder of PATH. An empty or relative entry would mean
    the current folder (a study, maybe a cloned one carrying its own `dropbox-post`), and so
    would shutil.which on Windows: both are skipped."""
    names = ["dropbox-post.exe", "dropbox-post"] if os.name == "nt" else ["dropbox-post"]
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isabs(folder):
            continue
        for name in names:
            candidate = os.path.join(folder, name)
            if is_executable(candidate):
                return candidate
    return None


def find_binary():
    """$DROPBOX_POST_BIN, then the binary of this install, then PATH, then this checkout's
    target/release build."""
    configured = os.environ.get(BIN_ENV)
    if configured:
        if is_executable(configured):
            return configured
        raise ShimError(
            f"{BIN_ENV}={configured} is not an executable file; "
            "point it at the dropbox-post binary or unset it",
            1,
        )
    found = own_install() or on_path()
    if found:
        return found
    built = Path(__file__).resolve().parent.parent / "target" / "release" / "dropbox-post"
    if is_executable(built):
        return str(built)
    raise ShimError(
        f"dropbox-post binary not found (looked at ${BIN_ENV}, PATH and {built}); "
        f"install it (pip install dropbox-post, or cargo install --path .), "
        f"build it (cargo build --release) or set {BIN_ENV}",
        1,
    )


def split_password(args):
    """Returns (args without any password flag, the last password given or None)."""
    rest, password = [], None
    i = 0
    while i < len(args):
        arg = args[i]
        flag, eq, value = arg.partition("=")
        if flag in PASSWORD_FLAGS and eq:
            password = value
        elif arg in PASSWORD_FLAGS:
            if i + 1 >= len(args):
                raise ShimError(f"{arg} needs a value", 2)
            password = args[i + 1]
            i += 1
        elif arg.startswith("-") and not arg.startswith("--") and "k" in arg:
            # A cluster of short flags (`-vkPW`, `-vk PW`): -k is the only one that takes a
            # value, so what follows it is the password; the flags before it are kept.
            flags, _, value = arg[1:].partition("k")
            value = value[1:] if value.startswith("=") else value  # -vk=PW, as clap reads it
            if not value:
                if i + 1 >= len(args):
                    raise ShimError(f"{arg} needs a value", 2)
                value = args[i + 1]
                i += 1
            password = value
            if flags:
                rest.append(f"-{flags}")
        else:
            rest.append(arg)
        i += 1
    return rest, password


def run(subcommand, args):
    """Runs `dropbox-post SUBCOMMAND ARGS…` and returns its exit code."""
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "dropbox-post shim"
    try:
        rest, password = split_password(args)
        binary = find_binary()
    except ShimError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return e.code
    env = dict(os.environ)
    # An empty `--password=` (librec-auto run without -k) must not hide an exported password.
    if password:
        env[PASSWORD_ENV] = password
    try:
        code = subprocess.call([binary, subcommand, *rest], env=env)
    except OSError as e:
        print(f"{prog}: error: cannot run {binary}: {e.strerror}", file=sys.stderr)
        return 1
    # A child killed by a signal: report it the way a shell would.
    return 128 - code if code < 0 else code
