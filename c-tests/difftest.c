/*
 * difftest.c - differential, property-based test: kernel epoll against uepoll.
 *
 * One process, normally run under LD_PRELOAD=libuepoll.so. It generates random
 * operation sequences and applies every step to two "sides" at once:
 *
 *   uepoll side  ordinary libc calls (pipe2, socketpair, eventfd, epoll_*, read,
 *                write, close, dup*, shutdown, ...). Under the preload library these
 *                go through its hooks, so the engine serves the pipes, socketpairs
 *                and eventfds they create.
 *   kernel side  the same operations on separate objects, every call made with an
 *                inline `syscall` instruction, so the library never sees them.
 *
 * Every return value, errno, byte read and event reported is compared. Without
 * LD_PRELOAD both sides are kernel epoll and every run must pass.
 *
 * Logical objects and fd numbers. Ops name "handles" (logical fds: h0, h1, ...),
 * never fd numbers. Each side keeps its fds in its own region of the fd table
 * (uepoll side from 1000, kernel side from 3000): a new fd is moved to the lowest
 * free number of its side's region (F_DUPFD_CLOEXEC, then the original is closed),
 * and dup2 targets are region-relative "slots". The two regions therefore evolve
 * identically, and a handle's logical number (fd - region base) is the same on both
 * sides, which makes closed-fd reuse, dup2 over a live fd and (file, fd) item keys
 * comparable. epoll_event.data is a value chosen here (see mkdata: the handle, the
 * kind and object of its file, ET/ONESHOT, a tag), the same on both sides, so events
 * are compared by data, never by fd.
 *
 * Ops (one per line in an ops file, `name key=value ...`, `#` starts a comment):
 * epoll, pipe, socketpair (stream, dgram, seqpacket), eventfd (with EFD_SEMAPHORE),
 * kfile (a raw eventfd the library never sees, so uepoll serves it through its
 * kernel epoll fd), devnull (not pollable: EPERM), ctl (ADD/MOD/DEL/bad op, random
 * event bits including EXCLUSIVE, WAKEUP and undefined ones, NULL event), wait
 * (epoll_wait, epoll_pwait, epoll_pwait2, all non-blocking; maxevents 0, negative,
 * too large), read (read; on sockets also recv and readv, whose 0-byte forms differ:
 * read/readv of 0 bytes never reach a socket's recvmsg, recv of 0 bytes consumes a
 * datagram), write (sizes up to 200000; 8-byte values for eventfds, overflow
 * included), peek (recv MSG_PEEK), close, dup, dupfd (F_DUPFD), dup2 (and dup3),
 * shutdown. Handles may be closed ones (their number may be reused) or invalid fds.
 * Everything is O_NONBLOCK. After each case every fd is closed and the process's
 * fd count must be back where it started (no fd leaked by the library).
 *
 * What is compared (see compare_wait):
 *  - by default, the exact event list: count, order, bits and data. The kernel
 *    returns ready events in ready-list order, which uepoll must reproduce.
 *  - instances marked "mixed" (a kernel-served fd registered), "outer" (another
 *    epoll fd registered) or "inner" (registered in another epoll fd): as sets,
 *    with the wait repeated (drained with a full buffer) on both sides when either
 *    was truncated. Documented differences, see compare_wait for the pointers.
 *  - nothing else is tolerated: every other difference fails the run. (Known bugs
 *    used to be tolerated in random runs unless DIFFTEST_STRICT=1; the last two,
 *    extra socket wake-ups and the nested wake-up marker's slot, are fixed, and the
 *    tolerance is gone with them.)
 *
 * Usage:
 *   difftest [-s SEED] [-n OPS] [-c CASES] [-t SECONDS] [-k]  random cases
 *                                      (-k: report every failing case, no shrinking)
 *   difftest -f FILE [-m] [-v] [-q] [-K]                     replay a pinned sequence
 *                       (-m: minimise it if it fails; -v: trace every op; -q: quiet;
 *                        -K: accepted and ignored, no known bug is tolerated)
 * Case i of a run uses seed SEED+i, so `-s SEED+i -c 1` replays it alone. On the
 * first mismatch the sequence is minimised (each candidate runs in a fresh process,
 * `difftest -q -f TMPFILE`), printed in replayable form and written to
 * $DIFFTEST_OUT (default /tmp)/difftest-min-SEED.ops. Exit status: 0 pass, 1 a random
 * run failed; a replay exits 10 + op type on a mismatch, 9 on an fd leak.
 *
 * DIFFTEST_FLIP=OPNAME (e.g. wait, ctl, read) deliberately corrupts that op's result
 * on the uepoll side, to show that the test can fail and how the shrinker reports.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "epoll-bits.h"

#if !defined(__x86_64__)
#error "difftest makes raw x86_64 system calls"
#endif

/* ------------------------------------------------------------------ */
/* Raw system calls: the kernel side                                   */
/* ------------------------------------------------------------------ */

