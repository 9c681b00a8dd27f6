/*
 * util.c: error messages, allocation, buffers, string lists, full I/O and
 * the small file-system helpers every component uses.
 */
#ifdef __linux__
#define _GNU_SOURCE	/* statx */
#endif
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static _Thread_local char errbuf[FRX_ERRMAX];

/*
 * Most messages begin with a path, which a builder can make longer than
 * any buffer: a message that does not fit loses part of its middle,
 * never its end, where the reason is.
 */
void
frx_fit(char *dst, size_t size, const char *s)
{
	static const char cut[] = " [...] ";
	size_t n = strlen(s), head, tail;
	const char *t;

	if (n < size) {
		memcpy(dst, s, n + 1);
		return;
	}
	if (size < 2 * sizeof(cut)) {	/* too small to cut: the end */
		memcpy(dst, s + n - (size - 1), size);
		return;
	}
	head = size / 16;
	/* Whole UTF-8 characters on both sides of the cut. */
	while (head > 0 && ((unsigned char)s[head] & 0xC0) == 0x80)
		head--;
	tail = size - 1 - head - (sizeof(cut) - 1);
	for (t = s + n - tail; ((unsigned char)*t & 0xC0) == 0x80; t++)
		;
	memcpy(dst, s, head);
	memcpy(dst + head, cut, sizeof(cut) - 1);
	memcpy(dst + head + sizeof(cut) - 1, t, (size_t)(s + n - t) + 1);
}

int
frx_read_stat(const char *path, struct frx_stat *st)
{
	char text[1024], *p;
	ssize_t n;
	int fd, k;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	st->pid = strtol(text, NULL, 10);
	/* The name, field 2, may hold spaces and parentheses: count the
	 * fields from its last ')'. */
	if ((p = strrchr(text, ')')) == NULL || p[1] != ' ')
		return -1;
	p += 2;
	st->state = *p;
	for (k = 3; k < 22; k++) {
		if (k == 4)
			st->ppid = strtol(p, NULL, 10);
		if ((p = strchr(p, ' ')) == NULL)
			return -1;
		p++;
	}
	st->start = strtoull(p, NULL, 10);
	return 0;
}

static void
err_store(const char *s)
{
	frx_fit(errbuf, sizeof(errbuf), s);
}

/* errbuf = the message made of fmt, then ": " and cause if there is
 * one.  Without memory for it, what fits of the two, cut at the end. */
static void
err_set(const char *fmt, va_list ap, const char *cause)
{
	char *msg = NULL, *full = NULL;
	size_t len;
	va_list again;

	va_copy(again, ap);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	if (msg != NULL && cause != NULL &&
	    asprintf(&full, "%s: %s", msg, cause) < 0)
		full = NULL;
	if (msg != NULL && (cause == NULL || full != NULL)) {
		err_store(full != NULL ? full : msg);
	} else {
		vsnprintf(errbuf, sizeof(errbuf), fmt, again);
		len = strlen(errbuf);
		if (cause != NULL && len + 3 <= sizeof(errbuf))
			snprintf(errbuf + len, sizeof(errbuf) - len, ": %s",
			    cause);
	}
	va_end(again);
	free(msg);
	free(full);
}

int
frx_seterr(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_set(fmt, ap, NULL);
	va_end(ap);
	return -1;
}

