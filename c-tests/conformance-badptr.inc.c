/*
 * conformance-badptr.inc.c - bad pointers given to the fd calls around epoll, and
 * the fortified (_chk) and dprintf entry points. Included by conformance.c after
 * conformance-hostile.inc.c (it uses both files' helpers); not built alone.
 *
 * Group "hookptr" is generated from tables: every entry point x every pointer
 * argument it takes (nested ones too) x NULL, a low address and a PROT_NONE page x
 * every kind of fd (the five the library serves and one the kernel serves). Each
 * case runs in a child process that creates its own fds (a fork would hand the
 * parent's files to the kernel), so a crash is counted as a result and does not end
 * the run. The child reports the call's return value and errno, then what two
 * instances holding every fd of the case report:
 *  - a level-triggered one must report exactly what poll() says each fd is;
 *  - an edge-triggered one, drained before the call, must report exactly the
 *    wake-ups the kernel's code makes on that error path: none when the call failed
 *    before the file's own operation, and the ones listed in `expected_edges` when a
 *    copy faulted inside it (a send frees its buffer and wakes the sender, a datagram
 *    or an eventfd counter is consumed before its copy out faults, a failed pipe
 *    write wakes the readers). Checked on the kernel fds only where the library
 *    serves them; the kernel-served kind has the level check.
 *
 * Group "fortify" calls __poll_chk, __ppoll_chk and the dprintf family (plain and
 * _chk) on served fds, and checks the wake-ups of an epoll waiter.
 */

/* glibc declares these only in fortified builds; the suite calls them by name in
 * both builds. */
extern int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);
extern int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout,
                       const sigset_t *sigmask, size_t fdslen);
extern int __dprintf_chk(int fd, int flag, const char *fmt, ...);
extern int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap);

enum hk_kind { K_PIPE, K_STREAM, K_DGRAM, K_SEQPACKET, K_EVENTFD, K_KERNEL, K_NKINDS };
static const char *const hk_kind_name[K_NKINDS] = {
    "pipe", "stream socketpair", "dgram socketpair", "seqpacket socketpair", "eventfd",
    "UDP socket (kernel-served)",
};

enum hk_bad { B_NULL, B_LOW, B_NONE, B_N };
static const char *const hk_bad_name[B_N] = { "NULL", "0x10", "a PROT_NONE page" };

enum hk_call {
    C_SENDMSG, C_SENDMMSG, C_RECVMSG, C_RECVMMSG, C_READV, C_WRITEV, C_EVENTFD_READ,
    C_POLL, C_POLL_CHK, C_PPOLL, C_PPOLL_CHK, C_SELECT, C_PSELECT,
};

/* Argument names; "data" ones are copied inside the file's own operation. */
static const struct hk_entry {
    const char *name;
    enum hk_call call;
    int writes; /* acts on the write side (1) or the read side (0) */
    int socket; /* a socket call: ENOTSOCK on a pipe or an eventfd */
    const char *args[5];
} hk_entries[] = {
    { "sendmsg", C_SENDMSG, 1, 1, { "msghdr", "msg_iov", "iov_base", "msg_control", "msg_name" } },
    { "sendmmsg", C_SENDMMSG, 1, 1, { "mmsghdr vector" } },
    { "recvmsg", C_RECVMSG, 0, 1, { "msghdr", "msg_iov", "iov_base", "msg_name" } },
    { "recvmmsg", C_RECVMMSG, 0, 1, { "mmsghdr vector", "timespec" } },
    { "readv", C_READV, 0, 0, { "iovec array", "iov_base" } },
    { "writev", C_WRITEV, 1, 0, { "iovec array", "iov_base" } },
    { "eventfd_read", C_EVENTFD_READ, 0, 0, { "eventfd_t" } },
    { "poll", C_POLL, 0, 0, { "pollfd array" } },
    { "__poll_chk", C_POLL_CHK, 0, 0, { "pollfd array" } },
    { "ppoll", C_PPOLL, 0, 0, { "pollfd array", "timespec", "sigmask" } },
    { "__ppoll_chk", C_PPOLL_CHK, 0, 0, { "pollfd array", "timespec", "sigmask" } },
    { "select", C_SELECT, 0, 0, { "fd_set", "timeval" } },
    { "pselect", C_PSELECT, 0, 0, { "fd_set", "timespec", "sigmask" } },
};

