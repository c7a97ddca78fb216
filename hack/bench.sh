#!/usr/bin/env bash
# make bench: canarygate's load generator and the vegeta CLI (the version in go.mod, installed here) against
# the same loopback server (hack/okserver), in one run, side by side:
#   1. RATE/s (default 15000) for DURATION (default 120s): achieved/asked, failures, peak RSS, and canarygate's
#      requests per second over the first and last 10 s (flat means no per-result cost growing with the run);
#   2. rate max with MAX_WORKERS (default 64) workers for MAX_DURATION (default 15s), RUNS (default 5) times
#      alternating with the vegeta CLI, against hack/okserver's two shapes ("ok": a two-byte body; "app": a
#      small JSON body and several headers, as a real app answers): the median throughput ratio per shape;
#      ANCHOR=<git ref> measures canarygate built at that ref too, in the same runs (before and after);
#      the server and the generators on CPUs of their own (PIN, default 1); beside each throughput, the
#      generator's requests per CPU-second (user+system from /usr/bin/time, which the VM's steal does not
#      move), and the median of that ratio too;
#   3. 1M results (10000/s for 100 s) with every report: peak RSS, and the time to render the reports
#      (canarygate report) against `vegeta plot` of the same results file;
#   4. the in-mesh results path (meshload's ingest benchmarks: stand-in generators in another process, JSON
#      and binary answers): results per CPU-second of the ingesting process, bytes and allocations per
#      result, and peak memory with 50 generators (INGEST_RESULTS results, default 3M, per measure).
#   5. on the kept lab cluster, when there is one: the highest in-mesh rate the lab sustains beside the host's
#      stream (hack/lab-scale.sh: per generator achieved/asked, pull lag, canarygate's CPU and RSS).
# Also the Go benchmarks of the aggregate and the scenario parser (step "go"). STEPS (default "1 2 3 4 5 go")
# picks the steps to run, e.g. STEPS=2 RUNS=9 MAX_DURATION=30s make bench. Peak RSS is /usr/bin/time -v's
# "Maximum resident set size".
set -euo pipefail
cd "$(dirname "$0")/.."
RATE="${RATE:-15000}"
DURATION="${DURATION:-120s}"
MAX_WORKERS="${MAX_WORKERS:-64}"
MAX_DURATION="${MAX_DURATION:-15s}"
RUNS="${RUNS:-5}"
STEPS=" ${STEPS:-1 2 3 4 5 go} "
step() { [[ "$STEPS" == *" $1 "* ]]; }
work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
# At 15 000/s neither side may run out of file descriptors: the server's accept loop would stall and both
# generators would measure that instead.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

vegeta_version="$(go list -m -f '{{.Version}}' github.com/tsenart/vegeta/v12)"
GOBIN="$work/bin" go install "github.com/tsenart/vegeta/v12@$vegeta_version"
go build -o "$work/bin/canarygate" ./cmd/canarygate
go build -o "$work/bin/okserver" ./hack/okserver
VEGETA="$work/bin/vegeta"
CG="$work/bin/canarygate"
# Every measurement gets a fresh server, once the sockets the previous one left in TIME_WAIT are gone: a run
# that overloaded the server (or used up ephemeral ports) must not spoil the next one.
server_pin=(env) # step 2 pins the server to a CPU of its own (PIN)
client_pin=(env)
fresh_server() { # [shape: ok (default) or app, hack/okserver's -shape]
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  for _ in $(seq 120); do
    [ "$(ss -Htan state time-wait 2>/dev/null | wc -l)" -lt 1000 ] && break
    sleep 1
  done
  : >"$work/addr"
  "${server_pin[@]}" "$work/bin/okserver" -shape "${1:-ok}" >"$work/addr" 2>>"$work/okserver.log" &
  server_pid=$!
  for _ in $(seq 100); do [ -s "$work/addr" ] && break; sleep 0.1; done
  addr="$(head -n1 "$work/addr")"
}
fresh_server
echo "bench: target hack/okserver on loopback (a fresh one per measurement), vegeta $vegeta_version, $(nproc) CPUs"

