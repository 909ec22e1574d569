/* tools/trace/stream.c - messages of a trace too big to hold, in passes.
 *
 * The subcommands need, for each message, its send, receive begin and end
 * (and pub/sub topic), in a fixed order of messages or with what came
 * before it.  ttr_load + the model hold every record for that; here the
 * first pass (ttr_scan) only counts each message's records (2 bytes a
 * message), and the next ones (ttr_stream, in time order) assemble a
 * message from its records: ttr_lite_records shows each record with the
 * message so far (the streamed model, model.c), ttr_lite_messages hands a
 * message out as soon as it has all of them and every message before it
 * in the order has been handed out (messages, export, graph, report).
 * What stays in memory is the messages begun and not yet handed out:
 * those in flight, and those behind one.
 *
 * Invariants.  (1) The order: by_first appends a message to the queue at
 * its first record; otherwise at its send, or at its receive begin if it
 * has no send in the trace (known from the first pass).  Records arrive in
 * time order, so the queue is in the order the model's messages (by_first)
 * or `messages`' sort give.  (2) A message is complete when it has seen as
 * many records as the first pass counted; it then has every record the
 * model would give it.  The queue's head goes out when complete; at the
 * end of the stream everything left goes out, in queue order. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "reader.h"

/* ---- records per message id ------------------------------------------------------
 * A version-2 id is (track + 1) << 48 | k, k counting the track's sends:
 * dense per track, so a row per track indexed by k - lo (lo: the first k
 * seen); other ids (and k below lo, or far beyond the row) go to a map. */

#define ID_SEND 0x8000u        /* the message has a send in this trace */
#define ID_MAX  0x7fffu        /* record count saturates: complete only at the end */
#define ID_JUMP (1u << 20)     /* a row grows by at most this beyond its length */

typedef struct idrow { uint16_t *c; uint64_t lo; size_t n; } idrow_t;

struct ttr_ids {
    idrow_t row[1u << 16];     /* by id >> 48 (0: not a version-2 id: map) */
    uint64_t *key;             /* the map: open addressing, keys != 0 */
    uint16_t *val;
    size_t cap, cnt;
};

static size_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    return (size_t)(k ^ (k >> 33));
}

static uint16_t *map_find(const struct ttr_ids *x, uint64_t id)
{
    for (size_t i = mix(id) & (x->cap - 1); x->cap; i = (i + 1) & (x->cap - 1)) {
        if (x->key[i] == id)
            return &x->val[i];
        if (!x->key[i])
            return NULL;
    }
    return NULL;
}

static uint16_t *map_add(struct ttr_ids *x, uint64_t id)
{
    uint16_t *v = map_find(x, id);
    if (v)
        return v;
    if ((x->cnt + 1) * 2 > x->cap) {
        struct ttr_ids g = { .cap = x->cap ? x->cap * 2 : 256 };
        g.key = calloc(g.cap, sizeof *g.key);
        g.val = calloc(g.cap, sizeof *g.val);
        if (!g.key || !g.val) {
            free(g.key);
            free(g.val);
            return NULL;
        }
        for (size_t i = 0; i < x->cap; i++)
            if (x->key[i])
                *map_add(&g, x->key[i]) = x->val[i];
        free(x->key);
        free(x->val);
        x->key = g.key;
        x->val = g.val;
        x->cap = g.cap;
        x->cnt = g.cnt;
    }
    size_t i = mix(id) & (x->cap - 1);
    while (x->key[i])
        i = (i + 1) & (x->cap - 1);
    x->key[i] = id;
    x->val[i] = 0;
    x->cnt++;
    return &x->val[i];
}

/* The id's slot; with add, made if missing (NULL: no memory).  An id in
 * the map stays there, so both passes find the same slot. */
static uint16_t *id_slot(struct ttr_ids *x, uint64_t id, bool add)
{
    uint16_t *v = x->cnt ? map_find(x, id) : NULL;
    if (v)
        return v;
    idrow_t *r = &x->row[id >> 48];
    uint64_t k = id & ((1ull << 48) - 1);
    if (id >> 48 && r->n && k >= r->lo && k - r->lo < r->n)
        return &r->c[k - r->lo];
    if (!add)
        return NULL;
    if (id >> 48 && (!r->n || (k >= r->lo && k - r->lo < r->n + ID_JUMP))) {
        if (!r->n)
            r->lo = k;
        size_t n = r->n ? r->n : 1024;
        while (n <= k - r->lo)
            n *= 2;
        uint16_t *c = realloc(r->c, n * sizeof *c);
        if (!c)
            return NULL;
        memset(c + r->n, 0, (n - r->n) * sizeof *c);
        r->c = c;
        r->n = n;
        return &r->c[k - r->lo];
    }
    return map_add(x, id);
}

static bool msg_kind(const ttr_rec_t *r)
{
    return r->v[0] && (r->kind == ACTO_TRACE_SEND || r->kind == ACTO_TRACE_RECV_BEGIN ||
                       r->kind == ACTO_TRACE_RECV_END || r->kind == ACTO_TRACE_PUBLISH ||
                       r->kind == ACTO_TRACE_DELIVER);
}

