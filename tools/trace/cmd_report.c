/* tools/trace/cmd_report.c - acto-trace report: one self-contained HTML page.
 *
 * The page is a small skeleton, the CSS and JS from tools/trace/report/
 * (embedded at build time, report_assets.h) and the trace's numbers as one
 * JSON document in a <script type="application/json"> element, which the
 * JS draws: a canvas timeline per track, tables of the top actors, queue
 * wait and handling histograms, and the actor graph as SVG.
 *
 * Big traces stay small pages: the timeline holds at most --max-slices
 * handling slices (the longest ones, so slow handlers are never dropped)
 * and, for every slice, a per-track busy profile in NBINS time bins that
 * the page draws beneath them.  Everything else is aggregated (bounded by
 * the number of behaviours and types, TOP actors, MAX_EDGES edges). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <acto/trace.h>

#include "report_assets.h"
#include "tool.h"

#define NBINS 1200          /* busy-profile bins per track */
#define NCAND 4             /* labels tracked per bin (heavy hitters) */
#define TOP 25              /* rows in each top-actors table */
#define MAX_EDGES 120       /* graph edges kept (the busiest) */
#define GRAPH_ACTORS 40     /* more actors than this: graph by behaviour */
#define HIST 65             /* log2 buckets: k holds [2^(k-1), 2^k) ns, 0 holds 0 */
#define SYS_TYPE 0xFFFF0000u

/* ---- a small u64 -> index map (keys stored + 1, so 0 marks empty) ----------------- */

typedef struct umap { uint64_t *key; size_t *val; size_t cap, n; } umap_t;

static size_t umix(uint64_t k)
{
    k ^= k >> 31;
    k *= 0x9e3779b97f4a7c15ull;
    return (size_t)(k ^ (k >> 29));
}

/* Index stored for key, or insert `val` for it.  SIZE_MAX: out of memory. */
static size_t umap_get(umap_t *m, uint64_t key, size_t val)
{
    if ((m->n + 1) * 2 > m->cap) {
        umap_t g = { .cap = m->cap ? m->cap * 2 : 256 };
        g.key = calloc(g.cap, sizeof *g.key);
        g.val = calloc(g.cap, sizeof *g.val);
        if (!g.key || !g.val) {
            free(g.key);
            free(g.val);
            return SIZE_MAX;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->key[i])
                umap_get(&g, m->key[i] - 1, m->val[i]);
        free(m->key);
        free(m->val);
        *m = g;
    }
    size_t i = umix(key) & (m->cap - 1);
    while (m->key[i] && m->key[i] != key + 1)
        i = (i + 1) & (m->cap - 1);
    if (!m->key[i]) {
        m->key[i] = key + 1;
        m->val[i] = val;
        m->n++;
    }
    return m->val[i];
}

static void umap_free(umap_t *m)
{
    free(m->key);
    free(m->val);
}

/* ---- the report's working state ---------------------------------------------------------- */

typedef struct slice {
    uint64_t start, dur;    /* ns from t0 */
    uint32_t track, label;
    size_t actor;           /* index into m->actors, or SIZE_MAX */
    uint64_t msg;
} slice_t;

typedef struct bin {
    uint64_t busy;
    uint32_t lab[NCAND];    /* label + 1; 0 = free */
    uint64_t ns[NCAND];
} bin_t;

typedef struct rep {
    const ttr_model_t *m;
    FILE *out;
    uint64_t t0, span, binw;
    size_t *beh;            /* behaviour index of each actor */
    size_t nbeh;
    const ttr_actor_t **behname;   /* an actor carrying each behaviour's name */
    umap_t labix;           /* (behaviour + 1) << 32 | type -> label */
    uint64_t *labkey;
    size_t nlab, labcap;
    slice_t *sl;
    size_t nsl, total;
    uint64_t last;          /* the latest record's ts: unfinished slices end there */
    /* a streamed trace: the `max` longest slices so far, in a heap whose
     * root is the first to go (shortest, then latest, then last seen) */
    bool bounded;
    size_t max;
    struct hslice { slice_t s; uint64_t seq; } *hs;
    size_t nhs, hscap;
    bin_t *bins;            /* ntracks * NBINS */
    uint64_t wait[HIST], handle[HIST];
    /* the graph: edges between nodes, counted, in order of first use */
    bool by_beh;
    umap_t ex;
    struct edge *e;
    size_t ne, ecap;
} rep_t;

