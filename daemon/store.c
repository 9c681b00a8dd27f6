/*
 * store.c: the daemon's side of the store: canonicalising new objects,
 * moving them in and registering them as one step, path locks, and the
 * clean-up after a crash.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/nar.h"
#include "../lib/store.h"
#include "../sandbox/sandbox.h"
#include "daemon.h"

/* Inodes with several links, to tell links inside the tree from links to
 * files outside it. */
struct linkseen {
	dev_t dev;
	ino_t ino;
	nlink_t nlink;
	nlink_t seen;
	char *path;
};

struct canon {
	struct linkseen *v;
	size_t n, cap;
	const char *top;
};

static int canon_at(struct canon *c, int dirfd, const char *name,
    const char *path);
static int mark_pending(const char *path);
static void unmark_pending(const char *path);

static void
note_link(struct canon *c, const struct stat *st, const char *path)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->v[i].dev == st->st_dev && c->v[i].ino == st->st_ino) {
			c->v[i].seen++;
			return;
		}
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	c->v[c->n].dev = st->st_dev;
	c->v[c->n].ino = st->st_ino;
	c->v[c->n].nlink = st->st_nlink;
	c->v[c->n].seen = 1;
	c->v[c->n].path = xstrdup(path);
	c->n++;
}

static int
canon_dir(struct canon *c, int fd, const char *path)
{
	DIR *d;
	struct dirent *e;
	char *sub;
	int dfd, r = 0;

	dfd = dup(fd);
	if (dfd < 0 || !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		return frx_seterr_errno("%s: cannot read directory", path);
	}
	while (r == 0 && (errno = 0, e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		sub = xasprintf("%s/%s", path, e->d_name);
		r = canon_at(c, fd, e->d_name, sub);
		free(sub);
	}
	if (r == 0 && errno)
		r = frx_seterr_errno("%s: cannot read directory", path);
	closedir(d);
	return r;
}

static int
canon_at(struct canon *c, int dirfd, const char *name, const char *path)
{
	struct stat st;
	struct timespec ts[2] = { { 1, 0 }, { 1, 0 } };
	mode_t mode;
	int fd, r = 0;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return frx_seterr_errno("%s: stat", path);
	if (S_ISLNK(st.st_mode)) {
		if (fchownat(dirfd, name, 0, 0, AT_SYMLINK_NOFOLLOW) < 0 &&
		    geteuid() == 0)
			return frx_seterr_errno("%s: chown", path);
		if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return frx_seterr_errno("%s: utimes", path);
		return 0;
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return frx_seterr("%s: is a %s; only regular files, "
		    "directories and symlinks may enter the store", path,
		    S_ISSOCK(st.st_mode) ? "socket" : S_ISFIFO(st.st_mode) ?
		    "FIFO" : S_ISCHR(st.st_mode) ? "character device" :
		    S_ISBLK(st.st_mode) ? "block device" : "special file");
	if (S_ISREG(st.st_mode) && st.st_nlink > 1)
		note_link(c, &st, path);
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
	if (fd < 0)
		return frx_seterr_errno("%s: open", path);
	if (S_ISDIR(st.st_mode)) {
		/* Writable while we descend, made read-only afterwards. */
		if (fchmod(fd, 0755) < 0)
			r = frx_seterr_errno("%s: chmod", path);
		if (r == 0)
			r = canon_dir(c, fd, path);
		mode = 0555;
	} else {
		mode = st.st_mode & S_IXUSR ? 0555 : 0444;
	}
	if (r == 0 && geteuid() == 0 && fchown(fd, 0, 0) < 0)
		r = frx_seterr_errno("%s: chown", path);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = frx_seterr_errno("%s: chmod", path);
	if (r == 0 && futimens(fd, ts) < 0)
		r = frx_seterr_errno("%s: utimes", path);
	close(fd);
	return r;
}

int
canonicalise_tree(const char *path)
{
	struct canon c = { NULL, 0, 0, path };
	size_t i;
	int r;

	r = canon_at(&c, AT_FDCWD, path, path);
	for (i = 0; i < c.n; i++) {
		if (r == 0 && c.v[i].seen < c.v[i].nlink)
			r = frx_seterr("%s: is a hard link to a file outside "
			    "the output; refusing it", c.v[i].path);
		free(c.v[i].path);
	}
	free(c.v);
	return r;
}

int
store_remove_invalid(struct db *db, const char *path)
{
	struct stat st;
	int v;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 :
		    frx_seterr_errno("%s: stat", path);
	v = db_is_valid(db, path);
	if (v < 0)
		return -1;
	if (v)
		return frx_seterr("%s: is valid, not removing it", path);
	return remove_tree(path);
}

int
store_add_objects(struct db *db, char **srcs, struct path_info *infos,
    size_t n)
{
	size_t i, moved = 0;

	for (i = 0; i < n; i++) {
		if (infos[i].nar_size == 0 &&
		    nar_hash_path(srcs[i], &infos[i].nar_hash,
		    &infos[i].nar_size) < 0)
			return -1;
		if (infos[i].registration_time == 0)
			infos[i].registration_time = now_s();
	}
	if (db_begin(db) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (store_remove_invalid(db, infos[i].path) < 0 ||
		    mark_pending(infos[i].path) < 0)
			goto fail;
		if (rename(srcs[i], infos[i].path) < 0) {
			frx_seterr_errno("%s: cannot move into the store as "
			    "%s", srcs[i], infos[i].path);
			goto fail;
		}
		moved++;
	}
	if (db_register(db, infos, n) < 0 || db_commit(db) < 0)
		goto fail;
	for (i = 0; i < n; i++)
		unmark_pending(infos[i].path);
	return 0;
fail:
	{
		char *msg = xstrdup(frx_errmsg());

		(void)db_rollback(db);
		/* Nothing half-registered: take the moved objects out again. */
		for (i = 0; i < moved; i++)
			(void)remove_tree(infos[i].path);
		for (i = 0; i < n; i++)
			unmark_pending(infos[i].path);
		frx_seterr("%s", msg);
		free(msg);
	}
	return -1;
}

/*
 * Before an object is moved into the store a marker names it under
 * <state>/pending; the marker goes once the transaction is over.  A daemon
 * killed in between leaves the marker, and the next start removes the
 * object unless it did get registered.  Only marked paths and our own
 * temporary names are ever swept, never anything else in the store.
 */
static char *
pending_marker(const char *path)
{
	const char *base = strrchr(path, '/');

	return xasprintf("%s/pending/%s", cfg.statedir, base ? base + 1 : path);
}

static int
mark_pending(const char *path)
{
	char *m = pending_marker(path);
	int r = write_file(m, "", 0, 0644);

	free(m);
	return r;
}

static void
unmark_pending(const char *path)
{
	char *m = pending_marker(path);

	(void)unlink(m);
	free(m);
}

static void
sweep_one(struct db *db, const char *path)
{
	if (db_is_valid(db, path) == 0) {
		dlog("info", "removing %s: not registered (left by an "
		    "interrupted operation)", path);
		if (remove_tree(path) < 0)
			dlog("warning", "%s", frx_errmsg());
	}
}

static int
sweep_store(struct db *db)
{
	char *dir = xasprintf("%s/pending", cfg.statedir), *path;
	DIR *d;
	struct dirent *e;

	if ((d = opendir(dir))) {
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			path = xasprintf("%s/%s", cfg.storedir, e->d_name);
			sweep_one(db, path);
			free(path);
			path = xasprintf("%s/%s", dir, e->d_name);
			(void)unlink(path);
			free(path);
		}
		closedir(d);
	}
	free(dir);
	if (!(d = opendir(cfg.storedir)))
		return frx_seterr_errno("%s: cannot read", cfg.storedir);
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, ".frx-tmp-", 9) != 0)
			continue;
		path = xasprintf("%s/%s", cfg.storedir, e->d_name);
		dlog("info", "removing temporary %s", path);
		if (remove_tree(path) < 0)
			dlog("warning", "%s", frx_errmsg());
		free(path);
	}
	closedir(d);
	return 0;
}

