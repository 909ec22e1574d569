/* runtime/proactor_uring.c - the io_uring backend (liburing 2.3).
 *
 * One ring per worker, created on the worker thread at run start (P7), with
 * the most capable setup the kernel accepts: SINGLE_ISSUER|DEFER_TASKRUN
 * (completions are posted only when this thread asks, so no task-work
 * interrupts a busy worker) with TASKRUN_FLAG (the kernel flags the ring
 * when it holds completions for us, so a busy worker asks only then), then
 * the same without the flag, then COOP_TASKRUN, then plain.
 *
 * Submission is batched: operations only fill SQEs, which wait for the
 * worker's next reap (every WORKER_REAP_TURNS actor turns, or when it runs
 * out of work) or its sleep, each one system call for all of them.  A busy
 * echo server made one io_uring_enter per request when every turn that
 * queued a send submitted it; batched, one per ~5-15 requests.
 *
 * user_data is the record's address (P1: the proactor's reference keeps
 * it alive while the kernel holds it).  A cancel SQE carries the address
 * with the low bit set and holds a reference of its own until its CQE, so
 * the address it names cannot be reused by a new record meanwhile.
 * Wake-ups: a worker wakes another worker's ring with IORING_OP_MSG_RING
 * (a CQE posted straight into the target ring, submitted at once; the
 * waker's own CQE is skipped on success and, on failure, falls back to the
 * eventfd).  Foreign threads, and kernels without MSG_RING, write the
 * target's eventfd, which every ring keeps a read armed on.
 *
 * Receive: multishot recv on a provided-buffer ring (one per ring,
 * BR_COUNT x BR_SIZE bytes; a buffer goes back to the kernel as soon as its
 * bytes are copied into the completion message, P5), else plain recv into
 * the record's own buffer, re-armed by the proactor for multishot callers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proactor_impl.h"

#ifdef ACTO_TSAN
#include <sanitizer/tsan_interface.h>
/* liburing maps and unmaps rings with raw system calls that TSan does not
 * see, so a ring mapped where another thread's closed ring was (a worker
 * of the same run that finished first) looks like a race on SQE memory.
 * The kernel orders the two (munmap, then mmap); tell TSan. */
static char ring_reuse;
#define RING_CLOSING() __tsan_release(&ring_reuse)
#define RING_OPENED() __tsan_acquire(&ring_reuse)
#else
#define RING_CLOSING() ((void)0)
#define RING_OPENED() ((void)0)
#endif

#define RING_ENTRIES 256u
#define CQ_ENTRIES 4096u
#define BR_BGID 1
#define BR_COUNT 64u                   /* power of two */
#define BR_SIZE 16384u
#define UD_IGNORE 0u
#define UD_EVENTFD 2u                  /* even, and no record lives at 2 */
#define UD_CANCEL_BIT 1u
#define UD_WAKEFAIL 6u                 /* low nibble; target index above it */
#define UD_LOWMASK 15u                 /* records are 16-byte aligned */

typedef struct px_uring {
    struct io_uring ring;
    unsigned setup_flags;
    bool efd_armed;
    bool stopping;
    bool have_br;
    bool no_ms_recv;                   /* kernel refused multishot recv */
    bool msg_ring;                     /* IORING_OP_MSG_RING usable */
    unsigned inflight;                 /* records the kernel holds */
    unsigned cancels;                  /* cancel SQEs not yet completed */
    struct io_uring_buf_ring *br;
    size_t br_bytes;
    unsigned char *bufs;
} px_uring_t;

bool px_uring_usable(void)
{
    if (px_uring_simulate_fail())
        return false;
    struct io_uring r;
    if (io_uring_queue_init(8, &r, 0) != 0)
        return false;
    io_uring_queue_exit(&r);
    return true;
}

static struct io_uring_sqe *ur_sqe(px_uring_t *u)
{
    struct io_uring_sqe *sqe;
    while ((sqe = io_uring_get_sqe(&u->ring)) == NULL)
        io_uring_submit(&u->ring);     /* SQ full: push the batch out */
    return sqe;
}

