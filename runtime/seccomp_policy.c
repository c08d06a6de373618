#include "seccomp_policy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "hash.h"
#include "spec_json.h"

struct strlist {
    char **v;
    size_t n, cap;
};

struct rt_seccomp {
    atomic_int refs;
    struct sock_fprog prog;
    unsigned flags;
    bool notify;
    rt_seccomp_action default_action;
    unsigned rules[RT_SECCOMP_N_ACTIONS];
    struct strlist arches, warnings, skipped;
};

static const char *const action_names[RT_SECCOMP_N_ACTIONS] = {
    [RT_SECCOMP_KILL_PROCESS] = "SCMP_ACT_KILL_PROCESS",
    [RT_SECCOMP_KILL_THREAD] = "SCMP_ACT_KILL_THREAD",
    [RT_SECCOMP_TRAP] = "SCMP_ACT_TRAP",
    [RT_SECCOMP_ERRNO] = "SCMP_ACT_ERRNO",
    [RT_SECCOMP_TRACE] = "SCMP_ACT_TRACE",
    [RT_SECCOMP_LOG] = "SCMP_ACT_LOG",
    [RT_SECCOMP_ALLOW] = "SCMP_ACT_ALLOW",
};

const char *rt_seccomp_action_name(rt_seccomp_action a)
{
    return (unsigned)a < RT_SECCOMP_N_ACTIONS ? action_names[a] : "?";
}

/* Architecture names as OCI (SCMP_ARCH_*), libseccomp and Go (which Docker's
 * includes/excludes use) spell them. */
static const struct arch_name {
    const char *scmp, *lib, *go;
} arch_names[] = {
    {"SCMP_ARCH_X86", "x86", "386"},
    {"SCMP_ARCH_X86_64", "x86_64", "amd64"},
    {"SCMP_ARCH_X32", "x32", "x32"},
    {"SCMP_ARCH_ARM", "arm", "arm"},
    {"SCMP_ARCH_AARCH64", "aarch64", "arm64"},
    {"SCMP_ARCH_MIPS", "mips", "mips"},
    {"SCMP_ARCH_MIPS64", "mips64", "mips64"},
    {"SCMP_ARCH_MIPS64N32", "mips64n32", "mips64n32"},
    {"SCMP_ARCH_MIPSEL", "mipsel", "mipsle"},
    {"SCMP_ARCH_MIPSEL64", "mipsel64", "mips64le"},
    {"SCMP_ARCH_MIPSEL64N32", "mipsel64n32", "mips64len32"},
    {"SCMP_ARCH_PPC", "ppc", "ppc"},
    {"SCMP_ARCH_PPC64", "ppc64", "ppc64"},
    {"SCMP_ARCH_PPC64LE", "ppc64le", "ppc64le"},
    {"SCMP_ARCH_S390", "s390", "s390"},
    {"SCMP_ARCH_S390X", "s390x", "s390x"},
    {"SCMP_ARCH_PARISC", "parisc", "parisc"},
    {"SCMP_ARCH_PARISC64", "parisc64", "parisc64"},
    {"SCMP_ARCH_RISCV64", "riscv64", "riscv64"},
};

static const struct arch_name *arch_by_name(const char *s)
{
    for (size_t i = 0; i < sizeof arch_names / sizeof *arch_names; i++) {
        const struct arch_name *a = &arch_names[i];
        if (!strcmp(s, a->scmp) || !strcmp(s, a->lib) || !strcmp(s, a->go))
            return a;
    }
    return NULL;
}

static const struct arch_name *arch_by_token(uint32_t token)
{
    for (size_t i = 0; i < sizeof arch_names / sizeof *arch_names; i++)
        if ((uint32_t)seccomp_arch_resolve_name(arch_names[i].lib) == token)
            return &arch_names[i];
    return NULL;
}

/* ---- small helpers ------------------------------------------------------------ */

static int strlist_add(struct strlist *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int strlist_add(struct strlist *l, const char *fmt, ...)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    int rc = vasprintf(&l->v[l->n], fmt, ap);
    va_end(ap);
    if (rc < 0)
        return -1;
    l->n++;
    return 0;
}

