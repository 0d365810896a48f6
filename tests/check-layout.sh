#!/usr/bin/env bash
# Checks that docs/ARCHITECTURE.md's "## Layout" section and its emitter table name the
# files as they are (no build; grep and awk only):
# - every project folder src/P/ has an entry (a line starting `src/P/`, with its indented
#   continuation lines) and that entry names every F# and C# source file under src/P/ by its base
#   name (`FusedStep` for Training/FusedStep.fs, `KernelEmitter.Driver` for KernelEmitter.Driver.cs),
#   as a whole word; bin/, obj/ and generated *.g.cs / *.g.fs files are left out;
# - every folder and script directly under tests/ has an entry (a line starting `tests/NAME`);
# - every src/TiDHy.Generators/KernelEmitter*.cs has a row in the table after "the emitter is split
#   by concern" whose first cell is the file name, or its part after `KernelEmitter` (`.Driver.cs`).
# Prints each missing name and exits 1 if any is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
readme=docs/ARCHITECTURE.md arch=docs/ARCHITECTURE.md
status=0 checked=0

missing() {
  echo "$1" >&2
  status=1
}

layout=$(awk '/^## Layout$/ { f = 1; next } /^## / { f = 0 } f' "$readme")
[ -n "$layout" ] || { echo "$readme: no \"## Layout\" section" >&2; exit 1; }

# The entry of a path prefix: its line and the indented lines that follow it.
entry() {
  awk -v p="$1" 'index($0, p) == 1 { f = 1; print; next } f && /^[[:space:]]/ { print; next } { f = 0 }' \
    <<<"$layout"
}

for dir in src/*/; do
  block=$(entry "$dir")
  if [ -z "$block" ]; then
    missing "$readme: the Layout section has no entry for $dir"
    continue
  fi
  while IFS= read -r file; do
    [ -n "$file" ] || continue
    name=$(basename "$file")
    name=${name%.*}
    if grep -qwF -- "$name" <<<"$block"; then
      checked=$((checked + 1))
    else
      missing "$readme: the Layout entry of $dir does not name $name ($file)"
    fi
  done < <(find "$dir" \( -name bin -o -name obj \) -prune -o -type f \( -name '*.fs' -o -name '*.cs' \) \
    ! -name '*.g.fs' ! -name '*.g.cs' -print | sort)
done

for path in tests/*; do
  if [ -d "$path" ]; then
    prefix="$path/"
  elif [[ "$path" == *.sh ]]; then
    prefix="$path"
  else
    continue
  fi
  if [ -n "$(entry "$prefix")" ]; then
    checked=$((checked + 1))
  else
    missing "$readme: the Layout section has no entry for $prefix"
  fi
done

# The first cells of the emitter table's rows, without backticks and spaces.
cells=$(awk '/the emitter is split by concern/ { f = 1; next }
  f && /^\|/ { t = 1; split($0, c, "|"); gsub(/[` ]/, "", c[2]); print c[2]; next }
  f && t { exit }' "$arch")
[ -n "$cells" ] || { echo "$arch: no emitter table after \"the emitter is split by concern\"" >&2; exit 1; }
for file in $(find src/TiDHy.Generators -maxdepth 1 -name 'KernelEmitter*.cs' | sort); do
  name=$(basename "$file")
  suffix=${name#KernelEmitter}
  if grep -qxF -- "$name" <<<"$cells" || { [ "$suffix" != .cs ] && grep -qxF -- "$suffix" <<<"$cells"; }; then
    checked=$((checked + 1))
  else
    missing "$arch: the emitter table has no row for $name ($file)"
  fi
done

echo "Layout and emitter table: $checked names checked"
exit "$status"
