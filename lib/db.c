/*
 * db.c: the store database.  One SQLite file shared by every daemon
 * process; WAL journal, a long busy timeout and foreign keys on.
 *
 * NAR hashes are stored as "sha256:<hex>", signatures space-separated.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db.h"

/*
 * Prepared statements are kept for the life of the connection: parsing
 * and planning the same dozen statements again for every build was
 * about half of the daemon's time in SQLite.  A statement in use (a
 * query run while another instance of it is being stepped) gets a fresh
 * one that is finalized after use.
 */
#define DB_STMTS 32

struct db_stmt {
	const char *sql;
	sqlite3_stmt *st;
	int busy;
};

struct db {
	sqlite3 *h;
	char *path;
	struct db_stmt stmts[DB_STMTS];
	size_t nstmts;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS ValidPaths ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,"
    " path TEXT UNIQUE NOT NULL,"
    " hash TEXT NOT NULL,"
    " registrationTime INTEGER NOT NULL,"
    " deriver TEXT,"
    " narSize INTEGER,"
    " ultimate INTEGER,"
    " sigs TEXT,"
    " ca TEXT);"
    "CREATE TABLE IF NOT EXISTS Refs ("
    " referrer INTEGER NOT NULL,"
    " reference INTEGER NOT NULL,"
    " PRIMARY KEY (referrer, reference),"
    " FOREIGN KEY (referrer) REFERENCES ValidPaths(id) ON DELETE CASCADE,"
    " FOREIGN KEY (reference) REFERENCES ValidPaths(id)"
    "  ON DELETE RESTRICT);"
    "CREATE INDEX IF NOT EXISTS IndexReferrer ON Refs(referrer);"
    "CREATE INDEX IF NOT EXISTS IndexReference ON Refs(reference);"
    "CREATE TABLE IF NOT EXISTS DerivationOutputs ("
    " drv INTEGER NOT NULL,"
    " id TEXT NOT NULL,"
    " path TEXT NOT NULL,"
    " PRIMARY KEY (drv, id),"
    " FOREIGN KEY (drv) REFERENCES ValidPaths(id) ON DELETE CASCADE);"
    "CREATE INDEX IF NOT EXISTS IndexDerivationOutputs"
    " ON DerivationOutputs(path);"
    "CREATE TABLE IF NOT EXISTS BuildRecords ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,"
    " drv TEXT NOT NULL,"
    " time INTEGER NOT NULL,"
    " text TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS IndexBuildRecords ON BuildRecords(drv);";

static int
db_err(struct db *db, const char *what)
{
	return frx_seterr("%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

static int
db_exec(struct db *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		frx_seterr("%s: %s: %s", db->path, sql,
		    msg ? msg : sqlite3_errmsg(db->h));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static sqlite3_stmt *
db_prep(struct db *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	struct db_stmt *c;
	size_t i;

	for (i = 0; i < db->nstmts; i++) {
		c = &db->stmts[i];
		if (!c->busy && strcmp(c->sql, sql) == 0) {
			c->busy = 1;
			return c->st;
		}
	}
	if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
	    NULL) != SQLITE_OK) {
		db_err(db, "cannot prepare statement");
		return NULL;
	}
	if (db->nstmts < DB_STMTS) {
		c = &db->stmts[db->nstmts++];
		c->sql = sql;	/* callers pass string literals */
		c->st = st;
		c->busy = 1;
	}
	return st;
}

/* Done with st: reset a kept statement (which ends its read), finalize
   any other. */
static void
db_done(struct db *db, sqlite3_stmt *st)
{
	size_t i;

	for (i = 0; i < db->nstmts; i++)
		if (db->stmts[i].st == st) {
			(void)sqlite3_reset(st);
			(void)sqlite3_clear_bindings(st);
			db->stmts[i].busy = 0;
			return;
		}
	sqlite3_finalize(st);
}

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

static char *
col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s == NULL ? NULL : xstrdup((const char *)s);
}

/* Run a statement that returns no rows; finalizes it. */
static int
db_step_done(struct db *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		db_err(db, what);
		db_done(db, st);
		return -1;
	}
	db_done(db, st);
	return 0;
}

/* Collect column 0 of every row into out; finalizes st. */
static int
db_collect(struct db *db, sqlite3_stmt *st, struct strv *out,
    const char *what)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		strv_addn(out, col_text(st, 0));
	db_done(db, st);
	if (rc != SQLITE_DONE)
		return db_err(db, what);
	return 0;
}

