/*
 * test-plan.c: the mount plan, computed without privilege from a small
 * fake host tree under /var/tmp (not /tmp: the plan reserves /tmp).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../sandbox/sandbox.h"

struct fx {
	char base[64];
	char *store;
	struct strv hosts, inputs, outputs;
	struct plan_params p;
	struct sandbox_plan plan;
};

static char *
path(struct fx *f, const char *rel)
{
	return xasprintf("%s/%s", f->base, rel);
}

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	strcpy(f->base, "/var/tmp/frx-plantest.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	f->store = path(f, "store");
	assert_int_equal(mkdirs(path(f, "usr/bin"), 0755), 0);
	assert_int_equal(symlink("usr/bin", path(f, "bin")), 0);
	assert_int_equal(mkdirs(path(f, "store/aaaa-in"), 0755), 0);
	assert_int_equal(mkdirs(path(f, "store/eeee-not-an-input"), 0755), 0);
	assert_int_equal(symlink("aaaa-in", path(f, "store/bbbb-link")), 0);
	strv_add(&f->hosts, path(f, "usr"));
	strv_add(&f->hosts, path(f, "bin"));
	strv_add(&f->hosts, path(f, "missing"));
	strv_add(&f->inputs, path(f, "store/bbbb-link"));
	strv_add(&f->inputs, path(f, "store/aaaa-in"));
	strv_add(&f->outputs, path(f, "store/cccc-out"));
	f->p.storedir = f->store;
	f->p.host_paths = &f->hosts;
	f->p.inputs = &f->inputs;
	f->p.outputs = &f->outputs;
	f->p.uid = 35001;
	f->p.gid = 35002;
	f->p.hostname = "frx-host";
	f->p.network = 0;
	f->p.builddir = "/var/tmp/frx-build-1";
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	plan_free(&f->plan);
	assert_int_equal(remove_tree(f->base), 0);
	strv_free(&f->hosts);
	strv_free(&f->inputs);
	strv_free(&f->outputs);
	free(f->store);
	free(f);
	return 0;
}

static const struct plan_entry *
find(const struct sandbox_plan *plan, const char *target)
{
	size_t i;

	for (i = 0; i < plan->n; i++)
		if (strcmp(plan->v[i].target, target) == 0)
			return &plan->v[i];
	return NULL;
}

static void
test_exact_plan(void **state)
{
	struct fx *f = *state;
	struct buf got = BUF_INIT;
	char *want;
	const char *b = f->base;

	if (plan_make(&f->p, &f->plan) < 0)
		fail_msg("plan_make: %s", frx_errmsg());
	assert_int_equal(plan_format(&f->plan, &got), 0);
	want = xasprintf(
	    "devfs /dev\n"
	    "symlink /dev/fd -> /proc/self/fd\n"
	    "devnode /dev/full from /dev/full\n"
	    "devnode /dev/null from /dev/null\n"
	    "devnode /dev/random from /dev/random\n"
	    "tmpfs /dev/shm mode 1777\n"
	    "symlink /dev/stderr -> /proc/self/fd/2\n"
	    "symlink /dev/stdin -> /proc/self/fd/0\n"
	    "symlink /dev/stdout -> /proc/self/fd/1\n"
	    "devnode /dev/tty from /dev/tty\n"
	    "devnode /dev/urandom from /dev/urandom\n"
	    "devnode /dev/zero from /dev/zero\n"
	    "file /etc/group mode 0644 owner 0:0 size 45\n"
	    "file /etc/hosts mode 0644 owner 0:0 size 34\n"
	    "file /etc/passwd mode 0644 owner 0:0 size 135\n"
	    "proc /proc\n"
	    "bind-rw /tmp from /var/tmp/frx-build-1\n"
	    "symlink %s/bin -> usr/bin\n"
	    "dir %s/store mode 1775 owner 0:35002\n"
	    "bind-ro %s/store/aaaa-in from %s/store/aaaa-in\n"
	    "symlink %s/store/bbbb-link -> aaaa-in\n"
	    "bind-ro %s/usr from %s/usr\n", b, b, b, b, b, b, b);
	assert_string_equal(got.data, want);
	free(want);
	buf_free(&got);
}

/* The jail's plan: devfs provides /dev/fd and /dev/std*, no /proc, no
   /dev/shm, and a master.passwd for pwd_mkdb. */
