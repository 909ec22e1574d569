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

static size_t *map_slot(const ttr_map_t *m, uint64_t key)
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

static int map_put(ttr_map_t *m, uint64_t key, size_t val)
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
    size_t *ix = map_slot(&m->actor_ix, pid);
    return ix ? &m->actors[*ix] : NULL;
}

ttr_msg_t *ttr_message(const ttr_model_t *m, uint64_t id)
{
    size_t *ix = map_slot(&m->msg_ix, id);
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
    if (map_put(&m->actor_ix, pid, m->nactors)) {
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
    if (map_put(&m->msg_ix, id, m->nmsgs)) {
        m->oom = true;
        return NULL;
    }
    g = &m->msgs[m->nmsgs++];
    *g = (ttr_msg_t){ .id = id, .send = TTR_NONE, .begin = TTR_NONE, .end = TTR_NONE,
                      .first_child = TTR_NONE, .next_sibling = TTR_NONE, .topic = TTR_NONE };
    return g;
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
                g->send = i;
            else if (r->kind == ACTO_TRACE_RECV_BEGIN)
                g->begin = i;
            else
                g->end = i;
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
                g->topic = i;
            g->npublish += r->kind == ACTO_TRACE_PUBLISH;
        }
        break;
    default:
        break;
    }
    return m->oom ? -1 : 0;
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
    size_t *last = malloc((m->nmsgs ? m->nmsgs : 1) * sizeof *last);
    for (size_t i = 0; last && i < m->nmsgs; i++)
        last[i] = TTR_NONE;
    for (size_t i = 0; last && i < m->nmsgs; i++) {
        ttr_msg_t *g = &m->msgs[i];
        if (g->send == TTR_NONE)
            continue;
        size_t *pix = map_slot(&m->msg_ix, m->t->rec[g->send].v[5]);
        if (!pix || *pix == i)
            continue;
        if (last[*pix] == TTR_NONE)
            m->msgs[*pix].first_child = i;
        else
            m->msgs[last[*pix]].next_sibling = i;
        last[*pix] = i;
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
    for (size_t i = 0; i < m->nactors; i++) {
        ttr_samples_sort(&m->actors[i].wait);
        ttr_samples_sort(&m->actors[i].handle);
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
