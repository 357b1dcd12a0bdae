#!/usr/bin/env bash
# Throughput and cost of one large upload: oss-uploader against the official uploaders
# (oss2.resumable_upload and the alibabacloud-oss-v2 uploader), each in turn against the same
# local `oss-uploader serve` (release build) on loopback, same part size and threads.
# Prints wall time, speed, client CPU seconds per GiB and peak RSS side by side.
#
# Not a test: numbers depend on the machine. The server shares the CPU with the client, the
# same for every tool.
#
# Environment (all optional):
#   BENCH_SIZE_MIB   file size in MiB (default 1024)
#   BENCH_PART       part size (default 8MiB; the SDKs get the same in bytes)
#   BENCH_THREADS    parts in flight (default 3)
#   BENCH_RUNS       runs per tool; the table shows the median wall time's run (default 1)
#   BENCH_TOOLS      which to run (default "oss-uploader oss2 v2")
#   BENCH_AUTO       1: oss-uploader with its defaults (automatic part size and requests in
#                    flight) instead of BENCH_PART and BENCH_THREADS; the SDKs keep those
#   OSS_UPLOADER_BIN a prebuilt binary (default: cargo build --release --locked)
#   SDK_VENV         the SDK venv, shared with .ci/sdk_compat.sh (default target/sdk-venv)
#   PYTHON           interpreter for that venv (default python3)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
size_mib="${BENCH_SIZE_MIB:-1024}"
part="${BENCH_PART:-8MiB}"
threads="${BENCH_THREADS:-3}"
runs="${BENCH_RUNS:-1}"
tools="${BENCH_TOOLS:-oss-uploader oss2 v2}"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
venv="${SDK_VENV:-$target_dir/sdk-venv}"
python="${PYTHON:-python3}"

log() { printf '[bench] %s\n' "$*" >&2; }

# GNU time gives peak RSS and CPU of exactly the process it runs.
if [[ ! -x /usr/bin/time ]]; then
  log "installing GNU time"
  apt-get update -qq && apt-get install -y -qq time >/dev/null
fi

# The SDK venv: .ci/sdk_compat.sh makes it (or finds it made), so that both reuse one.
SDK_VENV="$venv" PYTHON="$python" SDK_VENV_ONLY=1 bash "$repo/.ci/sdk_compat.sh"

auto="${BENCH_AUTO:-0}"
bin="${OSS_UPLOADER_BIN:-}"
if [[ -z "$bin" ]]; then
  log "cargo build --release --locked --bin oss-uploader"
  cargo build --release --locked --bin oss-uploader >&2
  bin="$target_dir/release/oss-uploader"
fi
ours=(--part-size "$part" --threads "$threads")
[[ "$auto" == 1 ]] && ours=()

work="$(mktemp -d "${TMPDIR:-/tmp}/oss-bench.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

part_bytes="$("$venv/bin/python" - "$part" <<'PY'
import re, sys
m = re.fullmatch(r"(\d+)\s*(|B|KiB|MiB|GiB|KB|MB|GB)", sys.argv[1].strip(), re.I)
if not m:
    sys.exit(f"BENCH_PART={sys.argv[1]}: use e.g. 8MiB")
unit = m.group(2).lower()
mult = {"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
        "kb": 10**3, "mb": 10**6, "gb": 10**9}[unit]
print(int(m.group(1)) * mult)
PY
)"

# The file: random-ish data (a random MiB repeated, each copy stamped with its index), made fast.
file="$work/bench.bin"
log "writing a ${size_mib} MiB test file"
"$venv/bin/python" - "$file" "$size_mib" <<'PY'
import os, struct, sys
path, mib = sys.argv[1], int(sys.argv[2])
block = bytearray(os.urandom(1 << 20))
with open(path, "wb") as f:
    for i in range(mib):
        block[:8] = struct.pack("<Q", i)
        f.write(block)
PY

export OSS_ACCESS_KEY_ID=bench-ak OSS_ACCESS_KEY_SECRET=bench-secret
"$bin" serve --root "$work/server" --access-key-id "$OSS_ACCESS_KEY_ID" \
  --access-key-secret "$OSS_ACCESS_KEY_SECRET" --bucket bench >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do
  [[ -s "$work/serve.out" ]] && break
  sleep 0.1
done
endpoint="$(head -1 "$work/serve.out" | sed -n 's/^listening on //p')"
if [[ -z "$endpoint" ]]; then
  log "the server did not start:"; cat "$work/serve.err" >&2; exit 1
fi
log "server at $endpoint; ${size_mib} MiB, part $part ($part_bytes bytes), $threads threads, $runs run(s) per tool"

# One timed run: prints "wall user sys maxrss_kib".
timed() {
  local out="$1"; shift
  /usr/bin/time -f '%e %U %S %M' -o "$out.time" "$@" >"$out.log" 2>&1 || {
    log "FAILED: $*"; cat "$out.log" >&2; exit 1
  }
  cat "$out.time" | tail -1
}

results="$work/results"
: >"$results"
for tool in $tools; do
  for run in $(seq "$runs"); do
    key="$tool-$run.bin"
    case "$tool" in
      oss-uploader)
        line="$(timed "$work/$key" "$bin" upload "$file" --bucket bench --key "$key" \
          --endpoint "$endpoint" --region cn-hangzhou "${ours[@]}" \
          --data-dir "$work/data-$run")" ;;
      oss2|v2)
        line="$(timed "$work/$key" "$venv/bin/python" "$repo/bench/sdk_upload.py" "$tool" \
          "$endpoint" bench "$key" "$file" "$part_bytes" "$threads" "$work/cp-$tool-$run")" ;;
      *) log "unknown tool $tool"; exit 1 ;;
    esac
    log "$tool run $run: $line (wall s, user s, sys s, max RSS KiB)"
    echo "$tool $line" >>"$results"
    # Keep the disk use flat: the server's copy is not needed any more.
    rm -f "$work/server/bench/$key" 2>/dev/null || true
  done
done

"$venv/bin/python" - "$results" "$size_mib" "$part" "$threads" "$runs" "$auto" <<'PY'
import sys
from collections import defaultdict
path, mib, part, threads, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
rows = defaultdict(list)
for line in open(path):
    tool, wall, user, sys_, rss = line.split()
    rows[tool].append((float(wall), float(user), float(sys_), int(rss)))
gib = mib / 1024
print(f"\nUpload of {mib} MiB to a local `oss-uploader serve`, part {part}, {threads} threads"
      f"{' (oss-uploader: its defaults)' if sys.argv[6] == '1' else ''}, median of {runs} run(s)\n")
print(f"| {'client':<14} | {'wall s':>7} | {'MiB/s':>7} | {'CPU s (user+sys)':>16} | {'CPU s / GiB':>11} | {'peak RSS MiB':>12} |")
print(f"|{'-'*16}|{'-'*9}|{'-'*9}|{'-'*18}|{'-'*13}|{'-'*14}|")
for tool, rs in rows.items():
    rs.sort()
    wall, user, sys_, rss = rs[len(rs) // 2]
    cpu = user + sys_
    print(f"| {tool:<14} | {wall:>7.2f} | {mib / wall:>7.1f} | {cpu:>16.2f} | {cpu / gib:>11.2f} | {rss / 1024:>12.1f} |")
PY