static void
test_exact_plan_freebsd(void **state)
{
	struct fx *f = *state;
	struct buf got = BUF_INIT;
	char *want;
	const char *b = f->base;

	if (plan_make_flavor(&f->p, PLAN_FREEBSD, &f->plan) < 0)
		fail_msg("plan_make_flavor: %s", frx_errmsg());
	assert_int_equal(plan_format(&f->plan, &got), 0);
	want = xasprintf(
	    "devfs /dev\n"
	    "devnode /dev/fd from /dev/fd\n"
	    "devnode /dev/full from /dev/full\n"
	    "devnode /dev/null from /dev/null\n"
	    "devnode /dev/random from /dev/random\n"
	    "devnode /dev/stderr from /dev/stderr\n"
	    "devnode /dev/stdin from /dev/stdin\n"
	    "devnode /dev/stdout from /dev/stdout\n"
	    "devnode /dev/tty from /dev/tty\n"
	    "devnode /dev/urandom from /dev/urandom\n"
	    "devnode /dev/zero from /dev/zero\n"
	    "file /etc/group mode 0644 owner 0:0 size 45\n"
	    "file /etc/hosts mode 0644 owner 0:0 size 34\n"
	    "file /etc/master.passwd mode 0600 owner 0:0 size 150\n"
	    "file /etc/passwd mode 0644 owner 0:0 size 135\n"
	    "bind-rw /tmp from /var/tmp/frx-build-1\n"
	    "symlink %s/bin -> usr/bin\n"
	    "dir %s/store mode 1775 owner 0:35002\n"
	    "bind-ro %s/store/aaaa-in from %s/store/aaaa-in\n"
	    "symlink %s/store/bbbb-link -> aaaa-in\n"
	    "bind-ro %s/usr from %s/usr\n", b, b, b, b, b, b, b);
	assert_string_equal(got.data, want);
	free(want);
	buf_free(&got);
}

/* Every line has the ten fields of passwd(5) that pwd_mkdb(8) checks, and
   agrees with /etc/passwd on uid, gid, gecos, home and shell. */
static void
test_master_passwd(void **state)
{
	struct fx *f = *state;
	const struct plan_entry *e;

	assert_int_equal(plan_make_flavor(&f->p, PLAN_FREEBSD, &f->plan), 0);
	e = find(&f->plan, "/etc/master.passwd");
	assert_non_null(e);
	assert_int_equal(e->kind, PLAN_FILE);
	assert_int_equal(e->mode, 0600);
	assert_int_equal(e->uid, 0);
	assert_int_equal(e->gid, 0);
	assert_string_equal(e->source,
	    "root:*:0:0::0:0:root:/root:/bin/sh\n"
	    "frxbuild:*:35001:35002::0:0:frx build user:/homeless-shelter:"
	    "/bin/sh\n"
	    "nobody:*:65534:65534::0:0:nobody:/:/bin/false\n");
	e = find(&f->plan, "/etc/passwd");
	assert_non_null(e);
	assert_string_equal(e->source,
	    "root:x:0:0:root:/root:/bin/sh\n"
	    "frxbuild:x:35001:35002:frx build user:/homeless-shelter:/bin/sh\n"
	    "nobody:x:65534:65534:nobody:/:/bin/false\n");
}

/* The Linux plan has no master.passwd and keeps /proc and /dev/shm; the
   FreeBSD plan has neither and no link into /proc at all. */
