/*
 * conformance-hostile.inc.c - the groups of conformance.c that feed epoll bad
 * input: wild pointers, exhausted limits, and the program's own SIGSEGV/SIGBUS
 * handling next to a library that catches faults in its own accesses.
 * Included by conformance.c (it uses that file's helpers); not built alone.
 *
 * Every failing call is followed by a look at the instance, to show that the
 * error left it exactly as it was.
 */

/* A three-page area: read-write, PROT_NONE, read-only; plus a page that is
 * no longer mapped at all. */
struct bad_mem {
    long pg;
    char *rw, *none, *ro, *unmapped;
};

static void bad_mem_init(struct bad_mem *m, uint32_t ro_events, uint64_t ro_data)
{
    m->pg = sysconf(_SC_PAGESIZE);
    char *a = mmap(NULL, 3 * m->pg, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *u = mmap(NULL, m->pg, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED || u == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    m->rw = a;
    m->none = a + m->pg;
    m->ro = a + 2 * m->pg;
    /* An event the kernel may read from the read-only page. */
    struct epoll_event ev = { .events = ro_events, .data.u64 = ro_data };
    memcpy(m->ro, &ev, sizeof ev);
    if (mprotect(m->none, m->pg, PROT_NONE) || mprotect(m->ro, m->pg, PROT_READ) ||
        munmap(u, m->pg)) {
        perror("mprotect/munmap");
        exit(2);
    }
    m->unmapped = u;
}

static void bad_mem_free(struct bad_mem *m)
{
    munmap(m->rw, 3 * m->pg);
}

static void *opaque_ptr(void *p)
{
    void *volatile q = p;
    return q;
}

/* Wait with a good buffer and demand exactly these data values, in order. */
static int expect_datas(const char *desc, int ep, const uint64_t *want, int nwant)
{
    struct epoll_event ev[MAXEV];
    int n = epoll_wait(ep, ev, MAXEV, 0);
    int e = errno;
    int ok = n == nwant;
    for (int i = 0; ok && i < n; i++)
        ok = ev[i].data.u64 == want[i];
    char got[512];
    return check(ok, desc, "got %s, expected %d events", fmt_wait(n, e, ev, got, sizeof got),
                 nwant);
}

static void g_badptr(void)
{
    struct bad_mem m;
    bad_mem_init(&m, EPOLLIN, 0x51);
    struct epoll_event *ro = opaque_ptr(m.ro), *none = opaque_ptr(m.none);
    struct epoll_event *unmapped = opaque_ptr(m.unmapped);
    struct epoll_event *kernel_half = opaque_ptr((void *)0xffff800000000000ULL);
    struct epoll_event *straddle = opaque_ptr(m.none - 4);
    struct epoll_event ev[MAXEV];
    int ep = mkepoll(), p[2], q[2];
    mkpipe(p);
    mkpipe(q);

    /* epoll_ctl reads the event before anything else. */
    expect_err("ADD with the event in an unmapped page gives EFAULT",
               epoll_ctl(ep, EPOLL_CTL_ADD, p[0], unmapped), EFAULT);
    expect_err("ADD with the event in a PROT_NONE page gives EFAULT",
               epoll_ctl(ep, EPOLL_CTL_ADD, p[0], none), EFAULT);
    expect_err("ADD with the event straddling into a PROT_NONE page gives EFAULT",
               epoll_ctl(ep, EPOLL_CTL_ADD, p[0], straddle), EFAULT);
    expect_err("ADD with the event past user space gives EFAULT",
               epoll_ctl(ep, EPOLL_CTL_ADD, p[0], kernel_half), EFAULT);
    expect_err("bad epfd with the event in an unmapped page gives EFAULT first",
               epoll_ctl(-1, EPOLL_CTL_ADD, p[0], unmapped), EFAULT);
    expect_err("state after the failed ADDs: the fd is not registered",
               epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL), ENOENT);
    expect_ok("ADD with the event in a read-only page works",
              epoll_ctl(ep, EPOLL_CTL_ADD, p[0], ro));
    expect_err("MOD with the event in an unmapped page gives EFAULT",
               epoll_ctl(ep, EPOLL_CTL_MOD, p[0], unmapped), EFAULT);
    expect_err("MOD with the event straddling into a PROT_NONE page gives EFAULT",
               epoll_ctl(ep, EPOLL_CTL_MOD, p[0], straddle), EFAULT);
    expect_ok("DEL ignores a bad event pointer",
              epoll_ctl(ep, EPOLL_CTL_DEL, p[0], unmapped));
    expect_ok("ADD again from the read-only page", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], ro));
    put(p[1], 1);
    expect_wait1("state after the failed MODs: registration unchanged", ep, 0, 0x51, EPOLLIN);

    /* epoll_wait: EFAULT only when an event is to be copied. */
    expect_err("wait into a read-only buffer with an event ready gives EFAULT",
               epoll_wait(ep, ro, 4, 0), EFAULT);
    expect_err("wait into a PROT_NONE buffer gives EFAULT", epoll_wait(ep, none, 4, 0), EFAULT);
    expect_err("wait into an unmapped buffer gives EFAULT",
               epoll_wait(ep, unmapped, 4, 0), EFAULT);
    expect_err("wait into a buffer past user space gives EFAULT",
               epoll_wait(ep, kernel_half, 4, 0), EFAULT);
    expect_wait1("state after the faults: the event is still there", ep, 0, 0x51, EPOLLIN);
    drain(p[0]);
    expect_eq("wait into a read-only buffer with nothing ready returns 0",
              epoll_wait(ep, ro, 4, 0), 0);
    expect_eq("wait into an unmapped buffer with nothing ready returns 0",
              epoll_wait(ep, unmapped, 4, 0), 0);

    /* A buffer that ends where the writable memory ends. */
    add(ep, q[0], EPOLLIN, 0x52);
    put(p[1], 1);
    put(q[1], 1);
    struct epoll_event *last_slot = opaque_ptr(m.none - sizeof(struct epoll_event));
    int n = epoll_wait(ep, last_slot, 2, 0);
    expect_eq("one writable slot of two: one event, no error", n, 1);
    expect_eq("the slot holds the first ready item", last_slot[0].data.u64, 0x51);
    expect_err("the first slot straddling into PROT_NONE gives EFAULT",
               epoll_wait(ep, straddle, 2, 0), EFAULT);
    uint64_t both[] = { 0x52, 0x51 };
    expect_datas("state after the partial copies: both level-triggered items, in order",
                 ep, both, 2);

    /* An edge is not consumed by a failed copy. */
    drain(p[0]);
    drain(q[0]);
    ctl(ep, EPOLL_CTL_DEL, q[0], 0, 0);
    ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLET, 0x53);
    put(p[1], 1);
    expect_err("ET: wait into a read-only buffer gives EFAULT", epoll_wait(ep, ro, 4, 0), EFAULT);
    expect_wait1("ET: the edge survives the fault", ep, 0, 0x53, EPOLLIN);

    /* The signal mask and the timeout are copied before anything else. */
    put(p[1], 1);
    expect_err("pwait: a sigmask in an unmapped page gives EFAULT, event ready",
               epoll_pwait(ep, ev, 4, 0, opaque_ptr(m.unmapped)), EFAULT);
    expect_err("pwait: a sigmask in a PROT_NONE page gives EFAULT with maxevents 0",
               epoll_pwait(ep, ev, opaque_int(0), 0, opaque_ptr(m.none)), EFAULT);
    struct timespec zero = { 0, 0 };
    expect_err("pwait2: a timeout in an unmapped page gives EFAULT",
               epoll_pwait2(ep, ev, 4, opaque_ptr(m.unmapped), NULL), EFAULT);
    expect_err("pwait2: a timeout straddling into PROT_NONE gives EFAULT",
               epoll_pwait2(ep, ev, 4, opaque_ptr(m.none - 8), NULL), EFAULT);
    expect_err("pwait2: a sigmask in a PROT_NONE page gives EFAULT",
               epoll_pwait2(ep, ev, 4, &zero, opaque_ptr(m.none)), EFAULT);
    expect_wait1("state after the bad masks and timeouts: the edge is still there", ep, 0, 0x53,
                 EPOLLIN);

    /* SIGBUS rather than SIGSEGV: a shared file mapping past the file's end. */
    char path[] = "/tmp/uepoll-conf-XXXXXX";
    int tf = mkstemp(path);
    if (tf < 0) {
        perror("mkstemp");
        exit(2);
    }
    unlink(path);
    struct epoll_event *past_eof = mmap(NULL, m.pg, PROT_READ | PROT_WRITE, MAP_SHARED, tf, 0);
    if (past_eof == MAP_FAILED) {
        perror("mmap file");
        exit(2);
    }
    put(p[1], 1);
    expect_err("wait into a file mapping past the file's end gives EFAULT",
               epoll_wait(ep, past_eof, 4, 0), EFAULT);
    expect_err("ADD with the event in a file mapping past the file's end gives EFAULT",
               epoll_ctl(ep, EPOLL_CTL_ADD, q[0], past_eof), EFAULT);
    expect_wait1("state after SIGBUS faults: the edge is still there", ep, 0, 0x53, EPOLLIN);
    munmap(past_eof, m.pg);
    close(tf);

    /* A kernel-served fd and an engine-served fd ready at once. */
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    add(ep, udp, EPOLLOUT, 0x54);
    put(p[1], 1);
    expect_err("kernel and library fds ready, read-only buffer: EFAULT",
               epoll_wait(ep, ro, 4, 0), EFAULT);
    n = epoll_wait(ep, ev, MAXEV, 0);
    check(n == 2 && find_data(ev, n, 0x53) >= 0 && find_data(ev, n, 0x54) >= 0,
          "state after the mixed fault: both events delivered", "n=%d", n);
    xclose(udp);

    close_pair(p);
    close_pair(q);
    xclose(ep);
    bad_mem_free(&m);
}

