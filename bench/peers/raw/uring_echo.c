/* bench/peers/raw/uring_echo.c - a single-threaded liburing echo server,
 * the "raw io_uring" peer acto's echo server is measured against.
 *
 *   uring_echo [--host IPV4] [--port PORT]      prints "listening on H:P"
 *
 * Multishot accept; multishot recv into a provided buffer ring; each
 * received buffer is sent back as it is and returned to the ring when the
 * send completes.  One send per connection is in flight at a time (two
 * sends on one socket may complete out of order); later buffers wait in a
 * small per-connection FIFO.  A connection whose FIFO is full (the peer
 * does not read) is closed.  One io_uring_submit per loop turn.
 * SINGLE_ISSUER | DEFER_TASKRUN when the kernel takes them. */
#include "common.h"

#include <liburing.h>
#include <sys/mman.h>

#define BUFS 4096               /* provided buffers (power of two) */
#define BUF_SIZE 4096
#define BGID 1
#define QMAX 256                /* unsent buffers per connection (1 MiB) */
#define OP_ACCEPT (1ull << 32)
#define OP_RECV (2ull << 32)
#define OP_SEND (3ull << 32)
#define OP_MASK (0xffull << 32)
#define GEN_SHIFT 40            /* user_data: gen << 40 | op | fd */

typedef struct {
    unsigned short bid[QMAX];
    unsigned len[QMAX], off;    /* off: bytes of bid[head] already sent */
    unsigned head, n;
    int open, closing;          /* closing: EOF seen, close when sent */
    uint64_t gen;               /* this fd's incarnation: late completions of
                                   an earlier connection on it are ignored */
} conn_t;

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static conn_t *conns;           /* by fd */
static int lfd;

static struct io_uring_sqe *sqe_get(void)
{
    struct io_uring_sqe *s;
    while (!(s = io_uring_get_sqe(&ring)))
        io_uring_submit(&ring);
    return s;
}

static void buf_return(unsigned short bid)
{
    io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, bid,
                          io_uring_buf_ring_mask(BUFS), 0);
    io_uring_buf_ring_advance(br, 1);
}

static void arm_accept(void)
{
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_multishot_accept(s, lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, OP_ACCEPT);
}

