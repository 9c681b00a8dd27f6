/*
 * daemon.h: what the parts of frx-daemon share.
 *
 * Process model: the listener accepts connections and forks one session
 * process per client, as Nix and Guix do, so that a parser bug or a crash
 * ends one session and never the daemon.  A session runs the builds its
 * client asks for itself, several at once (build.c schedules them, job.c
 * runs one, each in a runner process that the session's launcher forks
 * for it, launcher.c); the sessions share no memory and coordinate
 * through fcntl locks under the state directory:
 *
 *   <state>/locks/paths     one byte per store path being built or added
 *                           (offset from its hash part); held by the
 *                           session that produces the path
 *   <state>/locks/waiters   the same offsets, read-locked by sessions
 *                           waiting for a path another session produces,
 *                           so that a session whose client went away can
 *                           tell whether anyone still wants its build
 *   <pool>/<uid>            one file per build user, held while a build
 *                           runs as that user; it records the build's
 *                           process so the user is not handed out again
 *                           while any process of the old build lives.
 *                           <pool> is host-wide (/run/frx/userpool), not
 *                           under the state directory, so that two
 *                           daemons on one host never share a user
 *   <state>/pending/<pid>   per session: the store paths being moved in
 *                           but not yet registered (see store.c)
 *
 * Every lock dies with its process, so a daemon that crashed leaves no
 * lock that blocks a later build.
 */
#ifndef FRX_DAEMON_H
#define FRX_DAEMON_H

#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "../lib/db.h"
#include "../lib/drv.h"
#include "../lib/util.h"
#include "../proto/wire.h"

/* The build users' lock files: one directory for every daemon on the
 * host (see users.c). */
#ifndef FRX_USERPOOL
#ifdef __linux__
#define FRX_USERPOOL "/run/frx/userpool"
#else
#define FRX_USERPOOL "/var/run/frx/userpool"
#endif
#endif

struct config {
	char *storedir;
	char *statedir;
	char *socket;
	int max_jobs;		/* builds at once, over all sessions */
	int cores;		/* NIX_BUILD_CORES unless a client says */
	uid_t uid_base;		/* first build user, 35001 */
	gid_t build_gid;	/* 0: each build user's gid is its uid */
	int nusers;		/* size of the pool: max_jobs */
	char *userpool;		/* host-wide lock files of the build users */
	int timeout;		/* seconds, 0 = none */
	int max_silent;		/* seconds, 0 = none */
	unsigned long long max_log;	/* bytes of a build's log, 0 = none */
	int keep_failed;
	struct strv host_paths;	/* the host tool view */
	char *system;		/* e.g. x86_64-linux */
	char *rootsdir;		/* where sandbox roots are made */
	int roots_in_memory;	/* rootsdir is the daemon's private tmpfs */
	int no_memory_roots;	/* --build-roots-on-disk */
	struct rlimit nofile;	/* RLIMIT_NOFILE as the daemon was started
				   with: what builders get back */
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
	unsigned long long max_log;
	int verbosity;
	int max_jobs;		/* 0: the daemon's --max-jobs */
	int cores;		/* 0: the daemon's --cores */
	int keep_going;
	struct strv temp_roots;
	int gone;		/* the client hung up during a build */
};

/* main.c: overwrite the daemon's command line, in this process only. */
void daemon_retitle(const char *title);

