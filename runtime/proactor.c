/* runtime/proactor.c - the proactor core: records, commands from other
 * threads, completion messages, timers, backend choice.  The invariants
 * P1..P8 are in proactor.h; the backends are proactor_uring.c and
 * proactor_epoll.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "proactor_impl.h"

#define RECV_DEFAULT 16384u

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- backend choice ------------------------------------------------------------ */

static bool env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

bool px_uring_simulate_fail(void)
{
    return env_flag("ACTO_URING_FAIL");
}

const char *px_backend_name(int backend)
{
    return backend == PX_BACKEND_URING ? "uring" : backend == PX_BACKEND_EPOLL ? "epoll" : "auto";
}

int px_choose_backend(const acto_config_t *cfg, int *backend)
{
    int want = cfg ? cfg->backend : ACTO_BACKEND_AUTO;
    if (want < ACTO_BACKEND_AUTO || want > ACTO_BACKEND_EPOLL)
        return ACTO_EINVAL;
    const char *env = getenv("ACTO_BACKEND");
    if (want == ACTO_BACKEND_AUTO && env && *env) {
        if (strcasecmp(env, "uring") == 0 || strcasecmp(env, "io_uring") == 0)
            want = ACTO_BACKEND_URING;
        else if (strcasecmp(env, "epoll") == 0)
            want = ACTO_BACKEND_EPOLL;
        else if (strcasecmp(env, "auto") != 0)
            return ACTO_EINVAL;
    }
    if (want == ACTO_BACKEND_EPOLL) {
        *backend = PX_BACKEND_EPOLL;
        return 0;
    }
    bool ok = px_uring_usable();
    if (want == ACTO_BACKEND_URING && !ok)
        return ACTO_ENOTSUP;       /* asked for explicitly: say so */
    *backend = ok ? PX_BACKEND_URING : PX_BACKEND_EPOLL;
    return 0;
}

/* ---- lifetime -------------------------------------------------------------------- */

int px_new(acto_runtime_t *rt, struct acto_worker *w, int backend, acto_px_t **out)
{
    acto_px_t *px = calloc(1, sizeof *px);
    if (!px)
        return ACTO_ENOMEM;
    px->rt = rt;
    px->w = w;
    px->index = w->index;
    px->backend = backend;
    px->ops = backend == PX_BACKEND_URING ? &px_uring_ops : &px_epoll_ops;
    px->ring_fd = PX_NO_RING;
    px->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (px->efd < 0) {
        free(px);
        return ACTO_ESYS;
    }
    px->tdir = calloc(TSLAB_DIR, sizeof *px->tdir);
    if (!px->tdir) {
        close(px->efd);
        free(px);
        return ACTO_ENOMEM;
    }
    pthread_spin_init(&px->tlock, PTHREAD_PROCESS_PRIVATE);
    pthread_mutex_init(&px->cmd_lock, NULL);
    tw_init(&px->tw, now_ns());
    *out = px;
    return 0;
}

int px_backend(const acto_px_t *px)
{
    return px->backend;
}

static void op_unref(px_op_t *op)
{
    if (at_faa_u32(&op->refs, (uint32_t)-1) == 1) {
        if (op->buf != (unsigned char *)(op + 1))   /* not a send's inline bytes */
            free(op->buf);
        free(op);
    }
}

void px_release(px_op_t *op)
{
    if (op)
        op_unref(op);
}

static void fd_unlist_free(acto_px_t *px, px_fd_t *f)
{
    pthread_mutex_lock(&px->cmd_lock);
    if (f->lprev)
        f->lprev->lnext = f->lnext;
    else
        px->fds = f->lnext;
    if (f->lnext)
        f->lnext->lprev = f->lprev;
    at_faa_u32(&px->nfds, (uint32_t)-1);
    pthread_mutex_unlock(&px->cmd_lock);
    free(f);
}

