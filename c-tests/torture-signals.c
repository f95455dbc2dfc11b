/* torture-signals.c - modes signals and handler-malloc (torture.c describes the modes). */
#include "torture-common.h"

/* ------------------------------------------------------------------ */
/* signals                                                             */
/* ------------------------------------------------------------------ */

#define BUSY 200
#define D_SELF 0x5e1fULL
#define D_EVFD 0xefdULL

struct st {
    pthread_t tid;
    int idx, et;
    int sp[2], evfd, ep, quiet; /* quiet: an instance with only sp[0] and evfd */
    atomic_ulong wrote_bytes, wrote_ev, sigs, handler_fail;
    uint64_t got_bytes, got_ev, eintr, waits, checks, events;
    struct epoll_event evs[BUSY + 16];
};

static struct st *g_st;
static __thread int tls_sidx = -1;
static int g_busy[BUSY][2];

static void storm_handler(int sig)
{
    int saved = errno;
    int i = tls_sidx;
    if (i >= 0) {
        struct st *s = &g_st[i];
        atomic_fetch_add_explicit(&s->sigs, 1, memory_order_relaxed);
        if (sig == SIGALRM || sig == SIGUSR2) {
            if (write(s->sp[1], "s", 1) == 1)
                atomic_fetch_add_explicit(&s->wrote_bytes, 1, memory_order_relaxed);
            else
                atomic_fetch_add_explicit(&s->handler_fail, 1, memory_order_relaxed);
        }
        if (sig == SIGUSR1 || sig == SIGUSR2) {
            uint64_t one = 1;
            if (write(s->evfd, &one, 8) == 8)
                atomic_fetch_add_explicit(&s->wrote_ev, 1, memory_order_relaxed);
            else
                atomic_fetch_add_explicit(&s->handler_fail, 1, memory_order_relaxed);
        }
    }
    errno = saved;
}

