# Shared helpers for scripts/bench-memory.sh, scripts/spread.sh and
# scripts/churn.sh (sourced, not run). The caller sets, before sourcing:
#   NAME          the script's short name, for log lines
#   SYNOD_CLUSTER_DIR, SYNOD_CLIENT_PORT_BASE, SYNOD_PEER_PORT_BASE
#                 (exported: the run folder and ports scripts/cluster.sh uses)
# and calls `measure_cleanup` from its EXIT trap: it stops every server
# started here, by pid, even when the script fails half-way.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/target/release/synod"
GEN="$ROOT/scripts/lib/resp_gen.py"
SYNOD_STARTED=0
EXTRA_PIDS=() # redis-server, generators: stopped by measure_cleanup

log() { printf '[%s %s] %s\n' "$NAME" "$(date +%H:%M:%S)" "$*" >&2; }
die() { echo "$NAME: $*" >&2; exit 1; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Stops one process we started: SIGTERM, up to 5 s, then SIGKILL.
stop_pid() { # stop_pid PID
  kill "$1" 2>/dev/null || true
  local _
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

measure_cleanup() {
  set +e
  if ((SYNOD_STARTED)); then SYNOD_BIN="$BIN" "$ROOT/scripts/cluster.sh" stop >/dev/null 2>&1; fi
  local p
  for p in "${EXTRA_PIDS[@]}"; do stop_pid "$p"; done
}

# Installs redis-server and redis-tools with apt-get if missing, without
# letting the packages start their system services.
need_redis() { # need_redis [server]
  local need=()
  [[ "${1:-}" == server ]] && ! command -v redis-server >/dev/null && need+=(redis-server)
  command -v redis-cli >/dev/null || need+=(redis-tools)
  ((${#need[@]})) || return 0
  log "installing ${need[*]} (apt-get)"
  local policy_added=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy_added=1
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  ((policy_added)) && rm -f /usr/sbin/policy-rc.d
  return 0
}

build_synod() {
  log "building synod (release)"
  (cd "$ROOT" && cargo build --release --quiet --bin synod)
}

client_port() { echo $((SYNOD_CLIENT_PORT_BASE + $1)); }

# Starts a fresh cluster in SYNOD_CLUSTER_DIR; refuses ports already taken
# (cluster.sh would reuse a running cluster, which would spoil a measurement).
synod_start() { # synod_start NODES REPLICAS [-- NODE FLAGS]
  local nodes="$1" replicas="$2" i port
  shift 2
  for ((i = 1; i <= nodes; i++)); do
    for port in $((SYNOD_CLIENT_PORT_BASE + i)) $((SYNOD_PEER_PORT_BASE + i)); do
      port_busy "$port" && die "port 127.0.0.1:$port is taken (ss -ltnp 'sport = :$port')"
    done
  done
  SYNOD_STARTED=1
  RUST_LOG=warn SYNOD_BIN="$BIN" "$ROOT/scripts/cluster.sh" start --nodes "$nodes" --replicas "$replicas" "$@" >/dev/null
}

node_pid() { cat "$SYNOD_CLUSTER_DIR/node$1.pid"; }

# Resident set size of a process, in KiB (VmRSS, or VmHWM for the peak).
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# One field of INFO (any server speaking RESP on 127.0.0.1:PORT).
info_field() { # info_field PORT FIELD
  redis-cli -p "$1" info 2>/dev/null | tr -d '\r' | awk -F: -v f="$2" '$1 == f && !n++ {print $2}'
}

# Waits until INFO keys: on PORT reaches N. Returns 1 if the count stopped
# moving for STALL_S seconds short of N (a replica that missed an Accept of a
# round chosen by the others holds the key only after the next round on it),
# 2 after TIMEOUT seconds. Prints the last count.
wait_keys() { # wait_keys PORT N TIMEOUT_S [STALL_S (10)]
  local port="$1" want="$2" deadline=$((SECONDS + $3)) stall_s="${4:-10}" got last=-1 moved=$SECONDS
  while :; do
    got="$(info_field "$port" keys)"
    got="${got:-0}"
    if ((got >= want)); then echo "$got"; return 0; fi
    if ((got != last)); then last=$got moved=$SECONDS; fi
    if ((SECONDS - moved >= stall_s)); then echo "$got"; return 1; fi
    if ((SECONDS >= deadline)); then echo "$got"; return 2; fi
    sleep 0.5
  done
}

# Runs `redis-cli --pipe` on PORT with stdin; prints "errors replies".
pipe_load() { # pipe_load PORT < RESP
  local out
  out="$(redis-cli -p "$1" --pipe --pipe-timeout 120 2>&1)" || { echo "$out" >&2; return 1; }
  awk -F'[:, ]+' '/^errors:/ {print $2, $4}' <<<"$out"
}

now_s() { date +%s.%N; }
machine() { echo "$(nproc) cores, $(uname -sr), $(awk '/^MemTotal:/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo)"; }
