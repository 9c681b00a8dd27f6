/*
 * peercred.c: peer credentials, the one call that differs between Linux
 * (SO_PEERCRED) and the BSDs (getpeereid).
 */
#if defined(__linux__)
#define _GNU_SOURCE
#endif
#include <sys/types.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/util.h"
#include "peercred.h"

int
peer_cred(int fd, uid_t *uid, pid_t *pid)
{
#if defined(SO_PEERCRED) && defined(__linux__)
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return frx_seterr_errno("getsockopt(SO_PEERCRED)");
	*uid = cr.uid;
	*pid = cr.pid;
	return 0;
#else
	gid_t gid;

	if (getpeereid(fd, uid, &gid) < 0)
		return frx_seterr_errno("getpeereid");
	*pid = 0;
	return 0;
#endif
}
