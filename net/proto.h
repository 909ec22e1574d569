/* net/proto.h - the pub/sub wire protocol: encode and decode every op.
 *
 * docs/protocol.md is the specification; this is its codec.  A protocol
 * operation is an acto message: op code = message type, fields = body,
 * and on TCP it travels as a frame (net/frame.h) [op] or [op, body].
 * Every body is a msgpack array of a fixed number of positional fields;
 * an optional field is nil when absent.
 *
 * Both ends use it: a broker connection actor decodes what a client sends
 * (peer PROTO_PEER_CLIENT) and packs replies into acto messages
 * (proto_msg_new); a blocking C client packs frames into a buffer
 * (proto_pack_frame on a msgpack_sbuffer packer) and decodes what
 * frame_dec_next gives it (peer PROTO_PEER_SERVER).
 *
 * Two kinds of error, kept apart on purpose:
 *  - encoding is the local program's request: 0, ACTO_EINVAL (a field the
 *    protocol forbids: bad subject, missing payload...), ACTO_ENOMEM;
 *  - decoding judges the peer's bytes: 0 or the PROTO_E* code (positive)
 *    that docs/protocol.md says the server answers with in an err op.
 *
 * Decoding copies nothing: strings and the payload point into the body
 * (the msgpack_object's memory, which msgpack-c points into the bytes it
 * unpacked), so they live as long as the body and its zone.
 *
 * Memory: proto_decode_bytes unpacks with msgpack-c, which allocates an
 * array's or map's element vector when it reads the container header (24
 * or 48 bytes per element claimed), so hostile body bytes can make it ask
 * for far more than their size (net/frame.h has the same note): a refused
 * allocation is PROTO_EMALFORMED, and the zone's memory is released by
 * msgpack_zone_clear.  Bodies that came through the frame decoder
 * (frame_to_msg) were already unpacked once under the same rule.
 */
#ifndef ACTO_NET_PROTO_H
#define ACTO_NET_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

#include "acto/msg.h"

/* The protocol version this code speaks (the highest and only one). */
#define PROTO_VERSION 1

/* ---- op codes (docs/protocol.md, "Operations") --------------------------- */
enum {
    PROTO_HELLO = 1,        /* C->S [version, name, token|nil] */
    PROTO_WELCOME = 2,      /* S->C [version, server, max_payload, max_subs] */
    PROTO_PING = 3,         /* both, no body */
    PROTO_PONG = 4,         /* both, no body */
    PROTO_OK = 5,           /* S->C [op, sid] */
    PROTO_ERR = 6,          /* S->C [code, text, op, sid|nil] */
    PROTO_SUB = 7,          /* C->S [sid, subject, queue|nil] */
    PROTO_UNSUB = 8,        /* C->S [sid, max|nil] */
    PROTO_PUB = 9,          /* C->S [subject, reply|nil, payload] */
    PROTO_MSG = 10,         /* S->C [sid, subject, reply|nil, payload] */
    PROTO_STATS = 11,       /* C->S, no body */
    PROTO_STATS_REPLY = 12, /* S->C [8 counters] */
    PROTO_OP_LAST = 12
};

/* ---- err codes (docs/protocol.md, "Errors") ------------------------------- */
enum {
    PROTO_EMALFORMED = 1,     /* not msgpack / not [op, body?]     disconnect */
    PROTO_ETOOBIG = 2,        /* frame over max frame              disconnect */
    PROTO_EUNKNOWN_OP = 3,    /* no such op from this side         keep */
    PROTO_EFIELDS = 4,        /* body shape, field type or range   keep (hello: disconnect) */
    PROTO_ESUBJECT = 5,       /* bad subject, pattern or queue     keep */
    PROTO_EPAYLOAD = 6,       /* payload over max payload          keep */
    PROTO_EVERSION = 7,       /* protocol version not supported    disconnect */
    PROTO_EAUTH_REQUIRED = 8, /* op before hello, auth on          disconnect */
    PROTO_EAUTH = 9,          /* wrong or missing token            disconnect */
    PROTO_EHELLO = 10,        /* a second hello                    keep */
    PROTO_ESID_INUSE = 11,    /* sub with a sid already in use     keep */
    PROTO_ESID_UNKNOWN = 12,  /* unsub of a sid not in use         keep */
    PROTO_ETOO_MANY_SUBS = 13,  /* subscription limit reached      keep */
    PROTO_ETOO_MANY_CONNS = 14, /* connection limit reached        disconnect */
    PROTO_ESLOW_CONSUMER = 15,  /* outbound bound passed           disconnect */
    PROTO_ESTALE = 16,        /* pings unanswered                  disconnect */
    PROTO_ESERVER = 17,       /* the server could not do it (memory) keep */
    PROTO_ESHUTDOWN = 18,     /* the server is shutting down       disconnect */
    PROTO_E_LAST = 18
};