/* Called with the runtime stopped: nothing runs, nothing is in a ring. */
void px_free(acto_px_t *px)
{
    if (!px)
        return;
    px_cmd_t *c = px->cmd_head;
    while (c) {
        px_cmd_t *next = c->next;
        if (c->what == CMD_SUBMIT && c->op->kind == PX_CLOSE && c->op->f->fd >= 0) {
            close(c->op->f->fd);
            c->op->f->fd = -1;
        }
        if (c->op)                 /* SUBMIT: the proactor's reference, */
            op_unref(c->op);       /* CANCEL: the command's */
        free(c);
        c = next;
    }
    while (tw_take(&px->tw) != NULL)
        ;                          /* the records go with the slab */
    for (uint32_t i = 0; i < TSLAB_DIR && px->tdir[i]; i++)
        free(px->tdir[i]);
    free(px->tdir);
    pthread_spin_destroy(&px->tlock);
    while (px->fds) {
        px_fd_t *f = px->fds;
        px->fds = f->lnext;
        if (f->fd >= 0)
            close(f->fd);
        free(f);
    }
    close(px->efd);
    pthread_mutex_destroy(&px->cmd_lock);
    free(px);
}

int px_thread_start(acto_px_t *px)
{
    int rc = px->ops->start(px);
    if (rc != 0 && px->backend == PX_BACKEND_URING) {
        /* The probe passed at runtime_new but this ring could not be set
         * up (memlock, a ring limit): this worker uses epoll instead; a
         * file bound to this proactor never mixes backends. */
        px->backend = PX_BACKEND_EPOLL;
        px->ops = &px_epoll_ops;
        rc = px->ops->start(px);
    }
    if (rc != 0)            /* not even an epoll fd (EMFILE): the run fails */
        return ACTO_ESYS;
    px->live = true;
    return 0;
}

void px_thread_end(acto_px_t *px)
{
    if (!px->live)
        return;
    /* P7 for the sends waiting behind another (P8): the backend ends only
     * what it holds.  Ending one starts nothing (the oldest send of its fd
     * is with the backend, not waiting), so the walk is safe. */
    for (px_op_t *op = px->all, *next; op; op = next) {
        next = op->anext;
        if (op->state == OP_WAITING)
            px_deliver(px, op, -ECANCELED, false, NULL, 0);
    }
    px->ops->stop(px);
    px->live = false;
}

/* ---- completions ------------------------------------------------------------------ */

static int send_completion(acto_px_t *px, px_op_t *op, int64_t res, bool more,
                           const void *data, size_t len)
{
    acto_ctx_t *ctx = &px->w->ctx;
    px_cbody_t h = { op->tag, res, more, (uint32_t)len };
    acto_msg_t *m = len <= ACTO_MSG_MAX_BODY - sizeof h
                  ? msg_alloc(ctx, PX_MSG(op->kind), sizeof h + len) : NULL;
    if (!m) {
        if (op->kind == PX_ACCEPT && res >= 0)
            close((int)res);       /* a new fd nobody will get */
        return ACTO_ENOMEM;
    }
    memcpy(m->body, &h, sizeof h); /* the body may be unaligned */
    if (len)
        memcpy(m->body + sizeof h, data, len);
    m->size = (uint32_t)(sizeof h + len);
    if (op->kind == PX_ACCEPT && res >= 0)
        m->flags |= MSG_F_OWNS_FD;  /* P2: closed unless received */
    px->delivered++;
    return msg_send_from(ctx, ACTO_PID_NONE, op->owner, m);
}

void px_deliver(acto_px_t *px, px_op_t *op, int64_t res, bool more, const void *data,
                size_t len)
{
    if (!px_op_cancelled(op)) {
        int rc = send_completion(px, op, res, more, data, len);
        if (rc != 0) {
            /* P2: the owner is gone (or out of memory): the message was
             * dropped, closing a new fd in it, and an armed op is
             * cancelled. */
            px_op_flag(op, OPF_CANCELLED);
            if (more)
                px->ops->cancel(px, op);
        } else if (more && op->kind == PX_RECV && op->done != UINT32_MAX) {
            /* P4'': a bounded recv stops itself after its burst.  And a
             * stop flagged by another thread (px_stop's command waits for
             * our next reap) takes effect at once: this drain may go on for
             * many more chunks.  done = UINT32_MAX: the cancel was issued
             * here (once); the backend ends the op after what it holds. */
            if (op->burst_kib && (op->done += (uint32_t)len) >= (uint32_t)op->burst_kib * 1024u)
                px_op_flag(op, OPF_STOPPED);
            if (px_op_stopped(op)) {
                op->done = UINT32_MAX;
                px->ops->cancel(px, op);
            }
        }
    } else if (op->kind == PX_ACCEPT && res >= 0) {
        close((int)res);
    }
    if (!more)
        px_op_done(px, op);
}

