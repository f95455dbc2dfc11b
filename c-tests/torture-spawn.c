/* torture-spawn.c - mode spawn, and the child-exec program it runs (torture.c describes the modes). */
#include "torture-common.h"

/* ------------------------------------------------------------------ */
/* spawn                                                               */
/* ------------------------------------------------------------------ */

#define NTOK 16
#define MAXCHK 48
#define CHILD_IN 900
#define CHILD_OUT 901

static int g_tok[NTOK][2];
static int g_tokep;

struct chk {
    int rd, wr, cloexec;
    long round;
};
static struct chk g_chk[MAXCHK];
static int g_nchk;
static int g_chkep;
static pthread_rwlock_t g_pause; /* creators hold it for reading, the checker writes */
static long g_round;

/* Used by exec'd children: wait for the parent on an inherited pipe, use epoll on
 * fds of its own, write to every inherited pipe, report. */
int child_exec_main(int in, int out)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event e = { .events = EPOLLIN, .data.u64 = 1 }, evs[8];
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, in, &e) != 0)
        return 20;
    int n = epoll_wait(ep, evs, 8, 10000);
    char c;
    if (n != 1 || evs[0].data.u64 != 1 || read(in, &c, 1) != 1 || c != 'g')
        return 21;
    int q[2], sv[2];
    if (pipe(q) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 22;
    int efd = eventfd(0, 0);
    struct epoll_event a = { .events = EPOLLIN, .data.u64 = 2 };
    struct epoll_event b = { .events = EPOLLIN | EPOLLET, .data.u64 = 3 };
    struct epoll_event d = { .events = EPOLLIN, .data.u64 = 4 };
    if (efd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &a) != 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &b) != 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &d) != 0)
        return 23;
    uint64_t one = 1;
    if (write(q[1], "x", 1) != 1 || write(sv[0], "y", 1) != 1 || write(efd, &one, 8) != 8)
        return 24;
    int seen = 0;
    double end = now_s() + 10;
    while (seen != 0x1c && now_s() < end) {
        n = epoll_wait(ep, evs, 8, 1000);
        for (int i = 0; i < n; i++)
            if (evs[i].data.u64 >= 2 && evs[i].data.u64 <= 4)
                seen |= 1 << evs[i].data.u64;
    }
    if (seen != 0x1c)
        return 25;
    close(q[0]);
    close(q[1]);
    close(sv[0]);
    close(sv[1]);
    close(efd);
    close(ep);
    write_inherited(in, out, NULL, 0);
    if (write(out, "K", 1) != 1)
        return 26;
    return 0;
}

static int fork_noexec_child(int in, int out)
{
    struct epoll_event evs[NTOK];
    int n = epoll_wait(g_tokep, evs, NTOK, 0);
    if (n < 0)
        return 30;
    for (int i = 0; i < n; i++)
        if (evs[i].data.u64 >= NTOK)
            return 31;
    int skip[NTOK];
    for (int i = 0; i < NTOK; i++)
        skip[i] = g_tok[i][1];
    int ep = epoll_create1(0);
    struct epoll_event e = { .events = EPOLLIN, .data.u64 = 5 };
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, in, &e) != 0)
        return 32;
    n = epoll_wait(ep, evs, 1, 10000);
    char c;
    if (n != 1 || evs[0].data.u64 != 5 || read(in, &c, 1) != 1)
        return 33;
    write_inherited(in, out, skip, NTOK);
    if (write(out, "K", 1) != 1)
        return 34;
    return 0;
}

static atomic_long g_tok_moves, g_cycles;

static void *spawn_worker(void *arg)
{
    long id = (long)arg;
    int idx = (int)id - 1;
    struct epoll_event ev[NTOK];
    unsigned long round = 0;
    while (!atomic_load(&g_stop)) {
        doing(idx, "token wait", g_tokep);
        int n = epoll_wait(g_tokep, ev, NTOK, 5);
        for (int i = 0; i < n; i++) {
            uint64_t k = ev[i].data.u64;
            if (k >= NTOK) {
                violation("spawn: token data %" PRIu64, k);
                continue;
            }
            char c;
            if (read(g_tok[k][0], &c, 1) == 1) {
                while (write(g_tok[(k + (uint64_t)id) % NTOK][1], "t", 1) != 1 && errno == EAGAIN)
                    ;
                atomic_fetch_add_explicit(&g_tok_moves, 1, memory_order_relaxed);
            }
        }
        if (++round % 4 == 0) {
            /* A private, served pipe and instance while forks happen. Blocking pipe, so
             * that children's inherited-pipe writes leave it alone. */
            doing(idx, "private cycle", -1);
            int q[2];
            if (pipe(q) != 0) {
                violation("spawn: pipe: %s", strerror(errno));
                continue;
            }
            int ep = epoll_create1(EPOLL_CLOEXEC);
            struct epoll_event e = { .events = EPOLLIN | (round & 8 ? EPOLLET : 0),
                                     .data.u64 = 77 },
                               out;
            epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &e);
            if (write(q[1], "p", 1) != 1)
                violation("spawn: private write");
            int r = epoll_wait(ep, &out, 1, 5000);
            char c;
            if (r != 1 || out.data.u64 != 77 || read(q[0], &c, 1) != 1)
                violation("spawn: private pipe+instance: wait gave %d", r);
            r = epoll_wait(ep, &out, 1, 0);
            if (r != 0)
                violation("spawn: private pipe reported after it was drained (%d)", r);
            close(q[0]);
            close(q[1]);
            close(ep);
            atomic_fetch_add_explicit(&g_cycles, 1, memory_order_relaxed);
        }
        atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
    }
    return NULL;
}

