#!/bin/sh
# One command on a fresh Debian 12 machine (as root): installs what chronon-c needs, builds
# it, and runs the quickstart on the bundled example repo in a fresh folder.
#   ./scripts/quickstart.sh [DIR]     DIR defaults to ./.quickstart (recreated each run)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

sh scripts/deps.sh build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build >/dev/null
bin="$root/build/chronon"

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

printf '\nquickstart: compiled configs are in %s/production\n' "$dir"
