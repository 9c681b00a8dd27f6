/*
 * plan.c: compute the mount plan of one build.  Shared by both backends
 * and unit-tested without privilege; it only calls lstat, readlink and
 * realpath on the host.  The few differences between the Linux and the
 * FreeBSD plan are chosen by the plan's flavor, so both can be tested on
 * either system.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox.h"

#define BUILD_USER "frxbuild"
#define BUILD_HOME "/homeless-shelter"
#define NOBODY_ID 65534

static const char *const dev_nodes[] = {
	"null", "zero", "full", "random", "urandom", "tty", NULL
};

/* FreeBSD's devfs has these itself; Linux gets links into /proc. */
static const char *const dev_fd_links[][2] = {
	{ "/dev/fd", "/proc/self/fd" },
	{ "/dev/stdin", "/proc/self/fd/0" },
	{ "/dev/stdout", "/proc/self/fd/1" },
	{ "/dev/stderr", "/proc/self/fd/2" },
	{ NULL, NULL }
};

static const char *const net_files[] = {
	"/etc/resolv.conf", "/etc/hosts", "/etc/services",
	"/etc/nsswitch.conf", NULL
};

/* Targets that a host path must neither cover nor lie below. */
static const char *const reserved[] = {
	"/etc", "/proc", "/dev", "/tmp", NULL
};

const char *
plan_kind_name(enum plan_kind kind)
{
	switch (kind) {
	case PLAN_DIR:		return "dir";
	case PLAN_BIND_RO:	return "bind-ro";
	case PLAN_BIND_RW:	return "bind-rw";
	case PLAN_TMPFS:	return "tmpfs";
	case PLAN_PROC:		return "proc";
	case PLAN_DEVFS:	return "devfs";
	case PLAN_DEVNODE:	return "devnode";
	case PLAN_FILE:		return "file";
	case PLAN_SYMLINK:	return "symlink";
	}
	return "?";
}

void
plan_add(struct sandbox_plan *p, enum plan_kind kind, const char *source,
    const char *target, mode_t mode, uid_t uid, gid_t gid)
{
	struct plan_entry *e;

	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	e = &p->v[p->n++];
	e->kind = kind;
	e->source = source != NULL ? xstrdup(source) : NULL;
	e->target = xstrdup(target);
	e->mode = mode;
	e->uid = uid;
	e->gid = gid;
}

void
plan_free(struct sandbox_plan *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->v[i].source);
		free(p->v[i].target);
	}
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

