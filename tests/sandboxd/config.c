/* sandboxd/config.c: defaults, file < env < flags, and refusals naming the key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "stepio.h"
#include "tap.h"

static char dir[] = "/tmp/sd-config-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static int load(sd_config *c, rt_error *err, char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    bool check, help, version;
    return sd_config_load(c, argc, argv, &check, &help, &version, err);
}

static void refuses(const char *json, const char *want, const char *name)
{
    const char *path = write_file("bad.json", json);
    char *argv[] = {"sandboxd", "--config", (char *)path, NULL};
    sd_config c;
    rt_error err = {0};
    int rc = load(&c, &err, argv);
    ok(rc < 0 && strstr(err.msg, want), "refused: %s (%s)", name, err.msg);
}

int main(void)
{
    tap_plan(29);
    if (!mkdtemp(dir))
        return 1;
    unsetenv("SANDBOXD_CONFIG");
    unsetenv("SANDBOXD_MAX_QUEUE");
    unsetenv("SANDBOXD_TOKENS");

    sd_config c;
    rt_error err;
    char *plain[] = {"sandboxd", NULL};
    is_int(load(&c, &err, plain), 0, "no arguments: defaults load");
    is_int(c.max_queue, 64, "default queue");
    ok(c.max_running >= 2, "default slots from the core count (%u)", c.max_running);
    is_int((long long)c.max_body_bytes, 4 << 20, "default body limit 4m");
    is_int((long long)c.workspace_bytes, 256 << 20, "default workflow workspace 256m");
    ok(c.usd_per_cpu_second == ORCH_PRICE_CPU_SECOND && c.usd_per_run == ORCH_PRICE_RUN,
       "default prices are the documented ones");
    ok(sd_config_profile_allowed(&c, "default") && sd_config_profile_allowed(&c, "strict") &&
           !sd_config_profile_allowed(&c, "unconfined"),
       "profiles offered by default: default and strict, never unconfined");
    sd_config_free(&c);

    const char *file = write_file("ok.json", "{\"max_queue\": 5, \"max_running\": 3, "
                                             "\"grace\": \"2s\", \"limits\": {\"max\": "
                                             "{\"memory\": \"1g\"}}, \"images\": "
                                             "{\"tiny\": \"/tmp\"}, \"workspace_size\": "
                                             "\"1m\", \"prices\": {\"usd_per_run\": 0.5}}");
    setenv("SANDBOXD_MAX_QUEUE", "7", 1);
    char *layered[] = {"sandboxd", "--config", (char *)file, "--max-running", "9", NULL};
    is_int(load(&c, &err, layered), 0, "file + env + flags load");
    is_int(c.max_queue, 7, "env beats the file");
    is_int(c.max_running, 9, "flags beat the file");
    is_int((long long)c.grace_ms, 2000, "file sets grace");
    is_int((long long)c.max_limits.memory_bytes, 1 << 30, "file sets limits.max.memory");
    ok(sd_config_image(&c, "tiny") && strcmp(sd_config_image(&c, "tiny")->path, "/tmp") == 0,
       "file adds an image");
    is_int((long long)c.workspace_bytes, 1 << 20, "file sets workspace_size");
    ok(c.usd_per_run == 0.5 && c.usd_per_cpu_second == ORCH_PRICE_CPU_SECOND,
       "file sets one price, the others keep their defaults");
    ok(sd_config_image(&c, "host") && !sd_config_image(&c, "host")->path, "host is built in");
    sd_config_free(&c);
    unsetenv("SANDBOXD_MAX_QUEUE");

    setenv("SANDBOXD_MAX_QUEUE", "lots", 1);
    is_int(load(&c, &err, plain), -1, "bad env value refused");
    ok(strstr(err.msg, "SANDBOXD_MAX_QUEUE"), "message names the variable (%s)", err.msg);
    unsetenv("SANDBOXD_MAX_QUEUE");

    char *tcp[] = {"sandboxd", "--listen", "127.0.0.1:8080", NULL};
    ok(load(&c, &err, tcp) < 0 && strstr(err.msg, "token"), "TCP without tokens refused (%s)",
       err.msg);

    refuses("{\"max_queu\": 3}", "max_queu: unknown key", "unknown key");
    refuses("{\"max_running\": \"x\"}", "max_running", "bad count");
    refuses("{\"tokens\": [\"short\"]}", "16 bytes", "short token");
    refuses("{\"limits\": {\"max\": {\"memory\": \"lots\"}}}", "limits.max", "bad max limit");
    refuses("{\"images\": {\"x\": \"relative\"}}", "images.x", "relative image path");
    refuses("{\"profiles\": [\"../etc/x\"]}", "slash", "profile name with a slash");
    refuses("{\"max_queue\": 3,}", "bad.json:1", "bad JSON, with line");
    refuses("{\"prices\": {\"usd_per_run\": -1}}", "prices.usd_per_run", "negative price");
    refuses("{\"prices\": {\"usd_per_gpu\": 1}}", "prices.usd_per_gpu: unknown key",
            "unknown price");
    refuses("{\"prices\": {\"usd_per_run\": \"1\"}}", "prices.usd_per_run", "price as text");

    rmdir(dir);
    return tap_done();
}
