/* tools/trace/model.c - actors, messages and workers indexed from the
 * sorted records; formatting helpers shared by the subcommands. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <acto/acto.h>

#include "reader.h"

/* ---- u64 -> index map (open addressing, keys != 0) --------------------------- */

static size_t hash64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k;
}

static uint32_t *map_slot(const ttr_map_t *m, uint64_t key)
{
    if (!m->cap || !key)
        return NULL;                     /* 0 marks empty slots */
    for (size_t i = hash64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->key[i] == key)
            return &m->val[i];
        if (m->key[i] == 0)
            return NULL;
    }
}

static int map_put(ttr_map_t *m, uint64_t key, uint32_t val)
{
    if ((m->n + 1) * 2 > m->cap) {
        ttr_map_t g = { .cap = m->cap ? m->cap * 2 : 1024 };
        g.key = calloc(g.cap, sizeof *g.key);
        g.val = calloc(g.cap, sizeof *g.val);
        if (!g.key || !g.val) {
            free(g.key);
            free(g.val);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->key[i])
                map_put(&g, m->key[i], m->val[i]);
        free(m->key);
        free(m->val);
        *m = g;
    }
    size_t i = hash64(key) & (m->cap - 1);
    while (m->key[i] && m->key[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->key[i])
        m->n++;
    m->key[i] = key;
    m->val[i] = val;
    return 0;
}

static void map_free(ttr_map_t *m)
{
    free(m->key);
    free(m->val);
}

/* ---- samples ------------------------------------------------------------------------ */

static int sample_add(ttr_samples_t *s, uint64_t v)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        uint64_t *p = realloc(s->v, nc * sizeof *p);
        if (!p)
            return -1;
        s->v = p;
        s->cap = nc;
    }
    s->v[s->n++] = v;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void ttr_samples_sort(ttr_samples_t *s)
{
    if (s->n > 1)
        qsort(s->v, s->n, sizeof *s->v, cmp_u64);
}

/* Nearest-rank percentile of sorted samples; 0 if there are none. */
uint64_t ttr_pct(const ttr_samples_t *s, double pct)
{
    if (!s->n)
        return 0;
    size_t rank = (size_t)(pct / 100.0 * (double)s->n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > s->n)
        rank = s->n;
    return s->v[rank - 1];
}

/* ---- building --------------------------------------------------------------------------- */

ttr_actor_t *ttr_actor(const ttr_model_t *m, uint64_t pid)
{
    uint32_t *ix = map_slot(&m->actor_ix, pid);
    return ix ? &m->actors[*ix] : NULL;
}

ttr_msg_t *ttr_message(const ttr_model_t *m, uint64_t id)
{
    uint32_t *ix = map_slot(&m->msg_ix, id);
    return ix ? &m->msgs[*ix] : NULL;
}

static ttr_actor_t *actor_get(ttr_model_t *m, uint64_t pid, size_t *cap)
{
    ttr_actor_t *a = ttr_actor(m, pid);
    if (a || !pid)
        return a;
    if (m->nactors == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        ttr_actor_t *v = realloc(m->actors, nc * sizeof *v);
        if (!v) {
            m->oom = true;
            return NULL;
        }
        m->actors = v;
        *cap = nc;
    }
    if (m->nactors >= TTR_NONE || map_put(&m->actor_ix, pid, (uint32_t)m->nactors)) {
        m->oom = true;
        return NULL;
    }
    a = &m->actors[m->nactors++];
    memset(a, 0, sizeof *a);
    a->pid = pid;
    a->name = "?";
    a->nlen = 1;
    a->spawn = a->exit = TTR_NONE;
    return a;
}

static ttr_msg_t *msg_get(ttr_model_t *m, uint64_t id, size_t *cap)
{
    ttr_msg_t *g = ttr_message(m, id);
    if (g || !id)
        return g;
    if (m->nmsgs == *cap) {
        size_t nc = *cap ? *cap * 2 : 1024;
        ttr_msg_t *v = realloc(m->msgs, nc * sizeof *v);
        if (!v) {
            m->oom = true;
            return NULL;
        }
        m->msgs = v;
        *cap = nc;
    }
    if (m->nmsgs >= TTR_NONE || map_put(&m->msg_ix, id, (uint32_t)m->nmsgs)) {
        m->oom = true;
        return NULL;
    }
    g = &m->msgs[m->nmsgs++];
    *g = (ttr_msg_t){ .id = id, .send = TTR_NONE, .begin = TTR_NONE, .end = TTR_NONE,
                      .first_child = TTR_NONE, .next_sibling = TTR_NONE, .topic = TTR_NONE };
    return g;
}

