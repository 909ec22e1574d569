/* tools/bench-pubsub/wire.c - the three protocols acto-bench-pubsub speaks.
 *
 * acto: docs/protocol.md, encoded with net/proto.h.  Deliveries of the
 * common shape ([10, [sid, subject, reply, bin payload]] in the encodings
 * the broker writes) are cut out of the byte stream in place; anything
 * else (control replies, unusual encodings) goes through msgpack-c and
 * proto_decode, so no frame is ever misread, only read more slowly.
 * NATS: the text protocol (CONNECT, SUB, PUB, PING; INFO, MSG, PING, PONG,
 * +OK, -ERR).  Redis: RESP2 (SUBSCRIBE, PUBLISH, PING; push arrays,
 * integer replies, +PONG, -ERR).
 */
#define _GNU_SOURCE
#include "bench_pubsub.h"

#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/proto.h"

#define CLIENT_NAME "acto-bench-pubsub"
#define LINE_MAX_BYTES 4096     /* NATS/Redis control line: longer is an error */

size_t wire_max_frame(size_t size)
{
    return size + 2048;
}

void wire_fill_pattern(uint8_t *payload, size_t size)
{
    for (size_t i = STAMP_SIZE; i < size; i++)
        payload[i] = (uint8_t)(i * 7 + 1);
}

/* ---- acto ------------------------------------------------------------------------ */

/* Pack op as a frame and queue it on c. */
static int acto_queue(conn_t *c, const proto_op_t *op)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int rc = proto_pack_frame(&pk, op);
    if (rc == 0)
        conn_queue(c, sb.data, sb.size);
    else
        fprintf(stderr, "acto-bench-pubsub: cannot encode %s (bad subject?)\n",
                proto_op_name(op->op));
    msgpack_sbuffer_destroy(&sb);
    return rc == 0 ? 0 : -1;
}

static int acto_greet(conn_t *c, const char *subject)
{
    proto_op_t hello = { .op = PROTO_HELLO };
    hello.u.hello.version = PROTO_VERSION;
    hello.u.hello.name = (proto_str_t){ CLIENT_NAME, strlen(CLIENT_NAME) };
    if (acto_queue(c, &hello) != 0)
        return -1;
    if (c->role == ROLE_SUB) {
        proto_op_t sub = { .op = PROTO_SUB };
        sub.u.sub.sid = 1;
        sub.u.sub.subject = (proto_str_t){ subject, strlen(subject) };
        if (acto_queue(c, &sub) != 0)
            return -1;
    }
    wire_barrier(WIRE_ACTO, c);
    return 0;
}

static uint8_t *acto_template(const char *subject, size_t size, size_t *len, size_t *off)
{
    uint8_t *payload = calloc(1, size ? size : 1);
    if (!payload)
        return NULL;
    proto_op_t pub = { .op = PROTO_PUB };
    pub.u.pub.subject = (proto_str_t){ subject, strlen(subject) };
    pub.u.pub.payload = payload;
    pub.u.pub.len = size;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int rc = proto_pack_frame(&pk, &pub);
    free(payload);
    if (rc != 0) {
        fprintf(stderr, "acto-bench-pubsub: cannot encode a pub on '%s'\n", subject);
        msgpack_sbuffer_destroy(&sb);
        return NULL;
    }
    *len = sb.size;
    *off = sb.size - size;          /* the payload is the frame's last field */
    return (uint8_t *)msgpack_sbuffer_release(&sb);
}

/* Big-endian unsigned of n bytes. */
static uint64_t be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Length of the header of the msgpack value at p (a uint, str, nil or bin
 * as given by `kind`) and the length of its data: 1 = read, 0 = more
 * bytes needed, -1 = some other type. */
