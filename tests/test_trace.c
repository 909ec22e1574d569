/* tests/test_trace.c - trace recording (runtime/trace.c) and reading
 * (tools/trace/reader.c, model.c): every record kind and field round trip,
 * causality, no loss under concurrent senders, damaged files, unknown
 * kinds, API errors, pub/sub publish and deliver events, and identical
 * program results with tracing on. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <endian.h>
#include <signal.h>
#include <sys/wait.h>

#include "testutil.h"
#include "internal.h"
#include "reader.h"
#include "actors/chan.h"

/* ---- helpers ---------------------------------------------------------------- */

typedef struct { char path[64]; } tmp_t;

static void tmp_make(tmp_t *t)
{
    strcpy(t->path, "/tmp/acto-test-trace-XXXXXX");
    int fd = mkstemp(t->path);
    assert_true(fd >= 0);
    close(fd);
}

static void load(const char *path, ttr_trace_t *t, ttr_model_t *m)
{
    assert_int_equal(ttr_load(t, path, stderr), 0);
    assert_false(t->damaged);
    assert_int_equal(t->skipped, 0);
    if (m)
        assert_int_equal(ttr_model_build(m, t), 0);
}

static size_t count_kind(const ttr_trace_t *t, uint32_t kind)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += t->rec[i].kind == kind;
    return n;
}

static const ttr_rec_t *find(const ttr_trace_t *t, uint32_t kind, int field, uint64_t v)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->rec[i].kind == kind && (field < 0 || t->rec[i].v[field] == v))
            return &t->rec[i];
    return NULL;
}

static bool str_is(const ttr_rec_t *r, const char *s)
{
    return r && r->str && r->slen == strlen(s) && memcmp(r->str, s, r->slen) == 0;
}

/* ---- actors for the round trip --------------------------------------------------
 * root -> spawner: START(5).  The spawner spawns a "sink", sends it VALUE(7)
 * and exits with reason 42.  A second sink gets FLOOD messages from root
 * before run, so mailbox depth samples see a backlog. */
enum { START = 10, VALUE = 11, FLOOD = 12 };
enum { NFLOOD = 600 };   /* > 256: a depth sample falls in the backlog */

typedef struct { acto_pid_t child; } spawner_t;
static acto_pid_t g_child;

static int sink_recv(acto_ctx_t *ctx, void *st, const acto_msg_t *m)
{
    (void)ctx, (void)st, (void)m;
    return 0;
}
static const acto_behavior_t sink = { .name = "sink", .receive = sink_recv };

static int spawner_recv(acto_ctx_t *ctx, void *st, const acto_msg_t *m)
{
    spawner_t *s = st;
    if (acto_msg_type(m) != START)
        return 0;
    int rc = acto_spawn(ctx, &sink, NULL, &s->child);
    g_child = s->child;
    if (rc == 0)
        rc = acto_send_i64(ctx, s->child, VALUE, 7);
    if (rc == 0)
        rc = acto_exit(ctx, 42);
    return rc;
}
static const acto_behavior_t spawner = {
    .name = "spawner", .state_size = sizeof(spawner_t), .receive = spawner_recv };

static void test_round_trip(void **state)
{
    (void)state;
    tmp_t tmp;
    tmp_make(&tmp);
    acto_config_t cfg;
    acto_config_init(&cfg);
    cfg.workers = 1;                 /* one worker: the depth sample is predictable */
    cfg.trace_path = tmp.path;
    acto_runtime_t *rt;
    assert_int_equal(acto_runtime_new(&rt, &cfg), 0);
    assert_int_equal(acto_trace_enabled(rt), 1);
    acto_pid_t sp, flood;
    assert_int_equal(acto_spawn(acto_root(rt), &spawner, NULL, &sp), 0);
    assert_int_equal(acto_send_i64(acto_root(rt), sp, START, 5), 0);
    assert_int_equal(acto_spawn(acto_root(rt), &sink, NULL, &flood), 0);
    for (int i = 0; i < NFLOOD; i++)
        assert_int_equal(acto_send_i64(acto_root(rt), flood, FLOOD, i), 0);
    /* Steals cannot be forced with one worker, and no I/O or timer records
     * have callers yet: record them directly. */
    trace_steal(&rt->workers[0].ctx, 7, 3);
    trace_io_submit(&rt->workers[0].ctx, 2, 5, 99, sp);
    trace_io_complete(&rt->workers[0].ctx, 2, 5, 99, -104, sp);
    trace_timer_fire(&rt->workers[0].ctx, 1234, flood);
    tu_run(rt);
    acto_runtime_free(rt);           /* stops tracing; the sinks exit (SHUTDOWN) */

    ttr_trace_t t;
    ttr_model_t m;
    load(tmp.path, &t, &m);
    assert_int_equal(t.version, ACTO_TRACE_VERSION);
    assert_int_equal(t.workers, 1);
    assert_int_equal(t.pid, (uint64_t)getpid());
    for (size_t i = 1; i < t.n; i++)
        assert_true(t.rec[i - 1].ts <= t.rec[i].ts);

    /* tracks: worker 0 is track 0, root is track 1 */
    const ttr_rec_t *r = find(&t, ACTO_TRACE_TRACK, 0, 0);
    assert_int_equal(count_kind(&t, ACTO_TRACE_TRACK), 2);
    for (size_t i = 0; i < t.n; i++)
        if (t.rec[i].kind == ACTO_TRACE_TRACK)
            assert_true(str_is(&t.rec[i], t.rec[i].track == 0 ? "worker" : "root"));
    assert_non_null(r);

    /* spawn: pid, parent, name, cause */
    r = find(&t, ACTO_TRACE_SPAWN, 0, sp);
    assert_non_null(r);
    assert_int_equal(r->v[1], 0);
    assert_true(str_is(r, "spawner"));
    assert_int_equal(r->track, 1);
    const ttr_rec_t *start = find(&t, ACTO_TRACE_SEND, 3, START);
    assert_non_null(start);
    assert_int_equal(start->v[1], 0);        /* from outside */
    assert_int_equal(start->v[2], sp);
    assert_int_equal(start->v[4], 1);        /* msgpack 5: one byte */
    assert_int_equal(start->v[5], 0);        /* no cause */
    r = find(&t, ACTO_TRACE_SPAWN, 0, g_child);
    assert_non_null(r);
    assert_int_equal(r->v[1], sp);
    assert_true(str_is(r, "sink"));
    assert_int_equal(r->v[2], start->v[0]);  /* spawned while handling START */
    assert_int_equal(r->track, 0);

    /* send inside a handler: id, from, to, type, size, cause */
    const ttr_rec_t *value = find(&t, ACTO_TRACE_SEND, 3, VALUE);
    assert_non_null(value);
    assert_int_equal(value->v[1], sp);
    assert_int_equal(value->v[2], g_child);
    assert_int_equal(value->v[4], 1);
    assert_int_equal(value->v[5], start->v[0]);
    assert_true(value->v[0] != start->v[0]);

    /* receive begin / end */
    r = find(&t, ACTO_TRACE_RECV_BEGIN, 0, start->v[0]);
    assert_non_null(r);
    assert_int_equal(r->v[1], sp);
    assert_int_equal(r->v[2], START);
    assert_true(r->ts >= start->ts);
    const ttr_rec_t *end = find(&t, ACTO_TRACE_RECV_END, 0, start->v[0]);
    assert_non_null(end);
    assert_true(end->ts >= r->ts && value->ts >= r->ts && value->ts <= end->ts);
    assert_int_equal(count_kind(&t, ACTO_TRACE_SEND), 2 + NFLOOD);
    assert_int_equal(count_kind(&t, ACTO_TRACE_RECV_BEGIN), 2 + NFLOOD);
    assert_int_equal(count_kind(&t, ACTO_TRACE_RECV_END), 2 + NFLOOD);

    /* exits: the spawner's reason, the sinks at runtime_free */
    r = find(&t, ACTO_TRACE_EXIT, 0, sp);
    assert_non_null(r);
    assert_int_equal((int64_t)r->v[1], 42);
    r = find(&t, ACTO_TRACE_EXIT, 0, flood);
    assert_non_null(r);
    assert_int_equal((int64_t)r->v[1], ACTO_EXIT_SHUTDOWN);
    assert_int_equal(count_kind(&t, ACTO_TRACE_EXIT), 3);

    /* depth samples: every 256th receive on a worker; the flood backlog */
    assert_true(count_kind(&t, ACTO_TRACE_DEPTH) >= 1);
    r = find(&t, ACTO_TRACE_DEPTH, 0, flood);
    assert_non_null(r);
    assert_true(r->v[1] > 0 && r->v[1] < NFLOOD);

    /* scheduler events */
    r = find(&t, ACTO_TRACE_STEAL, -1, 0);
    assert_non_null(r);
    assert_int_equal(r->v[0], 7);
    assert_int_equal(r->v[1], 3);
    r = find(&t, ACTO_TRACE_IO_SUBMIT, -1, 0);
    assert_non_null(r);
    assert_true(r->v[0] == 2 && r->v[1] == 5 && r->v[2] == 99 && r->v[3] == sp);
    r = find(&t, ACTO_TRACE_IO_COMPLETE, -1, 0);
    assert_non_null(r);
    assert_true(r->v[0] == 2 && r->v[1] == 5 && r->v[2] == 99 && r->v[4] == sp);
    assert_int_equal((int64_t)r->v[3], -104);
    r = find(&t, ACTO_TRACE_TIMER_FIRE, -1, 0);
    assert_non_null(r);
    assert_true(r->v[0] == 1234 && r->v[1] == flood);
    assert_true(count_kind(&t, ACTO_TRACE_SLEEP) >= 1);
    assert_true(count_kind(&t, ACTO_TRACE_WAKE) >= 1);

    /* the model: counters and the reconstructed mailbox depth */
    ttr_actor_t *fa = ttr_actor(&m, flood);
    assert_non_null(fa);
    assert_int_equal(fa->in, NFLOOD);
    assert_int_equal(fa->max_depth, NFLOOD);   /* all sent before run */
    assert_int_equal(fa->wait.n, NFLOOD);
    assert_int_equal(fa->handle.n, NFLOOD);
    ttr_actor_t *sa = ttr_actor(&m, sp);
    assert_int_equal(sa->out, 1);
    assert_int_equal(sa->in, 1);
    assert_int_equal(m.tracks[0].handled, 2 + NFLOOD);
    assert_int_equal(m.tracks[0].steals, 1);

    ttr_model_free(&m);
    ttr_free(&t);
    unlink(tmp.path);
}

