/*
 * build.c: realising derivations.  A request's derivations form one
 * graph of goals: a goal whose wanted outputs are valid is done at once;
 * the others wait for their inputs, then, in the order they became
 * ready, take their output locks, check again that nobody built them in
 * the meantime, take a build user and run (job.c).  Up to the session's
 * limit run at once; the pool of build users caps all sessions together.
 *
 * The session process waits in poll(2) for the builders' log pipes, a
 * SIGCHLD self-pipe, the client's socket (a hang-up cancels builds nobody
 * else waits for) and the next deadline (timeouts, lock and user
 * retries).  Builds of the same output in two sessions are serialised by
 * the path locks: the second waits, marked as a waiter, and finds the
 * output valid when it gets the lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/store.h"
#include "daemon.h"

#define MAX_DEPTH 256
#define MAX_RUNNING 1024
#define USER_RETRY_MS 5
#define LOCK_RETRY_MS 10
#define LOCK_RETRY_MAX_MS 200
#define WAITERS_RECHECK_MS 200

enum goal_state {
	G_WAITING,		/* for inputs */
	G_READY,		/* may start: needs locks and a user */
	G_PREPARED,		/* holds its locks; its sandbox is set up
				   ahead, waiting for a job slot and a user */
	G_RUNNING,
	G_FINISHING,		/* builder gone, runner still at work: the
				   job slot is free, the user is not */
	G_ENDED,		/* sandbox gone, outputs not registered yet */
	G_DONE,
	G_FAILED
};

struct goal {
	char *drvpath;
	struct drv d;
	struct strv wanted;	/* empty with all set: every output */
	int all;
	enum goal_state state;
	int built;		/* by this request */
	size_t *parents;	/* goals waiting for this one */
	size_t nparents;
	size_t npending;	/* inputs not done yet */
	int *locks;		/* per output, -1 if not held */
	int *marks;		/* waiter marks, -1 if none */
	int locked;
	struct job *job;
	char *err;
	int64_t retry_at;	/* ms */
	int user_wait;		/* retry_at is a wait for a build user */
	int backoff;
	int64_t stop;
};

struct sched {
	struct session *s;
	struct goal *g;
	size_t n, cap;
	size_t *ready;		/* FIFO of goal indices */
	size_t nready, capready;
	int running;		/* goals in a job slot (G_RUNNING) */
	int finishing;		/* G_FINISHING */
	long prep;		/* the G_PREPARED goal (at most one), or -1 */
	int limit;
	int stop;		/* start nothing new */
	int client_data;	/* the client sent bytes mid-build */
	int64_t waiters_check;
};

static volatile pid_t running_pids[MAX_RUNNING];
static int sigpipe[2] = { -1, -1 };

void
build_abort(void)
{
	int i;

	for (i = 0; i < MAX_RUNNING; i++)
		if (running_pids[i] > 0)
			(void)kill(running_pids[i], SIGKILL);
}

void
build_note_running(pid_t pid, int on)
{
	int i;

	for (i = 0; i < MAX_RUNNING; i++)
		if (on ? running_pids[i] == 0 : running_pids[i] == pid) {
			running_pids[i] = on ? pid : 0;
			return;
		}
}

int
load_drv(struct session *s, const char *path, struct drv *d)
{
	struct buf b = BUF_INIT;
	int v, r;

	drv_init(d);
	if (store_check_path(cfg.storedir, path) < 0)
		return -1;
	if (strlen(path) < 5 || strcmp(path + strlen(path) - 4, ".drv") != 0)
		return frx_seterr("%s: not a derivation", path);
	if ((v = db_is_valid(s->db, path)) <= 0)
		return v < 0 ? -1 :
		    frx_seterr("derivation '%s' is not valid", path);
	if (read_file(path, &b) < 0)
		return -1;
	r = drv_parse(b.data, b.len, d);
	buf_free(&b);
	if (r < 0)
		return frx_preferr("%s", path);
	return 0;
}

int
load_drv_cb(void *ctx, const char *path, struct drv *d)
{
	return load_drv(ctx, path, d);
}

