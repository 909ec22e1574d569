/* runtime/internal.h - the runtime's data structures (not public). */
#ifndef ACTO_INTERNAL_H
#define ACTO_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <ck_epoch.h>
#include <msgpack.h>

#include "acto/acto.h"
#include "atomic.h"
#include "mailbox.h"
#include "runq.h"
#include "trace.h"

#define ACTO_CACHELINE 64
#define ACTO_LIKELY(x) __builtin_expect(!!(x), 1)
#define ACTO_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define ACTO_CONTAINER(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))

typedef struct acto_worker acto_worker_t;
typedef struct acto_actor acto_actor_t;

/* A counter one thread adds to while others may read it mid-run: the
 * owner's relaxed store of the new value (a plain add on x86) and relaxed
 * loads elsewhere, so a mid-run snapshot is no data race. */
static inline void ctr_add(uint64_t *c, uint64_t n) { at_store_u64_rlx(c, *c + n); }
static inline uint64_t ctr_read(const uint64_t *c) { return at_load_u64_rlx(c); }

/* ---- messages ------------------------------------------------------------
 * Allocated from size classes (64 B .. 4 KiB, header included).  The body
 * lives inline after the header while it fits, else in a malloc'd buffer. */
#define MSG_NCLASS 7
#define MSG_CLASS_MIN 64u
#define MSG_CLASS_MAX 4096u

/* MSG_F_OWNS_FD: a PX_ACCEPT completion carrying a new fd; whoever frees it
 * unreceived (msg_drop) closes the fd, so it cannot leak (proactor.h P2).
 * MSG_F_SHARED: the body lives in a refcounted msg_blob_t shared with other
 * messages (pub/sub fan-out: N headers, one body); it is read-only. */
enum { MSG_F_EXTERNAL = 1, MSG_F_NOMEM = 2, MSG_F_TOOBIG = 4, MSG_F_OWNS_FD = 8,
       MSG_F_SHARED = 16 };

/* A shared, immutable message body (msg.c).  Invariants:
 *  B1 refs = the messages whose body points into data, plus the references
 *     the creator still holds for messages it has yet to make.  The
 *     creator sets refs once, to the number of messages it will make
 *     (msg_blob_new), and each msg_alloc_shared hands one of them to a
 *     message: no atomic operation on the sending side, and the blob
 *     outlives every message made over it;
 *  B2 data is written only by the creator and only before the first
 *     message over it is sent (the mailbox push publishes the bytes);
 *     nothing writes it afterwards (acto_msg_write refuses MSG_F_SHARED);
 *  B3 whoever drops refs to 0 frees it: the decrement is a sequentially
 *     consistent RMW, so every reader's last access happens before the
 *     free.  Freed exactly once, whichever thread frees the last message.
 * Small blobs come from the size-class caches like messages (cls), larger
 * ones from malloc (cls MSG_BLOB_MALLOC). */
typedef struct msg_blob {
    uint32_t refs;
    uint32_t size;
    uint8_t cls;
    uint8_t data[];
} msg_blob_t;
#define MSG_BLOB_MALLOC 0xffu

struct acto_msg {
    acto_mnode_t node;      /* mailbox link: must stay first */
    uint32_t type;
    uint32_t size;          /* body bytes used */
    acto_pid_t from;
    uint8_t *body;          /* inline area or malloc'd */
    uint32_t cap;           /* body capacity */
    uint8_t cls;            /* size class of this block */
    uint8_t flags;
    uint16_t pad_;
    uint64_t id;            /* for tracing: unique per runtime when set */
};
#define MSG_HDR sizeof(struct acto_msg)

/* System messages: handled by the runtime, never seen by receive. */
enum {
    SYS_MONITOR = 0xFFFFFF01u,   /* [watcher, ref] */
    SYS_DEMONITOR,               /* [watcher, ref] */
    SYS_LINK,                    /* [pid] */
    SYS_UNLINK,                  /* [pid] */
    SYS_LINK_EXIT,               /* [pid, reason]: a linked actor exited */
    SYS_KILL,                    /* [pid, reason]: acto_kill */
};

/* ---- free-block caches ----------------------------------------------------
 * Each context keeps LIFO free lists per class; surplus moves to the
 * runtime's depot in chains of CACHE_MAG blocks, and empty lists refill
 * from it (magazines, after Bonwick).  Class MSG_NCLASS holds actor slots. */
#define CACHE_NKIND (MSG_NCLASS + 1)
#define CACHE_SLOTS MSG_NCLASS
#define CACHE_MAG 128u

