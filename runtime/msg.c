/* runtime/msg.c - message memory, the send path, and msgpack helpers. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inspect.h"
#include "internal.h"
#include "mpscalar.h"
#include "proactor.h"

/* ---- memory ------------------------------------------------------------- */

/* Inlined into the send calls below (the body size is often a constant);
 * msg_alloc is the out-of-line copy for the rest of the runtime. */
static inline __attribute__((always_inline))
acto_msg_t *msg_alloc_in(acto_ctx_t *ctx, uint32_t type, size_t cap)
{
    unsigned cls = size_class(MSG_HDR + cap);
    uint8_t *ext = NULL;
    if (cls >= MSG_NCLASS) {
        if (cap > ACTO_MSG_MAX_BODY || !(ext = malloc(cap)))
            return NULL;
        cls = 0;
    }
    acto_msg_t *m = cache_alloc(ctx, cls);
    if (ACTO_UNLIKELY(!m)) {
        free(ext);
        return NULL;
    }
    m->type = type;
    m->size = 0;
    m->from = ACTO_PID_NONE;
    m->cls = (uint8_t)cls;
    m->id = 0;
    if (ext) {
        m->body = ext;
        m->cap = (uint32_t)cap;
        m->flags = MSG_F_EXTERNAL;
    } else {
        m->body = (uint8_t *)(m + 1);
        m->cap = (uint32_t)((MSG_CLASS_MIN << cls) - MSG_HDR);
        m->flags = 0;
    }
    return m;
}

acto_msg_t *msg_alloc(acto_ctx_t *ctx, uint32_t type, size_t cap)
{
    return msg_alloc_in(ctx, type, cap);
}

/* ---- shared bodies (internal.h B1..B3) ------------------------------------ */

msg_blob_t *msg_blob_new(acto_ctx_t *ctx, size_t size, uint32_t refs)
{
    if (size > ACTO_MSG_MAX_BODY || refs == 0)
        return NULL;
    size_t total = sizeof(msg_blob_t) + size;
    unsigned cls = size_class(total);
    msg_blob_t *b = cls < MSG_NCLASS ? cache_alloc(ctx, cls) : malloc(total);
    if (b) {
        b->refs = refs;          /* B1: one per message to come; not yet shared */
        b->size = (uint32_t)size;
        b->cls = cls < MSG_NCLASS ? (uint8_t)cls : MSG_BLOB_MALLOC;
    }
    return b;
}

/* A header-only block (class 0) whose body is the blob's bytes.  cap ==
 * size: there is no room to write, and acto_msg_write refuses anyway. */
acto_msg_t *msg_alloc_shared(acto_ctx_t *ctx, uint32_t type, msg_blob_t *b)
{
    acto_msg_t *m = cache_alloc(ctx, 0);
    if (ACTO_UNLIKELY(!m))
        return NULL;
    m->type = type;
    m->size = b->size;
    m->from = ACTO_PID_NONE;
    m->body = b->data;
    m->cap = b->size;
    m->cls = 0;
    m->flags = MSG_F_SHARED;
    m->id = 0;
    return m;
}

void msg_blob_release(acto_ctx_t *ctx, msg_blob_t *b)
{
    if (at_faa_u32(&b->refs, (uint32_t)-1) != 1)
        return;
    if (b->cls == MSG_BLOB_MALLOC)     /* B3: the last reference */
        free(b);
    else
        cache_free(ctx, b->cls, b);
}

int acto_msg_write(acto_msg_t *m, const void *buf, size_t len)
{
    if (!m || (!buf && len))
        return ACTO_EINVAL;
    if (m->flags & (MSG_F_NOMEM | MSG_F_TOOBIG))
        return (m->flags & MSG_F_NOMEM) ? ACTO_ENOMEM : ACTO_ELIMIT;
    if (m->flags & MSG_F_SHARED)
        return ACTO_ESTATE;      /* other messages read this body (B2) */
    if (len == 0)
        return 0;                /* buf may be NULL: no memcpy from it */
    size_t need = (size_t)m->size + len;
    if (need > m->cap) {
        if (need > ACTO_MSG_MAX_BODY) {
            m->flags |= MSG_F_TOOBIG;
            return ACTO_ELIMIT;
        }
        size_t ncap = (size_t)m->cap * 2;
        if (ncap < need)
            ncap = need;
        if (ncap > ACTO_MSG_MAX_BODY)
            ncap = ACTO_MSG_MAX_BODY;
        uint8_t *nb;
        if (m->flags & MSG_F_EXTERNAL) {
            nb = realloc(m->body, ncap);
        } else {
            nb = malloc(ncap);
            if (nb)
                memcpy(nb, m->body, m->size);
        }
        if (!nb) {
            m->flags |= MSG_F_NOMEM;
            return ACTO_ENOMEM;
        }
        m->body = nb;
        m->cap = (uint32_t)ncap;
        m->flags |= MSG_F_EXTERNAL;
    }
    memcpy(m->body + m->size, buf, len);
    m->size = (uint32_t)need;
    return 0;
}

