/* runtime/mpscalar.h - the msgpack encoding of one scalar, without msgpack-c.
 *
 * Why: sending and reading an integer is the hot path of most actor
 * programs.  Through msgpack-c a one-byte body cost ~75 instructions of
 * packing plus an indirect write callback (~130 in all) to send, and
 * ~200 to read (msgpack_unpack sets up a parser for one byte); this header
 * does either in ~10-20.  It covers nil, booleans, integers and floats,
 * and for reading also a body that is one string or binary (a received
 * chunk of a socket, a line: the header says the length, the bytes are
 * read in place); anything else (and any header it does not know) is
 * left to msgpack-c by returning MPS_OTHER.
 *
 * Contract, checked byte for byte against msgpack-c by tests/test_mpscalar.c:
 *  - mps_put_* write exactly what msgpack_pack_int64 / _uint64 / _double
 *    write (the smallest integer form; doubles always as float64);
 *  - mps_get decodes a body that is exactly one such value into the
 *    msgpack_object msgpack_unpack would produce (non-negative signed
 *    integers are POSITIVE_INTEGER, float32 is widened to FLOAT32 with
 *    via.f64), and reports a truncated or over-long body as MPS_BAD.
 */
#ifndef ACTO_MPSCALAR_H
#define ACTO_MPSCALAR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <msgpack.h>

#define MPS_MAX 9   /* largest scalar encoding: tag + 8 bytes */

/* Host <-> big-endian (msgpack's byte order). */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define MPS_BE16(x) __builtin_bswap16(x)
#define MPS_BE32(x) __builtin_bswap32(x)
#define MPS_BE64(x) __builtin_bswap64(x)
#else
#define MPS_BE16(x) (x)
#define MPS_BE32(x) (x)
#define MPS_BE64(x) (x)
#endif

/* tag, then the low n (1, 2, 4 or 8) bytes of v, big-endian. */
static inline size_t mps_store_be(uint8_t *out, uint8_t tag, uint64_t v, size_t n)
{
    out[0] = tag;
    switch (n) {
    case 1: out[1] = (uint8_t)v; break;
    case 2: { uint16_t b = MPS_BE16((uint16_t)v); memcpy(out + 1, &b, 2); break; }
    case 4: { uint32_t b = MPS_BE32((uint32_t)v); memcpy(out + 1, &b, 4); break; }
    default: { uint64_t b = MPS_BE64(v); memcpy(out + 1, &b, 8); break; }
    }
    return n + 1;
}

static inline size_t mps_put_u64(uint8_t *out, uint64_t v)
{
    if (v < 0x80) {
        out[0] = (uint8_t)v;                       /* positive fixint */
        return 1;
    }
    if (v <= UINT8_MAX)
        return mps_store_be(out, 0xcc, v, 1);
    if (v <= UINT16_MAX)
        return mps_store_be(out, 0xcd, v, 2);
    if (v <= UINT32_MAX)
        return mps_store_be(out, 0xce, v, 4);
    return mps_store_be(out, 0xcf, v, 8);
}

static inline size_t mps_put_i64(uint8_t *out, int64_t v)
{
    if (v >= 0)
        return mps_put_u64(out, (uint64_t)v);      /* as msgpack-c: unsigned forms */
    if (v >= -32) {
        out[0] = (uint8_t)v;                       /* negative fixint */
        return 1;
    }
    if (v >= INT8_MIN)
        return mps_store_be(out, 0xd0, (uint64_t)v, 1);
    if (v >= INT16_MIN)
        return mps_store_be(out, 0xd1, (uint64_t)v, 2);
    if (v >= INT32_MIN)
        return mps_store_be(out, 0xd2, (uint64_t)v, 4);
    return mps_store_be(out, 0xd3, (uint64_t)v, 8);
}

static inline size_t mps_put_f64(uint8_t *out, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return mps_store_be(out, 0xcb, bits, 8);
}

static inline uint16_t mps_be16(const uint8_t *p) { uint16_t b; memcpy(&b, p, 2); return MPS_BE16(b); }
static inline uint32_t mps_be32(const uint8_t *p) { uint32_t b; memcpy(&b, p, 4); return MPS_BE32(b); }
static inline uint64_t mps_be64(const uint8_t *p) { uint64_t b; memcpy(&b, p, 8); return MPS_BE64(b); }

enum { MPS_OK = 0, MPS_OTHER = 1, MPS_BAD = -1 };

/* A signed integer as msgpack_unpack reports it: >= 0 is POSITIVE. */
static inline int mps_int(msgpack_object *o, int64_t v)
{
    if (v >= 0) {
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = (uint64_t)v;
    } else {
        o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o->via.i64 = v;
    }
    return MPS_OK;
}

