/* actors/chan.h - internal: the channel actors that in-process pub/sub
 * (include/acto/pubsub.h) and the broker (actors/broker.c) route with.
 *
 * A BUS is CHAN_SHARDS_MAX or fewer channel actors ("shards"), each owning
 * one subject index (net/subject.h).  A subject belongs to one shard
 * (chan_shard_of: a hash of its bytes), so a hot subject keeps one shard
 * busy and leaves the others to unrelated subjects.
 *
 *   - A LITERAL subscription (no wildcard) lives in the shard of its
 *     subject only.  A WILDCARD subscription lives in every shard (a
 *     wildcard can match subjects of any shard).  So the shard of subject s
 *     holds every subscription that can match s, and one lookup there is
 *     the complete, correct delivery set (queue groups included).
 *   - Ordering.  Every operation a client makes reaches a shard through
 *     that shard's mailbox, sent by the client's one actor; so one
 *     publisher's messages on one subject reach each subscriber in order,
 *     and a sub (or unsub) is in effect for every publish the same actor
 *     sends after it.
 *
 * Message types sent TO a shard (reserved range, sender = the client's
 * actor; bodies are msgpack):
 *   CHAN_SUB    [owner pid, sid u32, kind, deliver_type u32, pattern str,
 *                queue str|nil, max uint]
 *               kind CHAN_LOCAL: deliveries are acto messages of type
 *               deliver_type to `owner` (body shared, never copied per
 *               subscriber, see CHAN_DELIVER); the shard monitors `owner`
 *               and drops its subscriptions when it exits.
 *               kind CHAN_WIRE: `owner` is a broker connection actor;
 *               deliveries are appended, as complete protocol msg frames
 *               for subscription sid, to a CHAN_WIRE_BATCH for `owner`.
 *               max (CHAN_WIRE only; 0 = unlimited): the subscription
 *               auto-unsubscribes after max deliveries.  A wildcard lives
 *               in several shards, so no shard can count for it: every
 *               delivery to a subscription with max > 0 goes alone, as
 *               CHAN_WIRE_ONE, and the CONNECTION counts, discards any
 *               beyond max (other shards may deliver a few before they
 *               see the unsub) and then sends CHAN_UNSUB where it sent
 *               the CHAN_SUB.
 *               No reply (a sub is accepted or it is a client bug: the
 *               client validated the pattern, and the shard reports a
 *               failure it cannot avoid, ENOMEM, as CHAN_SUB_FAILED).
 *   CHAN_UNSUB  [owner pid, sid u32]
 *   CHAN_DROP   [owner pid]: remove every subscription of owner (a
 *               connection closed).
 *   CHAN_PUB    [subject str, reply str|nil, payload bin]: one publish.
 *   CHAN_PUB_BATCH  body = the msgpack uint n, then n publishes back to
 *               back, each the three
 *               msgpack values `subject str, reply str|nil, payload bin`
 *               exactly as a protocol pub body holds them after its array
 *               header (proto_op_t u.pub.tail): the broker forwards a read
 *               chunk's pubs without re-encoding them.  Not one msgpack
 *               value, so only chan code reads it (never acto_msg_unpack).
 *
 * Sent BY a shard:
 *   CHAN_DELIVER (to a CHAN_LOCAL owner, with the type deliver_type, so a
 *               subscriber tells its subscriptions apart by type): body
 *               [subject str, reply str|nil, payload bin], one refcounted
 *               buffer shared by every local delivery of that publish.
 *   CHAN_WIRE_BATCH (type CHAN_WIRE_BATCH, to a CHAN_WIRE owner): body =
 *               [n uint, bytes uint, one bool, sid uint, frames bin]: n
 *               complete msg frames (protocol section 4.9) ready to write
 *               to the connection, in publish order; bytes = the sum of
 *               their payload lengths; one = every frame is for
 *               subscription sid (false: several sids, and sid is 0).
 *               So the connection can count and check a batch without
 *               walking its frames (chan_wb_parse).  One per owner per
 *               incoming pub or pub batch that matched it.
 *   CHAN_WIRE_ONE [sid u32, frame bin] to a CHAN_WIRE owner: one msg
 *               frame for a subscription with max > 0 (see CHAN_SUB).
 *   CHAN_SUB_FAILED [sid u32, code int] to the owner.
 */