static int packer_write(void *data, const char *buf, size_t len)
{
    return acto_msg_write(data, buf, len) == 0 ? 0 : -1;
}

void acto_msg_packer(acto_msg_t *msg, msgpack_packer *pk)
{
    msgpack_packer_init(pk, msg, packer_write);
}

int acto_msg_new(acto_ctx_t *ctx, uint32_t type, size_t cap, acto_msg_t **out)
{
    if (!ctx || !out)
        return ACTO_EINVAL;
    if (cap > ACTO_MSG_MAX_BODY)
        return ACTO_ELIMIT;      /* as acto_send_str/bin and acto_msg_write */
    ctx_lock(ctx);
    acto_msg_t *m = msg_alloc(ctx, type, cap);
    ctx_unlock(ctx);
    *out = m;
    return m ? 0 : ACTO_ENOMEM;
}

void acto_msg_free(acto_ctx_t *ctx, acto_msg_t *msg)
{
    if (!ctx || !msg)
        return;
    ctx_lock(ctx);
    msg_free(ctx, msg);
    ctx_unlock(ctx);
}

uint32_t acto_msg_type(const acto_msg_t *m) { return m->type; }
acto_pid_t acto_msg_from(const acto_msg_t *m) { return m->from; }
size_t acto_msg_size(const acto_msg_t *m) { return m->size; }

const void *acto_msg_data(const acto_msg_t *m, size_t *len)
{
    if (len)
        *len = m->size;
    return m->body;
}

/* ---- the send path ----------------------------------------------------------
 * Lookup is slot arithmetic plus one load of the slot's pid.  The slot
 * cannot be recycled while we push (we are inside an epoch section: a
 * worker always is while it runs actors; foreign contexts enter one here),
 * so a pid that still matches means the push lands in that actor's mailbox,
 * and the actor's exit path drains it after the grace period (mailbox.h I5).
 */
static acto_actor_t *pid_lookup(acto_runtime_t *rt, acto_pid_t to)
{
    uint32_t slot = ACTO_PID_SLOT(to);
    if (ACTO_UNLIKELY(ACTO_PID_NODE(to) != 0 || ACTO_PID_GEN(to) == 0))
        return NULL;
    if (ACTO_UNLIKELY(slot >= rt->max_slots || slot >= at_load_u32(&rt->slot_hwm)))
        return NULL;
    return slot_at(rt, slot);
}

/* Send coalescing: inside a receive, consecutive sends to one actor are
 * linked here and pushed as one chain (one exchange of the target's head
 * instead of one per message: the line the target's other senders and its
 * worker keep taking from each other).  Order per sender is kept; the
 * liveness check was made at send time, and the chain is pushed inside the
 * same epoch section (the worker's), so I5 holds as for a single push. */
static inline void send_coalesce(acto_ctx_t *ctx, acto_actor_t *a, acto_msg_t *m)
{
    acto_worker_t *w = ctx->w;
    m->node.next = NULL;
    if (w->pend_to == a) {
        w->pend_last->next = &m->node;
        w->pend_last = &m->node;
        return;
    }
    if (w->pend_to)
        send_flush(ctx);
    w->pend_to = a;
    w->pend_first = w->pend_last = &m->node;
}

/* Inlined into the common send calls; msg_send_from is the out-of-line
 * copy for the rest of the runtime. */
