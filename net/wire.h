/* net/wire.h - byte-level helpers for the broker's hot path (internal).
 *
 * The broker's connection actor (actors/broker_conn.c) reads the protocol
 * (docs/protocol.md) from a raw byte stream.  msgpack-c's unpacker builds
 * an object tree in a zone for every value, which costs more than the rest
 * of a small publish's trip; so the hot path looks at bytes, and msgpack-c
 * stays the judge of everything else:
 *
 *  - wire_frame_len finds where a frame (one msgpack value) ends without
 *    building anything: it walks headers and jumps over str/bin/ext bodies.
 *    It accepts exactly what msgpack-c's unpacker accepts (including its
 *    nesting limit of 32 open containers), so the frame boundaries and the
 *    err codes 1 and 2 are the ones net/frame.h gives;
 *  - wire_pub_fast recognises the common pub frame and nothing else (any
 *    other shape: 0, and the caller decodes with net/proto.h);
 *  - wire_msg_frame walks the msg frames a channel shard built (actors/
 *    chan.h CHAN_WIRE_BATCH) to count deliveries and payload bytes.
 *
 * tests/test_wire.c checks all three against msgpack-c and net/proto.h on
 * the document's examples and on random and mutated input.
 */
#ifndef ACTO_NET_WIRE_H
#define ACTO_NET_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* msgpack-c refuses a container header while this many are open. */
#define WIRE_MAX_DEPTH 32

/* The frame at p[0..n): its length (> 0) once complete and at most max
 * bytes; 0 if more bytes are needed and n <= max; else the negative
 * PROTO_E* code: -PROTO_EMALFORMED (a byte that is never msgpack, 0xc1),
 * -PROTO_ETOOBIG (longer than max, complete or not, or nested deeper than
 * WIRE_MAX_DEPTH; also as soon as a header declares a length or element
 * count that cannot end within max bytes, where net/frame.h would wait
 * for max + 1 bytes).  Only the msgpack syntax is checked here, not that
 * the value is [op, body]. */
ssize_t wire_frame_len(const uint8_t *p, size_t n, size_t max);

/* The frame's header: array of 1 or 2 elements whose first is an unsigned
 * integer below 0xffff0000.  p[0..len) must be one complete value
 * (wire_frame_len).  Returns 0 and sets *op and the body's offset
 * (*body_off == len: no body), or PROTO_EMALFORMED. */
int wire_frame_head(const uint8_t *p, size_t len, uint32_t *op, size_t *body_off);

/* A pub frame in its common encoding: 92 09 93, subject as fixstr or str
 * 8/16, reply nil or fixstr or str 8/16, payload as bin 8/16/32, and
 * nothing after it.  Pointers are into the frame. */
typedef struct wire_pub {
    const uint8_t *subject, *reply;      /* reply NULL: nil */
    size_t subject_len, reply_len;
    const uint8_t *payload;
    size_t len;
    const uint8_t *tail;                 /* the body after its array header */
    size_t tail_len;
} wire_pub_t;

/* If p[0..n) STARTS with such a frame, complete: its length, *out filled;
 * else 0 (another shape, or cut off).  Its length is then exactly what
 * wire_frame_len says (it is one msgpack value), so a stream of pubs needs
 * no general scan.  The field VALUES are not checked: subjects, sizes. */
size_t wire_pub_fast(const uint8_t *p, size_t n, wire_pub_t *out);

/* One msg frame at p[0..n) as a shard builds it: proto_msg_head(sid)
 * followed by a pub's tail (str, nil or str, bin; any length encoding).
 * Returns its length and sets *sid and *paylen, or 0 if p[0..n) does not
 * start with a complete frame of that shape. */
size_t wire_msg_frame(const uint8_t *p, size_t n, uint32_t *sid, size_t *paylen);

#endif
