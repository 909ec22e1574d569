/* actors/net.c - the listener actor and the socket actor, over the
 * proactor (runtime/proactor.h).  Public API and event protocol:
 * include/acto/net.h.
 *
 * Invariants (each actor's state is touched only by its own callbacks):
 *  N1 A socket actor has at most one px_sendv in flight (`sending`); later
 *     writes wait in `pend`, in order, and go out as ONE send when it
 *     completes.  One send at a time coalesces writes into few system
 *     calls; the order of the bytes the proactor keeps anyway (P8).
 *  N2 Queued bytes (inflight + pend_len) exceed high_water only through a
 *     single write accepted into an empty queue.
 *  N3 Exactly one receive (`rx`, a multishot recv re-armed when it ends) is
 *     armed while the socket is open, the peer has not ended the stream
 *     and reading is not paused.  Pausing stops it with px_stop, which
 *     loses nothing (proactor.h P4'); bytes it still brings in are held
 *     (`held`) and reach the owner only after resume, so once the socket
 *     has handled a pause the owner gets no DATA until it resumes.
 *  N4 Every completion carries tag = gen << 4 | what.  `gen` changes with
 *     the fd (a connect retry opens a new socket), so completions of an
 *     earlier fd, still queued in the mailbox, are recognised and ignored.
 *  N5 `f` is NULL once px_close was called on it (the handle is given up);
 *     the PX_CLOSE completion of the current gen ends the actor, after
 *     ACTO_MSG_NET_CLOSED went to the owner.  terminate closes an fd still
 *     held (owner died, kill, runtime freed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "proactor.h"
#include "net/addr.h"
#include "net/frame.h"

/* Commands to a socket or listener (reserved: only acto_sock_* send them). */
#define NET_CMD_WRITE    0xFFFF0281u   /* bin */
#define NET_CMD_FRAME    0xFFFF0282u   /* one frame, [type, body] */
#define NET_CMD_SHUTDOWN 0xFFFF0283u
#define NET_CMD_CLOSE    0xFFFF0284u
#define NET_CMD_PAUSE    0xFFFF0285u
#define NET_CMD_RESUME   0xFFFF0286u

/* Private timer message types (a timer needs a user-range type; the id in
 * the body tells a real one from a stray message of the same type). */
enum { TM_CONNECT = 1, TM_ACCEPT = 2 };
enum { T_CONNECT = 1, T_RECV, T_SEND, T_CLOSE, T_ACCEPT };

/* A socket's multishot recv re-arms after this many bytes (P4''). */
#define NET_RX_BURST (256u * 1024u)
#define TAG(gen, what) (((uint64_t)(gen) << 4) | (what))

#define HIGH_DEFAULT (1024u * 1024u)
#define BACKLOG_DEFAULT 128
#define MAX_ADDRS 8
#define PEND_KEEP 4096u        /* keep a drained queue buffer up to this */

/* ---- messages to owners ------------------------------------------------------ */

static int notify(acto_ctx_t *ctx, acto_pid_t to, acto_msg_t *m)
{
    if (!m)
        return ACTO_ENOMEM;
    ctx_lock(ctx);
    int rc = msg_send_from(ctx, acto_self(ctx), to, m);
    ctx_unlock(ctx);
    return rc;
}

static acto_msg_t *ev_new(acto_ctx_t *ctx, uint32_t type, size_t cap, msgpack_packer *pk)
{
    ctx_lock(ctx);
    acto_msg_t *m = msg_alloc(ctx, type, cap);
    ctx_unlock(ctx);
    if (m)
        acto_msg_packer(m, pk);
    return m;
}

static int notify_nil(acto_ctx_t *ctx, acto_pid_t to, uint32_t type)
{
    msgpack_packer pk;
    acto_msg_t *m = ev_new(ctx, type, 1, &pk);
    if (m)
        msgpack_pack_nil(&pk);
    return notify(ctx, to, m);
}

static int notify_code(acto_ctx_t *ctx, acto_pid_t to, uint32_t type, int code, int err)
{
    msgpack_packer pk;
    acto_msg_t *m = ev_new(ctx, type, 16, &pk);
    if (m) {
        msgpack_pack_array(&pk, 2);
        msgpack_pack_int(&pk, code);
        msgpack_pack_int(&pk, err);
    }
    return notify(ctx, to, m);
}

static int notify_u64(acto_ctx_t *ctx, acto_pid_t to, uint32_t type, uint64_t v)
{
    msgpack_packer pk;
    acto_msg_t *m = ev_new(ctx, type, 9, &pk);
    if (m)
        msgpack_pack_uint64(&pk, v);
    return notify(ctx, to, m);
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* "addr" of fd's local (peer = false) or remote end; "" if unknown. */
static void sock_name(int fd, bool peer, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    acto_addr_t a;
    buf[0] = '\0';
    int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &sl)
                  : getsockname(fd, (struct sockaddr *)&ss, &sl);
    if (rc == 0 && addr_from_sockaddr(&a, (struct sockaddr *)&ss, sl) == 0)
        (void)addr_format(&a, buf, len);
}

/* errno (positive) -> the ACTO_E* code CLOSED/ERROR carry. */
static int errno_code(int err)
{
    switch (err) {
    case ECONNREFUSED: case ECONNRESET: case ECONNABORTED: case EPIPE:
    case ENOTCONN: case EHOSTUNREACH: case ENETUNREACH: case ECANCELED:
        return ACTO_ECLOSED;
    case ETIMEDOUT:
        return ACTO_ETIMEDOUT;
    case ENOMEM: case ENOBUFS:
        return ACTO_ENOMEM;
    default:
        return ACTO_ESYS;
    }
}

