# Shared helpers for setup.sh and test.sh. Sourced, not run.

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

# Free disk where the builds go, printed at each stage of the test command: a full disk once
# failed CI with nothing but "No space left on device" in a test to show for it.
disk_left() {
    local target="${CARGO_TARGET_DIR:-target}"
    mkdir -p "$target"
    printf '   disk: %s free of %s; %s in %s\n' \
        "$(df -h --output=avail "$target" | tail -1 | tr -d ' ')" \
        "$(df -h --output=size "$target" | tail -1 | tr -d ' ')" \
        "$(du -sh "$target" 2>/dev/null | cut -f1)" "$target"
}

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

# A real S3 server for the blob store's tests: s3s-fs (crates.io, an S3 implementation over a
# directory; built once with cargo and cached). Not Garage: its clean build (`cargo install
# --locked garage`, 2.5.0) took 22 min wall, 18 min of CPU, on this project's 2-core machine (loaded
# by other builds), s3s-fs 7.4 min wall, 3.5 min of CPU, beside it; the test command already uses
# ~30 of its 45 minutes. scripts/cluster.sh runs Garage. Not a mock: the blob store speaks signed S3
# over HTTP to it, multipart uploads, listings and ranged gets included.
S3S_FS_VERSION=0.14.1
S3S_FS_ROOT="${VERTEL_CACHE:-$HOME/.cache/vertel}/s3s-fs-$S3S_FS_VERSION"
ensure_s3s_fs() {
    if [ ! -x "$S3S_FS_ROOT/bin/s3s-fs" ]; then
        say "building s3s-fs $S3S_FS_VERSION (once; cached in $S3S_FS_ROOT)"
        cargo install --quiet --locked "s3s-fs@$S3S_FS_VERSION" --features binary --root "$S3S_FS_ROOT"
    fi
    export VERTEL_TEST_S3_BIN="$S3S_FS_ROOT/bin/s3s-fs"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
    local port=$1 i
    for i in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $port"; return 1
}

# Start s3s-fs on a free port with a bucket for the tests; sets VERTEL_TEST_S3_* and S3_PID.
start_test_s3() {
    ensure_s3s_fs
    S3_DIR="$(mktemp -d /tmp/vertel-s3.XXXXXX)"
    mkdir -p "$S3_DIR/vertel-test"
    local port; port="$(free_port)"
    "$VERTEL_TEST_S3_BIN" --host 127.0.0.1 --port "$port" \
        --access-key vertel-test --secret-key vertel-test-secret "$S3_DIR" >"$S3_DIR.log" 2>&1 &
    S3_PID=$!
    wait_port "$port"
    export VERTEL_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
    export VERTEL_TEST_S3_BUCKET=vertel-test
    export VERTEL_TEST_S3_ACCESS_KEY=vertel-test
    export VERTEL_TEST_S3_SECRET_KEY=vertel-test-secret
    say "S3 server (s3s-fs) on port $port"
}

stop_test_s3() {
    if [ -n "${S3_PID:-}" ]; then
        kill "$S3_PID" 2>/dev/null || true
        wait "$S3_PID" 2>/dev/null || true
        rm -rf "$S3_DIR" "$S3_DIR.log"
    fi
}
