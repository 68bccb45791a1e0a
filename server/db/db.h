/* db: the thin database layer under every server module.
 *
 * One connection, transactions, numbered migrations per module, prepared
 * statements with typed binds and a statement cache. SQLite now, PostgreSQL
 * later: nothing here names a SQLite type, and SQL passed in is written to run
 * on both (PostgreSQL-style placeholders $1, $2, ...; RETURNING rather than a
 * last-insert id). This is the only code that includes sqlite3.h.
 *
 * Locking rule. The server shares ONE struct db between its request threads.
 * Except db_open(), db_close(), db_lock(), db_unlock() and
 * db_migrate_locked(), every function below expects the calling thread to
 * hold db_lock() (debug builds assert it), and none of them takes the lock
 * itself. Hold the lock around a whole sequence: prepare, bind, step, read
 * the columns you need, db_stmt_done(); or db_begin() ...
 * db_commit()/db_rollback(). A transaction and every prepared statement must
 * end before db_unlock(): the connection, and so the transaction, is shared
 * by all threads. Pointers returned by db_errmsg() and db_column_*() are
 * valid only while the lock is held and until the next call on the same
 * statement or connection; copy what you keep.
 *
 * Errors are negative errnos; db_errmsg() says what went wrong. This layer
 * never logs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct db_stmt;

/* One schema change of a module: version numbers start at 1 and strictly
 * increase along a module's list; sql may hold several statements, but no
 * BEGIN/COMMIT (each step already runs in its own transaction, where
 * PRAGMA foreign_keys is a no-op: use PRAGMA defer_foreign_keys). */
struct db_migration {
        int version;
        const char *sql;
};

/* Opens or creates the database file at path (created with mode 0600; its
 * -wal and -shm files take the same mode), in WAL mode with synchronous=NORMAL,
 * foreign keys on and a 5 s busy timeout. ":memory:" opens a private
 * in-memory database (for tests). On success *ret owns the connection: free
 * it with db_close(). Returns 0, -EINVAL, -ENOMEM, a negative errno from
 * creating the file, or -EIO (not a database, no WAL support). */
int db_open(const char *path, struct db **ret);

/* Finalizes every statement, checkpoints the WAL into the main file and
 * closes. The caller must not hold the lock, and no other thread may use db
 * any more. NULL is fine. */
void db_close(struct db *db);

/* Takes and releases the connection's mutex (see the locking rule above).
 * Not recursive. */
void db_lock(struct db *db);
void db_unlock(struct db *db);

/* Describes the last error on this connection ("" if none yet). */
const char *db_errmsg(struct db *db);

/* Brings a module's tables up to date: creates schema_migrations if needed,
 * then applies, in order and each in its own transaction, every step whose
 * (module, version) is not recorded there, and records it. Returns 0;
 * -EINVAL if versions are not strictly increasing positive numbers; -EPROTO
 * if the database holds a version of this module newer than the last step
 * (written by a newer program: refuse to run); or the error of the step
 * that failed, which is rolled back, leaving earlier steps applied, with
 * db_errmsg() naming the module and version. */
int db_migrate(struct db *db, const char *module, const struct db_migration *steps, size_t n);

/* db_migrate() under the connection's lock, for a module's start-up: takes
 * db_lock(), migrates and releases it. The caller must not hold the lock.
 * Returns what db_migrate() returns. */
int db_migrate_locked(struct db *db, const char *module, const struct db_migration *steps, size_t n);

/* BEGIN IMMEDIATE, COMMIT, ROLLBACK. db_begin() returns -EBUSY if another
 * process kept the database locked past the busy timeout, -EINVAL if a
 * transaction is already open. If db_commit() fails the transaction stays
 * open: call db_rollback(). db_rollback() with no transaction open (for
 * example after SQLite already rolled back on an I/O error) returns 0. */
int db_begin(struct db *db);
int db_commit(struct db *db);
int db_rollback(struct db *db);

/* Ends the open transaction by the outcome of the work in it: commits when
 * r is 0, rolls back otherwise. Returns r, or the commit's error. */
int db_finish(struct db *db, int r);

/* Runs parameterless SQL, one or several statements, discarding any rows.
 * Returns 0 or an error as db_step(). */
int db_exec(struct db *db, const char *sql);

/* Prepares one statement (placeholders $1, $2, ...; a placeholder may appear
 * several times and in any order). Statements are cached by their text:
 * preparing the same SQL again after db_stmt_done() returns the same
 * statement without compiling it again. If that statement is still in use
 * (a nested query), a private one is made instead. On success *ret is
 * borrowed until db_stmt_done(). Returns 0, -EINVAL (bad SQL, or more than
 * one statement), -ENOMEM. */
