/* examples/echo_client.c - send N messages of S bytes to an echo server
 * and check that each comes back unchanged.
 *
 *   $ ./echo_client HOST:PORT [-n N] [-s S] [--backend uring|epoll]
 *   echo_client: 1000 messages of 512 bytes echoed in 21.3 ms
 *
 * One `client` actor owns the socket.  It writes one message, waits until
 * all S bytes have come back (in as many chunks as TCP makes of them),
 * compares them and writes the next: request/response, one in flight.
 * Exit status 0 if every byte matched, 1 otherwise ("FAILED" on stderr).
 */
#define _POSIX_C_SOURCE 200809L   /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <acto/acto.h>

typedef struct {
    const char *addr;
    long n;                    /* messages */
    size_t size;               /* bytes each */
    long done;                 /* messages echoed correctly */
    int failed;
    double ms;
} job_t;

typedef struct {
    job_t *job;
    acto_pid_t sock;
    unsigned char *msg;        /* the current message */
    size_t got;                /* bytes of it echoed so far */
    struct timespec t0;
} client_t;

static void fill(unsigned char *p, size_t n, long seq)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seq * 31 + (long)i * 7 + 1);
}

static int client_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    client_t *c = state;
    c->job = (job_t *)arg;
    if ((c->msg = malloc(c->job->size)) == NULL)
        return ACTO_ENOMEM;
    int rc = acto_connect(ctx, c->job->addr, 5000, NULL, &c->sock);
    if (rc) {
        fprintf(stderr, "echo_client: cannot connect to %s: %s\n", c->job->addr,
                acto_strerror(rc));
        free(c->msg);
    }
    return rc;
}

static int send_next(acto_ctx_t *ctx, client_t *c)
{
    if (c->job->done == c->job->n)
        return acto_sock_close(ctx, c->sock);
    fill(c->msg, c->job->size, c->job->done);
    c->got = 0;
    return acto_sock_write(ctx, c->sock, c->msg, c->job->size);
}

static int fail(acto_ctx_t *ctx, client_t *c, const char *what)
{
    fprintf(stderr, "echo_client: FAILED: %s after %ld messages\n", what, c->job->done);
    c->job->failed = 1;
    return acto_sock_close(ctx, c->sock);
}

static int client_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    client_t *c = state;
    job_t *j = c->job;
    const void *p;
    size_t n;
    int64_t code, err;
    struct timespec t1;
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_CONNECTED:
        clock_gettime(CLOCK_MONOTONIC, &c->t0);
        return send_next(ctx, c);
    case ACTO_MSG_NET_DATA:
        if (acto_msg_bin(msg, &p, &n) != 0)
            return ACTO_EPROTO;
        if (c->got + n > j->size || memcmp(c->msg + c->got, p, n) != 0)
            return fail(ctx, c, "echoed bytes differ");
        c->got += n;
        if (c->got < j->size)
            return 0;
        j->done++;
        return send_next(ctx, c);
    case ACTO_MSG_NET_PEER_CLOSED:
        return fail(ctx, c, "server closed the connection");
    case ACTO_MSG_NET_CLOSED:
        clock_gettime(CLOCK_MONOTONIC, &t1);
        j->ms = (double)(t1.tv_sec - c->t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - c->t0.tv_nsec) / 1e6;
        if (acto_msg_scan(ctx, msg, "[ii]", &code, &err) == 0 && code != 0) {
            fprintf(stderr, "echo_client: FAILED: connection: %s (errno %d)\n",
                    acto_strerror((int)code), (int)err);
            j->failed = 1;
        }
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    default:
        return 0;
    }
}

static void client_terminate(acto_ctx_t *ctx, void *state, int64_t reason)
{
    (void)ctx;
    (void)reason;
    free(((client_t *)state)->msg);
}

static const acto_behavior_t client = {
    .name = "client", .state_size = sizeof(client_t),
    .init = client_init, .receive = client_receive, .terminate = client_terminate,
};

int main(int argc, char **argv)
{
    job_t job = { .n = 1000, .size = 512 };
    acto_config_t cfg;
    acto_config_init(&cfg);
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (argv[i][0] != '-') {
            job.addr = argv[i];
            continue;
        }
        if (!v)
            break;
        if (strcmp(argv[i], "-n") == 0)
            job.n = atol(v);
        else if (strcmp(argv[i], "-s") == 0)
            job.size = (size_t)atol(v);
        else if (strcmp(argv[i], "--backend") == 0)
            cfg.backend = strcmp(v, "epoll") == 0 ? ACTO_BACKEND_EPOLL : ACTO_BACKEND_URING;
        else
            break;
        i++;
    }
    if (!job.addr || job.n < 0 || job.size == 0) {
        fprintf(stderr, "usage: echo_client HOST:PORT [-n N] [-s S] [--backend uring|epoll]\n");
        return 2;
    }
    acto_runtime_t *rt;
    int rc = acto_runtime_new(&rt, &cfg);
    if (rc == 0) {
        rc = acto_spawn(acto_root(rt), &client, &job, NULL);
        if (rc == 0)
            rc = acto_runtime_run(rt);
        acto_runtime_free(rt);
    }
    if (rc || job.failed || job.done != job.n) {
        fprintf(stderr, "echo_client: FAILED (%ld of %ld messages echoed)\n", job.done, job.n);
        return 1;
    }
    printf("echo_client: %ld messages of %zu bytes echoed in %.1f ms\n", job.n, job.size, job.ms);
    return 0;
}
