#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse.h"
#include "spec_json.h"
#include "stepio.h"

const char sd_usage[] =
    "usage: sandboxd [OPTIONS]\n"
    "\n"
    "Serves the sandbox API (POST /v1/exec and friends, docs/api.md) over HTTP/1.1 on\n"
    "a Unix socket and, when asked, on TCP with bearer tokens. Settings come from\n"
    "built-in defaults, the config file, SANDBOXD_* variables and these flags, in\n"
    "that order (flags win); see docs/operations.md.\n"
    "\n"
    "  --config FILE          JSON config file [$SANDBOXD_CONFIG]\n"
    "  --socket PATH          Unix socket, owner-only; \"\" disables it\n"
    "                         [/run/sandboxd/sandboxd.sock as root,\n"
    "                          $XDG_RUNTIME_DIR/sandboxd.sock otherwise]\n"
    "  --listen HOST:PORT     also serve TCP; needs tokens (config \"tokens\" or\n"
    "                         $SANDBOXD_TOKENS, comma-separated)\n"
    "  --state-dir DIR        state [/var/lib/sandboxd as root, else\n"
    "                          ~/.local/state/sandboxd]\n"
    "  --max-running N        sandboxes at once [2 x cores]\n"
    "  --max-queue N          requests waiting for a slot; beyond it 429 [64]\n"
    "  --max-connections N    open client connections [512]\n"
    "  --max-body SIZE        largest request body; beyond it 413 [4m]\n"
    "  --grace DUR            on SIGTERM, time running sandboxes get to finish [10s]\n"
    "  --workspace-size SIZE  each workflow's shared /workspace (tmpfs) [256m]\n"
    "  --languages FILE       language definitions [languages.json in the data dir]\n"
    "  --profiles A,B         profiles clients may ask for [default,strict]\n"
    "  --default-profile NAME profile of requests that name none [default]\n"
    "  --check-config         validate the settings, profiles and languages; exit\n"
    "  --version              print the version\n"
    "  -h, --help             this text\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop (running sandboxes get the grace period, then are\n"
    "killed); SIGHUP reloads the config file, profiles and languages.\n";

enum kind { K_PATH, K_LISTEN, K_COUNT, K_COUNT0, K_SIZE, K_DURATION0, K_NAMES, K_TOKENS };

struct setting {
    const char *key;           /* config file key */
    const char *env;
    const char *flag;          /* long option, without "--" */
    enum kind kind;
    size_t off;
    uint64_t max;
    size_t off_n;              /* lists: where their length goes */
};

#define OFF(f) offsetof(sd_config, f)
static const struct setting settings[] = {
    {"socket", "SANDBOXD_SOCKET", "socket", K_PATH, OFF(socket_path), 0, 0},
    {"listen", "SANDBOXD_LISTEN", "listen", K_LISTEN, OFF(listen), 0, 0},
    {"state_dir", "SANDBOXD_STATE_DIR", "state-dir", K_PATH, OFF(state_dir), 0, 0},
    {"tokens", "SANDBOXD_TOKENS", NULL, K_TOKENS, OFF(tokens), 0, OFF(n_tokens)},
    {"max_running", "SANDBOXD_MAX_RUNNING", "max-running", K_COUNT, OFF(max_running), 4096, 0},
    {"max_queue", "SANDBOXD_MAX_QUEUE", "max-queue", K_COUNT0, OFF(max_queue), 65536, 0},
    {"max_connections", "SANDBOXD_MAX_CONNECTIONS", "max-connections", K_COUNT,
     OFF(max_connections), 65536, 0},
    {"max_body", "SANDBOXD_MAX_BODY", "max-body", K_SIZE, OFF(max_body_bytes), 1ull << 30, 0},
    {"grace", "SANDBOXD_GRACE", "grace", K_DURATION0, OFF(grace_ms), 3600ull * 1000, 0},
    {"workspace_size", "SANDBOXD_WORKSPACE_SIZE", "workspace-size", K_SIZE,
     OFF(workspace_bytes), 1ull << 40, 0},
    {"languages", "SANDBOXD_LANGUAGES", "languages", K_PATH, OFF(languages_file), 0, 0},
    {"profiles", "SANDBOXD_PROFILES", "profiles", K_NAMES, OFF(profiles), 0, OFF(n_profiles)},
    {"default_profile", "SANDBOXD_DEFAULT_PROFILE", "default-profile", K_PATH,
     OFF(default_profile), 0, 0},
};
#define N_SETTINGS (sizeof settings / sizeof *settings)

