#!/usr/bin/env bash
# Make sure nginx exists for the classroom tests (tests/integration/test_classroom.py): Debian's package
# when we may install it. Only the binary is used: the tests run their own nginx, on a free port.
set -euo pipefail
source "$(dirname "$0")/debian-package.sh"
for candidate in "$(command -v nginx || true)" /usr/sbin/nginx; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    echo "nginx: $candidate"
    exit 0
  fi
done
install_debian_package nginx "the classroom tests" && exit 0
echo "nginx is missing and cannot be installed here: the classroom tests will fail (install nginx)." >&2
exit 1
