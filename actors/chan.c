/* actors/chan.c - the channel actors ("shards") of a pub/sub bus
 * (actors/chan.h).
 *
 * A shard is an actor that owns one subject index (net/subject.h) and
 * nothing else is shared: every request reaches it as a message, so its
 * state needs no lock.  Per shard:
 *
 *   - rec: one subscription {owner, sid, kind, deliver_type, max, the
 *     subidx handle, the precomputed msg-frame head for sid}.  The index
 *     key is {owner pid, rec}, so a match yields the records directly.
 *   - owner: one per subscriber (an actor or a broker connection) with a
 *     list of its recs, for CHAN_DROP and DOWN, and the CHAN_WIRE_BATCH
 *     being built for it during one publish batch.
 *   - tab: one open-addressing table holding both owners, keyed (pid, 0),
 *     and recs, keyed (pid, 1 << 32 | sid), for CHAN_UNSUB by (owner, sid).
 *
 * Invariants (S1..S4):
 *   S1 a rec is in the index, in tab and on its owner's list, or in none
 *      of them (it is freed);
 *   S2 an owner is in tab iff its list is non-empty, except transiently
 *      inside one request;
 *   S3 an owner holds at most one monitor from this shard, taken with its
 *      first LOCAL rec and given back when the owner leaves; DOWN for it
 *      drops all its recs (a pid is never reused, so a DOWN always means
 *      that owner is gone);
 *   S4 owner->wb is non-NULL, or owner->gone is set, only inside the
 *      handling of one publish request, and then the owner is on the
 *      shard's touched list (once): every batch is sent (or freed) and
 *      every gone owner dropped before the request returns.  Recs are
 *      never removed while a match result is being walked, so the result's
 *      pointers stay valid (drops found while sending wait for the end).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "actors/chan.h"
#include "net/proto.h"
#include "net/subject.h"

/* ---- msgpack reading, bounds-checked ------------------------------------------ */

static inline uint32_t rd_be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static inline uint32_t rd_be32(const uint8_t *p)
{ return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static inline void wr_be32(uint8_t *p, uint32_t v)
{ p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }

/* A str (bin false) or bin (bin true) at *pp, before end: its bytes in
 * [*d, *d + *n), *pp moved past it.  -1 if it is another type or cut off. */
static int mp_bytes(const uint8_t **pp, const uint8_t *end, bool bin,
                    const uint8_t **d, size_t *n)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return -1;
    uint8_t b = *p++;
    size_t len, hl;
    if (!bin && b >= 0xa0 && b <= 0xbf) {
        hl = 0;
        len = b & 0x1f;
    } else if (b == (bin ? 0xc4 : 0xd9)) {
        hl = 1;
    } else if (b == (bin ? 0xc5 : 0xda)) {
        hl = 2;
    } else if (b == (bin ? 0xc6 : 0xdb)) {
        hl = 4;
    } else {
        return -1;
    }
    if ((size_t)(end - p) < hl)
        return -1;
    if (hl)
        len = hl == 1 ? p[0] : hl == 2 ? rd_be16(p) : rd_be32(p);
    p += hl;
    if ((size_t)(end - p) < len)
        return -1;
    *d = p;
    *n = len;
    *pp = p + len;
    return 0;
}

/* A msgpack unsigned integer that fits 32 bits.  -1 otherwise. */
static int mp_u32(const uint8_t **pp, const uint8_t *end, uint32_t *v)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return -1;
    uint8_t b = *p++;
    size_t hl = b <= 0x7f ? 0 : b == 0xcc ? 1 : b == 0xcd ? 2 : b == 0xce ? 4 : 9;
    if (hl == 9 || (size_t)(end - p) < hl)
        return -1;
    *v = hl == 0 ? b : hl == 1 ? p[0] : hl == 2 ? rd_be16(p) : rd_be32(p);
    *pp = p + hl;
    return 0;
}

/* An array header announcing exactly n elements (n < 16 here). */
static int mp_array_n(const uint8_t **pp, const uint8_t *end, uint32_t n)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return -1;
    uint8_t b = *p++;
    uint32_t got;
    if (b >= 0x90 && b <= 0x9f) {
        got = b & 0x0f;
    } else if (b == 0xdc && end - p >= 2) {
        got = rd_be16(p);
        p += 2;
    } else if (b == 0xdd && end - p >= 4) {
        got = rd_be32(p);
        p += 4;
    } else {
        return -1;
    }
    if (got != n)
        return -1;
    *pp = p;
    return 0;
}

