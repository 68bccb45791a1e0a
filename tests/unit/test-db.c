/* Unit tests for server/db: open, migrations, binds, errors, transactions,
 * the statement cache and the lock, on real SQLite files in a temp dir. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "server/db/db.h"

static char tmpdir[] = "/tmp/vigil-test-db-XXXXXX";

static const char *db_path(const char *name)
{
        static char path[256];

        snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        return path;
}

static struct db *open_db(const char *name)
{
        struct db *db = NULL;

        assert_int_equal(db_open(db_path(name), &db), 0);
        assert_non_null(db);
        return db;
}

/* Runs a query that returns one integer; the caller holds the lock. */
static int64_t query_int(struct db *db, const char *sql)
{
        struct db_stmt *st;
        int64_t v;

        assert_int_equal(db_prepare(db, sql, &st), 0);
        assert_int_equal(db_step(st), 1);
        v = db_column_int64(st, 0);
        assert_int_equal(db_step(st), 0);
        db_stmt_done(st);
        return v;
}

static void test_open(void **state)
{
        struct db_stmt *st;
        struct stat sb;
        const char *mode;
        struct db *db;
        size_t len;

        db = open_db("open.db");
        assert_int_equal(stat(db_path("open.db"), &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);

        db_lock(db);
        assert_int_equal(db_prepare(db, "PRAGMA journal_mode", &st), 0);
        assert_int_equal(db_step(st), 1);
        mode = db_column_text(st, 0, &len);
        assert_non_null(mode);
        assert_int_equal(len, 3);
        assert_string_equal(mode, "wal");
        db_stmt_done(st);
        assert_int_equal(query_int(db, "PRAGMA synchronous"), 2);      /* FULL: acknowledged means on disk */
        assert_int_equal(query_int(db, "PRAGMA foreign_keys"), 1);
        assert_int_equal(query_int(db, "PRAGMA busy_timeout"), 5000);
        assert_int_equal(db_exec(db, "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)"), 0);
        db_unlock(db);

        /* the WAL holds secrets too */
        assert_int_equal(stat(db_path("open.db-wal"), &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
        db_close(db);
        db_close(NULL);

        db = open_db("open.db");
        db_lock(db);
        assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 1);
        db_unlock(db);
        db_close(db);

        assert_int_equal(db_open(db_path("no/such/dir.db"), &db), -ENOENT);
}

static void test_open_not_a_database(void **state)
{
        struct db *db = NULL;
        FILE *f;

        f = fopen(db_path("junk.db"), "w");
        assert_non_null(f);
        fputs("this is not an SQLite database, it only pretends to be one for a while\n", f);
        fclose(f);
        assert_true(db_open(db_path("junk.db"), &db) < 0);
        assert_null(db);
}

static const struct db_migration steps_v3[] = {
        { 1, "CREATE TABLE device (id TEXT PRIMARY KEY, name TEXT NOT NULL)" },
        { 2, "CREATE TABLE tag (device_id TEXT NOT NULL REFERENCES device(id), tag TEXT);"
             "INSERT INTO device (id, name) VALUES ('seed', 'first');" },
        { 5, "ALTER TABLE device ADD COLUMN seen INTEGER" },
};

static void test_migrate_once(void **state)
{
        struct db *db;

        db = open_db("migrate.db");
        /* db_migrate_locked() takes the lock itself */
        assert_int_equal(db_migrate_locked(db, "enroll", steps_v3, 2), 0);
        db_lock(db);
        assert_int_equal(query_int(db, "SELECT count(*) FROM schema_migrations WHERE module = 'enroll'"), 2);
        assert_int_equal(db_migrate(db, "enroll", steps_v3, 2), 0);
        assert_int_equal(query_int(db, "SELECT count(*) FROM device"), 1);
        db_unlock(db);
        db_close(db);

        /* a newer program adds version 5; the old steps do not run again */
        db = open_db("migrate.db");
        db_lock(db);
        assert_int_equal(db_migrate(db, "enroll", steps_v3, 3), 0);
        assert_int_equal(db_migrate(db, "enroll", steps_v3, 3), 0);
        assert_int_equal(query_int(db, "SELECT count(*) FROM device"), 1);
        assert_int_equal(query_int(db, "SELECT max(version) FROM schema_migrations WHERE module = 'enroll'"), 5);
        assert_int_equal(query_int(db, "SELECT count(*) FROM schema_migrations WHERE applied_at > 1700000000"), 3);
        assert_int_equal(query_int(db, "SELECT count(seen) FROM device"), 0);
        /* another module's history is its own */
        assert_int_equal(db_migrate(db, "tvm", steps_v3, 0), 0);
        db_unlock(db);
        db_close(db);
}

static void test_migrate_failure(void **state)
{
        static const struct db_migration steps[] = {
                { 1, "CREATE TABLE good (x INTEGER)" },
                { 2, "CREATE TABLE partial (x INTEGER); INSERT INTO nosuch VALUES (1)" },
                { 3, "CREATE TABLE later (x INTEGER)" },
        };
        struct db *db;
        int r;

        db = open_db("fail.db");
        db_lock(db);
        r = db_migrate(db, "defend", steps, 3);
        assert_true(r < 0);
        assert_non_null(strstr(db_errmsg(db), "'defend' migration 2"));
        assert_non_null(strstr(db_errmsg(db), "nosuch"));
        assert_int_equal(query_int(db, "SELECT count(*) FROM schema_migrations WHERE module = 'defend' AND version = 1"), 1);
        assert_int_equal(query_int(db, "SELECT count(*) FROM schema_migrations WHERE module = 'defend'"), 1);
        assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'good'"), 1);
        assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'partial'"), 0);
        assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'later'"), 0);
        /* no transaction left open */
        assert_int_equal(db_begin(db), 0);
        assert_int_equal(db_rollback(db), 0);
        db_unlock(db);
        db_close(db);
}

static void test_migrate_bad_versions(void **state)
{
        static const struct db_migration decreasing[] = { { 2, "CREATE TABLE a (x)" }, { 1, "CREATE TABLE b (x)" } };
        static const struct db_migration repeated[] = { { 1, "CREATE TABLE a (x)" }, { 1, "CREATE TABLE b (x)" } };
        static const struct db_migration zero[] = { { 0, "CREATE TABLE a (x)" } };
        static const struct db_migration no_sql[] = { { 1, NULL } };
        struct db *db;

        db = open_db("versions.db");
        db_lock(db);
        assert_int_equal(db_migrate(db, "m", decreasing, 2), -EINVAL);
        assert_int_equal(db_migrate(db, "m", repeated, 2), -EINVAL);
        assert_int_equal(db_migrate(db, "m", zero, 1), -EINVAL);
        assert_int_equal(db_migrate(db, "m", no_sql, 1), -EINVAL);
        assert_int_equal(db_migrate(db, "", zero, 0), -EINVAL);
        assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('a', 'b')"), 0);
        db_unlock(db);
        db_close(db);
}

static void test_migrate_newer_database(void **state)
{
        static const struct db_migration manage_steps[] = { { 1, "CREATE TABLE policy (id TEXT)" } };
        struct db *db;

        db = open_db("newer.db");
        db_lock(db);
        assert_int_equal(db_migrate(db, "enroll", steps_v3, 3), 0);
        db_unlock(db);
        db_close(db);

        /* an older program knows only versions 1 and 2 */
        db = open_db("newer.db");
        db_lock(db);
        assert_int_equal(db_migrate(db, "enroll", steps_v3, 2), -EPROTO);
        assert_non_null(strstr(db_errmsg(db), "'enroll'"));
        assert_int_equal(db_migrate(db, "enroll", steps_v3, 0), -EPROTO);
        assert_int_equal(db_migrate(db, "manage", manage_steps, 1), 0);
        db_unlock(db);
        db_close(db);
}

static void test_placeholders(void **state)
{
        struct db_stmt *st;
        const char *s;
        struct db *db;
        size_t len;

        db = open_db("binds.db");
        db_lock(db);
        assert_int_equal(db_exec(db, "CREATE TABLE t (a, b, c)"), 0);
        /* out of order and repeated */
        assert_int_equal(db_prepare(db, "INSERT INTO t (a, b, c) VALUES ($2, $1, $2)", &st), 0);
        assert_int_equal(db_bind_text(st, 1, "x", 1), 0);
        assert_int_equal(db_bind_int64(st, 2, 7), 0);
        assert_int_equal(db_bind_int64(st, 3, 9), -EINVAL);
        assert_int_equal(db_bind_int64(st, 0, 9), -EINVAL);
        assert_int_equal(db_bind_int64(st, -1, 9), -EINVAL);
        assert_int_equal(db_step(st), 0);
        assert_int_equal(db_changes(db), 1);
        db_stmt_done(st);

        assert_int_equal(db_prepare(db, "SELECT a, b, c FROM t WHERE c = $1 AND a = $1", &st), 0);
        assert_int_equal(db_bind_int64(st, 1, 7), 0);
        assert_int_equal(db_step(st), 1);
        assert_int_equal(db_column_int64(st, 0), 7);
        s = db_column_text(st, 1, &len);
        assert_int_equal(len, 1);
        assert_string_equal(s, "x");
        assert_int_equal(db_column_int64(st, 2), 7);
        assert_int_equal(db_step(st), 0);
        db_stmt_done(st);

        /* large and negative 64-bit values survive */
        assert_int_equal(db_exec_params(db, "INSERT INTO t (a, b) VALUES ($1, $2)",
                                        DB_PARAMS(db_param_int64(INT64_MAX), db_param_int64(INT64_MIN))), 0);
        assert_int_equal(query_int(db, "SELECT b FROM t WHERE a = 9223372036854775807"), INT64_MIN);
        db_unlock(db);
        db_close(db);
}

static void test_text_length(void **state)
{
        static const char buf[] = "hello world";
        static const char nul[] = { 'a', '\0', 'b' };
        struct db_stmt *st;
        const char *s;
        struct db *db;
        size_t len;

        db = open_db("text.db");
        db_lock(db);
        assert_int_equal(db_exec(db, "CREATE TABLE t (id INTEGER, s TEXT)"), 0);
        assert_int_equal(db_exec_params(db, "INSERT INTO t VALUES ($1, $2)",
                                        DB_PARAMS(db_param_int64(1), db_param_text(buf, 5))), 0);
        assert_int_equal(db_exec_params(db, "INSERT INTO t VALUES ($1, $2)",
                                        DB_PARAMS(db_param_int64(2), db_param_text(nul, sizeof(nul)))), 0);

        assert_int_equal(db_prepare(db, "SELECT s FROM t ORDER BY id", &st), 0);
        assert_int_equal(db_step(st), 1);
        s = db_column_text(st, 0, &len);
        assert_int_equal(len, 5);
        assert_string_equal(s, "hello");
        assert_int_equal(db_step(st), 1);
        s = db_column_text(st, 0, &len);
        assert_int_equal(len, 3);
        assert_memory_equal(s, nul, 3);
        assert_int_equal(db_step(st), 0);
        db_stmt_done(st);
        db_unlock(db);
        db_close(db);
}

static void test_null_and_empty(void **state)
{
        static const unsigned char bytes[] = { 0, 1, 2, 255 };
        struct db_stmt *st;
        const void *p;
        struct db *db;
        size_t len;

        db = open_db("null.db");
        db_lock(db);
        assert_int_equal(db_exec(db, "CREATE TABLE t (a, b, c, d, e, f, g)"), 0);
        assert_int_equal(db_prepare(db, "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7)", &st), 0);
        assert_int_equal(db_bind_text(st, 1, NULL, 5), 0);
        assert_int_equal(db_bind_null(st, 2), 0);
        assert_int_equal(db_bind_blob(st, 3, NULL, 0), 0);
        assert_int_equal(db_bind_text(st, 4, "", 0), 0);
        assert_int_equal(db_bind_blob(st, 5, bytes, 0), 0);
        assert_int_equal(db_bind_blob(st, 6, bytes, sizeof(bytes)), 0);
        /* $7 left unbound: NULL */
        assert_int_equal(db_step(st), 0);
        db_stmt_done(st);

        assert_int_equal(db_prepare(db, "SELECT a, b, c, d, e, f, g FROM t", &st), 0);
        assert_int_equal(db_step(st), 1);
        for (int i = 0; i < 3; i++) {
                len = 99;
                assert_true(db_column_is_null(st, i));
                assert_null(db_column_text(st, i, &len));
                assert_int_equal(len, 0);
                assert_null(db_column_blob(st, i, NULL));
                assert_int_equal(db_column_int64(st, i), 0);
        }
        assert_false(db_column_is_null(st, 3));
        assert_string_equal(db_column_text(st, 3, &len), "");
        assert_int_equal(len, 0);
        assert_false(db_column_is_null(st, 4));
        len = 99;
        assert_non_null(db_column_blob(st, 4, &len));
        assert_int_equal(len, 0);
        p = db_column_blob(st, 5, &len);
        assert_int_equal(len, sizeof(bytes));
        assert_memory_equal(p, bytes, sizeof(bytes));
        assert_true(db_column_is_null(st, 6));
        db_stmt_done(st);

        /* bindings do not survive db_stmt_done() */
        assert_int_equal(db_prepare(db, "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7)", &st), 0);
        assert_int_equal(db_step(st), 0);
        db_stmt_done(st);
        assert_int_equal(query_int(db, "SELECT count(*) FROM t WHERE d IS NULL AND f IS NULL"), 1);
        db_unlock(db);
        db_close(db);
}

static void test_constraints(void **state)
{
        struct db *db;

        db = open_db("unique.db");
        db_lock(db);
        assert_int_equal(db_exec(db,
                "CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);"
                "CREATE TABLE k (a TEXT, b TEXT, PRIMARY KEY (a, b));"
                "CREATE TABLE c (p_id INTEGER REFERENCES p(id), n INTEGER CHECK (n > 0));"), 0);
        assert_int_equal(db_exec(db, "INSERT INTO p VALUES (1, 'a')"), 0);
        assert_int_equal(db_exec_params(db, "INSERT INTO p VALUES ($1, $2)",
                                        DB_PARAMS(db_param_int64(2), db_param_text("a", 1))), -EEXIST);
        assert_non_null(strstr(db_errmsg(db), "UNIQUE"));
        assert_int_equal(db_exec_params(db, "INSERT INTO p VALUES ($1, $2)",
                                        DB_PARAMS(db_param_int64(1), db_param_text("b", 1))), -EEXIST);
        assert_int_equal(db_exec(db, "INSERT INTO k VALUES ('x', 'y')"), 0);
        assert_int_equal(db_exec(db, "INSERT INTO k VALUES ('x', 'y')"), -EEXIST);
        /* other constraints are bad input, not storage failures */
        assert_int_equal(db_exec_params(db, "INSERT INTO p VALUES ($1, $2)",
                                        DB_PARAMS(db_param_int64(3), db_param_null())), -EINVAL);
        assert_int_equal(db_exec(db, "INSERT INTO c VALUES (42, 1)"), -EINVAL);  /* foreign keys are on */
        assert_int_equal(db_exec(db, "INSERT INTO c VALUES (1, 0)"), -EINVAL);
        assert_int_equal(db_exec(db, "INSERT INTO c VALUES (1, 1)"), 0);
        assert_int_equal(query_int(db, "SELECT count(*) FROM p"), 1);
        db_unlock(db);
        db_close(db);
}

static void test_transactions(void **state)
{
        struct db *db;

        db = open_db("tx.db");
        db_lock(db);
        assert_int_equal(db_exec(db, "CREATE TABLE t (x INTEGER)"), 0);
        assert_int_equal(db_rollback(db), 0);   /* none open */
        assert_int_equal(db_begin(db), 0);
        assert_int_equal(db_begin(db), -EINVAL);
        assert_int_equal(db_exec(db, "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)"), 0);
        assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 2);
        assert_int_equal(db_rollback(db), 0);
        assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 0);

        assert_int_equal(db_begin(db), 0);
        assert_int_equal(db_exec(db, "INSERT INTO t VALUES (3)"), 0);
        assert_int_equal(db_commit(db), 0);
        assert_int_equal(db_commit(db), -EIO);  /* no transaction */
        db_unlock(db);
        db_close(db);

        db = open_db("tx.db");
        db_lock(db);
        assert_int_equal(query_int(db, "SELECT sum(x) FROM t"), 3);
        db_unlock(db);
        db_close(db);
}

