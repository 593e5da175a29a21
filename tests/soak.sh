#!/usr/bin/env bash
# Fault soak: post a changing study tree through an emulator that fails, rate-limits, cuts
# and delays requests, and check after every round that Dropbox (the emulator's store on
# disk) holds exactly the local tree. Run by hand, it takes a few minutes:
#
#   bash tests/soak.sh [ROUNDS]          (default 20; SOAK_SEED=N picks the first seed,
#                                         SOAK_BIN=path uses that binary instead of building,
#                                         SOAK_FAULTS="--error-rate F ..." other fault flags)
#
# Each round restarts the emulator on the same root with seed SOAK_SEED+round (printed, so a
# failing round can be replayed), changes the tree (new files, edits, growth, shrinking, an
# empty file, a multi-chunk file, nested and Unicode names, files the filters leave out),
# then runs `post` as a user would: again while it exits 6 (some files failed), at most
# MAX_TRIES times. Every third round is a kill-and-resume round: a 24 MiB file (six chunks, so
# a concurrent session; big.bin's sequential one is resumed after cuts) is rewritten, `post`
# (paced at 12 MiB/s) is killed with SIGKILL at a random moment, the file is sometimes changed
# again, and the posts that follow continue (or, for a changed file, restart) its upload.
# Checks:
#   - ROOT/files/soak equals the local tree byte for byte (`diff -r`) but for what the
#     filters leave out (the script's exclude param `*.ckpt`, `.dropboxignore`'s `scratch/`),
#     none of which is there: nothing missing, nothing extra, no `(1)`/conflicted copies;
#   - ROOT/tmp (request bodies being received) is empty once the emulator has settled;
#   - the client's upload journal holds no session left uncommitted;
#   - a further post uploads nothing;
# and at the end, after a restart without faults, `get` brings back the same tree.
set -euo pipefail

ROUNDS=${1:-20}
SEED0=${SOAK_SEED:-$(date +%s)}
MAX_TRIES=${SOAK_MAX_TRIES:-6}
read -ra FAULTS <<<"${SOAK_FAULTS:---error-rate 0.15 --rate-limit-rate 0.05 --cut-rate 0.15 --latency-ms 2}"

repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${SOAK_BIN:-}
if [[ -z "$bin" ]]; then
    cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
    bin="${CARGO_TARGET_DIR:-$repo/target}/release/dropbox-post"
fi

work=$(mktemp -d)
# The soak's own HOME and cache: the user's hash cache and upload journal stay untouched.
export HOME="$work/home" DROPBOX_POST_CACHE_DIR="$work/cache"
mkdir -p "$HOME"
emu_pid=""
stop_emulator() {
    if [[ -n "$emu_pid" ]]; then
        kill "$emu_pid" 2>/dev/null || true
        wait "$emu_pid" 2>/dev/null || true
        emu_pid=""
    fi
}
trap 'stop_emulator; echo "soak: work files kept in $work"' EXIT

root="$work/dropbox"
study="$work/study"
tree="$study/post"
mkdir -p "$root" "$study/conf" "$study/keys" "$tree"
export DROPBOX_POST_EMULATOR_TOKENS=soak-token DROPBOX_POST_PASSWORD=soak-password
printf 'soak-token\n' | "$bin" encrypt --key - --encrypted "$study/keys/dropbox.enc" \
    --kdf-memory-kib 8192 --kdf-passes 1 --allow-weak-kdf --allow-weak-password >/dev/null 2>&1
cat >"$study/conf/config.xml" <<'XML'
<librec-auto><post><script lang="python3" src="system">
  <script-name>dropbox_post.py</script-name>
  <param name="option">folder</param>
  <param name="encrypted_key">keys/dropbox.enc</param>
  <param name="path">post</param>
  <param name="dest">/soak</param>
  <param name="password"></param>
  <param name="exclude">*.ckpt</param>
</script></post></librec-auto>
XML
printf '# never posted\nscratch/\n' >"$tree/.dropboxignore"

