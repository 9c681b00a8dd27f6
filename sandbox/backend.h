/*
 * backend.h: what the OS backends (linux.c, freebsd.c) share.  Not part of
 * the sandbox interface: only backends include it.
 *
 * The status protocol: the builder process, once it has dropped its
 * privileges and just before exec, writes "ok <uid> <gid> <hostname>\n"
 * to a close-on-exec pipe; any process of the set-up that fails writes
 * its error message there instead and exits 127.  The daemon side reads
 * the pipe to its end: an "ok" line and nothing after it means the
 * builder is running.
 */
#ifndef FRX_SANDBOX_BACKEND_H
#define FRX_SANDBOX_BACKEND_H

#include <sys/types.h>

#include "../lib/util.h"
#include "sandbox.h"

#define SB_STATUS_MAX 4096

/* Write frx_errmsg() to the status pipe and _exit(127). */
void sb_child_fail(int fd) __attribute__((noreturn));
/* Write the "ok" line with what this process sees of itself. */
int sb_report_ok(int fd);
/* Read the status pipe to its end (keeping at most SB_STATUS_MAX). */
int sb_read_status(int fd, struct buf *b);
/* Parse a lone "ok" line; -1 if the text is anything else. */
int sb_parse_ok(const char *text, uid_t *uid, gid_t *gid, char **host);
/* The error a failed start reported; who names the process that died
 * without saying anything ("init", "builder"). */
int sb_status_error(struct buf *status, const char *who);
/* Resource limits of the builder, set while still root: the number of
 * processes of the build user (a fork bomb stops there), no core files. */
int sb_set_limits(const struct sandbox_spec *s);
/* Refuse an incomplete spec and a build as root. */
int sb_check_spec(const struct sandbox_spec *s);

/* Create the missing parents of full (root + target; rlen is the length
 * of root) without passing through a symlink: an absolute link would
 * lead out of the new root. */
int sb_make_parents(const char *full, size_t rlen, const char *target);
/* An empty directory or file to mount on. */
int sb_make_mount_point(const char *path, int dir);
/* PLAN_DIR and PLAN_FILE entries: created, owned and moded as planned. */
int sb_make_dir(const struct plan_entry *e, const char *path);
int sb_make_file(const struct plan_entry *e, const char *path);
/* A root made for a stand-in user given its real one (see await_user in
 * sandbox.h): the files and the directories' owners and modes of plan,
 * made for the real user, written again under root ("" from inside
 * the sandbox).  Refuses an entry below a mount of the plan: only what
 * the plan itself made is written. */
int sb_apply_user(const char *root, const struct sandbox_plan *plan);
/* Give the host directory that the plan binds at spec->cwd (the build
 * directory) to uid:gid. */
int sb_give_cwd(const struct sandbox_spec *spec, uid_t uid, gid_t gid);

#endif
