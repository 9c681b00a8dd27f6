/*
 * session.c: one client connection: the handshake, the log channel and
 * the operations of the worker protocol (PROTOCOL.md sections 2-6).
 *
 * Every operation first reads all of its arguments, then opens the work
 * window (log lines may flow), does its work and closes the window with
 * STDERR_LAST and its reply, or with STDERR_ERROR.  An error while the
 * arguments are being read leaves the stream position unknown, so the
 * session ends after reporting it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/nar.h"
#include "../lib/store.h"
#include "daemon.h"
#include "peercred.h"
#include "session.h"

static unsigned tmpcounter;

int
work_start(struct session *s)
{
	s->in_work = 1;
	return 0;
}

void
session_log_raw(struct session *s, const char *line, size_t n)
{
	if (!s->in_work || s->conn.failed)
		return;
	if (wire_write_u64(&s->conn, STDERR_NEXT) < 0 ||
	    wire_write_string(&s->conn, line, n) < 0)
		return;
	(void)conn_flush(&s->conn);
}

void
session_log(struct session *s, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(msg) - 2)
		n = sizeof(msg) - 2;
	msg[n++] = '\n';
	session_log_raw(s, msg, (size_t)n);
}

int
work_done(struct session *s)
{
	s->in_work = 0;
	return wire_write_u64(&s->conn, STDERR_LAST);
}

static int
send_error(struct session *s, const char *msg, unsigned status)
{
	struct conn *c = &s->conn;

	s->in_work = 0;
	if (wire_write_u64(c, STDERR_ERROR) < 0)
		return -1;
	if (s->guix || PROTO_MINOR(s->version) < 26) {
		if (wire_write_cstring(c, msg) < 0)
			return -1;
		if (PROTO_MINOR(s->version) >= 8 &&
		    wire_write_u64(c, status) < 0)
			return -1;
		return conn_flush(c);
	}
	if (wire_write_cstring(c, "Error") < 0 || wire_write_u64(c, 0) < 0 ||
	    wire_write_cstring(c, "Error") < 0 ||
	    wire_write_cstring(c, msg) < 0 || wire_write_u64(c, 0) < 0 ||
	    wire_write_u64(c, 0) < 0)
		return -1;
	return conn_flush(c);
}

int
read_path(struct session *s, char **path)
{
	if (wire_read_cstring(&s->conn, 4096, path) < 0)
		return ARGS_FAILED;
	if (store_check_path(cfg.storedir, *path) < 0) {
		free(*path);
		*path = NULL;
		return -1;
	}
	return 0;
}

/* Read a path argument; an invalid path name is reported after the
 * arguments, keeping the connection. */
int
read_path_arg(struct session *s, char **path, int *bad)
{
	char *p;

	if (wire_read_cstring(&s->conn, 4096, &p) < 0)
		return ARGS_FAILED;
	*bad = store_check_path(cfg.storedir, p) < 0;
	*path = p;
	return 0;
}

int
read_paths_checked(struct session *s, struct strv *out, int *bad)
{
	size_t i;

	if (wire_read_strings(&s->conn, out) < 0)
		return ARGS_FAILED;
	*bad = 0;
	for (i = 0; i < out->n && !*bad; i++)
		if (store_check_path(cfg.storedir, out->v[i]) < 0)
			*bad = 1;
	return 0;
}

int
write_path_info(struct session *s, const struct path_info *pi)
{
	struct conn *c = &s->conn;
	char *hex = hash_hex(&pi->nar_hash);
	int r;

	r = wire_write_cstring(c, pi->deriver ? pi->deriver : "") < 0 ||
	    wire_write_cstring(c, hex) < 0 ||
	    wire_write_strings(c, &pi->refs) < 0 ||
	    wire_write_u64(c, (uint64_t)pi->registration_time) < 0 ||
	    wire_write_u64(c, pi->nar_size) < 0;
	free(hex);
	if (r)
		return -1;
	if (s->guix || PROTO_MINOR(s->version) < 16)
		return 0;
	if (wire_write_u64(c, pi->ultimate) < 0 ||
	    wire_write_strings(c, &pi->sigs) < 0 ||
	    wire_write_cstring(c, pi->ca ? pi->ca : "") < 0)
		return -1;
	return 0;
}

static int
op_is_valid_path(struct session *s)
{
	char *path;
	int bad, v;

	if (read_path_arg(s, &path, &bad) < 0)
		return ARGS_FAILED;
	work_start(s);
	/* A name outside the store is an error, as in Nix and Guix, not a
	 * mere "invalid": the client asked a question that has no answer. */
	if (bad) {
		(void)store_check_path(cfg.storedir, path);
		free(path);
		return -1;
	}
	v = db_is_valid(s->db, path);
	free(path);
	if (v < 0)
		return -1;
	return work_done(s) < 0 || wire_write_u64(&s->conn, v) < 0 ? -1 : 0;
}

static int
op_query_path_info(struct session *s)
{
	struct path_info pi;
	char *path;
	int v, r;

	if ((r = read_path(s, &path)) < 0)
		return r;
	work_start(s);
	r = -1;
	memset(&pi, 0, sizeof(pi));
	v = db_query_info(s->db, path, &pi);
	if (v < 0)
		goto out;
	if (v == 0 && (s->guix || PROTO_MINOR(s->version) < 17)) {
		frx_seterr("path '%s' is not valid", path);
		goto out;
	}
	if (work_done(s) < 0)
		goto out;
	if (!s->guix && PROTO_MINOR(s->version) >= 17 &&
	    wire_write_u64(&s->conn, v) < 0)
		goto out;
	r = v ? write_path_info(s, &pi) : 0;
out:
	path_info_free(&pi);
	free(path);
	return r;
}

