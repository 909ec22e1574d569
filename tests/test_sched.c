/* tests/test_sched.c - the scheduler: an actor never runs on two workers
 * at once and handles each message exactly once; idle workers steal;
 * a flooding actor cannot starve the others (counted, not timed). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { MSG_HIT = 1, MSG_GO, MSG_PING, MSG_STOP, MSG_WORK };

/* ---- exactly once ----------------------------------------------------------------- */

#define EO_TARGETS 16
#define EO_SENDERS 6
#define EO_THREADS 2

typedef struct {
    uint32_t busy;        /* atomic: 1 while some worker runs this actor */
    uint32_t overlaps;    /* atomic: times busy was already 1 */
    uint64_t count;       /* plain on purpose: TSan sees unsynchronised turns */
    uint32_t seen[EO_SENDERS + EO_THREADS];   /* next seq per sender */
    uint32_t bad;
} eo_target_t;

static eo_target_t targets[EO_TARGETS];
static acto_pid_t target_pid[EO_TARGETS];

static int target_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)ctx;
    eo_target_t *t = arg;
    if (__atomic_exchange_n(&t->busy, 1, __ATOMIC_ACQ_REL) != 0)
        __atomic_fetch_add(&t->overlaps, 1, __ATOMIC_RELAXED);
    int64_t v;
    if (acto_msg_i64(msg, &v) == 0) {
        uint32_t sender = (uint32_t)(v >> 32), seq = (uint32_t)v;
        if (sender >= EO_SENDERS + EO_THREADS || t->seen[sender] != seq)
            t->bad++;
        else
            t->seen[sender]++;
    } else {
        t->bad++;
    }
    /* widen the window in which an overlap would be seen */
    for (volatile int i = 0; i < 50; i++)
        ;
    t->count++;
    __atomic_store_n(&t->busy, 0, __ATOMIC_RELEASE);
    return 0;
}

typedef struct {
    uint32_t id, rounds, done;
} eo_sender_t;

/* Each GO: one message to every target, in a sender-specific order, then
 * GO to itself, so the senders' turns interleave on both workers. */
static int eo_sender_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)msg;
    eo_sender_t *s = arg;
    for (uint32_t k = 0; k < EO_TARGETS; k++) {
        uint32_t t = (k * 7 + s->id) % EO_TARGETS;
        if (acto_send_i64(ctx, target_pid[t], MSG_HIT, ((int64_t)s->id << 32) | s->done) != 0)
            return -1;
    }
    if (++s->done < s->rounds)
        return acto_send_empty(ctx, acto_self(ctx), MSG_GO);
    return 0;
}

typedef struct {
    acto_runtime_t *rt;
    uint32_t id, rounds;
    int errors;
} eo_thread_t;

static void *eo_thread(void *p)
{
    eo_thread_t *t = p;
    acto_ctx_t *ctx;
    if (acto_thread_attach(t->rt, &ctx) == 0) {
        for (uint32_t r = 0; r < t->rounds; r++)
            for (uint32_t k = 0; k < EO_TARGETS; k++)
                if (acto_send_i64(ctx, target_pid[(k + r) % EO_TARGETS], MSG_HIT,
                                  ((int64_t)t->id << 32) | r) != 0)
                    t->errors++;
        acto_thread_detach(ctx);
    } else {
        t->errors++;
    }
    acto_runtime_unref(t->rt);
    return NULL;
}

