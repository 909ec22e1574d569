/* runtime/trace.h - trace recording hooks (internal; format in
 * docs/trace-format.md, version 2; public API in include/acto/trace.h).
 *
 * Each context that records owns a trace_ctx_t: a buffer of 64-bit words
 * that only the owning thread writes, holding events already in their file
 * form (packed units, raw clock ticks).  Full buffers (and partial ones when
 * a worker goes idle) are handed to the runtime's writer thread, which puts
 * a small msgpack block header in front of each and appends several with
 * one writev(): it never reads or encodes an event.
 *
 * What a unit leaves out, the reader derives from the track's own order:
 * message ids (per-track send count), a send's sender, cause and time (the
 * receive in progress on the track: its bracket), a receive's pid and type
 * (the send, when it was recorded earlier on the same track).  Each block
 * header carries the track's state at its start (send count, open bracket,
 * words written before it), so every block can be decoded on its own and a
 * lost block shows as a gap.
 *
 * Every hook is called as `if (ACTO_UNLIKELY(ctx->tr)) trace_xxx(...)`: with
 * tracing off the cost is one load and one predictable branch.
 *
 * Invariants:
 *   T1 A buffer is written by exactly one thread: the owner until it hands
 *      the buffer over (under the trace lock), then the writer thread until
 *      it returns it to the free list (under the same lock).
 *   T2 ctx->tr changes only while no thread runs the runtime's actors or
 *      sends through that context (start/stop, attach/detach).
 *   T3 One writev() carries only whole block records, so the file is always
 *      a prefix of whole records plus at most one partial write at its end.
 *   T4 A hook takes its words (which may hand the buffer over) before it
 *      changes the context's state (send count, bracket), so a block
 *      header's state is the state just before the block's first unit.
 *   T5 Send numbers never repeat within a process: a trace's contexts start
 *      counting above every number any earlier trace used, so a message
 *      still queued from an earlier trace never passes for one of this
 *      trace's sends (the short recv unit would name the wrong send).
 */
#ifndef ACTO_TRACE_INTERNAL_H
#define ACTO_TRACE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "acto/pid.h"
#include "acto/trace.h"

struct acto_ctx;
struct acto_actor;
struct acto_msg;
typedef struct trace trace_t;
typedef struct trace_buf trace_buf_t;

typedef struct trace_ctx {
    uint64_t *pos, *end;      /* free words in buf */
    trace_buf_t *buf;
    trace_t *t;
    uint64_t idbase;          /* message ids: (track + 1) << 48 | seq */
    uint64_t seq;             /* sends recorded so far (T5: from seq_floor) */
    uint64_t idlo, idn;       /* this trace's ids of this track: idlo + [0, idn) */
    acto_pid_t self;          /* bracket: the receiver, 0 outside a receive */
    uint64_t cause;           /* bracket: id of the message it handles (if self) */
    uint64_t bts;             /* bracket: its begin timestamp (if self) */
    uint64_t wbase;           /* words written (or lost) before buf */
    uint32_t track;
    uint32_t nrecv;           /* for sampling mailbox depth */
    bool tsc;                 /* clock: TSC ticks, else CLOCK_MONOTONIC ns */
    struct trace_ctx *spare;  /* on the trace's list of unused thread tracks */
} trace_ctx_t;

/* runtime lifetime (runtime.c) */
int  trace_init_runtime(acto_runtime_t *rt);   /* config / ACTO_TRACE */
void trace_close(acto_runtime_t *rt);          /* acto_runtime_free */
int  trace_ctx_open(struct acto_ctx *ctx);     /* attach */
void trace_ctx_close(struct acto_ctx *ctx);    /* detach */
void trace_ctx_flush(struct acto_ctx *ctx);    /* hand a partial buffer over */

/* hooks; send, receive begin and end are inline (trace_inline.h) */
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
/* For pub/sub (actors/chan.c).  publish: inside the receive of the message
 * that carried the publish (the reader names that message), after its
 * deliveries; nothing outside a receive.  deliver: right after the send of
 * the delivery was recorded on this context (the reader takes its id from
 * the track's latest send).  Subjects past TRACE_SUBJECT_MAX bytes are cut. */
#define TRACE_SUBJECT_MAX 1024u
void trace_publish(struct acto_ctx *ctx, const char *subject, size_t len, uint32_t deliveries);
void trace_deliver(struct acto_ctx *ctx, const char *subject, size_t len, acto_pid_t pid);

#endif
