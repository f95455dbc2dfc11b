/*
 * conformance-promote.inc.c - group "promote": an instance across a fork child's
 * life, until the child has exec'd or exited (issue 13, section 1).
 *
 * Under uepoll a fork makes every instance kernel-only; once every child that got it
 * exec'd or exited without keeping an epoll fd, the instance is served again
 * (src/files/promote.rs). Each shape here must give the kernel's answers on both
 * sides: registrations made before and while the child lived, an ET item with an
 * unconsumed edge, a disarmed ONESHOT item, and a file made afterwards (served by the
 * engine under uepoll). That the engine serves again is checked outside, by
 * c-tests/promote-served.c under UEPOLL_STATS (make test-conformance), since the
 * lines here must be the same on the kernel.
 *
 * Included by conformance.c, after the rawcall group (reap, move_fd).
 */

/* A child that waits for one byte on `go` (or EOF), runs `before` (if any), then
 * exec's `path` with `arg` (or leaves with _exit when path is NULL). */
static pid_t promote_child(int go, void (*before)(void *), void *ctx, const char *path,
                           const char *arg)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    if (go >= 0) {
        char c;
        while (read(go, &c, 1) < 0 && errno == EINTR)
            ;
    }
    if (before)
        before(ctx);
    if (!path)
        _exit(0);
    char *argv[] = { (char *)path, (char *)arg, NULL };
    execv(path, argv);
    _exit(127);
}

/* A pipe the child blocks on until the parent writes its end. */
static void promote_gate(int g[2])
{
    if (pipe2(g, O_CLOEXEC) != 0) {
        perror("pipe2");
        exit(2);
    }
}

static void promote_release(int g[2])
{
    if (write(g[1], "g", 1) != 1) {
        perror("write");
        exit(2);
    }
    close_pair(g);
}

/* The parent's instance after the round trip, with a pipe made afterwards: its
 * events, MOD and DEL as the kernel answers them. */
static void promote_after(const char *how, int ep)
{
    char desc[160];
    int q[2];
    mkpipe(q);
    snprintf(desc, sizeof desc, "%s: ADD of a pipe made afterwards", how);
    expect_eq(desc, add(ep, q[0], EPOLLIN, 0xAF), 0);
    snprintf(desc, sizeof desc, "%s: nothing before the write", how);
    expect_wait0(desc, ep);
    put(q[1], 1);
    snprintf(desc, sizeof desc, "%s: its write is reported", how);
    expect_wait1(desc, ep, LONG_MS, 0xAF, EPOLLIN);
    snprintf(desc, sizeof desc, "%s: MOD to OUT on the read end", how);
    expect_eq(desc, ctl(ep, EPOLL_CTL_MOD, q[0], EPOLLOUT, 0xB0), 0);
    snprintf(desc, sizeof desc, "%s: reports nothing then", how);
    expect_wait0(desc, ep);
    snprintf(desc, sizeof desc, "%s: DEL", how);
    expect_eq(desc, epoll_ctl(ep, EPOLL_CTL_DEL, q[0], NULL), 0);
    snprintf(desc, sizeof desc, "%s: a second DEL gives ENOENT", how);
    expect_err(desc, epoll_ctl(ep, EPOLL_CTL_DEL, q[0], NULL), ENOENT);
    close_pair(q);
}

/* fork then exec (execv, execlp), and fork then _exit: a registration made before the fork still
 * reports, and a file made afterwards behaves as the kernel's. */
static void promote_exec_and_exit(void)
{
    for (int round = 0; round < 3; round++) {
        const char *how = round == 0 ? "fork then exec"
                          : round == 1 ? "fork then _exit" : "fork then execlp";
        char desc[160];
        int ep = epoll_create1(EPOLL_CLOEXEC), p[2];
        mkpipe(p);
        add(ep, p[0], EPOLLIN, 0xBF);
        pid_t pid;
        if (round == 2) {
            fflush(stdout);
            pid = fork();
            if (pid == 0) {
                execlp("true", "true", (char *)NULL);
                _exit(127);
            }
        } else {
            pid = promote_child(-1, NULL, NULL, round == 0 ? "/bin/true" : NULL, NULL);
        }
        snprintf(desc, sizeof desc, "%s: the child ends well", how);
        expect_eq(desc, reap(pid), 0);
        snprintf(desc, sizeof desc, "%s: nothing is ready", how);
        expect_wait0(desc, ep);
        put(p[1], 1);
        snprintf(desc, sizeof desc, "%s: the pipe registered before the fork reports", how);
        expect_wait1(desc, ep, LONG_MS, 0xBF, EPOLLIN);
        drain(p[0]);
        promote_after(how, ep);
        close_pair(p);
        xclose(ep);
    }
}

