#!/usr/bin/env bash
# Set up a fresh Debian machine for Vertel: system packages, the Rust toolchain's targets and tools,
# and a release build of the server. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

apt_install build-essential pkg-config python3 python3-pip curl ca-certificates
if ! command -v cargo >/dev/null; then
    say "installing the Rust toolchain (rustup)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
ensure_rust

say "building vertel-server (release)"
cargo build --release --locked -p vertel-server