static int cmp_actor_name(const void *pa, const void *pb, void *arg)
{
    const ttr_actor_t *v = arg, *a = &v[*(const size_t *)pa], *b = &v[*(const size_t *)pb];
    uint32_t n = a->nlen < b->nlen ? a->nlen : b->nlen;
    int c = memcmp(a->name, b->name, n);
    return c ? c : (a->nlen > b->nlen) - (a->nlen < b->nlen);
}

/* Number the distinct behaviour names. */
static int behaviours(rep_t *r)
{
    const ttr_model_t *m = r->m;
    size_t *order = malloc((m->nactors + 1) * sizeof *order);
    r->beh = malloc((m->nactors + 1) * sizeof *r->beh);
    r->behname = malloc((m->nactors + 1) * sizeof *r->behname);
    if (!order || !r->beh || !r->behname) {
        free(order);
        return -1;
    }
    for (size_t i = 0; i < m->nactors; i++)
        order[i] = i;
    qsort_r(order, m->nactors, sizeof *order, cmp_actor_name, m->actors);
    for (size_t i = 0; i < m->nactors; i++) {
        if (!i || cmp_actor_name(&order[i - 1], &order[i], m->actors))
            r->behname[r->nbeh++] = &m->actors[order[i]];
        r->beh[order[i]] = r->nbeh - 1;
    }
    free(order);
    return 0;
}

/* Label of (behaviour of actor ai, type): "behaviour/type" on the page. */
static int label_of(rep_t *r, size_t ai, uint64_t type, uint32_t *lab)
{
    uint64_t b = ai == SIZE_MAX ? 0 : r->beh[ai] + 1;
    uint64_t key = b << 32 | (type & 0xFFFFFFFFu);
    size_t v = umap_get(&r->labix, key, r->nlab);
    if (v == SIZE_MAX)
        return -1;
    if (v == r->nlab) {
        if (r->nlab == r->labcap) {
            size_t nc = r->labcap ? r->labcap * 2 : 64;
            uint64_t *p = realloc(r->labkey, nc * sizeof *p);
            if (!p)
                return -1;
            r->labkey = p;
            r->labcap = nc;
        }
        r->labkey[r->nlab++] = key;
    }
    *lab = (uint32_t)v;
    return 0;
}

/* Space-saving heavy hitters: the label that handled most in the bin ends
 * up with the largest count (exactly so when NCAND labels or fewer). */
static void bin_add(bin_t *b, uint32_t lab, uint64_t ns)
{
    int lo = 0;
    b->busy += ns;
    for (int k = 0; k < NCAND; k++) {
        if (b->lab[k] == lab + 1 || !b->lab[k]) {
            b->lab[k] = lab + 1;
            b->ns[k] += ns;
            return;
        }
        if (b->ns[k] < b->ns[lo])
            lo = k;
    }
    b->lab[lo] = lab + 1;
    b->ns[lo] += ns;
}

static void profile(rep_t *r, const slice_t *s)
{
    bin_t *row = &r->bins[(size_t)s->track * NBINS];
    uint64_t a = s->start, e = s->start + s->dur;
    for (uint64_t k = a / r->binw; k < NBINS && k * r->binw < e; k++) {
        uint64_t lo = k * r->binw, hi = lo + r->binw;
        uint64_t ov = (e < hi ? e : hi) - (a > lo ? a : lo);
        if (ov)
            bin_add(&row[k], s->label, ov);
    }
}

static unsigned bucket(uint64_t ns)
{
    return ns ? 64u - (unsigned)__builtin_clzll(ns) : 0;   /* 0..64 < HIST */
}

static int graph_count(rep_t *r, const ttr_rec_t *s);
static int heap_offer(rep_t *r, const slice_t *s);

/* A message: if handled, a slice, its share of the busy profile and the
 * histograms; if sent, its edge of the graph. */
