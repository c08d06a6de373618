#include "exec_opts.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spec_json.h"
#include "cleanup.h"
#include "parse.h"

const char sbx_exec_usage[] =
    "usage: sbx exec [OPTIONS] -- CMD [ARG...]\n"
    "       sbx exec [OPTIONS] --language LANG --code FILE|-\n"
    "\n"
    "Runs CMD (or a piece of code) in a sandbox of the sandboxd daemon and behaves\n"
    "like sbx run: output passes through as it happens, the exit code is CMD's\n"
    "(128+N when killed by signal N, 124 on timeout, 125 when the sandbox or the\n"
    "daemon failed, 2 for bad options).\n"
    "\n"
    "Daemon:\n"
    "  --socket PATH        its Unix socket [$SANDBOXD_SOCKET, else\n"
    "                       /run/sandboxd/sandboxd.sock for root, else\n"
    "                       $XDG_RUNTIME_DIR/sandboxd.sock]\n"
    "  --url URL            a daemon on TCP, e.g. http://127.0.0.1:8080 [$SANDBOXD_URL,\n"
    "                       which wins over the socket's defaults]\n"
    "  --token T            sent as \"Authorization: Bearer T\" [$SANDBOXD_TOKEN]\n"
    "What to run:\n"
    "  --language LANG      the language of --code, e.g. python\n"
    "  --code FILE|-        run the code in FILE (or sbx's stdin) instead of a command\n"
    "  --profile NAME       a sandbox profile of the daemon [the daemon's default]\n"
    "  --image NAME         an image of the daemon [host]\n"
    "Limits (the daemon's profile applies to those not given):\n"
    "  --timeout DUR        wall-clock time\n"
    "  --cpu-time DUR       CPU time of the whole process tree\n"
    "  --memory SIZE        memory, no swap beyond it\n"
    "  --pids N             processes and threads at once\n"
    "  --cpus N             CPU share in cores, e.g. 0.5\n"
    "  --output-limit SIZE  each of stdout and stderr; beyond it the run ends\n"
    "  --file-size SIZE     largest file a process may write\n"
    "  --open-files N       open files per process\n"
    "  --tmpfs-size SIZE    size of /tmp and /dev/shm\n"
    "Process:\n"
    "  --env K=V            set a variable (the caller's environment is not passed)\n"
    "  --workdir DIR        working directory inside the sandbox [/workspace]\n"
    "  --stdin FILE|-       send FILE (or sbx's own stdin) as stdin [empty]\n"
    "  --file NAME=HOSTPATH send a host file as /workspace/NAME (executable when it\n"
    "                       is on the host)\n"
    "Output:\n"
    "  --no-stream          take the output at the end instead of as it happens\n"
    "  --json               print the result object (with the daemon's id and\n"
    "                       timings) instead of passing output through\n"
    "  -h, --help           this text\n"
    "\n"
    "--bind, --ro-bind, --tmpfs, --workspace and --seccomp are refused: the daemon\n"
    "never uses the client's paths. SIZE: bytes with an optional k, m or g suffix\n"
    "(1k = 1024). DUR: a number with ms, s or m (a bare number is seconds).\n";

enum {
    OPT_LIMIT = 256,           /* OPT_LIMIT + index in limit_opts */
    OPT_SOCKET = 512, OPT_URL, OPT_TOKEN, OPT_LANGUAGE, OPT_CODE, OPT_PROFILE, OPT_IMAGE,
    OPT_ENV, OPT_WORKDIR, OPT_STDIN, OPT_FILE, OPT_JSON, OPT_NO_STREAM, OPT_HOST_PATH,
};

enum limit_kind { DURATION, SIZE, COUNT, CPUS };

/* Each limit option, its key in the request's "limits" and where the parsed
 * value goes in rt_limits. */
static const struct limit_opt {
    const char *opt;
    const char *key;
    enum limit_kind kind;
    uint64_t max;
    size_t offset;
} limit_opts[] = {
    {"timeout", "timeout", DURATION, RT_MAX_WALL_MS, offsetof(rt_limits, wall_ms)},
    {"cpu-time", "cpu_time", DURATION, RT_MAX_WALL_MS, offsetof(rt_limits, cpu_ms)},
    {"memory", "memory", SIZE, RT_MAX_BYTES, offsetof(rt_limits, memory_bytes)},
    {"pids", "pids", COUNT, RT_MAX_PIDS, offsetof(rt_limits, pids)},
    {"output-limit", "output", SIZE, RT_MAX_BYTES, offsetof(rt_limits, output_bytes)},
    {"file-size", "file_size", SIZE, RT_MAX_BYTES, offsetof(rt_limits, file_bytes)},
    {"open-files", "open_files", COUNT, RT_MAX_OPEN_FILES, offsetof(rt_limits, open_files)},
    {"tmpfs-size", "tmpfs", SIZE, RT_MAX_BYTES, offsetof(rt_limits, tmpfs_bytes)},
    {"cpus", "cpus", CPUS, 0, offsetof(rt_limits, cpus)},
};
#define N_LIMITS (sizeof limit_opts / sizeof limit_opts[0])