size_t chan_pub_parse(const void *buf, size_t len, chan_pubv_t *out)
{
    const uint8_t *p = buf, *end = p + len;
    const uint8_t *d;
    size_t n;
    if (!buf || mp_bytes(&p, end, false, &d, &n))
        return 0;
    out->subject = (const char *)d;
    out->slen = n;
    if (p < end && *p == 0xc0) {
        p++;
        out->reply = NULL;
        out->rlen = 0;
    } else if (mp_bytes(&p, end, false, &d, &n) == 0) {
        out->reply = (const char *)d;
        out->rlen = n;
    } else {
        return 0;
    }
    if (mp_bytes(&p, end, true, &out->payload, &out->len))
        return 0;
    out->tail = buf;
    out->tail_len = (size_t)(p - (const uint8_t *)buf);
    return out->tail_len;
}

/* ---- the (pid, key) table -------------------------------------------------------
 * Linear probing, power-of-two capacity, at most half full, deletion by
 * backward shift (no tombstones).  v == NULL marks an empty slot. */

typedef struct tab_ent {
    uint64_t k1, k2;
    void *v;
} tab_ent_t;

typedef struct tab {
    tab_ent_t *e;
    size_t cap, n;
} tab_t;

#define TAB_OWNER 0ull
#define TAB_REC(sid) ((1ull << 32) | (uint64_t)(sid))

static inline size_t tab_hash(uint64_t a, uint64_t b)
{
    uint64_t h = a ^ (b * 0x9E3779B97F4A7C15ull);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (size_t)h;
}

static void *tab_get(const tab_t *t, uint64_t k1, uint64_t k2)
{
    if (!t->cap)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = tab_hash(k1, k2) & mask;; i = (i + 1) & mask) {
        const tab_ent_t *e = &t->e[i];
        if (!e->v)
            return NULL;
        if (e->k1 == k1 && e->k2 == k2)
            return e->v;
    }
}

static void tab_place(tab_ent_t *e, size_t cap, tab_ent_t ent)
{
    size_t mask = cap - 1;
    size_t i = tab_hash(ent.k1, ent.k2) & mask;
    while (e[i].v)
        i = (i + 1) & mask;
    e[i] = ent;
}

/* The key must be absent.  0 or ACTO_ENOMEM (the table is then unchanged). */
static int tab_put(tab_t *t, uint64_t k1, uint64_t k2, void *v)
{
    if ((t->n + 1) * 2 > t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 16;
        tab_ent_t *ne = calloc(ncap, sizeof *ne);
        if (!ne)
            return ACTO_ENOMEM;
        for (size_t i = 0; i < t->cap; i++)
            if (t->e[i].v)
                tab_place(ne, ncap, t->e[i]);
        free(t->e);
        t->e = ne;
        t->cap = ncap;
    }
    tab_place(t->e, t->cap, (tab_ent_t){ k1, k2, v });
    t->n++;
    return 0;
}

static void tab_del(tab_t *t, uint64_t k1, uint64_t k2)
{
    if (!t->cap)
        return;
    size_t mask = t->cap - 1;
    size_t i = tab_hash(k1, k2) & mask;
    for (;; i = (i + 1) & mask) {
        if (!t->e[i].v)
            return;
        if (t->e[i].k1 == k1 && t->e[i].k2 == k2)
            break;
    }
    /* Backward shift: pull later entries of the probe run into the hole
     * unless their home slot lies cyclically in (hole, j]. */
    size_t j = i;
    for (;;) {
        t->e[i].v = NULL;
        for (;;) {
            j = (j + 1) & mask;
            if (!t->e[j].v) {
                t->n--;
                return;
            }
            size_t home = tab_hash(t->e[j].k1, t->e[j].k2) & mask;
            bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays)
                break;
        }
        t->e[i] = t->e[j];
        i = j;
    }
}

/* ---- shard state --------------------------------------------------------------- */

typedef struct chan_rec chan_rec_t;

typedef struct chan_owner {
    acto_pid_t pid;
    chan_rec_t *recs;              /* this owner's subscriptions here */
    bool monitored;                /* S3 */
    uint64_t mon_ref;
    acto_msg_t *wb;                /* S4: CHAN_WIRE_BATCH being built */
    uint32_t wn;                   /* frames in wb */
    uint32_t wbytes;               /* their payload bytes */
    uint32_t wsid;                 /* the sid of the first */
    bool wmixed;                   /* a later one has another sid */
    bool touched;                  /* on the touched list (S4) */
    bool gone;                     /* a send found it dead: drop after the request */
    const char *tsubj;             /* tracing: wb's subject (in the request), */
    size_t tslen;                  /* its length; 0 once two frames differ */
    struct chan_owner *tnext;      /* touched list */
} chan_owner_t;

struct chan_rec {
    chan_owner_t *own;
    chan_rec_t *prev, *next;
    subidx_sub_t *h;
    uint64_t max;
    uint32_t sid, deliver_type;
    uint8_t kind, hlen;
    bool queued;                        /* a queue group member */
    uint8_t head[PROTO_MSG_HEAD_MAX];   /* proto_msg_head(sid) */
};

typedef struct shard {
    subidx_t *ix;
    tab_t tab;
    chan_owner_t *touched;         /* owners with a wire batch (S4) */
    unsigned index;
    uint64_t bad;                  /* malformed requests ignored */
    uint64_t lost;                 /* deliveries lost to ENOMEM */
} shard_t;

