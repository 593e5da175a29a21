#!/usr/bin/env bash
# The Python wheel as a user gets it. Builds it with maturin (pinned, in target/maturin-venv),
# installs it into a fresh venv and, from that venv alone (a clean environment whose PATH holds
# no path of this repository):
#   - `dropbox-post --version` and the wheel's version are Cargo.toml's;
#   - `init` on a copy of examples/study changes its config by exactly one added script, whose
#     src is the installed librec-auto scripts folder; a second `init` changes nothing;
#   - the installed encrypt.py and dropbox_post.py, run as librec-auto runs them (its argv, the
#     study as working directory, a decoy dropbox-post first on PATH), seal a key and post the
#     script's folder to an emulator started from the installed binary on 127.0.0.1;
#   - the folder landed byte for byte; the man pages render without a groff warning; the bash
#     completion script parses.
# WHEEL_PROFILE=dev (default: reuses the test build, only relinks) or release.
set -euo pipefail

MATURIN_VERSION=1.16.0 # keep in step with examples/ci/release-wheels.yml
repo=$(cd "$(dirname "$0")/.." && pwd)
profile=${WHEEL_PROFILE:-dev}
started=$SECONDS

work=$(mktemp -d)
emulator_pid=
cleanup() {
    if [ -n "$emulator_pid" ]; then
        kill "$emulator_pid" 2>/dev/null || true
        wait "$emulator_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "wheel-check: error: $*" >&2
    exit 1
}

# 1. maturin, pinned, in a venv of its own (kept between runs).
tools=$repo/target/maturin-venv
if [ "$("$tools/bin/maturin" --version 2>/dev/null)" != "maturin $MATURIN_VERSION" ]; then
    rm -rf "$tools"
    python3 -m venv "$tools"
    "$tools/bin/pip" install --quiet --disable-pip-version-check "maturin==$MATURIN_VERSION" \
        || fail "pip install maturin==$MATURIN_VERSION failed (is PyPI reachable?)"
fi

