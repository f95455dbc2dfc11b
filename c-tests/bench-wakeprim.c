/*
 * bench-wakeprim.c - the kernel's part of a wake-up, without any epoll
 * emulation: what a ping-pong between two threads costs when the sleeper is
 * woken the way the kernel's epoll does it, the way uepoll does it today, and
 * the way a futex would. Run it WITHOUT LD_PRELOAD: it measures the kernel's
 * primitives that an emulation is built from, so that the floor of each design
 * is known apart from the emulation's own user-space work.
 *
 * Both threads are pinned to one CPU (-P, default 0), so every wake-up is a
 * context switch on that CPU (as bench-latency -P 0). A round trip: A sends to
 * B and sleeps; B wakes, takes the byte, sends back and sleeps; A wakes and
 * takes it. Each thread owns one pipe it reads (the program's data). Modes:
 *
 *   epoll    the kernel's epoll: each thread sleeps in epoll_wait on its own
 *            instance watching its pipe (level-triggered); the sender's
 *            write(pipe) wakes it (ep_poll_callback). What bench-latency
 *            measures on the kernel.
 *   eventfd  uepoll's path today: the pipes are registered nowhere in the
 *            kernel; each thread sleeps in epoll_pwait2 on its own instance,
 *            which watches only an eventfd (edge-triggered); the sender
 *            writes the pipe and then writes 1 to the eventfd (the raise).
 *   futex    the futex design: the sender writes the pipe, sets the peer's
 *            word and calls FUTEX_WAKE; the sleeper waits in FUTEX_WAIT on its
 *            word (a private futex) and then reads the pipe.
 *   nowake   no sleep at all, for the cost of the syscalls alone: one thread
 *            writes and reads a pipe twice per "round trip" (the data path of
 *            every mode above), no context switch.
 *
 * Flags: -i round trips (20000)  -w warm-up trips (1000)  -P cpu (0)  -m mode
 *        (epoll, eventfd, futex, nowake; default: all four, interleaved -r
 *        times)  -r rounds (3)
 *
 * Output (stdout): one line per mode and round, "MODE: median ns per round
 * trip", then "MEDIAN_<MODE>: x" over the rounds' medians, and for the modes
 * that sleep "SLEEPS_<MODE>: s", the voluntary context switches of the process
 * (getrusage) per round trip over all rounds: how many of a round trip's two
 * waits really slept (with both threads on one CPU a wait can find its byte
 * already there).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "process-usage.h"

enum mode { M_EPOLL, M_EVENTFD, M_FUTEX, M_NOWAKE, M_COUNT };
static const char *mode_names[M_COUNT] = { "epoll", "eventfd", "futex", "nowake" };

struct side {
	int pipe[2];		/* this side reads pipe[0]; the peer writes pipe[1] */
	int ep;			/* epoll, eventfd modes */
	int efd;		/* eventfd mode: the raise */
	_Atomic uint32_t word;	/* futex mode */
};

static struct side sides[2];
static enum mode cur;
static int trips, warm, cpu;
static uint64_t *samples;
static long switches[M_COUNT], switch_trips[M_COUNT];

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		die("sched_setaffinity");
}

