/* tools/trace/reader.c - parse a trace file into sorted records. */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <acto/trace.h>

#include "reader.h"

/* Fields after [kind, ts, track]: u = unsigned, i = signed, s = string.
 * A record may carry more (a newer writer): the extra ones are ignored. */
static const char *kind_fields(uint32_t kind)
{
    switch (kind) {
    case ACTO_TRACE_SPAWN:       return "uusu";    /* pid parent name cause */
    case ACTO_TRACE_EXIT:        return "ui";      /* pid reason */
    case ACTO_TRACE_SEND:        return "uuuuuu";  /* id from to type size cause */
    case ACTO_TRACE_RECV_BEGIN:  return "uuu";     /* id pid type */
    case ACTO_TRACE_RECV_END:    return "u";       /* id */
    case ACTO_TRACE_DEPTH:       return "uu";      /* pid depth */
    case ACTO_TRACE_STEAL:       return "uu";      /* victim count */
    case ACTO_TRACE_SLEEP:       return "";
    case ACTO_TRACE_WAKE:        return "";
    case ACTO_TRACE_TRACK:       return "su";      /* role index */
    case ACTO_TRACE_IO_SUBMIT:   return "uuuu";    /* op fd request pid */
    case ACTO_TRACE_IO_COMPLETE: return "uuuiu";   /* op fd request result pid */
    case ACTO_TRACE_TIMER_FIRE:  return "uu";      /* timer pid */
    case ACTO_TRACE_PUBLISH:     return "suu";     /* topic msg subscribers */
    case ACTO_TRACE_DELIVER:     return "suu";     /* topic msg pid */
    default:                     return NULL;
    }
}

const char *ttr_kind_name(uint32_t kind)
{
    static const char *names[] = {
        [ACTO_TRACE_SPAWN] = "spawn", [ACTO_TRACE_EXIT] = "exit", [ACTO_TRACE_SEND] = "send",
        [ACTO_TRACE_RECV_BEGIN] = "recv_begin", [ACTO_TRACE_RECV_END] = "recv_end",
        [ACTO_TRACE_DEPTH] = "depth", [ACTO_TRACE_STEAL] = "steal", [ACTO_TRACE_SLEEP] = "sleep",
        [ACTO_TRACE_WAKE] = "wake", [ACTO_TRACE_TRACK] = "track",
        [ACTO_TRACE_IO_SUBMIT] = "io_submit", [ACTO_TRACE_IO_COMPLETE] = "io_complete",
        [ACTO_TRACE_TIMER_FIRE] = "timer_fire", [ACTO_TRACE_PUBLISH] = "publish",
        [ACTO_TRACE_DELIVER] = "deliver",
    };
    return kind < sizeof names / sizeof *names && names[kind] ? names[kind] : "unknown";
}

static void damage(ttr_trace_t *t, uint64_t off, const char *what)
{
    t->damaged = true;
    t->damage_offset = off;
    snprintf(t->error, sizeof t->error, "%s at byte %llu (after %zu good records)", what,
             (unsigned long long)off, t->n);
}

static bool is_uint(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
}

/* Fill r from the array o by the kind's field list; false if it does not
 * match (corrupt record). */
static bool fill(ttr_rec_t *r, const msgpack_object_array *a, const char *spec)
{
    unsigned nv = 0;
    for (unsigned i = 0; spec[i]; i++) {
        if (3 + i >= a->size)
            return false;
        const msgpack_object *o = &a->ptr[3 + i];
        if (spec[i] == 's') {
            if (o->type != MSGPACK_OBJECT_STR)
                return false;
            r->str = o->via.str.ptr;
            r->slen = o->via.str.size;
        } else if (spec[i] == 'i' && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
            r->v[nv++] = (uint64_t)o->via.i64;
        } else if (is_uint(o)) {
            r->v[nv++] = o->via.u64;
        } else {
            return false;
        }
    }
    return true;
}

static void header_str(char *dst, size_t cap, const msgpack_object *v)
{
    if (v->type != MSGPACK_OBJECT_STR)
        return;
    size_t n = v->via.str.size < cap - 1 ? v->via.str.size : cap - 1;
    memcpy(dst, v->via.str.ptr, n);
    dst[n] = 0;
}

static int parse_header(ttr_trace_t *t, const msgpack_object *h)
{
    if (h->type != MSGPACK_OBJECT_MAP) {
        snprintf(t->error, sizeof t->error, "the header is not a msgpack map");
        return -1;
    }
    for (uint32_t i = 0; i < h->via.map.size; i++) {
        const msgpack_object *k = &h->via.map.ptr[i].key, *v = &h->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR)
            continue;
        const char *s = k->via.str.ptr;
        size_t n = k->via.str.size;
#define KEY(lit) (n == sizeof(lit) - 1 && memcmp(s, lit, n) == 0)
        uint64_t u = is_uint(v) ? v->via.u64 : 0;
        if (KEY("version")) t->version = u;
        else if (KEY("start_ns")) t->start_ns = u;
        else if (KEY("start_unix_ns")) t->start_unix_ns = u;
        else if (KEY("workers")) t->workers = u;
        else if (KEY("pid")) t->pid = u;
        else if (KEY("program")) header_str(t->program, sizeof t->program, v);
        else if (KEY("clock")) header_str(t->clock, sizeof t->clock, v);
        else if (KEY("tick0")) t->tick0 = u;
#undef KEY
    }
    if (t->version < 1 || t->version > ACTO_TRACE_VERSION) {
        snprintf(t->error, sizeof t->error, "trace format version %llu: this reader knows 1..%d",
                 (unsigned long long)t->version, ACTO_TRACE_VERSION);
        return -1;
    }
    return 0;
}

