/*
 * cmd-store.c: commands that talk to the store directly: `frx download'
 * and `frx store add-fixed' (seed a file as a fixed-output path),
 * `frx record' and `frx path-info'.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/hash.h"
#include "../lib/nar.h"
#include "../lib/store.h"
#include "cli.h"

static void
one_usage(const char *text)
{
	fprintf(stderr, "usage: %s\n", text);
	exit(EXIT_USAGE);
}

/* getopt over the common options only; returns optind. */
static int
common_args(int argc, char **argv, int *recursive, const char *usage)
{
	static const struct option longopts[] = {
		{ "recursive", no_argument, NULL, 'r' },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (cli_common_option(c, optarg))
			continue;
		if (c == 'r' && recursive != NULL)
			*recursive = 1;
		else
			one_usage(usage);
	}
	return optind;
}

static const char *
basename_of(const char *file)
{
	const char *s = strrchr(file, '/');

	return s != NULL && s[1] != '\0' ? s + 1 : file;
}

static int
add_fixed(const char *file, const char *name, int recursive)
{
	struct client_options opts = { 0 };
	struct client cl;
	struct stat st;
	struct hash sent;
	char *expect = NULL, *path = NULL;
	int status = EXIT_OK;

	if (store_check_name(name) < 0) {
		cli_warn("%s: %s", file, frx_errmsg());
		return EXIT_USAGE;
	}
	if (lstat(file, &st) < 0) {
		cli_warn("%s: %s", file, strerror(errno));
		return EXIT_FAILED;
	}
	memset(&cl, 0, sizeof(cl));
	cli_connect(&cl, &opts);
	/*
	 * The path the daemon must give follows from the bytes sent, hashed
	 * as they go: one pass over the file or tree, not one to hash it
	 * and another to send it.
	 */
	if (client_add_path(&cl, name, file, recursive, &path, &sent) < 0) {
		cli_warn("add: %s: %s", file, frx_errmsg());
		status = EXIT_FAILED;
	} else if ((expect = store_make_fixed_path(cli.storedir, name,
	    recursive, &sent, NULL, 0)) == NULL) {
		cli_warn("add: %s: %s", file, frx_errmsg());
		status = EXIT_FAILED;
	} else if (strcmp(path, expect) != 0) {
		cli_warn("add: %s: the daemon stored it as %s, expected %s",
		    file, path, expect);
		status = EXIT_FAILED;
	} else {
		printf("%s\n", path);
	}
	client_close(&cl);
	free(path);
	free(expect);
	return status;
}

int
cmd_download(int argc, char **argv)
{
	const char *u = "frx download FILE [NAME]";
	int i = common_args(argc, argv, NULL, u);

	if (argc - i < 1 || argc - i > 2)
		one_usage(u);
	return add_fixed(argv[i], argc - i == 2 ? argv[i + 1] :
	    basename_of(argv[i]), 0);
}

static int
store_add_fixed(int argc, char **argv)
{
	const char *u = "frx store add-fixed [--recursive] sha256 FILE";
	int recursive = 0;
	int i = common_args(argc, argv, &recursive, u);

	if (argc - i != 2)
		one_usage(u);
	if (strcmp(argv[i], "sha256") != 0) {
		cli_warn("store add-fixed: %s: only sha256 is supported",
		    argv[i]);
		return EXIT_USAGE;
	}
	return add_fixed(argv[i + 1], basename_of(argv[i + 1]), recursive);
}

int
cmd_store(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "add-fixed") == 0)
		return store_add_fixed(argc - 1, argv + 1);
	one_usage("frx store add-fixed [--recursive] sha256 FILE");
	return EXIT_USAGE;
}

int
cmd_record(int argc, char **argv)
{
	const char *u = "frx record DRV";
	struct client_options opts = { 0 };
	struct client cl;
	char *text = NULL;
	int i = common_args(argc, argv, NULL, u);
	int status = EXIT_OK;

	if (argc - i != 1)
		one_usage(u);
	memset(&cl, 0, sizeof(cl));
	cli_connect(&cl, &opts);
	if (client_build_record(&cl, argv[i], &text) < 0) {
		cli_warn("record: %s: %s", argv[i], frx_errmsg());
		status = EXIT_FAILED;
	} else if (text != NULL) {
		size_t n = strlen(text);

		fputs(text, stdout);
		if (n > 0 && text[n - 1] != '\n')
			putchar('\n');
	}
	client_close(&cl);
	free(text);
	return status;
}

static void
print_path_info(const struct path_info *pi)
{
	char *nar = hash_typed_base32(&pi->nar_hash);
	size_t k;

	printf("path=%s\n", pi->path != NULL ? pi->path : "");
	printf("deriver=%s\n", pi->deriver != NULL ? pi->deriver : "");
	printf("nar_hash=%s\n", nar);
	printf("nar_size=%" PRIu64 "\n", pi->nar_size);
	printf("registration_time=%" PRId64 "\n", pi->registration_time);
	printf("ca=%s\n", pi->ca != NULL ? pi->ca : "");
	printf("references=");
	for (k = 0; k < pi->refs.n; k++)
		printf("%s%s", k > 0 ? " " : "", pi->refs.v[k]);
	printf("\n");
	free(nar);
}

int
cmd_path_info(int argc, char **argv)
{
	const char *u = "frx path-info PATH";
	struct client_options opts = { 0 };
	struct path_info pi;
	struct client cl;
	int i = common_args(argc, argv, NULL, u);
	int r;

	if (argc - i != 1)
		one_usage(u);
	memset(&cl, 0, sizeof(cl));
	memset(&pi, 0, sizeof(pi));
	cli_connect(&cl, &opts);
	r = client_query_path_info(&cl, argv[i], &pi);
	if (r < 0)
		cli_warn("path-info: %s: %s", argv[i], frx_errmsg());
	else if (r == 0)
		cli_warn("path-info: %s: not a valid store path", argv[i]);
	else {
		if (pi.path == NULL)
			pi.path = xstrdup(argv[i]);
		print_path_info(&pi);
		path_info_free(&pi);
	}
	client_close(&cl);
	return r == 1 ? EXIT_OK : EXIT_FAILED;
}