typedef struct acto_fblk {
    struct acto_fblk *next;        /* within a list / chain */
    struct acto_fblk *chain_next;  /* depot: next chain (first block only) */
    uint32_t count;                /* depot: blocks in this chain */
} acto_fblk_t;

typedef struct acto_cache {
    acto_fblk_t *head[CACHE_NKIND];
    uint32_t n[CACHE_NKIND];
    char *span, *span_end;         /* fresh arena memory being carved */
    uint32_t slot_next, slot_end;  /* fresh slot indices */
} acto_cache_t;

/* ---- actors ---------------------------------------------------------------
 * One 128-byte slot per actor, in one table indexed by pid slot.  The table
 * is reserved virtual memory, so slots never move and never unmap while the
 * runtime lives: a stale pid always points at readable memory whose `pid`
 * field tells whether it is still the same actor. */
#define ACTOR_SLOT_SIZE 128u
#define ACTOR_INLINE_STATE 40u

typedef struct acto_link_set {
    acto_pid_t *v;
    uint32_t n, cap;
} acto_pidvec_t;

typedef struct acto_monitor_rec {
    acto_pid_t watcher;
    uint64_t ref;
} acto_monitor_rec_t;

typedef struct acto_actor_ext {   /* rarely used parts, allocated lazily */
    acto_pidvec_t links;
    acto_monitor_rec_t *mon;       /* &mon1 until a second monitor comes */
    uint32_t nmon, capmon;
    bool trap_exit;
    /* The first monitor, inline: a connection's owner is monitored by its
     * socket actor, and a separate array would cost an idle connection
     * another 80 bytes (bench/RESULTS.md, idle-50k). */
    acto_monitor_rec_t mon1;
} acto_actor_ext_t;

struct acto_actor {
    acto_mailbox_t mb;             /* 0: 24 bytes */
    acto_pid_t pid;                /* 24: the live pid, 0 once exiting */
    const acto_behavior_t *beh;    /* 32 */
    void *state;                   /* 40 */
    acto_actor_t *runq_next;       /* 48: global queue link */
    acto_actor_ext_t *ext;         /* 56 */
    ck_epoch_entry_t epoch_entry;  /* 64: deferred cleanup */
    uint32_t gen;                  /* 80: generation of the last pid */
    uint32_t flags;                /* 84 */
    unsigned char inline_state[ACTOR_INLINE_STATE];  /* 88 */
};
_Static_assert(sizeof(struct acto_actor) == ACTOR_SLOT_SIZE, "actor slot size");
/* acto_actor.flags: a daemon's fds hold no run reference (proactor.h P6),
 * and what a daemon spawns is a daemon (inspect.h). */
#define ACTOR_F_DAEMON 2u
_Static_assert(offsetof(struct acto_actor, pid) >= sizeof(acto_fblk_t),
               "a free slot's list link must not overlap its pid");

/* ---- contexts -------------------------------------------------------------
 * Everything a thread needs to act: its cache, its epoch record, the actor
 * it is running.  Each worker owns one; foreign threads use the root
 * context (under a lock) or their own attached one. */
enum { CTX_WORKER, CTX_ROOT, CTX_ATTACHED };

struct acto_ctx {
    acto_runtime_t *rt;
    acto_worker_t *w;              /* NULL unless CTX_WORKER */
    acto_actor_t *self;            /* running actor, or NULL */
    acto_msg_t *cur;               /* message being received */
    trace_ctx_t *tr;               /* NULL unless tracing (trace.h T2) */
    uint64_t *isent;               /* NULL unless inspecting (inspect.h K1) */
    int kind;
    bool cur_taken;                /* cur was forwarded */
    bool exit_req;
    bool zone_used;
    int64_t exit_reason;
    ck_epoch_record_t *epoch;
    acto_cache_t cache;
    msgpack_zone *zone;            /* for acto_msg_unpack; lazily created */
    /* Counters: written by the context's owner only, read by any thread
     * (acto_runtime_stats, inspection) with ctr_read: ctr_add. */
    uint64_t spawned, exited, messages, dead_letters;
    struct acto_ctx *all_next;     /* runtime's list of contexts */
};

/* ---- workers -------------------------------------------------------------- */
enum { PARK_RUNNING = 0, PARK_PARKED = 1, PARK_NOTIFIED = 2 };

