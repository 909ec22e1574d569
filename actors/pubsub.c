/* actors/pubsub.c - in-process publish/subscribe (include/acto/pubsub.h)
 * over the channel actors (actors/chan.h).  Everything here validates and
 * sends: the shards do the routing. */
#define _POSIX_C_SOURCE 200809L   /* strnlen */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "actors/chan.h"
#include "acto/pubsub.h"
#include "net/subject.h"

_Static_assert(ACTO_MSG_PUBSUB_SUB_FAILED == CHAN_SUB_FAILED, "one failure message");

struct acto_pubsub {
    chan_bus_t *bus;               /* immutable while ps lives */
    uint32_t next_sid;             /* atomic: the last sid handed out */
};

int acto_pubsub_new(acto_ctx_t *ctx, unsigned shards, acto_pubsub_t **out)
{
    if (!ctx || !out || shards > CHAN_SHARDS_MAX)
        return ACTO_EINVAL;
    acto_pubsub_t *ps = calloc(1, sizeof *ps);
    if (!ps)
        return ACTO_ENOMEM;
    int rc = chan_bus_start(ctx, shards, &ps->bus);
    if (rc) {
        free(ps);
        return rc;
    }
    *out = ps;
    return 0;
}

void acto_pubsub_free(acto_ctx_t *ctx, acto_pubsub_t *ps)
{
    if (!ctx || !ps)
        return;
    chan_bus_stop(ctx, ps->bus);
    chan_bus_free(ps->bus);
    free(ps);
}

/* Length of a NUL-terminated name, or SUBJECT_MAX + 1 if it is longer
 * (subject_valid then refuses it without reading further). */
static size_t name_len(const char *s)
{
    return s ? strnlen(s, SUBJECT_MAX + 1) : 0;
}

int acto_subscribe(acto_ctx_t *ctx, acto_pubsub_t *ps, const char *pattern,
                   const char *queue, uint32_t deliver_type, uint32_t *sid)
{
    if (!ctx || !ps || deliver_type >= ACTO_MSG_SYSTEM)
        return ACTO_EINVAL;
    size_t plen = name_len(pattern), qlen = name_len(queue);
    if (subject_valid(pattern, plen, true) || (queue && subject_valid(queue, qlen, false)))
        return ACTO_EINVAL;
    acto_pid_t self = acto_self(ctx);
    if (self == ACTO_PID_NONE)
        return ACTO_ESTATE;
    /* Unique per handle: (owner, sid) names one subscription in a shard.
     * 0 is skipped so a zeroed variable never names a subscription. */
    uint32_t s;
    do
        s = at_faa_u32(&ps->next_sid, 1) + 1;
    while (s == 0);
    int rc = chan_sub(ctx, ps->bus, self, s, CHAN_LOCAL, deliver_type, pattern, plen,
                      queue, qlen, 0);
    if (rc == 0 && sid)
        *sid = s;
    return rc;
}

int acto_unsubscribe(acto_ctx_t *ctx, acto_pubsub_t *ps, uint32_t sid)
{
    if (!ctx || !ps)
        return ACTO_EINVAL;
    acto_pid_t self = acto_self(ctx);
    if (self == ACTO_PID_NONE)
        return ACTO_ESTATE;
    /* The pattern is not kept, so every shard is asked; unsubscribing is
     * rare next to publishing, and shards without the sid ignore it. */
    return chan_unsub_all(ctx, ps->bus, self, sid);
}

int acto_publish_reply(acto_ctx_t *ctx, acto_pubsub_t *ps, const char *subject,
                       const char *reply, const void *payload, size_t len)
{
    if (!ctx || !ps || (!payload && len))
        return ACTO_EINVAL;
    size_t slen = name_len(subject), rlen = name_len(reply);
    if (subject_valid(subject, slen, false) || (reply && subject_valid(reply, rlen, false)))
        return ACTO_EINVAL;
    if (len > ACTO_PUBSUB_MAX_PAYLOAD)
        return ACTO_ELIMIT;
    return chan_pub(ctx, ps->bus, subject, slen, reply, rlen, payload, len);
}

int acto_publish(acto_ctx_t *ctx, acto_pubsub_t *ps, const char *subject,
                 const void *payload, size_t len)
{
    return acto_publish_reply(ctx, ps, subject, NULL, payload, len);
}

/* ---- reading a delivery ------------------------------------------------------- */

/* Bytes of an array header announcing exactly 3 elements at p[0..len), or
 * 0 if there is none (fixarray, array 16 or array 32 encodings). */
static size_t array3_header(const uint8_t *p, size_t len)
{
    if (len >= 1 && p[0] == 0x93)
        return 1;
    if (len >= 3 && p[0] == 0xdc && p[1] == 0 && p[2] == 3)
        return 3;
    if (len >= 5 && p[0] == 0xdd && !p[1] && !p[2] && !p[3] && p[4] == 3)
        return 5;
    return 0;
}

int acto_pubsub_read(const acto_msg_t *msg, acto_pubsub_msg_t *out)
{
    if (!msg || !out)
        return ACTO_EINVAL;
    size_t len;
    const uint8_t *p = acto_msg_data(msg, &len);
    size_t h = array3_header(p, len);
    chan_pubv_t pv;
    if (!h || chan_pub_parse(p + h, len - h, &pv) != len - h)
        return ACTO_ETYPE;         /* not the array, or bytes after it */
    out->subject = pv.subject;
    out->subject_len = pv.slen;
    out->reply = pv.reply;
    out->reply_len = pv.rlen;
    out->payload = pv.payload;
    out->len = pv.len;
    return 0;
}
