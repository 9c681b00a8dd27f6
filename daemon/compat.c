/*
 * compat.c: the daemon's only kernel-specific code, kept small.
 *
 * Linux: a private mount namespace with a tmpfs for the sandbox roots,
 * process start times from /proc, and a fork whose child is its
 * parent's sibling.  Elsewhere: the roots stay on disk, a process is
 * alive while kill(pid, 0) says so, and sessions fork their runners.
 */
#ifdef __linux__
#define _GNU_SOURCE	/* unshare, CLONE_PARENT */
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

#ifdef __linux__

/*
 * The sandbox roots hold only mount points, a few generated files and
 * the outputs until they are moved into the store; on an ext4 without a
 * journal every build's dozens of short-lived inodes made inode
 * allocation the largest single cost of a build.  In memory they cost
 * next to nothing, and in a mount namespace of our own the host never
 * sees the tmpfs, which goes away with the daemon's last process.  Host
 * mounts still reach us (slave propagation), ours never reach the host.
 */
int
compat_private_tmpfs(const char *dir)
{
	if (unshare(CLONE_NEWNS) < 0)
		return frx_seterr_errno("unshare mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return frx_seterr_errno("make / a slave mount");
	if (mount("frx-roots", dir, "tmpfs", MS_NOSUID | MS_NODEV,
	    "mode=0700") < 0)
		return frx_seterr_errno("%s: mount tmpfs", dir);
	return 0;
}

/* Fields 3 (state) and 22 (start time) of /proc/<pid>/stat. */
static int
proc_stat(pid_t pid, char *state, unsigned long long *start)
{
	struct frx_stat st;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (frx_read_stat(path, &st) < 0)
		return -1;
	*state = st.state;
	*start = st.start;
	return 0;
}

unsigned long long
compat_proc_start(pid_t pid)
{
	unsigned long long start;
	char state;

	return proc_stat(pid, &state, &start) < 0 ? 0 : start;
}

int
compat_proc_alive(pid_t pid, unsigned long long start)
{
	unsigned long long now;
	char state;

	if (proc_stat(pid, &state, &now) < 0)
		return 0;
	/* Once a namespace's init is a zombie, all of it is gone. */
	return state != 'Z' && state != 'X' && (start == 0 || now == start);
}

int
compat_die_with_parent(int sig)
{
	if (prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) < 0)
		return frx_seterr_errno("prctl PR_SET_PDEATHSIG");
	return 0;
}

void
compat_set_name(const char *name)
{
	(void)prctl(PR_SET_NAME, name, 0, 0, 0);	/* cosmetic */
}

/*
 * fork(2), but the child is the caller's parent's child (CLONE_PARENT).
 * glibc has no wrapper for that, and its fork does more in the child
 * than the raw system call: it runs the atfork handlers, resets the
 * robust mutex list and records the new thread id in the thread
 * descriptor.  The launcher's child needs none of it: the launcher is
 * single-threaded and forks from its loop, with no lock held, and
 * nothing in the runner uses robust, priority-inheriting or
 * process-shared mutexes.  The child's main thread keeps the launcher's
 * thread id in its descriptor, so nothing in the runner may act on that
 * thread through pthread calls that use it (pthread_setschedparam,
 * pthread_setaffinity_np, pthread_getcpuclockid, pthread_sigqueue);
 * raise and abort take the id from the kernel (glibc 2.34 and later),
 * and threads the runner starts (lib/hashpipe.c) get their own.
 */
const int compat_can_fork_as_sibling = 1;

pid_t
compat_fork_as_sibling(void)
{
	return (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL,
	    NULL, NULL);
}

#else

const int compat_can_fork_as_sibling = 0;

pid_t
compat_fork_as_sibling(void)
{
	errno = ENOSYS;
	return -1;
}

int
compat_die_with_parent(int sig)
{
	(void)sig;
	return 0;	/* XXX: a runner outlives a crashed session here */
}

void
compat_set_name(const char *name)
{
	(void)name;
}

int
compat_private_tmpfs(const char *dir)
{
	errno = ENOSYS;
	return frx_seterr_errno("%s: no private tmpfs on this system", dir);
}

unsigned long long
compat_proc_start(pid_t pid)
{
	(void)pid;
	return 0;
}

int
compat_proc_alive(pid_t pid, unsigned long long start)
{
	(void)start;
	return kill(pid, 0) == 0 || errno == EPERM;
}

#endif
