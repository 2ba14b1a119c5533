#!/bin/sh
# Loads every compiled file of a Chronon sample repo with `chronon conf show`, in both
# output forms. Not part of CTest (it needs Chronon's sources); run by hand:
#   tests/conf/check_sample_repo.sh <chronon>/api/py/test/sample [path/to/chronon]
# Prints one line per file that fails and a summary; exits 1 if any failed.
set -u
root=${1:?usage: check_sample_repo.sh <sample repo dir> [chronon binary]}
bin=${2:-${CHRONON_BIN:-chronon}}
cd "$root" || exit 2
n=0
bad=0
for f in $(find production -type f | sort); do
    n=$((n + 1))
    if ! "$bin" conf show "$f" >/dev/null 2>/tmp/conf_check.$$; then
        bad=$((bad + 1))
        echo "FAIL $f: $(cat /tmp/conf_check.$$)"
    elif ! "$bin" conf show --json "$f" | python3 -c 'import json,sys; json.load(sys.stdin)'; then
        bad=$((bad + 1))
        echo "FAIL $f: --json output is not valid JSON"
    fi
done
rm -f /tmp/conf_check.$$
echo "$((n - bad))/$n compiled files loaded"
[ "$bad" -eq 0 ]
