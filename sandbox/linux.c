/*
 * linux.c: the sandbox backend for Linux, built on namespaces.
 *
 * sandbox_start() clones "init" into new mount, PID, UTS, IPC and cgroup
 * namespaces (and a new network namespace unless the build is a
 * fixed-output one).  Init, still root, builds the new root from the plan
 * with bind mounts and pivots into it, starts the builder (which drops
 * to the build user and execs), then execs frx-reaper (reaper.c), which
 * stays PID 1: it reaps, and when the builder exits it passes its
 * status on and exits too.  Its exit makes the kernel kill whatever is
 * left in the PID namespace, and the mount namespace dies with its last
 * process, so no mount is ever made in the daemon's namespace.
 *
 * Init shares the daemon's memory until it execs (CLONE_VM and
 * CLONE_VFORK), and the daemon's side waits meanwhile.  Two pipes
 * connect them: the status pipe (a setup error, or "ok UID GID
 * HOSTNAME" from the builder just before its exec; end of file once
 * init has exec'd the reaper) and the result pipe (the builder's wait
 * status, from the reaper).  See doc/sandbox.md.
 */
#define _GNU_SOURCE	/* clone flags, O_PATH, pipe2, ST_NODEV */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <unistd.h>

#include "backend.h"
#include "sandbox.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif


struct sandbox {
	pid_t pid;		/* init, then frx-reaper: PID 1 of the build */
	int result_fd;		/* the builder's wait status comes here */
	int mntns_fd;		/* the build's mount namespace: see launch */
	int reaped;
	int status;		/* PID 1's wait status once reaped */
	char *root;		/* canonical host path of the root */
	char *ledger;
	uid_t obs_uid;
	gid_t obs_gid;
	char *obs_hostname;
};

/* What init needs, as itself and as the builder; in the daemon's
   memory, which init shares until it execs. */
struct child {
	const struct sandbox_spec *spec;
	const char *root;
	int status_w;
	int result_w;
	int netns;		/* from the stock, or -1: make a new one */
	uid_t uid;		/* the build user: the spec's or await_user's */
	gid_t gid;
	pid_t parent;		/* the caller, which init must not outlive */
	pid_t pid;		/* init's, as the caller sees pids */
	unsigned long long start;	/* init's start, from the same */
};

const char *
sandbox_mode(void)
{
	return "linux-namespaces";
}

/*
 * Mount table: the mount points at or below dir, in the daemon's
 * namespace, deepest last.  Mount points in mountinfo escape space, tab,
 * newline and backslash as \ooo.
 */
static void
unescape_octal(char *s)
{
	char *o = s;

	for (; *s != '\0'; s++, o++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 3;
		} else
			*o = *s;
	}
	*o = '\0';
}

static int
mounts_under(const char *dir, struct strv *out)
{
	char line[8192], *f, *save;
	size_t n = strlen(dir);
	FILE *fp;
	int i;

	fp = fopen("/proc/self/mountinfo", "re");
	if (fp == NULL)
		return frx_seterr_errno("sandbox: open /proc/self/mountinfo");
	while (fgets(line, sizeof(line), fp) != NULL) {
		f = strtok_r(line, " ", &save);
		for (i = 0; f != NULL && i < 4; i++)
			f = strtok_r(NULL, " ", &save);
		if (f == NULL)
			continue;
		unescape_octal(f);
		if (strncmp(f, dir, n) == 0 && (f[n] == '\0' || f[n] == '/'))
			strv_add(out, f);
	}
	fclose(fp);
	return 0;
}

/*
 * Remove the root tree.  After a crash (careful), first unmount what is
 * still mounted under it in our namespace.  Once PID 1 has been reaped
 * nothing can be: every mount of the build was made in its own mount
 * namespace, which died with it; remove_tree, which never crosses a
 * mount (it compares mount ids, so a bind mount of the same file system
 * counts), is then enough, without reading the mount table.
 */
static int
remove_root(const char *root, int careful)
{
	struct strv m = STRV_INIT;
	size_t i;
	int r = 0;

	if (!careful) {
		if (remove_tree(root) < 0)
			return frx_preferr("sandbox: remove %s", root);
		return 0;
	}
	if (mounts_under(root, &m) < 0)
		return -1;
	strv_sort(&m);
	for (i = m.n; i > 0; i--)
		if (umount2(m.v[i - 1], MNT_DETACH) < 0)
			r = frx_seterr_errno("sandbox: umount %s", m.v[i - 1]);
	if (m.n > 0 && r == 0) {
		strv_free(&m);
		if (mounts_under(root, &m) < 0)
			return -1;
		if (m.n > 0)
			r = frx_seterr("sandbox: %s: still mounted", m.v[0]);
	}
	strv_free(&m);
	if (r < 0)
		return frx_preferr("sandbox: not removing %s", root);
	if (remove_tree(root) < 0)
		return frx_preferr("sandbox: remove %s", root);
	return 0;
}

/* ---- init: runs as root in the new namespaces ---- */

/* Close every descriptor except the ones in keep (ascending, >= 0). */
static void
close_fds_except(const int *keep, size_t n)
{
	unsigned int lo = 0;
	size_t i;
	long max, fd;

	for (i = 0; i <= n; i++) {
		unsigned int hi = i < n ? (unsigned int)keep[i] : ~0U;

		if (hi > lo && syscall(SYS_close_range, lo, hi - 1, 0) < 0)
			break;
		lo = hi + 1;
		if (i == n)
			return;
	}
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = 0; fd < max; fd++) {
		for (i = 0; i < n && keep[i] != fd; i++)
			;
		if (i == n)
			(void)close((int)fd);	/* EBADF for most: fine */
	}
}