/* A child that keeps running (a prefork worker): while it lives, the instance and the
 * files it shares answer as the kernel's; after it exec's, too. */
static void promote_long_lived(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC), p[2], g[2];
    mkpipe(p);
    add(ep, p[0], EPOLLIN, 0x11);
    promote_gate(g);
    pid_t pid = promote_child(g[0], NULL, NULL, "/bin/true", NULL);
    close(g[0]);
    g[0] = -1;
    promote_after("while the child runs", ep);
    put(p[1], 1);
    expect_wait1("while the child runs: the shared pipe reports", ep, LONG_MS, 0x11, EPOLLIN);
    drain(p[0]);
    expect_wait0("while the child runs: drained, nothing", ep);
    promote_release(g);
    expect_eq("the long-lived child exec's at last", reap(pid), 0);
    promote_after("after the long-lived child", ep);
    close_pair(p);
    xclose(ep);
}

static void promote_dup_to_stdout(void *ctx)
{
    int *w = ctx;
    if (dup2(*w, 1) != 1)
        _exit(126);
}

/* A child that puts an inherited pipe end on its stdout and exec's: its output is
 * reported to the parent, and the pipe's hang-up when it ends. */
static void promote_child_stdout(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC), p[2];
    mkpipe(p);
    add(ep, p[0], EPOLLIN, 0x5D);
    pid_t pid = promote_child(-1, promote_dup_to_stdout, &p[1], "/bin/echo", "hi");
    expect_eq("dup2 onto stdout then exec: the child ends well", reap(pid), 0);
    expect_wait1("its output is reported", ep, LONG_MS, 0x5D, EPOLLIN);
    char buf[8] = { 0 };
    expect_eq("and reads back", read(p[0], buf, sizeof buf), 3);
    check(memcmp(buf, "hi\n", 3) == 0, "as the child wrote it", "got %.3s", buf);
    expect_wait0("nothing more while the parent holds the write end", ep);
    close(p[1]);
    p[1] = -1;
    expect_wait1("the hang-up once the parent closes its end", ep, LONG_MS, 0x5D, EPOLLHUP);
    expect_eq("DEL of the hung-up pipe", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL), 0);
    promote_after("after the stdout child", ep);
    close_pair(p);
    xclose(ep);
}

struct promote_touch {
    int ep, fd;
};

static void promote_touch_instance(void *ctx)
{
    struct promote_touch *t = ctx;
    if (add(t->ep, t->fd, EPOLLIN, 0xC2) != 0)
        _exit(125);
    /* A pipe of the child's own, close-on-exec: its registration goes with it. */
    int c[2];
    if (pipe2(c, O_CLOEXEC | O_NONBLOCK) != 0 || write(c[1], "c", 1) != 1 ||
        add(t->ep, c[0], EPOLLIN, 0xC3) != 0)
        _exit(124);
}

/* A child that adds to the shared instance before its exec: the parent's waits report
 * what the child registered on the parent's pipe, and not the child's own pipe, which
 * closed at the exec. */
static void promote_child_touches(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC), p[2];
    mkpipe(p);
    struct promote_touch t = { ep, p[0] };
    pid_t pid = promote_child(-1, promote_touch_instance, &t, "/bin/true", NULL);
    expect_eq("a child that adds before its exec ends well", reap(pid), 0);
    expect_wait0("its own pipe's registration went with its exec", ep);
    put(p[1], 1);
    expect_wait1("its registration of the parent's pipe reports", ep, LONG_MS, 0xC2, EPOLLIN);
    expect_err("ADD of that pipe again gives EEXIST", add(ep, p[0], EPOLLIN, 0xC4), EEXIST);
    expect_eq("MOD of it", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN, 0xC5), 0);
    expect_wait1("reports with the new data", ep, LONG_MS, 0xC5, EPOLLIN);
    expect_eq("DEL of it", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL), 0);
    expect_wait0("gone", ep);
    promote_after("after the touching child", ep);
    close_pair(p);
    xclose(ep);
}