/* ---- The program's own SIGSEGV and SIGBUS handling ---------------------- */

static sigjmp_buf g_segv_jmp;
static volatile sig_atomic_t g_segv_hits;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    g_segv_hits++;
    siglongjmp(g_segv_jmp, 1);
}

static void touch(void *p)
{
    *(volatile char *)p = 1;
}

/* Run fn in a child (no core dump) and describe how it ended. */
static const char *child_end(void (*fn)(void *), void *arg, char *buf, size_t len)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit no_core = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        fn(arg);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by %s", sigabbrev_np(WTERMSIG(st)));
    else
        snprintf(buf, len, "exit %d", WEXITSTATUS(st));
    return buf;
}

static void fault_default(void *p)
{
    signal(SIGSEGV, SIG_DFL);
    touch(p);
}

static void fault_ignored(void *p)
{
    signal(SIGSEGV, SIG_IGN);
    touch(p);
}

static void kill_ignored(void *p)
{
    (void)p;
    signal(SIGSEGV, SIG_IGN);
    kill(getpid(), SIGSEGV);
    _exit(7);
}

static void kill_bus_default(void *p)
{
    (void)p;
    kill(getpid(), SIGBUS);
    _exit(7);
}

static void fault_resethand(void *p)
{
    g_segv_hits = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigaction(SIGSEGV, &sa, NULL);
    if (!sigsetjmp(g_segv_jmp, 1))
        touch(p);
    struct sigaction now;
    sigaction(SIGSEGV, NULL, &now);
    if (g_segv_hits != 1 || now.sa_handler != SIG_DFL)
        _exit(3);
    touch(p); /* the second fault meets the default action */
}