/* Ops taking one valid path and answering with a path set. */
static int
op_path_set_query(struct session *s, uint64_t op)
{
	struct strv out = STRV_INIT, names = STRV_INIT;
	struct path_info pi;
	char *path;
	int r, v;

	if ((r = read_path(s, &path)) < 0)
		return r;
	work_start(s);
	memset(&pi, 0, sizeof(pi));
	r = -1;
	switch (op) {
	case OP_QUERY_REFERENCES:
		v = db_query_info(s->db, path, &pi);
		if (v == 0)
			frx_seterr("path '%s' is not valid", path);
		if (v <= 0)
			goto out;
		for (size_t i = 0; i < pi.refs.n; i++)
			strv_add(&out, pi.refs.v[i]);
		break;
	case OP_QUERY_REFERRERS:
		if (db_query_referrers(s->db, path, &out) < 0)
			goto out;
		break;
	case OP_QUERY_VALID_DERIVERS:
		if (db_query_valid_derivers(s->db, path, &out) < 0)
			goto out;
		break;
	case OP_QUERY_DERIVATION_OUTPUTS:
	case OP_QUERY_DERIVATION_OUTPUT_NAMES: {
		struct drv d;

		if (load_drv(s, path, &d) < 0)
			goto out;
		for (size_t i = 0; i < d.noutputs; i++)
			strv_add(&out, op == OP_QUERY_DERIVATION_OUTPUTS ?
			    d.outputs[i].path : d.outputs[i].name);
		drv_free(&d);
		break;
	}
	}
	strv_sort(&out);
	strv_uniq(&out);
	if (work_done(s) < 0 || wire_write_strings(&s->conn, &out) < 0)
		goto out;
	r = 0;
out:
	path_info_free(&pi);
	strv_free(&out);
	strv_free(&names);
	free(path);
	return r;
}

static int
op_query_deriver(struct session *s)
{
	struct path_info pi;
	char *path;
	int r, v;

	if ((r = read_path(s, &path)) < 0)
		return r;
	work_start(s);
	memset(&pi, 0, sizeof(pi));
	r = -1;
	v = db_query_info(s->db, path, &pi);
	if (v == 0)
		frx_seterr("path '%s' is not valid", path);
	if (v > 0 && work_done(s) == 0 &&
	    wire_write_cstring(&s->conn, pi.deriver ? pi.deriver : "") == 0)
		r = 0;
	path_info_free(&pi);
	free(path);
	return r;
}

static int
op_query_path_hash(struct session *s)
{
	struct path_info pi;
	char *path, *hex;
	int r, v;

	if ((r = read_path(s, &path)) < 0)
		return r;
	work_start(s);
	memset(&pi, 0, sizeof(pi));
	r = -1;
	v = db_query_info(s->db, path, &pi);
	if (v == 0)
		frx_seterr("path '%s' is not valid", path);
	if (v > 0 && work_done(s) == 0) {
		hex = hash_hex(&pi.nar_hash);
		r = wire_write_cstring(&s->conn, hex);
		free(hex);
	}
	path_info_free(&pi);
	free(path);
	return r;
}

static int
op_query_valid_paths(struct session *s, int with_subst_flag)
{
	struct strv in = STRV_INIT, out = STRV_INIT;
	uint64_t subst;
	size_t i;
	int bad, r = -1;

	if (read_paths_checked(s, &in, &bad) < 0)
		return ARGS_FAILED;
	if (with_subst_flag && PROTO_MINOR(s->version) >= 27 &&
	    wire_read_u64(&s->conn, &subst) < 0)
		return ARGS_FAILED;
	work_start(s);
	for (i = 0; i < in.n; i++) {
		if (store_check_path(cfg.storedir, in.v[i]) < 0)
			continue;
		if (with_subst_flag && db_is_valid(s->db, in.v[i]) > 0)
			strv_add(&out, in.v[i]);
	}
	strv_sort(&out);
	if (work_done(s) == 0 && wire_write_strings(&s->conn, &out) == 0)
		r = 0;
	strv_free(&in);
	strv_free(&out);
	return r;
}

static int
op_query_all_valid(struct session *s)
{
	struct strv out = STRV_INIT;
	int r = -1;

	work_start(s);
	if (db_query_all_valid(s->db, &out) == 0 && work_done(s) == 0 &&
	    wire_write_strings(&s->conn, &out) == 0)
		r = 0;
	strv_free(&out);
	return r;
}

static int
op_query_path_from_hash_part(struct session *s)
{
	char *part, *path = NULL;
	int r = -1, v;

	if (wire_read_cstring(&s->conn, 64, &part) < 0)
		return ARGS_FAILED;
	work_start(s);
	v = db_query_path_from_hash_part(s->db, cfg.storedir, part, &path);
	if (v >= 0 && work_done(s) == 0 &&
	    wire_write_cstring(&s->conn, v ? path : "") == 0)
		r = 0;
	free(part);
	free(path);
	return r;
}

/*
 * A build limit in seconds (0 = none) that a client asks for.  Nix
 * clients always send their own value, 0 by default, so 0 keeps the
 * daemon's setting; an untrusted client may only tighten it.
 */
