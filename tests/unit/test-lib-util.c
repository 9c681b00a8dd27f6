/*
 * test-lib-util: error messages, buffers, string lists, I/O helpers and
 * remove_tree.
 */
#ifdef __linux__
#define _GNU_SOURCE	/* unshare */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sched.h>
#include <sys/mount.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/util.h"

static char tmpdir[] = "/tmp/frx-test-util.XXXXXX";

static void
test_errors(void **state)
{
	char big[FRX_ERRMAX + 100];
	const char *msg;

	(void)state;
	assert_int_equal(frx_seterr("%s: bad %d", "obj", 7), -1);
	assert_string_equal(frx_errmsg(), "obj: bad 7");
	assert_int_equal(frx_preferr("outer %s", "x"), -1);
	assert_string_equal(frx_errmsg(), "outer x: obj: bad 7");
	errno = ENOENT;
	assert_int_equal(frx_seterr_errno("%s: cannot open", "/p"), -1);
	assert_int_equal(errno, ENOENT);
	assert_string_equal(frx_errmsg(), "/p: cannot open: No such file or "
	    "directory");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	frx_seterr("%s", big);
	assert_int_equal(strlen(frx_errmsg()), FRX_ERRMAX - 1);
	frx_preferr("p");
	assert_int_equal(strlen(frx_errmsg()), FRX_ERRMAX - 1);
	assert_memory_equal(frx_errmsg(), "p: xxx", 6);

	/* A path longer than the buffer loses its middle, not the reason
	 * at the end, nor half of a UTF-8 character. */
	memset(big, 'y', sizeof(big) - 1);
	memcpy(big + 255, "\xc3\xa9", 2);	/* é across the first cut */
	errno = ENOENT;
	frx_seterr_errno("%s: open", big);
	msg = frx_errmsg();
	assert_int_equal(strlen(msg), FRX_ERRMAX - 1);
	assert_memory_equal(msg, "yyy", 3);
	assert_non_null(strstr(msg, " [...] "));
	assert_null(strstr(msg, "\xc3 ["));
	assert_string_equal(msg + strlen(msg) - 34,
	    "y: open: No such file or directory");
	frx_preferr("output 'out' of '%s'", "x.drv");
	msg = frx_errmsg();
	assert_int_equal(strncmp(msg, "output 'out' of 'x.drv': yyy", 28), 0);
	assert_string_equal(msg + strlen(msg) - 25,
	    "No such file or directory");

	/* frx_fit, which the daemon's log lines use too. */
	{
		char small[64], tiny[8];

		frx_fit(small, sizeof(small), "short");
		assert_string_equal(small, "short");
		frx_fit(small, sizeof(small), big);
		assert_int_equal(strlen(small), sizeof(small) - 1);
		assert_memory_equal(small, "yyyy", 4);
		assert_non_null(strstr(small, " [...] "));
		assert_string_equal(small + strlen(small) - 4, "yyyy");
		frx_fit(tiny, sizeof(tiny), "a long reason");
		assert_string_equal(tiny, " reason");
	}
}

/* frx_read_stat: this process's, and a name with spaces and ")". */
static void
test_read_stat(void **state)
{
	char path[] = "/tmp/frx-test-stat.XXXXXX";
	static const char line[] = "4242 (a) b (c) S 17 3 4 5 6 7 8 9 10 11 "
	    "12 13 14 15 16 17 18 19 987654 23 24\n";
	struct frx_stat st;
	int fd;

	(void)state;
	assert_int_equal(frx_read_stat("/proc/self/stat", &st), 0);
	assert_int_equal(st.pid, getpid());
	assert_int_equal(st.ppid, getppid());
	assert_int_equal(st.state, 'R');
	assert_true(st.start > 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, line, sizeof(line) - 1), sizeof(line) - 1);
	close(fd);
	assert_int_equal(frx_read_stat(path, &st), 0);
	assert_int_equal(st.pid, 4242);
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.ppid, 17);
	assert_true(st.start == 987654ULL);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "1 (x) S 2 3", 11), 11);	/* too short */
	close(fd);
	assert_int_equal(frx_read_stat(path, &st), -1);
	unlink(path);
}

