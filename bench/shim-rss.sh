#!/usr/bin/env bash
# Idle RSS of minirun-shim supervising one container (busybox `sleep`); the product target is < 2 MiB.
#
# Usage: bench/shim-rss.sh [--no-build]
# Builds minirun and minirun-shim in release into .build-bench (minirun with --static-swift-stdlib), starts a
# busybox container through the shim with minirun, waits 2 s, prints the shim's VmRSS / RssAnon / RssFile from
# /proc/<pid>/status, then kills and deletes the container. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
build=1
[ "${1:-}" = --no-build ] && build=0
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
if [ "$build" = 1 ]; then
    swift build -c release --product minirun --static-swift-stdlib --scratch-path .build-bench >&2
    swift build -c release --product minirun-shim --scratch-path .build-bench >&2
fi
bin=$(swift build -c release --scratch-path .build-bench --show-bin-path)
shim=$bin/minirun-shim minirun=$bin/minirun
[ -x "$shim" ] && [ -x "$minirun" ] || { echo "build minirun and minirun-shim first" >&2; exit 1; }

work=$(mktemp -d /tmp/mk-shimrss.XXXXXX)
id="shimrss-$$"
cleanup() {
    "$minirun" --root "$work/state" delete --force "$id" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
scripts/make-busybox-rootfs.sh "$work/bundle/rootfs" >/dev/null
(cd "$work/bundle" && runc spec)
hard=$(ulimit -Hn); nofile=$(( hard < 1024 ? hard : 1024 ))
jq --arg cg "minikubelet-shimrss-$$" --argjson n "$nofile" '.process.terminal = false
    | .process.args = ["sh", "-c", "echo started; exec sleep 1000"]
    | .process.rlimits = [{type: "RLIMIT_NOFILE", hard: $n, soft: $n}] | .linux.cgroupsPath = $cg' \
    "$work/bundle/config.json" > "$work/c.json" && mv "$work/c.json" "$work/bundle/config.json"

ctr=$("$shim" --runtime "$minirun" --runtime-root "$work/state" --bundle "$work/bundle" --id "$id" \
    --log-path "$work/ctr.log" --exit-file "$work/exit.json")
sleep 2
shim_pid=$(ps -o ppid= -p "$ctr" | tr -d ' ')
echo "minirun-shim $(file -b "$shim" | cut -d, -f1-2), $(du -h "$shim" | cut -f1); container pid $ctr, shim pid $shim_pid"
grep -E '^(VmRSS|RssAnon|RssFile)' "/proc/$shim_pid/status"
echo "log: $(cat "$work/ctr.log")"
"$minirun" --root "$work/state" kill "$id" KILL
for _ in $(seq 50); do [ -f "$work/exit.json" ] && break; sleep 0.1; done
echo "exit file: $(cat "$work/exit.json")"