/* ---- limits (docs/protocol.md, "Limits") ---------------------------------- */
#define PROTO_MAX_PAYLOAD_DEFAULT (1024u * 1024u)
/* A frame may be this much longer than the largest payload: room for the
 * envelope of a msg with a 256-byte subject and reply (at most 531 bytes). */
#define PROTO_FRAME_OVERHEAD 1024u
#define PROTO_NAME_MAX 256u         /* client and server names, bytes */
#define PROTO_TOKEN_MAX 1024u       /* auth token, bytes */
#define PROTO_TEXT_MAX 1024u        /* err text, bytes */
#define PROTO_MAX_SUBS_DEFAULT 65536u
#define PROTO_MAX_CONNS_DEFAULT 65536u
#define PROTO_MAX_PENDING_DEFAULT (8u * 1024u * 1024u)
#define PROTO_PING_INTERVAL_DEFAULT_MS 120000u
#define PROTO_PINGS_MAX_OUT 2u

/* Max frame for a given max payload (0 = the default). */
static inline size_t proto_max_frame(size_t max_payload)
{
    return (max_payload ? max_payload : PROTO_MAX_PAYLOAD_DEFAULT) + PROTO_FRAME_OVERHEAD;
}

/* ---- decoded / to-be-encoded operations ------------------------------------ */

/* Bytes (not NUL-terminated); p == NULL: the field is absent (nil). */
typedef struct proto_str {
    const char *p;
    size_t len;
} proto_str_t;

typedef struct proto_stats {
    uint64_t connections, subscriptions;
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
    uint64_t slow_consumers, drops;
} proto_stats_t;

typedef struct proto_op {
    uint32_t op;                        /* PROTO_HELLO .. PROTO_STATS_REPLY */
    union {
        struct { uint32_t version; proto_str_t name, token; } hello;
        struct { uint32_t version; proto_str_t server;
                 uint64_t max_payload; uint64_t max_subs; } welcome;
        struct { uint32_t op, sid; } ok;
        struct { uint32_t code; proto_str_t text; uint32_t op;
                 bool has_sid; uint32_t sid; } err;
        struct { uint32_t sid; proto_str_t subject, queue; } sub;
        struct { uint32_t sid; uint64_t max; } unsub;   /* max 0: now */
        struct { proto_str_t subject, reply; const void *payload; size_t len;
                 /* decoded from bytes only (proto_decode_bytes), else NULL:
                  * the body after its array header = subject, reply and
                  * payload as sent, to deliver as msg without re-encoding
                  * (proto_msg_head) */
                 const void *tail; size_t tail_len; } pub;
        struct { uint32_t sid; proto_str_t subject, reply;
                 const void *payload; size_t len; } msg;
        proto_stats_t stats;
    } u;
} proto_op_t;

/* Who sent the bytes being decoded: an op the other side never sends is
 * PROTO_EUNKNOWN_OP. */
enum { PROTO_PEER_CLIENT = 1, PROTO_PEER_SERVER = 2 };

/* ---- encoding ---------------------------------------------------------------- */

/* 0 if op can be encoded (fields present, types in range, subjects valid),
 * else ACTO_EINVAL. */
int proto_check(const proto_op_t *op);
/* Pack op's body (nothing for ping, pong and stats) onto pk.  Checks first,
 * so nothing is packed on ACTO_EINVAL; ACTO_ENOMEM if pk's writer fails. */
