/* runtime/proactor_epoll.c - the epoll backend: a proactor emulated on
 * readiness.
 *
 * Used when io_uring cannot be set up (seccomp, kernel.io_uring_disabled,
 * memlock) or when asked for.  An operation is first tried at the next
 * flush (never inside the submitting call, so its completion is always a
 * message sent later, as with io_uring); if the system call would block,
 * the record waits on its fd's read or write queue and the fd is
 * registered (level-triggered) for exactly the events its queues need.  A
 * ready fd runs its queues in order.  A new op is tried without looking
 * at its fd's queues, which is why the core gives us one send of an fd at
 * a time (P8): a send tried while an older one waits would overtake it.
 *
 * Every op of an fd is in this proactor (P3), so closing cancels them all
 * here, removes the fd from the epoll set, and closes it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "proactor_impl.h"

#define EP_EVENTS 128
#define EP_BATCH 16                    /* multishot reads per readiness */

enum { Q_NONE, Q_READY, Q_RD, Q_WR };

typedef struct px_epoll {
    int epfd;
    px_op_t *ready, *ready_tail;       /* submitted, not tried yet */
    unsigned nreg;                     /* fds in the epoll set (besides the eventfd) */
    unsigned char *rbuf;               /* multishot recv: shared, copied out (P5) */
    size_t rbuf_len;
} px_epoll_t;

#define RBUF_LEN 16384u

/* ---- queues ------------------------------------------------------------------ */

static px_op_t **queue_of(px_epoll_t *e, px_op_t *op)
{
    switch (op->where) {
    case Q_READY: return &e->ready;
    case Q_RD: return &op->f->rdq;
    case Q_WR: return &op->f->wrq;
    }
    return NULL;
}

static void q_append(px_op_t **head, px_op_t *op)
{
    op->qnext = NULL;
    while (*head)
        head = &(*head)->qnext;
    *head = op;
}

static void q_remove(px_epoll_t *e, px_op_t *op)
{
    px_op_t **q = queue_of(e, op);
    if (!q)
        return;
    if (op->where == Q_READY) {
        px_op_t *prev = NULL;
        for (px_op_t *p = e->ready; p; prev = p, p = p->qnext)
            if (p == op) {
                if (prev)
                    prev->qnext = op->qnext;
                else
                    e->ready = op->qnext;
                if (e->ready_tail == op)
                    e->ready_tail = prev;
                break;
            }
    } else {
        for (; *q; q = &(*q)->qnext)
            if (*q == op) {
                *q = op->qnext;
                break;
            }
    }
    op->where = Q_NONE;
    op->qnext = NULL;
}

static void interest(px_epoll_t *e, px_fd_t *f)
{
    uint32_t want = (f->rdq ? EPOLLIN : 0) | (f->wrq ? EPOLLOUT : 0);
    if (want == f->ep_mask)
        return;
    struct epoll_event ev = { .events = want, .data.ptr = f };
    /* An fd with nothing to wait for leaves the set: HUP and ERR are
     * reported even with no events asked, and would spin. */
    int op = !want ? EPOLL_CTL_DEL : f->ep_mask ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(e->epfd, op, f->fd, &ev) == 0 || op == EPOLL_CTL_DEL) {
        e->nreg += (op == EPOLL_CTL_ADD) - (op == EPOLL_CTL_DEL);
        f->ep_mask = want;
    }
}

static void wait_on(px_epoll_t *e, px_op_t *op, int q)
{
    op->where = (uint8_t)q;
    q_append(q == Q_RD ? &op->f->rdq : &op->f->wrq, op);
    interest(e, op->f);
}

/* ---- trying an operation ------------------------------------------------------- */
/* After a multishot completion: was the op cancelled (finished silently,
 * P4) or stopped (finished with its final -ECANCELED completion, P4')? */
static bool op_ended(acto_px_t *px, px_op_t *op)
{
    if (px_op_cancelled(op))
        px_op_done(px, op);
    else if (px_op_stopped(op))
        px_deliver(px, op, -ECANCELED, false, NULL, 0);
    else
        return false;
    return true;
}

/* Each returns true when the op is finished or waits on a queue. */

