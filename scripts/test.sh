#!/usr/bin/env bash
# Runs every test: unit and real integration tests (needs root), then the cgroup v2 VM suite.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "tests need root (containers, cgroups, namespaces)" >&2; exit 1; }
swift build --build-tests
# Tests that time async work (probe timeouts of about a second, the service proxier's coalescing timer) run on
# their own after the heavy parallel suites: those block the 2-thread cooperative pool of a small machine for
# long stretches, and a timer task could then wait minutes for a thread.
timed='ProberTests|ServiceProxyTests.RunnerTests'
swift test --skip-build --skip "$timed"
swift test --skip-build --filter "$timed"
echo "== cgroup v2 VM suite"
scripts/vm-test.sh
