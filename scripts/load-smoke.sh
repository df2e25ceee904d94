#!/usr/bin/env bash
# scripts/load-smoke.sh REDIS_URL: the load tool as a correctness smoke test
# (scripts/test.sh runs it). Two hubs built from this tree on REDIS_URL
# (keys under their own prefix), then cmd/sbload with 200 conversations:
# steady 200 msg/s for 3 s, then a storm (2 % of the sockets dropped and
# resumed every second). sbload exits non-zero on any lost, duplicated or
# out-of-order message, or a refused send. Nothing here is timed.
set -euo pipefail
cd "$(dirname "$0")/.."
redis_url=${1:?usage: scripts/load-smoke.sh REDIS_URL}
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
go build -o "$dir/switchboard" ./cmd/switchboard
go build -o "$dir/sbload" ./cmd/sbload

export SWITCHBOARD_REDIS_URL="$redis_url" SWITCHBOARD_KEY_PREFIX="{sbload-smoke}" SWITCHBOARD_DEMO=false \
  SWITCHBOARD_LOG_LEVEL=warn SWITCHBOARD_ADMIN_KEY="sk_smoke_$RANDOM$RANDOM$RANDOM$RANDOM" \
  SWITCHBOARD_TOKEN_SECRET="smoke-token-secret-$RANDOM$RANDOM$RANDOM$RANDOM$RANDOM"
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
urls=""
for i in 1 2; do
  ok=""
  for _ in 1 2 3; do # below the ephemeral port range; retried if taken meanwhile
    p=$(( 20000 + RANDOM % 12000 ))
    listening "$p" && continue
    SWITCHBOARD_ADDR="127.0.0.1:$p" "$dir/switchboard" >"$dir/hub$i.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
      if listening "$p"; then ok=1; break; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if [ -n "$ok" ]; then pids+=("$pid"); break; fi
  done
  [ -n "$ok" ] || { echo "load-smoke: hub $i did not start:"; cat "$dir/hub$i.log"; exit 1; }
  urls="${urls:+$urls,}http://127.0.0.1:$p"
done
for mode in steady storm; do
  "$dir/sbload" -hubs "$urls" -mode "$mode" -conversations 200 -rate 200 -duration 3s -settle 500ms -quiet
done
