/* tests/test_msg.c - the messages API: format packing and scanning, the
 * scalar readers and their errors, large bodies and the size limit, the
 * builder, forwarding, one-to-one ordering, error strings. */
#include <float.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { T_A = 1, T_B, T_C, T_D, T_E, T_F, T_G, T_H, T_I, T_J, T_K, T_L, T_M };

/* Send from root, run to quiescence; the capture then holds everything. */
typedef struct {
    acto_runtime_t *rt;
    acto_ctx_t *root;
    tu_capture_t cap;
    acto_pid_t sink;
} fixture_t;

static void fx_open(fixture_t *f)
{
    memset(f, 0, sizeof *f);
    f->rt = tu_runtime(1);
    f->root = acto_root(f->rt);
    f->sink = tu_spawn_capture(f->root, &f->cap);
}

static void fx_close(fixture_t *f)
{
    acto_runtime_free(f->rt);
    tu_capture_free(&f->cap);
}

/* Captured message i, rebuilt as an unsent message for the readers. */
static acto_msg_t *fx_msg(fixture_t *f, size_t i)
{
    assert_true(i < f->cap.n);
    assert_int_equal(f->cap.failed, 0);
    return tu_cap_msg(f->root, &f->cap.v[i]);
}

/* ---- format letters ------------------------------------------------------ */

