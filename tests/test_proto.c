/* tests/test_proto.c - net/proto: the pub/sub wire protocol codec, and
 * docs/protocol.md against it.
 *
 * The document is read at run time (path compiled in as ACTO_PROTOCOL_DOC,
 * or argv[1]).  Its ```hex blocks are checked both ways: every example
 * block (example=ID) is what the encoder produces for the op in the table
 * below, and what the decoder gives back; every bad-input block (bad=CODE)
 * is fed through the server's pipeline (frame decoder, session gate,
 * decoder, hello check) and must give exactly that err code.  The error
 * table of section 6 must match proto_err_text and proto_err_fatal.  So
 * the document cannot drift from the code.  Then round trips of every op
 * through both encoders, limits, encoder refusals, non-canonical input,
 * truncation and a fuzz loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protodoc.h"
#include "testutil.h"
#include "acto/error.h"
#include "net/frame.h"
#include "net/proto.h"
#include "net/subject.h"

/* Fuzzed bodies can hold container headers that make msgpack-c ask malloc
 * for gigabytes (net/proto.h, "Memory"); glibc says NULL (the decoder
 * answers PROTO_EMALFORMED), ASan aborts unless told to act like glibc. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

#ifndef ACTO_PROTOCOL_DOC
#define ACTO_PROTOCOL_DOC "docs/protocol.md"
#endif

#define STR(s) { (s), sizeof(s) - 1 }
#define NOSTR { NULL, 0 }

/* ---- the document ---------------------------------------------------------------- */

typedef protodoc_block_t block_t;

static const char *doc_path = ACTO_PROTOCOL_DOC;
static protodoc_t pd;
static char *doc;                 /* the whole file, NUL-terminated */
static block_t *blocks;
static size_t nblocks;

static void parse_doc(void)
{
    protodoc_load(&pd, doc_path);
    doc = pd.text;
    blocks = pd.v;
    nblocks = pd.n;
}

#define attr protodoc_attr

static bool has_word(const block_t *b, const char *w)
{
    size_t n = strlen(w);
    for (const char *s = b->attrs; (s = strstr(s, w)) != NULL; s += n)
        if (s > b->attrs && s[-1] == ' ' && (s[n] == '\0' || s[n] == ' '))
            return true;
    return false;
}

static block_t *find_example(const char *id)
{
    block_t *found = NULL;
    char v[64];
    for (size_t i = 0; i < nblocks; i++) {
        if (attr(&blocks[i], "example", v, sizeof v) && strcmp(v, id) == 0) {
            if (found)
                fail_msg("%s: example=%s appears twice", doc_path, id);
            found = &blocks[i];
        }
    }
    if (!found)
        fail_msg("%s: no ```hex block with example=%s", doc_path, id);
    found->used = 1;
    return found;
}

/* ---- the examples the document must show, as the encoder's input ----------------- */

typedef struct example {
    const char *id;
    proto_op_t op;
} example_t;

static example_t examples[] = {
    { "hello", { .op = PROTO_HELLO, .u.hello = { 1, STR("demo"), NOSTR } } },
    { "hello-token", { .op = PROTO_HELLO, .u.hello = { 1, STR("demo"), STR("s3cret") } } },
    { "welcome", { .op = PROTO_WELCOME,
                   .u.welcome = { 1, STR("acto-broker"), 1048576, 65536 } } },
    { "ping", { .op = PROTO_PING } },
    { "pong", { .op = PROTO_PONG } },
    { "ok", { .op = PROTO_OK, .u.ok = { PROTO_SUB, 1 } } },
    { "err", { .op = 0 } },          /* proto_err_op, filled in by setup */
    { "err-nosid", { .op = 0 } },
    { "sub", { .op = PROTO_SUB, .u.sub = { 1, STR("orders.>"), NOSTR } } },
    { "sub-queue", { .op = PROTO_SUB, .u.sub = { 2, STR("orders.*.new"), STR("workers") } } },
    { "unsub", { .op = PROTO_UNSUB, .u.unsub = { 1, 0 } } },
    { "unsub-max", { .op = PROTO_UNSUB, .u.unsub = { 2, 10 } } },
    { "pub", { .op = PROTO_PUB, .u.pub = { STR("orders.eu.new"), NOSTR, "hello", 5, NULL, 0 } } },
    { "pub-reply", { .op = PROTO_PUB, .u.pub = { STR("time.now"), STR("_inbox.7"), "", 0, NULL, 0 } } },
    { "msg", { .op = PROTO_MSG, .u.msg = { 1, STR("orders.eu.new"), NOSTR, "hello", 5 } } },
    { "stats", { .op = PROTO_STATS } },
    { "stats_reply", { .op = PROTO_STATS_REPLY,
                       .u.stats = { 2, 3, 1000, 3000, 16000, 48000, 0, 0 } } },
};
#define NEXAMPLES (sizeof examples / sizeof examples[0])

static int setup_doc(void **state)
{
    (void)state;
    examples[6].op = proto_err_op(PROTO_ESUBJECT, PROTO_SUB, true, 2);
    examples[7].op = proto_err_op(PROTO_EMALFORMED, 0, false, 0);
    parse_doc();
    return 0;
}

static int teardown_doc(void **state)
{
    (void)state;
    protodoc_free(&pd);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------- */

static int peer_of(uint32_t op)
{
    switch (op) {
    case PROTO_WELCOME: case PROTO_OK: case PROTO_ERR: case PROTO_MSG: case PROTO_STATS_REPLY:
        return PROTO_PEER_SERVER;
    default:
        return PROTO_PEER_CLIENT;
    }
}

static void assert_str_eq(proto_str_t a, proto_str_t b)
{
    assert_int_equal(a.p == NULL, b.p == NULL);
    assert_int_equal(a.len, b.len);
    if (a.len)
        assert_memory_equal(a.p, b.p, a.len);
}

static void assert_bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    assert_int_equal(alen, blen);
    if (alen)
        assert_memory_equal(a, b, alen);
}

