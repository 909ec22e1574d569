/* bench/skynet.c - the skynet benchmark: a 10-ary tree of actors.
 *
 * The root spawns 10 children, each of those 10 more, down to 1,000,000
 * leaves (1,111,111 actors in all).  Leaf number i replies i to its parent;
 * parents sum their children's answers and reply in turn; every actor exits
 * after replying.  The sum must be 999999 * 1000000 / 2 = 499999500000.
 *
 *   skynet [LEAVES]    prints `skynet wall_ms MS`
 *
 * A leaf replies from init, so it is never scheduled; an inner node sends
 * itself GO from init so that it spawns its children on a worker (and the
 * subtrees spread over the workers by stealing). */
#include "bench.h"

enum { MSG_GO = 1, MSG_SUM };

typedef struct {
    acto_pid_t parent;   /* ACTO_PID_NONE for the root */
    int64_t num, size;   /* first leaf number under this node, leaves under it */
} node_arg_t;

typedef struct {
    node_arg_t a;
    int64_t sum;
    int pending;         /* answers still expected from children */
} node_t;

static int64_t g_result = -1;

static int reply_sum(acto_ctx_t *ctx, const node_t *n, int64_t sum)
{
    if (n->a.parent == ACTO_PID_NONE)
        g_result = sum;  /* the root: main reads it after run returns */
    else {
        int rc = acto_send_i64(ctx, n->a.parent, MSG_SUM, sum);
        if (rc)
            return rc;
    }
    return acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static int node_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    node_t *n = state;
    n->a = *(const node_arg_t *)arg;
    if (n->a.size == 1)
        return reply_sum(ctx, n, n->a.num);
    return acto_send_empty(ctx, acto_self(ctx), MSG_GO);
}

static const acto_behavior_t node;

static int node_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    node_t *n = state;
    if (acto_msg_type(msg) == MSG_GO) {
        int64_t step = n->a.size / 10;
        for (int i = 0; i < 10; i++) {
            node_arg_t c = { acto_self(ctx), n->a.num + i * step, step };
            int rc = acto_spawn(ctx, &node, &c, NULL);
            if (rc)
                return rc;
        }
        n->pending = 10;
        return 0;
    }
    int64_t v;
    int rc = acto_msg_i64(msg, &v);
    if (rc)
        return rc;
    n->sum += v;
    return --n->pending == 0 ? reply_sum(ctx, n, n->sum) : 0;
}

static const acto_behavior_t node = {
    .name = "skynet", .state_size = sizeof(node_t),
    .init = node_init, .receive = node_receive,
};

int main(int argc, char **argv)
{
    int64_t leaves = argc > 1 ? atoll(argv[1]) : 1000000;
    int64_t check = 1;
    while (check < leaves)
        check *= 10;
    if (leaves < 10 || check != leaves)
        bench_fail("usage: skynet [LEAVES: a power of 10, >= 10]");
    acto_runtime_t *rt = bench_runtime();
    uint64_t t0 = bench_now_ns();
    node_arg_t root = { ACTO_PID_NONE, 0, leaves };
    bench_check(acto_spawn(acto_root(rt), &node, &root, NULL), "spawn");
    bench_check(acto_runtime_run(rt), "run");
    uint64_t t1 = bench_now_ns();
    acto_stats_t st;
    acto_runtime_stats(rt, &st);
    acto_runtime_free(rt);
    int64_t expect = leaves * (leaves - 1) / 2;
    if (g_result != expect)
        bench_fail("skynet sum %lld, expected %lld (%llu spawned, %llu exited, %llu messages, "
                   "%llu dead letters)", (long long)g_result, (long long)expect,
                   (unsigned long long)st.spawned, (unsigned long long)st.exited,
                   (unsigned long long)st.messages, (unsigned long long)st.dead_letters);
    if (st.spawned != (uint64_t)(leaves + (leaves - 1) / 9))
        bench_fail("skynet spawned %llu actors", (unsigned long long)st.spawned);
    bench_report("skynet", "wall_ms", (double)(t1 - t0) / 1e6, 1);
    return 0;
}
