#!/usr/bin/env bash
# Does memory stay bounded under endless create/delete? Tombstones of deleted
# keys are dropped once every replica has them and the grace (5 s) passed, so
# their number should plateau near delete rate x grace instead of growing.
#
#   scripts/churn.sh [--seconds 60] [--rate 1000] [--tail 15]
#
# Starts 3 nodes, N=3. For --seconds, a generator sends SET churn:i v then
# DEL churn:i, --rate keys a second (i increases: every key is new), through
# `redis-cli --pipe` to node 1. Every 5 s, and for --tail seconds after the
# generator stops, samples each node's INFO keys, tombstones, used_memory,
# tombstones_dropped and its VmRSS. Prints the time series and writes
# docs/bench/churn.md. Stops every process it started on exit.
# Ports: clients 7831-7833, peers 7931-7933.
set -euo pipefail

NAME=churn
export SYNOD_CLUSTER_DIR SYNOD_CLIENT_PORT_BASE=7830 SYNOD_PEER_PORT_BASE=7930
SYNOD_CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/churn-cluster"
# shellcheck source=lib/measure.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/measure.sh"

RUN_S=60 RATE=1000 TAIL_S=15 STEP_S=5
GRACE_MS=5000 # tombstone_grace_ms, src/core/config.rs
while (($#)); do
  case "$1" in
    --seconds) RUN_S="${2:?--seconds needs a number}"; shift 2 ;;
    --rate) RATE="${2:?--rate needs a number}"; shift 2 ;;
    --tail) TAIL_S="${2:?--tail needs a number}"; shift 2 ;;
    -h | --help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
for v in RUN_S RATE; do [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "${v}: a positive number, got '${!v}'"; done
[[ "$TAIL_S" =~ ^[0-9]+$ ]] || die "--tail must be a number, got '$TAIL_S'"
OUT="$ROOT/docs/bench/churn.md"
WORK="$SYNOD_CLUSTER_DIR-run"

trap measure_cleanup EXIT
trap 'exit 130' INT TERM

need_redis
build_synod
log "starting synod: 3 nodes, N=3 (clients 127.0.0.1:7831-7833)"
synod_start 3 3
PIDS=()
for i in 1 2 3; do PIDS+=("$(node_pid "$i")"); done

rm -rf "$WORK" && mkdir -p "$WORK"
mkfifo "$WORK/pipe"
# Two processes with their own pids (not a shell pipeline), so cleanup can
# stop each by pid.
redis-cli -p "$(client_port 1)" --pipe --pipe-timeout 60 <"$WORK/pipe" >"$WORK/redis-cli.out" 2>&1 &
CLI_PID=$!
EXTRA_PIDS+=("$CLI_PID")
python3 "$GEN" churn --rate "$RATE" --seconds "$RUN_S" >"$WORK/pipe" 2>"$WORK/gen.err" &
GEN_PID=$!
EXTRA_PIDS+=("$GEN_PID")
log "churning: $RATE keys/s created and deleted through node 1 for $RUN_S s, then $TAIL_S s idle; a sample every $STEP_S s"

# One sample: "t | keys | tombstones | used_memory KiB | RSS MiB | dropped",
# each cell the 3 nodes' figures n1/n2/n3; raw numbers go to $WORK/series.
sample() { # sample T PHASE
  local i port k tb um dr rss cells=("" "" "" "" "") info
  for i in 1 2 3; do
    port="$(client_port "$i")"
    info="$(redis-cli -p "$port" info 2>/dev/null | tr -d '\r')"
    k="$(awk -F: '$1 == "keys" {print $2}' <<<"$info")"
    tb="$(awk -F: '$1 == "tombstones" {print $2}' <<<"$info")"
    um="$(awk -F: '$1 == "used_memory" {print $2}' <<<"$info")"
    dr="$(awk -F: '$1 == "tombstones_dropped" {print $2}' <<<"$info")"
    rss="$(rss_kb "${PIDS[i - 1]}")"
    echo "$1 $2 $i ${k:-0} ${tb:-0} ${um:-0} ${dr:-0} ${rss:-0}" >>"$WORK/series"
    local sep="/"
    ((i == 1)) && sep=""
    cells[0]+="$sep${k:-?}"
    cells[1]+="$sep${tb:-?}"
    cells[2]+="$sep$(((${um:-0} + 512) / 1024))"
    cells[3]+="$sep$(printf '%.1f' "$(echo "${rss:-0} / 1024" | bc -l)")"
    cells[4]+="$sep${dr:-?}"
  done
  local row="| $1 | $2 | ${cells[0]} | ${cells[1]} | ${cells[2]} | ${cells[3]} | ${cells[4]} |"
  echo "$row" >>"$WORK/table"
  echo "$row" >&2
}

HEADER="| t (s) | phase | keys n1/n2/n3 | tombstones n1/n2/n3 | used_memory KiB n1/n2/n3 | RSS MiB n1/n2/n3 | tombstones_dropped n1/n2/n3 |"
echo "$HEADER" >&2
: >"$WORK/table"
: >"$WORK/series"
start=$SECONDS
for ((t = 0; t <= RUN_S + TAIL_S; t += STEP_S)); do
  while ((SECONDS - start < t)); do sleep 0.2; done
  phase=churn
  ((t >= RUN_S)) && phase=idle
  ((t == 0)) && phase=start
  sample "$t" "$phase"
done
wait "$GEN_PID" || die "the generator failed: $(cat "$WORK/gen.err")"
wait "$CLI_PID" || die "redis-cli --pipe failed: $(cat "$WORK/redis-cli.out")"
EXTRA_PIDS=()
gen_line="$(cat "$WORK/gen.err")"
read -r errors replies < <(awk -F'[:, ]+' '/^errors:/ {print $2, $4}' "$WORK/redis-cli.out")
sent="$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<<"$gen_line")"
achieved="$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$gen_line")"
log "generator: $gen_line; redis-cli: errors $errors, replies $replies (2 per key: SET and DEL)"

