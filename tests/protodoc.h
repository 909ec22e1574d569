/* tests/protodoc.h - the ```hex blocks of docs/protocol.md, for the tests
 * that check the document against the codec (test_proto) and against the
 * live broker (test_broker), so both read it the same way. */
#ifndef ACTO_TESTS_PROTODOC_H
#define ACTO_TESTS_PROTODOC_H

#include <stddef.h>
#include <stdint.h>

/* One ```hex block: the words after "```hex" (attrs, with a leading
 * space: " op=pub example=pub"), its bytes, the line it starts on. */
typedef struct protodoc_block {
    char attrs[256];
    uint8_t *b;
    size_t n;
    int line;
    int used;                /* for the caller's bookkeeping */
} protodoc_block_t;

typedef struct protodoc {
    const char *path;
    char *text;              /* the whole file, NUL-terminated */
    protodoc_block_t *v;
    size_t n;
} protodoc_t;

/* Read path and every ```hex block in it: pairs of hex digits separated
 * by blanks, '#' to the end of a line is commentary.  A file that cannot be
 * read, bad hex, an empty or unterminated block fails the test. */
void protodoc_load(protodoc_t *d, const char *path);
void protodoc_free(protodoc_t *d);
/* The value of " key=" in b's attrs, copied into buf; NULL if absent. */
const char *protodoc_attr(const protodoc_block_t *b, const char *key, char *buf, size_t cap);

#endif
