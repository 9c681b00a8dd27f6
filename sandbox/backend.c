/*
 * backend.c: the parts of a sandbox backend that do not depend on the
 * operating system: the status protocol between the builder and the
 * daemon, and making the planned directories, files and mount points.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"

void
sb_child_fail(int fd)
{
	const char *msg = frx_errmsg();

	/* Nothing to do if the daemon is gone: we exit either way. */
	(void)write_full(fd, msg, strlen(msg));
	_exit(127);
}

int
sb_report_ok(int fd)
{
	char host[256 + 1], line[SB_STATUS_MAX];
	int n;

	if (gethostname(host, sizeof(host)) < 0)
		return frx_seterr_errno("sandbox: builder: gethostname");
	host[sizeof(host) - 1] = '\0';
	n = snprintf(line, sizeof(line), "ok %lu %lu %s\n",
	    (unsigned long)getuid(), (unsigned long)getgid(), host);
	if (write_full(fd, line, (size_t)n) < 0)
		return frx_seterr_errno("sandbox: builder: report");
	return 0;
}

int
sb_read_status(int fd, struct buf *b)
{
	char tmp[512];
	ssize_t n;

	for (;;) {
		n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return frx_seterr_errno("sandbox: read status pipe");
		if (n == 0)
			return 0;
		if (b->len < SB_STATUS_MAX)
			buf_add(b, tmp, (size_t)n);
	}
}

int
sb_parse_ok(const char *text, uid_t *uid, gid_t *gid, char **host)
{
	unsigned long u, g;
	const char *nl = strchr(text, '\n');
	char *end;

	if (strncmp(text, "ok ", 3) != 0 || nl == NULL || nl[1] != '\0')
		return -1;
	u = strtoul(text + 3, &end, 10);
	if (*end != ' ')
		return -1;
	g = strtoul(end + 1, &end, 10);
	if (*end != ' ')
		return -1;
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	*host = xstrndup(end + 1, (size_t)(nl - end - 1));
	return 0;
}

int
sb_status_error(struct buf *status, const char *who)
{
	char *msg = status->len > 0 ? status->data : "";

	if (strncmp(msg, "ok ", 3) == 0 && strchr(msg, '\n') != NULL)
		msg = strchr(msg, '\n') + 1;
	msg[strcspn(msg, "\n")] = '\0';
	if (msg[0] == '\0')
		return frx_seterr("sandbox: %s died before reporting", who);
	return frx_seterr("%s", msg);
}

int
sb_set_limits(const struct sandbox_spec *s)
{
	struct rlimit rl;

	rl.rlim_cur = rl.rlim_max = s->max_procs ? s->max_procs :
	    SANDBOX_MAX_PROCS;
	if (setrlimit(RLIMIT_NPROC, &rl) < 0)
		return frx_seterr_errno("sandbox: builder: setrlimit NPROC");
	rl.rlim_cur = rl.rlim_max = 0;
	if (setrlimit(RLIMIT_CORE, &rl) < 0)
		return frx_seterr_errno("sandbox: builder: setrlimit CORE");
	if (s->max_files != NULL && setrlimit(RLIMIT_NOFILE, s->max_files) < 0)
		return frx_seterr_errno("sandbox: builder: setrlimit NOFILE");
	return 0;
}

int
sb_check_spec(const struct sandbox_spec *s)
{
	if (s->root == NULL || s->root[0] != '/' || s->plan == NULL ||
	    s->argv == NULL || s->argv[0] == NULL || s->envp == NULL ||
	    s->cwd == NULL || s->hostname == NULL)
		return frx_seterr("sandbox: incomplete sandbox spec");
	if (s->uid == 0 || s->gid == 0)
		return frx_seterr("sandbox: build user %lu:%lu: refusing to "
		    "build as root", (unsigned long)s->uid,
		    (unsigned long)s->gid);
	return 0;
}

int
sb_make_parents(const char *full, size_t rlen, const char *target)
{
	char path[PATH_MAX];
	struct stat st;
	char *slash;

	if (strlen(full) >= sizeof(path))
		return frx_seterr("sandbox: %s: path too long", full);
	memcpy(path, full, strlen(full) + 1);
	for (slash = strchr(path + rlen + 1, '/'); slash != NULL;
	    slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (lstat(path, &st) < 0) {
			if (errno != ENOENT || mkdir(path, 0755) < 0)
				return frx_seterr_errno("sandbox: mkdir %s",
				    path);
		} else if (!S_ISDIR(st.st_mode)) {
			return frx_seterr("sandbox: %s: parent of %s is not "
			    "a directory", path, target);
		}
		*slash = '/';
	}
	return 0;
}