/* The oldest unfinished send of f (f->ops is newest first), or NULL. */
static px_op_t *oldest_send(px_fd_t *f)
{
    px_op_t *last = NULL;
    for (px_op_t *p = f->ops; p; p = p->fnext)
        if (p->kind == PX_SEND)
            last = p;
    return last;
}

static void op_retire(acto_px_t *px, px_op_t *op, bool next_send);

/* P8: a send of f ended; hand the backend the next one.  Invariant: of
 * f's unfinished sends only the oldest may be with the backend, the rest
 * are OP_WAITING.  One cancelled from another thread (its command not run
 * yet) ends here silently (P4); the command then finds it done.  While f
 * is being closed nothing starts: the close's cancel pass ends the waiting
 * sends (px_cancel_fd_ops runs only with f->closed set), so nothing here
 * unlinks an op that pass has still to visit. */
static void tx_next(acto_px_t *px, px_fd_t *f)
{
    px_op_t *op;
    while (!f->closed && (op = oldest_send(f)) && op->state == OP_WAITING) {
        if (!px_op_cancelled(op)) {
            op->state = OP_QUEUED;
            if (px->ops->flush_each_turn)
                px->w->io_flush = true;
            px->ops->submit(px, op);
            return;
        }
        op_retire(px, op, false);
    }
}

void px_op_done(acto_px_t *px, px_op_t *op)
{
    op_retire(px, op, true);
}

/* Finish a record.  next_send: a send that ends lets the next one of its
 * fd go (P8); false only from tx_next itself, which loops instead. */
static void op_retire(acto_px_t *px, px_op_t *op, bool next_send)
{
    if (op->state == OP_DONE)
        return;
    op->state = OP_DONE;
    px_fd_t *f = op->f;
    for (px_op_t **pp = &f->ops; *pp; pp = &(*pp)->fnext)
        if (*pp == op) {           /* a short walk: an fd has few ops */
            *pp = op->fnext;
            break;
        }
    if (op->aprev)
        op->aprev->anext = op->anext;
    else
        px->all = op->anext;
    if (op->anext)
        op->anext->aprev = op->aprev;
    if (op->kind == PX_RECV) {     /* P5: no buffer held while idle */
        free(op->buf);
        op->buf = NULL;
    }
    if (next_send && op->kind == PX_SEND)
        tx_next(px, f);            /* f is alive: op still counts in f->nrefs */
    bool counted = !f->daemon;     /* P6; read before f may be freed */
    if (at_faa_u32(&f->nrefs, (uint32_t)-1) == 1 && f->closed)
        fd_unlist_free(px, f);
    if (counted)
        acto_runtime_unref(px->rt);    /* P6 */
    op_unref(op);                  /* P1: the proactor's reference */
}

/* Cancel on the owner thread, after the caller set the flag: a waiting
 * send (P8) is not with the backend, so it ends here, silently (P4). */
static void op_cancel_here(acto_px_t *px, px_op_t *op)
{
    if (op->state == OP_WAITING)
        px_op_done(px, op);
    else if (op->state != OP_DONE)
        px->ops->cancel(px, op);
}

void px_cancel_fd_ops(acto_px_t *px, px_fd_t *f, px_op_t *except)
{
    for (px_op_t *op = f->ops, *next; op; op = next) {
        next = op->fnext;          /* cancel may finish (unlink) op */
        if (op == except)
            continue;
        px_op_flag(op, OPF_CANCELLED);
        op_cancel_here(px, op);
    }
}

int px_completion_parse(acto_ctx_t *ctx, const acto_msg_t *msg, px_completion_t *c)
{
    int kind = PX_MSG_KIND(acto_msg_type(msg));
    if (!ctx || !c || !kind)
        return ACTO_EINVAL;
    px_cbody_t h;
    size_t size = acto_msg_size(msg);
    if (size < sizeof h)
        return ACTO_ETYPE;
    const uint8_t *body = acto_msg_data(msg, NULL);
    memcpy(&h, body, sizeof h);
    if (h.len != size - sizeof h || h.more > 1)
        return ACTO_ETYPE;
    *c = (px_completion_t){ kind, h.tag, h.res, h.more != 0, body + sizeof h, h.len };
    return 0;
}

/* ---- commands from other threads (P3) --------------------------------------------- */

