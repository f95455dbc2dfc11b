/*
 * conformance-inflight.inc.c - group "inflight": case 6, items in flight.
 *
 * Included by conformance.c.  While one thread's epoll_wait has an instance's
 * ready items on its private list (the kernel's ovflist is active), another
 * thread's look at the same instance must still see them: the kernel counts a
 * transfer in progress as events available, and its next transfer waits on
 * ep->mtx until the first has put its level-triggered items back.  Each shape
 * is repeated enough times to fail reliably where a transfer that finds the
 * ready list empty answers 0 at once (uepoll before the fix: thousands of
 * misses per run).  Every item here is level-triggered and always ready, so on
 * the kernel every answer is exactly 1 (2 in shape 5, which asks for two).
 */

#define INFLIGHT_THREADS 32
#define INFLIGHT_CALLS 2000
#define INFLIGHT_ROUNDS 2000

struct inflight {
    int ep;            /* instance the threads transfer on */
    atomic_int stop;
    atomic_long calls, misses;
    int timeout;       /* of the threads' waits */
    int calls_each;    /* 0: until stop */
};

static void *inflight_waiter(void *arg)
{
    struct inflight *f = arg;
    struct epoll_event ev[1];
    for (int i = 0; f->calls_each == 0 || i < f->calls_each; i++) {
        if (f->calls_each == 0 && atomic_load(&f->stop))
            break;
        int n = epoll_wait(f->ep, ev, 1, f->timeout);
        atomic_fetch_add(&f->calls, 1);
        if (n != 1)
            atomic_fetch_add(&f->misses, 1);
    }
    return NULL;
}

/* As inflight_waiter, asking for two events: a miss is any answer but 2. */
static void *inflight_waiter2(void *arg)
{
    struct inflight *f = arg;
    struct epoll_event ev[2];
    for (int i = 0; i < f->calls_each; i++) {
        int n = epoll_wait(f->ep, ev, 2, f->timeout);
        atomic_fetch_add(&f->calls, 1);
        if (n != 2)
            atomic_fetch_add(&f->misses, 1);
    }
    return NULL;
}

/* An eventfd that stays readable: level-triggered, never read. */
static int always_ready(int ep, uint64_t data)
{
    int efd = eventfd(1, EFD_NONBLOCK);
    if (efd < 0) {
        perror("eventfd");
        exit(2);
    }
    add(ep, efd, EPOLLIN, data);
    return efd;
}

