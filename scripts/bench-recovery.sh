#!/usr/bin/env bash
# Measures catch-up after kill -9: fill a 3-node cluster with KEYS keys,
# kill one node, restart it, and time until it votes again (INFO role:voter).
#
#   scripts/bench-recovery.sh [--keys 100000] [--value-bytes 100]
#
# Runs on loopback ports 7401.. / 7501.. in target/bench-recovery/ and stops
# every node it started. Needs python3 (to pipeline the fill).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KEYS=100000
VALUE_BYTES=100
while (($#)); do
  case "$1" in
    --keys) KEYS="$2"; shift 2 ;;
    --value-bytes) VALUE_BYTES="$2"; shift 2 ;;
    *) echo "usage: $0 [--keys N] [--value-bytes N]" >&2; exit 2 ;;
  esac
done
export SYNOD_CLUSTER_DIR="$ROOT/target/bench-recovery" SYNOD_CLIENT_PORT_BASE=7400 SYNOD_PEER_PORT_BASE=7500
CLUSTER="$ROOT/scripts/cluster.sh"
trap '"$CLUSTER" stop >/dev/null 2>&1 || true' EXIT
"$CLUSTER" stop >/dev/null 2>&1 || true
"$CLUSTER" start --nodes 3 --replicas 3 >/dev/null
BIN="$ROOT/target/release/synod"

echo "filling $KEYS keys of $VALUE_BYTES bytes through node 1..."
python3 - "$KEYS" "$VALUE_BYTES" <<'PY'
import socket, sys, time
keys, vbytes = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", 7401))
value = b"x" * vbytes
batch = 2000
t = time.time()
for start in range(0, keys, batch):
    n = min(batch, keys - start)
    out = bytearray()
    for i in range(start, start + n):
        k = b"key:%d" % i
        out += b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(value), value)
    s.sendall(out)
    need, buf = n, b""
    while need:
        chunk = s.recv(1 << 16)
        if not chunk:
            sys.exit("connection closed during fill")
        buf += chunk
        need = n - buf.count(b"\r\n")
    if buf.count(b"+OK") != n:
        sys.exit("a SET failed during fill: " + buf[:200].decode(errors="replace"))
print(f"filled in {time.time() - t:.1f} s")
PY

"$CLUSTER" kill 3 >/dev/null
start_ns=$(date +%s%N)
"$CLUSTER" restart 3 >/dev/null
while :; do
  info="$("$BIN" info server --node 127.0.0.1:7403 2>/dev/null | tr -d '\r' || true)"
  grep -q '^role:voter' <<<"$info" && break
  sleep 0.05
done
end_ns=$(date +%s%N)
secs=$(awk -v a="$start_ns" -v b="$end_ns" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
keys3="$("$BIN" info keyspace --node 127.0.0.1:7403 | tr -d '\r' | awk -F: '/^keys:/ {print $2}')"
echo "node 3 restarted and caught up on $KEYS keys in $secs s (from restart to role:voter; it holds $keys3 keys after catch-up)"
