/*
 * freebsd.c: the sandbox backend for FreeBSD, built on a jail.
 *
 * sandbox_start() builds a thin jail root under spec->root from the plan
 * (PLAN_FREEBSD, see sandbox.h): nullfs mounts of host paths and inputs
 * (read-only where asked, always nosuid), a devfs with every node hidden
 * except the few the plan names, generated /etc files and, from the
 * plan's master.passwd, pwd.db.  It then creates a persistent jail on
 * that root (no child jails, statfs limited to the jail, every allow.*
 * off, no network unless the build is a fixed-output one) and forks the
 * builder, which attaches to the jail, drops to the build user and execs.
 *
 * Unlike Linux namespaces, these mounts live in the host's mount table,
 * so every mount and the jail id are written to a ledger before they are
 * made; sandbox_recover() uses it after a crash.  sandbox_kill() removes
 * the jail, which kills every process in it.  See doc/sandbox.md.
 */
#include <sys/param.h>
#include <sys/ioctl.h>
#include <sys/jail.h>
#include <sys/procctl.h>
#include <sys/queue.h>		/* before devfs.h, which uses TAILQ_* */
#include <sys/stat.h>
#include <sys/mount.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <fs/devfs/devfs.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jail.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "sandbox.h"

#define UNMOUNT_TRIES 8		/* 10 ms doubling: about 2.5 s in all */
#define DEVFS_RULESET 18002	/* frx's: rule 1 hides everything */
#define PWD_MKDB "/usr/sbin/pwd_mkdb"

struct sandbox {
	pid_t pid;		/* the builder */
	int jid;		/* -1 when there is no jail (any more) */
	int reaped;
	int status;
	char *root;		/* canonical host path of the jail root */
	char *ledger;
	int ledger_fd;
	void (*notice)(const char *line);
	struct strv mounts;	/* in the order they were made */
	uid_t obs_uid;
	gid_t obs_gid;
	char *obs_hostname;
};

const char *
sandbox_mode(void)
{
	return "freebsd-jail";
}

int
sandbox_init(void)
{
	return 0;
}

/* A jail without addresses has no network to set up: nothing to make
   ahead of the builds. */
int
sandbox_stock_start(void)
{
	return 0;
}

void
sandbox_stock_stop(void)
{
}

static int
path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 &&
	    (path[n] == '\0' || path[n] == '/');
}

/* Tell the daemon about trouble worked around; without a callback
   (recovery has none) it goes to stderr, the daemon's log. */
static void
notice(const struct sandbox *sb, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (sb != NULL && sb->notice != NULL)
		sb->notice(line);
	else
		(void)fprintf(stderr, "%s\n", line);
}

/* Record what is about to exist, before it exists. */
static int
ledger_note(struct sandbox *sb, const char *what, const char *value)
{
	char *line;
	int r = 0;

	if (sb->ledger_fd < 0)
		return 0;
	line = xasprintf("%s %s\n", what, value);
	if (write_full(sb->ledger_fd, line, strlen(line)) < 0)
		r = frx_seterr_errno("sandbox: write ledger %s", sb->ledger);
	free(line);
	return r;
}

/* ---- mounts ---- */

struct mntopts {
	struct iovec iov[16];
	unsigned int n;
	char errmsg[256];
	int error;		/* errno of a failed nmount */
};

static void
opt(struct mntopts *o, const char *name, const char *value)
{
	o->iov[o->n].iov_base = (void *)(uintptr_t)name;
	o->iov[o->n].iov_len = strlen(name) + 1;
	o->n++;
	o->iov[o->n].iov_base = (void *)(uintptr_t)value;
	o->iov[o->n].iov_len = value != NULL ? strlen(value) + 1 : 0;
	o->n++;
}

static int
do_nmount(struct sandbox *sb, struct mntopts *o, int flags,
    const char *what, const char *path)
{
	o->errmsg[0] = '\0';
	o->iov[o->n].iov_base = (void *)(uintptr_t)"errmsg";
	o->iov[o->n].iov_len = sizeof("errmsg");
	o->n++;
	o->iov[o->n].iov_base = o->errmsg;
	o->iov[o->n].iov_len = sizeof(o->errmsg);
	o->n++;
	if (ledger_note(sb, "mount", path) < 0)
		return -1;
	if (nmount(o->iov, o->n, flags) < 0) {
		o->error = errno;
		return frx_seterr("sandbox: mount %s on %s: %s%s%s%s", what,
		    path, strerror(o->error), o->errmsg[0] ? " (" : "",
		    o->errmsg, o->errmsg[0] ? ")" : "");
	}
	strv_add(&sb->mounts, path);
	return 0;
}

