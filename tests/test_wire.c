/* tests/test_wire.c - net/wire.h, the broker's byte-level fast paths,
 * against msgpack-c and net/proto.h (the slow paths they must agree with).
 *
 *  - wire_frame_len + wire_frame_head vs net/frame.h (msgpack-c's streaming
 *    unpacker): same frame boundaries, same verdict (complete, need more,
 *    err 1, err 2) on valid frames, random bytes, and mutations of valid
 *    frames (byte flips, cuts, insertions), fed whole and in pieces;
 *  - wire_pub_fast vs proto_decode_bytes: whenever the fast path says
 *    yes, the decoder agrees and gives the same subject, reply, payload
 *    and tail; and it says yes for every pub the encoder produces;
 *  - wire_msg_frame vs proto_decode_bytes on msg frames built from pubs.
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "acto/error.h"
#include "net/frame.h"
#include "net/proto.h"
#include "net/wire.h"

/* msgpack-c may ask malloc for huge element vectors on hostile headers
 * (net/proto.h "Memory"): let it fail like glibc does instead of aborting. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1:max_allocation_size_mb=256"; }

static uint64_t rng = 0x2545f4914f6cdd1du;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ---- reference verdicts from msgpack-c ----------------------------------------------- */

enum { V_MORE = 0, V_FRAME = 1 };

/* What net/frame.h says about the first frame of b[0..n): V_MORE, V_FRAME
 * (*len, *op, *has_body), or the negative PROTO_E* code. */
static int ref_frame(const uint8_t *b, size_t n, size_t max, size_t *len, uint32_t *op)
{
    frame_dec_t d;
    frame_dec_init(&d, max);
    int rc = frame_dec_feed(&d, b, n);
    frame_t f;
    if (rc == 0)
        rc = frame_dec_next(&d, &f);
    int v;
    if (rc == 1) {
        v = V_FRAME;
        *len = f.size;
        *op = f.type;
    } else if (rc == 0) {
        v = V_MORE;
    } else {
        v = -proto_frame_err(rc);
    }
    frame_dec_destroy(&d);
    return v;
}

/* The same from net/wire.h. */
static int wire_verdict(const uint8_t *b, size_t n, size_t max, size_t *len, uint32_t *op)
{
    ssize_t r = wire_frame_len(b, n, max);
    if (r <= 0)
        return (int)r;
    *len = (size_t)r;
    size_t bo;
    int code = wire_frame_head(b, (size_t)r, op, &bo);
    return code ? -code : V_FRAME;
}

static unsigned compared, frames_seen, early;

static void agree(const uint8_t *b, size_t n, size_t max)
{
    size_t l1 = 0, l2 = 0;
    uint32_t o1 = 0, o2 = 0;
    int v1 = ref_frame(b, n, max, &l1, &o1);
    int v2 = wire_verdict(b, n, max, &l2, &o2);
    if (v2 == -PROTO_ETOOBIG && v1 != v2) {
        /* wire refused early (a declared size that cannot fit) after k
         * bytes: right iff msgpack-c, given those k bytes and then zeros up
         * to max + 1 (fixints: they end every open value as early as
         * anything can), finds no frame within max either */
        size_t k = 1;
        while (wire_frame_len(b, k, max) != -PROTO_ETOOBIG)
            k++;
        assert_true(k <= max + 1);
        uint8_t *pad = calloc(1, max + 1);
        assert_non_null(pad);
        memcpy(pad, b, k);
        v1 = ref_frame(pad, max + 1, max, &l1, &o1);
        free(pad);
        early++;
    }
    if (v1 != v2 || (v1 == V_FRAME && (l1 != l2 || o1 != o2))) {
        char hex[3 * 64 + 1] = "";
        for (size_t i = 0; i < n && i < 64; i++)
            snprintf(hex + 3 * i, 4, "%02x ", b[i]);
        fail_msg("disagree on %zu bytes [%s]: msgpack-c %d (len %zu op %u), wire %d (len %zu op %u)",
                 n, hex, v1, l1, o1, v2, l2, o2);
    }
    compared++;
    frames_seen += v1 == V_FRAME;
}

/* ---- input generators ---------------------------------------------------------------- */

typedef struct gen {
    uint8_t b[4096];
    size_t n;
} gen_t;

static void put(gen_t *g, const void *p, size_t n)
{
    if (n > sizeof g->b - g->n)
        n = sizeof g->b - g->n;
    memcpy(g->b + g->n, p, n);
    g->n += n;
}
static void put1(gen_t *g, uint8_t x) { put(g, &x, 1); }
static void put_be(gen_t *g, uint64_t v, unsigned k)
{
    for (unsigned i = k; i-- > 0;)
        put1(g, (uint8_t)(v >> (8 * i)));
}

