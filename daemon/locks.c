/*
 * locks.c: path locks.  A store path being built or added is locked by
 * one byte of <state>/locks/paths, at an offset taken from its hash
 * part, rather than by a file of its own: no file is created or removed
 * per build, and a killed process drops its locks with nothing left
 * behind.  <state>/locks/waiters has the same offsets; a session that
 * waits for a path another one produces read-locks its byte there, so
 * that the producer can tell whether anyone still wants the build.
 *
 * fcntl locks belong to the process and a close of any descriptor of
 * the file drops them all, so each file is opened once per process and
 * stays open; a process that locks the same byte twice counts.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/store.h"
#include "daemon.h"

enum { LOCK_PATHS, LOCK_WAITERS };

struct held {
	int kind;
	off_t off;
	int count;		/* 0: free slot */
};

static int lockfds[2] = { -1, -1 };
static struct held *held;
static size_t nheld;

static int
lock_file(int kind)
{
	static const char *names[] = { "paths", "waiters" };
	char *path;

	if (lockfds[kind] >= 0)
		return lockfds[kind];
	path = xasprintf("%s/locks/%s", cfg.statedir, names[kind]);
	lockfds[kind] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfds[kind] < 0)
		frx_seterr_errno("%s: open", path);
	free(path);
	return lockfds[kind];
}

/* 60 bits of the hash part: collisions are as likely as in the paths. */
static int
lock_offset(const char *path, off_t *off)
{
	static const char digits[] = "0123456789abcdfghijklmnpqrsvwxyz";
	char part[33];
	unsigned long long v = 0;
	int i;

	if (store_hash_part(cfg.storedir, path, part) < 0)
		return -1;
	for (i = 0; i < 12; i++)
		v = v << 5 | (unsigned long long)(strchr(digits, part[i]) -
		    digits);
	*off = (off_t)v;
	return 0;
}

static int
set_lock(int fd, short type, off_t off, int cmd)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = off;
	fl.l_len = 1;
	return fcntl(fd, cmd, &fl);
}

static int
find_held(int kind, off_t off)
{
	size_t i;

	for (i = 0; i < nheld; i++)
		if (held[i].count && held[i].kind == kind &&
		    held[i].off == off)
			return (int)i;
	return -1;
}

static int
add_held(int kind, off_t off)
{
	size_t i;

	for (i = 0; i < nheld && held[i].count; i++)
		;
	if (i == nheld)
		held = xrealloc(held, ++nheld * sizeof(*held));
	held[i].kind = kind;
	held[i].off = off;
	held[i].count = 1;
	return (int)i;
}

/* Returns a handle, -2 if busy (only when !wait), -1 on error. */
static int
take(const char *path, int kind, int wait)
{
	short type = kind == LOCK_PATHS ? F_WRLCK : F_RDLCK;
	off_t off;
	int fd, h;

	if (lock_offset(path, &off) < 0)
		return -1;
	if ((h = find_held(kind, off)) >= 0) {
		held[h].count++;
		return h;
	}
	if ((fd = lock_file(kind)) < 0)
		return -1;
	while (set_lock(fd, type, off, wait ? F_SETLKW : F_SETLK) < 0) {
		if (wait && errno == EINTR)
			continue;
		if (!wait && (errno == EACCES || errno == EAGAIN))
			return -2;
		return frx_seterr_errno("%s: lock", path);
	}
	return add_held(kind, off);
}

int
store_lock_path(const char *path)
{
	return take(path, LOCK_PATHS, 1);
}

int
store_trylock_path(const char *path)
{
	return take(path, LOCK_PATHS, 0);
}

int
store_wait_mark(const char *path)
{
	return take(path, LOCK_WAITERS, 1);
}

void
store_unlock(int h)
{
	if (h < 0 || (size_t)h >= nheld || held[h].count == 0)
		return;
	if (--held[h].count > 0)
		return;
	(void)set_lock(lockfds[held[h].kind], F_UNLCK, held[h].off, F_SETLK);
}

int
store_has_waiters(const char *path)
{
	struct flock fl;
	off_t off;
	int fd;

	if (lock_offset(path, &off) < 0 || (fd = lock_file(LOCK_WAITERS)) < 0)
		return -1;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = off;
	fl.l_len = 1;
	if (fcntl(fd, F_GETLK, &fl) < 0)
		return frx_seterr_errno("%s: test the waiters' lock", path);
	return fl.l_type != F_UNLCK;
}
