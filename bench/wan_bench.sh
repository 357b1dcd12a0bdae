#!/usr/bin/env bash
# Uploads over a long, per-flow-limited link, reproduced by `oss-uploader serve`'s shaping
# (default: 40 ms each way, 24 Mbit/s per connection, 300 Mbit/s for all together): one big file
# and a folder of small ones, oss-uploader with its defaults (automatic concurrency and part
# size) and hand-tuned, against the official Python SDKs (oss2 and alibabacloud-oss-v2) with
# their defaults and tuned, in interleaved rounds. Then a folder of tiny files over plain
# loopback (files per second, client CPU per file), and a slow link (a 200 KiB/s cap) with our
# defaults, counting the connections opened. Prints medians with the link limit beside them.
#
# Not a test: numbers depend on the machine (the server shares its CPU with the client). Run on
# demand:
#   bash bench/wan_bench.sh
# Environment (all optional):
#   WAN_LATENCY, WAN_CONN_RATE, WAN_LINK_RATE  the shaping (40ms, 24Mbit, 300Mbit)
#   WAN_BIG_MIB      size of the big file in MiB (256)
#   WAN_SMALL        number of small files (2000), WAN_SMALL_KIB their size in KiB (16)
#   WAN_ROUNDS       interleaved rounds (3)
#   WAN_WORKLOADS    which shaped workloads to run ("big small")
#   WAN_VARIANTS     which clients ("auto tuned oss2 oss2-tuned v2 v2-tuned"): auto is ours
#                    with no settings; tuned is ours with --threads 16 (big) or --jobs 64
#                    (small: the most it allows, its fastest there); oss2 and v2 are the
#                    SDKs' uploaders with their defaults (one file after the other for a
#                    folder); -tuned gives them 8 MiB parts and 16 threads (big) or 32 files
#                    at once (small)
#   LOOP_SMALL       tiny files over loopback (10000; 0 skips), LOOP_KIB their size (4),
#                    LOOP_VARIANTS ("auto tuned"), LOOP_ROUNDS (WAN_ROUNDS)
#   SLOW_RATE        the slow link's cap (1600kbit, about 200 KiB/s; empty skips), with
#                    SLOW_FILES files (300) of SLOW_KIB KiB (32) and one SLOW_BIG_MIB MiB file
#                    (24), our defaults only
#   OSS_UPLOADER_BIN a prebuilt binary (default: cargo build --release --locked)
#   SDK_VENV, PYTHON as for bench/upload_bench.sh (the venv is shared)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
latency="${WAN_LATENCY:-40ms}"
conn_rate="${WAN_CONN_RATE:-24Mbit}"
link_rate="${WAN_LINK_RATE:-300Mbit}"
big_mib="${WAN_BIG_MIB:-256}"
small_n="${WAN_SMALL:-2000}"
small_kib="${WAN_SMALL_KIB:-16}"
rounds="${WAN_ROUNDS:-3}"
workloads="${WAN_WORKLOADS:-big small}"
variants="${WAN_VARIANTS:-auto tuned oss2 oss2-tuned v2 v2-tuned}"
loop_n="${LOOP_SMALL:-10000}"
loop_kib="${LOOP_KIB:-4}"
loop_variants="${LOOP_VARIANTS:-auto tuned}"
loop_rounds="${LOOP_ROUNDS:-$rounds}"
slow_rate="${SLOW_RATE-1600kbit}"
slow_n="${SLOW_FILES:-300}"
slow_kib="${SLOW_KIB:-32}"
slow_big_mib="${SLOW_BIG_MIB:-24}"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
venv="${SDK_VENV:-$target_dir/sdk-venv}"
python="${PYTHON:-python3}"

log() { printf '[wan-bench] %s\n' "$*" >&2; }

if [[ ! -x /usr/bin/time ]]; then
  log "installing GNU time"
  apt-get update -qq && apt-get install -y -qq time >/dev/null
fi
if ! command -v ss >/dev/null; then
  log "installing ss (iproute2), to count connections"
  apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null
fi

