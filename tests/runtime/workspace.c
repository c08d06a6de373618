/* Files in a fresh tmpfs /workspace, through real sandboxes: content (binary
 * too), ownership by the sandbox user, modes, the working directory, and a
 * workspace that fills up, at setup and from inside. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox.h"
#include "tap.h"
#include "shrun.h"

static void add(rt_spec *s, const char *path, const void *data, size_t len, bool exec)
{
    rt_error err;

    if (rt_spec_add_file(s, path, data, len, exec, &err) < 0) {
        diag("%s", err.msg);
        abort();
    }
}

static void add_text(rt_spec *s, const char *path, const char *text)
{
    add(s, path, text, strlen(text), false);
}

static const char *out(const rt_result *res)
{
    return res->out.data ? res->out.data : "";
}

static void test_content_and_owners(void)
{
    static const unsigned char bin[] = {0, 1, 2, 0xff, 0, 'z'};
    rt_spec s;
    rt_result res;

    rt_spec_init(&s);
    add_text(&s, "main.py", "print(1)\n");
    add(&s, "data.bin", bin, sizeof bin, false);
    add_text(&s, "src/pkg/mod.txt", "deep\n");
    add(&s, "empty", "", 0, false);
    set_sh(&s, "pwd; cat main.py src/pkg/mod.txt; od -An -tx1 data.bin; wc -c < empty;"
               " stat -c '%n %u:%g %a' . src src/pkg src/pkg/mod.txt main.py data.bin empty");
    is_str(rt_status_name(run(&s, &res)), "ok", "a run with files ends ok");
    is_str(out(&res),
           "/workspace\n"
           "print(1)\ndeep\n"
           " 00 01 02 ff 00 7a\n"
           "0\n"
           ". 1000:1000 755\n"
           "src 1000:1000 755\n"
           "src/pkg 1000:1000 755\n"
           "src/pkg/mod.txt 1000:1000 644\n"
           "main.py 1000:1000 644\n"
           "data.bin 1000:1000 644\n"
           "empty 1000:1000 644\n",
           "cwd /workspace; text, binary (NULs) and empty files; the workspace, its "
           "directories and files belong to the sandbox user, 0755 and 0644");
    rt_result_free(&res);
}

static void test_user_changes(void)
{
    rt_spec s;
    rt_result res;

    rt_spec_init(&s);
    add_text(&s, "keep.txt", "one\n");
    add_text(&s, "gone.txt", "x");
    add_text(&s, "dir/inner.txt", "x");
    set_sh(&s, "echo two >> keep.txt && rm gone.txt && rm -r dir && echo new > new.txt &&"
               " mkdir made && cat keep.txt new.txt && ls");
    is_str(rt_status_name(run(&s, &res)), "ok", "the sandbox user changes the workspace");
    is_str(out(&res), "one\ntwo\nnew\nkeep.txt\nmade\nnew.txt\n",
           "it appends to a file, deletes a file and a directory, creates a file and a "
           "directory");
    rt_result_free(&res);
}

static void test_executable(void)
{
    static const char script[] = "#!/bin/sh\necho ran \"$0\" \"$@\"\n";
    rt_spec s;
    rt_result res;

    rt_spec_init(&s);
    add(&s, "bin/run.sh", script, strlen(script), true);
    add(&s, "plain.sh", script, strlen(script), false);
    set_sh(&s, "stat -c %a bin/run.sh; ./bin/run.sh a b; ./plain.sh; echo $?;"
               " grep ' /workspace ' /proc/self/mounts | grep -o 'nosuid,nodev' ");
    is_str(rt_status_name(run(&s, &res)), "ok", "a run with an executable file ends ok");
    is_str(out(&res), "755\nran ./bin/run.sh a b\n126\nnosuid,nodev\n",
           "an executable file (0755) runs, a plain one does not; the tmpfs is nosuid,nodev "
           "and allows exec");
    rt_result_free(&res);
}

static void test_tmpfs_without_files(void)
{
    rt_spec s;
    rt_result res;

    rt_spec_init(&s);
    s.workspace_tmpfs = true;
    set_sh(&s, "pwd; ls -A | wc -l; stat -c %u .; echo hi > f && cat f");
    is_str(rt_status_name(run(&s, &res)), "ok", "an empty tmpfs workspace");
    is_str(out(&res), "/workspace\n0\n1000\nhi\n",
           "is the working directory, empty, the sandbox user's and writable");
    rt_result_free(&res);
    rt_spec_init(&s);
    s.workspace_tmpfs = true;
    s.cwd = strdup("/tmp");
    set_sh(&s, "pwd");
    run(&s, &res);
    is_str(out(&res), "/tmp\n", "a cwd in the spec still wins");
    rt_result_free(&res);
}

static void test_too_big_at_setup(void)
{
    size_t len = 3 << 20;
    char *big = calloc(1, len);
    rt_spec s;
    rt_result res;

    if (!big)
        abort();
    rt_spec_init(&s);
    s.limits.tmpfs_bytes = 1 << 20;
    add_text(&s, "small.txt", "fits");
    add(&s, "data/big.bin", big, len, false);
    set_sh(&s, "echo should not run");
    free(big);
    is_str(rt_status_name(run(&s, &res)), "error", "a file larger than the tmpfs is a setup error");
    is_str(res.error, "writing file \"workspace/data/big.bin\": No space left on device",
           "which names the file and the cause");
    is_str(out(&res), "", "and the command did not run");
    rt_result_free(&res);
}

static void test_fills_up_inside(void)
{
    rt_spec s;
    rt_result res;

    rt_spec_init(&s);
    s.limits.tmpfs_bytes = 1 << 20;
    add_text(&s, "a.txt", "a");
    set_sh(&s, "head -c 2000000 /dev/zero > fill 2>/dev/null; echo $?; "
               "dd if=/dev/zero of=fill2 bs=4096 count=1000 2>&1 |"
               " grep -o 'No space left on device'; cat a.txt");
    is_str(rt_status_name(run(&s, &res)), "ok", "a command that fills the workspace");
    is_str(out(&res), "1\nNo space left on device\na",
           "gets ENOSPC at limits.tmpfs bytes; the files stay readable");
    rt_result_free(&res);
}

/* The most files a spec may hold, nested, all in place. */
static void test_many_files(void)
{
    char path[32], text[16];
    rt_spec s;
    rt_result res;

    rt_spec_init(&s);
    for (int i = 0; i < RT_MAX_FILES; i++) {
        snprintf(path, sizeof path, "d%d/e%d/f%d", i % 10, i % 7, i);
        snprintf(text, sizeof text, "%d\n", i);
        add_text(&s, path, text);
    }
    set_sh(&s, "find . -type f | wc -l; cat d9/e5/f999; find . -type d | wc -l");
    is_str(rt_status_name(run(&s, &res)), "ok", "1000 files");
    is_str(out(&res), "1000\n999\n81\n", "are all written, with their directories");
    diag("setup with 1000 files: %.1f ms", res.setup_ms);
    rt_result_free(&res);
}

int main(void)
{
    tap_plan(16);
    test_content_and_owners();
    test_user_changes();
    test_executable();
    test_tmpfs_without_files();
    test_too_big_at_setup();
    test_fills_up_inside();
    test_many_files();
    return tap_done();
}
