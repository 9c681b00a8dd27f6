/*
 * test-lib-refs: reference scanning over buffers, trees and chunked
 * input, including matches that straddle the NAR writer's 64 KiB blocks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/hash.h"
#include "../../lib/nar.h"
#include "../../lib/refs.h"
#include "../../lib/util.h"

#define SD "/frx/store"
#define H_A "37szafsz2i3ami2hjhcf4f7k9xf5gz6d"
#define H_B "l9lvgc3qn06l5q8zilms45d44cxcjsjm"
#define H_C "y8rr5axf3rq7pdq20j0iy20clchz3ijb"
#define P_A SD "/" H_A "-hello.txt"
#define P_B SD "/" H_B "-textref.txt"
#define P_C SD "/" H_C "-simple.drv"

static char tmpdir[] = "/tmp/frx-test-refs.XXXXXX";

static void
cands(struct strv *c)
{
	strv_add(c, P_C);
	strv_add(c, P_A);
	strv_add(c, P_B);
}

static void
test_scan_buf(void **state)
{
	static const char text[] = "see " P_A " and " H_C "x but not "
	    "l9lvgc3qn06l5q8zilms45d44cxcjsj (31 chars)";
	struct strv c = STRV_INIT, found = STRV_INIT;

	(void)state;
	cands(&c);
	assert_int_equal(refs_scan_buf(SD, text, strlen(text), &c, &found),
	    0);
	assert_int_equal(found.n, 2);
	assert_string_equal(found.v[0], P_A);
	assert_string_equal(found.v[1], P_C);
	strv_free(&found);
	/* at the very start and end of the buffer */
	assert_int_equal(refs_scan_buf(SD, H_B H_A, 64, &c, &found), 0);
	assert_int_equal(found.n, 2);
	assert_string_equal(found.v[0], P_A);
	assert_string_equal(found.v[1], P_B);
	strv_free(&found);
	/* nothing in an empty or short buffer */
	assert_int_equal(refs_scan_buf(SD, "", 0, &c, &found), 0);
	assert_int_equal(refs_scan_buf(SD, H_A, 31, &c, &found), 0);
	assert_int_equal(found.n, 0);
	strv_free(&c);
}

static void
test_bad_candidate(void **state)
{
	struct strv c = STRV_INIT, found = STRV_INIT;

	(void)state;
	strv_add(&c, "/elsewhere/" H_A "-x");
	assert_int_equal(refs_scan_buf(SD, "x", 1, &c, &found), -1);
	assert_non_null(strstr(frx_errmsg(), "/elsewhere/"));
	assert_null(refs_scanner_new(SD, &c));
	strv_free(&c);
}