/* ---- options ------------------------------------------------------------------- */

static int sock_opts_check(const acto_sock_opts_t *in, acto_sock_opts_t *out)
{
    *out = in ? *in : (acto_sock_opts_t){ 0 };
    if (out->mode != ACTO_NET_RAW && out->mode != ACTO_NET_FRAMED)
        return ACTO_EINVAL;
    if (!out->high_water)
        out->high_water = HIGH_DEFAULT;
    if (!out->low_water)
        out->low_water = out->high_water / 4;
    if (out->low_water > out->high_water)
        return ACTO_EINVAL;
    if (!out->max_frame)
        out->max_frame = FRAME_MAX_DEFAULT;
    return 0;
}

/* ======================================================================================
 * The socket actor
 * ====================================================================================== */

enum { S_CONNECTING, S_OPEN, S_CLOSING };

typedef struct net_conn {      /* connect: the addresses still to try */
    acto_addr_t a[MAX_ADDRS];
    size_t n, next;
} net_conn_t;

/* What a socket needs only at times: a send in flight and the queue
 * behind it, bytes held while paused, the connect state, the frame
 * decoder, water marks other than the defaults, the NET_SENT total.
 * Allocated on first need and freed when the socket is idle again
 * (sock_x_trim), so an idle raw connection with default options keeps
 * nothing but net_sock_t, which fits the actor slot's inline state: no
 * allocation at all (bench/RESULTS.md, idle-50k). */
typedef struct sock_x {
    size_t high, low;
    size_t inflight;           /* bytes of the send in flight */
    uint64_t sent_total;       /* bytes sent so far (ACTO_MSG_NET_SENT) */
    unsigned char *pend;       /* queued behind it (N1) */
    size_t pend_len, pend_cap;
    unsigned char *held;       /* bytes received while paused (N3) */
    size_t held_len;
    uint64_t timer;            /* connect timeout, 0 = none */
    frame_dec_t *dec;          /* framed mode */
    net_conn_t *conn;          /* while connecting */
} sock_x_t;

typedef struct net_sock {
    acto_pid_t owner;
    px_fd_t *f;                /* N5 */
    px_op_t *rx;               /* the armed recv (N3), NULL if none */
    sock_x_t *x;               /* NULL while idle with default options */
    uint8_t gen;               /* N4: one per fd, at most MAX_ADDRS + 1 */
    uint8_t phase;             /* S_* */
    uint8_t mode;
    int8_t close_code;         /* ACTO_E*, or 0 */
    uint8_t close_errno;       /* errno (Linux's are below 134), or 0 */
    bool sending : 1;          /* N1 */
    bool peer_eof : 1, shut_req : 1, shut_done : 1, close_req : 1;
    bool blocked : 1;          /* a write was refused: WRITABLE owed */
    bool closed_sent : 1;      /* CLOSED went to the owner */
    bool paused : 1;           /* reading paused by the owner (N3) */
    bool rx_stopping : 1;      /* px_stop sent for rx, its final not seen */
    bool held_eof : 1;         /* end of stream seen while paused */
    bool notify_sent : 1;      /* ACTO_MSG_NET_SENT after each send */
} net_sock_t;
_Static_assert(sizeof(net_sock_t) <= ACTOR_INLINE_STATE,
               "an idle socket's state must fit the actor slot");

/* The rare state, allocated on first need; NULL when out of memory. */
static sock_x_t *sock_x(net_sock_t *s)
{
    if (!s->x && (s->x = calloc(1, sizeof *s->x)) != NULL) {
        s->x->high = HIGH_DEFAULT;
        s->x->low = HIGH_DEFAULT / 4;
    }
    return s->x;
}

/* Give the rare state back once it holds nothing (an idle socket). */
static void sock_x_trim(net_sock_t *s)
{
    sock_x_t *x = s->x;
    if (!x || s->sending || x->pend_len || x->held || x->timer || x->dec || x->conn ||
        x->high != HIGH_DEFAULT || x->low != HIGH_DEFAULT / 4 || s->notify_sent)
        return;
    free(x->pend);
    free(x);
    s->x = NULL;
}

static void sock_x_free(net_sock_t *s)
{
    sock_x_t *x = s->x;
    if (!x)
        return;
    if (x->dec) {
        frame_dec_destroy(x->dec);
        free(x->dec);
    }
    free(x->pend);
    free(x->held);
    free(x->conn);
    free(x);
    s->x = NULL;
}

/* Bytes queued: in flight plus waiting behind it (N2). */
static size_t sock_queued(const net_sock_t *s)
{
    return s->x ? s->x->inflight + s->x->pend_len : 0;
}

typedef struct sock_arg {
    acto_pid_t owner;
    acto_sock_opts_t opts;
    int fd;                    /* accepted socket, or -1 */
    int worker;                /* accepted: whose proactor gets fd (-1: ours) */
    net_conn_t *conn;          /* connect: addresses (the actor takes them) */
    uint64_t timeout_ns;
    bool taken;                /* init ran: it owns fd / conn from then on */
} sock_arg_t;

static void sock_close(acto_ctx_t *ctx, net_sock_t *s, int code, int err);

static void sock_finish(acto_ctx_t *ctx, net_sock_t *s)
{
    s->closed_sent = true;
    (void)notify_code(ctx, s->owner, ACTO_MSG_NET_CLOSED, s->close_code, s->close_errno);
    acto_exit(ctx, ACTO_EXIT_NORMAL);
}

/* Forget the armed recv (its fd is being closed: nothing more will be
 * handled from it) and what was held for the owner. */
