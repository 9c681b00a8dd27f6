/*
 * test-store: store path syntax, hash text forms and the path helpers.
 * (The published vectors are checked in test-lib-vectors.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/hash.h"
#include "../../lib/store.h"
#include "../../lib/util.h"

#define SD "/frx/store"
#define HP "37szafsz2i3ami2hjhcf4f7k9xf5gz6d"

/* sha256("abc") in every form */
#define ABC_HEX "ba7816bf8f01cfea414140de5dae2223" \
	"b00361a396177a9cb410ff61f20015ad"
#define ABC_B32 "1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"
#define ABC_B64 "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="

static void
test_names(void **state)
{
	char name[STORE_NAME_MAX + 2];

	(void)state;
	assert_int_equal(store_check_name("hello-2.12.1"), 0);
	assert_int_equal(store_check_name("a+b_c?d=e.f-G"), 0);
	memset(name, 'x', sizeof(name));
	name[STORE_NAME_MAX] = '\0';
	assert_int_equal(store_check_name(name), 0);
	name[STORE_NAME_MAX] = 'x';
	name[STORE_NAME_MAX + 1] = '\0';
	assert_int_equal(store_check_name(name), -1);
	assert_non_null(strstr(frx_errmsg(), "longer than 211"));
	assert_int_equal(store_check_name(""), -1);
	assert_int_equal(store_check_name(".hidden"), -1);
	assert_int_equal(store_check_name("a b"), -1);
	assert_non_null(strstr(frx_errmsg(), "a b: illegal character ' '"));
	assert_int_equal(store_check_name("a/b"), -1);
	assert_int_equal(store_check_name("caf\xc3\xa9"), -1);
}

static void
test_paths(void **state)
{
	char hp[33];

	(void)state;
	assert_int_equal(store_check_path(SD, SD "/" HP "-hello.txt"), 0);
	assert_int_equal(store_check_path(SD, SD "/" HP "-hello.txt/x"), -1);
	assert_non_null(strstr(frx_errmsg(), "not directly inside"));
	assert_int_equal(store_check_path(SD, "/nix/store/" HP "-hello"), -1);
	assert_non_null(strstr(frx_errmsg(), "/nix/store/" HP "-hello: not "
	    "in the store directory /frx/store"));
	assert_int_equal(store_check_path(SD, SD "/" HP "hello"), -1);
	assert_int_equal(store_check_path(SD, SD "/" HP "-"), -1);
	assert_int_equal(store_check_path(SD,
	    SD "/37szafsz2i3ami2hjhcf4f7k9xf5gz6e-x"), -1);	/* 'e' */
	assert_non_null(strstr(frx_errmsg(), "bad hash part"));
	assert_int_equal(store_check_path(SD, SD "/short-x"), -1);
	assert_int_equal(store_check_path(SD, SD "x/" HP "-x"), -1);
	assert_int_equal(store_check_path(SD, SD "/" HP "-a b"), -1);
	assert_string_equal(store_base(SD, SD "/" HP "-x"), HP "-x");
	assert_null(store_base(SD, "/frx/storex/" HP "-x"));
	assert_string_equal(store_path_name(SD, SD "/" HP "-x.drv"), "x.drv");
	assert_null(store_path_name(SD, SD "/abc"));
	assert_int_equal(store_hash_part(SD, SD "/" HP "-x", hp), 0);
	assert_string_equal(hp, HP);
	assert_int_equal(store_hash_part(SD, "/tmp/x", hp), -1);
}

static void
assert_abc(const char *text, int known, enum hash_algo algo)
{
	struct hash h;
	char *hex;

	if (hash_parse(text, known, algo, &h) < 0)
		fail_msg("%s: %s", text, frx_errmsg());
	assert_int_equal(h.algo, HASH_SHA256);
	assert_int_equal(h.len, 32);
	hex = hash_hex(&h);
	assert_string_equal(hex, ABC_HEX);
	free(hex);
}

static void
test_hash_parse(void **state)
{
	struct hash h;
	char *s;

	(void)state;
	assert_abc(ABC_HEX, 1, HASH_SHA256);
	assert_abc(ABC_B32, 1, HASH_SHA256);
	assert_abc(ABC_B64, 1, HASH_SHA256);
	assert_abc("sha256:" ABC_HEX, 0, HASH_MD5);
	assert_abc("sha256:" ABC_B32, 0, HASH_MD5);
	assert_abc("sha256:" ABC_B64, 1, HASH_SHA256);
	assert_abc("sha256-" ABC_B64, 0, HASH_MD5);
	assert_abc("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61"
	    "F20015AD", 1, HASH_SHA256);
	assert_int_equal(hash_parse(ABC_HEX, 0, HASH_SHA256, &h), -1);
	assert_non_null(strstr(frx_errmsg(), "no type prefix"));
	assert_int_equal(hash_parse("sha1:" ABC_HEX, 1, HASH_SHA256, &h), -1);
	assert_non_null(strstr(frx_errmsg(), "not sha256"));
	assert_int_equal(hash_parse("sha256:" ABC_HEX "0", 1, HASH_SHA256,
	    &h), -1);
	assert_int_equal(hash_parse("blake3:" ABC_HEX, 0, HASH_SHA256, &h),
	    -1);
	assert_non_null(strstr(frx_errmsg(), "unknown hash type"));
	assert_int_equal(hash_parse("sha256:" "za7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad", 0, HASH_SHA256, &h), -1);
	assert_int_equal(hash_parse("sha256-" ABC_HEX, 0, HASH_SHA256, &h),
	    -1);
	/* md5 and sha512 lengths */
	assert_int_equal(hash_parse("md5:3jgzhjhz9zjvbb0kyj7jc500ch", 0,
	    HASH_SHA256, &h), 0);
	assert_int_equal(h.algo, HASH_MD5);
	s = hash_hex(&h);
	assert_string_equal(s, "900150983cd24fb0d6963f7d28e17f72");
	free(s);
	hash_buf(HASH_SHA512, "abc", 3, &h);
	s = base64_encode(h.d, h.len);
	assert_int_equal(strlen(s), 88);
	{
		char *sri = xasprintf("sha512-%s", s);
		struct hash g;

		assert_int_equal(hash_parse(sri, 0, HASH_SHA256, &g), 0);
		assert_int_equal(g.algo, HASH_SHA512);
		assert_memory_equal(g.d, h.d, 64);
		free(sri);
	}
	free(s);
}

