/* net/client.c - the blocking pub/sub client (include/acto/client.h).
 *
 * One non-blocking socket driven with poll() on the caller's thread.
 *
 * State, and the invariants the code keeps:
 *  - fd >= 0: connected and welcomed (or being welcomed: `connecting`);
 *    fd < 0 and !dead: disconnected, a retry is due at next_try_ns;
 *    dead: closed for good, every call fails with ACTO_ECLOSED.
 *  - out[0..out_len) holds whole frames in the order they were made;
 *    out[0..out_off) of them are already written to the current socket.
 *    out_off returns to 0 only with out_len (everything written), so
 *    offset 0 is always a frame boundary: after a drop, salvage() walks
 *    the frames from there to keep the unwritten publishes.
 *  - While disconnected, out holds only publish frames (at most
 *    max_buffered bytes); subscriptions live in subs[], which is the
 *    truth the replay after a reconnect is built from.
 *  - subs[] is sorted by sid: sids come from a counter and are never
 *    reused, so appending keeps the order (lookups are binary searches),
 *    and a late msg for a removed sid can never reach a new subscription.
 *  - Received msgs are copied into a FIFO (inq); `cur` is the one last
 *    handed to the caller, freed at the start of the next call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "acto/client.h"
#include "acto/error.h"
#include "net/addr.h"
#include "net/frame.h"
#include "net/proto.h"
#include "net/subject.h"

#define CL_FLUSH_AT (64u * 1024u)          /* write when the buffer passes this */
#define CL_WRITE_BEHIND_NS 1000000ull      /* or when its oldest byte is 1 ms old */
#define CL_RECV_CHUNK (64u * 1024u)
#define CL_ADDRS_MAX 8
#define CL_NAME_DEFAULT "acto-client"
#define CL_CONNECT_TIMEOUT_DEFAULT 5000u
#define CL_BACKOFF_MIN_DEFAULT 20u
#define CL_BACKOFF_MAX_DEFAULT 2000u
#define CL_BUFFERED_DEFAULT (8u * 1024u * 1024u)
/* Largest frame accepted from the broker: it never sends more than its
 * max_payload (announced) plus the envelope; this only bounds a broken one. */
#define CL_FRAME_MAX proto_max_frame(ACTO_MSG_MAX_BODY)

typedef struct cl_sub {
    uint32_t sid;
    char *pattern, *queue;                  /* queue may be NULL */
    uint64_t max;                           /* 0: no auto-unsubscribe */
    uint64_t got;                           /* msgs delivered so far */
} cl_sub_t;

typedef struct cl_msg {
    struct cl_msg *next;
    acto_client_msg_t m;                    /* points into data[] */
    char data[];
} cl_msg_t;

struct acto_client {
    char *addr, *name, *token;
    unsigned connect_timeout_ms, backoff_min, backoff_max, max_attempts;
    bool reconnect;
    size_t max_buffered;

    int fd;
    bool dead, connecting, welcomed;
    frame_dec_t dec;
    size_t max_payload;                     /* from welcome */

    uint8_t *out;
    size_t out_len, out_off, out_cap;
    uint64_t out_since_ns;                  /* when out went non-empty */

    cl_sub_t *subs;
    size_t nsubs, subs_cap;
    uint32_t next_sid;

    cl_msg_t *inq_head, *inq_tail, *cur;

    /* what a waiting call looks for in the frames pump() reads */
    uint32_t wait_op, wait_sid;             /* ok/err for (op, sid); op 0: none */
    bool wait_done;
    int wait_rc;
    uint32_t req_sid;                       /* request: its msg goes to req_msg */
    cl_msg_t *req_msg;
    uint64_t pongs;
    uint64_t stats_got;                     /* stats_reply frames received */
    proto_stats_t stats;                    /* the last one */

    /* reconnect */
    uint64_t next_try_ns, reconnects;
    unsigned backoff_ms, failed_tries;
    uint64_t rng;
    char inbox[40];                         /* "_INBOX.<16 hex>." */
    uint64_t inbox_seq;

    int err_code;                           /* the broker's last err, or 0 */
    bool conn_err;                          /* an err came on this connection */
    char err_text[PROTO_TEXT_MAX + 128];
};

/* ---- small helpers ------------------------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Deadline from a timeout in ms; < 0: never (UINT64_MAX). */
static uint64_t deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? UINT64_MAX : now_ns() + (uint64_t)timeout_ms * 1000000ull;
}

/* poll() timeout for a deadline, rounded up so we never wake early. */
static int poll_ms(uint64_t deadline)
{
    if (deadline == UINT64_MAX)
        return -1;
    uint64_t now = now_ns();
    if (now >= deadline)
        return 0;
    uint64_t ms = (deadline - now + 999999ull) / 1000000ull;
    return ms > 60000 ? 60000 : (int)ms;
}

static uint64_t rng_next(acto_client_t *c)
{
    /* xorshift64*: jitter and inbox names need spread, not secrecy */
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 0x2545F4914F6CDD1Dull;
}

