/* tests/trace_pubsub_prog.c - a small in-process pub/sub program for
 * tests/trace_pubsub.py to record (ACTO_TRACE) and look at with acto-trace.
 *
 *   trace_pubsub_prog [K]        (K publishes per market subject, default 20)
 *
 * Three subscribers subscribe in init and tell the publisher they are
 * ready: "eu" to market.eu.x, "star" to market.*.x, "all" to market.>.
 * Once all three are ready the publisher publishes K times on market.eu.x
 * (fan-out 3), K times on market.us.x (fan-out 2) and once on news.y
 * (nobody).  Prints each subscriber's count; exit status 1 if any differs
 * from what the subscriptions promise. */
#include <stdio.h>
#include <stdlib.h>

#include <acto/acto.h>

enum { MSG_READY = 1, MSG_DELIVERY = 10 };
#define NSUBS 3

typedef struct { acto_pubsub_t *ps; int64_t k; } pub_arg_t;
typedef struct { pub_arg_t a; int ready; } pub_t;

typedef struct { acto_pubsub_t *ps; acto_pid_t publisher; const char *pattern; int64_t *count; } sub_arg_t;
typedef struct { int64_t *count; } sub_t;

static int pub_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    ((pub_t *)state)->a = *(const pub_arg_t *)arg;
    return 0;
}

static int pub_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    pub_t *p = state;
    if (acto_msg_type(msg) != MSG_READY || ++p->ready < NSUBS)
        return 0;
    int rc = 0;
    for (int64_t i = 0; i < p->a.k && !rc; i++) {
        rc = acto_publish(ctx, p->a.ps, "market.eu.x", "e", 1);
        if (!rc)
            rc = acto_publish(ctx, p->a.ps, "market.us.x", "u", 1);
    }
    return rc ? rc : acto_publish(ctx, p->a.ps, "news.y", "n", 1);
}

static int sub_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    const sub_arg_t *a = arg;
    ((sub_t *)state)->count = a->count;
    int rc = acto_subscribe(ctx, a->ps, a->pattern, NULL, MSG_DELIVERY, NULL);
    return rc ? rc : acto_send_empty(ctx, a->publisher, MSG_READY);
}

static int sub_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)ctx;
    acto_pubsub_msg_t m;
    if (acto_msg_type(msg) == MSG_DELIVERY && acto_pubsub_read(msg, &m) == 0)
        ++*((sub_t *)state)->count;
    return 0;
}

static const acto_behavior_t publisher = {
    .name = "publisher", .state_size = sizeof(pub_t), .init = pub_init, .receive = pub_receive };
static const acto_behavior_t subscriber = {
    .name = "subscriber", .state_size = sizeof(sub_t), .init = sub_init, .receive = sub_receive };

int main(int argc, char **argv)
{
    int64_t k = argc > 1 ? atoll(argv[1]) : 20;
    if (k < 1 || k > 1000000) {
        fprintf(stderr, "usage: trace_pubsub_prog [K: 1..1000000]\n");
        return 2;
    }
    acto_runtime_t *rt;
    acto_pubsub_t *ps = NULL;
    acto_pid_t pp;
    int64_t count[NSUBS] = { 0 };
    const char *pattern[NSUBS] = { "market.eu.x", "market.*.x", "market.>" };
    const int64_t want[NSUBS] = { k, 2 * k, 2 * k };
    int rc = acto_runtime_new(&rt, NULL);
    if (rc) {
        fprintf(stderr, "acto_runtime_new: %s\n", acto_strerror(rc));
        return 1;
    }
    pub_arg_t pa = { .k = k };
    rc = acto_pubsub_new(acto_root(rt), 1, &ps);
    pa.ps = ps;
    if (!rc)
        rc = acto_spawn(acto_root(rt), &publisher, &pa, &pp);
    for (int i = 0; i < NSUBS && !rc; i++) {
        sub_arg_t sa = { ps, pp, pattern[i], &count[i] };
        rc = acto_spawn(acto_root(rt), &subscriber, &sa, NULL);
    }
    if (!rc)
        rc = acto_runtime_run(rt);
    if (ps)
        acto_pubsub_free(acto_root(rt), ps);
    acto_runtime_free(rt);
    if (rc) {
        fprintf(stderr, "trace_pubsub_prog: %s\n", acto_strerror(rc));
        return 1;
    }
    printf("deliveries eu=%lld star=%lld all=%lld\n", (long long)count[0], (long long)count[1],
           (long long)count[2]);
    for (int i = 0; i < NSUBS; i++)
        if (count[i] != want[i])
            return 1;
    return 0;
}