static void assert_op_eq(const proto_op_t *a, const proto_op_t *b)
{
    assert_int_equal(a->op, b->op);
    switch (a->op) {
    case PROTO_HELLO:
        assert_int_equal(a->u.hello.version, b->u.hello.version);
        assert_str_eq(a->u.hello.name, b->u.hello.name);
        assert_str_eq(a->u.hello.token, b->u.hello.token);
        break;
    case PROTO_WELCOME:
        assert_int_equal(a->u.welcome.version, b->u.welcome.version);
        assert_str_eq(a->u.welcome.server, b->u.welcome.server);
        assert_int_equal(a->u.welcome.max_payload, b->u.welcome.max_payload);
        assert_int_equal(a->u.welcome.max_subs, b->u.welcome.max_subs);
        break;
    case PROTO_OK:
        assert_int_equal(a->u.ok.op, b->u.ok.op);
        assert_int_equal(a->u.ok.sid, b->u.ok.sid);
        break;
    case PROTO_ERR:
        assert_int_equal(a->u.err.code, b->u.err.code);
        assert_str_eq(a->u.err.text, b->u.err.text);
        assert_int_equal(a->u.err.op, b->u.err.op);
        assert_int_equal(a->u.err.has_sid, b->u.err.has_sid);
        if (a->u.err.has_sid)
            assert_int_equal(a->u.err.sid, b->u.err.sid);
        break;
    case PROTO_SUB:
        assert_int_equal(a->u.sub.sid, b->u.sub.sid);
        assert_str_eq(a->u.sub.subject, b->u.sub.subject);
        assert_str_eq(a->u.sub.queue, b->u.sub.queue);
        break;
    case PROTO_UNSUB:
        assert_int_equal(a->u.unsub.sid, b->u.unsub.sid);
        assert_int_equal(a->u.unsub.max, b->u.unsub.max);
        break;
    case PROTO_PUB:
        assert_str_eq(a->u.pub.subject, b->u.pub.subject);
        assert_str_eq(a->u.pub.reply, b->u.pub.reply);
        assert_bytes_eq(a->u.pub.payload, a->u.pub.len, b->u.pub.payload, b->u.pub.len);
        break;
    case PROTO_MSG:
        assert_int_equal(a->u.msg.sid, b->u.msg.sid);
        assert_str_eq(a->u.msg.subject, b->u.msg.subject);
        assert_str_eq(a->u.msg.reply, b->u.msg.reply);
        assert_bytes_eq(a->u.msg.payload, a->u.msg.len, b->u.msg.payload, b->u.msg.len);
        break;
    case PROTO_STATS_REPLY:
        assert_memory_equal(&a->u.stats, &b->u.stats, sizeof a->u.stats);
        break;
    default:
        break;
    }
}

