/*
 * lower.c: a package becomes two derivations and a builder script.
 *
 *   <file-name>.drv   fixed-output, builtin:download of the origin's URLs
 *   gnu-build.sh      the builder script, a text path without references
 *   <name>-<version>.drv   /bin/sh -e <script>, input-addressed
 *
 * Every path is computed here, without the daemon; lower_add() then adds
 * the files and insists that the daemon arrives at the same paths.  The
 * exact environment of both derivations is part of the contract with the
 * daemon (it runs builtin:download itself).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "../lib/hash.h"
#include "../lib/store.h"
#include "cli.h"

#define BUILDER_SCRIPT "frx/build/gnu-build.sh"
#define BUILDER_NAME "gnu-build.sh"

static void
set_field(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value);
}

static char *
join(const struct strv *s, char sep)
{
	struct buf b = BUF_INIT;
	size_t i;

	buf_adds(&b, "");
	for (i = 0; i < s->n; i++) {
		if (i > 0)
			buf_addc(&b, sep);
		buf_adds(&b, s->v[i]);
	}
	return buf_steal(&b);
}

/* "<machine>-<os>" as Nix spells it: x86_64-linux, x86_64-freebsd. */
static char *
host_system(void)
{
	struct utsname u;
	const char *m;
	char *sys, *p;

	if (uname(&u) < 0)
		return xstrdup("unknown-unknown");
	m = u.machine;
	if (strcmp(m, "amd64") == 0)
		m = "x86_64";
	else if (strcmp(m, "arm64") == 0)
		m = "aarch64";
	sys = xasprintf("%s-%s", m, u.sysname);
	for (p = sys; *p != '\0'; p++)
		*p = tolower((unsigned char)*p);
	return sys;
}

static int
lower_source(const char *storedir, const struct pkg *p, struct lowered *l)
{
	struct drv *d = &l->src;
	struct hash h;
	char *hex, *urls;

	if (store_check_name(p->src_name) < 0)
		return frx_preferr("package %s: source file-name", p->name);
	h.algo = HASH_SHA256;
	if (hash_parse(p->src_sha256, 1, HASH_SHA256, &h) < 0)
		return frx_preferr("package %s: source sha256", p->name);
	l->src_out = store_make_fixed_path(storedir, p->src_name, 0, &h, NULL,
	    0);
	if (l->src_out == NULL)
		return frx_preferr("package %s: source", p->name);
	hex = hash_hex(&h);
	urls = join(&p->src_urls, ' ');

	set_field(&d->platform, "builtin");
	set_field(&d->builder, "builtin:download");
	drv_add_output(d, "out", l->src_out, "sha256", hex);
	drv_set_env(d, "builder", "builtin:download");
	drv_set_env(d, "name", p->src_name);
	drv_set_env(d, "out", l->src_out);
	drv_set_env(d, "outputHash", hex);
	drv_set_env(d, "outputHashAlgo", "sha256");
	drv_set_env(d, "outputHashMode", "flat");
	drv_set_env(d, "preferLocalBuild", "1");
	drv_set_env(d, "system", "builtin");
	drv_set_env(d, "url", urls);
	drv_sort(d);
	free(hex);
	free(urls);

	l->src_drv_name = xasprintf("%s.drv", p->src_name);
	drv_unparse(d, &l->src_aterm);
	l->src_drv = drv_store_path(storedir, d, p->src_name);
	if (l->src_drv == NULL)
		return frx_preferr("%s", l->src_drv_name);
	return 0;
}

static int
lower_script(const char *storedir, const char *datadir, const struct pkg *p,
    struct lowered *l)
{
	char *file = xasprintf("%s/%s", datadir, BUILDER_SCRIPT);
	struct strv norefs = STRV_INIT;
	struct hash h;
	int r = 0;

	if (!strcmp(p->build_system, "trivial")) {
		/* The package's own script, named after the package. */
		buf_adds(&l->script, p->builder);
		l->script_name = xasprintf("%s-builder.sh", p->name);
		if (store_check_name(l->script_name) < 0)
			r = frx_preferr("package %s", p->name);
	} else {
		r = read_file(file, &l->script);
		l->script_name = xstrdup(BUILDER_NAME);
	}
	free(file);
	if (r < 0)
		return -1;
	hash_buf(HASH_SHA256, l->script.data, l->script.len, &h);
	l->script_path = store_make_text_path(storedir, l->script_name, &h,
	    &norefs);
	return l->script_path != NULL ? 0 : -1;
}

/* Input derivations are the source, held in memory; anything else would
 * come from the store. */
