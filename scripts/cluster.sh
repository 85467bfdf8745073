#!/usr/bin/env bash
# Start, stop and poke a local synod cluster on loopback.
#
#   scripts/cluster.sh start [--nodes 3] [--replicas 3] [--tls] [-- EXTRA NODE FLAGS]
#   scripts/cluster.sh status | stop | logs [-f] ID | kill ID | restart ID
#   scripts/cluster.sh add [--retry SECS] | remove ID [--retry SECS]
#
# `add` starts node M+1 (M: nodes so far) with --join and the run folder's
# secret, runs `synod admin add-node` on a member and waits until the change
# reached its final epoch. `remove ID` runs `synod admin remove-node ID` on
# another member, waits for the final epoch, then stops node ID. A refused
# change fails at once unless --retry SECS: then it is asked again (through
# any running member) until SECS passed, as a live test under faults does. An
# answer that leaves the outcome open (a timeout, -UNKNOWN) is settled by
# asking the members whether their list shows the change; if none does, the
# change may still start later: add then leaves the new node running. After
# a change, `restart` starts a node with --join (it learns the membership
# from its peers).
#
# Node i listens for clients on 127.0.0.1:(7000+i), for peers on
# 127.0.0.1:(7100+i), and serves Prometheus metrics on
# http://127.0.0.1:(7400+i)/metrics. The run folder (default target/cluster/)
# keeps the cluster's settings and ports (cluster.env), its peer secret
# (cluster.secret), one pid file and one log per node. `stop` sends SIGTERM
# (a graceful shutdown), then SIGKILL after 10 s. With --tls the client ports
# speak TLS only and the peer links are mutual TLS: `synod gen-certs` writes a
# fresh CA and a node certificate for 127.0.0.1 and localhost into the run
# folder (tls/ca.crt, tls/node.crt, tls/node.key); connect with
# `redis-cli --tls --cacert target/cluster/tls/ca.crt -p 7001`.
# Environment: SYNOD_CLUSTER_DIR, SYNOD_CLIENT_PORT_BASE (7000),
# SYNOD_PEER_PORT_BASE (7100), SYNOD_METRICS_PORT_BASE (client base + 400), SYNOD_BIN
# (skip the build, use this binary). Ports are read at start and saved.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${SYNOD_CLUSTER_DIR:-$ROOT/target/cluster}"
CLIENT_BASE="${SYNOD_CLIENT_PORT_BASE:-7000}"
PEER_BASE="${SYNOD_PEER_PORT_BASE:-7100}"
METRICS_BASE="${SYNOD_METRICS_PORT_BASE:-$((CLIENT_BASE + 400))}"
BIN="${SYNOD_BIN:-$ROOT/target/release/synod}"

