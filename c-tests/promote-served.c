/*
 * promote-served: the shape of an asyncio program (issue 13, "What was seen"): a
 * socketpair echo on an instance, then five subprocesses started with fork and
 * execv, execl, execlp, execle and execvp, then the same echo again on a new socketpair. Under uepoll with
 * UEPOLL_STATS=1 the second echo must be served by the engine as the first was: the
 * Makefile (test-conformance) checks the parent's counters for a promotion and at
 * least one engine event a round of both echoes. The answers themselves are checked
 * here, so the program also passes on the kernel alone.
 *
 * A pipe and an eventfd made before the forks (as libuv's loop eventfd is), registered
 * level-triggered with data pending across the round trips, are served by the engine
 * again afterwards (`promoted_files`, and the engine events of the rounds on them):
 * the pending data is reported first, then each round's write.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 200

static void fail(const char *what, int round)
{
    fprintf(stderr, "promote-served: round %d: %s (errno %d)\n", round, what, errno);
    exit(1);
}

/* One echo of ROUNDS lines over a new socketpair: each line is sent, waited for and
 * read back, as an event loop does. */
static void echo(int ep)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0)
        fail("socketpair", -1);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x5e };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev) != 0)
        fail("epoll_ctl ADD", -1);
    for (int i = 0; i < ROUNDS; i++) {
        char line[32], back[32];
        int len = snprintf(line, sizeof line, "line %d\n", i);
        if (write(sv[0], line, (size_t)len) != len)
            fail("write", i);
        struct epoll_event out[4];
        int n = epoll_wait(ep, out, 4, 5000);
        if (n != 1 || out[0].data.u64 != 0x5e || out[0].events != EPOLLIN)
            fail("epoll_wait", i);
        if (read(sv[1], back, sizeof back) != len || memcmp(back, line, (size_t)len) != 0)
            fail("read", i);
    }
    if (epoll_ctl(ep, EPOLL_CTL_DEL, sv[1], NULL) != 0)
        fail("epoll_ctl DEL", -1);
    close(sv[0]);
    close(sv[1]);
}

/* The pending pipe byte and eventfd count made before the forks are reported, then
 * ROUNDS writes to each, each waited for and read back. */
static void prefork_rounds(int ep, int p[2], int efd)
{
    struct epoll_event out[4];
    int n = epoll_wait(ep, out, 4, 5000);
    int seen = 0;
    for (int i = 0; i < n; i++)
        seen |= out[i].data.u64 == 0xa1 ? 1 : out[i].data.u64 == 0xe1 ? 2 : 4;
    if (n != 2 || seen != 3)
        fail("pending pipe and eventfd", -1);
    char c;
    uint64_t v;
    if (read(p[0], &c, 1) != 1 || c != 'p')
        fail("pending pipe read", -1);
    if (read(efd, &v, 8) != 8 || v != 2)
        fail("pending eventfd read", -1);
    for (int i = 0; i < ROUNDS; i++) {
        if (epoll_wait(ep, out, 4, 0) != 0)
            fail("nothing ready", i);
        v = (uint64_t)i + 1;
        if (write(p[1], "x", 1) != 1 || write(efd, &v, 8) != 8)
            fail("write", i);
        n = epoll_wait(ep, out, 4, 5000);
        if (n != 2 || out[0].events != EPOLLIN || out[1].events != EPOLLIN)
            fail("epoll_wait both", i);
        if (read(p[0], &c, 1) != 1 || read(efd, &v, 8) != 8 || v != (uint64_t)i + 1)
            fail("read back", i);
    }
}

int main(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        fail("epoll_create1", -1);
    echo(ep);
    int p[2];
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0 || efd < 0)
        fail("pipe2, eventfd", -1);
    struct epoll_event pev = { .events = EPOLLIN, .data.u64 = 0xa1 };
    struct epoll_event eev = { .events = EPOLLIN, .data.u64 = 0xe1 };
    uint64_t two = 2;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &pev) != 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, efd, &eev) != 0)
        fail("epoll_ctl ADD pipe, eventfd", -1);
    if (write(p[1], "p", 1) != 1 || write(efd, &two, 8) != 8)
        fail("pending writes", -1);
    for (int i = 0; i < 5; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0)
            fail("fork", i);
        if (pid == 0) {
            /* Each member of the exec family the library hooks, in turn. */
            char *argv[] = { "true", NULL };
            extern char **environ;
            switch (i) {
            case 0: execv("/bin/true", argv); break;
            case 1: execl("/bin/true", "true", (char *)NULL); break;
            case 2: execlp("true", "true", (char *)NULL); break;
            case 3: execle("/bin/true", "true", (char *)NULL, environ); break;
            default: execvp("true", argv); break;
            }
            _exit(127);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail("child", i);
    }
    prefork_rounds(ep, p, efd);
    echo(ep);
    close(p[0]);
    close(p[1]);
    close(efd);
    close(ep);
    printf("promote-served: 3 x %d rounds ok\n", ROUNDS);
    return 0;
}
