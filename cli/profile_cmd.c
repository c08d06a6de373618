#include "profile_cmd.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "profile.h"
#include "seccomp_policy.h"

static const char usage[] =
    "usage: sbx profile list\n"
    "       sbx profile show NAME|FILE\n"
    "       sbx profile check FILE\n"
    "\n"
    "list   the sandbox profiles in the search path, with their descriptions\n"
    "show   what a profile sets: seccomp policy, capabilities, limits, mounts\n"
    "check  validate a sandbox profile or a bare Docker/OCI seccomp policy and\n"
    "       summarise it; exits 1 when the file is refused\n"
    "\n"
    "Profiles are NAME.json in $SBX_PROFILE_PATH (colon-separated) or, without it,\n"
    "/etc/sandboxd/profiles, the profiles directory next to sbx, and the install\n"
    "prefix's share/sandboxd/profiles. Format: docs/profiles.md.\n";

static void print_policy(const rt_seccomp *sc, const char *source)
{
    if (!sc) {
        printf("seccomp:       none (unconfined)\n");
        return;
    }
    printf("seccomp:       %s\n", source);
    printf("  default:     %s\n", rt_seccomp_action_name(rt_seccomp_default_action(sc)));
    printf("  rules:      ");
    bool any = false;
    for (int a = 0; a < RT_SECCOMP_N_ACTIONS; a++) {
        unsigned n = rt_seccomp_rule_count(sc, (rt_seccomp_action)a);
        if (n) {
            printf("%s %u %s", any ? "," : "", n, rt_seccomp_action_name((rt_seccomp_action)a));
            any = true;
        }
    }
    printf("%s\n", any ? "" : " none");
    printf("  arches:     ");
    for (size_t i = 0; i < rt_seccomp_n_arches(sc); i++)
        printf(" %s", rt_seccomp_arch(sc, i));
    rt_seccomp_action d = rt_seccomp_default_action(sc);
    bool kills = d == RT_SECCOMP_KILL_PROCESS || d == RT_SECCOMP_KILL_THREAD ||
                 rt_seccomp_rule_count(sc, RT_SECCOMP_KILL_PROCESS) ||
                 rt_seccomp_rule_count(sc, RT_SECCOMP_KILL_THREAD);
    printf("\n  program:     %zu BPF instructions%s\n", rt_seccomp_n_instructions(sc),
           kills && rt_seccomp_notifies(sc) ? "; a kill ends the sandbox and names the syscall"
                                            : "");
    if (rt_seccomp_n_skipped(sc)) {
        printf("  skipped:    ");
        for (size_t i = 0; i < rt_seccomp_n_skipped(sc); i++)
            printf(" %s", rt_seccomp_skipped(sc, i));
        printf("\n");
    }
    for (size_t i = 0; i < rt_seccomp_n_warnings(sc); i++)
        printf("  warning:     %s\n", rt_seccomp_warning(sc, i));
}

static void print_profile(const rt_profile *p)
{
    const rt_spec *b = &p->base;
    char v[64], w[64];
    printf("profile:       %s\n", p->name);
    printf("file:          %s\n", p->path);
    if (p->description)
        printf("description:   %s\n", p->description);
    print_policy(b->seccomp, p->seccomp_source);
    printf("capabilities: ");
    if (!b->keep_caps)
        printf(" none");
    for (int cap = 0; cap < 64; cap++)
        if (b->keep_caps >> cap & 1)
            printf(" %s", rt_capability_name(cap, v, sizeof v));
    printf("\nnetwork:       none (loopback only)\n");
    const rt_limits *l = &b->limits;
    rt_format_duration_ms(l->wall_ms, v, sizeof v);
    rt_format_duration_ms(l->cpu_ms, w, sizeof w);
    printf("limits:        timeout %s, cpu_time %s", v, w);
    rt_format_size(l->memory_bytes, v, sizeof v);
    printf(", memory %s, pids %llu", v, (unsigned long long)l->pids);
    rt_format_size(l->output_bytes, v, sizeof v);
    rt_format_size(l->file_bytes, w, sizeof w);
    printf(",\n               output %s, file_size %s, open_files %llu", v, w,
           (unsigned long long)l->open_files);
    rt_format_size(l->tmpfs_bytes, v, sizeof v);
    printf(", tmpfs %s, cpus %g\n", v, l->cpus);
    static const char *const kinds[] = {"bind", "ro-bind", "tmpfs"};
    for (size_t i = 0; i < b->n_mounts; i++) {
        const rt_mount *m = &b->mounts[i];
        printf("mount:         %s %s%s%s\n", kinds[m->kind], m->src ? m->src : "",
               m->src ? " -> " : "", m->dst);
    }
}

