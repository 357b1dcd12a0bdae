#!/usr/bin/env bash
# The Linux package on the CI machine: builds the .deb with packaging/build-linux.sh from the
# binary `cargo test` already built (PACKAGE_PROFILE=dev: the dist profile's LTO build would
# add many minutes on two cores; the release command builds it), installs it with dpkg -i,
# checks what it installed (files, desktop entry, AppStream metainfo, icons), runs the
# installed `oss-uploader --version` and uploads two files with the installed CLI to the
# installed `oss-uploader serve`, reading each back and comparing bytes. Removes the package at
# the end, whatever happened, so the machine is left as it was.
# Ends with "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=never
log() { printf '[package-ci] %s\n' "$*" >&2; }

passed=0 failed=0
check() {
  local what="$1"
  shift
  if "$@"; then
    passed=$((passed + 1))
    log "ok: $what"
  else
    failed=$((failed + 1))
    log "FAILED: $what"
  fi
}
finish() {
  echo "$passed passed, $failed failed"
  ((failed == 0))
  exit
}

start=$(date +%s)

# The validators and what cargo-deb runs (.ci/packages.sh); apt as root.
source .ci/packages.sh
mapfile -t missing < <(missing_packages "${PACKAGE_PACKAGES[@]}")
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    log "apt-get failed (are we root?)"
    failed=1
    finish
  fi
fi

target_dir="${CARGO_TARGET_DIR:-target}"
if [[ ! -x "$target_dir/debug/oss-uploader" ]]; then
  log "cargo build --locked --bin oss-uploader"
  cargo build --locked --bin oss-uploader || { failed=1; finish; }
fi

# The .deb, from the same Cargo.toml tables and script as the release packages.
rm -f "$target_dir"/packages/oss-uploader_*.deb
t0=$(date +%s)
if ! PACKAGE_PROFILE=dev bash packaging/build-linux.sh --deb-only; then
  log "building the .deb failed"
  failed=1
  finish
fi
log "packaged in $(($(date +%s) - t0)) s"
debs=("$target_dir"/packages/oss-uploader_*_amd64.deb)
deb="${debs[0]}"
[[ -f "$deb" ]] || { log "no .deb in $target_dir/packages"; failed=1; finish; }
log "$deb: $(stat -c %s "$deb") bytes"

# dpkg -i does not fetch dependencies: install the missing ones first (the first choice of
# each alternative), so that dpkg -i itself has to succeed.
deps=()
while read -r dep; do
  [[ -n "$dep" ]] || continue
  dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q 'install ok installed' || deps+=("$dep")
done < <(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/ //g')
if ((${#deps[@]})); then
  log "installing the package's dependencies: ${deps[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${deps[@]}" >/dev/null
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  if dpkg-query -W -f='${Status}' oss-uploader 2>/dev/null | grep -q 'install ok installed'; then
    log "dpkg -r oss-uploader"
    dpkg -r oss-uploader >/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT

log "dpkg -i $deb"
if ! dpkg -i "$deb"; then
  log "dpkg -i failed"
  failed=1
  finish
fi
passed=$((passed + 1))

# What it installed.
installed="$work/files"
dpkg -L oss-uploader >"$installed"
has_files() {
  local f ok=0
  for f in /usr/bin/oss-uploader /usr/share/applications/oss-uploader.desktop \
    /usr/share/metainfo/io.github.oss_uploader.OssUploader.metainfo.xml \
    /usr/share/doc/oss-uploader/copyright /usr/share/doc/oss-uploader/LICENSE-MIT \
    /usr/share/doc/oss-uploader/LICENSE-APACHE /usr/share/doc/oss-uploader/NotoSansCJKsc-OFL.txt \
    /usr/share/doc/oss-uploader/egui-fonts/OFL.txt /usr/share/doc/oss-uploader/egui-fonts/UFL.txt; do
    grep -qx "$f" "$installed" && [[ -s "$f" ]] || { log "missing: $f"; ok=1; }
  done
  return $ok
}
check "dpkg -L lists the binary, desktop entry, metainfo and licences" has_files

# Each hicolor icon is a PNG of its own size (the IHDR width and height).
icons_ok() {
  local n f ok=0
  for n in 16 22 24 32 48 64 128 256 512; do
    f="/usr/share/icons/hicolor/${n}x${n}/apps/oss-uploader.png"
    if ! python3 - "$f" "$n" <<'PY'; then
import struct, sys
data = open(sys.argv[1], "rb").read(24)
n = int(sys.argv[2])
assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
assert struct.unpack(">II", data[16:24]) == (n, n), struct.unpack(">II", data[16:24])
PY
      log "bad icon: $f"
      ok=1
    fi
  done
  return $ok
}
check "the icon in nine hicolor sizes" icons_ok

check "desktop-file-validate" desktop-file-validate /usr/share/applications/oss-uploader.desktop
check "Exec=oss-uploader %F" grep -qx 'Exec=oss-uploader %F' /usr/share/applications/oss-uploader.desktop
check "appstreamcli validate" appstreamcli validate --no-net \
  /usr/share/metainfo/io.github.oss_uploader.OssUploader.metainfo.xml

version_ok() {
  local want got
  want="oss-uploader $(dpkg-deb -f "$deb" Version | sed 's/-[^-]*$//')"
  got="$(/usr/bin/oss-uploader --version)"
  log "installed --version: $got"
  [[ "$got" == "$want" ]]
}
check "the installed oss-uploader --version" version_ok

# A CLI upload with the installed binary to the installed server, with a key: one small file
# (one PutObject) and one in parts. Then the same server without a key (anonymous access) hands
# each object back, and the bytes must be the ones sent.
upload_ok() {
  export OSS_ACCESS_KEY_ID=ci-package-key OSS_ACCESS_KEY_SECRET=ci-package-secret
  head -c 100000 /dev/urandom >"$work/small.bin"
  head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$work/parts.bin"
  start_server --access-key-id "$OSS_ACCESS_KEY_ID" --access-key-secret "$OSS_ACCESS_KEY_SECRET" \
    --bucket pkg || return 1
  /usr/bin/oss-uploader upload "$work/small.bin" "$work/parts.bin" --bucket pkg --prefix ci \
    --endpoint "$endpoint" --region cn-hangzhou --part-size 1MiB --data-dir "$work/data" \
    >"$work/upload.out" 2>&1
  local rc=$?
  cat "$work/upload.out" >&2
  stop_server
  ((rc == 0)) || return 1
  [[ "$(grep -c '^OK ' "$work/upload.out")" == 2 ]] || return 1
  start_server || return 1
  local f ok=0
  for f in small.bin parts.bin; do
    curl -sf "$endpoint/pkg/ci/$f" -o "$work/back-$f" && cmp "$work/$f" "$work/back-$f" || {
      log "ci/$f does not read back as sent"
      ok=1
    }
  done
  stop_server
  return $ok
}
start_server() {
  /usr/bin/oss-uploader serve --root "$work/server" "$@" >"$work/serve.out" 2>"$work/serve.err" &
  server_pid=$!
  local i
  for i in $(seq 100); do
    [[ -s "$work/serve.out" ]] && break
    sleep 0.1
  done
  endpoint="$(head -1 "$work/serve.out" | sed -n 's/^listening on //p')"
  [[ -n "$endpoint" ]] || { log "the server did not start:"; cat "$work/serve.err" >&2; return 1; }
}
stop_server() {
  kill "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=""
}
check "a CLI upload with the installed binary to the installed serve" upload_ok

log "done in $(($(date +%s) - start)) s"
finish
