/*
 * cmd-build.c: `frx build' and `frx eval', the two commands that start
 * from a package file.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct build_args {
	const char *file;
	const char *record;
	int dry_run;
	int paths;
	int source;
	struct client_options opts;
};

static int
seconds(const char *opt, const char *arg)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (*arg == '\0' || *end != '\0' || v < 0 || v > 86400 * 365) {
		cli_warn("%s: %s: not a number of seconds", opt, arg);
		exit(EXIT_USAGE);
	}
	return (int)v;
}

static unsigned long long
bytes(const char *opt, const char *arg)
{
	unsigned long long v;

	if (parse_decimal(arg, &v) < 0) {
		cli_warn("%s: %s: not a number of bytes", opt, arg);
		exit(EXIT_USAGE);
	}
	return v;
}

static void
build_usage(const char *cmd)
{
	if (strcmp(cmd, "eval") == 0)
		fputs("usage: frx eval -f FILE [--paths|--source]\n", stderr);
	else
		fputs("usage: frx build -f FILE [--record OUT] "
		    "[--keep-failed] [--timeout S]\n"
		    "                 [--max-silent-time S] [--max-log-size BYTES] "
		    "[-n|--dry-run]\n",
		    stderr);
	exit(EXIT_USAGE);
}

static void
parse_build_args(int argc, char **argv, struct build_args *a)
{
	static const struct option longopts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "record", required_argument, NULL, 'r' },
		{ "keep-failed", no_argument, NULL, 'K' },
		{ "timeout", required_argument, NULL, 't' },
		{ "max-silent-time", required_argument, NULL, 's' },
		{ "max-log-size", required_argument, NULL, 'L' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "paths", no_argument, NULL, 'p' },
		{ "source", no_argument, NULL, 'S' },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	a->opts.verbosity = 3;
	a->opts.max_jobs = 0;	/* the daemon decides */
	while ((c = getopt_long(argc, argv, "f:Kn", longopts, NULL)) != -1) {
		if (cli_common_option(c, optarg))
			continue;
		switch (c) {
		case 'f': a->file = optarg; break;
		case 'r': a->record = optarg; break;
		case 'K': a->opts.keep_failed = 1; break;
		case 't': a->opts.timeout = seconds("--timeout", optarg); break;
		case 's':
			a->opts.max_silent_time = seconds("--max-silent-time",
			    optarg);
			break;
		case 'L': a->opts.max_log_size = bytes("--max-log-size",
			    optarg);
			break;
		case 'n': a->dry_run = 1; break;
		case 'p': a->paths = 1; break;
		case 'S': a->source = 1; break;
		default: build_usage(argv[0]);
		}
	}
	if (a->file == NULL || optind != argc)
		build_usage(argv[0]);
}

/* Evaluate and lower, or exit with EXIT_USAGE. */
static void
load_and_lower(const char *file, struct lowered *l)
{
	struct pkg p;

	if (eval_package_file(file, &p) < 0) {
		cli_warn("eval: %s", frx_errmsg());
		exit(EXIT_USAGE);
	}
	if (lower_package(cli.storedir, cli.datadir, &p, l) < 0) {
		cli_warn("eval: %s: %s", file, frx_errmsg());
		exit(EXIT_USAGE);
	}
	pkg_free(&p);
}

int
cmd_eval(int argc, char **argv)
{
	struct build_args a;
	struct lowered l;

	parse_build_args(argc, argv, &a);
	load_and_lower(a.file, &l);
	if (a.paths)
		printf("drv_path=%s\nout_path=%s\nsource_drv_path=%s\n"
		    "source_store_path=%s\nbuilder_path=%s\n", l.bld_drv,
		    l.out, l.src_drv ? l.src_drv : "",
		    l.src_out ? l.src_out : "", l.script_path);
	else if (a.source)
		printf("%s\n", l.src_aterm.data);
	else
		printf("%s\n", l.bld_aterm.data);
	lowered_free(&l);
	return EXIT_OK;
}

static void
log_line(void *ctx, const char *line)
{
	fprintf(stderr, "%s\n", line);
	fflush(stderr);
}

/* Whether text already has a line "key=...". */
static int
has_key(const char *text, const char *key)
{
	size_t n = strlen(key);
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, n) == 0 && p[n] == '=')
			return 1;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return 0;
}

static void
add_key(struct buf *b, const char *key, const char *value)
{
	if (has_key(b->data, key))
		return;
	if (b->len > 0 && b->data[b->len - 1] != '\n')
		buf_addc(b, '\n');
	buf_printf(b, "%s=%s\n", key, value);
}

static int
write_record(struct client *cl, const struct lowered *l, const char *out)
{
	struct buf b = BUF_INIT;
	char *text = NULL;
	int r;

	if (client_build_record(cl, l->bld_drv, &text) < 0) {
		cli_warn("record: %s: %s", l->bld_drv, frx_errmsg());
		return -1;
	}
	buf_adds(&b, text != NULL ? text : "");
	free(text);
	add_key(&b, "drv_path", l->bld_drv);
	add_key(&b, "out_path", l->out);
	if (l->src_out != NULL)
		add_key(&b, "source_store_path", l->src_out);
	r = write_file(out, b.data, b.len, 0644);
	if (r < 0)
		cli_warn("record: %s", frx_errmsg());
	buf_free(&b);
	return r;
}

static int
build(struct client *cl, const struct build_args *a, struct lowered *l)
{
	struct strv items = STRV_INIT;
	int r;

	strv_addn(&items, xasprintf("%s!out", l->bld_drv));
	r = client_build(cl, &items, 0);
	strv_free(&items);
	if (r < 0) {
		cli_warn("build: %s: %s", l->bld_drv, frx_errmsg());
		if (a->record != NULL)
			(void)write_record(cl, l, a->record);
		return EXIT_FAILED;
	}
	if (a->record != NULL && write_record(cl, l, a->record) < 0)
		return EXIT_FAILED;
	printf("%s\n", l->out);
	return EXIT_OK;
}

int
cmd_build(int argc, char **argv)
{
	struct build_args a;
	struct lowered l;
	struct client cl;
	int status;

	parse_build_args(argc, argv, &a);
	load_and_lower(a.file, &l);
	memset(&cl, 0, sizeof(cl));
	cli_connect(&cl, &a.opts);
	cl.log = log_line;

	if (lower_add(&cl, &l) < 0) {
		cli_warn("build: %s", frx_errmsg());
		status = EXIT_FAILED;
	} else if (a.dry_run) {
		printf("%s\n", l.bld_drv);
		status = EXIT_OK;
	} else {
		status = build(&cl, &a, &l);
	}
	client_close(&cl);
	lowered_free(&l);
	return status;
}