static void sock_rx_drop(net_sock_t *s)
{
    px_release(s->rx);
    s->rx = NULL;
    s->rx_stopping = false;
    if (s->x) {
        free(s->x->held);
        s->x->held = NULL;
        s->x->held_len = 0;
    }
}

/* Arm the receive (N3) unless paused or already armed. */
static int sock_rx_arm(acto_ctx_t *ctx, net_sock_t *s)
{
    if (s->paused || s->rx || s->peer_eof || s->phase != S_OPEN)
        return 0;
    /* Bounded (P4''): an owner that is behind holds at most about
     * NET_RX_BURST of unread chunks, and a pause stops a reader that far
     * behind within that much. */
    return px_recv_bounded(ctx, s->f, NET_RX_BURST, TAG(s->gen, T_RECV), &s->rx);
}

/* Give the fd up (N5).  The current gen's PX_CLOSE then ends the actor. */
static void sock_close(acto_ctx_t *ctx, net_sock_t *s, int code, int err)
{
    if (s->phase == S_CLOSING)
        return;
    s->phase = S_CLOSING;
    s->close_code = (int8_t)code;
    s->close_errno = (uint8_t)(err > 255 ? 255 : err);
    if (s->x) {
        s->x->pend_len = 0;
        if (s->x->timer)
            (void)px_timer_cancel(ctx, s->x->timer);
        s->x->timer = 0;
    }
    px_fd_t *f = s->f;
    s->f = NULL;
    sock_rx_drop(s);
    if (!f || px_close(ctx, f, TAG(s->gen, T_CLOSE)) != 0)
        sock_finish(ctx, s);       /* no completion will come */
}

static void sock_fail(acto_ctx_t *ctx, net_sock_t *s, int64_t res)
{
    int err = res < 0 ? (int)-res : 0;
    sock_close(ctx, s, errno_code(err), err);
}

static int pend_append(net_sock_t *s, const void *p, size_t n)
{
    sock_x_t *x = sock_x(s);
    if (!x)
        return ACTO_ENOMEM;
    if (x->pend_len + n > x->pend_cap) {
        size_t cap = x->pend_cap ? x->pend_cap : 256;
        while (cap < x->pend_len + n)
            cap *= 2;
        unsigned char *b = realloc(x->pend, cap);
        if (!b)
            return ACTO_ENOMEM;
        x->pend = b;
        x->pend_cap = cap;
    }
    memcpy(x->pend + x->pend_len, p, n);
    x->pend_len += n;
    return 0;
}

static int sock_sendv(acto_ctx_t *ctx, net_sock_t *s, const void *p, size_t n)
{
    struct iovec iov = { (void *)p, n };
    sock_x_t *x = sock_x(s);
    if (!x)
        return ACTO_ENOMEM;
    int rc = px_sendv(ctx, s->f, &iov, 1, TAG(s->gen, T_SEND), NULL);
    if (rc == 0) {
        s->sending = true;
        x->inflight = n;
    }
    return rc;
}

/* Send what is queued (N1), tell a blocked owner when it drained, and
 * carry out a shutdown or close that waited for the queue. */
static void sock_pump(acto_ctx_t *ctx, net_sock_t *s)
{
    if (s->phase != S_OPEN || s->sending)
        return;
    sock_x_t *x = s->x;
    if (x && x->pend_len) {
        int rc = sock_sendv(ctx, s, x->pend, x->pend_len);   /* copied */
        if (rc) {
            sock_close(ctx, s, rc, 0);
            return;
        }
        x->pend_len = 0;
    }
    if (x && !s->sending && x->pend_cap > PEND_KEEP) {   /* idle: no big buffer */
        free(x->pend);
        x->pend = NULL;
        x->pend_cap = 0;
    }
    if (s->blocked && sock_queued(s) <= (x ? x->low : HIGH_DEFAULT / 4)) {
        s->blocked = false;
        (void)notify_nil(ctx, s->owner, ACTO_MSG_NET_WRITABLE);
    }
    if (s->sending)
        return;
    sock_x_trim(s);                    /* nothing in flight: idle again */
    if (s->close_req) {
        sock_close(ctx, s, 0, 0);
    } else if (s->shut_req && !s->shut_done) {
        s->shut_done = true;
        if (shutdown(px_fd_get(s->f), SHUT_WR) != 0)
            sock_close(ctx, s, ACTO_ESYS, errno);
        else if (s->peer_eof)
            sock_close(ctx, s, 0, 0);   /* both directions are finished */
    }
}

/* Connected (or accepted): arm the receive (N3), tell the owner. */
static int sock_opened(acto_ctx_t *ctx, net_sock_t *s)
{
    int fd = px_fd_get(s->f);
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s->phase = S_OPEN;
    int rc = sock_rx_arm(ctx, s);
    if (rc)
        return rc;
    char local[ADDR_STRLEN], peer[ADDR_STRLEN];
    sock_name(fd, false, local, sizeof local);
    sock_name(fd, true, peer, sizeof peer);
    msgpack_packer pk;
    acto_msg_t *m = ev_new(ctx, ACTO_MSG_NET_CONNECTED, 2 * ADDR_STRLEN, &pk);
    if (m) {
        msgpack_pack_array(&pk, 2);
        pack_str(&pk, local);
        pack_str(&pk, peer);
    }
    /* An accepted socket opens in init, inside the listener's turn:
     * acto_spawn pushes init's sends before the socket can run, so
     * CONNECTED stays the owner's first event (test_init_sends_keep_order). */
    (void)notify(ctx, s->owner, m);    /* a dead owner: its DOWN closes us */
    return 0;
}