static inline __attribute__((always_inline))
int send_in(acto_ctx_t *ctx, acto_pid_t from, acto_pid_t to, acto_msg_t *m)
{
    if (ACTO_UNLIKELY(m->flags & (MSG_F_NOMEM | MSG_F_TOOBIG))) {
        int rc = (m->flags & MSG_F_NOMEM) ? ACTO_ENOMEM : ACTO_ELIMIT;
        msg_drop(ctx, m);
        return rc;
    }
    m->from = from;
    if (ACTO_UNLIKELY(ctx->tr))
        trace_send(ctx, m, to);
    acto_actor_t *a = pid_lookup(ctx->rt, to);
    ctx_epoch_begin(ctx);
    if (ACTO_UNLIKELY(!a || at_load_u64(&a->pid) != to)) {
        ctx_epoch_end(ctx);
        ctr_add(&ctx->dead_letters, 1);
        msg_drop(ctx, m);
        return ACTO_ENOACTOR;
    }
    if (ACTO_UNLIKELY(ctx->isent))
        insp_sent(ctx, ACTO_PID_SLOT(to));   /* inspect.h K1 */
    if (ctx->kind == CTX_WORKER && ctx->w->coalesce) {
        send_coalesce(ctx, a, m);
        ctx_epoch_end(ctx);
        return 0;
    }
    if (mbox_push(&a->mb, &m->node))
        sched_wake_send(ctx, a);
    ctx_epoch_end(ctx);
    return 0;
}

void send_flush(acto_ctx_t *ctx)
{
    acto_worker_t *w = ctx->w;
    acto_actor_t *a = w->pend_to;
    w->pend_to = NULL;
    if (mbox_push_chain(&a->mb, w->pend_first, w->pend_last))
        sched_wake_send(ctx, a);
}

void msg_drop(acto_ctx_t *ctx, acto_msg_t *m)
{
    /* A PX_ACCEPT completion: its res is the new fd (proactor.h). */
    px_cbody_t h;
    if ((m->flags & MSG_F_OWNS_FD) && m->size >= sizeof h) {
        memcpy(&h, m->body, sizeof h);
        if (h.res >= 0)
            close((int)h.res);
    }
    msg_free(ctx, m);
}

int msg_send_from(acto_ctx_t *ctx, acto_pid_t from, acto_pid_t to, acto_msg_t *m)
{
    return send_in(ctx, from, to, m);
}

static acto_pid_t ctx_pid(const acto_ctx_t *ctx)
{
    return ctx->self ? ctx->self->pid : ACTO_PID_NONE;
}

int acto_send_msg(acto_ctx_t *ctx, acto_pid_t to, acto_msg_t *msg)
{
    if (!ctx || !msg)
        return ACTO_EINVAL;
    ctx_lock(ctx);
    int rc;
    if (ACTO_UNLIKELY(msg->type >= ACTO_MSG_SYSTEM)) {
        msg_free(ctx, msg);
        rc = ACTO_EINVAL;
    } else {
        rc = msg_send_from(ctx, ctx_pid(ctx), to, msg);
    }
    ctx_unlock(ctx);
    return rc;
}

int acto_forward(acto_ctx_t *ctx, acto_pid_t to, const acto_msg_t *msg)
{
    if (!ctx || !msg || ctx->cur != msg || ctx->cur_taken)
        return ACTO_EINVAL;
    if (msg->type >= ACTO_MSG_SYSTEM)
        return ACTO_EINVAL;
    ctx->cur_taken = true;
    return msg_send_from(ctx, msg->from, to, ctx->cur);
}

/* Build a message of `type` whose body is `len` bytes from `body` and send. */
int acto_send(acto_ctx_t *ctx, acto_pid_t to, uint32_t type, const void *body, size_t len)
{
    if (!ctx || (!body && len) || type >= ACTO_MSG_SYSTEM)
        return ACTO_EINVAL;
    if (len > ACTO_MSG_MAX_BODY)
        return ACTO_ELIMIT;
    ctx_lock(ctx);
    int rc = ACTO_ENOMEM;
    acto_msg_t *m = msg_alloc_in(ctx, type, len);
    if (m) {
        if (len)
            memcpy(m->body, body, len);
        m->size = (uint32_t)len;
        rc = send_in(ctx, ctx_pid(ctx), to, m);
    }
    ctx_unlock(ctx);
    return rc;
}

int acto_send_empty(acto_ctx_t *ctx, acto_pid_t to, uint32_t type)
{
    return acto_send(ctx, to, type, NULL, 0);
}

/* Scalar bodies are encoded straight into a fresh 64-byte block
 * (mpscalar.h: the same bytes msgpack-c writes, without its callback). */