static int collect_one(rep_t *r, const ttr_smsg_t *g)
{
    const ttr_model_t *m = r->m;
    if (g->send && graph_count(r, g->send))
        return -1;
    const ttr_rec_t *b = g->begin;
    if (!b)
        return 0;
    uint64_t end = g->end ? g->end->ts : r->last;   /* unfinished */
    const ttr_actor_t *a = ttr_actor(m, b->v[1]);
    slice_t s = { .start = b->ts - r->t0, .dur = end > b->ts ? end - b->ts : 0,
                  .track = b->track, .actor = a ? (size_t)(a - m->actors) : SIZE_MAX,
                  .msg = g->id };
    if (label_of(r, s.actor, b->v[2], &s.label))
        return -1;
    profile(r, &s);
    if (r->bounded ? heap_offer(r, &s) : (r->sl[r->nsl++] = s, 0))
        return -1;
    r->total++;
    if (g->end)
        r->handle[bucket(s.dur)]++;
    if (g->send)
        r->wait[bucket(b->ts > g->send->ts ? b->ts - g->send->ts : 0)]++;
    return 0;
}

/* Every message of the model, in its order. */
static int collect(rep_t *r)
{
    const ttr_model_t *m = r->m;
    const ttr_rec_t *rec = m->t->rec;
    r->sl = malloc((m->nmsgs + 1) * sizeof *r->sl);
    r->bins = calloc(m->ntracks * NBINS + 1, sizeof *r->bins);
    if (!r->sl || !r->bins)
        return -1;
    for (size_t i = 0; i < m->nmsgs; i++) {
        const ttr_msg_t *g = &m->msgs[i];
        ttr_smsg_t sg = { .id = g->id, .npublish = g->npublish,
                          .send = g->send != TTR_NONE ? &rec[g->send] : NULL,
                          .begin = g->begin != TTR_NONE ? &rec[g->begin] : NULL,
                          .end = g->end != TTR_NONE ? &rec[g->end] : NULL,
                          .topic = g->topic != TTR_NONE ? &rec[g->topic] : NULL };
        if (collect_one(r, &sg))
            return -1;
    }
    return 0;
}

/* ---- the longest slices of a streamed trace, in bounded memory ---------------------- */

/* x goes before y: shorter, or as long and later, or seen later. */
static bool first_to_go(const struct hslice *x, const struct hslice *y)
{
    if (x->s.dur != y->s.dur)
        return x->s.dur < y->s.dur;
    if (x->s.start != y->s.start)
        return x->s.start > y->s.start;
    return x->seq > y->seq;
}

/* The heap: each slice goes before (first_to_go) its children; the root
 * is the one to drop when a longer one comes. */
static void heap_down(rep_t *r, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, big = i;
        if (l < r->nhs && first_to_go(&r->hs[l], &r->hs[big]))
            big = l;
        if (l + 1 < r->nhs && first_to_go(&r->hs[l + 1], &r->hs[big]))
            big = l + 1;
        if (big == i)
            return;
        struct hslice t = r->hs[i];
        r->hs[i] = r->hs[big];
        r->hs[big] = t;
        i = big;
    }
}

/* Keep s if it is among the `max` longest so far (the held path's order:
 * longest first, then earliest, then first seen). */
static int heap_offer(rep_t *r, const slice_t *s)
{
    struct hslice x = { *s, r->total };
    if (r->nhs < r->max) {
        if (r->nhs == r->hscap) {
            size_t nc = r->hscap ? 2 * r->hscap : 1024;
            struct hslice *v = realloc(r->hs, (nc < r->max ? nc : r->max) * sizeof *v);
            if (!v)
                return -1;
            r->hs = v;
            r->hscap = nc < r->max ? nc : r->max;
        }
        size_t i = r->nhs++;            /* sift up */
        for (; i && first_to_go(&x, &r->hs[(i - 1) / 2]); i = (i - 1) / 2)
            r->hs[i] = r->hs[(i - 1) / 2];
        r->hs[i] = x;
        return 0;
    }
    if (first_to_go(&x, &r->hs[0]))
        return 0;
    r->hs[0] = x;
    heap_down(r, 0);
    return 0;
}

static bool cut;                        /* for cmp_kept: were slices left out? */

