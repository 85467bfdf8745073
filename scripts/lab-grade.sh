#!/usr/bin/env bash
# Grades a teaching lab (docs/labs): the student's rules, in
# src/lab/LAB/student.rs, built in place of the core's (--features lab-LAB).
#
# For each rule of the lab (src/lab/LAB/rules): the unit and node tests that
# check it, then simulator sweeps (invariants after every step,
# linearizability at the end) over seeds; pass/fail per test and sweep, for a
# failed test the assertion's values and the line that made it, for a failed
# sweep the failing seed that fails soonest and the command that replays it.
# A score at the end: per rule, 1 point for its tests and 1 for its sweeps.
# Exit 0 only if every rule passes.
#
# Usage: scripts/lab-grade.sh LAB [--level easy|hard] [--file PATH] [--seeds N] [--quick] [--debug]
#   LAB       acceptor, proposer or recovery
#   --level   which skeleton to start from when src/lab/LAB/student.rs does
#             not exist yet (default easy; the grader copies it there)
#   --file    grade this file instead of student.rs (scripts/test.sh grades
#             the skeletons and the core's own rules with it)
#   --seeds   seeds per sweep (default 200); --quick: 20
#   --core    grade the core's own rules (no lab feature): the grader's
#             check that a correct answer gets full marks
#   --tests-only  no sweeps; the score counts the tests' points only
#   --debug   build the simulator unoptimised: quicker to build, slower to
#             run (scripts/test.sh grades with --quick --debug)
# The lab build uses its own target directory (target/lab): the default build
# is untouched.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

usage() { sed -n '2,26p' "$0"; exit "${1:-0}"; }
[ $# -ge 1 ] || usage 2
lab="$1"; shift
case "$lab" in
  acceptor|proposer|recovery) ;;
  -h|--help) usage 0 ;;
  *) echo "lab-grade: unknown lab '$lab': acceptor, proposer or recovery" >&2; exit 2 ;;
esac
level=easy; file=""; seeds=200; core=0; sweeps_on=1; profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --level) level="${2:-}"; shift 2 ;;
    --file) file="${2:-}"; shift 2 ;;
    --seeds) seeds="${2:-}"; shift 2 ;;
    --quick) seeds=20; shift ;;
    --core) core=1; shift ;;
    --tests-only) sweeps_on=0; shift ;;
    --debug) profile=debug; shift ;;
    -h|--help) usage 0 ;;
    *) echo "lab-grade: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$level" in easy|hard) ;; *) echo "lab-grade: --level easy or hard" >&2; exit 2 ;; esac

dir=src/lab/$lab
feature=lab-$lab
var=SYNOD_LAB_$(tr '[:lower:]' '[:upper:]' <<<"$lab")
if [ $core -eq 1 ]; then
  file="(the core's own rules)"
elif [ -z "$file" ]; then
  file=$dir/student.rs
  if [ ! -e "$file" ]; then
    cp "$dir/$level.rs" "$file"
    echo "started the $lab lab at level $level: write your rules in $file"
    echo "(a copy of $dir/$level.rs; docs/labs/$lab.md says what to do)"
  fi
