/* Tests cli/exec_opts.c: sbx exec's options, the exact request they make,
 * refusals and where the daemon is looked for. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec_opts.h"
#include "tap.h"

#define ARGV(...) ((char *[]){"exec", __VA_ARGS__, NULL})

static char dir[] = "/tmp/sbx-exec-opts.XXXXXX";
static char path[256];

static int count(char **argv)
{
    int n = 0;
    while (argv[n])
        n++;
    return n;
}

/* The request as compact JSON, or "error: MESSAGE". */
static const char *request(char **argv)
{
    static char out[8192];
    sbx_exec_opts o;
    rt_error err;
    rt_error_clear(&err);
    if (sbx_exec_parse(count(argv), argv, &o, &err) < 0) {
        snprintf(out, sizeof out, "error: %s", err.msg);
    } else {
        char *s = json_dumps(o.request, JSON_COMPACT);
        snprintf(out, sizeof out, "%s", s ? s : "(cannot encode)");
        free(s);
    }
    sbx_exec_opts_free(&o);
    return out;
}

/* Parses argv that must be accepted; the caller frees o. */
static int parsed(char **argv, sbx_exec_opts *o)
{
    rt_error err;
    rt_error_clear(&err);
    if (sbx_exec_parse(count(argv), argv, o, &err) == 0)
        return 1;
    diag("refused: %s", err.msg);
    return 0;
}

/* A file in the test directory with these bytes and mode; returns its path. */
static const char *file(const char *name, const char *data, size_t len, mode_t mode)
{
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len || fchmod(fd, mode) < 0)
        abort();
    close(fd);
    return path;
}

static void test_requests(void)
{
    is_str(request(ARGV("--", "echo", "hi")), "{\"command\":[\"echo\",\"hi\"],\"stream\":true}",
           "a command; streaming by default");
    is_str(request(ARGV("echo")), "{\"command\":[\"echo\"],\"stream\":true}",
           "the -- is optional");
    is_str(request(ARGV("--timeout", "10s", "--cpu-time", "5s", "--memory", "256m", "--pids",
                        "64", "--output-limit", "1m", "--file-size", "64m", "--open-files",
                        "256", "--tmpfs-size", "64M", "--cpus", "0.5", "--", "true")),
           "{\"command\":[\"true\"],\"limits\":{\"timeout\":\"10s\",\"cpu_time\":\"5s\","
           "\"memory\":\"256m\",\"pids\":\"64\",\"output\":\"1m\",\"file_size\":\"64m\","
           "\"open_files\":\"256\",\"tmpfs\":\"64M\",\"cpus\":\"0.5\"},\"stream\":true}",
           "every limit, under its API key, as typed");
    is_str(request(ARGV("--cpus", "2", "--memory", "1g", "--memory", "2g", "true")),
           "{\"command\":[\"true\"],\"limits\":{\"memory\":\"2g\",\"cpus\":\"2\"},\"stream\":true}",
           "only the limits given; the last of a repeated one");
    is_str(request(ARGV("--env", "A=1", "--env", "B=x=y", "--env", "A=2", "--env", "E=", "env")),
           "{\"command\":[\"env\"],\"env\":{\"A\":\"2\",\"B\":\"x=y\",\"E\":\"\"},\"stream\":true}",
           "--env: an object, the last value of a name");
    is_str(request(ARGV("--image", "py", "--profile", "strict", "--workdir", "/w", "pwd")),
           "{\"command\":[\"pwd\"],\"cwd\":\"/w\",\"profile\":\"strict\",\"image\":\"py\","
           "\"stream\":true}",
           "--workdir, --profile and --image, in a fixed order");
    is_str(request(ARGV("--no-stream", "true")), "{\"command\":[\"true\"],\"stream\":false}",
           "--no-stream");
    is_str(request(ARGV("--json", "true")), "{\"command\":[\"true\"],\"stream\":false}",
           "--json implies no streaming");
    is_str(request(ARGV("--", "sh", "-c", "echo --memory")),
           "{\"command\":[\"sh\",\"-c\",\"echo --memory\"],\"stream\":true}",
           "options after the command are its own");
}

