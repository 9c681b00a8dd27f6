/*
 * runner.c: the runner, the process forked for one build (by the
 * session's launcher, see launcher.c, or by the session itself), a
 * child of the session either way.
 * It makes the build's directories and log, starts the builder in the
 * sandbox, compresses the log while passing it on to the session,
 * enforces the time limits, and once the builder is gone checks,
 * canonicalises, scans and hashes the outputs, stages them under
 * temporary names in the store directory, tears the sandbox down and
 * writes its report ("key length\nbytes\n" fields) for the session,
 * which registers the outputs (job.c).
 *
 * Directories: the sandbox root is <rootsdir>/<hash>-<pid>-<n>/root, in
 * memory when the daemon could make its private tmpfs; the build
 * directory (the builder's /tmp) is new for each build and removed
 * after it: <rootsdir>/<hash>-<pid>-<n>/build beside the root in that
 * case, else (and whenever a failed build may be kept) <state>/builds/
 * <pid>-<n>, renamed to <state>/builds/failed-<hash>-<pid>-<n> when a
 * failed build is kept.
 *
 * A prepared build (see job_start) makes all of that, and the sandbox up
 * to the builder's start, at a lower priority and for a stand-in user,
 * then waits for its own user on the go pipe.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/nar.h"
#include "../lib/refs.h"
#include "../lib/store.h"
#include "../sandbox/sandbox.h"
#include "job.h"

#define PREPARE_NICE 10

static unsigned buildcounter;

struct run;
static int run_teardown(struct run *r, int rc);

/* <rootsdir>/<hash>-<pid>-<n>: the n-th build of runner pid. */
static char *
run_top(const char *drvpath, pid_t pid, unsigned n)
{
	char hashpart[33];

	(void)store_hash_part(cfg.storedir, drvpath, hashpart);
	return xasprintf("%s/%.12s-%ld-%u", cfg.rootsdir, hashpart, (long)pid,
	    n);
}

/*
 * What a runner that died without tearing down (killed, say) left: its
 * root and build directory in memory, which can be big, or its build
 * directory on disk (a build that may be kept: a killed runner keeps
 * nothing).  A root on disk is in the ledger for the next start
 * instead.  A runner builds once (its counters start at 0: it is a
 * fresh fork either way), and the build's processes die with it
 * (PID 1's parent death signal), so what the build user still owns is
 * taken back before the removal.
 */
static void
remove_leftover(char *top, char *tmp)
{
	if (access(tmp, F_OK) == 0 || (top && access(top, F_OK) == 0)) {
		if (build_dir_disown(tmp) < 0 ||
		    remove_tree(top ? top : tmp) < 0)
			dlog("warning", "%s: left by its runner, not removed: "
			    "%s", top ? top : tmp, frx_errmsg());
		else
			dlog("info", "removed %s, left by its runner",
			    top ? top : tmp);
	}
	free(tmp);
	free(top);
}

void
runner_remove_leftovers(const char *drvpath, pid_t runner, size_t noutputs)
{
	char *top, *staged;
	size_t k;

	if (runner <= 0)
		return;
	/* Its outputs half-copied into the store directory. */
	for (k = 0; k < noutputs; k++) {
		staged = store_stage_leftover(runner, (unsigned)k);
		if (remove_tree(staged) < 0)
			dlog("warning", "%s: left by its runner, not removed: "
			    "%s", staged, frx_errmsg());
		free(staged);
	}
	remove_leftover(NULL, xasprintf("%s/builds/%ld-0", cfg.statedir,
	    (long)runner));
	if (cfg.roots_in_memory) {
		top = run_top(drvpath, runner, 0);
		remove_leftover(top, xasprintf("%s/build", top));
	}
}

struct run {
	struct job *j;
	char *top;		/* <rootsdir>/<id>: holds root and ledger */
	char *root;
	char *ledger;
	char *tmp;		/* the build directory */
	int tmp_ready;
	char *hostname;
	struct strv outpaths;
	struct buildlog *log;
	struct sandbox *sb;
	int logfd;		/* read end of the builder's stdout/err */
	int fwd;		/* to the session, non-blocking */
	struct buf fwdbuf;	/* what the session has not taken yet */
	size_t fwdoff;
	unsigned long long dropped;	/* bytes the session never got */
	int64_t start_ms, last_ms;
	int status;
	int killed_for;
	unsigned long long log_bytes;	/* of the builder's output so far */
	int started;
	int reported_error;
	struct buf report;
	int res;		/* the report's pipe */
	int go;			/* the session's word to start, or -1 */
	int nice;		/* the priority to go back to at go */
	int reniced;
	/* Kept from the sandbox's preparation until it goes. */
	struct sandbox_plan plan;
	struct plan_params pp;
	struct sandbox_spec spec;
	int pool;		/* the user pool, for note_pid1, or -1 */
	int noted;		/* init recorded itself as the user's */
	struct strv env, argv;
	char **envp, **av;
	int pipefd[2];		/* the builder's output */
};

