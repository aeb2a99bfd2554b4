#!/usr/bin/env bash
# A docmgr cluster on one machine, from Debian's packages: the multi-node deployment, working, on loopback.
#
#   PostgreSQL 15   a private cluster in $DATA/postgres (run as the `postgres` user when started as root), port $PG_PORT
#   Redis           the task queue's broker, append-only file in $DATA/redis, port $REDIS_PORT
#   web node 1, 2   gunicorn on ports $NODE1_PORT and $NODE2_PORT, each with its own local folders ($DATA/node1, …)
#   worker          `docmgr worker` (indexing, OCR, thumbnails, periodic jobs) with its own local folders
#   nginx           the load balancer on http://127.0.0.1:$PORT/ (private config and prefix in $DATA/nginx)
#   shared volume   $DATA/files: the content-addressed file store every node mounts (here: one folder)
#
# Database: PostgreSQL (DOCMGR_DATABASE_URL); search: PostgreSQL full-text search (DOCMGR_SEARCH_BACKEND=postgres);
# queue: Redis (DOCMGR_QUEUE_URL). First start: `docmgr init` + demo data. Ctrl-C stops everything; data stays in
# $DATA for the next start (delete the folder to start afresh). The README's "A cluster" section lays the same
# pieces out on several hosts.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
DATA=${DATA:-$REPO/var/cluster}
PORT=${PORT:-8080}
NODE1_PORT=${NODE1_PORT:-8001}
NODE2_PORT=${NODE2_PORT:-8002}
PG_PORT=${PG_PORT:-54329}
REDIS_PORT=${REDIS_PORT:-63799}
WORKERS=${WORKERS:-2}           # gunicorn workers per web node
[ "${SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
mkdir -p "$DATA"/{files,redis,nginx/logs,node1,node2,worker}
DATA=$(cd "$DATA" && pwd)

as_pg_user() {  # PostgreSQL refuses to run as root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo; echo "stopping…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  [ -f "$DATA/nginx/nginx.pid" ] && kill -QUIT "$(cat "$DATA/nginx/nginx.pid")" 2>/dev/null || true
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  as_pg_user "$PG_BIN/pg_ctl" -D "$DATA/postgres" -m fast stop >/dev/null 2>&1 || true
  echo "stopped (data kept in $DATA)"
}
trap cleanup EXIT INT TERM

# --- PostgreSQL: a private cluster in a folder, loopback only -------------------------------------------------------
if [ ! -f "$DATA/postgres/PG_VERSION" ]; then
  mkdir -p "$DATA/postgres" "$DATA/pgsock"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA/postgres" "$DATA/pgsock" && chmod 700 "$DATA/postgres"
  as_pg_user "$PG_BIN/initdb" -D "$DATA/postgres" -U docmgr -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
fi
as_pg_user "$PG_BIN/pg_ctl" -D "$DATA/postgres" -l "$DATA/postgres/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$DATA/pgsock -c max_connections=200" start >/dev/null
psql_admin() { psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U docmgr "$@"; }
if ! psql_admin -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'docmgr'" | grep -q 1; then
  psql_admin -d postgres -c "CREATE DATABASE docmgr"
fi
psql_admin -d docmgr -c "CREATE EXTENSION IF NOT EXISTS unaccent" -c "CREATE EXTENSION IF NOT EXISTS rum" 2>/dev/null || true

# --- Redis: the broker, with an append-only file (queued work survives a crash) -----------------------------------
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DATA/redis" --appendonly yes --appendfsync everysec \
  --save "" >"$DATA/redis.log" 2>&1 &
pids+=($!)

# --- the same settings on every node; local folders apart --------------------------------------------------------
export FLASK_APP=wsgi
export DOCMGR_DATABASE_URL="postgresql+psycopg://docmgr@127.0.0.1:$PG_PORT/docmgr"
export DOCMGR_QUEUE_URL="redis://127.0.0.1:$REDIS_PORT/0"
export DOCMGR_SEARCH_BACKEND=postgres
export DOCMGR_STORAGE_DIR="$DATA/files"             # the shared volume (NFS on several hosts)
export DOCMGR_TRUSTED_PROXIES=1                     # nginx in front sets X-Forwarded-For
export DOCMGR_PUBLIC_URL="http://127.0.0.1:$PORT"
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
node_env() { echo env DOCMGR_INDEX_DIR="$DATA/$1/index" TMPDIR="$DATA/$1"; }  # a node's own local folders

$(node_env worker) .venv/bin/flask --app wsgi docmgr init
if [ ! -f "$DATA/.demo-loaded" ]; then
  $(node_env worker) .venv/bin/flask --app wsgi docmgr demo && touch "$DATA/.demo-loaded"
fi

# (`env` execs the program: $! is the program's own pid, which cleanup signals)
$(node_env worker) .venv/bin/flask --app wsgi docmgr worker >"$DATA/worker.log" 2>&1 &
pids+=($!)
for n in 1 2; do
  port_var="NODE${n}_PORT"
  $(node_env "node$n") .venv/bin/gunicorn --workers "$WORKERS" --bind "127.0.0.1:${!port_var}" --timeout 120 \
    --access-logfile "$DATA/node$n/access.log" wsgi:app >"$DATA/node$n.log" 2>&1 &
  pids+=($!)
done

# --- nginx: the load balancer ---------------------------------------------------------------------------------------
cat >"$DATA/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $DATA/nginx/nginx.pid;
error_log $DATA/nginx/logs/error.log;
$( [ "$(id -u)" = 0 ] && echo "user www-data;" )
events { worker_connections 1024; }
http {
  access_log $DATA/nginx/logs/access.log;
  client_body_temp_path $DATA/nginx/body;
  proxy_temp_path $DATA/nginx/proxy;
  fastcgi_temp_path $DATA/nginx/fastcgi;
  uwsgi_temp_path $DATA/nginx/uwsgi;
  scgi_temp_path $DATA/nginx/scgi;
  client_max_body_size 250m;
  upstream docmgr {
    least_conn;
    server 127.0.0.1:$NODE1_PORT max_fails=1 fail_timeout=5s;
    server 127.0.0.1:$NODE2_PORT max_fails=1 fail_timeout=5s;
  }
  server {
    listen 127.0.0.1:$PORT;
    location / {
      proxy_pass http://docmgr;
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_next_upstream error timeout;
      proxy_read_timeout 180s;
    }
  }
}
NGINX
nginx -p "$DATA/nginx" -c "$DATA/nginx/nginx.conf" -g "daemon off;" &
pids+=($!)

echo
echo "docmgr cluster: http://127.0.0.1:$PORT/  (nginx → web nodes :$NODE1_PORT and :$NODE2_PORT; worker; PostgreSQL :$PG_PORT;"
echo "Redis :$REDIS_PORT; files in $DATA/files). Log in with one of the demo logins above. Ctrl-C stops everything."
wait -n "${pids[@]}" || true
echo "a process of the cluster stopped; see the logs in $DATA"