/* ---- subjects: a string-keyed open-addressing table of row indexes ---------------- */

static size_t hash_str(const char *s, uint32_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;          /* FNV-1a, then mixed */
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return hash64(h);
}

static bool subj_is(const ttr_subject_t *r, const char *s, uint32_t n)
{
    return r->nlen == n && (n == 0 || memcmp(r->name, s, n) == 0);
}

ttr_subject_t *ttr_subject(const ttr_model_t *m, const char *name, uint32_t nlen)
{
    if (!m->subj_cap)
        return NULL;
    for (size_t i = hash_str(name, nlen) & (m->subj_cap - 1);; i = (i + 1) & (m->subj_cap - 1)) {
        size_t v = m->subj_slot[i];
        if (!v)
            return NULL;
        if (subj_is(&m->subjects[v - 1], name, nlen))
            return &m->subjects[v - 1];
    }
}

static int subj_grow(ttr_model_t *m)
{
    size_t cap = m->subj_cap ? m->subj_cap * 2 : 64;
    size_t *slot = calloc(cap, sizeof *slot);
    ttr_subject_t *v = realloc(m->subjects, cap / 2 * sizeof *v);
    if (v)
        m->subjects = v;
    if (!slot || !v) {
        free(slot);
        return -1;
    }
    for (size_t k = 0; k < m->nsubjects; k++) {
        size_t i = hash_str(v[k].name, v[k].nlen) & (cap - 1);
        while (slot[i])
            i = (i + 1) & (cap - 1);
        slot[i] = k + 1;
    }
    free(m->subj_slot);
    m->subj_slot = slot;
    m->subj_cap = cap;
    return 0;
}

/* The row of a subject, added if new (rows stay below half the slots). */
static ttr_subject_t *subj_get(ttr_model_t *m, const char *name, uint32_t nlen)
{
    ttr_subject_t *r = ttr_subject(m, name, nlen);
    if (r)
        return r;
    if ((m->nsubjects + 1) * 2 > m->subj_cap && subj_grow(m)) {
        m->oom = true;
        return NULL;
    }
    size_t i = hash_str(name, nlen) & (m->subj_cap - 1);
    while (m->subj_slot[i])
        i = (i + 1) & (m->subj_cap - 1);
    m->subj_slot[i] = ++m->nsubjects;
    r = &m->subjects[m->nsubjects - 1];
    *r = (ttr_subject_t){ .name = name, .nlen = nlen };
    return r;
}

static ttr_worker_t *track_get(ttr_model_t *m, uint32_t track)
{
    if (track >= m->ntracks) {
        size_t n = (size_t)track + 1;
        ttr_worker_t *v = realloc(m->tracks, n * sizeof *v);
        if (!v)
            return NULL;
        memset(v + m->ntracks, 0, (n - m->ntracks) * sizeof *v);
        m->tracks = v;
        m->ntracks = n;
    }
    return &m->tracks[track];
}

/* Pass 1: actors and messages, so pass 2 can pair records whatever their
 * order (clocks of two workers may disagree by a few ns). */
static int index_rec(ttr_model_t *m, size_t i, size_t *acap, size_t *mcap)
{
    const ttr_rec_t *r = &m->t->rec[i];
    ttr_actor_t *a;
    ttr_msg_t *g;
    if (!track_get(m, r->track))
        return -1;
    switch (r->kind) {
    case ACTO_TRACE_SPAWN:
        if (!(a = actor_get(m, r->v[0], acap)))
            break;
        a->parent = r->v[1];
        a->name = r->str;
        a->nlen = r->slen;
        a->spawn = i;
        break;
    case ACTO_TRACE_EXIT:
        if ((a = actor_get(m, r->v[0], acap)))
            a->exit = i;
        break;
    case ACTO_TRACE_SEND:
    case ACTO_TRACE_RECV_BEGIN:
    case ACTO_TRACE_RECV_END:
        if ((g = msg_get(m, r->v[0], mcap))) {
            if (r->kind == ACTO_TRACE_SEND)
                g->send = (uint32_t)i;
            else if (r->kind == ACTO_TRACE_RECV_BEGIN)
                g->begin = (uint32_t)i;
            else
                g->end = (uint32_t)i;
        }
        if (r->kind != ACTO_TRACE_RECV_END)
            actor_get(m, r->v[1], acap);
        if (r->kind == ACTO_TRACE_SEND)
            actor_get(m, r->v[2], acap);
        break;
    case ACTO_TRACE_PUBLISH:
    case ACTO_TRACE_DELIVER:
        if ((g = msg_get(m, r->v[0], mcap))) {
            if (g->topic == TTR_NONE || r->kind == ACTO_TRACE_DELIVER)
                g->topic = (uint32_t)i;
            g->npublish += r->kind == ACTO_TRACE_PUBLISH;
        }
        subj_get(m, r->slen ? r->str : "", r->slen);
        break;
    default:
        break;
    }
    return m->oom ? -1 : 0;
}

