/*
 * bench-atomics.c - locked instructions per epoll operation, and the host's cost
 * of one locked instruction.
 *
 * Under a library built with the cargo feature `count-atomics`, the library
 * exports `uepoll_atomic_count(which)`: the calling thread's counts of locked
 * instructions (0 total, 1 atomic RMWs, 2 lock RMWs, 3 reference-count changes,
 * 4 SeqCst fences, 5 SeqCst stores; src/engine/counting.rs).  This program reads
 * them before and after each operation and prints the counts per operation.
 * These counts are the same on every host; the time of a locked instruction is
 * not, so the program also measures it: a tight loop of `lock xadd` on one
 * cache line, ns per instruction, the median of -x runs.
 *
 * Without the symbol (the kernel, or a library built without the feature) only
 * the locked-instruction cost is printed, and COUNTS: no.
 *
 * Operations (every return value is checked; the rows are per operation):
 *   LT_EVENT, LT_CALL  epoll_wait(200, timeout 0) on 200 level-triggered pipes
 *                      that each hold a byte: per event, per call
 *   ET_EVENT           the same with the 200 pipes edge-triggered, after a byte
 *                      was written to each: per event
 *   WAKE_IDLE          write(1 byte) to a pipe whose edge-triggered item is
 *                      not queued: the hook, the callback queueing the item
 *   WAKE_QUEUED        the same when the item is already queued (the callback
 *                      only remembers the wake-up)
 *   WRITE_UNWATCHED    write(1 byte) to a served pipe nobody watches: the hook
 *                      alone, to subtract from the two rows above
 *   ADD, MOD, DEL      the triple on one pipe read end (not ready), each call
 *                      on its own: the re-arm pattern (ADD of the key just
 *                      deleted)
 *   ADD_NEW, DEL_NEW   ADD of 64 keys never added, then DEL of them
 *   WAIT_READY         epoll_wait(timeout -1) that finds one ready LT item
 *                      (no sleep)
 *   WAIT_EMPTY         epoll_wait(timeout 0) that finds nothing: one
 *                      edge-triggered pipe whose edge was taken (the poll of a
 *                      non-blocking event loop with nothing to do)
 *   WAIT_SLEEP         epoll_wait(timeout -1) on one pipe, by a second thread,
 *                      that sleeps until the main thread writes (rounds where
 *                      the wait returned within 0.5 ms, so did not sleep, are
 *                      left out)
 *   WAKE_SLEEPER       that write, which wakes the sleeper
 *   WAIT_SLEEP_ET,     the same two with the pipe edge-triggered: the sleeper's
 *   WAKE_SLEEPER_ET    item is off the ready list when it waits (its edge
 *                      taken), as in an event loop that drains what it gets
 *   EFD_WRITE          write(1) to a non-blocking eventfd whose edge-triggered
 *                      EPOLLIN item is not queued: the hook, the callback
 *                      queueing the item (a message posted to an event loop)
 *   EFD_READ           the read of that eventfd after the wait took its event
 *                      (a loop taking its messages): the hook, and its
 *                      write-side wake-up, which no watcher asked for
 *
 * Flags: -r rounds (400)  -x runs of the lock loop (11)  -q quiet
 *
 * Output (stdout), one line per figure:
 *   ROUNDS: r                  the -r given
 *   LOCK_NS: x                 median ns per locked xadd on one line
 *   COUNTS: yes|no
 *   A_<ROW>_<FIELD>: c         per operation; FIELD in TOTAL RMW LOCK ARC FENCE
 *                              SCSTORE
 *   SLEEP_ROUNDS: n            WAIT_SLEEP rounds that slept (of -r / 4)
 *   SLEEP_ROUNDS_ET: n         WAIT_SLEEP_ET rounds that slept (of -r / 4)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bench-common.h"

#define NFIELDS 6
static const char *field_name[NFIELDS] = { "TOTAL", "RMW", "LOCK", "ARC", "FENCE", "SCSTORE" };

typedef uint64_t (*count_fn)(uint32_t);
static count_fn counter;

struct snap {
	uint64_t v[NFIELDS];
};

static struct snap take(void)
{
	struct snap s;
	for (int i = 0; i < NFIELDS; i++)
		s.v[i] = counter ? counter((uint32_t)i) : 0;
	return s;
}

/* Counts accumulated for one row, and how many operations they cover. */
struct row {
	const char *name;
	uint64_t sum[NFIELDS];
	uint64_t ops;
};

static void add_delta(struct row *r, struct snap a, struct snap b, uint64_t ops)
{
	for (int i = 0; i < NFIELDS; i++)
		r->sum[i] += b.v[i] - a.v[i];
	r->ops += ops;
}