static int push(ttr_trace_t *t, size_t *cap, const ttr_rec_t *r)
{
    if (t->n >= TTR_NONE - 1) {         /* indexes are 32-bit (reader.h) */
        snprintf(t->error, sizeof t->error, "more than %zu records: too big for this reader",
                 TTR_NONE - 2);
        return -1;
    }
    if (t->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4096;
        ttr_rec_t *v = realloc(t->rec, nc * sizeof *v);
        if (!v)
            return -1;
        t->rec = v;
        *cap = nc;
    }
    t->rec[t->n++] = *r;
    return 0;
}

/* Records by (ts, position in the file): indexes into the unsorted array,
 * whose value is that position. */
static int cmp_ix(const void *pa, const void *pb, void *arg)
{
    const ttr_rec_t *rec = arg;
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    if (rec[a].ts != rec[b].ts)
        return rec[a].ts < rec[b].ts ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Sort the records in place by (ts, file order), with 8 bytes of scratch
 * per record (qsort of 64-byte records would take 16: it sorts pointers),
 * then move each record once along the cycles of the permutation. */
static int sort_records(ttr_trace_t *t)
{
    size_t n = t->n, i;
    for (i = 1; i < n && t->rec[i - 1].ts <= t->rec[i].ts; i++)
        ;
    if (i >= n)
        return 0;                       /* already in order */
    uint32_t *p = malloc(n * sizeof *p);
    if (!p)
        return -1;
    for (i = 0; i < n; i++)
        p[i] = (uint32_t)i;
    qsort_r(p, n, sizeof *p, cmp_ix, t->rec);
    for (i = 0; i < n; i++) {           /* rec[j] takes rec[p[j]]; p[j] = j marks it done */
        if (p[i] == i)
            continue;
        ttr_rec_t first = t->rec[i];
        size_t j = i;
        for (;;) {
            size_t k = p[j];
            p[j] = (uint32_t)j;
            if (k == i) {
                t->rec[j] = first;
                break;
            }
            t->rec[j] = t->rec[k];
            j = k;
        }
    }
    free(p);
    return 0;
}

/* ---- version 2: blocks of packed units ------------------------------------------
 * Decoding a track needs its own earlier units only (its send count, the
 * receive in progress); a block header restates that state, so a block after
 * a gap decodes too, and the gap is reported. */

/* A track's sends by number k at [k-base-1]: what a short receive of one
 * takes from it (12 bytes a send: the table grows with the trace). */
typedef struct rd_track {
    uint64_t *to;               /* receiver; 0 if the send was lost in a gap */
    uint32_t *type;
    uint64_t base, nsend, cap;  /* sends before the track's first block; so far */
    uint64_t last_send_ns;      /* the latest send's ts (a deliver takes it) */
    bool last_lost;             /* the latest send fell in a gap */
    uint64_t words;             /* words decoded: the next block's wbase */
    uint64_t last_ns;           /* keeps the track's timestamps monotonic */
    uint64_t open_id, open_pid, open_ns;   /* the receive in progress */
    bool open, seen, gap;
} rd_track_t;

typedef struct rd {
    ttr_trace_t *t;
    size_t cap;                 /* of t->rec */
    ttr_sink_t sink;            /* if set: records go here instead of t->rec */
    void *arg;
    uint64_t ord;               /* with a sink: records emitted (file order) */
    rd_track_t *tr;
    size_t ntr;
    FILE *warn;
    uint64_t warned[4];         /* unknown kinds < 256 warned about */
} rd_t;

typedef struct blk {
    uint64_t ns_span, track, tick_span, seq, wbase, cause, self, bts;
    const uint8_t *data;        /* the units (len bytes available) */
    size_t len, off;            /* off: file offset of data */
} blk_t;

static void warn_kind(rd_t *r, uint32_t kind, const char *what)
{
    r->t->skipped++;
    if (r->warn && (kind >= 256 || !(r->warned[kind / 64] & (1ull << (kind % 64))))) {
        fprintf(r->warn, "acto-trace: warning: skipping %s of unknown kind %u "
                "(written by a newer acto?)\n", what, kind);
        if (kind < 256)
            r->warned[kind / 64] |= 1ull << (kind % 64);
    }
}

static rd_track_t *rd_track(rd_t *r, uint64_t track)
{
    if (track >= r->ntr) {
        size_t n = (size_t)track + 8;
        rd_track_t *v = realloc(r->tr, n * sizeof *v);
        if (!v)
            return NULL;
        memset(v + r->ntr, 0, (n - r->ntr) * sizeof *v);
        r->tr = v;
        r->ntr = n;
    }
    return &r->tr[track];
}

static void rd_free(rd_t *r)
{
    for (size_t i = 0; i < r->ntr; i++) {
        free(r->tr[i].to);
        free(r->tr[i].type);
    }
    free(r->tr);
}

/* Note the track's next send (rec NULL: lost in a gap). */
static int send_note(rd_track_t *tr, const ttr_rec_t *rec)
{
    if (tr->nsend - tr->base == tr->cap) {
        uint64_t nc = tr->cap ? tr->cap * 2 : 1024;
        uint64_t *to = realloc(tr->to, nc * sizeof *to);
        if (to)
            tr->to = to;
        uint32_t *type = to ? realloc(tr->type, nc * sizeof *type) : NULL;
        if (!type)
            return -1;
        tr->type = type;
        tr->cap = nc;
    }
    uint64_t k = tr->nsend++ - tr->base;
    tr->to[k] = rec ? rec->v[2] : 0;
    tr->type[k] = rec ? (uint32_t)rec->v[3] : 0;
    tr->last_send_ns = rec ? rec->ts : 0;
    tr->last_lost = !rec;
    return 0;
}

/* A decoded record: stored, or handed to the sink.  0 or -1 (no memory). */
static int emit(rd_t *r, const ttr_rec_t *rec)
{
    if (!r->sink)
        return push(r->t, &r->cap, rec);
    r->t->n++;                          /* counts, for damage messages */
    return r->sink(r->arg, rec, r->ord++) ? -1 : 0;
}

static inline uint64_t le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return le64toh(v);
}

