/* actors/client.c - the actor pub/sub client (include/acto/client.h).
 *
 * One client actor owns one socket actor (raw mode) to the broker.  Other
 * actors talk to it with the acto_client_* senders below (reserved message
 * types, so nothing else can be mistaken for a command); it answers with
 * deliveries of the subscriber's chosen type.
 *
 * Invariants:
 *  - subs[] holds every live subscription and pending request, sorted by
 *    sid: sids come from a counter and are never reused (a late msg for a
 *    removed sid finds nothing, never a newer subscription).  It is the
 *    truth a reconnect replays: hello, a sub per record (and its
 *    remaining unsub-after-N), then the buffered publishes.
 *  - out[] holds whole frames not yet handed to the socket.  While no
 *    socket is CONNECTED it holds only publish frames
 *    (at most max_buffered bytes, the rest dropped and counted); bytes
 *    handed to a socket that then failed are lost (the broker may or may
 *    not have read them), like any TCP client's.
 *  - Writes are coalesced: the first frame put in an empty out[] sends
 *    the actor a CL_FLUSH message, so everything queued in its mailbox
 *    before that is appended first, and one socket write carries it all.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "acto/client.h"
#include "acto/error.h"
#include "acto/msg.h"
#include "acto/net.h"
#include "acto/timer.h"
#include "atomic.h"
#include "internal.h"
#include "net/addr.h"
#include "net/frame.h"
#include "net/proto.h"
#include "net/subject.h"

/* Commands to the client actor (reserved types: only this file sends them). */
#define CL_CMD_SUB    0xFFFF0501u  /* [owner, ref, type, pattern, queue|nil] */
#define CL_CMD_UNSUB  0xFFFF0502u  /* [ref, max] */
#define CL_CMD_PUB    0xFFFF0503u  /* [subject, reply|nil, payload]: a pub body */
#define CL_CMD_REQ    0xFFFF0504u  /* [owner, ref, reply_type, timeout_type, ms,
                                       subject, payload] */
#define CL_CMD_STOP   0xFFFF0505u
/* Messages the actor sends itself (timers need types below ACTO_MSG_SYSTEM;
 * nobody else knows these, and a stray one matches no timer id). */
#define CL_SELF_FLUSH 0xFFFE0501u
#define CL_SELF_RETRY 0xFFFE0502u  /* [timer id] */
#define CL_SELF_REQTO 0xFFFE0503u  /* [timer id] */

#define CL_NAME_DEFAULT "acto-client"
#define CL_CONNECT_TIMEOUT_DEFAULT 5000u
#define CL_BACKOFF_MIN_DEFAULT 20u
#define CL_BACKOFF_MAX_DEFAULT 2000u
#define CL_BUFFERED_DEFAULT (8u * 1024u * 1024u)
/* The socket refuses writes past this (a refused write is lost, so it is
 * far above what the broker lets one connection queue). */
#define CL_SOCK_HIGH_WATER (256u * 1024u * 1024u)

typedef struct ac_sub {
    uint64_t ref;
    uint32_t sid;
    uint32_t type;                          /* deliver (or reply) type */
    acto_pid_t owner;
    char *pattern, *queue;
    uint64_t max, got;                      /* max 0: no auto-unsubscribe */
    uint64_t mon;                           /* monitor ref (subscriptions) */
    bool req;                               /* a request's inbox */
    uint32_t timeout_type;
    uint64_t timer;                         /* request timeout timer */
} ac_sub_t;

/* acto_client_start's argument, copied by init. */
typedef struct ac_arg {
    const char *addr;
    acto_client_opts_t opts;
    acto_pid_t starter;
} ac_arg_t;

typedef struct ac_state {
    char *addr, *name, *token;
    unsigned connect_timeout_ms, backoff_min, backoff_max, max_attempts;
    bool reconnect;
    size_t max_buffered;
    acto_pid_t starter;

    acto_pid_t sock;                        /* 0: none */
    bool connected, stopping;
    bool welcomed;                          /* this connection got welcome */
    size_t max_payload;                     /* from welcome */
    frame_dec_t dec;

    uint8_t *out;
    size_t out_len, out_cap;
    bool flush_queued;

    ac_sub_t *subs;
    size_t nsubs, subs_cap;
    uint32_t next_sid;

    unsigned backoff_ms, failed;
    uint64_t rng;
    char inbox[40];
    uint64_t dropped_pubs, lost_writes;
} ac_state_t;

static uint64_t g_next_ref;                 /* refs: unique in the process */

