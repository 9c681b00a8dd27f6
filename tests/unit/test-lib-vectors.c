/*
 * test-lib-vectors: every row of vectors/vectors.tsv, of every kind,
 * against lib/.  Run from the repository root, or set FRX_VECTORS.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/drv.h"
#include "../../lib/hash.h"
#include "../../lib/nar.h"
#include "../../lib/store.h"
#include "../../lib/util.h"

struct row {
	char *id, *kind, *storedir, *input, *expected, *note;
};

static const char *vdir;
static struct row *rows;
static size_t nrows;

static const char *
vectors_dir(void)
{
	const char *e = getenv("FRX_VECTORS");

	return e != NULL && *e != '\0' ? e : "../shared/vectors";
}

static char *
unescape(const char *s)
{
	struct buf b = BUF_INIT;

	for (; *s != '\0'; s++) {
		if (*s == '\\' && s[1] != '\0') {
			s++;
			buf_addc(&b, *s == 'n' ? '\n' : *s == 't' ? '\t' :
			    *s == 'r' ? '\r' : *s);
		} else {
			buf_addc(&b, *s);
		}
	}
	return buf_steal(&b);
}

static void
load_rows(void)
{
	struct buf b = BUF_INIT;
	char *path, *line, *save = NULL, *f[6], *p;
	int i;

	path = xasprintf("%s/vectors.tsv", vdir);
	assert_int_equal(read_file(path, &b), 0);
	free(path);
	for (line = strtok_r(b.data, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || strncmp(line, "id\t", 3) == 0)
			continue;
		p = line;
		for (i = 0; i < 6; i++) {
			f[i] = p;
			p = strchr(p, '\t');
			if (p == NULL) {
				assert_int_equal(i, 5);
				break;
			}
			*p++ = '\0';
		}
		rows = xrealloc(rows, (nrows + 1) * sizeof(*rows));
		rows[nrows].id = xstrdup(f[0]);
		rows[nrows].kind = xstrdup(f[1]);
		rows[nrows].storedir = xstrdup(f[2]);
		rows[nrows].input = unescape(f[3]);
		rows[nrows].expected = unescape(f[4]);
		rows[nrows].note = unescape(f[5]);
		nrows++;
	}
	buf_free(&b);
}

static void
hex_decode(const char *s, unsigned char *out, size_t n)
{
	size_t i;
	unsigned v;

	assert_int_equal(strlen(s), 2 * n);
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (unsigned char)v;
	}
}

static void
read_vec(const char *rel, struct buf *b)
{
	char *path = xasprintf("%s/%s", vdir, rel);

	if (read_file(path, b) < 0)
		fail_msg("%s", frx_errmsg());
	free(path);
}

static void
assert_hex(const struct hash *h, const char *expected)
{
	char *hex = hash_hex(h);

	assert_string_equal(hex, expected);
	free(hex);
}

/* Value of "key=" in a space-separated input; the last key may hold
 * spaces when rest is set. */
static char *
field(const char *input, const char *key, int rest)
{
	char *pat = xasprintf("%s=", key);
	const char *p = input, *e;
	char *v;

	for (;;) {
		p = strstr(p, pat);
		assert_non_null(p);
		if (p == input || p[-1] == ' ')
			break;
		p++;
	}
	p += strlen(pat);
	e = rest ? p + strlen(p) : strchr(p, ' ');
	if (e == NULL)
		e = p + strlen(p);
	v = xstrndup(p, (size_t)(e - p));
	free(pat);
	return v;
}

/* Value of key=... in the note (quoted or up to a space). */
static char *
note_field(const char *note, const char *key)
{
	char *pat = xasprintf("%s=", key);
	const char *p = strstr(note, pat), *e;
	char *v;

	assert_non_null(p);
	p += strlen(pat);
	if (*p == '"') {
		p++;
		e = strchr(p, '"');
	} else {
		e = p + strcspn(p, " ");
	}
	assert_non_null(e);
	v = xstrndup(p, (size_t)(e - p));
	free(pat);
	return v;
}

static const char *
drv_subdir(const char *storedir)
{
	if (strcmp(storedir, "/frx/store") == 0)
		return "drv/frx-store";
	assert_string_equal(storedir, "/nix/store");
	return "drv/nix-store";
}

struct loader {
	const char *storedir;
};

