/*
 * launcher.c: the process that forks a session's runners.
 *
 * A runner used to be a fork of its session.  By the time a session
 * builds, it holds a few megabytes of its own (the database's page
 * cache, the request's derivations), and a fork of it costs in
 * proportion three times over: the page tables are copied, every page
 * either process writes afterwards is copied on its first write, and
 * the runner's exit tears all of it down again.  Measured over 200
 * trivial builds, that was a fifth of the machine's CPU.
 *
 * So each session forks a launcher first, before it opens the database
 * or reads a byte from its client, when it is no bigger than the
 * listener.  The session sends the launcher each job, flattened (see
 * put_job), with the runner's three pipe ends beside it; the launcher
 * forks, and its child rebuilds the job and becomes the runner.  The
 * child is made with CLONE_PARENT (compat_fork_as_sibling), so that it
 * is the session's child as a runner always was: the session reaps it,
 * and it dies with the session (PR_SET_PDEATHSIG).  Where there is no
 * such fork (not Linux), or once the launcher is gone, the session forks
 * its runners itself as before.
 *
 * The launcher holds no descriptor of the session's: not the client's
 * connection, not the database, not the lock files.  Nor do the runners
 * it forks, which used to inherit all of them.
 *
 * Messages on the socket pair: the session writes a 4-byte length with
 * the descriptors (SCM_RIGHTS: the log and report pipes' write ends, the
 * read end of a confirmation pipe, and a prepared build's gate), then
 * the job; the launcher answers with the runner's pid, or minus an
 * errno.  Once it has the pid the session writes a byte to the
 * confirmation pipe, and the runner waits for it before its builder may
 * start: if the launcher died between its fork and its answer, the
 * session fails that build and closes the pipe, and the runner it never
 * heard of leaves without building.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "job.h"

/* A job on the wire is small; a derivation's environment (at most a
 * .drv of 64 MiB) or a huge input closure is what can be big.  A larger
 * job is forked by the session itself. */
#define JOB_MAX (64u << 20)
#define NFDS 4			/* fwd, res, confirm and go */

static int sock = -1;		/* the session's end; -1: no launcher */
static pid_t launcher_pid = -1;

/* ---- flattening a job ---- */

static void
put_u64(struct buf *b, uint64_t v)
{
	buf_add(b, &v, sizeof(v));
}

/* With its NUL, so that the runner can use it where it lies. */
static void
put_str(struct buf *b, const char *s)
{
	size_t n = strlen(s);

	put_u64(b, n);
	buf_add(b, s, n + 1);
}

static void
put_strv(struct buf *b, const struct strv *v)
{
	size_t i;

	put_u64(b, v->n);
	for (i = 0; i < v->n; i++)
		put_str(b, v->v[i]);
}

static void
put_job(struct buf *b, const struct job *j)
{
	const struct drv *d = j->d;
	size_t i;

	put_str(b, j->drvpath);
	put_u64(b, j->user.uid);
	put_u64(b, j->user.gid);
	put_u64(b, (uint64_t)(int64_t)j->user.slot);
	put_u64(b, (uint64_t)(int64_t)j->timeout);
	put_u64(b, (uint64_t)(int64_t)j->max_silent);
	put_u64(b, j->max_log);
	put_u64(b, (uint64_t)j->s->keep_failed);
	put_u64(b, (uint64_t)(int64_t)j->s->cores);
	put_strv(b, &j->inputs);
	put_u64(b, d->noutputs);
	for (i = 0; i < d->noutputs; i++) {
		put_str(b, d->outputs[i].name);
		put_str(b, d->outputs[i].path);
		put_str(b, d->outputs[i].hash_algo);
		put_str(b, d->outputs[i].hash);
	}
	put_u64(b, d->ninputs);
	for (i = 0; i < d->ninputs; i++) {
		put_str(b, d->inputs[i].path);
		put_strv(b, &d->inputs[i].outputs);
	}
	put_strv(b, &d->srcs);
	put_str(b, d->platform);
	put_str(b, d->builder);
	put_strv(b, &d->args);
	put_u64(b, d->nenv);
	for (i = 0; i < d->nenv; i++) {
		put_str(b, d->env[i].key);
		put_str(b, d->env[i].value);
	}
}