/* Log to the daemon's stderr: "frx-daemon[pid]: <level>: message". */
void dlog(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* session.c */
void session_run(int fd, struct db *db);
/* Send a log line to the client (STDERR_NEXT), only inside a work window. */
void session_log(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void session_log_raw(struct session *s, const char *line, size_t n);

/* build.c: realising derivations, many at once. */
enum build_status {
	BUILD_BUILT,		/* built by this request */
	BUILD_VALID,		/* nothing to do: already valid */
	BUILD_FAILED
};

struct build_outcome {
	enum build_status status;
	char *err;		/* BUILD_FAILED: why; else NULL */
	int64_t start, stop;	/* seconds */
};

/*
 * Realise items, each "<drv>!<outputs>" (outputs "*" or "a,b"), a bare
 * .drv (Guix: all its outputs) or a plain store path that must be valid.
 * The derivations of the whole request form one graph: a derivation is
 * built once its inputs are, independent ones in parallel, up to the
 * session's max-jobs and as build users are free.  out (may be NULL)
 * receives one outcome per item; free it with build_outcomes_free.
 * Returns 0 if every item succeeded, else -1 with the first failure's
 * message.  A client that hangs up cancels the builds nobody else waits
 * for.
 */
int build_items(struct session *s, const struct strv *items,
    struct build_outcome *out);
void build_outcomes_free(struct build_outcome *out, size_t n);
/* SetOptions: keepGoing, maxBuildJobs (a client may ask for fewer jobs
 * than --max-jobs, never more) and buildCores (0: --cores). */
void build_set_options(struct session *s, uint64_t keep_going,
    uint64_t max_jobs, uint64_t cores);
/*
 * Make the requested outputs of drv valid, building input derivations
 * first.  outputs == NULL means all.  0 or -1 with message.
 */
int build_derivation(struct session *s, const char *drvpath,
    const struct strv *outputs);
/* Make a path valid: a valid path succeeds, a .drv output is not built. */
int build_ensure_path(struct session *s, const char *path);
/* Kill the running builds, if any (safe in a signal handler). */
void build_abort(void);
/* Count pid among the children build_abort kills (on), or no more. */
void build_note_running(pid_t pid, int on);
/* Load the .drv at path, which must be a valid store path. */
int load_drv(struct session *s, const char *path, struct drv *d);
/* load_drv as a drv_loader_fn; ctx is the session. */
int load_drv_cb(void *ctx, const char *path, struct drv *d);
/* The closure of the given paths, following references. */
int closure(struct db *db, const struct strv *paths, struct strv *out);

/* job.c (the session's side) and runner.c (the runner it forks): one
 * build. */
struct job;
struct build_user;
/*
 * Prepare a build and fork its runner, which sets up the sandbox and
 * starts the builder.  The caller holds the output locks and hands over
 * the build user (the job releases it).  A built-in fetch runs to its
 * end here.  NULL with a message if the build could not start (the
 * user is then released too).
 *
 * With user NULL the build is only prepared: the runner sets up the
 * sandbox, which takes no job slot and no user, and waits until
 * job_go hands it its user (a slot being free).  Never for a built-in.
 */
struct job *job_start(struct session *s, const char *drvpath,
    const struct drv *d, const struct build_user *user);
void job_go(struct job *j, const struct build_user *user);
/* Descriptors to wait on (-1 once at end of file): the builder's output
 * and the runner's report. */
int job_log_fd(const struct job *j);
int job_report_fd(const struct job *j);
/* Read from fd, one of the two: 0 data, 1 end of file, 2 nothing now. */
int job_read(struct job *j, int fd);
/* 1 once the build has ended: the runner has reported or died.  Then
 * the build user may go (job_release_user: at once if the runner has
 * exited, else once it has, see job_reap_late) before the outputs are
 * registered (job_finish). */
int job_poll(struct job *j);
/* 1 once the runner has said that the builder and every process of the
 * sandbox are gone (the runner goes on with the outputs and the
 * teardown): the build no longer takes a job slot, as in Nix. */
int job_builder_gone(const struct job *j);
/* 1 if the build user was given back now, before the runner's end: the
 * runner said nothing of the build can reach that user's files. */
int job_release_user_early(struct job *j);
void job_release_user(struct job *j);
int job_finished(const struct job *j);
/* Kill the build because its client hung up. */
void job_cancel(struct job *j);
/*
 * After job_poll returned 1: check the outcome, move the outputs into
 * the store and register them with the build record, release the user.
 * 0 if the build succeeded, -1 with message.  Frees j.
 */
int job_finish(struct job *j);
/* Reap the runners that job_finish left tearing down (block: wait for
 * them) and give their users back; returns how many users came back.
 * job_kill_late: kill them (the next start cleans up after them). */
int job_reap_late(int block);
void job_kill_late(void);
pid_t job_pid(const struct job *j);

/* buildlog.c: build logs, compressed as Nix keeps them. */
struct buildlog;
/* <state>/log/drvs/<2 chars>/<rest of the drv base name>.bz2 */
char *buildlog_path(const char *drvpath);
/* Start a new log for drvpath (replacing an old one); NULL on error. */
struct buildlog *buildlog_open(const char *drvpath);
void buildlog_write(struct buildlog *l, const void *p, size_t n);
/* Finish the stream and close; -1 with message if writing failed. */
int buildlog_close(struct buildlog *l);

/* fetch.c: carry out a builtin:download / builtin:fetchurl derivation. */
int fetch_builtin(struct session *s, const char *drvpath,
    const struct drv *d, const char *tmpdir, const struct build_user *u);

/* store.c: daemon-side store operations. */
/*
 * Move finished objects into the store and register them in one
 * transaction: srcs[i] (already canonicalised, see canonicalise_tree)
 * becomes infos[i].path.  When an info's nar_size is 0 its NAR hash and
 * size are computed here.  The caller holds the path locks.  Either all
 * objects end up valid or none is left in the store.  A source on
 * another file system (a build root in memory) is copied.
 */
int store_add_objects(struct db *db, char **srcs, struct path_info *infos,
    size_t n);
/* The same, calling extra(db, ctx) inside the transaction. */
int store_add_objects_with(struct db *db, char **srcs,
    struct path_info *infos, size_t n, int (*extra)(struct db *, void *),
    void *ctx);
/* Move src to a new temporary name in the store directory, which
 * *staged receives; copy it into new inodes instead when copy is set or
 * src is on another file system.  Swept at start-up once the session
 * is gone. */
int store_stage_object(const char *src, int copy, char **staged);
/* Canonicalise a tree before it enters the store: refuse special files
 * and hard links to outside files, strip setuid/setgid, modes 0444/0555,
 * mtime 1, owner root. */
int canonicalise_tree(const char *path);
/* Remove a path from the store directory that is not valid. */
int store_remove_invalid(struct db *db, const char *path);
/* Remove store entries that have no row in the database (left behind by
 * a killed daemon) and leftover build directories. */
int store_recover(struct db *db);
/*
 * Path locks (<state>/locks/paths).  store_lock_path blocks; it returns
 * a handle >= 0 for store_unlock, or -1 with message.
 * store_trylock_path returns a handle, -2 if another process holds the
 * lock, -1 on error.  store_unlock(-1) does nothing.
 */
int store_lock_path(const char *path);
int store_trylock_path(const char *path);
void store_unlock(int handle);
/* Say that this process waits for path (a read lock on its waiter byte);
 * a handle for store_unlock.  store_has_waiters: 1 if some other process
 * waits for path, 0 if none, -1 on error. */
int store_wait_mark(const char *path);
int store_has_waiters(const char *path);
/* A session process starts (its runners' temporary names carry its
 * pid) and ends (release what it held in the store). */
void store_session_begin(void);
/* The same for a process working for the session (its runner
 * launcher, see launcher.c): staged names carry the owner's pid. */
void store_session_owner(pid_t owner);
/* A runner names its staged outputs 0, 1, ... in the order of its
 * derivation's outputs (store_stage_restart at its start); the session
 * finds what a killed runner left under these names. */
void store_stage_restart(void);
char *store_stage_leftover(pid_t runner, unsigned k);
void store_session_end(void);

/* users.c: the build-user pool. */
struct build_user {
	uid_t uid;
	gid_t gid;
	int slot;		/* index in the pool, -1 if none */
};
/* Take a free build user without waiting: 1 got one, 0 all busy, -1
 * error with message.  The scheduler retries. */
int users_try_acquire(struct build_user *u);
/* Record the process the build runs under (for users_try_acquire of
 * later builds), once it exists. */
void users_note_process(const struct build_user *u, pid_t pid);
/*
 * The same, from the sandbox's first process itself, before its builder
 * may start: pid and start as the daemon sees them; the user's record
 * is found in the pool directory open at dirfd (users_pool_dir).  It
 * must not log (its stderr is not the daemon's); -1 if not written.
 */
int users_pool_dir(void);
int users_note_pid1_at(int dirfd, uid_t uid, pid_t pid,
    unsigned long long start);
void users_release(struct build_user *u);
/* The same when the build's runner was killed and its processes may
 * still be dying: the user is free again only once they are gone. */
void users_release_dying(struct build_user *u);
/* The pool's first user, taken by nobody (slot -1): what a prepared
 * sandbox is made for until its build gets a user of its own.  No
 * builder ever runs as a stand-in. */
void users_stand_in(struct build_user *u);

/* launcher.c: fork the process that forks this session's runners, for
 * the session owner (this process), closing the descriptors in unwanted
 * in it.  0, also where there is none (not Linux: runners are forked by
 * the session itself), or -1 with message. */
int launcher_start(pid_t owner, const int *unwanted, size_t n);
/* Stop the launcher and reap it (at the session's end, or once it has
 * failed): the session forks its runners itself from then on. */
void launcher_stop(void);

/* compat.c: the few things that differ between kernels. */
/* Give the daemon a private mount namespace with a tmpfs at dir (Linux);
 * 0, or -1 with message (ENOSYS elsewhere). */
int compat_private_tmpfs(const char *dir);
/* Start time of pid as the kernel counts it (0 if unknown), and
 * whether a process with that pid and start time still runs (a zombie
 * does not). */
unsigned long long compat_proc_start(pid_t pid);
int compat_proc_alive(pid_t pid, unsigned long long start);
/* Have the kernel send sig when the parent dies (0 where unsupported). */
int compat_die_with_parent(int sig);
/* A child of the caller's parent, as fork(2) returns it (Linux); where
 * there is none (compat_can_fork_as_sibling 0), -1 with ENOSYS. */
extern const int compat_can_fork_as_sibling;
pid_t compat_fork_as_sibling(void);
/* The process name ps(1) shows, where the kernel keeps one. */
void compat_set_name(const char *name);

#endif
