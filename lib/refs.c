/*
 * refs.c: finding the hash parts of candidate store paths in NAR bytes.
 *
 * The candidates' 32-character hash parts go into an open-addressing
 * table.  The scan looks at 32-byte windows from their last byte
 * backwards: the first byte outside the base32 alphabet lets the window
 * jump past it, so binary data is crossed in large strides and only
 * all-base32 windows cost a table lookup.  A 31-byte tail carries matches
 * across the chunks the NAR writer hands us.
 */
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "nar.h"
#include "refs.h"
#include "store.h"

#define HP STORE_HASH_CHARS

struct cand {
	char hp[HP];
	const char *path;	/* into the caller's strv */
	int found;
};

struct scanner {
	struct cand *tab;	/* open addressing, size mask + 1 */
	size_t mask;
	size_t ncand;
	unsigned char tail[2 * HP];
	size_t ntail;
};

/* Bytes of the Nix base32 alphabet. */
static const unsigned char b32tab[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1,
	['c'] = 1, ['d'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
	['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['p'] = 1,
	['q'] = 1, ['r'] = 1, ['s'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1
};

static size_t
hp_hash(const unsigned char *p)
{
	uint64_t h = 1469598103934665603ULL;
	int i;

	for (i = 0; i < 12; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29));
}

static struct cand *
lookup(struct scanner *s, const unsigned char *p)
{
	size_t i = hp_hash(p) & s->mask;

	while (s->tab[i].path != NULL) {
		if (memcmp(s->tab[i].hp, p, HP) == 0)
			return &s->tab[i];
		i = (i + 1) & s->mask;
	}
	return NULL;
}

static int
scanner_init(struct scanner *s, const char *storedir,
    const struct strv *cands)
{
	char hp[HP + 1];
	struct cand *c;
	size_t size = 16, i, k;

	memset(s, 0, sizeof(*s));
	while (size < 2 * cands->n + 2)
		size *= 2;
	s->tab = xcalloc(size, sizeof(*s->tab));
	s->mask = size - 1;
	for (i = 0; i < cands->n; i++) {
		if (store_hash_part(storedir, cands->v[i], hp) < 0) {
			free(s->tab);
			s->tab = NULL;
			return -1;
		}
		if (lookup(s, (unsigned char *)hp) != NULL)
			continue;
		k = hp_hash((unsigned char *)hp) & s->mask;
		while (s->tab[k].path != NULL)
			k = (k + 1) & s->mask;
		c = &s->tab[k];
		memcpy(c->hp, hp, HP);
		c->path = cands->v[i];
		s->ncand++;
	}
	return 0;
}

/*
 * Scan p[0..n) for complete windows.  good marks the end of a run of
 * bytes already known to be base32, so that sliding along a long run
 * checks each byte once.
 */
static void
scan_block(struct scanner *s, const unsigned char *p, size_t n)
{
	struct cand *c;
	size_t i = 0, j, lo, good = 0;

	while (i + HP <= n) {
		lo = good > i ? good : i;
		j = i + HP;
		while (j > lo && b32tab[p[j - 1]])
			j--;
		if (j > lo) {
			good = i + HP;
			i = j;
			continue;
		}
		good = i + HP;
		c = lookup(s, p + i);
		if (c != NULL)
			c->found = 1;
		i++;
	}
}

static void
scanner_feed(struct scanner *s, const void *data, size_t n)
{
	const unsigned char *p = data;
	size_t head, keep;

	if (s->ncand == 0 || n == 0)
		return;
	if (s->ntail > 0) {
		head = n < HP - 1 ? n : HP - 1;
		memcpy(s->tail + s->ntail, p, head);
		scan_block(s, s->tail, s->ntail + head);
	}
	scan_block(s, p, n);
	if (n >= HP - 1) {
		memcpy(s->tail, p + n - (HP - 1), HP - 1);
		s->ntail = HP - 1;
		return;
	}
	/* tail already holds old tail + p; keep its last HP - 1 bytes */
	if (s->ntail == 0)
		memcpy(s->tail, p, n);
	keep = s->ntail + n;
	if (keep > HP - 1) {
		memmove(s->tail, s->tail + keep - (HP - 1), HP - 1);
		keep = HP - 1;
	}
	s->ntail = keep;
}

static void
scanner_done(struct scanner *s, struct strv *found)
{
	size_t i;

	for (i = 0; i <= s->mask; i++)
		if (s->tab[i].path != NULL && s->tab[i].found)
			strv_add(found, s->tab[i].path);
	strv_sort(found);
	strv_uniq(found);
	free(s->tab);
	s->tab = NULL;
}

struct refs_scanner {
	struct scanner sc;
};

struct refs_scanner *
refs_scanner_new(const char *storedir, const struct strv *candidates)
{
	struct refs_scanner *s = xmalloc(sizeof(*s));

	if (scanner_init(&s->sc, storedir, candidates) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

void
refs_scanner_feed(struct refs_scanner *s, const void *p, size_t n)
{
	scanner_feed(&s->sc, p, n);
}

void
refs_scanner_finish(struct refs_scanner *s, struct strv *found)
{
	scanner_done(&s->sc, found);
	free(s);
}

int
refs_scan_buf(const char *storedir, const void *p, size_t n,
    const struct strv *candidates, struct strv *found)
{
	struct scanner s;

	if (scanner_init(&s, storedir, candidates) < 0)
		return -1;
	scanner_feed(&s, p, n);
	scanner_done(&s, found);
	return 0;
}

struct scan_sink {
	struct scanner sc;
	struct hash_pipe *hp;	/* hashing overlaps the walk and the scan */
	const unsigned char *lent;	/* the pipe's space the writer fills */
	unsigned long long size;
};

static unsigned char *
scan_space(void *ctx, size_t *room)
{
	struct scan_sink *ss = ctx;
	unsigned char *p = hash_pipe_space(ss->hp, room);

	ss->lent = p;
	return p;
}

/* The bytes are in the pipe's slot (or, rarely, elsewhere): hand them
 * to the hashing thread, then scan them while it hashes. */
static int
scan_sink(void *ctx, const void *p, size_t n)
{
	struct scan_sink *ss = ctx;

	if (ss->hp != NULL && p == ss->lent)
		hash_pipe_commit(ss->hp, n);
	else if (ss->hp != NULL)
		hash_pipe_update(ss->hp, p, n);
	scanner_feed(&ss->sc, p, n);
	ss->size += n;
	return 0;
}

int
refs_hash_scan_path(const char *storedir, const char *path,
    const struct strv *candidates, struct strv *found,
    struct hash *nar_sha256, unsigned long long *nar_size)
{
	struct scan_sink ss;
	struct hash h;
	int r;

	if (scanner_init(&ss.sc, storedir, candidates) < 0)
		return -1;
	ss.hp = hash_pipe_new(HASH_SHA256);
	ss.lent = NULL;
	ss.size = 0;
	r = nar_dump_lent(path, scan_space, scan_sink, &ss);
	hash_pipe_final(ss.hp, &h);
	if (r < 0) {
		free(ss.sc.tab);
		return -1;
	}
	scanner_done(&ss.sc, found);
	if (nar_sha256 != NULL)
		*nar_sha256 = h;
	if (nar_size != NULL)
		*nar_size = ss.size;
	return 0;
}

int
refs_scan_path(const char *storedir, const char *path,
    const struct strv *candidates, struct strv *found)
{
	struct scan_sink ss;
	int r;

	if (scanner_init(&ss.sc, storedir, candidates) < 0)
		return -1;
	ss.hp = NULL;
	ss.lent = NULL;
	ss.size = 0;
	r = nar_dump(path, scan_sink, &ss);
	if (r < 0) {
		free(ss.sc.tab);
		return -1;
	}
	scanner_done(&ss.sc, found);
	return 0;
}
