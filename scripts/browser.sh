#!/usr/bin/env bash
# Debian's Chromium for the web console's browser tests. The tests drive it with
# Playwright's Python package and never download a browser of their own.
set -u

if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq chromium >/dev/null 2>&1 || echo "scripts/browser.sh: could not install chromium" >&2
else
  echo "scripts/browser.sh: no apt-get; install Chromium and set LLMSPELL_CHROMIUM" >&2
fi
exit 0
