/* examples/market.c - actors publishing and subscribing through acto-broker.
 *
 * A tiny market: "feed" actors publish price ticks on prices.<SYMBOL>,
 * "watcher" actors subscribe to prices.> (every symbol) or to one symbol,
 * and a "quote" actor answers requests on quote.get.  They all talk to the
 * broker through ONE client actor (acto/client.h), which owns the TCP
 * connection; deliveries arrive as ordinary messages.
 *
 *   $ acto-broker &                         # listening on 127.0.0.1:7470
 *   $ ./market                              # or: ./market --server HOST:PORT
 *   watcher prices.>: 2000 ticks, in order per feed
 *   ...
 *   boss: quote.get ACME -> "ACME 1999"
 *
 * Flags: --server HOST:PORT, --ticks N (per feed, default 1000).
 * Exit status 0 when every watcher saw every tick it should, in order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <acto/acto.h>

enum { MSG_TICK = 1, MSG_GO, MSG_DONE, MSG_QUOTE_REQ, MSG_QUOTE, MSG_QUOTE_TIMEOUT, MSG_DEADLINE };

#define DEADLINE_NS (30ull * 1000000000ull)   /* give up (broker unreachable?) */

#define NFEEDS 2
static const char *const symbols[NFEEDS] = { "ACME", "INITECH" };

typedef struct { const char *server; long ticks; } config_t;
static config_t cfg = { NULL, 1000 };
static acto_pid_t client;       /* the broker connection (set before spawning) */
static int failures;            /* written by the boss only */

/* ---- feed: publishes cfg.ticks ticks "SYMBOL SEQ" on prices.SYMBOL ------ */
typedef struct { int sym; } feed_t;

static int feed_init(acto_ctx_t *ctx, void *st, const void *arg)
{
    (void)ctx;
    ((feed_t *)st)->sym = (int)(intptr_t)arg;
    return 0;
}

