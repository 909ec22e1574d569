/* tests/test_frame.c - net/frame: msgpack frames on a byte stream.
 *
 * Random messages are encoded into one stream, and the stream is fed to
 * the decoder split at every possible boundary, one byte at a time, and in
 * random chunks (through feed and through reserve/commit); every frame must
 * come back with its type and its exact body bytes.  Then malformed,
 * truncated and oversize input, and the limits. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "net/frame.h"

/* A hostile container header makes msgpack-c ask malloc for up to 96 GiB
 * (24 bytes per element claimed).  glibc refuses what the machine cannot
 * back (NULL: the decoder says ACTO_ELIMIT); ASan aborts instead unless
 * told to return NULL like glibc.  ASAN_OPTIONS still adds to this. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

/* ---- random messages --------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t rnd(void)   /* xorshift64*: deterministic */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static void pack_random(msgpack_packer *pk, int depth, bool big)
{
    static const char junk[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned k = (unsigned)(rnd() % (depth > 3 ? 11 : 14));
    size_t n;
    switch (k) {
    case 0: msgpack_pack_nil(pk); break;
    case 1: rnd() & 1 ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
    case 2: msgpack_pack_uint64(pk, rnd() >> (rnd() % 64)); break;
    case 3: msgpack_pack_int64(pk, -(int64_t)(rnd() >> (1 + rnd() % 63)) - 1); break;
    case 4: msgpack_pack_double(pk, (double)(int64_t)rnd() / 7.0); break;
    case 5: msgpack_pack_float(pk, (float)(rnd() % 100000) / 3.0f); break;
    case 6:
    case 7: {
        n = big && rnd() % 4 == 0 ? 300 + rnd() % 70000 : rnd() % 40;
        char *s = malloc(n + 1);
        for (size_t i = 0; i < n; i++)
            s[i] = junk[rnd() % (sizeof junk - 1)];
        if (k == 6) {
            msgpack_pack_str(pk, n);
            msgpack_pack_str_body(pk, s, n);
        } else {
            msgpack_pack_bin(pk, n);
            msgpack_pack_bin_body(pk, s, n);
        }
        free(s);
        break;
    }
    case 8: {
        static const size_t ext_len[] = { 1, 2, 4, 8, 16, 3, 20 };
        n = ext_len[rnd() % 7];
        char b[20] = { 0 };
        msgpack_pack_ext(pk, n, (int8_t)(rnd() % 100));
        msgpack_pack_ext_body(pk, b, n);
        break;
    }
    case 9: msgpack_pack_uint64(pk, rnd() % 128); break;
    case 10: msgpack_pack_str(pk, 0); break;
    case 11:
    case 12:
        n = rnd() % (k == 11 ? 20 : 4);
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++)
            pack_random(pk, depth + 1, big);
        break;
    default:
        n = rnd() % 5;
        msgpack_pack_map(pk, n);
        for (size_t i = 0; i < 2 * n; i++)
            pack_random(pk, depth + 1, big);
        break;
    }
}

typedef struct {
    uint32_t type;
    msgpack_sbuffer body;      /* size 0: empty body */
    size_t frame_size;
} rmsg_t;

typedef struct {
    rmsg_t *m;
    size_t n;
    char *bytes;               /* all frames back to back */
    size_t len;
} stream_t;

static void stream_make(stream_t *st, size_t n, bool big)
{
    st->m = calloc(n, sizeof *st->m);
    st->n = n;
    st->len = 0;
    size_t cap = 1024;
    st->bytes = malloc(cap);
    assert_true(st->m && st->bytes);
    for (size_t i = 0; i < n; i++) {
        rmsg_t *m = &st->m[i];
        static const uint32_t types[] = { 0, 1, 127, 128, 255, 256, 65535, 65536,
                                          ACTO_MSG_SYSTEM - 1 };
        m->type = rnd() % 3 ? types[rnd() % 9] : (uint32_t)(rnd() % ACTO_MSG_SYSTEM);
        msgpack_sbuffer_init(&m->body);
        if (rnd() % 5) {
            msgpack_packer pk;
            msgpack_packer_init(&pk, &m->body, msgpack_sbuffer_write);
            pack_random(&pk, 0, big);
        }
        frame_out_t f;
        assert_int_equal(frame_encode(&f, m->type, m->body.data, m->body.size, 0), 0);
        m->frame_size = frame_out_size(&f);
        while (st->len + m->frame_size > cap) {
            cap *= 2;
            st->bytes = realloc(st->bytes, cap);
            assert_non_null(st->bytes);
        }
        memcpy(st->bytes + st->len, f.hdr, f.hdr_len);
        if (f.body_len)
            memcpy(st->bytes + st->len + f.hdr_len, f.body, f.body_len);
        st->len += m->frame_size;
    }
}

