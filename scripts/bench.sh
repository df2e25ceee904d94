#!/usr/bin/env bash
# scripts/bench.sh: Switchboard's performance report (docs/performance.md
# explains how to read it).
#
# It starts a redis-server on a spare loopback port (no persistence) and two
# hub processes on it, and runs the load tool (cmd/sbload) in every mode,
# with fresh hubs and an empty Redis for each:
#   idle     one hub, 10,000 sockets (5,000 conversations), 3 runs; then
#            2,500 / 5,000 / 9,500 conversations for the memory-per-socket line
#   steady   1,000 msg/s over 5,000 conversations on both hubs, 3 runs, with
#            the bare-relay baseline
#   ramp     from 2,000 msg/s up by 1,000 until p99 passes 50 ms, 3 ramps
#   storm    steady 1,000 msg/s while 2 % of the sockets drop and resume
#            every second, 3 runs
#   connect  waves of connect + authenticate + resume on one hub, 5 waves
#   growth   the same 2,000 msg/s on 1, 2 and 3 hubs (5,000 conversations),
#            and over 1,000 and 20,000 conversations on 3 hubs, 3 runs each:
#            deliveries per hub CPU-second and Redis µs per message as the
#            work grows. 20,000 conversations (40,000 sockets) take four
#            load processes of 5,000, set up one after another and then
#            measuring the same windows: one process may open 20,000 files
#            here, and so may each hub (3 hubs: 13,300 sockets each)
# then the Go benchmarks of the hot paths (3 runs each, on the same Redis),
# and writes report.md and report.json (targets met or not, medians) with
# every run's JSON under $BENCH_OUT (default bench-results/<UTC time>).
#
# Settings (environment): BENCH_OUT; BENCH_QUICK=1 for a short pass (one run
# each, short windows: a check of the script, not figures to quote).
# It takes about 30 minutes on a 2-core machine. Speed is judged here and
# never by timed tests.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-server >/dev/null || { echo "bench: redis-server is needed (apt-get install redis-server)" >&2; exit 1; }