/*
 * Reading it back, in the runner: the strings stay where they are in
 * the message, which the runner keeps until it exits.  The session is
 * as trusted as we are, but a short or garbled message still ends in an
 * error, not out of bounds.
 */
struct reader {
	const char *p, *end;
	int bad;
};

static uint64_t
get_u64(struct reader *r)
{
	uint64_t v = 0;

	if ((size_t)(r->end - r->p) < sizeof(v)) {
		r->bad = 1;
		return 0;
	}
	memcpy(&v, r->p, sizeof(v));
	r->p += sizeof(v);
	return v;
}

static char *
get_str(struct reader *r)
{
	static char empty[1];
	uint64_t n = get_u64(r);
	char *s;

	if (r->bad || n >= (uint64_t)(r->end - r->p) || r->p[n] != '\0') {
		r->bad = 1;
		return empty;
	}
	s = (char *)r->p;
	r->p += n + 1;
	return s;
}

/* A count of items of at least min bytes each. */
static size_t
get_count(struct reader *r, size_t min)
{
	uint64_t n = get_u64(r);

	if (r->bad || n > (uint64_t)(r->end - r->p) / min) {
		r->bad = 1;
		return 0;
	}
	return (size_t)n;
}

static void
get_strv(struct reader *r, struct strv *v)
{
	size_t i, n = get_count(r, sizeof(uint64_t) + 1);

	v->v = xcalloc(n + 1, sizeof(*v->v));
	v->n = v->cap = n;
	for (i = 0; i < n; i++)
		v->v[i] = get_str(r);
}

static int
get_job(const char *p, size_t len, struct job *j, struct session *s,
    struct drv *d)
{
	struct reader r = { p, p + len, 0 };
	size_t i;

	j->s = s;
	j->d = d;
	j->drvpath = get_str(&r);
	j->user.uid = (uid_t)get_u64(&r);
	j->user.gid = (gid_t)get_u64(&r);
	j->user.slot = (int)(int64_t)get_u64(&r);
	j->timeout = (int)(int64_t)get_u64(&r);
	j->max_silent = (int)(int64_t)get_u64(&r);
	j->max_log = get_u64(&r);
	s->keep_failed = (int)get_u64(&r);
	s->cores = (int)(int64_t)get_u64(&r);
	s->conn.fd = -1;
	get_strv(&r, &j->inputs);
	d->noutputs = get_count(&r, 4 * (sizeof(uint64_t) + 1));
	d->outputs = xcalloc(d->noutputs + 1, sizeof(*d->outputs));
	for (i = 0; i < d->noutputs; i++) {
		d->outputs[i].name = get_str(&r);
		d->outputs[i].path = get_str(&r);
		d->outputs[i].hash_algo = get_str(&r);
		d->outputs[i].hash = get_str(&r);
	}
	d->ninputs = get_count(&r, 2 * (sizeof(uint64_t) + 1));
	d->inputs = xcalloc(d->ninputs + 1, sizeof(*d->inputs));
	for (i = 0; i < d->ninputs; i++) {
		d->inputs[i].path = get_str(&r);
		get_strv(&r, &d->inputs[i].outputs);
	}
	get_strv(&r, &d->srcs);
	d->platform = get_str(&r);
	d->builder = get_str(&r);
	get_strv(&r, &d->args);
	d->nenv = get_count(&r, 2 * (sizeof(uint64_t) + 1));
	d->env = xcalloc(d->nenv + 1, sizeof(*d->env));
	for (i = 0; i < d->nenv; i++) {
		d->env[i].key = get_str(&r);
		d->env[i].value = get_str(&r);
	}
	if (r.bad || r.p != r.end)
		return frx_seterr("launcher: a garbled job (%zu bytes)", len);
	return 0;
}

