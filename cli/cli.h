/*
 * cli.h: the pieces of the frx command.  eval.c runs a package file
 * through Guile and hands back plain data (struct pkg); lower.c turns
 * that into derivations (struct lowered) and adds them to the store;
 * main.c and the cmd-*.c files are the commands.
 *
 * Exit statuses are shared by every command.
 */
#ifndef FRX_CLI_H
#define FRX_CLI_H

#include "../lib/drv.h"
#include "../lib/util.h"
#include "../proto/client.h"

#define FRX_VERSION "0.1"

enum cli_exit {
	EXIT_OK = 0,
	EXIT_FAILED = 1,	/* the build or the store operation failed */
	EXIT_USAGE = 2,		/* bad usage, or the package file is wrong */
	EXIT_NODAEMON = 3,	/* the daemon cannot be reached */
};

/* Where things are: from the environment, then the command line. */
struct cli_env {
	const char *storedir;
	const char *statedir;
	const char *socket;	/* NULL: <statedir>/daemon-socket/socket */
	const char *datadir;
};

extern struct cli_env cli;

/* Print "frx: <message>" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Handle --store-dir, --state-dir and --socket; 1 if opt was one. */
int cli_common_option(int opt, const char *arg);
const char *cli_socket(void);
/* Connect to the daemon, or exit with EXIT_NODAEMON. */
void cli_connect(struct client *cl, const struct client_options *opts);

#define CLI_OPT_STORE_DIR 0x100
#define CLI_OPT_STATE_DIR 0x101
#define CLI_OPT_SOCKET 0x102
#define CLI_COMMON_LONGOPTS \
	{ "store-dir", required_argument, NULL, CLI_OPT_STORE_DIR }, \
	{ "state-dir", required_argument, NULL, CLI_OPT_STATE_DIR }, \
	{ "socket", required_argument, NULL, CLI_OPT_SOCKET }

/* A package as the Scheme side describes it (scheme/frx/packages.scm,
 * package->lowering). */
struct pkg {
	char *name;
	char *version;
	char *build_system;	/* "gnu" or "trivial" */
	char *builder;		/* trivial: the shell script */
	char *src_name;		/* origin file-name; NULL: no source */
	struct strv src_urls;
	char *src_sha256;	/* hash text, hex or Nix base32 */
	struct strv configure_flags;
	struct strv make_flags;
	int tests;
	char *test_target;
};

void pkg_free(struct pkg *p);

/* Evaluate a package file.  -1 with a message that starts with the file
 * name (and line, where known) on error. */
int eval_package_file(const char *file, struct pkg *p);

/* The derivations of one package, computed without the daemon. */
struct lowered {
	const char *storedir;
	struct drv src;		/* builtin:download fixed-output drv */
	char *src_drv_name;
	struct buf src_aterm;
	char *src_drv;
	char *src_out;
	char *script_name;	/* the builder script, a text path */
	struct buf script;
	char *script_path;
	struct drv bld;		/* the package build */
	char *bld_drv_name;
	struct buf bld_aterm;
	char *bld_drv;
	char *out;
};

int lower_package(const char *storedir, const char *datadir,
    const struct pkg *p, struct lowered *l);
/* Add the .drv files and the builder to the store; checks that the
 * daemon computed the same paths. */
int lower_add(struct client *cl, struct lowered *l);
void lowered_free(struct lowered *l);

int cmd_build(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_download(int argc, char **argv);
int cmd_store(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_path_info(int argc, char **argv);
int cmd_log(int argc, char **argv);

#endif