start_emulator() { # args: extra emulate flags
    # A fresh file each time: reading last round's URL, or an empty one (which would mean
    # real Dropbox), must not happen.
    rm -f "$work/url"
    "$bin" emulate --root "$root" -v "$@" >"$work/url" 2>>"$work/emulator.log" &
    emu_pid=$!
    DROPBOX_POST_ENDPOINT=""
    for _ in $(seq 600); do
        DROPBOX_POST_ENDPOINT=$(head -1 "$work/url" 2>/dev/null || true)
        [[ $DROPBOX_POST_ENDPOINT == http://127.0.0.1:* ]] && break
        kill -0 "$emu_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ $DROPBOX_POST_ENDPOINT != http://127.0.0.1:* ]]; then
        echo "soak: FAIL: the emulator did not start; see $work/emulator.log" >&2
        exit 1
    fi
    export DROPBOX_POST_ENDPOINT
}

rand() { echo $((RANDOM % $1)); }
write_random() { head -c "$2" /dev/urandom >"$1"; }

change_tree() { # args: round
    local r=$1 f
    mkdir -p "$tree/a/b/c" "$tree/résumé ✓" "$tree/日本語/データ" "$tree/emoji 😀" \
        "$tree/odd %20 'q' \"dq\"" "$tree/empty folder"
    for i in $(seq 8); do
        write_random "$tree/a/b/c/r$r-$i.csv" "$(rand 200000)"
    done
    write_random "$tree/日本語/データ/結果 $r.txt" "$(rand 5000)"
    write_random "$tree/emoji 😀/🎉 $r.bin" "$(rand 70000)"
    write_random "$tree/odd %20 'q' \"dq\"/back\\slash $r.txt" "$(rand 3000)"
    write_random "$tree/résumé ✓/Café $r.txt" "$(rand 3000)"
    : >"$tree/empty.txt"
    # Left out by the filters.
    mkdir -p "$tree/scratch/deep"
    write_random "$tree/a/b/run $r.ckpt" "$(rand 100000)"
    write_random "$tree/scratch/deep/tmp $r.bin" "$(rand 100000)"
    # Edit two files in place, grow one, shrink one.
    mapfile -t files < <(find "$tree" -type f -size +0 ! -name '*.ckpt' ! -path '*/scratch/*' ! -name .dropboxignore | sort)
    for _ in 1 2; do
        f=${files[$(rand ${#files[@]})]}
        printf 'edit %s\n' "$r" | dd of="$f" bs=1 seek=0 conv=notrunc status=none
    done
    f=${files[$(rand ${#files[@]})]}
    head -c "$(rand 50000)" /dev/urandom >>"$f"
    f=${files[$(rand ${#files[@]})]}
    truncate -s "$(($(stat -c %s "$f") / 2))" "$f"
    # More than two 4 MiB chunks; on later rounds change one chunk, grow or shrink it.
    if [[ ! -f "$tree/big.bin" ]]; then
        write_random "$tree/big.bin" $((9 * 1024 * 1024 + 12345))
    else
        case $(rand 3) in
            0) head -c 4096 /dev/urandom | dd of="$tree/big.bin" bs=4096 \
                seek=$((1024 + $(rand 1024))) conv=notrunc status=none ;;
            1) head -c $((1024 * 1024 + $(rand 99999))) /dev/urandom >>"$tree/big.bin" ;;
            2) truncate -s $((8 * 1024 * 1024 + $(rand 4000000))) "$tree/big.bin" ;;
        esac
    fi
}

post() { # args: log file; prints the exit code
    local code=0
    "$bin" post --config "$study/conf/config.xml" --chunk-size 4 --jobs 4 --json -vv \
        >"$1.json" 2>"$1" || code=$?
    echo "$code"
}

kill_post() { # args: log file; starts a post and SIGKILLs it after a random 0.1-1.9 s
    # Paced, so that the kill mostly lands while the big file is on its way.
    "$bin" post --config "$study/conf/config.xml" --chunk-size 4 --jobs 4 --bwlimit 12M -vv \
        >/dev/null 2>"$1" &
    local pid=$!
    sleep "$(rand 2).$((1 + $(rand 9)))"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

json_total() { # args: summary file, field; prints it (or 0)
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"][sys.argv[2]])' \
        "$1" "$2" 2>/dev/null || echo 0
}

uncommitted() { # prints how many uploads the client's journal still holds
    python3 - "$DROPBOX_POST_CACHE_DIR/uploads" <<'PY'
import json, pathlib, sys
live = {}
for journal in pathlib.Path(sys.argv[1]).glob("*.jsonl"):
    for line in journal.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        live[(journal.name, record["k"])] = record["n"] is not None
print(sum(live.values()))
PY
}

settle() { # waits until no request body is left half-received
    for _ in $(seq 50); do
        [[ -z "$(ls -A "$root/tmp" 2>/dev/null)" ]] && return 0
        sleep 0.1
    done
    echo "soak: FAIL: $root/tmp still holds $(ls "$root/tmp" | wc -l) staged bodies" >&2
    return 1
}

check_store() { # args: round
    settle
    if ! diff -r -x '*.ckpt' -x scratch "$tree" "$root/files/soak" >"$work/diff" 2>&1; then
        echo "soak: FAIL in round $1: the emulator's store differs from the local tree:" >&2
        head -20 "$work/diff" >&2
        exit 1
    fi
    if find "$root/files" -name '* ([0-9]*)*' -o -name '*conflicted copy*' | grep -q .; then
        echo "soak: FAIL in round $1: duplicates in the store" >&2
        exit 1
    fi
    if find "$root/files/soak" -name '*.ckpt' -o -name scratch | grep -q .; then
        echo "soak: FAIL in round $1: excluded files reached the store" >&2
        exit 1
    fi
    local left
    left=$(uncommitted)
    if [[ $left != 0 ]]; then
        echo "soak: FAIL in round $1: $left upload(s) left uncommitted in the journal" >&2
        exit 1
    fi
}

started=$(date +%s)
total_tries=0 total_retried_requests=0 total_cuts=0 total_kills=0 total_resumed=0
echo "soak: $ROUNDS rounds, seeds $SEED0..$((SEED0 + ROUNDS - 1)), faults: ${FAULTS[*]}"
for r in $(seq 1 "$ROUNDS"); do
    seed=$((SEED0 + r - 1))
    start_emulator --seed "$seed" "${FAULTS[@]}"
    change_tree "$r"
    killed=""
    if ((r % 3 == 0)); then
        write_random "$tree/model.bin" $((24 * 1024 * 1024))
        kill_post "$work/kill-$r.log"
        killed=" (killed once"
        total_kills=$((total_kills + 1))
        if (($(rand 3) == 0)); then
            # Changed after the kill: its session must not be continued.
            head -c 4096 /dev/urandom | dd of="$tree/model.bin" bs=4096 seek=100 \
                conv=notrunc status=none
            killed+=", then changed"
        fi
        killed+=")"
    fi
    tries=0 code=6 resumed=0
    while [[ $code == 6 && $tries -lt $MAX_TRIES ]]; do
        tries=$((tries + 1))
        code=$(post "$work/post-$r-$tries.log")
        resumed=$((resumed + $(json_total "$work/post-$r-$tries.log.json" resumed)))
    done
    total_resumed=$((total_resumed + resumed))
    if [[ $code != 0 ]]; then
        echo "soak: FAIL in round $r (seed $seed): post exited $code after $tries tries;" \
            "see $work/post-$r-$tries.log" >&2
        exit 1
    fi
    check_store "$r"
    again=$(post "$work/again-$r.log")
    uploaded=$(json_total "$work/again-$r.log.json" uploaded)
    if [[ $again != 0 || $uploaded != 0 ]]; then
        echo "soak: FAIL in round $r (seed $seed): a repeated post exited $again and uploaded $uploaded" >&2
        exit 1
    fi
    retried=$(cat "$work"/post-"$r"-*.log "$work/again-$r.log" | grep -c 'retrying in' || true)
    cuts=$(cat "$work"/post-"$r"-*.log "$work/again-$r.log" | grep 'retrying in' |
        grep -ciE 'connection|network|sending|body' || true)
    files=$(find "$tree" -type f | wc -l)
    echo "round $r: seed $seed, $files files, $(du -sk "$tree" | cut -f1) KiB, post tries $tries$killed," \
        "uploads resumed $resumed, requests retried $retried ($cuts after a dropped connection)"
    total_tries=$((total_tries + tries))
    total_retried_requests=$((total_retried_requests + retried))
    total_cuts=$((total_cuts + cuts))
    stop_emulator
done

# The journal replays to the same namespace, and the client reads back the same bytes.
start_emulator
rm -rf "$work/copy"
"$bin" get /soak "$work/copy" --encrypted "$study/keys/dropbox.enc" 2>"$work/get.log"
diff -r -x '*.ckpt' -x scratch "$tree" "$work/copy" ||
    { echo "soak: FAIL: get after restart differs" >&2; exit 1; }
stop_emulator
log="$work/emulator.log"
echo "soak: OK in $(($(date +%s) - started)) s: $ROUNDS rounds, $(find "$tree" -type f | wc -l) files," \
    "post runs $total_tries (and $total_kills killed), uploads resumed $total_resumed," \
    "client retries $total_retried_requests" \
    "($total_cuts after a dropped connection); emulator answered" \
    "$(grep -cE -- '-> 50[03] ' "$log") x 5xx, $(grep -c -- '-> 429 ' "$log") x 429," \
    "$(grep -c -- '-> 409 ' "$log") x 409, of $(grep -c -- ' /2/' "$log") logged API requests"
trap - EXIT
stop_emulator
rm -rf "$work"