static long raw6(long n, long a, long b, long c, long d, long e, long f)
{
    long r;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

#define RAW(n, a, b, c, d, e, f)                                              \
    raw6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

/* ------------------------------------------------------------------ */
/* The two sides                                                       */
/* ------------------------------------------------------------------ */

enum { SU = 0, SK = 1 };

/* Each side's fds live in [BASE, BASE + REGION). */
#define REGION 1000
static const int BASE[2] = { 1000, 3000 };

#define EP_MAX_EVENTS ((int)(INT_MAX / sizeof(struct epoll_event)))

static int s_pipe2(int s, int fds[2], int flags)
{
    return s ? (int)RAW(SYS_pipe2, fds, flags, 0, 0, 0, 0) : pipe2(fds, flags);
}

static int s_socketpair(int s, int type, int sv[2])
{
    return s ? (int)RAW(SYS_socketpair, AF_UNIX, type, 0, sv, 0, 0)
             : socketpair(AF_UNIX, type, 0, sv);
}

static int s_eventfd(int s, unsigned init, int flags)
{
    return s ? (int)RAW(SYS_eventfd2, init, flags, 0, 0, 0, 0) : eventfd(init, flags);
}

/* epoll creation variants: 0 create1(0), 1 create1(CLOEXEC), 2 create(1),
 * 3 create(0) EINVAL, 4 create1(O_NONBLOCK) EINVAL, 5 create(-5) EINVAL. */
#define N_EPOLL_VARIANTS 6
static int s_epoll_create(int s, int v)
{
    static const struct { int one; int arg; } t[N_EPOLL_VARIANTS] = {
        { 1, 0 }, { 1, EPOLL_CLOEXEC }, { 0, 1 }, { 0, 0 }, { 1, O_NONBLOCK }, { 0, -5 },
    };
    if (v < 0 || v >= N_EPOLL_VARIANTS)
        v = 0;
    if (t[v].one)
        return s ? (int)RAW(SYS_epoll_create1, t[v].arg, 0, 0, 0, 0, 0)
                 : epoll_create1(t[v].arg);
    return s ? (int)RAW(SYS_epoll_create, t[v].arg, 0, 0, 0, 0, 0) : epoll_create(t[v].arg);
}

static int s_ctl(int s, int ep, int op, int fd, struct epoll_event *ev)
{
    return s ? (int)RAW(SYS_epoll_ctl, ep, op, fd, ev, 0, 0) : epoll_ctl(ep, op, fd, ev);
}

/* wait variants (all non-blocking): 0 epoll_wait(0), 1 epoll_pwait(0, NULL),
 * 2 epoll_pwait2({0,0}, NULL), 3 epoll_pwait(0, empty mask),
 * 4 epoll_pwait2 with an invalid timespec (EINVAL before anything else). */
#define N_WAIT_VARIANTS 5
static int s_wait(int s, int ep, struct epoll_event *ev, int max, int v)
{
    struct timespec ts0 = { 0, 0 }, tsbad = { 0, -1 };
    sigset_t none;
    sigemptyset(&none);
    switch (v) {
    default:
    case 0:
        return s ? (int)RAW(SYS_epoll_wait, ep, ev, max, 0, 0, 0) : epoll_wait(ep, ev, max, 0);
    case 1:
        return s ? (int)RAW(SYS_epoll_pwait, ep, ev, max, 0, NULL, 8)
                 : epoll_pwait(ep, ev, max, 0, NULL);
    case 2:
        return s ? (int)RAW(SYS_epoll_pwait2, ep, ev, max, &ts0, NULL, 8)
                 : epoll_pwait2(ep, ev, max, &ts0, NULL);
    case 3:
        return s ? (int)RAW(SYS_epoll_pwait, ep, ev, max, 0, &none, 8)
                 : epoll_pwait(ep, ev, max, 0, &none);
    case 4:
        return s ? (int)RAW(SYS_epoll_pwait2, ep, ev, max, &tsbad, NULL, 8)
                 : epoll_pwait2(ep, ev, max, &tsbad, NULL);
    }
}

/* read variants ("via"): 0 read, 1 recv (flags 0), 2 readv (one iovec). */
#define N_READ_VARIANTS 3
static long s_read(int s, int fd, void *buf, size_t n, int via)
{
    struct iovec iov = { buf, n };
    switch (via) {
    default:
    case 0:
        return s ? RAW(SYS_read, fd, buf, n, 0, 0, 0) : read(fd, buf, n);
    case 1:
        return s ? RAW(SYS_recvfrom, fd, buf, n, 0, NULL, NULL) : recv(fd, buf, n, 0);
    case 2:
        return s ? RAW(SYS_readv, fd, &iov, 1, 0, 0, 0) : readv(fd, &iov, 1);
    }
}

static long s_write(int s, int fd, const void *buf, size_t n)
{
    return s ? RAW(SYS_write, fd, buf, n, 0, 0, 0) : write(fd, buf, n);
}

static long s_peek(int s, int fd, void *buf, size_t n)
{
    int fl = MSG_PEEK | MSG_DONTWAIT;
    return s ? RAW(SYS_recvfrom, fd, buf, n, fl, NULL, NULL) : recv(fd, buf, n, fl);
}

static int s_close(int s, int fd)
{
    return s ? (int)RAW(SYS_close, fd, 0, 0, 0, 0, 0) : close(fd);
}

static int s_dup(int s, int fd)
{
    return s ? (int)RAW(SYS_dup, fd, 0, 0, 0, 0, 0) : dup(fd);
}

static int s_fcntl(int s, int fd, int cmd, long arg)
{
    return s ? (int)RAW(SYS_fcntl, fd, cmd, arg, 0, 0, 0) : fcntl(fd, cmd, arg);
}

/* dup2 variants: 0 dup2, 1 dup3(O_CLOEXEC), 2 dup3(0), 3 dup3(bad flags) EINVAL. */
#define N_DUP2_VARIANTS 4
static int s_dup2(int s, int fd, int nfd, int v)
{
    switch (v) {
    default:
    case 0:
        return s ? (int)RAW(SYS_dup2, fd, nfd, 0, 0, 0, 0) : dup2(fd, nfd);
    case 1:
        return s ? (int)RAW(SYS_dup3, fd, nfd, O_CLOEXEC, 0, 0, 0) : dup3(fd, nfd, O_CLOEXEC);
    case 2:
        return s ? (int)RAW(SYS_dup3, fd, nfd, 0, 0, 0, 0) : dup3(fd, nfd, 0);
    case 3:
        return s ? (int)RAW(SYS_dup3, fd, nfd, O_NONBLOCK, 0, 0, 0) : dup3(fd, nfd, O_NONBLOCK);
    }
}

static int s_shutdown(int s, int fd, int how)
{
    return s ? (int)RAW(SYS_shutdown, fd, how, 0, 0, 0, 0) : shutdown(fd, how);
}

static int s_devnull(int s)
{
    return s ? (int)RAW(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR, 0, 0, 0)
             : open("/dev/null", O_RDWR);
}

/* A fd the library never sees on either side: served by the kernel epoll fd even on
 * the uepoll side. */
static int s_kfile(int s, unsigned init)
{
    (void)s;
    return (int)RAW(SYS_eventfd2, init, EFD_NONBLOCK, 0, 0, 0, 0);
}

/* Move a new fd into its side's region: lowest free logical number >= 0. */
static int relocate(int s, int fd)
{
    int n = s_fcntl(s, fd, F_DUPFD_CLOEXEC, BASE[s]);
    if (n < 0) {
        fprintf(stderr, "difftest: cannot move fd %d into region (%s)\n", fd, strerror(errno));
        exit(2);
    }
    s_close(s, fd);
    return n - BASE[s];
}

/* Logical number of a fd returned by the kernel on side s; REGION+fd if outside. */
static int logical(int s, int fd)
{
    if (fd >= BASE[s] && fd < BASE[s] + REGION)
        return fd - BASE[s];
    return REGION + fd;
}

/* ------------------------------------------------------------------ */
/* Ops                                                                 */
/* ------------------------------------------------------------------ */

enum optype {
    O_EPOLL, O_PIPE, O_SOCKPAIR, O_EVENTFD, O_KFILE, O_DEVNULL,
    O_CTL, O_WAIT, O_READ, O_WRITE, O_PEEK, O_CLOSE, O_DUP, O_DUPFD, O_DUP2,
    O_SHUTDOWN, O_NTYPES
};

struct op {
    int type;
    int a, b, c, e;
    long long d;
    uint32_t ev;
};

/* Field names per op, in the order a, b, c, e, d, ev (NULL: unused). */
static const struct opdef {
    const char *name;
    const char *key[6];
} opdefs[O_NTYPES] = {
    [O_EPOLL] = { "epoll", { "h", NULL, "how", NULL, NULL, NULL } },
    [O_PIPE] = { "pipe", { "r", "w", NULL, "cloexec", NULL, NULL } },
    [O_SOCKPAIR] = { "socketpair", { "a", "b", "type", NULL, NULL, NULL } },
    [O_EVENTFD] = { "eventfd", { "h", NULL, NULL, "sem", "init", NULL } },
    [O_KFILE] = { "kfile", { "h", NULL, NULL, NULL, "init", NULL } },
    [O_DEVNULL] = { "devnull", { "h", NULL, NULL, NULL, NULL, NULL } },
    [O_CTL] = { "ctl", { "ep", "fd", "op", "nullev", "tag", "ev" } },
    [O_WAIT] = { "wait", { "ep", "max", "call", NULL, NULL, NULL } },
    [O_READ] = { "read", { "h", NULL, "n", "via", NULL, NULL } },
    [O_WRITE] = { "write", { "h", NULL, "n", NULL, "val", NULL } },
    [O_PEEK] = { "peek", { "h", NULL, "n", NULL, NULL, NULL } },
    [O_CLOSE] = { "close", { "h", NULL, NULL, NULL, NULL, NULL } },
    [O_DUP] = { "dup", { "h", "new", NULL, NULL, NULL, NULL } },
    [O_DUPFD] = { "dupfd", { "h", "new", "min", "cloexec", NULL, NULL } },
    [O_DUP2] = { "dup2", { "h", "new", "slot", "how", NULL, NULL } },
    [O_SHUTDOWN] = { "shutdown", { "h", NULL, "how", NULL, NULL, NULL } },
};

/* ------------------------------------------------------------------ */
/* The model: handles, logical numbers, objects                        */
/* ------------------------------------------------------------------ */

enum kind {
    K_NONE, K_EPOLL, K_PIPE_R, K_PIPE_W, K_STREAM, K_DGRAM, K_SEQPACKET,
    K_EVENTFD, K_EVENTFD_SEM, K_KFILE, K_DEVNULL, K_NKINDS
};
static const char *const kind_name[K_NKINDS] = {
    "none", "epoll", "pipe-r", "pipe-w", "stream", "dgram", "seqpacket",
    "eventfd", "eventfd-sem", "kfile", "devnull",
};
#define KM(k) (1u << (k))
#define KM_SOCK (KM(K_STREAM) | KM(K_DGRAM) | KM(K_SEQPACKET))
#define KM_EFD (KM(K_EVENTFD) | KM(K_EVENTFD_SEM) | KM(K_KFILE))
#define KM_ANY 0xffffffffu

#define MAXH 256
#define NREAL 248 /* handle ids 0..247 are real; the ones below are pseudo */
enum { HP_NEG = 250, HP_BIG = 251, HP_UNUSED = 252 };
#define MAXLIVE 40

/* Taint of an epoll object (see compare_wait). */
enum { T_MIX = 1, T_OUTER = 2, T_INNER = 4 };

struct handle {
    uint8_t exists, open, kind;
    int16_t ln;
    int16_t obj;
};

#define MAXREGS 512

struct state {
    struct handle h[MAXH];
    /* Successful ADDs not yet DELeted, by handle: a hint for the generator only. */
    struct { int16_t ep, fd; } regs[MAXREGS];
    int nregs;
    int16_t last_del_ep, last_del_fd; /* the last successful DEL, for DEL+ADD re-arms */
    int max_live, max_epoll;          /* this case's generator profile */
    int16_t own[REGION];
    uint8_t taint[2 * MAXH];
    int nobj;
    int maxln;
    int step;
};

static void state_init(struct state *st)
{
    memset(st, 0, sizeof *st);
    for (int i = 0; i < REGION; i++)
        st->own[i] = -1;
    st->maxln = -1;
    st->last_del_ep = st->last_del_fd = -1;
}

static int is_pseudo(int h)
{
    return h == HP_NEG || h == HP_BIG || h == HP_UNUSED;
}

/* The handle currently behind h's number: h itself if open, the handle that reused
 * its number, or -1. */
static int cur(const struct state *st, int h)
{
    if (h < 0 || h >= NREAL || !st->h[h].exists)
        return -1;
    if (st->h[h].open)
        return h;
    return st->own[st->h[h].ln];
}

static int kind_of(const struct state *st, int h)
{
    int c = cur(st, h);
    return c < 0 ? K_NONE : st->h[c].kind;
}

static int fd_of(const struct state *st, int s, int h)
{
    switch (h) {
    case HP_NEG:
        return -1;
    case HP_BIG:
        return 100000;
    case HP_UNUSED:
        return BASE[s] + REGION - 1;
    }
    return BASE[s] + st->h[h].ln;
}

/* An op may name handles that do not exist (its creation was removed by the
 * shrinker): such ops are skipped on both sides. */
static int usable(const struct state *st, int h)
{
    return is_pseudo(h) || (h >= 0 && h < NREAL && st->h[h].exists);
}

static int fresh(const struct state *st, int h)
{
    return h >= 0 && h < NREAL && !st->h[h].exists;
}

/* Handle h now owns logical number ln (a handle that owned it was closed by the
 * call that produced ln, e.g. dup2 over it). */
static void claim(struct state *st, int h, int ln, int kind, int obj)
{
    if (ln < 0 || ln >= REGION)
        return;
    int o = st->own[ln];
    if (o >= 0 && o != h)
        st->h[o].open = 0;
    st->own[ln] = (int16_t)h;
    st->h[h] = (struct handle){ 1, 1, (uint8_t)kind, (int16_t)ln, (int16_t)obj };
    if (ln > st->maxln)
        st->maxln = ln;
}

static void number_closed(struct state *st, int ln)
{
    if (ln < 0 || ln >= REGION)
        return;
    int o = st->own[ln];
    if (o >= 0)
        st->h[o].open = 0;
    st->own[ln] = -1;
}

static int new_obj(struct state *st)
{
    int o = st->nobj++;
    if (o >= 2 * MAXH)
        o = 2 * MAXH - 1;
    st->taint[o] = 0;
    return o;
}

static void close_everything(const struct state *st)
{
    for (int ln = 0; ln <= st->maxln; ln++)
        for (int s = 0; s < 2; s++)
            s_close(s, BASE[s] + ln);
}

/* ------------------------------------------------------------------ */
/* Formatting                                                          */
/* ------------------------------------------------------------------ */

static const char *errname(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

static const char *ctl_op_name(int op)
{
    switch (op) {
    case EPOLL_CTL_ADD: return "ADD";
    case EPOLL_CTL_MOD: return "MOD";
    case EPOLL_CTL_DEL: return "DEL";
    }
    return "bad-op";
}

static void hname(int h, char *buf, size_t len)
{
    switch (h) {
    case HP_NEG: snprintf(buf, len, "fd(-1)"); return;
    case HP_BIG: snprintf(buf, len, "fd(100000)"); return;
    case HP_UNUSED: snprintf(buf, len, "fd(never-opened)"); return;
    }
    snprintf(buf, len, "h%d", h);
}

/* epoll_event.data of a registration: the handle named by the ctl, the kind and
 * object of the file behind it, whether the registration is edge-like (ET or
 * ONESHOT), and the op's tag. The same on both sides. */
#define D_HANDLE(d) ((unsigned)((d) & 0xffff))
#define D_KIND(d) ((unsigned)(((d) >> 16) & 0xff))
#define D_OBJ(d) ((unsigned)(((d) >> 24) & 0xfff))
#define D_EDGE(d) ((unsigned)(((d) >> 36) & 1))
#define D_TAG(d) ((unsigned)((d) >> 40))

static uint64_t mkdata(unsigned tag, unsigned kind, unsigned obj, unsigned edge, unsigned h)
{
    return ((uint64_t)(tag & 0xffffff) << 40) | ((uint64_t)(edge & 1) << 36) |
           ((uint64_t)(obj & 0xfff) << 24) | ((uint64_t)(kind & 0xff) << 16) | (h & 0xffff);
}

static void fmt_data(uint64_t d, char *buf, size_t len)
{
    unsigned k = D_KIND(d);
    snprintf(buf, len, "h%u/%s%s/t%u", D_HANDLE(d), k < K_NKINDS ? kind_name[k] : "?",
             D_EDGE(d) ? "/edge" : "", D_TAG(d));
}

/* Replayable text of an op, with a human comment. */
static void fmt_op(const struct op *op, char *buf, size_t len)
{
    const struct opdef *def = &opdefs[op->type];
    size_t off = snprintf(buf, len, "%s", def->name);
    const int iv[4] = { op->a, op->b, op->c, op->e };
    for (int i = 0; i < 4; i++)
        if (def->key[i])
            off += snprintf(buf + off, len - off, " %s=%d", def->key[i], iv[i]);
    if (def->key[4]) {
        if (op->d < 0 || op->d > 999999)
            off += snprintf(buf + off, len - off, " %s=0x%llx", def->key[4],
                            (unsigned long long)op->d);
        else
            off += snprintf(buf + off, len - off, " %s=%lld", def->key[4], op->d);
    }
    if (def->key[5])
        off += snprintf(buf + off, len - off, " %s=0x%x", def->key[5], op->ev);
    char b1[32], b2[32], b3[160];
    switch (op->type) {
    case O_CTL:
        hname(op->a, b1, sizeof b1);
        hname(op->b, b2, sizeof b2);
        bits(op->ev, b3, sizeof b3);
        snprintf(buf + off, len - off, "   # %s %s %s %s%s", ctl_op_name(op->c), b1, b2, b3,
                 op->e ? " (NULL event)" : "");
        break;
    case O_SOCKPAIR:
        snprintf(buf + off, len - off, "   # %s",
                 op->c == SOCK_STREAM ? "SOCK_STREAM" : op->c == SOCK_DGRAM ? "SOCK_DGRAM"
                                                                            : "SOCK_SEQPACKET");
        break;
    case O_SHUTDOWN:
        snprintf(buf + off, len - off, "   # %s",
                 op->c == SHUT_RD ? "SHUT_RD" : op->c == SHUT_WR ? "SHUT_WR"
                                              : op->c == SHUT_RDWR ? "SHUT_RDWR" : "bad how");
        break;
    case O_WAIT: {
        static const char *const calls[N_WAIT_VARIANTS] = {
            "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_pwait+mask",
            "epoll_pwait2 bad timespec",
        };
        snprintf(buf + off, len - off, "   # %s",
                 op->c >= 0 && op->c < N_WAIT_VARIANTS ? calls[op->c] : "?");
        break;
    }
    default:
        break;
    }
}

static int parse_op(const char *line, struct op *op)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", line);
    char *hash = strchr(buf, '#');
    if (hash)
        *hash = 0;
    char *save = NULL;
    char *tok = strtok_r(buf, " \t\r\n", &save);
    if (!tok)
        return 0;
    memset(op, 0, sizeof *op);
    op->type = -1;
    for (int t = 0; t < O_NTYPES; t++)
        if (strcmp(tok, opdefs[t].name) == 0)
            op->type = t;
    if (op->type < 0)
        return -1;
    const struct opdef *def = &opdefs[op->type];
    while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return -1;
        *eq = 0;
        const char *v = eq + 1;
        int k;
        for (k = 0; k < 6; k++)
            if (def->key[k] && strcmp(def->key[k], tok) == 0)
                break;
        if (k == 6)
            return -1;
        long long x = v[0] == '-' ? strtoll(v, NULL, 0) : (long long)strtoull(v, NULL, 0);
        switch (k) {
        case 0: op->a = (int)x; break;
        case 1: op->b = (int)x; break;
        case 2: op->c = (int)x; break;
        case 3: op->e = (int)x; break;
        case 4: op->d = x; break;
        case 5: op->ev = (uint32_t)x; break;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* Execution and comparison                                            */
/* ------------------------------------------------------------------ */

#define EVBUF 1024
#define IOBUF (256 * 1024)

static struct epoll_event evb[2][2 * EVBUF];
static unsigned char rbuf[2][IOBUF];
static unsigned char wbuf[IOBUF];

static int flip_type = -1; /* DIFFTEST_FLIP */
static int verbose;

/* Result of one side. */
struct res {
    long ret;
    int err;
};

static struct res mk(long ret)
{
    return (struct res){ ret, ret < 0 ? errno : 0 };
}

static void fmt_res(struct res r, char *buf, size_t len)
{
    if (r.ret < 0)
        snprintf(buf, len, "-1/%s", errname(r.err));
    else
        snprintf(buf, len, "%ld", r.ret);
}

static int same(struct res u, struct res k)
{
    return u.ret == k.ret && (u.ret >= 0 || u.err == k.err);
}

static void fmt_events(const struct epoll_event *ev, int n, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = 0;
    for (int i = 0; i < n && off + 64 < len; i++) {
        char b[96], d[64];
        bits(ev[i].events, b, sizeof b);
        fmt_data(ev[i].data.u64, d, sizeof d);
        off += snprintf(buf + off, len - off, " [%s %s]", b, d);
    }
}

static int cmp_event(const void *x, const void *y)
{
    const struct epoll_event *a = x, *b = y;
    if (a->data.u64 != b->data.u64)
        return a->data.u64 < b->data.u64 ? -1 : 1;
    return a->events < b->events ? -1 : a->events > b->events;
}

/* Keep only events whose registration's target was not an epoll fd, sorted and
 * without duplicates. */
static int normalise(struct epoll_event *ev, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        uint64_t d = ev[i].data.u64;
        if (D_KIND(d) == K_EPOLL)
            continue;
        ev[k++] = ev[i];
    }
    qsort(ev, k, sizeof *ev, cmp_event);
    int m = 0;
    for (int i = 0; i < k; i++)
        if (m == 0 || cmp_event(&ev[m - 1], &ev[i]) != 0)
            ev[m++] = ev[i];
    return m;
}

#define WHY 8192
#define EVTXT 3000 /* text of one side's events */

/* Both sides succeeded: wait again with a full buffer on both (when `again`), then
 * compare the normalised unions. Returns 1 when they agree. */
static int union_agrees(const struct state *st, const struct op *op, int n[2], int again,
                        int total[2], int m[2])
{
    for (int s = 0; s < 2; s++) {
        total[s] = n[s];
        if (again) {
            int k = s_wait(s, fd_of(st, s, op->a), evb[s] + n[s], EVBUF, 0);
            if (k > 0)
                total[s] += k;
        }
    }
    for (int s = 0; s < 2; s++)
        m[s] = normalise(evb[s], total[s]);
    return m[SU] == m[SK] && memcmp(evb[SU], evb[SK], m[SU] * sizeof(struct epoll_event)) == 0;
}

/*
 * Compare the results of a wait on both sides. `taint` is the instance's taint.
 *
 * Untainted instance: count, order, bits and data must be identical. The kernel
 * returns events in ready-list order (FIFO of when items were queued or re-queued,
 * leftovers of a truncated transfer first), and uepoll's engine keeps the same list.
 *
 * T_MIX (a kernel-served fd is registered, here a raw eventfd): uepoll collects from
 * its engine and from the kernel epoll fd, alternating which goes first
 * (docs/design.md, section 7, "Merging and fairness"), so the order between the two
 * sources is not the kernel's, and neither is the choice of events when the buffer
 * is smaller than what is ready. The count must still match. The events are
 * compared as sets; when either side filled the buffer, both sides wait again with
 * a full buffer (draining what is left, so both end in the same state) and the
 * union is compared.
 *
 * T_OUTER (an epoll fd is registered): events of nested-instance registrations are
 * left out and the count is not compared: an outer instance can see an inner one
 * readable when a wait on the inner would return nothing, and may see extra edges
 * (docs/differences.md, "Nesting, and poll()/select() on an epoll fd"). The other
 * events are compared as for T_MIX.
 *
 * T_INNER (this instance is watched by another epoll fd): compared as for T_MIX. The
 * kernel prunes an inner instance's ready list whenever the outer one polls it
 * (__ep_eventpoll_poll drops entries no longer ready), uepoll only after reads
 * (EventPoll::prune); a stale entry left in place keeps its position, where the
 * kernel re-queues the item at the tail when it becomes ready again, so the inner's
 * own event order can differ. This is the stale-entry difference of
 * docs/differences.md, "Nesting, and poll()/select() on an epoll fd".
 */
static int compare_wait(struct state *st, const struct op *op, int taint,
                        struct res r[2], char *why, size_t wl)
{
    char bu[EVTXT], bk[EVTXT];
    int n[2] = { (int)r[SU].ret, (int)r[SK].ret };
    int total[2], m[2];
    int setmode = taint & (T_MIX | T_OUTER | T_INNER);
    if (r[SU].ret < 0 || r[SK].ret < 0 || !setmode) {
        if (same(r[SU], r[SK]) &&
            (n[SU] <= 0 || memcmp(evb[SU], evb[SK], n[SU] * sizeof(struct epoll_event)) == 0))
            return 0;
        char a[32], b[32];
        fmt_res(r[SU], a, sizeof a);
        fmt_res(r[SK], b, sizeof b);
        fmt_events(evb[SU], n[SU] > 0 ? n[SU] : 0, bu, sizeof bu);
        fmt_events(evb[SK], n[SK] > 0 ? n[SK] : 0, bk, sizeof bk);
        snprintf(why, wl, "  uepoll: %s%s\n  kernel: %s%s\n", a, bu, b, bk);
        return 1;
    }
    int countbad = !(taint & T_OUTER) && n[SU] != n[SK];
    int trunc = n[SU] == op->b || n[SK] == op->b;
    /* The text before normalise() sorts the buffers. */
    int shown[2];
    for (int s = 0; s < 2; s++) {
        shown[s] = n[s];
        if (trunc) {
            int k = s_wait(s, fd_of(st, s, op->a), evb[s] + n[s], EVBUF, 0);
            if (k > 0)
                shown[s] += k;
        }
    }
    fmt_events(evb[SU], shown[SU], bu, sizeof bu);
    fmt_events(evb[SK], shown[SK], bk, sizeof bk);
    int agree = union_agrees(st, op, shown, 0, total, m);
    if (agree && !countbad)
        return 0;
    snprintf(why, wl,
             "  (instance%s%s%s: compared as sets%s%s)\n  uepoll: %d%s%s\n  kernel: %d%s%s\n",
             taint & T_MIX ? " mixed" : "", taint & T_OUTER ? " outer" : "",
             taint & T_INNER ? " inner" : "",
             trunc ? ", drained with a second full wait" : "",
             countbad ? "; counts differ" : "", n[SU], trunc ? " + drain" : "", bu, n[SK],
             trunc ? " + drain" : "", bk);
    return 1;
}

static void fill_pattern(int step, size_t n)
{
    for (size_t i = 0; i < n; i++)
        wbuf[i] = (unsigned char)(step * 131 + i * 7 + (i >> 8));
}

/*
 * Run one op on both sides and compare. Returns 0 (same), 1 (mismatch, `why`
 * filled in) or -1 (skipped: names a handle that does not exist).
 */
static int exec_op(struct state *st, const struct op *op, char *why, size_t wl)
{
    struct res r[2];
    int lnr[2] = { -1, -1 }, lnr2[2] = { -1, -1 };
    int taint = 0;
    int fds[2][2];
    why[0] = 0;
    st->step++;

    switch (op->type) {
    case O_EPOLL:
        if (!fresh(st, op->a))
            return -1;
        for (int s = 0; s < 2; s++) {
            r[s] = mk(s_epoll_create(s, op->c));
            if (r[s].ret >= 0)
                r[s].ret = lnr[s] = relocate(s, (int)r[s].ret);
        }
        if (same(r[SU], r[SK]) && r[SU].ret >= 0)
            claim(st, op->a, lnr[SU], K_EPOLL, new_obj(st));
        break;

    case O_PIPE:
    case O_SOCKPAIR:
        if (!fresh(st, op->a) || !fresh(st, op->b) || op->a == op->b)
            return -1;
        for (int s = 0; s < 2; s++) {
            if (op->type == O_PIPE)
                r[s] = mk(s_pipe2(s, fds[s], O_NONBLOCK | (op->e ? O_CLOEXEC : 0)));
            else
                r[s] = mk(s_socketpair(s, op->c | SOCK_NONBLOCK, fds[s]));
            if (r[s].ret >= 0) {
                lnr[s] = relocate(s, fds[s][0]);
                lnr2[s] = relocate(s, fds[s][1]);
                r[s].ret = lnr[s] * 10000 + lnr2[s];
            }
        }
        if (same(r[SU], r[SK]) && r[SU].ret >= 0) {
            int ka, kb;
            if (op->type == O_PIPE)
                ka = K_PIPE_R, kb = K_PIPE_W;
            else
                ka = kb = op->c == SOCK_STREAM ? K_STREAM
                          : op->c == SOCK_DGRAM ? K_DGRAM : K_SEQPACKET;
            claim(st, op->a, lnr[SU], ka, new_obj(st));
            claim(st, op->b, lnr2[SU], kb, new_obj(st));
        }
        break;

    case O_EVENTFD:
    case O_KFILE:
    case O_DEVNULL:
        if (!fresh(st, op->a))
            return -1;
        for (int s = 0; s < 2; s++) {
            if (op->type == O_EVENTFD)
                r[s] = mk(s_eventfd(s, (unsigned)op->d,
                                    EFD_NONBLOCK | (op->e ? EFD_SEMAPHORE : 0)));
            else if (op->type == O_KFILE)
                r[s] = mk(s_kfile(s, (unsigned)op->d));
            else
                r[s] = mk(s_devnull(s));
            if (r[s].ret >= 0)
                r[s].ret = lnr[s] = relocate(s, (int)r[s].ret);
        }
        if (same(r[SU], r[SK]) && r[SU].ret >= 0)
            claim(st, op->a, lnr[SU],
                  op->type == O_KFILE ? K_KFILE : op->type == O_DEVNULL ? K_DEVNULL
                                                 : op->e ? K_EVENTFD_SEM : K_EVENTFD,
                  new_obj(st));
        break;

    case O_CTL: {
        if (!usable(st, op->a) || !usable(st, op->b))
            return -1;
        int ct = cur(st, op->b);
        struct epoll_event ev[2];
        for (int s = 0; s < 2; s++) {
            ev[s].events = op->ev;
            ev[s].data.u64 = mkdata((unsigned)op->d, ct < 0 ? K_NONE : st->h[ct].kind,
                                    ct < 0 ? 0xfff : (unsigned)st->h[ct].obj,
                                    !!(op->ev & (EPOLLET | EPOLLONESHOT)), (unsigned)op->b);
            r[s] = mk(s_ctl(s, fd_of(st, s, op->a), op->c, fd_of(st, s, op->b),
                            op->e ? NULL : &ev[s]));
        }
        if (flip_type == O_CTL && r[SU].ret < 0 && r[SU].err == EEXIST)
            r[SU].err = ENOENT;
        if (same(r[SU], r[SK]) && r[SU].ret == 0 && op->c == EPOLL_CTL_DEL) {
            for (int i = 0; i < st->nregs; i++)
                if (st->regs[i].ep == op->a && st->regs[i].fd == op->b)
                    st->regs[i--] = st->regs[--st->nregs];
            st->last_del_ep = (int16_t)op->a;
            st->last_del_fd = (int16_t)op->b;
        }
        if (same(r[SU], r[SK]) && r[SU].ret == 0 && op->c == EPOLL_CTL_ADD &&
            st->nregs < MAXREGS) {
            st->regs[st->nregs].ep = (int16_t)op->a;
            st->regs[st->nregs++].fd = (int16_t)op->b;
        }
        if (same(r[SU], r[SK]) && r[SU].ret == 0 && op->c == EPOLL_CTL_ADD) {
            int ce = cur(st, op->a), ct = cur(st, op->b);
            if (ce >= 0 && ct >= 0 && st->h[ce].kind == K_EPOLL) {
                if (st->h[ct].kind == K_EPOLL) {
                    st->taint[st->h[ce].obj] |= T_OUTER;
                    st->taint[st->h[ct].obj] |= T_INNER;
                } else if (st->h[ct].kind == K_KFILE) {
                    st->taint[st->h[ce].obj] |= T_MIX;
                }
            }
        }
        break;
    }

    case O_WAIT: {
        if (!usable(st, op->a))
            return -1;
        int c = cur(st, op->a), obj = -1;
        if (c >= 0 && st->h[c].kind == K_EPOLL) {
            obj = st->h[c].obj;
            taint = st->taint[obj];
        }
        for (int s = 0; s < 2; s++)
            r[s] = mk(s_wait(s, fd_of(st, s, op->a), evb[s], op->b, op->c));
        if (flip_type == O_WAIT && r[SU].ret >= 2) {
            struct epoll_event t = evb[SU][0];
            evb[SU][0] = evb[SU][1];
            evb[SU][1] = t;
        }
        int bad = compare_wait(st, op, taint, r, why, wl);
        if (verbose) {
            char bu[EVTXT];
            fmt_events(evb[SU], r[SU].ret > 0 ? (int)r[SU].ret : 0, bu, sizeof bu);
            if (!bad && r[SU].ret < 0)
                snprintf(why, wl, "  -> -1/%s\n", errname(r[SU].err));
            else if (!bad)
                snprintf(why, wl, "  events:%s\n", bu);
        }
        return bad;
    }

    case O_READ:
    case O_PEEK: {
        if (!usable(st, op->a))
            return -1;
        size_t n = op->c < 0 ? 0 : op->c > IOBUF ? IOBUF : (size_t)op->c;
        for (int s = 0; s < 2; s++) {
            memset(rbuf[s], 0, n < 64 ? n : 64);
            int fd = fd_of(st, s, op->a);
            r[s] = mk(op->type == O_READ ? s_read(s, fd, rbuf[s], n, op->e) : s_peek(s, fd, rbuf[s], n));
        }
        if (flip_type == op->type && r[SU].ret > 0)
            r[SU].ret--;
        if (same(r[SU], r[SK]) && r[SU].ret > 0 && memcmp(rbuf[SU], rbuf[SK], r[SU].ret) != 0) {
            snprintf(why, wl, "  both returned %ld, but the bytes differ\n", r[SU].ret);
            return 1;
        }
        break;
    }

    case O_WRITE: {
        if (!usable(st, op->a))
            return -1;
        size_t n = op->c < 0 ? 0 : op->c > IOBUF ? IOBUF : (size_t)op->c;
        fill_pattern(st->step, n);
        uint64_t v = (uint64_t)op->d;
        memcpy(wbuf, &v, n < 8 ? n : 8);
        for (int s = 0; s < 2; s++)
            r[s] = mk(s_write(s, fd_of(st, s, op->a), wbuf, n));
        if (flip_type == O_WRITE && r[SU].ret > 0)
            r[SU].ret--;
        break;
    }

    case O_CLOSE:
        if (!usable(st, op->a))
            return -1;
        for (int s = 0; s < 2; s++)
            r[s] = mk(s_close(s, fd_of(st, s, op->a)));
        if (flip_type == O_CLOSE && r[SU].ret == 0)
            r[SU].ret = 1;
        if (!is_pseudo(op->a) && same(r[SU], r[SK]))
            number_closed(st, st->h[op->a].ln);
        break;

    case O_DUP:
    case O_DUPFD:
    case O_DUP2: {
        if (!usable(st, op->a) || !fresh(st, op->b))
            return -1;
        int src = cur(st, op->a);
        int slot = op->c < 0 ? 0 : op->c >= REGION - 1 ? REGION - 2 : op->c;
        for (int s = 0; s < 2; s++) {
            int fd = fd_of(st, s, op->a);
            if (op->type == O_DUP) {
                r[s] = mk(s_dup(s, fd));
                if (r[s].ret >= 0)
                    r[s].ret = relocate(s, (int)r[s].ret);
            } else if (op->type == O_DUPFD) {
                r[s] = mk(s_fcntl(s, fd, op->e ? F_DUPFD_CLOEXEC : F_DUPFD, BASE[s] + slot));
                if (r[s].ret >= 0)
                    r[s].ret = logical(s, (int)r[s].ret);
            } else {
                r[s] = mk(s_dup2(s, fd, BASE[s] + slot, op->e));
                if (r[s].ret >= 0)
                    r[s].ret = logical(s, (int)r[s].ret);
            }
        }
        if (flip_type == op->type && r[SU].ret >= 0)
            r[SU].ret++;
        if (same(r[SU], r[SK]) && r[SU].ret >= 0 && r[SU].ret < REGION && src >= 0 &&
            !(src >= 0 && st->h[src].ln == r[SU].ret))
            claim(st, op->b, (int)r[SU].ret, st->h[src].kind, st->h[src].obj);
        break;
    }

    case O_SHUTDOWN:
        if (!usable(st, op->a))
            return -1;
        for (int s = 0; s < 2; s++)
            r[s] = mk(s_shutdown(s, fd_of(st, s, op->a), op->c));
        if (flip_type == O_SHUTDOWN && r[SU].ret == 0)
            r[SU].ret = 1;
        break;

    default:
        return -1;
    }

    char a[32], b[32];
    fmt_res(r[SU], a, sizeof a);
    fmt_res(r[SK], b, sizeof b);
    if (!same(r[SU], r[SK])) {
        snprintf(why, wl, "  uepoll: %s\n  kernel: %s\n", a, b);
        return 1;
    }
    if (verbose)
        snprintf(why, wl, "  -> %s\n", a);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Generation                                                          */
/* ------------------------------------------------------------------ */

struct rng {
    uint64_t s;
};

static uint64_t rnext(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned rn(struct rng *r, unsigned n)
{
    return n ? (unsigned)(rnext(r) % n) : 0;
}

static int chance(struct rng *r, unsigned pct)
{
    return rn(r, 100) < pct;
}

/* A weighted choice: w[] sums to anything. */
static int wpick(struct rng *r, const unsigned *w, int n)
{
    unsigned tot = 0;
    for (int i = 0; i < n; i++)
        tot += w[i];
    unsigned x = rn(r, tot);
    for (int i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}

static int count_open(const struct state *st, unsigned kmask)
{
    int n = 0;
    for (int h = 0; h < NREAL; h++)
        if (st->h[h].exists && st->h[h].open && (kmask & KM(st->h[h].kind)))
            n++;
    return n;
}

static int pick_open(const struct state *st, struct rng *r, unsigned kmask)
{
    int n = count_open(st, kmask);
    if (n == 0)
        return -1;
    int k = (int)rn(r, n);
    for (int h = 0; h < NREAL; h++)
        if (st->h[h].exists && st->h[h].open && (kmask & KM(st->h[h].kind)) && k-- == 0)
            return h;
    return -1;
}

static int pick_closed(const struct state *st, struct rng *r)
{
    int n = 0;
    for (int h = 0; h < NREAL; h++)
        n += st->h[h].exists && !st->h[h].open;
    if (n == 0)
        return -1;
    int k = (int)rn(r, n);
    for (int h = 0; h < NREAL; h++)
        if (st->h[h].exists && !st->h[h].open && k-- == 0)
            return h;
    return -1;
}

static int pick_pseudo(struct rng *r)
{
    static const int p[] = { HP_NEG, HP_BIG, HP_UNUSED };
    return p[rn(r, 3)];
}

/* Mostly an open handle of the wanted kinds; sometimes anything, a closed handle
 * (its number may have been reused) or an invalid fd. */
static int pick(const struct state *st, struct rng *r, unsigned kmask)
{
    unsigned x = rn(r, 100);
    int h = -1;
    if (x < 86)
        h = pick_open(st, r, kmask);
    else if (x < 92)
        h = pick_open(st, r, KM_ANY);
    else if (x < 97)
        h = pick_closed(st, r);
    if (h < 0 && x < 97)
        h = pick_open(st, r, KM_ANY);
    return h < 0 ? pick_pseudo(r) : h;
}

static uint32_t gen_events(struct rng *r, int op)
{
    uint32_t ev = 0;
    if (chance(r, 3))
        return 0;
    if (chance(r, 65)) ev |= EPOLLIN;
    if (chance(r, 45)) ev |= EPOLLOUT;
    if (chance(r, 20)) ev |= EPOLLRDHUP;
    if (chance(r, 8)) ev |= EPOLLPRI;
    if (chance(r, 35)) ev |= EPOLLET;
    if (chance(r, 15)) ev |= EPOLLONESHOT;
    if (chance(r, op == EPOLL_CTL_ADD ? 12 : 3)) {
        ev |= EPOLLEXCLUSIVE;
        if (chance(r, 75)) /* mostly legal: IN OUT ERR HUP WAKEUP ET */
            ev &= EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET |
                  EPOLLEXCLUSIVE;
    }
    if (chance(r, 6)) {
        static const uint32_t extra[] = {
            EPOLLERR, EPOLLHUP, EPOLLRDNORM, EPOLLRDBAND, EPOLLWRNORM, EPOLLWRBAND,
            EPOLLMSG, EPOLLWAKEUP, 1u << 20, 1u << 24, 1u << 27,
        };
        ev |= extra[rn(r, sizeof extra / sizeof extra[0])];
    }
    return ev;
}

static const unsigned io_sizes[] = {
    0, 1, 5, 100, 1000, 4095, 4096, 4097, 8192, 16384, 65536, 70000, 200000,
};
static const unsigned read_sizes[] = { 0, 1, 7, 100, 1000, 4096, 5000, 65536, IOBUF };
static const unsigned long long efd_values[] = {
    0, 1, 1, 1, 2, 3, 100, 0x7fffffffffffffffull, 0xfffffffffffffffdull,
    0xfffffffffffffffeull, 0xffffffffffffffffull,
};

static void gen_create(struct state *st, struct rng *r, int *next, struct op *op)
{
    static const unsigned w[] = { 25, 25, 25, 15, 5, 3 };
    op->type = O_EPOLL + wpick(r, w, 6);
    if (op->type == O_EPOLL && count_open(st, KM(K_EPOLL)) >= st->max_epoll)
        op->type = O_PIPE + (int)rn(r, 3);
    op->a = (*next)++;
    switch (op->type) {
    case O_EPOLL: {
        static const unsigned wv[N_EPOLL_VARIANTS] = { 70, 14, 10, 2, 2, 2 };
        op->c = wpick(r, wv, N_EPOLL_VARIANTS);
        break;
    }
    case O_PIPE:
        op->b = (*next)++;
        op->e = chance(r, 30);
        break;
    case O_SOCKPAIR: {
        static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
        op->b = (*next)++;
        op->c = types[rn(r, 3)];
        break;
    }
    case O_EVENTFD:
    case O_KFILE: {
        static const unsigned long long init[] = { 0, 0, 0, 0, 1, 1, 5, 0xffffffffull };
        op->d = (long long)init[rn(r, 8)];
        op->e = op->type == O_EVENTFD && chance(r, 30);
        break;
    }
    default:
        break;
    }
}

static void gen_op(struct state *st, struct rng *r, int *next, struct op *op)
{
    memset(op, 0, sizeof *op);
    int live = count_open(st, KM_ANY);
    int can_create = live < st->max_live && *next + 2 < NREAL;
    if (can_create && (live < 3 || chance(r, 11) ||
                       (count_open(st, KM(K_EPOLL)) == 0 && chance(r, 50)))) {
        gen_create(st, r, next, op);
        if (count_open(st, KM(K_EPOLL)) == 0 && chance(r, 50)) {
            op->type = O_EPOLL;
            op->b = 0;
            op->c = 0;
            op->e = 0;
            op->d = 0;
        }
        return;
    }
    static const unsigned w[] = {
        /* ctl wait write read peek close dup dupfd dup2 shutdown */
        330, 230, 140, 130, 15, 45, 12, 8, 15, 30,
    };
    static const int types[] = {
        O_CTL, O_WAIT, O_WRITE, O_READ, O_PEEK, O_CLOSE, O_DUP, O_DUPFD, O_DUP2, O_SHUTDOWN,
    };
    op->type = types[wpick(r, w, 10)];
    switch (op->type) {
    case O_CTL: {
        static const unsigned wo[] = { 45, 28, 22, 2, 2, 1 };
        static const int ops[] = { EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL, 0, 4, -1 };
        op->c = ops[wpick(r, wo, 6)];
        if (op->c == EPOLL_CTL_ADD && st->last_del_ep >= 0 && chance(r, 25)) {
            op->a = st->last_del_ep; /* re-arm: DEL then ADD of the same key */
            op->b = st->last_del_fd;
        } else if (op->c != EPOLL_CTL_ADD && st->nregs > 0 && chance(r, 80)) {
            int i = (int)rn(r, st->nregs);
            op->a = st->regs[i].ep;
            op->b = st->regs[i].fd;
        } else {
            op->a = chance(r, 95) ? pick(st, r, KM(K_EPOLL)) : pick(st, r, KM_ANY);
            op->b = chance(r, 8) ? pick(st, r, KM(K_EPOLL)) : pick(st, r, KM_ANY & ~KM(K_EPOLL));
        }
        op->e = chance(r, 2);
        op->d = rn(r, 16);
        op->ev = gen_events(r, op->c);
        break;
    }
    case O_WAIT: {
        static const unsigned wm[] = { 20, 15, 10, 10, 10, 20, 4, 4, 3, 4 };
        static const int maxes[] = { 1, 2, 3, 4, 8, 64, 0, -1, EP_MAX_EVENTS + 1, EP_MAX_EVENTS };
        static const unsigned wc[N_WAIT_VARIANTS] = { 40, 20, 20, 15, 5 };
        op->a = -1;
        if (st->nregs > 0 && chance(r, 75))
            op->a = st->regs[rn(r, st->nregs)].ep;
        if (op->a < 0 || (kind_of(st, op->a) != K_EPOLL && chance(r, 90)))
            op->a = chance(r, 95) ? pick(st, r, KM(K_EPOLL)) : pick(st, r, KM_ANY);
        op->b = maxes[wpick(r, wm, 10)];
        op->c = wpick(r, wc, N_WAIT_VARIANTS);
        break;
    }
    case O_WRITE:
        op->a = pick(st, r, KM(K_PIPE_W) | KM_SOCK | KM_EFD | KM(K_DEVNULL));
        if (KM(kind_of(st, op->a)) & KM_EFD && chance(r, 90)) {
            static const int lens[] = { 8, 8, 8, 8, 8, 8, 8, 4, 16, 0 };
            op->c = lens[rn(r, 10)];
            op->d = (long long)efd_values[rn(r, sizeof efd_values / sizeof efd_values[0])];
        } else {
            op->c = (int)io_sizes[rn(r, sizeof io_sizes / sizeof io_sizes[0])];
        }
        break;
    case O_READ:
    case O_PEEK:
        op->a = op->type == O_PEEK ? pick(st, r, KM_SOCK)
                                   : pick(st, r, KM(K_PIPE_R) | KM_SOCK | KM_EFD | KM(K_DEVNULL));
        if (KM(kind_of(st, op->a)) & KM_EFD && chance(r, 90)) {
            static const int lens[] = { 8, 8, 8, 8, 8, 8, 8, 4, 16, 0 };
            op->c = lens[rn(r, 10)];
        } else {
            op->c = (int)read_sizes[rn(r, sizeof read_sizes / sizeof read_sizes[0])];
        }
        if (op->type == O_READ && (KM(kind_of(st, op->a)) & KM_SOCK)) {
            static const unsigned wv[N_READ_VARIANTS] = { 70, 20, 10 };
            op->e = wpick(r, wv, N_READ_VARIANTS);
        }
        break;
    case O_CLOSE:
        op->a = pick(st, r, KM_ANY);
        break;
    case O_DUP:
    case O_DUPFD:
    case O_DUP2:
        if (!can_create) {
            op->type = O_CLOSE;
            op->a = pick(st, r, KM_ANY);
            break;
        }
        op->a = pick(st, r, KM_ANY);
        op->b = (*next)++;
        if (op->type == O_DUPFD) {
            op->c = (int)rn(r, 60);
            op->e = chance(r, 30);
        } else if (op->type == O_DUP2) {
            static const unsigned wv[N_DUP2_VARIANTS] = { 50, 25, 20, 5 };
            int t = chance(r, 50) ? pick(st, r, KM_ANY) : -1;
            op->c = t >= 0 && !is_pseudo(t) ? st->h[t].ln : (int)rn(r, 48);
            op->e = wpick(r, wv, N_DUP2_VARIANTS);
        }
        break;
    case O_SHUTDOWN: {
        static const int hows[] = { SHUT_RD, SHUT_WR, SHUT_RDWR, SHUT_RD, SHUT_WR, SHUT_RDWR, 7 };
        op->a = pick(st, r, KM_SOCK);
        op->c = hows[rn(r, 7)];
        break;
    }
    }
}

/* ------------------------------------------------------------------ */
/* Cases, the fd-leak check                                            */
/* ------------------------------------------------------------------ */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void list_fds(char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && off + 80 < len) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t k = readlink(path, target, sizeof target - 1);
        target[k > 0 ? k : 0] = 0;
        off += snprintf(buf + off, len - off, " %s->%s", e->d_name, target);
    }
    closedir(d);
}

static int baseline_fds;

/* Exit classes: 0 pass, 10 + op type for a mismatch at an op of that type,
 * 9 for an fd leak at the end of the case, 128 + signal for a crash. */
#define CLASS_LEAK 9
#define CLASS_OP(t) (10 + (t))

struct outcome {
    int cls;
    int step; /* index of the failing op, or the op count for a leak */
};

/* Shared with the supervisor: the case being run, so that a crash or a mismatch can
 * be minimised by the parent. */
struct shared {
    uint64_t case_seed;
    long cases_done;
    long ops_done;
    long failures;
    int nops;
    int fail_step;
    int fail_cls;
    struct op ops[];
};

static struct shared *shm;

static void report(uint64_t seed, int step, const struct op *op, const char *why)
{
    char t[512], where[64] = "replay";
    fmt_op(op, t, sizeof t);
    if (shm)
        snprintf(where, sizeof where, "seed %llu", (unsigned long long)seed);
    printf("MISMATCH %s step %d: %s\n%s", where, step, t, why);
    fflush(stdout);
}

/* Run a case: generated (ops == NULL: `n` ops from `seed`, recorded in `out`) or
 * replayed (`ops`). */
static struct outcome run_case(uint64_t seed, const struct op *ops, int n, struct op *out,
                               int quiet)
{
    static struct state st;
    static char why[WHY];
    struct rng r = { seed };
    int next = 0;
    struct outcome res = { 0, 0 };
    state_init(&st);
    /* Profiles: few fds (dense interactions), the default, many instances (deep
     * nesting, ELOOP). */
    static const int lives[] = { 6, MAXLIVE, MAXLIVE, MAXLIVE };
    static const int epolls[] = { 2, 3, 3, 7 };
    st.max_live = lives[rn(&r, 4)];
    st.max_epoll = epolls[rn(&r, 4)];
    for (int i = 0; i < n; i++) {
        struct op op;
        if (ops)
            op = ops[i];
        else
            gen_op(&st, &r, &next, &op);
        if (out)
            out[i] = op;
        if (shm) {
            shm->nops = i + 1;
            shm->ops_done++;
        }
        int k = exec_op(&st, &op, why, sizeof why);
        if (verbose && !quiet) {
            char t[512];
            fmt_op(&op, t, sizeof t);
            printf("%4d %s%s\n%s", i, k < 0 ? "(skipped) " : "", t, k == 1 ? "" : why);
        }
        if (k == 1) {
            if (!quiet)
                report(seed, i, &op, why);
            res = (struct outcome){ CLASS_OP(op.type), i };
            close_everything(&st);
            return res;
        }
    }
    close_everything(&st);
    int nf = count_fds();
    if (nf != baseline_fds) {
        if (!quiet) {
            char list[4096];
            list_fds(list, sizeof list);
            printf("MISMATCH seed %llu: %d fds open after the case closed everything, %d "
                   "before it (leak):%s\n",
                   (unsigned long long)seed, nf, baseline_fds, list);
            fflush(stdout);
        }
        baseline_fds = nf; /* report once */
        return (struct outcome){ CLASS_LEAK, n };
    }
    return res;
}

/* ------------------------------------------------------------------ */
/* Ops files and the shrinker                                          */
/* ------------------------------------------------------------------ */

static int load_ops(const char *path, struct op **ops)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    int cap = 64, n = 0;
    *ops = malloc(cap * sizeof **ops);
    char line[1024];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        struct op op;
        int k = parse_op(line, &op);
        if (k < 0) {
            fprintf(stderr, "%s:%d: cannot parse: %s", path, lineno, line);
            exit(2);
        }
        if (k == 0)
            continue;
        if (n == cap)
            *ops = realloc(*ops, (cap *= 2) * sizeof **ops);
        (*ops)[n++] = op;
    }
    fclose(f);
    return n;
}

static void write_ops(const char *path, const struct op *ops, int n, const char *header)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    if (header)
        fputs(header, f);
    for (int i = 0; i < n; i++) {
        char t[512];
        fmt_op(&ops[i], t, sizeof t);
        fprintf(f, "%s\n", t);
    }
    fclose(f);
}