/* Start connecting to the next address (a new socket each time: a failed
 * connect leaves a socket unusable).  0, or the error of the last try. */
static int sock_try_connect(acto_ctx_t *ctx, net_sock_t *s)
{
    int rc = ACTO_ECLOSED;
    net_conn_t *conn = s->x->conn;
    while (conn->next < conn->n) {
        const acto_addr_t *a = &conn->a[conn->next++];
        int fd = socket(addr_family(a), SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            rc = ACTO_ESYS;
            continue;
        }
        if ((rc = px_fd_open(ctx, fd, &s->f)) != 0) {
            close(fd);
            continue;
        }
        s->gen++;
        rc = px_connect(ctx, s->f, &a->u.sa, a->len, TAG(s->gen, T_CONNECT), NULL);
        if (rc == 0)
            return 0;
        (void)px_close(ctx, s->f, TAG(s->gen, T_CLOSE));
        s->f = NULL;
    }
    return rc;
}

static int sock_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    net_sock_t *s = state;
    sock_arg_t *a = (sock_arg_t *)arg;   /* the caller's object is not const */
    a->taken = true;
    s->owner = a->owner;
    s->mode = (uint8_t)a->opts.mode;
    s->notify_sent = a->opts.notify_sent != 0;
    int rc = 0;
    /* Only what differs from an idle raw socket with default options
     * needs the rare state (sock_x_t). */
    if ((a->opts.high_water != HIGH_DEFAULT || a->opts.low_water != HIGH_DEFAULT / 4 ||
         s->mode == ACTO_NET_FRAMED || s->notify_sent || a->conn) && !sock_x(s))
        rc = ACTO_ENOMEM;
    if (rc == 0 && s->x) {
        s->x->high = a->opts.high_water;
        s->x->low = a->opts.low_water;
        s->x->conn = a->conn;          /* it owns the addresses from now on */
    } else if (a->conn) {
        free(a->conn);                 /* taken, but nowhere to keep it */
    }
    if (rc == 0 && s->mode == ACTO_NET_FRAMED) {
        if ((s->x->dec = malloc(sizeof *s->x->dec)) == NULL)
            rc = ACTO_ENOMEM;
        else
            frame_dec_init(s->x->dec, a->opts.max_frame);
    }
    if (rc == 0)
        rc = acto_monitor(ctx, s->owner, NULL);   /* its exit closes us (N5) */
    if (a->conn) {
        s->phase = S_CONNECTING;
        if (rc == 0)
            rc = sock_try_connect(ctx, s);
        if (rc == 0 && a->timeout_ns)
            rc = px_timer_start(ctx, a->timeout_ns, 0, TM_CONNECT, &s->x->timer);
    } else if (rc != 0 || (rc = px_fd_open_on(ctx, a->fd, a->worker, &s->f)) != 0) {
        close(a->fd);
    } else {
        rc = sock_opened(ctx, s);
    }
    if (rc == 0)
        return 0;
    /* init failed: no terminate will run, so undo everything here. */
    if (s->f)
        (void)px_close(ctx, s->f, TAG(s->gen, T_CLOSE));
    sock_x_free(s);
    return rc;
}

static void sock_terminate(acto_ctx_t *ctx, void *state, int64_t reason)
{
    (void)reason;
    net_sock_t *s = state;
    if (s->x && s->x->timer)
        (void)px_timer_cancel(ctx, s->x->timer);
    if (s->f)
        (void)px_close(ctx, s->f, TAG(s->gen, T_CLOSE));
    sock_rx_drop(s);
    /* Killed (or the runtime is freed): CLOSED stays the last event.  After
     * the owner's death this send just fails. */
    if (!s->closed_sent)
        (void)notify_code(ctx, s->owner, ACTO_MSG_NET_CLOSED, ACTO_ECLOSED, 0);
    sock_x_free(s);
}

/* Received bytes to the owner: raw, or decoded frame by frame. */
static int sock_data(acto_ctx_t *ctx, net_sock_t *s, const void *p, size_t n)
{
    if (s->mode == ACTO_NET_RAW) {
        msgpack_packer pk;
        acto_msg_t *m = ev_new(ctx, ACTO_MSG_NET_DATA, n + 5, &pk);
        if (m) {
            msgpack_pack_bin(&pk, n);
            msgpack_pack_bin_body(&pk, p, n);
        }
        int rc = notify(ctx, s->owner, m);
        return rc == ACTO_ENOACTOR ? 0 : rc;   /* owner gone: its DOWN follows */
    }
    frame_dec_t *dec = s->x->dec;      /* framed: the rare state is kept */
    int rc = frame_dec_feed(dec, p, n);
    frame_t fr;
    while (rc == 0 && (rc = frame_dec_next(dec, &fr)) == 1) {
        acto_msg_t *m;
        rc = frame_to_msg(ctx, &fr, &m);
        if (rc == 0 && (rc = notify(ctx, s->owner, m)) == ACTO_ENOACTOR)
            rc = 0;
    }
    if (rc == 0 && frame_dec_pending(dec) == 0)
        frame_dec_trim(dec);        /* between frames: hold no buffer */
    return rc;
}

/* Paused: keep what the stopping recv still brought in (N3). */
static int sock_hold(net_sock_t *s, const void *p, size_t n)
{
    sock_x_t *x = sock_x(s);
    unsigned char *b = x ? realloc(x->held, x->held_len + n) : NULL;
    if (!b)
        return ACTO_ENOMEM;
    memcpy(b + x->held_len, p, n);
    x->held = b;
    x->held_len += n;
    return 0;
}

