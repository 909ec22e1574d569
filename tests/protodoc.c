/* tests/protodoc.c - see protodoc.h. */
#include "protodoc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void hex_line(const protodoc_t *d, protodoc_block_t *b, const char *s, const char *end,
                     int line)
{
    while (s < end && *s != '#') {
        if (*s == ' ' || *s == '\t' || *s == '\r') {
            s++;
            continue;
        }
        int hi = hexval(s[0]), lo = s + 1 < end ? hexval(s[1]) : -1;
        if (hi < 0 || lo < 0 || (s + 2 < end && s[2] != ' ' && s[2] != '\t' && s[2] != '\r'))
            fail_msg("%s:%d: bad hex '%.*s'", d->path, line, (int)(end - s), s);
        b->b = realloc(b->b, b->n + 1);
        assert_non_null(b->b);
        b->b[b->n++] = (uint8_t)(hi << 4 | lo);
        s += 2;
    }
}

static protodoc_block_t *new_block(protodoc_t *d, const char *p, const char *eol, int line)
{
    d->v = realloc(d->v, (d->n + 1) * sizeof *d->v);
    assert_non_null(d->v);
    protodoc_block_t *b = &d->v[d->n++];
    memset(b, 0, sizeof *b);
    size_t al = (size_t)(eol - p - 6);
    assert_true(al < sizeof b->attrs);
    memcpy(b->attrs, p + 6, al);
    b->line = line;
    return b;
}

void protodoc_load(protodoc_t *d, const char *path)
{
    memset(d, 0, sizeof *d);
    d->path = path;
    d->text = read_file(path);
    if (!d->text)
        fail_msg("cannot read %s", path);
    protodoc_block_t *cur = NULL;
    int line = 1;
    for (const char *p = d->text; *p; line++) {
        const char *eol = strchr(p, '\n');
        if (!eol)
            eol = p + strlen(p);
        if (!cur && strncmp(p, "```hex", 6) == 0) {
            cur = new_block(d, p, eol, line);
        } else if (cur && strncmp(p, "```", 3) == 0) {
            if (cur->n == 0)
                fail_msg("%s:%d: empty hex block", path, cur->line);
            cur = NULL;
        } else if (cur) {
            hex_line(d, cur, p, eol, line);
        }
        p = *eol ? eol + 1 : eol;
    }
    if (cur)
        fail_msg("%s:%d: hex block not closed", path, cur->line);
}

void protodoc_free(protodoc_t *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].b);
    free(d->v);
    free(d->text);
    memset(d, 0, sizeof *d);
}

const char *protodoc_attr(const protodoc_block_t *b, const char *key, char *buf, size_t cap)
{
    char pat[32];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *s = strstr(b->attrs, pat);
    if (!s)
        return NULL;
    s += strlen(pat);
    size_t n = strcspn(s, " \t\r");
    assert_true(n < cap);
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}