# The SDK venv: .ci/sdk_compat.sh makes it (or finds it made), shared with the other scripts.
if [[ " $variants $loop_variants " == *" oss2"* || " $variants $loop_variants " == *" v2"* ]]; then
  SDK_VENV="$venv" PYTHON="$python" SDK_VENV_ONLY=1 bash "$repo/.ci/sdk_compat.sh"
fi

bin="${OSS_UPLOADER_BIN:-}"
if [[ -z "$bin" ]]; then
  log "cargo build --release --locked --bin oss-uploader"
  cargo build --release --locked --bin oss-uploader >&2
  bin="$target_dir/release/oss-uploader"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/oss-wan.XXXXXX")"
# The servers keep what they receive in memory when there is room for all of it (each run
# stores under its own name): they stand for a far service, and on the test disk each stored
# object costs the server an inode and a rename, which on a 2-core machine takes CPU from the
# client being measured (2,000 small files: a core of the server's time went to the file system).
stored="$work"
# Each stored object also takes a page or two of metadata: 8 KiB counted for each.
shaped_runs=$((rounds * $(wc -w <<<"$variants")))
loop_runs=$((loop_rounds * $(wc -w <<<"$loop_variants")))
need_mib=$((shaped_runs * (big_mib + small_n * (small_kib + 8) / 1024) \
  + loop_runs * loop_n * (loop_kib + 8) / 1024 + slow_big_mib + slow_n * (slow_kib + 8) / 1024))
if [[ -d /dev/shm && -w /dev/shm ]] \
  && (($(df --output=avail -m /dev/shm | tail -1) > need_mib * 3 / 2)); then
  stored="$(mktemp -d /dev/shm/oss-wan.XXXXXX)"
fi
servers=()
watcher=""
cleanup() {
  if [[ -n "$watcher" ]]; then kill "$watcher" 2>/dev/null || true; fi
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work" "$stored"
}
trap cleanup EXIT

# Files: random bytes, written by one process (fast even for 10,000 files).
make_files() { # DIR COUNT KIB
  "$python" - "$@" <<'PY'
import os, sys
d, n, kib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d, exist_ok=True)
for i in range(n):
    with open(os.path.join(d, f"f{i:05d}.bin"), "wb") as f:
        f.write(os.urandom(kib << 10))
PY
}
log "writing one ${big_mib} MiB file and ${small_n} files of ${small_kib} KiB"
head -c "$((big_mib << 20))" /dev/urandom >"$work/big.bin"
make_files "$work/small" "$small_n" "$small_kib"

export OSS_ACCESS_KEY_ID=bench-ak OSS_ACCESS_KEY_SECRET=bench-secret
# Starts a server (extra flags: its shaping); sets `endpoint`.
start_server() { # NAME FLAGS...
  local name="$1"; shift
  "$bin" serve --root "$stored/server-$name" --bucket bench "$@" \
    >"$work/serve-$name.out" 2>"$work/serve-$name.err" &
  servers+=("$!")
  for _ in $(seq 100); do
    [[ -s "$work/serve-$name.out" ]] && break
    sleep 0.1
  done
  endpoint="$(head -1 "$work/serve-$name.out" | sed -n 's/^listening on //p')"
  if [[ -z "$endpoint" ]]; then
    log "the $name server did not start:"; cat "$work/serve-$name.err" >&2; exit 1
  fi
}
export OSS_SERVE_ACCESS_KEY_ID="$OSS_ACCESS_KEY_ID" OSS_SERVE_ACCESS_KEY_SECRET="$OSS_ACCESS_KEY_SECRET"

# Counts the client's connections to PORT while a run lasts, sampling every 0.1 s: prints
# "most at once, distinct" into FILE when stopped.
watch_start() { # PORT FILE
  local port="$1" file="$2"
  (
    trap 'exit 0' TERM
    while :; do
      echo "#"
      ss -tnH state established "( dport = :$port )" 2>/dev/null | awk '{print $3}'
      sleep 0.1
    done
  ) >"$file.raw" &
  watcher=$!
}
watch_stop() { # FILE
  kill "$watcher" 2>/dev/null || true
  wait "$watcher" 2>/dev/null || true
  watcher=""
  awk '/^#/ { if (n > most) most = n; n = 0; next } { n++; seen[$0] = 1 }
       END { if (n > most) most = n; d = 0; for (k in seen) d++; print most + 0, d }' "$1.raw"
}

