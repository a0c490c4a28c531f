#!/usr/bin/env bash
# Installs what the tests need and runs them: the README's test command.
#   Debian packages: mosquitto (the broker of the integration tests and benchmarks) and its clients,
#   gpsd-clients (gpsdecode, the yardstick of the AIS decoding tests),
#   chromium + chromium-driver + fonts-noto-cjk (browser tests). Python packages: the project with its [test] extra,
#   in ./.venv. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
# mosquitto_pub: a test publishes as the README tells a user to
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# gpsdecode: the independent AIS decoder the AIS recordings are checked against
command -v gpsdecode >/dev/null 2>&1 || need+=(gpsd-clients)
# the interface is Chinese first: without a CJK font, screenshots show boxes
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
  sudo_=""
  [ "$(id -u)" = 0 ] || sudo_="sudo"
  echo "installing Debian packages: ${need[*]}"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "${need[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
exec .venv/bin/python -m pytest "$@"
