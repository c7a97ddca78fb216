#!/usr/bin/env bash
# Runs CI (.ci/run, the README's test command) N times in a row on a fresh clone of this repository while
# busy loops load the CPU — CI may share its machine — and prints one line per run. Exits non-zero unless
# every run was green. N (default 10) and LOAD (busy loops, default 2) are environment variables; the log of
# a failed run is kept in SOAK_LOGS (default /tmp).
set -euo pipefail
N="${N:-10}"
LOAD="${LOAD:-2}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
git clone -q "$repo" "$work/clone"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq "$LOAD"); do
  ( while :; do :; done ) &
  pids+=($!)
done
echo "soak-ci: $N runs of .ci/run on $(git -C "$work/clone" rev-parse --short HEAD) with $LOAD busy loops ($(nproc) CPUs)"
pass=0
for i in $(seq "$N"); do
  start=$(date +%s)
  if (cd "$work/clone" && CI=true bash .ci/run >"$work/run-$i.log" 2>&1); then
    result=green
    pass=$((pass + 1))
  else
    result=RED
    cp "$work/run-$i.log" "${SOAK_LOGS:-/tmp}/soak-ci-run-$i.log"
    grep -E '^(--- FAIL|FAIL)' "$work/run-$i.log" | head -5 || true
  fi
  echo "run $i/$N: $result in $(($(date +%s) - start))s"
done
echo "soak-ci: $pass of $N green"
[ "$pass" -eq "$N" ]