static void strlist_free(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

struct kver {
    unsigned v[3];
};

/* "6.1", "4.14.2", "6.18.44-fc-v657": numbers up to the first other character. */
static int kver_parse(const char *s, struct kver *k)
{
    *k = (struct kver){0};
    for (int i = 0; i < 3; i++) {
        char *end;
        if (*s < '0' || *s > '9')
            return i ? 0 : -1;
        errno = 0;
        unsigned long n = strtoul(s, &end, 10);
        if (errno || n > 1000000)
            return -1;
        k->v[i] = (unsigned)n;
        if (*end != '.')
            return *end && i == 0 ? -1 : 0;
        s = end + 1;
    }
    return 0;
}

static int kver_cmp(const struct kver *a, const struct kver *b)
{
    for (int i = 0; i < 3; i++)
        if (a->v[i] != b->v[i])
            return a->v[i] < b->v[i] ? -1 : 1;
    return 0;
}

int rt_capability_from_name(const char *name, int *cap)
{
    const char *s = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;
    char lower[64];
    size_t i = 0;
    for (; s[i] && i + 5 < sizeof lower; i++)
        lower[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    if (s[i] || i == 0)
        return -1;
    lower[i] = '\0';
    char full[80];
    snprintf(full, sizeof full, "cap_%s", lower);
    cap_value_t v;
    if (cap_from_name(full, &v) < 0 || v < 0 || v > 63)
        return -1;
    *cap = v;
    return 0;
}

const char *rt_capability_name(int cap, char *buf, size_t size)
{
    char *s = cap_to_name((cap_value_t)cap);
    if (!s) {
        snprintf(buf, size, "%d", cap);
        return buf;
    }
    size_t i = 0;
    for (; s[i] && i + 1 < size; i++)
        buf[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 'a' + 'A' : s[i]);
    buf[i] = '\0';
    cap_free(s);
    return buf;
}

const char *rt_seccomp_syscall_name(uint32_t audit_arch, int nr, char *buf, size_t size)
{
    char *s = seccomp_syscall_resolve_num_arch(audit_arch, nr);
    if (s) {
        snprintf(buf, size, "%s", s);
        free(s);
    } else {
        snprintf(buf, size, "[%d]", nr);
    }
    return buf;
}

/* ---- the compiler ------------------------------------------------------------- */

/* One syscall number's rules, to warn where libseccomp lets an unconditional
 * rule silently override conditional ones with another action. */
struct seen_rule {
    int nr;
    int uncond_at, cond_at;    /* syscalls[] index, -1 when none */
    uint32_t uncond_action, cond_action;
};

struct compiler {
    const char *where;
    uint64_t caps;
    struct kver kernel;
    uint32_t native;
    scmp_filter_ctx ctx;
    uint32_t default_action;   /* libseccomp encoding, after the kill mapping */
    rt_seccomp *sc;
    struct seen_rule *seen;
    size_t n_seen, cap_seen;
    rt_error *err;
};

static int refuse(struct compiler *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(struct compiler *c, const char *path, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return rt_error_set(c->err, 0, "%s: %s: %s", c->where, path, why);
}

static int out_of_memory(struct compiler *c)
{
    return rt_error_set(c->err, ENOMEM, "%s", c->where);
}

static int want(struct compiler *c, const json_t *v, json_type type, const char *path,
                const char *what)
{
    if (v && json_typeof(v) == type)
        return 0;
    return refuse(c, path, "must be %s, not %s", what, rt_json_type_name(v));
}

static int check_keys(struct compiler *c, const json_t *obj, const char *path,
                      const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        const char *const *a = allowed;
        while (*a && strcmp(*a, key))
            a++;
        if (!*a) {
            char hint[256];
            size_t n = 0;
            for (a = allowed; *a && n < sizeof hint; a++)
                n += (size_t)snprintf(hint + n, sizeof hint - n, "%s%s", n ? ", " : "", *a);
            return refuse(c, path, "unknown key \"%.60s\" (known: %s)", key, hint);
        }
    }
    return 0;
}

static int want_u64(struct compiler *c, const json_t *v, const char *path, uint64_t max,
                    uint64_t *out)
{
    if (!json_is_integer(v))
        return refuse(c, path, "must be an integer, not %s", rt_json_type_name(v));
    json_int_t i = json_integer_value(v);
    if (i < 0 || (uint64_t)i > max)
        return refuse(c, path, "%lld is out of range (0 to %llu)", (long long)i,
                      (unsigned long long)max);
    *out = (uint64_t)i;
    return 0;
}

static int parse_errno(struct compiler *c, const json_t *v, const char *path, uint32_t *out)
{
    uint64_t e = EPERM;
    if (v && want_u64(c, v, path, 4095, &e) < 0)
        return -1;
    *out = (uint32_t)e;
    return 0;
}

/* Maps a JSON action to libseccomp's encoding. Kill actions become a user
 * notification when the kernel has them: pid 1 reads which syscall it was,
 * reports it and ends the sandbox. */
static int parse_action(struct compiler *c, const json_t *v, const char *path, uint32_t errno_ret,
                        uint32_t *action, rt_seccomp_action *kind)
{
    if (want(c, v, JSON_STRING, path, "an action name such as \"SCMP_ACT_ERRNO\"") < 0)
        return -1;
    const char *s = json_string_value(v);
    if (!strcmp(s, "SCMP_ACT_NOTIFY"))
        return refuse(c, path, "SCMP_ACT_NOTIFY needs a seccomp agent (listenerPath), "
                               "which sandboxd does not run");
    static const struct {
        const char *name;
        rt_seccomp_action kind;
    } actions[] = {
        {"SCMP_ACT_KILL", RT_SECCOMP_KILL_THREAD},
        {"SCMP_ACT_KILL_THREAD", RT_SECCOMP_KILL_THREAD},
        {"SCMP_ACT_KILL_PROCESS", RT_SECCOMP_KILL_PROCESS},
        {"SCMP_ACT_TRAP", RT_SECCOMP_TRAP},
        {"SCMP_ACT_ERRNO", RT_SECCOMP_ERRNO},
        {"SCMP_ACT_TRACE", RT_SECCOMP_TRACE},
        {"SCMP_ACT_LOG", RT_SECCOMP_LOG},
        {"SCMP_ACT_ALLOW", RT_SECCOMP_ALLOW},
    };
    for (size_t i = 0; i < sizeof actions / sizeof *actions; i++) {
        if (strcmp(s, actions[i].name))
            continue;
        *kind = actions[i].kind;
        switch (*kind) {
        case RT_SECCOMP_KILL_PROCESS:
            *action = c->sc->notify ? SCMP_ACT_NOTIFY : SCMP_ACT_KILL_PROCESS;
            break;
        case RT_SECCOMP_KILL_THREAD:
            *action = c->sc->notify ? SCMP_ACT_NOTIFY : SCMP_ACT_KILL_THREAD;
            break;
        case RT_SECCOMP_TRAP: *action = SCMP_ACT_TRAP; break;
        case RT_SECCOMP_ERRNO: *action = SCMP_ACT_ERRNO(errno_ret); break;
        case RT_SECCOMP_TRACE: *action = SCMP_ACT_TRACE(errno_ret); break;
        case RT_SECCOMP_LOG: *action = SCMP_ACT_LOG; break;
        default: *action = SCMP_ACT_ALLOW; break;
        }
        return 0;
    }
    return refuse(c, path, "unknown action \"%.60s\" (known: SCMP_ACT_KILL, SCMP_ACT_KILL_THREAD, "
                           "SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_ERRNO, SCMP_ACT_TRACE, "
                           "SCMP_ACT_LOG, SCMP_ACT_ALLOW)", s);
}

static int add_arch(struct compiler *c, const json_t *v, const char *path)
{
    if (want(c, v, JSON_STRING, path, "an architecture name such as \"SCMP_ARCH_X86_64\"") < 0)
        return -1;
    const struct arch_name *a = arch_by_name(json_string_value(v));
    uint32_t token = a ? seccomp_arch_resolve_name(a->lib) : 0;
    if (!token)
        return refuse(c, path, "unknown architecture \"%.40s\"", json_string_value(v));
    int rc = seccomp_arch_add(c->ctx, token);
    if (rc < 0 && rc != -EEXIST)
        return refuse(c, path, "libseccomp cannot add %s: %s", a->scmp, strerror(-rc));
    return 0;
}

static int arch_list(struct compiler *c, const json_t *list, const char *path, bool add)
{
    char p[128];
    if (want(c, list, JSON_ARRAY, path, "an array") < 0)
        return -1;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        if (add && add_arch(c, v, p) < 0)
            return -1;
    }
    return 0;
}

/* `architectures`, or the native entry of `archMap` with its sub-architectures,
 * as Docker reads them. The native architecture is always in the filter. */
static int parse_arches(struct compiler *c, const json_t *policy)
{
    const json_t *archs = json_object_get(policy, "architectures");
    if (archs && !json_is_null(archs) && arch_list(c, archs, "architectures", true) < 0)
        return -1;
    const json_t *map = json_object_get(policy, "archMap");
    if (!map || json_is_null(map))
        return 0;
    if (want(c, map, JSON_ARRAY, "archMap", "an array") < 0)
        return -1;
    static const char *const keys[] = {"architecture", "subArchitectures", NULL};
    size_t i;
    json_t *e;
    json_array_foreach(map, i, e) {
        char p[128];
        snprintf(p, sizeof p, "archMap[%zu]", i);
        if (want(c, e, JSON_OBJECT, p, "an object") < 0 || check_keys(c, e, p, keys) < 0)
            return -1;
        const json_t *arch = json_object_get(e, "architecture");
        snprintf(p, sizeof p, "archMap[%zu].architecture", i);
        if (want(c, arch, JSON_STRING, p, "an architecture name") < 0)
            return -1;
        const struct arch_name *a = arch_by_name(json_string_value(arch));
        if (!a)
            return refuse(c, p, "unknown architecture \"%.40s\"", json_string_value(arch));
        bool native = seccomp_arch_resolve_name(a->lib) == c->native;
        const json_t *subs = json_object_get(e, "subArchitectures");
        snprintf(p, sizeof p, "archMap[%zu].subArchitectures", i);
        if (subs && !json_is_null(subs) && arch_list(c, subs, p, native) < 0)
            return -1;
    }
    return 0;
}

/* One test of a condition: includes need every test met, excludes any one. */
static void weigh(bool includes, bool met, bool *holds)
{
    if (includes ? !met : met)
        *holds = !includes;
}

/* includes/excludes: does the condition hold on this host for this sandbox? */
static int condition_holds(struct compiler *c, const json_t *cond, const char *path, bool includes,
                           bool *holds)
{
    static const char *const keys[] = {"caps", "arches", "minKernel", NULL};
    char p[128];
    if (want(c, cond, JSON_OBJECT, path, "an object") < 0 || check_keys(c, cond, path, keys) < 0)
        return -1;
    *holds = includes;
    const json_t *caps = json_object_get(cond, "caps");
    if (caps && !json_is_null(caps)) {
        snprintf(p, sizeof p, "%s.caps", path);
        if (want(c, caps, JSON_ARRAY, p, "an array of capability names") < 0)
            return -1;
        size_t i;
        json_t *v;
        json_array_foreach(caps, i, v) {
            snprintf(p, sizeof p, "%s.caps[%zu]", path, i);
            int cap;
            if (want(c, v, JSON_STRING, p, "a capability name") < 0)
                return -1;
            if (rt_capability_from_name(json_string_value(v), &cap) < 0)
                return refuse(c, p, "unknown capability \"%.40s\"", json_string_value(v));
            weigh(includes, c->caps >> cap & 1, holds);
        }
    }
    const json_t *arches = json_object_get(cond, "arches");
    if (arches && !json_is_null(arches)) {
        snprintf(p, sizeof p, "%s.arches", path);
        if (want(c, arches, JSON_ARRAY, p, "an array of architecture names") < 0)
            return -1;
        bool match = false;
        size_t i;
        json_t *v;
        json_array_foreach(arches, i, v) {
            snprintf(p, sizeof p, "%s.arches[%zu]", path, i);
            if (want(c, v, JSON_STRING, p, "an architecture name") < 0)
                return -1;
            const struct arch_name *a = arch_by_name(json_string_value(v));
            if (!a)
                return refuse(c, p, "unknown architecture \"%.40s\"", json_string_value(v));
            match |= seccomp_arch_resolve_name(a->lib) == c->native;
        }
        weigh(includes, match, holds);
    }
    const json_t *mk = json_object_get(cond, "minKernel");
    if (mk && !json_is_null(mk)) {
        snprintf(p, sizeof p, "%s.minKernel", path);
        struct kver want_k;
        if (want(c, mk, JSON_STRING, p, "a kernel version such as \"4.8\"") < 0)
            return -1;
        if (kver_parse(json_string_value(mk), &want_k) < 0)
            return refuse(c, p, "\"%.40s\" is not a kernel version such as \"4.8\"",
                          json_string_value(mk));
        weigh(includes, kver_cmp(&c->kernel, &want_k) >= 0, holds);
    }
    return 0;
}

static int parse_op(struct compiler *c, const json_t *v, const char *path, enum scmp_compare *op)
{
    static const struct {
        const char *name;
        enum scmp_compare op;
    } ops[] = {
        {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT},
        {"SCMP_CMP_LE", SCMP_CMP_LE}, {"SCMP_CMP_EQ", SCMP_CMP_EQ},
        {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
        {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
    };
    if (want(c, v, JSON_STRING, path, "an operator such as \"SCMP_CMP_EQ\"") < 0)
        return -1;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        if (!strcmp(json_string_value(v), ops[i].name)) {
            *op = ops[i].op;
            return 0;
        }
    }
    return refuse(c, path, "unknown operator \"%.40s\" (known: SCMP_CMP_NE, SCMP_CMP_LT, "
                           "SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, "
                           "SCMP_CMP_MASKED_EQ)", json_string_value(v));
}

#define MAX_ARGS 6

struct rule {
    size_t index;              /* in syscalls[] */
    uint32_t action;
    rt_seccomp_action kind;
    struct scmp_arg_cmp args[128];
    unsigned n_args;
    bool split;                /* one index twice: one rule per comparison, ORed */
};

static int parse_args(struct compiler *c, const json_t *args, size_t idx, struct rule *r)
{
    static const char *const keys[] = {"index", "value", "valueTwo", "op", NULL};
    char p[128];
    snprintf(p, sizeof p, "syscalls[%zu].args", idx);
    if (want(c, args, JSON_ARRAY, p, "an array") < 0)
        return -1;
    if (json_array_size(args) > sizeof r->args / sizeof *r->args)
        return refuse(c, p, "%zu comparisons; at most %zu", json_array_size(args),
                      sizeof r->args / sizeof *r->args);
    unsigned per_index[MAX_ARGS] = {0};
    size_t i;
    json_t *a;
    json_array_foreach(args, i, a) {
        snprintf(p, sizeof p, "syscalls[%zu].args[%zu]", idx, i);
        if (want(c, a, JSON_OBJECT, p, "an object") < 0 || check_keys(c, a, p, keys) < 0)
            return -1;
        uint64_t index, value = 0, two = 0;
        enum scmp_compare op = SCMP_CMP_EQ;
        char q[160];
        snprintf(q, sizeof q, "%s.index", p);
        const json_t *v = json_object_get(a, "index");
        if (!v)
            return refuse(c, q, "missing");
        if (want_u64(c, v, q, MAX_ARGS - 1, &index) < 0)
            return -1;
        snprintf(q, sizeof q, "%s.value", p);
        if ((v = json_object_get(a, "value")) && want_u64(c, v, q, INT64_MAX, &value) < 0)
            return -1;
        snprintf(q, sizeof q, "%s.valueTwo", p);
        if ((v = json_object_get(a, "valueTwo")) && want_u64(c, v, q, INT64_MAX, &two) < 0)
            return -1;
        snprintf(q, sizeof q, "%s.op", p);
        if (!(v = json_object_get(a, "op")))
            return refuse(c, q, "missing");
        if (parse_op(c, v, q, &op) < 0)
            return -1;
        r->args[r->n_args++] = (struct scmp_arg_cmp){
            .arg = (unsigned)index, .op = op, .datum_a = value, .datum_b = two};
        if (++per_index[index] > 1)
            r->split = true;
    }
    return 0;
}

static struct seen_rule *seen_for(struct compiler *c, int nr)
{
    for (size_t i = 0; i < c->n_seen; i++)
        if (c->seen[i].nr == nr)
            return &c->seen[i];
    if (c->n_seen == c->cap_seen) {
        size_t cap = c->cap_seen ? c->cap_seen * 2 : 64;
        struct seen_rule *s = realloc(c->seen, cap * sizeof *s);
        if (!s)
            return NULL;
        c->seen = s;
        c->cap_seen = cap;
    }
    c->seen[c->n_seen] = (struct seen_rule){.nr = nr, .uncond_at = -1, .cond_at = -1};
    return &c->seen[c->n_seen++];
}

static int note_rule(struct compiler *c, const char *name, int nr, const struct rule *r)
{
    struct seen_rule *s = seen_for(c, nr);
    if (!s)
        return out_of_memory(c);
    int at = (int)r->index;
    if (r->n_args == 0 && s->uncond_at < 0) {
        s->uncond_at = at;
        s->uncond_action = r->action;
    } else if (r->n_args && s->cond_at < 0) {
        s->cond_at = at;
        s->cond_action = r->action;
    } else {
        return 0;
    }
    if (s->uncond_at >= 0 && s->cond_at >= 0 && s->uncond_action != s->cond_action &&
        strlist_add(&c->sc->warnings,
                    "syscalls[%d]: the rule with arguments for \"%s\" never applies: the rule "
                    "without arguments in syscalls[%d] overrides it",
                    s->cond_at, name, s->uncond_at) < 0)
        return out_of_memory(c);
    return 0;
}

/* Resolves a name; 0 when it is to be skipped (unknown here), with a warning. */
static int resolve_name(struct compiler *c, const char *name, const char *path, int *nr)
{
    *nr = seccomp_syscall_resolve_name(name);
    bool known = *nr != __NR_SCMP_ERROR;
    if (known && *nr < 0) {
        /* a pseudo number: some architecture in the filter must have it */
        known = seccomp_syscall_resolve_name_arch(c->native, name) >= 0;
        for (size_t i = 0; !known && i < c->sc->arches.n; i++) {
            const struct arch_name *a = arch_by_name(c->sc->arches.v[i]);
            known = a && seccomp_syscall_resolve_name_arch(seccomp_arch_resolve_name(a->lib),
                                                           name) >= 0;
        }
    }
    if (known)
        return 1;
    const struct arch_name *na = arch_by_token(c->native);
    if (strlist_add(&c->sc->skipped, "%s", name) < 0 ||
        strlist_add(&c->sc->warnings, "%s: \"%s\" is not a syscall on %s known to libseccomp; "
                                      "skipped", path, name, na ? na->lib : "this machine") < 0)
        return out_of_memory(c);
    return 0;
}

static int add_rule(struct compiler *c, const char *name, const char *path, const struct rule *r)
{
    int nr, known = resolve_name(c, name, path, &nr);
    if (known <= 0)
        return known;
    if (r->action == c->default_action)
        return 0;              /* what the default does anyway; libseccomp refuses it */
    if (note_rule(c, name, nr, r) < 0)
        return -1;
    int rc = 0;
    if (r->split) {
        for (unsigned i = 0; i < r->n_args && rc == 0; i++)
            rc = seccomp_rule_add_array(c->ctx, r->action, nr, 1, &r->args[i]);
    } else {
        rc = seccomp_rule_add_array(c->ctx, r->action, nr, r->n_args, r->args);
    }
    if (rc < 0)
        return refuse(c, path, "libseccomp refused the rule for \"%s\": %s", name, strerror(-rc));
    c->sc->rules[r->kind]++;
    return 0;
}

static int parse_syscall(struct compiler *c, const json_t *e, size_t idx)
{
    static const char *const keys[] = {"names", "name", "action", "errnoRet", "args",
                                       "comment", "includes", "excludes", NULL};
    char p[128];
    snprintf(p, sizeof p, "syscalls[%zu]", idx);
    if (want(c, e, JSON_OBJECT, p, "an object") < 0 || check_keys(c, e, p, keys) < 0)
        return -1;
    bool applies = true, excluded = false;
    const json_t *inc = json_object_get(e, "includes"), *exc = json_object_get(e, "excludes");
    snprintf(p, sizeof p, "syscalls[%zu].includes", idx);
    if (inc && !json_is_null(inc) && condition_holds(c, inc, p, true, &applies) < 0)
        return -1;
    snprintf(p, sizeof p, "syscalls[%zu].excludes", idx);
    if (exc && !json_is_null(exc) && condition_holds(c, exc, p, false, &excluded) < 0)
        return -1;

    struct rule r = {.index = idx};
    uint32_t errno_ret;
    snprintf(p, sizeof p, "syscalls[%zu].errnoRet", idx);
    if (parse_errno(c, json_object_get(e, "errnoRet"), p, &errno_ret) < 0)
        return -1;
    snprintf(p, sizeof p, "syscalls[%zu].action", idx);
    const json_t *action = json_object_get(e, "action");
    if (!action)
        return refuse(c, p, "missing");
    if (parse_action(c, action, p, errno_ret, &r.action, &r.kind) < 0)
        return -1;
    const json_t *args = json_object_get(e, "args");
    if (args && !json_is_null(args) && parse_args(c, args, idx, &r) < 0)
        return -1;

    const json_t *names = json_object_get(e, "names"), *name = json_object_get(e, "name");
    if (names && !json_is_null(names)) {
        snprintf(p, sizeof p, "syscalls[%zu].names", idx);
        if (want(c, names, JSON_ARRAY, p, "an array of syscall names") < 0)
            return -1;
    } else if (!name) {
        snprintf(p, sizeof p, "syscalls[%zu]", idx);
        return refuse(c, p, "needs \"names\" (or the older \"name\")");
    }
    if (name) {
        snprintf(p, sizeof p, "syscalls[%zu].name", idx);
        if (want(c, name, JSON_STRING, p, "a syscall name") < 0)
            return -1;
        if (applies && !excluded && add_rule(c, json_string_value(name), p, &r) < 0)
            return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v) {
        snprintf(p, sizeof p, "syscalls[%zu].names[%zu]", idx, i);
        if (want(c, v, JSON_STRING, p, "a syscall name") < 0)
            return -1;
        if (applies && !excluded && add_rule(c, json_string_value(v), p, &r) < 0)
            return -1;
    }
    return 0;
}

static int parse_flags(struct compiler *c, const json_t *flags)
{
    static const struct {
        const char *name;
        unsigned bit;
    } known[] = {
        /* one thread at exec: nothing to synchronise */
        {"SECCOMP_FILTER_FLAG_TSYNC", 0},
        {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
        {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
        {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 0},
    };
    if (want(c, flags, JSON_ARRAY, "flags", "an array of flag names") < 0)
        return -1;
    size_t i;
    json_t *v;
    json_array_foreach(flags, i, v) {
        char p[64];
        snprintf(p, sizeof p, "flags[%zu]", i);
        if (want(c, v, JSON_STRING, p, "a flag name") < 0)
            return -1;
        size_t k = 0;
        while (k < sizeof known / sizeof *known && strcmp(known[k].name, json_string_value(v)))
            k++;
        if (k == sizeof known / sizeof *known)
            return refuse(c, p, "unknown flag \"%.60s\"", json_string_value(v));
        c->sc->flags |= known[k].bit;
    }
    return 0;
}

static int export_program(struct compiler *c)
{
    cleanup_close int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
    if (fd < 0)
        return rt_error_set(c->err, errno, "%s: memfd_create", c->where);
    int rc = seccomp_export_bpf(c->ctx, fd);
    if (rc < 0)
        return rt_error_set(c->err, -rc, "%s: exporting the BPF program", c->where);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return rt_error_set(c->err, errno, "%s: fstat", c->where);
    size_t n = (size_t)st.st_size / sizeof(struct sock_filter);
    if (n == 0 || n > BPF_MAXINSNS || (size_t)st.st_size % sizeof(struct sock_filter))
        return rt_error_set(c->err, 0, "%s: the compiled filter has %zu instructions; the kernel "
                                       "takes 1 to %d", c->where, n, BPF_MAXINSNS);
    struct sock_filter *insns = malloc((size_t)st.st_size);
    if (!insns)
        return out_of_memory(c);
    if (pread(fd, insns, (size_t)st.st_size, 0) != st.st_size) {
        free(insns);
        return rt_error_set(c->err, errno, "%s: reading the BPF program back", c->where);
    }
    c->sc->prog = (struct sock_fprog){.len = (unsigned short)n, .filter = insns};
    return 0;
}

static bool kills(uint32_t action)
{
    return action == SCMP_ACT_NOTIFY || action == SCMP_ACT_KILL_PROCESS ||
           action == SCMP_ACT_KILL_THREAD;
}

/* The command's clone has nothing but execve between installing the filter and
 * the exec, and pid 1 waits for it meanwhile: a policy that kills execve could
 * not start anything, and would hang there. So would one killing exit_group. */
static int check_startable(struct compiler *c)
{
    static const char *const needed[] = {"execve", "exit_group"};
    for (size_t i = 0; i < sizeof needed / sizeof *needed; i++) {
        int nr = seccomp_syscall_resolve_name(needed[i]);
        const struct seen_rule *s = NULL;
        for (size_t k = 0; k < c->n_seen && !s; k++)
            if (c->seen[k].nr == nr)
                s = &c->seen[k];
        uint32_t action = s && s->uncond_at >= 0 ? s->uncond_action : c->default_action;
        if (kills(action))
            return refuse(c, "syscalls", "the policy kills %s%s, so no command could run; "
                                         "allow it without argument conditions",
                          needed[i], s && s->cond_at >= 0 ? " (unless arguments match)" : "");
    }
    return 0;
}

static int record_arches(struct compiler *c)
{
    for (size_t i = 0; i < sizeof arch_names / sizeof *arch_names; i++) {
        uint32_t token = seccomp_arch_resolve_name(arch_names[i].lib);
        if (token && seccomp_arch_exist(c->ctx, token) == 0 &&
            strlist_add(&c->sc->arches, "%s", arch_names[i].scmp) < 0)
            return out_of_memory(c);
    }
    return 0;
}

static int compile(struct compiler *c, const json_t *policy)
{
    static const char *const keys[] = {"defaultAction", "defaultErrnoRet", "architectures",
                                       "archMap", "syscalls", "flags", "listenerPath",
                                       "listenerMetadata", "comment", NULL};
    if (want(c, policy, JSON_OBJECT, "(top)", "an object") < 0 ||
        check_keys(c, policy, "(top)", keys) < 0)
        return -1;
    const json_t *lp = json_object_get(policy, "listenerPath");
    if (lp && !(json_is_string(lp) && !*json_string_value(lp)))
        return refuse(c, "listenerPath", "seccomp agents are not supported");
    uint32_t def_errno;
    if (parse_errno(c, json_object_get(policy, "defaultErrnoRet"), "defaultErrnoRet",
                    &def_errno) < 0)
        return -1;
    const json_t *da = json_object_get(policy, "defaultAction");
    if (!da)
        return refuse(c, "defaultAction", "missing");
    if (parse_action(c, da, "defaultAction", def_errno, &c->default_action,
                     &c->sc->default_action) < 0)
        return -1;
    if (!(c->ctx = seccomp_init(c->default_action)))
        return rt_error_set(c->err, 0, "%s: libseccomp cannot create a filter", c->where);
    /* Syscalls of architectures not in the filter (int 0x80 and x32 on x86_64)
     * meet the default action, not libseccomp's own choice. Binary-tree
     * dispatch keeps long allowlists cheap. */
    int rc = seccomp_attr_set(c->ctx, SCMP_FLTATR_ACT_BADARCH, c->default_action);
    if (rc == 0)
        rc = seccomp_attr_set(c->ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (rc < 0)
        return rt_error_set(c->err, -rc, "%s: setting filter attributes", c->where);
    if (parse_arches(c, policy) < 0 || record_arches(c) < 0)
        return -1;
    const json_t *flags = json_object_get(policy, "flags");
    if (flags && !json_is_null(flags) && parse_flags(c, flags) < 0)
        return -1;
    const json_t *calls = json_object_get(policy, "syscalls");
    if (calls && !json_is_null(calls)) {
        if (want(c, calls, JSON_ARRAY, "syscalls", "an array") < 0)
            return -1;
        size_t i;
        json_t *e;
        json_array_foreach(calls, i, e)
            if (parse_syscall(c, e, i) < 0)
                return -1;
    }
    if (check_startable(c) < 0)
        return -1;
    /* No kill action, nothing to report: no listener, nothing for pid 1 to watch. */
    rt_seccomp_action d = c->sc->default_action;
    c->sc->notify &= d == RT_SECCOMP_KILL_PROCESS || d == RT_SECCOMP_KILL_THREAD ||
                     c->sc->rules[RT_SECCOMP_KILL_PROCESS] || c->sc->rules[RT_SECCOMP_KILL_THREAD];
    if (c->sc->notify)
        c->sc->flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    return export_program(c);
}

int rt_seccomp_compile(const json_t *policy, const char *where, uint64_t caps,
                       rt_seccomp **out, rt_error *err)
{
    struct compiler c = {.where = where ? where : "seccomp", .caps = caps, .err = err};
    *out = NULL;
    struct utsname u;
    if (uname(&u) < 0 || kver_parse(u.release, &c.kernel) < 0)
        return rt_error_set(err, errno, "reading the kernel version");
    c.native = seccomp_arch_native();
    if (!(c.sc = calloc(1, sizeof *c.sc)))
        return out_of_memory(&c);
    atomic_init(&c.sc->refs, 1);
    /* API level 5 and up: the kernel has user notifications */
    c.sc->notify = seccomp_api_get() >= 5;
    int rc = compile(&c, policy);
    if (c.ctx)
        seccomp_release(c.ctx);
    free(c.seen);
    if (rc < 0) {
        rt_seccomp_unref(c.sc);
        return -1;
    }
    *out = c.sc;
    return 0;
}

/* ---- the cache of compiled policies -------------------------------------------
 *
 * libseccomp takes about a millisecond for a long allowlist, more than the rest
 * of `sbx run` on top of a sandbox start. Compiled programs are kept in a
 * directory that only the effective user may write; an entry holds its whole
 * key (policy text, kept capabilities, everything the compiler reads from the
 * host and this build's identity), compared byte for byte on a hit. */

#define CACHE_MAGIC "sbx-seccomp-cache-1\n"
/* An entry is touched when used at most this often, and removed once unused for
 * longer than CACHE_UNUSED_FOR_S (each build of sbx keys its own entries). */
#define CACHE_TOUCH_EVERY_S (24 * 3600)
#define CACHE_UNUSED_FOR_S (30 * 24 * 3600)

struct wbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void wb_put(struct wbuf *b, const void *data, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len > b->cap) {
        size_t cap = (b->n + len) * 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
}

static void wb_u32(struct wbuf *b, uint32_t v) { wb_put(b, &v, sizeof v); }

static void wb_str(struct wbuf *b, const char *s, size_t len)
{
    wb_u32(b, (uint32_t)len);
    wb_put(b, s, len);
}

static void wb_list(struct wbuf *b, const struct strlist *l)
{
    wb_u32(b, (uint32_t)l->n);
    for (size_t i = 0; i < l->n; i++)
        wb_str(b, l->v[i], strlen(l->v[i]));
}

struct rbuf {
    const char *p;
    size_t n, off;
    bool bad;
};

static const void *rb_get(struct rbuf *b, size_t len)
{
    if (b->bad || len > b->n - b->off) {
        b->bad = true;
        return NULL;
    }
    const void *p = b->p + b->off;
    b->off += len;
    return p;
}

static uint32_t rb_u32(struct rbuf *b)
{
    uint32_t v = 0;
    const void *p = rb_get(b, sizeof v);
    if (p)
        memcpy(&v, p, sizeof v);
    return v;
}

static void rb_list(struct rbuf *b, struct strlist *l)
{
    uint32_t n = rb_u32(b);
    for (uint32_t i = 0; i < n && !b->bad; i++) {
        uint32_t len = rb_u32(b);
        const char *s = rb_get(b, len);
        if (s && strlist_add(l, "%.*s", (int)len, s) < 0)
            b->bad = true;
    }
}

/* Everything the compiled program depends on besides the text itself. */
static void cache_key(struct wbuf *k, const char *text, size_t len, uint64_t caps)
{
    struct utsname u;
    const struct scmp_version *v = seccomp_version();
    char host[512];
    int n = snprintf(host, sizeof host, "%s|%s|%u.%u.%u|api %u|arch %u|build %s %s|caps %llx",
                     uname(&u) == 0 ? u.release : "?", uname(&u) == 0 ? u.machine : "?",
                     v->major, v->minor, v->micro, seccomp_api_get(), seccomp_arch_native(),
                     __DATE__, __TIME__, (unsigned long long)caps);
    wb_put(k, CACHE_MAGIC, sizeof CACHE_MAGIC - 1);
    wb_str(k, host, (size_t)n);
    wb_str(k, text, len);
}

/* The directory, created when missing, or NULL when it is not ours alone. */
static const char *cache_dir(char *buf, size_t size)
{
    const char *env = getenv("SBX_CACHE_DIR");
    if (env && !strcmp(env, "none"))
        return NULL;
    if (env && *env) {
        snprintf(buf, size, "%s", env);
    } else if (geteuid() == 0) {
        snprintf(buf, size, "/var/cache/sandboxd");
    } else if ((env = getenv("XDG_CACHE_HOME")) && *env == '/') {
        snprintf(buf, size, "%s/sandboxd", env);
    } else if ((env = getenv("HOME")) && *env == '/') {
        snprintf(buf, size, "%s/.cache/sandboxd", env);
    } else {
        return NULL;
    }
    struct stat st;
    if (lstat(buf, &st) < 0 && (errno != ENOENT || mkdir(buf, 0700) < 0 || lstat(buf, &st) < 0))
        return NULL;
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
        return NULL;
    return buf;
}

static rt_seccomp *cache_load(const char *path, const struct wbuf *key)
{
    cleanup_close int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 022) || st.st_size > (1 << 24))
        return NULL;
    cleanup_free char *data = malloc((size_t)st.st_size + 1);
    if (!data || read(fd, data, (size_t)st.st_size) != st.st_size)
        return NULL;
    struct rbuf b = {.p = data, .n = (size_t)st.st_size};
    const void *k = rb_get(&b, key->n);
    if (!k || memcmp(k, key->p, key->n) != 0)
        return NULL;
    if (time(NULL) - st.st_mtime > CACHE_TOUCH_EVERY_S)
        futimens(fd, NULL);    /* best effort: an entry left untouched is only recompiled */
    rt_seccomp *sc = calloc(1, sizeof *sc);
    if (!sc)
        return NULL;
    atomic_init(&sc->refs, 1);
    sc->flags = rb_u32(&b);
    sc->notify = rb_u32(&b) != 0;
    sc->default_action = (rt_seccomp_action)rb_u32(&b);
    for (int i = 0; i < RT_SECCOMP_N_ACTIONS; i++)
        sc->rules[i] = rb_u32(&b);
    rb_list(&b, &sc->arches);
    rb_list(&b, &sc->warnings);
    rb_list(&b, &sc->skipped);
    uint32_t n = rb_u32(&b);
    const void *insns = n && n <= BPF_MAXINSNS ? rb_get(&b, n * sizeof(struct sock_filter)) : NULL;
    if (insns && (sc->prog.filter = malloc(n * sizeof(struct sock_filter)))) {
        memcpy(sc->prog.filter, insns, n * sizeof(struct sock_filter));
        sc->prog.len = (unsigned short)n;
    }
    if (b.bad || !sc->prog.filter || b.off != b.n ||
        (unsigned)sc->default_action >= RT_SECCOMP_N_ACTIONS) {
        rt_seccomp_unref(sc);
        return NULL;
    }
    return sc;
}

/* A name this cache gives its entries ("<hex>.bpf") or its files being
 * written (".tmp-XXXXXX"): the directory may be the caller's own. */
static bool is_cache_file(const char *name, bool *partial)
{
    size_t len = strlen(name), hex = strspn(name, "0123456789abcdef");
    *partial = !strncmp(name, ".tmp-", 5) && len == 11;
    return *partial || ((hex == 16 || hex == 32) && !strcmp(name + hex, ".bpf"));
}

/* Entries unused for a long time (older builds'), and writes that died. */
static void collect_cache_garbage(const char *dir, const char *keep)
{
    cleanup_dir DIR *d = opendir(dir);
    time_t now = time(NULL);
    struct dirent *de;
    struct stat st;
    bool partial;
    while (d && (de = readdir(d))) {
        if (!is_cache_file(de->d_name, &partial) || !strcmp(de->d_name, keep) ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (now - st.st_mtime > (partial ? CACHE_TOUCH_EVERY_S : CACHE_UNUSED_FOR_S))
            unlinkat(dirfd(d), de->d_name, 0);
    }
}

/* Best effort: a cache that cannot be written only costs the next compile. */
static void cache_store(const char *dir, const char *path, const struct wbuf *key,
                        const rt_seccomp *sc)
{
    struct wbuf b = {0};
    wb_put(&b, key->p, key->n);
    wb_u32(&b, sc->flags);
    wb_u32(&b, sc->notify);
    wb_u32(&b, sc->default_action);
    for (int i = 0; i < RT_SECCOMP_N_ACTIONS; i++)
        wb_u32(&b, sc->rules[i]);
    wb_list(&b, &sc->arches);
    wb_list(&b, &sc->warnings);
    wb_list(&b, &sc->skipped);
    wb_u32(&b, sc->prog.len);
    wb_put(&b, sc->prog.filter, sc->prog.len * sizeof(struct sock_filter));
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/.tmp-XXXXXX", dir);
    int fd = b.oom ? -1 : mkostemp(tmp, O_CLOEXEC);
    if (fd >= 0) {
        bool ok = write(fd, b.p, b.n) == (ssize_t)b.n;
        ok &= close(fd) == 0;
        if (!ok || rename(tmp, path) < 0)
            unlink(tmp);
        else
            collect_cache_garbage(dir, strrchr(path, '/') + 1);
    }
    free(b.p);
}

int rt_seccomp_compile_text(const char *text, size_t len, const char *where, uint64_t caps,
                            rt_seccomp **out, rt_error *err)
{
    *out = NULL;
    char dirbuf[PATH_MAX], path[PATH_MAX + 48];
    const char *dir = cache_dir(dirbuf, sizeof dirbuf);
    struct wbuf key = {0};
    if (dir) {
        cache_key(&key, text, len, caps);
        /* names the file; a hit still compares the whole key */
        rt_hash h;
        char name[33];
        rt_hash_init(&h);
        rt_hash_update(&h, key.p, key.n);
        rt_hash_hex(&h, name);
        snprintf(path, sizeof path, "%s/%s.bpf", dir, name);
        if (!key.oom && (*out = cache_load(path, &key))) {
            free(key.p);
            return 0;
        }
    }
    json_error_t je;
    json_t *policy = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    int rc = policy ? rt_seccomp_compile(policy, where, caps, out, err)
                    : rt_error_set(err, 0, "%s:%d:%d: %s", where, je.line, je.column, je.text);
    json_decref(policy);
    if (rc == 0 && dir && !key.oom)
        cache_store(dir, path, &key, *out);
    free(key.p);
    return rc;
}

int rt_seccomp_compile_file(const char *path, uint64_t caps, rt_seccomp **out, rt_error *err)
{
    *out = NULL;
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return rt_error_set(err, errno, "%s", path);
    if (!S_ISREG(st.st_mode) || st.st_size > (1 << 22))
        return rt_error_set(err, 0, "%s: not a regular file of at most 4 MiB", path);
    cleanup_free char *text = malloc((size_t)st.st_size + 1);
    if (!text)
        return rt_error_set(err, ENOMEM, "%s", path);
    if (read(fd, text, (size_t)st.st_size) != st.st_size)
        return rt_error_set(err, errno, "reading %s", path);
    return rt_seccomp_compile_text(text, (size_t)st.st_size, path, caps, out, err);
}

rt_seccomp *rt_seccomp_ref(rt_seccomp *sc)
{
    if (sc)
        atomic_fetch_add(&sc->refs, 1);
    return sc;
}

void rt_seccomp_unref(rt_seccomp *sc)
{
    if (!sc || atomic_fetch_sub(&sc->refs, 1) != 1)
        return;
    free(sc->prog.filter);
    strlist_free(&sc->arches);
    strlist_free(&sc->warnings);
    strlist_free(&sc->skipped);
    free(sc);
}

rt_seccomp_action rt_seccomp_default_action(const rt_seccomp *sc) { return sc->default_action; }

unsigned rt_seccomp_rule_count(const rt_seccomp *sc, rt_seccomp_action a)
{
    return (unsigned)a < RT_SECCOMP_N_ACTIONS ? sc->rules[a] : 0;
}

size_t rt_seccomp_n_arches(const rt_seccomp *sc) { return sc->arches.n; }
const char *rt_seccomp_arch(const rt_seccomp *sc, size_t i) { return sc->arches.v[i]; }
size_t rt_seccomp_n_warnings(const rt_seccomp *sc) { return sc->warnings.n; }
const char *rt_seccomp_warning(const rt_seccomp *sc, size_t i) { return sc->warnings.v[i]; }
size_t rt_seccomp_n_skipped(const rt_seccomp *sc) { return sc->skipped.n; }
const char *rt_seccomp_skipped(const rt_seccomp *sc, size_t i) { return sc->skipped.v[i]; }
size_t rt_seccomp_n_instructions(const rt_seccomp *sc) { return sc->prog.len; }
const void *rt_seccomp_program(const rt_seccomp *sc) { return &sc->prog; }
unsigned rt_seccomp_flags(const rt_seccomp *sc) { return sc->flags; }
bool rt_seccomp_notifies(const rt_seccomp *sc) { return sc->notify; }
