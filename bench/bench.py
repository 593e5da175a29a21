#!/usr/bin/env python3
"""Benchmarks of `dropbox-post post` against the librec-auto way (the official Python SDK,
one `files_upload` per file, sequentially) and the ceiling (curl sending the same bytes to
the emulator's upload route), every workload on a fresh emulator root, all in one run.

Also W5, resume: a post killed with SIGKILL once ~60 % of a big file is acknowledged, then run
again (the emulator counts what each run sends), with and without an emulator restart in
between; W6, `--bwlimit`: the rate a limited post achieves; and under the emulator's model of
real Dropbox's link (0.5 s a request, 12 MiB/s a connection, 100 MiB/s in all), W7, many small
files, and W8, one big file up and down against the SDK's own transfer helper.

Run it through `bash bench/run.sh`, which builds the binary and the SDK venv first.
Environment: BIN, PYTHON (the SDK venv's), SCALE (full | tiny), RUNS, OUT, WORK (where trees and
emulator roots go), W1_MIB (W1's sizes, default "100 1024"), ONLY (some of
"w1 w2 w4 w5 w6 w7 w8"; W3 runs with W2). With ONLY, the workloads run replace their sections and target rows in an
existing OUT, each stamped with its own run, and the rest of OUT is kept.
"""

import filecmp
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOKEN = "sl.EXAMPLE-demo-token-for-the-emulator"
PASSWORD = "correct horse battery staple"
MIB = 1024 * 1024
# Dropbox refuses a single request over 150 MiB: no SDK `files_upload` and no one-request
# curl ceiling beyond that.
MAX_REQUEST = 150 * MIB
# The ceiling sends bigger files as an upload session of pieces this large.
CURL_PIECE = 128 * MIB

SCALES = {
    "full": dict(w1_mib=[int(m) for m in os.environ.get("W1_MIB", "100 1024").split()], w2_files=2000, w2_size=16 * 1024, latencies=[0, 30],
                 w4_files=200, w4_max=64 * MIB, runs=3, w5_mib=1024, w5_pace="256M",
                 w6_mib=64, w6_rate="10M",
                 model=dict(latency_ms=500, conn="12M", link="100M"),
                 w7=[(1000, 16 * 1024), (10000, 4 * 1024)], w7_sdk_max=200, w8_mib=1024,
                 link_check_mib=96),
    "tiny": dict(w1_mib=[2], w2_files=24, w2_size=16 * 1024, latencies=[0, 5],
                 w4_files=12, w4_max=2 * MIB, runs=1, w5_mib=32, w5_pace="32M",
                 w6_mib=4, w6_rate="8M",
                 model=dict(latency_ms=20, conn="12M", link="100M"),
                 w7=[(24, 16 * 1024), (60, 4 * 1024)], w7_sdk_max=24, w8_mib=16,
                 link_check_mib=4),
}
# Workload → the target rows it writes (W3 is measured with W2).
TARGET_PREFIXES = {"w1": ["W1"], "w2": ["W2", "W3"], "w4": ["W4"], "w5": ["W5"], "w6": ["W6"],
                   "w7": ["W7"], "w8": ["W8"]}
# The benchmark's model of real Dropbox (docs/emulator.md, "Link model", gives the public
# figures it is taken from).
MODEL_FLAGS = ["--latency-ms", "{latency_ms}", "--conn-rate", "{conn}", "--link-rate", "{link}"]


class Emulator:
    """`dropbox-post -v emulate` on a fresh root; -v logs one line per request, which is how
    requests are counted."""

    LINE = re.compile(r"POST /2/(\S+) -> (\d+)")
    RECEIVED = re.compile(r"POST /2/files/upload\S* -> (\d+) \(\d+ ms, (\d+) bytes in\)")

    def __init__(self, binary, work, flags):
        self.root = Path(tempfile.mkdtemp(prefix="root-", dir=work))
        self.log_path = self.root.with_suffix(".log")
        self.log = open(self.log_path, "w")
        self.args = [binary, "-v", "emulate", "--root", str(self.root), "--token", TOKEN, *flags]
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, env={**os.environ, "NO_COLOR": "1"})
        self.base = self.proc.stdout.readline().strip()
        if not self.base.startswith("http"):
            raise SystemExit(f"bench: the emulator did not start (log: {self.log_path})")

    def restart(self):
        """Stops the emulator (SIGTERM) and starts it again on the same root (and a new
        port)."""
        self.proc.terminate()
        self.proc.wait()
        self.start()

    def received(self, mark, acknowledged=False):
        """Upload body bytes that reached the emulator since `mark` (only those of requests
        it answered 200, with `acknowledged`)."""
        offset, _ = mark
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            f.seek(offset)
            return sum(int(n) for status, n in self.RECEIVED.findall(f.read())
                       if not acknowledged or status == "200")

    def files(self, dest):
        return self.root / "files" / dest.strip("/")

    def mark(self):
        self.log.flush()
        return self.log_path.stat().st_size, self.cpu()

    def cpu(self):
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def since(self, mark):
        offset, cpu = mark
        time.sleep(0.05)  # the last response is logged after it is sent
        with open(self.log_path, errors="replace") as f:
            f.seek(offset)
            routes = Counter(m.group(1) for m in self.LINE.finditer(f.read()))
        return routes, self.cpu() - cpu

    def stop(self, keep_root):
        self.proc.terminate()
        self.proc.wait()
        self.log.close()
        self.log_path.unlink()
        # Deleting thousands of files just before the next run slows its file creation
        # (ext4 skips recently freed inodes), so small-file roots go only at the very end.
        if not keep_root:
            shutil.rmtree(self.root, ignore_errors=True)