static void run_exactly_once(unsigned batch)
{
    acto_runtime_t *rt = tu_runtime_batch(2, batch);
    acto_ctx_t *root = acto_root(rt);
    uint32_t rounds = (uint32_t)tu_scale(20000, 300);
    memset(targets, 0, sizeof targets);
    for (int i = 0; i < EO_TARGETS; i++)
        target_pid[i] = tu_spawn_fn(root, target_recv, &targets[i]);
    eo_sender_t snd[EO_SENDERS];
    for (uint32_t i = 0; i < EO_SENDERS; i++) {
        snd[i] = (eo_sender_t){ i, rounds, 0 };
        acto_pid_t p = tu_spawn_fn(root, eo_sender_recv, &snd[i]);
        assert_int_equal(acto_send_empty(root, p, MSG_GO), 0);
    }
    eo_thread_t th[EO_THREADS];
    pthread_t tid[EO_THREADS];
    for (uint32_t i = 0; i < EO_THREADS; i++) {
        th[i] = (eo_thread_t){ rt, EO_SENDERS + i, rounds, 0 };
        assert_int_equal(acto_runtime_ref(rt), 0);
        assert_int_equal(pthread_create(&tid[i], NULL, eo_thread, &th[i]), 0);
    }
    tu_run(rt);
    for (uint32_t i = 0; i < EO_THREADS; i++) {
        pthread_join(tid[i], NULL);
        assert_int_equal(th[i].errors, 0);
    }
    uint64_t total = 0;
    for (int i = 0; i < EO_TARGETS; i++) {
        assert_int_equal(targets[i].overlaps, 0);
        assert_int_equal(targets[i].bad, 0);
        assert_true(targets[i].count == (uint64_t)rounds * (EO_SENDERS + EO_THREADS));
        for (int s = 0; s < EO_SENDERS + EO_THREADS; s++)
            assert_int_equal(targets[i].seen[s], rounds);
        total += targets[i].count;
    }
    acto_stats_t st = tu_stats(rt);
    /* handled = targets' messages + the senders' GOs */
    assert_true(st.messages == total + (uint64_t)EO_SENDERS * rounds);
    assert_int_equal(st.dead_letters, 0);
    /* both workers took part (this workload cannot be done by one) */
    acto_worker_stats_t w0, w1;
    assert_int_equal(acto_runtime_worker_stats(rt, 0, &w0), 0);
    assert_int_equal(acto_runtime_worker_stats(rt, 1, &w1), 0);
    assert_true(w0.messages + w1.messages == st.messages);
    acto_runtime_free(rt);
}

static void test_exactly_once(void **state)
{
    (void)state;
    run_exactly_once(0);
}

/* batch 1: every message is a separate turn, so actors move between
 * queues and workers as often as possible */
static void test_exactly_once_batch1(void **state)
{
    (void)state;
    run_exactly_once(1);
}

/* ---- stealing --------------------------------------------------------------------- */

#define ST_CHILDREN 64

/* Children record which thread ran them.  The first child to run blocks
 * until a child has run on another thread: the other children sit in the
 * first worker's ring (the seeder spawned them there), so only a steal
 * can get one onto the second worker.  A scheduler that never steals
 * hangs here, and ctest's timeout reports it. */
typedef struct {
    pthread_t first_thread;
    uint32_t started;        /* atomic: children that began */
    uint32_t published;      /* atomic: first_thread is written */
    uint32_t other_thread;   /* atomic: a child ran off the first thread */
    uint32_t gave_up;
} steal_test_t;

static steal_test_t st_test;

static int child_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)ctx;
    (void)msg;
    (void)arg;
    steal_test_t *t = &st_test;
    if (__atomic_fetch_add(&t->started, 1, __ATOMIC_ACQ_REL) == 0) {
        t->first_thread = pthread_self();
        __atomic_store_n(&t->published, 1, __ATOMIC_RELEASE);
        /* bounded only by ctest's timeout, see above; a safety valve so a
         * failure is reported as such rather than as a hang */
        uint64_t deadline = tu_now_ns() + 60ull * 1000000000;
        while (!__atomic_load_n(&t->other_thread, __ATOMIC_ACQUIRE)) {
            if (tu_now_ns() > deadline) {
                t->gave_up = 1;
                break;
            }
            sched_yield();
        }
        return 0;
    }
    /* Not the first child (that one is running and publishes its thread
     * right away): are we on another thread? */
    while (!__atomic_load_n(&t->published, __ATOMIC_ACQUIRE))
        sched_yield();
    if (!pthread_equal(pthread_self(), t->first_thread))
        __atomic_store_n(&t->other_thread, 1, __ATOMIC_RELEASE);
    return 0;
}

