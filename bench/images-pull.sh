#!/usr/bin/env bash
# Benchmark: pull + unpack of one multi-layer image from a local docker-registry (loopback), in one run:
#   imagectl pull (+ overlay rootfs)   vs   skopeo copy + umoci unpack   vs   podman pull.
# Usage: [IMAGECTL=path] bench/images-pull.sh   (needs root, docker-registry, skopeo, umoci, podman; builds imagectl release)
# Prints one line per tool (seconds) and the ratios; the image is built from local files, no downloads.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/images-bench.XXXXXX)
reg=$work/registry
cleanup() {
    "$repo/scripts/registry/stop-registry.sh" "$reg" 2>/dev/null || true
    grep -o " $work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# IMAGECTL=path overrides the release build (e.g. a debug build on a busy machine).
if [ -z "${IMAGECTL:-}" ]; then
    swift build -c release --product imagectl --package-path "$repo" >/dev/null
    IMAGECTL=$(swift build -c release --product imagectl --package-path "$repo" --show-bin-path)/imagectl
fi
imagectl=$IMAGECTL

# Image: busybox + python stdlib + locales + docs, with a deletion layer: 5 gzip layers.
layout=$work/layout
umoci init --layout "$layout"
umoci new --image "$layout:bench"
add_layer() { # add_layer CMD...: unpack, run CMD in the rootfs, repack
    umoci unpack --image "$layout:bench" "$work/b" >/dev/null
    (cd "$work/b/rootfs" && eval "$1")
    umoci repack --image "$layout:bench" "$work/b" >/dev/null
    rm -rf "$work/b"
}
add_layer "'$repo/scripts/make-busybox-rootfs.sh' . >/dev/null"
add_layer "mkdir -p usr/lib && cp -a /usr/lib/python3.11 usr/lib/"
add_layer "mkdir -p usr/share && cp -a /usr/share/locale usr/share/"
add_layer "mkdir -p usr/share && cp -a /usr/share/doc usr/share/"
add_layer "rm -rf usr/share/doc/[a-l]* usr/lib/python3.11/test"
port=$("$repo/scripts/registry/start-registry.sh" "$reg")
image=127.0.0.1:$port/bench/image:v1
skopeo copy -q --dest-tls-verify=false "oci:$layout:bench" "docker://$image"
size=$(du -sh "$reg/data" | cut -f1)
echo "image: $image, 5 layers, registry storage $size"

now() { date +%s.%N; }
min() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc)" = 1 ]; then echo "$2"; else echo "$1"; fi; }
# The machine is shared: the tools run interleaved, ROUNDS times (default 2), each from a cold store;
# the best time of each is reported.
rounds=${ROUNDS:-2}
ours= skopeo_umoci= podman_time=
have_podman=$(command -v podman >/dev/null && echo yes || echo no)
for round in $(seq 1 "$rounds"); do
    rm -rf "$work/ours" "$work/skopeo" "$work/umoci"
    sync; t0=$(now)
    "$imagectl" pull --quiet --root "$work/ours" "$image" >/dev/null
    "$imagectl" mount-rootfs --root "$work/ours" c1 "$image" >/dev/null
    t1=$(now)
    "$imagectl" umount-rootfs --root "$work/ours" c1
    ours=$(min "$ours" "$(echo "$t1 - $t0" | bc)")

    sync; t0=$(now)
    skopeo copy -q --src-tls-verify=false "docker://$image" "oci:$work/skopeo:bench"
    umoci unpack --image "$work/skopeo:bench" "$work/umoci" >/dev/null
    t1=$(now)
    skopeo_umoci=$(min "$skopeo_umoci" "$(echo "$t1 - $t0" | bc)")

    if [ "$have_podman" = yes ]; then
        sync; t0=$(now)
        if podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay pull -q --tls-verify=false "$image" >/dev/null 2>"$work/podman.err"; then
            t1=$(now)
            podman_time=$(min "$podman_time" "$(echo "$t1 - $t0" | bc)")
        else
            echo "podman pull failed: $(tail -1 "$work/podman.err")"
            have_podman=no
        fi
        podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay system reset -f >/dev/null 2>&1 || true
    fi
done
[ -n "$podman_time" ] || podman_time=n/a
echo "best of $rounds interleaved rounds:"
printf '%-34s %8.2f s\n' "imagectl pull + overlay rootfs" "$ours" "skopeo copy + umoci unpack" "$skopeo_umoci"
[ "$podman_time" = n/a ] || printf '%-34s %8.2f s\n' "podman pull" "$podman_time"
printf 'ratio imagectl / skopeo+umoci: %.2f\n' "$(echo "$ours / $skopeo_umoci" | bc -l)"
[ "$podman_time" = n/a ] || printf 'ratio imagectl / podman pull:   %.2f\n' "$(echo "$ours / $podman_time" | bc -l)"
