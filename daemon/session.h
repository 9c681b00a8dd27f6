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
/* A temporary name inside the store directory (swept at start-up). */
char *store_tmp_name(void);

int op_add_to_store_nar(struct session *s);
int op_verify_store(struct session *s);
int op_find_roots(struct session *s);
int op_collect_garbage(struct session *s);
int op_build_paths_with_results(struct session *s);
int op_unsupported_after_args(struct session *s, uint64_t op);

#endif