/* ET items with an unconsumed edge, made before the fork and while the child lived:
 * each edge is reported once after the round trip, and the next write makes a new one. */
static void promote_et_edge(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC), p[2], q[2], g[2];
    mkpipe(p);
    add(ep, p[0], EPOLLIN | EPOLLET, 0xE1);
    put(p[1], 1);
    promote_gate(g);
    pid_t pid = promote_child(g[0], NULL, NULL, "/bin/true", NULL);
    close(g[0]);
    g[0] = -1;
    mkpipe(q);
    add(ep, q[0], EPOLLIN | EPOLLET, 0xE2);
    put(q[1], 1);
    promote_release(g);
    expect_eq("ET round trip: the child exec's", reap(pid), 0);
    struct epoll_event ev[MAXEV];
    int n = epoll_wait(ep, ev, MAXEV, LONG_MS);
    if (n == 1) /* both edges may come in one wait or two */
        n += epoll_wait(ep, ev + 1, MAXEV - 1, LONG_MS);
    check(n == 2 && find_data(ev, n, 0xE1) >= 0 && find_data(ev, n, 0xE2) >= 0,
          "ET round trip: both pending edges are reported", "n=%d", n);
    expect_wait0("ET round trip: once", ep);
    put(q[1], 1);
    expect_wait1("ET round trip: a new write is a new edge", ep, LONG_MS, 0xE2, EPOLLIN);
    expect_wait0("ET round trip: once again", ep);
    close_pair(p);
    close_pair(q);
    xclose(ep);
}

/* ONESHOT items that fired, before the fork and while the child lived, stay disarmed
 * across the round trip (no hang-up either) until MOD re-arms them. */
static void promote_oneshot(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC), p[2], q[2], g[2];
    mkpipe(p);
    add(ep, p[0], EPOLLIN | EPOLLONESHOT, 0x01);
    put(p[1], 1);
    expect_wait1("ONESHOT round trip: fires before the fork", ep, LONG_MS, 0x01, EPOLLIN);
    promote_gate(g);
    pid_t pid = promote_child(g[0], NULL, NULL, "/bin/true", NULL);
    close(g[0]);
    g[0] = -1;
    mkpipe(q);
    add(ep, q[0], EPOLLIN | EPOLLONESHOT, 0x02);
    put(q[1], 1);
    expect_wait1("ONESHOT round trip: fires while the child lives", ep, LONG_MS, 0x02, EPOLLIN);
    promote_release(g);
    expect_eq("ONESHOT round trip: the child exec's", reap(pid), 0);
    put(p[1], 1);
    put(q[1], 1);
    close(p[1]);
    close(q[1]);
    p[1] = q[1] = -1;
    expect_wait0("ONESHOT round trip: both stay disarmed, hang-up included", ep);
    expect_err("ONESHOT round trip: ADD gives EEXIST", add(ep, q[0], EPOLLIN, 0x03), EEXIST);
    expect_eq("ONESHOT round trip: MOD re-arms", ctl(ep, EPOLL_CTL_MOD, q[0], EPOLLIN, 0x04), 0);
    expect_wait1("ONESHOT round trip: reports once re-armed", ep, LONG_MS, 0x04,
                 EPOLLIN | EPOLLHUP);
    expect_eq("ONESHOT round trip: MOD re-arms the other", ctl(ep, EPOLL_CTL_MOD, p[0],
                                                                EPOLLIN | EPOLLONESHOT, 0x05),
              0);
    struct epoll_event ev[MAXEV];
    int n = epoll_wait(ep, ev, MAXEV, LONG_MS);
    check(n == 2 && find_data(ev, n, 0x04) >= 0 && find_data(ev, n, 0x05) >= 0,
          "ONESHOT round trip: the level item and the re-armed one", "n=%d", n);
    expect_wait1("ONESHOT round trip: then only the level item", ep, LONG_MS, 0x04,
                 EPOLLIN | EPOLLHUP);
    close_pair(p);
    close_pair(q);
    xclose(ep);
}

/* An instance without close-on-exec: the exec'd child keeps it. The parent's
 * registrations, and one the exec'd image adds, all report. */