/* CHAN_WIRE_BATCH body header: fixed width (chan.h), so it is written
 * last, once the counts are known. */
#define WB_HDR CHAN_WB_HDR

static acto_pid_t self_pid(const acto_ctx_t *ctx) { return acto_self(ctx); }

static chan_owner_t *owner_get(shard_t *s, acto_pid_t pid, bool create)
{
    chan_owner_t *o = tab_get(&s->tab, pid, TAB_OWNER);
    if (o || !create)
        return o;
    if (!(o = calloc(1, sizeof *o)))
        return NULL;
    o->pid = pid;
    if (tab_put(&s->tab, pid, TAB_OWNER, o)) {
        free(o);
        return NULL;
    }
    return o;
}

/* S2: an owner without recs leaves (and gives its monitor back unless the
 * subscriber is known dead). */
static void owner_release(acto_ctx_t *ctx, shard_t *s, chan_owner_t *o, bool dead)
{
    if (o->recs)
        return;
    if (o->monitored && !dead)
        acto_demonitor(ctx, o->pid, o->mon_ref);
    tab_del(&s->tab, o->pid, TAB_OWNER);
    free(o);
}

static void rec_free(shard_t *s, chan_rec_t *r)
{
    chan_owner_t *o = r->own;
    subidx_remove(s->ix, r->h);
    tab_del(&s->tab, o->pid, TAB_REC(r->sid));
    if (r->prev)
        r->prev->next = r->next;
    else
        o->recs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    free(r);
}

static void owner_drop(acto_ctx_t *ctx, shard_t *s, chan_owner_t *o, bool dead)
{
    while (o->recs)
        rec_free(s, o->recs);
    owner_release(ctx, s, o, dead);
}

/* ---- subscribe / unsubscribe / drop -------------------------------------------- */

static void sub_failed(acto_ctx_t *ctx, acto_pid_t owner, uint32_t sid, int code)
{
    msg_send_sys(ctx, self_pid(ctx), owner, CHAN_SUB_FAILED, sid, code, 0, 2);
}

static bool obj_u64(const msgpack_object *o, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *v = o->via.u64;
    return true;
}

/* Body [owner, sid, kind, deliver_type, pattern, queue|nil, max]. */
static void do_sub(acto_ctx_t *ctx, shard_t *s, const acto_msg_t *msg)
{
    msgpack_object b;
    uint64_t owner, sid, kind, dt, max;
    if (acto_msg_unpack(ctx, msg, &b) || b.type != MSGPACK_OBJECT_ARRAY || b.via.array.size != 7)
        goto bad;
    const msgpack_object *f = b.via.array.ptr;
    if (!obj_u64(&f[0], &owner) || !obj_u64(&f[1], &sid) || sid > UINT32_MAX ||
        !obj_u64(&f[2], &kind) || kind > CHAN_WIRE || !obj_u64(&f[3], &dt) ||
        dt > UINT32_MAX || f[4].type != MSGPACK_OBJECT_STR ||
        (f[5].type != MSGPACK_OBJECT_STR && f[5].type != MSGPACK_OBJECT_NIL) ||
        !obj_u64(&f[6], &max))
        goto bad;
    const char *q = f[5].type == MSGPACK_OBJECT_STR ? f[5].via.str.ptr : NULL;
    size_t qlen = q ? f[5].via.str.size : 0;
    if (tab_get(&s->tab, owner, TAB_REC(sid))) {
        sub_failed(ctx, owner, (uint32_t)sid, ACTO_EINVAL);   /* sid in use: a client bug */
        return;
    }
    int rc = ACTO_ENOMEM;
    chan_owner_t *o = owner_get(s, owner, true);
    chan_rec_t *r = o ? calloc(1, sizeof *r) : NULL;
    if (!r)
        goto fail;
    r->own = o;
    r->sid = (uint32_t)sid;
    r->kind = (uint8_t)kind;
    r->deliver_type = (uint32_t)dt;
    r->max = kind == CHAN_WIRE ? max : 0;
    r->queued = q != NULL;
    r->hlen = (uint8_t)proto_msg_head(r->head, r->sid);
    rc = subidx_add(s->ix, f[4].via.str.ptr, f[4].via.str.size, q, qlen,
                    (subject_key_t){ owner, r }, &r->h);
    if (rc)
        goto fail;
    if ((rc = tab_put(&s->tab, owner, TAB_REC(sid), r))) {
        subidx_remove(s->ix, r->h);
        goto fail;
    }
    r->next = o->recs;
    if (o->recs)
        o->recs->prev = r;
    o->recs = r;
    if (kind == CHAN_LOCAL && !o->monitored && acto_monitor(ctx, owner, &o->mon_ref) == 0)
        o->monitored = true;
    return;
fail:
    free(r);
    if (o)
        owner_release(ctx, s, o, false);
    sub_failed(ctx, owner, (uint32_t)sid, rc);
    return;
bad:
    s->bad++;
}

