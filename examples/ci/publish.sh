#!/usr/bin/env bash
# The CI publishing steps of docs/ci.md, run locally against the emulator: post a study
# with --json --share, check the exit code and the summary, post again and check that
# nothing was uploaded. Needs bash and python3; uses ${DROPBOX_POST_BIN:-dropbox-post}.
set -euo pipefail

BIN=${DROPBOX_POST_BIN:-dropbox-post}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d)
EMULATOR_PID=
cleanup() {
    if [ -n "$EMULATOR_PID" ]; then
        kill "$EMULATOR_PID" 2>/dev/null || true
        wait "$EMULATOR_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# 1. A local Dropbox: the emulator on a free port, accepting the demo token.
"$BIN" emulate --root "$WORK/dropbox" --listen 127.0.0.1:0 \
    --token sl.EXAMPLE-demo-token-for-the-emulator >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
EMULATOR_PID=$!
echo "$EMULATOR_PID" >"$WORK/emulator.pid"
for _ in $(seq 100); do
    [ -s "$WORK/emulator.out" ] && break
    sleep 0.1
done
ENDPOINT=$(head -n1 "$WORK/emulator.out")
case "$ENDPOINT" in
    http*) ;;
    *) echo "publish.sh: the emulator did not start: $(cat "$WORK/emulator.err")" >&2; exit 1 ;;
esac
export DROPBOX_POST_ENDPOINT=$ENDPOINT

# 2. The checkout: the example study, its generated weights, the sealed demo key.
STUDY=$WORK/study
cp -R "$REPO/examples/study" "$STUDY"
mkdir -p "$STUDY/exp00000/model" "$STUDY/keys"
head -c 3000000 /dev/urandom >"$STUDY/exp00000/model/weights.bin"
cp "$REPO/keys.example/dropbox.enc" "$STUDY/keys/dropbox.enc"

# 3. The CI secret.
export DROPBOX_POST_PASSWORD='correct horse battery staple'

# 4. Publish; the exit code fails the job, the JSON goes to the log.
status=0
"$BIN" post --config "$STUDY/conf/config.xml" --json --share >"$WORK/first.json" || status=$?
if [ "$status" -ne 0 ]; then
    echo "publish.sh: post failed with exit code $status" >&2
    cat "$WORK/first.json" >&2
    exit "$status"
fi
python3 - "$WORK/first.json" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
assert run["ok"] is True, run
assert run["totals"]["failed"] == 0, run["totals"]
assert run["totals"]["uploaded"] > 0, run["totals"]
for script in run["scripts"]:
    assert script["link"] and "/s/" in script["link"], script
    print(f"script {script['script']}: {script['uploaded']} uploaded, link {script['link']}")
PY

# 5. A re-run uploads only what changed: here, nothing.
"$BIN" post --config "$STUDY/conf/config.xml" --json >"$WORK/second.json"
python3 - "$WORK/second.json" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
assert run["ok"] is True and run["totals"]["uploaded"] == 0, run["totals"]
print(f"re-run: {run['totals']['skipped']} unchanged, nothing uploaded")
PY

# 6. Stop the emulator by its saved PID.
kill "$(cat "$WORK/emulator.pid")"
wait "$EMULATOR_PID" 2>/dev/null || true
EMULATOR_PID=
echo "publish.sh: ok"
