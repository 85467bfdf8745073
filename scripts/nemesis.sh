#!/usr/bin/env bash
# Live nemesis: a real cluster on loopback, concurrent clients, random faults,
# then heal, wait for recovery and check the whole history for per-key
# linearizability with the simulator's checker.
#
#   scripts/nemesis.sh [--nodes 3|5] [--duration 60] [--history FILE]
#                      [--faults kill,pause,partition] [--clients 8] [--seed S]
#                      [--keys 8] [--recovery-timeout 60] [--post-heal 3]
#                      [--membership] [--fill K]
#
# Faults (at random, seeded; never more than F = (N-1)/2 nodes faulted at once):
#   kill       kill -9 a node, restart it 0.3-1.5 s later WITHOUT --bootstrap and
#              poll `synod info` until it reports role:voter (timed: recovery).
#   pause      SIGSTOP a node for 0.3-2 s, then SIGCONT.
#   partition  cut a group of 1..F nodes off from the rest for 1-4 s, both ways, on
#              the peer links only (clients still reach every node). Needs root,
#              iptables and cgroup v2: each node runs in its own cgroup
#              (<cgroup2>/synod-nemesis-PID/nodeI) and a private iptables chain
#              drops OUTPUT on lo from node A's cgroup to node B's peer port.
#              Removed at heal and always at exit (trap), chain included.
# Default faults: kill,pause plus partition when the machine supports it.
#
# --membership: a membership change in the middle of the faults. The clients
# talk to nodes 2..N only; at 30% of --duration `cluster.sh add --retry 60`
# starts node N+1 and adds it, and once that ended (and not before 55%)
# `cluster.sh remove 1 --retry 60` removes node 1, while faults go on. N+1
# is faulted like the others once added; node 1 is not faulted from its
# removal on (a fault it has then ends first). F stays (N-1)/2: --replicas
# stays N, so every replica set, old or new, has N nodes, and with at most F
# faulted ones each has a quorum, as the joint epoch needs of the old AND the
# new set; the membership register (every member, a majority) tolerates more.
# Each step goes into the fault log (`synod-sim timeline` shades "joining" and
# "leaving"); the summary gives the epochs and how long each change took. A
# change that has not ended when the faults are healed must end after (300 s
# at most), and every member must then agree on the final epoch.
# --fill K: K more keys (100-byte values, not in the history) written before
# the clients start, so that each change has keys to move for a few seconds
# and the faults hit its joint epoch (default with --membership 360000 / N²:
# 40000 for 3 nodes, 14400 for 5; else 0).
#
# Exit status: 0 linearizable; 1 a linearizability violation, a stuck operation
# after heal, a node that never finished recovery or died on its own, a
# membership change that failed or never ended; 2 usage.
# Environment: SYNOD_CLUSTER_DIR (target/nemesis), SYNOD_CLIENT_PORT_BASE (7200),
# SYNOD_PEER_PORT_BASE (7300), SYNOD_BIN / SYNOD_SIM_BIN / SYNOD_BENCH_BIN (the
# load driver; skip the builds).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SYNOD_CLUSTER_DIR="${SYNOD_CLUSTER_DIR:-$ROOT/target/nemesis}"
export SYNOD_CLIENT_PORT_BASE="${SYNOD_CLIENT_PORT_BASE:-7200}"
export SYNOD_PEER_PORT_BASE="${SYNOD_PEER_PORT_BASE:-7300}"
CLIENT_BASE="$SYNOD_CLIENT_PORT_BASE"
PEER_BASE="$SYNOD_PEER_PORT_BASE"
DIR="$SYNOD_CLUSTER_DIR"

NODES=3 DURATION=60 HISTORY="$ROOT/target/nemesis-history.jsonl" FAULTS="" CLIENTS=8
SEED="$(( $(date +%s) % 100000 ))" KEYS=8 RECOVERY_TIMEOUT=60 POST_HEAL=3 MEMBERSHIP=0 FILL=""

die() { echo "nemesis.sh: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2; }
log() { printf '[%6.1fs] %s\n' "$(( (NOW - T0) ))e-3" "$*"; }
num() { [[ "$2" =~ ^[0-9]+$ ]] || die "$1 needs a number, got '$2'"; }

while (($#)); do
  case "$1" in
    --nodes) NODES="${2:-}"; shift 2 ;;
    --duration) DURATION="${2:-}"; shift 2 ;;
    --history) HISTORY="${2:-}"; shift 2 ;;
    --faults) FAULTS="${2:-}"; shift 2 ;;
    --clients) CLIENTS="${2:-}"; shift 2 ;;
    --seed) SEED="${2:-}"; shift 2 ;;
    --keys) KEYS="${2:-}"; shift 2 ;;
    --recovery-timeout) RECOVERY_TIMEOUT="${2:-}"; shift 2 ;;
    --post-heal) POST_HEAL="${2:-}"; shift 2 ;;
    --membership) MEMBERSHIP=1; shift ;;
    --fill) FILL="${2:-}"; shift 2 ;;
    -h | --help) usage ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
