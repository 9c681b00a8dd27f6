/*
 * nar.h: the Nix ARchive format (PROTOCOL.md section 8).
 *
 * nar_dump walks a file system tree with openat(2) and never follows
 * symlinks; nar_restore parses a NAR from a byte source, rejecting anything
 * the grammar forbids (unsorted or duplicate names, "." "..", '/', NUL,
 * unknown tokens, non-zero padding), and creates the tree at dest, which
 * must not exist yet.  Both report errors through frx_seterr().
 */
#ifndef FRX_NAR_H
#define FRX_NAR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hash.h"

/* Directories nested deeper than this are refused, in a NAR as in an
 * output entering the store: a tree that could not travel as a NAR to
 * frx-daemon does not enter its store either. */
#define NAR_DEPTH_MAX 1024

/* Receives NAR bytes in order.  Return 0 to go on, -1 to stop (message
 * set by the sink). */
typedef int (*nar_sink_fn)(void *ctx, const void *p, size_t n);
/* Fill exactly n bytes.  Return 0, or -1 on EOF or error (message set). */
typedef int (*nar_source_fn)(void *ctx, void *p, size_t n);

/* Serialise the tree at path. */
int nar_dump(const char *path, nar_sink_fn sink, void *ctx);
/*
 * The same into buffers the sink lends: space(ctx, &room) gives the
 * next one (room > 0), the writer fills it, file contents read straight
 * into it, and sink(ctx, p, n) gets it back with p at its start.  A
 * token too long for the space left goes to sink from elsewhere, so
 * sink must also take bytes that are not in its buffer.
 */
typedef unsigned char *(*nar_space_fn)(void *ctx, size_t *room);
int nar_dump_lent(const char *path, nar_space_fn space, nar_sink_fn sink,
    void *ctx);

/* sha256 of the NAR of path and its size, without keeping the NAR. */
int nar_hash_path(const char *path, struct hash *sha256, uint64_t *size);

/*
 * Read one NAR from src and create it at dest.  If hash_out/size_out are
 * given, they receive the sha256 and size of the NAR bytes consumed.
 * Files are created with modes 0644/0755, directories 0755, owned by the
 * caller; on error whatever was created under dest is removed.
 */
int nar_restore(nar_source_fn src, void *ctx, const char *dest,
    struct hash *hash_out, uint64_t *size_out);

/*
 * nar_restore, making a store object as canonicalise_tree would leave
 * it, in the one pass: files 0444 (0555 if executable), directories
 * 0555 once their entries are in, every time 1 s after the epoch, and,
 * when run as root, every object root's (the top one even in a
 * set-group-ID directory).  Saves the second walk over the tree; a NAR
 * holds nothing else that canonicalise_tree would refuse.
 */
int nar_restore_store(nar_source_fn src, void *ctx, const char *dest,
    struct hash *hash_out, uint64_t *size_out);

/* Parse-only: consume one NAR from src (e.g. to skip or to validate).
 * If sink is not NULL, the consumed bytes are also passed to it. */
int nar_skip(nar_source_fn src, void *ctx, nar_sink_fn copy, void *copyctx);

/* Byte source over a memory buffer, for tests and in-memory NARs. */
struct nar_membuf {
	const unsigned char *p;
	size_t len;
	size_t off;
};
int nar_membuf_read(void *ctx, void *p, size_t n);

/* Sink that appends to a struct buf (util.h). */
int nar_buf_sink(void *ctx, const void *p, size_t n);

#endif
