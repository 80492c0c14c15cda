#!/usr/bin/env bash
# Install what the namespace and the tests need, on a fresh Debian machine:
# beanstalkd, ZooKeeper and Redis from Debian, our package and its
# dependencies in ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# beanstalkd carries events; ZooKeeper elects the master of each replicated
# meta base; redis-server backs the account service on several hosts;
# libmagic1 provides /etc/magic, the file of the seed's example that the
# demo stores.
missing=()
command -v beanstalkd >/dev/null 2>&1 || missing+=(beanstalkd)
[ -e /usr/share/java/zookeeper.jar ] || missing+=(zookeeper)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -e /etc/magic ] || missing+=(libmagic1)
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing ${missing[*]} (Debian packages)..."
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON" -m venv .venv 2>/dev/null; then
        echo "Installing python3-venv (Debian package)..."
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        rm -rf .venv
        "$PYTHON" -m venv .venv
    fi
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test,ec,fast]'