int
closure(struct db *db, const struct strv *paths, struct strv *out)
{
	struct strv todo = STRV_INIT;
	struct path_info pi;
	size_t i;
	int v;

	for (i = 0; i < paths->n; i++)
		strv_add(&todo, paths->v[i]);
	while (todo.n > 0) {
		char *p = todo.v[--todo.n];

		if (strv_contains(out, p)) {
			free(p);
			continue;
		}
		memset(&pi, 0, sizeof(pi));
		v = db_query_info(db, p, &pi);
		if (v <= 0) {
			if (v == 0)
				frx_seterr("path '%s' is not valid", p);
			free(p);
			strv_free(&todo);
			return -1;
		}
		for (i = 0; i < pi.refs.n; i++)
			if (!strv_contains(out, pi.refs.v[i]))
				strv_add(&todo, pi.refs.v[i]);
		path_info_free(&pi);
		strv_addn(out, p);
	}
	strv_free(&todo);
	strv_sort(out);
	return 0;
}

int
build_ensure_path(struct session *s, const char *path)
{
	int v = db_is_valid(s->db, path);

	if (v < 0)
		return -1;
	if (v == 0)
		return frx_seterr("path '%s' is not valid, and frx-daemon has "
		    "no substituters to fetch it from", path);
	return 0;
}

/* ---- the goal graph ---- */

static int
find_goal(const struct sched *sc, const char *drvpath)
{
	size_t i;

	for (i = 0; i < sc->n; i++)
		if (!strcmp(sc->g[i].drvpath, drvpath))
			return (int)i;
	return -1;
}

static void
enqueue(struct sched *sc, size_t gi)
{
	if (sc->nready == sc->capready) {
		sc->capready = sc->capready ? 2 * sc->capready : 64;
		sc->ready = xrealloc(sc->ready, sc->capready *
		    sizeof(*sc->ready));
	}
	sc->ready[sc->nready++] = gi;
	sc->g[gi].state = G_READY;
}

static int
wants(const struct goal *g, const char *output)
{
	return g->all || strv_contains(&g->wanted, output);
}

/* 1 if every wanted output is valid, 0 if not, -1 on error. */
static int
goal_satisfied(struct sched *sc, const struct goal *g)
{
	size_t i;
	int v;

	for (i = 0; i < g->d.noutputs; i++) {
		if (!wants(g, g->d.outputs[i].name))
			continue;
		v = db_is_valid(sc->s->db, g->d.outputs[i].path);
		if (v <= 0)
			return v;
	}
	return 1;
}

static void
add_parent(struct goal *child, size_t parent)
{
	child->parents = xrealloc(child->parents, (child->nparents + 1) *
	    sizeof(size_t));
	child->parents[child->nparents++] = parent;
}

static void
goal_fail(struct sched *sc, size_t gi, const char *msg)
{
	struct goal *g = &sc->g[gi];
	size_t i;

	if (g->state == G_FAILED || g->state == G_DONE)
		return;
	g->state = G_FAILED;
	g->err = xstrdup(msg);
	g->stop = now_s();
	for (i = 0; i < g->nparents; i++) {
		char *m = xasprintf("dependency of '%s': %s",
		    sc->g[g->parents[i]].drvpath, msg);

		goal_fail(sc, g->parents[i], m);
		free(m);
	}
}

static void
goal_done(struct sched *sc, size_t gi, int built)
{
	struct goal *g = &sc->g[gi];
	size_t i;

	g->state = G_DONE;
	g->built = built;
	g->stop = now_s();
	for (i = 0; i < g->nparents; i++) {
		struct goal *p = &sc->g[g->parents[i]];

		if (p->state == G_WAITING && --p->npending == 0)
			enqueue(sc, g->parents[i]);
	}
}

static int expand(struct sched *sc, const char *drvpath,
    const struct strv *wanted, int depth);

/* Wait for the inputs of goal gi that are not valid yet. */
static int
expand_inputs(struct sched *sc, size_t gi, int depth)
{
	size_t i, n = sc->g[gi].d.ninputs;
	int ci;

	for (i = 0; i < n; i++) {
		struct drv_input *in = &sc->g[gi].d.inputs[i];

		ci = expand(sc, in->path, &in->outputs, depth + 1);
		if (ci < 0)
			return frx_preferr("dependency of '%s'",
			    sc->g[gi].drvpath);
		if (sc->g[ci].state == G_FAILED)
			return frx_seterr("dependency of '%s': %s",
			    sc->g[gi].drvpath, sc->g[ci].err);
		if (sc->g[ci].state != G_DONE) {
			add_parent(&sc->g[ci], gi);
			sc->g[gi].npending++;
		}
	}
	return 0;
}