/* Absolute, no empty, "." or ".." components, no trailing slash. */
static int
path_is_clean(const char *path)
{
	const char *c;

	if (path == NULL || path[0] != '/' || path[1] == '\0')
		return 0;
	for (c = path; *c != '\0'; ) {
		const char *next;
		size_t len;

		c++;
		next = strchr(c, '/');
		len = next != NULL ? (size_t)(next - c) : strlen(c);
		if (len == 0 || (len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		c += len;
	}
	return 1;
}

/* Is path equal to dir or below it? */
static int
path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 &&
	    (path[n] == '\0' || path[n] == '/');
}

static int
paths_overlap(const char *a, const char *b)
{
	return path_within(a, b) || path_within(b, a);
}

/* Rank '/' below every other byte, so a directory's entries come right
   after it: "/dev" < "/dev/fd" < "/dev-x". */
static int
path_rank(char c)
{
	return c == '\0' ? 0 : c == '/' ? 1 : (unsigned char)c + 1;
}

static int
path_cmp(const char *a, const char *b)
{
	for (; *a != '\0' && *a == *b; a++, b++)
		;
	return path_rank(*a) - path_rank(*b);
}

/* Stable insertion sort: the plans are a few dozen entries long. */
/* The one place where the system frx is built for matters. */
static enum plan_flavor
host_flavor(enum plan_flavor flavor)
{
	if (flavor != PLAN_HOST)
		return flavor;
#ifdef __FreeBSD__
	return PLAN_FREEBSD;
#else
	return PLAN_LINUX;
#endif
}

static void
plan_sort(struct sandbox_plan *p)
{
	size_t i, j;

	for (i = 1; i < p->n; i++) {
		struct plan_entry e = p->v[i];

		for (j = i; j > 0 && path_cmp(p->v[j - 1].target,
		    e.target) > 0; j--)
			p->v[j] = p->v[j - 1];
		p->v[j] = e;
	}
}

static int
check_params(const struct plan_params *p)
{
	size_t i;

	if (p->uid == 0 || p->gid == 0)
		return frx_seterr("sandbox plan: build user %lu:%lu: "
		    "refusing to build as root",
		    (unsigned long)p->uid, (unsigned long)p->gid);
	if (!path_is_clean(p->storedir))
		return frx_seterr("sandbox plan: store dir %s: "
		    "not a clean absolute path",
		    p->storedir != NULL ? p->storedir : "(null)");
	for (i = 0; reserved[i] != NULL; i++)
		if (paths_overlap(p->storedir, reserved[i]))
			return frx_seterr("sandbox plan: store dir %s: "
			    "overlaps %s", p->storedir, reserved[i]);
	if (!path_is_clean(p->builddir))
		return frx_seterr("sandbox plan: build dir %s: "
		    "not a clean absolute path",
		    p->builddir != NULL ? p->builddir : "(null)");
	if (p->hostname == NULL || p->hostname[0] == '\0' ||
	    strchr(p->hostname, '\n') != NULL)
		return frx_seterr("sandbox plan: invalid hostname");
	return 0;
}

/* A store path must be a clean direct child of the store dir. */
static int
check_store_path(const char *what, const char *path, const char *storedir)
{
	size_t n = strlen(storedir);

	if (!path_is_clean(path) || strncmp(path, storedir, n) != 0 ||
	    path[n] != '/' || strchr(path + n + 1, '/') != NULL)
		return frx_seterr("sandbox plan: %s %s: not a store path "
		    "under %s", what, path, storedir);
	return 0;
}

static int
add_host_path(struct sandbox_plan *plan, const struct plan_params *p,
    const char *path)
{
	char link[PATH_MAX];
	struct stat st;
	ssize_t len;
	size_t i;

	if (!path_is_clean(path))
		return frx_seterr("sandbox plan: host path %s: "
		    "not a clean absolute path", path);
	if (paths_overlap(path, p->storedir))
		return frx_seterr("sandbox plan: host path %s: "
		    "overlaps the store dir %s", path, p->storedir);
	for (i = 0; reserved[i] != NULL; i++)
		if (path_within(reserved[i], path) ||
		    (path_within(path, reserved[i]) &&
		    strcmp(reserved[i], "/etc") != 0))
			return frx_seterr("sandbox plan: host path %s: "
			    "overlaps %s", path, reserved[i]);
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return frx_seterr_errno("sandbox plan: lstat %s", path);
	}
	if (!S_ISLNK(st.st_mode)) {
		plan_add(plan, PLAN_BIND_RO, path, path, 0, 0, 0);
		return 0;
	}
	len = readlink(path, link, sizeof(link) - 1);
	if (len < 0)
		return frx_seterr_errno("sandbox plan: readlink %s", path);
	link[len] = '\0';
	plan_add(plan, PLAN_SYMLINK, link, path, 0, 0, 0);
	return 0;
}

static int
add_input(struct sandbox_plan *plan, const char *path)
{
	char link[PATH_MAX];
	struct stat st;
	ssize_t len;

	if (lstat(path, &st) < 0)
		return frx_seterr_errno("sandbox plan: input %s", path);
	if (!S_ISLNK(st.st_mode)) {
		plan_add(plan, PLAN_BIND_RO, path, path, 0, 0, 0);
		return 0;
	}
	len = readlink(path, link, sizeof(link) - 1);
	if (len < 0)
		return frx_seterr_errno("sandbox plan: readlink %s", path);
	link[len] = '\0';
	plan_add(plan, PLAN_SYMLINK, link, path, 0, 0, 0);
	return 0;
}

static int
add_store(struct sandbox_plan *plan, const struct plan_params *p)
{
	size_t i;

	plan_add(plan, PLAN_DIR, NULL, p->storedir, 01775, 0, p->gid);
	for (i = 0; p->inputs != NULL && i < p->inputs->n; i++) {
		if (check_store_path("input", p->inputs->v[i],
		    p->storedir) < 0 || add_input(plan, p->inputs->v[i]) < 0)
			return -1;
	}
	for (i = 0; p->outputs != NULL && i < p->outputs->n; i++) {
		if (check_store_path("output", p->outputs->v[i],
		    p->storedir) < 0)
			return -1;
		if (p->inputs != NULL &&
		    strv_contains(p->inputs, p->outputs->v[i]))
			return frx_seterr("sandbox plan: output %s: "
			    "is also an input", p->outputs->v[i]);
	}
	return 0;
}

