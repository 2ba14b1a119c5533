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
# No MongoDB counter file per process (src/cli/main.c): a killed chronon must not leave
# /dev/shm/mongoc-<pid> behind for a later process with the same pid to trip over.
if [ -d /dev/shm ]; then
    tmp=$(mktemp -d)
    mkfifo "$tmp/in"
    env -u MONGOC_DISABLE_SHM "$bin" sql --repo "$tmp" <"$tmp/in" >/dev/null 2>&1 &
    pid=$!
    exec 3>"$tmp/in"
    sleep 1
    leaked=no
    [ -e "/dev/shm/mongoc-$pid" ] && leaked=yes
    exec 3>&-
    wait $pid
    rm -rf "$tmp"
    [ $leaked = no ] || fail "chronon left /dev/shm/mongoc-$pid (MongoDB counters not disabled)"
fi
echo "cli smoke: shm ok"
