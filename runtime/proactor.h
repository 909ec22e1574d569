/* runtime/proactor.h - the proactor: asynchronous I/O and timers whose
 * completions come back to actors as messages (internal, not public).
 *
 * One proactor per worker (acto_px_t), with a backend behind a small table
 * of functions: io_uring (proactor_uring.c) or an epoll emulation
 * (proactor_epoll.c).  Nothing here is visible in include/acto/, so an IOCP
 * backend can be added behind the same calls.
 *
 * Shape, for a socket actor:
 *     px_fd_open(ctx, fd, &f);                 bind fd to this worker's proactor
 *     px_recv(ctx, f, 0, true, TAG_RX, NULL);  keep one (multishot) recv armed
 *     px_sendv(ctx, f, iov, n, TAG_TX, NULL);  coalesced send (bytes copied)
 *     ...receive gets PX_MSG(PX_RECV) with (tag, res, more, data)...
 *     px_close(ctx, f, TAG_CLOSE);             cancels the rest, closes, one
 *                                              PX_MSG(PX_CLOSE) comes back
 *
 * Ownership and lifetime (the invariants every backend keeps):
 *  P1 A completion record (px_op_t) belongs to the proactor of its fd.  It
 *     holds one reference for the proactor from submission until the
 *     backend has seen its FINAL completion (no "more" flag: for io_uring,
 *     the last CQE of that user_data), plus one for the caller if the caller
 *     asked for the pointer; it is freed when the last is dropped.  So a
 *     CQE can never name freed memory: the kernel holds user_data only while
 *     the proactor's reference is held.
 *  P2 A completion message carries copies (owner pid, tag, result, bytes),
 *     never a pointer to a record.  An owner that died gets nothing: the
 *     send fails with ACTO_ENOACTOR, the message is freed, and the proactor
 *     cancels the op itself.  A late completion is therefore harmless.  A
 *     PX_ACCEPT completion owns its new fd (MSG_F_OWNS_FD): freed without
 *     being received (failed send, mailbox drain after exit or at
 *     runtime_free) it is dropped with msg_drop, which closes the fd.
 *  P3 Only the proactor's own worker thread touches the ring/epoll set, a
 *     record's backend fields and the fd's op list.  Other threads (an actor
 *     that migrated, a foreign thread) hand their requests over through the
 *     proactor's command queue (mutex) and wake it.  The owner runs the
 *     queued commands before an op submitted on its own thread, so an
 *     actor's ops keep their order when it moves to the fd's worker.
 *  P4 After px_cancel (or px_close) no new message is sent for that op; a
 *     message already sent may still be in the mailbox, which is why every
 *     completion carries the caller's tag.
 *  P4' px_stop (recv and accept only) is the lossless cancel: after it,
 *     completions keep coming until the op's final one (more = false),
 *     which always comes unless px_cancel/px_close follows.  Pausing a
 *     reader needs this: bytes a multishot recv took from the socket exist
 *     only in its completions, so P4's dropping would lose them.
 *  P4'' A bounded multishot recv (px_recv_bounded) stops itself as px_stop
 *     would once it has delivered `burst` bytes: so the completions waiting
 *     in its owner's mailbox are at most burst + what the kernel had
 *     produced before the stop took effect, and an owner that re-arms on
 *     the final completion re-arms only after handling every chunk before
 *     it.  An unbounded multishot recv reads as fast as the peer writes,
 *     however far behind its owner is (the copy at reap, P5, frees the
 *     kernel buffer at once), so nothing else limits that queue.
 *  P5 Receive buffers belong to the proactor (the provided-buffer ring, or
 *     the op's own buffer) until the bytes are copied into the completion
 *     message; send bytes are copied into the op at submission.
 *  P6 Quiescence: every submitted op and every armed timer holds one count
 *     in rt->refs (the acto_runtime_ref count) until its final completion,
 *     cancel or fire, so acto_runtime_run cannot return while I/O is pending.
 *     Except ops on a daemon's fd (opened by an ACTOR_F_DAEMON actor: the
 *     inspection endpoint, inspect.h): they hold none, so a run ends when
 *     the user's work does; at its end P7 cancels them like any op.
 *  P7 When a run ends, each worker cancels the I/O still in flight in its
 *     proactor (owners get res = -ECANCELED, queued for the next run) and
 *     closes its ring: a SINGLE_ISSUER ring belongs to one thread, and each
 *     run has new threads.  Armed timers stay armed across runs.
 *  P8 Sends on one fd reach the socket in the order they were submitted.
 *     A send can end short of room, and neither backend keeps two of them
 *     in order by itself (epoll would try a new one at once, the kernel
 *     would issue a new SQE while a short one waits to be re-armed), so the
 *     core gives a backend one send of an fd at a time: of the fd's
 *     unfinished sends only the oldest is with the backend; the others
 *     wait (OP_WAITING) and the next goes when the one before finishes.
 *     A waiting send is cancelled or closed like any op (P4: no message)
 *     and ends with -ECANCELED when the run ends (P7).
 */
