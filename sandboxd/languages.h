/* Languages for `code` requests, defined in a data file (languages.json): the
 * file the code is written to in /workspace, the command that runs it, the
 * program it needs, and limits of its own. Format in docs/api.md. */
#ifndef SBX_SANDBOXD_LANGUAGES_H
#define SBX_SANDBOXD_LANGUAGES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

typedef struct sd_language {
    char *name;
    char *description;
    char *file;                /* where the code goes, relative to /workspace */
    char **command;            /* NULL-terminated argv */
    char *requires;            /* program looked up in the host image's PATH */
    bool available;            /* `requires` is installed here */
    json_t *limits;            /* spec "limits" object, or NULL */
} sd_language;

typedef struct sd_languages {
    sd_language *v;
    size_t n;
    char *path;                /* the file they came from */
} sd_languages;

/* path NULL: the first languages.json in /etc/sandboxd, next to the executable
 * (../sandboxd, ../share/sandboxd) and the install prefix. Messages name the
 * file and the JSON path. */
int sd_languages_load(const char *path, sd_languages *out, rt_error *err);
void sd_languages_free(sd_languages *l);
const sd_language *sd_languages_find(const sd_languages *l, const char *name);
/* [{"name", "description", "file", "command", "available", "limits"}...] */
json_t *sd_languages_json(const sd_languages *l);

#endif