results="$work/results"
: >"$results"
n=0
# One timed run of VARIANT on WORKLOAD (its files at WHAT) against `endpoint`; appends
# "label workload variant wall cpu rss_kib most_conns distinct_conns" to the results.
run_one() { # LABEL WORKLOAD VARIANT WHAT
  local label="$1" workload="$2" variant="$3" what="$4" cmd
  n=$((n + 1))
  local key="r$n" out="$work/run-$n"
  case "$variant" in
    auto | tuned)
      cmd=("$bin" upload "$what" --bucket bench --endpoint "$endpoint" --region cn-hangzhou
        --data-dir "$work/data-$n")
      if [[ -d "$what" ]]; then cmd+=(--prefix "$key"); else cmd+=(--key "$key.bin"); fi
      if [[ "$variant" == tuned ]]; then
        if [[ -d "$what" ]]; then cmd+=(--jobs 64 --threads 1); else cmd+=(--jobs 1 --threads 16); fi
      fi ;;
    oss2 | v2) cmd=("$venv/bin/python" "$repo/bench/sdk_upload.py" "$variant" "$endpoint" bench
        "$key" "$what" - - "$work/cp-$n") ;;
    oss2-tuned | v2-tuned)
      local threads=16
      [[ -d "$what" ]] && threads=32
      cmd=("$venv/bin/python" "$repo/bench/sdk_upload.py" "${variant%-tuned}" "$endpoint" bench
        "$key" "$what" $((8 << 20)) "$threads" "$work/cp-$n") ;;
    *) log "unknown variant $variant"; exit 1 ;;
  esac
  local port="${endpoint##*:}"
  port="${port%%/*}"
  watch_start "$port" "$out.conns"
  if ! /usr/bin/time -f '%e %U %S %M' -o "$out.time" "${cmd[@]}" >"$out.log" 2>&1; then
    watch_stop "$out.conns" >/dev/null
    log "FAILED: $label $workload $variant"; tail -5 "$out.log" >&2; exit 1
  fi
  local conns
  conns="$(watch_stop "$out.conns")"
  read -r wall user sys rss <"$out.time"
  local cpu
  cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')"
  log "$label $workload $variant: wall ${wall} s, CPU ${cpu} s, RSS ${rss} KiB, connections (most at once, distinct) ${conns}; load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "$label $workload $variant $wall $cpu $rss $conns" >>"$results"
  rm -rf "$work/data-$n" "$work/cp-$n"
}

if [[ -n "$workloads" && -n "$variants" ]]; then
  start_server wan --latency "$latency" --conn-rate "$conn_rate" --link-rate "$link_rate"
  log "shaped server at $endpoint: --latency $latency --conn-rate $conn_rate --link-rate $link_rate"
  for round in $(seq "$rounds"); do
    for workload in $workloads; do
      case "$workload" in
        big) what="$work/big.bin" ;;
        small) what="$work/small" ;;
        *) log "unknown workload $workload"; exit 1 ;;
      esac
      for variant in $variants; do
        run_one wan "$workload" "$variant" "$what"
      done
    done
  done
fi

if [[ "$loop_n" -gt 0 && -n "$loop_variants" ]]; then
  log "writing ${loop_n} files of ${loop_kib} KiB"
  make_files "$work/tiny" "$loop_n" "$loop_kib"
  start_server loop
  log "loopback server at $endpoint"
  for round in $(seq "$loop_rounds"); do
    for variant in $loop_variants; do
      run_one loop tiny "$variant" "$work/tiny"
    done
  done
fi

if [[ -n "$slow_rate" ]]; then
  make_files "$work/slow" "$slow_n" "$slow_kib"
  head -c "$((slow_big_mib << 20))" /dev/urandom >"$work/slow-big.bin"
  start_server slow --link-rate "$slow_rate"
  log "slow server at $endpoint: --link-rate $slow_rate"
  run_one slow slow-big auto "$work/slow-big.bin"
  run_one slow slow-small auto "$work/slow"