static int hk_is(const struct hk_entry *e, int arg, const char *name)
{
    return strcmp(e->args[arg], name) == 0;
}

/* The fds of one case. rd and wr are the fds the calls act on (one fd except for a
 * pipe); peer is the other end of a socketpair. */
struct hk_fix {
    enum hk_kind kind;
    int rd, wr, peer;
    int fds[2], nfds;
    int lt, et;
};

static void hk_setup(struct hk_fix *f, enum hk_kind kind)
{
    int sv[2] = { -1, -1 };
    f->kind = kind;
    f->peer = -1;
    switch (kind) {
    case K_PIPE:
        mkpipe(sv);
        f->rd = sv[0];
        f->wr = sv[1];
        put(f->wr, 1);
        break;
    case K_STREAM:
    case K_DGRAM:
    case K_SEQPACKET: {
        int type = kind == K_STREAM ? SOCK_STREAM : kind == K_DGRAM ? SOCK_DGRAM : SOCK_SEQPACKET;
        if (socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, sv) != 0)
            _exit(2);
        f->rd = f->wr = sv[0];
        f->peer = sv[1];
        put(f->peer, 1);
        break;
    }
    case K_EVENTFD:
        sv[0] = eventfd(1, EFD_NONBLOCK);
        f->rd = f->wr = sv[0];
        break;
    case K_KERNEL: {
        /* A UDP socket connected to itself, with one datagram queued. */
        struct sockaddr_in sin = { .sin_family = AF_INET };
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t sl = sizeof sin;
        sv[0] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (sv[0] < 0 || bind(sv[0], (struct sockaddr *)&sin, sizeof sin) != 0 ||
            getsockname(sv[0], (struct sockaddr *)&sin, &sl) != 0 ||
            connect(sv[0], (struct sockaddr *)&sin, sizeof sin) != 0)
            _exit(2);
        f->rd = f->wr = sv[0];
        put(f->wr, 1);
        break;
    }
    default:
        _exit(2);
    }
    f->fds[0] = sv[0];
    f->fds[1] = sv[1];
    f->nfds = sv[1] >= 0 ? 2 : 1;
    f->lt = mkepoll();
    f->et = mkepoll();
    for (int i = 0; i < f->nfds; i++) {
        add(f->lt, f->fds[i], EPOLLIN | EPOLLOUT | EPOLLRDHUP, (uint64_t)f->fds[i]);
        add(f->et, f->fds[i], EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, (uint64_t)f->fds[i]);
    }
    struct epoll_event ev[MAXEV];
    epoll_wait(f->et, ev, MAXEV, 0); /* the edges of the registrations themselves */
}

