/*
 * test-nar: NAR writing against the vectors, round trips through
 * nar_restore, and the reader's rejection of malformed archives.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/hash.h"
#include "../../lib/nar.h"
#include "../../lib/util.h"

static const char *vdir;
static char tmpdir[] = "/tmp/frx-test-nar.XXXXXX";

static char *
tpath(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static void
read_vec(const char *rel, struct buf *b)
{
	char *path = xasprintf("%s/%s", vdir, rel);

	if (read_file(path, b) < 0)
		fail_msg("%s", frx_errmsg());
	free(path);
}

static void
dump(const char *path, struct buf *out)
{
	if (nar_dump(path, nar_buf_sink, out) < 0)
		fail_msg("%s", frx_errmsg());
}

static void
put_file(const char *path, const char *data, size_t n, mode_t mode)
{
	assert_int_equal(write_file(path, data, n, mode), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* The "tree" of the vectors: Z, a.txt, link -> a.txt, sub/{empty,run.sh}. */
static void
make_vector_tree(const char *root)
{
	char *p;

	assert_int_equal(mkdir(root, 0755), 0);
	p = xasprintf("%s/Z", root);
	put_file(p, "z\n", 2, 0644);
	free(p);
	p = xasprintf("%s/a.txt", root);
	put_file(p, "abc", 3, 0644);
	free(p);
	p = xasprintf("%s/link", root);
	assert_int_equal(symlink("a.txt", p), 0);
	free(p);
	p = xasprintf("%s/sub", root);
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	p = xasprintf("%s/sub/empty", root);
	put_file(p, "", 0, 0644);
	free(p);
	p = xasprintf("%s/sub/run.sh", root);
	put_file(p, "#!/bin/sh\necho hi\n", 18, 0755);
	free(p);
}

static void
assert_same_nar(const struct buf *got, const char *rel)
{
	struct buf want = BUF_INIT;

	read_vec(rel, &want);
	assert_int_equal(got->len, want.len);
	assert_memory_equal(got->data, want.data, want.len);
	buf_free(&want);
}

static void
test_dump_inputs(void **state)
{
	static const char *const files[] = { "hello.txt", "exec.sh",
	    "empty.txt" };
	struct buf b = BUF_INIT;
	char *in, *nar;
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		in = xasprintf("%s/inputs/%s", vdir, files[i]);
		nar = xasprintf("nar/%s.nar", files[i]);
		buf_reset(&b);
		dump(in, &b);
		assert_same_nar(&b, nar);
		free(nar);
		free(in);
	}
	buf_free(&b);
}

static void
test_dump_symlink(void **state)
{
	struct buf b = BUF_INIT;
	char *p = tpath("symlink");

	(void)state;
	assert_int_equal(symlink("/some/target", p), 0);
	dump(p, &b);
	assert_same_nar(&b, "nar/symlink.nar");
	assert_int_equal(remove_tree(p), 0);
	buf_free(&b);
	free(p);
}

static void
test_dump_tree(void **state)
{
	struct buf b = BUF_INIT;
	char *p = tpath("tree");
	struct hash h;
	uint64_t size;
	char *hex;

	(void)state;
	make_vector_tree(p);
	dump(p, &b);
	assert_same_nar(&b, "nar/tree.nar");
	assert_int_equal(nar_hash_path(p, &h, &size), 0);
	assert_int_equal(size, 1264);
	hex = hash_hex(&h);
	assert_string_equal(hex, "d9f58f7d05dc402bfddb9d83a4f1c9d9"
	    "e9d5ee6d4c1d3b2f2df24636314fec9a");
	free(hex);
	assert_int_equal(remove_tree(p), 0);
	buf_free(&b);
	free(p);
}

/*
 * Restore the vector NAR nar/<name> at dest (with nar_restore_store if
 * store), leaving its bytes in in; the reported hash and size are those
 * of the bytes, all of which were read.
 */