/* Encode op as a whole frame into sb (reset first). */
static int encode_frame(msgpack_sbuffer *sb, const proto_op_t *op)
{
    msgpack_sbuffer_clear(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    return proto_pack_frame(&pk, op);
}

/* Decode exactly one frame from b[0..n) and the op in it. */
static int decode_frame(const uint8_t *b, size_t n, int peer, size_t max_payload,
                        frame_dec_t *d, proto_op_t *out)
{
    frame_dec_init(d, proto_max_frame(max_payload));
    assert_int_equal(frame_dec_feed(d, b, n), 0);
    frame_t f;
    assert_int_equal(frame_dec_next(d, &f), 1);
    assert_int_equal(f.size, n);
    return proto_decode(f.type, f.body, peer, max_payload, out);
}

/* The server's pipeline for one connection's input (docs/protocol.md,
 * "Validation order" up to the state checks): the first err code, or 0. */
typedef struct server_cfg {
    size_t max_payload, max_frame;
    const char *token;
    bool eof;
    size_t chunk;                /* feed this many bytes at a time */
} server_cfg_t;

static int serve(const uint8_t *b, size_t n, const server_cfg_t *c, unsigned *handled)
{
    frame_dec_t d;
    frame_dec_init(&d, c->max_frame ? c->max_frame : proto_max_frame(c->max_payload));
    proto_session_t s = { 0 };
    size_t tlen = c->token ? strlen(c->token) : 0;
    int code = 0;
    *handled = 0;
    for (size_t off = 0; off < n && !code;) {
        size_t k = n - off < c->chunk ? n - off : c->chunk;
        int rc = frame_dec_feed(&d, b + off, k);
        off += k;
        frame_t f;
        while (!code && rc == 0 && (rc = frame_dec_next(&d, &f)) == 1) {
            proto_op_t op;
            rc = 0;
            if ((code = proto_session_gate(&s, f.type, c->token)) ||
                (code = proto_decode(f.type, f.body, PROTO_PEER_CLIENT, c->max_payload, &op)))
                break;
            if (op.op == PROTO_HELLO && (code = proto_session_hello(&s, &op, c->token, tlen)))
                break;
            ++*handled;
        }
        if (!code && rc < 0)
            code = proto_frame_err(rc);
    }
    if (!code && c->eof) {
        int rc = frame_dec_finish(&d);
        if (rc)
            code = proto_frame_err(rc);
    }
    frame_dec_destroy(&d);
    return code;
}

static uint64_t rnd(void);

/* ---- the document's examples ------------------------------------------------------ */

static void test_doc_examples_encode(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (size_t i = 0; i < NEXAMPLES; i++) {
        block_t *b = find_example(examples[i].id);
        char v[32];
        const char *name = attr(b, "op", v, sizeof v);
        if (!name || strcmp(name, proto_op_name(examples[i].op.op)) != 0)
            fail_msg("%s:%d: example=%s: op= should be %s", doc_path, b->line, examples[i].id,
                     proto_op_name(examples[i].op.op));
        assert_int_equal(encode_frame(&sb, &examples[i].op), 0);
        if (sb.size != b->n || memcmp(sb.data, b->b, b->n) != 0) {
            print_message("%s:%d example=%s: the encoder writes:\n", doc_path, b->line,
                          examples[i].id);
            for (size_t k = 0; k < sb.size; k++)
                print_message("%02x ", (uint8_t)sb.data[k]);
            print_message("\n");
            fail();
        }
    }
    msgpack_sbuffer_destroy(&sb);
}

static void test_doc_examples_decode(void **state)
{
    (void)state;
    msgpack_zone z;
    assert_true(msgpack_zone_init(&z, 1024));
    for (size_t i = 0; i < NEXAMPLES; i++) {
        const proto_op_t *want = &examples[i].op;
        block_t *b = find_example(examples[i].id);
        frame_dec_t d;
        proto_op_t got;
        assert_int_equal(decode_frame(b->b, b->n, peer_of(want->op), 0, &d, &got), 0);
        assert_op_eq(&got, want);
        frame_dec_destroy(&d);
        /* from body bytes too (the op codes are one byte: header 91/92 + op) */
        assert_int_equal(b->b[1], want->op);
        assert_int_equal(proto_decode_bytes(want->op, b->b + 2, b->n - 2, peer_of(want->op), 0,
                                            &z, &got), 0);
        assert_op_eq(&got, want);
        msgpack_zone_clear(&z);
    }
    msgpack_zone_destroy(&z);
}

/* All the examples back to back in one stream, fed in random chunks: the
 * frame decoder finds each boundary and every op decodes as in the table. */
static void test_doc_stream(void **state)
{
    (void)state;
    uint8_t stream[4096];
    size_t n = 0;
    for (size_t i = 0; i < NEXAMPLES; i++) {
        const block_t *b = find_example(examples[i].id);
        assert_true(n + b->n <= sizeof stream);
        memcpy(stream + n, b->b, b->n);
        n += b->n;
    }
    for (int round = 0; round < 50; round++) {
        frame_dec_t d;
        frame_dec_init(&d, 0);
        size_t next = 0;
        for (size_t off = 0; off < n;) {
            size_t k = round == 0 ? 1 : 1 + rnd() % 40;
            if (k > n - off)
                k = n - off;
            assert_int_equal(frame_dec_feed(&d, stream + off, k), 0);
            off += k;
            frame_t f;
            int rc;
            while ((rc = frame_dec_next(&d, &f)) == 1) {
                assert_true(next < NEXAMPLES);
                const proto_op_t *want = &examples[next++].op;
                proto_op_t got;
                assert_int_equal(proto_decode(f.type, f.body, peer_of(want->op), 0, &got), 0);
                assert_op_eq(&got, want);
            }
            assert_int_equal(rc, 0);
        }
        assert_int_equal(next, NEXAMPLES);
        assert_int_equal(frame_dec_finish(&d), 0);
        frame_dec_destroy(&d);
    }
}

/* Every block is one of ours, and every op has an example. */
static void test_doc_complete(void **state)
{
    (void)state;
    bool seen_op[PROTO_OP_LAST + 1] = { false };
    bool seen_code[PROTO_E_LAST + 1] = { false };
    char v[64];
    for (size_t i = 0; i < NEXAMPLES; i++)
        seen_op[examples[i].op.op] = true;
    for (size_t i = 0; i < nblocks; i++) {
        const char *bad = attr(&blocks[i], "bad", v, sizeof v);
        if (bad) {
            int code = atoi(bad);
            assert_true(code >= 1 && code <= PROTO_E_LAST);
            seen_code[code] = true;
            continue;
        }
        if (!attr(&blocks[i], "example", v, sizeof v))
            fail_msg("%s:%d: hex block with neither example= nor bad=", doc_path, blocks[i].line);
        bool known = false;
        for (size_t k = 0; k < NEXAMPLES; k++)
            known |= strcmp(examples[k].id, v) == 0;
        if (!known)
            fail_msg("%s:%d: example=%s is not checked by this test", doc_path, blocks[i].line, v);
    }
    for (uint32_t op = PROTO_HELLO; op <= PROTO_OP_LAST; op++)
        if (!seen_op[op])
            fail_msg("no example for op %u", op);
    /* every code the bytes of a connection can cause has a bad example */
    for (int c = PROTO_EMALFORMED; c <= PROTO_EHELLO; c++)
        if (!seen_code[c])
            fail_msg("%s: no bad=%d example", doc_path, c);
}

static void test_doc_bad_input(void **state)
{
    (void)state;
    char v[64], t[64];
    unsigned nbad = 0;
    for (size_t i = 0; i < nblocks; i++) {
        const block_t *b = &blocks[i];
        if (!attr(b, "bad", v, sizeof v))
            continue;
        int want = atoi(v);
        server_cfg_t c = { 0 };
        if (attr(b, "max_payload", t, sizeof t))
            c.max_payload = strtoul(t, NULL, 10);
        if (attr(b, "max_frame", t, sizeof t))
            c.max_frame = strtoul(t, NULL, 10);
        char token[64];
        c.token = attr(b, "token", token, sizeof token);
        c.eof = has_word(b, "eof");
        /* whole, then one byte at a time: the same answer */
        for (int pass = 0; pass < 2; pass++) {
            c.chunk = pass ? 1 : b->n;
            unsigned handled;
            int got = serve(b->b, b->n, &c, &handled);
            if (got != want)
                fail_msg("%s:%d: bad=%d but the server pipeline says %d (%s)", doc_path, b->line,
                         want, got, proto_err_text(got));
        }
        nbad++;
    }
    assert_true(nbad >= 20);
}

/* The msg example is the pub example's tail behind proto_msg_head(1). */
static void test_doc_msg_shares_pub(void **state)
{
    (void)state;
    const block_t *pub = find_example("pub"), *msg = find_example("msg");
    msgpack_zone z;
    assert_true(msgpack_zone_init(&z, 256));
    proto_op_t op;
    assert_int_equal(proto_decode_bytes(PROTO_PUB, pub->b + 2, pub->n - 2, PROTO_PEER_CLIENT, 0,
                                        &z, &op), 0);
    assert_ptr_equal(op.u.pub.tail, pub->b + 3);
    uint8_t frame[256];
    size_t h = proto_msg_head(frame, 1);
    assert_int_equal(h, 4);
    memcpy(frame + h, op.u.pub.tail, op.u.pub.tail_len);
    assert_bytes_eq(frame, h + op.u.pub.tail_len, msg->b, msg->n);
    msgpack_zone_destroy(&z);
}

/* Section 6's table: code | `text` | disconnect | when. */
static void test_doc_error_table(void **state)
{
    (void)state;
    const char *p = strstr(doc, "\n## 6. Errors");
    assert_non_null(p);
    const char *end = strstr(p + 1, "\n## ");
    bool seen[PROTO_E_LAST + 1] = { false };
    for (const char *l = p; l && l < end; l = strchr(l + 1, '\n')) {
        int code;
        char text[64], disc[32];
        if (sscanf(l, "\n| %d | `%63[^`]` | %31[^|]|", &code, text, disc) != 3)
            continue;
        assert_true(code >= 1 && code <= PROTO_E_LAST);
        assert_false(seen[code]);
        seen[code] = true;
        assert_string_equal(text, proto_err_text(code));
        if (strncmp(disc, "yes", 3) == 0) {
            assert_true(proto_err_fatal(code, PROTO_PUB));
            assert_true(proto_err_fatal(code, PROTO_HELLO));
        } else if (strncmp(disc, "no", 2) == 0) {
            assert_false(proto_err_fatal(code, PROTO_PUB));
            assert_false(proto_err_fatal(code, PROTO_HELLO));
        } else if (strncmp(disc, "hello only", 10) == 0) {
            assert_false(proto_err_fatal(code, PROTO_PUB));
            assert_true(proto_err_fatal(code, PROTO_HELLO));
        } else {
            fail_msg("error table, code %d: disconnect column '%s'", code, disc);
        }
    }
    for (int c = 1; c <= PROTO_E_LAST; c++)
        if (!seen[c])
            fail_msg("%s: error table has no row for code %d", doc_path, c);
    assert_string_equal(proto_err_text(0), "unknown error");
    assert_string_equal(proto_err_text(PROTO_E_LAST + 1), "unknown error");
}

/* ---- round trips ------------------------------------------------------------------- */

static char long_subject[SUBJECT_MAX + 2];

/* More cases than the document shows: edge values of every field. */
static proto_op_t extra[16];
static size_t nextra;

static void make_extra(void)
{
    static uint8_t big[4096];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7 + 3);
    memset(long_subject, 'x', sizeof long_subject - 1);
    for (size_t i = 1; i < SUBJECT_MAX - 2; i += 2)   /* "x.x.x ... x.xx" */
        long_subject[i] = '.';
    proto_str_t subj256 = { long_subject, SUBJECT_MAX };
    nextra = 0;
    extra[nextra++] = (proto_op_t){ .op = PROTO_HELLO, .u.hello = { UINT32_MAX, STR(""), STR("") } };
    extra[nextra++] = (proto_op_t){ .op = PROTO_WELCOME,
                                    .u.welcome = { 1, STR(""), UINT64_MAX, 0 } };
    extra[nextra++] = (proto_op_t){ .op = PROTO_OK, .u.ok = { PROTO_UNSUB, UINT32_MAX } };
    extra[nextra++] = proto_err_op(PROTO_ESID_INUSE, PROTO_SUB, true, 0);
    extra[nextra++] = proto_err_op(999, 0, false, 0);   /* codes clients do not know */
    extra[nextra++] = (proto_op_t){ .op = PROTO_SUB, .u.sub = { 0, subj256, subj256 } };
    extra[nextra++] = (proto_op_t){ .op = PROTO_SUB, .u.sub = { UINT32_MAX, STR(">"), NOSTR } };
    extra[nextra++] = (proto_op_t){ .op = PROTO_UNSUB, .u.unsub = { 7, UINT64_MAX } };
    extra[nextra++] = (proto_op_t){ .op = PROTO_PUB,
                                    .u.pub = { subj256, subj256, big, sizeof big, NULL, 0 } };
    extra[nextra++] = (proto_op_t){ .op = PROTO_MSG,
                                    .u.msg = { UINT32_MAX, subj256, STR("r"), big, 300 } };
    extra[nextra++] = (proto_op_t){ .op = PROTO_STATS_REPLY,
                                    .u.stats = { UINT64_MAX, 1, 2, 3, 4, 5, 6, UINT64_MAX } };
}

