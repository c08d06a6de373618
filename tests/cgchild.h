/* Tests of runtime/cgroup.c: forked children to put in groups, and reads of a
 * group's files. Include after tap.h. */
#ifndef SANDBOXD_TESTS_CGCHILD_H
#define SANDBOXD_TESTS_CGCHILD_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024ull * 1024)

static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static inline bool read_text(const char *dir, const char *file, char *buf, size_t cap)
{
    char path[800];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return false;
    buf[n] = '\0';
    return true;
}

static inline long long read_num(const char *dir, const char *file)
{
    char buf[64];
    return read_text(dir, file, buf, sizeof buf) ? strtoll(buf, NULL, 10) : -1;
}

/* Number of pids in dir/cgroup.procs (-1: unreadable); *has: pid among them. */
static inline int procs(const char *dir, pid_t pid, bool *has)
{
    char buf[4096];
    int n = 0;
    if (has)
        *has = false;
    if (!read_text(dir, "cgroup.procs", buf, sizeof buf))
        return -1;
    for (char *save, *tok = strtok_r(buf, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
        n++;
        if (has && atoi(tok) == pid)
            *has = true;
    }
    return n;
}

/* A forked child that runs body once released (or exits on EOF). */
typedef struct child {
    pid_t pid;
    int go;
} child;

static inline child spawn(void (*body)(void))
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return (child){-1, -1};
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(p[1]);
        if (read(p[0], &c, 1) != 1)
            _exit(99);
        body();
        _exit(0);
    }
    close(p[0]);
    return (child){pid, p[1]};
}

static inline void release(child *c)
{
    if (write(c->go, "g", 1) != 1)
        diag("releasing child %d: %s", (int)c->pid, strerror(errno));
    close(c->go);
}

static inline int wait_status(pid_t pid)
{
    int st = -1;
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

/* Waits up to 2 s for a child that should be dying; then kills it itself
 * and returns -1, so that a broken kill fails a test instead of hanging. */
static inline int wait_dying(pid_t pid)
{
    int st = -1;
    for (int i = 0; pid > 0 && i < 2000; i++) {
        pid_t got = waitpid(pid, &st, WNOHANG);
        if (got == pid)
            return st;
        if (got < 0 && errno != EINTR)
            return -1;
        usleep(1000);
    }
    if (pid > 0 && kill(pid, SIGKILL) == 0)
        wait_status(pid);
    return -1;
}

static inline bool killed(int st)
{
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

static inline void reap_all(void)
{
    while (wait(NULL) > 0 || errno == EINTR)
        ;
}

static inline void body_sleep(void)
{
    for (;;)
        pause();
}

/* Burns 300 ms of CPU, nearly all in user mode (the clock is a syscall). */
static inline void body_burn(void)
{
    struct timespec ts;
    do {
        for (volatile int i = 0; i < 1000000; i++)
            ;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    } while (ts.tv_sec * 1000 + ts.tv_nsec / 1000000 < 300);
}

static inline void body_hog(void)
{
    size_t len = 200 * MiB;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        _exit(2);
    for (size_t i = 0; i < len; i += 4096)
        p[i] = 1;
}

#endif
