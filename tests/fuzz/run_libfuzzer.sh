#!/bin/sh
# Builds a libFuzzer target with clang in its own build dir and fuzzes it for
# CN_FUZZ_SECONDS (default 30) on a scratch copy of its corpus.
#   run_libfuzzer.sh <target>        e.g. parquet -> tests/fuzz/fuzz_parquet.c
# A crash fails the test; the crashing input is kept in $CN_BUILD_DIR/fuzz-artifacts/.
# Prints SKIP and exits 77 when clang cannot build it.
set -eu
target=$1
src=${CN_SOURCE_DIR:?CN_SOURCE_DIR not set}
build=${CN_BUILD_DIR:?CN_BUILD_DIR not set}
secs=${CN_FUZZ_SECONDS:-30}
fb="$build/fuzz-clang"
skip() {
    if [ "${CN_TEST_STRICT:-0}" = 1 ]; then echo "FAIL (CN_TEST_STRICT=1, would skip): $1"; exit 1; fi
    echo "SKIP: $1"; exit 77
}
command -v clang >/dev/null 2>&1 || skip "clang not installed"
# Several fuzz tests share the clang build dir and CTest may run them at once: one
# configure/build at a time.
mkdir -p "$fb"
exec 9>"$fb.lock"
flock 9
if [ ! -f "$fb/build.ninja" ]; then
    cmake -S "$src" -B "$fb" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCN_FUZZ=ON >"$fb.configure.$target.log" 2>&1 || { cat "$fb.configure.$target.log"; exit 1; }
fi
cmake --build "$fb" --target "fuzz_$target" >"$fb.build.$target.log" 2>&1 || { tail -50 "$fb.build.$target.log"; exit 1; }
flock -u 9
# The target may be defined by any test directory (tests/fuzz, tests/<module>).
bin=$(find "$fb/tests" -type f -name "fuzz_$target" -perm -u+x | head -1)
[ -n "$bin" ] || { echo "fuzz_$target was not built under $fb/tests"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$build/fuzz-artifacts"
cp "$src/tests/fuzz/corpus/$target"/* "$work/corpus/"
echo "fuzzing $target for ${secs}s"
# -rss_limit_mb bounds memory per input; detect_leaks stays on (leaks are bugs).
"$bin" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 \
    -timeout=20 -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$target-" \
    "$work/corpus" 2>"$work/log" || { tail -60 "$work/log"; exit 1; }
tail -12 "$work/log"
echo "fuzz $target: no crash in ${secs}s"