static void roundtrip_one(acto_ctx_t *ctx, const proto_op_t *op, msgpack_zone *z)
{
    /* as an acto message, decoded from its body bytes */
    acto_msg_t *m;
    assert_int_equal(proto_msg_new(ctx, op, &m), 0);
    assert_int_equal(acto_msg_type(m), op->op);
    size_t len;
    const void *body = acto_msg_data(m, &len);
    proto_op_t got;
    assert_int_equal(proto_decode_bytes(op->op, body, len, peer_of(op->op), 8192, z, &got), 0);
    assert_op_eq(&got, op);
    msgpack_zone_clear(z);
    /* as a frame through the stream decoder: same body bytes */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(encode_frame(&sb, op), 0);
    frame_out_t fo;
    assert_int_equal(frame_encode_msg(&fo, m, 0), 0);
    assert_int_equal(frame_out_size(&fo), sb.size);
    assert_memory_equal(fo.hdr, sb.data, fo.hdr_len);
    assert_bytes_eq(fo.body, fo.body_len, sb.data + fo.hdr_len, sb.size - fo.hdr_len);
    frame_dec_t d;
    assert_int_equal(decode_frame((uint8_t *)sb.data, sb.size, peer_of(op->op), 8192, &d, &got), 0);
    assert_op_eq(&got, op);
    frame_dec_destroy(&d);
    msgpack_sbuffer_destroy(&sb);
    acto_msg_free(ctx, m);
}

static void test_roundtrip_every_op(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(1);
    acto_ctx_t *ctx = acto_root(rt);
    msgpack_zone z;
    assert_true(msgpack_zone_init(&z, 1024));
    make_extra();
    for (size_t i = 0; i < NEXAMPLES; i++)
        roundtrip_one(ctx, &examples[i].op, &z);
    for (size_t i = 0; i < nextra; i++)
        roundtrip_one(ctx, &extra[i], &z);
    msgpack_zone_destroy(&z);
    acto_runtime_free(rt);
}

