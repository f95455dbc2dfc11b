/*
 * conformance-gaps.inc.c - group "gaps": the libc entry points of the
 * inventory's former gap rows (docs/interposition.md).
 *
 * Included by conformance.c.  Each check reaches a watched pipe, socketpair or
 * instance through an entry point a real program can call (a second exported
 * name, a child started without fork's handlers, a call that hands the fd to
 * glibc's own threads, a raw syscall()), and demands the kernel's answer.
 * Each failed under the library before its hook existed: an event lost, or
 * one invented for a file that is gone.
 */

#include <aio.h>
#include <execinfo.h>
#include <stddef.h>
#include <sched.h>
#include <sys/pidfd.h>
#include <sys/un.h>

/* Public glibc names no header declares. */
extern ssize_t __read(int fd, void *buf, size_t n);
extern ssize_t __write(int fd, const void *buf, size_t n);
extern ssize_t __send(int fd, const void *buf, size_t n, int flags);
extern int __close(int fd);
extern int __dup2(int oldfd, int newfd);
extern int __fcntl(int fd, int cmd, ...);
extern int __poll(struct pollfd *fds, nfds_t n, int timeout);
extern int __select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv);
extern pid_t __vfork(void);
extern FILE *_IO_fdopen(int fd, const char *mode);
extern FILE *_IO_popen(const char *command, const char *mode);
extern int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);
extern sighandler_t __sysv_signal(int sig, sighandler_t handler);
extern int __connect(int fd, const struct sockaddr *addr, socklen_t len);
extern int __clone(int (*fn)(void *), void *stack, int flags, void *arg, ...);
extern void __backtrace_symbols_fd(void *const *buffer, int size, int fd);
extern ssize_t preadv64v2(int fd, const struct iovec *iov, int n, off_t off, int flags);
extern ssize_t pwritev64v2(int fd, const struct iovec *iov, int n, off_t off, int flags);

/* An instance watching a new pipe's read end for EPOLLIN (data 0x6a). */
static int gap_pipe(int p[2])
{
    int ep = mkepoll();
    mkpipe(p);
    add(ep, p[0], EPOLLIN, 0x6a);
    return ep;
}

/* Put the pipe's write end on fd 9, so that a shell can name it (dash takes
 * one digit after >&). */
static void gap_write_end_on_9(int p[2])
{
    p[1] = move_fd(p[1], 9);
}

