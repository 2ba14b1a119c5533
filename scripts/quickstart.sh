#!/bin/sh
# One command on a fresh Debian 12 machine (as root): installs what chronon-c needs, builds
# it, and runs the quickstart on the bundled example repo in a fresh folder.
#   ./scripts/quickstart.sh [DIR]     DIR defaults to ./.quickstart (recreated each run)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# CHRONON_BIN set (the test suite does this): use that binary, skip installing and building.
if [ -n "${CHRONON_BIN:-}" ]; then
    bin=$CHRONON_BIN
else
    sh scripts/deps.sh build
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    ninja -C build >/dev/null
    bin="$root/build/chronon"
fi

dir=${1:-$root/.quickstart}
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
rm -rf "$dir"
mkdir -p "$dir"
# a fresh chronon root: the example's configs, teams.json and data, without compiled output
cp -r examples/quickstart/. "$dir/"
rm -rf "$dir/production"
cd "$dir"

step() { printf '\n== %s\n' "$*"; }

step "compile the users' guide GroupBy (group_bys/my_team/user_purchase_features.py)"
python3 "$root/api/py/ai/chronon/repo/compile.py" \
    --conf group_bys/my_team/user_purchase_features.py --force-overwrite -y
step "compile the quickstart GroupBys and the training_set Join (chronon compile)"
"$bin" compile --conf group_bys/quickstart -y
"$bin" compile --conf joins/quickstart -y

step "what was compiled"
find production -type f | sort | while read -r f; do
    printf '\n-- %s\n' "$f"
    "$bin" conf show "$f"
done

step "load the sample data into the warehouse (Iceberg tables under ./warehouse)"
"$bin" load data/purchases.csv default.purchases    # the guide's GroupBy reads bare 'purchases'
for t in purchases returns users checkouts; do
    "$bin" load "data/$t.csv" "data.$t"
done

run_py="python3 $root/api/py/ai/chronon/repo/run.py"
step "backfill the guide's GroupBy for one day, then for a range (run.py)"
$run_py --conf production/group_bys/my_team/user_purchase_features.v1 --mode backfill --ds 2023-12-01 --repo "$dir"
$run_py --conf production/group_bys/my_team/user_purchase_features.v1 --mode backfill \
    --start-ds 2023-12-01 --end-ds 2023-12-07 --repo "$dir"
step "backfill the quickstart GroupBys"
for gb in purchases returns users; do
    $run_py --conf "production/group_bys/quickstart/$gb.v1" --mode backfill --ds 2023-12-07 --repo "$dir"
done

step "backfill the training_set join: point-in-time features for every checkout"
$run_py --conf production/joins/quickstart/training_set.v1 --mode backfill --ds 2023-12-07 --repo "$dir"
"$bin" sql "SELECT user_id, ts, quickstart_purchases_v1_purchase_price_sum_14d, quickstart_returns_v1_refund_amt_sum_14d,
  quickstart_users_v1_email_verified FROM default.quickstart_training_set_v1 WHERE ds = '2023-12-01' ORDER BY ts LIMIT 5"

step "upload the guide's GroupBy and its metadata to the online store, then fetch (run.py)"
$run_py --conf production/group_bys/my_team/user_purchase_features.v1 --mode upload --ds 2023-12-01 --repo "$dir"
$run_py --conf production/group_bys/my_team/user_purchase_features.v1 --mode metadata-upload --repo "$dir"
$run_py --mode fetch --conf-type group_bys --name my_team/user_purchase_features.v1 -k '{"user_id":"5"}' --repo "$dir"

step "look at the output as the guide does with spark-sql (chronon sql)"
"$bin" sql "USE default; SHOW TABLES LIKE '*user_purchase*';
SELECT user_id, purchase_price_sum_7d, purchase_price_count_7d, purchase_price_average_7d, purchase_price_last10
FROM default.my_team_user_purchase_features_v1 WHERE ds = '2023-12-01' ORDER BY user_id LIMIT 10"
"$bin" sql "DESCRIBE EXTENDED default.my_team_user_purchase_features_v1" | grep -E 'Table Type|Provider|Location'

step "the scheduler in Airflow's role: the DAGs from production/, then one day of runs"
"$bin" dags list --repo "$dir"
"$bin" scheduler --once --ds 2023-12-07 --repo "$dir" | tail -4
"$bin" dags state chronon_batch_dag_my_team 2023-12-07 --repo "$dir"

printf '\nquickstart: done in %s (configs in production/, tables in warehouse/)\n' "$dir"
printf 'try:  cd %s && %s sql\n' "$dir" "$bin"
printf 'web UI (DAGs, runs, logs, tables, feature lookup):  cd %s && %s ui   then open http://127.0.0.1:8085/ui/\n' "$dir" "$bin"