static void test_statement_cache(void **state)
{
        static const char sql[] = "SELECT x FROM t WHERE x > $1 ORDER BY x";
        struct db_stmt *st1, *st2, *st3;
        char copy[sizeof(sql)];
        struct db *db;

        db = open_db("cache.db");
        db_lock(db);
        assert_int_equal(db_exec(db, "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2)"), 0);
        assert_int_equal(db_prepare(db, sql, &st1), 0);
        db_stmt_done(st1);
        /* same text from another buffer: same prepared statement */
        memcpy(copy, sql, sizeof(sql));
        assert_int_equal(db_prepare(db, copy, &st2), 0);
        assert_ptr_equal(st1, st2);

        /* nested use of the same SQL gets a statement of its own */
        assert_int_equal(db_bind_int64(st2, 1, 0), 0);
        assert_int_equal(db_step(st2), 1);
        assert_int_equal(db_prepare(db, sql, &st3), 0);
        assert_ptr_not_equal(st3, st2);
        assert_int_equal(db_bind_int64(st3, 1, 1), 0);
        assert_int_equal(db_step(st3), 1);
        assert_int_equal(db_column_int64(st3, 0), 2);
        assert_int_equal(db_column_int64(st2, 0), 1);
        db_stmt_done(st3);
        db_stmt_done(st2);

        /* a reused buffer holding other SQL must not find the old statement */
        memcpy(copy, "SELECT 42", sizeof("SELECT 42"));
        assert_int_equal(db_prepare(db, copy, &st3), 0);
        assert_ptr_not_equal(st3, st1);
        assert_int_equal(db_step(st3), 1);
        assert_int_equal(db_column_int64(st3, 0), 42);
        db_stmt_done(st3);
        assert_int_equal(db_prepare(db, sql, &st3), 0);
        assert_ptr_equal(st3, st1);
        db_stmt_done(st3);

        assert_int_equal(db_prepare(db, "SELEC x FROM t", &st3), -EINVAL);
        assert_int_equal(db_prepare(db, "SELECT 1; SELECT 2", &st3), -EINVAL);
        assert_int_equal(db_prepare(db, "-- nothing", &st3), -EINVAL);
        assert_int_equal(db_prepare(db, "SELECT 1; -- trailing comment\n", &st3), 0);
        db_stmt_done(st3);
        db_unlock(db);
        db_close(db);
}