static void test_fmt_every_letter(void **state)
{
    (void)state;
    fixture_t f;
    fx_open(&f);
    static const uint8_t bin[] = { 0, 1, 2, 0xff, 0, 0x80 };
    acto_pid_t pidv = ((acto_pid_t)77 << ACTO_PID_SLOT_BITS) | 12345;
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_A, "i", (int64_t)INT64_MIN), 0);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_B, "i", (int64_t)-1), 0);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_C, "u", (uint64_t)UINT64_MAX), 0);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_D, "d", -2.5e300), 0);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_E, "b", 1), 0);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_F, "b", 0), 0);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_G, "s", "h\xc3\xa9llo"), 0);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_H, "y", bin, sizeof bin), 0);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_I, "p", pidv), 0);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_J, "n"), 0);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_K, "s", ""), 0);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_L, "y", NULL, (size_t)0), 0);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_M, ""), 0);   /* empty body */
    tu_run(f.rt);
    assert_int_equal(f.cap.n, 13);
    for (size_t i = 0; i < f.cap.n; i++)
        assert_int_equal(f.cap.v[i].type, T_A + i);   /* in order */

    acto_ctx_t *c = f.root;
    acto_msg_t *m;
    int64_t i64 = 0;
    uint64_t u64 = 0;
    double d = 0;
    bool b = false;
    const char *s = NULL;
    const void *y = NULL;
    size_t n = 99;

    m = fx_msg(&f, 0);
    assert_int_equal(acto_msg_scan(c, m, "i", &i64), 0);
    assert_true(i64 == INT64_MIN);
    acto_msg_free(c, m);
    m = fx_msg(&f, 1);
    assert_int_equal(acto_msg_scan(c, m, "i", &i64), 0);
    assert_true(i64 == -1);
    acto_msg_free(c, m);
    m = fx_msg(&f, 2);
    assert_int_equal(acto_msg_scan(c, m, "u", &u64), 0);
    assert_true(u64 == UINT64_MAX);
    assert_int_equal(acto_msg_scan(c, m, "i", &i64), ACTO_ETYPE);   /* > INT64_MAX */
    acto_msg_free(c, m);
    m = fx_msg(&f, 3);
    assert_int_equal(acto_msg_scan(c, m, "d", &d), 0);
    assert_true(d == -2.5e300);
    acto_msg_free(c, m);
    m = fx_msg(&f, 4);
    assert_int_equal(acto_msg_scan(c, m, "b", &b), 0);
    assert_true(b);
    acto_msg_free(c, m);
    m = fx_msg(&f, 5);
    assert_int_equal(acto_msg_scan(c, m, "b", &b), 0);
    assert_false(b);
    acto_msg_free(c, m);
    m = fx_msg(&f, 6);
    assert_int_equal(acto_msg_scan(c, m, "s", &s, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(s, "h\xc3\xa9llo", 6);
    acto_msg_free(c, m);
    m = fx_msg(&f, 7);
    assert_int_equal(acto_msg_scan(c, m, "y", &y, &n), 0);
    assert_int_equal(n, sizeof bin);
    assert_memory_equal(y, bin, sizeof bin);
    assert_int_equal(acto_msg_scan(c, m, "s", &s, &n), ACTO_ETYPE);  /* bin is not str */
    acto_msg_free(c, m);
    m = fx_msg(&f, 8);
    acto_pid_t p = 0;
    assert_int_equal(acto_msg_scan(c, m, "p", &p), 0);
    assert_true(p == pidv);
    assert_int_equal(ACTO_PID_SLOT(p), 12345);
    assert_int_equal(ACTO_PID_GEN(p), 77);
    acto_msg_free(c, m);
    m = fx_msg(&f, 9);
    assert_int_equal(acto_msg_scan(c, m, "n"), 0);
    assert_int_equal(acto_msg_scan(c, m, "i", &i64), ACTO_ETYPE);
    acto_msg_free(c, m);
    m = fx_msg(&f, 10);
    assert_int_equal(acto_msg_scan(c, m, "s", &s, &n), 0);
    assert_int_equal(n, 0);
    acto_msg_free(c, m);
    m = fx_msg(&f, 11);
    assert_int_equal(acto_msg_scan(c, m, "y", &y, &n), 0);
    assert_int_equal(n, 0);
    acto_msg_free(c, m);
    assert_int_equal(f.cap.v[12].size, 0);
    fx_close(&f);
}

static void test_fmt_nested(void **state)
{
    (void)state;
    fixture_t f;
    fx_open(&f);
    static const char blob[] = "\x00\x01zz";
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_A, "[i [s {s i s [b n]}] y d]",
                                   (int64_t)-7, "outer", "k1", (int64_t)300, "k2", 1,
                                   blob, (size_t)4, 0.25), 0);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_B, "[[[u]]]", (uint64_t)5), 0);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_C, "[]"), 0);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_D, "{}"), 0);
    tu_run(f.rt);
    assert_int_equal(f.cap.n, 4);

    acto_ctx_t *c = f.root;
    int64_t a = 0, k1v = 0;
    const char *outer, *k1, *k2;
    size_t no, n1, n2, ny;
    bool bv = false;
    const void *y;
    double d = 0;
    acto_msg_t *m = fx_msg(&f, 0);
    assert_int_equal(acto_msg_scan(c, m, "[i [s {s i s [b n]}] y d]", &a, &outer, &no,
                                   &k1, &n1, &k1v, &k2, &n2, &bv, &y, &ny, &d), 0);
    assert_true(a == -7);
    assert_int_equal(no, 5);
    assert_memory_equal(outer, "outer", 5);
    assert_int_equal(n1, 2);
    assert_memory_equal(k1, "k1", 2);
    assert_true(k1v == 300);
    assert_memory_equal(k2, "k2", 2);
    assert_true(bv);
    assert_int_equal(ny, 4);
    assert_memory_equal(y, blob, 4);
    assert_true(d == 0.25);
    /* NULL destinations skip values. */
    assert_int_equal(acto_msg_scan(c, m, "[i [s {s i s [b n]}] y d]", NULL, NULL, NULL,
                                   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), 0);
    /* Shape mismatches are ETYPE, never a crash. */
    assert_int_equal(acto_msg_scan(c, m, "[i [s {s i s [b n]}] y]", &a, &outer, &no,
                                   &k1, &n1, &k1v, &k2, &n2, &bv, &y, &ny), ACTO_ETYPE);
    assert_int_equal(acto_msg_scan(c, m, "{i i}", &a, &a), ACTO_ETYPE);
    assert_int_equal(acto_msg_scan(c, m, "i", &a), ACTO_ETYPE);
    assert_int_equal(acto_msg_scan(c, m, "[s [s {s i s [b n]}] y d]", &outer, &no, &outer,
                                   &no, &k1, &n1, &k1v, &k2, &n2, &bv, &y, &ny, &d), ACTO_ETYPE);
    /* A malformed format is EINVAL. */
    assert_int_equal(acto_msg_scan(c, m, "[i", &a), ACTO_EINVAL);
    assert_int_equal(acto_msg_scan(c, m, "x"), ACTO_EINVAL);
    acto_msg_free(c, m);

    uint64_t u = 0;
    m = fx_msg(&f, 1);
    assert_int_equal(acto_msg_scan(c, m, "[[[u]]]", &u), 0);
    assert_true(u == 5);
    assert_int_equal(acto_msg_scan(c, m, "[[u]]", &u), ACTO_ETYPE);
    acto_msg_free(c, m);
    m = fx_msg(&f, 2);
    assert_int_equal(acto_msg_scan(c, m, "[]"), 0);
    assert_int_equal(acto_msg_scan(c, m, "{}"), ACTO_ETYPE);
    acto_msg_free(c, m);
    m = fx_msg(&f, 3);
    assert_int_equal(acto_msg_scan(c, m, "{}"), 0);
    acto_msg_free(c, m);
    fx_close(&f);
}