def at(latency_ms):
    """The emulator's flags for a plain `--latency-ms` run (no link model)."""
    return ["--latency-ms", str(latency_ms)]


def timed(cmd, env=None):
    """Runs `cmd` under /usr/bin/time -v: (wall seconds, peak RSS KiB, user + system CPU
    seconds of the process and its children)."""
    with tempfile.NamedTemporaryFile("r") as t:
        start = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-v", "-o", t.name, *cmd], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"bench: {' '.join(map(str, cmd[:3]))} failed:\n{done.stderr}")
        report = t.read()
    field = lambda name: float(re.search(rf"{name}: ([\d.]+)", report).group(1))
    return (wall, int(field(r"Maximum resident set size \(kbytes\)")),
            field(r"User time \(seconds\)") + field(r"System time \(seconds\)"))


def post_cmd(ctx, emu, local, dest):
    option = "file" if Path(local).is_file() else "folder"
    return [ctx["bin"], "post", "--endpoint", emu.base, f"--option={option}",
            f"--encrypted_key={ctx['key']}", f"--path={local}", f"--dest={dest}"]


def post_env(ctx, cache="hash-cache"):
    # The bench's own cache folder: it starts empty, and the user's is left alone.
    return {**os.environ, "DROPBOX_POST_PASSWORD": PASSWORD,
            "DROPBOX_POST_CACHE_DIR": str(ctx["work"] / cache)}


def dropbox_post(ctx, emu, local, dest, *extra):
    return timed(post_cmd(ctx, emu, local, dest) + list(extra), post_env(ctx))


def dropbox_post_rehash(ctx, emu, local, dest):
    """A re-run that hashes every file instead of trusting remembered hashes."""
    return dropbox_post(ctx, emu, local, dest, "--no-hash-cache")


def sdk(ctx, emu, local, dest):
    env = {**os.environ, "DROPBOX_TOKEN": TOKEN}
    return timed([ctx["python"], str(HERE / "sdk_upload.py"), emu.base, str(local), dest], env)


def upload_arg(path):
    return json.dumps({"path": path, "mode": "overwrite"})


def curl(ctx, emu, local, dest):
    """The ceiling: each file's bytes in one `files/upload` request (8 at a time for a tree,
    over reused connections, no hashing, no commit protocol), or, for a file over 150 MiB,
    in 128 MiB session pieces, one after another."""
    local = Path(local)
    if local.is_file() and local.stat().st_size > MAX_REQUEST:
        return curl_session(ctx, emu, local, f"{dest}/{local.name}")
    files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
    base = local.parent if local.is_file() else local
    quote = lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    config = "next\n".join(
        f"url = {quote(emu.base + '/2/files/upload')}\n"
        f"header = {quote('Authorization: Bearer ' + TOKEN)}\n"
        'header = "Content-Type: application/octet-stream"\n'
        f"header = {quote('Dropbox-API-Arg: ' + upload_arg(f'{dest}/{f.relative_to(base)}'))}\n"
        f"data-binary = {quote('@' + str(f))}\n"
        'output = "/dev/null"\nfail\n'
        for f in files)
    cfg = Path(ctx["work"]) / "curl.cfg"
    cfg.write_text(config)
    return timed(["curl", "-sS", "--parallel", "--parallel-max", "8", "-K", str(cfg)])


def curl_session(ctx, emu, local, path):
    pieces = ctx["pieces"][local]
    start = time.perf_counter()

    def call(route, arg, piece):
        out = subprocess.run(
            ["curl", "-sS", "-f", "-X", "POST", f"{emu.base}/2/files/upload_session/{route}",
             "-H", f"Authorization: Bearer {TOKEN}",
             "-H", "Content-Type: application/octet-stream",
             "-H", f"Dropbox-API-Arg: {json.dumps(arg)}", "--data-binary", f"@{piece}"],
            check=True, capture_output=True, text=True)
        return out.stdout

    session = json.loads(call("start", {}, pieces[0]))["session_id"]
    offset = pieces[0].stat().st_size
    for piece in pieces[1:-1]:
        call("append_v2", {"cursor": {"session_id": session, "offset": offset}}, piece)
        offset += piece.stat().st_size
    call("finish", {"cursor": {"session_id": session, "offset": offset},
                    "commit": {"path": path, "mode": "overwrite"}}, pieces[-1])
    return time.perf_counter() - start, None, None


def same_tree(local, remote):
    local, remote = Path(local), Path(remote)
    if local.is_file():
        return filecmp.cmp(local, remote / local.name, shallow=False)
    rel = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    names = rel(local)
    return names == rel(remote) and all(
        filecmp.cmp(local / n, remote / n, shallow=False) for n in names)