/* ---- the launcher process ---- */

/* Receive the length and up to NFDS descriptors: 1, 0 at end of file,
 * -1 on error. */
static int
recv_head(int fd, uint32_t *len, int fds[NFDS], int *nfds)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(NFDS * sizeof(int))];
	} u;
	struct iovec v = { len, sizeof(*len) };
	struct msghdr m;
	struct cmsghdr *c;
	ssize_t n;

	memset(&m, 0, sizeof(m));
	m.msg_iov = &v;
	m.msg_iovlen = 1;
	m.msg_control = u.space;
	m.msg_controllen = sizeof(u.space);
	do
		n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -1 : 0;
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			*nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			if (*nfds > NFDS)
				*nfds = NFDS;	/* MSG_CTRUNC: cannot happen */
			memcpy(fds, CMSG_DATA(c), *nfds * sizeof(int));
		}
	if (n != (ssize_t)sizeof(*len) || (m.msg_flags & MSG_CTRUNC))
		return -1;
	return 1;
}

static void
close_fds(const int *fds, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* One job: fork its runner.  The pid, or minus an errno. */
static int32_t
launch_one(int fd, uint32_t len, int fds[NFDS], int nfds)
{
	static struct job j;
	static struct session s;
	static struct drv d;
	struct buf b = BUF_INIT;
	pid_t pid;

	buf_grow(&b, len);
	if (read_full(fd, b.data, len) < 0) {
		buf_free(&b);
		return -EIO;
	}
	b.len = len;
	pid = compat_fork_as_sibling();
	if (pid < 0) {
		buf_free(&b);
		return -errno;
	}
	if (pid > 0) {
		buf_free(&b);
		return (int32_t)pid;
	}
	/* The runner.  j, s and d are still zero: the launcher never
	 * touches them, and a page first written here is a new page, not a
	 * copy (a session holds two 64 KiB buffers). */
	close(fd);
	if (get_job(b.data, b.len, &j, &s, &d) < 0) {
		dlog("error", "%s", frx_errmsg());
		_exit(1);
	}
	j.logfd = j.resfd = j.gofd = -1;
	j.runner = -1;
	j.confirmfd = fds[2];
	runner_main(&j, fds[0], fds[1], nfds > 3 ? fds[3] : -1);
}

static void __attribute__((noreturn))
launcher_main(int fd)
{
	uint32_t len;
	int32_t answer;
	int fds[NFDS], nfds, rc;

	compat_set_name("frx-launcher");
	for (;;) {
		nfds = 0;
		rc = recv_head(fd, &len, fds, &nfds);
		if (rc <= 0) {
			close_fds(fds, nfds);
			_exit(rc < 0);
		}
		/* A job it cannot take leaves its body unread: the stream is
		 * out of step, and the session forks for itself from then. */
		answer = len > JOB_MAX || nfds < 3 ? -EPROTO :
		    launch_one(fd, len, fds, nfds);
		close_fds(fds, nfds);
		if (write_full(fd, &answer, sizeof(answer)) < 0 ||
		    answer == -EPROTO || answer == -EIO)
			_exit(1);
	}
}

int
launcher_start(pid_t owner, const int *unwanted, size_t n)
{
	int sv[2];
	size_t i;
	pid_t pid;

	if (!compat_can_fork_as_sibling)
		return 0;	/* the session forks its runners */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return frx_seterr_errno("launcher: socketpair");
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return frx_seterr_errno("launcher: fork");
	}
	if (pid == 0) {
		close(sv[0]);
		for (i = 0; i < n; i++)
			if (unwanted[i] >= 0)
				close(unwanted[i]);
		/* Ends with its session, which it outlives only by a crash. */
		if (compat_die_with_parent(SIGKILL) < 0 ||
		    getppid() != owner)
			_exit(1);
		store_session_owner(owner);
		launcher_main(sv[1]);
	}
	close(sv[1]);
	sock = sv[0];
	launcher_pid = pid;
	return 0;
}