/* Make the call with argument `arg` replaced by `bad`. */
static long hk_call(const struct hk_entry *e, int arg, void *bad, struct hk_fix *f)
{
    char data[8] = "x", in[8];
    struct iovec iov = { .iov_base = e->writes ? data : in, .iov_len = 1 };
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    struct sockaddr_storage name;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    struct pollfd pf = { .fd = f->rd, .events = POLLIN };
    struct timespec zero = { 0, 0 };
    struct timeval tv = { 0, 0 };
    sigset_t mask;
    fd_set rs;
    sigemptyset(&mask);
    FD_ZERO(&rs);
    FD_SET(f->rd, &rs);
    nfds_t one = (nfds_t)opaque_int(1);
    int fd = e->writes ? f->wr : f->rd;
    const char *a = e->args[arg];

    switch (e->call) {
    case C_SENDMSG:
    case C_RECVMSG:
        if (!strcmp(a, "msghdr"))
            return e->call == C_SENDMSG ? sendmsg(fd, bad, 0) : recvmsg(fd, bad, MSG_DONTWAIT);
        if (!strcmp(a, "msg_iov"))
            msg.msg_iov = bad;
        if (!strcmp(a, "iov_base"))
            iov.iov_base = bad;
        if (!strcmp(a, "msg_control")) {
            memset(&control, 0, sizeof control);
            msg.msg_control = bad;
            msg.msg_controllen = sizeof control.buf;
        }
        if (!strcmp(a, "msg_name")) {
            memset(&name, 0, sizeof name);
            msg.msg_name = bad;
            msg.msg_namelen = sizeof name;
        }
        return e->call == C_SENDMSG ? sendmsg(fd, &msg, 0) : recvmsg(fd, &msg, MSG_DONTWAIT);
    case C_SENDMMSG:
        return sendmmsg(fd, bad, 1, 0);
    case C_RECVMMSG: {
        struct mmsghdr mm = { .msg_hdr = msg };
        struct mmsghdr *v = !strcmp(a, "mmsghdr vector") ? bad : &mm;
        struct timespec *t = !strcmp(a, "timespec") ? bad : NULL;
        return recvmmsg(fd, v, 1, MSG_DONTWAIT, t);
    }
    case C_READV:
    case C_WRITEV:
        iov.iov_len = 8; /* an eventfd moves 8 bytes */
        if (!strcmp(a, "iov_base"))
            iov.iov_base = bad;
        else
            return e->call == C_READV ? readv(fd, bad, 1) : writev(fd, bad, 1);
        return e->call == C_READV ? readv(fd, &iov, 1) : writev(fd, &iov, 1);
    case C_EVENTFD_READ:
        return eventfd_read(fd, bad);
    case C_POLL:
        return poll(bad, one, 0);
    case C_POLL_CHK:
        return __poll_chk(bad, one, 0, sizeof pf);
    case C_PPOLL:
    case C_PPOLL_CHK: {
        struct pollfd *p = !strcmp(a, "pollfd array") ? bad : &pf;
        const struct timespec *t = !strcmp(a, "timespec") ? bad : &zero;
        const sigset_t *m = !strcmp(a, "sigmask") ? bad : &mask;
        return e->call == C_PPOLL ? ppoll(p, one, t, m) : __ppoll_chk(p, one, t, m, sizeof pf);
    }
    case C_SELECT:
        if (!strcmp(a, "fd_set"))
            return select(fd + 1, bad, NULL, NULL, &tv);
        return select(fd + 1, &rs, NULL, NULL, bad);
    case C_PSELECT: {
        fd_set *s = !strcmp(a, "fd_set") ? bad : &rs;
        const struct timespec *t = !strcmp(a, "timespec") ? bad : &zero;
        const sigset_t *m = !strcmp(a, "sigmask") ? bad : &mask;
        return pselect(fd + 1, s, NULL, NULL, t, m);
    }
    }
    return -2;
}

/* What the kernel (with glibc) answers: a return value and errno, or a signal. */
struct hk_outcome {
    int sig;
    long ret;
    int err;
};