/* ---- sending commands -------------------------------------------------------- */

static acto_msg_t *cmd_new(acto_ctx_t *ctx, uint32_t type, size_t cap, msgpack_packer *pk)
{
    ctx_lock(ctx);
    acto_msg_t *m = msg_alloc(ctx, type, cap);
    ctx_unlock(ctx);
    if (m)
        acto_msg_packer(m, pk);
    return m;
}

static int cmd_send(acto_ctx_t *ctx, acto_pid_t to, acto_msg_t *m)
{
    if (!m)
        return ACTO_ENOMEM;
    ctx_lock(ctx);
    int rc = msg_send_from(ctx, acto_self(ctx), to, m);
    ctx_unlock(ctx);
    return rc;
}

static int pack_str(msgpack_packer *pk, const char *s)
{
    if (!s)
        return msgpack_pack_nil(pk);
    size_t n = strlen(s);
    return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}

/* ---- state helpers ---------------------------------------------------------------- */

static uint64_t rng_next(ac_state_t *s)
{
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 0x2545F4914F6CDD1Dull;
}

static int out_write(void *data, const char *buf, size_t len)
{
    ac_state_t *s = data;
    if (len > s->out_cap - s->out_len) {
        size_t cap = s->out_cap ? s->out_cap : 4096;
        while (cap - s->out_len < len)
            cap *= 2;
        uint8_t *p = realloc(s->out, cap);
        if (!p)
            return -1;
        s->out = p;
        s->out_cap = cap;
    }
    memcpy(s->out + s->out_len, buf, len);
    s->out_len += len;
    return 0;
}

/* Make sure a CL_SELF_FLUSH is on its way while out[] has bytes. */
static void want_flush(acto_ctx_t *ctx, ac_state_t *s)
{
    if (s->flush_queued || !s->connected || !s->out_len)
        return;
    if (acto_send_empty(ctx, acto_self(ctx), CL_SELF_FLUSH) == 0)
        s->flush_queued = true;
}

static int out_frame(acto_ctx_t *ctx, ac_state_t *s, const proto_op_t *op)
{
    size_t mark = s->out_len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, s, out_write);
    int rc = proto_pack_frame(&pk, op);
    if (rc) {
        s->out_len = mark;
        return rc;
    }
    want_flush(ctx, s);
    return 0;
}

static void flush(acto_ctx_t *ctx, ac_state_t *s)
{
    s->flush_queued = false;
    if (!s->connected || !s->out_len)
        return;
    if (acto_sock_write(ctx, s->sock, s->out, s->out_len) != 0)
        s->lost_writes++;                   /* the socket is gone: CLOSED follows */
    s->out_len = 0;
    if (s->out_cap > 65536) {               /* do not keep a burst's buffer */
        free(s->out);
        s->out = NULL;
        s->out_cap = 0;
    }
}

static proto_str_t pstr(const char *p)
{
    return (proto_str_t){ p, p ? strlen(p) : 0 };
}

static int frame_sub(acto_ctx_t *ctx, ac_state_t *s, const ac_sub_t *r)
{
    proto_op_t op = { .op = PROTO_SUB, .u.sub = { r->sid, pstr(r->pattern), pstr(r->queue) } };
    int rc = out_frame(ctx, s, &op);
    if (rc == 0 && r->max) {
        proto_op_t un = { .op = PROTO_UNSUB, .u.unsub = { r->sid, r->max - r->got } };
        rc = out_frame(ctx, s, &un);
    }
    return rc;
}

static void frame_unsub(acto_ctx_t *ctx, ac_state_t *s, uint32_t sid, uint64_t max)
{
    if (!s->connected)
        return;                             /* the replay will not include it */
    proto_op_t op = { .op = PROTO_UNSUB, .u.unsub = { sid, max } };
    out_frame(ctx, s, &op);
}

