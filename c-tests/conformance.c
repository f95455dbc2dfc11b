/*
 * conformance.c - kernel-exact epoll conformance suite for uepoll.
 *
 * The same binary is run on plain kernel epoll and under the uepoll preload
 * library; both runs must print identical output.  Every expectation below was
 * checked against the kernel, so a difference means uepoll diverges.
 *
 * Usage: conformance [group-substring]
 * Output: one "ok"/"not ok" line per check, then "N passed, M failed".
 *
 * Rules this file keeps so that results are deterministic on a loaded box:
 *  - "must not be reported" checks use timeout 0 after the causing syscall has
 *    returned (epoll readiness is synchronous for pipes, sockets, eventfds);
 *  - "must be reported" checks use a generous timeout and never measure time,
 *    except the coarse timeout checks in group "timeout";
 *  - every fd a group opens is closed before the group returns.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <spawn.h>
#include <sys/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/aio_abi.h>
#include <sys/epoll.h>
#include <setjmp.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "epoll-bits.h"

/* ------------------------------------------------------------------ */
/* Reporting                                                           */
/* ------------------------------------------------------------------ */

static int g_num, g_pass, g_fail;
static const char *g_group = "";

/* Long enough that a loaded 2-core machine always delivers in time. */
#define LONG_MS 3000
#define MAXEV 64

static const char *errname(int e)
{
    if (e == 0)
        return "no-error";
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

__attribute__((format(printf, 3, 4)))
static int check(int ok, const char *desc, const char *fmt, ...)
{
    g_num++;
    if (ok) {
        g_pass++;
        printf("ok %d %s: %s\n", g_num, g_group, desc);
        return 1;
    }
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    g_fail++;
    printf("not ok %d %s: %s (%s)\n", g_num, g_group, desc, detail);
    return 0;
}

/* errno is read first thing: the call under test is an argument, so nothing
 * can run between it and us. */
static int expect_err(const char *desc, long ret, int want)
{
    int e = errno;
    return check(ret == -1 && e == want, desc, "got %ld/%s, expected -1/%s",
                 ret, ret == -1 ? errname(e) : "success", errname(want));
}

static int expect_ok(const char *desc, long ret)
{
    int e = errno;
    return check(ret >= 0, desc, "got -1/%s, expected success", errname(e));
}

static int expect_eq(const char *desc, long long got, long long want)
{
    return check(got == want, desc, "got %lld, expected %lld", got, want);
}

/* Human-readable result of a wait, for failure details. */
static const char *fmt_wait(int n, int err, const struct epoll_event *ev,
                            char *buf, size_t len)
{
    if (n < 0) {
        snprintf(buf, len, "-1/%s", errname(err));
        return buf;
    }
    size_t off = snprintf(buf, len, "n=%d", n);
    for (int i = 0; i < n && i < 8 && off < len; i++) {
        char b[128];
        off += snprintf(buf + off, len - off, " [%s data=0x%llx]",
                        bits(ev[i].events, b, sizeof b),
                        (unsigned long long)ev[i].data.u64);
    }
    return buf;
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static void xclose(int fd)
{
    if (fd >= 0)
        close(fd);
}

static void close_pair(int p[2])
{
    xclose(p[0]);
    xclose(p[1]);
    p[0] = p[1] = -1;
}

static int ctl(int epfd, int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

static int add(int epfd, int fd, uint32_t events, uint64_t data)
{
    return ctl(epfd, EPOLL_CTL_ADD, fd, events, data);
}

static int mkpipe(int p[2])
{
    /* Non-blocking so that draining never hangs. */
    if (pipe2(p, O_NONBLOCK) != 0) {
        perror("pipe2");
        exit(2);
    }
    return 0;
}

/* Values the compiler cannot see through, so that deliberately bad
 * arguments do not trip glibc's access attributes at compile time. */
static int opaque_int(int v)
{
    volatile int x = v;
    return x;
}

static struct epoll_event *opaque_null(void)
{
    struct epoll_event *volatile p = NULL;
    return p;
}

/* Put fd's file on descriptor number num and drop fd, so that a test
 * controls which number a file lands on. */
static int move_fd(int fd, int num)
{
    if (fd != num) {
        if (dup2(fd, num) != num) {
            perror("dup2");
            exit(2);
        }
        close(fd);
    }
    return num;
}

static int mkepoll(void)
{
    int fd = epoll_create1(0);
    if (fd < 0) {
        perror("epoll_create1");
        exit(2);
    }
    return fd;
}

static void put(int fd, size_t len)
{
    char buf[256];
    memset(buf, 'x', sizeof buf);
    if (len > sizeof buf)
        len = sizeof buf;
    if (write(fd, buf, len) != (ssize_t)len) {
        perror("write");
        exit(2);
    }
}

static ssize_t drain(int fd)
{
    char buf[4096];
    ssize_t total = 0, r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        total += r;
    return total;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait and demand exactly one event with these bits and data. */
static int expect_wait1(const char *desc, int epfd, int timeout,
                        uint64_t data, uint32_t events)
{
    struct epoll_event ev[MAXEV];
    memset(ev, 0, sizeof ev);
    int n = epoll_wait(epfd, ev, MAXEV, timeout);
    int e = errno;
    char got[512], want[128];
    return check(n == 1 && ev[0].data.u64 == data && ev[0].events == events,
                 desc, "got %s, expected n=1 [%s data=0x%llx]",
                 fmt_wait(n, e, ev, got, sizeof got),
                 bits(events, want, sizeof want), (unsigned long long)data);
}

/* Non-blocking wait that must find nothing. */
static int expect_wait0(const char *desc, int epfd)
{
    struct epoll_event ev[MAXEV];
    int n = epoll_wait(epfd, ev, MAXEV, 0);
    int e = errno;
    char got[512];
    return check(n == 0, desc, "got %s, expected n=0",
                 fmt_wait(n, e, ev, got, sizeof got));
}

/* Index of the event carrying data, or -1. */
static int find_data(const struct epoll_event *ev, int n, uint64_t data)
{
    for (int i = 0; i < n; i++)
        if (ev[i].data.u64 == data)
            return i;
    return -1;
}

/* A thread that sleeps, then writes one byte (or an eventfd increment). */
struct delayed {
    int fd;
    int delay_ms;
    int eventfd;
    pthread_t tid;
};

static void *delayed_writer(void *arg)
{
    struct delayed *d = arg;
    sleep_ms(d->delay_ms);
    if (d->eventfd) {
        uint64_t one = 1;
        if (write(d->fd, &one, sizeof one) != sizeof one)
            perror("eventfd write");
    } else {
        put(d->fd, 1);
    }
    return NULL;
}

static void start_delayed(struct delayed *d, int fd, int ms)
{
    d->fd = fd;
    d->delay_ms = ms;
    d->eventfd = 0;
    if (pthread_create(&d->tid, NULL, delayed_writer, d) != 0) {
        perror("pthread_create");
        exit(2);
    }
}

static volatile sig_atomic_t g_sigcount;

static void on_signal(int sig)
{
    (void)sig;
    g_sigcount++;
}

/* ------------------------------------------------------------------ */
/* 1. create                                                           */
/* ------------------------------------------------------------------ */

static void g_create(void)
{
    int fd;

    fd = epoll_create(0);
    expect_err("epoll_create(0) fails with EINVAL", fd, EINVAL);
    xclose(fd);
    fd = epoll_create(-1);
    expect_err("epoll_create(-1) fails with EINVAL", fd, EINVAL);
    xclose(fd);

    int a = epoll_create(1);
    expect_ok("epoll_create(1) succeeds", a);
    int b = epoll_create1(0);
    expect_ok("epoll_create1(0) succeeds", b);
    int fl = b >= 0 ? fcntl(b, F_GETFD) : -1;
    check(fl >= 0 && !(fl & FD_CLOEXEC), "epoll_create1(0) leaves FD_CLOEXEC clear",
          "F_GETFD=%d", fl);

    int c = epoll_create1(EPOLL_CLOEXEC);
    fl = c >= 0 ? fcntl(c, F_GETFD) : -1;
    check(c >= 0 && fl >= 0 && (fl & FD_CLOEXEC),
          "epoll_create1(EPOLL_CLOEXEC) sets FD_CLOEXEC", "fd=%d F_GETFD=%d", c, fl);

    fd = epoll_create1(1);
    expect_err("epoll_create1(1) fails with EINVAL", fd, EINVAL);
    xclose(fd);
    fd = epoll_create1(EPOLL_CLOEXEC | O_NONBLOCK);
    expect_err("epoll_create1(EPOLL_CLOEXEC|O_NONBLOCK) fails with EINVAL", fd, EINVAL);
    xclose(fd);

    /* A fresh instance is a usable epoll fd: waiting on it finds nothing. */
    struct epoll_event ev;
    expect_eq("fresh instance reports nothing", a >= 0 ? epoll_wait(a, &ev, 1, 0) : -2, 0);

    expect_eq("close(epoll_create(1)) succeeds", a >= 0 ? close(a) : -2, 0);
    expect_eq("close(epoll_create1(0)) succeeds", b >= 0 ? close(b) : -2, 0);
    xclose(c);
}

/* ------------------------------------------------------------------ */
/* 2. ctl errors, in kernel order                                      */
/* ------------------------------------------------------------------ */

static void g_ctl(void)
{
    int ep = mkepoll(), ep2 = mkepoll();
    int p[2];
    mkpipe(p);

    char path[] = "/tmp/conformance.XXXXXX";
    int reg = mkstemp(path);
    if (reg < 0) {
        perror("mkstemp");
        exit(2);
    }
    unlink(path);
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    if (dir < 0) {
        perror("open /");
        exit(2);
    }
    /* A number far above anything in use, so nobody re-opens it. */
    int closed = fcntl(p[0], F_DUPFD, 900);
    close(closed);

    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 };

    /* The event is copied from user memory before any fd is looked at. */
    expect_err("ADD with NULL event and bad epfd gives EFAULT first",
               epoll_ctl(-1, EPOLL_CTL_ADD, -1, NULL), EFAULT);
    expect_err("MOD with NULL event gives EFAULT",
               epoll_ctl(ep, EPOLL_CTL_MOD, p[0], NULL), EFAULT);
    expect_err("ADD with NULL event on valid fds gives EFAULT",
               epoll_ctl(ep, EPOLL_CTL_ADD, p[0], NULL), EFAULT);

    expect_err("epfd -1 gives EBADF", epoll_ctl(-1, EPOLL_CTL_ADD, p[0], &ev), EBADF);
    expect_err("closed epfd gives EBADF",
               epoll_ctl(closed, EPOLL_CTL_ADD, p[0], &ev), EBADF);
    expect_err("fd -1 gives EBADF", epoll_ctl(ep, EPOLL_CTL_ADD, -1, &ev), EBADF);
    expect_err("closed fd gives EBADF",
               epoll_ctl(ep, EPOLL_CTL_ADD, closed, &ev), EBADF);
    expect_err("DEL of closed fd gives EBADF",
               epoll_ctl(ep, EPOLL_CTL_DEL, closed, NULL), EBADF);

    expect_err("regular file gives EPERM", epoll_ctl(ep, EPOLL_CTL_ADD, reg, &ev), EPERM);
    expect_err("directory gives EPERM", epoll_ctl(ep, EPOLL_CTL_ADD, dir, &ev), EPERM);
    expect_err("fd == epfd gives EINVAL", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), EINVAL);
    expect_err("epfd that is a pipe gives EINVAL",
               epoll_ctl(p[0], EPOLL_CTL_ADD, p[1], &ev), EINVAL);
    expect_err("unknown op 99 gives EINVAL", epoll_ctl(ep, 99, p[0], &ev), EINVAL);
    /* Every op but DEL copies the event first, even an unknown one. */
    expect_err("unknown op 99 with NULL event gives EFAULT",
               epoll_ctl(ep, 99, p[0], NULL), EFAULT);

    expect_eq("ADD of pipe read end succeeds", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), 0);
    expect_err("second ADD gives EEXIST", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), EEXIST);
    expect_err("unknown op on a present item gives EINVAL",
               epoll_ctl(ep, 99, p[0], &ev), EINVAL);
    expect_err("MOD of missing item gives ENOENT",
               epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev), ENOENT);
    expect_err("DEL of missing item gives ENOENT",
               epoll_ctl(ep, EPOLL_CTL_DEL, p[1], &ev), ENOENT);

    /* EPOLLEXCLUSIVE rules are checked before the item lookup. */
    expect_err("MOD with EPOLLEXCLUSIVE of present item gives EINVAL",
               ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLEXCLUSIVE, 1), EINVAL);
    expect_err("MOD with EPOLLEXCLUSIVE of missing item gives EINVAL, not ENOENT",
               ctl(ep, EPOLL_CTL_MOD, p[1], EPOLLOUT | EPOLLEXCLUSIVE, 1), EINVAL);
    expect_err("ADD EXCLUSIVE with an epoll fd as target gives EINVAL",
               ctl(ep, EPOLL_CTL_ADD, ep2, EPOLLIN | EPOLLEXCLUSIVE, 1), EINVAL);
    expect_err("ADD EXCLUSIVE|RDHUP gives EINVAL",
               ctl(ep, EPOLL_CTL_ADD, p[1], EPOLLOUT | EPOLLRDHUP | EPOLLEXCLUSIVE, 1), EINVAL);
    expect_err("ADD EXCLUSIVE|ONESHOT gives EINVAL",
               ctl(ep, EPOLL_CTL_ADD, p[1], EPOLLOUT | EPOLLONESHOT | EPOLLEXCLUSIVE, 1), EINVAL);
    expect_err("ADD EXCLUSIVE|RDHUP of present item gives EINVAL, not EEXIST",
               ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLRDHUP | EPOLLEXCLUSIVE, 1), EINVAL);
    expect_eq("ADD EXCLUSIVE|IN|OUT|ET succeeds",
              ctl(ep, EPOLL_CTL_ADD, p[1], EPOLLIN | EPOLLOUT | EPOLLET | EPOLLEXCLUSIVE, 2), 0);
    expect_err("MOD (no EXCLUSIVE) of an exclusive item gives EINVAL",
               ctl(ep, EPOLL_CTL_MOD, p[1], EPOLLOUT, 2), EINVAL);
    expect_eq("DEL of an exclusive item succeeds",
              epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL), 0);
    expect_eq("ADD EXCLUSIVE|WAKEUP|OUT succeeds (WAKEUP is an allowed bit)",
              ctl(ep, EPOLL_CTL_ADD, p[1], EPOLLOUT | EPOLLWAKEUP | EPOLLEXCLUSIVE, 2), 0);
    epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL);
    expect_eq("unknown event bits are not validated",
              ctl(ep, EPOLL_CTL_ADD, p[1], EPOLLOUT | (1u << 20), 2), 0);
    epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL);
    expect_eq("DEL with NULL event succeeds", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL), 0);
    expect_err("DEL again gives ENOENT", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL), ENOENT);

    /* Error order: EBADF < EPERM < EINVAL < EEXIST/ENOENT. */
    expect_err("order: bad fd and unknown op gives EBADF",
               epoll_ctl(ep, 99, closed, &ev), EBADF);
    expect_err("order: bad epfd and regular file gives EBADF",
               epoll_ctl(closed, EPOLL_CTL_ADD, reg, &ev), EBADF);
    expect_err("order: regular file and unknown op gives EPERM",
               epoll_ctl(ep, 99, reg, &ev), EPERM);
    expect_err("order: non-epoll epfd and regular file gives EPERM",
               epoll_ctl(p[0], EPOLL_CTL_ADD, reg, &ev), EPERM);
    expect_err("order: DEL of fd == epfd gives EINVAL, not ENOENT",
               epoll_ctl(ep, EPOLL_CTL_DEL, ep, NULL), EINVAL);
    expect_err("order: MOD with non-epoll epfd gives EINVAL, not ENOENT",
               epoll_ctl(p[1], EPOLL_CTL_MOD, p[0], &ev), EINVAL);

    xclose(reg);
    xclose(dir);
    close_pair(p);
    xclose(ep);
    xclose(ep2);
}