static void sock_on_eof(acto_ctx_t *ctx, net_sock_t *s);

static void sock_on_recv(acto_ctx_t *ctx, net_sock_t *s, const px_completion_t *c)
{
    if (!c->more) {                    /* this recv ended: N3 re-arms below */
        px_release(s->rx);
        s->rx = NULL;
        s->rx_stopping = false;
    }
    if (c->res > 0) {
        int rc = s->paused ? sock_hold(s, c->data, c->len) : sock_data(ctx, s, c->data, c->len);
        if (rc) {
            sock_close(ctx, s, rc, 0);
            return;
        }
    }
    if (c->res == 0) {                 /* end of stream */
        s->peer_eof = true;
        if (s->paused)
            s->held_eof = true;        /* told after the held bytes */
        else
            sock_on_eof(ctx, s);
        return;
    }
    if (c->res < 0 && c->res != -ECANCELED) {
        sock_fail(ctx, s, c->res);
        return;
    }
    /* The multishot ended without end of stream (a stop, or a stop of the
     * run, which cancels I/O): arm it again unless paused (N3). */
    if (!c->more) {
        int rc = sock_rx_arm(ctx, s);
        if (rc)
            sock_close(ctx, s, rc, 0);
    }
}

/* End of stream reached the owner's side (after any held bytes). */
static void sock_on_eof(acto_ctx_t *ctx, net_sock_t *s)
{
    if (s->mode == ACTO_NET_FRAMED) {
        int rc = frame_dec_finish(s->x->dec);
        if (rc) {
            sock_close(ctx, s, rc, 0);
            return;
        }
    }
    (void)notify_nil(ctx, s->owner, ACTO_MSG_NET_PEER_CLOSED);
    if (s->shut_done)
        sock_close(ctx, s, 0, 0);
}

/* Owner's pause: stop the armed recv without losing its bytes (N3). */
static void sock_pause(acto_ctx_t *ctx, net_sock_t *s)
{
    s->paused = true;
    if (!s->rx || s->rx_stopping)
        return;
    int rc = px_stop(ctx, s->rx);
    if (rc)
        sock_close(ctx, s, rc, 0);
    else
        s->rx_stopping = true;
}

/* Owner's resume: what was held first, then reading again (N3).  A recv
 * still stopping re-arms itself when its final completion comes. */
static void sock_resume(acto_ctx_t *ctx, net_sock_t *s)
{
    if (!s->paused || s->phase == S_CLOSING)
        return;
    s->paused = false;
    unsigned char *held = s->x ? s->x->held : NULL;
    size_t n = s->x ? s->x->held_len : 0;
    if (s->x) {
        s->x->held = NULL;
        s->x->held_len = 0;
    }
    int rc = n ? sock_data(ctx, s, held, n) : 0;
    free(held);
    if (rc) {
        sock_close(ctx, s, rc, 0);
        return;
    }
    if (s->held_eof) {
        s->held_eof = false;
        sock_on_eof(ctx, s);
        return;
    }
    if ((rc = sock_rx_arm(ctx, s)) != 0)
        sock_close(ctx, s, rc, 0);
}

static void sock_on_connect(acto_ctx_t *ctx, net_sock_t *s, const px_completion_t *c)
{
    if (c->res < 0) {
        /* Try the next address on a new socket; the old one is closed. */
        if (s->x->conn->next < s->x->conn->n) {
            (void)px_close(ctx, s->f, TAG(s->gen, T_CLOSE));
            s->f = NULL;
            if (sock_try_connect(ctx, s) == 0)
                return;
        }
        sock_fail(ctx, s, c->res);
        return;
    }
    if (s->x->timer) {
        (void)px_timer_cancel(ctx, s->x->timer);
        s->x->timer = 0;
    }
    free(s->x->conn);
    s->x->conn = NULL;
    int rc = sock_opened(ctx, s);
    if (rc)
        sock_close(ctx, s, rc, 0);
    else
        sock_pump(ctx, s);             /* writes made while connecting */
}

static int sock_io(acto_ctx_t *ctx, net_sock_t *s, const acto_msg_t *msg)
{
    px_completion_t c;
    if (px_completion_parse(ctx, msg, &c) != 0 || (c.tag >> 4) != s->gen)
        return 0;                      /* N4: an earlier fd's completion */
    unsigned what = (unsigned)(c.tag & 15);
    if (what == T_CLOSE) {
        if (s->phase == S_CLOSING)
            sock_finish(ctx, s);
        return 0;
    }
    if (s->phase == S_CLOSING)
        return 0;                      /* the rest is being cancelled */
    switch (what) {
    case T_CONNECT:
        if (s->phase == S_CONNECTING)
            sock_on_connect(ctx, s, &c);
        break;
    case T_RECV:
        sock_on_recv(ctx, s, &c);
        break;
    case T_SEND:
        s->sending = false;
        if (s->x)
            s->x->inflight = 0;
        if (c.res < 0) {
            sock_fail(ctx, s, c.res);
            break;
        }
        if (s->notify_sent && s->x) {  /* kept while notify_sent */
            s->x->sent_total += (uint64_t)c.res;
            (void)notify_u64(ctx, s->owner, ACTO_MSG_NET_SENT, s->x->sent_total);
        }
        sock_pump(ctx, s);
        break;
    }
    return 0;
}

