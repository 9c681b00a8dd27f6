/*
 * job.c: one build, as the session sees it.
 *
 * The session prepares a build (input closure, old outputs out of the
 * way) and has a runner forked for it (runner.c; by the session's
 * launcher, launcher.c, where there is one), which sets up the sandbox,
 * runs the builder and reports.  The session relays the builder's output
 * to the client, keeping the last lines for an error message, and once
 * the runner has reported registers the staged outputs (one transaction
 * with the derivation's outputs and the build record).  The sandbox API
 * blocks while a sandbox is set up, so a runner per build is what lets
 * several builds, and a session's database work, proceed at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/store.h"
#include "../sandbox/sandbox.h"
#include "job.h"

static int
is_builtin(const struct drv *d)
{
	return !strcmp(d->builder, "builtin:download") ||
	    !strcmp(d->builder, "builtin:fetchurl");
}

pid_t
job_pid(const struct job *j)
{
	return j->runner;
}

int
job_finished(const struct job *j)
{
	return j->ended;
}

int
job_log_fd(const struct job *j)
{
	return j->logfd;
}

int
job_report_fd(const struct job *j)
{
	return j->resfd;
}

static void
tail_add(struct job *j, const char *line, size_t n)
{
	size_t i;

	if (j->ntail == TAIL_LINES) {
		buf_free(&j->tail[0]);
		for (i = 1; i < TAIL_LINES; i++)
			j->tail[i - 1] = j->tail[i];
		memset(&j->tail[TAIL_LINES - 1], 0, sizeof(struct buf));
		j->ntail--;
	}
	buf_add(&j->tail[j->ntail++], line, n);
}

static void
log_line(struct job *j, const char *line, size_t n)
{
	session_log_raw(j->s, line, n);
	tail_add(j, line, n);
}

static void
log_chunk(struct job *j, const char *p, size_t n)
{
	size_t i, start = 0;

	for (i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (j->partial.len == 0) {
			log_line(j, p + start, i - start);
		} else {
			buf_add(&j->partial, p + start, i - start);
			log_line(j, j->partial.data, j->partial.len);
			buf_reset(&j->partial);
		}
		start = i + 1;
	}
	buf_add(&j->partial, p + start, n - start);
	if (j->partial.len > 65536) {
		session_log_raw(j->s, j->partial.data, j->partial.len);
		buf_reset(&j->partial);
	}
}

/* 0 data, 1 end of file, 2 nothing now. */
static int
read_fd(int *fd, struct buf *into, struct job *j)
{
	char chunk[65536];
	ssize_t n;

	if (*fd < 0)
		return 1;
	n = read(*fd, chunk, sizeof(chunk));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 2 : 1;
	if (n == 0) {
		close(*fd);
		*fd = -1;
		return 1;
	}
	if (into)
		buf_add(into, chunk, (size_t)n);
	else
		log_chunk(j, chunk, (size_t)n);
	return 0;
}

static int
report_starts(const struct job *j, const char *mark)
{
	size_t n = strlen(mark);

	return j->report.len >= n && !memcmp(j->report.data, mark, n);
}

int
job_read(struct job *j, int fd)
{
	int r;

	if (fd == j->logfd)
		return read_fd(&j->logfd, NULL, j);
	if (fd != j->resfd)
		return 1;
	r = read_fd(&j->resfd, &j->report, j);
	if (!j->builder_gone && report_starts(j, REPORT_EXITED))
		j->builder_gone = 1;
	if (!j->builder_gone && report_starts(j, REPORT_EXITED_USER))
		j->builder_gone = j->user_free = 1;
	return r;
}

int
job_builder_gone(const struct job *j)
{
	return j->builder_gone || j->ended;
}