/*
 * The text of the generated file target for uid:gid, or NULL if target
 * is not one of them.  FreeBSD's getpwuid() reads pwd.db, not
 * /etc/passwd: its backend runs pwd_mkdb(8) on master.passwd (passwd(5)
 * format: name, password, uid, gid, class, change, expire, gecos, home,
 * shell).
 */
static char *
user_file(const char *target, uid_t uid, gid_t gid)
{
	unsigned long u = (unsigned long)uid, g = (unsigned long)gid;

	if (strcmp(target, "/etc/passwd") == 0)
		return xasprintf("root:x:0:0:root:/root:/bin/sh\n"
		    "%s:x:%lu:%lu:frx build user:%s:/bin/sh\n"
		    "nobody:x:%d:%d:nobody:/:/bin/false\n", BUILD_USER, u,
		    g, BUILD_HOME, NOBODY_ID, NOBODY_ID);
	if (strcmp(target, "/etc/master.passwd") == 0)
		return xasprintf("root:*:0:0::0:0:root:/root:/bin/sh\n"
		    "%s:*:%lu:%lu::0:0:frx build user:%s:/bin/sh\n"
		    "nobody:*:%d:%d::0:0:nobody:/:/bin/false\n", BUILD_USER,
		    u, g, BUILD_HOME, NOBODY_ID, NOBODY_ID);
	if (strcmp(target, "/etc/group") == 0)
		return xasprintf("root:x:0:\n%s:x:%lu:\nnogroup:x:%d:\n",
		    BUILD_USER, g, NOBODY_ID);
	return NULL;
}

static void
add_etc_files(struct sandbox_plan *plan, const struct plan_params *p,
    enum plan_flavor flavor)
{
	static const char *const files[] = {
		"/etc/passwd", "/etc/master.passwd", "/etc/group", NULL
	};
	char *s;
	int i;

	for (i = 0; files[i] != NULL; i++) {
		if (flavor != PLAN_FREEBSD &&
		    strcmp(files[i], "/etc/master.passwd") == 0)
			continue;
		s = user_file(files[i], p->uid, p->gid);
		plan_add(plan, PLAN_FILE, s, files[i],
		    strcmp(files[i], "/etc/master.passwd") == 0 ? 0600 : 0644,
		    0, 0);
		free(s);
	}
}

/*
 * What depends on the build user in a plan: the text of the generated
 * user files, and the group of the directories that are the build
 * group's (the store directory).  No other entry has an owner other
 * than root.
 */
void
plan_set_user(struct sandbox_plan *p, uid_t uid, gid_t gid)
{
	struct plan_entry *e;
	char *s;
	size_t i;

	for (i = 0; i < p->n; i++) {
		e = &p->v[i];
		if (e->kind == PLAN_FILE &&
		    (s = user_file(e->target, uid, gid)) != NULL) {
			free(e->source);
			e->source = s;
		} else if (e->kind == PLAN_DIR && e->gid != 0)
			e->gid = gid;
	}
}

void
plan_copy(const struct sandbox_plan *in, struct sandbox_plan *out)
{
	size_t i;

	out->v = NULL;
	out->n = 0;
	for (i = 0; i < in->n; i++)
		plan_add(out, in->v[i].kind, in->v[i].source, in->v[i].target,
		    in->v[i].mode, in->v[i].uid, in->v[i].gid);
}

/*
 * Fixed-output builds see the host's resolver files.  They are bound by
 * their resolved name, since the backends refuse to bind a symlink.
 */
static int
add_net_files(struct sandbox_plan *plan, int network)
{
	char real[PATH_MAX];
	int hosts = 0;
	size_t i;

	for (i = 0; network && net_files[i] != NULL; i++) {
		if (realpath(net_files[i], real) == NULL) {
			if (errno == ENOENT)
				continue;
			return frx_seterr_errno("sandbox plan: realpath %s",
			    net_files[i]);
		}
		plan_add(plan, PLAN_BIND_RO, real, net_files[i], 0, 0, 0);
		if (strcmp(net_files[i], "/etc/hosts") == 0)
			hosts = 1;
	}
	if (!hosts)
		plan_add(plan, PLAN_FILE, "127.0.0.1 localhost\n"
		    "::1 localhost\n", "/etc/hosts", 0644, 0, 0);
	return 0;
}