static int gap_reap(pid_t pid)
{
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- 1. Second names of hooked calls ----------------------------------------- */

static void gap_aliases(void)
{
    int p[2], ep;
    char c;

    ep = gap_pipe(p);
    __write(p[1], "x", 1);
    expect_wait1("__write to a watched pipe is reported", ep, 1000, 0x6a, EPOLLIN);
    close_pair(p);
    xclose(ep);

    ep = gap_pipe(p);
    put(p[1], 1);
    expect_wait1("a write to a watched pipe is reported", ep, 1000, 0x6a, EPOLLIN);
    __read(p[0], &c, 1);
    expect_wait0("__read that empties it: not reported any more", ep);
    close_pair(p);
    xclose(ep);

    ep = gap_pipe(p);
    put(p[1], 1);
    expect_eq("__close of the read end", __close(p[0]), 0);
    p[0] = -1;
    expect_wait0("the closed file's registration is gone", ep);
    close_pair(p);
    xclose(ep);

    ep = gap_pipe(p);
    int copy = __dup2(p[0], 30);
    close(p[0]);
    p[0] = copy;
    put(p[1], 1);
    expect_wait1("after __dup2 and close of the original, the copy keeps the registration",
                 ep, 1000, 0x6a, EPOLLIN);
    close_pair(p);
    xclose(ep);

    ep = gap_pipe(p);
    copy = __fcntl(p[0], F_DUPFD, 0);
    close(p[0]);
    p[0] = copy;
    put(p[1], 1);
    expect_wait1("after __fcntl(F_DUPFD) and close of the original, the copy keeps it", ep,
                 1000, 0x6a, EPOLLIN);
    close_pair(p);
    xclose(ep);

    int sv[2];
    ep = mkepoll();
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
    add(ep, sv[1], EPOLLIN | EPOLLET, 0x6b);
    expect_wait0("a socketpair end with nothing to read", ep);
    __send(sv[0], "x", 1, 0);
    expect_wait1("__send to the peer is reported", ep, 1000, 0x6b, EPOLLIN);
    close_pair(sv);
    xclose(ep);

    ep = gap_pipe(p);
    put(p[1], 1);
    struct pollfd pfd = { .fd = ep, .events = POLLIN };
    int n = __poll(&pfd, 1, 100);
    check(n == 1 && pfd.revents == POLLIN, "__poll on the instance sees it readable",
          "got %d revents %#x", n, pfd.revents);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(ep, &rs);
    struct timeval tv = { 0, 100000 };
    n = __select(ep + 1, &rs, NULL, NULL, &tv);
    check(n == 1 && FD_ISSET(ep, &rs), "__select on the instance sees it readable", "got %d",
          n);
    close_pair(p);
    xclose(ep);

    ep = gap_pipe(p);
    struct iovec iov = { .iov_base = "y", .iov_len = 1 };
    expect_eq("pwritev64v2 at offset -1 writes one byte", pwritev64v2(p[1], &iov, 1, -1, 0), 1);
    expect_wait1("pwritev64v2 at offset -1 to the pipe is reported", ep, 1000, 0x6a,
                 EPOLLIN);
    close_pair(p);
    xclose(ep);

    ep = gap_pipe(p);
    put(p[1], 1);
    expect_wait1("a write to a watched pipe is reported", ep, 1000, 0x6a, EPOLLIN);
    iov.iov_base = &c;
    expect_eq("preadv64v2 at offset -1 reads one byte", preadv64v2(p[0], &iov, 1, -1, 0), 1);
    expect_wait0("preadv64v2 that empties it: not reported any more", ep);
    close_pair(p);
    xclose(ep);

    ep = gap_pipe(p);
    FILE *f = _IO_fdopen(p[1], "w");
    fputs("z", f);
    fflush(f);
    expect_wait1("fputs on an _IO_fdopen stream of the pipe is reported", ep, 1000, 0x6a,
                 EPOLLIN);
    fclose(f);
    p[1] = -1;
    close_pair(p);
    xclose(ep);
}

/* ---- 2. Children started without fork's handlers ------------------------------ */

static int gap_clone_child(void *arg)
{
    int fd = *(int *)arg;
    return write(fd, "c", 1) == 1 ? 0 : 1;
}

static int gap_exec_child(void *arg)
{
    execl("/bin/sh", "sh", "-c", (const char *)arg, (char *)NULL);
    _exit(127);
}

static void gap_children(void)
{
    int p[2], ep;

    fflush(stdout);
    ep = gap_pipe(p);
    gap_write_end_on_9(p);
    pid_t pid = __vfork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "printf v >&9", (char *)NULL);
        _exit(127);
    }
    expect_eq("the __vfork child exec'd and wrote", gap_reap(pid), 0);
    expect_wait1("its write to the watched pipe is reported", ep, 1000, 0x6a, EPOLLIN);
    close_pair(p);
    xclose(ep);

    ep = gap_pipe(p);
    gap_write_end_on_9(p);
    FILE *f = _IO_popen("printf o >&9", "r");
    check(f != NULL, "_IO_popen starts a child", "errno %s", errname(errno));
    if (f)
        expect_eq("which ends", pclose(f), 0);
    expect_wait1("the _IO_popen child's write is reported", ep, 1000, 0x6a, EPOLLIN);
    close_pair(p);
    xclose(ep);

    ep = gap_pipe(p);
    pid = _Fork();
    if (pid == 0)
        _exit(write(p[1], "f", 1) == 1 ? 0 : 1);
    expect_eq("the _Fork child wrote", gap_reap(pid), 0);
    expect_wait1("its write to the watched pipe is reported", ep, 1000, 0x6a, EPOLLIN);
    close_pair(p);
    xclose(ep);

    static char stack[64 * 1024] __attribute__((aligned(16)));
    ep = gap_pipe(p);
    pid = clone(gap_clone_child, stack + sizeof stack, SIGCHLD, &p[1]);
    expect_eq("the clone(SIGCHLD) child wrote", gap_reap(pid), 0);
    expect_wait1("its write to the watched pipe is reported", ep, 1000, 0x6a, EPOLLIN);
    close_pair(p);
    xclose(ep);

    ep = gap_pipe(p);
    gap_write_end_on_9(p);
    pid = clone(gap_exec_child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD,
                "printf m >&9");
    expect_eq("the clone(CLONE_VM | CLONE_VFORK) child exec'd and wrote", gap_reap(pid), 0);
    expect_wait1("its write to the watched pipe is reported", ep, 1000, 0x6a, EPOLLIN);
    close_pair(p);
    xclose(ep);

    ep = gap_pipe(p);
    pid_t ptid = 0;
    pid = __clone(gap_clone_child, stack + sizeof stack, CLONE_PARENT_SETTID | SIGCHLD, &p[1],
                  &ptid, NULL, NULL);
    check(pid > 0 && ptid == pid, "__clone forwards its variadic parent_tid",
          "pid %d ptid %d", pid, ptid);
    expect_eq("the __clone child wrote", gap_reap(pid), 0);
    expect_wait1("its write to the watched pipe is reported", ep, 1000, 0x6a, EPOLLIN);
    close_pair(p);
    xclose(ep);

    ep = gap_pipe(p);
    pid = syscall(SYS_fork);
    if (pid == 0)
        _exit(write(p[1], "s", 1) == 1 ? 0 : 1);
    expect_eq("the syscall(SYS_fork) child wrote", gap_reap(pid), 0);
    expect_wait1("its write to the watched pipe is reported", ep, 1000, 0x6a, EPOLLIN);
    close_pair(p);
    xclose(ep);

    ep = gap_pipe(p);
    pid = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
    if (pid == 0)
        _exit(write(p[1], "s", 1) == 1 ? 0 : 1);
    expect_eq("the syscall(SYS_clone, SIGCHLD) child wrote", gap_reap(pid), 0);
    expect_wait1("its write to the watched pipe is reported", ep, 1000, 0x6a, EPOLLIN);
    close_pair(p);
    xclose(ep);

    ep = gap_pipe(p);
    /* struct clone_args, version 0: flags, pidfd, child_tid, parent_tid,
     * exit_signal, stack, stack_size, tls. */
    uint64_t ca[8];
    memset(ca, 0, sizeof ca);
    ca[4] = SIGCHLD;
    pid = syscall(SYS_clone3, ca, sizeof ca);
    if (pid == 0)
        _exit(write(p[1], "s", 1) == 1 ? 0 : 1);
    expect_eq("the syscall(SYS_clone3) child wrote", gap_reap(pid), 0);
    expect_wait1("its write to the watched pipe is reported", ep, 1000, 0x6a, EPOLLIN);
    close_pair(p);
    xclose(ep);
}