fi

"$python" - "$results" "$big_mib" "$small_n" "$small_kib" "$latency" "$conn_rate" "$link_rate" \
  "$loop_n" "$loop_kib" "$slow_rate" "$slow_n" "$slow_kib" "$slow_big_mib" <<'PY'
import re, statistics, sys
(path, big_mib, small_n, small_kib, latency, conn_rate, link_rate, loop_n, loop_kib, slow_rate,
 slow_n, slow_kib, slow_big_mib) = sys.argv[1:]

def bits(rate):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kKmMgG]?)bit", rate.strip())
    return float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2).lower()] if m else None

def secs(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s)", text.strip())
    return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1) if m else 0.0

rows = {}
for line in open(path):
    label, w, v, wall, cpu, rss, most, distinct = line.split()
    rows.setdefault((label, w, v), []).append((float(wall), float(cpu), int(rss), int(most), int(distinct)))
link, conn, rtt = bits(link_rate), bits(conn_rate), 2 * secs(latency)
names = {"auto": "oss-uploader, defaults", "tuned": "oss-uploader, tuned",
         "oss2": "oss2 resumable_upload, defaults", "oss2-tuned": "oss2 resumable_upload, tuned",
         "v2": "alibabacloud-oss-v2 uploader, defaults", "v2-tuned": "alibabacloud-oss-v2 uploader, tuned"}
count = {"big": 1, "small": int(small_n), "tiny": int(loop_n), "slow-big": 1, "slow-small": int(slow_n)}
size = {"big": int(big_mib) << 20, "small": int(small_n) * (int(small_kib) << 10),
        "tiny": int(loop_n) * (int(loop_kib) << 10), "slow-big": int(slow_big_mib) << 20,
        "slow-small": int(slow_n) * (int(slow_kib) << 10)}
what = {"big": f"one {big_mib} MiB file", "small": f"{small_n} files x {small_kib} KiB",
        "tiny": f"{loop_n} files x {loop_kib} KiB, loopback",
        "slow-big": f"one {slow_big_mib} MiB file, {slow_rate} link",
        "slow-small": f"{slow_n} files x {slow_kib} KiB, {slow_rate} link"}

def limit(w):
    if w in ("big", "small"):
        t = size[w] * 8 / link
        if w == "small" and conn:
            per = 1 / (rtt + (int(small_kib) << 13) / conn)
            return f"{t:.1f} s of payload; <= {per:.1f} files/s per connection"
        return f"{t:.1f} s"
    if w.startswith("slow"):
        return f"{size[w] * 8 / bits(slow_rate):.1f} s"
    return "-"

print(f"\nShaped: --latency {latency} --conn-rate {conn_rate} --link-rate {link_rate}; "
      "medians of the runs shown (wall, CPU and RSS each their own median)\n")
print("| workload | client | runs | median wall s | rate | client CPU s | peak RSS MiB | connections (most at once / distinct) | link limit |")
print("|---|---|---|---|---|---|---|---|---|")
for (label, w, v), rs in rows.items():
    wall = statistics.median(r[0] for r in rs)
    cpu = statistics.median(r[1] for r in rs)
    rss = statistics.median(r[2] for r in rs) / 1024
    most = statistics.median(r[3] for r in rs)
    distinct = statistics.median(r[4] for r in rs)
    if count[w] > 1:
        rate = f"{count[w] / wall:.0f} files/s"
        cpu_s = f"{cpu:.2f} ({cpu / count[w] * 1e3:.2f} ms/file)"
    else:
        rate = f"{size[w] / wall / 2**20:.1f} MiB/s"
        cpu_s = f"{cpu:.2f}"
    walls = ", ".join(f"{r[0]:.1f}" for r in rs)
    print(f"| {what[w]} | {names.get(v, v)} | {walls} | {wall:.1f} | {rate} | {cpu_s} | {rss:.1f} "
          f"| {most:.0f} / {distinct:.0f} | {limit(w)} |")
PY
