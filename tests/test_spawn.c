/* tests/test_spawn.c - spawning: pids, init and terminate, state blocks,
 * spawning from actors, a million actors, the slot limit, misuse. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { MSG_GO = 1, MSG_SEQ, MSG_CHUNK };

/* ---- init, terminate, state ------------------------------------------------------------ */

typedef struct {
    int init_calls, term_calls, recv_calls;
    int64_t term_reason;
    int init_rc;             /* what init returns */
    bool init_exits;         /* init calls acto_exit(5) */
    bool state_was_zero;
    acto_pid_t self_in_init, self_in_recv;
    size_t size;
} probe_t;

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static int probe_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    probe_t *p = *(probe_t *const *)arg;
    p->init_calls++;
    p->self_in_init = acto_self(ctx);
    p->state_was_zero = all_zero(state, p->size);
    /* the first bytes of the state remember the probe; the last byte is
     * written so an undersized state shows up under ASan */
    memcpy(state, &p, sizeof p);
    if (p->size > sizeof p)
        ((unsigned char *)state)[p->size - 1] ^= 0x5a;
    /* messages sent to ourselves during init are delivered after it */
    acto_send_empty(ctx, acto_self(ctx), MSG_GO);
    if (p->init_exits)
        acto_exit(ctx, 5);
    return p->init_rc;
}

static int probe_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)msg;
    probe_t *p;
    memcpy(&p, state, sizeof p);
    p->recv_calls++;
    p->self_in_recv = acto_self(ctx);
    return 0;
}

static void probe_terminate(acto_ctx_t *ctx, void *state, int64_t reason)
{
    (void)ctx;
    probe_t *p;
    memcpy(&p, state, sizeof p);
    p->term_calls++;
    p->term_reason = reason;
}

#define PROBE_BEH(sz) { .name = "probe", .state_size = (sz), .init = probe_init, \
                        .receive = probe_recv, .terminate = probe_terminate }

static void test_spawn_init_and_state(void **state)
{
    (void)state;
    /* inline (<= 40), size classes (<= 4 KiB), malloc'd (bigger) */
    static const acto_behavior_t behs[] = {
        PROBE_BEH(8), PROBE_BEH(40), PROBE_BEH(41), PROBE_BEH(4096), PROBE_BEH(4097),
        PROBE_BEH(1 << 20) };
    enum { NB = sizeof behs / sizeof behs[0] };
    acto_runtime_t *rt = tu_runtime(2);
    acto_ctx_t *root = acto_root(rt);
    probe_t probes[NB];
    acto_pid_t pids[NB];
    for (int round = 0; round < 2; round++) {    /* second round reuses memory */
        memset(probes, 0, sizeof probes);
        for (int i = 0; i < NB; i++) {
            probes[i].size = behs[i].state_size;
            probe_t *pp = &probes[i];
            assert_int_equal(acto_spawn(root, &behs[i], &pp, &pids[i]), 0);
            /* init ran inside acto_spawn, as the new actor */
            assert_int_equal(probes[i].init_calls, 1);
            assert_true(probes[i].self_in_init == pids[i]);
            assert_true(probes[i].state_was_zero);
            assert_int_equal(ACTO_PID_NODE(pids[i]), 0);
            assert_true(ACTO_PID_GEN(pids[i]) >= 1);
            for (int k = 0; k < i; k++)
                assert_true(pids[k] != pids[i]);
        }
        tu_run(rt);
        for (int i = 0; i < NB; i++) {
            assert_int_equal(probes[i].recv_calls, 1);
            assert_true(probes[i].self_in_recv == pids[i]);
            assert_int_equal(probes[i].term_calls, 0);
            assert_int_equal(acto_kill(root, pids[i], 3), 0);   /* exits them */
        }
        tu_run(rt);
        for (int i = 0; i < NB; i++) {
            assert_int_equal(probes[i].term_calls, 1);
            assert_int_equal(probes[i].term_reason, 3);
        }
    }
    acto_stats_t st = tu_stats(rt);
    assert_int_equal(st.spawned, 2 * NB);
    assert_int_equal(st.exited, 2 * NB);
    assert_int_equal(st.live, 0);
    acto_runtime_free(rt);
}

