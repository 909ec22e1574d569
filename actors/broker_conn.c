/* actors/broker_conn.c - the broker's connection actor: one per client.
 *
 * Its socket actor (RAW mode) sends it the bytes the client writes
 * (ACTO_MSG_NET_DATA).  It cuts them into frames as they arrive
 * (wire_frame_len: a frame split across reads waits in `in`; more than
 * max_frame bytes of one frame is err 2 at once, nothing longer is ever
 * held), checks each frame in the order of docs/protocol.md "Validation
 * order", and acts on it:
 *
 *  - pub: the common encoding is recognised on the bytes (wire_pub_fast),
 *    anything else decoded with msgpack-c (proto_decode_bytes).  Either
 *    way the publish's tail (subject, reply, payload as the client sent
 *    them) is appended to this worker's batch for the subject's shard, and
 *    after the whole chunk each shard gets ONE batch (CHAN_PUB_FLOW: the
 *    shard acknowledges it, and above BRK_INFLIGHT_HIGH unacknowledged
 *    bytes the connection pauses reading: B3 in broker_impl.h).  Any other
 *    op first sends the batches collected so far, so a sub or unsub is in
 *    effect exactly for the publishes that follow it (actors/chan.h,
 *    "Ordering");
 *  - sub / unsub go to the shards (chan_sub / chan_unsub) and are
 *    remembered here (sid -> pattern) for unsub, auto-unsubscribe and the
 *    limits; hello, ping, stats are answered here.
 *
 * Deliveries come from the shards as CHAN_WIRE_BATCH: complete msg frames.
 * A batch for one live subscription without a max that fits the outbound
 * bound (B2 in broker_impl.h) - the common case - is written whole and
 * counted from its header.  Any other is walked (wire_msg_frame) to count
 * msgs/bytes out and deliveries per sid (unsub max N: it removes the
 * subscription when the N-th goes out and discards anything after),
 * checking the bound per frame, and what it keeps goes in one socket
 * write.
 *
 * State is small and buffers are lazy: an idle subscriber holds this
 * state, its subscription table and patterns; `in` exists only while a
 * frame is split across reads.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "actors/broker_impl.h"
#include "net/proto.h"
#include "net/subject.h"
#include "net/wire.h"

/* Timer message types (user range; ids checked). */
enum { TM_PING = 1, TM_LINGER = 2 };

typedef struct bk_sub {
    uint32_t sid;
    uint32_t plen;
    uint64_t max;               /* 0: no limit */
    uint64_t delivered;
    char *pattern;              /* NULL: empty slot */
} bk_sub_t;

typedef struct bk_conn {
    acto_broker_t *b;
    acto_pid_t sock;
    uint64_t written, sent;     /* B2 */
    uint64_t inflight;          /* B3: CHAN_PUB_FLOW bytes not yet acknowledged */
    uint64_t drained;           /* B4: input discarded since close */
    uint8_t *in;                /* a frame split across reads */
    size_t in_len, in_cap;
    bk_sub_t *subs;             /* open addressing by sid */
    uint32_t nsubs, subs_cap;
    uint32_t last;              /* index of the last sid found (a hint) */
    uint64_t ping_timer, linger_timer;
    proto_session_t sess;
    uint8_t pings_out;
    bool counted;               /* in the connections counter */
    bool closing;               /* close asked: input is discarded (B4) */
    bool slow;                  /* in a slow-consumer episode (drop policy) */
    bool chan_used;             /* a sub went to the shards: drop at exit */
    bool paused;                /* B3: reading paused (the last command sent) */
} bk_conn_t;

/* ---- the subscription table (open addressing by sid) ---------------------------------- */

static inline size_t sid_home(uint32_t sid, uint32_t cap)
{
    return (size_t)((sid * 0x9e3779b1u) >> 7) & (cap - 1);
}

static bk_sub_t *sub_find(bk_conn_t *c, uint32_t sid)
{
    if (!c->subs_cap)
        return NULL;
    bk_sub_t *s = &c->subs[c->last];
    if (s->pattern && s->sid == sid)
        return s;
    for (size_t j = sid_home(sid, c->subs_cap);; j = (j + 1) & (c->subs_cap - 1)) {
        s = &c->subs[j];
        if (!s->pattern)
            return NULL;
        if (s->sid == sid) {
            c->last = (uint32_t)j;
            return s;
        }
    }
}

