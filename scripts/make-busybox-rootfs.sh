#!/usr/bin/env bash
# Builds a minimal busybox root filesystem from Debian's busybox-static package.
# Usage: scripts/make-busybox-rootfs.sh DEST
# No downloads: the binary comes from the installed package (apt-get install busybox-static).
set -euo pipefail
dest=${1:?usage: make-busybox-rootfs.sh DEST}
bb=/bin/busybox
[ -x "$bb" ] || { echo "busybox-static is not installed ($bb missing)" >&2; exit 1; }
file -L "$bb" 2>/dev/null | grep -q 'statically linked' || ldd "$bb" 2>&1 | grep -q 'not a dynamic' || {
    echo "$bb is not statically linked: install busybox-static" >&2; exit 1; }
mkdir -p "$dest"/{bin,sbin,etc,proc,sys,dev,tmp,root,home,var,run,usr/bin,usr/sbin}
chmod 1777 "$dest/tmp"
cp "$bb" "$dest/bin/busybox"
for applet in $("$bb" --list); do
    [ "$applet" = busybox ] && continue
    [ -e "$dest/bin/$applet" ] || ln -s busybox "$dest/bin/$applet"
done
cat > "$dest/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
app:x:1000:1000:app:/home:/bin/sh
P
cat > "$dest/etc/group" <<'G'
root:x:0:
daemon:x:1:
tty:x:5:
users:x:100:
app:x:1000:
nogroup:x:65534:
G
echo 'hosts: files dns' > "$dest/etc/nsswitch.conf"
: > "$dest/etc/hosts"
: > "$dest/etc/resolv.conf"
echo "rootfs ready: $dest"
