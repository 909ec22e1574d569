/* runtime/proactor_impl.h - what the proactor core (proactor.c) and its
 * backends (proactor_uring.c, proactor_epoll.c) share.  Not for other
 * files: they use proactor.h. */
#ifndef ACTO_PROACTOR_IMPL_H
#define ACTO_PROACTOR_IMPL_H

#include <pthread.h>

#include "internal.h"
#include "proactor.h"
#include "timerwheel.h"

enum { PX_BACKEND_URING = ACTO_BACKEND_URING, PX_BACKEND_EPOLL = ACTO_BACKEND_EPOLL };

/* Where a record is (owner thread only).  OP_WAITING: a send behind an
 * earlier unfinished send of its fd, not yet given to the backend (P8). */
enum { OP_NEW, OP_QUEUED, OP_INFLIGHT, OP_DONE, OP_WAITING };

struct px_fd {
    int fd;
    bool closing;                  /* px_close was called (caller's thread) */
    bool closed;                   /* its PX_CLOSE reached the owner thread */
    bool daemon;                   /* opened by a daemon actor: its ops hold
                                      no run reference (P6) */
    acto_px_t *px;
    px_op_t *ops;                  /* linked ops on this fd (owner thread) */
    uint32_t nrefs;                /* atomic: ops created on it, not yet done
                                      (including ones still in the command
                                      queue), so f outlives them all */
    struct px_fd *lnext, *lprev;   /* px->fds, under cmd_lock */
    /* epoll backend */
    uint32_t ep_mask;              /* events registered with epoll_ctl */
    px_op_t *rdq, *wrq;            /* ops waiting for readability / writability */
};

/* A record is malloc'd per operation and an idle connection keeps one (its
 * armed multishot recv), so it is kept to 88 bytes (a 96-byte malloc
 * chunk): what only one kind needs lives in `buf` (a connect's address, a
 * send's bytes), lengths are 32-bit (a body is at most ACTO_MSG_MAX_BODY),
 * the two flags share a word and f->ops is singly linked (an fd has a
 * handful of ops). */
enum { OPF_CANCELLED = 1, OPF_STOPPED = 2 };
struct px_op {
    uint32_t refs;                 /* atomic (P1) */
    uint32_t flags;                /* atomic: OPF_CANCELLED (P4), OPF_STOPPED (P4') */
    uint8_t kind;
    uint8_t state;                 /* OP_* (owner thread) */
    bool multishot;
    bool connecting;               /* epoll: connect in progress */
    uint8_t where;                 /* epoll: which queue holds it */
    uint8_t salen;                 /* connect: address length (in buf) */
    uint16_t burst_kib;            /* bounded recv: stop after this many KiB (P4'') */
    acto_pid_t owner;
    uint64_t tag;
    px_fd_t *f;
    px_op_t *fnext;                /* f->ops */
    px_op_t *anext, *aprev;        /* px->all: live ops, for teardown */
    px_op_t *qnext;                /* epoll: queue link */
    unsigned char *buf;            /* recv buffer / send bytes (P5) / connect address */
    uint32_t len, done;            /* buffer size / bytes sent; recv: delivered (P4''), or
                                      UINT32_MAX once px_deliver issued its stop */
};
_Static_assert(sizeof(struct px_op) <= 88, "px_op_t: one 96-byte malloc chunk per idle connection");

typedef struct px_timer {
    acto_tw_entry_t e;
    uint64_t id, period;           /* id: worker | generation | index */
    acto_pid_t owner;
    uint32_t type;
    uint32_t next_free;            /* free list: index + 1, 0 = end */
} px_timer_t;

/* Timer records live in a slab per proactor: chunks of TSLAB_CHUNK records
 * behind a fixed directory, never moved or freed before px_free, so a
 * timer id (worker + 1 | generation | index) finds its record with two
 * loads and no lookup structure.  A record's id is given a new generation
 * when it is freed, so a stale id (fired, cancelled) never matches again.
 * Allocation and free take tlock, because a start may come from another
 * thread (init run from main); lookups and frees happen on the owner only. */
#define TSLAB_CHUNK_BITS 12
#define TSLAB_CHUNK (1u << TSLAB_CHUNK_BITS)
#define TSLAB_DIR 4096u                      /* 16M records per worker */
#define TIMER_IDX_BITS 24
#define TIMER_GEN_BITS 24

