/*
 * dprintf_shim.c - the dprintf family for served fds.
 *
 * glibc's dprintf, vdprintf, __dprintf_chk and __vdprintf_chk write through libc's
 * internal write, which the library's `write` hook never sees: a write to a served
 * pipe or socket would wake nobody. These four are variadic or take a va_list, so
 * they are written here in C; the exported names are Rust trampolines
 * (src/preload/dprintf.rs) that jump to the functions below with every register and
 * the stack untouched.
 *
 * An fd the library does not serve goes to the real function: exact glibc. A served
 * fd gets glibc's own formatting (vfprintf, or __vfprintf_chk with the caller's flag
 * for the fortified forms) into a stdio stream whose only difference from the one
 * glibc's vdprintf builds is where its bytes go: a cookie whose write loops on
 * partial writes through the library's write path, as glibc's _IO_new_file_write
 * loops on write(2), stopping at the first error. The stream's buffer has the size
 * glibc's _IO_file_doallocate gives a stream on that fd (st_blksize below BUFSIZ), so
 * the writes the kernel sees are the same calls with the same sizes. The return
 * value is the count of characters or -1, with errno from the failing write.
 */
#undef _FORTIFY_SOURCE /* the shim calls exactly the functions named below */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <sys/stat.h>
#include <sys/types.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* The library's side (src/preload/dprintf.rs). Hidden here, so the linker keeps
 * them out of the library's exports although Rust marks them #[no_mangle]. */
HIDDEN int uepoll_stdio_serves(int fd);
HIDDEN ssize_t uepoll_stdio_write(int fd, const void *buf, size_t len);

/* glibc's, declared by <stdio.h> only under _FORTIFY_SOURCE. */
extern int __vfprintf_chk(FILE *fp, int flag, const char *fmt, va_list ap);

/* The next definition of `name` after this library (libc's), looked up once. */
static void *real(_Atomic(void *) *cache, const char *name)
{
    void *f = atomic_load_explicit(cache, memory_order_relaxed);
    if (!f) {
        f = dlsym(RTLD_NEXT, name);
        atomic_store_explicit(cache, f, memory_order_relaxed);
    }
    return f;
}

static int real_vdprintf(int fd, const char *fmt, va_list ap)
{
    static _Atomic(void *) cache;
    int (*f)(int, const char *, va_list) = real(&cache, "vdprintf");
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    return f(fd, fmt, ap);
}

static int real_vdprintf_chk(int fd, int flag, const char *fmt, va_list ap)
{
    static _Atomic(void *) cache;
    int (*f)(int, int, const char *, va_list) = real(&cache, "__vdprintf_chk");
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    return f(fd, flag, fmt, ap);
}

struct sink {
    int fd;
    int closing; /* the stream is being taken down: nothing more is written */
};

/* glibc's _IO_new_file_write: loop until everything is written or a write fails,
 * and say how much went out (less than asked marks the stream in error). */
static ssize_t sink_write(void *cookie, const char *buf, size_t size)
{
    struct sink *s = cookie;
    if (s->closing)
        return (ssize_t)size;
    size_t to_do = size;
    while (to_do > 0) {
        ssize_t n = uepoll_stdio_write(s->fd, buf, to_do);
        if (n < 0)
            break;
        to_do -= (size_t)n;
        buf += n;
    }
    return (ssize_t)(size - to_do);
}

/* The body of glibc's __vdprintf_internal on a served fd. flag < 0: not fortified. */
static int served_vdprintf(int fd, int flag, const char *fmt, va_list ap)
{
    struct sink s = { .fd = fd, .closing = 0 };
    cookie_io_functions_t io = { .write = sink_write };
    FILE *f = fopencookie(&s, "w", io);
    if (!f)
        return -1;
    /* _IO_file_doallocate's size: the fd's block size when it is below BUFSIZ. */
    char buf[BUFSIZ];
    size_t size = BUFSIZ;
    struct stat st;
    int saved = errno;
    if (fstat(fd, &st) == 0 && st.st_blksize > 0 && st.st_blksize < BUFSIZ)
        size = (size_t)st.st_blksize;
    errno = saved;
    setvbuf(f, buf, _IOFBF, size);
    __fsetlocking(f, FSETLOCKING_BYCALLER); /* private to this call, like glibc's */
    int done = flag < 0 ? vfprintf(f, fmt, ap) : __vfprintf_chk(f, flag, fmt, ap);
    if (done != EOF && fflush(f) == EOF)
        done = EOF;
    /* glibc drops its stream without another flush: bytes left after a failed write
     * are discarded, not retried. */
    int err = errno;
    s.closing = 1;
    fclose(f);
    errno = err;
    return done;
}

HIDDEN int uepoll_vdprintf(int fd, const char *fmt, va_list ap)
{
    if (!uepoll_stdio_serves(fd))
        return real_vdprintf(fd, fmt, ap);
    return served_vdprintf(fd, -1, fmt, ap);
}

HIDDEN int uepoll_vdprintf_chk(int fd, int flag, const char *fmt, va_list ap)
{
    if (!uepoll_stdio_serves(fd))
        return real_vdprintf_chk(fd, flag, fmt, ap);
    return served_vdprintf(fd, flag, fmt, ap);
}

/* glibc's dprintf is vdprintf on its own arguments, and __dprintf_chk is
 * __vdprintf_chk: forwarding the va_list is exact. */
HIDDEN int uepoll_dprintf(int fd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int done = uepoll_vdprintf(fd, fmt, ap);
    va_end(ap);
    return done;
}

HIDDEN int uepoll_dprintf_chk(int fd, int flag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int done = uepoll_vdprintf_chk(fd, flag, fmt, ap);
    va_end(ap);
    return done;
}
