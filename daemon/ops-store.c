/*
 * ops-store.c: the worker-protocol operations that move whole store
 * objects or look at the store as a whole: AddToStoreNar, VerifyStore,
 * FindRoots, CollectGarbage (refused) and BuildPathsWithResults.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/nar.h"
#include "../lib/store.h"
#include "session.h"

/* The path an upload's content address implies, or NULL. */
static char *
ca_path(const char *ca, const char *name, const struct strv *refs,
    const char *self)
{
	struct strv others = STRV_INIT;
	struct hash h;
	enum hash_algo a;
	const char *rest, *colon;
	char *algo, *path = NULL;
	int recursive = 0, text = 0, selfref = 0;
	size_t i;

	if (!strncmp(ca, "text:", 5)) {
		text = 1;
		rest = ca + 5;
	} else if (!strncmp(ca, "fixed:", 6)) {
		rest = ca + 6;
		if (!strncmp(rest, "r:", 2)) {
			recursive = 1;
			rest += 2;
		}
	} else {
		frx_seterr("unknown content address '%s'", ca);
		return NULL;
	}
	colon = strchr(rest, ':');
	if (!colon) {
		frx_seterr("malformed content address '%s'", ca);
		return NULL;
	}
	algo = xstrndup(rest, (size_t)(colon - rest));
	if (hash_algo_parse(algo, &a) < 0 || hash_parse(colon + 1, 1, a,
	    &h) < 0) {
		free(algo);
		return NULL;
	}
	free(algo);
	for (i = 0; i < refs->n; i++) {
		if (!strcmp(refs->v[i], self))
			selfref = 1;
		else
			strv_add(&others, refs->v[i]);
	}
	if (text && !selfref)
		path = store_make_text_path(cfg.storedir, name, &h, &others);
	else if (!text && ((others.n == 0 && !selfref) ||
	    (recursive && a == HASH_SHA256)))
		path = store_make_fixed_path(cfg.storedir, name, recursive, &h,
		    &others, selfref);
	else
		frx_seterr("content address '%s' does not allow these "
		    "references", ca);
	strv_free(&others);
	return path;
}

struct nar_upload {
	char *path, *deriver, *hash, *ca;
	struct strv refs, sigs;
	uint64_t regtime, size, ultimate, repair, nocheck;
};

static void
nar_upload_free(struct nar_upload *u)
{
	free(u->path);
	free(u->deriver);
	free(u->hash);
	free(u->ca);
	strv_free(&u->refs);
	strv_free(&u->sigs);
}

static int
read_nar_upload(struct session *s, struct nar_upload *u, int *bad)
{
	struct conn *c = &s->conn;
	int badrefs;

	if (read_path_arg(s, &u->path, bad) < 0 ||
	    wire_read_cstring(c, 4096, &u->deriver) < 0 ||
	    wire_read_cstring(c, 1024, &u->hash) < 0 ||
	    read_paths_checked(s, &u->refs, &badrefs) < 0 ||
	    wire_read_u64(c, &u->regtime) < 0 ||
	    wire_read_u64(c, &u->size) < 0 ||
	    wire_read_u64(c, &u->ultimate) < 0 ||
	    wire_read_strings(c, &u->sigs) < 0 ||
	    wire_read_cstring(c, 4096, &u->ca) < 0 ||
	    wire_read_u64(c, &u->repair) < 0 ||
	    wire_read_u64(c, &u->nocheck) < 0)
		return ARGS_FAILED;
	*bad = *bad || badrefs ||
	    (*u->deriver && store_check_path(cfg.storedir, u->deriver) < 0);
	return 0;
}

/* May this client add this path?  Trusted clients may add anything; the
 * others only what the content address proves. */
static int
upload_allowed(struct session *s, const struct nar_upload *u)
{
	const char *name = store_path_name(cfg.storedir, u->path);
	char *want;
	int r;

	if (s->trusted)
		return 0;
	if (!*u->ca)
		return frx_seterr("cannot add path '%s': it has no content "
		    "address and the client is not trusted", u->path);
	want = ca_path(u->ca, name, &u->refs, u->path);
	if (!want)
		return frx_preferr("cannot add path '%s'", u->path);
	r = strcmp(want, u->path) ? frx_seterr("cannot add path '%s': its "
	    "content address gives '%s'", u->path, want) : 0;
	free(want);
	return r;
}

