/*
 * refs.h: reference scanning.  A store object refers to another when the
 * 32-character hash part of that path occurs anywhere in its NAR bytes
 * (file contents, symlink targets and names alike).
 */
#ifndef FRX_REFS_H
#define FRX_REFS_H

#include <stddef.h>

#include "util.h"

/*
 * Scan the tree at path for the hash parts of the candidate store paths
 * (full paths, all in storedir).  The paths found are appended to found
 * (sorted on return).  0 or -1 with message.
 */
int refs_scan_path(const char *storedir, const char *path,
    const struct strv *candidates, struct strv *found);

/* The same over a memory buffer, for tests and text objects. */
int refs_scan_buf(const char *storedir, const void *p, size_t n,
    const struct strv *candidates, struct strv *found);

/*
 * Incremental scanning, for bytes that arrive in pieces (e.g. a NAR read
 * from a client): feed any chunking, matches across pieces are found.
 * refs_scanner_new returns NULL with a message if a candidate is not a
 * store path in storedir; refs_scanner_finish appends the paths found to
 * found (sorted) and frees the scanner.
 */
struct refs_scanner;
struct refs_scanner *refs_scanner_new(const char *storedir,
    const struct strv *candidates);
void refs_scanner_feed(struct refs_scanner *s, const void *p, size_t n);
void refs_scanner_finish(struct refs_scanner *s, struct strv *found);

/*
 * One pass over the NAR of path: its sha256 and size, and the references
 * found, as the post-build step needs them.  Matches that straddle buffer
 * boundaries are found.
 */
struct hash;
int refs_hash_scan_path(const char *storedir, const char *path,
    const struct strv *candidates, struct strv *found,
    struct hash *nar_sha256, unsigned long long *nar_size);
#endif
