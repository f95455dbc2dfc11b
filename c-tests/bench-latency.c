/*
 * bench-latency.c - wake-up latency: ping-pong between two threads through
 * pipes, each thread blocked in epoll_wait(timeout -1).
 *
 * Thread A owns epoll instance EA watching the read end of pipe BA; thread B
 * owns instance EB watching the read end of pipe AB (both level-triggered
 * EPOLLIN).  A round trip: A writes one byte to AB and blocks in
 * epoll_wait(EA, -1); B, blocked in epoll_wait(EB, -1), wakes, reads the byte
 * and writes one to BA; A wakes and reads it.  Every round trip is timed
 * separately (CLOCK_MONOTONIC), so two sleeps and two wake-ups through epoll
 * are in each sample.
 *
 * Flags: -i round trips per run (20000)  -r runs (3)  -w warm-up trips (1000)
 *        -P cpu  pin both threads to this CPU: every wake-up is then a context
 *            switch on one CPU, with no cross-CPU interrupt and no idle CPU to
 *            bring back (on a VM whose idle vCPUs halt, that alone can cost
 *            tens of microseconds and dominate the unpinned figure)
 *        -s  one shared instance for both threads (each fd still watched by
 *            only the thread that reads it: EPOLLEXCLUSIVE is not used; the
 *            data field tells the threads' events apart)   -q quiet
 *
 * Output (stdout):
 *   run K: median X ns, p90 Y ns, p99 Z ns   (per run, unless -q)
 *   NS_RTT_MEAN: m           mean over all timed trips
 *   NS_RTT_P90: p            90th percentile over all timed trips
 *   NS_RTT_P99: p            99th percentile over all timed trips
 *   NS_PER_RTT: z            median over all timed trips (integer ns)
 *   SLEEPS_PER_RTT: s        voluntary context switches of the process (both
 *                            threads, getrusage) per timed round trip: how
 *                            many of the round trip's two waits really slept
 *                            (a wait that finds its byte already there does
 *                            not), for the wake-up floor of make bench
 *
 * Only plain libc calls are used so the program behaves the same under
 * LD_PRELOAD of a user-space epoll.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "process-usage.h"

static int ab[2], ba[2];
static int ea = -1, eb = -1;
static long total_trips;
static int shared;
static int pin_cpu = -1;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static void die(const char *what)
{
	fprintf(stderr, "bench-latency: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Block until `fd` (tagged `tag` in instance `ep`) is readable, then read its
 * one byte.  With a shared instance the other thread's fd may be reported
 * too; this thread must not touch it, so the wait goes on. */
static void wait_and_read(int ep, int fd, uint64_t tag)
{
	struct epoll_event ev[2];
	for (;;) {
		int n = epoll_wait(ep, ev, shared ? 2 : 1, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		int mine = 0;
		for (int k = 0; k < n; k++) {
			if (ev[k].data.u64 == tag)
				mine = 1;
			else if (!shared) {
				fprintf(stderr, "bench-latency: bogus event data %llu\n",
					(unsigned long long)ev[k].data.u64);
				exit(1);
			}
		}
		if (!mine)
			continue;
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r == 1)
			return;
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue; /* spurious: wait again */
		if (r == 0) {
			fprintf(stderr, "bench-latency: unexpected EOF\n");
			exit(1);
		}
		die("read");
	}
}

static void put(int fd)
{
	for (;;) {
		ssize_t w = write(fd, "p", 1);
		if (w == 1)
			return;
		if (w < 0 && errno == EINTR)
			continue;
		die("write");
	}
}

