/* acto/msg.h - messages: a type tag plus a msgpack body.
 *
 * The body is the msgpack encoding of one value (or empty), so the same
 * message can go to a local actor (the buffer is moved, never copied) or
 * over a TCP connection unchanged.
 *
 * Sending common bodies:      acto_send_i64(ctx, to, MSG_ADD, 42);
 *                             acto_send_fmt(ctx, to, MSG_PT, "[iis]", x, y, "label");
 * Reading them in receive:    int64_t v; acto_msg_i64(msg, &v);
 *                             acto_msg_scan(ctx, msg, "[iis]", &x, &y, &s, &slen);
 * Anything else:              acto_msg_new + msgpack_pack_* on acto_msg_packer
 *                             + acto_send_msg; acto_msg_unpack to read.
 *
 * Format letters (acto_send_fmt / acto_msg_scan):
 *   i int64_t    u uint64_t    d double    b bool (int when sending)
 *   s string: send takes const char * (NUL-terminated); scan gives
 *     (const char **, size_t *) pointing into the body (not terminated)
 *   y binary: (const void *, size_t) / (const void **, size_t *)
 *   p acto_pid_t   n nil   [ ... ] array   { ... } map (key, value pairs)
 */
#ifndef ACTO_MSG_H
#define ACTO_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>
#include "actor.h"
#include "pid.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Types from ACTO_MSG_SYSTEM up are reserved for the runtime (0xFFFF02xx:
 * network events, acto/net.h). */
#define ACTO_MSG_SYSTEM 0xFFFF0000u
#define ACTO_MSG_DOWN   0xFFFF0001u  /* monitor fired: [pid, reason, ref] */
#define ACTO_MSG_EXIT   0xFFFF0002u  /* trapped exit signal: [pid, reason] */

/* Largest body a message may carry; beyond it sends, acto_msg_new and
 * acto_msg_write fail with ACTO_ELIMIT. */
#define ACTO_MSG_MAX_BODY (64u * 1024 * 1024)

uint32_t acto_msg_type(const acto_msg_t *msg);
acto_pid_t acto_msg_from(const acto_msg_t *msg);
/* The body bytes (msgpack); *len may be NULL. */
const void *acto_msg_data(const acto_msg_t *msg, size_t *len);
size_t acto_msg_size(const acto_msg_t *msg);

/* ---- building ---------------------------------------------------------- */

/* A new, empty message with room for about cap body bytes (it grows). */
int acto_msg_new(acto_ctx_t *ctx, uint32_t type, size_t cap, acto_msg_t **msg);
/* Point a msgpack-c packer at msg's body: every msgpack_pack_* call on it
 * appends to the body.  Allocation failure is reported by acto_send_msg. */
void acto_msg_packer(acto_msg_t *msg, msgpack_packer *pk);
/* Append raw bytes (already msgpack-encoded) to the body.  ACTO_ESTATE for
 * a body shared with other messages (a pub/sub delivery: read-only). */
int acto_msg_write(acto_msg_t *msg, const void *buf, size_t len);
/* Send msg to `to`.  Ownership passes to the runtime in every case: on
 * error the message is freed. */
int acto_send_msg(acto_ctx_t *ctx, acto_pid_t to, acto_msg_t *msg);
/* Free a message that was built but not sent. */
void acto_msg_free(acto_ctx_t *ctx, acto_msg_t *msg);
/* Send the message currently being received on to another actor, without
 * copying it.  Only valid inside receive, for the msg it was given. */
int acto_forward(acto_ctx_t *ctx, acto_pid_t to, const acto_msg_t *msg);

/* ---- sending common bodies -------------------------------------------- */

/* body is len bytes of msgpack (copied); len 0 sends an empty body. */
int acto_send(acto_ctx_t *ctx, acto_pid_t to, uint32_t type, const void *body, size_t len);
int acto_send_empty(acto_ctx_t *ctx, acto_pid_t to, uint32_t type);
int acto_send_i64(acto_ctx_t *ctx, acto_pid_t to, uint32_t type, int64_t v);
int acto_send_u64(acto_ctx_t *ctx, acto_pid_t to, uint32_t type, uint64_t v);
int acto_send_f64(acto_ctx_t *ctx, acto_pid_t to, uint32_t type, double v);
int acto_send_str(acto_ctx_t *ctx, acto_pid_t to, uint32_t type, const char *s);
int acto_send_bin(acto_ctx_t *ctx, acto_pid_t to, uint32_t type, const void *p, size_t len);
int acto_send_fmt(acto_ctx_t *ctx, acto_pid_t to, uint32_t type, const char *fmt, ...);

static inline int acto_reply_empty(acto_ctx_t *ctx, const acto_msg_t *msg, uint32_t type)
{ return acto_send_empty(ctx, acto_msg_from(msg), type); }
static inline int acto_reply_i64(acto_ctx_t *ctx, const acto_msg_t *msg, uint32_t type, int64_t v)
{ return acto_send_i64(ctx, acto_msg_from(msg), type, v); }
static inline int acto_reply_str(acto_ctx_t *ctx, const acto_msg_t *msg, uint32_t type, const char *s)
{ return acto_send_str(ctx, acto_msg_from(msg), type, s); }

/* ---- reading bodies ----------------------------------------------------- */
/* Each returns 0, or ACTO_ETYPE if the body is not of that type (or is not
 * exactly one msgpack value), leaving *out untouched. */
int acto_msg_i64(const acto_msg_t *msg, int64_t *out);
int acto_msg_u64(const acto_msg_t *msg, uint64_t *out);
int acto_msg_f64(const acto_msg_t *msg, double *out);
int acto_msg_bool(const acto_msg_t *msg, bool *out);
/* Pointers into the body, valid as long as the message. */
int acto_msg_str(const acto_msg_t *msg, const char **s, size_t *len);
int acto_msg_bin(const acto_msg_t *msg, const void **p, size_t *len);
/* Decode the whole body.  *out is valid until the current callback returns
 * (its memory belongs to ctx). */
int acto_msg_unpack(acto_ctx_t *ctx, const acto_msg_t *msg, msgpack_object *out);
/* Decode the body against a format (see the top of this file). */
int acto_msg_scan(acto_ctx_t *ctx, const acto_msg_t *msg, const char *fmt, ...);

#ifdef __cplusplus
}
#endif
#endif