static void sub_place(bk_sub_t *v, uint32_t cap, const bk_sub_t *s)
{
    size_t j = sid_home(s->sid, cap);
    while (v[j].pattern)
        j = (j + 1) & (cap - 1);
    v[j] = *s;
}

/* Add a record (sid not present); the table takes pattern (malloc'd). */
static int sub_add(bk_conn_t *c, uint32_t sid, char *pattern, uint32_t plen)
{
    if ((c->nsubs + 1) * 4 > c->subs_cap * 3) {
        uint32_t cap = c->subs_cap ? c->subs_cap * 2 : 4;
        bk_sub_t *v = calloc(cap, sizeof *v);
        if (!v)
            return ACTO_ENOMEM;
        for (uint32_t i = 0; i < c->subs_cap; i++)
            if (c->subs[i].pattern)
                sub_place(v, cap, &c->subs[i]);
        free(c->subs);
        c->subs = v;
        c->subs_cap = cap;
        c->last = 0;
    }
    sub_place(c->subs, c->subs_cap, &(bk_sub_t){ .sid = sid, .plen = plen, .pattern = pattern });
    c->nsubs++;
    return 0;
}

/* Remove s (backward shift, no tombstones) and tell the shards. */
static void sub_remove(acto_ctx_t *ctx, bk_conn_t *c, bk_sub_t *s)
{
    (void)chan_unsub(ctx, c->b->bus, acto_self(ctx), s->sid, s->pattern, s->plen);
    free(s->pattern);
    bk_add(&c->b->st.subscriptions, (uint64_t)-1);
    c->nsubs--;
    size_t m = c->subs_cap - 1, j = (size_t)(s - c->subs);
    for (size_t k = (j + 1) & m; c->subs[k].pattern; k = (k + 1) & m) {
        size_t h = sid_home(c->subs[k].sid, c->subs_cap);
        if (((k - h) & m) >= ((k - j) & m)) {
            c->subs[j] = c->subs[k];
            j = k;
        }
    }
    c->subs[j] = (bk_sub_t){ 0 };
    c->last = 0;
    if (c->nsubs == 0) {                 /* an idle connection holds no table */
        free(c->subs);
        c->subs = NULL;
        c->subs_cap = 0;
    }
}

/* ---- writing to the client ------------------------------------------------------------- */

static inline uint64_t pending(const bk_conn_t *c)
{
    return c->written - c->sent;
}

static void conn_write(acto_ctx_t *ctx, bk_conn_t *c, const void *p, size_t n)
{
    if (acto_sock_write(ctx, c->sock, p, n) == 0)
        c->written += n;
}

/* A packer writer into a fixed buffer. */
typedef struct fixbuf {
    uint8_t b[512];
    size_t n;
} fixbuf_t;

static int fix_write(void *data, const char *buf, size_t len)
{
    fixbuf_t *f = data;
    if (len > sizeof f->b - f->n)
        return -1;
    memcpy(f->b + f->n, buf, len);
    f->n += len;
    return 0;
}

static void conn_close(acto_ctx_t *ctx, bk_conn_t *c);

/* A control reply (welcome, ok, err, pong, stats_reply, ping).  It cannot
 * be dropped, so past max_pending + CTRL_SLACK the client is a slow
 * consumer whatever the policy (B2). */
static void conn_send_op(acto_ctx_t *ctx, bk_conn_t *c, const proto_op_t *op, bool force)
{
    if (!c->sock || (c->closing && !force))
        return;
    fixbuf_t f = { .n = 0 };
    msgpack_packer pk;
    msgpack_packer_init(&pk, &f, fix_write);
    if (proto_pack_frame(&pk, op) != 0)
        return;
    if (!force && pending(c) + f.n > c->b->max_pending + BRK_CTRL_SLACK) {
        bk_add(&c->b->st.slow_consumers, 1);
        proto_op_t e = proto_err_op(PROTO_ESLOW_CONSUMER, 0, false, 0);
        conn_send_op(ctx, c, &e, true);
        conn_close(ctx, c);
        return;
    }
    conn_write(ctx, c, f.b, f.n);
}

/* err `code` about op (sid when has_sid); a fatal one closes. */
static void conn_err(acto_ctx_t *ctx, bk_conn_t *c, int code, uint32_t op, bool has_sid,
                     uint32_t sid)
{
    proto_op_t e = proto_err_op(code, op, has_sid, sid);
    bool fatal = proto_err_fatal(code, op);
    conn_send_op(ctx, c, &e, fatal);
    if (fatal)
        conn_close(ctx, c);
}

