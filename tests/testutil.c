/* tests/testutil.c - helpers shared by the cmocka suites. */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "testutil.h"

acto_runtime_t *tu_runtime(unsigned workers)
{
    acto_config_t cfg;
    acto_config_init(&cfg);
    cfg.workers = workers;
    acto_runtime_t *rt = NULL;
    assert_int_equal(acto_runtime_new(&rt, &cfg), 0);
    assert_non_null(rt);
    return rt;
}

uint64_t tu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
