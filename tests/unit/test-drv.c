/*
 * test-drv: the ATerm reader and writer on every vector .drv, the masked
 * and modulo texts, output path checking and filling, and rejection of
 * malformed derivations.
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
#include "../../lib/store.h"
#include "../../lib/util.h"

static const char *vdir;

static const char *const names[] = { "simple", "multi", "fixed",
    "fixedrec", "withsrc", "chain" };
#define NNAMES (sizeof(names) / sizeof(names[0]))

static const struct {
	const char *storedir;
	const char *sub;
} stores[] = {
	{ "/frx/store", "drv/frx-store" },
	{ "/nix/store", "drv/nix-store" },
};

struct loader {
	int store;
	int calls;
};

static int
read_vec(const char *sub, const char *file, struct buf *b)
{
	char *path = xasprintf("%s/%s/%s", vdir, sub, file);
	int r = read_file(path, b);

	free(path);
	return r;
}

static int
vec_loader(void *ctx, const char *drvpath, struct drv *d)
{
	struct loader *l = ctx;
	const char *name = store_path_name(stores[l->store].storedir, drvpath);
	char *path;
	int r;

	l->calls++;
	if (name == NULL)
		return frx_seterr("%s: not a store path", drvpath);
	path = xasprintf("%s/%s/%s", vdir, stores[l->store].sub, name);
	r = drv_load_file(NULL, path, d);
	free(path);
	return r;
}

static void
load(int s, const char *name, struct drv *d, struct buf *text)
{
	char *file = xasprintf("%s.drv", name);

	if (read_vec(stores[s].sub, file, text) < 0)
		fail_msg("%s", frx_errmsg());
	if (drv_parse(text->data, text->len, d) < 0)
		fail_msg("%s: %s", file, frx_errmsg());
	free(file);
}

static void
test_round_trip(void **state)
{
	static const char *const suffixes[] = { ".drv", ".masked.aterm",
	    ".modulo.aterm" };
	struct buf in = BUF_INIT, out = BUF_INIT;
	struct drv d;
	size_t s, i, k, n = 0;
	char *file;

	(void)state;
	for (s = 0; s < 2; s++) {
		for (i = 0; i < NNAMES; i++) {
			for (k = 0; k < 3; k++) {
				file = xasprintf("%s%s", names[i],
				    suffixes[k]);
				buf_reset(&in);
				buf_reset(&out);
				if (read_vec(stores[s].sub, file, &in) < 0) {
					free(file);
					continue;	/* no such aterm */
				}
				assert_int_equal(drv_parse(in.data, in.len,
				    &d), 0);
				drv_unparse(&d, &out);
				assert_int_equal(out.len, in.len);
				assert_memory_equal(out.data, in.data, in.len);
				drv_free(&d);
				free(file);
				n++;
			}
		}
	}
	assert_int_equal(n, 24);
	buf_free(&in);
	buf_free(&out);
}

static void
test_parsed_fields(void **state)
{
	struct buf text = BUF_INIT;
	struct drv d;

	(void)state;
	load(0, "multi", &d, &text);
	assert_int_equal(d.noutputs, 2);
	assert_string_equal(d.outputs[0].name, "dev");
	assert_string_equal(d.outputs[0].path,
	    "/frx/store/yhnmwsmv58sf633608jxdfsrz05xc3ya-multi-dev");
	assert_string_equal(d.outputs[1].name, "out");
	assert_string_equal(d.platform, "x86_64-linux");
	assert_string_equal(d.builder, "/bin/sh");
	assert_int_equal(d.args.n, 2);
	assert_string_equal(d.args.v[1], "echo out > $out; echo dev > $dev");
	assert_string_equal(drv_get_env(&d, "note"),
	    "quote\" backslash\\ newline\n tab\t cr\r dollar${x} "
	    "utf8 \xc3\xa9");
	assert_false(drv_is_fixed(&d));
	drv_free(&d);
	buf_reset(&text);
	load(0, "chain", &d, &text);
	assert_int_equal(d.ninputs, 2);
	assert_string_equal(d.inputs[0].path,
	    "/frx/store/y4rnqw3p9lpd1lcr6y1s701i3rhxdkxz-multi.drv");
	assert_int_equal(d.inputs[0].outputs.n, 1);
	assert_string_equal(d.inputs[0].outputs.v[0], "dev");
	drv_free(&d);
	buf_reset(&text);
	load(0, "fixedrec", &d, &text);
	assert_true(drv_is_fixed(&d));
	assert_string_equal(d.outputs[0].hash_algo, "r:sha256");
	drv_free(&d);
	buf_free(&text);
}