static int
client_limit(const struct session *s, int daemon, uint64_t want)
{
	if (want == 0 || want > INT_MAX)
		return daemon;
	if (!s->trusted && daemon > 0 && want > (uint64_t)daemon)
		return daemon;
	return (int)want;
}

/* The same for a size in bytes. */
static unsigned long long
client_bytes(const struct session *s, unsigned long long daemon,
    uint64_t want)
{
	if (want == 0)
		return daemon;
	if (!s->trusted && daemon > 0 && want > daemon)
		return daemon;
	return want;
}

/* A decimal count (seconds or bytes); 0 for anything else. */
static uint64_t
parse_seconds(const char *v)
{
	unsigned long long n;

	return parse_decimal(v, &n) < 0 ? 0 : n;
}

static void
set_option_pair(struct session *s, const char *key, const char *val)
{
	if (!strcmp(key, "timeout") || !strcmp(key, "build-timeout"))
		s->timeout = client_limit(s, cfg.timeout, parse_seconds(val));
	else if (!strcmp(key, "max-silent-time") ||
	    !strcmp(key, "build-max-silent-time"))
		s->max_silent = client_limit(s, cfg.max_silent,
		    parse_seconds(val));
	else if (!strcmp(key, "max-build-log-size") ||
	    !strcmp(key, "build-max-log-size") ||
	    !strcmp(key, "max-log-size"))
		s->max_log = client_bytes(s, cfg.max_log, parse_seconds(val));
}

static int
op_set_options(struct session *s)
{
	uint64_t v[12], n, i;
	char *key, *val;
	int k;

	for (k = 0; k < 12; k++)
		if (wire_read_u64(&s->conn, &v[k]) < 0)
			return ARGS_FAILED;
	s->keep_failed = cfg.keep_failed || v[0] != 0;
	s->verbosity = (int)v[3];
	s->max_silent = client_limit(s, cfg.max_silent, v[5]);
	build_set_options(s, v[1], v[4], v[10]);
	if (PROTO_MINOR(s->version) >= 12) {
		if (wire_read_u64(&s->conn, &n) < 0)
			return ARGS_FAILED;
		if (n > 4096) {
			frx_seterr("protocol: too many options");
			return ARGS_FAILED;
		}
		for (i = 0; i < n; i++) {
			if (wire_read_cstring(&s->conn, 65536, &key) < 0)
				return ARGS_FAILED;
			if (wire_read_cstring(&s->conn, 65536, &val) < 0) {
				free(key);
				return ARGS_FAILED;
			}
			set_option_pair(s, key, val);
			free(key);
			free(val);
		}
	}
	work_start(s);
	return work_done(s);
}

/* A temporary name in the store directory, so that the final rename()
 * stays on one file system; swept at start-up. */
char *
store_tmp_name(void)
{
	return xasprintf("%s/.frx-tmp-%ld-%u", cfg.storedir, (long)getpid(),
	    tmpcounter++);
}

const char *
without_tmp_name(const char *msg, const char *tmp)
{
	size_t n = strlen(tmp);

	if (strncmp(msg, tmp, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
		return msg + n + 2;
	return msg;
}

struct cam {
	int text;
	int recursive;
	enum hash_algo algo;
};

static int
parse_cam(const char *s, struct cam *m)
{
	memset(m, 0, sizeof(*m));
	if (!strcmp(s, "text:sha256")) {
		m->text = 1;
		m->algo = HASH_SHA256;
		return 0;
	}
	if (strncmp(s, "fixed:", 6) != 0)
		return frx_seterr("unknown content-address method '%s'", s);
	s += 6;
	if (!strncmp(s, "r:", 2)) {
		m->recursive = 1;
		s += 2;
	}
	return hash_algo_parse(s, &m->algo);
}

struct hashsink {
	struct hash_ctx *ctx;
};

static int
hash_sink(void *ctx, const void *p, size_t n)
{
	hash_ctx_update(((struct hashsink *)ctx)->ctx, p, n);
	return 0;
}

int
content_hash(const char *path, int recursive, enum hash_algo algo,
    struct hash *h)
{
	struct hashsink hs;
	struct stat st;

	if (!recursive) {
		if (lstat(path, &st) < 0)
			return frx_seterr_errno("%s: stat", path);
		if (!S_ISREG(st.st_mode))
			return frx_seterr("a flat or text object must be a "
			    "regular file");
		return hash_file(algo, path, h);
	}
	hs.ctx = hash_ctx_new(algo);
	if (nar_dump(path, hash_sink, &hs) < 0) {
		struct hash dummy;

		hash_ctx_final(hs.ctx, &dummy);
		return -1;
	}
	hash_ctx_final(hs.ctx, h);
	return 0;
}

int
check_drv_file(struct session *s, const char *path, const char *file)
{
	struct buf b = BUF_INIT;
	struct stat st;
	struct drv d;
	int r;

	/* Read whole to be parsed: no larger than a string of the
	 * protocol may be (AddTextToStore's bound), whatever way it came. */
	if (lstat(file, &st) < 0)
		return frx_seterr_errno("cannot add derivation '%s'", path);
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)WIRE_STRING_MAX)
		return frx_seterr("cannot add derivation '%s': not a regular "
		    "file of at most %u bytes", path, WIRE_STRING_MAX);
	if (read_file(file, &b) < 0)
		return frx_preferr("cannot add derivation '%s'", path);
	drv_init(&d);
	r = drv_parse(b.data ? b.data : "", b.len, &d);
	buf_free(&b);
	if (r == 0)
		r = drv_check_outputs(cfg.storedir, &d, load_drv_cb, s);
	drv_free(&d);
	if (r < 0)
		return frx_preferr("cannot add derivation '%s'", path);
	return 0;
}

