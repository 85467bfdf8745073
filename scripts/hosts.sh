#!/usr/bin/env bash
# A synod cluster on several "hosts": one Linux network namespace per node,
# each with its own IP on a bridge, the same binary. Needs root and `ip`
# (iproute2). Nodes find each other by host name (node1, node2, ...:
# /etc/netns/synod-hI/hosts), so --peers names hosts, not loopback ports.
#
#   scripts/hosts.sh start [--nodes 3|5]   start a fresh cluster
#   scripts/hosts.sh status | stop | logs ID | kill ID | restart ID
#   scripts/hosts.sh partition I[,J...]     cut these nodes off from the others
#   scripts/hosts.sh heal                   remove every cut
#   scripts/hosts.sh nemesis [--nodes 3] [--seconds 30] [--clients 8] [--keys 8]
#       start a cluster, run clients from the host while namespace-level
#       partitions come and go (one minority at a time), heal, and check the
#       whole history for per-key linearizability (the simulator's checker).
#
# Node I is 10.77.0.I (host name nodeI) in namespace synod-hI: clients on
# port 7000, peers on 7100, metrics on http://10.77.0.I:7400/metrics. The
# host reaches every node through the bridge synod-br0 (10.77.0.254). A cut
# is a pair of blackhole routes between two namespaces: peer traffic between
# them fails, clients on the host still reach every node. Clients come from
# the bridge, not loopback, so nodes run with --protected-mode no (the
# namespaces' network is private to this machine).
# Run folder: target/hosts/ (SYNOD_HOSTS_DIR). SYNOD_BIN, SYNOD_SIM_BIN,
# SYNOD_BENCH_BIN (the load driver): use these binaries instead of building
# release ones.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${SYNOD_HOSTS_DIR:-$ROOT/target/hosts}"
BIN="${SYNOD_BIN:-$ROOT/target/release/synod}"
SIM_BIN="${SYNOD_SIM_BIN:-$ROOT/target/release/synod-sim}"
LOAD_BIN="${SYNOD_BENCH_BIN:-$ROOT/target/release/synod-bench}"
NET=10.77.0 BRIDGE=synod-br0
CLIENT_PORT=7000 PEER_PORT=7100 METRICS_PORT=7400