static void
restore_vec(const char *name, const char *dest, int store, struct buf *in)
{
	struct nar_membuf m;
	struct hash h, want;
	uint64_t size;
	char *rel = xasprintf("nar/%s", name);
	int r;

	buf_reset(in);
	read_vec(rel, in);
	m.p = (const unsigned char *)in->data;
	m.len = in->len;
	m.off = 0;
	r = store ? nar_restore_store(nar_membuf_read, &m, dest, &h, &size) :
	    nar_restore(nar_membuf_read, &m, dest, &h, &size);
	if (r < 0)
		fail_msg("%s: %s", rel, frx_errmsg());
	assert_int_equal(size, in->len);
	assert_int_equal(m.off, in->len);
	hash_buf(HASH_SHA256, in->data, in->len, &want);
	assert_memory_equal(h.d, want.d, 32);
	free(rel);
}

/* Restore every vector NAR and dump it again: identical bytes. */
static void
test_restore_vectors(void **state)
{
	static const char *const nars[] = { "hello.txt.nar", "exec.sh.nar",
	    "empty.txt.nar", "symlink.nar", "tree.nar" };
	struct buf in = BUF_INIT, out = BUF_INIT;
	char *dest;
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		dest = tpath("restored");
		buf_reset(&out);
		restore_vec(nars[i], dest, 0, &in);
		dump(dest, &out);
		assert_int_equal(out.len, in.len);
		assert_memory_equal(out.data, in.data, in.len);
		assert_int_equal(remove_tree(dest), 0);
		free(dest);
	}
	buf_free(&in);
	buf_free(&out);
}

static void
test_restore_modes(void **state)
{
	struct buf in = BUF_INIT;
	struct nar_membuf m;
	struct stat st;
	char *dest = tpath("modes"), *p, target[64];
	ssize_t n;

	(void)state;
	read_vec("nar/tree.nar", &in);
	m.p = (const unsigned char *)in.data;
	m.len = in.len;
	m.off = 0;
	assert_int_equal(nar_restore(nar_membuf_read, &m, dest, NULL, NULL),
	    0);
	p = xasprintf("%s/sub/run.sh", dest);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	free(p);
	p = xasprintf("%s/a.txt", dest);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(st.st_size, 3);
	free(p);
	p = xasprintf("%s/link", dest);
	n = readlink(p, target, sizeof(target));
	assert_int_equal(n, 5);
	assert_memory_equal(target, "a.txt", 5);
	free(p);
	/* dest must not exist yet */
	m.off = 0;
	assert_int_equal(nar_restore(nar_membuf_read, &m, dest, NULL, NULL),
	    -1);
	assert_non_null(strstr(frx_errmsg(), "already exists"));
	assert_int_equal(remove_tree(dest), 0);
	buf_free(&in);
	free(dest);
}

/*
 * nar_restore_store leaves what canonicalise_tree would: read-only
 * files and directories, times of 1 s, the same NAR, and nothing left
 * for canonicalise_tree to change.
 */
static void
check_store_object(const char *path, mode_t mode)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		fail_msg("%s: %s", path, strerror(errno));
	if (!S_ISLNK(st.st_mode))
		assert_int_equal(st.st_mode & 07777, mode);
	assert_int_equal(st.st_mtim.tv_sec, 1);
	assert_int_equal(st.st_mtim.tv_nsec, 0);
	if (geteuid() == 0) {
		assert_int_equal(st.st_uid, 0);
		assert_int_equal(st.st_gid, 0);
	}
}

