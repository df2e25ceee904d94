#!/usr/bin/env bash
# scripts/bench.sh: the store's benchmarks on a real redis-server (started
# here on a spare loopback port without persistence, stopped at exit), five
# runs each, printed as medians, with the ratio of 100,000 to 1,000 kept
# sessions for the history listing. Speed is judged here, never by timed tests.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-server >/dev/null || { echo "redis-server is needed (apt-get install redis-server)" >&2; exit 1; }
port=$(( 20000 + RANDOM % 20000 ))
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --daemonize no >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
out=$(SWITCHBOARD_TEST_REDIS_URL="redis://127.0.0.1:$port/0" go test -run '^$' -bench BenchmarkChatSessions \
  -benchtime "${BENCHTIME:-300x}" -count "${COUNT:-5}" ./hub/redisstore/)
echo "$out" | grep '^Benchmark'
echo
echo "medians (ms per page of 100 chats with their messages):"
echo "$out" | awk '/^BenchmarkChatSessions/ { split($1, p, "/"); sub(/-[0-9]+$/, "", p[3]); print p[2], p[3], $3 }' |
  sort -k1,1 -k2,2 -k3,3n |
  awk '{ k = $1 " " $2; n[k]++; v[k, n[k]] = $3 }
  END {
    for (k in n) { c = n[k]; m = (c % 2) ? v[k, (c+1)/2] : (v[k, c/2] + v[k, c/2+1]) / 2; med[k] = m
      printf "  %-28s %8.2f\n", k, m / 1e6 }
    split("all-last-page one-day visitor", f, " ")
    for (i = 1; i <= 3; i++) if (("of=1000 " f[i]) in med)
      printf "  ratio 100k/1k %-14s %5.2f\n", f[i], med["of=100000 " f[i]] / med["of=1000 " f[i]] }'