static void pin_self(void)
{
	if (pin_cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(pin_cpu, &set);
	int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (rc != 0) {
		fprintf(stderr, "bench-latency: pin to CPU %d: %s\n", pin_cpu, strerror(rc));
		exit(2);
	}
}

static void *thread_b(void *arg)
{
	(void)arg;
	pin_self();
	for (long i = 0; i < total_trips; i++) {
		wait_and_read(eb, ab[0], 1);
		put(ba[1]);
	}
	return NULL;
}

static void add(int ep, int fd, uint64_t tag)
{
	struct epoll_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = tag;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
		die("epoll_ctl ADD");
}

static void usage(const char *p)
{
	fprintf(stderr, "usage: %s [-i trips] [-r runs] [-w warmup] [-s] [-P cpu] [-q]\n", p);
	exit(2);
}

int main(int argc, char **argv)
{
	long iters = 20000, warm = 1000;
	int runs = 3, quiet = 0, opt;
	while ((opt = getopt(argc, argv, "i:r:w:sP:qh")) != -1) {
		switch (opt) {
		case 'i': iters = atol(optarg); break;
		case 'r': runs = atoi(optarg); break;
		case 'w': warm = atol(optarg); break;
		case 's': shared = 1; break;
		case 'P': pin_cpu = atoi(optarg); break;
		case 'q': quiet = 1; break;
		default: usage(argv[0]);
		}
	}
	if (optind != argc || iters < 1 || runs < 1 || warm < 0)
		usage(argv[0]);

	if (pipe2(ab, O_NONBLOCK | O_CLOEXEC) != 0 || pipe2(ba, O_NONBLOCK | O_CLOEXEC) != 0)
		die("pipe2");
	ea = epoll_create1(EPOLL_CLOEXEC);
	if (ea < 0)
		die("epoll_create1");
	if (shared) {
		eb = ea;
	} else {
		eb = epoll_create1(EPOLL_CLOEXEC);
		if (eb < 0)
			die("epoll_create1");
	}
	add(ea, ba[0], 2);
	add(eb, ab[0], 1);

	long timed = iters * runs;
	total_trips = warm + timed;
	uint64_t *rtt = calloc((size_t)timed, sizeof(uint64_t));
	uint64_t *tmp = calloc((size_t)iters, sizeof(uint64_t));
	if (!rtt || !tmp) {
		fprintf(stderr, "bench-latency: out of memory\n");
		return 1;
	}
	pin_self();
	pthread_t tb;
	int rc = pthread_create(&tb, NULL, thread_b, NULL);
	if (rc != 0) {
		fprintf(stderr, "bench-latency: pthread_create: %s\n", strerror(rc));
		return 1;
	}
	for (long i = 0; i < warm; i++) {
		put(ab[1]);
		wait_and_read(ea, ba[0], 2);
	}
	long nvcsw0 = process_voluntary_switches();
	for (int r = 0; r < runs; r++) {
		for (long i = 0; i < iters; i++) {
			uint64_t t0 = now_ns();
			put(ab[1]);
			wait_and_read(ea, ba[0], 2);
			rtt[r * iters + i] = now_ns() - t0;
		}
		if (!quiet) {
			memcpy(tmp, &rtt[r * iters], (size_t)iters * sizeof(uint64_t));
			qsort(tmp, (size_t)iters, sizeof(uint64_t), cmp_u64);
			printf("run %d: median %llu ns, p90 %llu ns, p99 %llu ns\n", r,
			       (unsigned long long)tmp[iters / 2],
			       (unsigned long long)tmp[iters * 9 / 10],
			       (unsigned long long)tmp[iters * 99 / 100]);
		}
	}
	long nvcsw = process_voluntary_switches() - nvcsw0;
	pthread_join(tb, NULL);

	double sum = 0;
	for (long i = 0; i < timed; i++)
		sum += (double)rtt[i];
	qsort(rtt, (size_t)timed, sizeof(uint64_t), cmp_u64);
	uint64_t med = (timed % 2) ? rtt[timed / 2] : (rtt[timed / 2 - 1] + rtt[timed / 2]) / 2;
	printf("TRIPS: %ld\n", timed);
	printf("PINNED_CPU: %d\n", pin_cpu);
	printf("NS_RTT_MEAN: %.0f\n", sum / (double)timed);
	printf("NS_RTT_P90: %llu\n", (unsigned long long)rtt[timed * 9 / 10]);
	printf("NS_RTT_P99: %llu\n", (unsigned long long)rtt[timed * 99 / 100]);
	printf("NS_PER_RTT: %llu\n", (unsigned long long)med);
	printf("SLEEPS_PER_RTT: %.3f\n", (double)nvcsw / (double)timed);

	close(ab[0]);
	close(ab[1]);
	close(ba[0]);
	close(ba[1]);
	close(ea);
	if (!shared)
		close(eb);
	free(rtt);
	free(tmp);
	return 0;
}