/* A publish counts its fan-out; a delivery its wait, from the shard's
 * receive (its send's time) to the subscriber's receive begin. */
static int subject_rec(ttr_model_t *m, const ttr_rec_t *r)
{
    ttr_subject_t *s = ttr_subject(m, r->slen ? r->str : "", r->slen);
    if (!s)
        return 0;
    if (r->kind == ACTO_TRACE_PUBLISH) {
        s->publishes++;
        s->reached += r->v[1];
        return sample_add(&s->fanout, r->v[1]);
    }
    s->deliveries++;
    const ttr_msg_t *g = ttr_message(m, r->v[0]);
    if (!g || g->send == TTR_NONE || g->begin == TTR_NONE)
        return 0;
    uint64_t sent = m->t->rec[g->send].ts, began = m->t->rec[g->begin].ts;
    return sample_add(&s->wait, began > sent ? began - sent : 0);
}

/* A streamed record (ttr_lite_load): only what naming needs, the actors'
 * behaviour names and the tracks' roles. */
int ttr_model_note(ttr_model_t *m, const ttr_rec_t *r, size_t *acap)
{
    ttr_worker_t *w = track_get(m, r->track);
    ttr_actor_t *a;
    if (!w)
        return -1;
    if (r->kind == ACTO_TRACE_SPAWN && (a = actor_get(m, r->v[0], acap))) {
        a->parent = r->v[1];
        a->name = r->str;
        a->nlen = r->slen;
    } else if (r->kind == ACTO_TRACE_TRACK) {
        w->role = r->str;
        w->rlen = r->slen;
        w->index = (uint32_t)r->v[0];
    }
    return m->oom ? -1 : 0;
}

/* ---- the same from a stream: one pass in time order ----------------------------------
 * stats_rec's rules with what the message's earlier records were (b) in
 * place of its indexes: a send counts towards the receiver's mailbox
 * unless its receive came first; a wait is taken when the second of send
 * and receive begin arrives; a delivery's wait when the last of its
 * send, deliver and receive begin does. */

typedef struct sm {
    ttr_model_t *m;
    size_t acap;
    ttr_model_t names;          /* the first pass's actors: their names */
    bool samples;               /* take the samples (summary; graph needs none) */
    ttr_srec_fn also;           /* and hand each record on, if set */
    void *arg;
} sm_t;

static int st_sample(const sm_t *st, ttr_samples_t *s, uint64_t v)
{
    return st->samples ? sample_add(s, v) : 0;
}

/* The actor of pid, made when first named, as index_rec makes it: actors
 * are numbered in the same order as ttr_model_build's (graph --behaviour
 * numbers nodes by it). */
static ttr_actor_t *st_actor(sm_t *st, uint64_t pid)
{
    ttr_actor_t *a = ttr_actor(st->m, pid);
    if (a || !pid || !(a = actor_get(st->m, pid, &st->acap)))
        return a;
    const ttr_actor_t *n = ttr_actor(&st->names, pid);
    if (n) {
        a->parent = n->parent;
        a->name = n->name;
        a->nlen = n->nlen;
    }
    return a;
}

static int subject_wait(const sm_t *st, const ttr_rec_t *d, const ttr_rec_t *s, const ttr_rec_t *b)
{
    ttr_subject_t *x = ttr_subject(st->m, d->slen ? d->str : "", d->slen);
    return !x ? 0 : st_sample(st, &x->wait, b->ts > s->ts ? b->ts - s->ts : 0);
}