/* Unit timestamp (the clock's low 56 bits) to ns since start_ns, with the
 * block's ratio, never before the track's previous record.  Ticks count
 * from tick0 modulo 2^56; a "negative" count (read on another core just
 * before the start) is 0. */
static uint64_t unit_ns(const rd_t *r, const blk_t *b, rd_track_t *tr, uint64_t ts)
{
    uint64_t ticks = (ts - r->t->tick0) & ((1ull << 56) - 1);
    if (ticks >> 55)
        ticks = 0;
    uint64_t ns = b->tick_span
        ? (uint64_t)((unsigned __int128)ticks * b->ns_span / b->tick_span) : ticks;
    if (ns < tr->last_ns)
        ns = tr->last_ns;
    tr->last_ns = ns;
    return ns;
}

/* Words the unit at w takes; 0 if its kind is not one of version 2's. */
static size_t unit_words(uint64_t w0, const uint8_t *w, size_t avail)
{
    static const uint8_t fixed[] = {
        [ACTO_TRACE_U_EXIT] = 3, [ACTO_TRACE_U_SEND] = 2, [ACTO_TRACE_U_RECV] = 2,
        [ACTO_TRACE_U_RECV_END] = 1, [ACTO_TRACE_U_DEPTH] = 2, [ACTO_TRACE_U_STEAL] = 2,
        [ACTO_TRACE_U_SLEEP] = 1, [ACTO_TRACE_U_WAKE] = 1, [ACTO_TRACE_U_TRACK] = 2,
        [ACTO_TRACE_U_SEND_X] = 4, [ACTO_TRACE_U_RECV_X] = 4, [ACTO_TRACE_U_RECV_LAST] = 1,
        [ACTO_TRACE_U_IO_SUBMIT] = 4,
        [ACTO_TRACE_U_IO_COMPLETE] = 5, [ACTO_TRACE_U_TIMER_FIRE] = 3,
    };
    uint32_t kind = (uint32_t)(w0 & 0xff);
    if (kind >= ACTO_TRACE_U_EXT)
        return (size_t)((w0 >> 8) & 0xff);
    if (kind == ACTO_TRACE_U_SPAWN) {
        if (avail < 4)
            return 4;                 /* cut short: the caller sees it */
        uint64_t len = le64(w + 24);
        return len > 255 ? 0 : 4 + (size_t)((len + 7) / 8);
    }
    return kind < sizeof fixed ? fixed[kind] : 0;
}

static const char *role_str(uint64_t role, uint32_t *len)
{
    static const char *names[] = { "worker", "root", "thread" };
    const char *s = role < 3 ? names[role] : "?";
    *len = (uint32_t)strlen(s);
    return s;
}

/* A pub/sub unit (n words): PUBLISH of the message in the receive, or
 * DELIVER of the track's latest send (docs/trace-format.md).  0 or -2. */
static int pubsub_rec(const blk_t *b, rd_track_t *tr, const uint8_t *u, size_t n,
                      ttr_rec_t *rec, const char **why)
{
    uint64_t w0 = le64(u);
    unsigned head = (w0 & 0xff) == ACTO_TRACE_U_DELIVER;
    size_t slen = (size_t)((w0 >> 16) & 0xffff);
    if (n < 1 + head + (slen + 7) / 8) {
        *why = "corrupt event (subject runs past its unit)";
        return -2;
    }
    rec->str = (const char *)u + 8 * (1 + head);
    rec->slen = (uint32_t)slen;
    if (!head) {
        if (!tr->open) {
            *why = "corrupt event (needs a receive in progress)";
            return -2;
        }
        rec->kind = ACTO_TRACE_PUBLISH;
        rec->ts = tr->open_ns;
        rec->v[0] = tr->open_id;
        rec->v[1] = w0 >> 32;
        return 0;
    }
    uint64_t k = tr->nsend;            /* the send it follows */
    bool lost = tr->gap && k <= tr->base;
    if (k == 0 || (k <= tr->base && !lost)) {
        *why = "corrupt event (deliver without a send)";
        return -2;
    }
    lost = lost || tr->last_lost;
    rec->kind = ACTO_TRACE_DELIVER;
    rec->ts = !lost ? tr->last_send_ns : tr->open ? tr->open_ns : tr->last_ns;
    rec->v[0] = (b->track + 1) << 48 | k;
    rec->v[1] = le64(u + 8);
    return 0;
}

/* One unit into a record (0), skipped (1), or corrupt (-2: *why says how);
 * -1 out of memory. */
