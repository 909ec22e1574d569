/* tools/pubsub/sub.c - acto-sub: print the messages published on a subject. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static void usage(void)
{
    printf("Usage: acto-sub [OPTION]... SUBJECT\n"
           "Subscribe to SUBJECT (wildcards: * one token, > the rest) on an acto\n"
           "pub/sub broker and print each message as a line \"SUBJECT PAYLOAD\".\n"
           "Reconnects (and resubscribes) if the connection drops.\n\n"
           "  --count N           exit after N messages\n"
           "  --raw               print the payload only\n"
           "  --queue GROUP       join queue group GROUP (each message to one member)\n"
           PS_COMMON_HELP);
}

int main(int argc, char **argv)
{
    ps_common_t pc = { .prog = "acto-sub", .server = ACTO_CLIENT_DEFAULT_ADDR };
    const char *queue = NULL;
    unsigned long long count = 0;
    int raw = 0;
    enum { OPT_COUNT = 1, OPT_RAW, OPT_QUEUE };
    static const struct option longopts[] = {
        PS_COMMON_LONGOPTS,
        { "count", required_argument, NULL, OPT_COUNT },
        { "raw", no_argument, NULL, OPT_RAW },
        { "queue", required_argument, NULL, OPT_QUEUE },
        { 0 } };
    int opt, rc;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_HELP:
            usage();
            ps_common_free(&pc);
            return EXIT_OK;
        case OPT_COUNT:
            if (ps_parse_u64(optarg, &count) || count == 0) {
                ps_common_free(&pc);
                return ps_usage_error(&pc, "--count: '%s' is not a positive number", optarg);
            }
            continue;
        case OPT_RAW:
            raw = 1;
            continue;
        case OPT_QUEUE:
            queue = optarg;
            continue;
        }
        if ((rc = ps_common_opt(&pc, opt, optarg)) >= 0) {
            if (rc) {
                ps_common_free(&pc);
                return rc;
            }
            continue;
        }
        ps_common_free(&pc);
        return ps_usage_error(&pc, "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (argc - optind != 1) {
        ps_common_free(&pc);
        return ps_usage_error(&pc, argc - optind < 1 ? "missing SUBJECT" : "too many arguments");
    }
    const char *subject = argv[optind];
    setvbuf(stdout, NULL, _IOLBF, 0);
    acto_client_t *cl = ps_connect(&pc, 1);
    if (!cl) {
        ps_common_free(&pc);
        return EXIT_FAIL;
    }
    uint32_t sid;
    rc = acto_client_subscribe(cl, subject, queue, &sid);
    if (rc) {
        ps_fail(&pc, cl, "subscribe", rc);
        acto_client_close(cl);
        ps_common_free(&pc);
        return rc == ACTO_EINVAL ? EXIT_USAGE : EXIT_FAIL;
    }
    if (count)
        acto_client_unsubscribe(cl, sid, count);   /* the broker stops after N too */
    unsigned long long got = 0;
    rc = EXIT_OK;
    while (!count || got < count) {
        acto_client_msg_t m;
        int r = acto_client_next(cl, &m, -1);
        if (r) {
            ps_fail(&pc, cl, "receive", r);
            rc = EXIT_FAIL;
            break;
        }
        if (!raw)
            printf("%.*s ", (int)m.subject_len, m.subject);
        fwrite(m.payload, 1, m.len, stdout);
        putchar('\n');
        got++;
    }
    acto_client_close(cl);
    ps_common_free(&pc);
    return rc;
}
