/*
 * drv.c: the ATerm form of derivations (PROTOCOL.md section 11), the
 * modulo hash and output paths (section 12).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drv.h"
#include "store.h"

#define DRV_DEPTH_MAX 4096

void
drv_init(struct drv *d)
{
	memset(d, 0, sizeof(*d));
}

void
drv_free(struct drv *d)
{
	size_t i;

	for (i = 0; i < d->noutputs; i++) {
		free(d->outputs[i].name);
		free(d->outputs[i].path);
		free(d->outputs[i].hash_algo);
		free(d->outputs[i].hash);
	}
	free(d->outputs);
	for (i = 0; i < d->ninputs; i++) {
		free(d->inputs[i].path);
		strv_free(&d->inputs[i].outputs);
	}
	free(d->inputs);
	strv_free(&d->srcs);
	free(d->platform);
	free(d->builder);
	strv_free(&d->args);
	for (i = 0; i < d->nenv; i++) {
		free(d->env[i].key);
		free(d->env[i].value);
	}
	free(d->env);
	drv_init(d);
}

/* ------------------------------------------------------------------ */
/* Parser */

struct aterm {
	const char *s;
	size_t len;
	size_t pos;
};

static int
at_err(struct aterm *a, const char *what)
{
	return frx_seterr("derivation: offset %zu: %s", a->pos, what);
}

static int
at_lit(struct aterm *a, const char *lit)
{
	size_t n = strlen(lit);
	char what[64];

	if (a->len - a->pos < n || memcmp(a->s + a->pos, lit, n) != 0) {
		snprintf(what, sizeof(what), "expected '%s'", lit);
		return at_err(a, what);
	}
	a->pos += n;
	return 0;
}

/* 1 and consume c if the next byte is c, else 0. */
static int
at_peek(struct aterm *a, char c)
{
	if (a->pos < a->len && a->s[a->pos] == c) {
		a->pos++;
		return 1;
	}
	return 0;
}

static char
unescape(char c)
{
	switch (c) {
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	default:
		return c;
	}
}

static int
at_str(struct aterm *a, char **out)
{
	struct buf b = BUF_INIT;
	char c;

	if (at_lit(a, "\"") < 0)
		return -1;
	buf_grow(&b, 0);
	for (;;) {
		if (a->pos >= a->len) {
			buf_free(&b);
			return at_err(a, "unterminated string");
		}
		c = a->s[a->pos++];
		if (c == '"')
			break;
		if (c == '\\') {
			if (a->pos >= a->len)
				continue;
			c = unescape(a->s[a->pos++]);
		}
		if (c == '\0') {
			buf_free(&b);
			return at_err(a, "NUL byte in string");
		}
		buf_addc(&b, c);
	}
	*out = buf_steal(&b);
	return 0;
}

/* Parse ["s",...] into v; strictly ascending unless ordered is 0. */
static int
at_strlist(struct aterm *a, struct strv *v, int sorted)
{
	char *s;

	if (at_lit(a, "[") < 0)
		return -1;
	if (at_peek(a, ']'))
		return 0;
	do {
		if (at_str(a, &s) < 0)
			return -1;
		if (sorted && v->n > 0 && strcmp(v->v[v->n - 1], s) >= 0) {
			free(s);
			return at_err(a, "list not sorted or has duplicates");
		}
		strv_addn(v, s);
	} while (at_peek(a, ','));
	return at_lit(a, "]");
}

static int
at_output(struct aterm *a, struct drv *d)
{
	struct drv_output *o;

	d->outputs = xrealloc(d->outputs,
	    (d->noutputs + 1) * sizeof(*d->outputs));
	o = &d->outputs[d->noutputs];
	memset(o, 0, sizeof(*o));
	d->noutputs++;
	if (at_lit(a, "(") < 0 || at_str(a, &o->name) < 0 ||
	    at_lit(a, ",") < 0 || at_str(a, &o->path) < 0 ||
	    at_lit(a, ",") < 0 || at_str(a, &o->hash_algo) < 0 ||
	    at_lit(a, ",") < 0 || at_str(a, &o->hash) < 0)
		return -1;
	if (d->noutputs > 1 &&
	    strcmp(d->outputs[d->noutputs - 2].name, o->name) >= 0)
		return at_err(a, "outputs not sorted or duplicated");
	return at_lit(a, ")");
}

