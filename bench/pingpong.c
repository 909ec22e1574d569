/* bench/pingpong.c - P pairs of actors bounce a ball.
 *
 * Each pair exchanges M one-way messages (M/2 round trips); the ball is
 * an i64 counting down, so every message is read and checked.
 *
 *   pingpong PAIRS MSGS_PER_PAIR   prints `pingpong<PAIRS> msgs_per_s RATE`
 *
 * The workloads of bench/run.sh: pingpong 1 1000000 and pingpong 64 50000. */
#include "bench.h"

enum { MSG_SERVE = 1, MSG_BALL };

typedef struct {
    acto_pid_t peer;
    int64_t *done;       /* this pair's slot in the results array */
} player_t;

static int player_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    ((player_t *)state)->done = (int64_t *)arg;
    return 0;
}

static int player_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    player_t *p = state;
    int64_t left;
    int rc;
    if (acto_msg_type(msg) == MSG_SERVE) {   /* [peer, messages] */
        rc = acto_msg_scan(ctx, msg, "[pi]", &p->peer, &left);
        return rc ? rc : acto_send_i64(ctx, p->peer, MSG_BALL, left - 1);
    }
    if ((rc = acto_msg_i64(msg, &left)) != 0)
        return rc;
    if (left == 0) {                 /* the last message of this pair */
        (*p->done)++;
        return 0;
    }
    return acto_reply_i64(ctx, msg, MSG_BALL, left - 1);
}

static const acto_behavior_t player = {
    .name = "player", .state_size = sizeof(player_t),
    .init = player_init, .receive = player_receive,
};

int main(int argc, char **argv)
{
    long pairs = argc > 1 ? atol(argv[1]) : 1;
    int64_t msgs = argc > 2 ? atoll(argv[2]) : 1000000;
    if (pairs < 1 || pairs > 1000000 || msgs < 1)
        bench_fail("usage: pingpong [PAIRS [MSGS_PER_PAIR]]");
    int64_t *done = calloc((size_t)pairs, sizeof *done);
    acto_pid_t *ping = calloc((size_t)pairs, sizeof *ping);
    acto_pid_t *pong = calloc((size_t)pairs, sizeof *pong);
    if (!done || !ping || !pong)
        bench_fail("out of memory");
    acto_runtime_t *rt = bench_runtime();
    acto_ctx_t *root = acto_root(rt);
    for (long i = 0; i < pairs; i++) {
        bench_check(acto_spawn(root, &player, &done[i], &ping[i]), "spawn");
        bench_check(acto_spawn(root, &player, &done[i], &pong[i]), "spawn");
    }
    /* The serve tells ping its peer; ping's first ball is message 1 of M. */
    for (long i = 0; i < pairs; i++)
        bench_check(acto_send_fmt(root, ping[i], MSG_SERVE, "[pi]", pong[i], msgs), "serve");
    uint64_t t0 = bench_now_ns();
    bench_check(acto_runtime_run(rt), "run");
    uint64_t t1 = bench_now_ns();
    acto_stats_t st;
    acto_runtime_stats(rt, &st);
    acto_runtime_free(rt);
    for (long i = 0; i < pairs; i++)
        if (done[i] != 1)
            bench_fail("pair %ld finished %lld times", i, (long long)done[i]);
    /* receive calls: M balls plus one serve per pair */
    if (st.messages != (uint64_t)(pairs * (msgs + 1)))
        bench_fail("%llu messages handled, expected %lld", (unsigned long long)st.messages,
                   (long long)(pairs * (msgs + 1)));
    char name[32];
    snprintf(name, sizeof name, "pingpong%ld", pairs);
    bench_report(name, "msgs_per_s", bench_rate((uint64_t)(pairs * msgs), t1 - t0), 0);
    free(done);
    free(ping);
    free(pong);
    return 0;
}
