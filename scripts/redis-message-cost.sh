#!/usr/bin/env bash
# scripts/redis-message-cost.sh: what one chat message costs Redis on the
# send path, on a Redis of its own (no hubs, no load tool sharing its
# cores): the real message.lua (as the store sends it, with what it uses of
# lib.lua) run 200,000 times by redis-benchmark from 20 clients, with two
# subscribers on the session's channel (the two hubs of a conversation).
# Prints Redis's CPU per message, message.lua's own time per call, and the
# commands per message. PIPE=10 sends 10 calls per round trip, as a hub
# batching its sends would. ALLSTATS=1 prints every command's own time too.
#
#   scripts/redis-message-cost.sh            # starts a redis-server on a spare port
#   REDIS_PORT=6379 scripts/redis-message-cost.sh   # an existing one (flushed!)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-benchmark >/dev/null || { echo "redis-benchmark (Debian: redis-tools) is needed" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"; [ -n "${rpid:-}" ] && kill "$rpid" 2>/dev/null || true' EXIT
if [ -z "${REDIS_PORT:-}" ]; then
  REDIS_PORT=$(( 20000 + RANDOM % 12000 ))
  redis-server --port "$REDIS_PORT" --save "" --appendonly no --daemonize no >"$tmp/redis.log" 2>&1 & rpid=$!
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
SWITCHBOARD_PRINT_SCRIPT="$tmp/message.lua" go test -count=1 -run TestPrintMessageScript ./hub/redisstore/ >/dev/null
R="redis-cli -p $REDIS_PORT"; $R flushall >/dev/null
SHA=$($R script load "$(cat "$tmp/message.lua")")
$R hset '{b}:session:s1' id s1 state Agent customer_id c1 agent_id a1 seq 0 messages 0 >/dev/null
$R hset '{b}:store' epoch E1 hooks 0 >/dev/null
redis-cli -p "$REDIS_PORT" subscribe '{b}:ch:session:s1' >/dev/null & s1=$!
redis-cli -p "$REDIS_PORT" subscribe '{b}:ch:session:s1' >/dev/null & s2=$!
sleep 0.3
cpu() { $R info cpu | awk -F: '/used_cpu_(user|sys):/{s+=$2} END{print s}'; }
$R config resetstat >/dev/null; c0=$(cpu)
redis-benchmark -p "$REDIS_PORT" -n 200000 -c 20 -r 1000000000 ${PIPE:+-P $PIPE} -q EVALSHA "$SHA" 3 \
  '{b}:session:s1' '{b}:session:s1:events' '{b}:session:s1:cmids' '{b}:ch:session:s1' customer c1 0 \
  '{"type":"message.created","message":{"id":"m","text":"'"$(printf '%0160d' 0)"'","sender":{"kind":"customer","id":"c1"}}}' \
  0 86400000 '{b}' 2026-12-04T00:00:00Z 'customer:c1:__rand_int__' '' 0 "$(date +%s%3N)" 28800000,2592000000,34560000000 2>&1 | tr '\r' '\n' | tail -1 | sed 's/.*: //'
c1=$(cpu)
kill $s1 $s2
calls=$($R info commandstats | grep -v -e cmdstat_config -e cmdstat_info | grep -o 'calls=[0-9]*' | cut -d= -f2 | paste -sd+ | bc)
echo "Redis CPU per message: $(echo "($c1 - $c0) * 1000000 / 200000" | bc -l | cut -c1-5) µs"
[ -n "${ALLSTATS:-}" ] && $R info commandstats | grep cmdstat_ | sed "s/,rejected.*//"
$R info commandstats | grep cmdstat_evalsha | sed 's/,rejected.*//; s/^cmdstat_/message.lua: /'
echo "commands per message: $(echo "$calls / 200000" | bc -l | cut -c1-5) (EVALSHA and the calls inside it)"
