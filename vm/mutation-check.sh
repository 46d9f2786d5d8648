#!/usr/bin/env bash
# Proves the VM suite catches a broken cgroup v2 limit: copies the repository to a temp dir, makes the v2 manager
# write the memory limit to the wrong file (memory.max -> memory.high), builds, boots running the limits,
# OOM and stats checks, and asserts that the run FAILS, and fails for that reason (the memory.max checks), not
# because the VM did not boot.
#
# Usage: vm/mutation-check.sh          (after vm/build.sh, whose kernel and busybox rootfs it reuses)
# Exit 0 = the mutation was caught.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
out=${VM_OUT:-$here/out}
export PATH=/opt/swift/usr/bin:$PATH

[ -s "$out/vmlinuz" ] || { echo "vm/mutation-check: run vm/build.sh first" >&2; exit 1; }
tmp=$(mktemp -d /tmp/minikubelet-mutation.XXXXXX)
keep_tmp=0
cleanup() {
    # SwiftPM leaves empty lock files named after the scratch path in /tmp (from-scratch builds of the copy).
    rm -f "/tmp/$(tr / _ <<<"$tmp")_"*.lock
    if [ "$keep_tmp" = 0 ]; then rm -rf "$tmp"; else echo "vm/mutation-check: kept $tmp" >&2; fi
}
trap cleanup EXIT

# The working tree as it is (tracked and untracked-but-not-ignored files), so uncommitted changes are tested too.
(cd "$src" && git ls-files -z -co --exclude-standard | grep -zv '^vm/out/' | cpio -0 -pdm --quiet "$tmp/src")

# The v2 implementation is the file that declares the v2 manager; mutate its memory.max write.
v2file=$(cd "$tmp/src" && grep -l 'struct CgroupV2Manager' Sources/Cgroups/*.swift | head -1 || true)
[ -n "$v2file" ] || { echo "vm/mutation-check: no CgroupV2Manager in Sources/Cgroups" >&2; exit 1; }
cp "$tmp/src/$v2file" "$tmp/original.swift"
sed -i '0,/write("memory\.max"/s//write("memory.high"/' "$tmp/src/$v2file"
if cmp -s "$tmp/original.swift" "$tmp/src/$v2file"; then
    echo "vm/mutation-check: mutation target 'write(\"memory.max\"' not found in $v2file" >&2
    exit 1
fi
echo "== vm/mutation-check: mutated $v2file:"
diff "$tmp/original.swift" "$tmp/src/$v2file" | sed 's/^/   /' || true

# Reuse the kernel and busybox rootfs from the normal build (no second download).
mkdir -p "$tmp/out"
cp "$out/vmlinuz" "$out/kernel-package" "$tmp/out/"
[ -f "$out/kernel-config" ] && cp "$out/kernel-config" "$tmp/out/"
[ -d "$out/busybox-rootfs" ] && cp -a "$out/busybox-rootfs" "$tmp/out/"

# The same configuration as vm/build.sh, built incrementally when possible: SwiftPM's scratch holds absolute paths
# (module caches refuse to move), so a copied .build-vm only works at the original path. In a private mount
# namespace the mutated copy is bind-mounted over the source tree (the real tree is untouched and nothing is
# visible outside), and only the mutated file and what depends on it recompile. Without unshare/mount rights (or
# with VM_MUTATION_INCREMENTAL=0): a from-scratch build of the copy.
start=$(date +%s)
config=${VM_BUILD_CONFIG:-debug}
scratch="$src/.build-vm"
if [ "${VM_MUTATION_INCREMENTAL:-1}" = 1 ] && [ -d "$scratch/$config" ] && [ -z "${VM_SCRATCH:-}" ] \
    && unshare -m --propagation private true 2>/dev/null; then
    echo "== vm/mutation-check: incremental $config build (copy of .build-vm; the copy bind-mounted at $src in a private mount namespace)"
    cp -a "$scratch" "$tmp/src/.build-vm"
    unshare -m --propagation private bash -c 'set -e; mount --bind "$1" "$2"; VM_SRC="$2" VM_OUT="$3" VM_BUILD_CONFIG="$4" "$2/vm/build.sh"' \
        mutation-build "$tmp/src" "$src" "$tmp/out" "$config"
else
    echo "== vm/mutation-check: from-scratch $config build of the copy"
    VM_SRC="$tmp/src" VM_OUT="$tmp/out" VM_SCRATCH="$tmp/src/.build-vm" VM_BUILD_CONFIG="$config" "$here/build.sh"
fi
build_s=$(($(date +%s) - start))
# The rebuilt selftest must differ from the original (guards against a build that silently reused the original).
if [ -f "$out/initramfs/bin/minirun-selftest" ] \
    && cmp -s "$out/initramfs/bin/minirun-selftest" "$tmp/out/initramfs/bin/minirun-selftest"; then
    echo "vm/mutation-check: the rebuilt selftest is identical to the original: the mutation was not compiled in" >&2
    exit 1
fi

set +e
# Only the checks a broken limit can affect (the container checks would add a 30 s wait for an OOM that never comes).
VM_OUT="$tmp/out" VM_SELFTEST_FILTER=${VM_MUTATION_FILTER:-limits/,oom/,stats/} "$here/run.sh" >"$tmp/run.log" 2>&1
status=$?
set -e
total_s=$(($(date +%s) - start))
console=$(tr -d '\r' <"$tmp/out/console.log")

verdict=ok
if [ "$status" = 0 ]; then
    echo "vm/mutation-check: FAILED: the VM run passed with memory.max written to memory.high" >&2
    verdict=bad
elif ! grep -q '^SELFTEST DONE ' <<<"$console"; then
    echo "vm/mutation-check: FAILED: the run failed, but the selftest did not finish (not the mutation's doing)" >&2
    verdict=bad
elif ! grep -qE '^SELFTEST FAIL limits/memory\.max' <<<"$console"; then
    echo "vm/mutation-check: FAILED: the run failed, but not in limits/memory.max" >&2
    verdict=bad
fi
echo "== vm/mutation-check: failures seen with the mutation:"
grep -E '^SELFTEST FAIL ' <<<"$console" | sed 's/^/   /' || true
if [ "$verdict" != ok ]; then
    keep_tmp=1
    cat "$tmp/run.log" >&2
    exit 1
fi
echo "== vm/mutation-check: mutation caught (build ${build_s}s, total ${total_s}s)"
