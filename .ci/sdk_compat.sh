#!/usr/bin/env bash
# Proves `oss-uploader serve` faithful with Alibaba's official Python SDKs (oss2 and
# alibabacloud-oss-v2): makes a venv, installs tests/sdk/requirements.txt, builds the
# binary unless OSS_UPLOADER_BIN names one, and runs tests/sdk/sdk_compat.py.
# Ends with the script's line "N passed, M failed"; exits non-zero on any failure.
#
# Environment (all optional):
#   PYTHON            interpreter to make the venv with (default: python3)
#   SDK_VENV          venv directory (default: $CARGO_TARGET_DIR or target, then /sdk-venv)
#   OSS_UPLOADER_BIN  prebuilt binary to test (default: cargo build --locked, debug profile)
#   SDK_COMPAT_TIMEOUT  overall limit in seconds for the Python run (default 900)
#   SDK_VENV_ONLY     1: make the venv and stop
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

target_dir="${CARGO_TARGET_DIR:-$repo/target}"
venv="${SDK_VENV:-$target_dir/sdk-venv}"
python="${PYTHON:-python3}"
req="$repo/tests/sdk/requirements.txt"

log() { printf '[sdk_compat] %s\n' "$*" >&2; }

# 1. The venv, remade when requirements.txt or the interpreter changes.
stamp="$venv/.requirements.sha256"
want="$( (sha256sum "$req"; "$python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  log "creating venv $venv with $("$python" --version 2>&1)"
  rm -rf "$venv"
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    # Debian's python3 needs python3-venv for ensurepip.
    log "python -m venv failed; installing python3-venv"
    rm -rf "$venv"
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    "$python" -m venv "$venv"
  fi
  ok=0
  for attempt in 1 2 3; do
    if "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
         --retries 5 --timeout 60 -r "$req"; then
      ok=1; break
    fi
    log "pip install failed (attempt $attempt of 3); retrying in $((attempt * 10)) s"
    sleep $((attempt * 10))
  done
  if [[ $ok != 1 ]]; then
    log "could not install $req"
    exit 1
  fi
  echo "$want" > "$stamp"
else
  log "reusing venv $venv"
fi

# SDK_VENV_ONLY=1: only the venv (.ci/run makes it early, in the background).
if [[ -n "${SDK_VENV_ONLY:-}" ]]; then
  exit 0
fi

# 2. The binary.
bin="${OSS_UPLOADER_BIN:-}"
if [[ -z "$bin" ]]; then
  log "cargo build --locked --bin oss-uploader"
  cargo build --locked --bin oss-uploader
  bin="$target_dir/debug/oss-uploader"
fi
if [[ ! -x "$bin" ]]; then
  log "no executable binary at $bin"
  exit 1
fi

# 3. The run, bounded in time (the script also has its own watchdog).
limit="${SDK_COMPAT_TIMEOUT:-900}"
export SDK_COMPAT_TIMEOUT="$limit"
exec timeout --kill-after=30 "$((limit + 60))" \
  "$venv/bin/python" -u "$repo/tests/sdk/sdk_compat.py" "$bin"
