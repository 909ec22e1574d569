/* net/proto.c - the pub/sub wire protocol codec (net/proto.h,
 * docs/protocol.md).
 *
 * Decoding has two stages, and the order is part of the specification
 * (docs/protocol.md "Validation order"): first the shape (op known from
 * this peer, body present or not, array of exactly N fields, each field of
 * its msgpack type and range: PROTO_EFIELDS), then the values (subjects:
 * PROTO_ESUBJECT, payload size: PROTO_EPAYLOAD, lengths and enumerations:
 * PROTO_EFIELDS).  The value checks are shared with the encoder, so what
 * we send always passes what we accept.
 */
#include <string.h>

#include "acto/error.h"
#include "net/proto.h"
#include "net/subject.h"

/* Fields per body (0: the op has no body). */
static const uint8_t nfields[PROTO_OP_LAST + 1] = {
    [PROTO_HELLO] = 3, [PROTO_WELCOME] = 4, [PROTO_OK] = 2, [PROTO_ERR] = 4,
    [PROTO_SUB] = 3, [PROTO_UNSUB] = 2, [PROTO_PUB] = 3, [PROTO_MSG] = 4,
    [PROTO_STATS_REPLY] = 8,
};

static const char *const op_names[PROTO_OP_LAST + 1] = {
    [PROTO_HELLO] = "hello", [PROTO_WELCOME] = "welcome", [PROTO_PING] = "ping",
    [PROTO_PONG] = "pong", [PROTO_OK] = "ok", [PROTO_ERR] = "err", [PROTO_SUB] = "sub",
    [PROTO_UNSUB] = "unsub", [PROTO_PUB] = "pub", [PROTO_MSG] = "msg",
    [PROTO_STATS] = "stats", [PROTO_STATS_REPLY] = "stats_reply",
};

/* Which side may send each op (bit 0: client, bit 1: server). */
#define C 1u
#define S 2u
static const uint8_t senders[PROTO_OP_LAST + 1] = {
    [PROTO_HELLO] = C, [PROTO_WELCOME] = S, [PROTO_PING] = C | S, [PROTO_PONG] = C | S,
    [PROTO_OK] = S, [PROTO_ERR] = S, [PROTO_SUB] = C, [PROTO_UNSUB] = C, [PROTO_PUB] = C,
    [PROTO_MSG] = S, [PROTO_STATS] = C, [PROTO_STATS_REPLY] = S,
};
#undef C
#undef S

static bool op_known(uint32_t op)
{
    return op >= PROTO_HELLO && op <= PROTO_OP_LAST;
}

const char *proto_op_name(uint32_t op)
{
    return op_known(op) ? op_names[op] : NULL;
}

/* ---- value checks (shared by the encoder and the decoder) --------------------- */

static int check_len(proto_str_t s, bool optional, size_t max)
{
    if (!s.p)
        return optional && s.len == 0 ? 0 : PROTO_EFIELDS;
    return s.len <= max ? 0 : PROTO_EFIELDS;
}

/* A subject field: present unless optional; a valid pattern or subject. */
static int check_subject(proto_str_t s, bool optional, bool pattern)
{
    if (!s.p)
        return optional && s.len == 0 ? 0 : PROTO_EFIELDS;
    return subject_valid(s.p, s.len, pattern) == 0 ? 0 : PROTO_ESUBJECT;
}

static int check_payload(const void *p, size_t len, size_t max)
{
    if (!p && len)
        return PROTO_EFIELDS;
    return len <= max ? 0 : PROTO_EPAYLOAD;
}

/* The first failing value check of op, in field order; 0 if none. */
static int check_values(const proto_op_t *o, size_t max_payload)
{
    int rc = 0;
    switch (o->op) {
    case PROTO_HELLO:
        if (!(rc = check_len(o->u.hello.name, false, PROTO_NAME_MAX)))
            rc = check_len(o->u.hello.token, true, PROTO_TOKEN_MAX);
        return rc;
    case PROTO_WELCOME:
        return o->u.welcome.version == 0 ? PROTO_EFIELDS
                                         : check_len(o->u.welcome.server, false, PROTO_NAME_MAX);
    case PROTO_OK:
        return o->u.ok.op == PROTO_SUB || o->u.ok.op == PROTO_UNSUB ? 0 : PROTO_EFIELDS;
    case PROTO_ERR:
        return o->u.err.code == 0 ? PROTO_EFIELDS
                                  : check_len(o->u.err.text, false, PROTO_TEXT_MAX);
    case PROTO_SUB:
        if (!(rc = check_subject(o->u.sub.subject, false, true)))
            rc = check_subject(o->u.sub.queue, true, false);
        return rc;
    case PROTO_PUB:
        if (!(rc = check_subject(o->u.pub.subject, false, false)) &&
            !(rc = check_subject(o->u.pub.reply, true, false)))
            rc = check_payload(o->u.pub.payload, o->u.pub.len, max_payload);
        return rc;
    case PROTO_MSG:
        if (!(rc = check_subject(o->u.msg.subject, false, false)) &&
            !(rc = check_subject(o->u.msg.reply, true, false)))
            rc = check_payload(o->u.msg.payload, o->u.msg.len, max_payload);
        return rc;
    default:   /* unsub (max 0 means "now"), ping, pong, stats, stats_reply */
        return 0;
    }
}

