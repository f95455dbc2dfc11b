/*
 * torture.c - concurrency torture for an epoll implementation (kernel or uepoll).
 *
 * The same binary runs on kernel epoll and under LD_PRELOAD of uepoll; every check
 * below is something the kernel guarantees, so the kernel run must pass too.
 *
 *   torture churn   [-t threads] [-d seconds] [-F fork_ms] [-s seed]
 *   torture signals [-t threads] [-d seconds] [-i timer_us] [-k kill_us]
 *   torture spawn   [-t threads] [-d seconds]
 *   torture handler-malloc
 *   torture child-exec IN OUT      (internal: the program exec'd by `spawn`)
 *
 * churn   Threads run a random mix of epoll_ctl (ADD/MOD/DEL), epoll_wait/pwait/
 *         pwait2, close, dup, F_DUPFD_CLOEXEC, dup2/dup3, reads, writes and shutdown
 *         on pipes, socketpairs and eventfds shared by three epoll instances; a forker
 *         thread forks (and now and then posix_spawns /bin/true); the main thread
 *         closes and re-creates one instance every 100 ms. Every registration gets
 *         a record; event data encodes (fd, record slot, generation). The invariant:
 *         an event may only carry the data of a registration that still existed when
 *         the wait call started. A registration ends when DEL or MOD returns (MOD
 *         installs a new one), when its instance is closed, or when the last
 *         reference to its open file description goes: the last fd number of the
 *         file is closed (or dup2'ed over) *and* every child process that was alive
 *         at that moment (and so holds a copy) has been reaped. Closing the
 *         registered number while a dup is open does not end it (the kernel keys
 *         items by open file description and number). Each ctl call's result
 *         (0, EEXIST, ENOENT) is predicted exactly from the book kept under the
 *         fd-number locks. At the end every live registration is re-armed
 *         level-triggered (MOD) and one wait per instance must report exactly the
 *         registrations whose file poll() says ready, with the same bits.
 * signals A SIGALRM timer and a thread sending SIGUSR1/SIGUSR2 with pthread_kill
 *         interrupt threads that sit in epoll_wait over 200 always-ready pipes; the
 *         handler writes to the interrupted thread's own self-pipe (and eventfd),
 *         both registered in that thread's instance. Every byte and every eventfd
 *         increment the handlers made must be read; with signals blocked, data in
 *         the self-pipe must be reported by a non-blocking wait and an empty pipe
 *         must not be.
 * spawn   Worker threads pass tokens through pipes with epoll and cycle private
 *         pipes and instances while the main thread forks (child uses epoll and
 *         _exits), forks and execs this program or /bin/true, vforks, and
 *         posix_spawns. A creator thread keeps making pipes (some without
 *         close-on-exec) registered in a check instance. Children write a byte to
 *         every non-blocking pipe write end they inherited; after each round the
 *         parent requires that a fresh instance and the check instance report a
 *         pipe exactly when poll() says it holds data. Tokens are conserved. A
 *         deterministic check runs first: an item under a closed number (a dup keeps
 *         the file open) and the dup's own item must both survive a fork.
 *
 * handler-malloc  Single-threaded, before any other thread exists: a SIGALRM handler
 *         writes to a self-pipe exactly when the next push onto the instance's ready
 *         list must grow it, while the interrupted code loops in malloc/free. Kernel
 *         epoll passes; a library that allocates in the handler's write re-enters
 *         malloc and corrupts the heap (glibc aborts or the process crashes).
 *
 * Output: "key: value" lines and "result: PASS" or "result: FAIL"; exit 0 on PASS.
 * VIOLATION lines on stderr describe each failure (the first 40). A watchdog ends a
 * run that makes no progress for 20 s (exit 3, "HANG").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ------------------------------------------------------------------ */
/* Common                                                              */
/* ------------------------------------------------------------------ */

static char g_self[4096];
static double g_duration = 10.0;
static int g_nthreads = 0;
static uint64_t g_seed;
static atomic_int g_stop;
static atomic_long g_viol;
static atomic_ulong g_progress;
static int g_under_uepoll; /* LD_PRELOAD names uepoll: documented differences may show */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

__attribute__((format(printf, 1, 2))) static void violation(const char *fmt, ...)
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
#define MAXTHREADS 64
static _Atomic(const char *) g_doing[MAXTHREADS + 4];
static atomic_int g_doing_fd[MAXTHREADS + 4];

static void doing(int idx, const char *what, int fd)
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

static pthread_t start_watchdog(int nthreads)
{
    pthread_t t;
    g_wd_threads = nthreads;
    pthread_create(&t, NULL, watchdog, NULL);
    return t;
}

static void stop_watchdog(pthread_t t)
{
    atomic_store(&g_wd_stop, 1);
    pthread_join(t, NULL);
}

/* Wait for a child with a deadline; returns the wait status, or -1 if it hung (it is
 * then killed). */
static int reap_deadline(pid_t pid, double secs)
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

