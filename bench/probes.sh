#!/usr/bin/env bash
# Probe load (issue 5's benchmark): N pods (default 100), each with an exec, an httpGet and a tcpSocket probe at
# period 1 s, on a real agent in a network namespace of its own. Reports the agent's CPU (% of one core, from
# /proc/<pid>/stat utime+stime over the window) and RSS (VmRSS at the end), and probe latency p50/p99 per probe
# type, computed like Prometheus' histogram_quantile from the difference of two /metrics scrapes (so the figures
# have the histogram buckets' resolution: 5, 10, 25, 50, 100 ms ...). Target (issue 5): < 5% of a core, < 60 MiB.
#
# Usage: bench/probes.sh [-n PODS] [-w WINDOW_SECONDS] [--bin DIR] [--probes exec,http,tcp] [--floor]
#   --bin DIR   where minikubelet and agentctl are (default: .build/debug; a release build is fairer:
#               scripts/build-release.sh minikubelet agentctl minirun minirun-shim, then --bin .build/release)
#   --probes L  which probes the pods get, comma-separated (default exec,http,tcp; "none" for the no-probe floor):
#               the per-type cost is the difference from the floor
#   --floor     the peer: the pods get no probes from the agent; bench/probe-floor.c (one C thread, epoll, no
#               runtime: the least any prober can spend) runs the same probes against the same pods in the agent's
#               network namespace during the window, and its CPU is reported next to the agent's
# Each pod: container `app` (busybox httpd on 8080) with livenessProbe exec [true] and readinessProbe httpGet / on
# 8080 (the exec has timeoutSeconds 5: on a saturated machine 1 s timeouts would kill containers); container `side` (sleep) with readinessProbe tcpSocket 8080 (same network namespace). Probes that need a
# pod IP go over the CNI bridge to the pod (readiness only: a slow machine does not get pods killed).
# Needs root, umoci and busybox-static (examples/make-busybox-image.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

pods=100 window=60 bin=.build/debug probes=exec,http,tcp floor=false
while [ $# -gt 0 ]; do
    case "$1" in
        -n) pods=$2; shift 2 ;;
        -w) window=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --probes) probes=$2; shift 2 ;;
        --floor) floor=true; shift ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
for b in minikubelet agentctl; do [ -x "$bin/$b" ] || { echo "no $bin/$b (swift build --product $b)" >&2; exit 1; }; done

