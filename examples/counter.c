/* examples/counter.c - an actor that owns state, driven from main.
 *
 * The counter actor keeps a long.  ADD (an i64 body) adds to it; GET makes
 * it reply VALUE to whoever sent the GET.  main is not an actor and has no
 * mailbox, so it asks through a small "reader" actor that prints the reply.
 *
 *   $ ./counter
 *   reader: counter = 5050
 */
#include <stdio.h>

#include <acto/acto.h>

enum { MSG_ADD = 1, MSG_GET, MSG_VALUE, MSG_ASK };

/* ---- the counter ------------------------------------------------------ */
typedef struct { long count; } counter_state_t;   /* zeroed by the runtime */

static int counter_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    counter_state_t *c = state;     /* only this actor touches it: no locks */
    int64_t n;
    switch (acto_msg_type(msg)) {
    case MSG_ADD:
        if (acto_msg_i64(msg, &n) != 0)
            return ACTO_EPROTO;      /* a negative return exits the actor */
        c->count += n;
        return 0;
    case MSG_GET:                    /* reply to the sender of this message */
        return acto_reply_i64(ctx, msg, MSG_VALUE, c->count);
    default:
        return 0;
    }
}

static const acto_behavior_t counter = {
    .name = "counter", .state_size = sizeof(counter_state_t), .receive = counter_receive,
};

/* ---- the reader: ASK [counter pid] -> GET to it; VALUE -> print -------- */
static int reader_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)state;
    acto_pid_t counter_pid;
    int64_t v;
    if (acto_msg_type(msg) == MSG_ASK &&
        acto_msg_scan(ctx, msg, "p", &counter_pid) == 0)
        return acto_send_empty(ctx, counter_pid, MSG_GET);
    if (acto_msg_type(msg) == MSG_VALUE && acto_msg_i64(msg, &v) == 0) {
        printf("reader: counter = %lld\n", (long long)v);
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    }
    return 0;
}

static const acto_behavior_t reader = { .name = "reader", .receive = reader_receive };

int main(void)
{
    acto_runtime_t *rt;
    acto_pid_t c, r;
    int rc = acto_runtime_new(&rt, NULL);
    if (rc != 0) {
        fprintf(stderr, "FAILED: acto_runtime_new: %s\n", acto_strerror(rc));
        return 1;
    }
    acto_ctx_t *root = acto_root(rt);   /* main's context */
    rc = acto_spawn(root, &counter, NULL, &c);
    if (rc == 0)
        rc = acto_spawn(root, &reader, NULL, &r);
    for (int i = 1; i <= 100 && rc == 0; i++)
        rc = acto_send_i64(root, c, MSG_ADD, i);     /* 1 + 2 + ... + 100 */
    /* The reader sends GET only when ASK arrives, and main sends ASK after
     * every ADD, so the GET lands in the counter's mailbox behind them. */
    if (rc == 0)
        rc = acto_send_fmt(root, r, MSG_ASK, "p", c);
    if (rc == 0)
        rc = acto_runtime_run(rt);  /* returns when every mailbox is empty */
    acto_runtime_free(rt);          /* the counter gets terminate(SHUTDOWN) */
    if (rc != 0)
        fprintf(stderr, "FAILED: %s\n", acto_strerror(rc));
    return rc != 0;
}