static void do_unsub(acto_ctx_t *ctx, shard_t *s, const acto_msg_t *msg)
{
    uint64_t owner, sid;
    if (acto_msg_scan(ctx, msg, "[uu]", &owner, &sid) || sid > UINT32_MAX) {
        s->bad++;
        return;
    }
    chan_rec_t *r = tab_get(&s->tab, owner, TAB_REC(sid));
    if (!r)
        return;                    /* a wildcard's other shard, or already gone */
    chan_owner_t *o = r->own;
    rec_free(s, r);
    owner_release(ctx, s, o, false);
}

static void do_drop(acto_ctx_t *ctx, shard_t *s, acto_pid_t owner, bool dead)
{
    chan_owner_t *o = owner_get(s, owner, false);
    if (o)
        owner_drop(ctx, s, o, dead);
}

/* ---- delivery ---------------------------------------------------------------- */

static void touch(shard_t *s, chan_owner_t *o)
{
    if (!o->touched) {
        o->touched = true;
        o->tnext = s->touched;
        s->touched = o;
    }
}

static void owner_gone(shard_t *s, chan_owner_t *o)
{
    o->gone = true;
    touch(s, o);
}

/* A delivery's send; with tracing on, followed by its DELIVER (subject,
 * receiver) when the send was recorded (not when the message ran out of
 * memory): the reader ties a DELIVER to the track's latest send. */
static int send_delivery(acto_ctx_t *ctx, acto_pid_t from, acto_pid_t to, acto_msg_t *m,
                         const char *subject, size_t slen)
{
    trace_ctx_t *tc = ctx->tr;
    if (ACTO_LIKELY(!tc))
        return msg_send_from(ctx, from, to, m);
    uint64_t seq = tc->seq;
    int rc = msg_send_from(ctx, from, to, m);
    if (tc->seq != seq)
        trace_deliver(ctx, subject, slen, to);
    return rc;
}

/* LOCAL: one shared body per publish ([subject, reply, payload] = 0x93 and
 * the triple), one small header per subscriber.  The blob was made with
 * one reference per local delivery (B1); each message takes one. */
static void deliver_local(acto_ctx_t *ctx, shard_t *s, const chan_rec_t *r, acto_pid_t from,
                          msg_blob_t *blob, const chan_pubv_t *pv)
{
    acto_msg_t *m = blob ? msg_alloc_shared(ctx, r->deliver_type, blob) : NULL;
    if (!m) {
        if (blob)
            msg_blob_release(ctx, blob);   /* the reference m would have taken */
        s->lost++;
        return;
    }
    /* A dead subscriber's DOWN is on its way and drops it (S3). */
    send_delivery(ctx, from, r->own->pid, m, pv->subject, pv->slen);
}

static msg_blob_t *local_body(acto_ctx_t *ctx, const chan_pubv_t *pv, uint32_t nlocal)
{
    msg_blob_t *b = msg_blob_new(ctx, 1 + pv->tail_len, nlocal);
    if (b) {
        b->data[0] = 0x93;
        memcpy(b->data + 1, pv->tail, pv->tail_len);
    }
    return b;
}

/* WIRE with max > 0: alone, as CHAN_WIRE_ONE [sid, frame]. */
static void deliver_one(acto_ctx_t *ctx, shard_t *s, const chan_rec_t *r, const chan_pubv_t *pv)
{
    size_t flen = r->hlen + pv->tail_len;
    acto_msg_t *m = msg_alloc(ctx, CHAN_WIRE_ONE, flen + 16);
    if (!m) {
        s->lost++;
        return;
    }
    msgpack_packer pk;
    acto_msg_packer(m, &pk);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint32(&pk, r->sid);
    msgpack_pack_bin(&pk, flen);
    acto_msg_write(m, r->head, r->hlen);
    acto_msg_write(m, pv->tail, pv->tail_len);
    int rc = send_delivery(ctx, self_pid(ctx), r->own->pid, m, pv->subject, pv->slen);
    if (rc == ACTO_ENOACTOR)
        owner_gone(s, r->own);     /* died without CHAN_DROP */
    else if (rc)
        s->lost++;
}

/* Tracing: the subject of o's batch for its one DELIVER, or none (empty)
 * once it holds two subjects. */
static void wb_subject(chan_owner_t *o, const chan_pubv_t *pv)
{
    if (o->wn == 1) {
        o->tsubj = pv->subject;
        o->tslen = pv->slen;
    } else if (o->tslen != pv->slen || memcmp(o->tsubj, pv->subject, pv->slen) != 0) {
        o->tslen = 0;
    }
}

/* WIRE: append the msg frame (head + the publish's own bytes) to the
 * owner's batch for this request (S4). */