static int unit_rec(rd_t *r, const blk_t *b, rd_track_t *tr, const uint8_t *u, size_t n,
                    const char **why)
{
    uint64_t w0 = le64(u), w[5] = { 0 };
    uint32_t kind = (uint32_t)(w0 & 0xff);
    if (kind == ACTO_TRACE_U_PUBLISH || kind == ACTO_TRACE_U_DELIVER) {
        ttr_rec_t rec = { .track = (uint16_t)b->track };
        int rc = pubsub_rec(b, tr, u, n, &rec, why);
        return rc ? rc : emit(r, &rec);
    }
    if (kind >= ACTO_TRACE_U_EXT) {
        warn_kind(r, kind, "event units");
        return 1;
    }
    for (size_t i = 1; i < 5 && i < n; i++)
        w[i] = le64(u + 8 * i);
    ttr_rec_t rec = { .track = (uint16_t)b->track };
    bool stamped = kind != ACTO_TRACE_U_SEND && kind != ACTO_TRACE_U_DEPTH;
    if (stamped)
        rec.ts = unit_ns(r, b, tr, w0 >> 8);
    bool in_recv = kind == ACTO_TRACE_U_SEND || kind == ACTO_TRACE_U_DEPTH ||
                   kind == ACTO_TRACE_U_RECV_END;
    if (in_recv && !tr->open) {
        *why = "corrupt event (needs a receive in progress)";
        return -2;
    }
    bool recv = kind == ACTO_TRACE_U_RECV || kind == ACTO_TRACE_U_RECV_X ||
                kind == ACTO_TRACE_U_RECV_LAST;
    if (recv && tr->open) {
        *why = "corrupt event (receive inside a receive)";
        return -2;
    }
    uint64_t idbase = (b->track + 1) << 48;
    switch (kind) {
    case ACTO_TRACE_U_SPAWN:
        rec.kind = ACTO_TRACE_SPAWN;
        rec.v[0] = le64(u + 8);
        rec.v[1] = le64(u + 16);
        rec.v[2] = tr->open ? tr->open_id : 0;
        rec.slen = (uint32_t)le64(u + 24);
        rec.str = (const char *)u + 32;
        break;
    case ACTO_TRACE_U_EXIT:
        rec.kind = ACTO_TRACE_EXIT;
        rec.v[0] = w[1];
        rec.v[1] = w[2];
        break;
    case ACTO_TRACE_U_SEND:
    case ACTO_TRACE_U_SEND_X:
        rec.kind = ACTO_TRACE_SEND;
        rec.v[0] = idbase | (tr->nsend + 1);
        if (kind == ACTO_TRACE_U_SEND) {      /* in the receive: its time, actor, id */
            rec.ts = tr->open_ns;
            rec.v[1] = tr->open_pid;
            rec.v[2] = w[1];
            rec.v[3] = (w0 >> 8) & 0xffffffffu;
            rec.v[4] = w0 >> 40;
        } else {
            rec.v[1] = w[1];
            rec.v[2] = w[3];
            rec.v[3] = w[2] & 0xffffffffu;
            rec.v[4] = w[2] >> 32;
        }
        rec.v[5] = tr->open ? tr->open_id : 0;
        if (send_note(tr, &rec))
            return -1;
        break;
    case ACTO_TRACE_U_RECV:
    case ACTO_TRACE_U_RECV_X:
    case ACTO_TRACE_U_RECV_LAST:
        rec.kind = ACTO_TRACE_RECV_BEGIN;
        rec.v[0] = kind == ACTO_TRACE_U_RECV_LAST ? idbase | tr->nsend : w[1];
        if (kind == ACTO_TRACE_U_RECV_X) {
            rec.v[1] = w[2];
            rec.v[2] = w[3] & 0xffffffffu;
        } else {                           /* sent on this track: find the send */
            uint64_t k = rec.v[0] & ((1ull << 48) - 1);
            bool lost = tr->gap && k <= tr->base;
            if ((rec.v[0] & ~((1ull << 48) - 1)) != idbase || k > tr->nsend ||
                (k <= tr->base && !lost)) {
                *why = "corrupt event (receive of a message this track did not send)";
                return -2;
            }
            if (!lost) {                   /* else its block was lost: reported */
                rec.v[1] = tr->to[k - tr->base - 1];
                rec.v[2] = tr->type[k - tr->base - 1];
            }
        }
        tr->open = true;
        tr->open_id = rec.v[0];
        tr->open_pid = rec.v[1];
        tr->open_ns = rec.ts;
        break;
    case ACTO_TRACE_U_RECV_END:
        rec.kind = ACTO_TRACE_RECV_END;
        rec.v[0] = tr->open_id;
        tr->open = false;
        break;
    case ACTO_TRACE_U_DEPTH:
        rec.kind = ACTO_TRACE_DEPTH;
        rec.ts = tr->open_ns;
        rec.v[0] = w[1];
        rec.v[1] = (w0 >> 8) & 0xffffffffu;
        break;
    case ACTO_TRACE_U_STEAL:
        rec.kind = ACTO_TRACE_STEAL;
        rec.v[0] = w[1] & 0xffffffffu;
        rec.v[1] = w[1] >> 32;
        break;
    case ACTO_TRACE_U_SLEEP:
    case ACTO_TRACE_U_WAKE:
        rec.kind = kind == ACTO_TRACE_U_SLEEP ? ACTO_TRACE_SLEEP : ACTO_TRACE_WAKE;
        break;
    case ACTO_TRACE_U_TRACK:
        rec.kind = ACTO_TRACE_TRACK;
        rec.str = role_str(w[1] & 0xffffffffu, &rec.slen);
        rec.v[0] = w[1] >> 32;
        break;
    case ACTO_TRACE_U_IO_SUBMIT:
    case ACTO_TRACE_U_IO_COMPLETE:
        rec.kind = kind == ACTO_TRACE_U_IO_SUBMIT ? ACTO_TRACE_IO_SUBMIT : ACTO_TRACE_IO_COMPLETE;
        rec.v[0] = w[1] & 0xffffffffu;
        rec.v[1] = w[1] >> 32;
        rec.v[2] = w[2];
        rec.v[3] = w[3];
        if (kind == ACTO_TRACE_U_IO_COMPLETE)
            rec.v[4] = w[4];
        break;
    case ACTO_TRACE_U_TIMER_FIRE:
        rec.kind = ACTO_TRACE_TIMER_FIRE;
        rec.v[0] = w[1];
        rec.v[1] = w[2];
        break;
    default:
        *why = "corrupt event (unknown unit kind)";
        return -2;
    }
    return emit(r, &rec);
}