static int
spawn_runner(struct job *j, int prepared)
{
	int p[6] = { -1, -1, -1, -1, -1, -1 }, k;
	int *fwd = p, *res = p + 2, *go = p + 4;

	for (k = 0; k < (prepared ? 6 : 4); k += 2)
		if (pipe(p + k) < 0) {
			frx_seterr_errno("pipe");
			goto fail;
		}
	for (k = 0; k < 6; k++)
		if (p[k] >= 0)
			(void)fcntl(p[k], F_SETFD, FD_CLOEXEC);
	j->runner = launcher_spawn(j, fwd[1], res[1], go[0]);
	if (j->runner < 0)
		goto fail;
	if (j->runner == 0)
		j->runner = fork();
	if (j->runner < 0) {
		frx_seterr_errno("fork");
		goto fail;
	}
	if (j->runner == 0) {
		close(fwd[0]);
		close(res[0]);
		if (go[1] >= 0)
			close(go[1]);
		runner_main(j, fwd[1], res[1], go[0]);
	}
	close(fwd[1]);
	close(res[1]);
	if (go[0] >= 0)
		close(go[0]);
	j->logfd = fwd[0];
	j->resfd = res[0];
	j->gofd = go[1];
	(void)fcntl(j->logfd, F_SETFL, O_NONBLOCK);
	(void)fcntl(j->resfd, F_SETFL, O_NONBLOCK);
	return 0;
fail:
	for (k = 0; k < 6; k++)
		if (p[k] >= 0)
			close(p[k]);
	return -1;
}

static int
check_platform(const char *drvpath, const struct drv *d)
{
	if (is_builtin(d))
		return 0;
	if (!strncmp(d->builder, "builtin:", 8))
		return frx_seterr("cannot build '%s': frx-daemon has no "
		    "built-in builder '%s' (it has builtin:download and "
		    "builtin:fetchurl)", drvpath, d->builder + 8);
	if (strcmp(d->platform, cfg.system) != 0)
		return frx_seterr("cannot build '%s': it is for '%s', and "
		    "this machine is '%s'", drvpath, d->platform, cfg.system);
	return 0;
}

/* The input closure: sources plus the requested outputs of inputs. */
static int
job_inputs(struct job *j)
{
	struct strv direct = STRV_INIT;
	const struct drv *d = j->d;
	size_t i, k, o;
	int r = -1;

	for (i = 0; i < d->srcs.n; i++)
		strv_add(&direct, d->srcs.v[i]);
	for (i = 0; i < d->ninputs; i++) {
		struct drv in;

		if (load_drv(j->s, d->inputs[i].path, &in) < 0)
			goto out;
		for (k = 0; k < d->inputs[i].outputs.n; k++) {
			for (o = 0; o < in.noutputs; o++)
				if (!strcmp(in.outputs[o].name,
				    d->inputs[i].outputs.v[k]))
					break;
			if (o == in.noutputs) {
				frx_seterr("%s: has no output '%s'",
				    d->inputs[i].path,
				    d->inputs[i].outputs.v[k]);
				drv_free(&in);
				goto out;
			}
			strv_add(&direct, in.outputs[o].path);
		}
		drv_free(&in);
	}
	r = closure(j->s->db, &direct, &j->inputs);
out:
	strv_free(&direct);
	return r;
}

static int
job_prepare(struct job *j)
{
	size_t i;

	if (check_platform(j->drvpath, j->d) < 0 ||
	    drv_check_outputs(cfg.storedir, j->d, load_drv_cb, j->s) < 0 ||
	    job_inputs(j) < 0)
		return -1;
	for (i = 0; i < j->d->noutputs; i++)
		if (store_remove_invalid(j->s->db, j->d->outputs[i].path) < 0)
			return -1;
	return 0;
}

static void job_free(struct job *j);

/* XXX: a download runs to its end here, holding up the other builds'
 * logs; downloads are few and short. */