/* nullfs follows a symlink given as its target, so refuse one. */
static int
bind_entry(struct sandbox *sb, const struct plan_entry *e, const char *path)
{
	struct mntopts o = { .n = 0 };
	int flags = MNT_NOSUID;
	struct stat st;

	if (lstat(e->source, &st) < 0)
		return frx_seterr_errno("sandbox: stat %s", e->source);
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return frx_seterr("sandbox: bind %s: not a directory or "
		    "regular file", e->source);
	if (sb_make_mount_point(path, S_ISDIR(st.st_mode)) < 0)
		return -1;
	if (e->kind == PLAN_BIND_RO)
		flags |= MNT_RDONLY;
	opt(&o, "fstype", "nullfs");
	opt(&o, "fspath", path);
	opt(&o, "target", e->source);
	if (do_nmount(sb, &o, flags, e->source, path) == 0)
		return 0;
	/* A kernel whose nullfs cannot mount a file says "not a dir". */
	if (!S_ISDIR(st.st_mode) && o.error == ENOTDIR)
		frx_preferr("sandbox: %s is a file, and this kernel's nullfs "
		    "mounts only directories (FreeBSD 14 mounts files)",
		    e->source);
	return -1;
}

static int
tmpfs_entry(struct sandbox *sb, const struct plan_entry *e, const char *path)
{
	struct mntopts o = { .n = 0 };
	char mode[16];

	if (mkdir(path, 0755) < 0)
		return frx_seterr_errno("sandbox: mkdir %s", path);
	snprintf(mode, sizeof(mode), "%04o", (unsigned)e->mode);
	opt(&o, "fstype", "tmpfs");
	opt(&o, "fspath", path);
	opt(&o, "mode", mode);
	return do_nmount(sb, &o, MNT_NOSUID, "tmpfs", path);
}

static int
devfs_rule(int fd, const char *path, int action, const char *name)
{
	struct devfs_rule r;

	memset(&r, 0, sizeof(r));
	r.dr_magic = DEVFS_MAGIC;
	r.dr_iacts = DRA_BACTS;
	r.dr_bacts = action;
	if (name != NULL) {
		r.dr_icond = DRC_PATHPTRN;
		if (strlcpy(r.dr_pathptrn, name, sizeof(r.dr_pathptrn)) >=
		    sizeof(r.dr_pathptrn))
			return frx_seterr("sandbox: devfs rule %s: too long",
			    name);
	}
	if (ioctl(fd, DEVFSIO_RAPPLY, &r) < 0)
		return frx_seterr_errno("sandbox: devfs %s %s in %s",
		    action == DRB_HIDE ? "hide" : "unhide",
		    name != NULL ? name : "everything", path);
	return 0;
}

/*
 * Rulesets live in the kernel, shared by every devfs.  Ours, DEVFS_RULESET,
 * holds one rule, number 1, "hide everything"; every build adds it if it
 * is missing (EEXIST is another build's) and then checks that the set
 * holds exactly that rule.  A set someone else filled differently is
 * refused, never changed: other mounts may be using it.
 */
static int
devfs_ruleset(int fd, const char *path)
{
	struct devfs_rule want, got;

	memset(&want, 0, sizeof(want));
	want.dr_magic = DEVFS_MAGIC;
	want.dr_id = mkrid(DEVFS_RULESET, 1);
	want.dr_iacts = DRA_BACTS;
	want.dr_bacts = DRB_HIDE;
	if (ioctl(fd, DEVFSIO_RADD, &want) < 0 && errno != EEXIST)
		return frx_seterr_errno("sandbox: devfs ruleset %d: add rule 1 "
		    "in %s", DEVFS_RULESET, path);
	memset(&got, 0, sizeof(got));
	got.dr_magic = DEVFS_MAGIC;
	got.dr_id = mkrid(DEVFS_RULESET, 0);
	if (ioctl(fd, DEVFSIO_RGETNEXT, &got) < 0)
		return frx_seterr_errno("sandbox: devfs ruleset %d: read rule 1 "
		    "in %s", DEVFS_RULESET, path);
	if (got.dr_id != want.dr_id || got.dr_icond != 0 ||
	    got.dr_iacts != DRA_BACTS || got.dr_bacts != DRB_HIDE ||
	    ioctl(fd, DEVFSIO_RGETNEXT, &got) == 0 || errno != ENOENT)
		return frx_seterr("sandbox: devfs ruleset %d is not frx's (one "
		    "rule, 1, hiding everything); remove it with \"devfs rule "
		    "-s %d delset\"", DEVFS_RULESET, DEVFS_RULESET);
	return 0;
}

