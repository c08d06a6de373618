/* Tests runtime/spec.c: defaults, ownership and validation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec.h"
#include "tap.h"

static char *argv_true[] = {"true", NULL};

/* A spec that validates; tests break one field at a time. Not freed: it
 * borrows static strings. */
static rt_spec good(void)
{
    rt_spec s;

    rt_spec_init(&s);
    s.argv = argv_true;
    return s;
}

/* The message, or "(valid)" so that a wrong acceptance shows in the diff. */
static const char *why(const rt_spec *s)
{
    static rt_error err;

    rt_error_clear(&err);
    return rt_spec_validate(s, &err) < 0 ? err.msg : "(valid)";
}

static void test_defaults(void)
{
    rt_spec s;

    memset(&s, 0xa5, sizeof s);
    rt_spec_init(&s);
    ok(s.argv == NULL && s.env == NULL && s.cwd == NULL && s.stdin_data == NULL &&
           s.stdin_len == 0 && s.stdin_file == NULL && s.image == NULL &&
           s.workspace == NULL && !s.workspace_tmpfs && s.files == NULL && s.n_files == 0 &&
           s.mounts == NULL && s.n_mounts == 0,
       "init clears every pointer");
    is_int(s.network, RT_NET_NONE, "network defaults to none");
    ok(s.limits.wall_ms == RT_DEFAULT_WALL_MS && s.limits.cpu_ms == RT_DEFAULT_CPU_MS &&
           s.limits.memory_bytes == RT_DEFAULT_MEMORY_BYTES && s.limits.pids == RT_DEFAULT_PIDS &&
           s.limits.output_bytes == RT_DEFAULT_OUTPUT_BYTES &&
           s.limits.file_bytes == RT_DEFAULT_FILE_BYTES &&
           s.limits.open_files == RT_DEFAULT_OPEN_FILES &&
           s.limits.tmpfs_bytes == RT_DEFAULT_TMPFS_BYTES && s.limits.cpus == RT_DEFAULT_CPUS,
       "init sets every default limit");
    is_str(why(&s), "command: must not be empty", "an empty spec does not validate");
    s = good();
    is_str(why(&s), "(valid)", "defaults plus a command validate");
}

static void test_argv_env_cwd(void)
{
    rt_spec s = good();
    char *empty[] = {NULL};
    char *blank[] = {"", "x", NULL};
    char *env_ok[] = {"A=1", "B=", "C==", NULL};
    char *env_no_eq[] = {"A=1", "FOO", NULL};
    char *env_no_name[] = {"=x", NULL};

    s.argv = empty;
    is_str(why(&s), "command: must not be empty", "argv with no entries");
    s.argv = blank;
    is_str(why(&s), "command[0]: must not be an empty string", "empty argv[0]");
    s.argv = argv_true;
    s.env = env_ok;
    is_str(why(&s), "(valid)", "NAME=, NAME== are valid env entries");
    s.env = env_no_eq;
    is_str(why(&s), "env[1]: must have the form NAME=VALUE", "env entry without =");
    s.env = env_no_name;
    is_str(why(&s), "env[0]: must have the form NAME=VALUE", "env entry without a name");
    s.env = NULL;
    s.cwd = "tmp";
    is_str(why(&s), "cwd: must be an absolute path", "relative cwd");
    s.cwd = "";
    is_str(why(&s), "cwd: must be an absolute path", "empty cwd");
    s.cwd = "/tmp";
    is_str(why(&s), "(valid)", "absolute cwd");
    s.stdin_data = "x";
    s.stdin_len = 1;
    s.stdin_file = "/etc/hostname";
    is_str(why(&s), "stdin: give either data or a file, not both", "stdin data and file");
    s.stdin_file = NULL;
    is_str(why(&s), "(valid)", "stdin data alone");
}