/* ------------------------------------------------------------------ */
/* 3. wait errors                                                      */
/* ------------------------------------------------------------------ */

static void g_wait(void)
{
    int ep = mkepoll();
    int p[2];
    mkpipe(p);
    int closed = fcntl(p[0], F_DUPFD, 900);
    close(closed);
    struct epoll_event ev[4];

    expect_err("epfd -1 gives EBADF", epoll_wait(-1, ev, 4, 0), EBADF);
    expect_err("closed epfd gives EBADF", epoll_wait(closed, ev, 4, 0), EBADF);
    expect_err("maxevents 0 gives EINVAL", epoll_wait(ep, ev, opaque_int(0), 0), EINVAL);
    expect_err("maxevents -1 gives EINVAL", epoll_wait(ep, ev, opaque_int(-1), 0), EINVAL);
    expect_err("maxevents INT_MAX/12+1 gives EINVAL",
               epoll_wait(ep, ev, opaque_int(INT_MAX / 12 + 1), 0), EINVAL);
    /* This kernel looks the epfd up before it validates maxevents. */
    expect_err("order: bad epfd with maxevents 0 gives EBADF",
               epoll_wait(closed, ev, opaque_int(0), 0), EBADF);
    expect_err("order: non-epoll epfd with maxevents 0 gives EINVAL",
               epoll_wait(p[0], ev, opaque_int(0), 0), EINVAL);
    expect_err("epfd that is a pipe gives EINVAL", epoll_wait(p[0], ev, 4, 0), EINVAL);
    expect_eq("timeout 0 on empty set returns 0", epoll_wait(ep, ev, 4, 0), 0);
    expect_err("epoll_pwait maxevents 0 gives EINVAL",
               epoll_pwait(ep, ev, 0, 0, NULL), EINVAL);
    struct timespec zero = { 0, 0 };
    expect_err("epoll_pwait2 maxevents 0 gives EINVAL",
               epoll_pwait2(ep, ev, 0, &zero, NULL), EINVAL);

    expect_eq("NULL buffer with nothing ready returns 0 (nothing to copy)",
               epoll_wait(ep, opaque_null(), 4, 0), 0);

    /* An unwritable buffer is only noticed when an event is copied; the
     * event must not be lost, even edge-triggered. */
    add(ep, p[0], EPOLLIN | EPOLLET, 0x77);
    put(p[1], 1);
    expect_err("NULL buffer with a ready event gives EFAULT",
               epoll_wait(ep, opaque_null(), 4, 0), EFAULT);
    expect_wait1("event survives the EFAULT and is delivered next", ep, 0, 0x77, EPOLLIN);

    close_pair(p);
    xclose(ep);
}

/* ------------------------------------------------------------------ */
/* 4. reported bits per kind of file                                   */
/* ------------------------------------------------------------------ */

/* A new non-blocking eventfd at 0, registered in `ep`. */
static int efd_watched(int ep, uint32_t events, uint64_t data)
{
    int efd = eventfd(0, EFD_NONBLOCK);
    add(ep, efd, events, data);
    return efd;
}

/* Post `value` to an eventfd (8 bytes), reporting a failed write. */
static void efd_post(int efd, uint64_t value)
{
    if (write(efd, &value, sizeof value) != sizeof value)
        perror("write eventfd");
}

