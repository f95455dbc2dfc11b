/*
 * conformance-rawcall.inc.c - group "rawcall": the fd calls a program makes through
 * raw syscall() (libuv closes with SYS_close; glibc older than 2.35 has no
 * epoll_pwait2 wrapper), with the kernel's raw argument conventions on x86_64.
 *
 * Included by conformance.c, after the hostile group (opaque_ptr).  Each number
 * is checked for its result, its errno on bad input and the events it makes or
 * consumes.  That the library served them (no demotion) is checked outside, by
 * c-tests/rawcall-served.c under UEPOLL_STATS (make test-conformance), since the
 * lines here must be the same on the kernel.
 */

#define RAW_BAD ((void *)0x10)

/* Raw epoll_wait: exactly one event with these bits and data. */
static int raw_expect1(const char *desc, long n, int e, const struct epoll_event *ev,
                       uint64_t data, uint32_t events)
{
    char got[512], want[128];
    return check(n == 1 && ev[0].data.u64 == data && ev[0].events == events, desc,
                 "got %s, expected n=1 [%s data=0x%llx]",
                 fmt_wait((int)n, e, ev, got, sizeof got), bits(events, want, sizeof want),
                 (unsigned long long)data);
}

static void rawcall_create_close_dup(void)
{
    int p[2] = { -1, -1 };
    expect_eq("SYS_pipe makes a pipe", syscall(SYS_pipe, p), 0);
    int ep = (int)syscall(SYS_epoll_create, 1);
    expect_ok("SYS_epoll_create", ep);
    expect_err("SYS_epoll_create size 0: EINVAL", syscall(SYS_epoll_create, opaque_int(0)),
               EINVAL);
    expect_eq("SYS_epoll_ctl ADD", syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, p[0],
                                           &(struct epoll_event){ EPOLLIN, { .u64 = 0x71 } }),
              0);
    expect_eq("SYS_write 3 bytes", syscall(SYS_write, p[1], "abc", 3), 3);
    struct epoll_event ev[4];
    long n = syscall(SYS_epoll_wait, ep, ev, 4, 0);
    raw_expect1("SYS_epoll_wait reports the raw pipe", n, errno, ev, 0x71, EPOLLIN);

    /* dup keeps the registration (it names the open file); closing the dup does not
     * end it, closing the last fd does. */
    int d = (int)syscall(SYS_dup, p[0]);
    expect_ok("SYS_dup", d);
    expect_eq("SYS_close the dup", syscall(SYS_close, d), 0);
    n = syscall(SYS_epoll_wait, ep, ev, 4, 0);
    raw_expect1("after SYS_close of a dup the item still reports", n, errno, ev, 0x71, EPOLLIN);
    expect_err("SYS_dup of a bad fd: EBADF", syscall(SYS_dup, opaque_int(-1)), EBADF);
    expect_err("SYS_close of a bad fd: EBADF", syscall(SYS_close, opaque_int(-1)), EBADF);

    int hi = 200;
    expect_eq("SYS_dup2 onto a free number", syscall(SYS_dup2, p[0], hi), hi);
    expect_eq("SYS_dup2 onto itself returns it", syscall(SYS_dup2, hi, hi), hi);
    expect_err("SYS_dup2 of a bad fd: EBADF", syscall(SYS_dup2, opaque_int(-1), hi), EBADF);
    expect_err("SYS_dup3 onto itself: EINVAL", syscall(SYS_dup3, hi, hi, 0), EINVAL);
    expect_err("SYS_dup3 bad flags: EINVAL", syscall(SYS_dup3, p[0], hi, opaque_int(1)), EINVAL);
    expect_eq("SYS_dup3 O_CLOEXEC replaces the number", syscall(SYS_dup3, p[1], hi, O_CLOEXEC),
              hi);
    expect_eq("the replaced number is close-on-exec", fcntl(hi, F_GETFD), FD_CLOEXEC);
    /* hi is now the write end: the read end's registration lives on through p[0]. */
    n = syscall(SYS_epoll_wait, ep, ev, 4, 0);
    raw_expect1("dup3 over a copy of the read end keeps the item", n, errno, ev, 0x71, EPOLLIN);
    expect_eq("SYS_close the copy", syscall(SYS_close, hi), 0);

    /* Closing the last fd of the read end ends its registration. */
    expect_eq("SYS_close the watched read end", syscall(SYS_close, p[0]), 0);
    expect_eq("SYS_epoll_wait after SYS_close: nothing", syscall(SYS_epoll_wait, ep, ev, 4, 0),
              0);
    expect_eq("SYS_close the write end", syscall(SYS_close, p[1]), 0);
    expect_eq("SYS_close the instance", syscall(SYS_close, ep), 0);
}

