#!/usr/bin/env bash
# Prints what a student who solved a lab at a level hands in: the level's
# skeleton (src/lab/LAB/LEVEL.rs) with the body of each function replaced
# by the body of the same function in the answer key (src/lab/LAB/answer.rs).
# scripts/test.sh grades that file with scripts/lab-grade.sh --file: a
# correct answer written in the student's file must get full marks.
#
# Usage: scripts/lab-answer.sh LAB LEVEL > FILE
#   LAB    acceptor, proposer or recovery
#   LEVEL  easy or hard
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -eq 2 ] || { sed -n '2,10p' "$0"; exit 2; }
lab=$1 level=$2
skel=src/lab/$lab/$level.rs answer=src/lab/$lab/answer.rs
[ -f "$skel" ] || { echo "lab-answer: no skeleton $skel" >&2; exit 2; }
[ -f "$answer" ] || { echo "lab-answer: no answer key $answer" >&2; exit 2; }
# A function starts at a line with `fn NAME`; its signature ends at the first
# line ending in `{`; its body ends at the line that is the fn line's
# indentation followed by `}` (rustfmt's layout).
awk '
  function fn_name(line) { sub(/^.*fn /, "", line); sub(/[^a-zA-Z0-9_].*$/, "", line); return line }
  function indent(line) { match(line, /^ */); return substr(line, 1, RLENGTH) }
  FNR == 1 { pass++ }
  pass == 1 {
    if (!inbody && !insig && $0 ~ /^ *(pub(\([a-z]+\))? )?fn [a-zA-Z0-9_]+/) {
      name = fn_name($0); ind = indent($0); insig = 1
    }
    if (insig) { if ($0 ~ /\{$/) { insig = 0; inbody = 1; body[name] = "" } ; next }
    if (inbody) {
      if ($0 == ind "}") { inbody = 0; have[name] = 1 } else body[name] = body[name] $0 "\n"
    }
    next
  }
  {
    if (!inbody && !insig && $0 ~ /^ *(pub(\([a-z]+\))? )?fn [a-zA-Z0-9_]+/) {
      name = fn_name($0); ind = indent($0); insig = 1
      if (!(name in have)) { print "lab-answer: the answer key has no fn " name > "/dev/stderr"; bad = 1 }
    }
    if (insig) { print; if ($0 ~ /\{$/) { insig = 0; inbody = 1 } ; next }
    if (inbody) {
      if ($0 == ind "}") { inbody = 0; printf "%s", body[name]; print }
      next
    }
    print
  }
  END { exit bad }
' "$answer" "$skel"
