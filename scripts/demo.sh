#!/usr/bin/env bash
# Set up this machine (scripts/setup.sh), load the demo workspace and run the server on the
# embedded SQLite default (./data/vertel.db). Open http://127.0.0.1:8080 and log in with the
# demo credentials printed below.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/lib.sh
export VERTEL_DATA_DIR="${VERTEL_DATA_DIR:-data}"
say "loading the demo workspace"
target/release/vertel-server seed --demo
say "starting vertel-server (Ctrl-C stops it)"
exec target/release/vertel-server serve --listen "${VERTEL_LISTEN:-127.0.0.1:8080}"
