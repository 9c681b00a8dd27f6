/*
 * sandbox.h: run one builder in an isolated root as a build user.
 *
 * Two steps, kept apart so the first can be tested without privilege:
 *
 *   1. plan_make() turns the build's parameters (store dir, input closure,
 *      host tool view, build user, build directory) into a mount plan: an
 *      ordered list of directories, bind mounts, file systems, generated
 *      files and symlinks.  It touches nothing but lstat(2).
 *   2. sandbox_start() carries out a plan under a fresh root directory and
 *      execs the builder there as the build user.  The backend is chosen
 *      by the build: sandbox/linux.c (namespaces) or sandbox/freebsd.c
 *      (jail).  There is no fallback to an unsandboxed run.
 *
 * Calling sequence for one build:
 *
 *	plan_make(&params, &plan);
 *	sandbox_start(&spec, &sb);          spec.plan = &plan
 *	while (sandbox_poll(sb, &st) == 0)  or sandbox_wait(sb, &st)
 *		...;                        sandbox_kill(sb) on timeout
 *	move the outputs out of <root><storedir>/
 *	sandbox_destroy(sb);
 *	plan_free(&plan);
 *
 * Every function returns -1 on failure with a message from frx_errmsg()
 * that names the step, the path and the errno text, e.g.
 * "sandbox: mount /usr on /frx/var/builds/x/root/usr: Operation not
 * permitted".  The caller must not reap sandbox_pid() itself.
 */
#ifndef FRX_SANDBOX_H
#define FRX_SANDBOX_H

#include <sys/resource.h>
#include <sys/types.h>

#include "../lib/util.h"

enum plan_kind {
	PLAN_DIR,	/* directory, mode and owner below; stays writable */
	PLAN_BIND_RO,	/* host path source, read-only, nosuid, nodev */
	PLAN_BIND_RW,	/* host path source, writable, nosuid, nodev */
	PLAN_TMPFS,	/* empty memory file system with the given mode */
	PLAN_PROC,	/* the process file system of the build */
	PLAN_DEVFS,	/* near-empty /dev (Linux: tmpfs; FreeBSD: devfs) */
	PLAN_DEVNODE,	/* expose the host device node source at target */
	PLAN_FILE,	/* regular file; source is its content */
	PLAN_SYMLINK	/* symlink; source is the link text */
};

struct plan_entry {
	enum plan_kind kind;
	char *source;	/* host path, file content or link text */
	char *target;	/* absolute path inside the sandbox */
	mode_t mode;	/* PLAN_DIR, PLAN_TMPFS, PLAN_FILE */
	uid_t uid;	/* owner for PLAN_DIR and PLAN_FILE */
	gid_t gid;
};

struct sandbox_plan {
	struct plan_entry *v;
	size_t n;
};

/*
 * Which system the plan is for.  PLAN_HOST, the zero value, means the
 * system sandbox/plan.c was compiled for; the others exist so the plan of
 * either system can be unit-tested on the other.
 */
enum plan_flavor {
	PLAN_HOST,
	PLAN_LINUX,	/* namespaces: /proc, a tmpfs /dev with links into
			   /proc/self/fd, /dev/shm */
	PLAN_FREEBSD	/* jail: no /proc and no /dev/shm; /dev/fd and
			   /dev/std* come from devfs; /etc/master.passwd
			   from which the backend builds pwd.db */
};

struct plan_params {
	const char *storedir;		/* e.g. /frx/store */
	const struct strv *host_paths;	/* e.g. /usr /bin /lib /lib64 */
	const struct strv *inputs;	/* input closure, read-only */
	const struct strv *outputs;	/* not mounted; checked only */
	uid_t uid;
	gid_t gid;
	const char *hostname;
	int network;			/* fixed-output build */
	const char *builddir;		/* host dir that appears at /tmp */
};