int
store_path_is_drv(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && strcmp(name + n - 4, ".drv") == 0;
}

/* What an upload's NAR was, when it came as one (and nar_restore_store
 * made it): then neither its NAR hash, nor (for recursive sha256) its
 * content hash, nor its canonical form needs another pass. */
struct nar_seen {
	struct hash sha256;
	uint64_t size;
};

/*
 * Give the object at tmp its place in the store as a content-addressed
 * path and register it; *pathp receives the path.  tmp is consumed.
 */
static int
add_ca_object(struct session *s, const char *name, const struct cam *m,
    const struct strv *refs, char *tmp, const struct nar_seen *nar,
    char **pathp)
{
	struct path_info pi;
	struct hash h;
	char *path = NULL, *srcs[1];
	int lock = -1, r = -1, v;

	memset(&pi, 0, sizeof(pi));
	if (store_check_name(name) < 0)
		goto out;
	if (nar && m->recursive && m->algo == HASH_SHA256)
		h = nar->sha256;
	else if (content_hash(tmp, m->recursive, m->algo, &h) < 0)
		goto out;
	if (m->text) {
		path = store_make_text_path(cfg.storedir, name, &h, refs);
		pi.ca = store_ca_text(&h);
	} else {
		if (refs->n && !(m->recursive && m->algo == HASH_SHA256)) {
			frx_seterr("%s: references are only allowed for text "
			    "and recursive sha256 objects", name);
			goto out;
		}
		path = store_make_fixed_path(cfg.storedir, name, m->recursive,
		    &h, refs, 0);
		pi.ca = store_ca_fixed(m->recursive, &h);
	}
	if (!path)
		goto out;
	for (size_t i = 0; i < refs->n; i++)
		if ((v = db_is_valid(s->db, refs->v[i])) <= 0) {
			if (v == 0)
				frx_seterr("%s: reference '%s' is not valid",
				    path, refs->v[i]);
			goto out;
		}
	if ((lock = store_lock_path(path)) < 0)
		goto out;
	if ((v = db_is_valid(s->db, path)) < 0)
		goto out;
	if (v == 0) {
		if (m->text && store_path_is_drv(name) &&
		    check_drv_file(s, path, tmp) < 0)
			goto out;
		/* What came as a NAR was made canonical as it came. */
		if (!nar && canonicalise_tree(tmp) < 0)
			goto out;
		pi.path = xstrdup(path);
		for (size_t i = 0; i < refs->n; i++)
			strv_add(&pi.refs, refs->v[i]);
		strv_sort(&pi.refs);
		pi.ultimate = 0;
		if (nar) {
			pi.nar_hash = nar->sha256;
			pi.nar_size = nar->size;
		}
		srcs[0] = tmp;
		if (store_add_objects(s->db, srcs, &pi, 1) < 0)
			goto out;
		dlog("info", "added %s", path);
	}
	*pathp = path;
	path = NULL;
	r = 0;
out:
	store_unlock(lock);
	(void)remove_tree(tmp);
	path_info_free(&pi);
	free(path);
	return r;
}

static int
reply_path_and_info(struct session *s, const char *path)
{
	struct path_info pi;
	int r = -1;

	memset(&pi, 0, sizeof(pi));
	if (db_query_info(s->db, path, &pi) <= 0)
		goto out;
	if (work_done(s) < 0 || wire_write_cstring(&s->conn, path) < 0)
		goto out;
	r = write_path_info(s, &pi);
out:
	path_info_free(&pi);
	return r;
}

/* Receive framed data into tmp: raw bytes (flat, text) or a NAR. */
static int
receive_framed(struct session *s, const struct cam *m, const char *tmp,
    struct nar_seen *nar)
{
	struct frame_reader fr;
	int fd, r;

	frame_reader_init(&fr, &s->conn);
	if (m->recursive) {
		r = nar_restore_store(frame_read, &fr, tmp, &nar->sha256,
		    &nar->size);
		if (r < 0 && !s->conn.failed) {
			char *msg = xstrdup(without_tmp_name(frx_errmsg(),
			    tmp));

			(void)frame_drain(&fr);
			frx_seterr("malformed NAR: %s", msg);
			free(msg);
		} else if (r == 0 && frame_drain(&fr) < 0) {
			r = -1;
		}
		return r;
	}
	/* A flat object goes to its file as it comes, not through memory:
	 * a client could send gigabytes. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd < 0) {
		r = frx_seterr_errno("%s: cannot create", tmp);
		if (frame_drain(&fr) < 0)
			r = -1;
		return r;
	}
	r = frame_read_to_fd(&fr, fd);
	if (close(fd) < 0 && r == 0)
		r = frx_seterr_errno("%s: cannot write", tmp);
	return r;
}

static int
op_add_to_store_new(struct session *s)
{
	struct strv refs = STRV_INIT;
	char *name = NULL, *method = NULL, *tmp = NULL, *path = NULL;
	uint64_t repair;
	struct nar_seen nar;
	struct cam m;
	int bad, r = ARGS_FAILED;

	if (wire_read_cstring(&s->conn, 4096, &name) < 0 ||
	    wire_read_cstring(&s->conn, 256, &method) < 0 ||
	    read_paths_checked(s, &refs, &bad) < 0 ||
	    wire_read_u64(&s->conn, &repair) < 0)
		goto out;
	/* The client sends the payload while it reads our messages. */
	work_start(s);
	r = -1;
	if (parse_cam(method, &m) < 0 || bad) {
		struct frame_reader fr;

		frame_reader_init(&fr, &s->conn);
		if (frame_drain(&fr) < 0)
			r = ARGS_FAILED;
		if (bad)
			frx_seterr("%s: invalid reference", name);
		goto out;
	}
	tmp = store_tmp_name();
	if (receive_framed(s, &m, tmp, &nar) < 0) {
		if (s->conn.failed)
			r = ARGS_FAILED;
		frx_preferr("cannot add '%s'", name);
		(void)remove_tree(tmp);
		goto out;
	}
	if (add_ca_object(s, name, &m, &refs, tmp, m.recursive ? &nar : NULL,
	    &path) < 0)
		goto out;
	r = reply_path_and_info(s, path);
out:
	strv_free(&refs);
	free(name);
	free(method);
	free(tmp);
	free(path);
	return r;
}

