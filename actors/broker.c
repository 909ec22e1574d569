/* actors/broker.c - the broker actor and the public API
 * (include/acto/broker.h).  Connections: broker_conn.c; what they share
 * and the invariants B1, B2: broker_impl.h.
 *
 * The broker actor owns the listener (whose accepted sockets each get a
 * connection actor), the channel bus, and the set of live connections.
 * Shutdown (BRK_STOP): close the listener, tell every connection
 * (BRK_SHUTDOWN: err 18, flush, close), and once the listener has closed
 * and the last connection has left, stop the shards and exit.  A
 * connection that cannot flush within linger_ms closes itself (its
 * socket is killed); one that still has not left a second later is
 * killed here, so shutdown always ends.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "actors/broker_impl.h"
#include "net/proto.h"

/* Timer message type of the broker actor (user range; the id tells a real
 * one from a stray message). */
enum { TM_KILL = 1 };

/* ---- the handle ------------------------------------------------------------------- */

void bk_ref(acto_broker_t *b)
{
    (void)at_faa_u64(&b->refs, 1);
}

static void handle_free(acto_broker_t *b)
{
    if (b->bus)
        chan_bus_free(b->bus);
    for (unsigned w = 0; w < b->nscratch; w++)
        bk_buf_free(&b->scratch[w].out);   /* batches never outlive a receive */
    free(b->scratch);
    free(b->listen);
    free(b->token);
    free(b->server_name);
    free(b);
}

void bk_unref(acto_broker_t *b)
{
    if (at_faa_u64(&b->refs, (uint64_t)-1) == 1)
        handle_free(b);
}

int bk_buf_put(bk_buf_t *b, const void *p, size_t len)
{
    if (len > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < len)
            cap *= 2;
        uint8_t *n = realloc(b->p, cap);
        if (!n)
            return ACTO_ENOMEM;
        b->p = n;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, len);
    b->len += len;
    return 0;
}

void bk_buf_free(bk_buf_t *b)
{
    free(b->p);
    *b = (bk_buf_t){ 0 };
}

int bk_send_empty(acto_ctx_t *ctx, acto_pid_t to, uint32_t type)
{
    ctx_lock(ctx);
    acto_msg_t *m = msg_alloc(ctx, type, 0);
    int rc = m ? msg_send_from(ctx, acto_self(ctx), to, m) : ACTO_ENOMEM;
    ctx_unlock(ctx);
    return rc;
}

/* ---- the set of live connections (open addressing, linear probing) ------------------ */

typedef struct pidset {
    acto_pid_t *v;              /* 0 = empty */
    size_t cap, n;
} pidset_t;

static size_t pid_hash(acto_pid_t p, size_t cap)
{
    return (size_t)((p * 0x9e3779b97f4a7c15u) >> 17) & (cap - 1);
}

static int pidset_add(pidset_t *s, acto_pid_t p)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        acto_pid_t *v = calloc(cap, sizeof *v);
        if (!v)
            return ACTO_ENOMEM;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->v[i])
                continue;
            size_t j = pid_hash(s->v[i], cap);
            while (v[j])
                j = (j + 1) & (cap - 1);
            v[j] = s->v[i];
        }
        free(s->v);
        s->v = v;
        s->cap = cap;
    }
    size_t j = pid_hash(p, s->cap);
    while (s->v[j]) {
        if (s->v[j] == p)
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->v[j] = p;
    s->n++;
    return 0;
}

/* Remove with backward shift: no tombstones, probes stay short. */
static void pidset_del(pidset_t *s, acto_pid_t p)
{
    if (!s->cap)
        return;
    size_t j = pid_hash(p, s->cap), m = s->cap - 1;
    while (s->v[j] != p) {
        if (!s->v[j])
            return;
        j = (j + 1) & m;
    }
    s->n--;
    for (size_t k = (j + 1) & m; s->v[k]; k = (k + 1) & m) {
        size_t h = pid_hash(s->v[k], s->cap);
        /* move v[k] into the hole at j unless its home lies in (j, k] */
        if (((k - h) & m) >= ((k - j) & m)) {
            s->v[j] = s->v[k];
            j = k;
        }
    }
    s->v[j] = 0;
}

