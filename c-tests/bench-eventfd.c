/*
 * bench-eventfd.c - producers and consumers on eventfds, the way event loops
 * use them to post work to each other.
 *
 * -f eventfds are registered (EPOLLIN, level-triggered, or edge-triggered
 * with -e; with -o also EPOLLONESHOT) in one epoll instance.  -c consumer
 * threads loop on epoll_wait(timeout -1, up to 16 events); for each event they
 * read the eventfd (non-blocking), which returns and clears the number of
 * messages posted to it.  With -o a consumer then re-arms the eventfd with
 * EPOLL_CTL_MOD (the same events), as a program using ONESHOT does once it has
 * handled the fd.  With -n the waits do not block: epoll_wait(timeout 0), and a
 * consumer that gets no event calls sched_yield() and waits again (counted as
 * empty_waits).  -p producer threads post messages: each picks the next
 * eventfd (round robin, starting at its own index) and writes 1 to it.
 *
 * With -m the program also keeps, for each eventfd, a counter of its own in a
 * cache line of its own: a producer adds what it wrote after each write, a
 * consumer subtracts what it read after each read, each with one locked
 * instruction, as a user-space epoll that leaves the eventfd in the kernel
 * must mirror its counter to answer readiness without a system call.  Run on
 * the kernel's epoll (no LD_PRELOAD), it measures what that one more cache
 * line, crossing between the writer and the waiters with every message, costs
 * the kernel's own rate: the floor that make bench gives the non-blocking row
 * (docs/benchmarks.md, "The eventfd rows").
 *
 * Producers are flow-controlled like a bounded queue: a producer posts only
 * while fewer than -w messages per producer are posted and not yet consumed,
 * otherwise it yields the CPU (sched_yield) until consumers catch up.  So the
 * figure is how fast posted work reaches a waiting loop, not how fast
 * write(2) can run.
 *
 * At the deadline a stop eventfd (registered level-triggered, never read) is
 * signalled: every consumer sees it and leaves.
 *
 * Flags: -p producers (2)  -c consumers (2)  -f eventfds (8)  -w window per
 *        producer (64)  -d seconds (1)  -e edge-triggered  -o EPOLLONESHOT,
 *        re-armed by MOD after each read  -n non-blocking waits (timeout 0)
 *        -m mirror each eventfd's counter in a word of the program (above)
 *
 * Output (stdout):
 *   mode: m                  lt or et, then -oneshot with -o, then
 *                            -nonblock with -n (e.g. lt-oneshot)
 *   mirror: yes|no           -m given
 *   messages, wakeups, ...   totals
 *   empty_waits: e           waits that returned no event (-n; 0 otherwise)
 *   rearms: r                EPOLL_CTL_MOD re-arms (-o; 0 otherwise)
 *   wakeups_per_sec: w       epoll events that found messages, per second
 *   events_per_sec: x        messages consumed per second
 *   cpu_ns_per_message: c    the process's CPU time (getrusage RUSAGE_SELF,
 *                            user + system, all threads) over the timed part,
 *                            per message consumed in it: steadier than the
 *                            rate on a loaded machine
 *   user_ns_per_message: u   the same CPU time spent in user space (the
 *                            program, libc and, under LD_PRELOAD, the
 *                            library), per message
 *   sys_ns_per_message: k    the same CPU time spent in the kernel (its
 *                            system calls: the program's reads and writes,
 *                            its epoll calls or the library's), per message
 *   sleeps_per_message: s    voluntary context switches of the process over
 *                            the timed part (threads that blocked: a waiter
 *                            asleep in epoll_wait, mostly), per message
 *   producer_user_ns_per_message: pu, producer_sys_ns_per_message: pk
 *                            the producer threads' own CPU time (getrusage
 *                            RUSAGE_THREAD, from each one's start to the
 *                            deadline), in user space and in the kernel, per
 *                            message: the write and, under LD_PRELOAD, its
 *                            hook, the poll callbacks and the raises
 *   producer_wait_ns_per_message: pw
 *                            the part of that CPU time spent waiting for room
 *                            in the window (the sched_yield loop, from the
 *                            first yield of an episode to the post after it,
 *                            CLOCK_THREAD_CPUTIME_ID), per message
 *   producer_waits_per_message: pe
 *                            such episodes, per message
 *   producer_busy: b         that CPU time over the timed part's length times
 *                            -p: well below 1, the producers waited for a CPU
 *   producer_working: g      the same without the waiting for room: near 1,
 *                            the producers worked all the time and the rate
 *                            is theirs (their cost per message bounds it);
 *                            busy but not working, they waited for the
 *                            consumers (the window full)
 * (all counted up to the deadline; the shutdown is not timed)
 *
 * Only plain libc calls are used so the program behaves the same under
 * LD_PRELOAD of a user-space epoll.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "process-usage.h"

#define STOP_TAG UINT64_MAX

static int nprod = 2, ncons = 2, nfds = 8, window = 64, edge = 0, oneshot = 0, nonblock = 0;
static double duration = 1.0;
static int mirror; /* -m */
/* -m: each eventfd's counter as the program saw it, one cache line each (as a
 * user-space epoll keeps an eventfd's counter apart from what else it writes). */
