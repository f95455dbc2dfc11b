/* torture-common.c - what the modes of build/torture share: settings, clocks, the
 * violation report, the watchdog, child reaping (torture.c describes the modes). */
#include "torture-common.h"

/* ------------------------------------------------------------------ */
/* Common                                                              */
/* ------------------------------------------------------------------ */

char g_self[4096];
double g_duration = 10.0;
int g_nthreads = 0;
uint64_t g_seed;
atomic_int g_stop;
atomic_long g_viol;
atomic_ulong g_progress;
atomic_long g_children_failed;
int g_under_uepoll;

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

void violation(const char *fmt, ...)
{
    long n = atomic_fetch_add(&g_viol, 1);
    if (n >= 40)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "VIOLATION: %s\n", buf);
}

/* What each thread is doing, for the watchdog's report. */
static _Atomic(const char *) g_doing[MAXTHREADS + 4];
static atomic_int g_doing_fd[MAXTHREADS + 4];

void doing(int idx, const char *what, int fd)
{
    atomic_store_explicit(&g_doing[idx], what, memory_order_relaxed);
    atomic_store_explicit(&g_doing_fd[idx], fd, memory_order_relaxed);
}

static int g_wd_threads;
static atomic_int g_wd_stop;

static void *watchdog(void *arg)
{
    (void)arg;
    unsigned long last = atomic_load(&g_progress);
    double changed = now_s();
    while (!atomic_load(&g_wd_stop)) {
        sleep_us(200000);
        unsigned long p = atomic_load(&g_progress);
        if (p != last) {
            last = p;
            changed = now_s();
        } else if (now_s() - changed > 20.0) {
            fprintf(stderr, "HANG: no progress for 20 s\n");
            for (int i = 0; i < g_wd_threads; i++) {
                const char *w = atomic_load(&g_doing[i]);
                fprintf(stderr, "  thread %d: %s (fd %d)\n", i, w ? w : "?",
                        atomic_load(&g_doing_fd[i]));
            }
            fflush(stderr);
            _exit(3);
        }
    }
    return NULL;
}

pthread_t start_watchdog(int nthreads)
{
    pthread_t t;
    g_wd_threads = nthreads;
    pthread_create(&t, NULL, watchdog, NULL);
    return t;
}

void stop_watchdog(pthread_t t)
{
    atomic_store(&g_wd_stop, 1);
    pthread_join(t, NULL);
}

/* Wait for a child with a deadline; returns the wait status, or -1 if it hung (it is
 * then killed). */
int reap_deadline(pid_t pid, double secs)
{
    double end = now_s() + secs;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0 && errno != EINTR)
            return -2;
        if (now_s() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        sleep_us(200);
    }
}

int status_ok(int st)
{
    return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

void describe_status(int st, char *buf, size_t n)
{
    if (st == -1)
        snprintf(buf, n, "hung (killed after the deadline)");
    else if (st < 0)
        snprintf(buf, n, "waitpid failed");
    else if (WIFEXITED(st))
        snprintf(buf, n, "exit %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, n, "status %#x", st);
}

/* Write one byte to every inherited non-blocking pipe write end except `skip1`,
 * `skip2` and the numbers in skip[] (a child does this to make writes its parent's
 * library cannot see). Returns the number of pipes written to. */
int write_inherited(int skip1, int skip2, const int *skip, int nskip)
{
    int n = 0;
    for (int fd = 3; fd < 1024; fd++) {
        if (fd == skip1 || fd == skip2)
            continue;
        int skipit = 0;
        for (int k = 0; k < nskip; k++)
            if (skip[k] == fd)
                skipit = 1;
        if (skipit)
            continue;
        struct stat st;
        if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode))
            continue;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || (fl & O_ACCMODE) != O_WRONLY || !(fl & O_NONBLOCK))
            continue;
        if (write(fd, "w", 1) == 1)
            n++;
    }
    return n;
}
