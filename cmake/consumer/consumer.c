/* cmake/consumer/consumer.c - the smallest program against an installed acto.
 * Checks that the headers (and <msgpack.h> through them) are found and that
 * the library links and runs. */
#include <stdio.h>
#include <acto/acto.h>

int main(void)
{
    acto_runtime_t *rt = NULL;
    int rc = acto_runtime_new(&rt, NULL);
    if (rc != 0) {
        fprintf(stderr, "acto_runtime_new: %s\n", acto_strerror(rc));
        return 1;
    }
    acto_runtime_free(rt);
    printf("acto %s consumer: ENOACTOR=\"%s\", runtime ok, msgpack %s\n",
           ACTO_VERSION_STRING, acto_strerror(ACTO_ENOACTOR), msgpack_version());
    return 0;
}