/* A random msgpack value of every kind, nested up to `depth`. */
static void gen_value(gen_t *g, int depth)
{
    unsigned k = (unsigned)(rnd() % (depth > 0 ? 14 : 10));
    size_t len = rnd() % 40;
    switch (k) {
    case 0: put1(g, (uint8_t)(rnd() % 128)); break;
    case 1: put1(g, (uint8_t)(0xe0 | (rnd() & 31))); break;
    case 2: put1(g, (uint8_t)(0xc0 + (rnd() % 4 == 0 ? 0 : 2 + rnd() % 2))); break;
    case 3: { uint8_t t = (uint8_t)(0xcc + rnd() % 8); put1(g, t); put_be(g, rnd(), 1u << (t & 3)); break; }
    case 4: put1(g, 0xca); put_be(g, rnd(), 4); break;
    case 5: put1(g, 0xcb); put_be(g, rnd(), 8); break;
    case 6: {                                      /* str in each encoding */
        unsigned e = (unsigned)(rnd() % 4);
        if (e == 0) put1(g, (uint8_t)(0xa0 | (len & 31)));
        else { put1(g, (uint8_t)(0xd8 + e)); put_be(g, len, e == 1 ? 1 : e == 2 ? 2 : 4); }
        if (e == 0) len &= 31;
        for (size_t i = 0; i < len; i++) put1(g, (uint8_t)('a' + rnd() % 26));
        break;
    }
    case 7: {                                      /* bin */
        unsigned e = (unsigned)(rnd() % 3);
        put1(g, (uint8_t)(0xc4 + e));
        put_be(g, len, e == 0 ? 1 : e == 1 ? 2 : 4);
        for (size_t i = 0; i < len; i++) put1(g, (uint8_t)rnd());
        break;
    }
    case 8: {                                      /* ext and fixext */
        size_t body;
        if (rnd() & 1) {
            unsigned e = (unsigned)(rnd() % 5);
            put1(g, (uint8_t)(0xd4 + e));
            body = (size_t)1 << e;
        } else {
            put1(g, 0xc7);
            put1(g, (uint8_t)len);
            body = len;
        }
        put1(g, (uint8_t)rnd());                   /* ext type */
        for (size_t i = 0; i < body; i++) put1(g, (uint8_t)rnd());
        break;
    }
    case 9: put1(g, 0xc0); break;
    default: {                                     /* containers */
        size_t cnt = rnd() % 4;
        bool map = rnd() % 3 == 0;
        unsigned e = (unsigned)(rnd() % 3);
        if (e == 0) put1(g, (uint8_t)((map ? 0x80 : 0x90) | cnt));
        else if (e == 1) { put1(g, map ? 0xde : 0xdc); put_be(g, cnt, 2); }
        else { put1(g, map ? 0xdf : 0xdd); put_be(g, cnt, 4); }
        for (size_t i = 0; i < cnt * (map ? 2 : 1); i++)
            gen_value(g, depth - 1);
        break;
    }
    }
}

/* A frame [op] or [op, body] with a random op encoding and body. */
static void gen_frame(gen_t *g)
{
    bool body = rnd() % 4 != 0;
    put1(g, body ? 0x92 : 0x91);
    uint32_t op = (uint32_t)(rnd() % 14);
    switch (rnd() % 4) {
    case 0: put1(g, (uint8_t)op); break;
    case 1: put1(g, 0xcc); put1(g, (uint8_t)op); break;
    case 2: put1(g, 0xd0); put1(g, (uint8_t)op); break;
    default: put1(g, 0xce); put_be(g, op, 4); break;
    }
    if (body)
        gen_value(g, 3);
}

