/* bench/chan_wire.c - the channel shard's wire path (actors/chan.h), the
 * part of the broker between a connection's parsed publishes and the msg
 * frames for its subscribers, without sockets.
 *
 * A "connection" actor subscribes S wire subscriptions (sids 1..S) to one
 * subject, then sends CHAN_PUB_BATCHes of B publishes (16-byte payloads)
 * to the subject's shard, keeping WINDOW batches in flight: every
 * CHAN_WIRE_BATCH it gets back (one per batch) is checked (n frames, each
 * a msg frame for one of its sids, in publish order) and lets it send the
 * next batch.  White box: uses the internal chan and proto headers.
 *
 *   chan_wire [SUBS [BATCHES [B [WINDOW]]]]   (defaults 1, 20000, 100, 4)
 *   prints `chan-wire pubs_per_s RATE` and `chan-wire frames_per_s RATE` */
#include "bench.h"   /* first: it sets _POSIX_C_SOURCE */

#include <string.h>
#include <msgpack.h>

#include "actors/chan.h"
#include "net/proto.h"

enum { MSG_GO = 1 };
#define SUBJECT "bench.wire.subject"

typedef struct {
    chan_bus_t *bus;
    unsigned subs, b, window;
    uint64_t batches, sent, got, frames, seq_next, bad;
    msgpack_sbuffer sb;            /* one batch body; the seq is patched in */
    size_t seq_off[1024];          /* offset of each publish's 8-byte seq */
} conn_t;

static void build_batch(conn_t *c)
{
    msgpack_sbuffer_init(&c->sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c->sb, msgpack_sbuffer_write);
    uint8_t payload[16] = { 0 };
    for (unsigned i = 0; i < c->b; i++) {
        msgpack_pack_str_with_body(&pk, SUBJECT, strlen(SUBJECT));
        msgpack_pack_nil(&pk);
        msgpack_pack_bin(&pk, sizeof payload);
        c->seq_off[i] = c->sb.size;
        msgpack_pack_bin_body(&pk, payload, sizeof payload);
    }
}

static int send_batch(acto_ctx_t *ctx, conn_t *c)
{
    for (unsigned i = 0; i < c->b; i++) {
        uint64_t seq = c->sent * c->b + i;
        memcpy(c->sb.data + c->seq_off[i], &seq, sizeof seq);
    }
    c->sent++;
    return chan_pub_batch(ctx, c->bus, chan_shard_of(c->bus, SUBJECT, strlen(SUBJECT)),
                          c->sb.data, c->sb.size, c->b);
}

/* Walk the frames: [10, [sid, subject, nil, bin 16]] with the seq first. */
static void check_frames(conn_t *c, const uint8_t *p, size_t len, uint64_t n)
{
    const uint8_t *end = p + len;
    uint64_t seen = 0;
    while (p < end) {
        size_t hl = p[0] == 0x92 && p[1] == 0x0a && p[2] == 0x94 ? 3 : 0;
        if (!hl || end - p < 4) {
            c->bad++;
            return;
        }
        p += hl;
        p += *p <= 0x7f ? 1 : *p == 0xcc ? 2 : *p == 0xcd ? 3 : 5;   /* sid */
        chan_pubv_t pv;
        size_t used = chan_pub_parse(p, (size_t)(end - p), &pv);
        if (!used || pv.len != 16) {
            c->bad++;
            return;
        }
        uint64_t seq;
        memcpy(&seq, pv.payload, sizeof seq);
        /* each publish appears once per subscription, consecutively */
        if (seq != c->seq_next / c->subs)
            c->bad++;
        c->seq_next++;
        p += used;
        seen++;
    }
    if (seen != n)
        c->bad++;
    c->frames += seen;
}

static int conn_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    conn_t *c = *(conn_t **)state;
    if (acto_msg_type(msg) == MSG_GO) {
        for (unsigned s = 1; s <= c->subs; s++) {
            int rc = chan_sub(ctx, c->bus, acto_self(ctx), s, CHAN_WIRE, 0, SUBJECT,
                              strlen(SUBJECT), NULL, 0, 0);
            if (rc)
                return rc;
        }
        for (unsigned i = 0; i < c->window && c->sent < c->batches; i++)
            if (send_batch(ctx, c))
                return ACTO_ENOMEM;
        return 0;
    }
    if (acto_msg_type(msg) != CHAN_WIRE_BATCH)
        return ACTO_EINVAL;
    size_t len;
    const uint8_t *body = acto_msg_data(msg, &len);
    chan_wb_t wb;
    if (!chan_wb_parse(body, len, &wb))
        bench_fail("chan_wire: a CHAN_WIRE_BATCH without its header");
    check_frames(c, wb.frames, wb.len, wb.n);
    c->got++;
    if (c->sent < c->batches)
        return send_batch(ctx, c);
    if (c->got == c->batches)
        chan_bus_stop(ctx, c->bus);
    return 0;
}

static int conn_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    *(conn_t **)state = (conn_t *)arg;
    return 0;
}

static const acto_behavior_t conn = {
    .name = "conn", .state_size = sizeof(conn_t *), .init = conn_init, .receive = conn_receive,
};

int main(int argc, char **argv)
{
    conn_t c = { 0 };
    c.subs = argc > 1 ? (unsigned)atoi(argv[1]) : 1;
    c.batches = argc > 2 ? (uint64_t)atoll(argv[2]) : 20000;
    c.b = argc > 3 ? (unsigned)atoi(argv[3]) : 100;
    c.window = argc > 4 ? (unsigned)atoi(argv[4]) : 4;
    if (c.subs < 1 || c.subs > 1000 || c.batches < 1 || c.b < 1 || c.b > 1024 || c.window < 1)
        bench_fail("usage: chan_wire [SUBS (1..1000) [BATCHES [B (1..1024) [WINDOW]]]]");
    build_batch(&c);
    acto_runtime_t *rt = bench_runtime();
    acto_ctx_t *root = acto_root(rt);
    bench_check(chan_bus_start(root, 0, &c.bus), "chan_bus_start");
    acto_pid_t p;
    bench_check(acto_spawn(root, &conn, &c, &p), "spawn");
    bench_check(acto_send_empty(root, p, MSG_GO), "go");
    uint64_t t0 = bench_now_ns();
    bench_check(acto_runtime_run(rt), "run");
    uint64_t t1 = bench_now_ns();
    acto_runtime_free(rt);
    chan_bus_free(c.bus);
    msgpack_sbuffer_destroy(&c.sb);
    uint64_t pubs = c.batches * c.b;
    if (c.bad || c.got != c.batches || c.frames != pubs * c.subs)
        bench_fail("%llu bad, %llu of %llu batches, %llu of %llu frames",
                   (unsigned long long)c.bad, (unsigned long long)c.got,
                   (unsigned long long)c.batches, (unsigned long long)c.frames,
                   (unsigned long long)(pubs * c.subs));
    bench_report("chan-wire", "pubs_per_s", bench_rate(pubs, t1 - t0), 0);
    bench_report("chan-wire", "frames_per_s", bench_rate(pubs * c.subs, t1 - t0), 0);
    return 0;
}