int db_prepare(struct db *db, const char *sql, struct db_stmt **ret);

/* Ends the use of a statement: resets it, clears its bindings and hands it
 * back to the cache. Call it on every prepared statement, error paths
 * included. NULL is fine. */
void db_stmt_done(struct db_stmt *st);

/* Bind the value of placeholder $n (n >= 1) before the first db_step().
 * The data is copied. A NULL s or p binds SQL NULL; a zero-length non-NULL
 * blob binds an empty blob. Return 0, -EINVAL if $n is not in the statement
 * or the statement is running, -E2BIG if the value is too long, -ENOMEM. */
/* Resets a statement for another run with new bindings, keeping it: for
 * loops that run one statement many times. Lock held. */
void db_stmt_reset(struct db_stmt *st);

int db_bind_text(struct db_stmt *st, int n, const char *s, size_t len);
int db_bind_blob(struct db_stmt *st, int n, const void *p, size_t len);
int db_bind_int64(struct db_stmt *st, int n, int64_t v);
int db_bind_null(struct db_stmt *st, int n);

/* Runs the statement to its next row. Returns 1 when a row is ready, 0 when
 * done, or a negative errno: -EEXIST (a UNIQUE or PRIMARY KEY constraint),
 * -EINVAL (another constraint: FOREIGN KEY, NOT NULL, CHECK), -EBUSY (still
 * locked by another process after the busy timeout), -ENOMEM, -ENOSPC,
 * -E2BIG, -EIO (anything else). */
int db_step(struct db_stmt *st);

/* Column i (from 0) of the current row. db_column_text() and
 * db_column_blob() return NULL for SQL NULL, and store the length in bytes in
 * *ret_len when ret_len is not NULL (0 for NULL); text is also NUL-terminated.
 * The data belongs to the statement (see the locking rule). SQL NULL reads as
 * 0 through db_column_int64(). */
const char *db_column_text(struct db_stmt *st, int i, size_t *ret_len);
const void *db_column_blob(struct db_stmt *st, int i, size_t *ret_len);
int64_t db_column_int64(struct db_stmt *st, int i);
bool db_column_is_null(struct db_stmt *st, int i);

/* Rows changed by the last INSERT, UPDATE or DELETE that completed. */
int64_t db_changes(struct db *db);

/* Typed parameter lists, for statements run in one call. Build each element
 * with a db_param_*() function, so the compiler checks every type:
 *
 *   r = db_exec_params(db, "UPDATE device SET seen = $2 WHERE id = $1",
 *                      DB_PARAMS(db_param_text(id, id_len), db_param_int64(now)));
 */
enum db_param_type {
        DB_PARAM_NULL,
        DB_PARAM_INT64,
        DB_PARAM_TEXT,
        DB_PARAM_BLOB,
};

struct db_param {
        enum db_param_type type;
        int64_t i;
        const void *p;          /* TEXT, BLOB: borrowed; NULL binds SQL NULL */
        size_t len;
};

static inline struct db_param db_param_null(void)
{
        return (struct db_param){ .type = DB_PARAM_NULL };
}

static inline struct db_param db_param_int64(int64_t v)
{
        return (struct db_param){ .type = DB_PARAM_INT64, .i = v };
}

static inline struct db_param db_param_text(const char *s, size_t len)
{
        return (struct db_param){ .type = DB_PARAM_TEXT, .p = s, .len = len };
}

static inline struct db_param db_param_blob(const void *p, size_t len)
{
        return (struct db_param){ .type = DB_PARAM_BLOB, .p = p, .len = len };
}

/* Expands to the two arguments "array, count" from a list of db_param values. */
#define DB_PARAMS(...) \
        ((const struct db_param[]){ __VA_ARGS__ }), \
        (sizeof((const struct db_param[]){ __VA_ARGS__ }) / sizeof(struct db_param))

/* Binds params[k] to $k+1. Returns 0 or an error as db_bind_*(). */
int db_bind_params(struct db_stmt *st, const struct db_param *params, size_t n);

/* Prepares sql (through the cache), binds params[k] to $k+1, runs it to the
 * end, discarding any rows, and ends the statement. Returns 0 or an error as
 * db_prepare(), db_bind_*() or db_step(). */
int db_exec_params(struct db *db, const char *sql, const struct db_param *params, size_t n);