static void sock_on_write(acto_ctx_t *ctx, net_sock_t *s, const acto_msg_t *msg)
{
    const void *p;
    size_t n;
    if (acto_msg_type(msg) == NET_CMD_WRITE) {
        if (acto_msg_bin(msg, &p, &n) != 0)
            return;
    } else {
        p = acto_msg_data(msg, &n);
    }
    if (s->phase == S_CLOSING || s->shut_req || s->close_req) {
        (void)notify_code(ctx, s->owner, ACTO_MSG_NET_ERROR, ACTO_ECLOSED, 0);
        return;
    }
    if (n == 0)
        return;
    size_t queued = sock_queued(s);
    size_t high = s->x ? s->x->high : HIGH_DEFAULT;
    if (queued > 0 && (queued + n > high || queued + n < queued)) {   /* N2 */
        s->blocked = true;
        (void)notify_code(ctx, s->owner, ACTO_MSG_NET_ERROR, ACTO_EAGAIN, 0);
        return;
    }
    int rc = (s->phase == S_OPEN && !s->sending) ? sock_sendv(ctx, s, p, n)
                                                 : pend_append(s, p, n);
    if (rc)
        sock_close(ctx, s, rc, 0);
}

static int sock_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    net_sock_t *s = state;
    uint32_t type = acto_msg_type(msg);
    if (PX_MSG_KIND(type))
        return sock_io(ctx, s, msg);
    switch (type) {
    case NET_CMD_WRITE:
    case NET_CMD_FRAME:
        sock_on_write(ctx, s, msg);
        break;
    case NET_CMD_SHUTDOWN:
        s->shut_req = true;
        sock_pump(ctx, s);
        break;
    case NET_CMD_PAUSE:
        sock_pause(ctx, s);
        break;
    case NET_CMD_RESUME:
        sock_resume(ctx, s);
        break;
    case NET_CMD_CLOSE:
        s->close_req = true;
        if (s->phase == S_CONNECTING)
            sock_close(ctx, s, 0, 0);
        else
            sock_pump(ctx, s);
        break;
    case ACTO_MSG_DOWN:                /* the owner exited (our only monitor) */
        return acto_exit(ctx, ACTO_EXIT_NORMAL);   /* terminate closes the fd */
    case TM_CONNECT: {
        uint64_t id;
        if (acto_msg_u64(msg, &id) == 0 && s->x && id == s->x->timer &&
            s->phase == S_CONNECTING) {
            s->x->timer = 0;
            sock_close(ctx, s, ACTO_ETIMEDOUT, ETIMEDOUT);
        }
        break;
    }
    }
    return 0;
}

static const acto_behavior_t sock_behavior = {
    .name = "acto.socket",
    .state_size = sizeof(net_sock_t),
    .init = sock_init,
    .receive = sock_receive,
    .terminate = sock_terminate,
};

/* ======================================================================================
 * The listener actor
 * ====================================================================================== */

typedef struct net_listener {
    acto_pid_t owner;
    px_fd_t *f;
    const acto_behavior_t *beh;
    const void *arg;
    acto_sock_opts_t sock;
    uint64_t timer;            /* accept back-off, 0 = none */
    bool closing;
    bool closed_sent;          /* CLOSED went to the owner */
} net_listener_t;

typedef struct listen_arg {
    acto_pid_t owner;
    const acto_listen_opts_t *opts;
    acto_sock_opts_t sock;
    acto_addr_t addr;
    bool adopt;                /* net_listen_fd: use fd instead of addr */
    bool taken;                /* init ran: it owns fd from then on */
    int fd;
} listen_arg_t;

/* A bound, listening socket for a; ACTO_ESYS with errno kept. */
static int listen_socket(const acto_addr_t *a, int backlog, int *out)
{
    int fd = socket(addr_family(a), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ACTO_ESYS;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, &a->u.sa, a->len) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return ACTO_ESYS;
    }
    *out = fd;
    return 0;
}

static int listener_announce(acto_ctx_t *ctx, net_listener_t *l, int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    acto_addr_t a;
    char text[ADDR_STRLEN];
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return ACTO_ESYS;
    int rc = addr_from_sockaddr(&a, (struct sockaddr *)&ss, sl);
    if (rc || (rc = addr_format(&a, text, sizeof text)) < 0)
        return rc;
    if (!l->owner)
        return 0;
    msgpack_packer pk;
    acto_msg_t *m = ev_new(ctx, ACTO_MSG_NET_LISTENING, ADDR_STRLEN + 8, &pk);
    if (m) {
        msgpack_pack_array(&pk, 2);
        pack_str(&pk, text);
        msgpack_pack_uint16(&pk, addr_port(&a));
    }
    rc = notify(ctx, l->owner, m);
    return rc == ACTO_ENOACTOR ? 0 : rc;   /* its DOWN closes us */
}

static int listener_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    net_listener_t *l = state;
    const listen_arg_t *a = arg;
    l->owner = a->owner;
    l->beh = a->opts ? a->opts->behavior : NULL;
    l->arg = a->opts ? a->opts->arg : NULL;
    l->sock = a->sock;
    int backlog = a->opts && a->opts->backlog > 0 ? a->opts->backlog : BACKLOG_DEFAULT;
    int fd = a->fd, rc = 0;
    if (a->adopt)
        ((listen_arg_t *)a)->taken = true;   /* the caller's object is not const */
    else
        rc = listen_socket(&a->addr, backlog, &fd);
    if (rc)
        return rc;
    if ((rc = px_fd_open(ctx, fd, &l->f)) != 0) {
        close(fd);
        return rc;
    }
    rc = px_accept(ctx, l->f, T_ACCEPT, NULL);
    if (rc == 0 && l->owner)
        rc = acto_monitor(ctx, l->owner, NULL);
    if (rc == 0)
        rc = listener_announce(ctx, l, fd);
    if (rc)
        (void)px_close(ctx, l->f, T_CLOSE);
    return rc;
}