static void g_sigsegv(void)
{
    struct bad_mem m;
    bad_mem_init(&m, EPOLLIN, 0x61);
    char desc[64];
    struct sigaction old, sa;

    sigaction(SIGSEGV, NULL, &old);
    check(old.sa_handler == SIG_DFL, "SIGSEGV starts at SIG_DFL", "handler %p",
          (void *)old.sa_handler);
    sigaction(SIGBUS, NULL, &old);
    check(old.sa_handler == SIG_DFL, "SIGBUS starts at SIG_DFL", "handler %p",
          (void *)old.sa_handler);

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaddset(&sa.sa_mask, SIGUSR2);
    expect_ok("install a program SIGSEGV handler", sigaction(SIGSEGV, &sa, NULL));
    sigaction(SIGSEGV, NULL, &old);
    check(old.sa_sigaction == on_segv &&
              (old.sa_flags & ~0x04000000) == (SA_SIGINFO | SA_ONSTACK) &&
              sigismember(&old.sa_mask, SIGUSR2) && !sigismember(&old.sa_mask, SIGUSR1),
          "the query returns the program's handler, flags and mask", "flags %#x",
          old.sa_flags);
    g_segv_hits = 0;
    if (!sigsetjmp(g_segv_jmp, 1))
        touch(m.none);
    expect_eq("the program's handler runs for the program's own fault", g_segv_hits, 1);

    int ep = mkepoll(), p[2];
    mkpipe(p);
    add(ep, p[0], EPOLLIN, 0x61);
    put(p[1], 1);
    expect_err("with the program's handler installed, a bad buffer is still EFAULT",
               epoll_wait(ep, opaque_ptr(m.ro), 4, 0), EFAULT);
    expect_eq("and the program's handler did not run", g_segv_hits, 1);
    close_pair(p);
    xclose(ep);

    void (*prev)(int) = signal(SIGSEGV, SIG_DFL);
    check((void *)prev == (void *)on_segv, "signal() returns the previous handler", "got %p",
          (void *)prev);
    prev = signal(SIGSEGV, SIG_DFL);
    check(prev == SIG_DFL, "signal() then returns SIG_DFL", "got %p", (void *)prev);

    check(!strcmp(child_end(fault_default, m.none, desc, sizeof desc), "killed by SEGV"),
          "a fault under SIG_DFL kills with SIGSEGV", "%s", desc);
    check(!strcmp(child_end(fault_ignored, m.none, desc, sizeof desc), "killed by SEGV"),
          "a fault under SIG_IGN still kills with SIGSEGV", "%s", desc);
    check(!strcmp(child_end(kill_ignored, NULL, desc, sizeof desc), "exit 7"),
          "a SIGSEGV sent with kill under SIG_IGN is ignored", "%s", desc);
    check(!strcmp(child_end(kill_bus_default, NULL, desc, sizeof desc), "killed by BUS"),
          "a SIGBUS sent with kill under SIG_DFL kills with SIGBUS", "%s", desc);
    check(!strcmp(child_end(fault_resethand, m.none, desc, sizeof desc), "killed by SEGV"),
          "SA_RESETHAND: the handler runs once, then the default kills", "%s", desc);
    bad_mem_free(&m);
}