/* ---- the broker actor ---------------------------------------------------------------- */

typedef struct bk_main {
    acto_broker_t *b;
    acto_pid_t listener;
    pidset_t conns;
    uint64_t kill_timer;
    bool stopping, listener_closed, bus_stopped;
} bk_main_t;

static int main_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    bk_main_t *s = state;
    acto_broker_t *b = (acto_broker_t *)arg;
    s->b = b;
    b->pid = acto_self(ctx);           /* before any connection can read it */
    int rc = chan_bus_start(ctx, b->shards, &b->bus);
    if (rc)
        return rc;
    acto_listen_opts_t lo = {
        .owner = acto_self(ctx),
        .behavior = &bk_conn_behavior,
        .arg = b,
        .sock = { .mode = ACTO_NET_RAW,
                  .high_water = b->max_pending + BRK_CTRL_SLACK + BRK_ERR_ROOM,
                  .notify_sent = 1 },
    };
    rc = acto_listen(ctx, b->listen, &lo, &s->listener);
    if (rc) {
        chan_bus_stop(ctx, b->bus);
        chan_bus_free(b->bus);
        b->bus = NULL;
        return rc;
    }
    bk_ref(b);                         /* B1: the broker actor's reference */
    return 0;
}

static void main_terminate(acto_ctx_t *ctx, void *state, int64_t reason)
{
    (void)reason;
    bk_main_t *s = state;
    if (!s->bus_stopped)
        chan_bus_stop(ctx, s->b->bus);
    if (s->kill_timer)
        (void)acto_timer_cancel(ctx, s->kill_timer);
    free(s->conns.v);
    bk_unref(s->b);
}

static void main_maybe_finish(acto_ctx_t *ctx, bk_main_t *s)
{
    if (!s->stopping || !s->listener_closed || s->conns.n)
        return;
    chan_bus_stop(ctx, s->b->bus);
    s->bus_stopped = true;
    acto_exit(ctx, ACTO_EXIT_NORMAL);
}

/* The listener is bound: publish the address, tell the owner. */
static void main_listening(acto_ctx_t *ctx, bk_main_t *s, const acto_msg_t *msg)
{
    acto_broker_t *b = s->b;
    const char *a;
    size_t alen;
    uint64_t port;
    if (acto_msg_scan(ctx, msg, "[su]", &a, &alen, &port) != 0 || alen >= sizeof b->addr)
        return;
    if (!at_load_u32(&b->addr_ready)) {
        memcpy(b->addr, a, alen);
        b->addr[alen] = '\0';
        at_store_u32(&b->addr_ready, 1);
    }
    if (!b->owner)
        return;
    size_t len;
    const void *body = acto_msg_data(msg, &len);
    ctx_lock(ctx);
    acto_msg_t *m = msg_alloc(ctx, ACTO_MSG_NET_LISTENING, len);
    if (m && acto_msg_write(m, body, len) == 0)
        (void)msg_send_from(ctx, acto_self(ctx), b->owner, m);
    else if (m)
        msg_free(ctx, m);
    ctx_unlock(ctx);
}

static void main_stop(acto_ctx_t *ctx, bk_main_t *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    if (!s->listener_closed)
        (void)acto_sock_close(ctx, s->listener);
    for (size_t i = 0; i < s->conns.cap; i++)
        if (s->conns.v[i])
            (void)bk_send_empty(ctx, s->conns.v[i], BRK_SHUTDOWN);
    uint64_t after = s->b->linger_ns + 1000000000u;
    (void)acto_timer_start(ctx, after, 0, TM_KILL, &s->kill_timer);
    main_maybe_finish(ctx, s);
}