struct db *
db_open(const char *state_dir)
{
	struct db *db;
	char *dir;

	dir = xasprintf("%s/db", state_dir);
	if (mkdirs(dir, 0755) < 0) {
		free(dir);
		return NULL;
	}
	db = xcalloc(1, sizeof(*db));
	db->path = xasprintf("%s/db.sqlite", dir);
	free(dir);
	if (sqlite3_open_v2(db->path, &db->h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		if (db->h != NULL)
			db_err(db, "cannot open database");
		else
			frx_seterr("%s: cannot open database", db->path);
		db_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db->h, 60000);
	if (db_exec(db, "PRAGMA journal_mode=WAL") < 0 ||
	    db_exec(db, "PRAGMA foreign_keys=ON") < 0 ||
	    db_exec(db, "PRAGMA synchronous=NORMAL") < 0 ||
	    db_exec(db, schema) < 0) {
		db_close(db);
		return NULL;
	}
	return db;
}

void
db_close(struct db *db)
{
	size_t i;

	if (db == NULL)
		return;
	for (i = 0; i < db->nstmts; i++)
		sqlite3_finalize(db->stmts[i].st);
	if (db->h != NULL)
		sqlite3_close(db->h);
	free(db->path);
	free(db);
}

int
db_begin(struct db *db)
{
	return db_exec(db, "BEGIN IMMEDIATE");
}

int
db_commit(struct db *db)
{
	return db_exec(db, "COMMIT");
}

int
db_rollback(struct db *db)
{
	return db_exec(db, "ROLLBACK");
}

/* The row id of a valid path: 1 found, 0 not, -1 error. */
static int
path_id(struct db *db, const char *path, sqlite3_int64 *id)
{
	sqlite3_stmt *st;
	int rc;

	st = db_prep(db, "SELECT id FROM ValidPaths WHERE path = ?");
	if (st == NULL)
		return -1;
	bind_text(st, 1, path);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	db_done(db, st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	db_err(db, path);
	return -1;
}

int
db_is_valid(struct db *db, const char *path)
{
	sqlite3_int64 id;

	return path_id(db, path, &id);
}

void
path_info_free(struct path_info *pi)
{
	free(pi->path);
	free(pi->deriver);
	free(pi->ca);
	strv_free(&pi->refs);
	strv_free(&pi->sigs);
	memset(pi, 0, sizeof(*pi));
}

static void
split_sigs(const char *s, struct strv *out)
{
	const char *p, *e;

	if (s == NULL)
		return;
	for (p = s; *p != '\0'; p = e) {
		while (*p == ' ')
			p++;
		e = p;
		while (*e != '\0' && *e != ' ')
			e++;
		if (e > p)
			strv_addn(out, xstrndup(p, (size_t)(e - p)));
	}
}

static int
query_refs(struct db *db, sqlite3_int64 id, struct strv *out)
{
	sqlite3_stmt *st;

	st = db_prep(db, "SELECT v.path FROM Refs r JOIN ValidPaths v"
	    " ON r.reference = v.id WHERE r.referrer = ? ORDER BY v.path");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return db_collect(db, st, out, "cannot query references");
}

static int
fill_info(struct db *db, sqlite3_stmt *st, const char *path,
    struct path_info *pi)
{
	const char *hash = (const char *)sqlite3_column_text(st, 1);

	pi->path = xstrdup(path);
	if (hash == NULL || hash_parse(hash, 1, HASH_SHA256,
	    &pi->nar_hash) < 0)
		return frx_seterr("%s: bad NAR hash in database %s", path,
		    db->path);
	pi->registration_time = sqlite3_column_int64(st, 2);
	pi->deriver = col_text(st, 3);
	pi->nar_size = (uint64_t)sqlite3_column_int64(st, 4);
	pi->ultimate = sqlite3_column_int(st, 5) != 0;
	split_sigs((const char *)sqlite3_column_text(st, 6), &pi->sigs);
	pi->ca = col_text(st, 7);
	if (pi->ca != NULL && pi->ca[0] == '\0') {
		free(pi->ca);
		pi->ca = NULL;
	}
	return query_refs(db, sqlite3_column_int64(st, 0), &pi->refs);
}

int
db_query_info(struct db *db, const char *path, struct path_info *pi)
{
	sqlite3_stmt *st;
	int rc;

	memset(pi, 0, sizeof(*pi));
	st = db_prep(db, "SELECT id, hash, registrationTime, deriver,"
	    " narSize, ultimate, sigs, ca FROM ValidPaths WHERE path = ?");
	if (st == NULL)
		return -1;
	bind_text(st, 1, path);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		db_done(db, st);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		db_err(db, path);
		db_done(db, st);
		return -1;
	}
	rc = fill_info(db, st, path, pi);
	db_done(db, st);
	if (rc < 0) {
		path_info_free(pi);
		return -1;
	}
	return 1;
}

int
db_query_referrers(struct db *db, const char *path, struct strv *out)
{
	sqlite3_stmt *st;

	st = db_prep(db, "SELECT v.path FROM Refs r JOIN ValidPaths v"
	    " ON r.referrer = v.id WHERE r.reference ="
	    " (SELECT id FROM ValidPaths WHERE path = ?) ORDER BY v.path");
	if (st == NULL)
		return -1;
	bind_text(st, 1, path);
	return db_collect(db, st, out, path);
}

int
db_query_valid_derivers(struct db *db, const char *path, struct strv *out)
{
	sqlite3_stmt *st;

	st = db_prep(db, "SELECT DISTINCT v.path FROM DerivationOutputs d"
	    " JOIN ValidPaths v ON d.drv = v.id WHERE d.path = ?"
	    " ORDER BY v.path");
	if (st == NULL)
		return -1;
	bind_text(st, 1, path);
	return db_collect(db, st, out, path);
}

int
db_query_all_valid(struct db *db, struct strv *out)
{
	sqlite3_stmt *st;

	st = db_prep(db, "SELECT path FROM ValidPaths ORDER BY path");
	if (st == NULL)
		return -1;
	return db_collect(db, st, out, "cannot list valid paths");
}

int
db_query_path_from_hash_part(struct db *db, const char *storedir,
    const char *hashpart, char **path)
{
	sqlite3_stmt *st;
	char *prefix;
	int rc, found = 0;

	*path = NULL;
	prefix = xasprintf("%s/%s-", storedir, hashpart);
	st = db_prep(db, "SELECT path FROM ValidPaths WHERE path >= ?"
	    " ORDER BY path LIMIT 1");
	if (st == NULL) {
		free(prefix);
		return -1;
	}
	bind_text(st, 1, prefix);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 0);

		if (p != NULL && strncmp(p, prefix, strlen(prefix)) == 0) {
			*path = xstrdup(p);
			found = 1;
		}
	} else if (rc != SQLITE_DONE) {
		found = db_err(db, hashpart);
	}
	db_done(db, st);
	free(prefix);
	return found;
}

