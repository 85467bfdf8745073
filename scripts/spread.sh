#!/usr/bin/env bash
# How evenly keys spread over M nodes with N replicas each, and whether every
# key stays readable and writable with one node killed.
#
#   scripts/spread.sh [--nodes 5] [--replicas 3] [--keys 100000] [--kill ID (1)]
#                     [--sample-get 2000] [--sample-set 500]
#
# Starts a cluster of --nodes with --replicas per key, loads --keys keys
# key:%010d through node 1 (`redis-cli --pipe`), waits until the nodes' INFO
# keys: add up to N x K, and prints keys per node against the expected
# N x K / M. Then kills node --kill with SIGKILL (its pid from the run folder)
# and, through the surviving nodes in turn, GETs --sample-get random keys
# (checking each value) and SETs --sample-set others (then reads them back).
# Writes docs/bench/spread.md. Stops every node it started on exit.
# Ports: clients 7821.., peers 7921...
set -euo pipefail

NAME=spread
export SYNOD_CLUSTER_DIR SYNOD_CLIENT_PORT_BASE=7820 SYNOD_PEER_PORT_BASE=7920
SYNOD_CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/spread-cluster"
# shellcheck source=lib/measure.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/measure.sh"

NODES=5 REPLICAS=3 KEYS=100000 KILL=1 SAMPLE_GET=2000 SAMPLE_SET=500
while (($#)); do
  case "$1" in
    --nodes) NODES="${2:?--nodes needs a number}"; shift 2 ;;
    --replicas) REPLICAS="${2:?--replicas needs a number}"; shift 2 ;;
    --keys) KEYS="${2:?--keys needs a number}"; shift 2 ;;
    --kill) KILL="${2:?--kill needs a node id}"; shift 2 ;;
    --sample-get) SAMPLE_GET="${2:?--sample-get needs a number}"; shift 2 ;;
    --sample-set) SAMPLE_SET="${2:?--sample-set needs a number}"; shift 2 ;;
    -h | --help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
for v in NODES REPLICAS KEYS KILL SAMPLE_GET SAMPLE_SET; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "--${v,,} must be a positive number, got '${!v}'"
done
((REPLICAS <= NODES)) || die "--replicas ($REPLICAS) must be at most --nodes ($NODES)"
((KILL <= NODES)) || die "--kill must name a node 1..$NODES"
((NODES >= 2)) || die "--nodes must be at least 2 (one is killed)"
((SAMPLE_GET + SAMPLE_SET <= KEYS)) || die "--sample-get + --sample-set must be at most --keys"
OUT="$ROOT/docs/bench/spread.md"
WORK="$SYNOD_CLUSTER_DIR-check"
WAIT_S=$((60 + KEYS / 2000))

trap measure_cleanup EXIT
trap 'exit 130' INT TERM

need_redis
build_synod
log "starting synod: $NODES nodes, N=$REPLICAS (clients 127.0.0.1:$(client_port 1)-$(client_port "$NODES"))"
synod_start "$NODES" "$REPLICAS"

log "loading $KEYS keys through node 1"
t0="$(now_s)"
read -r err replies < <(python3 "$GEN" set --count "$KEYS" | pipe_load "$(client_port 1)")
t1="$(now_s)"
((err == 0 && replies == KEYS)) || die "load: errors=$err replies=$replies (wanted 0 and $KEYS)"
log "node 1 acknowledged $KEYS keys in $(printf %.1f "$(echo "$t1 - $t0" | bc -l)") s; waiting for the replicas (at most $WAIT_S s)"

want=$((REPLICAS * KEYS)) deadline=$((SECONDS + WAIT_S)) last=-1 moved=$SECONDS
while :; do
  counts=() total=0
  for ((i = 1; i <= NODES; i++)); do
    c="$(info_field "$(client_port "$i")" keys)"
    counts+=("${c:-0}")
    total=$((total + ${c:-0}))
  done
  if ((total >= want)); then break; fi
  if ((total != last)); then last=$total moved=$SECONDS; fi
  if ((SECONDS - moved >= 10)); then
    log "the copies stopped at $total, $((want - total)) short of $want (no change for 10 s): replicas that missed an Accept of a round the others chose; counting anyway"
    break
  fi
  if ((SECONDS >= deadline)); then die "the nodes hold $total key copies after $WAIT_S s, wanted $want (${counts[*]})"; fi
  sleep 0.5