static void g_bits(void)
{
    int ep, ep2, p[2], s[2];
    const uint64_t D = 0xdeadbeefcafef00dULL;

    /* Pipe read end. */
    ep = mkepoll();
    ep2 = mkepoll();
    mkpipe(p);
    add(ep, p[0], EPOLLIN | EPOLLRDNORM, D);
    add(ep2, p[0], EPOLLIN, 2);
    expect_wait0("empty pipe read end reports nothing", ep);
    put(p[1], 3);
    expect_wait1("pipe with data: IN|RDNORM when both asked, data untouched",
                 ep, LONG_MS, D, EPOLLIN | EPOLLRDNORM);
    expect_wait1("pipe with data: IN only when only IN asked", ep2, LONG_MS, 2, EPOLLIN);
    close(p[1]);
    p[1] = -1;
    expect_wait1("writer closed with data left: IN|HUP", ep2, LONG_MS, 2, EPOLLIN | EPOLLHUP);
    drain(p[0]);
    expect_wait1("writer closed and empty: HUP without IN", ep2, LONG_MS, 2, EPOLLHUP);
    close_pair(p);
    xclose(ep);
    xclose(ep2);

    /* Pipe write end. */
    ep = mkepoll();
    ep2 = mkepoll();
    mkpipe(p);
    add(ep, p[1], EPOLLOUT, 3);
    add(ep2, p[1], EPOLLOUT | EPOLLWRNORM, 4);
    expect_wait1("pipe write end: OUT", ep, LONG_MS, 3, EPOLLOUT);
    expect_wait1("pipe write end: OUT|WRNORM when both asked", ep2, LONG_MS, 4,
                 EPOLLOUT | EPOLLWRNORM);
    close(p[0]);
    p[0] = -1;
    /* The kernel keeps reporting room (OUT) and adds ERR. */
    expect_wait1("reader closed: writer gets OUT|ERR", ep, LONG_MS, 3, EPOLLOUT | EPOLLERR);
    close_pair(p);
    xclose(ep);
    xclose(ep2);

    /* Pipe read end with an empty interest mask: ERR|HUP still reported. */
    ep = mkepoll();
    mkpipe(p);
    add(ep, p[0], 0, 5);
    put(p[1], 1);
    expect_wait0("events=0: data alone reports nothing", ep);
    close(p[1]);
    p[1] = -1;
    expect_wait1("events=0: HUP is reported anyway", ep, LONG_MS, 5, EPOLLHUP);
    close_pair(p);
    xclose(ep);

    /* Private bits never come back. */
    ep = mkepoll();
    mkpipe(p);
    put(p[1], 1);
    add(ep, p[0], EPOLLIN | EPOLLET | EPOLLONESHOT, D);
    expect_wait1("ET|ONESHOT are not returned, only IN", ep, LONG_MS, D, EPOLLIN);
    xclose(ep);
    ep = mkepoll();
    add(ep, p[0], EPOLLIN | EPOLLWAKEUP, 1);
    expect_wait1("WAKEUP is accepted and not returned", ep, LONG_MS, 1, EPOLLIN);
    xclose(ep);
    ep = mkepoll();
    add(ep, p[0], ~(uint32_t)EPOLLEXCLUSIVE, 1);
    expect_wait1("every bit but EXCLUSIVE asked: only IN|RDNORM returned", ep, LONG_MS, 1,
                 EPOLLIN | EPOLLRDNORM);
    close_pair(p);
    xclose(ep);

    /* socketpair (AF_UNIX stream). */
    ep = mkepoll();
    ep2 = mkepoll();
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s);
    add(ep, s[0], EPOLLIN | EPOLLOUT | EPOLLRDHUP, 6);
    add(ep2, s[0], EPOLLIN | EPOLLOUT, 7);
    expect_wait1("socketpair: OUT initially", ep, LONG_MS, 6, EPOLLOUT);
    put(s[1], 4);
    expect_wait1("socketpair: IN|OUT after peer writes", ep, LONG_MS, 6, EPOLLIN | EPOLLOUT);
    shutdown(s[1], SHUT_WR);
    expect_wait1("peer SHUT_WR: IN|OUT|RDHUP when RDHUP asked", ep, LONG_MS, 6,
                 EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    expect_wait1("peer SHUT_WR: no RDHUP when not asked", ep2, LONG_MS, 7, EPOLLIN | EPOLLOUT);
    drain(s[0]);
    close(s[1]);
    s[1] = -1;
    /* AF_UNIX keeps reporting OUT after the peer is gone. */
    expect_wait1("peer closed: IN|OUT|RDHUP|HUP", ep, LONG_MS, 6,
                 EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLHUP);
    close_pair(s);
    xclose(ep);
    xclose(ep2);

    /* Both directions shut while the peer is still open. */
    ep = mkepoll();
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s);
    add(ep, s[0], EPOLLIN | EPOLLOUT | EPOLLRDHUP, 8);
    shutdown(s[0], SHUT_WR);
    shutdown(s[1], SHUT_WR);
    expect_wait1("both directions shut: IN|OUT|RDHUP|HUP", ep, LONG_MS, 8,
                 EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLHUP);
    close_pair(s);
    xclose(ep);

    /* eventfd. */
    ep = mkepoll();
    int efd = efd_watched(ep, EPOLLIN | EPOLLOUT, 9);
    expect_wait1("eventfd: OUT initially", ep, LONG_MS, 9, EPOLLOUT);
    efd_post(efd, 1);
    expect_wait1("eventfd: IN|OUT after write", ep, LONG_MS, 9, EPOLLIN | EPOLLOUT);
    xclose(efd);
    xclose(ep);

    ep = mkepoll();
    efd = efd_watched(ep, EPOLLIN | EPOLLOUT, 10);
    efd_post(efd, 0xfffffffffffffffeULL);
    expect_wait1("eventfd at 0xfffffffffffffffe: IN only", ep, LONG_MS, 10, EPOLLIN);
    xclose(efd);
    xclose(ep);

    /* Past 2^63 and back: a counter beyond what a signed mirror holds. */
    uint64_t v;
    ssize_t r;
    ep = mkepoll();
    efd = efd_watched(ep, EPOLLIN | EPOLLOUT, 12);
    efd_post(efd, 0x7fffffffffffffffULL);
    efd_post(efd, 6);
    expect_wait1("eventfd at 2^63+5: IN|OUT", ep, LONG_MS, 12, EPOLLIN | EPOLLOUT);
    r = read(efd, &v, sizeof v);
    check(r == 8 && v == 0x8000000000000005ULL, "eventfd read returns 2^63+5",
          "read=%zd value=%llu", r, (unsigned long long)v);
    expect_wait1("eventfd read from 2^63+5 to 0: OUT only", ep, LONG_MS, 12, EPOLLOUT);
    efd_post(efd, 2);
    expect_wait1("eventfd at 2 after 2^63: IN|OUT", ep, LONG_MS, 12, EPOLLIN | EPOLLOUT);
    xclose(efd);
    xclose(ep);

    /* A read given more than 8 bytes takes the counter and returns 8; a write of
     * any other count than 8 is refused. */
    ep = mkepoll();
    efd = efd_watched(ep, EPOLLIN, 13);
    uint64_t wide[2] = { 4, 0 };
    errno = 0;
    check(write(efd, wide, sizeof wide) == -1 && errno == EINVAL, "eventfd write of 16 bytes: EINVAL",
          "errno %d", errno);
    expect_wait0("eventfd after a refused write: no IN", ep);
    efd_post(efd, 4);
    wide[0] = wide[1] = 0xAA;
    r = read(efd, wide, sizeof wide);
    check(r == 8 && wide[0] == 4 && wide[1] == 0xAA, "eventfd read of 16 bytes: 8, the counter",
          "read=%zd value=%llu next=%llu", r, (unsigned long long)wide[0],
          (unsigned long long)wide[1]);
    expect_wait0("eventfd read of 16 bytes took it: no IN", ep);
    xclose(efd);
    xclose(ep);

    ep = mkepoll();
    efd = eventfd(2, EFD_NONBLOCK | EFD_SEMAPHORE);
    add(ep, efd, EPOLLIN, 11);
    v = 0;
    r = read(efd, &v, sizeof v);
    check(r == 8 && v == 1, "EFD_SEMAPHORE read returns 1", "read=%zd value=%llu", r,
          (unsigned long long)v);
    expect_wait1("EFD_SEMAPHORE counter 1 left: still IN", ep, LONG_MS, 11, EPOLLIN);
    r = read(efd, &v, sizeof v);
    expect_wait0("EFD_SEMAPHORE counter 0: no IN", ep);
    xclose(efd);
    xclose(ep);
}

/* ------------------------------------------------------------------ */
/* 5. level-triggered                                                  */
/* ------------------------------------------------------------------ */

static void g_lt(void)
{
    int ep = mkepoll(), p[2];
    mkpipe(p);
    add(ep, p[0], EPOLLIN, 1);
    put(p[1], 10);
    expect_wait1("ready item reported", ep, LONG_MS, 1, EPOLLIN);
    expect_wait1("still reported on the next wait", ep, 0, 1, EPOLLIN);
    char buf[4];
    if (read(p[0], buf, 4) != 4)
        perror("read");
    expect_wait1("partial read keeps it reported", ep, 0, 1, EPOLLIN);
    drain(p[0]);
    expect_wait0("full read clears it", ep);
    close_pair(p);
    xclose(ep);

    /* Round robin: delivered LT items go back to the tail. */
    enum { N = 20, B = 5 };
    int pp[N][2];
    ep = mkepoll();
    for (int i = 0; i < N; i++) {
        mkpipe(pp[i]);
        add(ep, pp[i][0], EPOLLIN, (uint64_t)i);
    }
    for (int i = 0; i < N; i++)
        put(pp[i][1], 1);
    int seen[N] = { 0 };
    int first[B], bad = 0, distinct = 0;
    struct epoll_event ev[B];
    for (int w = 0; w < N / B; w++) {
        int n = epoll_wait(ep, ev, B, 0);
        if (n != B) {
            bad = 1;
            break;
        }
        for (int j = 0; j < n; j++) {
            uint64_t d = ev[j].data.u64;
            if (d >= N || seen[d]++)
                bad = 1;
            else
                distinct++;
            if (w == 0)
                first[j] = (int)d;
        }
    }
    check(!bad && distinct == N, "20 ready LT pipes, maxevents 5: 4 waits give 20 distinct",
          "distinct=%d bad=%d", distinct, bad);
    int n = epoll_wait(ep, ev, B, 0);
    int same = n == B;
    for (int j = 0; same && j < B; j++)
        same = ev[j].data.u64 == (uint64_t)first[j];
    check(same, "fifth wait starts again with the first batch, same order",
          "n=%d first data=%llu", n, n > 0 ? (unsigned long long)ev[0].data.u64 : 0ULL);
    for (int i = 0; i < N; i++)
        close_pair(pp[i]);
    xclose(ep);
}

/* ------------------------------------------------------------------ */
/* 6. edge-triggered                                                   */
/* ------------------------------------------------------------------ */

static void g_et(void)
{
    int ep = mkepoll(), p[2];
    mkpipe(p);
    add(ep, p[0], EPOLLIN | EPOLLET, 1);
    put(p[1], 1);
    expect_wait1("pipe write reported once", ep, LONG_MS, 1, EPOLLIN);
    expect_wait0("not again without new activity", ep);
    put(p[1], 1);
    expect_wait1("second write with unread data re-reports", ep, LONG_MS, 1, EPOLLIN);
    expect_wait0("and only once", ep);
    expect_eq("MOD of a ready ET item succeeds", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLET, 2), 0);
    expect_wait1("MOD re-polls and reports the ready item with the new data", ep, LONG_MS, 2,
                 EPOLLIN);
    close_pair(p);
    xclose(ep);

    ep = mkepoll();
    int efd = eventfd(0, EFD_NONBLOCK);
    add(ep, efd, EPOLLIN | EPOLLET, 3);
    uint64_t one = 1;
    if (write(efd, &one, 8) != 8)
        perror("write");
    expect_wait1("eventfd ET: first write reported", ep, LONG_MS, 3, EPOLLIN);
    expect_wait0("eventfd ET: not again", ep);
    if (write(efd, &one, 8) != 8)
        perror("write");
    expect_wait1("eventfd ET: every write re-reports", ep, LONG_MS, 3, EPOLLIN);
    xclose(efd);
    xclose(ep);

    ep = mkepoll();
    int s[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s);
    add(ep, s[0], EPOLLIN | EPOLLET, 4);
    send(s[1], "a", 1, 0);
    expect_wait1("socketpair ET: first send reported", ep, LONG_MS, 4, EPOLLIN);
    expect_wait0("socketpair ET: not again", ep);
    send(s[1], "b", 1, 0);
    expect_wait1("socketpair ET: second send re-reports", ep, LONG_MS, 4, EPOLLIN);
    close_pair(s);
    xclose(ep);

    /* Write end: reading from a pipe that was never full is not an edge. */
    ep = mkepoll();
    mkpipe(p);
    put(p[1], 10);
    add(ep, p[1], EPOLLOUT | EPOLLET, 5);
    expect_wait1("ET write end reported OUT once", ep, LONG_MS, 5, EPOLLOUT);
    drain(p[0]);
    expect_wait0("reading a non-full pipe does not re-report OUT", ep);
    close_pair(p);
    xclose(ep);

    ep = mkepoll();
    mkpipe(p);
    add(ep, p[0], EPOLLIN | EPOLLET | EPOLLONESHOT, 6);
    put(p[1], 1);
    expect_wait1("ET|ONESHOT delivered", ep, LONG_MS, 6, EPOLLIN);
    put(p[1], 1);
    expect_wait0("ET|ONESHOT: a new write does not re-report", ep);
    ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLET | EPOLLONESHOT, 7);
    expect_wait1("ET|ONESHOT: MOD re-arms", ep, LONG_MS, 7, EPOLLIN);
    close_pair(p);
    xclose(ep);
}

/* ------------------------------------------------------------------ */
/* 7. oneshot                                                          */
/* ------------------------------------------------------------------ */

