#!/usr/bin/env bash
# The benchmark harness in one command: builds dropbox-post (release) and the SDK venv, then
# runs bench/bench.py, which writes docs/benchmarks.md with the machine it ran on.
#
#   bash bench/run.sh                       # the full workloads, ~25 min, ~4 GiB of disk
#   RUNS=5 bash bench/run.sh                # more runs per median
#   SCALE=tiny OUT=target/bench.md bash bench/run.sh   # seconds: checks the harness works
#   WORK=/dev/shm bash bench/run.sh         # trees and roots in RAM: a VM's throttled disk
#                                           # then cannot set the numbers (needs ~4 GiB)
#
# PROFILE=debug uses target/debug instead of building a release binary (CI's tiny run).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
for tool in curl /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found; install it (e.g. apt-get install curl time python3)" >&2; exit 1; }
done
if [ "$profile" = release ]; then cargo build --release --locked --quiet; else cargo build --locked --quiet; fi
sh tests/conformance/venv.sh
BIN=$PWD/target/$profile/dropbox-post PYTHON=$PWD/target/sdk-venv/bin/python \
  exec python3 bench/bench.py