static void
test_flavor_differences(void **state)
{
	struct fx *f = *state;
	struct sandbox_plan fb = { NULL, 0 };
	size_t i;

	assert_int_equal(plan_make_flavor(&f->p, PLAN_LINUX, &f->plan), 0);
	assert_null(find(&f->plan, "/etc/master.passwd"));
	assert_non_null(find(&f->plan, "/proc"));
	assert_non_null(find(&f->plan, "/dev/shm"));
	assert_int_equal(find(&f->plan, "/dev/stdin")->kind, PLAN_SYMLINK);

	f->p.network = 1;
	assert_int_equal(plan_make_flavor(&f->p, PLAN_FREEBSD, &fb), 0);
	assert_null(find(&fb, "/proc"));
	assert_null(find(&fb, "/dev/shm"));
	for (i = 0; i < fb.n; i++) {
		assert_true(fb.v[i].kind != PLAN_PROC);
		assert_true(fb.v[i].kind != PLAN_TMPFS);
		if (fb.v[i].kind == PLAN_SYMLINK)
			assert_null(strstr(fb.v[i].source, "/proc"));
	}
	assert_non_null(find(&fb, "/etc/master.passwd"));
	plan_free(&fb);
}

/* Every entry, its file text included, for a comparison of plans. */
static void
dump(const struct sandbox_plan *p, struct buf *out)
{
	size_t i;

	plan_format(p, out);
	for (i = 0; i < p->n; i++)
		if (p->v[i].kind == PLAN_FILE)
			buf_printf(out, "%s:\n%s", p->v[i].target,
			    p->v[i].source);
}

/*
 * A plan made for a stand-in user and given the real one (a prepared
 * sandbox) is the plan made for the real user, on both systems; and
 * the copy it starts from is the same plan.
 */
static void
test_set_user(void **state)
{
	static const enum plan_flavor flavors[] = {
		PLAN_LINUX, PLAN_FREEBSD
	};
	struct fx *f = *state;
	struct sandbox_plan real = { NULL, 0 }, copy = { NULL, 0 };
	struct buf a = BUF_INIT, b = BUF_INIT;
	size_t k;

	for (k = 0; k < 2; k++) {
		f->p.uid = 35001;
		f->p.gid = 35001;
		assert_int_equal(plan_make_flavor(&f->p, flavors[k],
		    &f->plan), 0);
		plan_copy(&f->plan, &copy);
		dump(&f->plan, &a);
		dump(&copy, &b);
		assert_string_equal(a.data, b.data);
		f->p.uid = 35007;
		f->p.gid = 35000;
		assert_int_equal(plan_make_flavor(&f->p, flavors[k], &real),
		    0);
		plan_set_user(&copy, 35007, 35000);
		a.len = b.len = 0;
		dump(&real, &a);
		dump(&copy, &b);
		assert_string_equal(a.data, b.data);
		assert_non_null(strstr(b.data, ":35007:35000:"));
		assert_null(strstr(b.data, "35001"));
		a.len = b.len = 0;
		plan_free(&f->plan);
		plan_free(&real);
		plan_free(&copy);
	}
	buf_free(&a);
	buf_free(&b);
}

/* plan_make() is the plan of the system the tests were built on. */
static void
test_host_flavor(void **state)
{
	struct fx *f = *state;
	struct sandbox_plan host = { NULL, 0 };
	struct buf a = BUF_INIT, b = BUF_INIT;
#ifdef __FreeBSD__
	enum plan_flavor mine = PLAN_FREEBSD;
#else
	enum plan_flavor mine = PLAN_LINUX;
#endif

	assert_int_equal(plan_make(&f->p, &host), 0);
	assert_int_equal(plan_make_flavor(&f->p, mine, &f->plan), 0);
	assert_int_equal(plan_format(&host, &a), 0);
	assert_int_equal(plan_format(&f->plan, &b), 0);
	assert_string_equal(a.data, b.data);
	plan_free(&host);
	buf_free(&a);
	buf_free(&b);
}