/* ---- causality on a known chain ----------------------------------------------------
 * root -> a (1) -> b (2) -> c (3) -> d (4), over two workers. */
typedef struct { acto_pid_t next; } hop_t;

static int hop_init(acto_ctx_t *ctx, void *st, const void *arg)
{
    (void)ctx;
    ((hop_t *)st)->next = arg ? *(const acto_pid_t *)arg : ACTO_PID_NONE;
    return 0;
}

static int hop_recv(acto_ctx_t *ctx, void *st, const acto_msg_t *m)
{
    hop_t *h = st;
    return h->next ? acto_send_empty(ctx, h->next, acto_msg_type(m) + 1) : 0;
}
static const acto_behavior_t hop = {
    .name = "hop", .state_size = sizeof(hop_t), .init = hop_init, .receive = hop_recv };

static void test_causality(void **state)
{
    (void)state;
    tmp_t tmp;
    tmp_make(&tmp);
    unsigned long rounds = tu_scale(50, 5);
    acto_runtime_t *rt = tu_runtime(2);
    assert_int_equal(acto_trace_start(rt, tmp.path), 0);
    acto_pid_t p[4] = { 0 };
    for (int i = 3; i >= 0; i--)
        assert_int_equal(acto_spawn(acto_root(rt), &hop, i < 3 ? &p[i + 1] : NULL, &p[i]), 0);
    for (unsigned long i = 0; i < rounds; i++)
        assert_int_equal(acto_send_empty(acto_root(rt), p[0], 1), 0);
    tu_run(rt);
    assert_int_equal(acto_trace_stop(rt), 0);
    acto_runtime_free(rt);

    ttr_trace_t t;
    ttr_model_t m;
    load(tmp.path, &t, &m);
    size_t chains = 0;
    for (size_t i = 0; i < m.nmsgs; i++) {
        const ttr_msg_t *g = &m.msgs[i];
        if (g->send == TTR_NONE || t.rec[g->send].v[3] != 4)
            continue;
        /* walk up: types 4, 3, 2, 1, then nothing; hops d <- c <- b <- a <- root */
        const ttr_msg_t *x = g;
        for (int type = 4; type >= 1; type--) {
            assert_non_null(x);
            const ttr_rec_t *s = &t.rec[x->send];
            assert_int_equal(s->v[3], (uint64_t)type);
            assert_int_equal(s->v[2], p[type - 1]);
            assert_int_equal(s->v[1], type > 1 ? p[type - 2] : 0);
            assert_true(x->begin != TTR_NONE && x->end != TTR_NONE);
            assert_true(t.rec[x->begin].ts >= s->ts);
            uint64_t cause = s->v[5];
            if (type == 1) {
                assert_int_equal(cause, 0);
                break;
            }
            const ttr_msg_t *up = ttr_message(&m, cause);
            assert_non_null(up);
            /* ... and down again: the cause lists x among its effects */
            bool listed = false;
            for (size_t c = up->first_child; c != TTR_NONE; c = m.msgs[c].next_sibling)
                listed |= &m.msgs[c] == x;
            assert_true(listed);
            x = up;
        }
        chains++;
    }
    assert_int_equal(chains, rounds);
    ttr_model_free(&m);
    ttr_free(&t);
    unlink(tmp.path);
}

/* ---- concurrency: attached threads and workers, nothing lost ------------------------ */

typedef struct { acto_runtime_t *rt; acto_pid_t to; unsigned long n; int rc; } sender_t;

static void *sender_main(void *arg)
{
    sender_t *s = arg;
    acto_ctx_t *ctx;
    s->rc = acto_thread_attach(s->rt, &ctx);
    for (unsigned long i = 0; s->rc == 0 && i < s->n; i++)
        s->rc = acto_send_u64(ctx, s->to, 1, i);
    if (s->rc == 0)
        s->rc = acto_thread_detach(ctx);
    return NULL;
}