enum { OPT_CONFIG = 1000, OPT_CHECK, OPT_VERSION };

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i]);
    free(list);
}

static int set_string(char **dst, const char *val, rt_error *err)
{
    char *copy = strdup(val);
    if (!copy)
        return rt_error_set(err, ENOMEM, "copying a setting");
    free(*dst);
    *dst = copy;
    return 0;
}

/* "host:port" or "[v6]:port", port 1-65535; the host is resolved when binding. */
static int check_listen(const char *s, rt_error *err)
{
    const char *colon = strrchr(s, ':');
    if (strlen(s) > 255)
        return rt_error_set(err, 0, "longer than 255 bytes");
    if (!colon || colon == s)
        return rt_error_set(err, 0, "\"%.80s\" is not HOST:PORT", s);
    uint64_t port;
    if (rt_parse_count(colon + 1, 65535, "port", &port, err) < 0)
        return -1;
    return 0;
}

/* Names and tokens: printable, no spaces or commas; a token of 16 bytes at least
 * so that a weak one is caught at start rather than guessed later. */
static int check_word(const char *w, enum kind kind, rt_error *err)
{
    size_t n = strlen(w);
    if (n == 0 || n > 256)
        return rt_error_set(err, 0, "empty or longer than 256 bytes");
    for (size_t i = 0; i < n; i++)
        if (w[i] <= ' ' || w[i] == ',' || w[i] == 0x7f)
            return rt_error_set(err, 0, "\"%.40s\": spaces, commas and control characters are "
                                        "not allowed", kind == K_TOKENS ? "(token)" : w);
    if (kind == K_TOKENS && n < 16)
        return rt_error_set(err, 0, "a token must be at least 16 bytes long");
    if (kind == K_NAMES && strchr(w, '/'))
        return rt_error_set(err, 0, "\"%.40s\": a profile name has no slash", w);
    return 0;
}

static int set_list(char ***dst, size_t *n_out, const json_t *v, enum kind kind, rt_error *err)
{
    char **list = NULL;
    size_t n = 0;
    json_t *arr = NULL;
    if (json_is_string(v)) {       /* env and flags: comma-separated */
        arr = json_array();
        char *copy = strdup(json_string_value(v)), *save = NULL;
        for (char *w = copy ? strtok_r(copy, ",", &save) : NULL; w; w = strtok_r(NULL, ",", &save))
            json_array_append_new(arr, json_string(w));
        free(copy);
        v = arr;
    }
    int rc = -1;
    if (!json_is_array(v)) {
        rt_error_set(err, 0, "must be an array of strings or a comma-separated string");
        goto out;
    }
    list = calloc(json_array_size(v) + 1, sizeof *list);
    if (!list) {
        rt_error_set(err, ENOMEM, "copying a list");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        const char *w = json_string_value(json_array_get(v, i));
        if (!w) {
            rt_error_set(err, 0, "[%zu]: must be a string", i);
            goto out;
        }
        if (check_word(w, kind, err) < 0) {
            rt_error_wrap(err, "[%zu]", i);
            goto out;
        }
        if (!(list[n++] = strdup(w))) {
            rt_error_set(err, ENOMEM, "copying a list");
            goto out;
        }
    }
    free_list(*dst, *n_out);
    *dst = list;
    *n_out = n;
    list = NULL;
    rc = 0;
out:
    free_list(list, n);
    json_decref(arr);
    return rc;
}

/* Numbers come as JSON integers from the file and as text from env and flags. */
static int number_text(const json_t *v, char *buf, size_t len, rt_error *err)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_string(v))
        snprintf(buf, len, "%s", json_string_value(v));
    else
        return rt_error_set(err, 0, "must be a non-negative integer or a string");
    return 0;
}

