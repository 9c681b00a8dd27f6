/*
 * users.c: the build-user pool.  Build user i is uid (and gid)
 * cfg.uid_base + i; a session owns it while it holds the fcntl lock on
 * <state>/userpool/<uid>.  The lock dies with the session process, and a
 * build's processes die with its PID namespace (or jail) before the user
 * is released, so a user is never handed out while a process of its
 * previous build lives.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

static int
try_user(int i, struct build_user *u)
{
	struct flock fl;
	char *path;
	int fd;

	path = xasprintf("%s/userpool/%ld", cfg.statedir,
	    (long)cfg.uid_base + i);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		frx_seterr_errno("%s: open", path);
		free(path);
		return -1;
	}
	free(path);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		close(fd);
		if (errno == EACCES || errno == EAGAIN)
			return 0;
		return frx_seterr_errno("build user lock");
	}
	u->uid = cfg.uid_base + i;
	u->gid = u->uid;
	u->lockfd = fd;
	return 1;
}

int
users_acquire(struct build_user *u)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	int i, r, waited = 0;

	for (;;) {
		for (i = 0; i < cfg.nusers; i++) {
			r = try_user(i, u);
			if (r != 0)
				return r < 0 ? -1 : 0;
		}
		if (!waited++)
			dlog("info", "all %d build users are busy; waiting",
			    cfg.nusers);
		nanosleep(&ts, NULL);
	}
}

void
users_release(struct build_user *u)
{
	if (u->lockfd >= 0)
		close(u->lockfd);
	u->lockfd = -1;
}