/* ---- Exhausted limits ----------------------------------------------------- */

static void g_limits(void)
{
    /* fd exhaustion: EMFILE from every creating call, then everything works. */
    struct rlimit old_lim, lim;
    getrlimit(RLIMIT_NOFILE, &old_lim);
    int probe = dup(0), base = probe;
    close(probe);
    lim = old_lim;
    lim.rlim_cur = (rlim_t)base + 12;
    setrlimit(RLIMIT_NOFILE, &lim);
    int eps[32], neps = 0, e = 0;
    while (neps < 32) {
        int fd = epoll_create1(0);
        if (fd < 0) {
            e = errno;
            break;
        }
        eps[neps++] = fd;
    }
    check(e == EMFILE, "epoll_create1 at the fd limit gives EMFILE", "got %s", errname(e));
    int pp[2], r = pipe(pp);
    expect_err("pipe at the fd limit gives EMFILE", r, EMFILE);
    expect_err("eventfd at the fd limit gives EMFILE", eventfd(0, 0), EMFILE);
    r = socketpair(AF_UNIX, SOCK_STREAM, 0, pp);
    expect_err("socketpair at the fd limit gives EMFILE", r, EMFILE);
    expect_err("epoll_create at the fd limit gives EMFILE", epoll_create(1), EMFILE);
    /* The last instance made at the limit still works, with a pipe made after
     * two others are closed. */
    int last = eps[--neps];
    close(eps[--neps]);
    close(eps[--neps]);
    mkpipe(pp);
    add(last, pp[0], EPOLLIN, 0x71);
    put(pp[1], 1);
    expect_wait1("an instance made at the fd limit works", last, LONG_MS, 0x71, EPOLLIN);
    close_pair(pp);
    xclose(last);
    while (neps > 0)
        close(eps[--neps]);
    setrlimit(RLIMIT_NOFILE, &old_lim);
    int ep = mkepoll();
    mkpipe(pp);
    add(ep, pp[0], EPOLLIN | EPOLLET, 0x72);
    put(pp[1], 1);
    expect_wait1("after the limit is lifted everything works", ep, LONG_MS, 0x72, EPOLLIN);
    close_pair(pp);
    xclose(ep);
}

/* ---- max_user_watches ------------------------------------------------------ */

