#!/usr/bin/env bash
# Builds everything the cgroup v2 VM needs, cached under vm/out/ (gitignored). Idempotent.
#
#   vm/out/vmlinuz              Debian kernel (linux-image-amd64 -> linux-image-<ver>-amd64, apt-get download + dpkg -x)
#   vm/out/initramfs.cpio.gz    busybox (busybox-static) + minirun + minirun-selftest (+ their shared libraries and
#                               the dynamic loader) + a busybox container rootfs + /init (vm/init.sh)
#
# Environment:
#   VM_BUILD_CONFIG   debug (default) or release; both use --static-swift-stdlib (see vm/README.md for timings).
#   VM_SCRATCH        SwiftPM scratch path (default .build-vm, separate from the host's .build).
#   VM_SRC            source tree to build (default: this repository; vm/mutation-check.sh points it elsewhere).
#   VM_OUT            output directory (default vm/out).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${VM_SRC:-$(cd "$here/.." && pwd)}
out=${VM_OUT:-$here/out}
config=${VM_BUILD_CONFIG:-debug}
scratch=${VM_SCRATCH:-$src/.build-vm}
export PATH=/opt/swift/usr/bin:$PATH
mkdir -p "$out"

log() { printf '== vm/build: %s\n' "$*"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

need() {
    local missing=()
    for cmd in "$@"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd"); done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "vm/build: missing commands: ${missing[*]} (install scripts/apt-packages.txt)" >&2
        exit 1
    fi
}
need apt-get apt-cache dpkg cpio gzip ldd swift
[ -x /bin/busybox ] || { echo "vm/build: /bin/busybox missing: apt-get install busybox-static" >&2; exit 1; }

# --- 1. kernel ------------------------------------------------------------------------------------------------
# linux-image-amd64 is a metapackage; its Depends names the real image package (linux-image-6.x-amd64).
resolve_kernel() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
kernel_pkg=$(resolve_kernel)
# A machine whose package lists were never fetched (or are stale) knows no kernel package: refresh once.
if [ -z "$kernel_pkg" ]; then apt-get update -qq && kernel_pkg=$(resolve_kernel); fi
[ -n "$kernel_pkg" ] || { echo "vm/build: cannot resolve linux-image-amd64's kernel package (apt-get update?)" >&2; exit 1; }
if [ ! -s "$out/vmlinuz" ] || [ "$(cat "$out/kernel-package" 2>/dev/null)" != "$kernel_pkg" ]; then
    t=$(now)
    log "kernel: $kernel_pkg"
    rm -rf "$out/kernel" && mkdir -p "$out/kernel"
    # apt-get download writes into the current directory; _apt cannot write there as root-owned, so it warns
    # about an unsandboxed download. That is harmless; silence only that line.
    (cd "$out/kernel" && apt-get download "$kernel_pkg" 2>&1 | grep -v 'Download is performed unsandboxed' || true)
    deb=$(ls "$out/kernel/"*.deb 2>/dev/null | head -1)
    [ -n "$deb" ] || { echo "vm/build: apt-get download $kernel_pkg produced no .deb" >&2; exit 1; }
    dpkg -x "$deb" "$out/kernel/x"
    vmlinuz=$(ls "$out/kernel/x/boot/"vmlinuz-* | head -1)
    cp "$vmlinuz" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
    cp "$out/kernel/x/boot/"config-* "$out/kernel-config"
    echo "$kernel_pkg" >"$out/kernel-package"
    # Keep only what we use (the modules tree is ~400 MB unpacked).
    rm -rf "$out/kernel/x" "$deb"
    log "kernel ready in $(elapsed "$t") s"
else
    log "kernel cached: $kernel_pkg"
fi

# --- 2. Swift binaries ----------------------------------------------------------------------------------------
t=$(now)
products=(minirun-selftest minirun)
for p in "${products[@]}"; do
    log "swift build -c $config --static-swift-stdlib --product $p"
    if ! (cd "$src" && swift build -c "$config" --static-swift-stdlib --scratch-path "$scratch" --product "$p" \
        >"$out/build-$p.log" 2>&1); then
        tail -40 "$out/build-$p.log" >&2
        echo "vm/build: swift build of $p failed (full log: $out/build-$p.log)" >&2
        exit 1
    fi
done
bindir=$(cd "$src" && swift build -c "$config" --scratch-path "$scratch" --show-bin-path)
log "swift binaries ready in $(elapsed "$t") s ($bindir)"

# --- 3. initramfs tree ----------------------------------------------------------------------------------------
t=$(now)
tree="$out/initramfs"
rm -rf "$tree"
mkdir -p "$tree"/{bin,sbin,etc,proc,sys,dev,tmp,run,root,var/run,usr/bin,usr/sbin,containers,lib64}
chmod 1777 "$tree/tmp"
cp /bin/busybox "$tree/bin/busybox"
for applet in $(/bin/busybox --list-full); do
    # --list-full prints paths like usr/bin/awk, sbin/poweroff.
    [ -e "$tree/$applet" ] || ln -s /bin/busybox "$tree/$applet"
done

# Copies a file and, for a symlink, its target chain, keeping absolute paths inside the tree.
copy_into_tree() {
    local f=$1
    while :; do
        mkdir -p "$tree/$(dirname "$f")"
        if [ -L "$f" ]; then
            local target
            target=$(readlink "$f")
            [ -e "$tree/$f" ] || cp -P "$f" "$tree/$f"
            case "$target" in /*) f=$target ;; *) f=$(dirname "$f")/$target ;; esac
        else
            [ -e "$tree/$f" ] || cp "$f" "$tree/$f"
            return
        fi
    done
}

for p in "${products[@]}" minirun-shim; do
    [ -x "$bindir/$p" ] || { [ "$p" = minirun-shim ] && continue; echo "vm/build: $bindir/$p missing" >&2; exit 1; }
    cp "$bindir/$p" "$tree/bin/$p"
    # Every shared library ldd lists (libstdc++, libseccomp, libcap, libc, ...) plus the dynamic loader.
    while read -r lib; do
        [ -n "$lib" ] && copy_into_tree "$lib"
    done < <(ldd "$bindir/$p" | awk '/=> \// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }')
done
[ -e "$tree/lib64/ld-linux-x86-64.so.2" ] || { echo "vm/build: dynamic loader not copied" >&2; exit 1; }

# The container rootfs used by the selftest's minirun checks (a bundle dir; config.json is written at run time).
if [ ! -x "$out/busybox-rootfs/bin/busybox" ]; then
    rm -rf "$out/busybox-rootfs"
    "$src/scripts/make-busybox-rootfs.sh" "$out/busybox-rootfs" >/dev/null
fi
mkdir -p "$tree/containers/busybox"
cp -a "$out/busybox-rootfs" "$tree/containers/busybox/rootfs"

cp "$here/init.sh" "$tree/init"
chmod 755 "$tree/init"
echo "root:x:0:0:root:/root:/bin/sh" >"$tree/etc/passwd"
echo "root:x:0:" >"$tree/etc/group"
git -C "$src" rev-parse --short HEAD >"$tree/etc/minikubelet-commit" 2>/dev/null || echo unknown >"$tree/etc/minikubelet-commit"

(cd "$tree" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$out/initramfs.cpio.gz.tmp"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
log "initramfs ready in $(elapsed "$t") s: $(du -h "$out/initramfs.cpio.gz" | cut -f1)"
