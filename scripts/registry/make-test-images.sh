#!/usr/bin/env bash
# Builds the test images as an OCI layout with umoci (no downloads: busybox from busybox-static).
# Usage: scripts/registry/make-test-images.sh LAYOUT_DIR
# Tags:
#   busybox  one layer: the busybox rootfs; Cmd ["/bin/sh"], User app.
#   multi    busybox + layer 2 (files, dirs, hard link, symlink, fifo, device node, xattr, modes, owners)
#            + layer 3 made by umoci repack (deleted file, deleted dir → whiteouts)
#            + layer 4, hand-written tar: an opaque directory (.wh..wh..opq) and an explicit whiteout.
set -euo pipefail
out=${1:?usage: make-test-images.sh LAYOUT_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umoci init --layout "$out"
umoci new --image "$out:busybox"
umoci unpack --image "$out:busybox" "$work/b" >/dev/null
"$here/make-busybox-rootfs.sh" "$work/b/rootfs" >/dev/null
umoci repack --image "$out:busybox" "$work/b" >/dev/null
umoci config --image "$out:busybox" --config.cmd /bin/sh --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin --config.env FROM_IMAGE=1 \
    --config.workingdir /home --config.user app --os linux --architecture amd64
rm -rf "$work/b"

# Layer 2: a variety of file types and metadata.
umoci tag --image "$out:busybox" multi
umoci unpack --image "$out:busybox" "$work/m" >/dev/null
r=$work/m/rootfs
mkdir -p "$r/data/keep" "$r/data/gone" "$r/opaque/old" "$r/srv"
echo keep > "$r/data/keep/file"
echo gone > "$r/data/gone/file"
echo remove-me > "$r/data/remove-me"
echo old > "$r/opaque/old/file"
echo old-top > "$r/opaque/top"
echo hello > "$r/srv/hello.txt"
ln "$r/srv/hello.txt" "$r/srv/hello-hardlink.txt"
ln -s ../srv/hello.txt "$r/srv/hello-symlink"
ln -s /etc/passwd "$r/srv/abs-symlink"
mkfifo "$r/srv/fifo"
mknod "$r/srv/null-dev" c 1 3
chmod 4755 "$r/srv/hello.txt"
chmod 0700 "$r/data/keep"
chown 1000:1000 "$r/srv/hello.txt" "$r/data/keep"
chown -h 1000:100 "$r/srv/hello-symlink"
echo xattr > "$r/srv/with-xattr"
python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.minikubelet", b"test")' "$r/srv/with-xattr"
umoci repack --image "$out:multi" "$work/m" >/dev/null
rm -rf "$work/m"

# Layer 3: deletions (umoci writes .wh. entries).
umoci unpack --image "$out:multi" "$work/m" >/dev/null
rm -rf "$r/data/gone" "$r/data/remove-me"
echo changed > "$r/data/keep/file"
umoci repack --image "$out:multi" "$work/m" >/dev/null
rm -rf "$work/m"

# Layer 4: opaque directory, written by hand (umoci never emits .wh..wh..opq itself).
mkdir -p "$work/l4/opaque/new"
echo new > "$work/l4/opaque/new/file"
: > "$work/l4/opaque/.wh..wh..opq"
mkdir -p "$work/l4/srv"
: > "$work/l4/srv/.wh.fifo"
tar --numeric-owner --owner=0 --group=0 --no-recursion -C "$work/l4" -cf "$work/l4.tar" opaque/ opaque/.wh..wh..opq opaque/new opaque/new/file srv/ srv/.wh.fifo
umoci raw add-layer --image "$out:multi" "$work/l4.tar"
echo "images in $out: busybox multi"