static char self_exe[4096];

/* Run `difftest -q -f FILE` in a fresh process: its class. */
static int run_child(const char *file, int show)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        const char *mode = show ? "-v" : "-q";
        execl(self_exe, "difftest", mode, "-f", file, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            perror("waitpid");
            exit(2);
        }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

static const char *class_name(int cls, char *buf, size_t len)
{
    if (cls == 0)
        snprintf(buf, len, "pass");
    else if (cls == CLASS_LEAK)
        snprintf(buf, len, "fd leak");
    else if (cls >= 10 && cls < 10 + O_NTYPES)
        snprintf(buf, len, "mismatch at a '%s' op", opdefs[cls - 10].name);
    else if (cls >= 128)
        snprintf(buf, len, "killed by signal %d (%s)", cls - 128, strsignal(cls - 128));
    else
        snprintf(buf, len, "exit %d", cls);
    return buf;
}

/* Greedy delta debugging: drop chunks of ops (halving the chunk size down to one op)
 * while the fresh-process replay still fails the same way. */
static int minimise(struct op *ops, int n, int cls, const char *tmp)
{
    char cn[128];
    write_ops(tmp, ops, n, NULL);
    int got = run_child(tmp, 0);
    if (got != cls) {
        printf("difftest: the sequence does not fail the same way in a fresh process "
               "(%s); not minimised\n", class_name(got, cn, sizeof cn));
        return n;
    }
    struct op *cand = malloc((n ? n : 1) * sizeof *cand);
    int runs = 1;
    for (int chunk = n / 2 > 0 ? n / 2 : 1;; chunk = chunk > 1 ? chunk / 2 : 1) {
        int removed = 0;
        for (int i = 0; i < n;) {
            int len = i + chunk <= n ? chunk : n - i;
            int m = 0;
            for (int j = 0; j < n; j++)
                if (j < i || j >= i + len)
                    cand[m++] = ops[j];
            write_ops(tmp, cand, m, NULL);
            runs++;
            if (m > 0 && run_child(tmp, 0) == cls) {
                memcpy(ops, cand, m * sizeof *ops);
                n = m;
                removed = 1;
            } else {
                i += len;
            }
        }
        if (chunk == 1 && !removed)
            break;
    }
    free(cand);
    printf("difftest: minimised to %d ops in %d fresh-process runs\n", n, runs);
    return n;
}