static int status_ok(int st)
{
    return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void describe_status(int st, char *buf, size_t n)
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
static int write_inherited(int skip1, int skip2, const int *skip, int nskip)
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

/* ------------------------------------------------------------------ */
/* churn                                                               */
/* ------------------------------------------------------------------ */

#define MAXFD 1024
#define RES_LO 700 /* dup2/dup3 targets; the kernel never allocates these because   */
#define RES_HI 764 /* the test keeps fewer than LOW_BUDGET + ~30 fds below them    */
#define LOW_BUDGET 200
#define NINST 3
#define POOL (1u << 18)
#define MAGIC 0xAull
#define NONE UINT64_MAX
#define PENDING (UINT64_MAX - 1)
#define PRIVATE_BITS (EPOLLET | EPOLLONESHOT | EPOLLWAKEUP | EPOLLEXCLUSIVE)

enum kind { K_PIPE_R, K_PIPE_W, K_STREAM, K_DGRAM, K_SEQPACKET, K_EVFD };
static const char *kind_name[] = { "pipe-r", "pipe-w", "stream", "dgram", "seqpacket", "eventfd" };

enum why { W_LIVE, W_DEL, W_MOD, W_CLOSE, W_DUP2, W_RECYCLE, W_NEVER, W_CHILDREAP, W_END };
static const char *why_name[] = { "live",  "DEL",  "MOD",         "last close", "dup2 over last fd",
                                  "instance closed", "ctl failed", "last close (child reaped)",
                                  "end" };

struct tfile {
    uint32_t id;
    int kind;
    int nrefs;        /* fd numbers in this process (book lock) */
    int nregs, cap;   /* live registrations on this file (book lock) */
    uint32_t *regs;   /* their record slots */
    uint64_t pend_mask; /* children alive at the last close */
    struct tfile *pend_next;
};

struct rec {
    atomic_uint gen; /* 0: being (re)initialised */
    atomic_int fd;   /* number in the data (the ADD's number) */
    atomic_uint inst_id;
    atomic_uint events;
    atomic_ulong removed; /* NONE, PENDING, or the stamp taken after the removal */
    atomic_uint reports;
    /* The first report of a ONESHOT arming: when its wait started and was checked. */
    atomic_ulong first_sw, first_checked;
    atomic_uint first_rev;
    int key;    /* number the item is keyed by (book lock) */
    int orphan; /* its number was closed while a dup of the file stayed open */
    long orphan_done; /* forks and spawns completed when it first became an orphan */
    int uncertain; /* uepoll may have re-keyed or dropped it (see explain_rekey) */
    int why;
    long children_at_removal; /* forks and spawns started before the removal */
    uint32_t file_id;
    struct tfile *file;
};

/* A ring of recent book changes, printed for the file of the first stale report. */
enum { L_ADD, L_MOD, L_DEL, L_CLOSE, L_DUP, L_DUP2_TO, L_DUP2_OVER, L_FORK, L_CREATE,
       L_REKEY };
static const char *log_name[] = { "ADD", "MOD", "DEL", "close", "dup ->", "dup2 ->",
                                  "dup2 over", "fork/spawn", "create", "rekey" };
struct logent {
    uint64_t seq;
    uint32_t file_id, gen, old_gen, iid;
    int fd, op, res;
};
#define LOGN (1u << 16)
static struct logent g_log[LOGN];
static uint64_t g_logn;

static struct rec *g_pool;
static atomic_uint g_pool_used;
static uint32_t *g_fifo; /* retired slots, oldest first */
static uint32_t g_fifo_head, g_fifo_len;
static atomic_uint g_gen = 1;
static atomic_ulong g_seq = 1;
static atomic_ulong g_active[MAXTHREADS + 2]; /* lower bound of each waiter's start */
static int g_no_reclaim; /* final check: slots are never reused */

static pthread_mutex_t g_book = PTHREAD_MUTEX_INITIALIZER; /* leaf lock */
static pthread_mutex_t g_fdlock[MAXFD];
static struct tfile *g_fds[MAXFD];
static atomic_int g_low_open, g_low_hi = 3;
static uint32_t g_file_ids;
static uint64_t g_child_mask; /* book lock */
static struct tfile *g_pending; /* book lock */
static atomic_long g_children_started; /* before fork(), posix_spawn() */
static atomic_long g_children_done;    /* after they return in the parent */

struct inst {
    pthread_rwlock_t lk;
    int fd;
    uint32_t id;
};
static struct inst g_inst[NINST];
static uint32_t g_inst_ids;

static atomic_long g_kd_rekey;

struct wt {
    pthread_t tid;
    int idx;
    uint64_t rs;
    uint64_t waits, events, adds, mods, dels, ctl_expected_fail, creates, closes, dups, dup2s;
    uint64_t ios, shutdowns;
    struct epoll_event evs[64];
};

static uint64_t enc(int fd, uint32_t slot, uint32_t gen)
{
    return (MAGIC << 60) | ((uint64_t)(fd & 0xfff) << 48) | ((uint64_t)(slot & 0x3ffff) << 30) |
           (gen & 0x3fffffff);
}

static uint64_t min_active(void)
{
    uint64_t m = NONE;
    for (int i = 0; i < MAXTHREADS + 2; i++) {
        uint64_t a = atomic_load(&g_active[i]);
        if (a != 0 && a < m)
            m = a;
    }
    return m;
}

/* Book lock held. */
static void logop(int op, uint32_t file_id, int fd, uint32_t iid, uint32_t gen, uint32_t old_gen,
                  int res)
{
    struct logent *e = &g_log[g_logn++ % LOGN];
    e->seq = atomic_load(&g_seq);
    e->op = op, e->file_id = file_id, e->fd = fd, e->iid = iid, e->gen = gen;
    e->old_gen = old_gen, e->res = res;
}

static atomic_int g_dumped;

/* The kernel's own list of an epoll fd's items on number fd, data decoded. */
static void dump_fdinfo(int ep, int fd)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", ep);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    fprintf(stderr, "  kernel items of epoll fd %d on fd %d:\n", ep, fd);
    while (fgets(line, sizeof line, f)) {
        int tfd;
        unsigned ev;
        unsigned long long data;
        if (sscanf(line, "tfd: %d events: %x data: %llx", &tfd, &ev, &data) == 3 && tfd == fd) {
            uint32_t slot = (uint32_t)((data >> 30) & 0x3ffff);
            struct rec *r = &g_pool[slot];
            fprintf(stderr, "    tfd %d events %#x data %#llx: fd %llu slot %u gen %llu"
                    " (record: gen %u fd %d key %d file %u inst %u why %s orphan %d)\n",
                    tfd, ev, data, (data >> 48) & 0xfff, slot, data & 0x3fffffff,
                    atomic_load(&r->gen), atomic_load(&r->fd), r->key, r->file_id,
                    atomic_load(&r->inst_id), why_name[r->why], r->orphan);
        }
    }
    fclose(f);
}

static void dump_log(uint32_t file_id)
{
    pthread_mutex_lock(&g_book);
    uint64_t start = g_logn > LOGN ? g_logn - LOGN : 0;
    fprintf(stderr, "  history of file %u (and forks):\n", file_id);
    uint64_t first = g_logn;
    for (uint64_t i = start; i < g_logn && first == g_logn; i++)
        if (g_log[i % LOGN].file_id == file_id && g_log[i % LOGN].op != L_FORK)
            first = i;
    /* Through the end of the log: forks after the file's last change matter too. */
    for (uint64_t i = first; i < g_logn; i++) {
        struct logent *e = &g_log[i % LOGN];
        if (e->file_id != file_id && e->op != L_FORK)
            continue;
        fprintf(stderr, "    seq %-9" PRIu64 " %-10s fd %-4d inst %-4u gen %-8u old %-8u res %d\n",
                e->seq, log_name[e->op], e->fd, e->iid, e->gen, e->old_gen, e->res);
    }
    pthread_mutex_unlock(&g_book);
}

/* A new registration record, initialised before the ctl call that installs it. */
static uint32_t rec_alloc(int fd, int key, uint32_t inst_id, uint32_t events, struct tfile *f)
{
    uint32_t slot;
    for (;;) {
        int got = 0;
        pthread_mutex_lock(&g_book);
        if (g_fifo_len > 0 && !g_no_reclaim) {
            uint32_t h = g_fifo[g_fifo_head];
            /* Reusable once no wait that started before its removal is still running. */
            if (atomic_load(&g_pool[h].removed) < min_active()) {
                slot = h;
                g_fifo_head = (g_fifo_head + 1) % POOL;
                g_fifo_len--;
                got = 1;
            }
        }
        if (!got && atomic_load(&g_pool_used) < POOL) {
            slot = atomic_fetch_add(&g_pool_used, 1);
            got = 1;
        }
        pthread_mutex_unlock(&g_book);
        if (got)
            break;
        sched_yield();
    }
    struct rec *r = &g_pool[slot];
    atomic_store(&r->gen, 0);
    atomic_store(&r->fd, fd);
    atomic_store(&r->inst_id, inst_id);
    atomic_store(&r->events, events);
    atomic_store(&r->reports, 0);
    atomic_store(&r->first_sw, 0);
    atomic_store(&r->first_checked, 0);
    atomic_store(&r->first_rev, 0);
    atomic_store(&r->removed, NONE);
    r->key = key;
    r->orphan = 0;
    r->uncertain = 0;
    r->why = W_LIVE;
    r->file = f;
    r->file_id = f ? f->id : 0;
    uint32_t g = atomic_fetch_add(&g_gen, 1) & 0x3fffffff;
    if (g == 0)
        g = atomic_fetch_add(&g_gen, 1) & 0x3fffffff;
    atomic_store(&r->gen, g);
    return slot;
}

