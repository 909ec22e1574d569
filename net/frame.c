/* net/frame.c - msgpack frames on a byte stream (net/frame.h).
 *
 * Decoding uses msgpack-c's streaming unpacker directly (execute / data /
 * reset / reset_zone rather than msgpack_unpacker_next, which would make a
 * new zone per frame).  The size check relies on two facts about it:
 *  F1 while execute reports "incomplete", every buffered byte belongs to the
 *     frame being parsed, and msgpack_unpacker_message_size() counts them
 *     all (the consumed part and the buffered rest);
 *  F2 when execute completes a frame, msgpack_unpacker_parsed_size() is that
 *     frame's size on the wire, until msgpack_unpacker_reset().
 * So checking after each execute refuses a frame as soon as more than max
 * of its bytes have arrived, whatever the chunking.
 */
#include <string.h>

#include "acto/error.h"
#include "net/frame.h"

#define FRAME_BUF_INIT 4096u   /* first buffer; msgpack-c doubles it as needed */

/* ---- encoding ---------------------------------------------------------------- */

typedef struct hdr_sink {
    uint8_t *p;
    size_t n, cap;
} hdr_sink_t;

static int hdr_write(void *data, const char *buf, size_t len)
{
    hdr_sink_t *h = data;
    if (len > h->cap - h->n)
        return -1;
    memcpy(h->p + h->n, buf, len);
    h->n += len;
    return 0;
}

int frame_encode(frame_out_t *out, uint32_t type, const void *body, size_t len, size_t max)
{
    if (!out || type >= ACTO_MSG_SYSTEM || (!body && len))
        return ACTO_EINVAL;
    if (max == 0)
        max = FRAME_MAX_DEFAULT;
    /* msgpack-c packs the array header and the type minimally. */
    hdr_sink_t h = { out->hdr, 0, sizeof out->hdr };
    msgpack_packer pk;
    msgpack_packer_init(&pk, &h, hdr_write);
    if (msgpack_pack_array(&pk, len ? 2 : 1) || msgpack_pack_uint32(&pk, type))
        return ACTO_EINVAL;   /* cannot happen: FRAME_HDR_MAX is enough */
    if (h.n > max || len > max - h.n)
        return ACTO_ELIMIT;
    out->hdr_len = (uint8_t)h.n;
    out->body = len ? body : NULL;
    out->body_len = len;
    return 0;
}

int frame_encode_msg(frame_out_t *out, const acto_msg_t *msg, size_t max)
{
    if (!msg)
        return ACTO_EINVAL;
    size_t len;
    const void *body = acto_msg_data(msg, &len);
    return frame_encode(out, acto_msg_type(msg), body, len, max);
}

int frame_check_body(const void *body, size_t len)
{
    if (len == 0)
        return 0;
    if (!body)
        return ACTO_EINVAL;
    msgpack_zone z;
    if (!msgpack_zone_init(&z, 1024))
        return ACTO_ENOMEM;
    msgpack_object o;
    size_t off = 0;
    int r = msgpack_unpack(body, len, &off, &z, &o);
    msgpack_zone_destroy(&z);
    if (r == MSGPACK_UNPACK_NOMEM_ERROR)   /* as in frame_dec_next */
        return ACTO_ELIMIT;
    /* EXTRA_BYTES (two values) and CONTINUE (cut short) are both bad. */
    return r == MSGPACK_UNPACK_SUCCESS && off == len ? 0 : ACTO_EPROTO;
}

/* ---- decoding ---------------------------------------------------------------- */

static int fail(frame_dec_t *d, int err)
{
    d->err = err;
    return err;
}

/* The previous frame's objects are no longer needed: free them. */
static void release(frame_dec_t *d)
{
    if (d->held) {
        msgpack_unpacker_reset_zone(&d->up);
        d->held = false;
    }
}

void frame_dec_init(frame_dec_t *d, size_t max)
{
    memset(d, 0, sizeof *d);
    d->max = max ? max : FRAME_MAX_DEFAULT;
}

void frame_dec_destroy(frame_dec_t *d)
{
    if (d && d->live) {
        msgpack_unpacker_destroy(&d->up);
        d->live = false;
        d->held = false;
    }
}

int frame_dec_reserve(frame_dec_t *d, size_t want, void **buf, size_t *avail)
{
    if (!d || !buf || !avail)
        return ACTO_EINVAL;
    if (d->err)
        return d->err;
    if (!d->live) {
        if (!msgpack_unpacker_init(&d->up, FRAME_BUF_INIT))
            return fail(d, ACTO_ENOMEM);
        d->live = true;
    }
    release(d);
    if (!msgpack_unpacker_reserve_buffer(&d->up, want ? want : 1))
        return fail(d, ACTO_ENOMEM);
    *buf = msgpack_unpacker_buffer(&d->up);
    *avail = msgpack_unpacker_buffer_capacity(&d->up);
    return 0;
}