/*
 * A devfs of our own.  The mount uses DEVFS_RULESET, so a node created
 * later (a new pty, a clone device) stays hidden; the nodes already there
 * are hidden, and then those the plan lists below the devfs are unhidden,
 * rule by rule (DEVFSIO_RAPPLY, as "devfs rule apply" does).  Nothing of
 * this depends on /etc/devfs.rules.
 */
static int
devfs_entry(struct sandbox *sb, const struct sandbox_plan *plan,
    const struct plan_entry *e, const char *path)
{
	struct mntopts o = { .n = 0 };
	size_t i, n = strlen(e->target);
	devfs_rsnum rs = DEVFS_RULESET;
	int fd, r = 0;

	if (mkdir(path, 0755) < 0)
		return frx_seterr_errno("sandbox: mkdir %s", path);
	opt(&o, "fstype", "devfs");
	opt(&o, "fspath", path);
	if (do_nmount(sb, &o, MNT_NOSUID | MNT_NOEXEC, "devfs", path) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return frx_seterr_errno("sandbox: open %s", path);
	r = devfs_ruleset(fd, path);
	if (r == 0 && ioctl(fd, DEVFSIO_SUSE, &rs) < 0)
		r = frx_seterr_errno("sandbox: devfs use ruleset %d in %s",
		    DEVFS_RULESET, path);
	if (r == 0)
		r = devfs_rule(fd, path, DRB_HIDE, NULL);
	for (i = 0; r == 0 && i < plan->n; i++) {
		const struct plan_entry *d = &plan->v[i];

		if ((d->kind != PLAN_DEVNODE && d->kind != PLAN_SYMLINK) ||
		    !path_within(d->target, e->target) || d->target[n] != '/')
			continue;
		r = devfs_rule(fd, path, DRB_UNHIDE, d->target + n + 1);
		if (r == 0 && strcmp(d->target + n + 1, "fd") == 0)
			r = devfs_rule(fd, path, DRB_UNHIDE, "fd/*");
	}
	close(fd);
	return r;
}

/* Device nodes and links below a devfs come from the devfs itself. */
static int
under_devfs(const struct sandbox_plan *plan, const struct plan_entry *e)
{
	size_t i;

	for (i = 0; i < plan->n; i++)
		if (plan->v[i].kind == PLAN_DEVFS &&
		    strcmp(plan->v[i].target, e->target) != 0 &&
		    path_within(e->target, plan->v[i].target))
			return 1;
	return 0;
}

static int
apply_entry(struct sandbox *sb, const struct sandbox_plan *plan,
    const struct plan_entry *e)
{
	char path[PATH_MAX];
	int n;

	if (e->target[0] != '/')
		return frx_seterr("sandbox: %s: target is not absolute",
		    e->target);
	if ((e->kind == PLAN_DEVNODE || e->kind == PLAN_SYMLINK) &&
	    under_devfs(plan, e))
		return 0;
	n = snprintf(path, sizeof(path), "%s%s", sb->root, e->target);
	if (n < 0 || (size_t)n >= sizeof(path))
		return frx_seterr("sandbox: %s%s: path too long", sb->root,
		    e->target);
	if (sb_make_parents(path, strlen(sb->root), e->target) < 0)
		return -1;
	switch (e->kind) {
	case PLAN_DIR:
		return sb_make_dir(e, path);
	case PLAN_BIND_RO:
	case PLAN_BIND_RW:
		return bind_entry(sb, e, path);
	case PLAN_TMPFS:
		return tmpfs_entry(sb, e, path);
	case PLAN_DEVFS:
		return devfs_entry(sb, plan, e, path);
	case PLAN_PROC:
		/* The PLAN_FREEBSD plan has none: the jail gets no procfs. */
		return frx_seterr("sandbox: %s: no procfs in a jail (not a "
		    "FreeBSD plan?)", e->target);
	case PLAN_DEVNODE:
		return frx_seterr("sandbox: %s: device node outside a devfs",
		    e->target);
	case PLAN_FILE:
		return sb_make_file(e, path);
	case PLAN_SYMLINK:
		if (symlink(e->source, path) < 0)
			return frx_seterr_errno("sandbox: symlink %s -> %s",
			    path, e->source);
		return 0;
	}
	return frx_seterr("sandbox: %s: unknown plan entry kind", e->target);
}

/*
 * getpwuid() in the jail reads <root>/etc/pwd.db, not /etc/passwd: build
 * the databases from the master.passwd the plan wrote, with pwd_mkdb(8)
 * run as "pwd_mkdb -d <root>/etc <root>/etc/master.passwd" (the file
 * stays where it is; pwd.db and spwd.db go beside it and leave with the
 * root tree).  Its stderr becomes the error message.
 */
static int
make_pwd_db(const char *root)
{
	char dir[PATH_MAX], file[PATH_MAX], out[512], rest[256];
	char *argv[] = { PWD_MKDB, "-d", dir, file, NULL };
	char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	    "PW_SCAN_BIG_IDS=1", NULL };
	size_t len = 0;
	ssize_t n;
	pid_t pid;
	int p[2], st;

	if ((size_t)snprintf(file, sizeof(file), "%s/etc/master.passwd",
	    root) >= sizeof(file))
		return frx_seterr("sandbox: %s/etc/master.passwd: path too "
		    "long", root);
	snprintf(dir, sizeof(dir), "%s/etc", root);
	if (pipe2(p, O_CLOEXEC) < 0)
		return frx_seterr_errno("sandbox: pipe for pwd_mkdb");
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return frx_seterr_errno("sandbox: fork pwd_mkdb");
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null < 0 || dup2(null, 0) < 0 || dup2(p[1], 1) < 0 ||
		    dup2(p[1], 2) < 0)
			_exit(127);
		closefrom(3);
		execve(PWD_MKDB, argv, envp);
		dprintf(2, "execve: %s\n", strerror(errno));
		_exit(127);
	}
	close(p[1]);
	for (;;) {	/* keep the start of the output, drain the rest */
		if (len < sizeof(out) - 1)
			n = read(p[0], out + len, sizeof(out) - 1 - len);
		else
			n = read(p[0], rest, sizeof(rest));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len < sizeof(out) - 1)
			len += (size_t)n;
	}
	out[len] = '\0';
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return frx_seterr_errno("sandbox: waitpid pwd_mkdb");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	out[strcspn(out, "\n")] = '\0';
	return frx_seterr("sandbox: %s -d %s %s: %s %d%s%s", PWD_MKDB, dir,
	    file, WIFEXITED(st) ? "exit status" : "signal",
	    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
	    out[0] != '\0' ? ": " : "", out);
}