/* unshare(CLONE_FILES) in a thread, then close of the read end there: the
 * main thread's number still refers to the file.  In a child process, since
 * the library stops serving new fds after it. */
static void *gap_unshare_thread(void *arg)
{
    int fd = *(int *)arg;
    if (unshare(CLONE_FILES) != 0)
        return (void *)1;
    close(fd);
    return NULL;
}

static void *gap_raw_unshare_thread(void *arg)
{
    int fd = *(int *)arg;
    if (syscall(SYS_unshare, CLONE_FILES) != 0)
        return (void *)1;
    close(fd);
    return NULL;
}

static void *gap_close_range_unshare_thread(void *arg)
{
    int fd = *(int *)arg;
    if (close_range(fd, fd, CLOSE_RANGE_UNSHARE) != 0)
        return (void *)1;
    return NULL;
}

static void gap_unshare_child(void *arg)
{
    int p[2];
    int ep = gap_pipe(p);
    pthread_t t;
    void *ret = (void *)2;
    pthread_create(&t, NULL, (void *(*)(void *))arg, &p[0]);
    pthread_join(t, &ret);
    if (ret != NULL)
        _exit(3);
    put(p[1], 1);
    struct epoll_event ev;
    _exit(epoll_wait(ep, &ev, 1, 1000) == 1 ? 0 : 1);
}