static void
test_restore_store(void **state)
{
	static const char *const nars[] = { "hello.txt.nar", "exec.sh.nar",
	    "symlink.nar", "tree.nar" };
	static const mode_t top[] = { 0444, 0555, 0, 0555 };
	struct buf in = BUF_INIT, out = BUF_INIT;
	char *dest, *p;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		dest = tpath("store-object");
		buf_reset(&out);
		restore_vec(nars[i], dest, 1, &in);
		check_store_object(dest, top[i]);
		if (i == 3) {
			static const char *const sub[] = { "a.txt", "sub",
			    "sub/run.sh", "link" };
			static const mode_t subm[] = { 0444, 0555, 0555, 0 };
			size_t k;

			for (k = 0; k < 4; k++) {
				p = xasprintf("%s/%s", dest, sub[k]);
				check_store_object(p, subm[k]);
				free(p);
			}
		}
		dump(dest, &out);
		assert_int_equal(out.len, in.len);
		assert_memory_equal(out.data, in.data, in.len);
		assert_int_equal(remove_tree(dest), 0);
		free(dest);
	}
	/* In a set-group-ID directory of another group (a store made so by
	 * hand), the object is still root's, and its bit is not inherited. */
	if (geteuid() == 0) {
		char *dir = tpath("sgid");

		assert_int_equal(mkdir(dir, 0755), 0);
		assert_int_equal(chown(dir, 0, 35000), 0);
		assert_int_equal(chmod(dir, 02775), 0);
		dest = xasprintf("%s/obj", dir);
		restore_vec("tree.nar", dest, 1, &in);
		check_store_object(dest, 0555);
		p = xasprintf("%s/sub", dest);
		check_store_object(p, 0555);
		free(p);
		assert_int_equal(remove_tree(dir), 0);
		free(dest);
		free(dir);
	}
	buf_free(&in);
	buf_free(&out);
}

/* A larger generated tree: byte order, big files, exec bits, links. */
static void
make_gen_tree(const char *root)
{
	static const char *const names[] = { "Z", "a", "_", "B", "a.b",
	    "a-b", "\xc3\xa9", "~", "0" };
	size_t i, n = 200000;
	char *big, *p;

	assert_int_equal(mkdir(root, 0755), 0);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		p = xasprintf("%s/%s", root, names[i]);
		put_file(p, names[i], strlen(names[i]), i % 2 ? 0755 : 0644);
		free(p);
	}
	big = xmalloc(n);
	for (i = 0; i < n; i++)
		big[i] = (char)(i * 7 + i / 251);
	p = xasprintf("%s/big", root);
	put_file(p, big, n, 0700);
	free(p);
	p = xasprintf("%s/d", root);
	assert_int_equal(mkdir(p, 0700), 0);
	free(p);
	p = xasprintf("%s/d/e", root);
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	p = xasprintf("%s/d/e/deep", root);
	put_file(p, big, 65536 + 3, 0600);
	free(p);
	p = xasprintf("%s/d/dangling", root);
	assert_int_equal(symlink("/nonexistent/x", p), 0);
	free(p);
	p = xasprintf("%s/d/empty-dir", root);
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	free(big);
}

static const char *
find_bytes(const char *h, size_t hn, const char *n, size_t nn)
{
	size_t i;

	for (i = 0; i + nn <= hn; i++)
		if (memcmp(h + i, n, nn) == 0)
			return h + i;
	return NULL;
}

static void
test_generated_round_trip(void **state)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	struct nar_membuf m;
	char *src = tpath("gen"), *dest = tpath("gen2");
	const char *pz, *pa, *pe;
	struct hash h;
	uint64_t size;

	(void)state;
	make_gen_tree(src);
	dump(src, &a);
	/* "Z" (0x5a) < "_" < "a" < "~" < "é" (0xc3 0xa9) bytewise */
	pz = find_bytes(a.data, a.len, "\x01\0\0\0\0\0\0\0Z\0\0\0", 12);
	pa = find_bytes(a.data, a.len, "\x01\0\0\0\0\0\0\0a\0\0\0", 12);
	pe = find_bytes(a.data, a.len, "\x02\0\0\0\0\0\0\0\xc3\xa9\0", 11);
	assert_non_null(pz);
	assert_non_null(pa);
	assert_non_null(pe);
	assert_true(pz < pa && pa < pe);
	m.p = (const unsigned char *)a.data;
	m.len = a.len;
	m.off = 0;
	assert_int_equal(nar_restore(nar_membuf_read, &m, dest, &h, &size),
	    0);
	assert_int_equal(size, a.len);
	dump(dest, &b);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_int_equal(remove_tree(src), 0);
	assert_int_equal(remove_tree(dest), 0);
	buf_free(&a);
	buf_free(&b);
	free(src);
	free(dest);
}

