/*
 * main.c: frx-daemon start-up: options, state directories, recovery after
 * a crash, and the listener, which keeps one spare session process
 * waiting for the next client.
 */
#ifdef __linux__
#define _GNU_SOURCE	/* vasprintf */
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/hash.h"
#include "../sandbox/sandbox.h"
#include "daemon.h"

struct config cfg;

static volatile sig_atomic_t quit;

void
dlog(const char *level, const char *fmt, ...)
{
	char msg[4096], ts[32], *full;
	struct tm tm;
	time_t t = time(NULL);
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&full, fmt, ap) < 0) {
		va_end(ap);
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
	} else {
		frx_fit(msg, sizeof(msg), full);
		free(full);
	}
	va_end(ap);
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s frx-daemon[%ld]: %s: %s\n", ts, (long)getpid(),
	    level, msg);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: frx-daemon [--store-dir DIR] [--state-dir DIR] "
	    "[--socket PATH]\n"
	    "                  [--max-jobs N] [--cores N] [--timeout S] "
	    "[--max-silent-time S]\n"
	    "                  [--max-log-size BYTES] "
	    "[--keep-failed] [--build-roots-on-disk]\n"
	    "                  [--build-users-base UID] [--build-group GID] "
	    "[--user-pool DIR]\n"
	    "                  [--host-path PATH]...\n");
	exit(100);
}

/* A size in bytes, 0 meaning none; a bad one is a usage error. */
static unsigned long long
parse_bytes(const char *opt, const char *s)
{
	unsigned long long v;

	if (parse_decimal(s, &v) < 0) {
		fprintf(stderr, "frx-daemon: %s: %s is not a number of bytes\n",
		    opt, s);
		exit(100);
	}
	return v;
}

static int
parse_int(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end || v < min || v > max) {
		fprintf(stderr, "frx-daemon: %s: invalid number '%s'\n", opt, s);
		exit(100);
	}
	return (int)v;
}

static char *
env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return xstrdup(v && *v ? v : def);
}

static void
default_host_paths(void)
{
	static const char *paths[] = {
		"/bin", "/usr", "/lib", "/lib64", "/lib32", "/libx32",
		"/sbin", "/libexec", "/etc/alternatives", NULL,
	};
	int i;

	for (i = 0; paths[i]; i++)
		strv_add(&cfg.host_paths, paths[i]);
}