static void set_err(acto_client_t *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(acto_client_t *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err_text, sizeof c->err_text, fmt, ap);
    va_end(ap);
    c->err_code = code;
}

/* The ACTO_E* code a call returns for the broker's err `code`. */
static int code_of_err(uint32_t code)
{
    switch (code) {
    case PROTO_ESUBJECT: return ACTO_EINVAL;
    case PROTO_EPAYLOAD:
    case PROTO_ETOO_MANY_SUBS:
    case PROTO_ETOO_MANY_CONNS: return ACTO_ELIMIT;
    case PROTO_ESID_INUSE:
    case PROTO_ESID_UNKNOWN: return ACTO_ESTATE;
    case PROTO_ESLOW_CONSUMER:
    case PROTO_ESTALE:
    case PROTO_ESHUTDOWN: return ACTO_ECLOSED;
    case PROTO_ESERVER: return ACTO_ENOMEM;
    default: return ACTO_EPROTO;
    }
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- the output buffer ----------------------------------------------------------- */

static int out_reserve(acto_client_t *c, size_t more)
{
    if (more <= c->out_cap - c->out_len)
        return 0;
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap - c->out_len < more)
        cap *= 2;
    uint8_t *p = realloc(c->out, cap);
    if (!p)
        return ACTO_ENOMEM;
    c->out = p;
    c->out_cap = cap;
    return 0;
}

static int out_write(void *data, const char *buf, size_t len)
{
    acto_client_t *c = data;
    if (out_reserve(c, len))
        return -1;
    memcpy(c->out + c->out_len, buf, len);
    c->out_len += len;
    return 0;
}

/* Append op's frame; on failure the buffer is as it was. */
static int out_frame(acto_client_t *c, const proto_op_t *op)
{
    size_t mark = c->out_len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, c, out_write);
    int rc = proto_pack_frame(&pk, op);
    if (rc) {
        c->out_len = mark;
        return rc;
    }
    if (mark == 0)
        c->out_since_ns = now_ns();
    return 0;
}

static size_t out_pending(const acto_client_t *c)
{
    return c->out_len - c->out_off;
}

/* ---- subscriptions table ------------------------------------------------------------- */

static cl_sub_t *sub_find(acto_client_t *c, uint32_t sid)
{
    size_t lo = 0, hi = c->nsubs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->subs[mid].sid == sid)
            return &c->subs[mid];
        if (c->subs[mid].sid < sid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void sub_remove(acto_client_t *c, cl_sub_t *s)
{
    free(s->pattern);
    free(s->queue);
    size_t i = (size_t)(s - c->subs);
    memmove(s, s + 1, (c->nsubs - i - 1) * sizeof *s);
    c->nsubs--;
}

/* A new record with a fresh sid (the largest so far: order kept). */
static int sub_add(acto_client_t *c, const char *pattern, const char *queue, uint64_t max,
                   cl_sub_t **out)
{
    if (c->nsubs == c->subs_cap) {
        size_t cap = c->subs_cap ? c->subs_cap * 2 : 8;
        cl_sub_t *p = realloc(c->subs, cap * sizeof *p);
        if (!p)
            return ACTO_ENOMEM;
        c->subs = p;
        c->subs_cap = cap;
    }
    if (c->next_sid == UINT32_MAX)
        return ACTO_ELIMIT;                 /* 4 billion subscriptions made */
    cl_sub_t *s = &c->subs[c->nsubs];
    *s = (cl_sub_t){ .sid = ++c->next_sid, .max = max };
    s->pattern = strdup(pattern);
    s->queue = dup_or_null(queue);
    if (!s->pattern || (queue && !s->queue)) {
        free(s->pattern);
        free(s->queue);
        return ACTO_ENOMEM;
    }
    c->nsubs++;
    *out = s;
    return 0;
}

static proto_str_t pstr(const char *s)
{
    return (proto_str_t){ s, s ? strlen(s) : 0 };
}

static int frame_sub(acto_client_t *c, const cl_sub_t *s)
{
    proto_op_t op = { .op = PROTO_SUB,
                      .u.sub = { s->sid, pstr(s->pattern), pstr(s->queue) } };
    return out_frame(c, &op);
}

static int frame_unsub(acto_client_t *c, uint32_t sid, uint64_t max)
{
    proto_op_t op = { .op = PROTO_UNSUB, .u.unsub = { sid, max } };
    return out_frame(c, &op);
}

/* ---- received messages --------------------------------------------------------------- */

static cl_msg_t *msg_copy(const proto_op_t *op)
{
    size_t sl = op->u.msg.subject.len, rl = op->u.msg.reply.len, pl = op->u.msg.len;
    cl_msg_t *r = malloc(sizeof *r + sl + rl + pl + 2);
    if (!r)
        return NULL;
    char *p = r->data;
    memcpy(p, op->u.msg.subject.p, sl);
    p[sl] = '\0';
    char *reply = NULL;
    if (op->u.msg.reply.p) {
        reply = p + sl + 1;
        memcpy(reply, op->u.msg.reply.p, rl);
        reply[rl] = '\0';
    }
    char *payload = p + sl + 1 + (reply ? rl + 1 : 0);
    if (pl)
        memcpy(payload, op->u.msg.payload, pl);
    r->next = NULL;
    r->m = (acto_client_msg_t){ .sid = op->u.msg.sid, .subject = p, .subject_len = sl,
                                .reply = reply, .reply_len = reply ? rl : 0,
                                .payload = payload, .len = pl };
    return r;
}

static void release_cur(acto_client_t *c)
{
    free(c->cur);
    c->cur = NULL;
}

/* ---- connection ------------------------------------------------------------------------ */

static void drop(acto_client_t *c, const char *why);

/* Keep the publish frames not yet written: out[0..) starts on a frame
 * boundary (see the invariants); a frame cut by out_off was partly sent,
 * which the broker discards with the connection, so it is resent whole. */
static void salvage(acto_client_t *c)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    size_t pos = 0, keep = 0;
    while (pos < c->out_len) {
        size_t off = pos;
        msgpack_object o;
        int r = msgpack_unpack((const char *)c->out, c->out_len, &off, &zone, &o);
        msgpack_zone_clear(&zone);
        if (r != MSGPACK_UNPACK_SUCCESS && r != MSGPACK_UNPACK_EXTRA_BYTES)
            break;                          /* cannot happen: we wrote them */
        bool pub = off - pos > 2 && c->out[pos + 1] == PROTO_PUB;
        bool sent = off <= c->out_off;
        if (pub && !sent && keep + (off - pos) <= c->max_buffered) {
            memmove(c->out + keep, c->out + pos, off - pos);
            keep += off - pos;
        }
        pos = off;
    }
    msgpack_zone_destroy(&zone);
    c->out_len = keep;
    c->out_off = 0;
    if (keep)
        c->out_since_ns = now_ns();
}