enum { CMD_SUBMIT, CMD_CANCEL, CMD_TIMER_START, CMD_TIMER_CANCEL };
typedef struct px_cmd {
    struct px_cmd *next;
    int what;
    px_op_t *op;                   /* SUBMIT, CANCEL (holds a reference) */
    px_timer_t *t;                 /* TIMER_START */
    uint64_t id;                   /* TIMER_CANCEL */
} px_cmd_t;

typedef struct px_backend_ops {
    const char *name;
    /* Does a queued op need a flush after the turn that queued it?  epoll:
     * yes, its flush is where ops are tried (a system call each anyway).
     * io_uring: no, SQEs wait for the worker's next reap or sleep, which
     * submits them all in one system call (see ur_flush). */
    bool flush_each_turn;
    int  (*start)(acto_px_t *px);             /* worker thread, run start */
    void (*stop)(acto_px_t *px);              /* cancel in-flight ops, close (P7) */
    void (*submit)(acto_px_t *px, px_op_t *op);
    void (*cancel)(acto_px_t *px, px_op_t *op);
    void (*flush)(acto_px_t *px);
    void (*reap)(acto_px_t *px);
    void (*wait)(acto_px_t *px, int64_t timeout_ns);
    void (*wake)(acto_px_t *px);              /* any thread */
} px_backend_ops_t;

struct acto_px {
    acto_runtime_t *rt;
    struct acto_worker *w;
    unsigned index;
    int backend;                   /* PX_BACKEND_* in use (may fall back) */
    const px_backend_ops_t *ops;
    bool live;                     /* start ran on this run's worker thread */
    int efd;                       /* eventfd: wakes from any thread */
    uint32_t ring_fd;              /* atomic: the live ring's fd for MSG_RING
                                      wakes from other workers, or NO_RING */
    uint64_t efd_buf;

    pthread_mutex_t cmd_lock;      /* guards cmd list and fds */
    px_cmd_t *cmd_head, *cmd_tail;
    uint32_t ncmd;                 /* atomic: commands waiting */
    px_fd_t *fds;
    uint32_t nfds;                 /* atomic: files in fds (px_pick_worker) */

    px_op_t *all;                  /* live ops (owner thread) */
    unsigned delivered;            /* messages sent in this px_reap */

    acto_tw_t tw;                  /* armed timers (owner thread) */
    pthread_spinlock_t tlock;      /* guards tdir writes, tnext, tfree */
    px_timer_t **tdir;             /* TSLAB_DIR chunk pointers (see px_timer_t) */
    uint32_t tnext;                /* records handed out so far */
    uint32_t tfree;                /* free records: index + 1, 0 = none */

    void *be;                      /* backend state */
    /* Owner thread only.  reap_kcalls: system calls px_reap/px_flush made
     * (submit, get-events, epoll_wait), so tests can check the quiet-worker
     * rule of worker_turn (internal.h).  reap_peeks: set by the backend at
     * start when it can see without a system call that the kernel holds no
     * completion for it (io_uring: the CQ and the ring's TASKRUN flag);
     * epoll must ask epoll_wait whenever an fd is registered. */
    uint64_t reap_kcalls;
    bool reap_peeks;
};

#define PX_NO_RING UINT32_MAX

extern const px_backend_ops_t px_uring_ops;
extern const px_backend_ops_t px_epoll_ops;

/* For backends (owner thread only). */
/* Send the completion to the owner unless the op was cancelled; if !more
 * the op is finished (its fd, quiescence count and reference dropped). */
void px_deliver(acto_px_t *px, px_op_t *op, int64_t res, bool more, const void *data,
                size_t len);
void px_op_done(acto_px_t *px, px_op_t *op);
/* Mark every other op of f cancelled and let the backend cancel it. */
void px_cancel_fd_ops(acto_px_t *px, px_fd_t *f, px_op_t *except);
bool px_uring_usable(void);        /* can this process set up a ring? */
/* $ACTO_URING_FAIL: pretend io_uring_queue_init fails (tests). */
bool px_uring_simulate_fail(void);
static inline bool px_op_cancelled(px_op_t *op) { return (at_load_u32(&op->flags) & OPF_CANCELLED) != 0; }
static inline bool px_op_stopped(px_op_t *op) { return (at_load_u32(&op->flags) & OPF_STOPPED) != 0; }
/* Set a flag (any thread: a cancel or stop may race the owner's reads). */
static inline void px_op_flag(px_op_t *op, uint32_t flag)
{
    uint32_t v = at_load_u32(&op->flags);
    while (!(v & flag) && !at_cas_u32(&op->flags, v, v | flag))
        v = at_load_u32(&op->flags);
}

#endif
