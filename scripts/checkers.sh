#!/bin/sh
# Installs the independent checkers used by tests (never by the product) under
# third_party/npm (git-ignored). Idempotent: a stamp file records what was installed.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/third_party/npm"
mkdir -p "$dir"
# Each line: an npm package spec the tests use.
SPECS="
"
stamp="$dir/.installed"
want=$(echo "$SPECS" | tr -s ' \n' ' ' | sed 's/^ //;s/ $//')
if [ -z "$want" ]; then exit 0; fi
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
echo "checkers: npm install $want"
(cd "$dir" && [ -f package.json ] || echo '{"name":"chronon-checkers","private":true}' > "$dir/package.json")
(cd "$dir" && npm install --no-audit --no-fund --loglevel=error $want >/dev/null)
echo "$want" > "$stamp"
