/*
 * bench-mem.c - memory per registered fd, for the kernel's epoll and for a
 * user-space epoll loaded with LD_PRELOAD.
 *
 * Memory is snapshotted at three points:
 *   S0  after set-up (the epoll instance exists; a warm-up round of 64 pipes
 *       was registered, waited on, deleted and closed, so a preload library's
 *       code paths and first allocations are behind us; the program's own
 *       arrays are allocated and touched);
 *   S1  after creating -n pipes (2n fds);
 *   S2  after registering all 2n ends with EPOLL_CTL_ADD (EPOLLIN; none is
 *       ready);
 *   S3  after EPOLL_CTL_DEL of all 2n ends and a 200 ms pause (the kernel
 *       frees epitems after an RCU grace period): a check of the kernel figure.
 *
 * Each snapshot holds:
 *   rss    the process's resident memory (/proc/self/statm, resident pages);
 *   heap   bytes in use by malloc (mallinfo2: uordblks + hblkhd);
 *   kslab  the kernel's epoll objects: in-use objects of the eventpoll_epi and
 *          eventpoll_pwq slab caches times their slab object size
 *          (/sys/kernel/slab/NAME/{objects,slab_size}, else /proc/slabinfo).
 *          These caches may be merged with others of the same size (see
 *          /sys/kernel/slab), so other processes' activity is noise in the
 *          figure; the many registrations keep it small, and DEL gives a
 *          second, independent reading.  Without either source: SUnreclaim
 *          from /proc/meminfo (all unreclaimable slab, noisier).
 *
 * The kernel pipes themselves cost kernel memory in both runs, equally, and
 * are not in any figure.  The driver (scripts/bench.sh) combines the figures
 * of a kernel run and a preload run; see docs/benchmarks.md.
 *
 * Flags: -n pipes (8000; lowered to fit RLIMIT_NOFILE, raised as far as
 *        allowed)
 *
 * Output (stdout), per registered fd (2n), in bytes:
 *   REGISTERED: 2n
 *   PIPE_RSS_PER_FD, PIPE_HEAP_PER_FD       S1 - S0 (creating the pipes)
 *   REG_RSS_PER_FD, REG_HEAP_PER_FD         S2 - S1 (registering them)
 *   REG_KSLAB_PER_FD                        S2 - S1 of kslab
 *   DEL_KSLAB_PER_FD                        S2 - S3 of kslab
 *   KSLAB_SOURCE: sysfs|slabinfo|meminfo|none
 *   KSLAB_OBJ_BYTES: e+p                    slab sizes of the two caches
 *
 * Only plain libc calls are used so the program behaves the same under
 * LD_PRELOAD of a user-space epoll.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench-common.h"

struct snap {
	double rss, heap, kslab;
};

static int kslab_src; /* 0 none, 1 sysfs, 2 slabinfo, 3 meminfo */
static long epi_size, pwq_size;

/* Read a small text file into buf with plain open/read. */
static int slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t got = 0;
	for (;;) {
		ssize_t r = read(fd, buf + got, len - 1 - got);
		if (r > 0) {
			got += (size_t)r;
			if (got == len - 1)
				break;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		break;
	}
	close(fd);
	buf[got] = 0;
	return (int)got;
}

static long sysfs_long(const char *cache, const char *attr)
{
	char path[256], buf[256];
	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/%s", cache, attr);
	if (slurp(path, buf, sizeof(buf)) <= 0)
		return -1;
	return strtol(buf, NULL, 10);
}

