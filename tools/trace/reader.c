/* tools/trace/reader.c - parse a trace file into sorted records. */
#define _GNU_SOURCE
#include <errno.h>
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

static int cmp_rec(const void *pa, const void *pb)
{
    const ttr_rec_t *a = pa, *b = pb;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return a->ord < b->ord ? -1 : a->ord > b->ord;
}

/* Parse records until the end or the first damage. */
static int parse_records(ttr_trace_t *t, size_t off, FILE *warn)
{
    msgpack_zone z;
    if (!msgpack_zone_init(&z, 4096))
        return -1;
    size_t cap = 0;
    uint64_t warned[4] = { 0 };   /* bitmap of unknown kinds < 256 warned about */
    int rc = 0;
    while (off < t->size) {
        size_t start = off;
        msgpack_object o;
        msgpack_zone_clear(&z);
        msgpack_unpack_return u = msgpack_unpack(t->image, t->size, &off, &z, &o);
        if (u == MSGPACK_UNPACK_CONTINUE) {
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
        ttr_rec_t r = { .ts = a->ptr[1].via.u64, .kind = (uint32_t)a->ptr[0].via.u64,
                        .track = (uint32_t)a->ptr[2].via.u64, .ord = (uint32_t)t->n };
        const char *spec = kind_fields(r.kind);
        if (!spec) {
            t->skipped++;
            if (warn && (r.kind >= 256 || !(warned[r.kind / 64] & (1ull << (r.kind % 64))))) {
                fprintf(warn, "acto-trace: warning: skipping records of unknown kind %u "
                        "(written by a newer acto?)\n", r.kind);
                if (r.kind < 256)
                    warned[r.kind / 64] |= 1ull << (r.kind % 64);
            }
            continue;
        }
        if (!fill(&r, a, spec)) {
            damage(t, start, "corrupt record (fields do not match its kind)");
            break;
        }
        if (push(t, &cap, &r)) {
            rc = -1;
            break;
        }
    }
    msgpack_zone_destroy(&z);
    if (rc)
        snprintf(t->error, sizeof t->error, "out of memory");
    else if (t->n > 1)
        qsort(t->rec, t->n, sizeof *t->rec, cmp_rec);
    return rc;
}

static int load_image(ttr_trace_t *t, FILE *warn)
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
    return rc ? rc : parse_records(t, off, warn);
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
    return load_image(t, warn);
}

int ttr_load(ttr_trace_t *t, const char *path, FILE *warn)
{
    memset(t, 0, sizeof *t);
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
    return load_image(t, warn);
}

void ttr_free(ttr_trace_t *t)
{
    free(t->rec);
    free(t->image);
    memset(t, 0, sizeof *t);
}