num --nodes "$NODES"; num --duration "$DURATION"; num --clients "$CLIENTS"; num --seed "$SEED"
num --keys "$KEYS"; num --recovery-timeout "$RECOVERY_TIMEOUT"; num --post-heal "$POST_HEAL"
# With N replicas a change moves more keys, each in rounds to more nodes.
[[ -n "$FILL" ]] || FILL=$((MEMBERSHIP * 360000 / (NODES * NODES)))
num --fill "$FILL"
((NODES >= 3 && NODES <= 9)) || die "--nodes must be 3..9 (3 or 5 are the usual), got $NODES"
((CLIENTS >= 1 && KEYS >= 1)) || die "--clients and --keys must be at least 1"
F=$(((NODES - 1) / 2))
# Node ids in play: 1..MAXID (with --membership node N+1 joins, node 1 leaves).
MAXID=$((NODES + MEMBERSHIP)) NEW=$((NODES + 1))
HISTORY="$(cd "$(dirname "$HISTORY")" 2>/dev/null && pwd)/$(basename "$HISTORY")" ||
  die "the folder of --history does not exist"

# --- can this machine partition? -------------------------------------------
CG2_ROOT="$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts 2>/dev/null || true)"
CG_NAME="synod-nemesis-$$"
CHAIN="SYNOD-NEM-$$"
partition_support() { # prints why not, or nothing
  [[ "$(id -u)" == 0 ]] || { echo "not root"; return; }
  command -v iptables >/dev/null || { echo "no iptables (apt-get install -y iptables)"; return; }
  [[ -n "$CG2_ROOT" && -w "$CG2_ROOT" ]] || { echo "no writable cgroup v2 mount"; return; }
  iptables -S OUTPUT >/dev/null 2>&1 || { echo "iptables does not work here"; return; }
}
WHY_NOT="$(partition_support)"
if [[ -z "$FAULTS" ]]; then
  FAULTS="kill,pause"
  if [[ -z "$WHY_NOT" ]]; then FAULTS+=",partition"; else echo "nemesis.sh: partition off: $WHY_NOT"; fi
fi
IFS=',' read -ra KINDS <<<"$FAULTS"
PARTITION=0
for k in "${KINDS[@]}"; do
  case "$k" in
    kill | pause) ;;
    partition) [[ -z "$WHY_NOT" ]] || die "--faults partition is not possible here: $WHY_NOT"; PARTITION=1 ;;
    *) die "unknown fault '$k' (kill, pause, partition)" ;;
  esac