static void promote_kept_instance(void)
{
    int ep = epoll_create1(0), p[2];
    mkpipe(p);
    char epstr[16], fdstr[16];
    snprintf(epstr, sizeof epstr, "%d", ep);
    snprintf(fdstr, sizeof fdstr, "%d", p[0]);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *args[] = { (char *)g_self, "--child-add", epstr, fdstr, "0x7E", NULL };
        execv(g_self, args);
        _exit(127);
    }
    expect_eq("an exec'd image that keeps the instance adds to it", reap(pid), 0);
    put(p[1], 1);
    expect_wait1("the parent sees that registration", ep, LONG_MS, 0x7E, EPOLLIN);
    drain(p[0]);
    promote_after("after a child that kept the instance", ep);
    close_pair(p);
    xclose(ep);
}

struct promote_waiter {
    int ep, n;
    struct epoll_event ev[MAXEV];
};

static void *promote_wait_thread(void *arg)
{
    struct promote_waiter *w = arg;
    w->n = epoll_wait(w->ep, w->ev, MAXEV, 10000);
    return NULL;
}

/* A thread blocked in a wait on the instance while the child lives and after it has
 * exec'd: a pipe added and written meanwhile wakes it, and the instance works after. */
static void promote_blocked_waiter(void)
{
    struct promote_waiter w = { .ep = epoll_create1(EPOLL_CLOEXEC), .n = -2 };
    pthread_t t;
    pthread_create(&t, NULL, promote_wait_thread, &w);
    sleep_ms(20);
    pid_t pid = promote_child(-1, NULL, NULL, "/bin/true", NULL);
    expect_eq("a blocked waiter: the child exec's", reap(pid), 0);
    int q[2];
    mkpipe(q);
    add(w.ep, q[0], EPOLLIN, 0xD1);
    put(q[1], 1);
    pthread_join(t, NULL);
    check(w.n == 1 && w.ev[0].data.u64 == 0xD1 && w.ev[0].events == EPOLLIN,
          "a blocked waiter: woken by the pipe added after the exec", "n=%d", w.n);
    expect_wait1("a blocked waiter: the pipe still reports", w.ep, LONG_MS, 0xD1, EPOLLIN);
    drain(q[0]);
    expect_wait0("a blocked waiter: drained", w.ep);
    promote_after("after the blocked waiter", w.ep);
    close_pair(q);
    xclose(w.ep);
}

struct promote_writer {
    int pw, efd, rounds;
};

/* Another thread writing to a pipe and an eventfd made before the fork, while the
 * main thread forks, reaps and waits (under uepoll the files are served again at one
 * of those waits). */
static void *promote_writer_thread(void *arg)
{
    struct promote_writer *w = arg;
    for (int i = 0; i < w->rounds; i++) {
        uint64_t one = 1;
        if (write(w->pw, "w", 1) != 1 || write(w->efd, &one, 8) != 8)
            break;
        sleep_ms(1);
    }
    return NULL;
}

/* A close-on-exec pipe and eventfd made before the fork, level-triggered, with data
 * pending across a fork+exec round trip (under uepoll: served again afterwards,
 * src/files/filepromo.rs), written by another thread all along, one of them with a
 * number dup'd while the child lived; with `kept`, the pipe and eventfd lose
 * close-on-exec and the exec'd image keeps them (under uepoll: they stay with the
 * kernel). The counts, the events and MOD/DEL answer as the kernel's. */
