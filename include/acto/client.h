/* acto/client.h - clients of an acto pub/sub broker (docs/protocol.md).
 *
 * Two clients over one wire protocol:
 *
 *  - A BLOCKING client, acto_client_t, for plain C programs with no
 *    runtime: every call does its work on the caller's thread and returns.
 *
 *        acto_client_t *c;
 *        acto_client_connect("127.0.0.1:7470", NULL, &c);
 *        uint32_t sid;
 *        acto_client_subscribe(c, "orders.>", NULL, &sid);
 *        acto_client_publish(c, "orders.eu.new", NULL, "hi", 2);
 *        acto_client_msg_t m;
 *        if (acto_client_next(c, &m, 1000) == 0) ... m.subject, m.payload ...
 *        acto_client_close(c);
 *
 *  - An ACTOR client (acto_client_start): an actor that owns the
 *    connection (a socket actor); any actor of the runtime subscribes
 *    through it and receives each publish as a message of a type it chose,
 *    whose body acto_pubsub_read (acto/pubsub.h) takes apart: the same
 *    accessor as for in-process subscriptions.
 *
 * Both reconnect when the connection drops (unless opts.reconnect is
 * ACTO_CLIENT_RECONNECT_OFF): retries wait an exponentially growing delay
 * between reconnect_min_ms and reconnect_max_ms, each scaled by a random
 * factor in [0.5, 1] (jitter, so clients of a restarted broker do not come
 * back in lock step).  After reconnecting, every live subscription is
 * subscribed again with the same sid (and, for one with an unsubscribe
 * after N, the N minus what it already received), then the publishes made
 * while disconnected are sent, in order.  At most max_buffered bytes of
 * them are held; beyond that a publish fails with ACTO_EAGAIN (blocking
 * client) or is dropped and counted (actor client).  Messages published by
 * others while the connection was down are not delivered (the broker keeps
 * no messages).
 *
 * Errors: every call returns 0 or a negative ACTO_E* code.  An `err` frame
 * from the broker becomes a code (bad subject: ACTO_EINVAL, payload too
 * large or too many subscriptions/connections: ACTO_ELIMIT, authorization:
 * ACTO_EPROTO, a sid in use or unknown: ACTO_ESTATE, shutdown, slow
 * consumer or stale: ACTO_ECLOSED, server out of memory: ACTO_ENOMEM,
 * others: ACTO_EPROTO) and acto_client_error tells the protocol code and
 * its text.
 */
#ifndef ACTO_CLIENT_H
#define ACTO_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "actor.h"
#include "pid.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The broker's default address (docs/protocol.md section 1). */
#define ACTO_CLIENT_DEFAULT_ADDR "127.0.0.1:7470"

enum { ACTO_CLIENT_RECONNECT_ON = 0, ACTO_CLIENT_RECONNECT_OFF = 1 };

/* Zero means "the default" for every field; opts may be NULL everywhere. */
typedef struct acto_client_opts {
    const char *name;              /* sent in hello; NULL = "acto-client" */
    const char *token;             /* auth token; NULL = none */
    unsigned connect_timeout_ms;   /* connect + hello/welcome; 0 = 5000 */
    int reconnect;                 /* ACTO_CLIENT_RECONNECT_ON (default) or _OFF */
    unsigned reconnect_min_ms;     /* first retry delay; 0 = 20 */
    unsigned reconnect_max_ms;     /* delay bound; 0 = 2000 */
    unsigned reconnect_attempts;   /* consecutive failed attempts before giving
                                      up for good (ACTO_ECLOSED); 0 = unlimited */
    size_t max_buffered;           /* publish bytes held while disconnected;
                                      0 = 8 MiB */
    char *errbuf;                  /* acto_client_connect only: if set, a failure
                                      is described here (NUL-terminated) */
    size_t errbuf_len;
} acto_client_opts_t;

/* A received message.  The pointers are valid until the next call on the
 * client (copy what you keep).  reply is NULL when the publisher gave none. */
typedef struct acto_client_msg {
    uint32_t sid;
    const char *subject;
    size_t subject_len;
    const char *reply;
    size_t reply_len;
    const void *payload;
    size_t len;
} acto_client_msg_t;