static bool px_local(const acto_ctx_t *ctx, const acto_px_t *px)
{
    return ctx->kind == CTX_WORKER && ctx->w == px->w && px->live &&
           acto_tls_ctx == ctx;
}

static int cmd_push(acto_px_t *px, int what, px_op_t *op, px_timer_t *t, uint64_t id)
{
    px_cmd_t *c = calloc(1, sizeof *c);
    if (!c)
        return ACTO_ENOMEM;
    *c = (px_cmd_t){ NULL, what, op, t, id };
    pthread_mutex_lock(&px->cmd_lock);
    if (px->cmd_tail)
        px->cmd_tail->next = c;
    else
        px->cmd_head = c;
    px->cmd_tail = c;
    at_faa_u32(&px->ncmd, 1);      /* a full barrier (sched.c W1) ... */
    pthread_mutex_unlock(&px->cmd_lock);
    /* ... before reading the park word: a worker that is not parked reaps
     * commands within WORKER_REAP_TURNS turns and reads ncmd after its
     * own W2 fence before it sleeps (px_wait), so only a parked one needs
     * the wake-up (a system call). */
    if (at_load_u32(&px->w->park) != PARK_RUNNING)
        px_wake(px);
    return 0;
}

/* Owner thread: the record joins its fd's list and the proactor's. */
static void op_link(acto_px_t *px, px_op_t *op)
{
    px_fd_t *f = op->f;
    op->fnext = f->ops;
    f->ops = op;
    if (op->kind == PX_CLOSE)
        f->closed = true;          /* freed once this and the rest are done */
    op->anext = px->all;
    if (px->all)
        px->all->aprev = op;
    px->all = op;
}

/* Is an older send of op's fd unfinished?  (op_link put op first.) */
static bool send_ahead(const px_op_t *op)
{
    for (const px_op_t *p = op->fnext; p; p = p->fnext)
        if (p->kind == PX_SEND)
            return true;
    return false;
}

static void op_submit_local(acto_px_t *px, px_op_t *op)
{
    /* A close got here first (an op from another thread that was still in
     * the command queue, or a second close): never touch the fd number, it
     * may name another file by now. */
    bool closed = op->f->closed;
    op_link(px, op);
    if (px->ops->flush_each_turn)
        px->w->io_flush = true;    /* flushed after this turn (worker_turn) */
    op->state = OP_QUEUED;
    if (closed)
        px_deliver(px, op, -EBADF, false, NULL, 0);
    else if (px_op_cancelled(op))  /* cancelled before it reached us */
        px_op_done(px, op);
    else if (px_op_stopped(op))    /* stopped before it started: P4' */
        px_deliver(px, op, -ECANCELED, false, NULL, 0);
    else if (op->kind == PX_SEND && send_ahead(op))
        op->state = OP_WAITING;    /* P8: goes when the sends before it end */
    else
        px->ops->submit(px, op);
}

static void timer_arm(acto_px_t *px, px_timer_t *t, uint64_t deadline);
static int timer_cancel_local(acto_px_t *px, uint64_t id);

static void run_cmds(acto_px_t *px)
{
    if (!at_load_u32(&px->ncmd))
        return;
    pthread_mutex_lock(&px->cmd_lock);
    px_cmd_t *c = px->cmd_head;
    px->cmd_head = px->cmd_tail = NULL;
    at_store_u32(&px->ncmd, 0);
    pthread_mutex_unlock(&px->cmd_lock);
    while (c) {
        px_cmd_t *next = c->next;
        switch (c->what) {
        case CMD_SUBMIT:
            op_submit_local(px, c->op);
            break;
        case CMD_CANCEL:
            op_cancel_here(px, c->op);
            op_unref(c->op);       /* the command's reference */
            break;
        case CMD_TIMER_START:
            timer_arm(px, c->t, c->t->e.deadline);
            break;
        case CMD_TIMER_CANCEL:
            timer_cancel_local(px, c->id);
            break;
        }
        free(c);
        c = next;
    }
}

/* ---- the worker loop ------------------------------------------------------------------ */

void px_flush(acto_px_t *px)
{
    px->w->io_flush = false;
    px->ops->flush(px);
}