static void
job_fetch(struct job *j)
{
	char *tmp;

	j->builtin = 1;
	j->start = now_s();
	tmp = build_dir_make(&j->user);
	j->fetch_result = tmp ? 0 : -1;
	if (j->fetch_result == 0)
		j->fetch_result = fetch_builtin(j->s, j->drvpath, j->d, tmp,
		    &j->user);
	if (j->fetch_result < 0)
		j->error = xstrdup(frx_errmsg());
	if (tmp && build_dir_remove(tmp) < 0)
		dlog("warning", "%s", frx_errmsg());
	free(tmp);
	j->end = now_s();
	j->ended = 1;
}

struct job *
job_start(struct session *s, const char *drvpath, const struct drv *d,
    const struct build_user *user)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->s = s;
	j->drvpath = xstrdup(drvpath);
	j->d = d;
	if (user != NULL)
		j->user = *user;
	else
		users_stand_in(&j->user);
	j->logfd = j->resfd = j->gofd = j->confirmfd = -1;
	j->runner = -1;
	j->timeout = s->timeout;
	j->max_silent = s->max_silent;
	j->max_log = s->max_log;
	j->out = xcalloc(d->noutputs + 1, sizeof(*j->out));
	if (job_prepare(j) < 0)
		goto fail;
	/* A prepared build says so when it goes (job_go). */
	if (user != NULL)
		session_log(s, "building '%s'...", drvpath);
	if (is_builtin(d)) {
		job_fetch(j);
		return j;
	}
	if (spawn_runner(j, user == NULL) < 0)
		goto fail;
	return j;
fail:
	job_free(j);
	return NULL;
}

/* The runner reads the user in one piece: a pipe write this small is
 * atomic. */
void
job_go(struct job *j, const struct build_user *user)
{
	j->user = *user;
	if (j->gofd < 0)	/* cancelled: its runner reports that */
		return;
	if (write_full(j->gofd, user, sizeof(*user)) < 0)
		dlog("warning", "%s: cannot start the prepared build: %s",
		    j->drvpath, strerror(errno));
	close(j->gofd);
	j->gofd = -1;
	session_log(j->s, "building '%s'...", j->drvpath);
}

/*
 * The runner writes its report after the sandbox is gone and then
 * exits; the end of the report is the end of the build, and reaping the
 * runner can wait for job_finish.
 */
int
job_poll(struct job *j)
{
	pid_t w;

	if (j->ended)
		return 1;
	if (j->resfd < 0) {
		j->ended = 1;
		return 1;
	}
	do
		w = waitpid(j->runner, &j->runner_status, WNOHANG);
	while (w < 0 && errno == EINTR);
	if (w == 0)
		return 0;
	if (w < 0)
		dlog("error", "%s: waitpid runner %ld: %s", j->drvpath,
		    (long)j->runner, strerror(errno));
	j->reaped = 1;
	j->ended = 1;
	return 1;
}

/* waitpid, again after a signal; block: wait, else WNOHANG. */
static pid_t
wait_runner(pid_t pid, int *status, int block)
{
	pid_t w;

	do
		w = waitpid(pid, status, block ? 0 : WNOHANG);
	while (w < 0 && errno == EINTR);
	return w;
}

/* Reap the runner: 1 reaped (or nothing to reap), 0 still running. */
static int
job_reap(struct job *j, int block)
{
	pid_t w;

	if (j->reaped || j->runner <= 0)
		return 1;
	w = wait_runner(j->runner, &j->runner_status, block);
	if (w == 0)
		return 0;
	if (w < 0)
		dlog("error", "%s: waitpid runner %ld: %s", j->drvpath,
		    (long)j->runner, strerror(errno));
	j->reaped = 1;
	return 1;
}

/* The runner said its user is free: the pool may have it back now. */
int
job_release_user_early(struct job *j)
{
	if (!j->user_free || j->user.slot < 0)
		return 0;
	users_release(&j->user);
	return 1;
}

