/*
 * rawcall-served: epoll, close and eventfd reached only through raw syscall(), as
 * libuv (SYS_close) and programs on glibc < 2.35 (SYS_epoll_pwait2) reach them.
 * Under uepoll with UEPOLL_STATS=1 the engine must serve every round: the Makefile
 * (test-conformance) checks that the counters show no demotion and at least one
 * engine event a round. The answers themselves are checked here, so the program
 * also passes on the kernel alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 200

static void fail(const char *what, int round)
{
    fprintf(stderr, "rawcall-served: round %d: %s (errno %d)\n", round, what, errno);
    exit(1);
}

int main(void)
{
    /* The instance and half the pipes come from libc, so a raw call that demotes
     * shows in the counters; the other half are made and added raw. */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        fail("epoll_create1", -1);
    struct timespec ts = {0, 0};
    for (int i = 0; i < ROUNDS; i++) {
        int p[2];
        int raw = i % 2;
        if ((raw ? syscall(SYS_pipe2, p, O_CLOEXEC | O_NONBLOCK) : pipe2(p, O_CLOEXEC | O_NONBLOCK)) != 0)
            fail("pipe2", i);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1000u + (unsigned)i};
        if ((raw ? syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, p[0], &ev)
                 : epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev)) != 0)
            fail("epoll_ctl ADD", i);
        if (syscall(SYS_write, p[1], "x", 1) != 1)
            fail("write", i);
        struct epoll_event out[4];
        long n = syscall(SYS_epoll_pwait2, ep, out, 4, &ts, NULL, 8);
        if (n != 1 || out[0].events != EPOLLIN || out[0].data.u64 != 0x1000u + (unsigned)i)
            fail("epoll_pwait2", i);
        char c;
        if (syscall(SYS_read, p[0], &c, 1) != 1 || c != 'x')
            fail("read", i);
        if (syscall(SYS_close, p[0]) != 0 || syscall(SYS_close, p[1]) != 0)
            fail("close", i);
    }
    /* An eventfd made raw is served: its counter wakes the instance. */
    int efd = (int)syscall(SYS_eventfd2, 0, 0);
    if (efd < 0)
        fail("eventfd2", ROUNDS);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 7};
    if (syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, efd, &ev) != 0)
        fail("epoll_ctl ADD eventfd", ROUNDS);
    uint64_t one = 1;
    if (syscall(SYS_write, efd, &one, sizeof one) != (long)sizeof one)
        fail("eventfd write", ROUNDS);
    struct epoll_event out;
    if (syscall(SYS_epoll_wait, ep, &out, 1, 0) != 1 || out.data.u64 != 7)
        fail("epoll_wait eventfd", ROUNDS);
    if (syscall(SYS_close, efd) != 0 || syscall(SYS_close, ep) != 0)
        fail("close eventfd", ROUNDS);
    printf("rawcall-served: %d rounds ok\n", ROUNDS);
    return 0;
}
