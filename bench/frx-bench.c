/*
 * frx-bench.c: the measuring tool of the benchmarks (the bench scripts).  It
 * speaks the worker protocol through frx's client library, so the same
 * requests go to frx-daemon and to nix-daemon, and it times the parts of
 * frx that have no client of their own.
 *
 *   frx-bench build SOCKET STOREDIR N SALT JOBS
 *	make N trivial derivations (/bin/sh writing a small file to $out),
 *	add them, build them in one request; prints "add_s build_s"
 *   frx-bench one SOCKET STOREDIR SALT
 *	one trivial derivation, added and built by a fresh connection
 *   frx-bench spawn-one COUNT SOCKET STOREDIR SALT
 *	run `frx-bench one' COUNT times as new processes; prints the mean
 *	and the median ms from process start to result
 *   frx-bench bare N DIR
 *	run the trivial builder N times without any sandbox; prints the
 *	mean ms per run
 *   frx-bench sandbox N DIR STOREDIR
 *	the same builder N times in frx's sandbox (plan, start, wait,
 *	tear down), as uid 35001; prints the mean ms per run and per step
 *   frx-bench nar-hash PATH NCANDIDATES
 *	NAR hash and reference scan of PATH (as after a build), with
 *	NCANDIDATES made-up candidate paths; prints "bytes seconds"
 *   frx-bench nar-dump PATH
 *	the NAR of PATH on stdout
 *   frx-bench realise SOCKET ITEM...
 *	build items ("drv!out") in one request; prints the seconds
 *   frx-bench bare-drv DRV DIR UID CORES
 *	run DRV's builder with DRV's environment, as the daemon would give
 *	it but outside any sandbox: as uid:gid UID, in DIR/build, with out
 *	in DIR/out; prints the seconds
 *
 * Exit status: 0, 1 on failure (message on stderr), 2 on bad usage.
 */
#define _GNU_SOURCE	/* unshare */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <grp.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/drv.h"
#include "../lib/nar.h"
#include "../lib/refs.h"
#include "../lib/store.h"
#include "../proto/client.h"
#include "../sandbox/sandbox.h"

extern char **environ;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "frx-bench: %s: %s\n", what, frx_errmsg());
	exit(1);
}

static void
usage(void)
{
	fprintf(stderr, "usage: frx-bench build SOCKET STOREDIR N SALT JOBS\n"
	    "       frx-bench one SOCKET STOREDIR SALT\n"
	    "       frx-bench spawn-one COUNT SOCKET STOREDIR SALT\n"
	    "       frx-bench bare N DIR\n"
	    "       frx-bench sandbox N DIR STOREDIR\n"
	    "       frx-bench nar-hash PATH NCANDIDATES\n"
	    "       frx-bench nar-dump PATH\n"
	    "       frx-bench realise SOCKET ITEM...\n"
	    "       frx-bench bare-drv DRV DIR UID CORES\n");
	exit(2);
}

static const char *
system_name(void)
{
	static char name[64];

	snprintf(name, sizeof(name), "%s-linux",
#if defined(__x86_64__)
	    "x86_64"
#elif defined(__aarch64__)
	    "aarch64"
#else
	    "unknown"
#endif
	    );
	return name;
}

/* A trivial derivation, as `derivation { builder = "/bin/sh"; ... }`
 * with preferLocalBuild gives it. */
static char *
trivial_drv(const char *storedir, const char *salt, long i, struct buf *text)
{
	struct drv d;
	char name[64], script[256];

	drv_init(&d);
	snprintf(name, sizeof(name), "t%ld", i);
	snprintf(script, sizeof(script), "echo %s%ld > $out", salt, i);
	d.platform = xstrdup(system_name());
	d.builder = xstrdup("/bin/sh");
	strv_add(&d.args, "-c");
	strv_add(&d.args, script);
	drv_set_env(&d, "builder", "/bin/sh");
	drv_set_env(&d, "name", name);
	drv_set_env(&d, "preferLocalBuild", "1");
	drv_set_env(&d, "system", system_name());
	drv_add_output(&d, "out", "", "", "");
	drv_set_env(&d, "out", "");
	drv_sort(&d);
	if (drv_fill_outputs(storedir, &d, NULL, NULL) < 0)
		die("drv_fill_outputs");
	drv_unparse(&d, text);
	drv_free(&d);
	return xasprintf("%s.drv", name);
}