static inline int mps_uint(msgpack_object *o, uint64_t v)
{
    o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    o->via.u64 = v;
    return MPS_OK;
}

/* A str or bin whose header is hdr bytes and says n: exactly the body. */
static inline int mps_raw(msgpack_object *o, msgpack_object_type type, const uint8_t *b,
                          size_t len, size_t hdr, uint64_t n)
{
    if (len < hdr || len - hdr != n)
        return MPS_BAD;
    o->type = type;
    if (type == MSGPACK_OBJECT_STR) {
        o->via.str.size = (uint32_t)n;
        o->via.str.ptr = (const char *)b + hdr;
    } else {
        o->via.bin.size = (uint32_t)n;
        o->via.bin.ptr = (const char *)b + hdr;
    }
    return MPS_OK;
}

/* Decode body[0..len) as exactly one scalar, string or binary into *o
 * (a string's or binary's bytes point into body): MPS_OK, MPS_BAD (a tag
 * handled here with too few or too many bytes, or an empty body) or
 * MPS_OTHER (not a tag handled here: ask msgpack-c). */
static inline int mps_get(const uint8_t *b, size_t len, msgpack_object *o)
{
    if (len == 0)
        return MPS_BAD;
    uint8_t t = b[0];
    if (t < 0x80 || t >= 0xe0) {                   /* fixints */
        if (len != 1)
            return MPS_BAD;
        return t < 0x80 ? mps_uint(o, t) : mps_int(o, (int8_t)t);
    }
    if ((t & 0xe0) == 0xa0)                        /* fixstr */
        return mps_raw(o, MSGPACK_OBJECT_STR, b, len, 1, t & 0x1f);
#define MPS_NEED(n) do { if (len != (n)) return MPS_BAD; } while (0)
    switch (t) {
    case 0xc0: MPS_NEED(1); o->type = MSGPACK_OBJECT_NIL; return MPS_OK;
    case 0xc2:
    case 0xc3: MPS_NEED(1);
        o->type = MSGPACK_OBJECT_BOOLEAN;
        o->via.boolean = t == 0xc3;
        return MPS_OK;
    case 0xca: {
        MPS_NEED(5);
        uint32_t bits = mps_be32(b + 1);
        float f;
        memcpy(&f, &bits, sizeof f);
        o->type = MSGPACK_OBJECT_FLOAT32;
        o->via.f64 = f;
        return MPS_OK;
    }
    case 0xcb: {
        MPS_NEED(9);
        uint64_t bits = mps_be64(b + 1);
        memcpy(&o->via.f64, &bits, sizeof bits);
        o->type = MSGPACK_OBJECT_FLOAT64;
        return MPS_OK;
    }
    case 0xcc: MPS_NEED(2); return mps_uint(o, b[1]);
    case 0xcd: MPS_NEED(3); return mps_uint(o, mps_be16(b + 1));
    case 0xce: MPS_NEED(5); return mps_uint(o, mps_be32(b + 1));
    case 0xcf: MPS_NEED(9); return mps_uint(o, mps_be64(b + 1));
    case 0xd0: MPS_NEED(2); return mps_int(o, (int8_t)b[1]);
    case 0xd1: MPS_NEED(3); return mps_int(o, (int16_t)mps_be16(b + 1));
    case 0xd2: MPS_NEED(5); return mps_int(o, (int32_t)mps_be32(b + 1));
    case 0xd3: MPS_NEED(9); return mps_int(o, (int64_t)mps_be64(b + 1));
    case 0xc4: case 0xd9:                          /* bin8, str8 */
        if (len < 2)
            return MPS_BAD;
        return mps_raw(o, t == 0xc4 ? MSGPACK_OBJECT_BIN : MSGPACK_OBJECT_STR, b, len, 2, b[1]);
    case 0xc5: case 0xda:                          /* bin16, str16 */
        if (len < 3)
            return MPS_BAD;
        return mps_raw(o, t == 0xc5 ? MSGPACK_OBJECT_BIN : MSGPACK_OBJECT_STR, b, len, 3,
                       mps_be16(b + 1));
    case 0xc6: case 0xdb:                          /* bin32, str32 */
        if (len < 5)
            return MPS_BAD;
        return mps_raw(o, t == 0xc6 ? MSGPACK_OBJECT_BIN : MSGPACK_OBJECT_STR, b, len, 5,
                       mps_be32(b + 1));
    default:   return MPS_OTHER;
    }
#undef MPS_NEED
}

#endif