static void stream_free(stream_t *st)
{
    for (size_t i = 0; i < st->n; i++)
        msgpack_sbuffer_destroy(&st->m[i].body);
    free(st->m);
    free(st->bytes);
}

/* ---- checking what the decoder returns --------------------------------------------- */

/* Take every complete frame; each must be the next expected message. */
static void drain(frame_dec_t *d, const stream_t *st, size_t *got)
{
    frame_t f;
    int rc;
    while ((rc = frame_dec_next(d, &f)) == 1) {
        assert_true(*got < st->n);
        const rmsg_t *m = &st->m[*got];
        assert_int_equal(f.type, m->type);
        assert_int_equal(f.size, m->frame_size);
        if (m->body.size == 0) {
            assert_null(f.body);
        } else {
            assert_non_null(f.body);
            msgpack_sbuffer sb;
            msgpack_packer pk;
            msgpack_sbuffer_init(&sb);
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            assert_int_equal(msgpack_pack_object(&pk, *f.body), 0);
            assert_int_equal(sb.size, m->body.size);
            assert_memory_equal(sb.data, m->body.data, sb.size);
            msgpack_sbuffer_destroy(&sb);
        }
        (*got)++;
    }
    assert_int_equal(rc, 0);
}

static void feed_chunks(const stream_t *st, size_t (*chunk)(size_t off), bool zero_copy)
{
    frame_dec_t d;
    size_t got = 0;
    frame_dec_init(&d, 0);
    for (size_t off = 0; off < st->len;) {
        size_t n = chunk(off);
        if (n > st->len - off)
            n = st->len - off;
        if (zero_copy) {
            void *buf;
            size_t avail;
            assert_int_equal(frame_dec_reserve(&d, n, &buf, &avail), 0);
            assert_true(avail >= n);
            memcpy(buf, st->bytes + off, n);
            assert_int_equal(frame_dec_commit(&d, n), 0);
        } else {
            assert_int_equal(frame_dec_feed(&d, st->bytes + off, n), 0);
        }
        off += n;
        drain(&d, st, &got);
    }
    assert_int_equal(got, st->n);
    assert_int_equal(frame_dec_pending(&d), 0);
    assert_int_equal(frame_dec_finish(&d), 0);
    frame_dec_destroy(&d);
}

static size_t one_byte(size_t off) { (void)off; return 1; }
static size_t random_chunk(size_t off) { (void)off; return 1 + rnd() % (rnd() % 4 ? 100 : 100000); }

static int setup(void **state)
{
    (void)state;
    rng_state = UINT64_C(0x2545F4914F6CDD1D);
    return 0;
}

/* ---- round trips ---------------------------------------------------------------------- */

/* The stream is plain msgpack: one [type] or [type, body] value per frame. */
static void test_stream_is_msgpack(void **state)
{
    (void)state;
    stream_t st;
    stream_make(&st, 200, true);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    for (size_t i = 0; i < st.n; i++) {
        size_t start = off;
        assert_int_equal(msgpack_unpack_next(&u, st.bytes, st.len, &off), MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off - start, st.m[i].frame_size);
        assert_int_equal(u.data.type, MSGPACK_OBJECT_ARRAY);
        assert_int_equal(u.data.via.array.size, st.m[i].body.size ? 2 : 1);
        assert_int_equal(u.data.via.array.ptr[0].via.u64, st.m[i].type);
    }
    assert_int_equal(off, st.len);
    msgpack_unpacked_destroy(&u);
    stream_free(&st);
}