static int main_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    bk_main_t *s = state;
    acto_pid_t from = acto_msg_from(msg);
    uint64_t id;
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_LISTENING:
        if (from == s->listener)
            main_listening(ctx, s, msg);
        break;
    case ACTO_MSG_NET_CLOSED:
        if (from == s->listener) {
            s->listener_closed = true;
            main_maybe_finish(ctx, s);
        }
        break;
    case BRK_JOIN:
        if (pidset_add(&s->conns, from) != 0)
            (void)acto_kill(ctx, from, ACTO_EXIT_ERROR);   /* cannot track it */
        else if (s->stopping)
            (void)bk_send_empty(ctx, from, BRK_SHUTDOWN);
        break;
    case BRK_LEAVE:
        pidset_del(&s->conns, from);
        main_maybe_finish(ctx, s);
        break;
    case BRK_STOP:
        main_stop(ctx, s);
        break;
    case TM_KILL:
        if (acto_msg_u64(msg, &id) == 0 && id == s->kill_timer) {
            s->kill_timer = 0;
            for (size_t i = 0; i < s->conns.cap; i++)
                if (s->conns.v[i])
                    (void)acto_kill(ctx, s->conns.v[i], ACTO_EXIT_KILLED);
        }
        break;
    default:                           /* listener errors (accept): it retries */
        break;
    }
    return 0;
}

static const acto_behavior_t main_behavior = {
    .name = "acto.broker",
    .state_size = sizeof(bk_main_t),
    .init = main_init,
    .receive = main_receive,
    .terminate = main_terminate,
};

/* ---- public calls --------------------------------------------------------------------- */

void acto_broker_opts_init(acto_broker_opts_t *o)
{
    if (!o)
        return;
    *o = (acto_broker_opts_t){
        .listen = ACTO_BROKER_DEFAULT_LISTEN,
        .max_payload = PROTO_MAX_PAYLOAD_DEFAULT,
        .max_frame = 0,                /* max_payload + 1024, whatever that is */
        .max_conns = PROTO_MAX_CONNS_DEFAULT,
        .max_subs = PROTO_MAX_SUBS_DEFAULT,
        .slow_consumer = ACTO_BROKER_SLOW_DISCONNECT,
        .max_pending = PROTO_MAX_PENDING_DEFAULT,
        .ping_interval_ms = PROTO_PING_INTERVAL_DEFAULT_MS,
        .linger_ms = 2000,
        .server_name = "acto-broker",
    };
}