static int set_value(sd_config *c, const struct setting *s, const json_t *v, rt_error *err)
{
    char *base = (char *)c;
    char text[128];
    uint64_t u = 0;
    switch (s->kind) {
    case K_PATH:
    case K_LISTEN:
        if (!json_is_string(v))
            return rt_error_set(err, 0, "must be a string");
        if (s->kind == K_LISTEN && check_listen(json_string_value(v), err) < 0)
            return -1;
        return set_string((char **)(base + s->off), json_string_value(v), err);
    case K_NAMES:
    case K_TOKENS:
        return set_list((char ***)(base + s->off), (size_t *)(base + s->off_n), v,
                        s->kind, err);
    case K_COUNT:
    case K_COUNT0:
        if (number_text(v, text, sizeof text, err) < 0)
            return -1;
        if (!(s->kind == K_COUNT0 && strcmp(text, "0") == 0) &&
            rt_parse_count(text, s->max, "value", &u, err) < 0)
            return -1;
        *(unsigned *)(base + s->off) = (unsigned)u;
        return 0;
    case K_SIZE:
        if (number_text(v, text, sizeof text, err) < 0 ||
            rt_parse_size(text, s->max, "value", &u, err) < 0)
            return -1;
        *(uint64_t *)(base + s->off) = u;
        return 0;
    case K_DURATION0:
        if (number_text(v, text, sizeof text, err) < 0)
            return -1;
        if (strcmp(text, "0") != 0 && rt_parse_duration_ms(text, s->max, "value", &u, err) < 0)
            return -1;
        *(uint64_t *)(base + s->off) = u;
        return 0;
    }
    return rt_error_set(err, 0, "unknown setting kind");
}

static const struct setting *find_key(const char *key)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].key, key) == 0)
            return &settings[i];
    return NULL;
}

static int set_images(sd_config *c, const json_t *obj, rt_error *err)
{
    if (!json_is_object(obj))
        return rt_error_set(err, 0, "images: must be an object of name: rootfs directory");
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)obj, name, v) {
        const char *path = json_string_value(v);
        if (!path || path[0] != '/')
            return rt_error_set(err, 0, "images.%.60s: must be an absolute directory path", name);
        if (check_word(name, K_NAMES, err) < 0 || strcmp(name, "host") == 0)
            return rt_error_wrap(err, "images.%.60s: %s", name,
                                 strcmp(name, "host") == 0 ? "\"host\" is built in" : "name");
        sd_image *im = realloc(c->images, (c->n_images + 1) * sizeof *im);
        if (!im)
            return rt_error_set(err, ENOMEM, "images");
        c->images = im;
        im[c->n_images] = (sd_image){strdup(name), strdup(path)};
        if (!im[c->n_images].name || !im[c->n_images++].path)
            return rt_error_set(err, ENOMEM, "images");
    }
    return 0;
}

static int set_limits(sd_config *c, const json_t *obj, rt_error *err)
{
    if (!json_is_object(obj))
        return rt_error_set(err, 0, "limits: must be an object with \"max\"");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (strcmp(key, "max") != 0)
            return rt_error_set(err, 0, "limits.%.60s: unknown key (defaults come from the "
                                        "profile; only \"max\" is set here)", key);
        rt_spec tmp;
        rt_spec_init(&tmp);
        tmp.limits = c->max_limits;
        json_t *wrap = json_pack("{s:O}", "limits", v);
        int rc = rt_spec_settings_from_json(wrap, &tmp, err);
        json_decref(wrap);
        if (rc == 0)
            c->max_limits = tmp.limits;
        rt_spec_free(&tmp);
        if (rc < 0)
            return rt_error_wrap(err, "limits.max");
    }
    return 0;
}

/* "prices": what workflow steps cost; each key optional, a number >= 0. */
static int set_prices(sd_config *c, const json_t *obj, rt_error *err)
{
    static const struct { const char *key; size_t off; } keys[] = {
        {"usd_per_cpu_second", OFF(usd_per_cpu_second)},
        {"usd_per_gb_second", OFF(usd_per_gb_second)},
        {"usd_per_run", OFF(usd_per_run)},
    };
    if (!json_is_object(obj))
        return rt_error_set(err, 0, "prices: must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        size_t i = 0;
        while (i < sizeof keys / sizeof *keys && strcmp(key, keys[i].key) != 0)
            i++;
        if (i == sizeof keys / sizeof *keys)
            return rt_error_set(err, 0, "prices.%.60s: unknown key (usd_per_cpu_second, "
                                        "usd_per_gb_second, usd_per_run)", key);
        double d = json_number_value(v);
        if (!json_is_number(v) || !(d >= 0) || d > 1e6)
            return rt_error_set(err, 0, "prices.%s: must be a number of USD from 0 to 1e6",
                                key);
        *(double *)((char *)c + keys[i].off) = d;
    }
    return 0;
}