/* Split into two chunks at every possible boundary. */
static void test_split_everywhere(void **state)
{
    (void)state;
    stream_t st;
    stream_make(&st, 60, false);
    for (size_t k = 0; k <= st.len; k++) {
        frame_dec_t d;
        size_t got = 0;
        frame_dec_init(&d, 0);
        assert_int_equal(frame_dec_feed(&d, st.bytes, k), 0);
        drain(&d, &st, &got);
        assert_int_equal(frame_dec_feed(&d, st.bytes + k, st.len - k), 0);
        drain(&d, &st, &got);
        assert_int_equal(got, st.n);
        assert_int_equal(frame_dec_finish(&d), 0);
        frame_dec_destroy(&d);
    }
    stream_free(&st);
}

static void test_one_byte_at_a_time(void **state)
{
    (void)state;
    stream_t st;
    stream_make(&st, 300, true);   /* some bodies of 300 B .. 70 KB */
    feed_chunks(&st, one_byte, false);
    feed_chunks(&st, one_byte, true);
    stream_free(&st);
}

static void test_random_chunks(void **state)
{
    (void)state;
    for (int round = 0; round < 10; round++) {
        stream_t st;
        stream_make(&st, 500, true);
        feed_chunks(&st, random_chunk, false);
        feed_chunks(&st, random_chunk, true);
        stream_free(&st);
    }
}

/* Frames back as acto messages: same type, same body bytes. */
static void test_to_msg(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(1);
    acto_ctx_t *ctx = acto_root(rt);
    stream_t st;
    stream_make(&st, 300, true);
    frame_dec_t d;
    frame_dec_init(&d, 0);
    assert_int_equal(frame_dec_feed(&d, st.bytes, st.len), 0);
    frame_t f;
    for (size_t i = 0; i < st.n; i++) {
        assert_int_equal(frame_dec_next(&d, &f), 1);
        acto_msg_t *m = NULL;
        assert_int_equal(frame_to_msg(ctx, &f, &m), 0);
        assert_int_equal(acto_msg_type(m), st.m[i].type);
        size_t len;
        const void *body = acto_msg_data(m, &len);
        assert_int_equal(len, st.m[i].body.size);
        if (len)
            assert_memory_equal(body, st.m[i].body.data, len);
        /* ... and the message frames to the same bytes again. */
        frame_out_t o;
        assert_int_equal(frame_encode_msg(&o, m, 0), 0);
        assert_int_equal(frame_out_size(&o), st.m[i].frame_size);
        acto_msg_free(ctx, m);
    }
    assert_int_equal(frame_dec_next(&d, &f), 0);
    frame_dec_destroy(&d);
    stream_free(&st);
    acto_runtime_free(rt);
}

/* ---- encoder ----------------------------------------------------------------------------- */