static void send_to(struct side *peer)
{
	char c = 1;
	uint64_t one = 1;
	if (write(peer->pipe[1], &c, 1) != 1)
		die("write pipe");
	if (cur == M_EVENTFD) {
		if (write(peer->efd, &one, 8) != 8)
			die("write eventfd");
	} else if (cur == M_FUTEX) {
		atomic_store(&peer->word, 1);
		syscall(SYS_futex, &peer->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
}

static void sleep_and_take(struct side *me)
{
	struct epoll_event ev;
	char c;
	if (cur == M_EPOLL || cur == M_EVENTFD) {
		int n;
		do
			n = cur == M_EPOLL ? epoll_wait(me->ep, &ev, 1, -1)
					   : epoll_pwait2(me->ep, &ev, 1, NULL, NULL);
		while (n < 0 && errno == EINTR);
		if (n != 1)
			die("epoll_wait");
	} else {
		while (atomic_exchange(&me->word, 0) == 0)
			syscall(SYS_futex, &me->word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	}
	if (read(me->pipe[0], &c, 1) != 1)
		die("read pipe");
}

static void *peer_main(void *arg)
{
	(void)arg;
	pin();
	for (int i = 0; i < warm + trips; i++) {
		sleep_and_take(&sides[1]);
		send_to(&sides[0]);
	}
	return NULL;
}

static void setup(void)
{
	for (int s = 0; s < 2; s++) {
		struct side *sd = &sides[s];
		if (pipe(sd->pipe) != 0)
			die("pipe");
		sd->ep = epoll_create1(0);
		if (sd->ep < 0)
			die("epoll_create1");
		sd->efd = eventfd(0, EFD_NONBLOCK);
		if (sd->efd < 0)
			die("eventfd");
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 0 };
		if (cur == M_EPOLL && epoll_ctl(sd->ep, EPOLL_CTL_ADD, sd->pipe[0], &ev) != 0)
			die("epoll_ctl pipe");
		ev.events = EPOLLIN | EPOLLET;
		if (cur == M_EVENTFD && epoll_ctl(sd->ep, EPOLL_CTL_ADD, sd->efd, &ev) != 0)
			die("epoll_ctl eventfd");
		atomic_store(&sd->word, 0);
	}
}

static void teardown(void)
{
	for (int s = 0; s < 2; s++) {
		close(sides[s].pipe[0]);
		close(sides[s].pipe[1]);
		close(sides[s].ep);
		close(sides[s].efd);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* One run of `trips` timed round trips; returns the median in ns. */
static uint64_t run(enum mode m)
{
	cur = m;
	setup();
	if (m == M_NOWAKE) {
		char c = 1;
		for (int i = 0; i < warm + trips; i++) {
			uint64_t t0 = now_ns();
			for (int k = 0; k < 2; k++) {
				if (write(sides[0].pipe[1], &c, 1) != 1 || read(sides[0].pipe[0], &c, 1) != 1)
					die("pipe");
			}
			if (i >= warm)
				samples[i - warm] = now_ns() - t0;
		}
	} else {
		pthread_t t;
		if (pthread_create(&t, NULL, peer_main, NULL) != 0)
			die("pthread_create");
		long nvcsw0 = process_voluntary_switches();
		for (int i = 0; i < warm + trips; i++) {
			uint64_t t0 = now_ns();
			send_to(&sides[1]);
			sleep_and_take(&sides[0]);
			if (i >= warm)
				samples[i - warm] = now_ns() - t0;
		}
		switches[m] += process_voluntary_switches() - nvcsw0;
		switch_trips[m] += warm + trips;
		pthread_join(t, NULL);
	}
	teardown();
	qsort(samples, trips, sizeof(*samples), cmp_u64);
	return samples[trips / 2];
}

int main(int argc, char **argv)
{
	int rounds = 3, only = -1, opt;
	trips = 20000;
	warm = 1000;
	cpu = 0;
	while ((opt = getopt(argc, argv, "i:w:P:m:r:")) != -1) {
		switch (opt) {
		case 'i': trips = atoi(optarg); break;
		case 'w': warm = atoi(optarg); break;
		case 'P': cpu = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		case 'm':
			for (int m = 0; m < M_COUNT; m++)
				if (strcmp(optarg, mode_names[m]) == 0)
					only = m;
			if (only < 0) {
				fprintf(stderr, "unknown mode %s\n", optarg);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: %s [-i trips] [-w warmup] [-P cpu] [-m mode] [-r rounds]\n", argv[0]);
			return 2;
		}
	}
	if (trips <= 0 || rounds <= 0 || rounds > 64 || warm < 0) {
		fprintf(stderr, "bad -i, -w or -r\n");
		return 2;
	}
	samples = calloc((size_t)trips, sizeof(*samples));
	if (!samples)
		die("calloc");
	pin();
	uint64_t med[M_COUNT][64];
	for (int r = 0; r < rounds; r++) {
		for (int m = 0; m < M_COUNT; m++) {
			if (only >= 0 && m != only)
				continue;
			med[m][r] = run((enum mode)m);
			printf("%s: %llu\n", mode_names[m], (unsigned long long)med[m][r]);
		}
	}
	for (int m = 0; m < M_COUNT; m++) {
		if (only >= 0 && m != only)
			continue;
		qsort(med[m], rounds, sizeof(uint64_t), cmp_u64);
		printf("MEDIAN_%s: %llu\n", mode_names[m], (unsigned long long)med[m][rounds / 2]);
		if (switch_trips[m] > 0)
			printf("SLEEPS_%s: %.3f\n", mode_names[m],
			       (double)switches[m] / (double)switch_trips[m]);
	}
	return 0;
}