/* Close (B4): a FIN once what is queued is sent, then read on until the
 * client ends too; the socket is killed after linger_ns (timer). */
static void conn_close(acto_ctx_t *ctx, bk_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;                 /* `in` may be the frame being handled: freed at exit */
    if (c->ping_timer) {
        (void)acto_timer_cancel(ctx, c->ping_timer);
        c->ping_timer = 0;
    }
    if (!c->sock) {
        acto_exit(ctx, ACTO_EXIT_NORMAL);
        return;
    }
    (void)acto_sock_shutdown(ctx, c->sock);
    if (c->paused && acto_sock_resume_read(ctx, c->sock) == 0)
        c->paused = false;             /* read to the end, whatever B3 said */
    if (acto_timer_start(ctx, c->b->linger_ns, 0, TM_LINGER, &c->linger_timer) != 0)
        (void)acto_kill(ctx, c->sock, ACTO_EXIT_KILLED);
}

/* B4: input after close is dropped; past the bound, stop waiting for the
 * client's end (the kernel may then reset the connection). */
static void conn_drain(acto_ctx_t *ctx, bk_conn_t *c, size_t n)
{
    uint64_t max = (uint64_t)c->b->max_frame + BRK_DRAIN_MAX;
    if (c->drained <= max && (c->drained += n) > max)
        (void)acto_sock_close(ctx, c->sock);
}

/* ---- deliveries (from the shards) ------------------------------------------------------- */

/* Write the frames f[0..len) that are kept: every one whose subscription
 * is live and under its max, while the bound holds (B2). */
static void conn_deliver(acto_ctx_t *ctx, bk_conn_t *c, const uint8_t *f, size_t len)
{
    if (c->closing || !c->sock)
        return;
    acto_broker_t *b = c->b;
    uint64_t pend = pending(c);
    uint64_t budget = pend < b->max_pending ? b->max_pending - pend : 0;
    uint64_t msgs = 0, bytes = 0, drops = 0;
    bk_buf_t *out = NULL;              /* compacted copy, once a frame is left out */
    size_t run = 0, kept = 0;          /* f[run..i) kept and not yet copied */
    size_t i = 0;
    bool cut = false;                  /* disconnect policy: over the bound here */
    while (i < len) {
        uint32_t sid;
        size_t pay, fl = wire_msg_frame(f + i, len - i, &sid, &pay);
        if (fl == 0)
            break;                     /* not a frame: the rest cannot be trusted */
        bk_sub_t *s = sub_find(c, sid);
        bool keep = s && (!s->max || s->delivered < s->max);
        if (keep && fl > budget) {
            if (b->slow == ACTO_BROKER_SLOW_DISCONNECT) {
                cut = true;
                break;
            }
            keep = false;
            drops++;
            if (!c->slow) {
                c->slow = true;
                bk_add(&b->st.slow_consumers, 1);
            }
        }
        if (keep) {
            budget -= fl;
            msgs++;
            bytes += pay;
            kept += fl;
            if (++s->delivered == s->max)
                sub_remove(ctx, c, s);   /* later frames find no record: discarded */
        } else {
            if (!out) {
                out = &b->scratch[ctx->w ? ctx->w->index % b->nscratch : 0].out;
                out->len = 0;
            }
            if (i > run)
                (void)bk_buf_put(out, f + run, i - run);   /* ENOMEM: those are lost */
            run = i + fl;
        }
        i += fl;
    }
    if (!out) {
        if (kept)
            conn_write(ctx, c, f, kept);
    } else {
        if (i > run)
            (void)bk_buf_put(out, f + run, i - run);
        if (out->len)
            conn_write(ctx, c, out->p, out->len);
    }
    if (cut) {                         /* what fitted went first, then err 15 */
        bk_add(&b->st.slow_consumers, 1);
        conn_err(ctx, c, PROTO_ESLOW_CONSUMER, 0, false, 0);
    }
    bk_add(&b->st.msgs_out, msgs);
    bk_add(&b->st.bytes_out, bytes);
    bk_add(&b->st.drops, drops);
}

/* A batch from a shard.  The common one - every frame for one live
 * subscription without a max, all within the bound - goes out whole,
 * counted from its header (chan.h): the walk would keep every frame and
 * find the same counts.  Anything else is walked frame by frame. */
