#!/usr/bin/env bash
# Value sizes (issue 14): SET and GET of 1 KiB, 64 KiB, 1 MiB and 16 MiB
# values, synod (3 nodes, N = 3, one client on node 1) and Redis in one run,
# with redis-benchmark (one connection, no pipelining). Prints requests/s
# per size and op ("failed": no request succeeded). Then whether big values
# stall the others: the p50/p99 of small SETs (100 bytes, 4 connections)
# idle, and again while another connection writes 16 MiB values back to
# back, synod and Redis, and the ratio under load / idle.
#
#   scripts/bench-values.sh [--quick]   # --quick: fewer requests per size
#
# Figures and their run: docs/bench/issue-14.md.
#
# Installs redis-server/redis-tools with apt-get if missing. Ports 18000..
# (synod) and 18090 (Redis); everything started here is stopped at the end.
set -euo pipefail
NAME=bench-values
export SYNOD_CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/bench-values"
export SYNOD_CLIENT_PORT_BASE=18000 SYNOD_PEER_PORT_BASE=18050
source "$(dirname "${BASH_SOURCE[0]}")/lib/measure.sh"
trap measure_cleanup EXIT
REDIS_PORT=18090

need_redis server
build_synod
rm -rf "$SYNOD_CLUSTER_DIR"
synod_start 3 3
redis-server --port "$REDIS_PORT" --save "" --appendonly no --daemonize no >/dev/null 2>&1 &
EXTRA_PIDS+=($!)
for _ in $(seq 50); do port_busy "$REDIS_PORT" && break; sleep 0.1; done

# size in bytes, requests per test
sizes=("1024 2000" "65536 500" "1048576 50" "16777216 5")
small_n=20000
if [[ "${1:-}" == --quick ]]; then
  sizes=("1024 500" "65536 100" "1048576 20" "16777216 3")
  small_n=5000
fi
echo "# bench-values: redis-benchmark -c 1, SET then GET; $(machine)"
printf '%-7s %-9s %10s %10s %12s\n' op size synod_rps redis_rps synod/redis
for s in "${sizes[@]}"; do
  read -r size n <<<"$s"
  for op in set get; do
    rps() { # rps PORT
      { timeout 120 redis-benchmark -p "$1" -c 1 -n "$n" -d "$size" -t "$op" -r 1 --csv 2>/dev/null || true; } \
        | awk -F'"' 'NR == 2 {print $4}'
    }
    a=$(rps "$(client_port 1)")
    b=$(rps "$REDIS_PORT")
    ratio=$(python3 -c "a, b = '${a:-0}', '${b:-0}'; print(f'{float(a) / float(b):.2f}' if a and b and float(b) else '-')")
    printf '%-7s %-9s %10s %10s %12s\n' "$op" "$size" "${a:-failed}" "${b:-failed}" "$ratio"
  done
done

# Small operations beside big ones: p50 and p99 (ms) of 100-byte SETs on 4
# connections over 10,000 keys, idle and while one more connection writes
# 16 MiB values back to back (a key of its own).
small() { # small PORT -> "p50 p99"
  { timeout 300 redis-benchmark -p "$1" -c 4 -n "$small_n" -d 100 -t set -r 10000 --csv 2>/dev/null || true; } \
    | awk -F'"' 'NR == 2 {print $10, $14}'
}
big_writer() { # big_writer PORT: 16 MiB SETs until killed
  timeout 600 redis-benchmark -p "$1" -c 1 -n 100000 -d 16777216 -t set -r 1 >/dev/null 2>&1
}
echo
echo "# small SETs (100 B, -c 4): p50/p99 ms idle and while 16 MiB SETs run on another connection"
printf '%-7s %14s %14s %10s\n' target idle_p50/p99 loaded_p50/p99 p99_ratio
for target in synod redis; do
  port=$REDIS_PORT
  [[ $target == synod ]] && port=$(client_port 1)
  read -r i50 i99 <<<"$(small "$port")"
  big_writer "$port" &
  bw=$!
  EXTRA_PIDS+=("$bw")
  sleep 2 # the first 16 MiB values are on their way
  read -r l50 l99 <<<"$(small "$port")"
  stop_pid "$bw"
  ratio=$(python3 -c "a, b = '${l99:-0}', '${i99:-0}'; print(f'{float(a) / float(b):.1f}' if a and b and float(b) else '-')")
  printf '%-7s %14s %14s %10s\n' "$target" "${i50:-?}/${i99:-?}" "${l50:-?}/${l99:-?}" "$ratio"
done