static int
store_nar_upload(struct session *s, struct nar_upload *u, const char *tmp)
{
	struct path_info pi;
	struct hash want, got;
	uint64_t size;
	char *srcs[1];
	size_t i;
	int lock = -1, r = -1, v;

	memset(&pi, 0, sizeof(pi));
	if (hash_parse(u->hash, 1, HASH_SHA256, &want) < 0)
		return frx_preferr("%s: NAR hash", u->path);
	if (nar_hash_path(tmp, &got, &size) < 0)
		return -1;
	if (size != u->size || memcmp(got.d, want.d, want.len) != 0) {
		char *g = hash_typed_base32(&got), *w = hash_typed_base32(&want);

		frx_seterr("%s: the NAR does not match its announced hash and "
		    "size: announced %s (%llu bytes), got %s (%llu bytes)",
		    u->path, w, (unsigned long long)u->size, g,
		    (unsigned long long)size);
		free(g);
		free(w);
		return -1;
	}
	for (i = 0; i < u->refs.n; i++)
		if (strcmp(u->refs.v[i], u->path) != 0 &&
		    (v = db_is_valid(s->db, u->refs.v[i])) <= 0)
			return v < 0 ? -1 : frx_seterr("cannot add '%s': its "
			    "reference '%s' is not valid", u->path,
			    u->refs.v[i]);
	if ((lock = store_lock_path(u->path)) < 0)
		return -1;
	if ((v = db_is_valid(s->db, u->path)) != 0) {
		r = v < 0 ? -1 : 0;
		goto out;
	}
	if (canonicalise_tree(tmp) < 0)
		goto out;
	pi.path = xstrdup(u->path);
	pi.deriver = *u->deriver ? xstrdup(u->deriver) : NULL;
	pi.nar_hash = got;
	pi.nar_size = size;
	pi.registration_time = now_s();
	pi.ultimate = s->trusted && u->ultimate;
	pi.ca = *u->ca ? xstrdup(u->ca) : NULL;
	for (i = 0; i < u->refs.n; i++)
		strv_add(&pi.refs, u->refs.v[i]);
	strv_sort(&pi.refs);
	for (i = 0; i < u->sigs.n; i++)
		strv_add(&pi.sigs, u->sigs.v[i]);
	srcs[0] = (char *)tmp;
	r = store_add_objects(s->db, srcs, &pi, 1);
	if (r == 0)
		dlog("info", "imported %s", u->path);
out:
	store_unlock(lock);
	path_info_free(&pi);
	return r;
}

int
op_add_to_store_nar(struct session *s)
{
	struct nar_upload u;
	struct frame_reader fr;
	char *tmp = NULL;
	int bad = 0, r;

	memset(&u, 0, sizeof(u));
	if (read_nar_upload(s, &u, &bad) < 0) {
		nar_upload_free(&u);
		return ARGS_FAILED;
	}
	if (PROTO_MINOR(s->version) < 23) {
		nar_upload_free(&u);
		frx_seterr("AddToStoreNar below protocol 1.23 is not "
		    "supported by frx-daemon");
		return ARGS_FAILED;
	}
	work_start(s);
	frame_reader_init(&fr, &s->conn);
	if (bad || upload_allowed(s, &u) < 0) {
		char *msg = xstrdup(bad ? "invalid store path in the upload" :
		    frx_errmsg());

		r = frame_drain(&fr) < 0 ? ARGS_FAILED : -1;
		frx_seterr("%s", msg);
		free(msg);
		goto out;
	}
	tmp = store_tmp_name();
	if (nar_restore(frame_read, &fr, tmp, NULL, NULL) < 0) {
		char *msg = xstrdup(frx_errmsg());

		r = s->conn.failed || frame_drain(&fr) < 0 ? ARGS_FAILED : -1;
		frx_seterr("%s: malformed NAR: %s", u.path, msg);
		free(msg);
		goto out;
	}
	if (frame_drain(&fr) < 0) {
		r = ARGS_FAILED;
		goto out;
	}
	r = store_nar_upload(s, &u, tmp);
	if (r == 0)
		r = work_done(s);
out:
	if (tmp) {
		(void)remove_tree(tmp);
		free(tmp);
	}
	nar_upload_free(&u);
	return r;
}