static void deliver_wire(acto_ctx_t *ctx, shard_t *s, const chan_rec_t *r, const chan_pubv_t *pv)
{
    chan_owner_t *o = r->own;
    if (!o->wb) {
        if (!(o->wb = msg_alloc(ctx, CHAN_WIRE_BATCH, WB_HDR + 2 * (r->hlen + pv->tail_len)))) {
            s->lost++;
            return;
        }
        o->wb->size = WB_HDR;      /* filled in by wire_flush */
        o->wn = 0;
        o->wbytes = 0;
        o->wsid = r->sid;
        o->wmixed = false;
        touch(s, o);
    }
    /* On ENOMEM the message is flagged and its send fails: counted there. */
    acto_msg_write(o->wb, r->head, r->hlen);
    acto_msg_write(o->wb, pv->tail, pv->tail_len);
    o->wn++;
    o->wbytes += (uint32_t)pv->len;    /* < the frames' length, a bin32 */
    o->wmixed |= r->sid != o->wsid;
    if (ACTO_UNLIKELY(ctx->tr))
        wb_subject(o, pv);
}

/* End of a publish request (S4): send each touched owner its batch, then
 * drop the owners found dead (a connection that died without CHAN_DROP):
 * only now, when no match result is being walked. */
static void wire_flush(acto_ctx_t *ctx, shard_t *s)
{
    chan_owner_t *o = s->touched, *gone = NULL;
    s->touched = NULL;
    while (o) {
        chan_owner_t *next = o->tnext;
        acto_msg_t *m = o->wb;
        o->wb = NULL;
        o->touched = false;
        if (m) {
            uint8_t *h = m->body;
            h[0] = 0x95;
            h[1] = 0xce;
            wr_be32(h + 2, o->wn);
            h[6] = 0xce;
            wr_be32(h + 7, o->wbytes);
            h[11] = o->wmixed ? 0xc2 : 0xc3;
            h[12] = 0xce;
            wr_be32(h + 13, o->wmixed ? 0 : o->wsid);
            h[17] = 0xc6;
            wr_be32(h + 18, (uint32_t)(m->size - WB_HDR));
            int rc = send_delivery(ctx, self_pid(ctx), o->pid, m, o->tsubj, o->tslen);
            if (rc == ACTO_ENOACTOR)
                o->gone = true;
            else if (rc)
                s->lost += o->wn;
        }
        if (o->gone) {
            o->tnext = gone;
            gone = o;
        }
        o = next;
    }
    while (gone) {
        chan_owner_t *next = gone->tnext;
        owner_drop(ctx, s, gone, true);
        gone = next;
    }
}

/* The previous publish's match within one request, reused while the
 * subject repeats (a batch is often one subject): valid because recs do
 * not change inside a request (S4) and nothing else matches meanwhile.
 * Not when the result holds a queue group member: a group chooses its
 * member per message. */
typedef struct last_match {
    const char *subject;           /* NULL: nothing to reuse */
    size_t slen;
    subidx_result_t res;
    uint32_t nlocal;               /* LOCAL entries in res */
} last_match_t;

static int match(shard_t *s, const chan_pubv_t *pv, last_match_t *lm)
{
    if (lm->subject && lm->slen == pv->slen && memcmp(lm->subject, pv->subject, pv->slen) == 0)
        return 0;
    lm->subject = NULL;
    if (subidx_match(s->ix, pv->subject, pv->slen, &lm->res))
        return -1;
    bool queued = false;
    lm->nlocal = 0;
    for (size_t i = 0; i < lm->res.n; i++) {
        const chan_rec_t *r = lm->res.v[i].ptr;
        lm->nlocal += r->kind == CHAN_LOCAL;
        queued |= r->queued;
    }
    if (!queued) {
        lm->subject = pv->subject;
        lm->slen = pv->slen;
    }
    return 0;
}

static void publish(acto_ctx_t *ctx, shard_t *s, const chan_pubv_t *pv, acto_pid_t from,
                    last_match_t *lm)
{
    if (match(s, pv, lm)) {
        s->bad++;                  /* invalid subject: the client did not check */
        return;
    }
    const subidx_result_t res = lm->res;
    /* One body for every local delivery, with all their references taken
     * at once (B1): no atomic operation per delivery on this side. */
    msg_blob_t *blob = lm->nlocal ? local_body(ctx, pv, lm->nlocal) : NULL;
    uint64_t lost = s->lost;
    for (size_t i = 0; i < res.n; i++) {
        const chan_rec_t *r = res.v[i].ptr;
        if (r->kind == CHAN_LOCAL)
            deliver_local(ctx, s, r, from, blob, pv);
        else if (r->max)
            deliver_one(ctx, s, r, pv);
        else
            deliver_wire(ctx, s, r, pv);
    }
    /* Deliveries made: the matches not lost to memory here (a wire
     * batch's own send comes later, at wire_flush). */
    if (ACTO_UNLIKELY(ctx->tr))
        trace_publish(ctx, pv->subject, pv->slen, (uint32_t)(res.n - (s->lost - lost)));
}

