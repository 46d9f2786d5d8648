#!/usr/bin/env bash
# Boots the cgroup v2 test VM built by vm/build.sh and checks the selftest's results on the serial console.
#
# Protocol (lines printed by minirun-selftest and /init; anything else on the console is ignored):
#   SELFTEST BEGIN checks=<n>
#   SELFTEST PASS <name>
#   SELFTEST FAIL <name>: <reason>
#   SELFTEST SKIP <name>: <reason>
#   SELFTEST DONE passed=<n> failed=<m> skipped=<k>
#   SELFTEST EXIT status=<s> seconds=<t>            (from /init, after the selftest process ended)
# Prints "<N> passed, <M> failed" on its own line. Exits 0 only if every check passed, DONE was seen, the counts
# match the PASS/FAIL lines seen, the selftest exited 0, and the VM powered off before the timeout.
#
# Environment: VM_OUT (default vm/out), VM_TIMEOUT seconds (default 240), VM_MEMORY (default 1024),
#              VM_ACCEL (auto | kvm | tcg; default auto: KVM only if it really works),
#              VM_SELFTEST_FILTER (comma-separated check name prefixes; default all).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${VM_OUT:-$here/out}
timeout_s=${VM_TIMEOUT:-240}
memory=${VM_MEMORY:-1024}
accel=${VM_ACCEL:-auto}
console="$out/console.log"

for f in vmlinuz initramfs.cpio.gz; do
    [ -s "$out/$f" ] || { echo "vm/run: $out/$f missing: run vm/build.sh first" >&2; exit 1; }
done
command -v qemu-system-x86_64 >/dev/null || { echo "vm/run: qemu-system-x86_64 missing (apt-get install qemu-system-x86)" >&2; exit 1; }

# KVM only if it works: /dev/kvm may exist without usable virtualization (nested, permissions). Probe by starting
# a machine with no devices and no firmware run (-S: paused) and see if the accelerator initialised.
# The CPU must also advertise vmx/svm: on sandboxed hosts /dev/kvm can open and initialise while guests never run
# (seen on the development machine: the probe passes, the kernel never prints a byte).
kvm_works() {
    [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
    grep -qwE 'vmx|svm' /proc/cpuinfo || return 1
    local probe
    probe=$(timeout 10 qemu-system-x86_64 -accel kvm -machine none -nodefaults -display none -S -monitor stdio \
        <<<'quit' 2>&1) || return 1
    ! grep -qi 'error\|failed\|not supported' <<<"$probe"
}
case "$accel" in
    auto) if kvm_works; then accel=kvm; else accel=tcg; fi ;;
    kvm | tcg) ;;
    *) echo "vm/run: VM_ACCEL must be auto, kvm or tcg" >&2; exit 1 ;;
esac
if [ "$accel" = kvm ]; then
    accel_args=(-accel kvm -cpu host)
else
    # Software emulation; "max" gives the guest every feature TCG can emulate. Multi-threaded TCG for -smp 2.
    accel_args=(-accel tcg,thread=multi -cpu max)
fi

# Guest-side selftest deadline a bit below ours, so a hung check still produces an EXIT line.
guest_timeout=$((timeout_s > 60 ? timeout_s - 30 : timeout_s))
append="console=ttyS0 quiet loglevel=1 panic=-1 oops=panic selftest.timeout=$guest_timeout"
# VM_SELFTEST_FILTER="limits/,oom/": only checks whose names start with one of the prefixes (cleanup/ always runs).
if [ -n "${VM_SELFTEST_FILTER:-}" ]; then append+=" selftest.filter=$VM_SELFTEST_FILTER,cleanup/"; fi

echo "== vm/run: booting ($accel, ${memory} MiB, 2 cpus, timeout ${timeout_s}s); console: $console"
start=$(date +%s.%N)
set +e
timeout --foreground -k 5 "$timeout_s" qemu-system-x86_64 \
    -nographic -no-reboot -nodefaults -serial stdio -monitor none \
    "${accel_args[@]}" -m "$memory" -smp 2 \
    -kernel "$out/vmlinuz" -initrd "$out/initramfs.cpio.gz" -append "$append" \
    </dev/null >"$console" 2>&1
qemu_status=$?
set -e
seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

# Serial lines end in \r\n; strip \r before parsing.
clean=$(tr -d '\r' <"$console")
grep -E '^(vm: |SELFTEST )' <<<"$clean" | sed 's/^/  /' || true

passed=$(grep -cE '^SELFTEST PASS ' <<<"$clean" || true)
failed=$(grep -cE '^SELFTEST FAIL ' <<<"$clean" || true)
fail_lines=$failed
skipped=$(grep -cE '^SELFTEST SKIP ' <<<"$clean" || true)
done_line=$(grep -E '^SELFTEST DONE ' <<<"$clean" | tail -1 || true)
exit_line=$(grep -E '^SELFTEST EXIT ' <<<"$clean" | tail -1 || true)

problems=()
if [ "$qemu_status" = 124 ] || [ "$qemu_status" = 137 ]; then
    problems+=("VM did not finish within ${timeout_s}s")
elif [ "$qemu_status" != 0 ]; then
    problems+=("qemu exited with status $qemu_status")
fi
if [ -z "$done_line" ]; then
    problems+=("no 'SELFTEST DONE' line (selftest crashed or hung; see $console)")
    # A crash before DONE counts as a failure even if no FAIL line made it out.
    [ "$failed" -gt 0 ] || failed=1
else
    d_passed=$(sed -n 's/.*passed=\([0-9]*\).*/\1/p' <<<"$done_line")
    d_failed=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$done_line")
    if [ "$d_passed" != "$passed" ] || [ "$d_failed" != "$failed" ]; then
        problems+=("DONE says passed=$d_passed failed=$d_failed but the console shows $passed PASS / $failed FAIL lines")
    fi
fi
if [ -z "$exit_line" ]; then
    problems+=("no 'SELFTEST EXIT' line from /init")
elif ! grep -q 'status=0 ' <<<"$exit_line"; then
    problems+=("selftest: $exit_line")
fi
[ "$passed" -gt 0 ] || problems+=("no check passed")

echo "== vm/run: VM finished in ${seconds}s ($accel); $skipped skipped"
echo "$passed passed, $failed failed"
if [ "$failed" -gt 0 ] || [ "${#problems[@]}" -gt 0 ]; then
    for p in "${problems[@]}"; do echo "vm/run: FAILED: $p" >&2; done
    [ "$fail_lines" = 0 ] || echo "vm/run: FAILED: $fail_lines check(s) failed (SELFTEST FAIL lines above)" >&2
    exit 1
fi
echo "== vm/run: cgroup v2 selftest passed"