static void rawcall_pipe2_eventfd_socketpair(void)
{
    int p[2] = { -1, -1 };
    expect_err("SYS_pipe2 bad flags: EINVAL", syscall(SYS_pipe2, p, opaque_int(0x1)), EINVAL);
    expect_err("SYS_pipe2 bad pointer: EFAULT", syscall(SYS_pipe2, opaque_ptr(RAW_BAD), 0),
               EFAULT);
    expect_err("SYS_pipe bad pointer: EFAULT", syscall(SYS_pipe, opaque_ptr(RAW_BAD)), EFAULT);
    expect_eq("SYS_pipe2 O_NONBLOCK", syscall(SYS_pipe2, p, O_NONBLOCK | O_CLOEXEC), 0);
    expect_eq("its read end is non-blocking", fcntl(p[0], F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    int ep = (int)syscall(SYS_epoll_create1, EPOLL_CLOEXEC);
    expect_ok("SYS_epoll_create1", ep);
    expect_err("SYS_epoll_create1 bad flags: EINVAL", syscall(SYS_epoll_create1, opaque_int(1)),
               EINVAL);
    add(ep, p[0], EPOLLIN | EPOLLET, 0x72);
    expect_eq("SYS_epoll_wait on an empty pipe: nothing", syscall(SYS_epoll_wait, ep,
                                                                  (struct epoll_event[1]){}, 1, 0),
              0);
    struct iovec wv[2] = { { "ab", 2 }, { "cde", 3 } };
    expect_eq("SYS_writev 5 bytes", syscall(SYS_writev, p[1], wv, 2), 5);
    struct epoll_event ev[4];
    long n = syscall(SYS_epoll_wait, ep, ev, 4, 0);
    raw_expect1("the writev's edge", n, errno, ev, 0x72, EPOLLIN);
    char a[2], b[8];
    struct iovec rv[2] = { { a, 2 }, { b, sizeof b } };
    expect_eq("SYS_readv 5 bytes", syscall(SYS_readv, p[0], rv, 2), 5);
    expect_err("SYS_read of the empty pipe: EAGAIN", syscall(SYS_read, p[0], b, sizeof b),
               EAGAIN);
    expect_err("SYS_read bad buffer: EFAULT",
               (put(p[1], 1), syscall(SYS_read, p[0], opaque_ptr(RAW_BAD), 1)), EFAULT);
    expect_err("SYS_write bad buffer: EFAULT", syscall(SYS_write, p[1], opaque_ptr(RAW_BAD), 1),
               EFAULT);
    expect_err("SYS_read of a bad fd: EBADF", syscall(SYS_read, opaque_int(-1), b, 1), EBADF);
    expect_err("SYS_writev of a bad fd: EBADF", syscall(SYS_writev, opaque_int(-1), wv, 2),
               EBADF);
    drain(p[0]);
    close_pair(p);

    /* SYS_eventfd takes only the initial value. */
    int e1 = (int)syscall(SYS_eventfd, 3);
    expect_ok("SYS_eventfd", e1);
    expect_eq("SYS_eventfd is blocking (flags 0)", fcntl(e1, F_GETFL) & O_NONBLOCK, 0);
    int e2 = (int)syscall(SYS_eventfd2, 0, EFD_NONBLOCK | EFD_CLOEXEC);
    expect_ok("SYS_eventfd2", e2);
    expect_err("SYS_eventfd2 bad flags: EINVAL", syscall(SYS_eventfd2, 0, opaque_int(2)), EINVAL);
    add(ep, e1, EPOLLIN | EPOLLOUT, 0x73);
    add(ep, e2, EPOLLIN, 0x74);
    n = syscall(SYS_epoll_wait, ep, ev, 4, 0);
    raw_expect1("a raw eventfd with a count is readable", n, errno, ev, 0x73, EPOLLIN | EPOLLOUT);
    uint64_t v = 0;
    expect_eq("SYS_read the eventfd count", syscall(SYS_read, e1, &v, sizeof v), 8);
    expect_eq("the count is the initial value", (long long)v, 3);
    expect_err("SYS_read of an empty non-blocking eventfd: EAGAIN",
               syscall(SYS_read, e2, &v, sizeof v), EAGAIN);
    v = 5;
    expect_eq("SYS_write to the eventfd2", syscall(SYS_write, e2, &v, sizeof v), 8);
    n = syscall(SYS_epoll_wait, ep, ev, 4, 0);
    check(n == 2 && find_data(ev, 2, 0x74) >= 0 && find_data(ev, 2, 0x73) >= 0,
          "SYS_write wakes the eventfd2 (and the emptied eventfd is writable)", "n=%ld", n);
    expect_err("SYS_write of a short eventfd value: EINVAL", syscall(SYS_write, e2, &v, 4),
               EINVAL);
    expect_eq("SYS_close eventfd", syscall(SYS_close, e1), 0);
    expect_eq("SYS_close eventfd2", syscall(SYS_close, e2), 0);

    int sv[2] = { -1, -1 };
    expect_err("SYS_socketpair bad pointer: EFAULT",
               syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, opaque_ptr(RAW_BAD)), EFAULT);
    expect_err("SYS_socketpair bad family: EAFNOSUPPORT",
               syscall(SYS_socketpair, opaque_int(12345), SOCK_STREAM, 0, sv), EAFNOSUPPORT);
    expect_eq("SYS_socketpair", syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv),
              0);
    add(ep, sv[0], EPOLLIN, 0x75);
    expect_eq("SYS_sendto without an address", syscall(SYS_sendto, sv[1], "hello", 5, 0, NULL, 0),
              5);
    n = syscall(SYS_epoll_wait, ep, ev, 4, 0);
    raw_expect1("the sendto wakes the peer", n, errno, ev, 0x75, EPOLLIN);
    char buf[16];
    expect_eq("SYS_recvfrom MSG_PEEK", syscall(SYS_recvfrom, sv[0], buf, 2, MSG_PEEK, NULL, NULL), 2);
    expect_eq("SYS_recvfrom", syscall(SYS_recvfrom, sv[0], buf, sizeof buf, 0, NULL, NULL), 5);
    expect_err("SYS_recvfrom of an empty socket: EAGAIN",
               syscall(SYS_recvfrom, sv[0], buf, sizeof buf, 0, NULL, NULL), EAGAIN);
    expect_err("SYS_recvfrom of a pipe-less bad fd: EBADF",
               syscall(SYS_recvfrom, opaque_int(-1), buf, 1, 0, NULL, NULL), EBADF);
    expect_err("SYS_sendto bad buffer: EFAULT",
               syscall(SYS_sendto, sv[1], opaque_ptr(RAW_BAD), 1, 0, NULL, 0), EFAULT);
    expect_err("SYS_recvfrom on a pipe: ENOTSOCK",
               (mkpipe(p), syscall(SYS_recvfrom, p[0], buf, 1, 0, NULL, NULL)), ENOTSOCK);
    close_pair(p);
    expect_eq("SYS_epoll_wait after the recvfrom: nothing", syscall(SYS_epoll_wait, ep, ev, 4, 0),
              0);

    struct iovec iov = { "msg!", 4 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    expect_eq("SYS_sendmsg", syscall(SYS_sendmsg, sv[1], &mh, 0), 4);
    n = syscall(SYS_epoll_wait, ep, ev, 4, 0);
    raw_expect1("the sendmsg wakes the peer", n, errno, ev, 0x75, EPOLLIN);
    char rb[8];
    struct iovec riov = { rb, sizeof rb };
    struct msghdr rh = { .msg_iov = &riov, .msg_iovlen = 1 };
    expect_eq("SYS_recvmsg", syscall(SYS_recvmsg, sv[0], &rh, 0), 4);
    expect_err("SYS_recvmsg bad header: EFAULT", syscall(SYS_recvmsg, sv[0], opaque_ptr(RAW_BAD), 0),
               EFAULT);
    expect_err("SYS_sendmsg bad header: EFAULT", syscall(SYS_sendmsg, sv[1], opaque_ptr(RAW_BAD), 0),
               EFAULT);

    struct iovec mi[2] = { { "one", 3 }, { "two", 3 } };
    struct mmsghdr mm[2] = { { .msg_hdr = { .msg_iov = &mi[0], .msg_iovlen = 1 } },
                             { .msg_hdr = { .msg_iov = &mi[1], .msg_iovlen = 1 } } };
    expect_eq("SYS_sendmmsg 2 messages", syscall(SYS_sendmmsg, sv[1], mm, 2, 0), 2);
    n = syscall(SYS_epoll_wait, ep, ev, 4, 0);
    raw_expect1("the sendmmsg wakes the peer", n, errno, ev, 0x75, EPOLLIN);
    char r1[8], r2[8];
    struct iovec ri[2] = { { r1, sizeof r1 }, { r2, sizeof r2 } };
    struct mmsghdr rm[2] = { { .msg_hdr = { .msg_iov = &ri[0], .msg_iovlen = 1 } },
                             { .msg_hdr = { .msg_iov = &ri[1], .msg_iovlen = 1 } } };
    long got = syscall(SYS_recvmmsg, sv[0], rm, 2, MSG_DONTWAIT, NULL);
    check(got >= 1, "SYS_recvmmsg receives the stream", "got %ld/%s", got, errname(errno));
    expect_err("SYS_recvmmsg bad timeout: EFAULT",
               syscall(SYS_recvmmsg, sv[0], rm, 2, 0, opaque_ptr(RAW_BAD)), EFAULT);
    expect_err("SYS_sendmmsg of a bad fd: EBADF", syscall(SYS_sendmmsg, opaque_int(-1), mm, 2, 0),
               EBADF);
    expect_eq("SYS_epoll_wait after the recvmmsg: nothing", syscall(SYS_epoll_wait, ep, ev, 4, 0),
              0);
    expect_eq("SYS_close a socket", syscall(SYS_close, sv[0]), 0);
    expect_eq("SYS_close its peer", syscall(SYS_close, sv[1]), 0);
    xclose(ep);
}

static void rawcall_epoll(void)
{
    int p[2];
    mkpipe(p);
    int ep = mkepoll();
    struct epoll_event e = { EPOLLIN, { .u64 = 0x76 } };
    expect_err("SYS_epoll_ctl bad epfd: EBADF", syscall(SYS_epoll_ctl, opaque_int(-1), EPOLL_CTL_ADD,
                                                        p[0], &e),
               EBADF);
    expect_err("SYS_epoll_ctl epfd not an instance: EINVAL",
               syscall(SYS_epoll_ctl, p[1], EPOLL_CTL_ADD, p[0], &e), EINVAL);
    expect_err("SYS_epoll_ctl on itself: EINVAL", syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, ep, &e),
               EINVAL);
    expect_err("SYS_epoll_ctl MOD before ADD: ENOENT",
               syscall(SYS_epoll_ctl, ep, EPOLL_CTL_MOD, p[0], &e), ENOENT);
    expect_err("SYS_epoll_ctl bad event pointer: EFAULT",
               syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, p[0], opaque_ptr(RAW_BAD)), EFAULT);
    expect_err("SYS_epoll_ctl bad op: EINVAL", syscall(SYS_epoll_ctl, ep, opaque_int(9), p[0], &e),
               EINVAL);
    expect_eq("SYS_epoll_ctl ADD", syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, p[0], &e), 0);
    expect_err("SYS_epoll_ctl ADD twice: EEXIST",
               syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, p[0], &e), EEXIST);
    put(p[1], 1);

    struct epoll_event ev[4];
    sigset_t mask;
    sigemptyset(&mask);
    struct timespec ts = { 0, 0 };
    long n = syscall(SYS_epoll_pwait, ep, ev, 4, 0, &mask, 8);
    raw_expect1("SYS_epoll_pwait with a mask", n, errno, ev, 0x76, EPOLLIN);
    n = syscall(SYS_epoll_pwait, ep, ev, 4, 0, NULL, 0);
    raw_expect1("SYS_epoll_pwait without a mask ignores its size", n, errno, ev, 0x76, EPOLLIN);
    expect_err("SYS_epoll_pwait mask size 16: EINVAL", syscall(SYS_epoll_pwait, ep, ev, 4, 0, &mask,
                                                               opaque_int(16)),
               EINVAL);
    expect_err("SYS_epoll_pwait mask size 0: EINVAL",
               syscall(SYS_epoll_pwait, ep, ev, 4, 0, &mask, opaque_int(0)), EINVAL);
    expect_err("SYS_epoll_pwait bad mask size before a bad epfd: EINVAL",
               syscall(SYS_epoll_pwait, opaque_int(-1), ev, 4, 0, &mask, opaque_int(7)), EINVAL);
    expect_err("SYS_epoll_pwait bad mask pointer: EFAULT",
               syscall(SYS_epoll_pwait, ep, ev, 4, 0, opaque_ptr(RAW_BAD), 8), EFAULT);
    expect_err("SYS_epoll_pwait maxevents 0: EINVAL",
               syscall(SYS_epoll_pwait, ep, ev, opaque_int(0), 0, NULL, 8), EINVAL);

    n = syscall(SYS_epoll_pwait2, ep, ev, 4, &ts, &mask, 8);
    raw_expect1("SYS_epoll_pwait2 with a zero timeout", n, errno, ev, 0x76, EPOLLIN);
    n = syscall(SYS_epoll_pwait2, ep, ev, 4, NULL, NULL, 0);
    raw_expect1("SYS_epoll_pwait2 without a timeout (ready)", n, errno, ev, 0x76, EPOLLIN);
    expect_err("SYS_epoll_pwait2 mask size 4: EINVAL",
               syscall(SYS_epoll_pwait2, ep, ev, 4, &ts, &mask, opaque_int(4)), EINVAL);
    expect_err("SYS_epoll_pwait2 bad timeout before a bad mask size: EFAULT",
               syscall(SYS_epoll_pwait2, ep, ev, 4, opaque_ptr(RAW_BAD), &mask, opaque_int(4)),
               EFAULT);
    struct timespec bad_ns = { 0, 1000000000L };
    expect_err("SYS_epoll_pwait2 tv_nsec 1e9: EINVAL",
               syscall(SYS_epoll_pwait2, ep, ev, 4, &bad_ns, NULL, 8), EINVAL);
    expect_err("SYS_epoll_pwait2 bad events buffer: EFAULT",
               syscall(SYS_epoll_pwait2, ep, opaque_ptr(RAW_BAD), 4, &ts, NULL, 8), EFAULT);
    expect_err("SYS_epoll_pwait2 on a pipe: EINVAL",
               syscall(SYS_epoll_pwait2, p[0], ev, 4, &ts, NULL, 8), EINVAL);
    expect_err("SYS_epoll_wait of a bad fd: EBADF", syscall(SYS_epoll_wait, opaque_int(-1), ev, 4, 0),
               EBADF);

    drain(p[0]);
    struct timespec tenms = { 0, 10 * 1000000L };
    long long t0 = now_ms();
    n = syscall(SYS_epoll_pwait2, ep, ev, 4, &tenms, NULL, 8);
    long long dt = now_ms() - t0;
    check(n == 0 && dt >= 9, "SYS_epoll_pwait2 10 ms on nothing times out", "n=%ld", n);
    (void)dt;

    expect_eq("SYS_epoll_ctl MOD", syscall(SYS_epoll_ctl, ep, EPOLL_CTL_MOD, p[0],
                                           &(struct epoll_event){ EPOLLIN | EPOLLONESHOT,
                                                                  { .u64 = 0x77 } }),
              0);
    put(p[1], 1);
    n = syscall(SYS_epoll_pwait2, ep, ev, 4, &ts, NULL, 8);
    raw_expect1("SYS_epoll_pwait2 after MOD ONESHOT", n, errno, ev, 0x77, EPOLLIN);
    expect_eq("the ONESHOT item is disarmed", syscall(SYS_epoll_pwait2, ep, ev, 4, &ts, NULL, 8), 0);
    expect_eq("SYS_epoll_ctl DEL", syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, p[0], NULL), 0);
    expect_err("SYS_epoll_ctl DEL twice: ENOENT",
               syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, p[0], NULL), ENOENT);
    close_pair(p);
    xclose(ep);
}

static void g_rawcall(void)
{
    rawcall_create_close_dup();
    rawcall_pipe2_eventfd_socketpair();
    rawcall_epoll();
}
