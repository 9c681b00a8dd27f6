/*
 * wire.h: worker-protocol primitives (PROTOCOL.md sections 1-3) over a
 * buffered file descriptor: u64 little-endian integers, padded strings,
 * string lists, framed streams, and the stderr/log channel.
 *
 * Every reader is bounded: a string longer than the caller's limit or a
 * list longer than WIRE_LIST_MAX is an error, never an allocation.
 */
#ifndef FRX_WIRE_H
#define FRX_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/util.h"

#define WORKER_MAGIC_1 0x6e697863ULL
#define WORKER_MAGIC_2 0x6478696fULL
#define PROTO_VERSION 0x122ULL		/* what frx-daemon announces */
#define PROTO_MINOR(v) ((v) & 0xff)
#define PROTO_MAJOR(v) ((v) & 0xff00)

#define STDERR_NEXT 0x6f6c6d67ULL
#define STDERR_READ 0x64617461ULL
#define STDERR_WRITE 0x64617416ULL
#define STDERR_LAST 0x616c7473ULL
#define STDERR_ERROR 0x63787470ULL
#define STDERR_START_ACTIVITY 0x53545254ULL
#define STDERR_STOP_ACTIVITY 0x53544f50ULL
#define STDERR_RESULT 0x52534c54ULL

#define WIRE_STRING_MAX (64u << 20)	/* default bound for strings */
#define WIRE_LIST_MAX (1u << 20)

enum worker_op {
	OP_IS_VALID_PATH = 1,
	OP_HAS_SUBSTITUTES = 3,
	OP_QUERY_PATH_HASH = 4,
	OP_QUERY_REFERENCES = 5,
	OP_QUERY_REFERRERS = 6,
	OP_ADD_TO_STORE = 7,
	OP_ADD_TEXT_TO_STORE = 8,
	OP_BUILD_PATHS = 9,
	OP_ENSURE_PATH = 10,
	OP_ADD_TEMP_ROOT = 11,
	OP_ADD_INDIRECT_ROOT = 12,
	OP_SYNC_WITH_GC = 13,
	OP_FIND_ROOTS = 14,
	OP_EXPORT_PATH = 16,
	OP_QUERY_DERIVER = 18,
	OP_SET_OPTIONS = 19,
	OP_COLLECT_GARBAGE = 20,
	OP_QUERY_SUBSTITUTABLE_PATH_INFO = 21,
	OP_QUERY_DERIVATION_OUTPUTS = 22,
	OP_QUERY_ALL_VALID_PATHS = 23,
	OP_QUERY_FAILED_PATHS = 24,
	OP_CLEAR_FAILED_PATHS = 25,
	OP_QUERY_PATH_INFO = 26,
	OP_IMPORT_PATHS = 27,
	OP_QUERY_DERIVATION_OUTPUT_NAMES = 28,
	OP_QUERY_PATH_FROM_HASH_PART = 29,
	OP_QUERY_SUBSTITUTABLE_PATH_INFOS = 30,
	OP_QUERY_VALID_PATHS = 31,
	OP_QUERY_SUBSTITUTABLE_PATHS = 32,
	OP_QUERY_VALID_DERIVERS = 33,
	OP_OPTIMISE_STORE = 34,
	OP_VERIFY_STORE = 35,
	OP_BUILD_DERIVATION = 36,
	OP_ADD_SIGNATURES = 37,
	OP_NAR_FROM_PATH = 38,
	OP_ADD_TO_STORE_NAR = 39,
	OP_QUERY_MISSING = 40,
	OP_QUERY_DERIVATION_OUTPUT_MAP = 41,
	OP_REGISTER_DRV_OUTPUT = 42,
	OP_QUERY_REALISATION = 43,
	OP_ADD_MULTIPLE_TO_STORE = 44,
	OP_ADD_BUILD_LOG = 45,
	OP_BUILD_PATHS_WITH_RESULTS = 46,
	/* frx extensions, outside the ranges Nix and Guix use. */
	OP_FRX_QUERY_BUILD_RECORD = 0x4672,	/* drv path -> key=value text */
	OP_FRX_ADD_FIXED_FILE = 0x4673,		/* see daemon/ops.c */
};

/* The operation's name as the Nix sources spell it ("OptimiseStore"),
 * or NULL for an operation no version of the protocol has. */
const char *wire_op_name(uint64_t op);

/* A buffered connection.  Reads and writes fail with a message once the
 * peer is gone; after a failure the connection is unusable. */
struct conn {
	int fd;
	unsigned char rbuf[65536];
	size_t rpos, rlen;
	unsigned char wbuf[65536];
	size_t wlen;
	int failed;
};

void conn_init(struct conn *c, int fd);
int conn_flush(struct conn *c);

int wire_read(struct conn *c, void *p, size_t n);
int wire_write(struct conn *c, const void *p, size_t n);

int wire_read_u64(struct conn *c, uint64_t *v);
int wire_write_u64(struct conn *c, uint64_t v);

/* Reads a string into a malloc'd NUL-terminated buffer (the NUL is not
 * part of the data: *len gets the real length, embedded NULs possible). */
int wire_read_string(struct conn *c, size_t max, char **s, size_t *len);
/* Same, but refuses embedded NUL bytes (for paths, names, options). */
int wire_read_cstring(struct conn *c, size_t max, char **s);
int wire_write_string(struct conn *c, const void *p, size_t n);
int wire_write_cstring(struct conn *c, const char *s);

int wire_read_strings(struct conn *c, struct strv *out);
int wire_write_strings(struct conn *c, const struct strv *s);

/* Framed streams: each frame u64 length + bytes (no padding), 0 ends. */
struct frame_reader {
	struct conn *c;
	uint64_t left;		/* bytes left in the current frame */
	int done;
};
void frame_reader_init(struct frame_reader *fr, struct conn *c);
/* nar_source_fn-compatible: fill exactly n bytes. */
int frame_read(void *ctx, void *p, size_t n);
/* Read everything up to the end marker (discarding). */
int frame_drain(struct frame_reader *fr);
/* Read everything into fd (-1: discard, as frame_drain), 64 KiB at a
 * time; a write error is reported once the stream has been read to its
 * end. */
int frame_read_to_fd(struct frame_reader *fr, int fd);
/* Writer: nar_sink_fn-compatible.  frame_write_end sends the 0 frame. */
int frame_write(void *ctx, const void *p, size_t n);
int frame_write_end(struct conn *c);

/* Raw (unframed) connection source/sink for old-style NAR transfer. */
int conn_source(void *ctx, void *p, size_t n);
int conn_sink(void *ctx, const void *p, size_t n);

#endif