static void print_row(const struct row *r)
{
	for (int i = 0; i < NFIELDS; i++)
		printf("A_%s_%s: %.2f\n", r->name, field_name[i],
		       r->ops ? (double)r->sum[i] / (double)r->ops : 0.0);
}

static void die(const char *what)
{
	fprintf(stderr, "bench-atomics: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void must(int ok, const char *what)
{
	if (!ok)
		die(what);
}

static void ctl(int ep, int op, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)fd };
	must(epoll_ctl(ep, op, fd, op == EPOLL_CTL_DEL ? NULL : &ev) == 0, "epoll_ctl");
}

static void put_byte(int fd)
{
	must(write(fd, "x", 1) == 1, "write");
}

static void take_bytes(int fd, int n)
{
	char buf[8];
	must(read(fd, buf, (size_t)n) == n, "read");
}

static void make_pipes(int (*p)[2], int n)
{
	for (int i = 0; i < n; i++)
		must(pipe(p[i]) == 0, "pipe");
}

/* ---- the host's cost of one locked instruction */

static volatile uint64_t line __attribute__((aligned(64)));

static double lock_ns(int runs)
{
	const long iters = 2000000;
	double *t = calloc((size_t)runs, sizeof(double));
	must(t != NULL, "calloc");
	uint64_t sink = 0;
	for (int r = 0; r < runs; r++) {
		double t0 = now_ns();
		for (long i = 0; i < iters; i++)
			sink += __atomic_fetch_add(&line, 1, __ATOMIC_SEQ_CST); /* lock xadd */
		t[r] = (now_ns() - t0) / (double)iters;
	}
	if (sink == 42) /* keep the loop's results alive */
		fprintf(stderr, " ");
	qsort(t, (size_t)runs, sizeof(double), cmp_double);
	double m = (runs % 2) ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
	free(t);
	return m;
}

/* ---- waits */

#define NWAIT 200

static void lt_wait(struct row *ev_row, struct row *call_row, int rounds)
{
	static int p[NWAIT][2];
	struct epoll_event evs[NWAIT];
	int ep = epoll_create1(0);
	must(ep >= 0, "epoll_create1");
	make_pipes(p, NWAIT);
	for (int i = 0; i < NWAIT; i++) {
		put_byte(p[i][1]);
		ctl(ep, EPOLL_CTL_ADD, p[i][0], EPOLLIN);
	}
	for (int i = 0; i < 3; i++) /* warm-up: the steady state */
		must(epoll_wait(ep, evs, NWAIT, 0) == NWAIT, "epoll_wait (LT warm-up)");
	for (int r = 0; r < rounds; r++) {
		struct snap a = take();
		int n = epoll_wait(ep, evs, NWAIT, 0);
		struct snap b = take();
		if (n != NWAIT) {
			fprintf(stderr, "bench-atomics: LT wait returned %d, expected %d\n", n, NWAIT);
			exit(1);
		}
		add_delta(ev_row, a, b, NWAIT);
		add_delta(call_row, a, b, 1);
	}
	for (int i = 0; i < NWAIT; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	close(ep);
}

static void et_wait(struct row *ev_row, struct row *idle_row, struct row *queued_row, int rounds)
{
	static int p[NWAIT][2];
	struct epoll_event evs[NWAIT];
	int ep = epoll_create1(0);
	must(ep >= 0, "epoll_create1");
	make_pipes(p, NWAIT);
	for (int i = 0; i < NWAIT; i++)
		ctl(ep, EPOLL_CTL_ADD, p[i][0], EPOLLIN | EPOLLET);
	for (int r = -1; r < rounds; r++) { /* round -1: warm-up */
		for (int i = 0; i < NWAIT; i++) {
			struct snap a = take();
			put_byte(p[i][1]);
			struct snap b = take();
			if (r >= 0)
				add_delta(idle_row, a, b, 1);
		}
		for (int i = 0; i < NWAIT; i++) {
			struct snap a = take();
			put_byte(p[i][1]);
			struct snap b = take();
			if (r >= 0)
				add_delta(queued_row, a, b, 1);
		}
		struct snap a = take();
		int n = epoll_wait(ep, evs, NWAIT, 0);
		struct snap b = take();
		if (n != NWAIT) {
			fprintf(stderr, "bench-atomics: ET wait returned %d, expected %d\n", n, NWAIT);
			exit(1);
		}
		if (r >= 0)
			add_delta(ev_row, a, b, NWAIT);
		for (int i = 0; i < NWAIT; i++)
			take_bytes(p[i][0], 2);
	}
	for (int i = 0; i < NWAIT; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	close(ep);
}

static void unwatched_write(struct row *row, int rounds)
{
	int p[2];
	must(pipe(p) == 0, "pipe");
	for (int r = -1; r < rounds; r++) {
		struct snap a = take();
		put_byte(p[1]);
		struct snap b = take();
		if (r >= 0)
			add_delta(row, a, b, 1);
		take_bytes(p[0], 1);
	}
	close(p[0]);
	close(p[1]);
}

static void eventfd_ops(struct row *wr, struct row *rd, int rounds)
{
	struct epoll_event ev;
	uint64_t one = 1, got;
	int ep = epoll_create1(0);
	int fd = eventfd(0, EFD_NONBLOCK);
	must(ep >= 0 && fd >= 0, "epoll_create1, eventfd");
	ctl(ep, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLET);
	for (int r = -1; r < rounds; r++) {
		struct snap a = take();
		must(write(fd, &one, sizeof one) == sizeof one, "eventfd write");
		struct snap b = take();
		must(epoll_wait(ep, &ev, 1, 0) == 1, "eventfd wait");
		struct snap c = take();
		must(read(fd, &got, sizeof got) == sizeof got && got == 1, "eventfd read");
		struct snap d = take();
		if (r >= 0) {
			add_delta(wr, a, b, 1);
			add_delta(rd, c, d, 1);
		}
	}
	close(fd);
	close(ep);
}

/* ---- epoll_ctl */

#define NNEW 64

static void ctl_ops(struct row *add, struct row *mod, struct row *del, struct row *add_new,
		    struct row *del_new, int rounds)
{
	int p[2];
	static int q[NNEW][2];
	int ep = epoll_create1(0);
	must(ep >= 0, "epoll_create1");
	must(pipe(p) == 0, "pipe");
	make_pipes(q, NNEW);
	for (int r = -3; r < rounds; r++) { /* three warm-up triples */
		struct snap s0 = take();
		ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN);
		struct snap s1 = take();
		ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLOUT);
		struct snap s2 = take();
		ctl(ep, EPOLL_CTL_DEL, p[0], 0);
		struct snap s3 = take();
		if (r >= 0) {
			add_delta(add, s0, s1, 1);
			add_delta(mod, s1, s2, 1);
			add_delta(del, s2, s3, 1);
		}
	}
	for (int r = -1; r < rounds / 16 + 1; r++) {
		for (int i = 0; i < NNEW; i++) {
			struct snap a = take();
			ctl(ep, EPOLL_CTL_ADD, q[i][0], EPOLLIN);
			struct snap b = take();
			if (r >= 0)
				add_delta(add_new, a, b, 1);
		}
		for (int i = 0; i < NNEW; i++) {
			struct snap a = take();
			ctl(ep, EPOLL_CTL_DEL, q[i][0], 0);
			struct snap b = take();
			if (r >= 0)
				add_delta(del_new, a, b, 1);
		}
	}
	close(p[0]);
	close(p[1]);
	for (int i = 0; i < NNEW; i++) {
		close(q[i][0]);
		close(q[i][1]);
	}
	close(ep);
}