unsigned px_reap(acto_px_t *px)
{
    px->delivered = 0;
    run_cmds(px);
    px->ops->reap(px);
    if (tw_count(&px->tw))
        tw_advance(&px->tw, now_ns());
    px_flush(px);                  /* what the handlers re-armed */
    return px->delivered;
}

void px_wait(acto_px_t *px, int64_t timeout_ns)
{
    uint64_t next = tw_next(&px->tw);
    if (next != TW_NEVER) {
        uint64_t now = now_ns();
        int64_t t = next > now ? (int64_t)(next - now) : 0;
        if (timeout_ns < 0 || t < timeout_ns)
            timeout_ns = t;
    }
    if (at_load_u32(&px->ncmd))
        timeout_ns = 0;
    px->ops->wait(px, timeout_ns);
}

void px_wake(acto_px_t *px)
{
    px->ops->wake(px);
}

/* ---- operations ------------------------------------------------------------------------- */

int px_fd_open(acto_ctx_t *ctx, int fd, px_fd_t **out)
{
    return px_fd_open_on(ctx, fd, -1, out);
}

unsigned px_pick_worker(acto_runtime_t *rt)
{
    unsigned n = rt->nworkers, start = at_faa_u32(&rt->wake_rr, 1) % n, best = start;
    uint32_t least = UINT32_MAX;
    for (unsigned k = 0; k < n; k++) {
        unsigned i = (start + k) % n;
        uint32_t c = at_load_u32(&rt->workers[i].px->nfds);
        if (c < least) {
            least = c;
            best = i;
        }
    }
    return best;
}

int px_fd_open_on(acto_ctx_t *ctx, int fd, int worker, px_fd_t **out)
{
    if (!ctx || fd < 0 || !out || (worker >= 0 && (unsigned)worker >= ctx->rt->nworkers))
        return ACTO_EINVAL;
    acto_runtime_t *rt = ctx->rt;
    unsigned i = worker >= 0 ? (unsigned)worker
               : ctx->kind == CTX_WORKER ? ctx->w->index
                                         : at_faa_u32(&rt->wake_rr, 1) % rt->nworkers;
    acto_px_t *px = rt->workers[i].px;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return ACTO_ESYS;
    px_fd_t *f = calloc(1, sizeof *f);
    if (!f)
        return ACTO_ENOMEM;
    f->fd = fd;
    f->px = px;
    f->daemon = ctx->self && (ctx->self->flags & ACTOR_F_DAEMON);
    pthread_mutex_lock(&px->cmd_lock);
    f->lnext = px->fds;
    if (px->fds)
        px->fds->lprev = f;
    px->fds = f;
    at_faa_u32(&px->nfds, 1);
    pthread_mutex_unlock(&px->cmd_lock);
    *out = f;
    return 0;
}

int px_fd_get(const px_fd_t *f)
{
    return f ? f->fd : -1;
}

/* extra: bytes allocated with the record, right after it (a send's
 * bytes: one allocation per send instead of two). */
static px_op_t *op_new_extra(acto_ctx_t *ctx, px_fd_t *f, int kind, uint64_t tag, size_t extra)
{
    px_op_t *op = malloc(sizeof *op + extra);
    if (!op)
        return NULL;
    memset(op, 0, sizeof *op);
    op->refs = 1;
    op->kind = (uint8_t)kind;
    op->owner = acto_self(ctx);
    op->tag = tag;
    op->f = f;
    at_faa_u32(&f->nrefs, 1);      /* until px_op_done (or op_discard) */
    return op;
}

static px_op_t *op_new(acto_ctx_t *ctx, px_fd_t *f, int kind, uint64_t tag)
{
    return op_new_extra(ctx, f, kind, tag, 0);
}

/* Hand a new record to its proactor: directly on its own thread, else as a
 * command.  Takes the quiescence count (P6) first. */
/* Undo op_new for a record that never reached its proactor. */
static void op_discard(px_op_t *op)
{
    at_faa_u32(&op->f->nrefs, (uint32_t)-1);
    op_unref(op);
}