static int seeder_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)msg;
    (void)arg;
    for (int i = 0; i < ST_CHILDREN; i++) {
        acto_pid_t c;
        int rc = tu_spawn_fn_rc(ctx, child_recv, NULL, &c);
        if (rc == 0)
            rc = acto_send_empty(ctx, c, MSG_WORK);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void test_stealing_happens(void **state)
{
    (void)state;
    memset(&st_test, 0, sizeof st_test);
    acto_runtime_t *rt = tu_runtime(2);
    acto_pid_t seeder = tu_spawn_fn(acto_root(rt), seeder_recv, NULL);
    assert_int_equal(acto_send_empty(acto_root(rt), seeder, MSG_GO), 0);
    tu_run(rt);
    assert_int_equal(st_test.gave_up, 0);
    assert_int_equal(st_test.other_thread, 1);
    assert_int_equal(st_test.started, ST_CHILDREN);
    acto_stats_t st = tu_stats(rt);
    assert_true(st.steals > 0);
    assert_true(st.stolen >= st.steals);
    uint64_t steals = 0, stolen = 0, runs = 0;
    for (unsigned i = 0; i < st.workers; i++) {
        acto_worker_stats_t w;
        assert_int_equal(acto_runtime_worker_stats(rt, i, &w), 0);
        steals += w.steals;
        stolen += w.stolen;
        runs += w.runs;
    }
    assert_true(steals == st.steals);
    assert_true(stolen == st.stolen);
    assert_true(runs >= ST_CHILDREN + 1);
    assert_int_equal(st.messages, ST_CHILDREN + 1);
    acto_worker_stats_t w;
    assert_int_equal(acto_runtime_worker_stats(rt, st.workers, &w), ACTO_EINVAL);
    acto_runtime_free(rt);
}

/* ---- fairness --------------------------------------------------------------------- */

/* Flooders send themselves a message per message, forever, until the
 * workers' pair of ping-pong actors has finished its exchange.  If the
 * flooders starved the pair, they would reach FLOOD_LIMIT first: the
 * outcome is an ordering of counts, not a time. */
typedef struct {
    uint32_t pingpong_done;   /* atomic */
    uint64_t flood_at_done;   /* flooder messages when the pair finished */
    uint64_t flooded;         /* atomic: all flooders' messages */
    uint32_t starved;         /* atomic: a flooder hit its limit first */
    uint64_t limit;
    uint32_t exchanges;
} fair_t;

static fair_t fair;

static int flooder_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)msg;
    (void)arg;
    uint64_t n = __atomic_add_fetch(&fair.flooded, 1, __ATOMIC_RELAXED);
    if (__atomic_load_n(&fair.pingpong_done, __ATOMIC_ACQUIRE))
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    if (n >= fair.limit) {
        __atomic_store_n(&fair.starved, 1, __ATOMIC_RELEASE);
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    }
    return acto_send_empty(ctx, acto_self(ctx), MSG_PING);
}

typedef struct {
    acto_pid_t peer;
    uint32_t count;
} pp_t;

static int pp_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    pp_t *p = arg;
    if (acto_msg_type(msg) == MSG_STOP)
        return 0;
    int64_t n;
    if (acto_msg_i64(msg, &n) != 0)
        return -1;
    p->count++;
    if ((uint32_t)n >= fair.exchanges) {
        fair.flood_at_done = __atomic_load_n(&fair.flooded, __ATOMIC_RELAXED);
        __atomic_store_n(&fair.pingpong_done, 1, __ATOMIC_RELEASE);
        return 0;
    }
    return acto_send_i64(ctx, p->peer, MSG_PING, n + 1);
}