static struct {
	uint64_t value; /* __atomic */
	char pad[56];
} *mirrors;
static int epfd = -1, stopfd = -1;
static int *efds;
static int stop_flag;             /* __atomic */
static uint64_t produced, consumed; /* __atomic */
static int failed;                /* __atomic */

struct cons {
	pthread_t tid;
	uint64_t wakeups, messages, empty_reads, empty_waits, rearms;
};

struct prod {
	pthread_t tid;
	int idx;
	uint64_t posts, yields;
	double user_ns, sys_ns; /* own CPU time from its start to the deadline */
	int measured;           /* __atomic: user_ns and sys_ns are set */
	/* CPU time spent waiting for room in the window (sched_yield loops), in
	 * finished episodes, and when the current episode began (0: none). */
	double wait_ns, wait_began;
	double wait_ns_measured; /* wait_ns at the deadline */
	uint64_t wait_episodes;
};

/* The calling thread's CPU time (user + system), in ns. */
static double thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Set by main at the deadline: each producer then takes its own CPU time once. */
static int deadline_flag; /* __atomic */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The events an eventfd is registered with, and re-armed with under -o. */
static uint32_t item_events(void)
{
	return EPOLLIN | (edge ? EPOLLET : 0) | (oneshot ? EPOLLONESHOT : 0);
}

static void fail(const char *what)
{
	fprintf(stderr, "bench-eventfd: %s: %s\n", what, strerror(errno));
	__atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
}

static void *consumer(void *arg)
{
	struct cons *c = arg;
	struct epoll_event ev[16];
	for (;;) {
		int n = epoll_wait(epfd, ev, 16, nonblock ? 0 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail("epoll_wait");
			return NULL;
		}
		if (n == 0) {
			if (!nonblock) {
				fprintf(stderr, "bench-eventfd: epoll_wait(-1) returned 0\n");
				__atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
				return NULL;
			}
			c->empty_waits++;
			sched_yield();
			continue;
		}
		int stop = 0;
		for (int k = 0; k < n; k++) {
			uint64_t d = ev[k].data.u64;
			if (d == STOP_TAG) {
				stop = 1;
				continue;
			}
			if (d >= (uint64_t)nfds) {
				fprintf(stderr, "bench-eventfd: bogus event data %" PRIu64 "\n", d);
				__atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
				return NULL;
			}
			uint64_t v;
			ssize_t r = read(efds[d], &v, sizeof(v));
			if (r == (ssize_t)sizeof(v)) {
				if (mirror)
					__atomic_fetch_sub(&mirrors[d].value, v, __ATOMIC_SEQ_CST);
				/* single writer; main reads it at the deadline */
				__atomic_store_n(&c->wakeups, c->wakeups + 1, __ATOMIC_RELAXED);
				c->messages += v;
				__atomic_add_fetch(&consumed, v, __ATOMIC_RELEASE);
			} else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
				c->empty_reads++; /* another consumer took it */
			} else {
				fail("read eventfd");
				return NULL;
			}
			if (oneshot) {
				/* The item is disarmed until this MOD; a message posted
				 * since the read is found by MOD's re-poll. */
				struct epoll_event re;
				memset(&re, 0, sizeof(re));
				re.events = item_events();
				re.data.u64 = d;
				if (epoll_ctl(epfd, EPOLL_CTL_MOD, efds[d], &re) != 0) {
					fail("epoll_ctl MOD (re-arm)");
					return NULL;
				}
				c->rearms++;
			}
		}
		if (stop)
			return NULL;
	}
}