static int op_start(acto_ctx_t *ctx, px_op_t *op, px_op_t **out)
{
    acto_px_t *px = op->f->px;
    if (out) {
        at_faa_u32(&op->refs, 1);  /* the caller's reference */
        *out = op;
    }
    bool counted = !op->f->daemon;  /* P6 */
    if (counted)
        acto_runtime_ref(px->rt);
    if (px_local(ctx, px)) {
        /* Ops this actor queued as commands from another thread (before
         * it moved here) go first: its sends keep their order (P8). */
        run_cmds(px);
        op_submit_local(px, op);
        return 0;
    }
    op->state = OP_NEW;
    int rc = cmd_push(px, CMD_SUBMIT, op, NULL, 0);
    if (rc) {
        if (counted)
            acto_runtime_unref(px->rt);
        if (out) {
            *out = NULL;
            op_unref(op);
        }
        op_discard(op);
    }
    return rc;
}

static int op_check(acto_ctx_t *ctx, px_fd_t *f)
{
    if (!ctx || !f)
        return ACTO_EINVAL;
    if (!ctx->self)
        return ACTO_ESTATE;        /* completions go to the calling actor */
    if (f->closing)
        return ACTO_ECLOSED;
    return 0;
}

int px_accept(acto_ctx_t *ctx, px_fd_t *f, uint64_t tag, px_op_t **out)
{
    int rc = op_check(ctx, f);
    if (rc)
        return rc;
    px_op_t *op = op_new(ctx, f, PX_ACCEPT, tag);
    if (!op)
        return ACTO_ENOMEM;
    op->multishot = true;
    return op_start(ctx, op, out);
}

int px_connect(acto_ctx_t *ctx, px_fd_t *f, const struct sockaddr *sa, socklen_t len,
               uint64_t tag, px_op_t **out)
{
    int rc = op_check(ctx, f);
    if (rc)
        return rc;
    if (!sa || len == 0 || len > sizeof(struct sockaddr_storage))
        return ACTO_EINVAL;
    px_op_t *op = op_new(ctx, f, PX_CONNECT, tag);
    if (!op)
        return ACTO_ENOMEM;
    if (!(op->buf = malloc(len))) {   /* the address lives in buf: ops stay small */
        op_discard(op);
        return ACTO_ENOMEM;
    }
    memcpy(op->buf, sa, len);
    op->salen = (uint8_t)len;
    return op_start(ctx, op, out);
}

int px_recv(acto_ctx_t *ctx, px_fd_t *f, size_t max, bool multishot, uint64_t tag,
            px_op_t **out)
{
    int rc = op_check(ctx, f);
    if (rc)
        return rc;
    if (max > ACTO_MSG_MAX_BODY - 64)
        return ACTO_EINVAL;
    px_op_t *op = op_new(ctx, f, PX_RECV, tag);
    if (!op)
        return ACTO_ENOMEM;
    op->len = max ? (uint32_t)max : RECV_DEFAULT;
    op->multishot = multishot;
    return op_start(ctx, op, out);
}

int px_recv_bounded(acto_ctx_t *ctx, px_fd_t *f, size_t burst, uint64_t tag, px_op_t **out)
{
    if (burst < 1024 || burst > (size_t)UINT16_MAX * 1024)
        return ACTO_EINVAL;
    int rc = op_check(ctx, f);
    if (rc)
        return rc;
    px_op_t *op = op_new(ctx, f, PX_RECV, tag);
    if (!op)
        return ACTO_ENOMEM;
    op->len = RECV_DEFAULT;
    op->multishot = true;
    op->burst_kib = (uint16_t)((burst + 1023) / 1024);   /* 0 means unbounded */
    return op_start(ctx, op, out);
}

int px_sendv(acto_ctx_t *ctx, px_fd_t *f, const struct iovec *iov, int n, uint64_t tag,
             px_op_t **out)
{
    int rc = op_check(ctx, f);
    if (rc)
        return rc;
    if (n < 0 || (n > 0 && !iov))
        return ACTO_EINVAL;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!iov[i].iov_base && iov[i].iov_len)
            return ACTO_EINVAL;
        total += iov[i].iov_len;
        if (total > ACTO_MSG_MAX_BODY)
            return ACTO_ELIMIT;
    }
    px_op_t *op = op_new_extra(ctx, f, PX_SEND, tag, total);
    if (!op)
        return ACTO_ENOMEM;
    op->buf = (unsigned char *)(op + 1);   /* freed with the record (op_unref) */
    for (size_t i = 0, off = 0; i < (size_t)n; off += iov[i].iov_len, i++)
        memcpy(op->buf + off, iov[i].iov_base, iov[i].iov_len);
    op->len = (uint32_t)total;   /* <= ACTO_MSG_MAX_BODY */
    return op_start(ctx, op, out);
}

