/*
 * test-sandbox-linux.c: start real sandboxes and check, from inside and
 * from the host, what the builder can and cannot do.  Needs root and
 * namespaces; every test skips with a message otherwise.
 *
 * The builder is /bin/sh -c SCRIPT, or this very program copied into the
 * fake store as an input ("probe" mode: argv[1] names a check).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../sandbox/sandbox.h"

#define BUILD_UID 35001
#define BUILD_GID 35001
#define HOSTNAME "frx-test-host"

static const char *skip_reason;

struct fx {
	char base[64];
	char *store, *root, *build, *input, *other, *probe, *log;
	struct strv hosts, inputs, outputs;
	struct sandbox_plan plan;
	int network;
	int log_fd;
	unsigned long max_procs;
};

/* ---- probe mode: runs inside the sandbox ---- */

static int
probe_connect(const char *port)
{
	struct sockaddr_in sin;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 2;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(port));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
		printf("connected to 127.0.0.1:%s\n", port);
		return 1;
	}
	printf("connect 127.0.0.1:%s: %s\n", port, strerror(errno));
	return 0;
}

/* Its network namespace on stdout; 0 if its loopback carries a
   connection, 3 if not. */
static int
probe_lo(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char ns[64];
	ssize_t n;
	int l, c;

	n = readlink("/proc/self/ns/net", ns, sizeof(ns) - 1);
	if (n < 0)
		return 2;
	ns[n] = '\0';
	printf("%s\n", ns);
	fflush(stdout);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&sin,
	    sizeof(sin)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sin, &len) < 0)
		return 3;
	if (connect(c, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		printf("connect on lo: %s\n", strerror(errno));
		return 3;
	}
	return 0;
}

/* ---- host-side helpers ---- */

static int
namespaces_work(void)
{
	pid_t pid;
	int st;

	if (geteuid() != 0) {
		skip_reason = "not root";
		return 0;
	}
	pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0)
		_exit(unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |
		    CLONE_NEWUTS | CLONE_NEWIPC) < 0);
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		skip_reason = "cannot create namespaces";
		return 0;
	}
	return 1;
}

static void
write_text(const char *path, const char *text, mode_t mode)
{
	assert_int_equal(write_file(path, text, strlen(text), mode), 0);
}

static void
copy_self(const char *to)
{
	struct buf b = BUF_INIT;

	assert_int_equal(read_file("/proc/self/exe", &b), 0);
	assert_int_equal(write_file(to, b.data, b.len, 0755), 0);
	assert_int_equal(chmod(to, 0755), 0);
	buf_free(&b);
}

