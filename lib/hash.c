/*
 * hash.c: digests through OpenSSL's EVP interface and the text forms of
 * PROTOCOL.md section 9.1: base16, Nix base32 (little-endian bit order,
 * last character first), base64 and SRI.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "hash.h"
#include "util.h"

static const char b32chars[] = "0123456789abcdfghijklmnpqrsvwxyz";
static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const struct {
	const char *name;
	size_t len;
} algos[] = {
	[HASH_MD5] = { "md5", 16 },
	[HASH_SHA1] = { "sha1", 20 },
	[HASH_SHA256] = { "sha256", 32 },
	[HASH_SHA512] = { "sha512", 64 },
};

#define NALGOS (sizeof(algos) / sizeof(algos[0]))

struct hash_ctx {
	enum hash_algo algo;
	EVP_MD_CTX *md;
};

int
hash_algo_parse(const char *name, enum hash_algo *algo)
{
	size_t i;

	for (i = 0; i < NALGOS; i++) {
		if (strcmp(name, algos[i].name) == 0) {
			*algo = (enum hash_algo)i;
			return 0;
		}
	}
	return frx_seterr("%s: unknown hash algorithm", name);
}

const char *
hash_algo_name(enum hash_algo algo)
{
	if ((size_t)algo >= NALGOS)
		return "unknown";
	return algos[algo].name;
}

size_t
hash_algo_len(enum hash_algo algo)
{
	if ((size_t)algo >= NALGOS)
		return 0;
	return algos[algo].len;
}

static const EVP_MD *
evp_md(enum hash_algo algo)
{
	switch (algo) {
	case HASH_MD5:
		return EVP_md5();
	case HASH_SHA1:
		return EVP_sha1();
	case HASH_SHA256:
		return EVP_sha256();
	case HASH_SHA512:
		return EVP_sha512();
	}
	return EVP_sha256();
}

/*
 * A digest depends on nothing in openssl.cnf, and reading it (with the
 * locks and modules it brings) was a large part of a short client's
 * start.  For a process that uses OpenSSL only for digests: the choice
 * holds for the whole process and its forks, TLS included, so the
 * daemon, whose fetcher speaks TLS through libcurl, does not make it.
 */
void
hash_skip_openssl_config(void)
{
	if (OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) != 1)
		abort();
}

struct hash_ctx *
hash_ctx_new(enum hash_algo algo)
{
	struct hash_ctx *c = xmalloc(sizeof(*c));

	c->algo = algo;
	c->md = EVP_MD_CTX_new();
	if (c->md == NULL || EVP_DigestInit_ex(c->md, evp_md(algo), NULL) != 1)
		abort();
	return c;
}

void
hash_ctx_update(struct hash_ctx *c, const void *p, size_t n)
{
	if (n > 0 && EVP_DigestUpdate(c->md, p, n) != 1)
		abort();
}

void
hash_ctx_final(struct hash_ctx *c, struct hash *out)
{
	unsigned int len = 0;

	memset(out, 0, sizeof(*out));
	if (EVP_DigestFinal_ex(c->md, out->d, &len) != 1)
		abort();
	out->algo = c->algo;
	out->len = len;
	EVP_MD_CTX_free(c->md);
	free(c);
}

void
hash_buf(enum hash_algo algo, const void *p, size_t n, struct hash *out)
{
	struct hash_ctx *c = hash_ctx_new(algo);

	hash_ctx_update(c, p, n);
	hash_ctx_final(c, out);
}