/* Remove what dead builds left under <state>/builds. */
static int
sweep_builds(void)
{
	char *dir = xasprintf("%s/builds", cfg.statedir), *path;
	DIR *d;
	struct dirent *e;

	if (!(d = opendir(dir))) {
		free(dir);
		return 0;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *ledger, *keep;
		struct stat st;

		path = xasprintf("%s/%s", dir, e->d_name);
		ledger = xasprintf("%s/ledger", path);
		keep = xasprintf("%s/keep", path);
		if (sandbox_recover(ledger) < 0)
			dlog("warning", "%s", frx_errmsg());
		if (stat(keep, &st) < 0) {
			/* Kept failed builds (--keep-failed) stay. */
			dlog("info", "removing leftover build directory %s",
			    path);
			if (remove_tree(path) < 0)
				dlog("warning", "%s", frx_errmsg());
		}
		free(ledger);
		free(keep);
		free(path);
	}
	closedir(d);
	free(dir);
	return 0;
}

int
store_recover(struct db *db)
{
	char *dir = xasprintf("%s/temproots", cfg.statedir);

	sweep_builds();
	(void)remove_tree(dir);	/* temporary roots die with the daemon */
	(void)mkdirs(dir, 0755);
	free(dir);
	return sweep_store(db);
}

int
store_lock_path(const char *path)
{
	char hashpart[33], *lock;
	struct flock fl;
	int fd;

	if (store_hash_part(cfg.storedir, path, hashpart) < 0)
		return -1;
	lock = xasprintf("%s/locks/%s.lock", cfg.statedir, hashpart);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		frx_seterr_errno("%s: open", lock);
		free(lock);
		return -1;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	while (fcntl(fd, F_SETLKW, &fl) < 0) {
		if (errno != EINTR) {
			frx_seterr_errno("%s: lock", lock);
			close(fd);
			free(lock);
			return -1;
		}
	}
	free(lock);
	return fd;
}

void
store_unlock(int fd)
{
	if (fd >= 0)
		close(fd);	/* closing drops the fcntl lock */
}
