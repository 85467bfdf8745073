#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit and property tests,
# loopback integration tests with real node processes, and the simulator's
# bounded sweeps. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

step "test dependencies"
# tests/ops.rs reads /metrics with the Prometheus project's own parser.
if ! python3 -c 'import prometheus_client' 2>/dev/null; then
  python3 -m pip install --quiet prometheus_client 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages prometheus_client 2>/dev/null ||
    { apt-get update -qq && apt-get install -y -qq python3-prometheus-client; }
fi
python3 -c 'import prometheus_client' && echo "ok: python3 prometheus_client"

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  echo "(cargo-nextest not found; using cargo test)"
  cargo test --workspace --no-fail-fast
fi

step "hosts (3 nodes in 3 network namespaces, namespace-level partitions, checked)"
if [[ $EUID -eq 0 ]] && command -v ip >/dev/null && ip netns add synod-probe 2>/dev/null; then
  ip netns del synod-probe
  cargo build -q -p synod --bin synod && cargo build -q -p synod-sim -p synod-bench
  SYNOD_BIN=target/debug/synod SYNOD_SIM_BIN=target/debug/synod-sim SYNOD_BENCH_BIN=target/debug/synod-bench \
    SYNOD_HOSTS_DIR=target/hosts-test scripts/hosts.sh nemesis --seconds 10 --seed 1 | tail -n 3
else
  echo "skipped: needs root and network namespaces (ip netns); run scripts/hosts.sh nemesis as root"
fi

step "labs (the grader fails every unfinished skeleton and passes the core's own rules)"
# The student's own files (src/lab/*/student.rs) are never compiled here:
# the suite is green whatever they hold.
for lab in acceptor proposer recovery; do
  for level in easy hard; do
    out=$(scripts/lab-grade.sh "$lab" --file "src/lab/$lab/$level.rs" --tests-only 2>&1) && {
      echo "$out"; echo "lab-grade.sh passed the unfinished $lab/$level skeleton: the grader cannot fail"; exit 1; }
    if ! grep -q "not yet implemented" <<<"$out" || ! grep -q "^SCORE: 0/" <<<"$out"; then
      echo "$out"; echo "lab-grade.sh failed the $lab/$level skeleton, but not on its todo!()s"; exit 1
    fi
  done
  out=$(scripts/lab-grade.sh "$lab" --core --tests-only 2>&1) || {
    echo "$out"; echo "lab-grade.sh failed the core's own $lab rules"; exit 1; }
  echo "ok: $lab: the skeletons score 0, the core's rules pass every test ($(grep -c '  pass  test' <<<"$out") tests)"
done