#ifndef ACTO_PROACTOR_H
#define ACTO_PROACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "acto/acto.h"

typedef struct acto_px acto_px_t;
typedef struct px_fd px_fd_t;
typedef struct px_op px_op_t;
struct acto_worker;

enum px_kind { PX_ACCEPT = 1, PX_CONNECT, PX_RECV, PX_SEND, PX_CLOSE, PX_NKIND };

/* Completion message types: in the runtime's reserved range (users cannot
 * send them) but below the system messages, so the owner's receive gets
 * them.  Body: a px_cbody_t, then `len` bytes of data.  Not msgpack: a
 * completion never leaves the process (its owner turns it into the user's
 * messages), and packing then scanning four msgpack values cost more
 * user-space instructions per echoed request than all the actor hand-offs
 * (callgrind, echo-50).  Read it with px_completion_parse only. */
#define PX_MSG_BASE 0xFFFF0100u
#define PX_MSG(kind) (PX_MSG_BASE + (uint32_t)(kind))
#define PX_MSG_KIND(type) \
    ((type) > PX_MSG_BASE && (type) < PX_MSG_BASE + PX_NKIND ? (int)((type) - PX_MSG_BASE) : 0)

typedef struct px_cbody {
    uint64_t tag;
    int64_t res;
    uint32_t more;       /* 0 or 1 */
    uint32_t len;        /* bytes of data after this header */
} px_cbody_t;

typedef struct px_completion {
    int kind;            /* enum px_kind */
    uint64_t tag;        /* as given at submission */
    int64_t res;         /* >= 0: bytes, or the accepted fd; < 0: -errno */
    bool more;           /* the op stays armed (multishot accept/recv) */
    const void *data;    /* PX_RECV: the bytes, inside the message */
    size_t len;
} px_completion_t;

/* Decode a completion message; ACTO_ETYPE if msg is not one. */
int px_completion_parse(acto_ctx_t *ctx, const acto_msg_t *msg, px_completion_t *c);

/* ---- backend selection ---------------------------------------------------- */
/* Which backend the runtime uses: cfg->backend, else $ACTO_BACKEND
 * (uring|epoll|auto), else auto = io_uring if a ring can be set up here,
 * epoll otherwise.  Test knobs: $ACTO_URING_FAIL=1 makes io_uring setup fail;
 * $ACTO_URING_SETUP=defer|coop|plain, $ACTO_URING_NO_MSG_RING=1 and
 * $ACTO_URING_NO_BUFRING=1 take the paths of older kernels. */
int px_choose_backend(const acto_config_t *cfg, int *backend);
const char *px_backend_name(int backend);

/* ---- lifetime (runtime.c, park.c) ----------------------------------------- */
int  px_new(acto_runtime_t *rt, struct acto_worker *w, int backend, acto_px_t **out);
void px_free(acto_px_t *px);               /* runtime_free: drops everything */
int  px_thread_start(acto_px_t *px);       /* on the worker thread, run start;
                                              ACTO_ESYS: no ring/epoll fd here */
void px_thread_end(acto_px_t *px);         /* on the worker thread, run end (P7) */
int  px_backend(const acto_px_t *px);

/* ---- the worker loop (park.c) --------------------------------------------- */
/* Submit what this turn queued (one system call for the whole batch). */
void px_flush(acto_px_t *px);
/* Handle what is ready: commands from other threads, completions, due
 * timers.  Sends messages: call inside an epoch section.  Returns how many
 * messages it delivered.  Makes a system call only when the kernel holds
 * something of this proactor's (the quiet-worker rule, internal.h). */
unsigned px_reap(acto_px_t *px);
/* Sleep until a completion, a wake-up or timeout_ns (< 0: no limit; the
 * next timer deadline shortens it).  Delivers nothing (call px_reap). */