struct acto_worker {
    acto_runq_t rq;                /* stealable runnable actors */
    acto_actor_t *next;            /* LIFO slot: owner only, not stealable */
    unsigned next_streak;
    unsigned index;
    uint32_t park;                 /* PARK_*; the worker sleeps in its proactor */
    uint32_t deferred;             /* cleanups waiting for a grace period */
    uint64_t rng;
    uint64_t tick;
    acto_runtime_t *rt;
    pthread_t thread;
    acto_ctx_t ctx;
    uint64_t steals, stolen, sleeps, wakeups, runs;
    struct acto_px *px;            /* this worker's proactor (proactor.h) */
    /* Sends of the message being received, to one actor, not yet pushed
     * (send coalescing, msg.c): flushed when the target changes and when
     * the receive returns. */
    bool coalesce;                 /* inside a receive: coalescing allowed */
    acto_actor_t *pend_to;
    acto_mnode_t *pend_first, *pend_last;
    bool io_flush;                 /* the proactor has submissions queued */
    uint64_t poll_due;             /* worker_clock_ns() of the next time-bound reap */
    uint64_t poll_msgs;            /* ctx.messages at the last look at the clock */
} __attribute__((aligned(ACTO_CACHELINE)));

/* ---- the runtime ---------------------------------------------------------- */
struct acto_runtime {
    acto_config_t cfg;
    unsigned nworkers;
    unsigned batch;
    acto_worker_t *workers;

    char *slots;                   /* actor table (reserved) */
    uint64_t max_slots;
    size_t slots_bytes;
    uint32_t slot_hwm;             /* fresh slots handed out so far */

    char *arena;                   /* message / state memory (reserved) */
    size_t arena_size;
    uint64_t arena_used;

    pthread_mutex_t depot_lock;
    acto_fblk_t *depot[CACHE_NKIND];

    /* global run queue: foreign spawns/sends and spills */
    pthread_mutex_t gq_lock;
    acto_actor_t *gq_head, *gq_tail;
    uint64_t gq_len;

    uint32_t nidle;                /* workers with park == PARKED */
    uint64_t unparks;              /* times a worker left PARKED (W3, sched.c) */
    uint32_t nsearching;           /* workers looking for work */
    uint64_t refs;                 /* user refs (+ I/O, timers later) */
    uint32_t running;              /* run is executing */
    uint32_t exiting;              /* workers must leave their loop */
    uint32_t done;                 /* futex word run waits on */
    uint32_t stop_req;             /* acto_runtime_stop asked (S1, runtime.c) */
    uint32_t run_err;              /* -ACTO_E* a worker could not start with */
    uint32_t wake_rr;

    ck_epoch_t epoch;

    acto_ctx_t root;
    pthread_mutex_t root_lock;

    pthread_mutex_t ctx_lock;      /* guards `contexts` and `retired` */
    acto_ctx_t *contexts;          /* all live contexts, for stats */
    acto_stats_t retired;          /* counters of detached contexts */
    uint64_t dead_letters;         /* atomic: dead letters from any thread */
    uint64_t msg_seq;
    trace_t *trace;                /* NULL unless tracing */
    struct insp *insp;             /* NULL unless inspecting (inspect.h) */
    int backend;                   /* ACTO_BACKEND_URING or _EPOLL */
};

/* ---- internal API ---------------------------------------------------------- */
extern __thread acto_ctx_t *acto_tls_ctx;

/* memory (memory.c) */
int  mem_init(acto_runtime_t *rt);
void mem_destroy(acto_runtime_t *rt);
void *cache_alloc_slow(acto_ctx_t *ctx, unsigned kind);
void cache_spill(acto_ctx_t *ctx, unsigned kind);
/* The common case of both is a pop/push on the context's own LIFO list:
 * inline, since every message costs one of each. */
static inline void *cache_alloc(acto_ctx_t *ctx, unsigned kind)
{
    acto_fblk_t *b = ctx->cache.head[kind];
    if (ACTO_LIKELY(b != NULL)) {
        ctx->cache.head[kind] = b->next;
        ctx->cache.n[kind]--;
        return b;
    }
    return cache_alloc_slow(ctx, kind);
}
static inline void cache_free(acto_ctx_t *ctx, unsigned kind, void *p)
{
    acto_fblk_t *b = p;
    b->next = ctx->cache.head[kind];
    ctx->cache.head[kind] = b;
    if (ACTO_UNLIKELY(++ctx->cache.n[kind] >= 2 * CACHE_MAG))
        cache_spill(ctx, kind);
}
void cache_flush(acto_ctx_t *ctx);
acto_actor_t *slot_alloc(acto_ctx_t *ctx, uint32_t *index);
void slot_free(acto_ctx_t *ctx, acto_actor_t *a);
static inline acto_actor_t *slot_at(acto_runtime_t *rt, uint32_t i)
{ return (acto_actor_t *)(rt->slots + (size_t)i * ACTOR_SLOT_SIZE); }
static inline uint32_t slot_index(acto_runtime_t *rt, const acto_actor_t *a)
{ return (uint32_t)(((const char *)a - rt->slots) / ACTOR_SLOT_SIZE); }
/* Smallest class holding `total` bytes; >= MSG_NCLASS if none does.
 * Inline: with a constant size it folds to a constant. */
