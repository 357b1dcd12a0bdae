#!/usr/bin/env bash
# End-to-end: a person drags a file from a file manager into the app's window, and the file
# is uploaded. Under Xvfb, a small GTK window (drag_source.py) plays the file manager: xdotool
# presses on it, moves the pointer onto the app's window and releases, which makes a real XDND
# drop carrying text/uri-list. The app runs in demo mode (its own local OSS server); the test
# passes when the app's queue file records the job as done, which the engine only writes after
# the object's CRC-64 matched the file's.
#
#   tests/e2e/drag_drop.sh              # against target/debug/oss-uploader (OSS_UPLOADER_BIN)
#   tests/e2e/drag_drop.sh --self-test  # against a GTK drop target: checks the drag machinery
#
# Needs: xvfb xdotool x11-utils python3-gi gir1.2-gtk-3.0 (see .ci/e2e.sh). Exit 0 on pass.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
mode="app"
[[ "${1:-}" == "--self-test" ]] && mode="self-test"
bin="${OSS_UPLOADER_BIN:-$root/target/debug/oss-uploader}"
display="${E2E_DISPLAY:-:99}"
timeout_s="${E2E_TIMEOUT:-90}"

log() { printf '[e2e] %s\n' "$*" >&2; }
# What the screen showed when it went wrong (kept with E2E_KEEP=1).
screenshot() {
  [[ -n "${work:-}" && -n "${py:-}" ]] || return 0
  "$py" -c 'import sys; from PIL import ImageGrab; ImageGrab.grab(xdisplay=sys.argv[1]).save(sys.argv[2])' \
    "$display" "$work/screen.png" 2>/dev/null && log "screenshot: $work/screen.png"
}
fail() { log "FAIL: $*"; screenshot; exit 1; }

# GTK's Python bindings come from Debian's python3, whatever python3 is first on PATH.
py=""
for candidate in /usr/bin/python3 python3; do
  if "$candidate" -c 'import gi' 2>/dev/null; then py="$candidate"; break; fi
done
[[ -n "$py" ]] || fail "python3-gi is not installed"
for tool in Xvfb xdotool xdpyinfo; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
[[ "$mode" == "self-test" || -x "$bin" ]] || fail "no app binary at $bin (cargo build first)"

work="$(mktemp -d)"
source "$here/x_session.sh"
trap end_session EXIT

start_xvfb "$display" 1920x1080x24

# A file with a name that needs care: Chinese, a space, a '#'.
file="$work/files/年度报告 #1.bin"
mkdir -p "$work/files"
head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$file"

# Reads "ready X Y W H" from a helper's output file.
wait_ready() {
  local out="$1" line=""
  for _ in $(seq 100); do
    line="$(grep -m1 '^ready ' "$out" 2>/dev/null || true)"
    [[ -n "$line" ]] && break
    sleep 0.1
  done
  [[ -n "$line" ]] || fail "helper did not start: $(cat "$out")"
  echo "${line#ready }"
}

# The window the file is dropped on: the app's, or the stand-in's.
data="$work/data"
if [[ "$mode" == "app" ]]; then
  mkdir -p "$data"
  OSS_UPLOADER_DATA_DIR="$data" "$bin" --demo >"$work/app.log" 2>&1 &
  app_pid=$!
  pids+=("$app_pid")
  wid=""
  for _ in $(seq 300); do
    kill -0 "$app_pid" 2>/dev/null || fail "the app exited: $(cat "$work/app.log")"
    # winit sets _NET_WM_PID; the title is the fallback.
    wid="$(xdotool search --onlyvisible --pid "$app_pid" 2>/dev/null | head -n1 || true)"
    [[ -n "$wid" ]] || wid="$(xdotool search --onlyvisible --name 'OSS|oss-uploader' 2>/dev/null | head -n1 || true)"
    [[ -n "$wid" ]] && break
    sleep 0.1
  done
  [[ -n "$wid" ]] || fail "the app's window did not appear in 30 s"
  eval "$(xdotool getwindowgeometry --shell "$wid")"
  tx=$X ty=$Y tw=$WIDTH th=$HEIGHT
  # A drop needs the window to say it takes drops (winit sets XdndAware when it is ready).
  for _ in $(seq 300); do
    xprop -id "$wid" XdndAware 2>/dev/null | grep -q '= ' && break
    sleep 0.1
  done
  xprop -id "$wid" XdndAware 2>/dev/null | grep -q '= ' || fail "the app's window does not take drops (no XdndAware)"
else
  "$py" "$here/drop_target.py" "$work/dropped.txt" 400 200 >"$work/target.out" 2>&1 &
  pids+=($!)
  read -r tx ty tw th <<<"$(wait_ready "$work/target.out")"