static void
test_text_forms(void **state)
{
	unsigned char out[32];
	struct hash h;
	char *s;

	(void)state;
	hash_buf(HASH_SHA256, "abc", 3, &h);
	s = hash_typed_base32(&h);
	assert_string_equal(s, "sha256:" ABC_B32);
	free(s);
	s = base64_encode(h.d, h.len);
	assert_string_equal(s, ABC_B64);
	free(s);
	s = base64_encode((const unsigned char *)"ab", 2);
	assert_string_equal(s, "YWI=");
	free(s);
	/* unused high bits must be zero: "7z" is ff, "8z" is not a byte */
	assert_int_equal(base32_decode("7z", out, 1), 0);
	assert_int_equal(out[0], 0xff);
	assert_int_equal(base32_decode("8z", out, 1), -1);
	assert_non_null(strstr(frx_errmsg(), "non-zero high bits"));
	assert_int_equal(base32_decode("7e", out, 1), -1);
	assert_int_equal(base32_decode("7zz", out, 1), -1);
	assert_int_equal(base32_len(16), 26);
	assert_int_equal(base32_len(20), 32);
	assert_int_equal(base32_len(32), 52);
	assert_int_equal(base32_len(64), 103);
	assert_string_equal(hash_algo_name(HASH_SHA1), "sha1");
	assert_int_equal(hash_algo_len(HASH_SHA512), 64);
}

static void
test_hash_algos(void **state)
{
	enum hash_algo a;
	struct hash h;
	struct hash_ctx *c;
	char *hex;

	(void)state;
	assert_int_equal(hash_algo_parse("sha1", &a), 0);
	assert_int_equal(a, HASH_SHA1);
	assert_int_equal(hash_algo_parse("SHA1", &a), -1);
	assert_non_null(strstr(frx_errmsg(), "SHA1: unknown hash algorithm"));
	c = hash_ctx_new(HASH_SHA1);
	hash_ctx_update(c, "a", 1);
	hash_ctx_update(c, "bc", 2);
	hash_ctx_final(c, &h);
	hex = hash_hex(&h);
	assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	free(hex);
}

static void
test_make_paths(void **state)
{
	struct strv refs = STRV_INIT;
	struct hash h;
	char *p, *q;

	(void)state;
	hash_buf(HASH_SHA256, "abc", 3, &h);
	/* references are sorted and deduplicated */
	strv_add(&refs, SD "/" HP "-z");
	strv_add(&refs, SD "/00000000000000000000000000000000-a");
	p = store_make_text_path(SD, "t", &h, &refs);
	strv_sort(&refs);
	q = store_make_text_path(SD, "t", &h, &refs);
	assert_string_equal(p, q);
	free(q);
	strv_add(&refs, SD "/" HP "-z");
	q = store_make_text_path(SD, "t", &h, &refs);
	assert_string_equal(p, q);
	free(q);
	free(p);
	/* flat fixed paths cannot have references */
	assert_null(store_make_fixed_path(SD, "f", 0, &h, &refs, 0));
	assert_non_null(strstr(frx_errmsg(), "cannot have references"));
	assert_null(store_make_fixed_path(SD, "f", 0, &h, NULL, 1));
	/* recursive sha256 with self reference differs from without */
	p = store_make_fixed_path(SD, "f", 1, &h, NULL, 0);
	q = store_make_fixed_path(SD, "f", 1, &h, NULL, 1);
	assert_non_null(p);
	assert_non_null(q);
	assert_string_not_equal(p, q);
	assert_int_equal(store_check_path(SD, p), 0);
	free(p);
	free(q);
	/* the vectors' fixed.drv output: flat sha256 of "abc" */
	p = store_make_fixed_path(SD, "fixed", 0, &h, NULL, 0);
	assert_string_equal(p, SD "/bva3qq75ziib1qq7334z8jcrzbm8nasr-fixed");
	free(p);
	p = store_ca_fixed(0, &h);
	assert_string_equal(p, "fixed:sha256:" ABC_B32);
	free(p);
	p = store_ca_text(&h);
	assert_string_equal(p, "text:sha256:" ABC_B32);
	free(p);
	strv_free(&refs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_hash_parse),
		cmocka_unit_test(test_text_forms),
		cmocka_unit_test(test_hash_algos),
		cmocka_unit_test(test_make_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
