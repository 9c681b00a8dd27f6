/*
 * users.c: the build-user pool.  Build user i is uid cfg.uid_base + i,
 * with gid cfg.build_gid, or, by default, a gid equal to its uid: then
 * no two builds share a group either, and one cannot read what another
 * left group-readable.  There are cfg.nusers of them, as many as builds
 * may run at once.
 *
 * A session owns user i while it holds the fcntl lock on
 * <pool>/<uid>.  The pool directory is one for the whole host
 * (cfg.userpool, /run/frx/userpool by default), so a second daemon with
 * another state directory but an overlapping uid range takes the next
 * free user instead of running its build as one already in use.  The lock dies with the session process, but
 * the build's processes die with its PID namespace (or jail) a little
 * later, so the file also records "<pid> <start>" of the build's PID 1
 * while it runs.  A new owner refuses a user whose recorded process is
 * still alive: a user is never handed out while a process of its
 * previous build lives.  The record is cleared when the build has been
 * torn down.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

/* Open lock files of this process, one per user; -1 until needed.  An
 * fcntl lock never conflicts with its own process, so the users this
 * process holds are marked too. */
static int *userfds;
static char *mine;
static int nuserfds;

static int
user_fd(int i)
{
	char *path;
	int k;

	if (nuserfds < cfg.nusers) {
		userfds = xrealloc(userfds, cfg.nusers * sizeof(int));
		mine = xrealloc(mine, cfg.nusers);
		for (k = nuserfds; k < cfg.nusers; k++) {
			userfds[k] = -1;
			mine[k] = 0;
		}
		nuserfds = cfg.nusers;
	}
	if (userfds[i] >= 0)
		return userfds[i];
	path = xasprintf("%s/%ld", cfg.userpool,
	    (long)cfg.uid_base + i);
	userfds[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (userfds[i] < 0)
		frx_seterr_errno("%s: open", path);
	free(path);
	return userfds[i];
}

static int
lock_fd(int fd, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	return fcntl(fd, F_SETLK, &fl);
}

/* Does the record in fd name a process that still lives? */
static int
previous_build_lives(int fd)
{
	char text[64];
	unsigned long long start;
	long pid;
	ssize_t n;

	n = pread(fd, text, sizeof(text) - 1, 0);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	if (sscanf(text, "%ld %llu", &pid, &start) != 2 || pid <= 0)
		return 0;
	return compat_proc_alive((pid_t)pid, start);
}

static int
try_user(int i, struct build_user *u)
{
	int fd = user_fd(i);

	if (fd < 0)
		return -1;
	if (mine[i])
		return 0;
	if (lock_fd(fd, F_WRLCK) < 0) {
		if (errno == EACCES || errno == EAGAIN)
			return 0;
		return frx_seterr_errno("build user %ld: lock",
		    (long)cfg.uid_base + i);
	}
	if (previous_build_lives(fd)) {
		(void)lock_fd(fd, F_UNLCK);
		return 0;
	}
	mine[i] = 1;
	u->slot = i;
	u->uid = cfg.uid_base + i;
	u->gid = cfg.build_gid ? cfg.build_gid : (gid_t)u->uid;
	return 1;
}

/* The lowest free user, so that builds one at a time always run as
 * the first (35001 by default). */
int
users_try_acquire(struct build_user *u)
{
	int i, r;

	u->slot = -1;
	for (i = 0; i < cfg.nusers; i++)
		if ((r = try_user(i, u)) != 0)
			return r;
	return 0;
}

/*
 * The record is rewritten in place at a fixed size, never truncated, so
 * that no build frees and reallocates a block (costly with discard).
 */
static int
put_record(int fd, long pid, unsigned long long start)
{
	char text[48], num[48];
	int n;

	n = snprintf(num, sizeof(num), "%ld %llu", pid, start);
	memset(text, ' ', sizeof(text));
	memcpy(text, num, (size_t)n < sizeof(text) ? (size_t)n : 0);
	text[sizeof(text) - 1] = '\n';
	return pwrite(fd, text, sizeof(text), 0) == (ssize_t)sizeof(text) ?
	    0 : -1;
}

static void
write_record(const struct build_user *u, long pid, unsigned long long start)
{
	int fd;

	if (u->slot < 0 || (fd = user_fd(u->slot)) < 0)
		return;
	/* Without the record only the lock protects the user; say so. */
	if (put_record(fd, pid, start) < 0)
		dlog("warning", "build user %ld: cannot record pid %ld: %s",
		    (long)u->uid, pid, strerror(errno));
}

int
users_pool_dir(void)
{
	return open(cfg.userpool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int
users_note_pid1_at(int dirfd, uid_t uid, pid_t pid, unsigned long long start)
{
	char name[24];
	int fd, r;

	snprintf(name, sizeof(name), "%ld", (long)uid);
	fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = put_record(fd, (long)pid, start);
	close(fd);
	return r;
}

void
users_note_process(const struct build_user *u, pid_t pid)
{
	write_record(u, (long)pid, compat_proc_start(pid));
}

static void
release(struct build_user *u, int keep_record)
{
	int fd;

	if (u->slot < 0)
		return;
	/* The build is torn down: nothing of it lives.  Unless its runner
	 * was killed: its PID 1 dies of that, and the rest of the build
	 * only before it (the kernel empties a PID namespace before its
	 * init is a zombie), so the record keeps naming PID 1 until the
	 * next owner finds it gone. */
	if (!keep_record)
		write_record(u, 0, 0);
	fd = user_fd(u->slot);
	if (fd >= 0)
		(void)lock_fd(fd, F_UNLCK);
	mine[u->slot] = 0;
	u->slot = -1;
}

void
users_release(struct build_user *u)
{
	release(u, 0);
}

void
users_release_dying(struct build_user *u)
{
	release(u, 1);
}

void
users_stand_in(struct build_user *u)
{
	u->slot = -1;
	u->uid = cfg.uid_base;
	u->gid = cfg.build_gid ? cfg.build_gid : (gid_t)u->uid;
}
