/*
 * client.c: the worker protocol from the client's side (what `frx` needs).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../lib/hash.h"
#include "../lib/nar.h"
#include "../lib/store.h"
#include "client.h"

static void
client_log(struct client *cl, const char *line)
{
	size_t n = strlen(line);

	while (n > 0 && line[n - 1] == '\n')
		n--;
	if (cl->log) {
		char *s = xstrndup(line, n);

		cl->log(cl->log_ctx, s);
		free(s);
	} else {
		fprintf(stderr, "%.*s\n", (int)n, line);
	}
}

static int
skip_fields(struct client *cl, int log_strings)
{
	struct conn *c = &cl->conn;
	uint64_t n, i, type, v;
	char *s;

	if (wire_read_u64(c, &n) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (wire_read_u64(c, &type) < 0)
			return -1;
		if (type == 0) {
			if (wire_read_u64(c, &v) < 0)
				return -1;
		} else if (type == 1) {
			if (wire_read_string(c, WIRE_STRING_MAX, &s, NULL) < 0)
				return -1;
			if (log_strings)
				client_log(cl, s);
			free(s);
		} else {
			return frx_seterr("protocol: unknown field type %llu",
			    (unsigned long long)type);
		}
	}
	return 0;
}

static int
read_error(struct client *cl)
{
	struct conn *c = &cl->conn;
	uint64_t level, havepos, ntraces, i, status;
	char *type = NULL, *name = NULL, *msg = NULL, *trace;
	struct buf b = BUF_INIT;

	if (PROTO_MINOR(cl->daemon_version) < 26) {
		if (wire_read_string(c, WIRE_STRING_MAX, &msg, NULL) < 0 ||
		    wire_read_u64(c, &status) < 0)
			return -1;
		frx_seterr("frx-daemon: %s", msg);
		free(msg);
		return -1;
	}
	if (wire_read_string(c, 64, &type, NULL) < 0 ||
	    wire_read_u64(c, &level) < 0 ||
	    wire_read_string(c, 1024, &name, NULL) < 0 ||
	    wire_read_string(c, WIRE_STRING_MAX, &msg, NULL) < 0 ||
	    wire_read_u64(c, &havepos) < 0 ||
	    wire_read_u64(c, &ntraces) < 0)
		goto out;
	buf_adds(&b, msg);
	for (i = 0; i < ntraces; i++) {
		if (wire_read_u64(c, &havepos) < 0 ||
		    wire_read_string(c, WIRE_STRING_MAX, &trace, NULL) < 0)
			goto out;
		buf_printf(&b, "\n%s", trace);
		free(trace);
	}
	frx_seterr("frx-daemon: %s", b.data);
out:
	free(type);
	free(name);
	free(msg);
	buf_free(&b);
	return -1;
}

/* Read log messages until STDERR_LAST (0) or STDERR_ERROR (-1). */
static int
process_stderr(struct client *cl)
{
	struct conn *c = &cl->conn;
	uint64_t tag, id, level, type, parent;
	char *s;

	if (conn_flush(c) < 0)
		return -1;
	for (;;) {
		if (wire_read_u64(c, &tag) < 0)
			return -1;
		switch (tag) {
		case STDERR_NEXT:
			if (wire_read_string(c, WIRE_STRING_MAX, &s, NULL) < 0)
				return -1;
			client_log(cl, s);
			free(s);
			break;
		case STDERR_START_ACTIVITY:
			if (wire_read_u64(c, &id) < 0 ||
			    wire_read_u64(c, &level) < 0 ||
			    wire_read_u64(c, &type) < 0 ||
			    wire_read_string(c, WIRE_STRING_MAX, &s, NULL) < 0)
				return -1;
			if (*s && level <= 3)
				client_log(cl, s);
			free(s);
			if (skip_fields(cl, 0) < 0 ||
			    wire_read_u64(c, &parent) < 0)
				return -1;
			break;
		case STDERR_STOP_ACTIVITY:
			if (wire_read_u64(c, &id) < 0)
				return -1;
			break;
		case STDERR_RESULT:
			if (wire_read_u64(c, &id) < 0 ||
			    wire_read_u64(c, &type) < 0)
				return -1;
			if (skip_fields(cl, type == 101) < 0)
				return -1;
			break;
		case STDERR_LAST:
			return 0;
		case STDERR_ERROR:
			return read_error(cl);
		default:
			return frx_seterr("protocol: unexpected message tag "
			    "0x%llx from the daemon", (unsigned long long)tag);
		}
	}
}

