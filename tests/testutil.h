/* tests/testutil.h - helpers shared by the cmocka suites. */
#ifndef ACTO_TESTUTIL_H
#define ACTO_TESTUTIL_H

#include <setjmp.h>   /* cmocka needs these before <cmocka.h> */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <acto/acto.h>

/* A runtime with `workers` workers (0 = one per CPU); fails the test if
 * creation fails. */
acto_runtime_t *tu_runtime(unsigned workers);

/* Monotonic clock in nanoseconds. */
uint64_t tu_now_ns(void);

#endif
