/* acto/timer.h - timers that deliver a message to the actor that set them.
 *
 *   uint64_t id;
 *   acto_timer_start(ctx, 50 * 1000000, 0, MSG_TICK, &id);   one-shot, 50 ms
 *   acto_timer_start(ctx, 0, 1000000000, MSG_SEC, &id);      every second
 *   acto_timer_cancel(ctx, id);
 *
 * The message has the given type, sender ACTO_PID_NONE and the timer id as
 * its body (a msgpack uint: acto_msg_u64).  A timer never fires early: the
 * message is sent no sooner than after_ns from the start call (and for a
 * periodic timer, the k-th message no sooner than after_ns + k*period_ns;
 * periods that passed while the worker was busy are skipped, not queued up).
 * Timers live in a per-worker timing wheel; while one is armed the runtime
 * is not quiescent (acto_runtime_run does not return).  A timer whose actor
 * has exited is dropped when it next fires.
 */
#ifndef ACTO_TIMER_H
#define ACTO_TIMER_H

#include <stdint.h>
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Start a timer for the calling actor (ctx must be running one: in
 * receive or init; ACTO_ESTATE otherwise).  period_ns = 0: one-shot.
 * type must be below ACTO_MSG_SYSTEM.  *id (may be NULL) names it for
 * acto_timer_cancel. */
int acto_timer_start(acto_ctx_t *ctx, uint64_t after_ns, uint64_t period_ns, uint32_t type,
                     uint64_t *id);

/* Cancel a timer.  From the worker that owns the timer (the one the
 * starting actor ran on) the result is exact: 0 if it was armed (no message
 * will be sent from now on), ACTO_ESTATE if it had already fired (one-shot)
 * or been cancelled.  From any other thread the request is handed to that
 * worker and 0 means "accepted": a message already on its way may still
 * arrive.  ACTO_EINVAL for an id that was never valid. */
int acto_timer_cancel(acto_ctx_t *ctx, uint64_t id);

#ifdef __cplusplus
}
#endif
#endif
