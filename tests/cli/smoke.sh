#!/bin/sh
# The binary answers --help, version, and rejects unknown verbs with exit 2.
set -u
bin=${CHRONON_BIN:?}
fail() { echo "FAIL: $*"; exit 1; }
"$bin" --help | grep -q 'usage: chronon' || fail "--help has no usage line"
"$bin" version | grep -q '^chronon-c ' || fail "version"
"$bin" no-such-verb >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "unknown verb exit $rc, expected 2"
"$bin" no-such-verb 2>&1 | grep -q "unknown command 'no-such-verb'" || fail "unknown verb message"
for verb in $("$bin" --help | awk '/^commands:/{f=1;next} f && /^  [a-z]/{print $1}'); do
    "$bin" "$verb" --help >/dev/null 2>&1 || fail "'chronon $verb --help' exits non-zero"
done
echo "cli smoke: ok"