done

load_timeouts="$(info_field "$(client_port 1)" phase_timeouts)" load_retried="$(info_field "$(client_port 1)" attempts_retried)"
load_rejects="$(info_field "$(client_port 1)" rejects_received)"
expected="$(echo "$REPLICAS * $KEYS / $NODES" | bc -l)"
min="${counts[0]}" max="${counts[0]}"
for c in "${counts[@]}"; do
  if ((c < min)); then min=$c; fi
  if ((c > max)); then max=$c; fi
done
mean="$(echo "$total / $NODES" | bc -l)"
f2() { printf '%.2f' "$1"; }
f3() { printf '%.3f' "$1"; }
spread_rows=""
for ((i = 1; i <= NODES; i++)); do
  c="${counts[i - 1]}"
  dev="$(echo "100 * ($c - $expected) / $expected" | bc -l)"
  spread_rows+="| $i | $c | $(printf '%+.2f' "$dev") % |"$'\n'
  log "node $i: keys:$c ($(printf '%+.2f' "$dev") % against $(printf '%.0f' "$expected"))"
done
ratio_maxmin="$(f3 "$(echo "$max / $min" | bc -l)")"
ratio_maxmean="$(f3 "$(echo "$max / $mean" | bc -l)")"
ratio_minmean="$(f3 "$(echo "$min / $mean" | bc -l)")"
log "max/min $ratio_maxmin, max/mean $ratio_maxmean, min/mean $ratio_minmean; expected N*K/M = $(printf '%.0f' "$expected")"

