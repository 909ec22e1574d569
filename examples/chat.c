/* examples/chat.c - a line-based TCP chat room: one actor per connection,
 * one room actor that fans lines out to every member.
 *
 *   $ ./chat [--port PORT] [--host HOST] [--workers N]
 *            [--backend uring|epoll] [--conns N]
 *   listening on 127.0.0.1:40123
 *   $ nc 127.0.0.1 40123
 *   * welcome user1, 1 here
 *   * user2 joined
 *   user2: hi all
 *
 * Each connection gets a `member` actor (spawned by the listener) that owns
 * its socket, cuts the byte stream into lines and hands each line to the
 * `room`.  The room prefixes it with the sender's name and sends it to every
 * other member, which writes it to its socket.  Joining is connecting;
 * leaving is closing: the room monitors each member, so a member that exits
 * for any reason (peer closed, reset, crash) is removed and announced.
 *
 * Bad input: a line longer than MAX_LINE bytes gets "* error: line too
 * long" and the connection is closed.  A member that does not read what
 * the room sends it (its socket refuses a write, ACTO_EAGAIN) is
 * disconnected rather than letting its queue grow; the others go on.
 * --conns N: stop after N connections have closed (0 = never).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <acto/acto.h>

#define MAX_LINE 1024

enum {
    MSG_JOIN = 1,   /* member -> room: my connection is up (nil) */
    MSG_LINE,       /* member -> room: one line, without "\n" (bin) */
    MSG_TEXT,       /* room -> member: write these bytes (bin) */
};

typedef struct { const char *addr; long conns; } chat_cfg_t;

typedef struct { acto_pid_t pid; unsigned id; } member_ref_t;

typedef struct {
    const chat_cfg_t *cfg;
    acto_pid_t self, listener;
    member_ref_t *m;            /* current members, in joining order */
    size_t n, cap;
    unsigned next_id;
    long closed;
} room_t;

typedef struct {
    acto_pid_t room, sock;
    int closing;                /* closed for a bad line: ignore the rest */
    size_t len;                 /* bytes of an unfinished line in buf */
    char buf[MAX_LINE];
} member_t;

/* ---- one connection ---------------------------------------------------------- */

static int member_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    ((member_t *)state)->room = *(const acto_pid_t *)arg;
    return 0;
}

/* Cut complete lines out of the received bytes and pass them to the room. */
static int member_data(acto_ctx_t *ctx, member_t *m, const char *p, size_t n)
{
    for (size_t i = 0; i < n && !m->closing; i++) {
        if (p[i] == '\n') {
            size_t len = m->len && m->buf[m->len - 1] == '\r' ? m->len - 1 : m->len;
            m->len = 0;
            int rc = acto_send_bin(ctx, m->room, MSG_LINE, m->buf, len);
            if (rc)
                return rc;
        } else if (m->len == MAX_LINE) {
            static const char err[] = "* error: line too long (max 1024 bytes)\n";
            (void)acto_sock_write(ctx, m->sock, err, sizeof err - 1);
            m->closing = 1;
            return acto_sock_close(ctx, m->sock);   /* CLOSED follows */
        } else {
            m->buf[m->len++] = p[i];
        }
    }
    return 0;
}

static int member_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    member_t *m = state;
    const void *p;
    size_t n;
    int64_t code, err;
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_CONNECTED:
        m->sock = acto_msg_from(msg);
        return acto_send_empty(ctx, m->room, MSG_JOIN);
    case ACTO_MSG_NET_DATA:
        if (acto_msg_bin(msg, &p, &n) != 0)
            return ACTO_EPROTO;
        return member_data(ctx, m, p, n);
    case MSG_TEXT:
        if (acto_msg_bin(msg, &p, &n) != 0)
            return ACTO_EPROTO;
        return m->sock ? acto_sock_write(ctx, m->sock, p, n) : 0;
    case ACTO_MSG_NET_PEER_CLOSED:   /* the client left (an unfinished line is dropped) */
        return acto_sock_close(ctx, acto_msg_from(msg));
    case ACTO_MSG_NET_ERROR:         /* a refused write: this client does not read */
        if (acto_msg_scan(ctx, msg, "[ii]", &code, &err) == 0 && code == ACTO_EAGAIN)
            (void)acto_kill(ctx, acto_msg_from(msg), ACTO_EXIT_KILLED);
        return 0;
    case ACTO_MSG_NET_CLOSED:        /* the room sees our exit through its monitor */
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    default:
        return 0;
    }
}

static const acto_behavior_t member = {
    .name = "member", .state_size = sizeof(member_t),
    .init = member_init, .receive = member_receive,
};

/* ---- the room ------------------------------------------------------------------------- */

static member_ref_t *room_find(room_t *r, acto_pid_t pid)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->m[i].pid == pid)
            return &r->m[i];
    return NULL;
}

/* Send text to every member but `except` (0 = to all).  A member that has
 * just exited is skipped: its DOWN is on the way. */
static void room_say(acto_ctx_t *ctx, room_t *r, acto_pid_t except, const char *text, size_t len)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->m[i].pid != except)
            (void)acto_send_bin(ctx, r->m[i].pid, MSG_TEXT, text, len);
}

