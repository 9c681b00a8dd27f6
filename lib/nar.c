/*
 * nar.c: writing and reading NAR archives (PROTOCOL.md section 8).
 *
 * The writer walks the tree with openat/fstatat relative to directory
 * descriptors and never follows a symlink.  Small tokens are gathered in a
 * 64 KiB buffer; file contents are read in 64 KiB blocks and handed to the
 * sink without another copy, so hashing a NAR costs about as much as
 * hashing the bytes.
 *
 * The reader is strict: it accepts exactly what the writer produces.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nar.h"
#include "util.h"

#define NAR_BUFSZ 65536
#define NAR_NAME_MAX 255
#define NAR_TARGET_MAX 4095
#define NAR_TOKEN_MAX 16

static const char nar_magic[] = "nix-archive-1";

/* ------------------------------------------------------------------ */
/* Writer */

struct nar_writer {
	nar_sink_fn sink;
	nar_space_fn space;	/* NULL: the writer's own buffer */
	void *ctx;
	unsigned char *buf;
	size_t len, cap;
	unsigned char own[NAR_BUFSZ];
};

static int
w_flush(struct nar_writer *w)
{
	int r = 0;

	if (w->len > 0)
		r = w->sink(w->ctx, w->buf, w->len);
	w->len = 0;
	if (w->space != NULL)
		w->buf = w->space(w->ctx, &w->cap);
	return r;
}