work=$(mktemp -d /tmp/mk-probe-bench.XXXXXX)
ns="mk-probe-bench-$$"
cg="mk-probe-bench-$$"
sock=$work/agent.sock
agent_pid=""
ctl() { "$bin/agentctl" --socket "$sock" "$@"; }
cleanup() {
    set +e
    rm -f "$work"/manifests/*.yaml
    for _ in $(seq 180); do [ "$(ctl get pods 2>/dev/null | wc -l)" -le 1 ] && break; sleep 1; done
    [ -n "$agent_pid" ] && kill "$agent_pid" && wait "$agent_pid" 2>/dev/null
    ip netns delete "$ns" 2>/dev/null
    remove_cgroup_parent "$cg"
    rm -rf "$work" "/dev/shm/mk-probe-floor-$$"
}
trap cleanup EXIT

mkdir -p "$work/manifests" "$work/root"
ip netns add "$ns"
nsenter --net="/run/netns/$ns" "$bin/minikubelet" --manifests "$work/manifests" --root "$work/root" --socket "$sock" \
    --node-name bench-node --cgroup-parent "$cg" --max-pods $((pods + 10)) --cni-conf-dir "$work/cni-conf" >"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 60); do ctl get pods >/dev/null 2>&1 && break; sleep 0.5; done
layout=/tmp/minikubelet-bench-busybox-layout
[ -f "$layout/index.json" ] || examples/make-busybox-image.sh "$layout" >/dev/null
ctl image load "$layout" --name minikubelet.local/busybox:1.36 >/dev/null

# Each probe line is empty unless chosen (YAML allows the blank line).
has() { case ",$probes," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
agent_has() { ! $floor && has "$1"; }
exec_probe="" http_probe="" tcp_probe=""
agent_has exec && exec_probe='livenessProbe: {exec: {command: ["true"]}, periodSeconds: 1, timeoutSeconds: 5}'
agent_has http && http_probe='readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}'
agent_has tcp && tcp_probe='readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}'
for p in ${probes//,/ }; do case "$p" in exec|http|tcp|none) ;; *) echo "unknown probe type: $p" >&2; exit 2 ;; esac; done

for i in $(seq "$pods"); do
    cat >"$work/manifests/p$i.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: p$i}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: minikubelet.local/busybox:1.36
    command: [sh, -c, "echo ok > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"]
    $exec_probe
    $http_probe
  - name: side
    image: minikubelet.local/busybox:1.36
    command: [sleep, "100000"]
    $tcp_probe
EOF
done
echo "waiting for $pods pods to run..." >&2
for _ in $(seq 600); do
    running=$(ctl get pods 2>/dev/null | awk 'NR > 1 && $3 == "Running"' | wc -l)
    [ "$running" -ge "$pods" ] && break
    sleep 1
done
echo "$running/$pods pods Running (agent pid $agent_pid); settling 10 s, then measuring ${window} s" >&2
sleep 10

floor_pid=""
if $floor; then
    cc -O2 -o "$work/probe-floor" bench/probe-floor.c
    # tmpfs, as the agent's probe pid files (RuntimeService.probePIDDirectory); removed at exit.
    floor_pids=/dev/shm/mk-probe-floor-$$
    mkdir -p "$floor_pids"
    # Targets as the agent's probes would have them: the pod IP for httpGet and tcpSocket, the runtime's exec with
    # a pid file (the agent's execProbe) for exec.
    ctl get pods -o json | python3 -c '
import json, sys
probes, runtime, root, pids = sys.argv[1].split(","), sys.argv[2], sys.argv[3], sys.argv[4]
for n, pod in enumerate(json.load(sys.stdin)["items"]):
    ip = pod["status"]["podIP"]
    app = [c for c in pod["status"]["containerStatuses"] if c["name"] == "app"][0]
    cid = app["containerID"].split("://")[1]
    if "exec" in probes: print(f"exec {runtime} --root {root} exec --pid-file {pids}/{n}.pid {cid} true")
    if "http" in probes: print(f"http {ip} 8080 /")
    if "tcp" in probes: print(f"tcp {ip} 8080")
' "$probes" "$(readlink -f "$bin/minirun")" "$work/root/runtime" "$floor_pids" >"$work/targets"
    nsenter --net="/run/netns/$ns" "$work/probe-floor" 1000 $((window + 2)) <"$work/targets" >"$work/floor.out" &
    floor_pid=$!
    sleep 1
fi

ticks() { awk '{print $14 + $15}' "/proc/$agent_pid/stat"; }
hz=$(getconf CLK_TCK)
ctl metrics >"$work/m0"
t0=$(ticks); s0=$EPOCHREALTIME; load0=$(cut -d' ' -f1 /proc/loadavg)
sleep "$window"
t1=$(ticks); s1=$EPOCHREALTIME; load1=$(cut -d' ' -f1 /proc/loadavg)
echo "probes: $probes$($floor && echo ' (by the floor prober; the agent runs none)'); load average (1 min) $load0 at the start of the window, $load1 at its end"
ctl metrics >"$work/m1"
rss_kib=$(awk '/^VmRSS/ {print $2}' "/proc/$agent_pid/status")
python3 - "$work/m0" "$work/m1" "$t0" "$t1" "$s0" "$s1" "$hz" "$rss_kib" "$pods" <<'EOF'
import re, sys
m0, m1, t0, t1, s0, s1, hz, rss, pods = sys.argv[1:]
# (container, probe type) → handler, as the manifests above define them.
HANDLER = {("app", "Liveness"): "exec", ("app", "Readiness"): "httpGet", ("side", "Readiness"): "tcpSocket"}
def buckets(path):
    out = {}
    for line in open(path):
        m = re.match(r'prober_probe_duration_seconds_bucket\{container="(\w+)",.*probe_type="(\w+)",le="([^"]+)"\} (\d+)', line)
        if m:
            key = (HANDLER[(m.group(1), m.group(2))], float(m.group(3)))
            out[key] = out.get(key, 0) + int(m.group(4))
    return out
def totals(path):
    out = {}
    for line in open(path):
        m = re.match(r'prober_probe_total\{container="(\w+)",.*probe_type="(\w+)",result="(\w+)"\} (\d+)', line)
        if m:
            key = (HANDLER[(m.group(1), m.group(2))], m.group(3))
            out[key] = out.get(key, 0) + int(m.group(4))
    return out
b0, b1 = buckets(m0), buckets(m1)
elapsed = float(s1) - float(s0)
cpu = (int(t1) - int(t0)) / int(hz) / elapsed * 100
print(f"pods {pods}, window {elapsed:.1f} s: agent CPU {cpu:.1f}% of one core, RSS {int(rss) / 1024:.1f} MiB")
def quantile(q, cumulative):
    total = cumulative[-1][1]
    if total == 0: return float('nan')
    rank = q * total
    prev_bound, prev_count = 0.0, 0
    for bound, count in cumulative:
        if count >= rank:
            if bound == float('inf'): return prev_bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / max(1, count - prev_count)
        prev_bound, prev_count = bound, count
    return prev_bound
t0s, t1s = totals(m0), totals(m1)
for kind in sorted({k for k, _ in b1}):
    cumulative = sorted((le, b1[(kind, le)] - b0.get((kind, le), 0)) for (k, le) in b1 if k == kind)
    results = {r: t1s[(k, r)] - t0s.get((k, r), 0) for (k, r) in t1s if k == kind}
    print(f"{kind}: {cumulative[-1][1]} probes ({results}), p50 {quantile(0.5, cumulative) * 1000:.1f} ms, "
          f"p99 {quantile(0.99, cumulative) * 1000:.1f} ms")
EOF
if [ -n "$floor_pid" ]; then
    wait "$floor_pid"
    awk -v w="$window" '{ printf "%s\n  = %.1f%% of one core\n", $0, $4 / (w + 2) * 100 }' "$work/floor.out"
fi
