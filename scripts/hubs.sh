# scripts/hubs.sh, sourced by the scripts that start hub processes
# (load-smoke.sh, chaos.sh).
#
# start_hubs BIN N LOGDIR starts N hubs from BIN, each on a spare loopback
# port below the ephemeral range (retried if taken meanwhile), with the
# SWITCHBOARD_* variables the caller exported, logging to LOGDIR/hubI.log;
# it waits until each listens, appends their pids to HUB_PIDS and sets
# HUB_URLS to their base URLs, comma-separated. A hub that does not start
# prints its log and exits the caller.
HUB_PIDS=()
HUB_URLS=""

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_hubs() {
  local bin=$1 n=$2 dir=$3 i ok p pid
  HUB_URLS=""
  for i in $(seq "$n"); do
    ok=""
    for _ in 1 2 3; do
      p=$(( 20000 + RANDOM % 12000 ))
      listening "$p" && continue
      SWITCHBOARD_ADDR="127.0.0.1:$p" "$bin" >"$dir/hub$i.log" 2>&1 &
      pid=$!
      for _ in $(seq 100); do
        if listening "$p"; then ok=1; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if [ -n "$ok" ]; then HUB_PIDS+=("$pid"); break; fi
    done
    [ -n "$ok" ] || { echo "hub $i did not start:"; cat "$dir/hub$i.log"; exit 1; }
    HUB_URLS="${HUB_URLS:+$HUB_URLS,}http://127.0.0.1:$p"
  done
}

# stop_hubs stops every hub start_hubs started.
stop_hubs() {
  local p
  for p in "${HUB_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${HUB_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  HUB_PIDS=()
}