static void
test_buf(void **state)
{
	struct buf b = BUF_INIT;
	char *s;
	int i;

	(void)state;
	buf_add(&b, "ab", 2);
	buf_addc(&b, 'c');
	buf_adds(&b, "de");
	buf_printf(&b, "-%d-%s", 42, "x");
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "abcde-42-x");
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	for (i = 0; i < 10000; i++)
		buf_addc(&b, (char)('a' + i % 26));
	assert_int_equal(b.len, 10000);
	assert_int_equal(b.data[10000], '\0');
	s = buf_steal(&b);
	assert_null(b.data);
	assert_int_equal(strlen(s), 10000);
	free(s);
	/* an empty buffer steals as "" */
	s = buf_steal(&b);
	assert_string_equal(s, "");
	free(s);
	s = xasprintf("%s=%u", "k", 5u);
	assert_string_equal(s, "k=5");
	free(s);
	s = xstrndup("abcdef", 3);
	assert_string_equal(s, "abc");
	free(s);
	buf_free(&b);
}

static void
test_strv(void **state)
{
	struct strv s = STRV_INIT;

	(void)state;
	strv_add(&s, "b");
	strv_add(&s, "a");
	strv_addn(&s, xstrdup("Z"));
	strv_add(&s, "b");
	strv_add(&s, "\xc3\xa9");
	strv_sort(&s);
	strv_uniq(&s);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.v[0], "Z");
	assert_string_equal(s.v[1], "a");
	assert_string_equal(s.v[2], "b");
	assert_string_equal(s.v[3], "\xc3\xa9");
	assert_null(s.v[4]);
	assert_true(strv_contains(&s, "a"));
	assert_false(strv_contains(&s, "c"));
	strv_free(&s);
	assert_int_equal(s.n, 0);
}

static void
test_io(void **state)
{
	char *p = xasprintf("%s/f", tmpdir), got[8];
	struct buf b = BUF_INIT;
	int fd;

	(void)state;
	assert_int_equal(write_file(p, "hello", 5, 0600), 0);
	assert_int_equal(read_file(p, &b), 0);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "hello");
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read_full(fd, got, 3), 0);
	assert_memory_equal(got, "hel", 3);
	assert_int_equal(read_full(fd, got, 3), -1);
	assert_int_equal(errno, 0);
	close(fd);
	buf_free(&b);
	assert_int_equal(read_file("/nonexistent/x", &b), -1);
	assert_string_equal(frx_errmsg(), "/nonexistent/x: cannot open: No "
	    "such file or directory");
	free(p);
	assert_true(now_ms() / 1000 - now_s() <= 1);
	assert_true(now_s() > 1600000000);
}