int
frx_seterr_errno(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	err_set(fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
	return -1;
}

int
frx_preferr(const char *fmt, ...)
{
	char old[FRX_ERRMAX];
	va_list ap;

	memcpy(old, errbuf, sizeof(old));
	va_start(ap, fmt);
	err_set(fmt, ap, old);
	va_end(ap);
	return -1;
}

const char *
frx_errmsg(void)
{
	return errbuf;
}

static void
oom(void)
{
	static const char msg[] = "frx: out of memory\n";

	(void)write(2, msg, sizeof(msg) - 1);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		oom();
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	buf_grow(&b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(b.data, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return b.data;
}

void
buf_grow(struct buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need < b->len)
		oom();
	if (need <= b->cap)
		return;
	if (b->cap < 64)
		b->cap = 64;
	while (b->cap < need) {
		if (b->cap > SIZE_MAX / 2)
			b->cap = need;
		else
			b->cap *= 2;
	}
	b->data = xrealloc(b->data, b->cap);
	b->data[b->len] = '\0';
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *
buf_steal(struct buf *b)
{
	char *p;

	buf_grow(b, 0);
	p = b->data;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void
strv_addn(struct strv *s, char *str)
{
	if (s->n + 1 >= s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
}

void
strv_add(struct strv *s, const char *str)
{
	strv_addn(s, xstrdup(str));
}

static int
strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
strv_sort(struct strv *s)
{
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), strcmp_p);
}

void
strv_uniq(struct strv *s)
{
	size_t i, j;

	if (s->n < 2)
		return;
	for (i = 1, j = 1; i < s->n; i++) {
		if (strcmp(s->v[i], s->v[j - 1]) == 0)
			free(s->v[i]);
		else
			s->v[j++] = s->v[i];
	}
	s->n = j;
	s->v[j] = NULL;
}

int
strv_contains(const struct strv *s, const char *str)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i], str) == 0)
			return 1;
	return 0;
}

