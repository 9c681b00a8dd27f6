/*
 * hash.h: the hashes frx uses (through OpenSSL's libcrypto), their text
 * forms (base16, Nix base32, base64, SRI) and Nix's XOR folding.
 * PROTOCOL.md section 9.
 */
#ifndef FRX_HASH_H
#define FRX_HASH_H

#include <stddef.h>
#include <stdint.h>

enum hash_algo {
	HASH_MD5,
	HASH_SHA1,
	HASH_SHA256,
	HASH_SHA512,
};

#define HASH_MAX 64

struct hash {
	enum hash_algo algo;
	size_t len;			/* bytes in d */
	unsigned char d[HASH_MAX];
};

/* "md5", "sha1", "sha256", "sha512".  -1 with message if unknown. */
int hash_algo_parse(const char *name, enum hash_algo *algo);
const char *hash_algo_name(enum hash_algo algo);
size_t hash_algo_len(enum hash_algo algo);

/* Incremental hashing.  hash_ctx_new never fails (aborts on OOM). */
struct hash_ctx;
struct hash_ctx *hash_ctx_new(enum hash_algo algo);
void hash_ctx_update(struct hash_ctx *c, const void *p, size_t n);
/* Writes the digest and frees the context. */
void hash_ctx_final(struct hash_ctx *c, struct hash *out);

void hash_buf(enum hash_algo algo, const void *p, size_t n, struct hash *out);
int hash_file(enum hash_algo algo, const char *path, struct hash *out);

/* Text forms.  Returned strings are malloc'd. */
char *hex_encode(const unsigned char *p, size_t n);
char *base32_encode(const unsigned char *p, size_t n);	/* Nix base32 */
size_t base32_len(size_t nbytes);
/* Decode exactly outlen bytes; rejects bad characters, wrong length and
 * non-zero unused high bits. 0 or -1 with message. */
int base32_decode(const char *s, unsigned char *out, size_t outlen);
char *base64_encode(const unsigned char *p, size_t n);

/* Render h as "<hex>" / "<base32>" / "<algo>:<base32>". */
char *hash_hex(const struct hash *h);
char *hash_base32(const struct hash *h);
char *hash_typed_base32(const struct hash *h);

/*
 * Parse a hash in any accepted text form: base16, Nix base32 or base64,
 * optionally prefixed by "<algo>:", or SRI "<algo>-<base64>".  When algo
 * is known by the caller pass it in *h->algo with `known` = 1; a prefix
 * that disagrees is an error.  With known = 0 a prefix is required.
 */
int hash_parse(const char *text, int known, enum hash_algo algo,
    struct hash *h);

/*
 * A hash computed on a second thread, so that the caller's own work on
 * the same bytes (walking a tree, scanning it) overlaps with the hashing.
 * Bytes are copied into a few large slots; the thread starts only once a
 * slot fills, so small inputs are hashed in the caller at the end, with
 * no thread at all.  Without threads it degrades to hash_ctx.
 */
/* Before the first digest, in a process that uses OpenSSL for nothing
 * else: skip reading openssl.cnf (see hash.c). */
void hash_skip_openssl_config(void);

struct hash_pipe;
struct hash_pipe *hash_pipe_new(enum hash_algo algo);
void hash_pipe_update(struct hash_pipe *hp, const void *p, size_t n);
/*
 * Without the copy: the free space of the slot being filled (at least
 * one byte), to be written in place and then handed over with
 * hash_pipe_commit.  Committed bytes stay readable, unchanged, until
 * three more slots have been handed over, so the caller may still read
 * them (to scan them) while the thread hashes them.
 */
unsigned char *hash_pipe_space(struct hash_pipe *hp, size_t *room);
void hash_pipe_commit(struct hash_pipe *hp, size_t n);
/* Waits for the thread, writes the digest and frees the pipe. */
void hash_pipe_final(struct hash_pipe *hp, struct hash *out);

/* Nix's XOR folding (section 9.2). */
void hash_fold(const unsigned char *in, size_t inlen, unsigned char *out,
    size_t outlen);

#endif