/* The producer's own CPU time since (user0, sys0), taken once. */
static void producer_measure(struct prod *p, double user0, double sys0)
{
	if (__atomic_load_n(&p->measured, __ATOMIC_RELAXED))
		return;
	double user, sys;
	thread_cpu_split_ns(&user, &sys);
	p->user_ns = user - user0;
	p->sys_ns = sys - sys0;
	p->wait_ns_measured = p->wait_ns;
	if (p->wait_began > 0)
		p->wait_ns_measured += thread_cpu_ns() - p->wait_began;
	__atomic_store_n(&p->measured, 1, __ATOMIC_RELEASE);
}

static void *producer(void *arg)
{
	struct prod *p = arg;
	uint64_t limit = (uint64_t)window * (uint64_t)nprod;
	int next = p->idx % nfds;
	double user0, sys0;
	thread_cpu_split_ns(&user0, &sys0);
	while (!__atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE)) {
		if (__atomic_load_n(&deadline_flag, __ATOMIC_ACQUIRE))
			producer_measure(p, user0, sys0);
		uint64_t out = __atomic_load_n(&produced, __ATOMIC_RELAXED) -
			       __atomic_load_n(&consumed, __ATOMIC_ACQUIRE);
		if (out >= limit) {
			if (p->wait_began == 0) {
				p->wait_began = thread_cpu_ns();
				p->wait_episodes++;
			}
			p->yields++;
			sched_yield();
			continue;
		}
		if (p->wait_began > 0) {
			p->wait_ns += thread_cpu_ns() - p->wait_began;
			p->wait_began = 0;
		}
		__atomic_add_fetch(&produced, 1, __ATOMIC_RELAXED);
		uint64_t one = 1;
		ssize_t w;
		do {
			w = write(efds[next], &one, sizeof(one));
		} while (w < 0 && errno == EINTR);
		if (w == (ssize_t)sizeof(one) && mirror)
			__atomic_fetch_add(&mirrors[next].value, one, __ATOMIC_SEQ_CST);
		if (w != (ssize_t)sizeof(one)) {
			fail("write eventfd");
			return NULL;
		}
		p->posts++;
		next = (next + 1) % nfds;
	}
	producer_measure(p, user0, sys0); /* stopped before the deadline: a failure */
	return NULL;
}

static void usage(const char *p)
{
	fprintf(stderr, "usage: %s [-p producers] [-c consumers] [-f eventfds] [-w window] "
		"[-d seconds] [-e] [-o] [-n] [-m]\n", p);
	exit(2);
}

