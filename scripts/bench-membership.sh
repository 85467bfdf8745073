#!/usr/bin/env bash
# Measures a membership change: fill a 3-node cluster with KEYS keys, then add
# a 4th node (scripts/cluster.sh add) and report how long the change took
# (from add-node to the final epoch), the peer bytes the nodes sent during it
# (INFO bytes_sent), the keys each old member moved (INFO keys_moved /
# keys_to_move, polled), and one client's SET+GET latency through node 2
# during the move against the steady state just before it.
#
#   scripts/bench-membership.sh [--keys 100000] [--value-bytes 100] [--steady-s 5]
#
# Runs on loopback ports 7601.. / 7701.. in target/bench-membership/ and
# stops every node it started. Needs python3.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KEYS=100000
VALUE_BYTES=100
STEADY_S=5
while (($#)); do
  case "$1" in
    --keys) KEYS="$2"; shift 2 ;;
    --value-bytes) VALUE_BYTES="$2"; shift 2 ;;
    --steady-s) STEADY_S="$2"; shift 2 ;;
    *) echo "usage: $0 [--keys N] [--value-bytes N] [--steady-s S]" >&2; exit 2 ;;
  esac
done
export SYNOD_CLUSTER_DIR="$ROOT/target/bench-membership" SYNOD_CLIENT_PORT_BASE=7600 \
  SYNOD_PEER_PORT_BASE=7700 SYNOD_METRICS_PORT_BASE=7800
CLUSTER="$ROOT/scripts/cluster.sh"
BIN="${SYNOD_BIN:-$ROOT/target/release/synod}"
PROBE_PID=""
cleanup() {
  [[ -n "$PROBE_PID" ]] && kill "$PROBE_PID" 2>/dev/null || true
  "$CLUSTER" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$CLUSTER" stop >/dev/null 2>&1 || true
"$CLUSTER" start --nodes 3 --replicas 3 >/dev/null
field() { "$BIN" info "$2" --node "127.0.0.1:$((7600 + $1))" | tr -d '\r' | awk -F: -v f="$3" '$1 == f {print $2}'; }

echo "filling $KEYS keys of $VALUE_BYTES bytes through node 1..."
python3 - "$KEYS" "$VALUE_BYTES" <<'PY'
import socket, sys, time
keys, vbytes = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", 7601))
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
    got = b""
    while got.count(b"\r\n") < n:
        chunk = s.recv(1 << 20)
        if not chunk:
            sys.exit("connection closed")
        got += chunk
    if got.count(b"+OK") != n:
        sys.exit("a SET failed: %r" % got[:200])
print("filled in %.1f s" % (time.time() - t))
PY

# One client, SET then GET of its own key through node 2, back to back;
# each line: wall ms, latency µs (both ops).
LAT="$SYNOD_CLUSTER_DIR/latency.txt"
python3 - "$LAT" <<'PY' &
import socket, sys, time
out = open(sys.argv[1], "w", buffering=1)
s = socket.create_connection(("127.0.0.1", 7602))
i = 0
while True:
    k = b"probe:%d" % (i % 100)
    v = b"%d" % i
    t0 = time.perf_counter()
    s.sendall(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n"
              % (len(k), k, len(v), v, len(k), k))
    got = b""
    while got.count(b"\r\n") < 3:
        got += s.recv(65536)
    dt = (time.perf_counter() - t0) * 1e6
    out.write("%d %d\n" % (int(time.time() * 1000), dt))
    i += 1
PY
PROBE_PID=$!
sleep "$STEADY_S"
bytes_before=0
for i in 1 2 3; do bytes_before=$((bytes_before + $(field "$i" stats bytes_sent))); done
start_ms=$(date +%s%3N)
"$CLUSTER" add >"$SYNOD_CLUSTER_DIR/add.txt" 2>&1 &
ADD_PID=$!
declare -A moved total
while kill -0 "$ADD_PID" 2>/dev/null; do
  for i in 1 2 3; do
    t="$(field "$i" cluster keys_to_move 2>/dev/null || echo 0)"; m="$(field "$i" cluster keys_moved 2>/dev/null || echo 0)"
    ((${t:-0} > ${total[$i]:-0})) && total[$i]=$t
    ((${m:-0} > ${moved[$i]:-0})) && moved[$i]=$m
  done
  sleep 0.05
done
wait "$ADD_PID" || { cat "$SYNOD_CLUSTER_DIR/add.txt"; exit 1; }
end_ms=$(date +%s%3N)
bytes_after=0
for i in 1 2 3; do bytes_after=$((bytes_after + $(field "$i" stats bytes_sent))); done
b4="$(field 4 stats bytes_sent)"
sleep 1
kill "$PROBE_PID" 2>/dev/null || true
PROBE_PID=""
cat "$SYNOD_CLUSTER_DIR/add.txt"
echo "keys=$KEYS value_bytes=$VALUE_BYTES"
echo "move_ms=$((end_ms - start_ms)) (add-node to the final epoch on both the member asked and node 4, as cluster.sh add waits)"
echo "moved_keys_per_old_member: node1=${moved[1]:-0}/${total[1]:-0} node2=${moved[2]:-0}/${total[2]:-0} node3=${moved[3]:-0}/${total[3]:-0} (polled every 50 ms: a lower bound)"
echo "peer_bytes_sent_by_old_members_during_change=$((bytes_after - bytes_before)) node4_bytes_sent=$b4"
python3 - "$LAT" "$start_ms" "$end_ms" "$STEADY_S" <<'PY'
import sys
lat, s, e, steady = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = [tuple(map(int, l.split())) for l in open(lat) if l.strip()]
def stats(name, xs):
    xs = sorted(xs)
    if not xs:
        print(f"{name}: no samples"); return
    q = lambda p: xs[min(len(xs) - 1, int(p * len(xs)))]
    print(f"{name}: n={len(xs)} p50={q(.5)}us p99={q(.99)}us max={xs[-1]}us")
stats("steady (SET+GET via node 2, before the add)", [d for t, d in rows if s - steady * 1000 <= t < s])
stats("during the move", [d for t, d in rows if s <= t <= e])
PY
