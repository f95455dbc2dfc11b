/*
 * bench-idle.c - does the cost of epoll_wait grow with the number of idle
 * registered fds?
 *
 * One pipe is active: its read end is registered level-triggered with one
 * byte buffered, so every epoll_wait(epfd, events, 8, 0) returns exactly that
 * one event.  Next to it, -i idle registrations: both ends of pipes, each
 * added for EPOLLIN only (an empty read end with its writer open, and a write
 * end, which never reports IN), so none is ever ready.  The program times
 * batches of waits, -r runs of at least -m ms each, and reports ns per call.
 *
 * Methods (-M):
 *   pipes    i/2 pipes, both ends registered once: i registrations on i fds.
 *   aliases  for when RLIMIT_NOFILE cannot hold i fds (the hard limit can
 *            only be raised with CAP_SYS_RESOURCE).  An item is keyed by
 *            (open file, fd number) and stays registered after its number is
 *            closed while the file is open through another fd.  So each idle
 *            pipe end is also registered under K more numbers: dup2() it onto
 *            a spare number, EPOLL_CTL_ADD that number, close the number, and
 *            reuse the spare numbers for the next file.  Every item is a real
 *            registration on an open file, as in the kernel's tree and wait
 *            queue; only the number of open files is smaller.
 *   auto     pipes if the limit (raised as far as allowed) holds them,
 *            else aliases (default).
 *
 * Flags: -i idle registrations (0)  -r runs (5)  -m min ms per run (100)
 *        -M auto|pipes|aliases  -q quiet
 *
 * Output (stdout):
 *   run K: X ns/call         (per run, unless -q)
 *   IDLE: i                  idle registrations
 *   METHOD: pipes|aliases
 *   FILES: f                 idle pipe ends (open files) behind them
 *   ALIASES_PER_FILE: k      extra numbers each file is registered under
 *   SETUP_MS: s              time to create and register everything
 *   NS_PER_CALL: z           median over runs (integer ns)
 *
 * Only plain libc calls are used so the program behaves the same under
 * LD_PRELOAD of a user-space epoll.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench-common.h"

#define ACTIVE_TAG 0xAC71BEu




static void usage(const char *p)
{
	fprintf(stderr, "usage: %s [-i idle] [-r runs] [-m min_ms] [-M auto|pipes|aliases] [-q]\n", p);
	exit(2);
}

static int add(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = tag;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		fprintf(stderr, "bench-idle: EPOLL_CTL_ADD fd %d: %s\n", fd, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long idle = 0;
	int runs = 5, quiet = 0, method = 0; /* 0 auto, 1 pipes, 2 aliases */
	double min_ms = 100;
	int opt;
	while ((opt = getopt(argc, argv, "i:r:m:M:qh")) != -1) {
		switch (opt) {
		case 'i': idle = atol(optarg); break;
		case 'r': runs = atoi(optarg); break;
		case 'm': min_ms = atof(optarg); break;
		case 'M':
			if (strcmp(optarg, "auto") == 0)
				method = 0;
			else if (strcmp(optarg, "pipes") == 0)
				method = 1;
			else if (strcmp(optarg, "aliases") == 0)
				method = 2;
			else
				usage(argv[0]);
			break;
		case 'q': quiet = 1; break;
		default: usage(argv[0]);
		}
	}
	if (optind != argc || idle < 0 || runs < 1 || min_ms <= 0)
		usage(argv[0]);

	/* stdio, the epoll fd, the active pipe, a preload library's own fds */
	const long reserve = 32;
	long files = (idle + 1) / 2 * 2; /* both ends of idle/2 pipes */
	long lim = raise_nofile(files + reserve);
	long k = 0; /* alias numbers per file */
	if (method == 2 || (method == 0 && lim < files + reserve)) {
		method = 2;
		for (k = 1;; k++) {
			long f = (idle + k) / (k + 1);
			f = (f + 1) / 2 * 2;
			if (f + k + reserve <= lim) {
				files = f;
				break;
			}
			if (k > 100000) {
				fprintf(stderr, "bench-idle: RLIMIT_NOFILE %ld is too small\n", lim);
				return 2;
			}
		}
	} else {
		method = 1;
		if (lim < files + reserve) {
			fprintf(stderr, "bench-idle: need %ld file descriptors for -i %ld but "
				"RLIMIT_NOFILE is %ld (try -M aliases)\n", files + reserve, idle, lim);
			return 2;
		}
	}

	double s0 = now_ns();
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		perror("bench-idle: epoll_create1");
		return 1;
	}
	int act[2];
	if (pipe2(act, O_NONBLOCK | O_CLOEXEC) != 0) {
		perror("bench-idle: pipe2");
		return 1;
	}
	if (add(epfd, act[0], ACTIVE_TAG) != 0)
		return 1;
	if (write(act[1], "x", 1) != 1) {
		perror("bench-idle: write");
		return 1;
	}
	int *fds = calloc((size_t)files + 2, sizeof(int));
	double *res = calloc((size_t)runs, sizeof(double));
	if (!fds || !res) {
		fprintf(stderr, "bench-idle: out of memory\n");
		return 1;
	}
	for (long i = 0; i < files / 2; i++) {
		if (pipe2(&fds[2 * i], O_NONBLOCK | O_CLOEXEC) != 0) {
			fprintf(stderr, "bench-idle: pipe %ld: %s\n", i, strerror(errno));
			return errno == EMFILE || errno == ENFILE ? 2 : 1;
		}
	}
	/* Spare numbers for the aliases: above every fd in use. */
	int base = 0;
	for (long i = 0; i < files; i++)
		if (fds[i] >= base)
			base = fds[i] + 1;
	if (act[1] >= base)
		base = act[1] + 1;
	base += 4;
	long reg = 0;
	for (long i = 0; i < files && reg < idle; i++) {
		if (add(epfd, fds[i], (uint64_t)i) != 0)
			return 1;
		reg++;
		for (long j = 0; j < k && reg < idle; j++) {
			int num = base + (int)j;
			if (dup2(fds[i], num) != num) {
				fprintf(stderr, "bench-idle: dup2 onto %d: %s\n", num, strerror(errno));
				return 1;
			}
			if (add(epfd, num, (uint64_t)i) != 0)
				return 1;
			if (close(num) != 0) {
				fprintf(stderr, "bench-idle: close %d: %s\n", num, strerror(errno));
				return 1;
			}
			reg++;
		}
	}
	if (reg != idle) {
		fprintf(stderr, "bench-idle: registered %ld of %ld\n", reg, idle);
		return 1;
	}
	double setup_ms = (now_ns() - s0) / 1e6;

	struct epoll_event evs[8];
	const int batch = 256;
	double min_ns = min_ms * 1e6;
	for (int r = 0; r < runs; r++) {
		long calls = 0;
		double t0 = now_ns(), el;
		do {
			for (int b = 0; b < batch; b++) {
				int got = epoll_wait(epfd, evs, 8, 0);
				if (got != 1 || evs[0].data.u64 != ACTIVE_TAG) {
					fprintf(stderr, "bench-idle: epoll_wait returned %d (data %llx), "
						"expected the active pipe only%s%s\n", got,
						got > 0 ? (unsigned long long)evs[0].data.u64 : 0ULL,
						got < 0 ? ": " : "", got < 0 ? strerror(errno) : "");
					return 1;
				}
			}
			calls += batch;
			el = now_ns() - t0;
		} while (el < min_ns);
		res[r] = el / (double)calls;
		if (!quiet)
			printf("run %d: %.1f ns/call (%ld calls)\n", r, res[r], calls);
	}
	qsort(res, (size_t)runs, sizeof(double), cmp_double);
	double med = (runs % 2) ? res[runs / 2] : (res[runs / 2 - 1] + res[runs / 2]) / 2;

	printf("IDLE: %ld\n", idle);
	printf("METHOD: %s\n", method == 2 ? "aliases" : "pipes");
	printf("FILES: %ld\n", files);
	printf("ALIASES_PER_FILE: %ld\n", k);
	printf("SETUP_MS: %.0f\n", setup_ms);
	printf("NS_PER_CALL: %.1f\n", med);

	for (long i = 0; i < files; i++)
		close(fds[i]);
	close(act[0]);
	close(act[1]);
	close(epfd);
	free(fds);
	free(res);
	return 0;
}