static void drain_self(struct st *s)
{
    char buf[4096];
    for (;;) {
        ssize_t r = read(s->sp[0], buf, sizeof buf);
        if (r > 0) {
            s->got_bytes += (uint64_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno != EAGAIN)
            violation("signals: read self-pipe: %s", strerror(errno));
        break;
    }
}

static void drain_evfd(struct st *s)
{
    for (;;) {
        uint64_t v;
        ssize_t r = read(s->evfd, &v, 8);
        if (r == 8) {
            s->got_ev += v;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno != EAGAIN)
            violation("signals: read eventfd: %s", strerror(errno));
        break;
    }
}

/* Returns which of self-pipe / eventfd the events include (bit 0 / bit 1) and
 * drains them. */
static int storm_process(struct st *s, int n)
{
    int seen = 0;
    for (int k = 0; k < n; k++) {
        uint64_t d = s->evs[k].data.u64;
        if (d == D_SELF) {
            seen |= 1;
            drain_self(s);
        } else if (d == D_EVFD) {
            seen |= 2;
            drain_evfd(s);
        } else if (d >= BUSY) {
            violation("signals: thread %d got unknown data %#" PRIx64, s->idx, d);
        }
    }
    return seen;
}

/* With signals blocked nothing writes to this thread's self-pipe or eventfd: a
 * non-blocking wait must report each of them exactly when it holds data. */
static void storm_consistency(struct st *s, const char *when)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int avail = 0;
    ioctl(s->sp[0], FIONREAD, &avail);
    struct pollfd p = { .fd = s->evfd, .events = POLLIN };
    poll(&p, 1, 0);
    int evready = (p.revents & POLLIN) != 0;
    int n = epoll_wait(s->ep, s->evs, BUSY + 16, 0);
    if (n < 0) {
        violation("signals: epoll_wait (%s): %s", when, strerror(errno));
    } else {
        int seen = storm_process(s, n);
        if ((avail > 0) != ((seen & 1) != 0))
            violation("signals: thread %d (%s, %s): self-pipe holds %d bytes but the wait %s",
                      s->idx, s->et ? "ET" : "LT", when, avail,
                      (seen & 1) ? "reported it" : "did not report it");
        if (evready != ((seen & 2) != 0))
            violation("signals: thread %d (%s, %s): eventfd %s but the wait %s", s->idx,
                      s->et ? "ET" : "LT", when, evready ? "readable" : "not readable",
                      (seen & 2) ? "reported it" : "did not report it");
    }
    s->checks++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void *storm_worker(void *arg)
{
    struct st *s = arg;
    tls_sidx = s->idx;
    uint64_t rs = (g_seed + (uint64_t)s->idx * 7919) | 1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    uint32_t et = s->et ? EPOLLET : 0;
    while (!atomic_load(&g_stop)) {
        /* Mostly the busy instance (a long transfer when the signal lands), sometimes
         * the quiet one (asleep in the kernel when the signal lands). */
        int quiet = rnd(&rs) % 4 == 0;
        int ep = quiet ? s->quiet : s->ep;
        doing(s->idx, quiet ? "epoll_wait (quiet)" : "epoll_wait", ep);
        int n;
        int timeout = quiet ? 5 : rnd(&rs) % 4 == 0 ? 5 : 0;
        switch (rnd(&rs) % 3) {
        case 0:
            n = epoll_wait(ep, s->evs, BUSY + 16, timeout);
            break;
        case 1: {
            sigset_t none;
            sigemptyset(&none);
            n = epoll_pwait(ep, s->evs, BUSY + 16, timeout, &none);
            break;
        }
        default: {
            struct timespec ts = { 0, (long)timeout * 1000000 };
            n = epoll_pwait2(ep, s->evs, BUSY + 16, &ts, NULL);
            break;
        }
        }
        s->waits++;
        if (n < 0) {
            if (errno == EINTR)
                s->eintr++;
            else
                violation("signals: epoll_wait: %s", strerror(errno));
        } else {
            s->events += (uint64_t)n;
            doing(s->idx, "drain", s->sp[0]);
            storm_process(s, n);
        }
        if (s->waits % 32 == 0) {
            doing(s->idx, "consistency", s->sp[0]);
            storm_consistency(s, "running");
        }
        if (s->waits % 64 == 0) {
            /* Inside epoll_ctl and the fd table's write side when a signal lands. */
            doing(s->idx, "ctl MOD", s->sp[0]);
            struct epoll_event e = { .events = EPOLLIN | et, .data.u64 = D_SELF };
            if (epoll_ctl(s->ep, EPOLL_CTL_MOD, s->sp[0], &e) != 0)
                violation("signals: MOD: %s", strerror(errno));
            int q[2];
            doing(s->idx, "pipe+close", -1);
            if (pipe2(q, O_NONBLOCK | O_CLOEXEC) == 0) {
                struct epoll_event e2 = { .events = EPOLLIN, .data.u64 = 1 };
                epoll_ctl(s->ep, EPOLL_CTL_ADD, q[0], &e2);
                close(q[1]);
                close(q[0]);
            }
        }
        atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
    }
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    storm_consistency(s, "end");
    drain_self(s);
    drain_evfd(s);
    return NULL;
}

static atomic_ulong g_kills;

static void *storm_killer(void *arg)
{
    long kill_us = (long)arg;
    unsigned long k = 0;
    while (!atomic_load(&g_stop)) {
        for (int i = 0; i < g_nthreads; i++, k++) {
            pthread_kill(g_st[i].tid, (k & 1) ? SIGUSR1 : SIGUSR2);
            atomic_fetch_add_explicit(&g_kills, 1, memory_order_relaxed);
        }
        if (kill_us > 0)
            sleep_us(kill_us);
    }
    return NULL;
}

/* Before the threads start: a handler writes to a self-pipe exactly when the next
 * push onto the ready list must grow it, while this thread loops in malloc/free.
 * A library that allocates in that path re-enters malloc from the handler: the heap
 * is corrupted (glibc aborts) or the thread deadlocks. Returns how many such
 * handler writes were made. */
#define PRE_SELF 16
static int g_pre_w[PRE_SELF];
static volatile sig_atomic_t g_pre_target = -1, g_pre_fired;

static void pre_handler(int sig)
{
    (void)sig;
    int saved = errno, t = g_pre_target;
    if (t >= 0 && !g_pre_fired) {
        if (write(g_pre_w[t], "s", 1) == 1)
            g_pre_fired = 1;
    }
    errno = saved;
}

static int signals_prelude(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    static int fds[2 * 4200 + 2 * PRE_SELF];
    int nfds = 0, len = 0, made = 0;
    for (int i = 0; i < PRE_SELF; i++) {
        int p[2];
        if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
            return -1;
        fds[nfds++] = p[0], fds[nfds++] = p[1];
        g_pre_w[i] = p[1];
        struct epoll_event e = { .events = EPOLLIN, .data.u64 = 100000 + (uint64_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e);
    }
    signal(SIGALRM, pre_handler);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    struct itimerval it = { { 0, 200 }, { 0, 200 } }, off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &it, NULL);
    uint64_t rs = g_seed | 1;
    for (int cap = 4; cap <= 4096 && made < PRE_SELF; cap *= 2) {
        while (len < cap) { /* ready pipes: each ADD queues one item */
            int p[2];
            if (pipe2(p, O_CLOEXEC) != 0 || write(p[1], "b", 1) != 1)
                break;
            fds[nfds++] = p[0], fds[nfds++] = p[1];
            struct epoll_event e = { .events = EPOLLIN, .data.u64 = (uint64_t)len };
            epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e);
            len++;
        }
        g_pre_fired = 0;
        g_pre_target = made;
        double end = now_s() + 5;
        while (!g_pre_fired && now_s() < end) {
            void *q = malloc(4096 + (rnd(&rs) & 65535));
            free(q);
        }
        g_pre_target = -1;
        if (g_pre_fired)
            made++, len++;
    }
    setitimer(ITIMER_REAL, &off, NULL);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    close(ep);
    return made;
}

