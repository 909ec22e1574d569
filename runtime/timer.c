/* runtime/timer.c - the public timer calls (acto/timer.h).  The timers
 * themselves live in each worker's proactor, on its timing wheel
 * (proactor.c, timerwheel.h). */
#include "internal.h"
#include "proactor.h"

int acto_timer_start(acto_ctx_t *ctx, uint64_t after_ns, uint64_t period_ns, uint32_t type,
                     uint64_t *id)
{
    return px_timer_start(ctx, after_ns, period_ns, type, id);
}

int acto_timer_cancel(acto_ctx_t *ctx, uint64_t id)
{
    return px_timer_cancel(ctx, id);
}
