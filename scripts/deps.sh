#!/bin/sh
# Installs what chronon-c needs on Debian 12 (as root). Idempotent: packages already
# present are not reinstalled, and apt-get update runs only when something is missing.
#   scripts/deps.sh build    libraries and tools to build the binary
#   scripts/deps.sh test     build + everything the test suite needs (checkers, servers)
set -eu
what=${1:-build}

BUILD_PKGS="build-essential cmake ninja-build pkg-config git python3 \
  libjansson-dev libzstd-dev libsnappy-dev zlib1g-dev liblmdb-dev libsqlite3-dev \
  libcurl4-openssl-dev libssl-dev libpq-dev libhiredis-dev libmongoc-dev libmicrohttpd-dev openmpi-bin libopenmpi-dev"
TEST_PKGS="libcmocka-dev python3-pytest clang postgresql redis-server redis-tools chromium wrk slurm-wlm munge"

pkgs=$BUILD_PKGS
[ "$what" = test ] && pkgs="$pkgs $TEST_PKGS"

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
# node and npm may come from another source than Debian (e.g. a newer nodejs that bundles
# npm); only install Debian's when the commands are absent.
if [ "$what" = test ] && ! { command -v node >/dev/null && command -v npm >/dev/null; }; then
    missing="$missing nodejs npm"
fi
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "deps: missing packages:$missing (run as root, or install them)" >&2
        exit 1
    fi
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

if [ "$what" = test ]; then
    # Independent checkers from npm, kept out of the repo's tracked files.
    root=$(cd "$(dirname "$0")/.." && pwd)
    sh "$root/scripts/checkers.sh"
fi