static void conn_deliver_batch(acto_ctx_t *ctx, bk_conn_t *c, const chan_wb_t *wb)
{
    if (c->closing || !c->sock)
        return;
    acto_broker_t *b = c->b;
    uint64_t pend = pending(c);
    bk_sub_t *s;
    if (wb->one_sid && pend < b->max_pending && wb->len <= b->max_pending - pend &&
        (s = sub_find(c, wb->sid)) != NULL && !s->max) {
        conn_write(ctx, c, wb->frames, wb->len);
        s->delivered += wb->n;
        bk_add(&b->st.msgs_out, wb->n);
        bk_add(&b->st.bytes_out, wb->bytes);
        return;
    }
    conn_deliver(ctx, c, wb->frames, wb->len);
}

/* ---- inbound: ops ---------------------------------------------------------------------- */

/* Add d bytes to the broker-wide queued total and keep its peak. */
static void queued_add(acto_broker_t *b, uint64_t d)
{
    uint64_t now = at_faa_u64(&b->st.queued, d) + d;
    for (uint64_t max = at_load_u64_rlx(&b->st.queued_max); now > max;
         max = at_load_u64_rlx(&b->st.queued_max))
        if (at_cas_u64(&b->st.queued_max, max, now))
            break;
}

/* Send the chunk's publishes collected so far: one batch per shard, each
 * acknowledged (B3). */
static void pubs_flush(acto_ctx_t *ctx, bk_conn_t *c, bk_scratch_t *sc)
{
    uint64_t sent = 0;
    for (uint64_t m = sc->used; m; m &= m - 1) {
        unsigned i = (unsigned)__builtin_ctzll(m);
        acto_msg_t *msg = sc->batch[i];
        uint32_t n = sc->bn[i];
        sc->batch[i] = NULL;
        msg->body[1] = (uint8_t)(n >> 24);   /* the count, uint 32 (see batch_open) */
        msg->body[2] = (uint8_t)(n >> 16);
        msg->body[3] = (uint8_t)(n >> 8);
        msg->body[4] = (uint8_t)n;
        size_t size = msg->size;
        /* a failed send (ENOMEM while filling, a shard gone) loses these,
         * and no DONE will come for them */
        if (msg_send_from(ctx, acto_self(ctx), c->b->bus->shard[i], msg) == 0)
            sent += size;
    }
    sc->used = 0;
    if (sent) {
        c->inflight += sent;
        queued_add(c->b, sent);
    }
}

/* B3: the shards are behind this connection by more than HIGH: stop
 * reading, so TCP pushes back on the client. */
static void flow_check(acto_ctx_t *ctx, bk_conn_t *c)
{
    if (!c->paused && c->inflight > BRK_INFLIGHT_HIGH && c->sock && !c->closing &&
        acto_sock_pause_read(ctx, c->sock) == 0)
        c->paused = true;
}

/* B3: a shard handled `size` bytes of ours; resume reading at LOW. */
static void flow_done(acto_ctx_t *ctx, bk_conn_t *c, uint64_t size)
{
    if (size > c->inflight)
        size = c->inflight;            /* cannot happen (F1); never wrap */
    c->inflight -= size;
    bk_add(&c->b->st.queued, (uint64_t)0 - size);
    if (c->paused && c->inflight <= BRK_INFLIGHT_LOW && c->sock &&
        acto_sock_resume_read(ctx, c->sock) == 0)
        c->paused = false;
}

/* The CHAN_PUB_FLOW (chan.h: an acknowledged batch) for shard i: the count as uint 32 now, patched when
 * it is sent, then the publishes' tails.  cap: room to start with. */
static acto_msg_t *batch_open(acto_ctx_t *ctx, bk_scratch_t *sc, unsigned i, size_t cap)
{
    if (sc->used & (1ull << i))
        return sc->batch[i];
    acto_msg_t *m = msg_alloc(ctx, CHAN_PUB_FLOW, cap + 5);
    if (!m)
        return NULL;
    static const uint8_t hdr[5] = { 0xce, 0, 0, 0, 0 };
    (void)acto_msg_write(m, hdr, sizeof hdr);
    sc->batch[i] = m;
    sc->bn[i] = 0;
    sc->used |= 1ull << i;
    return m;
}

/* The shard of a publish subject that passed the checks; the last one is
 * remembered, so a stream on one subject is checked and hashed once. */