/* The kept slices by track and start, then as select_slices leaves them
 * (a stable sort of the longest-first order, or of the model's order). */
static int cmp_kept(const void *pa, const void *pb)
{
    const struct hslice *a = pa, *b = pb;
    if (a->s.track != b->s.track)
        return a->s.track < b->s.track ? -1 : 1;
    if (a->s.start != b->s.start)
        return a->s.start < b->s.start ? -1 : 1;
    if (cut && a->s.dur != b->s.dur)
        return a->s.dur > b->s.dur ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

static int select_bounded(rep_t *r)
{
    cut = r->total > r->max;
    if (r->nhs)
        qsort(r->hs, r->nhs, sizeof *r->hs, cmp_kept);
    if (!(r->sl = malloc((r->nhs + 1) * sizeof *r->sl)))
        return -1;
    for (size_t i = 0; i < r->nhs; i++)
        r->sl[i] = r->hs[i].s;
    r->nsl = r->nhs;
    return 0;
}

static int cmp_longest(const void *pa, const void *pb)
{
    const slice_t *a = pa, *b = pb;
    if (a->dur != b->dur)
        return a->dur < b->dur ? 1 : -1;
    return (a->start > b->start) - (a->start < b->start);
}

static int cmp_track_start(const void *pa, const void *pb)
{
    const slice_t *a = pa, *b = pb;
    if (a->track != b->track)
        return a->track < b->track ? -1 : 1;
    return (a->start > b->start) - (a->start < b->start);
}

/* Keep the `max` longest slices, then order them by track and start. */
static void select_slices(rep_t *r, size_t max)
{
    if (r->nsl > max) {
        qsort(r->sl, r->nsl, sizeof *r->sl, cmp_longest);
        r->nsl = max;
    }
    qsort(r->sl, r->nsl, sizeof *r->sl, cmp_track_start);
}

/* ---- JSON output -------------------------------------------------------------------------- */

/* A JSON string that is also safe inside <script>: '<', '>' and '&' escaped. */
static void jstr(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == '<' || c == '>' || c == '&')
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void jz(FILE *f, const char *s)
{
    jstr(f, s, strlen(s));
}

static void ju(FILE *f, const char *key, uint64_t v, bool comma)
{
    fprintf(f, "%s\"%s\":%llu", comma ? "," : "", key, (unsigned long long)v);
}

static void meta(const rep_t *r)
{
    const ttr_model_t *m = r->m;
    const ttr_trace_t *t = m->t;
    FILE *f = r->out;
    uint64_t sent = m->nsent;
    fputs("\"meta\":{\"program\":", f);
    jz(f, t->program[0] ? t->program : "?");
    fputs(",\"clock\":", f);
    jz(f, t->clock[0] ? t->clock : "?");
    ju(f, "pid", t->pid, true);
    ju(f, "workers", t->workers, true);
    ju(f, "version", t->version, true);
    ju(f, "span", r->span, true);
    ju(f, "records", t->n, true);
    ju(f, "actors", m->nactors, true);
    ju(f, "sent", sent, true);
    ju(f, "handled", r->total, true);
    ju(f, "shown", r->nsl, true);
    ju(f, "skipped", t->skipped, true);
    fprintf(f, ",\"start_unix_ms\":%.3f,\"damaged\":%s,\"error\":", (double)t->start_unix_ns / 1e6,
            t->damaged ? "true" : "false");
    jz(f, t->damaged ? t->error : "");
    fputc('}', f);
}

static void labels(const rep_t *r)
{
    FILE *f = r->out;
    fputs(",\"behaviours\":[", f);
    for (size_t i = 0; i < r->nbeh; i++) {
        if (i)
            fputc(',', f);
        jstr(f, r->behname[i]->name, r->behname[i]->nlen);
    }
    /* label = [behaviour index or -1 (not an actor we know), type] */
    fputs("],\"labels\":[", f);
    for (size_t i = 0; i < r->nlab; i++)
        fprintf(f, "%s[%lld,%llu]", i ? "," : "", (long long)(r->labkey[i] >> 32) - 1,
                (unsigned long long)(r->labkey[i] & 0xFFFFFFFFu));
    fputc(']', f);
}

/* Actors that shown slices refer to, numbered in order of first use: the
 * page's "ta" table, which each slice's "a" column indexes. */
typedef struct actref { size_t *ix, *list, n; } actref_t;

static size_t actref(actref_t *ar, size_t actor)
{
    if (ar->ix[actor] == SIZE_MAX) {
        ar->ix[actor] = ar->n;
        ar->list[ar->n++] = actor;
    }
    return ar->ix[actor];
}

/* The columns of one track's slices sl[k0..k1): start, duration, label,
 * actor (ta index or -1), message id (a string: ids exceed 2^53). */
static void track_slices(const rep_t *r, size_t k0, size_t k1, actref_t *ar)
{
    FILE *f = r->out;
    const char *col[] = { "s", "d", "l", "a", "m" };
    for (int c = 0; c < 5; c++) {
        fprintf(f, ",\"%s\":[", col[c]);
        for (size_t k = k0; k < k1; k++) {
            const slice_t *s = &r->sl[k];
            if (k > k0)
                fputc(',', f);
            if (c == 0 || c == 1)
                fprintf(f, "%llu", (unsigned long long)(c ? s->dur : s->start));
            else if (c == 2)
                fprintf(f, "%u", s->label);
            else if (c == 3)
                fprintf(f, "%lld", s->actor == SIZE_MAX ? -1LL : (long long)actref(ar, s->actor));
            else
                fprintf(f, "\"%llu\"", (unsigned long long)s->msg);
        }
        fputc(']', f);
    }
}

/* One track's busy profile: ns per bin ("pb") and the label that did the
 * most of it ("pl", -1 for none). */
static void track_profile(const rep_t *r, size_t t)
{
    FILE *f = r->out;
    const bin_t *row = &r->bins[t * NBINS];
    fputs(",\"pb\":[", f);
    for (size_t k = 0; k < NBINS; k++)
        fprintf(f, "%s%llu", k ? "," : "", (unsigned long long)row[k].busy);
    fputs("],\"pl\":[", f);
    for (size_t k = 0; k < NBINS; k++) {
        int best = -1;
        for (int c = 0; c < NCAND; c++)
            if (row[k].lab[c] && (best < 0 || row[k].ns[c] > row[k].ns[best]))
                best = c;
        fprintf(f, "%s%lld", k ? "," : "", best < 0 ? -1LL : (long long)row[k].lab[best] - 1);
    }
    fputc(']', f);
}

static int tracks(const rep_t *r)
{
    const ttr_model_t *m = r->m;
    FILE *f = r->out;
    actref_t ar = { malloc((m->nactors + 1) * sizeof *ar.ix),
                    malloc((m->nactors + 1) * sizeof *ar.list), 0 };
    if (!ar.ix || !ar.list) {
        free(ar.ix);
        free(ar.list);
        return -1;
    }
    for (size_t i = 0; i < m->nactors; i++)
        ar.ix[i] = SIZE_MAX;
    fputs(",\"tracks\":[", f);
    for (size_t t = 0, j = 0; t < m->ntracks; t++) {
        const ttr_worker_t *w = &m->tracks[t];
        char name[64];
        snprintf(name, sizeof name, "%.*s %u", w->role ? (int)w->rlen : 5,
                 w->role ? w->role : "track", w->role ? w->index : (unsigned)t);
        fprintf(f, "%s{\"name\":", t ? ",\n" : "\n");
        jz(f, name);
        ju(f, "busy", w->busy, true);
        ju(f, "handled", w->handled, true);
        ju(f, "steals", w->steals, true);
        ju(f, "sleeps", w->sleeps, true);
        size_t k0 = j;                 /* sl[] is ordered by track */
        while (j < r->nsl && r->sl[j].track == t)
            j++;
        track_slices(r, k0, j, &ar);
        track_profile(r, t);
        fputc('}', f);
    }
    fputs("],\n\"ta\":[", f);
    for (size_t i = 0; i < ar.n; i++) {
        char p[32];
        fprintf(f, "%s[", i ? "," : "");
        jz(f, ttr_fmt_pid(m->actors[ar.list[i]].pid, p));
        fprintf(f, ",%zu]", r->beh[ar.list[i]]);
    }
    fputc(']', f);
    free(ar.ix);
    free(ar.list);
    return 0;
}

static int cmp_busy(const void *pa, const void *pb, void *arg)
{
    const ttr_actor_t *v = arg, *a = &v[*(const size_t *)pa], *b = &v[*(const size_t *)pb];
    if (a->busy != b->busy)
        return a->busy < b->busy ? 1 : -1;
    return (a->in < b->in) - (a->in > b->in);
}

static int cmp_depth(const void *pa, const void *pb, void *arg)
{
    const ttr_actor_t *v = arg, *a = &v[*(const size_t *)pa], *b = &v[*(const size_t *)pb];
    if (a->max_depth != b->max_depth)
        return a->max_depth < b->max_depth ? 1 : -1;
    return cmp_busy(pa, pb, arg);
}

static void actor_row(const rep_t *r, const ttr_actor_t *a)
{
    FILE *f = r->out;
    char p[32];
    fputs("{\"pid\":", f);
    jz(f, ttr_fmt_pid(a->pid, p));
    fputs(",\"name\":", f);
    jstr(f, a->name, a->nlen);
    ju(f, "in", a->in, true);
    ju(f, "out", a->out, true);
    ju(f, "busy", a->busy, true);
    ju(f, "depth", a->max_depth, true);
    ju(f, "w50", ttr_pct(&a->wait, 50), true);
    ju(f, "w99", ttr_pct(&a->wait, 99), true);
    ju(f, "wmax", ttr_pct(&a->wait, 100), true);
    ju(f, "h50", ttr_pct(&a->handle, 50), true);
    ju(f, "h99", ttr_pct(&a->handle, 99), true);
    ju(f, "hmax", ttr_pct(&a->handle, 100), true);
    fputc('}', f);
}

static int top_actors(const rep_t *r)
{
    const ttr_model_t *m = r->m;
    size_t *ix = malloc((m->nactors + 1) * sizeof *ix);
    if (!ix)
        return -1;
    const char *key[] = { "by_busy", "by_depth" };
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < m->nactors; i++)
            ix[i] = i;
        qsort_r(ix, m->nactors, sizeof *ix, k ? cmp_depth : cmp_busy, m->actors);
        fprintf(r->out, ",\n\"%s\":[", key[k]);
        for (size_t i = 0; i < m->nactors && i < TOP; i++) {
            if (i)
                fputc(',', r->out);
            actor_row(r, &m->actors[ix[i]]);
        }
        fputc(']', r->out);
    }
    free(ix);
    return 0;
}