static void test_encode_header(void **state)
{
    (void)state;
    static const struct { uint32_t type; size_t len; uint8_t hdr_len; } cases[] = {
        { 0, 1, 2 }, { 127, 1, 2 }, { 128, 1, 3 }, { 255, 1, 3 }, { 256, 1, 4 },
        { 65535, 1, 4 }, { 65536, 1, 6 }, { ACTO_MSG_SYSTEM - 1, 1, 6 }, { 5, 0, 2 },
    };
    const uint8_t body = 0xc0;   /* nil */
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        frame_out_t f;
        assert_int_equal(frame_encode(&f, cases[i].type, &body, cases[i].len, 0), 0);
        assert_int_equal(f.hdr_len, cases[i].hdr_len);
        assert_int_equal(f.hdr[0], cases[i].len ? 0x92 : 0x91);
        assert_true(cases[i].len ? f.body == &body : f.body == NULL);   /* not copied */
        assert_int_equal(f.body_len, cases[i].len);
    }
    frame_out_t f;
    assert_int_equal(frame_encode(&f, ACTO_MSG_SYSTEM, &body, 1, 0), ACTO_EINVAL);
    assert_int_equal(frame_encode(&f, ACTO_MSG_DOWN, NULL, 0, 0), ACTO_EINVAL);
    assert_int_equal(frame_encode(&f, 1, NULL, 5, 0), ACTO_EINVAL);
    assert_int_equal(frame_encode(NULL, 1, &body, 1, 0), ACTO_EINVAL);
    assert_int_equal(frame_encode_msg(&f, NULL, 0), ACTO_EINVAL);
    /* The limit counts the header: 2 + 98 = 100 fits max 100, 99 does not. */
    static uint8_t big[200];
    assert_int_equal(frame_encode(&f, 1, big, 98, 100), 0);
    assert_int_equal(frame_encode(&f, 1, big, 99, 100), ACTO_ELIMIT);
    assert_int_equal(frame_encode(&f, 1, big, 1, 1), ACTO_ELIMIT);
    assert_int_equal(frame_encode(&f, 1, big, FRAME_MAX_DEFAULT, 0), ACTO_ELIMIT);
}

static void test_check_body(void **state)
{
    (void)state;
    stream_t st;
    stream_make(&st, 200, true);
    for (size_t i = 0; i < st.n; i++) {
        const msgpack_sbuffer *b = &st.m[i].body;
        assert_int_equal(frame_check_body(b->data, b->size), 0);
        if (b->size > 1)   /* cut short */
            assert_int_equal(frame_check_body(b->data, b->size - 1), ACTO_EPROTO);
    }
    static const uint8_t two[] = { 0x01, 0x02 }, bad[] = { 0xc1 }, arr[] = { 0x92, 0x01 };
    assert_int_equal(frame_check_body(two, 2), ACTO_EPROTO);     /* two values */
    assert_int_equal(frame_check_body(bad, 1), ACTO_EPROTO);
    assert_int_equal(frame_check_body(arr, 2), ACTO_EPROTO);     /* array missing an item */
    assert_int_equal(frame_check_body(NULL, 0), 0);              /* empty body */
    assert_int_equal(frame_check_body(NULL, 1), ACTO_EINVAL);
    stream_free(&st);
}

/* ---- malformed and truncated input ---------------------------------------------------- */

/* Feed bytes; the decoder must first return `good` frames, then err; and
 * after that refuse everything with err. */
static void expect_error(const uint8_t *bytes, size_t len, int good, int err, size_t max)
{
    frame_dec_t d;
    frame_t f;
    frame_dec_init(&d, max);
    int rc = frame_dec_feed(&d, bytes, len);
    assert_int_equal(rc, 0);
    for (int i = 0; i < good; i++)
        assert_int_equal(frame_dec_next(&d, &f), 1);
    assert_int_equal(frame_dec_next(&d, &f), err);
    /* Sticky. */
    assert_int_equal(frame_dec_next(&d, &f), err);
    static const uint8_t ok[] = { 0x91, 0x01 };
    assert_int_equal(frame_dec_feed(&d, ok, sizeof ok), err);
    void *buf;
    size_t avail;
    assert_int_equal(frame_dec_reserve(&d, 16, &buf, &avail), err);
    assert_int_equal(frame_dec_commit(&d, 0), err);
    assert_int_equal(frame_dec_finish(&d), err);
    frame_dec_destroy(&d);
}