static ac_sub_t *sub_by_sid(ac_state_t *s, uint32_t sid)
{
    size_t lo = 0, hi = s->nsubs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->subs[mid].sid == sid)
            return &s->subs[mid];
        if (s->subs[mid].sid < sid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static ac_sub_t *sub_by_ref(ac_state_t *s, uint64_t ref)
{
    for (size_t i = 0; i < s->nsubs; i++)
        if (s->subs[i].ref == ref)
            return &s->subs[i];
    return NULL;
}

/* Forget a record (no frame sent: the caller decides). */
static void sub_forget(acto_ctx_t *ctx, ac_state_t *s, ac_sub_t *r)
{
    if (r->mon)
        acto_demonitor(ctx, r->owner, r->mon);
    if (r->req && r->timer)
        acto_timer_cancel(ctx, r->timer);
    free(r->pattern);
    free(r->queue);
    size_t i = (size_t)(r - s->subs);
    memmove(r, r + 1, (s->nsubs - i - 1) * sizeof *r);
    s->nsubs--;
}

static ac_sub_t *sub_add(ac_state_t *s, const char *pattern, size_t plen, const char *queue,
                         size_t qlen)
{
    if (s->next_sid == UINT32_MAX)
        return NULL;
    if (s->nsubs == s->subs_cap) {
        size_t cap = s->subs_cap ? s->subs_cap * 2 : 8;
        ac_sub_t *p = realloc(s->subs, cap * sizeof *p);
        if (!p)
            return NULL;
        s->subs = p;
        s->subs_cap = cap;
    }
    ac_sub_t *r = &s->subs[s->nsubs];
    *r = (ac_sub_t){ .sid = s->next_sid + 1 };
    r->pattern = strndup(pattern, plen);
    r->queue = queue ? strndup(queue, qlen) : NULL;
    if (!r->pattern || (queue && !r->queue)) {
        free(r->pattern);
        free(r->queue);
        return NULL;
    }
    s->next_sid++;
    s->nsubs++;
    return r;
}

/* Remove every subscription of owner (it exited). */
static void drop_owner(acto_ctx_t *ctx, ac_state_t *s, acto_pid_t owner)
{
    for (size_t i = s->nsubs; i-- > 0;) {
        ac_sub_t *r = &s->subs[i];
        if (r->owner != owner)
            continue;
        frame_unsub(ctx, s, r->sid, 0);
        sub_forget(ctx, s, r);
    }
}

/* ---- connection --------------------------------------------------------------------- */

static int start_connect(acto_ctx_t *ctx, ac_state_t *s)
{
    acto_sock_opts_t so = { .owner = acto_self(ctx), .mode = ACTO_NET_RAW,
                            .high_water = CL_SOCK_HIGH_WATER };
    return acto_connect(ctx, s->addr, s->connect_timeout_ms, &so, &s->sock);
}

/* No socket: retry after a jittered, growing delay, or give up. */
static int schedule_retry(acto_ctx_t *ctx, ac_state_t *s)
{
    if (s->stopping || !s->reconnect || (s->max_attempts && s->failed >= s->max_attempts))
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    unsigned b = s->backoff_ms ? s->backoff_ms : s->backoff_min;
    uint64_t d = b / 2 + rng_next(s) % (b / 2 + 1);
    s->backoff_ms = b >= s->backoff_max / 2 ? s->backoff_max : b * 2;
    return acto_timer_start(ctx, d * 1000000ull, 0, CL_SELF_RETRY, NULL);
}

/* Keep only the publish frames of out[] (it starts on a frame boundary). */
static void salvage(ac_state_t *s)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    size_t pos = 0, keep = 0;
    while (pos < s->out_len) {
        size_t off = pos;
        msgpack_object o;
        int r = msgpack_unpack((const char *)s->out, s->out_len, &off, &zone, &o);
        msgpack_zone_clear(&zone);
        if (r != MSGPACK_UNPACK_SUCCESS && r != MSGPACK_UNPACK_EXTRA_BYTES)
            break;
        if (off - pos > 2 && s->out[pos + 1] == PROTO_PUB && keep + (off - pos) <= s->max_buffered) {
            memmove(s->out + keep, s->out + pos, off - pos);
            keep += off - pos;
        } else if (s->out[pos + 1] == PROTO_PUB) {
            s->dropped_pubs++;
        }
        pos = off;
    }
    msgpack_zone_destroy(&zone);
    s->out_len = keep;
}

static void on_connected(acto_ctx_t *ctx, ac_state_t *s)
{
    s->connected = true;
    s->welcomed = false;
    /* the replay goes before the buffered publishes */
    uint8_t *pubs = s->out;
    size_t pubs_len = s->out_len;
    s->out = NULL;
    s->out_len = s->out_cap = 0;
    proto_op_t hello = { .op = PROTO_HELLO,
                         .u.hello = { PROTO_VERSION, pstr(s->name), pstr(s->token) } };
    out_frame(ctx, s, &hello);
    for (size_t i = 0; i < s->nsubs; i++)
        frame_sub(ctx, s, &s->subs[i]);
    if (pubs_len && out_write(s, (const char *)pubs, pubs_len))
        s->dropped_pubs++;
    free(pubs);
    want_flush(ctx, s);
}

