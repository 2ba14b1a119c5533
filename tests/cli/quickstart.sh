#!/bin/sh
# Runs scripts/quickstart.sh (the README's first command) with the built binary in a temp
# folder and checks that each step of the guide's workflow produced its result.
set -u
bin=${CHRONON_BIN:?}
src=${CN_SOURCE_DIR:?}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; echo "--- output"; cat "$dir/out"; exit 1; }
CHRONON_BIN=$bin sh "$src/scripts/quickstart.sh" "$dir/qs" >"$dir/out" 2>&1 || fail "quickstart.sh exited non-zero"
grep -q "Writing GroupBy to" "$dir/out" || fail "nothing compiled"
[ -f "$dir/qs/production/group_bys/my_team/user_purchase_features.v1" ] || fail "guide's GroupBy not compiled"
grep -q "backfill my_team.user_purchase_features.v1: wrote 101 rows in 1 partition" "$dir/out" || fail "--ds 2023-12-01 backfill"
grep -q "backfill my_team.user_purchase_features.v1: wrote 606 rows in 6 partitions" "$dir/out" || fail "range backfill"
grep -q "backfill quickstart.training_set.v1: wrote 718 rows in 8 partitions" "$dir/out" || fail "join backfill"
grep -q '"purchase_price_sum_30d": 1253' "$dir/out" || fail "fetch of user 5"
grep -q "Table Type  *ICEBERG" "$dir/out" || fail "DESCRIBE EXTENDED"
grep -q "scheduler: 2023-12-07: 31 success, 0 failed, 0 upstream_failed, 0 blocked" "$dir/out" || fail "scheduler day"
echo "quickstart: ok"