/* CHAN_PUB: [subject, reply, payload]. */
static void do_pub(acto_ctx_t *ctx, shard_t *s, const acto_msg_t *msg)
{
    const uint8_t *p = msg->body, *end = p + msg->size;
    chan_pubv_t pv;
    if (mp_array_n(&p, end, 3) || chan_pub_parse(p, (size_t)(end - p), &pv) != (size_t)(end - p)) {
        s->bad++;
        return;
    }
    last_match_t lm = { 0 };
    publish(ctx, s, &pv, msg->from, &lm);
    wire_flush(ctx, s);
}

/* CHAN_PUB_BATCH: uint n, then n triples filling the body exactly. */
static void do_pub_batch(acto_ctx_t *ctx, shard_t *s, const acto_msg_t *msg)
{
    const uint8_t *p = msg->body, *end = p + msg->size;
    uint32_t n;
    if (mp_u32(&p, end, &n)) {
        s->bad++;
        return;
    }
    last_match_t lm = { 0 };
    for (uint32_t i = 0; i < n; i++) {
        chan_pubv_t pv;
        size_t used = chan_pub_parse(p, (size_t)(end - p), &pv);
        if (!used) {
            s->bad++;              /* keep what was delivered; stop here */
            break;
        }
        p += used;
        publish(ctx, s, &pv, msg->from, &lm);
    }
    if (p != end)
        s->bad++;
    wire_flush(ctx, s);
}

/* CHAN_PUB_FLOW: the batch, then its acknowledgement (chan.h F1): sent
 * after wire_flush, so every delivery of the request went out first. */
static void do_pub_flow(acto_ctx_t *ctx, shard_t *s, const acto_msg_t *msg)
{
    do_pub_batch(ctx, s, msg);
    acto_msg_t *m = msg_alloc(ctx, CHAN_PUB_DONE, 9);
    if (!m) {
        s->lost++;
        return;
    }
    msgpack_packer pk;
    acto_msg_packer(m, &pk);
    msgpack_pack_uint64(&pk, msg->size);
    (void)msg_send_from(ctx, self_pid(ctx), msg->from, m);   /* sender gone: nobody waits */
}

/* ---- the shard actor ----------------------------------------------------------- */

static int shard_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    shard_t *s = state;
    s->index = *(const unsigned *)arg;
    int rc = subidx_new(&s->ix, SUBIDX_CACHE_DEFAULT);
    if (rc == 0)
        subidx_seed(s->ix, 0x9E3779B97F4A7C15ull * (s->index + 1));
    return rc;
}

static int shard_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    shard_t *s = state;
    acto_pid_t pid;
    switch (acto_msg_type(msg)) {
    case CHAN_PUB_BATCH: do_pub_batch(ctx, s, msg); break;
    case CHAN_PUB_FLOW:  do_pub_flow(ctx, s, msg); break;
    case CHAN_PUB:       do_pub(ctx, s, msg); break;
    case CHAN_SUB:       do_sub(ctx, s, msg); break;
    case CHAN_UNSUB:     do_unsub(ctx, s, msg); break;
    case CHAN_DROP:
    case ACTO_MSG_DOWN:   /* [pid, reason, ref]: a LOCAL subscriber died */
        if (msg_scan_sys(msg, &pid, NULL, NULL) == 0)
            do_drop(ctx, s, pid, acto_msg_type(msg) == ACTO_MSG_DOWN);
        else
            s->bad++;
        break;
    default:
        s->bad++;
        break;
    }
    return 0;                      /* a bad request never stops the shard */
}

static void shard_terminate(acto_ctx_t *ctx, void *state, int64_t reason)
{
    (void)reason;
    shard_t *s = state;
    for (size_t i = 0; i < s->tab.cap; i++) {
        chan_owner_t *o = s->tab.e[i].v;
        if (!o || s->tab.e[i].k2 != TAB_OWNER)
            continue;
        if (o->monitored)
            acto_demonitor(ctx, o->pid, o->mon_ref);
        for (chan_rec_t *r = o->recs, *n; r; r = n) {
            n = r->next;
            free(r);
        }
        free(o);
    }
    free(s->tab.e);
    subidx_free(s->ix);            /* frees the handles the recs pointed to */
}

static const acto_behavior_t shard_behavior = {
    .name = "chan_shard",
    .state_size = sizeof(shard_t),
    .init = shard_init,
    .receive = shard_receive,
    .terminate = shard_terminate,
};

/* ---- the bus ------------------------------------------------------------------- */

/* 8 bytes at a time, then a final mix (as in wyhash/murmur finalizers):
 * subjects are short, and a byte-at-a-time hash was a visible part of a
 * publish. */