static struct hk_outcome hk_expected(const struct hk_entry *e, int arg, enum hk_bad b,
                                     enum hk_kind k)
{
    struct hk_outcome ok1 = { 0, 1, 0 }, efault = { 0, -1, EFAULT };
    int is_null = b == B_NULL;
    /* do_recvmmsg copies the timeout before it looks at the fd. */
    if (e->call == C_RECVMMSG && hk_is(e, arg, "timespec") && !is_null)
        return efault;
    if (e->socket && (k == K_PIPE || k == K_EVENTFD))
        return (struct hk_outcome){ 0, -1, ENOTSOCK };
    switch (e->call) {
    case C_SENDMSG:
        /* A NULL msg_name is no address: __copy_msghdr skips it. */
        return hk_is(e, arg, "msg_name") && is_null ? ok1 : efault;
    case C_RECVMMSG:
        return hk_is(e, arg, "timespec") ? ok1 : efault;
    case C_RECVMSG:
        /* The name is written back after the data; a socketpair's peer has none. */
        if (hk_is(e, arg, "msg_name") && (is_null || k != K_KERNEL))
            return ok1;
        return efault;
    case C_PPOLL:
    case C_PPOLL_CHK:
    case C_PSELECT:
        /* glibc copies the timespec itself (so that the kernel cannot update the
         * caller's): a bad one faults in glibc, with or without the library. NULL
         * waits for the ready fd; a NULL sigmask is no mask. */
        if (hk_is(e, arg, "timespec"))
            return is_null ? ok1 : (struct hk_outcome){ SIGSEGV, 0, 0 };
        if (hk_is(e, arg, "sigmask") && is_null)
            return ok1;
        if (hk_is(e, arg, "fd_set") && is_null)
            return (struct hk_outcome){ 0, 0, 0 };
        return efault;
    case C_SELECT:
        /* glibc converts the timeval itself, as for the timespec above. */
        if (hk_is(e, arg, "timeval"))
            return is_null ? ok1 : (struct hk_outcome){ SIGSEGV, 0, 0 };
        if (is_null)
            return (struct hk_outcome){ 0, 0, 0 };
        return efault;
    default:
        return efault;
    }
}

/* The fds that get a wake-up from the call on a served kind (see the file comment).
 * Returns how many were stored in `fds`. */
static int hk_expected_edges(const struct hk_entry *e, int arg, struct hk_outcome o,
                             const struct hk_fix *f, int *fds)
{
    int data = hk_is(e, arg, "iov_base") || hk_is(e, arg, "eventfd_t");
    int sock = f->kind == K_STREAM || f->kind == K_DGRAM || f->kind == K_SEQPACKET;
    int dgram = f->kind == K_DGRAM || f->kind == K_SEQPACKET;
    if (o.sig || (o.ret < 0 && (o.err != EFAULT || !data)))
        return 0;
    if (o.ret > 0 && (e->call == C_SENDMSG || e->call == C_RECVMSG || e->call == C_RECVMMSG))
        return sock ? (fds[0] = f->peer, 1) : 0; /* data for the peer, room for it */
    if (o.ret >= 0)
        return 0;
    if (e->writes) {
        if (f->kind == K_PIPE)
            return fds[0] = f->rd, 1; /* pipe_write wakes the readers on its way out */
        return sock ? (fds[0] = f->wr, 1) : 0; /* the freed skb: write space */
    }
    if (dgram)
        return fds[0] = f->peer, 1; /* the datagram was dequeued before the copy */
    if (f->kind == K_EVENTFD)
        return fds[0] = f->rd, 1; /* the counter was consumed: room for writers */
    return 0;
}

/* What a child reports back. */
struct hk_report {
    long ret;
    int err;
    int lt_ok, et_ok;
    char detail[320];
};

static uint32_t hk_poll_bits(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT | POLLRDHUP };
    return poll(&p, 1, 0) == 1 ? (uint32_t)p.revents : 0;
}

/* The instances after the call: LT as poll() says, ET exactly the expected edges. */
static void hk_state(struct hk_fix *f, const int *edges, int nedges, struct hk_report *r)
{
    struct epoll_event ev[MAXEV];
    char b1[64], b2[64];
    size_t off = 0;
    r->lt_ok = r->et_ok = 1;
    int n = epoll_wait(f->lt, ev, MAXEV, 0);
    for (int i = 0; i < f->nfds; i++) {
        uint32_t want = hk_poll_bits(f->fds[i]);
        int at = n > 0 ? find_data(ev, n, (uint64_t)f->fds[i]) : -1;
        uint32_t got = at >= 0 ? ev[at].events : 0;
        if (got != want) {
            r->lt_ok = 0;
            off += snprintf(r->detail + off, sizeof r->detail - off, "LT fd%d %s, poll %s; ",
                            i, bits(got, b1, sizeof b1), bits(want, b2, sizeof b2));
        }
    }
    if (f->kind == K_KERNEL)
        return;
    n = epoll_wait(f->et, ev, MAXEV, 0);
    for (int i = 0; i < f->nfds && off < sizeof r->detail; i++) {
        int edge = 0;
        for (int j = 0; j < nedges; j++)
            edge |= edges[j] == f->fds[i];
        uint32_t want = edge ? hk_poll_bits(f->fds[i]) : 0;
        int at = n > 0 ? find_data(ev, n, (uint64_t)f->fds[i]) : -1;
        uint32_t got = at >= 0 ? ev[at].events : 0;
        if (got != want) {
            r->et_ok = 0;
            off += snprintf(r->detail + off, sizeof r->detail - off, "ET fd%d %s, expected %s; ",
                            i, bits(got, b1, sizeof b1), bits(want, b2, sizeof b2));
        }
    }
}

