/* bench/peers/raw/epoll_echo.c - a tight single-threaded epoll echo server,
 * the "raw epoll" peer acto's echo server is measured against.
 *
 *   epoll_echo [--host IPV4] [--port PORT]      prints "listening on H:P"
 *
 * Level-triggered.  A connection reads into one shared buffer and writes
 * straight back; only bytes the kernel would not take are kept (per
 * connection), and it stops reading until they are gone, so memory stays
 * bounded by one read per connection. */
#include "common.h"

#include <fcntl.h>
#include <sys/epoll.h>

typedef struct {
    char *pend;       /* unsent bytes, or NULL */
    size_t len, off;
} conn_t;

static int ep;
static conn_t *conns;   /* by fd */

static void conn_close(int fd)
{
    free(conns[fd].pend);
    conns[fd] = (conn_t){ 0 };
    close(fd);
}

static void watch(int fd, int op, uint32_t ev)
{
    struct epoll_event e = { .events = ev, .data.fd = fd };
    if (epoll_ctl(ep, op, fd, &e) != 0)
        raw_die("epoll_echo", "epoll_ctl");
}

/* Send what is pending; 1 when all is gone, 0 if some is left, -1 on error. */
static int flush(int fd)
{
    conn_t *c = &conns[fd];
    while (c->off < c->len) {
        ssize_t n = send(fd, c->pend + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->off += (size_t)n;
    }
    free(c->pend);
    *c = (conn_t){ 0 };
    return 1;
}

static void on_readable(int fd)
{
    static char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
        if (n == 0 || errno != EAGAIN)
            conn_close(fd);
        return;
    }
    ssize_t w = send(fd, buf, (size_t)n, MSG_NOSIGNAL);
    if (w == n)
        return;
    if (w < 0 && errno != EAGAIN) {
        conn_close(fd);
        return;
    }
    size_t done = w < 0 ? 0 : (size_t)w;   /* keep the rest; wait for EPOLLOUT */
    conn_t *c = &conns[fd];
    c->len = (size_t)n - done;
    c->off = 0;
    c->pend = malloc(c->len);
    if (!c->pend) {
        conn_close(fd);
        return;
    }
    memcpy(c->pend, buf + done, c->len);
    watch(fd, EPOLL_CTL_MOD, EPOLLOUT);
}

static void on_accept(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR)
                perror("epoll_echo: accept");   /* e.g. EMFILE: try again later */
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        watch(fd, EPOLL_CTL_ADD, EPOLLIN);
    }
}

int main(int argc, char **argv)
{
    int lfd = raw_listen("epoll_echo", argc, argv);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    conns = calloc(rl.rlim_cur, sizeof *conns);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || ep < 0)
        raw_die("epoll_echo", "setup");
    fcntl(lfd, F_SETFL, O_NONBLOCK);
    watch(lfd, EPOLL_CTL_ADD, EPOLLIN);
    struct epoll_event evs[512];
    for (;;) {
        int n = epoll_wait(ep, evs, 512, -1);
        if (n < 0 && errno != EINTR)
            raw_die("epoll_echo", "epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd)
                on_accept(lfd);
            else if (conns[fd].pend) {
                int r = flush(fd);
                if (r < 0)
                    conn_close(fd);
                else if (r > 0)
                    watch(fd, EPOLL_CTL_MOD, EPOLLIN);
            } else
                on_readable(fd);
        }
    }
}