static void g_oneshot(void)
{
    int ep = mkepoll(), p[2];
    mkpipe(p);
    add(ep, p[0], EPOLLIN | EPOLLONESHOT, 1);
    put(p[1], 1);
    expect_wait1("oneshot delivered once", ep, LONG_MS, 1, EPOLLIN);
    expect_wait0("then nothing although data is still there", ep);
    put(p[1], 1);
    expect_wait0("nothing after another write", ep);
    close(p[1]);
    p[1] = -1;
    expect_wait0("nothing (not even HUP) after the writer closes", ep);
    expect_err("ADD again gives EEXIST", add(ep, p[0], EPOLLIN, 2), EEXIST);
    expect_eq("MOD re-arms", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLONESHOT, 3), 0);
    expect_wait1("MOD re-arms and reports IN|HUP", ep, LONG_MS, 3, EPOLLIN | EPOLLHUP);
    expect_wait0("disarmed again after that delivery", ep);
    expect_eq("DEL of a disarmed item succeeds", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL), 0);
    expect_err("and it is gone (MOD gives ENOENT)",
               ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN, 4), ENOENT);
    close_pair(p);
    xclose(ep);
}

/* ------------------------------------------------------------------ */
/* 8. close and dup identity                                           */
/* ------------------------------------------------------------------ */

static void g_identity(void)
{
    struct epoll_event ev[MAXEV];
    char got[512];
    int ep = mkepoll(), p[2];
    mkpipe(p);
    int num = p[0];
    int d = dup(p[0]);
    add(ep, num, EPOLLIN, 0xA);
    close(num);
    put(p[1], 1);
    expect_wait1("closed number with a dup open: event arrives with old data", ep, LONG_MS,
                 0xA, EPOLLIN);
    expect_err("DEL of the closed number gives EBADF",
               epoll_ctl(ep, EPOLL_CTL_DEL, num, NULL), EBADF);

    /* Reuse the number for a different file. */
    int q[2];
    mkpipe(q);
    q[0] = move_fd(q[0], num);
    expect_err("DEL of the number reused by another file gives ENOENT",
               epoll_ctl(ep, EPOLL_CTL_DEL, num, NULL), ENOENT);

    expect_eq("ADD of the dup'd number is a separate item", add(ep, d, EPOLLIN, 0xB), 0);
    int n = epoll_wait(ep, ev, MAXEV, LONG_MS);
    int e = errno;
    check(n == 2 && find_data(ev, n, 0xA) >= 0 && find_data(ev, n, 0xB) >= 0,
          "both items (old number and dup) are reported", "got %s",
          fmt_wait(n, e, ev, got, sizeof got));

    /* Last descriptor gone: both items vanish. */
    close(d);
    expect_wait0("closing every descriptor removes the items", ep);
    xclose(p[1]);
    close_pair(q); /* also closes num */
    int r[2];
    mkpipe(r);
    /* Move the new pipe onto the old dup number: must not be seen as present. */
    r[0] = move_fd(r[0], d);
    expect_eq("ADD of a new file on a released number succeeds (no EEXIST)",
              add(ep, d, EPOLLIN, 0xC), 0);
    put(r[1], 1);
    expect_wait1("and it reports with its own data", ep, LONG_MS, 0xC, EPOLLIN);
    close_pair(r);
    xclose(ep);

    /* dup2 over the last reference releases the old file. */
    ep = mkepoll();
    int a[2], b[2];
    mkpipe(a);
    mkpipe(b);
    add(ep, a[0], EPOLLIN, 0xD);
    if (dup2(b[0], a[0]) != a[0])
        perror("dup2");
    put(b[1], 1);
    expect_wait0("dup2(other, fd) released the old file and its item", ep);
    struct pollfd pf = { .fd = a[1], .events = POLLOUT };
    poll(&pf, 1, 0);
    check(pf.revents & POLLERR, "the old pipe lost its reader (writer sees POLLERR)",
          "revents=0x%x", pf.revents);
    expect_err("DEL of the dup2 target number gives ENOENT",
               epoll_ctl(ep, EPOLL_CTL_DEL, a[0], NULL), ENOENT);
    close_pair(a);
    close_pair(b);
    xclose(ep);

    /* dup3 and F_DUPFD create new numbers for the same file. */
    ep = mkepoll();
    mkpipe(p);
    int hi = fcntl(p[0], F_DUPFD, 700);
    check(hi >= 700, "F_DUPFD returns a number >= the argument", "got %d", hi);
    int tgt = fcntl(p[0], F_DUPFD, 800);
    close(tgt);
    int d3 = dup3(p[0], tgt, O_CLOEXEC);
    int fl = d3 >= 0 ? fcntl(d3, F_GETFD) : -1;
    check(d3 == tgt && fl >= 0 && (fl & FD_CLOEXEC), "dup3 O_CLOEXEC sets FD_CLOEXEC",
          "dup3=%d F_GETFD=%d", d3, fl);
    expect_err("dup3 onto itself gives EINVAL", dup3(p[0], p[0], 0), EINVAL);
    add(ep, hi, EPOLLIN, 0xE);
    add(ep, d3, EPOLLIN, 0xF);
    close(p[0]);
    put(p[1], 1);
    n = epoll_wait(ep, ev, MAXEV, LONG_MS);
    e = errno;
    check(n == 2 && find_data(ev, n, 0xE) >= 0 && find_data(ev, n, 0xF) >= 0,
          "F_DUPFD and dup3 numbers are items of the same file", "got %s",
          fmt_wait(n, e, ev, got, sizeof got));
    xclose(hi);
    xclose(d3);
    xclose(p[1]);
    xclose(ep);
}

/* ------------------------------------------------------------------ */
/* 9. fork: parent and child share the instance                        */
/* ------------------------------------------------------------------ */

static int reap(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A ONESHOT item that fired reports nothing until MOD re-arms it, not even a hang-up,
 * and a fork in between changes nothing. Regression: uepoll hands its registrations to
 * the kernel at fork, and re-added a fired ONESHOT item with EPOLLERR|EPOLLHUP, which
 * then reported the hang-up once more (found by `torture churn`). */
static void fork_keeps_fired_oneshot_disarmed(void)
{
    int ep = mkepoll(), a[2], b[2], c[2];
    mkpipe(a);
    mkpipe(b);
    mkpipe(c);
    add(ep, a[0], EPOLLIN | EPOLLONESHOT, 0xA);
    add(ep, b[0], EPOLLIN | EPOLLONESHOT | EPOLLET, 0xB);
    add(ep, c[0], EPOLLIN | EPOLLONESHOT, 0xC);
    put(a[1], 1);
    expect_wait1("ONESHOT a fires", ep, LONG_MS, 0xA, EPOLLIN);
    put(b[1], 1);
    expect_wait1("ONESHOT|ET b fires", ep, LONG_MS, 0xB, EPOLLIN);
    put(c[1], 1);
    expect_wait1("ONESHOT c fires", ep, LONG_MS, 0xC, EPOLLIN);
    drain(a[0]);
    xclose(a[1]);
    xclose(b[1]);
    xclose(c[1]);
    /* c's item outlives its number: it stays keyed by c[0] while a dup keeps the file. */
    int cdup = dup(c[0]);
    int cnum = c[0];
    xclose(c[0]);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    reap(pid);
    expect_wait0("fired ONESHOT items stay silent across a fork, even after a hang-up", ep);
    expect_err("ADD of a fired ONESHOT item gives EEXIST", add(ep, a[0], EPOLLIN, 0xA2),
               EEXIST);
    expect_err("ADD with EPOLLEXCLUSIVE|EPOLLONESHOT is EINVAL before the lookup",
               add(ep, a[0], EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 0xA3), EINVAL);
    expect_err("MOD with EPOLLEXCLUSIVE of a fired ONESHOT item gives EINVAL",
               ctl(ep, EPOLL_CTL_MOD, a[0], EPOLLIN | EPOLLEXCLUSIVE, 0xA4), EINVAL);
    expect_eq("MOD re-arms the fired ONESHOT item",
              ctl(ep, EPOLL_CTL_MOD, a[0], EPOLLIN | EPOLLONESHOT, 0xA5), 0);
    expect_wait1("the re-armed item reports the hang-up", ep, LONG_MS, 0xA5, EPOLLHUP);
    expect_wait0("and is disarmed again", ep);
    expect_eq("DEL of the re-armed item", ctl(ep, EPOLL_CTL_DEL, a[0], 0, 0), 0);
    expect_err("a second DEL gives ENOENT", ctl(ep, EPOLL_CTL_DEL, a[0], 0, 0), ENOENT);
    expect_eq("DEL of a fired ONESHOT item", ctl(ep, EPOLL_CTL_DEL, b[0], 0, 0), 0);
    expect_err("MOD after that DEL gives ENOENT",
               ctl(ep, EPOLL_CTL_MOD, b[0], EPOLLIN, 0xB2), ENOENT);
    expect_eq("ADD after that DEL succeeds", add(ep, b[0], EPOLLIN, 0xB3), 0);
    expect_wait1("and reports data and hang-up", ep, LONG_MS, 0xB3, EPOLLIN | EPOLLHUP);
    /* Back on its old number, c's file meets its old, fired item again. */
    expect_eq("dup2 puts c's file back on its closed number", dup2(cdup, cnum), cnum);
    expect_err("ADD under the item's own number gives EEXIST", add(ep, cnum, EPOLLIN, 0xC2),
               EEXIST);
    expect_eq("MOD re-arms it", ctl(ep, EPOLL_CTL_MOD, cnum, EPOLLIN, 0xC3), 0);
    expect_eq("DEL b", ctl(ep, EPOLL_CTL_DEL, b[0], 0, 0), 0);
    expect_wait1("the re-armed item reports its data and hang-up", ep, LONG_MS, 0xC3,
                 EPOLLIN | EPOLLHUP);
    /* The last close of a file drops its fired item; the number is then free to use. */
    xclose(cnum);
    xclose(cdup);
    int d[2];
    mkpipe(d);
    if (d[0] != cnum) {
        dup2(d[0], cnum);
        xclose(d[0]);
    }
    expect_eq("ADD on the number of a closed file's fired item succeeds",
              add(ep, cnum, EPOLLIN, 0xD), 0);
    xclose(cnum);
    xclose(d[1]);
    xclose(a[0]);
    xclose(b[0]);
    xclose(ep);
}

/* Two registrations of one file under two closed numbers, both numbers since reused
 * by another file, both survive a fork. Regression: uepoll rebuilds such items at fork
 * through a duplicate of the file standing in for each closed number, and both
 * duplicates landed on one number: the second registration was lost. */
static void fork_keeps_both_orphaned_registrations(void)
{
    int ep = mkepoll(), f[2], g[2];
    mkpipe(f);
    mkpipe(g);
    int a = dup(f[0]), b = dup(f[0]);
    add(ep, a, EPOLLIN, 0x1);
    add(ep, b, EPOLLIN, 0x2);
    /* Both numbers now name g's read end: the items stay keyed by (f's file, a/b). */
    dup2(g[0], a);
    dup2(g[0], b);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    reap(pid);
    put(f[1], 1);
    struct epoll_event ev[MAXEV];
    int n = epoll_wait(ep, ev, MAXEV, LONG_MS);
    int ia = find_data(ev, n, 0x1), ib = find_data(ev, n, 0x2);
    check(n == 2 && ia >= 0 && ib >= 0 && ev[ia].events == EPOLLIN && ev[ib].events == EPOLLIN,
          "both registrations under closed numbers report after a fork", "n=%d", n);
    expect_eq("ADD of g under a succeeds (a different file)", add(ep, a, EPOLLIN, 0x3), 0);
    xclose(a);
    xclose(b);
    close_pair(f);
    close_pair(g);
    xclose(ep);
}

static void g_fork(void)
{
    int ep = mkepoll(), p[2], q[2];
    mkpipe(p);
    mkpipe(q);
    fflush(stdout);

    pid_t pid = fork();
    if (pid == 0) {
        int rc = add(ep, p[0], EPOLLIN, 0xC0FFEE) == 0 ? 0 : 1;
        put(p[1], 1);
        _exit(rc);
    }
    expect_eq("child's ADD succeeds", reap(pid), 0);
    expect_wait1("parent sees the child's ADD with the child's data", ep, LONG_MS, 0xC0FFEE,
                 EPOLLIN);

    pid = fork();
    if (pid == 0)
        _exit(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL) == 0 ? 0 : 1);
    reap(pid);
    expect_err("child's DEL is seen by the parent (MOD gives ENOENT)",
               ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN, 1), ENOENT);

    add(ep, q[0], EPOLLIN, 0xBEEF);
    pid = fork();
    if (pid == 0) {
        sleep_ms(50);
        put(q[1], 1);
        _exit(0);
    }
    expect_wait1("child's write wakes the parent's blocked wait", ep, 10000, 0xBEEF, EPOLLIN);
    reap(pid);
    close_pair(p);
    close_pair(q);
    xclose(ep);
    fork_keeps_fired_oneshot_disarmed();
    fork_keeps_both_orphaned_registrations();
}

