#!/usr/bin/env bash
# Memory per key: synod (3 nodes, N=3, every node holds every key) beside
# Redis (one node, no persistence), in one run on loopback.
#
#   scripts/bench-memory.sh [--keys N (1000000)] [--value-bytes B (100)] [--quick]
#                           [--shuffle] [--out FILE (docs/bench/memory.md)]
#
# Loads N keys key:%010d with B-byte values through `redis-cli --pipe` into
# each target (synod through node 1, then waits until every node's INFO keys:
# reaches N), and reads RSS (/proc/PID/status VmRSS) and INFO used_memory
# before and after. Bytes per key = RSS delta / N. Writes
# docs/bench/memory.md. --quick: 100,000 keys. --shuffle: write the keys in
# a random order (default: key order, the worst case for a B-tree's fill).
# Installs redis-server and redis-tools with apt-get if missing. Stops every
# server it started (by pid) on exit.
# Ports: synod 7811-7813 (peers 7911-7913), Redis 7850.
set -euo pipefail

NAME=bench-memory
export SYNOD_CLUSTER_DIR SYNOD_CLIENT_PORT_BASE=7810 SYNOD_PEER_PORT_BASE=7910
SYNOD_CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/bench-memory-cluster"
# shellcheck source=lib/measure.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/measure.sh"

KEYS=1000000 VALUE_BYTES=100 QUICK=0 KEYS_SET=0 SHUFFLE=0 OUT=""
while (($#)); do
  case "$1" in
    --keys) KEYS="${2:?--keys needs a number}"; KEYS_SET=1; shift 2 ;;
    --value-bytes) VALUE_BYTES="${2:?--value-bytes needs a number}"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --shuffle) SHUFFLE=1; shift ;;
    --out) OUT="${2:?--out needs a file}"; shift 2 ;;
    -h | --help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
if ((QUICK && !KEYS_SET)); then KEYS=100000; fi
[[ "$KEYS" =~ ^[1-9][0-9]*$ ]] || die "--keys must be a positive number, got '$KEYS'"
[[ "$VALUE_BYTES" =~ ^[1-9][0-9]*$ ]] || die "--value-bytes must be a positive number, got '$VALUE_BYTES'"
REDIS_PORT=7850
REDIS_DIR="$ROOT/target/bench-memory-redis"
OUT="${OUT:-$ROOT/docs/bench/memory.md}"
GEN_ORDER=()
if ((SHUFFLE)); then GEN_ORDER=(--shuffle); fi
WAIT_S=$((60 + KEYS / 2000)) # replicas catching up after node 1 acknowledged all

trap measure_cleanup EXIT
trap 'exit 130' INT TERM

need_redis server
port_busy "$REDIS_PORT" && die "port 127.0.0.1:$REDIS_PORT is taken (ss -ltnp 'sport = :$REDIS_PORT')"
build_synod

# --- Redis -------------------------------------------------------------------
log "starting redis-server on 127.0.0.1:$REDIS_PORT (no persistence, dir $REDIS_DIR)"
rm -rf "$REDIS_DIR" && mkdir -p "$REDIS_DIR"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no \
  --protected-mode no --dir "$REDIS_DIR" --logfile "" >"$REDIS_DIR/redis.log" 2>&1 &
REDIS_PID=$!
EXTRA_PIDS+=("$REDIS_PID")
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || die "redis did not start (log: $REDIS_DIR/redis.log)"
REDIS_VERSION="$(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-)"

r_rss0="$(rss_kb "$REDIS_PID")" r_mem0="$(info_field "$REDIS_PORT" used_memory)"
log "redis before: RSS $((r_rss0 / 1024)) MiB, used_memory $r_mem0 B; loading $KEYS keys of $VALUE_BYTES B"
t0="$(now_s)"
read -r r_err r_replies < <(python3 "$GEN" set --count "$KEYS" --value-bytes "$VALUE_BYTES" "${GEN_ORDER[@]}" | pipe_load "$REDIS_PORT")
t1="$(now_s)"
((r_err == 0 && r_replies == KEYS)) || die "redis load: errors=$r_err replies=$r_replies (wanted 0 and $KEYS)"
r_keys="$(redis-cli -p "$REDIS_PORT" dbsize | tr -d '\r')"
((r_keys == KEYS)) || die "redis DBSIZE is $r_keys after the load, wanted $KEYS"
sleep 1
r_rss1="$(rss_kb "$REDIS_PID")" r_hwm="$(hwm_kb "$REDIS_PID")" r_mem1="$(info_field "$REDIS_PORT" used_memory)"
r_load_s="$(echo "$t1 - $t0" | bc -l)"
log "redis after: RSS $((r_rss1 / 1024)) MiB, used_memory $r_mem1 B, load $(printf %.1f "$r_load_s") s"
stop_pid "$REDIS_PID" # before synod starts: they would share the cores
EXTRA_PIDS=()

