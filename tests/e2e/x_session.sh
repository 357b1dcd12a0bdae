# Sourced by the scripts in tests/e2e/: the X server they run the window on, and the processes
# they start. The script defines `log`, `fail` and `work` (its temporary folder) first; every
# process it starts in the background goes into `pids`, which `end_session` stops.
# shellcheck shell=bash
pids=()

# Stops every process in `pids`, then removes `work` (kept with E2E_KEEP=1, for a look after).
end_session() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n "${E2E_KEEP:-}" ]]; then log "kept $work"; else rm -rf "$work"; fi
}

# Starts Xvfb on display $1 with the screen $2 (e.g. 1280x800x24), exports DISPLAY and waits
# until the server answers. -nolisten tcp: nothing outside this machine can draw on it.
# -noreset: by default the server resets when its last client leaves, so the app connecting
# just after the readiness probe (xdpyinfo) disconnected could find it mid-reset and fail to
# open the window.
start_xvfb() {
  Xvfb "$1" -screen 0 "$2" -nolisten tcp -noreset >"$work/xvfb.log" 2>&1 &
  pids+=($!)
  export DISPLAY="$1"
  for _ in $(seq 100); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
  xdpyinfo >/dev/null 2>&1 || fail "Xvfb did not start on $1: $(cat "$work/xvfb.log")"
}