static void
quiet(void *ctx, const char *line)
{
	(void)ctx;
	(void)line;
}

static void
connect_to(struct client *cl, const char *sock, int jobs)
{
	struct client_options o = { 0, 0, jobs, 0, 0, 0, 0 };

	if (client_open(cl, sock, &o) < 0)
		die(sock);
	cl->log = quiet;
}

/* Add n trivial derivations; their "drv!out" items go to items. */
static void
add_drvs(struct client *cl, const char *storedir, long n, const char *salt,
    struct strv *items)
{
	struct strv none = STRV_INIT;
	long i;

	for (i = 0; i < n; i++) {
		struct buf text = BUF_INIT;
		char *name = trivial_drv(storedir, salt, i, &text), *path;

		if (client_add_text(cl, name, text.data, text.len, &none,
		    &path) < 0)
			die(name);
		strv_addn(items, xasprintf("%s!out", path));
		free(path);
		free(name);
		buf_free(&text);
	}
}

static int
cmd_build(char **av)
{
	struct client cl;
	struct strv items = STRV_INIT;
	long n = atol(av[2]);
	double t0, t1, t2;

	connect_to(&cl, av[0], atoi(av[4]));
	t0 = now();
	add_drvs(&cl, av[1], n, av[3], &items);
	t1 = now();
	if (client_build(&cl, &items, 0) < 0)
		die("build");
	t2 = now();
	printf("%.4f %.4f\n", t1 - t0, t2 - t1);
	client_close(&cl);
	strv_free(&items);
	return 0;
}

static int
cmd_one(char **av)
{
	struct client cl;
	struct strv items = STRV_INIT;

	connect_to(&cl, av[0], 1);
	add_drvs(&cl, av[1], 1, av[2], &items);
	if (client_build(&cl, &items, 0) < 0)
		die("build");
	client_close(&cl);
	strv_free(&items);
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static pid_t
spawn(char **argv)
{
	pid_t pid;
	int r = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);

	if (r != 0) {
		errno = r;
		frx_seterr_errno("spawn %s", argv[0]);
		die("spawn");
	}
	return pid;
}

