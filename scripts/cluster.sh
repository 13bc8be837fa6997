#!/usr/bin/env bash
# A Vertel cluster on this machine (README, "Several machines"): PostgreSQL, Garage (an
# S3-compatible store; built once with cargo and cached), two sync processes and one transcription
# worker on different ports, the demo workspace seeded. Prints the URLs.
#
#   scripts/cluster.sh            start (state in $VERTEL_CLUSTER_DIR, default /tmp/vertel-cluster)
#   scripts/cluster.sh --stop     stop every process it started, by the process ids it wrote down
#
# Ports: sync 1 on $VERTEL_CLUSTER_PORT (8081), sync 2 on +1, the worker's health on +2; Garage's
# S3 API on 3900 (RPC 3901, admin 3903); PostgreSQL on a free port (printed).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

DIR="${VERTEL_CLUSTER_DIR:-/tmp/vertel-cluster}"
PORT="${VERTEL_CLUSTER_PORT:-8081}"
GARAGE_VERSION=2.5.0
GARAGE_ROOT="${VERTEL_CACHE:-$HOME/.cache/vertel}/garage-$GARAGE_VERSION"
GARAGE="$GARAGE_ROOT/bin/garage"
PIDS="$DIR/pids"

stop() {
    if [ -f "$PIDS" ]; then
        # Newest first: the servers, then Garage.
        tac "$PIDS" | while read -r name pid; do
            if kill -0 "$pid" 2>/dev/null; then
                kill "$pid" && say "stopped $name ($pid)"
            fi
        done
        rm -f "$PIDS"
    fi
    if [ -f "$DIR/pg.stop" ]; then
        bash "$DIR/pg.stop" >/dev/null 2>&1 && say "stopped PostgreSQL"
        rm -f "$DIR/pg.stop"
    fi
}

if [ "${1:-}" = "--stop" ]; then
    stop
    exit 0
fi
[ -f "$PIDS" ] && { echo "a cluster runs already ($PIDS): scripts/cluster.sh --stop first"; exit 1; }

apt_install postgresql openssl
mkdir -p "$DIR"
say "building vertel-server"
cargo build --quiet -p vertel-server
if [ ! -x "$GARAGE" ]; then
    say "building Garage $GARAGE_VERSION (once, cached in $GARAGE_ROOT; long on a small machine)"
    cargo install --quiet --locked "garage@$GARAGE_VERSION" --root "$GARAGE_ROOT"
fi

# PostgreSQL: a cluster of its own in $DIR/pg.
bin="$(pg_bindir)"
run=()
if [ "$(id -u)" = 0 ]; then run=(runuser -u postgres --); fi
pg_port="$(free_port)"
if [ ! -d "$DIR/pg/data" ]; then
    mkdir -p "$DIR/pg"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR/pg"
    "${run[@]}" "$bin/initdb" -D "$DIR/pg/data" -U vertel --auth=trust -E UTF8 >"$DIR/pg/initdb.log"
fi
"${run[@]}" "$bin/pg_ctl" -D "$DIR/pg/data" -l "$DIR/pg/server.log" -w start \
    -o "-p $pg_port -k $DIR/pg -c listen_addresses=127.0.0.1 -c max_connections=200" >/dev/null
echo "${run[*]} $bin/pg_ctl -D $DIR/pg/data -m fast stop" >"$DIR/pg.stop"
psql -h 127.0.0.1 -p "$pg_port" -U vertel -d postgres -qc "CREATE DATABASE vertel" 2>/dev/null || true
export VERTEL_DATABASE_URL="postgres://vertel@127.0.0.1:$pg_port/vertel"

# Garage: one node, one bucket, one key.
mkdir -p "$DIR/garage"
[ -f "$DIR/garage/rpc_secret" ] || openssl rand -hex 32 >"$DIR/garage/rpc_secret"
[ -f "$DIR/garage/key" ] || echo "GK$(openssl rand -hex 12) $(openssl rand -hex 32)" >"$DIR/garage/key"
read -r key_id secret <"$DIR/garage/key"
cat >"$DIR/garage/garage.toml" <<EOF
metadata_dir = "$DIR/garage/meta"
data_dir = "$DIR/garage/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:3901"
rpc_public_addr = "127.0.0.1:3901"
rpc_secret = "$(cat "$DIR/garage/rpc_secret")"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:3900"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:3903"
EOF
g() { "$GARAGE" -c "$DIR/garage/garage.toml" "$@"; }
# Started directly, not through g(): $! must be Garage's own process id.
"$GARAGE" -c "$DIR/garage/garage.toml" server >"$DIR/garage/server.log" 2>&1 &
echo "garage $!" >>"$PIDS"
wait_port 3900
for _ in $(seq 1 50); do g status >/dev/null 2>&1 && break; sleep 0.2; done
node="$(g node id -q 2>/dev/null | cut -d@ -f1)"
# `layout show` prints node ids shortened to 16 hex digits.
if ! g layout show 2>/dev/null | grep -q "${node:0:16}"; then
    g layout assign -z dc1 -c 1G "$node" >/dev/null
    g layout apply --version 1 >/dev/null
fi
g bucket create vertel >/dev/null 2>&1 || true
g key import --yes "$key_id" "$secret" -n vertel >/dev/null 2>&1 || true
g bucket allow --read --write --owner vertel --key "$key_id" >/dev/null

export VERTEL_BLOB_URL=s3://vertel
export AWS_ENDPOINT=http://127.0.0.1:3900 AWS_REGION=garage AWS_ALLOW_HTTP=true
export AWS_ACCESS_KEY_ID="$key_id" AWS_SECRET_ACCESS_KEY="$secret"

say "seeding the demo workspace"
VERTEL_DATA_DIR="$DIR/sync1" target/debug/vertel-server seed --demo

start_server() {
    local name=$1 role=$2 port=$3
    VERTEL_DATA_DIR="$DIR/$name" target/debug/vertel-server serve --role "$role" \
        --listen "127.0.0.1:$port" >"$DIR/$name.out" 2>"$DIR/$name.log" &
    echo "$name $!" >>"$PIDS"
    wait_port "$port"
}
start_server sync1 sync "$PORT"
start_server sync2 sync "$((PORT + 1))"
start_server worker worker "$((PORT + 2))"

say "cluster running (state in $DIR; stop with scripts/cluster.sh --stop)"
cat <<EOF
  sync 1      http://127.0.0.1:$PORT        (devices, coordinators)
  sync 2      http://127.0.0.1:$((PORT + 1))        (devices, coordinators)
  worker      http://127.0.0.1:$((PORT + 2))/healthz  (transcription and tagger; health only)
  Garage S3   http://127.0.0.1:3900   bucket vertel
  PostgreSQL  $VERTEL_DATABASE_URL
  Demo login: every member of dwo-regio, password vertel-demo-2026
EOF