#ifndef ACTO_ACTORS_CHAN_H
#define ACTO_ACTORS_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "acto/actor.h"
#include "acto/pid.h"

#define CHAN_SHARDS_MAX 64u

/* Reserved message types 0xFFFF04xx: channel internals. */
#define CHAN_SUB         0xFFFF0401u
#define CHAN_UNSUB       0xFFFF0402u
#define CHAN_DROP        0xFFFF0403u
#define CHAN_PUB         0xFFFF0404u
#define CHAN_PUB_BATCH   0xFFFF0405u
#define CHAN_WIRE_BATCH  0xFFFF0406u
#define CHAN_SUB_FAILED  0xFFFF0407u
#define CHAN_WIRE_ONE    0xFFFF0408u

enum { CHAN_LOCAL = 0, CHAN_WIRE = 1 };

/* The shards of one bus: immutable once made, so any actor on any worker
 * may read it without synchronisation while the bus lives. */
typedef struct chan_bus {
    unsigned n;                         /* 1 .. CHAN_SHARDS_MAX */
    acto_pid_t shard[CHAN_SHARDS_MAX];
} chan_bus_t;

/* Index of the shard that owns subject[0..len) (a hash; stable for the
 * life of the bus). */
unsigned chan_shard_of(const chan_bus_t *bus, const char *subject, size_t len);

/* Spawn a bus of n shard actors (0: 4 per worker, at most CHAN_SHARDS_MAX)
 * from ctx; *out is heap memory the caller frees with chan_bus_free after
 * chan_bus_stop and once no actor can still use it. */
int chan_bus_start(acto_ctx_t *ctx, unsigned n, chan_bus_t **out);
/* Make every shard exit (messages still queued to them are dropped). */
void chan_bus_stop(acto_ctx_t *ctx, chan_bus_t *bus);
void chan_bus_free(chan_bus_t *bus);

/* Senders, from the client actor (ctx): each routes to the right shards
 * (a literal pattern: its shard; a wildcard: all) and returns 0 or an
 * ACTO_E* code.  The caller validated pattern / queue / subject
 * (subject_valid); unsub takes the pattern again to find the shards. */
int chan_sub(acto_ctx_t *ctx, const chan_bus_t *bus, acto_pid_t owner, uint32_t sid,
             int kind, uint32_t deliver_type, const char *pattern, size_t plen,
             const char *queue, size_t qlen, uint64_t max);
int chan_unsub(acto_ctx_t *ctx, const chan_bus_t *bus, acto_pid_t owner, uint32_t sid,
               const char *pattern, size_t plen);
int chan_drop(acto_ctx_t *ctx, const chan_bus_t *bus, acto_pid_t owner);
int chan_pub(acto_ctx_t *ctx, const chan_bus_t *bus, const char *subject, size_t slen,
             const char *reply, size_t rlen, const void *payload, size_t len);
/* Send a CHAN_PUB_BATCH to shard i: the n publishes in body[0..len) (the
 * triples only: chan_pub_batch writes n before them); bytes are copied. */
int chan_pub_batch(acto_ctx_t *ctx, const chan_bus_t *bus, unsigned i, const void *body,
                   size_t len, uint32_t n);

/* ---- added by the chan implementation (additive) ------------------------- */

/* Details the text above leaves open, as implemented (actors/chan.c):
 *  - CHAN_WIRE_BATCH's header has a fixed width (CHAN_WB_HDR), written
 *    after its frames: 0x95, 0xce + u32 n, 0xce + u32 bytes, 0xc2/0xc3,
 *    0xce + u32 sid, 0xc6 + u32 length (22 bytes; valid msgpack), so the
 *    frames are body[22 .. size).  CHAN_WIRE_ONE uses shortest forms.
 *  - Senders: CHAN_WIRE_* and CHAN_SUB_FAILED come from the shard; a LOCAL
 *    delivery's sender is the actor that sent the CHAN_PUB / batch (the
 *    publisher, or a broker connection).
 *  - A WIRE owner found dead by a send (ACTO_ENOACTOR: a connection that
 *    exited without CHAN_DROP) is dropped by that shard at once.
 *  - A CHAN_SUB for an (owner, sid) the shard holds already is refused
 *    with CHAN_SUB_FAILED [sid, ACTO_EINVAL].
 *  - chan_bus_stop is acto_kill(ACTO_EXIT_SHUTDOWN) per shard: requests
 *    queued before it are still handled, later ones are dropped.
 *  - Within one CHAN_PUB_BATCH, consecutive publishes on one subject reuse
 *    the first one's match (not when a queue group is in it: a group
 *    chooses per message). */

