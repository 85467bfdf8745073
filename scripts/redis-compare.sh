#!/usr/bin/env bash
# Sends the same commands to redis-server and to a 3-node synod cluster on
# loopback and prints each reply side by side, marking differences. Not part
# of CI (it needs redis-server and redis-cli: apt-get install redis-server
# redis-tools). Stops what it started, by pid.
#   scripts/redis-compare.sh            # every line of the built-in list
#   scripts/redis-compare.sh FILE       # one command per line from FILE
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REDIS_PORT=${REDIS_PORT:-7699}
BASE=${BASE:-7840}
for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install redis-server redis-tools)"; exit 2; }
done
cargo build --quiet --bin synod
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$dir/redis.log" 2>&1 &
pids+=($!)
peers="1=127.0.0.1:$((BASE + 11)),2=127.0.0.1:$((BASE + 12)),3=127.0.0.1:$((BASE + 13))"
for i in 1 2 3; do
  target/debug/synod node --id "$i" --client-addr "127.0.0.1:$((BASE + i))" \
    --peer-addr "127.0.0.1:$((BASE + 10 + i))" --peers "$peers" --replicas 3 \
    --cluster-id compare --bootstrap >"$dir/n$i.log" 2>&1 &
  pids+=($!)
done
sleep 1
commands() {
  if [[ $# -gt 0 ]]; then cat "$1"; return; fi
  cat <<'LIST'
FLUSHALL
SET k v NX XX
SET k v EX 0
SET k v EX abc
SET k v KEEPTTL EX 1
SET k v GET GET
SET k v
SET k v2 XX GET
SET k v3 NX
GETSET k v4
GETEX k EX 0
GETEX k EX 10 PX 10
GETEX k PERSIST
SETNX k x
SETEX k 0 v
PSETEX k 100000 v5
MSET a 1 b 2
MSET a
MGET a b nosuch
APPEND a 23
STRLEN a
GETRANGE a 0 -2
GETRANGE a x y
SETRANGE a -1 x
SETRANGE nosuch 0 ""
INCR a
INCRBY a 10
DECRBY a -9223372036854775808
INCRBYFLOAT a 0.5
INCRBYFLOAT a abc
INCR k
TYPE a
TYPE nosuch
EXISTS a a nosuch
EXPIRE a 100
EXPIRE a 10 NX XX
EXPIRE a 10 GT LT
EXPIRE a 10 foo
EXPIRE a 50 GT
TTL a
TTL nosuch
PTTL b
PERSIST a
TTL a
DEL a b nosuch
UNLINK k
DBSIZE
KEYS *
SCAN abc
SCAN 0 COUNT 0
SELECT 0
SELECT 1
SELECT x
ECHO hi
PING
PING a b
HELLO 3
HELLO 2 foo
CLIENT foo
CLIENT SETNAME
CLIENT SETNAME "a b"
CLIENT GETNAME
COMMAND foo
COMMAND DOCS nosuch
FOO a b
GET
FLUSHALL foo
LIST
}
status=0
while IFS= read -r line; do
  [[ -z "$line" ]] && continue
  eval "set -- $line"
  r=$(redis-cli -p "$REDIS_PORT" "$@" 2>&1 | tr '\n' ' ')
  s=$(redis-cli -p "$((BASE + 1))" "$@" 2>&1 | tr '\n' ' ')
  if [[ "$r" == "$s" ]]; then mark="  "; else mark="!="; status=1; fi
  printf '%s %-40s redis: %-45s synod: %s\n' "$mark" "$line" "$r" "$s"
done < <(commands "$@")
exit $status