die() { echo "cluster.sh: $*" >&2; exit 1; }
# The header comment above, without the '#'s.
usage() { sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed -n 's/^# \{0,1\}//p'; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_of() { cat "$DIR/node$1.pid" 2>/dev/null || true; }
# Running: the process exists and is not a zombie (exited, not yet reaped).
alive() {
  local pid state
  pid="$(pid_of "$1")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo R)"
  [[ "$state" != Z ]]
}

save_env() {
  printf 'NODES=%q\nREPLICAS=%q\nEXTRA=%q\nCLUSTER_ID=%q\nCLIENT_BASE=%q\nPEER_BASE=%q\nMETRICS_BASE=%q\nTLS=%q\nCHANGED=%q\nREMOVED=%q\n' \
    "$NODES" "$REPLICAS" "$EXTRA" "$CLUSTER_ID" "$CLIENT_BASE" "$PEER_BASE" "$METRICS_BASE" "$TLS" "$CHANGED" "$REMOVED" >"$DIR/cluster.env.$$"
  # Renamed into place: a concurrent `restart` (scripts/nemesis.sh) never
  # reads a half-written file.
  mv -f "$DIR/cluster.env.$$" "$DIR/cluster.env"
}

load() {
  [[ -f "$DIR/cluster.env" ]] || die "no cluster in $DIR (run: scripts/cluster.sh start)"
  # shellcheck disable=SC1091
  source "$DIR/cluster.env"
  TLS="${TLS:-0}" CHANGED="${CHANGED:-0}" REMOVED="${REMOVED:-}"
}

build() {
  if [[ -n "${SYNOD_BIN:-}" ]]; then
    [[ -x "$BIN" ]] || die "SYNOD_BIN=$BIN is not an executable"
    return
  fi
  echo "building synod (release)..."
  (cd "$ROOT" && cargo build --release --quiet --bin synod)
}

peers_flag() {
  local list="" i
  for ((i = 1; i <= NODES; i++)); do
    list+="${list:+,}$i=127.0.0.1:$((PEER_BASE + i))"
  done
  echo "$list"
}

launch() { # launch ID BOOTSTRAP(0|1) [JOIN(0|1)]
  local id="$1" boot="$2" join="${3:-0}" flags=()
  ((boot)) && flags+=(--bootstrap)
  ((join)) && flags+=(--join)
  # shellcheck disable=SC2206
  local extra=($EXTRA)
  # shellcheck disable=SC2046
  RUST_LOG="${RUST_LOG:-info}" nohup "$BIN" node --id "$id" \
    --client-addr "127.0.0.1:$((CLIENT_BASE + id))" \
    --peer-addr "127.0.0.1:$((PEER_BASE + id))" \
    --peers "$(peers_flag)" --replicas "$REPLICAS" --cluster-id "$CLUSTER_ID" \
    --metrics-addr "127.0.0.1:$((METRICS_BASE + id))" \
    --secret-file "$DIR/cluster.secret" "${flags[@]}" $(tls_flags) "${extra[@]}" >>"$DIR/node$id.log" 2>&1 &
  echo $! >"$DIR/node$id.pid"
}

tls_flags() {
  ((TLS)) || return 0
  echo --tls-clients yes --tls-cluster yes --tls-cert-file "$DIR/tls/node.crt" \
    --tls-key-file "$DIR/tls/node.key" --tls-ca-cert-file "$DIR/tls/ca.crt"
}

# How the synod CLI reaches a node (over TLS with --tls).
client_flags() { ((TLS)) && echo --tls-ca-cert-file "$DIR/tls/ca.crt" || true; }

wait_ready() { # wait_ready ID
  local id="$1" i
  for ((i = 0; i < 100; i++)); do
    # A node with requirepass answers NOAUTH: it is up (the CLI has no AUTH).
    local out
    # shellcheck disable=SC2046
    out="$("$BIN" ping --node "127.0.0.1:$((CLIENT_BASE + id))" $(client_flags) 2>&1 || true)"
    if [[ "$out" == PONG* || "$out" == *NOAUTH* ]]; then return 0; fi
    alive "$id" || { tail -n 5 "$DIR/node$id.log" >&2; die "node $id exited during start-up (log: $DIR/node$id.log)"; }
    sleep 0.1
  done
  die "node $id did not answer PING on 127.0.0.1:$((CLIENT_BASE + id)) within 10 s (log: $DIR/node$id.log)"
}

cmd_start() {
  local nodes=3 replicas=3 extra="" tls=0
  while (($#)); do
    case "$1" in
      --nodes) nodes="${2:?--nodes needs a number}"; shift 2 ;;
      --replicas) replicas="${2:?--replicas needs a number}"; shift 2 ;;
      --tls) tls=1; shift ;;
      --) shift; extra="$*"; break ;;
      *) die "unknown start option '$1' (see: scripts/cluster.sh --help)" ;;
    esac
  done
  [[ "$nodes" =~ ^[1-9][0-9]*$ ]] || die "--nodes must be a positive number, got '$nodes'"
  [[ "$replicas" =~ ^[1-9][0-9]*$ ]] && ((replicas <= nodes)) || die "--replicas must be between 1 and --nodes ($nodes), got '$replicas'"
  if [[ -f "$DIR/cluster.env" ]]; then
    # A fresh cluster takes its ports from the environment, not from the
    # last run's saved ones (restored below unless that run is still up).
    local ports=("$CLIENT_BASE" "$PEER_BASE" "$METRICS_BASE")
    load
    local i up=0
    for ((i = 1; i <= NODES; i++)); do alive "$i" && up=$((up + 1)); done
    if ((up > 0)); then
      echo "cluster already running ($up of $NODES nodes up); 'scripts/cluster.sh stop' first for a fresh one"
      cmd_status
      return 0
    fi
    CLIENT_BASE="${ports[0]}" PEER_BASE="${ports[1]}" METRICS_BASE="${ports[2]}"
  fi
  local i port
  for ((i = 1; i <= nodes; i++)); do
    for port in $((CLIENT_BASE + i)) $((PEER_BASE + i)) $((METRICS_BASE + i)); do
      port_busy "$port" && die "port 127.0.0.1:$port is already taken by another process (ss -ltnp 'sport = :$port' shows which)"
    done
  done
  build
  rm -rf "$DIR" && mkdir -p "$DIR"
  # The peers' shared secret (docs/security.md): 32 random bytes in hex,
  # readable by this user only; nodes refuse a peer that cannot prove it.
  (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$DIR/cluster.secret")
  NODES="$nodes" REPLICAS="$replicas" EXTRA="$extra" CLUSTER_ID="local-$$-$(date +%s)" TLS="$tls"
  if ((TLS)); then "$BIN" gen-certs --out "$DIR/tls" --hosts 127.0.0.1,localhost >/dev/null; fi
  CHANGED=0 REMOVED=""
  save_env
  for ((i = 1; i <= NODES; i++)); do launch "$i" 1; done
  for ((i = 1; i <= NODES; i++)); do wait_ready "$i"; done
  echo "started $NODES nodes, $REPLICAS replicas per key; clients: 127.0.0.1:$((CLIENT_BASE + 1))..$((CLIENT_BASE + NODES)); metrics: http://127.0.0.1:$((METRICS_BASE + 1))/metrics..; run folder: $DIR"
  if ((TLS)); then echo "TLS on: redis-cli --tls --cacert $DIR/tls/ca.crt -p $((CLIENT_BASE + 1))"; fi
}