static atomic_long g_chk_created;

static void *spawn_creator(void *arg)
{
    int idx = (int)(long)arg;
    uint64_t rs = g_seed ^ 0xc0ffee;
    while (!atomic_load(&g_stop)) {
        pthread_rwlock_rdlock(&g_pause);
        if (g_nchk < MAXCHK) {
            int p[2];
            int cloexec = (int)(rnd(&rs) & 1);
            doing(idx, "create check pipe", -1);
            if (pipe2(p, O_NONBLOCK | (cloexec ? O_CLOEXEC : 0)) == 0) {
                struct epoll_event e = { .events = EPOLLIN, .data.u64 = (uint64_t)p[0] };
                if (epoll_ctl(g_chkep, EPOLL_CTL_ADD, p[0], &e) != 0)
                    violation("spawn: ADD check pipe: %s", strerror(errno));
                g_chk[g_nchk++] = (struct chk){ p[0], p[1], cloexec, g_round };
                atomic_fetch_add_explicit(&g_chk_created, 1, memory_order_relaxed);
            }
        } else {
            int k = (int)(rnd(&rs) % MAXCHK);
            doing(idx, "close check pipe", g_chk[k].rd);
            close(g_chk[k].rd);
            close(g_chk[k].wr);
            g_chk[k] = g_chk[--g_nchk];
        }
        pthread_rwlock_unlock(&g_pause);
        atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
        sched_yield();
    }
    return NULL;
}

static long g_chk_rounds, g_chk_pipes, g_chk_data;

/* Creators paused, child reaped: a fresh instance and the check instance must report
 * each check pipe exactly when poll() says it holds data. */
static void spawn_check(const char *action)
{
    pthread_rwlock_wrlock(&g_pause);
    int fresh = epoll_create1(EPOLL_CLOEXEC);
    for (int k = 0; k < g_nchk; k++) {
        struct epoll_event e = { .events = EPOLLIN, .data.u64 = (uint64_t)g_chk[k].rd };
        if (epoll_ctl(fresh, EPOLL_CTL_ADD, g_chk[k].rd, &e) != 0)
            violation("spawn: ADD to fresh instance: %s", strerror(errno));
    }
    struct epoll_event evs[MAXCHK + 8];
    int eps[2] = { fresh, g_chkep };
    const char *names[2] = { "a fresh instance", "the check instance" };
    for (int w = 0; w < 2; w++) {
        int n = epoll_wait(eps[w], evs, MAXCHK + 8, 0);
        for (int k = 0; k < g_nchk; k++) {
            struct pollfd p = { .fd = g_chk[k].rd, .events = POLLIN };
            poll(&p, 1, 0);
            int ready = (p.revents & POLLIN) != 0;
            int rep = 0;
            for (int i = 0; i < n; i++)
                if (evs[i].data.u64 == (uint64_t)g_chk[k].rd)
                    rep = 1;
            if (w == 0 && ready)
                g_chk_data++;
            if (ready != rep)
                violation("spawn: after %s, pipe %d/%d (created in round %ld%s, %s) %s but %s "
                          "%s it",
                          action, g_chk[k].rd, g_chk[k].wr, g_chk[k].round,
                          g_chk[k].round == g_round ? ", the round of this child" : "",
                          g_chk[k].cloexec ? "O_CLOEXEC" : "inheritable",
                          ready ? "holds the child's byte" : "is empty", names[w],
                          rep ? "reports" : "does not report");
        }
    }
    char buf[64];
    for (int k = 0; k < g_nchk; k++)
        while (read(g_chk[k].rd, buf, sizeof buf) > 0)
            ;
    g_chk_pipes += g_nchk;
    g_chk_rounds++;
    /* The check instance went to the kernel at the fork: use the fresh one from now on,
     * so that creators register pipes in a served instance again. */
    close(g_chkep);
    g_chkep = fresh;
    g_round++;
    pthread_rwlock_unlock(&g_pause);
}