static int on_closed(acto_ctx_t *ctx, ac_state_t *s)
{
    /* only a welcomed connection counts as a success: a broker that
     * accepts and then refuses (auth, too many connections) is retried
     * with a growing delay, not hammered */
    bool was = s->welcomed;
    s->sock = 0;
    s->connected = false;
    s->welcomed = false;
    frame_dec_destroy(&s->dec);
    frame_dec_init(&s->dec, proto_max_frame(ACTO_MSG_MAX_BODY));
    salvage(s);
    if (was) {
        s->backoff_ms = 0;                  /* a live connection broke: retry soon */
        s->failed = 0;
    } else {
        s->failed++;
    }
    if (s->stopping)
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    return schedule_retry(ctx, s);
}

/* ---- frames from the broker ------------------------------------------------------------ */

static int deliver(acto_ctx_t *ctx, const ac_sub_t *r, const proto_op_t *op)
{
    size_t sl = op->u.msg.subject.len, rl = op->u.msg.reply.len, pl = op->u.msg.len;
    acto_msg_t *m;
    int rc = acto_msg_new(ctx, r->type, sl + rl + pl + 16, &m);
    if (rc)
        return rc;
    msgpack_packer pk;
    acto_msg_packer(m, &pk);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_str(&pk, sl);
    msgpack_pack_str_body(&pk, op->u.msg.subject.p, sl);
    if (op->u.msg.reply.p) {
        msgpack_pack_str(&pk, rl);
        msgpack_pack_str_body(&pk, op->u.msg.reply.p, rl);
    } else {
        msgpack_pack_nil(&pk);
    }
    msgpack_pack_bin(&pk, pl);
    msgpack_pack_bin_body(&pk, pl ? op->u.msg.payload : "", pl);
    return acto_send_msg(ctx, r->owner, m);
}

static void on_msg(acto_ctx_t *ctx, ac_state_t *s, const proto_op_t *op)
{
    ac_sub_t *r = sub_by_sid(s, op->u.msg.sid);
    if (!r || (r->max && r->got >= r->max))
        return;                             /* late: unsubscribed already */
    r->got++;
    int rc = deliver(ctx, r, op);
    if (rc == ACTO_ENOACTOR && !r->req) {
        drop_owner(ctx, s, r->owner);       /* gone before its DOWN came */
        return;
    }
    if (r->max && r->got >= r->max)
        sub_forget(ctx, s, r);              /* the broker removed it too */
}

static void on_frame(acto_ctx_t *ctx, ac_state_t *s, const frame_t *f)
{
    proto_op_t op;
    if (proto_decode(f->type, f->body, PROTO_PEER_SERVER, UINT32_MAX, &op))
        return;                             /* unknown to us: a newer broker */
    switch (op.op) {
    case PROTO_MSG:
        on_msg(ctx, s, &op);
        break;
    case PROTO_WELCOME:
        s->welcomed = true;
        s->max_payload = op.u.welcome.max_payload > SIZE_MAX ? SIZE_MAX
                                                             : (size_t)op.u.welcome.max_payload;
        s->backoff_ms = 0;
        s->failed = 0;
        break;
    case PROTO_PING: {
        proto_op_t pong = { .op = PROTO_PONG };
        out_frame(ctx, s, &pong);
        break;
    }
    case PROTO_ERR:
        /* a refused subscription does not exist: forget it (its owner
         * stops getting messages, which is all a sub failure can mean) */
        if (op.u.err.op == PROTO_SUB && op.u.err.has_sid) {
            ac_sub_t *r = sub_by_sid(s, op.u.err.sid);
            if (r)
                sub_forget(ctx, s, r);
        }
        break;
    default:
        break;                              /* ok, pong, stats_reply */
    }
}

static void on_data(acto_ctx_t *ctx, ac_state_t *s, const acto_msg_t *msg)
{
    const void *p;
    size_t n;
    if (acto_msg_bin(msg, &p, &n) || frame_dec_feed(&s->dec, p, n)) {
        acto_kill(ctx, s->sock, ACTO_EXIT_KILLED);
        return;
    }
    frame_t f;
    int r;
    while ((r = frame_dec_next(&s->dec, &f)) == 1)
        on_frame(ctx, s, &f);
    if (r < 0)
        acto_kill(ctx, s->sock, ACTO_EXIT_KILLED);  /* garbage: reconnect */
}

/* ---- commands ------------------------------------------------------------------------- */