static int
wait_ok(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int
cmd_spawn_one(const char *self, char **av)
{
	long count = atol(av[0]), i;
	double *t = xcalloc((size_t)count, sizeof(double)), sum = 0, t0;
	char salt[128];
	char *argv[] = { (char *)self, "one", av[1], av[2], salt, NULL };

	for (i = 0; i < count; i++) {
		snprintf(salt, sizeof(salt), "%s-%ld-", av[3], i);
		t0 = now();
		if (wait_ok(spawn(argv)) < 0) {
			fprintf(stderr, "frx-bench: run %ld failed\n", i);
			return 1;
		}
		t[i] = now() - t0;
		sum += t[i];
	}
	qsort(t, (size_t)count, sizeof(double), cmp_double);
	printf("%.3f %.3f\n", 1000 * sum / (double)count,
	    1000 * t[count / 2]);
	free(t);
	return 0;
}

static int
cmd_bare(char **av)
{
	long n = atol(av[0]), i;
	char cmd[512];
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	double t0 = now();

	for (i = 0; i < n; i++) {
		snprintf(cmd, sizeof(cmd), "echo bare%ld > %s/out%ld", i, av[1],
		    i);
		if (wait_ok(spawn(argv)) < 0) {
			fprintf(stderr, "frx-bench: bare run %ld failed\n", i);
			return 1;
		}
	}
	printf("%.4f\n", 1000 * (now() - t0) / (double)n);
	return 0;
}

/*
 * The roots in a tmpfs of our own mount namespace, as frx-daemon keeps
 * them (daemon/compat.c); the build directory stays on disk.
 */
static void
roots_in_memory(const char *dir)
{
	char *roots = xasprintf("%s/roots", dir);

	if (mkdirs(roots, 0700) < 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0 ||
	    mount("frx-roots", roots, "tmpfs", MS_NOSUID | MS_NODEV,
	    "mode=0700") < 0) {
		frx_seterr_errno("%s: private tmpfs", roots);
		die("roots");
	}
	free(roots);
}

/* plan_make, sandbox_start, sandbox_wait, sandbox_destroy per build. */
static int
cmd_sandbox(char **av)
{
	const char *hp[] = { "/bin", "/usr", "/lib", "/lib64", "/lib32",
	    "/libx32", "/sbin", "/etc/alternatives", NULL };
	struct strv host = STRV_INIT, in = STRV_INIT, out = STRV_INIT;
	double t[4] = { 0, 0, 0, 0 }, t0;
	long n = atol(av[0]), i;
	char *bdir = xasprintf("%s/build", av[1]);
	int k;

	for (k = 0; hp[k]; k++)
		strv_add(&host, hp[k]);
	if (mkdirs(bdir, 0755) < 0 || mkdirs(av[2], 0755) < 0 ||
	    mkdirs(av[1], 0755) < 0 || chown(bdir, 35001, 35001) < 0)
		die(bdir);
	roots_in_memory(av[1]);
	if (sandbox_stock_start() < 0)	/* as frx-daemon does */
		die("network namespace stock");
	for (i = 0; i < n; i++) {
		struct plan_params pp;
		struct sandbox_plan plan = { NULL, 0 };
		struct sandbox_spec sp;
		struct sandbox *sb;
		char *root = xasprintf("%s/roots/root%ld", av[1], i);
		char *outp = xasprintf("%s/%032ld-t%ld", av[2], i, i);
		char *cmd = xasprintf("echo x > %s", outp);
		char *argv[] = { "/bin/sh", "-c", cmd, NULL };
		char *env[] = { "PATH=/usr/bin:/bin", NULL };
		int st;

		strv_free(&out);
		strv_add(&out, outp);
		memset(&pp, 0, sizeof(pp));
		pp.storedir = av[2];
		pp.host_paths = &host;
		pp.inputs = &in;
		pp.outputs = &out;
		pp.uid = pp.gid = 35001;
		pp.hostname = "frx-bench";
		pp.builddir = bdir;
		t0 = now();
		if (plan_make(&pp, &plan) < 0)
			die("plan");
		t[0] += now() - t0;
		memset(&sp, 0, sizeof(sp));
		sp.root = root;
		sp.plan = &plan;
		sp.uid = sp.gid = 35001;
		sp.hostname = "frx-bench";
		sp.cwd = "/tmp";
		sp.argv = argv;
		sp.envp = env;
		sp.log_fd = -1;
		t0 = now();
		if (sandbox_start(&sp, &sb) < 0)
			die("sandbox_start");
		t[1] += now() - t0;
		t0 = now();
		if (sandbox_wait(sb, &st) < 0 || st != 0)
			die("sandbox_wait");
		t[2] += now() - t0;
		t0 = now();
		if (sandbox_destroy(sb) < 0)
			die("sandbox_destroy");
		t[3] += now() - t0;
		plan_free(&plan);
		free(root);
		free(outp);
		free(cmd);
	}
	printf("%.4f plan %.4f start %.4f run %.4f teardown %.4f\n",
	    1000 * (t[0] + t[1] + t[2] + t[3]) / (double)n,
	    1000 * t[0] / (double)n, 1000 * t[1] / (double)n,
	    1000 * t[2] / (double)n, 1000 * t[3] / (double)n);
	return 0;
}

static int
cmd_nar_hash(char **av)
{
	struct strv cands = STRV_INIT, found = STRV_INIT;
	unsigned long long size;
	struct hash h;
	long n = atol(av[1]), i;
	double t0;

	/* Made-up inputs, as a build with that many inputs would have. */
	for (i = 0; i < n; i++)
		strv_addn(&cands, xasprintf("/frx/store/%032ld-in%ld", i, i));
	t0 = now();
	if (refs_hash_scan_path("/frx/store", av[0], &cands, &found, &h,
	    &size) < 0)
		die(av[0]);
	printf("%llu %.4f\n", size, now() - t0);
	strv_free(&cands);
	strv_free(&found);
	return 0;
}

static int
stdout_sink(void *ctx, const void *p, size_t n)
{
	(void)ctx;
	if (fwrite(p, 1, n, stdout) != n)
		return frx_seterr_errno("stdout");
	return 0;
}

static int
cmd_realise(int n, char **av)
{
	struct client cl;
	struct strv items = STRV_INIT;
	double t0;
	int i;

	connect_to(&cl, av[0], 64);
	for (i = 1; i < n; i++)
		strv_add(&items, av[i]);
	t0 = now();
	if (client_build(&cl, &items, 0) < 0)
		die("build");
	printf("%.3f\n", now() - t0);
	client_close(&cl);
	strv_free(&items);
	return 0;
}

static void
env_put(struct strv *env, const char *key, const char *value)
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

/* The environment frx-daemon gives a builder (job.c), with the build
 * directory and the output moved under dir. */
static char **
bare_env(const struct drv *d, const char *dir, const char *cores)
{
	struct strv env = STRV_INIT;
	char *bdir = xasprintf("%s/build", dir), *out;
	char **v;
	size_t i;

	env_put(&env, "PATH", "/path-not-set");
	env_put(&env, "HOME", "/homeless-shelter");
	env_put(&env, "NIX_STORE", "/frx/store");
	env_put(&env, "NIX_BUILD_CORES", cores);
	for (i = 0; i < d->nenv; i++)
		env_put(&env, d->env[i].key, d->env[i].value);
	out = xasprintf("%s/out/%s", dir, drv_get_env(d, "name"));
	env_put(&env, "out", out);
	env_put(&env, "NIX_BUILD_TOP", bdir);
	env_put(&env, "TMPDIR", bdir);
	env_put(&env, "TEMPDIR", bdir);
	env_put(&env, "TMP", bdir);
	env_put(&env, "TEMP", bdir);
	env_put(&env, "PWD", bdir);
	env_put(&env, "NIX_LOG_FD", "2");
	env_put(&env, "TERM", "xterm-256color");
	v = xcalloc(env.n + 1, sizeof(char *));
	memcpy(v, env.v, env.n * sizeof(char *));
	free(bdir);
	free(out);
	return v;
}

static void
bare_child(const struct drv *d, char **envp, const char *dir, uid_t uid)
{
	char **argv = xcalloc(d->args.n + 2, sizeof(char *));
	char *bdir = xasprintf("%s/build", dir);
	int fd = open("/dev/null", O_RDWR);
	size_t i;

	argv[0] = d->builder;
	for (i = 0; i < d->args.n; i++)
		argv[i + 1] = d->args.v[i];
	if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 ||
	    setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0 ||
	    chdir(bdir) < 0)
		_exit(126);
	execve(argv[0], argv, envp);
	_exit(127);
}