static int room_join(acto_ctx_t *ctx, room_t *r, acto_pid_t pid)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        member_ref_t *m = realloc(r->m, cap * sizeof *m);
        if (!m)
            return acto_kill(ctx, pid, ACTO_EXIT_KILLED);   /* refuse this one only */
        r->m = m;
        r->cap = cap;
    }
    int rc = acto_monitor(ctx, pid, NULL);   /* its exit = it left */
    if (rc)
        return rc;
    unsigned id = ++r->next_id;
    r->m[r->n++] = (member_ref_t){ pid, id };
    char text[128];
    int len = snprintf(text, sizeof text, "* user%u joined\n", id);
    room_say(ctx, r, pid, text, (size_t)len);
    len = snprintf(text, sizeof text, "* welcome user%u, %zu here\n", id, r->n);
    return acto_send_bin(ctx, pid, MSG_TEXT, text, (size_t)len);
}

static int room_line(acto_ctx_t *ctx, room_t *r, acto_pid_t from, const acto_msg_t *msg)
{
    const void *p;
    size_t n;
    member_ref_t *m = room_find(r, from);
    if (!m || acto_msg_bin(msg, &p, &n) != 0 || n > MAX_LINE)
        return 0;                       /* not a member (any more): drop it */
    char text[MAX_LINE + 32];
    int head = snprintf(text, sizeof text, "user%u: ", m->id);
    memcpy(text + head, p, n);
    text[(size_t)head + n] = '\n';
    room_say(ctx, r, from, text, (size_t)head + n + 1);
    return 0;
}

static int room_left(acto_ctx_t *ctx, room_t *r, const acto_msg_t *msg)
{
    acto_pid_t pid;
    int64_t reason;
    uint64_t ref;
    member_ref_t *m;
    if (acto_msg_scan(ctx, msg, "[piu]", &pid, &reason, &ref) != 0 || !(m = room_find(r, pid)))
        return 0;
    unsigned id = m->id;
    *m = r->m[--r->n];                  /* order of members does not matter */
    char text[64];
    int len = snprintf(text, sizeof text, "* user%u left\n", id);
    room_say(ctx, r, 0, text, (size_t)len);
    if (r->cfg->conns > 0 && ++r->closed == r->cfg->conns)
        return acto_sock_close(ctx, r->listener);
    return 0;
}

static int room_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    room_t *r = state;
    r->cfg = arg;
    r->self = acto_self(ctx);
    /* Every member's init gets &r->self: the room outlives the listener. */
    acto_listen_opts_t lo = { .behavior = &member, .arg = &r->self };
    int rc = acto_listen(ctx, r->cfg->addr, &lo, &r->listener);
    if (rc)
        fprintf(stderr, "chat: cannot listen on %s: %s\n", r->cfg->addr, acto_strerror(rc));
    return rc;
}

static int room_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    room_t *r = state;
    const char *a;
    size_t alen;
    uint64_t port;
    int64_t code, err;
    switch (acto_msg_type(msg)) {
    case MSG_JOIN:
        return room_join(ctx, r, acto_msg_from(msg));
    case MSG_LINE:
        return room_line(ctx, r, acto_msg_from(msg), msg);
    case ACTO_MSG_DOWN:
        return room_left(ctx, r, msg);
    case ACTO_MSG_NET_LISTENING:
        if (acto_msg_scan(ctx, msg, "[su]", &a, &alen, &port) != 0)
            return ACTO_EPROTO;
        printf("listening on %.*s\n", (int)alen, a);
        fflush(stdout);
        return 0;
    case ACTO_MSG_NET_ERROR:            /* accept failed, e.g. out of descriptors */
        if (acto_msg_scan(ctx, msg, "[ii]", &code, &err) == 0)
            fprintf(stderr, "chat: accept: %s (errno %d)\n", acto_strerror((int)code), (int)err);
        return 0;
    case ACTO_MSG_NET_CLOSED:           /* the listener: --conns reached */
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    default:
        return 0;
    }
}

static void room_terminate(acto_ctx_t *ctx, void *state, int64_t reason)
{
    (void)ctx;
    (void)reason;
    free(((room_t *)state)->m);
}

static const acto_behavior_t room = {
    .name = "room", .state_size = sizeof(room_t),
    .init = room_init, .receive = room_receive, .terminate = room_terminate,
};

static int usage(void)
{
    fprintf(stderr, "usage: chat [--port PORT] [--host HOST] [--workers N]"
                    " [--backend uring|epoll] [--conns N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port = "0";
    acto_config_t cfg;
    acto_config_init(&cfg);
    chat_cfg_t cc = { 0 };
    for (int i = 1; i < argc; i += 2) {
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
            cc.conns = atol(v);
        else if (strcmp(argv[i], "--backend") == 0 && strcmp(v, "uring") == 0)
            cfg.backend = ACTO_BACKEND_URING;
        else if (strcmp(argv[i], "--backend") == 0 && strcmp(v, "epoll") == 0)
            cfg.backend = ACTO_BACKEND_EPOLL;
        else
            return usage();
    }
    char addr[300];
    snprintf(addr, sizeof addr, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
    cc.addr = addr;

    acto_runtime_t *rt;
    int rc = acto_runtime_new(&rt, &cfg);
    if (rc) {
        fprintf(stderr, "chat: %s\n", acto_strerror(rc));
        return 1;
    }
    rc = acto_spawn(acto_root(rt), &room, &cc, NULL);
    if (rc == 0)
        rc = acto_runtime_run(rt);   /* returns after --conns connections */
    acto_runtime_free(rt);
    return rc ? 1 : 0;
}