/* A killed runner's build may still be dying: its record stays. */
static void
give_user_back(struct job *j)
{
	if (j->runner_killed)
		users_release_dying(&j->user);
	else
		users_release(&j->user);
}

/* A runner that reported may still be tearing its sandbox down: its
 * user stays taken until it has exited (job_finish, job_reap_late),
 * unless the runner said otherwise. */
void
job_release_user(struct job *j)
{
	if (!j->builtin && !job_reap(j, 0))
		return;
	give_user_back(j);
}

/*
 * Runners that reported and are still tearing their sandbox down: the
 * session answers its client meanwhile and reaps them later.
 */
struct late {
	pid_t pid;
	struct build_user user;	/* given back once the runner is gone */
};
static struct late *late;
static size_t nlate, caplate;

int
job_reap_late(int block)
{
	size_t i = 0;
	int freed = 0;
	pid_t w;

	while (i < nlate) {
		w = wait_runner(late[i].pid, NULL, block);
		if (w == 0) {
			i++;
			continue;
		}
		users_release(&late[i].user);
		freed++;
		late[i] = late[--nlate];
	}
	return freed;
}

void
job_kill_late(void)
{
	size_t i;

	for (i = 0; i < nlate; i++)
		(void)kill(late[i].pid, SIGKILL);
}

/* The runner and, if it still holds one, its user go to the late list. */
static void
reap_later(struct job *j)
{
	if (nlate == caplate) {
		caplate = caplate ? 2 * caplate : 16;
		late = xrealloc(late, caplate * sizeof(*late));
	}
	late[nlate].pid = j->runner;
	late[nlate++].user = j->user;
	j->user.slot = -1;
}

void
job_cancel(struct job *j)
{
	if (!j->ended && j->runner > 0 && !j->killed_for) {
		j->killed_for = 'c';
		(void)kill(j->runner, SIGTERM);
	}
	/* A prepared build waits for its user in the sandbox's init, which
	 * our signal does not reach (runner.c): the end of the pipe does. */
	if (j->gofd >= 0) {
		close(j->gofd);
		j->gofd = -1;
	}
}

/* ---- the report ---- */

/* Next "key len\n<bytes>\n" of the report at *pos. */
static int
next_field(const struct buf *b, size_t *pos, char *key, size_t keymax,
    const char **val, size_t *len)
{
	const char *p = b->data + *pos, *nl, *sp;
	unsigned long long n;
	size_t at;
	char *end;

	if (*pos >= b->len)
		return 0;
	nl = memchr(p, '\n', b->len - *pos);
	sp = memchr(p, ' ', b->len - *pos);
	if (!nl || !sp || sp > nl || (size_t)(sp - p) >= keymax)
		return -1;
	memcpy(key, p, (size_t)(sp - p));
	key[sp - p] = '\0';
	n = strtoull(sp + 1, &end, 10);
	at = (size_t)(nl + 1 - b->data);
	if (end != nl || n > b->len || at + n + 1 > b->len)
		return -1;
	*val = nl + 1;
	*len = (size_t)n;
	*pos = at + (size_t)n + 1;
	return 1;
}