/* One string longer than execve takes (32 pages with its NUL) can never run. */
static void test_arg_length(void)
{
    rt_spec s = good();
    size_t max = (size_t)sysconf(_SC_PAGESIZE) * 32 - 1;
    char *big = malloc(max + 2), want[160];
    char *argv[] = {"echo", big, NULL}, *env[] = {"A=1", big, NULL};

    if (!big)
        abort();
    memset(big, 'x', max + 1);
    big[max] = '\0';
    s.argv = argv;
    is_str(why(&s), "(valid)", "an argument of the largest length execve takes");
    big[max] = 'x';
    big[max + 1] = '\0';
    snprintf(want, sizeof want, "command[1]: %zu bytes, more than the kernel takes in one "
             "string (%zu)", max + 1, max);
    is_str(why(&s), want, "an argument one byte longer");
    s.argv = argv_true;
    big[0] = 'B';
    big[1] = '=';
    s.env = env;
    snprintf(want, sizeof want, "env[1]: %zu bytes, more than the kernel takes in one "
             "string (%zu)", max + 1, max);
    is_str(why(&s), want, "an environment string too long");
    free(big);
}

/* Validates a spec holding one mount and frees it. */
static const char *one_mount(rt_mount_kind kind, const char *src, const char *dst,
                             uint64_t size)
{
    rt_spec s = good();
    rt_error err = {0};

    if (rt_spec_add_mount(&s, kind, src, dst, size, &err) < 0)
        return "(add failed)";
    const char *msg = why(&s);
    s.argv = NULL;
    rt_spec_free(&s);
    return msg;
}

static void test_mount_targets(void)
{
    const char *abs = "mounts[0].target: must be an absolute path without ..";

    is_str(one_mount(RT_MOUNT_BIND, "/srv", "/data", 0), "(valid)", "bind mount");
    is_str(one_mount(RT_MOUNT_RO_BIND, "/usr", "/usr", 0), "(valid)", "ro-bind mount");
    is_str(one_mount(RT_MOUNT_TMPFS, NULL, "/scratch", 1 << 20), "(valid)", "tmpfs with size");
    is_str(one_mount(RT_MOUNT_TMPFS, NULL, "/scratch", 0), "(valid)", "tmpfs, default size");
    is_str(one_mount(RT_MOUNT_BIND, "/srv", "data", 0), abs, "relative target");
    is_str(one_mount(RT_MOUNT_BIND, "/srv", "", 0), abs, "empty target");
    is_str(one_mount(RT_MOUNT_BIND, "/srv", NULL, 0), abs, "missing target");
    is_str(one_mount(RT_MOUNT_BIND, "/srv", "/a/../etc", 0), abs, "target with .. inside");
    is_str(one_mount(RT_MOUNT_BIND, "/srv", "/a/..", 0), abs, "target ending in ..");
    is_str(one_mount(RT_MOUNT_BIND, "/srv", "/..", 0), abs, "target /..");
    is_str(one_mount(RT_MOUNT_BIND, "/srv", "/a..b/..c/d..", 0), "(valid)",
           "dots inside names are fine");
    is_str(one_mount(RT_MOUNT_BIND, "/srv", "/", 0), "mounts[0].target: cannot be /",
           "target /");
    is_str(one_mount(RT_MOUNT_BIND, "/srv", "///", 0), "mounts[0].target: cannot be /",
           "target ///");
}

static void test_mount_sources(void)
{
    is_str(one_mount(RT_MOUNT_BIND, NULL, "/data", 0),
           "mounts[0].source: required for a bind mount", "bind without source");
    is_str(one_mount(RT_MOUNT_RO_BIND, "", "/data", 0),
           "mounts[0].source: required for a bind mount", "ro-bind with empty source");
    is_str(one_mount(RT_MOUNT_TMPFS, "/srv", "/data", 0), "mounts[0].source: not used by tmpfs",
           "tmpfs with a source");
    is_str(one_mount(RT_MOUNT_BIND, "/srv", "/data", 4096), "mounts[0].size: only for tmpfs",
           "bind with a size");
    is_str(one_mount(RT_MOUNT_TMPFS, NULL, "/data", RT_MAX_BYTES + 1),
           "mounts[0].size: too large (maximum 1024t)", "tmpfs above the maximum");
    is_str(one_mount((rt_mount_kind)7, "/srv", "/data", 0),
           "mounts[0].type: unknown mount type 7", "mount kind out of range");
}

