/* bench/ring.c - a token goes round a ring of actors.
 *
 * R actors in a ring; the token is an i64 counting the hops left.  Each
 * actor passes it on with one less; the one that receives 0 records it.
 *
 *   ring [ACTORS [HOPS]]   prints `ring hops_per_s RATE` (defaults 503, 10000000) */
#include "bench.h"

enum { MSG_TOKEN = 1 };

typedef struct {
    const acto_pid_t *ring;   /* every pid, filled before the first token */
    long index, size;
    int64_t *finished;        /* how many times hop count 0 was seen */
} ring_arg_t;

static int member_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    *(ring_arg_t *)state = *(const ring_arg_t *)arg;
    return 0;
}

static int member_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    const ring_arg_t *r = state;
    int64_t left;
    int rc = acto_msg_i64(msg, &left);
    if (rc)
        return rc;
    if (left == 0) {
        (*r->finished)++;
        return 0;
    }
    return acto_send_i64(ctx, r->ring[(r->index + 1) % r->size], MSG_TOKEN, left - 1);
}

static const acto_behavior_t member = {
    .name = "ring", .state_size = sizeof(ring_arg_t),
    .init = member_init, .receive = member_receive,
};

int main(int argc, char **argv)
{
    long size = argc > 1 ? atol(argv[1]) : 503;
    int64_t hops = argc > 2 ? atoll(argv[2]) : 10000000;
    if (size < 1 || size > 10000000 || hops < 1)
        bench_fail("usage: ring [ACTORS [HOPS]]");
    acto_pid_t *pids = calloc((size_t)size, sizeof *pids);
    if (!pids)
        bench_fail("out of memory");
    int64_t finished = 0;
    acto_runtime_t *rt = bench_runtime();
    for (long i = 0; i < size; i++) {
        ring_arg_t a = { pids, i, size, &finished };
        bench_check(acto_spawn(acto_root(rt), &member, &a, &pids[i]), "spawn");
    }
    /* The first send is hop 1: `hops` messages in all. */
    bench_check(acto_send_i64(acto_root(rt), pids[0], MSG_TOKEN, hops - 1), "token");
    uint64_t t0 = bench_now_ns();
    bench_check(acto_runtime_run(rt), "run");
    uint64_t t1 = bench_now_ns();
    acto_stats_t st;
    acto_runtime_stats(rt, &st);
    acto_runtime_free(rt);
    if (finished != 1 || st.messages != (uint64_t)hops)
        bench_fail("token finished %lld times after %llu hops, expected once after %lld",
                   (long long)finished, (unsigned long long)st.messages, (long long)hops);
    bench_report("ring", "hops_per_s", bench_rate((uint64_t)hops, t1 - t0), 0);
    free(pids);
    return 0;
}