void
strv_free(struct strv *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

int
write_full(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t r;

	while (n > 0) {
		r = write(fd, c, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

int
read_full(int fd, void *p, size_t n)
{
	char *c = p;
	ssize_t r;

	while (n > 0) {
		r = read(fd, c, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = 0;
			return -1;
		}
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

int
read_file(const char *path, struct buf *b)
{
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return frx_seterr_errno("%s: cannot open", path);
	for (;;) {
		buf_grow(b, 65536);
		r = read(fd, b->data + b->len, b->cap - b->len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			frx_seterr_errno("%s: cannot read", path);
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		b->len += (size_t)r;
		b->data[b->len] = '\0';
	}
	close(fd);
	return 0;
}

int
write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    mode);
	if (fd < 0)
		return frx_seterr_errno("%s: cannot create", path);
	if (write_full(fd, p, n) < 0) {
		frx_seterr_errno("%s: cannot write", path);
		close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return frx_seterr_errno("%s: cannot close", path);
	return 0;
}

int
parse_decimal(const char *s, unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int
mkdirs(const char *path, mode_t mode)
{
	struct stat st;
	char *p, *s;

	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		errno = ENOTDIR;
		return frx_seterr_errno("%s: cannot create directory", path);
	}
	p = xstrdup(path);
	for (s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			frx_seterr_errno("%s: cannot create directory %s",
			    path, p);
			free(p);
			return -1;
		}
		*s = '/';
	}
	free(p);
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return frx_seterr_errno("%s: cannot create directory", path);
	return 0;
}

/*
 * Removing a tree.  Entries on another file system are refused rather
 * than entered: a bind mount inside a build tree must never be emptied.
 * The walk holds one descriptor per level, so a directory deeper than
 * RM_MAXDEPTH is moved up into the top directory, whose loop removes
 * it later: a builder's tree nested deeper than the open-file limit
 * is removed like any other.
 */
#define RM_MAXDEPTH 64

struct rm {
	dev_t dev;
	unsigned long long mnt;	/* the top's mount id (Linux), or 0 */
	int topfd;		/* the top directory, while its contents go */
	unsigned depth;
	unsigned moved;		/* directories moved up into the top */
	unsigned counter;
};

static int rm_dir_contents(struct rm *c, int dfd, const char *path);

/*
 * The mount a descriptor or path is on, where the system says (Linux
 * 5.8): a bind mount of a directory of the same file system has the
 * same st_dev, and only its mount id tells it apart.  0 if unknown.
 */
static unsigned long long
mount_id(int dfd, const char *name)
{
#if defined(__linux__) && defined(STATX_MNT_ID)
	struct statx sx;

	if (statx(dfd, name, AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH),
	    STATX_MNT_ID, &sx) == 0 && (sx.stx_mask & STATX_MNT_ID))
		return sx.stx_mnt_id;
#else
	(void)dfd;
	(void)name;
#endif
	return 0;
}

/*
 * Open the directory name in dfd without following a symlink, making it
 * readable first if its mode keeps even us out.  The mode is changed on
 * the descriptor where possible so that a swapped-in symlink cannot
 * redirect the chmod.
 */
static int
open_dir_rw(int dfd, const char *name, const char *path, const struct rm *c)
{
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	struct stat st;
	int fd, failed, root = geteuid() == 0;

	fd = openat(dfd, name, flags);
	if (fd < 0 && errno == EACCES &&
	    fchmodat(dfd, name, S_IRWXU, AT_SYMLINK_NOFOLLOW) == 0)
		fd = openat(dfd, name, flags);
	if (fd < 0 && errno == EACCES && fchmodat(dfd, name, S_IRWXU, 0) == 0)
		fd = openat(dfd, name, flags);
	if (fd < 0)
		return frx_seterr_errno("%s: cannot open", path);
	if (fstat(fd, &st) < 0) {
		frx_seterr_errno("%s: cannot stat", path);
		close(fd);
		return -1;
	}
	if (st.st_dev != c->dev || (c->mnt != 0 && mount_id(fd, "") !=
	    c->mnt)) {
		frx_seterr("%s: is on another file system or mount, not "
		    "removing it", path);
		close(fd);
		return -1;
	}
	/*
	 * Root takes each directory before it reads it: whoever else
	 * holds a descriptor of it (a fixed-output builder can hand one
	 * out of its sandbox) can add nothing to it from then on, so the
	 * removal is not raced into "Directory not empty" forever.
	 */
	if (root)
		failed = ((st.st_uid != 0 || st.st_gid != 0) &&
		    fchown(fd, 0, 0) < 0) || ((st.st_mode & 07777) != S_IRWXU &&
		    fchmod(fd, S_IRWXU) < 0);
	else
		failed = (st.st_mode & S_IRWXU) != S_IRWXU &&
		    fchmod(fd, (st.st_mode & 07777) | S_IRWXU) < 0;
	if (failed) {
		frx_seterr_errno("%s: cannot %s", path, root ? "take back" :
		    "make writable");
		close(fd);
		return -1;
	}
	return fd;
}

/* Move the directory name in dfd up into the top directory. */
static int
rm_move_up(struct rm *c, int dfd, const char *name)
{
	char tmp[32];
	struct stat st;

	do
		snprintf(tmp, sizeof(tmp), ".frx-rm-%u", c->counter++);
	while (fstatat(c->topfd, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0);
	if (renameat(dfd, name, c->topfd, tmp) < 0)
		return -1;
	c->moved++;
	return 0;
}

/*
 * Remove the entry name of dfd.  type is its d_type from the directory
 * (DT_UNKNOWN if the file system does not say): a non-directory goes
 * with one unlinkat, without a stat first; whatever the entry has
 * turned into since, the kernel's answer sends it the long way.
 */
static int
rm_entry(struct rm *c, int dfd, const char *name, unsigned char type,
    char *path)
{
	struct stat st;
	int fd, r;

	if (type != DT_DIR && type != DT_UNKNOWN) {
		if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT) {
			free(path);
			return 0;
		}
		if (errno != EISDIR && errno != EPERM) {
			r = frx_seterr_errno("%s: cannot remove", path);
			free(path);
			return r;
		}
	}
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = errno == ENOENT ? 0 :
		    frx_seterr_errno("%s: cannot stat", path);
		free(path);
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		r = 0;
		if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
			r = frx_seterr_errno("%s: cannot remove", path);
		free(path);
		return r;
	}
	if (st.st_dev != c->dev) {
		frx_seterr("%s: is on another file system, not removing it",
		    path);
		free(path);
		return -1;
	}
	if (c->depth >= RM_MAXDEPTH && c->topfd >= 0 &&
	    rm_move_up(c, dfd, name) == 0) {
		free(path);
		return 0;
	}
	fd = open_dir_rw(dfd, name, path, c);
	if (fd < 0) {
		free(path);
		return -1;
	}
	if (c->depth == 0)
		c->topfd = fd;
	c->depth++;
	r = rm_dir_contents(c, fd, path);
	c->depth--;
	if (c->depth == 0)
		c->topfd = -1;
	if (r == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = frx_seterr_errno("%s: cannot remove", path);
	free(path);
	return r;
}

/* Remove everything inside the directory dfd (which is path, for
 * messages); the top directory is read again while entries were moved
 * up into it. */
static int
rm_dir_contents(struct rm *c, int dfd, const char *path)
{
	struct dir_entry *v;
	unsigned moved;
	DIR *d;
	size_t i, n;
	int r = 0;

	d = fdopendir(dfd);
	if (d == NULL) {
		frx_seterr_errno("%s: cannot read directory", path);
		close(dfd);
		return -1;
	}
	do {
		moved = c->moved;
		rewinddir(d);
		r = dir_read_entries(d, path, 0, &v, &n);
		for (i = 0; r == 0 && i < n; i++)
			r = rm_entry(c, dirfd(d), v[i].name, v[i].type,
			    xasprintf("%s/%s", path, v[i].name));
		dir_entries_free(v, n);
	} while (r == 0 && c->depth == 1 && c->moved != moved);
	closedir(d);
	return r;
}

static int
dir_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dir_entry *)a)->name,
	    ((const struct dir_entry *)b)->name);
}