static void test_fmt_errors(void **state)
{
    (void)state;
    fixture_t f;
    fx_open(&f);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_A, "x", 1), ACTO_EINVAL);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_A, "[i", (int64_t)1), ACTO_EINVAL);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_A, "i]", (int64_t)1), ACTO_EINVAL);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_A, "{i}", (int64_t)1), ACTO_EINVAL);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_A, "[i}", (int64_t)1), ACTO_EINVAL);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_A, "ii", (int64_t)1, (int64_t)2), ACTO_EINVAL);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_A, "s", (const char *)NULL), ACTO_EINVAL);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_A, "y", NULL, (size_t)3), ACTO_EINVAL);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_A, NULL), ACTO_EINVAL);
    assert_int_equal(acto_send_fmt(NULL, f.sink, T_A, "i", (int64_t)1), ACTO_EINVAL);
    /* A valid one after all that still goes through, alone. */
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_B, " [ i ] ", (int64_t)9), 0);
    tu_run(f.rt);
    assert_int_equal(f.cap.n, 1);
    assert_int_equal(f.cap.v[0].type, T_B);
    acto_stats_t st = tu_stats(f.rt);
    assert_int_equal(st.dead_letters, 0);    /* rejected sends are no letters */
    fx_close(&f);
}

/* ---- scalar senders and readers -------------------------------------------- */

