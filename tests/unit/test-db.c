/*
 * test-db: the store database in a temporary state directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/db.h"
#include "../../lib/hash.h"
#include "../../lib/util.h"

#define SD "/frx/store"
#define P_A SD "/37szafsz2i3ami2hjhcf4f7k9xf5gz6d-hello.txt"
#define P_B SD "/l9lvgc3qn06l5q8zilms45d44cxcjsjm-textref.txt"
#define P_C SD "/9pcc91ci68k890yd9p5x42ymjid4clph-simple"
#define P_D SD "/y8rr5axf3rq7pdq20j0iy20clchz3ijb-simple.drv"
#define P_X SD "/h5w18ajdn0mzaniad90sv49ad7fd26pp-chain"
#define P_Y SD "/pfn464yis3gbg8rgy26f639agb3nv0as-multi"

static char tmpdir[] = "/tmp/frx-test-db.XXXXXX";

static void
info(struct path_info *pi, const char *path, const char *content)
{
	memset(pi, 0, sizeof(*pi));
	pi->path = xstrdup(path);
	hash_buf(HASH_SHA256, content, strlen(content), &pi->nar_hash);
	pi->nar_size = strlen(content) * 8;
	pi->registration_time = 1700000000;
}

static struct db *
open_db(void)
{
	struct db *db = db_open(tmpdir);

	if (db == NULL)
		fail_msg("%s", frx_errmsg());
	return db;
}

/* A, B -> A, C -> {A, B, C (self)} in one batch; D is C's deriver. */
static void
register_abc(struct db *db)
{
	struct path_info pi[4];
	size_t i;

	info(&pi[0], P_C, "c");
	strv_add(&pi[0].refs, P_A);
	strv_add(&pi[0].refs, P_B);
	strv_add(&pi[0].refs, P_C);
	pi[0].deriver = xstrdup(P_D);
	pi[0].ultimate = 1;
	strv_add(&pi[0].sigs, "cache-1:c2lnMQ==");
	strv_add(&pi[0].sigs, "cache-2:c2lnMg==");
	info(&pi[1], P_B, "b");
	strv_add(&pi[1].refs, P_A);
	pi[1].ca = xstrdup("text:sha256:04xc9z9dmywv6jv83hp5c7anxa40q7adbjw0"
	    "31lbhgi2n2k0a138");
	info(&pi[2], P_A, "a");
	info(&pi[3], P_D, "d");
	if (db_register(db, pi, 4) < 0)
		fail_msg("%s", frx_errmsg());
	for (i = 0; i < 4; i++)
		path_info_free(&pi[i]);
}

static void
test_register_and_query(void **state)
{
	struct db *db = open_db();
	struct strv v = STRV_INIT;
	struct path_info pi;
	struct hash h;

	(void)state;
	register_abc(db);
	assert_int_equal(db_is_valid(db, P_A), 1);
	assert_int_equal(db_is_valid(db, P_X), 0);
	assert_int_equal(db_query_info(db, P_C, &pi), 1);
	assert_string_equal(pi.path, P_C);
	assert_string_equal(pi.deriver, P_D);
	hash_buf(HASH_SHA256, "c", 1, &h);
	assert_int_equal(pi.nar_hash.algo, HASH_SHA256);
	assert_memory_equal(pi.nar_hash.d, h.d, 32);
	assert_int_equal(pi.nar_size, 8);
	assert_int_equal(pi.registration_time, 1700000000);
	assert_int_equal(pi.ultimate, 1);
	assert_null(pi.ca);
	assert_int_equal(pi.refs.n, 3);
	assert_string_equal(pi.refs.v[0], P_A);
	assert_string_equal(pi.refs.v[1], P_C);
	assert_string_equal(pi.refs.v[2], P_B);
	assert_int_equal(pi.sigs.n, 2);
	assert_string_equal(pi.sigs.v[1], "cache-2:c2lnMg==");
	path_info_free(&pi);
	assert_int_equal(db_query_info(db, P_B, &pi), 1);
	assert_string_equal(pi.ca, "text:sha256:04xc9z9dmywv6jv83hp5c7anxa40"
	    "q7adbjw031lbhgi2n2k0a138");
	assert_null(pi.deriver);
	assert_int_equal(pi.ultimate, 0);
	assert_int_equal(pi.refs.n, 1);
	path_info_free(&pi);
	assert_int_equal(db_query_info(db, P_X, &pi), 0);
	assert_int_equal(db_query_referrers(db, P_A, &v), 0);
	assert_int_equal(v.n, 2);
	assert_string_equal(v.v[0], P_C);
	assert_string_equal(v.v[1], P_B);
	strv_free(&v);
	assert_int_equal(db_query_referrers(db, P_C, &v), 0);
	assert_int_equal(v.n, 1);	/* itself */
	strv_free(&v);
	assert_int_equal(db_query_all_valid(db, &v), 0);
	assert_int_equal(v.n, 4);
	assert_string_equal(v.v[0], P_A);
	strv_free(&v);
	db_close(db);
	/* persists across opens */
	db = open_db();
	assert_int_equal(db_is_valid(db, P_C), 1);
	db_close(db);
}