static void test_no_loss_concurrent(void **state)
{
    (void)state;
    tmp_t tmp;
    tmp_make(&tmp);
    unsigned long n = tu_scale(20000, 500);
    acto_runtime_t *rt = tu_runtime(2);
    assert_int_equal(acto_trace_start(rt, tmp.path), 0);
    acto_pid_t sinks[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(acto_spawn(acto_root(rt), &sink, NULL, &sinks[i]), 0);
    sender_t s[2] = { { rt, sinks[0], n, 0 }, { rt, sinks[1], n, 0 } };
    void *args[2] = { &s[0], &s[1] };
    tu_threads(2, sender_main, args);   /* before run: messages queue up */
    assert_int_equal(s[0].rc, 0);
    assert_int_equal(s[1].rc, 0);
    tu_run(rt);
    acto_runtime_free(rt);

    ttr_trace_t t;
    ttr_model_t m;
    load(tmp.path, &t, &m);
    assert_int_equal(count_kind(&t, ACTO_TRACE_SEND), 2 * n);
    assert_int_equal(m.nmsgs, 2 * n);          /* ids are unique */
    size_t threads = 0;
    for (size_t i = 0; i < t.n; i++)
        threads += t.rec[i].kind == ACTO_TRACE_TRACK && str_is(&t.rec[i], "thread");
    assert_int_equal(threads, 2);
    for (size_t i = 0; i < m.nmsgs; i++)
        assert_true(m.msgs[i].send != TTR_NONE && m.msgs[i].begin != TTR_NONE &&
                    m.msgs[i].end != TTR_NONE);
    for (int i = 0; i < 2; i++)
        assert_int_equal(ttr_actor(&m, sinks[i])->in, n);
    ttr_model_free(&m);
    ttr_free(&t);
    unlink(tmp.path);
}

/* Threads that attach one after another share one track: its stream goes
 * on, each attach marked by a TRACK event with the thread's index. */
static void test_thread_track_reuse(void **state)
{
    (void)state;
    tmp_t tmp;
    tmp_make(&tmp);
    acto_runtime_t *rt = tu_runtime(1);
    assert_int_equal(acto_trace_start(rt, tmp.path), 0);
    acto_pid_t s;
    assert_int_equal(acto_spawn(acto_root(rt), &sink, NULL, &s), 0);
    for (int i = 0; i < 3; i++) {
        sender_t snd = { rt, s, 2, 0 };
        void *arg = &snd;
        tu_threads(1, sender_main, &arg);
        assert_int_equal(snd.rc, 0);
    }
    tu_run(rt);
    acto_runtime_free(rt);
    ttr_trace_t t;
    ttr_model_t m;
    load(tmp.path, &t, &m);
    uint32_t track = UINT32_MAX;
    uint64_t seen = 0;
    for (size_t i = 0; i < t.n; i++)
        if (t.rec[i].kind == ACTO_TRACE_TRACK && str_is(&t.rec[i], "thread")) {
            assert_true(track == UINT32_MAX || track == t.rec[i].track);
            track = t.rec[i].track;
            seen |= 1u << t.rec[i].v[0];
        }
    assert_int_equal(seen, 7);               /* threads 0, 1, 2 */
    assert_int_equal(count_kind(&t, ACTO_TRACE_SEND), 6);
    assert_int_equal(m.nmsgs, 6);            /* ids go on: unique */
    assert_int_equal(ttr_actor(&m, s)->in, 6);
    ttr_model_free(&m);
    ttr_free(&t);
    unlink(tmp.path);
}

/* ---- tracing does not change what a program computes ------------------------------ */

/* A ring of actors passing tokens that count down; each actor adds what
 * it sees to a shared sum.  NEXT (from root, before any token) closes it. */
enum { TOKEN = 1, NEXT = 2 };
typedef struct { acto_pid_t next; int64_t *sum; } ring_t;

static int ring_init(acto_ctx_t *ctx, void *st, const void *arg)
{
    (void)ctx;
    ((ring_t *)st)->sum = (int64_t *)arg;
    return 0;
}

static int ring_recv(acto_ctx_t *ctx, void *st, const acto_msg_t *m)
{
    ring_t *r = st;
    int64_t left;
    if (acto_msg_type(m) == NEXT)
        return acto_msg_scan(ctx, m, "p", &r->next);
    if (acto_msg_i64(m, &left) != 0)
        return ACTO_EPROTO;
    __atomic_fetch_add(r->sum, left, __ATOMIC_RELAXED);
    return left > 0 ? acto_send_i64(ctx, r->next, TOKEN, left - 1) : 0;
}
static const acto_behavior_t ring = {
    .name = "ring", .state_size = sizeof(ring_t), .init = ring_init, .receive = ring_recv };

static void ring_run(const char *trace, int64_t *sum, acto_stats_t *st)
{
    enum { N = 16 };
    acto_config_t cfg;
    acto_config_init(&cfg);
    cfg.workers = 2;
    cfg.trace_path = trace;
    acto_runtime_t *rt;
    assert_int_equal(acto_runtime_new(&rt, &cfg), 0);
    acto_pid_t p[N];
    *sum = 0;
    for (int i = 0; i < N; i++)
        assert_int_equal(acto_spawn(acto_root(rt), &ring, sum, &p[i]), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(acto_send_fmt(acto_root(rt), p[i], NEXT, "p", p[(i + 1) % N]), 0);
    long tokens = (long)tu_scale(8, 2), hops = (long)tu_scale(2000, 100);
    for (long k = 0; k < tokens; k++)
        assert_int_equal(acto_send_i64(acto_root(rt), p[k % N], TOKEN, hops - k), 0);
    tu_run(rt);
    *st = tu_stats(rt);
    acto_runtime_free(rt);
}

static void test_on_off_same_results(void **state)
{
    (void)state;
    tmp_t tmp;
    tmp_make(&tmp);
    int64_t off_sum, on_sum;
    acto_stats_t off, on;
    ring_run(NULL, &off_sum, &off);
    ring_run(tmp.path, &on_sum, &on);
    assert_true(off_sum > 0);
    assert_int_equal(on_sum, off_sum);
    assert_int_equal(on.messages, off.messages);
    assert_int_equal(on.spawned, off.spawned);
    assert_int_equal(on.dead_letters, off.dead_letters);
    ttr_trace_t t;
    load(tmp.path, &t, NULL);
    assert_int_equal(count_kind(&t, ACTO_TRACE_RECV_BEGIN), on.messages);
    ttr_free(&t);
    unlink(tmp.path);
}

/* ---- a message queued across two traces ----------------------------------------------
 * A worker sends itself BUMPs, the first one stops the run; the rest are
 * handled in the next run, recorded into a new trace, by the same worker
 * that sent them in the old one (trace.h T5). */
enum { GO = 1, BUMP = 2, NBUMP = 1000 };

static int bumper_recv(acto_ctx_t *ctx, void *st, const acto_msg_t *m)
{
    bool *stopped = st;
    if (acto_msg_type(m) == GO)
        for (int i = 0; i < NBUMP; i++)
            assert_int_equal(acto_send_empty(ctx, acto_self(ctx), BUMP), 0);
    else if (!*stopped) {
        *stopped = true;
        acto_runtime_stop(acto_ctx_runtime(ctx));
    }
    return 0;
}
static const acto_behavior_t bumper = {
    .name = "bumper", .state_size = sizeof(bool), .receive = bumper_recv };

static void test_queued_across_traces(void **state)
{
    (void)state;
    tmp_t a, b;
    tmp_make(&a);
    tmp_make(&b);
    acto_runtime_t *rt = tu_runtime(1);
    acto_pid_t p;
    assert_int_equal(acto_trace_start(rt, a.path), 0);
    assert_int_equal(acto_spawn(acto_root(rt), &bumper, NULL, &p), 0);
    assert_int_equal(acto_send_empty(acto_root(rt), p, GO), 0);
    assert_int_equal(acto_runtime_run(rt), 0);
    assert_int_equal(acto_trace_stop(rt), 0);
    ttr_trace_t t;
    load(a.path, &t, NULL);
    size_t first = count_kind(&t, ACTO_TRACE_RECV_BEGIN);
    assert_true(first >= 2 && first < 1 + NBUMP);   /* some BUMPs left queued */
    ttr_free(&t);

    assert_int_equal(acto_trace_start(rt, b.path), 0);
    tu_run(rt);
    acto_runtime_free(rt);
    load(b.path, &t, NULL);
    assert_int_equal(count_kind(&t, ACTO_TRACE_RECV_BEGIN), 1 + NBUMP - first);
    for (size_t i = 0; i < t.n; i++)
        if (t.rec[i].kind == ACTO_TRACE_RECV_BEGIN)
            assert_true(t.rec[i].v[1] == p && t.rec[i].v[2] == BUMP);
    ttr_free(&t);
    unlink(a.path);
    unlink(b.path);
}

/* ---- reading a trace while it is written; kill -9 ------------------------------------
 * A child process records a ring of two actors passing one token, then
 * idles without stopping the trace.  While it runs, every read of the file
 * is whole records or a record cut short at the end, never corruption; once
 * it is idle its workers have handed everything over, so the file holds
 * every receive, and still does after kill -9. */
static void test_read_while_written_kill9(void **state)
{
    (void)state;
    tmp_t tmp;
    tmp_make(&tmp);
    long hops = (long)tu_scale(200000, 20000);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        acto_config_t cfg;
        acto_config_init(&cfg);
        cfg.workers = 2;
        cfg.trace_path = tmp.path;
        acto_runtime_t *rt;
        int64_t sum = 0;
        acto_pid_t p[2];
        if (acto_runtime_new(&rt, &cfg) || acto_spawn(acto_root(rt), &ring, &sum, &p[0]) ||
            acto_spawn(acto_root(rt), &ring, &sum, &p[1]) ||
            acto_send_fmt(acto_root(rt), p[0], NEXT, "p", p[1]) ||
            acto_send_fmt(acto_root(rt), p[1], NEXT, "p", p[0]) ||
            acto_send_i64(acto_root(rt), p[0], TOKEN, hops) || acto_runtime_run(rt))
            _exit(1);
        for (;;)
            pause();                     /* idle, trace still on: kill -9 ends it */
    }
    size_t want = 2 + (size_t)hops + 1, got = 0;
    unsigned reads = 0, cut = 0;
    for (int tries = 0; got < want && tries < 20000; tries++) {   /* <= 20 s */
        ttr_trace_t t;
        if (ttr_load(&t, tmp.path, NULL) == 0) {
            reads++;
            if (t.damaged) {
                assert_non_null(strstr(t.error, "truncated"));
                cut++;
            }
            assert_int_equal(t.lost_words, 0);
            got = count_kind(&t, ACTO_TRACE_RECV_BEGIN);
        }
        ttr_free(&t);
        usleep(1000);
    }
    assert_int_equal(kill(child, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(got, want);
    assert_true(reads > 0);
    ttr_trace_t t;
    ttr_model_t m;
    load(tmp.path, &t, &m);              /* nothing cut off: all was handed over */
    assert_int_equal(count_kind(&t, ACTO_TRACE_RECV_BEGIN), want);
    assert_int_equal(count_kind(&t, ACTO_TRACE_RECV_END), want);
    for (size_t i = 0; i < m.nmsgs; i++)
        assert_true(m.msgs[i].send != TTR_NONE && m.msgs[i].begin != TTR_NONE);
    ttr_model_free(&m);
    ttr_free(&t);
    unlink(tmp.path);
}

/* ---- API errors ------------------------------------------------------------------------ */

/* Tries to start and stop tracing from inside run: both must refuse. */
static int starter_recv(acto_ctx_t *ctx, void *st, const acto_msg_t *m)
{
    (void)m;
    int *rc = *(int **)st;
    rc[0] = acto_trace_start(acto_ctx_runtime(ctx), "/tmp/acto-test-never-created");
    rc[1] = acto_trace_stop(acto_ctx_runtime(ctx));
    return 0;
}

static int starter_init(acto_ctx_t *ctx, void *st, const void *arg)
{
    (void)ctx;
    *(const void **)st = arg;
    return 0;
}
static const acto_behavior_t starter = {
    .name = "starter", .state_size = sizeof(int *), .init = starter_init, .receive = starter_recv };

static void test_api_errors(void **state)
{
    (void)state;
    tmp_t tmp;
    tmp_make(&tmp);
    acto_runtime_t *rt = tu_runtime(1);
    assert_int_equal(acto_trace_enabled(rt), 0);
    assert_int_equal(acto_trace_start(NULL, tmp.path), ACTO_EINVAL);
    assert_int_equal(acto_trace_start(rt, NULL), ACTO_EINVAL);
    assert_int_equal(acto_trace_start(rt, ""), ACTO_EINVAL);
    assert_int_equal(acto_trace_stop(rt), ACTO_ESTATE);
    assert_int_equal(acto_trace_start(rt, "/nonexistent-dir/x/trace"), ACTO_ESYS);
    assert_int_equal(acto_trace_enabled(rt), 0);
    assert_int_equal(acto_trace_start(rt, tmp.path), 0);
    assert_int_equal(acto_trace_start(rt, tmp.path), ACTO_ESTATE);
    assert_int_equal(acto_trace_stop(rt), 0);
    assert_int_equal(acto_trace_enabled(rt), 0);
    /* restart into the same file; start/stop refuse while run executes;
     * runtime_free stops it */
    assert_int_equal(acto_trace_start(rt, tmp.path), 0);
    int inside[2] = { 1, 1 };
    acto_pid_t st;
    assert_int_equal(acto_spawn(acto_root(rt), &starter, inside, &st), 0);
    assert_int_equal(acto_send_empty(acto_root(rt), st, 1), 0);
    tu_run(rt);
    assert_int_equal(inside[0], ACTO_ESTATE);
    assert_int_equal(inside[1], ACTO_ESTATE);
    assert_int_equal(access("/tmp/acto-test-never-created", F_OK), -1);
    assert_int_equal(acto_trace_enabled(rt), 1);
    acto_runtime_free(rt);
    ttr_trace_t t;
    load(tmp.path, &t, NULL);
    assert_int_equal(count_kind(&t, ACTO_TRACE_TRACK), 2);
    assert_int_equal(count_kind(&t, ACTO_TRACE_RECV_BEGIN), 1);
    ttr_free(&t);

    /* a config path that cannot be created fails runtime_new */
    acto_config_t cfg;
    acto_config_init(&cfg);
    cfg.workers = 1;
    cfg.trace_path = "/nonexistent-dir/x/trace";
    rt = NULL;
    assert_int_equal(acto_runtime_new(&rt, &cfg), ACTO_ESYS);
    assert_null(rt);
    unlink(tmp.path);
}

/* ---- damaged files ------------------------------------------------------------------------ */

/* A small real trace in memory. */
static char *small_trace(size_t *len)
{
    tmp_t tmp;
    tmp_make(&tmp);
    acto_runtime_t *rt = tu_runtime(1);
    assert_int_equal(acto_trace_start(rt, tmp.path), 0);
    acto_pid_t p[4] = { 0 };
    for (int i = 3; i >= 0; i--)
        assert_int_equal(acto_spawn(acto_root(rt), &hop, i < 3 ? &p[i + 1] : NULL, &p[i]), 0);
    assert_int_equal(acto_send_empty(acto_root(rt), p[0], 1), 0);
    tu_run(rt);
    acto_runtime_free(rt);
    FILE *f = fopen(tmp.path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    unlink(tmp.path);
    return buf;
}

/* The same event: fields and string (whose pointer, in v[5]'s place,
 * points into each trace's own copy of the file). */
static bool same_rec(const ttr_rec_t *a, const ttr_rec_t *b)
{
    bool str = ttr_rec_has_str(a);
    return a->ts == b->ts && a->kind == b->kind && a->track == b->track &&
           !memcmp(a->v, b->v, (TTR_NV - str) * sizeof a->v[0]) && a->slen == b->slen &&
           (!str || !memcmp(a->str, b->str, a->slen));
}

/* Every record of part is also in whole. */
static void assert_subset(const ttr_trace_t *part, const ttr_trace_t *whole)
{
    for (size_t i = 0; i < part->n; i++) {
        bool found = false;
        for (size_t j = 0; j < whole->n && !found; j++)
            found = same_rec(&part->rec[i], &whole->rec[j]);
        assert_true(found);
    }
}

static void test_truncated(void **state)
{
    (void)state;
    size_t len;
    char *buf = small_trace(&len);
    ttr_trace_t whole, cut;
    assert_int_equal(ttr_load_mem(&whole, buf, len, NULL), 0);
    assert_false(whole.damaged);
    assert_true(whole.n > 20);
    size_t prev = 0, clean_cuts = 0, clean_n = 0, partial = 0;
    for (size_t at = 0; at < len; at++) {
        int rc = ttr_load_mem(&cut, buf, at, NULL);
        if (rc != 0) {               /* only a cut inside magic or header */
            assert_true(strlen(cut.error) > 0);
            assert_int_equal(prev, 0);
        } else {
            assert_true(cut.n >= prev && cut.n <= whole.n);
            assert_subset(&cut, &whole);
            if (cut.damaged) {
                assert_non_null(strstr(cut.error, "truncated"));
                assert_true(cut.damage_offset < at);
                partial += cut.n > clean_n;   /* whole units of a cut block */
            } else {
                clean_cuts++;        /* exactly at a record boundary */
                clean_n = cut.n;
            }
            prev = cut.n;
        }
        ttr_free(&cut);
    }
    assert_true(clean_cuts >= 1 && clean_cuts <= whole.n + 1);
    assert_true(partial > 0);
    ttr_free(&whole);
    free(buf);
}

/* Record boundaries of a trace in memory: offsets where records start
 * (after magic and header); returns how many. */
static size_t record_starts(const char *buf, size_t len, size_t *at, size_t cap)
{
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    msgpack_object o;
    size_t off = 8, n = 0;
    assert_int_equal(msgpack_unpack(buf, len, &off, &z, &o), MSGPACK_UNPACK_EXTRA_BYTES);
    while (off < len && n < cap) {
        at[n++] = off;
        assert_int_not_equal(msgpack_unpack(buf, len, &off, &z, &o), MSGPACK_UNPACK_PARSE_ERROR);
    }
    msgpack_zone_destroy(&z);
    return n;
}

/* File offset of the units of the block record at off. */
static size_t bin_data(const char *buf, size_t len, size_t off)
{
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    msgpack_object o;
    assert_int_not_equal(msgpack_unpack(buf, len, &off, &z, &o), MSGPACK_UNPACK_PARSE_ERROR);
    assert_int_equal(o.type, MSGPACK_OBJECT_ARRAY);
    assert_true(o.via.array.size >= 10 && o.via.array.ptr[9].type == MSGPACK_OBJECT_BIN);
    size_t at = (size_t)(o.via.array.ptr[9].via.bin.ptr - buf);
    msgpack_zone_destroy(&z);
    return at;
}

/* Records decoded from the first `len` bytes (a clean or partial cut). */
static size_t records_in(const char *buf, size_t len)
{
    ttr_trace_t t;
    assert_int_equal(ttr_load_mem(&t, buf, len, NULL), 0);
    size_t n = t.n;
    ttr_free(&t);
    return n;
}

static void test_corrupt(void **state)
{
    (void)state;
    size_t len;
    char *buf = small_trace(&len);
    ttr_trace_t whole, bad;
    assert_int_equal(ttr_load_mem(&whole, buf, len, NULL), 0);
    size_t at[64];
    size_t nblk = record_starts(buf, len, at, 64);
    assert_true(nblk >= 2);              /* the root's block, the worker's */
    size_t mid = at[nblk / 2], before = records_in(buf, mid);
    assert_true(before > 0 && before < whole.n);
    /* 0xc1 is never valid msgpack; a record that is a map is not a record;
     * a first unit of kind 0x3f is no kind of version 2. */
    char *copy = malloc(len);
    assert_non_null(copy);
    const char poison[] = { (char)0xc1, (char)0x80 };
    for (int k = 0; k < 3; k++) {
        memcpy(copy, buf, len);
        size_t off = k < 2 ? mid : bin_data(buf, len, mid);
        copy[off] = k < 2 ? poison[k] : 0x3f;
        assert_int_equal(ttr_load_mem(&bad, copy, len, NULL), 0);
        assert_true(bad.damaged);
        assert_int_equal(bad.damage_offset, off);
        assert_int_equal(bad.n, before);
        assert_non_null(strstr(bad.error, "corrupt"));
        assert_subset(&bad, &whole);
        ttr_free(&bad);
    }
    /* bad magic */
    memcpy(copy, buf, len);
    copy[0] = 'X';
    assert_int_equal(ttr_load_mem(&bad, copy, len, NULL), -1);
    assert_non_null(strstr(bad.error, "magic"));
    ttr_free(&bad);
    free(copy);
    ttr_free(&whole);
    free(buf);
}

/* Hand-made per-event records (version 1's form, still valid in version
 * 2): kinds this reader does not know are skipped; extra fields on known
 * kinds are ignored; missing ones are damage. */
static size_t craft(char *out, int variant)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_sbuffer_write(&sb, ACTO_TRACE_MAGIC, 8);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str(&pk, 7);
    msgpack_pack_str_body(&pk, "version", 7);
    msgpack_pack_uint32(&pk, variant == 3 ? ACTO_TRACE_VERSION + 1 : variant == 4 ? 1 : ACTO_TRACE_VERSION);
    msgpack_pack_str(&pk, 6);
    msgpack_pack_str_body(&pk, "future", 6);   /* unknown header key */
    msgpack_pack_true(&pk);
    /* [99, 5, 0, "x", {}]: an unknown kind */
    msgpack_pack_array(&pk, 5);
    msgpack_pack_uint32(&pk, 99);
    msgpack_pack_uint32(&pk, 5);
    msgpack_pack_uint32(&pk, 0);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "x", 1);
    msgpack_pack_map(&pk, 0);
    /* a reserved kind the reader knows: io_complete with a negative result */
    msgpack_pack_array(&pk, 8);
    msgpack_pack_uint32(&pk, ACTO_TRACE_IO_COMPLETE);
    msgpack_pack_uint32(&pk, 4);
    msgpack_pack_uint32(&pk, 0);
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_uint32(&pk, 3);
    msgpack_pack_uint32(&pk, 9);
    msgpack_pack_int64(&pk, -11);
    msgpack_pack_uint64(&pk, 268435456);
    /* EXIT with an extra field (variant 0) or a missing one (variant 1) */
    msgpack_pack_array(&pk, variant == 1 ? 4 : 6);
    msgpack_pack_uint32(&pk, ACTO_TRACE_EXIT);
    msgpack_pack_uint32(&pk, 6);
    msgpack_pack_uint32(&pk, 0);
    msgpack_pack_uint64(&pk, 77);
    if (variant != 1) {
        msgpack_pack_int64(&pk, -5);
        msgpack_pack_str(&pk, 3);
        msgpack_pack_str_body(&pk, "new", 3);
    }
    /* a record that is not an array (variant 2) */
    if (variant == 2)
        msgpack_pack_uint32(&pk, 3);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint32(&pk, ACTO_TRACE_WAKE);
    msgpack_pack_uint32(&pk, 7);
    msgpack_pack_uint32(&pk, 0);
    size_t n = sb.size;
    memcpy(out, sb.data, n);
    msgpack_sbuffer_destroy(&sb);
    return n;
}

static void test_unknown_kinds(void **state)
{
    (void)state;
    char buf[256];
    ttr_trace_t t;
    size_t n = craft(buf, 0);
    FILE *warn = tmpfile();
    assert_non_null(warn);
    assert_int_equal(ttr_load_mem(&t, buf, n, warn), 0);
    assert_false(t.damaged);
    assert_int_equal(t.skipped, 1);
    assert_int_equal(t.n, 3);
    assert_int_equal(t.rec[0].kind, ACTO_TRACE_IO_COMPLETE);
    assert_int_equal(t.rec[0].v[2], 9);
    assert_int_equal((int64_t)t.rec[0].v[3], -11);
    assert_int_equal(t.rec[0].v[4], 268435456);
    assert_int_equal(t.rec[1].kind, ACTO_TRACE_EXIT);
    assert_int_equal(t.rec[1].v[0], 77);
    assert_int_equal((int64_t)t.rec[1].v[1], -5);
    assert_int_equal(t.rec[2].kind, ACTO_TRACE_WAKE);
    assert_true(ftell(warn) > 0);        /* warned about kind 99 */
    fclose(warn);
    ttr_free(&t);

    n = craft(buf, 1);                   /* missing field: damage, earlier records kept */
    assert_int_equal(ttr_load_mem(&t, buf, n, NULL), 0);
    assert_true(t.damaged);
    assert_int_equal(t.n, 1);
    assert_non_null(strstr(t.error, "fields"));
    ttr_free(&t);

    n = craft(buf, 2);                   /* not a record */
    assert_int_equal(ttr_load_mem(&t, buf, n, NULL), 0);
    assert_true(t.damaged);
    assert_int_equal(t.n, 2);
    ttr_free(&t);

    n = craft(buf, 4);                   /* version 1: per-event records, still read */
    assert_int_equal(ttr_load_mem(&t, buf, n, NULL), 0);
    assert_false(t.damaged);
    assert_int_equal(t.version, 1);
    assert_int_equal(t.n, 3);
    ttr_free(&t);

    n = craft(buf, 3);                   /* newer format version */
    assert_int_equal(ttr_load_mem(&t, buf, n, NULL), -1);
    assert_non_null(strstr(t.error, "version"));
    ttr_free(&t);
}

/* ---- version 2 units, hand-made ----------------------------------------------------
 * Every unit kind with known field values, a unit kind from the future, a
 * block after a gap, and a block that starts inside a receive. */
#define U(kind, ts) ((uint64_t)(ts) << 8 | (kind))

typedef struct { msgpack_sbuffer sb; msgpack_packer pk; } craft_t;

static void craft_start(craft_t *c, unsigned version)
{
    msgpack_sbuffer_init(&c->sb);
    msgpack_packer_init(&c->pk, &c->sb, msgpack_sbuffer_write);
    msgpack_sbuffer_write(&c->sb, ACTO_TRACE_MAGIC, 8);
    msgpack_pack_map(&c->pk, 2);
    msgpack_pack_str(&c->pk, 7);
    msgpack_pack_str_body(&c->pk, "version", 7);
    msgpack_pack_uint32(&c->pk, version);
    msgpack_pack_str(&c->pk, 7);
    msgpack_pack_str_body(&c->pk, "workers", 7);
    msgpack_pack_uint32(&c->pk, 1);
}

/* A block of track 0 whose clock runs at 2 ticks per ns. */
static void craft_block(craft_t *c, uint64_t seq, uint64_t wbase, uint64_t cause, uint64_t self,
                        uint64_t bts, const uint64_t *w, size_t n)
{
    uint64_t head[9] = { ACTO_TRACE_BLOCK, 1000, 0, 2000, seq, wbase, cause, self, bts };
    msgpack_pack_array(&c->pk, 10);
    for (int i = 0; i < 9; i++)
        msgpack_pack_uint64(&c->pk, head[i]);
    msgpack_pack_bin(&c->pk, n * 8);
    for (size_t i = 0; i < n; i++) {
        uint64_t le = htole64(w[i]);
        msgpack_pack_bin_body(&c->pk, &le, 8);
    }
}

static void test_v2_units(void **state)
{
    (void)state;
    enum { P1 = 0x10000001, P2 = 0x10000002, P3 = 0x10000003, P9 = 0x10000009 };
    const uint64_t id1 = 1ull << 48 | 1, id2 = 1ull << 48 | 2, id3 = 1ull << 48 | 3;
    const uint64_t x = 2ull << 48 | 5, y = 2ull << 48 | 6;
    uint64_t name = 0;
    memcpy(&name, "abc", 3);
    const uint64_t b1[] = {
        U(ACTO_TRACE_U_TRACK, 10), 0ull << 32 | 0,
        U(ACTO_TRACE_U_SEND_X, 20), 0, 3ull << 32 | 7, P1,            /* from outside */
        U(ACTO_TRACE_U_RECV, 40), id1,                                  /* its receive */
        U(70, 3) | 3 << 8, 1, 2,                                        /* a future kind */
        9ull << 8 | 2ull << 40 | ACTO_TRACE_U_SEND, P2,                 /* inside: id2 */
        U(ACTO_TRACE_U_SPAWN, 50), P3, P1, 3, le64toh(name),
        4ull << 8 | ACTO_TRACE_U_DEPTH, P1,
        U(ACTO_TRACE_U_RECV_END, 60),
        U(ACTO_TRACE_U_EXIT, 70), P3, (uint64_t)-3,
        U(ACTO_TRACE_U_STEAL, 80), 2ull << 32 | 1,
        U(ACTO_TRACE_U_SLEEP, 90), U(ACTO_TRACE_U_WAKE, 100),
        U(ACTO_TRACE_U_RECV_X, 110), x, P2, 9,                          /* from track 1 */
        U(ACTO_TRACE_U_SEND_X, 120), P9, 0ull << 32 | 1, P1,            /* forwarded: id3 */
        U(ACTO_TRACE_U_RECV_END, 130),
        U(ACTO_TRACE_U_IO_SUBMIT, 140), 5ull << 32 | 2, 99, P1,
        U(ACTO_TRACE_U_IO_COMPLETE, 150), 5ull << 32 | 2, 99, (uint64_t)-104, P1,
        U(ACTO_TRACE_U_TIMER_FIRE, 160), 1234, P2,
        U(ACTO_TRACE_U_RECV_LAST, 170), U(ACTO_TRACE_U_RECV_END, 172),  /* of id3 */
    };
    size_t n1 = sizeof b1 / 8;
    /* five words and two sends lost; then a receive of a lost send */
    const uint64_t b2[] = { U(ACTO_TRACE_U_RECV, 200), 1ull << 48 | 5, U(ACTO_TRACE_U_RECV_END, 210),
                            U(ACTO_TRACE_U_RECV_X, 220), y, P2, 3 };
    /* continues b2 inside the receive of y */
    const uint64_t b3[] = { 4ull << 8 | ACTO_TRACE_U_SEND, P1, U(ACTO_TRACE_U_RECV_END, 240) };
    for (int variant = 0; variant < 2; variant++) {
        craft_t c;
        craft_start(&c, ACTO_TRACE_VERSION);
        craft_block(&c, 0, 0, 0, 0, 0, b1, n1);
        craft_block(&c, 5, n1 + 5, 0, 0, 0, b2, 7);
        /* variant 1: the header says no receive is in progress */
        craft_block(&c, 5, n1 + 12, variant ? 0 : y, variant ? 0 : P2, 220, b3, 3);
        ttr_trace_t t;
        FILE *warn = tmpfile();
        assert_int_equal(ttr_load_mem(&t, c.sb.data, c.sb.size, warn), 0);
        msgpack_sbuffer_destroy(&c.sb);
        assert_true(ftell(warn) > 0);    /* the future kind, the gap */
        fclose(warn);
        assert_int_equal(t.skipped, 1);
        assert_int_equal(t.lost_words, 5);
        if (variant) {
            assert_true(t.damaged);
            assert_non_null(strstr(t.error, "header"));
            ttr_free(&t);
            continue;
        }
        assert_false(t.damaged);
        const ttr_rec_t *r = find(&t, ACTO_TRACE_TRACK, -1, 0);
        assert_true(r && str_is(r, "worker") && r->ts == 5);
        r = find(&t, ACTO_TRACE_SEND, 0, id1);
        assert_true(r && r->ts == 10 && r->v[1] == 0 && r->v[2] == P1 && r->v[3] == 7 &&
                    r->v[4] == 3 && r->v[5] == 0);
        r = find(&t, ACTO_TRACE_RECV_BEGIN, 0, id1);
        assert_true(r && r->ts == 20 && r->v[1] == P1 && r->v[2] == 7);
        r = find(&t, ACTO_TRACE_SEND, 0, id2);   /* stamped with its receive's begin */
        assert_true(r && r->ts == 20 && r->v[1] == P1 && r->v[2] == P2 && r->v[3] == 9 &&
                    r->v[4] == 2 && r->v[5] == id1);
        r = find(&t, ACTO_TRACE_SPAWN, 0, P3);
        assert_true(r && r->ts == 25 && r->v[1] == P1 && r->v[2] == id1 && str_is(r, "abc"));
        r = find(&t, ACTO_TRACE_DEPTH, 0, P1);
        assert_true(r && r->ts == 20 && r->v[1] == 4);
        r = find(&t, ACTO_TRACE_RECV_END, 0, id1);
        assert_true(r && r->ts == 30);
        r = find(&t, ACTO_TRACE_EXIT, 0, P3);
        assert_true(r && r->ts == 35 && (int64_t)r->v[1] == -3);
        r = find(&t, ACTO_TRACE_STEAL, -1, 0);
        assert_true(r && r->ts == 40 && r->v[0] == 1 && r->v[1] == 2);
        assert_true(find(&t, ACTO_TRACE_SLEEP, -1, 0)->ts == 45);
        assert_true(find(&t, ACTO_TRACE_WAKE, -1, 0)->ts == 50);
        r = find(&t, ACTO_TRACE_RECV_BEGIN, 0, x);
        assert_true(r && r->ts == 55 && r->v[1] == P2 && r->v[2] == 9);
        r = find(&t, ACTO_TRACE_SEND, 0, id3);
        assert_true(r && r->ts == 60 && r->v[1] == P9 && r->v[2] == P1 && r->v[3] == 1 &&
                    r->v[4] == 0 && r->v[5] == x);
        r = find(&t, ACTO_TRACE_RECV_END, 0, x);
        assert_true(r && r->ts == 65);
        r = find(&t, ACTO_TRACE_IO_SUBMIT, -1, 0);
        assert_true(r && r->v[0] == 2 && r->v[1] == 5 && r->v[2] == 99 && r->v[3] == P1);
        r = find(&t, ACTO_TRACE_IO_COMPLETE, -1, 0);
        assert_true(r && r->v[0] == 2 && r->v[1] == 5 && r->v[2] == 99 &&
                    (int64_t)r->v[3] == -104 && r->v[4] == P1);
        r = find(&t, ACTO_TRACE_TIMER_FIRE, -1, 0);
        assert_true(r && r->ts == 80 && r->v[0] == 1234 && r->v[1] == P2);
        r = find(&t, ACTO_TRACE_RECV_BEGIN, 0, id3);   /* the track's latest send */
        assert_true(r && r->ts == 85 && r->v[1] == P1 && r->v[2] == 1);
        assert_true(find(&t, ACTO_TRACE_RECV_END, 0, id3)->ts == 86);
        /* after the gap: the lost send's receiver is unknown, not made up */
        r = find(&t, ACTO_TRACE_RECV_BEGIN, 0, 1ull << 48 | 5);
        assert_true(r && r->ts == 100 && r->v[1] == 0 && r->v[2] == 0);
        /* a block that starts inside a receive: the send after the gap is
         * send number 6, from P2, caused by y, stamped with y's begin */
        r = find(&t, ACTO_TRACE_SEND, 0, 1ull << 48 | 6);
        assert_true(r && r->ts == 110 && r->v[1] == P2 && r->v[2] == P1 && r->v[3] == 4 &&
                    r->v[5] == y);
        assert_true(find(&t, ACTO_TRACE_RECV_END, 0, y)->ts == 120);
        ttr_free(&t);
    }

    /* units that break the rules: a send outside a receive; a receive of a
     * message the track did not send; a unit past the block's end; a
     * receive of the latest send before any */
    const uint64_t bad[4][3] = {
        { 1ull << 8 | ACTO_TRACE_U_SEND, P1, U(ACTO_TRACE_U_WAKE, 1) },
        { U(ACTO_TRACE_U_RECV, 1), 2ull << 48 | 1, U(ACTO_TRACE_U_WAKE, 1) },
        { U(ACTO_TRACE_U_WAKE, 1), U(ACTO_TRACE_U_EXIT, 2), P1 },
        { U(ACTO_TRACE_U_RECV_LAST, 1), U(ACTO_TRACE_U_WAKE, 1), U(ACTO_TRACE_U_WAKE, 2) },
    };
    for (int k = 0; k < 4; k++) {
        craft_t c;
        craft_start(&c, ACTO_TRACE_VERSION);
        craft_block(&c, 0, 0, 0, 0, 0, bad[k], 3);
        ttr_trace_t t;
        assert_int_equal(ttr_load_mem(&t, c.sb.data, c.sb.size, NULL), 0);
        assert_true(t.damaged);
        assert_non_null(strstr(t.error, "corrupt"));
        assert_int_equal(t.n, k == 2 ? 1 : 0);
        assert_true(t.damage_offset == c.sb.size - 24 + (k == 2 ? 8 : 0));
        msgpack_sbuffer_destroy(&c.sb);
        ttr_free(&t);
    }
}

/* ---- pub/sub: publish and deliver events ------------------------------------------
 * In process: A subscribes t.a; B subscribes t.* and t.a (two deliveries of
 * t.a).  P, on GO, publishes t.a, t.zz and x.y (no subscriber).  Wire (the
 * broker's path, through a bus of its own): W subscribes w.* (batched) and
 * w.a with max 5 (one message per frame), and two batches are published:
 * [w.a, w.a] and [w.a, w.b]. */
enum { PS_GO = 20, D_A = 21, D_B1 = 22, D_B2 = 23 };

typedef struct { acto_pubsub_t *ps; const char *pat[2]; uint32_t type[2]; } psub_t;

static int psub_init(acto_ctx_t *ctx, void *st, const void *arg)
{
    (void)st;
    const psub_t *p = arg;
    for (int i = 0; i < 2 && p->pat[i]; i++) {
        int rc = acto_subscribe(ctx, p->ps, p->pat[i], NULL, p->type[i], NULL);
        if (rc)
            return rc;
    }
    return 0;
}
static const acto_behavior_t psub = { .name = "psub", .init = psub_init, .receive = sink_recv };

static int pubber_recv(acto_ctx_t *ctx, const acto_msg_t *m, void *arg)
{
    acto_pubsub_t *ps = arg;
    if (acto_msg_type(m) == PS_GO) {
        CHECK(acto_publish(ctx, ps, "t.a", "1", 1) == 0);
        CHECK(acto_publish(ctx, ps, "t.zz", "2", 1) == 0);
        CHECK(acto_publish(ctx, ps, "x.y", "3", 1) == 0);
    }
    return 0;
}

static void pub_batch(acto_runtime_t *rt, chan_bus_t *bus, const char *s1, const char *s2)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    const char *subj[2] = { s1, s2 };
    for (int i = 0; i < 2; i++) {
        msgpack_pack_str_with_body(&pk, subj[i], strlen(subj[i]));
        msgpack_pack_nil(&pk);
        msgpack_pack_bin_with_body(&pk, "p", 1);
    }
    assert_int_equal(chan_pub_batch(acto_root(rt), bus, 0, sb.data, sb.size, 2), 0);
    msgpack_sbuffer_destroy(&sb);
}

/* The units by hand: fields, times, and the rules a reader enforces. */
static void test_pubsub_units(void **state)
{
    (void)state;
    enum { P1 = 0x10000001, P2 = 0x10000002 };
    uint64_t ab = 0;
    memcpy(&ab, "ab", 2);
    ab = le64toh(ab);
    const uint64_t pub = 7ull << 32 | 2 << 16 | 2 << 8 | ACTO_TRACE_U_PUBLISH;
    const uint64_t dlv = 2 << 16 | 3 << 8 | ACTO_TRACE_U_DELIVER;
    const uint64_t ok[] = {
        U(ACTO_TRACE_U_SEND_X, 20), 0, 0, P1,                           /* id 1 */
        U(ACTO_TRACE_U_RECV_LAST, 40),
        U(ACTO_TRACE_U_SEND_X, 60), P2, 5, P2,                          /* id 2 */
        dlv, P2, ab,
        pub, ab,
        U(ACTO_TRACE_U_RECV_END, 80),
    };
    craft_t c;
    craft_start(&c, ACTO_TRACE_VERSION);
    craft_block(&c, 0, 0, 0, 0, 0, ok, sizeof ok / 8);
    ttr_trace_t t;
    assert_int_equal(ttr_load_mem(&t, c.sb.data, c.sb.size, NULL), 0);
    msgpack_sbuffer_destroy(&c.sb);
    assert_false(t.damaged);
    assert_int_equal(t.skipped, 0);
    const ttr_rec_t *r = find(&t, ACTO_TRACE_PUBLISH, -1, 0);
    assert_true(r && str_is(r, "ab") && r->v[0] == (1ull << 48 | 1) && r->v[1] == 7 &&
                r->ts == 20);          /* the receive's begin */
    r = find(&t, ACTO_TRACE_DELIVER, -1, 0);
    assert_true(r && str_is(r, "ab") && r->v[0] == (1ull << 48 | 2) && r->v[1] == P2 &&
                r->ts == 30);          /* its send's time */
    ttr_free(&t);

    /* a publish outside a receive; a deliver before any send; a subject
     * longer than its unit */
    const uint64_t bad[3][3] = {
        { U(ACTO_TRACE_U_WAKE, 1), pub, ab },
        { U(ACTO_TRACE_U_WAKE, 1), 2 << 8 | ACTO_TRACE_U_DELIVER, P2 },
        { U(ACTO_TRACE_U_WAKE, 1), (pub & ~0xffff0000ull) | 9 << 16, ab },
    };
    for (int k = 0; k < 3; k++) {
        craft_start(&c, ACTO_TRACE_VERSION);
        craft_block(&c, 0, 0, 0, 0, 0, bad[k], 3);
        assert_int_equal(ttr_load_mem(&t, c.sb.data, c.sb.size, NULL), 0);
        const char *why[] = { "receive in progress", "without a send", "subject runs past" };
        assert_true(t.damaged);
        assert_non_null(strstr(t.error, why[k]));
        assert_int_equal(t.n, 1);
        assert_true(t.damage_offset == c.sb.size - 16);
        msgpack_sbuffer_destroy(&c.sb);
        ttr_free(&t);
    }
}

/* The PUBLISH of subject s (exactly one). */
static const ttr_rec_t *find_pub(const ttr_trace_t *t, const char *s)
{
    const ttr_rec_t *found = NULL;
    for (size_t i = 0; i < t->n; i++)
        if (t->rec[i].kind == ACTO_TRACE_PUBLISH && str_is(&t->rec[i], s)) {
            assert_null(found);
            found = &t->rec[i];
        }
    assert_non_null(found);
    return found;
}

/* DELIVERs of subject s to pid whose send has type `type`. */
static size_t count_deliver(const ttr_trace_t *t, const char *s, uint64_t pid, uint64_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const ttr_rec_t *d = &t->rec[i];
        if (d->kind != ACTO_TRACE_DELIVER || !str_is(d, s) || d->v[1] != pid)
            continue;
        const ttr_rec_t *send = find(t, ACTO_TRACE_SEND, 0, d->v[0]);
        n += send && send->v[3] == type;
    }
    return n;
}

