/*
 * eval.c: Guile.  A package file is evaluated by (frx ui) from the data
 * directory; what comes back is an alist of strings, string lists and
 * booleans, copied here into a struct pkg so that nothing past this file
 * touches Scheme values.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libguile.h>

#include "cli.h"

static int guile_ready;

static SCM
field(SCM alist, const char *key)
{
	return scm_assq_ref(alist, scm_from_utf8_symbol(key));
}

/* A copy in malloc'd memory that the rest of frx can free(). */
static char *
string_copy(SCM s)
{
	char *g, *c;

	if (!scm_is_string(s))
		return NULL;
	g = scm_to_utf8_string(s);
	c = xstrdup(g);
	free(g);
	return c;
}

static char *
string_field(SCM alist, const char *key)
{
	return string_copy(field(alist, key));
}

static void
strings_field(SCM alist, const char *key, struct strv *out)
{
	SCM l;

	for (l = field(alist, key); scm_is_pair(l); l = scm_cdr(l)) {
		char *s = string_copy(scm_car(l));

		if (s != NULL)
			strv_addn(out, s);
	}
}

static int
alist_to_pkg(SCM a, struct pkg *p)
{
	SCM src = field(a, "source");

	memset(p, 0, sizeof(*p));
	p->name = string_field(a, "name");
	p->version = string_field(a, "version");
	p->build_system = string_field(a, "build-system");
	p->builder = string_field(a, "builder");
	if (scm_is_true(src)) {
		p->src_name = string_field(src, "file-name");
		strings_field(src, "uris", &p->src_urls);
		p->src_sha256 = string_field(src, "sha256");
	}
	strings_field(a, "configure-flags", &p->configure_flags);
	strings_field(a, "make-flags", &p->make_flags);
	p->tests = scm_is_true(field(a, "tests?"));
	p->test_target = string_field(a, "test-target");
	if (p->name == NULL || p->version == NULL ||
	    p->build_system == NULL || p->test_target == NULL ||
	    (scm_is_true(src) && (p->src_name == NULL ||
	    p->src_sha256 == NULL || p->src_urls.n == 0))) {
		pkg_free(p);
		return frx_seterr("incomplete lowering data from (frx ui)");
	}
	return 0;
}

static void
guile_start(const char *datadir)
{
	SCM path;

	if (guile_ready)
		return;
	/* Compiling into ~/.cache is not wanted from a build tool. */
	setenv("GUILE_AUTO_COMPILE", "0", 1);
	scm_init_guile();
	/* Files a package opens itself are UTF-8 too, not the locale's. */
	scm_c_eval_string("(fluid-set! %default-port-encoding \"UTF-8\")");
	path = scm_c_lookup("%load-path");
	scm_variable_set_x(path, scm_cons(scm_from_locale_string(datadir),
	    scm_variable_ref(path)));
	guile_ready = 1;
}

struct load_call {
	const char *file;
	SCM result;
};

static SCM
load_body(void *data)
{
	struct load_call *lc = data;
	SCM proc = scm_c_public_ref("frx ui", "load-package-file");

	lc->result = scm_call_1(proc, scm_from_locale_string(lc->file));
	return SCM_BOOL_T;
}

static SCM
load_handler(void *data, SCM key, SCM args)
{
	struct load_call *lc = data;
	SCM port = scm_open_output_string();

	scm_print_exception(port, SCM_BOOL_F, key, args);
	lc->result = scm_cons(scm_from_utf8_symbol("error"),
	    scm_get_output_string(port));
	return SCM_BOOL_F;
}

int
eval_package_file(const char *file, struct pkg *p)
{
	struct load_call lc = { file, SCM_BOOL_F };
	char *ui = xasprintf("%s/frx/ui.scm", cli.datadir);
	char *msg;
	int r;

	r = access(ui, R_OK);
	free(ui);
	if (r < 0)
		return frx_seterr_errno("%s/frx/ui.scm: cannot read "
		    "(set FRX_DATADIR?)", cli.datadir);
	if (access(file, R_OK) < 0)
		return frx_seterr_errno("%s", file);
	guile_start(cli.datadir);
	scm_c_catch(SCM_BOOL_T, load_body, &lc, load_handler, &lc, NULL, NULL);
	if (scm_is_pair(lc.result) &&
	    scm_is_eq(scm_car(lc.result), scm_from_utf8_symbol("ok")))
		return alist_to_pkg(scm_cdr(lc.result), p);
	msg = scm_is_pair(lc.result) ? string_copy(scm_cdr(lc.result)) : NULL;
	if (msg != NULL)
		msg[strcspn(msg, "\n")] = '\0';	/* one line */
	frx_seterr("%s", msg != NULL && *msg != '\0' ? msg :
	    "evaluation failed");
	free(msg);
	return -1;
}

void
pkg_free(struct pkg *p)
{
	free(p->name);
	free(p->version);
	free(p->build_system);
	free(p->builder);
	free(p->src_name);
	strv_free(&p->src_urls);
	free(p->src_sha256);
	strv_free(&p->configure_flags);
	strv_free(&p->make_flags);
	free(p->test_target);
	memset(p, 0, sizeof(*p));
}
