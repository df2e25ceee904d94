#!/usr/bin/env bash
# scripts/syscalls-per-message.sh: how many system calls the hubs and the
# bare relay make for one chat message, counted by the kernel (perf's
# syscall tracepoints, which cost the process next to nothing), in the
# same shape as sbload's hub-CPU figure: HUBS hubs on a redis-server of
# their own, CONVERSATIONS conversations, RATE msg/s, customer and agent
# on different hubs when HUBS > 1, then the bare relay (sbload -baseline).
# It explains the "hub ≥ 0.6 of the bare relay" figure of issue 15: the
# ratio of the counts follows the ratio of CPU (docs/performance.md,
# "What stands in the way of each target not met").
#
#   scripts/syscalls-per-message.sh                 # 2 hubs, 2,000 conversations, 1,000 msg/s
#   HUBS=1 RATE=2000 scripts/syscalls-per-message.sh
#
# The counts are taken over WINDOW seconds inside each measured run:
# sbload holds each run at -wait-for until perf is attached, so no setup
# or warm-up falls in the window. Needs perf (Debian: linux-perf) and root
# (the syscall tracepoints).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf >/dev/null || { echo "perf (Debian: linux-perf) is needed" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is needed" >&2; exit 1; }
HUBS=${HUBS:-2} CONVERSATIONS=${CONVERSATIONS:-2000} RATE=${RATE:-1000} WINDOW=${WINDOW:-10}
dir=$(mktemp -d); export dir
. scripts/hubs.sh
cleanup() {
  stop_hubs
  [ -n "${lpid:-}" ] && kill "$lpid" 2>/dev/null || true
  [ -n "${rpid:-}" ] && kill "$rpid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
go build -o "$dir/switchboard" ./cmd/switchboard
go build -o "$dir/sbload" ./cmd/sbload
port=$(( 20000 + RANDOM % 12000 ))
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$dir/redis.log" 2>&1 & rpid=$!
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
export SWITCHBOARD_REDIS_URL="redis://127.0.0.1:$port/0" SWITCHBOARD_DEMO=false SWITCHBOARD_LOG_LEVEL=warn \
  SWITCHBOARD_ADMIN_KEY="sk_sys_$RANDOM$RANDOM$RANDOM$RANDOM" \
  SWITCHBOARD_TOKEN_SECRET="sys-token-secret-$RANDOM$RANDOM$RANDOM$RANDOM$RANDOM"
start_hubs "$dir/switchboard" "$HUBS" "$dir"

# The run lasts the window and 5 s either side of it.
go_file=$dir/go
"$dir/sbload" -hubs "$HUB_URLS" -mode steady -conversations "$CONVERSATIONS" -rate "$RATE" \
  -duration "$((WINDOW + 10))s" -redis-background 0 -baseline -quiet -wait-for "$go_file" \
  >"$dir/sbload.txt" 2>"$dir/sbload.log" & lpid=$!

events=read,write,recvfrom,epoll_pwait,futex,nanosleep
ev=$(echo "$events" | tr , '\n' | sed 's/^/syscalls:sys_enter_/' | paste -sd,),raw_syscalls:sys_enter
# count WHO PIDS: waits for sbload to hold its run, starts the run, counts
# the window's system calls of PIDS, and prints them per message.
count() {
  local who=$1 pids=$2 n=$3
  until [ "$(grep -c "set up; waiting for" "$dir/sbload.log" 2>/dev/null || true)" -ge "$n" ]; do
    kill -0 "$lpid" 2>/dev/null || { cat "$dir/sbload.log"; exit 1; }
    sleep 0.2
  done
  [ -n "$pids" ] || pids=$(pgrep -f "$dir/sbload relay" | paste -sd, || true)
  [ -n "$pids" ] || { echo "no $who process" >&2; exit 1; }
  touch "$go_file"
  sleep 5
  perf stat -x, -e "$ev" -p "$pids" -- sleep "$WINDOW" 2>"$dir/perf-$who.csv"
  rm -f "$go_file"
  awk -F, -v who="$who" -v msgs="$((RATE * WINDOW))" '
    { name = $3; sub(/.*sys_enter_?/, "", name); if (name == "") name = "all"; c[name] = $1; order[++n] = name }
    END {
      printf "%-7s", who
      for (i = 1; i <= n; i++) printf "  %s %.1f", order[i], c[order[i]] / msgs
      printf "  (per message, %d messages)\n", msgs
      printf "%f\n", c["all"] / msgs > (ENVIRON["dir"] "/all-" who)
    }' "$dir/perf-$who.csv"
}
echo "system calls per message, $HUBS hub(s), $CONVERSATIONS conversations, $RATE msg/s, ${WINDOW}s window:"
count hubs "$(IFS=,; echo "${HUB_PIDS[*]}")" 1
count relay "" 2
wait "$lpid"
awk -v r="$(cat "$dir/all-relay")" -v h="$(cat "$dir/all-hubs")" 'BEGIN { printf "relay ÷ hubs, system calls per message: %.2f\n", r / h }'
grep -E "baseline:" "$dir/sbload.txt" | sed 's/^/sbload: /' || cat "$dir/sbload.log"