/* The registration ended (the call that ended it has returned). Book lock held. */
static void retire(uint32_t slot, int why)
{
    struct rec *r = &g_pool[slot];
    atomic_store(&r->removed, PENDING);
    atomic_store(&r->removed, atomic_fetch_add(&g_seq, 1));
    r->why = why;
    r->children_at_removal = atomic_load(&g_children_started);
    g_fifo[(g_fifo_head + g_fifo_len) % POOL] = slot;
    g_fifo_len++;
}

static void file_add_reg(struct tfile *f, uint32_t slot)
{
    if (f->nregs == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 4;
        f->regs = realloc(f->regs, (size_t)f->cap * sizeof(*f->regs));
        if (!f->regs)
            abort();
    }
    f->regs[f->nregs++] = slot;
}

static void file_drop_reg(struct tfile *f, uint32_t slot)
{
    for (int i = 0; i < f->nregs; i++)
        if (f->regs[i] == slot) {
            f->regs[i] = f->regs[--f->nregs];
            return;
        }
}

/* The live registration of (instance, number) on f, or -1. Book lock held. */
static int find_reg(struct tfile *f, uint32_t inst_id, int key)
{
    for (int i = 0; i < f->nregs; i++) {
        struct rec *r = &g_pool[f->regs[i]];
        if (atomic_load(&r->inst_id) == inst_id && r->key == key)
            return (int)f->regs[i];
    }
    return -1;
}

/* Every registration on f ends now. Book lock held. */
static void file_release_now(struct tfile *f, int why)
{
    for (int i = 0; i < f->nregs; i++)
        retire(f->regs[i], why);
    free(f->regs);
    free(f);
}

/* The last number of f in this process is gone. Children alive now hold a copy: the
 * file (and its registrations) lives until they are reaped. Book lock held. */
static void file_last_close(struct tfile *f, int why)
{
    if (g_child_mask) {
        f->pend_mask = g_child_mask;
        f->pend_next = g_pending;
        g_pending = f;
        return;
    }
    file_release_now(f, why);
}

/* Number fd stops naming f (close, or dup2 over it). Book lock held. */
static void book_unname(int fd, int why, long done_before)
{
    struct tfile *f = g_fds[fd];
    g_fds[fd] = NULL;
    if (fd < RES_LO)
        atomic_fetch_sub(&g_low_open, 1);
    if (--f->nrefs == 0) {
        file_last_close(f, why);
        return;
    }
    for (int i = 0; i < f->nregs; i++) {
        struct rec *r = &g_pool[f->regs[i]];
        if (r->key == fd && !r->orphan) {
            r->orphan = 1;
            r->orphan_done = done_before;
        }
    }
}

static void book_name(int fd, struct tfile *f)
{
    if (g_fds[fd])
        violation("book: fd %d returned by the kernel is still booked to file %u", fd,
                  g_fds[fd]->id);
    g_fds[fd] = f;
    f->nrefs++;
    if (fd < RES_LO) {
        int hi = atomic_load(&g_low_hi);
        while (fd > hi && !atomic_compare_exchange_weak(&g_low_hi, &hi, fd))
            ;
    }
}

/* A child in slot `bit` has been reaped: files closed while it lived are released
 * once no child that was alive at their close remains. Book lock held. */
static void child_reaped(int bit)
{
    g_child_mask &= ~(1ull << bit);
    struct tfile **pp = &g_pending;
    while (*pp) {
        struct tfile *f = *pp;
        f->pend_mask &= ~(1ull << bit);
        if (f->pend_mask == 0) {
            *pp = f->pend_next;
            file_release_now(f, W_CHILDREAP);
        } else {
            pp = &f->pend_next;
        }
    }
}

static struct tfile *new_file(int kind)
{
    struct tfile *f = calloc(1, sizeof(*f));
    if (!f)
        abort();
    f->kind = kind;
    return f;
}

/* Pick a booked fd number and return with its lock held, or -1. */
static int pick_fd(struct wt *t)
{
    for (int k = 0; k < 32; k++) {
        int fd;
        if (rnd(&t->rs) % 6 == 0) {
            fd = RES_LO + (int)(rnd(&t->rs) % (RES_HI - RES_LO));
        } else {
            int hi = atomic_load(&g_low_hi);
            fd = 3 + (int)(rnd(&t->rs) % (uint64_t)(hi - 2));
        }
        if (fd >= MAXFD)
            continue;
        pthread_mutex_lock(&g_fdlock[fd]);
        if (g_fds[fd])
            return fd;
        pthread_mutex_unlock(&g_fdlock[fd]);
    }
    return -1;
}

/* Lock a number the kernel just returned (pipe, socketpair, eventfd, dup). The only
 * thread that can hold its lock is one that closed its previous incarnation and is
 * finishing its bookkeeping, which waits for nothing: spin until it is done. Never a
 * blocking lock here, so no lock-order cycle exists (the caller may hold another fd
 * lock, in any order). */
static void lock_fresh(int fd)
{
    while (pthread_mutex_trylock(&g_fdlock[fd]) != 0)
        sched_yield();
}

static int reserve_low(int n)
{
    if (atomic_fetch_add(&g_low_open, n) + n > LOW_BUDGET) {
        atomic_fetch_sub(&g_low_open, n);
        return 0;
    }
    return 1;
}

static void op_create(struct wt *t)
{
    int kind_pick = (int)(rnd(&t->rs) % 8);
    int a = -1, b = -1, ka, kb;
    if (kind_pick <= 2) {
        if (!reserve_low(2))
            return;
        int p[2];
        int flags = kind_pick == 2 ? O_NONBLOCK : O_NONBLOCK | O_CLOEXEC;
        if (pipe2(p, flags) != 0) {
            violation("pipe2: %s", strerror(errno));
            atomic_fetch_sub(&g_low_open, 2);
            return;
        }
        a = p[0], b = p[1], ka = K_PIPE_R, kb = K_PIPE_W;
    } else if (kind_pick <= 5) {
        if (!reserve_low(2))
            return;
        int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
        int kinds[] = { K_STREAM, K_DGRAM, K_SEQPACKET };
        int ty = kind_pick - 3;
        int sv[2];
        if (socketpair(AF_UNIX, types[ty] | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
            violation("socketpair: %s", strerror(errno));
            atomic_fetch_sub(&g_low_open, 2);
            return;
        }
        a = sv[0], b = sv[1], ka = kb = kinds[ty];
    } else {
        if (!reserve_low(1))
            return;
        a = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC | (kind_pick == 7 ? EFD_SEMAPHORE : 0));
        if (a < 0) {
            violation("eventfd: %s", strerror(errno));
            atomic_fetch_sub(&g_low_open, 1);
            return;
        }
        ka = K_EVFD;
    }
    if (a >= RES_LO || b >= RES_LO)
        violation("fd %d/%d allocated in the reserved range: fd budget wrong", a, b);
    lock_fresh(a);
    if (b >= 0)
        lock_fresh(b);
    pthread_mutex_lock(&g_book);
    struct tfile *fa = new_file(ka);
    fa->id = ++g_file_ids;
    logop(L_CREATE, fa->id, a, 0, 0, 0, ka);
    book_name(a, fa);
    if (b >= 0) {
        struct tfile *fb = new_file(kb);
        fb->id = ++g_file_ids;
        logop(L_CREATE, fb->id, b, 0, 0, 0, kb);
        book_name(b, fb);
    }
    pthread_mutex_unlock(&g_book);
    if (b >= 0)
        pthread_mutex_unlock(&g_fdlock[b]);
    pthread_mutex_unlock(&g_fdlock[a]);
    t->creates++;
}