#define WATCHES_PATH "/proc/sys/fs/epoll/max_user_watches"
/* The limit counts per user, so the child runs as a user nobody else is:
 * every watch that user holds is the child's own. */
#define WATCHES_UID 54321

/* Registrations the processes of this user visibly hold (the `tfd:` lines
 * of every epoll fd); processes outside our pid namespace are not seen. */
static long user_watches(void)
{
    long total = 0;
    DIR *proc = opendir("/proc");
    struct dirent *d;
    while (proc && (d = readdir(proc))) {
        char path[300];
        struct stat st;
        if (d->d_name[0] < '0' || d->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s", d->d_name);
        if (stat(path, &st) || st.st_uid != getuid())
            continue;
        snprintf(path, sizeof path, "/proc/%s/fdinfo", d->d_name);
        DIR *fds = opendir(path);
        struct dirent *f;
        while (fds && (f = readdir(fds))) {
            char fpath[600], line[256];
            snprintf(fpath, sizeof fpath, "%s/%s", path, f->d_name);
            FILE *fp = fopen(fpath, "r");
            while (fp && fgets(line, sizeof line, fp))
                total += strncmp(line, "tfd:", 4) == 0;
            if (fp)
                fclose(fp);
        }
        if (fds)
            closedir(fds);
    }
    if (proc)
        closedir(proc);
    return total;
}

/* --enospc LIMIT: run as WATCHES_UID under max_user_watches == LIMIT; exits 0
 * when every check passed, else the number of the failed check. */
static int child_enospc(long limit)
{
    int ep = epoll_create1(0);
    int *fds = calloc((size_t)limit + 2, sizeof *fds);
    long n = 0;
    if (ep < 0 || !fds)
        return 10;
    for (;;) {
        int fd = eventfd(1, EFD_NONBLOCK);
        if (fd < 0)
            return 11;
        if (add(ep, fd, EPOLLIN, (uint64_t)n) != 0) {
            if (errno != ENOSPC)
                return 12;
            fds[n] = fd; /* kept, unregistered */
            break;
        }
        fds[n++] = fd;
        if (n > limit)
            return 13;
    }
    if (n != limit)
        return 14;
    /* At the limit: MOD works, a kernel-served fd is refused too, DEL frees
     * one slot, which can be used exactly once. */
    if (ctl(ep, EPOLL_CTL_MOD, fds[0], EPOLLIN | EPOLLET, 99) != 0)
        return 15;
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    if (add(ep, udp, EPOLLOUT, 7) == 0 || errno != ENOSPC)
        return 16;
    if (ctl(ep, EPOLL_CTL_DEL, fds[0], 0, 0) != 0 || add(ep, fds[n], EPOLLIN, 5) != 0)
        return 17;
    if (add(ep, fds[0], EPOLLIN, 6) == 0 || errno != ENOSPC)
        return 18;
    /* State after ENOSPC: exactly `limit` registrations, all ready. */
    struct epoll_event *ev = calloc((size_t)limit + 2, sizeof *ev);
    if (!ev || epoll_wait(ep, ev, (int)limit + 2, 0) != limit)
        return 19;
    return 0;
}

static void g_watches(void)
{
    int fd = open(WATCHES_PATH, O_RDWR);
    if (geteuid() != 0 || fd < 0) {
        check(1, "max_user_watches: skipped (needs root to lower the limit)", "-");
        xclose(fd);
        return;
    }
    char old[64] = { 0 }, val[64];
    if (read(fd, old, sizeof old - 1) <= 0) {
        perror("read max_user_watches");
        exit(2);
    }
    /* Low for the test user, still far above what root's processes hold. */
    long limit = 1000 + user_watches() * 2;
    int len = snprintf(val, sizeof val, "%ld\n", limit);
    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_max < (rlim_t)limit + 64) {
        check(1, "max_user_watches: skipped (RLIMIT_NOFILE too low)", "-");
        close(fd);
        return;
    }
    if (pwrite(fd, val, (size_t)len, 0) != len)
        perror("write max_user_watches");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char arg[32];
        snprintf(arg, sizeof arg, "%ld", limit);
        lim.rlim_cur = lim.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &lim) || setgid(WATCHES_UID) || setuid(WATCHES_UID))
            _exit(126);
        execl(g_self, g_self, "--enospc", arg, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (pwrite(fd, old, strlen(old), 0) != (ssize_t)strlen(old))
        perror("restore max_user_watches");
    close(fd);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "ENOSPC after exactly max_user_watches registrations; MOD, DEL, state intact",
          "child check %d failed", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* ---- Epoll fds the library did not create ---------------------------------- */

/* epoll_create1 by the syscall instruction itself: libc's syscall() is a door the
 * library serves (group rawcall), this is not. */
static int foreign_epoll_create1(int flags)
{
    long r;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"((long)SYS_epoll_create1), "D"((long)flags)
                     : "rcx", "r11", "memory");
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return (int)r;
}

