#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/apt-packages.txt (build, runtime and test needs).
# Skips apt entirely when everything is already installed, so repeated runs are quick.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t pkgs < <(grep -v -e '^#' -e '^$' scripts/apt-packages.txt)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#pkgs[@]} packages present"
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/minikubelet-apt.log 2>&1 \
    || { tail -40 /tmp/minikubelet-apt.log >&2; echo "install-deps: apt-get failed (log: /tmp/minikubelet-apt.log)" >&2; exit 1; }
