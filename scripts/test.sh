#!/usr/bin/env bash
# Set up everything the tests need and run them all: formatting, lints, native and wasm32 builds,
# unit and integration tests on SQLite and a throwaway PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

apt_install build-essential pkg-config python3 postgresql
ensure_rust

say "JavaScript interop clients (tests/interop)"
{ command -v node && command -v npm; } >/dev/null || apt_install nodejs npm
npm ci --prefix tests/interop --no-audit --no-fund

say "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

say "build (native, and client-core for wasm32)"
cargo build --workspace --locked
cargo build -p client-core --target wasm32-unknown-unknown --locked

start_throwaway_pg
trap stop_throwaway_pg EXIT

say "tests"
cargo test --workspace --locked -- --test-threads 4