static int
setup(void **state)
{
	struct fx *f;

	/* Skipped tests still build their arguments from the fixture. */
	if (skip_reason != NULL) {
		static char none[] = "/nonexistent";
		static struct fx dummy = { .store = none, .root = none,
			.build = none, .input = none, .other = none,
			.probe = none, .log = none, .log_fd = -1 };

		*state = &dummy;
		return 0;
	}
	f = xcalloc(1, sizeof(*f));
	strcpy(f->base, "/var/tmp/frx-sbtest.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	f->store = xasprintf("%s/store", f->base);
	f->root = xasprintf("%s/root", f->base);
	f->build = xasprintf("%s/build", f->base);
	f->input = xasprintf("%s/aaaa-input", f->store);
	f->other = xasprintf("%s/bbbb-other", f->store);
	f->probe = xasprintf("%s/cccc-probe", f->store);
	f->log = xasprintf("%s/log", f->base);
	assert_int_equal(mkdir(f->store, 0755), 0);
	assert_int_equal(mkdir(f->input, 0755), 0);
	assert_int_equal(mkdir(f->other, 0755), 0);
	write_text(xasprintf("%s/data", f->input), "input data\n", 0644);
	write_text(xasprintf("%s/secret", f->other), "other\n", 0644);
	copy_self(f->probe);
	assert_int_equal(mkdir(f->build, 0700), 0);
	assert_int_equal(chown(f->build, BUILD_UID, BUILD_GID), 0);
	strv_add(&f->hosts, "/usr");
	strv_add(&f->hosts, "/bin");
	strv_add(&f->hosts, "/lib");
	strv_add(&f->hosts, "/lib64");
	strv_add(&f->hosts, "/etc/alternatives");
	strv_add(&f->inputs, f->input);
	strv_add(&f->inputs, f->probe);
	strv_add(&f->outputs, xasprintf("%s/dddd-out", f->store));
	f->log_fd = open(f->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	assert_true(f->log_fd >= 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	if (skip_reason != NULL)
		return 0;
	close(f->log_fd);
	plan_free(&f->plan);
	assert_int_equal(remove_tree(f->base), 0);
	strv_free(&f->hosts);
	strv_free(&f->inputs);
	strv_free(&f->outputs);
	free(f);
	return 0;
}

static void
make_plan_as(struct fx *f, uid_t uid, gid_t gid)
{
	struct plan_params p = {
		f->store, &f->hosts, &f->inputs, &f->outputs, uid, gid,
		HOSTNAME, f->network, f->build
	};

	plan_free(&f->plan);
	if (plan_make(&p, &f->plan) < 0)
		fail_msg("plan_make: %s", frx_errmsg());
}

static void
make_plan(struct fx *f)
{
	make_plan_as(f, BUILD_UID, BUILD_GID);
}

static void
print_log(const struct fx *f)
{
	struct buf b = BUF_INIT;

	if (read_file(f->log, &b) == 0 && b.len > 0)
		fprintf(stderr, "--- builder log ---\n%s--- end ---\n", b.data);
	buf_free(&b);
}

/* The spec of f's plan as uid:gid. */
static void
fill_spec(struct fx *f, uid_t uid, gid_t gid, char *const *argv,
    struct sandbox_spec *spec)
{
	static char *envp[] = { "PATH=/usr/bin:/bin", "HOME=/homeless-shelter",
		NULL };
	struct sandbox_spec s = {
		f->root, &f->plan, uid, gid, HOSTNAME, f->network, "/tmp",
		argv, envp, f->log_fd, NULL, NULL, f->max_procs, NULL, NULL,
		NULL, -1, NULL, NULL, -1
	};

	*spec = s;
}

static int
start(struct fx *f, char *const *argv, struct sandbox **sb)
{
	struct sandbox_spec spec;

	fill_spec(f, BUILD_UID, BUILD_GID, argv, &spec);
	return sandbox_start(&spec, sb);
}

/* Run argv to completion; returns the builder's wait status. */
static int
run(struct fx *f, char *const *argv, struct sandbox **sbp)
{
	struct sandbox *sb;
	int st;

	make_plan(f);
	if (start(f, argv, &sb) < 0)
		fail_msg("sandbox_start: %s", frx_errmsg());
	assert_int_equal(sandbox_wait(sb, &st), 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		print_log(f);
	if (sbp != NULL)
		*sbp = sb;
	else if (sandbox_destroy(sb) < 0)
		fail_msg("sandbox_destroy: %s", frx_errmsg());
	return st;
}

static int
run_script(struct fx *f, const char *script)
{
	char *argv[] = { "/bin/sh", "-ec", (char *)script, NULL };

	return run(f, argv, NULL);
}

static void
assert_exit0(int st)
{
	if (!WIFEXITED(st))
		fail_msg("builder died from signal %d", WTERMSIG(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* Nothing mounted at or under dir in this (the host) namespace. */
static void
assert_no_mounts(const char *dir)
{
	char line[8192], mp[8192];
	size_t n = strlen(dir);
	FILE *fp = fopen("/proc/self/mountinfo", "r");

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "%*s %*s %*s %*s %8191s", mp) != 1)
			continue;
		if (strncmp(mp, dir, n) == 0 && (mp[n] == '\0' ||
		    mp[n] == '/'))
			fail_msg("still mounted: %s", mp);
	}
	fclose(fp);
}

/* Is a process of uid running whose command line contains marker?  The
   marker keeps builds of other users of uid 35001 on this host out. */
static int
uid_has_processes(uid_t uid, const char *marker)
{
	char path[300], line[256];
	struct dirent *de;
	DIR *d = opendir("/proc");
	int found = 0;

	assert_non_null(d);
	while (!found && (de = readdir(d)) != NULL) {
		struct buf cmd = BUF_INIT;
		int mine = 0;
		unsigned long u;
		size_t i;
		FILE *fp;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", de->d_name);
		fp = fopen(path, "r");
		if (fp == NULL)
			continue;
		while (fgets(line, sizeof(line), fp) != NULL)
			if (sscanf(line, "Uid: %lu", &u) == 1 && u == uid)
				mine = 1;
		fclose(fp);
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		if (mine && read_file(path, &cmd) == 0) {
			for (i = 0; i < cmd.len; i++)
				if (cmd.data[i] == '\0')
					cmd.data[i] = ' ';
			found = cmd.data != NULL &&
			    strstr(cmd.data, marker) != NULL;
		}
		buf_free(&cmd);
	}
	closedir(d);
	return found;
}

/* Wait up to a second for a process of uid whose command line holds
   marker: one scan can miss a process in the middle of an exec. */
static int
uid_appears(uid_t uid, const char *marker)
{
	int i;

	for (i = 0; i < 100; i++) {
		if (uid_has_processes(uid, marker))
			return 1;
		usleep(10000);
	}
	return 0;
}

static void
assert_gone(const struct fx *f)
{
	struct stat st;

	assert_no_mounts(f->root);
	assert_int_equal(lstat(f->root, &st), -1);
	assert_int_equal(errno, ENOENT);
}

#define SKIP_UNLESS_ABLE() do {						\
	if (skip_reason != NULL) {					\
		fprintf(stderr, "skipped: sandbox tests need root and "	\
		    "namespaces (%s)\n", skip_reason);			\
		skip();							\
	}								\
} while (0)

/* ---- the tests ---- */

static void
test_identity(void **state)
{
	struct fx *f = *state;
	char *argv[] = { "/bin/sh", "-ec",
		"test \"$(id -u)\" = 35001; test \"$(id -g)\" = 35001;"
		"test \"$(id -G)\" = 35001;"
		"test \"$(cat /proc/sys/kernel/hostname)\" = " HOSTNAME ";"
		"test \"$(pwd)\" = /tmp; test \"$(umask)\" = 0022;"
		"grep -q '^frxbuild:x:35001:35001:' /etc/passwd;"
		"test \"$(cat /proc/self/status | grep NoNewPrivs)\" ="
		" \"$(printf 'NoNewPrivs:\\t1')\";"
		"test \"$$\" = 2; test \"$(cat /proc/1/comm)\" = frx-reaper;"
		"test \"$(stat -c %u /proc/1)\" = 0", NULL };
	struct sandbox *sb;

	SKIP_UNLESS_ABLE();
	assert_exit0(run(f, argv, &sb));
	assert_int_equal(sandbox_observed_uid(sb), BUILD_UID);
	assert_int_equal(sandbox_observed_gid(sb), BUILD_GID);
	assert_string_equal(sandbox_observed_hostname(sb), HOSTNAME);
	assert_string_equal(sandbox_mode(), "linux-namespaces");
	assert_int_equal(sandbox_destroy(sb), 0);
	assert_gone(f);
}

/* The plan and spec of f for uid:gid (a stand-in, or the real user). */
static void
spec_for(struct fx *f, uid_t uid, gid_t gid, char *const *argv,
    struct sandbox_spec *spec)
{
	make_plan_as(f, uid, gid);
	fill_spec(f, uid, gid, argv, spec);
}

/* What await_user saw, from inside the sandbox's init; written into
   the test's memory, which init shares until it execs. */
struct await {
	int fd;			/* the user arrives here */
	int give_up;
	pid_t pid;		/* getpid() in init */
	char passwd[256];	/* /etc/passwd before the user is known */
	int root_writable;
};

static int
await_user(void *arg, uid_t *uid, gid_t *gid)
{
	struct await *a = arg;
	uid_t u[2];
	int fd;

	a->pid = getpid();
	fd = open("/etc/passwd", O_RDONLY);
	if (fd >= 0) {
		(void)read(fd, a->passwd, sizeof(a->passwd) - 1);
		close(fd);
	}
	a->root_writable = access("/", W_OK) == 0;
	if (a->give_up)
		return frx_seterr("sandbox test: given up");
	if (read_full(a->fd, u, sizeof(u)) < 0)
		return frx_seterr("sandbox test: no user");
	*uid = u[0];
	*gid = (gid_t)u[1];
	return 0;
}

/*
 * Made for a stand-in user, started as another that await_user reads
 * from a pipe, in the sandbox's init (PID 1 inside, the root made,
 * not yet read-only): the builder is that user, and so are its passwd
 * entry, its store directory's group and its build directory, which
 * was root's until then.
 */
/* A spec made for the stand-in 35077, whose user comes from await_user
   reading fd, as a prepared build's does. */
static void
prepared_spec(struct fx *f, char *const *argv, struct await *a, int fd,
    struct sandbox_spec *spec)
{
	a->fd = fd;
	assert_int_equal(chown(f->build, 0, 0), 0);
	spec_for(f, 35077, 35077, argv, spec);
	spec->await_user = await_user;
	spec->await_arg = a;
	spec->await_fd = fd;
}

static void
test_await_user(void **state)
{
	struct fx *f = *state;
	char *script = xasprintf("test \"$(id -u)\" = 35001;"
	    "test \"$(id -g)\" = 35001;"
	    "grep -q '^frxbuild:x:35001:35001:' /etc/passwd;"
	    "grep -q '^frxbuild:x:35001:$' /etc/group;"
	    "test \"$(stat -c %%g %s)\" = 35001;"
	    "test \"$(stat -c %%u:%%g /tmp)\" = 35001:35001;"
	    "touch /tmp/mine; ! touch /etc/x 2>/dev/null;"
	    "echo out > %s", f->store, f->outputs.v[0]);
	char *argv[] = { "/bin/sh", "-ec", script, NULL };
	struct await a;
	struct sandbox_spec spec;
	struct sandbox *sb;
	uid_t user[2] = { BUILD_UID, BUILD_GID };
	int p[2], status;

	SKIP_UNLESS_ABLE();
	memset(&a, 0, sizeof(a));
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], user, sizeof(user)), sizeof(user));
	close(p[1]);
	prepared_spec(f, argv, &a, p[0], &spec);
	if (sandbox_start(&spec, &sb) < 0)
		fail_msg("sandbox_start: %s", frx_errmsg());
	assert_int_equal(a.pid, 1);
	assert_non_null(strstr(a.passwd, ":35077:35077:"));
	assert_true(a.root_writable);
	assert_int_equal(sandbox_observed_uid(sb), BUILD_UID);
	assert_int_equal(sandbox_wait(sb, &status), 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		print_log(f);
	assert_exit0(status);
	assert_int_equal(sandbox_destroy(sb), 0);
	assert_gone(f);
	close(p[0]);
	free(script);
}

/* What note_pid1 saw, in init (which shares the test's memory). */
struct noted {
	int calls;
	pid_t pid;
	unsigned long long start;
	uid_t uid;
	int processes;		/* in the sandbox's /proc at the time */
	int wrote;		/* through note_fd */
};

static int
note_pid1(void *arg, pid_t pid, unsigned long long start, uid_t uid)
{
	struct noted *n = arg;
	DIR *d;
	struct dirent *e;

	n->calls++;
	n->pid = pid;
	n->start = start;
	n->uid = uid;
	if ((d = opendir("/proc")) != NULL) {
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] >= '0' && e->d_name[0] <= '9')
				n->processes++;
		closedir(d);
	}
	n->wrote = write(n->wrote, "x", 1) == 1;
	return 0;
}