static void arm_recv(int fd)
{
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_recv_multishot(s, fd, NULL, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = BGID;
    io_uring_sqe_set_data64(s, conns[fd].gen << GEN_SHIFT | OP_RECV | (unsigned)fd);
}

static void send_head(int fd)
{
    conn_t *c = &conns[fd];
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_send(s, fd, bufs + (size_t)c->bid[c->head] * BUF_SIZE + c->off,
                       c->len[c->head] - c->off, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, c->gen << GEN_SHIFT | OP_SEND | (unsigned)fd);
}

/* Give back every queued buffer and close.  The shutdown ends a multishot
 * recv still armed (it holds the file open past close). */
static void conn_close(int fd)
{
    conn_t *c = &conns[fd];
    for (; c->n; c->n--, c->head = (c->head + 1) % QMAX)
        buf_return(c->bid[c->head]);
    uint64_t gen = c->gen;
    *c = (conn_t){ .gen = gen };
    shutdown(fd, SHUT_RDWR);
    close(fd);
}

static void on_recv(int fd, int res, unsigned flags)
{
    conn_t *c = &conns[fd];
    if (!c->open)
        return;                          /* late completion of a closed fd */
    if (res == -ENOBUFS) {               /* ring empty for a moment: re-arm */
        if (!(flags & IORING_CQE_F_MORE))
            arm_recv(fd);
        return;
    }
    if (res <= 0) {
        if (c->n == 0 || res < 0)
            conn_close(fd);
        else
            c->closing = 1;
        return;
    }
    unsigned short bid = (unsigned short)(flags >> IORING_CQE_BUFFER_SHIFT);
    if (c->n == QMAX) {
        buf_return(bid);
        conn_close(fd);
        return;
    }
    unsigned tail = (c->head + c->n++) % QMAX;
    c->bid[tail] = bid;
    c->len[tail] = (unsigned)res;
    if (c->n == 1)
        send_head(fd);
    if (!(flags & IORING_CQE_F_MORE))
        arm_recv(fd);
}

static void on_send(int fd, int res)
{
    conn_t *c = &conns[fd];
    if (!c->open || c->n == 0)
        return;
    if (res < 0) {
        conn_close(fd);
        return;
    }
    c->off += (unsigned)res;
    if (c->off < c->len[c->head]) {      /* short send: the rest */
        send_head(fd);
        return;
    }
    buf_return(c->bid[c->head]);
    c->head = (c->head + 1) % QMAX;
    c->n--;
    c->off = 0;
    if (c->n)
        send_head(fd);
    else if (c->closing)
        conn_close(fd);
}

static void on_accept(int res, unsigned flags)
{
    if (!(flags & IORING_CQE_F_MORE))
        arm_accept();
    if (res < 0) {
        fprintf(stderr, "uring_echo: accept: %s\n", strerror(-res));
        return;
    }
    int one = 1;
    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conns[res] = (conn_t){ .open = 1, .gen = (conns[res].gen + 1) & 0xffffff };
    arm_recv(res);
}

static void setup(void)
{
    struct io_uring_params p = { .flags = IORING_SETUP_SINGLE_ISSUER |
                                          IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE,
                                 .cq_entries = 16384 };
    if (io_uring_queue_init_params(1024, &ring, &p) != 0) {
        struct io_uring_params q = { .flags = IORING_SETUP_CQSIZE, .cq_entries = 16384 };
        int rc = io_uring_queue_init_params(1024, &ring, &q);
        if (rc) {
            errno = -rc;
            raw_die("uring_echo", "io_uring_queue_init");
        }
    }
    size_t ring_bytes = BUFS * sizeof(struct io_uring_buf);
    br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    bufs = malloc((size_t)BUFS * BUF_SIZE);
    if (br == MAP_FAILED || !bufs)
        raw_die("uring_echo", "buffers");
    struct io_uring_buf_reg reg = { .ring_addr = (unsigned long)br, .ring_entries = BUFS,
                                    .bgid = BGID };
    int rc = io_uring_register_buf_ring(&ring, &reg, 0);
    if (rc) {
        errno = -rc;
        raw_die("uring_echo", "io_uring_register_buf_ring");
    }
    io_uring_buf_ring_init(br);
    for (unsigned i = 0; i < BUFS; i++)
        io_uring_buf_ring_add(br, bufs + (size_t)i * BUF_SIZE, BUF_SIZE, (unsigned short)i,
                              io_uring_buf_ring_mask(BUFS), (int)i);
    io_uring_buf_ring_advance(br, BUFS);
}

int main(int argc, char **argv)
{
    lfd = raw_listen("uring_echo", argc, argv);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    conns = calloc(rl.rlim_cur, sizeof *conns);
    if (!conns)
        raw_die("uring_echo", "calloc");
    setup();
    arm_accept();
    for (;;) {
        int rc = io_uring_submit_and_wait(&ring, 1);
        if (rc < 0 && rc != -EINTR) {
            errno = -rc;
            raw_die("uring_echo", "io_uring_submit_and_wait");
        }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            uint64_t ud = cqe->user_data;
            int fd = (int)(ud & 0xffffffffu);
            if ((ud & OP_MASK) != OP_ACCEPT && conns[fd].gen != ud >> GEN_SHIFT)
                ud = 0;                  /* a closed connection's: drop it */
            switch (ud & OP_MASK) {
            case OP_ACCEPT: on_accept(cqe->res, cqe->flags); break;
            case OP_RECV:   on_recv(fd, cqe->res, cqe->flags); break;
            case OP_SEND:   on_send(fd, cqe->res); break;
            }
            seen++;
        }
        io_uring_cq_advance(&ring, seen);
    }
}
