#!/bin/sh
# Installs the independent checkers used by tests (never by the product) under
# third_party/npm (git-ignored). Idempotent: a stamp file records what was installed.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/third_party/npm"
mkdir -p "$dir"
# Each line: an npm package spec the tests use.
SPECS="
@duckdb/node-bindings-linux-x64@1.4.4-r.4
hyparquet@1.31.5
hyparquet-compressors@1.1.2
hyparquet-writer@0.17.0
s3rver@3.7.1 avsc@5.7.9
icebird@0.3.1
dynalite@4.0.0
"
# DuckDB's C header is not in the bindings package; the old Node package ships the
# sources of the same release, so take duckdb.h from its tarball.
hdr="$dir/include/duckdb.h"
if [ ! -f "$hdr" ]; then
    echo "checkers: duckdb.h from npm pack duckdb@1.4.4"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --loglevel=error duckdb@1.4.4 >/dev/null \
        && tar xzf duckdb-1.4.4.tgz package/src/duckdb/src/include/duckdb.h)
    mkdir -p "$dir/include"
    mv "$tmp/package/src/duckdb/src/include/duckdb.h" "$hdr"
    rm -rf "$tmp"
fi
# CongoDB, a MongoDB wire-protocol server in JavaScript, ships inside smartmongo, whose
# own dependencies do not install; take its folder and install the six it needs.
congo="$dir/congodb"
congo_want="@push.rocks/smartmongo@2.2.0 smartfs@^1.3.1 smartpath@^5.0.11 smartpromise@^4.0.3 smartrx@^3.0.0 bson@^6.10.0 mingo@^7.2.0"
if [ ! -f "$congo/.installed" ] || [ "$(cat "$congo/.installed")" != "$congo_want" ]; then
    echo "checkers: CongoDB from npm pack @push.rocks/smartmongo@2.2.0"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --loglevel=error @push.rocks/smartmongo@2.2.0 >/dev/null \
        && tar xzf push.rocks-smartmongo-2.2.0.tgz package/dist_ts/congodb)
    rm -rf "$congo"
    mkdir -p "$congo"
    mv "$tmp/package/dist_ts/congodb" "$congo/congodb"
    rm -rf "$tmp"
    echo '{"name":"chronon-congodb","private":true,"type":"module"}' > "$congo/package.json"
    (cd "$congo" && npm install --no-audit --no-fund --loglevel=error \
        @push.rocks/smartfs@^1.3.1 @push.rocks/smartpath@^5.0.11 @push.rocks/smartpromise@^4.0.3 \
        @push.rocks/smartrx@^3.0.0 bson@^6.10.0 mingo@^7.2.0 >/dev/null)
    echo "$congo_want" > "$congo/.installed"
fi
stamp="$dir/.installed"
want=$(echo "$SPECS" | tr -s ' \n' ' ' | sed 's/^ //;s/ $//')
if [ -z "$want" ]; then exit 0; fi
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
echo "checkers: npm install $want"
(cd "$dir" && [ -f package.json ] || echo '{"name":"chronon-checkers","private":true}' > "$dir/package.json")
(cd "$dir" && npm install --no-audit --no-fund --loglevel=error $want >/dev/null)
echo "$want" > "$stamp"