static void
sort_ints(int *v, size_t n)
{
	size_t i, j;

	for (i = 1; i < n; i++)
		for (j = i; j > 0 && v[j - 1] > v[j]; j--) {
			int t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

/* The flags a bind mount must keep when remounted (statvfs(3) names). */
static unsigned long
kept_flags(const char *path)
{
	unsigned long f = 0;
	struct statvfs sv;

	if (statvfs(path, &sv) < 0)
		return 0;
	if (sv.f_flag & ST_RDONLY)
		f |= MS_RDONLY;
	if (sv.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		f |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		f |= MS_RELATIME;
	return f;
}

static int
remount(const char *path, unsigned long flags)
{
	flags |= kept_flags(path) | MS_REMOUNT | MS_BIND;
	if (mount(NULL, path, NULL, flags, NULL) < 0)
		return frx_seterr_errno("sandbox: remount %s", path);
	return 0;
}

/*
 * Bind the host path e->source at path.  The source is opened with
 * O_NOFOLLOW and mounted through /proc/self/fd, so a store item that
 * turned into a symlink after planning cannot redirect the mount.
 */
static int
bind_entry(const struct plan_entry *e, const char *path)
{
	char fdpath[64];
	unsigned long flags = MS_NOSUID;
	struct stat st;
	int fd, r = -1;

	fd = open(e->source, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return frx_seterr_errno("sandbox: open %s", e->source);
	if (fstat(fd, &st) < 0) {
		frx_seterr_errno("sandbox: stat %s", e->source);
		goto out;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		frx_seterr("sandbox: bind %s: not a directory or regular file",
		    e->source);
		goto out;
	}
	if (sb_make_mount_point(path, S_ISDIR(st.st_mode)) < 0)
		goto out;
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	if (mount(fdpath, path, NULL, MS_BIND, NULL) < 0) {
		frx_seterr_errno("sandbox: mount %s on %s", e->source, path);
		goto out;
	}
	flags |= MS_NODEV;
	if (e->kind == PLAN_BIND_RO)
		flags |= MS_RDONLY;
	r = remount(path, flags);
out:
	close(fd);
	return r;
}

/*
 * A device node, made in the build's /dev with the type and numbers of
 * the host's node and the plan's mode.  That /dev is the one file system
 * of the build that allows device nodes, and only root can make them:
 * the builder finds there the nodes of the plan and no others.  Two
 * mounts fewer per node than binding the host's.
 */
static int
dev_entry(const struct plan_entry *e, const char *path)
{
	struct stat st;

	if (stat(e->source, &st) < 0)
		return frx_seterr_errno("sandbox: stat %s", e->source);
	if (!S_ISCHR(st.st_mode))
		return frx_seterr("sandbox: %s: not a character device",
		    e->source);
	if (mknod(path, S_IFCHR | 0600, st.st_rdev) < 0)
		return frx_seterr_errno("sandbox: mknod %s", path);
	if (chmod(path, e->mode & 0777) < 0)
		return frx_seterr_errno("sandbox: chmod %s", path);
	return 0;
}

/* A directory the builder may write to although the root is read-only. */
static int
dir_entry(const struct plan_entry *e, const char *path)
{
	if (sb_make_dir(e, path) < 0)
		return -1;
	/* Its own mount, so that it stays writable under a read-only /. */
	if (mount(path, path, NULL, MS_BIND, NULL) < 0)
		return frx_seterr_errno("sandbox: mount %s on itself", path);
	return remount(path, MS_NOSUID | MS_NODEV);
}

static int
fs_entry(const struct plan_entry *e, const char *path)
{
	unsigned long flags = MS_NOSUID | MS_NODEV;
	const char *type = "tmpfs";
	char opts[64];

	if (mkdir(path, 0755) < 0)
		return frx_seterr_errno("sandbox: mkdir %s", path);
	opts[0] = '\0';
	if (e->kind == PLAN_PROC) {
		type = "proc";
		flags |= MS_NOEXEC;
	} else if (e->kind == PLAN_DEVFS) {
		/* Device nodes work here (see dev_entry); nothing runs. */
		flags = MS_NOSUID | MS_NOEXEC;
		snprintf(opts, sizeof(opts), "mode=%04o,size=1m",
		    (unsigned)e->mode);
	} else {
		/* /dev/shm: a tenth of memory, so that a few builds cannot
		 * drive the host out of it (tmpfs would allow half each). */
		snprintf(opts, sizeof(opts), "mode=%04o,size=10%%",
		    (unsigned)e->mode);
	}
	if (mount(type, path, type, flags, opts[0] ? opts : NULL) < 0)
		return frx_seterr_errno("sandbox: mount %s on %s", type, path);
	return 0;
}

static int
apply_entry(const char *root, const struct plan_entry *e)
{
	char path[PATH_MAX];
	int n;

	if (e->target[0] != '/')
		return frx_seterr("sandbox: %s: target is not absolute",
		    e->target);
	n = snprintf(path, sizeof(path), "%s%s", root, e->target);
	if (n < 0 || (size_t)n >= sizeof(path))
		return frx_seterr("sandbox: %s%s: path too long", root,
		    e->target);
	if (sb_make_parents(path, strlen(root), e->target) < 0)
		return -1;
	switch (e->kind) {
	case PLAN_DIR:
		return dir_entry(e, path);
	case PLAN_BIND_RO:
	case PLAN_BIND_RW:
		return bind_entry(e, path);
	case PLAN_DEVNODE:
		return dev_entry(e, path);
	case PLAN_TMPFS:
	case PLAN_PROC:
	case PLAN_DEVFS:
		return fs_entry(e, path);
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

static int
loopback_up(void)
{
	struct ifreq ifr;
	int fd, r = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return frx_seterr_errno("sandbox: socket for lo");
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		r = frx_seterr_errno("sandbox: SIOCGIFFLAGS lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (r == 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		r = frx_seterr_errno("sandbox: SIOCSIFFLAGS lo");
	close(fd);
	return r;
}

/* Into the new root; the host's is detached.  The new root stays
   writable until the user is known (seal_root). */
static int
enter_root(const char *root)
{
	if (chdir(root) < 0)
		return frx_seterr_errno("sandbox: chdir %s", root);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return frx_seterr_errno("sandbox: pivot_root %s", root);
	if (umount2(".", MNT_DETACH) < 0)
		return frx_seterr_errno("sandbox: detach the old root");
	if (chdir("/") < 0)
		return frx_seterr_errno("sandbox: chdir / in %s", root);
	return 0;
}

/*
 * The build user's sandbox: with spec->await_user, wait for the user,
 * then rewrite what the plan made for the stand-in (its files and
 * owners, seen from inside now) and give the working directory, the
 * build directory, to the user.  Then the root turns read-only.
 */
static int
seal_root(struct child *c)
{
	const struct sandbox_spec *s = c->spec;
	struct sandbox_plan plan = { NULL, 0 };
	int r = 0;

	if (s->await_user != NULL) {
		if (s->await_user(s->await_arg, &c->uid, &c->gid) < 0)
			return -1;
		if (s->await_fd >= 0)
			close(s->await_fd);
		if (c->uid == 0 || c->gid == 0)
			return frx_seterr("sandbox: no build as root");
		if (c->uid != s->uid || c->gid != s->gid) {
			plan_copy(s->plan, &plan);
			plan_set_user(&plan, c->uid, c->gid);
			r = sb_apply_user("", &plan);
			plan_free(&plan);
		}
		if (r == 0 && chown(s->cwd, c->uid, c->gid) < 0)
			r = frx_seterr_errno("sandbox: chown %s", s->cwd);
		if (r < 0)
			return -1;
	}
	return remount("/", MS_RDONLY | MS_NOSUID | MS_NODEV);
}

static int
setup_root(const struct child *c)
{
	const struct sandbox_spec *s = c->spec;
	size_t i;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return frx_seterr_errno("sandbox: make / private");
	if (mount(c->root, c->root, NULL, MS_BIND, NULL) < 0)
		return frx_seterr_errno("sandbox: mount %s on itself",
		    c->root);
	for (i = 0; i < s->plan->n; i++)
		if (apply_entry(c->root, &s->plan->v[i]) < 0)
			return -1;
	if (sethostname(s->hostname, strlen(s->hostname)) < 0)
		return frx_seterr_errno("sandbox: sethostname %s",
		    s->hostname);
	if (!s->network && c->netns < 0 && loopback_up() < 0)
		return -1;
	return enter_root(c->root);
}

/* ---- the builder: PID 2, the build user, then exec ---- */

static void
reset_signals(void)
{
	sigset_t none;
	int sig;

	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	for (sig = 1; sig < NSIG; sig++)
		(void)signal(sig, SIG_DFL);	/* SIGKILL etc. fail: fine */
}

/* setxattrat(2) is newer (Linux 6.13) than the headers and libseccomp
 * we build with; its number is the same on every architecture that
 * takes new system calls from the common table. */
#ifdef __NR_setxattrat
#define NR_SETXATTRAT __NR_setxattrat
#else
#define NR_SETXATTRAT 463
#endif

/*
 * System calls a builder never needs and that would let it reach past its
 * sandbox: the kernel keyrings are per uid, not per namespace, so a key
 * one build adds is there for the next build with the same build user;
 * extended attributes and ACLs are not part of a NAR, so they must not
 * ride into the store on an output, by any of the calls that set them
 * (io_uring has its own way to set them, and answers "not supported"
 * here, which programs that can use it fall back from).
 *
 * And no new user namespace: inside one, a builder would hold every
 * capability over its own mounts, network and the like, and so reach
 * the parts of the kernel that otherwise only root reaches, where most
 * of its privilege escalations have been.  unshare(2) and clone(2) are
 * refused with EPERM when asked for one; clone3(2) keeps its flags in
 * memory, out of the filter's sight, so it answers ENOSYS, and the C
 * library falls back to clone(2) for threads and processes.
 */
static int
filter_rules(scmp_filter_ctx ctx)
{
	static const int denied[] = {
		SCMP_SYS(add_key), SCMP_SYS(keyctl), SCMP_SYS(request_key),
	};
	static const int noxattr[] = {
		SCMP_SYS(setxattr), SCMP_SYS(lsetxattr), SCMP_SYS(fsetxattr),
		NR_SETXATTRAT,
	};
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < sizeof(denied) / sizeof(denied[0]); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), denied[i], 0);
	for (i = 0; r == 0 && i < sizeof(noxattr) / sizeof(noxattr[0]); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOTSUP), noxattr[i],
		    0);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
		    SCMP_SYS(io_uring_setup), 0);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
		    SCMP_SYS(unshare), 1, SCMP_A0(SCMP_CMP_MASKED_EQ,
		    CLONE_NEWUSER, CLONE_NEWUSER));
	/* clone's flags are its first argument on x86-64 and arm64 alike
	 * (not on s390, which frx does not build for). */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
		    SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ,
		    CLONE_NEWUSER, CLONE_NEWUSER));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
		    SCMP_SYS(clone3), 0);
	return r;
}