/* Decide what goal gi needs now that its wanted set is known. */
static int
goal_plan(struct sched *sc, size_t gi, int depth)
{
	int v = goal_satisfied(sc, &sc->g[gi]);

	if (v < 0)
		return -1;
	if (v) {
		sc->g[gi].state = G_DONE;
		return 0;
	}
	sc->g[gi].state = G_WAITING;
	sc->g[gi].npending = 0;
	if (expand_inputs(sc, gi, depth) < 0)
		return -1;
	if (sc->g[gi].npending == 0)
		enqueue(sc, gi);
	return 0;
}

static int
check_wanted(const struct goal *g, const struct strv *wanted)
{
	size_t i, o;

	for (i = 0; wanted && i < wanted->n; i++) {
		for (o = 0; o < g->d.noutputs; o++)
			if (!strcmp(g->d.outputs[o].name, wanted->v[i]))
				break;
		if (o == g->d.noutputs)
			return frx_seterr("derivation '%s' has no output '%s'",
			    g->drvpath, wanted->v[i]);
	}
	return 0;
}

/* Merge wanted into an existing goal; plan it again if it was done
 * only because what it was asked for so far was valid. */
static int
merge_wanted(struct sched *sc, size_t gi, const struct strv *wanted,
    int depth)
{
	struct goal *g = &sc->g[gi];
	size_t i;

	if (check_wanted(g, wanted) < 0)
		return -1;
	if (g->all)
		return 0;
	if (!wanted || wanted->n == 0)
		g->all = 1;
	for (i = 0; !g->all && i < wanted->n; i++)
		if (!strv_contains(&g->wanted, wanted->v[i]))
			strv_add(&g->wanted, wanted->v[i]);
	if (g->state == G_DONE && !g->built)
		return goal_plan(sc, gi, depth);
	return 0;
}

static void
goal_init(struct goal *g, const char *drvpath, const struct strv *wanted)
{
	size_t i;

	g->drvpath = xstrdup(drvpath);
	g->all = !wanted || wanted->n == 0;
	for (i = 0; !g->all && i < wanted->n; i++)
		strv_add(&g->wanted, wanted->v[i]);
	g->locks = xcalloc(g->d.noutputs + 1, sizeof(int));
	g->marks = xcalloc(g->d.noutputs + 1, sizeof(int));
	for (i = 0; i < g->d.noutputs; i++)
		g->locks[i] = g->marks[i] = -1;
}

/* The goal for drvpath (made and planned if new): its index, or -1. */
static int
expand(struct sched *sc, const char *drvpath, const struct strv *wanted,
    int depth)
{
	struct goal *g;
	int gi;

	if (depth > MAX_DEPTH)
		return frx_seterr("%s: derivation graph deeper than %d",
		    drvpath, MAX_DEPTH);
	if ((gi = find_goal(sc, drvpath)) >= 0)
		return merge_wanted(sc, gi, wanted, depth) < 0 ? -1 : gi;
	if (sc->n == sc->cap) {
		sc->cap = sc->cap ? 2 * sc->cap : 64;
		sc->g = xrealloc(sc->g, sc->cap * sizeof(*sc->g));
	}
	gi = (int)sc->n;
	g = &sc->g[gi];
	memset(g, 0, sizeof(*g));
	g->drvpath = (char *)drvpath;
	if (load_drv(sc->s, drvpath, &g->d) < 0 || check_wanted(g, wanted) <
	    0) {
		drv_free(&g->d);
		return -1;
	}
	sc->n++;
	goal_init(g, drvpath, wanted);
	if (goal_plan(sc, (size_t)gi, depth) < 0)
		goal_fail(sc, (size_t)gi, frx_errmsg());
	return gi;
}

/* ---- locks and users ---- */

