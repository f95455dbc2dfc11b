/*
 * fork-stress: fork repeatedly while other threads are inside the epoll engine.
 *
 * Three worker threads churn one epoll instance: wait, read a token, pass it on to
 * another pipe, and create and close a pipe of their own now and then (which takes
 * the library's fd table for writing). Meanwhile the main thread forks; each child
 * creates a pipe and an epoll instance, waits for its own write, closes everything
 * and exits. A child that inherited a lock held by a thread that does not exist in
 * it would hang (the parent kills it after a deadline) or fail; a parent whose
 * engine state the fork corrupted would lose its tokens.
 *
 *   fork-stress [-f forks] [-t threads]
 *
 * Prints `forks: N`, `children_failed: N`, `tokens_start: N`, `tokens_end: N`, and
 * exits 0 only when no child failed and every token is still there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NPIPES 8

static int ep;
static int pipes[NPIPES][2];
static volatile int stop;

static void *worker(void *arg)
{
    long id = (long)arg;
    struct epoll_event ev[NPIPES];
    char c;
    int round = 0;
    while (!stop) {
        int n = epoll_wait(ep, ev, NPIPES, 5);
        for (int i = 0; i < n; i++) {
            int k = (int)ev[i].data.u32;
            /* Conserve tokens: only a successful read passes one on. */
            if (read(pipes[k][0], &c, 1) == 1) {
                while (write(pipes[(k + id) % NPIPES][1], "t", 1) != 1 && errno == EAGAIN)
                    ;
            }
        }
        if (++round % 16 == 0) {
            int q[2];
            if (pipe(q) == 0) {
                close(q[0]);
                close(q[1]);
            }
        }
    }
    return NULL;
}

/* The child: a fresh pipe and instance must work after the fork. */
static int child(void)
{
    int q[2];
    if (pipe(q) != 0)
        return 1;
    int e2 = epoll_create1(0);
    struct epoll_event e = { .events = EPOLLIN, .data.u64 = 42 }, out;
    if (e2 < 0 || epoll_ctl(e2, EPOLL_CTL_ADD, q[0], &e) != 0)
        return 2;
    if (write(q[1], "c", 1) != 1)
        return 3;
    int n = epoll_wait(e2, &out, 1, 2000);
    close(q[0]);
    close(q[1]);
    close(e2);
    close(pipes[0][0]); /* an inherited served fd, closed in the child */
    return n == 1 && out.data.u64 == 42 ? 0 : 4;
}

/* Wait for a child, killing it if it hangs. Returns 0 when it exited cleanly. */
static int reap(pid_t pid)
{
    for (int ms = 0; ms < 10000; ms++) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fprintf(stderr, "fork-stress: child %d hung\n", (int)pid);
    return 1;
}

int main(int argc, char **argv)
{
    int forks = 300, nthreads = 3, opt;
    while ((opt = getopt(argc, argv, "f:t:")) != -1) {
        if (opt == 'f')
            forks = atoi(optarg);
        else if (opt == 't')
            nthreads = atoi(optarg);
        else {
            fprintf(stderr, "usage: %s [-f forks] [-t threads]\n", argv[0]);
            return 2;
        }
    }
    if (nthreads < 1 || nthreads > 64 || forks < 1) {
        fprintf(stderr, "fork-stress: bad arguments\n");
        return 2;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < NPIPES; i++) {
        if (pipe2(pipes[i], O_NONBLOCK) != 0)
            return 2;
        struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, pipes[i][0], &e);
        if (write(pipes[i][1], "t", 1) != 1)
            return 2;
    }
    pthread_t t[64];
    for (long i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, worker, (void *)(i + 1));

    int failed = 0;
    for (int i = 0; i < forks; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0)
            _exit(child());
        if (pid < 0) {
            perror("fork");
            failed++;
            continue;
        }
        failed += reap(pid);
    }
    stop = 1;
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);

    long tokens = 0;
    char buf[64];
    for (int i = 0; i < NPIPES; i++) {
        ssize_t r;
        while ((r = read(pipes[i][0], buf, sizeof buf)) > 0)
            tokens += r;
    }
    printf("forks: %d\nchildren_failed: %d\ntokens_start: %d\ntokens_end: %ld\n", forks, failed,
           NPIPES, tokens);
    return failed == 0 && tokens == NPIPES ? 0 : 1;
}
