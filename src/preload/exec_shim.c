/*
 * exec_shim.c - execl, execle and execlp, the variadic members of the exec family.
 *
 * glibc's own bodies of these gather the argument list into an array and call the
 * internal __execve, which the library's hooks never see. These do the same
 * gathering and hand the array to the library's exec path (src/preload/exec.rs),
 * which prepares the exec (demotion, a tracked fork child's report) and calls
 * libc's execve, execv or execvp. The exported names are Rust trampolines
 * (src/preload/exec.rs) that jump here with every register and the stack untouched.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* The library's side (src/preload/exec.rs). Hidden here, so the linker keeps it out
 * of the library's exports although Rust marks it #[no_mangle]. `how`: 0 execve,
 * 1 execvp. */
HIDDEN int uepoll_exec_array(int how, const char *path, char *const argv[],
                             char *const envp[]);

extern char **environ;

/* The arguments after `arg` up to the NULL that ends them, counted. */
static size_t count_args(const char *arg, va_list *ap)
{
    size_t n = 0;
    if (arg == NULL)
        return 0;
    n = 1;
    while (va_arg(*ap, const char *) != NULL)
        n++;
    return n;
}

/* Fill argv[0..n] from `arg` and the list; argv[n] is NULL. The list is left
 * after the terminating NULL (where execle's envp is). */
static void fill_args(char **argv, size_t n, const char *arg, va_list *ap)
{
    if (n > 0) {
        argv[0] = (char *)arg;
        for (size_t i = 1; i < n; i++)
            argv[i] = va_arg(*ap, char *);
        (void)va_arg(*ap, char *); /* the terminating NULL */
    }
    argv[n] = NULL;
}

HIDDEN int uepoll_execl(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    size_t n = count_args(arg, &ap);
    va_end(ap);
    char *argv[n + 1];
    va_start(ap, arg);
    fill_args(argv, n, arg, &ap);
    va_end(ap);
    return uepoll_exec_array(0, path, argv, environ);
}

HIDDEN int uepoll_execle(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    size_t n = count_args(arg, &ap);
    va_end(ap);
    char *argv[n + 1];
    va_start(ap, arg);
    fill_args(argv, n, arg, &ap);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return uepoll_exec_array(0, path, argv, envp);
}

HIDDEN int uepoll_execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    size_t n = count_args(arg, &ap);
    va_end(ap);
    char *argv[n + 1];
    va_start(ap, arg);
    fill_args(argv, n, arg, &ap);
    va_end(ap);
    return uepoll_exec_array(1, file, argv, NULL);
}
