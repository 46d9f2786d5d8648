#!/usr/bin/env bash
# Runs every test: unit and real integration tests (needs root), then the cgroup v2 VM suite.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "tests need root (containers, cgroups, namespaces)" >&2; exit 1; }
swift build --build-tests
swift test --skip-build
echo "== cgroup v2 VM suite"
scripts/vm-test.sh