/* A CHAN_WIRE_BATCH body, read from its fixed-width header. */
#define CHAN_WB_HDR 22u
typedef struct chan_wb {
    uint32_t n;                 /* frames */
    uint32_t bytes;             /* their payload bytes */
    bool one_sid;               /* every frame is for sid */
    uint32_t sid;
    const uint8_t *frames;
    size_t len;
} chan_wb_t;

static inline uint32_t chan_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read body[0..size) as the header above: false if it is not one. */
static inline bool chan_wb_parse(const void *body, size_t size, chan_wb_t *out)
{
    const uint8_t *p = body;
    if (size < CHAN_WB_HDR || p[0] != 0x95 || p[1] != 0xce || p[6] != 0xce ||
        (p[11] != 0xc2 && p[11] != 0xc3) || p[12] != 0xce || p[17] != 0xc6 ||
        chan_be32(p + 18) != size - CHAN_WB_HDR)
        return false;
    out->n = chan_be32(p + 2);
    out->bytes = chan_be32(p + 7);
    out->one_sid = p[11] == 0xc3;
    out->sid = chan_be32(p + 13);
    out->frames = p + CHAN_WB_HDR;
    out->len = size - CHAN_WB_HDR;
    return true;
}

/* Remove subscription (owner, sid) from every shard: for callers that did
 * not keep the pattern (acto_unsubscribe).  Shards without it ignore it. */
int chan_unsub_all(acto_ctx_t *ctx, const chan_bus_t *bus, acto_pid_t owner, uint32_t sid);

/* One publish triple `subject str, reply str|nil, payload bin` (the layout
 * of CHAN_PUB_BATCH entries and of a pub body after its array header).
 * Pointers go into the parsed buffer. */
typedef struct chan_pubv {
    const char *subject;
    size_t slen;
    const char *reply;          /* NULL: nil */
    size_t rlen;
    const uint8_t *payload;
    size_t len;
    const uint8_t *tail;        /* the whole triple as it was encoded */
    size_t tail_len;
} chan_pubv_t;

/* Parse one triple at buf[0..len) (any msgpack str/bin encoding; the
 * subject is not checked against the subject syntax).  Returns the bytes
 * it used (tail_len), or 0 if the bytes are not such a triple or are cut
 * off: nothing past buf + len is read. */
size_t chan_pub_parse(const void *buf, size_t len, chan_pubv_t *out);

/* ---- flow control (added for the broker's bounded memory, additive) ------- */

/* CHAN_PUB_FLOW: a CHAN_PUB_BATCH the sender wants acknowledged.  Body and
 * handling exactly as CHAN_PUB_BATCH; then the shard sends the request's
 * sender CHAN_PUB_DONE, body the msgpack uint `size` = the request's body
 * size in bytes.
 *   F1 A shard answers every CHAN_PUB_FLOW it handles exactly once (also
 *      a malformed one), after it has sent every delivery of that request:
 *      so a sender that adds `size` per request sent and subtracts it per
 *      DONE holds exactly the bytes of its requests still queued to, or
 *      being handled by, the shards.  The only requests never answered are
 *      those a shard never handles (dropped by chan_bus_stop: the bus is
 *      going away) and those whose DONE cannot be allocated (ENOMEM,
 *      counted in the shard's `lost`; that sender's count stays high).
 *   F2 A DONE is an acknowledgement, not a permission: deliveries already
 *      sent to subscribers are theirs to bound (the broker's B2).
 * CHAN_PUB_BATCH stays unacknowledged for senders that bound their input
 * another way (in-process pub/sub, benchmarks). */
#define CHAN_PUB_FLOW    0xFFFF0409u
#define CHAN_PUB_DONE    0xFFFF040Au

#endif