static void
report_field(struct job *j, const char *key, const char *v, size_t n,
    long *cur)
{
	char *s = xstrndup(v, n);
	long long num = strtoll(s, NULL, 10);

	if (!strcmp(key, "start"))
		j->start = num;
	else if (!strcmp(key, "end"))
		j->end = num;
	else if (!strcmp(key, "started"))
		j->started = 1;
	else if (!strcmp(key, "uid"))
		j->obs_uid = (uid_t)num;
	else if (!strcmp(key, "gid"))
		j->obs_gid = (gid_t)num;
	else if (!strcmp(key, "host"))
		j->obs_host = xstrdup(s);
	else if (!strcmp(key, "status"))
		j->status = (int)num;
	else if (!strcmp(key, "killed") && !j->killed_for)
		j->killed_for = s[0];
	else if (!strcmp(key, "killed") || !strcmp(key, "exited"))
		;
	else if (!strcmp(key, "done"))
		j->report_done = 1;
	else if (!strcmp(key, "error") && !j->error)
		j->error = xstrdup(s);
	else if (!strcmp(key, "kept"))
		j->kept = xstrdup(s);
	else if (!strcmp(key, "log"))
		j->logpath = xstrdup(s);
	else if (!strcmp(key, "out"))
		*cur = num >= 0 && (size_t)num < j->d->noutputs ? num : -1;
	else if (*cur >= 0 && !strcmp(key, "src"))
		j->out[*cur].src = xstrdup(s);
	else if (*cur >= 0 && !strcmp(key, "hash") && n == 32) {
		j->out[*cur].nar_hash.algo = HASH_SHA256;
		j->out[*cur].nar_hash.len = 32;
		memcpy(j->out[*cur].nar_hash.d, v, 32);
	} else if (*cur >= 0 && !strcmp(key, "size"))
		j->out[*cur].nar_size = (uint64_t)num;
	else if (*cur >= 0 && !strcmp(key, "ref"))
		strv_add(&j->out[*cur].refs, s);
	free(s);
}

static void
parse_report(struct job *j)
{
	char key[16];
	const char *v;
	size_t pos = 0, n;
	long cur = -1;
	int r;

	while ((r = next_field(&j->report, &pos, key, sizeof(key), &v,
	    &n)) > 0)
		report_field(j, key, v, n, &cur);
	if (r < 0 && !j->error)
		j->error = xstrdup("malformed report from the build runner");
}

/* ---- finishing ---- */

static int
job_fail_message(struct job *j)
{
	struct buf b = BUF_INIT;
	size_t i;

	if (j->killed_for == 't')
		buf_printf(&b, "building '%s' timed out after %d seconds "
		    "(timeout)", j->drvpath, j->timeout);
	else if (j->killed_for == 's')
		buf_printf(&b, "building '%s' was killed after %d seconds "
		    "without output (max-silent-time)", j->drvpath,
		    j->max_silent);
	else if (j->killed_for == 'l')
		buf_printf(&b, "building '%s' was killed: its log passed %llu "
		    "bytes (max-log-size)", j->drvpath, j->max_log);
	else if (j->killed_for == 'c')
		buf_printf(&b, "building '%s' was cancelled: its client went "
		    "away", j->drvpath);
	else if (WIFSIGNALED(j->status))
		buf_printf(&b, "builder for '%s' was killed by signal %d",
		    j->drvpath, WTERMSIG(j->status));
	else
		buf_printf(&b, "builder for '%s' failed with exit code %d",
		    j->drvpath, WEXITSTATUS(j->status));
	if (j->ntail) {
		buf_printf(&b, "; last %zu log lines:", j->ntail);
		for (i = 0; i < j->ntail; i++)
			buf_printf(&b, "\n> %s", j->tail[i].data ?
			    j->tail[i].data : "");
	}
	frx_seterr("%s", b.data);
	buf_free(&b);
	return -1;
}

static const char *
job_state(const struct job *j, int ok)
{
	if (ok)
		return "succeeded";
	switch (j->killed_for) {
	case 't': return "timed-out";
	case 's': return "silent-timeout";
	case 'l': return "log-limit";
	case 'c': return "cancelled";
	}
	return "failed";
}