done
((${#KINDS[@]} > 0)) || die "--faults is empty"

# --- state and cleanup ------------------------------------------------------
WORK="$(mktemp -d /tmp/synod-nemesis.XXXXXX)"
LOAD_PID=""
CG_DIR=""
M_PID="" # the running `cluster.sh add` / `remove` (--membership)
CLUSTER_UP=0

pid_of() { cat "$DIR/node$1.pid" 2>/dev/null || true; }
alive() { local p; p="$(pid_of "$1")"; [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null; }

drop_chain() { # drop_chain NAME: unhook, flush and delete one of our chains
  iptables -D OUTPUT -o lo -p tcp -j "$1" 2>/dev/null || true
  iptables -F "$1" 2>/dev/null || true
  iptables -X "$1" 2>/dev/null || true
}

cleanup() {
  local rc=$? i p
  trap - EXIT INT TERM
  set +e
  # Stopped processes first get CONT, so that they can be stopped for good.
  if [[ -d "$DIR" ]]; then
    for ((i = 1; i <= MAXID; i++)); do p="$(pid_of "$i")"; [[ -n "$p" ]] && kill -CONT "$p" 2>/dev/null; done
  fi
  ((PARTITION)) && drop_chain "$CHAIN"
  [[ -n "$M_PID" ]] && kill "$M_PID" 2>/dev/null && wait "$M_PID" 2>/dev/null
  if [[ -n "$LOAD_PID" ]] && kill -0 "$LOAD_PID" 2>/dev/null; then
    kill "$LOAD_PID" 2>/dev/null
    for ((i = 0; i < 30; i++)); do kill -0 "$LOAD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$LOAD_PID" 2>/dev/null
  fi
  ((CLUSTER_UP)) && "$ROOT/scripts/cluster.sh" stop >/dev/null 2>&1
  if [[ -n "$CG_DIR" && -d "$CG_DIR" ]]; then
    for ((i = 0; i < 50; i++)); do
      rmdir "$CG_DIR"/node* 2>/dev/null; rmdir "$CG_DIR" 2>/dev/null && break; sleep 0.1
    done
    [[ -d "$CG_DIR" ]] && echo "nemesis.sh: could not remove cgroup $CG_DIR" >&2
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of a run that was killed -9 (its trap never ran).
if ((PARTITION)); then
  for c in $(iptables -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^SYNOD-NEM-/ {print $2}'); do
    kill -0 "${c#SYNOD-NEM-}" 2>/dev/null || drop_chain "$c"
  done
fi
if [[ -f "$DIR/cluster.env" ]]; then "$ROOT/scripts/cluster.sh" stop >/dev/null 2>&1 || true; fi

# --- build --------------------------------------------------------------------
if [[ -n "${SYNOD_BIN:-}" ]]; then REAL_BIN="$SYNOD_BIN"; else
  echo "building synod (release)..."
  (cd "$ROOT" && cargo build --release --quiet --bin synod)
  REAL_BIN="$ROOT/target/release/synod"
fi
if [[ -n "${SYNOD_BENCH_BIN:-}" ]]; then LOAD_BIN="$SYNOD_BENCH_BIN"; else
  echo "building synod-bench (release, the load driver)..."
  (cd "$ROOT" && cargo build --release --quiet -p synod-bench)
  LOAD_BIN="$ROOT/target/release/synod-bench"
fi
if [[ -n "${SYNOD_SIM_BIN:-}" ]]; then SIM_BIN="$SYNOD_SIM_BIN"; else
  echo "building synod-sim (release, for its checker)..."
  (cd "$ROOT" && cargo build --release --quiet -p synod-sim)
  SIM_BIN="$ROOT/target/release/synod-sim"
fi
[[ -x "$REAL_BIN" && -x "$SIM_BIN" && -x "$LOAD_BIN" ]] || die "missing binary: $REAL_BIN, $SIM_BIN or $LOAD_BIN"

# cluster.sh launches nodes through this wrapper: it puts a node in its own
# cgroup (for the partition rules) and then becomes the node (exec: same pid).
cat >"$WORK/synod" <<EOF
#!/usr/bin/env bash
if [[ "\${1:-}" == node && -n "\${NEMESIS_CG:-}" && "\${2:-}" == --id ]]; then
  mkdir -p "\$NEMESIS_CG/node\$3" && echo \$\$ >"\$NEMESIS_CG/node\$3/cgroup.procs"
fi
exec $(printf %q "$REAL_BIN") "\$@"
EOF
chmod +x "$WORK/synod"
export SYNOD_BIN="$WORK/synod"
if ((PARTITION)); then
  CG_DIR="$CG2_ROOT/$CG_NAME"
  mkdir -p "$CG_DIR"
  export NEMESIS_CG="$CG_DIR"
  iptables -N "$CHAIN"
  iptables -I OUTPUT -o lo -p tcp -j "$CHAIN"
fi

# --- cluster and clients --------------------------------------------------------
tick() { local t="${EPOCHREALTIME//[.,]/}"; NOW=$((t / 1000)); }
tick; T0=$NOW
FIRST_CLIENT=$((1 + MEMBERSHIP)) # with --membership node 1 leaves: clients skip it
echo "nemesis: $NODES nodes (F=$F), $CLIENTS clients, $KEYS keys, ${DURATION}s, faults=$FAULTS, seed=$SEED"
echo "         run folder $DIR, clients 127.0.0.1:$((CLIENT_BASE + FIRST_CLIENT))..$((CLIENT_BASE + NODES)), peers :$((PEER_BASE + 1))..$((PEER_BASE + NODES))"
((MEMBERSHIP)) && echo "         membership: node $NEW joins at $((DURATION * 30 / 100))s, then node 1 leaves (not before $((DURATION * 55 / 100))s)"
CLUSTER_UP=1
"$ROOT/scripts/cluster.sh" start --nodes "$NODES" --replicas "$NODES" >"$WORK/cluster.out" 2>&1 ||
  { cat "$WORK/cluster.out" >&2; echo "nemesis.sh: the cluster did not start" >&2; exit 1; }

if ((FILL > 0)); then
  tick; t=$NOW
  python3 - "$FILL" "$((CLIENT_BASE + FIRST_CLIENT))" <<'PY' || { echo "nemesis.sh: --fill failed" >&2; exit 1; }
import socket, sys
keys, port = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
value = b"f" * 100
for start in range(0, keys, 1000):
    n = min(1000, keys - start)
    out = bytearray()
    for i in range(start, start + n):
        k = b"nemesis-fill-%d" % i
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
PY
  tick; echo "         filled $FILL keys (not in the history) in $((NOW - t)) ms"
fi

addrs=""
for ((i = FIRST_CLIENT; i <= NODES; i++)); do addrs+="${addrs:+,}127.0.0.1:$((CLIENT_BASE + i))"; done
# The fault log, on the history's clock (ns since the load driver started,
# within a few ms): `synod-sim timeline` shades these spans on the history.
FAULT_LOG="${HISTORY%.jsonl}.faults.jsonl"
: >"$FAULT_LOG"
tick; LOAD_T0=$NOW
fault_log() { # fault_log KIND NODE TEXT
  printf '{"time":%d,"node":%d,"fault":"%s","what":"%s"}\n' "$(( (NOW - LOAD_T0) * 1000000 ))" "$2" "$1" "$3" >>"$FAULT_LOG"
}
"$LOAD_BIN" load --nodes "$addrs" --clients "$CLIENTS" --keys "$KEYS" --history "$HISTORY" \
  --seed "$SEED" --timeout-ms 3000 --heal-file "$WORK/healed" --post-heal-secs "$POST_HEAL" \
  --max-secs $((DURATION + RECOVERY_TIMEOUT + POST_HEAL + 120)) >"$WORK/load.out" 2>"$WORK/load.err" &
LOAD_PID=$!

RANDOM=$SEED
rnd() { echo $(($1 + RANDOM % ($2 - $1 + 1))); } # rnd LO HI, inclusive

declare -a STATE UNTIL RSTART ROLE
declare -A NFAULT=([kill]=0 [pause]=0 [partition]=0)
RECOVERIES=() CRASHED=() NOT_RECOVERED=()
# ROLE: member (may be faulted), leaving (its removal is due: no new fault, a
# running one ends), gone (removed and stopped), spare (node N+1 before it
# joined: it is not faulted and not watched; `cluster.sh add` watches it).
for ((i = 1; i <= MAXID; i++)); do STATE[i]=up; UNTIL[i]=0; RSTART[i]=0; CUT[i]=""; ROLE[i]=member; done
((MEMBERSHIP)) && ROLE[NEW]=spare

# The nodes whose faults count: members, and a leaving node until its last
# fault ended.
counted() { [[ "${ROLE[$1]}" == member || "${ROLE[$1]}" == leaving ]]; }
faulted() { local n=0 i; for ((i = 1; i <= MAXID; i++)); do counted "$i" && [[ "${STATE[i]}" != up ]] && n=$((n + 1)); done; echo "$n"; }
up_nodes() { local i; for ((i = 1; i <= MAXID; i++)); do [[ "${ROLE[i]}" == member && "${STATE[i]}" == up ]] && echo "$i"; done; }
# The nodes a partition cuts a group off from: every node that runs (a spare
# once it was launched into its cgroup), but not a removed one.
running_nodes() {
  local i
  for ((i = 1; i <= MAXID; i++)); do
    case "${ROLE[i]}" in
      member | leaving) echo "$i" ;;
      spare) [[ -d "$CG_DIR/node$i" ]] && echo "$i" ;;
    esac
  done
}

declare -a CUT # CUT[a]: the nodes a partition cut node a off from
cut_rules() { # cut_rules -A|-D NODE OTHER...: NODE's peer links to and from each OTHER
  local op="$1" a="$2" b
  shift 2
  for b in "$@"; do
    iptables "$op" "$CHAIN" -m cgroup --path "$CG_NAME/node$a" -p tcp --dport $((PEER_BASE + b)) -j DROP
    iptables "$op" "$CHAIN" -m cgroup --path "$CG_NAME/node$b" -p tcp --dport $((PEER_BASE + a)) -j DROP
  done
}

restart() { # restart NODE: relaunch without --bootstrap; then it is recovering
  if "$ROOT/scripts/cluster.sh" restart "$1" >>"$WORK/cluster.out" 2>&1; then
    STATE[$1]=recovering; tick; RSTART[$1]=$NOW; log "node $1 restarted, recovering"
  else
    log "node $1 did not restart (log: $DIR/node$1.log)"; STATE[$1]=down; UNTIL[$1]=$((NOW + 500))
  fi
}

role_of() { "$REAL_BIN" info --node "127.0.0.1:$((CLIENT_BASE + $1))" --timeout-ms 500 2>/dev/null |
  awk -F: '/^role:/ {print $2; exit}' | tr -d '\r' || true; }

# One step of every timer; $1 = 1 once healing (no new faults, end faults now).
step() {
  local healing="$1" i role
  tick
  for ((i = 1; i <= MAXID; i++)); do
    counted "$i" || continue
    case "${STATE[i]}" in
      paused)
        if ((healing || NOW >= UNTIL[i])); then kill -CONT "$(pid_of "$i")" 2>/dev/null || true; STATE[i]=up; log "node $i resumed (SIGCONT)"; fault_log resume "$i" "resumed"; fi ;;
      partitioned)
        if ((healing || NOW >= UNTIL[i])); then
          # shellcheck disable=SC2086
          cut_rules -D "$i" ${CUT[i]} || { echo "nemesis.sh: cannot remove a partition rule" >&2; exit 1; }
          CUT[i]=""; STATE[i]=up; log "node $i partition healed"; fault_log heal "$i" "partition healed"
        fi ;;
      down)
        if ((healing || NOW >= UNTIL[i])); then restart "$i"; fi ;;
      recovering)
        role="$(role_of "$i")"
        if [[ "$role" == voter ]]; then
          tick; RECOVERIES+=("node $i: $((NOW - RSTART[i])) ms"); STATE[i]=up
          log "node $i recovered: role:voter after $((NOW - RSTART[i])) ms"; fault_log recovered "$i" "role:voter"
        elif ! alive "$i"; then
          CRASHED+=("node $i exited while recovering"); log "node $i EXITED while recovering"; STATE[i]=down; UNTIL[i]=$NOW
        fi ;;
      up)
        # A leaving node is stopped by `cluster.sh remove`.
        if [[ "${ROLE[i]}" == member ]] && ! alive "$i"; then CRASHED+=("node $i exited on its own"); log "node $i EXITED on its own"; STATE[i]=down; UNTIL[i]=$NOW; fi ;;
    esac
  done
}