static void ur_arm_eventfd(acto_px_t *px, px_uring_t *u)
{
    if (u->efd_armed || u->stopping)
        return;
    struct io_uring_sqe *sqe = ur_sqe(u);
    io_uring_prep_read(sqe, px->efd, &px->efd_buf, sizeof px->efd_buf, 0);
    io_uring_sqe_set_data64(sqe, UD_EVENTFD);
    u->efd_armed = true;
}

/* The setups ur_start tries, best first. */
static const unsigned ur_setups[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    0,
};

static void ur_setup_bufring(px_uring_t *u)
{
    if (getenv("ACTO_URING_NO_BUFRING"))   /* tests: the older-kernel path */
        return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    u->br_bytes = (BR_COUNT * sizeof(struct io_uring_buf) + page - 1) & ~(page - 1);
    void *p = mmap(NULL, u->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (p == MAP_FAILED)
        return;
    u->br = p;
    u->bufs = malloc((size_t)BR_COUNT * BR_SIZE);
    struct io_uring_buf_reg reg = { .ring_addr = (unsigned long)(uintptr_t)p,
                                    .ring_entries = BR_COUNT, .bgid = BR_BGID };
    if (!u->bufs || io_uring_register_buf_ring(&u->ring, &reg, 0) != 0) {
        free(u->bufs);
        munmap(p, u->br_bytes);
        u->bufs = NULL;
        u->br = NULL;
        return;                        /* older kernel: plain recv */
    }
    io_uring_buf_ring_init(u->br);
    for (unsigned i = 0; i < BR_COUNT; i++)
        io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * BR_SIZE, BR_SIZE, (unsigned short)i,
                              io_uring_buf_ring_mask(BR_COUNT), (int)i);
    io_uring_buf_ring_advance(u->br, BR_COUNT);
    u->have_br = true;
}

/* $ACTO_URING_SETUP=defer|coop|plain starts the fallback chain further
 * down, so the tests can run the paths an older kernel would take. */
static size_t first_setup(void)
{
    const char *v = getenv("ACTO_URING_SETUP");
    if (v && strcmp(v, "defer") == 0)
        return 1;
    if (v && strcmp(v, "coop") == 0)
        return 2;
    if (v && strcmp(v, "plain") == 0)
        return 3;
    return 0;
}