/* ============================ blocking client ============================
 *
 * Thread safety: an acto_client_t is used by one thread at a time (calls
 * on one client must not overlap; different clients are independent).
 *
 * Writes are coalesced: a publish appends its frame to an output buffer,
 * written when it passes 64 KiB, when the oldest buffered byte is older
 * than 1 ms at the next publish, and by every call that waits for the
 * broker (subscribe, unsubscribe, flush, next, request, ping) and close.
 * A program that publishes and then does something else for a while
 * calls acto_client_flush.  While a write waits for the socket, received
 * messages are read and queued, so a client that publishes to its own
 * subscriptions cannot deadlock with the broker.  Received messages are
 * queued in the client until acto_client_next takes them (the queue is
 * bounded only by memory: a subscriber must keep reading, as the broker
 * disconnects slow consumers anyway). */
typedef struct acto_client acto_client_t;

/* Connect to "host:port" (net address syntax, e.g. "127.0.0.1:7470",
 * "[::1]:7470", "localhost:7470"; NULL = ACTO_CLIENT_DEFAULT_ADDR), send
 * hello and wait for welcome.  Errors: ACTO_EINVAL (bad address or
 * options), ACTO_ECLOSED (refused or dropped), ACTO_ETIMEDOUT, ACTO_EPROTO
 * (authorization failed or a bad answer: see acto_client_error),
 * ACTO_ENOMEM, ACTO_ESYS.  The initial connection is not retried. */
int acto_client_connect(const char *addr, const acto_client_opts_t *opts,
                        acto_client_t **out);

/* Subscribe to a subject or pattern (wildcards * and >), in a queue group
 * if queue is not NULL; waits for the broker's ok.  *sid names the
 * subscription in messages and acto_client_unsubscribe.  ACTO_EINVAL for a
 * bad pattern or queue name (nothing is sent). */
int acto_client_subscribe(acto_client_t *c, const char *subject, const char *queue,
                          uint32_t *sid);
/* Unsubscribe now (max 0) or once max messages in total have been
 * delivered on sid; waits for the ok.  ACTO_ESTATE: no such subscription. */
int acto_client_unsubscribe(acto_client_t *c, uint32_t sid, uint64_t max);

/* Publish payload[0..len) on subject (no wildcards), with a reply subject
 * or NULL.  Buffered (see above); returns once the frame is buffered.
 * ACTO_EINVAL (bad subject), ACTO_ELIMIT (len over the broker's
 * max_payload), ACTO_EAGAIN (disconnected and the buffer bound is
 * reached), ACTO_ECLOSED (closed for good). */
int acto_client_publish(acto_client_t *c, const char *subject, const char *reply,
                        const void *payload, size_t len);

/* Write every buffered byte.  timeout_ms < 0: only that (blocks until the
 * kernel took them); otherwise also a ping/pong round trip within
 * timeout_ms, after which the broker has handled everything sent before
 * (ACTO_ETIMEDOUT if the pong did not come in time). */
int acto_client_flush(acto_client_t *c, int timeout_ms);
/* A ping/pong round trip (= acto_client_flush with a timeout). */
int acto_client_ping(acto_client_t *c, int timeout_ms);

/* The next message for any subscription, waiting at most timeout_ms
 * (0: do not wait; < 0: forever).  ACTO_ETIMEDOUT if none came. */
int acto_client_next(acto_client_t *c, acto_client_msg_t *msg, int timeout_ms);

/* Request/reply: subscribe to a fresh inbox subject (unsubscribed after
 * one message), publish the request with it as the reply subject and wait
 * at most timeout_ms for the reply (ACTO_ETIMEDOUT).  Messages of other
 * subscriptions that arrive meanwhile are queued for acto_client_next. */
int acto_client_request(acto_client_t *c, const char *subject, const void *payload,
                        size_t len, int timeout_ms, acto_client_msg_t *reply);

/* The broker's counters (the protocol's stats op, docs/protocol.md 4.10),
 * waiting at most timeout_ms for the answer. */
