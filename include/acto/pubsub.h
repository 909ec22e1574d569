/* acto/pubsub.h - publish/subscribe on named subjects between actors.
 *
 * In one process:
 *
 *     acto_pubsub_t *ps;
 *     acto_pubsub_new(acto_root(rt), 0, &ps);        // before the actors
 *     // in a subscriber actor (init or receive):
 *     uint32_t sid;
 *     acto_subscribe(ctx, ps, "orders.*.new", NULL, MSG_ORDER, &sid);
 *     // anywhere, from any actor or thread:
 *     acto_publish(ctx, ps, "orders.eu.new", "hello", 5);
 *     // in the subscriber's receive, for type MSG_ORDER:
 *     acto_pubsub_msg_t m;
 *     if (acto_pubsub_read(msg, &m) == 0) ... m.subject, m.payload, m.len ...
 *     // after acto_runtime_run returned, before acto_runtime_free:
 *     acto_pubsub_free(acto_root(rt), ps);
 *
 * SUBJECTS are NATS-style: dot-separated tokens, "orders.eu.new", at most
 * 256 bytes; a token is one or more bytes other than '.', '*', '>', space
 * and control characters; comparison is byte for byte.  A subscription
 * PATTERN may use "*" as a whole token for exactly one token and ">" as
 * the last token for one or more trailing tokens: "orders.*.new",
 * "orders.>".  A QUEUE GROUP name follows the subject rules.
 *
 * DELIVERY.  Every subscription is delivered to on its own: an actor with
 * two subscriptions that match a subject gets two messages (tell them
 * apart by the types it chose).  Queue subscriptions that share a queue
 * name form one group per message, across every matching pattern, and
 * exactly one member, chosen at random, gets each message.  Publishes of
 * one actor (or one thread) on one subject reach each subscriber in the
 * order they were made; no order is promised between different publishers
 * or different subjects.  A subscription takes effect for every publish
 * its subscriber makes after acto_subscribe returns, and for every publish
 * another actor makes after receiving a message the subscriber sent after
 * subscribing (a "ready" message is enough); there is no other
 * acknowledgement.
 *
 * HOW IT WORKS.  The handle names a set of channel actors ("shards", 4
 * per worker by default), each owning the subscriptions of a share of the
 * subjects, so a hot subject keeps one shard busy while the others serve
 * the rest.  A literal subscription lives in its subject's shard, a
 * wildcard one in every shard; a publish is one message to its subject's
 * shard, which matches it and sends one message per delivery.  All
 * deliveries of one publish share ONE body buffer (refcounted, read-only),
 * so fan-out to N subscribers costs N small message headers, not N copies
 * of the payload.  Shards monitor their subscribers: an actor that exits
 * is unsubscribed.
 *
 * A delivered publish, whether it came from an actor in this process or
 * from a broker over TCP (acto/client.h), is an acto message whose type
 * the subscriber chose when it subscribed and whose body is the msgpack
 * array [subject str, reply str|nil, payload bin].  acto_pubsub_read
 * takes it apart without copying.
 */
#ifndef ACTO_PUBSUB_H
#define ACTO_PUBSUB_H

#include <stddef.h>
#include <stdint.h>
#include "actor.h"
#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A delivered publish, pointing into the message's body (valid as long as
 * the message).  reply is NULL (reply_len 0) when the publisher gave none. */
typedef struct acto_pubsub_msg {
    const char *subject;
    size_t subject_len;
    const char *reply;
    size_t reply_len;
    const void *payload;
    size_t len;
} acto_pubsub_msg_t;

/* Read a delivered publish: 0, or ACTO_ETYPE if the body is not exactly
 * one array [subject str, reply str|nil, payload bin] (ACTO_EINVAL: NULL
 * argument).  acto_msg_from(msg) is the actor that published (for an
 * in-process publish; ACTO_PID_NONE from a foreign thread). */
int acto_pubsub_read(const acto_msg_t *msg, acto_pubsub_msg_t *out);

