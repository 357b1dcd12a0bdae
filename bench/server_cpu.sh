#!/bin/sh
# Server CPU per GiB received by the local OSS server (MD5 + CRC-64 + write), measured on the
# server process from /proc. Usage: bench/server_cpu.sh [--gib N] [--part-mib M] [--parallel P]
set -eu
cd "$(dirname "$0")/.."
cargo build --release --bin oss-uploader --example server_cpu
exec target/release/examples/server_cpu --server target/release/oss-uploader "$@"
