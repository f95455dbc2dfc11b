/*
 * torture.c - concurrency torture for an epoll implementation (kernel or uepoll).
 *
 * The same binary runs on kernel epoll and under LD_PRELOAD of uepoll; every check
 * below is something the kernel guarantees, so the kernel run must pass too.
 *
 *   torture churn   [-t threads] [-d seconds] [-F fork_ms] [-s seed]
 *   torture signals [-t threads] [-d seconds] [-i timer_us] [-k kill_us]
 *   torture spawn   [-t threads] [-d seconds]
 *   torture handler-malloc
 *   torture child-exec IN OUT      (internal: the program exec'd by `spawn`)
 *
 * churn   Threads run a random mix of epoll_ctl (ADD/MOD/DEL), epoll_wait/pwait/
 *         pwait2, close, dup, F_DUPFD_CLOEXEC, dup2/dup3, reads, writes and shutdown
 *         on pipes, socketpairs and eventfds shared by three epoll instances; a forker
 *         thread forks (and now and then posix_spawns /bin/true); the main thread
 *         closes and re-creates one instance every 100 ms. Every registration gets
 *         a record; event data encodes (fd, record slot, generation). The invariant:
 *         an event may only carry the data of a registration that still existed when
 *         the wait call started. A registration ends when DEL or MOD returns (MOD
 *         installs a new one), when its instance is closed, or when the last
 *         reference to its open file description goes: the last fd number of the
 *         file is closed (or dup2'ed over) *and* every child process that was alive
 *         at that moment (and so holds a copy) has been reaped, *and* after that a
 *         moment has come when no wait is in flight on the instances that had items
 *         on the file (the kernel's ep_item_poll holds a reference to the file it
 *         polls, so the final fput can be a wait's on one of them). Closing the
 *         registered number while a dup is open does not end it (the kernel keys
 *         items by open file description and number). Each ctl call's result
 *         (0, EEXIST, ENOENT) is predicted exactly from the book kept under the
 *         fd-number locks. At the end every live registration is re-armed
 *         level-triggered (MOD) and one wait per instance must report exactly the
 *         registrations whose file poll() says ready, with the same bits.
 * signals A SIGALRM timer and a thread sending SIGUSR1/SIGUSR2 with pthread_kill
 *         interrupt threads that sit in epoll_wait over 200 always-ready pipes; the
 *         handler writes to the interrupted thread's own self-pipe (and eventfd),
 *         both registered in that thread's instance. Every byte and every eventfd
 *         increment the handlers made must be read; with signals blocked, data in
 *         the self-pipe must be reported by a non-blocking wait and an empty pipe
 *         must not be.
 * spawn   Worker threads pass tokens through pipes with epoll and cycle private
 *         pipes and instances while the main thread forks (child uses epoll and
 *         _exits), forks and execs this program or /bin/true, vforks, and
 *         posix_spawns. A creator thread keeps making pipes (some without
 *         close-on-exec) registered in a check instance. Children write a byte to
 *         every non-blocking pipe write end they inherited; after each round the
 *         parent requires that a fresh instance and the check instance report a
 *         pipe exactly when poll() says it holds data. Tokens are conserved. A
 *         deterministic check runs first: an item under a closed number (a dup keeps
 *         the file open) and the dup's own item must both survive a fork.
 *
 * handler-malloc  Single-threaded, before any other thread exists: a SIGALRM handler
 *         writes to a self-pipe exactly when the next push onto the instance's ready
 *         list must grow it, while the interrupted code loops in malloc/free. Kernel
 *         epoll passes; a library that allocates in the handler's write re-enters
 *         malloc and corrupts the heap (glibc aborts or the process crashes).
 *
 * Output: "key: value" lines and "result: PASS" or "result: FAIL"; exit 0 on PASS.
 * VIOLATION lines on stderr describe each failure (the first 40). A watchdog ends a
 * run that makes no progress for 20 s (exit 3, "HANG").
 */
#include "torture-common.h"

#include <dlfcn.h>

/* ------------------------------------------------------------------ */
/* main                                                                */
/* ------------------------------------------------------------------ */

static void usage(const char *p)
{
    fprintf(stderr,
            "usage: %s churn|signals|spawn|handler-malloc [-t threads] [-d seconds] [-s seed]\n"
            "          [-F fork_ms (churn, 0: no forks)] [-i timer_us] [-k kill_us (signals)]\n",
            p);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "child-exec") == 0)
        return child_exec_main(atoi(argv[2]), atoi(argv[3]));
    if (argc < 2)
        usage(argv[0]);
    const char *mode = argv[1];
    ssize_t l = readlink("/proc/self/exe", g_self, sizeof g_self - 1);
    if (l <= 0) {
        perror("readlink /proc/self/exe");
        return 2;
    }
    g_self[l] = 0;
    /* The library read its settings at start-up: children print no counters of their own. */
    unsetenv("UEPOLL_STATS");
    /* Under a preloaded epoll when epoll_wait does not come from the object getpid
     * comes from (libc): known differences are then allowed. The library's file name
     * does not matter (a copy of libuepoll.so under another name was once judged to be
     * the kernel, and every documented difference counted as a violation). */
    Dl_info ew, gp;
    g_under_uepoll = dladdr(dlsym(RTLD_DEFAULT, "epoll_wait"), &ew) &&
                     dladdr(dlsym(RTLD_DEFAULT, "getpid"), &gp) && ew.dli_fname && gp.dli_fname &&
                     strcmp(ew.dli_fname, gp.dli_fname) != 0;
    g_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    long fork_ms = 10, timer_us = 150, kill_us = 50;
    int opt;
    optind = 2;
    while ((opt = getopt(argc, argv, "t:d:s:F:i:k:")) != -1) {
        switch (opt) {
        case 't': g_nthreads = atoi(optarg); break;
        case 'd': g_duration = atof(optarg); break;
        case 's': g_seed = strtoull(optarg, NULL, 0); break;
        case 'F': fork_ms = atol(optarg); break;
        case 'i': timer_us = atol(optarg); break;
        case 'k': kill_us = atol(optarg); break;
        default: usage(argv[0]);
        }
    }
    if (g_seed == 0)
        g_seed = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc;
    if (strcmp(mode, "churn") == 0)
        rc = run_churn(fork_ms);
    else if (strcmp(mode, "signals") == 0)
        rc = run_signals(timer_us, kill_us);
    else if (strcmp(mode, "spawn") == 0)
        rc = run_spawn();
    else if (strcmp(mode, "handler-malloc") == 0)
        rc = run_handler_malloc();
    else
        usage(argv[0]);
    printf("result: %s\n", rc == 0 ? "PASS" : "FAIL");
    return rc;
}