static void try_accept(acto_px_t *px, px_epoll_t *e, px_op_t *op)
{
    for (int i = 0; i < EP_BATCH; i++) {
        int nfd = accept4(op->f->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (nfd >= 0) {
            px_deliver(px, op, nfd, true, NULL, 0);
            if (op_ended(px, op))
                return;
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        px_deliver(px, op, -errno, false, NULL, 0);   /* EMFILE etc: op ends */
        return;
    }
    wait_on(e, op, Q_RD);
}

static void try_recv(acto_px_t *px, px_epoll_t *e, px_op_t *op)
{
    for (int i = 0; i < EP_BATCH; i++) {
        unsigned char *buf;
        size_t len;
        if (op->multishot) {           /* no per-op buffer while waiting */
            buf = e->rbuf;
            len = op->len < e->rbuf_len ? op->len : e->rbuf_len;
        } else {
            if (!op->buf && !(op->buf = malloc(op->len))) {
                px_deliver(px, op, -ENOMEM, false, NULL, 0);
                return;
            }
            buf = op->buf;
            len = op->len;
        }
        ssize_t n = recv(op->f->fd, buf, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        int64_t res = n < 0 ? -errno : n;
        bool more = op->multishot && n > 0;
        px_deliver(px, op, res, more, buf, n > 0 ? (size_t)n : 0);
        if (!more || op_ended(px, op))
            return;
    }
    wait_on(e, op, Q_RD);
}

static void try_send(acto_px_t *px, px_epoll_t *e, px_op_t *op)
{
    while (op->done < op->len) {
        ssize_t n = send(op->f->fd, op->buf + op->done, op->len - op->done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            wait_on(e, op, Q_WR);
            return;
        }
        if (n <= 0) {
            px_deliver(px, op, n < 0 ? -errno : -EPIPE, false, NULL, 0);
            return;
        }
        op->done += (uint32_t)n;
    }
    px_deliver(px, op, (int64_t)op->done, false, NULL, 0);
}

static void try_connect(acto_px_t *px, px_epoll_t *e, px_op_t *op)
{
    int err = 0;
    if (!op->connecting) {
        if (connect(op->f->fd, (struct sockaddr *)op->buf, op->salen) == 0) {
            px_deliver(px, op, 0, false, NULL, 0);
            return;
        }
        if (errno == EINPROGRESS || errno == EINTR) {
            op->connecting = true;
            wait_on(e, op, Q_WR);
            return;
        }
        err = errno;
    } else {
        socklen_t sl = sizeof err;
        if (getsockopt(op->f->fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0)
            err = errno;
    }
    px_deliver(px, op, err ? -err : 0, false, NULL, 0);
}

static void do_close(acto_px_t *px, px_epoll_t *e, px_op_t *op)
{
    px_fd_t *f = op->f;
    px_cancel_fd_ops(px, f, op);
    if (f->ep_mask) {
        epoll_ctl(e->epfd, EPOLL_CTL_DEL, f->fd, NULL);
        f->ep_mask = 0;
        e->nreg--;
    }
    int res = close(f->fd) == 0 ? 0 : -errno;
    f->fd = -1;
    px_deliver(px, op, res, false, NULL, 0);
}

static void try_op(acto_px_t *px, px_epoll_t *e, px_op_t *op)
{
    if (op_ended(px, op))
        return;
    op->state = OP_INFLIGHT;
    switch (op->kind) {
    case PX_ACCEPT: try_accept(px, e, op); break;
    case PX_RECV: try_recv(px, e, op); break;
    case PX_SEND: try_send(px, e, op); break;
    case PX_CONNECT: try_connect(px, e, op); break;
    case PX_CLOSE: do_close(px, e, op); break;
    }
}

/* ---- the backend table ------------------------------------------------------------ */

static int ep_start(acto_px_t *px)
{
    px_epoll_t *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    e->rbuf_len = RBUF_LEN;
    e->rbuf = malloc(e->rbuf_len);
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };   /* NULL: the eventfd */
    if (!e->rbuf || e->epfd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, px->efd, &ev) != 0) {
        if (e->epfd >= 0)
            close(e->epfd);
        free(e->rbuf);
        free(e);
        return -1;
    }
    px->be = e;
    px->reap_peeks = false;            /* readiness is only known by asking */
    return 0;
}

static void ep_submit(acto_px_t *px, px_op_t *op)
{
    px_epoll_t *e = px->be;
    op->where = Q_READY;
    op->qnext = NULL;
    if (e->ready_tail)
        e->ready_tail->qnext = op;
    else
        e->ready = op;
    e->ready_tail = op;
}

static void ep_cancel(acto_px_t *px, px_op_t *op)
{
    px_epoll_t *e = px->be;
    if (op->state == OP_DONE)
        return;
    px_fd_t *f = op->f;
    bool queued = op->where != Q_NONE;
    q_remove(e, op);
    if (queued) {                      /* waiting: finish it now; only a stop */
        interest(e, f);                /* sends (its final completion) */
        px_deliver(px, op, -ECANCELED, false, NULL, 0);
    }
    /* Not queued: it is being tried right now (we were called from its
     * delivery); the try loop sees the flag and finishes it. */
}

static void ep_flush(acto_px_t *px)
{
    px_epoll_t *e = px->be;
    while (e->ready) {
        px_op_t *op = e->ready;
        e->ready = op->qnext;
        if (!e->ready)
            e->ready_tail = NULL;
        op->where = Q_NONE;
        op->qnext = NULL;
        try_op(px, e, op);
    }
}

static void run_queue(acto_px_t *px, px_epoll_t *e, px_fd_t *f, px_op_t **q)
{
    px_op_t *list = *q;
    *q = NULL;
    /* Take the whole queue; ops that would still block queue up again, in
     * order.  Stop after the first one that blocks so order is kept. */
    while (list) {
        px_op_t *op = list;
        list = op->qnext;
        op->where = Q_NONE;
        op->qnext = NULL;
        try_op(px, e, op);             /* may free op */
        if (*q && list) {              /* op re-queued itself: keep the rest after it */
            px_op_t **tail = q;
            while (*tail)
                tail = &(*tail)->qnext;
            *tail = list;
            for (px_op_t *p = list; p; p = p->qnext)
                p->where = (uint8_t)(q == &f->rdq ? Q_RD : Q_WR);
            break;
        }
    }
    interest(e, f);
}

static void ep_events(acto_px_t *px, px_epoll_t *e, struct epoll_event *ev, int n)
{
    for (int i = 0; i < n; i++) {
        px_fd_t *f = ev[i].data.ptr;
        if (!f) {
            eventfd_t v;
            eventfd_read(px->efd, &v);
            continue;
        }
        uint32_t x = ev[i].events;
        if (x & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
            run_queue(px, e, f, &f->rdq);
        if (x & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            run_queue(px, e, f, &f->wrq);
    }
}

/* What is ready now (no waiting); how many events. */
static int ep_poll(acto_px_t *px, px_epoll_t *e)
{
    struct epoll_event ev[EP_EVENTS];
    px->reap_kcalls++;
    int n = epoll_wait(e->epfd, ev, EP_EVENTS, 0);
    if (n > 0)
        ep_events(px, e, ev, n);
    return n;
}

/* When a reap calls epoll_wait (the kernel gives no other sign of
 * readiness, so this is the busy worker's per-turn system call):
 *  - never while no fd is registered, i.e. while no op waits for readiness
 *    (interest() keeps nreg == fds with a non-empty rdq or wrq; the eventfd
 *    is not counted: it wakes sleepers only, and px_wait reads it).  So a
 *    busy worker with no I/O outstanding makes no system call;
 *  - otherwise at every reap (every WORKER_REAP_TURNS turns), even when
 *    the fds are idle.  Skipping polls for a while after one that found
 *    nothing was tried (one 65 us wheel tick): it cut an idle listener's
 *    cost to a busy worker 100x but cost a loaded echo server a third of
 *    its requests per second (bench/io.sh echo-50, acto-epoll), so no. */
static void ep_reap(acto_px_t *px)
{
    px_epoll_t *e = px->be;
    ep_flush(px);
    if (e->nreg)
        ep_poll(px, e);
}

static void ep_wait(acto_px_t *px, int64_t timeout_ns)
{
    px_epoll_t *e = px->be;
    /* No flush here: trying an op may deliver, and a parked worker must not
     * (sched.c W3).  px_reap flushed before the worker parked; anything
     * queued since (nothing, normally) ends the sleep at once. */
    if (e->ready)
        timeout_ns = 0;
    struct epoll_event ev[EP_EVENTS];
    struct timespec ts = { (time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000) };
    /* Sleep only: the fds that woke us stay ready (level-triggered) for the
     * next px_reap.  A wake-up is consumed here, or it would end every
     * later sleep at once. */
    int n = timeout_ns < 0 ? epoll_wait(e->epfd, ev, EP_EVENTS, -1)
                           : epoll_pwait2(e->epfd, ev, EP_EVENTS, &ts, NULL);
    for (int i = 0; i < n; i++)
        if (!ev[i].data.ptr) {
            eventfd_t v;
            eventfd_read(px->efd, &v);
        }
}

static void ep_wake(acto_px_t *px)
{
    eventfd_write(px->efd, 1);
}

static void ep_stop(acto_px_t *px)
{
    px_epoll_t *e = px->be;
    ep_flush(px);                      /* closes still queued get done */
    /* P7: everything still waiting ends with -ECANCELED. */
    while (px->all) {
        px_op_t *op = px->all;
        px_fd_t *f = op->f;
        q_remove(e, op);
        interest(e, f);
        px_deliver(px, op, -ECANCELED, false, NULL, 0);
    }
    close(e->epfd);
    free(e->rbuf);
    free(e);
    px->be = NULL;
}

const px_backend_ops_t px_epoll_ops = {
    .name = "epoll",
    .flush_each_turn = true,
    .start = ep_start,
    .stop = ep_stop,
    .submit = ep_submit,
    .cancel = ep_cancel,
    .flush = ep_flush,
    .reap = ep_reap,
    .wait = ep_wait,
    .wake = ep_wake,
};