int
dir_read_entries(DIR *d, const char *path, int sorted, struct dir_entry **out,
    size_t *nout)
{
	struct dir_entry *v = NULL;
	struct dirent *de;
	size_t n = 0, cap = 0;

	*out = NULL;
	*nout = 0;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			if (n == cap) {
				cap = cap ? 2 * cap : 16;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[n].name = xstrdup(de->d_name);
			v[n++].type = de->d_type;
		}
		errno = 0;
	}
	if (errno != 0) {
		dir_entries_free(v, n);
		return frx_seterr_errno("%s: cannot read directory", path);
	}
	if (sorted && n > 1)
		qsort(v, n, sizeof(*v), dir_entry_cmp);
	*out = v;
	*nout = n;
	return 0;
}

void
dir_entries_free(struct dir_entry *v, size_t n)
{
	while (n > 0)
		free(v[--n].name);
	free(v);
}

int
remove_tree(const char *path)
{
	struct rm c = { 0, 0, -1, 0, 0, 0 };
	struct stat st;
	char *dir, *slash;
	const char *base;
	int dfd, r;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return frx_seterr_errno("%s: cannot stat", path);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0 && errno != ENOENT)
			return frx_seterr_errno("%s: cannot remove", path);
		return 0;
	}
	c.dev = st.st_dev;
	c.mnt = mount_id(AT_FDCWD, path);
	dir = xstrdup(path);
	while (strlen(dir) > 1 && dir[strlen(dir) - 1] == '/')
		dir[strlen(dir) - 1] = '\0';
	slash = strrchr(dir, '/');
	if (slash == NULL) {
		base = dir;
		dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else if (slash == dir) {
		base = slash + 1;
		dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		*slash = '\0';
		base = slash + 1;
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (dfd < 0) {
		r = frx_seterr_errno("%s: cannot open parent directory", path);
		free(dir);
		return r;
	}
	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		r = frx_seterr("%s: refusing to remove", path);
	else
		r = rm_entry(&c, dfd, base, DT_DIR, xstrdup(path));
	close(dfd);
	free(dir);
	return r;
}

int
nice_lower(int by, int *before)
{
	errno = 0;
	*before = getpriority(PRIO_PROCESS, 0);
	return errno == 0 && setpriority(PRIO_PROCESS, 0, *before + by) == 0;
}

int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
