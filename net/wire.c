/* net/wire.c - byte-level helpers for the broker's hot path (net/wire.h).
 *
 * Everything here reads big-endian lengths from a buffer whose size it
 * checks first; nothing allocates. */
#include <string.h>

#include "net/proto.h"
#include "net/wire.h"

static inline uint64_t be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* What the byte b starts: header bytes, then either a body of `body`
 * bytes (len_bytes > 0: the body length is the big-endian number in the
 * header after the first byte and `skip` more bytes) or a container of
 * `cnt` values.  Returns false for 0xc1. */
typedef struct head {
    uint8_t hdr;        /* header bytes, the first included */
    uint8_t len_bytes;  /* 1/2/4: a body length follows the first byte */
    uint8_t mult;       /* container: values per counted element (2 for maps), else 0 */
    uint32_t fixed;     /* fixed body / count known from the byte itself */
} head_t;

static bool head_of(uint8_t b, head_t *h)
{
    *h = (head_t){ .hdr = 1 };
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return true;                                   /* fixint, nil, bool */
    if (b <= 0x8f) { h->mult = 2; h->fixed = b & 15u; return true; }    /* fixmap */
    if (b <= 0x9f) { h->mult = 1; h->fixed = b & 15u; return true; }    /* fixarray */
    if (b <= 0xbf) { h->fixed = b & 31u; return true; }                 /* fixstr */
    switch (b) {
    case 0xc1: return false;
    case 0xc4: case 0xd9: h->hdr = 2; h->len_bytes = 1; return true;    /* bin8, str8 */
    case 0xc5: case 0xda: h->hdr = 3; h->len_bytes = 2; return true;
    case 0xc6: case 0xdb: h->hdr = 5; h->len_bytes = 4; return true;
    case 0xc7: h->hdr = 3; h->len_bytes = 1; return true;   /* ext8: len, type */
    case 0xc8: h->hdr = 4; h->len_bytes = 2; return true;
    case 0xc9: h->hdr = 6; h->len_bytes = 4; return true;
    case 0xca: h->fixed = 4; return true;                    /* float32 */
    case 0xcb: h->fixed = 8; return true;
    case 0xcc: case 0xd0: h->fixed = 1; return true;
    case 0xcd: case 0xd1: h->fixed = 2; return true;
    case 0xce: case 0xd2: h->fixed = 4; return true;
    case 0xcf: case 0xd3: h->fixed = 8; return true;
    case 0xd4: h->fixed = 2; return true;                    /* fixext 1: type + 1 */
    case 0xd5: h->fixed = 3; return true;
    case 0xd6: h->fixed = 5; return true;
    case 0xd7: h->fixed = 9; return true;
    case 0xd8: h->fixed = 17; return true;
    case 0xdc: h->hdr = 3; h->len_bytes = 2; h->mult = 1; return true;  /* array16 */
    case 0xdd: h->hdr = 5; h->len_bytes = 4; h->mult = 1; return true;
    case 0xde: h->hdr = 3; h->len_bytes = 2; h->mult = 2; return true;  /* map16 */
    default:   h->hdr = 5; h->len_bytes = 4; h->mult = 2; return true;  /* 0xdf map32 */
    }
}

/* Invariant of the walk: rem[0..top) are the values still owed by each open
 * container, every one > 0; i is the start of the next value. */
ssize_t wire_frame_len(const uint8_t *p, size_t n, size_t max)
{
    uint64_t rem[WIRE_MAX_DEPTH];
    unsigned top = 0;
    size_t i = 0;
    for (;;) {
        if (i >= n)
            break;
        head_t h;
        if (!head_of(p[i], &h))
            return -PROTO_EMALFORMED;
        if (n - i < h.hdr)
            break;
        uint64_t len = h.len_bytes ? be(p + i + 1, h.len_bytes) : h.fixed;
        /* Values that cannot end within max (every element takes a byte)
         * are refused now, not after max bytes of them: msgpack-c would
         * even try to allocate the element vector of a huge container. */
        if ((h.mult ? len * h.mult : len) > max - (i + h.hdr < max ? i + h.hdr : max))
            return -PROTO_ETOOBIG;
        if (h.mult) {                                  /* a container */
            if (top >= WIRE_MAX_DEPTH)
                return -PROTO_ETOOBIG;
            i += h.hdr;
            if (len) {
                rem[top++] = len * h.mult;
                continue;
            }
        } else {
            if (n - i - h.hdr < len)
                break;
            i += h.hdr + (size_t)len;
        }
        /* a value ended: it completes its container, maybe several */
        while (top > 0 && --rem[top - 1] == 0)
            top--;
        if (top == 0)
            return i > max ? -PROTO_ETOOBIG : (ssize_t)i;
    }
    return n > max ? -PROTO_ETOOBIG : 0;
}

