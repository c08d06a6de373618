/* The one JSON encoder/decoder for the spec and the result (jansson), shared
 * by the CLI's --json, the HTTP API and workflow steps.
 *
 * Spec:
 *   {"command": ["python3", "-c", "print(1)"],
 *    "env": {"LANG": "C.UTF-8"}, "cwd": "/workspace",
 *    "stdin": "text", "stdin_encoding": "utf-8" | "base64",
 *    "image": "host" | "/rootfs/dir", "workspace": "/host/dir" | "tmpfs",
 *    "files": {"main.py": "print(1)",
 *              "bin/run": {"content": "IyEvYmluL3NoCg==", "encoding": "base64",
 *                          "executable": true}},
 *    "mounts": [{"type": "bind" | "ro-bind" | "tmpfs",
 *                "source": "/host/path", "target": "/in/sandbox", "size": "64m"}],
 *    "network": "none", "profile": "default",
 *    "limits": {"timeout": "10s", "cpu_time": 5000, "memory": "256m", "pids": 64,
 *               "output": "1m", "file_size": "64m", "open_files": 256,
 *               "tmpfs": "64m", "cpus": 0.5}}
 * "profile" is carried as a name only: rt_spec_from_json does not load it, and
 * a spec without a loaded profile runs with no seccomp filter. Whoever accepts
 * a spec (sbx, the daemon) resolves the name with rt_profile_load and
 * rt_profile_apply first, and refuses the spec when that fails.
 * "workspace": "tmpfs" makes /workspace a fresh tmpfs of limits.tmpfs bytes
 * owned by the sandbox user; any other value is an absolute host directory
 * bound there. "files" (which imply the tmpfs, and cannot go with a host
 * directory) are written into it before the command starts: each key a path
 * relative to /workspace, each value the text (UTF-8) or an object with
 * "content", "encoding" ("utf-8", the default, or "base64") and "executable"
 * (mode 0755 instead of 0644). Messages name a file as files["a/b.py"], and a
 * key of it as files["a/b.py"].encoding. The encoder writes a file as its
 * text when that is UTF-8 without NUL, else as base64, in the object form when
 * base64 or executable.
 * Sizes are an integer (bytes) or a string with a suffix ("256m"); durations
 * an integer (ms) or a string ("10s", "250ms"); counts an integer or a string
 * of digits; cpus a number or a string. Unknown keys are refused. stdin_file
 * has no JSON form: it names a file on the caller's host, so a client sends
 * the bytes as "stdin" instead.
 *
 * Result: the shape in docs (status, exit_code, signal, signal_name, stdout,
 * stderr, *_truncated, usage, limits_enforced, setup_ms, error, syscall). Output
 * that is not valid UTF-8, or mostly control bytes (see rt_bytes_to_json), travels
 * as base64 with "stdout_encoding": "base64".
 *
 * Text holding NUL bytes (stdin, output) is encoded as \u0000; decode request
 * and result bodies with json_loads(..., JSON_ALLOW_NUL, ...) or jansson refuses
 * them. NUL is refused in commands, env and paths (file contents may hold it). */
#ifndef SBX_RUNTIME_SPEC_JSON_H
#define SBX_RUNTIME_SPEC_JSON_H

#include <jansson.h>

#include "cgroup.h"
#include "error.h"
#include "result.h"
#include "spec.h"

/* Fills spec (which it initializes; any old content is not freed) from defaults
 * and obj, then validates it. On failure the message names the JSON path
 * ("limits.memory: ...") and spec is left empty. */
int rt_spec_from_json(const json_t *obj, rt_spec *spec, rt_error *err);

/* Reads the keys a sandbox profile shares with the spec (network, mounts,
 * limits) over what spec holds; mounts are appended. Messages name the path. */
int rt_spec_settings_from_json(const json_t *obj, rt_spec *spec, rt_error *err);

/* The inverse, limits as integers (bytes, ms). NULL when out of memory or when
 * a string other than stdin is not valid UTF-8. */
json_t *rt_spec_to_json(const rt_spec *spec);

/* NULL only when out of memory. */
json_t *rt_result_to_json(const rt_result *r);

/* What cgroup detection found, as `sbx info --json` and GET /v1/info show it:
 * version, controllers, swap_limit, writable, pool, note. NULL when out of
 * memory. */
json_t *rt_cgroup_info_to_json(const rt_cgroup_info *ci);

/* The inverse; initializes r. Keys it does not know (such as "cost", added by
 * the daemon) are ignored so that older clients read newer results; known keys
 * of the wrong type are refused. On failure r is left empty. */
int rt_result_from_json(const json_t *obj, rt_result *r, rt_error *err);

/* Bytes as a JSON string when they are valid UTF-8 (NULs allowed) and escaping
 * them costs no more than base64 would, else as base64 with *base64 set: the
 * encoding every output in the API uses (so an answer is at most about 4/3 of
 * the output). NULL only when out of memory. */
json_t *rt_bytes_to_json(const char *data, size_t n, bool *base64);

/* "an object", "an integer", "a string"...: for messages about wrong types. */
const char *rt_json_type_name(const json_t *v);

/* Base64 (RFC 4648, padded). Encode: a malloc'd NUL-terminated string, NULL when
 * out of memory. Decode: strict (padding required, no whitespace); out holds
 * len / 4 * 3 bytes; -1 when s is not valid base64. */
char *rt_base64_encode(const void *data, size_t n);
int rt_base64_decode(const char *s, size_t len, void *out, size_t *out_len);

#endif