static void histograms(const rep_t *r)
{
    const uint64_t *h[] = { r->wait, r->handle };
    const char *key[] = { "wait", "handle" };
    for (int k = 0; k < 2; k++) {
        fprintf(r->out, ",\"%s\":[", key[k]);
        for (int i = 0; i < HIST; i++)
            fprintf(r->out, "%s%llu", i ? "," : "", (unsigned long long)h[k][i]);
        fputc(']', r->out);
    }
}

/* ---- the graph: who sends to whom (user messages), busiest edges ----------------------------- */

typedef struct edge { size_t from, to; uint64_t count; } edge_t;

static int cmp_edge_count(const void *pa, const void *pb)
{
    const edge_t *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count < b->count ? 1 : -1;
    return a->from != b->from ? (a->from > b->from) - (a->from < b->from)
                              : (a->to > b->to) - (a->to < b->to);
}

/* Node of a pid: 0 = outside any actor, else actor index + 1 or behaviour + 1. */
static size_t node(const rep_t *r, uint64_t pid, bool by_beh)
{
    const ttr_actor_t *a = pid ? ttr_actor(r->m, pid) : NULL;
    if (!a)
        return 0;
    size_t i = (size_t)(a - r->m->actors);
    return (by_beh ? r->beh[i] : i) + 1;
}

