/* bench/pubsub_local.c - in-process pub/sub fan-out (acto/pubsub.h).
 *
 * One publisher actor publishes N messages of 16 bytes (a sequence number
 * and filler) on one subject; S subscriber actors subscribed to it each
 * receive all N and check the sequence: nothing lost, duplicated or out of
 * order.  Every delivery of one publish shares one body.
 *
 * Flow control, as in fanin: each subscriber sends the publisher a CREDIT
 * (how many it has counted) every WINDOW/2 messages, and the publisher
 * keeps at most WINDOW publishes ahead of the slowest subscriber, so the
 * mailboxes stay bounded.
 *
 *   pubsub_local [SUBSCRIBERS [N [WINDOW]]]
 *       prints `pubsub-local deliveries_per_s RATE`, `pubsub-local
 *       publishes_per_s RATE` and `pubsub-local cpu_ns_per_delivery NS`
 *       (process CPU time, all threads: steadier than the rate on a
 *       shared machine) (defaults 10, 1000000, 4096) */
#include "bench.h"   /* first: it sets _POSIX_C_SOURCE */

#include <string.h>
#include <sys/resource.h>

enum { MSG_GO = 1, MSG_CREDIT, MSG_DELIVERY };
#define MAX_SUBS 256
#define PAYLOAD 16

typedef struct {
    acto_pubsub_t *ps;
    int64_t n, window;
    long nsubs;
} setup_t;

typedef struct {
    setup_t s;
    int64_t sent;
    int64_t counted[MAX_SUBS];         /* per subscriber index */
} publisher_t;

typedef struct {
    acto_pubsub_t *ps;
    acto_pid_t publisher;
    long index;
    int64_t window;
    uint64_t count, bad;               /* read by main after run */
} subscriber_t;

static int64_t slowest(const publisher_t *p)
{
    int64_t m = p->counted[0];
    for (long i = 1; i < p->s.nsubs; i++)
        if (p->counted[i] < m)
            m = p->counted[i];
    return m;
}

static int publisher_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    publisher_t *p = state;
    p->s = *(const setup_t *)arg;
    return 0;
}

static int publisher_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    publisher_t *p = state;
    if (acto_msg_type(msg) == MSG_CREDIT) {
        int64_t v[2];
        int rc = acto_msg_scan(ctx, msg, "[ii]", &v[0], &v[1]);
        if (rc)
            return rc;
        if (v[0] < 0 || v[0] >= p->s.nsubs)
            return ACTO_EINVAL;
        p->counted[v[0]] = v[1];
    }
    int64_t limit = slowest(p) + p->s.window;
    if (limit > p->s.n)
        limit = p->s.n;
    uint8_t payload[PAYLOAD];
    memset(payload, 0xab, sizeof payload);
    for (; p->sent < limit; p->sent++) {
        memcpy(payload, &p->sent, sizeof p->sent);
        int rc = acto_publish(ctx, p->s.ps, "bench.local.fanout", payload, sizeof payload);
        if (rc)
            return rc;
    }
    return 0;
}

static const acto_behavior_t publisher = {
    .name = "publisher", .state_size = sizeof(publisher_t),
    .init = publisher_init, .receive = publisher_receive,
};

static int subscriber_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    subscriber_t *s = (subscriber_t *)arg;
    *(subscriber_t **)state = s;
    return acto_subscribe(ctx, s->ps, "bench.local.fanout", NULL, MSG_DELIVERY, NULL);
}

static int subscriber_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    subscriber_t *s = *(subscriber_t **)state;
    acto_pubsub_msg_t m;
    int64_t seq;
    if (acto_pubsub_read(msg, &m) || m.len != PAYLOAD) {
        s->bad++;
        return 0;
    }
    memcpy(&seq, m.payload, sizeof seq);
    if ((uint64_t)seq != s->count)
        s->bad++;
    s->count++;
    if (s->count % (uint64_t)(s->window / 2) == 0)
        return acto_send_fmt(ctx, s->publisher, MSG_CREDIT, "[ii]", (int64_t)s->index,
                             (int64_t)s->count);
    return 0;
}

static const acto_behavior_t subscriber = {
    .name = "subscriber", .state_size = sizeof(subscriber_t *),
    .init = subscriber_init, .receive = subscriber_receive,
};

static uint64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

int main(int argc, char **argv)
{
    long ns = argc > 1 ? atol(argv[1]) : 10;
    int64_t n = argc > 2 ? atoll(argv[2]) : 1000000;
    int64_t window = argc > 3 ? atoll(argv[3]) : 4096;
    if (ns < 1 || ns > MAX_SUBS || n < 1 || window < 2)
        bench_fail("usage: pubsub_local [SUBSCRIBERS (1..%d) [N [WINDOW (>= 2)]]]", MAX_SUBS);
    subscriber_t *subs = calloc((size_t)ns, sizeof *subs);
    if (!subs)
        bench_fail("out of memory");
    acto_runtime_t *rt = bench_runtime();
    acto_ctx_t *root = acto_root(rt);
    setup_t s = { NULL, n, window, ns };
    bench_check(acto_pubsub_new(root, 0, &s.ps), "acto_pubsub_new");
    acto_pid_t pub;
    bench_check(acto_spawn(root, &publisher, &s, &pub), "spawn publisher");
    for (long i = 0; i < ns; i++) {
        subs[i] = (subscriber_t){ .ps = s.ps, .publisher = pub, .index = i, .window = window };
        bench_check(acto_spawn(root, &subscriber, &subs[i], NULL), "spawn subscriber");
    }
    bench_check(acto_send_empty(root, pub, MSG_GO), "go");
    uint64_t c0 = cpu_ns(), t0 = bench_now_ns();
    bench_check(acto_runtime_run(rt), "run");
    uint64_t t1 = bench_now_ns(), c1 = cpu_ns();
    acto_pubsub_free(root, s.ps);
    acto_runtime_free(rt);
    for (long i = 0; i < ns; i++)
        if (subs[i].count != (uint64_t)n || subs[i].bad)
            bench_fail("subscriber %ld got %llu of %lld (%llu bad)", i,
                       (unsigned long long)subs[i].count, (long long)n,
                       (unsigned long long)subs[i].bad);
    bench_report("pubsub-local", "deliveries_per_s", bench_rate((uint64_t)n * (uint64_t)ns, t1 - t0), 0);
    bench_report("pubsub-local", "publishes_per_s", bench_rate((uint64_t)n, t1 - t0), 0);
    bench_report("pubsub-local", "cpu_ns_per_delivery", (double)(c1 - c0) / ((double)n * (double)ns), 1);
    free(subs);
    return 0;
}