static void test_scalar_readers(void **state)
{
    (void)state;
    fixture_t f;
    fx_open(&f);
    static const uint8_t raw[] = { 1, 2, 3 };
    assert_int_equal(acto_send_i64(f.root, f.sink, T_A, -42), 0);
    assert_int_equal(acto_send_u64(f.root, f.sink, T_B, UINT64_MAX), 0);
    assert_int_equal(acto_send_f64(f.root, f.sink, T_C, 1.0 / 3.0), 0);
    assert_int_equal(acto_send_str(f.root, f.sink, T_D, "text"), 0);
    assert_int_equal(acto_send_bin(f.root, f.sink, T_E, raw, sizeof raw), 0);
    assert_int_equal(acto_send_empty(f.root, f.sink, T_F), 0);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_G, "b", 1), 0);
    assert_int_equal(acto_send_fmt(f.root, f.sink, T_H, "[i]", (int64_t)1), 0);
    assert_int_equal(acto_send_i64(f.root, f.sink, T_I, INT64_MAX), 0);
    assert_int_equal(acto_send_u64(f.root, f.sink, T_J, 7), 0);
    /* two values in one body: not "exactly one value" */
    static const uint8_t two[] = { 0x01, 0x02 };
    assert_int_equal(acto_send(f.root, f.sink, T_K, two, sizeof two), 0);
    tu_run(f.rt);
    assert_int_equal(f.cap.n, 11);

    acto_ctx_t *c = f.root;
    const int64_t I0 = 1111;
    int64_t i64;
    uint64_t u64;
    double d;
    bool b;
    const char *s;
    const void *p;
    size_t n;
    for (size_t k = 0; k < f.cap.n; k++) {
        acto_msg_t *m = fx_msg(&f, k);
        uint32_t t = acto_msg_type(m);
        i64 = I0;
        int ri = acto_msg_i64(m, &i64);
        int ru = acto_msg_u64(m, &u64);
        int rd = acto_msg_f64(m, &d);
        int rb = acto_msg_bool(m, &b);
        int rs = acto_msg_str(m, &s, &n);
        int ry = acto_msg_bin(m, &p, &n);
        /* exactly the matching reader succeeds */
        assert_int_equal(ri, (t == T_A || t == T_I || t == T_J) ? 0 : ACTO_ETYPE);
        assert_int_equal(ru, (t == T_B || t == T_I || t == T_J) ? 0 : ACTO_ETYPE);
        assert_int_equal(rd, t == T_C ? 0 : ACTO_ETYPE);
        assert_int_equal(rb, t == T_G ? 0 : ACTO_ETYPE);
        assert_int_equal(rs, t == T_D ? 0 : ACTO_ETYPE);
        assert_int_equal(ry, t == T_E ? 0 : ACTO_ETYPE);
        if (ri)
            assert_true(i64 == I0);              /* untouched on error */
        if (t == T_A) assert_true(i64 == -42);
        if (t == T_I) assert_true(i64 == INT64_MAX);
        if (t == T_B) assert_true(u64 == UINT64_MAX);
        if (t == T_C) assert_true(d == 1.0 / 3.0);
        if (t == T_G) assert_true(b);
        if (t == T_F) assert_int_equal(acto_msg_size(m), 0);
        if (t == T_D) {
            assert_int_equal(acto_msg_str(m, &s, &n), 0);
            assert_int_equal(n, 4);
            assert_memory_equal(s, "text", 4);
            assert_int_equal(acto_msg_str(m, &s, NULL), 0);   /* len optional */
        }
        if (t == T_E) {
            assert_int_equal(acto_msg_bin(m, &p, &n), 0);
            assert_int_equal(n, 3);
            assert_memory_equal(p, raw, 3);
        }
        /* NULL out pointers: EINVAL, not a crash */
        assert_int_equal(acto_msg_i64(m, NULL), ACTO_EINVAL);
        assert_int_equal(acto_msg_u64(m, NULL), ACTO_EINVAL);
        assert_int_equal(acto_msg_f64(m, NULL), ACTO_EINVAL);
        assert_int_equal(acto_msg_bool(m, NULL), ACTO_EINVAL);
        assert_int_equal(acto_msg_str(m, NULL, &n), ACTO_EINVAL);
        assert_int_equal(acto_msg_bin(m, NULL, &n), ACTO_EINVAL);
        acto_msg_free(c, m);
    }
    assert_int_equal(acto_send_str(f.root, f.sink, T_A, NULL), ACTO_EINVAL);
    assert_int_equal(acto_send_bin(f.root, f.sink, T_A, NULL, 1), ACTO_EINVAL);
    assert_int_equal(acto_send(f.root, f.sink, T_A, NULL, 1), ACTO_EINVAL);
    fx_close(&f);
}

/* A message received and read inside receive, on a worker context: the
 * scan's memory belongs to the worker and is reset after each message. */
typedef struct {
    unsigned ok, bad;
    int64_t sum;
} scan_in_actor_t;

static int scan_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    scan_in_actor_t *r = arg;
    int64_t a, b;
    const char *s;
    size_t n;
    msgpack_object o;
    if (acto_msg_scan(ctx, msg, "[i s i]", &a, &s, &n, &b) == 0 && n == 3 &&
        memcmp(s, "abc", 3) == 0 && acto_msg_unpack(ctx, msg, &o) == 0 &&
        o.type == MSGPACK_OBJECT_ARRAY && o.via.array.size == 3) {
        r->ok++;
        r->sum += a + b;
    } else {
        r->bad++;
    }
    return 0;
}

