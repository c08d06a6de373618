/* System calls that leave errno alone: they return the result, or -errno.
 *
 * A privileged caller's sandbox has a pid 1 that shares the caller's memory
 * (CLONE_VM: no page tables copied, no copy-on-write faults), and with it the
 * calling thread's thread-local storage, errno included, while that thread goes
 * on supervising. So pid 1 runs on these alone: a libc wrapper's errno would
 * land in the supervisor's, between one of its calls and its check. */
#ifndef SBX_RUNTIME_SYS_H
#define SBX_RUNTIME_SYS_H

#include <sys/syscall.h>

#if !defined(__x86_64__)
#error "runtime/sys.h: raw system calls are written for x86_64 only"
#endif

static inline long rt_sys6(long nr, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

/* rt_sys(SYS_x, args...): up to six arguments, the rest passed as 0 (the
 * kernel reads only what the call takes). */
#define RT_SYS_(nr, a, b, c, d, e, f, ...)                                                  \
    rt_sys6((nr), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))
#define rt_sys(...) RT_SYS_(__VA_ARGS__, 0, 0, 0, 0, 0, 0)

static inline void rt_sys_closep(int *fd)
{
    if (*fd >= 0)
        rt_sys(SYS_close, *fd);
}

#define cleanup_sys_close __attribute__((cleanup(rt_sys_closep)))

#endif
