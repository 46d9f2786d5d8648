#!/bin/sh
# Rule programming cost of the service proxy (issue 7), both modes, against the floor: a bare
# iptables-restore / nft -f of the identical text. Services are NodePort-shaped with 2 endpoints each.
# Runs in throwaway network namespaces; the host's rules are never touched.
#   usage: [MODES="iptables nftables"] [REPEAT=5] bench/proxy-rules.sh [N ...]      (default: 1000 5000)
# Each figure is the median of REPEAT samples (ours and floor alternately; full syncs above 5,000 services once):
# single samples of a sub-second restore moved by 30 % with the machine's load.
set -eu
cd "$(dirname "$0")/.."
SIZES=${*:-"1000 5000"}
MODES=${MODES:-"iptables nftables"}
REPEAT=${REPEAT:-5}
PROXYCTL=${PROXYCTL:-.build/release/proxyctl}
[ -x "$PROXYCTL" ] || swift build -c release --product proxyctl >&2
WORK=$(mktemp -d /tmp/proxy-bench.XXXXXX)
NS=proxybench-$$
cleanup() { ip netns del "$NS" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM

fresh() { ip netns del "$NS" 2>/dev/null || true; ip netns add "$NS"; ip netns exec "$NS" ip link set lo up; }
inns() { ip netns exec "$NS" "$@"; }
now() { date +%s.%N; }
median() { sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
secs() { echo "$2 - $1" | bc -l | awk '{printf "%.3f", $1}'; }
ms_of() { sed -n "${1}p" | sed "s/.*\"${2:-milliseconds}\":\\([0-9.]*\\).*/\\1/" | awk '{printf "%.3f", $1/1000}'; }
# Samples of one figure, then their median: sample NAME VALUE ... ; med NAME. Reset with `rm -f "$WORK"/*.samples`.
sample() { echo "$2" >> "$WORK/$1.samples"; }
med() { median < "$WORK/$1.samples"; }
row() { printf '%-9s %-7s %-12s %9s %9s %7s %9s\n' "$MODE" "$N" "$1" "$2" "$3" "$(echo "$2 / $3" | bc -l | awk '{printf "%.2f", $1}')" "$4"; }

# write(s): of ours, the write itself (the iptables-restore or nft -f process, or a partial sync's netlink transaction, which
# is the kernel's work). The rest of ours is computing what to write.
printf '%-9s %-7s %-12s %9s %9s %7s %9s\n' mode N operation "ours(s)" "floor(s)" ratio "write(s)"
for N in $SIZES; do
  "$PROXYCTL" generate --services "$N" > "$WORK/s.json"
  "$PROXYCTL" generate --services "$N" --change > "$WORK/s2.json"
  for MODE in $MODES; do
    if [ "$MODE" = iptables ]; then FLOOR="iptables-restore -w 5 -W 100000 --noflush --counters"; else FLOOR="nft -f -"; fi
    # Full sync into an empty namespace: ours (whole process: read back, build, diff, write) vs the bare tool fed the
    # text ours wrote, also into an empty namespace.
    # Repeated like the one-endpoint change (FULL_REPEAT, default REPEAT up to 5,000 services; once above, where an
    # iptables-nft full sync takes minutes).
    full_repeat=${FULL_REPEAT:-$([ "$N" -le 5000 ] && echo "$REPEAT" || echo 1)}
    rm -f "$WORK"/*.samples
    i=0
    while [ "$i" -lt "$full_repeat" ]; do
      fresh; t0=$(now); inns "$PROXYCTL" apply --mode "$MODE" --state "$WORK/s.json" --dump "$WORK/full.txt" > "$WORK/apply.json"; t1=$(now)
      sample ours "$(secs "$t0" "$t1")"
      sample write "$(ms_of 1 writeMilliseconds < "$WORK/apply.json")"
      fresh; t0=$(now); inns sh -c "$FLOOR" < "$WORK/full.txt"; t1=$(now); sample floor "$(secs "$t0" "$t1")"
      i=$((i + 1))
    done
    row full-sync "$(med ours)" "$(med floor)" "$(med write)"
    # One endpoint of one service moves: the in-process partial sync (second report line) vs its own text fed bare,
    # each from the same starting rules (`change` first syncs s.json itself, as the floor's namespace has it now and
    # `apply` restores it after each change).
    rm -f "$WORK"/*.samples
    i=0
    while [ "$i" -lt "$REPEAT" ]; do
      inns "$PROXYCTL" change --mode "$MODE" --state "$WORK/s.json" --state2 "$WORK/s2.json" --dump "$WORK/delta.txt" > "$WORK/change.json"
      sample ours "$(ms_of 2 < "$WORK/change.json")"
      sample write "$(ms_of 2 writeMilliseconds < "$WORK/change.json")"
      inns "$PROXYCTL" apply --mode "$MODE" --state "$WORK/s.json" > /dev/null
      t0=$(now); inns sh -c "$FLOOR" < "$WORK/delta.txt"; t1=$(now); sample floor "$(secs "$t0" "$t1")"
      i=$((i + 1))
    done
    row one-endpoint "$(med ours)" "$(med floor)" "$(med write)"
  done
done