/* ---- the jail ---- */

/*
 * Every allow.* is off, except allow.suser: without it root in the jail
 * has no privilege, and the builder could not setuid to the build user
 * after jail_attach.  It is on by default, but is asked for all the same,
 * so that a host with security.bsd.suser_enabled=0 fails here with a
 * clear message rather than at the builder's setuid.  lock_jail() turns
 * it off once the builder has dropped.  The allow.* are named even where off is the default, since
 * the host's security.jail.* sysctls change the defaults.  Only long
 * stable ones (FreeBSD 12 and later); the per-file-system allow.mount.*
 * need allow.mount as well.
 */
static int
create_jail(struct sandbox *sb, const struct sandbox_spec *s)
{
	const char *ip = s->network ? "inherit" : "disable";
	char jid[16];

	sb->jid = jail_setv(JAIL_CREATE, "path", sb->root,
	    "host.hostname", s->hostname, "persist", (char *)NULL,
	    "children.max", "0", "enforce_statfs", "2",
	    "ip4", ip, "ip6", ip,
	    "allow.set_hostname", "false",
	    "allow.sysvipc", "false",
	    "allow.raw_sockets", "false",
	    "allow.chflags", "false",
	    "allow.mount", "false",
	    "allow.quotas", "false",
	    "allow.socket_af", "false",
	    "allow.mlock", "false",
	    "allow.reserved_ports", "false",
	    "allow.read_msgbuf", "false",
	    "allow.unprivileged_proc_debug", "false",
	    "allow.suser", "true", (char *)NULL);
	if (sb->jid < 0)
		return frx_seterr("sandbox: jail_set %s: %s", sb->root,
		    jail_errmsg);
	snprintf(jid, sizeof(jid), "%d", sb->jid);
	if (ledger_note(sb, "jid", jid) < 0)
		return -1;
	if (sb->ledger_fd >= 0 && fsync(sb->ledger_fd) < 0)
		return frx_seterr_errno("sandbox: fsync ledger %s",
		    sb->ledger);
	return 0;
}

/* The builder has dropped to the build user: no root in the jail from
   now on, so allow.suser can go too. */
static int
lock_jail(const struct sandbox *sb)
{
	char jid[16];

	snprintf(jid, sizeof(jid), "%d", sb->jid);
	if (jail_setv(JAIL_UPDATE, "jid", jid, "allow.suser", "false",
	    (char *)NULL) < 0)
		return frx_seterr("sandbox: jail_set %s allow.suser=false: %s",
		    jid, jail_errmsg);
	return 0;
}

/* jail_remove kills every process in the jail. */
static int
remove_jail(struct sandbox *sb)
{
	if (sb->jid < 0)
		return 0;
	if (jail_remove(sb->jid) < 0 && errno != EINVAL)
		return frx_seterr_errno("sandbox: jail_remove %d", sb->jid);
	sb->jid = -1;
	return 0;
}