def measure(ctx, contender, local, flags, reruns=()):
    """Median over runs of `contender` uploading `local` to a fresh emulator, then of each of
    `reruns` (contenders) right after it on the same emulator."""
    steps = [(contender.__name__, contender)] + [(f"{r.__name__} re-run", r) for r in reruns]
    samples = {name: [] for name, _ in steps}
    for _ in range(ctx["runs"]):
        emu = Emulator(ctx["bin"], ctx["work"], flags)
        try:
            for name, step in steps:
                mark = emu.mark()
                wall, rss, client = step(ctx, emu, local, "/bench")
                routes, cpu = emu.since(mark)
                if not same_tree(local, emu.files("/bench")):
                    raise SystemExit(f"bench: {name} left a remote tree unlike {local}")
                samples[name].append(dict(wall=wall, rss=rss, client=client, routes=routes,
                                          cpu=cpu))
        finally:
            emu.stop(keep_root=local.is_dir() and sum(1 for _ in local.rglob("*")) > 500)
    return {name: summarize(s) for name, s in samples.items()}


def summarize(samples):
    mid = sorted(samples, key=lambda s: s["wall"])[len(samples) // 2]
    rss = [s["rss"] for s in samples if s["rss"] is not None]
    return dict(wall=statistics.median(s["wall"] for s in samples),
                walls=[s["wall"] for s in samples], rss=max(rss) if rss else None,
                routes=mid["routes"], cpu=mid["cpu"], client=mid["client"])


def make_tree(root, sizes, rng):
    """Files of the given sizes, spread over nested folders like a study's output."""
    for i, size in enumerate(sizes):
        d = root / f"run-{i % 10}" / f"fold-{i // 10 % 20}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"part-{i:04}.bin").write_bytes(rng.randbytes(size))
    return root


def make_file(path, size):
    with open(path, "wb") as f:
        for _ in range(0, size, 16 * MIB):
            f.write(os.urandom(min(16 * MIB, size - f.tell())))
    return path


def split(path, work):
    pieces = []
    with open(path, "rb") as f:
        while chunk := f.read(CURL_PIECE):
            p = Path(work) / f"{path.name}.piece{len(pieces)}"
            p.write_bytes(chunk)
            pieces.append(p)
    return pieces


def filesystem(path):
    """The type of the file system holding `path`, from /proc/mounts."""
    path, best = str(Path(path).resolve()), ("", "?")
    for line in open("/proc/mounts"):
        mount, fstype = line.split()[1:3]
        inside = path == mount or path.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) > len(best[0]):
            best = (mount, fstype)
    return best[1]


def machine(python, work):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), platform.processor())
    mem = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")))
    version = lambda cmd: subprocess.run(cmd, capture_output=True, text=True).stdout.split("\n")[0]
    return [
        f"{os.cpu_count()} cores, {cpu}, {mem // 1024 // 1024} GiB RAM, Linux {platform.release()}",
        f"{version(['rustc', '--version'])}; {version(['curl', '--version'])[:40]}; "
        f"Python SDK {version([python, '-c', 'import dropbox; print(dropbox.__version__)'])}",
        f"commit {version(['git', '-C', str(HERE.parent), 'rev-parse', '--short', 'HEAD'])}",
        f"trees and emulator roots (WORK) on {filesystem(work)}",
    ]


def fmt_routes(routes):
    short = {"files/upload_session/start": "start", "files/upload_session/append_v2": "append",
             "files/upload_session/finish_batch_v2": "finish_batch",
             "files/upload_session/finish": "finish", "files/upload": "upload",
             "files/list_folder": "list", "files/list_folder/continue": "list_continue"}
    total = sum(routes.values())
    parts = ", ".join(f"{n} {short.get(r, r)}" for r, n in sorted(routes.items()))
    return f"{total} ({parts})" if parts else "0"


def row(name, r, nbytes, ref=None):
    mib_s = f"{nbytes / MIB / r['wall']:.0f}" if nbytes else "–"
    rss = f"{r['rss'] / 1024:.0f}" if r["rss"] else "–"
    client = f"{r['client']:.2f}" if r["client"] is not None else "–"
    ratio = " · ".join(f"{label} {ref_r['wall'] / r['wall']:.2f}×"
                       for label, ref_r in (ref or {}).items() if ref_r)
    runs = ", ".join(f"{w:.2f}" for w in r["walls"])
    return (f"| {name} | {r['wall']:.2f} ({runs}) | {mib_s} | {rss} | {fmt_routes(r['routes'])} "
            f"| {client} | {r['cpu']:.2f} | {ratio or '–'} |")


HEADER = ("| contender | median wall s (runs) | MiB/s | peak RSS MiB | HTTP requests | "
          "client CPU s | emulator CPU s | speed-up vs |\n|---|---|---|---|---|---|---|---|")


def model(p):
    """The emulator's flags for the link model, and its figures: (flags, seconds per request,
    bytes/s per connection, bytes/s in all)."""
    m = p["model"]
    rate = lambda text: float(text.rstrip("M")) * MIB
    return ([f.format(**m) for f in MODEL_FLAGS], m["latency_ms"] / 1000, rate(m["conn"]),
            rate(m["link"]))