/* ------------------------------------------------------------------ */
/* 10. nesting                                                         */
/* ------------------------------------------------------------------ */

static void g_nest(void)
{
    int outer = mkepoll(), inner = mkepoll(), p[2];
    mkpipe(p);
    add(inner, p[0], EPOLLIN, 1);
    expect_eq("ADD of an epoll fd into another succeeds", add(outer, inner, EPOLLIN, 2), 0);
    expect_wait0("outer reports nothing while inner is empty", outer);
    put(p[1], 1);
    struct pollfd pf = { .fd = inner, .events = POLLIN };
    int pr = poll(&pf, 1, LONG_MS);
    check(pr == 1 && pf.revents == POLLIN, "inner epoll fd is readable when its item is ready",
          "poll=%d revents=0x%x", pr, pf.revents);
    expect_wait1("outer reports IN for inner", outer, LONG_MS, 2, EPOLLIN);
    pf.fd = outer;
    pf.revents = 0;
    pr = poll(&pf, 1, LONG_MS);
    check(pr == 1 && pf.revents == POLLIN, "poll() on outer sees nested readiness",
          "poll=%d revents=0x%x", pr, pf.revents);
    drain(p[0]);
    expect_wait0("outer stops reporting once the inner item is drained", outer);
    expect_err("cycle (inner watches outer) gives ELOOP", add(inner, outer, EPOLLIN, 3), ELOOP);
    expect_err("EXCLUSIVE with an epoll target gives EINVAL",
               add(outer, inner, EPOLLIN | EPOLLEXCLUSIVE, 4), EINVAL);

    /* Every wake-up of the inner instance is an edge for an ET outer,
     * whether or not the inner item was already queued. */
    ctl(outer, EPOLL_CTL_MOD, inner, EPOLLIN | EPOLLET, 5);
    put(p[1], 1);
    expect_wait1("ET outer reports the inner once", outer, LONG_MS, 5, EPOLLIN);
    expect_wait0("ET outer: not again without activity", outer);
    put(p[1], 1);
    expect_wait1("ET outer: a write while the inner item is queued re-reports", outer, LONG_MS,
                 5, EPOLLIN);
    drain(p[0]);

    /* A waiter blocked on the outer instance must be woken through the inner. */
    struct delayed d;
    start_delayed(&d, p[1], 50);
    expect_wait1("thread write to the inner pipe wakes a wait blocked on outer", outer, 10000,
                 5, EPOLLIN);
    pthread_join(d.tid, NULL);
    close_pair(p);
    xclose(outer);
    xclose(inner);

    /* A nested instance with an engine-served and a kernel-served fd, both
     * level-triggered and ready: every wait gets as many events as it asks for, up to
     * the two ready. (uepoll's kernel epoll fd then also holds the instance's wake-up
     * eventfd, which must not take one of the slots.) */
    outer = mkepoll();
    inner = mkepoll();
    mkpipe(p);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct itimerspec its = { .it_value = { 0, 1 } };
    timerfd_settime(tfd, 0, &its, NULL);
    add(inner, p[0], EPOLLIN, 1);
    add(inner, tfd, EPOLLIN, 2);
    add(outer, inner, EPOLLIN, 3);
    put(p[1], 1);
    expect_wait1("nested mixed: outer reports the inner", outer, LONG_MS, 3, EPOLLIN);
    int short2 = 0, short1 = 0, seen = 0;
    struct epoll_event ev2[2];
    for (int i = 0; i < 20; i++) {
        int n = epoll_wait(inner, ev2, 2, 0);
        if (n != 2)
            short2++;
        for (int j = 0; j < n && j < 2; j++)
            seen |= 1 << ev2[j].data.u64;
    }
    for (int i = 0; i < 20; i++)
        if (epoll_wait(inner, ev2, 1, 0) != 1)
            short1++;
    check(short2 == 0 && short1 == 0 && seen == 6,
          "nested mixed: 20 timeout-0 waits for 2, then 20 for 1, with both ready: full counts",
          "waits for 2 short %d times, waits for 1 short %d times, seen mask 0x%x", short2,
          short1, seen);
    xclose(tfd);
    close_pair(p);
    xclose(outer);
    xclose(inner);

    /* Chain e[i+1] watches e[i], built from the bottom up. */
    enum { C = 7 };
    int e[C], stop = -1, err = 0;
    for (int i = 0; i < C; i++)
        e[i] = mkepoll();
    for (int i = 0; i + 1 < C; i++) {
        if (add(e[i + 1], e[i], EPOLLIN, (uint64_t)i) != 0) {
            err = errno;
            stop = i;
            break;
        }
    }
    check(stop == 4 && err == ELOOP,
          "bottom-up chain: the 5th link (depth > 4) gives ELOOP",
          "failed at link %d with %s", stop + 1, errname(err));
    for (int i = 0; i < C; i++)
        xclose(e[i]);

    /* Same chain built from the top down: the check must see the whole path. */
    for (int i = 0; i < C; i++)
        e[i] = mkepoll();
    stop = -1;
    err = 0;
    for (int i = C - 2; i >= 0; i--) {
        if (add(e[i + 1], e[i], EPOLLIN, (uint64_t)i) != 0) {
            err = errno;
            stop = C - 2 - i;
            break;
        }
    }
    check(stop == 4 && err == ELOOP,
          "top-down chain: the 5th link (depth > 4) gives ELOOP",
          "failed at link %d with %s", stop + 1, errname(err));
    for (int i = 0; i < C; i++)
        xclose(e[i]);
}

/* ------------------------------------------------------------------ */
/* 11. maxevents and ordering                                          */
/* ------------------------------------------------------------------ */

static void g_order(void)
{
    int ep = mkepoll(), p[3][2];
    struct epoll_event ev[4];
    for (int i = 0; i < 3; i++) {
        mkpipe(p[i]);
        add(ep, p[i][0], EPOLLIN, (uint64_t)i);
        put(p[i][1], 1);
    }
    int seen = 0, ok = 1;
    for (int w = 0; w < 3; w++) {
        int n = epoll_wait(ep, ev, 1, 0);
        if (n != 1 || ev[0].data.u64 > 2 || (seen & (1 << ev[0].data.u64)))
            ok = 0;
        else
            seen |= 1 << ev[0].data.u64;
    }
    check(ok && seen == 7, "maxevents 1 with 3 ready: one each time, all 3 in 3 waits",
          "seen mask=0x%x", seen);

    memset(ev, 0, sizeof ev);
    ev[2].data.u64 = 0x5e5e;
    ev[2].events = 0x1234;
    int n = epoll_wait(ep, ev, 2, 0);
    check(n == 2 && ev[2].data.u64 == 0x5e5e && ev[2].events == 0x1234,
          "maxevents 2 with 3 ready: 2 copied, nothing written past them",
          "n=%d sentinel data=0x%llx", n, (unsigned long long)ev[2].data.u64);
    for (int i = 0; i < 3; i++)
        close_pair(p[i]);
    xclose(ep);

    /* Ready order, not registration order: add c,b,a, write a,b,c. */
    ep = mkepoll();
    for (int i = 0; i < 3; i++)
        mkpipe(p[i]);
    for (int i = 2; i >= 0; i--)
        add(ep, p[i][0], EPOLLIN | EPOLLET, (uint64_t)i);
    for (int i = 0; i < 3; i++)
        put(p[i][1], 1);
    n = epoll_wait(ep, ev, 4, LONG_MS);
    check(n == 3 && ev[0].data.u64 == 0 && ev[1].data.u64 == 1 && ev[2].data.u64 == 2,
          "ET items are returned in the order they became ready",
          "n=%d order=%llu,%llu,%llu", n, (unsigned long long)ev[0].data.u64,
          (unsigned long long)ev[1].data.u64, (unsigned long long)ev[2].data.u64);
    /* A re-triggered item moves to the tail only if it was not queued. */
    put(p[2][1], 1);
    put(p[0][1], 1);
    put(p[2][1], 1);
    n = epoll_wait(ep, ev, 4, LONG_MS);
    check(n == 2 && ev[0].data.u64 == 2 && ev[1].data.u64 == 0,
          "a second edge on a queued item does not move it",
          "n=%d order=%llu,%llu", n, (unsigned long long)ev[0].data.u64,
          (unsigned long long)ev[1].data.u64);
    for (int i = 0; i < 3; i++)
        close_pair(p[i]);
    xclose(ep);
}

/* ------------------------------------------------------------------ */
/* 12. timeouts and signals                                            */
/* ------------------------------------------------------------------ */

struct sigwaiter {
    int ep;
    int timeout;
    int ret, err;
    atomic_int done;
};

static void *sig_wait_thread(void *arg)
{
    struct sigwaiter *w = arg;
    struct epoll_event ev;
    w->ret = epoll_wait(w->ep, &ev, 1, w->timeout);
    w->err = errno;
    atomic_store(&w->done, 1);
    return NULL;
}

/* A stop signal and SIGCONT, with no handler anywhere, end a blocked epoll wait with
 * EINTR: ep_poll returns -EINTR, which the kernel never restarts. A sleep that the
 * kernel restarts (FUTEX_WAIT, poll and nanosleep go through restart_syscall) carries
 * on as if nothing happened, which is why uepoll's waits sleep in the kernel's epoll
 * even when only engine-served fds are registered (docs/benchmarks.md, "Wake-ups: the
 * floor"). The waiter is a child whose own pipe is the only item; the stop and the
 * continue repeat until it returns, so a stop that lands before it blocks cannot hang
 * the case. Its exit code says how the wait ended: 0 EINTR, 1 anything else. */