#define SEND_SCALAR(ctx, to, type, PUT)                                       \
    do {                                                                      \
        if (!ctx || type >= ACTO_MSG_SYSTEM)                                  \
            return ACTO_EINVAL;                                               \
        ctx_lock(ctx);                                                        \
        int rc_ = ACTO_ENOMEM;                                                \
        acto_msg_t *m_ = msg_alloc_in(ctx, type, MPS_MAX);                    \
        if (m_) {                                                             \
            m_->size = (uint32_t)PUT(m_->body, v);                            \
            rc_ = send_in(ctx, ctx_pid(ctx), to, m_);                         \
        }                                                                     \
        ctx_unlock(ctx);                                                      \
        return rc_;                                                           \
    } while (0)

int acto_send_i64(acto_ctx_t *ctx, acto_pid_t to, uint32_t type, int64_t v)
{ SEND_SCALAR(ctx, to, type, mps_put_i64); }

int acto_send_u64(acto_ctx_t *ctx, acto_pid_t to, uint32_t type, uint64_t v)
{ SEND_SCALAR(ctx, to, type, mps_put_u64); }

int acto_send_f64(acto_ctx_t *ctx, acto_pid_t to, uint32_t type, double v)
{ SEND_SCALAR(ctx, to, type, mps_put_f64); }

static int send_packed(acto_ctx_t *ctx, acto_pid_t to, uint32_t type, size_t hint,
                       int (*fill)(msgpack_packer *, const void *, size_t),
                       const void *p, size_t len)
{
    if (!ctx || type >= ACTO_MSG_SYSTEM)
        return ACTO_EINVAL;
    ctx_lock(ctx);
    int rc = ACTO_ENOMEM;
    acto_msg_t *m = msg_alloc(ctx, type, hint);
    if (m) {
        msgpack_packer pk;
        acto_msg_packer(m, &pk);
        fill(&pk, p, len);
        rc = msg_send_from(ctx, ctx_pid(ctx), to, m);
    }
    ctx_unlock(ctx);
    return rc;
}

static int fill_str(msgpack_packer *pk, const void *p, size_t len)
{
    msgpack_pack_str(pk, len);
    return msgpack_pack_str_body(pk, p, len);
}

static int fill_bin(msgpack_packer *pk, const void *p, size_t len)
{
    msgpack_pack_bin(pk, len);
    return msgpack_pack_bin_body(pk, p, len);
}

int acto_send_str(acto_ctx_t *ctx, acto_pid_t to, uint32_t type, const char *s)
{
    if (!s)
        return ACTO_EINVAL;
    size_t len = strlen(s);
    if (len > ACTO_MSG_MAX_BODY - 5)
        return ACTO_ELIMIT;
    return send_packed(ctx, to, type, len + 5, fill_str, s, len);
}

int acto_send_bin(acto_ctx_t *ctx, acto_pid_t to, uint32_t type, const void *p, size_t len)
{
    if (!p && len)
        return ACTO_EINVAL;
    if (len > ACTO_MSG_MAX_BODY - 5)
        return ACTO_ELIMIT;
    return send_packed(ctx, to, type, len + 5, fill_bin, p, len);
}

/* ---- format packing ------------------------------------------------------- */

/* Number of items at the top level of the bracket that *f is just inside. */
static int fmt_count(const char *f, char close)
{
    int depth = 0, n = 0;
    for (; *f; f++) {
        if (*f == '[' || *f == '{') {
            if (depth == 0)
                n++;
            depth++;
        } else if (*f == ']' || *f == '}') {
            if (depth == 0)
                return *f == close ? n : -1;
            depth--;
        } else if (*f != ' ' && depth == 0) {
            n++;
        }
    }
    return -1;
}