static bool subject_shard(const acto_broker_t *b, bk_scratch_t *sc, const uint8_t *s,
                          size_t len, unsigned *shard)
{
    if (len == sc->last_len && memcmp(s, sc->last, len) == 0) {
        *shard = sc->last_shard;
        return true;
    }
    if (subject_valid((const char *)s, len, false) != 0)
        return false;
    *shard = chan_shard_of(b->bus, (const char *)s, len);
    memcpy(sc->last, s, len);
    sc->last_len = len;
    sc->last_shard = *shard;
    return true;
}

/* Queue a checked publish for shard i; room: bytes left in the chunk (a
 * first estimate of the batch's size). */
static void pub_add(acto_ctx_t *ctx, bk_conn_t *c, bk_scratch_t *sc, unsigned i,
                    const void *tail, size_t tlen, size_t room, uint64_t *in_msgs)
{
    acto_msg_t *m = batch_open(ctx, sc, i, room > tlen ? room : tlen);
    if (!m || acto_msg_write(m, tail, tlen) != 0) {
        conn_err(ctx, c, PROTO_ESERVER, PROTO_PUB, false, 0);
        return;
    }
    sc->bn[i]++;
    ++*in_msgs;
}

static void op_sub(acto_ctx_t *ctx, bk_conn_t *c, const proto_op_t *o)
{
    acto_broker_t *b = c->b;
    uint32_t sid = o->u.sub.sid;
    if (sub_find(c, sid)) {
        conn_err(ctx, c, PROTO_ESID_INUSE, PROTO_SUB, true, sid);
        return;
    }
    if (b->max_subs != ACTO_BROKER_UNLIMITED && c->nsubs >= b->max_subs) {
        conn_err(ctx, c, PROTO_ETOO_MANY_SUBS, PROTO_SUB, true, sid);
        return;
    }
    const proto_str_t *p = &o->u.sub.subject, *q = &o->u.sub.queue;
    char *pat = malloc(p->len);
    if (!pat || sub_add(c, sid, pat, (uint32_t)p->len) != 0) {
        free(pat);
        conn_err(ctx, c, PROTO_ESERVER, PROTO_SUB, true, sid);
        return;
    }
    memcpy(pat, p->p, p->len);
    int rc = chan_sub(ctx, b->bus, acto_self(ctx), sid, CHAN_WIRE, 0, p->p, p->len, q->p,
                      q->p ? q->len : 0, 0);
    c->chan_used = true;
    bk_add(&b->st.subscriptions, 1);
    if (rc) {
        sub_remove(ctx, c, sub_find(c, sid));
        conn_err(ctx, c, PROTO_ESERVER, PROTO_SUB, true, sid);
        return;
    }
    conn_send_op(ctx, c, &(proto_op_t){ .op = PROTO_OK, .u.ok = { PROTO_SUB, sid } }, false);
}

static void op_unsub(acto_ctx_t *ctx, bk_conn_t *c, const proto_op_t *o)
{
    uint32_t sid = o->u.unsub.sid;
    bk_sub_t *s = sub_find(c, sid);
    if (!s) {
        conn_err(ctx, c, PROTO_ESID_UNKNOWN, PROTO_UNSUB, true, sid);
        return;
    }
    if (o->u.unsub.max == 0 || s->delivered >= o->u.unsub.max)
        sub_remove(ctx, c, s);
    else
        s->max = o->u.unsub.max;
    conn_send_op(ctx, c, &(proto_op_t){ .op = PROTO_OK, .u.ok = { PROTO_UNSUB, sid } }, false);
}

static void op_stats(acto_ctx_t *ctx, bk_conn_t *c)
{
    acto_broker_stats_t s;
    (void)acto_broker_stats(c->b, &s);
    proto_op_t o = { .op = PROTO_STATS_REPLY,
                     .u.stats = { s.connections, s.subscriptions, s.msgs_in, s.msgs_out,
                                  s.bytes_in, s.bytes_out, s.slow_consumers, s.drops } };
    conn_send_op(ctx, c, &o, false);
}

static void op_hello(acto_ctx_t *ctx, bk_conn_t *c)
{
    acto_broker_t *b = c->b;
    proto_op_t w = { .op = PROTO_WELCOME,
                     .u.welcome = { c->sess.version, { b->server_name, strlen(b->server_name) },
                                    b->max_payload,
                                    b->max_subs == ACTO_BROKER_UNLIMITED ? 0 : b->max_subs } };
    conn_send_op(ctx, c, &w, false);
}