rss() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1" | awk '{printf "%.0f MB", $1/1024}'; }
secs() { sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1"; }

scenario() { # name rate warmup formats [maxWorkers] (writes the scenario for the current server)
  local extra=""
  [ -n "${5:-}" ] && extra=", maxWorkers: $5"
  cat >"$work/$1.yaml" <<YAML
name: $1
recordOnly: true
traffic:
  warmup: $3
  cooldown: 0s
  streams:
    - {name: s, url: "http://$addr/", rate: $2, timeout: 5s$extra}
steps:
  - {name: end, soak: {duration: 100ms}}
report: {dir: "$work/$1", formats: [$4]}
YAML
}

summarize() { # run-dir: achieved/asked, failures, first and last 10 s
  python3 - "$1/summary.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["streams"][0]
g = s["generator"]
ser = [x["requests"] for x in s["series"]][:-1]  # the last second is partial
asked = g["askedRps"]
first, last = ser[:10], ser[-10:]
ratio = f"{g['achievedRps']/asked:.3f} of asked" if asked else "rate max"
print(f"  canarygate: {s['totals']['requests']} requests, {g['achievedRps']:.0f}/s ({ratio}), "
      f"{s['totals']['failures']} failures, late {g['late']}, local errors {g['localErrors']}, verdict {r['verdict']}")
print(f"  canarygate per second, first 10 s: {sum(first)/len(first):.0f}/s {first}")
print(f"  canarygate per second, last 10 s:  {sum(last)/len(last):.0f}/s {last}")
PY
}

vegeta_report() { # results file
  "$VEGETA" report -type=json "$1" >"$work/report.json"
  python3 - "$work/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lat = r["latencies"]
print(f"  vegeta CLI: {r['requests']} requests, {r['throughput']:.0f}/s (rate {r['rate']:.0f}/s), "
      f"success {r['success']:.4f}, p99 {lat['99th']/1e6:.1f} ms")
PY
}

if step 1; then
echo "== 1. ${RATE}/s for $DURATION"
fresh_server
echo "GET http://$addr/" | /usr/bin/time -v "$VEGETA" attack -rate="$RATE" -duration="$DURATION" >"$work/v1.bin" 2>"$work/v1.time"
vegeta_report "$work/v1.bin"
echo "  vegeta CLI peak RSS $(rss "$work/v1.time")"
rm -f "$work/v1.bin"
fresh_server
scenario c1 "$RATE/s" "$DURATION" "json, vegeta"
/usr/bin/time -v "$CG" run "$work/c1.yaml" --no-env >/dev/null 2>"$work/c1.time" || true
summarize "$work/c1"
echo "  canarygate peak RSS $(rss "$work/c1.time")"
rm -rf "$work/c1"
fi

if step 2; then
echo "== 2. rate max with $MAX_WORKERS workers: $RUNS alternating runs of $MAX_DURATION each, per server shape"
# Both throughputs are vegeta report's, each of its own results file (successes per second of the attack), so
# that the two are computed alike; a fresh server per run; the median of the ratios per shape. ANCHOR (a git
# ref) adds canarygate built at that ref to every run, in the same alternation: before and after in one run.
# With PIN=1 (the default where there are two CPUs or more and taskset) the server runs on CPU 0 and each
# generator on CPU 1 (Go sizes GOMAXPROCS from the affinity): the generator's own CPU is then the limit, so
# the ratio measures its cost per request rather than how the scheduler shared two CPUs with the server. On
# the 2-CPU VM this was written on, single runs still moved ±15 % either way (the same binary and server:
# 27–38 k/s), pinned or not: compare medians of many runs, in one bench run, beside an ANCHOR.
if [ "${PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  server_pin=(taskset -c 0)
  client_pin=(taskset -c 1)
  echo "  pinned: server on CPU 0, generator on CPU 1 (PIN=0 to share every CPU)"
fi
cgs=("$CG")
if [ -n "${ANCHOR:-}" ]; then
  mkdir -p "$work/anchor"
  git archive "$ANCHOR" | tar -x -C "$work/anchor"
  (cd "$work/anchor" && go build -o "$work/bin/canarygate-anchor" ./cmd/canarygate)
  cgs+=("$work/bin/canarygate-anchor")
  echo "  anchor: canarygate at $ANCHOR ($(git rev-parse --short "$ANCHOR")), beside this tree's"
fi
# measure results-file cpu-file: "throughput requests-per-CPU-second" of one generator's run.
measure() {
  "$VEGETA" report -type=json "$1" | python3 -c 'import json, sys
r = json.load(sys.stdin)
user, system = (float(x) for x in open(sys.argv[1]).read().split())
print(r["throughput"], r["requests"] / (user + system))' "$2"
}
ratios_for() { # shape
  local shape="$1" v c j label
  for j in "${!cgs[@]}"; do : >"$work/ratios-$shape-$j"; done
  for i in $(seq "$RUNS"); do
    fresh_server "$shape"
    echo "GET http://$addr/" | /usr/bin/time -o "$work/cpu" -f '%U %S' "${client_pin[@]}" "$VEGETA" attack -rate=0 -max-workers="$MAX_WORKERS" -duration="$MAX_DURATION" >"$work/v2.bin"
    v="$(measure "$work/v2.bin" "$work/cpu")"
    for j in "${!cgs[@]}"; do
      label=canarygate
      [ "$j" -gt 0 ] && label="canarygate@$ANCHOR"
      fresh_server "$shape"
      scenario c2 max "$MAX_DURATION" "vegeta" "$MAX_WORKERS"
      /usr/bin/time -o "$work/cpu" -f '%U %S' "${client_pin[@]}" "${cgs[$j]}" run "$work/c2.yaml" --no-env >/dev/null 2>&1 || true
      c="$(measure "$work/c2/results.bin" "$work/cpu")"
      python3 - "$v" "$c" "$shape" "$i" "$label" "$work/ratios-$shape-$j" <<'PY'
import sys
(v, vc), (c, cc) = (map(float, a.split()) for a in sys.argv[1:3])
shape, run, label, out = sys.argv[3:]
print(f"  {shape} run {run}: vegeta CLI {v:.0f}/s ({vc:.0f} per CPU-second), {label} {c:.0f}/s "
      f"({cc:.0f} per CPU-second), ratio {c/v:.3f} (per CPU-second {cc/vc:.3f})")
with open(out, "a") as f:
    print(c / v, cc / vc, file=f)
PY
      rm -rf "$work/c2"
    done
    rm -f "$work/v2.bin"
  done
  for j in "${!cgs[@]}"; do
    label=canarygate
    [ "$j" -gt 0 ] && label="canarygate@$ANCHOR"
    python3 - "$work/ratios-$shape-$j" "$shape" "$label" <<'PY'
import statistics, sys
rows = [tuple(map(float, line.split())) for line in open(sys.argv[1])]
t, c = [r[0] for r in rows], [r[1] for r in rows]
print(f"  {sys.argv[2]}: median ratio {sys.argv[3]}/vegeta CLI {statistics.median(t):.3f} over {len(t)} runs "
      f"(min {min(t):.3f}, max {max(t):.3f}); requests per CPU-second {statistics.median(c):.3f} "
      f"(min {min(c):.3f}, max {max(c):.3f})")
PY
  done
}
ratios_for ok
ratios_for app
server_pin=(env)
client_pin=(env)
fi

if step 3; then
echo "== 3. 1M results (10000/s for 100 s) with every report"
fresh_server
scenario c3 10000/s 100s "html, junit, json, markdown, vegeta"
/usr/bin/time -v "$CG" run "$work/c3.yaml" --no-env >/dev/null 2>"$work/c3.time" || true
summarize "$work/c3"
echo "  canarygate run + every report: peak RSS $(rss "$work/c3.time")"
/usr/bin/time -v "$CG" report "$work/c3" >/dev/null 2>"$work/c3r.time"
/usr/bin/time -v "$VEGETA" plot "$work/c3/results.bin" >"$work/plot.html" 2>"$work/c3p.time"
echo "  render reports: canarygate report $(secs "$work/c3r.time") ($(rss "$work/c3r.time")); vegeta plot of the same results.bin $(secs "$work/c3p.time") ($(rss "$work/c3p.time"))"
fi

if step 4; then
echo "== 4. In-mesh ingest: ${INGEST_RESULTS:-3000000} results from stand-in generators in another process over loopback (meshload BenchmarkInMeshIngest*)"
# The whole path (buffer, encoding, HTTP, Cursor.Pull, merger, aggregate), per result of the ingesting process:
# CPU from getrusage (user+system), bytes received, allocations; peak heap from runtime/metrics
# (/memory/classes/heap/objects:bytes) and peak RSS (VmHWM, reset at the start of each measure).
go test ./meshload -run '^$' -bench 'InMeshIngest' -benchtime "${INGEST_RESULTS:-3000000}x" -count 1 >"$work/ingest.txt"
python3 - "$work/ingest.txt" <<'PY'
import re, sys
for line in open(sys.argv[1]):
    if not line.startswith("BenchmarkInMeshIngest"):
        continue
    f = line.split()
    name = re.sub(r"-\d+$", "", f[0])
    m = {f[i + 1]: float(f[i]) for i in range(2, len(f) - 1, 2)}
    gens = "50 generators (2 000/pull)" if "Many" in name else "4 generators (5 000/pull)"
    rss = f", RSS {m['peak-RSS-MB']:.0f} MB" if "peak-RSS-MB" in m else ""
    print(f"  {gens}, {name.split('/')[-1]}: {m['results/cpu-s']:,.0f} results per CPU-second, "
          f"{m['wire-B/result']:.1f} B/result on the wire, {m['allocs/result']:.2f} allocs/result, "
          f"peak heap {m['peak-heap-MB']:.0f} MB{rss} ({m['peak-held']:,.0f} results held)")
PY
fi

if step 5; then
echo "== 5. In-mesh load on the offline lab (hack/lab-scale.sh)"
# Only where the lab's cluster is kept (make lab ARGS=--keep-cluster): building it is the lab's ~35 min cold.
if command -v kind >/dev/null 2>&1 && kind get clusters 2>/dev/null | grep -qx "${CLUSTER:-canarygate-lab}" ||
   docker ps --format '{{.Names}}' 2>/dev/null | grep -qx "${CLUSTER:-canarygate-lab}-control-plane"; then
  bash hack/lab-scale.sh | sed 's/^/  /'
else
  echo "  skipped: no lab cluster ${CLUSTER:-canarygate-lab} (make lab ARGS=--keep-cluster keeps one)"
fi
fi

if step go; then
echo "== Go benchmarks"
go test ./aggregate -run '^$' -bench . -benchmem | grep -E '^Benchmark'
go test ./scenarios -run '^$' -bench ParseMalformed -benchtime 3x | grep -E '^Benchmark'
fi
