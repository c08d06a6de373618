/* sandboxd: settings, state directory, signals and the server's life. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cgroup.h"
#include "server.h"
#include "snapshot.h"
#include "spawner.h"
#include "version.h"

static int make_dir(const char *path, rt_error *err)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return rt_error_set(err, errno, "state directory %s", buf);
        if (!c)
            return 0;
        *p = c;
    }
}

/* The state directory holds the compiled-filter cache (and, later, the
 * workflow database); it is ours alone. */
static int prepare_state(const sd_config *c, rt_error *err)
{
    char cache[4096];
    snprintf(cache, sizeof cache, "%s/cache", c->state_dir);
    if (make_dir(c->state_dir, err) < 0 || make_dir(cache, err) < 0)
        return -1;
    if (!getenv("SBX_CACHE_DIR") && setenv("SBX_CACHE_DIR", cache, 1) < 0)
        return rt_error_set(err, errno, "SBX_CACHE_DIR");
    return 0;
}

static void print_check(const sd_snapshot *s)
{
    const sd_config *c = &s->config;
    printf("configuration ok%s%s\n", c->config_file ? ": " : "",
           c->config_file ? c->config_file : "");
    printf("  socket       %s\n", c->socket_path[0] ? c->socket_path : "(disabled)");
    printf("  listen       %s%s\n", c->listen ? c->listen : "(none)",
           c->listen ? " (bearer tokens required)" : "");
    printf("  state_dir    %s\n", c->state_dir);
    printf("  sandboxes    %u at once, queue %u, body up to %llu bytes, grace %llu ms\n",
           c->max_running, c->max_queue, (unsigned long long)c->max_body_bytes,
           (unsigned long long)c->grace_ms);
    printf("  profiles    ");
    for (size_t i = 0; i < c->n_profiles; i++)
        printf(" %s%s", c->profiles[i], strcmp(c->profiles[i], c->default_profile) ? "" : "*");
    printf("  (* default)\n  languages   ");
    for (size_t i = 0; i < s->languages.n; i++)
        printf(" %s%s", s->languages.v[i].name, s->languages.v[i].available ? "" : "(missing)");
    printf("  (%s)\n", s->languages.path);
}

/* Waits for signals in this thread; every other thread has them blocked. */
static void serve(sd_server *srv, int argc, char **argv, const sigset_t *set)
{
    for (;;) {
        int sig = sigwaitinfo(set, NULL);
        if (sig < 0)
            continue;
        if (sig == SIGHUP) {
            sd_snapshot *snap;
            bool check, help, version;
            rt_error err;
            if (sd_snapshot_load(argc, argv, &snap, &check, &help, &version, &err) < 0)
                sd_log("error", "reload failed; the running configuration stays", "error",
                       err.msg);
            else if (sd_spawner_profiles(snap->config.profiles, snap->config.n_profiles,
                                         &err) < 0) {
                sd_log("error", "reload failed; the running configuration stays", "error",
                       err.msg);
                sd_snapshot_unref(snap);
            } else {
                sd_server_reload(srv, snap);
            }
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT) {
            sd_log("info", "stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
    }
}

int main(int argc, char **argv)
{
    sd_snapshot *snap;
    bool check, help, version;
    rt_error err;
    if (sd_snapshot_load(argc, argv, &snap, &check, &help, &version, &err) < 0) {
        fprintf(stderr, "sandboxd: %s\n", err.msg);
        return 2;
    }
    if (help || version) {
        fputs(help ? sd_usage : "sandboxd " SBX_VERSION "\n", stdout);
        sd_snapshot_unref(snap);
        return 0;
    }
    if (check) {
        print_check(snap);
        sd_snapshot_unref(snap);
        return 0;
    }
    if (prepare_state(&snap->config, &err) < 0) {
        fprintf(stderr, "sandboxd: %s\n", err.msg);
        sd_snapshot_unref(snap);
        return 1;
    }
    rt_cgroup_sweep();         /* groups left by a daemon that was killed */
    /* Before any thread exists: the spawner must be a copy of a one-thread
     * process, and every thread inherits the mask. */
    if (sd_spawner_start(&err) < 0 ||
        sd_spawner_profiles(snap->config.profiles, snap->config.n_profiles, &err) < 0) {
        fprintf(stderr, "sandboxd: %s\n", err.msg);
        sd_snapshot_unref(snap);
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    sd_server *srv = sd_server_new(snap, &err);
    if (!srv) {
        fprintf(stderr, "sandboxd: %s\n", err.msg);
        sd_snapshot_unref(snap);
        return 1;
    }
    if (sd_server_start(srv, &err) < 0) {
        sd_log("error", "cannot start", "error", err.msg);
        sd_server_free(srv);
        return 1;
    }
    sd_log("info", "ready", "version", SBX_VERSION);
    serve(srv, argc, argv, &set);
    sd_server_stop(srv);
    sd_server_free(srv);
    sd_log("info", "stopped", NULL, NULL);
    return 0;
}
