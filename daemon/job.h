/*
 * job.h: one build, as the session (job.c) and the runner it forks
 * (runner.c) both see it.  Private to those two files.
 */
#ifndef FRX_JOB_H
#define FRX_JOB_H

#include "daemon.h"

#define TAIL_LINES 10

/* What the runner reports about one output. */
struct staged {
	char *src;		/* staged in the store directory */
	struct hash nar_hash;
	uint64_t nar_size;
	struct strv refs;
};

struct job {
	struct session *s;
	char *drvpath;
	const struct drv *d;
	struct build_user user;
	struct strv inputs;	/* closure of the inputs */
	pid_t runner;
	int logfd;		/* the builder's output, passed on */
	int resfd;		/* the runner's report */
	int gofd;		/* a prepared build's word to start, or -1 */
	int confirmfd;		/* runner: the session's word that it knows
				   this runner (launcher.c), or -1 */
	struct buf report;
	int runner_status;
	int builder_gone;	/* the report began with "exited" */
	int user_free;		/* ... and said "user" */
	int report_done;	/* ... and ended with "done" */
	int ended;
	int reaped;
	int runner_killed;	/* before its report: the build may be dying */
	struct buf tail[TAIL_LINES];
	size_t ntail;
	struct buf partial;
	int timeout, max_silent;
	unsigned long long max_log;
	int fetch_result;	/* built-in fetch: done in the session */
	int builtin;
	/* From the report. */
	int started;
	int status;
	int killed_for;		/* 't' timeout, 's' silence, 'l' log size,
				   'c' client */
	uid_t obs_uid;
	gid_t obs_gid;
	char *obs_host;
	int64_t start, end;
	char *error;
	char *kept;
	char *logpath;
	struct staged *out;	/* per output */
};

/* The first bytes of a runner's report, written once every process of
 * a build whose builder succeeded is gone (after a failure the session
 * must see the whole report before it starts anything): the field
 * "exited", of length 0; or, when nothing
 * of the build can reach the build user's files any more (Linux, not a
 * fixed-output build, its directory taken back), "exited" = "user": its
 * user may serve the next build while the runner still tears down. */
#define REPORT_EXITED "exited 0\n\n"
#define REPORT_EXITED_USER "exited 4\nuser\n"

/*
 * The runner: a child of the session that carries out one build (see
 * runner.c) and writes its report to res; the builder's output goes to
 * fwd as it comes.  A prepared build (go >= 0) sets its sandbox up for a
 * stand-in user and waits to read its build user from go.  Never
 * returns.
 */
void runner_main(struct job *j, int fwd, int res, int go)
    __attribute__((noreturn));
/* launcher.c (see launcher_start in daemon.h): have the launcher fork
 * the runner of j, which gets fwd, res and go (-1: not prepared) and is
 * a child of the session.  Its pid; 0 if there is no launcher (the
 * caller forks the runner itself), or -1 with message. */
pid_t launcher_spawn(const struct job *j, int fwd, int res, int go);

/* Remove what a runner that died before its teardown left in memory. */
void runner_remove_leftovers(const char *drvpath, pid_t runner,
    size_t noutputs);
/* A new build directory for one build as u, or NULL; and its removal. */
char *build_dir_make(const struct build_user *u);
char *build_dir_at(char *dir, const struct build_user *u);
int build_dir_remove(const char *dir);
/* Take the directory back from the build user (root's, 0700), so that
 * whoever still holds a descriptor of it can add nothing to it. */
int build_dir_disown(const char *dir);

#endif