static int stream_msg_rec(sm_t *st, const ttr_rec_t *r, const ttr_smsg_t *b)
{
    ttr_model_t *m = st->m;
    ttr_actor_t *a;
    const ttr_rec_t *begin = b->begin, *send = b->send;
    switch (r->kind) {
    case ACTO_TRACE_SEND:
        st_actor(st, r->v[1]);
        st_actor(st, r->v[2]);
        m->nsent += !send;
        if ((a = ttr_actor(m, r->v[1])))
            a->out++;
        if ((a = ttr_actor(m, r->v[2])) && !begin && ++a->depth > a->max_depth)
            a->max_depth = a->depth;
        if (begin && (a = ttr_actor(m, begin->v[1])) &&   /* received first (clock skew) */
            st_sample(st, &a->wait, begin->ts > r->ts ? begin->ts - r->ts : 0))
            return -1;
        return 0;
    case ACTO_TRACE_RECV_BEGIN:
        if (!(a = st_actor(st, r->v[1])))
            return 0;
        a->in++;
        if (send) {
            if (a->depth)
                a->depth--;
            if (st_sample(st, &a->wait, r->ts > send->ts ? r->ts - send->ts : 0))
                return -1;
            if (b->topic && b->topic->kind == ACTO_TRACE_DELIVER)
                return subject_wait(st, b->topic, send, r);
        }
        return 0;
    case ACTO_TRACE_RECV_END:
        if (begin) {
            uint64_t d = r->ts > begin->ts ? r->ts - begin->ts : 0;
            m->tracks[r->track].busy += d;
            m->tracks[r->track].handled++;
            if ((a = ttr_actor(m, begin->v[1]))) {
                a->busy += d;
                if (st_sample(st, &a->handle, d))
                    return -1;
            }
        }
        return 0;
    default: {                          /* PUBLISH, DELIVER */
        ttr_subject_t *x = subj_get(m, r->slen ? r->str : "", r->slen);
        if (!x)
            return -1;
        if (r->kind == ACTO_TRACE_PUBLISH) {
            x->publishes++;
            x->reached += r->v[1];
            return st_sample(st, &x->fanout, r->v[1]);
        }
        x->deliveries++;
        return send && begin ? subject_wait(st, r, send, begin) : 0;
    }
    }
}

static int stream_rec1(sm_t *st, const ttr_rec_t *r, const ttr_smsg_t *before);

static int stream_rec(void *arg, const ttr_rec_t *r, const ttr_smsg_t *before)
{
    sm_t *st = arg;
    if (stream_rec1(st, r, before))
        return -1;
    return st->also ? st->also(st->arg, r, before) : 0;
}

static int stream_rec1(sm_t *st, const ttr_rec_t *r, const ttr_smsg_t *before)
{
    ttr_model_t *m = st->m;
    if (!track_get(m, r->track))
        return -1;
    ttr_actor_t *a;
    switch (r->kind) {
    case ACTO_TRACE_SEND:               /* (before is NULL for id 0: no message) */
    case ACTO_TRACE_RECV_BEGIN:
    case ACTO_TRACE_RECV_END:
    case ACTO_TRACE_PUBLISH:
    case ACTO_TRACE_DELIVER: {
        const ttr_smsg_t none = { 0 };
        return stream_msg_rec(st, r, before ? before : &none) || m->oom ? -1 : 0;
    }
    case ACTO_TRACE_SPAWN:
    case ACTO_TRACE_EXIT:
        st_actor(st, r->v[0]);
        return m->oom ? -1 : 0;
    case ACTO_TRACE_DEPTH:
    case ACTO_TRACE_STEAL:
    case ACTO_TRACE_SLEEP:
    case ACTO_TRACE_WAKE:
        break;
    default:
        return 0;                       /* TRACK: from the first pass */
    }
    ttr_worker_t *w = &m->tracks[r->track];
    if (r->kind == ACTO_TRACE_DEPTH && (a = ttr_actor(m, r->v[0])) && r->v[1] > a->max_depth)
        a->max_depth = r->v[1];
    w->steals += r->kind == ACTO_TRACE_STEAL;
    w->stolen += r->kind == ACTO_TRACE_STEAL ? r->v[1] : 0;
    w->sleeps += r->kind == ACTO_TRACE_SLEEP;
    w->wakes += r->kind == ACTO_TRACE_WAKE;
    return 0;
}