/* Check one valid path; 1 if it has an error (reported as a log line). */
static int
verify_path(struct session *s, const char *path, int contents)
{
	struct path_info pi;
	struct hash got;
	uint64_t size;
	struct stat st;
	int bad = 0;

	if (lstat(path, &st) < 0) {
		session_log(s, "path '%s' disappeared, but it still has valid "
		    "metadata!", path);
		dlog("warning", "verify: %s is missing", path);
		return 1;
	}
	if (!contents)
		return 0;
	memset(&pi, 0, sizeof(pi));
	if (db_query_info(s->db, path, &pi) <= 0)
		return 1;
	if (nar_hash_path(path, &got, &size) < 0) {
		session_log(s, "path '%s' cannot be read: %s", path,
		    frx_errmsg());
		bad = 1;
	} else if (memcmp(got.d, pi.nar_hash.d, got.len) != 0 ||
	    size != pi.nar_size) {
		char *w = hash_typed_base32(&pi.nar_hash);
		char *g = hash_typed_base32(&got);

		session_log(s, "path '%s' was modified! expected hash '%s', "
		    "got '%s'", path, w, g);
		dlog("warning", "verify: %s was modified", path);
		free(w);
		free(g);
		bad = 1;
	}
	path_info_free(&pi);
	return bad;
}

int
op_verify_store(struct session *s)
{
	struct strv all = STRV_INIT;
	uint64_t contents, repair;
	size_t i;
	int errors = 0;

	if (wire_read_u64(&s->conn, &contents) < 0 ||
	    wire_read_u64(&s->conn, &repair) < 0)
		return ARGS_FAILED;
	work_start(s);
	if (repair)
		return frx_seterr("frx-daemon cannot repair store paths");
	session_log(s, "reading the store...");
	if (db_query_all_valid(s->db, &all) < 0)
		return -1;
	session_log(s, "checking path existence...");
	if (contents)
		session_log(s, "checking store hashes...");
	for (i = 0; i < all.n; i++)
		errors |= verify_path(s, all.v[i], contents != 0);
	strv_free(&all);
	if (work_done(s) < 0)
		return -1;
	return wire_write_u64(&s->conn, errors != 0);
}

int
op_find_roots(struct session *s)
{
	char *dir = xasprintf("%s/gcroots/auto", cfg.statedir), *link;
	char target[PATH_MAX], sub[PATH_MAX];
	struct strv links = STRV_INIT, targets = STRV_INIT;
	struct dirent *e;
	DIR *d;
	ssize_t n;
	size_t i;
	int r = -1;

	work_start(s);
	if ((d = opendir(dir))) {
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			link = xasprintf("%s/%s", dir, e->d_name);
			n = readlink(link, target, sizeof(target) - 1);
			free(link);
			if (n <= 0)
				continue;
			target[n] = '\0';
			/* The client's link, which points into the store. */
			n = readlink(target, sub, sizeof(sub) - 1);
			if (n <= 0)
				continue;
			sub[n] = '\0';
			if (store_check_path(cfg.storedir, sub) < 0)
				continue;
			strv_add(&links, target);
			strv_add(&targets, sub);
		}
		closedir(d);
	}
	if (work_done(s) < 0 || wire_write_u64(&s->conn, links.n) < 0)
		goto out;
	for (i = 0; i < links.n; i++)
		if (wire_write_cstring(&s->conn, links.v[i]) < 0 ||
		    wire_write_cstring(&s->conn, targets.v[i]) < 0)
			goto out;
	r = 0;
out:
	strv_free(&links);
	strv_free(&targets);
	free(dir);
	return r;
}

int
op_collect_garbage(struct session *s)
{
	struct strv paths = STRV_INIT;
	uint64_t action, ignore, max, obs;
	int bad, k;

	if (wire_read_u64(&s->conn, &action) < 0 ||
	    read_paths_checked(s, &paths, &bad) < 0 ||
	    wire_read_u64(&s->conn, &ignore) < 0 ||
	    wire_read_u64(&s->conn, &max) < 0)
		return ARGS_FAILED;
	for (k = 0; k < 3; k++)
		if (wire_read_u64(&s->conn, &obs) < 0)
			return ARGS_FAILED;
	strv_free(&paths);
	work_start(s);
	return frx_seterr("garbage collection is not implemented by "
	    "frx-daemon yet");
}

/* Operations whose arguments we can read but which frx does not do. */
int
op_unsupported_after_args(struct session *s, uint64_t op)
{
	struct strv v = STRV_INIT;
	char *p = NULL;
	int r = 0;

	switch (op) {
	case OP_ADD_SIGNATURES:
		r = wire_read_cstring(&s->conn, 4096, &p) < 0 ||
		    wire_read_strings(&s->conn, &v) < 0;
		break;
	case OP_OPTIMISE_STORE:
	case OP_IMPORT_PATHS:
	case OP_QUERY_FAILED_PATHS:
		break;
	default:
		r = 1;
	}
	free(p);
	strv_free(&v);
	frx_seterr("operation %llu is not supported by frx-daemon",
	    (unsigned long long)op);
	if (r)
		return ARGS_FAILED;
	work_start(s);
	return -1;
}

