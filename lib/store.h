/*
 * store.h: store paths.  How a store path is computed from a type, an inner
 * hash and a name (PROTOCOL.md sections 9 and 10), and how a path handed to
 * us is checked.  Every function takes the store directory explicitly: the
 * same inputs give different paths in /frx/store and /nix/store.
 */
#ifndef FRX_STORE_H
#define FRX_STORE_H

#include <stddef.h>

#include "hash.h"
#include "util.h"

#define STORE_HASH_CHARS 32
#define STORE_NAME_MAX 211

/* A name of 1..211 characters from A-Za-z0-9+-._?= not starting with '.'.
 * 0 or -1 with message naming the name and the reason. */
int store_check_name(const char *name);

/* Check that path is <storedir>/<32 base32 chars>-<name>, nothing below it.
 * 0 or -1 with message. */
int store_check_path(const char *storedir, const char *path);

/* "<hash>-<name>" of a store path (pointer into path), NULL if not one. */
const char *store_base(const char *storedir, const char *path);
/* The 32-character hash part, copied to out[33]. */
int store_hash_part(const char *storedir, const char *path, char out[33]);
/* The name after "<hash>-". */
const char *store_path_name(const char *storedir, const char *path);

/*
 * makeStorePath: type is e.g. "output:out", "source", "text:/frx/store/..."
 * (the caller has already appended references for text and source types).
 * inner is the sha256 given as the inner hash.
 */
char *store_make_path(const char *storedir, const char *type,
    const struct hash *inner, const char *name);

/* Text path (section 10.3): sha256 of contents, sorted references. */
char *store_make_text_path(const char *storedir, const char *name,
    const struct hash *content_sha256, const struct strv *refs);

/*
 * Fixed-output / content-addressed path (10.1, 10.2): recursive sha256
 * gives a "source" path (with refs and self allowed); anything else gives
 * "output:out" over "fixed:out:[r:]<algo>:<hex>:" and must have no refs.
 */
char *store_make_fixed_path(const char *storedir, const char *name,
    int recursive, const struct hash *h, const struct strv *refs,
    int self_ref);

/* Content-address strings of section 10.4. */
char *store_ca_text(const struct hash *content_sha256);
char *store_ca_fixed(int recursive, const struct hash *h);

#endif