static char *
record_text(const struct job *j, int ok)
{
	struct buf b = BUF_INIT;
	const char *out = NULL;
	size_t i;

	for (i = 0; i < j->d->noutputs; i++)
		if (!strcmp(j->d->outputs[i].name, "out"))
			out = j->d->outputs[i].path;
	buf_printf(&b, "drv_path=%s\n", j->drvpath);
	if (out)
		buf_printf(&b, "out_path=%s\n", out);
	for (i = 0; i < j->d->noutputs; i++)
		buf_printf(&b, "output.%s=%s\n", j->d->outputs[i].name,
		    j->d->outputs[i].path);
	buf_printf(&b, "build_mode=%s\n", sandbox_mode());
	if (j->started) {
		buf_printf(&b, "build_uid=%ld\n", (long)j->obs_uid);
		buf_printf(&b, "build_gid=%ld\n", (long)j->obs_gid);
		buf_printf(&b, "jail_hostname=%s\n",
		    j->obs_host ? j->obs_host : "");
	}
	buf_printf(&b, "start_time=%lld\n", (long long)j->start);
	buf_printf(&b, "end_time=%lld\n", (long long)j->end);
	if (!j->started)
		buf_printf(&b, "status=sandbox-setup-failed\n");
	else if (WIFEXITED(j->status))
		buf_printf(&b, "exit_status=%d\n", WEXITSTATUS(j->status));
	else
		buf_printf(&b, "exit_signal=%d\n", WTERMSIG(j->status));
	if (j->started)
		buf_printf(&b, "status=%s\n", job_state(j, ok));
	if (j->logpath)
		buf_printf(&b, "log_file=%s\n", j->logpath);
	return buf_steal(&b);
}

static int
fixed_info(const struct job *j, size_t i, struct path_info *pi)
{
	const char *algo = j->d->outputs[i].hash_algo;
	int rec = !strncmp(algo, "r:", 2);
	enum hash_algo a;
	struct hash h;

	if (pi->refs.n)
		return frx_seterr("fixed-output derivation '%s' produced an "
		    "output with references", j->drvpath);
	(void)hash_algo_parse(algo + (rec ? 2 : 0), &a);
	(void)hash_parse(j->d->outputs[i].hash, 1, a, &h);
	pi->ca = store_ca_fixed(rec, &h);
	return 0;
}

struct reg_extra {
	const struct job *j;
	const char *record;
};

/* Inside the registration's transaction. */
static int
register_extra(struct db *db, void *ctx)
{
	const struct reg_extra *x = ctx;
	size_t i;

	for (i = 0; i < x->j->d->noutputs; i++)
		if (db_add_drv_output(db, x->j->drvpath,
		    x->j->d->outputs[i].name, x->j->d->outputs[i].path) < 0)
			return -1;
	return db_add_build_record(db, x->j->drvpath, x->record);
}

/* The staged outputs into the store, with their record, at once. */
static int
job_register(struct job *j)
{
	const struct drv *d = j->d;
	struct path_info *infos;
	struct reg_extra x;
	char **srcs, *rec;
	size_t i, n = d->noutputs;
	int r = -1;

	infos = xcalloc(n + 1, sizeof(*infos));
	srcs = xcalloc(n + 1, sizeof(*srcs));
	for (i = 0; i < n; i++) {
		if (!j->out[i].src || !j->out[i].nar_size) {
			frx_seterr("%s: the build runner did not report "
			    "output '%s'", j->drvpath, d->outputs[i].name);
			goto out;
		}
		srcs[i] = j->out[i].src;
		infos[i].path = xstrdup(d->outputs[i].path);
		infos[i].deriver = xstrdup(j->drvpath);
		infos[i].nar_hash = j->out[i].nar_hash;
		infos[i].nar_size = j->out[i].nar_size;
		infos[i].ultimate = 1;
		strv_free(&infos[i].refs);
		infos[i].refs = j->out[i].refs;
		memset(&j->out[i].refs, 0, sizeof(j->out[i].refs));
		if (drv_is_fixed(d) && fixed_info(j, i, &infos[i]) < 0)
			goto out;
	}
	rec = record_text(j, 1);
	x.j = j;
	x.record = rec;
	r = store_add_objects_with(j->s->db, srcs, infos, n, register_extra,
	    &x);
	free(rec);
	if (r == 0)
		for (i = 0; i < n; i++) {
			free(j->out[i].src);
			j->out[i].src = NULL;	/* moved in */
		}
out:
	for (i = 0; i < n; i++)
		path_info_free(&infos[i]);
	free(infos);
	free(srcs);
	return r;
}