/* Set the track's state from the block header.  A block that follows the
 * previous one of its track must agree with the state decoded so far; one
 * after a gap (a block lost: the runtime ran out of memory) starts from its
 * header, and the gap is reported. */
static int blk_begin(rd_t *r, const blk_t *b, rd_track_t *tr, const char **why)
{
    if (tr->seen && b->wbase == tr->words) {
        if (b->seq != tr->nsend || b->self != (tr->open ? tr->open_pid : 0) ||
            (tr->open && b->cause != tr->open_id)) {
            *why = "corrupt block (header disagrees with the track's events)";
            return -2;
        }
        return 0;
    }
    if (!tr->seen)                      /* numbers go on across traces (trace.h T5) */
        tr->base = tr->nsend = b->seq;
    if (b->wbase < tr->words || b->seq < tr->nsend) {
        *why = "corrupt block (goes back in its track)";
        return -2;
    }
    if (b->wbase > tr->words) {
        tr->gap = true;
        r->t->lost_words += b->wbase - tr->words;
        if (r->warn)
            fprintf(r->warn, "acto-trace: warning: track %llu: %llu words of events lost "
                    "before byte %zu (the runtime ran out of memory)\n",
                    (unsigned long long)b->track, (unsigned long long)(b->wbase - tr->words),
                    b->off);
    }
    while (tr->nsend < b->seq)
        if (send_note(tr, NULL))
            return -1;
    tr->words = b->wbase;
    tr->open = b->self != 0;
    tr->open_id = b->cause;
    tr->open_pid = b->self;
    if (tr->open)
        tr->open_ns = unit_ns(r, b, tr, b->bts);
    return 0;
}

/* Decode a block's units.  partial: the block is cut short at the end of
 * the file; stop at the first unit not wholly there.  0, -1 (no memory) or
 * -2 (corrupt: damage recorded). */
static int blk_decode(rd_t *r, const blk_t *b, bool partial)
{
    const char *why = NULL;
    if (b->track >= 0xffff) {          /* ids hold track + 1 in 16 bits */
        damage(r->t, b->off, "corrupt block (track)");
        return -2;
    }
    rd_track_t *tr = rd_track(r, b->track);
    if (!tr)
        return -1;
    size_t nw = b->len / 8;
    if (!partial && b->len % 8) {
        damage(r->t, b->off, "corrupt block (not whole words)");
        return -2;
    }
    int rc = blk_begin(r, b, tr, &why);
    for (size_t i = 0; rc == 0 && i < nw;) {
        const uint8_t *u = b->data + 8 * i;
        size_t n = unit_words(le64(u), u, nw - i);
        if (n == 0) {
            why = "corrupt event (unknown unit kind)";
            rc = -2;
        } else if (i + n > nw) {
            if (partial)
                break;
            why = "corrupt event (runs past its block)";
            rc = -2;
        } else if ((rc = unit_rec(r, b, tr, u, n, &why)) == 1) {
            rc = 0;
        }
        if (rc == 0) {
            i += n;
            tr->words += n;
        } else if (rc == -2) {
            damage(r->t, b->off + 8 * i, why);
        }
    }
    if (rc == -2 && why && !r->t->damaged)
        damage(r->t, b->off, why);
    tr->seen = true;
    return rc;
}

static bool blk_from_obj(const ttr_trace_t *t, const msgpack_object_array *a, blk_t *b)
{
    if (a->size < 10 || a->ptr[9].type != MSGPACK_OBJECT_BIN)
        return false;
    uint64_t f[9];
    for (int i = 0; i < 9; i++) {
        if (!is_uint(&a->ptr[i]))
            return false;
        f[i] = a->ptr[i].via.u64;
    }
    *b = (blk_t){ .ns_span = f[1], .track = f[2], .tick_span = f[3], .seq = f[4],
                  .wbase = f[5], .cause = f[6], .self = f[7], .bts = f[8],
                  .data = (const uint8_t *)a->ptr[9].via.bin.ptr, .len = a->ptr[9].via.bin.size };
    b->off = (size_t)((const char *)b->data - t->image);
    return true;
}

