#!/usr/bin/env bash
# Build the mobile shell into mobile-shell/dist: the wasm module (client-core's engine and story API
# through vertel-shell's wasm-bindgen bindings), its JavaScript glue, the web app and a service
# worker that precaches all of it. Installs what it needs: the wasm32 target, and wasm-bindgen-cli
# of exactly the version Cargo.lock resolves the crate's wasm-bindgen dependency to, built from
# source by cargo (skipped when that version is already installed). No prebuilt binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SHELL_DIR="$ROOT/mobile-shell"
DIST="$SHELL_DIR/dist"
say() { printf '\033[1m== %s\033[0m\n' "$*"; }

rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
    || rustup target add wasm32-unknown-unknown

# The version of wasm-bindgen in Cargo.lock: the CLI must match it exactly.
WB_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
[ -n "$WB_VERSION" ] || { echo "wasm-bindgen is not in Cargo.lock" >&2; exit 1; }
WB="$(command -v wasm-bindgen || true)"
if [ -z "$WB" ] || [ "$("$WB" --version | awk '{print $2}')" != "$WB_VERSION" ]; then
    say "building wasm-bindgen-cli $WB_VERSION (cargo install, once)"
    if ! cargo install --locked --version "$WB_VERSION" wasm-bindgen-cli; then
        # The CLI's own lock file can name a dependency version the registry index no longer (or
        # not yet) serves; then let cargo resolve its dependencies afresh. Same CLI version.
        say "its lock file does not resolve here; installing wasm-bindgen-cli $WB_VERSION without --locked"
        cargo install --version "$WB_VERSION" wasm-bindgen-cli
    fi
    WB="$(command -v wasm-bindgen)"
fi

say "building the wasm module (profile wasm-release)"
cargo build -p vertel-shell --lib --target wasm32-unknown-unknown --profile wasm-release --locked

say "assembling $DIST"
rm -rf "$DIST"
mkdir -p "$DIST/pkg"
"$WB" --target web --no-typescript --remove-name-section --remove-producers-section --out-dir "$DIST/pkg" \
    "$ROOT/target/wasm32-unknown-unknown/wasm-release/vertel_shell.wasm"
cp -R "$SHELL_DIR/web/." "$DIST/"
rm "$DIST/sw.js"

# The service worker precaches every file; its version is a hash of them all, so any change to the
# app makes browsers install the new version.
cd "$DIST"
FILES="$(find . -type f | sed 's|^\./||' | LC_ALL=C sort)"
VERSION="$(for f in $FILES; do sha256sum "$f"; done | sha256sum | cut -c1-16)"
LIST="$(printf '"/"'; for f in $FILES; do printf ',"/%s"' "$f"; done)"
sed -e "s|__VERSION__|$VERSION|" -e "s|__FILES__|[$LIST]|" "$SHELL_DIR/web/sw.js" > sw.js

# Gzipped copies beside the files: vertel-server sends them to browsers that accept gzip.
for f in $FILES sw.js; do
    case "$f" in *.js|*.css|*.html|*.wasm|*.svg|*.webmanifest) gzip -9 -k -n -f "$f" ;; esac
done
say "mobile shell $VERSION built: $(du -sh "$DIST" | cut -f1) in $DIST"