/* ------------------------------------------------------------------ */
/* Registration */

static char *
join_sigs(const struct strv *sigs)
{
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; i < sigs->n; i++) {
		if (i > 0)
			buf_addc(&b, ' ');
		buf_adds(&b, sigs->v[i]);
	}
	return buf_steal(&b);
}

static void
bind_info(sqlite3_stmt *st, const struct path_info *pi)
{
	char *hex = hash_hex(&pi->nar_hash);
	char *hash = xasprintf("%s:%s", hash_algo_name(pi->nar_hash.algo),
	    hex);
	char *sigs = join_sigs(&pi->sigs);

	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, pi->registration_time ?
	    pi->registration_time : now_s());
	bind_text(st, 3, pi->deriver && pi->deriver[0] ? pi->deriver : NULL);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)pi->nar_size);
	sqlite3_bind_int(st, 5, pi->ultimate ? 1 : 0);
	bind_text(st, 6, sigs);
	bind_text(st, 7, pi->ca && pi->ca[0] ? pi->ca : NULL);
	bind_text(st, 8, pi->path);
	free(sigs);
	free(hash);
	free(hex);
}

/* Insert or update the row of pi and drop its old references. */
static int
register_row(struct db *db, const struct path_info *pi)
{
	sqlite3_stmt *st;
	sqlite3_int64 id;
	int valid;

	if (pi->path == NULL || pi->path[0] == '\0')
		return frx_seterr("%s: cannot register an empty path",
		    db->path);
	if (pi->nar_hash.algo != HASH_SHA256 || pi->nar_hash.len != 32)
		return frx_seterr("%s: NAR hash is not sha256", pi->path);
	valid = path_id(db, pi->path, &id);
	if (valid < 0)
		return -1;
	if (valid)
		st = db_prep(db, "UPDATE ValidPaths SET hash = ?1,"
		    " deriver = coalesce(?3, deriver), narSize = ?4,"
		    " ultimate = ?5, sigs = ?6, ca = ?7 WHERE path = ?8");
	else
		st = db_prep(db, "INSERT INTO ValidPaths (hash,"
		    " registrationTime, deriver, narSize, ultimate, sigs, ca,"
		    " path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
	if (st == NULL)
		return frx_preferr("%s", pi->path);
	bind_info(st, pi);
	if (db_step_done(db, st, pi->path) < 0)
		return -1;
	if (!valid)
		return 0;
	st = db_prep(db, "DELETE FROM Refs WHERE referrer = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return db_step_done(db, st, pi->path);
}

static int
add_refs(struct db *db, const struct path_info *pi)
{
	sqlite3_int64 from, to;
	sqlite3_stmt *st;
	size_t i;
	int r;

	if (path_id(db, pi->path, &from) != 1)
		return frx_seterr("%s: vanished during registration",
		    pi->path);
	for (i = 0; i < pi->refs.n; i++) {
		r = path_id(db, pi->refs.v[i], &to);
		if (r < 0)
			return -1;
		if (r == 0)
			return frx_seterr("%s: reference %s is not valid",
			    pi->path, pi->refs.v[i]);
		st = db_prep(db, "INSERT OR IGNORE INTO Refs (referrer,"
		    " reference) VALUES (?, ?)");
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, from);
		sqlite3_bind_int64(st, 2, to);
		if (db_step_done(db, st, pi->path) < 0)
			return -1;
	}
	return 0;
}

static int
register_all(struct db *db, struct path_info *infos, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (register_row(db, &infos[i]) < 0)
			return -1;
	for (i = 0; i < n; i++)
		if (add_refs(db, &infos[i]) < 0)
			return -1;
	return 0;
}

/*
 * Without an open transaction we take the write lock ourselves; inside
 * the caller's we use a savepoint, so that a failed registration leaves
 * nothing behind in either case.
 */
int
db_register(struct db *db, struct path_info *infos, size_t n)
{
	int own = sqlite3_get_autocommit(db->h) != 0;
	char msg[FRX_ERRMAX];

	if (db_exec(db, own ? "BEGIN IMMEDIATE" :
	    "SAVEPOINT frx_register") < 0)
		return -1;
	if (register_all(db, infos, n) < 0) {
		memcpy(msg, frx_errmsg(), sizeof(msg));
		/* Failures here leave the transaction for SQLite to undo. */
		if (own) {
			(void)db_exec(db, "ROLLBACK");
		} else {
			(void)db_exec(db, "ROLLBACK TO frx_register");
			(void)db_exec(db, "RELEASE frx_register");
		}
		return frx_seterr("%s", msg);
	}
	return db_exec(db, own ? "COMMIT" : "RELEASE frx_register");
}

int
db_invalidate(struct db *db, const char *path)
{
	struct strv referrers = STRV_INIT;
	sqlite3_stmt *st;
	sqlite3_int64 id;
	size_t i;
	int r;

	r = path_id(db, path, &id);
	if (r <= 0)
		return r < 0 ? -1 : frx_seterr("%s: not valid", path);
	if (db_query_referrers(db, path, &referrers) < 0)
		return -1;
	for (i = 0; i < referrers.n; i++) {
		if (strcmp(referrers.v[i], path) != 0) {
			frx_seterr("%s: still referenced by %s", path,
			    referrers.v[i]);
			strv_free(&referrers);
			return -1;
		}
	}
	strv_free(&referrers);
	st = db_prep(db, "DELETE FROM Refs WHERE referrer = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (db_step_done(db, st, path) < 0)
		return -1;
	st = db_prep(db, "DELETE FROM ValidPaths WHERE id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return db_step_done(db, st, path);
}

/* ------------------------------------------------------------------ */
/* Derivation outputs and build records */

int
db_add_drv_output(struct db *db, const char *drv, const char *output,
    const char *path)
{
	sqlite3_stmt *st;
	sqlite3_int64 id;
	int r;

	r = path_id(db, drv, &id);
	if (r <= 0)
		return r < 0 ? -1 : frx_seterr("%s: derivation is not valid",
		    drv);
	st = db_prep(db, "INSERT OR REPLACE INTO DerivationOutputs (drv, id,"
	    " path) VALUES (?, ?, ?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, output);
	bind_text(st, 3, path);
	return db_step_done(db, st, drv);
}

int
db_query_drv_outputs(struct db *db, const char *drv, struct strv *names,
    struct strv *paths)
{
	sqlite3_stmt *st;
	int rc;

	st = db_prep(db, "SELECT id, path FROM DerivationOutputs WHERE drv ="
	    " (SELECT id FROM ValidPaths WHERE path = ?) ORDER BY id");
	if (st == NULL)
		return -1;
	bind_text(st, 1, drv);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		strv_addn(names, col_text(st, 0));
		strv_addn(paths, col_text(st, 1));
	}
	db_done(db, st);
	if (rc != SQLITE_DONE)
		return db_err(db, drv);
	return 0;
}

int
db_add_build_record(struct db *db, const char *drv, const char *text)
{
	sqlite3_stmt *st;

	st = db_prep(db, "INSERT INTO BuildRecords (drv, time, text)"
	    " VALUES (?, ?, ?)");
	if (st == NULL)
		return -1;
	bind_text(st, 1, drv);
	sqlite3_bind_int64(st, 2, now_s());
	bind_text(st, 3, text);
	return db_step_done(db, st, drv);
}

int
db_query_build_record(struct db *db, const char *drv, char **text)
{
	sqlite3_stmt *st;
	int rc;

	*text = NULL;
	st = db_prep(db, "SELECT text FROM BuildRecords WHERE drv = ?"
	    " ORDER BY id DESC LIMIT 1");
	if (st == NULL)
		return -1;
	bind_text(st, 1, drv);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*text = col_text(st, 0);
	db_done(db, st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return db_err(db, drv);
}