static void promote_files_round_trip(int kept)
{
    const char *how = kept ? "pre-fork files kept by the child" : "pre-fork files";
    char desc[160];
    enum { ROUNDS = 40 };
    int ep = epoll_create1(EPOLL_CLOEXEC), p[2];
    int efd = eventfd(0, EFD_NONBLOCK | (kept ? 0 : EFD_CLOEXEC));
    if (pipe2(p, O_NONBLOCK | (kept ? 0 : O_CLOEXEC)) != 0 || efd < 0) {
        perror("pipe2, eventfd");
        exit(2);
    }
    add(ep, p[0], EPOLLIN, 0xF1);
    add(ep, efd, EPOLLIN, 0xF2);
    uint64_t three = 3;
    put(p[1], 1);
    snprintf(desc, sizeof desc, "%s: the eventfd write", how);
    expect_eq(desc, write(efd, &three, 8), 8);
    struct promote_writer w = { p[1], efd, ROUNDS };
    pthread_t t;
    pthread_create(&t, NULL, promote_writer_thread, &w);
    pid_t pid = promote_child(-1, NULL, NULL, "/bin/true", NULL);
    int dup_efd = dup(efd);
    snprintf(desc, sizeof desc, "%s: the child exec's", how);
    expect_eq(desc, reap(pid), 0);
    /* Waits while the writer still writes: the pending data is reported each time. */
    for (int i = 0; i < 5; i++) {
        struct epoll_event ev[MAXEV];
        int n = epoll_wait(ep, ev, MAXEV, LONG_MS);
        snprintf(desc, sizeof desc, "%s: both reported during the writes (%d)", how, i);
        check(n == 2 && find_data(ev, n, 0xF1) >= 0 && find_data(ev, n, 0xF2) >= 0 &&
                  ev[0].events == EPOLLIN && ev[1].events == EPOLLIN,
              desc, "n=%d", n);
        sleep_ms(2);
    }
    pthread_join(t, NULL);
    int queued = -1;
    ioctl(p[0], FIONREAD, &queued);
    snprintf(desc, sizeof desc, "%s: every byte is in the pipe", how);
    expect_eq(desc, queued, 1 + ROUNDS);
    uint64_t v = 0;
    snprintf(desc, sizeof desc, "%s: the eventfd read through the dup'd number", how);
    expect_eq(desc, read(dup_efd, &v, 8), 8);
    snprintf(desc, sizeof desc, "%s: the counter has every write", how);
    expect_eq(desc, (long long)v, 3 + ROUNDS);
    snprintf(desc, sizeof desc, "%s: the pipe drains", how);
    expect_eq(desc, drain(p[0]), 1 + ROUNDS);
    snprintf(desc, sizeof desc, "%s: nothing ready once read", how);
    expect_wait0(desc, ep);
    uint64_t one = 1;
    snprintf(desc, sizeof desc, "%s: a write through the dup'd number", how);
    expect_eq(desc, write(dup_efd, &one, 8), 8);
    snprintf(desc, sizeof desc, "%s: is reported for the eventfd", how);
    expect_wait1(desc, ep, LONG_MS, 0xF2, EPOLLIN);
    snprintf(desc, sizeof desc, "%s: MOD of the eventfd to OUT", how);
    expect_eq(desc, ctl(ep, EPOLL_CTL_MOD, efd, EPOLLOUT, 0xF3), 0);
    snprintf(desc, sizeof desc, "%s: reports OUT", how);
    expect_wait1(desc, ep, LONG_MS, 0xF3, EPOLLOUT);
    snprintf(desc, sizeof desc, "%s: DEL of the eventfd", how);
    expect_eq(desc, epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL), 0);
    put(p[1], 2);
    snprintf(desc, sizeof desc, "%s: a new pipe write is reported", how);
    expect_wait1(desc, ep, LONG_MS, 0xF1, EPOLLIN);
    close(p[1]);
    p[1] = -1;
    drain(p[0]);
    snprintf(desc, sizeof desc, "%s: the hang-up once the write end is closed", how);
    expect_wait1(desc, ep, LONG_MS, 0xF1, EPOLLHUP);
    snprintf(desc, sizeof desc, "%s: DEL of the pipe", how);
    expect_eq(desc, epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL), 0);
    snprintf(desc, sizeof desc, "%s: a second DEL gives ENOENT", how);
    expect_err(desc, epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL), ENOENT);
    close_pair(p);
    xclose(efd);
    xclose(dup_efd);
    xclose(ep);
}

/* The `eventfd-id:` of eventfd `fd` (its /proc/self/fdinfo line), or -1. */
static long promote_eventfd_id(int fd)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return -1;
    ssize_t n = read(f, buf, sizeof buf - 1);
    close(f);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    const char *line = strstr(buf, "eventfd-id:");
    return line ? strtol(line + strlen("eventfd-id:"), NULL, 10) : -1;
}

/* What the child of promote_eventfd_id_reused does before its exec: close its copy of
 * the eventfd, tell the parent, and wait for the word to go on. */
struct promote_reuse_child {
    int old, told, go;
};

static void promote_reuse_child_closes(void *arg)
{
    struct promote_reuse_child *c = arg;
    char ch = 'c';
    close(c->old);
    if (write(c->told, &ch, 1) != 1)
        _exit(126);
    while (read(c->go, &ch, 1) < 0 && errno == EINTR)
        ;
}