static void node_json(const rep_t *r, size_t n, bool by_beh)
{
    FILE *f = r->out;
    char p[32];
    if (!n) {
        fputs("{\"name\":\"(outside actors)\",\"pid\":\"\"}", f);
        return;
    }
    const ttr_actor_t *a = by_beh ? r->behname[n - 1] : &r->m->actors[n - 1];
    fputs("{\"name\":", f);
    jstr(f, a->name, a->nlen);
    fputs(",\"pid\":", f);
    jz(f, by_beh ? "" : ttr_fmt_pid(a->pid, p));
    fputc('}', f);
}

/* A sent message's edge (user messages only), counted. */
static int graph_count(rep_t *r, const ttr_rec_t *s)
{
    if (s->v[3] >= SYS_TYPE)
        return 0;                     /* monitors, links: not the program's traffic */
    size_t a = node(r, s->v[1], r->by_beh), b = node(r, s->v[2], r->by_beh);
    size_t k = umap_get(&r->ex, (uint64_t)a << 32 | b, r->ne);
    if (k == SIZE_MAX)
        return -1;
    if (k == r->ne) {
        if (r->ne == r->ecap) {
            size_t nc = r->ecap ? 2 * r->ecap : 64;
            edge_t *v = realloc(r->e, nc * sizeof *v);
            if (!v)
                return -1;
            r->e = v;
            r->ecap = nc;
        }
        r->e[r->ne++] = (edge_t){ a, b, 0 };
    }
    r->e[k].count++;
    return 0;
}

