/*
 * conformance-spawn.inc.c - group "spawn": children started by posix_spawn (with
 * file actions), system and popen hold exactly the descriptors without close-on-exec
 * as the actions leave them.  A pipe end the child holds keeps the pipe open (no
 * hang-up while the child lives); one it does not hold closes the pipe with the
 * parent's close; one it holds on a number it can name carries its writes.
 *
 * Included by conformance.c after the rawcall group.  That close-on-exec files stay
 * served across these calls is checked outside, by c-tests/spawn-served.c under
 * UEPOLL_STATS (make test-conformance), since the lines here must be the same on
 * the kernel.
 *
 * A hang-up is waited for (LONG_MS), never polled: the kernel wakes a CLONE_VFORK
 * parent (glibc's posix_spawn) when the child's exec drops the old memory, before
 * the exec closes the child's close-on-exec descriptors, so for a moment after
 * posix_spawn returns the child still holds them.
 */

extern char **environ;

/* A close-on-exec instance, so that the child does not hold it (one it holds takes
 * every file to the kernel, as regress: spawn_child_adds_to_inherited_instance). */
static int spawn_epoll(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        perror("epoll_create1");
        exit(2);
    }
    return ep;
}

/* A pipe watched for EPOLLIN on its read end (data 0x5b, close-on-exec), non-blocking,
 * with its write end on `num` and close-on-exec as asked. */
static int spawn_pipe(int p[2], int num, int cloexec)
{
    int ep = spawn_epoll();
    mkpipe(p);
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    p[1] = move_fd(p[1], num);
    fcntl(p[1], F_SETFD, cloexec ? FD_CLOEXEC : 0);
    add(ep, p[0], EPOLLIN, 0x5b);
    return ep;
}

/* posix_spawn of `sh -c script` with the actions `fa` (may be NULL). */
static pid_t spawn_sh(const char *script, const posix_spawn_file_actions_t *fa)
{
    char *argv[] = { "sh", "-c", (char *)script, NULL };
    pid_t pid = -1;
    int rc = posix_spawn(&pid, "/bin/sh", fa, NULL, argv, environ);
    return rc == 0 ? pid : -1;
}

/* posix_spawn of a child that holds what it was given until killed (sleep itself,
 * not a shell that would leave it behind). */
static pid_t spawn_sleeper(const posix_spawn_file_actions_t *fa)
{
    char *argv[] = { "sleep", "30", NULL };
    pid_t pid = -1;
    int rc = posix_spawn(&pid, "/bin/sleep", fa, NULL, argv, environ);
    return rc == 0 ? pid : -1;
}

/* A child that holds what it was given for a while, then is killed and reaped. */
static void spawn_stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGKILL);
        gap_reap(pid);
    }
}

static void spawn_dup2(void)
{
    int p[2], ep;
    posix_spawn_file_actions_t fa;

    /* adddup2 of a close-on-exec write end onto stdout: the child's output arrives. */
    ep = spawn_pipe(p, 8, 1);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    pid_t pid = spawn_sh("printf d", &fa);
    posix_spawn_file_actions_destroy(&fa);
    expect_eq("adddup2 onto stdout: the child runs and ends", gap_reap(pid), 0);
    expect_wait1("its output on the watched pipe is reported", ep, LONG_MS, 0x5b, EPOLLIN);
    char buf[8] = { 0 };
    expect_eq("and read", read(p[0], buf, sizeof buf), 1);
    expect_eq("the byte is the child's", buf[0], 'd');
    close(p[1]);
    expect_wait1("closing the parent's write end then hangs up", ep, LONG_MS, 0x5b, EPOLLHUP);
    close(p[0]);
    xclose(ep);

    /* adddup2(fd, fd) clears close-on-exec: the shell can write to 9. */
    ep = spawn_pipe(p, 9, 1);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, 9, 9);
    pid = spawn_sh("printf s >&9", &fa);
    posix_spawn_file_actions_destroy(&fa);
    expect_eq("adddup2(9, 9): the child writes to 9 and ends", gap_reap(pid), 0);
    expect_wait1("its write is reported", ep, LONG_MS, 0x5b, EPOLLIN);
    expect_eq("the parent's 9 is still close-on-exec", fcntl(9, F_GETFD), FD_CLOEXEC);
    close_pair(p);
    xclose(ep);

    /* adddup2 onto a number: the child holds the pipe there, and keeps it open. */
    ep = spawn_pipe(p, 8, 1);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, 8, 7);
    pid = spawn_sleeper(&fa);
    posix_spawn_file_actions_destroy(&fa);
    check(pid > 0, "adddup2(8, 7): a long-lived child starts", "spawn failed");
    close(p[1]);
    expect_wait0("the child's 7 keeps the pipe open: no hang-up", ep);
    spawn_stop(pid);
    expect_wait1("the child gone, the pipe hangs up", ep, LONG_MS, 0x5b, EPOLLHUP);
    close(p[0]);
    xclose(ep);
}