static int cmd_list(void)
{
    char **names;
    size_t n;
    rt_error err;
    rt_error_clear(&err);
    if (rt_profile_list(&names, &n, &err) < 0) {
        fprintf(stderr, "sbx profile list: %s\n", err.msg);
        return 1;
    }
    if (n == 0) {
        const char *dirs[16];
        size_t nd = rt_profile_search_path(dirs, 16);
        fprintf(stderr, "sbx profile list: no profiles in");
        for (size_t i = 0; i < nd && i < 16; i++)
            fprintf(stderr, " %s", dirs[i]);
        fprintf(stderr, "\n");
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        rt_profile *p;
        if (rt_profile_load(names[i], &p, &err) < 0) {
            printf("%-12s BROKEN: %s\n", names[i], err.msg);
            rc = 1;
        } else {
            printf("%-12s %s\n", names[i], p->description ? p->description : "");
            rt_profile_free(p);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

static int cmd_show(const char *name)
{
    rt_profile *p;
    rt_error err;
    rt_error_clear(&err);
    if (rt_profile_load(name, &p, &err) < 0) {
        fprintf(stderr, "sbx profile show: %s\n", err.msg);
        return 1;
    }
    print_profile(p);
    rt_profile_free(p);
    return 0;
}

/* A bare policy has defaultAction at the top; anything else is a profile. */
static int cmd_check(const char *file)
{
    rt_error err;
    rt_error_clear(&err);
    json_error_t je;
    json_t *j = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        fprintf(stderr, "sbx profile check: %s:%d:%d: %s\n", file, je.line, je.column, je.text);
        return 1;
    }
    bool bare = json_is_object(j) && json_object_get(j, "defaultAction");
    int rc = 0;
    if (bare) {
        rt_seccomp *sc;
        if (rt_seccomp_compile(j, file, 0, &sc, &err) < 0) {
            rc = 1;
        } else {
            printf("%s: a seccomp policy, accepted\n", file);
            print_policy(sc, file);
            rt_seccomp_unref(sc);
        }
    } else {
        rt_profile *p;
        if (rt_profile_load_file(file, &p, &err) < 0) {
            rc = 1;
        } else {
            printf("%s: a sandbox profile, accepted\n", file);
            print_profile(p);
            rt_profile_free(p);
        }
    }
    json_decref(j);
    if (rc)
        fprintf(stderr, "sbx profile check: refused: %s\n", err.msg);
    return rc;
}

int sbx_profile_main(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (!sub || !strcmp(sub, "-h") || !strcmp(sub, "--help") || !strcmp(sub, "help")) {
        fputs(usage, sub ? stdout : stderr);
        return sub ? 0 : 2;
    }
    if (!strcmp(sub, "list") && argc == 2)
        return cmd_list();
    if (!strcmp(sub, "show") && argc == 3)
        return cmd_show(argv[2]);
    if (!strcmp(sub, "check") && argc == 3)
        return cmd_check(argv[2]);
    fprintf(stderr, "sbx profile: bad arguments\n%s", usage);
    return 2;
}