int wire_frame_head(const uint8_t *p, size_t len, uint32_t *op, size_t *body_off)
{
    if (len == 0)
        return PROTO_EMALFORMED;
    size_t hl;
    uint64_t cnt;
    if (p[0] >= 0x90 && p[0] <= 0x9f) {
        hl = 1;
        cnt = p[0] & 15u;
    } else if ((p[0] == 0xdc && len >= 3) || (p[0] == 0xdd && len >= 5)) {
        hl = p[0] == 0xdc ? 3 : 5;
        cnt = be(p + 1, (unsigned)hl - 1);
    } else {
        return PROTO_EMALFORMED;
    }
    if ((cnt != 1 && cnt != 2) || hl >= len)
        return PROTO_EMALFORMED;
    const uint8_t *o = p + hl;
    size_t room = len - hl, ol;
    uint64_t v;
    if (o[0] <= 0x7f) {
        ol = 1;
        v = o[0];
    } else if (o[0] >= 0xcc && o[0] <= 0xd3) {
        static const uint8_t w[8] = { 1, 2, 4, 8, 1, 2, 4, 8 };
        unsigned k = w[o[0] - 0xcc];
        ol = 1 + k;
        if (room < ol)
            return PROTO_EMALFORMED;
        v = be(o + 1, k);
        if (o[0] >= 0xd0 && (o[1] & 0x80))             /* a negative int */
            return PROTO_EMALFORMED;
    } else {
        return PROTO_EMALFORMED;
    }
    if (v >= 0xffff0000u || room < ol)
        return PROTO_EMALFORMED;
    *op = (uint32_t)v;
    *body_off = hl + ol;
    /* a complete value: [op] ends here, [op, body] has one value more */
    return (cnt == 1) == (*body_off == len) ? 0 : PROTO_EMALFORMED;
}

/* A str at p[0..n) (fixstr, str 8/16, and str 32 when big): its bytes. */
static bool get_str(const uint8_t **pp, const uint8_t *end, bool str32,
                    const uint8_t **s, size_t *len)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return false;
    size_t hl, l;
    if (p[0] >= 0xa0 && p[0] <= 0xbf) {
        hl = 1;
        l = p[0] & 31u;
    } else if (p[0] == 0xd9 || p[0] == 0xda || (str32 && p[0] == 0xdb)) {
        hl = p[0] == 0xd9 ? 2 : p[0] == 0xda ? 3 : 5;
        if ((size_t)(end - p) < hl)
            return false;
        l = (size_t)be(p + 1, (unsigned)hl - 1);
    } else {
        return false;
    }
    if ((size_t)(end - p) - hl < l)
        return false;
    *s = p + hl;
    *len = l;
    *pp = p + hl + l;
    return true;
}

static bool get_bin(const uint8_t **pp, const uint8_t *end, const uint8_t **b, size_t *len)
{
    const uint8_t *p = *pp;
    if (p >= end || p[0] < 0xc4 || p[0] > 0xc6)
        return false;
    size_t hl = p[0] == 0xc4 ? 2 : p[0] == 0xc5 ? 3 : 5;
    if ((size_t)(end - p) < hl)
        return false;
    size_t l = (size_t)be(p + 1, (unsigned)hl - 1);
    if ((size_t)(end - p) - hl < l)
        return false;
    *b = p + hl;
    *len = l;
    *pp = p + hl + l;
    return true;
}

/* subject str, reply nil|str, payload bin from *pp; str32 allowed or not. */
static bool get_tail(const uint8_t **pp, const uint8_t *end, bool str32, wire_pub_t *out)
{
    if (!get_str(pp, end, str32, &out->subject, &out->subject_len))
        return false;
    out->reply = NULL;
    out->reply_len = 0;
    if (*pp < end && **pp == 0xc0)
        ++*pp;
    else if (!get_str(pp, end, str32, &out->reply, &out->reply_len))
        return false;
    return get_bin(pp, end, &out->payload, &out->len);
}

size_t wire_pub_fast(const uint8_t *p, size_t n, wire_pub_t *out)
{
    if (n < 3 || p[0] != 0x92 || p[1] != 0x09 || p[2] != 0x93)
        return 0;
    const uint8_t *q = p + 3;
    if (!get_tail(&q, p + n, false, out))
        return 0;
    out->tail = p + 3;
    out->tail_len = (size_t)(q - p) - 3;
    return (size_t)(q - p);
}

size_t wire_msg_frame(const uint8_t *p, size_t n, uint32_t *sid, size_t *paylen)
{
    if (n < 4 || p[0] != 0x92 || p[1] != 0x0a || p[2] != 0x94)
        return 0;
    const uint8_t *q = p + 3, *end = p + n;
    if (q[0] <= 0x7f) {
        *sid = q[0];
        q += 1;
    } else if (q[0] >= 0xcc && q[0] <= 0xce) {
        unsigned k = q[0] == 0xcc ? 1 : q[0] == 0xcd ? 2 : 4;
        if ((size_t)(end - q) < 1 + k)
            return 0;
        *sid = (uint32_t)be(q + 1, k);
        q += 1 + k;
    } else {
        return 0;
    }
    wire_pub_t t;
    if (!get_tail(&q, end, true, &t))
        return 0;
    *paylen = t.len;
    return (size_t)(q - p);
}
