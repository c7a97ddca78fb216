#!/usr/bin/env bash
# kind runs its nodes --privileged. On a machine whose Docker daemon was started without some capabilities in
# its bounding set (this sandbox withholds CAP_SYS_RESOURCE), Docker 20.10 still asks runc for all of them and
# every privileged container fails: "runc create failed: unable to start container process: unable to apply
# caps: operation not permitted". This installs hack/capshim (an OCI runtime that drops the capabilities the
# daemon cannot grant, then execs runc) as the daemon's default runtime and reloads the daemon (SIGHUP: the
# running daemon and its containers stay). It does nothing where the bounding set is complete or the shim is
# already the default runtime. Root only.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "docker-capshim: $*" >&2; }
build_shim() { CGO_ENABLED=0 go build -o /usr/local/bin/canarygate-capshim ./hack/capshim; }
pid=$(pgrep -xo dockerd || true)
[ -n "$pid" ] || { log "no dockerd running: nothing to do"; exit 0; }
last=$(cat /proc/sys/kernel/cap_last_cap)
full=$(( (1 << (last + 1)) - 1 ))
bnd=$(( 16#$(awk '/^CapBnd/ {print $2}' /proc/"$pid"/status) ))
if [ $(( bnd & full )) -eq $full ]; then
  log "dockerd holds every capability: --privileged works as is"
  exit 0
fi
if docker info --format '{{.DefaultRuntime}}' 2>/dev/null | grep -qx canarygate-capshim; then
  # A daemon restarted from daemon.json needs the binary there.
  [ -x /usr/local/bin/canarygate-capshim ] || build_shim
  log "already the default runtime"
  exit 0
fi
log "dockerd lacks capabilities (CapBnd $(printf '%x' "$bnd") of $(printf '%x' "$full")): installing capshim as its default runtime"
build_shim
conf=/etc/docker/daemon.json
[ -f "$conf" ] || echo '{}' > "$conf"
cp "$conf" "$conf.canarygate-backup"
python3 - "$conf" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c.setdefault("runtimes", {})["canarygate-capshim"] = {"path": "/usr/local/bin/canarygate-capshim"}
c["default-runtime"] = "canarygate-capshim"
json.dump(c, open(p, "w"))
PY
kill -HUP "$pid"
for _ in $(seq 1 30); do
  docker info --format '{{.DefaultRuntime}}' 2>/dev/null | grep -qx canarygate-capshim && { log "default runtime: canarygate-capshim"; exit 0; }
  sleep 1
done
log "dockerd did not take the new default runtime (docker info: $(docker info --format '{{.DefaultRuntime}}' 2>&1))"
exit 1
