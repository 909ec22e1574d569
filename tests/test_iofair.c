/* tests/test_iofair.c - a busy actor must not hold back its worker's timers
 * (issue 3: the worker's time bound, runtime/internal.h worker_turn).
 *
 * One worker.  A "waiter" actor arms a short timer and then starts a
 * "busy" actor on a stream of self-sends, each message a fixed amount of
 * computation (seconds in all).  Every message of the stream fits in ONE
 * turn (the stream is shorter than the batch), so a worker that reaps only
 * between turns, or every so many turns, delivers the timer only once the
 * stream has ended.  With the time bound the turn ends early once the
 * bound is due, the worker reaps, and the timer message reaches the waiter
 * while most of the stream is still to come.
 *
 * Causality, not milliseconds: the check is on how many stream messages
 * were handled when the timer message arrived, against the stream length.
 * The stream is long enough (a per-message cost of some ms) that the timer
 * is due within its first few messages on any machine this runs on; the
 * new code delivers it within TURN_POLL_MSGS messages after the bound is
 * due, far below the stream length. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <string.h>

#include "testutil.h"

enum { MSG_GO = 1, MSG_WORK, MSG_TIMER };

#define TIMER_NS 1000000ull           /* 1 ms */

typedef struct {
    acto_pid_t busy;
    uint64_t stream;                  /* messages in the stream */
    uint64_t handled;                 /* stream messages handled so far */
    uint64_t at_timer;                /* `handled` when the timer arrived */
    int timers;
    uint64_t sink;
} fair_t;

/* A fixed amount of work the compiler cannot drop, in registers only (so
 * the sanitizers slow it down no more than they slow the runtime). */
static uint64_t spin_work(uint64_t x, unsigned long iters)
{
    for (unsigned long i = 0; i < iters; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        __asm__ volatile("" : "+r"(x));
    }
    return x;
}

static unsigned long g_iters;

static int busy_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    fair_t *f = arg;
    CHECK(acto_msg_type(msg) == MSG_WORK);
    f->sink = spin_work(f->sink | 1, g_iters);
    if (++f->handled < f->stream)
        return acto_send_empty(ctx, acto_self(ctx), MSG_WORK);
    return 0;
}

static int waiter_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    fair_t *f = arg;
    switch (acto_msg_type(msg)) {
    case MSG_GO:
        /* The timer first, then the stream: it is due long before the
         * stream can end. */
        CHECK(acto_timer_start(ctx, TIMER_NS, 0, MSG_TIMER, NULL) == 0);
        return acto_send_empty(ctx, f->busy, MSG_WORK);
    case MSG_TIMER:
        f->timers++;
        f->at_timer = f->handled;     /* one worker: no race with busy */
        return 0;
    }
    CHECK(false);
    return 0;
}

static void run_stream(unsigned batch, uint64_t stream)
{
    acto_runtime_t *rt = tu_runtime_batch(1, batch);
    fair_t f = { .stream = stream, .sink = 0x9e3779b97f4a7c15ull };
    f.busy = tu_spawn_fn(acto_root(rt), busy_recv, &f);
    acto_pid_t waiter = tu_spawn_fn(acto_root(rt), waiter_recv, &f);
    assert_int_equal(acto_send_empty(acto_root(rt), waiter, MSG_GO), 0);
    tu_run(rt);
    acto_runtime_free(rt);
    NO_FAILURES();
    print_message("batch %u: stream of %llu messages, timer arrived after %llu\n", batch,
                  (unsigned long long)f.stream, (unsigned long long)f.at_timer);
    assert_int_equal(f.handled, f.stream);
    assert_int_equal(f.timers, 1);
    /* The timer was delivered while the stream was running, and early in
     * it: the stream was not held up for it, nor it for the stream. */
    assert_true(f.at_timer < f.stream / 2);
}

/* Iterations of spin_work for about `ms` of work here, measured once:
 * sizing the stream, not judging the runtime. */
static void calibrate(unsigned ms)
{
    unsigned long n = 100000;
    uint64_t x = 1;
    for (;;) {
        uint64_t t0 = tu_now_ns();
        x = spin_work(x, n);
        uint64_t dt = tu_now_ns() - t0;
        if (dt >= 20000000ull || n >= (1ul << 34)) {
            g_iters = (unsigned long)((double)n * ms * 1e6 / (double)(dt ? dt : 1)) + 1;
            break;
        }
        n *= 2;
    }
    if (x == 0)                       /* keep x alive */
        g_iters++;
}

/* The default batch (64): a 48-message stream is one turn. */
static void test_timer_fires_within_a_long_turn(void **state)
{
    (void)state;
    calibrate(20);                    /* ~1 s of work in all */
    run_stream(0, 48);
}

/* A large batch: a 1,500-message stream is one turn; before the time
 * bound, even a worker that reaped every few turns would not reap in it. */
static void test_timer_fires_within_a_huge_batch(void **state)
{
    (void)state;
    calibrate(1);                     /* ~1.5 s of work in all */
    run_stream(4096, 1500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_fires_within_a_long_turn),
        cmocka_unit_test(test_timer_fires_within_a_huge_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