/* ---- the builder: a child of the daemon that enters the jail ---- */

/* stdin /dev/null (the jail's), stdout and stderr the log, the status
   pipe on 3 until execve, nothing else. */
static int
setup_fds(int log_fd, int status_w)
{
	int fd, logc = -1;

	if (log_fd >= 0 && (logc = fcntl(log_fd, F_DUPFD, 4)) < 0)
		return frx_seterr_errno("sandbox: builder: dup log");
	if ((status_w = fcntl(status_w, F_DUPFD, 4)) < 0)
		return frx_seterr_errno("sandbox: builder: dup status");
	fd = open("/dev/null", O_RDONLY);
	if (fd < 0)
		return frx_seterr_errno("sandbox: builder: open /dev/null");
	if (logc < 0)
		logc = fd;
	if (dup2(fd, 0) < 0 || dup2(logc, 1) < 0 || dup2(logc, 2) < 0 ||
	    dup2(status_w, 3) < 0)
		return frx_seterr_errno("sandbox: builder: dup2");
	if (fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
		return frx_seterr_errno("sandbox: builder: cloexec");
	closefrom(4);
	return 0;
}

static int
drop_privileges(uid_t uid, gid_t gid)
{
	gid_t groups[NGROUPS_MAX + 1];
	int n, i, sig = SIGKILL;

	if (setgroups(0, NULL) < 0 && setgroups(1, &gid) < 0)
		return frx_seterr_errno("sandbox: builder: setgroups");
	if (setgid(gid) < 0)
		return frx_seterr_errno("sandbox: builder: setgid %lu",
		    (unsigned long)gid);
	if (setuid(uid) < 0)
		return frx_seterr_errno("sandbox: builder: setuid %lu",
		    (unsigned long)uid);
	n = getgroups(NGROUPS_MAX + 1, groups);
	if (getuid() != uid || geteuid() != uid || getgid() != gid ||
	    getegid() != gid || n < 0)
		return frx_seterr("sandbox: builder: credentials did not "
		    "change to %lu:%lu", (unsigned long)uid,
		    (unsigned long)gid);
	for (i = 0; i < n; i++)
		if (groups[i] != gid)
			return frx_seterr("sandbox: builder: supplementary "
			    "group %lu left", (unsigned long)groups[i]);
	if (setuid(0) == 0)
		return frx_seterr("sandbox: builder: setuid 0 still works");
	if (procctl(P_PID, 0, PROC_PDEATHSIG_CTL, &sig) < 0)
		return frx_seterr_errno("sandbox: builder: pdeathsig");
#ifdef PROC_NO_NEW_PRIVS_CTL
	sig = PROC_NO_NEW_PRIVS_ENABLE;
	if (procctl(P_PID, 0, PROC_NO_NEW_PRIVS_CTL, &sig) < 0)
		return frx_seterr_errno("sandbox: builder: no_new_privs");
#endif
	return 0;
}

static void
reset_signals(void)
{
	sigset_t none;
	int sig;

	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	/* NSIG is 32 here; the real-time signals go up to SIGRTMAX. */
	for (sig = 1; sig <= SIGRTMAX; sig++)
		(void)signal(sig, SIG_DFL);	/* SIGKILL etc. fail: fine */
}

static void
builder_main(const struct sandbox_spec *s, int jid, int status_w)
{
	if (jail_attach(jid) < 0) {
		frx_seterr_errno("sandbox: builder: jail_attach %d", jid);
		sb_child_fail(status_w);
	}
	if (setup_fds(s->log_fd, status_w) < 0)
		sb_child_fail(status_w);
	status_w = 3;
	if (setsid() < 0) {
		frx_seterr_errno("sandbox: builder: setsid");
		sb_child_fail(status_w);
	}
	reset_signals();
	if (sb_set_limits(s) < 0 || drop_privileges(s->uid, s->gid) < 0)
		sb_child_fail(status_w);
	if (chdir(s->cwd) < 0) {
		frx_seterr_errno("sandbox: builder: chdir %s", s->cwd);
		sb_child_fail(status_w);
	}
	umask(022);
	if (sb_report_ok(status_w) < 0)
		sb_child_fail(status_w);
	execve(s->argv[0], s->argv, s->envp);
	frx_seterr_errno("sandbox: builder: execve %s", s->argv[0]);
	sb_child_fail(status_w);
}

/* ---- the daemon side ---- */

static int
launch(const struct sandbox_spec *spec, struct sandbox *sb)
{
	struct buf status = BUF_INIT;
	int sp[2], r;

	if (pipe2(sp, O_CLOEXEC) < 0)
		return frx_seterr_errno("sandbox: pipe");
	sb->pid = fork();
	if (sb->pid == 0)
		builder_main(spec, sb->jid, sp[1]);
	close(sp[1]);
	if (sb->pid < 0) {
		close(sp[0]);
		return frx_seterr_errno("sandbox: fork the builder");
	}
	r = sb_read_status(sp[0], &status);
	close(sp[0]);
	if (r == 0 && sb_parse_ok(status.len ? status.data : "", &sb->obs_uid,
	    &sb->obs_gid, &sb->obs_hostname) < 0)
		r = sb_status_error(&status, "builder");
	buf_free(&status);
	if (r == 0)
		r = lock_jail(sb);
	return r;
}

static int
reap(struct sandbox *sb, int flags)
{
	pid_t w;

	if (sb->reaped || sb->pid <= 0)
		return 1;
	do
		w = waitpid(sb->pid, &sb->status, flags);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return frx_seterr_errno("sandbox: waitpid %ld",
		    (long)sb->pid);
	if (w == 0)
		return 0;
	sb->reaped = 1;
	/* As on Linux, the build ends with its builder: whatever it left
	   running dies now (and lets go of the log pipe). */
	if (remove_jail(sb) < 0)
		return -1;
	return 1;
}

/* Unmount, waiting out a busy file system for a while before forcing. */
static int
unmount_path(const struct sandbox *sb, const char *path)
{
	useconds_t delay = 10000;
	int i;

	for (i = 0; i < UNMOUNT_TRIES; i++) {
		if (unmount(path, 0) == 0 || errno == EINVAL ||
		    errno == ENOENT)
			return 0;	/* EINVAL: not (any more) a mount */
		if (errno != EBUSY)
			return frx_seterr_errno("sandbox: unmount %s", path);
		usleep(delay);
		delay *= 2;
	}
	notice(sb, "sandbox: unmount %s: %s; forcing", path,
	    strerror(EBUSY));
	if (unmount(path, MNT_FORCE) < 0 && errno != EINVAL)
		return frx_seterr_errno("sandbox: unmount (forced) %s", path);
	return 0;
}

static int
check_unmounted(const char *root)
{
	struct statfs *m;
	int n, i;

	n = getmntinfo(&m, MNT_NOWAIT);
	if (n <= 0)
		return frx_seterr_errno("sandbox: getmntinfo");
	for (i = 0; i < n; i++)
		if (path_within(m[i].f_mntonname, root))
			return frx_seterr("sandbox: not removing %s: %s is "
			    "still mounted", root, m[i].f_mntonname);
	return 0;
}

/*
 * Whatever the kernel still has mounted below root, in case the list was
 * short (a ledger whose last lines never reached the disk).  The mount
 * list is in mount order, so walking it backwards is deepest first.
 */
static int
unmount_leftovers(const struct sandbox *sb, const char *root)
{
	struct statfs *m;
	size_t n = strlen(root);
	struct strv left = STRV_INIT;
	int count, i, r = 0;

	count = getmntinfo(&m, MNT_NOWAIT);
	if (count <= 0)
		return frx_seterr_errno("sandbox: getmntinfo");
	for (i = count; i > 0; i--)
		if (strncmp(m[i - 1].f_mntonname, root, n) == 0 &&
		    m[i - 1].f_mntonname[n] == '/')
			strv_add(&left, m[i - 1].f_mntonname);
	for (i = 0; (size_t)i < left.n; i++)
		if (unmount_path(sb, left.v[i]) < 0)
			r = -1;
	strv_free(&left);
	return r;
}

/* Deepest first: the plan mounted parents before children. */
static int
teardown(const struct sandbox *sb, const char *root,
    const struct strv *mounts)
{
	size_t i;
	int r = 0;

	for (i = mounts->n; i > 0; i--)
		if (unmount_path(sb, mounts->v[i - 1]) < 0)
			r = -1;
	if (r == 0)
		r = unmount_leftovers(sb, root);
	if (r < 0 || check_unmounted(root) < 0)
		return -1;
	if (remove_tree(root) < 0)
		return frx_preferr("sandbox: remove %s", root);
	return 0;
}

static void
sandbox_free(struct sandbox *sb)
{
	if (sb->ledger_fd >= 0)
		close(sb->ledger_fd);
	strv_free(&sb->mounts);
	free(sb->root);
	free(sb->ledger);
	free(sb->obs_hostname);
	free(sb);
}

static int
open_ledger(const struct sandbox_spec *spec, struct sandbox *sb)
{
	if (spec->ledger == NULL)
		return 0;
	sb->ledger = xstrdup(spec->ledger);
	sb->ledger_fd = open(spec->ledger, O_WRONLY | O_CREAT | O_TRUNC |
	    O_APPEND | O_CLOEXEC, 0600);
	if (sb->ledger_fd < 0)
		return frx_seterr_errno("sandbox: open ledger %s",
		    spec->ledger);
	return 0;
}

static int
make_root(const struct sandbox_spec *spec, struct sandbox *sb)
{
	char real[PATH_MAX];

	if (mkdir(spec->root, 0755) < 0)
		return frx_seterr_errno("sandbox: mkdir %s", spec->root);
	if (chmod(spec->root, 0755) < 0 || realpath(spec->root, real) == NULL)
		return frx_seterr_errno("sandbox: %s", spec->root);
	sb->root = xstrdup(real);
	return ledger_note(sb, "root", sb->root);
}

static int
build_root(const struct sandbox_spec *spec, struct sandbox *sb)
{
	int pwdb = 0;
	size_t i;

	if (make_root(spec, sb) < 0)
		return -1;
	for (i = 0; i < spec->plan->n; i++) {
		const struct plan_entry *e = &spec->plan->v[i];

		if (apply_entry(sb, spec->plan, e) < 0)
			return -1;
		if (e->kind == PLAN_FILE &&
		    strcmp(e->target, "/etc/master.passwd") == 0)
			pwdb = 1;
	}
	if (pwdb && make_pwd_db(sb->root) < 0)
		return -1;
	return create_jail(sb, spec);
}

/* Undo a failed start; keep the first message. */
static void
abort_start(struct sandbox *sb)
{
	char *msg = xstrdup(frx_errmsg());
	int r = 0;

	if (remove_jail(sb) < 0)
		r = -1;
	if (sb->pid > 0) {
		(void)kill(sb->pid, SIGKILL);
		(void)reap(sb, 0);
	}
	if (r == 0 && sb->root != NULL &&
	    teardown(sb, sb->root, &sb->mounts) < 0)
		r = -1;
	if (r < 0)
		frx_seterr("%s; cleanup: %s", msg, frx_errmsg());
	else {
		frx_seterr("%s", msg);
		if (sb->ledger != NULL)
			(void)unlink(sb->ledger);
	}
	free(msg);
	sandbox_free(sb);
}

static int
start(const struct sandbox_spec *spec, struct sandbox **out)
{
	struct sandbox *sb;

	sb = xcalloc(1, sizeof(*sb));
	sb->pid = -1;
	sb->jid = -1;
	sb->ledger_fd = -1;
	sb->notice = spec->notice;
	if (open_ledger(spec, sb) < 0) {
		sandbox_free(sb);
		return -1;
	}
	if (build_root(spec, sb) < 0 || launch(spec, sb) < 0) {
		abort_start(sb);
		return -1;
	}
	*out = sb;
	return 0;
}

/*
 * Nothing is made ahead here: with spec->await_user, the user is
 * awaited first (in the caller), and the jail and its mounts are made
 * for that user.
 */
int
sandbox_start(const struct sandbox_spec *spec, struct sandbox **out)
{
	struct sandbox_spec s;
	struct sandbox_plan plan = { NULL, 0 };
	int r;

	*out = NULL;
	if (sb_check_spec(spec) < 0)
		return -1;
	if (spec->await_user == NULL)
		return start(spec, out);
	s = *spec;
	s.await_user = NULL;
	if (spec->await_user(spec->await_arg, &s.uid, &s.gid) < 0 ||
	    sb_check_spec(&s) < 0)
		return -1;
	plan_copy(spec->plan, &plan);
	plan_set_user(&plan, s.uid, s.gid);
	s.plan = &plan;
	r = sb_give_cwd(&s, s.uid, s.gid);
	if (r == 0)
		r = start(&s, out);
	plan_free(&plan);
	return r;
}

pid_t
sandbox_pid(const struct sandbox *sb)
{
	return sb->pid;
}

int
sandbox_poll(struct sandbox *sb, int *status)
{
	int r = reap(sb, WNOHANG);

	if (r == 1)
		*status = sb->status;
	return r;
}

int
sandbox_wait(struct sandbox *sb, int *status)
{
	if (reap(sb, 0) < 0)
		return -1;
	*status = sb->status;
	return 0;
}

/* jail_remove(2) kills the jail's processes but does not wait for them. */
int
sandbox_gone(const struct sandbox *sb)
{
	(void)sb;
	return 0;
}

int
sandbox_kill(struct sandbox *sb)
{
	if (remove_jail(sb) < 0)
		return -1;
	if (!sb->reaped && kill(sb->pid, SIGKILL) < 0 && errno != ESRCH)
		return frx_seterr_errno("sandbox: kill builder %ld",
		    (long)sb->pid);
	return 0;
}

uid_t
sandbox_observed_uid(const struct sandbox *sb)
{
	return sb->obs_uid;
}

gid_t
sandbox_observed_gid(const struct sandbox *sb)
{
	return sb->obs_gid;
}

const char *
sandbox_observed_hostname(const struct sandbox *sb)
{
	return sb->obs_hostname != NULL ? sb->obs_hostname : "";
}

int
sandbox_destroy(struct sandbox *sb)
{
	int r = 0;

	if (sb == NULL)
		return 0;
	if (sandbox_kill(sb) < 0 || reap(sb, 0) < 0)
		r = -1;
	if (r == 0 && teardown(sb, sb->root, &sb->mounts) < 0)
		r = -1;
	if (r == 0 && sb->ledger != NULL && unlink(sb->ledger) < 0 &&
	    errno != ENOENT)
		r = frx_seterr_errno("sandbox: remove ledger %s", sb->ledger);
	sandbox_free(sb);
	return r;
}

/*
 * Remove every jail whose path is our root.  The ledger's jid is not
 * trusted: jail ids are reused, and a crash between jail_set and the
 * ledger write leaves a jail with no jid noted.
 */
static int
recover_jails(const char *root)
{
	char path[MAXPATHLEN], last[16];
	int jid = 0;

	for (;;) {
		snprintf(last, sizeof(last), "%d", jid);
		path[0] = '\0';
		jid = jail_getv(0, "lastjid", last, "path", path,
		    (char *)NULL);
		if (jid < 0 && errno == ENOENT)
			return 0;
		if (jid < 0)
			return frx_seterr("sandbox: recover: jail_get after "
			    "jid %s: %s", last, jail_errmsg);
		if (strcmp(path, root) == 0 && jail_remove(jid) < 0 &&
		    errno != EINVAL)
			return frx_seterr_errno("sandbox: recover: jail_remove "
			    "%d (%s)", jid, root);
	}
}

/* A path as the ledger must hold it: absolute, not "/", no "." or ".."
   component, no empty one. */
static int
ledger_path_ok(const char *p)
{
	const char *c;

	if (p[0] != '/' || p[1] == '\0')
		return 0;
	for (c = p; *c != '\0'; c++)
		if (c[0] == '/' && (c[1] == '/' || c[1] == '\0' ||
		    (c[1] == '.' && (c[2] == '/' || c[2] == '\0' ||
		    (c[2] == '.' && (c[3] == '/' || c[3] == '\0'))))))
			return 0;
	return 1;
}

/*
 * The ledger is written a line at a time (O_APPEND), each note before
 * what it records, so a last line without its newline was cut short and
 * records nothing that was made: it is ignored.  Any other line that does
 * not parse, a root that is not the first line, or a mount that is not
 * below the root means the ledger cannot be trusted to say what to
 * unmount and remove: refused, and kept.
 */
static int
parse_ledger(const char *path, char *text, char **root,
    struct strv *mounts)
{
	char *line, *nl;
	size_t n = 0;

	*root = NULL;
	for (line = text; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		*nl = '\0';
		if (*root == NULL && strncmp(line, "root ", 5) == 0 &&
		    ledger_path_ok(line + 5)) {
			*root = line + 5;
			n = strlen(*root);
		} else if (*root != NULL && strncmp(line, "mount ", 6) == 0 &&
		    ledger_path_ok(line + 6) &&
		    strncmp(line + 6, *root, n) == 0 && line[6 + n] == '/') {
			strv_add(mounts, line + 6);
		} else if (*root == NULL || strncmp(line, "jid ", 4) != 0) {
			return frx_seterr("sandbox: recover: %s: not a ledger "
			    "line, or out of place: \"%.100s\"; left alone",
			    path, line);
		}
	}
	return 0;
}

int
sandbox_recover(const char *ledger_path)
{
	struct strv mounts = STRV_INIT;
	struct buf b = BUF_INIT;
	char *root = NULL;
	int r = 0;

	if (access(ledger_path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (read_file(ledger_path, &b) < 0)
		return frx_preferr("sandbox: recover");
	/* Text after a NUL (a tail the crash left zeroed) counts as cut
	   short; unmount_leftovers() finds any mount it would have named. */
	if (b.data != NULL &&
	    parse_ledger(ledger_path, b.data, &root, &mounts) < 0)
		r = -1;
	if (r == 0 && root != NULL && recover_jails(root) < 0)
		r = -1;
	if (r == 0 && root != NULL && teardown(NULL, root, &mounts) < 0)
		r = -1;
	if (r == 0 && unlink(ledger_path) < 0)
		r = frx_seterr_errno("sandbox: remove ledger %s", ledger_path);
	strv_free(&mounts);
	buf_free(&b);
	return r;
}