static void cmd_sub(acto_ctx_t *ctx, ac_state_t *s, const acto_msg_t *msg)
{
    acto_pid_t owner;
    uint64_t ref, type;
    const char *pat, *q = NULL;
    size_t plen, qlen = 0;
    msgpack_object o;
    if (acto_msg_unpack(ctx, msg, &o) || o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != 5)
        return;
    const msgpack_object *a = o.via.array.ptr;
    if (a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        a[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[3].type != MSGPACK_OBJECT_STR)
        return;
    owner = a[0].via.u64;
    ref = a[1].via.u64;
    type = a[2].via.u64;
    pat = a[3].via.str.ptr;
    plen = a[3].via.str.size;
    if (a[4].type == MSGPACK_OBJECT_STR) {
        q = a[4].via.str.ptr;
        qlen = a[4].via.str.size;
    }
    ac_sub_t *r = sub_add(s, pat, plen, q, qlen);
    if (!r)
        return;                             /* out of memory: not subscribed */
    r->ref = ref;
    r->owner = owner;
    r->type = (uint32_t)type;
    if (acto_monitor(ctx, owner, &r->mon) != 0)
        r->mon = 0;
    if (s->connected)
        frame_sub(ctx, s, r);
}

static void cmd_unsub(acto_ctx_t *ctx, ac_state_t *s, const acto_msg_t *msg)
{
    uint64_t ref, max;
    if (acto_msg_scan(ctx, msg, "[uu]", &ref, &max))
        return;
    ac_sub_t *r = sub_by_ref(s, ref);
    if (!r)
        return;
    if (max && r->got >= max)
        max = 0;
    if (max) {
        r->max = max;
        frame_unsub(ctx, s, r->sid, max);
        return;
    }
    frame_unsub(ctx, s, r->sid, 0);
    sub_forget(ctx, s, r);
}

/* Skip one msgpack str (or nil if nil_ok) at p[*i..n): 0, or -1. */
static int skip_str(const uint8_t *p, size_t n, size_t *i, bool nil_ok)
{
    if (*i >= n)
        return -1;
    uint8_t h = p[(*i)++];
    size_t len;
    if (h == 0xc0 && nil_ok)
        return 0;
    if ((h & 0xe0) == 0xa0) {
        len = h & 0x1f;
    } else if (h == 0xd9 && *i + 1 <= n) {
        len = p[*i];
        *i += 1;
    } else if (h == 0xda && *i + 2 <= n) {
        len = (size_t)p[*i] << 8 | p[*i + 1];
        *i += 2;
    } else {
        return -1;                          /* subjects are at most 256 bytes */
    }
    if (len > n - *i)
        return -1;
    *i += len;
    return 0;
}

/* The payload length of a pub body [subject, reply|nil, payload bin] as
 * acto_client_pub packs it; SIZE_MAX if it is not one. */
static size_t pub_payload_len(const uint8_t *p, size_t n)
{
    size_t i = 1;
    if (n < 1 || p[0] != 0x93 || skip_str(p, n, &i, false) || skip_str(p, n, &i, true) ||
        i >= n)
        return SIZE_MAX;
    uint8_t h = p[i++];
    unsigned w = h == 0xc4 ? 1 : h == 0xc5 ? 2 : h == 0xc6 ? 4 : 0;
    if (!w || i + w > n)
        return SIZE_MAX;
    size_t len = 0;
    for (unsigned k = 0; k < w; k++)
        len = len << 8 | p[i + k];
    return len == n - i - w ? len : SIZE_MAX;
}

static void cmd_pub(acto_ctx_t *ctx, ac_state_t *s, const acto_msg_t *msg)
{
    size_t len;
    const void *body = acto_msg_data(msg, &len);
    /* respect the broker's announced max_payload: it would refuse it */
    if (pub_payload_len(body, len) > s->max_payload) {
        s->dropped_pubs++;
        return;
    }
    /* the command's body IS a pub body: frame it without re-encoding */
    if (!s->connected && s->out_len + len + 2 > s->max_buffered) {
        s->dropped_pubs++;
        return;
    }
    static const uint8_t hdr[2] = { 0x92, PROTO_PUB };
    size_t mark = s->out_len;
    if (out_write(s, (const char *)hdr, 2) || out_write(s, body, len)) {
        s->out_len = mark;
        s->dropped_pubs++;
        return;
    }
    want_flush(ctx, s);
}

static void cmd_req(acto_ctx_t *ctx, ac_state_t *s, const acto_msg_t *msg)
{
    uint64_t owner, ref, rtype, ttype, ms;
    const char *subj;
    size_t slen, plen;
    const void *payload;
    if (acto_msg_scan(ctx, msg, "[uuuuusy]", &owner, &ref, &rtype, &ttype, &ms, &subj, &slen,
                      &payload, &plen))
        return;
    char inbox[sizeof s->inbox + 24];
    int n = snprintf(inbox, sizeof inbox, "%s%llu", s->inbox, (unsigned long long)ref);
    ac_sub_t *r = sub_add(s, inbox, (size_t)n, NULL, 0);
    if (!r) {
        acto_send_u64(ctx, owner, (uint32_t)ttype, ref);   /* cannot even try */
        return;
    }
    r->ref = ref;
    r->owner = owner;
    r->type = (uint32_t)rtype;
    r->req = true;
    r->max = 1;
    r->timeout_type = (uint32_t)ttype;
    acto_timer_start(ctx, ms * 1000000ull, 0, CL_SELF_REQTO, &r->timer);
    if (s->connected)
        frame_sub(ctx, s, r);
    proto_op_t pub = { .op = PROTO_PUB,
                       .u.pub = { .subject = { subj, slen }, .reply = { inbox, (size_t)n },
                                  .payload = payload, .len = plen } };
    if (s->connected || s->out_len + plen + slen + (size_t)n + 16 <= s->max_buffered)
        out_frame(ctx, s, &pub);
    else
        s->dropped_pubs++;
}

static void on_req_timeout(acto_ctx_t *ctx, ac_state_t *s, uint64_t timer)
{
    for (size_t i = 0; i < s->nsubs; i++) {
        ac_sub_t *r = &s->subs[i];
        if (!r->req || r->timer != timer)
            continue;
        acto_send_u64(ctx, r->owner, r->timeout_type, r->ref);
        r->timer = 0;                       /* fired: nothing to cancel */
        frame_unsub(ctx, s, r->sid, 0);
        sub_forget(ctx, s, r);
        return;
    }
}

static int cmd_stop(acto_ctx_t *ctx, ac_state_t *s)
{
    s->stopping = true;
    if (!s->sock)
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    flush(ctx, s);
    return acto_sock_close(ctx, s->sock);   /* exit on its CLOSED */
}

/* ---- the actor ------------------------------------------------------------------------ */

static int ac_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    ac_state_t *s = state;
    const ac_arg_t *a = arg;
    const acto_client_opts_t *o = &a->opts;
    s->addr = strdup(a->addr);
    s->name = strdup(o->name ? o->name : CL_NAME_DEFAULT);
    s->token = o->token ? strdup(o->token) : NULL;
    if (!s->addr || !s->name || (o->token && !s->token))
        return ACTO_ENOMEM;
    s->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms
                                                  : CL_CONNECT_TIMEOUT_DEFAULT;
    s->backoff_min = o->reconnect_min_ms ? o->reconnect_min_ms : CL_BACKOFF_MIN_DEFAULT;
    s->backoff_max = o->reconnect_max_ms ? o->reconnect_max_ms : CL_BACKOFF_MAX_DEFAULT;
    if (s->backoff_max < s->backoff_min)
        s->backoff_max = s->backoff_min;
    s->max_attempts = o->reconnect_attempts;
    s->reconnect = o->reconnect == ACTO_CLIENT_RECONNECT_ON;
    s->max_buffered = o->max_buffered ? o->max_buffered : CL_BUFFERED_DEFAULT;
    s->starter = a->starter;
    s->max_payload = PROTO_MAX_PAYLOAD_DEFAULT;
    frame_dec_init(&s->dec, proto_max_frame(ACTO_MSG_MAX_BODY));
    if (getrandom(&s->rng, sizeof s->rng, 0) != sizeof s->rng)
        s->rng = (uint64_t)time(NULL) ^ acto_self(ctx);
    s->rng |= 1;
    snprintf(s->inbox, sizeof s->inbox, "_INBOX.%016llx.", (unsigned long long)rng_next(s));
    if (s->starter)
        acto_monitor(ctx, s->starter, NULL);
    return start_connect(ctx, s);
}

