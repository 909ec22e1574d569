/* acto/error.h - error codes.
 *
 * Every public function that can fail returns 0 on success or one of these
 * negative codes (errno style).  acto_strerror() names them. */
#ifndef ACTO_ERROR_H
#define ACTO_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    ACTO_OK        = 0,
    ACTO_EINVAL    = -1,  /* bad argument: NULL, wrong size, bad flag */
    ACTO_ENOMEM    = -2,  /* allocation failed or a configured limit hit */
    ACTO_ENOACTOR  = -3,  /* no such actor: never existed or already dead */
    ACTO_ETYPE     = -4,  /* message body is not of the requested type */
    ACTO_ESTATE    = -5,  /* call not valid in the current state */
    ACTO_ELIMIT    = -6,  /* a size or count limit was exceeded */
    ACTO_ENOTSUP   = -7,  /* not supported (e.g. remote pid, no backend) */
    ACTO_ESYS      = -8,  /* an operating-system call failed */
    ACTO_EAGAIN    = -9,  /* try again later (queue full, would block) */
    ACTO_ETIMEDOUT = -10, /* a deadline passed */
    ACTO_ECLOSED   = -11, /* the peer or resource is closed */
    ACTO_EPROTO    = -12, /* malformed data on the wire or in a message */
    ACTO_E_LAST    = -12
};

/* A static, human-readable description of code (never NULL). */
const char *acto_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
