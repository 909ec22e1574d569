/* runtime/trace.h - trace recording hooks (internal; format in
 * docs/trace-format.md, public API in include/acto/trace.h).
 *
 * Each context that records owns a trace_ctx_t: a buffer of raw events
 * (32-byte units, raw clock ticks) that only the owning thread writes, so
 * the hot path is a clock read, a few stores and a pointer bump.  Full
 * buffers (and partial ones when a worker goes idle) are handed to the
 * runtime's flush thread, which converts ticks to nanoseconds, encodes
 * msgpack records and appends them to the file with one write() per buffer.
 *
 * Every hook is called as `if (ACTO_UNLIKELY(ctx->tr)) trace_xxx(...)`: with
 * tracing off the cost is one load and one predictable branch.
 *
 * Invariants:
 *   T1 A buffer is written by exactly one thread: the owner until it hands
 *      the buffer over (under the trace lock), then the flush thread until
 *      it returns it to the free list (under the same lock).
 *   T2 ctx->tr changes only while no thread runs the runtime's actors or
 *      sends through that context (start/stop, attach/detach).
 *   T3 One write() carries only whole records, so the file is always a
 *      prefix of whole records plus at most one partial write at its end.
 */
#ifndef ACTO_TRACE_INTERNAL_H
#define ACTO_TRACE_INTERNAL_H

#include <stdint.h>
#include "acto/pid.h"
#include "acto/trace.h"

struct acto_ctx;
struct acto_actor;
struct acto_msg;
typedef struct trace trace_t;
typedef struct trace_buf trace_buf_t;

/* One raw event unit, converted by the flush thread.  Most events take one
 * unit; a send or spawn takes two (the second read as trace_ext_t), and a
 * spawn's behaviour name follows in further units.  32 bytes: half a cache
 * line, since writing fresh lines is most of the hot path's cost. */
typedef struct trace_ev {
    uint64_t ts;              /* clock ticks (trace.c: tsc or ns) */
    uint32_t kind;            /* ACTO_TRACE_* */
    uint32_t x;               /* kind-specific small field */
    uint64_t a, b;            /* kind-specific wide fields */
} trace_ev_t;
typedef struct trace_ext { uint64_t c, d, e, f; } trace_ext_t;
_Static_assert(sizeof(trace_ev_t) == 32 && sizeof(trace_ext_t) == 32, "raw trace unit size");

typedef struct trace_ctx {
    trace_ev_t *pos, *end;    /* free space in buf */
    trace_buf_t *buf;
    trace_t *t;
    uint64_t seq;             /* message ids: (track + 1) << 48 | seq */
    uint64_t cause;           /* id of the message being handled, or 0 */
    uint32_t track;
    uint32_t nrecv;           /* for sampling mailbox depth */
} trace_ctx_t;

/* runtime lifetime (runtime.c) */
int  trace_init_runtime(acto_runtime_t *rt);   /* config / ACTO_TRACE */
void trace_close(acto_runtime_t *rt);          /* acto_runtime_free */
int  trace_ctx_open(struct acto_ctx *ctx);     /* attach */
void trace_ctx_close(struct acto_ctx *ctx);    /* detach */
void trace_ctx_flush(struct acto_ctx *ctx);    /* hand a partial buffer over */

/* hooks */
void trace_send(struct acto_ctx *ctx, struct acto_msg *m, acto_pid_t to);
void trace_recv_begin(struct acto_ctx *ctx, struct acto_actor *a, struct acto_msg *m);
void trace_recv_end(struct acto_ctx *ctx);
void trace_spawn(struct acto_ctx *ctx, acto_pid_t pid, const char *name);
void trace_exit(struct acto_ctx *ctx, acto_pid_t pid, int64_t reason);
void trace_steal(struct acto_ctx *ctx, unsigned victim, uint32_t got);
void trace_sleep(struct acto_ctx *ctx);        /* also flushes the buffer */
void trace_wake(struct acto_ctx *ctx);
/* For the proactor (kinds reserved in the format; no caller yet). */
void trace_io_submit(struct acto_ctx *ctx, uint32_t op, int fd, uint64_t req, acto_pid_t pid);
void trace_io_complete(struct acto_ctx *ctx, uint32_t op, int fd, uint64_t req, int64_t result,
                       acto_pid_t pid);
void trace_timer_fire(struct acto_ctx *ctx, uint64_t timer, acto_pid_t pid);

#endif
