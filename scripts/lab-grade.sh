#!/usr/bin/env bash
# Grades the lab acceptor (src/lab/acceptor.rs, docs/exercises/lab.md):
#   1. the project's acceptor unit tests and the core's rule tests, built with
#      `--features lab` so the node runs YOUR acceptor;
#   2. if they pass, a simulator sweep (invariants after every step,
#      linearizability at the end) over swarm seeds and the classic scenarios.
# Exit 0 only if everything passes. The default build is untouched: the lab
# build uses its own target directory (target/lab) for the simulator.
#
# Usage: scripts/lab-grade.sh [--seeds N] [--quick]
#   --quick: unit tests and 20 seeds per sweep (what scripts/test.sh uses to
#            check that the grader fails on the unfinished skeleton).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seeds=300
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds="$2"; shift 2 ;;
    --quick) seeds=20; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "lab-grade: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== 1/2 unit tests against your acceptor (cargo test -p synod --features lab --lib core::)"
cargo test -q -p synod --features lab --lib core:: >"$log" 2>&1
unit=$?
passed=$(grep -Eo '[0-9]+ passed' "$log" | tail -1 | cut -d' ' -f1)
failed=$(grep -Eo '[0-9]+ failed' "$log" | tail -1 | cut -d' ' -f1)
if grep -q 'error\[E' "$log"; then
  echo "your acceptor does not compile:"
  grep -A12 'error\[E' "$log" | head -60
  echo "GRADE: FAIL (does not compile)"
  exit 1
fi
echo "unit tests: ${passed:-0} passed, ${failed:-0} failed"
if [ $unit -ne 0 ]; then
  grep -E "^    [a-z_:]+$|panicked at|not yet implemented" "$log" | head -40
  echo "GRADE: FAIL (unit tests; fix these before the simulator sweep)"
  exit 1
fi

echo "== 2/2 simulator sweeps with your acceptor"
export CARGO_TARGET_DIR=target/lab
if ! cargo build -q --release -p synod-sim --features synod/lab 2>"$log"; then
  cat "$log"; echo "GRADE: FAIL (the simulator does not build)"; exit 1
fi
sim=target/lab/release/synod-sim
bad=0
for sc in "" sim/scenarios/dueling-proposers.toml sim/scenarios/crash-mid-accept.toml \
          sim/scenarios/partition-heal.toml sim/scenarios/lost-confirm.toml; do
  args=(explore --seeds "0..$seeds" --quiet)
  [ -n "$sc" ] && args+=(--scenario "$sc")
  if out=$("$sim" "${args[@]}" 2>&1); then
    echo "pass  ${sc:-swarm}: $(echo "$out" | tail -1)"
  else
    bad=$((bad + 1))
    echo "FAIL  ${sc:-swarm}:"
    echo "$out" | head -8 | sed 's/^/      /'
  fi
done
if [ $bad -ne 0 ]; then
  echo "GRADE: FAIL ($bad sweep(s) found a safety or liveness failure; replay the seed with --timeline or --html)"
  exit 1
fi
echo "GRADE: PASS (unit tests and $seeds seeds of each sweep)"
