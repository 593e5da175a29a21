#!/bin/sh
# Provision target/sdk-venv with the pinned Dropbox SDK (tests/conformance/requirements.txt).
# Idempotent: does nothing when the venv already holds exactly these requirements.
# Fails loudly (non-zero exit, one-line reason) when it cannot provision; never skips.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/target/sdk-venv"
requirements="$root/tests/conformance/requirements.txt"
stamp="$venv/requirements.installed"

fail() {
    echo "venv.sh: error: $*" >&2
    exit 1
}

if [ -f "$stamp" ] && cmp -s "$stamp" "$requirements" \
    && "$venv/bin/python" -c "import dropbox" 2>/dev/null; then
    exit 0
fi

command -v python3 >/dev/null || fail "python3 not found; install Python 3.9+ with the venv module"
rm -rf "$venv"
python3 -m venv "$venv" || fail "python3 -m venv $venv failed; install the venv module (e.g. apt-get install python3-venv)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" \
    || fail "pip install -r $requirements failed (is PyPI reachable?)"
"$venv/bin/python" -c "import dropbox" || fail "the dropbox SDK does not import in $venv"
cp "$requirements" "$stamp"
echo "venv.sh: provisioned $venv" >&2
