#include "info.h"

#include <errno.h>
#include <jansson.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "profile.h"
#include "sandbox.h"
#include "spec_json.h"

struct probe {
    const char *name;
    int flag;                  /* unshare flag, 0 for the whole-sandbox probe */
};

static const struct probe probes[] = {
    {"user_namespace", CLONE_NEWUSER}, {"pid_namespace", CLONE_NEWUSER | CLONE_NEWPID},
    {"mount_namespace", CLONE_NEWUSER | CLONE_NEWNS}, {"network_namespace", CLONE_NEWUSER | CLONE_NEWNET},
    {"uts_namespace", CLONE_NEWUSER | CLONE_NEWUTS}, {"ipc_namespace", CLONE_NEWUSER | CLONE_NEWIPC},
    {"cgroup_namespace", CLONE_NEWUSER | CLONE_NEWCGROUP},
};

/* unshare in a throwaway child, so that our own process stays as it was. */
static bool probe_unshare(int flags)
{
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0)
        _exit(unshare(flags) == 0 ? 0 : 1);
    int st;
    return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* A real run of /bin/true under the default profile, as `sbx run` would do it. */
static bool probe_sandbox(char *why, size_t len)
{
    char *argv[] = {"/bin/true", NULL};
    rt_spec spec;
    rt_spec_init(&spec);
    rt_result res;
    rt_error err;
    rt_error_clear(&err);
    bool ok = false;
    rt_profile *p;
    if (rt_profile_load("default", &p, &err) < 0) {
        snprintf(why, len, "%s", err.msg);
        return false;
    }
    int rc = rt_profile_apply(p, &spec, &err);
    rt_profile_free(p);
    spec.argv = argv;
    if (rc < 0 || rt_run(&spec, NULL, &res, &err) < 0) {
        snprintf(why, len, "%s", err.msg);
    } else {
        ok = res.status == RT_STATUS_OK;
        snprintf(why, len, "%s", res.error ? res.error : ok ? "" : rt_status_name(res.status));
        rt_result_free(&res);
    }
    spec.argv = NULL;
    rt_spec_free(&spec);
    return ok;
}

static json_t *info_json(void)
{
    struct utsname u;
    uname(&u);
    json_t *feat = json_object();
    for (size_t i = 0; i < sizeof probes / sizeof *probes; i++)
        json_object_set_new(feat, probes[i].name, json_boolean(probe_unshare(probes[i].flag)));
    json_object_set_new(feat, "seccomp", json_boolean(prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0));
    /* libseccomp API level 5: user notifications, with which a kill is named */
    json_object_set_new(feat, "seccomp_notify", json_boolean(seccomp_api_get() >= 5));
    char why[RT_ERROR_MAX];
    bool ok = probe_sandbox(why, sizeof why);
    json_object_set_new(feat, "sandbox_run", json_boolean(ok));
    json_t *root = json_pack("{s:s, s:s, s:s, s:b, s:o, s:o}", "kernel", u.release, "arch",
                             u.machine, "backend", "native", "root", geteuid() == 0, "cgroup",
                             rt_cgroup_info_to_json(rt_cgroup_detect()), "features", feat);
    if (!ok)
        json_object_set_new(root, "sandbox_error", json_string(why));
    return root;
}

static void print_text(json_t *info)
{
    json_t *cg = json_object_get(info, "cgroup");
    printf("kernel:    %s (%s)\n", json_string_value(json_object_get(info, "kernel")),
           json_string_value(json_object_get(info, "arch")));
    printf("running as %s\n", json_is_true(json_object_get(info, "root")) ? "root" : "non-root");
    printf("cgroup:    %s", json_string_value(json_object_get(cg, "version")));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(cg, "controllers"), i, v)
        printf("%s%s", i ? "," : " (", json_string_value(v));
    printf("%s\n", json_array_size(json_object_get(cg, "controllers")) ? ")" : "");
    const char *note = json_string_value(json_object_get(cg, "note"));
    if (note && *note)
        printf("           %s\n", note);
    const char *k;
    json_object_foreach(json_object_get(info, "features"), k, v)
        printf("%-18s %s\n", k, json_is_true(v) ? "yes" : "NO");
    json_t *why = json_object_get(info, "sandbox_error");
    if (why)
        printf("sandbox error: %s\n", json_string_value(why));
}

int sbx_info_main(int argc, char **argv)
{
    bool as_json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > 1 && !as_json) {
        fprintf(stderr, "usage: sbx info [--json]\n");
        return strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    json_t *info = info_json();
    if (as_json) {
        char *s = json_dumps(info, JSON_INDENT(2));
        puts(s ? s : "{}");
        free(s);
    } else {
        print_text(info);
    }
    int rc = json_is_true(json_object_get(json_object_get(info, "features"), "sandbox_run")) ? 0 : 1;
    json_decref(info);
    return rc;
}