static void
parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store-dir", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "socket", required_argument, NULL, 'l' },
		{ "max-jobs", required_argument, NULL, 'j' },
		{ "cores", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "max-silent-time", required_argument, NULL, 'm' },
		{ "max-log-size", required_argument, NULL, 'L' },
		{ "build-users-base", required_argument, NULL, 'u' },
		{ "build-group", required_argument, NULL, 'g' },
		{ "user-pool", required_argument, NULL, 'P' },
		{ "build-roots-on-disk", no_argument, NULL, 'D' },
		{ "keep-failed", no_argument, NULL, 'K' },
		{ "host-path", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct utsname un;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int c, i;

	cfg.storedir = env_or("FRX_STORE_DIR", "/frx/store");
	cfg.statedir = env_or("FRX_STATE_DIR", "/frx/var");
	cfg.socket = NULL;
	cfg.max_jobs = ncpu > 0 ? (int)ncpu : 1;
	cfg.cores = 0;
	cfg.uid_base = 35001;
	cfg.userpool = xstrdup(FRX_USERPOOL);
	while ((c = getopt_long(argc, argv, "j:K", longopts, NULL)) != -1) {
		switch (c) {
		case 's': free(cfg.storedir); cfg.storedir = xstrdup(optarg);
			break;
		case 'S': free(cfg.statedir); cfg.statedir = xstrdup(optarg);
			break;
		case 'l': cfg.socket = xstrdup(optarg); break;
		case 'j': cfg.max_jobs = parse_int("--max-jobs", optarg, 1, 1024);
			break;
		case 'c': cfg.cores = parse_int("--cores", optarg, 0, 4096);
			break;
		case 't': cfg.timeout = parse_int("--timeout", optarg, 0,
			    1 << 30);
			break;
		case 'm': cfg.max_silent = parse_int("--max-silent-time",
			    optarg, 0, 1 << 30);
			break;
		case 'L': cfg.max_log = parse_bytes("--max-log-size", optarg);
			break;
		case 'u': cfg.uid_base = parse_int("--build-users-base",
			    optarg, 1000, 1 << 30);
			break;
		case 'g': cfg.build_gid = parse_int("--build-group", optarg,
			    1, 1 << 30);
			break;
		case 'P': free(cfg.userpool); cfg.userpool = xstrdup(optarg);
			break;
		case 'D': cfg.no_memory_roots = 1; break;
		case 'K': cfg.keep_failed = 1; break;
		case 'H': strv_add(&cfg.host_paths, optarg); break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (!cfg.socket) {
		const char *v = getenv("FRX_DAEMON_SOCKET");

		cfg.socket = v && *v ? xstrdup(v) :
		    xasprintf("%s/daemon-socket/socket", cfg.statedir);
	}
	if (cfg.host_paths.n == 0)
		default_host_paths();
	cfg.rootsdir = xasprintf("%s/roots", cfg.statedir);
	cfg.nusers = cfg.max_jobs;
	if (cfg.cores == 0)
		cfg.cores = ncpu > 0 ? (int)ncpu : 1;
	if (uname(&un) < 0) {
		fprintf(stderr, "frx-daemon: uname: %s\n", strerror(errno));
		exit(111);
	}
	cfg.system = xasprintf("%s-%s", un.machine, un.sysname);
	for (i = 0; cfg.system[i]; i++)
		if (cfg.system[i] >= 'A' && cfg.system[i] <= 'Z')
			cfg.system[i] += 'a' - 'A';
	if (strncmp(cfg.system, "amd64-", 6) == 0) {
		char *s = xasprintf("x86_64-%s", cfg.system + 6);

		free(cfg.system);
		cfg.system = s;
	}
}

static int
make_dir(const char *path, mode_t mode)
{
	if (mkdirs(path, mode) < 0)
		return -1;
	if (chmod(path, mode) < 0)
		return frx_seterr_errno("%s: chmod", path);
	return 0;
}

static int
setup_dirs(void)
{
	static const char *sub[] = {
		"db", "log", "log/drvs", "builds", "roots", "locks",
		"gcroots", "gcroots/auto", "temproots", "pending",
		NULL,
	};
	char *p, *sockdir, *slash;
	int i;

	if (cfg.storedir[0] != '/' || cfg.statedir[0] != '/')
		return frx_seterr("store and state directories must be "
		    "absolute paths");
	if (cfg.userpool[0] != '/')
		return frx_seterr("--user-pool must be an absolute path");
	if (make_dir(cfg.storedir, 0755) < 0 ||
	    make_dir(cfg.statedir, 0755) < 0 ||
	    make_dir(cfg.userpool, 0700) < 0)
		return -1;
	for (i = 0; sub[i]; i++) {
		p = xasprintf("%s/%s", cfg.statedir, sub[i]);
		/* builds: no one but root may reach into a build's
		 * directory (a builder could leave a socket there and hand
		 * descriptors to whoever connects). */
		if (make_dir(p, !strcmp(sub[i], "builds") ||
		    !strcmp(sub[i], "roots") ? 0700 : 0755) < 0) {
			free(p);
			return -1;
		}
		free(p);
	}
	sockdir = xstrdup(cfg.socket);
	slash = strrchr(sockdir, '/');
	if (slash && slash != sockdir) {
		*slash = '\0';
		if (mkdirs(sockdir, 0755) < 0) {
			free(sockdir);
			return -1;
		}
	}
	free(sockdir);
	return 0;
}

static int
listen_socket(void)
{
	struct sockaddr_un sa;
	int fd;

	if (strlen(cfg.socket) >= sizeof(sa.sun_path))
		return frx_seterr("%s: socket path too long", cfg.socket);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, cfg.socket);
	if (unlink(cfg.socket) < 0 && errno != ENOENT)
		return frx_seterr_errno("%s: unlink", cfg.socket);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return frx_seterr_errno("socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(cfg.socket, 0666) < 0 || listen(fd, 128) < 0) {
		frx_seterr_errno("%s: cannot listen", cfg.socket);
		close(fd);
		return -1;
	}
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

static void
on_quit(int sig)
{
	quit = sig;
}

/* Only to interrupt accept(2), so that ended sessions are reaped. */
static void
on_child(int sig)
{
	(void)sig;
}

/* Live session processes, so that a stopping daemon can end them. */
static pid_t *sessions;
static size_t nsessions, capsessions;

/*
 * One spare session waits in accept(2) with the database already open,
 * so that a client does not wait for a fork and a database open.  Once
 * it has a client it says so on spare_pipe, and the listener makes the
 * next spare; the listener itself never reads a client's bytes.
 */
#define SPARE_NICE 10
static pid_t spare = -1;
static int spare_pipe[2] = { -1, -1 };
static int spare_died;

static void
reap_sessions(void)
{
	pid_t pid;
	size_t i;

	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
		if (pid == spare) {
			spare = -1;
			spare_died = 1;
		}
		for (i = 0; i < nsessions; i++)
			if (sessions[i] == pid) {
				sessions[i] = sessions[--nsessions];
				break;
			}
	}
}

static void
add_session(pid_t pid)
{
	if (nsessions == capsessions) {
		capsessions = capsessions ? 2 * capsessions : 16;
		sessions = xrealloc(sessions, capsessions * sizeof(*sessions));
	}
	sessions[nsessions++] = pid;
}

static void __attribute__((noreturn))
spare_main(int lfd, pid_t listener)
{
	struct db *db;
	int fd, nice0, reniced, unwanted[2];

	close(spare_pipe[0]);
	/* A spare without a client dies with the listener: it would hold
	 * the daemon's lock, and a restart would wait for it forever. */
	if (compat_die_with_parent(SIGKILL) < 0 || getppid() != listener)
		_exit(1);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	/* Its runners' launcher, while the session is as small as it gets
	 * (launcher.c); at the priority builds run at. */
	unwanted[0] = lfd;
	unwanted[1] = spare_pipe[1];
	if (launcher_start(getpid(), unwanted, 2) < 0)
		dlog("warning", "%s; the session forks its runners itself",
		    frx_errmsg());
	/* Until it has a client, a spare yields to the sessions at work. */
	reniced = nice_lower(SPARE_NICE, &nice0);
	db = db_open(cfg.statedir);
	if (!db) {
		dlog("error", "%s", frx_errmsg());
		_exit(1);
	}
	while ((fd = accept(lfd, NULL, NULL)) < 0)
		if (errno != EINTR && errno != ECONNABORTED) {
			dlog("error", "accept: %s", strerror(errno));
			_exit(1);
		}
	if (reniced)
		(void)setpriority(PRIO_PROCESS, 0, nice0);
	/* Nothing to do if the listener is gone: we serve our client. */
	(void)compat_die_with_parent(0);
	(void)write(spare_pipe[1], "", 1);
	close(spare_pipe[1]);
	close(lfd);
	store_session_begin();
	session_run(fd, db);
	launcher_stop();
	job_reap_late(1);
	store_session_end();
	db_close(db);
	_exit(0);
}

static void
make_spare(int lfd)
{
	pid_t pid, listener = getpid();

	if (spare_died) {
		/* A spare that died before serving anyone: do not spin. */
		spare_died = 0;
		sleep(1);
	}
	pid = fork();
	if (pid < 0) {
		dlog("error", "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0)
		spare_main(lfd, listener);
	spare = pid;
	add_session(pid);
}

static void
accept_loop(int lfd)
{
	struct sigaction sa;
	struct pollfd pfd;
	char drain[64];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_quit;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_child;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	if (pipe(spare_pipe) < 0) {
		dlog("fatal", "pipe: %s", strerror(errno));
		return;
	}
	(void)fcntl(spare_pipe[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(spare_pipe[1], F_SETFD, FD_CLOEXEC);
	while (!quit) {
		reap_sessions();
		if (spare < 0)
			make_spare(lfd);
		pfd.fd = spare_pipe[0];
		pfd.events = POLLIN;
		if (poll(&pfd, 1, spare < 0 ? 1000 : -1) > 0 &&
		    read(spare_pipe[0], drain, sizeof(drain)) > 0)
			spare = -1;	/* it has a client now */
	}
	dlog("info", "stopping on signal %d", (int)quit);
	sandbox_stock_stop();
	/* Sessions get the signal too, so that their builds are torn down. */
	for (size_t i = 0; i < nsessions; i++)
		(void)kill(sessions[i], SIGTERM);
	while (wait(NULL) > 0 || errno == EINTR)
		;
}

/* Sandbox roots in a tmpfs of our own, unless told not to or unable. */
static void
roots_in_memory(void)
{
	if (cfg.no_memory_roots)
		return;
	if (compat_private_tmpfs(cfg.rootsdir) < 0) {
		dlog("warning", "sandbox roots stay on disk: %s",
		    frx_errmsg());
		return;
	}
	cfg.roots_in_memory = 1;
}

/* Strip trailing slashes: paths are computed from the store dir's text. */
static void
trim_slashes(char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
}

/*
 * Refuse at start-up what every build would refuse later: the mount plan
 * checks the store dir and the host tool view against each other and
 * against the directories the sandbox replaces (/tmp, /etc, /proc, /dev).
 */
static int
check_config(void)
{
	struct strv none = STRV_INIT;
	struct sandbox_plan plan = { NULL, 0 };
	struct plan_params pp;
	int r;

	trim_slashes(cfg.storedir);
	trim_slashes(cfg.statedir);
	memset(&pp, 0, sizeof(pp));
	pp.storedir = cfg.storedir;
	pp.host_paths = &cfg.host_paths;
	pp.inputs = &none;
	pp.outputs = &none;
	pp.uid = cfg.uid_base;
	pp.gid = cfg.uid_base;
	pp.hostname = "frx-build-check";
	pp.builddir = cfg.statedir;
	r = plan_make(&pp, &plan);
	plan_free(&plan);
	if (r < 0)
		return frx_preferr("invalid configuration");
	return 0;
}

/*
 * One daemon per state directory.  The lock is an flock(2) on a file
 * whose descriptor every session and runner inherits, so it is held
 * while any process of a daemon lives, not only its listener: a second
 * daemon, or a restart while the builds of a killed one still run, would
 * otherwise sweep up the directories of builds that are running.
 */
static int
lock_state(void)
{
	char *path = xasprintf("%s/daemon.lock", cfg.statedir), pid[32];
	struct buf old = BUF_INIT;
	int fd;

	fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0) {
		frx_seterr_errno("%s: open", path);
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		(void)read_file(path, &old);
		frx_seterr("%s: another frx-daemon (pid %s), or a build it "
		    "started, is still running with this state directory",
		    cfg.statedir, old.len ? old.data : "unknown");
		buf_free(&old);
		close(fd);
		free(path);
		return -1;
	}
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	if (ftruncate(fd, 0) < 0 || write_full(fd, pid, strlen(pid)) < 0)
		dlog("warning", "%s: %s", path, strerror(errno));
	free(path);
	return 0;	/* fd stays open for the daemon's whole life */
}

/*
 * The walks over a build's output (store.c) hold two or three
 * descriptors per directory level, down to NAR_DEPTH_MAX (1024) levels:
 * a soft limit of 1024 stopped them at about 330.  The daemon raises
 * its limit; builders get back the one it was started with.
 */
#define DAEMON_NOFILE 16384

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &cfg.nofile) < 0) {
		memset(&cfg.nofile, 0, sizeof(cfg.nofile));
		return;
	}
	/* RLIM_INFINITY is the largest rlim_t: it compares as it should. */
	rl = cfg.nofile;
	if (rl.rlim_cur >= DAEMON_NOFILE)
		return;
	rl.rlim_cur = DAEMON_NOFILE;
	if (rl.rlim_max < DAEMON_NOFILE)
		rl.rlim_max = DAEMON_NOFILE;	/* root may */
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		return;
	rl = cfg.nofile;
	rl.rlim_cur = rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < DAEMON_NOFILE)
		dlog("warning", "open files limited to %llu: outputs nested "
		    "deeper than about %llu directories will fail to enter "
		    "the store", (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_cur / 3);
}

/*
 * The daemon's arguments, where the kernel put them.  A runner blanks
 * its copy (daemon_retitle): its sandbox's init shares its memory, and
 * init's command line is readable by the builder, which already runs as
 * PID 2, until init execs frx-reaper.  Every option was copied out of
 * them (xstrdup) by then.
 */
static char *args_start;
static size_t args_len;

static void
note_args(int argc, char **argv)
{
	char *lo = NULL, *hi = NULL, *end;
	int i;

	for (i = 0; i < argc; i++) {
		end = argv[i] + strlen(argv[i]) + 1;
		if (lo == NULL || argv[i] < lo)
			lo = argv[i];
		if (hi == NULL || end > hi)
			hi = end;
	}
	args_start = lo;
	args_len = lo != NULL ? (size_t)(hi - lo) : 0;
}

void
daemon_retitle(const char *title)
{
	if (args_len < 2)
		return;
	memset(args_start, 0, args_len);
	memcpy(args_start, title, strnlen(title, args_len - 1));
}

int
main(int argc, char **argv)
{
	struct hash warm;
	struct db *db;
	int lfd;

	parse_args(argc, argv);
	note_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	umask(022);
	if (geteuid() != 0)
		dlog("warning", "not running as root: builds cannot drop to "
		    "build users and will fail");
	if (check_config() < 0 || setup_dirs() < 0 || lock_state() < 0) {
		dlog("fatal", "%s", frx_errmsg());
		return 111;
	}
	db = db_open(cfg.statedir);
	if (!db) {
		dlog("fatal", "%s", frx_errmsg());
		return 111;
	}
	if (store_recover(db) < 0)
		dlog("warning", "recovery: %s", frx_errmsg());
	db_close(db);
	roots_in_memory();
	raise_nofile();
	switch (sandbox_init()) {
	case -1:
		dlog("fatal", "%s", frx_errmsg());
		return 111;
	case 1:
		dlog("warning", "%s", frx_errmsg());
		break;
	}
	if (sandbox_stock_start() < 0)
		dlog("warning", "%s; each build makes its own network "
		    "namespace", frx_errmsg());
	lfd = listen_socket();
	if (lfd < 0) {
		dlog("fatal", "%s", frx_errmsg());
		return 111;
	}
	/* OpenSSL reads its configuration and sets up its providers on the
	 * first digest: once here, not in every session a client waits
	 * for (and every runner of a session that had not hashed yet). */
	hash_buf(HASH_SHA256, "", 0, &warm);
	dlog("info", "listening on %s; store %s, state %s, sandbox %s "
	    "(roots %s), %d build users from uid %ld", cfg.socket,
	    cfg.storedir, cfg.statedir, sandbox_mode(), cfg.roots_in_memory ?
	    "in memory" : "on disk", cfg.nusers, (long)cfg.uid_base);
	accept_loop(lfd);
	unlink(cfg.socket);
	return 0;
}
