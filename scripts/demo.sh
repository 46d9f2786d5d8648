#!/usr/bin/env bash
# The main job on this machine, from nothing: installs the packages, builds the project (release),
# builds a busybox root filesystem from Debian's busybox-static, and runs containers through minirun.
# Run as root. Everything it creates lives under $DEMO_DIR (default /var/lib/minikubelet/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (containers need namespaces, mounts and cgroups)" >&2; exit 1; }
export PATH=/opt/swift/usr/bin:$PATH
DEMO_DIR=${DEMO_DIR:-/var/lib/minikubelet/demo}

scripts/install-deps.sh
echo "== building (release, static Swift stdlib)"
for product in minirun minirun-shim; do
    swift build -c release --static-swift-stdlib --product "$product" 2>&1 | grep -E 'error|Compiling|Build' | tail -2
done
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)

bundle=$DEMO_DIR/busybox
if [ ! -x "$bundle/rootfs/bin/busybox" ]; then
    scripts/make-busybox-rootfs.sh "$bundle/rootfs"
fi
cd "$bundle"
rm -f config.json && "$bin/minirun" spec
hard=$(ulimit -Hn)
# A non-interactive demo: print who and where we are, with a 64 MiB memory limit and a pids limit.
jq --argjson nofile "$hard" '
  .process.terminal = false
  | .process.args = ["sh", "-c", "echo hello from minirun: pid $$ on $(hostname); id; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"]
  | .process.rlimits = [{"type": "RLIMIT_NOFILE", "hard": $nofile, "soft": $nofile}]
  | .hostname = "demo"
  | .linux.cgroupsPath = "minirun-demo"
  | .linux.resources = {"memory": {"limit": 67108864}, "pids": {"limit": 64}}
' config.json > config.json.new && mv config.json.new config.json

echo "== minirun run"
"$bin/minirun" --root /run/minirun-demo run --bundle "$bundle" demo-$$
echo "== lifecycle: create, state, start, kill, delete"
jq '.process.args = ["sleep", "30"]' config.json > config.json.new && mv config.json.new config.json
id=demo-life-$$
"$bin/minirun" --root /run/minirun-demo create --bundle "$bundle" "$id"
"$bin/minirun" --root /run/minirun-demo state "$id"
"$bin/minirun" --root /run/minirun-demo start "$id"
"$bin/minirun" --root /run/minirun-demo list
"$bin/minirun" --root /run/minirun-demo kill "$id" KILL
sleep 0.2
"$bin/minirun" --root /run/minirun-demo delete "$id"
echo "== done"