/* A msgpack uint at p[*i] (any width): 0, -1 cut short, -2 not a uint. */
static int mp_uint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
    if (*i >= n)
        return -1;
    uint8_t c = p[(*i)++];
    size_t w = c <= 0x7f ? 0 : c == 0xcc ? 1 : c == 0xcd ? 2 : c == 0xce ? 4 : c == 0xcf ? 8 : 9;
    if (w == 9)
        return -2;
    if (w == 0) {
        *v = c;
        return 0;
    }
    if (*i + w > n)
        return -1;
    *v = 0;
    for (size_t k = 0; k < w; k++)
        *v = *v << 8 | p[(*i)++];
    return 0;
}

/* The block record cut short at the end of the file: read its header by
 * hand (msgpack-c gives nothing for an incomplete value) so that the whole
 * units before the cut are kept. */
static bool blk_from_partial(const ttr_trace_t *t, size_t off, blk_t *b)
{
    const uint8_t *p = (const uint8_t *)t->image + off;
    size_t n = t->size - off, i = 1;
    if (n < 1 || p[0] != 0x9a)          /* fixarray of 10, as the runtime writes */
        return false;
    uint64_t f[9];
    for (int k = 0; k < 9; k++)
        if (mp_uint(p, n, &i, &f[k]) != 0)
            return false;
    if (f[0] != ACTO_TRACE_BLOCK || i >= n)
        return false;
    size_t lw = p[i] == 0xc4 ? 1 : p[i] == 0xc5 ? 2 : p[i] == 0xc6 ? 4 : 0;
    if (!lw || i + 1 + lw > n)
        return false;
    i++;
    i += lw;
    *b = (blk_t){ .ns_span = f[1], .track = f[2], .tick_span = f[3], .seq = f[4],
                  .wbase = f[5], .cause = f[6], .self = f[7], .bts = f[8],
                  .data = p + i, .len = n - i, .off = off + i };
    return true;
}

/* A mapped image's pages before byte `upto` are parsed: drop them from
 * memory every RELEASE_STEP bytes.  The mapping is private and never
 * written, so a page touched again (a behaviour name, a subject that
 * records point to) is read back from the file. */
#define RELEASE_STEP (16u << 20)

static void release_parsed(ttr_trace_t *t, size_t upto, size_t *released)
{
    if (!t->mapped || upto - *released < RELEASE_STEP)
        return;
    size_t end = upto & ~(size_t)(RELEASE_STEP - 1);   /* page-aligned */
    madvise(t->image + *released, end - *released, MADV_DONTNEED);
    *released = end;
}

/* Parse records until the end or the first damage. */
/* ttr_scan keeps the blocks (with the file position of their first record)
 * for ttr_stream to decode again, each track's in its own order. */
typedef struct sblk { blk_t b; uint64_t ord; bool partial; } sblk_t;
struct ttr_blocks { sblk_t *v; size_t n, cap; };

static int note_block(ttr_trace_t *t, const blk_t *b, bool partial, uint64_t ord)
{
    struct ttr_blocks *l = t->blocks;
    if (!l)
        return 0;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        sblk_t *v = realloc(l->v, nc * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = nc;
    }
    l->v[l->n++] = (sblk_t){ *b, ord, partial };
    return 0;
}

static int parse_records(ttr_trace_t *t, size_t off, FILE *warn, ttr_sink_t sink, void *arg)
{
    msgpack_zone z;
    if (!msgpack_zone_init(&z, 4096))
        return -1;
    rd_t rd = { .t = t, .warn = warn, .sink = sink, .arg = arg };
    int rc = 0;
    size_t released = 0;
    while (off < t->size) {
        size_t start = off;
        release_parsed(t, start, &released);
        msgpack_object o;
        msgpack_zone_clear(&z);
        msgpack_unpack_return u = msgpack_unpack(t->image, t->size, &off, &z, &o);
        if (u == MSGPACK_UNPACK_CONTINUE) {
            blk_t b;
            bool part = blk_from_partial(t, start, &b);
            if (part && note_block(t, &b, true, rd.ord)) {
                rc = -1;
                break;
            }
            if (part && (rc = blk_decode(&rd, &b, true)) != 0) {
                rc = rc == -2 ? 0 : rc;
                break;
            }
            damage(t, start, "truncated record (file cut short, or still being written)");
            break;
        }
        if (u == MSGPACK_UNPACK_NOMEM_ERROR) {
            rc = -1;
            break;
        }
        if (u != MSGPACK_UNPACK_SUCCESS && u != MSGPACK_UNPACK_EXTRA_BYTES) {
            damage(t, start, "corrupt data (not msgpack)");
            break;
        }
        const msgpack_object_array *a = &o.via.array;
        if (o.type != MSGPACK_OBJECT_ARRAY || a->size < 3 || !is_uint(&a->ptr[0]) ||
            !is_uint(&a->ptr[1]) || !is_uint(&a->ptr[2]) || a->ptr[0].via.u64 > UINT32_MAX ||
            a->ptr[2].via.u64 > UINT32_MAX) {
            damage(t, start, "corrupt record (not [kind, ts, track, ...])");
            break;
        }
        uint32_t kind = (uint32_t)a->ptr[0].via.u64;
        if (kind == ACTO_TRACE_BLOCK) {
            blk_t b;
            if (!blk_from_obj(t, a, &b)) {
                damage(t, start, "corrupt record (fields do not match its kind)");
                break;
            }
            if (note_block(t, &b, false, rd.ord)) {
                rc = -1;
                break;
            }
            if ((rc = blk_decode(&rd, &b, false)) != 0) {
                rc = rc == -2 ? 0 : rc;
                break;
            }
            continue;
        }
        const char *spec = kind_fields(kind);
        if (!spec) {
            warn_kind(&rd, kind, "records");
            continue;
        }
        if (a->ptr[2].via.u64 >= 0xffff) {   /* tracks are below 65535 */
            damage(t, start, "corrupt record (track)");
            break;
        }
        ttr_rec_t r = { .ts = a->ptr[1].via.u64, .kind = (uint8_t)kind,
                        .track = (uint16_t)a->ptr[2].via.u64 };
        if (!fill(&r, a, spec)) {
            damage(t, start, "corrupt record (fields do not match its kind)");
            break;
        }
        t->streamable = false;          /* a version-1 record: no blocks to merge */
        if (emit(&rd, &r)) {
            rc = -1;
            break;
        }
    }
    msgpack_zone_destroy(&z);
    rd_free(&rd);
    if (!rc && !sink && (rc = sort_records(t)) != 0)
        t->error[0] = 0;
    if (rc && !t->error[0])             /* else push said why */
        snprintf(t->error, sizeof t->error, "out of memory");
    return rc;
}

