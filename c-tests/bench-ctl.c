/*
 * bench-ctl.c - cost of one EPOLL_CTL_ADD + EPOLL_CTL_MOD + EPOLL_CTL_DEL.
 *
 * Optionally registers -n background pipe read ends first (left empty, so
 * never ready) so the cost can be measured against the registered count.
 * Then, on one pipe's read end, loops ADD(EPOLLIN), MOD(EPOLLIN|EPOLLOUT),
 * DEL, checking every return, for at least -m ms per run.
 *
 * Flags: -n background items (0)  -r runs (9)  -m min ms per run (200)  -q quiet
 *
 * Output (stdout):
 *   run K: X ns/triple       (per run, unless -q)
 *   NS_PER_TRIPLE: z         median over runs (integer ns)
 *
 * Only plain libc calls are used so the program behaves the same under
 * LD_PRELOAD of a user-space epoll.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int raise_nofile(long need, long *hard_out)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	*hard_out = rl.rlim_max == RLIM_INFINITY ? -1 : (long)rl.rlim_max;
	if (rl.rlim_cur == RLIM_INFINITY || (long)rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && (long)rl.rlim_max < need) {
		struct rlimit big = { (rlim_t)need, (rlim_t)need };
		return setrlimit(RLIMIT_NOFILE, &big);
	}
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? (rlim_t)need : rl.rlim_max;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

static void usage(const char *p)
{
	fprintf(stderr, "usage: %s [-n background] [-r runs] [-m min_ms] [-q]\n", p);
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
	int nbg = 0, runs = 9, quiet = 0;
	double min_ms = 200;
	int opt;
	while ((opt = getopt(argc, argv, "n:r:m:qh")) != -1) {
		switch (opt) {
		case 'n': nbg = atoi(optarg); break;
		case 'r': runs = atoi(optarg); break;
		case 'm': min_ms = atof(optarg); break;
		case 'q': quiet = 1; break;
		default: usage(argv[0]);
		}
	}
	if (optind != argc || nbg < 0 || runs < 1 || min_ms <= 0)
		usage(argv[0]);

	long need = 2L * nbg + 10, hard = 0;
	if (raise_nofile(need, &hard) != 0) {
		fprintf(stderr,
			"bench-ctl: need %ld file descriptors for -n %d but RLIMIT_NOFILE "
			"hard limit is %ld\n", need, nbg, hard);
		return 2;
	}

	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		perror("bench-ctl: epoll_create1");
		return 1;
	}
	int *bg = calloc((size_t)nbg * 2 + 2, sizeof(int));
	double *res = calloc((size_t)runs, sizeof(double));
	if (!bg || !res) {
		fprintf(stderr, "bench-ctl: out of memory\n");
		return 1;
	}
	for (int i = 0; i < nbg; i++) {
		if (pipe2(&bg[2 * i], O_NONBLOCK | O_CLOEXEC) != 0) {
			fprintf(stderr, "bench-ctl: pipe %d: %s\n", i, strerror(errno));
			return errno == EMFILE || errno == ENFILE ? 2 : 1;
		}
		if (ctl_checked(epfd, EPOLL_CTL_ADD, bg[2 * i], EPOLLIN, "ADD") != 0)
			return 1;
	}
	int p[2];
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
		perror("bench-ctl: pipe");
		return 1;
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
		if (!quiet)
			printf("run %d: %.1f ns/triple (%ld triples)\n", r, res[r], triples);
	}

	qsort(res, (size_t)runs, sizeof(double), cmp_double);
	double med = (runs % 2) ? res[runs / 2] : (res[runs / 2 - 1] + res[runs / 2]) / 2;
	printf("BACKGROUND: %d\n", nbg);
	printf("NS_PER_TRIPLE: %.0f\n", med);

	close(p[0]);
	close(p[1]);
	for (int i = 0; i < 2 * nbg; i++)
		close(bg[i]);
	close(epfd);
	free(bg);
	free(res);
	return 0;
}
