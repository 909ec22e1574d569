/* bench/spawn.c - spawn a million idle actors, then wake each once.
 *
 * A spawner actor spawns N actors that do nothing until their one message
 * arrives (spawn_per_s over the spawn loop; bytes_per_actor is the growth
 * of the resident set over that loop divided by N, from /proc/self/statm).
 * It then sends one message to each; each answers DONE and exits, and the
 * spawner checks that all N answered.
 *
 *   spawn [N]   prints `spawn spawn_per_s RATE` and `spawn bytes_per_actor B` */
#include "bench.h"

enum { MSG_GO = 1, MSG_POKE, MSG_DONE };

typedef struct {
    int64_t n;
    acto_pid_t *pids;    /* allocated and touched before the RSS baseline */
    uint64_t spawn_ns, rss_growth;
    int64_t done;
} job_t;

static int idle_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)state;
    int rc = acto_reply_empty(ctx, msg, MSG_DONE);
    return rc ? rc : acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static const acto_behavior_t idle_actor = { .name = "idle", .receive = idle_receive };

static int spawner_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    *(job_t **)state = (job_t *)arg;
    return 0;
}

static int spawner_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    job_t *j = *(job_t **)state;
    if (acto_msg_type(msg) == MSG_DONE) {
        j->done++;
        return 0;
    }
    uint64_t rss0 = bench_rss_bytes(), t0 = bench_now_ns();
    for (int64_t i = 0; i < j->n; i++) {
        int rc = acto_spawn(ctx, &idle_actor, NULL, &j->pids[i]);
        if (rc)
            return rc;
    }
    uint64_t t1 = bench_now_ns(), rss1 = bench_rss_bytes();
    j->spawn_ns = t1 - t0;
    j->rss_growth = rss1 > rss0 ? rss1 - rss0 : 0;
    for (int64_t i = 0; i < j->n; i++) {
        int rc = acto_send_empty(ctx, j->pids[i], MSG_POKE);
        if (rc)
            return rc;
    }
    return 0;
}

static const acto_behavior_t spawner = {
    .name = "spawner", .state_size = sizeof(job_t *),
    .init = spawner_init, .receive = spawner_receive,
};

int main(int argc, char **argv)
{
    job_t j = { .n = argc > 1 ? atoll(argv[1]) : 1000000 };
    if (j.n < 1 || j.n > 100000000)
        bench_fail("usage: spawn [N]");
    j.pids = calloc((size_t)j.n, sizeof *j.pids);
    if (!j.pids)
        bench_fail("out of memory");
    for (int64_t i = 0; i < j.n; i++)   /* touch it now, outside the measurement */
        j.pids[i] = ACTO_PID_NONE;
    acto_runtime_t *rt = bench_runtime();
    acto_pid_t sp;
    bench_check(acto_spawn(acto_root(rt), &spawner, &j, &sp), "spawn spawner");
    bench_check(acto_send_empty(acto_root(rt), sp, MSG_GO), "go");
    bench_check(acto_runtime_run(rt), "run");
    acto_stats_t st;
    acto_runtime_stats(rt, &st);
    acto_runtime_free(rt);
    if (j.done != j.n || st.exited != (uint64_t)j.n)
        bench_fail("%lld of %lld actors answered, %llu exited", (long long)j.done,
                   (long long)j.n, (unsigned long long)st.exited);
    bench_report("spawn", "spawn_per_s", bench_rate((uint64_t)j.n, j.spawn_ns), 0);
    bench_report("spawn", "bytes_per_actor", (double)j.rss_growth / (double)j.n, 1);
    free(j.pids);
    return 0;
}