/* note_pid1 runs in init once the user is known (here from await_user,
   as for a prepared build) and before the builder starts, with init's
   pid and start as the caller sees them (the build's PID 1 until its
   end), and with its descriptor. */
static void
test_note_pid1(void **state)
{
	struct fx *f = *state;
	char *argv[] = { "/bin/sh", "-ec", "sleep 1", NULL };
	uid_t user[2] = { BUILD_UID, BUILD_GID };
	struct await a;
	struct noted n;
	struct sandbox_spec spec;
	struct sandbox *sb;
	struct frx_stat st;
	char c, path[64];
	int p[2], g[2], status;

	SKIP_UNLESS_ABLE();
	memset(&n, 0, sizeof(n));
	memset(&a, 0, sizeof(a));
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(g), 0);
	assert_int_equal(write(g[1], user, sizeof(user)), sizeof(user));
	close(g[1]);
	n.wrote = p[1];
	prepared_spec(f, argv, &a, g[0], &spec);
	spec.note_pid1 = note_pid1;
	spec.note_arg = &n;
	spec.note_fd = p[1];
	if (sandbox_start(&spec, &sb) < 0)
		fail_msg("sandbox_start: %s", frx_errmsg());
	assert_int_equal(n.calls, 1);
	assert_int_equal(n.pid, sandbox_pid(sb));
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)n.pid);
	assert_int_equal(frx_read_stat(path, &st), 0);
	assert_true(n.start != 0);
	assert_true(n.start == st.start);
	assert_int_equal(n.uid, BUILD_UID);	/* await_user's, not 35077 */
	assert_int_equal(n.processes, 1);	/* init alone: no builder yet */
	assert_true(n.wrote);
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(sandbox_wait(sb, &status), 0);
	assert_exit0(status);
	assert_int_equal(sandbox_destroy(sb), 0);
	assert_gone(f);
	close(p[0]);
	close(g[0]);
}