/* An eventfd demoted at a fork is remembered by its id (every eventfd shares one
 * inode). Once the parent and the child have both closed it, its id is free again, and
 * the kernel gives it to the next eventfd the process makes (ids go lowest first),
 * which uepoll serves from its start and which an instance made after the fork watches
 * through the engine. When the child then exec's, the promotion pass finds the
 * remembered id on that number: it must leave the file alone (it is the program's new
 * file, already served), or it would replace the file's entry, and the instance's item
 * would go on watching the replaced one. */
static void promote_eventfd_id_reused(void)
{
    const char *how = "promote, an eventfd's id reused";
    char desc[160], ch;
    int ep = mkepoll();
    int old = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    long old_id = promote_eventfd_id(old);
    int told[2], go[2];
    promote_gate(told);
    promote_gate(go);
    struct promote_reuse_child c = { old, told[1], go[0] };
    pid_t pid = promote_child(-1, promote_reuse_child_closes, &c, "/bin/true", NULL);
    snprintf(desc, sizeof desc, "%s: the child closed its copy", how);
    expect_eq(desc, read(told[0], &ch, 1), 1);
    close_pair(told);
    xclose(old);
    /* The kernel's eventfd ids are one pool for the whole system, lowest first: an
     * eventfd that another process makes right now can take the id just freed (6 runs
     * in 10 failed here with a process that makes and closes eventfds in a loop). Such
     * an eventfd is gone soon; make ours again until the id comes back. */
    int efd = -1;
    for (int tries = 0; tries < 500; tries++) {
        efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (old_id < 0 || efd < 0 || promote_eventfd_id(efd) == old_id)
            break;
        xclose(efd);
        sleep_ms(1);
    }
    snprintf(desc, sizeof desc, "%s: the new eventfd has the closed one's id", how);
    expect_eq(desc, old_id >= 0 && promote_eventfd_id(efd) == old_id, 1);
    int ep2 = mkepoll();
    snprintf(desc, sizeof desc, "%s: ADD to an instance made after the fork", how);
    expect_eq(desc, add(ep2, efd, EPOLLIN, 0xE1), 0);
    uint64_t v = 5;
    snprintf(desc, sizeof desc, "%s: a write", how);
    expect_eq(desc, write(efd, &v, 8), 8);
    snprintf(desc, sizeof desc, "%s: is reported", how);
    expect_wait1(desc, ep2, LONG_MS, 0xE1, EPOLLIN);
    promote_release(go);
    snprintf(desc, sizeof desc, "%s: the child exec's", how);
    expect_eq(desc, reap(pid), 0);
    /* The first epoll calls after the child's exec run the promotion pass. */
    snprintf(desc, sizeof desc, "%s: still reported (level-triggered)", how);
    expect_wait1(desc, ep2, LONG_MS, 0xE1, EPOLLIN);
    snprintf(desc, sizeof desc, "%s: the first instance sees nothing", how);
    expect_wait0(desc, ep);
    v = 0;
    snprintf(desc, sizeof desc, "%s: the read", how);
    expect_eq(desc, read(efd, &v, 8), 8);
    snprintf(desc, sizeof desc, "%s: has the value written", how);
    expect_eq(desc, (long long)v, 5);
    snprintf(desc, sizeof desc, "%s: nothing once read", how);
    expect_wait0(desc, ep2);
    v = 2;
    snprintf(desc, sizeof desc, "%s: a second write", how);
    expect_eq(desc, write(efd, &v, 8), 8);
    snprintf(desc, sizeof desc, "%s: is reported too", how);
    expect_wait1(desc, ep2, LONG_MS, 0xE1, EPOLLIN);
    snprintf(desc, sizeof desc, "%s: DEL", how);
    expect_eq(desc, epoll_ctl(ep2, EPOLL_CTL_DEL, efd, NULL), 0);
    xclose(efd);
    xclose(ep2);
    xclose(ep);
}

static void g_promote(void)
{
    promote_exec_and_exit();
    promote_long_lived();
    promote_child_stdout();
    promote_child_touches();
    promote_et_edge();
    promote_oneshot();
    promote_kept_instance();
    promote_blocked_waiter();
    promote_files_round_trip(0);
    promote_files_round_trip(1);
    promote_eventfd_id_reused();
}