/* The masked and modulo texts, byte for byte. */
static void
test_modulo_texts(void **state)
{
	struct buf text = BUF_INIT, got = BUF_INIT, want = BUF_INIT;
	struct loader l;
	struct drv d;
	size_t s, i;
	char *file;
	int mask;

	(void)state;
	for (s = 0; s < 2; s++) {
		l.store = (int)s;
		for (i = 0; i < NNAMES; i++) {
			buf_reset(&text);
			load((int)s, names[i], &d, &text);
			for (mask = 0; mask < 2 && !drv_is_fixed(&d); mask++) {
				file = xasprintf("%s.%s.aterm", names[i],
				    mask ? "masked" : "modulo");
				buf_reset(&want);
				buf_reset(&got);
				if (read_vec(stores[s].sub, file, &want) < 0)
					buf_add(&want, text.data, text.len);
				assert_int_equal(drv_modulo_text(
				    stores[s].storedir, &d, mask, vec_loader,
				    &l, &got), 0);
				assert_int_equal(got.len, want.len);
				assert_memory_equal(got.data, want.data,
				    want.len);
				free(file);
			}
			drv_free(&d);
		}
	}
	buf_reset(&got);
	buf_reset(&text);
	load(0, "fixed", &d, &text);
	assert_int_equal(drv_modulo_text("/frx/store", &d, 1, NULL, NULL,
	    &got), 0);
	assert_string_equal(got.data, "fixed:out:sha256:ba7816bf8f01cfea4141"
	    "40de5dae2223b00361a396177a9cb410ff61f20015ad:/frx/store/"
	    "bva3qq75ziib1qq7334z8jcrzbm8nasr-fixed");
	drv_free(&d);
	buf_free(&text);
	buf_free(&got);
	buf_free(&want);
}

static void
test_check_outputs(void **state)
{
	struct buf text = BUF_INIT;
	struct loader l;
	struct drv d;
	size_t s, i;

	(void)state;
	for (s = 0; s < 2; s++) {
		l.store = (int)s;
		for (i = 0; i < NNAMES; i++) {
			buf_reset(&text);
			load((int)s, names[i], &d, &text);
			if (drv_check_outputs(stores[s].storedir, &d,
			    vec_loader, &l) < 0)
				fail_msg("%s: %s", names[i], frx_errmsg());
			/* a different store dir gives other paths */
			assert_int_equal(drv_check_outputs(
			    stores[1 - s].storedir, &d, vec_loader, &l), -1);
			drv_free(&d);
		}
	}
	buf_free(&text);
}

static void
test_check_outputs_wrong(void **state)
{
	struct buf text = BUF_INIT;
	struct loader l = { 0, 0 };
	struct drv d;

	(void)state;
	load(0, "multi", &d, &text);
	d.outputs[0].path[15] = d.outputs[0].path[15] == 'a' ? 'b' : 'a';
	assert_int_equal(drv_check_outputs("/frx/store", &d, vec_loader, &l),
	    -1);
	assert_non_null(strstr(frx_errmsg(), "multi: output dev has path"));
	drv_free(&d);
	buf_reset(&text);
	load(0, "simple", &d, &text);
	drv_set_env(&d, "out", "/frx/store/elsewhere");
	assert_int_equal(drv_check_outputs("/frx/store", &d, vec_loader, &l),
	    -1);
	assert_non_null(strstr(frx_errmsg(), "environment variable out"));
	drv_free(&d);
	buf_reset(&text);
	/* a fixed-output drv whose hash changed */
	load(0, "fixed", &d, &text);
	d.outputs[0].hash[0] = '0';
	assert_int_equal(drv_check_outputs("/frx/store", &d, vec_loader, &l),
	    -1);
	assert_non_null(strstr(frx_errmsg(), "fixed: output out"));
	drv_free(&d);
	buf_free(&text);
}

