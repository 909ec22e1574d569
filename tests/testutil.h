/* tests/testutil.h - helpers shared by the cmocka suites. */
#ifndef ACTO_TESTUTIL_H
#define ACTO_TESTUTIL_H

#include <setjmp.h>   /* cmocka needs these before <cmocka.h> */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <acto/acto.h>

/* A runtime with `workers` workers (0 = one per CPU); fails the test if
 * creation fails. */
acto_runtime_t *tu_runtime(unsigned workers);
/* The same with a message batch size (0 = default). */
acto_runtime_t *tu_runtime_batch(unsigned workers, unsigned batch);

/* Run until quiescent; fails the test unless run returns 0. */
void tu_run(acto_runtime_t *rt);

/* A snapshot of the runtime's counters (fails the test on error). */
acto_stats_t tu_stats(acto_runtime_t *rt);

/* Monotonic clock in nanoseconds. */
uint64_t tu_now_ns(void);

/* Iteration counts: n in plain and ASan builds, n / 4 (at least `min`)
 * under ThreadSanitizer, which is 5-15x slower.  ACTO_TEST_SCALE=<percent>
 * in the environment scales every count further (e.g. 10 for a quick run). */
unsigned long tu_scale(unsigned long n, unsigned long min);
/* 1 when built with ThreadSanitizer. */
int tu_tsan(void);

/* Run fn(args[i]) (fn(NULL) if args is NULL) on n new threads, join them.
 * cmocka asserts must stay on the main thread: threads record failures. */
void tu_threads(unsigned n, void *(*fn)(void *), void **args);

/* ---- actors for tests ------------------------------------------------------
 * tu_spawn_fn: an actor whose receive calls fn(ctx, msg, arg). */
typedef int (*tu_recv_fn)(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg);
acto_pid_t tu_spawn_fn(acto_ctx_t *ctx, tu_recv_fn fn, void *arg);
/* The same without cmocka asserts, for use inside actors and threads. */
int tu_spawn_fn_rc(acto_ctx_t *ctx, tu_recv_fn fn, void *arg, acto_pid_t *pid);

/* A capture: an actor that copies every message it receives (type,
 * sender, body, and the message's address) into a list the test reads
 * after run.  Only one actor may write to a capture. */
typedef struct {
    uint32_t type;
    acto_pid_t from;
    size_t size;
    uint8_t *body;
    const void *addr;
} tu_cap_msg_t;

typedef struct {
    tu_cap_msg_t *v;
    size_t n, cap;
    unsigned failed;       /* allocation failures while copying */
} tu_capture_t;

acto_pid_t tu_spawn_capture(acto_ctx_t *ctx, tu_capture_t *cap);
int tu_capture_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *cap);
void tu_capture_free(tu_capture_t *cap);
/* A new unsent message with the captured type and body, for the readers
 * (free it with acto_msg_free). */
acto_msg_t *tu_cap_msg(acto_ctx_t *ctx, const tu_cap_msg_t *m);

/* ---- checks off the test's thread -----------------------------------------
 * cmocka's asserts may only fail on the test's own thread.  Actors and
 * helper threads count failures with CHECK (and say which on stderr); the
 * test then asserts NO_FAILURES().  g_fail is the count (testutil.c). */
extern int g_fail;
#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_ACQ_REL)
#define CHECK(x)                                                                    \
    do {                                                                            \
        if (!(x)) {                                                                 \
            ADD(&g_fail, 1);                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);  \
        }                                                                           \
    } while (0)
#define NO_FAILURES() assert_int_equal(LOAD(&g_fail), 0)

#endif