enum { MP_UINT, MP_STR, MP_STR_NIL, MP_BIN };
static int mp_item(const uint8_t *p, const uint8_t *end, int kind, size_t *hdr, size_t *data)
{
    if (p >= end)
        return 0;
    uint8_t b = p[0];
    unsigned n;             /* length bytes after the type byte */
    *data = 0;
    if (kind == MP_UINT && b < 0x80) { *hdr = 1; return 1; }
    if (kind == MP_UINT && b >= 0xcc && b <= 0xce) {
        *hdr = 1 + (1u << (b - 0xcc));
        return end - p >= (ptrdiff_t)*hdr;
    }
    if (kind == MP_STR_NIL && b == 0xc0) { *hdr = 1; return 1; }
    if (kind == MP_STR || kind == MP_STR_NIL) {
        if (b >= 0xa0 && b <= 0xbf) { *hdr = 1; *data = b & 0x1f; return 1; }
        if (b != 0xd9 && b != 0xda)
            return -1;
        n = b == 0xd9 ? 1 : 2;
    } else if (kind == MP_BIN && b >= 0xc4 && b <= 0xc6) {
        n = 1u << (b - 0xc4);
    } else {
        return -1;
    }
    if (end - p < (ptrdiff_t)(1 + n))
        return 0;
    *hdr = 1 + n;
    *data = (size_t)be(p + 1, n);
    return 1;
}

/* A msg frame of the common shape at p: 1 (*used, payload set), 0 (more
 * bytes needed), -1 (not this shape: let msgpack-c decide). */
static int acto_fast_msg(const uint8_t *p, size_t n, size_t *used, const uint8_t **pl,
                         size_t *pl_len)
{
    static const int kinds[4] = { MP_UINT, MP_STR, MP_STR_NIL, MP_BIN };
    const uint8_t *end = p + n, *q = p + 3;
    if (n < 3 || p[0] != 0x92 || p[1] != PROTO_MSG || p[2] != 0x94)
        return -1;
    size_t hdr = 0, data = 0;
    for (int i = 0; i < 4; i++) {
        int rc = mp_item(q, end, kinds[i], &hdr, &data);
        if (rc <= 0)
            return rc;
        if (i < 3) {
            if ((size_t)(end - q) < hdr + data)
                return 0;
            q += hdr + data;
        }
    }
    if ((size_t)(end - q) < hdr + data)
        return 0;
    *pl = q + hdr;
    *pl_len = data;
    *used = (size_t)(q + hdr + data - p);
    return 1;
}

static void acto_error(conn_t *c, const proto_op_t *d)
{
    char text[PROTO_TEXT_MAX + 64];
    int n = snprintf(text, sizeof text, "err %" PRIu32 " (%.*s) for op %" PRIu32,
                     d->u.err.code, (int)d->u.err.text.len,
                     d->u.err.text.p ? d->u.err.text.p : "", d->u.err.op);
    on_server_error(c, text, n > 0 ? (size_t)n : 0);
}

/* One frame of any shape through msgpack-c: bytes consumed, 0 (incomplete)
 * or -1. */
static msgpack_unpacked slow_u;     /* acto_slow's; its zone is reused */

static ssize_t acto_slow(conn_t *c, const uint8_t *p, size_t n, uint64_t now)
{
    msgpack_unpacked *u = &slow_u;
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(u, (const char *)p, n, &off);
    if (r == MSGPACK_UNPACK_CONTINUE)
        return 0;
    const msgpack_object *o = &u->data;
    if (r != MSGPACK_UNPACK_SUCCESS || o->type != MSGPACK_OBJECT_ARRAY ||
        o->via.array.size < 1 || o->via.array.size > 2 ||
        o->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        o->via.array.ptr[0].via.u64 > UINT32_MAX) {
        fprintf(stderr, "acto-bench-pubsub: malformed frame from the server\n");
        return -1;
    }
    uint32_t op = (uint32_t)o->via.array.ptr[0].via.u64;
    const msgpack_object *body = o->via.array.size == 2 ? &o->via.array.ptr[1] : NULL;
    proto_op_t d;
    int rc = proto_decode(op, body, PROTO_PEER_SERVER, SIZE_MAX, &d);
    if (rc != 0) {
        fprintf(stderr, "acto-bench-pubsub: bad %s frame from the server: %s\n",
                proto_op_name(op) ? proto_op_name(op) : "unknown", proto_err_text(rc));
        return -1;
    }
    switch (d.op) {
    case PROTO_MSG: on_delivery(c, d.u.msg.payload, d.u.msg.len, now); break;
    case PROTO_PONG: on_ack(c); break;
    case PROTO_PING: conn_queue(c, "\x91\x04", 2); break;
    case PROTO_ERR: acto_error(c, &d); break;
    case PROTO_WELCOME: on_max_payload(d.u.welcome.max_payload); break;
    default: break;         /* ok, stats_reply */
    }
    return (ssize_t)off;
}