static void test_spawn_init_fails(void **state)
{
    (void)state;
    static const acto_behavior_t beh = PROBE_BEH(64);
    acto_runtime_t *rt = tu_runtime(1);
    acto_ctx_t *root = acto_root(rt);
    probe_t p = { .size = 64, .init_rc = ACTO_ENOMEM };
    probe_t *pp = &p;
    acto_pid_t pid = 12345;
    assert_int_equal(acto_spawn(root, &beh, &pp, &pid), ACTO_ENOMEM);
    assert_true(pid == 12345);                /* not written */
    assert_int_equal(p.init_calls, 1);
    assert_int_equal(p.term_calls, 0);        /* terminate not called */
    acto_pid_t dead = p.self_in_init;
    assert_int_equal(acto_send_empty(root, dead, MSG_GO), ACTO_ENOACTOR);
    tu_run(rt);
    assert_int_equal(p.recv_calls, 0);        /* its self-send was dropped */

    /* init that exits: spawn succeeds, terminate runs, the pid is dead */
    probe_t q = { .size = 64, .init_exits = true };
    probe_t *qp = &q;
    assert_int_equal(acto_spawn(root, &beh, &qp, &pid), 0);
    assert_true(pid == q.self_in_init);
    assert_int_equal(q.term_calls, 1);
    assert_int_equal(q.term_reason, 5);
    assert_int_equal(acto_send_empty(root, pid, MSG_GO), ACTO_ENOACTOR);
    tu_run(rt);
    assert_int_equal(q.recv_calls, 0);
    acto_stats_t st = tu_stats(rt);
    assert_int_equal(st.live, 0);
    acto_runtime_free(rt);
    assert_int_equal(p.term_calls, 0);
    assert_int_equal(q.term_calls, 1);        /* not again at free */
}

static int noop_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)ctx;
    (void)state;
    (void)msg;
    return 0;
}

static void test_spawn_misuse(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(1);
    acto_ctx_t *root = acto_root(rt);
    const acto_behavior_t no_recv = { .name = "x" };
    const acto_behavior_t huge = { .name = "x", .state_size = ((size_t)64 << 20) + 1,
                                   .receive = noop_recv };
    const acto_behavior_t ok = { .name = "x", .receive = noop_recv };
    acto_pid_t pid = 0;
    assert_int_equal(acto_spawn(NULL, &ok, NULL, &pid), ACTO_EINVAL);
    assert_int_equal(acto_spawn(root, NULL, NULL, &pid), ACTO_EINVAL);
    assert_int_equal(acto_spawn(root, &no_recv, NULL, &pid), ACTO_EINVAL);
    assert_int_equal(acto_spawn(root, &huge, NULL, &pid), ACTO_EINVAL);
    assert_true(pid == 0);
    assert_int_equal(acto_spawn(root, &ok, NULL, NULL), 0);   /* pid optional */
    assert_int_equal(tu_stats(rt).spawned, 1);
    acto_runtime_free(rt);
}

/* The slot table is a hard limit: ENOMEM when full, the rest unharmed,
 * and slots freed by exits are used again. */
static int die_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)state;
    (void)msg;
    return acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static void test_slot_limit(void **state)
{
    (void)state;
    acto_config_t cfg;
    acto_config_init(&cfg);
    cfg.workers = 1;
    cfg.max_actors = 128;
    acto_runtime_t *rt;
    assert_int_equal(acto_runtime_new(&rt, &cfg), 0);
    acto_ctx_t *root = acto_root(rt);
    const acto_behavior_t beh = { .name = "d", .receive = die_recv };
    acto_pid_t pids[128], pid;
    unsigned n = 0;
    int rc;
    while ((rc = acto_spawn(root, &beh, NULL, &pid)) == 0 && n < 1000)
        pids[n++ % 128] = pid;
    assert_int_equal(rc, ACTO_ENOMEM);
    assert_true(n > 0 && n <= 128);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(acto_send_empty(root, pids[i], MSG_GO), 0);
    tu_run(rt);
    acto_stats_t st = tu_stats(rt);
    assert_int_equal(st.exited, n);
    assert_int_equal(st.live, 0);
    acto_runtime_free(rt);
}

/* ---- spawning from actors ---------------------------------------------------------- */

typedef struct {
    int depth;
    uint64_t *count;
} tree_arg_t;

typedef struct {
    int depth;
    uint64_t *count;
} tree_t;

static int tree_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    tree_t *t = state;
    const tree_arg_t *a = arg;
    t->depth = a->depth;
    t->count = a->count;
    /* the root of the tree starts itself */
    if (t->depth == 0)
        return acto_send_empty(ctx, acto_self(ctx), MSG_GO);
    return 0;
}

static const acto_behavior_t tree_beh;

static int tree_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)msg;
    tree_t *t = state;
    __atomic_fetch_add(t->count, 1, __ATOMIC_RELAXED);
    if (t->depth >= 12)
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    for (int i = 0; i < 2; i++) {
        tree_arg_t a = { t->depth + 1, t->count };
        acto_pid_t c;
        int rc = acto_spawn(ctx, &tree_beh, &a, &c);
        if (rc == 0)
            rc = acto_send_empty(ctx, c, MSG_GO);
        if (rc)
            return rc;
    }
    return acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static const acto_behavior_t tree_beh = {
    .name = "tree", .state_size = sizeof(tree_t), .init = tree_init, .receive = tree_recv };

