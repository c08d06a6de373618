/* Tests of runtime/roottpl.c: prepared roots under /var/lib/sandboxd/root (needs
 * root). Each template the test makes has content unique to this process and
 * is removed at the end; templates of real runs are left alone. */
#include "roottpl.h"
#include "spec.h"
#include "tap.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char made[8][128];
static int n_made;

static void forget(const char *path)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        diag("could not remove %s", path);
}

static int make(const struct rt_tpl_entry *e, size_t n, char *out)
{
    int rc = rt_root_template(e, n, out, 128);
    for (int i = 0; rc == 0 && i <= n_made; i++) {
        if (i == n_made && n_made < 8)
            snprintf(made[n_made++], sizeof made[0], "%s", out);
        if (i < n_made && strcmp(made[i], out) == 0)
            break;
    }
    return rc;
}

static bool owned_mode(const char *dir, const char *rel, mode_t mode, bool link)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (lstat(path, &st) < 0)
        return false;
    return st.st_uid == RT_HOST_ROOT_UID && st.st_gid == RT_HOST_ROOT_UID &&
           (link ? S_ISLNK(st.st_mode) : (st.st_mode & 07777) == mode);
}

static bool file_is(const char *dir, const char *rel, const char *want)
{
    char path[256], buf[256];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strcmp(buf, want) == 0;
}

int main(void)
{
    if (geteuid() != 0) {
        printf("1..0 # SKIP needs root\n");
        return 0;
    }
    tap_plan(13);
    char unique[64], a[128], b[128], c[128];
    snprintf(unique, sizeof unique, "test %d %ld\n", (int)getpid(), (long)time(NULL));
    struct rt_tpl_entry e[] = {
        {RT_TPL_DIR, "proc", NULL, 0},
        {RT_TPL_SYMLINK, "bin", "usr/bin", 0},
        {RT_TPL_FILE, "etc/hosts", unique, strlen(unique)},
        {RT_TPL_FILE, "etc/ssl/empty", "", 0},
    };
    size_t n = sizeof e / sizeof *e;

    ok(make(e, n, a) == 0, "a template is made: %s", a);
    struct stat st = {0};
    int rc = stat(RT_ROOTTPL_PARENT, &st);
    ok(rc == 0 && st.st_uid == 0 && (st.st_mode & 07777) == 0700,
       "its parent is root's alone (mode %o)", st.st_mode & 07777);
    ok(owned_mode(a, "", 0755, false) && owned_mode(a, "proc", 0755, false) &&
           owned_mode(a, "etc", 0755, false) && owned_mode(a, "etc/ssl", 0755, false),
       "directories, made parents included, are 0755 and the sandbox root's");
    ok(owned_mode(a, "etc/hosts", 0644, false) && owned_mode(a, "bin", 0, true),
       "files are 0644 and links are links, the sandbox root's");
    ok(file_is(a, "etc/hosts", unique) && file_is(a, "etc/ssl/empty", ""), "files hold the content");
    char link[160], target[64];
    snprintf(link, sizeof link, "%s/bin", a);
    ssize_t len = readlink(link, target, sizeof target - 1);
    ok(len == 7 && memcmp(target, "usr/bin", 7) == 0, "the link points where it should");

    ok(make(e, n, b) == 0 && strcmp(a, b) == 0, "the same entries give the same template");
    e[2].len--;
    ok(make(e, n, c) == 0 && strcmp(a, c) != 0, "other content gives another one");
    e[2].len++;

    /* A template whose files were changed behind our back is not ours to fix:
     * the parent is root's, so only root could have; but a wrong owner or mode
     * on the template itself makes it unusable and it is made again. */
    ok(chmod(a, 0775) == 0 && make(e, n, b) < 0, "a template with another mode is refused");
    ok(chmod(a, 0755) == 0 && make(e, n, b) == 0 && strcmp(a, b) == 0, "and used again once right");
    /* Anyone who could enter the parent could have put a template there. */
    bool refused = chmod(RT_ROOTTPL_PARENT, 0755) == 0 && make(e, n, b) < 0;
    ok(chmod(RT_ROOTTPL_PARENT, 0700) == 0 && refused,
       "no template is used from a parent that others may enter");

    /* Garbage: a template unused for longer than the longest run, and one in use. */
    char old[128], recent[128];
    snprintf(old, sizeof old, "%s/old-%d", RT_ROOTTPL_PARENT, (int)getpid());
    snprintf(recent, sizeof recent, "%s/recent-%d", RT_ROOTTPL_PARENT, (int)getpid());
    mkdir(old, 0755);
    mkdir(recent, 0755);
    time_t long_ago = time(NULL) - 9 * 24 * 3600;
    struct timespec times[2] = {{.tv_sec = long_ago}, {.tv_sec = long_ago}};
    utimensat(AT_FDCWD, old, times, 0);
    char other[80];
    snprintf(other, sizeof other, "garbage collection %s", unique);
    e[2].data = other;
    e[2].len = strlen(other);
    ok(make(e, n, c) == 0 && access(old, F_OK) < 0,
       "making a template removes one unused for 9 days");
    ok(access(recent, F_OK) == 0, "and keeps one used lately");
    forget(old);
    forget(recent);
    for (int i = 0; i < n_made; i++)
        forget(made[i]);
    return tap_done();
}