static void
job_record(struct job *j, int ok)
{
	char *rec = record_text(j, ok);

	if (db_add_build_record(j->s->db, j->drvpath, rec) < 0)
		dlog("warning", "%s: cannot store the build record: %s",
		    j->drvpath, frx_errmsg());
	free(rec);
}

static void
job_free(struct job *j)
{
	size_t i;

	give_user_back(j);
	if (j->logfd >= 0)
		close(j->logfd);
	if (j->resfd >= 0)
		close(j->resfd);
	if (j->gofd >= 0)	/* a prepared build that never went */
		close(j->gofd);
	for (i = 0; j->out && i < j->d->noutputs; i++) {
		/* Staged but not moved in: take it out of the store. */
		if (j->out[i].src && remove_tree(j->out[i].src) < 0)
			dlog("warning", "%s", frx_errmsg());
		free(j->out[i].src);
		strv_free(&j->out[i].refs);
	}
	free(j->out);
	free(j->drvpath);
	strv_free(&j->inputs);
	buf_free(&j->report);
	free(j->obs_host);
	free(j->error);
	free(j->kept);
	free(j->logpath);
	for (i = 0; i < j->ntail; i++)
		buf_free(&j->tail[i]);
	buf_free(&j->partial);
	free(j);
}

/* What the runner's report, or else its exit, says about the build. */
static int
job_outcome(struct job *j)
{
	parse_report(j);
	if (!j->report_done)
		(void)job_reap(j, 1);	/* it closed the pipe: it is gone */
	if (!j->report_done && (!WIFEXITED(j->runner_status) ||
	    WEXITSTATUS(j->runner_status))) {
		j->runner_killed = 1;
		runner_remove_leftovers(j->drvpath, j->runner,
		    j->d->noutputs);
		if (WIFSIGNALED(j->runner_status))
			return frx_seterr("the build runner for '%s' was "
			    "killed by signal %d", j->drvpath,
			    WTERMSIG(j->runner_status));
		return frx_seterr("the build runner for '%s' failed",
		    j->drvpath);
	}
	if (j->error && (!j->started || !j->killed_for))
		return frx_seterr("%s", j->error);
	if (!j->started || !j->report_done)
		return frx_seterr("the build runner for '%s' did not report",
		    j->drvpath);
	if (j->killed_for || !WIFEXITED(j->status) ||
	    WEXITSTATUS(j->status) != 0)
		return job_fail_message(j);
	return 0;
}

int
job_finish(struct job *j)
{
	char *msg;
	int r;

	if (j->builtin) {
		r = j->fetch_result;
		msg = xstrdup(r < 0 ? j->error : "");
		goto out;
	}
	while (read_fd(&j->resfd, &j->report, j) == 0)
		;
	while (read_fd(&j->logfd, NULL, j) == 0)
		;
	if (j->partial.len) {
		log_line(j, j->partial.data, j->partial.len);
		buf_reset(&j->partial);
	}
	r = job_outcome(j);
	if (r == 0)
		r = job_register(j);
	msg = xstrdup(r < 0 ? frx_errmsg() : "");
	/* A prepared build cancelled before it started built nothing. */
	if (r < 0 && (j->started || (j->error && !j->killed_for)))
		job_record(j, 0);
	if (j->kept)
		session_log(j->s, "note: keeping build directory '%s'",
		    j->kept);
out:
	dlog("info", "%s: %s", j->drvpath, r == 0 ? "built" :
	    "build failed");
	if (!j->builtin && !job_reap(j, 0))
		reap_later(j);
	job_free(j);
	if (r < 0)
		frx_seterr("%s", msg);
	free(msg);
	return r;
}