static void spawn_close_open(void)
{
    int p[2], ep;
    posix_spawn_file_actions_t fa;

    /* Without actions a write end without close-on-exec goes into the child. */
    ep = spawn_pipe(p, 8, 0);
    pid_t pid = spawn_sleeper(NULL);
    check(pid > 0, "no actions: a long-lived child starts", "spawn failed");
    close(p[1]);
    expect_wait0("it inherited the write end: no hang-up", ep);
    spawn_stop(pid);
    expect_wait1("the child gone, the pipe hangs up", ep, LONG_MS, 0x5b, EPOLLHUP);
    close(p[0]);
    xclose(ep);

    /* addclose: the child does not hold it. */
    ep = spawn_pipe(p, 8, 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclose(&fa, 8);
    pid = spawn_sleeper(&fa);
    posix_spawn_file_actions_destroy(&fa);
    check(pid > 0, "addclose(8): a long-lived child starts", "spawn failed");
    close(p[1]);
    expect_wait1("the child closed 8: the parent's close hangs up", ep, LONG_MS, 0x5b, EPOLLHUP);
    spawn_stop(pid);
    close(p[0]);
    xclose(ep);

    /* addopen on the write end's number: the child holds /dev/null there. */
    ep = spawn_pipe(p, 8, 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 8, "/dev/null", O_WRONLY, 0);
    pid = spawn_sleeper(&fa);
    posix_spawn_file_actions_destroy(&fa);
    check(pid > 0, "addopen(8, /dev/null): a long-lived child starts", "spawn failed");
    close(p[1]);
    expect_wait1("the child's 8 is /dev/null: the parent's close hangs up", ep, LONG_MS, 0x5b,
                 EPOLLHUP);
    spawn_stop(pid);
    close(p[0]);
    xclose(ep);

    /* A close-on-exec write end stays the parent's alone, and an edge-triggered item
     * on it sees one edge per write, before and after the spawn. */
    int q[2];
    ep = spawn_epoll();
    mkpipe(q);
    fcntl(q[0], F_SETFD, FD_CLOEXEC);
    fcntl(q[1], F_SETFD, FD_CLOEXEC);
    add(ep, q[0], EPOLLIN | EPOLLET, 0x5e);
    put(q[1], 1);
    pid = spawn_sleeper(NULL);
    check(pid > 0, "close-on-exec ends: a long-lived child starts", "spawn failed");
    expect_wait1("the edge from before the spawn is reported", ep, 0, 0x5e, EPOLLIN);
    expect_wait0("once", ep);
    put(q[1], 1);
    expect_wait1("a write after it is a new edge", ep, 0, 0x5e, EPOLLIN);
    close(q[1]);
    expect_wait1("the parent's close hangs up (the child holds nothing)", ep, LONG_MS, 0x5e,
                 EPOLLIN | EPOLLHUP);
    spawn_stop(pid);
    close(q[0]);
    xclose(ep);
}

static void spawn_system_popen(void)
{
    int p[2], ep;

    /* system's shell inherits what has no close-on-exec. */
    fflush(stdout);
    ep = spawn_pipe(p, 9, 0);
    expect_eq("system: the shell writes to the inherited 9", system("printf y >&9"), 0);
    expect_wait1("its write is reported", ep, LONG_MS, 0x5b, EPOLLIN);
    close_pair(p);
    xclose(ep);

    /* ... and not what has it: 9 is closed in the shell. */
    ep = spawn_pipe(p, 9, 1);
    int st = system("exec 2>/dev/null; printf n >&9");
    check(WIFEXITED(st) && WEXITSTATUS(st) != 0, "system: 9 with close-on-exec is closed there",
          "status 0x%x", st);
    expect_wait0("nothing was written", ep);
    close(p[1]);
    expect_wait1("the parent's close hangs up", ep, LONG_MS, 0x5b, EPOLLHUP);
    close(p[0]);
    xclose(ep);

    /* popen: the shell writes to an inherited 9 and to popen's own pipe. */
    ep = spawn_pipe(p, 9, 0);
    FILE *f = popen("printf o >&9; printf r", "r");
    check(f != NULL, "popen starts a shell", "errno %s", errname(errno));
    if (f) {
        char line[8] = { 0 };
        check(fgets(line, sizeof line, f) != NULL && strcmp(line, "r") == 0,
              "popen's stream carries the shell's output", "got '%s'", line);
        expect_eq("pclose: the shell ended", pclose(f), 0);
    }
    expect_wait1("the shell's write to 9 is reported", ep, LONG_MS, 0x5b, EPOLLIN);
    close_pair(p);
    xclose(ep);

    /* popen with a close-on-exec write end: the pipe stays the parent's alone. The
     * shell waits for its stdin, which pclose closes. */
    ep = spawn_pipe(p, 9, 1);
    f = popen("read x || exit 0", "w");
    check(f != NULL, "popen of a shell that waits", "errno %s", errname(errno));
    close(p[1]);
    expect_wait1("the parent's close hangs up", ep, LONG_MS, 0x5b, EPOLLHUP);
    if (f)
        expect_eq("pclose: the shell ended", pclose(f), 0);
    close(p[0]);
    xclose(ep);
}

static void g_spawn(void)
{
    spawn_dup2();
    spawn_close_open();
    spawn_system_popen();
}
