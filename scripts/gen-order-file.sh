#!/usr/bin/env bash
# Regenerates scripts/minikubelet.order, the function order the agent is linked with (lld --symbol-ordering-file).
#
# Why: the agent is one static binary with ~36 MB of code, of which a few MB ever run. Page faults on code map 16
# neighbouring page-cache pages at a time (the kernel's fault-around), so scattered hot functions kept ~17 MiB of
# text resident. Placing every function that runs next to each other shrinks that to the code actually used.
#
# How: runs a release agent under valgrind's callgrind (which records every function executed) inside a network
# namespace of its own, with a representative workload (the examples, probes of each kind, a NodePort Service,
# agentctl queries, pod deletion, agent shutdown), then lists the functions of the agent's own binary, the most
# executed first. Symbols that later disappear are ignored by the linker (--no-warn-symbol-ordering), so a stale
# order file costs memory, never correctness. Needs root, valgrind, umoci and busybox-static.
#
# Usage: scripts/gen-order-file.sh [--bin DIR]   (default DIR: .build/release, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bin=.build/release
[ "${1:-}" = --bin ] && bin=$2
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
for p in minikubelet agentctl minirun minirun-shim; do
    [ -x "$bin/$p" ] || scripts/build-release.sh "$p"
done

work=$(mktemp -d /tmp/mk-order.XXXXXX)
ns="mk-order-$$"
sock=$work/agent.sock
agent_pid=""
ctl() { "$bin/agentctl" --socket "$sock" "$@"; }
cleanup() {
    set +e
    if [ -n "$agent_pid" ]; then
        rm -f "$work"/manifests/*
        for _ in $(seq 120); do [ "$(ctl get pods 2>/dev/null | wc -l)" -le 1 ] && break; sleep 1; done
        kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
    fi
    # Backstop for containers the agent did not stop (it was killed early): end them, then unmount their roots.
    for dir in $(cgroup_parent_dirs "$ns"); do
        [ -d "$dir" ] && find "$dir" -name cgroup.procs -exec cat {} + | xargs -r kill -9
    done
    sleep 1
    awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l
    ip netns delete "$ns" 2>/dev/null
    for dir in $(cgroup_parent_dirs "$ns"); do [ -d "$dir" ] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT

# valgrind 3.19 cannot read the toolchain's DWARF; the symbol table is all callgrind needs.
objcopy --strip-debug "$bin/minikubelet" "$work/minikubelet"
ln -s "$(realpath "$bin/minirun")" "$work/minirun"
ln -s "$(realpath "$bin/minirun-shim")" "$work/minirun-shim"
mkdir -p "$work/manifests" "$work/root"
ip netns add "$ns"
ip -n "$ns" link set lo up
nsenter --net="/run/netns/$ns" valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/callgrind.out" \
    "$work/minikubelet" --manifests "$work/manifests" --root "$work/root" --socket "$sock" --node-name order-node \
    --cgroup-parent "$ns" --pod-security privileged --cni-conf-dir "$work/cni-conf" >"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 240); do ctl get pods >/dev/null 2>&1 && break; sleep 0.5; done
layout=/tmp/minikubelet-bench-busybox-layout
[ -f "$layout/index.json" ] || examples/make-busybox-image.sh "$layout" >/dev/null
ctl image load "$layout" --name minikubelet.local/busybox:1.36 >/dev/null

for f in exec-liveness.yaml http-liveness.yaml tcp-liveness.yaml nodeport-service.yaml config-and-secret.yaml my-pod.yml; do
    cp "examples/$f" "$work/manifests/$f"
done
cat >"$work/manifests/probes.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: minikubelet.local/busybox:1.36
    command: [sh, -c, "echo ok > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"]
    livenessProbe: {exec: {command: ["true"]}, periodSeconds: 1, timeoutSeconds: 5}
    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
  - name: side
    image: minikubelet.local/busybox:1.36
    command: [sleep, "100000"]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
EOF
# The benchmark's pods (bench/pod-start.sh), written one at a time.
mkdir -p "$work/marks"
for i in 1 2 3 4 5 6; do
    bench_pod_yaml "plain-$i" "$work/marks" >"$work/plain-$i.yaml"
    mv "$work/plain-$i.yaml" "$work/manifests/"
    sleep 2
done
echo "waiting for the pods (the agent runs under valgrind: slow)..." >&2
for _ in $(seq 300); do
    [ "$(ctl get pods 2>/dev/null | awk 'NR > 1 && $3 == "Running"' | wc -l)" -ge 12 ] && break
    sleep 1
done
sleep 20
for q in "get pods" "get pods -o wide" "get svc" "get endpointslices" "get events" "describe pod probed" "logs probed -c app" \
    "get pod probed -o yaml" "get pod probed -o json" "ps"; do
    # shellcheck disable=SC2086
    ctl $q >/dev/null 2>&1 || true
done
nsenter --net="/run/netns/$ns" curl -s -m 5 -o /dev/null http://127.0.0.1:30080/ || true
curl -s --unix-socket "$sock" -o /dev/null http://agent/metrics || true
rm -f "$work"/manifests/*
for _ in $(seq 300); do [ "$(ctl get pods 2>/dev/null | wc -l)" -le 1 ] && break; sleep 1; done
kill -TERM "$agent_pid"
wait "$agent_pid" || true
agent_pid=""

# callgrind names each function once as "fn=(id) name" and then by id; keep the agent binary's functions
# ("ob=" names the object), ordered by their own cost (most executed first).
python3 - "$work/callgrind.out" "$work/minikubelet" >scripts/minikubelet.order <<'EOF'
import re, sys
path, binary = sys.argv[1], sys.argv[2]
obs, fns, cost, fn_ob = {}, {}, {}, {}
current_ob = None
current_fn = None
name_re = re.compile(r"^\((\d+)\)(?: (.*))?$")
def resolve(table, text):
    m = name_re.match(text)
    if not m:
        return text
    ident, name = m.group(1), m.group(2)
    if name is not None:
        table[ident] = name
    return table.get(ident, "")
with open(path) as f:
    for line in f:
        line = line.rstrip("\n")
        if line.startswith("ob="):
            current_ob = resolve(obs, line[3:])
        elif line.startswith("fn="):
            current_fn = resolve(fns, line[3:])
            fn_ob[current_fn] = current_ob
        elif line.startswith(("cfn=", "cob=", "cfi=", "cfl=", "fi=", "fe=", "fl=")):
            if line.startswith("cfn="):
                resolve(fns, line[4:])
            elif line.startswith("cob="):
                resolve(obs, line[4:])
            # a "calls=" line is followed by the call's inclusive cost, which is not this function's own
        elif line.startswith("calls="):
            next_line = next(f, "")
        elif line and line[0].isdigit() and current_fn is not None:
            parts = line.split()
            if len(parts) >= 2:
                cost[current_fn] = cost.get(current_fn, 0) + int(parts[1])
names = [n for n, ob in fn_ob.items() if ob and ob.endswith(binary.split("/")[-1]) and n]
names.sort(key=lambda n: -cost.get(n, 0))
sys.stdout.write("".join(n + "\n" for n in names))
EOF
echo "scripts/minikubelet.order: $(wc -l <scripts/minikubelet.order) functions" >&2