/* Blank the outputs, fill them again: the original file results. */
static void
test_fill_outputs(void **state)
{
	struct buf text = BUF_INIT, out = BUF_INIT;
	struct loader l;
	struct drv d;
	size_t s, i, k;
	char *path, *want;

	(void)state;
	for (s = 0; s < 2; s++) {
		l.store = (int)s;
		for (i = 0; i < NNAMES; i++) {
			buf_reset(&text);
			buf_reset(&out);
			load((int)s, names[i], &d, &text);
			for (k = 0; k < d.noutputs; k++) {
				d.outputs[k].path[0] = '\0';
				drv_set_env(&d, d.outputs[k].name, "");
			}
			assert_int_equal(drv_fill_outputs(stores[s].storedir,
			    &d, vec_loader, &l), 0);
			drv_unparse(&d, &out);
			assert_int_equal(out.len, text.len);
			assert_memory_equal(out.data, text.data, text.len);
			path = drv_store_path(stores[s].storedir, &d, NULL);
			want = xasprintf("%s.drv", names[i]);
			assert_string_equal(store_path_name(
			    stores[s].storedir, path), want);
			free(want);
			free(path);
			drv_free(&d);
		}
	}
	buf_free(&text);
	buf_free(&out);
}

/* Build simple.drv from nothing with the builder functions. */
static void
test_build_from_scratch(void **state)
{
	struct buf text = BUF_INIT, out = BUF_INIT;
	struct drv d;
	char *path;

	(void)state;
	drv_init(&d);
	d.platform = xstrdup("x86_64-linux");
	d.builder = xstrdup("/bin/sh");
	strv_add(&d.args, "-c");
	strv_add(&d.args, "echo hello > $out");
	drv_set_env(&d, "system", "x86_64-linux");
	drv_set_env(&d, "name", "simple");
	drv_set_env(&d, "builder", "/bin/sh");
	drv_add_output(&d, "out", "", "", "");
	drv_sort(&d);
	assert_int_equal(drv_fill_outputs("/frx/store", &d, NULL, NULL), 0);
	drv_unparse(&d, &out);
	assert_int_equal(read_vec("drv/frx-store", "simple.drv", &text), 0);
	assert_int_equal(out.len, text.len);
	assert_memory_equal(out.data, text.data, text.len);
	path = drv_store_path("/frx/store", &d, "simple");
	assert_string_equal(path,
	    "/frx/store/y8rr5axf3rq7pdq20j0iy20clchz3ijb-simple.drv");
	free(path);
	drv_free(&d);
	buf_free(&text);
	buf_free(&out);
}

static void
test_inputs_merge(void **state)
{
	struct drv d;

	(void)state;
	drv_init(&d);
	drv_add_input(&d, "/frx/store/b.drv", "out");
	drv_add_input(&d, "/frx/store/a.drv", "out");
	drv_add_input(&d, "/frx/store/b.drv", "dev");
	drv_add_input(&d, "/frx/store/b.drv", "out");
	drv_add_src(&d, "/frx/store/z");
	drv_add_src(&d, "/frx/store/y");
	drv_add_src(&d, "/frx/store/z");
	drv_sort(&d);
	assert_int_equal(d.ninputs, 2);
	assert_string_equal(d.inputs[0].path, "/frx/store/a.drv");
	assert_int_equal(d.inputs[1].outputs.n, 2);
	assert_string_equal(d.inputs[1].outputs.v[0], "dev");
	assert_int_equal(d.srcs.n, 2);
	assert_string_equal(d.srcs.v[0], "/frx/store/y");
	drv_free(&d);
}

static void
test_escapes(void **state)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	struct drv d, e;

	(void)state;
	drv_init(&d);
	d.platform = xstrdup("x");
	d.builder = xstrdup("/b\"in\\sh\n");
	strv_add(&d.args, "\t\r\x01");
	drv_set_env(&d, "k\"", "v\\\n");
	drv_add_output(&d, "out", "/p", "", "");
	drv_unparse(&d, &a);
	assert_string_equal(a.data, "Derive([(\"out\",\"/p\",\"\",\"\")],[],[],"
	    "\"x\",\"/b\\\"in\\\\sh\\n\",[\"\\t\\r\x01\"],"
	    "[(\"k\\\"\",\"v\\\\\\n\")])");
	assert_int_equal(drv_parse(a.data, a.len, &e), 0);
	assert_string_equal(e.builder, d.builder);
	assert_string_equal(e.args.v[0], d.args.v[0]);
	assert_string_equal(e.env[0].key, "k\"");
	assert_string_equal(e.env[0].value, "v\\\n");
	drv_unparse(&e, &b);
	assert_string_equal(a.data, b.data);
	drv_free(&d);
	drv_free(&e);
	buf_free(&a);
	buf_free(&b);
}

