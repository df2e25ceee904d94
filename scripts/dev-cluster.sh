#!/usr/bin/env bash
# scripts/dev-cluster.sh: two Switchboard hubs sharing one throwaway redis-server,
# on this machine, to try the multi-instance real-time path (a customer on one
# hub, an agent on the other). Ctrl-C (SIGINT) or SIGTERM stops everything.
#
#   1. starts redis-server on a spare loopback port, without persistence
#   2. builds ./cmd/switchboard once, into a temporary directory
#   3. starts hub 1 on 127.0.0.1:$HUB1_PORT, then hub 2 on 127.0.0.1:$HUB2_PORT,
#      both on that Redis, with the same admin key and token secret, and the
#      demo agent seeded
#   4. prints the URLs and the credentials, and waits
#
# Settings (environment):
#   HUB1_PORT                 8081
#   HUB2_PORT                 8082
#   REDIS_PORT                a spare port from 20000-39999
#   SWITCHBOARD_ADMIN_KEY     sk_dev_cluster_admin_key
#   SWITCHBOARD_TOKEN_SECRET  a fixed development secret (every hub must share it)
# Any other SWITCHBOARD_* variable you export (SWITCHBOARD_IDENTITY_SECRET,
# SWITCHBOARD_ALLOWED_ORIGINS, SWITCHBOARD_LOG_LEVEL...) reaches both hubs.
# Nothing here is fit for production: fixed secrets, no persistence.
#
# Run it in the foreground. Started in the background by another script, it
# inherits SIGINT ignored (what a non-interactive shell does to background
# jobs), so stop it with SIGTERM there: kill "$pid".
set -euo pipefail
set -m # every background job in its own process group: a Ctrl-C reaches this script only, which stops them in order
cd "$(dirname "$0")/.."

HUB1_PORT=${HUB1_PORT:-8081}
HUB2_PORT=${HUB2_PORT:-8082}
export SWITCHBOARD_ADMIN_KEY=${SWITCHBOARD_ADMIN_KEY:-sk_dev_cluster_admin_key}
export SWITCHBOARD_TOKEN_SECRET=${SWITCHBOARD_TOKEN_SECRET:-dev-cluster-token-secret-not-for-production}
export SWITCHBOARD_DEMO=true

die() { echo "dev-cluster: $*" >&2; exit 1; }

if ! command -v redis-server >/dev/null 2>&1; then
  die "redis-server is not installed. Install it first:
  Debian/Ubuntu:  sudo apt-get install redis-server
  macOS:          brew install redis"
fi
command -v go >/dev/null 2>&1 || die "go is not installed (see the README)"

# in_use reports whether something listens on the loopback port.
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

spare_port() {
  local p
  for _ in $(seq 100); do
    p=$(( 20000 + RANDOM % 20000 ))
    if ! in_use "$p"; then echo "$p"; return 0; fi
  done
  return 1
}

REDIS_PORT=${REDIS_PORT:-$(spare_port)}
if [ "$HUB1_PORT" = "$HUB2_PORT" ] || [ "$REDIS_PORT" = "$HUB1_PORT" ] || [ "$REDIS_PORT" = "$HUB2_PORT" ]; then
  die "HUB1_PORT, HUB2_PORT and REDIS_PORT must differ"
fi
for p in "$REDIS_PORT" "$HUB1_PORT" "$HUB2_PORT"; do
  if in_use "$p"; then die "port $p is in use (set HUB1_PORT, HUB2_PORT or REDIS_PORT)"; fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-dev.XXXXXX")
pids=() # hub pids, then redis last
redis_pid=""

cleanup() {
  trap - INT TERM EXIT
  echo
  echo "dev-cluster: stopping"
  local pid
  for pid in ${pids[@]+"${pids[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done # graceful: sockets get 4000
  for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$redis_pid" ]; then
    kill -TERM "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  echo "dev-cluster: stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "dev-cluster: building ./cmd/switchboard"
go build -o "$work/switchboard" ./cmd/switchboard

echo "dev-cluster: starting redis-server on 127.0.0.1:$REDIS_PORT (no persistence)"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work" --logfile "$work/redis.log" --daemonize no &
redis_pid=$!
for _ in $(seq 100); do
  in_use "$REDIS_PORT" && break
  kill -0 "$redis_pid" 2>/dev/null || die "redis-server did not start: $(tail -5 "$work/redis.log")"
  sleep 0.1
done
in_use "$REDIS_PORT" || die "redis-server did not start listening"
export SWITCHBOARD_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"

# start_hub N PORT starts one hub and waits until it answers /healthz.
start_hub() {
  local n=$1 port=$2
  SWITCHBOARD_ADDR="127.0.0.1:$port" "$work/switchboard" >"$work/hub$n.out" 2>"$work/hub$n.log" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$work/hub$n.log" >&2
      die "hub $n exited at start"
    fi
    "$work/switchboard" healthcheck -addr "127.0.0.1:$port" 2>/dev/null && kill -0 "$pid" 2>/dev/null && return 0
    sleep 0.1
  done
  die "hub $n did not answer on 127.0.0.1:$port"
}

# One after the other: each hub resets the demo agent's password when it
# starts, so the second hub's banner holds the password in force.
start_hub 1 "$HUB1_PORT"
start_hub 2 "$HUB2_PORT"
demo=$(sed -n 's/^  Demo agent: *//p' "$work/hub2.out")

cat <<EOF

Switchboard dev cluster: two hubs, one Redis
  hub 1:          http://127.0.0.1:$HUB1_PORT   (ws://127.0.0.1:$HUB1_PORT/ws)
  hub 2:          http://127.0.0.1:$HUB2_PORT   (ws://127.0.0.1:$HUB2_PORT/ws)
  redis:          $SWITCHBOARD_REDIS_URL   (not persisted)
  admin key:      $SWITCHBOARD_ADMIN_KEY
  demo agent:     $demo   (a supervisor)
  logs:           $work/hub1.log  $work/hub2.log  (removed at exit)

Try:
  curl -s http://127.0.0.1:$HUB1_PORT/readyz http://127.0.0.1:$HUB2_PORT/readyz
Ctrl-C stops both hubs and Redis.
EOF

# Wait until a signal arrives (the trap runs as soon as the wait builtin is
# interrupted) or a process ends on its own.
all_alive() {
  local pid
  for pid in "${pids[@]}" "$redis_pid"; do kill -0 "$pid" 2>/dev/null || return 1; done
}
while all_alive; do
  sleep 1 &
  wait $! || true
done
echo "dev-cluster: a process exited on its own; last log lines:" >&2
tail -n 5 "$work/hub1.log" "$work/hub2.log" "$work/redis.log" >&2 || true
exit 1