static int
lower_loader(void *ctx, const char *drvpath, struct drv *d)
{
	struct lowered *l = ctx;

	if (l->src_drv != NULL && strcmp(drvpath, l->src_drv) == 0)
		return drv_parse(l->src_aterm.data, l->src_aterm.len, d);
	return drv_load_file(NULL, drvpath, d);
}

static void
build_env(struct drv *d, const struct pkg *p, const char *fullname,
    const char *src)
{
	char *cflags = join(&p->configure_flags, '\n');
	char *mflags = join(&p->make_flags, '\n');

	drv_set_env(d, "PATH", "/usr/bin:/bin");
	drv_set_env(d, "builder", "/bin/sh");
	drv_set_env(d, "name", fullname);
	drv_set_env(d, "out", "");
	drv_set_env(d, "outputs", "out");
	if (src != NULL)
		drv_set_env(d, "src", src);
	drv_set_env(d, "system", d->platform);
	if (!strcmp(p->build_system, "gnu")) {
		drv_set_env(d, "configureFlags", cflags);
		drv_set_env(d, "doCheck", p->tests ? "1" : "");
		drv_set_env(d, "makeFlags", mflags);
		drv_set_env(d, "testTarget", p->test_target);
	}
	free(cflags);
	free(mflags);
}

static int
lower_build(const char *storedir, const struct pkg *p, struct lowered *l)
{
	struct drv *d = &l->bld;
	char *fullname = xasprintf("%s-%s", p->name, p->version);

	if (store_check_name(fullname) < 0) {
		free(fullname);
		return frx_preferr("package %s", p->name);
	}
	free(d->platform);
	d->platform = host_system();
	set_field(&d->builder, "/bin/sh");
	strv_add(&d->args, "-e");
	strv_add(&d->args, l->script_path);
	drv_add_src(d, l->script_path);
	if (l->src_drv != NULL)
		drv_add_input(d, l->src_drv, "out");
	drv_add_output(d, "out", "", "", "");
	build_env(d, p, fullname, l->src_out);
	drv_sort(d);
	l->bld_drv_name = xasprintf("%s.drv", fullname);
	free(fullname);

	if (drv_fill_outputs(storedir, d, lower_loader, l) < 0)
		return frx_preferr("%s", l->bld_drv_name);
	l->out = xstrdup(drv_get_env(d, "out"));
	drv_unparse(d, &l->bld_aterm);
	/* drv_store_path appends ".drv" to the name in env "name". */
	l->bld_drv = drv_store_path(storedir, d, NULL);
	return l->bld_drv != NULL ? 0 : frx_preferr("%s", l->bld_drv_name);
}

int
lower_package(const char *storedir, const char *datadir,
    const struct pkg *p, struct lowered *l)
{
	memset(l, 0, sizeof(*l));
	l->storedir = storedir;
	drv_init(&l->src);
	drv_init(&l->bld);
	if (p->src_name != NULL && lower_source(storedir, p, l) < 0)
		return -1;
	if (lower_script(storedir, datadir, p, l) < 0)
		return -1;
	return lower_build(storedir, p, l);
}

static int
add_text(struct client *cl, const char *name, const struct buf *text,
    const struct strv *refs, const char *expect)
{
	char *path = NULL;

	if (client_add_text(cl, name, text->data, text->len, refs, &path) < 0)
		return frx_preferr("adding %s", name);
	if (strcmp(path, expect) != 0) {
		frx_seterr("%s: the daemon stored it as %s, expected %s",
		    name, path, expect);
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

int
lower_add(struct client *cl, struct lowered *l)
{
	struct strv refs = STRV_INIT;
	size_t i;
	int r;

	if (l->src_drv != NULL && add_text(cl, l->src_drv_name,
	    &l->src_aterm, &refs, l->src_drv) < 0)
		return -1;
	if (add_text(cl, l->script_name, &l->script, &refs,
	    l->script_path) < 0)
		return -1;
	for (i = 0; i < l->bld.srcs.n; i++)
		strv_add(&refs, l->bld.srcs.v[i]);
	for (i = 0; i < l->bld.ninputs; i++)
		strv_add(&refs, l->bld.inputs[i].path);
	strv_sort(&refs);
	strv_uniq(&refs);
	r = add_text(cl, l->bld_drv_name, &l->bld_aterm, &refs, l->bld_drv);
	strv_free(&refs);
	return r;
}

void
lowered_free(struct lowered *l)
{
	drv_free(&l->src);
	free(l->src_drv_name);
	buf_free(&l->src_aterm);
	free(l->src_drv);
	free(l->src_out);
	free(l->script_name);
	buf_free(&l->script);
	free(l->script_path);
	drv_free(&l->bld);
	free(l->bld_drv_name);
	buf_free(&l->bld_aterm);
	free(l->bld_drv);
	free(l->out);
	memset(l, 0, sizeof(*l));
}