/* ---- encoding ------------------------------------------------------------------ */

int proto_check(const proto_op_t *op)
{
    if (!op || !op_known(op->op))
        return ACTO_EINVAL;
    /* bin 32 is the largest payload msgpack can carry */
    return check_values(op, UINT32_MAX) ? ACTO_EINVAL : 0;
}

static int pack_str(msgpack_packer *pk, proto_str_t s)
{
    if (!s.p)
        return msgpack_pack_nil(pk);
    return msgpack_pack_str(pk, s.len) || msgpack_pack_str_body(pk, s.p, s.len);
}

static int pack_bin(msgpack_packer *pk, const void *p, size_t len)
{
    return msgpack_pack_bin(pk, len) || msgpack_pack_bin_body(pk, p ? p : "", len);
}

/* op's fields after the array header; nonzero if the writer failed. */
static int pack_fields(msgpack_packer *pk, const proto_op_t *o)
{
    switch (o->op) {
    case PROTO_HELLO:
        return msgpack_pack_uint32(pk, o->u.hello.version) || pack_str(pk, o->u.hello.name) ||
               pack_str(pk, o->u.hello.token);
    case PROTO_WELCOME:
        return msgpack_pack_uint32(pk, o->u.welcome.version) ||
               pack_str(pk, o->u.welcome.server) ||
               msgpack_pack_uint64(pk, o->u.welcome.max_payload) ||
               msgpack_pack_uint64(pk, o->u.welcome.max_subs);
    case PROTO_OK:
        return msgpack_pack_uint32(pk, o->u.ok.op) || msgpack_pack_uint32(pk, o->u.ok.sid);
    case PROTO_ERR:
        return msgpack_pack_uint32(pk, o->u.err.code) || pack_str(pk, o->u.err.text) ||
               msgpack_pack_uint32(pk, o->u.err.op) ||
               (o->u.err.has_sid ? msgpack_pack_uint32(pk, o->u.err.sid) : msgpack_pack_nil(pk));
    case PROTO_SUB:
        return msgpack_pack_uint32(pk, o->u.sub.sid) || pack_str(pk, o->u.sub.subject) ||
               pack_str(pk, o->u.sub.queue);
    case PROTO_UNSUB:
        return msgpack_pack_uint32(pk, o->u.unsub.sid) ||
               (o->u.unsub.max ? msgpack_pack_uint64(pk, o->u.unsub.max) : msgpack_pack_nil(pk));
    case PROTO_PUB:
        return pack_str(pk, o->u.pub.subject) || pack_str(pk, o->u.pub.reply) ||
               pack_bin(pk, o->u.pub.payload, o->u.pub.len);
    case PROTO_MSG:
        return msgpack_pack_uint32(pk, o->u.msg.sid) || pack_str(pk, o->u.msg.subject) ||
               pack_str(pk, o->u.msg.reply) || pack_bin(pk, o->u.msg.payload, o->u.msg.len);
    case PROTO_STATS_REPLY: {
        const proto_stats_t *s = &o->u.stats;
        const uint64_t v[8] = { s->connections, s->subscriptions, s->msgs_in, s->msgs_out,
                                s->bytes_in, s->bytes_out, s->slow_consumers, s->drops };
        for (int i = 0; i < 8; i++)
            if (msgpack_pack_uint64(pk, v[i]))
                return -1;
        return 0;
    }
    default:
        return 0;
    }
}

int proto_pack_body(msgpack_packer *pk, const proto_op_t *op)
{
    if (!pk || proto_check(op))
        return ACTO_EINVAL;
    unsigned n = nfields[op->op];
    if (n == 0)
        return 0;
    return msgpack_pack_array(pk, n) || pack_fields(pk, op) ? ACTO_ENOMEM : 0;
}