static void
test_skip_copies(void **state)
{
	struct buf in = BUF_INIT, copy = BUF_INIT;
	struct nar_membuf m;

	(void)state;
	read_vec("nar/tree.nar", &in);
	buf_add(&in, "trailing", 8);
	m.p = (const unsigned char *)in.data;
	m.len = in.len;
	m.off = 0;
	assert_int_equal(nar_skip(nar_membuf_read, &m, nar_buf_sink, &copy),
	    0);
	assert_int_equal(m.off, 1264);
	assert_int_equal(copy.len, 1264);
	assert_memory_equal(copy.data, in.data, 1264);
	buf_free(&in);
	buf_free(&copy);
}

/* ------------------------------------------------------------------ */
/* Malformed archives */

static void
tok(struct buf *b, const char *s, size_t n)
{
	unsigned char len[8];
	static const char zero[8];
	int i;

	for (i = 0; i < 8; i++)
		len[i] = (unsigned char)((uint64_t)n >> (8 * i));
	buf_add(b, len, 8);
	buf_add(b, s, n);
	if (n % 8)
		buf_add(b, zero, 8 - n % 8);
}

/* Tokens separated by '|' ("" via an empty field). */
static void
toks(struct buf *b, const char *spec)
{
	const char *p = spec, *e;

	for (;;) {
		e = strchr(p, '|');
		tok(b, p, e ? (size_t)(e - p) : strlen(p));
		if (e == NULL)
			break;
		p = e + 1;
	}
}

static void
entry(struct buf *b, const char *name)
{
	toks(b, "entry|(|name");
	tok(b, name, strlen(name));
	toks(b, "node|(|type|regular|contents|x|)|)");
}

/* Expect nar_restore and nar_skip to reject b, leaving nothing behind. */
static void
assert_rejected(const struct buf *b, const char *why)
{
	struct nar_membuf m = { (const unsigned char *)b->data, b->len, 0 };
	char *dest = tpath("bad");
	struct stat st;

	if (nar_restore(nar_membuf_read, &m, dest, NULL, NULL) == 0)
		fail_msg("accepted a NAR with %s", why);
	if (why[0] != '\0' && strstr(frx_errmsg(), why) == NULL)
		fail_msg("%s: message lacks \"%s\"", frx_errmsg(), why);
	assert_int_equal(lstat(dest, &st), -1);
	assert_int_equal(errno, ENOENT);
	m.off = 0;
	assert_int_equal(nar_skip(nar_membuf_read, &m, NULL, NULL), -1);
	free(dest);
}

static void
dir_with(struct buf *b, const char *const *names, size_t n)
{
	size_t i;

	buf_reset(b);
	toks(b, "nix-archive-1|(|type|directory");
	for (i = 0; i < n; i++)
		entry(b, names[i]);
	toks(b, ")");
}