def floor(p, nbytes, round_trips):
    """The model's floor: the bytes at the link's rate plus the round trips no client can
    overlap."""
    _, latency, _, link = model(p)
    return nbytes / link + round_trips * latency


def sdk_transfer(direction, parallel):
    """The SDK 12.2.5 transfer helper, up or down, with `parallel` pieces in flight."""
    def run(ctx, emu, source, target):
        env = {**os.environ, "DROPBOX_TOKEN": TOKEN}
        return timed([ctx["python"], str(HERE / "sdk_transfer.py"), direction, emu.base,
                      str(source), str(target), str(parallel)], env)
    run.__name__ = f"sdk_{direction}_{parallel}"
    return run


def get(ctx, emu, remote, local):
    return timed([ctx["bin"], "get", "--endpoint", emu.base, "--encrypted", str(ctx["key"]),
                  remote, str(local)], post_env(ctx))


def w7(ctx, p, say, target):
    flags, latency, _, _ = model(p)
    m = p["model"]
    say(f"## W7: many small files under the link model (`--latency-ms {m['latency_ms']} "
        f"--conn-rate {m['conn']} --link-rate {m['link']}`)")
    say()
    say("dropbox-post (default settings) against the librec-auto way (the SDK's `files_upload` "
        "per file, one after another). The floor is the bytes at the link's rate plus three "
        "round trips no client can overlap (open sessions, send, commit). With more files "
        f"than {p['w7_sdk_max']}, the SDK is timed on the first {p['w7_sdk_max']} and its "
        "time scaled by the count (it sends one file after another, so its time is linear "
        "in the files); such a row says *scaled*.")
    say()
    say(HEADER.replace("speed-up vs", "× the floor · speed-up vs"))
    rng = random.Random(7)
    for count, size in p["w7"]:
        tree = make_tree(ctx["work"] / f"w7-{count}", [size] * count, rng)
        nbytes = count * size
        low = floor(p, nbytes, 3)
        ours = measure(ctx, dropbox_post, tree, flags)["dropbox_post"]
        sample = tree
        if count > p["w7_sdk_max"]:
            sample = ctx["work"] / f"w7-{count}-sample"
            files = sorted(f for f in tree.rglob("*") if f.is_file())[:p["w7_sdk_max"]]
            for f in files:
                (sample / f.relative_to(tree)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(f, sample / f.relative_to(tree))
        theirs = measure(ctx, sdk, sample, flags)["sdk"]
        scale = count / p["w7_sdk_max"] if count > p["w7_sdk_max"] else 1
        if scale != 1:
            theirs = dict(theirs, wall=theirs["wall"] * scale,
                          walls=[w * scale for w in theirs["walls"]],
                          routes=Counter({r: n * scale for r, n in theirs["routes"].items()}))
        label = f"{count:,} × {size // 1024} KiB"
        say(row(f"{label}: dropbox-post", ours, nbytes, {"SDK": theirs})[:-2]
            + f" · {ours['wall'] / low:.2f}× floor |")
        say(row(f"{label}: SDK files_upload" + (" (scaled)" if scale != 1 else ""), theirs,
                nbytes)[:-2] + f" · {theirs['wall'] / low:.2f}× floor |")
        say(f"| {label}: the model's floor | {low:.2f} | | | | | | |")
        requests = sum(ours["routes"].values())
        speedup = theirs["wall"] / ours["wall"]
        if (count, size) == (1000, 16 * 1024):
            target("W7 1,000 × 16 KiB: ≤ 8 HTTP requests in all", str(requests), requests <= 8)
            target("W7 1,000 × 16 KiB: ≤ 4 s under the model (33 s at 61bf7dd)",
                   f"{ours['wall']:.2f} s", ours["wall"] <= 4)
            target("W7 1,000 × 16 KiB: ≥ 100× the librec-auto way", f"{speedup:.0f}×",
                   speedup >= 100)
        else:
            target(f"W7 {label}: faster than the librec-auto way", f"{speedup:.0f}×",
                   speedup > 1)
        shutil.rmtree(tree)
        if sample != tree:
            shutil.rmtree(sample)


def w8(ctx, p, say, target):
    flags, latency, conn, link = model(p)
    m = p["model"]
    size = p["w8_mib"] * MIB
    f = make_file(ctx["work"] / f"w8-{p['w8_mib']}MiB.bin", size)
    say(f"## W8: one {p['w8_mib']} MiB file up and down under the link model "
        f"(`--latency-ms {m['latency_ms']} --conn-rate {m['conn']} --link-rate {m['link']}`)")
    say()
    say("Up: dropbox-post (default settings) against the SDK 12.2.5 transfer helper "
        "(`file_transfer.Uploader`, sequential and `parallel_uploads=8`); the floor is the "
        "bytes at the link's rate plus three round trips (open the session, the last piece, "
        "commit). Down: `get` against `file_transfer.Downloader` with `parallel_downloads=8`; "
        "the floor is the bytes at the link's rate plus one round trip. Peak RSS is the "
        "client's (`/usr/bin/time`), which includes the key's Argon2id (8 MiB here).")
    say()
    say(HEADER.replace("speed-up vs", "× the floor · speed-up vs"))
    up_floor, down_floor = floor(p, size, 3), floor(p, size, 1)
    res = measure(ctx, dropbox_post, f, flags)
    res |= measure(ctx, sdk_transfer("up", 1), f, flags)
    res |= measure(ctx, sdk_transfer("up", 8), f, flags)
    ours, seq, par = res["dropbox_post"], res["sdk_up_1"], res["sdk_up_8"]
    tail = lambda r, low: f" · {r['wall'] / low:.2f}× floor |"
    say(row("up: dropbox-post", ours, size, {"SDK parallel 8": par, "SDK sequential": seq})[:-2]
        + tail(ours, up_floor))
    say(row("up: SDK Uploader, sequential", seq, size)[:-2] + tail(seq, up_floor))
    say(row("up: SDK Uploader, parallel_uploads=8", par, size)[:-2] + tail(par, up_floor))
    say(f"| up: the model's floor | {up_floor:.2f} | | | | | | |")
    target("W8 up: within 1.3× of the model's floor", f"{ours['wall'] / up_floor:.2f}×",
           ours["wall"] <= 1.3 * up_floor)
    target("W8 up: ≥ 1.3× faster than SDK parallel_uploads=8",
           f"{par['wall'] / ours['wall']:.2f}×", par["wall"] >= 1.3 * ours["wall"])
    target("W8 up: client peak RSS ≤ 100 MiB (the KDF's 8 MiB included)",
           f"{ours['rss'] / 1024:.0f} MiB", ours["rss"] <= 100 * 1024)

    down = {}
    emu = Emulator(ctx["bin"], ctx["work"], flags)
    try:
        timed(post_cmd(ctx, emu, f, "/bench"), post_env(ctx))
        remote = f"/bench/{f.name}"
        for contender in (get, sdk_transfer("down", 8)):
            samples = []
            for _ in range(ctx["runs"]):
                local = ctx["work"] / "w8-down.bin"
                mark = emu.mark()
                wall, rss, client = contender(ctx, emu, remote, local)
                routes, cpu = emu.since(mark)
                if not filecmp.cmp(f, local, shallow=False):
                    raise SystemExit(f"bench: {contender.__name__} downloaded other bytes")
                local.unlink()
                samples.append(dict(wall=wall, rss=rss, client=client, routes=routes, cpu=cpu))
            down[contender.__name__] = summarize(samples)
        # The link model itself, measured with curl: one connection, then 16 at once.
        check = p["link_check_mib"] * MIB
        one = curl_ranges(emu, remote, [(0, check)])
        many = curl_ranges(emu, remote, [(i * size // 16, size // 16) for i in range(16)])
    finally:
        emu.stop(keep_root=False)
    ours, theirs = down["get"], down["sdk_down_8"]
    say(row("down: dropbox-post get", ours, size, {"SDK parallel 8": theirs})[:-2]
        + tail(ours, down_floor))
    say(row("down: SDK Downloader, parallel_downloads=8", theirs, size)[:-2]
        + tail(theirs, down_floor))
    say(f"| down: the model's floor | {down_floor:.2f} | | | | | | |")
    target("W8 down: within 1.3× of the model's floor", f"{ours['wall'] / down_floor:.2f}×",
           ours["wall"] <= 1.3 * down_floor)
    target("W8 down: ≥ 1.3× faster than SDK parallel_downloads=8",
           f"{theirs['wall'] / ours['wall']:.2f}×", theirs["wall"] >= 1.3 * ours["wall"])
    say()
    conn_got = check / max(one - latency, 1e-9)
    link_got = size / max(many - latency, 1e-9)
    say(f"The link model measured with curl (ranged `files/download`, the request's latency "
        f"taken off): one connection {conn_got / MIB:.1f} MiB/s (`--conn-rate {m['conn']}`), "
        f"16 connections together {link_got / MIB:.1f} MiB/s (`--link-rate {m['link']}`).")
    target(f"W8 link model: one connection within ±15 % of {m['conn']}",
           f"{conn_got / MIB:.1f} MiB/s", abs(conn_got / conn - 1) <= 0.15)
    target(f"W8 link model: 16 connections within ±15 % of {m['link']}",
           f"{link_got / MIB:.1f} MiB/s", abs(link_got / link - 1) <= 0.15)
    f.unlink()
    transport(ctx, flags, say)


def transport(ctx, flags, say):
    """Why dropbox-post speaks HTTP/1.1: eight ranges of one file at once over TLS, as
    HTTP/1.1 (a connection each) and as HTTP/2 (curl multiplexes them onto one)."""
    size, parts = 64 * MIB, 8
    f = make_file(ctx["work"] / "transport.bin", size)
    ca = ctx["work"] / "transport-ca.pem"
    emu = Emulator(ctx["bin"], ctx["work"], flags + ["--tls", "--ca-cert-out", str(ca)])
    try:
        api = ["-X", "POST", "-H", f"Authorization: Bearer {TOKEN}", "--cacert", str(ca)]
        subprocess.run(["curl", "-sS", "-f", "-o", "/dev/null", *api, "-H",
                        'Dropbox-API-Arg: {"path":"/transport.bin"}', "-H",
                        "Content-Type: application/octet-stream", "--data-binary", f"@{f}",
                        f"{emu.base}/2/files/upload"], check=True)
        walls = {}
        for proto in ("--http1.1", "--http2"):
            args = []
            for i in range(parts):
                begin, end = i * size // parts, (i + 1) * size // parts - 1
                args += [proto, "-sS", "-f", "-o", "/dev/null", *api, "-H",
                         'Dropbox-API-Arg: {"path":"/transport.bin"}', "-H",
                         f"Range: bytes={begin}-{end}", f"{emu.base}/2/files/download"]
                args += ["--next"] if i < parts - 1 else []
            start = time.perf_counter()
            subprocess.run(["curl", "-s", "--parallel", "--parallel-max", str(parts), *args],
                           check=True)
            walls[proto] = time.perf_counter() - start
    finally:
        emu.stop(keep_root=False)
        f.unlink()
    h1, h2 = walls["--http1.1"], walls["--http2"]
    say()
    say(f"Transport, through `emulate --tls` and the same model: {parts} ranges of a "
        f"{size // MIB} MiB file at once take {h1:.2f} s over HTTP/1.1 (a connection each) and "
        f"{h2:.2f} s over HTTP/2 (curl multiplexes them onto one connection, one congestion "
        f"window, which the per-connection rate caps): {h2 / h1:.1f}×. So dropbox-post speaks "
        "HTTP/1.1, with a connection per request in flight.")


def curl_ranges(emu, remote, spans):
    """Wall seconds for curl to download `spans` ((start, length)) of `remote`, each over a
    connection of its own, all at once."""
    arg = json.dumps({"path": remote})
    procs = []
    start = time.perf_counter()
    for begin, length in spans:
        procs.append(subprocess.Popen(
            ["curl", "-sS", "-f", "-o", "/dev/null", "-X", "POST", f"{emu.base}/2/files/download",
             "-H", f"Authorization: Bearer {TOKEN}", "-H", f"Dropbox-API-Arg: {arg}",
             "-H", f"Range: bytes={begin}-{begin + length - 1}"]))
    if any(proc.wait() != 0 for proc in procs):
        raise SystemExit("bench: curl could not download a range")
    return time.perf_counter() - start


def w1(ctx, p, say, target):
    say("## W1: one large file")
    say()
    say(HEADER)
    rss = {}
    for mib in p["w1_mib"]:
        f = make_file(ctx["work"] / f"w1-{mib}MiB.bin", mib * MIB)
        if f.stat().st_size > MAX_REQUEST:
            ctx["pieces"][f] = split(f, ctx["work"])
        res = measure(ctx, dropbox_post, f, at(0))
        res |= measure(ctx, curl, f, at(0))
        if mib * MIB <= MAX_REQUEST:
            res |= measure(ctx, sdk, f, at(0))
        ceiling = "curl" if mib * MIB <= MAX_REQUEST else "curl, 128 MiB session pieces"
        for name, r in res.items():
            label = {"dropbox_post": "dropbox-post", "curl": ceiling, "sdk": "SDK files_upload"}[name]
            ref = {k: v for k, v in [("SDK", res.get("sdk")), ("curl", res["curl"])]
                   if name == "dropbox_post"}
            say(row(f"{mib} MiB: {label}", r, f.stat().st_size, ref))
        share = res["curl"]["wall"] / res["dropbox_post"]["wall"]
        target(f"W1 {mib} MiB: ≥ 0.8 × the curl ceiling's throughput", f"{share:.2f} ×",
               share >= 0.8)
        rss[mib] = res["dropbox_post"]["rss"] / 1024
        for piece in ctx["pieces"].pop(f, []):
            piece.unlink()
        f.unlink()
    flat = ", ".join(f"{r:.0f} MiB at {m} MiB" for m, r in rss.items())
    target("W1: peak RSS < 64 MiB, flat across sizes", flat,
           max(rss.values()) < 64 and max(rss.values()) - min(rss.values()) < 8)


def w2(ctx, p, say, target):
    say(f"## W2: {p['w2_files']} files of {p['w2_size'] // 1024} KiB in nested folders; "
        "W3: the same again, nothing changed")
    say()
    say(HEADER)
    tree = make_tree(ctx["work"] / "w2", [p["w2_size"]] * p["w2_files"], random.Random(2))
    # A study's results exist before they are posted. Hashes of files changed in the last 2 s
    # are never remembered (usage.md), which would make every W3 re-run read them all again.
    time.sleep(2.5)
    nbytes = p["w2_files"] * p["w2_size"]
    for latency in p["latencies"]:
        res = measure(ctx, dropbox_post, tree, at(latency),
                      reruns=[dropbox_post, dropbox_post_rehash])
        res |= measure(ctx, sdk, tree, at(latency))
        res |= measure(ctx, curl, tree, at(latency))
        ours, rerun = res["dropbox_post"], res["dropbox_post re-run"]
        say(row(f"{latency} ms: dropbox-post", ours, nbytes,
                {"SDK": res["sdk"], "curl": res["curl"]}))
        say(row(f"{latency} ms: SDK files_upload", res["sdk"], nbytes))
        say(row(f"{latency} ms: curl, 8 parallel", res["curl"], nbytes))
        say(row(f"{latency} ms: W3 dropbox-post re-run", rerun, 0, {"first run": ours}))
        say(row(f"{latency} ms: W3 re-run, --no-hash-cache", res["dropbox_post_rehash re-run"],
                0, {"first run": ours}))
        n = p["w2_files"]
        speedup = res["sdk"]["wall"] / ours["wall"]
        want = 15 if latency >= 30 else 3
        target(f"W2 {latency} ms: ≥ {want}× the SDK", f"{speedup:.1f}×", speedup >= want)
        sent = sum(ours["routes"].values())
        commits = ours["routes"]["files/upload_session/finish_batch_v2"]
        batches = -(-n // 1000)
        target(f"W2 {latency} ms: ≤ 4 requests per 1,000 files (sessions, data, commit)",
               f"{sent} requests for {n} files, {commits} commits",
               sent <= 4 * batches + 2 and commits == batches)
        per_k = sum(rerun["routes"].values()) * 1000 / n
        target(f"W3 {latency} ms: ≤ 3 requests per 1,000 files", f"{per_k:.1f}", per_k <= 3)
        share = rerun["wall"] / ours["wall"]
        target(f"W3 {latency} ms: < 10 % of W2's first run", f"{share:.0%}", share < 0.10)


def w4(ctx, p, say, target):
    rng = random.Random(4)
    # Log-uniform sizes: mostly small files and a few big ones, like a study's output.
    lo, hi = 1024, p["w4_max"]
    sizes = [lo, hi] + [int(lo * (hi / lo) ** rng.random()) for _ in range(p["w4_files"] - 2)]
    tree = make_tree(ctx["work"] / "w4", sizes, rng)
    say(f"## W4: a mixed study tree, {len(sizes)} files from 1 KiB to {hi // MIB} MiB, "
        f"{sum(sizes) / MIB:.0f} MiB in all")
    say()
    say(HEADER)
    res = measure(ctx, dropbox_post, tree, at(0))
    res |= measure(ctx, sdk, tree, at(0))
    res |= measure(ctx, curl, tree, at(0))
    say(row("dropbox-post", res["dropbox_post"], sum(sizes),
            {"SDK": res["sdk"], "curl": res["curl"]}))
    say(row("SDK files_upload", res["sdk"], sum(sizes)))
    say(row("curl, 8 parallel", res["curl"], sum(sizes)))
    speedup = res["sdk"]["wall"] / res["dropbox_post"]["wall"]
    target("W4: ≥ 5× the SDK", f"{speedup:.1f}×", speedup >= 5)


def w5(ctx, p, say, target):
    size = p["w5_mib"] * MIB
    f = make_file(ctx["work"] / f"w5-{p['w5_mib']}MiB.bin", size)
    say(f"## W5: resume, one {p['w5_mib']} MiB file killed with SIGKILL at ~60 %")
    say()
    say("`post` of the file (default settings) is killed with SIGKILL as soon as the emulator "
        "has acknowledged 60 % of it, then run again with the same cache folder. The "
        f"interrupted run is paced (`--bwlimit {p['w5_pace']}`) so that the kill lands near "
        "60 %; the re-run is not. Bytes are counted by the emulator (the request bodies its "
        "`-v` log records), the re-run's including its probe of the session. With a restart, "
        "the emulator is stopped and started again on its root between the two runs. The file "
        "on the emulator's disk is then compared byte for byte with the local one. One run "
        "per case; the re-run's wall time includes reading the part already sent again to "
        "hash it.")
    say()
    say("| case | acknowledged at the kill | re-run sent | share of the file | re-run wall s "
        "| landed byte for byte |")
    say("|---|---|---|---|---|---|")
    for restart in (False, True):
        emu = Emulator(ctx["bin"], ctx["work"], at(0))
        cache = f"w5-cache-{restart}"
        try:
            mark = emu.mark()
            cmd = post_cmd(ctx, emu, f, "/bench")
            proc = subprocess.Popen(cmd + ["--bwlimit", p["w5_pace"]], env=post_env(ctx, cache),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while proc.poll() is None and emu.received(mark, acknowledged=True) < 0.6 * size:
                time.sleep(0.005)
            if proc.poll() is not None:
                raise SystemExit("bench: W5's interrupted post ended before it was killed")
            proc.kill()
            proc.wait()
            time.sleep(0.1)
            acked = emu.received(mark, acknowledged=True)
            if restart:
                emu.restart()
            mark = emu.mark()
            wall, _, _ = timed(post_cmd(ctx, emu, f, "/bench"), post_env(ctx, cache))
            sent = emu.received(mark)
            same = same_tree(f, emu.files("/bench"))
        finally:
            emu.stop(keep_root=False)
        label = "emulator restarted" if restart else "same emulator"
        say(f"| {label} | {acked / MIB:.0f} MiB ({acked / size:.0%}) | {sent / MIB:.0f} MiB "
            f"| {sent / size:.0%} | {wall:.2f} | {'yes' if same else '**no**'} |")
        target(f"W5 {label}: the re-run sends ≤ 45 % of the file, which lands intact",
               f"{sent / size:.0%} after a kill at {acked / size:.0%}", sent <= 0.45 * size and same)
    f.unlink()


def w6(ctx, p, say, target):
    size, rate = p["w6_mib"] * MIB, p["w6_rate"]
    asked = float(rate.rstrip("M"))  # MiB/s
    say(f"## W6: `--bwlimit {rate}`, {p['w6_mib']} MiB")
    say()
    say("The rate is the bytes posted over the wall time of the whole `post` (start to exit, "
        "listing and commit included), as one file and as 16 files sent 16 at a time, all "
        "drawing from the one limit.")
    say()
    say("| upload | wall s | achieved MiB/s | of the limit |")
    say("|---|---|---|---|")
    one = make_file(ctx["work"] / "w6.bin", size)
    tree = make_tree(ctx["work"] / "w6", [size // 16] * 16, random.Random(6))
    def limited(ctx, emu, local, dest):
        return dropbox_post(ctx, emu, local, dest, "--bwlimit", rate)

    for label, local in (("one file", one), ("16 files", tree)):
        wall = measure(ctx, limited, local, at(0))["limited"]["wall"]
        achieved = size / MIB / wall
        say(f"| {label} | {wall:.2f} | {achieved:.2f} | {achieved / asked:.0%} |")
        target(f"W6 {label}: within ±15 % of --bwlimit {rate}", f"{achieved:.2f} MiB/s "
               f"({achieved / asked - 1:+.1%})", abs(achieved / asked - 1) <= 0.15)
    one.unlink()
    shutil.rmtree(tree)


def merge(existing, sections, targets, stamp):
    """`existing` with the sections and target rows of the workloads just run replaced (or
    added before the profile), each section stamped with this run."""
    lines = existing.split("\n")
    for name, text in sections.items():
        head = f"## {name.upper()}"
        body = text.split("\n")
        body = body[:1] + ["", stamp] + body[1:]
        start = next((i for i, l in enumerate(lines) if l.startswith(head)), None)
        if start is None:
            at = next(i for i, l in enumerate(lines) if l.startswith("## Profile"))
            lines[at:at] = body + [""]
            continue
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        lines[start:end] = body + [""]
    prefixes = tuple(f"| {w} " for name in sections for w in TARGET_PREFIXES[name])
    rows = [i for i, l in enumerate(lines) if l.startswith(prefixes)]
    table = next(i for i, l in enumerate(lines) if l.startswith("| target |"))
    at = rows[0] if rows else next(i for i in range(table + 2, len(lines)) if not lines[i].startswith("|"))
    kept = [l for i, l in enumerate(lines) if i not in rows]
    at -= sum(1 for i in rows if i < at)
    kept[at:at] = targets
    return "\n".join(kept)


def main():
    scale = os.environ.get("SCALE", "full")
    p = SCALES[scale]
    runs = int(os.environ.get("RUNS", p["runs"]))
    out = Path(os.environ.get("OUT", HERE.parent / "docs" / "benchmarks.md"))
    work = Path(tempfile.mkdtemp(prefix="dropbox-post-bench-", dir=os.environ.get("WORK")))
    ctx = dict(bin=os.environ["BIN"], python=os.environ["PYTHON"], work=work, runs=runs, pieces={})
    try:
        # Argon2id at 8 MiB, 1 pass: the runs measure the transfer, not the key (see below).
        (work / "token").write_text(TOKEN + "\n")
        ctx["key"] = work / "bench.enc"
        subprocess.run([ctx["bin"], "encrypt", "--key", work / "token", "--encrypted", ctx["key"],
                        "--kdf-memory-kib", "8192", "--kdf-passes", "1", "--allow-weak-kdf"], check=True,
                       env={**os.environ, "DROPBOX_POST_PASSWORD": PASSWORD},
                       stdout=subprocess.DEVNULL)
        sections, targets = {}, []

        def target(what, measured, met):
            targets.append(f"| {what} | {measured} | {'met' if met else '**not met**'} |")

        only = os.environ.get("ONLY")
        workloads = (("w1", w1), ("w2", w2), ("w4", w4), ("w5", w5), ("w6", w6), ("w7", w7),
                     ("w8", w8))
        for name, workload in workloads:
            if only and name not in only.split():
                continue
            lines = sections.setdefault(name, [])
            workload(ctx, p, lambda s="", lines=lines: (lines.append(s), print(s, flush=True)),
                     target)
        sections = {name: "\n".join(lines) for name, lines in sections.items()}
        about = machine(ctx["python"], work)
        if only and out.exists():
            stamp = (f"_Run on {time.strftime('%Y-%m-%d')} (`ONLY={only}`, scale `{scale}`, "
                     f"{runs} run(s) per cell) at {about[2]}, {about[3]}; {about[0]}._")
            report = merge(out.read_text(), sections, targets, stamp)
        else:
            template = (HERE / "benchmarks.template.md").read_text()
            report = template.format(
                date=time.strftime("%Y-%m-%d"), scale=scale, runs=runs,
                machine="\n".join(f"- {m}" for m in about),
                results="\n\n".join(sections.values()), targets="\n".join(targets))
        out.write_text(report)
        print(f"bench: wrote {out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