/* Each side refuses the ops only the other sends. */
static void test_direction(void **state)
{
    (void)state;
    for (size_t i = 0; i < NEXAMPLES; i++) {
        const proto_op_t *op = &examples[i].op;
        const block_t *b = find_example(examples[i].id);
        int other = peer_of(op->op) == PROTO_PEER_CLIENT ? PROTO_PEER_SERVER : PROTO_PEER_CLIENT;
        frame_dec_t d;
        proto_op_t got;
        int rc = decode_frame(b->b, b->n, other, 0, &d, &got);
        frame_dec_destroy(&d);
        if (op->op == PROTO_PING || op->op == PROTO_PONG)
            assert_int_equal(rc, 0);
        else
            assert_int_equal(rc, PROTO_EUNKNOWN_OP);
    }
    proto_op_t got;
    assert_int_equal(proto_decode(0, NULL, PROTO_PEER_CLIENT, 0, &got), PROTO_EUNKNOWN_OP);
    assert_int_equal(proto_decode(PROTO_OP_LAST + 1, NULL, PROTO_PEER_CLIENT, 0, &got),
                     PROTO_EUNKNOWN_OP);
    assert_int_equal(proto_decode(PROTO_PING, NULL, 0, 0, &got), PROTO_EUNKNOWN_OP);
}

/* ---- limits ------------------------------------------------------------------------- */

/* Decode a pub/sub/hello built by hand from its fields. */
static int decode_packed(uint32_t op, int peer, size_t max_payload,
                         void (*fill)(msgpack_packer *, const void *), const void *arg)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    fill(&pk, arg);
    msgpack_zone z;
    assert_true(msgpack_zone_init(&z, 256));
    proto_op_t out;
    int rc = proto_decode_bytes(op, sb.data, sb.size, peer, max_payload, &z, &out);
    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static void pk_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

typedef struct lim { size_t subj, reply, payload, name, token, text; } lim_t;

static void fill_pub(msgpack_packer *pk, const void *arg)
{
    const lim_t *l = arg;
    static char p[PROTO_MAX_PAYLOAD_DEFAULT + 1];
    msgpack_pack_array(pk, 3);
    pk_str(pk, long_subject, l->subj);
    if (l->reply)
        pk_str(pk, long_subject, l->reply);
    else
        msgpack_pack_nil(pk);
    msgpack_pack_bin(pk, l->payload);
    msgpack_pack_bin_body(pk, p, l->payload);
}

static void fill_sub(msgpack_packer *pk, const void *arg)
{
    const lim_t *l = arg;
    msgpack_pack_array(pk, 3);
    msgpack_pack_uint32(pk, 5);
    pk_str(pk, long_subject, l->subj);
    if (l->reply)   /* as the queue name */
        pk_str(pk, long_subject, l->reply);
    else
        msgpack_pack_nil(pk);
}

static void fill_hello(msgpack_packer *pk, const void *arg)
{
    const lim_t *l = arg;
    static char s[PROTO_TOKEN_MAX + 1];
    memset(s, 't', sizeof s);
    msgpack_pack_array(pk, 3);
    msgpack_pack_uint32(pk, 1);
    pk_str(pk, s, l->name);
    pk_str(pk, s, l->token);
}

static void fill_err(msgpack_packer *pk, const void *arg)
{
    const lim_t *l = arg;
    static char s[PROTO_TEXT_MAX + 1];
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint32(pk, 17);
    pk_str(pk, s, l->text);
    msgpack_pack_uint32(pk, 0);
    msgpack_pack_nil(pk);
}

static void test_limits(void **state)
{
    (void)state;
    make_extra();
    const int C = PROTO_PEER_CLIENT;
    /* subjects: 256 bytes pass, 257 do not (the 257th byte keeps it well formed) */
    long_subject[SUBJECT_MAX] = 'x';
    assert_int_equal(decode_packed(PROTO_PUB, C, 0, fill_pub, &(lim_t){ .subj = 256 }), 0);
    assert_int_equal(decode_packed(PROTO_PUB, C, 0, fill_pub, &(lim_t){ .subj = 257 }), PROTO_ESUBJECT);
    assert_int_equal(decode_packed(PROTO_PUB, C, 0, fill_pub, &(lim_t){ .subj = 1, .reply = 256 }), 0);
    assert_int_equal(decode_packed(PROTO_PUB, C, 0, fill_pub, &(lim_t){ .subj = 1, .reply = 257 }),
                     PROTO_ESUBJECT);
    assert_int_equal(decode_packed(PROTO_SUB, C, 0, fill_sub, &(lim_t){ .subj = 257 }), PROTO_ESUBJECT);
    assert_int_equal(decode_packed(PROTO_SUB, C, 0, fill_sub, &(lim_t){ .subj = 1, .reply = 256 }), 0);
    assert_int_equal(decode_packed(PROTO_SUB, C, 0, fill_sub, &(lim_t){ .subj = 1, .reply = 257 }),
                     PROTO_ESUBJECT);
    /* payload: exactly max passes, one more is EPAYLOAD; 0 = 1 MiB default */
    assert_int_equal(decode_packed(PROTO_PUB, C, 100, fill_pub, &(lim_t){ .subj = 1, .payload = 100 }), 0);
    assert_int_equal(decode_packed(PROTO_PUB, C, 100, fill_pub, &(lim_t){ .subj = 1, .payload = 101 }),
                     PROTO_EPAYLOAD);
    assert_int_equal(decode_packed(PROTO_PUB, C, 0, fill_pub,
                                   &(lim_t){ .subj = 1, .payload = PROTO_MAX_PAYLOAD_DEFAULT }), 0);
    assert_int_equal(decode_packed(PROTO_PUB, C, 0, fill_pub,
                                   &(lim_t){ .subj = 1, .payload = PROTO_MAX_PAYLOAD_DEFAULT + 1 }),
                     PROTO_EPAYLOAD);
    /* a bad subject is reported before an oversize payload (field order) */
    assert_int_equal(decode_packed(PROTO_PUB, C, 1, fill_pub, &(lim_t){ .subj = 257, .payload = 2 }),
                     PROTO_ESUBJECT);
    /* names and tokens */
    assert_int_equal(decode_packed(PROTO_HELLO, C, 0, fill_hello,
                                   &(lim_t){ .name = PROTO_NAME_MAX, .token = PROTO_TOKEN_MAX }), 0);
    assert_int_equal(decode_packed(PROTO_HELLO, C, 0, fill_hello,
                                   &(lim_t){ .name = PROTO_NAME_MAX + 1 }), PROTO_EFIELDS);
    assert_int_equal(decode_packed(PROTO_HELLO, C, 0, fill_hello,
                                   &(lim_t){ .token = PROTO_TOKEN_MAX + 1 }), PROTO_EFIELDS);
    assert_int_equal(decode_packed(PROTO_ERR, PROTO_PEER_SERVER, 0, fill_err,
                                   &(lim_t){ .text = PROTO_TEXT_MAX }), 0);
    assert_int_equal(decode_packed(PROTO_ERR, PROTO_PEER_SERVER, 0, fill_err,
                                   &(lim_t){ .text = PROTO_TEXT_MAX + 1 }), PROTO_EFIELDS);
    /* the largest msg envelope (5-byte sid, 256-byte subject and reply,
     * bin 32 payload header) fits in PROTO_FRAME_OVERHEAD */
    static uint8_t payload[70000];
    proto_op_t m = { .op = PROTO_MSG, .u.msg = { UINT32_MAX, { long_subject, 256 },
                                                 { long_subject, 256 }, payload, sizeof payload } };
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(encode_frame(&sb, &m), 0);
    assert_int_equal(sb.size - sizeof payload, 531);   /* as docs/protocol.md says */
    assert_true(531 <= PROTO_FRAME_OVERHEAD);
    msgpack_sbuffer_destroy(&sb);
    assert_int_equal(proto_max_frame(0), PROTO_MAX_PAYLOAD_DEFAULT + PROTO_FRAME_OVERHEAD);
    assert_int_equal(proto_max_frame(10), 10 + PROTO_FRAME_OVERHEAD);
}