static void
test_mkdirs(void **state)
{
	char *p = xasprintf("%s/m/n/o", tmpdir), *f;
	struct stat st;

	(void)state;
	assert_int_equal(mkdirs(p, 0755), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(mkdirs(p, 0755), 0);
	f = xasprintf("%s/file", p);
	assert_int_equal(write_file(f, "", 0, 0644), 0);
	free(p);
	p = xasprintf("%s/sub", f);
	assert_int_equal(mkdirs(p, 0755), -1);
	assert_non_null(strstr(frx_errmsg(), p));
	assert_int_equal(mkdirs(f, 0755), -1);
	free(f);
	free(p);
}

#ifdef __linux__
/*
 * A bind mount of a directory of the same file system has the tree's
 * st_dev: remove_tree must still stop at it, and leave what it shows
 * alone.  Mounts in a child's own mount namespace, as root.
 */
static void
test_remove_tree_bind(void **state)
{
	char *root = xasprintf("%s/bt", tmpdir);
	char *keep = xasprintf("%s/bkeep", tmpdir);
	char *sub = xasprintf("%s/bt/sub", tmpdir);
	char *p = xasprintf("%s/precious", keep);
	pid_t pid;
	int st;

	(void)state;
	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root for a bind mount\n");
		skip();
	}
	assert_int_equal(mkdirs(sub, 0755), 0);
	assert_int_equal(mkdir(keep, 0755), 0);
	assert_int_equal(write_file(p, "x", 1, 0644), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct stat sb;

		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount(keep, sub, NULL, MS_BIND, NULL) < 0)
			_exit(2);
		if (remove_tree(root) == 0 ||
		    strstr(frx_errmsg(), "mount") == NULL)
			_exit(3);
		if (lstat(p, &sb) < 0)
			_exit(4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(remove_tree(root), 0);
	assert_int_equal(remove_tree(keep), 0);
	free(root);
	free(keep);
	free(sub);
	free(p);
}
#endif

/* A read-only tree with a symlink pointing outside it. */
static void
test_remove_tree(void **state)
{
	char *root = xasprintf("%s/rt", tmpdir);
	char *keep = xasprintf("%s/keep", tmpdir);
	char *p;
	struct stat st;

	(void)state;
	assert_int_equal(mkdir(keep, 0755), 0);
	p = xasprintf("%s/precious", keep);
	assert_int_equal(write_file(p, "x", 1, 0444), 0);
	free(p);
	assert_int_equal(mkdirs(root, 0755), 0);
	p = xasprintf("%s/a/b/c", root);
	assert_int_equal(mkdirs(p, 0755), 0);
	free(p);
	p = xasprintf("%s/a/b/c/file", root);
	assert_int_equal(write_file(p, "x", 1, 0444), 0);
	free(p);
	p = xasprintf("%s/a/outside", root);
	assert_int_equal(symlink(keep, p), 0);
	free(p);
	p = xasprintf("%s/a/b/c", root);
	assert_int_equal(chmod(p, 0555), 0);
	free(p);
	p = xasprintf("%s/a/b", root);
	assert_int_equal(chmod(p, 0), 0);
	free(p);
	p = xasprintf("%s/a", root);
	assert_int_equal(chmod(p, 0555), 0);
	free(p);
	assert_int_equal(chmod(root, 0555), 0);
	if (remove_tree(root) < 0)
		fail_msg("%s", frx_errmsg());
	assert_int_equal(lstat(root, &st), -1);
	p = xasprintf("%s/precious", keep);
	assert_int_equal(lstat(p, &st), 0);
	free(p);
	/* a symlink to a directory is removed, not followed */
	p = xasprintf("%s/link", tmpdir);
	assert_int_equal(symlink(keep, p), 0);
	assert_int_equal(remove_tree(p), 0);
	assert_int_equal(lstat(p, &st), -1);
	assert_int_equal(lstat(keep, &st), 0);
	free(p);
	/* missing is fine; trailing slash is fine */
	assert_int_equal(remove_tree(root), 0);
	p = xasprintf("%s/", keep);
	assert_int_equal(remove_tree(p), 0);
	assert_int_equal(lstat(keep, &st), -1);
	free(p);
	free(keep);
	free(root);
}

/* A tree nested far deeper than the open-file limit, with a file at
 * every level, as a hostile builder may leave. */
static void
test_remove_deep_tree(void **state)
{
	char *root = xasprintf("%s/deep", tmpdir);
	struct rlimit old, low;
	struct stat st;
	int fd, next, i;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(mkdir(root, 0755), 0);
	fd = open(root, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	for (i = 0; i < 3000; i++) {
		close(openat(fd, "f", O_WRONLY | O_CREAT, 0444));
		assert_int_equal(mkdirat(fd, "d", i % 7 ? 0755 : 0555), 0);
		next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	close(fd);
	low = old;
	low.rlim_cur = 256;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	if (remove_tree(root) < 0) {
		(void)setrlimit(RLIMIT_NOFILE, &old);
		fail_msg("%s", frx_errmsg());
	}
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(lstat(root, &st), -1);
	free(root);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	return remove_tree(tmpdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_read_stat),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_strv),
		cmocka_unit_test(test_io),
		cmocka_unit_test(test_mkdirs),
		cmocka_unit_test(test_remove_tree),
#ifdef __linux__
		cmocka_unit_test(test_remove_tree_bind),
#endif
		cmocka_unit_test(test_remove_deep_tree),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
