#!/bin/sh
# Installs what the tests need, builds chronon-c twice (normal, and ASan+UBSan), and runs
# every test under CTest in both builds. Idempotent and fast when nothing changed.
# Environment: CN_TEST_JOBS (default 2), CN_TEST_ASAN=0 to skip the sanitizer build
# (local use only; CI always runs it), CI=true makes a skipped test a failure.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${CN_TEST_JOBS:-2}

sh scripts/deps.sh test

if [ "${CI:-}" = true ]; then
    export CN_TEST_STRICT=1
fi

build() { # dir, extra cmake args...
    dir=$1; shift
    cmake -S . -B "$dir" -G Ninja -DCN_WERROR=ON "$@" >/dev/null
    ninja -C "$dir"
}

build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
builds="build"
if [ "${CN_TEST_ASAN:-1}" != 0 ]; then
    build build-asan -DCMAKE_BUILD_TYPE=Debug -DCN_ASAN=ON
    builds="$builds build-asan"
fi

passed=0
failed=0
status=0
for b in $builds; do
    echo "== ctest in $b"
    log="$b/ctest-summary.log"
    set +e
    (cd "$b" && ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        ctest --output-on-failure -j "$jobs") 2>&1 | tee "$log"

    set -e
    line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
    if [ -z "$line" ]; then
        echo "ctest in $b printed no summary" >&2
        status=1
        continue
    fi
    total=$(echo "$line" | sed -E 's/.* out of ([0-9]+).*/\1/')
    nfail=$(echo "$line" | sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/')
    passed=$((passed + total - nfail))
    failed=$((failed + nfail))
    if [ "$nfail" != 0 ] || ! grep -q '^100% tests passed' "$log"; then status=1; fi
done
echo "total: $passed passed, $failed failed"
exit $status
