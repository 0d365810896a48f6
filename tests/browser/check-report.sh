#!/usr/bin/env bash
# Renders a small `tidhy demo` report in headless Chromium with the network off and checks that
# every chart drew (plotly's SVG in each <figure class="chart">) and that the console shows no
# script error. Writes a screenshot for a person to look at: $TIDHY_ARTIFACTS/report.png
# (default artifacts/, ignored by git). Usage: tests/browser/check-report.sh [report-dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
art="${TIDHY_ARTIFACTS:-$root/artifacts}"
mkdir -p "$art"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "check-report: no chromium on PATH (apt-get install -y chromium)" >&2
  exit 1
fi

if [ $# -ge 1 ]; then
  report="$1"
else
  report="$work/report"
  dotnet run --project src/TiDHy.Cli -c Release -- demo --epochs 1 --out "$report" --force >"$work/demo.log" 2>&1 ||
    { cat "$work/demo.log" >&2; exit 1; }
fi
page="$report/index.html"
[ -f "$page" ] || { echo "check-report: $page is missing" >&2; exit 1; }

# Network off: a fresh network namespace where one can be made (root), and in any case a dead
# proxy for every address, so that any fetch from outside the page fails.
isolate=()
if unshare -n true 2>/dev/null; then isolate=(unshare -n); fi
flags=(--headless --disable-gpu --no-sandbox --no-first-run --disable-dev-shm-usage
  --proxy-server=127.0.0.1:9 --proxy-bypass-list='<-loopback>'
  --enable-logging=stderr --v=0 --virtual-time-budget=10000 --user-data-dir="$work/profile")

"${isolate[@]}" "$browser" "${flags[@]}" --dump-dom "file://$page" >"$work/dom.html" 2>"$work/console.log" || true
"${isolate[@]}" "$browser" "${flags[@]}" --window-size=1400,4000 --screenshot="$art/report.png" "file://$page" \
  >/dev/null 2>>"$work/console.log" || true
cp "$work/console.log" "$art/report-console.log"

fail=0
charts=$(grep -o '<figure class="chart">' "$page" | wc -l || true)
# One record per chart: the DOM after each <figure class="chart"> up to the next one.
drawn=$(awk 'BEGIN { RS = "<figure class=\"chart\">" } NR > 1 && /class="main-svg"/ && /(cartesianlayer|heatmaplayer)/ { n++ } END { print n + 0 }' "$work/dom.html")
svgs=$(grep -o 'class="main-svg"' "$work/dom.html" | wc -l || true)
echo "check-report: $charts charts on the page, $drawn drawn ($svgs plotly SVG layers)"
if [ "$charts" -eq 0 ] || [ "$drawn" -ne "$charts" ]; then
  echo "check-report: FAILED: not every chart drew" >&2
  fail=1
fi
if grep -E 'Uncaught|CONSOLE.*(Error|error)' "$work/console.log" >&2; then
  echo "check-report: FAILED: script errors in the console (above)" >&2
  fail=1
fi
if grep -E 'ERR_PROXY|ERR_NAME_NOT_RESOLVED|ERR_INTERNET_DISCONNECTED' "$work/console.log" >&2; then
  echo "check-report: FAILED: the page tried to reach the network" >&2
  fail=1
fi
if [ -s "$art/report.png" ]; then
  echo "check-report: screenshot $art/report.png"
else
  echo "check-report: FAILED: no screenshot" >&2
  fail=1
fi
[ "$fail" -eq 0 ] && echo "check-report: passed"
exit "$fail"
