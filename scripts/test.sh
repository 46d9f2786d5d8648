#!/usr/bin/env bash
# Runs every test: unit and real integration tests (needs root), then the cgroup v2 VM suite.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "tests need root (containers, cgroups, namespaces)" >&2; exit 1; }
swift build --build-tests
# The probe tests measure timeouts of about a second; they run on their own after the heavy parallel suites,
# so container, registry and agent tests do not starve their event loops.
swift test --skip-build --skip ProberTests
swift test --skip-build --filter ProberTests
echo "== cgroup v2 VM suite"
scripts/vm-test.sh
