#!/usr/bin/env bash
# Builds the offline example image: an OCI layout holding busybox (from Debian's busybox-static),
# tagged `1.36`, to be loaded with:  agentctl image load LAYOUT --name minikubelet.local/busybox:1.36
# Usage: examples/make-busybox-image.sh LAYOUT_DIR     (needs umoci and busybox-static; no downloads)
set -euo pipefail
out=${1:?usage: make-busybox-image.sh LAYOUT_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
umoci init --layout "$out"
umoci new --image "$out:1.36"
umoci unpack --image "$out:1.36" "$work/b" >/dev/null
"$here/scripts/make-busybox-rootfs.sh" "$work/b/rootfs" >/dev/null
umoci repack --image "$out:1.36" "$work/b" >/dev/null
umoci config --image "$out:1.36" --config.cmd /bin/sh --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin --os linux --architecture amd64
echo "image layout ready: $out (load it with: agentctl image load $out --name minikubelet.local/busybox:1.36)"