/* ---- the encoder refuses what the decoder would ------------------------------------- */

static void test_encoder_rejects(void **state)
{
    (void)state;
    const proto_op_t bad[] = {
        { .op = 0 },
        { .op = PROTO_OP_LAST + 1 },
        { .op = PROTO_HELLO, .u.hello = { 1, NOSTR, NOSTR } },                 /* no name */
        { .op = PROTO_HELLO, .u.hello = { 1, { "x", PROTO_NAME_MAX + 1 }, NOSTR } },
        { .op = PROTO_WELCOME, .u.welcome = { 0, STR("s"), 1, 1 } },           /* version 0 */
        { .op = PROTO_OK, .u.ok = { PROTO_PUB, 1 } },
        { .op = PROTO_ERR, .u.err = { 0, STR("x"), 0, false, 0 } },            /* code 0 */
        { .op = PROTO_ERR, .u.err = { 1, NOSTR, 0, false, 0 } },               /* no text */
        { .op = PROTO_SUB, .u.sub = { 1, STR("a..b"), NOSTR } },
        { .op = PROTO_SUB, .u.sub = { 1, STR("a"), STR("q.*") } },             /* wildcard queue */
        { .op = PROTO_SUB, .u.sub = { 1, NOSTR, NOSTR } },
        { .op = PROTO_PUB, .u.pub = { STR("a.*"), NOSTR, "", 0, NULL, 0 } },
        { .op = PROTO_PUB, .u.pub = { STR("a"), STR("r.>"), "", 0, NULL, 0 } },
        { .op = PROTO_PUB, .u.pub = { STR("a"), NOSTR, NULL, 3, NULL, 0 } },   /* no payload */
        { .op = PROTO_PUB, .u.pub = { STR("a"), { NULL, 2 }, "", 0, NULL, 0 } },
        { .op = PROTO_MSG, .u.msg = { 1, STR(""), NOSTR, "", 0 } },
    };
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    acto_runtime_t *rt = tu_runtime(1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(proto_check(&bad[i]), ACTO_EINVAL);
        assert_int_equal(proto_pack_body(&pk, &bad[i]), ACTO_EINVAL);
        assert_int_equal(proto_pack_frame(&pk, &bad[i]), ACTO_EINVAL);
        assert_int_equal(sb.size, 0);   /* nothing half-packed */
        acto_msg_t *m = (acto_msg_t *)(uintptr_t)1;   /* must become NULL */
        assert_int_equal(proto_msg_new(acto_root(rt), &bad[i], &m), ACTO_EINVAL);
        assert_null(m);
    }
    assert_int_equal(proto_check(NULL), ACTO_EINVAL);
    assert_int_equal(proto_pack_frame(NULL, &examples[0].op), ACTO_EINVAL);
    assert_int_equal(proto_msg_new(NULL, &examples[0].op, &(acto_msg_t *){ NULL }), ACTO_EINVAL);
    assert_int_equal(proto_msg_new(acto_root(rt), &examples[0].op, NULL), ACTO_EINVAL);
    acto_runtime_free(rt);
    msgpack_sbuffer_destroy(&sb);
}

/* A writer that fails: the packers report ACTO_ENOMEM. */
static int failing_write(void *data, const char *buf, size_t len)
{
    (void)data, (void)buf, (void)len;
    return -1;
}

static void test_encoder_write_failure(void **state)
{
    (void)state;
    msgpack_packer pk;
    msgpack_packer_init(&pk, NULL, failing_write);
    for (size_t i = 0; i < NEXAMPLES; i++) {
        assert_int_equal(proto_pack_frame(&pk, &examples[i].op), ACTO_ENOMEM);
        bool has_body = examples[i].op.op != PROTO_PING && examples[i].op.op != PROTO_PONG &&
                        examples[i].op.op != PROTO_STATS;
        assert_int_equal(proto_pack_body(&pk, &examples[i].op), has_body ? ACTO_ENOMEM : 0);
    }
}

/* ---- what the decoder accepts beyond the canonical form ----------------------------- */