/*
 * Build the plan for p into out (which is overwritten).  Entries are
 * ordered so that a parent directory comes before anything below it:
 *
 *   - each host path as PLAN_BIND_RO, or PLAN_SYMLINK with the same link
 *     text when the host path is a symlink (merged /usr); missing host
 *     paths are skipped;
 *   - /etc/passwd (root, frxbuild with home /homeless-shelter and shell
 *     /bin/sh, nobody), /etc/group and /etc/hosts as PLAN_FILE; with
 *     network, the host's /etc/resolv.conf, /etc/hosts, /etc/services and
 *     /etc/nsswitch.conf are bound read-only instead, where present;
 *   - /proc, a minimal /dev (null zero full random urandom tty, fd, stdin,
 *     stdout, stderr, a tmpfs /dev/shm); see enum plan_flavor for what
 *     differs on FreeBSD;
 *   - the store dir as PLAN_DIR 01775 root:gid, so the builder can create
 *     its outputs but cannot remove the root-owned mount points of inputs;
 *   - each input as PLAN_BIND_RO at the same path (PLAN_SYMLINK if the
 *     store item is itself a symlink);
 *   - builddir at /tmp as PLAN_BIND_RW.
 *
 * Refused: uid or gid 0, relative paths or paths with "." or ".."
 * components, inputs or outputs outside the store dir, an output that is
 * also an input, a host path that overlaps the store dir, /etc, /proc,
 * /dev or /tmp, a missing input, duplicate targets.
 */
int plan_make(const struct plan_params *p, struct sandbox_plan *out);
/* The same for a given system; plan_make() is PLAN_HOST. */
int plan_make_flavor(const struct plan_params *p, enum plan_flavor flavor,
    struct sandbox_plan *out);
void plan_free(struct sandbox_plan *p);
/* out (overwritten) as a copy of in. */
void plan_copy(const struct sandbox_plan *in, struct sandbox_plan *out);
/* The plan made for another build user turned into the one plan_make
 * makes for uid:gid (the same parameters otherwise).  Touches only
 * memory, so that it can run inside a sandbox that has left the host's
 * file system behind. */
void plan_set_user(struct sandbox_plan *p, uid_t uid, gid_t gid);
/* Human-readable, one line per entry (appends to out). */
int plan_format(const struct sandbox_plan *p, struct buf *out);
/* Append one entry; plan_make uses it, tests and backends may too. */
void plan_add(struct sandbox_plan *p, enum plan_kind kind,
    const char *source, const char *target, mode_t mode, uid_t uid,
    gid_t gid);
const char *plan_kind_name(enum plan_kind kind);

struct sandbox_spec {
	const char *root;	/* host dir for the new root; must not exist;
				   created 0755 by sandbox_start */
	const struct sandbox_plan *plan;
	uid_t uid;
	gid_t gid;
	const char *hostname;
	int network;
	const char *cwd;	/* inside, e.g. /tmp */
	char *const *argv;	/* argv[0]: program path inside the sandbox */
	char *const *envp;	/* complete environment, passed verbatim */
	int log_fd;		/* builder's stdout and stderr; stdin is
				   /dev/null */
	const char *ledger;	/* optional: file recording what to clean up
				   after a daemon crash; see sandbox_recover */
	void (*notice)(const char *line);
				/* optional: told of trouble worked around,
				   e.g. a busy mount unmounted by force */
	unsigned long max_procs;/* processes the build user may have at
				   once (RLIMIT_NPROC); 0: SANDBOX_MAX_PROCS */
	const struct rlimit *max_files;	/* the builder's RLIMIT_NOFILE;
				   NULL: the caller's */
	/*
	 * Optional: a sandbox set up before its build user is known, so
	 * that the next build's sandbox is made while another builder
	 * runs.  uid, gid and plan are then a stand-in's.  Once the root
	 * is made, and before anything runs as a build user, sandbox_start
	 * calls await_user(await_arg, &uid, &gid), which waits for the
	 * user to build as and returns 0, or -1 to give up (sandbox_start
	 * then fails as after any other step, leaving nothing).  The
	 * sandbox is then made the user's: the plan's generated files and
	 * owners (plan_set_user) and the working directory (the build
	 * directory, which the caller made for the stand-in).
	 *
	 * On Linux await_user runs in the sandbox's first process, root
	 * in the new namespaces, which shares the caller's memory while
	 * the caller is suspended (as after vfork(2)) until the builder
	 * has exec'd: it may read and write the caller's memory (to hand
	 * the user back, say) and use the caller's descriptors, but the
	 * host's file system is no longer in sight, and the caller's
	 * signals are not seen until sandbox_start returns.  On FreeBSD it
	 * runs in the caller, before the jail is made.
	 */
	int (*await_user)(void *arg, uid_t *uid, gid_t *gid);
	void *await_arg;
	int await_fd;		/* with await_user: a descriptor it reads,
				   kept open for it where it runs; -1: none.
				   The caller's stays the caller's. */
	/*
	 * Optional, Linux: called in the sandbox's first process, once the
	 * build user is known and before anything runs as that user, with
	 * that process's pid and start (clock ticks since boot, as in
	 * /proc/PID/stat) as the caller sees them, and the user: so that
	 * the caller can record, before a builder can start, the process
	 * whose end is the end of the whole build.  It runs where and as
	 * await_user does; note_fd is kept open for it there (-1: none).
	 * It returns 0 or -1, which does not stop the build.
	 */
	int (*note_pid1)(void *arg, pid_t pid, unsigned long long start,
	    uid_t uid);
	void *note_arg;
	int note_fd;
};

