#!/usr/bin/env bash
# Make sure a Chromium for the browser tests exists: Debian's package when we may install it.
# (Playwright's own browser download needs the internet; Debian's package works offline from a mirror.)
set -euo pipefail
source "$(dirname "$0")/debian-package.sh"
for candidate in "${CHROMIUM_PATH:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    echo "Chromium: $candidate"
    exit 0
  fi
done
install_debian_package chromium "the browser tests" && exit 0
echo "No Chromium found; trying Playwright's own download (needs the internet)…"
.venv/bin/python -m playwright install chromium