/* Run `body` in a child; the child writes a report to the pipe and exits 0. Returns
 * the signal that killed the child (0 when it exited) and fills *r. */
static int hk_in_child(void (*body)(void *, struct hk_report *), void *arg, struct hk_report *r)
{
    int rp[2];
    memset(r, 0, sizeof *r);
    if (pipe(rp) != 0) {
        perror("pipe");
        exit(2);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(rp[0]);
        struct hk_report mine;
        memset(&mine, 0, sizeof mine);
        body(arg, &mine);
        if (write(rp[1], &mine, sizeof mine) != (ssize_t)sizeof mine)
            _exit(3);
        _exit(0);
    }
    close(rp[1]);
    ssize_t got = read(rp[0], r, sizeof *r);
    close(rp[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status))
        return WTERMSIG(status);
    if (got != (ssize_t)sizeof *r)
        return -1;
    return 0;
}

struct hk_case {
    const struct hk_entry *e;
    int arg;
    enum hk_bad b;
    enum hk_kind k;
    void *bad;
    struct hk_outcome want;
};

static void hk_run_case(void *arg, struct hk_report *r)
{
    struct hk_case *c = arg;
    struct hk_fix f;
    int edges[2];
    /* The program's own SIGSEGV handling is the default one in these children. */
    signal(SIGSEGV, SIG_DFL);
    hk_setup(&f, c->k);
    errno = 0;
    r->ret = hk_call(c->e, c->arg, c->bad, &f);
    r->err = r->ret < 0 ? errno : 0;
    struct hk_outcome got = { 0, r->ret, r->err };
    hk_state(&f, edges, hk_expected_edges(c->e, c->arg, got, &f, edges), r);
}

static void hk_report_case(const char *what, const struct hk_outcome *want, int sig,
                           const struct hk_report *r)
{
    char desc[256];
    if (want->sig)
        snprintf(desc, sizeof desc, "%s: killed by signal %d, by glibc itself", what, want->sig);
    else
        snprintf(desc, sizeof desc, "%s: %ld/%s", what, want->ret,
                 want->ret < 0 ? errname(want->err) : "ok");
    if (sig != 0 || want->sig) {
        check(sig == want->sig, desc, "the child ended by signal %d, expected %d", sig,
              want->sig);
        return;
    }
    int same = r->ret == want->ret && (want->ret >= 0 || r->err == want->err);
    if (!check(same, desc, "got %ld/%s", r->ret, r->ret < 0 ? errname(r->err) : "ok"))
        return;
    snprintf(desc, sizeof desc, "%s: afterwards the instances report what is ready", what);
    check(r->lt_ok && r->et_ok, desc, "%s", r->detail);
}

/* pipe() and socketpair() with a bad int[2]: EFAULT, and no fd is left behind. */
struct hk_create {
    int type; /* 0: pipe, else the socket type */
    void *bad;
};