static int pack_fmt(msgpack_packer *pk, const char **fp, va_list *ap)
{
    char c;
    while ((c = **fp) == ' ')
        (*fp)++;
    (*fp)++;
    switch (c) {
    case 'i': return msgpack_pack_int64(pk, va_arg(*ap, int64_t)) ? ACTO_ENOMEM : 0;
    case 'u': return msgpack_pack_uint64(pk, va_arg(*ap, uint64_t)) ? ACTO_ENOMEM : 0;
    case 'p': return msgpack_pack_uint64(pk, va_arg(*ap, acto_pid_t)) ? ACTO_ENOMEM : 0;
    case 'd': return msgpack_pack_double(pk, va_arg(*ap, double)) ? ACTO_ENOMEM : 0;
    case 'b': return (va_arg(*ap, int) ? msgpack_pack_true(pk) : msgpack_pack_false(pk)) ? ACTO_ENOMEM : 0;
    case 'n': return msgpack_pack_nil(pk) ? ACTO_ENOMEM : 0;
    case 's': {
        const char *s = va_arg(*ap, const char *);
        if (!s)
            return ACTO_EINVAL;
        size_t n = strlen(s);
        return (msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n)) ? ACTO_ENOMEM : 0;
    }
    case 'y': {
        const void *p = va_arg(*ap, const void *);
        size_t n = va_arg(*ap, size_t);
        if (!p && n)
            return ACTO_EINVAL;
        return (msgpack_pack_bin(pk, n) || msgpack_pack_bin_body(pk, p, n)) ? ACTO_ENOMEM : 0;
    }
    case '[':
    case '{': {
        char close = c == '[' ? ']' : '}';
        int n = fmt_count(*fp, close);
        if (n < 0 || (c == '{' && n % 2))
            return ACTO_EINVAL;
        int rc = c == '[' ? msgpack_pack_array(pk, (size_t)n) : msgpack_pack_map(pk, (size_t)n / 2);
        if (rc)
            return ACTO_ENOMEM;
        for (int i = 0; i < n; i++)
            if ((rc = pack_fmt(pk, fp, ap)))
                return rc;
        while (**fp == ' ')
            (*fp)++;
        (*fp)++;   /* the closing bracket, checked by fmt_count */
        return 0;
    }
    default:
        return ACTO_EINVAL;
    }
}

int acto_send_fmt(acto_ctx_t *ctx, acto_pid_t to, uint32_t type, const char *fmt, ...)
{
    if (!ctx || !fmt || type >= ACTO_MSG_SYSTEM)
        return ACTO_EINVAL;
    ctx_lock(ctx);
    int rc = ACTO_ENOMEM;
    acto_msg_t *m = msg_alloc(ctx, type, 0);
    if (m) {
        msgpack_packer pk;
        acto_msg_packer(m, &pk);
        va_list ap;
        va_start(ap, fmt);
        const char *f = fmt;
        rc = *f ? pack_fmt(&pk, &f, &ap) : 0;
        va_end(ap);
        while (rc == 0 && *f == ' ')
            f++;
        if (rc == 0 && *f)
            rc = ACTO_EINVAL;   /* more than one top-level value */
        if (rc == 0 && (m->flags & (MSG_F_NOMEM | MSG_F_TOOBIG)))
            rc = (m->flags & MSG_F_NOMEM) ? ACTO_ENOMEM : ACTO_ELIMIT;
        if (rc == 0)
            rc = msg_send_from(ctx, ctx_pid(ctx), to, m);
        else
            msg_free(ctx, m);
    }
    ctx_unlock(ctx);
    return rc;
}

/* ---- reading ---------------------------------------------------------------- */

static int is_container(uint8_t b)
{
    return (b >= 0x80 && b <= 0x9f) || (b >= 0xdc && b <= 0xdf);
}

/* Decode a body that must be exactly one scalar value.  Scalars never touch
 * the zone, so an unused one on the stack is enough. */
static int read_scalar(const acto_msg_t *m, msgpack_object *o)
{
    if (!m)
        return ACTO_ETYPE;
    int fast = mps_get(m->body, m->size, o);   /* scalars, str, bin; empty */
    if (ACTO_LIKELY(fast != MPS_OTHER))
        return fast == MPS_OK ? 0 : ACTO_ETYPE;
    if (is_container(m->body[0]))
        return ACTO_ETYPE;
    msgpack_zone z;
    memset(&z, 0, sizeof z);
    size_t off = 0;
    int r = msgpack_unpack((const char *)m->body, m->size, &off, &z, o);
    if (r != MSGPACK_UNPACK_SUCCESS || off != m->size)
        return ACTO_ETYPE;
    return 0;
}

