/*
 * wire.c: worker-protocol primitives over a buffered descriptor.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wire.h"

void
conn_init(struct conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
}

static int
conn_fail(struct conn *c)
{
	c->failed = 1;
	return -1;
}

int
conn_flush(struct conn *c)
{
	if (c->failed)
		return frx_seterr("connection: unusable after an earlier error");
	if (c->wlen == 0)
		return 0;
	if (write_full(c->fd, c->wbuf, c->wlen) < 0) {
		frx_seterr_errno("connection: write");
		return conn_fail(c);
	}
	c->wlen = 0;
	return 0;
}

int
wire_write(struct conn *c, const void *p, size_t n)
{
	const unsigned char *s = p;

	if (c->failed)
		return frx_seterr("connection: unusable after an earlier error");
	if (n >= sizeof(c->wbuf)) {
		if (conn_flush(c) < 0)
			return -1;
		if (write_full(c->fd, s, n) < 0) {
			frx_seterr_errno("connection: write");
			return conn_fail(c);
		}
		return 0;
	}
	if (c->wlen + n > sizeof(c->wbuf) && conn_flush(c) < 0)
		return -1;
	memcpy(c->wbuf + c->wlen, s, n);
	c->wlen += n;
	return 0;
}

static int
conn_fill(struct conn *c)
{
	ssize_t r;

	do
		r = read(c->fd, c->rbuf, sizeof(c->rbuf));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		frx_seterr_errno("connection: read");
		return conn_fail(c);
	}
	if (r == 0) {
		frx_seterr("connection: closed by peer");
		return conn_fail(c);
	}
	c->rpos = 0;
	c->rlen = (size_t)r;
	return 0;
}

int
wire_read(struct conn *c, void *p, size_t n)
{
	unsigned char *d = p;
	size_t k;

	if (c->failed)
		return frx_seterr("connection: unusable after an earlier error");
	while (n > 0) {
		if (c->rpos == c->rlen) {
			/* Large reads go straight to the caller's buffer. */
			if (n >= sizeof(c->rbuf)) {
				if (read_full(c->fd, d, n) < 0) {
					if (errno)
						frx_seterr_errno("connection: read");
					else
						frx_seterr("connection: closed by peer");
					return conn_fail(c);
				}
				return 0;
			}
			if (conn_fill(c) < 0)
				return -1;
		}
		k = c->rlen - c->rpos;
		if (k > n)
			k = n;
		memcpy(d, c->rbuf + c->rpos, k);
		c->rpos += k;
		d += k;
		n -= k;
	}
	return 0;
}

int
wire_read_u64(struct conn *c, uint64_t *v)
{
	unsigned char b[8];
	uint64_t x = 0;
	int i;

	if (wire_read(c, b, 8) < 0)
		return -1;
	for (i = 7; i >= 0; i--)
		x = x << 8 | b[i];
	*v = x;
	return 0;
}

int
wire_write_u64(struct conn *c, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < 8; i++) {
		b[i] = v & 0xff;
		v >>= 8;
	}
	return wire_write(c, b, 8);
}

static int
read_padding(struct conn *c, size_t n)
{
	unsigned char pad[8];
	size_t k = (8 - n % 8) % 8, i;

	if (k == 0)
		return 0;
	if (wire_read(c, pad, k) < 0)
		return -1;
	for (i = 0; i < k; i++)
		if (pad[i] != 0) {
			frx_seterr("protocol: non-zero padding");
			return conn_fail(c);
		}
	return 0;
}

int
wire_read_string(struct conn *c, size_t max, char **s, size_t *len)
{
	uint64_t n;
	char *p;

	if (wire_read_u64(c, &n) < 0)
		return -1;
	if (n > max) {
		frx_seterr("protocol: string of %llu bytes exceeds the limit "
		    "of %zu", (unsigned long long)n, max);
		return conn_fail(c);
	}
	p = xmalloc((size_t)n + 1);
	if (wire_read(c, p, (size_t)n) < 0 || read_padding(c, (size_t)n) < 0) {
		free(p);
		return -1;
	}
	p[n] = '\0';
	*s = p;
	if (len)
		*len = (size_t)n;
	return 0;
}

int
wire_read_cstring(struct conn *c, size_t max, char **s)
{
	size_t len;

	if (wire_read_string(c, max, s, &len) < 0)
		return -1;
	if (strlen(*s) != len) {
		free(*s);
		*s = NULL;
		frx_seterr("protocol: unexpected NUL byte in a string");
		return conn_fail(c);
	}
	return 0;
}

int
wire_write_string(struct conn *c, const void *p, size_t n)
{
	static const unsigned char zero[8];

	if (wire_write_u64(c, n) < 0 || wire_write(c, p, n) < 0)
		return -1;
	return wire_write(c, zero, (8 - n % 8) % 8);
}

int
wire_write_cstring(struct conn *c, const char *s)
{
	return wire_write_string(c, s, strlen(s));
}