fi
log "drop target at ${tx},${ty} ${tw}x${th}"

# The drag source beside the target, or below it when the target fills the width.
sx=$((tx + tw + 40)) sy=$((ty + 40))
if ((sx + 160 > 1920)); then sx=40 sy=$((ty + th + 40)); fi
((sy + 120 <= 1080)) || fail "no room for the drag source on the screen"
"$py" "$here/drag_source.py" "$file" "$sx" "$sy" >"$work/source.out" 2>&1 &
pids+=($!)
read -r sx sy sw sh <<<"$(wait_ready "$work/source.out")"
log "drag source at ${sx},${sy}"

# Press on the source, move in small steps (GTK starts a drag after a few pixels of motion,
# XDND needs motion over the target to negotiate), linger, release.
from_x=$((sx + sw / 2)) from_y=$((sy + sh / 2))
to_x=$((tx + tw / 2)) to_y=$((ty + th / 2))
drag() {
  xdotool mousemove "$from_x" "$from_y"
  sleep 0.3
  xdotool mousedown 1
  sleep 0.2
  for i in $(seq 1 25); do
    xdotool mousemove $((from_x + (to_x - from_x) * i / 25)) $((from_y + (to_y - from_y) * i / 25))
    sleep 0.04
  done
  for d in 3 -3 3; do xdotool mousemove_relative -- "$d" 0; sleep 0.15; done
  xdotool mouseup 1
}
# The drop counts once the target asked for the data. A window that is still busy drawing its
# first frames may miss the negotiation: then the drag ends without it and is done again.
sent() { grep -c '^data-sent ' "$work/source.out" 2>/dev/null || true; }
start=$(date +%s)
for attempt in 1 2 3; do
  before=$(sent)
  drag
  for _ in $(seq 50); do
    (($(sent) > before)) && break
    sleep 0.1
  done
  (($(sent) > before)) && break
  log "drag $attempt: the target did not ask for the data; dragging again"
done
log "dropped; source says: $(tr '\n' ' ' <"$work/source.out")"

# The check.
deadline=$((SECONDS + timeout_s))
if [[ "$mode" == "app" ]]; then
  queue="$data/demo/queue.json"
  state=""
  job_state() {
    "$py" - "$queue" "$file" <<'PY' 2>/dev/null || true
import json, sys
queue, path = sys.argv[1], sys.argv[2]
with open(queue, encoding="utf-8") as f:
    jobs = json.load(f).get("jobs", [])
states = [j.get("state") for j in jobs if j.get("spec", {}).get("path") == path]
print(states[-1] if states else "absent")
PY
  }
  # One dropped file starts at once (older versions asked for its name first, confirmed with
  # Enter): Enter is pressed until the job is in the queue file (which the engine writes within
  # about a second of a change), which does nothing in a version that does not ask.
  xdotool windowactivate --sync "$wid" 2>/dev/null || xdotool windowfocus --sync "$wid" 2>/dev/null || true
  while ((SECONDS < deadline)); do
    kill -0 "$app_pid" 2>/dev/null || fail "the app exited: $(cat "$work/app.log")"
    xdotool key --window "$wid" ${E2E_CONFIRM_KEYS:-Return}
    for _ in $(seq 30); do
      state="$(job_state)"
      [[ -n "$state" && "$state" != "absent" ]] && break
      sleep 0.1
    done
    [[ -n "$state" && "$state" != "absent" ]] && break
  done
  [[ -n "${E2E_SHOT_AFTER_CONFIRM:-}" ]] && screenshot
  while ((SECONDS < deadline)); do
    kill -0 "$app_pid" 2>/dev/null || fail "the app exited: $(cat "$work/app.log")"
    state="$(job_state)"
    [[ "$state" == "done" ]] && break
    [[ "$state" == "failed" ]] && fail "the upload failed: $(cat "$queue")"
    sleep 0.5
  done
  [[ "$state" == "done" ]] || fail "the job is '${state:-no queue file}' after ${timeout_s} s; source: $(cat "$work/source.out"); app: $(tail -n 20 "$work/app.log")"
  log "uploaded and verified in $(($(date +%s) - start)) s (queue: $queue)"
else
  while ((SECONDS < deadline)); do
    [[ -s "$work/dropped.txt" ]] && break
    sleep 0.2
  done
  got="$(head -n1 "$work/dropped.txt" 2>/dev/null || true)"
  [[ "$got" == "$file" ]] || fail "the drop target got '${got}', wanted '$file'"
  log "the drop target received $got"
fi
