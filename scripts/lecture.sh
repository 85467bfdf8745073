#!/usr/bin/env bash
# Builds the lecture deck, docs/course/lecture.html: one self-contained HTML
# file (no network) from docs/course/lecture/deck.in.html, with each
# @@FIG path.svg@@ replaced by the figure inlined as a data: image and each
# @@TXT path@@ by the file's text (HTML-escaped). scripts/figures.sh runs it
# after drawing the figures.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
in=docs/course/lecture/deck.in.html
out=docs/course/lecture.html
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
while IFS= read -r line || [ -n "$line" ]; do
  if [[ "$line" =~ ^(.*)@@FIG\ ([^@]+)@@(.*)$ ]]; then
    f=${BASH_REMATCH[2]}
    [ -f "$f" ] || { echo "lecture.sh: no figure $f" >&2; exit 1; }
    printf '%s<img alt="%s" src="data:image/svg+xml;base64,%s">%s\n' \
      "${BASH_REMATCH[1]}" "$f" "$(base64 -w0 "$f")" "${BASH_REMATCH[3]}"
  elif [[ "$line" =~ ^(.*)@@TXT\ ([^@]+)@@(.*)$ ]]; then
    f=${BASH_REMATCH[2]}
    [ -f "$f" ] || { echo "lecture.sh: no file $f" >&2; exit 1; }
    printf '%s' "${BASH_REMATCH[1]}"
    head -60 "$f" | sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g'
    printf '%s\n' "${BASH_REMATCH[3]}"
  else
    printf '%s\n' "$line"
  fi
done <"$in" >"$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "lecture: $out ($(grep -c 'class="slide"' "$out") slides, $(du -k "$out" | cut -f1) KiB)"