static void
test_reject_names(void **state)
{
	static const char *const unsorted[] = { "b", "a" };
	static const char *const dup[] = { "a", "a" };
	static const char *const dotdot[] = { ".." };
	static const char *const dot[] = { "." };
	static const char *const slash[] = { "a/b" };
	static const char *const empty[] = { "" };
	static const char *const upper[] = { "a", "Z" };
	static const char *const ok[] = { "Z", "a" };
	struct buf b = BUF_INIT;
	struct nar_membuf m;
	char *dest = tpath("ok");

	(void)state;
	dir_with(&b, unsorted, 2);
	assert_rejected(&b, "unsorted");
	dir_with(&b, dup, 2);
	assert_rejected(&b, "duplicated");
	dir_with(&b, upper, 2);
	assert_rejected(&b, "unsorted");
	dir_with(&b, dotdot, 1);
	assert_rejected(&b, "\"..\"");
	dir_with(&b, dot, 1);
	assert_rejected(&b, "\".\"");
	dir_with(&b, slash, 1);
	assert_rejected(&b, "bad entry name");
	dir_with(&b, empty, 1);
	assert_rejected(&b, "bad entry name");
	buf_reset(&b);
	toks(&b, "nix-archive-1|(|type|directory|entry|(|name");
	tok(&b, "a\0b", 3);
	toks(&b, "node|(|type|regular|contents||)|)|)");
	assert_rejected(&b, "bad entry name");
	/* and the sorted version is accepted */
	dir_with(&b, ok, 2);
	m.p = (const unsigned char *)b.data;
	m.len = b.len;
	m.off = 0;
	assert_int_equal(nar_restore(nar_membuf_read, &m, dest, NULL, NULL),
	    0);
	assert_int_equal(remove_tree(dest), 0);
	free(dest);
	buf_free(&b);
}

static void
test_reject_tokens(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	toks(&b, "nix-archive-2|(|type|regular|contents||)");
	assert_rejected(&b, "expected \"nix-archive-1\"");
	buf_reset(&b);
	toks(&b, "nix-archive-1|(|type|fifo|)");
	assert_rejected(&b, "unknown node type");
	buf_reset(&b);
	toks(&b, "nix-archive-1|(|type|regular|executable|x|contents||)");
	assert_rejected(&b, "bad executable marker");
	buf_reset(&b);
	toks(&b, "nix-archive-1|(|type|regular|type|regular|contents||)");
	assert_rejected(&b, "expected \"contents\"");
	buf_reset(&b);
	toks(&b, "nix-archive-1|(|type|regular|contents||junk");
	assert_rejected(&b, "expected \")\"");
	buf_reset(&b);
	toks(&b, "nix-archive-1|(|type|directory|bogus|)");
	assert_rejected(&b, "expected \"entry\"");
	buf_reset(&b);
	toks(&b, "nix-archive-1|(|type|symlink|target||)");
	assert_rejected(&b, "bad symlink target");
	buf_reset(&b);
	toks(&b, "nix-archive-1|(|type|directory|entry|(|name|x|node|(|"
	    "type|regular|contents||)|)|entry|(|name|y|)|)");
	assert_rejected(&b, "expected \"node\"");
	buf_free(&b);
}

/*
 * A token with NULs inside its length is not the token: it would pass a
 * comparison up to the first NUL, and a NAR that no tree dumps to would
 * get its hash registered for the tree it restores to.  Each case is the
 * empty file's NAR with one token so spelt.
 */
static void
test_reject_nul_tokens(void **state)
{
	static const struct {
		const char *t;
		size_t n;
		const char *why;
	} bad[] = {
		{ "regular\0", 8, "unknown node type" },
		{ "contents\0\0", 10, "expected \"contents\"" },
		{ "executable\0", 11, "expected \"contents\"" },
		{ "\0\0\0", 3, "bad executable marker" },
		{ ")\0", 2, "expected \")\"" },
	};
	struct buf b = BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&b);
		toks(&b, "nix-archive-1|(|type");
		tok(&b, i == 0 ? bad[i].t : "regular", i == 0 ? bad[i].n : 7);
		if (i == 2 || i == 3) {
			tok(&b, i == 2 ? bad[i].t : "executable",
			    i == 2 ? bad[i].n : 10);
			tok(&b, i == 3 ? bad[i].t : "", i == 3 ? bad[i].n : 0);
		}
		tok(&b, i == 1 ? bad[i].t : "contents", i == 1 ? bad[i].n : 8);
		tok(&b, "", 0);
		tok(&b, i == 4 ? bad[i].t : ")", i == 4 ? bad[i].n : 1);
		assert_rejected(&b, bad[i].why);
	}
	/* And in a directory: "entry" and its closing ")". */
	buf_reset(&b);
	toks(&b, "nix-archive-1|(|type|directory");
	tok(&b, "entry\0", 6);
	assert_rejected(&b, "expected \"entry\" or \")\"");
	buf_reset(&b);
	toks(&b, "nix-archive-1|(|type|directory");
	tok(&b, ")\0\0", 3);
	assert_rejected(&b, "expected \"entry\" or \")\"");
	buf_free(&b);
}