static void hk_run_create(void *arg, struct hk_report *r)
{
    struct hk_create *c = arg;
    int before = dup(0);
    close(before);
    errno = 0;
    r->ret = c->type ? socketpair(AF_UNIX, c->type, 0, c->bad) : pipe(c->bad);
    r->err = r->ret < 0 ? errno : 0;
    int after = dup(0);
    close(after);
    r->lt_ok = before == after;
    r->et_ok = 1;
    snprintf(r->detail, sizeof r->detail, "lowest free fd %d before, %d after", before, after);
}

static void g_hookptr(void)
{
    struct bad_mem m;
    bad_mem_init(&m, EPOLLIN, 0);
    void *bad[B_N] = { opaque_ptr(NULL), opaque_ptr((void *)0x10), opaque_ptr(m.none) };
    struct hk_report r;
    char what[256];

    for (size_t i = 0; i < sizeof hk_entries / sizeof hk_entries[0]; i++) {
        const struct hk_entry *e = &hk_entries[i];
        for (int a = 0; a < 5 && e->args[a]; a++)
            for (int b = 0; b < B_N; b++)
                for (int k = 0; k < K_NKINDS; k++) {
                    struct hk_case c = { e, a, b, k, bad[b], hk_expected(e, a, b, k) };
                    snprintf(what, sizeof what, "%s with %s = %s on a %s", e->name, e->args[a],
                             hk_bad_name[b], hk_kind_name[k]);
                    int sig = hk_in_child(hk_run_case, &c, &r);
                    hk_report_case(what, &c.want, sig, &r);
                }
    }

    static const struct { int type; const char *name; } creators[] = {
        { 0, "pipe" },
        { SOCK_STREAM, "socketpair(SOCK_STREAM)" },
        { SOCK_DGRAM, "socketpair(SOCK_DGRAM)" },
        { SOCK_SEQPACKET, "socketpair(SOCK_SEQPACKET)" },
    };
    for (size_t i = 0; i < sizeof creators / sizeof creators[0]; i++)
        for (int b = 0; b < B_N; b++) {
            struct hk_create c = { creators[i].type, bad[b] };
            struct hk_outcome want = { 0, -1, EFAULT };
            snprintf(what, sizeof what, "%s with int[2] = %s", creators[i].name, hk_bad_name[b]);
            int sig = hk_in_child(hk_run_create, &c, &r);
            hk_report_case(what, &want, sig, &r);
        }
    bad_mem_free(&m);
}

/* ------------------------------------------------------------------ */
/* The fortified entry points and the dprintf family                   */
/* ------------------------------------------------------------------ */

static int hk_vdprintf(int chk, int fd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = chk ? __vdprintf_chk(fd, 1, fmt, ap) : vdprintf(fd, fmt, ap);
    va_end(ap);
    return r;
}

/* One dprintf-family call; `how` picks the entry point. */
static int hk_printf(int how, int fd, int n)
{
    switch (how) {
    case 0:
        return dprintf(fd, "dprintf %d\n", n);
    case 1:
        return __dprintf_chk(fd, 1, "dprintf %d\n", n);
    case 2:
        return hk_vdprintf(0, fd, "dprintf %d\n", n);
    default:
        return hk_vdprintf(1, fd, "dprintf %d\n", n);
    }
}

static const char *const hk_printf_name[4] = { "dprintf", "__dprintf_chk", "vdprintf",
                                               "__vdprintf_chk" };

struct hk_delayed_printf {
    int how, fd, ret;
    pthread_t tid;
};

static void *hk_printf_thread(void *arg)
{
    struct hk_delayed_printf *d = arg;
    sleep_ms(50);
    d->ret = hk_printf(d->how, d->fd, 7);
    return NULL;
}

/* poll through glibc's fortified entry points, on an epoll fd. */
static void hk_poll_chk(int how, int ep, int wfd, const char *name)
{
    struct pollfd pf[2] = { { .fd = ep, .events = POLLIN } };
    nfds_t n = (nfds_t)opaque_int(1);
    struct timespec ts = { LONG_MS / 1000, 0 };
    char desc[160];
    /* ready now */
    put(wfd, 1);
    int r = how ? __ppoll_chk(pf, n, &ts, NULL, sizeof pf) : __poll_chk(pf, n, LONG_MS, sizeof pf);
    snprintf(desc, sizeof desc, "%s on an epoll fd whose served pipe is ready: 1, POLLIN", name);
    check(r == 1 && pf[0].revents == POLLIN, desc, "%s=%d revents=0x%x", name, r, pf[0].revents);
}