static void shrink_and_report(struct op *ops, int n, int cls, uint64_t seed, const char *what)
{
    char cn[128], tmp[4200], out[4200], header[512];
    const char *dir = getenv("DIFFTEST_OUT");
    if (!dir || !*dir)
        dir = "/tmp";
    snprintf(tmp, sizeof tmp, "%s/difftest-cand-%d.ops", dir, (int)getpid());
    snprintf(out, sizeof out, "%s/difftest-min-%llu.ops", dir, (unsigned long long)seed);
    printf("difftest: %s (%s); minimising %d ops, each candidate in a fresh process...\n",
           what, class_name(cls, cn, sizeof cn), n);
    n = minimise(ops, n, cls, tmp);
    unlink(tmp);
    snprintf(header, sizeof header,
             "# difftest ops: minimised from seed %llu (%s)\n# replay: difftest -f FILE\n",
             (unsigned long long)seed, class_name(cls, cn, sizeof cn));
    write_ops(out, ops, n, header);
    printf("---- minimal sequence (%d ops), written to %s ----\n", n, out);
    for (int i = 0; i < n; i++) {
        char t[512];
        fmt_op(&ops[i], t, sizeof t);
        printf("%s\n", t);
    }
    printf("---- its replay (difftest -v -f %s) ----\n", out);
    run_child(out, 1);
    printf("----\n");
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: difftest [-s SEED] [-n OPS] [-c CASES] [-t SECONDS] [-k]\n"
            "       difftest -f FILE [-m] [-v] [-q] [-K]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t seed = 1;
    int nops = 200, minimise_file = 0, quiet = 0, keep_going = 0;
    long cases = 100;
    double seconds = 0;
    const char *file = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "s:n:c:t:f:mvqkKh")) != -1) {
        switch (opt) {
        case 's': seed = strtoull(optarg, NULL, 0); break;
        case 'n': nops = atoi(optarg); break;
        case 'c': cases = atol(optarg); break;
        case 't': seconds = atof(optarg); break;
        case 'f': file = optarg; break;
        case 'm': minimise_file = 1; break;
        case 'v': verbose = 1; break;
        case 'q': quiet = 1; break;
        case 'k': keep_going = 1; break;
        case 'K': break; /* no known bug is tolerated any more */
        default: usage();
        }
    }
    if (nops <= 0 || nops > 100000 || cases < 0)
        usage();
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    ssize_t k = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (k <= 0) {
        perror("readlink /proc/self/exe");
        return 2;
    }
    self_exe[k] = 0;
    const char *flip = getenv("DIFFTEST_FLIP");
    if (flip && *flip) {
        for (int t = 0; t < O_NTYPES; t++)
            if (strcmp(flip, opdefs[t].name) == 0)
                flip_type = t;
        if (flip_type < 0) {
            fprintf(stderr, "DIFFTEST_FLIP: unknown op %s\n", flip);
            return 2;
        }
        if (!quiet)
            printf("difftest: DIFFTEST_FLIP=%s: corrupting that op's uepoll-side result "
                   "on purpose\n", flip);
    }
    baseline_fds = count_fds();

    if (file) {
        struct op *ops;
        int n = load_ops(file, &ops);
        alarm(60);
        struct outcome o = run_case(0, ops, n, NULL, quiet);
        if (o.cls == 0) {
            if (!quiet)
                printf("difftest: %s: %d ops, no mismatch\n", file, n);
            return 0;
        }
        if (minimise_file) {
            int keep = o.cls == CLASS_LEAK ? n : o.step + 1;
            shrink_and_report(ops, keep, o.cls, 0, file);
        }
        return o.cls;
    }

    /* Supervisor: a worker process runs the cases, so that a crash or hang of the
     * library can be minimised too. The worker creates every fd after the fork. */
    size_t sz = sizeof(struct shared) + (size_t)nops * sizeof(struct op);
    shm = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    double t0 = now_s();
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        /* Counted again here: under uepoll a fork child holds one descriptor of the
         * library's (the tracked child's sentinel, docs/differences.md, "fork"), which is
         * not a leak of any case. */
        baseline_fds = count_fds();
        for (long c = 0;; c++) {
            if (seconds > 0 ? now_s() - t0 >= seconds : c >= cases)
                break;
            shm->case_seed = seed + (uint64_t)c;
            shm->nops = 0;
            alarm(60);
            struct outcome o = run_case(shm->case_seed, NULL, nops, shm->ops, quiet);
            if (o.cls && keep_going) {
                shm->failures++;
                printf("difftest: case %ld (seed %llu) failed at step %d\n", c,
                       (unsigned long long)shm->case_seed, o.step);
            } else if (o.cls) {
                shm->fail_step = o.step;
                shm->fail_cls = o.cls;
                printf("difftest: case %ld (seed %llu) failed at step %d; replay it alone "
                       "with: difftest -s %llu -n %d -c 1\n",
                       c, (unsigned long long)shm->case_seed, o.step,
                       (unsigned long long)shm->case_seed, nops);
                exit(o.cls);
            }
            shm->cases_done++;
        }
        exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            perror("waitpid");
            return 2;
        }
    double dt = now_s() - t0;
    int cls = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    printf("difftest: %ld cases, %ld ops, %.1f s (seed %llu, %d ops per case)\n",
           shm->cases_done + (cls ? 1 : 0), shm->ops_done, dt, (unsigned long long)seed, nops);
    if (cls == 0 && shm->failures) {
        printf("difftest: %ld cases failed (-k: not minimised)\n", shm->failures);
        return 1;
    }
    if (cls == 0)
        return 0;
    int n = shm->nops;
    if (cls >= 10 && cls < 10 + O_NTYPES)
        n = shm->fail_step + 1;
    struct op *ops = malloc((n ? n : 1) * sizeof *ops);
    memcpy(ops, shm->ops, n * sizeof *ops);
    char what[128];
    snprintf(what, sizeof what, "case seed %llu failed", (unsigned long long)shm->case_seed);
    if (cls >= 128)
        printf("difftest: the worker died: signal %d at op %d of case seed %llu\n", cls - 128,
               n - 1, (unsigned long long)shm->case_seed);
    shrink_and_report(ops, n, cls, shm->case_seed, what);
    return 1;
}
