#!/usr/bin/env bash
# Service data path throughput (issue 7's benchmark): wrk (Debian's, `apt install wrk`) from the agent's network
# namespace to ONE pod, directly to the pod IP and through the Service (NodePort on the node address, and the
# ClusterIP), rounds interleaved so machine noise hits every path alike. Prints requests/s per path (median of the
# rounds) and the ratios to the direct path. Target (issue 7): NodePort / pod IP >= 0.95.
#
# Usage: bench/service-throughput.sh [--bin DIR] [--mode iptables|nftables] [--server testserver|busybox]
#                                    [-d SECONDS] [-r ROUNDS] [-c CONNS]
#   --bin DIR   where minikubelet, agentctl and testserver are (default .build/release; build each with
#               swift build -c release --static-swift-stdlib --product NAME)
#   --server    testserver (default): the project's NIO server, keep-alive, so wrk reuses its connections and the
#               figures compare the data path; busybox: httpd closes after every response, so each request is a
#               new connection and the Service paths pay a conntrack entry and NAT per request. Server-side
#               TIME_WAIT then meets NAT-chosen source ports (the classic NAT + TIME_WAIT problem): SYNs are refused
#               and retried after 1 s, so that mode measures connection churn, not the data path.
# Needs root, wrk, umoci and busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

bin=.build/release mode=iptables server=testserver duration=10 rounds=5 conns=32
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin=$2; shift 2 ;;
        --mode) mode=$2; shift 2 ;;
        --server) server=$2; shift 2 ;;
        -d) duration=$2; shift 2 ;;
        -r) rounds=$2; shift 2 ;;
        -c) conns=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
command -v wrk >/dev/null || { echo "needs wrk (apt install wrk)" >&2; exit 1; }
for b in minikubelet agentctl; do [ -x "$bin/$b" ] || { echo "no $bin/$b" >&2; exit 1; }; done

work=$(mktemp -d /tmp/mk-svc-bench.XXXXXX)
ns="mk-svc-bench-$$"
cg="mk-svc-bench-$$"
node_ip=192.168.231.1
sock=$work/agent.sock
agent_pid=""
ctl() { "$bin/agentctl" --socket "$sock" "$@"; }
cleanup() {
    set +e
    rm -f "$work"/manifests/*.yaml
    for _ in $(seq 60); do [ "$(ctl get pods 2>/dev/null | wc -l)" -le 1 ] && break; sleep 1; done
    [ -n "$agent_pid" ] && kill "$agent_pid" && wait "$agent_pid" 2>/dev/null
    ip netns delete "$ns" 2>/dev/null
    remove_cgroup_parent "$cg"
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/manifests" "$work/root"
ip netns add "$ns"
# The node's interface: a veth pair inside the namespace carrying the node address.
ip -n "$ns" link add node0 type veth peer name node1
ip -n "$ns" addr add "$node_ip/24" dev node0
for link in node0 node1 lo; do ip -n "$ns" link set "$link" up; done
# A node has a default route; without one its own connections to a ClusterIP fail before the nat OUTPUT hook.
ip -n "$ns" route add default dev node0
nsenter --net="/run/netns/$ns" "$bin/minikubelet" --manifests "$work/manifests" --root "$work/root" --socket "$sock" \
    --node-name bench-node --node-ip "$node_ip" --proxy-mode "$mode" --cgroup-parent "$cg" \
    --cni-conf-dir "$work/cni-conf" >"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 60); do ctl get pods >/dev/null 2>&1 && break; sleep 0.5; done
layout=/tmp/minikubelet-bench-busybox-layout
[ -f "$layout/index.json" ] || examples/make-busybox-image.sh "$layout" >/dev/null
ctl image load "$layout" --name minikubelet.local/busybox:1.36 >/dev/null
if [ "$server" = testserver ]; then
    [ -x "$bin/testserver" ] || { echo "no $bin/testserver" >&2; exit 1; }
    examples/make-testserver-image.sh "$work/testserver-layout" "$bin/testserver" >/dev/null
    ctl image load "$work/testserver-layout" --name minikubelet.local/testserver:1 >/dev/null
    image=minikubelet.local/testserver:1 command='[/usr/local/bin/testserver, --http-port, "8080"]'
else
    image=minikubelet.local/busybox:1.36
    command="[sh, -c, \"echo hello from busybox > /tmp/index.html; exec httpd -f -p 8080 -h /tmp\"]"
fi

cat >"$work/manifests/web.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: $image
    command: $command
    ports: [{containerPort: 8080}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
EOF
pod_ip="" cluster_ip=""
for _ in $(seq 120); do
    pod_ip=$(ctl get pod web -o json 2>/dev/null | jq -r '.status.podIP // empty')
    cluster_ip=$(ctl get svc -o json 2>/dev/null | jq -r '.items[] | select(.metadata.name == "web") | .spec.clusterIP // empty')
    if [ -n "$pod_ip" ] && [ -n "$cluster_ip" ] \
        && ip netns exec "$ns" curl -sf -o /dev/null --max-time 1 "http://$node_ip:30080/index.html"; then
        break
    fi
    sleep 0.5
done
[ -n "$pod_ip" ] || { echo "the pod never got an IP; agent log: $work/agent.log" >&2; exit 1; }
echo "pod $pod_ip, ClusterIP $cluster_ip, NodePort $node_ip:30080 ($mode mode, $server); $rounds rounds of ${duration} s, $conns connections" >&2

declare -A urls=([pod]="http://$pod_ip:8080/index.html" [nodeport]="http://$node_ip:30080/index.html"
    [clusterip]="http://$cluster_ip:80/index.html")
declare -A results=()
for round in $(seq "$rounds"); do
    for path in pod nodeport clusterip; do
        ip netns exec "$ns" wrk -t1 -c"$conns" -d"${duration}s" "${urls[$path]}" >"$work/wrk.out"
        rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.out")
        results[$path]+="$rps "
        echo "round $round $path: $rps req/s $(grep -h 'Socket errors' "$work/wrk.out" || true)" >&2
    done
done
python3 - "${results[pod]}" "${results[nodeport]}" "${results[clusterip]}" <<'EOF'
import statistics, sys
names = ["pod IP (direct)", "NodePort (node address)", "ClusterIP"]
rounds = [[float(x) for x in arg.split()] for arg in sys.argv[1:]]
# Rounds are paired (the three paths back to back): the median of the per-round ratios cancels the machine's drift.
for name, values in zip(names, rounds):
    ratios = [v / d for v, d in zip(values, rounds[0])]
    print(f"{name}: {statistics.median(values):,.0f} req/s (median), ratio to direct {statistics.median(ratios):.3f} "
          f"(rounds {min(ratios):.2f}-{max(ratios):.2f})")
EOF
