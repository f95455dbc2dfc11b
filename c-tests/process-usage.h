/*
 * process-usage.h - what getrusage says of the whole process (every thread,
 * including those that have exited): its CPU time and its voluntary context
 * switches.  The benchmarks read them before and after their timed part, for
 * CPU time per operation (steadier than a rate on a loaded machine) and for
 * the number of waits that really slept.
 * Header-only (static inline), so each program still builds from one .c file.
 */
#ifndef UEPOLL_PROCESS_USAGE_H
#define UEPOLL_PROCESS_USAGE_H

#include <sys/resource.h>

/* User + system CPU time so far, in ns (0 if getrusage fails). */
static inline double process_cpu_ns(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return ((double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec) * 1e9 +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e3;
}

/* getrusage(who) split into user space and the kernel, in ns (both 0 if it fails). */
static inline void cpu_split_ns(int who, double *user, double *sys)
{
	struct rusage ru;
	*user = *sys = 0;
	if (getrusage(who, &ru) != 0)
		return;
	*user = (double)ru.ru_utime.tv_sec * 1e9 + (double)ru.ru_utime.tv_usec * 1e3;
	*sys = (double)ru.ru_stime.tv_sec * 1e9 + (double)ru.ru_stime.tv_usec * 1e3;
}

/* The same CPU time split into user space and the kernel, in ns (both 0 if getrusage
 * fails). The kernel splits a thread's time by where its ticks landed, so on a
 * timed part of a second or more the split is good to a few percent. */
static inline void process_cpu_split_ns(double *user, double *sys)
{
	cpu_split_ns(RUSAGE_SELF, user, sys);
}

#ifdef RUSAGE_THREAD
/* The calling thread's own CPU time so far, split the same way: for a program whose
 * rate one thread bounds, what that thread spends per operation. Needs _GNU_SOURCE
 * before the first include. */
static inline void thread_cpu_split_ns(double *user, double *sys)
{
	cpu_split_ns(RUSAGE_THREAD, user, sys);
}
#endif

/* Voluntary context switches so far: each is a thread that blocked. */
static inline long process_voluntary_switches(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return ru.ru_nvcsw;
}

#endif
