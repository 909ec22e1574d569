/* tests/test_stats.c - acto_runtime_stats and acto_runtime_worker_stats may
 * be called while a run is going on (include/acto/runtime.h: "approximate
 * while workers run"): from another thread, concurrently with workers
 * counting.  The counters must only grow, and the final figures must be
 * exact once the run has returned.  Under ThreadSanitizer this is also the
 * check that reading them mid-run is no data race. */
#include <pthread.h>

#include "testutil.h"

enum { MSG_BALL = 1 };

typedef struct {
    acto_runtime_t *rt;
    int stop;                      /* atomic: the run has returned */
    long snapshots, regressions;
} watcher_t;

/* Pairs of actors bounce a countdown; each spawns a short-lived child now
 * and then, so that spawned/exited move as well as messages. */
static int child_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)state;
    (void)arg;
    acto_exit(ctx, ACTO_EXIT_NORMAL);
    return 0;
}

static int child_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)ctx;
    (void)state;
    (void)msg;
    return 0;
}

static const acto_behavior_t child = { .name = "child", .init = child_init,
                                       .receive = child_recv };

static int ball_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    acto_pid_t *peer = state;
    int64_t left;
    if (acto_msg_type(msg) != MSG_BALL || acto_msg_i64(msg, &left) != 0)
        return ACTO_EPROTO;
    if (*peer == ACTO_PID_NONE)
        *peer = acto_msg_from(msg);
    if (left % 100 == 0 && acto_spawn(ctx, &child, NULL, NULL) != 0)
        return ACTO_EPROTO;
    if (left == 0)
        return 0;
    return acto_send_i64(ctx, *peer, MSG_BALL, left - 1);
}

/* arg: the peer's pid, or NULL (then learnt from the first ball). */
static int ball_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    *(acto_pid_t *)state = arg ? *(const acto_pid_t *)arg : ACTO_PID_NONE;
    return 0;
}

static const acto_behavior_t ball = { .name = "ball", .state_size = sizeof(acto_pid_t),
                                      .init = ball_init, .receive = ball_recv };

static void *watch(void *arg)
{
    watcher_t *wt = arg;
    acto_stats_t prev = { 0 }, st;
    acto_worker_stats_t ws;
    while (!__atomic_load_n(&wt->stop, __ATOMIC_ACQUIRE)) {
        if (acto_runtime_stats(wt->rt, &st) != 0)
            break;
        for (unsigned i = 0; i < st.workers; i++)
            (void)acto_runtime_worker_stats(wt->rt, i, &ws);
        if (st.messages < prev.messages || st.spawned < prev.spawned ||
            st.exited < prev.exited || st.steals < prev.steals || st.sleeps < prev.sleeps)
            wt->regressions++;
        prev = st;
        wt->snapshots++;
    }
    return NULL;
}

static void test_stats_during_run(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(2);
    enum { PAIRS = 8 };
    int64_t n = tu_scale(200000, 20000);
    acto_stats_t before = tu_stats(rt);
    for (int p = 0; p < PAIRS; p++) {
        acto_pid_t a, b;
        assert_int_equal(acto_spawn(acto_root(rt), &ball, NULL, &a), 0);
        assert_int_equal(acto_spawn(acto_root(rt), &ball, &a, &b), 0);
        /* b knows a; a learns b from the first ball b sends it */
        assert_int_equal(acto_send_i64(acto_root(rt), b, MSG_BALL, n), 0);
    }
    watcher_t wt = { .rt = rt };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, watch, &wt), 0);
    tu_run(rt);
    __atomic_store_n(&wt.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    acto_stats_t st = tu_stats(rt);
    print_message("%ld snapshots during the run; messages %llu spawned %llu exited %llu\n",
                  wt.snapshots, (unsigned long long)(st.messages - before.messages),
                  (unsigned long long)(st.spawned - before.spawned),
                  (unsigned long long)(st.exited - before.exited));
    assert_int_equal(wt.regressions, 0);
    /* Exact after the run: every ball was one message (n + 1 per pair),
     * one child per 100 balls, all exited. */
    int64_t children = PAIRS * (n / 100 + 1);
    assert_true(st.messages - before.messages == (uint64_t)(PAIRS * (n + 1)));
    assert_true(st.spawned - before.spawned == (uint64_t)(2 * PAIRS + children));
    assert_true(st.exited - before.exited == (uint64_t)children);
    acto_runtime_free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_during_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