/* ---- in-process publish/subscribe ------------------------------------------- */

typedef struct acto_pubsub acto_pubsub_t;

/* Sent to a subscriber whose subscription a shard could not make (out of
 * memory): body [sid uint, code int] (code an ACTO_E* value).  Nothing
 * else is ever refused after acto_subscribe returned 0. */
#define ACTO_MSG_PUBSUB_SUB_FAILED 0xFFFF0407u

/* Largest payload acto_publish accepts (ACTO_ELIMIT beyond). */
#define ACTO_PUBSUB_MAX_PAYLOAD (ACTO_MSG_MAX_BODY - 1024u)

/* A new pub/sub space with `shards` channel actors (0: 4 per worker, at
 * most 64), spawned from ctx.  Subjects of different handles never meet.
 * ACTO_EINVAL (shards > 64, NULL argument), ACTO_ENOMEM.
 *
 * LIFETIME.  The handle is plain shared memory that any actor or thread
 * of the runtime may use concurrently, without locking, until
 * acto_pubsub_free.  acto_pubsub_free(ctx, ps) tells the shards to exit
 * (they handle what is already queued to them first; what arrives later is
 * dropped and every subscription ends) and frees the handle at once: call
 * it once, when no actor will use ps again (in
 * practice after acto_runtime_run has returned, or from the last actor
 * that uses it), and before acto_runtime_free.  A call with ps after that
 * is a use after free.  Deliveries already sent stay valid messages. */
int acto_pubsub_new(acto_ctx_t *ctx, unsigned shards, acto_pubsub_t **ps);
void acto_pubsub_free(acto_ctx_t *ctx, acto_pubsub_t *ps);

/* Subscribe the calling actor to pattern (NUL-terminated) as a member of
 * queue group `queue` (NULL: a plain subscription).  Each matching publish
 * arrives as a message of type deliver_type (< ACTO_MSG_SYSTEM) whose body
 * acto_pubsub_read reads.  *sid (may be NULL) names the subscription for
 * acto_unsubscribe; sids are unique within ps.  Nothing is sent on error:
 * ACTO_EINVAL (bad pattern or queue name, reserved type, NULL argument),
 * ACTO_ESTATE (ctx is not running an actor), ACTO_ENOMEM, ACTO_ENOACTOR
 * (the shards are gone: ps was freed). */
int acto_subscribe(acto_ctx_t *ctx, acto_pubsub_t *ps, const char *pattern,
                   const char *queue, uint32_t deliver_type, uint32_t *sid);
/* End the calling actor's subscription sid.  Publishes the caller makes
 * afterwards are not delivered to it; deliveries already sent (or sent
 * by a shard before it sees the request) still arrive.  An unknown sid is
 * ignored.  ACTO_EINVAL, ACTO_ESTATE, ACTO_ENOMEM. */
int acto_unsubscribe(acto_ctx_t *ctx, acto_pubsub_t *ps, uint32_t sid);

/* Publish payload[0..len) (copied once) on subject (NUL-terminated, no
 * wildcards), from an actor or any thread's context.  0 means the publish
 * reached its shard, not that anyone received it (no subscriber is not an
 * error).  ACTO_EINVAL (bad subject, NULL subject, NULL payload with
 * len > 0), ACTO_ELIMIT (len > ACTO_PUBSUB_MAX_PAYLOAD), ACTO_ENOMEM,
 * ACTO_ENOACTOR (ps was freed). */
int acto_publish(acto_ctx_t *ctx, acto_pubsub_t *ps, const char *subject,
                 const void *payload, size_t len);
/* The same with a reply subject (no wildcards) that receivers may publish
 * their answer to (request/reply); reply NULL is acto_publish. */
int acto_publish_reply(acto_ctx_t *ctx, acto_pubsub_t *ps, const char *subject,
                       const char *reply, const void *payload, size_t len);

#ifdef __cplusplus
}
#endif
#endif
