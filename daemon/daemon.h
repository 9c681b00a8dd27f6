/*
 * daemon.h: what the parts of frx-daemon share.
 *
 * Process model: the listener accepts connections and forks one session
 * process per client, as Nix and Guix do, so that a parser bug or a crash
 * ends one session and never the daemon.  A session runs its builds
 * itself; builds of the same output by two sessions are serialised by lock
 * files, and build users are handed out through lock files too, so the
 * sessions need no shared memory.
 */
#ifndef FRX_DAEMON_H
#define FRX_DAEMON_H

#include <stdint.h>
#include <sys/types.h>

#include "../lib/db.h"
#include "../lib/drv.h"
#include "../lib/util.h"
#include "../proto/wire.h"

struct config {
	char *storedir;
	char *statedir;
	char *socket;
	int max_jobs;
	int cores;
	uid_t uid_base;		/* first build user, 35001 */
	int nusers;		/* size of the pool */
	int timeout;		/* seconds, 0 = none */
	int max_silent;		/* seconds, 0 = none */
	int keep_failed;
	struct strv host_paths;	/* the host tool view */
	char *system;		/* e.g. x86_64-linux */
};

extern struct config cfg;

/* One client connection. */
struct session {
	struct conn conn;
	struct db *db;
	uint64_t version;	/* negotiated */
	int guix;		/* Guix dialect: client minor >= 0x60 */
	uid_t peer_uid;
	pid_t peer_pid;
	int trusted;
	int in_work;		/* between startWork and stopWork */
	/* per-session build options (SetOptions) */
	int keep_failed;
	int timeout;
	int max_silent;
	int verbosity;
	struct strv temp_roots;
};

/* Log to the daemon's stderr: "frx-daemon[pid]: <level>: message". */
void dlog(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* session.c */
void session_run(int fd, struct db *db);
/* Send a log line to the client (STDERR_NEXT), only inside a work window. */
void session_log(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void session_log_raw(struct session *s, const char *line, size_t n);

/* build.c */
/*
 * Make the requested outputs of drv valid, building input derivations
 * first.  outputs == NULL means all.  0 or -1 with message.
 */
int build_derivation(struct session *s, const char *drvpath,
    const struct strv *outputs);
/* Make a path valid: a valid path succeeds, a .drv output is not built. */
int build_ensure_path(struct session *s, const char *path);
/* Kill the running build, if any (from a signal handler). */
void build_abort(void);
/* Load the .drv at path, which must be a valid store path. */
int load_drv(struct session *s, const char *path, struct drv *d);
/* load_drv as a drv_loader_fn; ctx is the session. */
int load_drv_cb(void *ctx, const char *path, struct drv *d);
/* The closure of the given paths, following references. */
int closure(struct db *db, const struct strv *paths, struct strv *out);

/* fetch.c: carry out a builtin:download / builtin:fetchurl derivation. */
int fetch_builtin(struct session *s, const char *drvpath,
    const struct drv *d, const char *tmpdir, uid_t uid, gid_t gid);

/* store.c: daemon-side store operations. */
/*
 * Move finished objects into the store and register them in one
 * transaction: srcs[i] (already canonicalised, see canonicalise_tree)
 * becomes infos[i].path.  When an info's nar_size is 0 its NAR hash and
 * size are computed here.  The caller holds the path locks.  Either all
 * objects end up valid or none is left in the store.
 */
int store_add_objects(struct db *db, char **srcs, struct path_info *infos,
    size_t n);
/* Canonicalise a tree before it enters the store: refuse special files
 * and hard links to outside files, strip setuid/setgid, modes 0444/0555,
 * mtime 1, owner root. */
int canonicalise_tree(const char *path);
/* Remove a path from the store directory that is not valid. */
int store_remove_invalid(struct db *db, const char *path);
/* Remove store entries that have no row in the database (left behind by
 * a killed daemon) and leftover build directories. */
int store_recover(struct db *db);
/* Take the lock on a store path (blocking); returns an fd to close. */
int store_lock_path(const char *path);
void store_unlock(int fd);

/* users.c: the build-user pool. */
struct build_user {
	uid_t uid;
	gid_t gid;
	int lockfd;
};
int users_acquire(struct build_user *u);
void users_release(struct build_user *u);

#endif