static int
write_build_result(struct session *s, const char *item, uint64_t status,
    const char *err, int64_t start, int64_t stop, const struct strv *keys,
    const struct strv *values)
{
	struct conn *c = &s->conn;
	size_t i;

	if (wire_write_cstring(c, item) < 0 || wire_write_u64(c, status) < 0 ||
	    wire_write_cstring(c, err) < 0 ||
	    wire_write_u64(c, status == 0) < 0 ||	/* times built */
	    wire_write_u64(c, 0) < 0 ||			/* non-deterministic */
	    wire_write_u64(c, (uint64_t)start) < 0 ||
	    wire_write_u64(c, (uint64_t)stop) < 0 ||
	    wire_write_u64(c, keys->n) < 0)
		return -1;
	for (i = 0; i < keys->n; i++)
		if (wire_write_cstring(c, keys->v[i]) < 0 ||
		    wire_write_cstring(c, values->v[i]) < 0)
			return -1;
	return 0;
}

/* The realisations of a built derivation, as the new CLI wants them. */
static int
realisations(struct session *s, const char *drvpath, struct strv *keys,
    struct strv *values)
{
	struct drv d;
	struct hash h;
	char *hex;
	size_t i;

	if (load_drv(s, drvpath, &d) < 0)
		return -1;
	if (drv_hash_modulo(cfg.storedir, &d, 1, load_drv_cb, s, &h) < 0) {
		drv_free(&d);
		return -1;
	}
	hex = hash_hex(&h);
	for (i = 0; i < d.noutputs; i++) {
		char *id = xasprintf("sha256:%s!%s", hex, d.outputs[i].name);
		const char *base = strrchr(d.outputs[i].path, '/');

		strv_addn(values, xasprintf("{\"dependentRealisations\":{},"
		    "\"id\":\"%s\",\"outPath\":\"%s\",\"signatures\":[]}", id,
		    base ? base + 1 : d.outputs[i].path));
		strv_addn(keys, id);
	}
	free(hex);
	drv_free(&d);
	return 0;
}

struct build_result {
	uint64_t status;
	char *err;
	int64_t start, stop;
	struct strv keys, values;
};

/* Build one DerivedPath and describe the outcome. */
static void
build_one_result(struct session *s, const char *item,
    struct build_result *br)
{
	char *bang = strchr(item, '!');
	char *drv = bang ? xstrndup(item, (size_t)(bang - item)) : NULL;
	struct drv d;
	int before = 0, r;

	br->start = now_s();
	if (drv && load_drv(s, drv, &d) == 0) {
		before = 1;
		for (size_t i = 0; i < d.noutputs; i++)
			if (db_is_valid(s->db, d.outputs[i].path) <= 0)
				before = 0;
		drv_free(&d);
	}
	if (drv)
		r = build_derivation(s, drv, NULL);
	else
		r = build_ensure_path(s, item);
	if (r == 0 && drv)
		r = realisations(s, drv, &br->keys, &br->values);
	br->stop = now_s();
	if (r < 0) {
		br->status = 3;		/* PermanentFailure */
		br->err = xstrdup(frx_errmsg());
	} else {
		br->status = before || !drv ? 2 : 0;	/* AlreadyValid, Built */
		br->err = xstrdup("");
	}
	free(drv);
}

int
op_build_paths_with_results(struct session *s)
{
	struct strv items = STRV_INIT;
	struct build_result *res;
	uint64_t mode;
	size_t i;
	int r = -1;

	if (wire_read_strings(&s->conn, &items) < 0 ||
	    wire_read_u64(&s->conn, &mode) < 0) {
		strv_free(&items);
		return ARGS_FAILED;
	}
	work_start(s);
	res = xcalloc(items.n + 1, sizeof(*res));
	if (mode != 0) {
		frx_seterr("build mode %llu (repair/check) is not supported "
		    "by frx-daemon", (unsigned long long)mode);
		goto out;
	}
	for (i = 0; i < items.n; i++)
		build_one_result(s, items.v[i], &res[i]);
	if (work_done(s) < 0 || wire_write_u64(&s->conn, items.n) < 0)
		goto out;
	for (i = 0; i < items.n; i++)
		if (write_build_result(s, items.v[i], res[i].status,
		    res[i].err, res[i].start, res[i].stop, &res[i].keys,
		    &res[i].values) < 0)
			goto out;
	r = 0;
out:
	for (i = 0; i < items.n; i++) {
		free(res[i].err);
		strv_free(&res[i].keys);
		strv_free(&res[i].values);
	}
	free(res);
	strv_free(&items);
	return r;
}
