#!/usr/bin/env bash
# scripts/chaos.sh [--short]: Switchboard under faults, on loopback.
#
#   1. every fault of `sbload chaos` (its own redis-server, sentinels and
#      hub processes built from this tree): a hub killed with SIGKILL,
#      Redis restarted, crashed with AOF always and everysec, restarted
#      from an older snapshot, a Sentinel failover (with
#      SWITCHBOARD_REDIS_MIN_REPLICAS=1), a failover to a replica whose
#      replication was paused and one away from a frozen primary (the
#      load runs 30 s past it); on a Redis Cluster (3 masters, a replica
#      each), the run's master killed and, in another run, frozen, the
#      cluster promoting its replica, and the run's slot moved to another
#      master (a resharding); each under a steady load, each checked:
#      nothing acknowledged lost where the setup promises it, nothing ever
#      silently skipped, duplicated or out of order, clients resumed and
#      hubs ready within 5 s (8 s after a frozen Cluster master, whose
#      commands each wait out go-redis's read timeout);
#   2. the fuzz targets of every request decoder (scripts/fuzz.sh);
#   3. hostile clients (sbload hostile: 5,000 unauthenticated sockets from
#      one address, slowloris, sockets that never read, floods) against a
#      quiet run of the same load;
#   4. the soak (sbload soak: waves of conversations with reconnect storms;
#      RSS, goroutines and Redis memory slopes; the key audit).
#
# The full run (about 45 minutes: the soak is 30) writes its figures
# between the markers of docs/reliability.md and keeps the JSON results in
# docs/bench/reliability-<date>/. --short (what scripts/test.sh runs, a
# few minutes) runs each part but the fuzzing briefly, as a test (the
# fuzzing is test.sh's own step): it checks the same bounds and writes
# nothing. --faults runs part 1 alone at full size (about 10 minutes) and
# writes its two tables (faults, and the cost of
# SWITCHBOARD_REDIS_MIN_REPLICAS), leaving the others as they are. Exits
# non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

short="" faults_only=""
case "${1:-}" in
  --short) short=1 ;;
  --faults) faults_only=1 ;;
  "") ;;
  *) echo "usage: scripts/chaos.sh [--short | --faults]" >&2; exit 2 ;;
esac

step() { printf '\n== %s\n' "$*"; }

for bin in redis-server redis-sentinel; do
  if ! command -v "$bin" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      step "installing $bin (apt-get)"
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$bin" >/dev/null
    else
      echo "chaos: $bin is not installed and this is not root: apt-get install redis-server redis-sentinel" >&2
      exit 1
    fi
  fi
done

work=$(mktemp -d)
. scripts/hubs.sh
redis_pid=""
cleanup() {
  stop_hubs
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/switchboard" ./cmd/switchboard
go build -o "$work/sbload" ./cmd/sbload
results="$work/results"
mkdir -p "$results"

if [ -n "$short" ]; then
  load=(-conversations 40 -rate 100 -before 2s -after 4s -quiet)
else
  load=(-conversations 500 -rate 1000 -before 5s -after 15s -quiet)
fi
faults=(none hub-kill redis-restart redis-crash-always redis-crash-everysec redis-rollback sentinel-failover sentinel-rollback sentinel-frozen cluster-kill cluster-frozen cluster-other-frozen cluster-reshard)
for f in "${faults[@]}"; do
  step "chaos: $f"
  "$work/sbload" chaos -fault "$f" -switchboard "$work/switchboard" "${load[@]}" -out "$results/chaos-$f.json"
done
# What SWITCHBOARD_REDIS_MIN_REPLICAS costs: the same Sentinel setup, no
# fault, without and with the wait (short: with it only, to keep it alive).
replicas=(0 1)
if [ -n "$short" ]; then replicas=(1); fi
for n in "${replicas[@]}"; do
  step "chaos: sentinel, SWITCHBOARD_REDIS_MIN_REPLICAS=$n"
  "$work/sbload" chaos -fault sentinel -min-replicas "$n" -switchboard "$work/switchboard" "${load[@]}" \
    -out "$results/chaos-sentinel-r$n.json"
done

day=$(date -u +%Y-%m-%d)
keep="docs/bench/reliability-$day"
if [ -n "$faults_only" ]; then
  mkdir -p "$keep"
  cp "$results"/*.json "$keep/"
  "$work/sbload" reliability -dir "$results" -doc docs/reliability.md -date "$day" -results "$keep" -only chaos,replicas
  step "docs/reliability.md's faults and replicas tables updated; results in $keep"
  exit 0
fi

if [ -z "$short" ]; then # scripts/test.sh runs them itself, 5 s each
  step "fuzzing every request decoder"
  scripts/fuzz.sh 60s
fi

step "hostile clients"
spare_port() {
  local p
  for _ in $(seq 100); do
    p=$(( 20000 + RANDOM % 12000 ))
    if ! listening "$p"; then echo "$p"; return 0; fi
  done
  return 1
}
rport=$(spare_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --logfile "$work/redis.log" &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
key="sk_hostile_$RANDOM$RANDOM$RANDOM$RANDOM"
export SWITCHBOARD_REDIS_URL="redis://127.0.0.1:$rport/0" SWITCHBOARD_KEY_PREFIX="{hostile}" SWITCHBOARD_DEMO=false \
  SWITCHBOARD_LOG_LEVEL=warn SWITCHBOARD_ADMIN_KEY="$key" SWITCHBOARD_TOKEN_SECRET="hostile-token-secret-$RANDOM$RANDOM$RANDOM$RANDOM"
start_hubs "$work/switchboard" 2 "$work"
unset SWITCHBOARD_REDIS_URL SWITCHBOARD_KEY_PREFIX SWITCHBOARD_DEMO SWITCHBOARD_LOG_LEVEL SWITCHBOARD_ADMIN_KEY SWITCHBOARD_TOKEN_SECRET
urls=$HUB_URLS
hostile_failed=""
if [ -n "$short" ]; then
  # A correctness run: every actor, the memory and socket bounds, nothing
  # lost; at this size on a shared machine the p99 ratio is not measured.
  "$work/sbload" hostile -hubs "$urls" -key "$key" -conversations 100 -rate 200 -duration 8s -unauth 1000 \
    -slowloris 200 -max-p99-ratio 1000 -max-other-cores 2 -out "$results/hostile.json" -quiet
else
  "$work/sbload" hostile -hubs "$urls" -key "$key" -conversations 500 -rate 500 -duration 30s -pairs 5 \
    -out "$results/hostile.json" -quiet || hostile_failed=1 # recorded in docs/reliability.md
fi
stop_hubs
kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true; redis_pid=""

step "soak"
if [ -n "$short" ]; then
  soak=(-duration 40s -wave 12s -conversations 60 -rate 150 -retention 1m -sample 2s)
else
  soak=(-duration 30m -wave 3m -conversations 500 -rate 500 -retention 2m -sample 10s)
fi
"$work/sbload" soak -switchboard "$work/switchboard" "${soak[@]}" -out "$results/soak.json" -quiet

if [ -n "$short" ]; then
  step "chaos (short): every fault, hostile clients and the soak passed"
  exit 0
fi

# The full run: its figures go into docs/reliability.md and docs/bench/.
mkdir -p "$keep"
cp "$results"/*.json "$keep/"
"$work/sbload" reliability -dir "$results" -doc docs/reliability.md -date "$day" -results "$keep"
step "docs/reliability.md updated; results in $keep"
if [ -n "$hostile_failed" ]; then
  echo "chaos: the hostile-clients run broke its bounds (see docs/reliability.md)" >&2
  exit 1
fi
