# Shared helpers for setup.sh and test.sh. Sourced, not run.

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=""
apt_install() {
    # Install Debian packages that are missing; no-op when all are present.
    local missing=()
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

ensure_rust() {
    command -v cargo >/dev/null || { echo "cargo is required (rustup)"; exit 1; }
    rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown \
        || rustup target add wasm32-unknown-unknown
    rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt
}

pg_bindir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    dirname "$(command -v initdb)"
}

# Start a throwaway PostgreSQL cluster on a free port; sets VERTEL_TEST_PG_URL and PG_DIR.
start_throwaway_pg() {
    apt_install postgresql
    local bin; bin="$(pg_bindir)"
    PG_DIR="$(mktemp -d /tmp/vertel-pg.XXXXXX)"
    local port
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    local run=()
    if [ "$(id -u)" = 0 ]; then
        # PostgreSQL refuses to run as root: use the postgres system user the package created.
        chown postgres "$PG_DIR"
        run=(runuser -u postgres --)
    fi
    "${run[@]}" "$bin/initdb" -D "$PG_DIR/data" -U vertel --auth=trust -E UTF8 >"$PG_DIR/initdb.log"
    "${run[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w start \
        -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400 -c wal_recycle=off" >/dev/null
    export VERTEL_TEST_PG_URL="postgres://vertel@127.0.0.1:$port/postgres"
    PG_STOP=("${run[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -m immediate stop)
    say "throwaway PostgreSQL on port $port"
}

stop_throwaway_pg() {
    if [ -n "${PG_DIR:-}" ]; then
        "${PG_STOP[@]}" >/dev/null 2>&1 || true
        rm -rf "$PG_DIR"
    fi
}