unsigned chan_shard_of(const chan_bus_t *bus, const char *subject, size_t len)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, subject + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    if (i < len) {
        uint64_t w = 0;            /* bytewise: a short memcpy here stalled */
        for (unsigned k = 0; i < len; i++, k += 8)
            w |= (uint64_t)(uint8_t)subject[i] << k;
        h = (h ^ w) * 0xff51afd7ed558ccdull;
    }
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    /* [0, n) by multiply-shift of the high half (no division) */
    return (unsigned)(((h >> 32) * bus->n) >> 32);
}

int chan_bus_start(acto_ctx_t *ctx, unsigned n, chan_bus_t **out)
{
    if (!ctx || !out || n > CHAN_SHARDS_MAX)
        return ACTO_EINVAL;
    if (n == 0) {
        n = 4 * ctx->rt->nworkers;
        if (n == 0)
            n = 4;
        if (n > CHAN_SHARDS_MAX)
            n = CHAN_SHARDS_MAX;
    }
    chan_bus_t *bus = calloc(1, sizeof *bus);
    if (!bus)
        return ACTO_ENOMEM;
    for (unsigned i = 0; i < n; i++) {
        int rc = acto_spawn(ctx, &shard_behavior, &i, &bus->shard[i]);
        if (rc) {
            bus->n = i;
            chan_bus_stop(ctx, bus);
            free(bus);
            return rc;
        }
    }
    bus->n = n;
    *out = bus;
    return 0;
}

void chan_bus_stop(acto_ctx_t *ctx, chan_bus_t *bus)
{
    if (!ctx || !bus)
        return;
    for (unsigned i = 0; i < bus->n; i++)
        acto_kill(ctx, bus->shard[i], ACTO_EXIT_SHUTDOWN);
}

void chan_bus_free(chan_bus_t *bus)
{
    free(bus);
}

/* ---- senders -------------------------------------------------------------------- */

static bool pattern_is_literal(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((p[i] == '*' || p[i] == '>') && (i == 0 || p[i - 1] == '.') &&
            (i + 1 == len || p[i + 1] == '.'))
            return false;
    return true;
}

/* Send m to shard i, or to every shard (i < 0): m is used for the first and
 * copied for the others.  ctx is locked.  Returns the first error. */
static int send_shards(acto_ctx_t *ctx, const chan_bus_t *bus, int i, acto_msg_t *m)
{
    acto_pid_t from = self_pid(ctx);
    if (i >= 0)
        return msg_send_from(ctx, from, bus->shard[i], m);
    int rc = 0;
    for (unsigned k = bus->n; k-- > 0;) {
        acto_msg_t *c = m;
        if (k > 0) {
            if (!(c = msg_alloc(ctx, m->type, m->size))) {
                rc = rc ? rc : ACTO_ENOMEM;
                continue;
            }
            memcpy(c->body, m->body, m->size);
            c->size = m->size;
        }
        int r = msg_send_from(ctx, from, bus->shard[k], c);
        if (r && !rc)
            rc = r;
    }
    return rc;
}

/* The shard(s) a pattern lives in: its own, or all (-1) for a wildcard. */
static int pattern_route(const chan_bus_t *bus, const char *p, size_t len)
{
    return pattern_is_literal(p, len) ? (int)chan_shard_of(bus, p, len) : -1;
}

int chan_sub(acto_ctx_t *ctx, const chan_bus_t *bus, acto_pid_t owner, uint32_t sid,
             int kind, uint32_t deliver_type, const char *pattern, size_t plen,
             const char *queue, size_t qlen, uint64_t max)
{
    if (!ctx || !bus || (kind != CHAN_LOCAL && kind != CHAN_WIRE) ||
        subject_valid(pattern, plen, true) || (queue && subject_valid(queue, qlen, false)))
        return ACTO_EINVAL;
    ctx_lock(ctx);
    int rc = ACTO_ENOMEM;
    acto_msg_t *m = msg_alloc(ctx, CHAN_SUB, 32 + plen + qlen);
    if (m) {
        msgpack_packer pk;
        acto_msg_packer(m, &pk);
        msgpack_pack_array(&pk, 7);
        msgpack_pack_uint64(&pk, owner);
        msgpack_pack_uint32(&pk, sid);
        msgpack_pack_uint32(&pk, (uint32_t)kind);
        msgpack_pack_uint32(&pk, deliver_type);
        msgpack_pack_str_with_body(&pk, pattern, plen);
        if (queue)
            msgpack_pack_str_with_body(&pk, queue, qlen);
        else
            msgpack_pack_nil(&pk);
        msgpack_pack_uint64(&pk, max);
        rc = send_shards(ctx, bus, pattern_route(bus, pattern, plen), m);
    }
    ctx_unlock(ctx);
    return rc;
}