/*
 * A fork takes a millisecond; a launcher that has not answered in
 * ANSWER_WAIT seconds is stopped or stuck, and is treated as dead (the
 * session would otherwise wait with the build's locks and user held).
 */
#define ANSWER_WAIT 10

static int
await_answer(void)
{
	struct pollfd p = { sock, POLLIN, 0 };
	int64_t end = now_ms() + ANSWER_WAIT * 1000;
	int n;

	for (;;) {
		n = poll(&p, 1, (int)(end - now_ms() > 0 ? end - now_ms() : 0));
		if (n > 0)
			return 0;
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

pid_t
launcher_spawn(const struct job *j, int fwd, int res, int go)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(NFDS * sizeof(int))];
	} u;
	struct buf b = BUF_INIT;
	struct msghdr m;
	struct cmsghdr *c;
	struct iovec v;
	uint32_t len;
	int32_t answer;
	int cf[2], fds[NFDS], nfds;
	ssize_t w;

	if (sock < 0)
		return 0;
	put_job(&b, j);
	len = (uint32_t)b.len;
	if (b.len > JOB_MAX || pipe(cf) < 0) {
		buf_free(&b);
		return 0;	/* fork it here, then */
	}
	(void)fcntl(cf[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(cf[1], F_SETFD, FD_CLOEXEC);
	fds[0] = fwd;
	fds[1] = res;
	fds[2] = cf[0];
	fds[3] = go;
	nfds = go >= 0 ? 4 : 3;
	memset(&m, 0, sizeof(m));
	memset(&u, 0, sizeof(u));
	v.iov_base = &len;
	v.iov_len = sizeof(len);
	m.msg_iov = &v;
	m.msg_iovlen = 1;
	m.msg_control = u.space;
	m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	do
		w = sendmsg(sock, &m, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	close(cf[0]);
	if (w != (ssize_t)sizeof(len) || write_full(sock, b.data, b.len) < 0) {
		/* It is gone, and has not forked for this job: fork here,
		 * now and from now on. */
		dlog("warning", "the runner launcher is gone (%s); the "
		    "session forks its runners itself",
		    w < 0 || errno ? strerror(errno) : "short write");
		buf_free(&b);
		close(cf[1]);
		launcher_stop();
		return 0;
	}
	buf_free(&b);
	if (await_answer() < 0 || read_full(sock, &answer, sizeof(answer)) < 0) {
		/* It had the job and may have forked before it died (or
		 * while it hangs): that runner sees the confirmation pipe
		 * close and leaves.  This build fails; the next ones are
		 * forked here. */
		const char *what = errno == ETIMEDOUT ? "did not answer in "
		    "time" : "died while starting it";

		dlog("warning", "the runner launcher %s (%s); the session "
		    "forks its runners itself", what,
		    errno ? strerror(errno) : "end of file");
		close(cf[1]);
		launcher_stop();
		return frx_seterr("cannot start the build of '%s': the runner "
		    "launcher %s", j->drvpath, what);
	}
	if (answer < 0) {
		close(cf[1]);
		errno = -answer;
		return frx_seterr_errno("launcher: cannot fork a runner");
	}
	if (write_full(cf[1], "", 1) < 0) {
		/* It is dead already; the session reaps it as any runner. */
		dlog("warning", "%s: cannot confirm the runner: %s",
		    j->drvpath, strerror(errno));
	}
	close(cf[1]);
	return (pid_t)answer;
}

/* Kill and reap it: it is the session's child, and tiny. */
void
launcher_stop(void)
{
	if (sock >= 0)
		close(sock);
	sock = -1;
	if (launcher_pid > 0) {
		(void)kill(launcher_pid, SIGKILL);
		while (waitpid(launcher_pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	launcher_pid = -1;
}