static void
test_invalid_reference(void **state)
{
	struct db *db = open_db();
	struct path_info pi[2];
	struct strv v = STRV_INIT;

	(void)state;
	info(&pi[0], P_X, "x");
	strv_add(&pi[0].refs, P_A);	/* valid already */
	info(&pi[1], P_Y, "y");
	strv_add(&pi[1].refs, P_X);	/* same batch */
	strv_add(&pi[1].refs, SD "/00000000000000000000000000000000-gone");
	assert_int_equal(db_register(db, pi, 2), -1);
	assert_non_null(strstr(frx_errmsg(), P_Y));
	assert_non_null(strstr(frx_errmsg(),
	    "00000000000000000000000000000000-gone is not valid"));
	/* nothing half-registered */
	assert_int_equal(db_is_valid(db, P_X), 0);
	assert_int_equal(db_is_valid(db, P_Y), 0);
	assert_int_equal(db_query_referrers(db, P_A, &v), 0);
	assert_int_equal(v.n, 2);
	strv_free(&v);
	/* inside the caller's transaction the earlier work survives */
	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_register(db, pi, 1), 0);
	assert_int_equal(db_register(db, pi + 1, 1), -1);
	assert_int_equal(db_is_valid(db, P_X), 1);
	assert_int_equal(db_is_valid(db, P_Y), 0);
	assert_int_equal(db_commit(db), 0);
	assert_int_equal(db_is_valid(db, P_X), 1);
	/* rollback undoes a registration */
	assert_int_equal(db_begin(db), 0);
	strv_free(&pi[1].refs);
	assert_int_equal(db_register(db, pi + 1, 1), 0);
	assert_int_equal(db_is_valid(db, P_Y), 1);
	assert_int_equal(db_rollback(db), 0);
	assert_int_equal(db_is_valid(db, P_Y), 0);
	path_info_free(&pi[0]);
	path_info_free(&pi[1]);
	db_close(db);
}

static void
test_update_in_place(void **state)
{
	struct db *db = open_db();
	struct path_info pi, got;

	(void)state;
	info(&pi, P_B, "b2");
	strv_add(&pi.sigs, "k:new");
	assert_int_equal(db_register(db, &pi, 1), 0);
	assert_int_equal(db_query_info(db, P_B, &got), 1);
	assert_int_equal(got.refs.n, 0);
	assert_int_equal(got.sigs.n, 1);
	assert_int_equal(got.nar_size, 16);
	assert_memory_equal(got.nar_hash.d, pi.nar_hash.d, 32);
	path_info_free(&got);
	path_info_free(&pi);
	db_close(db);
}

