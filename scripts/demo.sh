#!/usr/bin/env bash
# The main job, from nothing: installs the packages, builds the project (release), builds the offline busybox
# image (Debian's busybox-static, no downloads), starts the agent, loads the image, drops the examples into the
# manifest directory, waits for the pods and prints `agentctl ps`.
#
#   sudo scripts/demo.sh                 # host mode (a user's VM): agent on the host, /etc/minikubelet
#   sudo scripts/demo.sh --netns NAME    # the agent runs inside network namespace NAME, created here
#                                        # (use this on shared machines: the host's network is never touched)
#   sudo scripts/demo.sh --stop          # stops the agent started by this script (pods keep their state)
#
# Environment: MANIFESTS (default /etc/minikubelet), ROOT (/var/lib/minikubelet), SOCKET (/run/minikubelet/agent.sock),
# CNI_CONF_DIR (/etc/cni/net.d on the host; $ROOT/demo/cni-conf with --netns, so the host's CNI directory stays untouched).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (the agent creates namespaces, mounts and cgroups)" >&2; exit 1; }
export PATH=/opt/swift/usr/bin:$PATH
MANIFESTS=${MANIFESTS:-/etc/minikubelet}
ROOT=${ROOT:-/var/lib/minikubelet}
SOCKET=${SOCKET:-/run/minikubelet/agent.sock}
pidfile=/run/minikubelet/demo-agent.pid
netns=""
case "${1:-}" in
    --netns) netns=${2:?--netns needs a name} ;;
    --stop)
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null && echo "agent stopped" || echo "no demo agent running"
        rm -f "$pidfile"; exit 0 ;;
    "") ;;
    *) echo "usage: demo.sh [--netns NAME | --stop]" >&2; exit 2 ;;
esac

scripts/install-deps.sh
echo "== building (release): minikubelet agentctl minirun minirun-shim"
scripts/build-release.sh minirun minirun-shim minikubelet agentctl
bin=$(scripts/build-release.sh --show-bin-path)
agentctl() { "$bin/agentctl" --socket "$SOCKET" "$@"; }

layout=$ROOT/demo/busybox-layout
[ -f "$layout/index.json" ] || examples/make-busybox-image.sh "$layout"

if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "== agent already running (pid $(cat "$pidfile"))"
else
    mkdir -p "$(dirname "$SOCKET")" "$MANIFESTS" "$ROOT"
    launch=()
    cni_conf_dir=${CNI_CONF_DIR:-/etc/cni/net.d}
    if [ -n "$netns" ]; then
        cni_conf_dir=${CNI_CONF_DIR:-$ROOT/demo/cni-conf}
        ip netns list | grep -qw "$netns" || ip netns add "$netns"
        ip -n "$netns" link set lo up
        # nsenter rather than `ip netns exec`: the latter also gives the agent a private mount namespace, so a
        # restarted agent would not see the mounts of the one before it.
        launch=(nsenter "--net=/run/netns/$netns")
        echo "== agent runs in network namespace $netns"
    fi
    log=$ROOT/demo/agent.log
    mkdir -p "$(dirname "$log")"
    setsid "${launch[@]}" "$bin/minikubelet" --manifests "$MANIFESTS" --root "$ROOT" --socket "$SOCKET" \
        --cni-conf-dir "$cni_conf_dir" >>"$log" 2>&1 < /dev/null &
    echo $! > "$pidfile"
    # Wait until the API answers (a socket file left by an earlier, stopped agent exists before the new one listens).
    for _ in $(seq 100); do agentctl get pods >/dev/null 2>&1 && break; sleep 0.1; done
    agentctl get pods >/dev/null 2>&1 || { echo "agent did not start; log: $log" >&2; tail -20 "$log" >&2; exit 1; }
    echo "== agent started (pid $(cat "$pidfile"), log $log)"
fi

agentctl image load "$layout" --name minikubelet.local/busybox:1.36
for f in examples/my-pod.yml examples/exec-liveness.yaml; do agentctl apply -f "$f"; done
echo "== waiting for the pods"
for _ in $(seq 60); do
    agentctl get pods | awk 'NR > 1 && $3 != "Running" { pending = 1 } END { exit pending }' && break
    sleep 0.5
done
agentctl ps