int
wire_read_strings(struct conn *c, struct strv *out)
{
	uint64_t n, i;
	char *s;

	if (wire_read_u64(c, &n) < 0)
		return -1;
	if (n > WIRE_LIST_MAX) {
		frx_seterr("protocol: list of %llu items exceeds the limit",
		    (unsigned long long)n);
		return conn_fail(c);
	}
	for (i = 0; i < n; i++) {
		if (wire_read_cstring(c, 1 << 20, &s) < 0)
			return -1;
		strv_addn(out, s);
	}
	return 0;
}

int
wire_write_strings(struct conn *c, const struct strv *s)
{
	size_t i;

	if (wire_write_u64(c, s->n) < 0)
		return -1;
	for (i = 0; i < s->n; i++)
		if (wire_write_cstring(c, s->v[i]) < 0)
			return -1;
	return 0;
}

void
frame_reader_init(struct frame_reader *fr, struct conn *c)
{
	fr->c = c;
	fr->left = 0;
	fr->done = 0;
}

/* Move to the next non-empty frame; 1 if there is one, 0 at the end. */
static int
frame_next(struct frame_reader *fr)
{
	while (fr->left == 0 && !fr->done) {
		if (wire_read_u64(fr->c, &fr->left) < 0)
			return -1;
		if (fr->left == 0)
			fr->done = 1;
	}
	return !fr->done || fr->left > 0;
}

int
frame_read(void *ctx, void *p, size_t n)
{
	struct frame_reader *fr = ctx;
	unsigned char *d = p;
	size_t k;
	int r;

	while (n > 0) {
		if ((r = frame_next(fr)) < 0)
			return -1;
		if (r == 0)
			return frx_seterr("protocol: framed data ended early");
		k = fr->left < n ? (size_t)fr->left : n;
		if (wire_read(fr->c, d, k) < 0)
			return -1;
		fr->left -= k;
		d += k;
		n -= k;
	}
	return 0;
}

int
frame_drain(struct frame_reader *fr)
{
	return frame_read_to_fd(fr, -1);
}

int
frame_read_to_fd(struct frame_reader *fr, int fd)
{
	unsigned char tmp[65536];
	size_t k;
	int r, failed = 0;

	for (;;) {
		if ((r = frame_next(fr)) < 0)
			return -1;
		if (r == 0)
			break;
		k = fr->left < sizeof(tmp) ? (size_t)fr->left : sizeof(tmp);
		if (wire_read(fr->c, tmp, k) < 0)
			return -1;
		fr->left -= k;
		/* After a failed write the rest is still read: the stream
		 * stays in step for the error message. */
		if (fd >= 0 && !failed && write_full(fd, tmp, k) < 0)
			failed = errno ? errno : EIO;
	}
	if (failed) {
		errno = failed;
		return frx_seterr_errno("cannot write the upload");
	}
	return 0;
}

int
frame_write(void *ctx, const void *p, size_t n)
{
	struct conn *c = ctx;

	if (n == 0)
		return 0;
	if (wire_write_u64(c, n) < 0)
		return -1;
	return wire_write(c, p, n);
}

int
frame_write_end(struct conn *c)
{
	return wire_write_u64(c, 0);
}

int
conn_source(void *ctx, void *p, size_t n)
{
	return wire_read(ctx, p, n);
}

int
conn_sink(void *ctx, const void *p, size_t n)
{
	return wire_write(ctx, p, n);
}

const char *
wire_op_name(uint64_t op)
{
	static const char *names[] = {
		[1] = "IsValidPath", [3] = "HasSubstitutes",
		[4] = "QueryPathHash", [5] = "QueryReferences",
		[6] = "QueryReferrers", [7] = "AddToStore",
		[8] = "AddTextToStore", [9] = "BuildPaths",
		[10] = "EnsurePath", [11] = "AddTempRoot",
		[12] = "AddIndirectRoot", [13] = "SyncWithGC",
		[14] = "FindRoots", [16] = "ExportPath",
		[18] = "QueryDeriver", [19] = "SetOptions",
		[20] = "CollectGarbage", [21] = "QuerySubstitutablePathInfo",
		[22] = "QueryDerivationOutputs", [23] = "QueryAllValidPaths",
		[24] = "QueryFailedPaths", [25] = "ClearFailedPaths",
		[26] = "QueryPathInfo", [27] = "ImportPaths",
		[28] = "QueryDerivationOutputNames",
		[29] = "QueryPathFromHashPart",
		[30] = "QuerySubstitutablePathInfos", [31] = "QueryValidPaths",
		[32] = "QuerySubstitutablePaths", [33] = "QueryValidDerivers",
		[34] = "OptimiseStore", [35] = "VerifyStore",
		[36] = "BuildDerivation", [37] = "AddSignatures",
		[38] = "NarFromPath", [39] = "AddToStoreNar",
		[40] = "QueryMissing", [41] = "QueryDerivationOutputMap",
		[42] = "RegisterDrvOutput", [43] = "QueryRealisation",
		[44] = "AddMultipleToStore", [45] = "AddBuildLog",
		[46] = "BuildPathsWithResults",
	};

	if (op < sizeof(names) / sizeof(names[0]) && names[op])
		return names[op];
	return NULL;
}