static int
handshake(struct client *cl)
{
	struct conn *c = &cl->conn;
	uint64_t magic;

	if (wire_write_u64(c, WORKER_MAGIC_1) < 0 || conn_flush(c) < 0 ||
	    wire_read_u64(c, &magic) < 0)
		return -1;
	if (magic != WORKER_MAGIC_2)
		return frx_seterr("protocol: the daemon sent a bad magic number");
	if (wire_read_u64(c, &cl->daemon_version) < 0)
		return -1;
	if (PROTO_MAJOR(cl->daemon_version) != 0x100 ||
	    PROTO_MINOR(cl->daemon_version) < 25)
		return frx_seterr("protocol: daemon version 0x%llx is not "
		    "supported", (unsigned long long)cl->daemon_version);
	if (wire_write_u64(c, PROTO_VERSION) < 0 ||
	    wire_write_u64(c, 0) < 0 ||	/* no CPU affinity */
	    wire_write_u64(c, 0) < 0 ||	/* no space reservation */
	    conn_flush(c) < 0)
		return -1;
	if (PROTO_MINOR(cl->daemon_version) >= 33 &&
	    wire_read_cstring(c, 1024, &cl->daemon_name) < 0)
		return -1;
	return process_stderr(cl);
}

static int
set_options(struct client *cl, const struct client_options *o)
{
	struct conn *c = &cl->conn;
	struct client_options def = { 0, 3, 0, 0, 0, 0, 0 };
	char num[32];
	int npairs = 0;

	if (!o)
		o = &def;
	if (wire_write_u64(c, OP_SET_OPTIONS) < 0 ||
	    wire_write_u64(c, o->keep_failed) < 0 ||
	    wire_write_u64(c, 0) < 0 ||		/* keep going */
	    wire_write_u64(c, 0) < 0 ||		/* try fallback */
	    wire_write_u64(c, o->verbosity) < 0 ||
	    wire_write_u64(c, o->max_jobs > 0 ? o->max_jobs : 0) < 0 ||
	    wire_write_u64(c, o->max_silent_time) < 0 ||
	    wire_write_u64(c, 1) < 0 ||		/* obsolete build hook */
	    wire_write_u64(c, 0) < 0 ||		/* verbose build output */
	    wire_write_u64(c, 0) < 0 ||		/* obsolete log type */
	    wire_write_u64(c, 0) < 0 ||		/* obsolete build trace */
	    wire_write_u64(c, o->cores) < 0 ||
	    wire_write_u64(c, 0) < 0)		/* no substitutes */
		return -1;
	npairs = (o->timeout > 0) + (o->max_log_size > 0);
	if (wire_write_u64(c, npairs) < 0)
		return -1;
	if (o->timeout > 0) {
		snprintf(num, sizeof(num), "%d", o->timeout);
		if (wire_write_cstring(c, "timeout") < 0 ||
		    wire_write_cstring(c, num) < 0)
			return -1;
	}
	if (o->max_log_size > 0) {
		snprintf(num, sizeof(num), "%llu", o->max_log_size);
		if (wire_write_cstring(c, "max-build-log-size") < 0 ||
		    wire_write_cstring(c, num) < 0)
			return -1;
	}
	return process_stderr(cl);
}