static void test_malformed(void **state)
{
    (void)state;
    static const struct { const char *what; uint8_t b[12]; size_t n; int good; } cases[] = {
        { "0xc1 first", { 0xc1 }, 1, 0 },
        { "0xc1 after a frame", { 0x91, 0x01, 0xc1 }, 3, 1 },
        { "0xc1 as the type", { 0x92, 0xc1, 0xc0 }, 3, 0 },
        { "0xc1 inside the body", { 0x92, 0x01, 0x92, 0x01, 0xc1 }, 5, 0 },
        { "not an array", { 0x01 }, 1, 0 },
        { "a map", { 0x81, 0x01, 0x02 }, 3, 0 },
        { "empty array", { 0x90 }, 1, 0 },
        { "three elements", { 0x93, 0x01, 0xc0, 0xc0 }, 4, 0 },
        { "negative type", { 0x92, 0xff, 0xc0 }, 3, 0 },
        { "string type", { 0x92, 0xa1, 'x', 0xc0 }, 4, 0 },
        { "nil type", { 0x91, 0xc0 }, 2, 0 },
        { "float type", { 0x91, 0xca, 0x3f, 0x80, 0, 0 }, 6, 0 },
        { "system type", { 0x91, 0xce, 0xff, 0xff, 0x00, 0x00 }, 6, 0 },
        { "type over 32 bits", { 0x91, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0 }, 10, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        print_message("malformed: %s\n", cases[i].what);
        expect_error(cases[i].b, cases[i].n, cases[i].good, ACTO_EPROTO, 0);
    }
}

/* Deeper nesting than msgpack-c allows is a limit, not a crash. */
static void test_too_deep(void **state)
{
    (void)state;
    uint8_t b[64];
    size_t n = 0;
    b[n++] = 0x92;
    b[n++] = 0x01;
    for (int i = 0; i < 40; i++)
        b[n++] = 0x91;   /* [[[[...]]]] */
    b[n++] = 0xc0;
    expect_error(b, n, 0, ACTO_ELIMIT, 0);
}

/* A frame cut off by the end of the stream: the complete frames before it
 * come out, then finish reports the truncation. */
static void test_truncated(void **state)
{
    (void)state;
    stream_t st;
    stream_make(&st, 3, false);
    size_t last = st.m[2].frame_size;
    for (size_t cut = 1; cut < last; cut++) {
        frame_dec_t d;
        frame_t f;
        frame_dec_init(&d, 0);
        assert_int_equal(frame_dec_feed(&d, st.bytes, st.len - cut), 0);
        assert_int_equal(frame_dec_next(&d, &f), 1);
        assert_int_equal(frame_dec_next(&d, &f), 1);
        assert_int_equal(frame_dec_next(&d, &f), 0);
        assert_int_equal(frame_dec_pending(&d), last - cut);
        assert_int_equal(frame_dec_finish(&d), ACTO_EPROTO);
        assert_int_equal(frame_dec_next(&d, &f), ACTO_EPROTO);
        frame_dec_destroy(&d);
    }
    /* Ended exactly between frames. */
    frame_dec_t d;
    frame_t f;
    frame_dec_init(&d, 0);
    assert_int_equal(frame_dec_finish(&d), 0);   /* nothing received at all */
    assert_int_equal(frame_dec_feed(&d, st.bytes, st.len), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(frame_dec_next(&d, &f), 1);
    assert_int_equal(frame_dec_next(&d, &f), 0);
    assert_int_equal(frame_dec_finish(&d), 0);
    frame_dec_destroy(&d);
    stream_free(&st);
}

/* Garbage and damaged streams, in random chunks: the decoder returns only
 * well-formed frames, 0 or ACTO_EPROTO/ACTO_ELIMIT, and stays stopped after
 * an error (run under ASan this also checks it never reads out of bounds). */
static void test_fuzz(void **state)
{
    (void)state;
    stream_t st;
    stream_make(&st, 100, false);
    uint8_t *buf = malloc(st.len);
    int errors = 0;
    for (int round = 0; round < 1000; round++) {
        size_t len;
        if (round % 2) {                 /* a valid stream with a few bytes damaged */
            len = st.len;
            memcpy(buf, st.bytes, len);
            for (int k = 0; k < 1 + round % 4; k++)
                buf[rnd() % len] = (uint8_t)rnd();
        } else {                         /* garbage, often starting like a frame */
            len = 1 + rnd() % 200;
            for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)rnd();
            if (rnd() % 2)
                buf[0] = 0x92;
        }
        frame_dec_t d;
        frame_t f;
        frame_dec_init(&d, 64 * 1024);
        int rc = 0;
        for (size_t off = 0; off < len && rc >= 0;) {
            size_t n = 1 + rnd() % 64;
            if (n > len - off)
                n = len - off;
            rc = frame_dec_feed(&d, buf + off, n);
            off += n;
            while (rc == 0 && (rc = frame_dec_next(&d, &f)) == 1) {
                assert_true(f.type < ACTO_MSG_SYSTEM);
                assert_true(f.size <= d.max);
                rc = 0;
            }
        }
        if (rc == 0)
            rc = frame_dec_finish(&d);
        if (rc) {
            assert_true(rc == ACTO_EPROTO || rc == ACTO_ELIMIT);
            assert_int_equal(frame_dec_next(&d, &f), rc);
            errors++;
        }
        frame_dec_destroy(&d);
    }
    assert_true(errors > 300);           /* the garbage was mostly refused */
    free(buf);
    stream_free(&st);
}

/* ---- limits ------------------------------------------------------------------------------- */

/* A [1, bin] frame of exactly `total` bytes. */
static uint8_t *frame_of_size(size_t total, size_t *len)
{
    for (size_t m = total; m-- > 0;) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_bin(&pk, m);
        if (sb.size + m + 2 == total) {   /* 0x92, 0x01, bin header, payload */
            uint8_t *b = calloc(1, total);
            b[0] = 0x92;
            b[1] = 0x01;
            memcpy(b + 2, sb.data, sb.size);
            memset(b + 2 + sb.size, 'x', m);
            msgpack_sbuffer_destroy(&sb);
            *len = total;
            return b;
        }
        msgpack_sbuffer_destroy(&sb);
    }
    fail_msg("no frame of %zu bytes", total);
    return NULL;
}

