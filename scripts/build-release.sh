#!/usr/bin/env bash
# Builds release products the way the project runs them: the Swift runtime linked statically, and every module,
# dependencies included, compiled one section per function (Package.swift can only ask that of our own targets),
# so that the agent's link drops unused functions and lays out the used ones together (scripts/minikubelet.order).
# Every release build in scripts/ and bench/ goes through here: the same flags keep .build/release from being
# rebuilt from scratch when two scripts disagree.
#
# Usage: scripts/build-release.sh PRODUCT...      (prints the build's last line per product)
#        scripts/build-release.sh --show-bin-path
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
flags=(-c release --static-swift-stdlib -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections -Xcc -fdata-sections)
if [ "${1:-}" = --show-bin-path ]; then
    exec swift build "${flags[@]}" --show-bin-path
fi
for product in "$@"; do
    if ! out=$(swift build "${flags[@]}" --product "$product" 2>&1); then
        grep -E 'error' <<<"$out" | head -20 >&2
        echo "build of $product failed" >&2
        exit 1
    fi
    tail -1 <<<"$out"
done