static int graph(rep_t *r)
{
    edge_t *e = r->e;
    size_t ne = r->ne, nn = 0, *nodes = NULL;
    umap_t nx = { 0 };
    int rc = -1;
    if (ne)
        qsort(e, ne, sizeof *e, cmp_edge_count);
    fprintf(r->out, ",\n\"graph\":{\"by\":\"%s\",\"edges_total\":%zu,\"edges\":[",
            r->by_beh ? "behaviour" : "actor", ne);
    if (ne > MAX_EDGES)
        ne = MAX_EDGES;
    if (!(nodes = malloc((2 * ne + 1) * sizeof *nodes)))
        goto out;
    for (size_t i = 0; i < ne; i++) {
        size_t ends[2] = { e[i].from, e[i].to }, ix[2];
        for (int k = 0; k < 2; k++) {
            if ((ix[k] = umap_get(&nx, ends[k], nn)) == SIZE_MAX)
                goto out;
            if (ix[k] == nn)
                nodes[nn++] = ends[k];
        }
        fprintf(r->out, "%s[%zu,%zu,%llu]", i ? "," : "", ix[0], ix[1],
                (unsigned long long)e[i].count);
    }
    fputs("],\"nodes\":[", r->out);
    for (size_t i = 0; i < nn; i++) {
        if (i)
            fputc(',', r->out);
        node_json(r, nodes[i], r->by_beh);
    }
    fputs("]}", r->out);
    rc = 0;
out:
    umap_free(&nx);
    free(nodes);
    return rc;
}

/* ---- pub/sub: the subjects with the most traffic ------------------------------------------ */

/* "subjects": the TOP busiest (an empty list when the trace has no pub/sub
 * events: the page then shows no panel); "subjects_total": how many. */
static int subjects(const rep_t *r)
{
    const ttr_model_t *m = r->m;
    FILE *f = r->out;
    const ttr_subject_t **v = malloc((m->nsubjects + 1) * sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < m->nsubjects; i++)
        v[i] = &m->subjects[i];
    qsort(v, m->nsubjects, sizeof *v, ttr_subject_cmp_traffic);
    fprintf(f, ",\n\"subjects_total\":%zu,\"subjects\":[", m->nsubjects);
    for (size_t i = 0; i < m->nsubjects && i < TOP; i++) {
        const ttr_subject_t *s = v[i];
        fputs(i ? ",{\"name\":" : "{\"name\":", f);
        jstr(f, s->nlen ? s->name : "", s->nlen);
        ju(f, "pub", s->publishes, true);
        ju(f, "del", s->deliveries, true);
        ju(f, "reached", s->reached, true);
        ju(f, "f50", ttr_pct(&s->fanout, 50), true);
        ju(f, "fmax", ttr_pct(&s->fanout, 100), true);
        ju(f, "waits", s->wait.n, true);
        ju(f, "w50", ttr_pct(&s->wait, 50), true);
        ju(f, "w99", ttr_pct(&s->wait, 99), true);
        ju(f, "wmax", ttr_pct(&s->wait, 100), true);
        fputc('}', f);
    }
    fputc(']', f);
    free(v);
    return 0;
}

