/*
 * bench-unserved.c - plain I/O on fds a user-space epoll does not serve.
 *
 * Run it without and with the preload library: the difference is what the
 * library's read/write hooks cost programs whose fds it leaves to the kernel.
 * No epoll is used at all.
 *
 * Workloads (-w):
 *   file   a regular file (created with mkstemp in $TMPDIR or /tmp, unlinked
 *          at once): lseek + write(-s bytes) + lseek + read(-s bytes).
 *          One op = that write and that read.
 *   tcp    a TCP connection on 127.0.0.1 (an ephemeral port, listening on
 *          loopback only), both ends in this thread: write(-s bytes) on one
 *          end, read them on the other.  One op = that write and that read.
 *   echo   the same connection with an echo thread on the far end: write
 *          -s bytes, read the echo back (blocking).  One op = a round trip.
 *
 * Each of -r runs loops for at least -m ms (bounded: it stops at the first
 * batch boundary after that), then reports ns per op, by the wall clock and by
 * the process's CPU time (all threads; time spent blocked is not CPU time).
 * The CPU figure is what the hooks add to the work and is not inflated when
 * other processes take the CPUs away for a while.
 *
 * -a: the hooks' own cost, A/B in one process.  Two processes, one with the
 * library and one without, differ by more than the hooks: where the kernel,
 * the allocator and the loader put things, and what the host did meanwhile,
 * which on a shared machine moves a run by several percent.  With -a each run
 * is a pair of phases of -m ms each: one calls read and write through what the
 * program's own calls reach (dlsym(RTLD_DEFAULT): the library's hooks when it
 * is preloaded), the other through libc's own definitions (dlsym on libc.so.6),
 * in the same loop, alternating which phase goes first.  Without the library
 * both phases call the same functions, so that run is the method's control.
 *
 * Flags: -w file|tcp|echo (file)  -s bytes (64)  -r runs (5)  -m min ms (100)
 *        -a  -q quiet
 *
 * Output (stdout):
 *   run K: X ns/op ...       (per run, unless -q)
 *   CPU_NS_PER_OP: c         median over runs, process CPU time per op
 *   NS_PER_OP: z             median over runs, wall clock
 * With -a, instead:
 *   HOOKED: 1|0              whether the two phases call different functions
 *   HOOKED_CPU_NS_PER_OP: c  median over runs, the phase through the hooks
 *   LIBC_CPU_NS_PER_OP: c    median over runs, the phase through libc's own
 *   HOOK_RATIO: x            median over runs of each run's hooked / libc's
 *   HOOK_RATIO_LO: x         the lowest run's ratio
 *   HOOK_RATIO_HI: x         the highest
 *
 * Only plain libc calls are used so the program behaves the same under
 * LD_PRELOAD.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static size_t msg = 64;

/* The read and write the loops call: the plain symbols, or with -a the pair of
 * the phase under way (the echo thread loads it at each call). */
typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);
struct calls {
	read_fn read;
	write_fn write;
};
static struct calls plain = { read, write };
static const struct calls *volatile cur = &plain;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* CPU time of the whole process (all threads). */
static double cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return (n % 2) ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what)
{
	fprintf(stderr, "bench-unserved: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Read or write exactly len bytes (blocking fds). */
static int read_full(int fd, char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = cur->read(fd, buf + got, len - got);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		return r == 0 ? 0 : -1;
	}
	return 1;
}

static int write_full(int fd, const char *buf, size_t len)
{
	size_t put = 0;
	while (put < len) {
		ssize_t w = cur->write(fd, buf + put, len - put);
		if (w > 0) {
			put += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		return -1;
	}
	return 1;
}

/* A connected TCP pair on 127.0.0.1.  cs: client end, ss: server end. */
static void tcp_pair(int *cs, int *ss)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		die("socket");
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0;
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) != 0)
		die("bind 127.0.0.1");
	if (listen(l, 1) != 0)
		die("listen");
	socklen_t al = sizeof(a);
	if (getsockname(l, (struct sockaddr *)&a, &al) != 0)
		die("getsockname");
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		die("socket");
	if (connect(c, (struct sockaddr *)&a, sizeof(a)) != 0)
		die("connect");
	int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		die("accept");
	close(l);
	int one = 1;
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*cs = c;
	*ss = s;
}