static int feed_receive(acto_ctx_t *ctx, void *st, const acto_msg_t *msg)
{
    feed_t *f = st;
    if (acto_msg_type(msg) != MSG_GO)
        return 0;
    char subject[64], tick[64];
    snprintf(subject, sizeof subject, "prices.%s", symbols[f->sym]);
    for (long i = 0; i < cfg.ticks; i++) {
        int n = snprintf(tick, sizeof tick, "%s %ld", symbols[f->sym], i);
        int rc = acto_client_pub(ctx, client, subject, NULL, tick, (size_t)n);
        if (rc)
            return rc;
    }
    return acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static const acto_behavior_t feed = {
    .name = "feed", .state_size = sizeof(feed_t), .init = feed_init, .receive = feed_receive,
};

/* ---- watcher: counts ticks and checks their order per feed ------------- */
typedef struct {
    const char *pattern;
    acto_pid_t boss;
    long next[NFEEDS];          /* next sequence number expected per feed */
    long got, want;
    int disorder;
} watcher_t;

typedef struct { const char *pattern; acto_pid_t boss; long want; } watch_arg_t;

static int watcher_init(acto_ctx_t *ctx, void *st, const void *arg)
{
    watcher_t *w = st;
    const watch_arg_t *a = arg;
    w->pattern = a->pattern;
    w->boss = a->boss;
    w->want = a->want;
    return acto_client_sub(ctx, client, w->pattern, NULL, MSG_TICK, NULL);
}

static void watcher_tick(watcher_t *w, const acto_pubsub_msg_t *m)
{
    char text[64];
    size_t n = m->len < sizeof text - 1 ? m->len : sizeof text - 1;
    memcpy(text, m->payload, n);
    text[n] = 0;
    char sym[32];
    long seq;
    if (sscanf(text, "%31s %ld", sym, &seq) != 2)
        return (void)w->disorder++;
    for (int i = 0; i < NFEEDS; i++)
        if (strcmp(sym, symbols[i]) == 0) {
            w->disorder += seq != w->next[i];
            w->next[i] = seq + 1;
        }
    w->got++;
}

static int watcher_receive(acto_ctx_t *ctx, void *st, const acto_msg_t *msg)
{
    watcher_t *w = st;
    acto_pubsub_msg_t m;
    if (acto_msg_type(msg) != MSG_TICK || acto_pubsub_read(msg, &m) != 0)
        return 0;
    watcher_tick(w, &m);
    if (w->got < w->want)
        return 0;
    printf("watcher %s: %ld ticks, %s\n", w->pattern, w->got,
           w->disorder ? "OUT OF ORDER" : "in order per feed");
    int rc = acto_send_i64(ctx, w->boss, MSG_DONE, w->disorder);
    return rc ? rc : acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static const acto_behavior_t watcher = {
    .name = "watcher", .state_size = sizeof(watcher_t),
    .init = watcher_init, .receive = watcher_receive,
};

/* ---- quote: answers one request on quote.get, then exits --------------- */
static int quote_init(acto_ctx_t *ctx, void *st, const void *arg)
{
    (void)st, (void)arg;
    return acto_client_sub(ctx, client, "quote.get", NULL, MSG_QUOTE_REQ, NULL);
}

static int quote_receive(acto_ctx_t *ctx, void *st, const acto_msg_t *msg)
{
    (void)st;
    acto_pubsub_msg_t m;
    if (acto_msg_type(msg) != MSG_QUOTE_REQ || acto_pubsub_read(msg, &m) != 0 || !m.reply)
        return 0;
    char reply[80], answer[64];
    snprintf(reply, sizeof reply, "%.*s", (int)m.reply_len, m.reply);
    int n = snprintf(answer, sizeof answer, "%.*s %ld", (int)m.len, (const char *)m.payload,
                     cfg.ticks - 1);
    int rc = acto_client_pub(ctx, client, reply, NULL, answer, (size_t)n);
    return rc ? rc : acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static const acto_behavior_t quote = {
    .name = "quote", .receive = quote_receive, .init = quote_init,
};

/* ---- boss: sets everything up, waits for the watchers, asks a quote ----- */
typedef struct {
    int waiting;
    int n;
    uint64_t deadline;          /* the timer, cancelled once done */
    acto_pid_t others[8];       /* watchers and quote: killed at the deadline */
} boss_t;

static int boss_start(acto_ctx_t *ctx, boss_t *b)
{
    static const char *const patterns[] = { "prices.>", "prices.*", "prices.ACME" };
    acto_client_opts_t co = { .name = "market", .reconnect_attempts = 20 };
    int rc = acto_client_start(ctx, cfg.server, &co, &client);
    if (rc == 0)
        rc = acto_timer_start(ctx, DEADLINE_NS, 0, MSG_DEADLINE, &b->deadline);
    for (size_t i = 0; rc == 0 && i < sizeof patterns / sizeof *patterns; i++) {
        /* Subscriptions first: the client sends them before the ticks. */
        watch_arg_t a = { patterns[i], acto_self(ctx),
                          i == 2 ? cfg.ticks : NFEEDS * cfg.ticks };
        rc = acto_spawn(ctx, &watcher, &a, &b->others[b->n++]);
        b->waiting++;
    }
    if (rc == 0)
        rc = acto_spawn(ctx, &quote, NULL, &b->others[b->n++]);
    for (int i = 0; rc == 0 && i < NFEEDS; i++) {
        acto_pid_t f;
        rc = acto_spawn(ctx, &feed, (const void *)(intptr_t)i, &f);
        if (rc == 0)
            rc = acto_send_empty(ctx, f, MSG_GO);
    }
    return rc;
}

static int boss_receive(acto_ctx_t *ctx, void *st, const acto_msg_t *msg)
{
    boss_t *b = st;
    acto_pubsub_msg_t m;
    int64_t disorder;
    switch (acto_msg_type(msg)) {
    case MSG_GO:
        return boss_start(ctx, b);
    case MSG_DONE:
        if (acto_msg_i64(msg, &disorder) == 0 && disorder)
            failures++;
        if (--b->waiting > 0)
            return 0;
        return acto_client_req(ctx, client, "quote.get", "ACME", 4, 2000, MSG_QUOTE,
                               MSG_QUOTE_TIMEOUT, NULL);
    case MSG_QUOTE:
        if (acto_pubsub_read(msg, &m) == 0)
            printf("boss: quote.get ACME -> \"%.*s\"\n", (int)m.len, (const char *)m.payload);
        break;
    case MSG_QUOTE_TIMEOUT:
        printf("boss: quote.get timed out\n");
        failures++;
        break;
    case MSG_DEADLINE:
        printf("boss: FAILED: no result in %llu s (is acto-broker running?)\n",
               (unsigned long long)(DEADLINE_NS / 1000000000ull));
        failures++;
        for (int i = 0; i < b->n; i++)
            (void)acto_kill(ctx, b->others[i], ACTO_EXIT_KILLED);
        b->deadline = 0;
        break;
    default:
        return 0;
    }
    if (b->deadline)
        (void)acto_timer_cancel(ctx, b->deadline);
    int rc = acto_client_stop(ctx, client);
    return rc ? rc : acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static const acto_behavior_t boss = {
    .name = "boss", .state_size = sizeof(boss_t), .receive = boss_receive,
};

static int usage(const char *prog)
{
    fprintf(stderr, "usage: %s [--server HOST:PORT] [--ticks N]\n", prog);
    return 2;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
            cfg.server = argv[++i];
        else if (strcmp(argv[i], "--ticks") == 0 && i + 1 < argc)
            cfg.ticks = strtol(argv[++i], NULL, 10);
        else
            return usage(argv[0]);
    }
    if (cfg.ticks < 1)
        return usage(argv[0]);

    acto_runtime_t *rt;
    acto_pid_t b;
    int rc = acto_runtime_new(&rt, NULL);
    if (rc == 0)
        rc = acto_spawn(acto_root(rt), &boss, NULL, &b);
    if (rc == 0)
        rc = acto_send_empty(acto_root(rt), b, MSG_GO);
    if (rc == 0)
        rc = acto_runtime_run(rt);
    if (rc) {
        fprintf(stderr, "market: %s\n", acto_strerror(rc));
        return 1;
    }
    acto_runtime_free(rt);
    if (failures) {
        printf("market: FAILED (%d)\n", failures);
        return 1;
    }
    printf("market: ok\n");
    return 0;
}