/* Old layout (< 1.25 and Guix): flags, algo, then an unframed NAR. */
static int
op_add_to_store_old(struct session *s)
{
	struct strv none = STRV_INIT;
	char *name = NULL, *algo = NULL, *tmp = NULL, *path = NULL;
	uint64_t fixed, recursive;
	struct nar_seen nar, *seen = &nar;
	struct cam m;
	struct stat st;
	int r = ARGS_FAILED;

	if (wire_read_cstring(&s->conn, 4096, &name) < 0 ||
	    wire_read_u64(&s->conn, &fixed) < 0 ||
	    wire_read_u64(&s->conn, &recursive) < 0 ||
	    wire_read_cstring(&s->conn, 64, &algo) < 0)
		goto out;
	memset(&m, 0, sizeof(m));
	m.recursive = !fixed || recursive;
	tmp = store_tmp_name();
	/* The NAR is part of the arguments: errors in it end the session. */
	if (nar_restore_store(conn_source, &s->conn, tmp, &nar.sha256,
	    &nar.size) < 0) {
		char *msg = xstrdup(without_tmp_name(frx_errmsg(), tmp));

		frx_seterr("cannot add '%s': malformed NAR: %s", name, msg);
		free(msg);
		goto out;
	}
	work_start(s);
	r = -1;
	if (hash_algo_parse(fixed ? algo : "sha256", &m.algo) < 0)
		goto out;
	/* A flat object travels as the NAR of one file: its contents, and
	 * only those (as in Nix, an executable flag is dropped; the NAR
	 * that came is then not the object's). */
	if (!m.recursive) {
		if (lstat(tmp, &st) < 0 || !S_ISREG(st.st_mode)) {
			frx_seterr("%s: flat import of something that is not "
			    "a regular file", name);
			goto out;
		}
		if (st.st_mode & 0111) {
			if (chmod(tmp, 0444) < 0) {
				frx_seterr_errno("%s: chmod", tmp);
				goto out;
			}
			seen = NULL;
		}
	}
	if (add_ca_object(s, name, &m, &none, tmp, seen, &path) < 0)
		goto out;
	if (work_done(s) == 0 && wire_write_cstring(&s->conn, path) == 0)
		r = 0;
out:
	if (tmp)
		(void)remove_tree(tmp);
	free(name);
	free(algo);
	free(tmp);
	free(path);
	return r;
}

static int
op_add_text_to_store(struct session *s)
{
	struct strv refs = STRV_INIT;
	char *name = NULL, *text = NULL, *tmp = NULL, *path = NULL;
	size_t len;
	struct cam m = { 1, 0, HASH_SHA256 };
	int bad, r = ARGS_FAILED;

	if (wire_read_cstring(&s->conn, 4096, &name) < 0 ||
	    wire_read_string(&s->conn, WIRE_STRING_MAX, &text, &len) < 0 ||
	    read_paths_checked(s, &refs, &bad) < 0)
		goto out;
	work_start(s);
	r = -1;
	if (bad) {
		frx_seterr("%s: invalid reference", name);
		goto out;
	}
	tmp = store_tmp_name();
	if (write_file(tmp, text, len, 0644) < 0 ||
	    add_ca_object(s, name, &m, &refs, tmp, NULL, &path) < 0)
		goto out;
	if (work_done(s) == 0 && wire_write_cstring(&s->conn, path) == 0)
		r = 0;
out:
	strv_free(&refs);
	free(name);
	free(text);
	free(tmp);
	free(path);
	return r;
}

/* "out,dev" into names; "*" (all outputs) leaves names empty. */
static void
split_outputs(const char *list, struct strv *names)
{
	char *copy, *tok, *save = NULL;

	if (!strcmp(list, "*"))
		return;
	copy = xstrdup(list);
	for (tok = strtok_r(copy, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save))
		strv_add(names, tok);
	free(copy);
}

static int
op_build_paths(struct session *s)
{
	struct strv items = STRV_INIT;
	uint64_t mode = 0;
	int r = -1;

	if (wire_read_strings(&s->conn, &items) < 0)
		return ARGS_FAILED;
	if (PROTO_MINOR(s->version) >= 15 &&
	    wire_read_u64(&s->conn, &mode) < 0) {
		strv_free(&items);
		return ARGS_FAILED;
	}
	work_start(s);
	if (mode != 0) {
		frx_seterr("build mode %llu (repair/check) is not supported "
		    "by frx-daemon", (unsigned long long)mode);
		goto out;
	}
	/* One graph for all items: independent derivations in parallel. */
	if (build_items(s, &items, NULL) < 0)
		goto out;
	if (work_done(s) == 0 && wire_write_u64(&s->conn, 1) == 0)
		r = 0;
out:
	strv_free(&items);
	return r;
}