/*
 * The filter as a BPF program, compiled once per process tree: compiling
 * it took a build 0.15 ms.  The builder only loads it (install_filter).
 */
static struct sock_fprog filter_prog;

static int
filter_compile(void)
{
	scmp_filter_ctx ctx;
	struct stat st;
	void *prog = NULL;
	int fd = -1, r;

	if (filter_prog.filter != NULL)
		return 0;
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (ctx == NULL)
		return frx_seterr("sandbox: seccomp_init failed");
	r = filter_rules(ctx);
	if (r == 0 && (fd = memfd_create("frx-seccomp", MFD_CLOEXEC)) < 0)
		r = -errno;
	if (r == 0)
		r = seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	if (r == 0 && (fstat(fd, &st) < 0 || st.st_size <= 0 ||
	    st.st_size % (off_t)sizeof(struct sock_filter) != 0 ||
	    st.st_size > 65536))
		r = -EINVAL;
	if (r == 0) {
		prog = xmalloc((size_t)st.st_size);
		if (pread(fd, prog, (size_t)st.st_size, 0) != st.st_size)
			r = -EIO;
	}
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		free(prog);
		errno = -r;
		return frx_seterr_errno("sandbox: compile the seccomp filter");
	}
	filter_prog.len = (unsigned short)(st.st_size /
	    (off_t)sizeof(struct sock_filter));
	filter_prog.filter = prog;
	return 0;
}

