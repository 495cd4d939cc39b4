#!/usr/bin/env bash
# Install Debian's Chromium for the console's browser tests if it is missing (idempotent, quiet).
# Playwright drives this binary (executable_path=/usr/bin/chromium); no browser is ever downloaded.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "chromium did not install at /usr/bin/chromium" >&2; exit 1; }
echo "Chromium installed: $(/usr/bin/chromium --version 2>/dev/null | head -1)"