static int
at_input(struct aterm *a, struct drv *d)
{
	struct drv_input *in;

	d->inputs = xrealloc(d->inputs, (d->ninputs + 1) * sizeof(*d->inputs));
	in = &d->inputs[d->ninputs];
	memset(in, 0, sizeof(*in));
	d->ninputs++;
	if (at_lit(a, "(") < 0 || at_str(a, &in->path) < 0 ||
	    at_lit(a, ",") < 0 || at_strlist(a, &in->outputs, 1) < 0)
		return -1;
	if (d->ninputs > 1 &&
	    strcmp(d->inputs[d->ninputs - 2].path, in->path) >= 0)
		return at_err(a, "input derivations not sorted or duplicated");
	return at_lit(a, ")");
}

static int
at_env(struct aterm *a, struct drv *d)
{
	struct drv_env *e;

	d->env = xrealloc(d->env, (d->nenv + 1) * sizeof(*d->env));
	e = &d->env[d->nenv];
	memset(e, 0, sizeof(*e));
	d->nenv++;
	if (at_lit(a, "(") < 0 || at_str(a, &e->key) < 0 ||
	    at_lit(a, ",") < 0 || at_str(a, &e->value) < 0)
		return -1;
	if (d->nenv > 1 && strcmp(d->env[d->nenv - 2].key, e->key) >= 0)
		return at_err(a, "environment not sorted or duplicated");
	return at_lit(a, ")");
}

/* A list "[" item { "," item } "]" (possibly empty). */
static int
at_list(struct aterm *a, struct drv *d,
    int (*item)(struct aterm *, struct drv *))
{
	if (at_lit(a, "[") < 0)
		return -1;
	if (at_peek(a, ']'))
		return 0;
	do {
		if (item(a, d) < 0)
			return -1;
	} while (at_peek(a, ','));
	return at_lit(a, "]");
}

static int
at_drv(struct aterm *a, struct drv *d)
{
	if (at_lit(a, "Derive(") < 0 || at_list(a, d, at_output) < 0 ||
	    at_lit(a, ",") < 0 || at_list(a, d, at_input) < 0 ||
	    at_lit(a, ",") < 0 || at_strlist(a, &d->srcs, 1) < 0 ||
	    at_lit(a, ",") < 0 || at_str(a, &d->platform) < 0 ||
	    at_lit(a, ",") < 0 || at_str(a, &d->builder) < 0 ||
	    at_lit(a, ",") < 0 || at_strlist(a, &d->args, 0) < 0 ||
	    at_lit(a, ",") < 0 || at_list(a, d, at_env) < 0 ||
	    at_lit(a, ")") < 0)
		return -1;
	if (a->pos != a->len)
		return at_err(a, "trailing bytes after derivation");
	return 0;
}