static void
goal_unlock(struct goal *g)
{
	size_t i;

	for (i = 0; i < g->d.noutputs; i++) {
		store_unlock(g->locks[i]);
		store_unlock(g->marks[i]);
		g->locks[i] = g->marks[i] = -1;
	}
	g->locked = 0;
}

/* 1 all output locks held, 0 another process holds one, -1 error. */
static int
goal_lock(struct goal *g)
{
	size_t i;
	int h;

	if (g->locked)
		return 1;
	for (i = 0; i < g->d.noutputs; i++) {
		h = store_trylock_path(g->d.outputs[i].path);
		if (h >= 0) {
			g->locks[i] = h;
			continue;
		}
		while (i-- > 0) {
			store_unlock(g->locks[i]);
			g->locks[i] = -1;
		}
		if (h == -1)
			return -1;
		/* Let the producer know we wait for it. */
		for (i = 0; i < g->d.noutputs; i++)
			if (g->marks[i] < 0)
				g->marks[i] = store_wait_mark(
				    g->d.outputs[i].path);
		return 0;
	}
	for (i = 0; i < g->d.noutputs; i++) {
		store_unlock(g->marks[i]);
		g->marks[i] = -1;
	}
	g->locked = 1;
	return 1;
}

/* Is the goal's job under way (prepared, running or finishing)? */
static int
has_job(const struct goal *g)
{
	return g->state == G_PREPARED || g->state == G_RUNNING ||
	    g->state == G_FINISHING;
}

static void
retry_later(struct goal *g, int64_t now, int ms)
{
	g->retry_at = now + ms;
}

/*
 * Try to start ready goal gi: 1 started or settled, 0 not now.  Ahead:
 * only prepare it (G_PREPARED), without a user, while every job slot
 * is taken; go_prepared starts it.
 */
static int
try_start(struct sched *sc, size_t gi, int64_t now, int ahead)
{
	struct goal *g = &sc->g[gi];
	struct build_user u = { 0, 0, -1 };
	int r;

	/*
	 * The user first: a goal that waits for one holds no lock, so that
	 * a request of many goals does not lock all their outputs while
	 * the pool is busy (each lock held makes every fcntl on the lock
	 * file slower).
	 */
	g->user_wait = 0;
	if (!ahead && (r = users_try_acquire(&u)) <= 0) {
		if (r < 0) {
			goal_fail(sc, gi, frx_errmsg());
			return 1;
		}
		retry_later(g, now, USER_RETRY_MS);
		g->user_wait = 1;
		return 0;
	}
	if ((r = goal_lock(g)) <= 0) {
		users_release(&u);
		if (r < 0) {
			goal_fail(sc, gi, frx_errmsg());
			return 1;
		}
		g->backoff = g->backoff ? 2 * g->backoff : LOCK_RETRY_MS;
		if (g->backoff > LOCK_RETRY_MAX_MS)
			g->backoff = LOCK_RETRY_MAX_MS;
		retry_later(g, now, g->backoff);
		return 0;
	}
	/* Another session may have built it while we waited. */
	if ((r = goal_satisfied(sc, g)) != 0) {
		users_release(&u);
		goal_unlock(g);
		if (r < 0)
			goal_fail(sc, gi, frx_errmsg());
		else
			goal_done(sc, gi, 0);
		return 1;
	}
	g->job = job_start(sc->s, g->drvpath, &g->d, ahead ? NULL : &u);
	if (g->job == NULL) {
		goal_unlock(g);
		goal_fail(sc, gi, frx_errmsg());
		return 1;
	}
	if (ahead) {
		g->state = G_PREPARED;
		sc->prep = (long)gi;
	} else {
		g->state = G_RUNNING;
		sc->running++;
	}
	build_note_running(job_pid(g->job), 1);
	return 1;
}

/* May gi be set up ahead?  Not a built-in: it runs in the session. */
static int
may_prepare(const struct sched *sc, const struct goal *g)
{
	return sc->prep < 0 && !sc->stop &&
	    strncmp(g->d.builder, "builtin:", 8) != 0;
}

/*
 * The prepared goal goes once a slot is free and it gets a user; it
 * was ready before every goal still in the queue.  Stopping cancels it.
 */