#define THREAD_ROWS 500

struct worker {
        struct db *db;
        int id;
        int errors;
};

static void *insert_rows(void *arg)
{
        struct worker *w = arg;
        struct db_stmt *st;

        for (int i = 0; i < THREAD_ROWS; i++) {
                db_lock(w->db);
                if (db_prepare(w->db, "INSERT INTO t (thread, i) VALUES ($1, $2)", &st) < 0) {
                        w->errors++;
                        db_unlock(w->db);
                        continue;
                }
                if (db_bind_int64(st, 1, w->id) < 0 || db_bind_int64(st, 2, i) < 0 || db_step(st) != 0)
                        w->errors++;
                db_stmt_done(st);
                /* every tenth row, also a transaction that updates a shared row */
                if (i % 10 == 0) {
                        if (db_begin(w->db) < 0 ||
                            db_exec(w->db, "UPDATE t SET n = n + 1 WHERE thread = -1") < 0 ||
                            db_commit(w->db) < 0)
                                w->errors++;
                        db_rollback(w->db);
                }
                db_unlock(w->db);
        }
        return NULL;
}

static void test_threads(void **state)
{
        struct worker w[2];
        pthread_t t[2];
        struct db *db;

        db = open_db("threads.db");
        db_lock(db);
        assert_int_equal(db_exec(db, "CREATE TABLE t (thread INTEGER, i INTEGER, n INTEGER DEFAULT 0,"
                                     " UNIQUE (thread, i));"
                                     "INSERT INTO t (thread, i) VALUES (-1, 0)"), 0);
        db_unlock(db);
        for (int k = 0; k < 2; k++) {
                w[k] = (struct worker){ .db = db, .id = k };
                assert_int_equal(pthread_create(&t[k], NULL, insert_rows, &w[k]), 0);
        }
        for (int k = 0; k < 2; k++) {
                assert_int_equal(pthread_join(t[k], NULL), 0);
                assert_int_equal(w[k].errors, 0);
        }
        db_lock(db);
        assert_int_equal(query_int(db, "SELECT count(*) FROM t WHERE thread >= 0"), 2 * THREAD_ROWS);
        assert_int_equal(query_int(db, "SELECT count(DISTINCT i) FROM t WHERE thread = 1"), THREAD_ROWS);
        assert_int_equal(query_int(db, "SELECT n FROM t WHERE thread = -1"), 2 * THREAD_ROWS / 10);
        db_unlock(db);
        db_close(db);
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
        return remove(path);
}

static int setup(void **state)
{
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
        return nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_open),
                cmocka_unit_test(test_open_not_a_database),
                cmocka_unit_test(test_migrate_once),
                cmocka_unit_test(test_migrate_failure),
                cmocka_unit_test(test_migrate_bad_versions),
                cmocka_unit_test(test_migrate_newer_database),
                cmocka_unit_test(test_placeholders),
                cmocka_unit_test(test_text_length),
                cmocka_unit_test(test_null_and_empty),
                cmocka_unit_test(test_constraints),
                cmocka_unit_test(test_transactions),
                cmocka_unit_test(test_statement_cache),
                cmocka_unit_test(test_threads),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
