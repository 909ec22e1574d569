/* acto/runtime.h - the runtime: worker threads, scheduling, lifetime.
 *
 *   acto_runtime_t *rt;
 *   acto_runtime_new(&rt, NULL);            one worker per online CPU
 *   ... spawn actors, send them messages (acto_root(rt)) ...
 *   acto_runtime_run(rt);                   returns when quiescent or stopped
 *   acto_runtime_free(rt);
 */
#ifndef ACTO_RUNTIME_H
#define ACTO_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct acto_runtime acto_runtime_t;
typedef struct acto_ctx acto_ctx_t;

typedef struct acto_config {
    unsigned workers;      /* worker threads; 0 = number of online CPUs */
    unsigned batch;        /* max messages an actor handles per turn; 0 = 64 */
    uint64_t max_actors;   /* slot table size; 0 = 16M (virtual, touched lazily) */
    const char *trace_path;/* record a trace here (acto/trace.h); NULL = off,
                              unless the ACTO_TRACE environment variable is set */
    int backend;           /* I/O backend, ACTO_BACKEND_*; AUTO (0) = the
                              ACTO_BACKEND environment variable (uring|epoll),
                              else io_uring when usable here, else epoll */
    const char *inspect;   /* serve live snapshots on "HOST:PORT" (acto/inspect.h);
                              NULL = off, unless the ACTO_INSPECT environment
                              variable is set; a bare "PORT" is 127.0.0.1;
                              acto_runtime_new: ACTO_EINVAL (bad address),
                              ACTO_ESYS (cannot listen), ACTO_ENOMEM */
} acto_config_t;

/* I/O backends (acto_config_t.backend). */
enum { ACTO_BACKEND_AUTO = 0, ACTO_BACKEND_URING = 1, ACTO_BACKEND_EPOLL = 2 };

/* Fill cfg with defaults (all zero means "pick for me"). */
void acto_config_init(acto_config_t *cfg);

/* Create a runtime.  cfg may be NULL.  No thread starts before run. */
int acto_runtime_new(acto_runtime_t **rt, const acto_config_t *cfg);

/* Run the workers on this thread's behalf until the runtime is quiescent
 * (no actor has a pending message, nothing is in flight and no reference
 * from acto_runtime_ref is held) or acto_runtime_stop is called.  Returns 0
 * when quiescent or stopped, ACTO_ESTATE if already running, ACTO_ESYS if a
 * worker thread or its I/O ring could not be set up (e.g. out of file
 * descriptors; nothing was lost, a later run may succeed).  May be called again:
 * after a stop, pending messages stay queued and the next run handles them. */
int acto_runtime_run(acto_runtime_t *rt);

/* Ask run to return as soon as every worker has finished its current turn.
 * Safe from any thread and from inside actors.  Messages that are pending
 * stay queued (a later run continues them; free drops them).  A stop while
 * no run is executing is not lost: the next run returns at once. */
int acto_runtime_stop(acto_runtime_t *rt);

/* Free everything.  Must not be called while run is executing.  Live
 * actors get their terminate callback with ACTO_EXIT_SHUTDOWN, pending
 * messages are dropped (counted as dead letters) and all memory is freed. */
void acto_runtime_free(acto_runtime_t *rt);

/* Keep run from returning while a foreign thread still has work to hand in
 * (I/O and timers use the same count).  Each ref needs one unref. */
int acto_runtime_ref(acto_runtime_t *rt);
int acto_runtime_unref(acto_runtime_t *rt);

/* The runtime's shared context for threads that are not workers (main,
 * foreign threads).  Thread safe: calls through it are serialised by a lock.
 * A thread that sends a lot should use acto_thread_attach instead. */
acto_ctx_t *acto_root(acto_runtime_t *rt);

/* A private context for one foreign thread: lock-free sends with its own
 * allocation cache.  Use it from that thread only; detach before exit and
 * before acto_runtime_free. */
int acto_thread_attach(acto_runtime_t *rt, acto_ctx_t **ctx);
int acto_thread_detach(acto_ctx_t *ctx);

/* The I/O backend chosen at acto_runtime_new: "uring" or "epoll".  (A
 * worker whose own ring cannot be set up later still falls back to epoll.) */
const char *acto_runtime_backend(const acto_runtime_t *rt);

typedef struct acto_stats {
    uint64_t spawned;       /* actors spawned */
    uint64_t exited;        /* actors that exited */
    uint64_t live;          /* spawned - exited */
    uint64_t messages;      /* messages handled by receive (and system) */
    uint64_t dead_letters;  /* messages that reached no one */
    uint64_t steals;        /* successful steal operations */
    uint64_t stolen;        /* actors moved by steals */
    uint64_t sleeps;        /* times a worker parked */
    uint64_t wakeups;       /* times a worker was woken */
    unsigned workers;
} acto_stats_t;

/* A snapshot of counters.  Exact once run has returned; approximate
 * while workers run. */
int acto_runtime_stats(acto_runtime_t *rt, acto_stats_t *st);

/* Per-worker counters, for tests and tools.  i < stats.workers. */
typedef struct acto_worker_stats {
    uint64_t messages, steals, stolen, sleeps, wakeups, runs;
} acto_worker_stats_t;
int acto_runtime_worker_stats(acto_runtime_t *rt, unsigned i, acto_worker_stats_t *st);

#ifdef __cplusplus
}
#endif
#endif
