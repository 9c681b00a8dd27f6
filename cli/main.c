/*
 * main.c: the frx command.  Settings come from the environment
 * (FRX_STORE_DIR, FRX_STATE_DIR, FRX_DAEMON_SOCKET, FRX_DATADIR) and
 * from --store-dir, --state-dir and --socket, before or after the
 * command name; then one command runs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifndef FRX_DATADIR
#define FRX_DATADIR "/usr/local/share/frx"
#endif

struct cli_env cli;

static char *socket_default;

static const struct {
	const char *name;
	int (*run)(int, char **);
} commands[] = {
	{ "build", cmd_build },
	{ "eval", cmd_eval },
	{ "download", cmd_download },
	{ "store", cmd_store },
	{ "record", cmd_record },
	{ "path-info", cmd_path_info },
	{ "log", cmd_log },
};

void
cli_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("frx: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cli_common_option(int opt, const char *arg)
{
	switch (opt) {
	case CLI_OPT_STORE_DIR:
		cli.storedir = arg;
		return 1;
	case CLI_OPT_STATE_DIR:
		cli.statedir = arg;
		return 1;
	case CLI_OPT_SOCKET:
		cli.socket = arg;
		return 1;
	}
	return 0;
}

const char *
cli_socket(void)
{
	if (cli.socket != NULL)
		return cli.socket;
	free(socket_default);
	socket_default = xasprintf("%s/daemon-socket/socket", cli.statedir);
	return socket_default;
}

void
cli_connect(struct client *cl, const struct client_options *opts)
{
	const char *sock = cli_socket();

	if (client_open(cl, sock, opts) < 0) {
		cli_warn("cannot reach the daemon: %s", frx_errmsg());
		exit(EXIT_NODAEMON);
	}
}

static const char *
env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : dflt;
}

static void
usage(int status)
{
	fputs("usage: frx [--store-dir DIR] [--state-dir DIR] "
	    "[--socket PATH] COMMAND ...\n"
	    "  frx build -f FILE [--record OUT] [--keep-failed] "
	    "[--timeout S]\n"
	    "            [--max-silent-time S] [--max-log-size BYTES] "
	    "[-n|--dry-run]\n"
	    "  frx eval -f FILE [--paths|--source]\n"
	    "  frx download FILE [NAME]\n"
	    "  frx store add-fixed [--recursive] sha256 FILE\n"
	    "  frx record DRV\n"
	    "  frx path-info PATH\n"
	    "  frx log PATH-OR-DRV\n", status == EXIT_OK ? stdout : stderr);
	exit(status);
}

/* Global options before the command name: "--opt VALUE" or
 * "--opt=VALUE".  Returns the index of the command name. */
static int
global_options(int argc, char **argv)
{
	static const char *names[] = { "--store-dir", "--state-dir",
	    "--socket" };
	int i, k;

	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		for (k = 0; k < 3; k++) {
			size_t n = strlen(names[k]);

			if (strncmp(argv[i], names[k], n) != 0)
				continue;
			if (argv[i][n] == '=') {
				cli_common_option(CLI_OPT_STORE_DIR + k,
				    argv[i] + n + 1);
				break;
			}
			if (argv[i][n] == '\0' && i + 1 < argc) {
				cli_common_option(CLI_OPT_STORE_DIR + k,
				    argv[++i]);
				break;
			}
		}
		if (k == 3)
			usage(EXIT_USAGE);
	}
	return i;
}

int
main(int argc, char **argv)
{
	size_t k;
	int i;

	hash_skip_openssl_config();	/* frx speaks no TLS */
	cli.storedir = env_or("FRX_STORE_DIR", "/frx/store");
	cli.statedir = env_or("FRX_STATE_DIR", "/frx/var");
	cli.socket = getenv("FRX_DAEMON_SOCKET");
	if (cli.socket != NULL && *cli.socket == '\0')
		cli.socket = NULL;
	cli.datadir = env_or("FRX_DATADIR", FRX_DATADIR);

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0))
		usage(EXIT_OK);
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("frx %s\n", FRX_VERSION);
		return EXIT_OK;
	}
	i = global_options(argc, argv);
	if (i >= argc)
		usage(EXIT_USAGE);
	for (k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(argv[i], commands[k].name) == 0)
			return commands[k].run(argc - i, argv + i);
	if (strcmp(argv[i], "help") == 0 || strcmp(argv[i], "--help") == 0)
		usage(EXIT_OK);
	cli_warn("%s: unknown command", argv[i]);
	usage(EXIT_USAGE);
	return EXIT_USAGE;
}