static int load_image(ttr_trace_t *t, FILE *warn, ttr_sink_t sink, void *arg)
{
    if (t->size < 8 || memcmp(t->image, ACTO_TRACE_MAGIC, 8) != 0) {
        snprintf(t->error, sizeof t->error, "not an acto trace (bad magic)");
        return -1;
    }
    msgpack_zone z;
    if (!msgpack_zone_init(&z, 1024))
        return -1;
    msgpack_object h;
    size_t off = 8;
    msgpack_unpack_return u = msgpack_unpack(t->image, t->size, &off, &z, &h);
    int rc;
    if (u == MSGPACK_UNPACK_SUCCESS || u == MSGPACK_UNPACK_EXTRA_BYTES)
        rc = parse_header(t, &h);
    else {
        snprintf(t->error, sizeof t->error, "%s header",
                 u == MSGPACK_UNPACK_CONTINUE ? "truncated" : "corrupt");
        rc = -1;
    }
    msgpack_zone_destroy(&z);
    return rc ? rc : parse_records(t, off, warn, sink, arg);
}

int ttr_load_mem(ttr_trace_t *t, const void *buf, size_t len, FILE *warn)
{
    memset(t, 0, sizeof *t);
    if (!(t->image = malloc(len ? len : 1))) {
        snprintf(t->error, sizeof t->error, "out of memory");
        return -1;
    }
    memcpy(t->image, buf, len);
    t->size = len;
    return load_image(t, warn, NULL, NULL);
}

/* Map a regular file read-only: its pages are the page cache's, which the
 * parse releases behind itself (release_parsed) so that a big trace does
 * not stay resident.  0, or -1 to read it instead (not a regular file,
 * empty, or mmap refused). */
static int map_file(ttr_trace_t *t, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return -1;
    void *p = MAP_FAILED;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uint64_t)st.st_size <= SIZE_MAX)
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return -1;
    madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
    t->image = p;
    t->size = (size_t)st.st_size;
    t->mapped = true;
    return 0;
}

/* The file's bytes: mapped, or read when it cannot be (a pipe). */
static int open_image(ttr_trace_t *t, const char *path)
{
    if (map_file(t, path) == 0)
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(t->error, sizeof t->error, "cannot open: %s", strerror(errno));
        return -1;
    }
    size_t cap = 1 << 20, n = 0, got;
    char *img = malloc(cap);
    while (img && (got = fread(img + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nimg = realloc(img, cap *= 2);
            if (!nimg) {
                free(img);
                img = NULL;
            }
            img = nimg;
        }
    }
    bool err = ferror(f);
    fclose(f);
    if (!img || err) {
        free(img);
        snprintf(t->error, sizeof t->error, "%s", err ? "read error" : "out of memory");
        return -1;
    }
    t->image = img;
    t->size = n;
    return 0;
}

int ttr_load(ttr_trace_t *t, const char *path, FILE *warn)
{
    memset(t, 0, sizeof *t);
    return open_image(t, path) ? -1 : load_image(t, warn, NULL, NULL);
}

int ttr_scan(ttr_trace_t *t, const char *path, FILE *warn, ttr_sink_t sink, void *arg)
{
    memset(t, 0, sizeof *t);
    if (open_image(t, path))
        return -1;
    if (!(t->blocks = calloc(1, sizeof *t->blocks))) {
        snprintf(t->error, sizeof t->error, "out of memory");
        return -1;
    }
    t->streamable = true;
    return load_image(t, warn, sink, arg);
}

/* ---- ttr_stream: the records in time order, decoded as the merge needs them ----------
 * Each track's records come out of its blocks in its own order, which is
 * time order except inside a receive: a send (or depth, publish, deliver)
 * carries the receive's begin, earlier than a spawn before it in the same
 * receive.  So each track keeps a small queue sorted by (ts, file position),
 * and its head may go out once no record still to come on that track can
 * sort before it: every later record of the track has ts >= its bound (the
 * open receive's begin, else the track's latest time; unit_ns never goes
 * below that).  The merge then takes the smallest head of all tracks, each
 * of which is final: the same order as ttr_load's sort. */

typedef struct srec { ttr_rec_t r; uint64_t ord; } srec_t;

typedef struct squeue {
    srec_t *v;
    size_t head, n, cap;        /* v[head..n) sorted by (ts, ord) */
    size_t *blk, nblk, next;    /* the track's blocks (indexes into blocks), in file order */
} squeue_t;