static ssize_t acto_parse(conn_t *c, const uint8_t *p, size_t n, uint64_t now)
{
    size_t off = 0;
    while (off < n) {
        const uint8_t *pl;
        size_t used, pl_len;
        int rc = acto_fast_msg(p + off, n - off, &used, &pl, &pl_len);
        if (rc > 0) {
            on_delivery(c, pl, pl_len, now);
            off += used;
            continue;
        }
        if (rc == 0)
            break;
        ssize_t k = acto_slow(c, p + off, n - off, now);
        if (k <= 0)
            return k < 0 ? -1 : (ssize_t)off;
        off += (size_t)k;
    }
    return (ssize_t)off;
}

/* ---- NATS -------------------------------------------------------------------------- */

static void queue_str(conn_t *c, const char *s)
{
    conn_queue(c, s, strlen(s));
}

static int nats_greet(conn_t *c, const char *subject)
{
    queue_str(c, "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"" CLIENT_NAME
                 "\",\"lang\":\"c\",\"version\":\"0.1.0\",\"protocol\":1}\r\n");
    if (c->role == ROLE_SUB) {
        char line[512];
        int n = snprintf(line, sizeof line, "SUB %s 1\r\n", subject);
        if (n <= 0 || (size_t)n >= sizeof line)
            return -1;
        conn_queue(c, line, (size_t)n);
    }
    wire_barrier(WIRE_NATS, c);
    return 0;
}

/* Build head + payload + tail into one malloc'd template. */
static uint8_t *text_template(const char *head, size_t hlen, size_t size, size_t *len, size_t *off)
{
    uint8_t *t = malloc(hlen + size + 2);
    if (!t)
        return NULL;
    memcpy(t, head, hlen);
    memset(t + hlen, 0, size);
    memcpy(t + hlen + size, "\r\n", 2);
    *len = hlen + size + 2;
    *off = hlen;
    return t;
}

static uint8_t *nats_template(const char *subject, size_t size, size_t *len, size_t *off)
{
    char head[512];
    int n = snprintf(head, sizeof head, "PUB %s %zu\r\n", subject, size);
    if (n <= 0 || (size_t)n >= sizeof head)
        return NULL;
    return text_template(head, (size_t)n, size, len, off);
}

/* Decimal digits [p, end) -> *v: 0, or -1 for none or a non-digit. */
static int parse_dec(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    if (p >= end || end - p > 19)
        return -1;
    uint64_t x = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    *v = x;
    return 0;
}

static int starts(const uint8_t *line, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len >= n && memcmp(line, word, n) == 0;
}

/* INFO {...,"max_payload":N,...}: report N. */
static void nats_info(const uint8_t *line, size_t len)
{
    static const char key[] = "\"max_payload\":";
    const uint8_t *k = memmem(line, len, key, sizeof key - 1), *end = line + len, *q;
    if (!k)
        return;
    k += sizeof key - 1;
    for (q = k; q < end && *q >= '0' && *q <= '9'; q++)
        ;
    uint64_t v;
    if (parse_dec(k, q, &v) == 0)
        on_max_payload(v);
}

/* One control line (without CRLF) that is not MSG: 0 or -1. */
static int nats_line(conn_t *c, const uint8_t *line, size_t len)
{
    if (starts(line, len, "PING"))
        queue_str(c, "PONG\r\n");
    else if (starts(line, len, "PONG"))
        on_ack(c);
    else if (starts(line, len, "-ERR"))
        on_server_error(c, (const char *)line, len);
    else if (starts(line, len, "INFO"))
        nats_info(line, len);
    else if (!starts(line, len, "+OK")) {
        fprintf(stderr, "acto-bench-pubsub: unexpected line from the server: %.*s\n",
                (int)(len > 80 ? 80 : len), (const char *)line);
        return -1;
    }
    return 0;
}

