#!/usr/bin/env bash
# make soak-lab: the offline lab rehearsal (istio-lab on a fresh kind cluster each time, as `make lab` runs
# it) N times in a row (default 10), one line per run, then the false-positive count. The lab's upgrade is
# clean — every run should pass — so any run that did not pass is a false positive of the harness or a flake
# of the lab: a bug to fix, never a threshold to raise. Exit 1 a gate failed, 3 the harness spoiled the
# measurement; both count, and each run's summary (report.json) names what failed. The reports stay in
# SOAK_DIR (default a temporary directory, printed). Exits non-zero unless every run passed.
set -euo pipefail
N="${N:-10}"
cd "$(dirname "$0")/.."
eval "$(bash hack/lab-env.sh)"
go build -o bin/canarygate ./cmd/canarygate
dir="${SOAK_DIR:-$(mktemp -d)}"
mkdir -p "$dir"
archives=()
for a in $CANARYGATE_LAB_ARCHIVES; do archives+=(--image-archive "$a"); done
echo "soak-lab: $N runs of istio-lab on $(git rev-parse --short HEAD 2>/dev/null || echo '?'), reports in $dir ($(nproc) CPUs)"
pass=0
for i in $(seq "$N"); do
  start=$(date +%s)
  code=0
  ./bin/canarygate run istio-lab --no-env --out "$dir/run-$i" --var CLUSTER="canarygate-soak-lab" \
    --var NODE_IMAGE="$CANARYGATE_NODE_IMAGE" --var ISTIO_CHARTS="$CANARYGATE_LAB_CHARTS" \
    --var OLD_ISTIO_CHARTS="$CANARYGATE_LAB_OLD_CHARTS" --var ISTIO_HUB="$CANARYGATE_LAB_HUB" \
    --var OLD_TAG="$CANARYGATE_LAB_OLD_TAG" --var NEW_TAG="$CANARYGATE_LAB_NEW_TAG" \
    "${archives[@]}" >"$dir/run-$i.log" 2>&1 || code=$?
  if [ "$code" -eq 0 ]; then
    pass=$((pass + 1))
    result=pass
  else
    result="FALSE POSITIVE (exit $code)"
    grep -E '✗|verdict|error' "$dir/run-$i.log" | tail -5 || true
  fi
  echo "run $i/$N: $result in $(($(date +%s) - start))s"
done
echo "soak-lab: $((N - pass)) false positive(s) in $N clean runs"
[ "$pass" -eq "$N" ]