static void gap_unshare(void)
{
    char desc[64];
    check(!strcmp(child_end(gap_unshare_child, gap_unshare_thread, desc, sizeof desc),
                  "exit 0"),
          "a thread's close after unshare(CLONE_FILES) leaves the main thread's file watched",
          "%s", desc);
    check(!strcmp(child_end(gap_unshare_child, gap_raw_unshare_thread, desc, sizeof desc),
                  "exit 0"),
          "the same with syscall(SYS_unshare)", "%s", desc);
    check(!strcmp(child_end(gap_unshare_child, gap_close_range_unshare_thread, desc,
                            sizeof desc),
                  "exit 0"),
          "the same with close_range(CLOSE_RANGE_UNSHARE)", "%s", desc);
}

/* ---- 3. Readiness changed without a read or write ----------------------------- */

static void gap_resize(void)
{
    int p[2], n;
    int ep = mkepoll();
    mkpipe(p);
    fcntl(p[0], F_SETPIPE_SZ, 4096);
    add(ep, p[1], EPOLLOUT, 0x6c);
    while (write(p[1], "xxxxxxxxxxxxxxxx", 16) > 0)
        ;
    expect_wait0("a full pipe's write end is not writable", ep);
    check(fcntl(p[1], F_SETPIPE_SZ, 65536) >= 65536, "F_SETPIPE_SZ grows it", "errno %s",
          errname(errno));
    expect_wait1("F_SETPIPE_SZ that makes room: the write end is reported", ep, 1000, 0x6c,
                 EPOLLOUT);
    close_pair(p);
    xclose(ep);

    /* pipe_resize_ring wakes the writers' queue, without a key: an
     * edge-triggered write end gets a new edge (even when the size stays), and
     * a reader, on the other queue, does not. */
    ep = mkepoll();
    mkpipe(p);
    add(ep, p[0], EPOLLIN | EPOLLET, 0x6d);
    add(ep, p[1], EPOLLOUT | EPOLLET, 0x6c);
    put(p[1], 1);
    struct epoll_event ev[4];
    n = epoll_wait(ep, ev, 4, 1000);
    check(n == 2, "edges for both ends", "got %d", n);
    expect_wait0("reported once", ep);
    expect_eq("F_SETPIPE_SZ to the size it has", fcntl(p[0], F_SETPIPE_SZ, 65536), 65536);
    expect_wait1("gives the write end a new edge, and not the reader", ep, 1000, 0x6c,
                 EPOLLOUT);
    close_pair(p);
    xclose(ep);

    int sv[2];
    for (int raw = 0; raw < 2; raw++) {
        ep = mkepoll();
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
        int small = 4096, big = 65536;
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
        add(ep, sv[0], EPOLLOUT, 0x6e);
        while (write(sv[0], "xxxxxxxxxxxxxxxx", 16) > 0)
            ;
        expect_wait0("a full socketpair end is not writable", ep);
        if (raw)
            syscall(SYS_setsockopt, sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        else
            setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        expect_wait1(raw ? "raw SO_SNDBUF that makes room: reported"
                         : "SO_SNDBUF that makes room: the end is reported",
                     ep, 1000, 0x6e, EPOLLOUT);
        close_pair(sv);
        xclose(ep);
    }
}

/* ---- 4. The fd handed to something else ---------------------------------------- */

static void gap_handoff(void)
{
    int p[2], ep;

    /* connect(AF_UNSPEC) on a bound datagram end: it accepts from anyone. */
    for (int alias = 0; alias < 2; alias++) {
        int sv[2];
        ep = mkepoll();
        socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv);
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "uepoll-gaps-%d-%d", getpid(),
                 alias);
        socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 +
                        strlen(sa.sun_path + 1);
        expect_ok("bind the datagram end", bind(sv[0], (struct sockaddr *)&sa, len));
        add(ep, sv[0], EPOLLIN, 0x70);
        struct sockaddr unspec = { .sa_family = AF_UNSPEC };
        expect_ok(alias ? "__connect(AF_UNSPEC) disconnects it"
                        : "connect(AF_UNSPEC) disconnects it",
                  alias ? __connect(sv[0], &unspec, sizeof unspec)
                        : connect(sv[0], &unspec, sizeof unspec));
        int other = socket(AF_UNIX, SOCK_DGRAM, 0);
        expect_eq("another socket sends to its address",
                  sendto(other, "d", 1, 0, (struct sockaddr *)&sa, len), 1);
        expect_wait1("the datagram from the other socket is reported", ep, 1000, 0x70,
                     EPOLLIN);
        xclose(other);
        close_pair(sv);
        xclose(ep);
    }

    for (int raw = 0; raw < 2; raw++) {
        ep = gap_pipe(p);
        int pidfd = syscall(SYS_pidfd_open, getpid(), 0);
        int copy = raw ? syscall(SYS_pidfd_getfd, pidfd, p[1], 0) : pidfd_getfd(pidfd, p[1], 0);
        check(copy >= 0, raw ? "syscall(SYS_pidfd_getfd) copies our own write end"
                             : "pidfd_getfd copies our own write end",
              "errno %s", errname(errno));
        expect_eq("a write through the copy", write(copy, "g", 1), 1);
        expect_wait1("is reported", ep, 1000, 0x6a, EPOLLIN);
        xclose(copy);
        xclose(pidfd);
        close_pair(p);
        xclose(ep);
    }

    for (int alias = 0; alias < 2; alias++) {
        ep = gap_pipe(p);
        void *frames[1] = { (void *)gap_handoff };
        if (alias)
            __backtrace_symbols_fd(frames, 1, p[1]);
        else
            backtrace_symbols_fd(frames, 1, p[1]);
        expect_wait1(alias ? "__backtrace_symbols_fd's write to the pipe is reported"
                           : "backtrace_symbols_fd's write to the pipe is reported",
                     ep, 1000, 0x6a, EPOLLIN);
        close_pair(p);
        xclose(ep);
    }

    /* POSIX AIO: glibc's threads write (and read) the pipe. */
    for (int how = 0; how < 2; how++) {
        ep = gap_pipe(p);
        struct aiocb cb;
        memset(&cb, 0, sizeof cb);
        cb.aio_fildes = p[1];
        cb.aio_buf = "a";
        cb.aio_nbytes = 1;
        cb.aio_sigevent.sigev_notify = SIGEV_NONE;
        struct aiocb *list[1] = { &cb };
        if (how == 0) {
            aio_write(&cb);
            const struct aiocb *wait[1] = { &cb };
            while (aio_error(&cb) == EINPROGRESS)
                aio_suspend(wait, 1, NULL);
        } else {
            cb.aio_lio_opcode = LIO_WRITE;
            lio_listio(LIO_WAIT, list, 1, NULL);
        }
        expect_eq(how ? "lio_listio(LIO_WRITE) wrote" : "aio_write wrote", aio_return(&cb),
                  1);
        expect_wait1("its write to the watched pipe is reported", ep, 1000, 0x6a, EPOLLIN);
        close_pair(p);
        xclose(ep);
    }

    ep = gap_pipe(p);
    put(p[1], 1);
    expect_wait1("a write to a watched pipe is reported", ep, 1000, 0x6a, EPOLLIN);
    char c;
    struct aiocb64 cb;
    memset(&cb, 0, sizeof cb);
    cb.aio_fildes = p[0];
    cb.aio_buf = &c;
    cb.aio_nbytes = 1;
    cb.aio_sigevent.sigev_notify = SIGEV_NONE;
    aio_read64(&cb);
    const struct aiocb64 *wait[1] = { &cb };
    while (aio_error64(&cb) == EINPROGRESS)
        aio_suspend64(wait, 1, NULL);
    expect_eq("aio_read64 read it", aio_return64(&cb), 1);
    expect_wait0("the emptied pipe is not reported any more", ep);
    close_pair(p);
    xclose(ep);
}