static ssize_t nats_parse(conn_t *c, const uint8_t *p, size_t n, uint64_t now)
{
    size_t off = 0;
    while (off < n) {
        const uint8_t *line = p + off;
        const uint8_t *nl = memchr(line, '\n', n - off);
        if (!nl) {
            if (n - off > LINE_MAX_BYTES)
                goto bad;
            break;
        }
        size_t len = (size_t)(nl - line), next = (size_t)(nl + 1 - p);
        if (len == 0 || line[len - 1] != '\r')
            goto bad;
        len--;
        if (!starts(line, len, "MSG ")) {
            if (nats_line(c, line, len) != 0)
                return -1;
            off = next;
            continue;
        }
        /* MSG <subject> <sid> [reply-to] <#bytes>: the size is the last word */
        const uint8_t *sp = memrchr(line, ' ', len);
        uint64_t size;
        if (parse_dec(sp + 1, line + len, &size) != 0)
            goto bad;
        if (n - next < size + 2)
            break;
        if (p[next + size] != '\r' || p[next + size + 1] != '\n')
            goto bad;
        on_delivery(c, p + next, (size_t)size, now);
        off = next + (size_t)size + 2;
    }
    return (ssize_t)off;
bad:
    fprintf(stderr, "acto-bench-pubsub: malformed NATS protocol line from the server\n");
    return -1;
}

/* ---- Redis (RESP2) -------------------------------------------------------------------- */

/* "*1\r\n$4\r\nPING\r\n" and friends: a command as an array of bulk strings. */
static void redis_command(conn_t *c, int argc, const char *const *argv)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "*%d\r\n", argc);
    conn_queue(c, buf, (size_t)n);
    for (int i = 0; i < argc; i++) {
        size_t len = strlen(argv[i]);
        n = snprintf(buf, sizeof buf, "$%zu\r\n", len);
        conn_queue(c, buf, (size_t)n);
        conn_queue(c, argv[i], len);
        conn_queue(c, "\r\n", 2);
    }
}

static int redis_greet(conn_t *c, const char *subject)
{
    if (c->role == ROLE_SUB) {
        const char *argv[] = { "SUBSCRIBE", subject };
        redis_command(c, 2, argv);      /* its confirmation is the barrier */
    } else {
        wire_barrier(WIRE_REDIS, c);
    }
    return 0;
}

static uint8_t *redis_template(const char *subject, size_t size, size_t *len, size_t *off)
{
    char head[512];
    int n = snprintf(head, sizeof head, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%zu\r\n",
                     strlen(subject), subject, size);
    if (n <= 0 || (size_t)n >= sizeof head)
        return NULL;
    return text_template(head, (size_t)n, size, len, off);
}

/* A line "<type><text>\r\n" at *q: 1 (*q past it, text set), 0 incomplete, -1 bad. */
static int resp_line(const uint8_t **q, const uint8_t *end, const uint8_t **text, size_t *len)
{
    const uint8_t *nl = memchr(*q, '\n', (size_t)(end - *q));
    if (!nl)
        return end - *q > LINE_MAX_BYTES ? -1 : 0;
    if (nl - *q < 2 || nl[-1] != '\r')
        return -1;
    *text = *q + 1;
    *len = (size_t)(nl - 1 - *text);
    *q = nl + 1;
    return 1;
}

/* A bulk string "$<n>\r\n<bytes>\r\n" at *q: 1, 0 or -1 like resp_line. */
static int resp_bulk(const uint8_t **q, const uint8_t *end, const uint8_t **s, size_t *len)
{
    const uint8_t *p = *q, *t;
    size_t tl;
    uint64_t n;
    if (p >= end)
        return 0;
    if (*p != '$')
        return -1;
    int rc = resp_line(&p, end, &t, &tl);
    if (rc <= 0)
        return rc;
    if (parse_dec(t, t + tl, &n) != 0)
        return -1;
    if ((uint64_t)(end - p) < n + 2)
        return 0;
    if (p[n] != '\r' || p[n + 1] != '\n')
        return -1;
    *s = p;
    *len = (size_t)n;
    *q = p + n + 2;
    return 1;
}

