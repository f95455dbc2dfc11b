/*
 * bench-placement.c - where the host has put this machine's first two CPUs
 * relative to each other, measured from inside: the round trip of one cache
 * line between a thread pinned to each.
 *
 * Why: on a shared VM the host moves the vCPUs. On the 2-vCPU EPYC of
 * docs/benchmarks.md the round trip is about 55 to 90 ns in one placement and
 * 330 to 390 ns in the other, and it changes every few seconds to minutes. In
 * the far placement every workload whose threads share cache lines runs up to
 * twice as slowly, the kernel's and uepoll's alike ("The two states of this
 * machine"). scripts/bench.sh runs this probe before and after each run of the
 * rows it judges on their pairs, so that a pair whose two runs saw different
 * placements is run again instead of being compared.
 *
 * The probe: thread A (pinned to the first CPU of the affinity mask) stores
 * an odd number in a line of its own and spins until thread B (pinned to the
 * second) answers with the next even one. -b bursts of -i round trips; the
 * median burst, in ns per round trip. A burst that takes longer than 50 ms
 * (a thread preempted, or a CPU quota) ends there and counts what it did; the
 * whole probe stops after 1 s. It needs no library and should run without
 * LD_PRELOAD (it makes no epoll call either way).
 *
 * Flags: -i round trips per burst (5000)  -b bursts (7)
 *
 * Output (stdout):
 *   CPUS: n          CPUs in the affinity mask
 *   XCPU_NS: x       the median burst's ns per round trip (only with n >= 2)
 *   XCPU_CPUS: a,b   the two CPUs probed
 * Exit status 0, also with one CPU (no XCPU_NS line then); 1 on a bad flag
 * or a failed pthread call.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench-common.h"

#define BURST_CAP_NS 50e6
#define PROBE_CAP_NS 1e9

/* The line that crosses between the two CPUs, and nothing else on it. */
static struct {
	_Alignas(64) atomic_long seq;
	char pad[64 - sizeof(atomic_long)];
} line;

/* Set by A when it is done; B leaves its loop at once. */
static atomic_int done;

static int pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* B: answers every odd number with the next even one. */
static void *answer(void *arg)
{
	if (pin(*(int *)arg) != 0)
		return (void *)1;
	long seen = 0;
	while (!atomic_load_explicit(&done, memory_order_relaxed)) {
		long s = atomic_load_explicit(&line.seq, memory_order_acquire);
		if (s != seen && (s & 1)) {
			atomic_store_explicit(&line.seq, s + 1, memory_order_release);
			seen = s + 1;
		}
	}
	return NULL;
}

/* A: one burst of up to n round trips; ns per round trip, or -1 if none
 * completed within the cap. */
static double burst(long n)
{
	double t0 = now_ns();
	unsigned spins = 0;
	long k;
	for (k = 0; k < n; k++) {
		long s = atomic_load_explicit(&line.seq, memory_order_relaxed) + 1;
		atomic_store_explicit(&line.seq, s, memory_order_release);
		while (atomic_load_explicit(&line.seq, memory_order_acquire) != s + 1) {
			/* The clock is read every 4096 spins only: a far round trip is
			 * a few hundred ns and the clock costs about 20. */
			if ((++spins & 4095) == 0 && now_ns() - t0 > BURST_CAP_NS)
				goto out;
		}
	}
out:
	return k > 0 ? (now_ns() - t0) / (double)k : -1;
}

int main(int argc, char **argv)
{
	long iters = 5000, bursts = 7;
	int opt;
	while ((opt = getopt(argc, argv, "i:b:")) != -1) {
		switch (opt) {
		case 'i': iters = atol(optarg); break;
		case 'b': bursts = atol(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-i round trips per burst] [-b bursts]\n", argv[0]);
			return 1;
		}
	}
	if (iters < 1 || bursts < 1 || bursts > 101) {
		fprintf(stderr, "bench-placement: -i must be >= 1, -b 1 to 101\n");
		return 1;
	}

	cpu_set_t mask;
	if (sched_getaffinity(0, sizeof mask, &mask) != 0) {
		perror("sched_getaffinity");
		return 1;
	}
	int n = CPU_COUNT(&mask), cpus[2], found = 0;
	printf("CPUS: %d\n", n);
	for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
		if (CPU_ISSET(c, &mask))
			cpus[found++] = c;
	if (found < 2)
		return 0; /* one CPU: nothing crosses */

	int rc = pin(cpus[0]);
	if (rc != 0) {
		fprintf(stderr, "bench-placement: pin to CPU %d: %s\n", cpus[0], strerror(rc));
		return 1;
	}
	pthread_t b;
	rc = pthread_create(&b, NULL, answer, &cpus[1]);
	if (rc != 0) {
		fprintf(stderr, "bench-placement: pthread_create: %s\n", strerror(rc));
		return 1;
	}

	double per[101], t0 = now_ns();
	int got = 0;
	burst(iters / 10 + 1); /* warm-up: both threads running, the line in play */
	for (long i = 0; i < bursts && now_ns() - t0 < PROBE_CAP_NS; i++) {
		double x = burst(iters);
		if (x > 0)
			per[got++] = x;
	}
	atomic_store_explicit(&done, 1, memory_order_relaxed);
	void *brc;
	pthread_join(b, &brc);
	if (brc != NULL) {
		fprintf(stderr, "bench-placement: could not pin the second thread to CPU %d\n", cpus[1]);
		return 1;
	}
	if (got == 0) {
		fprintf(stderr, "bench-placement: no round trip completed\n");
		return 1;
	}
	qsort(per, (size_t)got, sizeof per[0], cmp_double);
	printf("XCPU_NS: %.1f\n", per[got / 2]);
	printf("XCPU_CPUS: %d,%d\n", cpus[0], cpus[1]);
	return 0;
}