cmd_status() {
  load
  local i state pid
  printf '%-5s %-6s %-8s %-16s %-16s %-16s %-11s %s\n' node state pid client peer metrics role catch-up
  for ((i = 1; i <= NODES; i++)); do
    pid="$(pid_of "$i")"
    local role="-" recovery="-" info=""
    if alive "$i"; then
      state=up
      # shellcheck disable=SC2046
      info="$("$BIN" info server --node "127.0.0.1:$((CLIENT_BASE + i))" $(client_flags) 2>/dev/null | tr -d '\r' || true)"
      role="$(awk -F: '/^role:/ {print $2}' <<<"$info")"
      recovery="$(awk -F: '/^recovery:/ {print $2}' <<<"$info")"
    else
      state=down
    fi
    printf '%-5s %-6s %-8s %-16s %-16s %-16s %-11s %s\n' "$i" "$state" "${pid:--}" "127.0.0.1:$((CLIENT_BASE + i))" \
      "127.0.0.1:$((PEER_BASE + i))" "127.0.0.1:$((METRICS_BASE + i))" "${role:--}" "${recovery:--}"
  done
}

check_id() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= NODES)) || die "node id must be 1..$NODES, got '${1:-}'"
}

cmd_kill() {
  load; check_id "${1:-}"
  if alive "$1"; then
    kill -9 "$(pid_of "$1")"
    local i
    for ((i = 0; i < 50; i++)); do alive "$1" || break; sleep 0.02; done
    echo "killed node $1 (SIGKILL)"
  else
    echo "node $1 is not running"
  fi
}

stop_one() {
  local id="$1" pid i
  alive "$id" || return 0
  pid="$(pid_of "$id")"
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do alive "$id" || return 0; sleep 0.1; done
  echo "node $id did not stop within 10 s of SIGTERM: SIGKILL" >&2
  kill -9 "$pid" 2>/dev/null || true
}

cmd_stop() {
  [[ -f "$DIR/cluster.env" ]] || { echo "no cluster in $DIR"; return 0; }
  load
  local i
  for ((i = 1; i <= NODES; i++)); do stop_one "$i"; rm -f "$DIR/node$i.pid"; done
  echo "stopped"
}