int
sb_make_mount_point(const char *path, int dir)
{
	int fd;

	if (dir) {
		if (mkdir(path, 0755) < 0)
			return frx_seterr_errno("sandbox: mkdir %s", path);
		return 0;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd < 0)
		return frx_seterr_errno("sandbox: create %s", path);
	close(fd);
	return 0;
}

int
sb_make_dir(const struct plan_entry *e, const char *path)
{
	if (mkdir(path, 0700) < 0)
		return frx_seterr_errno("sandbox: mkdir %s", path);
	if (chown(path, e->uid, e->gid) < 0)
		return frx_seterr_errno("sandbox: chown %s", path);
	if (chmod(path, e->mode) < 0)
		return frx_seterr_errno("sandbox: chmod %s", path);
	return 0;
}

/* A PLAN_FILE's content into fd, owned and moded as planned; closes fd. */
static int
fill_file(int fd, const struct plan_entry *e, const char *path)
{
	if (write_full(fd, e->source, strlen(e->source)) < 0 ||
	    fchown(fd, e->uid, e->gid) < 0 || fchmod(fd, e->mode) < 0) {
		frx_seterr_errno("sandbox: write %s", path);
		close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return frx_seterr_errno("sandbox: close %s", path);
	return 0;
}

int
sb_make_file(const struct plan_entry *e, const char *path)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0)
		return frx_seterr_errno("sandbox: create %s", path);
	return fill_file(fd, e, path);
}

static int
is_mount(enum plan_kind k)
{
	return k == PLAN_BIND_RO || k == PLAN_BIND_RW || k == PLAN_TMPFS ||
	    k == PLAN_PROC || k == PLAN_DEVFS || k == PLAN_DEVNODE;
}

/* Is target at or below a mount of the plan? */
static int
under_mount(const struct sandbox_plan *plan, const char *target)
{
	size_t i, n;

	for (i = 0; i < plan->n; i++) {
		if (!is_mount(plan->v[i].kind))
			continue;
		n = strlen(plan->v[i].target);
		if (!strncmp(target, plan->v[i].target, n) &&
		    (target[n] == '/' || target[n] == '\0' || n == 1))
			return 1;
	}
	return 0;
}

int
sb_apply_user(const char *root, const struct sandbox_plan *plan)
{
	char path[PATH_MAX];
	const struct plan_entry *e;
	size_t i;
	int fd;

	for (i = 0; i < plan->n; i++) {
		e = &plan->v[i];
		if (e->kind != PLAN_FILE && (e->kind != PLAN_DIR ||
		    (e->uid == 0 && e->gid == 0)))
			continue;
		if (under_mount(plan, e->target))
			return frx_seterr("sandbox: %s: below a mount, cannot "
			    "be given its user", e->target);
		if ((size_t)snprintf(path, sizeof(path), "%s%s", root,
		    e->target) >= sizeof(path))
			return frx_seterr("sandbox: %s%s: path too long", root,
			    e->target);
		if (e->kind == PLAN_DIR) {
			if (lchown(path, e->uid, e->gid) < 0 ||
			    chmod(path, e->mode) < 0)
				return frx_seterr_errno("sandbox: chown %s",
				    path);
			continue;
		}
		fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return frx_seterr_errno("sandbox: rewrite %s", path);
		if (fill_file(fd, e, path) < 0)
			return -1;
	}
	return 0;
}

int
sb_give_cwd(const struct sandbox_spec *spec, uid_t uid, gid_t gid)
{
	const struct plan_entry *e;
	size_t i;

	for (i = 0; i < spec->plan->n; i++) {
		e = &spec->plan->v[i];
		if (e->kind != PLAN_BIND_RW || strcmp(e->target, spec->cwd))
			continue;
		if (lchown(e->source, uid, gid) < 0)
			return frx_seterr_errno("sandbox: chown %s", e->source);
		return 0;
	}
	return frx_seterr("sandbox: %s: not a directory of the plan",
	    spec->cwd);
}