static void listener_terminate(acto_ctx_t *ctx, void *state, int64_t reason)
{
    (void)reason;
    net_listener_t *l = state;
    if (l->timer)
        (void)px_timer_cancel(ctx, l->timer);
    if (!l->closing)
        (void)px_close(ctx, l->f, T_CLOSE);
    if (l->owner && !l->closed_sent)   /* killed: CLOSED stays the last event */
        (void)notify_code(ctx, l->owner, ACTO_MSG_NET_CLOSED, ACTO_ECLOSED, 0);
}

static void listener_report(acto_ctx_t *ctx, net_listener_t *l, int code, int err)
{
    if (l->owner)
        (void)notify_code(ctx, l->owner, ACTO_MSG_NET_ERROR, code, err);
}

/* A new connection: its socket actor, owned by a new actor of the user's
 * behaviour or by the listener's owner. */
static void listener_conn(acto_ctx_t *ctx, net_listener_t *l, int fd)
{
    acto_pid_t user = ACTO_PID_NONE;
    if (l->beh) {
        int rc = acto_spawn(ctx, l->beh, l->arg, &user);
        if (rc) {
            close(fd);
            listener_report(ctx, l, rc, 0);
            return;
        }
    }
    /* The connection's I/O goes to the least loaded worker, not always to
     * ours (px_fd_open_on): one listener then uses every core. */
    sock_arg_t sa = { .owner = user ? user : l->owner, .opts = l->sock, .fd = fd,
                      .worker = (int)px_pick_worker(ctx->rt) };
    int rc = acto_spawn(ctx, &sock_behavior, &sa, NULL);
    if (rc) {
        if (!sa.taken)
            close(fd);
        if (user)
            (void)acto_kill(ctx, user, ACTO_EXIT_ERROR);
        listener_report(ctx, l, rc, 0);
    }
}

static void listener_finish(acto_ctx_t *ctx, net_listener_t *l)
{
    l->closed_sent = true;
    if (l->owner)
        (void)notify_code(ctx, l->owner, ACTO_MSG_NET_CLOSED, 0, 0);
    acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static void listener_close(acto_ctx_t *ctx, net_listener_t *l)
{
    if (l->closing)
        return;
    l->closing = true;
    if (l->timer) {
        (void)px_timer_cancel(ctx, l->timer);
        l->timer = 0;
    }
    if (px_close(ctx, l->f, T_CLOSE) != 0)
        listener_finish(ctx, l);
}

static void listener_on_accept(acto_ctx_t *ctx, net_listener_t *l, const px_completion_t *c)
{
    if (c->res >= 0) {
        listener_conn(ctx, l, (int)c->res);
        if (!c->more && px_accept(ctx, l->f, T_ACCEPT, NULL) != 0)
            listener_close(ctx, l);
        return;
    }
    if (c->res == -ECANCELED && !c->more) {   /* the run was stopped: resume */
        if (px_accept(ctx, l->f, T_ACCEPT, NULL) != 0)
            listener_close(ctx, l);
        return;
    }
    /* EMFILE, ENFILE, ENOBUFS...: the pending connection stays in the
     * backlog; try again after a pause instead of spinning on it. */
    listener_report(ctx, l, errno_code((int)-c->res), (int)-c->res);
    if (!c->more && px_timer_start(ctx, (uint64_t)ACTO_NET_ACCEPT_BACKOFF_MS * 1000000u, 0, TM_ACCEPT,
                       &l->timer) != 0)
        listener_close(ctx, l);
}

static int listener_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    net_listener_t *l = state;
    uint32_t type = acto_msg_type(msg);
    px_completion_t c;
    if (PX_MSG_KIND(type)) {
        if (px_completion_parse(ctx, msg, &c) != 0)
            return 0;
        if (c.tag == T_CLOSE && l->closing) {
            listener_finish(ctx, l);
            return 0;
        }
        if (c.tag == T_ACCEPT && !l->closing)
            listener_on_accept(ctx, l, &c);
        else if (c.tag == T_ACCEPT && c.res >= 0)
            close((int)c.res);         /* raced with our close */
        return 0;
    }
    uint64_t id;
    switch (type) {
    case NET_CMD_CLOSE:
        listener_close(ctx, l);
        break;
    case ACTO_MSG_DOWN:                /* the owner exited */
        /* Close rather than exit: accepted fds already queued in our
         * mailbox arrive before the PX_CLOSE and are closed, not leaked. */
        listener_close(ctx, l);
        break;
    case TM_ACCEPT:
        if (acto_msg_u64(msg, &id) == 0 && id == l->timer && !l->closing) {
            l->timer = 0;
            if (px_accept(ctx, l->f, T_ACCEPT, NULL) != 0)
                listener_close(ctx, l);
        }
        break;
    }
    return 0;
}

static const acto_behavior_t listener_behavior = {
    .name = "acto.listener",
    .state_size = sizeof(net_listener_t),
    .init = listener_init,
    .receive = listener_receive,
    .terminate = listener_terminate,
};

/* ======================================================================================
 * Public calls
 * ====================================================================================== */

int acto_listen(acto_ctx_t *ctx, const char *addr, const acto_listen_opts_t *opts,
                acto_pid_t *pid)
{
    if (!ctx || !addr)
        return ACTO_EINVAL;
    listen_arg_t a = { .owner = opts && opts->owner ? opts->owner : acto_self(ctx),
                       .opts = opts };
    if (!a.owner && !(opts && opts->behavior))
        return ACTO_EINVAL;            /* connections would reach no one */
    if (opts && opts->backlog < 0)
        return ACTO_EINVAL;
    int rc = sock_opts_check(opts ? &opts->sock : NULL, &a.sock);
    size_t n;
    if (rc == 0)
        rc = addr_resolve(addr, &a.addr, 1, &n);
    return rc ? rc : acto_spawn(ctx, &listener_behavior, &a, pid);
}