static void stop_continue_ends_wait(const char *what, int pwait2)
{
    pid_t pid = fork();
    if (pid == 0) {
        int ep = epoll_create1(0), q[2];
        if (ep < 0 || pipe(q) != 0)
            _exit(2);
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &ev) != 0)
            _exit(2);
        struct timespec far = { 60, 0 };
        int r = pwait2 ? epoll_pwait2(ep, &ev, 1, &far, NULL) : epoll_wait(ep, &ev, 1, -1);
        _exit(r == -1 && errno == EINTR ? 0 : 1);
    }
    if (pid < 0) {
        check(0, what, "fork: %s", strerror(errno));
        return;
    }
    int status = 0, ended = 0;
    sleep_ms(30);
    for (int i = 0; i < 100 && !ended; i++) {
        kill(pid, SIGSTOP);
        sleep_ms(10);
        kill(pid, SIGCONT);
        sleep_ms(10);
        ended = waitpid(pid, &status, WNOHANG) == pid;
    }
    if (!ended) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    check(ended && WIFEXITED(status) && WEXITSTATUS(status) == 0, what,
          "%s", !ended                ? "still waiting after 100 stops and continues"
                : !WIFEXITED(status)  ? "the child did not exit"
                : WEXITSTATUS(status) == 1 ? "the wait ended without EINTR"
                                           : "the child could not set up");
}

static void g_timeout(void)
{
    int ep = mkepoll(), p[2];
    mkpipe(p);
    add(ep, p[0], EPOLLIN, 1);
    struct epoll_event ev[4];
    struct delayed d;

    long long t0 = now_ms();
    int n = epoll_wait(ep, ev, 4, 100);
    long long dt = now_ms() - t0;
    check(n == 0 && dt >= 90 && dt < 2000, "timeout 100 ms returns 0 after >= 90 ms",
          "n=%d after %lld ms", n, dt);

    t0 = now_ms();
    start_delayed(&d, p[1], 50);
    n = epoll_wait(ep, ev, 4, -1);
    dt = now_ms() - t0;
    pthread_join(d.tid, NULL);
    check(n == 1 && ev[0].data.u64 == 1 && dt >= 40,
          "timeout -1 blocks until a thread writes", "n=%d after %lld ms", n, dt);
    drain(p[0]);

    struct timespec zero = { 0, 0 };
    t0 = now_ms();
    n = epoll_pwait2(ep, ev, 4, &zero, NULL);
    dt = now_ms() - t0;
    check(n == 0 && dt < 1000, "epoll_pwait2 {0,0} does not block", "n=%d after %lld ms", n, dt);

    struct timespec t100 = { 0, 100000000L };
    t0 = now_ms();
    n = epoll_pwait2(ep, ev, 4, &t100, NULL);
    dt = now_ms() - t0;
    check(n == 0 && dt >= 90 && dt < 2000, "epoll_pwait2 100 ms returns 0 after >= 90 ms",
          "n=%d after %lld ms", n, dt);

    start_delayed(&d, p[1], 50);
    n = epoll_pwait2(ep, ev, 4, NULL, NULL);
    pthread_join(d.tid, NULL);
    check(n == 1 && ev[0].data.u64 == 1, "epoll_pwait2 NULL timeout blocks until woken",
          "n=%d", n);
    drain(p[0]);

    struct timespec badts = { 0, 2000000000L };
    expect_err("epoll_pwait2 with tv_nsec 2e9 gives EINVAL",
               epoll_pwait2(ep, ev, 4, &badts, NULL), EINVAL);
    struct timespec negts = { -1, 0 };
    expect_err("epoll_pwait2 with tv_sec -1 gives EINVAL",
               epoll_pwait2(ep, ev, 4, &negts, NULL), EINVAL);

    /* SA_RESTART does not restart epoll_wait. Keep signalling until the
     * thread returns, so a signal that lands before it blocks cannot hang us. */
    struct sigaction sa, old1, old2;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old1);
    sigaction(SIGUSR2, &sa, &old2);

    struct sigwaiter w = { .ep = ep, .timeout = 10000, .ret = -2, .err = 0 };
    atomic_init(&w.done, 0);
    pthread_t tid;
    pthread_create(&tid, NULL, sig_wait_thread, &w);
    sleep_ms(30);
    for (int i = 0; i < 250 && !atomic_load(&w.done); i++) {
        pthread_kill(tid, SIGUSR1);
        sleep_ms(20);
    }
    pthread_join(tid, NULL);
    errno = w.err;
    expect_err("signal handler with SA_RESTART makes epoll_wait fail with EINTR", w.ret, EINTR);

    /* The same with no timeout. The kernel restarts some sleeps after an SA_RESTART
     * handler that it does not restart with a timeout (a futex wait returns
     * ERESTARTSYS without one, ERESTART_RESTARTBLOCK with one), so an emulation that
     * sleeps on something other than the epoll fd can pass the case above and fail
     * this one. If the signals do not end the wait, a write to the watched pipe
     * does, so a failing run reports instead of hanging. */
    struct sigwaiter wf = { .ep = ep, .timeout = -1, .ret = -2, .err = 0 };
    atomic_init(&wf.done, 0);
    pthread_create(&tid, NULL, sig_wait_thread, &wf);
    sleep_ms(30);
    for (int i = 0; i < 100 && !atomic_load(&wf.done); i++) {
        pthread_kill(tid, SIGUSR1);
        sleep_ms(20);
    }
    if (!atomic_load(&wf.done) && write(p[1], "x", 1) != 1)
        perror("write");
    pthread_join(tid, NULL);
    drain(p[0]);
    errno = wf.err;
    expect_err("SA_RESTART handler ends epoll_wait(-1) with EINTR (no timeout to restart)",
               wf.ret, EINTR);

    /* A blocked pending signal that the pwait mask unblocks: EINTR at once. */
    sigset_t block, old, unblocked;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    pthread_sigmask(SIG_SETMASK, NULL, &unblocked);
    sigdelset(&unblocked, SIGUSR2);
    g_sigcount = 0;
    pthread_kill(pthread_self(), SIGUSR2);
    t0 = now_ms();
    n = epoll_pwait(ep, ev, 4, 5000, &unblocked);
    int e = errno;
    dt = now_ms() - t0;
    check(n == -1 && e == EINTR && dt < 2000 && g_sigcount == 1,
          "epoll_pwait mask unblocking a pending signal: EINTR at once, handler ran",
          "got %d/%s after %lld ms, handler ran %d times", n, n < 0 ? errname(e) : "ok", dt,
          (int)g_sigcount);

    /* Ready events win over a pending signal; the signal stays pending. */
    put(p[1], 1);
    g_sigcount = 0;
    pthread_kill(pthread_self(), SIGUSR2);
    n = epoll_pwait(ep, ev, 4, 5000, &unblocked);
    int ran = g_sigcount;
    check(n == 1 && ev[0].data.u64 == 1 && ran == 0,
          "ready events + unblocked pending signal: events returned, not EINTR",
          "n=%d handler ran %d times", n, ran);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    check(g_sigcount == 1, "the signal stayed pending and runs once unblocked",
          "handler ran %d times", (int)g_sigcount);
    drain(p[0]);

    sigaction(SIGUSR1, &old1, NULL);
    sigaction(SIGUSR2, &old2, NULL);
    close_pair(p);
    xclose(ep);

    stop_continue_ends_wait("SIGSTOP then SIGCONT (no handler) end epoll_wait(-1) with EINTR", 0);
    stop_continue_ends_wait("SIGSTOP then SIGCONT (no handler) end a timed epoll_pwait2 with EINTR",
                            1);
}

/* ------------------------------------------------------------------ */
/* 13. poll/select on the epoll fd                                     */
/* ------------------------------------------------------------------ */

static void g_pollsel(void)
{
    int ep = mkepoll(), p[2];
    mkpipe(p);
    add(ep, p[0], EPOLLIN, 1);

    struct pollfd pf = { .fd = ep, .events = POLLIN };
    int r = poll(&pf, 1, 0);
    check(r == 0 && pf.revents == 0, "poll on idle epoll fd returns 0", "poll=%d revents=0x%x",
          r, pf.revents);
    fd_set rs;
    struct timeval tv = { 0, 0 };
    FD_ZERO(&rs);
    FD_SET(ep, &rs);
    r = select(ep + 1, &rs, NULL, NULL, &tv);
    check(r == 0, "select on idle epoll fd returns 0", "select=%d", r);

    put(p[1], 1);
    pf.revents = 0;
    r = poll(&pf, 1, 0);
    check(r == 1 && pf.revents == POLLIN, "poll reports POLLIN when an item is ready",
          "poll=%d revents=0x%x", r, pf.revents);
    FD_ZERO(&rs);
    FD_SET(ep, &rs);
    tv.tv_sec = 0;
    tv.tv_usec = 0;
    r = select(ep + 1, &rs, NULL, NULL, &tv);
    check(r == 1 && FD_ISSET(ep, &rs), "select reports the epoll fd readable", "select=%d", r);
    /* poll must not consume the event. */
    expect_wait1("the event is still delivered by epoll_wait", ep, 0, 1, EPOLLIN);
    drain(p[0]);

    struct delayed d;
    start_delayed(&d, p[1], 50);
    pf.revents = 0;
    r = poll(&pf, 1, 10000);
    pthread_join(d.tid, NULL);
    check(r == 1 && pf.revents == POLLIN, "blocked poll wakes when a thread writes",
          "poll=%d revents=0x%x", r, pf.revents);
    close_pair(p);
    xclose(ep);
}

/* ------------------------------------------------------------------ */
/* 14. TCP and timerfd                                                 */
/* ------------------------------------------------------------------ */

/* Level-triggered wait until the item shows all of `want`, returning the
 * full bits last seen (TCP state changes travel through softirqs). */
static uint32_t wait_bits(int ep, uint64_t data, uint32_t want)
{
    struct epoll_event ev[MAXEV];
    uint32_t last = 0;
    long long end = now_ms() + LONG_MS;
    while (now_ms() < end) {
        int n = epoll_wait(ep, ev, MAXEV, 100);
        int i = n > 0 ? find_data(ev, n, data) : -1;
        if (i >= 0) {
            last = ev[i].events;
            if ((last & want) == want)
                return last;
            sleep_ms(5);
        }
    }
    return last;
}