static void gen_pub(gen_t *g, bool canonical)
{
    proto_op_t o = { .op = PROTO_PUB };
    static char subj[64], reply[64], pay[300];
    size_t sl = 1 + rnd() % 40, rl = 1 + rnd() % 40, pl = rnd() % sizeof pay;
    for (size_t i = 0; i < sl; i++) subj[i] = (char)('a' + rnd() % 26);
    for (size_t i = 0; i < rl; i++) reply[i] = (char)('a' + rnd() % 26);
    for (size_t i = 0; i < pl; i++) pay[i] = (char)rnd();
    if (sl > 2 && rnd() % 3 == 0) subj[sl / 2] = '.';
    o.u.pub.subject = (proto_str_t){ subj, sl };
    o.u.pub.reply = rnd() & 1 ? (proto_str_t){ reply, rl } : (proto_str_t){ NULL, 0 };
    o.u.pub.payload = pay;
    o.u.pub.len = pl;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(proto_pack_frame(&pk, &o), 0);
    if (canonical) {
        put(g, sb.data, sb.size);
    } else {                       /* the same pub with wider encodings */
        put1(g, 0x92); put1(g, 0xcc); put1(g, 0x09); put1(g, 0xdc); put_be(g, 3, 2);
        put1(g, 0xda); put_be(g, sl, 2); put(g, subj, sl);
        put1(g, 0xc0);
        put1(g, 0xc6); put_be(g, pl, 4); put(g, pay, pl);
    }
    msgpack_sbuffer_destroy(&sb);
}

