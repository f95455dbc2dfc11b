/* torture-churn.c - mode churn (torture.c describes the modes). */
#include "torture-common.h"

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
    unsigned quiet_mask;  /* instance slots that held its items when the last ref went */
    unsigned quiet_epoch; /* and the epoch of that set then (see g_inflight) */
    int pend_why;         /* why its registrations end, once released */
    struct tfile *pend_next; /* on g_pending, then on g_quiet_pending */
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
/* Wait calls in flight on each instance slot (ep_item_poll holds a reference to the file
 * it polls, see file_release_when_quiet), in one word so that a moment when several
 * slots are idle at once is seen: bits 8i..8i+7 count the waits on slot i; for each
 * non-empty set m of slots (a bit mask, 1 to 7), a 5-bit epoch at bit 24 + 5(m-1) counts
 * (modulo 32) the moments when the last wait in flight on the slots of m returned. */
static atomic_ulong g_inflight;
_Static_assert(8 * NINST <= 24 && 24 + 5 * ((1 << NINST) - 1) <= 64, "g_inflight layout");
static struct tfile *g_quiet_pending; /* book lock: files waiting for such a moment */
static atomic_int g_quiet_npend;

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

static unsigned fl_count(uint64_t w, int slot)
{
    return (unsigned)(w >> (8 * slot)) & 0xffu;
}

static int fl_shift(unsigned mask)
{
    return 24 + 5 * ((int)mask - 1);
}

static unsigned fl_epoch(uint64_t w, unsigned mask)
{
    return (unsigned)(w >> fl_shift(mask)) & 0x1fu;
}

/* No wait is in flight on any slot of mask. */
static int fl_idle(uint64_t w, unsigned mask)
{
    for (int i = 0; i < NINST; i++)
        if ((mask >> i & 1) && fl_count(w, i) != 0)
            return 0;
    return 1;
}

/* Release the files on g_quiet_pending whose slots have all been idle at one moment
 * since their last reference went: the epoch of their set moved, or they are idle now.
 * Book lock held. */
static void release_quiet(void)
{
    uint64_t w = atomic_load(&g_inflight);
    struct tfile **pp = &g_quiet_pending;
    while (*pp) {
        struct tfile *f = *pp;
        if (fl_epoch(w, f->quiet_mask) != f->quiet_epoch || fl_idle(w, f->quiet_mask)) {
            *pp = f->pend_next;
            atomic_fetch_sub(&g_quiet_npend, 1);
            file_release_now(f, f->pend_why);
        } else {
            pp = &f->pend_next;
        }
    }
}

/* The last reference that the process and its children hold on f has gone: the close
 * (or dup2, or the reap) has returned. A wait in flight may still hold the file: the
 * kernel's ep_item_poll takes a reference to the file of each item it polls (epi_fget),
 * so the final fput can be that wait's, and the items go only when it returns to user
 * space. A wait on another instance that starts meanwhile may report them. A wait can
 * hold f only while its instance has an item on f, and a wait that starts while another
 * holds f may take a reference of its own and so pass it on. The registrations therefore
 * end at the first moment no wait is in flight on any instance that had an item on f at
 * the last close (by slot: a slot's later instances count too). Book lock held. */
static void file_release_when_quiet(struct tfile *f, int why)
{
    unsigned mask = 0;
    for (int k = 0; k < f->nregs; k++) {
        uint32_t iid = atomic_load(&g_pool[f->regs[k]].inst_id);
        int slot = -1;
        for (int i = 0; i < NINST; i++)
            if (g_inst[i].id == iid)
                slot = i;
        mask |= slot >= 0 ? 1u << slot : (1u << NINST) - 1;
    }
    uint64_t w = atomic_load(&g_inflight);
    if (mask == 0 || fl_idle(w, mask)) {
        file_release_now(f, why);
        return;
    }
    f->quiet_mask = mask;
    f->quiet_epoch = fl_epoch(w, mask);
    f->pend_why = why;
    f->pend_next = g_quiet_pending;
    g_quiet_pending = f;
    atomic_fetch_add(&g_quiet_npend, 1);
    /* The slots may have become idle since the load, and the wait that made them so may
     * have seen g_quiet_npend still 0 (both sides are seq_cst: one sees the other). */
    release_quiet();
}

/* Around each wait call on instance slot `slot`, before it starts and after it returns. */
static void inflight_begin(int slot)
{
    atomic_fetch_add(&g_inflight, 1ull << (8 * slot));
}

static void inflight_end(int slot)
{
    uint64_t w = atomic_load(&g_inflight), nw;
    do {
        nw = w - (1ull << (8 * slot));
        if (fl_count(nw, slot) == 0)
            for (unsigned m = 1; m < 1u << NINST; m++)
                if ((m >> slot & 1) && fl_idle(nw, m)) {
                    uint64_t e = (fl_epoch(nw, m) + 1) & 0x1fu;
                    nw = (nw & ~(0x1full << fl_shift(m))) | e << fl_shift(m);
                }
    } while (!atomic_compare_exchange_weak(&g_inflight, &w, nw));
    if (fl_count(nw, slot) == 0 && atomic_load(&g_quiet_npend) > 0) {
        pthread_mutex_lock(&g_book);
        release_quiet();
        pthread_mutex_unlock(&g_book);
    }
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
    file_release_when_quiet(f, why);
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
            file_release_when_quiet(f, W_CHILDREAP);
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
    int call = (int)(rnd(&t->rs) % 3);
    inflight_begin(i);
    switch (call) {
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
    int err = errno;
    inflight_end(i);
    errno = err;
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

static atomic_long g_forks, g_spawns;

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

int run_churn(long fork_ms)
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
    if (g_quiet_pending || !fl_idle(atomic_load(&g_inflight), (1u << NINST) - 1))
        violation("book: files still wait for a moment with no wait in flight");
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
