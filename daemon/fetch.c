/*
 * fetch.c: the built-in download builder ("builtin:download" as Guix
 * names it, "builtin:fetchurl" as Nix does) for fixed-output sources.
 *
 * The transfer runs in a child process that has dropped to the build
 * user, so that a file:// URL can read only what any user may read and a
 * bug in the transfer code does not run as root.  The daemon then checks
 * the hash, and only a file with the declared hash enters the store.
 */
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#if defined(__linux__)
#include <sys/prctl.h>
#elif defined(__FreeBSD__)
#include <sys/procctl.h>
#endif
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/nar.h"
#include "../lib/store.h"
#include "daemon.h"

#ifndef FRX_LIBCURL
#define FRX_LIBCURL "libcurl.so.4"
#endif

#define FETCH_TIMEOUT 3600L	/* seconds, when the client sets none */
#define FETCH_STALL 300L	/* seconds below 1 byte/s, likewise */

/* The client's limits, as libcurl takes them. */
struct fetch_limits {
	long timeout;
	long stall;
};

/*
 * libcurl is loaded only in the download child.  Linked into the daemon,
 * it and the libraries it pulls in (TLS, SSH, LDAP, Kerberos: 30 of
 * them) made up most of the daemon's mappings, which every fork of a
 * session and of a build's runner and sandbox copied and tore down again.
 */
struct curl_api {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
};

static int
curl_load(struct curl_api *api, char *err, size_t errlen)
{
	void *h = dlopen(FRX_LIBCURL, RTLD_NOW | RTLD_LOCAL);

	if (h == NULL) {
		snprintf(err, errlen, "cannot load libcurl: %s", dlerror());
		return -1;
	}
	*(void **)&api->global_init = dlsym(h, "curl_global_init");
	*(void **)&api->easy_init = dlsym(h, "curl_easy_init");
	*(void **)&api->easy_setopt = dlsym(h, "curl_easy_setopt");
	*(void **)&api->easy_perform = dlsym(h, "curl_easy_perform");
	*(void **)&api->easy_getinfo = dlsym(h, "curl_easy_getinfo");
	*(void **)&api->easy_cleanup = dlsym(h, "curl_easy_cleanup");
	*(void **)&api->easy_strerror = dlsym(h, "curl_easy_strerror");
	if (!api->global_init || !api->easy_init || !api->easy_setopt ||
	    !api->easy_perform || !api->easy_getinfo || !api->easy_cleanup ||
	    !api->easy_strerror) {
		snprintf(err, errlen, "%s: a libcurl function is missing",
		    FRX_LIBCURL);
		return -1;
	}
	return 0;
}

/* In the child: download url into fd; the error goes to errfd. */
static int
curl_fetch(const char *url, FILE *out, const struct fetch_limits *lim,
    char *err, size_t errlen)
{
	struct curl_api api;
	CURL *c;
	CURLcode rc;
	long code = 0;

	if (curl_load(&api, err, errlen) < 0)
		return -1;
	if (api.global_init(CURL_GLOBAL_DEFAULT) != 0) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return -1;
	}
	c = api.easy_init();
	if (!c) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return -1;
	}
	err[0] = '\0';
	api.easy_setopt(c, CURLOPT_URL, url);
	api.easy_setopt(c, CURLOPT_WRITEDATA, out);
	api.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	api.easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	api.easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	api.easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	api.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	api.easy_setopt(c, CURLOPT_TIMEOUT, lim->timeout);
	api.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	api.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, lim->stall);
	api.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	api.easy_setopt(c, CURLOPT_USERAGENT, "frx-daemon/0.1");
#if LIBCURL_VERSION_NUM >= 0x075500
	api.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,ftp,file");
	api.easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https,ftp");
#else
	api.easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP |
	    CURLPROTO_HTTPS | CURLPROTO_FTP | CURLPROTO_FILE));
	api.easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP |
	    CURLPROTO_HTTPS | CURLPROTO_FTP));
