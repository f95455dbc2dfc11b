/*
 * bench-wait.c - uepoll's own epoll_wait micro-benchmark (the epwbench idea).
 *
 * n pipes, every read end added level-triggered (EPOLLIN), one byte written to
 * each, so every epoll_wait(epfd, events, n, 0) must return exactly n.  Each
 * run times batches of such calls (CLOCK_MONOTONIC) for at least -m ms and
 * reports microseconds per call.
 *
 * Flags: -n pipes (200)  -q quiet  -r runs (16)  -m min ms per run (250)
 *        -t threads (1)  threads timing the same loop on the one instance at
 *           once; each call must still return exactly n (the kernel serialises
 *           transfers on ep->mtx, so a second caller gets the items the first
 *           puts back: case 6 of docs/design.md); us/call is then the wall time
 *           over all threads' calls (the instance's throughput)
 *        -w keep|close|auto  what to do with the write ends (auto):
 *           keep   every pipe keeps both ends open (2n descriptors);
 *           close  each write end is closed once its byte is written (n
 *                  descriptors; the read ends then report IN|HUP, still
 *                  level-triggered ready, same per-item work);
 *           auto   keep, unless RLIMIT_NOFILE (raised as far as allowed, the
 *                  hard limit too when privileged) cannot hold 2n + 8.
 *
 * Output (stdout):
 *   run K: X us/call         (per run, unless -q)
 *   AVG: x                   mean over the middle six sorted runs (all if < 8), us
 *   SIG: y                   standard deviation over the same runs, us
 *   WRITE_ENDS: open|closed  which -w mode was used
 *   NS_PER_CALL: z           median of all runs, ns (integer)
 *
 * Written from the description in docs (no upstream code used).  Only plain
 * libc calls are used so the program behaves the same under LD_PRELOAD.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench-common.h"


/* Own square root (Newton), so the program needs no -lm. */
static double my_sqrt(double x)
{
	if (x <= 0)
		return 0;
	double g = x > 1 ? x : 1;
	for (int i = 0; i < 200; i++) {
		double ng = 0.5 * (g + x / g);
		if (ng == g)
			break;
		g = ng;
	}
	return g;
}



static void usage(const char *p)
{
	fprintf(stderr, "usage: %s [-n pipes] [-q] [-r runs] [-m min_ms] [-w keep|close|auto] [-t threads]\n", p);
	exit(2);
}

/* One thread's share of a run: batches of epoll_wait(epfd, evs, n, 0) for at
 * least min_ns, each checked to return exactly n. */
struct loop {
	int epfd, n, batch, run;
	double min_ns;
	struct epoll_event *evs;
	long calls;
	double el;
	int failed;
};

