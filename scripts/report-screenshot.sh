#!/usr/bin/env bash
# Renders a `surgeon report` page in headless Chromium (Debian package `chromium`) to a PNG and
# fails when Chromium fails or the page logs an error. Installs chromium when it is missing.
# Not part of the test command (it needs apt and a browser).
#
#   scripts/report-screenshot.sh REPORT.html [OUT.png]    (default: REPORT.png beside the page)
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 REPORT.html [OUT.png]" >&2
    exit 2
fi
page=$1
png=${2:-${page%.html}.png}
if [ ! -f "$page" ]; then
    echo "error: $page does not exist; write it with: surgeon report OUT... -o $page" >&2
    exit 1
fi

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    echo "installing chromium (Debian package) ..." >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >&2
    browser=$(command -v chromium)
fi

abs=$(cd "$(dirname "$page")" && pwd)/$(basename "$page")
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rm -f "$png"
# --enable-logging=stderr --v=0: console messages of the page go to the log, which is checked below
if ! "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --enable-logging=stderr --v=0 \
        --window-size=1400,3000 --screenshot="$png" "file://$abs" >"$log" 2>&1; then
    cat "$log" >&2
    echo "error: chromium failed on $page" >&2
    exit 1
fi
if [ ! -s "$png" ]; then
    cat "$log" >&2
    echo "error: chromium wrote no screenshot to $png" >&2
    exit 1
fi
# errors of the page itself (a malformed inline SVG, a blocked resource): console or network errors
if grep -E "CONSOLE.*(Error|error)|Uncaught|net::ERR_|Failed to load" "$log" >&2; then
    echo "error: the page logged errors (above)" >&2
    exit 1
fi
echo "wrote $png" >&2