static int send_owner_sid(acto_ctx_t *ctx, const chan_bus_t *bus, int route, uint32_t type,
                          acto_pid_t owner, uint32_t sid, int nargs)
{
    ctx_lock(ctx);
    int rc = ACTO_ENOMEM;
    acto_msg_t *m = msg_alloc(ctx, type, 16);
    if (m) {
        msgpack_packer pk;
        acto_msg_packer(m, &pk);
        msgpack_pack_array(&pk, (size_t)nargs);
        msgpack_pack_uint64(&pk, owner);
        if (nargs > 1)
            msgpack_pack_uint32(&pk, sid);
        rc = send_shards(ctx, bus, route, m);
    }
    ctx_unlock(ctx);
    return rc;
}

int chan_unsub(acto_ctx_t *ctx, const chan_bus_t *bus, acto_pid_t owner, uint32_t sid,
               const char *pattern, size_t plen)
{
    if (!ctx || !bus || subject_valid(pattern, plen, true))
        return ACTO_EINVAL;
    return send_owner_sid(ctx, bus, pattern_route(bus, pattern, plen), CHAN_UNSUB, owner, sid, 2);
}

int chan_unsub_all(acto_ctx_t *ctx, const chan_bus_t *bus, acto_pid_t owner, uint32_t sid)
{
    if (!ctx || !bus)
        return ACTO_EINVAL;
    return send_owner_sid(ctx, bus, -1, CHAN_UNSUB, owner, sid, 2);
}

int chan_drop(acto_ctx_t *ctx, const chan_bus_t *bus, acto_pid_t owner)
{
    if (!ctx || !bus)
        return ACTO_EINVAL;
    return send_owner_sid(ctx, bus, -1, CHAN_DROP, owner, 0, 1);
}

/* msgpack str (bin false) or bin header for n bytes at p: its length.
 * Written here rather than through a msgpack-c packer: a publish is three
 * headers and three copies, and the packer's write callback per piece
 * cost more than the rest of the publish. */
static size_t put_hdr(uint8_t *p, size_t n, bool bin)
{
    if (!bin && n < 32) {
        p[0] = (uint8_t)(0xa0 | n);
        return 1;
    }
    if (n <= 0xff) {
        p[0] = bin ? 0xc4 : 0xd9;
        p[1] = (uint8_t)n;
        return 2;
    }
    if (n <= 0xffff) {
        p[0] = bin ? 0xc5 : 0xda;
        p[1] = (uint8_t)(n >> 8);
        p[2] = (uint8_t)n;
        return 3;
    }
    p[0] = bin ? 0xc6 : 0xdb;
    wr_be32(p + 1, (uint32_t)n);
    return 5;
}

int chan_pub(acto_ctx_t *ctx, const chan_bus_t *bus, const char *subject, size_t slen,
             const char *reply, size_t rlen, const void *payload, size_t len)
{
    if (!ctx || !bus || !subject || !slen || slen > SUBJECT_MAX ||
        (reply && (!rlen || rlen > SUBJECT_MAX)) || (!payload && len))
        return ACTO_EINVAL;
    if (len > ACTO_MSG_MAX_BODY - 2 * SUBJECT_MAX - 32)
        return ACTO_ELIMIT;
    /* [subject, reply|nil, payload]: 1 + (<= 3) + slen + (<= 3) + rlen + (<= 5) + len */
    size_t cap = 12 + slen + rlen + len;
    ctx_lock(ctx);
    int rc = ACTO_ENOMEM;
    acto_msg_t *m = msg_alloc(ctx, CHAN_PUB, cap);
    if (m) {
        uint8_t *p = m->body;
        *p++ = 0x93;
        p += put_hdr(p, slen, false);
        memcpy(p, subject, slen);
        p += slen;
        if (reply) {
            p += put_hdr(p, rlen, false);
            memcpy(p, reply, rlen);
            p += rlen;
        } else {
            *p++ = 0xc0;
        }
        p += put_hdr(p, len, true);
        if (len)
            memcpy(p, payload, len);
        m->size = (uint32_t)(p + len - m->body);
        rc = send_shards(ctx, bus, (int)chan_shard_of(bus, subject, slen), m);
    }
    ctx_unlock(ctx);
    return rc;
}

int chan_pub_batch(acto_ctx_t *ctx, const chan_bus_t *bus, unsigned i, const void *body,
                   size_t len, uint32_t n)
{
    if (!ctx || !bus || i >= bus->n || (!body && len))
        return ACTO_EINVAL;
    if (len > ACTO_MSG_MAX_BODY - 5)
        return ACTO_ELIMIT;
    ctx_lock(ctx);
    int rc = ACTO_ENOMEM;
    acto_msg_t *m = msg_alloc(ctx, CHAN_PUB_BATCH, len + 5);
    if (m) {
        msgpack_packer pk;
        acto_msg_packer(m, &pk);
        msgpack_pack_uint32(&pk, n);
        acto_msg_write(m, body, len);
        rc = msg_send_from(ctx, self_pid(ctx), bus->shard[i], m);
    }
    ctx_unlock(ctx);
    return rc;
}