/* Mode handler-malloc: three rounds of signals_prelude, single-threaded. A library
 * that allocates in a handler's write corrupts the heap here (glibc aborts, or the
 * process crashes) in nearly every run; kernel epoll passes. */
int run_handler_malloc(void)
{
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 9000 && rl.rlim_max >= 9000) {
        rl.rlim_cur = 9000;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int made = 0, rounds = 3;
    for (int round = 0; round < rounds; round++) { /* each round crashes such a library ~1/2 */
        int m = signals_prelude();
        if (m < 0) {
            violation("handler-malloc: set-up failed");
            break;
        }
        made += m;
    }
    printf("mode: handler-malloc\nrounds: %d\n", rounds);
    printf("handler_writes_growing_ready_list_during_malloc: %d\n", made);
    if (made == 0)
        violation("handler-malloc: the timer never fired while the loop ran");
    printf("violations: %ld\n", atomic_load(&g_viol));
    return atomic_load(&g_viol) == 0 ? 0 : 1;
}

int run_signals(long timer_us, long kill_us)
{
    if (g_nthreads <= 0)
        g_nthreads = 4;
    if (g_nthreads > MAXTHREADS)
        g_nthreads = MAXTHREADS;
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by the killer and watchdog */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = storm_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* epoll_wait must still fail with EINTR */
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);

    for (int i = 0; i < BUSY; i++) {
        if (pipe2(g_busy[i], O_NONBLOCK | O_CLOEXEC) != 0 || write(g_busy[i][1], "b", 1) != 1) {
            perror("signals: busy pipe");
            return 1;
        }
    }
    g_st = calloc((size_t)g_nthreads, sizeof(*g_st));
    if (!g_st)
        abort();
    for (int i = 0; i < g_nthreads; i++) {
        struct st *s = &g_st[i];
        s->idx = i;
        s->et = i & 1;
        uint32_t et = s->et ? EPOLLET : 0;
        if (pipe2(s->sp, O_NONBLOCK | O_CLOEXEC) != 0)
            return 1;
        s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        s->ep = epoll_create1(EPOLL_CLOEXEC);
        s->quiet = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event e = { .events = EPOLLIN | et, .data.u64 = D_SELF };
        struct epoll_event e2 = { .events = EPOLLIN | et, .data.u64 = D_EVFD };
        if (s->evfd < 0 || s->ep < 0 || epoll_ctl(s->ep, EPOLL_CTL_ADD, s->sp[0], &e) != 0 ||
            epoll_ctl(s->ep, EPOLL_CTL_ADD, s->evfd, &e2) != 0 ||
            epoll_ctl(s->quiet, EPOLL_CTL_ADD, s->sp[0], &e) != 0 ||
            epoll_ctl(s->quiet, EPOLL_CTL_ADD, s->evfd, &e2) != 0) {
            perror("signals: setup");
            return 1;
        }
        for (int b = 0; b < BUSY; b++) {
            struct epoll_event eb = { .events = EPOLLIN, .data.u64 = (uint64_t)b };
            epoll_ctl(s->ep, EPOLL_CTL_ADD, g_busy[b][0], &eb);
        }
    }
    pthread_t wd = start_watchdog(g_nthreads);
    double t0 = now_s();
    for (int i = 0; i < g_nthreads; i++)
        pthread_create(&g_st[i].tid, NULL, storm_worker, &g_st[i]);
    pthread_t killer;
    pthread_create(&killer, NULL, storm_killer, (void *)kill_us);
    struct itimerval it = { { 0, timer_us }, { 0, timer_us } };
    setitimer(ITIMER_REAL, &it, NULL);
    while (now_s() - t0 < g_duration)
        sleep_us(50000);
    atomic_store(&g_stop, 1);
    pthread_join(killer, NULL);
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    for (int i = 0; i < g_nthreads; i++)
        pthread_join(g_st[i].tid, NULL);
    double secs = now_s() - t0;
    stop_watchdog(wd);

    uint64_t sigs = 0, wb = 0, gb = 0, we = 0, ge = 0, eintr = 0, waits = 0, checks = 0;
    uint64_t hfail = 0, events = 0;
    for (int i = 0; i < g_nthreads; i++) {
        struct st *s = &g_st[i];
        uint64_t w1 = atomic_load(&s->wrote_bytes), w2 = atomic_load(&s->wrote_ev);
        if (w1 != s->got_bytes)
            violation("signals: thread %d (%s): handlers wrote %" PRIu64 " bytes, %" PRIu64
                      " read",
                      i, s->et ? "ET" : "LT", w1, s->got_bytes);
        if (w2 != s->got_ev)
            violation("signals: thread %d (%s): handlers added %" PRIu64 " to the eventfd, %" PRIu64
                      " read",
                      i, s->et ? "ET" : "LT", w2, s->got_ev);
        sigs += atomic_load(&s->sigs), wb += w1, gb += s->got_bytes, we += w2;
        ge += s->got_ev, eintr += s->eintr, waits += s->waits, checks += s->checks;
        hfail += atomic_load(&s->handler_fail), events += s->events;
    }
    printf("mode: signals\nthreads: %d\nseconds: %.1f\ntimer_us: %ld\nkill_interval_us: %ld\n",
           g_nthreads, secs, timer_us, kill_us);
    printf("signals_handled: %" PRIu64 "\npthread_kills: %lu\n", sigs, atomic_load(&g_kills));
    printf("handler_bytes_written: %" PRIu64 "\nbytes_read: %" PRIu64 "\n", wb, gb);
    printf("handler_eventfd_adds: %" PRIu64 "\neventfd_read: %" PRIu64 "\n", we, ge);
    printf("handler_write_failures: %" PRIu64 "\n", hfail);
    printf("waits: %" PRIu64 "\nevents: %" PRIu64 "\neintr: %" PRIu64
           "\nconsistency_checks: %" PRIu64 "\n",
           waits, events, eintr, checks);
    printf("violations: %ld\n", atomic_load(&g_viol));
    return atomic_load(&g_viol) == 0 ? 0 : 1;
}
