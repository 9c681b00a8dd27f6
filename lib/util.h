/*
 * util.h: error reporting, allocation and growable buffers shared by every
 * frx component.
 *
 * Error convention: library functions return -1 (or NULL) on failure and
 * record a one-line message with frx_seterr(); the caller prints
 * frx_errmsg() or wraps it with more context.  The message names the object
 * first ("/frx/store/...-hello: cannot open: No such file or directory").
 * The buffer is per thread, so forked daemon children and the client can
 * use it freely.
 */
#ifndef FRX_UTIL_H
#define FRX_UTIL_H

#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FRX_ERRMAX 4096

/* Record an error message (printf format).  Always returns -1. */
int frx_seterr(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* Same, with ": <strerror(errno)>" appended.  Preserves errno. */
int frx_seterr_errno(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* Prefix the current message with "<prefix>: ".  Returns -1. */
int frx_preferr(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
const char *frx_errmsg(void);
/* Copy s to dst (size bytes); if it does not fit, its middle gives way
 * to " [...] ", never its end (where a message gives its reason). */
void frx_fit(char *dst, size_t size, const char *s);

/*
 * What frx reads of a Linux /proc/PID/stat: fields 1 (pid), 3 (state),
 * 4 (ppid) and 22 (start, in clock ticks since boot).  Reads path into
 * a buffer on the stack (no allocation: a process sharing another's
 * memory may call it); 0, or -1 if it cannot be read or is not such a
 * line.
 */
struct frx_stat {
	long pid;
	char state;
	long ppid;
	unsigned long long start;
};
int frx_read_stat(const char *path, struct frx_stat *st);

/* Allocation that aborts on out-of-memory (the only sane reaction). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer, always NUL-terminated after len bytes. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};
#define BUF_INIT { NULL, 0, 0 }
void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* Hand the data over to the caller (NUL-terminated); b becomes empty. */
char *buf_steal(struct buf *b);

/* A list of owned strings. */
struct strv {
	char **v;
	size_t n;
	size_t cap;
};
#define STRV_INIT { NULL, 0, 0 }
void strv_add(struct strv *s, const char *str);		/* copies */
void strv_addn(struct strv *s, char *str);		/* takes ownership */
void strv_sort(struct strv *s);				/* bytewise */
void strv_uniq(struct strv *s);				/* after sort */
int strv_contains(const struct strv *s, const char *str);
void strv_free(struct strv *s);

/* I/O that retries on EINTR and short counts. 0 on success, -1 on error
 * (read_full: -1 also on EOF before n bytes, with errno = 0). */
int write_full(int fd, const void *p, size_t n);
int read_full(int fd, void *p, size_t n);
/* Read a whole file into b (appends).  -1 with message on error. */
int read_file(const char *path, struct buf *b);
/* Write a file atomically-enough for our use (O_CREAT|O_TRUNC). */
int write_file(const char *path, const void *p, size_t n, mode_t mode);

/* A plain decimal number: digits only (no sign, space or suffix), in
 * range.  0, or -1 for anything else (no message). */
int parse_decimal(const char *s, unsigned long long *out);

/* mkdir -p.  Existing directories are fine. */
int mkdirs(const char *path, mode_t mode);
/* rm -rf that never follows symlinks and never crosses into another
 * file system (st_dev check); makes directories writable as it goes. */
int remove_tree(const char *path);
/* A directory entry as readdir gave it: type is its d_type, DT_UNKNOWN
 * where the file system does not say. */
struct dir_entry {
	char *name;
	unsigned char type;
};
/* Every entry of d but "." and ".." into *v (*n of them), sorted by name
 * as bytes if sorted; -1, with a message naming path, on a read error.
 * Free with dir_entries_free. */
int dir_read_entries(DIR *d, const char *path, int sorted,
    struct dir_entry **v, size_t *n);
void dir_entries_free(struct dir_entry *v, size_t n);

/* Make the caller `by` steps nicer: 1 done (*before is the nice value
 * to go back to with setpriority), 0 not (nothing to undo). */
int nice_lower(int by, int *before);

/* Current time in seconds / in milliseconds since the epoch. */
int64_t now_s(void);
int64_t now_ms(void);

#endif