int proto_pack_frame(msgpack_packer *pk, const proto_op_t *op)
{
    if (!pk || proto_check(op))
        return ACTO_EINVAL;
    unsigned n = nfields[op->op];
    if (msgpack_pack_array(pk, n ? 2 : 1) || msgpack_pack_uint32(pk, op->op))
        return ACTO_ENOMEM;
    return proto_pack_body(pk, op);
}

/* Room for op's body: exact enough that packing rarely grows the message. */
static size_t body_estimate(const proto_op_t *o)
{
    size_t n = 64;
    switch (o->op) {
    case PROTO_HELLO: n += o->u.hello.name.len + o->u.hello.token.len; break;
    case PROTO_WELCOME: n += o->u.welcome.server.len; break;
    case PROTO_ERR: n += o->u.err.text.len; break;
    case PROTO_SUB: n += o->u.sub.subject.len + o->u.sub.queue.len; break;
    case PROTO_PUB: n += o->u.pub.subject.len + o->u.pub.reply.len + o->u.pub.len; break;
    case PROTO_MSG: n += o->u.msg.subject.len + o->u.msg.reply.len + o->u.msg.len; break;
    default: break;
    }
    return n;
}

int proto_msg_new(acto_ctx_t *ctx, const proto_op_t *op, acto_msg_t **out)
{
    if (!out)
        return ACTO_EINVAL;
    *out = NULL;
    if (!ctx || proto_check(op))
        return ACTO_EINVAL;
    acto_msg_t *m;
    int rc = acto_msg_new(ctx, op->op, nfields[op->op] ? body_estimate(op) : 0, &m);
    if (rc)
        return rc;
    msgpack_packer pk;
    acto_msg_packer(m, &pk);
    if ((rc = proto_pack_body(&pk, op)) != 0) {
        acto_msg_free(ctx, m);
        return rc;
    }
    *out = m;
    return 0;
}

/* A packer writer into a fixed buffer (proto_msg_head). */
typedef struct fixed_sink {
    uint8_t *p;
    size_t n, cap;
} fixed_sink_t;

static int fixed_write(void *data, const char *buf, size_t len)
{
    fixed_sink_t *f = data;
    if (len > f->cap - f->n)
        return -1;
    memcpy(f->p + f->n, buf, len);
    f->n += len;
    return 0;
}

size_t proto_msg_head(uint8_t out[PROTO_MSG_HEAD_MAX], uint32_t sid)
{
    fixed_sink_t f = { out, 0, PROTO_MSG_HEAD_MAX };
    msgpack_packer pk;
    msgpack_packer_init(&pk, &f, fixed_write);
    /* 1 + 1 + 1 + at most 5 bytes: always fits */
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint32(&pk, PROTO_MSG);
    msgpack_pack_array(&pk, nfields[PROTO_MSG]);
    msgpack_pack_uint32(&pk, sid);
    return f.n;
}

proto_op_t proto_err_op(int code, uint32_t op, bool has_sid, uint32_t sid)
{
    const char *t = proto_err_text(code);
    return (proto_op_t){ .op = PROTO_ERR,
                         .u.err = { .code = (uint32_t)code, .text = { t, strlen(t) },
                                    .op = op, .has_sid = has_sid, .sid = sid } };
}

/* ---- decoding: shape and types ---------------------------------------------------- */

static int get_uint(const msgpack_object *o, uint64_t max, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return PROTO_EFIELDS;
    *v = o->via.u64;
    return 0;
}

static int get_u32(const msgpack_object *o, uint32_t *v)
{
    uint64_t x;
    int rc = get_uint(o, UINT32_MAX, &x);
    if (!rc)
        *v = (uint32_t)x;
    return rc;
}

/* A str field; nil (only if nil_ok) gives p = NULL. */
static int get_str(const msgpack_object *o, bool nil_ok, proto_str_t *s)
{
    if (o->type == MSGPACK_OBJECT_NIL && nil_ok) {
        *s = (proto_str_t){ NULL, 0 };
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_STR)
        return PROTO_EFIELDS;
    /* an empty str may come with a NULL pointer: present all the same */
    *s = (proto_str_t){ o->via.str.size ? o->via.str.ptr : "", o->via.str.size };
    return 0;
}

