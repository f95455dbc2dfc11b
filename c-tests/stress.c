/*
 * stress.c - uepoll's own "token churn" stress workload (the totalmess idea).
 *
 * N pipes, all read ends registered in one epoll set.  T threads loop on
 * epoll_wait(500 ms); for every event they DEL and re-ADD the fd, read one
 * byte from it and write one byte to a randomly chosen pipe.  The point is to
 * hammer epoll_ctl and epoll_wait from several threads at once.
 *
 * Written from the description in docs (no upstream code used).
 *
 * Flags:
 *   -n N   pipes (default 100)            -t T   threads (default 2)
 *   -a A   initial tokens (default 1)     -v V   max events per wait (n/5+1)
 *   -e     edge-triggered                 -d S   seconds (default 5, 0 = until SIGINT)
 *   -V     verbose ("[thread] nevents=N" on stderr per wait)
 *   -s S   random seed                    -c     conservation mode
 *   -R     raw ctl: no per-fd lock around DEL+ADD; ENOENT on DEL and EEXIST
 *          on ADD (legitimate when two threads handle the same fd) are
 *          counted as ctl_races instead of ctl_errors.
 *
 * By default the DEL+ADD pair of one fd is done under a per-pipe mutex, so the
 * two calls always pair up and any failure is a real error (ctl_errors must
 * be 0).  Reads and writes are done outside the lock.
 *
 * Output (stdout): "key: value" lines; events_per_sec is events over the run's
 * seconds, cpu_ns_per_event the process's CPU time (getrusage RUSAGE_SELF, user
 * + system, all threads) from the workers' start to their join, per event: on a
 * loaded machine it moves less than the rate, which follows how much CPU the
 * threads got.
 *
 * Only plain libc calls are used so the program behaves the same under
 * LD_PRELOAD of a user-space epoll.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "process-usage.h"

struct pipe_slot {
	int rfd, wfd;
	pthread_mutex_t lock;
};

struct thr {
	pthread_t tid;
	int idx;
	unsigned int seed;
	uint64_t waits, events, empty_waits, ctl_errors, ctl_races;
	uint64_t read_eagain, reads, writes, write_eagain, write_lost;
	int failed;
};

static int npipes = 100, nthreads = 2, ntokens = 1, maxev = 0, edge = 0;
static int verbose = 0, conserve = 0, raw_ctl = 0;
static double duration = 5.0;
static struct pipe_slot *pipes;
static int epfd = -1;
static volatile sig_atomic_t got_sigint = 0;
static int stop_flag = 0; /* accessed with __atomic builtins */

static void on_sigint(int sig)
{
	(void)sig;
	got_sigint = 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int should_stop(void)
{
	return got_sigint || __atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE);
}

static void usage(const char *p)
{
	fprintf(stderr,
		"usage: %s [-n pipes] [-t threads] [-a tokens] [-v maxevents] [-e] "
		"[-d seconds] [-V] [-s seed] [-c] [-R]\n", p);
	exit(2);
}

static int raise_nofile(long need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && (long)rl.rlim_max < need) {
		/* try to raise the hard limit too (works when privileged) */
		struct rlimit big = { (rlim_t)need, (rlim_t)need };
		if (setrlimit(RLIMIT_NOFILE, &big) == 0)
			return 0;
	}
	if (rl.rlim_max == RLIM_INFINITY)
		rl.rlim_cur = (rlim_t)need;
	else
		rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < need)
		return -1;
	return 0;
}

/* Write one token to a random pipe.  Write ends are non-blocking; if the
 * chosen pipe is full, try the following ones so no token is ever lost. */
static void put_token(struct thr *t)
{
	int start = (int)(rand_r(&t->seed) % (unsigned)npipes);
	char c = 't';
	for (int k = 0; k < npipes; k++) {
		int i = (start + k) % npipes;
		ssize_t w = write(pipes[i].wfd, &c, 1);
		if (w == 1) {
			t->writes++;
			return;
		}
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			t->write_eagain++;
			continue;
		}
		if (w < 0 && errno == EINTR) {
			k--;
			continue;
		}
		fprintf(stderr, "stress: write pipe %d: %s\n", i, strerror(errno));
		__atomic_store_n(&t->failed, 1, __ATOMIC_RELAXED);
		return;
	}
	t->write_lost++;
}

static void rearm(struct thr *t, int i)
{
	struct epoll_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (edge ? EPOLLET : 0);
	ev.data.u64 = (uint64_t)i;

	if (!raw_ctl)
		pthread_mutex_lock(&pipes[i].lock);
	if (epoll_ctl(epfd, EPOLL_CTL_DEL, pipes[i].rfd, NULL) != 0) {
		if (raw_ctl && errno == ENOENT) {
			t->ctl_races++;
		} else {
			t->ctl_errors++;
			fprintf(stderr, "stress: [%d] EPOLL_CTL_DEL fd %d: %s\n",
				t->idx, pipes[i].rfd, strerror(errno));
		}
	}
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, pipes[i].rfd, &ev) != 0) {
		if (raw_ctl && errno == EEXIST) {
			t->ctl_races++;
		} else {
			t->ctl_errors++;
			fprintf(stderr, "stress: [%d] EPOLL_CTL_ADD fd %d: %s\n",
				t->idx, pipes[i].rfd, strerror(errno));
		}
	}
	if (!raw_ctl)
		pthread_mutex_unlock(&pipes[i].lock);
}