typedef struct acto_client_stats {
    uint64_t connections, subscriptions;    /* open now */
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
    uint64_t slow_consumers, drops;
} acto_client_stats_t;
int acto_client_stats(acto_client_t *c, acto_client_stats_t *out, int timeout_ms);

/* The broker's last err: its protocol code (docs/protocol.md section 6)
 * or 0, and its text (or the client's own description of the last
 * failure) in *text if text is not NULL. */
int acto_client_error(const acto_client_t *c, const char **text);
/* The broker's max_payload from welcome. */
size_t acto_client_max_payload(const acto_client_t *c);
/* Times the client reconnected since acto_client_connect. */
uint64_t acto_client_reconnects(const acto_client_t *c);

/* Write what is buffered (waiting at most the connect timeout), close and
 * free.  Publishes held while disconnected are dropped: call
 * acto_client_flush first to wait for a reconnect.  NULL is ok. */
void acto_client_close(acto_client_t *c);

/* ============================== actor client ==============================
 *
 * acto_client_start spawns the client actor; it connects and reconnects on
 * its own.  The calls below are sends to it (safe from any actor or
 * context; they return the send's result, ACTO_ENOACTOR once it is gone),
 * and it handles them in the order each sender sent them.  Until the
 * connection is up, subscriptions are remembered and publishes buffered
 * (up to max_buffered bytes; beyond that they are dropped).
 *
 * Deliveries: each publish that matches a subscription arrives at the
 * subscriber as a message of the subscription's deliver_type, sender =
 * the client actor, body [subject, reply|nil, payload]: read it with
 * acto_pubsub_read.  A subscriber that exits is unsubscribed (the client
 * monitors it); so is one whose subscription the broker refused (e.g. too
 * many subscriptions).  acto_client_stop, or the exit of the actor that
 * started it (it is monitored), closes the connection.  A publish over
 * the broker's max_payload (announced in welcome; 1 MiB until then) is
 * dropped by the client actor.  A connection counts as made once the broker's
 * welcome arrives: one refused at hello (a wrong token) is retried with
 * the growing delay, and reconnect_attempts bounds it. */

/* Spawn a client actor for the broker at addr (NULL = the default) from
 * ctx; *pid names it.  ACTO_EINVAL for a bad address or options; a
 * broker that cannot be reached is retried (unless reconnect is off: the
 * actor then exits). */
int acto_client_start(acto_ctx_t *ctx, const char *addr, const acto_client_opts_t *opts,
                      acto_pid_t *pid);
/* Close the connection (after sending what is buffered) and exit. */
int acto_client_stop(acto_ctx_t *ctx, acto_pid_t client);

/* The calling actor subscribes: deliveries come as messages of type
 * deliver_type (below ACTO_MSG_SYSTEM).  *ref (may be NULL) names the
 * subscription for acto_client_unsub; it is unique in the process.
 * ACTO_EINVAL for a bad pattern or queue name (nothing is sent). */
int acto_client_sub(acto_ctx_t *ctx, acto_pid_t client, const char *subject,
                    const char *queue, uint32_t deliver_type, uint64_t *ref);
/* Remove a subscription (made by any actor) by its ref; max > 0: after
 * max deliveries in total instead of now. */
int acto_client_unsub(acto_ctx_t *ctx, acto_pid_t client, uint64_t ref, uint64_t max);
/* Publish (payload copied).  ACTO_EINVAL for a bad subject or reply. */
int acto_client_pub(acto_ctx_t *ctx, acto_pid_t client, const char *subject,
                    const char *reply, const void *payload, size_t len);
/* Request/reply for the calling actor: publish with a fresh inbox as the
 * reply subject; the first reply arrives as a message of reply_type (body
 * as for deliveries), or, if none came within timeout_ms, a message of
 * timeout_type whose body is *ref (a uint64).  Exactly one of the two
 * comes, unless the client actor exits first.  *ref may be NULL. */
int acto_client_req(acto_ctx_t *ctx, acto_pid_t client, const char *subject,
                    const void *payload, size_t len, unsigned timeout_ms,
                    uint32_t reply_type, uint32_t timeout_type, uint64_t *ref);

#ifdef __cplusplus
}
#endif
#endif