fi
if [ $core -eq 0 ]; then
  [ -f "$file" ] || { echo "lab-grade: no such file $file" >&2; exit 2; }
  case "$file" in /*) abs=$file ;; *) abs=$root/$file ;; esac
  export "$var=$abs"
  features=(--features "$feature")
  sim_features=(--features "synod/$feature")
  export CARGO_TARGET_DIR=$root/target/lab
else
  features=(); sim_features=()
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

trim() { sed -E 's/^[[:space:]]+//; s/[[:space:]]+$//' <<<"$1"; }

# The rules: title | tests | sweeps.
titles=(); tests=(); sweeps=()
while IFS='|' read -r t ts sw; do
  [[ "$t" =~ ^[[:space:]]*(#|$) ]] && continue
  titles+=("$(trim "$t")"); tests+=("$(trim "$ts")"); sweeps+=("$(trim "$sw")")
done <"$dir/rules"
all_tests=$(printf '%s ' "${tests[@]}")

echo "== grading the $lab lab: $file"
echo "== 1/2 tests (cargo test -p synod ${features[*]} --lib -- --exact ...)"
# shellcheck disable=SC2086
RUST_BACKTRACE=1 cargo test -p synod "${features[@]}" --lib -- --exact --test-threads 1 $all_tests \
  >"$work/test.out" 2>"$work/test.err"
if grep -q 'could not compile' "$work/test.err"; then
  echo "your file does not compile:"
  grep -A14 '^error' "$work/test.err" | head -80
  echo
  echo "SCORE: 0/$((2 * ${#titles[@]})) (does not compile)"
  exit 1
fi
if ! grep -q '^test result' "$work/test.out"; then
  cat "$work/test.err" | tail -30
  echo "lab-grade: the tests did not run"; exit 1
fi

# Per test: ok / FAILED, and for a failure its panic message.
status_of() { grep -E "^test $1 \.\.\. " "$work/test.out" | awk '{print $NF}'; }
failure_of() {
  awk -v t="---- $1 stdout ----" '
    $0 == t { on = 1; next }
    on && (/^---- / || /^failures:$/ || /^successes:$/) { exit }
    on && !/^note: run with/ { print }' "$work/test.out"
}
show() { # the statement at line $2 of file $1 (up to 4 lines)
  awk -v l="$2" 'NR >= l && NR < l + 4 { sub(/^ +/, ""); print "          > " $0; if ($0 ~ /;$/ || ($0 !~ /[({,]$/)) exit }' "$1"
}
explain() { # the panic of test $1: where, the line of code, and the values
  local msg loc f l call cf cl
  msg=$(failure_of "$1")
  loc=$(grep -Eo 'panicked at [^ ]+:[0-9]+:[0-9]+' <<<"$msg" | head -1 | sed 's/panicked at //')
  if [ -n "$loc" ]; then
    f=${loc%:*}; f=${f%:*}; l=${loc%:*}; l=${l##*:}
    echo "          at ${f#"$root"/}:$l"
    [ -f "$f" ] && show "$f" "$l"
  fi
  # The test's own line, when the panic was elsewhere (in your code).
  call=$(awk -v fn="::$1" '
      index($0, fn) && $0 !~ /closure/ { want = 1; next }
      want && /^ +at / { print $2; exit }' <<<"$msg")
  cf=${call%:*}; cf=${cf%:*}; cl=${call%:*}; cl=${cl##*:}; cf=${cf#./}
  if [ -n "$call" ] && [ "$cf:$cl" != "${f#"$root"/}:$l" ] && [ -f "$cf" ]; then
    echo "          called by the test at $cf:$cl"
    show "$cf" "$cl"
  fi
  sed -n '/panicked at/,/^stack backtrace:/p' <<<"$msg" | sed '1d;/^stack backtrace:/d;/^$/d' |
    head -12 | while IFS= read -r m; do
      case "$m" in
        *" left: "*) echo "          actual (left):    ${m#*left: }" ;;
        *"right: "*) echo "          expected (right): ${m#*right: }" ;;
        *) echo "          $m" ;;
      esac
    done
}

declare -A tests_ok
for i in "${!titles[@]}"; do
  ok=1
  for t in ${tests[$i]}; do
    s=$(status_of "$t")
    [ "$s" = ok ] || ok=0
  done
  tests_ok[$i]=$ok
done

# Sweeps run whether or not the tests passed: a wrong rule shows as a
# failing seed to replay, an unfinished one (todo!()) as a panic.
sim=${CARGO_TARGET_DIR:-$root/target}/$profile/synod-sim
release=(); [ $profile = release ] && release=(--release)
declare -A sweep_result sweep_detail
if [ $sweeps_on -eq 1 ]; then
  echo "== 2/2 simulator sweeps, $seeds seeds each (cargo build${release[*]:+ ${release[*]}} -p synod-sim ${sim_features[*]})"
  if ! cargo build -q "${release[@]}" -p synod-sim "${sim_features[@]}" 2>"$work/build.err"; then
    cat "$work/build.err"; echo "lab-grade: the simulator does not build"; exit 1
  fi
  for sw in $(printf '%s\n' "${sweeps[@]}" | tr ' ' '\n' | sort -u); do
    args=(explore --seeds "0..$seeds" --quiet --max-failures 5)
    [ "$sw" != swarm ] && args+=(--scenario "$sw")
    if out=$("$sim" "${args[@]}" 2>&1); then
      sweep_result[$sw]=pass
      sweep_detail[$sw]=$(tail -1 <<<"$out" | sed -E 's/ in [0-9.]+s.*failure\(s\)//')
    else
      sweep_result[$sw]=FAIL
      # The failing seed that fails soonest (the verdict's "at t=...ms").
      best=$(grep -E '^seed [0-9]+:' <<<"$out" | awk '{
          t = 1e18; if (match($0, /at t=[0-9.]+ms/)) t = substr($0, RSTART + 5, RLENGTH - 7) + 0
          print t "\t" $0 }' | sort -g | head -1 | cut -f2-)
      seed=$(sed -E 's/^seed ([0-9]+):.*/\1/' <<<"$best")
      scen=""; [ "$sw" != swarm ] && scen=" --scenario $sw"
      failing=$(grep -Eo '^seed [0-9]+' <<<"$out" | cut -d' ' -f2 | paste -sd, | sed 's/,/, /g')
      sweep_detail[$sw]="failed on seed(s) $failing; the one failing soonest, seed $seed:
          ${best#*: }
          replay: $sim run --seed $seed$scen --timeline
          picture: $sim run --seed $seed$scen --html run.html"
    fi
  done

else
  echo "== 2/2 simulator sweeps: skipped (--tests-only)"
fi
echo
score=0; max=$(((1 + sweeps_on) * ${#titles[@]}))
for i in "${!titles[@]}"; do
  n=$((i + 1))
  rule_ok=${tests_ok[$i]}
  for sw in ${sweeps[$i]}; do
    [ "${sweep_result[$sw]:-}" = pass ] || [ $sweeps_on -eq 0 ] || rule_ok=0
  done
  echo "rule $n: ${titles[$i]}"
  for t in ${tests[$i]}; do
    s=$(status_of "$t")
    case "$s" in
      ok) echo "  pass  test $t" ;;
      FAILED) echo "  FAIL  test $t"; explain "$t" ;;
      *) echo "  FAIL  test $t (did not run: ${s:-not found})" ;;
    esac
  done
  [ "${tests_ok[$i]}" = 1 ] && score=$((score + 1))
  sweeps_ok=1
  for sw in ${sweeps[$i]}; do
    case "${sweep_result[$sw]:-}" in
      pass) echo "  pass  sweep $sw (${sweep_detail[$sw]})" ;;
      FAIL) sweeps_ok=0; echo "  FAIL  sweep $sw: ${sweep_detail[$sw]}" ;;
      *) sweeps_ok=0; [ $sweeps_on -eq 1 ] && echo "  ----  sweep $sw (not run)" ;;
    esac
  done
  [ $sweeps_ok = 1 ] && [ $sweeps_on -eq 1 ] && score=$((score + 1))
  [ "$rule_ok" = 1 ] && echo "  => rule $n holds" || echo "  => rule $n BROKEN"
  echo
done
if [ $sweeps_on -eq 1 ]; then
  echo "SCORE: $score/$max (per rule: 1 for its tests, 1 for its sweeps)"
else
  echo "SCORE: $score/$max (tests only: 1 per rule)"
fi
[ $score -eq $max ]