static void
go_prepared(struct sched *sc, int64_t now, int64_t *wait)
{
	struct goal *g;
	struct build_user u;
	int r;

	if (sc->prep < 0 || job_finished((g = &sc->g[sc->prep])->job))
		return;
	if (sc->stop) {
		job_cancel(g->job);
		return;
	}
	if (sc->running >= sc->limit)
		return;
	if (g->retry_at <= now) {
		g->user_wait = 0;
		if ((r = users_try_acquire(&u)) > 0) {
			job_go(g->job, &u);
			g->state = G_RUNNING;
			sc->prep = -1;
			sc->running++;
			return;
		}
		if (r < 0) {
			/* As try_start does: the goal fails, not spins. */
			dlog("warning", "%s: %s", g->drvpath, frx_errmsg());
			job_cancel(g->job);
			return;
		}
		retry_later(g, now, USER_RETRY_MS);
		g->user_wait = 1;
	}
	if (*wait < 0 || g->retry_at - now < *wait)
		*wait = g->retry_at - now;
}

static void finish_goal(struct sched *sc, size_t gi);

/* Start what may start; *wait gets the ms until a retry is due. */
static void
start_goals(struct sched *sc, int64_t now, int64_t *wait)
{
	size_t k, out = 0;
	int no_user = 0;	/* the pool was empty a moment ago */

	go_prepared(sc, now, wait);
	if (sc->prep >= 0 && sc->g[sc->prep].user_wait)
		no_user = 1;
	for (k = 0; k < sc->nready; k++) {
		size_t gi = sc->ready[k];
		struct goal *g = &sc->g[gi];

		if (g->state != G_READY)
			continue;
		if (sc->stop) {
			goal_unlock(g);
			goal_fail(sc, gi, sc->s->gone ? "cancelled: the "
			    "client went away" : "not built: another build "
			    "failed and keep-going is off");
			continue;
		}
		if (no_user && g->retry_at <= now) {
			/* Not one by one through the pool again: wait with
			 * the goal that found it empty. */
			retry_later(g, now, USER_RETRY_MS);
			g->user_wait = 1;
		} else if (sc->running < sc->limit && g->retry_at <= now) {
			if (try_start(sc, gi, now, 0)) {
				if (sc->g[gi].state == G_RUNNING &&
				    job_finished(sc->g[gi].job))
					finish_goal(sc, gi);
				continue;
			}
			no_user = g->user_wait;
		}
		/* No slot or no user now: set the next one up meanwhile. */
		/* Only behind a builder of this session: a session that
		 * runs nothing would otherwise hold a whole sandbox while it
		 * waits for a user, and clients are not counted. */
		if (sc->g[gi].state == G_READY && sc->running > 0 &&
		    (no_user || sc->running >= sc->limit) &&
		    g->backoff == 0 && may_prepare(sc, g)) {
			g->retry_at = 0;
			if (try_start(sc, gi, now, 1))
				continue;
		}
		if (sc->g[gi].state == G_READY) {
			sc->ready[out++] = gi;
			if (g->retry_at > now && (*wait < 0 ||
			    g->retry_at - now < *wait))
				*wait = g->retry_at - now;
		}
	}
	/* Goals started during the scan may have queued their parents. */
	for (; k < sc->nready; k++)
		sc->ready[out++] = sc->ready[k];
	sc->nready = out;
	/* One prepared during the scan goes now if it can, or says when
	 * it will try again. */
	go_prepared(sc, now, wait);
}

static void wake_user_waiters(struct sched *sc);

/* The builder is gone: the job slot is free, and its user too when
 * the runner says so. */
static void
leave_slot(struct sched *sc, size_t gi)
{
	struct goal *g = &sc->g[gi];

	if (g->state != G_RUNNING)
		return;
	sc->running--;
	sc->finishing++;
	g->state = G_FINISHING;
	if (job_release_user_early(g->job))
		wake_user_waiters(sc);
}

static void
wake(struct goal *g)
{
	if (g->user_wait) {
		g->user_wait = 0;
		g->retry_at = 0;
	}
}

/* Goals that wait for a build user may try again at once. */
static void
wake_user_waiters(struct sched *sc)
{
	size_t k;

	for (k = 0; k < sc->nready; k++)
		wake(&sc->g[sc->ready[k]]);
	if (sc->prep >= 0)
		wake(&sc->g[sc->prep]);
}

