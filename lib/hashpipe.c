/*
 * hashpipe.c: hashing on a second thread (see hash.h).
 *
 * The producer fills slot[head % NSLOTS]; a filled slot is handed over by
 * incrementing head, and the hashing thread consumes slots in order,
 * incrementing tail.  The producer may fill a slot only while
 * head - tail < NSLOTS, i.e. when that slot is not waiting to be hashed.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "util.h"

#define NSLOTS 4
#define SLOT (256 * 1024)

struct hash_pipe {
	struct hash_ctx *ctx;
	unsigned char *slot[NSLOTS];
	size_t len[NSLOTS];
	unsigned long head, tail;
	size_t fill;		/* bytes in the slot being filled */
	int started, done;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *
hasher(void *arg)
{
	struct hash_pipe *hp = arg;
	unsigned long i;

	pthread_mutex_lock(&hp->mu);
	for (;;) {
		while (hp->tail == hp->head && !hp->done)
			pthread_cond_wait(&hp->cv, &hp->mu);
		if (hp->tail == hp->head)
			break;
		i = hp->tail % NSLOTS;
		pthread_mutex_unlock(&hp->mu);
		hash_ctx_update(hp->ctx, hp->slot[i], hp->len[i]);
		pthread_mutex_lock(&hp->mu);
		hp->tail++;
		pthread_cond_broadcast(&hp->cv);
	}
	pthread_mutex_unlock(&hp->mu);
	return NULL;
}

struct hash_pipe *
hash_pipe_new(enum hash_algo algo)
{
	struct hash_pipe *hp = xcalloc(1, sizeof(*hp));

	hp->ctx = hash_ctx_new(algo);
	/* The others only with the thread: most objects are small. */
	hp->slot[0] = xmalloc(SLOT);
	pthread_mutex_init(&hp->mu, NULL);
	pthread_cond_init(&hp->cv, NULL);
	return hp;
}

/* Hand the full slot over; wait until the next one is free. */
static void
submit(struct hash_pipe *hp)
{
	if (!hp->started) {
		sigset_t all, old;
		int i;

		for (i = 1; i < NSLOTS; i++)
			hp->slot[i] = xmalloc(SLOT);
		/* Signals stay with the caller's thread. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		hp->started = pthread_create(&hp->thread, NULL, hasher,
		    hp) == 0 ? 1 : -1;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (hp->started < 0) {
		/* No thread to be had: hash here, in order. */
		hash_ctx_update(hp->ctx, hp->slot[0], hp->fill);
		hp->fill = 0;
		return;
	}
	pthread_mutex_lock(&hp->mu);
	hp->len[hp->head % NSLOTS] = hp->fill;
	hp->head++;
	pthread_cond_broadcast(&hp->cv);
	while (hp->head - hp->tail == NSLOTS)
		pthread_cond_wait(&hp->cv, &hp->mu);
	pthread_mutex_unlock(&hp->mu);
	hp->fill = 0;
}

static unsigned char *
filling(struct hash_pipe *hp)
{
	return hp->slot[hp->started > 0 ? hp->head % NSLOTS : 0];
}

void
hash_pipe_update(struct hash_pipe *hp, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t k;

	while (n > 0) {
		k = SLOT - hp->fill;
		if (k > n)
			k = n;
		memcpy(filling(hp) + hp->fill, s, k);
		hp->fill += k;
		s += k;
		n -= k;
		if (hp->fill == SLOT)
			submit(hp);
	}
}

unsigned char *
hash_pipe_space(struct hash_pipe *hp, size_t *room)
{
	*room = SLOT - hp->fill;
	return filling(hp) + hp->fill;
}

void
hash_pipe_commit(struct hash_pipe *hp, size_t n)
{
	hp->fill += n;
	if (hp->fill == SLOT)
		submit(hp);
}

void
hash_pipe_final(struct hash_pipe *hp, struct hash *out)
{
	int i;

	if (hp->started > 0) {
		pthread_mutex_lock(&hp->mu);
		hp->len[hp->head % NSLOTS] = hp->fill;
		if (hp->fill > 0)
			hp->head++;
		hp->done = 1;
		pthread_cond_broadcast(&hp->cv);
		pthread_mutex_unlock(&hp->mu);
		pthread_join(hp->thread, NULL);
	} else if (hp->fill > 0) {
		hash_ctx_update(hp->ctx, hp->slot[0], hp->fill);
	}
	hash_ctx_final(hp->ctx, out);
	pthread_mutex_destroy(&hp->mu);
	pthread_cond_destroy(&hp->cv);
	for (i = 0; i < NSLOTS; i++)
		free(hp->slot[i]);
	free(hp);
}
