/* Reproducer for issue #5 (real programs): uepoll before the io_setup demotion fix
 * reported no event here (epoll_wait timed out) while the kernel reports one.
 * Linux native AIO completion signalled on an eventfd (IOCB_FLAG_RESFD), the way
 * nginx's "aio on" does it: eventfd() from libc, io_setup/io_submit through syscall().
 * The kernel writes the eventfd when the read completes; epoll must report it. */
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    int efd = eventfd(0, EFD_NONBLOCK);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 42};
    if (efd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev)) { perror("setup"); return 2; }

    int f = open("/proc/self/exe", O_RDONLY);
    aio_context_t ctx = 0;
    if (syscall(SYS_io_setup, 8, &ctx)) { perror("io_setup"); return 2; }
    static char buf[4096];
    struct iocb cb;
    memset(&cb, 0, sizeof cb);
    cb.aio_fildes = f;
    cb.aio_lio_opcode = IOCB_CMD_PREAD;
    cb.aio_buf = (uint64_t)(uintptr_t)buf;
    cb.aio_nbytes = sizeof buf;
    cb.aio_flags = IOCB_FLAG_RESFD;
    cb.aio_resfd = efd;
    struct iocb *cbs[1] = {&cb};
    if (syscall(SYS_io_submit, ctx, 1, cbs) != 1) { perror("io_submit"); return 2; }

    struct epoll_event out;
    int n = epoll_wait(ep, &out, 1, 2000);
    uint64_t v = 0;
    ssize_t r = read(efd, &v, 8);
    printf("epoll_wait: %d event(s)%s; eventfd read: %zd, counter %llu\n", n,
           n == 1 && out.data.u64 == 42 ? " (the eventfd)" : "", r, (unsigned long long)v);
    return n == 1 ? 0 : 1;
}