static void test_scan_in_actor(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(2);
    scan_in_actor_t r = { 0, 0, 0 };
    acto_pid_t p = tu_spawn_fn(acto_root(rt), scan_recv, &r);
    int64_t want = 0;
    for (int64_t i = 0; i < 1000; i++) {
        assert_int_equal(acto_send_fmt(acto_root(rt), p, T_A, "[i s i]", i, "abc", 2 * i), 0);
        want += 3 * i;
    }
    tu_run(rt);
    assert_int_equal(r.ok, 1000);
    assert_int_equal(r.bad, 0);
    assert_true(r.sum == want);
    acto_runtime_free(rt);
}

/* ---- large bodies, the limit --------------------------------------------- */

static void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 131 + seed);
}

static void test_large_bodies(void **state)
{
    (void)state;
    fixture_t f;
    fx_open(&f);
    /* around the inline/external boundary (4 KiB blocks), then MiBs */
    static const size_t sizes[] = { 4000, 4096 - 48 - 5, 4096 - 48, 4097, 5000,
                                    65536, 1u << 20, 3u << 20 };
    enum { NS = sizeof sizes / sizeof sizes[0] };
    uint8_t *buf = malloc(sizes[NS - 1]);
    assert_non_null(buf);
    for (unsigned i = 0; i < NS; i++) {
        fill_pattern(buf, sizes[i], i);
        assert_int_equal(acto_send_bin(f.root, f.sink, T_A, buf, sizes[i]), 0);
        /* raw body through acto_send: body bytes are copied verbatim */
        assert_int_equal(acto_send(f.root, f.sink, T_B, buf, sizes[i]), 0);
    }
    tu_run(f.rt);
    assert_int_equal(f.cap.n, 2 * NS);
    for (unsigned i = 0; i < NS; i++) {
        fill_pattern(buf, sizes[i], i);
        acto_msg_t *m = fx_msg(&f, 2 * i);
        const void *p;
        size_t n;
        assert_int_equal(acto_msg_bin(m, &p, &n), 0);
        assert_int_equal(n, sizes[i]);
        assert_memory_equal(p, buf, n);
        acto_msg_free(f.root, m);
        assert_int_equal(f.cap.v[2 * i + 1].size, sizes[i]);
        assert_memory_equal(f.cap.v[2 * i + 1].body, buf, sizes[i]);
    }
    free(buf);
    fx_close(&f);
}

static void test_body_limit(void **state)
{
    (void)state;
    fixture_t f;
    fx_open(&f);
    acto_msg_t *m = NULL;
    static uint8_t small[16];
    /* over the limit: refused up front, nothing allocated or sent */
    assert_int_equal(acto_msg_new(f.root, T_A, (size_t)ACTO_MSG_MAX_BODY + 1, &m), ACTO_ELIMIT);
    assert_int_equal(acto_send(f.root, f.sink, T_A, small, (size_t)ACTO_MSG_MAX_BODY + 1),
                     ACTO_ELIMIT);
    assert_int_equal(acto_send_bin(f.root, f.sink, T_A, small, (size_t)ACTO_MSG_MAX_BODY),
                     ACTO_ELIMIT);   /* the bin header pushes it over */

    /* A builder may grow up to the limit exactly, and no further. */
    assert_int_equal(acto_msg_new(f.root, T_B, 0, &m), 0);
    size_t chunk = 1u << 20;
    uint8_t *buf = calloc(1, chunk);
    assert_non_null(buf);
    for (size_t done = 0; done < ACTO_MSG_MAX_BODY; done += chunk)
        assert_int_equal(acto_msg_write(m, buf, chunk), 0);
    assert_int_equal(acto_msg_size(m), ACTO_MSG_MAX_BODY);
    assert_int_equal(acto_msg_write(m, buf, 1), ACTO_ELIMIT);
    assert_int_equal(acto_msg_size(m), ACTO_MSG_MAX_BODY);
    /* The failed message is refused at send (and freed: ASan checks). */
    assert_int_equal(acto_send_msg(f.root, f.sink, m), ACTO_ELIMIT);

    /* One at the limit goes through whole. */
    assert_int_equal(acto_msg_new(f.root, T_C, 16, &m), 0);
    for (size_t done = 0; done < ACTO_MSG_MAX_BODY; done += chunk)
        assert_int_equal(acto_msg_write(m, buf, chunk), 0);
    assert_int_equal(acto_send_msg(f.root, f.sink, m), 0);
    free(buf);
    tu_run(f.rt);
    assert_int_equal(f.cap.n, 1);
    assert_int_equal(f.cap.v[0].type, T_C);
    assert_int_equal(f.cap.v[0].size, ACTO_MSG_MAX_BODY);
    fx_close(&f);
}