static void *echo_thread(void *arg)
{
	int s = *(int *)arg;
	char *buf = malloc(msg);
	if (!buf)
		return NULL;
	for (;;) {
		int r = read_full(s, buf, msg);
		if (r <= 0)
			break; /* EOF: the client is done */
		if (write_full(s, buf, msg) < 0)
			break;
	}
	free(buf);
	return NULL;
}

/* Loop the workload for at least min_ns of wall-clock time (to the end of a
 * batch); return CPU ns per op and set *wall to wall-clock ns per op. */
static double phase(int mode, int a, int b, char *buf, char *back, double min_ns, double *wall)
{
	const int batch = 64;
	long ops = 0;
	double c0 = cpu_ns(), t0 = now_ns(), el;
	do {
		for (int k = 0; k < batch; k++) {
			if (mode == 0) {
				if (lseek(a, 0, SEEK_SET) != 0 || write_full(a, buf, msg) < 0)
					die("file write");
				if (lseek(a, 0, SEEK_SET) != 0 || read_full(a, back, msg) <= 0)
					die("file read");
			} else if (mode == 1) {
				if (write_full(a, buf, msg) < 0)
					die("tcp write");
				if (read_full(b, back, msg) <= 0)
					die("tcp read");
			} else {
				if (write_full(a, buf, msg) < 0)
					die("echo write");
				if (read_full(a, back, msg) <= 0)
					die("echo read");
			}
		}
		ops += batch;
		el = now_ns() - t0;
	} while (el < min_ns);
	double cel = cpu_ns() - c0;
	if (memcmp(buf, back, msg) != 0) {
		fprintf(stderr, "bench-unserved: data mismatch\n");
		exit(1);
	}
	*wall = el / (double)ops;
	return cel / (double)ops;
}

