/*
 * spawn-served: children started by posix_spawn (with file actions), system and
 * popen between rounds of traffic on a close-on-exec pipe watched by a close-on-exec
 * instance. The children cannot hold either, so under uepoll with UEPOLL_STATS=1 the
 * engine must serve every round: the Makefile (test-conformance) checks that the
 * counters show no demotion and at least one engine event a round. The answers
 * themselves are checked here, so the program also passes on the kernel alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 30

extern char **environ;

static void fail(const char *what, int round)
{
    fprintf(stderr, "spawn-served: round %d: %s (errno %d)\n", round, what, errno);
    exit(1);
}

/* One child of each kind, by round: posix_spawn with actions, system, popen. */
static void start_child(int round)
{
    switch (round % 3) {
    case 0: {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        posix_spawn_file_actions_addclose(&fa, 0);
        char *argv[] = { "true", NULL };
        pid_t pid;
        int rc = posix_spawn(&pid, "/bin/true", &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        int st = 0;
        if (rc != 0 || waitpid(pid, &st, 0) != pid || st != 0)
            fail("posix_spawn", round);
        break;
    }
    case 1:
        if (system("true") != 0)
            fail("system", round);
        break;
    default: {
        FILE *f = popen("true", "r");
        if (!f || pclose(f) != 0)
            fail("popen", round);
    }
    }
}

int main(void)
{
    /* Only this process's counters: the children print none. */
    unsetenv("UEPOLL_STATS");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int p[2];
    if (ep < 0 || pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0)
        fail("setup", -1);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x5e };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) != 0)
        fail("epoll_ctl ADD", -1);
    for (int i = 0; i < ROUNDS; i++) {
        start_child(i);
        if (write(p[1], "x", 1) != 1)
            fail("write", i);
        struct epoll_event out[2];
        if (epoll_wait(ep, out, 2, 1000) != 1 || out[0].data.u64 != 0x5e)
            fail("epoll_wait", i);
        char c;
        if (read(p[0], &c, 1) != 1)
            fail("read", i);
        if (epoll_wait(ep, out, 2, 0) != 0)
            fail("epoll_wait after read", i);
    }
    printf("spawn-served: %d rounds ok\n", ROUNDS);
    return 0;
}