/* __poll_chk/__ppoll_chk with an array shorter than nfds: glibc's __chk_fail. */
static void hk_run_chk_fail(void *arg, struct hk_report *r)
{
    struct pollfd pf[1] = { { .fd = 0, .events = POLLIN } };
    struct timespec zero = { 0, 0 };
    nfds_t two = (nfds_t)opaque_int(2);
    r->ret = *(int *)arg ? __ppoll_chk(pf, two, &zero, NULL, sizeof pf)
                         : __poll_chk(pf, two, 0, sizeof pf);
}

static void g_fortify(void)
{
    for (int how = 0; how < 2; how++) {
        struct hk_report r;
        struct hk_outcome want = { SIGABRT, 0, 0 };
        int sig = hk_in_child(hk_run_chk_fail, &how, &r);
        hk_report_case(how ? "__ppoll_chk with nfds past the array's length"
                           : "__poll_chk with nfds past the array's length",
                       &want, sig, &r);
    }

    int ep = mkepoll(), p[2];
    mkpipe(p);
    add(ep, p[0], EPOLLIN, 1);
    char desc[200], buf[256];

    for (int how = 0; how < 2; how++) {
        const char *name = how ? "__ppoll_chk" : "__poll_chk";
        hk_poll_chk(how, ep, p[1], name);
        drain(p[0]);
        /* blocked, woken by a thread's write to the served pipe */
        struct delayed d;
        struct pollfd pf[2] = { { .fd = ep, .events = POLLIN } };
        nfds_t n = (nfds_t)opaque_int(1);
        struct timespec ts = { 10, 0 };
        start_delayed(&d, p[1], 50);
        int r = how ? __ppoll_chk(pf, n, &ts, NULL, sizeof pf) : __poll_chk(pf, n, 10000, sizeof pf);
        pthread_join(d.tid, NULL);
        snprintf(desc, sizeof desc, "blocked %s on an epoll fd wakes when a thread writes", name);
        check(r == 1 && pf[0].revents == POLLIN, desc, "%s=%d revents=0x%x", name, r, pf[0].revents);
        drain(p[0]);
        /* the plain name, which a fortified build compiles into the _chk call */
        pf[0].revents = 0;
        put(p[1], 1);
        r = how ? ppoll(pf, n, &ts, NULL) : poll(pf, n, LONG_MS);
        snprintf(desc, sizeof desc, "%s with a run-time nfds on an epoll fd with a ready pipe",
                 how ? "ppoll" : "poll");
        check(r == 1 && pf[0].revents == POLLIN, desc, "r=%d revents=0x%x", r, pf[0].revents);
        expect_wait1("the event is still there for epoll_wait", ep, 0, 1, EPOLLIN);
        drain(p[0]);
    }

    for (int how = 0; how < 4; how++) {
        const char *name = hk_printf_name[how];
        /* an epoll_wait blocked in another thread's time is woken */
        struct hk_delayed_printf d = { .how = how, .fd = p[1] };
        pthread_create(&d.tid, NULL, hk_printf_thread, &d);
        snprintf(desc, sizeof desc, "%s to a served pipe wakes a blocked epoll_wait", name);
        expect_wait1(desc, ep, LONG_MS, 1, EPOLLIN);
        pthread_join(d.tid, NULL);
        snprintf(desc, sizeof desc, "%s returns the count of characters", name);
        expect_eq(desc, d.ret, (long long)strlen("dprintf 7\n"));
        ssize_t got = read(p[0], buf, sizeof buf - 1);
        buf[got > 0 ? got : 0] = 0;
        snprintf(desc, sizeof desc, "%s: the pipe holds the formatted text", name);
        check(strcmp(buf, "dprintf 7\n") == 0, desc, "read %zd: '%s'", got, buf);
        /* ET: a second write is a second edge */
        int et = mkepoll();
        add(et, p[0], EPOLLIN | EPOLLET, 2);
        expect_wait0("an ET reader of an empty pipe has nothing", et);
        hk_printf(how, p[1], 1);
        snprintf(desc, sizeof desc, "%s: an edge for an ET reader", name);
        expect_wait1(desc, et, 0, 2, EPOLLIN);
        hk_printf(how, p[1], 2);
        snprintf(desc, sizeof desc, "%s: another one, data still unread", name);
        expect_wait1(desc, et, 0, 2, EPOLLIN);
        xclose(et);
        drain(p[0]);
        expect_wait0("the level-triggered item is not ready once drained", ep);
    }

    /* A served stream socketpair: an edge for the peer's ET reader per call. */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) {
        perror("socketpair");
        exit(2);
    }
    int se = mkepoll();
    add(se, sv[1], EPOLLIN | EPOLLET, 3);
    for (int how = 0; how < 4; how++) {
        hk_printf(how, sv[0], how);
        snprintf(desc, sizeof desc, "%s to a served stream socket: an edge for the peer",
                 hk_printf_name[how]);
        expect_wait1(desc, se, 0, 3, EPOLLIN);
    }
    expect_eq("the peer received the four texts", drain(sv[1]),
              4 * (long long)strlen("dprintf 0\n"));
    close_pair(sv);
    xclose(se);

    /* A served eventfd takes exactly 8 bytes as a value (anything else: EINVAL): the
     * library's counter must hold the value dprintf wrote. */
    int efd = eventfd(0, EFD_NONBLOCK), ee = mkepoll();
    add(ee, efd, EPOLLIN, 4);
    expect_err("dprintf of 10 bytes to a served eventfd gives EINVAL",
               dprintf(efd, "dprintf 7\n"), EINVAL);
    expect_wait0("and writes nothing", ee);
    expect_eq("dprintf of 8 bytes to a served eventfd writes them",
              dprintf(efd, "%s", opaque_int(1) ? "dprintf " : ""), 8);
    expect_wait1("the eventfd is readable", ee, 0, 4, EPOLLIN);
    uint64_t value = 0, want;
    memcpy(&want, "dprintf ", 8);
    expect_ok("eventfd_read", eventfd_read(efd, &value));
    expect_eq("its counter is the 8 bytes", (long long)value, (long long)want);
    expect_wait0("not readable once read", ee);
    xclose(efd);
    xclose(ee);

    /* A write that fills the pipe: the count written and EAGAIN as glibc gives them. */
    int big = fcntl(p[1], F_GETPIPE_SZ);
    char *fill = malloc((size_t)big + 1);
    memset(fill, 'f', (size_t)big);
    fill[big - 10] = 0;
    expect_eq("dprintf of a nearly full pipe's worth", dprintf(p[1], "%s", fill), big - 10);
    expect_err("dprintf past what a non-blocking pipe holds gives -1 EAGAIN",
               dprintf(p[1], "%s", "0123456789abcdefghij"), EAGAIN);
    expect_eq("the bytes that fitted were written", drain(p[0]), big - 10);
    free(fill);
    expect_wait0("after the drain nothing is ready", ep);

    /* Not served: glibc's own path. */
    expect_err("dprintf to fd -1 gives EBADF", dprintf(opaque_int(-1), "x"), EBADF);
    expect_err("__dprintf_chk to fd -1 gives EBADF", __dprintf_chk(opaque_int(-1), 1, "x"),
               EBADF);
    expect_err("dprintf to an epoll fd gives EINVAL", dprintf(ep, "x"), EINVAL);
    xclose(p[0]);
    expect_err("dprintf to a pipe without a reader gives EPIPE", dprintf(p[1], "x"), EPIPE);
    xclose(p[1]);
    xclose(ep);
}