static int load_file(sd_config *c, const char *path, rt_error *err)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return rt_error_set(err, 0, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    int rc = 0;
    const char *key;
    json_t *v;
    if (!json_is_object(root)) {
        rc = rt_error_set(err, 0, "%s: the top level must be an object", path);
        goto out;
    }
    json_object_foreach(root, key, v) {
        const struct setting *s = find_key(key);
        if (s)
            rc = set_value(c, s, v, err) < 0 ? rt_error_wrap(err, "%s", key) : 0;
        else if (strcmp(key, "images") == 0)
            rc = set_images(c, v, err);
        else if (strcmp(key, "limits") == 0)
            rc = set_limits(c, v, err);
        else if (strcmp(key, "prices") == 0)
            rc = set_prices(c, v, err);
        else
            rc = rt_error_set(err, 0, "%s: unknown key", key);
        if (rc < 0) {
            rt_error_wrap(err, "%s", path);
            goto out;
        }
    }
out:
    json_decref(root);
    return rc;
}

static int set_text(sd_config *c, const struct setting *s, const char *text, rt_error *err)
{
    json_t *v = json_string(text);
    if (!v)
        return rt_error_set(err, 0, "not valid UTF-8");
    int rc = set_value(c, s, v, err);
    json_decref(v);
    return rc;
}

static int load_env(sd_config *c, rt_error *err)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *v = getenv(settings[i].env);
        if (v && set_text(c, &settings[i], v, err) < 0)
            return rt_error_wrap(err, "%s", settings[i].env);
    }
    return 0;
}

static unsigned cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static int set_defaults(sd_config *c, rt_error *err)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR"), *home = getenv("HOME");
    bool root = geteuid() == 0;
    char buf[4096];
    if (root)
        snprintf(buf, sizeof buf, "/var/lib/sandboxd");
    else if (getenv("XDG_STATE_HOME"))
        snprintf(buf, sizeof buf, "%s/sandboxd", getenv("XDG_STATE_HOME"));
    else
        snprintf(buf, sizeof buf, "%s/.local/state/sandboxd", home ? home : "/tmp");
    if (set_string(&c->state_dir, buf, err) < 0)
        return -1;
    if (root)
        snprintf(buf, sizeof buf, "/run/sandboxd/sandboxd.sock");
    else
        snprintf(buf, sizeof buf, "%s/sandboxd.sock", xdg ? xdg : c->state_dir);
    if (set_string(&c->socket_path, buf, err) < 0 ||
        set_string(&c->default_profile, "default", err) < 0 ||
        set_text(c, find_key("profiles"), "default,strict", err) < 0)
        return -1;
    c->max_running = 2 * cores();
    c->max_queue = 64;
    c->max_connections = 512;
    c->max_body_bytes = 4ull << 20;
    c->grace_ms = 10 * 1000;
    c->workspace_bytes = 256ull << 20;
    c->usd_per_cpu_second = ORCH_PRICE_CPU_SECOND;
    c->usd_per_gb_second = ORCH_PRICE_GB_SECOND;
    c->usd_per_run = ORCH_PRICE_RUN;
    c->max_limits = (rt_limits){
        .wall_ms = 5 * 60 * 1000, .cpu_ms = 5 * 60 * 1000, .memory_bytes = 2ull << 30,
        .pids = 1024, .output_bytes = 16ull << 20, .file_bytes = 1ull << 30,
        .open_files = 4096, .tmpfs_bytes = 1ull << 30, .cpus = (double)cores(),
    };
    return 0;
}