#define SANDBOX_MAX_PROCS 4096

struct sandbox;

/*
 * Create spec->root, carry out the plan, drop to uid:gid (or the user
 * spec->await_user gives) and exec the builder.  Returns 0 once the
 * builder has been exec'd.  On failure
 * returns -1 with a message naming the failed step; everything the call
 * made (processes, mounts, the root tree, the ledger) is gone again and
 * *out is NULL.
 */
int sandbox_start(const struct sandbox_spec *spec, struct sandbox **out);

/* The process to watch: the builder, PID 1 of its namespaces on Linux
   (init until it execs).  Do not reap it yourself; use sandbox_poll/sandbox_wait. */
pid_t sandbox_pid(const struct sandbox *sb);
/* 1 finished (status = the builder's wait status), 0 running, -1 error. */
int sandbox_poll(struct sandbox *sb, int *status);
int sandbox_wait(struct sandbox *sb, int *status);
/* Kill every process of the build (never by uid).  Reap with
   sandbox_wait or sandbox_destroy afterwards. */
int sandbox_kill(struct sandbox *sb);
/* 1 if no process of the build can be left (Linux, once PID 1 is reaped:
 * its PID namespace died with it); 0 if some may still be dying (a
 * removed jail's processes are not waited for). */
int sandbox_gone(const struct sandbox *sb);

/* What the builder observed about itself after dropping privileges, just
   before exec: getuid(), getgid(), gethostname(). */
uid_t sandbox_observed_uid(const struct sandbox *sb);
gid_t sandbox_observed_gid(const struct sandbox *sb);
const char *sandbox_observed_hostname(const struct sandbox *sb);

/* "linux-namespaces" or "freebsd-jail". */
const char *sandbox_mode(void);

/*
 * Check and load what every sandbox of the process needs: on Linux the
 * seccomp program and frx-reaper (looked for beside the program, then
 * in FRX_LIBEXECDIR; see sandbox/linux.c); on FreeBSD nothing.  A
 * daemon calls it at start and refuses to run without it; sandbox_start
 * calls it too.  Returns 0, -1, or 1 when it succeeded with something to
 * say in frx_errmsg (a refused frx-reaper beside the program).
 */
int sandbox_init(void);

/*
 * Make ahead of time what every build needs and what is slow to make,
 * so that a build does not wait for it: on Linux a stock of fresh
 * network namespaces, made by a helper process that dies with the
 * caller; on FreeBSD nothing.  Call once, before forking the processes
 * that start sandboxes (they share the stock); each namespace serves one
 * build and is never reused.  Without the stock, or when it runs dry,
 * sandbox_start makes its own, so a failure here is only slower.
 */
int sandbox_stock_start(void);
/* Kill the helper (the caller reaps it: it is the caller's child).  The
   namespaces already made stay in the stock. */
void sandbox_stock_stop(void);

/*
 * After the builder is finished or killed: kill and reap whatever is
 * left, make sure no mount remains under the root, then remove the root
 * tree (including any outputs still under <root><storedir>/), never
 * crossing a mount point, and the ledger.  Frees sb even on failure.
 * sandbox_destroy(NULL) returns 0.
 */
int sandbox_destroy(struct sandbox *sb);

/*
 * After a daemon restart: read the ledger left by a sandbox that was never
 * destroyed, remove its jail (FreeBSD), its mounts and its root tree, then
 * the ledger.  A missing ledger is not an error.
 */
int sandbox_recover(const char *ledger_path);

#endif