#endif
	rc = api.easy_perform(c);
	api.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	api.easy_cleanup(c);
	if (rc != CURLE_OK) {
		if (!err[0])
			snprintf(err, errlen, "%s", api.easy_strerror(rc));
		return -1;
	}
	if (fflush(out) != 0) {
		snprintf(err, errlen, "write: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void child_fail(int errfd, const char *fmt, const char *arg)
    __attribute__((noreturn));

static void
child_fail(int errfd, const char *fmt, const char *arg)
{
	char msg[1024];
	int n = snprintf(msg, sizeof(msg), fmt, arg, strerror(errno));

	if (n > 0)
		(void)write_full(errfd, msg, (size_t)n < sizeof(msg) ?
		    (size_t)n : sizeof(msg) - 1);
	_exit(1);
}

static void
fetch_child(const char *url, const char *dest, uid_t uid, gid_t gid,
    const struct fetch_limits *lim, int errfd)
{
	char err[CURL_ERROR_SIZE + 1], *dir = xstrdup(dest), *base;
	pid_t parent = getppid();
	FILE *out;
	int fd, dfd, sig = SIGKILL;

	/* The build directory is opened while still root: its parent,
	 * <state>/builds, is root's alone (0700). */
	base = strrchr(dir, '/');
	if (base == NULL || base == dir)
		_exit(1);
	*base++ = '\0';
	/* Nothing of the daemon's (the database, the client's socket, the
	 * locks) stays open in a process that talks to the network. */
	if (errfd != 3 && dup2(errfd, 3) < 0)
		_exit(1);
	errfd = 3;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		child_fail(errfd, "%s: cannot open: %s", dir);
	if (dfd != 4 && (dup2(dfd, 4) < 0 || fcntl(4, F_SETFD,
	    FD_CLOEXEC) < 0))
		_exit(1);
	dfd = 4;
	closefrom(5);
	if (setgroups(0, NULL) < 0)
		child_fail(errfd, "setgroups%s: %s", "");
	if (setgid(gid) < 0)
		child_fail(errfd, "setgid%s: %s", "");
	if (setuid(uid) < 0)
		child_fail(errfd, "setuid%s: %s", "");
	if (getuid() != uid || geteuid() != uid || getgid() != gid)
		child_fail(errfd, "dropping privileges%s: %s", "");
	/* Die with the session, even one killed outright.  Set after the
	 * drop, which clears it. */
#if defined(__linux__)
	if (prctl(PR_SET_PDEATHSIG, sig) < 0)
		child_fail(errfd, "PR_SET_PDEATHSIG%s: %s", "");
#elif defined(__FreeBSD__)
	if (procctl(P_PID, 0, PROC_PDEATHSIG_CTL, &sig) < 0)
		child_fail(errfd, "PROC_PDEATHSIG_CTL%s: %s", "");
#endif
	(void)sig;
	if (getppid() != parent)
		_exit(1);
	fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (fd < 0 || !(out = fdopen(fd, "wb")))
		child_fail(errfd, "%s: cannot create: %s", dest);
	if (curl_fetch(url, out, lim, err, sizeof(err)) < 0) {
		(void)write_full(errfd, err, strlen(err));
		_exit(1);
	}
	if (fclose(out) != 0)
		child_fail(errfd, "%s: write: %s", dest);
	_exit(0);
}

/* The size of the file being downloaded, -1 while there is none. */
static off_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/*
 * Download url to dest as the build user; 0 or -1 with message.
 *
 * libcurl keeps its own time limits, but it cannot stop a file:// URL
 * that blocks in open(2) (a FIFO) or never ends (/dev/zero), so the
 * daemon enforces them as well, from outside: the whole download within
 * the time limit, and some growth of the file within the stall limit,
 * each with a grace period over libcurl's own.  The child is recorded
 * as the build user's process, so that the user is not handed out again
 * while it lives, and as a running child, so that a session stopped by
 * a signal kills it.
 */
#define FETCH_GRACE 5

static int
fetch_as_user(const char *url, const char *dest, const struct build_user *u,
    const struct fetch_limits *lim)
{
	struct buf err = BUF_INIT;
	struct pollfd pfd;
	char chunk[1024];
	int64_t deadline, moved, now;
	off_t size = -1, sz;
	const char *limit = NULL;
	int p[2], st, n;
	ssize_t k;
	pid_t pid;

	if (pipe(p) < 0)
		return frx_seterr_errno("pipe");
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return frx_seterr_errno("fork");
	}
	if (pid == 0) {
		close(p[0]);
		fetch_child(url, dest, u->uid, u->gid, lim, p[1]);
	}
	close(p[1]);
	build_note_running(pid, 1);
	users_note_process(u, pid);
	moved = now_ms();
	deadline = moved + (lim->timeout + FETCH_GRACE) * 1000LL;
	pfd.fd = p[0];
	pfd.events = POLLIN;
	for (;;) {
		now = now_ms();
		if ((sz = file_size(dest)) != size) {
			size = sz;
			moved = now;
		}
		if (now >= deadline)
			limit = "timed out";
		else if (now - moved >= (lim->stall + FETCH_GRACE) * 1000LL)
			limit = "stalled";
		if (limit) {
			(void)kill(pid, SIGKILL);
			break;
		}
		n = poll(&pfd, 1, 1000);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		k = read(p[0], chunk, sizeof(chunk));
		if (k > 0)
			buf_add(&err, chunk, (size_t)k);
		else if (k == 0 || errno != EINTR)
			break;
	}
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	build_note_running(pid, 0);
	if (limit) {
		frx_seterr("the download %s (limits: %ld seconds in all, %ld "
		    "seconds without data); killed", limit, lim->timeout,
		    lim->stall);
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		buf_free(&err);
		return 0;
	} else {
		frx_seterr("%s", err.len ? err.data : "download failed");
	}
	buf_free(&err);
	return -1;
}

static int
output_hash(const struct drv *d, int *recursive, struct hash *h)
{
	const struct drv_output *o = &d->outputs[0];
	const char *algo = o->hash_algo;
	enum hash_algo a;

	*recursive = !strncmp(algo, "r:", 2);
	if (*recursive)
		algo += 2;
	if (hash_algo_parse(algo, &a) < 0)
		return -1;
	return hash_parse(o->hash, 1, a, h);
}

static int
actual_hash(const char *file, int recursive, enum hash_algo a,
    struct hash *h)
{
	uint64_t size;

	if (!recursive)
		return hash_file(a, file, h);
	if (a != HASH_SHA256)
		return frx_seterr("recursive %s hashes are not supported",
		    hash_algo_name(a));
	return nar_hash_path(file, h, &size);
}

/* Try one URL: 1 fetched with the right hash, 0 failed (reason in
 * errors), -1 internal error. */
static int
try_url(struct session *s, const char *url, const char *dest,
    const struct hash *want, int recursive, const struct build_user *u,
    struct buf *errors)
{
	struct fetch_limits lim = {
		s->timeout > 0 ? s->timeout : FETCH_TIMEOUT,
		s->max_silent > 0 ? s->max_silent : FETCH_STALL,
	};
	struct hash got;
	char *w, *g;

	(void)unlink(dest);
	session_log(s, "downloading '%s'...", url);
	if (fetch_as_user(url, dest, u, &lim) < 0) {
		buf_printf(errors, "\n  %s: %s", url, frx_errmsg());
		return 0;
	}
	if (actual_hash(dest, recursive, want->algo, &got) < 0)
		return -1;
	if (got.len == want->len && !memcmp(got.d, want->d, got.len))
		return 1;
	w = hash_typed_base32(want);
	g = hash_typed_base32(&got);
	buf_printf(errors, "\n  %s: hash mismatch: expected %s, got %s", url,
	    w, g);
	session_log(s, "hash mismatch for '%s': expected %s, got %s", url, w,
	    g);
	free(w);
	free(g);
	return 0;
}

int
fetch_builtin(struct session *s, const char *drvpath, const struct drv *d,
    const char *tmpdir, const struct build_user *u)
{
	struct buf errors = BUF_INIT;
	struct path_info pi;
	struct hash want;
	const char *urls, *exec;
	char *list, *tok, *save = NULL, *dest, *srcs[1];
	int recursive, r = -1, got = 0;

	memset(&pi, 0, sizeof(pi));
	if (!drv_is_fixed(d))
		return frx_seterr("%s: the built-in download builder needs a "
		    "fixed-output derivation", drvpath);
	if (drv_check_outputs(cfg.storedir, d, NULL, NULL) < 0 ||
	    output_hash(d, &recursive, &want) < 0)
		return frx_preferr("%s", drvpath);
	urls = drv_get_env(d, "url");
	if (!urls || !*urls)
		urls = drv_get_env(d, "urls");
	if (!urls || !*urls)
		return frx_seterr("%s: no 'url' to download from", drvpath);
	dest = xasprintf("%s/download", tmpdir);
	list = xstrdup(urls);
	for (tok = strtok_r(list, " \t\n", &save); tok && !got;
	    tok = strtok_r(NULL, " \t\n", &save)) {
		got = try_url(s, tok, dest, &want, recursive, u,
		    &errors);
		if (got < 0)
			goto out;
	}
	if (!got) {
		frx_seterr("cannot download '%s' from any of its URLs:%s",
		    d->outputs[0].path, errors.data ? errors.data : "");
		goto out;
	}
	exec = drv_get_env(d, "executable");
	if (exec && !strcmp(exec, "1") && chmod(dest, 0755) < 0) {
		frx_seterr_errno("%s: chmod", dest);
		goto out;
	}
	if (canonicalise_tree(dest) < 0)
		goto out;
	pi.path = xstrdup(d->outputs[0].path);
	pi.deriver = xstrdup(drvpath);
	pi.ultimate = 1;
	pi.ca = store_ca_fixed(recursive, &want);
	srcs[0] = dest;
	if (store_add_objects(s->db, srcs, &pi, 1) < 0 ||
	    db_add_drv_output(s->db, drvpath, "out", pi.path) < 0)
		goto out;
	dlog("info", "%s: downloaded and verified", pi.path);
	r = 0;
out:
	(void)unlink(dest);
	path_info_free(&pi);
	buf_free(&errors);
	free(list);
	free(dest);
	return r;
}