out=${BENCH_OUT:-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
quick=${BENCH_QUICK:-0}
# The measured windows of steady, storm and growth are whole multiples of
# the hubs' presence refresh period (20 s, a third of the presence TTL), as
# is sbload's -redis-background window: each then holds the same number of
# refresh bursts per hub whatever their phase, and the Redis commands of
# the send path come out exact when the background is taken out (windows of
# 30 s held one or two bursts a hub: 8.00 or 8.33-8.67 commands a message
# for the same 8; docs/performance.md).
runs=3 dur=40s step=10s idlewin=20s connect_runs=5 benchcount=3 growdur=20s
if [ "$quick" = 1 ]; then runs=1 dur=5s step=4s idlewin=5s connect_runs=2 benchcount=1 growdur=4s; fi

tmp=$(mktemp -d)
redis_pid="" hub_pids=()
stop_hubs() {
  for p in "${hub_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${hub_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  hub_pids=()
}
cleanup() {
  stop_hubs
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
spare_port() { # below the ephemeral range (32768-60999), which the load's sockets fill
  local p
  for _ in $(seq 200); do
    p=$(( 20000 + RANDOM % 12000 ))
    if ! in_use "$p"; then echo "$p"; return 0; fi
  done
  return 1
}

echo "bench: building into $tmp"
go build -o "$tmp/switchboard" ./cmd/switchboard
go build -o "$tmp/sbload" ./cmd/sbload

rport=$(spare_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" --daemonize no >"$tmp/redis.log" &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis_url="redis://127.0.0.1:$rport/0"

export SWITCHBOARD_ADMIN_KEY="sk_bench_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export SWITCHBOARD_TOKEN_SECRET="bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export SWITCHBOARD_REDIS_URL="$redis_url" SWITCHBOARD_DEMO=false SWITCHBOARD_LOG_LEVEL=warn

# start_hubs N: an empty Redis and N fresh hubs; sets $hubs (comma-separated URLs).
start_hubs() {
  stop_hubs
  redis-cli -p "$rport" flushall >/dev/null
  redis-cli -p "$rport" config resetstat >/dev/null
  hubs=""
  for i in $(seq "$1"); do
    local p ok=""
    for _ in 1 2 3; do # a port may be taken between the check and the bind
      p=$(spare_port)
      SWITCHBOARD_ADDR="127.0.0.1:$p" "$tmp/switchboard" >>"$out/hub$i.log" 2>&1 &
      local pid=$!
      for _ in $(seq 100); do
        if curl -sf "http://127.0.0.1:$p/readyz" >/dev/null 2>&1; then ok=1; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if [ -n "$ok" ]; then hub_pids+=("$pid"); break; fi
      kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    done
    [ -n "$ok" ] || { echo "bench: hub $i did not start (see $out/hub$i.log)" >&2; exit 1; }
    hubs="${hubs:+$hubs,}http://127.0.0.1:$p"
  done
}

load() { # load NAME ARGS...: one sbload run, its JSON in $out/NAME.json
  local name=$1; shift
  echo "bench: sbload $name: $*"
  "$tmp/sbload" -hubs "$hubs" -redis "$redis_url" -quiet -out "$out/$name.json" "$@" 2>>"$out/sbload.log" | tee -a "$out/sbload.txt"
}

load_parts() { # load_parts NAME K ARGS...: K sbload processes on the same hubs, NAME-p<k>.json each
  local name=$1 k=$2; shift 2
  local go="$tmp/go-$name" pids=() i
  echo "bench: sbload $name: $k processes of: $*"
  for i in $(seq "$k"); do
    # Each sets up only once the one before has: a conversation goes to
    # its own process's agents, the earlier ones' being busy.
    "$tmp/sbload" -hubs "$hubs" -redis "$redis_url" -quiet -wait-for "$go" -out "$out/$name-p$i.json" "$@" \
      >>"$out/sbload.txt" 2>"$out/sbload-$name-p$i.log" &
    pids+=($!)
    until grep -q "set up; waiting" "$out/sbload-$name-p$i.log" 2>/dev/null; do
      kill -0 "${pids[-1]}" 2>/dev/null || { echo "bench: $name part $i failed (see $out/sbload-$name-p$i.log)" >&2; return 1; }
      sleep 0.2
    done
  done
  touch "$go"
  local rc=0
  for i in "${pids[@]}"; do wait "$i" || rc=1; done
  return $rc
}

for r in $(seq "$runs"); do
  start_hubs 1; load "idle-10000-$r" -mode idle -conversations 5000 -idle-window "$idlewin"
done
for n in 2500 9500; do
  start_hubs 1; load "idle-$((2 * n))-1" -mode idle -conversations "$n" -idle-window "$idlewin"
done
start_hubs 2; load steady -mode steady -conversations 5000 -rate 1000 -duration "$dur" -runs "$runs" -baseline
for r in $(seq "$runs"); do
  start_hubs 2; load "ramp-$r" -mode ramp -conversations 5000 -ramp-start 2000 -ramp-step 1000 -duration "$step" -ramp-p99 50ms
done
start_hubs 2; load storm -mode storm -conversations 5000 -rate 1000 -duration "$dur" -runs "$runs" -storm-share 0.02
start_hubs 2; load connect -mode connect -conversations 8000 -runs "$connect_runs"
for h in 1 2 3; do
  start_hubs "$h"; load "growth-h$h-c5000" -mode steady -conversations 5000 -rate 2000 -duration "$growdur" -runs "$runs"
done
start_hubs 3; load growth-h3-c1000 -mode steady -conversations 1000 -rate 2000 -duration "$growdur" -runs "$runs"
start_hubs 3; load_parts growth-h3-c20000 4 -mode steady -conversations 5000 -rate 500 -duration "$growdur" -runs "$runs"
stop_hubs

echo "bench: Go benchmarks"
SWITCHBOARD_TEST_REDIS_URL="$redis_url" go test -run '^$' -count "$benchcount" \
  -bench 'BenchmarkDecodeCommand|BenchmarkEncodeReply|BenchmarkParseDelivery|BenchmarkFanoutPublish|BenchmarkFanoutSockets|BenchmarkAppendMessage|BenchmarkBusRead|BenchmarkSessionList|BenchmarkStats|BenchmarkChatSessions|BenchmarkReport' \
  -benchtime "${BENCHTIME:-1s}" ./api/... ./hub/... | tee "$out/gobench.txt" | grep -E '^(Benchmark|ok|FAIL)' || true

"$tmp/sbload" report -dir "$out"
echo
echo "bench: report in $out/report.md and $out/report.json"
