/*
 * session.h: helpers shared by the files that implement worker-protocol
 * operations (session.c, ops-store.c).
 */
#ifndef FRX_SESSION_H
#define FRX_SESSION_H

#include "daemon.h"

/* An operation's return value when its arguments could not be read: the
 * stream position is lost, so the session ends after the error. */
#define ARGS_FAILED -2

/* Open the work window (log lines may flow) after the arguments. */
int work_start(struct session *s);
/* STDERR_LAST: the reply follows. */
int work_done(struct session *s);
/* Read a store path argument: ARGS_FAILED, or -1 if it is not a valid
 * store path name (the session goes on). */
int read_path(struct session *s, char **path);
int read_path_arg(struct session *s, char **path, int *bad);
int read_paths_checked(struct session *s, struct strv *out, int *bad);
/* ValidPathInfo without the path, in the negotiated layout. */
int write_path_info(struct session *s, const struct path_info *pi);
/*
 * A .drv entering the store (file holds it) must name the output paths
 * its contents imply, as Nix checks when it registers a derivation;
 * otherwise a client could make a derivation claim any existing path as
 * its output.  Its input derivations are references, hence valid.
 */
int check_drv_file(struct session *s, const char *path, const char *file);
/* The hash of the object at path as a content address sees it: of its
 * NAR (recursive) or of the bytes of a regular file (flat, text). */
int content_hash(const char *path, int recursive, enum hash_algo algo,
    struct hash *h);
/* A temporary name inside the store directory (swept at start-up). */
char *store_tmp_name(void);
/* msg without a leading "<tmp>: ", which means nothing to the client. */
const char *without_tmp_name(const char *msg, const char *tmp);
/* Does the store path (or name) end in ".drv"? */
int store_path_is_drv(const char *path);

int op_add_to_store_nar(struct session *s);
int op_add_multiple_to_store(struct session *s);
int op_export_path(struct session *s);
int op_verify_store(struct session *s);
int op_find_roots(struct session *s);
int op_collect_garbage(struct session *s);
int op_build_paths_with_results(struct session *s);
int op_unsupported_after_args(struct session *s, uint64_t op);

#endif