int frame_dec_commit(frame_dec_t *d, size_t n)
{
    if (!d)
        return ACTO_EINVAL;
    if (d->err)
        return d->err;
    if (!d->live || n > msgpack_unpacker_buffer_capacity(&d->up))
        return ACTO_EINVAL;
    msgpack_unpacker_buffer_consumed(&d->up, n);
    return 0;
}

int frame_dec_feed(frame_dec_t *d, const void *data, size_t len)
{
    if (!d || (!data && len))
        return ACTO_EINVAL;
    if (d->err || len == 0)
        return d->err;
    void *buf;
    size_t avail;
    int rc = frame_dec_reserve(d, len, &buf, &avail);
    if (rc)
        return rc;
    memcpy(buf, data, len);
    return frame_dec_commit(d, len);
}

/* A complete value: is it [type] or [type, body] with a user type? */
static int check_frame(frame_dec_t *d, const msgpack_object *o, size_t size, frame_t *out)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 1 || o->via.array.size > 2)
        return fail(d, ACTO_EPROTO);
    const msgpack_object *t = &o->via.array.ptr[0];
    if (t->type != MSGPACK_OBJECT_POSITIVE_INTEGER || t->via.u64 >= ACTO_MSG_SYSTEM)
        return fail(d, ACTO_EPROTO);
    out->type = (uint32_t)t->via.u64;
    out->body = o->via.array.size == 2 ? &o->via.array.ptr[1] : NULL;
    out->size = size;
    return 1;
}

int frame_dec_next(frame_dec_t *d, frame_t *out)
{
    if (!d || !out)
        return ACTO_EINVAL;
    if (d->err)
        return d->err;
    if (!d->live)
        return 0;
    release(d);
    int rc = msgpack_unpacker_execute(&d->up);
    if (rc < 0)   /* NOMEM_ERROR: nesting too deep or a container too big */
        return fail(d, rc == MSGPACK_UNPACK_NOMEM_ERROR ? ACTO_ELIMIT : ACTO_EPROTO);
    if (rc == 0)  /* F1 */
        return msgpack_unpacker_message_size(&d->up) > d->max ? fail(d, ACTO_ELIMIT) : 0;
    size_t size = msgpack_unpacker_parsed_size(&d->up);   /* F2 */
    msgpack_object o = msgpack_unpacker_data(&d->up);
    msgpack_unpacker_reset(&d->up);
    d->held = true;   /* o's parts live in the zone until release() */
    if (size > d->max)
        return fail(d, ACTO_ELIMIT);
    return check_frame(d, &o, size, out);
}

size_t frame_dec_pending(const frame_dec_t *d)
{
    return d && d->live ? msgpack_unpacker_message_size(&d->up) : 0;
}

int frame_dec_finish(frame_dec_t *d)
{
    if (!d)
        return ACTO_EINVAL;
    if (d->err)
        return d->err;
    return frame_dec_pending(d) ? fail(d, ACTO_EPROTO) : 0;
}

void frame_dec_trim(frame_dec_t *d)
{
    if (!d || !d->live || d->err)
        return;
    release(d);
    if (msgpack_unpacker_message_size(&d->up) == 0)
        frame_dec_destroy(d);
}

int frame_to_msg(acto_ctx_t *ctx, const frame_t *f, acto_msg_t **msg)
{
    if (!ctx || !f || !msg)
        return ACTO_EINVAL;
    *msg = NULL;
    /* Re-packing never grows a value (msgpack-c packs minimally), so the
     * frame's size is room enough. */
    size_t cap = f->body ? f->size : 0;
    if (cap > ACTO_MSG_MAX_BODY)
        cap = ACTO_MSG_MAX_BODY;   /* the body may still fit: the header is not in it */
    int rc = acto_msg_new(ctx, f->type, cap, msg);
    if (rc)
        return rc;
    if (f->body) {
        msgpack_packer pk;
        acto_msg_packer(*msg, &pk);
        if (msgpack_pack_object(&pk, *f->body)) {
            acto_msg_free(ctx, *msg);
            *msg = NULL;
            return cap == ACTO_MSG_MAX_BODY ? ACTO_ELIMIT : ACTO_ENOMEM;
        }
    }
    return 0;
}
