/* tests/test_spawn_churn.c - actors spawned and exiting on every worker at
 * once (a small skynet): every spawn must give a working pid.
 *
 * Regression: slot_alloc once raced another context for the slot depot and,
 * losing, carved the "slot" from the message arena, so the new actor's pid
 * named a slot beyond the table and even its sends to itself failed with
 * ACTO_ENOACTOR.  Slots recycled through the depot by two workers at once
 * are what this exercises. */
#include <pthread.h>
#include <string.h>

#include "testutil.h"
#include "internal.h"

enum { MSG_GO = 1, MSG_SUM };

typedef struct {
    acto_pid_t parent;      /* ACTO_PID_NONE for the root */
    int64_t num, size;      /* first leaf number under this node, leaf count */
} node_arg_t;

typedef struct {
    node_arg_t a;
    int64_t sum;
    int pending;
} node_t;

static int64_t g_result;
static int g_failures;      /* callbacks that saw an error; written by workers */

static int note(int rc)
{
    if (rc)
        __atomic_fetch_add(&g_failures, 1, __ATOMIC_RELAXED);
    return rc;
}

static int reply(acto_ctx_t *ctx, const node_t *n, int64_t sum)
{
    if (n->a.parent == ACTO_PID_NONE)
        g_result = sum;
    else if (note(acto_send_i64(ctx, n->a.parent, MSG_SUM, sum)))
        return ACTO_ENOACTOR;
    return acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static int node_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    node_t *n = state;
    n->a = *(const node_arg_t *)arg;
    if (n->a.size == 1)
        return reply(ctx, n, n->a.num);
    return note(acto_send_empty(ctx, acto_self(ctx), MSG_GO));   /* the regression */
}

static const acto_behavior_t node_beh;

static int node_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    node_t *n = state;
    if (acto_msg_type(msg) == MSG_GO) {
        int64_t step = n->a.size / 10;
        for (int i = 0; i < 10; i++) {
            node_arg_t c = { acto_self(ctx), n->a.num + i * step, step };
            if (note(acto_spawn(ctx, &node_beh, &c, NULL)))
                return ACTO_ENOACTOR;
        }
        n->pending = 10;
        return 0;
    }
    int64_t v;
    if (note(acto_msg_i64(msg, &v)))
        return ACTO_ETYPE;
    n->sum += v;
    return --n->pending == 0 ? reply(ctx, n, n->sum) : 0;
}

static const acto_behavior_t node_beh = {
    .name = "node", .state_size = sizeof(node_t),
    .init = node_init, .receive = node_receive,
};

static void test_tree_of_spawns(void **state)
{
    (void)state;
    const int64_t leaves = 10000, actors = leaves + (leaves - 1) / 9;
    acto_runtime_t *rt = tu_runtime(2);
    /* Several trees in one runtime: the later ones recycle the slots
     * (through the depot) that the earlier ones freed. */
    for (int round = 0; round < 12; round++) {
        g_result = -1;
        g_failures = 0;
        node_arg_t root = { ACTO_PID_NONE, 0, leaves };
        assert_int_equal(acto_spawn(acto_root(rt), &node_beh, &root, NULL), 0);
        assert_int_equal(acto_runtime_run(rt), 0);
        assert_int_equal(g_failures, 0);
        assert_true(g_result == leaves * (leaves - 1) / 2);
    }
    acto_stats_t st;
    assert_int_equal(acto_runtime_stats(rt, &st), 0);
    assert_true(st.spawned == (uint64_t)(12 * actors));
    assert_true(st.exited == st.spawned);
    assert_true(st.dead_letters == 0);
    acto_runtime_free(rt);
}

/* White-box: two contexts recycle slots through the depot as fast as they
 * can; every slot handed out must be a slot of the table. */
#define CHURN_N 700
#define CHURN_ROUNDS 2000

typedef struct { acto_runtime_t *rt; int bad; } churn_t;

static void *churn_thread(void *arg)
{
    churn_t *c = arg;
    acto_ctx_t *ctx;
    if (acto_thread_attach(c->rt, &ctx) != 0) {
        c->bad++;
        return NULL;
    }
    acto_actor_t *v[CHURN_N];
    for (int r = 0; r < CHURN_ROUNDS; r++) {
        for (int i = 0; i < CHURN_N; i++) {
            uint32_t idx = UINT32_MAX;
            v[i] = slot_alloc(ctx, &idx);
            if (!v[i] || idx >= c->rt->max_slots || slot_at(c->rt, idx) != v[i]) {
                c->bad++;
                v[i] = NULL;   /* not a slot: never hand it back */
            }
        }
        for (int i = 0; i < CHURN_N; i++)
            if (v[i])
                slot_free(ctx, v[i]);   /* spills chains to the depot */
    }
    acto_thread_detach(ctx);
    return NULL;
}

static void test_slot_depot_race(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(1);
    churn_t c[2] = { { rt, 0 }, { rt, 0 } };
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, churn_thread, &c[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(c[0].bad + c[1].bad, 0);
    acto_runtime_free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slot_depot_race),
        cmocka_unit_test(test_tree_of_spawns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