/* Runs of base32 characters longer than a hash part around matches. */
static void
test_scan_runs(void **state)
{
	struct strv c = STRV_INIT, found = STRV_INIT;
	struct buf b = BUF_INIT;

	(void)state;
	cands(&c);
	buf_adds(&b, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	buf_adds(&b, H_B);
	buf_adds(&b, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
	assert_int_equal(refs_scan_buf(SD, b.data, b.len, &c, &found), 0);
	assert_int_equal(found.n, 1);
	assert_string_equal(found.v[0], P_B);
	strv_free(&found);
	/* an 'e' (not base32) inside breaks the match */
	buf_reset(&b);
	buf_adds(&b, "37szafsz2i3ami2hjhcf4f7k9xf5gz6e");
	assert_int_equal(refs_scan_buf(SD, b.data, b.len, &c, &found), 0);
	assert_int_equal(found.n, 0);
	buf_free(&b);
	strv_free(&c);
}

/* Feed in every chunking up to 40 bytes and one byte at a time. */
static void
test_scanner_chunks(void **state)
{
	struct strv c = STRV_INIT, found = STRV_INIT;
	struct refs_scanner *s;
	struct buf b = BUF_INIT;
	size_t chunk, off, n, start;

	(void)state;
	cands(&c);
	for (start = 0; start < 70; start += 7) {
		buf_reset(&b);
		for (n = 0; n < start; n++)
			buf_addc(&b, (char)('!' + n % 20));
		buf_adds(&b, H_A);
		buf_adds(&b, "--");
		buf_adds(&b, H_C);
		for (chunk = 1; chunk <= 40; chunk++) {
			s = refs_scanner_new(SD, &c);
			assert_non_null(s);
			for (off = 0; off < b.len; off += n) {
				n = b.len - off < chunk ? b.len - off : chunk;
				refs_scanner_feed(s, b.data + off, n);
			}
			refs_scanner_finish(s, &found);
			assert_int_equal(found.n, 2);
			assert_string_equal(found.v[0], P_A);
			assert_string_equal(found.v[1], P_C);
			strv_free(&found);
		}
	}
	buf_free(&b);
	strv_free(&c);
}

/*
 * A file of 128 KiB zeros with H_B at offset pos: the NAR writer hands
 * file data over in 64 KiB blocks, so positions just below 65536 straddle
 * a chunk boundary.
 */
static void
scan_file_sized(size_t n, size_t pos)
{
	struct strv c = STRV_INIT, found = STRV_INIT, found2 = STRV_INIT;
	char *data = xcalloc(1, n);
	char *path = xasprintf("%s/f", tmpdir);
	unsigned long long size;
	struct hash h, want;
	uint64_t wsize;

	cands(&c);
	memcpy(data + pos, H_B, 32);
	assert_int_equal(write_file(path, data, n, 0644), 0);
	assert_int_equal(refs_hash_scan_path(SD, path, &c, &found, &h, &size),
	    0);
	if (found.n != 1)
		fail_msg("hash part at offset %zu not found", pos);
	assert_string_equal(found.v[0], P_B);
	assert_int_equal(nar_hash_path(path, &want, &wsize), 0);
	assert_memory_equal(h.d, want.d, 32);
	assert_int_equal(size, wsize);
	assert_int_equal(refs_scan_path(SD, path, &c, &found2), 0);
	assert_int_equal(found2.n, 1);
	assert_int_equal(unlink(path), 0);
	strv_free(&found);
	strv_free(&found2);
	strv_free(&c);
	free(path);
	free(data);
}

static void
scan_file_at(size_t pos)
{
	scan_file_sized(131072, pos);
}

/* Outputs larger than a slot of the hashing thread (lib/hashpipe.c) are
 * hashed on it: the digest and size must not change, whatever the size
 * modulo the slot. */
static void
test_threaded_hash(void **state)
{
	(void)state;
	scan_file_sized(3 * 1024 * 1024 + 17, 3 * 1024 * 1024 - 20);
	scan_file_sized(256 * 1024 - 200, 1000);
	scan_file_sized(4 * 256 * 1024, 256 * 1024 - 10);
}

static void
test_straddle_64k(void **state)
{
	size_t pos;

	(void)state;
	for (pos = 65536 - 40; pos <= 65536 + 8; pos++)
		scan_file_at(pos);
	scan_file_at(0);
	scan_file_at(131072 - 32);
}

/* References in names, symlink targets and nested files of a tree. */
static void
test_scan_tree(void **state)
{
	struct strv c = STRV_INIT, found = STRV_INIT;
	char *root = xasprintf("%s/tree", tmpdir), *p;

	(void)state;
	cands(&c);
	assert_int_equal(mkdir(root, 0755), 0);
	p = xasprintf("%s/%s-name", root, H_A);
	assert_int_equal(write_file(p, "x", 1, 0644), 0);
	free(p);
	p = xasprintf("%s/link", root);
	assert_int_equal(symlink(P_B "/bin/sh", p), 0);
	free(p);
	p = xasprintf("%s/sub", root);
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	p = xasprintf("%s/sub/plain", root);
	assert_int_equal(write_file(p, "nothing here", 12, 0644), 0);
	free(p);
	assert_int_equal(refs_scan_path(SD, root, &c, &found), 0);
	assert_int_equal(found.n, 2);
	assert_string_equal(found.v[0], P_A);
	assert_string_equal(found.v[1], P_B);
	assert_int_equal(remove_tree(root), 0);
	assert_int_equal(refs_scan_path(SD, root, &c, &found), -1);
	assert_non_null(strstr(frx_errmsg(), root));
	strv_free(&found);
	strv_free(&c);
	free(root);
}

/*
 * The NAR writer fills the hashing thread's slots in place
 * (nar_dump_lent): a tree of many files, long names and symlink targets
 * too long for what is left of a slot must hash as nar_hash_path hashes
 * it, whichever token lands on a slot's edge.
 */
static void
test_lent_slots(void **state)
{
	struct strv c = STRV_INIT, found = STRV_INIT;
	char *root = xasprintf("%s/lent", tmpdir), *p, *data, target[4001];
	char name[201];
	unsigned long long size;
	struct hash h, want;
	uint64_t wsize;
	size_t i, n;

	(void)state;
	cands(&c);
	assert_int_equal(mkdir(root, 0755), 0);
	data = xcalloc(1, 300 * 1024);
	memset(target, 't', sizeof(target) - 1);
	target[sizeof(target) - 1] = '\0';
	for (i = 0; i < 400; i++) {
		memset(name, 'a' + (int)(i % 26), sizeof(name) - 1);
		name[sizeof(name) - 1] = '\0';
		snprintf(name, 12, "%05zu-", i);
		name[6] = 'n';
		p = xasprintf("%s/%s", root, name);
		if (i % 3 == 1) {
			assert_int_equal(symlink(target, p), 0);
		} else {
			n = i % 50 == 0 ? 300 * 1024 - i : (i * 7919) % 5003;
			if (i == 201)
				memcpy(data + n / 2, H_A, 32);
			assert_int_equal(write_file(p, data, n, 0644), 0);
			if (i == 201)
				memset(data + n / 2, 0, 32);
		}
		free(p);
	}
	assert_int_equal(refs_hash_scan_path(SD, root, &c, &found, &h, &size),
	    0);
	assert_int_equal(nar_hash_path(root, &want, &wsize), 0);
	assert_memory_equal(h.d, want.d, 32);
	assert_int_equal(size, wsize);
	assert_int_equal(found.n, 1);
	assert_string_equal(found.v[0], P_A);
	assert_int_equal(remove_tree(root), 0);
	strv_free(&found);
	strv_free(&c);
	free(data);
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
		cmocka_unit_test(test_scan_buf),
		cmocka_unit_test(test_bad_candidate),
		cmocka_unit_test(test_scan_runs),
		cmocka_unit_test(test_scanner_chunks),
		cmocka_unit_test(test_straddle_64k),
		cmocka_unit_test(test_threaded_hash),
		cmocka_unit_test(test_scan_tree),
		cmocka_unit_test(test_lent_slots),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