/* A frame the fast path did not take: every check of "Validation order". */
static void conn_frame_slow(acto_ctx_t *ctx, bk_conn_t *c, bk_scratch_t *sc,
                            const uint8_t *f, size_t len, uint64_t *in_msgs, uint64_t *in_bytes)
{
    acto_broker_t *b = c->b;
    uint32_t op;
    size_t bo;
    int code = wire_frame_head(f, len, &op, &bo);
    if (code) {
        conn_err(ctx, c, code, 0, false, 0);
        return;
    }
    if ((code = proto_session_gate(&c->sess, op, b->token)) != 0) {
        conn_err(ctx, c, code, op, false, 0);
        return;
    }
    msgpack_zone z;
    if (!msgpack_zone_init(&z, 512)) {
        conn_err(ctx, c, PROTO_ESERVER, op, false, 0);
        return;
    }
    proto_op_t o = { .op = 0 };
    code = proto_decode_bytes(op, f + bo, len - bo, PROTO_PEER_CLIENT, b->max_payload, &z, &o);
    if (code == 0 && op == PROTO_HELLO)
        code = proto_session_hello(&c->sess, &o, b->token, b->token_len);
    if (code) {
        bool has_sid = code != PROTO_EFIELDS && (op == PROTO_SUB || op == PROTO_UNSUB);
        conn_err(ctx, c, code, op, has_sid, op == PROTO_SUB ? o.u.sub.sid : o.u.unsub.sid);
    } else if (op == PROTO_PUB) {
        unsigned i = chan_shard_of(b->bus, o.u.pub.subject.p, o.u.pub.subject.len);
        pub_add(ctx, c, sc, i, o.u.pub.tail, o.u.pub.tail_len, len, in_msgs);
        *in_bytes += o.u.pub.len;
    } else {
        pubs_flush(ctx, c, sc);        /* what was published before this op */
        switch (op) {
        case PROTO_HELLO: op_hello(ctx, c); break;
        case PROTO_PING:
            conn_send_op(ctx, c, &(proto_op_t){ .op = PROTO_PONG }, false);
            break;
        case PROTO_SUB: op_sub(ctx, c, &o); break;
        case PROTO_UNSUB: op_unsub(ctx, c, &o); break;
        case PROTO_STATS: op_stats(ctx, c); break;
        default: break;                /* pong: its arrival was the point */
        }
    }
    msgpack_zone_destroy(&z);
}

/* The common pub at f[0..avail): handled and its length returned, or 0
 * (not that shape, not complete, or a value check fails: the general path
 * then judges it). */
static size_t conn_pub_fast(acto_ctx_t *ctx, bk_conn_t *c, bk_scratch_t *sc, const uint8_t *f,
                            size_t avail, uint64_t *in_msgs, uint64_t *in_bytes)
{
    const acto_broker_t *b = c->b;
    wire_pub_t p;
    size_t len = wire_pub_fast(f, avail, &p);
    unsigned i;
    if (!len || len > b->max_frame || p.len > b->max_payload ||
        (p.reply && subject_valid((const char *)p.reply, p.reply_len, false) != 0) ||
        !subject_shard(b, sc, p.subject, p.subject_len, &i))
        return 0;
    c->pings_out = 0;
    pub_add(ctx, c, sc, i, p.tail, p.tail_len, avail, in_msgs);
    *in_bytes += p.len;
    return len;
}

/* One complete frame f[0..len). */
static void conn_frame(acto_ctx_t *ctx, bk_conn_t *c, bk_scratch_t *sc, const uint8_t *f,
                       size_t len, uint64_t *in_msgs, uint64_t *in_bytes)
{
    if (c->sess.hello && conn_pub_fast(ctx, c, sc, f, len, in_msgs, in_bytes))
        return;                        /* f is one frame: the pub was all of it */
    c->pings_out = 0;                  /* any frame answers our pings */
    conn_frame_slow(ctx, c, sc, f, len, in_msgs, in_bytes);
}

static void in_free(bk_conn_t *c)
{
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
}

/* Keep the start of a frame for the next read. */
static bool carry(acto_ctx_t *ctx, bk_conn_t *c, const uint8_t *p, size_t n)
{
    if (c->in_len + n > c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap : 256;
        while (cap < c->in_len + n)
            cap *= 2;
        uint8_t *q = realloc(c->in, cap);
        if (!q) {
            conn_err(ctx, c, PROTO_ESERVER, 0, false, 0);
            conn_close(ctx, c);
            return false;
        }
        c->in = q;
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_len, p, n);
    c->in_len += n;
    return true;
}