int
drv_parse(const char *text, size_t len, struct drv *d)
{
	struct aterm a = { text, len, 0 };

	drv_init(d);
	if (at_drv(&a, d) < 0) {
		drv_free(d);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Writer */

static void
put_raw(struct buf *b, const char *s)
{
	buf_addc(b, '"');
	buf_adds(b, s);
	buf_addc(b, '"');
}

static void
put_esc(struct buf *b, const char *s)
{
	const char *p;

	buf_addc(b, '"');
	for (p = s; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			buf_adds(b, "\\\"");
			break;
		case '\\':
			buf_adds(b, "\\\\");
			break;
		case '\n':
			buf_adds(b, "\\n");
			break;
		case '\r':
			buf_adds(b, "\\r");
			break;
		case '\t':
			buf_adds(b, "\\t");
			break;
		default:
			buf_addc(b, *p);
		}
	}
	buf_addc(b, '"');
}

static void
put_strlist(struct buf *b, const struct strv *v, int esc)
{
	size_t i;

	buf_addc(b, '[');
	for (i = 0; i < v->n; i++) {
		if (i > 0)
			buf_addc(b, ',');
		if (esc)
			put_esc(b, v->v[i]);
		else
			put_raw(b, v->v[i]);
	}
	buf_addc(b, ']');
}

static void
put_outputs(struct buf *b, const struct drv *d)
{
	const struct drv_output *o;
	size_t i;

	buf_addc(b, '[');
	for (i = 0; i < d->noutputs; i++) {
		o = &d->outputs[i];
		buf_adds(b, i > 0 ? ",(" : "(");
		put_raw(b, o->name);
		buf_addc(b, ',');
		put_raw(b, o->path);
		buf_addc(b, ',');
		put_raw(b, o->hash_algo);
		buf_addc(b, ',');
		put_raw(b, o->hash);
		buf_addc(b, ')');
	}
	buf_addc(b, ']');
}

static void
put_inputs(struct buf *b, const struct drv *d)
{
	size_t i;

	buf_addc(b, '[');
	for (i = 0; i < d->ninputs; i++) {
		buf_adds(b, i > 0 ? ",(" : "(");
		put_raw(b, d->inputs[i].path);
		buf_addc(b, ',');
		put_strlist(b, &d->inputs[i].outputs, 0);
		buf_addc(b, ')');
	}
	buf_addc(b, ']');
}

static void
put_env(struct buf *b, const struct drv *d)
{
	size_t i;

	buf_addc(b, '[');
	for (i = 0; i < d->nenv; i++) {
		buf_adds(b, i > 0 ? ",(" : "(");
		put_esc(b, d->env[i].key);
		buf_addc(b, ',');
		put_esc(b, d->env[i].value);
		buf_addc(b, ')');
	}
	buf_addc(b, ']');
}

void
drv_unparse(const struct drv *d, struct buf *out)
{
	buf_adds(out, "Derive(");
	put_outputs(out, d);
	buf_addc(out, ',');
	put_inputs(out, d);
	buf_addc(out, ',');
	put_strlist(out, &d->srcs, 0);
	buf_addc(out, ',');
	put_raw(out, d->platform ? d->platform : "");
	buf_addc(out, ',');
	put_esc(out, d->builder ? d->builder : "");
	buf_addc(out, ',');
	put_strlist(out, &d->args, 1);
	buf_addc(out, ',');
	put_env(out, d);
	buf_addc(out, ')');
}

/* ------------------------------------------------------------------ */
/* Building and sorting */

static int
cmp_output(const void *a, const void *b)
{
	return strcmp(((const struct drv_output *)a)->name,
	    ((const struct drv_output *)b)->name);
}

static int
cmp_input(const void *a, const void *b)
{
	return strcmp(((const struct drv_input *)a)->path,
	    ((const struct drv_input *)b)->path);
}

static int
cmp_env(const void *a, const void *b)
{
	return strcmp(((const struct drv_env *)a)->key,
	    ((const struct drv_env *)b)->key);
}

void
drv_sort(struct drv *d)
{
	size_t i;

	if (d->noutputs > 1)
		qsort(d->outputs, d->noutputs, sizeof(*d->outputs),
		    cmp_output);
	if (d->ninputs > 1)
		qsort(d->inputs, d->ninputs, sizeof(*d->inputs), cmp_input);
	for (i = 0; i < d->ninputs; i++) {
		strv_sort(&d->inputs[i].outputs);
		strv_uniq(&d->inputs[i].outputs);
	}
	strv_sort(&d->srcs);
	strv_uniq(&d->srcs);
	if (d->nenv > 1)
		qsort(d->env, d->nenv, sizeof(*d->env), cmp_env);
}

static struct drv_output *
find_output(const struct drv *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->noutputs; i++)
		if (strcmp(d->outputs[i].name, name) == 0)
			return &d->outputs[i];
	return NULL;
}

void
drv_add_output(struct drv *d, const char *name, const char *path,
    const char *algo, const char *hash)
{
	struct drv_output *o = find_output(d, name);

	if (o == NULL) {
		d->outputs = xrealloc(d->outputs,
		    (d->noutputs + 1) * sizeof(*d->outputs));
		o = &d->outputs[d->noutputs++];
		o->name = xstrdup(name);
	} else {
		free(o->path);
		free(o->hash_algo);
		free(o->hash);
	}
	o->path = xstrdup(path ? path : "");
	o->hash_algo = xstrdup(algo ? algo : "");
	o->hash = xstrdup(hash ? hash : "");
}

void
drv_add_input(struct drv *d, const char *drvpath, const char *output)
{
	struct drv_input *in = NULL;
	size_t i;

	for (i = 0; i < d->ninputs; i++)
		if (strcmp(d->inputs[i].path, drvpath) == 0)
			in = &d->inputs[i];
	if (in == NULL) {
		d->inputs = xrealloc(d->inputs,
		    (d->ninputs + 1) * sizeof(*d->inputs));
		in = &d->inputs[d->ninputs++];
		memset(in, 0, sizeof(*in));
		in->path = xstrdup(drvpath);
	}
	if (output != NULL && !strv_contains(&in->outputs, output))
		strv_add(&in->outputs, output);
}