static int ur_start(acto_px_t *px)
{
    if (px_uring_simulate_fail())
        return -1;
    px_uring_t *u = calloc(1, sizeof *u);
    if (!u)
        return -1;
    int rc = -1;
    for (size_t i = first_setup(); rc != 0 && i < sizeof ur_setups / sizeof ur_setups[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = ur_setups[i] | IORING_SETUP_CQSIZE;
        p.cq_entries = CQ_ENTRIES;
        rc = io_uring_queue_init_params(RING_ENTRIES, &u->ring, &p);
        if (rc == 0)
            u->setup_flags = ur_setups[i];
        RING_OPENED();
    }
    if (rc != 0) {
        free(u);
        return -1;
    }
    ur_setup_bufring(u);
    struct io_uring_probe *probe = io_uring_get_probe_ring(&u->ring);
    u->msg_ring = probe && io_uring_opcode_supported(probe, IORING_OP_MSG_RING) &&
                  !getenv("ACTO_URING_NO_MSG_RING");
    if (probe)
        io_uring_free_probe(probe);
    px->be = u;
    /* Only a DEFER_TASKRUN ring without the flag hides whether the kernel
     * holds completions; plain and COOP rings post them or flag them. */
    px->reap_peeks = (u->setup_flags & IORING_SETUP_TASKRUN_FLAG) ||
                     !(u->setup_flags & IORING_SETUP_DEFER_TASKRUN);
    /* The wake-up read goes to the kernel now, not at the first reap: a
     * busy worker's reaps then find nothing to submit (ur_reap). */
    ur_arm_eventfd(px, u);
    io_uring_submit(&u->ring);
    at_store_u32(&px->ring_fd, (uint32_t)u->ring.ring_fd);
    return 0;
}

static void ur_submit(acto_px_t *px, px_op_t *op)
{
    px_uring_t *u = px->be;
    int fd = op->f->fd;
    if (op->kind == PX_RECV && !(op->multishot && u->have_br && !u->no_ms_recv) && !op->buf &&
        !(op->buf = malloc(op->len))) {
        px_deliver(px, op, -ENOMEM, false, NULL, 0);
        return;
    }
    if (op->kind == PX_CLOSE)
        px_cancel_fd_ops(px, op->f, op);   /* cancel SQEs go first, in order */
    struct io_uring_sqe *sqe = ur_sqe(u);
    switch (op->kind) {
    case PX_ACCEPT:
        io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        break;
    case PX_CONNECT:
        io_uring_prep_connect(sqe, fd, (struct sockaddr *)op->buf, op->salen);
        break;
    case PX_RECV:
        if (op->buf) {
            io_uring_prep_recv(sqe, fd, op->buf, op->len, 0);
        } else {
            io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
            sqe->flags |= IOSQE_BUFFER_SELECT;
            sqe->buf_group = BR_BGID;
        }
        break;
    case PX_SEND:
        /* One buffer (px_sendv copied the iovecs): a plain send, so the
         * record needs no msghdr. */
        io_uring_prep_send(sqe, fd, op->buf + op->done, op->len - op->done, MSG_NOSIGNAL);
        break;
    case PX_CLOSE:
        io_uring_prep_close(sqe, fd);
        break;
    }
    io_uring_sqe_set_data(sqe, op);
    op->state = OP_INFLIGHT;
    u->inflight++;
}

static void ur_cancel(acto_px_t *px, px_op_t *op)
{
    px_uring_t *u = px->be;
    if (op->state != OP_INFLIGHT)      /* between CQE and re-arm: not in the kernel */
        return;
    at_faa_u32(&op->refs, 1);          /* held by the cancel SQE */
    struct io_uring_sqe *sqe = ur_sqe(u);
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | UD_CANCEL_BIT);
    u->cancels++;
    /* A stopped multishot recv (P4', P4'') keeps filling the buffers that
     * the drain now running gives back, up to a drain's worth of CQEs: the
     * stop must reach the kernel now, not at the flush after the drain. */
    if (op->kind == PX_RECV && px_op_stopped(op)) {
        px->reap_kcalls++;
        io_uring_submit(&u->ring);
    }
}

/* The kernel gave the record back; submit it again or finish it. */
static void ur_rearm(acto_px_t *px, px_uring_t *u, px_op_t *op)
{
    if (px_op_cancelled(op) || u->stopping)
        px_op_done(px, op);
    else if (px_op_stopped(op))        /* P4': the stop's final completion */
        px_deliver(px, op, -ECANCELED, false, NULL, 0);
    else
        ur_submit(px, op);
}

static void ur_recv_done(acto_px_t *px, px_uring_t *u, px_op_t *op, int res, unsigned fl,
                         bool more)
{
    const void *data = NULL;
    int bid = -1;
    if (fl & IORING_CQE_F_BUFFER) {
        bid = (int)(fl >> IORING_CQE_BUFFER_SHIFT);
        data = u->bufs + (size_t)bid * BR_SIZE;
    } else if (res > 0) {
        data = op->buf;
    }
    size_t n = res > 0 ? (size_t)res : 0;
    if (more) {
        px_deliver(px, op, res, true, data, n);
    } else if (!op->buf && (res == -ENOBUFS || res == -EINVAL) && !u->stopping &&
               !px_op_cancelled(op)) {
        if (res == -EINVAL)
            u->no_ms_recv = true;      /* no multishot recv here: plain from now on */
        ur_rearm(px, u, op);           /* a quiet re-arm, no message */
    } else if (res > 0 && op->multishot && !u->stopping) {
        px_deliver(px, op, res, true, data, n);
        ur_rearm(px, u, op);
    } else {
        px_deliver(px, op, res, false, data, n);
    }
    if (bid >= 0) {                    /* P5: back to the kernel, bytes copied */
        io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * BR_SIZE, BR_SIZE,
                              (unsigned short)bid, io_uring_buf_ring_mask(BR_COUNT), 0);
        io_uring_buf_ring_advance(u->br, 1);
    }
}