static void test_inputs(void)
{
    char *in = strdup(file("in.txt", "line1\nline2\n", 12, 0644));
    is_str(request(ARGV("--stdin", in, "wc")),
           "{\"command\":[\"wc\"],\"stdin\":\"line1\\nline2\\n\",\"stream\":true}",
           "--stdin FILE: text as a string");
    file("in.bin", "\xff\x00\x01", 3, 0644);
    is_str(request(ARGV("--stdin", path, "od")),
           "{\"command\":[\"od\"],\"stdin\":\"/wAB\",\"stdin_encoding\":\"base64\","
           "\"stream\":true}",
           "bytes that are not UTF-8: base64");
    file("in.nul", "a\0b", 3, 0644);
    is_str(request(ARGV("--stdin", path, "od")),
           "{\"command\":[\"od\"],\"stdin\":\"YQBi\",\"stdin_encoding\":\"base64\","
           "\"stream\":true}",
           "text holding NUL: base64");
    file("empty", "", 0, 0644);
    is_str(request(ARGV("--stdin", path, "cat")),
           "{\"command\":[\"cat\"],\"stdin\":\"\",\"stream\":true}", "an empty file");

    char *script = strdup(file("run.sh", "#!/bin/sh\necho hi\n", 18, 0755));
    char *data = strdup(file("data.bin", "\x80\x81", 2, 0644));
    char arg1[300], arg2[300], arg3[300];
    snprintf(arg1, sizeof arg1, "notes.txt=%s", in);
    snprintf(arg2, sizeof arg2, "bin/run.sh=%s", script);
    snprintf(arg3, sizeof arg3, "d=%s", data);
    is_str(request(ARGV("--file", arg1, "--file", arg2, "--file", arg3, "ls")),
           "{\"command\":[\"ls\"],\"files\":{\"notes.txt\":\"line1\\nline2\\n\","
           "\"bin/run.sh\":{\"content\":\"#!/bin/sh\\necho hi\\n\",\"executable\":true},"
           "\"d\":{\"content\":\"gIE=\",\"encoding\":\"base64\"}},\"stream\":true}",
           "--file: text, an executable, binary");
    is_str(request(ARGV("--file", arg1, "--file", arg1, "ls")),
           "error: --file: notes.txt given twice",
           "a name given twice is refused");

    file("code.py", "print(1)\n", 9, 0644);
    is_str(request(ARGV("--language", "python", "--code", path, "--timeout", "1s")),
           "{\"code\":\"print(1)\\n\",\"language\":\"python\",\"limits\":{\"timeout\":\"1s\"},"
           "\"stream\":true}",
           "--language and --code");
    is_str(request(ARGV("--language", "python", "--code", data)),
           "error: --code: not valid UTF-8", "code that is not text is refused");
    free(in);
    free(script);
    free(data);
}