die() { echo "hosts.sh: $*" >&2; exit 1; }
usage() { sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed -n 's/^# \{0,1\}//p'; }
log() { printf '[hosts %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
ns() { echo "synod-h$1"; }
pid_of() { cat "$DIR/node$1.pid" 2>/dev/null || true; }
alive() {
  local pid; pid="$(pid_of "$1")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]]
}
load_env() { [[ -f "$DIR/hosts.env" ]] || die "no cluster in $DIR (run: scripts/hosts.sh start)"; source "$DIR/hosts.env"; }

need_root() {
  ((EUID == 0)) || die "needs root (network namespaces); run it with sudo"
  command -v ip >/dev/null || die "needs ip (apt-get install iproute2)"
}

build() {
  if [[ -z "${SYNOD_BIN:-}" ]]; then
    log "building synod (release)..."
    (cd "$ROOT" && cargo build --release --quiet --bin synod)
  fi
  [[ -x "$BIN" ]] || die "$BIN is not an executable"
}

peers_flag() {
  local list="" i
  for ((i = 1; i <= NODES; i++)); do list+="${list:+,}$i=node$i:$PEER_PORT"; done
  echo "$list"
}

net_up() { # net_up N
  local n="$1" i
  ip link add "$BRIDGE" type bridge
  ip addr add "$NET.254/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  for ((i = 1; i <= n; i++)); do
    ip netns add "$(ns "$i")"
    ip link add "synod-v$i" type veth peer name eth0 netns "$(ns "$i")"
    ip link set "synod-v$i" master "$BRIDGE" up
    ip -n "$(ns "$i")" addr add "$NET.$i/24" dev eth0
    ip -n "$(ns "$i")" link set eth0 up
    ip -n "$(ns "$i")" link set lo up
    # `ip netns exec` shows this file as /etc/hosts inside the namespace.
    mkdir -p "/etc/netns/$(ns "$i")"
    {
      echo "127.0.0.1 localhost"
      local j
      for ((j = 1; j <= n; j++)); do echo "$NET.$j node$j"; done
    } >"/etc/netns/$(ns "$i")/hosts"
  done
}

net_down() {
  local n
  for n in $(ip netns list 2>/dev/null | awk '/^synod-h[0-9]+/ {print $1}'); do
    ip netns del "$n" 2>/dev/null || true
    rm -rf "/etc/netns/$n"
  done
  ip link del "$BRIDGE" 2>/dev/null || true
}

launch() { # launch ID BOOTSTRAP(0|1)
  local id="$1" flags=()
  (($2)) && flags+=(--bootstrap)
  RUST_LOG="${RUST_LOG:-info}" nohup ip netns exec "$(ns "$id")" "$BIN" node --id "$id" \
    --client-addr "$NET.$id:$CLIENT_PORT" --peer-addr "$NET.$id:$PEER_PORT" \
    --peers "$(peers_flag)" --replicas "$NODES" --cluster-id "hosts-$NODES" \
    --secret-file "$DIR/cluster.secret" --metrics-addr "$NET.$id:$METRICS_PORT" \
    --protected-mode no \
    "${flags[@]}" >>"$DIR/node$id.log" 2>&1 &
  echo $! >"$DIR/node$id.pid"
}

wait_ready() {
  local id="$1" i
  for ((i = 0; i < 100; i++)); do
    "$BIN" ping --node "$NET.$id:$CLIENT_PORT" >/dev/null 2>&1 && return 0
    alive "$id" || { tail -n 5 "$DIR/node$id.log" >&2; die "node $id exited (log: $DIR/node$id.log)"; }
    sleep 0.1
  done
  die "node $id did not answer on $NET.$id:$CLIENT_PORT within 10 s (log: $DIR/node$id.log)"
}

cmd_start() {
  local nodes=3
  while (($#)); do
    case "$1" in
      --nodes) nodes="${2:?--nodes needs 3 or 5}"; shift 2 ;;
      *) die "unknown start option '$1' (see --help)" ;;
    esac
  done
  [[ "$nodes" == 3 || "$nodes" == 5 ]] || die "--nodes must be 3 or 5, got '$nodes'"
  need_root
  [[ -f "$DIR/hosts.env" ]] && cmd_stop >/dev/null
  build
  net_down
  rm -rf "$DIR" && mkdir -p "$DIR"
  (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$DIR/cluster.secret")
  NODES="$nodes"
  printf 'NODES=%q\n' "$NODES" >"$DIR/hosts.env"
  net_up "$NODES"
  local i
  for ((i = 1; i <= NODES; i++)); do launch "$i" 1; done
  for ((i = 1; i <= NODES; i++)); do wait_ready "$i"; done
  log "started $NODES nodes in namespaces synod-h1..synod-h$NODES: clients on $NET.1..$NODES:$CLIENT_PORT"
}

cmd_status() {
  load_env
  local i info role peers_up
  printf '%-5s %-6s %-10s %-18s %-10s %s\n' node state namespace client role peers_up
  for ((i = 1; i <= NODES; i++)); do
    role=- peers_up=-
    if alive "$i"; then
      info="$("$BIN" info --node "$NET.$i:$CLIENT_PORT" 2>/dev/null | tr -d '\r' || true)"
      role="$(awk -F: '/^role:/ {print $2}' <<<"$info")"
      peers_up="$(awk -F: '/^peers_up:/ {print $2}' <<<"$info")"
      printf '%-5s %-6s %-10s %-18s %-10s %s\n' "$i" up "$(ns "$i")" "$NET.$i:$CLIENT_PORT" "${role:--}" "${peers_up:--}"
    else
      printf '%-5s %-6s %-10s %-18s %-10s %s\n' "$i" down "$(ns "$i")" "$NET.$i:$CLIENT_PORT" - -
    fi
  done
}

stop_one() {
  local id="$1" pid i
  alive "$id" || return 0
  pid="$(pid_of "$id")"
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do alive "$id" || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

cmd_stop() {
  need_root
  if [[ -f "$DIR/hosts.env" ]]; then
    load_env
    local i
    for ((i = 1; i <= NODES; i++)); do stop_one "$i"; rm -f "$DIR/node$i.pid"; done
  fi
  net_down
  echo "stopped; namespaces and bridge removed"
}

check_id() { [[ "${1:-}" =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= NODES)) || die "node id must be 1..$NODES, got '${1:-}'"; }

cmd_partition() { # cmd_partition I[,J...]
  load_env
  [[ -n "${1:-}" ]] || die "partition needs node ids, e.g. 'partition 1' or 'partition 1,2'"
  local cut=() a b inside
  IFS=, read -r -a cut <<<"$1"
  for a in "${cut[@]}"; do check_id "$a"; done
  for a in "${cut[@]}"; do
    for ((b = 1; b <= NODES; b++)); do
      inside=0
      for x in "${cut[@]}"; do [[ "$x" == "$b" ]] && inside=1; done
      ((inside)) && continue
      ip -n "$(ns "$a")" route replace blackhole "$NET.$b/32"
      ip -n "$(ns "$b")" route replace blackhole "$NET.$a/32"
    done
  done
  echo "cut {$1} off from the other nodes (clients still reach every node)"
}

cmd_heal() {
  load_env
  local i r
  for ((i = 1; i <= NODES; i++)); do
    while read -r r; do
      [[ -n "$r" ]] && ip -n "$(ns "$i")" route del $r 2>/dev/null || true
    done < <(ip -n "$(ns "$i")" route show type blackhole 2>/dev/null)
  done
  echo "healed: every cut removed"
}

cmd_nemesis() {
  local nodes=3 seconds=30 clients=8 keys=8 seed="$((RANDOM))"
  while (($#)); do
    case "$1" in
      --nodes) nodes="$2"; shift 2 ;;
      --seconds) seconds="$2"; shift 2 ;;
      --clients) clients="$2"; shift 2 ;;
      --keys) keys="$2"; shift 2 ;;
      --seed) seed="$2"; shift 2 ;;
      *) die "unknown nemesis option '$1' (see --help)" ;;
    esac
  done
  need_root
  if [[ -z "${SYNOD_SIM_BIN:-}" ]]; then
    log "building synod-sim (release, for its checker)..."
    (cd "$ROOT" && cargo build --release --quiet -p synod-sim)
  fi
  if [[ -z "${SYNOD_BENCH_BIN:-}" ]]; then
    log "building synod-bench (release, the load driver)..."
    (cd "$ROOT" && cargo build --release --quiet -p synod-bench)
  fi
  [[ -x "$SIM_BIN" && -x "$LOAD_BIN" ]] || die "missing $SIM_BIN or $LOAD_BIN"
  cmd_start --nodes "$nodes"
  trap 'cmd_heal >/dev/null 2>&1 || true; [[ -n "${LOAD_PID:-}" ]] && kill "$LOAD_PID" 2>/dev/null; cmd_stop >/dev/null 2>&1 || true' EXIT
  local addrs="" i history="$DIR/history.jsonl" heal="$DIR/healed"
  for ((i = 1; i <= NODES; i++)); do addrs+="${addrs:+,}$NET.$i:$CLIENT_PORT"; done
  "$LOAD_BIN" load --nodes "$addrs" --clients "$clients" --keys "$keys" --history "$history" \
    --seed "$seed" --heal-file "$heal" --post-heal-secs 3 --max-secs $((seconds + 120)) \
    >"$DIR/load.out" 2>"$DIR/load.err" &
  LOAD_PID=$!
  local f=$(((NODES - 1) / 2)) end=$((SECONDS + seconds)) cuts=0 group size j
  RANDOM="$seed"
  while ((SECONDS < end)); do
    size=$((1 + RANDOM % f)) group=""
    for ((j = 0; j < size; j++)); do
      i=$((1 + RANDOM % NODES))
      [[ ",$group," == *",$i,"* ]] || group+="${group:+,}$i"
    done
    log "partition: {$group} cut off from the others"
    cmd_partition "$group" >/dev/null
    cuts=$((cuts + 1))
    sleep "$((1 + RANDOM % 3))"
    cmd_heal >/dev/null
    log "healed"
    sleep 1
  done
  touch "$heal"
  log "final heal; waiting for the clients' post-heal phase"
  local rc=0
  wait "$LOAD_PID" || rc=$?
  LOAD_PID=""
  cat "$DIR/load.out"
  ((rc == 0)) || { cat "$DIR/load.err" >&2; die "the load driver failed (exit $rc): an operation stuck after heal?"; }
  log "checking $(wc -l <"$history") history lines ($cuts partitions)"
  local check=0
  "$SIM_BIN" check "$history" >"$DIR/check.out" 2>&1 || check=$?
  tail -n 3 "$DIR/check.out"
  if ((check != 0)) || grep -q 'NOT linearizable' "$DIR/check.out"; then
    die "NOT linearizable (see $DIR/check.out and $history)"
  fi
  log "verdict: linearizable; $NODES nodes in $NODES namespaces survived $cuts namespace-level partitions"
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  status) cmd_status ;;
  stop) cmd_stop ;;
  logs) load_env; check_id "${2:-}"; cat "$DIR/node$2.log" ;;
  kill) load_env; check_id "${2:-}"; alive "$2" && kill -9 "$(pid_of "$2")"; echo "killed node $2" ;;
  restart)
    load_env; check_id "${2:-}"; stop_one "$2"; launch "$2" 0; wait_ready "$2"
    echo "restarted node $2 (without --bootstrap)" ;;
  partition) cmd_partition "${2:-}" ;;
  heal) cmd_heal ;;
  nemesis) shift; cmd_nemesis "$@" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