static void test_spawn_tree_from_actors(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(2);
    uint64_t count = 0;
    tree_arg_t a = { 0, &count };
    assert_int_equal(acto_spawn(acto_root(rt), &tree_beh, &a, NULL), 0);
    tu_run(rt);
    uint64_t want = (1u << 13) - 1;           /* a full binary tree, depth 12 */
    assert_true(count == want);
    acto_stats_t st = tu_stats(rt);
    assert_true(st.spawned == want);
    assert_true(st.exited == want);
    assert_int_equal(st.dead_letters, 0);
    acto_runtime_free(rt);
}

/* ---- a million actors -------------------------------------------------------------------- */

static uint64_t million_handled;

static int once_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)state;
    (void)msg;
    __atomic_fetch_add(&million_handled, 1, __ATOMIC_RELAXED);
    return acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static const acto_behavior_t once_beh = { .name = "once", .receive = once_recv };

typedef struct {
    uint64_t left;
    int errors;
} spawner_t;

/* Spawns in chunks of 1000 per message, so the workers interleave the
 * spawning with the children's turns. */
static int spawner_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)msg;
    spawner_t *s = arg;
    for (int i = 0; i < 1000 && s->left; i++, s->left--) {
        acto_pid_t c;
        if (acto_spawn(ctx, &once_beh, NULL, &c) != 0 ||
            acto_send_empty(ctx, c, MSG_GO) != 0)
            s->errors++;
    }
    return s->left ? acto_send_empty(ctx, acto_self(ctx), MSG_CHUNK) : 0;
}

static void test_million_spawn_message_exit(void **state)
{
    (void)state;
    uint64_t n = tu_scale(1000000, 100000);
    acto_runtime_t *rt = tu_runtime(2);
    million_handled = 0;
    spawner_t s = { n, 0 };
    acto_pid_t p = tu_spawn_fn(acto_root(rt), spawner_recv, &s);
    uint64_t t0 = tu_now_ns();
    assert_int_equal(acto_send_empty(acto_root(rt), p, MSG_CHUNK), 0);
    tu_run(rt);
    uint64_t t1 = tu_now_ns();
    assert_int_equal(s.errors, 0);
    assert_true(million_handled == n);
    acto_stats_t st = tu_stats(rt);
    assert_true(st.spawned == n + 1);
    assert_true(st.exited == n);
    assert_int_equal(st.live, 1);
    assert_int_equal(st.dead_letters, 0);
    print_message("%llu actors spawned, messaged and exited in %.0f ms\n",
                  (unsigned long long)n, (double)(t1 - t0) / 1e6);
    acto_runtime_free(rt);
}

static uint64_t idle_terminated;

static void idle_terminate(acto_ctx_t *ctx, void *state, int64_t reason)
{
    (void)ctx;
    if (reason == ACTO_EXIT_SHUTDOWN && *(uint32_t *)state == 0)
        idle_terminated++;
}

static const acto_behavior_t idle_beh = {
    .name = "idle", .state_size = 4, .receive = noop_recv, .terminate = idle_terminate };

/* A million actors that never get a message: spawn, run (nothing to do),
 * free terminates every one of them. */
static void test_million_idle_then_free(void **state)
{
    (void)state;
    uint64_t n = tu_scale(1000000, 100000);
    acto_runtime_t *rt = tu_runtime(2);
    acto_ctx_t *root = acto_root(rt);
    acto_pid_t first = 0, last = 0;
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(acto_spawn(root, &idle_beh, NULL, i ? &last : &first), 0);
    tu_run(rt);
    acto_stats_t st = tu_stats(rt);
    assert_true(st.live == n);
    assert_int_equal(st.messages, 0);
    /* the first and the last are still reachable */
    assert_int_equal(acto_send_empty(root, first, MSG_GO), 0);
    assert_int_equal(acto_send_empty(root, last, MSG_GO), 0);
    tu_run(rt);
    assert_int_equal(tu_stats(rt).messages, 2);
    idle_terminated = 0;
    acto_runtime_free(rt);
    assert_true(idle_terminated == n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_init_and_state),
        cmocka_unit_test(test_spawn_init_fails),
        cmocka_unit_test(test_spawn_misuse),
        cmocka_unit_test(test_slot_limit),
        cmocka_unit_test(test_spawn_tree_from_actors),
        cmocka_unit_test(test_million_spawn_message_exit),
        cmocka_unit_test(test_million_idle_then_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