static void
test_reject_padding(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	read_vec("nar/hello.txt.nar", &b);
	/* byte 13 is inside the padding after "nix-archive-1" */
	b.data[8 + 13] = 1;
	assert_rejected(&b, "non-zero padding");
	buf_reset(&b);
	read_vec("nar/hello.txt.nar", &b);
	/* "hello world\n" is 12 bytes: padding at content offset 12..15 */
	b.data[b.len - 16 - 2] = 'x';
	assert_rejected(&b, "non-zero padding");
	buf_free(&b);
}

static void
test_reject_long_strings(void **state)
{
	static const unsigned char huge[8] = { 0, 0, 0, 0, 0, 0, 0, 0x7f };
	struct buf b = BUF_INIT;
	char name[300];

	(void)state;
	memset(name, 'n', sizeof(name));
	toks(&b, "nix-archive-1|(|type|directory|entry|(|name");
	tok(&b, name, 256);
	toks(&b, "node|(|type|regular|contents||)|)|)");
	assert_rejected(&b, "string too long");
	buf_reset(&b);
	toks(&b, "nix-archive-1|(|type|regular|contents");
	buf_add(&b, huge, 8);	/* absurd content length, then EOF */
	assert_rejected(&b, "unexpected end");
	buf_free(&b);
}

/* Every proper prefix of a NAR is truncated and must be rejected. */
static void
test_reject_truncated(void **state)
{
	struct buf full = BUF_INIT, b = BUF_INIT;
	size_t n;

	(void)state;
	read_vec("nar/tree.nar", &full);
	for (n = 0; n < full.len; n += 4) {
		buf_reset(&b);
		buf_add(&b, full.data, n);
		assert_rejected(&b, "");
	}
	buf_free(&full);
	buf_free(&b);
}

static void
test_dump_errors(void **state)
{
	struct buf b = BUF_INIT;
	char *p = tpath("missing");

	(void)state;
	assert_int_equal(nar_dump(p, nar_buf_sink, &b), -1);
	assert_non_null(strstr(frx_errmsg(), p));
	free(p);
	p = tpath("fifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(nar_dump(p, nar_buf_sink, &b), -1);
	assert_non_null(strstr(frx_errmsg(), "cannot be archived"));
	assert_int_equal(remove_tree(p), 0);
	free(p);
	buf_free(&b);
}

static int
setup(void **state)
{
	const char *e = getenv("FRX_VECTORS");

	(void)state;
	vdir = e != NULL && *e != '\0' ? e : "../shared/vectors";
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return remove_tree(tmpdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dump_inputs),
		cmocka_unit_test(test_dump_symlink),
		cmocka_unit_test(test_dump_tree),
		cmocka_unit_test(test_restore_vectors),
		cmocka_unit_test(test_restore_modes),
		cmocka_unit_test(test_restore_store),
		cmocka_unit_test(test_generated_round_trip),
		cmocka_unit_test(test_skip_copies),
		cmocka_unit_test(test_reject_names),
		cmocka_unit_test(test_reject_tokens),
		cmocka_unit_test(test_reject_nul_tokens),
		cmocka_unit_test(test_reject_padding),
		cmocka_unit_test(test_reject_long_strings),
		cmocka_unit_test(test_reject_truncated),
		cmocka_unit_test(test_dump_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