static void
test_unknown_flavor(void **state)
{
	struct fx *f = *state;
	struct sandbox_plan plan;

	assert_int_equal(plan_make_flavor(&f->p, (enum plan_flavor)7, &plan),
	    -1);
	assert_int_equal(plan.n, 0);
	assert_non_null(strstr(frx_errmsg(), "unknown flavor 7"));
}

static void
test_etc_files(void **state)
{
	struct fx *f = *state;
	const struct plan_entry *e;

	assert_int_equal(plan_make(&f->p, &f->plan), 0);
	e = find(&f->plan, "/etc/passwd");
	assert_non_null(e);
	assert_int_equal(e->kind, PLAN_FILE);
	assert_string_equal(e->source,
	    "root:x:0:0:root:/root:/bin/sh\n"
	    "frxbuild:x:35001:35002:frx build user:/homeless-shelter:/bin/sh\n"
	    "nobody:x:65534:65534:nobody:/:/bin/false\n");
	e = find(&f->plan, "/etc/group");
	assert_non_null(e);
	assert_string_equal(e->source,
	    "root:x:0:\nfrxbuild:x:35002:\nnogroup:x:65534:\n");
	e = find(&f->plan, "/etc/hosts");
	assert_non_null(e);
	assert_int_equal(e->kind, PLAN_FILE);
	assert_string_equal(e->source, "127.0.0.1 localhost\n::1 localhost\n");
	assert_null(find(&f->plan, "/etc/resolv.conf"));
	assert_null(find(&f->plan, "/etc/services"));
	assert_null(find(&f->plan, "/etc/nsswitch.conf"));
}

static void
test_store_view(void **state)
{
	struct fx *f = *state;
	char *other = path(f, "store/eeee-not-an-input");
	char *out = path(f, "store/cccc-out");
	const struct plan_entry *e;
	size_t i, n = strlen(f->store);

	assert_int_equal(plan_make(&f->p, &f->plan), 0);
	e = find(&f->plan, f->store);
	assert_non_null(e);
	assert_int_equal(e->kind, PLAN_DIR);
	assert_int_equal(e->mode, 01775);
	assert_int_equal(e->uid, 0);
	assert_int_equal(e->gid, 35002);
	/* Only the inputs are under the store dir, and read-only. */
	for (i = 0; i < f->plan.n; i++) {
		e = &f->plan.v[i];
		if (strncmp(e->target, f->store, n) != 0 ||
		    e->target[n] != '/')
			continue;
		assert_true(strv_contains(&f->inputs, e->target));
		assert_true(e->kind == PLAN_BIND_RO ||
		    e->kind == PLAN_SYMLINK);
		assert_true(e->kind != PLAN_BIND_RW);
	}
	assert_null(find(&f->plan, other));
	assert_null(find(&f->plan, out));
	free(other);
	free(out);
}

static void
test_network_extras(void **state)
{
	static const char *const files[] = { "/etc/resolv.conf",
		"/etc/hosts", "/etc/services", "/etc/nsswitch.conf", NULL };
	struct fx *f = *state;
	char real[PATH_MAX];
	const struct plan_entry *e;
	size_t i;

	f->p.network = 1;
	assert_int_equal(plan_make(&f->p, &f->plan), 0);
	for (i = 0; files[i] != NULL; i++) {
		e = find(&f->plan, files[i]);
		if (realpath(files[i], real) == NULL) {
			if (strcmp(files[i], "/etc/hosts") == 0) {
				assert_non_null(e);
				assert_int_equal(e->kind, PLAN_FILE);
			} else
				assert_null(e);
			continue;
		}
		assert_non_null(e);
		assert_int_equal(e->kind, PLAN_BIND_RO);
		assert_string_equal(e->source, real);
	}
}