/* Deterministic: one pipe registered twice in one instance, under fd a and under its
 * dup b; a is then closed (its item stays: the file is open through b). A fork must
 * leave both registrations reporting, each with its own data, and DEL(b) must remove
 * b's alone. (uepoll's demotion re-keys a's item to b, and the kernel ADD of the
 * second item under (file, b) fails with EEXIST: one registration is dropped.) */
static void check_fork_keeps_closed_number_item(void)
{
    for (int a_first = 0; a_first < 2; a_first++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0)
            return;
        int ep = epoll_create1(EPOLL_CLOEXEC);
        int a = p[0], b = dup(a);
        struct epoll_event ea = { .events = EPOLLIN, .data.u64 = 0xA },
                           eb = { .events = EPOLLIN, .data.u64 = 0xB }, out[4];
        if (a_first) {
            epoll_ctl(ep, EPOLL_CTL_ADD, a, &ea);
            epoll_ctl(ep, EPOLL_CTL_ADD, b, &eb);
        } else {
            epoll_ctl(ep, EPOLL_CTL_ADD, b, &eb);
            epoll_ctl(ep, EPOLL_CTL_ADD, a, &ea);
        }
        close(a);
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        reap_deadline(pid, 10);
        if (write(p[1], "x", 1) != 1)
            violation("spawn: closed-number check: write");
        int n = epoll_wait(ep, out, 4, 1000);
        int seen = 0;
        for (int i = 0; i < n; i++)
            seen |= out[i].data.u64 == 0xA ? 1 : out[i].data.u64 == 0xB ? 2 : 4;
        int r = epoll_ctl(ep, EPOLL_CTL_DEL, b, NULL);
        int n2 = epoll_wait(ep, out, 4, 0);
        int left = n2 == 1 && out[0].data.u64 == 0xA;
        if (seen != 3 || n != 2 || r != 0 || !left)
            violation("spawn: after a fork, an item whose fd was closed (data 0xA, dup still "
                      "open) and the dup's own item (0xB) in the same instance (%s added "
                      "first): wait gave %d event(s)%s%s, DEL(dup) gave %d, then %d event(s)%s "
                      "(kernel: 2 events 0xA and 0xB, DEL 0, then 1 event 0xA): a "
                      "registration was dropped",
                      a_first ? "closed one" : "dup's", n, seen & 1 ? " 0xA" : "",
                      seen & 2 ? " 0xB" : "", r, n2, left ? " 0xA" : "");
        close(b);
        close(p[1]);
        close(ep);
    }
}

static pid_t do_vfork_exec(char *const argv[])
{
    pid_t pid = vfork();
    if (pid == 0) {
        execve(argv[0], argv, environ);
        _exit(127);
    }
    return pid;
}