/* An await_user that gives up (the session cancelled the build) fails
   the start with its message, and leaves nothing behind. */
static void
test_await_gives_up(void **state)
{
	struct fx *f = *state;
	char *argv[] = { "/bin/sh", "-ec", "touch /tmp/ran", NULL };
	char *ran = xasprintf("%s/ran", f->build);
	struct await a;
	struct sandbox_spec spec;
	struct sandbox *sb = (struct sandbox *)&sb;

	SKIP_UNLESS_ABLE();
	memset(&a, 0, sizeof(a));
	a.give_up = 1;
	spec_for(f, BUILD_UID, BUILD_GID, argv, &spec);
	spec.await_user = await_user;
	spec.await_arg = &a;
	assert_int_equal(sandbox_start(&spec, &sb), -1);
	assert_null(sb);
	assert_string_equal(frx_errmsg(), "sandbox test: given up");
	assert_int_equal(a.pid, 1);
	assert_gone(f);
	assert_false(uid_has_processes(BUILD_UID, "/tmp/ran"));
	assert_int_equal(access(ran, F_OK), -1);
	free(ran);
}

static void
test_file_system(void **state)
{
	struct fx *f = *state;
	char *script = xasprintf(
	    "echo x > /tmp/written; test -s /tmp/written;"
	    "! touch /usr/frx-test 2>/dev/null;"
	    "! touch /frx-test 2>/dev/null;"
	    "! touch /etc/frx-test 2>/dev/null;"
	    "grep -q 'input data' %s/data;"
	    "! touch %s/new 2>/dev/null;"
	    "! rmdir %s 2>/dev/null;"
	    "! test -e /etc/shadow; ! test -e /root; ! test -e /home;"
	    "! test -e /sys/kernel; ! test -e /var/lib;"
	    "! test -e /etc/resolv.conf; ! test -e /run;"
	    "! test -e %s; ! test -e %s/secret;"
	    "test \"$(ls %s | sort | tr '\\n' ' ')\" ="
	    " 'aaaa-input cccc-probe ';"
	    "test -c /dev/null; echo > /dev/null; test -L /dev/fd;"
	    "! test -e /dev/sda; ! test -e /dev/mem;"
	    "echo x > /dev/shm/x;"
	    "test $(($(df -k /dev/shm | awk 'NR == 2 { print $2 }') * 9)) -le"
	    " $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo);"
	    "mkdir %s/dddd-out; echo out > %s/dddd-out/file",
	    f->input, f->input, f->input, f->other, f->other, f->store,
	    f->store, f->store);
	char *argv[] = { "/bin/sh", "-ec", script, NULL };
	struct sandbox *sb;
	struct buf b = BUF_INIT;
	char *out;

	SKIP_UNLESS_ABLE();
	assert_exit0(run(f, argv, &sb));
	/* The output is left under <root><storedir> for the daemon. */
	out = xasprintf("%s%s/dddd-out/file", f->root, f->store);
	assert_int_equal(read_file(out, &b), 0);
	assert_string_equal(b.data, "out\n");
	assert_int_equal(sandbox_destroy(sb), 0);
	assert_gone(f);
	/* Inputs and the build dir are untouched on the host. */
	assert_int_equal(access(f->input, F_OK), 0);
	assert_int_equal(access(xasprintf("%s/written", f->build), F_OK), 0);
	buf_free(&b);
	free(out);
	free(script);
}