/* ---- 5. Raw system calls ------------------------------------------------------- */

static void gap_raw(void)
{
    int p[2];
    int ep = gap_pipe(p);
    put(p[1], 1);
    expect_ok("syscall(SYS_close_range) of the read end", syscall(SYS_close_range, p[0], p[0], 0));
    p[0] = -1;
    expect_wait0("the closed file's registration is gone", ep);
    close_pair(p);
    xclose(ep);

    ep = gap_pipe(p);
    put(p[1], 1);
    struct pollfd pfd = { .fd = ep, .events = POLLIN };
    long n = syscall(SYS_poll, &pfd, 1, 100);
    check(n == 1 && pfd.revents == POLLIN, "syscall(SYS_poll) on the instance sees it readable",
          "got %ld revents %#x", n, pfd.revents);
    pfd.revents = 0;
    struct timespec ts = { 0, 100000000 };
    n = syscall(SYS_ppoll, &pfd, 1, &ts, NULL, 8);
    check(n == 1 && pfd.revents == POLLIN, "syscall(SYS_ppoll) on the instance sees it readable",
          "got %ld revents %#x", n, pfd.revents);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(ep, &rs);
    struct timeval tv = { 0, 100000 };
    n = syscall(SYS_select, ep + 1, &rs, NULL, NULL, &tv);
    check(n == 1 && FD_ISSET(ep, &rs), "syscall(SYS_select) on the instance sees it readable",
          "got %ld", n);
    FD_ZERO(&rs);
    FD_SET(ep, &rs);
    ts.tv_nsec = 100000000;
    n = syscall(SYS_pselect6, ep + 1, &rs, NULL, NULL, &ts, NULL);
    check(n == 1 && FD_ISSET(ep, &rs), "syscall(SYS_pselect6) on the instance sees it readable",
          "got %ld", n);
    close_pair(p);
    xclose(ep);
}

