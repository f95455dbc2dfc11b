/* torture-common.h - what the modes of build/torture share. torture.c describes the
 * modes and parses the command line; each mode has its own file: torture-churn.c,
 * torture-signals.c (signals, handler-malloc), torture-spawn.c. */
#ifndef TORTURE_COMMON_H
#define TORTURE_COMMON_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAXTHREADS 64

/* Settings from the command line. */
extern char g_self[4096]; /* this program, for fork+exec */
extern double g_duration;
extern int g_nthreads;
extern uint64_t g_seed;
extern int g_under_uepoll; /* LD_PRELOAD names uepoll: documented differences may show */

/* Run state. */
extern atomic_int g_stop;
extern atomic_long g_viol;
extern atomic_ulong g_progress;
extern atomic_long g_children_failed; /* churn and spawn */

double now_s(void);
void sleep_us(long us);
uint64_t rnd(uint64_t *s);
__attribute__((format(printf, 1, 2))) void violation(const char *fmt, ...);
void doing(int idx, const char *what, int fd);
pthread_t start_watchdog(int nthreads);
void stop_watchdog(pthread_t t);
int reap_deadline(pid_t pid, double secs);
int status_ok(int st);
void describe_status(int st, char *buf, size_t n);
int write_inherited(int skip1, int skip2, const int *skip, int nskip);

/* The modes. */
int run_churn(long fork_ms);                  /* torture-churn.c */
int run_signals(long timer_us, long kill_us); /* torture-signals.c */
int run_handler_malloc(void);                 /* torture-signals.c */
int run_spawn(void);                          /* torture-spawn.c */
int child_exec_main(int in, int out);         /* torture-spawn.c: what spawn execs */

#endif
