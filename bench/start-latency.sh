#!/usr/bin/env bash
# Container start latency, minirun vs runc, side by side in one run (reference/runtime.md 6: crun's
# "100 sequential containers running /bin/true").
#
# Usage: bench/start-latency.sh [-n N] [--minirun PATH] [--runc PATH] [--no-build] [--hyperfine]
#   -n N          runs per runtime (default 100)
#   --minirun P   minirun binary to measure (default: build release, static Swift stdlib, into .build-bench)
#   --no-build    use .build-bench/release/minirun as is
#   --hyperfine   also measure with hyperfine (back-to-back blocks) as a cross-check
#
# Each sample is one `RUNTIME --root STATE run --bundle B ID` of /bin/true on the SAME bundle (busybox rootfs
# from scripts/make-busybox-rootfs.sh, config.json from `runc spec` with terminal false, NOFILE <= the hard
# limit, a relative cgroupsPath), i.e. create + start + wait + delete in one CLI call. The two runtimes are
# interleaved (minirun, runc, minirun, ...) so that load from other work on the machine hits both alike; 5 warm-up
# rounds are discarded. Timing uses bash's $EPOCHREALTIME (no fork). Prints median, p95, mean, min of each and
# the ratios minirun/runc. Needs root. Prefer these interleaved figures to hyperfine's on a shared machine:
# hyperfine runs each command's block back to back, so a change in load lands on one runtime only.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=100 minirun="" runc_bin=$(command -v runc || echo /usr/sbin/runc) build=1 use_hyperfine=0
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs=$2; shift 2 ;;
        --minirun) minirun=$2; build=0; shift 2 ;;
        --runc) runc_bin=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --hyperfine) use_hyperfine=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }

if [ -z "$minirun" ]; then
    if [ "$build" = 1 ]; then
        echo "building minirun: swift build -c release --product minirun --static-swift-stdlib --scratch-path .build-bench" >&2
        swift build -c release --product minirun --static-swift-stdlib --scratch-path .build-bench >&2
    fi
    minirun=$(swift build -c release --scratch-path .build-bench --show-bin-path)/minirun
fi
[ -x "$minirun" ] || { echo "minirun not found at $minirun" >&2; exit 1; }
[ -x "$runc_bin" ] || { echo "runc not found at $runc_bin" >&2; exit 1; }

work=$(mktemp -d /tmp/mk-bench.XXXXXX)
cgname="minikubelet-bench-$$"
cleanup() {
    for rt in minirun runc; do
        bin=$minirun; [ $rt = runc ] && bin=$runc_bin
        "$bin" --root "$work/state-$rt" delete --force "bench-$rt" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

scripts/make-busybox-rootfs.sh "$work/bundle/rootfs" >/dev/null
hard_nofile=$(ulimit -Hn)
nofile=$(( hard_nofile < 1024 ? hard_nofile : 1024 ))
(cd "$work/bundle" && "$runc_bin" spec)
jq --arg cg "$cgname" --argjson nofile "$nofile" '
    .process.terminal = false | .process.args = ["/bin/true"]
    | .process.rlimits = [{type: "RLIMIT_NOFILE", hard: $nofile, soft: $nofile}]
    | .linux.cgroupsPath = $cg' "$work/bundle/config.json" > "$work/config.json"
mv "$work/config.json" "$work/bundle/config.json"

one() { # one RUNTIME-NAME BINARY -> prints elapsed microseconds
    local start end
    start=$EPOCHREALTIME
    "$2" --root "$work/state-$1" run --bundle "$work/bundle" "bench-$1" >/dev/null 2>"$work/err-$1" || {
        echo "$1 run failed: $(cat "$work/err-$1")" >&2; exit 1; }
    end=$EPOCHREALTIME
    echo $(( ${end/./} - ${start/./} ))
}

for _ in 1 2 3 4 5; do one minirun "$minirun" >/dev/null; one runc "$runc_bin" >/dev/null; done
: > "$work/minirun.us"; : > "$work/runc.us"
for _ in $(seq "$runs"); do
    one minirun "$minirun" >> "$work/minirun.us"
    one runc "$runc_bin" >> "$work/runc.us"
done

stats() { # file -> "median p95 mean min" in ms
    sort -n "$1" | awk '{ v[NR] = $1; s += $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        i = int(0.95 * NR + 0.999999); if (i < 1) i = 1
        printf "%.2f %.2f %.2f %.2f\n", m / 1000, v[i] / 1000, s / NR / 1000, v[1] / 1000 }'
}
read -r m_med m_p95 m_mean m_min < <(stats "$work/minirun.us")
read -r r_med r_p95 r_mean r_min < <(stats "$work/runc.us")

echo
echo "start latency: $runs x 'run' of /bin/true, interleaved, same bundle ($(nproc) CPUs, $(uname -r))"
echo "minirun: $minirun ($(du -h "$minirun" | cut -f1), $(file -b "$minirun" | cut -d, -f1-2))"
echo "runc:    $runc_bin ($("$runc_bin" --version | head -1))"
printf '%-8s %10s %10s %10s %10s\n' runtime "median ms" "p95 ms" "mean ms" "min ms"
printf '%-8s %10s %10s %10s %10s\n' minirun "$m_med" "$m_p95" "$m_mean" "$m_min"
printf '%-8s %10s %10s %10s %10s\n' runc "$r_med" "$r_p95" "$r_mean" "$r_min"
awk -v a="$m_med" -v b="$r_med" -v c="$m_p95" -v d="$r_p95" \
    'BEGIN { printf "ratio minirun/runc: median %.2f, p95 %.2f\n", a / b, c / d }'

if [ "$use_hyperfine" = 1 ]; then
    echo
    hyperfine -N --warmup 5 --runs "$runs" \
        -n minirun "$minirun --root $work/state-minirun run --bundle $work/bundle bench-minirun" \
        -n runc "$runc_bin --root $work/state-runc run --bundle $work/bundle bench-runc"
fi