cmd_restart() {
  load; check_id "${1:-}"
  [[ -x "$BIN" ]] || build
  if alive "$1"; then stop_one "$1"; fi
  # After a membership change the list in --peers is not the cluster's
  # first one: the node starts knowing no membership and learns it.
  launch "$1" 0 "$CHANGED"
  wait_ready "$1"
  echo "restarted node $1 (new incarnation, without --bootstrap: it rejoins as a restarted node)"
}

# One INFO field of node ID (empty if it does not answer within 2 s: a
# node killed or paused meanwhile must not end the script, set -e).
info_field() { # info_field ID FIELD
  # shellcheck disable=SC2046
  "$BIN" info cluster --node "127.0.0.1:$((CLIENT_BASE + $1))" --timeout-ms 2000 $(client_flags) 2>/dev/null |
    tr -d '\r' | awk -F: -v f="$2" '$1 == f {print $2}' || true
}

# A running member other than $1 to send an admin command to.
some_member() { # some_member EXCEPT
  local i
  for ((i = 1; i <= NODES; i++)); do
    ((i == $1)) && continue
    [[ " $REMOVED " == *" $i "* ]] && continue
    alive "$i" && [[ "$(info_field "$i" membership_state)" == stable ]] && { echo "$i"; return 0; }
  done
  for ((i = 1; i <= NODES; i++)); do
    ((i == $1)) && continue
    [[ " $REMOVED " == *" $i "* ]] && continue
    alive "$i" && { echo "$i"; return 0; }
  done
  die "no running member to ask"
}

# Waits until node ID is in a final epoch >= EPOCH (a change ended).
wait_final() { # wait_final ID EPOCH
  local end=$((SECONDS + 120)) e s
  while ((SECONDS < end)); do
    e="$(info_field "$1" membership_epoch)"
    s="$(info_field "$1" membership_state)"
    if [[ -n "$e" ]] && ((e >= $2)) && [[ "$s" != changing ]]; then return 0; fi
    sleep 0.1
  done
  die "node $1: the membership change did not reach epoch $2 within 120 s (INFO cluster on node $1: membership_state, keys_moved/keys_to_move; its log: $DIR/node$1.log)"
}

# Whether a running node's member list shows the change: node ID in it
# (WANT=1, an add) or not (WANT=0, a remove). Lists come from chosen epochs
# only, so one such list proves the change started. Sets SEEN_EPOCH to the
# change's final epoch as that node knows it.
change_seen() { # change_seen ID WANT
  local i m e
  for ((i = 1; i <= NODES; i++)); do
    [[ " $REMOVED " == *" $i "* ]] && continue
    alive "$i" || continue
    m="$(info_field "$i" members)"
    [[ -n "$m" ]] || continue
    if [[ ",$m," == *",$1,"* ]]; then (($2)) || continue; else (($2)) && continue; fi
    e="$(info_field "$i" membership_epoch)"
    [[ "$e" =~ ^[0-9]+$ ]] || continue
    [[ "$(info_field "$i" membership_state)" == changing ]] && e=$((e + 1))
    SEEN_EPOCH="$e" SEEN_VIA="$i"
    return 0
  done
  return 1
}

# Runs `synod admin ARGS` on a member until it starts the change (or the
# members show it started), for RETRY seconds at most. Sets FINAL_EPOCH and
# VIA (the member to watch); on failure CHANGE_OUT (the last answer) and
# UNSURE=1 if some attempt may have started the change.
run_change() { # run_change RETRY ID WANT ARGS...
  local retry="$1" id="$2" want="$3" end rc out
  shift 3
  end=$((SECONDS + retry)) UNSURE=0
  while :; do
    rc=0
    if VIA="$(some_member "$id" 2>/dev/null)"; then
      # shellcheck disable=SC2046
      out="$("$BIN" admin "$@" --node "127.0.0.1:$((CLIENT_BASE + VIA))" $(client_flags) 2>&1)" || rc=$?
    else
      VIA="-" out="cannot connect to any member: none is running" rc=1
    fi
    if ((rc == 0)); then
      echo "$out"
      FINAL_EPOCH=$(($(sed -n 's/.*joint epoch \([0-9]*\).*/\1/p' <<<"$out") + 1))
      return 0
    fi
    CHANGE_OUT="node $VIA: $out"
    # Refused by the node, or never sent: certainly not started by this
    # attempt. Anything else (a timeout, -UNKNOWN) may have started it.
    [[ "$out" == "(error) ERR "* || "$out" == "cannot connect to "* ]] || UNSURE=1
    if change_seen "$id" "$want"; then
      echo "the change started (node $SEEN_VIA shows it; the last answer, from $CHANGE_OUT)"
      FINAL_EPOCH="$SEEN_EPOCH" VIA="$SEEN_VIA"
      return 0
    fi
    ((SECONDS < end)) || return 1
    echo "not started yet ($CHANGE_OUT); asking again" >&2
    sleep 1
  done
}

