/*
 * client.h: the client side of the worker protocol, as the frx command
 * uses it.  Every call returns 0 on success and -1 on failure with
 * frx_errmsg() holding either the transport error or the daemon's own
 * error message (prefixed "frx-daemon: ").
 */
#ifndef FRX_CLIENT_H
#define FRX_CLIENT_H

#include <stdint.h>

#include "../lib/db.h"
#include "../lib/util.h"
#include "wire.h"

struct client {
	struct conn conn;
	uint64_t daemon_version;
	char *daemon_name;		/* handshake field 8 */
	/* Log lines from the daemon (build output, notices) go here; NULL
	 * means stderr. The line has no trailing newline. */
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
};

struct client_options {
	int keep_failed;
	int verbosity;			/* 0..7 */
	int max_jobs;			/* 0: as the daemon decides */
	int max_silent_time;		/* seconds, 0 = none */
	int timeout;			/* seconds, 0 = none */
	int cores;
	unsigned long long max_log_size;	/* bytes, 0 = none */
};

/* Connect, handshake and send SetOptions. */
int client_open(struct client *cl, const char *socket_path,
    const struct client_options *opts);
void client_close(struct client *cl);

/* 1 valid, 0 not valid, -1 error. */
int client_is_valid(struct client *cl, const char *path);
/* 1 found, 0 not valid, -1 error. */
int client_query_path_info(struct client *cl, const char *path,
    struct path_info *pi);

/* AddToStore text:sha256 (for builder scripts and .drv files). */
int client_add_text(struct client *cl, const char *name, const void *text,
    size_t len, const struct strv *refs, char **path);
/* AddToStore of a file or tree on the client's side: recursive = 1 gives a
 * fixed:r:sha256 (NAR) source path, 0 a flat fixed:sha256 path.  sent
 * (if not NULL) receives the sha256 of the bytes sent: the NAR, or the
 * file's contents. */
struct hash;
int client_add_path(struct client *cl, const char *name, const char *file,
    int recursive, char **path, struct hash *sent);

/* BuildPaths: items are "<drv>!<outputs>" or plain store paths.  Log
 * lines stream through cl->log while the build runs. */
int client_build(struct client *cl, const struct strv *items, int mode);

/* QueryDerivationOutputMap. */
int client_drv_outputs(struct client *cl, const char *drv,
    struct strv *names, struct strv *paths);

/* frx extension: the latest build record of drv, as key=value lines. */
int client_build_record(struct client *cl, const char *drv, char **text);

#endif