static void usage(const char *p)
{
	fprintf(stderr, "usage: %s [-w file|tcp|echo] [-s bytes] [-r runs] [-m min_ms] [-a] [-q]\n", p);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *work = "file";
	int runs = 5, quiet = 0, ab = 0, opt;
	double min_ms = 100;
	while ((opt = getopt(argc, argv, "w:s:r:m:aqh")) != -1) {
		switch (opt) {
		case 'w': work = optarg; break;
		case 's': msg = (size_t)atol(optarg); break;
		case 'r': runs = atoi(optarg); break;
		case 'm': min_ms = atof(optarg); break;
		case 'a': ab = 1; break;
		case 'q': quiet = 1; break;
		default: usage(argv[0]);
		}
	}
	int mode;
	if (strcmp(work, "file") == 0)
		mode = 0;
	else if (strcmp(work, "tcp") == 0)
		mode = 1;
	else if (strcmp(work, "echo") == 0)
		mode = 2;
	else
		usage(argv[0]);
	if (optind != argc || msg < 1 || msg > (1 << 20) || runs < 1 || min_ms <= 0)
		usage(argv[0]);
	signal(SIGPIPE, SIG_IGN);

	char *buf = malloc(msg), *back = malloc(msg);
	double *res = calloc((size_t)runs, sizeof(double));
	double *cpu = calloc((size_t)runs, sizeof(double));
	if (!buf || !back || !res || !cpu) {
		fprintf(stderr, "bench-unserved: out of memory\n");
		return 1;
	}
	memset(buf, 'u', msg);

	int a = -1, b = -1;
	pthread_t echo;
	if (mode == 0) {
		const char *dir = getenv("TMPDIR");
		char path[4096];
		snprintf(path, sizeof(path), "%s/bench-unserved.XXXXXX", dir && *dir ? dir : "/tmp");
		a = mkstemp(path);
		if (a < 0)
			die("mkstemp");
		unlink(path);
	} else {
		tcp_pair(&a, &b);
		if (mode == 2) {
			int rc = pthread_create(&echo, NULL, echo_thread, &b);
			if (rc != 0) {
				fprintf(stderr, "bench-unserved: pthread_create: %s\n", strerror(rc));
				return 1;
			}
		}
	}

	struct calls hooked = plain, own = plain;
	if (ab) {
		/* RTLD_DEFAULT finds what the program's calls reach; libc's handle
		 * finds libc's own definitions, past any preloaded library. */
		void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
		hooked.read = (read_fn)dlsym(RTLD_DEFAULT, "read");
		hooked.write = (write_fn)dlsym(RTLD_DEFAULT, "write");
		own.read = libc ? (read_fn)dlsym(libc, "read") : NULL;
		own.write = libc ? (write_fn)dlsym(libc, "write") : NULL;
		if (!hooked.read || !hooked.write || !own.read || !own.write) {
			fprintf(stderr, "bench-unserved: dlsym: %s\n", dlerror());
			return 1;
		}
	}
	double *cpu_own = calloc((size_t)runs, sizeof(double));
	double *ratio = calloc((size_t)runs, sizeof(double));
	if (!cpu_own || !ratio) {
		fprintf(stderr, "bench-unserved: out of memory\n");
		return 1;
	}

	double min_ns = min_ms * 1e6;
	/* One untimed warm-up run (of each phase, with -a), then the timed runs. */
	for (int r = -1; r < runs; r++) {
		double el, cel;
		if (!ab) {
			cel = phase(mode, a, b, buf, back, r < 0 ? min_ns / 4 : min_ns, &el);
			if (r < 0)
				continue;
			res[r] = el;
			cpu[r] = cel;
			if (!quiet)
				printf("run %d: %.1f ns/op, %.1f CPU ns/op\n", r, res[r], cpu[r]);
			continue;
		}
		/* Alternate which phase goes first, so that a drift of the host
		 * within a run weighs on both alike. */
		double c[2];
		for (int k = 0; k < 2; k++) {
			int which = (r & 1) ? 1 - k : k;
			cur = which ? &own : &hooked;
			c[which] = phase(mode, a, b, buf, back, r < 0 ? min_ns / 4 : min_ns, &el);
		}
		cur = &plain;
		if (r < 0)
			continue;
		cpu[r] = c[0];
		cpu_own[r] = c[1];
		ratio[r] = c[0] / c[1];
		if (!quiet)
			printf("run %d: hooked %.1f, libc %.1f CPU ns/op, ratio %.4f\n", r, c[0], c[1], ratio[r]);
	}
	if (mode == 2) {
		shutdown(a, SHUT_WR);
		pthread_join(echo, NULL);
	}
	printf("WORKLOAD: %s\n", work);
	printf("BYTES: %zu\n", msg);
	if (ab) {
		printf("HOOKED: %d\n", hooked.read != own.read || hooked.write != own.write);
		printf("HOOKED_CPU_NS_PER_OP: %.1f\n", median(cpu, runs));
		printf("LIBC_CPU_NS_PER_OP: %.1f\n", median(cpu_own, runs));
		printf("HOOK_RATIO: %.4f\n", median(ratio, runs));
		/* median() sorted ratio[] */
		printf("HOOK_RATIO_LO: %.4f\n", ratio[0]);
		printf("HOOK_RATIO_HI: %.4f\n", ratio[runs - 1]);
	} else {
		printf("CPU_NS_PER_OP: %.1f\n", median(cpu, runs));
		printf("NS_PER_OP: %.1f\n", median(res, runs));
	}
	close(a);
	if (b >= 0)
		close(b);
	free(buf);
	free(back);
	free(res);
	free(cpu);
	free(cpu_own);
	free(ratio);
	return 0;
}
