/* bench/peers/raw/common.h - what both raw echo servers share: flags
 * (--host HOST --port PORT, like examples/echo_server), the listening
 * socket, and the "listening on HOST:PORT" line bench/run.sh waits for. */
#ifndef RAW_COMMON_H
#define RAW_COMMON_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static inline void raw_die(const char *prog, const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
    exit(1);
}

/* Parse the flags, raise RLIMIT_NOFILE to its hard limit, bind and listen
 * (IPv4), print the bound address.  Returns the listening socket. */
static inline int raw_listen(const char *prog, int argc, char **argv)
{
    const char *host = "127.0.0.1", *port = "0";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--host") == 0)
            host = argv[i + 1];
        else if (strcmp(argv[i], "--port") == 0)
            port = argv[i + 1];
        else
            break;
    }
    if (argc % 2 == 0) {
        fprintf(stderr, "usage: %s [--host IPV4] [--port PORT]\n", prog);
        exit(2);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "%s: bad IPv4 address '%s'\n", prog, host);
        exit(2);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0)
        raw_die(prog, "socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4096) != 0)
        raw_die(prog, "bind/listen");
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    char buf[INET_ADDRSTRLEN];
    printf("listening on %s:%u\n", inet_ntop(AF_INET, &sa.sin_addr, buf, sizeof buf),
           ntohs(sa.sin_port));
    fflush(stdout);
    return fd;
}

#endif