/* Bytes from the client: whole frames are handled in place; a frame cut
 * by the end of the chunk is completed from the next one (appending only
 * as much as it takes, in growing steps). */
static void conn_data(acto_ctx_t *ctx, bk_conn_t *c, const uint8_t *p, size_t n)
{
    acto_broker_t *b = c->b;
    bk_scratch_t *sc = &b->scratch[ctx->w ? ctx->w->index % b->nscratch : 0];
    uint64_t msgs = 0, bytes = 0;
    size_t off = 0;
    while (c->in_len && off < n && !c->closing) {
        size_t add = n - off, step = c->in_len < 64 ? 64 : c->in_len;
        if (add > step)
            add = step;
        if (!carry(ctx, c, p + off, add))
            break;
        off += add;
        ssize_t r = wire_frame_len(c->in, c->in_len, b->max_frame);
        if (r < 0) {
            conn_err(ctx, c, (int)-r, 0, false, 0);
            break;
        }
        if (r == 0)
            continue;
        off -= c->in_len - (size_t)r;  /* bytes past the frame: read them in place */
        c->in_len = 0;
        conn_frame(ctx, c, sc, c->in, (size_t)r, &msgs, &bytes);
    }
    while (off < n && !c->closing) {
        size_t fl = c->sess.hello ? conn_pub_fast(ctx, c, sc, p + off, n - off, &msgs, &bytes) : 0;
        if (fl) {                      /* the common case: no general scan */
            off += fl;
            continue;
        }
        ssize_t r = wire_frame_len(p + off, n - off, b->max_frame);
        if (r < 0) {
            conn_err(ctx, c, (int)-r, 0, false, 0);
            break;
        }
        if (r == 0) {
            (void)carry(ctx, c, p + off, n - off);
            break;
        }
        conn_frame(ctx, c, sc, p + off, (size_t)r, &msgs, &bytes);
        off += (size_t)r;
    }
    pubs_flush(ctx, c, sc);
    flow_check(ctx, c);
    bk_add(&b->st.msgs_in, msgs);
    bk_add(&b->st.bytes_in, bytes);
    if (c->in_len == 0 && c->in_cap > 4096)
        in_free(c);                    /* a big frame went through: do not keep its room */
}

/* ---- the actor ------------------------------------------------------------------------- */

static int conn_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    bk_conn_t *c = state;
    c->b = (acto_broker_t *)arg;
    bk_ref(c->b);                      /* B1 */
    (void)bk_send_empty(ctx, c->b->pid, BRK_JOIN);
    return 0;
}

static void conn_terminate(acto_ctx_t *ctx, void *state, int64_t reason)
{
    (void)reason;
    bk_conn_t *c = state;
    acto_broker_t *b = c->b;
    if (c->chan_used)
        (void)chan_drop(ctx, b->bus, acto_self(ctx));
    for (uint32_t i = 0; i < c->subs_cap; i++)
        free(c->subs[i].pattern);
    bk_add(&b->st.subscriptions, (uint64_t)0 - c->nsubs);
    if (c->counted)
        bk_add(&b->st.connections, (uint64_t)-1);
    bk_add(&b->st.queued, (uint64_t)0 - c->inflight);   /* B3: its DONEs go nowhere */
    free(c->subs);
    free(c->in);
    if (c->ping_timer)
        (void)acto_timer_cancel(ctx, c->ping_timer);
    if (c->linger_timer)
        (void)acto_timer_cancel(ctx, c->linger_timer);
    (void)bk_send_empty(ctx, b->pid, BRK_LEAVE);
    bk_unref(b);
}

static void conn_connected(acto_ctx_t *ctx, bk_conn_t *c, acto_pid_t sock)
{
    acto_broker_t *b = c->b;
    c->sock = sock;
    if (at_faa_u64(&b->st.connections, 1) >= b->max_conns) {
        bk_add(&b->st.connections, (uint64_t)-1);
        conn_err(ctx, c, PROTO_ETOO_MANY_CONNS, 0, false, 0);
        return;
    }
    c->counted = true;
    if (b->ping_ns && acto_timer_start(ctx, b->ping_ns, b->ping_ns, TM_PING, &c->ping_timer))
        conn_err(ctx, c, PROTO_ESERVER, 0, false, 0);
}