static int
cmd_bare_drv(char **av)
{
	struct buf text = BUF_INIT;
	struct drv d;
	char *bdir = xasprintf("%s/build", av[1]);
	char *odir = xasprintf("%s/out", av[1]);
	uid_t uid = (uid_t)atol(av[2]);
	char **envp;
	double t0;
	pid_t pid;

	drv_init(&d);
	if (read_file(av[0], &text) < 0 || drv_parse(text.data, text.len,
	    &d) < 0)
		die(av[0]);
	if (mkdirs(bdir, 0755) < 0 || mkdirs(odir, 0755) < 0 ||
	    chown(bdir, uid, uid) < 0 || chown(odir, uid, uid) < 0)
		die(av[1]);
	envp = bare_env(&d, av[1], av[3]);
	t0 = now();
	pid = fork();
	if (pid < 0) {
		frx_seterr_errno("fork");
		die("fork");
	}
	if (pid == 0)
		bare_child(&d, envp, av[1], uid);
	if (wait_ok(pid) < 0) {
		fprintf(stderr, "frx-bench: the bare build failed\n");
		return 1;
	}
	printf("%.3f\n", now() - t0);
	return 0;
}

int
main(int argc, char **argv)
{
	hash_skip_openssl_config();	/* as frx: digests only */
	if (argc < 3)
		usage();
	if (!strcmp(argv[1], "build") && argc == 7)
		return cmd_build(argv + 2);
	if (!strcmp(argv[1], "one") && argc == 5)
		return cmd_one(argv + 2);
	if (!strcmp(argv[1], "spawn-one") && argc == 6)
		return cmd_spawn_one(argv[0], argv + 2);
	if (!strcmp(argv[1], "bare") && argc == 4)
		return cmd_bare(argv + 2);
	if (!strcmp(argv[1], "sandbox") && argc == 5)
		return cmd_sandbox(argv + 2);
	if (!strcmp(argv[1], "nar-hash") && argc == 4)
		return cmd_nar_hash(argv + 2);
	if (!strcmp(argv[1], "realise") && argc >= 4)
		return cmd_realise(argc - 2, argv + 2);
	if (!strcmp(argv[1], "bare-drv") && argc == 6)
		return cmd_bare_drv(argv + 2);
	if (!strcmp(argv[1], "nar-dump") && argc == 3)
		return nar_dump(argv[2], stdout_sink, NULL) < 0 ||
		    fflush(stdout) != 0;
	usage();
	return 2;
}