int
client_open(struct client *cl, const char *socket_path,
    const struct client_options *opts)
{
	struct sockaddr_un sa;
	int fd;

	memset(cl, 0, sizeof(*cl));
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return frx_seterr("%s: socket path too long", socket_path);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return frx_seterr_errno("socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		frx_seterr_errno("cannot connect to frx-daemon at %s",
		    socket_path);
		close(fd);
		return -1;
	}
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	conn_init(&cl->conn, fd);
	if (handshake(cl) < 0 || set_options(cl, opts) < 0) {
		frx_preferr("handshake with %s", socket_path);
		client_close(cl);
		return -1;
	}
	return 0;
}

void
client_close(struct client *cl)
{
	if (cl->conn.fd >= 0)
		close(cl->conn.fd);
	cl->conn.fd = -1;
	free(cl->daemon_name);
	cl->daemon_name = NULL;
}

static int
start_op(struct client *cl, enum worker_op op, const char *path)
{
	if (wire_write_u64(&cl->conn, op) < 0)
		return -1;
	if (path && wire_write_cstring(&cl->conn, path) < 0)
		return -1;
	return process_stderr(cl);
}

int
client_is_valid(struct client *cl, const char *path)
{
	uint64_t v;

	if (start_op(cl, OP_IS_VALID_PATH, path) < 0 ||
	    wire_read_u64(&cl->conn, &v) < 0)
		return -1;
	return v != 0;
}

/* ValidPathInfo without the path, >= 16 layout. */
static int
read_path_info(struct client *cl, struct path_info *pi)
{
	struct conn *c = &cl->conn;
	char *hash = NULL;
	uint64_t t, sz, ult;
	int r = -1;

	if (wire_read_cstring(c, 4096, &pi->deriver) < 0 ||
	    wire_read_cstring(c, 1024, &hash) < 0 ||
	    wire_read_strings(c, &pi->refs) < 0 ||
	    wire_read_u64(c, &t) < 0 || wire_read_u64(c, &sz) < 0 ||
	    wire_read_u64(c, &ult) < 0 ||
	    wire_read_strings(c, &pi->sigs) < 0 ||
	    wire_read_cstring(c, 4096, &pi->ca) < 0)
		goto out;
	pi->registration_time = (int64_t)t;
	pi->nar_size = sz;
	pi->ultimate = ult != 0;
	if (hash_parse(hash, 1, HASH_SHA256, &pi->nar_hash) < 0)
		goto out;
	r = 0;
out:
	free(hash);
	return r;
}

int
client_query_path_info(struct client *cl, const char *path,
    struct path_info *pi)
{
	uint64_t valid;

	memset(pi, 0, sizeof(*pi));
	if (start_op(cl, OP_QUERY_PATH_INFO, path) < 0 ||
	    wire_read_u64(&cl->conn, &valid) < 0)
		return -1;
	if (!valid)
		return 0;
	pi->path = xstrdup(path);
	if (read_path_info(cl, pi) < 0)
		return -1;
	return 1;
}

/* AddToStore (>= 25): name, method, refs, repair, framed payload. */
static int
add_to_store(struct client *cl, const char *name, const char *method,
    const struct strv *refs, int (*payload)(struct client *, void *),
    void *ctx, char **path)
{
	struct conn *c = &cl->conn;
	struct strv none = STRV_INIT;
	struct path_info pi;
	int r;

	memset(&pi, 0, sizeof(pi));
	if (wire_write_u64(c, OP_ADD_TO_STORE) < 0 ||
	    wire_write_cstring(c, name) < 0 ||
	    wire_write_cstring(c, method) < 0 ||
	    wire_write_strings(c, refs ? refs : &none) < 0 ||
	    wire_write_u64(c, 0) < 0)
		return -1;
	if (payload(cl, ctx) < 0 || frame_write_end(c) < 0)
		return -1;
	if (process_stderr(cl) < 0)
		return -1;
	r = wire_read_cstring(c, 4096, &pi.path);
	if (r == 0)
		r = read_path_info(cl, &pi);
	if (r == 0)
		*path = xstrdup(pi.path);
	path_info_free(&pi);
	return r;
}

struct memdata {
	const void *p;
	size_t n;
};

