#!/usr/bin/env bash
# Issue 14, live: an INCR loop through a healthy node for SECONDS (30) while
# another node is killed and restarted (kill -9, restart, catch-up) every few
# seconds. Prints the outcomes; exits 1 unless no INCR ended UNKNOWN and the
# counter equals the successes. Before lineages, the restarted node's repair
# rounds overtook INCRs, which ended UNKNOWN although they had been applied.
#
#   scripts/incr-restart.sh [SECONDS]
#
# Runs its own 3-node cluster on ports 17601.. / 17701.. (release build) in
# target/incr-restart/, and stops it at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_TOTAL="${1:-30}"
export SYNOD_CLUSTER_DIR="$ROOT/target/incr-restart"
export SYNOD_CLIENT_PORT_BASE=17600 SYNOD_PEER_PORT_BASE=17700
cluster() { "$ROOT/scripts/cluster.sh" "$@"; }
trap 'cluster stop >/dev/null 2>&1 || true; [[ -n "${LOOP:-}" ]] && kill "$LOOP" 2>/dev/null; true' EXIT

cluster start >/dev/null
OUT="$SYNOD_CLUSTER_DIR/incr.out"
python3 - "$SECONDS_TOTAL" 17601 >"$OUT" <<'EOF' &
import socket, sys, time
secs, port = float(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
ok = failed = unknown = other = 0
end = time.time() + secs
while time.time() < end:
    s.sendall(b"*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n")
    line = f.readline()
    if line.startswith(b":"):
        ok += 1
    elif line.startswith(b"-UNKNOWN"):
        unknown += 1
    elif line.startswith(b"-FAILED") or line.startswith(b"-TRYAGAIN"):
        failed += 1
    else:
        other += 1
        print("unexpected:", line, file=sys.stderr)
s.sendall(b"*2\r\n$3\r\nGET\r\n$7\r\ncounter\r\n")
f.readline()
print(ok, failed, unknown, other)
EOF
LOOP=$!
restarts=0
start=$(date +%s)
while (( $(date +%s) - start < SECONDS_TOTAL - 4 )); do
  sleep 2
  cluster kill 3 >/dev/null
  sleep 1
  cluster restart 3 >/dev/null
  restarts=$((restarts + 1))
done
wait "$LOOP"
LOOP=
read -r ok failed unknown other <"$OUT"
sleep 1
counter=$(python3 - <<'EOF'
import socket
s = socket.create_connection(("127.0.0.1", 17602))
s.sendall(b"*2\r\n$3\r\nGET\r\n$7\r\ncounter\r\n")
f = s.makefile("rb")
f.readline()
print(f.readline().strip().decode())
EOF
)
echo "incr-restart: ${SECONDS_TOTAL} s, node 3 killed and restarted ${restarts} times"
echo "INCR through node 1: ${ok} ok, ${failed} failed (not applied), ${unknown} UNKNOWN, ${other} other"
echo "counter read through node 2: ${counter} (successes: ${ok})"
if [[ "$unknown" == 0 && "$counter" == "$ok" && "$other" == 0 ]]; then
  echo "PASS: 0 UNKNOWN, counter = successes"
else
  echo "FAIL"
  exit 1
fi