static void test_pubsub_events(void **state)
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
    acto_pubsub_t *ps;
    chan_bus_t *bus;
    assert_int_equal(acto_pubsub_new(acto_root(rt), 1, &ps), 0);
    assert_int_equal(chan_bus_start(acto_root(rt), 1, &bus), 0);
    psub_t a = { ps, { "t.a" }, { D_A } }, b = { ps, { "t.*", "t.a" }, { D_B1, D_B2 } };
    acto_pid_t pa, pb, pw;
    assert_int_equal(acto_spawn(acto_root(rt), &psub, &a, &pa), 0);
    assert_int_equal(acto_spawn(acto_root(rt), &psub, &b, &pb), 0);
    acto_pid_t pp = tu_spawn_fn(acto_root(rt), pubber_recv, ps);
    assert_int_equal(acto_send_i64(acto_root(rt), pp, PS_GO, 0), 0);
    tu_capture_t cap = { 0 };
    pw = tu_spawn_capture(acto_root(rt), &cap);
    assert_int_equal(chan_sub(acto_root(rt), bus, pw, 1, CHAN_WIRE, 0, "w.*", 3, NULL, 0, 0), 0);
    assert_int_equal(chan_sub(acto_root(rt), bus, pw, 2, CHAN_WIRE, 0, "w.a", 3, NULL, 0, 5), 0);
    pub_batch(rt, bus, "w.a", "w.a");
    pub_batch(rt, bus, "w.a", "w.b");
    tu_run(rt);
    NO_FAILURES();
    assert_int_equal(cap.n, 2 + 3);       /* two batches, three single frames */
    acto_pubsub_free(acto_root(rt), ps);
    chan_bus_stop(acto_root(rt), bus);
    tu_run(rt);
    chan_bus_free(bus);
    tu_capture_free(&cap);
    acto_runtime_free(rt);

    ttr_trace_t t;
    ttr_model_t m;
    load(tmp.path, &t, &m);
    /* A publish names the message that carried it: P's CHAN_PUB, caused by GO. */
    const ttr_rec_t *go = find(&t, ACTO_TRACE_SEND, 2, pp);
    assert_true(go && go->v[3] == PS_GO);
    const ttr_rec_t *r = find_pub(&t, "t.a");
    assert_int_equal(r->v[1], 3);
    const ttr_rec_t *carrier = find(&t, ACTO_TRACE_SEND, 0, r->v[0]);
    assert_true(carrier && carrier->v[1] == pp && carrier->v[5] == go->v[0]);
    assert_non_null(find(&t, ACTO_TRACE_RECV_BEGIN, 0, r->v[0]));
    ttr_msg_t *g = ttr_message(&m, r->v[0]);
    assert_true(g && g->send != TTR_NONE && g->begin != TTR_NONE);
    assert_int_equal(find_pub(&t, "t.zz")->v[1], 1);
    assert_int_equal(find_pub(&t, "x.y")->v[1], 0);
    /* Each local delivery: its own send (from the publisher to the
     * subscriber, of the subscriber's type), received by the subscriber. */
    assert_int_equal(count_deliver(&t, "t.a", pa, D_A), 1);
    assert_int_equal(count_deliver(&t, "t.a", pb, D_B1), 1);
    assert_int_equal(count_deliver(&t, "t.a", pb, D_B2), 1);
    assert_int_equal(count_deliver(&t, "t.zz", pb, D_B1), 1);
    for (size_t i = 0; i < t.n; i++) {
        const ttr_rec_t *d = &t.rec[i];
        if (d->kind != ACTO_TRACE_DELIVER)
            continue;
        const ttr_rec_t *send = find(&t, ACTO_TRACE_SEND, 0, d->v[0]);
        assert_true(send && send->v[2] == d->v[1] && send->ts <= d->ts);
        assert_true(d->v[1] == pw || send->v[1] == pp);
        r = find(&t, ACTO_TRACE_RECV_BEGIN, 0, d->v[0]);
        assert_true(r && r->v[1] == d->v[1]);
    }
    /* Wire: one DELIVER per batch (subject: the batch's, or empty when it
     * holds two) and one per single frame. */
    assert_int_equal(count_kind(&t, ACTO_TRACE_PUBLISH), 3 + 4);
    assert_int_equal(count_kind(&t, ACTO_TRACE_DELIVER), 4 + 5);
    assert_int_equal(count_deliver(&t, "w.a", pw, CHAN_WIRE_BATCH), 1);
    assert_int_equal(count_deliver(&t, "", pw, CHAN_WIRE_BATCH), 1);
    assert_int_equal(count_deliver(&t, "w.a", pw, CHAN_WIRE_ONE), 3);
    size_t n = 0;
    for (size_t i = 0; i < t.n; i++)
        if (t.rec[i].kind == ACTO_TRACE_PUBLISH && t.rec[i].str[0] == 'w')
            n += t.rec[i].v[1];
    assert_int_equal(n, 2 + 2 + 2 + 1);   /* w.a: w.* and w.a; w.b: w.* */
    ttr_model_free(&m);
    ttr_free(&t);
    unlink(tmp.path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_causality),
        cmocka_unit_test(test_no_loss_concurrent),
        cmocka_unit_test(test_thread_track_reuse),
        cmocka_unit_test(test_on_off_same_results),
        cmocka_unit_test(test_queued_across_traces),
        cmocka_unit_test(test_read_while_written_kill9),
        cmocka_unit_test(test_api_errors),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_unknown_kinds),
        cmocka_unit_test(test_v2_units),
        cmocka_unit_test(test_pubsub_units),
        cmocka_unit_test(test_pubsub_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