void px_wait(acto_px_t *px, int64_t timeout_ns);
/* Wake px's worker from px_wait; any thread, any time (never lost: a wake
 * before the wait makes the wait return at once). */
void px_wake(acto_px_t *px);

/* ---- operations (from an actor's callbacks) ----------------------------------
 * All return 0 or a negative ACTO_E* code.  `out`, when not NULL, receives a
 * reference to the record (for px_cancel) that the caller must give back
 * with px_release.  The fd handle is bound to the proactor of the worker
 * that opened it (P3). */
int  px_fd_open(acto_ctx_t *ctx, int fd, px_fd_t **out);   /* sets O_NONBLOCK */
/* The same on worker `worker`'s proactor (< 0: as px_fd_open).  Ops from
 * another thread reach it as commands (P3), and their completions are
 * sent from that worker, so the actor that owns f soon runs there: this is
 * how a listener spreads its connections over the cores. */
int  px_fd_open_on(acto_ctx_t *ctx, int fd, int worker, px_fd_t **out);
/* The worker whose proactor has the fewest files (ties: round-robin). */
unsigned px_pick_worker(acto_runtime_t *rt);
int  px_fd_get(const px_fd_t *f);
/* Multishot accept: one PX_ACCEPT per connection (res = new fd, non-blocking,
 * close-on-exec), more = false when the op ended (error such as EMFILE):
 * submit again to resume. */
int  px_accept(acto_ctx_t *ctx, px_fd_t *f, uint64_t tag, px_op_t **out);
int  px_connect(acto_ctx_t *ctx, px_fd_t *f, const struct sockaddr *sa, socklen_t len,
                uint64_t tag, px_op_t **out);
/* max = 0: the backend's buffer size (16 KiB).  multishot: one PX_RECV per
 * chunk until end of stream (res 0) or an error; more tells whether it
 * stays.  A multishot recv on the io_uring provided-buffer ring returns
 * chunks of up to the ring's buffer size (16 KiB) whatever max says. */
int  px_recv(acto_ctx_t *ctx, px_fd_t *f, size_t max, bool multishot, uint64_t tag,
             px_op_t **out);
/* A multishot recv (max = 0) that ends itself, with a final completion
 * res = -ECANCELED after its chunks, once it has delivered `burst` bytes
 * or more (P4''); the owner submits a new one to go on.  burst: 1 KiB ..
 * 65535 KiB, rounded up to whole KiB; ACTO_EINVAL otherwise. */
int  px_recv_bounded(acto_ctx_t *ctx, px_fd_t *f, size_t burst, uint64_t tag, px_op_t **out);
/* Send all the bytes of iov[0..n) (copied now) in order, after those of
 * every earlier send on f (P8); the completion comes once all are sent
 * (res = total) or on the first error. */
int  px_sendv(acto_ctx_t *ctx, px_fd_t *f, const struct iovec *iov, int n, uint64_t tag,
              px_op_t **out);
/* Cancel every op of f, close the fd, deliver one PX_CLOSE, and give up
 * the caller's handle (f must not be used afterwards). */
int  px_close(acto_ctx_t *ctx, px_fd_t *f, uint64_t tag);
int  px_cancel(acto_ctx_t *ctx, px_op_t *op);
/* Stop a recv or accept without losing what it already took (P4'): every
 * completion the backend produced before the op ends is still delivered
 * (data the kernel already consumed, accepted fds), then exactly one final
 * completion with more = false (res = -ECANCELED if the stop ended it, or
 * whatever ended it first: data, end of stream, an error).  A one-shot
 * recv may complete with its data instead.  Submit a new recv to resume.
 * px_cancel or px_close after it wins (nothing more is sent).  ACTO_EINVAL
 * for other kinds. */
int  px_stop(acto_ctx_t *ctx, px_op_t *op);
void px_release(px_op_t *op);

/* ---- timers (acto_timer_start / acto_timer_cancel) ----------------------------
 * Timeouts are timers: a socket actor bounds a connect by starting one and
 * calling px_cancel on the connect when its message comes first. */
int  px_timer_start(acto_ctx_t *ctx, uint64_t after_ns, uint64_t period_ns, uint32_t type,
                    uint64_t *id);
int  px_timer_cancel(acto_ctx_t *ctx, uint64_t id);

#endif