/* After no_new_privs, which lets an unprivileged process load it. */
static int
install_filter(void)
{
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &filter_prog) < 0)
		return frx_seterr_errno("sandbox: builder: seccomp filter");
	return 0;
}

static int
drop_privileges(uid_t uid, gid_t gid)
{
	if (setgroups(0, NULL) < 0)
		return frx_seterr_errno("sandbox: builder: setgroups");
	if (setgid(gid) < 0)
		return frx_seterr_errno("sandbox: builder: setgid %lu",
		    (unsigned long)gid);
	if (setuid(uid) < 0)
		return frx_seterr_errno("sandbox: builder: setuid %lu",
		    (unsigned long)uid);
	if (getuid() != uid || geteuid() != uid || getgid() != gid ||
	    getegid() != gid || getgroups(0, NULL) != 0)
		return frx_seterr("sandbox: builder: credentials did not "
		    "change to %lu:%lu", (unsigned long)uid,
		    (unsigned long)gid);
	if (setuid(0) == 0)
		return frx_seterr("sandbox: builder: setuid 0 still works");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return frx_seterr_errno("sandbox: builder: no_new_privs");
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return frx_seterr_errno("sandbox: builder: pdeathsig");
	return 0;
}

static int
setup_stdio(int log_fd)
{
	int fd, logc = -1;

	if (log_fd >= 0) {
		logc = fcntl(log_fd, F_DUPFD_CLOEXEC, 3);
		if (logc < 0)
			return frx_seterr_errno("sandbox: builder: dup log");
	}
	/* Not O_CLOEXEC: if this becomes fd 0, dup2 below is a no-op. */
	fd = open("/dev/null", O_RDONLY);
	if (fd < 0)
		return frx_seterr_errno("sandbox: builder: open /dev/null");
	if (logc < 0)
		logc = fd;
	if (dup2(fd, 0) < 0 || dup2(logc, 1) < 0 || dup2(logc, 2) < 0)
		return frx_seterr_errno("sandbox: builder: dup2");
	/* Everything else closes at execve; the status pipe must live
	   until then.  Without close_range, loop. */
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		long max = sysconf(_SC_OPEN_MAX), i;

		for (i = 3; i < (max < 0 || max > 65536 ? 65536 : max); i++)
			(void)fcntl((int)i, F_SETFD, FD_CLOEXEC);
	}
	return 0;
}

static void __attribute__((noreturn))
builder_main(const struct child *c)
{
	const struct sandbox_spec *s = c->spec;

	close(c->result_w);
	if (setsid() < 0) {
		frx_seterr_errno("sandbox: builder: setsid");
		sb_child_fail(c->status_w);
	}
	reset_signals();
	if (sb_set_limits(s) < 0 || drop_privileges(c->uid, c->gid) < 0)
		sb_child_fail(c->status_w);
	if (chdir(s->cwd) < 0) {
		frx_seterr_errno("sandbox: builder: chdir %s", s->cwd);
		sb_child_fail(c->status_w);
	}
	umask(022);
	if (setup_stdio(s->log_fd) < 0 || install_filter() < 0 ||
	    sb_report_ok(c->status_w) < 0)
		sb_child_fail(c->status_w);
	execve(s->argv[0], s->argv, s->envp);
	frx_seterr_errno("sandbox: builder: execve %s", s->argv[0]);
	sb_child_fail(c->status_w);
}

/* Keep the pipes off 0, 1 and 2, which the builder's stdio takes. */
static int
move_high(int fd)
{
	int nfd;

	if (fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0)
		_exit(127);	/* cannot even report it */
	return nfd;
}