int main(int argc, char **argv)
{
	int opt;
	while ((opt = getopt(argc, argv, "p:c:f:w:d:eonmh")) != -1) {
		switch (opt) {
		case 'p': nprod = atoi(optarg); break;
		case 'c': ncons = atoi(optarg); break;
		case 'f': nfds = atoi(optarg); break;
		case 'w': window = atoi(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'e': edge = 1; break;
		case 'o': oneshot = 1; break;
		case 'n': nonblock = 1; break;
		case 'm': mirror = 1; break;
		default: usage(argv[0]);
		}
	}
	if (optind != argc || nprod < 1 || ncons < 1 || nfds < 1 || window < 1 || duration <= 0)
		usage(argv[0]);

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		perror("bench-eventfd: epoll_create1");
		return 1;
	}
	efds = calloc((size_t)nfds, sizeof(int));
	struct cons *cs = calloc((size_t)ncons, sizeof(*cs));
	struct prod *ps = calloc((size_t)nprod, sizeof(*ps));
	/* One line each, on line boundaries: no false sharing between eventfds. */
	if (posix_memalign((void **)&mirrors, 64, (size_t)nfds * sizeof(*mirrors)) != 0)
		mirrors = NULL;
	if (!efds || !cs || !ps || !mirrors) {
		fprintf(stderr, "bench-eventfd: out of memory\n");
		return 1;
	}
	memset(mirrors, 0, (size_t)nfds * sizeof(*mirrors));
	for (int i = 0; i < nfds; i++) {
		efds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (efds[i] < 0) {
			perror("bench-eventfd: eventfd");
			return 1;
		}
		struct epoll_event ev;
		memset(&ev, 0, sizeof(ev));
		ev.events = item_events();
		ev.data.u64 = (uint64_t)i;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, efds[i], &ev) != 0) {
			perror("bench-eventfd: epoll_ctl ADD");
			return 1;
		}
	}
	stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (stopfd < 0) {
		perror("bench-eventfd: eventfd");
		return 1;
	}
	{
		struct epoll_event ev;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.u64 = STOP_TAG;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, stopfd, &ev) != 0) {
			perror("bench-eventfd: epoll_ctl ADD");
			return 1;
		}
	}

	for (int k = 0; k < ncons; k++) {
		int rc = pthread_create(&cs[k].tid, NULL, consumer, &cs[k]);
		if (rc != 0) {
			fprintf(stderr, "bench-eventfd: pthread_create: %s\n", strerror(rc));
			return 1;
		}
	}
	double t0 = now_s();
	double cpu0 = process_cpu_ns(), user0, sys0;
	process_cpu_split_ns(&user0, &sys0);
	long nvcsw0 = process_voluntary_switches();
	for (int k = 0; k < nprod; k++) {
		ps[k].idx = k;
		int rc = pthread_create(&ps[k].tid, NULL, producer, &ps[k]);
		if (rc != 0) {
			fprintf(stderr, "bench-eventfd: pthread_create: %s\n", strerror(rc));
			return 1;
		}
	}
	while (now_s() - t0 < duration && !__atomic_load_n(&failed, __ATOMIC_RELAXED)) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	/* Consumed so far, at the deadline: the figure is taken here, before the
	 * shutdown (the tail drained below is not timed). */
	uint64_t done = __atomic_load_n(&consumed, __ATOMIC_ACQUIRE);
	uint64_t woke = 0;
	for (int k = 0; k < ncons; k++)
		woke += __atomic_load_n(&cs[k].wakeups, __ATOMIC_RELAXED);
	double secs = now_s() - t0;
	double cpu = process_cpu_ns() - cpu0, user1, sys1;
	process_cpu_split_ns(&user1, &sys1);
	long slept = process_voluntary_switches() - nvcsw0;
	/* The producers take their own CPU time at their next turn (they never block
	 * for long: a full window makes them yield), then they are stopped. */
	__atomic_store_n(&deadline_flag, 1, __ATOMIC_RELEASE);
	for (int k = 0; k < nprod; k++) {
		for (int tries = 0; tries < 1000; tries++) {
			if (__atomic_load_n(&ps[k].measured, __ATOMIC_ACQUIRE))
				break;
			struct timespec ts = { 0, 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
	for (int k = 0; k < nprod; k++)
		pthread_join(ps[k].tid, NULL);
	uint64_t one = 1;
	if (write(stopfd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
		perror("bench-eventfd: write stop eventfd");
		return 1;
	}
	for (int k = 0; k < ncons; k++)
		pthread_join(cs[k].tid, NULL);

	uint64_t wakeups = 0, messages = 0, empty = 0, posts = 0, yields = 0;
	double prod_user = 0, prod_sys = 0, prod_wait = 0;
	uint64_t wait_episodes = 0;
	uint64_t empty_waits = 0, rearms = 0;
	for (int k = 0; k < ncons; k++) {
		wakeups += cs[k].wakeups;
		messages += cs[k].messages;
		empty += cs[k].empty_reads;
		empty_waits += cs[k].empty_waits;
		rearms += cs[k].rearms;
	}
	for (int k = 0; k < nprod; k++) {
		posts += ps[k].posts;
		yields += ps[k].yields;
		prod_user += ps[k].user_ns; /* joined: measured (or 0 if it never ran) */
		prod_sys += ps[k].sys_ns;
		prod_wait += ps[k].wait_ns_measured;
		wait_episodes += ps[k].wait_episodes;
	}
	/* Messages still posted but unread at the end. */
	uint64_t left = 0;
	for (int i = 0; i < nfds; i++) {
		uint64_t v;
		if (read(efds[i], &v, sizeof(v)) == (ssize_t)sizeof(v))
			left += v;
	}
	for (int i = 0; i < nfds; i++)
		close(efds[i]);
	close(stopfd);
	close(epfd);

	printf("producers: %d\n", nprod);
	printf("consumers: %d\n", ncons);
	printf("eventfds: %d\n", nfds);
	printf("mode: %s%s%s\n", edge ? "et" : "lt", oneshot ? "-oneshot" : "",
	       nonblock ? "-nonblock" : "");
	printf("mirror: %s\n", mirror ? "yes" : "no");
	printf("window: %d\n", window);
	printf("seconds: %.3f\n", secs);
	printf("posts: %" PRIu64 "\n", posts);
	printf("messages: %" PRIu64 "\n", messages);
	printf("messages_left: %" PRIu64 "\n", left);
	printf("wakeups: %" PRIu64 "\n", wakeups);
	printf("empty_reads: %" PRIu64 "\n", empty);
	printf("empty_waits: %" PRIu64 "\n", empty_waits);
	printf("rearms: %" PRIu64 "\n", rearms);
	printf("producer_yields: %" PRIu64 "\n", yields);
	printf("wakeups_per_sec: %.0f\n", (double)woke / secs);
	printf("events_per_sec: %.0f\n", (double)done / secs);
	if (done) {
		printf("cpu_ns_per_message: %.0f\n", cpu / (double)done);
		printf("user_ns_per_message: %.0f\n", (user1 - user0) / (double)done);
		printf("sys_ns_per_message: %.0f\n", (sys1 - sys0) / (double)done);
		printf("sleeps_per_message: %.4f\n", (double)slept / (double)done);
		printf("producer_user_ns_per_message: %.0f\n", prod_user / (double)done);
		printf("producer_sys_ns_per_message: %.0f\n", prod_sys / (double)done);
		printf("producer_wait_ns_per_message: %.0f\n", prod_wait / (double)done);
		printf("producer_waits_per_message: %.4f\n", (double)wait_episodes / (double)done);
	} else {
		printf("cpu_ns_per_message: none\n"); /* nothing consumed */
		printf("user_ns_per_message: none\n");
		printf("sys_ns_per_message: none\n");
		printf("sleeps_per_message: none\n");
		printf("producer_user_ns_per_message: none\n");
		printf("producer_sys_ns_per_message: none\n");
	}
	printf("producer_busy: %.2f\n", (prod_user + prod_sys) / (secs * 1e9 * (double)nprod));
	printf("producer_working: %.2f\n",
	       (prod_user + prod_sys - prod_wait) / (secs * 1e9 * (double)nprod));
	int status = 0;
	if (posts != messages + left) {
		fprintf(stderr, "bench-eventfd: %" PRIu64 " posted but %" PRIu64
			" consumed and %" PRIu64 " left\n", posts, messages, left);
		status = 1;
	}
	if (__atomic_load_n(&failed, __ATOMIC_RELAXED))
		status = 1;
	free(efds);
	free(mirrors);
	free(cs);
	free(ps);
	return status;
}
