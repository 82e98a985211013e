#!/usr/bin/env bash
# Chromium from Debian's packages for the dashboard's browser test (Playwright drives it; it downloads nothing).
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
test -x /usr/bin/chromium && echo "chromium: /usr/bin/chromium"