static int get_bin(const msgpack_object *o, const void **p, size_t *len)
{
    if (o->type != MSGPACK_OBJECT_BIN)
        return PROTO_EFIELDS;
    *p = o->via.bin.size ? (const void *)o->via.bin.ptr : "";
    *len = o->via.bin.size;
    return 0;
}

/* The unsub count: nil = now (0), else 1..2^64-1. */
static int get_max(const msgpack_object *o, uint64_t *max)
{
    if (o->type == MSGPACK_OBJECT_NIL) {
        *max = 0;
        return 0;
    }
    int rc = get_uint(o, UINT64_MAX, max);
    return rc ? rc : *max == 0 ? PROTO_EFIELDS : 0;
}

static int get_err_sid(const msgpack_object *o, proto_op_t *out)
{
    out->u.err.has_sid = o->type != MSGPACK_OBJECT_NIL;
    out->u.err.sid = 0;
    return out->u.err.has_sid ? get_u32(o, &out->u.err.sid) : 0;
}

/* Fill out from the fields f[0..nfields) of op; nonzero: first bad field. */
static int get_fields(const msgpack_object *f, proto_op_t *out)
{
    switch (out->op) {
    case PROTO_HELLO:
        return get_u32(&f[0], &out->u.hello.version) || get_str(&f[1], false, &out->u.hello.name) ||
               get_str(&f[2], true, &out->u.hello.token);
    case PROTO_WELCOME:
        return get_u32(&f[0], &out->u.welcome.version) ||
               get_str(&f[1], false, &out->u.welcome.server) ||
               get_uint(&f[2], UINT64_MAX, &out->u.welcome.max_payload) ||
               get_uint(&f[3], UINT64_MAX, &out->u.welcome.max_subs);
    case PROTO_OK:
        return get_u32(&f[0], &out->u.ok.op) || get_u32(&f[1], &out->u.ok.sid);
    case PROTO_ERR:
        return get_u32(&f[0], &out->u.err.code) || get_str(&f[1], false, &out->u.err.text) ||
               get_u32(&f[2], &out->u.err.op) || get_err_sid(&f[3], out);
    case PROTO_SUB:
        return get_u32(&f[0], &out->u.sub.sid) || get_str(&f[1], false, &out->u.sub.subject) ||
               get_str(&f[2], true, &out->u.sub.queue);
    case PROTO_UNSUB:
        return get_u32(&f[0], &out->u.unsub.sid) || get_max(&f[1], &out->u.unsub.max);
    case PROTO_PUB:   /* tail stays NULL (zeroed): only proto_decode_bytes knows it */
        return get_str(&f[0], false, &out->u.pub.subject) ||
               get_str(&f[1], true, &out->u.pub.reply) ||
               get_bin(&f[2], &out->u.pub.payload, &out->u.pub.len);
    case PROTO_MSG:
        return get_u32(&f[0], &out->u.msg.sid) || get_str(&f[1], false, &out->u.msg.subject) ||
               get_str(&f[2], true, &out->u.msg.reply) ||
               get_bin(&f[3], &out->u.msg.payload, &out->u.msg.len);
    case PROTO_STATS_REPLY: {
        uint64_t *v[8] = { &out->u.stats.connections, &out->u.stats.subscriptions,
                           &out->u.stats.msgs_in, &out->u.stats.msgs_out,
                           &out->u.stats.bytes_in, &out->u.stats.bytes_out,
                           &out->u.stats.slow_consumers, &out->u.stats.drops };
        for (int i = 0; i < 8; i++)
            if (get_uint(&f[i], UINT64_MAX, v[i]))
                return PROTO_EFIELDS;
        return 0;
    }
    default:
        return 0;
    }
}

int proto_decode(uint32_t op, const msgpack_object *body, int peer, size_t max_payload,
                 proto_op_t *out)
{
    unsigned from = peer == PROTO_PEER_CLIENT ? 1u : peer == PROTO_PEER_SERVER ? 2u : 0u;
    if (!op_known(op) || !(senders[op] & from))
        return PROTO_EUNKNOWN_OP;
    memset(out, 0, sizeof *out);
    out->op = op;
    unsigned n = nfields[op];
    if (n == 0)
        return body ? PROTO_EFIELDS : 0;
    if (!body || body->type != MSGPACK_OBJECT_ARRAY || body->via.array.size != n)
        return PROTO_EFIELDS;
    /* get_fields' || chains collapse codes to 1: every shape error is EFIELDS */
    if (get_fields(body->via.array.ptr, out))
        return PROTO_EFIELDS;
    return check_values(out, max_payload ? max_payload : PROTO_MAX_PAYLOAD_DEFAULT);
}

