#!/usr/bin/env bash
# Benchmark synod (3 nodes, N=3) beside Redis (one node, no persistence) and
# etcd (3 members, data on tmpfs) on loopback, in one run, with one load
# generator (`synod-bench bench`, the benches/ crate) for every target, plus a loopback echo floor.
#
#   scripts/bench.sh [--quick] [--seconds S] [--keys K]
#
# synod is started by `scripts/cluster.sh start` with its defaults, exactly
# the cluster a user gets (no tuning here). SET and GET at 1, 16 and 50
# clients (1 and 50 with --quick), 100-byte values, random keys of a fixed
# key space, plus single-client first writes (SET of keys never written).
# synod twice: routed (each client connects to every node and sends a key to
# its home node, the key's first replica, as a Redis Cluster client routes by
# slot) and unrouted (client i talks to node i mod 3 only). Prints a markdown
# table, one ratio line per issue-16 target (all measured in this run), the
# cost model (peer messages and bytes per operation from INFO counters) and
# redis-benchmark's own figures; writes docs/bench/latest.md and
# docs/bench/latest.svg. --quick: about three minutes in all.
# Installs redis-server, redis-tools, etcd-server and etcd-client with apt-get
# if missing (etcd is skipped, and said so, if its packages cannot be
# installed). Stops every server it started (by pid) on exit.
# Ports: synod 7601-7603 (peers 7701-7703), Redis 7650, etcd 7660-7665.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release/synod"
BENCH="$ROOT/target/release/synod-bench" # the load generator (benches/)
OUT_DIR="$ROOT/docs/bench"
QUICK=0 SECONDS_EACH="" KEYS=10000
while (($#)); do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --seconds) SECONDS_EACH="${2:?--seconds needs a number}"; shift 2 ;;
    --keys) KEYS="${2:?--keys needs a number}"; shift 2 ;;
    -h | --help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [[ -z "$SECONDS_EACH" ]]; then
  if ((QUICK)); then SECONDS_EACH=1.5; else SECONDS_EACH=5; fi
fi
if ((QUICK)); then WARMUP_MS=300 RB_N=20000; else WARMUP_MS=1000 RB_N=100000; fi

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { echo "bench.sh: $*" >&2; exit 1; }

# --- install what is missing -------------------------------------------------
need=() want=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
command -v etcd >/dev/null || want+=(etcd-server)
command -v etcdctl >/dev/null || want+=(etcd-client)
if ((${#need[@]} + ${#want[@]})); then
  log "installing ${need[*]} ${want[*]} (apt-get)"
  # The packages would start their system services; forbid that for the
  # install (our own servers run on other ports, started below).
  policy_added=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy_added=1
  fi
  apt-get update -qq >/dev/null
  ((${#need[@]} == 0)) || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  # etcd is a comparison, not a requirement: without it its ratios say n/a.
  ((${#want[@]} == 0)) || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null ||
    log "etcd-server/etcd-client cannot be installed here: the etcd ratios will say n/a"
  ((policy_added)) && rm -f /usr/sbin/policy-rc.d
fi
HAVE_ETCD=1 ETCD_VERSION=""
command -v etcd >/dev/null && command -v etcdctl >/dev/null || HAVE_ETCD=0
((HAVE_ETCD)) && ETCD_VERSION="$(etcd --version 2>/dev/null | awk '/etcd Version/ {print $3}')"

# --- cleanup: every server we start, by pid ---------------------------------
REDIS_PID="" ETCD_PIDS=() SYNOD_STARTED=0
ETCD_DIR="/dev/shm/synod-bench-etcd-$$"
export SYNOD_CLUSTER_DIR="$ROOT/target/bench-cluster" SYNOD_CLIENT_PORT_BASE=7600 SYNOD_PEER_PORT_BASE=7700
cleanup() {
  set +e
  if ((SYNOD_STARTED)); then SYNOD_BIN="$BIN" "$ROOT/scripts/cluster.sh" stop >/dev/null; fi
  local p
  for p in $REDIS_PID "${ETCD_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in $REDIS_PID "${ETCD_PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  rm -rf "$ETCD_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 7601 7602 7603 7701 7702 7703 7650 7660 7661 7662 7663 7664 7665; do
  port_busy "$port" && die "port 127.0.0.1:$port is taken (ss -ltnp 'sport = :$port')"
done

log "building synod (release)"
(cd "$ROOT" && cargo build --release --quiet -p synod --bin synod && cargo build --release --quiet -p synod-bench)

# --- start the servers -------------------------------------------------------
log "starting synod: scripts/cluster.sh start (its defaults: 3 nodes, N=3)"
SYNOD_STARTED=1
# Exactly what a user starts: no flag or environment tuning of our own.
SYNOD_BIN="$BIN" "$ROOT/scripts/cluster.sh" start >/dev/null
SYNOD_PIDS="$(cat "$SYNOD_CLUSTER_DIR"/node{1,2,3}.pid | paste -sd,)"
SYNOD_ADDRS="127.0.0.1:7601,127.0.0.1:7602,127.0.0.1:7603"

log "starting redis-server on 127.0.0.1:7650 (no persistence)"
redis-server --bind 127.0.0.1 --port 7650 --save '' --appendonly no --daemonize no \
  --protected-mode no --logfile "" >"$ROOT/target/bench-redis.log" 2>&1 &
REDIS_PID=$!

if ((HAVE_ETCD)); then
log "starting etcd: 3 members on 127.0.0.1:7660-7665, data in $ETCD_DIR (tmpfs)"
mkdir -p "$ETCD_DIR"
cluster="e1=http://127.0.0.1:7661,e2=http://127.0.0.1:7663,e3=http://127.0.0.1:7665"
ETCD_ADDRS=""
for i in 1 2 3; do
  cport=$((7658 + 2 * i)) pport=$((7659 + 2 * i))
  etcd --name "e$i" --data-dir "$ETCD_DIR/e$i" \
    --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "bench-$$" \
    --logger zap --log-level warn >"$ETCD_DIR/e$i.log" 2>&1 &
  ETCD_PIDS+=($!)
  ETCD_ADDRS+="${ETCD_ADDRS:+,}127.0.0.1:$cport"
done
ETCD_PIDS_CSV="$(IFS=,; echo "${ETCD_PIDS[*]}")"
fi

for _ in $(seq 100); do redis-cli -p 7650 ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p 7650 ping >/dev/null 2>&1 || die "redis did not start (log: target/bench-redis.log)"
if ((HAVE_ETCD)); then
  for _ in $(seq 200); do
    etcdctl --endpoints="$ETCD_ADDRS" endpoint health >/dev/null 2>&1 && break
    sleep 0.1
  done
  etcdctl --endpoints="$ETCD_ADDRS" endpoint health >/dev/null 2>&1 ||
    { tail -n 5 "$ETCD_DIR"/e1.log >&2; die "etcd did not become healthy"; }
fi

# --- measure -------------------------------------------------------------------
RESULTS="$ROOT/target/bench-results.txt"
: >"$RESULTS"
if ((QUICK)); then CLIENTS=(1 50); else CLIENTS=(1 16 50); fi
# synod-unrouted is synod with --route none (the plain row, for comparison).
TARGETS=(redis synod synod-unrouted)
((HAVE_ETCD)) && TARGETS+=(etcd)
# First writes: enough fresh keys for a single client's whole run.
FRESH_KEYS=$(awk -v s="$SECONDS_EACH" -v w="$WARMUP_MS" 'BEGIN { printf "%d", (s + w / 1000) * 40000 }')
total=$((${#CLIENTS[@]} * (1 + 2 * ${#TARGETS[@]}) + 1)) n=0
LOAD0="$(cut -d' ' -f1-3 /proc/loadavg)"
addrs_of() { case "$1" in redis) echo 127.0.0.1:7650 ;; synod*) echo "$SYNOD_ADDRS" ;; etcd) echo "$ETCD_ADDRS" ;; esac; }
pids_of() { case "$1" in redis) echo "$REDIS_PID" ;; synod*) echo "$SYNOD_PIDS" ;; etcd) echo "$ETCD_PIDS_CSV" ;; esac; }
run() { # run LABEL ARGS...
  n=$((n + 1))
  local label="$1" line
  shift
  line="$("$BENCH" bench --seconds "$SECONDS_EACH" --warmup-ms "$WARMUP_MS" --value-bytes 100 "$@")" ||
    die "$label failed: $line"
  echo "$line" >>"$RESULTS"
  log "[$n/$total] $label: $(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^(ops_per_s|p50_us|p99_us|errors)=/) printf "%s ", $i}' <<<"$line")"
}
for c in "${CLIENTS[@]}"; do run "echo $c clients" --target echo --clients "$c" --keys "$KEYS"; done
for op in set get; do
  for c in "${CLIENTS[@]}"; do
    for t in "${TARGETS[@]}"; do
      extra=()
      # Preload (write every key first): each target's first run of an op,
      # so GETs find values; and every synod SET run, written the way its
      # clients send (routed: through each key's home), so that it starts in
      # the steady state of its routing, with each key's cached phase 1 where
      # its writes will go, not where the previous run left it.
      if [[ "$c" == "${CLIENTS[0]}" && "$t" != synod-unrouted ]] || [[ "$op" == set && "$t" == synod* ]]; then
        extra=(--preload)
      fi
      case "$t" in
        synod) flags=(--target synod --route key) ;;
        synod-unrouted) flags=(--target synod --route none) ;;
        *) flags=(--target "$t") ;;
      esac
      run "$t ${op^^} $c clients" "${flags[@]}" --addrs "$(addrs_of "$t")" --pids "$(pids_of "$t")" \
        --op "$op" --clients "$c" --keys "$KEYS" "${extra[@]}"
    done
  done
  if [[ "$op" == set ]]; then
    # First writes: one client, every SET a key nobody wrote (routed).
    run "synod SET 1 client, first writes" --target synod --route key --addrs "$SYNOD_ADDRS" \
      --pids "$SYNOD_PIDS" --op set --clients 1 --fresh --keys "$FRESH_KEYS"
  fi
done
LOAD1="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- second opinion: redis-benchmark ------------------------------------------
RB="$ROOT/target/bench-redis-benchmark.txt"
: >"$RB"
for t in redis synod; do
  port=7650
  [[ "$t" == synod ]] && port=7601
  pipes=(1 16)
  ((QUICK)) && pipes=(1)
  for p in "${pipes[@]}"; do
    log "redis-benchmark against $t (-c 50 -P $p)"
    redis-benchmark -h 127.0.0.1 -p "$port" -t set,get -n "$RB_N" -c 50 -d 100 -r "$KEYS" -P "$p" -q 2>&1 |
      tr '\r' '\n' | grep -E '^(SET|GET):' | grep -v 'rps=' | sed "s/^/$t -P $p  /" >>"$RB" || true
  done
done

# --- report --------------------------------------------------------------------
mkdir -p "$OUT_DIR"
{
  echo "# synod vs Redis vs etcd"
  echo
  echo "\`scripts/bench.sh$( ((QUICK)) && echo ' --quick')\` on $(date -u +%Y-%m-%d), $(nproc) cores (shared: servers and load generator on one machine), $(uname -sr)."
  echo "Load average (1, 5, 15 min) at the start of the measurements: $LOAD0; at their end: $LOAD1 (the machine is shared: compare ratios within one run, not absolute figures across runs)."
  ((HAVE_ETCD)) || echo "etcd: its Debian packages could not be installed on this machine; its ratios say n/a."
  echo "synod: \`scripts/cluster.sh start\` with its defaults (3 nodes, N=3, release build, nothing tuned); \"synod\": each client routes a key to its home node (its first replica), \"synod unrouted\": client i talks to node i mod 3. Redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-): one node, no persistence. etcd ${ETCD_VERSION:-}: 3 members, data on tmpfs, HTTP/JSON gateway."
  echo "Keys: $KEYS, values: 100 bytes, ${SECONDS_EACH} s per run after ${WARMUP_MS} ms warm-up; one connection per client (one per node for routed synod clients), one request in flight."
  echo "The first SET and GET run on each cluster, and every synod SET run, write every key first (\`--preload\`, routed for routed runs), outside the measured window. First writes: one routed client writing keys no run wrote before (\`--fresh\`), each once."
  echo "Server CPU is utime+stime from /proc summed over a target's processes; bench CPU is the load generator's own."
  echo
} >"$OUT_DIR/latest.md.tmp"
"$BENCH" bench --report "$RESULTS" --extra "$RB" --svg "$OUT_DIR/latest.svg" >>"$OUT_DIR/latest.md.tmp"
mv "$OUT_DIR/latest.md.tmp" "$OUT_DIR/latest.md"
echo
cat "$OUT_DIR/latest.md"
echo
log "wrote docs/bench/latest.md and docs/bench/latest.svg"
