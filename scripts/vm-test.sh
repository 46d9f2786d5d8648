#!/usr/bin/env bash
# The cgroup v2 VM suite (issue 9): builds the kernel + initramfs (vm/build.sh), boots it under qemu and checks the
# selftest's results (vm/run.sh). Single entry point for .ci/run. Needs
# qemu-system-x86, busybox-static, cpio (scripts/apt-packages.txt) and apt sources for linux-image-amd64.
#
#   scripts/vm-test.sh                 build + boot + check
#   VM_MUTATION_CHECK=0 scripts/vm-test.sh
#                                      skip the proof that a broken v2 limit fails the run (vm/mutation-check.sh)
# Prints "<N> passed, <M> failed" and exits non-zero on any failure or timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
vm/build.sh
built=$(date +%s)
status=0
vm/run.sh || status=$?
booted=$(date +%s)
if [ "$status" = 0 ] && [ "${VM_MUTATION_CHECK:-1}" = 1 ]; then
    vm/mutation-check.sh || status=$?
fi
end=$(date +%s)
echo "== vm-test: build $((built - start))s, boot+tests $((booted - built))s, mutation check $((end - booted))s, total $((end - start))s"
exit "$status"
