/* runtime/park.c - where threads sleep: acto_runtime_run's caller on a
 * futex, workers in their proactor (io_uring or epoll, see below). */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "proactor.h"

void park_wait(uint32_t *word, uint32_t val, int64_t timeout_ns)
{
    struct timespec ts, *tp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tp = &ts;
    }
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, tp, NULL, 0);
}

void park_wake(uint32_t *word, int n)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* ---- workers sleep in their proactor ---------------------------------------------
 * A worker with nothing to run sleeps in px_wait (io_uring_submit_and_wait
 * with a timeout, or epoll_wait), not on the futex: a completion, a due
 * timer or a wake-up all end the same sleep.  The park word keeps its
 * meaning for W1..W3 (sched.c); only the sleeping and waking moved here.
 * A wake is an eventfd write that the ring (a pending read) or the epoll set
 * watches, so a wake that comes before the sleep makes it return at once:
 * none is lost. */

void worker_sleep(acto_worker_t *w, int64_t timeout_ns)
{
    if (at_load_u32(&w->park) == PARK_PARKED)   /* as FUTEX_WAIT: not if woken */
        px_wait(w->px, timeout_ns);
}

void worker_wake(acto_worker_t *w)
{
    px_wake(w->px);
}

/* Completions and due timers, from the idle path (outside the epoch
 * section a worker holds while it runs actors: deliveries are sends). */
unsigned worker_io(acto_worker_t *w)
{
    w->poll_due = worker_clock_ns() + WORKER_POLL_NS;   /* a poll: the bound restarts */
    ck_epoch_begin(w->ctx.epoch, NULL);
    unsigned n = px_reap(w->px);
    ck_epoch_end(w->ctx.epoch, NULL);
    return n;
}

uint64_t worker_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* worker_turn (internal.h) decided there is something to do: a reap by
 * time (which restarts the time bound) or by turn count, else a flush. */
void worker_turn_io(acto_worker_t *w, unsigned turns)
{
    w->poll_msgs = w->ctx.messages;
    uint64_t now = worker_clock_ns();
    if (now >= w->poll_due) {
        w->poll_due = now + WORKER_POLL_NS;
        px_reap(w->px);
    } else if (turns % WORKER_REAP_TURNS == 0) {
        px_reap(w->px);
    } else {
        px_flush(w->px);
    }
}

int worker_io_start(acto_worker_t *w)
{
    w->poll_due = worker_clock_ns() + WORKER_POLL_NS;
    return px_thread_start(w->px);
}

void worker_io_end(acto_worker_t *w)
{
    px_thread_end(w->px);
}
