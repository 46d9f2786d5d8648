#!/usr/bin/env bash
# Pod start latency and footprint (issue 4's benchmark), minikubelet side by side with `podman kube play`.
#
# Usage: bench/pod-start.sh [-n 50] [--pods 100] [--no-build] [--skip-podman] [--bin DIR]
#   --bin DIR: minikubelet, agentctl, minirun and minirun-shim from DIR (no build)
#
# Latency: N pods, one at a time: the manifest is written (minikubelet: atomically into the manifest
# directory; podman: `podman kube play FILE` is launched) and the clock stops when the container's process
# has run its first command (it creates a marker file in a hostPath directory the script polls every 0.5 ms).
# The image is cached for both. Footprint: with --pods running pods (default 100), the agent's RSS, the
# shims' RSS and the agent's CPU while idle (30 s). Each system runs inside a network namespace this
# script creates and removes (pods get their networks there), with cgroups below this shell's own cgroup.
# Needs root. Builds the release products like scripts/demo.sh unless --no-build.
# BENCH_SMAPS=FILE keeps the agent's /proc/PID/smaps at the footprint measurement (where its memory is).
# BENCH_AGENT_LOG=FILE keeps the agent's log (with MINIKUBELET_DEBUG=1 it has each pod's start-step timings).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
export PATH=/opt/swift/usr/bin:$PATH
n=50 pods=100 build=1 podman=1 bin=""
while [ $# -gt 0 ]; do
    case "$1" in
        -n) n=$2; shift ;;
        --pods) pods=$2; shift ;;
        --no-build) build=0 ;;
        --skip-podman) podman=0 ;;
        --bin) bin=$2; build=0; shift ;;
        *) echo "usage: bench/pod-start.sh [-n 50] [--pods 100] [--no-build] [--skip-podman] [--bin DIR]" >&2; exit 2 ;;
    esac
    shift
done
if [ "$build" = 1 ]; then
    scripts/build-release.sh minirun minirun-shim minikubelet agentctl
fi
[ -n "$bin" ] || bin=$(scripts/build-release.sh --show-bin-path)
layout=/tmp/minikubelet-test-busybox-layout
[ -f "$layout/index.json" ] || examples/make-busybox-image.sh "$layout"