static int
listen_loopback(int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void
test_network(void **state)
{
	struct fx *f = *state;
	char port[16];
	char *argv[] = { f->probe, "probe-connect", port, NULL };
	int fd, p, st;

	SKIP_UNLESS_ABLE();
	fd = listen_loopback(&p);
	snprintf(port, sizeof(port), "%d", p);
	/* Ordinary build: its own loopback, the host's port is not there. */
	assert_exit0(run(f, argv, NULL));
	assert_gone(f);
	/* Fixed-output build: the host network, so it connects. */
	f->network = 1;
	st = run(f, argv, NULL);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	assert_gone(f);
	close(fd);
}

static void
test_loopback_up(void **state)
{
	struct fx *f = *state;

	SKIP_UNLESS_ABLE();
	assert_exit0(run_script(f, "grep -q . /proc/net/dev;"
	    "test \"$(cat /proc/net/dev | grep -c :)\" = 1"));
	assert_gone(f);
}

/*
 * With the stock of network namespaces on (as frx-daemon runs), each
 * build still gets a namespace of its own, new, with its loopback up and
 * without the host's ports; the builds after this test take theirs from
 * the stock too, those before made their own.
 */
static void
test_network_stock(void **state)
{
	struct fx *f = *state;
	char *lo[] = { f->probe, "probe-lo", NULL };
	char port[16];
	char *conn[] = { f->probe, "probe-connect", port, NULL };
	char host[64], seen[3][64];
	struct buf b = BUF_INIT;
	ssize_t n;
	int i, j, fd, p;

	SKIP_UNLESS_ABLE();
	assert_int_equal(sandbox_stock_start(), 0);
	usleep(200 * 1000);	/* let the stock fill */
	n = readlink("/proc/self/ns/net", host, sizeof(host) - 1);
	assert_true(n > 0);
	host[n] = '\0';
	for (i = 0; i < 3; i++) {
		assert_int_equal(ftruncate(f->log_fd, 0), 0);
		assert_int_equal(lseek(f->log_fd, 0, SEEK_SET), 0);
		assert_exit0(run(f, lo, NULL));
		assert_gone(f);
		assert_int_equal(read_file(f->log, &b), 0);
		assert_true(b.len > 5 && strncmp(b.data, "net:[", 5) == 0);
		n = (ssize_t)strcspn(b.data, "\n");
		assert_true(n < (ssize_t)sizeof(seen[i]));
		memcpy(seen[i], b.data, (size_t)n);
		seen[i][n] = '\0';
		buf_free(&b);
		assert_string_not_equal(seen[i], host);
		for (j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
	}
	fd = listen_loopback(&p);
	snprintf(port, sizeof(port), "%d", p);
	assert_exit0(run(f, conn, NULL));
	assert_gone(f);
	close(fd);
}

static void
test_background_killed(void **state)
{
	struct fx *f = *state;
	char marker[32], *script;

	SKIP_UNLESS_ABLE();
	snprintf(marker, sizeof(marker), "1000.%ld", (long)getpid());
	script = xasprintf("sleep %s & sleep %s & exit 0", marker, marker);
	assert_false(uid_has_processes(BUILD_UID, marker));
	assert_exit0(run_script(f, script));
	assert_false(uid_has_processes(BUILD_UID, marker));
	assert_gone(f);
	free(script);
}

/* The kernel keyrings are per uid: a key one build leaves would be there
 * for the next build as the same user.  The filter refuses them. */
static void
test_keyring_denied(void **state)
{
	struct fx *f = *state;

	SKIP_UNLESS_ABLE();
	assert_exit0(run_script(f, "python3 -c '\n"
	    "import ctypes, platform, sys\n"
	    "nr = {\"x86_64\": 248, \"aarch64\": 217}.get(platform.machine())\n"
	    "if nr is None: sys.exit(0)\n"
	    "libc = ctypes.CDLL(None, use_errno=True)\n"
	    "r = libc.syscall(nr, b\"user\", b\"frx\", b\"v\", 1, -4)\n"
	    "sys.exit(0 if r == -1 and ctypes.get_errno() == 1 else 1)'"));
	assert_gone(f);
}

/* Extended attributes and ACLs are not part of a NAR. */
static void
test_xattr_denied(void **state)
{
	struct fx *f = *state;

	SKIP_UNLESS_ABLE();
	assert_exit0(run_script(f, "python3 -c '\n"
	    "import errno, os\n"
	    "open(\"/tmp/f\", \"w\").close()\n"
	    "try:\n"
	    "    os.setxattr(\"/tmp/f\", \"user.x\", b\"1\")\n"
	    "except OSError as e:\n"
	    "    raise SystemExit(0 if e.errno == errno.ENOTSUP else 1)\n"
	    "raise SystemExit(1)'"));
	/* setxattrat(2) (463) and io_uring, whatever the kernel has. */
	assert_exit0(run_script(f, "python3 -c '\n"
	    "import ctypes, errno, os\n"
	    "libc = ctypes.CDLL(None, use_errno=True)\n"
	    "open(\"/tmp/g\", \"w\").close()\n"
	    "v = ctypes.create_string_buffer(b\"1\")\n"
	    "args = (ctypes.c_uint64 * 2)(ctypes.addressof(v), 1)\n"
	    "r = libc.syscall(463, -100, b\"/tmp/g\", 0, b\"user.x\", "
	    "args, 16)\n"
	    "if r != -1 or ctypes.get_errno() != errno.ENOTSUP: "
	    "raise SystemExit(1)\n"
	    "params = (ctypes.c_char * 120)()\n"
	    "r = libc.syscall(425, 4, params)\n"
	    "raise SystemExit(0 if r == -1 and "
	    "ctypes.get_errno() == errno.ENOSYS else 2)'"));
	assert_gone(f);
}

/*
 * No user namespace for a builder, by either call; clone3 answers
 * ENOSYS, and threads (which glibc starts with clone3 first) and
 * child processes still work.
 */
static void
test_userns_denied(void **state)
{
	struct fx *f = *state;

	SKIP_UNLESS_ABLE();
	assert_exit0(run_script(f, "python3 -c '\n"
	    "import ctypes, errno, os, threading\n"
	    "libc = ctypes.CDLL(None, use_errno=True)\n"
	    "NEWUSER = 0x10000000\n"
	    "if libc.unshare(NEWUSER) != -1 or "
	    "ctypes.get_errno() != errno.EPERM: raise SystemExit(1)\n"
	    "if libc.unshare(NEWUSER | 0x20000) != -1: raise SystemExit(2)\n"
	    "r = libc.syscall(56, NEWUSER | 17, 0, 0, 0, 0)\n"
	    "if r == 0: os._exit(0)\n"
	    "if r != -1 or ctypes.get_errno() != errno.EPERM: "
	    "raise SystemExit(3)\n"
	    "args = (ctypes.c_uint64 * 11)()\n"
	    "args[0] = NEWUSER\n"
	    "r = libc.syscall(435, args, 88)\n"
	    "if r == 0: os._exit(0)\n"
	    "if r != -1 or ctypes.get_errno() != errno.ENOSYS: "
	    "raise SystemExit(4)\n"
	    "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
	    "pid = os.fork()\n"
	    "if pid == 0: os._exit(7)\n"
	    "raise SystemExit(0 if os.waitpid(pid, 0)[1] >> 8 == 7 "
	    "else 5)'"));
	assert_exit0(run_script(f, "! unshare -U true 2>/dev/null"));
	assert_gone(f);
}

/*
 * The build dies with whoever started it, even when the builder clears
 * its own parent-death signal: PID 1 is frx-reaper, which it cannot
 * touch.  (While the builder was PID 1 itself, it lived on.)
 */
static void
test_dies_with_starter(void **state)
{
	struct fx *f = *state;
	char marker[32], *script, *cleared = xasprintf("%s/cleared", f->build);
	char *argv[] = { "/bin/sh", "-c", NULL, NULL };
	struct sandbox *sb;
	int p[2], st, i;
	pid_t starter;
	char c;

	SKIP_UNLESS_ABLE();
	snprintf(marker, sizeof(marker), "1002.%ld", (long)getpid());
	argv[2] = script = xasprintf("exec setpriv --pdeathsig clear "
	    "/bin/sh -c 'touch /tmp/cleared; exec sleep %s'", marker);
	make_plan(f);
	assert_int_equal(pipe(p), 0);
	starter = fork();
	assert_true(starter >= 0);
	if (starter == 0) {
		close(p[0]);
		if (start(f, argv, &sb) < 0)
			_exit(1);
		(void)write(p[1], "s", 1);
		pause();
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	for (i = 0; i < 100 && access(cleared, F_OK) < 0; i++)
		usleep(10000);
	assert_int_equal(access(cleared, F_OK), 0);
	assert_true(uid_appears(BUILD_UID, marker));
	assert_int_equal(kill(starter, SIGKILL), 0);
	assert_int_equal(waitpid(starter, &st, 0), starter);
	for (i = 0; i < 200 && uid_has_processes(BUILD_UID, marker); i++)
		usleep(10000);
	assert_false(uid_has_processes(BUILD_UID, marker));
	/* Nothing of the build is mounted any more: its root can go. */
	assert_no_mounts(f->root);
	assert_int_equal(remove_tree(f->root), 0);
	free(cleared);
	free(script);
}

/* A fork bomb stops at the build user's process limit. */
static void
test_process_limit(void **state)
{
	struct fx *f = *state;
	int st;

	SKIP_UNLESS_ABLE();
	f->max_procs = 20;
	st = run_script(f, "i=0; while [ $i -lt 40 ]; do "
	    "sleep 30 & i=$((i + 1)); done");
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
	assert_gone(f);
}

static void
test_kill(void **state)
{
	struct fx *f = *state;
	char marker[32], *script;
	char *argv[] = { "/bin/sh", "-c", NULL, NULL };
	struct sandbox *sb;
	int st;

	SKIP_UNLESS_ABLE();
	snprintf(marker, sizeof(marker), "1001.%ld", (long)getpid());
	argv[2] = script = xasprintf("sleep %s & exec sleep %s", marker,
	    marker);
	make_plan(f);
	if (start(f, argv, &sb) < 0)
		fail_msg("sandbox_start: %s", frx_errmsg());
	assert_int_equal(sandbox_poll(sb, &st), 0);
	assert_true(uid_appears(BUILD_UID, marker));
	assert_true(sandbox_pid(sb) > 0);
	assert_int_equal(sandbox_kill(sb), 0);
	assert_int_equal(sandbox_wait(sb, &st), 0);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	assert_false(uid_has_processes(BUILD_UID, marker));
	assert_int_equal(sandbox_destroy(sb), 0);
	assert_gone(f);
	free(script);
}

static void
test_exit_status(void **state)
{
	struct fx *f = *state;
	struct sandbox *sb;
	char *argv[] = { "/bin/sh", "-c", "exit 3", NULL };
	int st;

	SKIP_UNLESS_ABLE();
	st = run(f, argv, &sb);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 3);
	assert_int_equal(sandbox_poll(sb, &st), 1);
	assert_int_equal(WEXITSTATUS(st), 3);
	assert_int_equal(sandbox_destroy(sb), 0);
	assert_gone(f);
}

static void
test_bad_source(void **state)
{
	struct fx *f = *state;
	char *argv[] = { "/bin/true", NULL };
	char *missing = xasprintf("%s/no-such-dir", f->base);
	struct sandbox *sb = (struct sandbox *)&sb;

	SKIP_UNLESS_ABLE();
	make_plan(f);
	plan_add(&f->plan, PLAN_BIND_RO, missing, "/opt/x", 0, 0, 0);
	assert_int_equal(start(f, argv, &sb), -1);
	assert_null(sb);
	assert_non_null(strstr(frx_errmsg(), missing));
	assert_non_null(strstr(frx_errmsg(), "No such file or directory"));
	assert_int_equal(strncmp(frx_errmsg(), "sandbox: ", 9), 0);
	assert_gone(f);
	assert_int_equal(sandbox_destroy(NULL), 0);
	free(missing);
}

static void
test_exec_failure(void **state)
{
	struct fx *f = *state;
	char *argv[] = { "/no/such/builder", NULL };
	struct sandbox *sb;

	SKIP_UNLESS_ABLE();
	make_plan(f);
	assert_int_equal(start(f, argv, &sb), -1);
	assert_string_equal(frx_errmsg(), "sandbox: builder: execve "
	    "/no/such/builder: No such file or directory");
	assert_gone(f);
}

static void
test_root_exists(void **state)
{
	struct fx *f = *state;
	char *argv[] = { "/bin/true", NULL };
	struct sandbox *sb;

	SKIP_UNLESS_ABLE();
	make_plan(f);
	assert_int_equal(mkdir(f->root, 0755), 0);
	assert_int_equal(start(f, argv, &sb), -1);
	assert_non_null(strstr(frx_errmsg(), "File exists"));
	/* Not ours: left alone. */
	assert_int_equal(access(f->root, F_OK), 0);
}

static void
test_ledger(void **state)
{
	struct fx *f = *state;
	char *argv[] = { "/bin/sh", "-c", "exit 0", NULL };
	static char *envp[] = { NULL };
	char *ledger = xasprintf("%s/ledger", f->base);
	char *want = xasprintf("root %s\n", f->root);
	struct sandbox_spec spec = {
		f->root, &f->plan, BUILD_UID, BUILD_GID, HOSTNAME, 0,
		"/", argv, envp, -1, ledger, NULL, 0, NULL, NULL, NULL, -1,
		NULL, NULL, -1
	};
	struct buf b = BUF_INIT;
	struct sandbox *sb;
	int st;

	SKIP_UNLESS_ABLE();
	make_plan(f);
	if (sandbox_start(&spec, &sb) < 0)
		fail_msg("sandbox_start: %s", frx_errmsg());
	assert_int_equal(read_file(ledger, &b), 0);
	assert_string_equal(b.data, want);
	assert_int_equal(sandbox_wait(sb, &st), 0);
	assert_exit0(st);
	assert_int_equal(sandbox_destroy(sb), 0);
	assert_gone(f);
	assert_int_equal(access(ledger, F_OK), -1);
	buf_free(&b);
	free(ledger);
	free(want);
}

static void
test_recover(void **state)
{
	struct fx *f = *state;
	char *ledger = xasprintf("%s/ledger", f->base);
	char *text = xasprintf("root %s\n", f->root);

	SKIP_UNLESS_ABLE();
	assert_int_equal(mkdirs(xasprintf("%s/frx/store/x", f->root), 0755),
	    0);
	write_text(ledger, text, 0600);
	assert_int_equal(sandbox_recover(ledger), 0);
	assert_gone(f);
	assert_int_equal(access(ledger, F_OK), -1);
	assert_int_equal(sandbox_recover(ledger), 0);
	free(ledger);
	free(text);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_await_user, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_await_gives_up, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_note_pid1, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_system, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_network, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_loopback_up, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_network_stock, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_background_killed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_kill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dies_with_starter, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_keyring_denied, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_xattr_denied, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_userns_denied, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_process_limit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_exit_status, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_source, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_exec_failure, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_root_exists, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ledger, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_recover, setup,
		    teardown),
	};

	if (argc == 3 && strcmp(argv[1], "probe-connect") == 0)
		return probe_connect(argv[2]);
	if (argc == 2 && strcmp(argv[1], "probe-lo") == 0)
		return probe_lo();
	if (!namespaces_work())
		fprintf(stderr, "test-sandbox-linux: skipping: needs root "
		    "and namespaces (%s)\n", skip_reason);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
