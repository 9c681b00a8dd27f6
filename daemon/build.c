/*
 * build.c: realising derivations.  Inputs first, then for each derivation
 * whose outputs are missing: lock the outputs, take a build user, compute
 * the mount plan, run the builder in the sandbox while its log streams to
 * the client, tear the sandbox down, and move the outputs into the store
 * (check file types, canonicalise, scan references, NAR hash, register in
 * one transaction).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/nar.h"
#include "../lib/refs.h"
#include "../lib/store.h"
#include "../sandbox/sandbox.h"
#include "daemon.h"

#define TAIL_LINES 10
#define MAX_DEPTH 256

static struct sandbox *volatile running;
static unsigned buildcounter;

void
build_abort(void)
{
	if (running)
		(void)sandbox_kill(running);
}

int
load_drv(struct session *s, const char *path, struct drv *d)
{
	struct buf b = BUF_INIT;
	int v, r;

	drv_init(d);
	if (store_check_path(cfg.storedir, path) < 0)
		return -1;
	if (strlen(path) < 5 || strcmp(path + strlen(path) - 4, ".drv") != 0)
		return frx_seterr("%s: not a derivation", path);
	if ((v = db_is_valid(s->db, path)) <= 0)
		return v < 0 ? -1 :
		    frx_seterr("derivation '%s' is not valid", path);
	if (read_file(path, &b) < 0)
		return -1;
	r = drv_parse(b.data, b.len, d);
	buf_free(&b);
	if (r < 0)
		return frx_preferr("%s", path);
	return 0;
}

int
load_drv_cb(void *ctx, const char *path, struct drv *d)
{
	return load_drv(ctx, path, d);
}

int
closure(struct db *db, const struct strv *paths, struct strv *out)
{
	struct strv todo = STRV_INIT;
	struct path_info pi;
	size_t i;
	int v;

	for (i = 0; i < paths->n; i++)
		strv_add(&todo, paths->v[i]);
	while (todo.n > 0) {
		char *p = todo.v[--todo.n];

		if (strv_contains(out, p)) {
			free(p);
			continue;
		}
		memset(&pi, 0, sizeof(pi));
		v = db_query_info(db, p, &pi);
		if (v <= 0) {
			if (v == 0)
				frx_seterr("path '%s' is not valid", p);
			free(p);
			strv_free(&todo);
			return -1;
		}
		for (i = 0; i < pi.refs.n; i++)
			if (!strv_contains(out, pi.refs.v[i]))
				strv_add(&todo, pi.refs.v[i]);
		path_info_free(&pi);
		strv_addn(out, p);
	}
	strv_free(&todo);
	strv_sort(out);
	return 0;
}

int
build_ensure_path(struct session *s, const char *path)
{
	int v = db_is_valid(s->db, path);

	if (v < 0)
		return -1;
	if (v == 0)
		return frx_seterr("path '%s' is not valid, and frx-daemon has "
		    "no substituters to fetch it from", path);
	return 0;
}

/* Everything one build needs, so that clean-up is one function. */
struct job {
	struct session *s;
	const char *drvpath;
	const struct drv *d;
	char *top;		/* <state>/builds/<id> */
	char *root;		/* top/root: the sandbox's / */
	char *tmp;		/* top/tmp: the sandbox's /tmp */
	char *ledger;
	char *logpath;
	int logfile;
	struct build_user user;
	struct strv inputs;	/* closure of the inputs */
	struct strv outpaths;
	char *hostname;
	struct buf tail[TAIL_LINES];
	size_t ntail;
	struct buf partial;
	int64_t start, end;
	int status;		/* wait status */
	int killed_for;		/* 0, 't' timeout, 's' silence */
	uid_t obs_uid;
	gid_t obs_gid;
	char *obs_host;
	int started;
};

static int is_builtin(const struct drv *d);

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

