/* tests/test_trace_stream.c - ttr_scan + ttr_stream (acto-trace on big
 * traces) against ttr_load: the same records in the same order, the same
 * damage, and the same summary model, on a crafted trace that has what the
 * merge must get right: a receive whose sends sort before a spawn recorded
 * ahead of them, a receive cut across two blocks, blocks of two tracks
 * interleaved, a receive that begins before its send (clock skew), a
 * delivery, a publish and a gap; then on every cut of that file. */
#define _GNU_SOURCE
#include <endian.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <msgpack.h>
#include <acto/trace.h>

#include "reader.h"

#define U(kind, ts) ((uint64_t)(ts) << 8 | (kind))
#define ID(track, k) ((uint64_t)((track) + 1) << 48 | (k))
enum { P1 = 0x10000001, P2 = 0x10000002, P3 = 0x10000003 };

typedef struct { msgpack_sbuffer sb; msgpack_packer pk; } craft_t;

static void craft_start(craft_t *c)
{
    msgpack_sbuffer_init(&c->sb);
    msgpack_packer_init(&c->pk, &c->sb, msgpack_sbuffer_write);
    msgpack_sbuffer_write(&c->sb, ACTO_TRACE_MAGIC, 8);
    msgpack_pack_map(&c->pk, 2);
    msgpack_pack_str(&c->pk, 7);
    msgpack_pack_str_body(&c->pk, "version", 7);
    msgpack_pack_uint32(&c->pk, ACTO_TRACE_VERSION);
    msgpack_pack_str(&c->pk, 7);
    msgpack_pack_str_body(&c->pk, "workers", 7);
    msgpack_pack_uint32(&c->pk, 1);
}

/* A block of `track` whose clock runs at 2 ticks per ns. */
static void craft_block(craft_t *c, uint64_t track, uint64_t seq, uint64_t wbase, uint64_t cause,
                        uint64_t self, uint64_t bts, const uint64_t *w, size_t n)
{
    uint64_t head[9] = { ACTO_TRACE_BLOCK, 1000, track, 2000, seq, wbase, cause, self, bts };
    msgpack_pack_array(&c->pk, 10);
    for (int i = 0; i < 9; i++)
        msgpack_pack_uint64(&c->pk, head[i]);
    msgpack_pack_bin(&c->pk, n * 8);
    for (size_t i = 0; i < n; i++) {
        uint64_t le = htole64(w[i]);
        msgpack_pack_bin_body(&c->pk, &le, 8);
    }
}

static uint64_t str8(const char *s)
{
    uint64_t v = 0;
    memcpy(&v, s, strlen(s) < 8 ? strlen(s) : 8);
    return le64toh(v);
}

static void craft_trace(craft_t *c)
{
    craft_start(c);
    const uint64_t a[] = {                                  /* track 0, 17 words */
        U(ACTO_TRACE_U_TRACK, 10), 0,
        U(ACTO_TRACE_U_SEND_X, 20), 0, 1, P1,               /* ID(0,1): from outside */
        U(ACTO_TRACE_U_RECV, 40), ID(0, 1),                 /* P1 handles it from 20 ns */
        U(ACTO_TRACE_U_SPAWN, 50), P3, P1, 3, str8("abc"),  /* at 25 ns */
        2ull << 8 | 4ull << 40 | ACTO_TRACE_U_SEND, P2,     /* ID(0,2): at 20 ns, before the spawn */
        7ull << 32 | 2 << 16 | 2 << 8 | ACTO_TRACE_U_PUBLISH, str8("ab"),
    };
    const uint64_t b[] = {                                  /* track 1 */
        U(ACTO_TRACE_U_TRACK, 15), 1,
        U(ACTO_TRACE_U_SEND_X, 90), 0, 3, P1,               /* ID(1,1) at 45 ns */
        U(ACTO_TRACE_U_SLEEP, 95),
    };
    const uint64_t d[] = {                                  /* track 0 again, in P1's receive */
        5ull << 8 | ACTO_TRACE_U_SEND, P2,                  /* ID(0,3) at 20 ns */
        2 << 16 | 3 << 8 | ACTO_TRACE_U_DELIVER, P2, str8("ab"),
        U(ACTO_TRACE_U_RECV_END, 60),
        U(ACTO_TRACE_U_RECV_X, 80), ID(1, 1), P1, 3,         /* at 40 ns: before its send */
        U(ACTO_TRACE_U_RECV_END, 84),
        U(ACTO_TRACE_U_RECV_LAST, 100),                      /* ID(0,3) */
        U(ACTO_TRACE_U_RECV_END, 104),
        U(ACTO_TRACE_U_RECV, 110), ID(0, 2),
        U(ACTO_TRACE_U_RECV_END, 130),
        U(ACTO_TRACE_U_WAKE, 140),
    };
    const uint64_t e[] = {                                  /* track 1 after a gap */
        U(ACTO_TRACE_U_SEND_X, 150), 0, 1, P1,              /* ID(1,3) */
        U(ACTO_TRACE_U_WAKE, 160),
    };
    craft_block(c, 0, 0, 0, 0, 0, 0, a, sizeof a / 8);
    craft_block(c, 1, 0, 0, 0, 0, 0, b, sizeof b / 8);
    craft_block(c, 0, 2, 17, ID(0, 1), P1, 40, d, sizeof d / 8);
    craft_block(c, 1, 2, 20, 0, 0, 0, e, sizeof e / 8);
}

