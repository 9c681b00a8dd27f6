/*
 * cmd-log.c: `frx log PATH-OR-DRV': print the build log of a derivation,
 * or of the derivation that built a store path.  The daemon keeps logs
 * where Nix does, bzip2-compressed: <state>/log/drvs/<2 chars>/<rest>.bz2.
 * A log cut short (the daemon was killed mid-build) prints what it holds,
 * with a warning.
 */
#include <bzlib.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/store.h"
#include "cli.h"

static const char *usage_text = "frx log PATH-OR-DRV";

static int
is_drv(const char *path)
{
	size_t n = strlen(path);

	return n > 4 && strcmp(path + n - 4, ".drv") == 0;
}

/* A store path, from the argument or from the symlink it names. */
static char *
store_path_of(const char *arg)
{
	char real[PATH_MAX];

	if (store_check_path(cli.storedir, arg) == 0)
		return xstrdup(arg);
	if (realpath(arg, real) != NULL &&
	    store_check_path(cli.storedir, real) == 0)
		return xstrdup(real);
	frx_seterr("%s: not a path in the store %s", arg, cli.storedir);
	return NULL;
}

/* The derivation whose log to show; NULL with a message. */
static char *
log_drv(const char *arg)
{
	struct client_options opts = { 0 };
	struct path_info pi;
	struct client cl;
	char *path, *drv = NULL;
	int r;

	if ((path = store_path_of(arg)) == NULL)
		return NULL;
	if (is_drv(path))
		return path;
	memset(&pi, 0, sizeof(pi));
	cli_connect(&cl, &opts);
	r = client_query_path_info(&cl, path, &pi);
	if (r < 0)
		frx_preferr("%s", path);
	else if (r == 0)
		frx_seterr("%s: not a valid store path", path);
	else if (pi.deriver == NULL || pi.deriver[0] == '\0')
		frx_seterr("%s: no derivation is known to have built it",
		    path);
	else
		drv = xstrdup(pi.deriver);
	path_info_free(&pi);
	client_close(&cl);
	free(path);
	return drv;
}

static int
write_out(const char *p, size_t n)
{
	if (n > 0 && fwrite(p, 1, n, stdout) != n)
		return frx_seterr_errno("stdout");
	return 0;
}

/* Decompress fd to stdout; 1 if the stream was cut short. */
static int
print_bz2(int fd, const char *path)
{
	static char in[65536], out[65536];
	bz_stream z;
	ssize_t n;
	int r = BZ_OK, rc = 0;

	memset(&z, 0, sizeof(z));
	if (BZ2_bzDecompressInit(&z, 0, 0) != BZ_OK)
		return frx_seterr("%s: cannot start bzip2", path);
	for (;;) {
		if (z.avail_in == 0) {
			n = read(fd, in, sizeof(in));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = frx_seterr_errno("%s: read", path);
				break;
			}
			if (n == 0) {
				rc = r == BZ_STREAM_END ? 0 : 1;
				break;
			}
			z.next_in = in;
			z.avail_in = (unsigned int)n;
		}
		if (r == BZ_STREAM_END) {
			/* Another stream follows (concatenated logs). */
			char *next = z.next_in;
			unsigned int avail = z.avail_in;

			BZ2_bzDecompressEnd(&z);
			memset(&z, 0, sizeof(z));
			if (BZ2_bzDecompressInit(&z, 0, 0) != BZ_OK) {
				rc = frx_seterr("%s: cannot restart bzip2",
				    path);
				break;
			}
			z.next_in = next;
			z.avail_in = avail;
		}
		z.next_out = out;
		z.avail_out = sizeof(out);
		r = BZ2_bzDecompress(&z);
		if (r != BZ_OK && r != BZ_STREAM_END) {
			rc = frx_seterr("%s: not a valid bzip2 log (error %d)",
			    path, r);
			break;
		}
		if (write_out(out, sizeof(out) - z.avail_out) < 0) {
			rc = -1;
			break;
		}
	}
	BZ2_bzDecompressEnd(&z);
	return rc;
}

static int
print_plain(int fd, const char *path)
{
	static char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return frx_seterr_errno("%s: read", path);
		if (write_out(buf, (size_t)n) < 0)
			return -1;
	}
	return 0;
}

/* The log of drv: the .bz2 file, or an uncompressed one of old. */
static int
print_log(const char *drv)
{
	const char *base = strrchr(drv, '/') + 1;
	char *bz = xasprintf("%s/log/drvs/%.2s/%s.bz2", cli.statedir, base,
	    base + 2);
	char *plain = xasprintf("%s/log/drvs/%.2s/%s", cli.statedir, base,
	    base + 2);
	int fd, r;

	if ((fd = open(bz, O_RDONLY | O_CLOEXEC)) >= 0) {
		r = print_bz2(fd, bz);
		if (r == 1)
			cli_warn("log: %s: the log ends early (was the build "
			    "interrupted?)", drv);
		r = r < 0 ? -1 : 0;
	} else if ((fd = open(plain, O_RDONLY | O_CLOEXEC)) >= 0) {
		r = print_plain(fd, plain);
	} else {
		r = frx_seterr("%s: no build log (looked for %s)", drv, bz);
	}
	if (fd >= 0)
		close(fd);
	if (fflush(stdout) != 0 && r == 0)
		r = frx_seterr_errno("stdout");
	free(bz);
	free(plain);
	return r;
}

int
cmd_log(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	char *drv;
	int c, r;

	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1)
		if (!cli_common_option(c, optarg)) {
			fprintf(stderr, "usage: %s\n", usage_text);
			return EXIT_USAGE;
		}
	if (argc - optind != 1) {
		fprintf(stderr, "usage: %s\n", usage_text);
		return EXIT_USAGE;
	}
	drv = log_drv(argv[optind]);
	if (drv == NULL) {
		cli_warn("log: %s", frx_errmsg());
		return EXIT_FAILED;
	}
	r = print_log(drv);
	if (r < 0)
		cli_warn("log: %s", frx_errmsg());
	free(drv);
	return r < 0 ? EXIT_FAILED : EXIT_OK;
}