static int
builder_entry(void *arg)
{
	builder_main(arg);
}

/*
 * The builder shares init's memory, which is the runner's, until it
 * execs (CLONE_VM and CLONE_VFORK, as posix_spawn does): init waits
 * meanwhile.  Signal dispositions, descriptors, credentials, limits,
 * the working directory and the seccomp filter are still the
 * builder's own: none of CLONE_SIGHAND, CLONE_FILES, CLONE_FS or
 * CLONE_THREAD is given.
 */
static pid_t
spawn_builder(struct child *c)
{
	const size_t size = 256 * 1024;
	char *stack;
	pid_t pid;

	stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return -1;
	pid = clone(builder_entry, stack + size, CLONE_VM | CLONE_VFORK |
	    SIGCHLD, c);
	(void)munmap(stack, size);
	return pid;
}

static int reaper_fd = -1;	/* frx-reaper, opened by reaper_open */

/*
 * Init sets the sandbox up as root, starts the builder (PID 2) and
 * execs frx-reaper, which stays PID 1 of the build: a process of ours,
 * root, with no signal handlers (no signal from inside the build
 * reaches it) and with the parent-death signal set here.  For a while
 * the builder itself was PID 1, as in Nix and Guix, but a builder can
 * clear its own parent-death signal (prctl, or an execve from a second
 * thread), and then it outlived a runner or a daemon that was killed
 * (found in review, 2026-12-04); the reaper costs an exec of a small
 * static program, 0.06 ms.
 *
 * Until it execs, init shares the daemon's memory (see launch): it must
 * not return, and what it allocates it frees.
 */
static void __attribute__((noreturn))
init_main(struct child *c)
{
	char pid[24], fd[24];
	char *argv[] = { "frx-reaper", pid, fd, NULL }, *envp[] = { NULL };
	struct frx_stat self;
	int keep[6], n;
	pid_t builder;

	c->status_w = move_high(c->status_w);
	c->result_w = move_high(c->result_w);
	keep[0] = c->status_w;
	keep[1] = c->result_w;
	keep[2] = reaper_fd;
	keep[3] = c->spec->log_fd;
	keep[4] = c->spec->await_user != NULL ? c->spec->await_fd : -1;
	keep[5] = c->spec->note_pid1 != NULL ? c->spec->note_fd : -1;
	(void)prctl(PR_SET_NAME, "frx-init", 0, 0, 0);	/* for ps(1) */

	/* If the daemon dies, the build dies with it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
		frx_seterr_errno("sandbox: init: pdeathsig");
		sb_child_fail(c->status_w);
	}
	/*
	 * Unless it died before that: then nothing will kill init, and a
	 * build whose user is free again must not start.  (getppid() is 0
	 * in a new PID namespace; the caller's /proc, still in sight, says.)
	 * That also gives note_pid1 init's pid and start as the caller
	 * sees them: "self" and the numbers are as the pid namespace of
	 * that /proc sees them.
	 */
	if (frx_read_stat("/proc/self/stat", &self) < 0) {
		c->pid = -1;
	} else if (self.ppid != c->parent) {
		frx_seterr("sandbox: init: its caller is gone");
		sb_child_fail(c->status_w);
	} else {
		c->pid = (pid_t)self.pid;
		c->start = self.start;
	}
	if (c->netns >= 0 && setns(c->netns, CLONE_NEWNET) < 0) {
		frx_seterr_errno("sandbox: init: enter the network namespace");
		sb_child_fail(c->status_w);
	}
	sort_ints(keep, 6);
	for (n = 0; n < 6 && keep[n] < 0; n++)
		;
	close_fds_except(keep + n, 6 - (size_t)n);
	umask(022);
	if (setup_root(c) < 0 || seal_root(c) < 0)
		sb_child_fail(c->status_w);
	if (c->spec->note_pid1 != NULL && c->pid > 0)
		(void)c->spec->note_pid1(c->spec->note_arg, c->pid, c->start,
		    c->uid);
	if (c->spec->note_pid1 != NULL && c->spec->note_fd >= 0)
		close(c->spec->note_fd);
	builder = spawn_builder(c);
	if (builder < 0) {
		frx_seterr_errno("sandbox: init: start the builder");
		sb_child_fail(c->status_w);
	}
	snprintf(pid, sizeof(pid), "%ld", (long)builder);
	snprintf(fd, sizeof(fd), "%d", c->result_w);
	if (c->spec->log_fd >= 0)
		close(c->spec->log_fd);
	/* The reaper's one descriptor besides the status pipe, which
	 * closes at this exec: the runner resumes at its end. */
	if (fcntl(c->result_w, F_SETFD, 0) < 0 ||
	    syscall(SYS_execveat, reaper_fd, "", argv, envp,
	    AT_EMPTY_PATH) < 0)
		frx_seterr_errno("sandbox: init: exec frx-reaper");
	/* The builder is running: init's exit takes it along. */
	sb_child_fail(c->status_w);
}

static int
init_entry(void *arg)
{
	init_main(arg);
}

/*
 * frx-reaper is looked for beside the program (a build tree: the
 * daemon, frx-bench, the unit tests) and in FRX_LIBEXECDIR (installed).
 * It runs as root in every sandbox, so nobody but root may have been
 * able to put it there: it must be a regular file, not a symlink, of
 * root's and writable by root alone, in a directory whose every
 * component, resolved, is root's and writable by root alone (or
 * sticky, as /tmp is: then the next component, root's, is what
 * counts).  Opened once: every sandbox of the process uses it.
 */

