#!/usr/bin/env bash
# Regenerates every figure in docs/ from real simulator runs, so the docs
# never drift from the code:
#   docs/course/figures/*.svg      spacetime diagrams (committed)
#   docs/course/figures/*.txt      `synod-sim step --all` transcripts (committed)
#   docs/exercises/*               one page, minimal scenario and diagram per
#                                  deliberate bug (`synod-sim exercises`)
#   docs/course/lecture.html       the lecture deck (scripts/lecture.sh)
#   docs/course/html/*.html        step-through pages (not committed: open them
#                                  in a browser after running this script)
#   target/figures/*.png           a headless-Chromium screenshot of each page
#                                  and SVG, when `chromium` is installed
# Every SVG is checked to parse as XML (xmllint when present, else the
# simulator's own XML check runs in `cargo test -p synod-sim --test diagram`).
#
# Usage: scripts/figures.sh [--no-exercises]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

exercises=1
[ "${1:-}" = "--no-exercises" ] && exercises=0

cargo build -q --release -p synod-sim
sim=target/release/synod-sim
figs=docs/course/figures
html=docs/course/html
png=target/figures
mkdir -p "$figs" "$html" "$png"

have_chromium=""
for c in chromium chromium-browser google-chrome; do
  if command -v "$c" >/dev/null 2>&1; then have_chromium="$c"; break; fi
done
[ -z "$have_chromium" ] && echo "(chromium not found: no screenshots; apt-get install chromium to get them)"

shot() { # shot FILE PNG [WIDTHxHEIGHT]
  [ -z "$have_chromium" ] && return 0
  timeout 90 "$have_chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size="${3:-1600,1100}" --screenshot="$2" "file://$PWD/$1" >/dev/null 2>&1 \
    || echo "warning: screenshot of $1 failed"
}

xmlcheck() {
  if command -v xmllint >/dev/null 2>&1; then xmllint --noout "$1"; fi
}

# fig NAME ARGS...: one figure = one `synod-sim run` (pass or fail both fine).
fig() {
  local name=$1; shift
  echo "figure $name: synod-sim run $*"
  "$sim" run "$@" --svg "$figs/$name.svg" --html "$html/$name.html" >/dev/null || true
  xmlcheck "$figs/$name.svg"
  shot "$figs/$name.svg" "$png/$name.svg.png"
  shot "$html/$name.html" "$png/$name.html.png"
}

# Chapter 1: one SET end to end, then a GET through another node.
fig 01-one-set --seed 1 --scenario sim/scenarios/one-set.toml --window 0..7
"$sim" step sim/scenarios/one-set.toml --seed 1 --all --window 0..3 > "$figs/01-one-set.step.txt" || true
# Chapter 2: dueling proposers; and what a ballot without a node id does.
fig 02-dueling --seed 1 --scenario sim/scenarios/dueling-proposers.toml --window 0..1.85
fig 02-tie-break --seed 1 --scenario sim/scenarios/dueling-proposers.toml --bug no-ballot-tie-break --window 0..1.3
# Chapter 3: a coordinator crashes after its Accept reached one replica
# (seed 11: the orphan is read unconfirmed, then carried forward).
fig 03-crash-mid-accept --seed 11 --scenario sim/scenarios/crash-mid-accept.toml --window 41.8..44.06
# Chapter 4: the restart: catch-up before voting (seed 14: the whole catch-up
# in 2 ms, with a Nack(Recovering)); a dead incarnation's vote counted.
fig 04-restart --seed 14 --scenario sim/scenarios/crash-mid-accept.toml --window 89.95..92.2
fig 04-crash-vector --seed 6 --scenario sim/scenarios/crash-vector.toml --bug old-incarnation-votes-counted --key k0 --window 79.9..88.8
# Chapter 5: delete through consensus; a tombstone dropped too early.
fig 05-tombstone --seed 0 --scenario sim/scenarios/tombstone-resurrection.toml --window 0..15
fig 05-resurrection --seed 0 --scenario sim/scenarios/tombstone-resurrection.toml --bug drop-tombstone-on-quorum --window 9.9..200
# Chapter 6: a write in one round trip after the first, and a fast read.
fig 06-fast-paths --seed 1 --scenario sim/scenarios/fast-paths.toml --window 0..8

if [ $exercises -eq 1 ]; then
  echo "exercises: synod-sim exercises --out docs/exercises"
  "$sim" exercises --out docs/exercises || echo "warning: some bug was not caught (see docs/exercises/README.md)"
  for f in docs/exercises/*.svg; do
    xmlcheck "$f"
    shot "$f" "$png/exercise-$(basename "$f").png"
  done
fi
# The lecture deck, from the figures just drawn.
scripts/lecture.sh
shot docs/course/lecture.html "$png/lecture.png"
echo "done: $(ls "$figs"/*.svg | wc -l) course figures, $(ls docs/exercises/*.svg 2>/dev/null | wc -l) exercise figures; pages in $html/"