/* The limits first, in limit_opts' order. */
static const struct option long_opts[] = {
    {"timeout", required_argument, NULL, OPT_LIMIT + 0},
    {"cpu-time", required_argument, NULL, OPT_LIMIT + 1},
    {"memory", required_argument, NULL, OPT_LIMIT + 2},
    {"pids", required_argument, NULL, OPT_LIMIT + 3},
    {"output-limit", required_argument, NULL, OPT_LIMIT + 4},
    {"file-size", required_argument, NULL, OPT_LIMIT + 5},
    {"open-files", required_argument, NULL, OPT_LIMIT + 6},
    {"tmpfs-size", required_argument, NULL, OPT_LIMIT + 7},
    {"cpus", required_argument, NULL, OPT_LIMIT + 8},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"url", required_argument, NULL, OPT_URL},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"language", required_argument, NULL, OPT_LANGUAGE},
    {"code", required_argument, NULL, OPT_CODE},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {"image", required_argument, NULL, OPT_IMAGE},
    {"env", required_argument, NULL, OPT_ENV},
    {"workdir", required_argument, NULL, OPT_WORKDIR},
    {"stdin", required_argument, NULL, OPT_STDIN},
    {"file", required_argument, NULL, OPT_FILE},
    {"json", no_argument, NULL, OPT_JSON},
    {"no-stream", no_argument, NULL, OPT_NO_STREAM},
    /* sbx run's options that name host paths: refused with a reason. */
    {"bind", required_argument, NULL, OPT_HOST_PATH},
    {"ro-bind", required_argument, NULL, OPT_HOST_PATH},
    {"tmpfs", required_argument, NULL, OPT_HOST_PATH},
    {"workspace", required_argument, NULL, OPT_HOST_PATH},
    {"seccomp", required_argument, NULL, OPT_HOST_PATH},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* What the options say, before any file is read. Strings point into argv. */
struct raw {
    const char *limit[N_LIMITS];
    const char *socket, *url, *token, *language, *code, *profile, *image, *workdir, *stdin_path;
    const char **files;        /* NAME=HOSTPATH, n_files of them */
    size_t n_files;
    int first_word;            /* argv index of the command */
    json_t *env;               /* built as the options come: later K= wins */
};

/* NULL when s is not valid UTF-8 (or memory ran out). */
static json_t *text_json(const char *s, size_t len)
{
    return json_stringn(s, len);
}

