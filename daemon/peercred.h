/* peercred.h: who is on the other end of a Unix socket. */
#ifndef FRX_PEERCRED_H
#define FRX_PEERCRED_H

#include <sys/types.h>

/* 0 or -1 with message.  *pid is 0 where the system does not say. */
int peer_cred(int fd, uid_t *uid, pid_t *pid);

#endif