/* ---- 6. Signal aliases keep the library's fault handler ----------------------- */

static void *gap_ro_page(void)
{
    void *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return m == MAP_FAILED ? NULL : m;
}

static void gap_efault_after(void *arg)
{
    int which = (int)(intptr_t)arg;
    if (which == 0)
        ssignal(SIGSEGV, SIG_DFL);
    else if (which == 1)
        __sysv_signal(SIGSEGV, SIG_DFL);
    else {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        __sigaction(SIGSEGV, &sa, NULL);
    }
    int p[2];
    int ep = gap_pipe(p);
    put(p[1], 1);
    void *ro = gap_ro_page();
    int r = epoll_wait(ep, ro, 4, 0);
    _exit(r == -1 && errno == EFAULT ? 0 : 1);
}

static void gap_signals(void)
{
    static const char *names[] = { "ssignal", "__sysv_signal", "__sigaction" };
    char desc[64], what[128];
    for (int i = 0; i < 3; i++) {
        snprintf(what, sizeof what, "after %s(SIGSEGV, SIG_DFL) a bad buffer is still EFAULT",
                 names[i]);
        check(!strcmp(child_end(gap_efault_after, (void *)(intptr_t)i, desc, sizeof desc),
                      "exit 0"),
              what, "%s", desc);
    }
}

static void g_gaps(void)
{
    gap_aliases();
    gap_children();
    gap_unshare();
    gap_resize();
    gap_handoff();
    gap_raw();
    gap_signals();
}