static void g_inflight(void)
{
    /* 1. N threads, each doing timeout-0 waits for one event on one instance
     *    holding one always-ready item (the selftest "multiple waiters"). */
    struct inflight f;
    memset(&f, 0, sizeof f);
    f.ep = mkepoll();
    int efd = always_ready(f.ep, 1);
    f.timeout = 0;
    f.calls_each = INFLIGHT_CALLS;
    pthread_t t[INFLIGHT_THREADS];
    for (int i = 0; i < INFLIGHT_THREADS; i++)
        pthread_create(&t[i], NULL, inflight_waiter, &f);
    for (int i = 0; i < INFLIGHT_THREADS; i++)
        pthread_join(t[i], NULL);
    check(atomic_load(&f.misses) == 0,
          "32 threads x 2000 timeout-0 waits on one always-ready LT item: every wait gets it",
          "%ld of %ld waits returned no event", atomic_load(&f.misses), atomic_load(&f.calls));

    /* 2. poll() then a timeout-0 wait on the instance, while another thread
     *    loops blocking waits on it (selftests epoll13, epoll15, epoll16). */
    memset(&f, 0, sizeof f);
    f.ep = mkepoll();
    close(efd);
    efd = always_ready(f.ep, 2);
    f.timeout = -1;
    pthread_create(&t[0], NULL, inflight_waiter, &f);
    long poll_misses = 0, wait_misses = 0;
    for (int i = 0; i < INFLIGHT_ROUNDS; i++) {
        struct pollfd pfd = { .fd = f.ep, .events = POLLIN };
        struct epoll_event ev[1];
        if (poll(&pfd, 1, LONG_MS) != 1 || pfd.revents != POLLIN)
            poll_misses++;
        if (epoll_wait(f.ep, ev, 1, 0) != 1)
            wait_misses++;
    }
    atomic_store(&f.stop, 1);
    pthread_join(t[0], NULL);
    check(poll_misses == 0 && wait_misses == 0,
          "poll() then a timeout-0 wait, 2000 rounds while another thread loops blocking waits: each reports the item",
          "poll missed %ld, epoll_wait missed %ld", poll_misses, wait_misses);

    /* 3. Nested (selftest epoll41 shape): an outer instance watches the inner
     *    one; timeout-0 waits on the outer and poll() on the inner, while two
     *    threads transfer on the inner. */
    int outer = mkepoll();
    add(outer, f.ep, EPOLLIN, 3);
    int inner = f.ep;
    memset(&f, 0, sizeof f);
    f.ep = inner;
    f.timeout = 0;
    pthread_create(&t[0], NULL, inflight_waiter, &f);
    pthread_create(&t[1], NULL, inflight_waiter, &f);
    long outer_misses = 0, inner_poll_misses = 0;
    for (int i = 0; i < INFLIGHT_ROUNDS; i++) {
        struct epoll_event ev[1];
        if (epoll_wait(outer, ev, 1, 0) != 1 || ev[0].data.u64 != 3)
            outer_misses++;
        struct pollfd pfd = { .fd = f.ep, .events = POLLIN };
        if (poll(&pfd, 1, 0) != 1)
            inner_poll_misses++;
    }
    atomic_store(&f.stop, 1);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    check(outer_misses == 0 && inner_poll_misses == 0 && atomic_load(&f.misses) == 0,
          "nested: timeout-0 waits on the outer and poll() on the inner, 2000 rounds while 2 threads transfer on the inner: never empty",
          "outer missed %ld, poll of inner missed %ld, inner waits missed %ld of %ld",
          outer_misses, inner_poll_misses, atomic_load(&f.misses), atomic_load(&f.calls));
    xclose(outer);

    /* 4. Two threads blocked on one instance, one LT item made ready: both
     *    wake with it (selftest epoll64), 100 rounds. */
    int p[2];
    mkpipe(p);
    int ep = mkepoll();
    add(ep, p[0], EPOLLIN, 4);
    int bad_rounds = 0;
    char got[512];
    for (int r = 0; r < 100; r++) {
        struct blocked b1, b2;
        start_blocked(&b1, ep, LONG_MS);
        start_blocked(&b2, ep, LONG_MS);
        sleep_ms(2);
        put(p[1], 1);
        pthread_join(b1.tid, NULL);
        pthread_join(b2.tid, NULL);
        if (b1.n != 1 || b2.n != 1) {
            if (bad_rounds++ == 0)
                fprintf(stderr, "inflight round %d: %s\n", r,
                        fmt_wait(b1.n != 1 ? b1.n : b2.n, b1.n != 1 ? b1.err : b2.err,
                                 b1.n != 1 ? b1.ev : b2.ev, got, sizeof got));
        }
        drain(p[0]);
    }
    check(bad_rounds == 0, "two threads blocked on one LT pipe, one write: both wake with the event, 100 rounds",
          "%d rounds where a waiter did not get the event", bad_rounds);
    close_pair(p);
    xclose(ep);
    xclose(f.ep);
    xclose(efd);

    /* 5. Nested, with a kernel-served fd: an inner instance holds an always-ready
     *    eventfd and an expired timerfd (never read), an outer one watches it.
     *    Three threads do timeout-0 waits for two events on the inner while this
     *    one does timeout-0 waits on the outer. On the kernel every inner answer
     *    is 2 and every outer answer 1 (uepoll's wake-up eventfd, which sits in the
     *    inner's kernel epoll fd, must not take a slot). */
    memset(&f, 0, sizeof f);
    f.ep = mkepoll();
    efd = always_ready(f.ep, 1);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct itimerspec its = { .it_value = { 0, 1 } };
    timerfd_settime(tfd, 0, &its, NULL);
    struct pollfd tp = { .fd = tfd, .events = POLLIN };
    poll(&tp, 1, LONG_MS);
    add(f.ep, tfd, EPOLLIN, 2);
    outer = mkepoll();
    add(outer, f.ep, EPOLLIN, 3);
    f.timeout = 0;
    f.calls_each = INFLIGHT_CALLS;
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, inflight_waiter2, &f);
    outer_misses = 0;
    for (int i = 0; i < INFLIGHT_ROUNDS; i++) {
        struct epoll_event ev[1];
        if (epoll_wait(outer, ev, 1, 0) != 1 || ev[0].data.u64 != 3)
            outer_misses++;
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    check(outer_misses == 0 && atomic_load(&f.misses) == 0,
          "nested with a kernel-served fd: 3 threads x 2000 timeout-0 waits for 2 on the inner, 2000 on the outer: full counts",
          "inner waits short %ld of %ld, outer missed %ld", atomic_load(&f.misses),
          atomic_load(&f.calls), outer_misses);
    xclose(outer);
    xclose(tfd);
    xclose(efd);
    xclose(f.ep);
}