static int
op_ensure_path(struct session *s)
{
	char *path;
	int r;

	if ((r = read_path(s, &path)) < 0)
		return r;
	work_start(s);
	r = build_ensure_path(s, path);
	free(path);
	if (r < 0)
		return -1;
	return work_done(s) < 0 || wire_write_u64(&s->conn, 1) < 0 ? -1 : 0;
}

static int
op_add_temp_root(struct session *s)
{
	char *path;
	int r;

	if ((r = read_path(s, &path)) < 0)
		return r;
	work_start(s);
	strv_addn(&s->temp_roots, path);
	return work_done(s) < 0 || wire_write_u64(&s->conn, 1) < 0 ? -1 : 0;
}

static int
op_add_indirect_root(struct session *s)
{
	char *link, *auto_link, *hex;
	struct hash h;
	int r = -1;

	if (wire_read_cstring(&s->conn, 4096, &link) < 0)
		return ARGS_FAILED;
	work_start(s);
	if (link[0] != '/') {
		frx_seterr("indirect root '%s' is not an absolute path", link);
		free(link);
		return -1;
	}
	hash_buf(HASH_SHA1, link, strlen(link), &h);
	hex = hash_base32(&h);
	auto_link = xasprintf("%s/gcroots/auto/%s", cfg.statedir, hex);
	(void)unlink(auto_link);
	if (symlink(link, auto_link) < 0)
		frx_seterr_errno("%s: symlink", auto_link);
	else if (work_done(s) == 0 && wire_write_u64(&s->conn, 1) == 0)
		r = 0;
	free(hex);
	free(auto_link);
	free(link);
	return r;
}

static int
op_sync_with_gc(struct session *s)
{
	work_start(s);
	return work_done(s) < 0 || wire_write_u64(&s->conn, 1) < 0 ? -1 : 0;
}

#define MISSING_DEPTH 256

struct missing {
	struct strv willbuild;
	struct strv unknown;
};

/*
 * What building the wanted outputs of drvpath (all if wanted is empty)
 * involves: the derivation if one of them is missing, then the same for
 * its inputs; a derivation or source that is not valid is "unknown".
 */
static void
missing_drv(struct session *s, const char *drvpath,
    const struct strv *wanted, struct missing *m, int depth)
{
	struct drv d;
	size_t i;
	int missing = 0;

	if (strv_contains(&m->willbuild, drvpath) ||
	    strv_contains(&m->unknown, drvpath))
		return;
	if (depth > MISSING_DEPTH || load_drv(s, drvpath, &d) < 0) {
		strv_add(&m->unknown, drvpath);
		return;
	}
	for (i = 0; i < d.noutputs; i++)
		if ((!wanted->n || strv_contains(wanted, d.outputs[i].name)) &&
		    (!*d.outputs[i].path ||
		    db_is_valid(s->db, d.outputs[i].path) <= 0))
			missing = 1;
	if (missing) {
		strv_add(&m->willbuild, drvpath);
		for (i = 0; i < d.ninputs; i++)
			missing_drv(s, d.inputs[i].path, &d.inputs[i].outputs,
			    m, depth + 1);
		for (i = 0; i < d.srcs.n; i++)
			if (db_is_valid(s->db, d.srcs.v[i]) <= 0 &&
			    !strv_contains(&m->unknown, d.srcs.v[i]))
				strv_add(&m->unknown, d.srcs.v[i]);
	}
	drv_free(&d);
}

static int
op_query_missing(struct session *s)
{
	struct strv items = STRV_INIT, none = STRV_INIT;
	struct missing m = { STRV_INIT, STRV_INIT };
	size_t i;
	int r = -1;

	if (wire_read_strings(&s->conn, &items) < 0)
		return ARGS_FAILED;
	work_start(s);
	for (i = 0; i < items.n; i++) {
		char *bang = strchr(items.v[i], '!');
		struct strv wanted = STRV_INIT;
		char *drv;

		if (!bang) {
			if (db_is_valid(s->db, items.v[i]) <= 0 &&
			    !strv_contains(&m.unknown, items.v[i]))
				strv_add(&m.unknown, items.v[i]);
			continue;
		}
		drv = xstrndup(items.v[i], (size_t)(bang - items.v[i]));
		split_outputs(bang + 1, &wanted);
		missing_drv(s, drv, &wanted, &m, 0);
		strv_free(&wanted);
		free(drv);
	}
	strv_sort(&m.willbuild);
	strv_sort(&m.unknown);
	if (work_done(s) == 0 &&
	    wire_write_strings(&s->conn, &m.willbuild) == 0 &&
	    wire_write_strings(&s->conn, &none) == 0 &&
	    wire_write_strings(&s->conn, &m.unknown) == 0 &&
	    wire_write_u64(&s->conn, 0) == 0 &&
	    wire_write_u64(&s->conn, 0) == 0)
		r = 0;
	strv_free(&items);
	strv_free(&m.willbuild);
	strv_free(&m.unknown);
	return r;
}