/* The runner is done and its sandbox gone: the user is free too. */
static void
end_goal(struct sched *sc, size_t gi)
{
	struct goal *g = &sc->g[gi];

	if (g->state == G_PREPARED) {	/* it never went */
		sc->prep = -1;
	} else {
		leave_slot(sc, gi);
		sc->finishing--;
	}
	build_note_running(job_pid(g->job), 0);
	job_release_user(g->job);
	g->state = G_ENDED;
	wake_user_waiters(sc);
}

static void
finish_goal(struct sched *sc, size_t gi)
{
	struct goal *g = &sc->g[gi];
	int r;

	if (has_job(g))
		end_goal(sc, gi);
	r = job_finish(g->job);
	g->job = NULL;
	wake_user_waiters(sc);	/* its user may have come back only now */
	goal_unlock(g);
	g->state = G_READY;	/* neither done nor failed yet */
	if (r == 0) {
		goal_done(sc, gi, 1);
		return;
	}
	goal_fail(sc, gi, frx_errmsg());
	if (!sc->s->keep_going)
		sc->stop = 1;
}

/* ---- waiting ---- */

static void
on_sigchld(int sig)
{
	int saved = errno;
	char c = 0;

	(void)sig;
	if (sigpipe[1] >= 0)
		(void)write(sigpipe[1], &c, 1);
	errno = saved;
}

static int
sigchld_setup(void)
{
	struct sigaction sa;
	int i;

	if (sigpipe[0] >= 0)
		return 0;
	if (pipe(sigpipe) < 0)
		return frx_seterr_errno("pipe");
	for (i = 0; i < 2; i++) {
		(void)fcntl(sigpipe[i], F_SETFD, FD_CLOEXEC);
		(void)fcntl(sigpipe[i], F_SETFL, O_NONBLOCK);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigchld;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGCHLD, &sa, NULL) < 0)
		return frx_seterr_errno("sigaction SIGCHLD");
	return 0;
}

/* Did the client hang up?  Bytes it sends mid-build are left alone. */
static int
client_gone(struct sched *sc, short revents)
{
	char c;
	ssize_t n;

	if (revents & (POLLHUP | POLLERR))
		return 1;
#ifdef POLLRDHUP
	if (revents & POLLRDHUP)
		return 1;
#endif
	if (!(revents & POLLIN))
		return 0;
	n = recv(sc->s->conn.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0)
		return 1;
	if (n > 0)
		sc->client_data = 1;
	return 0;
}

static int
job_has_waiters(struct sched *sc, size_t gi)
{
	const struct goal *g = &sc->g[gi];
	size_t i;

	for (i = 0; i < g->d.noutputs; i++)
		if (store_has_waiters(g->d.outputs[i].path) != 0)
			return 1;
	(void)sc;
	return 0;
}

/* The client is gone: stop what nobody else waits for. */
static void
cancel_orphans(struct sched *sc, int64_t now)
{
	size_t gi;

	if (now < sc->waiters_check)
		return;
	sc->waiters_check = now + WAITERS_RECHECK_MS;
	for (gi = 0; gi < sc->n; gi++) {
		struct goal *g = &sc->g[gi];

		if ((g->state != G_RUNNING && g->state != G_PREPARED) ||
		    job_finished(g->job))
			continue;
		if (job_has_waiters(sc, gi))
			continue;
		dlog("info", "%s: cancelled: its client went away",
		    g->drvpath);
		job_cancel(g->job);
	}
}