int px_close(acto_ctx_t *ctx, px_fd_t *f, uint64_t tag)
{
    int rc = op_check(ctx, f);
    if (rc)
        return rc;
    px_op_t *op = op_new(ctx, f, PX_CLOSE, tag);
    if (!op)
        return ACTO_ENOMEM;
    f->closing = true;             /* the caller's handle is given up */
    return op_start(ctx, op, NULL);
}

/* The backend's cancel, on the proactor's thread (directly or as a
 * command); what the op still delivers depends on the flag set first. */
static int op_cancel(acto_ctx_t *ctx, px_op_t *op)
{
    acto_px_t *px = op->f->px;
    if (px_local(ctx, px)) {
        if (op->state == OP_WAITING) {
            px_op_done(px, op);    /* P8: never reached the backend */
        } else if (op->state == OP_QUEUED || op->state == OP_INFLIGHT) {
            px->ops->cancel(px, op);
            if (px->ops->flush_each_turn)
                px->w->io_flush = true;
        }
        return 0;
    }
    at_faa_u32(&op->refs, 1);      /* the command's reference */
    int rc = cmd_push(px, CMD_CANCEL, op, NULL, 0);
    if (rc)
        op_unref(op);
    return rc;
}

int px_cancel(acto_ctx_t *ctx, px_op_t *op)
{
    if (!ctx || !op)
        return ACTO_EINVAL;
    px_op_flag(op, OPF_CANCELLED);
    return op_cancel(ctx, op);
}

int px_stop(acto_ctx_t *ctx, px_op_t *op)
{
    if (!ctx || !op)
        return ACTO_EINVAL;
    if (op->kind != PX_RECV && op->kind != PX_ACCEPT)
        return ACTO_EINVAL;        /* a send or connect cannot end half-way */
    px_op_flag(op, OPF_STOPPED);
    return op_cancel(ctx, op);
}

/* ---- timers ------------------------------------------------------------------------------ */

#define TIMER_IDX_MASK ((UINT64_C(1) << TIMER_IDX_BITS) - 1)
#define TIMER_GEN_MASK ((UINT64_C(1) << TIMER_GEN_BITS) - 1)

static px_timer_t *tslab_at(acto_px_t *px, uint32_t idx)
{
    px_timer_t *chunk = at_load_ptr((void *const *)&px->tdir[idx >> TSLAB_CHUNK_BITS]);
    return chunk ? &chunk[idx & (TSLAB_CHUNK - 1)] : NULL;
}

/* A record with a fresh id, from the free list or the slab's end; NULL when
 * out of memory or records.  Any thread. */
static px_timer_t *tslab_alloc(acto_px_t *px)
{
    px_timer_t *t = NULL;
    pthread_spin_lock(&px->tlock);
    if (px->tfree) {
        t = tslab_at(px, px->tfree - 1);
        px->tfree = t->next_free;
    } else if (px->tnext < TSLAB_DIR * TSLAB_CHUNK) {
        uint32_t idx = px->tnext, c = idx >> TSLAB_CHUNK_BITS;
        if (!px->tdir[c]) {
            px_timer_t *chunk = calloc(TSLAB_CHUNK, sizeof *chunk);
            if (chunk)
                at_store_ptr((void **)&px->tdir[c], chunk);
        }
        if (px->tdir[c]) {
            t = tslab_at(px, idx);
            t->id = ((uint64_t)(px->index + 1) << (TIMER_IDX_BITS + TIMER_GEN_BITS)) |
                    ((uint64_t)1 << TIMER_IDX_BITS) | idx;
            at_store_u32(&px->tnext, idx + 1);   /* after the id: cancel reads both */
        }
    }
    pthread_spin_unlock(&px->tlock);
    return t;
}

/* Back to the free list with the next generation (a stale id never
 * matches it again).  Owner thread, or the starting thread on failure. */
static void tslab_free(acto_px_t *px, px_timer_t *t)
{
    uint64_t gen = ((t->id >> TIMER_IDX_BITS) + 1) & TIMER_GEN_MASK;
    if (gen == 0)
        gen = 1;
    uint32_t idx = (uint32_t)(t->id & TIMER_IDX_MASK);
    pthread_spin_lock(&px->tlock);
    t->id = (t->id & ~(TIMER_GEN_MASK << TIMER_IDX_BITS)) | (gen << TIMER_IDX_BITS);
    t->next_free = px->tfree;
    px->tfree = idx + 1;
    pthread_spin_unlock(&px->tlock);
}