static void mutate(gen_t *g)
{
    if (!g->n)
        return;
    switch (rnd() % 4) {
    case 0: g->b[rnd() % g->n] = (uint8_t)rnd(); break;
    case 1: g->b[rnd() % g->n] ^= (uint8_t)(1u << (rnd() % 8)); break;
    case 2: g->n = rnd() % g->n; break;                        /* cut */
    default:
        if (g->n < sizeof g->b) {                               /* insert a byte */
            size_t at = rnd() % g->n;
            memmove(g->b + at + 1, g->b + at, g->n - at);
            g->b[at] = (uint8_t)rnd();
            g->n++;
        }
    }
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_frame_known(void **state)
{
    (void)state;
    static const struct { const char *hex; size_t max; } cases[] = {
        { "c1", 100 }, { "01", 100 }, { "91a3707562", 100 }, { "91ceffff0001", 100 },
        { "92 09 93 a1", 100 }, { "9209 93 ad 6f 72 64 65 72 73 2e 65 75 2e 6e 65 77", 16 },
        { "9163", 100 }, { "9203c0", 100 }, { "92 08 92 01 00", 100 }, { "dc 00 02 03 c0", 100 },
        { "dd 00 00 00 01 03", 100 }, { "93 01 02 03", 100 }, { "90", 100 }, { "d0 ff", 100 },
        { "91 d0 ff", 100 }, { "91 d1 00 05", 100 }, { "91 cf 00 00 00 00 ff ff 00 00", 100 },
        { "91 ce ff fe ff ff", 100 }, { "92 09 c4 ff", 100 }, { "dd ff ff ff ff c0", 1000 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gen_t g = { .n = 0 };
        for (const char *s = cases[i].hex; *s;) {
            if (*s == ' ') { s++; continue; }
            unsigned v;
            assert_int_equal(sscanf(s, "%2x", &v), 1);
            put1(&g, (uint8_t)v);
            s += 2;
        }
        agree(g.b, g.n, cases[i].max);
    }
    /* nesting: 32 open containers are fine, the 33rd header is refused */
    for (unsigned d = 30; d <= 34; d++) {
        gen_t g = { .n = 0 };
        for (unsigned i = 0; i < d; i++)
            put1(&g, 0x91);
        put1(&g, 0x90);
        agree(g.b, g.n, 4096);
    }
}

static void test_frame_random(void **state)
{
    (void)state;
    unsigned long n = tu_scale(60000, 5000);
    for (unsigned long i = 0; i < n; i++) {
        gen_t g = { .n = 0 };
        unsigned kind = (unsigned)(rnd() % 4);
        if (kind == 0) {
            size_t len = 1 + rnd() % 24;
            for (size_t j = 0; j < len; j++)
                put1(&g, (uint8_t)rnd());
        } else {
            if (kind == 3) gen_pub(&g, rnd() & 1); else gen_frame(&g);
            if (rnd() % 3 != 0)
                mutate(&g);
            if (rnd() % 8 == 0)
                gen_frame(&g);     /* a second frame behind the first */
        }
        size_t max = rnd() % 4 == 0 ? 1 + rnd() % 64 : 4096;
        agree(g.b, g.n, max);
        /* prefixes: what a frame looks like while it arrives */
        agree(g.b, g.n / 2, max);
    }
    assert_true(frames_seen > n / 10);
    print_message("compared %u inputs, %u complete frames, %u refused early\n", compared,
                  frames_seen, early);
}

static void check_pub_fast(const uint8_t *b, size_t n)
{
    wire_pub_t w;
    size_t fast = wire_pub_fast(b, n, &w);
    if (!fast)
        return;
    /* fast says pub of `fast` bytes: the general scan finds the same frame,
     * and the slow path sees exactly that pub in it */
    uint32_t op;
    size_t bo;
    assert_int_equal(wire_frame_len(b, n, 1u << 20), (ssize_t)fast);
    assert_int_equal(wire_frame_head(b, fast, &op, &bo), 0);
    n = fast;
    assert_int_equal(op, PROTO_PUB);
    msgpack_zone z;
    msgpack_zone_init(&z, 256);
    proto_op_t o;
    int rc = proto_decode_bytes(op, b + bo, n - bo, PROTO_PEER_CLIENT, UINT32_MAX, &z, &o);
    /* the fast path does not judge values: only shape errors are impossible */
    assert_true(rc == 0 || rc == PROTO_ESUBJECT);
    if (rc == 0) {
        assert_int_equal(o.u.pub.subject.len, w.subject_len);
        assert_memory_equal(o.u.pub.subject.p, w.subject, w.subject_len);
        assert_int_equal(o.u.pub.reply.p != NULL, w.reply != NULL);
        if (w.reply) {
            assert_int_equal(o.u.pub.reply.len, w.reply_len);
            assert_memory_equal(o.u.pub.reply.p, w.reply, w.reply_len);
        }
        assert_int_equal(o.u.pub.len, w.len);
        if (w.len)
            assert_memory_equal(o.u.pub.payload, w.payload, w.len);
        assert_ptr_equal(o.u.pub.tail, w.tail);
        assert_int_equal(o.u.pub.tail_len, w.tail_len);
    }
    msgpack_zone_destroy(&z);
}

static void test_pub_fast(void **state)
{
    (void)state;
    unsigned long n = tu_scale(40000, 4000), taken = 0;
    for (unsigned long i = 0; i < n; i++) {
        gen_t g = { .n = 0 };
        gen_pub(&g, true);
        wire_pub_t w;
        /* every canonical pub the encoder makes takes the fast path */
        assert_int_equal(wire_pub_fast(g.b, g.n, &w), g.n);
        check_pub_fast(g.b, g.n);
        if (rnd() & 1)
            gen_frame(&g);             /* more bytes behind it: same answer */
        if (rnd() & 1)
            mutate(&g);
        check_pub_fast(g.b, g.n);
        taken += wire_pub_fast(g.b, g.n, &w) != 0;
        gen_t h = { .n = 0 };
        gen_pub(&h, false);            /* wider encodings: never fast, decoder takes them */
        assert_int_equal(wire_pub_fast(h.b, h.n, &w), 0);
    }
    assert_true(taken > n / 2);
}

/* msg frames = proto_msg_head(sid) + a pub's tail, as a shard builds them. */
static void test_msg_frame(void **state)
{
    (void)state;
    unsigned long n = tu_scale(20000, 2000);
    for (unsigned long i = 0; i < n; i++) {
        gen_t g = { .n = 0 };
        gen_pub(&g, rnd() & 1);
        uint32_t op;
        size_t bo;
        assert_int_equal(wire_frame_head(g.b, g.n, &op, &bo), 0);
        const uint8_t *body = g.b + bo;
        size_t hl = body[0] == 0xdc ? 3 : body[0] == 0xdd ? 5 : 1;
        uint32_t sid = (uint32_t)(rnd() >> (rnd() % 64));
        uint8_t buf[8192];
        size_t h = proto_msg_head(buf, sid);
        size_t tl = g.n - bo - hl;
        memcpy(buf + h, body + hl, tl);
        uint32_t got_sid;
        size_t pay;
        size_t fl = wire_msg_frame(buf, h + tl, &got_sid, &pay);
        assert_int_equal(fl, h + tl);
        assert_int_equal(got_sid, sid);
        /* the decoder reads the same frame the same way */
        msgpack_zone z;
        msgpack_zone_init(&z, 256);
        proto_op_t o;
        assert_int_equal(proto_decode_bytes(PROTO_MSG, buf + 2, h + tl - 2, PROTO_PEER_SERVER,
                                            UINT32_MAX, &z, &o), 0);
        assert_int_equal(o.u.msg.sid, sid);
        assert_int_equal(o.u.msg.len, pay);
        msgpack_zone_destroy(&z);
        /* every cut is "not a complete frame" */
        size_t cut = rnd() % (h + tl);
        assert_int_equal(wire_msg_frame(buf, cut, &got_sid, &pay), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_known),
        cmocka_unit_test(test_frame_random),
        cmocka_unit_test(test_pub_fast),
        cmocka_unit_test(test_msg_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