/* ---- the page ---------------------------------------------------------------------------- */

static int data(rep_t *r)
{
    fputs("{\"format\":1,", r->out);
    meta(r);
    labels(r);
    if (tracks(r) || top_actors(r))
        return -1;
    histograms(r);
    if (graph(r) || subjects(r))
        return -1;
    fputs("}", r->out);
    return 0;
}

static int page(rep_t *r)
{
    FILE *f = r->out;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"generator\" content=\"acto-trace report\">\n"
          "<title>acto trace report</title>\n<style>\n", f);
    fwrite(report_css, 1, report_css_len, f);
    fputs("</style></head>\n<body data-status=\"loading\">\n"
          "<noscript><p>This report draws itself with JavaScript: enable it to see the "
          "trace.</p></noscript>\n<main id=\"app\"></main>\n"
          "<script id=\"acto-data\" type=\"application/json\">", f);
    if (data(r))
        return -1;
    fputs("</script>\n<script>\n", f);
    fwrite(report_js, 1, report_js_len, f);
    fputs("</script>\n</body></html>\n", f);
    return 0;
}

static int report_args(const tool_args_t *a, size_t *max_slices)
{
    *max_slices = 50000;
    for (int i = 0; i < a->argc; i++) {
        const char *v = tool_opt(a, &i, "--max-slices");
        char *e;
        if (!v)
            return tool_error("report: unknown option '%s'", a->argv[i]);
        unsigned long long n = strtoull(v, &e, 10);
        if (!*v || *e || n < 1 || n > 10000000)
            return tool_error("report: --max-slices wants 1..10000000, not '%s'", v);
        *max_slices = (size_t)n;
    }
    return 0;
}

static void rep_free(rep_t *r)
{
    free(r->beh);
    free(r->behname);
    free(r->labkey);
    umap_free(&r->labix);
    umap_free(&r->ex);
    free(r->e);
    free(r->sl);
    free(r->hs);
    free(r->bins);
}

int cmd_report(const ttr_model_t *m, const tool_args_t *a, FILE *out)
{
    size_t max_slices;
    if (report_args(a, &max_slices))
        return 1;
    rep_t r = { .m = m, .out = out, .by_beh = m->nactors > GRAPH_ACTORS };
    if (m->t->n) {
        r.t0 = m->t->rec[0].ts;
        r.span = m->t->rec[m->t->n - 1].ts - r.t0;
        r.last = m->t->rec[m->t->n - 1].ts;
    }
    r.binw = r.span / NBINS + 1;     /* NBINS bins cover [0, span] */
    int rc = 0;
    if (behaviours(&r) || collect(&r))
        rc = tool_error("out of memory");
    else {
        select_slices(&r, max_slices);
        if (page(&r))
            rc = tool_error("out of memory");
    }
    rep_free(&r);
    return rc;
}

static int report_message(void *arg, const ttr_smsg_t *g)
{
    return collect_one(arg, g) ? -1 : 0;
}

/* The same from a streamed trace: the model (ttr_model_stream), then the
 * messages in the model's order, keeping the --max-slices longest slices
 * as they come. */
int cmd_report_stream(ttr_lite_t *l, const tool_args_t *a, FILE *out)
{
    size_t max_slices;
    if (report_args(a, &max_slices))
        return 1;
    const ttr_model_t *m = &l->m;
    rep_t r = { .m = m, .out = out, .bounded = true, .max = max_slices };
    int rc = ttr_model_stream(l, true, NULL, NULL);
    r.by_beh = m->nactors > GRAPH_ACTORS;
    if (l->t.n) {
        r.t0 = l->first_ts;
        r.span = l->last_ts - r.t0;
        r.last = l->last_ts;
    }
    r.binw = r.span / NBINS + 1;
    if (rc || behaviours(&r) || !(r.bins = calloc(m->ntracks * NBINS + 1, sizeof *r.bins)) ||
        ttr_lite_messages(l, true, report_message, &r) || select_bounded(&r) || page(&r))
        rc = tool_error("out of memory");
    rep_free(&r);
    return rc;
}