static const char *
root_only(const struct stat *st, int sticky_ok)
{
	if (st->st_uid != 0)
		return "not root's";
	if ((st->st_mode & 022) != 0 && !(sticky_ok && (st->st_mode &
	    S_ISVTX)))
		return "writable by others than root";
	return NULL;
}

/* NULL if every directory from / down to dir is safe; else why not. */
static const char *
dirs_safe(const char *dir, char *where, size_t wsize)
{
	char real[PATH_MAX], *p;
	const char *why;
	struct stat st;

	if (realpath(dir, real) == NULL)
		return strerror(errno);
	for (p = real; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		snprintf(where, wsize, "%.*s", p == real ? 1 : (int)(p - real),
		    real);
		if (lstat(where, &st) < 0)
			return strerror(errno);
		if (!S_ISDIR(st.st_mode))
			return "not a directory";
		if ((why = root_only(&st, *p != '\0')) != NULL)
			return why;
		if (*p == '\0')
			return NULL;
	}
}

/* The reaper in dir, or -1 with why (and where) in msg; *present is
 * set if one was there but refused. */
static int
reaper_try(const char *dir, struct buf *msg, int *present)
{
	char where[PATH_MAX], *path = xasprintf("%s/frx-reaper", dir);
	const char *why = NULL;
	struct stat st;
	int fd;

	where[0] = '\0';
	fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if ((why = root_only(&st, 0)) == NULL && !(st.st_mode & 0100))
		why = "not executable";
	else if (why == NULL)
		why = dirs_safe(dir, where, sizeof(where));
	if (why != NULL) {
		if (fd >= 0 || errno != ENOENT)
			*present = 1;
		buf_printf(msg, "%s%s: %s%s%s%s", msg->len ? "; " : "", path,
		    why, where[0] ? " (" : "", where, where[0] ? ")" : "");
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

/* 0, or 1 with a note in frx_errmsg if one beside the program was
 * refused and the installed one is used instead; -1 if none will do. */
static int
reaper_open(void)
{
	struct buf msg = BUF_INIT;
	char exe[PATH_MAX];
	int present = 0, r = 0;
	ssize_t n;

	if (reaper_fd >= 0)
		return 0;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';
		reaper_fd = reaper_try(exe[0] ? exe : "/", &msg, &present);
	}
	if (reaper_fd < 0) {
		reaper_fd = reaper_try(FRX_LIBEXECDIR, &msg, &present);
		if (reaper_fd >= 0 && present) {
			frx_seterr("sandbox: using " FRX_LIBEXECDIR
			    "/frx-reaper, having refused %s", msg.data);
			r = 1;
		}
	}
	if (reaper_fd < 0)
		r = frx_seterr("sandbox: no usable frx-reaper, the PID 1 of "
		    "every sandbox: %s", msg.len ? msg.data : "");
	buf_free(&msg);
	return r;
}

int
sandbox_init(void)
{
	if (filter_compile() < 0)
		return -1;
	return reaper_open();
}

/* ---- the stock of network namespaces ---- */

/*
 * A new network namespace is the slowest step of a sandbox's start
 * (0.5-1 ms on a small machine: each network protocol of the kernel
 * sets itself up in it).  The stock maker, a process forked by
 * sandbox_stock_start, makes them ahead of the builds: it unshares a
 * new namespace, brings its loopback up, opens it and returns to its
 * own namespace before it hands the descriptor on, so that it is never
 * inside a namespace that a build gets.  The descriptors wait in a
 * datagram socket, one per message.  The maker's send buffer, made as
 * small as the kernel allows, bounds the stock (to about six), and the
 * maker sleeps in sendmsg while it is full: each namespace holds kernel
 * memory, and a stock of a few keeps up with any number of builds.
 * Every process that starts sandboxes holds the receiving end, inherited
 * across fork, and takes one message without waiting; only the maker
 * holds the sending end, so nothing else can put a descriptor into the
 * stock.
 */
static int stock_rx = -1;
static pid_t stock_pid = -1;

/* One message of the stock: a byte, and one descriptor beside it. */
union stock_ctl {
	struct cmsghdr h;
	char b[CMSG_SPACE(sizeof(int))];
};

static void
stock_msg(struct msghdr *m, struct iovec *v, char *c, union stock_ctl *u)
{
	memset(m, 0, sizeof(*m));
	memset(u, 0, sizeof(*u));
	v->iov_base = c;
	v->iov_len = 1;
	m->msg_iov = v;
	m->msg_iovlen = 1;
	m->msg_control = u->b;
	m->msg_controllen = sizeof(u->b);
}

static int
stock_give(int tx, int fd)
{
	union stock_ctl u;
	struct msghdr m;
	struct iovec v;
	char c = 'n';

	stock_msg(&m, &v, &c, &u);
	u.h.cmsg_level = SOL_SOCKET;
	u.h.cmsg_type = SCM_RIGHTS;
	u.h.cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(&u.h), &fd, sizeof(int));
	while (sendmsg(tx, &m, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

static void __attribute__((noreturn))
stock_main(int tx, pid_t parent)
{
	int home, ns, up, sig;

	for (sig = 1; sig < NSIG; sig++)
		(void)signal(sig, SIG_DFL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
	    getppid() != parent)
		_exit(0);
	close_fds_except(&tx, 1);
	(void)prctl(PR_SET_NAME, "frx-netns-stock", 0, 0, 0);
	/* Behind the builds, but not at idle priority: making a namespace
	 * takes kernel locks (rtnl among them) that the builds making
	 * their own, and the teardown of every namespace, also need. */
	(void)setpriority(PRIO_PROCESS, 0, 10);
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home < 0)
		_exit(1);
	for (;;) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		up = loopback_up();
		ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (setns(home, CLONE_NEWNET) < 0)
			_exit(1);
		if (up < 0 || ns < 0)
			_exit(1);
		if (stock_give(tx, ns) < 0)
			_exit(0);	/* every receiver is gone */
		close(ns);
	}
}

int
sandbox_stock_start(void)
{
	pid_t parent = getpid(), pid;
	int sv[2], one = 1;

	if (stock_rx >= 0)
		return 0;
	if (filter_compile() < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		return frx_seterr_errno("sandbox: stock: socketpair");
	/* The kernel raises this to its minimum, a few messages. */
	if (setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &one, sizeof(one)) < 0) {
		frx_seterr_errno("sandbox: stock: SO_SNDBUF");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return frx_seterr_errno("sandbox: stock: fork");
	}
	if (pid == 0)
		stock_main(sv[1], parent);
	stock_pid = pid;
	close(sv[1]);
	/* Nothing is ever sent this way; the maker does not read. */
	(void)shutdown(sv[0], SHUT_WR);
	stock_rx = sv[0];
	return 0;
}

void
sandbox_stock_stop(void)
{
	if (stock_pid > 0)
		(void)kill(stock_pid, SIGKILL);
	stock_pid = -1;
}

/* A namespace from the stock, or -1 if there is none right now. */
static int
stock_take(void)
{
	union stock_ctl u;
	struct cmsghdr *h;
	struct msghdr m;
	struct iovec v;
	char c;
	int fd = -1;

	if (stock_rx < 0)
		return -1;
	stock_msg(&m, &v, &c, &u);
	if (recvmsg(stock_rx, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) != 1)
		return -1;
	h = CMSG_FIRSTHDR(&m);
	if (h != NULL && h->cmsg_level == SOL_SOCKET &&
	    h->cmsg_type == SCM_RIGHTS &&
	    h->cmsg_len == CMSG_LEN(sizeof(int)) &&
	    !(m.msg_flags & MSG_CTRUNC))
		memcpy(&fd, CMSG_DATA(h), sizeof(int));
	return fd;
}

/* ---- the daemon side ---- */

static int
reap(struct sandbox *sb, int flags)
{
	pid_t w;

	if (sb->reaped)
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
	return 1;
}

/* The builder's status from the result pipe, else PID 1's own (killed,
   say, before the builder ended). */
static int
builder_status(struct sandbox *sb)
{
	int st;

	if (sb->result_fd >= 0 && read_full(sb->result_fd, &st,
	    sizeof(st)) == 0) {
		close(sb->result_fd);
		sb->result_fd = -1;
		sb->status = st;
	}
	return sb->status;
}

static void
sandbox_free(struct sandbox *sb)
{
	if (sb->result_fd >= 0)
		close(sb->result_fd);
	if (sb->mntns_fd >= 0)
		close(sb->mntns_fd);
	free(sb->root);
	free(sb->ledger);
	free(sb->obs_hostname);
	free(sb);
}

static int
write_ledger(const char *ledger, const char *root)
{
	char *text = xasprintf("root %s\n", root);
	int r = write_file(ledger, text, strlen(text), 0600);

	free(text);
	return r < 0 ? frx_preferr("sandbox: write ledger") : 0;
}

static int
make_root(const struct sandbox_spec *spec, struct sandbox *sb)
{
	char real[PATH_MAX];

	if (mkdir(spec->root, 0755) < 0)
		return frx_seterr_errno("sandbox: mkdir %s", spec->root);
	if (chmod(spec->root, 0755) < 0 ||
	    realpath(spec->root, real) == NULL) {
		frx_seterr_errno("sandbox: %s", spec->root);
		(void)rmdir(spec->root);	/* just made, empty */
		return -1;
	}
	sb->root = xstrdup(real);
	if (spec->ledger == NULL)
		return 0;
	if (write_ledger(spec->ledger, sb->root) < 0) {
		(void)rmdir(sb->root);
		return -1;
	}
	sb->ledger = xstrdup(spec->ledger);
	return 0;
}

/* Undo a failed start: kill and reap init, remove the root and, once
   that worked, the ledger.  Keeps the first message. */
static void
abort_start(struct sandbox *sb)
{
	char *msg = xstrdup(frx_errmsg());

	if (sb->pid > 0) {
		(void)kill(sb->pid, SIGKILL);
		(void)reap(sb, 0);
	}
	if (sb->mntns_fd >= 0) {
		close(sb->mntns_fd);
		sb->mntns_fd = -1;
	}
	if (remove_root(sb->root, 1) < 0)
		frx_seterr("%s; cleanup: %s", msg, frx_errmsg());
	else {
		frx_seterr("%s", msg);
		if (sb->ledger != NULL)
			(void)unlink(sb->ledger);	/* recover redoes it */
	}
	free(msg);
	sandbox_free(sb);
}

/*
 * Clone init, in new namespaces but sharing our memory, and wait (as
 * after vfork) until it has become the builder or failed: it sets up
 * the root, waits for its user if asked to (spec->await_user, which
 * uses our memory and descriptors) and execs.  Forked instead, init
 * copied the daemon's page tables, made every page both sides wrote
 * afterwards a copy, and tore its copy down again at the exec: 5% of
 * the CPU of a trivial build through the daemon, and 0.23 ms of a
 * sandbox's 0.9 (frx-bench sandbox).  Init's stack is its own; what it
 * writes to ours is only what it is given to (its struct child, the
 * error message, await_user's results).
 *
 * Then the build's mount namespace is kept open: otherwise the
 * builder's exit would tear it down, waiting out an RCU grace period,
 * before its parent hears of the exit; sandbox_destroy lets it go.  A
 * builder that is already gone by then has taken its mounts along.
 */
static int
launch(const struct sandbox_spec *spec, struct sandbox *sb)
{
	const size_t stack_size = 1024 * 1024;
	unsigned long flags = CLONE_VM | CLONE_VFORK | CLONE_NEWNS |
	    CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP |
	    SIGCHLD;
	struct child c = { spec, sb->root, -1, -1, -1, spec->uid, spec->gid,
	    getpid(), -1, 0 };
	struct buf status = BUF_INIT;
	int sp[2], rp[2], r;
	char ns[64], *stack;

	if (pipe2(sp, O_CLOEXEC) < 0)
		return frx_seterr_errno("sandbox: pipe");
	if (pipe2(rp, O_CLOEXEC) < 0) {
		close(sp[0]);
		close(sp[1]);
		return frx_seterr_errno("sandbox: pipe");
	}
	sb->result_fd = rp[0];
	stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		close(sp[0]);
		close(sp[1]);
		close(rp[1]);
		return frx_seterr_errno("sandbox: init's stack");
	}
	c.status_w = sp[1];
	c.result_w = rp[1];
	if (!spec->network)
		c.netns = stock_take();
	if (!spec->network && c.netns < 0)
		flags |= CLONE_NEWNET;
	sb->pid = clone(init_entry, stack + stack_size, (int)flags, &c);
	(void)munmap(stack, stack_size);
	if (c.netns >= 0)
		close(c.netns);
	close(sp[1]);
	close(rp[1]);
	if (sb->pid < 0) {
		close(sp[0]);
		return frx_seterr_errno("sandbox: clone");
	}
	snprintf(ns, sizeof(ns), "/proc/%ld/ns/mnt", (long)sb->pid);
	sb->mntns_fd = open(ns, O_RDONLY | O_CLOEXEC);
	r = sb_read_status(sp[0], &status);
	close(sp[0]);
	if (r == 0 && sb_parse_ok(status.len ? status.data : "", &sb->obs_uid,
	    &sb->obs_gid, &sb->obs_hostname) < 0)
		r = sb_status_error(&status, "init");
	buf_free(&status);
	return r;
}