static void schedule_retry(acto_client_t *c)
{
    if (!c->reconnect || (c->max_attempts && c->failed_tries >= c->max_attempts)) {
        c->dead = true;
        return;
    }
    unsigned b = c->backoff_ms ? c->backoff_ms : c->backoff_min;
    /* jitter: a random delay in [b/2, b] */
    uint64_t d = b / 2 + rng_next(c) % (b / 2 + 1);
    c->next_try_ns = now_ns() + d * 1000000ull;
    c->backoff_ms = b >= c->backoff_max / 2 ? c->backoff_max : b * 2;
}

/* The connection is gone: keep what must survive, plan the retry. */
static void drop(acto_client_t *c, const char *why)
{
    if (c->fd < 0)
        return;
    close(c->fd);
    c->fd = -1;
    frame_dec_destroy(&c->dec);
    frame_dec_init(&c->dec, CL_FRAME_MAX);
    salvage(c);
    if (why && !c->conn_err)                /* else the broker's err says why */
        set_err(c, 0, "%s", why);
    c->welcomed = false;
    if (!c->connecting) {                   /* a live connection broke: */
        c->backoff_ms = 0;                  /* the first retry comes soon */
        c->failed_tries = 0;
        schedule_retry(c);
    }
}

/* Handle one frame from the broker. */
static void on_frame(acto_client_t *c, const frame_t *f)
{
    proto_op_t op;
    int rc = proto_decode(f->type, f->body, PROTO_PEER_SERVER, UINT32_MAX, &op);
    if (rc) {
        set_err(c, 0, "bad frame from the broker (op %u): %s", f->type, proto_err_text(rc));
        return;                             /* ignored: a newer broker may add ops */
    }
    switch (op.op) {
    case PROTO_WELCOME:
        c->welcomed = true;
        c->max_payload = op.u.welcome.max_payload > SIZE_MAX ? SIZE_MAX
                                                             : (size_t)op.u.welcome.max_payload;
        break;
    case PROTO_PING: {
        proto_op_t pong = { .op = PROTO_PONG };
        out_frame(c, &pong);                /* written by the pump's next turn */
        break;
    }
    case PROTO_PONG:
        c->pongs++;
        break;
    case PROTO_OK:
        if (c->wait_op && op.u.ok.op == c->wait_op && op.u.ok.sid == c->wait_sid) {
            c->wait_done = true;
            c->wait_rc = 0;
        }
        break;
    case PROTO_ERR: {
        bool mine = c->wait_op && op.u.err.op == c->wait_op && op.u.err.has_sid &&
                    op.u.err.sid == c->wait_sid;
        /* an unsub of a subscription we already gave up (a timed-out
         * request's inbox) may race its auto-unsubscribe: not an error */
        if (!mine && op.u.err.op == PROTO_UNSUB && op.u.err.code == PROTO_ESID_UNKNOWN &&
            (!op.u.err.has_sid || !sub_find(c, op.u.err.sid)))
            break;
        c->conn_err = true;
        set_err(c, (int)op.u.err.code, "broker: err %u: %.*s", op.u.err.code,
                (int)op.u.err.text.len, op.u.err.text.p ? op.u.err.text.p : "");
        if (mine) {
            c->wait_done = true;
            c->wait_rc = code_of_err(op.u.err.code);
        } else if (c->connecting) {         /* refused at hello (auth, limits) */
            c->wait_done = true;
            c->wait_rc = code_of_err(op.u.err.code);
        }
        if (op.u.err.op == PROTO_SUB && op.u.err.has_sid) {
            cl_sub_t *s = sub_find(c, op.u.err.sid);
            if (s)
                sub_remove(c, s);           /* refused: it does not exist */
        }
        break;
    }
    case PROTO_MSG: {
        cl_sub_t *s = sub_find(c, op.u.msg.sid);
        if (!s)
            break;                          /* late: unsubscribed already */
        if (s->max && s->got >= s->max)
            break;
        s->got++;
        bool last = s->max && s->got >= s->max;
        cl_msg_t *m = msg_copy(&op);
        if (last)
            sub_remove(c, s);               /* the broker removed it too */
        if (!m) {
            set_err(c, 0, "out of memory: a message was dropped");
            break;
        }
        if (op.u.msg.sid == c->req_sid && !c->req_msg) {
            c->req_msg = m;
            break;
        }
        if (c->inq_tail)
            c->inq_tail->next = m;
        else
            c->inq_head = m;
        c->inq_tail = m;
        break;
    }
    case PROTO_STATS_REPLY:
        c->stats = op.u.stats;
        c->stats_got++;
        break;
    default:
        break;
    }
}