static int
op_query_drv_output_map(struct session *s)
{
	struct drv d;
	char *path;
	size_t i;
	int r;

	if ((r = read_path(s, &path)) < 0)
		return r;
	work_start(s);
	r = load_drv(s, path, &d);
	free(path);
	if (r < 0)
		return -1;
	r = -1;
	if (work_done(s) < 0 || wire_write_u64(&s->conn, d.noutputs) < 0)
		goto out;
	for (i = 0; i < d.noutputs; i++)
		if (wire_write_cstring(&s->conn, d.outputs[i].name) < 0 ||
		    wire_write_cstring(&s->conn, d.outputs[i].path) < 0)
			goto out;
	r = 0;
out:
	drv_free(&d);
	return r;
}

static int
op_nar_from_path(struct session *s)
{
	char *path;
	int r, v;

	if ((r = read_path(s, &path)) < 0)
		return r;
	work_start(s);
	r = -1;
	v = db_is_valid(s->db, path);
	if (v == 0)
		frx_seterr("path '%s' is not valid", path);
	if (v > 0 && work_done(s) == 0)
		r = nar_dump(path, conn_sink, &s->conn);
	free(path);
	if (r < 0 && !s->in_work)
		return ARGS_FAILED;	/* mid-stream: nothing sane to send */
	return r;
}

static int
op_query_build_record(struct session *s)
{
	char *path, *text = NULL;
	int r, v;

	if ((r = read_path(s, &path)) < 0)
		return r;
	work_start(s);
	r = -1;
	v = db_query_build_record(s->db, path, &text);
	if (v == 0)
		frx_seterr("%s: no build record", path);
	if (v > 0 && work_done(s) == 0)
		r = wire_write_cstring(&s->conn, text);
	free(text);
	free(path);
	return r;
}

/* frx has no substituters: nothing is ever substitutable. */
static int
op_has_substitutes(struct session *s)
{
	char *path;

	if (wire_read_cstring(&s->conn, 4096, &path) < 0)
		return ARGS_FAILED;
	free(path);
	work_start(s);
	return work_done(s) < 0 || wire_write_u64(&s->conn, 0) < 0 ? -1 : 0;
}

static int
op_query_substitutable_infos(struct session *s)
{
	struct strv v = STRV_INIT;
	uint64_t n, i;
	char *k;

	if (!s->guix && PROTO_MINOR(s->version) >= 22) {
		if (wire_read_u64(&s->conn, &n) < 0 || n > WIRE_LIST_MAX)
			return ARGS_FAILED;
		for (i = 0; i < 2 * n; i++) {
			if (wire_read_cstring(&s->conn, 4096, &k) < 0)
				return ARGS_FAILED;
			free(k);
		}
	} else if (wire_read_strings(&s->conn, &v) < 0) {
		return ARGS_FAILED;
	}
	strv_free(&v);
	work_start(s);
	return work_done(s) < 0 || wire_write_u64(&s->conn, 0) < 0 ? -1 : 0;
}

/* frx keeps no cache of failed builds (Guix's QueryFailedPaths and
 * ClearFailedPaths): there is never anything to list or to clear. */
static int
op_failed_paths(struct session *s, uint64_t op)
{
	struct strv paths = STRV_INIT;

	if (op == OP_CLEAR_FAILED_PATHS &&
	    wire_read_strings(&s->conn, &paths) < 0)
		return ARGS_FAILED;
	strv_free(&paths);
	work_start(s);
	if (work_done(s) < 0)
		return -1;
	if (op == OP_CLEAR_FAILED_PATHS)
		return wire_write_u64(&s->conn, 1);
	return wire_write_strings(&s->conn, &paths);
}

/* Returns 0, -1 (reported, session goes on) or ARGS_FAILED. */
static int
dispatch(struct session *s, uint64_t op)
{
	switch (op) {
	case OP_IS_VALID_PATH: return op_is_valid_path(s);
	case OP_QUERY_PATH_HASH: return op_query_path_hash(s);
	case OP_QUERY_REFERENCES:
	case OP_QUERY_REFERRERS:
	case OP_QUERY_VALID_DERIVERS:
	case OP_QUERY_DERIVATION_OUTPUTS:
	case OP_QUERY_DERIVATION_OUTPUT_NAMES:
		return op_path_set_query(s, op);
	case OP_ADD_TO_STORE:
		if (!s->guix && PROTO_MINOR(s->version) >= 25)
			return op_add_to_store_new(s);
		return op_add_to_store_old(s);
	case OP_ADD_TEXT_TO_STORE: return op_add_text_to_store(s);
	case OP_BUILD_PATHS: return op_build_paths(s);
	case OP_ENSURE_PATH: return op_ensure_path(s);
	case OP_ADD_TEMP_ROOT: return op_add_temp_root(s);
	case OP_ADD_INDIRECT_ROOT: return op_add_indirect_root(s);
	case OP_SYNC_WITH_GC: return op_sync_with_gc(s);
	case OP_QUERY_DERIVER: return op_query_deriver(s);
	case OP_SET_OPTIONS: return op_set_options(s);
	case OP_QUERY_ALL_VALID_PATHS: return op_query_all_valid(s);
	case OP_QUERY_PATH_INFO: return op_query_path_info(s);
	case OP_QUERY_PATH_FROM_HASH_PART:
		return op_query_path_from_hash_part(s);
	case OP_QUERY_VALID_PATHS: return op_query_valid_paths(s, 1);
	case OP_QUERY_SUBSTITUTABLE_PATHS: return op_query_valid_paths(s, 0);
	case OP_NAR_FROM_PATH: return op_nar_from_path(s);
	case OP_QUERY_MISSING: return op_query_missing(s);
	case OP_QUERY_DERIVATION_OUTPUT_MAP: return op_query_drv_output_map(s);
	case OP_FRX_QUERY_BUILD_RECORD: return op_query_build_record(s);
	case OP_ADD_TO_STORE_NAR: return op_add_to_store_nar(s);
	case OP_ADD_MULTIPLE_TO_STORE: return op_add_multiple_to_store(s);
	case OP_VERIFY_STORE: return op_verify_store(s);
	case OP_FIND_ROOTS: return op_find_roots(s);
	case OP_COLLECT_GARBAGE: return op_collect_garbage(s);
	case OP_BUILD_PATHS_WITH_RESULTS:
		return op_build_paths_with_results(s);
	case OP_HAS_SUBSTITUTES: return op_has_substitutes(s);
	case OP_QUERY_SUBSTITUTABLE_PATH_INFOS:
		return op_query_substitutable_infos(s);
	case OP_EXPORT_PATH: return op_export_path(s);
	case OP_QUERY_FAILED_PATHS:
	case OP_CLEAR_FAILED_PATHS:
		return op_failed_paths(s, op);
	case OP_ADD_SIGNATURES:
	case OP_OPTIMISE_STORE:
	case OP_IMPORT_PATHS:
		return op_unsupported_after_args(s, op);
	default:
		/* A known operation whose arguments frx cannot read ends the
		 * connection too, but is named. */
		if (wire_op_name(op) != NULL)
			return op_unsupported_after_args(s, op);
		frx_seterr("invalid operation %llu: not supported by "
		    "frx-daemon", (unsigned long long)op);
		return ARGS_FAILED;
	}
}