inject() {
  local kind="${KINDS[$((RANDOM % ${#KINDS[@]}))]}" n cands i m
  n="$(faulted)"
  ((n < F)) || return 0
  mapfile -t cands < <(up_nodes)
  ((${#cands[@]} > 0)) || return 0
  i="${cands[$((RANDOM % ${#cands[@]}))]}"
  case "$kind" in
    kill)
      kill -9 "$(pid_of "$i")" 2>/dev/null || true
      STATE[i]=down; UNTIL[i]=$((NOW + $(rnd 300 1500))); log "kill -9 node $i"; fault_log kill "$i" "kill -9" ;;
    pause)
      kill -STOP "$(pid_of "$i")" 2>/dev/null || true
      STATE[i]=paused; UNTIL[i]=$((NOW + $(rnd 300 2000))); log "SIGSTOP node $i"; fault_log pause "$i" "SIGSTOP" ;;
    partition)
      # A minority group of 1..F-faulted nodes, cut off (both ways, peer links
      # only) from every node outside it.
      m="$(rnd 1 $((F - n)))"
      local until=$((NOW + $(rnd 1000 4000))) group=() others=() j
      while ((${#group[@]} < m && ${#cands[@]} > 0)); do
        group+=("${cands[$((RANDOM % ${#cands[@]}))]}")
        mapfile -t cands < <(for j in "${cands[@]}"; do [[ " ${group[*]} " == *" $j "* ]] || echo "$j"; done)
      done
      for j in $(running_nodes); do [[ " ${group[*]} " == *" $j "* ]] || others+=("$j"); done
      for j in "${group[@]}"; do
        cut_rules -A "$j" "${others[@]}" || { echo "nemesis.sh: cannot add a partition rule" >&2; exit 1; }
        CUT[j]="${others[*]}"; STATE[j]=partitioned; UNTIL[j]=$until
      done
      log "partition: {${group[*]}} | {${others[*]}}"
      for j in "${group[@]}"; do fault_log partition "$j" "cut off from {${others[*]}}"; done ;;
  esac
  NFAULT[$kind]=$((NFAULT[$kind] + 1))
  [[ "$MSTAGE" == adding || "$MSTAGE" == removing ]] && M_FAULTS=$((M_FAULTS + 1))
  return 0
}

# --- membership change (--membership) ---------------------------------------------
# MSTAGE: off, wait-add, adding, wait-remove, removing, done or failed. Each
# change runs in the background (cluster.sh waits for its final epoch) while
# the fault loop goes on.
MSTAGE=off MLINES=() MFAIL=() M_T0=0 M_FAULTS=0 M_ON=0 MEMBERS_END=""
CHANGE_RETRY=60 MEMBERSHIP_TIMEOUT=300
if ((MEMBERSHIP)); then MSTAGE=wait-add; fi
cluster_field() { # cluster_field NODE FIELD: one line of its INFO cluster
  "$REAL_BIN" info cluster --node "127.0.0.1:$((CLIENT_BASE + $1))" --timeout-ms 1000 2>/dev/null |
    tr -d '\r' | awk -F: -v f="$2" '$1 == f {print $2; exit}' || true
}
change_ended() { # change_ended WHAT: reaps M_PID; 0 if it succeeded
  local rc=0
  wait "$M_PID" || rc=$?
  M_PID=""; tick
  ((rc == 0)) && return 0
  MFAIL+=("$1 failed (exit $rc): $(grep -v '^not started yet' "$WORK/change.out" | tail -n 2 | tr '\n' ' ')")
  log "membership: $1 FAILED (see the summary)"; MSTAGE=failed
  return 1
}
member_step() { # member_step HEALING: one step of the membership change
  local healing="$1" epoch
  case "$MSTAGE" in
    wait-add)
      ((healing || NOW >= ADD_AT)) || return 0
      tick; M_T0=$NOW M_FAULTS=0 M_ON="$(faulted)"
      "$ROOT/scripts/cluster.sh" add --retry "$CHANGE_RETRY" >"$WORK/change.out" 2>&1 &
      M_PID=$! MSTAGE=adding
      log "membership: adding node $NEW (cluster.sh add)"; fault_log join "$NEW" "cluster.sh add" ;;
    adding)
      kill -0 "$M_PID" 2>/dev/null && return 0
      cat "$WORK/change.out" >>"$WORK/cluster.out"
      change_ended "cluster.sh add (node $NEW)" || return 0
      epoch="$(sed -n 's/.*membership epoch \([0-9]*\):.*/\1/p' "$WORK/change.out" | tail -n 1)"
      MLINES+=("node $NEW added: epoch 0 -> $epoch in $((NOW - M_T0)) ms (its start included; $(grep -c '^not started yet' "$WORK/change.out" || true) refusals asked again; faults: $M_ON in force at its start, $M_FAULTS injected during it)")
      log "membership: node $NEW added (final epoch $epoch) after $((NOW - M_T0)) ms; it may be faulted now"
      fault_log joined "$NEW" "member, epoch $epoch"
      ROLE[NEW]=member STATE[NEW]=up MSTAGE=wait-remove ;;
    wait-remove)
      ((healing || NOW >= REMOVE_AT)) || return 0
      if [[ "${ROLE[1]}" != leaving ]]; then ROLE[1]=leaving; log "membership: node 1 gets no new fault (its removal is due)"; fi
      [[ "${STATE[1]}" == up ]] || return 0 # a fault of node 1 ends first
      tick; M_T0=$NOW M_FAULTS=0 M_ON="$(faulted)"
      "$ROOT/scripts/cluster.sh" remove 1 --retry "$CHANGE_RETRY" >"$WORK/change.out" 2>&1 &
      M_PID=$! MSTAGE=removing
      log "membership: removing node 1 (cluster.sh remove 1)"; fault_log leave 1 "cluster.sh remove 1" ;;
    removing)
      kill -0 "$M_PID" 2>/dev/null && return 0
      cat "$WORK/change.out" >>"$WORK/cluster.out"
      change_ended "cluster.sh remove 1" || return 0
      epoch="$(sed -n 's/.*membership epoch \([0-9]*\):.*/\1/p' "$WORK/change.out" | tail -n 1)"
      MLINES+=("node 1 removed: final epoch $epoch in $((NOW - M_T0)) ms (its stop included; $(grep -c '^not started yet' "$WORK/change.out" || true) refusals asked again; faults: $M_ON in force at its start, $M_FAULTS injected during it)")
      log "membership: node 1 removed (final epoch $epoch) and stopped after $((NOW - M_T0)) ms"
      fault_log left 1 "removed, epoch $epoch"
      ROLE[1]=gone MSTAGE="done" ;;
  esac
}
member_settled() { [[ "$MSTAGE" == off || "$MSTAGE" == "done" || "$MSTAGE" == failed ]]; }