static void ur_send_done(acto_px_t *px, px_uring_t *u, px_op_t *op, int res)
{
    if (res > 0)
        op->done += (uint32_t)res;
    if (res > 0 && op->done < op->len) {
        if (u->stopping)
            px_deliver(px, op, -ECANCELED, false, NULL, 0);
        else
            ur_rearm(px, u, op);       /* short send: the rest, in order */
        return;
    }
    int64_t r = res < 0 ? res : op->done < op->len ? -EPIPE : (int64_t)op->done;
    px_deliver(px, op, r, false, NULL, 0);
}

static void ur_handle(acto_px_t *px, px_uring_t *u, uint64_t ud, int res, unsigned fl)
{
    if (ud == UD_IGNORE)
        return;
    if (ud == UD_EVENTFD) {
        u->efd_armed = false;          /* re-armed before the next sleep */
        return;
    }
    if ((ud & UD_LOWMASK) == UD_WAKEFAIL) {   /* MSG_RING refused: eventfd */
        eventfd_write(px->rt->workers[ud >> 4].px->efd, 1);
        return;
    }
    if (ud & UD_CANCEL_BIT) {
        u->cancels--;
        px_release((px_op_t *)(uintptr_t)(ud & ~(uint64_t)UD_CANCEL_BIT));
        return;
    }
    px_op_t *op = (px_op_t *)(uintptr_t)ud;
    bool more = (fl & IORING_CQE_F_MORE) != 0;
    if (!more) {
        u->inflight--;
        op->state = OP_QUEUED;         /* the kernel no longer holds it */
    }
    switch (op->kind) {
    case PX_RECV:
        ur_recv_done(px, u, op, res, fl, more);
        break;
    case PX_SEND:
        ur_send_done(px, u, op, res);
        break;
    default:                           /* accept, connect, close */
        px_deliver(px, op, res, more, NULL, 0);
        break;
    }
}

static unsigned ur_drain(acto_px_t *px, px_uring_t *u, unsigned max)
{
    struct io_uring_cqe *cqe;
    unsigned n = 0;
    while (n < max && io_uring_peek_cqe(&u->ring, &cqe) == 0) {
        uint64_t ud = cqe->user_data;
        int res = cqe->res;
        unsigned fl = cqe->flags;
        io_uring_cqe_seen(&u->ring, cqe);
        ur_handle(px, u, ud, res, fl);
        n++;
    }
    return n;
}

/* Nothing to do: queued SQEs go in with the next reap (ur_reap) or sleep
 * (ur_wait), so that the system call is shared by every op queued in
 * between.  A full SQ is submitted when it fills (ur_sqe). */
static void ur_flush(acto_px_t *px)
{
    (void)px;
}

/* Does the kernel hold completions (or task work that makes them) that
 * only a system call brings into the CQ?
 *  - TASKRUN_FLAG rings: the kernel sets IORING_SQ_TASKRUN when it queues
 *    such work and keeps it set while any is left (it re-sets it when it
 *    runs only part of it), so the flag answers exactly;
 *  - DEFER_TASKRUN without the flag: we cannot tell, so ask whenever the
 *    kernel holds a record of ours (inflight) or a cancel;
 *  - plain rings post completions themselves.
 * IORING_SQ_CQ_OVERFLOW (CQEs kept in the kernel, CQ was full) always asks.
 * The eventfd read is not counted in inflight: it completes only because
 * of a wake-up, which targets sleeping workers, or a stale one, which the
 * flag (or the next sleep) picks up. */