void
drv_add_src(struct drv *d, const char *path)
{
	if (!strv_contains(&d->srcs, path))
		strv_add(&d->srcs, path);
}

void
drv_set_env(struct drv *d, const char *key, const char *value)
{
	size_t i;

	for (i = 0; i < d->nenv; i++) {
		if (strcmp(d->env[i].key, key) == 0) {
			free(d->env[i].value);
			d->env[i].value = xstrdup(value);
			return;
		}
	}
	d->env = xrealloc(d->env, (d->nenv + 1) * sizeof(*d->env));
	d->env[d->nenv].key = xstrdup(key);
	d->env[d->nenv].value = xstrdup(value);
	d->nenv++;
}

const char *
drv_get_env(const struct drv *d, const char *key)
{
	size_t i;

	for (i = 0; i < d->nenv; i++)
		if (strcmp(d->env[i].key, key) == 0)
			return d->env[i].value;
	return NULL;
}

int
drv_is_fixed(const struct drv *d)
{
	return d->noutputs == 1 && strcmp(d->outputs[0].name, "out") == 0 &&
	    d->outputs[0].hash_algo[0] != '\0' &&
	    d->outputs[0].hash[0] != '\0';
}

/* ------------------------------------------------------------------ */
/* hashDerivationModulo */

/* Memo of HM(P, false) by drv path, for one top-level computation. */
struct hm_memo {
	struct strv paths;
	struct hash *hashes;
};

struct hm_ctx {
	const char *storedir;
	drv_loader_fn load;
	void *ctx;
	struct hm_memo memo;
};

static int hm(struct hm_ctx *c, const struct drv *d, int mask, int depth,
    struct hash *out);

static int
fixed_modulo(const struct drv *d, struct hash *out)
{
	const struct drv_output *o = &d->outputs[0];
	char *s;

	s = xasprintf("fixed:out:%s:%s:%s", o->hash_algo, o->hash, o->path);
	hash_buf(HASH_SHA256, s, strlen(s), out);
	free(s);
	return 0;
}

static int
input_modulo(struct hm_ctx *c, const char *path, int depth, struct hash *out)
{
	struct drv in;
	size_t i;
	int r;

	for (i = 0; i < c->memo.paths.n; i++) {
		if (strcmp(c->memo.paths.v[i], path) == 0) {
			*out = c->memo.hashes[i];
			return 0;
		}
	}
	if (c->load == NULL)
		return frx_seterr("%s: no loader for input derivations", path);
	drv_init(&in);
	if (c->load(c->ctx, path, &in) < 0)
		return frx_preferr("%s", path);
	r = hm(c, &in, 0, depth + 1, out);
	drv_free(&in);
	if (r < 0)
		return -1;
	c->memo.hashes = xrealloc(c->memo.hashes,
	    (c->memo.paths.n + 1) * sizeof(*c->memo.hashes));
	c->memo.hashes[c->memo.paths.n] = *out;
	strv_add(&c->memo.paths, path);
	return 0;
}

/* Replace input paths by hex modulo hashes, merging equal ones. */
static int
substitute_inputs(struct hm_ctx *c, const struct drv *d, int depth,
    struct drv *tmp)
{
	struct hash h;
	char *hex;
	size_t i, j;

	for (i = 0; i < d->ninputs; i++) {
		if (input_modulo(c, d->inputs[i].path, depth, &h) < 0)
			return -1;
		hex = hash_hex(&h);
		for (j = 0; j < d->inputs[i].outputs.n; j++)
			drv_add_input(tmp, hex, d->inputs[i].outputs.v[j]);
		if (d->inputs[i].outputs.n == 0)
			drv_add_input(tmp, hex, NULL);
		free(hex);
	}
	return 0;
}

