#!/usr/bin/env bash
# scripts/test.sh: Switchboard's whole test suite, the README's test command.
#   1. go vet and gofmt
#   2. every test with -race on the embedded miniredis (and the tests that
#      need their own redis-server processes: restarts, replicas, sentinels;
#      and coturn, installed with apt-get when absent, for the TURN test),
#      and every fuzz target (the request decoders of every surface, the
#      usersig verifier, the WebSocket frame decoder) for 5 s each
#   3. usersig interoperability: a usersig made by Tencent's npm package
#      tls-sig-api-v2 is accepted, and one from `switchboard usersig`
#      verifies with it (node and npm, installed with apt-get when absent)
#   4. the store, API and multi-instance suites again on a real redis-server,
#      which this script installs (apt-get, when absent and root), starts on a
#      spare loopback port without persistence, and stops at exit.
#   5. the benchmarks, run once; tenants on a real Redis Cluster (3 masters,
#      3 replicas, two hubs: TestTenantsOnCluster); and the load tool
#      (cmd/sbload) briefly on two hubs as a correctness smoke test (0 lost,
#      duplicated, out of order) and with 50 tenants; the system calls per
#      message of hubs and relay, briefly (scripts/syscalls-per-message.sh)
#   6. the chaos suite, short (scripts/chaos.sh --short): every fault (a hub
#      killed, Redis restarted, crashed, rolled back, a Sentinel failover,
#      one to a lagging replica and one away from a frozen primary, a
#      Cluster master killed and one frozen) under load, hostile clients, a soak
#   7. the browser end-to-end tests (scripts/e2e: node --test and playwright-core
#      driving Debian's /usr/bin/chromium, installed with apt-get when absent
#      and root) against two hubs built from this tree, on that redis-server.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

# need CMD PACKAGE...: installs the packages with apt-get (as root) when
# CMD is not on the PATH, and stops otherwise.
need() {
  local cmd=$1
  shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    step "installing $* (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "$cmd is not installed and this is not root: apt-get install $*" >&2
    exit 1
  fi
}

step "go vet"
go vet ./...

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

# coturn (Debian's turnserver) for the test that a TURN credential the hub
# mints gets a Go WebRTC peer a relay (hub/ice): it must run, not skip.
need turnserver coturn

step "unit, store, API and multi-instance tests with -race on miniredis (embedded); coturn for hub/ice"
SWITCHBOARD_REQUIRE_COTURN=1 go test -race -count=1 ./...

step "fuzzing every request decoder and the frame decoder, 5 s each"
scripts/fuzz.sh 5s

step "usersig interoperability with the npm package tls-sig-api-v2 (node)"
scripts/usersig-interop.sh

# A real redis-server for the same suites.
need redis-server redis-server redis-sentinel
need redis-sentinel redis-server redis-sentinel

# spare_port prints a loopback port nothing listens on.
spare_port() {
  local p
  for _ in $(seq 100); do
    p=$(( 20000 + RANDOM % 20000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

port=$(spare_port)
redis_dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$redis_dir" --logfile "$redis_dir/redis.log" --daemonize no &
redis_pid=$!
e2e_dir=""
cleanup() {
  kill "$redis_pid" 2>/dev/null || true
  wait "$redis_pid" 2>/dev/null || true
  rm -rf "$redis_dir"
  if [ -n "$e2e_dir" ]; then rm -rf "$e2e_dir"; fi
}
trap cleanup EXIT
for _ in $(seq 100); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$port" ping >/dev/null

step "store, API and multi-instance tests with -race on $(redis-server --version | cut -d' ' -f1-3) at 127.0.0.1:$port"
SWITCHBOARD_TEST_REDIS_URL="redis://127.0.0.1:$port/0" go test -race -count=1 \
  ./hub/... ./api/... ./cmd/...

step "benchmarks run once (so that they keep working; scripts/bench.sh measures)"
SWITCHBOARD_TEST_REDIS_URL="redis://127.0.0.1:$port/0" go test -run '^$' \
  -bench '^Benchmark(ChatSessions|SessionList|Stats|Report)$/^of=1000$' -benchtime 1x ./hub/... ./api/...
SWITCHBOARD_TEST_REDIS_URL="redis://127.0.0.1:$port/0" go test -run '^$' \
  -bench '^Benchmark(DecodeCommand|EncodeReply|ParseDelivery|FanoutPublish|FanoutSockets|AppendMessage|BusRead)$' \
  -benchtime 1x ./hub/... ./api/...

step "tenants on a real Redis Cluster: 3 masters and 3 replicas (redis-cli --cluster create), two hubs: a chat in each of 6 tenants spread over the masters; 20 tenants chatting through a CLUSTER FAILOVER; a master restarted under a full connection pool; a master frozen (SIGSTOP), after which writes and the bus find the promoted replica; 12 tenants chatting through a resharding of their slots; a send caught mid-script by a moving slot; every hub ready, and one starting, while another shard stalls; 12 tenants chatting through a 3 s stall of a master"
SWITCHBOARD_TEST_CLUSTER=1 go test -race -count=1 -p 1 -run 'OnCluster|ClusterFailover' ./cmd/switchboard ./hub/redisstore

step "load tool smoke test: sbload on two hubs, steady then storm (correctness only: 0 lost, duplicated, out of order)"
scripts/load-smoke.sh "redis://127.0.0.1:$port/0"

step "system calls per message, short (scripts/syscalls-per-message.sh; so that it keeps working, nothing timed)"
need perf linux-perf
# A machine whose kernel does not let perf read the syscall tracepoints (a
# container without them) skips it, saying so; anywhere else it must pass.
if perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1; then
  HUBS=2 CONVERSATIONS=200 RATE=200 WINDOW=2 scripts/syscalls-per-message.sh
else
  echo "skipped: perf cannot read the syscall tracepoints here"
fi

step "chaos, short: every fault under load, hostile clients, a soak (scripts/chaos.sh --short)"
scripts/chaos.sh --short

# The browser end-to-end tests: Debian's Chromium, playwright-core from npm.
need chromium chromium

step "browser end-to-end tests (scripts/e2e, $(/usr/bin/chromium --version 2>/dev/null | head -n1))"
(cd scripts/e2e && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
e2e_dir=$(mktemp -d)
go build -o "$e2e_dir/switchboard" ./cmd/switchboard
E2E_REDIS_URL="redis://127.0.0.1:$port/0" SWITCHBOARD_BIN="$e2e_dir/switchboard" \
  node --test --test-concurrency=1 scripts/e2e/tests/

step "all suites passed (miniredis, redis-server and the browser)"