static void g_tcp(void)
{
    char b1[128], b2[128];
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sin;
    if (ls < 0 || bind(ls, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(ls, 8) != 0 ||
        getsockname(ls, (struct sockaddr *)&sin, &sl) != 0) {
        perror("tcp listen");
        exit(2);
    }
    int ep = mkepoll();
    add(ep, ls, EPOLLIN, 1);
    expect_wait0("idle listening socket reports nothing", ep);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&sin, sizeof sin) != 0) {
        perror("connect");
        exit(2);
    }
    expect_wait1("listening socket reports IN on connect", ep, LONG_MS, 1, EPOLLIN);
    int a = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
    expect_ok("accept succeeds", a);
    expect_wait0("listening socket quiet after accept", ep);

    add(ep, a, EPOLLIN | EPOLLOUT | EPOLLRDHUP, 2);
    expect_wait1("accepted socket: OUT", ep, LONG_MS, 2, EPOLLOUT);
    put(c, 5);
    uint32_t got = wait_bits(ep, 2, EPOLLIN);
    check(got == (EPOLLIN | EPOLLOUT), "accepted socket: IN|OUT after client sends",
          "got %s, expected %s", bits(got, b1, sizeof b1), bits(EPOLLIN | EPOLLOUT, b2, sizeof b2));
    shutdown(c, SHUT_WR);
    got = wait_bits(ep, 2, EPOLLRDHUP);
    check(got == (EPOLLIN | EPOLLOUT | EPOLLRDHUP),
          "accepted socket: IN|OUT|RDHUP after client SHUT_WR", "got %s, expected %s",
          bits(got, b1, sizeof b1), bits(EPOLLIN | EPOLLOUT | EPOLLRDHUP, b2, sizeof b2));
    xclose(c);
    xclose(a);
    xclose(ls);
    xclose(ep);

    ep = mkepoll();
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    add(ep, tfd, EPOLLIN, 3);
    expect_wait0("unarmed timerfd reports nothing", ep);
    struct itimerspec its = { .it_value = { 0, 30000000L } };
    timerfd_settime(tfd, 0, &its, NULL);
    expect_wait1("timerfd reports IN when it fires", ep, LONG_MS, 3, EPOLLIN);
    uint64_t ticks = 0;
    if (read(tfd, &ticks, sizeof ticks) != sizeof ticks)
        perror("timerfd read");
    expect_wait0("timerfd quiet after read", ep);
    xclose(tfd);
    xclose(ep);
}

/* ------------------------------------------------------------------ */
/* 15. threads                                                         */
/* ------------------------------------------------------------------ */

struct blocked {
    int ep, timeout;
    int n, err;
    struct epoll_event ev[MAXEV];
    pthread_t tid;
};

static void *blocked_wait(void *arg)
{
    struct blocked *b = arg;
    b->n = epoll_wait(b->ep, b->ev, MAXEV, b->timeout);
    b->err = errno;
    return NULL;
}

static void start_blocked(struct blocked *b, int ep, int timeout)
{
    memset(b, 0, sizeof *b);
    b->ep = ep;
    b->timeout = timeout;
    pthread_create(&b->tid, NULL, blocked_wait, b);
}

enum { NPIPES = 50 };
struct share {
    int ep;
    atomic_int total;
    atomic_int count[NPIPES];
    long long deadline;
};

static void *collector(void *arg)
{
    struct share *s = arg;
    struct epoll_event ev[10];
    while (atomic_load(&s->total) < NPIPES && now_ms() < s->deadline) {
        int n = epoll_wait(s->ep, ev, 10, 100);
        for (int i = 0; i < n; i++) {
            uint64_t d = ev[i].data.u64;
            if (d < NPIPES)
                atomic_fetch_add(&s->count[d], 1);
            atomic_fetch_add(&s->total, 1);
        }
    }
    return NULL;
}

static void g_threads(void)
{
    char got[512];
    int ep = mkepoll(), p[2];
    mkpipe(p);
    add(ep, p[0], EPOLLIN, 1);
    struct blocked b;
    start_blocked(&b, ep, -1);
    sleep_ms(50);
    put(p[1], 1);
    pthread_join(b.tid, NULL);
    check(b.n == 1 && b.ev[0].data.u64 == 1, "thread blocked with timeout -1 wakes on a write",
          "got %s", fmt_wait(b.n, b.err, b.ev, got, sizeof got));
    close_pair(p);
    xclose(ep);

    /* Two waiters, 50 ET items: each delivered exactly once. */
    static int pp[NPIPES][2];
    static struct share sh;
    memset(&sh, 0, sizeof sh);
    sh.ep = mkepoll();
    for (int i = 0; i < NPIPES; i++) {
        mkpipe(pp[i]);
        add(sh.ep, pp[i][0], EPOLLIN | EPOLLET, (uint64_t)i);
    }
    sh.deadline = now_ms() + 5000;
    pthread_t t1, t2;
    pthread_create(&t1, NULL, collector, &sh);
    pthread_create(&t2, NULL, collector, &sh);
    sleep_ms(20);
    for (int i = 0; i < NPIPES; i++)
        put(pp[i][1], 1);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    int dup_or_lost = 0;
    for (int i = 0; i < NPIPES; i++)
        if (atomic_load(&sh.count[i]) != 1)
            dup_or_lost++;
    check(atomic_load(&sh.total) == NPIPES && dup_or_lost == 0,
          "two threads, 50 ET pipes, maxevents 10: each delivered exactly once",
          "total=%d, %d fds not delivered exactly once", atomic_load(&sh.total), dup_or_lost);
    expect_wait0("nothing left over afterwards", sh.ep);
    for (int i = 0; i < NPIPES; i++)
        close_pair(pp[i]);
    xclose(sh.ep);

    /* EPOLLEXCLUSIVE across two instances: at least one waiter wakes. */
    int efd = eventfd(0, EFD_NONBLOCK);
    int e1 = mkepoll(), e2 = mkepoll();
    add(e1, efd, EPOLLIN | EPOLLEXCLUSIVE, 1);
    add(e2, efd, EPOLLIN | EPOLLEXCLUSIVE, 2);
    struct blocked b1, b2;
    start_blocked(&b1, e1, 1000);
    start_blocked(&b2, e2, 1000);
    sleep_ms(50);
    uint64_t one = 1;
    if (write(efd, &one, 8) != 8)
        perror("write");
    pthread_join(b1.tid, NULL);
    pthread_join(b2.tid, NULL);
    check((b1.n == 1 || b2.n == 1) && b1.n >= 0 && b2.n >= 0,
          "EXCLUSIVE on two instances: a write wakes at least one waiter", "n1=%d n2=%d", b1.n,
          b2.n);
    xclose(efd);
    xclose(e1);
    xclose(e2);

    /* ADD of an already-ready fd from another thread wakes the waiter. */
    ep = mkepoll();
    mkpipe(p);
    put(p[1], 1);
    start_blocked(&b, ep, 10000);
    sleep_ms(50);
    add(ep, p[0], EPOLLIN, 0xADD);
    pthread_join(b.tid, NULL);
    check(b.n == 1 && b.ev[0].data.u64 == 0xADD, "ADD of a ready fd wakes a blocked waiter",
          "got %s", fmt_wait(b.n, b.err, b.ev, got, sizeof got));
    close_pair(p);
    xclose(ep);

    /* DEL while blocked: the deleted fd's later write is not delivered. */
    int q[2];
    ep = mkepoll();
    mkpipe(p);
    mkpipe(q);
    add(ep, p[0], EPOLLIN, 0xDE1);
    add(ep, q[0], EPOLLIN, 0x0E);
    start_blocked(&b, ep, 10000);
    sleep_ms(50);
    epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL);
    put(p[1], 1);
    sleep_ms(50);
    put(q[1], 1);
    pthread_join(b.tid, NULL);
    check(b.n == 1 && b.ev[0].data.u64 == 0x0E,
          "DEL while blocked: only the still-registered fd is delivered", "got %s",
          fmt_wait(b.n, b.err, b.ev, got, sizeof got));
    close_pair(p);
    close_pair(q);
    xclose(ep);
}

/* ------------------------------------------------------------------ */
/* Driver                                                              */
/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* 16. regressions: each check is named after the uepoll bug it pins    */
/* ------------------------------------------------------------------ */

static const char *g_self; /* this program, for posix_spawn */

static volatile int g_selfpipe = -1;
static volatile sig_atomic_t g_selfpipe_writes;

static void on_alarm_write(int sig)
{
    (void)sig;
    int saved = errno;
    if (write(g_selfpipe, "s", 1) == 1)
        g_selfpipe_writes++;
    errno = saved;
}

/* Child mode for the spawn check: `conformance --child-add EPFD FD DATA`. */
static int child_add(char **argv)
{
    return add(atoi(argv[2]), atoi(argv[3]), EPOLLIN, strtoull(argv[4], NULL, 0)) == 0 ? 0 : 1;
}

/* eventfd_drained_into_one_shared_word: threads post to one eventfd and drain it
 * into one shared scratch word, as thread pools do when the value does not
 * matter. The value a read accounts must be the one the kernel gave that read,
 * not another thread's, read back from the shared word. */
#define SHARED_DRAIN_THREADS 4
#define SHARED_DRAIN_ROUNDS 20000
static int shared_drain_efd;
static uint64_t shared_drain_word;
static void *shared_drainer(void *arg)
{
    (void)arg;
    static const uint64_t one = 1;
    for (int i = 0; i < SHARED_DRAIN_ROUNDS; i++) {
        if (write(shared_drain_efd, &one, sizeof one) != sizeof one)
            perror("write eventfd");
        (void)!read(shared_drain_efd, &shared_drain_word, sizeof shared_drain_word);
    }
    return NULL;
}

static void eventfd_drained_into_one_shared_word(void)
{
    int ep = mkepoll();
    shared_drain_efd = eventfd(0, EFD_NONBLOCK);
    add(ep, shared_drain_efd, EPOLLIN, 0xD2A1);
    pthread_t t[SHARED_DRAIN_THREADS];
    for (int i = 0; i < SHARED_DRAIN_THREADS; i++)
        pthread_create(&t[i], NULL, shared_drainer, NULL);
    for (int i = 0; i < SHARED_DRAIN_THREADS; i++)
        pthread_join(t[i], NULL);
    uint64_t v;
    (void)!read(shared_drain_efd, &v, sizeof v);
    expect_wait0("eventfd_drained_into_one_shared_word: drained, no IN", ep);
    v = 3;
    if (write(shared_drain_efd, &v, sizeof v) != sizeof v)
        perror("write eventfd");
    expect_wait1("eventfd_drained_into_one_shared_word: 3 posted, IN", ep, 0, 0xD2A1, EPOLLIN);
    (void)!read(shared_drain_efd, &v, sizeof v);
    check(v == 3, "eventfd_drained_into_one_shared_word: the read takes 3", "read %llu",
          (unsigned long long)v);
    expect_wait0("eventfd_drained_into_one_shared_word: taken, no IN", ep);
    xclose(shared_drain_efd);
    xclose(ep);
}

