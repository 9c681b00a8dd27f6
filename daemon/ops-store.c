/*
 * ops-store.c: the worker-protocol operations that move whole store
 * objects or look at the store as a whole: AddToStoreNar,
 * AddMultipleToStore, ExportPath, VerifyStore, FindRoots, CollectGarbage
 * (refused) and BuildPathsWithResults.
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

/* A content address (PROTOCOL.md section 10.4), taken apart. */
struct ca {
	int text;
	int recursive;
	enum hash_algo algo;
	struct hash hash;
};

static int
parse_ca(const char *s, struct ca *ca)
{
	const char *rest, *colon;
	char *algo;
	int r;

	memset(ca, 0, sizeof(*ca));
	if (!strncmp(s, "text:", 5)) {
		ca->text = 1;
		rest = s + 5;
	} else if (!strncmp(s, "fixed:", 6)) {
		rest = s + 6;
		if (!strncmp(rest, "r:", 2)) {
			ca->recursive = 1;
			rest += 2;
		}
	} else {
		return frx_seterr("unknown content address '%s'", s);
	}
	colon = strchr(rest, ':');
	if (!colon)
		return frx_seterr("malformed content address '%s'", s);
	algo = xstrndup(rest, (size_t)(colon - rest));
	r = hash_algo_parse(algo, &ca->algo);
	free(algo);
	if (r < 0 || hash_parse(colon + 1, 1, ca->algo, &ca->hash) < 0)
		return frx_preferr("content address '%s'", s);
	if (ca->text && ca->algo != HASH_SHA256)
		return frx_seterr("content address '%s': text needs sha256", s);
	return 0;
}

/* The path an upload's content address implies, or NULL. */
static char *
ca_path(const char *s, const char *name, const struct strv *refs,
    const char *self)
{
	struct strv others = STRV_INIT;
	struct ca ca;
	char *path = NULL;
	int selfref = 0;
	size_t i;

	if (parse_ca(s, &ca) < 0)
		return NULL;
	for (i = 0; i < refs->n; i++) {
		if (!strcmp(refs->v[i], self))
			selfref = 1;
		else
			strv_add(&others, refs->v[i]);
	}
	if (ca.text && !selfref)
		path = store_make_text_path(cfg.storedir, name, &ca.hash,
		    &others);
	else if (!ca.text && ((others.n == 0 && !selfref) ||
	    (ca.recursive && ca.algo == HASH_SHA256)))
		path = store_make_fixed_path(cfg.storedir, name, ca.recursive,
		    &ca.hash, &others, selfref);
	else
		frx_seterr("content address '%s' does not allow these "
		    "references", s);
	strv_free(&others);
	return path;
}

/*
 * An upload's content must have the hash its content address claims:
 * the address is what lets an untrusted client add a path at all, so
 * without this check anyone could plant any bytes at, say, the path of
 * a source tarball that a later build takes as already fetched.
 * XXX: Nix hashes an object that refers to itself with its self-references
 * blanked out (content-addressed derivations); such uploads fail here.
 */