typedef struct smerge {
    const ttr_trace_t *t;
    ttr_trace_t scratch;        /* for the decoder: header copy; damage goes nowhere */
    rd_t rd;
    squeue_t *q;
    size_t nq;
} smerge_t;

static bool srec_less(const srec_t *a, const srec_t *b)
{
    return a->r.ts != b->r.ts ? a->r.ts < b->r.ts : a->ord < b->ord;
}

/* The decoder's sink: into the record's track queue, in order. */
static int squeue_put(void *arg, const ttr_rec_t *r, uint64_t ord)
{
    smerge_t *sm = arg;
    squeue_t *q = &sm->q[r->track];
    if (q->n == q->cap && q->head) {    /* slide down before growing */
        memmove(q->v, q->v + q->head, (q->n - q->head) * sizeof *q->v);
        q->n -= q->head;
        q->head = 0;
    }
    if (q->n == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 1024;
        srec_t *v = realloc(q->v, nc * sizeof *v);
        if (!v)
            return -1;
        q->v = v;
        q->cap = nc;
    }
    srec_t x = { *r, ord };
    size_t i = q->n++;
    for (; i > q->head && srec_less(&x, &q->v[i - 1]); i--)
        q->v[i] = q->v[i - 1];
    q->v[i] = x;
    return 0;
}

/* Drop a decoded block's whole pages from memory (read back if touched). */
static void release_block(const ttr_trace_t *t, const blk_t *b)
{
    uintptr_t pg = 4096, lo = ((uintptr_t)b->data + pg - 1) & ~(pg - 1);
    uintptr_t hi = ((uintptr_t)b->data + b->len) & ~(pg - 1);
    if (t->mapped && hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Decode track k's blocks until its head may go out or it has no more.
 * 0 or -1 (no memory). */
static int squeue_fill(smerge_t *sm, size_t k)
{
    squeue_t *q = &sm->q[k];
    for (;;) {
        if (q->next == q->nblk)
            return 0;                   /* all decoded: every record is final */
        const rd_track_t *tr = k < sm->rd.ntr ? &sm->rd.tr[k] : NULL;
        uint64_t bound = !tr ? 0 : tr->open ? tr->open_ns : tr->last_ns;
        if (q->head < q->n && tr && tr->seen && q->v[q->head].r.ts <= bound)
            return 0;
        const sblk_t *sb = &sm->t->blocks->v[q->blk[q->next++]];
        sm->rd.ord = sb->ord;
        int rc = blk_decode(&sm->rd, &sb->b, sb->partial);
        if (rc == -1)
            return -1;                  /* -2: the damage ttr_scan found: it ends here */
        release_block(sm->t, &sb->b);
    }
}

static int smerge_init(smerge_t *sm, const ttr_trace_t *t)
{
    *sm = (smerge_t){ .t = t, .scratch = *t };
    sm->scratch.rec = NULL;
    sm->scratch.n = 0;
    sm->scratch.damaged = false;
    sm->rd = (rd_t){ .t = &sm->scratch, .sink = squeue_put, .arg = sm };
    const struct ttr_blocks *l = t->blocks;
    for (size_t i = 0; i < l->n; i++)         /* a track >= 0xffff is damage: no records */
        if (l->v[i].b.track < 0xffff && l->v[i].b.track + 1 > sm->nq)
            sm->nq = (size_t)l->v[i].b.track + 1;
    if (!(sm->q = calloc(sm->nq + 1, sizeof *sm->q)))
        return -1;
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].b.track >= 0xffff)
            continue;
        squeue_t *q = &sm->q[l->v[i].b.track];
        size_t *v = realloc(q->blk, (q->nblk + 1) * sizeof *v);
        if (!v)
            return -1;
        q->blk = v;
        q->blk[q->nblk++] = i;
    }
    return 0;
}

static void smerge_free(smerge_t *sm)
{
    for (size_t i = 0; sm->q && i < sm->nq; i++) {
        free(sm->q[i].v);
        free(sm->q[i].blk);
    }
    free(sm->q);
    rd_free(&sm->rd);
}

int ttr_stream(const ttr_trace_t *t, ttr_sink_t sink, void *arg)
{
    if (!t->blocks || !t->streamable)
        return -1;
    smerge_t sm;
    int rc = smerge_init(&sm, t);
    for (size_t k = 0; rc == 0 && k < sm.nq; k++)
        rc = squeue_fill(&sm, k);
    while (rc == 0) {
        size_t best = SIZE_MAX;
        for (size_t k = 0; k < sm.nq; k++)
            if (sm.q[k].head < sm.q[k].n &&
                (best == SIZE_MAX || srec_less(&sm.q[k].v[sm.q[k].head], &sm.q[best].v[sm.q[best].head])))
                best = k;
        if (best == SIZE_MAX)
            break;
        const srec_t *x = &sm.q[best].v[sm.q[best].head++];
        if ((rc = sink(arg, &x->r, x->ord)) == 0)
            rc = squeue_fill(&sm, best);
    }
    smerge_free(&sm);
    return rc;
}

void ttr_free(ttr_trace_t *t)
{
    free(t->rec);
    if (t->blocks)
        free(t->blocks->v);
    free(t->blocks);
    if (t->mapped)
        munmap(t->image, t->size);
    else
        free(t->image);
    memset(t, 0, sizeof *t);
}
