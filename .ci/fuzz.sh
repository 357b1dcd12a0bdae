#!/usr/bin/env bash
# Long, coverage-guided runs of the fuzz targets in fuzz/ (the parsers of outside data; the
# bounded property tests in tests/fuzz_parsers.rs run in every `cargo test`). cargo-fuzz needs
# a nightly toolchain and the cargo-fuzz command (`cargo install cargo-fuzz --locked`); without
# them this script says so and exits 0, as it is an extra, not a gate.
#
#   OSS_UPLOADER_FUZZ_SECONDS  seconds per target (default 60)
#   OSS_UPLOADER_FUZZ_TARGETS  space-separated targets (default: all of fuzz/Cargo.toml)
#
# A crash leaves its input in fuzz/artifacts/TARGET/ and fails the script; replay it with
# `cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-…`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[fuzz] %s\n' "$*" >&2; }

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  log "no nightly toolchain: skipping the fuzz runs"
  exit 0
fi
if ! cargo +nightly fuzz --help >/dev/null 2>&1; then
  log "cargo-fuzz is not installed (cargo install cargo-fuzz --locked): skipping the fuzz runs"
  exit 0
fi

seconds="${OSS_UPLOADER_FUZZ_SECONDS:-60}"
targets="${OSS_UPLOADER_FUZZ_TARGETS:-$(cargo +nightly fuzz list --fuzz-dir fuzz)}"
# Rust panics are what we look for; AddressSanitizer adds nothing to safe code but time.
cargo +nightly fuzz build --sanitizer none --fuzz-dir fuzz >/dev/null
for t in $targets; do
  log "$t for ${seconds} s"
  # Seeds from the tests' own samples would help; an empty corpus still finds its way.
  mkdir -p "fuzz/corpus/$t"
  cargo +nightly fuzz run --sanitizer none --fuzz-dir fuzz "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 2>&1 |
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)|panicked|ERROR|SUMMARY' || true
  if compgen -G "fuzz/artifacts/$t/crash-*" >/dev/null; then
    log "$t: crash found: $(ls fuzz/artifacts/"$t"/crash-* | head -1)"
    exit 1
  fi
done
log "done: no crash in $seconds s per target"