int proto_decode_bytes(uint32_t op, const void *body, size_t len, int peer,
                       size_t max_payload, msgpack_zone *zone, proto_op_t *out)
{
    if (len == 0)
        return proto_decode(op, NULL, peer, max_payload, out);
    if (!body || !zone)
        return PROTO_EMALFORMED;
    msgpack_object o;
    size_t off = 0;
    int r = msgpack_unpack(body, len, &off, zone, &o);
    if (r != MSGPACK_UNPACK_SUCCESS || off != len)
        return PROTO_EMALFORMED;
    int rc = proto_decode(op, &o, peer, max_payload, out);
    if (rc == 0 && op == PROTO_PUB) {
        /* msgpack-c accepted an array of 3: its header is a fixarray byte
         * (0x93), or 0xdc/0xdd followed by a 2/4-byte count. */
        uint8_t h = *(const uint8_t *)body;
        size_t hl = h == 0xdc ? 3 : h == 0xdd ? 5 : 1;
        out->u.pub.tail = (const uint8_t *)body + hl;
        out->u.pub.tail_len = len - hl;
    }
    return rc;
}

/* ---- errors and the session --------------------------------------------------------- */

const char *proto_err_text(int code)
{
    switch (code) {
    case PROTO_EMALFORMED: return "malformed frame";
    case PROTO_ETOOBIG: return "frame too large";
    case PROTO_EUNKNOWN_OP: return "unknown op";
    case PROTO_EFIELDS: return "bad fields";
    case PROTO_ESUBJECT: return "bad subject";
    case PROTO_EPAYLOAD: return "payload too large";
    case PROTO_EVERSION: return "unsupported protocol version";
    case PROTO_EAUTH_REQUIRED: return "authorization required";
    case PROTO_EAUTH: return "authorization failed";
    case PROTO_EHELLO: return "hello already done";
    case PROTO_ESID_INUSE: return "sid in use";
    case PROTO_ESID_UNKNOWN: return "unknown sid";
    case PROTO_ETOO_MANY_SUBS: return "too many subscriptions";
    case PROTO_ETOO_MANY_CONNS: return "too many connections";
    case PROTO_ESLOW_CONSUMER: return "slow consumer";
    case PROTO_ESTALE: return "stale connection";
    case PROTO_ESERVER: return "server error";
    case PROTO_ESHUTDOWN: return "server shutting down";
    default: return "unknown error";
    }
}

bool proto_err_fatal(int code, uint32_t op)
{
    switch (code) {
    case PROTO_EMALFORMED: case PROTO_ETOOBIG: case PROTO_EVERSION:
    case PROTO_EAUTH_REQUIRED: case PROTO_EAUTH: case PROTO_ETOO_MANY_CONNS:
    case PROTO_ESLOW_CONSUMER: case PROTO_ESTALE: case PROTO_ESHUTDOWN:
        return true;
    case PROTO_EFIELDS:
        return op == PROTO_HELLO;   /* no session without a readable hello */
    default:
        return false;
    }
}

int proto_frame_err(int frame_rc)
{
    return frame_rc == ACTO_ELIMIT ? PROTO_ETOOBIG : PROTO_EMALFORMED;
}

/* Compare without an early exit, so timing does not reveal how much of a
 * guess was right (its length it may). */
static bool token_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    unsigned char d = 0;
    for (size_t i = 0; i < alen; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

int proto_session_gate(proto_session_t *s, uint32_t op, const char *token)
{
    if (op == PROTO_HELLO)
        return s->hello ? PROTO_EHELLO : 0;
    if (!s->hello) {
        if (token)
            return PROTO_EAUTH_REQUIRED;
        s->hello = true;   /* auth off: hello is optional */
        s->version = PROTO_VERSION;
    }
    return 0;
}

int proto_session_hello(proto_session_t *s, const proto_op_t *hello, const char *token,
                        size_t token_len)
{
    if (s->hello || hello->op != PROTO_HELLO)
        return PROTO_EHELLO;
    if (hello->u.hello.version == 0)
        return PROTO_EVERSION;
    const proto_str_t *t = &hello->u.hello.token;
    if (token && (!t->p || !token_equal(t->p, t->len, token, token_len)))
        return PROTO_EAUTH;
    s->hello = true;
    s->version = hello->u.hello.version < PROTO_VERSION ? hello->u.hello.version : PROTO_VERSION;
    return 0;
}
