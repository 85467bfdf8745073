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

step "labs (the grader fails unfinished skeletons, gives correct answers full marks, explains a planted mistake)"
# The student's own files (src/lab/*/student.rs) are never compiled here:
# the suite is green whatever they hold. The answer key (src/lab/*/answer.rs),
# written into each level's skeleton as a student would hand it in
# (scripts/lab-answer.sh), is graded like a student's file.
labs=$(mktemp -d)
full_marks() { grep -Eq '^SCORE: ([0-9]+)/\1 ' <<<"$1"; }
for lab in acceptor proposer recovery; do
  for level in easy hard; do
    out=$(scripts/lab-grade.sh "$lab" --file "src/lab/$lab/$level.rs" --tests-only 2>&1) && {
      echo "$out"; echo "lab-grade.sh passed the unfinished $lab/$level skeleton: the grader cannot fail"; exit 1; }
    if ! grep -q "not yet implemented" <<<"$out" || ! grep -q "^SCORE: 0/" <<<"$out"; then
      echo "$out"; echo "lab-grade.sh failed the $lab/$level skeleton, but not on its todo!()s"; exit 1
    fi
    scripts/lab-answer.sh "$lab" "$level" >"$labs/$lab-$level.rs"
    out=$(scripts/lab-grade.sh "$lab" --level "$level" --file "$labs/$lab-$level.rs" --tests-only 2>&1) && full_marks "$out" || {
      echo "$out"; echo "a correct $lab answer at level $level did not get full marks"; exit 1; }
    echo "ok: $lab/$level: the skeleton scores 0, a correct answer in the student's file $(grep '^SCORE' <<<"$out")"
  done
  out=$(scripts/lab-grade.sh "$lab" --core --tests-only 2>&1) || {
    echo "$out"; echo "lab-grade.sh failed the core's own $lab rules"; exit 1; }
  echo "ok: $lab: the core's own rules pass every test ($(grep -c '  pass  test' <<<"$out") tests)"
done
# With the sweeps too (20 seeds, unoptimised simulator): the correct proposer
# answer gets full marks; with the classic mistake planted (a quorum of
# N/2), the grader names the rule, the assertion's values and the command
# that replays the failing seed.
out=$(scripts/lab-grade.sh proposer --level easy --file "$labs/proposer-easy.rs" --quick --debug 2>&1) && full_marks "$out" || {
  echo "$out"; echo "a correct proposer answer did not get full marks with the sweeps"; exit 1; }
echo "ok: proposer/easy with sweeps: a correct answer $(grep '^SCORE' <<<"$out")"
sed 's|replicas / 2 + 1|replicas / 2|' "$labs/proposer-easy.rs" >"$labs/planted.rs"
cmp -s "$labs/proposer-easy.rs" "$labs/planted.rs" && { echo "the planted mistake was not planted"; exit 1; }
out=$(scripts/lab-grade.sh proposer --level easy --file "$labs/planted.rs" --quick --debug 2>&1) && {
  echo "$out"; echo "the grader passed a quorum of N/2"; exit 1; }
for want in '^rule 1: Quorum' '^  FAIL  test core::proposer::tests::a_quorum_is_a_strict_majority' \
  'actual \(left\): +0$' 'expected \(right\): +1$' '^  FAIL  sweep docs/exercises/minority-quorum.min.toml' \
  'replay: .*synod-sim run --seed [0-9]+ --scenario docs/exercises/minority-quorum.min.toml --timeline' \
  '=> rule 1 BROKEN' '^SCORE: [0-7]/8 '; do
  grep -Eq -- "$want" <<<"$out" || { echo "$out"; echo "the grader's report of a planted mistake lacks /$want/"; exit 1; }
done
echo "ok: a planted mistake (quorum N/2) is reported by rule, with expected/actual values and the replay command"
rm -rf "$labs"