static void
assert_parse_fails(const char *text, const char *why)
{
	struct drv d;

	assert_int_equal(drv_parse(text, strlen(text), &d), -1);
	if (strstr(frx_errmsg(), why) == NULL)
		fail_msg("%s: message lacks \"%s\"", frx_errmsg(), why);
	assert_non_null(strstr(frx_errmsg(), "offset"));
}

static void
test_parse_errors(void **state)
{
	static const char good[] = "Derive([(\"out\",\"/p\",\"\",\"\")],[],[],"
	    "\"x\",\"b\",[],[(\"a\",\"1\"),(\"b\",\"2\")])";
	struct drv d;

	(void)state;
	assert_int_equal(drv_parse(good, strlen(good), &d), 0);
	drv_free(&d);
	/* not NUL-terminated: only len bytes count */
	assert_int_equal(drv_parse(good, strlen(good) - 1, &d), -1);
	assert_parse_fails("Derive([],[],[],\"x\",\"b\",[],[])x",
	    "trailing bytes");
	assert_parse_fails("Derivx([],[],[],\"x\",\"b\",[],[])",
	    "expected 'Derive('");
	assert_parse_fails("Derive([],[],[],\"x\",\"b\",[],[(\"b\",\"1\"),"
	    "(\"a\",\"2\")])", "environment not sorted");
	assert_parse_fails("Derive([],[],[],\"x\",\"b\",[],[(\"a\",\"1\"),"
	    "(\"a\",\"2\")])", "environment not sorted");
	assert_parse_fails("Derive([(\"out\",\"\",\"\",\"\"),(\"dev\",\"\","
	    "\"\",\"\")],[],[],\"x\",\"b\",[],[])", "outputs not sorted");
	assert_parse_fails("Derive([],[],[\"b\",\"a\"],\"x\",\"b\",[],[])",
	    "not sorted");
	assert_parse_fails("Derive([],[],[],\"x,\"b\",[],[])", "expected");
	assert_parse_fails("Derive([],[],[],\"x\",\"b\",[],[]", "expected ')'");
	assert_parse_fails("Derive([],[],[],\"x\",\"b\",[\"unterminated",
	    "unterminated string");
	assert_parse_fails("", "expected 'Derive('");
}

static void
test_drv_name_errors(void **state)
{
	struct drv d;

	(void)state;
	drv_init(&d);
	d.platform = xstrdup("x");
	d.builder = xstrdup("b");
	drv_add_output(&d, "out", "", "", "");
	assert_int_equal(drv_fill_outputs("/frx/store", &d, NULL, NULL), -1);
	assert_non_null(strstr(frx_errmsg(), "no \"name\""));
	drv_set_env(&d, "name", "bad name");
	assert_int_equal(drv_fill_outputs("/frx/store", &d, NULL, NULL), -1);
	assert_non_null(strstr(frx_errmsg(), "illegal character"));
	drv_add_input(&d, "/frx/store/00000000000000000000000000000000-x.drv",
	    "out");
	drv_set_env(&d, "name", "x");
	assert_int_equal(drv_fill_outputs("/frx/store", &d, NULL, NULL), -1);
	assert_non_null(strstr(frx_errmsg(), "no loader"));
	drv_free(&d);
}

/* Each input is loaded once even when reached by several routes. */
static void
test_memo(void **state)
{
	struct buf text = BUF_INIT;
	struct loader l = { 0, 0 };
	struct drv d;
	struct hash h;

	(void)state;
	load(0, "chain", &d, &text);
	assert_int_equal(drv_hash_modulo("/frx/store", &d, 1, vec_loader, &l,
	    &h), 0);
	assert_int_equal(l.calls, 2);
	drv_free(&d);
	buf_free(&text);
}

static int
setup(void **state)
{
	const char *e = getenv("FRX_VECTORS");

	(void)state;
	vdir = e != NULL && *e != '\0' ? e : "../shared/vectors";
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_parsed_fields),
		cmocka_unit_test(test_modulo_texts),
		cmocka_unit_test(test_check_outputs),
		cmocka_unit_test(test_check_outputs_wrong),
		cmocka_unit_test(test_fill_outputs),
		cmocka_unit_test(test_build_from_scratch),
		cmocka_unit_test(test_inputs_merge),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_drv_name_errors),
		cmocka_unit_test(test_memo),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