int acto_msg_i64(const acto_msg_t *m, int64_t *out)
{
    msgpack_object o;
    if (!out || read_scalar(m, &o))
        return out ? ACTO_ETYPE : ACTO_EINVAL;
    if (o.type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *out = o.via.i64;
    else if (o.type == MSGPACK_OBJECT_POSITIVE_INTEGER && o.via.u64 <= INT64_MAX)
        *out = (int64_t)o.via.u64;
    else
        return ACTO_ETYPE;
    return 0;
}

int acto_msg_u64(const acto_msg_t *m, uint64_t *out)
{
    msgpack_object o;
    if (!out || read_scalar(m, &o))
        return out ? ACTO_ETYPE : ACTO_EINVAL;
    if (o.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return ACTO_ETYPE;
    *out = o.via.u64;
    return 0;
}

int acto_msg_f64(const acto_msg_t *m, double *out)
{
    msgpack_object o;
    if (!out || read_scalar(m, &o))
        return out ? ACTO_ETYPE : ACTO_EINVAL;
    if (o.type != MSGPACK_OBJECT_FLOAT64 && o.type != MSGPACK_OBJECT_FLOAT32)
        return ACTO_ETYPE;
    *out = o.via.f64;
    return 0;
}

int acto_msg_bool(const acto_msg_t *m, bool *out)
{
    msgpack_object o;
    if (!out || read_scalar(m, &o))
        return out ? ACTO_ETYPE : ACTO_EINVAL;
    if (o.type != MSGPACK_OBJECT_BOOLEAN)
        return ACTO_ETYPE;
    *out = o.via.boolean;
    return 0;
}

int acto_msg_str(const acto_msg_t *m, const char **s, size_t *len)
{
    msgpack_object o;
    if (!s || read_scalar(m, &o))
        return s ? ACTO_ETYPE : ACTO_EINVAL;
    if (o.type != MSGPACK_OBJECT_STR)
        return ACTO_ETYPE;
    *s = o.via.str.ptr;
    if (len)
        *len = o.via.str.size;
    return 0;
}

int acto_msg_bin(const acto_msg_t *m, const void **p, size_t *len)
{
    msgpack_object o;
    if (!p || read_scalar(m, &o))
        return p ? ACTO_ETYPE : ACTO_EINVAL;
    if (o.type != MSGPACK_OBJECT_BIN)
        return ACTO_ETYPE;
    *p = o.via.bin.ptr;
    if (len)
        *len = o.via.bin.size;
    return 0;
}

void ctx_zone_reset(acto_ctx_t *ctx)
{
    if (ctx->zone_used) {
        msgpack_zone_clear(ctx->zone);
        ctx->zone_used = false;
    }
}

int acto_msg_unpack(acto_ctx_t *ctx, const acto_msg_t *m, msgpack_object *out)
{
    if (!ctx || !m || !out)
        return ACTO_EINVAL;
    if (m->size == 0) {
        out->type = MSGPACK_OBJECT_NIL;
        return 0;
    }
    if (!ctx->zone && !(ctx->zone = msgpack_zone_new(2048)))
        return ACTO_ENOMEM;
    if (ctx->kind != CTX_WORKER)
        ctx_zone_reset(ctx);   /* foreign: valid until the next unpack */
    ctx->zone_used = true;
    size_t off = 0;
    int r = msgpack_unpack((const char *)m->body, m->size, &off, ctx->zone, out);
    if (r == MSGPACK_UNPACK_NOMEM_ERROR)
        return ACTO_ENOMEM;
    if (r != MSGPACK_UNPACK_SUCCESS || off != m->size)
        return ACTO_EPROTO;
    return 0;
}

static int scan_obj(const msgpack_object *o, const char **fp, va_list *ap)
{
    char c;
    while ((c = **fp) == ' ')
        (*fp)++;
    (*fp)++;
    switch (c) {
    case 'i': {
        int64_t *p = va_arg(*ap, int64_t *);
        int64_t v;
        if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) v = o->via.i64;
        else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) v = (int64_t)o->via.u64;
        else return ACTO_ETYPE;
        if (p) *p = v;
        return 0;
    }
    case 'u':
    case 'p': {
        uint64_t *p = va_arg(*ap, uint64_t *);
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return ACTO_ETYPE;
        if (p) *p = o->via.u64;
        return 0;
    }
    case 'd': {
        double *p = va_arg(*ap, double *);
        double v;
        if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) v = o->via.f64;
        else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) v = (double)o->via.u64;
        else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) v = (double)o->via.i64;
        else return ACTO_ETYPE;
        if (p) *p = v;
        return 0;
    }
    case 'b': {
        bool *p = va_arg(*ap, bool *);
        if (o->type != MSGPACK_OBJECT_BOOLEAN)
            return ACTO_ETYPE;
        if (p) *p = o->via.boolean;
        return 0;
    }
    case 'n':
        return o->type == MSGPACK_OBJECT_NIL ? 0 : ACTO_ETYPE;
    case 's':
    case 'y': {
        const void **p = va_arg(*ap, const void **);
        size_t *n = va_arg(*ap, size_t *);
        if (c == 's' && o->type != MSGPACK_OBJECT_STR) return ACTO_ETYPE;
        if (c == 'y' && o->type != MSGPACK_OBJECT_BIN) return ACTO_ETYPE;
        if (p) *p = c == 's' ? (const void *)o->via.str.ptr : o->via.bin.ptr;
        if (n) *n = c == 's' ? o->via.str.size : o->via.bin.size;
        return 0;
    }
    case '[':
    case '{': {
        char close = c == '[' ? ']' : '}';
        int n = fmt_count(*fp, close);
        if (n < 0 || (c == '{' && n % 2))
            return ACTO_EINVAL;
        if (c == '[' && (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != (uint32_t)n))
            return ACTO_ETYPE;
        if (c == '{' && (o->type != MSGPACK_OBJECT_MAP || o->via.map.size * 2 != (uint32_t)n))
            return ACTO_ETYPE;
        for (int i = 0; i < n; i++) {
            const msgpack_object *e = c == '[' ? &o->via.array.ptr[i]
                : (i % 2 ? &o->via.map.ptr[i / 2].val : &o->via.map.ptr[i / 2].key);
            int rc = scan_obj(e, fp, ap);
            if (rc)
                return rc;
        }
        while (**fp == ' ')
            (*fp)++;
        (*fp)++;
        return 0;
    }
    default:
        return ACTO_EINVAL;
    }
}