int proto_pack_body(msgpack_packer *pk, const proto_op_t *op);
/* Pack the whole frame, [op] or [op, body] (docs/protocol.md section 1). */
int proto_pack_frame(msgpack_packer *pk, const proto_op_t *op);
/* A new acto message of type op->op with the body packed (for
 * acto_sock_send_msg or a local send); *out is NULL on error. */
int proto_msg_new(acto_ctx_t *ctx, const proto_op_t *op, acto_msg_t **out);

/* The per-subscriber start of a msg frame: frame header, array header and
 * sid.  Followed by a pub's tail (u.pub.tail), it is the complete msg frame
 * that delivers that pub to subscription sid: fan-out to N subscribers
 * shares one payload and writes N heads of 4..8 bytes.  Returns its length.
 * Bytes [2, len) are the start of the msg BODY (for an acto message of
 * type PROTO_MSG: body = head + PROTO_MSG_HEAD_FRAME, then the tail). */
#define PROTO_MSG_HEAD_MAX 8
#define PROTO_MSG_HEAD_FRAME 2          /* frame header bytes in the head */
size_t proto_msg_head(uint8_t out[PROTO_MSG_HEAD_MAX], uint32_t sid);

/* An err op for code with its standard text (proto_err_text). */
proto_op_t proto_err_op(int code, uint32_t op, bool has_sid, uint32_t sid);

/* ---- decoding ------------------------------------------------------------------ */

/* Decode op with body (NULL: the frame had no body) received from `peer`;
 * max_payload (0 = the default) bounds pub and msg payloads.  Returns 0 and
 * fills *out, or a PROTO_E* code (*out is then unspecified). */
int proto_decode(uint32_t op, const msgpack_object *body, int peer, size_t max_payload,
                 proto_op_t *out);
/* The same from body bytes (an acto message body; len 0 = no body),
 * unpacked with msgpack-c into zone (the caller clears it when done with
 * *out).  Bytes that are not exactly one msgpack value: PROTO_EMALFORMED.
 * Fills u.pub.tail. */
int proto_decode_bytes(uint32_t op, const void *body, size_t len, int peer,
                       size_t max_payload, msgpack_zone *zone, proto_op_t *out);

/* ---- errors and the session rules ---------------------------------------------- */

/* Standard text for a PROTO_E* code ("unknown error" otherwise). */
const char *proto_err_text(int code);
/* Does the server close the connection after sending err `code` for op?
 * (PROTO_EFIELDS is fatal only for hello.) */
bool proto_err_fatal(int code, uint32_t op);
/* The err code for a frame decoder error (net/frame.h): ACTO_ELIMIT (over
 * max frame, or nested deeper than 32) -> PROTO_ETOOBIG, anything else ->
 * PROTO_EMALFORMED. */
int proto_frame_err(int frame_rc);
/* Op name ("pub") or NULL. */
const char *proto_op_name(uint32_t op);

/* The hello rules of one server-side connection (docs/protocol.md
 * "Connection life cycle"): zero-initialise. */
typedef struct proto_session {
    bool hello;             /* hello done (said, or implied: auth off) */
    uint32_t version;       /* the version in use once hello is done */
} proto_session_t;

/* The server's checks around decoding one client frame, in the order of
 * docs/protocol.md "Validation order".  token/token_len: the server's auth
 * token (NULL = auth off).
 *
 * proto_session_gate, with the frame's op before its body is decoded:
 * PROTO_EAUTH_REQUIRED (auth on, no hello yet, op is not hello),
 * PROTO_EHELLO (hello again), else 0; with auth off, the first op that is
 * not hello stands for hello (version 1, no welcome).
 *
 * proto_session_hello, with a decoded hello that passed the gate:
 * PROTO_EVERSION (version 0), PROTO_EAUTH (token missing or wrong), else 0
 * and s->version is the version to announce in welcome. */
int proto_session_gate(proto_session_t *s, uint32_t op, const char *token);
int proto_session_hello(proto_session_t *s, const proto_op_t *hello, const char *token,
                        size_t token_len);

#endif
