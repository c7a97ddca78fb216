#!/usr/bin/env bash
# The lab's in-mesh scale figure: the highest in-mesh rate the offline lab sustains with GENERATORS generator
# pods (default 2) beside the host's own stream (HOST_RATE, default 100/s), keeping schedule and losing
# nothing. On the lab cluster a kept `make lab` left (`make lab ARGS=--keep-cluster`; CLUSTER, default
# canarygate-lab), hack/lab-scale.yaml runs for DURATION (default 20s) at each of RATES (default
# "200 400 800 1600 3200") until one is not sustained (canarygate exits 3: a generator fell behind, or a
# result was lost; or 1: unexpected answers). Per rate: each generator's achieved/asked (its own "kept its
# schedule" record), its worst pull lag, canarygate's CPU (user+sys over the run, and as a share of the wall
# clock) and peak RSS (/usr/bin/time -v). `make bench` runs it when the lab cluster is there.
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER="${CLUSTER:-canarygate-lab}"
GENERATORS="${GENERATORS:-2}"
HOST_RATE="${HOST_RATE:-100/s}"
DURATION="${DURATION:-20s}"
RATES="${RATES:-200 400 800 1600 3200}"
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
eval "$(bash hack/lab-env.sh)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
go build -o "$work/canarygate" ./cmd/canarygate
echo "lab-scale: cluster $CLUSTER, $GENERATORS generator pod(s) in demo-b → app-a (proxyless gRPC, mTLS), host stream $HOST_RATE, $DURATION per rate, $(nproc) CPUs"
printf '%-8s %-5s %-22s %-18s %-9s %s\n' "rate/s" exit "achieved/asked" "canarygate CPU" "peak RSS" verdict
best=""
for rate in $RATES; do
  out="$work/r$rate"
  set +e
  /usr/bin/time -v -o "$work/time-$rate" "$work/canarygate" run hack/lab-scale.yaml --no-env --reuse-cluster --yes --out "$out" \
    --var CLUSTER="$CLUSTER" --var NODE_IMAGE="$CANARYGATE_NODE_IMAGE" --var RATE="$rate" --var GENERATORS="$GENERATORS" \
    --var HOST_RATE="$HOST_RATE" --var DURATION="$DURATION" >"$work/out-$rate" 2>&1
  code=$?
  set -e
  python3 - "$out/summary.json" "$work/time-$rate" "$rate" "$code" <<'PY'
import json, re, sys
summary, timef, rate, code = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
t = open(timef).read()
user = float(re.search(r"User time \(seconds\): ([\d.]+)", t).group(1))
sys_ = float(re.search(r"System time \(seconds\): ([\d.]+)", t).group(1))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", t).group(1).split(":")
wall = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
try:
    r = json.load(open(summary))
except OSError:
    print(f"{rate:<8} {code:<6} no summary written"); sys.exit(0)
gens = {}
for o in (r.get("observations") or {}).get("generators/in-mesh", []):
    v = o["value"]
    m = re.match(r"(\S+) kept its schedule: (\d+) requests at ([\d.e+]+)/s, worst (\S+) late", v)
    if m:
        gens.setdefault(m.group(1), {}).update(sent=m.group(2), share=m.group(3), late=m.group(4))
    m = re.match(r"(\S+) fell behind: (.*)", v)
    if m:
        gens.setdefault(m.group(1), {}).update(behind=m.group(2))
    m = re.match(r"(\S+) stopped: (\d+) results pulled.*worst pull lag ([^)]+)\)", v)
    if m:
        gens.setdefault(m.group(1), {}).update(pulled=m.group(2), lag=m.group(3))
s = next((s for s in r["streams"] if s["name"] == "in-mesh"), None)
g = (s or {}).get("generator") or {}
asked = f"{g.get('achievedRps', 0):.0f}/{rate}"
print(f"{rate:<8} {code:<5} {asked:<22} {user+sys_:5.1f}s ({100*(user+sys_)/wall:3.0f}%)    {rss:4.0f} MB   {r['verdict']}{': ' + r['error'][:160] if r.get('error') else ''}")
for name, d in sorted(gens.items()):
    what = f"fell behind: {d['behind']}" if "behind" in d else f"{d.get('sent', '?')} sent at {d.get('share', '?')}/s, worst {d.get('late', '?')} late"
    print(f"           {name}: {what}; {d.get('pulled', '?')} pulled, worst pull lag {d.get('lag', '?')}")
PY
  if [ "$code" != 0 ]; then
    echo "lab-scale: $rate/s not sustained (exit $code); canarygate said:"; tail -n 5 "$work/out-$rate" | sed 's/^/  /'
    break
  fi
  best="$rate"
done
echo "lab-scale: highest in-mesh rate sustained with $GENERATORS generator(s) beside $HOST_RATE from the host: ${best:-none}/s"