# --- the run --------------------------------------------------------------------
tick; START=$NOW END=$((NOW + DURATION * 1000)); NEXT=$((NOW + $(rnd 500 2000)))
ADD_AT=$((START + DURATION * 300)) REMOVE_AT=$((START + DURATION * 550))
while ((NOW < END)); do
  kill -0 "$LOAD_PID" 2>/dev/null || { cat "$WORK/load.err" >&2; echo "nemesis.sh: the load driver exited early" >&2; exit 1; }
  if ((NOW >= NEXT)); then inject; NEXT=$((NOW + $(rnd 300 2500))); fi
  sleep 0.1
  step 0
  member_step 0
done

log "healing everything"
step 1
HEAL_START=$NOW
while :; do
  member_step 1
  (($(faulted) == 0)) && member_settled && break
  if (($(faulted) > 0 && NOW - HEAL_START > RECOVERY_TIMEOUT * 1000)); then
    for ((i = 1; i <= MAXID; i++)); do
      counted "$i" && [[ "${STATE[i]}" != up ]] && NOT_RECOVERED+=("node $i: still ${STATE[i]} (role $(role_of "$i")) after ${RECOVERY_TIMEOUT}s")
    done
    break
  fi
  if ! member_settled && ((NOW - HEAL_START > MEMBERSHIP_TIMEOUT * 1000)); then
    MFAIL+=("the membership change (stage $MSTAGE) did not end within ${MEMBERSHIP_TIMEOUT}s of the heal")
    [[ -n "$M_PID" ]] && kill "$M_PID" 2>/dev/null && wait "$M_PID" 2>/dev/null
    M_PID="" MSTAGE=failed
    break
  fi
  sleep 0.2
  step 1