static void test_noncanonical(void **state)
{
    (void)state;
    msgpack_zone z;
    assert_true(msgpack_zone_init(&z, 256));
    proto_op_t op;
    /* sub: sid as uint 64, pattern as str 8, queue as str 16 */
    static const uint8_t sub[] = { 0x93, 0xcf, 0, 0, 0, 0, 0, 0, 0, 9, 0xd9, 1, 'a',
                                   0xda, 0, 1, 'q' };
    assert_int_equal(proto_decode_bytes(PROTO_SUB, sub, sizeof sub, PROTO_PEER_CLIENT, 0, &z, &op), 0);
    assert_int_equal(op.u.sub.sid, 9);
    assert_int_equal(op.u.sub.subject.len, 1);
    assert_int_equal(op.u.sub.queue.p[0], 'q');
    /* a non-negative int 8 is a uint */
    static const uint8_t unsub[] = { 0x92, 0xd0, 0x05, 0xd1, 0x00, 0x03 };
    assert_int_equal(proto_decode_bytes(PROTO_UNSUB, unsub, sizeof unsub, PROTO_PEER_CLIENT, 0,
                                        &z, &op), 0);
    assert_int_equal(op.u.unsub.sid, 5);
    assert_int_equal(op.u.unsub.max, 3);
    /* ... a negative one is not */
    static const uint8_t neg[] = { 0x92, 0xff, 0xc0 };
    assert_int_equal(proto_decode_bytes(PROTO_UNSUB, neg, sizeof neg, PROTO_PEER_CLIENT, 0, &z, &op),
                     PROTO_EFIELDS);
    /* a float is not a uint */
    static const uint8_t flt[] = { 0x92, 0xca, 0x3f, 0x80, 0, 0, 0xc0 };
    assert_int_equal(proto_decode_bytes(PROTO_UNSUB, flt, sizeof flt, PROTO_PEER_CLIENT, 0, &z, &op),
                     PROTO_EFIELDS);
    /* pub with an array 16 header and a bin 32 payload: the tail starts
     * after the 3-byte header and still makes a valid msg */
    static const uint8_t pub[] = { 0xdc, 0, 3, 0xa1, 'a', 0xc0, 0xc6, 0, 0, 0, 2, 'h', 'i' };
    assert_int_equal(proto_decode_bytes(PROTO_PUB, pub, sizeof pub, PROTO_PEER_CLIENT, 0, &z, &op), 0);
    assert_ptr_equal(op.u.pub.tail, pub + 3);
    assert_int_equal(op.u.pub.tail_len, sizeof pub - 3);
    uint8_t frame[64];
    size_t h = proto_msg_head(frame, 70000);
    assert_int_equal(h, 8);   /* 92 0a 94 ce xx xx xx xx */
    memcpy(frame + h, op.u.pub.tail, op.u.pub.tail_len);
    frame_dec_t d;
    proto_op_t msg;
    assert_int_equal(decode_frame(frame, h + op.u.pub.tail_len, PROTO_PEER_SERVER, 0, &d, &msg), 0);
    assert_int_equal(msg.u.msg.sid, 70000);
    assert_int_equal(msg.u.msg.len, 2);
    assert_memory_equal(msg.u.msg.payload, "hi", 2);
    frame_dec_destroy(&d);
    /* the op itself in a longer encoding */
    static const uint8_t ping[] = { 0x91, 0xcc, PROTO_PING };
    assert_int_equal(decode_frame(ping, sizeof ping, PROTO_PEER_CLIENT, 0, &d, &op), 0);
    assert_int_equal(op.op, PROTO_PING);
    frame_dec_destroy(&d);
    /* body bytes that are not exactly one value */
    static const uint8_t two[] = { 0x91, 0x03, 0xc0 };
    assert_int_equal(proto_decode_bytes(PROTO_STATS, two, sizeof two, PROTO_PEER_CLIENT, 0, &z, &op),
                     PROTO_EMALFORMED);
    assert_int_equal(proto_decode_bytes(PROTO_PUB, NULL, 3, PROTO_PEER_CLIENT, 0, &z, &op),
                     PROTO_EMALFORMED);
    msgpack_zone_destroy(&z);
}

/* ---- truncation and fuzzing ---------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * UINT64_C(2685821657736338717);
}

static void test_truncated_bodies(void **state)
{
    (void)state;
    msgpack_zone z;
    assert_true(msgpack_zone_init(&z, 256));
    for (size_t i = 0; i < NEXAMPLES; i++) {
        const block_t *b = find_example(examples[i].id);
        if (b->n <= 2)
            continue;
        uint32_t op = b->b[1];
        for (size_t k = 1; k < b->n - 2; k++) {
            proto_op_t out;
            assert_int_equal(proto_decode_bytes(op, b->b + 2, k, peer_of(op), 0, &z, &out),
                             PROTO_EMALFORMED);
            msgpack_zone_clear(&z);
        }
    }
    msgpack_zone_destroy(&z);
}

/* Mutated examples: never a crash (ASan watches), always 0 or a known code,
 * and whatever decodes re-encodes (the decoder accepts nothing the encoder
 * would refuse). */
static void test_fuzz(void **state)
{
    (void)state;
    msgpack_zone z;
    assert_true(msgpack_zone_init(&z, 256));
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    unsigned long rounds = tu_scale(200000, 20000), ok = 0;
    uint8_t buf[128];
    for (unsigned long r = 0; r < rounds; r++) {
        const block_t *b = find_example(examples[rnd() % NEXAMPLES].id);
        size_t n = b->n - 2;
        if (n == 0)
            continue;
        memcpy(buf, b->b + 2, n);
        for (unsigned f = 1 + rnd() % 3; f; f--) {
            uint8_t v = (uint8_t)rnd();
            /* array 32 / map 32 headers: test_hostile_header (each costs
             * a refused multi-GiB malloc, slow under ASan) */
            buf[rnd() % n] = v == 0xdd || v == 0xdf ? 0xdc : v;
        }
        if (rnd() % 4 == 0)
            n = 1 + rnd() % n;
        uint32_t op = (uint32_t)(1 + rnd() % (PROTO_OP_LAST + 1));
        int peer = rnd() % 2 ? PROTO_PEER_CLIENT : PROTO_PEER_SERVER;
        proto_op_t out;
        int rc = proto_decode_bytes(op, buf, n, peer, 64, &z, &out);
        assert_true(rc >= 0 && rc <= PROTO_E_LAST);
        if (rc == 0) {
            ok++;
            msgpack_sbuffer_clear(&sb);
            assert_int_equal(proto_pack_body(&pk, &out), 0);
        }
        msgpack_zone_clear(&z);
    }
    assert_true(ok > 0);   /* some mutations keep a valid op */
    msgpack_sbuffer_destroy(&sb);
    msgpack_zone_destroy(&z);
}