/* ---- blocking waits */

/* One pipe with a byte in it, registered with `events` (an edge-triggered one
 * has its edge taken first); each round is one epoll_wait with `timeout` that
 * must return `expect` events. */
static void wait_rounds(struct row *row, int rounds, uint32_t events, int timeout, int expect)
{
	int p[2];
	struct epoll_event evs[8];
	int ep = epoll_create1(0);
	must(ep >= 0, "epoll_create1");
	must(pipe(p) == 0, "pipe");
	put_byte(p[1]);
	ctl(ep, EPOLL_CTL_ADD, p[0], events);
	if (events & EPOLLET)
		must(epoll_wait(ep, evs, 8, 0) == 1, "epoll_wait (the edge)");
	for (int r = -3; r < rounds; r++) {
		struct snap a = take();
		int n = epoll_wait(ep, evs, 8, timeout);
		struct snap b = take();
		must(n == expect, "epoll_wait (one ready, or nothing)");
		if (r >= 0)
			add_delta(row, a, b, 1);
	}
	close(p[0]);
	close(p[1]);
	close(ep);
}

struct sleeper {
	int ep, rfd, rounds;
	pthread_barrier_t go;
	struct row *row;
	int slept;
};

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	struct epoll_event ev;
	for (int r = 0; r < s->rounds; r++) {
		pthread_barrier_wait(&s->go);
		double t0 = now_ns();
		struct snap a = take();
		int n = epoll_wait(s->ep, &ev, 1, -1);
		struct snap b = take();
		double dt = now_ns() - t0;
		must(n == 1, "epoll_wait (sleeper)");
		if (dt > 500e3) { /* it slept */
			add_delta(s->row, a, b, 1);
			s->slept++;
		}
		take_bytes(s->rfd, 1);
		pthread_barrier_wait(&s->go);
	}
	return NULL;
}