int ttr_model_stream(ttr_lite_t *l, bool samples, ttr_srec_fn also, void *arg)
{
    ttr_model_t *m = &l->m;
    /* Take the first pass's actors as names, and number them again. */
    sm_t st = { .m = m, .samples = samples, .also = also, .arg = arg,
                .names = { .actors = m->actors, .nactors = m->nactors, .actor_ix = m->actor_ix } };
    m->actors = NULL;
    m->nactors = 0;
    m->actor_ix = (ttr_map_t){ 0 };
    int rc = ttr_lite_records(l, stream_rec, &st);
    free(st.names.actors);
    map_free(&st.names.actor_ix);
    l->acap = st.acap;
    if (rc)
        return -1;
    m->duration = l->t.n ? l->last_ts - l->first_ts : 0;
    for (size_t i = 0; i < m->nactors; i++) {
        ttr_samples_sort(&m->actors[i].wait);
        ttr_samples_sort(&m->actors[i].handle);
    }
    for (size_t i = 0; i < m->nsubjects; i++) {
        ttr_samples_sort(&m->subjects[i].fanout);
        ttr_samples_sort(&m->subjects[i].wait);
    }
    return 0;
}

/* Pass 2, in time order: counters, samples, reconstructed mailbox depth. */
static int stats_rec(ttr_model_t *m, size_t i)
{
    const ttr_rec_t *r = &m->t->rec[i];
    ttr_worker_t *w = &m->tracks[r->track];
    ttr_actor_t *a;
    ttr_msg_t *g;
    switch (r->kind) {
    case ACTO_TRACE_SEND:
        g = ttr_message(m, r->v[0]);
        if ((a = ttr_actor(m, r->v[1])))
            a->out++;
        /* Counted unless its receive came first (clock skew). */
        if ((a = ttr_actor(m, r->v[2])) && (!g || g->begin == TTR_NONE || g->begin > i) &&
            ++a->depth > a->max_depth)
            a->max_depth = a->depth;
        break;
    case ACTO_TRACE_RECV_BEGIN:
        g = ttr_message(m, r->v[0]);
        if (!(a = ttr_actor(m, r->v[1])))
            break;
        a->in++;
        if (g && g->send != TTR_NONE) {
            if (g->send < i && a->depth)
                a->depth--;
            uint64_t sent = m->t->rec[g->send].ts;
            if (sample_add(&a->wait, r->ts > sent ? r->ts - sent : 0))
                return -1;
        }
        break;
    case ACTO_TRACE_RECV_END:
        if ((g = ttr_message(m, r->v[0])) && g->begin != TTR_NONE) {
            const ttr_rec_t *b = &m->t->rec[g->begin];
            uint64_t d = r->ts > b->ts ? r->ts - b->ts : 0;
            w->busy += d;
            w->handled++;
            if ((a = ttr_actor(m, b->v[1]))) {
                a->busy += d;
                if (sample_add(&a->handle, d))
                    return -1;
            }
        }
        break;
    case ACTO_TRACE_DEPTH:
        /* Sampled by the runtime: what waits behind the message in hand. */
        if ((a = ttr_actor(m, r->v[0])) && r->v[1] > a->max_depth)
            a->max_depth = r->v[1];
        break;
    case ACTO_TRACE_STEAL:
        w->steals++;
        w->stolen += r->v[1];
        break;
    case ACTO_TRACE_SLEEP:
        w->sleeps++;
        break;
    case ACTO_TRACE_WAKE:
        w->wakes++;
        break;
    case ACTO_TRACE_PUBLISH:
    case ACTO_TRACE_DELIVER:
        return subject_rec(m, r);
    case ACTO_TRACE_TRACK:
        w->role = r->str;
        w->rlen = r->slen;
        w->index = (uint32_t)r->v[0];
        break;
    default:
        break;
    }
    return 0;
}

/* Link every message into its cause's list of children (in send order). */
static void link_causes(ttr_model_t *m)
{
    uint32_t *last = malloc((m->nmsgs ? m->nmsgs : 1) * sizeof *last);
    for (size_t i = 0; last && i < m->nmsgs; i++)
        last[i] = (uint32_t)TTR_NONE;
    for (size_t i = 0; last && i < m->nmsgs; i++) {
        ttr_msg_t *g = &m->msgs[i];
        if (g->send == TTR_NONE)
            continue;
        uint32_t *pix = map_slot(&m->msg_ix, m->t->rec[g->send].v[5]);
        if (!pix || *pix == i)
            continue;
        if (last[*pix] == TTR_NONE)
            m->msgs[*pix].first_child = (uint32_t)i;
        else
            m->msgs[last[*pix]].next_sibling = (uint32_t)i;
        last[*pix] = (uint32_t)i;
    }
    free(last);
}