static char *
log_path(const char *drvpath)
{
	const char *base = strrchr(drvpath, '/') + 1;
	char *dir = xasprintf("%s/log/drvs/%.2s", cfg.statedir, base), *p;

	(void)mkdirs(dir, 0755);
	p = xasprintf("%s/%s", dir, base + 2);
	free(dir);
	return p;
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

/* Builder output: to the log file, to the client line by line, and into
 * the tail kept for the error message. */
static void
log_chunk(struct job *j, const char *p, size_t n)
{
	size_t i, start = 0;

	if (j->logfile >= 0)
		(void)write_full(j->logfile, p, n);
	for (i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		buf_add(&j->partial, p + start, i - start);
		session_log_raw(j->s, j->partial.data ? j->partial.data : "",
		    j->partial.len);
		tail_add(j, j->partial.data ? j->partial.data : "",
		    j->partial.len);
		buf_reset(&j->partial);
		start = i + 1;
	}
	buf_add(&j->partial, p + start, n - start);
	if (j->partial.len > 65536) {
		session_log_raw(j->s, j->partial.data, j->partial.len);
		buf_reset(&j->partial);
	}
}

static void
log_flush_partial(struct job *j)
{
	if (j->partial.len == 0)
		return;
	session_log_raw(j->s, j->partial.data, j->partial.len);
	tail_add(j, j->partial.data, j->partial.len);
	buf_reset(&j->partial);
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
make_env(const struct drv *d, struct strv *env)
{
	char cores[16];
	size_t i;

	snprintf(cores, sizeof(cores), "%d", cfg.cores);
	env_set(env, "PATH", "/path-not-set");
	env_set(env, "HOME", "/homeless-shelter");
	env_set(env, "NIX_STORE", cfg.storedir);
	env_set(env, "NIX_BUILD_CORES", cores);
	for (i = 0; i < d->nenv; i++)
		env_set(env, d->env[i].key, d->env[i].value);
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
job_dirs(struct job *j)
{
	char hashpart[33];

	(void)store_hash_part(cfg.storedir, j->drvpath, hashpart);
	j->top = xasprintf("%s/builds/%.12s-%ld-%u", cfg.statedir, hashpart,
	    (long)getpid(), buildcounter++);
	j->root = xasprintf("%s/root", j->top);
	j->tmp = xasprintf("%s/tmp", j->top);
	j->ledger = xasprintf("%s/ledger", j->top);
	if (mkdir(j->top, 0700) < 0)
		return frx_seterr_errno("%s: mkdir", j->top);
	if (mkdir(j->tmp, 0700) < 0)
		return frx_seterr_errno("%s: mkdir", j->tmp);
	if (chown(j->tmp, j->user.uid, j->user.gid) < 0)
		return frx_seterr_errno("%s: chown", j->tmp);
	/* Only the built-in fetcher, which runs as the build user outside
	 * any sandbox, must reach tmp through top; a sandboxed build's
	 * files stay out of other host users' reach while it runs. */
	if (is_builtin(j->d) && chmod(j->top, 0711) < 0)
		return frx_seterr_errno("%s: chmod", j->top);
	return 0;
}

/* Run the builder, streaming its log, until it ends or a limit hits. */
static int
job_run(struct job *j, struct sandbox *sb, int logfd)
{
	struct pollfd pfd;
	char chunk[65536];
	int64_t last = now_s();
	int timeout = j->s->timeout, silent = j->s->max_silent;
	int st, r, open = 1;
	ssize_t n;

	for (;;) {
		pfd.fd = logfd;
		pfd.events = POLLIN;
		r = open ? poll(&pfd, 1, 200) : (usleep(20000), 0);
		if (r < 0 && errno != EINTR)
			return frx_seterr_errno("poll");
		if (r > 0) {
			n = read(logfd, chunk, sizeof(chunk));
			if (n > 0) {
				log_chunk(j, chunk, (size_t)n);
				last = now_s();
			} else if (n == 0) {
				open = 0;
			}
		}
		r = sandbox_poll(sb, &st);
		if (r < 0)
			return -1;
		if (r == 1 && !open)
			break;
		if (r == 1 && open) {
			/* Drain what is buffered; the writers are gone. */
			while ((n = read(logfd, chunk, sizeof(chunk))) > 0)
				log_chunk(j, chunk, (size_t)n);
			break;
		}
		if (!j->killed_for && timeout > 0 &&
		    now_s() - j->start >= timeout)
			j->killed_for = 't';
		else if (!j->killed_for && silent > 0 &&
		    now_s() - last >= silent)
			j->killed_for = 's';
		if (j->killed_for && sandbox_kill(sb) < 0)
			return -1;
	}
	log_flush_partial(j);
	j->status = st;
	return 0;
}

static int
job_fail_message(struct job *j)
{
	struct buf b = BUF_INIT;
	size_t i;

	if (j->killed_for == 't')
		buf_printf(&b, "building '%s' timed out after %d seconds",
		    j->drvpath, j->s->timeout);
	else if (j->killed_for == 's')
		buf_printf(&b, "building '%s' was killed after %d seconds "
		    "without output", j->drvpath, j->s->max_silent);
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

/* Compare a fixed output's hash with the declared one. */
static int
check_fixed(struct job *j, const char *src, const struct drv_output *o)
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
		return frx_preferr("%s", j->drvpath);
	if (recursive) {
		uint64_t size;

		if (a != HASH_SHA256)
			return frx_seterr("%s: recursive %s outputs are not "
			    "supported", j->drvpath, algo);
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
	    "  specified: %s\n     got:    %s", j->drvpath, w, g);
	free(w);
	free(g);
	return -1;
}

/* Outputs from the sandbox root into the store, in one registration. */
static int
job_register(struct job *j)
{
	const struct drv *d = j->d;
	struct strv cands = STRV_INIT;
	struct path_info *infos;
	char **srcs;
	size_t i, k, n = d->noutputs;
	unsigned long long size;
	int r = -1;

	infos = xcalloc(n, sizeof(*infos));
	srcs = xcalloc(n, sizeof(*srcs));
	for (i = 0; i < j->inputs.n; i++)
		strv_add(&cands, j->inputs.v[i]);
	for (i = 0; i < n; i++)
		strv_add(&cands, d->outputs[i].path);
	for (i = 0; i < n; i++) {
		struct stat st;

		srcs[i] = xasprintf("%s%s", j->root, d->outputs[i].path);
		if (lstat(srcs[i], &st) < 0) {
			frx_seterr("builder for '%s' failed to produce output "
			    "path '%s'", j->drvpath, d->outputs[i].path);
			goto out;
		}
		if (canonicalise_tree(srcs[i]) < 0) {
			frx_preferr("output '%s' of '%s'", d->outputs[i].path,
			    j->drvpath);
			goto out;
		}
		if (drv_is_fixed(d) && check_fixed(j, srcs[i],
		    &d->outputs[i]) < 0)
			goto out;
		infos[i].path = xstrdup(d->outputs[i].path);
		infos[i].deriver = xstrdup(j->drvpath);
		if (refs_hash_scan_path(cfg.storedir, srcs[i], &cands,
		    &infos[i].refs, &infos[i].nar_hash, &size) < 0)
			goto out;
		infos[i].nar_size = size;
		infos[i].ultimate = 1;
		if (drv_is_fixed(d)) {
			struct hash h;
			const char *algo = d->outputs[i].hash_algo;
			int rec = !strncmp(algo, "r:", 2);
			enum hash_algo a;

			if (infos[i].refs.n) {
				frx_seterr("fixed-output derivation '%s' "
				    "produced an output with references",
				    j->drvpath);
				goto out;
			}
			(void)hash_algo_parse(algo + (rec ? 2 : 0), &a);
			(void)hash_parse(d->outputs[i].hash, 1, a, &h);
			infos[i].ca = store_ca_fixed(rec, &h);
		}
	}
	r = store_add_objects(j->s->db, srcs, infos, n);
	for (k = 0; r == 0 && k < n; k++)
		r = db_add_drv_output(j->s->db, j->drvpath,
		    d->outputs[k].name, d->outputs[k].path);
out:
	for (i = 0; i < n; i++) {
		path_info_free(&infos[i]);
		free(srcs[i]);
	}
	free(infos);
	free(srcs);
	strv_free(&cands);
	return r;
}

static void
job_record(struct job *j, int ok)
{
	struct buf b = BUF_INIT;
	size_t i;
	const char *out = NULL;

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
		buf_printf(&b, "status=%s\n", ok ? "succeeded" :
		    j->killed_for == 't' ? "timed-out" :
		    j->killed_for == 's' ? "silent-timeout" : "failed");
	if (j->logpath)
		buf_printf(&b, "log_file=%s\n", j->logpath);
	if (db_add_build_record(j->s->db, j->drvpath, b.data) < 0)
		dlog("warning", "%s: cannot store the build record: %s",
		    j->drvpath, frx_errmsg());
	buf_free(&b);
}

static void
job_free(struct job *j, int keep)
{
	size_t i;

	if (j->top && !keep)
		(void)remove_tree(j->top);
	else if (j->top)
		(void)remove_tree(j->root);
	free(j->top);
	free(j->root);
	free(j->tmp);
	free(j->ledger);
	free(j->logpath);
	if (j->logfile >= 0)
		close(j->logfile);
	users_release(&j->user);
	strv_free(&j->inputs);
	strv_free(&j->outpaths);
	free(j->hostname);
	free(j->obs_host);
	for (i = 0; i < j->ntail; i++)
		buf_free(&j->tail[i]);
	buf_free(&j->partial);
}

static int
job_sandbox(struct job *j)
{
	struct sandbox_plan plan = { NULL, 0 };
	struct plan_params pp;
	struct sandbox_spec spec;
	struct strv env = STRV_INIT, argv = STRV_INIT;
	struct sandbox *sb = NULL;
	char **envp = NULL, **av = NULL;
	int pipefd[2] = { -1, -1 }, r = -1;
	size_t i;

	memset(&pp, 0, sizeof(pp));
	pp.storedir = cfg.storedir;
	pp.host_paths = &cfg.host_paths;
	pp.inputs = &j->inputs;
	pp.outputs = &j->outpaths;
	pp.uid = j->user.uid;
	pp.gid = j->user.gid;
	pp.hostname = j->hostname;
	pp.network = drv_is_fixed(j->d);
	pp.builddir = j->tmp;
	if (plan_make(&pp, &plan) < 0)
		goto out;
	make_env(j->d, &env);
	strv_add(&argv, j->d->builder);
	for (i = 0; i < j->d->args.n; i++)
		strv_add(&argv, j->d->args.v[i]);
	envp = strv_nullterm(&env);
	av = strv_nullterm(&argv);
	if (pipe(pipefd) < 0) {
		frx_seterr_errno("pipe");
		goto out;
	}
	(void)fcntl(pipefd[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(pipefd[1], F_SETFD, FD_CLOEXEC);
	memset(&spec, 0, sizeof(spec));
	spec.root = j->root;
	spec.plan = &plan;
	spec.uid = j->user.uid;
	spec.gid = j->user.gid;
	spec.hostname = j->hostname;
	spec.network = pp.network;
	spec.cwd = "/tmp";
	spec.argv = av;
	spec.envp = envp;
	spec.log_fd = pipefd[1];
	spec.ledger = j->ledger;
	j->start = now_s();
	if (sandbox_start(&spec, &sb) < 0) {
		frx_preferr("cannot build '%s': sandbox setup failed",
		    j->drvpath);
		j->end = now_s();
		goto out;
	}
	running = sb;
	j->started = 1;
	j->obs_uid = sandbox_observed_uid(sb);
	j->obs_gid = sandbox_observed_gid(sb);
	j->obs_host = xstrdup(sandbox_observed_hostname(sb));
	close(pipefd[1]);
	pipefd[1] = -1;
	dlog("info", "building %s as uid %ld in %s (%s)", j->drvpath,
	    (long)j->obs_uid, j->obs_host, sandbox_mode());
	r = job_run(j, sb, pipefd[0]);
	j->end = now_s();
	/* Whatever the builder left running dies before we look at its
	 * outputs. */
	if (sandbox_kill(sb) < 0 && r == 0)
		r = -1;
	if (r == 0 && (j->killed_for || !WIFEXITED(j->status) ||
	    WEXITSTATUS(j->status) != 0))
		r = job_fail_message(j);
	if (r == 0)
		r = job_register(j);
out:
	if (sb) {
		char *msg = xstrdup(frx_errmsg());

		running = NULL;
		if (sandbox_destroy(sb) < 0) {
			dlog("error", "%s: teardown: %s", j->drvpath,
			    frx_errmsg());
			r = -1;
		} else {
			frx_seterr("%s", msg);
		}
		free(msg);
	}
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	plan_free(&plan);
	free(envp);
	free(av);
	strv_free(&env);
	strv_free(&argv);
	return r;
}

static int
is_builtin(const struct drv *d)
{
	return !strcmp(d->builder, "builtin:download") ||
	    !strcmp(d->builder, "builtin:fetchurl");
}

static int
check_platform(const char *drvpath, const struct drv *d)
{
	if (is_builtin(d))
		return 0;
	if (strcmp(d->platform, cfg.system) != 0)
		return frx_seterr("cannot build '%s': it is for '%s', and "
		    "this machine is '%s'", drvpath, d->platform, cfg.system);
	return 0;
}

/* Build one derivation whose inputs are valid; outputs are locked. */
static int
build_one(struct session *s, const char *drvpath, const struct drv *d)
{
	struct job j;
	size_t i;
	int r = -1, ok;

	memset(&j, 0, sizeof(j));
	j.s = s;
	j.drvpath = drvpath;
	j.d = d;
	j.logfile = -1;
	j.user.lockfd = -1;
	for (i = 0; i < d->noutputs; i++)
		strv_add(&j.outpaths, d->outputs[i].path);
	if (check_platform(drvpath, d) < 0 ||
	    drv_check_outputs(cfg.storedir, d, load_drv_cb, s) < 0 ||
	    job_inputs(&j) < 0 || users_acquire(&j.user) < 0 ||
	    job_dirs(&j) < 0)
		goto out;
	for (i = 0; i < d->noutputs; i++)
		if (store_remove_invalid(s->db, d->outputs[i].path) < 0)
			goto out;
	j.hostname = build_hostname(drvpath, d);
	j.logpath = log_path(drvpath);
	j.logfile = open(j.logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);
	if (j.logfile < 0)
		dlog("warning", "%s: %s", j.logpath, strerror(errno));
	session_log(s, "building '%s'...", drvpath);
	if (is_builtin(d)) {
		j.start = now_s();
		r = fetch_builtin(s, drvpath, d, j.tmp, j.user.uid,
		    j.user.gid);
		j.end = now_s();
		j.status = r == 0 ? 0 : 1 << 8;
		goto out;
	}
	r = job_sandbox(&j);
	ok = r == 0;
	{
		char *msg = xstrdup(frx_errmsg());

		job_record(&j, ok);
		frx_seterr("%s", msg);
		free(msg);
	}
	if (!ok && s->keep_failed && j.started) {
		char *keep = xasprintf("%s/keep", j.top);

		(void)write_file(keep, "", 0, 0644);
		free(keep);
		session_log(s, "note: keeping build directory '%s'", j.tmp);
		dlog("info", "%s: kept failed build directory %s", drvpath,
		    j.tmp);
		job_free(&j, 1);
		return r;
	}
	if (!ok)
		dlog("info", "%s: build failed", drvpath);
	else
		dlog("info", "%s: built", drvpath);
out:
	job_free(&j, 0);
	return r;
}

static int
outputs_valid(struct session *s, const struct drv *d,
    const struct strv *wanted)
{
	size_t i;
	int v;

	for (i = 0; i < d->noutputs; i++) {
		if (wanted && !strv_contains(wanted, d->outputs[i].name))
			continue;
		v = db_is_valid(s->db, d->outputs[i].path);
		if (v <= 0)
			return v;
	}
	return 1;
}

static int
lock_outputs(const struct drv *d, int *locks)
{
	size_t i;

	/* drv outputs are sorted by name: a fixed order, so no deadlock. */
	for (i = 0; i < d->noutputs; i++) {
		locks[i] = store_lock_path(d->outputs[i].path);
		if (locks[i] < 0) {
			while (i-- > 0)
				store_unlock(locks[i]);
			return -1;
		}
	}
	return 0;
}

static int
realise(struct session *s, const char *drvpath, const struct strv *wanted,
    int depth)
{
	struct drv d;
	int *locks = NULL, r = -1, v;
	size_t i;

	if (depth > MAX_DEPTH)
		return frx_seterr("%s: derivation graph deeper than %d",
		    drvpath, MAX_DEPTH);
	if (load_drv(s, drvpath, &d) < 0)
		return -1;
	for (i = 0; wanted && i < wanted->n; i++) {
		size_t o;

		for (o = 0; o < d.noutputs; o++)
			if (!strcmp(d.outputs[o].name, wanted->v[i]))
				break;
		if (o == d.noutputs) {
			frx_seterr("derivation '%s' has no output '%s'",
			    drvpath, wanted->v[i]);
			goto out;
		}
	}
	if ((v = outputs_valid(s, &d, wanted)) != 0) {
		r = v < 0 ? -1 : 0;
		goto out;
	}
	for (i = 0; i < d.ninputs; i++)
		if (realise(s, d.inputs[i].path, &d.inputs[i].outputs,
		    depth + 1) < 0) {
			frx_preferr("dependency of '%s'", drvpath);
			goto out;
		}
	locks = xcalloc(d.noutputs ? d.noutputs : 1, sizeof(int));
	if (lock_outputs(&d, locks) < 0)
		goto out;
	/* Another session may have built it while we waited. */
	v = outputs_valid(s, &d, NULL);
	if (v == 0)
		r = build_one(s, drvpath, &d);
	else
		r = v < 0 ? -1 : 0;
	for (i = 0; i < d.noutputs; i++)
		store_unlock(locks[i]);
out:
	free(locks);
	drv_free(&d);
	return r;
}

int
build_derivation(struct session *s, const char *drvpath,
    const struct strv *outputs)
{
	return realise(s, drvpath, outputs, 0);
}