/* ---- the builder ------------------------------------------------------------ */

static void test_builder(void **state)
{
    (void)state;
    fixture_t f;
    fx_open(&f);
    acto_msg_t *m = NULL;
    msgpack_packer pk;

    assert_int_equal(acto_msg_new(f.root, T_A, 8, &m), 0);   /* grows past 8 */
    acto_msg_packer(m, &pk);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str(&pk, 4);
    msgpack_pack_str_body(&pk, "name", 4);
    msgpack_pack_str(&pk, 300);
    char text[300];
    memset(text, 'q', sizeof text);
    msgpack_pack_str_body(&pk, text, sizeof text);
    msgpack_pack_str(&pk, 3);
    msgpack_pack_str_body(&pk, "seq", 3);
    msgpack_pack_array(&pk, 3);
    for (int i = 0; i < 3; i++)
        msgpack_pack_int(&pk, -i);
    assert_int_equal(acto_send_msg(f.root, f.sink, m), 0);

    /* raw, pre-encoded bytes */
    assert_int_equal(acto_msg_new(f.root, T_B, 0, &m), 0);
    static const uint8_t fixint[] = { 0x2a };   /* 42 */
    assert_int_equal(acto_msg_write(m, fixint, 1), 0);
    assert_int_equal(acto_msg_write(m, NULL, 0), 0);
    assert_int_equal(acto_msg_write(m, NULL, 1), ACTO_EINVAL);
    assert_int_equal(acto_send_msg(f.root, f.sink, m), 0);

    /* built but not sent: acto_msg_free (ASan checks the leak) */
    assert_int_equal(acto_msg_new(f.root, T_C, 10000, &m), 0);
    acto_msg_packer(m, &pk);
    msgpack_pack_nil(&pk);
    acto_msg_free(f.root, m);

    /* system types and dead receivers: refused, message freed */
    assert_int_equal(acto_msg_new(f.root, ACTO_MSG_DOWN, 0, &m), 0);
    assert_int_equal(acto_send_msg(f.root, f.sink, m), ACTO_EINVAL);
    assert_int_equal(acto_msg_new(f.root, T_D, 0, &m), 0);
    assert_int_equal(acto_send_msg(f.root, f.sink + 1, m), ACTO_ENOACTOR);
    assert_int_equal(acto_send_msg(f.root, f.sink, NULL), ACTO_EINVAL);
    assert_int_equal(acto_msg_new(f.root, T_D, 0, NULL), ACTO_EINVAL);
    assert_int_equal(acto_msg_new(NULL, T_D, 0, &m), ACTO_EINVAL);
    assert_int_equal(acto_msg_write(NULL, "x", 1), ACTO_EINVAL);
    acto_msg_free(f.root, NULL);                      /* no-op */

    tu_run(f.rt);
    assert_int_equal(f.cap.n, 2);
    m = fx_msg(&f, 0);
    msgpack_object o;
    assert_int_equal(acto_msg_unpack(f.root, m, &o), 0);
    assert_int_equal(o.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(o.via.map.size, 2);
    assert_int_equal(o.via.map.ptr[0].val.via.str.size, 300);
    assert_memory_equal(o.via.map.ptr[0].val.via.str.ptr, text, 300);
    assert_int_equal(o.via.map.ptr[1].val.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(o.via.map.ptr[1].val.via.array.ptr[2].via.i64, -2);
    assert_int_equal(acto_msg_unpack(NULL, m, &o), ACTO_EINVAL);
    assert_int_equal(acto_msg_unpack(f.root, NULL, &o), ACTO_EINVAL);
    assert_int_equal(acto_msg_unpack(f.root, m, NULL), ACTO_EINVAL);
    assert_int_equal(acto_msg_scan(NULL, m, "n"), ACTO_EINVAL);
    assert_int_equal(acto_msg_scan(f.root, NULL, "n"), ACTO_EINVAL);
    assert_int_equal(acto_msg_scan(f.root, m, NULL), ACTO_EINVAL);
    const char *s;
    size_t n;
    int64_t a, b, c;
    assert_int_equal(acto_msg_scan(f.root, m, "{s s s [i i i]}", NULL, NULL, &s, &n,
                                   NULL, NULL, &a, &b, &c), 0);
    assert_int_equal(n, 300);
    assert_true(a == 0 && b == -1 && c == -2);
    acto_msg_free(f.root, m);
    m = fx_msg(&f, 1);
    assert_int_equal(acto_msg_i64(m, &a), 0);
    assert_true(a == 42);
    acto_msg_free(f.root, m);
    /* the unsendable ones: one dead letter (the dead pid), no delivery */
    assert_int_equal(tu_stats(f.rt).dead_letters, 1);
    fx_close(&f);
}

/* ---- forward ------------------------------------------------------------------- */

typedef struct {
    acto_pid_t to;
    const void *addr[8];
    unsigned n;
    int second_forward, foreign_forward;
} fwd_t;

static int fwd_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    fwd_t *f = arg;
    if (f->n < 8)
        f->addr[f->n++] = msg;
    int rc = acto_forward(ctx, f->to, msg);
    f->second_forward = acto_forward(ctx, f->to, msg);   /* already taken */
    return rc;
}

/* The original sender, so forwarding is seen to keep `from`. */
static int origin_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    fwd_t *f = arg;
    int64_t n;
    if (acto_msg_i64(msg, &n) != 0)
        return -1;
    for (int64_t i = 0; i < n; i++)
        if (acto_send_i64(ctx, f->to, T_E, i) != 0)
            return -1;
    return 0;
}