/* Object keys must be UTF-8 too. */
static bool is_text(const char *s)
{
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

static int set_key(json_t *obj, const char *key, json_t *v, const char *what, rt_error *err)
{
    if (!v)
        return rt_error_set(err, 0, "%s: not valid UTF-8", what);
    if (json_object_set_new(obj, key, v) < 0)
        return rt_error_set(err, ENOMEM, "%s", what);
    return 0;
}

static int parse_limit(size_t i, const char *val, rt_limits *asked, rt_error *err)
{
    const struct limit_opt *l = &limit_opts[i];
    char what[32];
    uint64_t n;
    snprintf(what, sizeof what, "--%s", l->opt);
    if (l->kind == CPUS)
        return rt_parse_positive_double(val, RT_MAX_CPUS, what, &asked->cpus, err);
    int rc = l->kind == DURATION ? rt_parse_duration_ms(val, l->max, what, &n, err)
           : l->kind == SIZE     ? rt_parse_size(val, l->max, what, &n, err)
                                 : rt_parse_count(val, l->max, what, &n, err);
    if (rc == 0)
        memcpy((char *)asked + l->offset, &n, sizeof n);
    return rc;
}

static int add_env(json_t *env, const char *kv, rt_error *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return rt_error_set(err, 0, "--env: \"%s\" is not K=V", kv);
    cleanup_free char *key = strndup(kv, (size_t)(eq - kv));
    if (!key)
        return rt_error_set(err, errno, "--env");
    if (!is_text(key))
        return rt_error_set(err, 0, "--env: \"%s\" is not valid UTF-8", kv);
    return set_key(env, key, text_json(eq + 1, strlen(eq + 1)), "--env", err);
}

/* The options that keep their value as it is. */
static const char **string_slot(struct raw *r, int c)
{
    switch (c) {
    case OPT_SOCKET: return &r->socket;
    case OPT_URL: return &r->url;
    case OPT_TOKEN: return &r->token;
    case OPT_LANGUAGE: return &r->language;
    case OPT_CODE: return &r->code;
    case OPT_PROFILE: return &r->profile;
    case OPT_IMAGE: return &r->image;
    case OPT_WORKDIR: return &r->workdir;
    case OPT_STDIN: return &r->stdin_path;
    }
    return NULL;
}

static int parse_one(struct raw *r, sbx_exec_opts *o, int c, const char *val, const char *opt,
                     rt_error *err)
{
    const char **slot = string_slot(r, c);
    if (slot) {
        *slot = val;
        return *val ? 0 : rt_error_set(err, 0, "%s: must not be empty", opt);
    }
    if (c >= OPT_LIMIT && c < OPT_LIMIT + (int)N_LIMITS) {
        r->limit[c - OPT_LIMIT] = val;
        return parse_limit((size_t)(c - OPT_LIMIT), val, &o->asked, err);
    }
    switch (c) {
    case OPT_FILE: r->files[r->n_files++] = val; return 0;
    case OPT_ENV: return add_env(r->env, val, err);
    case OPT_JSON: o->json = true; return 0;
    case OPT_NO_STREAM: o->stream = false; return 0;
    case OPT_HOST_PATH:
        return rt_error_set(err, 0, "%s: not available through the daemon, which never uses "
                                    "the client's paths (send files with --file NAME=HOSTPATH)",
                            opt);
    }
    return rt_error_set(err, 0, "%s: unknown option or missing value (see sbx exec --help)", opt);
}

static int scan(int argc, char **argv, struct raw *r, sbx_exec_opts *o, rt_error *err)
{
    optind = 0;                /* GNU: start over, also when called again (tests) */
    opterr = 0;
    int c, idx;
    while ((c = getopt_long(argc, argv, "+h", long_opts, &idx)) != -1) {
        if (c == 'h') {
            o->help = true;    /* the usage is all that is wanted */
            return 0;
        }
        /* The option as typed, for messages. */
        char opt[128];
        if (c != '?')
            snprintf(opt, sizeof opt, "--%s", long_opts[idx].name);
        else if (optopt > 0 && optopt < OPT_LIMIT)   /* a short option */
            snprintf(opt, sizeof opt, "-%c", optopt);
        else
            snprintf(opt, sizeof opt, "%.100s", argv[optind - 1]);
        if (parse_one(r, o, c, optarg, opt, err) < 0)
            return -1;
    }
    r->first_word = optind;
    return 0;
}

/* Reads all of path ("-" is our stdin when dash_is_stdin) up to the input cap;
 * executable, when wanted, tells whether it is an executable file. */
static int slurp(const char *opt, const char *path, bool dash_is_stdin, char **data,
                 size_t *len, bool *executable, rt_error *err)
{
    bool is_stdin = dash_is_stdin && strcmp(path, "-") == 0;
    cleanup_close int own = is_stdin ? -1 : open(path, O_RDONLY | O_CLOEXEC);
    int fd = is_stdin ? 0 : own;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return rt_error_set(err, errno, "%s %s", opt, path);
    if (S_ISDIR(st.st_mode))
        return rt_error_set(err, 0, "%s %s: is a directory", opt, path);
    if (executable)
        *executable = S_ISREG(st.st_mode) && (st.st_mode & 0111);
    cleanup_free char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64 * 1024;
            char *more = realloc(buf, cap + 1);
            if (!more)
                return rt_error_set(err, errno, "%s %s", opt, path);
            buf = more;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return rt_error_set(err, errno, "%s %s", opt, path);
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > SBX_EXEC_MAX_INPUT)
            return rt_error_set(err, 0, "%s %s: larger than the %u MiB sbx exec sends", opt,
                                path, SBX_EXEC_MAX_INPUT >> 20);
    }
    buf[n] = '\0';
    *data = steal_pointer(&buf);
    *len = n;
    return 0;
}

/* Text as a JSON string; bytes that are not UTF-8 or hold NUL as base64 (the
 * daemon's contract), with *base64 set. NULL when out of memory. */
static json_t *bytes_json(const char *data, size_t len, bool *base64)
{
    json_t *t = memchr(data, '\0', len) ? NULL : text_json(data, len);
    *base64 = !t;
    if (t)
        return t;
    cleanup_free char *b = rt_base64_encode(data, len);
    return b ? json_string(b) : NULL;
}

