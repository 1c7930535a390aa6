#!/usr/bin/env bash
# Installs the Debian packages the test suite starts for real, only when missing, then checks
# that their major versions are ones the suite is known to pass with.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# Reactions are emoji: without a colour emoji font, screenshots show empty boxes.
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts the packaged services; the tests run their own on random ports instead.
  $SUDO systemctl disable --now redis-server postgresql >/dev/null 2>&1 || true
fi
bash "$(dirname "$0")/check-system-versions.sh"