/* A header claiming 2^32-1 elements: msgpack-c asks for ~96 GiB up front;
 * refused, that is PROTO_EMALFORMED, and the zone stays usable. */
static void test_hostile_header(void **state)
{
    (void)state;
    msgpack_zone z;
    assert_true(msgpack_zone_init(&z, 256));
    static const uint8_t arr[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0 };
    static const uint8_t map[] = { 0x93, 0xa1, 'a', 0xc0, 0xdf, 0xff, 0xff, 0xff, 0xff };
    proto_op_t op;
    assert_int_equal(proto_decode_bytes(PROTO_PUB, arr, sizeof arr, PROTO_PEER_CLIENT, 0, &z, &op),
                     PROTO_EMALFORMED);
    msgpack_zone_clear(&z);
    assert_int_equal(proto_decode_bytes(PROTO_PUB, map, sizeof map, PROTO_PEER_CLIENT, 0, &z, &op),
                     PROTO_EMALFORMED);
    msgpack_zone_clear(&z);
    const block_t *b = find_example("pub");
    assert_int_equal(proto_decode_bytes(PROTO_PUB, b->b + 2, b->n - 2, PROTO_PEER_CLIENT, 0, &z, &op), 0);
    msgpack_zone_destroy(&z);
}

/* ---- session rules ------------------------------------------------------------------- */

static void test_session(void **state)
{
    (void)state;
    const char *tok = "s3cret";
    proto_op_t hello = { .op = PROTO_HELLO, .u.hello = { 1, STR("c"), STR("s3cret") } };
    /* auth off: hello optional; a later hello is EHELLO */
    proto_session_t s = { 0 };
    assert_int_equal(proto_session_gate(&s, PROTO_PUB, NULL), 0);
    assert_true(s.hello);
    assert_int_equal(s.version, PROTO_VERSION);
    assert_int_equal(proto_session_gate(&s, PROTO_HELLO, NULL), PROTO_EHELLO);
    /* auth off: any token is ignored */
    s = (proto_session_t){ 0 };
    assert_int_equal(proto_session_gate(&s, PROTO_HELLO, NULL), 0);
    assert_int_equal(proto_session_hello(&s, &hello, NULL, 0), 0);
    /* auth on */
    s = (proto_session_t){ 0 };
    assert_int_equal(proto_session_gate(&s, PROTO_PING, tok), PROTO_EAUTH_REQUIRED);
    assert_int_equal(proto_session_gate(&s, 99, tok), PROTO_EAUTH_REQUIRED);
    assert_false(s.hello);
    assert_int_equal(proto_session_gate(&s, PROTO_HELLO, tok), 0);
    proto_op_t h = hello;
    h.u.hello.token = (proto_str_t)STR("s3cre");
    assert_int_equal(proto_session_hello(&s, &h, tok, 6), PROTO_EAUTH);
    h.u.hello.token = (proto_str_t)STR("s3creT");
    assert_int_equal(proto_session_hello(&s, &h, tok, 6), PROTO_EAUTH);
    h.u.hello.token = (proto_str_t)NOSTR;
    assert_int_equal(proto_session_hello(&s, &h, tok, 6), PROTO_EAUTH);
    h = hello;
    h.u.hello.version = 0;
    assert_int_equal(proto_session_hello(&s, &h, tok, 6), PROTO_EVERSION);
    assert_false(s.hello);
    /* a newer client gets version 1 */
    h = hello;
    h.u.hello.version = 7;
    assert_int_equal(proto_session_hello(&s, &h, tok, 6), 0);
    assert_true(s.hello);
    assert_int_equal(s.version, 1);
    assert_int_equal(proto_session_gate(&s, PROTO_PUB, tok), 0);
    assert_int_equal(proto_session_gate(&s, PROTO_HELLO, tok), PROTO_EHELLO);
    assert_int_equal(proto_session_hello(&s, &hello, tok, 6), PROTO_EHELLO);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(proto_op_name(PROTO_PUB), "pub");
    assert_string_equal(proto_op_name(PROTO_STATS_REPLY), "stats_reply");
    assert_null(proto_op_name(0));
    assert_null(proto_op_name(PROTO_OP_LAST + 1));
    assert_int_equal(proto_frame_err(ACTO_ELIMIT), PROTO_ETOOBIG);
    assert_int_equal(proto_frame_err(ACTO_EPROTO), PROTO_EMALFORMED);
    proto_op_t e = proto_err_op(PROTO_ESLOW_CONSUMER, 0, false, 0);
    assert_int_equal(e.u.err.code, PROTO_ESLOW_CONSUMER);
    assert_int_equal(e.u.err.text.len, strlen("slow consumer"));
    assert_int_equal(proto_check(&e), 0);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        doc_path = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doc_examples_encode),
        cmocka_unit_test(test_doc_examples_decode),
        cmocka_unit_test(test_doc_stream),
        cmocka_unit_test(test_doc_complete),
        cmocka_unit_test(test_doc_bad_input),
        cmocka_unit_test(test_doc_msg_shares_pub),
        cmocka_unit_test(test_doc_error_table),
        cmocka_unit_test(test_roundtrip_every_op),
        cmocka_unit_test(test_direction),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_encoder_rejects),
        cmocka_unit_test(test_encoder_write_failure),
        cmocka_unit_test(test_noncanonical),
        cmocka_unit_test(test_truncated_bodies),
        cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_hostile_header),
        cmocka_unit_test(test_session),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup_doc, teardown_doc);
}