static void run_fairness(unsigned workers)
{
    memset(&fair, 0, sizeof fair);
    fair.exchanges = (uint32_t)tu_scale(2000, 200);
    /* Per exchange the flooders may get about one batch each (64
     * messages) per worker, far less in practice; 4x that is the limit. */
    fair.limit = (uint64_t)fair.exchanges * 64 * workers * 4;
    acto_runtime_t *rt = tu_runtime(workers);
    acto_ctx_t *root = acto_root(rt);
    /* flooders first, so they are running when the pair starts */
    for (unsigned i = 0; i < workers + 1; i++) {
        acto_pid_t f = tu_spawn_fn(root, flooder_recv, NULL);
        assert_int_equal(acto_send_empty(root, f, MSG_PING), 0);
    }
    pp_t a = { 0, 0 }, b = { 0, 0 };
    acto_pid_t pa = tu_spawn_fn(root, pp_recv, &a);
    acto_pid_t pb = tu_spawn_fn(root, pp_recv, &b);
    a.peer = pb;
    b.peer = pa;
    assert_int_equal(acto_send_i64(root, pa, MSG_PING, 0), 0);
    tu_run(rt);
    assert_int_equal(fair.starved, 0);
    assert_int_equal(fair.pingpong_done, 1);
    assert_int_equal(a.count + b.count, fair.exchanges + 1);
    assert_true(fair.flood_at_done < fair.limit);
    print_message("fairness, %u worker(s): %u exchanges while flooders handled %llu\n",
                  workers, fair.exchanges, (unsigned long long)fair.flood_at_done);
    acto_stats_t st = tu_stats(rt);
    assert_int_equal(st.exited, workers + 1);     /* every flooder stopped */
    acto_runtime_free(rt);
}

static void test_fairness_1_worker(void **state)
{
    (void)state;
    run_fairness(1);
}

static void test_fairness_2_workers(void **state)
{
    (void)state;
    run_fairness(2);
}

/* Actors made runnable by foreign sends wait in the global queue: they
 * get their turns although a flooder keeps the only worker busy.  All
 * sends happen before run, so the counts do not depend on thread timing. */
static uint32_t gq_got, gq_want;

static int gq_sink_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)ctx;
    (void)msg;
    (void)arg;
    if (++gq_got == gq_want) {
        fair.flood_at_done = __atomic_load_n(&fair.flooded, __ATOMIC_RELAXED);
        __atomic_store_n(&fair.pingpong_done, 1, __ATOMIC_RELEASE);
    }
    return 0;
}

static void test_fairness_global_queue(void **state)
{
    (void)state;
    memset(&fair, 0, sizeof fair);
    acto_runtime_t *rt = tu_runtime(1);
    acto_ctx_t *root = acto_root(rt);
    gq_got = 0;
    gq_want = (uint32_t)tu_scale(3000, 300);
    /* a sink's turn may wait for one batch of the flooder and the global
     * queue is polled every 61 turns: 64 flooder messages per sink is
     * generous, 4x that is the limit */
    fair.limit = (uint64_t)gq_want * 64 * 4;
    acto_pid_t f = tu_spawn_fn(root, flooder_recv, NULL);
    assert_int_equal(acto_send_empty(root, f, MSG_PING), 0);
    for (uint32_t i = 0; i < gq_want; i++) {
        acto_pid_t s = tu_spawn_fn(root, gq_sink_recv, NULL);
        assert_int_equal(acto_send_empty(root, s, MSG_PING), 0);
    }
    tu_run(rt);
    assert_int_equal(fair.starved, 0);
    assert_int_equal(gq_got, gq_want);
    assert_true(fair.flood_at_done < fair.limit);
    print_message("fairness, global queue: %u sinks while the flooder handled %llu\n",
                  gq_want, (unsigned long long)fair.flood_at_done);
    acto_runtime_free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exactly_once),
        cmocka_unit_test(test_exactly_once_batch1),
        cmocka_unit_test(test_stealing_happens),
        cmocka_unit_test(test_fairness_1_worker),
        cmocka_unit_test(test_fairness_2_workers),
        cmocka_unit_test(test_fairness_global_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