/* ---- the first pass ------------------------------------------------------------------- */

static int lite_note(void *arg, const ttr_rec_t *r, uint64_t ord)
{
    ttr_lite_t *l = arg;
    (void)ord;
    if (r->ts > l->last_ts)
        l->last_ts = r->ts;
    if (r->ts < l->first_ts || l->t.n == 1)    /* t.n counts this one already */
        l->first_ts = r->ts;
    if (ttr_model_note(&l->m, r, &l->acap))
        return -1;
    if (!msg_kind(r))
        return 0;
    uint16_t *c = id_slot(l->ids, r->v[0], true);
    if (!c)
        return -1;
    if ((*c & ID_MAX) < ID_MAX)
        (*c)++;
    if (r->kind == ACTO_TRACE_SEND)
        *c |= ID_SEND;
    return 0;
}

int ttr_lite_load(ttr_lite_t *l, const char *path, FILE *warn)
{
    memset(l, 0, sizeof *l);
    l->m.t = &l->t;
    if (!(l->ids = calloc(1, sizeof *l->ids))) {
        snprintf(l->t.error, sizeof l->t.error, "out of memory");
        return -1;
    }
    int rc = ttr_scan(&l->t, path, warn, lite_note, l);
    if (rc && !l->t.error[0])
        snprintf(l->t.error, sizeof l->t.error, "out of memory");
    return rc;
}

void ttr_lite_free(ttr_lite_t *l)
{
    if (l->ids) {
        for (size_t i = 0; i < sizeof l->ids->row / sizeof *l->ids->row; i++)
            free(l->ids->row[i].c);
        free(l->ids->key);
        free(l->ids->val);
        free(l->ids);
    }
    ttr_model_free(&l->m);
    ttr_free(&l->t);
    memset(l, 0, sizeof *l);
}

/* ---- the second pass: messages assembled ------------------------------------------------ */

enum { HAS_SEND = 1, HAS_BEGIN = 2, HAS_END = 4, HAS_TOPIC = 8 };

typedef struct pend {
    uint64_t id;
    ttr_rec_t s, b, e, p;
    uint32_t npublish;
    uint32_t chain;            /* next in its hash bucket, or in the free list (index + 1) */
    uint16_t seen, total;      /* records so far; the first pass's count (ID_MAX: unknown) */
    uint8_t has;
    bool queued;
} pend_t;

typedef struct asm_state {
    ttr_lite_t *l;
    bool by_first;
    ttr_smsg_fn fn;             /* hand out whole messages, in order; or */
    ttr_srec_fn each;           /* see every record with its message so far */
    void *arg;
    pend_t *p;                 /* slab; free ones chained from freel */
    size_t np, cap, live;
    uint32_t freel;
    uint32_t *bucket;          /* index + 1 of the first pend, 0: none */
    size_t nbucket;
    uint32_t *q;               /* the queue: pend indexes, q[qh..qn) */
    size_t qh, qn, qcap;
    int rc;                    /* 1 once fn said stop */
} asm_t;

static uint32_t *bucket_of(asm_t *a, uint64_t id)
{
    return &a->bucket[mix(id) & (a->nbucket - 1)];
}

static int rehash(asm_t *a)
{
    size_t nb = a->nbucket ? a->nbucket * 2 : 1024;
    uint32_t *b = calloc(nb, sizeof *b);
    if (!b)
        return -1;
    free(a->bucket);
    a->bucket = b;
    a->nbucket = nb;
    for (size_t i = 0; i < a->np; i++) {
        pend_t *g = &a->p[i];
        if (!g->id)
            continue;                   /* free */
        uint32_t *h = bucket_of(a, g->id);
        g->chain = *h;
        *h = (uint32_t)i + 1;
    }
    return 0;
}

static pend_t *pend_find(asm_t *a, uint64_t id)
{
    for (uint32_t i = a->nbucket ? *bucket_of(a, id) : 0; i; i = a->p[i - 1].chain)
        if (a->p[i - 1].id == id)
            return &a->p[i - 1];
    return NULL;
}

static pend_t *pend_new(asm_t *a, uint64_t id)
{
    if (a->live + 1 > a->nbucket && rehash(a))
        return NULL;
    uint32_t i;
    if (a->freel) {
        i = a->freel - 1;
        a->freel = a->p[i].chain;
    } else {
        if (a->np == a->cap) {
            size_t nc = a->cap ? a->cap * 2 : 1024;
            pend_t *v = realloc(a->p, nc * sizeof *v);
            if (!v)
                return NULL;
            a->p = v;
            a->cap = nc;
        }
        i = (uint32_t)a->np++;
    }
    pend_t *g = &a->p[i];
    const uint16_t *c = id_slot(a->l->ids, id, false);
    *g = (pend_t){ .id = id, .total = c ? *c : ID_MAX };
    uint32_t *h = bucket_of(a, id);
    g->chain = *h;
    *h = i + 1;
    a->live++;
    return g;
}

