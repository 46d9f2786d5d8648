#!/usr/bin/env bash
# Builds the test images as an OCI layout with umoci (no downloads: busybox from busybox-static).
# Usage: scripts/registry/make-test-images.sh LAYOUT_DIR
# Tags (see also "symlinked" at the end):
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


# Tag "symlinked": busybox + a layer with lib -> usr/lib + a layer writing lib/x through that symlink
# and hard-linking a file of the lower layer (both need the merged view of the lower layers).
umoci tag --image "$out:busybox" symlinked
mkdir -p "$work/s1/usr/lib"
echo base > "$work/s1/usr/lib/base"
ln -s usr/lib "$work/s1/lib"
tar --numeric-owner --owner=0 --group=0 --no-recursion -C "$work/s1" -cf "$work/s1.tar" usr usr/lib usr/lib/base lib
umoci raw add-layer --image "$out:symlinked" "$work/s1.tar"
mkdir -p "$work/s2/lib"
echo through > "$work/s2/lib/x"
ln "$work/s1/usr/lib/base" "$work/s2/hl" 2>/dev/null || cp "$work/s1/usr/lib/base" "$work/s2/hl"
python3 - "$work/s2.tar" "$work/s2/lib/x" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    i = t.gettarinfo(sys.argv[2], "lib/x"); i.uid = i.gid = 0; i.uname = i.gname = ""
    with open(sys.argv[2], "rb") as f:
        t.addfile(i, f)
    h = tarfile.TarInfo("hl"); h.type = tarfile.LNKTYPE; h.linkname = "usr/lib/base"; t.addfile(h)
PY
umoci raw add-layer --image "$out:symlinked" "$work/s2.tar"
echo "images in $out: busybox multi symlinked"