int ttr_model_build(ttr_model_t *m, const ttr_trace_t *t)
{
    memset(m, 0, sizeof *m);
    m->t = t;
    size_t acap = 0, mcap = 0;
    for (size_t i = 0; i < t->n; i++)
        if (index_rec(m, i, &acap, &mcap)) {
            ttr_model_free(m);
            return -1;
        }
    for (size_t i = 0; i < t->n; i++)
        if (stats_rec(m, i)) {
            ttr_model_free(m);
            return -1;
        }
    if (t->n)
        m->duration = t->rec[t->n - 1].ts - t->rec[0].ts;
    for (size_t i = 0; i < m->nmsgs; i++)
        m->nsent += m->msgs[i].send != TTR_NONE;
    for (size_t i = 0; i < m->nactors; i++) {
        ttr_samples_sort(&m->actors[i].wait);
        ttr_samples_sort(&m->actors[i].handle);
    }
    for (size_t i = 0; i < m->nsubjects; i++) {
        ttr_samples_sort(&m->subjects[i].fanout);
        ttr_samples_sort(&m->subjects[i].wait);
    }
    link_causes(m);   /* messages are in order of first appearance */
    return 0;
}

void ttr_model_free(ttr_model_t *m)
{
    for (size_t i = 0; i < m->nactors; i++) {
        free(m->actors[i].wait.v);
        free(m->actors[i].handle.v);
    }
    for (size_t i = 0; i < m->nsubjects; i++) {
        free(m->subjects[i].fanout.v);
        free(m->subjects[i].wait.v);
    }
    free(m->subjects);
    free(m->subj_slot);
    free(m->actors);
    free(m->msgs);
    free(m->tracks);
    map_free(&m->actor_ix);
    map_free(&m->msg_ix);
    memset(m, 0, sizeof *m);
}

/* ---- text helpers ---------------------------------------------------------------------------- */

const char *ttr_fmt_pid(uint64_t pid, char buf[32])
{
    if (!pid)
        snprintf(buf, 32, "-");
    else
        snprintf(buf, 32, "<%u.%u>", ACTO_PID_SLOT(pid), ACTO_PID_GEN(pid));
    return buf;
}

const char *ttr_fmt_ns(uint64_t ns, char buf[32])
{
    if (ns < 1000)
        snprintf(buf, 32, "%lluns", (unsigned long long)ns);
    else if (ns < 1000000)
        snprintf(buf, 32, "%.2fus", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(buf, 32, "%.2fms", (double)ns / 1e6);
    else
        snprintf(buf, 32, "%.3fs", (double)ns / 1e9);
    return buf;
}

int ttr_parse_pid(const char *s, uint64_t *pid)
{
    unsigned slot, gen;
    char end;
    if (sscanf(s, "<%u.%u%c", &slot, &gen, &end) == 3 && end == '>')
        ;
    else if (sscanf(s, "%u.%u%c", &slot, &gen, &end) == 2)
        ;
    else {
        char *e;
        unsigned long long v = strtoull(s, &e, 0);
        if (!*s || *e)
            return -1;
        *pid = v;
        return 0;
    }
    if (slot >= (1u << ACTO_PID_SLOT_BITS) || gen >= (1u << ACTO_PID_GEN_BITS))
        return -1;
    *pid = ((uint64_t)gen << ACTO_PID_SLOT_BITS) | slot;
    return 0;
}

int ttr_parse_time(const char *s, uint64_t *ns)
{
    char *e;
    double v = strtod(s, &e);
    if (e == s || v < 0)
        return -1;
    double mul = 1;
    if (!*e || !strcmp(e, "ns")) mul = 1;
    else if (!strcmp(e, "us")) mul = 1e3;
    else if (!strcmp(e, "ms")) mul = 1e6;
    else if (!strcmp(e, "s")) mul = 1e9;
    else return -1;
    *ns = (uint64_t)(v * mul);
    return 0;
}

void ttr_json_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

int ttr_subject_cmp_traffic(const void *pa, const void *pb)
{
    const ttr_subject_t *a = *(const ttr_subject_t *const *)pa, *b = *(const ttr_subject_t *const *)pb;
    uint64_t ta = a->publishes + a->deliveries, tb = b->publishes + b->deliveries;
    if (ta != tb)
        return ta > tb ? -1 : 1;
    uint32_t n = a->nlen < b->nlen ? a->nlen : b->nlen;
    int c = n ? memcmp(a->name, b->name, n) : 0;
    return c ? c : (a->nlen > b->nlen) - (a->nlen < b->nlen);
}
