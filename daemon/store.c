/*
 * store.c: the daemon's side of the store: canonicalising new objects,
 * moving them in and registering them as one step, and the clean-up
 * after a crash.
 *
 * Registration journal: before an object is renamed to its store path,
 * its path is appended to the journal of the session process, one of
 * <state>/pending/<n> that the process holds fcntl-locked while it lives;
 * the journal is cleared once the transaction has committed or been
 * rolled back.  A process killed in between leaves the path in its
 * journal, and the next start (or the next process to take that
 * journal) removes it unless it did get registered.  Only journalled
 * paths and our own temporary names are ever swept, never anything else
 * in the store.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/nar.h"
#include "../lib/store.h"
#include "../sandbox/sandbox.h"
#include "daemon.h"
#include "job.h"

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
	size_t *index;		/* open addressing: 1 + position in v, 0 free */
	size_t nindex;		/* a power of two, at least 2 * cap */
	unsigned depth;		/* of the entry being walked; the top's 0 */
	size_t toplen;		/* strlen(top) */
};

static int canon_at(struct canon *c, int dirfd, const char *name,
    const char *path);

static size_t
link_slot(const struct canon *c, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)ino * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)dev;
	size_t i = (size_t)(h ^ (h >> 29)) & (c->nindex - 1);

	while (c->index[i] != 0 && (c->v[c->index[i] - 1].dev != dev ||
	    c->v[c->index[i] - 1].ino != ino))
		i = (i + 1) & (c->nindex - 1);
	return i;
}

/* Count one more name of a file with several links; a table, so that an
 * output of a million hard links costs no more than its walk. */
static void
note_link(struct canon *c, const struct stat *st, const char *path)
{
	size_t i, k;

	if (c->nindex) {
		i = link_slot(c, st->st_dev, st->st_ino);
		if (c->index[i] != 0) {
			c->v[c->index[i] - 1].seen++;
			return;
		}
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
		free(c->index);
		c->nindex = 2 * c->cap;
		c->index = xcalloc(c->nindex, sizeof(*c->index));
		for (k = 0; k < c->n; k++)
			c->index[link_slot(c, c->v[k].dev, c->v[k].ino)] = k + 1;
	}
	c->v[c->n].dev = st->st_dev;
	c->v[c->n].ino = st->st_ino;
	c->v[c->n].nlink = st->st_nlink;
	c->v[c->n].seen = 1;
	c->v[c->n].path = xstrdup(path);
	c->index[link_slot(c, st->st_dev, st->st_ino)] = c->n + 1;
	c->n++;
}

/*
 * Call fn(ctx, name, sub) for every entry but "." and ".." of the
 * directory open at fd, sub being path/name, path being the walk's top
 * (toplen bytes) and more; stops at the first error.
 */
static int
each_entry(int fd, const char *path, size_t toplen,
    int (*fn)(void *ctx, const char *name, const char *sub), void *ctx)
{
	DIR *d;
	struct dirent *e;
	char *sub;
	size_t inside = strlen(path) - toplen;	/* of path, in the output */
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
		/* Inside the output (toplen is the length of its own
		 * path here): whatever the walk's top is called, the same
		 * output passes or not.  It bounds the walk's memory. */
		if (inside + 1 + strlen(e->d_name) >= PATH_MAX) {
			r = frx_seterr("%s: a path inside the output longer "
			    "than %d bytes; refusing it", path, PATH_MAX - 1);
			break;
		}
		sub = xasprintf("%s/%s", path, e->d_name);
		r = fn(ctx, e->d_name, sub);
		free(sub);
	}
	if (r == 0 && errno)
		r = frx_seterr_errno("%s: cannot read directory", path);
	closedir(d);
	return r;
}

struct canon_walk {
	struct canon *c;
	int fd;
};

/* The walks below recurse once per level: a builder decides the depth. */
static int
too_deep(unsigned depth, const char *path)
{
	if (depth <= NAR_DEPTH_MAX)
		return 0;
	return frx_seterr("%s: directories nested more than %d deep; "
	    "refusing it", path, NAR_DEPTH_MAX);
}

static int
canon_entry(void *ctx, const char *name, const char *sub)
{
	struct canon_walk *w = ctx;

	return canon_at(w->c, w->fd, name, sub);
}