static int add_stdin(json_t *req, const char *path, rt_error *err)
{
    cleanup_free char *data = NULL;
    size_t len;
    bool b64;
    if (slurp("--stdin", path, true, &data, &len, NULL, err) < 0)
        return -1;
    if (set_key(req, "stdin", bytes_json(data, len, &b64), "--stdin", err) < 0)
        return -1;
    return b64 ? set_key(req, "stdin_encoding", json_string("base64"), "--stdin", err) : 0;
}

/* "content" as text, or {"content": base64, "encoding": "base64"} when the
 * bytes are not text, plus "executable": true when the host file is. */
static json_t *file_json(const char *data, size_t len, bool executable)
{
    bool b64;
    json_t *content = bytes_json(data, len, &b64);
    if (!content || (!b64 && !executable))
        return content;
    json_t *o = json_object();
    int rc = json_object_set_new(o, "content", content);
    if (b64)
        rc |= json_object_set_new(o, "encoding", json_string("base64"));
    if (executable)
        rc |= json_object_set_new(o, "executable", json_true());
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int add_file(json_t *files, const char *arg, rt_error *err)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1])
        return rt_error_set(err, 0, "--file: \"%s\" is not NAME=HOSTPATH", arg);
    cleanup_free char *name = strndup(arg, (size_t)(eq - arg));
    cleanup_free char *data = NULL;
    size_t len;
    bool exec;
    if (!name)
        return rt_error_set(err, errno, "--file");
    if (json_object_get(files, name))
        return rt_error_set(err, 0, "--file: %s given twice", name);
    if (!is_text(name))
        return rt_error_set(err, 0, "--file: name \"%s\" is not valid UTF-8", name);
    if (slurp("--file", eq + 1, false, &data, &len, &exec, err) < 0)
        return -1;
    return set_key(files, name, file_json(data, len, exec), "--file", err);
}

/* {"command": [...]} from the words after the options, or {"code", "language"}. */
static int add_program(json_t *req, const struct raw *r, int argc, char **argv, rt_error *err)
{
    if (r->code && r->first_word < argc)
        return rt_error_set(err, 0, "--code: give either code or a command, not both");
    if (!r->code != !r->language)
        return rt_error_set(err, 0, "%s", r->code ? "--code: needs --language"
                                                  : "--language: needs --code");
    if (r->code && r->stdin_path && strcmp(r->code, "-") == 0 && strcmp(r->stdin_path, "-") == 0)
        return rt_error_set(err, 0, "--code - and --stdin -: both would read sbx's stdin; "
                                    "give one of them a file");
    if (!r->code && r->first_word >= argc)
        return rt_error_set(err, 0, "no command given (usage: sbx exec [OPTIONS] -- CMD [ARG...] "
                                    "or sbx exec [OPTIONS] --language LANG --code FILE|-)");
    if (r->code) {
        cleanup_free char *code = NULL;
        size_t len;
        if (slurp("--code", r->code, true, &code, &len, NULL, err) < 0)
            return -1;
        json_t *t = memchr(code, '\0', len) ? NULL : text_json(code, len);
        return set_key(req, "code", t, "--code", err) < 0 ? -1
             : set_key(req, "language", json_string(r->language), "--language", err);
    }
    json_t *cmd = json_array();
    if (set_key(req, "command", cmd, "command", err) < 0)
        return -1;
    for (int i = r->first_word; i < argc; i++)
        if (json_array_append_new(cmd, json_string(argv[i])) < 0)
            return rt_error_set(err, 0, "command: argument %d is not valid UTF-8",
                                i - r->first_word + 1);
    return 0;
}

static int add_limits(json_t *req, const struct raw *r, rt_error *err)
{
    json_t *limits = json_object();
    if (set_key(req, "limits", limits, "limits", err) < 0)
        return -1;
    for (size_t i = 0; i < N_LIMITS; i++)
        if (r->limit[i] &&
            set_key(limits, limit_opts[i].key, json_string(r->limit[i]), limit_opts[i].opt,
                    err) < 0)
            return -1;
    /* Only the limits given: the daemon's profile sets the rest. */
    if (!json_object_size(limits))
        json_object_del(req, "limits");
    return 0;
}

static int add_string(json_t *req, const char *key, const char *val, const char *opt,
                      rt_error *err)
{
    return val ? set_key(req, key, json_string(val), opt, err) : 0;
}

/* Keys go in a fixed order so that a request reads the same however the
 * options were ordered. */