static void op_close(struct wt *t)
{
    int fd = pick_fd(t);
    if (fd < 0)
        return;
    doing(t->idx, "close", fd);
    long done_before = atomic_load(&g_children_done);
    if (close(fd) != 0)
        violation("close(%d) of a booked fd: %s", fd, strerror(errno));
    pthread_mutex_lock(&g_book);
    logop(L_CLOSE, g_fds[fd]->id, fd, 0, 0, 0, 0);
    book_unname(fd, W_CLOSE, done_before);
    pthread_mutex_unlock(&g_book);
    pthread_mutex_unlock(&g_fdlock[fd]);
    t->closes++;
}

static void op_dup(struct wt *t)
{
    if (!reserve_low(1))
        return;
    int fd = pick_fd(t);
    if (fd < 0) {
        atomic_fetch_sub(&g_low_open, 1);
        return;
    }
    doing(t->idx, "dup", fd);
    int n = rnd(&t->rs) & 1 ? dup(fd) : fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (n < 0) {
        violation("dup(%d): %s", fd, strerror(errno));
        atomic_fetch_sub(&g_low_open, 1);
        pthread_mutex_unlock(&g_fdlock[fd]);
        return;
    }
    if (n >= RES_LO)
        violation("dup gave %d, in the reserved range: fd budget wrong", n);
    lock_fresh(n);
    pthread_mutex_lock(&g_book);
    logop(L_DUP, g_fds[fd]->id, n, 0, 0, 0, fd);
    book_name(n, g_fds[fd]);
    pthread_mutex_unlock(&g_book);
    pthread_mutex_unlock(&g_fdlock[n]);
    pthread_mutex_unlock(&g_fdlock[fd]);
    t->dups++;
}

static void op_dup2(struct wt *t)
{
    int fd = pick_fd(t);
    if (fd < 0)
        return;
    int dst;
    if (rnd(&t->rs) % 3 == 0) {
        int hi = atomic_load(&g_low_hi);
        dst = 3 + (int)(rnd(&t->rs) % (uint64_t)(hi - 2));
    } else {
        dst = RES_LO + (int)(rnd(&t->rs) % (RES_HI - RES_LO));
    }
    if (dst == fd || pthread_mutex_trylock(&g_fdlock[dst]) != 0) {
        pthread_mutex_unlock(&g_fdlock[fd]);
        return;
    }
    /* Below the reserved range only onto an open (booked) number: a free one could be
     * handed to another thread's pipe() at the same moment. */
    if (dst < RES_LO && !g_fds[dst]) {
        pthread_mutex_unlock(&g_fdlock[dst]);
        pthread_mutex_unlock(&g_fdlock[fd]);
        return;
    }
    doing(t->idx, "dup2", fd);
    long done_before = atomic_load(&g_children_done);
    int r = rnd(&t->rs) & 1 ? dup2(fd, dst) : dup3(fd, dst, O_CLOEXEC);
    if (r != dst) {
        violation("dup2(%d, %d) = %d: %s", fd, dst, r, strerror(errno));
    } else {
        pthread_mutex_lock(&g_book);
        struct tfile *f = g_fds[fd];
        f->nrefs++; /* keep f alive if dst named it already */
        logop(L_DUP2_TO, f->id, dst, 0, 0, 0, fd);
        if (g_fds[dst]) {
            logop(L_DUP2_OVER, g_fds[dst]->id, dst, 0, 0, 0, fd);
            book_unname(dst, W_DUP2, done_before);
            if (dst < RES_LO) /* the number stays open */
                atomic_fetch_add(&g_low_open, 1);
        }
        f->nrefs--;
        book_name(dst, f);
        pthread_mutex_unlock(&g_book);
        t->dup2s++;
    }
    pthread_mutex_unlock(&g_fdlock[dst]);
    pthread_mutex_unlock(&g_fdlock[fd]);
}

static void op_io(struct wt *t)
{
    int fd = pick_fd(t);
    if (fd < 0)
        return;
    doing(t->idx, "io", fd);
    int kind = g_fds[fd]->kind;
    char buf[512];
    memset(buf, 'x', sizeof buf);
    ssize_t r = 0;
    int wr = (int)(rnd(&t->rs) & 1);
    switch (kind) {
    case K_PIPE_R:
        r = read(fd, buf, 1 + rnd(&t->rs) % sizeof buf);
        break;
    case K_PIPE_W:
        r = write(fd, buf, 1 + rnd(&t->rs) % 64);
        break;
    case K_STREAM:
    case K_DGRAM:
    case K_SEQPACKET:
        if (rnd(&t->rs) % 40 == 0) {
            shutdown(fd, rnd(&t->rs) & 1 ? SHUT_WR : SHUT_RD);
            t->shutdowns++;
            break;
        }
        r = wr ? write(fd, buf, 1 + rnd(&t->rs) % 64) : read(fd, buf, sizeof buf);
        break;
    case K_EVFD: {
        uint64_t v = 1 + rnd(&t->rs) % 3;
        r = wr ? write(fd, &v, 8) : read(fd, &v, 8);
        break;
    }
    }
    if (r < 0 && errno != EAGAIN && errno != EPIPE && errno != ECONNRESET &&
        errno != ENOTCONN && errno != ECONNREFUSED)
        violation("io on fd %d (%s): %s", fd, kind_name[kind], strerror(errno));
    pthread_mutex_unlock(&g_fdlock[fd]);
    t->ios++;
}

static uint32_t random_events(struct wt *t)
{
    uint32_t ev = 0;
    uint64_t x = rnd(&t->rs);
    if (x % 10 < 7)
        ev |= EPOLLIN;
    if ((x >> 8) % 10 < 4)
        ev |= EPOLLOUT;
    if ((x >> 16) % 10 < 2)
        ev |= EPOLLRDHUP;
    if (!ev)
        ev = EPOLLIN;
    if ((x >> 24) % 10 < 4)
        ev |= EPOLLET;
    if ((x >> 32) % 100 < 15)
        ev |= EPOLLONESHOT;
    return ev;
}

/* A ctl result differs from the book. Under uepoll, a fork or spawn demotes every
 * file, and a registration whose number was closed while a dup stayed open is then
 * re-keyed to a live number of the file (docs/differences.md, "changes key"). Which
 * orphan went to which number is not known here, so every candidate (an orphan of this
 * file and instance that a fork or spawn started after) becomes uncertain: it stays
 * live in the book until its file or instance goes, and the final check does not
 * require it. The mismatch is counted as a known difference. Anywhere else (and always
 * on the kernel) it is a violation. Book lock held. Returns 1 if explained. */
