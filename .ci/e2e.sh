#!/usr/bin/env bash
# The end-to-end tests of the real window on a fresh machine: installs the X server and the
# drag helpers' packages (apt, as root), builds the app, runs tests/e2e/drag_drop.sh and
# tests/e2e/clipboard.sh (paste and copy through the X clipboard, with xclip on the other side),
# tests/e2e/cpu_while_uploading.sh (which prints the window's CPU while uploading) and prints
# "N passed, M failed" as its last line. Exit 1 when a test failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=never
log() { printf '[e2e-ci] %s\n' "$*" >&2; }

# The X server, the drag and clipboard helpers and the window's run-time libraries
# (.ci/packages.sh).
source .ci/packages.sh
mapfile -t missing < <(missing_packages "${E2E_PACKAGES[@]}")
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    log "apt-get failed (are we root?)"
    echo "0 passed, 1 failed"
    exit 1
  fi
fi

start=$(date +%s)
# OSS_UPLOADER_BIN points at an app built elsewhere (a release build, another checkout).
if [[ -z "${OSS_UPLOADER_BIN:-}" ]]; then
  log "cargo build --bin oss-uploader"
  if ! cargo build --locked --bin oss-uploader; then
    echo "0 passed, 1 failed"
    exit 1
  fi
fi

passed=0 failed=0
# Runs one test script, counts it and says how long it took; returns its status.
run() {
  local t0
  t0=$(date +%s)
  log "running $1"
  if bash "$@"; then
    passed=$((passed + 1))
    log "passed in $(($(date +%s) - t0)) s"
  else
    failed=$((failed + 1))
    return 1
  fi
}
if ! run tests/e2e/drag_drop.sh; then
  # Tell a broken app from a broken X setup: the same drag onto a plain GTK drop target.
  if bash tests/e2e/drag_drop.sh --self-test; then
    log "the drag reaches a GTK window: the app did not take or finish the drop"
  else
    log "the drag fails even onto a GTK window: the X setup or the helpers are at fault"
  fi
fi
# Paste from another program into the setup form, copy a link out to it.
run tests/e2e/clipboard.sh || true
# The window's CPU while uploading and when idle: printed, not judged (a benchmark figure).
run tests/e2e/cpu_while_uploading.sh || true
log "done in $(($(date +%s) - start)) s"
echo "$passed passed, $failed failed"
((failed == 0))
