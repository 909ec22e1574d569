/* tests/test_mpscalar.c - the scalar fast path (runtime/mpscalar.h) must
 * agree with msgpack-c exactly: the bytes it writes, and what it decodes
 * (or refuses) for every tag and length. */
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "mpscalar.h"

/* ---- encoding: byte for byte what msgpack-c's packer writes -------------- */

static const int64_t i64_edges[] = {
    0, 1, 31, 32, 127, 128, 255, 256, 32767, 32768, 65535, 65536,
    2147483647LL, 2147483648LL, 4294967295LL, 4294967296LL, INT64_MAX,
    -1, -31, -32, -33, -127, -128, -129, -32767, -32768, -32769,
    -2147483647LL, -2147483647LL - 1, -2147483647LL - 2, INT64_MIN + 1, INT64_MIN,
};

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A random value of random magnitude, so that every width is exercised. */
static uint64_t rng_any(void)
{
    unsigned bits = (unsigned)(rng() % 64) + 1;
    return rng() >> (64 - bits);
}

typedef enum { K_I64, K_U64, K_F64 } kind_t;

static void check_encode(kind_t k, uint64_t raw)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    uint8_t mine[MPS_MAX + 1];
    size_t n;
    double d;
    memcpy(&d, &raw, sizeof d);
    switch (k) {
    case K_I64: msgpack_pack_int64(&pk, (int64_t)raw); n = mps_put_i64(mine, (int64_t)raw); break;
    case K_U64: msgpack_pack_uint64(&pk, raw); n = mps_put_u64(mine, raw); break;
    default:    msgpack_pack_double(&pk, d); n = mps_put_f64(mine, d); break;
    }
    assert_true(n <= MPS_MAX);
    assert_int_equal(n, sb.size);
    assert_memory_equal(mine, sb.data, n);
    msgpack_sbuffer_destroy(&sb);
}

static void test_encode_matches_msgpack(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof i64_edges / sizeof *i64_edges; i++) {
        check_encode(K_I64, (uint64_t)i64_edges[i]);
        check_encode(K_U64, (uint64_t)i64_edges[i]);   /* as unsigned, too */
    }
    const double f[] = { 0.0, -0.0, 1.5, -2.25, 1e300, -1e-300, INFINITY, -INFINITY, NAN };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        uint64_t raw;
        memcpy(&raw, &f[i], sizeof raw);
        check_encode(K_F64, raw);
    }
    for (int i = 0; i < 200000; i++) {
        uint64_t v = rng_any();
        check_encode(K_I64, v);
        check_encode(K_I64, (uint64_t)-(int64_t)(v >> 1));
        check_encode(K_U64, v);
        check_encode(K_F64, rng());
    }
}

/* ---- decoding: the same object as msgpack_unpack, or the same refusal ------- */