static void test_refusals(void)
{
    const char *host_opts[] = {"--bind", "--ro-bind", "--tmpfs", "--workspace", "--seccomp"};
    for (size_t i = 0; i < 5; i++) {
        char want[256];
        snprintf(want, sizeof want, "error: %s: not available through the daemon, which never "
                 "uses the client's paths (send files with --file NAME=HOSTPATH)", host_opts[i]);
        is_str(request(ARGV((char *)host_opts[i], "/a:/b", "true")), want,
               "a host-path option of sbx run is refused");
    }
    is_str(request(ARGV("--memory", "12x", "true")),
           "error: --memory: \"12x\" is not a size (use a whole number with an optional k, m, g "
           "or t suffix)",
           "a bad size names the option and the value");
    ok(strncmp(request(ARGV("--timeout", "0", "true")), "error: --timeout:", 17) == 0,
       "a zero timeout is refused");
    ok(strncmp(request(ARGV("--cpus", "0", "true")), "error: --cpus:", 14) == 0,
       "zero cpus are refused");
    ok(strncmp(request(ARGV("--pids", "lots", "true")), "error: --pids:", 14) == 0,
       "a count that is not a number is refused");
    ok(strncmp(request(ARGV("--memory", "2000t", "true")), "error: --memory:", 16) == 0,
       "a size above the maximum is refused");
    is_str(request(ARGV("--memory", "1m")),
           "error: no command given (usage: sbx exec [OPTIONS] -- CMD [ARG...] or sbx exec "
           "[OPTIONS] --language LANG --code FILE|-)",
           "no command");
    is_str(request(ARGV("--code", "x.py", "true")),
           "error: --code: give either code or a command, not both",
           "code and a command");
    is_str(request(ARGV("--code", "x.py")), "error: --code: needs --language",
           "--code without --language");
    is_str(request(ARGV("--language", "python", "true")), "error: --language: needs --code",
           "--language without --code");
    is_str(request(ARGV("--language", "python", "--code", "-", "--stdin", "-")),
           "error: --code - and --stdin -: both would read sbx's stdin; give one of them a file",
           "--code - with --stdin - is refused");
    is_str(request(ARGV("--stdin", "/no/such/file", "cat")),
           "error: --stdin /no/such/file: No such file or directory", "a missing --stdin file");
    is_str(request(ARGV("--stdin", "/tmp", "cat")), "error: --stdin /tmp: is a directory",
           "a directory as --stdin");
    is_str(request(ARGV("--env", "NOVALUE", "true")), "error: --env: \"NOVALUE\" is not K=V",
           "--env without =");
    is_str(request(ARGV("--env", "=v", "true")), "error: --env: \"=v\" is not K=V",
           "--env without a name");
    is_str(request(ARGV("--file", "x", "true")), "error: --file: \"x\" is not NAME=HOSTPATH",
           "--file without =");
    is_str(request(ARGV("--file", "x=", "true")), "error: --file: \"x=\" is not NAME=HOSTPATH",
           "--file without a path");
    is_str(request(ARGV("--profile", "", "true")), "error: --profile: must not be empty",
           "an empty value");
    is_str(request(ARGV("--frobnicate", "true")),
           "error: --frobnicate: unknown option or missing value (see sbx exec --help)",
           "an unknown option");
    is_str(request(ARGV("-x", "true")),
           "error: -x: unknown option or missing value (see sbx exec --help)",
           "an unknown short option");
    is_str(request(ARGV("--memory")),
           "error: --memory: unknown option or missing value (see sbx exec --help)",
           "a missing value");
    is_str(request(ARGV("-h")), "{}", "-h: no request is built");
    is_str(request(ARGV("true", "\xff")), "error: command: argument 2 is not valid UTF-8",
           "a command word that is not UTF-8");
    is_str(request(ARGV("--env", "K=\xfe", "true")), "error: --env: not valid UTF-8",
           "an --env value that is not UTF-8");
    is_str(request(ARGV("--socket", "/s", "--url", "http://h", "true")),
           "error: --socket and --url: give one of them", "--socket and --url together");
    is_str(request(ARGV("--url", "ftp://h", "true")),
           "error: --url: \"ftp://h\" is not an http:// or https:// URL", "a URL that is not HTTP");
    is_str(request(ARGV("--token", "a\nb", "true")), "error: --token: holds a control character",
           "a token that would break the header line");
}

