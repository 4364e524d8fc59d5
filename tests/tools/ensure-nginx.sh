#!/usr/bin/env bash
# Make sure nginx exists for the classroom tests (tests/integration/test_classroom.py): Debian's package
# when we may install it. Only the binary is used: the tests run their own nginx, on a free port.
set -euo pipefail
for candidate in "$(command -v nginx || true)" /usr/sbin/nginx; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    echo "nginx: $candidate"
    exit 0
  fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's nginx for the classroom tests…"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
  exit 0
fi
if command -v sudo >/dev/null && command -v apt-get >/dev/null; then
  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null && exit 0
fi
echo "nginx is missing and cannot be installed here: the classroom tests will fail (install nginx)." >&2
exit 1