static void limit_case(size_t max, size_t total, bool bytewise)
{
    size_t len;
    uint8_t *b = frame_of_size(total, &len);
    frame_dec_t d;
    frame_t f;
    frame_dec_init(&d, max);
    int rc = 0;
    if (bytewise) {
        for (size_t i = 0; i < len && rc == 0; i++) {
            assert_int_equal(frame_dec_feed(&d, b + i, 1), 0);
            rc = frame_dec_next(&d, &f);
            if (rc == 0) {   /* still waiting: never more than max held */
                assert_int_equal(frame_dec_pending(&d), i + 1);
                assert_true(i + 1 <= d.max);
            }
        }
    } else {
        assert_int_equal(frame_dec_feed(&d, b, len), 0);
        rc = frame_dec_next(&d, &f);
    }
    if (total <= d.max) {
        assert_int_equal(rc, 1);
        assert_int_equal(f.size, total);
        assert_int_equal(f.body->type, MSGPACK_OBJECT_BIN);
    } else {
        assert_int_equal(rc, ACTO_ELIMIT);
        assert_int_equal(frame_dec_next(&d, &f), ACTO_ELIMIT);
    }
    frame_dec_destroy(&d);
    free(b);
}

static void test_exact_limit(void **state)
{
    (void)state;
    limit_case(1000, 1000, false);
    limit_case(1000, 1000, true);
    limit_case(1000, 1001, false);
    limit_case(1000, 1001, true);
    limit_case(0, FRAME_MAX_DEFAULT, false);       /* default: 1 MiB exactly */
    limit_case(0, FRAME_MAX_DEFAULT + 1, false);
}

/* A header announcing 100 MiB: refused once just over max bytes of it have
 * arrived, long before the frame is complete, and the buffer never held
 * much more than max + one chunk. */
