#!/usr/bin/env bash
# Memory per element of small collections: synod (3 nodes, N=3, every node
# holds every key) beside Redis (one node, no persistence), in one run on
# loopback, one type at a time on fresh servers.
#
#   scripts/bench-memory-types.sh [--keys K (20000)] [--elements F (16)]
#                                 [--types "hash set zset list"]
#
# For each type, loads K keys, each with F elements, one command per key
# (HSET k f v ..., SADD, ZADD, RPUSH) through `redis-cli --pipe`: a hash
# field is `field:NN` (8 B) with a 10-byte value, a set, sorted set or list
# member `member:NNNN` (11 B), a sorted set score NN. Reads RSS
# (/proc/PID/status VmRSS) before and after; bytes per element = RSS delta
# / (K x F), for Redis and for each synod node (after every replica holds K
# keys). Prints a Markdown table. Installs redis-server and redis-tools with
# apt-get if missing; stops every server it started (by pid) on exit.
# Ports: synod 7821-7823 (peers 7921-7923), Redis 7860.
set -euo pipefail

NAME=bench-memory-types
export SYNOD_CLUSTER_DIR SYNOD_CLIENT_PORT_BASE=7820 SYNOD_PEER_PORT_BASE=7920
SYNOD_CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/bench-memory-types-cluster"
# shellcheck source=lib/measure.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/measure.sh"

KEYS=20000 ELEMENTS=16 TYPES="hash set zset list"
while (($#)); do
  case "$1" in
    --keys) KEYS="${2:?--keys needs a number}"; shift 2 ;;
    --elements) ELEMENTS="${2:?--elements needs a number}"; shift 2 ;;
    --types) TYPES="${2:?--types needs a list}"; shift 2 ;;
    -h | --help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[[ "$KEYS" =~ ^[1-9][0-9]*$ && "$ELEMENTS" =~ ^[1-9][0-9]*$ ]] || die "--keys and --elements must be positive numbers"
REDIS_PORT=7860
REDIS_DIR="$ROOT/target/bench-memory-types-redis"
ELEMS=$((KEYS * ELEMENTS))

trap measure_cleanup EXIT
trap 'exit 130' INT TERM

need_redis server
port_busy "$REDIS_PORT" && die "port 127.0.0.1:$REDIS_PORT is taken"
build_synod

# One command per key, as RESP, on stdout.
gen() { # gen TYPE
  python3 - "$1" "$KEYS" "$ELEMENTS" <<'PY'
import sys
kind, keys, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = sys.stdout.buffer
def cmd(args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)
for k in range(keys):
    key = b"%s:%08d" % (kind.encode(), k)
    if kind == "hash":
        args = [b"HSET", key] + [x for i in range(n) for x in (b"field:%02d" % i, b"value:%04d" % (i + k % 7))]
    elif kind == "set":
        args = [b"SADD", key] + [b"member:%04d" % i for i in range(n)]
    elif kind == "zset":
        args = [b"ZADD", key] + [x for i in range(n) for x in (b"%d" % i, b"member:%04d" % i)]
    else:
        args = [b"RPUSH", key] + [b"member:%04d" % i for i in range(n)]
    out.write(cmd(args))
PY
}

declare -A RESULT
for type in $TYPES; do
  log "$type: redis-server, $KEYS keys x $ELEMENTS elements"
  rm -rf "$REDIS_DIR" && mkdir -p "$REDIS_DIR"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no \
    --protected-mode no --dir "$REDIS_DIR" --logfile "" >"$REDIS_DIR/redis.log" 2>&1 &
  REDIS_PID=$!
  EXTRA_PIDS=("$REDIS_PID")
  for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  REDIS_VERSION="$(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-)"
  r0="$(rss_kb "$REDIS_PID")"
  read -r err replies < <(gen "$type" | pipe_load "$REDIS_PORT")
  ((err == 0 && replies == KEYS)) || die "redis $type load: errors=$err replies=$replies"
  sleep 1
  r1="$(rss_kb "$REDIS_PID")"
  enc="$(redis-cli -p "$REDIS_PORT" object encoding "$type:00000000" | tr -d '\r')"
  stop_pid "$REDIS_PID"
  EXTRA_PIDS=()

  log "$type: synod, 3 nodes, N=3"
  rm -rf "$SYNOD_CLUSTER_DIR"
  synod_start 3 3
  s0=()
  for i in 1 2 3; do s0+=("$(rss_kb "$(node_pid "$i")")"); done
  read -r err replies < <(gen "$type" | pipe_load "$(client_port 1)")
  ((err == 0 && replies == KEYS)) || die "synod $type load: errors=$err replies=$replies"
  s1=()
  for i in 1 2 3; do
    wait_keys "$(client_port "$i")" "$KEYS" 120 >/dev/null || log "node $i: not every key yet"
    s1+=("$(rss_kb "$(node_pid "$i")")")
  done
  RUST_LOG=warn SYNOD_BIN="$BIN" "$ROOT/scripts/cluster.sh" stop >/dev/null 2>&1 || true
  SYNOD_STARTED=0

  r_bpe=$(echo "scale=1; ($r1 - $r0) * 1024 / $ELEMS" | bc)
  s_bpe=()
  for i in 0 1 2; do s_bpe+=("$(echo "scale=1; (${s1[i]} - ${s0[i]}) * 1024 / $ELEMS" | bc)"); done
  worst=$(printf '%s\n' "${s_bpe[@]}" | sort -g | tail -1)
  ratio=$(echo "scale=2; $worst / $r_bpe" | bc)
  RESULT[$type]="| $type | $r_bpe ($enc) | ${s_bpe[0]} / ${s_bpe[1]} / ${s_bpe[2]} | ${ratio}x |"
  log "$type: redis $r_bpe B/element, synod ${s_bpe[*]} B/element (worst ${ratio}x)"
done

echo
echo "$KEYS keys x $ELEMENTS elements per type, one command per key; RSS delta / $ELEMS elements."
echo "Redis $REDIS_VERSION; synod 3 nodes, N=3 (each node holds every key); $(machine)."
echo
echo "| type | Redis B/element (encoding) | synod B/element, nodes 1 / 2 / 3 | synod / Redis (worst node) |"
echo "|---|---|---|---|"
for type in $TYPES; do echo "${RESULT[$type]}"; done
