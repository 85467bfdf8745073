#!/usr/bin/env bash
# Fuzzes synod's input paths with cargo-fuzz (libFuzzer), on the stable
# toolchain (RUSTC_BOOTSTRAP=1 lets it take libFuzzer's -Z flags).
#
#   scripts/fuzz.sh [RUNS] [TARGET...]
#
# RUNS: executions per target (default 10000000). TARGETs: resp, frames,
# handshake, node (default: all). FUZZ_MAX_SECONDS=N stops each target after
# N seconds if RUNS are not reached by then. Each run starts from and adds to
# tests/fuzz/corpus/TARGET, then minimises it (cargo fuzz cmin), so the
# corpus that tests/fuzz_corpus.rs replays in every test run grows with what
# the fuzzer found. A crash leaves its input in tests/fuzz/artifacts/TARGET
# and stops the script. Runs at nice 19: the box is shared.
# FUZZ_SANITIZER: none (default) or address. synod has no unsafe code and
# these targets reach no C code, so AddressSanitizer finds nothing more here
# while making each execution about 8 times slower (node: ~800/s with it,
# ~6,000/s without, on the shared 2-core box); Rust's own bounds and
# overflow checks (debug assertions are on) stay.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUNS="${1:-10000000}"
shift || true
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(resp frames handshake node)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$ROOT/target/fuzz"
SAN="${FUZZ_SANITIZER:-none}"
for t in "${TARGETS[@]}"; do
  corpus="tests/fuzz/corpus/$t"
  mkdir -p "$corpus" "target/fuzz-logs"
  log="target/fuzz-logs/$t.log"
  echo "== $t: $RUNS runs (log: $log)"
  start=$(date +%s)
  nice -n 19 cargo fuzz run -s "$SAN" --fuzz-dir tests/fuzz "$t" "$corpus" -- \
    -runs="$RUNS" -max_total_time="${FUZZ_MAX_SECONDS:-0}" -max_len=4096 -print_final_stats=1 -artifact_prefix="tests/fuzz/artifacts/$t/" \
    >"$log" 2>&1 || { mkdir -p "tests/fuzz/artifacts/$t"; tail -n 40 "$log"; echo "fuzz.sh: $t FAILED (input in tests/fuzz/artifacts/$t/)"; exit 1; }
  secs=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  before=$(ls "$corpus" | wc -l)
  nice -n 19 cargo fuzz cmin -s "$SAN" --fuzz-dir tests/fuzz "$t" "$corpus" >>"$log" 2>&1
  echo "$t: ${execs:-?} executions in ${secs} s ($((${execs:-0} / (secs > 0 ? secs : 1))) per s), no crash; corpus $before -> $(ls "$corpus" | wc -l) inputs after cmin"
done
