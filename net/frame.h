/* net/frame.h - acto messages as frames on a byte stream (TCP).
 *
 * Wire format: a frame is ONE msgpack value, an array
 *     [type]          a message with an empty body, or
 *     [type, body]    body = the message body bytes, verbatim,
 * where type is a msgpack unsigned integer below ACTO_MSG_SYSTEM (system
 * messages never travel).  A message body is already one msgpack value
 * (acto/msg.h), so a frame is the message unchanged behind a 2 to 6 byte
 * header (frame_encode), and the body is written from the message itself
 * (writev: header + body, no copy).  No length prefix is needed: the
 * receiver finds frame boundaries with msgpack-c's streaming unpacker, and
 * the stream stays pure msgpack (any msgpack tool can read it).
 *
 * Limits, enforced while the bytes stream in: a frame (header included)
 * may be at most `max` bytes (FRAME_MAX_DEFAULT = 1 MiB), checked as soon
 * as more than `max` bytes of one unfinished frame are buffered, so an
 * oversize frame is refused without being held whole; nesting is limited by
 * msgpack-c to 32 levels (the frame array is one of them).
 *
 * Errors: malformed bytes (e.g. 0xc1), a value that is not [uint, any?],
 * a reserved type -> ACTO_EPROTO; an oversize frame, too deep nesting or a
 * container header msgpack-c cannot allocate for -> ACTO_ELIMIT; a frame
 * cut off by the end of the stream -> ACTO_EPROTO (frame_dec_finish).  The
 * first error is sticky: the decoder refuses all further input with it.
 *
 * Memory: the decoder's buffer (msgpack-c's) is allocated on first input,
 * grows as needed up to about max + the largest chunk fed, and
 * frame_dec_trim gives it back while no frame is partly received (an idle
 * connection then holds no receive buffer).  msgpack-c allocates an array's
 * or map's element vector when it reads the container header (24 or 48
 * bytes per element claimed), so a hostile header can reserve address
 * space well beyond `max` for the life of that frame; it is untouched
 * (mostly not resident) and freed when the frame is refused at `max`.
 */
#ifndef ACTO_NET_FRAME_H
#define ACTO_NET_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

#include "acto/msg.h"

#define FRAME_MAX_DEFAULT (1024u * 1024u)
#define FRAME_HDR_MAX 6                 /* fixarray + uint32 */

/* ---- encoding -------------------------------------------------------------- */

/* One frame ready to send: hdr[0..hdr_len) then body[0..body_len). */
typedef struct frame_out {
    uint8_t hdr[FRAME_HDR_MAX];
    uint8_t hdr_len;
    const void *body;                   /* the caller's bytes, not copied */
    size_t body_len;
} frame_out_t;

/* Frame a message given as type + body (len 0: empty body); body must be
 * exactly one msgpack value (anything built with acto_send_* or the
 * message packer is; raw bytes from acto_msg_write are not checked here,
 * and the peer refuses a bad one with ACTO_EPROTO).  ACTO_EINVAL for a
 * reserved type or NULL body with len > 0; ACTO_ELIMIT if the frame would
 * be longer than max (0 = FRAME_MAX_DEFAULT). */
int frame_encode(frame_out_t *out, uint32_t type, const void *body, size_t len, size_t max);
/* The same for an acto message (its body is referenced, not copied). */
int frame_encode_msg(frame_out_t *out, const acto_msg_t *msg, size_t max);
static inline size_t frame_out_size(const frame_out_t *f) { return f->hdr_len + f->body_len; }
/* 0 if body is empty or exactly one msgpack value, else ACTO_EPROTO
 * (ACTO_ELIMIT: nested deeper than msgpack-c's 32 levels; in a frame the
 * body gets 31, so the peer refuses a body nested exactly 32 deep;
 * ACTO_ENOMEM: no memory for decoding).  It decodes the
 * body, so it costs about what receiving it does: for senders that accept
 * bodies written as raw bytes (acto_msg_write) and want a bad one refused
 * here rather than by the peer. */
int frame_check_body(const void *body, size_t len);

/* ---- decoding -------------------------------------------------------------- */

/* Never copy a live decoder (one that has been fed): msgpack-c's unpacker
 * context holds the address of the unpacker's own zone pointer, so a copy
 * decodes through a pointer into the original.  Keep it in place (in a
 * struct passed by pointer, on the heap). */
typedef struct frame_dec {
    msgpack_unpacker up;                /* valid while `live` */
    size_t max;
    int err;                            /* 0, or the first error (sticky) */
    bool live;                          /* up is initialised */
    bool held;                          /* a decoded frame's objects are in up's zone */
} frame_dec_t;

/* A decoded frame; body and everything it points to stay valid until the
 * next frame_dec_* call on the same decoder. */
typedef struct frame {
    uint32_t type;
    const msgpack_object *body;         /* NULL: empty body */
    size_t size;                        /* bytes on the wire */
} frame_t;

/* max 0 = FRAME_MAX_DEFAULT.  Allocates nothing yet. */
void frame_dec_init(frame_dec_t *d, size_t max);
void frame_dec_destroy(frame_dec_t *d);

/* Append received bytes (copied into the decoder's buffer).  Feed one
 * receive's worth, then call frame_dec_next until it returns 0: that keeps
 * the buffer within about max + one chunk.  Returns 0, or the sticky error
 * (ACTO_ENOMEM if the buffer cannot grow). */
int frame_dec_feed(frame_dec_t *d, const void *data, size_t len);
/* Zero-copy alternative for a plain recv: get room for at least `want`
 * bytes in the decoder's own buffer (*buf, *avail >= want), receive into
 * it, then frame_dec_commit the count received. */
int frame_dec_reserve(frame_dec_t *d, size_t want, void **buf, size_t *avail);
int frame_dec_commit(frame_dec_t *d, size_t n);

/* Take the next complete frame: 1 and *out filled, 0 if more bytes are
 * needed, or a negative (sticky) error. */
int frame_dec_next(frame_dec_t *d, frame_t *out);
/* The stream ended: 0 if it ended between frames, else ACTO_EPROTO (a
 * truncated frame, sticky) or the earlier sticky error. */
int frame_dec_finish(frame_dec_t *d);
/* Bytes of an incomplete frame held (0 between frames). */
size_t frame_dec_pending(const frame_dec_t *d);
/* Release the buffer, zone and parser state (about 7 KiB) if no frame is
 * partly received; cheap otherwise.  The next input allocates them again,
 * so call it when a connection goes idle, not after every receive. */
void frame_dec_trim(frame_dec_t *d);

/* Turn a decoded frame into a new message (body re-packed from the
 * decoded value, so bytes equal to the sender's for canonical msgpack).
 * The caller sends or frees *msg.  ACTO_ENOMEM, ACTO_ELIMIT (body over
 * ACTO_MSG_MAX_BODY). */
int frame_to_msg(acto_ctx_t *ctx, const frame_t *f, acto_msg_t **msg);

#endif