static void *timed_loop(void *arg)
{
	struct loop *l = arg;
	double t0 = now_ns();
	l->calls = 0;
	do {
		for (int b = 0; b < l->batch; b++) {
			int got = epoll_wait(l->epfd, l->evs, l->n, 0);
			if (got != l->n) {
				fprintf(stderr,
					"bench-wait: run %d call %ld: epoll_wait returned %d, expected %d%s%s\n",
					l->run, l->calls + b, got, l->n, got < 0 ? ": " : "",
					got < 0 ? strerror(errno) : "");
				l->failed = 1;
				return NULL;
			}
		}
		l->calls += l->batch;
		l->el = now_ns() - t0;
	} while (l->el < l->min_ns);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = 200, quiet = 0, runs = 16, threads = 1;
	int wmode = 2; /* 0 keep, 1 close, 2 auto */
	double min_ms = 250;
	int opt;
	while ((opt = getopt(argc, argv, "n:qr:m:w:t:h")) != -1) {
		switch (opt) {
		case 't': threads = atoi(optarg); break;
		case 'n': n = atoi(optarg); break;
		case 'q': quiet = 1; break;
		case 'r': runs = atoi(optarg); break;
		case 'm': min_ms = atof(optarg); break;
		case 'w':
			if (strcmp(optarg, "keep") == 0)
				wmode = 0;
			else if (strcmp(optarg, "close") == 0)
				wmode = 1;
			else if (strcmp(optarg, "auto") == 0)
				wmode = 2;
			else
				usage(argv[0]);
			break;
		default: usage(argv[0]);
		}
	}
	if (optind != argc || n < 1 || runs < 1 || min_ms <= 0 || threads < 1 || threads > 64)
		usage(argv[0]);

	/* 2n pipe ends plus stdio, the epoll fd and a preload library's own fds. */
	long need = 2L * n + 8, lim = raise_nofile(need);
	int close_w = wmode == 1;
	if (wmode == 2 && lim >= 0 && lim < need)
		close_w = 1;
	if (close_w)
		need = (long)n + 8 + 1; /* one write end is open at a time */
	if (lim < need) {
		struct rlimit rl;
		getrlimit(RLIMIT_NOFILE, &rl);
		fprintf(stderr,
			"bench-wait: need %ld file descriptors for n=%d%s but RLIMIT_NOFILE "
			"is %ld (hard %ld; raising the hard limit needs CAP_SYS_RESOURCE)\n",
			need, n, close_w ? " with -w close" : "", lim,
			rl.rlim_max == RLIM_INFINITY ? -1L : (long)rl.rlim_max);
		return 2;
	}

	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		perror("bench-wait: epoll_create1");
		return 1;
	}
	int *fds = calloc((size_t)n * 2, sizeof(int));
	struct epoll_event *evs = calloc((size_t)n, sizeof(*evs));
	double *res = calloc((size_t)runs, sizeof(double));
	if (!fds || !evs || !res) {
		fprintf(stderr, "bench-wait: out of memory\n");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		if (pipe2(&fds[2 * i], O_NONBLOCK | O_CLOEXEC) != 0) {
			fprintf(stderr, "bench-wait: pipe %d: %s\n", i, strerror(errno));
			return errno == EMFILE || errno == ENFILE ? 2 : 1;
		}
		struct epoll_event ev;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.u64 = (unsigned long)i;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fds[2 * i], &ev) != 0) {
			fprintf(stderr, "bench-wait: EPOLL_CTL_ADD pipe %d: %s\n", i,
				strerror(errno));
			return 1;
		}
		if (write(fds[2 * i + 1], "x", 1) != 1) {
			fprintf(stderr, "bench-wait: write pipe %d: %s\n", i, strerror(errno));
			return 1;
		}
		if (close_w) {
			close(fds[2 * i + 1]);
			fds[2 * i + 1] = -1;
		}
	}

	/* One checked call first: exactly n events, each index once, EPOLLIN set. */
	{
		int got = epoll_wait(epfd, evs, n, 0);
		if (got != n) {
			fprintf(stderr, "bench-wait: epoll_wait returned %d, expected %d%s%s\n",
				got, n, got < 0 ? ": " : "", got < 0 ? strerror(errno) : "");
			return 1;
		}
		unsigned char *seen = calloc((size_t)n, 1);
		if (!seen) {
			fprintf(stderr, "bench-wait: out of memory\n");
			return 1;
		}
		for (int k = 0; k < n; k++) {
			unsigned long d = (unsigned long)evs[k].data.u64;
			if (d >= (unsigned long)n || seen[d] || !(evs[k].events & EPOLLIN)) {
				fprintf(stderr, "bench-wait: bad event %d: data=%lu events=0x%x\n",
					k, d, (unsigned)evs[k].events);
				return 1;
			}
			seen[d] = 1;
		}
		free(seen);
	}

	/* Calls per clock check: keep clock_gettime overhead negligible at small n. */
	int batch = 2000 / n;
	if (batch < 1)
		batch = 1;
	if (batch > 256)
		batch = 256;

	double min_ns = min_ms * 1e6;
	struct loop loops[64];
	pthread_t tids[64];
	for (int t = 0; t < threads; t++) {
		loops[t].evs = t == 0 ? evs : calloc((size_t)n, sizeof(*evs));
		if (!loops[t].evs) {
			fprintf(stderr, "bench-wait: out of memory\n");
			return 1;
		}
	}
	for (int r = 0; r < runs; r++) {
		long calls = 0;
		double el = 0;
		for (int t = 0; t < threads; t++) {
			loops[t].epfd = epfd;
			loops[t].n = n;
			loops[t].batch = batch;
			loops[t].run = r;
			loops[t].min_ns = min_ns;
			loops[t].failed = 0;
			if (t > 0 && pthread_create(&tids[t], NULL, timed_loop, &loops[t]) != 0) {
				fprintf(stderr, "bench-wait: pthread_create failed\n");
				return 1;
			}
		}
		timed_loop(&loops[0]);
		for (int t = 0; t < threads; t++) {
			if (t > 0)
				pthread_join(tids[t], NULL);
			if (loops[t].failed)
				return 1;
			calls += loops[t].calls;
			if (loops[t].el > el)
				el = loops[t].el;
		}
		res[r] = el / (double)calls / 1000.0; /* us per call */
		if (!quiet)
			printf("run %d: %.3f us/call (%ld calls)\n", r, res[r], calls);
	}

	qsort(res, (size_t)runs, sizeof(double), cmp_double);
	int lo = 0, cnt = runs;
	if (runs >= 8) {
		lo = (runs - 6) / 2;
		cnt = 6;
	}
	double sum = 0, sq = 0;
	for (int i = lo; i < lo + cnt; i++)
		sum += res[i];
	double avg = sum / cnt;
	for (int i = lo; i < lo + cnt; i++)
		sq += (res[i] - avg) * (res[i] - avg);
	double sig = my_sqrt(sq / cnt);
	double med = (runs % 2) ? res[runs / 2] : (res[runs / 2 - 1] + res[runs / 2]) / 2;
	printf("AVG: %.3f\n", avg);
	printf("SIG: %.3f\n", sig);
	printf("WRITE_ENDS: %s\n", close_w ? "closed" : "open");
	printf("NS_PER_CALL: %.0f\n", med * 1000.0);

	for (int i = 0; i < 2 * n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	close(epfd);
	free(fds);
	for (int t = 1; t < threads; t++)
		free(loops[t].evs);
	free(evs);
	free(res);
	return 0;
}