/* A deep copy of d with masked outputs, ready for substitution. */
static void
masked_copy(const struct drv *d, int mask, struct drv *tmp)
{
	const char *v;
	size_t i;

	drv_init(tmp);
	for (i = 0; i < d->noutputs; i++)
		drv_add_output(tmp, d->outputs[i].name,
		    mask ? "" : d->outputs[i].path, d->outputs[i].hash_algo,
		    d->outputs[i].hash);
	for (i = 0; i < d->srcs.n; i++)
		strv_add(&tmp->srcs, d->srcs.v[i]);
	tmp->platform = xstrdup(d->platform ? d->platform : "");
	tmp->builder = xstrdup(d->builder ? d->builder : "");
	for (i = 0; i < d->args.n; i++)
		strv_add(&tmp->args, d->args.v[i]);
	for (i = 0; i < d->nenv; i++) {
		v = d->env[i].value;
		if (mask && find_output(d, d->env[i].key) != NULL)
			v = "";
		drv_set_env(tmp, d->env[i].key, v);
	}
}

/* The substituted (and with mask, masked) ATerm text of d. */
static int
hm_text(struct hm_ctx *c, const struct drv *d, int mask, int depth,
    struct buf *text)
{
	struct drv tmp;

	if (depth > DRV_DEPTH_MAX)
		return frx_seterr("derivation inputs nested too deeply");
	masked_copy(d, mask, &tmp);
	if (substitute_inputs(c, d, depth, &tmp) < 0) {
		drv_free(&tmp);
		return -1;
	}
	drv_sort(&tmp);
	drv_unparse(&tmp, text);
	drv_free(&tmp);
	return 0;
}

static int
hm(struct hm_ctx *c, const struct drv *d, int mask, int depth,
    struct hash *out)
{
	struct buf text = BUF_INIT;

	if (drv_is_fixed(d))
		return fixed_modulo(d, out);
	if (hm_text(c, d, mask, depth, &text) < 0) {
		buf_free(&text);
		return -1;
	}
	hash_buf(HASH_SHA256, text.data, text.len, out);
	buf_free(&text);
	return 0;
}

static void
hm_init(struct hm_ctx *c, const char *storedir, drv_loader_fn load,
    void *ctx)
{
	memset(c, 0, sizeof(*c));
	c->storedir = storedir;
	c->load = load;
	c->ctx = ctx;
}

static void
hm_free(struct hm_ctx *c)
{
	strv_free(&c->memo.paths);
	free(c->memo.hashes);
}

int
drv_hash_modulo(const char *storedir, const struct drv *d, int mask,
    drv_loader_fn load, void *ctx, struct hash *out)
{
	struct hm_ctx c;
	int r;

	hm_init(&c, storedir, load, ctx);
	r = hm(&c, d, mask, 0, out);
	hm_free(&c);
	return r;
}

int
drv_modulo_text(const char *storedir, const struct drv *d, int mask,
    drv_loader_fn load, void *ctx, struct buf *out)
{
	struct hm_ctx c;
	int r;

	if (drv_is_fixed(d)) {
		const struct drv_output *o = &d->outputs[0];

		buf_printf(out, "fixed:out:%s:%s:%s", o->hash_algo, o->hash,
		    o->path);
		return 0;
	}
	hm_init(&c, storedir, load, ctx);
	r = hm_text(&c, d, mask, 0, out);
	hm_free(&c);
	return r;
}

/* ------------------------------------------------------------------ */
/* Output paths */

/* "r:sha256" -> recursive = 1, algo sha256. */
static int
parse_output_algo(const char *s, int *recursive, enum hash_algo *algo)
{
	*recursive = strncmp(s, "r:", 2) == 0;
	return hash_algo_parse(*recursive ? s + 2 : s, algo);
}

static char *
fixed_output_path(const char *storedir, const struct drv *d,
    const char *name)
{
	const struct drv_output *o = &d->outputs[0];
	enum hash_algo algo;
	struct hash h;
	int recursive;

	if (parse_output_algo(o->hash_algo, &recursive, &algo) < 0 ||
	    hash_parse(o->hash, 1, algo, &h) < 0) {
		frx_preferr("%s: output out", name);
		return NULL;
	}
	return store_make_fixed_path(storedir, name, recursive, &h, NULL, 0);
}

static char *
output_path(const char *storedir, const char *name, const char *output,
    const struct hash *hmask)
{
	char *type, *outname, *path;

	type = xasprintf("output:%s", output);
	if (strcmp(output, "out") == 0)
		outname = xstrdup(name);
	else
		outname = xasprintf("%s-%s", name, output);
	path = store_make_path(storedir, type, hmask, outname);
	free(outname);
	free(type);
	return path;
}

/*
 * The output paths d implies, one per output in d's order, as a strv.
 */