# --- synod -------------------------------------------------------------------
log "starting synod: 3 nodes, N=3 (clients 127.0.0.1:7811-7813)"
synod_start 3 3
S_PIDS=() s_rss0=() s_mem0=()
for i in 1 2 3; do
  S_PIDS+=("$(node_pid "$i")")
  s_rss0+=("$(rss_kb "${S_PIDS[i - 1]}")")
  s_mem0+=("$(info_field "$(client_port "$i")" used_memory)")
done
log "synod before: RSS ${s_rss0[*]} KiB; loading $KEYS keys through node 1"
t0="$(now_s)"
read -r s_err s_replies < <(python3 "$GEN" set --count "$KEYS" --value-bytes "$VALUE_BYTES" "${GEN_ORDER[@]}" | pipe_load "$(client_port 1)")
t1="$(now_s)"
log "synod: node 1 answered $s_replies replies, $s_err errors in $(printf %.1f "$(echo "$t1 - $t0" | bc -l)") s; waiting for every replica to hold $KEYS keys (at most $WAIT_S s)"
((s_err == 0 && s_replies == KEYS)) || die "synod load: errors=$s_err replies=$s_replies (wanted 0 and $KEYS)"
short_note=""
for i in 1 2 3; do
  rc=0
  got="$(wait_keys "$(client_port "$i")" "$KEYS" "$WAIT_S")" || rc=$?
  if ((rc == 2)); then die "node $i holds $got keys after $WAIT_S s, wanted $KEYS"; fi
  if ((rc == 1)); then
    log "node $i stopped at keys:$got, $((KEYS - got)) short of $KEYS (no change for 10 s): measuring anyway"
    short_note+="- Node $i held $got keys, $((KEYS - got)) short: its node refused (the Rejects above) or missed the Accept of rounds that the other two chose, and nothing repairs a key until the next round on it (a read repairs it)."$'\n'
  fi
done
t2="$(now_s)"
sleep 1
s_rss1=() s_hwm=() s_mem1=() s_keys=()
for i in 1 2 3; do
  s_rss1+=("$(rss_kb "${S_PIDS[i - 1]}")")
  s_hwm+=("$(hwm_kb "${S_PIDS[i - 1]}")")
  s_mem1+=("$(info_field "$(client_port "$i")" used_memory)")
  s_keys+=("$(info_field "$(client_port "$i")" keys)")
done
retried="$(info_field "$(client_port 1)" attempts_retried)" timeouts="$(info_field "$(client_port 1)" phase_timeouts)"
rejects="$(info_field "$(client_port 1)" rejects_received)"
s_load_s="$(echo "$t1 - $t0" | bc -l)" s_all_s="$(echo "$t2 - $t0" | bc -l)"
log "synod after: RSS ${s_rss1[*]} KiB, used_memory ${s_mem1[*]} B"
# A second look a few seconds later: lingering rounds and buffers may drain.
sleep 5
s_rss2=()
for i in 1 2 3; do s_rss2+=("$(rss_kb "${S_PIDS[i - 1]}")"); done
log "synod 5 s later: RSS ${s_rss2[*]} KiB"

# --- report --------------------------------------------------------------------
SLOT_OVERHEAD="$(sed -n 's/^pub const SLOT_OVERHEAD_BYTES: u64 = \([0-9_]*\);.*/\1/p' "$ROOT/src/core/acceptor.rs" | tr -d _)"
SLOT_OVERHEAD="${SLOT_OVERHEAD:-?}"
per_key() { echo "$1 * 1024 / $2" | bc -l | xargs printf '%.0f'; } # KiB delta, keys -> B/key
mib() { echo "$1 / 1024" | bc -l | xargs printf '%.1f'; }
r_bpk="$(per_key $((r_rss1 - r_rss0)) "$r_keys")"
r_mem_bpk="$(echo "($r_mem1 - $r_mem0) / $KEYS" | bc -l | xargs printf '%.0f')"
rows="" sum=0 max=0 sum2=0
for i in 0 1 2; do
  bpk="$(per_key $((s_rss1[i] - s_rss0[i])) "${s_keys[i]}")"
  bpk2="$(per_key $((s_rss2[i] - s_rss0[i])) "${s_keys[i]}")"
  mem_bpk="$(echo "(${s_mem1[i]} - ${s_mem0[i]}) / ${s_keys[i]}" | bc -l | xargs printf '%.0f')"
  sum=$((sum + bpk)) sum2=$((sum2 + bpk2))
  if ((bpk > max)); then max=$bpk; fi
  rows+="| synod node $((i + 1)) | ${s_keys[i]} | $(mib "${s_rss0[i]}") | $(mib "${s_rss1[i]}") | $(mib "${s_hwm[i]}") | **$bpk** ($bpk2 5 s later) | $mem_bpk |"$'\n'