static void
wait_events(struct sched *sc, int64_t wait)
{
	struct pollfd *pfd;
	size_t *who, gi, k, n = 0;
	char drain[64];
	int fd;

	pfd = xcalloc(2 * sc->n + 2, sizeof(*pfd));
	who = xcalloc(2 * sc->n + 2, sizeof(*who));
	pfd[n].fd = sigpipe[0];
	pfd[n++].events = POLLIN;
	if (!sc->s->gone) {
		pfd[n].fd = sc->s->conn.fd;
		pfd[n].events = sc->client_data ? 0 : POLLIN;
#ifdef POLLRDHUP
		pfd[n].events |= POLLRDHUP;
#endif
		n++;
	}
	k = n;
	for (gi = 0; gi < sc->n; gi++) {
		if (!has_job(&sc->g[gi]))
			continue;
		if ((fd = job_log_fd(sc->g[gi].job)) >= 0) {
			who[n] = gi;
			pfd[n].fd = fd;
			pfd[n++].events = POLLIN;
		}
		if ((fd = job_report_fd(sc->g[gi].job)) >= 0) {
			who[n] = gi;
			pfd[n].fd = fd;
			pfd[n++].events = POLLIN;
		}
	}
	if (poll(pfd, n, wait < 0 ? -1 : wait > 60000 ? 60000 : (int)wait) >
	    0) {
		if (pfd[0].revents)
			while (read(sigpipe[0], drain, sizeof(drain)) > 0)
				;
		if (!sc->s->gone && pfd[1].revents &&
		    client_gone(sc, pfd[1].revents)) {
			dlog("info", "client uid %ld hung up during a build",
			    (long)sc->s->peer_uid);
			sc->s->gone = 1;
			sc->stop = 1;
		}
		for (; k < n; k++)
			if (pfd[k].revents)
				(void)job_read(sc->g[who[k]].job, pfd[k].fd);
	}
	free(pfd);
	free(who);
}

/* Builders that are gone free their slots, runners that ended their
 * users. */
static void
collect(struct sched *sc)
{
	size_t gi;

	for (gi = 0; gi < sc->n; gi++) {
		struct goal *g = &sc->g[gi];

		if (!has_job(g))
			continue;
		if (job_poll(g->job))
			end_goal(sc, gi);
		else if (job_builder_gone(g->job))
			leave_slot(sc, gi);
	}
}

/* Register what ended, while the builds started since run; 1 if any
 * (their dependants may be ready now). */
static int
finish_ended(struct sched *sc)
{
	size_t gi;
	int any = 0;

	for (gi = 0; gi < sc->n; gi++)
		if (sc->g[gi].state == G_ENDED) {
			finish_goal(sc, gi);
			any = 1;
		}
	return any;
}

static void
sched_run(struct sched *sc)
{
	int64_t now, wait;

	for (;;) {
		if (job_reap_late(0) > 0)
			wake_user_waiters(sc);
		now = now_ms();
		wait = -1;
		/*
		 * Without keep-going, a failure stops what has not started
		 * yet: what ended is finished (its outputs checked and
		 * registered) before anything starts.  A build whose
		 * builder failed says nothing before its whole report, so it
		 * ends before its slot is free; one whose outputs fail the
		 * checks may, as in Nix, have let the next build start.
		 */
		if (!sc->s->keep_going && finish_ended(sc))
			continue;
		start_goals(sc, now, &wait);
		if (finish_ended(sc))
			continue;
		if (sc->running == 0 && sc->finishing == 0 &&
		    sc->prep < 0 && sc->nready == 0)
			break;
		if (sc->s->gone) {
			cancel_orphans(sc, now);
			if (wait < 0 || wait > WAITERS_RECHECK_MS)
				wait = WAITERS_RECHECK_MS;
		}
		wait_events(sc, wait);
		collect(sc);
	}
}

static void
sched_free(struct sched *sc)
{
	size_t i;

	for (i = 0; i < sc->n; i++) {
		struct goal *g = &sc->g[i];

		goal_unlock(g);
		free(g->drvpath);
		drv_free(&g->d);
		strv_free(&g->wanted);
		free(g->parents);
		free(g->locks);
		free(g->marks);
		free(g->err);
	}
	free(sc->g);
	free(sc->ready);
}

/* ---- requests ---- */

static void
split_outputs(const char *list, struct strv *names)
{
	char *copy, *tok, *save = NULL;

	if (!strcmp(list, "*"))
		return;
	copy = xstrdup(list);
	for (tok = strtok_r(copy, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save))
		strv_add(names, tok);
	free(copy);
}