static int explain_rekey(struct tfile *f, uint32_t iid, int fd, int op, int cur, int got,
                         uint32_t newslot)
{
    if (!g_under_uepoll)
        return 0;
    long now = atomic_load(&g_children_started);
    int candidates = 0;
    for (int i = 0; i < f->nregs; i++) {
        struct rec *r = &g_pool[f->regs[i]];
        if (atomic_load(&r->inst_id) == iid && r->orphan && r->orphan_done < now)
            candidates++;
    }
    if (candidates == 0)
        return 0;
    if (cur >= 0) {
        /* The book has (instance, fd), the library does not: cur was re-keyed away
         * and fd named the file again later. */
        struct rec *c = &g_pool[cur];
        if (!c->orphan || c->orphan_done >= now)
            return 0;
        if (op == EPOLL_CTL_ADD && got == 0)
            file_add_reg(f, newslot);
        else if (op == EPOLL_CTL_MOD && got == ENOENT)
            retire(newslot, W_NEVER);
        else if (!(op == EPOLL_CTL_DEL && got == ENOENT))
            return 0;
        c->key = -1;
    } else if (op == EPOLL_CTL_ADD && got == EEXIST) {
        retire(newslot, W_NEVER);
    } else if (op == EPOLL_CTL_MOD && got == 0) {
        file_add_reg(f, newslot); /* the new data sits on a re-keyed item */
    } else if (!(op == EPOLL_CTL_DEL && got == 0)) {
        return 0;
    }
    for (int i = 0; i < f->nregs; i++) {
        struct rec *r = &g_pool[f->regs[i]];
        if (atomic_load(&r->inst_id) == iid && r->orphan && r->orphan_done < now) {
            r->uncertain = 1;
            r->key = -1;
        }
    }
    logop(L_REKEY, f->id, fd, iid, 0, cur >= 0 ? atomic_load(&g_pool[cur].gen) : 0, got);
    atomic_fetch_add(&g_kd_rekey, 1);
    return 1;
}

static void op_ctl(struct wt *t)
{
    int fd = pick_fd(t);
    if (fd < 0)
        return;
    int i = (int)(rnd(&t->rs) % NINST);
    pthread_rwlock_rdlock(&g_inst[i].lk);
    int ep = g_inst[i].fd;
    uint32_t iid = g_inst[i].id;
    struct tfile *f = g_fds[fd];
    pthread_mutex_lock(&g_book);
    int cur = find_reg(f, iid, fd);
    pthread_mutex_unlock(&g_book);

    int op;
    uint64_t x = rnd(&t->rs) % 100;
    if (cur >= 0)
        op = x < 50 ? EPOLL_CTL_MOD : x < 92 ? EPOLL_CTL_DEL : EPOLL_CTL_ADD;
    else
        op = x < 85 ? EPOLL_CTL_ADD : x < 93 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    int expect;
    if (op == EPOLL_CTL_ADD)
        expect = cur >= 0 ? EEXIST : 0;
    else
        expect = cur >= 0 ? 0 : ENOENT;

    uint32_t slot = 0;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    if (op != EPOLL_CTL_DEL) {
        uint32_t events = random_events(t);
        slot = rec_alloc(fd, fd, iid, events, f);
        ev.events = events;
        ev.data.u64 = enc(fd, slot, atomic_load(&g_pool[slot].gen));
    }
    doing(t->idx, op == EPOLL_CTL_ADD ? "ctl ADD" : op == EPOLL_CTL_MOD ? "ctl MOD" : "ctl DEL",
          fd);
    int r = epoll_ctl(ep, op, fd, op == EPOLL_CTL_DEL ? NULL : &ev);
    int got = r == 0 ? 0 : errno;

    pthread_mutex_lock(&g_book);
    logop(op == EPOLL_CTL_ADD ? L_ADD : op == EPOLL_CTL_MOD ? L_MOD : L_DEL, f->id, fd, iid,
          op == EPOLL_CTL_DEL ? 0 : atomic_load(&g_pool[slot].gen),
          cur >= 0 ? atomic_load(&g_pool[cur].gen) : 0, got);
    if (got != expect) {
        if (!explain_rekey(f, iid, fd, op, cur, got, slot)) {
            violation("epoll_ctl(%s, fd %d [%s file %u], instance %u) gave %s, expected %s",
                      op == EPOLL_CTL_ADD ? "ADD" : op == EPOLL_CTL_MOD ? "MOD" : "DEL", fd,
                      kind_name[f->kind], f->id, iid, got ? strerror(got) : "success",
                      expect ? strerror(expect) : "success");
            if (op != EPOLL_CTL_DEL && got != 0)
                retire(slot, W_NEVER);
            if (!atomic_exchange(&g_dumped, 1)) {
                pthread_mutex_unlock(&g_book);
                dump_fdinfo(ep, fd);
                dump_log(f->id);
                pthread_mutex_lock(&g_book);
            }
        }
    } else if (got != 0) {
        t->ctl_expected_fail++;
        if (op != EPOLL_CTL_DEL)
            retire(slot, W_NEVER);
    } else if (op == EPOLL_CTL_ADD) {
        file_add_reg(f, slot);
        t->adds++;
    } else if (op == EPOLL_CTL_MOD) {
        file_drop_reg(f, (uint32_t)cur);
        retire((uint32_t)cur, W_MOD);
        file_add_reg(f, slot);
        t->mods++;
    } else {
        file_drop_reg(f, (uint32_t)cur);
        retire((uint32_t)cur, W_DEL);
        t->dels++;
    }
    pthread_mutex_unlock(&g_book);
    pthread_rwlock_unlock(&g_inst[i].lk);
    pthread_mutex_unlock(&g_fdlock[fd]);
}

/* A stale registration is reported by every wait until it goes: count each report,
 * describe each registration once. */
static int seen_before(uint32_t gen)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static uint32_t gens[64];
    static int n;
    int found = 0;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n; i++)
        if (gens[i] == gen)
            found = 1;
    if (!found && n < 64)
        gens[n++] = gen;
    pthread_mutex_unlock(&mu);
    if (found)
        atomic_fetch_add(&g_viol, 1);
    return found;
}

/* Check one reported event against the records. `sw` is the stamp taken just before
 * the wait call. */
