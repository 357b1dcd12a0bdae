#!/usr/bin/env bash
# How much CPU the window costs while it uploads, and once it is idle again. Under Xvfb (so
# drawing is Mesa's software renderer), the real window uploads two files to `oss-uploader
# serve` under the app's own speed limit; the window process's CPU time (all its threads:
# engine, hashing, drawing) is read from /proc before and after a stretch of the upload, and
# again over a stretch after the queue finished. Prints the figures; it asserts nothing about
# them (timing goals are benchmarks, not tests), only that the upload went through.
#
#   tests/e2e/cpu_while_uploading.sh    # against target/debug/oss-uploader (OSS_UPLOADER_BIN)
#
# CPU_LIMIT (bytes a second, default 2 MiB), CPU_SECONDS (the measured stretch, default 10; the
# idle one is 5 s).
# Needs: xvfb x11-utils (see .ci/e2e.sh). Exit 0 when the upload finished verified.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${OSS_UPLOADER_BIN:-$root/target/debug/oss-uploader}"
display="${E2E_DISPLAY:-:98}"
limit="${CPU_LIMIT:-2097152}"
seconds="${CPU_SECONDS:-10}"

log() { printf '[cpu] %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
for tool in Xvfb xdpyinfo; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
[[ -x "$bin" ]] || fail "no app binary at $bin (cargo build first)"

work="$(mktemp -d)"
source "$here/x_session.sh"
trap end_session EXIT

start_xvfb "$display" 1280x800x24

export OSS_SERVE_ACCESS_KEY_ID=cpu-key OSS_SERVE_ACCESS_KEY_SECRET=cpu-secret
"$bin" serve --root "$work/server" --bucket cpu >"$work/serve.out" 2>"$work/serve.err" &
pids+=($!)
endpoint=""
for _ in $(seq 100); do
  endpoint="$(sed -n 's/^listening on //p' "$work/serve.out")"
  [[ -n "$endpoint" ]] && break
  sleep 0.1
done
[[ -n "$endpoint" ]] || fail "serve did not start: $(cat "$work/serve.err")"

# Enough bytes to outlast the measured stretch at the limit.
size=$((limit * (seconds + 10) / 2))
mkdir -p "$work/files" "$work/data"
head -c "$size" /dev/urandom >"$work/files/one.bin"
head -c "$size" /dev/urandom >"$work/files/two.bin"
cat >"$work/data/settings.json" <<EOF
{"language":"english","region":"cn-hangzhou","custom_endpoint":"$endpoint","path_style":true,
 "access_key_id":"cpu-key","bucket":"cpu","prefix":"","bandwidth_limit":$limit}
EOF

OSS_UPLOADER_DATA_DIR="$work/data" OSS_ACCESS_KEY_ID=cpu-key OSS_ACCESS_KEY_SECRET=cpu-secret \
  "$bin" "$work/files/one.bin" "$work/files/two.bin" >"$work/app.log" 2>&1 &
app=$!
pids+=("$app")

# "sending", "done": what the queue file says of the two jobs.
py="$(command -v python3 || true)"
[[ -n "$py" ]] || fail "python3 is needed to read the queue file"
states() {
  "$py" - "$work/data/queue.json" <<'PY' 2>/dev/null || true
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    jobs = json.load(f).get("jobs", [])
print(" ".join(sorted(j.get("state", "?") for j in jobs)))
PY
}
ticks() { awk '{print $14 + $15}' "/proc/$app/stat"; }
hz="$(getconf CLK_TCK)"
measure() {
  local t0 c0 t1 c1
  t0="$(date +%s.%N)" c0="$(ticks)"
  sleep "$1"
  t1="$(date +%s.%N)" c1="$(ticks)"
  awk -v c="$((c1 - c0))" -v hz="$hz" -v t0="$t0" -v t1="$t1" \
    'BEGIN { printf "%.1f", 100 * c / hz / (t1 - t0) }'
}

# The window has opened and the engine started both jobs once the queue file says so; a few
# seconds more let the first frames and the font loading pass.
for _ in $(seq 300); do
  kill -0 "$app" 2>/dev/null || fail "the app exited: $(cat "$work/app.log")"
  [[ "$(states)" == *uploading* ]] && break
  sleep 0.1
done
[[ "$(states)" == *uploading* ]] || fail "the upload did not start: $(states); $(tail -n 20 "$work/app.log")"
sleep 3
busy="$(measure "$seconds")"
[[ "$(states)" == *uploading* ]] || log "the upload ended inside the measured stretch; the figure mixes in idle time"

for _ in $(seq 1200); do
  kill -0 "$app" 2>/dev/null || fail "the app exited: $(cat "$work/app.log")"
  [[ "$(states)" == "done done" ]] && break
  sleep 0.1
done
[[ "$(states)" == "done done" ]] || fail "the jobs are '$(states)', not done"
sleep 2
idle="$(measure 5)"
echo "window CPU while uploading at $((limit / 1024)) KiB/s: ${busy} % of one core (over ${seconds} s)"
echo "window CPU when idle: ${idle} % of one core (over 5 s)"
