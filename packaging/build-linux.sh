#!/usr/bin/env bash
# Builds what Linux users download: the `dist` profile (fat LTO, one codegen unit, stripped),
# then target/packages/oss-uploader_VERSION-1_amd64.deb (cargo-deb) and
# target/packages/oss-uploader-VERSION-1.x86_64.rpm (cargo-generate-rpm), from the
# [package.metadata.deb] and [package.metadata.generate-rpm] tables of Cargo.toml.
# Installs the two cargo subcommands (pinned, --locked, from crates.io) when missing.
# Usage: bash packaging/build-linux.sh [--deb-only]
# PACKAGE_PROFILE=dev packages the debug binary that `cargo build`/`cargo test` left instead
# (no build here, symbols stripped): what .ci/package.sh installs and checks, in seconds
# instead of the dist build's many minutes. Never for users: it is the unoptimised app.
# docs/PACKAGING.md says what goes into the packages and why.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=never

CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1
profile="${PACKAGE_PROFILE:-dist}"
target_dir="${CARGO_TARGET_DIR:-target}"
out="$target_dir/packages"
case "$profile" in
  dist) bin="$target_dir/dist/oss-uploader" ;;
  dev) bin="$target_dir/debug/oss-uploader" ;;
  *) echo "PACKAGE_PROFILE is dist or dev, not $profile" >&2; exit 2 ;;
esac

log() { printf '[package] %s\n' "$*" >&2; }

# `cargo install` of a pinned version with the crate's own Cargo.lock; skipped when that
# version is already on PATH.
need_tool() {
  local sub="$1" crate="$2" version="$3"
  if [[ "$(cargo "$sub" --version 2>/dev/null)" == "$crate $version" ]]; then
    return
  fi
  log "cargo install --locked $crate@$version"
  cargo install --locked "$crate@$version"
}

rpm=1
case "${1:-}" in
  --deb-only) rpm=0 ;;
  "") ;;
  *) echo "usage: $0 [--deb-only]" >&2; exit 2 ;;
esac

need_tool deb cargo-deb "$CARGO_DEB_VERSION"
((rpm)) && need_tool generate-rpm cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION"

# The icons, desktop entry and metainfo are committed; check the two text files first so a
# broken one is found before a long build (each validator only when installed).
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate assets/linux/oss-uploader.desktop
fi
if command -v appstreamcli >/dev/null; then
  appstreamcli validate --no-net assets/linux/io.github.oss_uploader.OssUploader.metainfo.xml
fi

if [[ "$profile" == dist ]]; then
  log "cargo build --locked --profile dist"
  t0=$(date +%s)
  cargo build --locked --profile dist --bin oss-uploader
  log "built in $(($(date +%s) - t0)) s"
elif [[ ! -x "$bin" ]]; then
  echo "$bin is missing: run cargo build --locked first" >&2
  exit 1
fi
log "binary: $(stat -c %s "$bin") bytes ($bin)"

mkdir -p "$out"
log "cargo deb (profile $profile)"
t0=$(date +%s)
# --strip: the dist binary is stripped already; the dev one carries its debug info.
# --fast for the dev package (CI's): xz at a low level, a third of the CPU for a 14 % larger
# file that nobody downloads.
fast=()
[[ "$profile" == dev ]] && fast=(--fast)
cargo deb --locked --no-build --profile "$profile" --strip --no-dbgsym "${fast[@]}" --output "$out/"
log "cargo deb took $(($(date +%s) - t0)) s"
if ((rpm)); then
  # cargo-generate-rpm packages files as they are: the dev binary would go in unstripped.
  [[ "$profile" == dist ]] || { echo "the .rpm is made from the dist profile only" >&2; exit 2; }
  log "cargo generate-rpm"
  cargo generate-rpm --profile dist --output "$out/"
fi
ls -l "$out"