static void check_event(int ep, uint32_t iid, uint64_t sw, const struct epoll_event *e,
                        int final)
{
    uint64_t d = e->data.u64;
    uint32_t rev = e->events;
    if ((d >> 60) != MAGIC) {
        violation("instance %u reported data %#" PRIx64 " that no registration ever had", iid,
                  d);
        return;
    }
    int fd = (int)((d >> 48) & 0xfff);
    uint32_t slot = (uint32_t)((d >> 30) & 0x3ffff);
    uint32_t gen = (uint32_t)(d & 0x3fffffff);
    if (slot >= atomic_load(&g_pool_used)) {
        violation("instance %u reported fd %d with data %#" PRIx64 " of no registration", iid,
                  fd, d);
        return;
    }
    struct rec *r = &g_pool[slot];
    uint32_t g1 = atomic_load(&r->gen);
    int rfd = atomic_load(&r->fd);
    uint32_t riid = atomic_load(&r->inst_id);
    uint32_t rev_int = atomic_load(&r->events);
    uint64_t rm;
    while ((rm = atomic_load(&r->removed)) == PENDING)
        sched_yield();
    uint32_t g2 = atomic_load(&r->gen);
    if (g1 != gen || g2 != gen) {
        violation("fd %d reported by instance %u with the data of a registration (gen %u) "
                  "that was removed before the wait started and is gone",
                  fd, iid, gen);
        return;
    }
    if (rfd != fd || riid != iid) {
        violation("fd %d reported by instance %u with data of fd %d in instance %u", fd, iid,
                  rfd, riid);
        return;
    }
    if (rm != NONE && rm < sw) {
        if (seen_before(gen))
            return;
        violation("fd %d reported by instance %u with data (gen %u, events %#x) of a "
                  "registration ended by %s at seq %" PRIu64 ", before the wait started "
                  "(seq %" PRIu64 ")%s; forks+spawns started: %ld at the removal, %ld now",
                  fd, iid, gen, rev_int, why_name[r->why], rm, sw,
                  final ? " [final check]" : "", r->children_at_removal,
                  atomic_load(&g_children_started));
        if (!atomic_exchange(&g_dumped, 1))
            dump_log(r->file_id);
        return;
    }
    uint32_t allowed = (rev_int & ~(uint32_t)PRIVATE_BITS) | EPOLLERR | EPOLLHUP;
    if (rev == 0 || (rev & ~allowed)) {
        violation("fd %d reported with events %#x outside its interest %#x", fd, rev, rev_int);
        return;
    }
    if (rev_int & EPOLLONESHOT) {
        uint32_t before = atomic_fetch_add(&r->reports, 1);
        if (before == 0) {
            atomic_store(&r->first_rev, rev);
            atomic_store(&r->first_sw, sw);
            atomic_store(&r->first_checked, atomic_load(&g_seq));
        }
        if (before >= 1) {
            /* The two waits may be checked in either order: both are printed. */
            violation("ONESHOT registration of fd %d (gen %u, instance %u, events %#x) "
                      "reported %u times, now with %#x; forks+spawns started: %ld",
                      fd, gen, iid, rev_int, before + 1, rev,
                      atomic_load(&g_children_started));
            fprintf(stderr, "  first report %#x: wait started at seq %lu, checked by seq %lu;"
                    " this one: wait started at seq %" PRIu64 ", checked at seq %lu%s\n",
                    atomic_load(&r->first_rev), atomic_load(&r->first_sw),
                    atomic_load(&r->first_checked), sw, atomic_load(&g_seq),
                    final ? " [final check]" : "");
            if (!atomic_exchange(&g_dumped, 1)) {
                dump_fdinfo(ep, fd);
                dump_log(r->file_id);
            }
        }
    }
}

static void op_wait(struct wt *t)
{
    int i = (int)(rnd(&t->rs) % NINST);
    pthread_rwlock_rdlock(&g_inst[i].lk);
    int ep = g_inst[i].fd;
    uint32_t iid = g_inst[i].id;
    int maxev = 1 + (int)(rnd(&t->rs) % 64);
    int timeout = rnd(&t->rs) % 3 == 0 ? (int)(rnd(&t->rs) % 4) : 0;
    /* Publish a lower bound of the start before taking the start itself, so that a
     * record removed after the start is never recycled while this wait may report it. */
    atomic_store(&g_active[t->idx], atomic_load(&g_seq));
    uint64_t sw = atomic_fetch_add(&g_seq, 1);
    doing(t->idx, "epoll_wait", ep);
    int n;
    switch (rnd(&t->rs) % 3) {
    case 0:
        n = epoll_wait(ep, t->evs, maxev, timeout);
        break;
    case 1: {
        sigset_t none;
        sigemptyset(&none);
        n = epoll_pwait(ep, t->evs, maxev, timeout, &none);
        break;
    }
    default: {
        struct timespec ts = { 0, (long)timeout * 1000000 };
        n = epoll_pwait2(ep, t->evs, maxev, &ts, NULL);
        break;
    }
    }
    if (n < 0) {
        violation("epoll_wait on instance %u: %s", iid, strerror(errno));
    } else if (n > maxev) {
        violation("epoll_wait returned %d > maxevents %d", n, maxev);
    } else {
        for (int k = 0; k < n; k++)
            check_event(ep, iid, sw, &t->evs[k], 0);
        t->events += (uint64_t)n;
    }
    atomic_store(&g_active[t->idx], 0);
    pthread_rwlock_unlock(&g_inst[i].lk);
    t->waits++;
}

static void *churn_worker(void *arg)
{
    struct wt *t = arg;
    while (!atomic_load(&g_stop)) {
        uint64_t x = rnd(&t->rs) % 100;
        if (x < 30)
            op_wait(t);
        else if (x < 60)
            op_ctl(t);
        else if (x < 74)
            op_io(t);
        else if (x < 83)
            op_create(t);
        else if (x < 91)
            op_close(t);
        else if (x < 96)
            op_dup(t);
        else
            op_dup2(t);
        doing(t->idx, "between ops", -1);
        atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
    }
    return NULL;
}

/* The fork child: wait on an inherited instance, use a fresh pipe and instance, write
 * to the parent, _exit. */
static int churn_child(int inherited_ep, int report_w)
{
    struct epoll_event evs[16];
    int n = epoll_wait(inherited_ep, evs, 16, 0);
    if (n < 0)
        return 10;
    for (int i = 0; i < n; i++)
        if ((evs[i].data.u64 >> 60) != MAGIC)
            return 11;
    int q[2];
    if (pipe(q) != 0)
        return 12;
    int e2 = epoll_create1(0);
    struct epoll_event e = { .events = EPOLLIN, .data.u64 = 42 };
    if (e2 < 0 || epoll_ctl(e2, EPOLL_CTL_ADD, q[0], &e) != 0)
        return 13;
    if (write(q[1], "c", 1) != 1)
        return 14;
    n = epoll_wait(e2, evs, 1, 5000);
    if (n != 1 || evs[0].data.u64 != 42)
        return 15;
    close(q[0]);
    close(q[1]);
    close(e2);
    if (write(report_w, "k", 1) != 1)
        return 16;
    return 0;
}

static atomic_long g_forks, g_spawns, g_children_failed;

static void *churn_forker(void *arg)
{
    long interval_ms = (long)arg;
    int idx = g_nthreads;
    uint64_t rs = g_seed ^ 0xf00d;
    int pe = epoll_create1(EPOLL_CLOEXEC);
    while (!atomic_load(&g_stop)) {
        sleep_us(interval_ms * 1000);
        if (atomic_load(&g_stop))
            break;
        int spawn = rnd(&rs) % 8 == 0;
        int rp[2];
        if (pipe2(rp, O_CLOEXEC) != 0) {
            violation("forker pipe2: %s", strerror(errno));
            continue;
        }
        int j = (int)(rnd(&rs) % NINST);
        pthread_rwlock_rdlock(&g_inst[j].lk);
        int ep = g_inst[j].fd;
        pthread_mutex_lock(&g_book);
        g_child_mask |= 1;
        logop(L_FORK, 0, -1, 0, 0, 0, spawn);
        pthread_mutex_unlock(&g_book);
        atomic_fetch_add(&g_children_started, 1);
        pid_t pid;
        doing(idx, spawn ? "posix_spawn" : "fork", -1);
        if (spawn) {
            char *argv[] = { "/bin/true", NULL };
            if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) != 0)
                pid = -1;
        } else {
            pid = fork();
            if (pid == 0)
                _exit(churn_child(ep, rp[1]));
        }
        atomic_fetch_add(&g_children_done, 1);
        pthread_rwlock_unlock(&g_inst[j].lk);
        close(rp[1]);
        if (pid < 0) {
            violation("fork/spawn failed: %s", strerror(errno));
        } else {
            if (!spawn) {
                /* The child's report, seen through epoll. */
                struct epoll_event e = { .events = EPOLLIN, .data.u64 = 7 }, out;
                epoll_ctl(pe, EPOLL_CTL_ADD, rp[0], &e);
                int n = epoll_wait(pe, &out, 1, 10000);
                char c = 0;
                if (n != 1 || out.data.u64 != 7 || read(rp[0], &c, 1) != 1 || c != 'k') {
                    /* The status below says why. */
                }
                epoll_ctl(pe, EPOLL_CTL_DEL, rp[0], NULL);
            }
            doing(idx, "reap", pid);
            int st = reap_deadline(pid, 10.0);
            if (!status_ok(st)) {
                char why[64];
                describe_status(st, why, sizeof why);
                violation("%s child %d: %s", spawn ? "spawned" : "forked", (int)pid, why);
                atomic_fetch_add(&g_children_failed, 1);
            }
            atomic_fetch_add(spawn ? &g_spawns : &g_forks, 1);
        }
        close(rp[0]);
        pthread_mutex_lock(&g_book);
        child_reaped(0);
        pthread_mutex_unlock(&g_book);
        atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
        doing(idx, "sleep", -1);
    }
    close(pe);
    return NULL;
}