static void g_foreign(void)
{
    /* Made by the syscall instruction: the library never saw it being created. */
    int raw = foreign_epoll_create1(EPOLL_CLOEXEC);
    int p[2], ep = mkepoll();
    mkpipe(p);
    expect_ok("an epoll fd made by a raw syscall", raw);
    expect_ok("takes a pipe made through libc", add(raw, p[0], EPOLLIN, 0x81));
    expect_ok("and the same pipe stays addable to a library instance",
              add(ep, p[0], EPOLLIN | EPOLLET, 0x82));
    put(p[1], 1);
    expect_wait1("the raw instance reports the write", raw, LONG_MS, 0x81, EPOLLIN);
    expect_wait1("the library instance reports it too", ep, 0, 0x82, EPOLLIN);
    expect_ok("the raw instance can be added to a library instance",
              add(ep, raw, EPOLLIN, 0x83));
    expect_wait1("and reports readable there", ep, 0, 0x83, EPOLLIN);
    expect_err("adding the library instance back to the raw one is a loop",
               add(raw, ep, EPOLLIN, 0x84), ELOOP);
    drain(p[0]);
    expect_wait0("drained: the raw instance is quiet", raw);
    expect_err("ADD of the same pipe twice to the raw instance gives EEXIST",
               add(raw, p[0], EPOLLIN, 0), EEXIST);
    /* Closing the pipe's only fd removes it from both instances. */
    close_pair(p);
    expect_wait0("after close the raw instance reports nothing", raw);
    expect_err("DEL after close gives EBADF", epoll_ctl(raw, EPOLL_CTL_DEL, 3000, NULL), EBADF);
    xclose(raw);
    xclose(ep);
}

/* ---- Eventfds the kernel writes: Linux AIO completions ---------------------- */

/* Under uepoll, io_setup makes the library stop serving for the rest of the process:
 * the groups after this one are checked served when scripts/conformance.sh runs each
 * group alone. */
static void g_aio(void)
{
    int efd = eventfd(0, EFD_NONBLOCK), ep = mkepoll();
    add(ep, efd, EPOLLIN | EPOLLET, 0x91);
    int f = open("/proc/self/exe", O_RDONLY);
    aio_context_t actx = 0;
    if (syscall(SYS_io_setup, 8, &actx) != 0) {
        check(1, "AIO: skipped (io_setup unavailable)", "-");
        xclose(f);
        xclose(efd);
        xclose(ep);
        return;
    }
    static char buf[4096];
    struct iocb cb;
    memset(&cb, 0, sizeof cb);
    cb.aio_fildes = (uint32_t)f;
    cb.aio_lio_opcode = IOCB_CMD_PREAD;
    cb.aio_buf = (uint64_t)(uintptr_t)buf;
    cb.aio_nbytes = sizeof buf;
    cb.aio_flags = IOCB_FLAG_RESFD;
    cb.aio_resfd = (uint32_t)efd;
    struct iocb *cbs[1] = { &cb };
    expect_eq("io_submit with a completion eventfd", syscall(SYS_io_submit, actx, 1, cbs), 1);
    /* Regression (nginx "aio on"): the kernel writes the eventfd, no call the
     * library sees does, and the completion was never reported. */
    expect_wait1("the completion is reported on the eventfd", ep, LONG_MS, 0x91, EPOLLIN);
    uint64_t v = 0;
    expect_eq("the eventfd counts one completion", read(efd, &v, 8) == 8 ? (long long)v : -1, 1);
    struct io_event done[1];
    expect_eq("io_getevents returns it", syscall(SYS_io_getevents, actx, 1, 1, done, NULL), 1);
    syscall(SYS_io_destroy, actx);
    xclose(f);
    xclose(efd);
    xclose(ep);
}