/* Load an input .drv by mapping its store path to the vector file. */
static int
vec_loader(void *ctx, const char *drvpath, struct drv *d)
{
	struct loader *l = ctx;
	const char *name = store_path_name(l->storedir, drvpath);
	char *path;
	int r;

	if (name == NULL)
		return frx_seterr("%s: not a store path", drvpath);
	path = xasprintf("%s/%s/%s", vdir, drv_subdir(l->storedir), name);
	r = drv_load_file(NULL, path, d);
	free(path);
	return r;
}

static void
parse_vec_drv(const char *rel, struct drv *d)
{
	struct buf b = BUF_INIT;

	read_vec(rel, &b);
	if (drv_parse(b.data, b.len, d) < 0)
		fail_msg("%s: %s", rel, frx_errmsg());
	buf_free(&b);
}

static void
check_base32(const struct row *r)
{
	unsigned char in[HASH_MAX], back[HASH_MAX];
	size_t n = strlen(r->input) / 2;
	char *s;

	hex_decode(r->input, in, n);
	s = base32_encode(in, n);
	assert_string_equal(s, r->expected);
	assert_int_equal(base32_len(n), strlen(r->expected));
	assert_int_equal(base32_decode(r->expected, back, n), 0);
	assert_memory_equal(in, back, n);
	free(s);
}

static void
check_fold20(const struct row *r)
{
	unsigned char in[32], out[20];
	char *hex;

	hex_decode(r->input, in, 32);
	hash_fold(in, 32, out, 20);
	hex = hex_encode(out, 20);
	assert_string_equal(hex, r->expected);
	free(hex);
}

static void
check_sha256(const struct row *r)
{
	struct hash h;

	hash_buf(HASH_SHA256, r->input, strlen(r->input), &h);
	assert_hex(&h, r->expected);
}

/* "<type>:sha256:<hex>:<storedir>:<name>" through store_make_path. */
static void
check_fingerprint(const struct row *r)
{
	const char *p = strstr(r->input, ":sha256:");
	char *type, *name_sep, *path;
	struct hash inner;
	char hex[65];

	assert_non_null(p);
	type = xstrndup(r->input, (size_t)(p - r->input));
	p += strlen(":sha256:");
	memcpy(hex, p, 64);
	hex[64] = '\0';
	assert_int_equal(hash_parse(hex, 1, HASH_SHA256, &inner), 0);
	assert_int_equal(p[64], ':');
	assert_memory_equal(p + 65, r->storedir, strlen(r->storedir));
	name_sep = strrchr(r->input, ':');
	path = store_make_path(r->storedir, type, &inner, name_sep + 1);
	assert_string_equal(path, r->expected);
	free(path);
	free(type);
}

static void
check_nar_sha256(const struct row *r)
{
	struct buf b = BUF_INIT;
	struct nar_membuf m;
	struct hash h;
	char *b32, *want, *size;

	read_vec(r->input, &b);
	hash_buf(HASH_SHA256, b.data, b.len, &h);
	assert_hex(&h, r->expected);
	size = note_field(r->note, "narSize");
	assert_int_equal(b.len, strtoull(size, NULL, 10));
	want = note_field(r->note, "base32");
	b32 = hash_typed_base32(&h);
	assert_string_equal(b32, want);
	m.p = (const unsigned char *)b.data;
	m.len = b.len;
	m.off = 0;
	assert_int_equal(nar_skip(nar_membuf_read, &m, NULL, NULL), 0);
	assert_int_equal(m.off, b.len);
	free(b32);
	free(want);
	free(size);
	buf_free(&b);
}

static void
check_fixed_output(const struct row *r)
{
	char *name = field(r->input, "name", 0);
	char *method = field(r->input, "method", 0);
	char *algo = field(r->input, "algo", 0);
	char *hex = field(r->input, "hash", 0);
	char *ca_want = note_field(r->note, "ca");
	int recursive = strcmp(method, "recursive") == 0;
	enum hash_algo a;
	struct hash h;
	char *path, *ca;

	assert_true(recursive || strcmp(method, "flat") == 0);
	assert_int_equal(hash_algo_parse(algo, &a), 0);
	assert_int_equal(hash_parse(hex, 1, a, &h), 0);
	path = store_make_fixed_path(r->storedir, name, recursive, &h, NULL,
	    0);
	assert_non_null(path);
	assert_string_equal(path, r->expected);
	ca = store_ca_fixed(recursive, &h);
	assert_string_equal(ca, ca_want);
	free(ca);
	free(path);
	free(ca_want);
	free(hex);
	free(algo);
	free(method);
	free(name);
}