static inline unsigned size_class(size_t total)
{
    if (total <= MSG_CLASS_MIN)
        return 0;
    return (unsigned)(64 - __builtin_clzll((unsigned long long)total - 1)) - 6;
}

/* messages (msg.c) */
acto_msg_t *msg_alloc(acto_ctx_t *ctx, uint32_t type, size_t cap);
/* Shared bodies (B1..B3 above).  msg_blob_new: `size` bytes for the
 * caller to fill, with refs references (>= 1) for the messages it will
 * make; NULL on ENOMEM or size > ACTO_MSG_MAX_BODY.  msg_alloc_shared: a
 * message over b that takes one of those references (NULL on ENOMEM: the
 * reference stays the caller's).  msg_blob_release: drop one reference
 * (for a message never made, or by msg_free). */
msg_blob_t *msg_blob_new(acto_ctx_t *ctx, size_t size, uint32_t refs);
acto_msg_t *msg_alloc_shared(acto_ctx_t *ctx, uint32_t type, msg_blob_t *b);
void msg_blob_release(acto_ctx_t *ctx, msg_blob_t *b);
static inline msg_blob_t *msg_blob_of(const acto_msg_t *m)
{ return ACTO_CONTAINER(m->body, msg_blob_t, data); }
/* Inline: every received message is freed by the worker that ran it.  The
 * common path (body inline) stays one flag test. */
static inline void msg_free(acto_ctx_t *ctx, acto_msg_t *m)
{
    if (ACTO_UNLIKELY(m->flags & (MSG_F_EXTERNAL | MSG_F_SHARED))) {
        if (m->flags & MSG_F_SHARED)
            msg_blob_release(ctx, msg_blob_of(m));
        else
            free(m->body);
    }
    cache_free(ctx, m->cls, m);
}
/* Free a message that will never be received (dead receiver, mailbox
 * drain): what it owns (MSG_F_OWNS_FD) is released first.  Out of line:
 * only those cold paths call it, msg_free stays one flag test. */
void msg_drop(acto_ctx_t *ctx, acto_msg_t *m);
int  msg_send_from(acto_ctx_t *ctx, acto_pid_t from, acto_pid_t to, acto_msg_t *m);
void send_flush(acto_ctx_t *ctx);   /* push the coalesced sends (worker) */
int  msg_send_sys(acto_ctx_t *ctx, acto_pid_t from, acto_pid_t to, uint32_t type,
                  acto_pid_t a, int64_t b, uint64_t c, int nargs);
int  msg_scan_sys(const acto_msg_t *m, acto_pid_t *a, int64_t *b, uint64_t *c);
void ctx_zone_reset(acto_ctx_t *ctx);

/* actors (actor.c) */
/* acto_spawn with extra ACTOR_F_* flags (ACTOR_F_DAEMON). */
int  actor_spawn(acto_ctx_t *ctx, const acto_behavior_t *beh, const void *arg, uint32_t flags,
                 acto_pid_t *pid);
void actor_run(acto_ctx_t *ctx, acto_actor_t *a);
void actor_exit(acto_ctx_t *ctx, acto_actor_t *a, int64_t reason);
void actor_shutdown_all(acto_runtime_t *rt);

/* net actors (actors/net.c): a listener on fd, already bound and
 * listening (the inspection endpoint binds first to learn its port).  The
 * listener owns fd from then on; on failure fd is closed. */
int  net_listen_fd(acto_ctx_t *ctx, int fd, const acto_listen_opts_t *opts, acto_pid_t *pid);

/* scheduling (sched.c) */
void sched_wake_slow(acto_ctx_t *ctx, acto_actor_t *a);
/* A send made `a` runnable: from a worker it runs next (locality).  Inline:
 * a request/reply hand-off does this once per message. */
