/* bench/timers.c - arm many one-shot timers due over one second and
 * measure how fast they are armed and how late they fire.
 *
 *   bench_timers [TIMERS] [WORKERS] [WORKLOAD]     default 1000000 1 timers-1m
 *
 * One `armer` actor per worker arms TIMERS / WORKERS timers.  Due times
 * are absolute and spread evenly over one second that starts LEAD_NS after
 * the program starts: arming (≥ 500k/s expected) is over before the first
 * one is due, so lateness measures the wheel and the delivery of 1M
 * messages in a second, not a worker held by the arming loop (a busy actor
 * delays its worker's timers: see bench/RESULTS.md).  Timer i carries its
 * index in its message type.  Each timer gets after = due - t, where t is a
 * clock read taken before its chunk of CHUNK timers, so its real deadline
 * is at or after `due`: a timer that arrives before `due` fired early (a
 * failure), and lateness is overstated by at most one chunk's arming time.
 *
 * Prints `WORKLOAD arm_per_s` (timers / summed arming time of the armers),
 * `late_p50_ms`, `late_p99_ms`, `late_max_ms`.  Fails if a timer fires
 * twice, never, or early.
 */
#include "bench.h"

#define BATCH 1024            /* timers per MSG_ARM message */
#define CHUNK 64              /* timers per clock read */
#define LEAD_NS 2000000000u   /* from start to the first due time */
enum { MSG_ARM = 1, MSG_BASE = 16 };   /* timer i has type MSG_BASE + i */

typedef struct {
    uint64_t first, count;      /* this armer's timers: [first, first + count) */
    uint64_t t0, spread_ns;     /* due times: t0 + LEAD_NS + [0, spread_ns) */
} share_t;

typedef struct {
    share_t sh;
    uint64_t next, fired, arm_ns;
} armer_t;

static uint64_t *due;           /* per timer: when it may fire at the earliest */
static uint32_t *late_us;       /* per timer: how late it fired */
static uint8_t *seen;
static _Atomic uint64_t arm_ns_sum;   /* summed over armers (each adds once, at exit) */

static int armer_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    armer_t *a = state;
    a->sh = *(const share_t *)arg;
    a->next = a->sh.first;
    return acto_send_empty(ctx, acto_self(ctx), MSG_ARM);
}

static int arm_batch(acto_ctx_t *ctx, armer_t *a)
{
    uint64_t end = a->sh.first + a->sh.count, start = bench_now_ns(), t = start;
    uint64_t step = a->sh.spread_ns / a->sh.count, base = a->sh.t0 + LEAD_NS;
    uint64_t stop = a->next + BATCH < end ? a->next + BATCH : end;
    for (; a->next < stop; a->next++) {
        if ((a->next - a->sh.first) % CHUNK == 0)
            t = bench_now_ns();
        due[a->next] = base + (a->next - a->sh.first) * step;
        uint64_t after = due[a->next] > t ? due[a->next] - t : 0;
        int rc = acto_timer_start(ctx, after, 0, (uint32_t)(MSG_BASE + a->next), NULL);
        if (rc)
            return rc;
    }
    a->arm_ns += bench_now_ns() - start;
    return a->next < end ? acto_send_empty(ctx, acto_self(ctx), MSG_ARM) : 0;
}

static int armer_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    armer_t *a = state;
    uint32_t type = acto_msg_type(msg);
    if (type == MSG_ARM)
        return arm_batch(ctx, a);
    if (type < MSG_BASE)
        return 0;
    uint64_t now = bench_now_ns(), i = type - MSG_BASE;
    if (i < a->sh.first || i >= a->sh.first + a->sh.count || seen[i])
        bench_fail("timer %llu fired twice or at the wrong actor", (unsigned long long)i);
    if (now < due[i])
        bench_fail("timer %llu fired %llu ns early", (unsigned long long)i,
                   (unsigned long long)(due[i] - now));
    seen[i] = 1;
    uint64_t us = (now - due[i]) / 1000;
    late_us[i] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    if (++a->fired == a->sh.count) {
        arm_ns_sum += a->arm_ns;
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    }
    return 0;
}

static const acto_behavior_t armer = {
    .name = "armer", .state_size = sizeof(armer_t),
    .init = armer_init, .receive = armer_receive,
};

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    unsigned workers = argc > 2 ? (unsigned)atoi(argv[2]) : 1;
    const char *name = argc > 3 ? argv[3] : "timers-1m";
    if (n == 0 || n > 0xFFFF0000u - MSG_BASE || workers == 0 || workers > 64) {
        fprintf(stderr, "usage: bench_timers [TIMERS] [WORKERS] [WORKLOAD]\n");
        return 2;
    }
    due = calloc(n, sizeof *due);
    late_us = calloc(n, sizeof *late_us);
    seen = calloc(n, 1);
    if (!due || !late_us || !seen)
        bench_fail("out of memory");

    acto_config_t cfg;
    acto_config_init(&cfg);
    cfg.workers = workers;
    acto_runtime_t *rt;
    bench_check(acto_runtime_new(&rt, &cfg), "acto_runtime_new");
    share_t shares[64];
    uint64_t t0 = bench_now_ns();
    for (unsigned w = 0; w < workers; w++) {
        shares[w].first = n * w / workers;
        shares[w].count = n * (w + 1) / workers - shares[w].first;
        shares[w].t0 = t0;
        shares[w].spread_ns = 1000000000u;
        if (shares[w].count)
            bench_check(acto_spawn(acto_root(rt), &armer, &shares[w], NULL), "spawn");
    }
    bench_check(acto_runtime_run(rt), "run");   /* returns when every timer fired */
    acto_runtime_free(rt);

    for (uint64_t i = 0; i < n; i++)
        if (!seen[i])
            bench_fail("timer %llu never fired", (unsigned long long)i);
    qsort(late_us, n, sizeof *late_us, cmp_u32);
    bench_report(name, "arm_per_s", bench_rate(n, arm_ns_sum), 0);
    bench_report(name, "late_p50_ms", late_us[(n - 1) / 2] / 1000.0, 3);
    bench_report(name, "late_p99_ms", late_us[(n * 99 - 1) / 100] / 1000.0, 3);
    bench_report(name, "late_max_ms", late_us[n - 1] / 1000.0, 3);
    free(due);
    free(late_us);
    free(seen);
    return 0;
}
