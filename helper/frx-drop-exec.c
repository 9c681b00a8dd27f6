/*
 * frx-drop-exec: run a command as a numeric build user.
 *
 *	frx-drop-exec UID GID -- COMMAND [ARG...]
 *
 * Root only.  Takes numeric ids only (no name lookups), refuses 0, closes
 * every descriptor above 2, clears the supplementary groups, sets the gid
 * and then the uid, checks the result, checks that root cannot be regained
 * and execs.  It never runs the command with privileges left over.
 *
 * Exit status: 100 bad usage, 111 a system call failed; otherwise that of
 * COMMAND.  See frx-drop-exec(8).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

#define PROG "frx-drop-exec"
#define EXIT_USAGE 100
#define EXIT_SYSTEM 111
#define GROUPS_MAX 64

static void
die(int code, const char *what, const char *reason)
{
	fprintf(stderr, PROG ": %s: %s\n", what, reason);
	exit(code);
}

static void
die_errno(const char *what)
{
	die(EXIT_SYSTEM, what, strerror(errno));
}

static void
usage(void)
{
	die(EXIT_USAGE, "usage", PROG " UID GID -- COMMAND [ARG...]");
}

static void
bad_id(const char *what, const char *s, const char *reason)
{
	char obj[64];

	snprintf(obj, sizeof(obj), "%s \"%.40s\"", what, s);
	die(EXIT_USAGE, obj, reason);
}

/* A decimal id: digits only, no sign or space, in range, not 0, not -1. */
static unsigned long
parse_id(const char *what, const char *s, unsigned long max)
{
	unsigned long v;
	const char *c;
	char *end;

	if (*s == '\0')
		bad_id(what, s, "empty");
	for (c = s; *c != '\0'; c++)
		if (*c < '0' || *c > '9')
			bad_id(what, s, "not a decimal number");
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v >= max)
		bad_id(what, s, "out of range");
	if (v == 0)
		bad_id(what, s, "refusing to run as root");
	return v;
}

/* Make sure 0, 1 and 2 are open, so nothing else lands on them. */
static void
open_stdio(void)
{
	int fd;

	for (fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		if (open("/dev/null", O_RDWR) != fd)
			die_errno("open /dev/null for a closed standard fd");
	}
}

#if !defined(__FreeBSD__) && !defined(__OpenBSD__) && !defined(__NetBSD__)
static int
close_from_proc(void)
{
	struct dirent *de;
	DIR *d;
	int dfd;

	d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		long fd = strtol(de->d_name, NULL, 10);

		if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && fd > 2 &&
		    fd != dfd && close((int)fd) < 0 && errno != EBADF)
			die_errno("close an inherited fd");
	}
	closedir(d);
	return 0;
}
#endif

static void
close_fds(void)
{
#if defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
	closefrom(3);
#else
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
		return;
#endif
	if (close_from_proc() < 0)
		die_errno("close inherited fds: open /proc/self/fd");
#endif
}

/* No supplementary groups, or where the system insists, only gid. */
static void
set_groups(gid_t gid)
{
	if (setgroups(0, NULL) == 0)
		return;
	if (setgroups(1, &gid) < 0)
		die_errno("setgroups");
}

static void
check_ids(uid_t uid, gid_t gid)
{
	gid_t groups[GROUPS_MAX];
	int n, i;

	if (getuid() != uid || geteuid() != uid)
		die(EXIT_SYSTEM, "check uid", "still not the build user");
	if (getgid() != gid || getegid() != gid)
		die(EXIT_SYSTEM, "check gid", "still not the build group");
	n = getgroups(GROUPS_MAX, groups);
	if (n < 0)
		die_errno("getgroups");
	for (i = 0; i < n; i++)
		if (groups[i] != gid)
			die(EXIT_SYSTEM, "check groups",
			    "a supplementary group is left");
	if (setuid(0) == 0 || seteuid(0) == 0)
		die(EXIT_SYSTEM, "check setuid(0)", "root can be regained");
	if (setgid(0) == 0)
		die(EXIT_SYSTEM, "check setgid(0)", "gid 0 can be regained");
}

int
main(int argc, char **argv)
{
	uid_t uid;
	gid_t gid;

	if (argc < 5 || strcmp(argv[3], "--") != 0)
		usage();
	uid = (uid_t)parse_id("uid", argv[1], (unsigned long)(uid_t)-1);
	gid = (gid_t)parse_id("gid", argv[2], (unsigned long)(gid_t)-1);

	open_stdio();
	close_fds();

	set_groups(gid);
	if (setgid(gid) < 0)
		die_errno("setgid");
	if (setuid(uid) < 0)
		die_errno("setuid");
	check_ids(uid, gid);

	execvp(argv[4], argv + 4);
	fprintf(stderr, PROG ": exec %s: %s\n", argv[4], strerror(errno));
	return EXIT_SYSTEM;
}