static inline void sched_wake_send(acto_ctx_t *ctx, acto_actor_t *a)
{
    if (ACTO_LIKELY(ctx->kind == CTX_WORKER && ctx->w->next == NULL)) {
        ctx->w->next = a;
        return;
    }
    sched_wake_slow(ctx, a);
}
void sched_push(acto_ctx_t *ctx, acto_actor_t *a);
void sched_release_next(acto_worker_t *w);
void sched_notify(acto_runtime_t *rt);
void sched_gq_push(acto_runtime_t *rt, acto_actor_t **v, uint32_t n);
void *worker_main(void *arg);
void sched_signal_done(acto_runtime_t *rt);
void sched_wake_all(acto_runtime_t *rt);
void sched_kick(acto_runtime_t *rt);

/* contexts (runtime.c) */

void ctx_lock_root(acto_ctx_t *ctx);
void ctx_unlock_root(acto_ctx_t *ctx);
/* Only the shared root context needs a lock. */
static inline void ctx_lock(acto_ctx_t *ctx)
{ if (ACTO_UNLIKELY(ctx->kind == CTX_ROOT)) ctx_lock_root(ctx); }
static inline void ctx_unlock(acto_ctx_t *ctx)
{ if (ACTO_UNLIKELY(ctx->kind == CTX_ROOT)) ctx_unlock_root(ctx); }
static inline void ctx_epoch_begin(acto_ctx_t *ctx)
{ if (ctx->kind != CTX_WORKER) ck_epoch_begin(ctx->epoch, NULL); }
static inline void ctx_epoch_end(acto_ctx_t *ctx)
{ if (ctx->kind != CTX_WORKER) ck_epoch_end(ctx->epoch, NULL); }

/* park.c: futex (acto_runtime_run's caller waits on rt->done) */
void park_wait(uint32_t *word, uint32_t val, int64_t timeout_ns);
void park_wake(uint32_t *word, int n);
/* park.c: a worker sleeps in, and is woken through, its proactor */
void worker_sleep(acto_worker_t *w, int64_t timeout_ns);
void worker_wake(acto_worker_t *w);
unsigned worker_io(acto_worker_t *w);          /* reap completions (outside epoch) */
void worker_turn_io(acto_worker_t *w, unsigned turns);
/* The time bound (issue 3): a worker reaps at least every WORKER_POLL_NS
 * of busy time, however long its turns are, so one actor flooded with
 * messages (or with slow handlers) cannot hold back the timers and I/O
 * completions of the other actors on its worker.  The clock is read once
 * per TURN_POLL_MSGS messages the worker handles: between turns
 * (worker_turn, by the worker's message count) and inside a long turn,
 * which ends early when the bound is due (actor.c), so a reap follows.
 * So a due timer waits at most WORKER_POLL_NS + one clock resolution +
 * about TURN_POLL_MSGS handlers, whatever the batch size.  The clock is
 * CLOCK_MONOTONIC_COARSE: a vDSO read of a few ns with no TSC calibration;
 * its resolution is one kernel tick (1..4 ms), which rounds the budget up. */
#define WORKER_POLL_NS 1000000u
#define TURN_POLL_MSGS 8u
uint64_t worker_clock_ns(void);
static inline bool worker_poll_due(const acto_worker_t *w)
{
    return worker_clock_ns() >= w->poll_due;
}
/* After each actor turn (in epoch): submit what the turn queued; reap
 * every WORKER_REAP_TURNS turns, and when the time bound above is due, so
 * a busy worker leaves no completion waiting.  Inline: a turn that did no
 * I/O pays a few loads and branches.
 * Quiet-worker rule (issue 3): a reap enters the kernel only if the kernel
 * has something of this proactor's: SQEs to submit, an fd registered with
 * epoll (an op waiting for readiness), or io_uring completions it holds
 * (the ring's TASKRUN flag; a DEFER_TASKRUN ring without the flag: any
 * record in flight).  Commands (ncmd) and timers (the wheel's count, then
 * a vDSO clock read) are looked at in user space.  So a busy worker with
 * no I/O outstanding makes no system call, while one with I/O outstanding
 * still reaps it, and due timers still fire, within WORKER_REAP_TURNS
 * turns or the time bound, whichever comes first.  Reaping only between
 * turns keeps W3 (sched.c): no delivery while PARKED. */
#define WORKER_REAP_TURNS 16
static inline void worker_turn(acto_worker_t *w, unsigned turns)
{
    if (ACTO_UNLIKELY(w->io_flush) || turns % WORKER_REAP_TURNS == 0 ||
        w->ctx.messages - w->poll_msgs >= TURN_POLL_MSGS)
        worker_turn_io(w, turns);
}
int  worker_io_start(acto_worker_t *w);        /* ACTO_ESYS: the run must fail */
void worker_io_end(acto_worker_t *w);          /* in epoch */

#include "trace_inline.h"   /* the per-message trace hooks read the structures above */

#endif