static void test_forward(void **state)
{
    (void)state;
    fixture_t f;
    fx_open(&f);
    fwd_t fw = { .to = f.sink };
    acto_pid_t fwd = tu_spawn_fn(f.root, fwd_recv, &fw);
    fwd_t og = { .to = fwd };
    acto_pid_t origin = tu_spawn_fn(f.root, origin_recv, &og);
    assert_int_equal(acto_send_i64(f.root, origin, T_A, 5), 0);
    tu_run(f.rt);
    assert_int_equal(fw.n, 5);
    assert_int_equal(f.cap.n, 5);
    for (unsigned i = 0; i < 5; i++) {
        assert_ptr_equal(f.cap.v[i].addr, fw.addr[i]);   /* moved, not copied */
        assert_true(f.cap.v[i].from == origin);          /* sender kept */
        assert_int_equal(f.cap.v[i].type, T_E);
    }
    assert_int_equal(fw.second_forward, ACTO_EINVAL);
    /* outside receive, or with a message that is not the current one */
    acto_msg_t *m = NULL;
    assert_int_equal(acto_msg_new(f.root, T_A, 0, &m), 0);
    assert_int_equal(acto_forward(f.root, f.sink, m), ACTO_EINVAL);
    acto_msg_free(f.root, m);
    assert_int_equal(acto_forward(NULL, f.sink, NULL), ACTO_EINVAL);
    fx_close(&f);
}

/* ---- ordering between one sender and one receiver -------------------------- */

typedef struct {
    acto_pid_t to;
    int64_t n;
} burst_t;

static int burst_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)msg;
    burst_t *b = arg;
    for (int64_t i = 0; i < b->n; i++)
        if (acto_send_i64(ctx, b->to, T_B, i) != 0)
            return -1;
    return 0;
}

typedef struct {
    int64_t next[2];
    unsigned bad;
    acto_pid_t from[2];
} order_t;

