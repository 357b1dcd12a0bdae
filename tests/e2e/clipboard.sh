#!/usr/bin/env bash
# End-to-end: the real window and the system clipboard under Xvfb, with another X program
# (xclip) on the other side, as a person copying from the Alibaba Cloud console would be.
#   1. Paste: xclip owns the clipboard with an AccessKey ID; a click in the setup form's
#      AccessKey ID field and Ctrl+V put it there. To see what the field holds, the clipboard is
#      then given other text, and Ctrl+A, Ctrl+C in the field copy it back: xclip must read the
#      AccessKey ID again (so the paste arrived and the window's copy reaches other programs).
#   2. Copy link: the app in demo mode uploads a file given on its command line; a click on its
#      row and Ctrl+C copy the row's link; xclip reads it, and plain HTTP (curl) fetches the
#      file's bytes from the demo's server through it.
#
#   tests/e2e/clipboard.sh     # against target/debug/oss-uploader (OSS_UPLOADER_BIN)
#
# Needs: xvfb xdotool x11-utils xclip curl (see .ci/e2e.sh). Exit 0 on pass.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${OSS_UPLOADER_BIN:-$root/target/debug/oss-uploader}"
display="${E2E_DISPLAY:-:97}"

log() { printf '[clipboard] %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
for tool in Xvfb xdotool xdpyinfo xclip curl; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
[[ -x "$bin" ]] || fail "no app binary at $bin (cargo build first)"

work="$(mktemp -d)"
source "$here/x_session.sh"
trap end_session EXIT

start_xvfb "$display" 1280x800x24

# Runs "$@" (env VAR=... the app ARGS) and sets wid to the app's window once it has drawn.
start_app() {
  local log_file="$1"
  shift
  "$@" >"$log_file" 2>&1 &
  app_pid=$!
  pids+=("$app_pid")
  wid=""
  for _ in $(seq 300); do
    kill -0 "$app_pid" 2>/dev/null || fail "the app exited: $(cat "$log_file")"
    wid="$(xdotool search --onlyvisible --pid "$app_pid" 2>/dev/null | head -n1 || true)"
    [[ -n "$wid" ]] && break
    sleep 0.1
  done
  [[ -n "$wid" ]] || fail "the app's window did not appear in 30 s"
  # The first frames (and the fonts) take a moment under software rendering.
  sleep 2
  xdotool windowactivate --sync "$wid" 2>/dev/null || xdotool windowfocus --sync "$wid" 2>/dev/null || true
}
stop_app() {
  kill "$app_pid" 2>/dev/null || true
  wait "$app_pid" 2>/dev/null || true
}
click() {
  xdotool mousemove --window "$wid" "$1" "$2"
  sleep 0.2
  xdotool click 1
  sleep 0.3
}
# What the clipboard holds, waiting a little for the owner to answer.
clipboard() { timeout 5 xclip -o -selection clipboard 2>/dev/null || true; }
# Puts text on the clipboard; xclip stays in the background as its owner until another
# program (the window) takes the clipboard.
own_clipboard() {
  printf '%s' "$1" | xclip -i -selection clipboard -loops 0 &
  pids+=($!)
  for _ in $(seq 50); do [[ "$(clipboard)" == "$1" ]] && return; sleep 0.1; done
  fail "xclip could not take the clipboard"
}

# 1. Paste into the AccessKey ID field of the first-run setup form.
key_id="LTAI5tPastedFromTheConsole"
start_app "$work/setup.log" env -u OSS_ACCESS_KEY_ID -u OSS_ACCESS_KEY_SECRET \
  -u OSS_SESSION_TOKEN LANG=en_US.UTF-8 OSS_UPLOADER_DATA_DIR="$work/setup" "$bin"
own_clipboard "$key_id"
# The AccessKey ID field: the form is laid out from the window's top left with the bundled
# fonts, the field's column starting at x=188 (see tests/snapshots/setup_en.png).
click "${CLIP_FIELD_X:-340}" "${CLIP_FIELD_Y:-185}"
xdotool key --window "$wid" ctrl+v
sleep 0.5
own_clipboard "something else"
xdotool key --window "$wid" ctrl+a
sleep 0.2
xdotool key --window "$wid" ctrl+c
got=""
for _ in $(seq 50); do
  got="$(clipboard)"
  [[ "$got" == "$key_id" ]] && break
  sleep 0.1
done
[[ "$got" == "$key_id" ]] || fail "the field copied back '$got', not the pasted '$key_id'"
log "pasted into the AccessKey ID field and copied back out: $got"
stop_app

# 2. Copy the link of an uploaded file and fetch the file through it.
file="$work/files/notes.txt"
mkdir -p "$work/files"
head -c 54321 /dev/urandom >"$file"
start_app "$work/demo.log" env OSS_UPLOADER_DATA_DIR="$work/demo" LANG=en_US.UTF-8 \
  "$bin" --demo "$file"
queue="$work/demo/demo/queue.json"
state=""
for _ in $(seq 300); do
  kill -0 "$app_pid" 2>/dev/null || fail "the app exited: $(cat "$work/demo.log")"
  state="$(grep -o '"state": *"[a-z]*"' "$queue" 2>/dev/null | head -n1 | sed 's/.*"\([a-z]*\)"$/\1/' || true)"
  [[ "$state" == "done" ]] && break
  sleep 0.1
done
[[ "$state" == "done" ]] || fail "the upload is '${state:-absent}', not done: $(tail -n 20 "$work/demo.log")"
sleep 1
own_clipboard "no link yet"
# The first row's name cell, below the toolbar, the filters and the table's header.
click "${CLIP_ROW_X:-60}" "${CLIP_ROW_Y:-134}"
xdotool key --window "$wid" ctrl+c
link=""
for _ in $(seq 50); do
  link="$(clipboard)"
  [[ "$link" == http* ]] && break
  sleep 0.1
done
[[ "$link" == http*notes.txt* ]] || fail "the clipboard holds '$link', not the file's link"
curl -sS --noproxy '*' -o "$work/fetched" "$link" || fail "curl could not fetch $link"
cmp -s "$file" "$work/fetched" || fail "the link gave other bytes than the file's ($(wc -c <"$work/fetched") bytes)"
log "Ctrl+C copied the link; curl fetched the same $(wc -c <"$file") bytes through it"
stop_app
log "passed"