int acto_msg_scan(acto_ctx_t *ctx, const acto_msg_t *m, const char *fmt, ...)
{
    if (!ctx || !m || !fmt)
        return ACTO_EINVAL;
    msgpack_object o;
    int rc = acto_msg_unpack(ctx, m, &o);
    if (rc)
        return rc == ACTO_EPROTO ? ACTO_ETYPE : rc;
    va_list ap;
    va_start(ap, fmt);
    const char *f = fmt;
    rc = scan_obj(&o, &f, &ap);
    va_end(ap);
    return rc;
}

/* ---- system messages: [a] / [a, b] / [a, b, c] of integers --------------- */

int msg_send_sys(acto_ctx_t *ctx, acto_pid_t from, acto_pid_t to, uint32_t type,
                 acto_pid_t a, int64_t b, uint64_t c, int nargs)
{
    acto_msg_t *m = msg_alloc(ctx, type, 32);
    if (!m)
        return ACTO_ENOMEM;
    msgpack_packer pk;
    acto_msg_packer(m, &pk);
    msgpack_pack_array(&pk, (size_t)nargs);
    msgpack_pack_uint64(&pk, a);
    if (nargs > 1)
        msgpack_pack_int64(&pk, b);
    if (nargs > 2)
        msgpack_pack_uint64(&pk, c);
    return msg_send_from(ctx, from, to, m);
}

int msg_scan_sys(const acto_msg_t *m, acto_pid_t *a, int64_t *b, uint64_t *c)
{
    /* The array needs zone memory for its element vector. */
    msgpack_zone *zp = msgpack_zone_new(256);
    if (!zp)
        return ACTO_ENOMEM;
    msgpack_object o;
    size_t off = 0;
    int rc = ACTO_EPROTO;
    if (msgpack_unpack((const char *)m->body, m->size, &off, zp, &o) == MSGPACK_UNPACK_SUCCESS &&
        o.type == MSGPACK_OBJECT_ARRAY && o.via.array.size >= 1 &&
        o.via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        const msgpack_object *e = o.via.array.ptr;
        *a = e[0].via.u64;
        if (b) *b = o.via.array.size > 1 ? e[1].via.i64 : 0;
        if (c) *c = o.via.array.size > 2 ? e[2].via.u64 : 0;
        rc = 0;
    }
    msgpack_zone_free(zp);
    return rc;
}
