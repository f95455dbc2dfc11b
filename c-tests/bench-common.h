/*
 * bench-common.h - helpers shared by the benchmark programs: a monotonic clock,
 * a comparison for qsort of doubles, and raising RLIMIT_NOFILE.
 * Header-only (static inline), so each program still builds from one .c file.
 */
#ifndef UEPOLL_BENCH_COMMON_H
#define UEPOLL_BENCH_COMMON_H

#include <limits.h>
#include <sys/resource.h>
#include <time.h>

static inline double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/*
 * Raise RLIMIT_NOFILE towards `need`: the soft limit up to the hard one, and
 * the hard limit too when that is allowed (CAP_SYS_RESOURCE).  Returns the
 * soft limit in force afterwards (LONG_MAX for unlimited), -1 on error.
 */
static inline long raise_nofile(long need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur == RLIM_INFINITY)
		return LONG_MAX;
	if ((long)rl.rlim_cur >= need)
		return (long)rl.rlim_cur;
	if (rl.rlim_max != RLIM_INFINITY && (long)rl.rlim_max < need) {
		struct rlimit big = { (rlim_t)need, (rlim_t)need };
		if (setrlimit(RLIMIT_NOFILE, &big) == 0)
			return need;
	}
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? (rlim_t)need : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	return (long)rl.rlim_cur;
}

#endif