static int make_instance(uint64_t *rs)
{
    int ep = rnd(rs) % 4 == 0 ? epoll_create(16) : epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        violation("epoll_create: %s", strerror(errno));
        exit(1);
    }
    if (ep >= RES_LO)
        violation("instance fd %d in the reserved range", ep);
    return ep;
}

/* Close instance i and make a new one: every registration in it ends. */
static void recycle(int i, uint64_t *rs)
{
    pthread_rwlock_wrlock(&g_inst[i].lk);
    uint32_t old = g_inst[i].id;
    if (close(g_inst[i].fd) != 0)
        violation("close instance: %s", strerror(errno));
    g_inst[i].fd = make_instance(rs);
    pthread_mutex_lock(&g_book);
    g_inst[i].id = ++g_inst_ids;
    uint32_t used = atomic_load(&g_pool_used);
    for (uint32_t s = 0; s < used; s++) {
        struct rec *r = &g_pool[s];
        if (atomic_load(&r->gen) && atomic_load(&r->removed) == NONE &&
            atomic_load(&r->inst_id) == old) {
            file_drop_reg(r->file, s);
            retire(s, W_RECYCLE);
        }
    }
    pthread_mutex_unlock(&g_book);
    pthread_rwlock_unlock(&g_inst[i].lk);
}

/* All threads stopped and children reaped: re-arm every live registration level-
 * triggered and compare one wait per instance with poll() on each file. */
static long final_check(void)
{
    long checked = 0;
    g_no_reclaim = 1;
    uint32_t used = atomic_load(&g_pool_used);
    struct epoll_event *evs = calloc(POOL, sizeof(*evs));
    int *seen = calloc(POOL, sizeof(int));
    signed char *state = calloc(POOL, 1); /* 1 known level state, 2 unknown, 0 not live */
    if (!evs || !seen || !state)
        abort();
    for (int i = 0; i < NINST; i++) {
        uint32_t iid = g_inst[i].id;
        int nlive = 0;
        for (uint32_t s = 0; s < used; s++) {
            struct rec *r = &g_pool[s];
            if (!atomic_load(&r->gen) || atomic_load(&r->removed) != NONE ||
                atomic_load(&r->inst_id) != iid)
                continue;
            struct tfile *f = r->file;
            uint32_t ev = atomic_load(&r->events);
            if (r->key >= 0 && g_fds[r->key] == f) {
                uint32_t lt = ev & (EPOLLIN | EPOLLOUT | EPOLLRDHUP);
                uint32_t ns = rec_alloc(atomic_load(&r->fd), r->key, iid, lt, f);
                struct epoll_event e = { .events = lt,
                                         .data.u64 = enc(atomic_load(&r->fd), ns,
                                                         atomic_load(&g_pool[ns].gen)) };
                if (epoll_ctl(g_inst[i].fd, EPOLL_CTL_MOD, r->key, &e) == 0) {
                    file_drop_reg(f, s);
                    retire(s, W_MOD);
                    file_add_reg(f, ns);
                    state[ns] = 1;
                    nlive++;
                    continue;
                }
                int err = errno;
                retire(ns, W_NEVER);
                if (!(g_under_uepoll && r->orphan &&
                      r->orphan_done < atomic_load(&g_children_started) && err == ENOENT)) {
                    violation("final MOD of fd %d (instance %u): %s", r->key, iid,
                              strerror(err));
                    continue;
                }
                r->uncertain = 1;
                atomic_fetch_add(&g_kd_rekey, 1);
            }
            state[s] = (ev & (EPOLLET | EPOLLONESHOT)) || r->uncertain ? 2 : 1;
            nlive++;
        }
        uint64_t sw = atomic_fetch_add(&g_seq, 1);
        long viol_before = atomic_load(&g_viol);
        int n = epoll_wait(g_inst[i].fd, evs, nlive + 64, 0);
        if (n < 0) {
            violation("final epoll_wait: %s", strerror(errno));
            continue;
        }
        used = atomic_load(&g_pool_used);
        for (int k = 0; k < n; k++) {
            check_event(g_inst[i].fd, iid, sw, &evs[k], 1);
            uint32_t slot = (uint32_t)((evs[k].data.u64 >> 30) & 0x3ffff);
            if (slot < used) {
                if (seen[slot])
                    violation("final: registration slot %u reported twice in one wait", slot);
                seen[slot] = (int)evs[k].events | (1 << 30);
            }
        }
        for (uint32_t s = 0; s < used; s++) {
            if (!state[s] || atomic_load(&g_pool[s].inst_id) != iid)
                continue;
            struct rec *r = &g_pool[s];
            struct tfile *f = r->file;
            int anyfd = -1;
            for (int fd = 3; fd < MAXFD && anyfd < 0; fd++)
                if (g_fds[fd] == f)
                    anyfd = fd;
            uint32_t ev = atomic_load(&r->events);
            struct pollfd p = { .fd = anyfd,
                                .events = (short)(ev & (EPOLLIN | EPOLLOUT | EPOLLRDHUP)) };
            if (anyfd < 0 || poll(&p, 1, 0) < 0) {
                violation("final: live registration on file %u has no open fd", f->id);
                continue;
            }
            uint32_t expect = (uint32_t)p.revents & ((ev & ~(uint32_t)PRIVATE_BITS) |
                                                     EPOLLERR | EPOLLHUP);
            int rep = seen[s] != 0;
            uint32_t got = (uint32_t)seen[s] & ~(1u << 30);
            checked++;
            if (state[s] == 1 && (expect != 0) != rep) {
                violation("final: fd %d (%s, file %u, key %d, instance %u, events %#x, gen %u,"
                          " orphan %d): poll says %#x but the wait %s",
                          anyfd, kind_name[f->kind], f->id, r->key, iid, ev,
                          atomic_load(&r->gen), r->orphan, expect,
                          rep ? "reported it" : "did not report it");
                if (!atomic_exchange(&g_dumped, 1)) {
                    if (r->key >= 0)
                        dump_fdinfo(g_inst[i].fd, r->key);
                    dump_log(f->id);
                }
            }
            else if (rep && got != expect)
                violation("final: fd %d (%s, key %d) reported %#x, poll says %#x", anyfd,
                          kind_name[f->kind], r->key, got, expect);
        }
        if (atomic_load(&g_viol) != viol_before) {
            int items = 0;
            char path[64], line[512];
            snprintf(path, sizeof path, "/proc/self/fdinfo/%d", g_inst[i].fd);
            FILE *fi = fopen(path, "r");
            while (fi && fgets(line, sizeof line, fi))
                items += strncmp(line, "tfd:", 4) == 0;
            if (fi)
                fclose(fi);
            int n2 = epoll_wait(g_inst[i].fd, evs, nlive + 64, 100);
            fprintf(stderr, "  final: instance %u (fd %d): wait gave %d for %d live registrations;"
                    " the kernel lists %d items; a second wait (100 ms) gives %d\n",
                    iid, g_inst[i].fd, n, nlive, items, n2);
        }
        for (uint32_t s = 0; s < used; s++)
            seen[s] = 0, state[s] = 0;
    }
    free(evs);
    free(seen);
    free(state);
    return checked;
}