int
sandbox_start(const struct sandbox_spec *spec, struct sandbox **out)
{
	struct sandbox *sb;

	*out = NULL;
	if (sb_check_spec(spec) < 0 || sandbox_init() < 0)
		return -1;
	sb = xcalloc(1, sizeof(*sb));
	sb->pid = -1;
	sb->result_fd = sb->mntns_fd = -1;
	if (make_root(spec, sb) < 0) {
		sandbox_free(sb);
		return -1;
	}
	if (launch(spec, sb) < 0) {
		abort_start(sb);
		return -1;
	}
	*out = sb;
	return 0;
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
		*status = builder_status(sb);
	return r;
}

int
sandbox_wait(struct sandbox *sb, int *status)
{
	if (reap(sb, 0) < 0)
		return -1;
	*status = builder_status(sb);
	return 0;
}

int
sandbox_gone(const struct sandbox *sb)
{
	return sb->reaped;
}

/* SIGKILL to PID 1 of the namespace takes every process of it along. */
int
sandbox_kill(struct sandbox *sb)
{
	if (sb->reaped)
		return 0;
	if (kill(sb->pid, SIGKILL) < 0 && errno != ESRCH)
		return frx_seterr_errno("sandbox: kill PID 1 %ld",
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
	if (!sb->reaped && (sandbox_kill(sb) < 0 || reap(sb, 0) < 0))
		r = -1;
	if (sb->mntns_fd >= 0) {	/* its mounts go now */
		close(sb->mntns_fd);
		sb->mntns_fd = -1;
	}
	if (r == 0 && remove_root(sb->root, 0) < 0)
		r = -1;
	if (r == 0 && sb->ledger != NULL && unlink(sb->ledger) < 0 &&
	    errno != ENOENT)
		r = frx_seterr_errno("sandbox: remove ledger %s", sb->ledger);
	sandbox_free(sb);
	return r;
}

/* Linux needs no jail or mount cleanup: the namespaces died with PID 1.
   Only the root trees named in the ledger are left to remove. */
int
sandbox_recover(const char *ledger_path)
{
	struct buf b = BUF_INIT;
	char *line, *save;
	int r = 0;

	if (access(ledger_path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (read_file(ledger_path, &b) < 0)
		return frx_preferr("sandbox: recover");
	for (line = strtok_r(b.data != NULL ? b.data : "", "\n", &save);
	    line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "root /", 6) == 0 &&
		    remove_root(line + 5, 1) < 0)
			r = -1;
	}
	buf_free(&b);
	if (r == 0 && unlink(ledger_path) < 0)
		r = frx_seterr_errno("sandbox: remove ledger %s", ledger_path);
	return r;
}