static void test_oversize_streaming(void **state)
{
    (void)state;
    enum { CHUNK = 64 * 1024 };
    uint8_t *chunk = calloc(1, CHUNK);
    static const uint8_t hdr[] = { 0x92, 0x01, 0xc6, 0x06, 0x40, 0x00, 0x00 };   /* bin32 100 MiB */
    frame_dec_t d;
    frame_t f;
    frame_dec_init(&d, 0);
    assert_int_equal(frame_dec_feed(&d, hdr, sizeof hdr), 0);
    assert_int_equal(frame_dec_next(&d, &f), 0);
    size_t fed = sizeof hdr;
    int rc = 0;
    while (rc == 0) {
        assert_true(fed <= FRAME_MAX_DEFAULT);
        assert_int_equal(frame_dec_feed(&d, chunk, CHUNK), 0);
        fed += CHUNK;
        rc = frame_dec_next(&d, &f);
        if (rc == 0)
            assert_true(frame_dec_pending(&d) <= FRAME_MAX_DEFAULT);
    }
    assert_int_equal(rc, ACTO_ELIMIT);
    assert_true(fed > FRAME_MAX_DEFAULT && fed <= FRAME_MAX_DEFAULT + CHUNK + sizeof hdr);
    assert_int_equal(frame_dec_feed(&d, chunk, 1), ACTO_ELIMIT);
    frame_dec_destroy(&d);
    free(chunk);
}

/* Container headers claiming billions of elements: refused, either at once
 * (msgpack-c cannot allocate the element vector) or once more than max
 * bytes of the frame have come, never waited for. */
static void test_hostile_headers(void **state)
{
    (void)state;
    static const uint8_t hdrs[][8] = {
        { 0x92, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff },   /* array32 of 2^32-1 */
        { 0x92, 0x01, 0xdf, 0xff, 0xff, 0xff, 0xff },   /* map32 of 2^32-1 pairs */
        { 0x92, 0x01, 0xdd, 0x01, 0x00, 0x00, 0x00 },   /* array32 of 2^24 */
    };
    enum { MAX = 4096, CHUNK = 512 };
    uint8_t filler[CHUNK];
    memset(filler, 0xc0, sizeof filler);   /* nils: one byte per element */
    for (size_t i = 0; i < sizeof hdrs / sizeof *hdrs; i++) {
        frame_dec_t d;
        frame_t f;
        frame_dec_init(&d, MAX);
        assert_int_equal(frame_dec_feed(&d, hdrs[i], 7), 0);
        size_t fed = 7;
        int rc;
        while ((rc = frame_dec_next(&d, &f)) == 0) {
            assert_true(fed <= MAX);
            assert_int_equal(frame_dec_feed(&d, filler, CHUNK), 0);
            fed += CHUNK;
        }
        assert_int_equal(rc, ACTO_ELIMIT);
        assert_true(fed <= MAX + CHUNK + 7);
        frame_dec_destroy(&d);
    }
}

/* Many small frames in one big chunk are fine even though the chunk is
 * larger than max: the limit is per frame. */
