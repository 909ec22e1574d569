/* acto/actor.h - actors: behaviours, spawning, exit, monitors and links.
 *
 * An actor is a behaviour (a table of callbacks) plus a state block of
 * behaviour.state_size bytes that the runtime allocates and zeroes.  The
 * runtime calls receive once per message; it never runs one actor on two
 * threads at once, so the state needs no locking.
 */
#ifndef ACTO_ACTOR_H
#define ACTO_ACTOR_H

#include <stddef.h>
#include <stdint.h>
#include "pid.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct acto_msg acto_msg_t;

/* Exit reasons.  Anything other than NORMAL is abnormal and propagates
 * through links.  Users may use any other positive value. */
#define ACTO_EXIT_NORMAL   0
#define ACTO_EXIT_KILLED   1  /* acto_kill, or a linked actor died with KILLED */
#define ACTO_EXIT_NOPROC   2  /* the target did not exist (monitor/link) */
#define ACTO_EXIT_ERROR    3  /* receive or init returned an error */
#define ACTO_EXIT_SHUTDOWN 4  /* the runtime was freed */

typedef struct acto_behavior {
    const char *name;   /* shown in traces and errors */
    size_t state_size;  /* bytes of zeroed state handed to the callbacks */
    /* Runs inside acto_spawn, before the pid is returned.  arg is the spawn
     * argument.  A negative return fails the spawn with that code. */
    int (*init)(acto_ctx_t *ctx, void *state, const void *arg);
    /* Handles one message.  The message and its body are valid until
     * return.  A negative return makes the actor exit with ACTO_EXIT_ERROR. */
    int (*receive)(acto_ctx_t *ctx, void *state, const acto_msg_t *msg);
    /* Runs once when the actor exits, for any reason (also at
     * acto_runtime_free, with ACTO_EXIT_SHUTDOWN), but not if init failed. */
    void (*terminate)(acto_ctx_t *ctx, void *state, int64_t reason);
} acto_behavior_t;

/* Spawn an actor.  From a worker (ctx of a running actor), a foreign
 * thread (acto_root / acto_thread_attach) or init.  *pid may be NULL. */
int acto_spawn(acto_ctx_t *ctx, const acto_behavior_t *beh, const void *arg,
               acto_pid_t *pid);

/* The actor this context is running (ACTO_PID_NONE on a foreign context). */
acto_pid_t acto_self(const acto_ctx_t *ctx);
acto_runtime_t *acto_ctx_runtime(const acto_ctx_t *ctx);

/* Exit the running actor after the current callback returns. */
int acto_exit(acto_ctx_t *ctx, int64_t reason);

/* Make target exit with reason (an exit signal, as if from a link: a
 * trapping target gets an ACTO_MSG_EXIT message instead unless reason is
 * ACTO_EXIT_KILLED). */
int acto_kill(acto_ctx_t *ctx, acto_pid_t target, int64_t reason);

/* Watch target: when it exits, the caller gets one ACTO_MSG_DOWN message
 * (body [pid, reason, ref]).  If target is already dead the DOWN comes with
 * ACTO_EXIT_NOPROC.  *ref (may be NULL) identifies it for acto_demonitor. */
int acto_monitor(acto_ctx_t *ctx, acto_pid_t target, uint64_t *ref);
int acto_demonitor(acto_ctx_t *ctx, acto_pid_t target, uint64_t ref);

/* Link the caller and target both ways: when either exits abnormally the
 * other gets an exit signal and exits with the same reason, unless it traps
 * exits, in which case it gets an ACTO_MSG_EXIT message (body [pid,
 * reason]).  Returns ACTO_ENOACTOR if target is already dead. */
int acto_link(acto_ctx_t *ctx, acto_pid_t target);
int acto_unlink(acto_ctx_t *ctx, acto_pid_t target);
int acto_trap_exit(acto_ctx_t *ctx, int on);

#ifdef __cplusplus
}
#endif
#endif
