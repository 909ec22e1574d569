/* examples/echo_server.c - a TCP echo server: one actor per connection.
 *
 *   $ ./echo_server [--port PORT] [--host HOST] [--workers N]
 *                   [--backend uring|epoll] [--conns N]
 *   listening on 127.0.0.1:40123
 *
 * --port 0 (the default) lets the system pick a port; the line above says
 * which.  --conns N: stop after N connections have closed (0 = never).
 *
 * A `server` actor owns the listener.  The listener spawns one `echo`
 * actor per connection, which owns that connection's socket actor and
 * writes back every chunk it receives.  A peer that does not read what it
 * sent is disconnected when the socket's outbound queue is full
 * (ACTO_EAGAIN): an echo server has nowhere else to put the bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <acto/acto.h>

enum { MSG_CONN_DONE = 1 };

typedef struct {
    const char *addr;          /* "host:port" to listen on */
    long conns;                /* stop after this many closed (0 = never) */
} server_cfg_t;

typedef struct { const server_cfg_t *cfg; acto_pid_t self, listener; long done; } server_t;
typedef struct { acto_pid_t server; } echo_t;

/* ---- one connection ---------------------------------------------------------- */

static int echo_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    ((echo_t *)state)->server = *(const acto_pid_t *)arg;
    return 0;
}

static int echo_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    echo_t *e = state;
    acto_pid_t sock = acto_msg_from(msg);
    const void *p;
    size_t n;
    int64_t code, err;
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_DATA:
        if (acto_msg_bin(msg, &p, &n) != 0)
            return ACTO_EPROTO;
        return acto_sock_write(ctx, sock, p, n);
    case ACTO_MSG_NET_PEER_CLOSED:     /* everything echoed is queued: close */
        return acto_sock_close(ctx, sock);
    case ACTO_MSG_NET_ERROR:           /* a refused write: the peer is not reading */
        if (acto_msg_scan(ctx, msg, "[ii]", &code, &err) == 0 && code == ACTO_EAGAIN)
            (void)acto_kill(ctx, sock, ACTO_EXIT_KILLED);   /* drops the queue; CLOSED follows */
        return 0;
    case ACTO_MSG_NET_CLOSED:
        (void)acto_send_empty(ctx, e->server, MSG_CONN_DONE);
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    default:
        return 0;
    }
}

static const acto_behavior_t echo = {
    .name = "echo", .state_size = sizeof(echo_t),
    .init = echo_init, .receive = echo_receive,
};

/* ---- the server: owns the listener ----------------------------------------------- */

static int server_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    server_t *s = state;
    s->cfg = arg;
    s->self = acto_self(ctx);
    /* The listener keeps the arg pointer and passes it to every echo
     * actor's init: it points into this state, which outlives the listener
     * (the server exits only after the listener's CLOSED). */
    acto_listen_opts_t lo = { .behavior = &echo, .arg = &s->self };
    int rc = acto_listen(ctx, s->cfg->addr, &lo, &s->listener);
    if (rc)
        fprintf(stderr, "echo_server: cannot listen on %s: %s\n", s->cfg->addr,
                acto_strerror(rc));
    return rc;
}

static int server_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    server_t *s = state;
    const char *a;
    size_t alen;
    uint64_t port;
    int64_t code, err;
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_LISTENING:
        if (acto_msg_scan(ctx, msg, "[su]", &a, &alen, &port) != 0)
            return ACTO_EPROTO;
        printf("listening on %.*s\n", (int)alen, a);
        fflush(stdout);
        return 0;
    case ACTO_MSG_NET_ERROR:           /* e.g. out of file descriptors */
        if (acto_msg_scan(ctx, msg, "[ii]", &code, &err) == 0)
            fprintf(stderr, "echo_server: accept: %s (errno %d)\n",
                    acto_strerror((int)code), (int)err);
        return 0;
    case MSG_CONN_DONE:
        if (s->cfg->conns > 0 && ++s->done == s->cfg->conns)
            return acto_sock_close(ctx, s->listener);
        return 0;
    case ACTO_MSG_NET_CLOSED:          /* the listener: nothing left to do */
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    default:
        return 0;
    }
}

static const acto_behavior_t server = {
    .name = "server", .state_size = sizeof(server_t),
    .init = server_init, .receive = server_receive,
};

static int usage(void)
{
    fprintf(stderr, "usage: echo_server [--port PORT] [--host HOST] [--workers N]"
                    " [--backend uring|epoll] [--conns N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port = "0";
    acto_config_t cfg;
    acto_config_init(&cfg);
    server_cfg_t sc = { 0 };
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        if (strcmp(argv[i], "--port") == 0)
            port = v;
        else if (strcmp(argv[i], "--host") == 0)
            host = v;
        else if (strcmp(argv[i], "--workers") == 0)
            cfg.workers = (unsigned)atoi(v);
        else if (strcmp(argv[i], "--conns") == 0)
            sc.conns = atol(v);
        else if (strcmp(argv[i], "--backend") == 0 && strcmp(v, "uring") == 0)
            cfg.backend = ACTO_BACKEND_URING;
        else if (strcmp(argv[i], "--backend") == 0 && strcmp(v, "epoll") == 0)
            cfg.backend = ACTO_BACKEND_EPOLL;
        else
            return usage();
        i++;
    }
    char addr[300];
    /* An IPv6 host needs brackets: "[::1]:PORT". */
    snprintf(addr, sizeof addr, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
    sc.addr = addr;

    acto_runtime_t *rt;
    int rc = acto_runtime_new(&rt, &cfg);
    if (rc) {
        fprintf(stderr, "echo_server: %s\n", acto_strerror(rc));
        return 1;
    }
    rc = acto_spawn(acto_root(rt), &server, &sc, NULL);
    if (rc == 0)
        rc = acto_runtime_run(rt);   /* returns after --conns connections */
    acto_runtime_free(rt);
    return rc ? 1 : 0;
}