static volatile sig_atomic_t run_cancel;
static int run_sigpipe[2] = { -1, -1 };

static void
run_on_term(int sig)
{
	(void)sig;
	run_cancel = 1;
}

static void
run_on_chld(int sig)
{
	int saved = errno;
	char c = 0;

	(void)sig;
	(void)write(run_sigpipe[1], &c, 1);
	errno = saved;
}

static void
put(struct buf *b, const char *key, const char *val, size_t n)
{
	buf_printf(b, "%s %zu\n", key, n);
	buf_add(b, val, n);
	buf_addc(b, '\n');
}

static void
puts_(struct buf *b, const char *key, const char *val)
{
	put(b, key, val, strlen(val));
}

static void
putn(struct buf *b, const char *key, long long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", v);
	puts_(b, key, num);
}

/* Signals and descriptors of the runner, apart from the session's. */
static int
run_signals(void)
{
	struct sigaction sa;
	int i;

	if (pipe(run_sigpipe) < 0)
		return frx_seterr_errno("pipe");
	for (i = 0; i < 2; i++) {
		(void)fcntl(run_sigpipe[i], F_SETFD, FD_CLOEXEC);
		(void)fcntl(run_sigpipe[i], F_SETFL, O_NONBLOCK);
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sa.sa_handler = run_on_chld;
	if (sigaction(SIGCHLD, &sa, NULL) < 0)
		return frx_seterr_errno("sigaction");
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = run_on_term;
	if (sigaction(SIGTERM, &sa, NULL) < 0 ||
	    sigaction(SIGHUP, &sa, NULL) < 0)
		return frx_seterr_errno("sigaction");
	return compat_die_with_parent(SIGTERM);
}

static char *
build_hostname(const char *drvpath, const struct drv *d)
{
	const char *name = drv_get_env(d, "name");
	char hashpart[33];
	struct buf b = BUF_INIT;
	size_t i;

	if (!name)
		name = "unnamed";
	(void)store_hash_part(cfg.storedir, drvpath, hashpart);
	buf_adds(&b, "frx-build-");
	for (i = 0; name[i] && b.len < 40; i++) {
		char c = name[i];

		/* The package name, without its version. */
		if (c == '-' && name[i + 1] >= '0' && name[i + 1] <= '9')
			break;
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			c = '-';
		buf_addc(&b, c);
	}
	buf_printf(&b, "-%.8s", hashpart);
	return buf_steal(&b);
}

/*
 * A build directory of its own for every build, <state>/builds/
 * <pid>-<n>, owned by the build user (u; NULL: root's until the user is
 * known).  Its parent is root's alone
 * (0700): a builder could leave a socket in its /tmp and hand its
 * descriptors to whoever connects.  The sandbox binds it as root, and
 * the built-in fetcher opens it before it drops to the build user.  A
 * directory is never reused: a fixed-output builder shares the host's
 * network and could hand a descriptor of it to a process outside, which
 * would then plant files in the next build of the same user.
 */
char *
build_dir_make(const struct build_user *u)
{
	static unsigned counter;

	return build_dir_at(xasprintf("%s/builds/%ld-%u", cfg.statedir,
	    (long)getpid(), counter++), u);
}

/* Make dir (which the caller gave up) as a build directory for u. */
char *
build_dir_at(char *dir, const struct build_user *u)
{
	if (mkdir(dir, 0700) < 0) {
		frx_seterr_errno("%s: mkdir", dir);
		free(dir);
		return NULL;
	}
	if (u != NULL && chown(dir, u->uid, u->gid) < 0) {
		frx_seterr_errno("%s: chown", dir);
		(void)rmdir(dir);
		free(dir);
		return NULL;
	}
	return dir;
}

/*
 * Take the directory back from the build user, then remove it: whoever
 * still holds a descriptor of it can add nothing to it any more, nor
 * to any directory below it, which remove_tree takes as it goes down
 * (a fixed-output builder can hand a descriptor of a directory it made
 * writable for anybody to a process outside).
 */
int
build_dir_disown(const char *dir)
{
	if (lchown(dir, 0, 0) < 0 || chmod(dir, 0700) < 0)
		return errno == ENOENT ? 0 :
		    frx_seterr_errno("%s: cannot take back", dir);
	return 0;
}

int
build_dir_remove(const char *dir)
{
	if (build_dir_disown(dir) < 0)
		return -1;
	return remove_tree(dir);
}

static int
run_dirs(struct run *r)
{
	const struct build_user *u;

	r->top = run_top(r->j->drvpath, getpid(), buildcounter++);
	r->root = xasprintf("%s/root", r->top);
	/* A root in memory vanishes with the daemon: nothing to recover. */
	if (!cfg.roots_in_memory)
		r->ledger = xasprintf("%s/ledger", r->top);
	if (mkdir(r->top, 0700) < 0)
		return frx_seterr_errno("%s: mkdir", r->top);
	/*
	 * A prepared build gets its user when it goes (run_go).  With the
	 * roots in memory the build directory is there too, beside the
	 * root: an inode made and removed on disk for every build is the
	 * largest cost of a small build on ext4 without a journal, whose
	 * allocator steps over every inode freed in the last half minute.
	 * A build whose directory may be kept has it on disk.
	 */
	u = r->go < 0 ? &r->j->user : NULL;
	if (cfg.roots_in_memory && !r->j->s->keep_failed)
		r->tmp = build_dir_at(xasprintf("%s/build", r->top), u);
	else
		r->tmp = build_dir_make(u);
	if (r->tmp == NULL)
		return -1;
	r->tmp_ready = 1;
	return 0;
}

static void
env_set(struct strv *env, const char *key, const char *value)
{
	size_t i, k = strlen(key);

	for (i = 0; i < env->n; i++)
		if (!strncmp(env->v[i], key, k) && env->v[i][k] == '=') {
			free(env->v[i]);
			env->v[i] = xasprintf("%s=%s", key, value);
			return;
		}
	strv_addn(env, xasprintf("%s=%s", key, value));
}

static void
make_env(const struct job *j, struct strv *env)
{
	char cores[16];
	size_t i;

	snprintf(cores, sizeof(cores), "%d", j->s->cores > 0 ? j->s->cores :
	    cfg.cores);
	env_set(env, "PATH", "/path-not-set");
	env_set(env, "HOME", "/homeless-shelter");
	env_set(env, "NIX_STORE", cfg.storedir);
	env_set(env, "NIX_BUILD_CORES", cores);
	for (i = 0; i < j->d->nenv; i++)
		env_set(env, j->d->env[i].key, j->d->env[i].value);
	/* The host's TMPDIR means nothing inside: the build's is /tmp. */
	env_set(env, "NIX_BUILD_TOP", "/tmp");
	env_set(env, "TMPDIR", "/tmp");
	env_set(env, "TEMPDIR", "/tmp");
	env_set(env, "TMP", "/tmp");
	env_set(env, "TEMP", "/tmp");
	env_set(env, "PWD", "/tmp");
	env_set(env, "NIX_LOG_FD", "2");
	env_set(env, "TERM", "xterm-256color");
}

static char **
strv_nullterm(const struct strv *s)
{
	char **v = xcalloc(s->n + 1, sizeof(char *));

	memcpy(v, s->v, s->n * sizeof(char *));
	return v;
}

static int
run_spec(struct run *r, struct sandbox_plan *plan, struct strv *env,
    struct strv *argv, struct plan_params *pp)
{
	const struct job *j = r->j;
	size_t i;

	memset(pp, 0, sizeof(*pp));
	pp->storedir = cfg.storedir;
	pp->host_paths = &cfg.host_paths;
	pp->inputs = &j->inputs;
	pp->outputs = &r->outpaths;
	pp->uid = j->user.uid;
	pp->gid = j->user.gid;
	pp->hostname = r->hostname;
	pp->network = drv_is_fixed(j->d);
	pp->builddir = r->tmp;
	if (plan_make(pp, plan) < 0)
		return -1;
	make_env(j, env);
	strv_add(argv, j->d->builder);
	for (i = 0; i < j->d->args.n; i++)
		strv_add(argv, j->d->args.v[i]);
	return 0;
}

/*
 * In the sandbox's init, as run_await_user (below), once the user is
 * known and before the builder starts: the user's record names init
 * from then on, so that a runner killed at any moment after leaves the
 * user taken until the whole build is gone (the kernel empties a PID
 * namespace before its init can be reaped).
 */
static int
run_note_pid1(void *arg, pid_t pid, unsigned long long start, uid_t uid)
{
	struct run *r = arg;

	if (users_note_pid1_at(r->pool, uid, pid, start) < 0)
		return -1;
	r->noted = 1;
	return 0;
}

/*
 * The session's word that this prepared build may go, with its user
 * (end of file: the session gave the build up).  On Linux this runs in
 * the sandbox's init, which shares our memory while we wait for it
 * (sandbox.h): what it learns it leaves in r, and the lower priority of
 * the preparation ends for init, and so for the builder it starts; ours
 * ends in run_go.  Our signals do not reach it there: the session closes
 * the pipe to cancel.
 */
static int
run_await_user(void *arg, uid_t *uid, gid_t *gid)
{
	struct run *r = arg;
	struct build_user u;
	struct pollfd pfd;
	int n;

	for (;;) {
		if (run_cancel)
			return frx_seterr("%s: cancelled before it started",
			    r->j->drvpath);
		pfd.fd = r->go;
		pfd.events = POLLIN;
		n = poll(&pfd, 1, 1000);
		if (n > 0)
			break;
		if (n < 0 && errno != EINTR)
			return frx_seterr_errno("%s: poll", r->j->drvpath);
	}
	if (read_full(r->go, &u, sizeof(u)) < 0)
		return frx_seterr("%s: cancelled before it started",
		    r->j->drvpath);
	if (r->reniced)
		(void)setpriority(PRIO_PROCESS, 0, r->nice);
	r->j->user = u;
	*uid = u.uid;
	*gid = u.gid;
	return 0;
}

/*
 * The sandbox's spec.  A prepared build (see job_start) is made while
 * the session may still wait for a job slot, at a lower priority and
 * for a stand-in user (j->user, from users_stand_in), and given its own
 * by run_await_user: sandbox_start sets everything up that does not
 * depend on the user, then waits for it.
 */
static int
run_prepare(struct run *r)
{
	struct sandbox_spec *spec = &r->spec;

	if (run_spec(r, &r->plan, &r->env, &r->argv, &r->pp) < 0)
		return -1;
	r->envp = strv_nullterm(&r->env);
	r->av = strv_nullterm(&r->argv);
	if (pipe(r->pipefd) < 0) {
		r->pipefd[0] = r->pipefd[1] = -1;
		return frx_seterr_errno("pipe");
	}
	(void)fcntl(r->pipefd[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(r->pipefd[1], F_SETFD, FD_CLOEXEC);
	memset(spec, 0, sizeof(*spec));
	spec->root = r->root;
	spec->plan = &r->plan;
	spec->uid = r->j->user.uid;
	spec->gid = r->j->user.gid;
	spec->hostname = r->hostname;
	spec->network = r->pp.network;
	spec->cwd = "/tmp";
	spec->max_files = cfg.nofile.rlim_max != 0 ? &cfg.nofile : NULL;
	spec->argv = r->av;
	spec->envp = r->envp;
	spec->log_fd = r->pipefd[1];
	spec->ledger = r->ledger;
	spec->await_fd = -1;
	if (r->go >= 0) {
		spec->await_user = run_await_user;
		spec->await_arg = r;
		spec->await_fd = r->go;
	}
	spec->note_fd = -1;
	r->pool = users_pool_dir();	/* without it, recorded after the start */
	if (r->pool >= 0) {
		spec->note_pid1 = run_note_pid1;
		spec->note_arg = r;
		spec->note_fd = r->pool;
	}
	return 0;
}

/*
 * A runner the launcher forked waits, before its builder may start, for
 * the session's word that it knows the runner's pid: a launcher that
 * died before it could answer leaves the session unaware of this
 * runner, and the build is failed there instead (end of file here).
 * The word comes right after the launcher's answer.
 */
static int
run_confirmed(struct run *r)
{
	char c;

	if (r->j->confirmfd < 0)
		return 0;
	if (read_full(r->j->confirmfd, &c, 1) < 0) {
		/* Nobody waits for this report: leave without one. */
		(void)run_teardown(r, -1);
		_exit(1);
	}
	close(r->j->confirmfd);
	r->j->confirmfd = -1;
	return 0;
}

/* Set the sandbox up, wait for the user if prepared, start the builder. */
static int
run_go(struct run *r)
{
	int rc;

	if (run_confirmed(r) < 0)
		return -1;
	rc = sandbox_start(&r->spec, &r->sb);
	if (r->go >= 0) {
		close(r->go);
		r->go = -1;
	}
	if (r->pool >= 0) {
		close(r->pool);
		r->pool = -1;
	}
	/* Building now: the preparation's lower priority ends. */
	if (r->reniced)
		(void)setpriority(PRIO_PROCESS, 0, r->nice);
	if (rc < 0)
		return frx_preferr("cannot build '%s': sandbox setup failed",
		    r->j->drvpath);
	r->start_ms = r->last_ms = now_ms();
	putn(&r->report, "start", now_s());
	/* Init did, unless it could not (or this is not Linux). */
	if (!r->noted)
		users_note_process(&r->j->user, sandbox_pid(r->sb));
	/*
	 * The log file only now, while the builder starts: until it is
	 * read, what the builder writes waits in the pipe, and creating a
	 * file costs up to half a millisecond here (an ext4 without a
	 * journal looks past every inode freed in the last minute).  And
	 * only now because a prepared build that never goes must keep the
	 * log of the derivation's last attempt (open truncates it).
	 */
	r->log = buildlog_open(r->j->drvpath);
	if (r->log == NULL) {
		dlog("warning", "%s", frx_errmsg());
	} else {
		char *path = buildlog_path(r->j->drvpath);

		puts_(&r->report, "log", path);
		free(path);
	}
	r->started = 1;
	buf_printf(&r->report, "started 0\n\n");
	putn(&r->report, "uid", (long long)sandbox_observed_uid(r->sb));
	putn(&r->report, "gid", (long long)sandbox_observed_gid(r->sb));
	puts_(&r->report, "host", sandbox_observed_hostname(r->sb));
	dlog("info", "building %s as uid %ld in %s (%s)", r->j->drvpath,
	    (long)sandbox_observed_uid(r->sb),
	    sandbox_observed_hostname(r->sb), sandbox_mode());
	r->logfd = r->pipefd[0];
	r->pipefd[0] = -1;
	close(r->pipefd[1]);
	r->pipefd[1] = -1;
	(void)fcntl(r->logfd, F_SETFL, O_NONBLOCK);
	return 0;
}

static void
run_spec_free(struct run *r)
{
	int i;

	for (i = 0; i < 2; i++)
		if (r->pipefd[i] >= 0)
			close(r->pipefd[i]);
	r->pipefd[0] = r->pipefd[1] = -1;
	plan_free(&r->plan);
	free(r->envp);
	free(r->av);
	r->envp = r->av = NULL;
	strv_free(&r->env);
	strv_free(&r->argv);
}

/*
 * The log goes to the session without ever blocking the runner: a
 * client that stops reading (and so a session stuck writing to it) must
 * not keep the time limits from being enforced.  Up to FWD_MAX bytes
 * wait here; past that the client misses lines, is told how many bytes
 * it missed, and finds them all in the kept log (frx log).
 */
#define FWD_MAX (4u << 20)

static void
fwd_flush(struct run *r)
{
	char note[160];
	ssize_t n;

	while (r->fwdoff < r->fwdbuf.len) {
		n = write(r->fwd, r->fwdbuf.data + r->fwdoff,
		    r->fwdbuf.len - r->fwdoff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {	/* the session is gone: nobody to tell */
			r->fwdoff = r->fwdbuf.len;
			break;
		}
		r->fwdoff += (size_t)n;
	}
	r->fwdbuf.len = r->fwdoff = 0;
	if (r->dropped) {
		n = snprintf(note, sizeof(note), "\nfrx-daemon: %llu bytes of "
		    "the log were not shown (the client was not reading); "
		    "the kept log has them\n", r->dropped);
		r->dropped = 0;
		buf_add(&r->fwdbuf, note, (size_t)n);
		fwd_flush(r);
	}
}

static void
fwd_log(struct run *r, const char *p, size_t n)
{
	size_t room;

	fwd_flush(r);
	room = r->fwdbuf.len < FWD_MAX ? FWD_MAX - r->fwdbuf.len : 0;
	if (n > room) {
		r->dropped += n - room;
		n = room;
	}
	buf_add(&r->fwdbuf, p, n);
	fwd_flush(r);
}

/* Pass what the builder wrote on: to the log file and the session.
 * 0 data, 1 end of file, 2 nothing now. */
static void run_kill(struct run *r, int why);

static int
run_read_log(struct run *r)
{
	char chunk[65536];
	ssize_t n;

	if (r->logfd < 0)
		return 1;
	n = read(r->logfd, chunk, sizeof(chunk));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 2 : 1;
	if (n == 0) {
		close(r->logfd);
		r->logfd = -1;
		return 1;
	}
	/* A log past max-log-size: what fits is kept, and the build goes
	 * (run_wait's next run_limits is too late for a fast writer). */
	if (r->j->max_log > 0 && r->log_bytes + (unsigned long long)n >
	    r->j->max_log) {
		n = (ssize_t)(r->j->max_log - r->log_bytes);
		if (!r->killed_for)
			run_kill(r, 'l');
	}
	r->log_bytes += (unsigned long long)n;
	buildlog_write(r->log, chunk, (size_t)n);
	fwd_log(r, chunk, (size_t)n);
	r->last_ms = now_ms();
	return 0;
}

static void
run_kill(struct run *r, int why)
{
	if (!r->killed_for)
		r->killed_for = why;
	if (sandbox_kill(r->sb) < 0)
		dlog("error", "%s: %s", r->j->drvpath, frx_errmsg());
}

/* ms until a limit expires (-1: none); kills when one has. */
static int64_t
run_limits(struct run *r)
{
	int64_t now = now_ms(), left = -1, t;

	if (r->killed_for)
		return -1;
	if (run_cancel) {
		run_kill(r, 'c');
		return -1;
	}
	if (r->j->timeout > 0) {
		t = r->start_ms + (int64_t)r->j->timeout * 1000 - now;
		if (t <= 0) {
			run_kill(r, 't');
			return -1;
		}
		left = t;
	}
	if (r->j->max_silent > 0) {
		t = r->last_ms + (int64_t)r->j->max_silent * 1000 - now;
		if (t <= 0) {
			run_kill(r, 's');
			return -1;
		}
		if (left < 0 || t < left)
			left = t;
	}
	return left;
}

/* Until the builder is gone: its log, its limits, cancellation. */
static int
run_wait(struct run *r)
{
	struct pollfd pfd[3];
	char drain[64];
	int64_t left, end;
	int st, n, nfd;

	for (;;) {
		n = sandbox_poll(r->sb, &st);
		if (n < 0)
			return -1;
		if (n == 1)
			break;
		left = run_limits(r);
		pfd[0].fd = run_sigpipe[0];
		pfd[0].events = POLLIN;
		pfd[1].fd = r->fwd;
		pfd[1].events = r->fwdbuf.len ? POLLOUT : 0;
		pfd[2].fd = r->logfd;
		pfd[2].events = POLLIN;
		nfd = r->logfd >= 0 ? 3 : 2;
		n = poll(pfd, nfd, left < 0 ? 1000 :
		    left > 1000 ? 1000 : (int)left + 1);
		if (n > 0 && pfd[0].revents)
			while (read(run_sigpipe[0], drain, sizeof(drain)) > 0)
				;
		if (n > 0 && pfd[1].revents)
			fwd_flush(r);
		if (n > 0 && nfd == 3 && pfd[2].revents)
			(void)run_read_log(r);
	}
	/*
	 * The builder's processes are gone: what they wrote is in the pipe.
	 * Something outside may still hold its write end (a fixed-output
	 * builder can pass it out), so take only what comes within a
	 * moment, and give the session as long to take what is queued.
	 */
	end = now_ms() + 1000;
	while (now_ms() < end && run_read_log(r) == 0)
		;
	end = now_ms() + 2000;
	while (r->fwdbuf.len && now_ms() < end) {
		pfd[0].fd = r->fwd;
		pfd[0].events = POLLOUT;
		if (poll(pfd, 1, 100) > 0)
			fwd_flush(r);
	}
	r->status = st;
	return 0;
}

/* Compare a fixed output's hash with the declared one. */
static int
check_fixed(const char *drvpath, const char *src,
    const struct drv_output *o)
{
	const char *algo = o->hash_algo;
	int recursive = 0;
	enum hash_algo a;
	struct hash want, got;
	char *w, *g;

	if (!strncmp(algo, "r:", 2)) {
		recursive = 1;
		algo += 2;
	}
	if (hash_algo_parse(algo, &a) < 0 ||
	    hash_parse(o->hash, 1, a, &want) < 0)
		return frx_preferr("%s", drvpath);
	if (recursive) {
		uint64_t size;

		if (a != HASH_SHA256)
			return frx_seterr("%s: recursive %s outputs are not "
			    "supported", drvpath, algo);
		if (nar_hash_path(src, &got, &size) < 0)
			return -1;
	} else if (hash_file(a, src, &got) < 0) {
		return -1;
	}
	if (want.len == got.len && !memcmp(want.d, got.d, got.len))
		return 0;
	w = hash_typed_base32(&want);
	g = hash_typed_base32(&got);
	frx_seterr("hash mismatch in fixed-output derivation '%s':\n"
	    "  specified: %s\n     got:    %s", drvpath, w, g);
	free(w);
	free(g);
	return -1;
}

/*
 * One output: canonicalise it, stage it in the store directory, then
 * check, scan and hash what was staged.
 *
 * A fixed-output build shares the host's network, so it can hand a
 * descriptor of its output to a process outside the sandbox (over an
 * abstract Unix socket, say), which could rewrite the file after its
 * hash was checked.  Its outputs are therefore always copied into new
 * inodes that only the daemon has ever opened, and everything that is
 * recorded about the object is computed from that copy.  Other builds
 * have a network namespace of their own and no way out, and every one
 * of their processes is dead by now, so their outputs may be renamed.
 */
static int
run_output(struct run *r, size_t i, const struct strv *cands)
{
	const struct drv_output *o = &r->j->d->outputs[i];
	char *src = xasprintf("%s%s", r->root, o->path), *staged = NULL;
	unsigned long long size;
	struct strv refs = STRV_INIT;
	struct stat st;
	struct hash h;
	size_t k;
	int rc = -1;

	if (lstat(src, &st) < 0) {
		frx_seterr("builder for '%s' failed to produce output path "
		    "'%s'", r->j->drvpath, o->path);
		goto out;
	}
	if (canonicalise_tree(src) < 0) {
		frx_preferr("output '%s' of '%s'", o->path, r->j->drvpath);
		goto out;
	}
	if (store_stage_object(src, drv_is_fixed(r->j->d), &staged) < 0)
		goto out;
	if ((drv_is_fixed(r->j->d) && check_fixed(r->j->drvpath, staged,
	    o) < 0) || refs_hash_scan_path(cfg.storedir, staged, cands,
	    &refs, &h, &size) < 0) {
		(void)remove_tree(staged);
		goto out;
	}
	putn(&r->report, "out", (long long)i);
	puts_(&r->report, "src", staged);
	put(&r->report, "hash", (const char *)h.d, h.len);
	putn(&r->report, "size", (long long)size);
	for (k = 0; k < refs.n; k++)
		puts_(&r->report, "ref", refs.v[k]);
	rc = 0;
out:
	free(src);
	free(staged);
	strv_free(&refs);
	return rc;
}

static int
run_outputs(struct run *r)
{
	const struct job *j = r->j;
	struct strv cands = STRV_INIT;
	size_t i;
	int rc = 0;

	for (i = 0; i < j->inputs.n; i++)
		strv_add(&cands, j->inputs.v[i]);
	for (i = 0; i < j->d->noutputs; i++)
		strv_add(&cands, j->d->outputs[i].path);
	for (i = 0; rc == 0 && i < j->d->noutputs; i++)
		rc = run_output(r, i, &cands);
	strv_free(&cands);
	return rc;
}

/* Keep a failed build's directory under a name of its own. */
static void
run_keep(struct run *r)
{
	char hashpart[33];
	char *kept;

	(void)store_hash_part(cfg.storedir, r->j->drvpath, hashpart);
	kept = xasprintf("%s/builds/failed-%.12s-%ld-%u", cfg.statedir,
	    hashpart, (long)getpid(), buildcounter++);
	if (rename(r->tmp, kept) < 0) {
		dlog("warning", "%s: cannot keep %s: %s", r->j->drvpath,
		    r->tmp, strerror(errno));
	} else {
		puts_(&r->report, "kept", kept);
		r->tmp_ready = 0;
	}
	free(kept);
}

static int
run_build(struct run *r)
{
	int ok, rc;

	if (run_dirs(r) < 0)
		return -1;
	r->hostname = build_hostname(r->j->drvpath, r->j->d);
	rc = run_prepare(r) < 0 || run_go(r) < 0 ? -1 : 0;
	run_spec_free(r);
	if (rc < 0 || run_wait(r) < 0)
		return -1;
	/* On Linux nothing is left once PID 1 has been reaped; a jail can
	 * still hold processes of the build: they go now. */
	if (sandbox_kill(r->sb) < 0)
		return -1;
	ok = !r->killed_for && WIFEXITED(r->status) &&
	    WEXITSTATUS(r->status) == 0;
	/*
	 * Every process of the build is gone: its job slot is free while
	 * the outputs are checked and the sandbox torn down, and its user
	 * too when nothing of the build can reach the user's files.  Not
	 * after a failure: the session must know of it before it starts
	 * another build (without keep-going it starts none).
	 */
	if (ok) {
		const char *m = !drv_is_fixed(r->j->d) &&
		    sandbox_gone(r->sb) && build_dir_disown(r->tmp) == 0 ?
		    REPORT_EXITED_USER : REPORT_EXITED;

		(void)write_full(r->res, m, strlen(m));
		/* A pipe's reader wakes on the writer's CPU: the session
		 * would wait there for the outputs' hashing, the other CPU
		 * maybe idle. */
		(void)sched_yield();
	}
	putn(&r->report, "end", now_s());
	putn(&r->report, "status", r->status);
	if (r->killed_for) {
		char k[2] = { (char)r->killed_for, 0 };

		puts_(&r->report, "killed", k);
	}
	return ok ? run_outputs(r) : 1;
}

/*
 * Hand the report over, with the log complete and the output pipe
 * closed: the session can register the outputs, which are staged in
 * the store directory, out of the sandbox, and answer its client.
 */
static void
run_report(struct run *r)
{
	if (r->log && buildlog_close(r->log) < 0)
		dlog("warning", "%s", frx_errmsg());
	r->log = NULL;
	puts_(&r->report, "done", "");
	(void)write_full(r->res, r->report.data, r->report.len);
	close(r->res);
	close(r->fwd);
	r->res = r->fwd = -1;
}

/* Tear down; the caller decides whether a failure fails the build. */
static int
run_teardown(struct run *r, int rc)
{
	if (r->sb && sandbox_destroy(r->sb) < 0) {
		dlog("error", "%s: teardown: %s", r->j->drvpath,
		    frx_errmsg());
		if (rc == 0)
			rc = -1;
		/* The ledger in top names what is left, for the next start. */
		free(r->top);
		r->top = NULL;
	}
	r->sb = NULL;
	if (rc != 0 && r->j->s->keep_failed && r->tmp_ready && r->started)
		run_keep(r);
	if (r->tmp_ready && build_dir_remove(r->tmp) < 0)
		dlog("warning", "%s", frx_errmsg());
	if (r->top && remove_tree(r->top) < 0)
		dlog("warning", "%s", frx_errmsg());
	return rc;
}

void
runner_main(struct job *j, int fwd, int res, int go)
{
	struct run r;
	size_t i;
	int rc;

	memset(&r, 0, sizeof(r));
	r.j = j;
	r.fwd = fwd;
	r.res = res;
	r.go = go;
	r.pipefd[0] = r.pipefd[1] = -1;
	r.pool = -1;
	store_stage_restart();
	/*
	 * A prepared build is set up while other builders run: it takes the
	 * CPU they leave, and does not delay the running build's runner,
	 * whose report frees the slot it waits for.
	 */
	if (go >= 0)
		r.reniced = nice_lower(PREPARE_NICE, &r.nice);
	(void)fcntl(fwd, F_SETFL, fcntl(fwd, F_GETFL) | O_NONBLOCK);
	r.logfd = -1;
	for (i = 0; i < j->d->noutputs; i++)
		strv_add(&r.outpaths, j->d->outputs[i].path);
	close(j->s->conn.fd);	/* the client sees the session's end */
	compat_set_name("frx-runner");
	daemon_retitle("frx-runner");
	rc = run_signals();
	if (rc == 0)
		rc = run_build(&r);
	if (rc < 0) {
		puts_(&r.report, "error", frx_errmsg());
		r.reported_error = 1;
	}
	/* The report names a kept directory.  A fixed-output builder has
	 * the host's network and may have passed descriptors of its
	 * directories out: they are gone before its client hears of it.
	 * After an error the sandbox may not be gone: it goes first. */
	if ((rc != 0 && j->s->keep_failed && r.tmp_ready && r.started) ||
	    drv_is_fixed(j->d) || rc < 0) {
		rc = run_teardown(&r, rc);
		if (rc < 0 && !r.reported_error)
			puts_(&r.report, "error", frx_errmsg());
		run_report(&r);
		_exit(0);
	}
	/*
	 * Report first, as Nix registers outputs before it removes the
	 * build's directories: nothing of the build runs any more, its
	 * outputs are out of the root, and what is left to remove is ours
	 * (a builder without a network had no way to hand anything out).
	 * A teardown that fails now is logged (and the root stays in the
	 * ledger for the next start), but no longer fails the build.
	 */
	run_report(&r);
	(void)run_teardown(&r, rc);
	_exit(0);
}
