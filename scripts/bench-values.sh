#!/usr/bin/env bash
# Value sizes (issue 14): SET and GET of 1 KiB, 64 KiB, 1 MiB and 16 MiB
# values, synod (3 nodes, N = 3, one client on node 1) and Redis in one run,
# with redis-benchmark (one connection, no pipelining). Prints requests/s
# and p50 latency per size, and how many requests failed.
#
#   scripts/bench-values.sh
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