/* ---- the records either way ------------------------------------------------------- */

typedef struct recs { ttr_rec_t *v; size_t n, cap; } recs_t;

static int collect(void *arg, const ttr_rec_t *r, uint64_t ord)
{
    recs_t *x = arg;
    (void)ord;
    if (x->n == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 64;
        x->v = realloc(x->v, x->cap * sizeof *x->v);
        assert_non_null(x->v);
    }
    x->v[x->n++] = *r;
    return 0;
}

static int ignore(void *arg, const ttr_rec_t *r, uint64_t ord)
{
    (void)arg;
    (void)r;
    (void)ord;
    return 0;
}

static void assert_same_rec(const ttr_rec_t *a, const ttr_rec_t *b)
{
    bool str = ttr_rec_has_str(a);
    assert_int_equal(a->ts, b->ts);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->track, b->track);
    assert_memory_equal(a->v, b->v, (TTR_NV - str) * sizeof a->v[0]);
    assert_int_equal(a->slen, b->slen);
    if (str && a->slen)
        assert_memory_equal(a->str, b->str, a->slen);
}

static char *write_tmp(const void *p, size_t n)
{
    char *path = strdup("/tmp/acto-trace-stream-XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
    return path;
}

/* ttr_load and ttr_scan + ttr_stream agree on the file at path. */
static void check_file(const char *path)
{
    ttr_trace_t held, st;
    int rc = ttr_load(&held, path, NULL);
    assert_int_equal(ttr_scan(&st, path, NULL, ignore, NULL), rc);
    if (rc == 0) {
        assert_true(st.streamable);
        assert_int_equal(st.n, held.n);
        assert_int_equal(st.damaged, held.damaged);
        assert_int_equal(st.damage_offset, held.damage_offset);
        assert_string_equal(st.error, held.error);
        assert_int_equal(st.lost_words, held.lost_words);
        recs_t x = { 0 };
        assert_int_equal(ttr_stream(&st, collect, &x), 0);
        assert_int_equal(x.n, held.n);
        for (size_t i = 0; i < x.n; i++)
            assert_same_rec(&x.v[i], &held.rec[i]);
        free(x.v);
    }
    ttr_free(&held);
    ttr_free(&st);
}

static void test_stream_order(void **state)
{
    (void)state;
    craft_t c;
    craft_trace(&c);
    char *path = write_tmp(c.sb.data, c.sb.size);
    ttr_trace_t t;
    assert_int_equal(ttr_load(&t, path, NULL), 0);
    assert_false(t.damaged);
    assert_int_equal(t.lost_words, 13);
    /* what the merge has to reorder: the send at 20 ns after the spawn at 25 */
    size_t spawn = 0, send2 = 0;
    for (size_t i = 0; i < t.n; i++) {
        if (t.rec[i].kind == ACTO_TRACE_SPAWN)
            spawn = i;
        if (t.rec[i].kind == ACTO_TRACE_SEND && t.rec[i].v[0] == ID(0, 2))
            send2 = i;
    }
    assert_true(send2 < spawn && t.rec[send2].ts == 20 && t.rec[spawn].ts == 25);
    ttr_free(&t);
    check_file(path);
    unlink(path);
    free(path);
    /* every cut of the file: the same records and the same damage */
    for (size_t n = 8; n < c.sb.size; n++) {
        path = write_tmp(c.sb.data, n);
        check_file(path);
        unlink(path);
        free(path);
    }
    msgpack_sbuffer_destroy(&c.sb);
}

/* ---- the summary model either way ------------------------------------------------- */

static void assert_same_samples(const ttr_samples_t *a, const ttr_samples_t *b)
{
    assert_int_equal(a->n, b->n);
    if (a->n)
        assert_memory_equal(a->v, b->v, a->n * sizeof *a->v);
}

static void check_models(const char *path)
{
    ttr_trace_t t;
    ttr_model_t m;
    ttr_lite_t l;
    assert_int_equal(ttr_load(&t, path, NULL), 0);
    assert_int_equal(ttr_model_build(&m, &t), 0);
    assert_int_equal(ttr_lite_load(&l, path, NULL), 0);
    assert_int_equal(ttr_model_stream(&l, true, NULL, NULL), 0);
    const ttr_model_t *s = &l.m;
    assert_int_equal(s->nactors, m.nactors);
    assert_int_equal(s->nsent, m.nsent);
    assert_int_equal(s->duration, m.duration);
    for (size_t i = 0; i < m.nactors; i++) {
        const ttr_actor_t *a = &m.actors[i], *b = ttr_actor(s, a->pid);
        assert_true(b == &s->actors[i]);        /* numbered alike: graph --behaviour */
        assert_int_equal(a->in, b->in);
        assert_int_equal(a->out, b->out);
        assert_int_equal(a->busy, b->busy);
        assert_int_equal(a->max_depth, b->max_depth);
        assert_int_equal(a->nlen, b->nlen);
        assert_memory_equal(a->name, b->name, a->nlen);
        assert_same_samples(&a->wait, &b->wait);
        assert_same_samples(&a->handle, &b->handle);
    }
    assert_int_equal(s->ntracks, m.ntracks);
    for (size_t i = 0; i < m.ntracks; i++) {
        const ttr_worker_t *a = &m.tracks[i], *b = &s->tracks[i];
        assert_int_equal(a->busy, b->busy);
        assert_int_equal(a->handled, b->handled);
        assert_int_equal(a->steals + a->sleeps + a->wakes, b->steals + b->sleeps + b->wakes);
        assert_int_equal(a->rlen, b->rlen);
        assert_int_equal(a->index, b->index);
    }
    assert_int_equal(s->nsubjects, m.nsubjects);
    for (size_t i = 0; i < m.nsubjects; i++) {
        const ttr_subject_t *a = &m.subjects[i], *b = ttr_subject(s, a->name, a->nlen);
        assert_non_null(b);
        assert_int_equal(a->publishes, b->publishes);
        assert_int_equal(a->deliveries, b->deliveries);
        assert_int_equal(a->reached, b->reached);
        assert_same_samples(&a->fanout, &b->fanout);
        assert_same_samples(&a->wait, &b->wait);
    }
    ttr_lite_free(&l);
    ttr_model_free(&m);
    ttr_free(&t);
}

static void test_stream_model(void **state)
{
    (void)state;
    craft_t c;
    craft_trace(&c);
    char *path = write_tmp(c.sb.data, c.sb.size);
    check_models(path);
    /* the skew case is in there: P1's receive of ID(1,1) began before its send */
    ttr_lite_t l;
    assert_int_equal(ttr_lite_load(&l, path, NULL), 0);
    assert_int_equal(ttr_model_stream(&l, true, NULL, NULL), 0);
    const ttr_actor_t *p1 = ttr_actor(&l.m, P1);
    assert_non_null(p1);
    assert_int_equal(p1->in, 2);
    assert_int_equal(p1->wait.n, 2);
    assert_int_equal(p1->wait.v[0], 0);          /* clamped: received 5 ns before sent */
    ttr_lite_free(&l);
    unlink(path);
    free(path);
    for (size_t n = 8; n < c.sb.size; n += 7) {
        path = write_tmp(c.sb.data, n);
        ttr_trace_t t;
        if (ttr_load(&t, path, NULL) == 0)
            check_models(path);
        ttr_free(&t);
        unlink(path);
        free(path);
    }
    msgpack_sbuffer_destroy(&c.sb);
}

/* Messages come out in the orders the model and `messages` use. */
typedef struct ids { uint64_t v[64]; size_t n; } ids_t;

static int note_id(void *arg, const ttr_smsg_t *g)
{
    ids_t *x = arg;
    assert_true(x->n < 64);
    x->v[x->n++] = g->id;
    return 0;
}

static void test_stream_messages(void **state)
{
    (void)state;
    craft_t c;
    craft_trace(&c);
    char *path = write_tmp(c.sb.data, c.sb.size);
    ttr_trace_t t;
    ttr_model_t m;
    assert_int_equal(ttr_load(&t, path, NULL), 0);
    assert_int_equal(ttr_model_build(&m, &t), 0);
    ttr_lite_t l;
    assert_int_equal(ttr_lite_load(&l, path, NULL), 0);
    ids_t first = { .n = 0 }, bysend = { .n = 0 };
    assert_int_equal(ttr_lite_messages(&l, true, note_id, &first), 0);
    assert_int_equal(ttr_lite_messages(&l, false, note_id, &bysend), 0);
    assert_int_equal(first.n, m.nmsgs);
    for (size_t i = 0; i < m.nmsgs; i++)
        assert_int_equal(first.v[i], m.msgs[i].id);
    /* by send (or receive begin): ID(1,1)'s receive began before its send */
    const uint64_t want[] = { ID(0, 1), ID(0, 2), ID(0, 3), ID(1, 1), ID(1, 3) };
    assert_int_equal(bysend.n, sizeof want / sizeof *want);
    assert_memory_equal(bysend.v, want, sizeof want);
    ttr_lite_free(&l);
    ttr_model_free(&m);
    ttr_free(&t);
    unlink(path);
    free(path);
    msgpack_sbuffer_destroy(&c.sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_order),
        cmocka_unit_test(test_stream_model),
        cmocka_unit_test(test_stream_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