int net_listen_fd(acto_ctx_t *ctx, int fd, const acto_listen_opts_t *opts, acto_pid_t *pid)
{
    listen_arg_t a = { .owner = opts && opts->owner ? opts->owner : acto_self(ctx),
                       .opts = opts, .adopt = true, .fd = fd };
    int rc = ACTO_EINVAL;
    if (ctx && fd >= 0 && (a.owner || (opts && opts->behavior)) && !(opts && opts->backlog < 0))
        rc = sock_opts_check(opts ? &opts->sock : NULL, &a.sock);
    if (rc == 0)
        rc = acto_spawn(ctx, &listener_behavior, &a, pid);
    if (rc && !a.taken && fd >= 0)
        close(fd);
    return rc;
}

int acto_connect(acto_ctx_t *ctx, const char *addr, unsigned timeout_ms,
                 const acto_sock_opts_t *opts, acto_pid_t *pid)
{
    if (!ctx || !addr)
        return ACTO_EINVAL;
    sock_arg_t a = { .fd = -1, .worker = -1, .timeout_ns = (uint64_t)timeout_ms * 1000000u };
    int rc = sock_opts_check(opts, &a.opts);
    if (rc)
        return rc;
    a.owner = a.opts.owner ? a.opts.owner : acto_self(ctx);
    if (!a.owner)
        return ACTO_EINVAL;
    if ((a.conn = calloc(1, sizeof *a.conn)) == NULL)
        return ACTO_ENOMEM;
    rc = addr_resolve(addr, a.conn->a, MAX_ADDRS, &a.conn->n);
    if (rc == 0)
        rc = acto_spawn(ctx, &sock_behavior, &a, pid);
    if (rc && !a.taken)
        free(a.conn);
    return rc;
}

/* A command message to a socket or listener, sent as the caller. */
static int net_cmd(acto_ctx_t *ctx, acto_pid_t to, acto_msg_t *m)
{
    ctx_lock(ctx);
    int rc = msg_send_from(ctx, acto_self(ctx), to, m);
    ctx_unlock(ctx);
    return rc;
}

static acto_msg_t *cmd_new(acto_ctx_t *ctx, uint32_t type, size_t cap)
{
    ctx_lock(ctx);
    acto_msg_t *m = msg_alloc(ctx, type, cap);
    ctx_unlock(ctx);
    return m;
}

int acto_sock_write(acto_ctx_t *ctx, acto_pid_t sock, const void *data, size_t len)
{
    if (!ctx || (!data && len))
        return ACTO_EINVAL;
    if (len > ACTO_MSG_MAX_BODY - 5)
        return ACTO_ELIMIT;
    acto_msg_t *m = cmd_new(ctx, NET_CMD_WRITE, len + 5);
    if (!m)
        return ACTO_ENOMEM;
    msgpack_packer pk;
    acto_msg_packer(m, &pk);
    msgpack_pack_bin(&pk, len);
    msgpack_pack_bin_body(&pk, data, len);
    return net_cmd(ctx, sock, m);
}

int acto_sock_send(acto_ctx_t *ctx, acto_pid_t sock, uint32_t type, const void *body,
                   size_t len)
{
    if (!ctx)
        return ACTO_EINVAL;
    frame_out_t fo;
    int rc = frame_encode(&fo, type, body, len, (size_t)ACTO_MSG_MAX_BODY);
    if (rc)
        return rc;
    acto_msg_t *m = cmd_new(ctx, NET_CMD_FRAME, frame_out_size(&fo));
    if (!m)
        return ACTO_ENOMEM;
    if ((rc = acto_msg_write(m, fo.hdr, fo.hdr_len)) != 0 ||
        (rc = acto_msg_write(m, fo.body, fo.body_len)) != 0) {
        ctx_lock(ctx);
        msg_free(ctx, m);
        ctx_unlock(ctx);
        return rc;
    }
    return net_cmd(ctx, sock, m);
}

int acto_sock_send_msg(acto_ctx_t *ctx, acto_pid_t sock, const acto_msg_t *msg)
{
    if (!ctx || !msg)
        return ACTO_EINVAL;
    size_t len;
    const void *body = acto_msg_data(msg, &len);
    return acto_sock_send(ctx, sock, acto_msg_type(msg), body, len);
}

static int net_cmd_empty(acto_ctx_t *ctx, acto_pid_t sock, uint32_t type)
{
    if (!ctx)
        return ACTO_EINVAL;
    acto_msg_t *m = cmd_new(ctx, type, 0);
    return m ? net_cmd(ctx, sock, m) : ACTO_ENOMEM;
}

int acto_sock_shutdown(acto_ctx_t *ctx, acto_pid_t sock)
{
    return net_cmd_empty(ctx, sock, NET_CMD_SHUTDOWN);
}

int acto_sock_close(acto_ctx_t *ctx, acto_pid_t sock)
{
    return net_cmd_empty(ctx, sock, NET_CMD_CLOSE);
}

int acto_sock_pause_read(acto_ctx_t *ctx, acto_pid_t sock)
{
    return net_cmd_empty(ctx, sock, NET_CMD_PAUSE);
}

int acto_sock_resume_read(acto_ctx_t *ctx, acto_pid_t sock)
{
    return net_cmd_empty(ctx, sock, NET_CMD_RESUME);
}
