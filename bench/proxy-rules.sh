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
    : > "$WORK/ours-full.txt"; : > "$WORK/floor-full.txt"; : > "$WORK/write-full.txt"
    i=0
    while [ "$i" -lt "$full_repeat" ]; do
      fresh; t0=$(now); inns "$PROXYCTL" apply --mode "$MODE" --state "$WORK/s.json" --dump "$WORK/full.txt" > "$WORK/apply.json"; t1=$(now)
      secs "$t0" "$t1" >> "$WORK/ours-full.txt"; echo >> "$WORK/ours-full.txt"
      ms_of 1 writeMilliseconds < "$WORK/apply.json" >> "$WORK/write-full.txt"; echo >> "$WORK/write-full.txt"
      fresh; t0=$(now); inns sh -c "$FLOOR" < "$WORK/full.txt"; t1=$(now); secs "$t0" "$t1" >> "$WORK/floor-full.txt"; echo >> "$WORK/floor-full.txt"
      i=$((i + 1))
    done
    ours_full=$(grep . "$WORK/ours-full.txt" | median)
    floor_full=$(grep . "$WORK/floor-full.txt" | median)
    write_full=$(grep . "$WORK/write-full.txt" | median)
    # `change` below starts from the rules of s.json, as the floor's namespace now has them.
    printf '%-9s %-7s %-12s %9s %9s %7s %9s\n' "$MODE" "$N" full-sync "$ours_full" "$floor_full" "$(echo "$ours_full / $floor_full" | bc -l | awk '{printf "%.2f", $1}')" "$write_full"
    # One endpoint of one service moves: the in-process partial sync (second report line) vs its own text fed bare,
    # each from the same starting rules (`change` first syncs s.json itself; `apply` restores it for the floor).
    : > "$WORK/ours.txt"; : > "$WORK/floor.txt"; : > "$WORK/write.txt"
    i=0
    while [ "$i" -lt "$REPEAT" ]; do
      inns "$PROXYCTL" change --mode "$MODE" --state "$WORK/s.json" --state2 "$WORK/s2.json" --dump "$WORK/delta.txt" > "$WORK/change.json"
      ms_of 2 < "$WORK/change.json" >> "$WORK/ours.txt"; echo >> "$WORK/ours.txt"
      ms_of 2 writeMilliseconds < "$WORK/change.json" >> "$WORK/write.txt"; echo >> "$WORK/write.txt"
      inns "$PROXYCTL" apply --mode "$MODE" --state "$WORK/s.json" > /dev/null
      t0=$(now); inns sh -c "$FLOOR" < "$WORK/delta.txt"; t1=$(now); secs "$t0" "$t1" >> "$WORK/floor.txt"; echo >> "$WORK/floor.txt"
      i=$((i + 1))
    done
    ours_change=$(grep . "$WORK/ours.txt" | median)
    floor_change=$(grep . "$WORK/floor.txt" | median)
    write_change=$(grep . "$WORK/write.txt" | median)
    printf '%-9s %-7s %-12s %9s %9s %7s %9s\n' "$MODE" "$N" one-endpoint "$ours_change" "$floor_change" "$(echo "$ours_change / $floor_change" | bc -l | awk '{printf "%.2f", $1}')" "$write_change"
  done
done
