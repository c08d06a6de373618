/* sandboxd/exec.c: request bodies to specs (refusals name the field), and real
 * runs to a result object and to a stream of JSON lines. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "spawner.h"
#include "tap.h"

static sd_snapshot *snap;

static void refused(const char *body, const char *field, const char *name)
{
    sd_exec *x = NULL;
    sd_problem p = {0};
    int rc = sd_exec_prepare(snap, body, strlen(body), &x, &p);
    ok(rc < 0 && p.http == 400 && strcmp(p.field, field) == 0, "%s: 400 field \"%s\" (got %u "
       "\"%s\": %s)", name, field, p.http, p.field, p.err.msg);
    sd_exec_free(x);
}

static json_t *run(const char *body, sd_admission *adm, atomic_bool *kill_all)
{
    sd_exec *x;
    sd_problem p = {0};
    if (sd_exec_prepare(snap, body, strlen(body), &x, &p) < 0) {
        diag("prepare: %s", p.err.msg);
        return NULL;
    }
    sd_exec_env env = {adm, kill_all};
    json_t *res = sd_exec_start(x, &env, &p) == 0 ? sd_exec_wait(x) : NULL;
    sd_exec_free(x);
    return res;
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "(none)";
}

int main(void)
{
    tap_plan(23);
    setenv("SBX_PROFILE_PATH", "profiles", 1);
    char spawner[PATH_MAX];
    if (!realpath("build/sandboxd-spawner", spawner)) {
        diag("build/sandboxd-spawner: %s (run from the top of the tree, after make)",
             strerror(errno));
        return 1;
    }
    setenv("SANDBOXD_SPAWNER", spawner, 1);
    char *argv[] = {"sandboxd", "--languages", "sandboxd/languages.json", "--socket", "/tmp/x",
                    NULL};
    bool check, help, version;
    rt_error err;
    if (sd_spawner_start(&err) < 0 ||
        sd_snapshot_load(5, argv, &snap, &check, &help, &version, &err) < 0 ||
        sd_spawner_profiles(snap->config.profiles, snap->config.n_profiles, &err) < 0) {
        diag("%s", err.msg);
        return 1;
    }

    refused("{", "", "invalid JSON");
    refused("[1]", "", "not an object");
    refused("{\"command\": [\"true\"], \"bogus\": 1}", "bogus", "unknown key");
    refused("{\"command\": \"true\"}", "command", "command not an array");
    refused("{\"command\": [\"true\"], \"limits\": {\"memory\": \"100g\"}}", "limits.memory",
            "limit above the maximum");
    refused("{\"command\": [\"true\"], \"limits\": {\"timeout\": \"1h\"}}", "limits.timeout",
            "timeout above the maximum");
    refused("{\"command\": [\"true\"], \"profile\": \"unconfined\"}", "profile",
            "a profile not offered");
    refused("{\"command\": [\"true\"], \"profile\": \"../../etc/passwd\"}", "profile",
            "a profile path");
    refused("{\"command\": [\"true\"], \"image\": \"/\"}", "image", "an image path");
    refused("{\"command\": [\"true\"], \"workspace\": \"/etc\"}", "workspace", "a host workspace");
    refused("{\"command\": [\"true\"], \"mounts\": []}", "mounts", "host mounts");
    refused("{\"code\": \"print(1)\"}", "language", "code without language");
    refused("{\"code\": \"1\", \"language\": \"cobol\"}", "language", "unknown language");
    refused("{\"code\": \"1\", \"language\": \"sh\", \"command\": [\"x\"]}", "command",
            "code and command");
    refused("{\"command\": [\"true\"], \"stream\": 1}", "stream", "stream not a boolean");

    sd_admission *adm = sd_admission_new(2, 4);
    atomic_bool kill_all;
    atomic_init(&kill_all, false);
    json_t *r = run("{\"code\": \"echo \\\"$1-$X\\\"; cat data.txt\", \"language\": \"sh\", "
                    "\"env\": {\"X\": \"y\"}, \"files\": {\"data.txt\": \"aGk=\"}, "
                    "\"encoding\": \"base64\"}",
                    adm, &kill_all);
    is_str(str(r, "status"), "ok", "sh code runs");
    is_str(str(r, "stdout"), "-y\nhi", "env and a base64 file reach it");
    ok(strncmp(str(r, "id"), "ex_", 3) == 0 && json_is_number(json_object_get(r, "queued_ms")) &&
           json_is_number(json_object_get(r, "setup_ms")) &&
           json_is_number(json_object_get(r, "run_ms")),
       "id and timings");
    json_decref(r);

    /* python's own limits (192m in languages.json, under the profile's 256m)
     * apply, and a request's win. */
#define HOG "{\"code\": \"x = bytearray(224 << 20); print(len(x) >> 20)\", \"language\": \"python\""
    r = run(HOG "}", adm, &kill_all);
    is_str(str(r, "status"), "memory_limit", "the language's memory limit applies");
    json_decref(r);
    r = run(HOG ", \"limits\": {\"memory\": \"512m\"}}", adm, &kill_all);
    is_str(str(r, "stdout"), "224\n", "a request's limit overrides the language's");
    json_decref(r);

    sd_exec *x;
    sd_problem p = {0};
    const char *body = "{\"command\": [\"sh\", \"-c\", \"echo out; echo err >&2\"], "
                       "\"stream\": true}";
    sd_exec_env env = {adm, &kill_all};
    char all[65536] = "", buf[7];
    size_t len = 0;
    if (sd_exec_prepare(snap, body, strlen(body), &x, &p) == 0 && sd_exec_start(x, &env, &p) == 0) {
        ssize_t n;
        while ((n = sd_exec_read(x, buf, sizeof buf)) > 0 && len + (size_t)n < sizeof all) {
            memcpy(all + len, buf, (size_t)n);
            len += (size_t)n;
        }
        sd_exec_free(x);
    }
    all[len] = '\0';
    ok(strstr(all, "{\"type\":\"stdout\",\"data\":\"out\\n\"}\n") &&
           strstr(all, "{\"type\":\"stderr\",\"data\":\"err\\n\"}\n"),
       "stream: a line per chunk");
    const char *last = strstr(all, "{\"type\":\"result\"");
    ok(last && strstr(last, "\"status\":\"ok\"") && all[len - 1] == '\n' &&
           !strchr(last, '\n')[1],
       "stream: the result is the last line");

    atomic_store(&kill_all, true);
    r = run("{\"command\": [\"sleep\", \"30\"]}", adm, &kill_all);
    is_str(str(r, "status"), "cancelled", "shutdown: a running sandbox is cancelled");
    json_decref(r);
    sd_admission_free(adm);
    sd_snapshot_unref(snap);
    return tap_done();
}