static void read_ready(acto_client_t *c)
{
    for (;;) {
        void *buf;
        size_t avail;
        if (frame_dec_reserve(&c->dec, CL_RECV_CHUNK, &buf, &avail)) {
            drop(c, "out of memory reading from the broker");
            return;
        }
        ssize_t n = recv(c->fd, buf, avail, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            char why[128];
            snprintf(why, sizeof why, "connection to %s lost: %s", c->addr,
                     n == 0 ? "closed by the broker" : strerror(errno));
            drop(c, why);
            return;
        }
        frame_dec_commit(&c->dec, (size_t)n);
        frame_t f;
        int r;
        while ((r = frame_dec_next(&c->dec, &f)) == 1)
            on_frame(c, &f);
        if (r < 0) {
            drop(c, "malformed data from the broker");
            return;
        }
        if ((size_t)n < avail)
            return;                         /* drained the socket */
    }
}

/* Write what the socket takes now. */
static void write_ready(acto_client_t *c)
{
    while (c->fd >= 0 && out_pending(c)) {
        ssize_t n = send(c->fd, c->out + c->out_off, out_pending(c), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            char why[128];
            snprintf(why, sizeof why, "connection to %s lost: %s", c->addr, strerror(errno));
            drop(c, why);
            return;
        }
        c->out_off += (size_t)n;
    }
    if (c->fd >= 0 && !out_pending(c))
        c->out_len = c->out_off = 0;        /* the invariant: 0 is a boundary */
}

static int try_reconnect(acto_client_t *c, uint64_t deadline);

/* One turn: wait (until deadline) for the socket, read and write what it
 * allows.  While disconnected, wait for the retry time and retry.
 * ACTO_ECLOSED once closed for good, else 0. */
static int pump(acto_client_t *c, uint64_t deadline)
{
    if (c->dead)
        return ACTO_ECLOSED;
    if (c->fd < 0)
        return c->connecting ? ACTO_ECLOSED : try_reconnect(c, deadline);
    struct pollfd p = { .fd = c->fd, .events = POLLIN | (out_pending(c) ? POLLOUT : 0) };
    int n = poll(&p, 1, poll_ms(deadline));
    if (n < 0 && errno != EINTR) {
        drop(c, "poll failed");
        return 0;
    }
    if (n <= 0)
        return 0;
    if (p.revents & (POLLIN | POLLERR | POLLHUP))
        read_ready(c);
    if (c->fd >= 0 && (p.revents & POLLOUT))
        write_ready(c);
    if (c->fd >= 0 && out_pending(c))
        write_ready(c);                     /* e.g. a pong just queued */
    return 0;
}

/* Open a TCP connection to one address within deadline: fd or -1. */
static int tcp_open(const acto_addr_t *a, uint64_t deadline, int *err)
{
    int fd = socket(addr_family(a), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, &a->u.sa, a->len) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        *err = errno;
        close(fd);
        return -1;
    }
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    int n;
    do
        n = poll(&p, 1, poll_ms(deadline));
    while (n < 0 && errno == EINTR);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (n == 0) {
        *err = ETIMEDOUT;
    } else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) {
        *err = errno;
    } else if (soerr) {
        *err = soerr;
    } else {
        return fd;
    }
    close(fd);
    return -1;
}