static void ac_terminate(acto_ctx_t *ctx, void *state, int64_t reason)
{
    ac_state_t *s = state;
    (void)reason;
    for (size_t i = 0; i < s->nsubs; i++) {
        if (s->subs[i].req && s->subs[i].timer)
            acto_timer_cancel(ctx, s->subs[i].timer);   /* no wait for quiescence */
        free(s->subs[i].pattern);
        free(s->subs[i].queue);
    }
    free(s->subs);
    free(s->out);
    frame_dec_destroy(&s->dec);
    free(s->addr);
    free(s->name);
    free(s->token);
}

static int on_down(acto_ctx_t *ctx, ac_state_t *s, const acto_msg_t *msg)
{
    acto_pid_t who;
    int64_t reason;
    uint64_t ref;
    if (acto_msg_scan(ctx, msg, "[piu]", &who, &reason, &ref))
        return 0;
    if (who == s->starter && !s->stopping)
        return cmd_stop(ctx, s);
    drop_owner(ctx, s, who);
    return 0;
}

static int ac_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    ac_state_t *s = state;
    uint64_t id;
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_CONNECTED:
        if (acto_msg_from(msg) == s->sock)
            on_connected(ctx, s);
        return 0;
    case ACTO_MSG_NET_DATA:
        if (acto_msg_from(msg) == s->sock)
            on_data(ctx, s, msg);
        return 0;
    case ACTO_MSG_NET_PEER_CLOSED:
        return acto_sock_close(ctx, acto_msg_from(msg));
    case ACTO_MSG_NET_ERROR:
        s->lost_writes++;                   /* a refused write: see CL_SOCK_HIGH_WATER */
        return 0;
    case ACTO_MSG_NET_CLOSED:
        return acto_msg_from(msg) == s->sock ? on_closed(ctx, s) : 0;
    case ACTO_MSG_DOWN:
        return on_down(ctx, s, msg);
    case CL_SELF_FLUSH:
        flush(ctx, s);
        return 0;
    case CL_SELF_RETRY:
        if (s->sock || s->stopping)
            return 0;
        if (start_connect(ctx, s) != 0) {
            s->failed++;
            return schedule_retry(ctx, s);
        }
        return 0;
    case CL_SELF_REQTO:
        if (acto_msg_u64(msg, &id) == 0)
            on_req_timeout(ctx, s, id);
        return 0;
    case CL_CMD_SUB:
        cmd_sub(ctx, s, msg);
        return 0;
    case CL_CMD_UNSUB:
        cmd_unsub(ctx, s, msg);
        return 0;
    case CL_CMD_PUB:
        cmd_pub(ctx, s, msg);
        return 0;
    case CL_CMD_REQ:
        cmd_req(ctx, s, msg);
        return 0;
    case CL_CMD_STOP:
        return s->stopping ? 0 : cmd_stop(ctx, s);
    default:
        return 0;
    }
}