static void *worker(void *arg)
{
	struct thr *t = arg;
	struct epoll_event *evs = calloc((size_t)maxev, sizeof(*evs));
	if (!evs) {
		fprintf(stderr, "stress: out of memory\n");
		__atomic_store_n(&t->failed, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	while (!should_stop() && !t->failed) {
		int n = epoll_wait(epfd, evs, maxev, 500);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "stress: [%d] epoll_wait: %s\n", t->idx,
				strerror(errno));
			__atomic_store_n(&t->failed, 1, __ATOMIC_RELAXED);
			break;
		}
		t->waits++;
		if (verbose)
			fprintf(stderr, "[%d] nevents=%d\n", t->idx, n);
		if (n == 0) {
			t->empty_waits++;
			continue;
		}
		if (n > maxev) {
			fprintf(stderr, "stress: epoll_wait returned %d > %d\n", n, maxev);
			__atomic_store_n(&t->failed, 1, __ATOMIC_RELAXED);
			break;
		}
		t->events += (uint64_t)n;
		for (int k = 0; k < n; k++) {
			uint64_t d = evs[k].data.u64;
			if (d >= (uint64_t)npipes) {
				fprintf(stderr, "stress: bogus event data %" PRIu64 "\n", d);
				__atomic_store_n(&t->failed, 1, __ATOMIC_RELAXED);
				break;
			}
			int i = (int)d;
			rearm(t, i);
			char c;
			ssize_t r;
			do {
				r = read(pipes[i].rfd, &c, 1);
			} while (r < 0 && errno == EINTR);
			if (r == 1) {
				t->reads++;
			} else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				t->read_eagain++;
				if (conserve)
					continue;
			} else {
				fprintf(stderr, "stress: read pipe %d: %s\n", i,
					r == 0 ? "EOF" : strerror(errno));
				__atomic_store_n(&t->failed, 1, __ATOMIC_RELAXED);
				break;
			}
			put_token(t);
		}
	}
	free(evs);
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned int seed = (unsigned int)time(NULL) ^ ((unsigned int)getpid() << 16);
	int opt;
	while ((opt = getopt(argc, argv, "n:t:a:v:ed:Vs:cRh")) != -1) {
		switch (opt) {
		case 'n': npipes = atoi(optarg); break;
		case 't': nthreads = atoi(optarg); break;
		case 'a': ntokens = atoi(optarg); break;
		case 'v': maxev = atoi(optarg); break;
		case 'e': edge = 1; break;
		case 'd': duration = atof(optarg); break;
		case 'V': verbose = 1; break;
		case 's': seed = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'c': conserve = 1; break;
		case 'R': raw_ctl = 1; break;
		default: usage(argv[0]);
		}
	}
	if (optind != argc || npipes < 1 || nthreads < 1 || ntokens < 0 ||
	    maxev < 0 || duration < 0)
		usage(argv[0]);
	if (maxev == 0)
		maxev = npipes / 5 + 1;

	if (raise_nofile(2L * npipes + 16) != 0) {
		struct rlimit rl;
		getrlimit(RLIMIT_NOFILE, &rl);
		fprintf(stderr, "stress: need %ld file descriptors for -n %d but "
			"RLIMIT_NOFILE hard limit is %ld\n", 2L * npipes + 16, npipes,
			rl.rlim_max == RLIM_INFINITY ? -1L : (long)rl.rlim_max);
		return 2;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: let waits see EINTR */
	signal(SIGPIPE, SIG_IGN);

	pipes = calloc((size_t)npipes, sizeof(*pipes));
	struct thr *thr = calloc((size_t)nthreads, sizeof(*thr));
	if (!pipes || !thr) {
		fprintf(stderr, "stress: out of memory\n");
		return 1;
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		perror("stress: epoll_create1");
		return 1;
	}
	for (int i = 0; i < npipes; i++) {
		int p[2];
		if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
			fprintf(stderr, "stress: pipe %d: %s\n", i, strerror(errno));
			return 1;
		}
		pipes[i].rfd = p[0];
		pipes[i].wfd = p[1];
		pthread_mutex_init(&pipes[i].lock, NULL);
		struct epoll_event ev;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | (edge ? EPOLLET : 0);
		ev.data.u64 = (uint64_t)i;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, p[0], &ev) != 0) {
			fprintf(stderr, "stress: EPOLL_CTL_ADD %d: %s\n", i, strerror(errno));
			return 1;
		}
	}

	/* initial tokens */
	unsigned int mseed = seed;
	long tokens_start = 0;
	for (int k = 0; k < ntokens; k++) {
		int i = (int)(rand_r(&mseed) % (unsigned)npipes);
		char c = 'a';
		int done = 0;
		for (int j = 0; j < npipes && !done; j++) {
			if (write(pipes[(i + j) % npipes].wfd, &c, 1) == 1)
				done = 1;
		}
		if (!done) {
			fprintf(stderr, "stress: cannot place initial token %d\n", k);
			return 1;
		}
		tokens_start++;
	}

	double t0 = now_s();
	double cpu0 = process_cpu_ns();
	for (int k = 0; k < nthreads; k++) {
		thr[k].idx = k;
		thr[k].seed = seed * 2654435761u + (unsigned int)k * 40503u + 1u;
		int rc = pthread_create(&thr[k].tid, NULL, worker, &thr[k]);
		if (rc != 0) {
			fprintf(stderr, "stress: pthread_create: %s\n", strerror(rc));
			return 1;
		}
	}

	/* main thread: wait for deadline or SIGINT */
	while (!got_sigint) {
		if (duration > 0 && now_s() - t0 >= duration)
			break;
		int any_failed = 0;
		for (int k = 0; k < nthreads; k++)
			if (__atomic_load_n(&thr[k].failed, __ATOMIC_RELAXED))
				any_failed = 1;
		if (any_failed)
			break;
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
	for (int k = 0; k < nthreads; k++)
		pthread_join(thr[k].tid, NULL);
	double secs = now_s() - t0;
	double cpu = process_cpu_ns() - cpu0;

	uint64_t waits = 0, events = 0, empty = 0, cerr = 0, craces = 0;
	uint64_t eagain = 0, reads = 0, writes = 0, weagain = 0, wlost = 0;
	int failed = 0;
	for (int k = 0; k < nthreads; k++) {
		waits += thr[k].waits;
		events += thr[k].events;
		empty += thr[k].empty_waits;
		cerr += thr[k].ctl_errors;
		craces += thr[k].ctl_races;
		eagain += thr[k].read_eagain;
		reads += thr[k].reads;
		writes += thr[k].writes;
		weagain += thr[k].write_eagain;
		wlost += thr[k].write_lost;
		failed |= thr[k].failed;
	}

	/* drain (counts tokens left) and close */
	long tokens_end = 0;
	for (int i = 0; i < npipes; i++) {
		char buf[4096];
		for (;;) {
			ssize_t r = read(pipes[i].rfd, buf, sizeof(buf));
			if (r > 0) {
				tokens_end += r;
				continue;
			}
			if (r < 0 && errno == EINTR)
				continue;
			break;
		}
	}
	for (int i = 0; i < npipes; i++) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, pipes[i].rfd, NULL);
		close(pipes[i].rfd);
		close(pipes[i].wfd);
		pthread_mutex_destroy(&pipes[i].lock);
	}
	close(epfd);

	printf("threads: %d\n", nthreads);
	printf("pipes: %d\n", npipes);
	printf("mode: %s\n", edge ? "et" : "lt");
	printf("maxevents: %d\n", maxev);
	printf("seed: %u\n", seed);
	printf("seconds: %.3f\n", secs);
	printf("waits: %" PRIu64 "\n", waits);
	printf("events: %" PRIu64 "\n", events);
	printf("events_per_sec: %.0f\n", secs > 0 ? (double)events / secs : 0.0);
	if (events)
		printf("cpu_ns_per_event: %.0f\n", cpu / (double)events);
	else
		printf("cpu_ns_per_event: none\n"); /* no event: no figure */
	printf("empty_waits: %" PRIu64 "\n", empty);
	printf("ctl_errors: %" PRIu64 "\n", cerr);
	printf("ctl_races: %" PRIu64 "\n", craces);
	printf("reads: %" PRIu64 "\n", reads);
	printf("read_eagain: %" PRIu64 "\n", eagain);
	printf("writes: %" PRIu64 "\n", writes);
	printf("write_eagain: %" PRIu64 "\n", weagain);
	printf("write_lost: %" PRIu64 "\n", wlost);
	printf("interrupted: %s\n", got_sigint ? "yes" : "no");
	int status = 0;
	if (conserve) {
		printf("tokens_start: %ld\n", tokens_start);
		printf("tokens_end: %ld\n", tokens_end);
		if (tokens_start != tokens_end) {
			fprintf(stderr, "stress: token count not conserved: %ld -> %ld\n",
				tokens_start, tokens_end);
			status = 1;
		}
	} else {
		printf("tokens_left: %ld\n", tokens_end);
	}
	if (cerr != 0) {
		fprintf(stderr, "stress: %" PRIu64 " epoll_ctl errors\n", cerr);
		status = 1;
	}
	if (failed) {
		fprintf(stderr, "stress: a worker thread failed\n");
		status = 1;
	}
	fflush(stdout);
	free(pipes);
	free(thr);
	return status;
}