/* Connect, hello, wait for welcome, then queue the replay (every live
 * subscription, then the buffered publishes).  0 or an ACTO_E* code. */
static int connect_once(acto_client_t *c, uint64_t deadline)
{
    acto_addr_t addrs[CL_ADDRS_MAX];
    size_t n = 0;
    int rc = addr_resolve(c->addr, addrs, CL_ADDRS_MAX, &n);
    if (rc) {
        set_err(c, 0, "cannot resolve %s: %s", c->addr, acto_strerror(rc));
        return rc;
    }
    int err = 0, fd = -1;
    for (size_t i = 0; i < n && fd < 0; i++)
        fd = tcp_open(&addrs[i], deadline, &err);
    if (fd < 0) {
        set_err(c, 0, "cannot connect to %s: %s", c->addr, strerror(err));
        return err == ETIMEDOUT ? ACTO_ETIMEDOUT : ACTO_ECLOSED;
    }
    /* The replay goes in front of the buffered publishes: hello, subs,
     * then out's frames (publishes only while disconnected). */
    uint8_t *pubs = c->out;
    size_t pubs_len = c->out_len;
    c->out = NULL;
    c->out_len = c->out_off = c->out_cap = 0;
    proto_op_t hello = { .op = PROTO_HELLO,
                         .u.hello = { PROTO_VERSION, pstr(c->name), pstr(c->token) } };
    rc = out_frame(c, &hello);
    for (size_t i = 0; rc == 0 && i < c->nsubs; i++) {
        cl_sub_t *s = &c->subs[i];
        rc = frame_sub(c, s);
        if (rc == 0 && s->max)
            rc = frame_unsub(c, s->sid, s->max - s->got);
    }
    if (rc == 0 && pubs_len)
        rc = out_write(c, (const char *)pubs, pubs_len) ? ACTO_ENOMEM : 0;
    if (rc) {
        /* keep the publishes for the next attempt */
        free(c->out);
        c->out = pubs;
        c->out_len = c->out_cap = pubs_len;
        close(fd);
        return rc;
    }
    free(pubs);
    c->fd = fd;
    c->connecting = true;
    c->welcomed = false;
    c->wait_op = 0;
    c->wait_done = false;
    c->conn_err = false;
    while (c->fd >= 0 && !c->welcomed && !c->wait_done && now_ns() < deadline)
        pump(c, deadline);
    if (c->welcomed) {
        c->connecting = false;
        return 0;
    }
    rc = c->wait_done ? c->wait_rc : c->fd >= 0 ? ACTO_ETIMEDOUT : ACTO_ECLOSED;
    if (c->fd >= 0)
        drop(c, NULL);                      /* keeps the unsent publishes */
    c->connecting = false;
    if (rc == ACTO_ETIMEDOUT)
        set_err(c, 0, "no welcome from %s in time", c->addr);
    else if (!c->wait_done)                 /* (an err frame already said why) */
        set_err(c, 0, "%s closed the connection during hello", c->addr);
    return rc;
}

/* Disconnected: wait for the retry time (bounded by deadline), then try
 * once.  0 (connected, or not yet: the caller loops), or ACTO_ECLOSED when
 * retries are exhausted. */
static int try_reconnect(acto_client_t *c, uint64_t deadline)
{
    uint64_t now = now_ns();
    if (now < c->next_try_ns) {
        uint64_t until = c->next_try_ns < deadline ? c->next_try_ns : deadline;
        if (until == UINT64_MAX || until <= now)
            return 0;
        struct timespec ts = { (time_t)((until - now) / 1000000000ull),
                               (long)((until - now) % 1000000000ull) };
        nanosleep(&ts, NULL);
        if (now_ns() < c->next_try_ns)
            return 0;
    }
    uint64_t d = now_ns() + (uint64_t)c->connect_timeout_ms * 1000000ull;
    if (connect_once(c, d) == 0) {
        c->reconnects++;
        c->backoff_ms = 0;
        c->failed_tries = 0;
        return 0;
    }
    c->failed_tries++;
    schedule_retry(c);
    return c->dead ? ACTO_ECLOSED : 0;
}

/* Write everything buffered, pumping reads meanwhile.  0, ACTO_ETIMEDOUT,
 * ACTO_ECLOSED, or ACTO_EAGAIN if the connection dropped (the caller
 * decides whether to wait for the reconnect). */
static int flush_out(acto_client_t *c, uint64_t deadline)
{
    if (c->fd >= 0)
        write_ready(c);
    while (c->fd >= 0 && out_pending(c)) {
        if (now_ns() >= deadline)
            return ACTO_ETIMEDOUT;
        pump(c, deadline);
    }
    if (c->dead)
        return ACTO_ECLOSED;
    return c->fd >= 0 ? 0 : ACTO_EAGAIN;
}