static int eq(const uint8_t *s, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(s, word, len) == 0;
}

/* A push array at *q: ["message", subject, payload] or ["subscribe",
 * subject, count].  1, 0 or -1. */
static int resp_push(conn_t *c, const uint8_t **q, const uint8_t *end, uint64_t now)
{
    const uint8_t *p = *q, *t, *kind, *subj, *data;
    size_t tl, kl, sl, dl;
    int rc = resp_line(&p, end, &t, &tl);
    if (rc <= 0)
        return rc;
    if (!eq(t, tl, "3"))
        return -1;
    if ((rc = resp_bulk(&p, end, &kind, &kl)) <= 0 || (rc = resp_bulk(&p, end, &subj, &sl)) <= 0)
        return rc;
    if (eq(kind, kl, "message")) {
        if ((rc = resp_bulk(&p, end, &data, &dl)) <= 0)
            return rc;
        on_delivery(c, data, dl, now);
    } else if (eq(kind, kl, "subscribe")) {
        if (p >= end)
            return 0;
        if (*p != ':' || (rc = resp_line(&p, end, &t, &tl)) <= 0)
            return rc;
        on_ack(c);
    } else {
        return -1;
    }
    *q = p;
    return 1;
}

static ssize_t redis_parse(conn_t *c, const uint8_t *p, size_t n, uint64_t now)
{
    const uint8_t *q = p, *end = p + n, *t;
    size_t tl;
    while (q < end) {
        int rc;
        switch (*q) {
        case '*': rc = resp_push(c, &q, end, now); break;
        case ':':                       /* a PUBLISH reply: receiver count */
            if ((rc = resp_line(&q, end, &t, &tl)) > 0)
                c->replies++;
            break;
        case '+':
            if ((rc = resp_line(&q, end, &t, &tl)) > 0 && eq(t, tl, "PONG"))
                on_ack(c);
            break;
        case '-':
            if ((rc = resp_line(&q, end, &t, &tl)) > 0)
                on_server_error(c, (const char *)t, tl);
            break;
        default: rc = -1; break;
        }
        if (rc < 0) {
            fprintf(stderr, "acto-bench-pubsub: malformed RESP reply from the server\n");
            return -1;
        }
        if (rc == 0)
            break;
    }
    return q - p;
}

/* ---- dispatch ------------------------------------------------------------------------ */

int wire_greet(int proto, conn_t *c, const char *subject)
{
    switch (proto) {
    case WIRE_ACTO: return acto_greet(c, subject);
    case WIRE_NATS: return nats_greet(c, subject);
    default: return redis_greet(c, subject);
    }
}

void wire_barrier(int proto, conn_t *c)
{
    static const char *const ping[] = { "PING" };
    switch (proto) {
    case WIRE_ACTO: conn_queue(c, "\x91\x03", 2); break;
    case WIRE_NATS: queue_str(c, "PING\r\n"); break;
    default: redis_command(c, 1, ping); break;
    }
}

uint8_t *wire_pub_template(int proto, const char *subject, size_t size, size_t *len,
                           size_t *payload_off)
{
    uint8_t *t;
    switch (proto) {
    case WIRE_ACTO: t = acto_template(subject, size, len, payload_off); break;
    case WIRE_NATS: t = nats_template(subject, size, len, payload_off); break;
    default: t = redis_template(subject, size, len, payload_off); break;
    }
    if (t)
        wire_fill_pattern(t + *payload_off, size);
    else
        fprintf(stderr, "acto-bench-pubsub: cannot build a publish on '%s'\n", subject);
    return t;
}

ssize_t wire_parse(int proto, conn_t *c, const uint8_t *p, size_t n, uint64_t now_ns)
{
    switch (proto) {
    case WIRE_ACTO: return acto_parse(c, p, n, now_ns);
    case WIRE_NATS: return nats_parse(c, p, n, now_ns);
    default: return redis_parse(c, p, n, now_ns);
    }
}

void wire_cleanup(void)
{
    msgpack_unpacked_destroy(&slow_u);
}