/*
 * On FreeBSD the jail gets no procfs, and POSIX shared memory needs no
 * file system, so there is no /proc and no /dev/shm.
 */
static void
add_dev(struct sandbox_plan *plan, enum plan_flavor flavor)
{
	const char *const (*l)[2];
	char path[64];
	size_t i;

	if (flavor == PLAN_LINUX)
		plan_add(plan, PLAN_PROC, "proc", "/proc", 0555, 0, 0);
	plan_add(plan, PLAN_DEVFS, "devfs", "/dev", 0755, 0, 0);
	for (i = 0; dev_nodes[i] != NULL; i++) {
		snprintf(path, sizeof(path), "/dev/%s", dev_nodes[i]);
		plan_add(plan, PLAN_DEVNODE, path, path, 0666, 0, 0);
	}
	for (l = dev_fd_links; (*l)[0] != NULL; l++) {
		if (flavor == PLAN_LINUX)
			plan_add(plan, PLAN_SYMLINK, (*l)[1], (*l)[0], 0, 0, 0);
		else
			plan_add(plan, PLAN_DEVNODE, (*l)[0], (*l)[0], 0666, 0,
			    0);
	}
	if (flavor == PLAN_LINUX)
		plan_add(plan, PLAN_TMPFS, "tmpfs", "/dev/shm", 01777, 0, 0);
}

static int
check_duplicates(const struct sandbox_plan *plan)
{
	size_t i;

	for (i = 1; i < plan->n; i++)
		if (strcmp(plan->v[i - 1].target, plan->v[i].target) == 0)
			return frx_seterr("sandbox plan: %s: "
			    "appears twice in the plan", plan->v[i].target);
	return 0;
}

int
plan_make_flavor(const struct plan_params *p, enum plan_flavor flavor,
    struct sandbox_plan *out)
{
	struct sandbox_plan plan = { NULL, 0 };
	size_t i;

	out->v = NULL;
	out->n = 0;
	flavor = host_flavor(flavor);
	if (flavor != PLAN_LINUX && flavor != PLAN_FREEBSD)
		return frx_seterr("sandbox plan: unknown flavor %d",
		    (int)flavor);
	if (check_params(p) < 0)
		return -1;
	for (i = 0; p->host_paths != NULL && i < p->host_paths->n; i++)
		if (add_host_path(&plan, p, p->host_paths->v[i]) < 0)
			goto fail;
	add_etc_files(&plan, p, flavor);
	if (add_net_files(&plan, p->network) < 0)
		goto fail;
	add_dev(&plan, flavor);
	if (add_store(&plan, p) < 0)
		goto fail;
	plan_add(&plan, PLAN_BIND_RW, p->builddir, "/tmp", 0, 0, 0);
	plan_sort(&plan);
	if (check_duplicates(&plan) < 0)
		goto fail;
	*out = plan;
	return 0;
fail:
	plan_free(&plan);
	return -1;
}

int
plan_make(const struct plan_params *p, struct sandbox_plan *out)
{
	return plan_make_flavor(p, PLAN_HOST, out);
}

static void
format_entry(const struct plan_entry *e, struct buf *out)
{
	buf_printf(out, "%s %s", plan_kind_name(e->kind), e->target);
	switch (e->kind) {
	case PLAN_DIR:
		buf_printf(out, " mode %04o owner %lu:%lu", (unsigned)e->mode,
		    (unsigned long)e->uid, (unsigned long)e->gid);
		break;
	case PLAN_BIND_RO:
	case PLAN_BIND_RW:
	case PLAN_DEVNODE:
		buf_printf(out, " from %s", e->source);
		break;
	case PLAN_TMPFS:
		buf_printf(out, " mode %04o", (unsigned)e->mode);
		break;
	case PLAN_FILE:
		buf_printf(out, " mode %04o owner %lu:%lu size %zu",
		    (unsigned)e->mode, (unsigned long)e->uid,
		    (unsigned long)e->gid, strlen(e->source));
		break;
	case PLAN_SYMLINK:
		buf_printf(out, " -> %s", e->source);
		break;
	case PLAN_PROC:
	case PLAN_DEVFS:
		break;
	}
	buf_addc(out, '\n');
}

int
plan_format(const struct sandbox_plan *p, struct buf *out)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		format_entry(&p->v[i], out);
	return 0;
}
