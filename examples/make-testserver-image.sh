#!/usr/bin/env bash
# Builds the test server image (the role of Kubernetes' agnhost): busybox for a shell plus the project's
# `testserver` (HTTP /healthz, /redirect, /status/N, files; gRPC health; a UDP echo with --udp-port), tagged `1`, to be loaded with:
#   agentctl image load LAYOUT --name minikubelet.local/testserver:1
# Usage: examples/make-testserver-image.sh LAYOUT_DIR [TESTSERVER_BINARY]
#   (needs umoci and busybox-static; the binary defaults to .build/debug/testserver, built with
#    `swift build --product testserver`). The binary, the shared libraries `ldd` lists and the dynamic loader
#   are copied into the layer at the same paths.
set -euo pipefail
out=${1:?usage: make-testserver-image.sh LAYOUT_DIR [TESTSERVER_BINARY]}
here=$(cd "$(dirname "$0")/.." && pwd)
binary=${2:-$here/.build/debug/testserver}
[ -x "$binary" ] || { echo "no testserver binary at $binary (swift build --product testserver)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
umoci init --layout "$out"
umoci new --image "$out:1"
umoci unpack --image "$out:1" "$work/b" >/dev/null
rootfs=$work/b/rootfs
"$here/scripts/make-busybox-rootfs.sh" "$rootfs" >/dev/null
install -D -m 0755 "$binary" "$rootfs/usr/local/bin/testserver"
# Debug builds carry ~150 MiB of debug info the image does not need.
strip "$rootfs/usr/local/bin/testserver"
# Every resolved library path (`name => /path (addr)` and the loader's own `/path (addr)` line).
ldd "$binary" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' | sort -u | while read -r lib; do
    install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
done
mkdir -p "$rootfs/srv"
echo "hello from testserver" >"$rootfs/srv/index.html"
umoci repack --image "$out:1" "$work/b" >/dev/null
umoci config --image "$out:1" --config.entrypoint /usr/local/bin/testserver --config.env PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.exposedports 8080/tcp --config.exposedports 9090/tcp --os linux --architecture amd64
echo "image layout ready: $out (load it with: agentctl image load $out --name minikubelet.local/testserver:1)"