# 2. The wheel.
dist=$repo/target/wheel-check
rm -rf "$dist"
(cd "$repo" && "$tools/bin/maturin" build --locked --profile "$profile" --out "$dist")
wheels=("$dist"/*.whl)
[ "${#wheels[@]}" -eq 1 ] || fail "expected one wheel in $dist, found ${#wheels[@]}"
built=$SECONDS
echo "wheel-check: built $(basename "${wheels[0]}") ($(du -h "${wheels[0]}" | cut -f1)) in $((built - started)) s"

# 3. A fresh venv with nothing but the wheel.
venv=$work/venv
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-index --no-deps "${wheels[0]}"

# 4. From here on, a clean environment: the venv, the system, nothing of the repository.
mkdir -p "$work/home" "$work/decoy"
venv_env=(PATH="$venv/bin:/usr/bin:/bin" HOME="$work/home" LANG=C.UTF-8
    DROPBOX_POST_CACHE_DIR="$work/cache")
in_venv() {
    env -i "${venv_env[@]}" "$@"
}
# librec-auto's own environment may have any dropbox-post first on PATH; the shim must
# still run the binary it was installed with.
printf '#!/bin/sh\necho "decoy dropbox-post ran" >&2\nexit 99\n' >"$work/decoy/dropbox-post"
chmod +x "$work/decoy/dropbox-post"
as_librec_auto() {
    env -i PATH="$work/decoy:$venv/bin:/usr/bin:/bin" HOME="$work/home" LANG=C.UTF-8 \
        DROPBOX_POST_CACHE_DIR="$work/cache" DROPBOX_POST_ENDPOINT="$endpoint" "$@"
}

[ "$(in_venv sh -c 'command -v dropbox-post')" = "$venv/bin/dropbox-post" ] \
    || fail "dropbox-post on the venv's PATH is not the venv's"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -n1)
[ "$(in_venv dropbox-post --version)" = "dropbox-post $version" ] \
    || fail "dropbox-post --version says '$(in_venv dropbox-post --version)', Cargo.toml $version"
wheel_version=$(in_venv python3 -m pip show dropbox-post | sed -n 's/^Version: //p')
[ "$wheel_version" = "$version" ] || fail "the wheel's version is $wheel_version, Cargo.toml's $version"
src=$(in_venv dropbox-post librec-auto-dir)
[ "$src" = "$venv/share/dropbox-post/librec-auto" ] || fail "librec-auto-dir printed $src"
for script in dropbox_post.py encrypt.py dropbox_post_shim.py; do
    cmp -s "$src/$script" "$repo/bin/$script" || fail "$src/$script is not bin/$script"
done

# init on a copy of the example study.
study=$work/study
cp -R "$repo/examples/study" "$study"
(cd "$study" && in_venv dropbox-post init --option folder --path exp00000 --dest /wheel-check/exp00000)
in_venv python3 - "$repo/examples/study/conf/config.xml" "$study/conf/config.xml" "$src" \
    >"$work/argv" <<'PY'
import sys, xml.etree.ElementTree as ET
old, new = (open(p, newline="").read().splitlines(keepends=True) for p in sys.argv[1:3])
# Only lines added, every old line kept: the places those lines can have gone in...
n = len(new) - len(old)
starts = [j for j in range(len(old) + 1) if new[:j] == old[:j] and new[j + n:] == old[j:]]
assert n > 0 and starts, "the config changed otherwise than by added lines"
# ...one of which makes them one whole element.
def element(lines):
    try:
        return ET.fromstring("".join(lines))
    except ET.ParseError:
        return None
added = [e for e in (element(new[j:j + n]) for j in starts) if e is not None]
assert len(added) == 1, f"the added lines are not one element: {new[starts[0]:starts[0] + n]}"
added = added[0]
assert added.tag == "script" and added.get("src") == sys.argv[3], ET.tostring(added)
assert added.findtext("script-name") == "dropbox_post.py"
params = {p.get("name"): (p.text or "") for p in added.findall("param")}
assert params == {"option": "folder", "encrypted_key": "keys/dropbox.enc", "path": "exp00000",
                  "dest": "/wheel-check/exp00000", "password": ""}, params
assert ET.parse(sys.argv[2]).getroot().findall("post/script")[-1].get("src") == sys.argv[3]
# librec-auto's argv for this script; the password is appended by the caller.
print(f"{added.get('src')}/dropbox_post.py")
print("config.xml")
for name in ("option", "encrypted_key", "path", "dest"):
    print(f"--{name}={params[name]}")
PY
cp "$study/conf/config.xml" "$work/config-after-init"
again=$(cd "$study" && in_venv dropbox-post init --option folder --path exp00000 --dest /wheel-check/exp00000)
[[ $again == *"nothing to change"* ]] || fail "a second init changed something: $again"
cmp -s "$study/conf/config.xml" "$work/config-after-init" || fail "a second init changed the config"
# A file bigger than one upload chunk (the demo's weights are not committed).
head -c 9000000 /dev/urandom >"$study/exp00000/model/weights.bin"

# The emulator, from the installed binary, on loopback.
# Not through the function: a function sent to the background runs in a subshell, whose
# pid `kill` would reach instead of the emulator's (which then outlived the check).
env -i "${venv_env[@]}" dropbox-post emulate --root "$work/dropbox" --listen 127.0.0.1:0 \
    --token wheel-check-token >"$work/emulator.out" 2>"$work/emulator.err" &
emulator_pid=$!
for _ in $(seq 100); do
    [ -s "$work/emulator.out" ] && break
    sleep 0.1
done
endpoint=$(head -n1 "$work/emulator.out")
case "$endpoint" in
    http://127.0.0.1:*) ;;
    *) fail "the emulator did not start: $(cat "$work/emulator.err")" ;;
esac

# As librec-auto runs the installed scripts: python3 SRC/SCRIPT ARGS…, from the study.
password='wheel check: correct horse battery staple'
printf 'wheel-check-token\n' >"$study/token.txt"
(cd "$study" && as_librec_auto python3 "$src/encrypt.py" --key token.txt \
    --encrypted keys/dropbox.enc --password "$password")
mapfile -t argv <"$work/argv"
(cd "$study" && as_librec_auto python3 "${argv[@]}" "--password=$password")

in_venv python3 - "$study/exp00000" "$work/dropbox/files/wheel-check/exp00000" <<'PY'
import filecmp, os, sys
def files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, names in os.walk(root) for f in names)
local, landed = sys.argv[1], sys.argv[2]
assert files(local) == files(landed), (files(local), files(landed))
for rel in files(local):
    assert filecmp.cmp(os.path.join(local, rel), os.path.join(landed, rel), shallow=False), rel
print(f"wheel-check: {len(files(local))} files landed byte for byte")
PY

# The installed binary's man pages and completions.
in_venv dropbox-post man "$work/man" >/dev/null
for page in "$work"/man/*.1; do
    warnings=$(groff -k -man -Tutf8 -ww -z "$page" 2>&1) || fail "groff failed on $page: $warnings"
    [ -z "$warnings" ] || fail "groff warns about $(basename "$page"): $warnings"
done
in_venv dropbox-post completions bash | bash -n || fail "the bash completion script does not parse"

echo "wheel-check: ok ($((SECONDS - started)) s, of which the wheel build $((built - started)) s)"