static void
split_refs(const char *s, struct strv *refs)
{
	char *copy, *tok, *save = NULL;

	if (strcmp(s, "-") == 0)
		return;
	copy = xstrdup(s);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save))
		strv_add(refs, tok);
	free(copy);
}

static void
check_text_path(const struct row *r)
{
	char *name = field(r->input, "name", 0);
	char *refstr = field(r->input, "refs", 0);
	char *content = field(r->input, "content", 1);
	char *ca_want = note_field(r->note, "ca");
	struct strv refs = STRV_INIT;
	struct hash h;
	char *path, *ca;

	split_refs(refstr, &refs);
	hash_buf(HASH_SHA256, content, strlen(content), &h);
	path = store_make_text_path(r->storedir, name, &h, &refs);
	assert_string_equal(path, r->expected);
	ca = store_ca_text(&h);
	assert_string_equal(ca, ca_want);
	free(ca);
	free(path);
	strv_free(&refs);
	free(ca_want);
	free(content);
	free(refstr);
	free(name);
}

static void
check_drv_nar(const char *rel, const struct row *r)
{
	char *path = xasprintf("%s/%s", vdir, rel);
	char *hash_want = note_field(r->note, "narHash");
	char *size_want = note_field(r->note, "narSize");
	struct hash h;
	uint64_t size;

	assert_int_equal(nar_hash_path(path, &h, &size), 0);
	assert_hex(&h, hash_want);
	assert_int_equal(size, strtoull(size_want, NULL, 10));
	free(size_want);
	free(hash_want);
	free(path);
}

static void
check_drv_path(const struct row *r)
{
	char *file = field(r->input, "file", 0);
	char *refstr = field(r->input, "refs", 0);
	const char *name = store_path_name(r->storedir, r->expected);
	struct strv refs = STRV_INIT;
	struct buf b = BUF_INIT;
	struct drv d;
	struct hash h;
	char *path, *dname;

	assert_non_null(name);
	split_refs(refstr, &refs);
	read_vec(file, &b);
	hash_buf(HASH_SHA256, b.data, b.len, &h);
	path = store_make_text_path(r->storedir, name, &h, &refs);
	assert_string_equal(path, r->expected);
	free(path);
	/* The same through the parsed derivation: refs = srcs + inputs. */
	parse_vec_drv(file, &d);
	dname = xstrndup(name, strlen(name) - strlen(".drv"));
	assert_string_equal(dname, drv_get_env(&d, "name"));
	path = drv_store_path(r->storedir, &d, dname);
	assert_non_null(path);
	assert_string_equal(path, r->expected);
	check_drv_nar(file, r);
	free(path);
	free(dname);
	drv_free(&d);
	buf_free(&b);
	strv_free(&refs);
	free(refstr);
	free(file);
}

/* From "drv/x/NAME.masked.aterm" etc.: the .drv file and the mask. */
static char *
drv_for_aterm(const char *file, int *mask)
{
	const char *dot;

	*mask = strstr(file, ".masked.aterm") != NULL;
	if (strstr(file, ".aterm") == NULL)
		return xstrdup(file);
	dot = strchr(strrchr(file, '/'), '.');
	return xasprintf("%.*s.drv", (int)(dot - file), file);
}

static void
check_hash_modulo_drv(const struct row *r, const char *drvfile, int mask)
{
	struct loader l = { r->storedir };
	struct drv d;
	struct hash h;

	parse_vec_drv(drvfile, &d);
	if (drv_hash_modulo(r->storedir, &d, mask, vec_loader, &l, &h) < 0)
		fail_msg("%s: %s", drvfile, frx_errmsg());
	assert_hex(&h, r->expected);
	drv_free(&d);
}

static void
check_hash_modulo(const struct row *r)
{
	struct buf b = BUF_INIT;
	struct hash h;
	char *file, *drvfile, *rel;
	const char *outpath, *name;
	int mask;

	if (strncmp(r->input, "file=", 5) != 0) {
		/* fixed-output: the literal string, and the drv itself */
		hash_buf(HASH_SHA256, r->input, strlen(r->input), &h);
		assert_hex(&h, r->expected);
		outpath = strrchr(r->input, ':') + 1;
		name = store_path_name(r->storedir, outpath);
		assert_non_null(name);
		rel = xasprintf("%s/%s.drv", drv_subdir(r->storedir), name);
		check_hash_modulo_drv(r, rel, 0);
		check_hash_modulo_drv(r, rel, 1);
		free(rel);
		return;
	}
	file = field(r->input, "file", 0);
	read_vec(file, &b);
	hash_buf(HASH_SHA256, b.data, b.len, &h);
	assert_hex(&h, r->expected);
	drvfile = drv_for_aterm(file, &mask);
	check_hash_modulo_drv(r, drvfile, mask);
	free(drvfile);
	free(file);
	buf_free(&b);
}