static int
w_add(struct nar_writer *w, const void *p, size_t n)
{
	if (n > w->cap - w->len) {
		if (w_flush(w) < 0)
			return -1;
		if (n > w->cap) {
			int r = w->sink(w->ctx, p, n);

			/* The sink took them into the space it had lent. */
			if (w->space != NULL)
				w->buf = w->space(w->ctx, &w->cap);
			return r;
		}
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	return 0;
}

static int
w_u64(struct nar_writer *w, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return w_add(w, b, 8);
}

static int
w_pad(struct nar_writer *w, uint64_t n)
{
	static const unsigned char zero[8];

	if (n % 8 == 0)
		return 0;
	return w_add(w, zero, 8 - n % 8);
}

static int
w_bytes(struct nar_writer *w, const void *p, size_t n)
{
	if (w_u64(w, n) < 0 || w_add(w, p, n) < 0)
		return -1;
	return w_pad(w, n);
}

static int
w_str(struct nar_writer *w, const char *s)
{
	return w_bytes(w, s, strlen(s));
}

/* Several tokens in a row, NULL-terminated. */
static int
w_strs(struct nar_writer *w, const char *const *v)
{
	for (; *v != NULL; v++)
		if (w_str(w, *v) < 0)
			return -1;
	return 0;
}

static int
dump_contents(struct nar_writer *w, int fd, const char *path,
    uint64_t size)
{
	uint64_t left = size;
	size_t room;
	ssize_t r;

	if (w_u64(w, size) < 0)
		return -1;
	/* Read straight into the buffer the sink gets: no copy between. */
	while (left > 0) {
		if (w->len == w->cap && w_flush(w) < 0)
			return -1;
		room = w->cap - w->len;
		r = read(fd, w->buf + w->len, left < room ? (size_t)left : room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return frx_seterr_errno("%s: cannot read", path);
		if (r == 0)
			return frx_seterr("%s: file shrank while archiving",
			    path);
		w->len += (size_t)r;
		left -= (uint64_t)r;
	}
	return w_pad(w, size);
}

static int
dump_regular(struct nar_writer *w, int dfd, const char *name,
    const char *path)
{
	static const char *const head[] = { "(", "type", "regular", NULL };
	static const char *const exec[] = { "executable", "", NULL };
	struct stat st;
	int fd, r;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return frx_seterr_errno("%s: cannot open", path);
	if (fstat(fd, &st) < 0) {
		frx_seterr_errno("%s: cannot stat", path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return frx_seterr("%s: changed type while archiving", path);
	}
	r = w_strs(w, head);
	if (r == 0 && (st.st_mode & S_IXUSR))
		r = w_strs(w, exec);
	if (r == 0)
		r = w_str(w, "contents");
	if (r == 0)
		r = dump_contents(w, fd, path, (uint64_t)st.st_size);
	if (r == 0)
		r = w_str(w, ")");
	close(fd);
	return r;
}

static int
dump_symlink(struct nar_writer *w, int dfd, const char *name,
    const char *path, size_t hint)
{
	static const char *const head[] = { "(", "type", "symlink", "target",
	    NULL };
	size_t cap = hint + 1 < 256 ? 256 : hint + 1;
	char *target = NULL;
	ssize_t n;
	int r;

	for (;;) {
		target = xrealloc(target, cap);
		n = readlinkat(dfd, name, target, cap);
		if (n < 0) {
			free(target);
			return frx_seterr_errno("%s: cannot read link", path);
		}
		if ((size_t)n < cap)
			break;
		cap *= 2;
	}
	r = w_strs(w, head);
	if (r == 0)
		r = w_bytes(w, target, (size_t)n);
	if (r == 0)
		r = w_str(w, ")");
	free(target);
	return r;
}

static int dump_node(struct nar_writer *w, int dfd, const char *name,
    unsigned char type, const char *path);

static int
dump_entries(struct nar_writer *w, int fd, const char *path)
{
	static const char *const ent[] = { "entry", "(", "name", NULL };
	struct dir_entry *v = NULL;
	char *sub;
	DIR *d;
	size_t i, n = 0;
	int r = 0;

	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return frx_seterr_errno("%s: cannot read directory", path);
	}
	r = dir_read_entries(d, path, 1, &v, &n);
	for (i = 0; r == 0 && i < n; i++) {
		sub = xasprintf("%s/%s", path, v[i].name);
		r = w_strs(w, ent);
		if (r == 0)
			r = w_str(w, v[i].name);
		if (r == 0)
			r = w_str(w, "node");
		if (r == 0)
			r = dump_node(w, dirfd(d), v[i].name, v[i].type, sub);
		if (r == 0)
			r = w_str(w, ")");
		free(sub);
	}
	dir_entries_free(v, n);
	closedir(d);
	return r;
}

static int
dump_dir(struct nar_writer *w, int dfd, const char *name, const char *path)
{
	static const char *const head[] = { "(", "type", "directory", NULL };
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0)
		return frx_seterr_errno("%s: cannot open directory", path);
	if (w_strs(w, head) < 0) {
		close(fd);
		return -1;
	}
	if (dump_entries(w, fd, path) < 0)
		return -1;
	return w_str(w, ")");
}

/*
 * type is the entry's d_type: a regular file or a directory is opened
 * at once (without following a symlink) and checked with fstat, saving
 * a stat per file; the rest, and file systems that give DT_UNKNOWN, go
 * by lstat.
 */
static int
dump_node(struct nar_writer *w, int dfd, const char *name, unsigned char type,
    const char *path)
{
	struct stat st;

	if (type == DT_REG)
		return dump_regular(w, dfd, name, path);
	if (type == DT_DIR)
		return dump_dir(w, dfd, name, path);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return frx_seterr_errno("%s: cannot stat", path);
	if (S_ISREG(st.st_mode))
		return dump_regular(w, dfd, name, path);
	if (S_ISLNK(st.st_mode))
		return dump_symlink(w, dfd, name, path, (size_t)st.st_size);
	if (S_ISDIR(st.st_mode))
		return dump_dir(w, dfd, name, path);
	return frx_seterr("%s: file type cannot be archived", path);
}

int
nar_dump_lent(const char *path, nar_space_fn space, nar_sink_fn sink,
    void *ctx)
{
	struct nar_writer *w;
	int r;

	w = xmalloc(sizeof(*w));
	w->sink = sink;
	w->space = space;
	w->ctx = ctx;
	w->len = 0;
	if (space != NULL) {
		w->buf = space(ctx, &w->cap);
	} else {
		w->buf = w->own;
		w->cap = sizeof(w->own);
	}
	r = w_str(w, nar_magic);
	if (r == 0)
		r = dump_node(w, AT_FDCWD, path, DT_UNKNOWN, path);
	if (r == 0 && w->len > 0)
		r = w->sink(w->ctx, w->buf, w->len);
	free(w);
	return r;
}

int
nar_dump(const char *path, nar_sink_fn sink, void *ctx)
{
	return nar_dump_lent(path, NULL, sink, ctx);
}

struct hash_sink {
	struct hash_ctx *hc;
	uint64_t size;
};

static int
hash_sink(void *ctx, const void *p, size_t n)
{
	struct hash_sink *hs = ctx;

	hash_ctx_update(hs->hc, p, n);
	hs->size += n;
	return 0;
}

int
nar_hash_path(const char *path, struct hash *sha256, uint64_t *size)
{
	struct hash_sink hs;
	struct hash h;
	int r;

	hs.hc = hash_ctx_new(HASH_SHA256);
	hs.size = 0;
	r = nar_dump(path, hash_sink, &hs);
	hash_ctx_final(hs.hc, &h);
	if (r < 0)
		return -1;
	if (sha256 != NULL)
		*sha256 = h;
	if (size != NULL)
		*size = hs.size;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reader */

struct nar_reader {
	nar_source_fn src;
	void *ctx;
	nar_sink_fn copy;
	void *copyctx;
	struct hash_ctx *hc;
	uint64_t off;
	int create;
	int canonical;		/* make store objects (nar_restore_store) */
	int chown;		/* ... as root: 1 the top object, 2 all */
	struct buf path;	/* current object, for messages */
	unsigned char io[NAR_BUFSZ];
};

static int
r_err(struct nar_reader *r, const char *what)
{
	return frx_seterr("%s: bad NAR at offset %llu: %s",
	    r->path.len ? r->path.data : "NAR", (unsigned long long)r->off,
	    what);
}

static int
r_read(struct nar_reader *r, void *p, size_t n)
{
	if (r->src(r->ctx, p, n) < 0)
		return -1;
	if (r->hc != NULL)
		hash_ctx_update(r->hc, p, n);
	if (r->copy != NULL && r->copy(r->copyctx, p, n) < 0)
		return -1;
	r->off += n;
	return 0;
}

static int
r_u64(struct nar_reader *r, uint64_t *v)
{
	unsigned char b[8];
	int i;

	if (r_read(r, b, 8) < 0)
		return -1;
	*v = 0;
	for (i = 7; i >= 0; i--)
		*v = *v << 8 | b[i];
	return 0;
}

static int
r_pad(struct nar_reader *r, uint64_t n)
{
	unsigned char b[8];
	size_t k, i;

	if (n % 8 == 0)
		return 0;
	k = 8 - n % 8;
	if (r_read(r, b, k) < 0)
		return -1;
	for (i = 0; i < k; i++)
		if (b[i] != 0)
			return r_err(r, "non-zero padding");
	return 0;
}

/* Read a string of at most max bytes into s (NUL-terminated). */
static int
r_str(struct nar_reader *r, char *s, size_t max, size_t *lenp)
{
	uint64_t len;

	if (r_u64(r, &len) < 0)
		return -1;
	if (len > max)
		return r_err(r, "string too long");
	if (r_read(r, s, (size_t)len) < 0 || r_pad(r, len) < 0)
		return -1;
	s[len] = '\0';
	if (lenp != NULL)
		*lenp = (size_t)len;
	return 0;
}

/* A token read with its length is want: same length, same bytes (no
 * NUL inside it may pass for its end). */
static int
is_tok(const char *tok, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(tok, want, len) == 0;
}

static int
r_expect(struct nar_reader *r, const char *tok)
{
	char s[NAR_TOKEN_MAX + 1], what[64];
	size_t len;

	if (r_str(r, s, NAR_TOKEN_MAX, &len) < 0)
		return -1;
	if (!is_tok(s, len, tok)) {
		snprintf(what, sizeof(what), "expected \"%s\"", tok);
		return r_err(r, what);
	}
	return 0;
}

/* Copy len content bytes to fd (or nowhere when fd < 0). */
static int
r_contents(struct nar_reader *r, int fd, uint64_t len)
{
	uint64_t left = len;
	size_t n;

	while (left > 0) {
		n = left < NAR_BUFSZ ? (size_t)left : NAR_BUFSZ;
		if (r_read(r, r->io, n) < 0)
			return -1;
		if (fd >= 0 && write_full(fd, r->io, n) < 0)
			return frx_seterr_errno("%s: cannot write",
			    r->path.data);
		left -= n;
	}
	return r_pad(r, len);
}

/*
 * For nar_restore_store, as root: every object root's.  The top one may
 * have taken the group of a set-group-ID parent; below it the 0755 of
 * each directory has cleared that bit, so objects get root's group
 * unless the daemon runs with another (r->chown 2).  And every object
 * gets the store's time, 1 s after the epoch, as canonicalise_tree
 * gives them.
 */
static const struct timespec store_times[2] = { { 1, 0 }, { 1, 0 } };

static int
r_chowns(const struct nar_reader *r, int top)
{
	return r->chown == 2 || (r->chown == 1 && top);
}

static int
r_own(struct nar_reader *r, int fd, int top)
{
	return r_chowns(r, top) ? fchown(fd, 0, 0) : 0;
}

static int
r_stamp(struct nar_reader *r, int fd)
{
	return r->canonical ? futimens(fd, store_times) : 0;
}

static int
r_regular(struct nar_reader *r, int dfd, const char *name)
{
	char tok[NAR_TOKEN_MAX + 1];
	uint64_t len;
	size_t tlen;
	int exec = 0, fd = -1, rc;

	if (r_str(r, tok, NAR_TOKEN_MAX, &tlen) < 0)
		return -1;
	if (is_tok(tok, tlen, "executable")) {
		if (r_str(r, tok, NAR_TOKEN_MAX, &tlen) < 0)
			return -1;
		if (tlen != 0)
			return r_err(r, "bad executable marker");
		exec = 1;
		if (r_str(r, tok, NAR_TOKEN_MAX, &tlen) < 0)
			return -1;
	}
	if (!is_tok(tok, tlen, "contents"))
		return r_err(r, "expected \"contents\"");
	if (r->create) {
		/* A store object is read-only from the start: the mode
		 * counts only for later opens, not for this one. */
		mode_t mode = r->canonical ? (exec ? 0555 : 0444) :
		    (exec ? 0755 : 0644);

		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0)
			return frx_seterr_errno("%s: cannot create",
			    r->path.data);
		/* Whatever the umask. */
		if (fchmod(fd, mode) < 0 ||
		    r_own(r, fd, dfd == AT_FDCWD) < 0) {
			frx_seterr_errno("%s: cannot set mode or owner",
			    r->path.data);
			close(fd);
			return -1;
		}
	}
	rc = r_u64(r, &len);
	if (rc == 0)
		rc = r_contents(r, fd, len);
	if (rc == 0 && fd >= 0 && r_stamp(r, fd) < 0)
		rc = frx_seterr_errno("%s: cannot set times", r->path.data);
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = frx_seterr_errno("%s: cannot close", r->path.data);
	if (rc == 0)
		rc = r_expect(r, ")");
	return rc;
}

static int
r_symlink(struct nar_reader *r, int dfd, const char *name)
{
	char target[NAR_TARGET_MAX + 1];
	size_t len;

	if (r_expect(r, "target") < 0 ||
	    r_str(r, target, NAR_TARGET_MAX, &len) < 0)
		return -1;
	if (len == 0 || memchr(target, '\0', len) != NULL)
		return r_err(r, "bad symlink target");
	if (r->create && symlinkat(target, dfd, name) < 0)
		return frx_seterr_errno("%s: cannot create symlink",
		    r->path.data);
	if (r->create && r->canonical &&
	    ((r_chowns(r, dfd == AT_FDCWD) &&
	    fchownat(dfd, name, 0, 0, AT_SYMLINK_NOFOLLOW) < 0) ||
	    utimensat(dfd, name, store_times, AT_SYMLINK_NOFOLLOW) < 0))
		return frx_seterr_errno("%s: cannot set owner or times",
		    r->path.data);
	return r_expect(r, ")");
}

static int r_node(struct nar_reader *r, int dfd, const char *name,
    int depth);

static int
check_name(struct nar_reader *r, const char *name, size_t len,
    const char *prev)
{
	if (len == 0 || memchr(name, '\0', len) != NULL ||
	    memchr(name, '/', len) != NULL)
		return r_err(r, "bad entry name");
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return r_err(r, "entry name is \".\" or \"..\"");
	if (prev != NULL && strcmp(prev, name) >= 0)
		return r_err(r, "entry names unsorted or duplicated");
	return 0;
}

static int
r_entry(struct nar_reader *r, int fd, char *prev, int depth)
{
	char name[NAR_NAME_MAX + 1];
	size_t len, saved;
	int rc;

	if (r_expect(r, "(") < 0 || r_expect(r, "name") < 0 ||
	    r_str(r, name, NAR_NAME_MAX, &len) < 0)
		return -1;
	if (check_name(r, name, len, prev[0] ? prev : NULL) < 0)
		return -1;
	memcpy(prev, name, len + 1);
	if (r_expect(r, "node") < 0)
		return -1;
	saved = r->path.len;
	buf_addc(&r->path, '/');
	buf_adds(&r->path, name);
	rc = r_node(r, fd, name, depth + 1);
	r->path.len = saved;
	r->path.data[saved] = '\0';
	if (rc < 0)
		return -1;
	return r_expect(r, ")");
}

static int
r_directory(struct nar_reader *r, int dfd, const char *name, int depth)
{
	char prev[NAR_NAME_MAX + 1] = "";
	char tok[NAR_TOKEN_MAX + 1];
	size_t tlen;
	int fd = -1, rc = 0;

	if (r->create) {
		if (mkdirat(dfd, name, 0755) < 0)
			return frx_seterr_errno("%s: cannot create directory",
			    r->path.data);
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (fd < 0)
			return frx_seterr_errno("%s: cannot open directory",
			    r->path.data);
		/* Writable while its entries are made; no set-group-ID
		 * bit handed down from a parent. */
		if (fchmod(fd, 0755) < 0 ||
		    r_own(r, fd, dfd == AT_FDCWD) < 0)
			rc = frx_seterr_errno("%s: cannot set mode or owner",
			    r->path.data);
	}
	while (rc == 0) {
		rc = r_str(r, tok, NAR_TOKEN_MAX, &tlen);
		if (rc < 0 || is_tok(tok, tlen, ")"))
			break;
		if (!is_tok(tok, tlen, "entry"))
			rc = r_err(r, "expected \"entry\" or \")\"");
		else
			rc = r_entry(r, fd, prev, depth);
	}
	if (rc == 0 && fd >= 0 && r->canonical &&
	    (fchmod(fd, 0555) < 0 || r_stamp(r, fd) < 0))
		rc = frx_seterr_errno("%s: cannot make read-only",
		    r->path.data);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int
r_node(struct nar_reader *r, int dfd, const char *name, int depth)
{
	char tok[NAR_TOKEN_MAX + 1];
	size_t tlen;

	if (depth > NAR_DEPTH_MAX)
		return r_err(r, "directories nested too deeply");
	if (r_expect(r, "(") < 0 || r_expect(r, "type") < 0 ||
	    r_str(r, tok, NAR_TOKEN_MAX, &tlen) < 0)
		return -1;
	if (is_tok(tok, tlen, "regular"))
		return r_regular(r, dfd, name);
	if (is_tok(tok, tlen, "symlink"))
		return r_symlink(r, dfd, name);
	if (is_tok(tok, tlen, "directory"))
		return r_directory(r, dfd, name, depth);
	return r_err(r, "unknown node type");
}

static int
r_nar(struct nar_reader *r, const char *dest)
{
	if (r_expect(r, nar_magic) < 0)
		return -1;
	return r_node(r, AT_FDCWD, dest, 0);
}

static struct nar_reader *
reader_new(nar_source_fn src, void *ctx)
{
	struct nar_reader *r = xcalloc(1, sizeof(*r));

	r->src = src;
	r->ctx = ctx;
	return r;
}

static void
reader_free(struct nar_reader *r)
{
	buf_free(&r->path);
	free(r);
}

static int
restore(nar_source_fn src, void *ctx, const char *dest,
    struct hash *hash_out, uint64_t *size_out, int canonical)
{
	struct nar_reader *r = reader_new(src, ctx);
	struct stat st;
	struct hash h;
	int rc;

	if (lstat(dest, &st) == 0) {
		reader_free(r);
		return frx_seterr("%s: already exists", dest);
	}
	r->create = 1;
	r->canonical = canonical;
	if (canonical && geteuid() == 0)
		r->chown = getegid() != 0 ? 2 : 1;
	r->hc = hash_ctx_new(HASH_SHA256);
	buf_adds(&r->path, dest);
	rc = r_nar(r, dest);
	hash_ctx_final(r->hc, &h);
	if (rc < 0) {
		char msg[FRX_ERRMAX];

		memcpy(msg, frx_errmsg(), sizeof(msg));
		(void)remove_tree(dest);	/* best effort; report cause */
		frx_seterr("%s", msg);
	} else {
		if (hash_out != NULL)
			*hash_out = h;
		if (size_out != NULL)
			*size_out = r->off;
	}
	reader_free(r);
	return rc;
}

int
nar_restore(nar_source_fn src, void *ctx, const char *dest,
    struct hash *hash_out, uint64_t *size_out)
{
	return restore(src, ctx, dest, hash_out, size_out, 0);
}

int
nar_restore_store(nar_source_fn src, void *ctx, const char *dest,
    struct hash *hash_out, uint64_t *size_out)
{
	return restore(src, ctx, dest, hash_out, size_out, 1);
}

int
nar_skip(nar_source_fn src, void *ctx, nar_sink_fn copy, void *copyctx)
{
	struct nar_reader *r = reader_new(src, ctx);
	int rc;

	r->copy = copy;
	r->copyctx = copyctx;
	rc = r_nar(r, NULL);
	reader_free(r);
	return rc;
}

int
nar_membuf_read(void *ctx, void *p, size_t n)
{
	struct nar_membuf *m = ctx;

	if (n > m->len - m->off)
		return frx_seterr("NAR: unexpected end of data at offset %zu",
		    m->len);
	memcpy(p, m->p + m->off, n);
	m->off += n;
	return 0;
}

int
nar_buf_sink(void *ctx, const void *p, size_t n)
{
	buf_add(ctx, p, n);
	return 0;
}
