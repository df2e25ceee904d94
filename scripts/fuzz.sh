#!/usr/bin/env bash
# scripts/fuzz.sh [FUZZTIME]: every Go fuzz target of the repository, one
# after the other, each for FUZZTIME (the argument or the variable; default
# 5s; any -fuzztime value, e.g. 30s, 10m or 100000x). The targets are found with
# `go test -list '^Fuzz' ./...`, so a new one runs without editing this
# script: the request decoders of every HTTP surface (api/fuzz_test.go), the
# usersig verifier (api/usersig) and the WebSocket frame decoder
# (api/protocol). One line per target: package, name, result, seconds, and
# the executions and their rate over the fuzzing time. The first failure prints the
# fuzzer's output and stops the run with a non-zero exit; Go leaves the
# failing input in that package's testdata/fuzz/<target>/, and
# `go test -run '<target>/<file>' <package>` runs it again. A target that
# stops with Go's own race at the -fuzztime deadline (go.dev/issue/75804:
# "context deadline exceeded", nothing found) runs once more.
# FUZZ_PARALLEL is the number of fuzzing workers per target (default 2, one
# per core of a 2-core machine). FUZZ_MINIMIZE bounds each minimization
# (default 100x: a hundred runs): Go's default, 60 s per new input, would
# spend a short run minimizing instead of fuzzing, the HTTP targets taking
# about a millisecond a run. go vet is left to scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-${FUZZTIME:-5s}}
parallel=${FUZZ_PARALLEL:-2}
minimize=${FUZZ_MINIMIZE:-100x}

# `go test -list` prints a package's targets, then its "ok <package>" line.
targets=$(go test -list '^Fuzz' ./... | awk '
  /^Fuzz/ { names[++n] = $1; next }
  /^ok/   { for (i = 1; i <= n; i++) print $2, names[i]; n = 0 }')
if [ -z "$targets" ]; then
  echo "fuzz: no fuzz targets found" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
start=$(now)
n=0
fuzz() {
  go test -vet=off -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" \
    -parallel "$parallel" "$pkg" >"$log" 2>&1
}
# deadline_flake reports whether the run failed only with Go's own race at
# the -fuzztime deadline (go.dev/issue/75804, fixed in Go 1.27): a bare
# "context deadline exceeded", no failing input written, no panic.
deadline_flake() {
  grep -q 'context deadline exceeded' "$log" && ! grep -q -e 'Failing input written' -e '^panic:' -e '_test.go:[0-9]' "$log"
}
while read -r pkg name; do
  t0=$(now)
  if fuzz; then
    result=ok
  elif deadline_flake; then
    # Once more: a second failure, of any kind, stops the run.
    echo "fuzz: $pkg $name stopped with the -fuzztime deadline race (go.dev/issue/75804), nothing found; running it again" >&2
    if fuzz; then result=ok; else result=FAIL; fi
  else
    result=FAIL
  fi
  execs=$(grep -o 'elapsed: [0-9hms]*, execs: [0-9]*' "$log" | tail -n 1 | awk '{
    d = $2; s = 0; n = $4 + 0   # d is a Go duration: 57s, 2m0s, 1h0m0s
    while (match(d, /^[0-9]+[hms]/)) {
      v = substr(d, 1, RLENGTH - 1) + 0; u = substr(d, RLENGTH, 1)
      s += (u == "h" ? 3600 : u == "m" ? 60 : 1) * v; d = substr(d, RLENGTH + 1)
    }
    printf "%d execs, %d/s", n, (s > 0 ? n / s : n) }' || true)
  printf '%-48s %-26s %-4s %6ss  %s\n' "$pkg" "$name" "$result" "$(since "$t0")" "$execs"
  if [ "$result" = FAIL ]; then
    cat "$log"
    exit 1
  fi
  n=$((n + 1))
done <<<"$targets"
printf 'fuzz: %d targets, %s each, %ss in all\n' "$n" "$fuzztime" "$(since "$start")"