static void timer_forget(acto_px_t *px, px_timer_t *t)
{
    tslab_free(px, t);
    acto_runtime_unref(px->rt);    /* P6 */
}

static void timer_fire(acto_tw_t *tw, acto_tw_entry_t *e, uint64_t now)
{
    acto_px_t *px = ACTO_CONTAINER(tw, acto_px_t, tw);
    px_timer_t *t = ACTO_CONTAINER(e, px_timer_t, e);
    acto_ctx_t *ctx = &px->w->ctx;
    int rc = ACTO_ENOMEM;
    acto_msg_t *m = msg_alloc(ctx, t->type, 9);
    if (m) {
        msgpack_packer pk;
        acto_msg_packer(m, &pk);
        msgpack_pack_uint64(&pk, t->id);
        px->delivered++;
        rc = msg_send_from(ctx, ACTO_PID_NONE, t->owner, m);
    }
    if (rc != 0 || t->period == 0) {   /* one-shot, or the owner is gone */
        timer_forget(px, t);
        return;
    }
    /* Periodic: the next multiple of period after now, counted from the
     * first deadline, so it neither drifts nor fires early (T1). */
    uint64_t d = tw_deadline(e) + t->period;
    if (d <= now)
        d += ((now - d) / t->period + 1) * t->period;
    tw_start(tw, e, d);
}

static void timer_arm(acto_px_t *px, px_timer_t *t, uint64_t deadline)
{
    tw_start(&px->tw, &t->e, deadline);
}

/* Owner thread.  Only an armed record whose id matches is cancelled: a
 * fired one-shot, a cancelled timer and a start still queued from another
 * thread all answer ACTO_ESTATE. */
static int timer_cancel_local(acto_px_t *px, uint64_t id)
{
    uint64_t idx = id & TIMER_IDX_MASK;
    px_timer_t *t = idx < at_load_u32(&px->tnext) ? tslab_at(px, (uint32_t)idx) : NULL;
    if (!t || t->id != id || !tw_armed(&t->e))
        return ACTO_ESTATE;
    tw_cancel(&px->tw, &t->e);
    timer_forget(px, t);
    return 0;
}

int px_timer_start(acto_ctx_t *ctx, uint64_t after_ns, uint64_t period_ns, uint32_t type,
                   uint64_t *id)
{
    if (!ctx || type >= ACTO_MSG_SYSTEM)
        return ACTO_EINVAL;
    if (!ctx->self)
        return ACTO_ESTATE;
    acto_runtime_t *rt = ctx->rt;
    acto_px_t *px = rt->workers[ctx->kind == CTX_WORKER ? ctx->w->index : 0].px;
    px_timer_t *t = tslab_alloc(px);
    if (!t)
        return ACTO_ENOMEM;
    tw_entry_init(&t->e, timer_fire);
    t->period = period_ns;
    t->owner = ctx->self->pid;
    t->type = type;
    uint64_t now = now_ns();
    uint64_t deadline = after_ns > UINT64_MAX - now ? UINT64_MAX : now + after_ns;
    if (id)
        *id = t->id;
    acto_runtime_ref(rt);          /* P6 */
    if (px_local(ctx, px)) {
        timer_arm(px, t, deadline);
        return 0;
    }
    t->e.deadline = deadline;      /* carried to the owner thread */
    int rc = cmd_push(px, CMD_TIMER_START, NULL, t, 0);
    if (rc) {
        tslab_free(px, t);
        acto_runtime_unref(rt);
    }
    return rc;
}

int px_timer_cancel(acto_ctx_t *ctx, uint64_t id)
{
    if (!ctx)
        return ACTO_EINVAL;
    uint64_t wi = id >> (TIMER_IDX_BITS + TIMER_GEN_BITS);
    if (wi == 0 || wi > ctx->rt->nworkers)
        return ACTO_EINVAL;
    acto_px_t *px = ctx->rt->workers[wi - 1].px;
    if (px_local(ctx, px))
        return timer_cancel_local(px, id);
    return cmd_push(px, CMD_TIMER_CANCEL, NULL, NULL, id);
}
