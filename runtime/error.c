/* runtime/error.c - error strings. */
#include "acto/error.h"

const char *acto_strerror(int code)
{
    switch (code) {
    case ACTO_OK:        return "success";
    case ACTO_EINVAL:    return "invalid argument";
    case ACTO_ENOMEM:    return "out of memory or limit reached";
    case ACTO_ENOACTOR:  return "no such actor";
    case ACTO_ETYPE:     return "message body has another type";
    case ACTO_ESTATE:    return "not valid in the current state";
    case ACTO_ELIMIT:    return "size or count limit exceeded";
    case ACTO_ENOTSUP:   return "not supported";
    case ACTO_ESYS:      return "system call failed";
    case ACTO_EAGAIN:    return "resource temporarily unavailable";
    case ACTO_ETIMEDOUT: return "timed out";
    case ACTO_ECLOSED:   return "closed";
    case ACTO_EPROTO:    return "malformed data";
    default:             return "unknown error";
    }
}
