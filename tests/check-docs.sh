#!/usr/bin/env bash
# Checks the code blocks of README.md and of every guide in docs/ against the files of the repository,
# verbatim: a block marked `<!-- file: PATH -->` must equal PATH, one marked `<!-- excerpt: PATH -->`
# must appear in PATH as it stands; an unmarked fsharp or csharp block is an error, and a marked sh
# block is checked like them. So the quickstarts and guides show the example scripts that CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0 checked=0

for readme in README.md docs/*.md; do
marker="" in_block=0 lang="" block="" line_no=0 start=0

while IFS= read -r line || [ -n "$line" ]; do
  line_no=$((line_no + 1))
  if [ "$in_block" -eq 0 ]; then
    if [[ "$line" =~ ^\<\!--\ (file|excerpt):\ ([^ ]+)\ --\>$ ]]; then
      marker="${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
    elif [[ "$line" =~ ^\`\`\`(.*)$ ]]; then
      in_block=1 lang="${BASH_REMATCH[1]}" block="" start=$line_no
    elif [ -n "$line" ]; then
      marker=""
    fi
  elif [ "$line" = '```' ]; then
    in_block=0
    if [ "$lang" = fsharp ] || [ "$lang" = csharp ] || { [ "$lang" = sh ] && [ -n "$marker" ]; }; then
      if [ -z "$marker" ]; then
        echo "$readme:$start: a $lang block without <!-- file: … --> or <!-- excerpt: … -->" >&2
        status=1
      else
        kind=${marker%% *} path=${marker#* }
        if [ ! -f "$path" ]; then
          echo "$readme:$start: $path does not exist" >&2
          status=1
        elif [ "$kind" = file ] && [ "$block" != "$(cat "$path")" ]; then
          echo "$readme:$start: the block differs from $path:" >&2
          diff <(printf '%s\n' "$block") "$path" >&2 || true
          status=1
        elif [ "$kind" = excerpt ] && [[ "$(cat "$path")" != *"$block"* ]]; then
          echo "$readme:$start: the block is not an excerpt of $path" >&2
          status=1
        else
          checked=$((checked + 1))
        fi
      fi
    fi
    marker=""
  else
    block+="${block:+$'\n'}$line"
    [ "$start" -eq $((line_no - 1)) ] && block="$line"
  fi
done < "$readme"
done

echo "README and docs/ code blocks: $checked checked against their files"
[ "$checked" -gt 0 ] || { echo "no code block was checked" >&2; exit 1; }
exit "$status"