static int order_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)ctx;
    order_t *o = arg;
    int64_t v;
    int k = acto_msg_from(msg) == o->from[1];
    if (acto_msg_i64(msg, &v) != 0 || v != o->next[k])
        o->bad++;
    else
        o->next[k]++;
    return 0;
}

static void test_order_one_to_one(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(2);
    acto_ctx_t *root = acto_root(rt);
    int64_t n = (int64_t)tu_scale(200000, 20000);
    order_t o = { { 0, 0 }, 0, { ACTO_PID_NONE, 0 } };
    acto_pid_t recv = tu_spawn_fn(root, order_recv, &o);
    burst_t b = { recv, n };
    acto_pid_t sender = tu_spawn_fn(root, burst_recv, &b);
    o.from[1] = sender;
    assert_int_equal(acto_send_empty(root, sender, T_A), 0);
    /* root is a second sender, interleaving with the actor */
    for (int64_t i = 0; i < n; i++)
        assert_int_equal(acto_send_i64(root, recv, T_B, i), 0);
    tu_run(rt);
    assert_int_equal(o.bad, 0);
    assert_true(o.next[0] == n);
    assert_true(o.next[1] == n);
    acto_stats_t st = tu_stats(rt);
    assert_true(st.messages == (uint64_t)(2 * n + 1));
    assert_int_equal(st.dead_letters, 0);
    acto_runtime_free(rt);
}

/* ---- error strings ----------------------------------------------------------------- */

static void test_strerror(void **state)
{
    (void)state;
    const char *seen[16];
    int n = 0;
    for (int code = 0; code >= ACTO_E_LAST; code--) {
        const char *s = acto_strerror(code);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        assert_string_not_equal(s, acto_strerror(INT_MIN));   /* named */
        for (int k = 0; k < n; k++)
            assert_string_not_equal(s, seen[k]);              /* distinct */
        seen[n++] = s;
    }
    assert_int_equal(n, 13);
    assert_non_null(acto_strerror(1));
    assert_string_equal(acto_strerror(1), acto_strerror(ACTO_E_LAST - 1));
    assert_string_equal(acto_strerror(INT_MAX), acto_strerror(INT_MIN));
}

/* ---- system message types are the runtime's -------------------------------------- */

static void test_system_types_rejected(void **state)
{
    (void)state;
    fixture_t f;
    fx_open(&f);
    static const uint8_t one[] = { 1 };
    uint32_t bad[] = { ACTO_MSG_SYSTEM, ACTO_MSG_DOWN, ACTO_MSG_EXIT, 0xFFFFFF01u, UINT32_MAX };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(acto_send(f.root, f.sink, bad[i], one, 1), ACTO_EINVAL);
        assert_int_equal(acto_send_empty(f.root, f.sink, bad[i]), ACTO_EINVAL);
        assert_int_equal(acto_send_i64(f.root, f.sink, bad[i], 1), ACTO_EINVAL);
        assert_int_equal(acto_send_u64(f.root, f.sink, bad[i], 1), ACTO_EINVAL);
        assert_int_equal(acto_send_f64(f.root, f.sink, bad[i], 1), ACTO_EINVAL);
        assert_int_equal(acto_send_str(f.root, f.sink, bad[i], "x"), ACTO_EINVAL);
        assert_int_equal(acto_send_bin(f.root, f.sink, bad[i], one, 1), ACTO_EINVAL);
        assert_int_equal(acto_send_fmt(f.root, f.sink, bad[i], "i", (int64_t)1), ACTO_EINVAL);
    }
    assert_int_equal(acto_send_i64(f.root, f.sink, ACTO_MSG_SYSTEM - 1, 1), 0);  /* highest user type */
    tu_run(f.rt);
    assert_int_equal(f.cap.n, 1);
    assert_int_equal(f.cap.v[0].type, ACTO_MSG_SYSTEM - 1);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmt_every_letter),
        cmocka_unit_test(test_fmt_nested),
        cmocka_unit_test(test_fmt_errors),
        cmocka_unit_test(test_scalar_readers),
        cmocka_unit_test(test_scan_in_actor),
        cmocka_unit_test(test_large_bodies),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_builder),
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_order_one_to_one),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_system_types_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
