/* examples/hello.c - the smallest acto program.
 *
 * main spawns one actor and sends it a string.  The actor prints the
 * greeting and exits.  With nothing left to do the runtime is quiescent, so
 * acto_runtime_run returns and main cleans up.
 *
 *   $ ./hello
 *   greeter: Hello from an acto actor!
 *   greeter: exited with reason 0
 *   hello: done (1 actor spawned, 1 exited)
 */
#include <inttypes.h>
#include <stdio.h>

#include <acto/acto.h>

/* Message types are ours to choose, below ACTO_MSG_SYSTEM. */
enum { MSG_GREET = 1 };

static int greeter_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)state;   /* this actor keeps no state */
    const char *s;
    size_t len;
    if (acto_msg_type(msg) != MSG_GREET || acto_msg_str(msg, &s, &len) != 0)
        return 0;  /* ignore anything else */
    /* The string points into the message body and is not NUL-terminated. */
    printf("greeter: %.*s\n", (int)len, s);
    /* Exit once this callback returns; terminate runs then. */
    return acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static void greeter_terminate(acto_ctx_t *ctx, void *state, int64_t reason)
{
    (void)ctx;
    (void)state;
    printf("greeter: exited with reason %" PRId64 "\n", reason);
}

static const acto_behavior_t greeter = {
    .name = "greeter",
    .receive = greeter_receive,
    .terminate = greeter_terminate,
};

int main(void)
{
    acto_runtime_t *rt;
    acto_pid_t pid;
    acto_stats_t st;

    int rc = acto_runtime_new(&rt, NULL);           /* one worker per CPU */
    if (rc != 0) {
        fprintf(stderr, "FAILED: acto_runtime_new: %s\n", acto_strerror(rc));
        return 1;
    }
    /* acto_root(rt) is the context for threads that are not workers. */
    rc = acto_spawn(acto_root(rt), &greeter, NULL, &pid);
    if (rc == 0)
        rc = acto_send_str(acto_root(rt), pid, MSG_GREET, "Hello from an acto actor!");
    if (rc == 0)
        rc = acto_runtime_run(rt);                   /* until quiescent */
    if (rc == 0)
        rc = acto_runtime_stats(rt, &st);
    acto_runtime_free(rt);
    if (rc != 0) {
        fprintf(stderr, "FAILED: %s\n", acto_strerror(rc));
        return 1;
    }
    printf("hello: done (%" PRIu64 " actor spawned, %" PRIu64 " exited)\n",
           st.spawned, st.exited);
    return st.exited == 1 ? 0 : 1;
}