int
hash_file(enum hash_algo algo, const char *path, struct hash *out)
{
	struct hash_ctx *c;
	char *buf;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return frx_seterr_errno("%s: cannot open", path);
	buf = xmalloc(65536);
	c = hash_ctx_new(algo);
	for (;;) {
		r = read(fd, buf, 65536);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		hash_ctx_update(c, buf, (size_t)r);
	}
	hash_ctx_final(c, out);
	free(buf);
	if (r < 0) {
		frx_seterr_errno("%s: cannot read", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

char *
hex_encode(const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *s = xmalloc(2 * n + 1);
	size_t i;

	for (i = 0; i < n; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[2 * n] = '\0';
	return s;
}

size_t
base32_len(size_t nbytes)
{
	return nbytes == 0 ? 0 : (8 * nbytes - 1) / 5 + 1;
}

char *
base32_encode(const unsigned char *p, size_t n)
{
	size_t len = base32_len(n), k, b, i, j, o = 0;
	char *s = xmalloc(len + 1);
	unsigned v;

	for (k = len; k-- > 0;) {
		b = 5 * k;
		i = b / 8;
		j = b % 8;
		v = p[i] >> j;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << (8 - j);
		s[o++] = b32chars[v & 31];
	}
	s[o] = '\0';
	return s;
}

static int
b32_value(char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(b32chars, c);
	return p == NULL ? -1 : (int)(p - b32chars);
}

int
base32_decode(const char *s, unsigned char *out, size_t outlen)
{
	size_t len = strlen(s), k, b, i, j;
	int v;

	if (len != base32_len(outlen))
		return frx_seterr("%s: base32 hash has wrong length (want %zu)",
		    s, base32_len(outlen));
	memset(out, 0, outlen);
	for (k = 0; k < len; k++) {
		v = b32_value(s[len - 1 - k]);
		if (v < 0)
			return frx_seterr("%s: invalid base32 character '%c'",
			    s, s[len - 1 - k]);
		b = 5 * k;
		i = b / 8;
		j = b % 8;
		out[i] |= (unsigned char)(v << j);
		if (i + 1 < outlen)
			out[i + 1] |= (unsigned char)(v >> (8 - j));
		else if ((unsigned)v >> (8 - j))
			return frx_seterr("%s: base32 hash has non-zero "
			    "high bits", s);
	}
	return 0;
}

char *
base64_encode(const unsigned char *p, size_t n)
{
	char *s = xmalloc(4 * ((n + 2) / 3) + 1);
	size_t i, o = 0;
	unsigned long v;

	for (i = 0; i < n; i += 3) {
		v = (unsigned long)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned long)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		s[o++] = b64chars[(v >> 18) & 63];
		s[o++] = b64chars[(v >> 12) & 63];
		s[o++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		s[o++] = i + 2 < n ? b64chars[v & 63] : '=';
	}
	s[o] = '\0';
	return s;
}

/* Decode standard padded base64 of exactly outlen bytes. */
static int
base64_decode(const char *s, unsigned char *out, size_t outlen)
{
	size_t len = strlen(s), i, o = 0, npad = 0;
	unsigned long v = 0;
	const char *p;
	int bits = 0;

	if (len != 4 * ((outlen + 2) / 3))
		return frx_seterr("%s: base64 hash has wrong length", s);
	for (i = 0; i < len; i++) {
		if (s[i] == '=') {
			npad++;
			continue;
		}
		p = strchr(b64chars, s[i]);
		if (npad > 0 || s[i] == '\0' || p == NULL)
			return frx_seterr("%s: invalid base64 hash", s);
		v = (v << 6) | (unsigned long)(p - b64chars);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outlen)
				return frx_seterr("%s: base64 hash too long",
				    s);
			out[o++] = (unsigned char)(v >> bits);
		}
	}
	if (o != outlen || npad > 2 || (v & ((1UL << bits) - 1)) != 0)
		return frx_seterr("%s: invalid base64 hash", s);
	return 0;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
hex_decode(const char *s, unsigned char *out, size_t outlen)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < outlen; i++) {
		hi = hex_value(s[2 * i]);
		lo = hi < 0 ? -1 : hex_value(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return frx_seterr("%s: invalid hex hash", s);
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

char *
hash_hex(const struct hash *h)
{
	return hex_encode(h->d, h->len);
}

char *
hash_base32(const struct hash *h)
{
	return base32_encode(h->d, h->len);
}

char *
hash_typed_base32(const struct hash *h)
{
	char *b = hash_base32(h), *s;

	s = xasprintf("%s:%s", hash_algo_name(h->algo), b);
	free(b);
	return s;
}

/* Decode the digest text s (no prefix) of an algo-sized hash. */
static int
hash_decode(const char *s, enum hash_algo algo, struct hash *h)
{
	size_t n = hash_algo_len(algo), len = strlen(s);

	memset(h, 0, sizeof(*h));
	h->algo = algo;
	h->len = n;
	if (len == 2 * n)
		return hex_decode(s, h->d, n);
	if (len == base32_len(n))
		return base32_decode(s, h->d, n);
	if (len == 4 * ((n + 2) / 3))
		return base64_decode(s, h->d, n);
	return frx_seterr("%s: not a %s hash (wrong length)", s,
	    hash_algo_name(algo));
}

/* Split "<algo><sep>rest"; 1 if s starts with a known algo and sep. */
static int
split_prefix(const char *s, char sep, enum hash_algo *algo,
    const char **rest)
{
	size_t i, n;

	for (i = 0; i < NALGOS; i++) {
		n = strlen(algos[i].name);
		if (strncmp(s, algos[i].name, n) == 0 && s[n] == sep) {
			*algo = (enum hash_algo)i;
			*rest = s + n + 1;
			return 1;
		}
	}
	return 0;
}

int
hash_parse(const char *text, int known, enum hash_algo algo,
    struct hash *h)
{
	enum hash_algo found;
	const char *rest = text;
	int sri = 0, prefixed;

	prefixed = split_prefix(text, ':', &found, &rest);
	if (!prefixed && split_prefix(text, '-', &found, &rest))
		prefixed = sri = 1;
	if (!prefixed && strchr(text, ':') != NULL)
		return frx_seterr("%s: unknown hash type", text);
	if (!prefixed && !known)
		return frx_seterr("%s: hash has no type prefix", text);
	if (prefixed && known && found != algo)
		return frx_seterr("%s: hash type is not %s", text,
		    hash_algo_name(algo));
	if (!prefixed)
		found = algo;
	if (sri) {
		memset(h, 0, sizeof(*h));
		h->algo = found;
		h->len = hash_algo_len(found);
		if (base64_decode(rest, h->d, h->len) < 0)
			return frx_preferr("%s", text);
		return 0;
	}
	if (hash_decode(rest, found, h) < 0)
		return prefixed ? frx_preferr("%s", text) : -1;
	return 0;
}

void
hash_fold(const unsigned char *in, size_t inlen, unsigned char *out,
    size_t outlen)
{
	size_t i;

	memset(out, 0, outlen);
	for (i = 0; i < inlen; i++)
		out[i % outlen] ^= in[i];
}