static const acto_behavior_t ac_behavior = {
    .name = "acto-client",
    .state_size = sizeof(ac_state_t),
    .init = ac_init,
    .receive = ac_receive,
    .terminate = ac_terminate,
};

/* ---- the public senders ------------------------------------------------------------------ */

int acto_client_start(acto_ctx_t *ctx, const char *addr, const acto_client_opts_t *opts,
                      acto_pid_t *pid)
{
    if (!ctx)
        return ACTO_EINVAL;
    if (!addr)
        addr = ACTO_CLIENT_DEFAULT_ADDR;
    acto_addr_t probe;
    int rc = addr_parse(addr, &probe);
    if (rc && rc != ACTO_EAGAIN)
        return ACTO_EINVAL;
    ac_arg_t a = { .addr = addr, .starter = acto_self(ctx) };
    if (opts) {
        a.opts = *opts;
        if ((opts->reconnect != ACTO_CLIENT_RECONNECT_ON &&
             opts->reconnect != ACTO_CLIENT_RECONNECT_OFF) ||
            (opts->name && strlen(opts->name) > PROTO_NAME_MAX) ||
            (opts->token && strlen(opts->token) > PROTO_TOKEN_MAX))
            return ACTO_EINVAL;
    }
    return acto_spawn(ctx, &ac_behavior, &a, pid);
}

int acto_client_stop(acto_ctx_t *ctx, acto_pid_t client)
{
    if (!ctx)
        return ACTO_EINVAL;
    msgpack_packer pk;
    acto_msg_t *m = cmd_new(ctx, CL_CMD_STOP, 1, &pk);
    if (m)
        msgpack_pack_nil(&pk);
    return cmd_send(ctx, client, m);
}

