/*
 * reaper.c: frx-reaper, PID 1 of a build's sandbox on Linux.
 *
 *	frx-reaper BUILDER-PID RESULT-FD
 *
 * The sandbox's first process (init, sandbox/linux.c) sets the sandbox
 * up as root, starts the builder as its child and then execs this
 * program, so that what stays PID 1 is a process of ours that the
 * builder cannot touch: it runs as root, it has no signal handlers, so
 * no signal sent from inside the build reaches it, and it keeps the
 * parent-death signal init was given.  A builder that was PID 1 itself
 * could clear that signal (prctl, or an execve from a second thread)
 * and outlive its runner and the daemon.
 *
 * It reaps every process of the build as it ends, writes the builder's
 * wait status to RESULT-FD when the builder ends and exits with the
 * builder's code (128 + the signal's number if it was killed).  Its
 * exit makes the kernel kill whatever is left in the PID namespace.
 *
 * It is exec'd in every sandbox, so it is built to start fast: linked
 * statically against musl where musl-gcc is found (a static glibc
 * binary probes the CPU's caches at start, which costs 0.6 ms under a
 * hypervisor that traps cpuid).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static long
number(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		return -1;
	return v;
}

int
main(int argc, char **argv)
{
	long builder, fd;
	pid_t w;
	int st;

	if (argc != 3 || (builder = number(argv[1])) <= 0 ||
	    (fd = number(argv[2])) < 0)
		_exit(125);
	/* Kept across init's execve, and set again: a runner that dies
	 * takes the build along. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	for (;;) {
		w = waitpid(-1, &st, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			_exit(126);	/* no builder: nothing to wait for */
		if (w != (pid_t)builder)
			continue;
		(void)write((int)fd, &st, sizeof(st));
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
}