static void test_mount_ownership(void)
{
    rt_spec s = good();
    rt_error err = {0};
    char src[] = "/srv", dst[] = "/data";

    ok(rt_spec_add_mount(&s, RT_MOUNT_BIND, src, dst, 0, &err) == 0 &&
           rt_spec_add_mount(&s, RT_MOUNT_TMPFS, NULL, "/t", 0, &err) == 0 &&
           rt_spec_add_mount(&s, RT_MOUNT_RO_BIND, "/x", "y", 0, &err) == 0,
       "three mounts added");
    src[1] = dst[1] = 'X';
    is_str(s.mounts[0].src, "/srv", "add_mount copies the source");
    is_str(s.mounts[0].dst, "/data", "add_mount copies the target");
    ok(s.n_mounts == 3 && s.mounts[1].src == NULL && s.mounts[2].kind == RT_MOUNT_RO_BIND,
       "mounts kept in order, tmpfs source stays NULL");
    is_str(why(&s), "mounts[2].target: must be an absolute path without ..",
           "the message names the index of the bad mount");
    s.argv = NULL;
    rt_spec_free(&s);
    ok(s.mounts == NULL && s.n_mounts == 0, "free empties the mount list");
}

static void test_limits_zero(void)
{
    rt_spec s;
    struct {
        uint64_t *field;
        const char *msg;
    } cases[] = {
        {&s.limits.wall_ms, "limits.timeout: must be at least 1 ms"},
        {&s.limits.cpu_ms, "limits.cpu_time: must be at least 1 ms"},
        {&s.limits.memory_bytes, "limits.memory: must be at least 1 byte"},
        {&s.limits.pids, "limits.pids: must be at least 1"},
        {&s.limits.output_bytes, "limits.output: must be at least 1 byte"},
        {&s.limits.file_bytes, "limits.file_size: must be at least 1 byte"},
        {&s.limits.open_files, "limits.open_files: must be at least 1"},
        {&s.limits.tmpfs_bytes, "limits.tmpfs: must be at least 1 byte"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s = good();
        *cases[i].field = 0;
        is_str(why(&s), cases[i].msg, cases[i].msg);
    }
}

static void test_limits_max(void)
{
    rt_spec s = good();

    s.limits = (rt_limits){RT_MAX_WALL_MS, RT_MAX_WALL_MS, RT_MAX_BYTES, RT_MAX_PIDS,
                           RT_MAX_BYTES,   RT_MAX_BYTES,   RT_MAX_OPEN_FILES, RT_MAX_BYTES,
                           RT_MAX_CPUS};
    is_str(why(&s), "(valid)", "every limit at its maximum");
    s.limits.memory_bytes++;
    is_str(why(&s), "limits.memory: 1125899906842625 is too large (maximum 1024t)",
           "memory above the maximum");
    s.limits.memory_bytes = UINT64_MAX;
    is_str(why(&s), "limits.memory: 18446744073709551615 is too large (maximum 1024t)",
           "memory at UINT64_MAX");
    s.limits.memory_bytes = 1;
    s.limits.wall_ms++;
    is_str(why(&s), "limits.timeout: 604800001ms is too large (maximum 168h)",
           "timeout above the maximum");
    s.limits.wall_ms = 1;
    s.limits.pids++;
    is_str(why(&s), "limits.pids: 4194305 is too large (maximum 4194304)",
           "pids above the maximum");
    s.limits.pids = 1;
    s.limits.open_files++;
    is_str(why(&s), "limits.open_files: 1048577 is too large (maximum 1048576)",
           "open files above the maximum");
}

static void test_cpus(void)
{
    rt_spec s = good();

    s.limits.cpus = 0.001;
    is_str(why(&s), "(valid)", "a thousandth of a core");
    s.limits.cpus = 0;
    is_str(why(&s), "limits.cpus: must be greater than zero", "zero cpus");
    s.limits.cpus = -1;
    is_str(why(&s), "limits.cpus: must be greater than zero", "negative cpus");
    s.limits.cpus = NAN;
    is_str(why(&s), "limits.cpus: must be greater than zero", "NaN cpus");
    s.limits.cpus = 1024.5;
    is_str(why(&s), "limits.cpus: 1024.5 is too large (maximum 1024)", "cpus above maximum");
    s.limits.cpus = INFINITY;
    is_str(why(&s), "limits.cpus: inf is too large (maximum 1024)", "infinite cpus");
}

/* The message for a spec holding files at these paths, or "(valid)". */
static const char *files_why(const char *const *paths, size_t n)
{
    static char msg[RT_ERROR_MAX];
    rt_spec s = good();
    rt_error err = {0};

    for (size_t i = 0; i < n; i++)
        if (rt_spec_add_file(&s, paths[i], "x", 1, false, &err) < 0)
            abort();
    snprintf(msg, sizeof msg, "%s", why(&s));
    s.argv = NULL;
    rt_spec_free(&s);
    return msg;
}

static const char *file_why(const char *path)
{
    return files_why(&path, 1);
}

static void test_file_paths(void)
{
    char name[300], path[1100];

    is_str(file_why("main.py"), "(valid)", "a plain file name");
    is_str(file_why("src/pkg/__init__.py"), "(valid)", "a nested path");
    is_str(file_why(".hidden/..x/x..."), "(valid)", "dots inside names are fine");
    is_str(file_why(""), "files[\"\"]: the path must not be empty", "empty path");
    is_str(file_why("/etc/passwd"),
           "files[\"/etc/passwd\"]: the path must be relative (to /workspace)", "absolute path");
    is_str(file_why("a//b"), "files[\"a//b\"]: the path has an empty component",
           "empty component");
    is_str(file_why("a/"), "files[\"a/\"]: the path has an empty component", "trailing slash");
    is_str(file_why("a/../b"), "files[\"a/../b\"]: the path has a \"..\" component",
           ".. inside");
    is_str(file_why(".."), "files[\"..\"]: the path has a \"..\" component", ".. alone");
    is_str(file_why("./a"), "files[\"./a\"]: the path has a \".\" component", ". component");
    is_str(file_why("a/."), "files[\"a/.\"]: the path has a \".\" component", "trailing .");
    is_str(file_why("q\"\\\n\x7f\xc3\xa9/.."),
           "files[\"q\\\"\\\\\\u000a\\u007f\xc3\xa9/..\"]: the path has a \"..\" component",
           "the label escapes quotes, backslashes and control bytes as JSON does");
    memset(name, 'n', 255);
    name[255] = '\0';
    is_str(file_why(name), "(valid)", "a 255-byte name");
    name[255] = 'n';
    name[256] = '\0';
    is_str(file_why(name),
           "files[\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
           "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...\"]: the path has a component of 256 "
           "bytes (at most 255)",
           "a 256-byte name (the label shortened)");
    for (size_t i = 0; i < 1022; i += 2)
        memcpy(path + i, "d/", 2);
    memcpy(path + 1022, "ff", 3);
    is_str(file_why(path), "(valid)", "a path of 1024 bytes");
    memcpy(path + 1022, "fff", 4);
    ok(strstr(file_why(path), "]: the path is 1025 bytes long (at most 1024)") != NULL,
       "a path of 1025 bytes");
}

static void test_file_sets(void)
{
    const char *dup[] = {"a.py", "b/c", "a.py"};
    const char *parent[] = {"lib", "lib-x", "lib.d", "lib/mod.py"};
    const char *deep[] = {"a/b/c/d", "a/b"};
    const char *siblings[] = {"a/b", "a/c", "a/b2/c", "ab/c", "a-b"};
    char names[RT_MAX_FILES + 1][8];
    const char *many[RT_MAX_FILES + 1];

    is_str(files_why(dup, 3), "files[\"a.py\"]: given twice", "a path given twice");
    is_str(files_why(parent, 4),
           "files[\"lib/mod.py\"]: its directory is also given as a file, files[\"lib\"]",
           "a file that is another's directory");
    is_str(files_why(deep, 2),
           "files[\"a/b/c/d\"]: its directory is also given as a file, files[\"a/b\"]",
           "a file that is a deeper file's grandparent");
    is_str(files_why(siblings, 5), "(valid)", "siblings and names that share a prefix");
    for (size_t i = 0; i <= RT_MAX_FILES; i++) {
        snprintf(names[i], sizeof names[i], "f%zu", i);
        many[i] = names[i];
    }
    is_str(files_why(many, RT_MAX_FILES), "(valid)", "1000 files");
    is_str(files_why(many, RT_MAX_FILES + 1), "files: 1001 files, at most 1000", "1001 files");
}

static void test_file_workspace(void)
{
    rt_spec s = good();
    rt_error err = {0};

    s.workspace_tmpfs = true;
    is_str(why(&s), "(valid)", "a tmpfs workspace without files");
    s.workspace = "/srv/ws";
    is_str(why(&s), "workspace: either a host directory or a tmpfs, not both",
           "a host directory and a tmpfs workspace");
    s.workspace_tmpfs = false;
    ok(rt_spec_add_file(&s, "main.py", "print(1)", 8, false, &err) == 0, "a file added");
    is_str(why(&s), "files: files need a tmpfs workspace, not the host directory \"/srv/ws\"",
           "files with a host workspace");
    s.workspace = NULL;
    is_str(why(&s), "(valid)", "files alone (the tmpfs is implied)");
    free(s.files[0].data);
    s.files[0].data = NULL;
    is_str(why(&s), "files[\"main.py\"]: no data for its 8 bytes", "a file without its data");
    s.argv = NULL;
    rt_spec_free(&s);
}

/* Copies, in order, NUL-terminated for convenience; free empties the list. */
static void test_file_ownership(void)
{
    rt_spec s = good();
    rt_error err = {0};
    char path[] = "bin/run", data[] = {'#', '!', '\0', 'x'};

    ok(rt_spec_add_file(&s, path, data, sizeof data, true, &err) == 0 &&
           rt_spec_add_file(&s, "empty", NULL, 0, false, &err) == 0,
       "two files added");
    ok(rt_spec_add_file(&s, NULL, "x", 1, false, &err) < 0 && s.n_files == 2,
       "a file without a path is not added");
    is_str(err.msg, "files: a file needs a path: Invalid argument", "and the message says so");
    path[0] = data[0] = 'X';
    ok(s.n_files == 2 && !strcmp(s.files[0].path, "bin/run") && s.files[0].len == 4 &&
           memcmp(s.files[0].data, "#!\0x", 5) == 0 && s.files[0].executable,
       "add_file copies the path and the bytes (NULs too) and adds a NUL after them");
    ok(!strcmp(s.files[1].path, "empty") && s.files[1].len == 0 && s.files[1].data &&
           !s.files[1].data[0] && !s.files[1].executable,
       "an empty file has an empty string as data");
    s.argv = NULL;
    rt_spec_free(&s);
    ok(s.files == NULL && s.n_files == 0 && !s.workspace_tmpfs, "free empties the file list");
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);

    if (!p)
        abort();
    return p;
}