static bool ur_kernel_holds_work(px_uring_t *u)
{
    unsigned kf = IO_URING_READ_ONCE(*u->ring.sq.kflags);
    if (kf & IORING_SQ_CQ_OVERFLOW)
        return true;
    if (u->setup_flags & IORING_SETUP_TASKRUN_FLAG)
        return (kf & IORING_SQ_TASKRUN) != 0;
    if (u->setup_flags & IORING_SETUP_DEFER_TASKRUN)
        return u->inflight || u->cancels;
    return false;
}

/* A reap enters the kernel only to submit queued SQEs or to fetch
 * completions ur_kernel_holds_work says are there: a busy worker whose
 * ring holds nothing costs no system call, and one with I/O in flight
 * costs one only when something completed (TASKRUN_FLAG rings). */
static void ur_reap(acto_px_t *px)
{
    px_uring_t *u = px->be;
    if (ur_kernel_holds_work(u)) {
        px->reap_kcalls++;
        io_uring_submit_and_get_events(&u->ring);
    } else if (io_uring_sq_ready(&u->ring)) {
        px->reap_kcalls++;
        io_uring_submit(&u->ring);
    }
    ur_drain(px, u, 4 * RING_ENTRIES);
}

static void ur_wait(acto_px_t *px, int64_t timeout_ns)
{
    px_uring_t *u = px->be;
    ur_arm_eventfd(px, u);
    struct io_uring_cqe *cqe;
    struct __kernel_timespec ts, *tp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tp = &ts;
    }
    io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, tp, NULL);
}

static void ur_wake(acto_px_t *px)
{
    acto_ctx_t *c = acto_tls_ctx;
    uint32_t tfd = at_load_u32(&px->ring_fd);
    if (tfd != PX_NO_RING && c && c->kind == CTX_WORKER && c->w->px != px) {
        acto_px_t *me = c->w->px;
        px_uring_t *u = me->be;
        /* Only from a live io_uring worker (it submits to its own ring).  If
         * the target ring closed meanwhile, the target was not asleep: it
         * closes its ring only after leaving its loop. */
        if (me->live && me->backend == PX_BACKEND_URING && u && u->msg_ring && !u->stopping) {
            struct io_uring_sqe *sqe = ur_sqe(u);
            io_uring_prep_msg_ring(sqe, (int)tfd, 0, UD_IGNORE, 0);
            sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
            io_uring_sqe_set_data64(sqe, ((uint64_t)px->index << 4) | UD_WAKEFAIL);
            io_uring_submit(&u->ring);
            return;
        }
    }
    eventfd_write(px->efd, 1);
}

static void ur_stop(acto_px_t *px)
{
    px_uring_t *u = px->be;
    u->stopping = true;
    at_store_u32(&px->ring_fd, PX_NO_RING);
    /* One cancel per record (not ASYNC_CANCEL_ANY, which needs 5.19). */
    for (px_op_t *op = px->all; op; op = op->anext)
        ur_cancel(px, op);
    if (u->efd_armed) {
        struct io_uring_sqe *sqe = ur_sqe(u);
        io_uring_prep_cancel64(sqe, UD_EVENTFD, 0);
        io_uring_sqe_set_data64(sqe, UD_IGNORE);
    }
    while (u->inflight || u->cancels || u->efd_armed) {
        io_uring_submit_and_wait(&u->ring, 1);
        ur_drain(px, u, UINT32_MAX);
    }
    if (u->have_br) {
        io_uring_unregister_buf_ring(&u->ring, BR_BGID);
        munmap(u->br, u->br_bytes);
        free(u->bufs);
    }
    RING_CLOSING();
    io_uring_queue_exit(&u->ring);
    free(u);
    px->be = NULL;
}

const px_backend_ops_t px_uring_ops = {
    .name = "uring",
    .flush_each_turn = false,
    .start = ur_start,
    .stop = ur_stop,
    .submit = ur_submit,
    .cancel = ur_cancel,
    .flush = ur_flush,
    .reap = ur_reap,
    .wait = ur_wait,
    .wake = ur_wake,
};
