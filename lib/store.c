/*
 * store.c: store path syntax (PROTOCOL.md 9.5) and the computation of
 * store paths from fingerprints (9.3, 10.1-10.4).
 */
#include <stdlib.h>
#include <string.h>

#include "store.h"

static const char b32chars[] = "0123456789abcdfghijklmnpqrsvwxyz";

static int
name_char_ok(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("+-._?=", c) != NULL;
}

int
store_check_name(const char *name)
{
	size_t len = strlen(name), i;

	if (len == 0)
		return frx_seterr("store path name is empty");
	if (len > STORE_NAME_MAX)
		return frx_seterr("%s: name longer than %d characters", name,
		    STORE_NAME_MAX);
	if (name[0] == '.')
		return frx_seterr("%s: name must not start with '.'", name);
	for (i = 0; i < len; i++)
		if (!name_char_ok(name[i]))
			return frx_seterr("%s: illegal character '%c' in name",
			    name, name[i]);
	return 0;
}

const char *
store_base(const char *storedir, const char *path)
{
	size_t n = strlen(storedir);

	if (strncmp(path, storedir, n) != 0 || path[n] != '/')
		return NULL;
	return path + n + 1;
}

int
store_check_path(const char *storedir, const char *path)
{
	const char *base = store_base(storedir, path);
	size_t i;

	if (base == NULL)
		return frx_seterr("%s: not in the store directory %s", path,
		    storedir);
	for (i = 0; i < STORE_HASH_CHARS; i++)
		if (base[i] == '\0' || strchr(b32chars, base[i]) == NULL)
			return frx_seterr("%s: store path has a bad hash part",
			    path);
	if (base[STORE_HASH_CHARS] != '-')
		return frx_seterr("%s: store path lacks '-' after the hash",
		    path);
	if (strchr(base, '/') != NULL)
		return frx_seterr("%s: not directly inside the store", path);
	if (store_check_name(base + STORE_HASH_CHARS + 1) < 0)
		return frx_preferr("%s", path);
	return 0;
}

int
store_hash_part(const char *storedir, const char *path, char out[33])
{
	const char *base = store_base(storedir, path);

	if (base == NULL || strlen(base) < STORE_HASH_CHARS + 2 ||
	    base[STORE_HASH_CHARS] != '-')
		return frx_seterr("%s: not a store path", path);
	memcpy(out, base, STORE_HASH_CHARS);
	out[STORE_HASH_CHARS] = '\0';
	return 0;
}

const char *
store_path_name(const char *storedir, const char *path)
{
	const char *base = store_base(storedir, path);

	if (base == NULL || strlen(base) < STORE_HASH_CHARS + 2 ||
	    base[STORE_HASH_CHARS] != '-')
		return NULL;
	return base + STORE_HASH_CHARS + 1;
}

char *
store_make_path(const char *storedir, const char *type,
    const struct hash *inner, const char *name)
{
	unsigned char folded[20];
	struct hash digest;
	char *hex, *fp, *b32, *path;

	hex = hash_hex(inner);
	fp = xasprintf("%s:%s:%s:%s:%s", type, hash_algo_name(inner->algo),
	    hex, storedir, name);
	hash_buf(HASH_SHA256, fp, strlen(fp), &digest);
	hash_fold(digest.d, digest.len, folded, sizeof(folded));
	b32 = base32_encode(folded, sizeof(folded));
	path = xasprintf("%s/%s-%s", storedir, b32, name);
	free(b32);
	free(fp);
	free(hex);
	return path;
}

/* "<prefix>:<ref1>:<ref2>..." with the references in ascending order. */
static char *
type_with_refs(const char *prefix, const struct strv *refs, int self_ref)
{
	struct strv sorted = STRV_INIT;
	struct buf b = BUF_INIT;
	size_t i;

	buf_adds(&b, prefix);
	for (i = 0; refs != NULL && i < refs->n; i++)
		strv_add(&sorted, refs->v[i]);
	strv_sort(&sorted);
	strv_uniq(&sorted);
	for (i = 0; i < sorted.n; i++) {
		buf_addc(&b, ':');
		buf_adds(&b, sorted.v[i]);
	}
	if (self_ref)
		buf_adds(&b, ":self");
	strv_free(&sorted);
	return buf_steal(&b);
}

char *
store_make_text_path(const char *storedir, const char *name,
    const struct hash *content_sha256, const struct strv *refs)
{
	char *type, *path;

	type = type_with_refs("text", refs, 0);
	path = store_make_path(storedir, type, content_sha256, name);
	free(type);
	return path;
}

char *
store_make_fixed_path(const char *storedir, const char *name,
    int recursive, const struct hash *h, const struct strv *refs,
    int self_ref)
{
	struct hash inner;
	char *type, *path, *hex, *s;

	if (recursive && h->algo == HASH_SHA256) {
		type = type_with_refs("source", refs, self_ref);
		path = store_make_path(storedir, type, h, name);
		free(type);
		return path;
	}
	if ((refs != NULL && refs->n > 0) || self_ref) {
		frx_seterr("%s: a fixed-output path cannot have references",
		    name);
		return NULL;
	}
	hex = hash_hex(h);
	s = xasprintf("fixed:out:%s%s:%s:", recursive ? "r:" : "",
	    hash_algo_name(h->algo), hex);
	hash_buf(HASH_SHA256, s, strlen(s), &inner);
	path = store_make_path(storedir, "output:out", &inner, name);
	free(s);
	free(hex);
	return path;
}

char *
store_ca_text(const struct hash *content_sha256)
{
	char *b = hash_base32(content_sha256), *s;

	s = xasprintf("text:sha256:%s", b);
	free(b);
	return s;
}

char *
store_ca_fixed(int recursive, const struct hash *h)
{
	char *b = hash_base32(h), *s;

	s = xasprintf("fixed:%s%s:%s", recursive ? "r:" : "",
	    hash_algo_name(h->algo), b);
	free(b);
	return s;
}
