/* tests/test_trace.c - trace recording (runtime/trace.c) and reading
 * (tools/trace/reader.c, model.c): every record kind and field round trip,
 * causality, no loss under concurrent senders, damaged files, unknown
 * kinds, API errors, and identical program results with tracing on. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "internal.h"
#include "reader.h"

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

static bool same_rec(const ttr_rec_t *a, const ttr_rec_t *b)
{
    return a->ts == b->ts && a->kind == b->kind && a->track == b->track &&
           !memcmp(a->v, b->v, sizeof a->v) && a->slen == b->slen;
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
    size_t prev = 0, clean_cuts = 0;
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
            } else {
                clean_cuts++;        /* exactly at a record boundary */
            }
            prev = cut.n;
        }
        ttr_free(&cut);
    }
    assert_true(clean_cuts >= 1 && clean_cuts <= whole.n + 1);
    ttr_free(&whole);
    free(buf);
}

static void test_corrupt(void **state)
{
    (void)state;
    size_t len;
    char *buf = small_trace(&len);
    ttr_trace_t whole, bad;
    assert_int_equal(ttr_load_mem(&whole, buf, len, NULL), 0);
    /* Find where the middle record starts (after magic and header). */
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    msgpack_object o;
    size_t off = 8, at = 0, nrec = 0;
    while (off < len && msgpack_unpack(buf, len, &off, &z, &o) != MSGPACK_UNPACK_PARSE_ERROR)
        if (nrec++ == whole.n / 2)
            at = off;                    /* the end of record whole.n/2 - 1 */
    msgpack_zone_destroy(&z);
    assert_int_equal(nrec, whole.n + 1); /* header + records */
    /* 0xc1 is never valid msgpack; a record that is a map is not a record. */
    char *copy = malloc(len);
    assert_non_null(copy);
    const char poison[] = { (char)0xc1, (char)0x80 };
    for (int k = 0; k < 2; k++) {
        memcpy(copy, buf, len);
        copy[at] = poison[k];
        assert_int_equal(ttr_load_mem(&bad, copy, len, NULL), 0);
        assert_true(bad.damaged);
        assert_int_equal(bad.damage_offset, at);
        assert_int_equal(bad.n, whole.n / 2);
        assert_non_null(strstr(bad.error, "corrupt"));
        assert_subset(&bad, &whole);
        ttr_free(&bad);
    }
    /* bad magic, and a version from the future */
    memcpy(copy, buf, len);
    copy[0] = 'X';
    assert_int_equal(ttr_load_mem(&bad, copy, len, NULL), -1);
    assert_non_null(strstr(bad.error, "magic"));
    ttr_free(&bad);
    free(copy);
    ttr_free(&whole);
    free(buf);
}

/* Hand-made records: kinds this reader does not know are skipped; extra
 * fields on known kinds are ignored; missing ones are damage. */
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
    msgpack_pack_uint32(&pk, variant == 3 ? ACTO_TRACE_VERSION + 1 : ACTO_TRACE_VERSION);
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

    n = craft(buf, 3);                   /* newer format version */
    assert_int_equal(ttr_load_mem(&t, buf, n, NULL), -1);
    assert_non_null(strstr(t.error, "version"));
    ttr_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_causality),
        cmocka_unit_test(test_no_loss_concurrent),
        cmocka_unit_test(test_on_off_same_results),
        cmocka_unit_test(test_api_errors),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_unknown_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
