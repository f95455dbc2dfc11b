/*
 * bench-ctl.c - cost of EPOLL_CTL_ADD, EPOLL_CTL_MOD and EPOLL_CTL_DEL.
 *
 * Optionally registers -n background items first, so the cost can be measured
 * against the number of fds already registered.  The background items are
 * both ends of n/2 pipes (the read end of one more when n is odd), each added
 * for EPOLLIN only, so none is ever ready (a write end polls IN-less) and n
 * items need only n descriptors.
 *
 * Two measurements follow, each over -r runs of at least -m ms:
 *
 *  1. the triple: on one pipe's read end, loop ADD(EPOLLIN),
 *     MOD(EPOLLIN|EPOLLOUT), DEL.  Re-adding the key just deleted is the
 *     pattern of an event loop that re-arms one fd.
 *  2. the three operations separately, on -k keys (the read ends of k pipes):
 *     time ADD of all k, then MOD of all k, then DEL of all k; each phase's
 *     time divided by k is that operation's cost.  -k 0 skips this part.
 *
 * Every return value is checked.
 *
 * Flags: -n background items (0)  -k keys for the separate costs (256)
 *        -r runs (9)  -m min ms per run (200)  -q quiet
 *
 * Output (stdout):
 *   run K: X ns/triple ...   (per run, unless -q)
 *   BACKGROUND: n
 *   NS_PER_TRIPLE: z         median over runs (integer ns)
 *   NS_ADD: a                median over runs of the per-ADD cost (with -k > 0)
 *   NS_MOD: m
 *   NS_DEL: d
 *
 * Only plain libc calls are used so the program behaves the same under
 * LD_PRELOAD of a user-space epoll.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench-common.h"



static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return (n % 2) ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}


static void usage(const char *p)
{
	fprintf(stderr, "usage: %s [-n background] [-k keys] [-r runs] [-m min_ms] [-q]\n", p);
	exit(2);
}

static int ctl_checked(int epfd, int op, int fd, unsigned int events, const char *name)
{
	struct epoll_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = 0xC0FFEEu;
	if (epoll_ctl(epfd, op, fd, op == EPOLL_CTL_DEL ? NULL : &ev) != 0) {
		fprintf(stderr, "bench-ctl: EPOLL_CTL_%s fd %d: %s\n", name, fd,
			strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int nbg = 0, nkeys = 256, runs = 9, quiet = 0;
	double min_ms = 200;
	int opt;
	while ((opt = getopt(argc, argv, "n:k:r:m:qh")) != -1) {
		switch (opt) {
		case 'n': nbg = atoi(optarg); break;
		case 'k': nkeys = atoi(optarg); break;
		case 'r': runs = atoi(optarg); break;
		case 'm': min_ms = atof(optarg); break;
		case 'q': quiet = 1; break;
		default: usage(argv[0]);
		}
	}
	if (optind != argc || nbg < 0 || nkeys < 0 || runs < 1 || min_ms <= 0)
		usage(argv[0]);

	int nbgpipes = (nbg + 1) / 2;
	long need = 2L * nbgpipes + 2L * nkeys + 2 + 10;
	long lim = raise_nofile(need);
	if (lim < need) {
		fprintf(stderr,
			"bench-ctl: need %ld file descriptors for -n %d -k %d but RLIMIT_NOFILE "
			"is %ld (raising the hard limit needs CAP_SYS_RESOURCE)\n",
			need, nbg, nkeys, lim);
		return 2;
	}

	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		perror("bench-ctl: epoll_create1");
		return 1;
	}
	int *bg = calloc((size_t)nbgpipes * 2 + 2, sizeof(int));
	int *keys = calloc((size_t)nkeys * 2 + 2, sizeof(int));
	double *res = calloc((size_t)runs, sizeof(double));
	double *radd = calloc((size_t)runs, sizeof(double));
	double *rmod = calloc((size_t)runs, sizeof(double));
	double *rdel = calloc((size_t)runs, sizeof(double));
	if (!bg || !keys || !res || !radd || !rmod || !rdel) {
		fprintf(stderr, "bench-ctl: out of memory\n");
		return 1;
	}
	int added = 0;
	for (int i = 0; i < nbgpipes; i++) {
		if (pipe2(&bg[2 * i], O_NONBLOCK | O_CLOEXEC) != 0) {
			fprintf(stderr, "bench-ctl: pipe %d: %s\n", i, strerror(errno));
			return errno == EMFILE || errno == ENFILE ? 2 : 1;
		}
		for (int e = 0; e < 2 && added < nbg; e++, added++)
			if (ctl_checked(epfd, EPOLL_CTL_ADD, bg[2 * i + e], EPOLLIN, "ADD") != 0)
				return 1;
	}
	int p[2];
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
		perror("bench-ctl: pipe");
		return 1;
	}
	for (int i = 0; i < nkeys; i++) {
		if (pipe2(&keys[2 * i], O_NONBLOCK | O_CLOEXEC) != 0) {
			fprintf(stderr, "bench-ctl: key pipe %d: %s\n", i, strerror(errno));
			return errno == EMFILE || errno == ENFILE ? 2 : 1;
		}
	}

	const int batch = 64;
	double min_ns = min_ms * 1e6;
	for (int r = 0; r < runs; r++) {
		long triples = 0;
		double t0 = now_ns(), el;
		do {
			for (int b = 0; b < batch; b++) {
				if (ctl_checked(epfd, EPOLL_CTL_ADD, p[0], EPOLLIN, "ADD") != 0 ||
				    ctl_checked(epfd, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLOUT, "MOD") != 0 ||
				    ctl_checked(epfd, EPOLL_CTL_DEL, p[0], 0, "DEL") != 0)
					return 1;
			}
			triples += batch;
			el = now_ns() - t0;
		} while (el < min_ns);
		res[r] = el / (double)triples;

		if (nkeys > 0) {
			double tadd = 0, tmod = 0, tdel = 0;
			long rounds = 0;
			double s0 = now_ns();
			do {
				double a = now_ns();
				for (int i = 0; i < nkeys; i++)
					if (ctl_checked(epfd, EPOLL_CTL_ADD, keys[2 * i], EPOLLIN, "ADD") != 0)
						return 1;
				double b = now_ns();
				for (int i = 0; i < nkeys; i++)
					if (ctl_checked(epfd, EPOLL_CTL_MOD, keys[2 * i],
							EPOLLIN | EPOLLOUT, "MOD") != 0)
						return 1;
				double c = now_ns();
				for (int i = 0; i < nkeys; i++)
					if (ctl_checked(epfd, EPOLL_CTL_DEL, keys[2 * i], 0, "DEL") != 0)
						return 1;
				double d = now_ns();
				tadd += b - a;
				tmod += c - b;
				tdel += d - c;
				rounds++;
			} while (now_ns() - s0 < min_ns);
			radd[r] = tadd / ((double)rounds * nkeys);
			rmod[r] = tmod / ((double)rounds * nkeys);
			rdel[r] = tdel / ((double)rounds * nkeys);
		}
		if (!quiet) {
			printf("run %d: %.1f ns/triple (%ld triples)", r, res[r], triples);
			if (nkeys > 0)
				printf("  add %.1f  mod %.1f  del %.1f ns", radd[r], rmod[r], rdel[r]);
			printf("\n");
		}
	}

	printf("BACKGROUND: %d\n", nbg);
	printf("KEYS: %d\n", nkeys);
	printf("NS_PER_TRIPLE: %.0f\n", median(res, runs));
	if (nkeys > 0) {
		printf("NS_ADD: %.1f\n", median(radd, runs));
		printf("NS_MOD: %.1f\n", median(rmod, runs));
		printf("NS_DEL: %.1f\n", median(rdel, runs));
	}

	close(p[0]);
	close(p[1]);
	for (int i = 0; i < 2 * nkeys; i++)
		close(keys[i]);
	for (int i = 0; i < 2 * nbgpipes; i++)
		close(bg[i]);
	close(epfd);
	free(bg);
	free(keys);
	free(res);
	free(radd);
	free(rmod);
	free(rdel);
	return 0;
}
