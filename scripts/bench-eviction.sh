#!/usr/bin/env bash
# Eviction that keeps a working cache (issue 14): a Zipf(0.99) read-through
# workload (GET; SET on a miss) over KEYS keys, with a memory cap that fits
# about a tenth of them, against synod (3 nodes, N = 3, lru and lfu) and
# Redis (allkeys-lru, allkeys-lfu) at the same maxmemory, in one run.
# Reports the hit ratio and the keys held at the end, and their ratios.
#
#   scripts/bench-eviction.sh [KEYS (100000)] [OPS (200000)] [VALUE_BYTES (100)]
#
# Installs redis-server with apt-get if missing. Ports 17900.. (synod) and
# 17990 (Redis); everything started here is stopped at the end. Targets:
# hit ratio >= 0.9x Redis's, keys held >= 0.5x Redis's.
set -euo pipefail
NAME=bench-eviction
export SYNOD_CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/bench-eviction"
export SYNOD_CLIENT_PORT_BASE=17900 SYNOD_PEER_PORT_BASE=17950
source "$(dirname "${BASH_SOURCE[0]}")/lib/measure.sh"
trap measure_cleanup EXIT

KEYS="${1:-100000}"
OPS="${2:-200000}"
VALUE="${3:-100}"
REDIS_PORT=17990
# A replica's accounting per key: 256 bytes of overhead (SLOT_OVERHEAD_BYTES),
# the key (~10 bytes) and the value. A tenth of the keys:
CAP=$(( KEYS / 10 * (256 + 10 + VALUE) ))

need_redis server
build_synod

workload() { # workload PORT LABEL: prints "LABEL hits gets"
  python3 - "$1" "$2" "$KEYS" "$OPS" "$VALUE" <<'EOF'
import bisect, random, socket, sys
port, label, keys, ops, vlen = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = random.Random(14)
# Zipf(0.99) over `keys` ranks: the CDF, sampled by bisection.
w = [1.0 / (r ** 0.99) for r in range(1, keys + 1)]
total = sum(w)
cdf, acc = [], 0.0
for x in w:
    acc += x / total
    cdf.append(acc)
perm = list(range(keys))
rng.shuffle(perm)  # popular keys spread over the key space
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
value = b"v" * vlen
def enc(*a):
    return b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a)
def reply():
    line = f.readline()
    if line.startswith(b"$"):
        n = int(line[1:])
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    return line
hits = gets = errors = 0
batch = 100
for start in range(0, ops, batch):
    ks = [b"key:%06d" % perm[min(bisect.bisect_left(cdf, rng.random()), keys - 1)] for _ in range(batch)]
    s.sendall(b"".join(enc(b"GET", k) for k in ks))
    miss = []
    for k in ks:
        r = reply()
        gets += 1
        if r is None:
            miss.append(k)
        elif isinstance(r, bytes) and r.startswith(b"-"):
            errors += 1
            miss.append(k)
        else:
            hits += 1
    if miss:
        s.sendall(b"".join(enc(b"SET", k, value) for k in miss))
        for _ in miss:
            r = reply()
            if r.startswith(b"-"):
                errors += 1
print(label, hits, gets, errors)
EOF
}

results=()
for policy in lru lfu; do
  log "synod, --eviction $policy, cap $CAP bytes per node"
  rm -rf "$SYNOD_CLUSTER_DIR"
  synod_start 3 3 -- --max-memory-bytes "$CAP" --eviction "$policy"
  line=$(workload "$(client_port 1)" "synod-$policy")
  sleep 2
  held=$(info_field "$(client_port 1)" keys)
  results+=("$line $held")
  SYNOD_BIN="$BIN" "$ROOT/scripts/cluster.sh" stop >/dev/null
  SYNOD_STARTED=0
done
for policy in allkeys-lru allkeys-lfu; do
  log "redis-server, maxmemory $CAP, maxmemory-policy $policy"
  redis-server --port "$REDIS_PORT" --save "" --appendonly no --maxmemory "$CAP" \
    --maxmemory-policy "$policy" --daemonize no >/dev/null 2>&1 &
  pid=$!
  EXTRA_PIDS+=("$pid")
  for _ in $(seq 50); do port_busy "$REDIS_PORT" && break; sleep 0.1; done
  line=$(workload "$REDIS_PORT" "redis-$policy")
  held=$(redis-cli -p "$REDIS_PORT" dbsize)
  results+=("$line $held")
  stop_pid "$pid"
done

echo "# bench-eviction: $KEYS keys, $OPS ops, ${VALUE}-byte values, Zipf(0.99) read-through; maxmemory $CAP bytes; $(machine)"
printf '%-18s %9s %9s %7s %8s\n' system hit_ratio keys_held errors
declare -A hit held
for r in "${results[@]}"; do
  read -r label hits gets errors keys <<<"$r"
  ratio=$(python3 -c "print(f'{$hits / $gets:.3f}')")
  hit[$label]=$ratio
  held[$label]=$keys
  printf '%-18s %9s %9s %7s\n' "$label" "$ratio" "$keys" "$errors"
done
for p in lru lfu; do
  python3 -c "
h = ${hit[synod-$p]} / ${hit[redis-allkeys-$p]}
k = ${held[synod-$p]} / ${held[redis-allkeys-$p]}
print(f'synod {\"$p\"} vs redis allkeys-{\"$p\"}: hit ratio {h:.2f}x (target >= 0.9), keys held {k:.2f}x (target >= 0.5)')"
done