static int run_churn(long fork_ms)
{
    if (g_nthreads <= 0)
        g_nthreads = 8;
    if (g_nthreads > MAXTHREADS)
        g_nthreads = MAXTHREADS;
    signal(SIGPIPE, SIG_IGN);
    g_pool = calloc(POOL, sizeof(*g_pool));
    g_fifo = calloc(POOL, sizeof(*g_fifo));
    if (!g_pool || !g_fifo)
        abort();
    for (int i = 0; i < MAXFD; i++)
        pthread_mutex_init(&g_fdlock[i], NULL);
    uint64_t rs = g_seed | 1;
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    for (int i = 0; i < NINST; i++) {
        pthread_rwlock_init(&g_inst[i].lk, &ra);
        g_inst[i].fd = make_instance(&rs);
        g_inst[i].id = ++g_inst_ids;
    }
    struct wt *w = calloc((size_t)g_nthreads, sizeof(*w));
    if (!w)
        abort();
    pthread_t wd = start_watchdog(g_nthreads + 2);
    double t0 = now_s();
    for (int i = 0; i < g_nthreads; i++) {
        w[i].idx = i;
        w[i].rs = (g_seed + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)) | 1;
        pthread_create(&w[i].tid, NULL, churn_worker, &w[i]);
    }
    pthread_t forker;
    if (fork_ms > 0)
        pthread_create(&forker, NULL, churn_forker, (void *)fork_ms);
    long recycles = 0;
    int midx = g_nthreads + 1;
    while (now_s() - t0 < g_duration) {
        doing(midx, "main sleep", -1);
        sleep_us(100000);
        doing(midx, "recycle instance", (int)(recycles % NINST));
        recycle((int)(recycles % NINST), &rs);
        recycles++;
        atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < g_nthreads; i++)
        pthread_join(w[i].tid, NULL);
    if (fork_ms > 0)
        pthread_join(forker, NULL);
    double secs = now_s() - t0;
    doing(midx, "final check", -1);
    long checked = final_check();
    stop_watchdog(wd);

    uint64_t waits = 0, events = 0, adds = 0, mods = 0, dels = 0, efail = 0, creates = 0;
    uint64_t closes = 0, dups = 0, dup2s = 0, ios = 0, shut = 0;
    for (int i = 0; i < g_nthreads; i++) {
        waits += w[i].waits, events += w[i].events, adds += w[i].adds, mods += w[i].mods;
        dels += w[i].dels, efail += w[i].ctl_expected_fail, creates += w[i].creates;
        closes += w[i].closes, dups += w[i].dups, dup2s += w[i].dup2s, ios += w[i].ios;
        shut += w[i].shutdowns;
    }
    printf("mode: churn\nthreads: %d\nseconds: %.1f\nseed: %" PRIu64 "\n", g_nthreads, secs,
           g_seed);
    printf("waits: %" PRIu64 "\nevents_checked: %" PRIu64 "\n", waits, events);
    printf("ctl_add: %" PRIu64 "\nctl_mod: %" PRIu64 "\nctl_del: %" PRIu64
           "\nctl_expected_errors: %" PRIu64 "\n",
           adds, mods, dels, efail);
    printf("creates: %" PRIu64 "\ncloses: %" PRIu64 "\ndups: %" PRIu64 "\ndup2s: %" PRIu64
           "\nios: %" PRIu64 "\nshutdowns: %" PRIu64 "\n",
           creates, closes, dups, dup2s, ios, shut);
    printf("registrations: %u\ninstance_recycles: %ld\nforks: %ld\nspawns: %ld\n",
           atomic_load(&g_gen) - 1, recycles, atomic_load(&g_forks), atomic_load(&g_spawns));
    printf("children_failed: %ld\nfinal_registrations_checked: %ld\n",
           atomic_load(&g_children_failed), checked);
    printf("known_diff_rekey: %ld\n", atomic_load(&g_kd_rekey));
    printf("violations: %ld\n", atomic_load(&g_viol));
    return atomic_load(&g_viol) == 0 ? 0 : 1;
}

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
static int run_handler_malloc(void)
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

static int run_signals(long timer_us, long kill_us)
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
static int child_exec_main(int in, int out)
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

static int run_spawn(void)
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

/* ------------------------------------------------------------------ */
/* main                                                                */
/* ------------------------------------------------------------------ */

static void usage(const char *p)
{
    fprintf(stderr,
            "usage: %s churn|signals|spawn|handler-malloc [-t threads] [-d seconds] [-s seed]\n"
            "          [-F fork_ms (churn, 0: no forks)] [-i timer_us] [-k kill_us (signals)]\n",
            p);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "child-exec") == 0)
        return child_exec_main(atoi(argv[2]), atoi(argv[3]));
    if (argc < 2)
        usage(argv[0]);
    const char *mode = argv[1];
    ssize_t l = readlink("/proc/self/exe", g_self, sizeof g_self - 1);
    if (l <= 0) {
        perror("readlink /proc/self/exe");
        return 2;
    }
    g_self[l] = 0;
    /* The library read its settings at start-up: children print no counters of their own. */
    unsetenv("UEPOLL_STATS");
    const char *pre = getenv("LD_PRELOAD");
    g_under_uepoll = pre && strstr(pre, "uepoll");
    g_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    long fork_ms = 10, timer_us = 150, kill_us = 50;
    int opt;
    optind = 2;
    while ((opt = getopt(argc, argv, "t:d:s:F:i:k:")) != -1) {
        switch (opt) {
        case 't': g_nthreads = atoi(optarg); break;
        case 'd': g_duration = atof(optarg); break;
        case 's': g_seed = strtoull(optarg, NULL, 0); break;
        case 'F': fork_ms = atol(optarg); break;
        case 'i': timer_us = atol(optarg); break;
        case 'k': kill_us = atol(optarg); break;
        default: usage(argv[0]);
        }
    }
    if (g_seed == 0)
        g_seed = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc;
    if (strcmp(mode, "churn") == 0)
        rc = run_churn(fork_ms);
    else if (strcmp(mode, "signals") == 0)
        rc = run_signals(timer_us, kill_us);
    else if (strcmp(mode, "spawn") == 0)
        rc = run_spawn();
    else if (strcmp(mode, "handler-malloc") == 0)
        rc = run_handler_malloc();
    else
        usage(argv[0]);
    printf("result: %s\n", rc == 0 ? "PASS" : "FAIL");
    return rc;
}