retry_flag() { # retry_flag ARGS...: prints SECS of --retry SECS
  case "${1:-}" in
    "") echo 0 ;;
    --retry) [[ "${2:-}" =~ ^[0-9]+$ ]] || die "--retry needs a number of seconds"; echo "$2" ;;
    *) die "unknown option '$1' (--retry SECS)" ;;
  esac
}

cmd_add() {
  local retry
  retry="$(retry_flag "$@")"
  load
  [[ -x "$BIN" ]] || build
  local id=$((NODES + 1)) port
  for port in $((CLIENT_BASE + id)) $((PEER_BASE + id)) $((METRICS_BASE + id)); do
    port_busy "$port" && die "port 127.0.0.1:$port is already taken by another process"
  done
  some_member "$id" >/dev/null
  NODES="$id" CHANGED=1
  save_env
  rm -f "$DIR/node$id.log"
  launch "$id" 1 1
  wait_ready "$id"
  if ! run_change "$retry" "$id" 1 add-node "$id" "127.0.0.1:$((PEER_BASE + id))"; then
    ((UNSURE)) && die "add-node $id: the outcome is unknown ($CHANGE_OUT); node $id keeps running: INFO cluster on a member shows whether it became one"
    # Stopped, but its id stays used: the members saw this incarnation, so
    # they would refuse it restarted with --bootstrap; the next add takes
    # id+1.
    stop_one "$id"
    rm -f "$DIR/node$id.pid"
    die "add-node $id through $CHANGE_OUT"
  fi
  wait_final "$VIA" "$FINAL_EPOCH"
  wait_final "$id" "$FINAL_EPOCH"
  echo "added node $id (clients: 127.0.0.1:$((CLIENT_BASE + id))); membership epoch $FINAL_EPOCH: $(info_field "$VIA" members)"
}

cmd_remove() {
  load; check_id "${1:-}"
  local id="$1" retry
  shift
  retry="$(retry_flag "$@")"
  run_change "$retry" "$id" 0 remove-node "$id" ||
    die "remove-node $id through $CHANGE_OUT$( ((UNSURE)) && echo " (the outcome is unknown: INFO cluster on a member shows it)")"
  CHANGED=1 REMOVED="$REMOVED $id"
  save_env
  wait_final "$VIA" "$FINAL_EPOCH"
  stop_one "$id"
  rm -f "$DIR/node$id.pid"
  echo "removed node $id and stopped it; membership epoch $FINAL_EPOCH: $(info_field "$VIA" members)"
}

cmd_logs() {
  load
  local follow=0
  if [[ "${1:-}" == -f ]]; then follow=1; shift; fi
  check_id "${1:-}"
  if ((follow)); then exec tail -n +1 -f "$DIR/node$1.log"; fi
  cat "$DIR/node$1.log"
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  status) cmd_status ;;
  stop) cmd_stop ;;
  kill) cmd_kill "${2:-}" ;;
  restart) cmd_restart "${2:-}" ;;
  add) shift; cmd_add "$@" ;;
  remove) shift; cmd_remove "$@" ;;
  logs) shift; cmd_logs "$@" ;;
  -h | --help | help) usage ;;
  "") usage >&2; exit 2 ;;
  *) die "unknown command '$1' (start, status, stop, kill ID, restart ID, add, remove ID, logs ID)" ;;
esac
