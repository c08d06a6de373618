/* Prepared roots: the directories, symlinks, small files and mount points of a
 * sandbox's root, written once to a directory under /var/lib/sandboxd/root and
 * bound read-only as the root of every sandbox with the same layout, instead
 * of a tmpfs filled on every run (its files are written, then freed again when
 * the sandbox ends). Named by a hash of the content, so a change on the host (a
 * new ld.so.cache) makes a new one; a template not used for longer than the
 * longest run can last is removed when a new one is made. */
#ifndef SBX_RUNTIME_ROOTTPL_H
#define SBX_RUNTIME_ROOTTPL_H

#include <stddef.h>

#define RT_ROOTTPL_PARENT "/var/lib/sandboxd/root"

enum rt_tpl_kind { RT_TPL_DIR, RT_TPL_FILE, RT_TPL_SYMLINK };

struct rt_tpl_entry {
    enum rt_tpl_kind kind;
    const char *path;          /* relative, no leading '/'; parents are made */
    const char *data;          /* file content or link target */
    size_t len;                /* of a file's content */
};

/* As root: the template with exactly these entries (dirs 0755, files 0644, all
 * owned by RT_HOST_ROOT_UID, the sandbox root's host id), made when missing.
 * Writes its path to out and returns 0; -1 when there is none to be had (not
 * root, /var/lib/sandboxd unusable): the caller builds the root itself. */
int rt_root_template(const struct rt_tpl_entry *entries, size_t n, char *out, size_t size);

#endif