/* Connected (reconnecting as needed) with out written, within deadline. */
static int settle(acto_client_t *c, uint64_t deadline)
{
    for (;;) {
        if (c->dead)
            return ACTO_ECLOSED;
        if (c->fd < 0) {
            if (now_ns() >= deadline)
                return ACTO_ETIMEDOUT;
            int rc = try_reconnect(c, deadline);
            if (rc)
                return rc;
            continue;
        }
        int rc = flush_out(c, deadline);
        if (rc != ACTO_EAGAIN)
            return rc;
    }
}

/* Wait for the ok or err answering (op, sid).  A reconnect meanwhile ends
 * the wait with 0: the replay carries the table's state anew. */
static int wait_ack(acto_client_t *c, uint32_t op, uint32_t sid, uint64_t deadline)
{
    c->wait_op = op;
    c->wait_sid = sid;
    c->wait_done = false;
    uint64_t gen = c->reconnects;
    int rc = settle(c, deadline);
    while (rc == 0 && !c->wait_done && c->reconnects == gen) {
        if (now_ns() >= deadline) {
            rc = ACTO_ETIMEDOUT;
            break;
        }
        rc = pump(c, deadline);
        if (rc == 0 && c->fd < 0)
            rc = settle(c, deadline);
    }
    if (rc == 0 && c->wait_done)
        rc = c->wait_rc;
    c->wait_op = 0;
    return rc;
}

static uint64_t call_deadline(const acto_client_t *c)
{
    /* calls that wait for the broker without a timeout of their own */
    return now_ns() + (uint64_t)c->connect_timeout_ms * 1000000ull;
}

/* ---- the public API ------------------------------------------------------------------ */

static int check_opts(const acto_client_opts_t *o)
{
    if (!o)
        return 0;
    if (o->reconnect != ACTO_CLIENT_RECONNECT_ON && o->reconnect != ACTO_CLIENT_RECONNECT_OFF)
        return ACTO_EINVAL;
    if (o->name && strlen(o->name) > PROTO_NAME_MAX)
        return ACTO_EINVAL;
    if (o->token && strlen(o->token) > PROTO_TOKEN_MAX)
        return ACTO_EINVAL;
    if (o->reconnect_min_ms && o->reconnect_max_ms && o->reconnect_min_ms > o->reconnect_max_ms)
        return ACTO_EINVAL;
    return 0;
}