static int wait_sleep(struct row *waiter, struct row *waker, int rounds, uint32_t events)
{
	int p[2];
	struct sleeper s = { .rounds = rounds, .row = waiter };
	s.ep = epoll_create1(0);
	must(s.ep >= 0, "epoll_create1");
	must(pipe(p) == 0, "pipe");
	s.rfd = p[0];
	ctl(s.ep, EPOLL_CTL_ADD, p[0], events);
	must(pthread_barrier_init(&s.go, NULL, 2) == 0, "pthread_barrier_init");
	pthread_t t;
	errno = pthread_create(&t, NULL, sleeper_main, &s);
	must(errno == 0, "pthread_create");
	/* A wake is counted only for a round whose wait slept; the waker does not know
	 * that yet, so it keeps its deltas per round and adds the rounds that slept. */
	for (int r = 0; r < rounds; r++) {
		pthread_barrier_wait(&s.go);
		usleep(2000); /* let the sleeper go to sleep */
		int before = s.slept;
		struct snap a = take();
		put_byte(p[1]);
		struct snap b = take();
		pthread_barrier_wait(&s.go); /* the sleeper has counted its round */
		if (s.slept > before)
			add_delta(waker, a, b, 1);
	}
	must(pthread_join(t, NULL) == 0, "pthread_join");
	pthread_barrier_destroy(&s.go);
	close(p[0]);
	close(p[1]);
	close(s.ep);
	return s.slept;
}

static void usage(const char *p)
{
	fprintf(stderr, "usage: %s [-r rounds] [-x lock-loop runs] [-q]\n", p);
	exit(2);
}

int main(int argc, char **argv)
{
	int rounds = 400, runs = 11, opt;
	while ((opt = getopt(argc, argv, "r:x:qh")) != -1) {
		switch (opt) {
		case 'r': rounds = atoi(optarg); break;
		case 'x': runs = atoi(optarg); break;
		case 'q': break;
		default: usage(argv[0]);
		}
	}
	if (optind != argc || rounds < 4 || runs < 1)
		usage(argv[0]);

	printf("ROUNDS: %d\n", rounds);
	printf("LOCK_NS: %.2f\n", lock_ns(runs));
	counter = (count_fn)dlsym(RTLD_DEFAULT, "uepoll_atomic_count");
	printf("COUNTS: %s\n", counter ? "yes" : "no");
	if (!counter)
		return 0;

	struct row lt_ev = { .name = "LT_EVENT" }, lt_call = { .name = "LT_CALL" }, et_ev = { .name = "ET_EVENT" };
	struct row wake_idle = { .name = "WAKE_IDLE" }, wake_queued = { .name = "WAKE_QUEUED" };
	struct row unwatched = { .name = "WRITE_UNWATCHED" };
	struct row add = { .name = "ADD" }, mod = { .name = "MOD" }, del = { .name = "DEL" };
	struct row add_new = { .name = "ADD_NEW" }, del_new = { .name = "DEL_NEW" };
	struct row w_ready = { .name = "WAIT_READY" }, w_sleep = { .name = "WAIT_SLEEP" };
	struct row wake_sleeper = { .name = "WAKE_SLEEPER" }, w_empty = { .name = "WAIT_EMPTY" };
	struct row efd_write = { .name = "EFD_WRITE" }, efd_read = { .name = "EFD_READ" };
	struct row w_sleep_et = { .name = "WAIT_SLEEP_ET" };
	struct row wake_sleeper_et = { .name = "WAKE_SLEEPER_ET" };

	lt_wait(&lt_ev, &lt_call, rounds);
	et_wait(&et_ev, &wake_idle, &wake_queued, rounds / 10 + 1);
	unwatched_write(&unwatched, rounds);
	ctl_ops(&add, &mod, &del, &add_new, &del_new, rounds);
	wait_rounds(&w_ready, rounds, EPOLLIN, -1, 1);
	wait_rounds(&w_empty, rounds, EPOLLIN | EPOLLET, 0, 0);
	int slept = wait_sleep(&w_sleep, &wake_sleeper, rounds / 4, EPOLLIN);
	int slept_et = wait_sleep(&w_sleep_et, &wake_sleeper_et, rounds / 4, EPOLLIN | EPOLLET);
	eventfd_ops(&efd_write, &efd_read, rounds);

	const struct row *all[] = { &lt_ev, &lt_call, &et_ev, &wake_idle, &wake_queued,
				    &unwatched, &add, &mod, &del, &add_new, &del_new,
				    &w_ready, &w_empty, &w_sleep, &wake_sleeper, &w_sleep_et,
				    &wake_sleeper_et, &efd_write, &efd_read };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		print_row(all[i]);
	printf("SLEEP_ROUNDS: %d\n", slept);
	printf("SLEEP_ROUNDS_ET: %d\n", slept_et);
	return 0;
}
