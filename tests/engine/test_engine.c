/* test_engine.c: engine unit tests (placeholder filled below). */
#include "cn_test.h"

#include "engine/engine.h"

static void backfill_options_default(void **state) {
    (void)state;
    CnEngOpts o = {0};
    assert_int_equal(o.step_days, 0);
}

CN_TEST_MAIN(cmocka_unit_test(backfill_options_default))