done
if ! member_settled; then # given up on a node's recovery: the change cannot go on
  MFAIL+=("the membership change did not end (stage $MSTAGE)")
  [[ -n "$M_PID" ]] && kill "$M_PID" 2>/dev/null && wait "$M_PID" 2>/dev/null
  M_PID="" MSTAGE=failed
fi
if ((MEMBERSHIP)) && [[ "$MSTAGE" == "done" ]]; then
  # Every member must agree on the final epoch (a lagging one learns it from
  # its peers within moments).
  want="" members=""
  for ((t = 0; t < 150; t++)); do
    seen=() members=""
    for ((i = 1; i <= MAXID; i++)); do
      [[ "${ROLE[i]}" == member ]] || continue
      members+="${members:+,}$i"
      seen+=("$(cluster_field "$i" membership_epoch)/$(cluster_field "$i" membership_state)/$(cluster_field "$i" members)")
    done
    want="$(printf '%s\n' "${seen[@]}" | sort -u)"
    [[ "$want" == */stable/"$members" && "$want" != *$'\n'* ]] && break
    sleep 0.2
  done
  if [[ "$want" == */stable/"$members" && "$want" != *$'\n'* ]]; then
    MEMBERS_END="members $members, epoch ${want%%/*}, stable on every member"
  else
    MFAIL+=("the members do not agree on the final epoch: $(tr '\n' ' ' <<<"$want")")
  fi
  log "membership: ${MEMBERS_END:-the members do not agree}"
