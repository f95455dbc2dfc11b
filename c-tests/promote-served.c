/*
 * promote-served: the shape of an asyncio program (issue 13, "What was seen"): a
 * socketpair echo on an instance, then five subprocesses started with fork and
 * execv, execl, execlp, execle and execvp, then the same echo again on a new socketpair. Under uepoll with
 * UEPOLL_STATS=1 the second echo must be served by the engine as the first was: the
 * Makefile (test-conformance) checks the parent's counters for a promotion and at
 * least one engine event a round of both echoes. The answers themselves are checked
 * here, so the program also passes on the kernel alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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

int main(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        fail("epoll_create1", -1);
    echo(ep);
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
    echo(ep);
    close(ep);
    printf("promote-served: 2 x %d rounds ok\n", ROUNDS);
    return 0;
}
