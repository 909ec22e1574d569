/* tests/test_trace_ends.c - where a receive's end lands in a trace.
 *
 * Handling time is recv_end - recv_begin (docs/trace-format.md), so an end
 * must be recorded before anything else its track does after the handler
 * returns: no other event of the track (exit, spawn outside the receive,
 * steal, sleep, wake, the next receive) may come between a receive's begin
 * and its end, and an actor's terminate, the worker's idling and the next
 * message must not be counted in the handling time.  Guards against an end
 * stamped late (e.g. with the track's next clock reading). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "internal.h"
#include "reader.h"

typedef struct { char path[64]; } tmp_t;

static void tmp_make(tmp_t *t)
{
    strcpy(t->path, "/tmp/acto-test-trace-ends-XXXXXX");
    int fd = mkstemp(t->path);
    assert_true(fd >= 0);
    close(fd);
}

static void load(const char *path, ttr_trace_t *t)
{
    assert_int_equal(ttr_load(t, path, stderr), 0);
    assert_false(t->damaged);
    assert_int_equal(t->skipped, 0);
    assert_int_equal(t->lost_words, 0);
}

/* Every track, in the reader's order (by time, then file order: a track's
 * own order but for sends, depth samples and pub/sub events, which carry
 * their receive's begin): a receive's begin is followed by its end before
 * any record other than the receive's own sends, spawns, depth samples and
 * pub/sub events, and nothing else of the track is stamped before that end.
 * Returns the number of receives checked. */
typedef struct { uint64_t open, begin_ts, end_ts; } bracket_t;

static size_t check_brackets(const ttr_trace_t *t)
{
    bracket_t *tr = calloc(65536, sizeof *tr);
    assert_non_null(tr);
    size_t nrecv = 0;
    for (size_t i = 0; i < t->n; i++) {
        const ttr_rec_t *r = &t->rec[i];
        bracket_t *b = &tr[r->track];
        switch (r->kind) {
        case ACTO_TRACE_RECV_BEGIN:
            assert_int_equal(b->open, 0);
            assert_true(r->ts >= b->end_ts);
            b->open = r->v[0];
            b->begin_ts = r->ts;
            break;
        case ACTO_TRACE_RECV_END:
            assert_int_equal(r->v[0], b->open);
            assert_true(r->ts >= b->begin_ts);
            b->end_ts = r->ts;
            b->open = 0;
            nrecv++;
            break;
        case ACTO_TRACE_SEND:                 /* caused by the receive in progress */
            assert_int_equal(r->v[5], b->open);
            break;
        case ACTO_TRACE_SPAWN:
            assert_int_equal(r->v[2], b->open);
            break;
        case ACTO_TRACE_DEPTH:
        case ACTO_TRACE_PUBLISH:
        case ACTO_TRACE_DELIVER:
            break;
        default:                              /* exit, steal, sleep, wake, ... */
            assert_int_equal(b->open, 0);
            assert_true(r->ts >= b->end_ts);
        }
    }
    for (size_t k = 0; k < 65536; k++)
        assert_int_equal(tr[k].open, 0);      /* every receive ended */
    free(tr);
    return nrecv;
}

/* ---- many receives on two workers ---------------------------------------------------
 * PAIRS pairs bounce a ball ROUNDS times (receives of this track's latest
 * send, of an older one, of another track's); at the end each player
 * spawns a sink, sends it a message and exits, and one player first waits
 * for a timer, so its worker idles in the middle of the run. */
enum { BALL = 1, DONE = 2, TICK = 3, PAIRS = 8 };

typedef struct { acto_pid_t peer; int timed; } player_t;

static int sink_recv(acto_ctx_t *ctx, void *st, const acto_msg_t *m)
{
    (void)ctx, (void)st, (void)m;
    return 0;
}
static const acto_behavior_t sink = { .name = "sink", .receive = sink_recv };