done
s_mean=$((sum / 3)) s_mean2=$((sum2 / 3))
ratio_mean="$(echo "$s_mean / $r_bpk" | bc -l | xargs printf '%.2f')"
ratio_max="$(echo "$max / $r_bpk" | bc -l | xargs printf '%.2f')"
verdict="meets"
if (($(echo "$ratio_mean > 2" | bc -l))); then verdict="misses"; fi
r_rate="$(echo "$KEYS / $r_load_s" | bc -l | xargs printf '%.0f')"
s_rate="$(echo "$KEYS / $s_load_s" | bc -l | xargs printf '%.0f')"
s_all_rate="$(echo "$KEYS / $s_all_s" | bc -l | xargs printf '%.0f')"
cmd="scripts/bench-memory.sh"
if ((QUICK)); then cmd+=" --quick"; fi
if ((KEYS_SET)); then cmd+=" --keys $KEYS"; fi
if ((VALUE_BYTES != 100)); then cmd+=" --value-bytes $VALUE_BYTES"; fi
if ((SHUFFLE)); then cmd+=" --shuffle"; fi

mkdir -p "$(dirname "$OUT")"
{
  echo "# Memory per key: synod vs Redis"
  echo
  echo "\`$cmd\` on $(date -u +%Y-%m-%d), $(machine); everything on one machine (loopback)."
  echo "$KEYS keys \`key:%010d\` (14 B) with $VALUE_BYTES-byte values, loaded with \`redis-cli --pipe\` in $( ((SHUFFLE)) && echo "a random order" || echo "key order")."
  echo "Redis $REDIS_VERSION: one node, \`--save '' --appendonly no\`. synod: 3 nodes, 3 replicas per key, so every node holds every key; loaded through node 1, measured once every node's INFO \`keys:\` reached $KEYS (or stopped changing for 10 s short of it, noted below)."
  echo "RSS is VmRSS from /proc/PID/status (peak: VmHWM); bytes per key = (RSS after - RSS before) / the keys that server holds."
  echo "used_memory/key is the server's own INFO figure (synod: key + value + $SLOT_OVERHEAD B per key by its accounting, \`SLOT_OVERHEAD_BYTES\` in src/core/acceptor.rs)."
  echo
  echo "| target | keys | RSS before (MiB) | RSS after (MiB) | peak RSS (MiB) | RSS bytes/key | used_memory bytes/key |"
  echo "|---|---|---|---|---|---|---|"
  echo "| Redis $REDIS_VERSION | $r_keys | $(mib "$r_rss0") | $(mib "$r_rss1") | $(mib "$r_hwm") | **$r_bpk** | $r_mem_bpk |"
  printf '%s' "$rows"
  echo
  echo "- synod per replica: **$s_mean B/key** mean ($s_mean2 B/key 5 s later), $max B/key max over the 3 nodes."
  echo "- Ratio synod/Redis (RSS per key): **${ratio_mean}x** mean, ${ratio_max}x max; the goal is at most 2x: it **$verdict** it."
  echo "- Load throughput (informational; one \`redis-cli --pipe\` connection): Redis $r_rate keys/s; synod $s_rate keys/s acknowledged by node 1 (quorum), $s_all_rate keys/s until all 3 replicas held every key$([[ -n "$short_note" ]] && echo " (here: until the counts stopped, 10 s included)")."
  echo "- During the synod load, node 1 (the coordinator of every round) counted $timeouts phase timeouts, $retried retried attempts and $rejects Rejects of its Accepts or Prepares by replicas (INFO)."
  printf '%s' "$short_note"
  echo "- A cluster of 3 synod nodes with N=3 keeps 3 copies: its total is 3 x the per-replica figure."
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo
cat "$OUT"
echo
log "wrote $OUT"