static int
canon_dir(struct canon *c, int fd, const char *path)
{
	struct canon_walk w = { c, fd };

	return each_entry(fd, path, c->toplen, canon_entry, &w);
}

static int
canon_at(struct canon *c, int dirfd, const char *name, const char *path)
{
	struct stat st;
	struct timespec ts[2] = { { 1, 0 }, { 1, 0 } };
	mode_t mode;
	int fd, r = 0;

	if (too_deep(c->depth, path) < 0)
		return -1;
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
	/*
	 * A fixed-output builder can hand a descriptor of its output out
	 * of the sandbox, so a process outside may still change the tree
	 * while it is walked: what is opened is what is checked (a FIFO
	 * swapped in after the stat must neither hang us in open nor pass
	 * for a file), and a directory is taken (root's, and only root's
	 * to write) before it is read, so that nothing can be added to it
	 * behind the walk.  Contents written through a descriptor of a file
	 * do not matter: the object is copied, and the copy is hashed.
	 */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
	if (fd < 0)
		return frx_seterr_errno("%s: open", path);
	if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) &&
	    !S_ISDIR(st.st_mode))) {
		close(fd);
		return frx_seterr("%s: changed while it was checked", path);
	}
	if (S_ISREG(st.st_mode) && st.st_nlink > 1)
		note_link(c, &st, path);
	if (S_ISDIR(st.st_mode)) {
		if ((st.st_uid != 0 || st.st_gid != 0) && geteuid() == 0 &&
		    fchown(fd, 0, 0) < 0)
			r = frx_seterr_errno("%s: chown", path);
		/* Writable by us while we descend, read-only afterwards. */
		if (r == 0 && fchmod(fd, 0755) < 0)
			r = frx_seterr_errno("%s: chmod", path);
		if (r == 0) {
			c->depth++;
			r = canon_dir(c, fd, path);
			c->depth--;
		}
		mode = 0555;
	} else {
		mode = st.st_mode & S_IXUSR ? 0555 : 0444;
	}
	/* Objects the daemon made itself are root's already. */
	if (r == 0 && (st.st_uid != 0 || st.st_gid != 0) && geteuid() == 0 &&
	    fchown(fd, 0, 0) < 0)
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
	struct canon c = { NULL, 0, 0, path, NULL, 0, 0, strlen(path) };
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
	free(c.index);
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

/* ---- the registration journal ---- */

/*
 * The journal is rewritten in place, never truncated: on a file system
 * with online discard, freeing and reallocating its block for every
 * build costs more than the rest of the registration.  Its records are
 * lines; an empty line ends them.
 */
static int journal = -1;
static char *journal_path;
static off_t journal_end;

static int
lock_whole(int fd, short type, int wait)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	while (fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl) < 0)
		if (!wait || errno != EINTR)
			return -1;
	return 0;
}

static void sweep_journal(struct db *db, int fd, const char *name);

/*
 * The journal of this process, taken on first use: the first of
 * <state>/pending/0, 1, ... that no live process holds, cleaned of what
 * a dead holder left.  The files stay, so that a session does not create
 * and remove one every time.
 */
static int
journal_fd(struct db *db)
{
	int i, fd;

	if (journal >= 0)
		return journal;
	for (i = 0; i < 4096; i++) {
		journal_path = xasprintf("%s/pending/%d", cfg.statedir, i);
		fd = open(journal_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0) {
			frx_seterr_errno("%s: open", journal_path);
			free(journal_path);
			journal_path = NULL;
			return -1;
		}
		if (lock_whole(fd, F_WRLCK, 0) == 0)
			break;
		close(fd);
		free(journal_path);
		journal_path = NULL;
	}
	if (journal_path == NULL)
		return frx_seterr("%s/pending: every journal is in use",
		    cfg.statedir);
	journal = fd;
	sweep_journal(db, journal, journal_path);
	journal_end = 0;
	return journal;
}

static int
journal_add(struct db *db, const char *path)
{
	char *line;
	size_t n;
	int fd = journal_fd(db);

	if (fd < 0)
		return -1;
	line = xasprintf("%s\n\n", path);
	n = strlen(line);
	/* The record and a new end mark; the next record overwrites it. */
	if (pwrite(fd, line, n, journal_end) != (ssize_t)n) {
		free(line);
		return frx_seterr_errno("%s: write", journal_path);
	}
	journal_end += (off_t)n - 1;
	free(line);
	return 0;
}