static const struct option *long_options(void)
{
    static struct option opts[N_SETTINGS + 5];
    size_t n = 0;
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (settings[i].flag)
            opts[n++] = (struct option){settings[i].flag, required_argument, NULL, (int)i + 1};
    opts[n++] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
    opts[n++] = (struct option){"check-config", no_argument, NULL, OPT_CHECK};
    opts[n++] = (struct option){"version", no_argument, NULL, OPT_VERSION};
    opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    opts[n] = (struct option){0};
    return opts;
}

/* Pass 1 finds --config and the mode flags; pass 2 (apply) sets the rest last. */
static int scan_flags(sd_config *c, int argc, char **argv, bool apply, bool *check_only,
                      bool *help, bool *version, rt_error *err)
{
    const struct option *opts = long_options();
    int opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (opt == '?' || opt == ':')
            return rt_error_set(err, 0, "%s: unknown option or missing value (see --help)",
                                argv[optind - 1]);
        if (opt == 'h')
            *help = true;
        else if (opt == OPT_VERSION)
            *version = true;
        else if (opt == OPT_CHECK)
            *check_only = true;
        else if (opt == OPT_CONFIG && !apply && set_string(&c->config_file, optarg, err) < 0)
            return -1;
        else if (opt > 0 && opt <= (int)N_SETTINGS && apply &&
                 set_text(c, &settings[opt - 1], optarg, err) < 0)
            return rt_error_wrap(err, "--%s", settings[opt - 1].flag);
    }
    if (optind < argc)
        return rt_error_set(err, 0, "unexpected argument \"%.80s\" (see --help)", argv[optind]);
    return 0;
}

static int check_final(const sd_config *c, rt_error *err)
{
    if (c->listen && c->n_tokens == 0)
        return rt_error_set(err, 0, "listen: TCP needs at least one bearer token (config "
                                    "\"tokens\" or SANDBOXD_TOKENS)");
    if (!c->listen && c->socket_path[0] == '\0')
        return rt_error_set(err, 0, "socket: disabled and no listen address: nothing to serve");
    if (c->socket_path[0] && c->socket_path[0] != '/' && strncmp(c->socket_path, "./", 2) != 0 &&
        strchr(c->socket_path, '/') == NULL)
        return rt_error_set(err, 0, "socket: \"%s\" is not a path", c->socket_path);
    if (!sd_config_profile_allowed(c, c->default_profile))
        return rt_error_set(err, 0, "default_profile: \"%s\" is not in profiles",
                            c->default_profile);
    return 0;
}

int sd_config_load(sd_config *c, int argc, char **argv, bool *check_only, bool *help,
                   bool *version, rt_error *err)
{
    *c = (sd_config){0};
    *check_only = *help = *version = false;
    if (set_defaults(c, err) < 0 ||
        scan_flags(c, argc, argv, false, check_only, help, version, err) < 0)
        goto fail;
    if (*help || *version)
        return 0;
    if (!c->config_file && getenv("SANDBOXD_CONFIG") &&
        set_string(&c->config_file, getenv("SANDBOXD_CONFIG"), err) < 0)
        goto fail;
    if ((c->config_file && load_file(c, c->config_file, err) < 0) || load_env(c, err) < 0 ||
        scan_flags(c, argc, argv, true, check_only, help, version, err) < 0 ||
        check_final(c, err) < 0)
        goto fail;
    return 0;
fail:
    sd_config_free(c);
    return -1;
}

void sd_config_free(sd_config *c)
{
    free(c->config_file);
    free(c->socket_path);
    free(c->listen);
    free(c->state_dir);
    free_list(c->tokens, c->n_tokens);
    free(c->languages_file);
    free_list(c->profiles, c->n_profiles);
    free(c->default_profile);
    for (size_t i = 0; i < c->n_images; i++) {
        free(c->images[i].name);
        free(c->images[i].path);
    }
    free(c->images);
    *c = (sd_config){0};
}

const sd_image *sd_config_image(const sd_config *c, const char *name)
{
    static const sd_image host = {"host", NULL};
    if (strcmp(name, "host") == 0)
        return &host;
    for (size_t i = 0; i < c->n_images; i++)
        if (strcmp(c->images[i].name, name) == 0)
            return &c->images[i];
    return NULL;
}

bool sd_config_profile_allowed(const sd_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_profiles; i++)
        if (strcmp(c->profiles[i], name) == 0)
            return true;
    return false;
}