static int build_request(json_t *req, const struct raw *r, int argc, char **argv, bool stream,
                         rt_error *err)
{
    if (add_program(req, r, argc, argv, err) < 0 ||
        (r->stdin_path && add_stdin(req, r->stdin_path, err) < 0))
        return -1;
    if (json_object_size(r->env) && set_key(req, "env", json_incref(r->env), "--env", err) < 0)
        return -1;
    if (add_string(req, "cwd", r->workdir, "--workdir", err) < 0)
        return -1;
    if (r->n_files) {
        json_t *files = json_object();
        if (set_key(req, "files", files, "--file", err) < 0)
            return -1;
        for (size_t i = 0; i < r->n_files; i++)
            if (add_file(files, r->files[i], err) < 0)
                return -1;
    }
    if (add_limits(req, r, err) < 0 ||
        add_string(req, "profile", r->profile, "--profile", err) < 0 ||
        add_string(req, "image", r->image, "--image", err) < 0)
        return -1;
    return set_key(req, "stream", json_boolean(stream), "stream", err);
}

static int dup_to(char **dst, const char *val, const char *what, rt_error *err)
{
    if (!(*dst = strdup(val)))
        return rt_error_set(err, errno, "%s", what);
    return 0;
}

static const char *env_value(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int sbx_exec_default_socket(uid_t euid, char **out, rt_error *err)
{
    const char *s = env_value("SANDBOXD_SOCKET");
    const char *xdg = env_value("XDG_RUNTIME_DIR");
    if (s)
        return dup_to(out, s, "$SANDBOXD_SOCKET", err);
    if (euid == 0)
        return dup_to(out, "/run/sandboxd/sandboxd.sock", "socket", err);
    if (!xdg)
        return rt_error_set(err, 0, "no daemon socket: $XDG_RUNTIME_DIR is not set (give "
                                    "--socket PATH or --url URL)");
    if (asprintf(out, "%s/sandboxd.sock", xdg) < 0) {
        *out = NULL;
        return rt_error_set(err, ENOMEM, "socket");
    }
    return 0;
}

int sbx_daemon_resolve(const char *socket, const char *url, const char *token, char **socket_out,
                       char **url_out, char **token_out, rt_error *err)
{
    const char *u = url ? url : socket ? NULL : env_value("SANDBOXD_URL");
    const char *t = token ? token : env_value("SANDBOXD_TOKEN");
    if (socket && url)
        return rt_error_set(err, 0, "--socket and --url: give one of them");
    /* It goes into a header line. */
    for (const char *c = t; c && *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return rt_error_set(err, 0, "%s: holds a control character",
                                token ? "--token" : "$SANDBOXD_TOKEN");
    if (t && dup_to(token_out, t, "--token", err) < 0)
        return -1;
    if (socket)
        return dup_to(socket_out, socket, "--socket", err);
    if (!u)
        return sbx_exec_default_socket(geteuid(), socket_out, err);
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return rt_error_set(err, 0, "%s: \"%s\" is not an http:// or https:// URL",
                            url ? "--url" : "$SANDBOXD_URL", u);
    return dup_to(url_out, u, "--url", err);
}

const char *sbx_daemon_connect_hint(long os_errno)
{
    switch (os_errno) {
    case ENOENT:
        return "no socket there: sandboxd is not running, or listens elsewhere "
               "(--socket, $SANDBOXD_SOCKET, --url)";
    case ECONNREFUSED:
        return "sandboxd is not running there";
    case EACCES:
    case EPERM:
        return "sandboxd is running, but this user may not use its socket";
    default:
        return "is sandboxd running?";
    }
}

int sbx_exec_parse(int argc, char **argv, sbx_exec_opts *o, rt_error *err)
{
    *o = (sbx_exec_opts){.stream = true};
    cleanup_free const char **files = calloc((size_t)argc, sizeof *files);
    struct raw r = {.files = files, .env = json_object()};
    o->request = json_object();
    int rc = !files || !r.env || !o->request ? rt_error_set(err, ENOMEM, "options")
                                             : scan(argc, argv, &r, o, err);
    if (rc == 0 && !o->help) {
        o->stream = o->stream && !o->json;
        rc = build_request(o->request, &r, argc, argv, o->stream, err);
        if (rc == 0)
            rc = sbx_daemon_resolve(r.socket, r.url, r.token, &o->socket, &o->url, &o->token,
                                    err);
    }
    json_decref(r.env);
    return rc;
}

void sbx_exec_opts_free(sbx_exec_opts *o)
{
    free(o->socket);
    free(o->url);
    free(o->token);
    json_decref(o->request);
    *o = (sbx_exec_opts){0};
}