/* Under ASan, a leak or double free here fails the run. */
static void test_free(void)
{
    rt_spec s;
    rt_error err = {0};

    rt_spec_init(&s);
    s.argv = calloc(3, sizeof *s.argv);
    s.env = calloc(2, sizeof *s.env);
    if (!s.argv || !s.env)
        abort();
    s.argv[0] = xstrdup("sh");
    s.argv[1] = xstrdup("-c");
    s.env[0] = xstrdup("A=1");
    s.cwd = xstrdup("/");
    s.stdin_data = xstrdup("in");
    s.stdin_file = xstrdup("/dev/null");
    s.image = xstrdup("/img");
    s.workspace = xstrdup("/ws");
    ok(rt_spec_add_mount(&s, RT_MOUNT_BIND, "/a", "/b", 0, &err) == 0, "mount added");
    ok(rt_spec_add_file(&s, "f", "data", 4, false, &err) == 0, "file added");
    s.limits.pids = 5;
    rt_spec_free(&s);
    ok(s.argv == NULL && s.env == NULL && s.cwd == NULL && s.mounts == NULL &&
           s.files == NULL && s.limits.pids == RT_DEFAULT_PIDS,
       "free leaves an initialized spec");
    rt_spec_free(&s);
    ok(1, "a second free is harmless");
}

int main(void)
{
    tap_plan(101);
    test_defaults();
    test_argv_env_cwd();
    test_arg_length();
    test_mount_targets();
    test_mount_sources();
    test_mount_ownership();
    test_limits_zero();
    test_limits_max();
    test_cpus();
    test_file_paths();
    test_file_sets();
    test_file_workspace();
    test_file_ownership();
    test_free();
    return tap_done();
}
