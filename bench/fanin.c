/* bench/fanin.c - several producers flood one consumer.
 *
 * Each producer sends N i64 messages (0..N-1) to one counting consumer.
 * The consumer checks the count and the sum: nothing lost, nothing twice.
 *
 * Flow control, as the Go peer's 1,024-slot channel: a producer may have
 * at most WINDOW messages that the consumer has not yet counted.  The
 * consumer sends each producer a CREDIT (how many of its messages it has
 * counted) every WINDOW/2 of them, and the producer sends up to the new
 * limit.  WINDOW 0 means no flow control: the producer sends CHUNK messages
 * per turn and then NEXT to itself, as fast as it can, and the consumer's
 * mailbox grows as it will.
 *
 *   fanin [PRODUCERS [N [WINDOW]]]   prints `fanin msgs_per_s RATE`
 *                                    (defaults 2, 5000000, 1024) */
#include "bench.h"

enum { MSG_GO = 1, MSG_NEXT, MSG_ITEM, MSG_CREDIT };
#define CHUNK 1024
#define MAX_PRODUCERS 1024

typedef struct { acto_pid_t consumer; int64_t n, window; } setup_t;
typedef struct { setup_t s; int64_t sent, limit; } producer_t;

/* The consumer's tally, read by main after run. */
typedef struct {
    uint64_t count, sum;
    int64_t window;
    long nprod;
    acto_pid_t pid[MAX_PRODUCERS];     /* producers seen, in order of first message */
    int64_t got[MAX_PRODUCERS];        /* messages counted per producer */
    int64_t until_credit[MAX_PRODUCERS];  /* its messages before the next CREDIT */
} tally_t;

static int producer_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    producer_t *p = state;
    p->s = *(const setup_t *)arg;
    p->limit = p->s.window ? p->s.window : p->s.n;
    return 0;
}

/* Send up to `limit` (and at most CHUNK more when unbounded). */
static int producer_send(acto_ctx_t *ctx, producer_t *p)
{
    int64_t end = p->limit < p->s.n ? p->limit : p->s.n;
    if (!p->s.window && end > p->sent + CHUNK)
        end = p->sent + CHUNK;
    for (; p->sent < end; p->sent++) {
        int rc = acto_send_i64(ctx, p->s.consumer, MSG_ITEM, p->sent);
        if (rc)
            return rc;
    }
    if (p->sent == p->s.n)
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    if (!p->s.window)
        return acto_send_empty(ctx, acto_self(ctx), MSG_NEXT);
    return 0;   /* wait for credit */
}

static int producer_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    producer_t *p = state;
    if (acto_msg_type(msg) == MSG_CREDIT) {
        int64_t counted;
        int rc = acto_msg_i64(msg, &counted);
        if (rc)
            return rc;
        if (counted + p->s.window > p->limit)
            p->limit = counted + p->s.window;
    }
    return producer_send(ctx, p);   /* GO, NEXT, CREDIT */
}

static const acto_behavior_t producer = {
    .name = "producer", .state_size = sizeof(producer_t),
    .init = producer_init, .receive = producer_receive,
};

static int consumer_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    *(tally_t **)state = (tally_t *)arg;
    return 0;
}

static int consumer_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    tally_t *t = *(tally_t **)state;
    int64_t v;
    int rc = acto_msg_i64(msg, &v);
    if (rc)
        return rc;
    t->count++;
    t->sum += (uint64_t)v;
    if (!t->window)
        return 0;
    acto_pid_t from = acto_msg_from(msg);
    long i = 0;
    while (i < t->nprod && t->pid[i] != from)
        i++;
    if (i == t->nprod) {
        if (t->nprod == MAX_PRODUCERS)
            return ACTO_ELIMIT;
        t->until_credit[t->nprod] = t->window / 2 ? t->window / 2 : 1;
        t->pid[t->nprod++] = from;
    }
    t->got[i]++;
    if (--t->until_credit[i] <= 0) {   /* every WINDOW/2 of its messages */
        t->until_credit[i] = t->window / 2 ? t->window / 2 : 1;
        rc = acto_send_i64(ctx, from, MSG_CREDIT, t->got[i]);
        if (rc == ACTO_ENOACTOR)
            rc = 0;   /* that producer has sent all and exited */
    }
    return rc;
}

static const acto_behavior_t consumer = {
    .name = "consumer", .state_size = sizeof(tally_t *),
    .init = consumer_init, .receive = consumer_receive,
};

int main(int argc, char **argv)
{
    long np = argc > 1 ? atol(argv[1]) : 2;
    int64_t n = argc > 2 ? atoll(argv[2]) : 5000000;
    int64_t window = argc > 3 ? atoll(argv[3]) : 1024;
    if (np < 1 || np > MAX_PRODUCERS || n < 1 || window < 0)
        bench_fail("usage: fanin [PRODUCERS (1..%d) [N [WINDOW]]]", MAX_PRODUCERS);
    tally_t *tally = calloc(1, sizeof *tally);
    if (!tally)
        bench_fail("out of memory");
    tally->window = window;
    acto_runtime_t *rt = bench_runtime();
    acto_ctx_t *root = acto_root(rt);
    setup_t s = { ACTO_PID_NONE, n, window };
    bench_check(acto_spawn(root, &consumer, tally, &s.consumer), "spawn consumer");
    for (long i = 0; i < np; i++) {
        acto_pid_t p;
        bench_check(acto_spawn(root, &producer, &s, &p), "spawn producer");
        bench_check(acto_send_empty(root, p, MSG_GO), "go");
    }
    uint64_t t0 = bench_now_ns();
    bench_check(acto_runtime_run(rt), "run");
    uint64_t t1 = bench_now_ns();
    acto_runtime_free(rt);
    uint64_t total = (uint64_t)np * (uint64_t)n;
    uint64_t sum = (uint64_t)np * ((uint64_t)n * (uint64_t)(n - 1) / 2);
    if (tally->count != total || tally->sum != sum)
        bench_fail("consumer got %llu messages (sum %llu), expected %llu (sum %llu)",
                   (unsigned long long)tally->count, (unsigned long long)tally->sum,
                   (unsigned long long)total, (unsigned long long)sum);
    for (long i = 0; i < tally->nprod; i++)
        if (tally->got[i] != n)
            bench_fail("producer %ld delivered %lld, expected %lld", i,
                       (long long)tally->got[i], (long long)n);
    bench_report("fanin", "msgs_per_s", bench_rate(total, t1 - t0), 0);
    free(tally);
    return 0;
}
