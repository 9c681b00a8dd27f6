/*
 * db.h: the store database (SQLite, <state>/db/db.sqlite).
 *
 * A path is valid iff it has a row in ValidPaths.  Registration of a set of
 * paths with their references happens in one transaction; callers move the
 * files into place before committing (see db_register).  Several processes
 * (forked daemon children) open the database at once: WAL mode and a busy
 * timeout make that safe.
 */
#ifndef FRX_DB_H
#define FRX_DB_H

#include <stdint.h>

#include "hash.h"
#include "util.h"

struct db;

struct path_info {
	char *path;
	char *deriver;		/* NULL or "" if unknown */
	struct hash nar_hash;	/* sha256 */
	uint64_t nar_size;
	int64_t registration_time;
	int ultimate;
	char *ca;		/* NULL or content-address string */
	struct strv refs;	/* full paths, sorted */
	struct strv sigs;
};

void path_info_free(struct path_info *pi);

/* Open (creating the schema if needed) <state_dir>/db/db.sqlite. */
struct db *db_open(const char *state_dir);
void db_close(struct db *db);

int db_begin(struct db *db);		/* BEGIN IMMEDIATE */
int db_commit(struct db *db);
int db_rollback(struct db *db);

/* 1 valid, 0 not, -1 error. */
int db_is_valid(struct db *db, const char *path);
/* 1 found (pi filled), 0 not valid, -1 error. */
int db_query_info(struct db *db, const char *path, struct path_info *pi);
int db_query_referrers(struct db *db, const char *path, struct strv *out);
int db_query_valid_derivers(struct db *db, const char *path,
    struct strv *out);
int db_query_all_valid(struct db *db, struct strv *out);
/* 1 found, 0 none. */
int db_query_path_from_hash_part(struct db *db, const char *storedir,
    const char *hashpart, char **path);

/*
 * Register paths (inside a transaction the caller opened, or on its own if
 * none is open).  References to paths in the same batch are allowed;
 * references to other paths must already be valid.  An already valid path
 * is updated in place.
 */
int db_register(struct db *db, struct path_info *infos, size_t n);

/* Remove a path that nothing refers to. */
int db_invalidate(struct db *db, const char *path);

/* Derivation outputs: which drv produced which output path. */
int db_add_drv_output(struct db *db, const char *drv, const char *output,
    const char *path);
int db_query_drv_outputs(struct db *db, const char *drv,
    struct strv *names, struct strv *paths);

/*
 * Build records: one row per build attempt, key=value text (the fields of
 * the build record), looked up by derivation path; the newest wins.
 */
int db_add_build_record(struct db *db, const char *drv, const char *text);
/* 1 found (text malloc'd), 0 none. */
int db_query_build_record(struct db *db, const char *drv, char **text);

#endif