static void
check_output_path(const struct row *r)
{
	char *drvpath = field(r->input, "drv", 0);
	char *output = field(r->input, "output", 0);
	struct loader l = { r->storedir };
	struct drv d;
	char *path;
	size_t i;
	int seen = 0;

	assert_int_equal(vec_loader(&l, drvpath, &d), 0);
	/* the vector file really is the .drv at that store path */
	path = drv_store_path(r->storedir, &d, drv_get_env(&d, "name"));
	assert_string_equal(path, drvpath);
	free(path);
	if (drv_check_outputs(r->storedir, &d, vec_loader, &l) < 0)
		fail_msg("%s: %s", drvpath, frx_errmsg());
	/* recompute from scratch, as the evaluator does */
	for (i = 0; i < d.noutputs; i++) {
		free(d.outputs[i].path);
		d.outputs[i].path = xstrdup("");
		drv_set_env(&d, d.outputs[i].name, "");
	}
	assert_int_equal(drv_fill_outputs(r->storedir, &d, vec_loader, &l),
	    0);
	for (i = 0; i < d.noutputs; i++) {
		if (strcmp(d.outputs[i].name, output) != 0)
			continue;
		assert_string_equal(d.outputs[i].path, r->expected);
		assert_string_equal(drv_get_env(&d, output), r->expected);
		seen = 1;
	}
	assert_true(seen);
	drv_free(&d);
	free(output);
	free(drvpath);
}

static const struct {
	const char *kind;
	void (*check)(const struct row *);
	size_t min;		/* rows of this kind the file must hold */
} kinds[] = {
	{ "base32", check_base32, 7 },
	{ "fold20", check_fold20, 3 },
	{ "sha256", check_sha256, 2 },
	{ "fingerprint-to-path", check_fingerprint, 2 },
	{ "nar-sha256", check_nar_sha256, 5 },
	{ "fixed-output-path", check_fixed_output, 12 },
	{ "text-path", check_text_path, 2 },
	{ "drv-path", check_drv_path, 12 },
	{ "drv-hash-modulo", check_hash_modulo, 20 },
	{ "drv-output-path", check_output_path, 14 },
};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static void
run_kind(size_t k)
{
	size_t i, n = 0;

	for (i = 0; i < nrows; i++) {
		if (strcmp(rows[i].kind, kinds[k].kind) != 0)
			continue;
		print_message("  %s\n", rows[i].id);
		kinds[k].check(&rows[i]);
		n++;
	}
	assert_true(n >= kinds[k].min);
}

static void
test_all_kinds_known(void **state)
{
	size_t i, k;

	(void)state;
	assert_int_equal(nrows, 79);
	for (i = 0; i < nrows; i++) {
		for (k = 0; k < NKINDS; k++)
			if (strcmp(rows[i].kind, kinds[k].kind) == 0)
				break;
		if (k == NKINDS)
			fail_msg("%s: unknown kind %s", rows[i].id,
			    rows[i].kind);
	}
}

#define KIND_TEST(fn, idx) \
	static void fn(void **state) { (void)state; run_kind(idx); }

KIND_TEST(test_base32, 0)
KIND_TEST(test_fold20, 1)
KIND_TEST(test_sha256, 2)
KIND_TEST(test_fingerprint, 3)
KIND_TEST(test_nar_sha256, 4)
KIND_TEST(test_fixed_output, 5)
KIND_TEST(test_text_path, 6)
KIND_TEST(test_drv_path, 7)
KIND_TEST(test_hash_modulo, 8)
KIND_TEST(test_output_path, 9)

static int
setup(void **state)
{
	(void)state;
	vdir = vectors_dir();
	load_rows();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_kinds_known),
		cmocka_unit_test(test_base32),
		cmocka_unit_test(test_fold20),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_nar_sha256),
		cmocka_unit_test(test_fixed_output),
		cmocka_unit_test(test_text_path),
		cmocka_unit_test(test_drv_path),
		cmocka_unit_test(test_hash_modulo),
		cmocka_unit_test(test_output_path),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