static char *dup_bytes(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Options with defaults filled in, checked; 0 or ACTO_EINVAL/ENOMEM. */
static int handle_fill(acto_broker_t *b, const acto_broker_opts_t *in)
{
    acto_broker_opts_t o;
    acto_broker_opts_init(&o);
    if (in) {
#define TAKE(f) if (in->f) o.f = in->f
        TAKE(listen); TAKE(max_payload); TAKE(max_conns); TAKE(max_subs); TAKE(token);
        TAKE(token_len); TAKE(slow_consumer); TAKE(max_pending); TAKE(ping_interval_ms);
        TAKE(linger_ms); TAKE(shards); TAKE(server_name); TAKE(owner);
#undef TAKE
        o.max_frame = in->max_frame;
    }
    if (!o.max_frame)
        o.max_frame = proto_max_frame(o.max_payload);
    if (o.slow_consumer != ACTO_BROKER_SLOW_DISCONNECT && o.slow_consumer != ACTO_BROKER_SLOW_DROP)
        return ACTO_EINVAL;
    /* A payload bigger than msgpack's bin 32, a frame that no payload fits
     * in, a queue that cannot hold one frame: all refused. */
    if (o.max_payload > UINT32_MAX || o.max_frame < 16 || o.max_pending < o.max_frame ||
        o.max_pending > SIZE_MAX / 4 || o.shards > CHAN_SHARDS_MAX)
        return ACTO_EINVAL;
    size_t tlen = o.token ? (o.token_len ? o.token_len : strlen(o.token)) : 0;
    size_t nlen = strlen(o.server_name);
    if (tlen > PROTO_TOKEN_MAX || nlen > PROTO_NAME_MAX)
        return ACTO_EINVAL;
    b->max_payload = o.max_payload;
    b->max_frame = o.max_frame;
    b->max_pending = o.max_pending;
    b->max_conns = o.max_conns;
    b->max_subs = o.max_subs;
    b->slow = o.slow_consumer;
    b->ping_ns = o.ping_interval_ms * 1000000u;
    b->linger_ns = o.linger_ms * 1000000u;
    b->shards = o.shards;
    b->owner = o.owner;
    b->token_len = tlen;
    if (!(b->listen = dup_bytes(o.listen, strlen(o.listen))) ||
        !(b->server_name = dup_bytes(o.server_name, nlen)) ||
        (o.token && !(b->token = dup_bytes(o.token, tlen))))
        return ACTO_ENOMEM;
    return 0;
}

int acto_broker_start(acto_ctx_t *ctx, const acto_broker_opts_t *opts, acto_broker_t **out)
{
    if (!ctx || !out)
        return ACTO_EINVAL;
    *out = NULL;
    acto_broker_t *b;
    if (posix_memalign((void **)&b, ACTO_CACHELINE, sizeof *b) != 0)
        return ACTO_ENOMEM;
    memset(b, 0, sizeof *b);
    b->refs = 1;                       /* B1: the caller's */
    int rc = handle_fill(b, opts);
    if (rc == 0) {
        if (!b->owner)
            b->owner = acto_self(ctx);
        b->nscratch = ctx->rt->nworkers ? ctx->rt->nworkers : 1;
        b->scratch = calloc(b->nscratch, sizeof *b->scratch);
        if (!b->scratch)
            rc = ACTO_ENOMEM;
    }
    if (rc == 0)
        rc = acto_spawn(ctx, &main_behavior, b, NULL);
    if (rc) {
        handle_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

acto_pid_t acto_broker_pid(const acto_broker_t *b)
{
    return b ? b->pid : ACTO_PID_NONE;
}

int acto_broker_address(const acto_broker_t *b, char *buf, size_t len)
{
    if (!b || !buf)
        return ACTO_EINVAL;
    if (!at_load_u32(&b->addr_ready))
        return ACTO_EAGAIN;
    size_t n = strlen(b->addr);
    if (n >= len)
        return ACTO_ELIMIT;
    memcpy(buf, b->addr, n + 1);
    return 0;
}

int acto_broker_stats(const acto_broker_t *b, acto_broker_stats_t *o)
{
    if (!b || !o)
        return ACTO_EINVAL;
    const bk_counters_t *c = &b->st;
    *o = (acto_broker_stats_t){
        .connections = at_load_u64(&c->connections),
        .subscriptions = at_load_u64(&c->subscriptions),
        .msgs_in = at_load_u64(&c->msgs_in),
        .msgs_out = at_load_u64(&c->msgs_out),
        .bytes_in = at_load_u64(&c->bytes_in),
        .bytes_out = at_load_u64(&c->bytes_out),
        .slow_consumers = at_load_u64(&c->slow_consumers),
        .drops = at_load_u64(&c->drops),
    };
    return 0;
}

int acto_broker_stop(acto_ctx_t *ctx, acto_broker_t *b)
{
    if (!ctx || !b)
        return ACTO_EINVAL;
    int rc = bk_send_empty(ctx, b->pid, BRK_STOP);
    return rc == ACTO_ENOACTOR ? 0 : rc;   /* already gone: stopped */
}

void acto_broker_free(acto_broker_t *b)
{
    if (b)
        bk_unref(b);
}