static void g_regress(void)
{
    int p[2];

    /* nested_into_kernel_only_outer: after fork an instance is the kernel's alone;
     * an instance created later and added to it must still signal it. */
    int outer = mkepoll();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    reap(pid);
    int inner = mkepoll();
    mkpipe(p);
    add(inner, p[0], EPOLLIN, 1);
    add(outer, inner, EPOLLIN, 0x1EE7);
    put(p[1], 1);
    expect_wait1("nested_into_kernel_only_outer: outer sees the inner's event", outer, LONG_MS,
                 0x1EE7, EPOLLIN);
    close_pair(p);
    xclose(inner);
    xclose(outer);

    /* instance_dup2_onto_stdin: an instance moved onto fd 0 keeps its items. */
    int ep = mkepoll();
    mkpipe(p);
    add(ep, p[0], EPOLLIN, 7);
    int saved = dup(0);
    dup2(ep, 0);
    put(p[1], 1);
    expect_wait1("instance_dup2_onto_stdin: wait on fd 0 reports the item", 0, LONG_MS, 7, EPOLLIN);
    dup2(saved, 0);
    xclose(saved);
    close_pair(p);
    xclose(ep);

    /* spawn_child_adds_to_inherited_instance: a posix_spawn child that inherits an
     * epoll fd (no close-on-exec) and adds to it is seen by the parent. */
    ep = epoll_create(1);
    mkpipe(p);
    char epstr[16], fdstr[16];
    snprintf(epstr, sizeof epstr, "%d", ep);
    snprintf(fdstr, sizeof fdstr, "%d", p[0]);
    char *args[] = { (char *)g_self, "--child-add", epstr, fdstr, "0x5A5A", NULL };
    extern char **environ;
    int rc = posix_spawn(&pid, g_self, NULL, NULL, args, environ);
    expect_eq("spawn_child_adds_to_inherited_instance: spawn succeeds", rc, 0);
    if (rc == 0)
        expect_eq("spawn_child_adds_to_inherited_instance: child's ADD succeeds", reap(pid), 0);
    put(p[1], 1);
    /* Timeout 0: the item must be found without the help of a kernel sleep. */
    expect_wait1("spawn_child_adds_to_inherited_instance: parent sees the child's item", ep,
                 0, 0x5A5A, EPOLLIN);
    close_pair(p);
    xclose(ep);

    /* signal_handler_write_while_transferring: a SIGALRM handler writes to a
     * self-pipe (the self-pipe trick) at a high rate while the interrupted thread is
     * inside epoll_wait on that pipe. 300 other level-triggered pipes stay ready, so
     * the thread spends most of its time inside the transfer when a signal lands. No
     * deadlock, and every byte written is seen. */
    enum { BUSY = 300 };
    static int busy[BUSY][2];
    mkpipe(p);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    ep = mkepoll();
    add(ep, p[0], EPOLLIN, 0x51);
    for (int i = 0; i < BUSY; i++) {
        mkpipe(busy[i]);
        put(busy[i][1], 1);
        add(ep, busy[i][0], EPOLLIN, 1000 + i);
    }
    g_selfpipe = p[1];
    g_selfpipe_writes = 0;
    struct sigaction sa = { .sa_handler = on_alarm_write };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { .it_interval = { 0, 200 }, .it_value = { 0, 200 } };
    setitimer(ITIMER_REAL, &it, NULL);
    long long until = now_ms() + 300, got = 0;
    static struct epoll_event sev[BUSY + 8];
    char sbuf[256];
    while (now_ms() < until) {
        int n = epoll_wait(ep, sev, BUSY + 8, 0);
        if (find_data(sev, n, 0x51) >= 0) {
            ssize_t r;
            while ((r = read(p[0], sbuf, sizeof sbuf)) > 0)
                got += r;
        }
    }
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    signal(SIGALRM, SIG_DFL);
    alarm(60); /* the group watchdog, which setitimer replaced */
    ssize_t r;
    while ((r = read(p[0], sbuf, sizeof sbuf)) > 0) /* what the last signals wrote */
        got += r;
    int n = epoll_wait(ep, sev, BUSY + 8, 0);
    check(g_selfpipe_writes > 100 && got == g_selfpipe_writes && find_data(sev, n, 0x51) < 0,
          "signal_handler_write_while_transferring: every handler write seen, no deadlock",
          "handler wrote %ld, read %lld", (long)g_selfpipe_writes, got);
    for (int i = 0; i < BUSY; i++)
        close_pair(busy[i]);
    close_pair(p);
    xclose(ep);

    /* Repeated sleeps: every round's write from another thread wakes the waiter. */
    ep = mkepoll();
    mkpipe(p);
    add(ep, p[0], EPOLLIN | EPOLLET, 9);
    struct epoll_event ev[4];
    int ok = 1;
    for (int i = 0; i < 20 && ok; i++) {
        struct delayed d;
        start_delayed(&d, p[1], 2);
        int n = epoll_wait(ep, ev, 4, LONG_MS);
        pthread_join(d.tid, NULL);
        ok = n == 1 && ev[0].data.u64 == 9;
        drain(p[0]);
    }
    check(ok, "20 sleep/wake rounds each deliver the event", "a round failed");
    close_pair(p);
    xclose(ep);

    /* stream_short_faulting_send_wakes_sender: a stream send that queues a whole skb
     * and then faults copying into the next returns the bytes queued; the kernel
     * frees the skb it was filling, which wakes the (writable) sender for write
     * space. The library sees only a short send. */
    int s[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s);
    ep = mkepoll();
    add(ep, s[0], EPOLLOUT | EPOLLET, 0x5E);
    expect_wait1("stream_short_faulting_send_wakes_sender: OUT at first", ep, 0, 0x5E,
                 EPOLLOUT);
    long pg = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, 16 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(m + 12 * pg, pg, PROT_NONE);
    long sent = write(s[0], m + 12 * pg - 40000, 45000);
    check(sent > 0 && sent < 40000,
          "stream_short_faulting_send_wakes_sender: the send stops at the fault",
          "returned %ld", sent);
    expect_wait1("stream_short_faulting_send_wakes_sender: the freed skb wakes the sender",
                 ep, 0, 0x5E, EPOLLOUT);
    sent = write(s[0], m, 1000);
    expect_wait0("stream_short_faulting_send_wakes_sender: a whole send wakes nobody", ep);
    munmap(m, 16 * pg);
    close_pair(s);
    xclose(ep);

    /* stream_wakeups_exact_again_after_overlap: a blocking read in flight while
     * another thread sends overlaps it (the library cannot know the kernel's order,
     * and wakes on every read while its skb model is unsure); once the queue is
     * empty again, a partial read must wake the sender no more than in the kernel. */
    socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    struct delayed sender;
    start_delayed(&sender, s[0], 50);
    char small[8192];
    check(read(s[1], small, sizeof small) == 1,
          "stream_wakeups_exact_again_after_overlap: the blocked read gets the byte",
          "short or failed read");
    pthread_join(sender.tid, NULL);
    ep = mkepoll();
    add(ep, s[0], EPOLLOUT | EPOLLET, 0x5F);
    expect_wait1("stream_wakeups_exact_again_after_overlap: OUT at first", ep, 0, 0x5F,
                 EPOLLOUT);
    memset(small, 'x', sizeof small);
    check(write(s[0], small, sizeof small) == sizeof small,
          "stream_wakeups_exact_again_after_overlap: one send of 8192 bytes (one skb)",
          "short or failed write");
    check(read(s[1], small, 100) == 100, "stream_wakeups_exact_again_after_overlap: read 100",
          "short or failed read");
    expect_wait0("stream_wakeups_exact_again_after_overlap: a partial read wakes nobody", ep);
    check(read(s[1], small, sizeof small) == sizeof small - 100,
          "stream_wakeups_exact_again_after_overlap: read the rest", "short or failed read");
    expect_wait1("stream_wakeups_exact_again_after_overlap: the freed skb wakes the sender",
                 ep, 0, 0x5F, EPOLLOUT);
    close_pair(s);
    xclose(ep);

    /* dgram_named_send_wakes_sender_when_read: a datagram sent with sendto to another
     * (named, unserved) socket wakes the sender for write space when that socket
     * reads it, which the library cannot see (it demotes the pair after such a send). */
    int named = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int len = snprintf(sun.sun_path + 1, sizeof sun.sun_path - 1, "uepoll-conf-%d", (int)getpid());
    socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
    check(bind(named, (struct sockaddr *)&sun, sl) == 0,
          "dgram_named_send_wakes_sender_when_read: bind an abstract name", "bind failed");
    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, s);
    ep = mkepoll();
    add(ep, s[0], EPOLLOUT | EPOLLET, 0x60);
    expect_wait1("dgram_named_send_wakes_sender_when_read: OUT at first", ep, 0, 0x60, EPOLLOUT);
    check(sendto(s[0], "n", 1, 0, (struct sockaddr *)&sun, sl) == 1,
          "dgram_named_send_wakes_sender_when_read: sendto the named socket", "sendto failed");
    check(recv(named, small, sizeof small, MSG_DONTWAIT) == 1,
          "dgram_named_send_wakes_sender_when_read: the named socket reads it", "recv failed");
    expect_wait1("dgram_named_send_wakes_sender_when_read: the freed skb wakes the sender", ep,
                 0, 0x60, EPOLLOUT);
    close_pair(s);
    xclose(named);
    xclose(ep);

    eventfd_drained_into_one_shared_word();
}

#include "conformance-hostile.inc.c"
#include "conformance-inflight.inc.c"
#include "conformance-badptr.inc.c"
#include "conformance-gaps.inc.c"
#include "conformance-rawcall.inc.c"
#include "conformance-spawn.inc.c"
#include "conformance-promote.inc.c"

static const struct {
    const char *name;
    void (*fn)(void);
} groups[] = {
    { "create", g_create },     { "ctl", g_ctl },         { "wait", g_wait },
    { "bits", g_bits },         { "lt", g_lt },           { "et", g_et },
    { "oneshot", g_oneshot },   { "identity", g_identity }, { "fork", g_fork },
    { "nest", g_nest },         { "order", g_order },     { "timeout", g_timeout },
    { "pollsel", g_pollsel },   { "tcp", g_tcp },         { "threads", g_threads },
    { "regress", g_regress },   { "badptr", g_badptr },   { "sigsegv", g_sigsegv },
    { "limits", g_limits },     { "watches", g_watches }, { "foreign", g_foreign },
    { "aio", g_aio },           { "inflight", g_inflight }, { "hookptr", g_hookptr },
    { "fortify", g_fortify },   { "gaps", g_gaps },       { "rawcall", g_rawcall },
    { "spawn", g_spawn },
    { "promote", g_promote },
};

/* Number of open descriptors: a leak detector between groups (debug aid,
 * reported on stderr only so the preload library's own fds cannot change
 * the result lines). */
static int count_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    int n = 0;
    if (!dir)
        return -1;
    while (readdir(dir))
        n++;
    closedir(dir);
    return n;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--child-add") == 0)
        return child_add(argv);
    if (argc == 3 && strcmp(argv[1], "--enospc") == 0)
        return child_enospc(atol(argv[2]));
    g_self = argv[0];
    /* --groups: the group names, one a line (scripts/conformance.sh runs each alone). */
    if (argc == 2 && strcmp(argv[1], "--groups") == 0) {
        for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
            printf("%s\n", groups[i].name);
        return 0;
    }
    /* --group NAME: that group alone; any other argument selects the groups whose name
     * contains it. */
    int exact = argc == 3 && strcmp(argv[1], "--group") == 0;
    const char *filter = exact ? argv[2] : argc > 1 ? argv[1] : NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Writes to pipes whose reader is gone must fail with EPIPE, not kill us. */
    signal(SIGPIPE, SIG_IGN);

    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        if (filter && (exact ? strcmp(groups[i].name, filter) != 0
                             : !strstr(groups[i].name, filter)))
            continue;
        g_group = groups[i].name;
        int fdcheck = getenv("CONFORMANCE_FDCHECK") != NULL;
        int before = fdcheck ? count_fds() : 0;
        alarm(60); /* a hung group kills the run instead of stalling CI */
        groups[i].fn();
        alarm(0);
        int after = fdcheck ? count_fds() : 0;
        if (after != before)
            fprintf(stderr, "warning: group %s: open fds %d -> %d\n", g_group, before, after);
    }
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
