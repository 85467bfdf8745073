#!/usr/bin/env bash
# Sends the same commands to redis-server and to a 3-node synod cluster on
# loopback and prints each reply side by side, marking differences. Not part
# of CI (it needs redis-server and redis-cli: apt-get install redis-server
# redis-tools). Stops what it started, by pid.
#   scripts/redis-compare.sh            # every line of the built-in list
#   scripts/redis-compare.sh FILE       # one command per line from FILE
# A line may start with markers: `~` compares the reply's lines sorted (an
# unordered set or hash), `#` compares only how many lines (random members,
# or what names the server), `@3` runs both in RESP3 and shows the reply
# types (redis-cli -3 --no-raw), `h` compares only the `# Section` lines
# (INFO: which sections, in which order).
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
# HELLO 3
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
FLUSHALL
HSET h f1 v1 f2 v2
HSET h f1 x f3 v3
HSET h f1
HMSET h f4 v4
HSETNX h f1 y
HSETNX h f9 y
HGET h f1
HGET h nosuch
HGET nosuch f
HMGET h f1 nosuch f2
HGETALL h
@3 HGETALL h
HGETALL nosuch
HKEYS h
HVALS h
HLEN h
HEXISTS h f1
HEXISTS h nosuch
HSTRLEN h f1
HINCRBY h n 5
HINCRBY h n -10
HINCRBY h f1 1
HINCRBY h n x
HINCRBYFLOAT h fl 1.5
HINCRBYFLOAT h fl 0.25
HINCRBYFLOAT h f1 1
HINCRBYFLOAT h fl abc
HDEL h f1 nosuch f2
HDEL h nosuch
# HRANDFIELD h
# HRANDFIELD h 2
# HRANDFIELD h -5 WITHVALUES
HRANDFIELD nosuch
HRANDFIELD nosuch 3
~ HSCAN h 0
HSCAN h 0 MATCH f*
HSCAN h x
TYPE h
GET h
SET s1 v
HGET s1 f
HSET s1 f v
SADD s a b c
SADD s a d
SADD s
SREM s a nosuch
~ SMEMBERS s
SMEMBERS nosuch
SISMEMBER s b
SISMEMBER s nosuch
SMISMEMBER s b nosuch c
SCARD s
SCARD nosuch
# SPOP s
# SPOP s 2
SPOP nosuch
SPOP s -1
# SRANDMEMBER s
# SRANDMEMBER s -5
SRANDMEMBER nosuch
SRANDMEMBER nosuch 2
SADD s2 x y z
~ SSCAN s2 0
~ SINTER s2 s2
~ SUNION s2 nosuch
~ SDIFF s2 nosuch
SINTER s2 nosuch
SINTER s2 s1
SUNIONSTORE s2 s2
SDIFFSTORE s2 s2
EXISTS s2
SMOVE s2 s2 x
TYPE s
ZADD z 1 a 2 b 3 c
ZADD z NX 5 a 4 d
ZADD z XX CH 10 a 9 nosuch
ZADD z GT CH 1 a 11 b
ZADD z LT 0 c
ZADD z INCR 2 a
ZADD z NX INCR 2 a
ZADD z NX XX 1 a
ZADD z GT LT 1 a
ZADD z INCR 1 a 2 b
ZADD z 1
ZADD z x a
ZADD z nan a
ZSCORE z a
@3 ZSCORE z a
ZSCORE z nosuch
ZMSCORE z a nosuch b
ZINCRBY z 2.5 c
ZINCRBY z x c
ZCARD z
ZCARD nosuch
ZCOUNT z -inf +inf
ZCOUNT z "(2" 10
ZCOUNT z x 1
ZRANGE z 0 -1
ZRANGE z 0 -1 WITHSCORES
@3 ZRANGE z 0 -1 WITHSCORES
ZRANGE z 0 -1 REV
ZRANGE z "(1" +inf BYSCORE
ZRANGE z +inf -inf BYSCORE REV LIMIT 1 2
ZRANGE z 0 1 LIMIT 0 1
ZRANGE z - + BYLEX
ZRANGE z "[a" "(c" BYLEX WITHSCORES
ZRANGE z x y
ZRANGEBYSCORE z -inf +inf WITHSCORES LIMIT 0 2
ZREVRANGEBYSCORE z +inf 2
ZREVRANGE z 0 1 WITHSCORES
ZADD lex 0 a 0 b 0 c 0 d
ZRANGEBYLEX lex "[b" +
ZREVRANGEBYLEX lex "(c" -
ZRANGEBYLEX lex b +
ZRANK z a
ZRANK z nosuch
ZREVRANK z a
ZREM z a nosuch
ZPOPMIN z
ZPOPMAX z 2
@3 ZPOPMIN z 1
ZPOPMIN nosuch
ZPOPMIN z -1
ZADD z2 1 a 2 b 3 c 4 d 5 e
ZREMRANGEBYSCORE z2 "(1" 2
ZREMRANGEBYRANK z2 -1 -1
ZREMRANGEBYLEX lex "[a" "[b"
ZRANGE z2 0 -1
ZSCAN z2 0
TYPE z2
RPUSH l a b c
LPUSH l x y
LPUSHX nosuch a
RPUSHX l z
LRANGE l 0 -1
LRANGE l -2 100
LRANGE l 5 1
LLEN l
LLEN nosuch
LINDEX l 0
LINDEX l -1
LINDEX l 99
LSET l 0 Y
LSET l 99 x
LSET nosuch 0 x
LINSERT l BEFORE a A
LINSERT l AFTER nosuch B
LINSERT nosuch AFTER a B
LINSERT l MIDDLE a B
RPUSH l a a
LPOS l a
LPOS l a RANK -1
LPOS l a COUNT 0
LPOS l a RANK 2 COUNT 1 MAXLEN 10
LPOS l a RANK 0
LPOS l nosuch
LREM l -1 a
LREM l 0 a
LPOP l
RPOP l 2
LPOP l 0
LPOP nosuch
LPOP nosuch 2
LPOP l -1
LMOVE l l LEFT RIGHT
RPOPLPUSH l l
LMOVE l l UP DOWN
LTRIM l 1 -1
LRANGE l 0 -1
LTRIM l 5 1
EXISTS l
TYPE l
LPUSH s1 x
BLPOP l 0.1
EVAL "return redis.call('set', KEYS[1], ARGV[1])" 1 sk v
EVAL "return redis.call('get', KEYS[1])" 1 sk
EVAL "return {1, 'a', false, redis.status_reply('fine')}" 1 sk
EVAL "return redis.call('incr', KEYS[1])" 1 sk
EVAL "return redis.pcall('incr', KEYS[1])['err']" 1 sk
SCRIPT LOAD "return ARGV[1]"
EVALSHA 098e0f0d1448c0a81dafe820f66d460eb09263da 1 sk hello
EVALSHA 0000000000000000000000000000000000000000 1 sk
SCRIPT EXISTS 098e0f0d1448c0a81dafe820f66d460eb09263da ffff
EVAL "return 1" -1
EVAL "return 1" 3 a
SADD one m
@3 SMEMBERS one
@3 ZMSCORE z2 a nosuch
@3 HRANDFIELD nosuch
@3 LPOP nosuch 2
@3 HELLO 2 foo
@3 CONFIG GET appendonly
@3 GET nosuch
@3 ZINCRBY z2 0.5 a
SETBIT bm 7 1
SETBIT bm 7 0
SETBIT bm 100 1
GET bm
SETBIT bm -1 1
SETBIT bm 4294967296 1
SETBIT bm 1 2
SETBIT bm x 1
SETBIT s1 0 1
GETBIT bm 100
GETBIT bm 1000
GETBIT bm -1
GETBIT nosuch 3
GETBIT s1 0
OBJECT ENCODING bm
SET foobar foobar
BITCOUNT foobar
BITCOUNT foobar 0 0
BITCOUNT foobar 1 1
BITCOUNT foobar 1 1 BYTE
BITCOUNT foobar 1 1 BIT
BITCOUNT foobar 5 30 BIT
BITCOUNT foobar -2 -1
BITCOUNT foobar -1 -2
BITCOUNT foobar -100 100
BITCOUNT foobar 1
BITCOUNT foobar 0 1 foo
BITCOUNT foobar a 1
BITCOUNT nosuch
BITCOUNT nosuch 0 -1 BIT
BITCOUNT s1
SET ones $'\xff\xff'
SET mixed $'\x00\xff\xf0'
BITPOS foobar 1
BITPOS foobar 0
BITPOS foobar 1 2
BITPOS foobar 1 2 -1 BYTE
BITPOS ones 0
BITPOS ones 0 0 -1
BITPOS ones 0 1
BITPOS ones 0 0 -1 BIT
BITPOS ones 1 5 3
BITPOS mixed 1 0
BITPOS mixed 1 2 -1 BYTE
BITPOS mixed 1 7 15 BIT
BITPOS mixed 1 7 -3 BIT
BITPOS mixed 0 8 -1 BIT
BITPOS mixed 0 8 BIT
BITPOS mixed 0 3 -3 BIT
BITPOS mixed 0 -1 -1 BIT
BITCOUNT mixed 3 -3 BIT
BITPOS nosuch 0
BITPOS nosuch 1
BITPOS nosuch 1 x
BITPOS foobar 2
BITPOS foobar x
BITPOS foobar 1 x
BITPOS foobar 1 0 1 foo
BITPOS foobar 1 0 1 BIT extra
BITPOS s1 1
SET lcs1 ohmytext
SET lcs2 mynewtext
LCS lcs1 lcs2
LCS lcs1 lcs2 LEN
LCS lcs1 lcs2 IDX
LCS lcs1 lcs2 IDX MINMATCHLEN 4 WITHMATCHLEN
LCS lcs1 lcs2 IDX MINMATCHLEN -3
@3 LCS lcs1 lcs2 IDX WITHMATCHLEN
LCS lcs1 lcs2 LEN IDX
LCS lcs1 lcs2 foo
LCS lcs1 lcs2 MINMATCHLEN
LCS lcs1 lcs2 MINMATCHLEN x
LCS lcs1 nosuch
LCS lcs1 lcs1
LCS lcs1 s1
LCS nosuch nosuch2
LCS nosuch nosuch2 IDX
TOUCH lcs1 nosuch lcs1 s1
TOUCH nosuch
MSETNX m1 a m1 b
GET m1
MSETNX m1 c m1 d
MSETNX m1 a b
MSETNX m2 a m3 b
RENAME lcs1 lcs1
RENAMENX lcs1 lcs1
RENAME s1 s1
RENAME nosuch nosuch
RENAMENX nosuch nosuch
RENAME nosuch lcs3
RENAMENX nosuch lcs3
COPY lcs1 lcs1
COPY lcs1 lcs1 REPLACE
COPY lcs1 lcs1 DB x
COPY lcs1 lcs1 foo
COPY nosuch lcs3
OBJECT HELP
@3 OBJECT HELP
SET five 5
SET big 12345
OBJECT REFCOUNT five
OBJECT REFCOUNT big
OBJECT REFCOUNT lcs1
OBJECT REFCOUNT nosuch
OBJECT REFCOUNT s1
OBJECT FREQ nosuch
OBJECT IDLETIME nosuch
OBJECT FREQ lcs1
OBJECT IDLETIME lcs1
OBJECT REFCOUNT
OBJECT FREQ a b
OBJECT foo
# RANDOMKEY
h INFO server
h INFO server clients
h INFO clients server
h INFO Clients nosuch
h INFO commandstats errorstats
INFO nosuch other
INFO nosuch
FLUSHALL
RANDOMKEY
LIST
}
status=0 lines=0 same=0
while IFS= read -r line; do
  [[ -z "$line" ]] && continue
  cmd=$line how=same proto=()
  while true; do
    case "$cmd" in
      "~ "*) how=sorted cmd=${cmd#"~ "} ;;
      "# "*) how=count cmd=${cmd#"# "} ;;
      "@3 "*) proto=(-3 --no-raw) cmd=${cmd#"@3 "} ;;
      "h "*) how=headers cmd=${cmd#"h "} ;;
      *) break ;;
    esac
  done
  eval "set -- $cmd"
  r=$(redis-cli "${proto[@]}" -p "$REDIS_PORT" "$@" 2>&1)
  s=$(redis-cli "${proto[@]}" -p "$((BASE + 1))" "$@" 2>&1)
  case $how in
    sorted) r=$(sort <<<"$r") s=$(sort <<<"$s") ;;
    count) r="$(wc -l <<<"$r") lines" s="$(wc -l <<<"$s") lines" ;;
    headers) r=$(grep '^#' <<<"$r" || true) s=$(grep '^#' <<<"$s" || true) ;;
  esac
  r=$(tr '\n' ' ' <<<"$r") s=$(tr '\n' ' ' <<<"$s")
  lines=$((lines + 1))
  if [[ "$r" == "$s" ]]; then mark="  " same=$((same + 1)); else mark="!="; status=1; fi
  printf '%s %-40s redis: %-45s synod: %s\n' "$mark" "$line" "$r" "$s"
done < <(commands "$@")
echo "$same of $lines lines match"
exit $status