tag=$$
work=/tmp/mk-bench-$tag
netns=mk-bench-$tag
podman_netns=mk-bench-podman-$tag
mkdir -p "$work/manifests" "$work/marks" "$work/podman"
ip netns add "$netns"; ip -n "$netns" link set lo up
agent_pid=""
cleanup() {
    set +e
    if [ -n "$agent_pid" ]; then
        rm -f "$work"/manifests/*.yaml
        for _ in $(seq 600); do
            [ "$("$bin/agentctl" --socket "$work/agent.sock" get pods 2>/dev/null | wc -l)" -le 1 ] && break
            sleep 0.2
        done
        kill "$agent_pid"; wait "$agent_pid" 2>/dev/null
        if [ -n "${BENCH_AGENT_LOG:-}" ]; then cp "$work/agent.log" "$BENCH_AGENT_LOG"; fi
        remove_cgroup_parent "mk-bench-$tag"
    fi
    if [ "$podman" = 1 ]; then
        for f in "$work"/podman/*.yaml; do [ -f "$f" ] && nsenter --net="/run/netns/$podman_netns" podman kube down "$f" >/dev/null 2>&1; done
        ip netns delete "$podman_netns" 2>/dev/null
    fi
    ip netns delete "$netns"
    rm -rf "$work"
}
trap cleanup EXIT


# measure SYSTEM FIRST COUNT: starts pods bench-FIRST .. and prints one latency (ms) per line.
measure() {
    python3 - "$1" "$2" "$3" "$work" <<'EOF'
import os, subprocess, sys, time
system, first, count, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
netns = os.environ["PODMAN_NETNS"]
for i in range(first, first + count):
    name = f"bench-{i}"
    text = os.environ["POD_TEMPLATE"].replace("POD_NAME", name)
    mark = f"{work}/marks/{name}"
    if system == "minikubelet":
        tmp = f"{work}/manifests/.{name}.tmp"
        with open(tmp, "w") as f:
            f.write(text)
        start = time.monotonic()
        os.rename(tmp, f"{work}/manifests/{name}.yaml")
        proc = None
    else:
        path = f"{work}/podman/{name}.yaml"
        with open(path, "w") as f:
            f.write(text)
        start = time.monotonic()
        proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{netns}", "podman", "kube", "play", path],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = start + 60
    while not os.path.exists(mark):
        if time.monotonic() > deadline:
            err = proc.stderr.read().decode() if proc else ""
            sys.exit(f"{system}: {name} did not start within 60 s {err}")
        time.sleep(0.0005)
    print(f"{(time.monotonic() - start) * 1000:.1f}", flush=True)
    if proc:
        proc.wait()
EOF
}
POD_TEMPLATE=$(bench_pod_yaml POD_NAME "$work/marks")
export POD_TEMPLATE PODMAN_NETNS=$podman_netns

stats() { # label file
    sort -n "$2" | awk -v label="$1" '{ v[NR] = $1; s += $1 } END {
        p50 = v[int((NR + 1) / 2)]; p99 = v[int(NR * 0.99 + 0.999)]
        printf "%-22s n=%d  p50 %7.1f ms  p99 %7.1f ms  mean %7.1f ms  min %6.1f ms\n", label, NR, p50, p99, s / NR, v[1] }'
}

echo "== minikubelet (agent in netns $netns)"
setsid nsenter --net="/run/netns/$netns" "$bin/minikubelet" --manifests "$work/manifests" --root "$work/root" \
    --socket "$work/agent.sock" --node-name bench-node --cgroup-parent "mk-bench-$tag" --pod-security privileged \
    --cni-conf-dir "$work/cni-conf" >"$work/agent.log" 2>&1 </dev/null &
agent_pid=$!
for _ in $(seq 100); do [ -S "$work/agent.sock" ] && break; sleep 0.1; done
"$bin/agentctl" --socket "$work/agent.sock" image load "$layout" --name minikubelet.local/busybox:1.36 >/dev/null
# One warm-up pod (first-use costs: image unpack into the rootfs cache).
measure minikubelet 0 1 >/dev/null
measure minikubelet 1 "$n" | tee "$work/mk.txt" >/dev/null
stats minikubelet "$work/mk.txt"

if [ "$pods" -gt "$((n + 1))" ]; then
    measure minikubelet "$((n + 1))" "$((pods - n - 1))" >/dev/null
fi
sleep 5
running=$("$bin/agentctl" --socket "$work/agent.sock" get pods | awk 'NR > 1 && $3 == "Running"' | wc -l)
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$agent_pid/status")
if [ -n "${BENCH_SMAPS:-}" ]; then cp "/proc/$agent_pid/smaps" "$BENCH_SMAPS"; fi
rss_split=$(awk '/RssAnon/ { a = $2 } /RssFile/ { f = $2 } END { printf "anonymous %d MiB, file-backed %d MiB", a / 1024, f / 1024 }' "/proc/$agent_pid/status")
shims=$(pgrep -x minirun-shim | while read -r p; do awk '/VmRSS/ { print $2 }' "/proc/$p/status"; done | awk '{ s += $1; n++ } END { if (n) printf "%d shims, mean %.0f KiB, total %.1f MiB", n, s / n, s / 1024 }')
ticks() { awk '{ print $14 + $15 }' "/proc/$agent_pid/stat"; }
t0=$(ticks); sleep 30; t1=$(ticks)
hz=$(getconf CLK_TCK)
echo "footprint with $running running pods: agent RSS $((rss / 1024)) MiB ($rss KiB: $rss_split); $shims; agent idle CPU $(echo "scale=2; ($t1 - $t0) * 100 / $hz / 30" | bc)% of one core"

if [ "$podman" = 1 ]; then
    echo "== podman kube play (runc, in netns $podman_netns)"
    ip netns add "$podman_netns"; ip -n "$podman_netns" link set lo up
    podman image exists minikubelet.local/busybox:1.36 || podman tag "$(podman pull -q "oci:$layout:1.36")" minikubelet.local/busybox:1.36
    # Root here lacks CAP_SYS_RESOURCE: podman's default rlimits would exceed the hard limit.
    hard=$(ulimit -Hn)
    printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=1024:1024"]\n' "$hard" "$hard" >"$work/containers.conf"
    export CONTAINERS_CONF=$work/containers.conf
    measure podman 1000 1 >/dev/null
    measure podman 1001 "$n" | tee "$work/podman.txt" >/dev/null
    stats "podman kube play" "$work/podman.txt"
    stats minikubelet "$work/mk.txt"
    paste <(sort -n "$work/mk.txt") <(sort -n "$work/podman.txt") | awk '{ m[NR] = $1; p[NR] = $2 } END {
        printf "ratio minikubelet/podman: p50 %.3f  p99 %.3f\n", m[int((NR + 1) / 2)] / p[int((NR + 1) / 2)], m[int(NR * 0.99 + 0.999)] / p[int(NR * 0.99 + 0.999)] }'
fi