static void test_daemon_address(void)
{
    sbx_exec_opts o;
    if (parsed(ARGV("--socket", "/tmp/d.sock", "--token", "T", "true"), &o)) {
        ok(o.socket && strcmp(o.socket, "/tmp/d.sock") == 0 && !o.url, "--socket");
        is_str(o.token, "T", "--token");
    } else {
        skip(2, "refused");
    }
    sbx_exec_opts_free(&o);
    if (parsed(ARGV("--url", "http://127.0.0.1:8080", "true"), &o))
        ok(!o.socket && strcmp(o.url, "http://127.0.0.1:8080") == 0, "--url");
    else
        skip(1, "refused");
    sbx_exec_opts_free(&o);

    setenv("SANDBOXD_URL", "https://d.example:8443", 1);
    setenv("SANDBOXD_TOKEN", "from-env", 1);
    if (parsed(ARGV("true"), &o)) {
        is_str(o.url, "https://d.example:8443", "$SANDBOXD_URL");
        is_str(o.token, "from-env", "$SANDBOXD_TOKEN");
    } else {
        skip(2, "refused");
    }
    sbx_exec_opts_free(&o);
    if (parsed(ARGV("--socket", "/s", "--token", "opt", "true"), &o)) {
        ok(o.socket && !o.url, "--socket beats $SANDBOXD_URL");
        is_str(o.token, "opt", "--token beats $SANDBOXD_TOKEN");
    } else {
        skip(2, "refused");
    }
    sbx_exec_opts_free(&o);
    setenv("SANDBOXD_URL", "localhost:1", 1);
    is_str(request(ARGV("true")),
           "error: $SANDBOXD_URL: \"localhost:1\" is not an http:// or https:// URL",
           "a bad $SANDBOXD_URL is named as such");
    unsetenv("SANDBOXD_URL");
    unsetenv("SANDBOXD_TOKEN");
    if (parsed(ARGV("--timeout", "200ms", "--memory", "1m", "true"), &o)) {
        ok(o.asked.wall_ms == 200 && o.asked.memory_bytes == 1 << 20 && o.asked.cpu_ms == 0 &&
               o.asked.cpus == 0,
           "the limits asked for are kept for the explanation; the others are 0");
        ok(o.stream && !o.json && !o.token, "defaults: stream, no --json, no token");
    } else {
        skip(2, "refused");
    }
    sbx_exec_opts_free(&o);
    if (parsed(ARGV("--help", "--memory", "bad"), &o))
        ok(o.help, "--help; what follows is not read");
    else
        skip(1, "refused");
    sbx_exec_opts_free(&o);
}

static void test_default_socket(void)
{
    char *s = NULL;
    rt_error err;
    rt_error_clear(&err);
    unsetenv("SANDBOXD_SOCKET");
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    ok(sbx_exec_default_socket(0, &s, &err) == 0 && strcmp(s, "/run/sandboxd/sandboxd.sock") == 0,
       "root: /run/sandboxd/sandboxd.sock");
    free(s);
    ok(sbx_exec_default_socket(1000, &s, &err) == 0 &&
           strcmp(s, "/run/user/1000/sandboxd.sock") == 0,
       "a user: $XDG_RUNTIME_DIR/sandboxd.sock");
    free(s);
    setenv("SANDBOXD_SOCKET", "/srv/sd.sock", 1);
    ok(sbx_exec_default_socket(1000, &s, &err) == 0 && strcmp(s, "/srv/sd.sock") == 0,
       "$SANDBOXD_SOCKET first");
    free(s);
    sbx_exec_opts o;
    if (parsed(ARGV("true"), &o))
        is_str(o.socket, "/srv/sd.sock", "and sbx_exec_parse uses it");
    else
        skip(1, "refused");
    sbx_exec_opts_free(&o);
    unsetenv("SANDBOXD_SOCKET");
    unsetenv("XDG_RUNTIME_DIR");
    s = NULL;
    ok(sbx_exec_default_socket(1000, &s, &err) < 0 && !s, "a user without $XDG_RUNTIME_DIR");
    is_str(err.msg,
           "no daemon socket: $XDG_RUNTIME_DIR is not set (give --socket PATH or --url URL)",
           "is told what to give");
}

int main(void)
{
    if (!mkdtemp(dir))
        abort();
    unsetenv("SANDBOXD_URL");
    unsetenv("SANDBOXD_SOCKET");
    unsetenv("SANDBOXD_TOKEN");
    tap_plan(65);
    test_requests();
    test_inputs();
    test_refusals();
    test_daemon_address();
    test_default_socket();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("cannot remove %s", dir);
    return tap_done();
}