static void
test_parents_first(void **state)
{
	struct fx *f = *state;
	size_t i, j, n;

	assert_int_equal(plan_make(&f->p, &f->plan), 0);
	for (i = 0; i < f->plan.n; i++)
		for (j = i + 1; j < f->plan.n; j++) {
			n = strlen(f->plan.v[j].target);
			/* A later entry is never a parent of an earlier one. */
			assert_false(strncmp(f->plan.v[i].target,
			    f->plan.v[j].target, n) == 0 &&
			    f->plan.v[i].target[n] == '/');
		}
}

static void
expect_refusal(struct fx *f, const char *fragment)
{
	struct sandbox_plan plan;

	assert_int_equal(plan_make(&f->p, &plan), -1);
	assert_int_equal(plan.n, 0);
	if (strstr(frx_errmsg(), fragment) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", frx_errmsg(),
		    fragment);
}

static void
test_refusals(void **state)
{
	struct fx *f = *state;
	struct strv bad = STRV_INIT;

	f->p.uid = 0;
	expect_refusal(f, "refusing to build as root");
	f->p.uid = 35001;
	f->p.gid = 0;
	expect_refusal(f, "refusing to build as root");
	f->p.gid = 35002;

	f->p.builddir = "tmp/rel";
	expect_refusal(f, "build dir tmp/rel: not a clean absolute path");
	f->p.builddir = "/var/tmp/../etc";
	expect_refusal(f, "not a clean absolute path");
	f->p.builddir = "/var/tmp/frx-build-1";

	f->p.storedir = "/tmp/store";
	expect_refusal(f, "store dir /tmp/store: overlaps /tmp");
	f->p.storedir = f->store;

	f->p.host_paths = &bad;
	strv_add(&bad, "/etc");
	expect_refusal(f, "host path /etc: overlaps /etc");
	strv_free(&bad);
	strv_add(&bad, "/tmp/x");
	expect_refusal(f, "host path /tmp/x: overlaps /tmp");
	strv_free(&bad);
	strv_add(&bad, f->base);
	expect_refusal(f, "overlaps the store dir");
	strv_free(&bad);
	strv_add(&bad, "/");
	expect_refusal(f, "host path /: not a clean absolute path");
	f->p.host_paths = &f->hosts;
	strv_free(&bad);
}

static void
test_store_refusals(void **state)
{
	struct fx *f = *state;
	struct strv in = STRV_INIT;
	char *s;

	f->p.inputs = &in;
	strv_add(&in, "/usr");
	expect_refusal(f, "input /usr: not a store path under");
	strv_free(&in);
	strv_add(&in, s = path(f, "store/aaaa-in/sub"));
	free(s);
	expect_refusal(f, "not a store path");
	strv_free(&in);
	strv_add(&in, s = path(f, "store/ffff-missing"));
	expect_refusal(f, s);
	expect_refusal(f, "No such file or directory");
	free(s);
	strv_free(&in);
	strv_add(&in, s = path(f, "store/cccc-out"));
	assert_int_equal(mkdir(s, 0755), 0);
	expect_refusal(f, "is also an input");
	free(s);
	f->p.inputs = &f->inputs;
	strv_free(&in);
}

static void
test_duplicates(void **state)
{
	struct fx *f = *state;

	strv_add(&f->hosts, f->hosts.v[0]);
	expect_refusal(f, "appears twice in the plan");
}

static void
test_kind_names(void **state)
{
	(void)state;
	assert_string_equal(plan_kind_name(PLAN_BIND_RO), "bind-ro");
	assert_string_equal(plan_kind_name(PLAN_SYMLINK), "symlink");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exact_plan, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_exact_plan_freebsd, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_master_passwd, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_flavor_differences, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_set_user, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_host_flavor, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_flavor, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_etc_files, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_store_view, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_network_extras, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_parents_first, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_store_refusals, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_duplicates, setup,
		    teardown),
		cmocka_unit_test(test_kind_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