fi
if ((${#NOT_RECOVERED[@]} == 0)); then
  log "every node reports role:voter"
  # Probe every node as a coordinator (a key outside the history) before the
  # post-heal phase: peer links come back within the dialers' backoff.
  for ((i = 1; i <= MAXID; i++)); do
    [[ "${ROLE[i]}" == member ]] || continue
    for ((t = 0; t < 40; t++)); do
      "$REAL_BIN" set "nemesis-probe-$i" "$t" --node "127.0.0.1:$((CLIENT_BASE + i))" --timeout-ms 1000 >/dev/null 2>&1 && break
      sleep 0.2
    done
  done
fi
tick; log "healed; clients run ${POST_HEAL}s more, every operation must now succeed"
touch "$WORK/healed"
LOAD_RC=0
for ((t = 0; t < (POST_HEAL + 20) * 10; t++)); do kill -0 "$LOAD_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$LOAD_PID" 2>/dev/null; then
  echo "nemesis.sh: the clients did not stop (an operation is stuck)" >&2
  LOAD_RC=1
else
  wait "$LOAD_PID" || LOAD_RC=$?
fi
LOAD_PID=""
# Stop every node at once (SIGTERM, SIGKILL after 3 s), then let cluster.sh
# tidy up. Node N+1 included; a removed node is already stopped (no pid file).
for ((i = 1; i <= MAXID; i++)); do p="$(pid_of "$i")"; [[ -n "$p" ]] && kill "$p" 2>/dev/null || true; done
for ((t = 0; t < 30; t++)); do
  n=0; for ((i = 1; i <= MAXID; i++)); do alive "$i" && n=$((n + 1)); done
  ((n == 0)) && break; sleep 0.1
done
for ((i = 1; i <= MAXID; i++)); do alive "$i" && kill -9 "$(pid_of "$i")" 2>/dev/null || true; done
"$ROOT/scripts/cluster.sh" stop >/dev/null 2>&1 || true
CLUSTER_UP=0

# --- verdict --------------------------------------------------------------------
tick; log "checking $(wc -l <"$HISTORY") history lines in $HISTORY"
CHECK_RC=0
"$SIM_BIN" check "$HISTORY" >"$WORK/check.out" 2>&1 || CHECK_RC=$?
keys_ok="$(grep -c 'linearizable (' "$WORK/check.out" || true)"
keys_bad="$(grep -c 'NOT linearizable' "$WORK/check.out" || true)"
keys_unk="$(grep -c 'gave up' "$WORK/check.out" || true)"
get() { awk -F= -v k="$1" '$1 == k {print $2; exit}' "$WORK/load.out"; }

echo
echo "=== nemesis summary (seed $SEED) ==="
echo "operations: $(get ops_total) total: ok $(get ops_ok), fail $(get ops_fail), unknown $(get ops_unknown)"
for f in read write cas delete; do echo "  $f: $(get "ops_$f")"; done
echo "  client processes: $(get processes); after heal: $(get post_heal_ops) ops, $(get post_heal_stuck) stuck"
grep '^post_heal_stuck_example=' "$WORK/load.out" | sed 's/^post_heal_stuck_example=/    stuck: /' || true
echo "faults injected: kill ${NFAULT[kill]}, pause ${NFAULT[pause]}, partition ${NFAULT[partition]}"
echo "recoveries completed: ${#RECOVERIES[@]}"
for r in "${RECOVERIES[@]}"; do echo "  $r"; done
for r in "${NOT_RECOVERED[@]}"; do echo "  NEVER RECOVERED: $r"; done
for r in "${CRASHED[@]}"; do echo "  CRASHED: $r"; done
if ((MEMBERSHIP)); then
  echo "membership changes:"
  for r in "${MLINES[@]}"; do echo "  $r"; done
  for r in "${MFAIL[@]}"; do echo "  FAILED: $r"; done
  [[ -n "$MEMBERS_END" ]] && echo "  after heal: $MEMBERS_END"
fi
echo "checker: $keys_ok keys linearizable, $keys_bad not, $keys_unk gave up (exit $CHECK_RC)"
grep 'NOT linearizable\|gave up' "$WORK/check.out" | head -5 | sed 's/^/  /' || true
if ((CHECK_RC > 1)); then echo "checker output:"; head -5 "$WORK/check.out"; fi
# The picture: a 3 s window from 0.5 s before the first fault, or with
# --membership before node N+1 starts joining (the whole history would be
# one bar per operation, hundreds of thousands).
PAGE="${HISTORY%.jsonl}.html"
first_ms=$(grep -m1 -o '"time":[0-9]*' "$FAULT_LOG" | cut -d: -f2 | awk '{ printf "%d", $1 / 1e6 }')
if ((MEMBERSHIP)); then
  first_ms=$(grep -m1 '"fault":"join"' "$FAULT_LOG" | grep -o '"time":[0-9]*' | cut -d: -f2 | awk '{ printf "%d", $1 / 1e6 }')
fi
from=$(( ${first_ms:-500} > 500 ? ${first_ms:-500} - 500 : 0 ))
if "$SIM_BIN" timeline "$HISTORY" --faults "$FAULT_LOG" --window "$from..$((from + 3000))" --out "$PAGE" >/dev/null 2>&1; then
  echo "timeline page: $PAGE (ms $from..$((from + 3000)); other windows:"
  echo "  synod-sim timeline $HISTORY --faults $FAULT_LOG --window A..B --out page.html)"
fi

FAIL=()
((CHECK_RC == 0)) || FAIL+=("linearizability violation or unreadable history")
((LOAD_RC == 0)) || FAIL+=("stuck operation after heal")
((${#NOT_RECOVERED[@]} == 0)) || FAIL+=("a node never finished recovery")
((${#CRASHED[@]} == 0)) || FAIL+=("a node exited on its own")
((${#MFAIL[@]} == 0)) || FAIL+=("a membership change failed or never ended")
if ((${#FAIL[@]})); then
  echo "verdict: FAILED: $(IFS=';'; echo "${FAIL[*]}")"
  exit 1
fi
if ((keys_unk > 0)); then
  echo "verdict: linearizable where checked; $keys_unk keys too costly to check (see $HISTORY)"
else
  echo "verdict: linearizable (history: $HISTORY)"
fi
