/* The runtime from many threads at once, as the daemon calls it: 8 threads each
 * run 15 real sandboxes (bare, with a shell, with files, some under the default
 * profile's seccomp filter) while two more threads load profiles. Every result
 * must be right, and no fd, cgroup or child may be left. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "profile.h"
#include "sandbox.h"
#include "leaks.h"
#include "tap.h"

#define THREADS 8
#define RUNS 15
#define LOADERS 2

static const rt_profile *profile;      /* shared, read-only while threads run */
static atomic_bool running = true;

struct worker {
    int id;
    pthread_t thread;
    int bad;
    char first_failure[RT_ERROR_MAX + 64];
};

struct loader {
    pthread_t thread;
    int loads, failures;
};

static char profile_path[PATH_MAX];

/* The tree's profiles/default.json, found from this binary's place in build/. */
static void find_profile(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    snprintf(profile_path, sizeof profile_path, "%s/../../../profiles/default.json", exe);
}

static void set_argv(rt_spec *s, const char *a, const char *b, const char *c)
{
    s->argv = calloc(4, sizeof *s->argv);
    if (!s->argv || !(s->argv[0] = strdup(a)) || (b && !(s->argv[1] = strdup(b))) ||
        (c && !(s->argv[2] = strdup(c))))
        abort();
}

/* Run `run` of worker w: its spec and the stdout it must print. */
static void make_spec(const struct worker *w, int run, rt_spec *s, char *want, size_t size,
                      rt_error *err)
{
    rt_spec_init(s);
    if (run % 2 && profile && rt_profile_apply(profile, s, err) < 0)
        abort();
    want[0] = '\0';
    switch (run % 3) {
    case 0:
        set_argv(s, "/bin/true", NULL, NULL);
        break;
    case 1:
        set_argv(s, "sh", "-c", "echo $$");
        snprintf(want, size, "2\n");     /* pid 1 is the sandbox's init */
        break;
    case 2:
        snprintf(want, size, "worker %d run %d\n", w->id, run);
        if (rt_spec_add_file(s, "in/file.txt", want, strlen(want), false, err) < 0)
            abort();
        set_argv(s, "cat", "in/file.txt", NULL);
        break;
    }
}

static void note_failure(struct worker *w, int run, const char *why)
{
    if (!w->bad++)
        snprintf(w->first_failure, sizeof w->first_failure, "worker %d run %d: %s", w->id,
                 run, why);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    for (int run = 0; run < RUNS; run++) {
        rt_spec s;
        rt_result res;
        rt_error err;
        char want[64];
        make_spec(w, run, &s, want, sizeof want, &err);
        int rc = rt_run(&s, NULL, &res, &err);
        rt_spec_free(&s);
        if (rc < 0) {
            note_failure(w, run, err.msg);
            continue;
        }
        if (res.status != RT_STATUS_OK)
            note_failure(w, run, res.error ? res.error : rt_status_name(res.status));
        else if (strcmp(res.out.data ? res.out.data : "", want))
            note_failure(w, run, res.out.data ? res.out.data : "(no output)");
        rt_result_free(&res);
    }
    return NULL;
}

static void *load(void *arg)
{
    struct loader *l = arg;
    while (atomic_load(&running)) {
        rt_profile *p;
        rt_error err;
        if (rt_profile_load(profile_path, &p, &err) < 0) {
            l->failures++;
            continue;
        }
        l->loads++;
        rt_profile_free(p);
    }
    return NULL;
}

int main(void)
{
    struct worker w[THREADS];
    struct loader l[LOADERS];
    rt_profile *p = NULL;
    rt_error err;

    tap_plan(6);
    find_profile();
    if (!ok(rt_profile_load(profile_path, &p, &err) == 0, "the tree's default profile loads"))
        diag("%s", err.msg);
    profile = p;
    /* Detection keeps the parents' fds for the process's life: open them first. */
    rt_cgroup_detect();
    int fds = count_fds();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < LOADERS; i++) {
        l[i] = (struct loader){0};
        if (pthread_create(&l[i].thread, NULL, load, &l[i]) != 0)
            abort();
    }
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.id = i};
        if (pthread_create(&w[i].thread, NULL, work, &w[i]) != 0)
            abort();
    }
    int bad = 0, loads = 0, load_failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(w[i].thread, NULL);
        bad += w[i].bad;
        if (w[i].bad)
            diag("%s", w[i].first_failure);
    }
    atomic_store(&running, false);
    for (int i = 0; i < LOADERS; i++) {
        pthread_join(l[i].thread, NULL);
        loads += l[i].loads;
        load_failures += l[i].failures;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    diag("%d sandboxes in %.0f ms while %d profiles loaded", THREADS * RUNS,
         (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6, loads);
    is_int(bad, 0, "8 threads x 15 sandboxes at once: every result as expected");
    ok(loads > 0 && load_failures == 0, "profiles loaded meanwhile: %d, failed: %d", loads,
       load_failures);
    rt_cgroup_pool_close();         /* the groups kept for reuse, with their fds */
    is_int(count_fds(), fds, "the process has the same number of fds after them");
    is_int(count_groups(), 0, "and no cgroup directory left");
    errno = 0;
    ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "and no child process");
    rt_profile_free(p);
    return tap_done();
}