static void assert_same_object(const msgpack_object *a, const msgpack_object *b)
{
    assert_int_equal(a->type, b->type);
    switch (a->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: assert_true(a->via.u64 == b->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: assert_true(a->via.i64 == b->via.i64); break;
    case MSGPACK_OBJECT_BOOLEAN: assert_int_equal(a->via.boolean, b->via.boolean); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:   /* bit for bit: NaN payloads included */
        assert_memory_equal(&a->via.f64, &b->via.f64, sizeof a->via.f64);
        break;
    case MSGPACK_OBJECT_NIL: break;
    case MSGPACK_OBJECT_STR:       /* same bytes, read in place by both */
        assert_int_equal(a->via.str.size, b->via.str.size);
        assert_memory_equal(a->via.str.ptr, b->via.str.ptr, a->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        assert_int_equal(a->via.bin.size, b->via.bin.size);
        assert_memory_equal(a->via.bin.ptr, b->via.bin.ptr, a->via.bin.size);
        break;
    default: fail_msg("unexpected type %d", a->type);
    }
}

/* mps_get on buf[0..len) must either leave it to msgpack-c (MPS_OTHER) or
 * agree with msgpack_unpack about it being exactly one value. */
static int check_decode(const uint8_t *buf, size_t len)
{
    msgpack_object mine, ref;
    memset(&mine, 0, sizeof mine);
    int r = mps_get(buf, len, &mine);
    if (r == MPS_OTHER)
        return r;
    msgpack_zone *z = msgpack_zone_new(256);
    assert_non_null(z);
    size_t off = 0;
    int u = msgpack_unpack((const char *)buf, len, &off, z, &ref);
    bool whole = u == MSGPACK_UNPACK_SUCCESS && off == len;
    if (r == MPS_OK) {
        assert_true(whole);
        assert_same_object(&mine, &ref);
    } else {
        assert_int_equal(r, MPS_BAD);
        assert_false(whole);
    }
    msgpack_zone_free(z);
    return r;
}

static void test_decode_matches_msgpack(void **state)
{
    (void)state;
    uint8_t buf[12];
    int handled = 0;
    /* Every tag, every length 0..10, random payload bytes. */
    for (int round = 0; round < 64; round++)
        for (unsigned tag = 0; tag < 256; tag++)
            for (size_t len = 1; len <= 10; len++) {
                buf[0] = (uint8_t)tag;
                for (size_t i = 1; i < sizeof buf; i++)
                    buf[i] = (uint8_t)rng();
                if (check_decode(buf, len) == MPS_OK)
                    handled++;
            }
    /* Non-minimal forms msgpack-c never writes but must read alike. */
    const uint8_t forms[][9] = {
        { 0xd0, 0x05 }, { 0xd0, 0xff }, { 0xd1, 0x00, 0x05 }, { 0xd2, 0x80, 0, 0, 0 },
        { 0xd3, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, { 0xcc, 0x01 },
        { 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, { 0xca, 0x3f, 0xc0, 0, 0 },
    };
    const size_t flen[] = { 2, 2, 3, 5, 9, 2, 9, 5 };
    for (size_t i = 0; i < sizeof flen / sizeof *flen; i++)
        assert_int_equal(check_decode(forms[i], flen[i]), MPS_OK);
    /* Strings and binaries: every header form, exact, one short, one over. */
    static uint8_t raw[5 + 70000];
    const struct { uint8_t tag; size_t hdr, n; } raws[] = {
        { 0xa0, 1, 0 }, { 0xa5, 1, 5 }, { 0xbf, 1, 31 }, { 0xd9, 2, 0 }, { 0xd9, 2, 200 },
        { 0xda, 3, 300 }, { 0xdb, 5, 70000 }, { 0xc4, 2, 0 }, { 0xc4, 2, 255 },
        { 0xc5, 3, 1000 }, { 0xc6, 5, 65536 },
    };
    for (size_t i = 0; i < sizeof raws / sizeof *raws; i++) {
        size_t n = raws[i].n, h = raws[i].hdr;
        for (size_t k = 0; k < sizeof raw; k++)
            raw[k] = (uint8_t)rng();
        raw[0] = raws[i].tag;
        if (h == 2)
            raw[1] = (uint8_t)n;
        else if (h == 3)
            raw[1] = (uint8_t)(n >> 8), raw[2] = (uint8_t)n;
        else if (h == 5)
            raw[1] = (uint8_t)(n >> 24), raw[2] = (uint8_t)(n >> 16), raw[3] = (uint8_t)(n >> 8),
            raw[4] = (uint8_t)n;
        assert_int_equal(check_decode(raw, h + n), MPS_OK);
        assert_int_equal(check_decode(raw, h + n + 1), MPS_BAD);
        if (h + n > 1)
            assert_int_equal(check_decode(raw, h + n - 1), MPS_BAD);
    }
    assert_int_equal(mps_get(buf, 0, &(msgpack_object){ 0 }), MPS_BAD);
    assert_true(handled > 0);
}

/* ---- end to end: the public calls over the fast path ------------------------ */

enum { MSG_I = 1, MSG_U, MSG_F };
typedef struct { int bad, seen; } tally_t;
static tally_t g_tally;

static int sink_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)ctx;
    uint64_t *next = state;   /* index of the value expected next */
    int64_t i;
    uint64_t u;
    double d;
    uint64_t want = (uint64_t)i64_edges[*next % (sizeof i64_edges / sizeof *i64_edges)];
    switch (acto_msg_type(msg)) {
    case MSG_I:
        if (acto_msg_i64(msg, &i) != 0 || (uint64_t)i != want)
            g_tally.bad++;
        /* An i64 body read as u64 works only for non-negative values. */
        if ((acto_msg_u64(msg, &u) == 0) != ((int64_t)want >= 0))
            g_tally.bad++;
        break;
    case MSG_U:
        if (acto_msg_u64(msg, &u) != 0 || u != want)
            g_tally.bad++;
        if ((acto_msg_i64(msg, &i) == 0) != (want <= INT64_MAX))
            g_tally.bad++;
        break;
    case MSG_F:
        if (acto_msg_f64(msg, &d) != 0 || d != (double)(int64_t)want)
            g_tally.bad++;
        if (acto_msg_i64(msg, &i) != ACTO_ETYPE)
            g_tally.bad++;
        (*next)++;
        break;
    }
    g_tally.seen++;
    return 0;
}

static void test_send_read_roundtrip(void **state)
{
    (void)state;
    static const acto_behavior_t sink = {
        .name = "sink", .state_size = sizeof(uint64_t), .receive = sink_receive };
    acto_runtime_t *rt = tu_runtime(2);
    acto_pid_t p;
    acto_ctx_t *root = acto_root(rt);
    assert_int_equal(acto_spawn(root, &sink, NULL, &p), 0);
    memset(&g_tally, 0, sizeof g_tally);
    size_t n = sizeof i64_edges / sizeof *i64_edges;
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(acto_send_i64(root, p, MSG_I, i64_edges[k]), 0);
        assert_int_equal(acto_send_u64(root, p, MSG_U, (uint64_t)i64_edges[k]), 0);
        assert_int_equal(acto_send_f64(root, p, MSG_F, (double)i64_edges[k]), 0);
    }
    assert_int_equal(acto_runtime_run(rt), 0);
    acto_runtime_free(rt);
    assert_int_equal(g_tally.seen, (int)(3 * n));
    assert_int_equal(g_tally.bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_matches_msgpack),
        cmocka_unit_test(test_decode_matches_msgpack),
        cmocka_unit_test(test_send_read_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
