#!/usr/bin/env bash
# Stops a registry started by start-registry.sh DIR (only that process) and removes DIR.
set -uo pipefail
dir=${1:?usage: stop-registry.sh DIR}
if [ -f "$dir/pid" ]; then
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
fi
rm -rf "$dir"