mib() { printf '%.1f' "$(echo "$1 / 1024" | bc -l)"; }

# --- verdict ------------------------------------------------------------------------
# Plateau: tombstones over the second half of the churn phase; growth: the
# last third against the middle third (both mean over nodes and samples).
stats="$(awk -v run="$RUN_S" '
  $2 == "churn" && $1 >= run / 2 { n++; tb += $5; if ($5 > tmax) tmax = $5; um += $6; rss += $8 }
  $2 == "churn" && $1 >= run / 3 && $1 < 2 * run / 3 { nm++; mid += $5; midr += $8 }
  $2 == "churn" && $1 >= 2 * run / 3 { nl++; last += $5; lastr += $8 }
  $1 != lt { lt = $1; idle_tb = 0; idle_um = 0 }
  { if ($5 > idle_tb) idle_tb = $5; if ($6 > idle_um) idle_um = $6 }
  END {
    printf "%.0f %d %.0f %.0f %.0f %.0f %.0f %.0f %s %s\n",
      n ? tb / n : 0, tmax, n ? um / n : 0, n ? rss / n : 0,
      nm ? mid / nm : 0, nl ? last / nl : 0, nm ? midr / nm : 0, nl ? lastr / nl : 0,
      idle_tb + 0, idle_um + 0
  }' "$WORK/series")"
read -r plateau tmax um_plateau rss_plateau mid_tb last_tb mid_rss last_rss end_tb end_um <<<"$stats"
expect_tb=$((achieved * GRACE_MS / 1000))
grow_tb="$(echo "$mid_tb > 0 && $last_tb > 1.2 * $mid_tb" | bc -l)"
grow_rss="$(echo "$mid_rss > 0 && $last_rss > 1.2 * $mid_rss" | bc -l)"
if ((RUN_S < 30)); then
  verdict="The run is too short (under 30 s) to judge a plateau."
elif ((grow_tb)); then
  verdict="**Tombstones did not plateau**: their mean over the last third of the churn ($last_tb per node) is more than 1.2 x that over the middle third ($mid_tb)."
else
  verdict="**Tombstones plateau**: about $plateau per node over the second half of the churn (at most $tmax), against rate x grace = $achieved x $((GRACE_MS / 1000)) s = $expect_tb; last third $last_tb vs middle third $mid_tb."
fi
if ((RUN_S >= 30)); then
  if ((grow_rss)); then
    verdict+=" **RSS kept growing**: the mean over the last third is $(mib "$last_rss") MiB against $(mib "$mid_rss") MiB over the middle third."
  else
    verdict+=" RSS stays within 20 %: $(mib "$mid_rss") MiB (middle third) and $(mib "$last_rss") MiB (last third), mean per node."
  fi
fi
verdict+=" $TAIL_S s after the generator stopped: at most $end_tb tombstones and $((end_um / 1024)) KiB used_memory on a node."
log "$verdict"

# --- report ----------------------------------------------------------------------
cmd="scripts/churn.sh"
((RUN_S != 60)) && cmd+=" --seconds $RUN_S"
((RATE != 1000)) && cmd+=" --rate $RATE"
((TAIL_S != 15)) && cmd+=" --tail $TAIL_S"
mkdir -p "$(dirname "$OUT")"
{
  echo "# Churn: memory under endless create/delete"
  echo
  echo "\`$cmd\` on $(date -u +%Y-%m-%d), $(machine); 3 nodes, N=3, on one machine (loopback)."
  echo "One \`redis-cli --pipe\` to node 1 gets \`SET churn:i v\` then \`DEL churn:i\` (100-byte values; i increases, so every key is new) at $RATE keys/s for $RUN_S s (achieved: $achieved keys/s, $sent keys; redis-cli: $errors errors, $replies replies), then nothing for $TAIL_S s."
  echo "Each row samples every node's INFO (\`keys\`, \`tombstones\`, \`used_memory\`, \`tombstones_dropped\`) and VmRSS; cells are node 1/node 2/node 3."
  echo "A tombstone is dropped once every replica accepted it and \`tombstone_grace_ms\` = $GRACE_MS ms passed, so the expected plateau is about rate x grace = $expect_tb per node."
  echo
  echo "$HEADER"
  echo "|---|---|---|---|---|---|---|"
  cat "$WORK/table"
  echo
  echo "$verdict"
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo
cat "$OUT"
echo
log "wrote docs/bench/churn.md"