static void test_limit_is_per_frame(void **state)
{
    (void)state;
    size_t len;
    uint8_t *one = frame_of_size(100, &len);
    enum { N = 50 };
    uint8_t *many = malloc(N * len);
    for (int i = 0; i < N; i++)
        memcpy(many + i * len, one, len);
    frame_dec_t d;
    frame_t f;
    frame_dec_init(&d, 100);
    assert_int_equal(frame_dec_feed(&d, many, N * len), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(frame_dec_next(&d, &f), 1);
    assert_int_equal(frame_dec_next(&d, &f), 0);
    frame_dec_destroy(&d);
    free(one);
    free(many);
}

/* ---- buffer lifetime ------------------------------------------------------------------------ */

static void test_trim(void **state)
{
    (void)state;
    stream_t st;
    stream_make(&st, 2, false);
    frame_dec_t d;
    frame_t f;
    frame_dec_init(&d, 0);
    assert_false(d.live);                        /* nothing allocated before input */
    assert_int_equal(frame_dec_next(&d, &f), 0);
    assert_int_equal(frame_dec_feed(&d, st.bytes, st.m[0].frame_size + 1), 0);
    assert_int_equal(frame_dec_next(&d, &f), 1);
    assert_int_equal(frame_dec_next(&d, &f), 0);
    frame_dec_trim(&d);                          /* a frame is partly here: kept */
    assert_true(d.live);
    assert_int_equal(frame_dec_pending(&d), 1);
    assert_int_equal(frame_dec_feed(&d, st.bytes + st.m[0].frame_size + 1,
                                    st.len - st.m[0].frame_size - 1), 0);
    assert_int_equal(frame_dec_next(&d, &f), 1);
    assert_int_equal(f.type, st.m[1].type);
    assert_int_equal(frame_dec_next(&d, &f), 0);
    frame_dec_trim(&d);                          /* idle: released */
    assert_false(d.live);
    assert_int_equal(frame_dec_pending(&d), 0);
    /* And it starts again on new input. */
    assert_int_equal(frame_dec_feed(&d, st.bytes, st.len), 0);
    assert_int_equal(frame_dec_next(&d, &f), 1);
    assert_int_equal(frame_dec_next(&d, &f), 1);
    frame_dec_destroy(&d);
    frame_dec_destroy(&d);                       /* twice is harmless */
    stream_free(&st);
}

/* The objects of each frame are freed when the next is taken: after many
 * frames with big arrays, the unpacker's zone is back to one empty chunk. */
static void test_zone_reused(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (int i = 0; i < 1000; i++) {
        msgpack_pack_array(&pk, 2);
        msgpack_pack_uint32(&pk, 7);
        msgpack_pack_array(&pk, 100);
        for (int k = 0; k < 100; k++)
            msgpack_pack_int(&pk, k);
    }
    frame_dec_t d;
    frame_t f;
    frame_dec_init(&d, 0);
    for (size_t off = 0; off < sb.size; off += 4096) {
        size_t n = sb.size - off < 4096 ? sb.size - off : 4096;
        assert_int_equal(frame_dec_feed(&d, sb.data + off, n), 0);
        while (frame_dec_next(&d, &f) == 1)
            assert_int_equal(f.body->via.array.size, 100);
    }
    assert_int_equal(frame_dec_next(&d, &f), 0);
    assert_int_equal(d.up.z->chunk_list.free, d.up.z->chunk_size);
    frame_dec_destroy(&d);
    msgpack_sbuffer_destroy(&sb);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    frame_dec_t d;
    frame_t f;
    void *buf;
    size_t avail;
    frame_dec_init(&d, 0);
    assert_int_equal(frame_dec_feed(&d, NULL, 1), ACTO_EINVAL);
    assert_int_equal(frame_dec_feed(&d, NULL, 0), 0);
    assert_int_equal(frame_dec_next(&d, NULL), ACTO_EINVAL);
    assert_int_equal(frame_dec_commit(&d, 1), ACTO_EINVAL);   /* nothing reserved */
    assert_int_equal(frame_dec_reserve(&d, 8, &buf, &avail), 0);
    assert_int_equal(frame_dec_commit(&d, avail + 1), ACTO_EINVAL);
    assert_int_equal(frame_dec_commit(&d, 0), 0);
    assert_int_equal(frame_dec_next(&d, &f), 0);   /* none of that was an error */
    assert_int_equal(frame_to_msg(NULL, NULL, NULL), ACTO_EINVAL);
    frame_dec_destroy(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_stream_is_msgpack, setup),
        cmocka_unit_test_setup(test_split_everywhere, setup),
        cmocka_unit_test_setup(test_one_byte_at_a_time, setup),
        cmocka_unit_test_setup(test_random_chunks, setup),
        cmocka_unit_test_setup(test_to_msg, setup),
        cmocka_unit_test_setup(test_encode_header, setup),
        cmocka_unit_test_setup(test_check_body, setup),
        cmocka_unit_test_setup(test_malformed, setup),
        cmocka_unit_test_setup(test_fuzz, setup),
        cmocka_unit_test_setup(test_too_deep, setup),
        cmocka_unit_test_setup(test_truncated, setup),
        cmocka_unit_test_setup(test_exact_limit, setup),
        cmocka_unit_test_setup(test_oversize_streaming, setup),
        cmocka_unit_test_setup(test_hostile_headers, setup),
        cmocka_unit_test_setup(test_limit_is_per_frame, setup),
        cmocka_unit_test_setup(test_trim, setup),
        cmocka_unit_test_setup(test_zone_reused, setup),
        cmocka_unit_test_setup(test_bad_arguments, setup),
    };
    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
