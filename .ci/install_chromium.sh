#!/usr/bin/env bash
# CI: Debian's chromium for the page's browser tests (tests/test_serve_browser.py drives
# /usr/bin/chromium headless and skips where it is missing). Installs it only when
# /usr/bin/chromium is missing (apt-get, as root or through sudo) and prints how long that took:
# about 70 s on the project's machine (apt-get update included), two minutes on slower mirrors.
set -euo pipefail

chromium=/usr/bin/chromium
if [ -x "$chromium" ]; then
  echo "chromium: $("$chromium" --version 2>/dev/null | head -n 1) is installed"
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "installing chromium needs root or password-less sudo (the browser tests will be skipped)" >&2
  exit 1
fi
echo "+ apt-get install chromium ($chromium is missing)"
start=$(date +%s)
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
[ -x "$chromium" ] || { echo "apt-get installed chromium, but $chromium is still missing" >&2; exit 1; }
echo "chromium: $("$chromium" --version 2>/dev/null | head -n 1) installed in $(( $(date +%s) - start )) s"