static int
expected_outputs(const char *storedir, const struct drv *d,
    drv_loader_fn load, void *ctx, struct strv *paths)
{
	const char *name = drv_get_env(d, "name");
	struct hash hmask;
	char *p;
	size_t i;

	if (name == NULL)
		return frx_seterr("derivation: no \"name\" in the environment");
	if (store_check_name(name) < 0)
		return -1;
	if (drv_is_fixed(d)) {
		p = fixed_output_path(storedir, d, name);
		if (p == NULL)
			return -1;
		strv_addn(paths, p);
		return 0;
	}
	for (i = 0; i < d->noutputs; i++)
		if (d->outputs[i].hash_algo[0] != '\0')
			return frx_seterr("%s: output %s: content-addressed "
			    "outputs are not supported", name,
			    d->outputs[i].name);
	if (drv_hash_modulo(storedir, d, 1, load, ctx, &hmask) < 0)
		return frx_preferr("%s", name);
	for (i = 0; i < d->noutputs; i++)
		strv_addn(paths, output_path(storedir, name,
		    d->outputs[i].name, &hmask));
	return 0;
}

int
drv_fill_outputs(const char *storedir, struct drv *d,
    drv_loader_fn load, void *ctx)
{
	struct strv paths = STRV_INIT;
	size_t i;

	for (i = 0; i < d->noutputs; i++) {
		free(d->outputs[i].path);
		d->outputs[i].path = xstrdup("");
		drv_set_env(d, d->outputs[i].name, "");
	}
	drv_sort(d);
	if (expected_outputs(storedir, d, load, ctx, &paths) < 0) {
		strv_free(&paths);
		return -1;
	}
	for (i = 0; i < d->noutputs; i++) {
		free(d->outputs[i].path);
		d->outputs[i].path = xstrdup(paths.v[i]);
		drv_set_env(d, d->outputs[i].name, paths.v[i]);
	}
	strv_free(&paths);
	return 0;
}

int
drv_check_outputs(const char *storedir, const struct drv *d,
    drv_loader_fn load, void *ctx)
{
	struct strv paths = STRV_INIT;
	const char *name = drv_get_env(d, "name"), *v;
	const struct drv_output *o;
	size_t i;
	int r = 0;

	if (d->noutputs == 0)
		return frx_seterr("derivation has no outputs");
	if (expected_outputs(storedir, d, load, ctx, &paths) < 0) {
		strv_free(&paths);
		return -1;
	}
	for (i = 0; r == 0 && i < d->noutputs; i++) {
		o = &d->outputs[i];
		v = drv_get_env(d, o->name);
		if (strcmp(o->path, paths.v[i]) != 0)
			r = frx_seterr("%s: output %s has path '%s', should "
			    "be '%s'", name, o->name, o->path, paths.v[i]);
		else if (v == NULL || strcmp(v, paths.v[i]) != 0)
			r = frx_seterr("%s: environment variable %s should "
			    "be '%s'", name, o->name, paths.v[i]);
	}
	strv_free(&paths);
	return r;
}

char *
drv_store_path(const char *storedir, const struct drv *d, const char *name)
{
	struct strv refs = STRV_INIT;
	struct buf text = BUF_INIT;
	struct hash h;
	char *drvname, *path;
	size_t i;

	if (name == NULL)
		name = drv_get_env(d, "name");
	if (name == NULL) {
		frx_seterr("derivation has no name");
		return NULL;
	}
	for (i = 0; i < d->srcs.n; i++)
		strv_add(&refs, d->srcs.v[i]);
	for (i = 0; i < d->ninputs; i++)
		strv_add(&refs, d->inputs[i].path);
	drv_unparse(d, &text);
	hash_buf(HASH_SHA256, text.data, text.len, &h);
	drvname = xasprintf("%s.drv", name);
	path = store_make_text_path(storedir, drvname, &h, &refs);
	free(drvname);
	buf_free(&text);
	strv_free(&refs);
	return path;
}

int
drv_load_file(void *ctx, const char *drvpath, struct drv *d)
{
	struct buf b = BUF_INIT;
	int r;

	(void)ctx;
	if (read_file(drvpath, &b) < 0)
		return -1;
	r = drv_parse(b.data, b.len, d);
	buf_free(&b);
	if (r < 0)
		return frx_preferr("%s", drvpath);
	return 0;
}
