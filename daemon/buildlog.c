/*
 * buildlog.c: build logs, compressed with bzip2 while the build runs,
 * where Nix keeps them: <state>/log/drvs/<2 chars>/<rest>.bz2, the two
 * characters and the rest being the derivation's base name.  So
 * `nix-store --read-log` (with NIX_LOG_DIR=<state>/log) reads them as
 * well as `frx log` does.  A log cut short by a crash is a truncated
 * bzip2 stream: what was compressed so far can still be read.
 *
 * The compressor starts with the log's first byte.  Most builds of a
 * large graph print nothing, and the compressor's megabyte of tables,
 * new memory in every runner, costs more than such a build's sandbox
 * does; an empty log is the empty stream, written as it is.
 */
#include <bzlib.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"

/* A small block: the compressor's memory is 400 kB + 8 x 100 kB per
 * block-size step, for every build running at once. */
#define LOG_BLOCK_100K 1

/* What BZ2_bzCompress makes of no input at LOG_BLOCK_100K: "BZh1", the
 * end-of-stream magic and a combined CRC of 0 (test-concurrency.py
 * compares the two). */
static const unsigned char empty_stream[] = {
	0x42, 0x5a, 0x68, 0x31, 0x17, 0x72, 0x45, 0x38, 0x50, 0x90,
	0x00, 0x00, 0x00, 0x00
};

struct buildlog {
	bz_stream z;
	int fd;
	int started;		/* the compressor has been set up */
	int failed;
	char *path;
	char out[16384];
};

char *
buildlog_path(const char *drvpath)
{
	const char *base = strrchr(drvpath, '/');

	base = base ? base + 1 : drvpath;
	return xasprintf("%s/log/drvs/%.2s/%s.bz2", cfg.statedir, base,
	    strlen(base) > 2 ? base + 2 : "");
}

static int
open_log_file(const char *path)
{
	char *dir, *slash;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	/* The first log under this prefix: make its directory. */
	dir = xstrdup(path);
	slash = strrchr(dir, '/');
	*slash = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		(void)mkdirs(dir, 0755);
	free(dir);
	return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
}

struct buildlog *
buildlog_open(const char *drvpath)
{
	struct buildlog *l = xcalloc(1, sizeof(*l));

	l->path = buildlog_path(drvpath);
	l->fd = open_log_file(l->path);
	if (l->fd < 0) {
		frx_seterr_errno("%s: cannot create", l->path);
		free(l->path);
		free(l);
		return NULL;
	}
	return l;
}

/* Run the compressor with action until it has taken all input (and, for
 * BZ_FINISH, ended the stream), writing what it produces. */
static void
pump(struct buildlog *l, int action)
{
	int r;

	do {
		l->z.next_out = l->out;
		l->z.avail_out = sizeof(l->out);
		r = BZ2_bzCompress(&l->z, action);
		if (r < 0) {
			l->failed = 1;
			errno = EIO;
			return;
		}
		if (!l->failed && write_full(l->fd, l->out,
		    sizeof(l->out) - l->z.avail_out) < 0)
			l->failed = 1;
	} while (action == BZ_FINISH ? r != BZ_STREAM_END :
	    l->z.avail_in > 0);
}

void
buildlog_write(struct buildlog *l, const void *p, size_t n)
{
	if (l == NULL || n == 0 || l->failed)
		return;
	if (!l->started) {
		if (BZ2_bzCompressInit(&l->z, LOG_BLOCK_100K, 0, 0) != BZ_OK) {
			/* Out of memory; buildlog_close says so. */
			l->failed = 1;
			errno = ENOMEM;
			return;
		}
		l->started = 1;
	}
	/* bzip2 counts in unsigned int; a pipe read is far smaller. */
	l->z.next_in = (char *)p;
	l->z.avail_in = (unsigned int)n;
	pump(l, BZ_RUN);
}

int
buildlog_close(struct buildlog *l)
{
	int r = 0;

	if (l == NULL)
		return 0;
	if (l->started) {
		l->z.next_in = NULL;
		l->z.avail_in = 0;
		pump(l, BZ_FINISH);
		BZ2_bzCompressEnd(&l->z);
	} else if (!l->failed &&
	    write_full(l->fd, empty_stream, sizeof(empty_stream)) < 0) {
		l->failed = 1;
	}
	if (l->failed)
		r = frx_seterr_errno("%s: cannot write the log", l->path);
	if (close(l->fd) < 0 && r == 0)
		r = frx_seterr_errno("%s: cannot write the log", l->path);
	free(l->path);
	free(l);
	return r;
}