static int
check_ca_content(const char *path, const char *s, const char *tmp,
    const struct hash *nar_sha256)
{
	struct ca ca;
	struct hash got;
	struct stat st;
	char *w, *g;

	if (parse_ca(s, &ca) < 0)
		return frx_preferr("cannot add '%s'", path);
	/* A text path is a plain file: AddTextToStore of the same text
	 * must not find an executable there. */
	if (ca.text && (lstat(tmp, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 0111)))
		return frx_seterr("cannot add '%s': a text content address "
		    "needs a regular, non-executable file", path);
	if (ca.recursive && ca.algo == HASH_SHA256)
		got = *nar_sha256;	/* already computed: no second pass */
	else if (content_hash(tmp, ca.recursive, ca.algo, &got) < 0)
		return frx_preferr("cannot add '%s': content address '%s'",
		    path, s);
	if (got.len == ca.hash.len && !memcmp(got.d, ca.hash.d, got.len))
		return 0;
	w = hash_typed_base32(&ca.hash);
	g = hash_typed_base32(&got);
	frx_seterr("cannot add '%s': its content does not match its "
	    "content address: specified %s, got %s", path, w, g);
	free(w);
	free(g);
	return -1;
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

/*
 * Register the upload restored at tmp (by nar_restore_store, so already
 * canonical), whose NAR had hash got and size bytes as it came.
 */
static int
store_nar_upload(struct session *s, struct nar_upload *u, const char *tmp,
    const struct hash *gotp, uint64_t size)
{
	struct path_info pi;
	struct hash want, got = *gotp;
	char *srcs[1];
	size_t i;
	int lock = -1, r = -1, v;

	memset(&pi, 0, sizeof(pi));
	if (hash_parse(u->hash, 1, HASH_SHA256, &want) < 0)
		return frx_preferr("%s: NAR hash", u->path);
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
	if (*u->ca && check_ca_content(u->path, u->ca, tmp, &got) < 0)
		goto out;
	if (store_path_is_drv(u->path) && check_drv_file(s, u->path, tmp) < 0)
		goto out;
	pi.path = xstrdup(u->path);
	/* Only a trusted client may say which derivation made a path. */
	pi.deriver = *u->deriver && s->trusted ? xstrdup(u->deriver) : NULL;
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
	struct hash got;
	uint64_t size;
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
		char *msg = bad ? xasprintf("%s: invalid store path in the "
		    "upload", u.path) : xstrdup(frx_errmsg());

		r = frame_drain(&fr) < 0 ? ARGS_FAILED : -1;
		frx_seterr("%s", msg);
		free(msg);
		goto out;
	}
	tmp = store_tmp_name();
	if (nar_restore_store(frame_read, &fr, tmp, &got,
	    &size) < 0) {
		char *msg = xstrdup(without_tmp_name(frx_errmsg(), tmp));

		r = s->conn.failed || frame_drain(&fr) < 0 ? ARGS_FAILED : -1;
		frx_seterr("%s: malformed NAR: %s", u.path, msg);
		free(msg);
		goto out;
	}
	if (frame_drain(&fr) < 0) {
		r = ARGS_FAILED;
		goto out;
	}
	r = store_nar_upload(s, &u, tmp, &got, size);
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

/*
 * AddMultipleToStore (op 44, `nix copy' into the daemon): one framed
 * stream holding a count, then for each path its ValidPathInfo (with the
 * path, 1.16 layout) directly followed by its NAR.  The readers below
 * take wire items out of the frames.
 */
static int
fr_u64(struct frame_reader *fr, uint64_t *v)
{
	unsigned char b[8];
	int i;

	if (frame_read(fr, b, sizeof(b)) < 0)
		return -1;
	*v = 0;
	for (i = 7; i >= 0; i--)
		*v = *v << 8 | b[i];
	return 0;
}

static int
fr_string(struct frame_reader *fr, size_t max, char **s)
{
	static const unsigned char zero[8];
	unsigned char pad[8];
	uint64_t n;
	size_t npad;

	*s = NULL;
	if (fr_u64(fr, &n) < 0)
		return -1;
	if (n > max)
		return frx_seterr("protocol: a string of %llu bytes in the "
		    "upload (limit %zu)", (unsigned long long)n, max);
	*s = xmalloc((size_t)n + 1);
	npad = (8 - n % 8) % 8;
	if (frame_read(fr, *s, (size_t)n) < 0 ||
	    (npad && frame_read(fr, pad, npad) < 0))
		goto fail;
	(*s)[n] = '\0';
	if (memchr(*s, '\0', (size_t)n) || memcmp(pad, zero, npad) != 0) {
		frx_seterr("protocol: malformed string in the upload");
		goto fail;
	}
	return 0;
fail:
	free(*s);
	*s = NULL;
	return -1;
}

static int
fr_strings(struct frame_reader *fr, size_t max, struct strv *out)
{
	uint64_t n, i;
	char *str;

	if (fr_u64(fr, &n) < 0)
		return -1;
	if (n > WIRE_LIST_MAX)
		return frx_seterr("protocol: a list of %llu items in the "
		    "upload", (unsigned long long)n);
	for (i = 0; i < n; i++) {
		if (fr_string(fr, max, &str) < 0)
			return -1;
		strv_addn(out, str);
	}
	return 0;
}

/* A ValidPathInfo with its path, from the stream; -1 on a bad one. */
static int
fr_path_info(struct frame_reader *fr, struct nar_upload *u)
{
	size_t i;

	if (fr_string(fr, 4096, &u->path) < 0 ||
	    fr_string(fr, 4096, &u->deriver) < 0 ||
	    fr_string(fr, 1024, &u->hash) < 0 ||
	    fr_strings(fr, 4096, &u->refs) < 0 ||
	    fr_u64(fr, &u->regtime) < 0 || fr_u64(fr, &u->size) < 0 ||
	    fr_u64(fr, &u->ultimate) < 0 ||
	    fr_strings(fr, 65536, &u->sigs) < 0 ||
	    fr_string(fr, 4096, &u->ca) < 0)
		return -1;
	if (store_check_path(cfg.storedir, u->path) < 0 ||
	    (*u->deriver && store_check_path(cfg.storedir, u->deriver) < 0))
		return frx_preferr("invalid path in the upload");
	for (i = 0; i < u->refs.n; i++)
		if (store_check_path(cfg.storedir, u->refs.v[i]) < 0)
			return frx_preferr("%s: invalid reference", u->path);
	return 0;
}

/* Receive and add one path of an AddMultipleToStore stream. */
static int
add_one_from_stream(struct session *s, struct frame_reader *fr)
{
	struct nar_upload u;
	struct hash got;
	uint64_t size;
	char *tmp = NULL;
	int r = -1;

	memset(&u, 0, sizeof(u));
	if (fr_path_info(fr, &u) < 0 || upload_allowed(s, &u) < 0)
		goto out;
	tmp = store_tmp_name();
	if (nar_restore_store(frame_read, fr, tmp, &got,
	    &size) < 0) {
		char *msg = xstrdup(without_tmp_name(frx_errmsg(), tmp));

		frx_seterr("%s: malformed NAR: %s", u.path, msg);
		free(msg);
		goto out;
	}
	r = store_nar_upload(s, &u, tmp, &got, size);
out:
	if (tmp) {
		(void)remove_tree(tmp);
		free(tmp);
	}
	nar_upload_free(&u);
	return r;
}

int
op_add_multiple_to_store(struct session *s)
{
	struct frame_reader fr;
	uint64_t repair, nocheck, n, i;
	char *msg;
	int r;

	if (wire_read_u64(&s->conn, &repair) < 0 ||
	    wire_read_u64(&s->conn, &nocheck) < 0)
		return ARGS_FAILED;
	/* The client streams the paths while it reads our messages. */
	work_start(s);
	frame_reader_init(&fr, &s->conn);
	if (fr_u64(&fr, &n) == 0) {
		for (i = 0; i < n; i++)
			if (add_one_from_stream(s, &fr) < 0)
				break;
		if (i == n)
			return frame_drain(&fr) < 0 ? ARGS_FAILED :
			    work_done(s);
	}
	/* Skip the rest of the stream so that the session can go on. */
	msg = xstrdup(frx_errmsg());
	r = s->conn.failed || frame_drain(&fr) < 0 ? ARGS_FAILED : -1;
	frx_seterr("%s", msg);
	free(msg);
	return r;
}

/*
 * ExportPath (op 16, Guix and old Nix clients): the path's NAR followed by
 * the export trailer (magic, path, references, deriver, signature flag),
 * sent to the client's sink in STDERR_WRITE messages; then the reply 1.
 * frx holds no signing key, so only unsigned exports are possible.
 */
#define EXPORT_MAGIC 0x4558494eULL
#define EXPORT_CHUNK 65536

struct export_sink {
	struct conn *c;
	struct buf b;
};

static int
export_flush(struct export_sink *e)
{
	int r = 0;

	if (e->b.len > 0)
		r = wire_write_u64(e->c, STDERR_WRITE) < 0 ||
		    wire_write_string(e->c, e->b.data, e->b.len) < 0 ? -1 : 0;
	buf_reset(&e->b);
	return r;
}

static int
export_write(void *ctx, const void *p, size_t n)
{
	struct export_sink *e = ctx;

	buf_add(&e->b, p, n);
	return e->b.len >= EXPORT_CHUNK ? export_flush(e) : 0;
}

static int
export_u64(struct export_sink *e, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return export_write(e, b, sizeof(b));
}

static int
export_string(struct export_sink *e, const char *str)
{
	static const char zero[8];
	size_t n = strlen(str);

	if (export_u64(e, n) < 0 || export_write(e, str, n) < 0)
		return -1;
	return export_write(e, zero, (8 - n % 8) % 8);
}

static int
export_trailer(struct export_sink *e, const struct path_info *pi)
{
	size_t i;

	if (export_u64(e, EXPORT_MAGIC) < 0 ||
	    export_string(e, pi->path) < 0 ||
	    export_u64(e, pi->refs.n) < 0)
		return -1;
	for (i = 0; i < pi->refs.n; i++)
		if (export_string(e, pi->refs.v[i]) < 0)
			return -1;
	if (export_string(e, pi->deriver ? pi->deriver : "") < 0 ||
	    export_u64(e, 0) < 0)	/* not signed */
		return -1;
	return export_flush(e);
}

int
op_export_path(struct session *s)
{
	struct export_sink e = { &s->conn, BUF_INIT };
	struct path_info pi;
	uint64_t sign;
	char *path = NULL;
	int bad, r, v;

	if (read_path_arg(s, &path, &bad) < 0 ||
	    wire_read_u64(&s->conn, &sign) < 0) {
		free(path);
		return ARGS_FAILED;
	}
	work_start(s);
	if (bad) {
		(void)store_check_path(cfg.storedir, path);
		free(path);
		return -1;
	}
	memset(&pi, 0, sizeof(pi));
	r = -1;
	v = db_query_info(s->db, path, &pi);
	if (v == 0)
		frx_seterr("path '%s' is not valid", path);
	else if (v > 0 && sign)
		frx_seterr("cannot export '%s' signed: frx-daemon has no "
		    "signing key", path);
	else if (v > 0) {
		pi.path = pi.path ? pi.path : xstrdup(path);
		r = nar_dump(path, export_write, &e) < 0 ||
		    export_trailer(&e, &pi) < 0 ? -1 : 0;
	}
	if (r == 0)
		r = work_done(s) < 0 || wire_write_u64(&s->conn, 1) < 0 ?
		    -1 : 0;
	buf_free(&e.b);
	path_info_free(&pi);
	free(path);
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

/* Known operations that frx does not do: refused after their arguments
 * where it can read them, and the connection ends where it cannot. */
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
		break;
	default:
		r = 1;
	}
	free(p);
	strv_free(&v);
	frx_seterr("operation %llu (%s) is not supported by frx-daemon",
	    (unsigned long long)op, wire_op_name(op));
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

/* Describe how one DerivedPath went (build_items built them all). */
static void
build_one_result(struct session *s, const char *item,
    const struct build_outcome *o, struct build_result *br)
{
	char *bang = strchr(item, '!');
	char *drv = bang ? xstrndup(item, (size_t)(bang - item)) : NULL;
	int r = o->status == BUILD_FAILED ? -1 : 0;

	br->start = o->start;
	br->stop = o->stop;
	if (r == 0 && drv)
		r = realisations(s, drv, &br->keys, &br->values);
	if (r < 0) {
		br->status = 3;		/* PermanentFailure */
		br->err = xstrdup(o->status == BUILD_FAILED ? o->err :
		    frx_errmsg());
	} else {
		/* AlreadyValid, Built */
		br->status = o->status == BUILD_VALID || !drv ? 2 : 0;
		br->err = xstrdup("");
	}
	free(drv);
}

int
op_build_paths_with_results(struct session *s)
{
	struct strv items = STRV_INIT;
	struct build_result *res;
	struct build_outcome *outcomes;
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
	outcomes = xcalloc(items.n + 1, sizeof(*outcomes));
	(void)build_items(s, &items, outcomes);
	for (i = 0; i < items.n; i++)
		build_one_result(s, items.v[i], &outcomes[i], &res[i]);
	build_outcomes_free(outcomes, items.n);
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