static int
handshake(struct session *s)
{
	struct conn *c = &s->conn;
	uint64_t magic, client, v;

	if (wire_read_u64(c, &magic) < 0)
		return -1;
	if (magic != WORKER_MAGIC_1)
		return frx_seterr("protocol mismatch: bad magic number");
	if (wire_write_u64(c, WORKER_MAGIC_2) < 0 ||
	    wire_write_u64(c, PROTO_VERSION) < 0 || conn_flush(c) < 0 ||
	    wire_read_u64(c, &client) < 0)
		return -1;
	if (PROTO_MAJOR(client) != 0x100 || client < 0x10a)
		return frx_seterr("the client's protocol version 0x%llx is "
		    "too old", (unsigned long long)client);
	s->guix = PROTO_MINOR(client) >= 0x60;
	s->version = client < PROTO_VERSION ? client : PROTO_VERSION;
	if (PROTO_MINOR(s->version) >= 14) {
		if (wire_read_u64(c, &v) < 0)
			return -1;
		if (v && wire_read_u64(c, &v) < 0)
			return -1;
	}
	if (PROTO_MINOR(s->version) >= 11 && wire_read_u64(c, &v) < 0)
		return -1;
	if (!s->guix && PROTO_MINOR(s->version) >= 33 &&
	    wire_write_cstring(c, "frx 0.1") < 0)
		return -1;
	if (wire_write_u64(c, STDERR_LAST) < 0)
		return -1;
	return conn_flush(c);
}

static struct session *current;

static void
on_term(int sig)
{
	(void)sig;
	build_abort();
	job_kill_late();
	_exit(1);
}

void
session_run(int fd, struct db *db)
{
	struct session s;
	struct sigaction sa;
	uint64_t op;
	int r;

	memset(&s, 0, sizeof(s));
	conn_init(&s.conn, fd);
	s.db = db;
	s.timeout = cfg.timeout;
	s.max_silent = cfg.max_silent;
	s.max_log = cfg.max_log;
	s.keep_failed = cfg.keep_failed;
	current = &s;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (peer_cred(fd, &s.peer_uid, &s.peer_pid) < 0) {
		dlog("error", "peer credentials: %s", frx_errmsg());
		return;
	}
	s.trusted = s.peer_uid == 0 || s.peer_uid == geteuid();
	if (handshake(&s) < 0) {
		dlog("error", "client uid %ld: handshake: %s",
		    (long)s.peer_uid, frx_errmsg());
		return;
	}
	dlog("info", "client uid %ld pid %ld connected (protocol 0x%llx%s)",
	    (long)s.peer_uid, (long)s.peer_pid,
	    (unsigned long long)s.version, s.guix ? ", Guix dialect" : "");
	for (;;) {
		if (s.conn.rpos == s.conn.rlen && conn_flush(&s.conn) < 0)
			break;
		/* The client has its answers: wait for the runners still
		 * tearing down, so that their users are not held while this
		 * session waits for the next request. */
		if (s.conn.rpos == s.conn.rlen)
			(void)job_reap_late(1);
		if (wire_read_u64(&s.conn, &op) < 0)
			break;
		r = dispatch(&s, op);
		if (r == -1 || r == ARGS_FAILED) {
			char *msg = xstrdup(frx_errmsg());

			dlog("info", "client uid %ld: operation %llu: %s",
			    (long)s.peer_uid, (unsigned long long)op, msg);
			if (!s.conn.failed)
				(void)send_error(&s, msg, 1);
			free(msg);
			if (r == ARGS_FAILED)
				break;
		}
		if (conn_flush(&s.conn) < 0)
			break;
	}
	strv_free(&s.temp_roots);
	current = NULL;
}