int acto_client_connect(const char *addr, const acto_client_opts_t *opts,
                        acto_client_t **out)
{
    if (!out)
        return ACTO_EINVAL;
    *out = NULL;
    if (!addr)
        addr = ACTO_CLIENT_DEFAULT_ADDR;
    acto_addr_t probe;
    int rc = addr_parse(addr, &probe);
    if ((rc && rc != ACTO_EAGAIN) || check_opts(opts))
        return ACTO_EINVAL;
    acto_client_opts_t o = opts ? *opts : (acto_client_opts_t){ 0 };
    acto_client_t *c = calloc(1, sizeof *c);
    if (!c)
        return ACTO_ENOMEM;
    c->fd = -1;
    c->addr = strdup(addr);
    c->name = strdup(o.name ? o.name : CL_NAME_DEFAULT);
    c->token = dup_or_null(o.token);
    if (!c->addr || !c->name || (o.token && !c->token)) {
        acto_client_close(c);
        return ACTO_ENOMEM;
    }
    c->connect_timeout_ms = o.connect_timeout_ms ? o.connect_timeout_ms
                                                 : CL_CONNECT_TIMEOUT_DEFAULT;
    c->backoff_min = o.reconnect_min_ms ? o.reconnect_min_ms : CL_BACKOFF_MIN_DEFAULT;
    c->backoff_max = o.reconnect_max_ms ? o.reconnect_max_ms : CL_BACKOFF_MAX_DEFAULT;
    if (c->backoff_max < c->backoff_min)
        c->backoff_max = c->backoff_min;
    c->max_attempts = o.reconnect_attempts;
    c->reconnect = o.reconnect == ACTO_CLIENT_RECONNECT_ON;
    c->max_buffered = o.max_buffered ? o.max_buffered : CL_BUFFERED_DEFAULT;
    c->max_payload = PROTO_MAX_PAYLOAD_DEFAULT;
    frame_dec_init(&c->dec, CL_FRAME_MAX);
    if (getrandom(&c->rng, sizeof c->rng, 0) != sizeof c->rng)
        c->rng = now_ns() ^ (uint64_t)(uintptr_t)c;
    c->rng |= 1;
    snprintf(c->inbox, sizeof c->inbox, "_INBOX.%016llx.", (unsigned long long)rng_next(c));
    rc = connect_once(c, call_deadline(c));
    if (rc) {
        if (o.errbuf && o.errbuf_len)
            snprintf(o.errbuf, o.errbuf_len, "%s", c->err_text);
        acto_client_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

int acto_client_subscribe(acto_client_t *c, const char *subject, const char *queue,
                          uint32_t *sid)
{
    if (!c || !subject || !sid)
        return ACTO_EINVAL;
    release_cur(c);
    if (subject_valid(subject, strlen(subject), true) ||
        (queue && subject_valid(queue, strlen(queue), false)))
        return ACTO_EINVAL;
    if (c->dead)
        return ACTO_ECLOSED;
    cl_sub_t *s;
    int rc = sub_add(c, subject, queue, 0, &s);
    if (rc)
        return rc;
    uint32_t id = s->sid;
    /* connected: send it now; disconnected: the replay will */
    if (c->fd >= 0 && (rc = frame_sub(c, s)) != 0) {
        sub_remove(c, s);
        return rc;
    }
    rc = wait_ack(c, PROTO_SUB, id, call_deadline(c));
    if (rc == 0)
        *sid = id;
    else if ((s = sub_find(c, id)) != NULL)
        sub_remove(c, s);
    return rc;
}

int acto_client_unsubscribe(acto_client_t *c, uint32_t sid, uint64_t max)
{
    if (!c)
        return ACTO_EINVAL;
    release_cur(c);
    if (c->dead)
        return ACTO_ECLOSED;
    cl_sub_t *s = sub_find(c, sid);
    if (!s)
        return ACTO_ESTATE;
    if (max && s->got >= max)
        max = 0;                            /* already had them: now */
    if (max)
        s->max = max;
    else
        sub_remove(c, s);
    if (c->fd < 0)
        return 0;                           /* the replay reflects it */
    int rc = frame_unsub(c, sid, max);
    if (rc)
        return rc;
    rc = wait_ack(c, PROTO_UNSUB, sid, call_deadline(c));
    return rc == ACTO_ESTATE && !max ? 0 : rc;  /* auto-unsubscribed meanwhile */
}

int acto_client_publish(acto_client_t *c, const char *subject, const char *reply,
                        const void *payload, size_t len)
{
    if (!c || !subject || (len && !payload))
        return ACTO_EINVAL;
    proto_op_t op = { .op = PROTO_PUB,
                      .u.pub = { .subject = pstr(subject), .reply = pstr(reply),
                                 .payload = payload, .len = len } };
    if (proto_check(&op))
        return ACTO_EINVAL;
    if (len > c->max_payload)
        return ACTO_ELIMIT;
    if (c->dead)
        return ACTO_ECLOSED;
    if (c->fd < 0 && now_ns() >= c->next_try_ns) {
        if (try_reconnect(c, now_ns()) == ACTO_ECLOSED)
            return ACTO_ECLOSED;
    }
    if (c->fd < 0 && c->out_len + len + 16 + strlen(subject) + (reply ? strlen(reply) : 0) >
                         c->max_buffered)
        return ACTO_EAGAIN;
    int rc = out_frame(c, &op);
    if (rc || c->fd < 0)
        return rc;
    if (out_pending(c) >= CL_FLUSH_AT) {
        rc = flush_out(c, UINT64_MAX);
        return rc == ACTO_EAGAIN ? 0 : rc;  /* dropped: held for the replay */
    }
    if (now_ns() - c->out_since_ns >= CL_WRITE_BEHIND_NS) {
        write_ready(c);                     /* no wait: what the kernel takes */
        if (c->fd >= 0 && out_pending(c))
            c->out_since_ns = now_ns();
    }
    return 0;
}

/* Send op (ping or stats: no body) and pump until the answer that bumps
 * *count arrives on the same connection; if the connection dropped before
 * it, ask again on the new one. */
static int round_trip(acto_client_t *c, uint32_t opcode, const uint64_t *count,
                      uint64_t deadline)
{
    for (;;) {
        int rc = settle(c, deadline);
        if (rc)
            return rc;
        proto_op_t op = { .op = opcode };
        if ((rc = out_frame(c, &op)) != 0)
            return rc;
        uint64_t want = *count + 1, gen = c->reconnects;
        rc = flush_out(c, deadline);
        while (rc == 0 && *count < want && c->fd >= 0) {
            if (now_ns() >= deadline)
                return ACTO_ETIMEDOUT;
            rc = pump(c, deadline);
        }
        if (rc && rc != ACTO_EAGAIN)
            return rc;
        if (*count >= want && c->reconnects == gen)
            return 0;
    }
}

int acto_client_flush(acto_client_t *c, int timeout_ms)
{
    if (!c)
        return ACTO_EINVAL;
    release_cur(c);
    uint64_t deadline = deadline_of(timeout_ms);
    if (timeout_ms < 0)
        return settle(c, deadline);
    return round_trip(c, PROTO_PING, &c->pongs, deadline);
}

int acto_client_stats(acto_client_t *c, acto_client_stats_t *out, int timeout_ms)
{
    if (!c || !out)
        return ACTO_EINVAL;
    release_cur(c);
    int rc = round_trip(c, PROTO_STATS, &c->stats_got, deadline_of(timeout_ms));
    if (rc)
        return rc;
    const proto_stats_t *s = &c->stats;
    *out = (acto_client_stats_t){ s->connections, s->subscriptions, s->msgs_in, s->msgs_out,
                                  s->bytes_in, s->bytes_out, s->slow_consumers, s->drops };
    return 0;
}

int acto_client_ping(acto_client_t *c, int timeout_ms)
{
    return acto_client_flush(c, timeout_ms < 0 ? 0 : timeout_ms);
}

int acto_client_next(acto_client_t *c, acto_client_msg_t *msg, int timeout_ms)
{
    if (!c || !msg)
        return ACTO_EINVAL;
    release_cur(c);
    uint64_t deadline = deadline_of(timeout_ms);
    if (!c->inq_head) {
        /* a deadline already passed still reads what has arrived: one
         * pump with a zero wait */
        int rc = settle(c, deadline);
        if (rc == ACTO_ETIMEDOUT)
            rc = 0;
        while (rc == 0 && !c->inq_head) {
            rc = pump(c, deadline);
            if (c->inq_head || now_ns() >= deadline)
                break;
            if (rc == 0 && c->fd < 0)
                rc = settle(c, deadline);
        }
        if (!c->inq_head)
            return rc && rc != ACTO_ETIMEDOUT ? rc : ACTO_ETIMEDOUT;
    }
    c->cur = c->inq_head;
    c->inq_head = c->cur->next;
    if (!c->inq_head)
        c->inq_tail = NULL;
    *msg = c->cur->m;
    return 0;
}

int acto_client_request(acto_client_t *c, const char *subject, const void *payload,
                        size_t len, int timeout_ms, acto_client_msg_t *reply)
{
    if (!c || !subject || !reply || (len && !payload))
        return ACTO_EINVAL;
    release_cur(c);
    if (subject_valid(subject, strlen(subject), false))
        return ACTO_EINVAL;
    if (len > c->max_payload)
        return ACTO_ELIMIT;
    if (c->dead)
        return ACTO_ECLOSED;
    char inbox[sizeof c->inbox + 24];
    snprintf(inbox, sizeof inbox, "%s%llu", c->inbox, (unsigned long long)++c->inbox_seq);
    cl_sub_t *s;
    int rc = sub_add(c, inbox, NULL, 1, &s);
    if (rc)
        return rc;
    uint32_t sid = s->sid;
    uint64_t deadline = deadline_of(timeout_ms);
    /* sub, unsub after 1, pub: the broker handles them in this order, so
     * the inbox exists before any responder sees the request */
    if (c->fd >= 0 && ((rc = frame_sub(c, s)) != 0 || (rc = frame_unsub(c, sid, 1)) != 0)) {
        sub_remove(c, s);
        return rc;
    }
    rc = acto_client_publish(c, subject, inbox, payload, len);
    c->req_sid = sid;
    c->req_msg = NULL;
    if (rc == 0)
        rc = settle(c, deadline);
    while (rc == 0 && !c->req_msg) {
        if (now_ns() >= deadline) {
            rc = ACTO_ETIMEDOUT;
            break;
        }
        rc = pump(c, deadline);
        if (rc == 0 && c->fd < 0)
            rc = settle(c, deadline);
    }
    c->req_sid = 0;
    if (c->req_msg) {
        c->cur = c->req_msg;
        c->req_msg = NULL;
        *reply = c->cur->m;
        return 0;
    }
    if ((s = sub_find(c, sid)) != NULL) {
        sub_remove(c, s);
        if (c->fd >= 0 && frame_unsub(c, sid, 0) == 0)
            write_ready(c);                 /* its ok (or err 12) is ignored */
    }
    return rc;
}

int acto_client_error(const acto_client_t *c, const char **text)
{
    if (!c) {
        if (text)
            *text = "";
        return 0;
    }
    if (text)
        *text = c->err_text;
    return c->err_code;
}

size_t acto_client_max_payload(const acto_client_t *c)
{
    return c ? c->max_payload : 0;
}

uint64_t acto_client_reconnects(const acto_client_t *c)
{
    return c ? c->reconnects : 0;
}

void acto_client_close(acto_client_t *c)
{
    if (!c)
        return;
    if (c->fd >= 0 && out_pending(c))
        flush_out(c, call_deadline(c));
    if (c->fd >= 0)
        close(c->fd);
    frame_dec_destroy(&c->dec);
    for (size_t i = 0; i < c->nsubs; i++) {
        free(c->subs[i].pattern);
        free(c->subs[i].queue);
    }
    free(c->subs);
    release_cur(c);
    free(c->req_msg);
    while (c->inq_head) {
        cl_msg_t *n = c->inq_head->next;
        free(c->inq_head);
        c->inq_head = n;
    }
    free(c->out);
    free(c->addr);
    free(c->name);
    free(c->token);
    free(c);
}