static void pend_drop(asm_t *a, pend_t *g)
{
    uint32_t i = (uint32_t)(g - a->p) + 1;
    for (uint32_t *h = bucket_of(a, g->id); *h; h = &a->p[*h - 1].chain)
        if (*h == i) {
            *h = g->chain;
            break;
        }
    g->id = 0;
    g->chain = a->freel;
    a->freel = i;
    a->live--;
}

static int enqueue(asm_t *a, pend_t *g)
{
    if (a->qn == a->qcap && a->qh) {
        memmove(a->q, a->q + a->qh, (a->qn - a->qh) * sizeof *a->q);
        a->qn -= a->qh;
        a->qh = 0;
    }
    if (a->qn == a->qcap) {
        size_t nc = a->qcap ? a->qcap * 2 : 1024;
        uint32_t *v = realloc(a->q, nc * sizeof *v);
        if (!v)
            return -1;
        a->q = v;
        a->qcap = nc;
    }
    a->q[a->qn++] = (uint32_t)(g - a->p);
    g->queued = true;
    return 0;
}

static bool complete(const pend_t *g)
{
    uint16_t n = g->total & ID_MAX;
    return n != ID_MAX && g->seen >= n;
}

static ttr_smsg_t view(const pend_t *g)
{
    return (ttr_smsg_t){ .id = g->id, .npublish = g->npublish,
                         .send = g->has & HAS_SEND ? &g->s : NULL,
                         .begin = g->has & HAS_BEGIN ? &g->b : NULL,
                         .end = g->has & HAS_END ? &g->e : NULL,
                         .topic = g->has & HAS_TOPIC ? &g->p : NULL };
}

static void hand_out(asm_t *a, pend_t *g)
{
    if (a->rc)
        return;
    ttr_smsg_t m = view(g);
    int rc = a->fn(a->arg, &m);
    if (rc)
        a->rc = rc < 0 ? -1 : 1;
}

/* Hand out the queue's head while it is complete (all of it at the end). */
static void drain(asm_t *a, bool end)
{
    while (a->qh < a->qn && !a->rc) {
        pend_t *g = &a->p[a->q[a->qh]];
        if (!end && !complete(g))
            return;
        a->qh++;
        hand_out(a, g);
        pend_drop(a, g);
    }
}

/* One record of the stream, as the model's index_rec takes it. */
static int assemble(void *arg, const ttr_rec_t *r, uint64_t ord)
{
    asm_t *a = arg;
    (void)ord;
    if (!msg_kind(r))
        return a->each ? a->each(a->arg, r, NULL) : 0;
    pend_t *g = pend_find(a, r->v[0]);
    if (!g) {
        if (!(g = pend_new(a, r->v[0])) || (a->by_first && a->fn && enqueue(a, g)))
            return -1;
    }
    if (a->each) {
        ttr_smsg_t before = view(g);
        if (a->each(a->arg, r, &before))
            return -1;
    }
    switch (r->kind) {
    case ACTO_TRACE_SEND:
        g->s = *r;
        g->has |= HAS_SEND;
        break;
    case ACTO_TRACE_RECV_BEGIN:
        g->b = *r;
        g->has |= HAS_BEGIN;
        break;
    case ACTO_TRACE_RECV_END:
        g->e = *r;
        g->has |= HAS_END;
        break;
    default:                            /* PUBLISH, DELIVER */
        if (!(g->has & HAS_TOPIC) || r->kind == ACTO_TRACE_DELIVER)
            g->p = *r;
        g->has |= HAS_TOPIC;
        g->npublish += r->kind == ACTO_TRACE_PUBLISH;
        break;
    }
    bool key = r->kind == ACTO_TRACE_SEND ||
               (r->kind == ACTO_TRACE_RECV_BEGIN && !(g->total & ID_SEND));
    if (a->fn && !a->by_first && key && !g->queued && enqueue(a, g))
        return -1;
    g->seen++;
    if (!g->queued && complete(g))
        pend_drop(a, g);                /* neither sent nor received here: not listed */
    else
        drain(a, false);
    return a->rc;
}

int ttr_lite_records(ttr_lite_t *l, ttr_srec_fn each, void *arg)
{
    asm_t a = { .l = l, .each = each, .arg = arg };
    int rc = ttr_stream(&l->t, assemble, &a);
    free(a.p);
    free(a.bucket);
    free(a.q);
    return rc ? -1 : 0;
}

int ttr_lite_messages(ttr_lite_t *l, bool by_first, ttr_smsg_fn fn, void *arg)
{
    asm_t a = { .l = l, .by_first = by_first, .fn = fn, .arg = arg };
    int rc = ttr_stream(&l->t, assemble, &a);
    if (rc == 0)
        drain(&a, true);
    if (rc == 1 || (rc == 0 && a.rc == 1))
        rc = 0;                         /* fn said stop */
    else if (rc == 0)
        rc = a.rc;
    free(a.p);
    free(a.bucket);
    free(a.q);
    return rc;
}