# --- one node killed ------------------------------------------------------------
killed_pid="$(node_pid "$KILL")"
log "killing node $KILL (pid $killed_pid, SIGKILL)"
kill -9 "$killed_pid"
for _ in $(seq 50); do kill -0 "$killed_pid" 2>/dev/null || break; sleep 0.02; done
survivors=()
for ((i = 1; i <= NODES; i++)); do ((i == KILL)) || survivors+=("$i"); done
S=${#survivors[@]}

rm -rf "$WORK" && mkdir -p "$WORK"
# Runs inline commands part by part, part j through survivor j (round robin);
# prints "mismatches total seconds". Mismatching lines go to $WORK/$1.bad.
run_check() { # run_check NAME (reads $WORK/NAME.cmds and $WORK/NAME.expect)
  local name="$1" j bad=0 n t0 t1
  : >"$WORK/$name.bad"
  t0="$(now_s)"
  for ((j = 0; j < S; j++)); do
    awk -v j="$j" -v s="$S" '(NR - 1) % s == j' "$WORK/$name.cmds" >"$WORK/$name.cmds.$j"
    awk -v j="$j" -v s="$S" '(NR - 1) % s == j' "$WORK/$name.expect" >"$WORK/$name.expect.$j"
    redis-cli -p "$(client_port "${survivors[j]}")" <"$WORK/$name.cmds.$j" 2>&1 | tr -d '\r' >"$WORK/$name.got.$j" || true
    paste -d'|' "$WORK/$name.cmds.$j" "$WORK/$name.expect.$j" "$WORK/$name.got.$j" |
      awk -F'|' -v node="${survivors[j]}" '$2 != $3 {print "node " node ": " $1 " -> " $3 " (wanted " $2 ")"}' >>"$WORK/$name.bad"
  done
  t1="$(now_s)"
  bad="$(wc -l <"$WORK/$name.bad")"
  n="$(wc -l <"$WORK/$name.cmds")"
  echo "$bad $n $(printf '%.1f' "$(echo "$t1 - $t0" | bc -l)")"
}

log "GET $SAMPLE_GET random keys through nodes ${survivors[*]} (checking every value)"
python3 "$GEN" sample --of "$KEYS" --count "$SAMPLE_GET" --op get --seed 1 --expect "$WORK/get.expect" >"$WORK/get.cmds"
read -r get_bad get_n get_s < <(run_check get)
log "GET: $get_bad of $get_n wrong or failed ($get_s s)"

log "SET $SAMPLE_SET other random keys through nodes ${survivors[*]}, then read them back"
# Seed 2 picks from the same keys; any overlap with the GET sample is harmless
# (the GETs are done), and the read-back below checks the new values.
python3 "$GEN" sample --of "$KEYS" --count "$SAMPLE_SET" --op set --seed 2 --expect "$WORK/set.expect" >"$WORK/set.cmds"
read -r set_bad set_n set_s < <(run_check set)
log "SET: $set_bad of $set_n not OK ($set_s s)"
# Read back through the next survivor: the one that did not take the SET.
awk '{print "GET " $2}' "$WORK/set.cmds" >"$WORK/back.cmds"
awk '{print $3}' "$WORK/set.cmds" >"$WORK/back.expect"
survivors=("${survivors[@]:1}" "${survivors[0]}")
read -r back_bad back_n back_s < <(run_check back)
log "read-back: $back_bad of $back_n wrong ($back_s s)"
if ((get_bad + set_bad + back_bad)); then
  log "first failures:"
  cat "$WORK"/{get,set,back}.bad | head -n 5 >&2
fi
verdict="every sampled key was readable and writable"
((get_bad + set_bad + back_bad == 0)) || verdict="**$((get_bad + set_bad + back_bad)) checks failed** (see the failures below)"

# --- report ---------------------------------------------------------------------
cmd="scripts/spread.sh"
((NODES != 5)) && cmd+=" --nodes $NODES"
((REPLICAS != 3)) && cmd+=" --replicas $REPLICAS"
((KEYS != 100000)) && cmd+=" --keys $KEYS"
((KILL != 1)) && cmd+=" --kill $KILL"
mkdir -p "$(dirname "$OUT")"
{
  echo "# Key spread over $NODES nodes, $REPLICAS replicas per key"
  echo
  echo "\`$cmd\` on $(date -u +%Y-%m-%d), $(machine); all nodes on one machine (loopback)."
  echo "$KEYS keys \`key:%010d\` loaded through node 1 with \`redis-cli --pipe\`; placement is rendezvous hashing (\`src/core/placement.rs\`)."
  if ((total >= want)); then
    echo "Counts are each node's INFO \`keys:\` once they added up to N x K = $want."
  else
    echo "Counts are each node's INFO \`keys:\` once they stopped changing for 10 s at $total, **$((want - total)) short of N x K = $want**: replicas that missed the Accept of a round the other replicas chose hold the key only after the next round on it (during the load node 1, the coordinator of every round, counted $load_rejects Rejects from replicas, $load_timeouts phase timeouts and $load_retried retried attempts)."
  fi
  echo
  echo "| node | keys | against N x K / M = $(printf '%.0f' "$expected") |"
  echo "|---|---|---|"
  printf '%s' "$spread_rows"
  echo
  echo "- max $max, min $min: max/min **$ratio_maxmin**, max/mean $ratio_maxmean, min/mean $ratio_minmean."
  echo
  echo "## With node $KILL killed (SIGKILL)"
  echo
  echo "Through the surviving nodes (${survivors[*]}) in turn, one plain \`redis-cli\` per node, one request at a time:"
  echo
  echo "| check | keys | failed | seconds |"
  echo "|---|---|---|---|"
  echo "| GET random loaded keys, value checked | $get_n | $get_bad | $get_s |"
  echo "| SET other random keys, OK expected | $set_n | $set_bad | $set_s |"
  echo "| GET those back through another survivor, new value checked | $back_n | $back_bad | $back_s |"
  echo
  echo "Result: $verdict. With N = $REPLICAS of M = $NODES, about $REPLICAS/$NODES of the sampled keys had node $KILL among their replicas and were served by their other replicas."
  if ((get_bad + set_bad + back_bad)); then
    echo
    echo "First failures:"
    echo
    echo '```'
    cat "$WORK"/{get,set,back}.bad | head -n 10
    echo '```'
  fi
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo
cat "$OUT"
echo
log "wrote docs/bench/spread.md"
((get_bad + set_bad + back_bad == 0)) || exit 1