static void
journal_clear(void)
{
	if (journal < 0)
		return;
	if (pwrite(journal, "\n", 1, 0) != 1)
		dlog("warning", "%s: cannot clear: %s", journal_path,
		    strerror(errno));
	journal_end = 0;
}

void
store_session_end(void)
{
	if (journal < 0)
		return;
	close(journal);
	journal = -1;
	free(journal_path);
	journal_path = NULL;
}

/* ---- copying an object in from another file system ---- */

static int copy_at(int sfd, const char *sname, int dfd, const char *dname,
    const char *path, unsigned depth, size_t toplen);

static int
copy_data(int in, int out, const char *path)
{
	static char chunk[1 << 17];
	ssize_t n;

	while ((n = read(in, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return frx_seterr_errno("%s: read", path);
		if (write_full(out, chunk, (size_t)n) < 0)
			return frx_seterr_errno("%s: write", path);
	}
	return 0;
}

/* Off the stack of the recursion: a target is up to PATH_MAX bytes. */
static int
copy_symlink(int sfd, const char *sname, int dfd, const char *dname,
    const char *path, const struct timespec ts[2])
{
	char *target = xmalloc(PATH_MAX);
	ssize_t n;
	int r = 0;

	n = readlinkat(sfd, sname, target, PATH_MAX - 1);
	if (n < 0)
		r = frx_seterr_errno("%s: readlink", path);
	else {
		target[n] = '\0';
		if (symlinkat(target, dfd, dname) < 0 ||
		    utimensat(dfd, dname, ts, AT_SYMLINK_NOFOLLOW) < 0)
			r = frx_seterr_errno("%s: copy symlink", path);
	}
	free(target);
	return r;
}

struct copy_walk {
	int sfd, dfd;
	unsigned depth;
	size_t toplen;
};

static int
copy_entry(void *ctx, const char *name, const char *sub)
{
	struct copy_walk *w = ctx;

	return copy_at(w->sfd, name, w->dfd, name, sub, w->depth, w->toplen);
}

static int
copy_dir(int sfd, int dfd, const char *path, unsigned depth, size_t toplen)
{
	struct copy_walk w = { sfd, dfd, depth, toplen };

	return each_entry(sfd, path, toplen, copy_entry, &w);
}

/* Copy one canonical entry: its mode, owner and mtime come along. */
static int
copy_at(int sfd, const char *sname, int dfd, const char *dname,
    const char *path, unsigned depth, size_t toplen)
{
	struct timespec ts[2] = { { 1, 0 }, { 1, 0 } };
	struct stat st;
	int in = -1, out = -1, r = -1;

	if (too_deep(depth, path) < 0)
		return -1;
	if (fstatat(sfd, sname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return frx_seterr_errno("%s: stat", path);
	if (S_ISLNK(st.st_mode))
		return copy_symlink(sfd, sname, dfd, dname, path, ts);
	/* Checked again on what is opened (see canon_at). */
	in = openat(sfd, sname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (in < 0)
		return frx_seterr_errno("%s: open", path);
	if (fstat(in, &st) < 0 || (!S_ISREG(st.st_mode) &&
	    !S_ISDIR(st.st_mode))) {
		frx_seterr("%s: changed while it was copied", path);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		if (mkdirat(dfd, dname, 0700) < 0) {
			frx_seterr_errno("%s: copy directory", path);
			goto out;
		}
		out = openat(dfd, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (out < 0 || copy_dir(in, out, path, depth + 1, toplen) < 0) {
			if (out < 0)
				frx_seterr_errno("%s: copy directory", path);
			goto out;
		}
	} else {
		out = openat(dfd, dname, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (out < 0 || copy_data(in, out, path) < 0) {
			if (out < 0)
				frx_seterr_errno("%s: copy", path);
			goto out;
		}
	}
	/* A store object is never writable, setuid or setgid, whatever
	 * the source became since it was canonicalised. */
	if (fchmod(out, st.st_mode & 0555) < 0 || futimens(out, ts) < 0) {
		frx_seterr_errno("%s: copy attributes", path);
		goto out;
	}
	r = 0;
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return r;
}

/*
 * A temporary name in the store directory.  It starts with the pid of
 * the session (the process that finishes the registration), which is
 * what the start-up sweep checks: ".frx-tmp-<session>-<what><n>".
 */
static pid_t stage_owner;

void
store_session_begin(void)
{
	stage_owner = getpid();
}

void
store_session_owner(pid_t owner)
{
	stage_owner = owner;
}

static unsigned stage_counter;

/* The k-th name staged by process pid for what (see above). */
static char *
staged_as(const char *what, pid_t pid, unsigned k)
{
	return xasprintf("%s/.frx-tmp-%ld-%s%ld-%u", cfg.storedir,
	    (long)(stage_owner ? stage_owner : getpid()), what, (long)pid, k);
}

static char *
stage_name(const char *what)
{
	return staged_as(what, getpid(), stage_counter++);
}

void
store_stage_restart(void)
{
	stage_counter = 0;
}

char *
store_stage_leftover(pid_t runner, unsigned k)
{
	return staged_as("run", runner, k);
}

int
store_stage_object(const char *src, int copy, char **staged)
{
	char *tmp = stage_name("run");

	if (!copy && rename(src, tmp) == 0) {
		*staged = tmp;
		return 0;
	}
	if (!copy && errno != EXDEV) {
		frx_seterr_errno("%s: cannot move into the store directory "
		    "as %s", src, tmp);
		free(tmp);
		return -1;
	}
	if (copy_at(AT_FDCWD, src, AT_FDCWD, tmp, src, 0, strlen(src)) < 0) {
		(void)remove_tree(tmp);
		free(tmp);
		return -1;
	}
	*staged = tmp;
	return 0;
}

/*
 * Bring src into the store as path when a rename cannot (src is on
 * another file system): copy it to a temporary name in the store
 * directory, then rename that.
 */
static int
copy_in(const char *src, const char *path)
{
	char *tmp = stage_name("copy");
	int r;

	r = copy_at(AT_FDCWD, src, AT_FDCWD, tmp, src, 0, strlen(src));
	if (r == 0 && rename(tmp, path) < 0)
		r = frx_seterr_errno("%s: cannot move into the store as %s",
		    tmp, path);
	if (r < 0)
		(void)remove_tree(tmp);
	else
		(void)remove_tree(src);
	free(tmp);
	return r;
}

static int
move_in(const char *src, const char *path)
{
	if (rename(src, path) == 0)
		return 0;
	if (errno == EXDEV)
		return copy_in(src, path);
	return frx_seterr_errno("%s: cannot move into the store as %s", src,
	    path);
}

int
store_add_objects(struct db *db, char **srcs, struct path_info *infos,
    size_t n)
{
	return store_add_objects_with(db, srcs, infos, n, NULL, NULL);
}

int
store_add_objects_with(struct db *db, char **srcs, struct path_info *infos,
    size_t n, int (*extra)(struct db *, void *), void *ctx)
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
		    journal_add(db, infos[i].path) < 0 ||
		    move_in(srcs[i], infos[i].path) < 0)
			goto fail;
		moved++;
	}
	if (db_register(db, infos, n) < 0 || (extra && extra(db, ctx) < 0) ||
	    db_commit(db) < 0)
		goto fail;
	journal_clear();
	return 0;
fail:
	{
		char *msg = xstrdup(frx_errmsg());

		(void)db_rollback(db);
		/* Nothing half-registered: take the moved objects out again. */
		for (i = 0; i < moved; i++)
			(void)remove_tree(infos[i].path);
		journal_clear();
		frx_seterr("%s", msg);
		free(msg);
	}
	return -1;
}

/* ---- recovery at start-up ---- */

static void
sweep_one(struct db *db, const char *path)
{
	int lock;

	if (store_check_path(cfg.storedir, path) < 0)
		return;		/* not ours to touch */
	/* Someone alive is producing it right now: theirs to finish. */
	lock = store_trylock_path(path);
	if (lock < 0)
		return;
	if (db_is_valid(db, path) == 0) {
		dlog("info", "removing %s: not registered (left by an "
		    "interrupted operation)", path);
		if (remove_tree(path) < 0)
			dlog("warning", "%s", frx_errmsg());
	}
	store_unlock(lock);
}

/* Remove the unregistered paths a journal names, then clear it. */
static void
sweep_journal(struct db *db, int fd, const char *name)
{
	struct buf b = BUF_INIT;
	char *line, *nl;

	if (read_file(name, &b) < 0) {
		dlog("warning", "%s", frx_errmsg());
		return;
	}
	for (line = b.data; line && *line && *line != '\n'; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;		/* cut short by the crash */
		*nl = '\0';
		sweep_one(db, line);
	}
	buf_free(&b);
	if (pwrite(fd, "\n", 1, 0) != 1)
		dlog("warning", "%s: cannot clear: %s", name, strerror(errno));
}

static void
sweep_journals(struct db *db)
{
	char *dir = xasprintf("%s/pending", cfg.statedir), *path;
	struct dirent *e;
	DIR *d;
	int fd;

	if (!(d = opendir(dir))) {
		free(dir);
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		/* A locked journal belongs to a session that still runs. */
		if (fd >= 0 && lock_whole(fd, F_WRLCK, 0) == 0)
			sweep_journal(db, fd, path);
		if (fd >= 0)
			close(fd);
		free(path);
	}
	closedir(d);
	free(dir);
}

/* .frx-tmp-<pid>-...: ours, and dead if the process is gone. */
static int
tmp_owner_alive(const char *name)
{
	long pid = strtol(name + 9, NULL, 10);

	return pid > 0 && pid != (long)getpid() &&
	    compat_proc_alive((pid_t)pid, 0);
}

static int
sweep_store(void)
{
	struct dirent *e;
	char *path;
	DIR *d;

	if (!(d = opendir(cfg.storedir)))
		return frx_seterr_errno("%s: cannot read", cfg.storedir);
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, ".frx-tmp-", 9) != 0 ||
		    tmp_owner_alive(e->d_name))
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

/*
 * <state>/builds holds the directories of running builds, <pid>-<n>
 * (<uid>-<pid>-<n> before; removed here once process <pid> is gone),
 * the kept directories of failed builds (failed-*, left alone), and,
 * from older versions, one directory per build user and whole build
 * trees with a ledger.
 */
static void
sweep_build_dir(const char *path, const char *name)
{
	char *ledger, *keep;
	struct stat st;
	long uid, pid;
	unsigned n;
	int end = 0;

	if (!strncmp(name, "failed-", 7))
		return;
	if ((sscanf(name, "%ld-%ld-%u%n", &uid, &pid, &n, &end) == 3 &&
	    name[end] == '\0') || (end = 0, sscanf(name, "%ld-%u%n", &pid,
	    &n, &end) == 2 && name[end] == '\0')) {
		/* The build may still run, in a session that outlived a
		 * crash of the listener. */
		if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
			return;
		dlog("info", "removing leftover build directory %s", path);
		if (build_dir_remove(path) < 0)
			dlog("warning", "%s", frx_errmsg());
		return;
	}
	ledger = xasprintf("%s/ledger", path);
	keep = xasprintf("%s/keep", path);
	if (sandbox_recover(ledger) < 0)
		dlog("warning", "%s", frx_errmsg());
	if (stat(keep, &st) < 0) {
		dlog("info", "removing leftover build directory %s", path);
		if (remove_tree(path) < 0)
			dlog("warning", "%s", frx_errmsg());
	}
	free(ledger);
	free(keep);
}

static void
sweep_dir(const char *sub, int roots)
{
	char *dir = xasprintf("%s/%s", cfg.statedir, sub), *path, *ledger;
	struct dirent *e;
	DIR *d;

	if (!(d = opendir(dir))) {
		free(dir);
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		if (!roots) {
			sweep_build_dir(path, e->d_name);
		} else {
			ledger = xasprintf("%s/ledger", path);
			if (sandbox_recover(ledger) < 0)
				dlog("warning", "%s", frx_errmsg());
			else if (remove_tree(path) < 0)
				dlog("warning", "%s", frx_errmsg());
			free(ledger);
		}
		free(path);
	}
	closedir(d);
	free(dir);
}

int
store_recover(struct db *db)
{
	char *dir = xasprintf("%s/temproots", cfg.statedir);

	sweep_dir("builds", 0);
	sweep_dir("roots", 1);
	(void)remove_tree(dir);	/* temporary roots die with the daemon */
	(void)mkdirs(dir, 0755);
	free(dir);
	sweep_journals(db);
	return sweep_store();
}