int acto_client_sub(acto_ctx_t *ctx, acto_pid_t client, const char *subject,
                    const char *queue, uint32_t deliver_type, uint64_t *ref)
{
    if (!ctx || !subject || deliver_type >= ACTO_MSG_SYSTEM)
        return ACTO_EINVAL;
    if (subject_valid(subject, strlen(subject), true) ||
        (queue && subject_valid(queue, strlen(queue), false)))
        return ACTO_EINVAL;
    acto_pid_t self = acto_self(ctx);
    if (self == ACTO_PID_NONE)
        return ACTO_ESTATE;                 /* deliveries need an actor */
    uint64_t r = at_faa_u64(&g_next_ref, 1) + 1;
    msgpack_packer pk;
    acto_msg_t *m = cmd_new(ctx, CL_CMD_SUB, strlen(subject) + (queue ? strlen(queue) : 0) + 40,
                            &pk);
    if (m) {
        msgpack_pack_array(&pk, 5);
        msgpack_pack_uint64(&pk, self);
        msgpack_pack_uint64(&pk, r);
        msgpack_pack_uint32(&pk, deliver_type);
        pack_str(&pk, subject);
        pack_str(&pk, queue);
    }
    int rc = cmd_send(ctx, client, m);
    if (rc == 0 && ref)
        *ref = r;
    return rc;
}

int acto_client_unsub(acto_ctx_t *ctx, acto_pid_t client, uint64_t ref, uint64_t max)
{
    if (!ctx || !ref)
        return ACTO_EINVAL;
    msgpack_packer pk;
    acto_msg_t *m = cmd_new(ctx, CL_CMD_UNSUB, 20, &pk);
    if (m) {
        msgpack_pack_array(&pk, 2);
        msgpack_pack_uint64(&pk, ref);
        msgpack_pack_uint64(&pk, max);
    }
    return cmd_send(ctx, client, m);
}

int acto_client_pub(acto_ctx_t *ctx, acto_pid_t client, const char *subject,
                    const char *reply, const void *payload, size_t len)
{
    if (!ctx || !subject || (len && !payload))
        return ACTO_EINVAL;
    size_t sl = strlen(subject), rl = reply ? strlen(reply) : 0;
    if (subject_valid(subject, sl, false) || (reply && subject_valid(reply, rl, false)))
        return ACTO_EINVAL;
    if (len > UINT32_MAX || len + sl + rl + 16 > ACTO_MSG_MAX_BODY)
        return ACTO_ELIMIT;
    msgpack_packer pk;
    acto_msg_t *m = cmd_new(ctx, CL_CMD_PUB, sl + rl + len + 16, &pk);
    if (m) {
        /* exactly a protocol pub body: the client frames it as it is */
        msgpack_pack_array(&pk, 3);
        pack_str(&pk, subject);
        pack_str(&pk, reply);
        msgpack_pack_bin(&pk, len);
        msgpack_pack_bin_body(&pk, len ? payload : "", len);
    }
    return cmd_send(ctx, client, m);
}

int acto_client_req(acto_ctx_t *ctx, acto_pid_t client, const char *subject,
                    const void *payload, size_t len, unsigned timeout_ms,
                    uint32_t reply_type, uint32_t timeout_type, uint64_t *ref)
{
    if (!ctx || !subject || (len && !payload) || reply_type >= ACTO_MSG_SYSTEM ||
        timeout_type >= ACTO_MSG_SYSTEM)
        return ACTO_EINVAL;
    size_t sl = strlen(subject);
    if (subject_valid(subject, sl, false))
        return ACTO_EINVAL;
    if (len > UINT32_MAX || len + sl + 64 > ACTO_MSG_MAX_BODY)
        return ACTO_ELIMIT;
    acto_pid_t self = acto_self(ctx);
    if (self == ACTO_PID_NONE)
        return ACTO_ESTATE;
    uint64_t r = at_faa_u64(&g_next_ref, 1) + 1;
    msgpack_packer pk;
    acto_msg_t *m = cmd_new(ctx, CL_CMD_REQ, sl + len + 64, &pk);
    if (m) {
        msgpack_pack_array(&pk, 7);
        msgpack_pack_uint64(&pk, self);
        msgpack_pack_uint64(&pk, r);
        msgpack_pack_uint32(&pk, reply_type);
        msgpack_pack_uint32(&pk, timeout_type);
        msgpack_pack_uint32(&pk, timeout_ms);
        pack_str(&pk, subject);
        msgpack_pack_bin(&pk, len);
        msgpack_pack_bin_body(&pk, len ? payload : "", len);
    }
    int rc = cmd_send(ctx, client, m);
    if (rc == 0 && ref)
        *ref = r;
    return rc;
}