static void
test_hash_part(void **state)
{
	struct db *db = open_db();
	char *path;

	(void)state;
	assert_int_equal(db_query_path_from_hash_part(db, SD,
	    "37szafsz2i3ami2hjhcf4f7k9xf5gz6d", &path), 1);
	assert_string_equal(path, P_A);
	free(path);
	assert_int_equal(db_query_path_from_hash_part(db, SD,
	    "37szafsz2i3ami2hjhcf4f7k9xf5gz6c", &path), 0);
	assert_null(path);
	assert_int_equal(db_query_path_from_hash_part(db, "/nix/store",
	    "37szafsz2i3ami2hjhcf4f7k9xf5gz6d", &path), 0);
	db_close(db);
}

static void
test_drv_outputs(void **state)
{
	struct db *db = open_db();
	struct strv names = STRV_INIT, paths = STRV_INIT, v = STRV_INIT;

	(void)state;
	assert_int_equal(db_add_drv_output(db, P_D, "out", P_C), 0);
	assert_int_equal(db_add_drv_output(db, P_D, "dev", P_Y), 0);
	assert_int_equal(db_add_drv_output(db, P_D, "out", P_C), 0);
	assert_int_equal(db_query_drv_outputs(db, P_D, &names, &paths), 0);
	assert_int_equal(names.n, 2);
	assert_string_equal(names.v[0], "dev");
	assert_string_equal(paths.v[0], P_Y);
	assert_string_equal(names.v[1], "out");
	assert_string_equal(paths.v[1], P_C);
	assert_int_equal(db_query_valid_derivers(db, P_C, &v), 0);
	assert_int_equal(v.n, 1);
	assert_string_equal(v.v[0], P_D);
	strv_free(&v);
	assert_int_equal(db_add_drv_output(db, SD "/00000000000000000000000000"
	    "000000-no.drv", "out", P_C), -1);
	assert_non_null(strstr(frx_errmsg(), "-no.drv: derivation is not "
	    "valid"));
	strv_free(&names);
	strv_free(&paths);
	db_close(db);
}

static void
test_build_records(void **state)
{
	struct db *db = open_db();
	char *text;

	(void)state;
	assert_int_equal(db_query_build_record(db, P_D, &text), 0);
	assert_null(text);
	assert_int_equal(db_add_build_record(db, P_D, "status=failed\n"), 0);
	assert_int_equal(db_add_build_record(db, P_D, "status=built\n"), 0);
	assert_int_equal(db_add_build_record(db, P_X, "status=other\n"), 0);
	assert_int_equal(db_query_build_record(db, P_D, &text), 1);
	assert_string_equal(text, "status=built\n");
	free(text);
	db_close(db);
}

static void
test_invalidate(void **state)
{
	struct db *db = open_db();
	struct strv v = STRV_INIT;

	(void)state;
	assert_int_equal(db_invalidate(db, P_A), -1);
	assert_non_null(strstr(frx_errmsg(), "still referenced by"));
	assert_int_equal(db_is_valid(db, P_A), 1);
	/* C refers to itself only besides its own refs: removable */
	assert_int_equal(db_invalidate(db, P_C), 0);
	assert_int_equal(db_is_valid(db, P_C), 0);
	assert_int_equal(db_query_referrers(db, P_A, &v), 0);
	assert_int_equal(v.n, 1);	/* X; B lost its refs in an update */
	assert_string_equal(v.v[0], P_X);
	strv_free(&v);
	assert_int_equal(db_invalidate(db, P_C), -1);
	assert_non_null(strstr(frx_errmsg(), "not valid"));
	db_close(db);
}

static void
test_open_error(void **state)
{
	(void)state;
	assert_null(db_open("/proc/self/nonexistent/frx"));
	assert_non_null(strstr(frx_errmsg(), "/proc/self/nonexistent/frx"));
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
		cmocka_unit_test(test_register_and_query),
		cmocka_unit_test(test_invalid_reference),
		cmocka_unit_test(test_update_in_place),
		cmocka_unit_test(test_hash_part),
		cmocka_unit_test(test_drv_outputs),
		cmocka_unit_test(test_build_records),
		cmocka_unit_test(test_invalidate),
		cmocka_unit_test(test_open_error),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