/* The goal of an item, -1 for a plain path, -2 if it failed (*err). */
static int
item_goal(struct sched *sc, const char *item, char **err)
{
	const char *bang = strchr(item, '!');
	struct strv outs = STRV_INIT;
	size_t n = strlen(item);
	char *drv;
	int gi;

	if (!bang && !(sc->s->guix && n > 4 && !strcmp(item + n - 4,
	    ".drv")))
		return -1;
	drv = bang ? xstrndup(item, (size_t)(bang - item)) : xstrdup(item);
	if (bang)
		split_outputs(bang + 1, &outs);
	gi = expand(sc, drv, &outs, 0);
	if (gi < 0)
		*err = xstrdup(frx_errmsg());
	strv_free(&outs);
	free(drv);
	return gi < 0 ? -2 : gi;
}

static void
item_outcome(struct sched *sc, const char *item, int gi, char *err,
    struct build_outcome *o)
{
	const struct goal *g;

	o->stop = now_s();
	if (gi == -2) {
		o->status = BUILD_FAILED;
		o->err = err;
		return;
	}
	if (gi == -1) {
		o->status = build_ensure_path(sc->s, item) < 0 ?
		    BUILD_FAILED : BUILD_VALID;
		o->err = o->status == BUILD_FAILED ?
		    xstrdup(frx_errmsg()) : NULL;
		return;
	}
	g = &sc->g[gi];
	if (g->stop)
		o->stop = g->stop;
	if (g->state == G_DONE) {
		o->status = g->built ? BUILD_BUILT : BUILD_VALID;
		return;
	}
	o->status = BUILD_FAILED;
	o->err = xstrdup(g->err ? g->err : "not built");
}

void
build_set_options(struct session *s, uint64_t keep_going,
    uint64_t max_jobs, uint64_t cores)
{
	s->keep_going = keep_going != 0;
	s->max_jobs = max_jobs > (uint64_t)cfg.max_jobs ? cfg.max_jobs :
	    (int)max_jobs;
	s->cores = cores > 4096 ? 4096 : (int)cores;
}

static int
session_limit(const struct session *s)
{
	if (s->max_jobs > 0 && s->max_jobs < cfg.max_jobs)
		return s->max_jobs;
	return cfg.max_jobs;
}

int
build_items(struct session *s, const struct strv *items,
    struct build_outcome *out)
{
	struct sched sc;
	struct build_outcome *res;
	char **errs;
	int *gis, r = 0;
	int64_t start = now_s();
	size_t i;

	memset(&sc, 0, sizeof(sc));
	sc.prep = -1;
	sc.s = s;
	sc.limit = session_limit(s);
	if (sigchld_setup() < 0) {
		for (i = 0; out && i < items->n; i++) {
			memset(&out[i], 0, sizeof(out[i]));
			out[i].status = BUILD_FAILED;
			out[i].err = xstrdup(frx_errmsg());
		}
		return -1;
	}
	res = out ? out : xcalloc(items->n + 1, sizeof(*res));
	errs = xcalloc(items->n + 1, sizeof(*errs));
	gis = xcalloc(items->n + 1, sizeof(*gis));
	for (i = 0; i < items->n; i++)
		gis[i] = item_goal(&sc, items->v[i], &errs[i]);
	sched_run(&sc);
	for (i = 0; i < items->n; i++) {
		memset(&res[i], 0, sizeof(res[i]));
		res[i].start = start;
		item_outcome(&sc, items->v[i], gis[i], errs[i], &res[i]);
		if (res[i].status == BUILD_FAILED && r == 0)
			r = frx_seterr("%s", res[i].err);
	}
	sched_free(&sc);
	if (!out)
		build_outcomes_free(res, items->n);
	free(errs);
	free(gis);
	return r;
}

void
build_outcomes_free(struct build_outcome *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(out[i].err);
	free(out);
}

int
build_derivation(struct session *s, const char *drvpath,
    const struct strv *outputs)
{
	struct strv items = STRV_INIT;
	struct buf item = BUF_INIT;
	size_t i;
	int r;

	buf_printf(&item, "%s!", drvpath);
	for (i = 0; outputs && i < outputs->n; i++)
		buf_printf(&item, "%s%s", i ? "," : "", outputs->v[i]);
	if (!outputs || outputs->n == 0)
		buf_adds(&item, "*");
	strv_addn(&items, buf_steal(&item));
	r = build_items(s, &items, NULL);
	strv_free(&items);
	return r;
}