static int
send_mem(struct client *cl, void *ctx)
{
	struct memdata *m = ctx;
	const char *p = m->p;
	size_t off, k;

	for (off = 0; off < m->n; off += k) {
		k = m->n - off < 32768 ? m->n - off : 32768;
		if (frame_write(&cl->conn, p + off, k) < 0)
			return -1;
	}
	return 0;
}

int
client_add_text(struct client *cl, const char *name, const void *text,
    size_t len, const struct strv *refs, char **path)
{
	struct memdata m = { text, len };

	return add_to_store(cl, name, "text:sha256", refs, send_mem, &m,
	    path);
}

/* A file or tree to send, and the sha256 of what was sent. */
struct upload {
	const char *file;
	struct client *cl;
	struct hash_ctx *hc;
};

static int
hashed_write(void *ctx, const void *p, size_t n)
{
	struct upload *u = ctx;

	hash_ctx_update(u->hc, p, n);
	return frame_write(&u->cl->conn, p, n);
}

static int
send_nar(struct client *cl, void *ctx)
{
	return nar_dump(((struct upload *)ctx)->file, hashed_write, ctx);
}

/* The file's bytes, read and sent 32 KiB at a time, as send_mem sends. */
static int
send_flat(struct client *cl, void *ctx)
{
	struct upload *u = ctx;
	char chunk[32768];
	struct stat st;
	ssize_t n;
	int fd, r = 0;

	/* Flat ingestion reads one regular file; refuse anything else. */
	fd = open(u->file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP)	/* a symlink */
		return frx_seterr("%s: not a regular file", u->file);
	if (fd < 0)
		return frx_seterr_errno("%s", u->file);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return frx_seterr("%s: not a regular file", u->file);
	}
	while (r == 0 && (n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		r = n < 0 ? frx_seterr_errno("%s: cannot read", u->file) :
		    hashed_write(u, chunk, (size_t)n);
	}
	close(fd);
	return r;
}

int
client_add_path(struct client *cl, const char *name, const char *file,
    int recursive, char **path, struct hash *sent)
{
	struct upload u = { file, cl, hash_ctx_new(HASH_SHA256) };
	struct hash h;
	int r;

	r = add_to_store(cl, name,
	    recursive ? "fixed:r:sha256" : "fixed:sha256", NULL,
	    recursive ? send_nar : send_flat, &u, path);
	hash_ctx_final(u.hc, &h);
	if (r == 0 && sent != NULL)
		*sent = h;
	return r;
}

int
client_build(struct client *cl, const struct strv *items, int mode)
{
	uint64_t v;

	if (wire_write_u64(&cl->conn, OP_BUILD_PATHS) < 0 ||
	    wire_write_strings(&cl->conn, items) < 0 ||
	    wire_write_u64(&cl->conn, mode) < 0 ||
	    process_stderr(cl) < 0 ||
	    wire_read_u64(&cl->conn, &v) < 0)
		return -1;
	return 0;
}

int
client_drv_outputs(struct client *cl, const char *drv, struct strv *names,
    struct strv *paths)
{
	uint64_t n, i;
	char *s;

	if (start_op(cl, OP_QUERY_DERIVATION_OUTPUT_MAP, drv) < 0 ||
	    wire_read_u64(&cl->conn, &n) < 0)
		return -1;
	if (n > 4096)
		return frx_seterr("protocol: too many outputs");
	for (i = 0; i < n; i++) {
		if (wire_read_cstring(&cl->conn, 4096, &s) < 0)
			return -1;
		strv_addn(names, s);
		if (wire_read_cstring(&cl->conn, 4096, &s) < 0)
			return -1;
		strv_addn(paths, s);
	}
	return 0;
}

int
client_build_record(struct client *cl, const char *drv, char **text)
{
	if (start_op(cl, OP_FRX_QUERY_BUILD_RECORD, drv) < 0)
		return -1;
	return wire_read_string(&cl->conn, 1 << 20, text, NULL);
}