/* /proc/slabinfo: "name active_objs num_objs objsize ..." */
static int slabinfo(const char *cache, long *active, long *objsize)
{
	static char buf[1 << 20];
	if (slurp("/proc/slabinfo", buf, sizeof(buf)) <= 0)
		return -1;
	size_t cl = strlen(cache);
	for (char *line = buf; line && *line;) {
		char *nl = strchr(line, '\n');
		if (strncmp(line, cache, cl) == 0 && (line[cl] == ' ' || line[cl] == '\t')) {
			long a, n, s;
			if (sscanf(line + cl, "%ld %ld %ld", &a, &n, &s) == 3) {
				*active = a;
				*objsize = s;
				return 0;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return -1;
}

static double meminfo_kb(const char *key)
{
	static char buf[8192];
	if (slurp("/proc/meminfo", buf, sizeof(buf)) <= 0)
		return -1;
	char *p = strstr(buf, key);
	if (!p)
		return -1;
	return strtod(p + strlen(key) + 1, NULL);
}

static void pick_kslab_source(void)
{
	epi_size = sysfs_long("eventpoll_epi", "slab_size");
	pwq_size = sysfs_long("eventpoll_pwq", "slab_size");
	if (epi_size > 0 && pwq_size > 0 && sysfs_long("eventpoll_epi", "objects") >= 0 &&
	    sysfs_long("eventpoll_pwq", "objects") >= 0) {
		kslab_src = 1;
		return;
	}
	long a;
	if (slabinfo("eventpoll_epi", &a, &epi_size) == 0 &&
	    slabinfo("eventpoll_pwq", &a, &pwq_size) == 0) {
		kslab_src = 2;
		return;
	}
	epi_size = pwq_size = 0;
	kslab_src = meminfo_kb("SUnreclaim:") >= 0 ? 3 : 0;
}

static double kslab_bytes(void)
{
	long e = 0, p = 0, s;
	switch (kslab_src) {
	case 1:
		e = sysfs_long("eventpoll_epi", "objects");
		p = sysfs_long("eventpoll_pwq", "objects");
		return (double)e * (double)epi_size + (double)p * (double)pwq_size;
	case 2:
		slabinfo("eventpoll_epi", &e, &s);
		slabinfo("eventpoll_pwq", &p, &s);
		return (double)e * (double)epi_size + (double)p * (double)pwq_size;
	case 3:
		return meminfo_kb("SUnreclaim:") * 1024.0;
	default:
		return 0;
	}
}

static void take(struct snap *s)
{
	char buf[256];
	long size = 0, res = 0;
	if (slurp("/proc/self/statm", buf, sizeof(buf)) > 0)
		sscanf(buf, "%ld %ld", &size, &res);
	s->rss = (double)res * (double)sysconf(_SC_PAGESIZE);
	struct mallinfo2 mi = mallinfo2();
	s->heap = (double)mi.uordblks + (double)mi.hblkhd;
	s->kslab = kslab_bytes();
}


static int ctl(int epfd, int op, int fd)
{
	struct epoll_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = (unsigned)fd;
	if (epoll_ctl(epfd, op, fd, op == EPOLL_CTL_DEL ? NULL : &ev) != 0) {
		fprintf(stderr, "bench-mem: epoll_ctl %s fd %d: %s\n",
			op == EPOLL_CTL_ADD ? "ADD" : "DEL", fd, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long n = 8000;
	int opt;
	while ((opt = getopt(argc, argv, "n:h")) != -1) {
		switch (opt) {
		case 'n': n = atol(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-n pipes]\n", argv[0]);
			return 2;
		}
	}
	if (optind != argc || n < 1) {
		fprintf(stderr, "usage: %s [-n pipes]\n", argv[0]);
		return 2;
	}
	const long reserve = 200; /* stdio, warm-up pipes, a library's own fds */
	long lim = raise_nofile(2 * n + reserve);
	if (lim < 2 * n + reserve)
		n = (lim - reserve) / 2;
	if (n < 100) {
		fprintf(stderr, "bench-mem: RLIMIT_NOFILE %ld is too small\n", lim);
		return 2;
	}
	pick_kslab_source();

	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		perror("bench-mem: epoll_create1");
		return 1;
	}
	/* warm-up */
	{
		int w[128];
		struct epoll_event evs[8];
		for (int i = 0; i < 64; i++)
			if (pipe2(&w[2 * i], O_NONBLOCK | O_CLOEXEC) != 0) {
				perror("bench-mem: pipe2");
				return 1;
			}
		for (int i = 0; i < 128; i++)
			if (ctl(epfd, EPOLL_CTL_ADD, w[i]) != 0)
				return 1;
		if (epoll_wait(epfd, evs, 8, 0) != 0) {
			fprintf(stderr, "bench-mem: idle pipes reported ready\n");
			return 1;
		}
		for (int i = 0; i < 128; i++)
			if (ctl(epfd, EPOLL_CTL_DEL, w[i]) != 0)
				return 1;
		for (int i = 0; i < 128; i++)
			close(w[i]);
	}
	int *fds = malloc((size_t)n * 2 * sizeof(int));
	if (!fds) {
		fprintf(stderr, "bench-mem: out of memory\n");
		return 1;
	}
	memset(fds, 0xff, (size_t)n * 2 * sizeof(int));

	struct snap s0, s1, s2, s3;
	take(&s0);
	for (long i = 0; i < n; i++)
		if (pipe2(&fds[2 * i], O_NONBLOCK | O_CLOEXEC) != 0) {
			fprintf(stderr, "bench-mem: pipe %ld: %s\n", i, strerror(errno));
			return 1;
		}
	take(&s1);
	for (long i = 0; i < 2 * n; i++)
		if (ctl(epfd, EPOLL_CTL_ADD, fds[i]) != 0)
			return 1;
	take(&s2);
	{
		struct epoll_event evs[8];
		if (epoll_wait(epfd, evs, 8, 0) != 0) {
			fprintf(stderr, "bench-mem: idle pipes reported ready\n");
			return 1;
		}
	}
	for (long i = 0; i < 2 * n; i++)
		if (ctl(epfd, EPOLL_CTL_DEL, fds[i]) != 0)
			return 1;
	/* The kernel frees epitems after an RCU grace period: give it time. */
	{
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	take(&s3);

	double fdsn = (double)(2 * n);
	static const char *src[] = { "none", "sysfs", "slabinfo", "meminfo" };
	printf("REGISTERED: %ld\n", 2 * n);
	printf("KSLAB_SOURCE: %s\n", src[kslab_src]);
	printf("KSLAB_OBJ_BYTES: %ld+%ld\n", epi_size, pwq_size);
	printf("PIPE_RSS_PER_FD: %.1f\n", (s1.rss - s0.rss) / fdsn);
	printf("PIPE_HEAP_PER_FD: %.1f\n", (s1.heap - s0.heap) / fdsn);
	printf("REG_RSS_PER_FD: %.1f\n", (s2.rss - s1.rss) / fdsn);
	printf("REG_HEAP_PER_FD: %.1f\n", (s2.heap - s1.heap) / fdsn);
	printf("REG_KSLAB_PER_FD: %.1f\n", (s2.kslab - s1.kslab) / fdsn);
	printf("DEL_KSLAB_PER_FD: %.1f\n", (s2.kslab - s3.kslab) / fdsn);

	for (long i = 0; i < 2 * n; i++)
		close(fds[i]);
	close(epfd);
	free(fds);
	return 0;
}
