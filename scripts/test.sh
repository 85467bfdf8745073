#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit and property tests,
# loopback integration tests with real node processes, and the simulator's
# bounded sweeps. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

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

step "lab (the teaching lab's skeleton compiles; the grader fails on it)"
cargo check -q --features lab --lib
if out=$(scripts/lab-grade.sh --quick 2>&1); then
  echo "$out"
  echo "lab-grade.sh passed the unfinished skeleton: the grader cannot fail"
  exit 1
elif ! grep -q "not yet implemented" <<<"$out"; then
  echo "$out"
  echo "lab-grade.sh failed, but not on the skeleton's todo!()s"
  exit 1
fi
echo "ok: the grader fails the unfinished skeleton ($(grep -m1 'unit tests:' <<<"$out"))"