int run_spawn(void)
{
    if (g_nthreads <= 0)
        g_nthreads = 3;
    if (g_nthreads > MAXTHREADS - 2)
        g_nthreads = MAXTHREADS - 2;
    signal(SIGPIPE, SIG_IGN);
    g_tokep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < NTOK; i++) {
        if (pipe2(g_tok[i], O_NONBLOCK | O_CLOEXEC) != 0)
            return 1;
        struct epoll_event e = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
        epoll_ctl(g_tokep, EPOLL_CTL_ADD, g_tok[i][0], &e);
        if (write(g_tok[i][1], "t", 1) != 1)
            return 1;
    }
    check_fork_keeps_closed_number_item();
    g_chkep = epoll_create1(EPOLL_CLOEXEC);
    pthread_rwlock_init(&g_pause, NULL);
    pthread_t wd = start_watchdog(g_nthreads + 2);
    pthread_t th[MAXTHREADS];
    for (long i = 0; i < g_nthreads; i++)
        pthread_create(&th[i], NULL, spawn_worker, (void *)(i + 1));
    pthread_t creator;
    pthread_create(&creator, NULL, spawn_creator, (void *)(long)g_nthreads);
    int midx = g_nthreads + 1;

    static const char *actions[] = { "fork (no exec)", "fork+exec self", "fork+exec /bin/true",
                                     "vfork+exec /bin/true", "posix_spawn self",
                                     "posix_spawn /bin/true" };
    long counts[6] = { 0 };
    double t0 = now_s();
    long r = 0;
    char in_s[16], out_s[16];
    snprintf(in_s, sizeof in_s, "%d", CHILD_IN);
    snprintf(out_s, sizeof out_s, "%d", CHILD_OUT);
    char *self_argv[] = { g_self, "child-exec", in_s, out_s, NULL };
    char *true_argv[] = { "/bin/true", NULL };
    for (; now_s() - t0 < g_duration; r++) {
        int a = (int)(r % 6);
        int tc[2], fc[2];
        if (pipe2(tc, O_CLOEXEC) != 0 || pipe2(fc, O_CLOEXEC) != 0) {
            violation("spawn: pipe2: %s", strerror(errno));
            break;
        }
        int reports = a == 0 || a == 1 || a == 4;
        pid_t pid = -1;
        doing(midx, actions[a], -1);
        fflush(stdout);
        switch (a) {
        case 0:
            pid = fork();
            if (pid == 0)
                _exit(fork_noexec_child(tc[0], fc[1]));
            break;
        case 1:
            pid = fork();
            if (pid == 0) {
                if (dup2(tc[0], CHILD_IN) < 0 || dup2(fc[1], CHILD_OUT) < 0)
                    _exit(126);
                execv(g_self, self_argv);
                _exit(127);
            }
            break;
        case 2:
            pid = fork();
            if (pid == 0) {
                execv("/bin/true", true_argv);
                _exit(127);
            }
            break;
        case 3:
            pid = do_vfork_exec(true_argv);
            break;
        case 4:
        case 5: {
            posix_spawn_file_actions_t fa;
            posix_spawn_file_actions_init(&fa);
            if (a == 4) {
                posix_spawn_file_actions_adddup2(&fa, tc[0], CHILD_IN);
                posix_spawn_file_actions_adddup2(&fa, fc[1], CHILD_OUT);
            }
            int rc = posix_spawn(&pid, a == 4 ? g_self : "/bin/true", &fa, NULL,
                                 a == 4 ? self_argv : true_argv, environ);
            posix_spawn_file_actions_destroy(&fa);
            if (rc != 0) {
                errno = rc;
                pid = -1;
            }
            break;
        }
        }
        close(tc[0]);
        close(fc[1]);
        if (pid < 0) {
            violation("spawn: %s failed: %s", actions[a], strerror(errno));
            close(tc[1]);
            close(fc[0]);
            continue;
        }
        if (write(tc[1], "g", 1) != 1 && reports)
            violation("spawn: write to child: %s", strerror(errno));
        if (reports) {
            doing(midx, "await child report", pid);
            int pe = epoll_create1(EPOLL_CLOEXEC);
            struct epoll_event e = { .events = EPOLLIN, .data.u64 = 99 }, out;
            epoll_ctl(pe, EPOLL_CTL_ADD, fc[0], &e);
            int n = epoll_wait(pe, &out, 1, 15000);
            char c = 0;
            if (n != 1 || out.data.u64 != 99 || read(fc[0], &c, 1) != 1 || c != 'K') {
                /* reported through the status below, unless the child did exit 0 */
                if (n == 0)
                    violation("spawn: %s: no report from child %d through epoll in 15 s",
                              actions[a], (int)pid);
            }
            close(pe);
        }
        doing(midx, "reap", pid);
        int st = reap_deadline(pid, 15.0);
        if (!status_ok(st)) {
            char why[64];
            describe_status(st, why, sizeof why);
            violation("spawn: %s: child %d: %s", actions[a], (int)pid, why);
            atomic_fetch_add(&g_children_failed, 1);
        }
        close(tc[1]);
        close(fc[0]);
        counts[a]++;
        doing(midx, "check inherited writes", -1);
        spawn_check(actions[a]);
        atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < g_nthreads; i++)
        pthread_join(th[i], NULL);
    pthread_join(creator, NULL);
    double secs = now_s() - t0;
    stop_watchdog(wd);
    long tokens = 0;
    char buf[64];
    for (int i = 0; i < NTOK; i++) {
        ssize_t k;
        while ((k = read(g_tok[i][0], buf, sizeof buf)) > 0)
            tokens += k;
    }
    if (tokens != NTOK)
        violation("spawn: tokens %d -> %ld", NTOK, tokens);
    printf("mode: spawn\nthreads: %d (+1 creator)\nseconds: %.1f\nrounds: %ld\n", g_nthreads,
           secs, r);
    for (int a = 0; a < 6; a++)
        printf("%s: %ld\n", actions[a], counts[a]);
    printf("children_failed: %ld\n", atomic_load(&g_children_failed));
    printf("token_moves: %ld\nprivate_cycles: %ld\n", atomic_load(&g_tok_moves),
           atomic_load(&g_cycles));
    printf("check_pipes_created: %ld\ncheck_rounds: %ld\ncheck_pipes_compared: %ld\n"
           "check_pipes_with_child_data: %ld\n",
           atomic_load(&g_chk_created), g_chk_rounds, g_chk_pipes, g_chk_data);
    printf("tokens_start: %d\ntokens_end: %ld\n", NTOK, tokens);
    printf("violations: %ld\n", atomic_load(&g_viol));
    return atomic_load(&g_viol) == 0 ? 0 : 1;
}