static void conn_ping_tick(acto_ctx_t *ctx, bk_conn_t *c)
{
    if (c->pings_out >= PROTO_PINGS_MAX_OUT) {
        conn_err(ctx, c, PROTO_ESTALE, 0, false, 0);
        return;
    }
    c->pings_out++;
    conn_send_op(ctx, c, &(proto_op_t){ .op = PROTO_PING }, false);
    if (c->in && c->in_len == 0)
        in_free(c);                    /* quiet for a ping interval: hold no buffer */
}

static bool timer_is(const acto_msg_t *msg, uint64_t want)
{
    uint64_t id;
    return want && acto_msg_u64(msg, &id) == 0 && id == want;
}

static int conn_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    bk_conn_t *c = state;
    uint32_t type = acto_msg_type(msg);
    acto_pid_t from = acto_msg_from(msg);
    const void *p;
    size_t n;
    uint64_t v;
    /* Only the socket sends NET_* events (reserved types).  Its first one
     * is normally CONNECTED; should another overtake it, that sender is the
     * socket all the same. */
    if (!c->sock && !c->closing && type >= ACTO_MSG_NET_CONNECTED && type <= ACTO_MSG_NET_SENT &&
        type != ACTO_MSG_NET_CLOSED)
        conn_connected(ctx, c, from);
    switch (type) {
    case CHAN_WIRE_BATCH: {
        chan_wb_t wb;
        p = acto_msg_data(msg, &n);
        if (chan_wb_parse(p, n, &wb))
            conn_deliver_batch(ctx, c, &wb);
        break;
    }
    case CHAN_WIRE_ONE: {
        uint64_t sid;
        if (acto_msg_scan(ctx, msg, "[uy]", &sid, &p, &n) == 0)
            conn_deliver(ctx, c, p, n);
        break;
    }
    case CHAN_PUB_DONE:                /* only shards send it (reserved type) */
        if (acto_msg_u64(msg, &v) == 0)
            flow_done(ctx, c, v);
        break;
    case ACTO_MSG_NET_DATA:
        if (from != c->sock || acto_msg_bin(msg, &p, &n) != 0)
            break;
        if (c->closing)
            conn_drain(ctx, c, n);
        else
            conn_data(ctx, c, p, n);
        break;
    case ACTO_MSG_NET_SENT:
        if (from == c->sock && acto_msg_u64(msg, &v) == 0) {
            c->sent = v;
            if (c->slow && pending(c) <= c->b->max_pending / 2)
                c->slow = false;        /* the episode is over */
        }
        break;
    case ACTO_MSG_NET_CONNECTED:
        if (!c->sock)
            conn_connected(ctx, c, from);
        break;
    case ACTO_MSG_NET_PEER_CLOSED:
        if (from == c->sock && !c->closing) {
            if (c->in_len)             /* the stream ended inside a frame */
                conn_err(ctx, c, PROTO_EMALFORMED, 0, false, 0);
            else
                conn_close(ctx, c);
        }
        break;
    case ACTO_MSG_NET_CLOSED:             /* (also a socket that never opened) */
        if (from == c->sock || !c->sock)
            return acto_exit(ctx, ACTO_EXIT_NORMAL);
        break;
    case CHAN_SUB_FAILED: {
        uint64_t sid;
        int64_t code;
        bk_sub_t *s;
        if (acto_msg_scan(ctx, msg, "[ui]", &sid, &code) == 0 && sid <= UINT32_MAX &&
            (s = sub_find(c, (uint32_t)sid)) != NULL) {
            sub_remove(ctx, c, s);
            conn_err(ctx, c, PROTO_ESERVER, PROTO_SUB, true, (uint32_t)sid);
        }
        break;
    }
    case BRK_SHUTDOWN:
        if (!c->closing)
            conn_err(ctx, c, PROTO_ESHUTDOWN, 0, false, 0);
        break;
    case TM_PING:
        if (timer_is(msg, c->ping_timer) && !c->closing)
            conn_ping_tick(ctx, c);
        break;
    case TM_LINGER:
        if (timer_is(msg, c->linger_timer)) {
            c->linger_timer = 0;
            (void)acto_kill(ctx, c->sock, ACTO_EXIT_KILLED);   /* CLOSED follows */
        }
        break;
    default:                           /* NET_ERROR: B2 keeps writes from being refused */
        break;
    }
    return 0;
}

const acto_behavior_t bk_conn_behavior = {
    .name = "acto.broker.conn",
    .state_size = sizeof(bk_conn_t),
    .init = conn_init,
    .receive = conn_receive,
    .terminate = conn_terminate,
};