static int finish(acto_ctx_t *ctx)
{
    acto_pid_t s;
    assert_int_equal(acto_spawn(ctx, &sink, NULL, &s), 0);
    assert_int_equal(acto_send_i64(ctx, s, DONE, 0), 0);
    return acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static int player_recv(acto_ctx_t *ctx, void *st, const acto_msg_t *m)
{
    player_t *p = st;
    int64_t left = 0;
    if (acto_msg_type(m) == TICK)
        return finish(ctx);
    if (acto_msg_type(m) == DONE) {           /* [peer] from main */
        assert_int_equal(acto_msg_i64(m, &left), 0);
        p->peer = (acto_pid_t)left;
        return 0;
    }
    assert_int_equal(acto_msg_i64(m, &left), 0);
    if (left > 0)
        assert_int_equal(acto_send_i64(ctx, p->peer, BALL, left - 1), 0);
    if (left > 1)
        return 0;
    if (p->timed)                             /* idle until the timer fires */
        return acto_timer_start(ctx, 2000000, 0, TICK, NULL);
    return finish(ctx);
}

static int player_init(acto_ctx_t *ctx, void *st, const void *arg)
{
    (void)ctx;
    ((player_t *)st)->timed = arg != NULL;
    return 0;
}

static const acto_behavior_t player = {
    .name = "player", .state_size = sizeof(player_t), .init = player_init,
    .receive = player_recv };

static void test_end_before_next_event(void **state)
{
    (void)state;
    tmp_t tmp;
    tmp_make(&tmp);
    acto_config_t cfg;
    acto_config_init(&cfg);
    cfg.workers = 2;
    cfg.trace_path = tmp.path;
    acto_runtime_t *rt;
    assert_int_equal(acto_runtime_new(&rt, &cfg), 0);
    acto_ctx_t *root = acto_root(rt);
    int64_t rounds = (int64_t)tu_scale(2000, 200) & ~1;   /* even: the timed player ends */
    for (int i = 0; i < PAIRS; i++) {
        acto_pid_t a, b;
        assert_int_equal(acto_spawn(root, &player, i == 0 ? "timed" : NULL, &a), 0);
        assert_int_equal(acto_spawn(root, &player, NULL, &b), 0);
        assert_int_equal(acto_send_i64(root, a, DONE, (int64_t)b), 0);
        assert_int_equal(acto_send_i64(root, b, DONE, (int64_t)a), 0);
        assert_int_equal(acto_send_i64(root, a, BALL, rounds), 0);
    }
    tu_run(rt);
    acto_runtime_free(rt);

    ttr_trace_t t;
    load(tmp.path, &t);
    /* the balls, the peers, the sinks' DONE, the timer's TICK */
    size_t want = PAIRS * ((size_t)rounds + 1 + 2 + 2) + 1;
    assert_int_equal(check_brackets(&t), want);
    ttr_free(&t);
    unlink(tmp.path);
}

/* ---- exact ends before terminate and before idling -------------------------------------
 * One worker.  SLOW's handler takes a while; then the worker idles (the
 * run ends).  In a second run the actor handles SLOW again, then STOP,
 * whose handler exits at once while its terminate takes longer still. */
enum { SLOW = 10, STOP = 11 };
#define SPIN_NS 200000ull        /* a handler's own time: long against the hand-over */
#define TERM_NS 5000000ull       /* terminate's: longer than the handler's */

static void spin(uint64_t ns)
{
    uint64_t t0 = tu_now_ns();
    while (tu_now_ns() - t0 < ns)
        ;
}

static int slow_recv(acto_ctx_t *ctx, void *st, const acto_msg_t *m)
{
    (void)st;
    if (acto_msg_type(m) == STOP)
        return acto_exit(ctx, 7);
    spin(SPIN_NS);
    return 0;
}

static void slow_terminate(acto_ctx_t *ctx, void *st, int64_t reason)
{
    (void)ctx, (void)st, (void)reason;
    spin(TERM_NS);
}

static const acto_behavior_t slow = {
    .name = "slow", .receive = slow_recv, .terminate = slow_terminate };

static const ttr_rec_t *nth(const ttr_trace_t *t, uint32_t kind, int field, uint64_t v, int n)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->rec[i].kind == kind && (field < 0 || t->rec[i].v[field] == v) && n-- == 0)
            return &t->rec[i];
    return NULL;
}

static void test_end_exact_before_terminate_and_idle(void **state)
{
    (void)state;
    tmp_t tmp;
    tmp_make(&tmp);
    acto_config_t cfg;
    acto_config_init(&cfg);
    cfg.workers = 1;
    cfg.trace_path = tmp.path;
    acto_runtime_t *rt;
    assert_int_equal(acto_runtime_new(&rt, &cfg), 0);
    acto_ctx_t *root = acto_root(rt);
    acto_pid_t p;
    assert_int_equal(acto_spawn(root, &slow, NULL, &p), 0);
    assert_int_equal(acto_send_i64(root, p, SLOW, 0), 0);
    tu_run(rt);                               /* SLOW, then the worker idles */
    assert_int_equal(acto_send_i64(root, p, SLOW, 1), 0);
    assert_int_equal(acto_send_i64(root, p, STOP, 0), 0);
    tu_run(rt);
    acto_runtime_free(rt);

    ttr_trace_t t;
    load(tmp.path, &t);
    check_brackets(&t);
    const ttr_rec_t *s0 = nth(&t, ACTO_TRACE_SEND, 3, SLOW, 0), *s1 = nth(&t, ACTO_TRACE_SEND, 3, SLOW, 1);
    const ttr_rec_t *stop = nth(&t, ACTO_TRACE_SEND, 3, STOP, 0);
    assert_true(s0 && s1 && stop);
    const ttr_rec_t *b0 = nth(&t, ACTO_TRACE_RECV_BEGIN, 0, s0->v[0], 0);
    const ttr_rec_t *e0 = nth(&t, ACTO_TRACE_RECV_END, 0, s0->v[0], 0);
    const ttr_rec_t *b1 = nth(&t, ACTO_TRACE_RECV_BEGIN, 0, s1->v[0], 0);
    const ttr_rec_t *bs = nth(&t, ACTO_TRACE_RECV_BEGIN, 0, stop->v[0], 0);
    const ttr_rec_t *es = nth(&t, ACTO_TRACE_RECV_END, 0, stop->v[0], 0);
    const ttr_rec_t *ex = nth(&t, ACTO_TRACE_EXIT, 0, p, 0);
    assert_true(b0 && e0 && b1 && bs && es && ex);
    assert_int_equal((int64_t)ex->v[1], 7);

    /* Idling: the first SLOW's end is its own, recorded before the worker
     * slept, and not the next receive's begin (a run later). */
    const ttr_rec_t *sl = NULL;
    for (const ttr_rec_t *r = e0 + 1; r < t.rec + t.n && !sl; r++)
        if (r->kind == ACTO_TRACE_SLEEP && r->track == e0->track)
            sl = r;
    assert_non_null(sl);
    assert_true(sl < b1 && e0->ts <= sl->ts);
    assert_true(e0->ts - b0->ts < b1->ts - e0->ts);   /* < a run's restart */

    /* Terminate: STOP's end comes before the exit, and terminate's time
     * (longer than the handler's) is not in STOP's handling time. */
    assert_true(es < ex && es->track == ex->track);
    assert_true(es->ts - bs->ts < ex->ts - es->ts);
    ttr_free(&t);
    unlink(tmp.path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_end_before_next_event),
        cmocka_unit_test(test_end_exact_before_terminate_and_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
