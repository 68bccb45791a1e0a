/* db: connections, transactions, migrations and typed binds over SQLite.
 * See db.h for the API and its locking rule. Statements are cached in a small
 * hash table keyed by their SQL text, prepared with SQLITE_PREPARE_PERSISTENT;
 * a statement that cannot be cached (the cache is full, or the cached one is
 * in use) is private and finalized by db_stmt_done(). */
#include "server/db/db.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DB_BUSY_TIMEOUT_MS 5000
#define DB_CACHE_BUCKETS 64     /* a power of two */
#define DB_CACHE_MAX 256        /* cached statements; past this they are private */
#define DB_ERRMSG_MAX 512

struct db_stmt {
        struct db *db;
        sqlite3_stmt *stmt;
        char *sql;              /* cache key; NULL for a private statement */
        uint32_t hash;
        bool busy;              /* between db_prepare() and db_stmt_done() */
        struct db_stmt *next;   /* bucket chain, or the list of private ones */
};

struct db {
        sqlite3 *sqlite;
        bool in_memory;
        pthread_mutex_t mutex;
        _Atomic int owner;      /* thread id holding mutex, 0 if none: for asserts */
        unsigned active;        /* statements between prepare and done */
        size_t ncached;
        struct db_stmt *cache[DB_CACHE_BUCKETS];
        struct db_stmt *private;
        char errmsg[DB_ERRMSG_MAX];
};

/* The calling thread's id, asked of the kernel once per thread: the
 * asserts below run on every call, and gettid() is a system call. */
static int self_tid(void)
{
        static __thread int tid;

        if (!tid)
                tid = (int)gettid();
        return tid;
}

#define assert_locked(db) \
        assert(atomic_load_explicit(&(db)->owner, memory_order_relaxed) == self_tid())

static void set_err(struct db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(struct db *db, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(db->errmsg, sizeof(db->errmsg), fmt, ap);
        va_end(ap);
}

/* Maps an extended SQLite result code to a negative errno. */
static int errno_from_sqlite(int code)
{
        switch (code) {
        case SQLITE_CONSTRAINT_UNIQUE:
        case SQLITE_CONSTRAINT_PRIMARYKEY:
        case SQLITE_CONSTRAINT_ROWID:
                return -EEXIST;
        default:
                break;
        }
        switch (code & 0xff) {
        case SQLITE_CONSTRAINT:         /* FOREIGN KEY, NOT NULL, CHECK: bad input */
        case SQLITE_MISUSE:
        case SQLITE_RANGE:
                return -EINVAL;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_TOOBIG:
                return -E2BIG;
        default:
                return -EIO;
        }
}

/* Records SQLite's message for code and returns code as a negative errno. */
static int sqlite_err(struct db *db, int code)
{
        set_err(db, "%s", sqlite3_errmsg(db->sqlite));
        return errno_from_sqlite(code);
}


/* Creates the file with mode 0600 before SQLite sees it: SQLite would create
 * it 0644 less the umask, and it gives the -wal and -shm files the mode of
 * the database file. */
static int create_file(const char *path)
{
        int fd;

        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return -errno;
        close(fd);
        return 0;
}

/* Sets what every connection runs with. */
static int configure(struct db *db)
{
        sqlite3_stmt *stmt = NULL;
        const char *mode;
        int rc, r;

        sqlite3_extended_result_codes(db->sqlite, 1);
        sqlite3_busy_timeout(db->sqlite, DB_BUSY_TIMEOUT_MS);
        /* no writable_schema and the like: SQL cannot corrupt the file */
        sqlite3_db_config(db->sqlite, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);

        /* journal_mode answers with the mode it ended up in */
        rc = sqlite3_prepare_v2(db->sqlite, "PRAGMA journal_mode = WAL", -1, &stmt, NULL);
        if (rc != SQLITE_OK)
                return sqlite_err(db, rc);
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW) {
                r = sqlite_err(db, rc);
                goto finalize;
        }
        mode = (const char *)sqlite3_column_text(stmt, 0);
        if (!mode || strcasecmp(mode, db->in_memory ? "memory" : "wal") != 0) {
                set_err(db, "cannot switch to WAL mode: journal mode is '%s'", mode ? mode : "?");
                r = -EIO;
                goto finalize;
        }
        sqlite3_finalize(stmt);

        /* FULL: a commit is on disk before it returns, so what vigild
         * acknowledges (alerts, enrollments) survives a power cut, not only
         * a crash of the process, as NORMAL would in WAL mode. */
        rc = sqlite3_exec(db->sqlite, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON",
                          NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return sqlite_err(db, rc);
        return 0;

finalize:
        sqlite3_finalize(stmt);
        return r;
}

int db_open(const char *path, struct db **ret)
{
        pthread_mutexattr_t attr;
        struct db *db;
        int r, rc;

        if (!path || !*path || !ret)
                return -EINVAL;
        db = calloc(1, sizeof(*db));
        if (!db)
                return -ENOMEM;
        db->in_memory = strcmp(path, ":memory:") == 0;
        if (!db->in_memory) {
                r = create_file(path);
                if (r < 0)
                        goto free_db;
        }

        pthread_mutexattr_init(&attr);
#ifndef NDEBUG
        /* a thread locking twice trips an assert instead of hanging */
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
#endif
        r = -pthread_mutex_init(&db->mutex, &attr);
        pthread_mutexattr_destroy(&attr);
        if (r < 0)
                goto free_db;

        /* FULLMUTEX although db_lock() serializes: a caller that forgets the
         * lock gets wrong results, not a corrupted heap */
        rc = sqlite3_open_v2(path, &db->sqlite,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
        if (rc != SQLITE_OK) {
                r = errno_from_sqlite(rc);
                if (db->sqlite && (rc & 0xff) == SQLITE_CANTOPEN && sqlite3_system_errno(db->sqlite) > 0)
                        r = -sqlite3_system_errno(db->sqlite);
                goto close_sqlite;
        }
        r = configure(db);
        if (r < 0)
                goto close_sqlite;

        *ret = db;
        return 0;

close_sqlite:
        sqlite3_close(db->sqlite);
        pthread_mutex_destroy(&db->mutex);
free_db:
        free(db);
        return r;
}

static void stmt_free(struct db_stmt *st)
{
        sqlite3_finalize(st->stmt);
        free(st->sql);
        free(st);
}

void db_close(struct db *db)
{
        struct db_stmt *st, *next;

        if (!db)
                return;
        assert(atomic_load_explicit(&db->owner, memory_order_relaxed) == 0);
        for (size_t b = 0; b < DB_CACHE_BUCKETS; b++)
                for (st = db->cache[b]; st; st = next) {
                        next = st->next;
                        stmt_free(st);
                }
        for (st = db->private; st; st = next) {
                next = st->next;
                stmt_free(st);
        }
        /* leave one self-contained file behind; failure (another process
         * reading) only means the WAL stays for the next open */
        if (!db->in_memory)
                sqlite3_wal_checkpoint_v2(db->sqlite, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        sqlite3_close_v2(db->sqlite);
        pthread_mutex_destroy(&db->mutex);
        free(db);
}

void db_lock(struct db *db)
{
        int r;

        r = pthread_mutex_lock(&db->mutex);
        assert(r == 0);
        (void)r;
        atomic_store_explicit(&db->owner, self_tid(), memory_order_relaxed);
}

void db_unlock(struct db *db)
{
        assert_locked(db);
        /* the connection is shared: no statement or transaction may outlive
         * the lock, or another thread would find it half done */
        assert(db->active == 0);
        assert(sqlite3_get_autocommit(db->sqlite));
        atomic_store_explicit(&db->owner, 0, memory_order_relaxed);
        pthread_mutex_unlock(&db->mutex);
}

const char *db_errmsg(struct db *db)
{
        assert_locked(db);
        return db->errmsg;
}

/* FNV-1a: the cache key is the SQL text. */
static uint32_t sql_hash(const char *s)
{
        uint32_t h = 2166136261u;

        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 16777619u;
        }
        return h;
}

static struct db_stmt *cache_find(struct db *db, const char *sql, uint32_t hash)
{
        struct db_stmt *st;

        for (st = db->cache[hash & (DB_CACHE_BUCKETS - 1)]; st; st = st->next)
                if (st->hash == hash && strcmp(st->sql, sql) == 0)
                        return st;
        return NULL;
}

/* True if text is only blanks and comments, i.e. no second statement. */
static bool no_more_sql(sqlite3 *sqlite, const char *text)
{
        sqlite3_stmt *extra = NULL;
        int rc;

        while (isspace((unsigned char)*text))
                text++;
        if (!*text)
                return true;
        rc = sqlite3_prepare_v2(sqlite, text, -1, &extra, NULL);
        sqlite3_finalize(extra);
        return rc == SQLITE_OK && !extra;
}

/* Wraps a freshly compiled statement, cached under sql if cache is set. */
static int stmt_add(struct db *db, sqlite3_stmt *stmt, const char *sql, uint32_t hash,
                    bool cache, struct db_stmt **ret)
{
        struct db_stmt *st, **head;

        st = calloc(1, sizeof(*st));
        if (!st)
                return -ENOMEM;
        if (cache) {
                st->sql = strdup(sql);
                if (!st->sql) {
                        free(st);
                        return -ENOMEM;
                }
                st->hash = hash;
                head = &db->cache[hash & (DB_CACHE_BUCKETS - 1)];
                db->ncached++;
        } else {
                head = &db->private;
        }
        st->db = db;
        st->stmt = stmt;
        st->next = *head;
        *head = st;
        *ret = st;
        return 0;
}

int db_prepare(struct db *db, const char *sql, struct db_stmt **ret)
{
        struct db_stmt *st;
        sqlite3_stmt *stmt = NULL;
        const char *tail = NULL;
        uint32_t hash;
        bool cache;
        int rc, r;

        assert_locked(db);
        assert(sql && ret);
        hash = sql_hash(sql);
        st = cache_find(db, sql, hash);
        if (st && !st->busy)
                goto found;

        cache = !st && db->ncached < DB_CACHE_MAX;
        rc = sqlite3_prepare_v3(db->sqlite, sql, -1, cache ? SQLITE_PREPARE_PERSISTENT : 0,
                                &stmt, &tail);
        if (rc != SQLITE_OK) {
                r = sqlite_err(db, rc);
                /* a plain SQL error at this stage is bad SQL, not bad I/O */
                return (rc & 0xff) == SQLITE_ERROR ? -EINVAL : r;
        }
        if (!stmt || !no_more_sql(db->sqlite, tail)) {
                set_err(db, "not exactly one SQL statement: %.120s", sql);
                r = -EINVAL;
                goto finalize;
        }
        r = stmt_add(db, stmt, sql, hash, cache, &st);
        if (r < 0) {
                set_err(db, "out of memory");
                goto finalize;
        }
found:
        st->busy = true;
        db->active++;
        *ret = st;
        return 0;

finalize:
        sqlite3_finalize(stmt);
        return r;
}

void db_stmt_done(struct db_stmt *st)
{
        struct db_stmt **p;
        struct db *db;

        if (!st)
                return;
        db = st->db;
        assert_locked(db);
        assert(st->busy);
        sqlite3_reset(st->stmt);
        sqlite3_clear_bindings(st->stmt);
        st->busy = false;
        db->active--;
        if (st->sql)
                return;
        for (p = &db->private; *p != st; p = &(*p)->next)
                ;
        *p = st->next;
        stmt_free(st);
}

void db_stmt_reset(struct db_stmt *st)
{
        assert_locked(st->db);
        assert(st->busy);
        sqlite3_reset(st->stmt);
        sqlite3_clear_bindings(st->stmt);
}

/* SQLite takes "$1" as a named parameter; its index is where it first
 * appears, so look it up by name. */
static int bind_index(struct db_stmt *st, int n)
{
        char name[16];
        int i = 0;

        assert_locked(st->db);
        if (n >= 1) {
                /* placeholders numbered in the order they first appear, as
                 * most statements write them, sit at their own index */
                const char *at = sqlite3_bind_parameter_name(st->stmt, n);
                if (at && at[0] == '$' && strtol(at + 1, NULL, 10) == n)
                        return n;
                snprintf(name, sizeof(name), "$%d", n);
                i = sqlite3_bind_parameter_index(st->stmt, name);
        }
        if (i <= 0) {
                set_err(st->db, "no placeholder $%d in: %.120s", n, sqlite3_sql(st->stmt));
                return -EINVAL;
        }
        return i;
}

static int bind_result(struct db_stmt *st, int rc)
{
        if (rc == SQLITE_OK)
                return 0;
        return sqlite_err(st->db, rc);
}

int db_bind_text(struct db_stmt *st, int n, const char *s, size_t len)
{
        int i;

        i = bind_index(st, n);
        if (i < 0)
                return i;
        if (!s)
                return bind_result(st, sqlite3_bind_null(st->stmt, i));
        return bind_result(st, sqlite3_bind_text64(st->stmt, i, s, len, SQLITE_TRANSIENT, SQLITE_UTF8));
}

int db_bind_blob(struct db_stmt *st, int n, const void *p, size_t len)
{
        int i;

        i = bind_index(st, n);
        if (i < 0)
                return i;
        if (!p)
                return bind_result(st, sqlite3_bind_null(st->stmt, i));
        return bind_result(st, sqlite3_bind_blob64(st->stmt, i, p, len, SQLITE_TRANSIENT));
}

int db_bind_int64(struct db_stmt *st, int n, int64_t v)
{
        int i;

        i = bind_index(st, n);
        if (i < 0)
                return i;
        return bind_result(st, sqlite3_bind_int64(st->stmt, i, v));
}

int db_bind_null(struct db_stmt *st, int n)
{
        int i;

        i = bind_index(st, n);
        if (i < 0)
                return i;
        return bind_result(st, sqlite3_bind_null(st->stmt, i));
}

int db_bind_params(struct db_stmt *st, const struct db_param *params, size_t n)
{
        int r = 0;

        if (n > 32766) {        /* SQLite's most placeholders */
                set_err(st->db, "too many parameters: %zu", n);
                return -E2BIG;
        }
        for (size_t k = 0; k < n && r == 0; k++) {
                const struct db_param *p = &params[k];
                int idx = (int)k + 1;

                switch (p->type) {
                case DB_PARAM_NULL:
                        r = db_bind_null(st, idx);
                        break;
                case DB_PARAM_INT64:
                        r = db_bind_int64(st, idx, p->i);
                        break;
                case DB_PARAM_TEXT:
                        r = db_bind_text(st, idx, p->p, p->len);
                        break;
                case DB_PARAM_BLOB:
                        r = db_bind_blob(st, idx, p->p, p->len);
                        break;
                default:
                        set_err(st->db, "parameter $%d has unknown type %d", idx, (int)p->type);
                        r = -EINVAL;
                        break;
                }
        }
        return r;
}

int db_step(struct db_stmt *st)
{
        int rc;

        assert_locked(st->db);
        assert(st->busy);
        rc = sqlite3_step(st->stmt);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        return sqlite_err(st->db, rc);
}

const char *db_column_text(struct db_stmt *st, int i, size_t *ret_len)
{
        const unsigned char *s = NULL;
        size_t len = 0;

        assert_locked(st->db);
        if (sqlite3_column_type(st->stmt, i) != SQLITE_NULL) {
                s = sqlite3_column_text(st->stmt, i);   /* NULL only on -ENOMEM */
                if (s)
                        len = (size_t)sqlite3_column_bytes(st->stmt, i);
        }
        if (ret_len)
                *ret_len = len;
        return (const char *)s;
}

const void *db_column_blob(struct db_stmt *st, int i, size_t *ret_len)
{
        const void *p = NULL;
        size_t len = 0;

        assert_locked(st->db);
        if (sqlite3_column_type(st->stmt, i) != SQLITE_NULL) {
                p = sqlite3_column_blob(st->stmt, i);
                len = (size_t)sqlite3_column_bytes(st->stmt, i);
                /* SQLite answers NULL for an empty blob; it is not SQL NULL */
                if (!p && len == 0)
                        p = "";
        }
        if (ret_len)
                *ret_len = len;
        return p;
}

int64_t db_column_int64(struct db_stmt *st, int i)
{
        assert_locked(st->db);
        return sqlite3_column_int64(st->stmt, i);
}

bool db_column_is_null(struct db_stmt *st, int i)
{
        assert_locked(st->db);
        return sqlite3_column_type(st->stmt, i) == SQLITE_NULL;
}

int64_t db_changes(struct db *db)
{
        assert_locked(db);
        return sqlite3_changes64(db->sqlite);
}

int db_exec(struct db *db, const char *sql)
{
        char *msg = NULL;
        int rc;

        assert_locked(db);
        rc = sqlite3_exec(db->sqlite, sql, NULL, NULL, &msg);
        if (rc == SQLITE_OK)
                return 0;
        set_err(db, "%s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return errno_from_sqlite(rc);
}

int db_exec_params(struct db *db, const char *sql, const struct db_param *params, size_t n)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(db, sql, &st);
        if (r < 0)
                return r;
        r = db_bind_params(st, params, n);
        if (r < 0)
                goto done;
        do
                r = db_step(st);
        while (r == 1);
done:
        db_stmt_done(st);
        return r;
}

int db_begin(struct db *db)
{
        assert_locked(db);
        if (!sqlite3_get_autocommit(db->sqlite)) {
                set_err(db, "a transaction is already open");
                return -EINVAL;
        }
        return db_exec_params(db, "BEGIN IMMEDIATE", NULL, 0);
}

int db_commit(struct db *db)
{
        return db_exec_params(db, "COMMIT", NULL, 0);
}

int db_rollback(struct db *db)
{
        assert_locked(db);
        /* SQLite rolls back by itself on some errors (I/O, full disk) */
        if (sqlite3_get_autocommit(db->sqlite))
                return 0;
        return db_exec_params(db, "ROLLBACK", NULL, 0);
}

static const char migrations_table_sql[] =
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " module TEXT NOT NULL,"
        " version INTEGER NOT NULL,"
        " applied_at INTEGER NOT NULL,"
        " PRIMARY KEY (module, version))";

static int check_steps(struct db *db, const char *module, const struct db_migration *steps, size_t n)
{
        int prev = 0;

        if (!module || !*module || (n > 0 && !steps)) {
                set_err(db, "migrations need a module name and steps");
                return -EINVAL;
        }
        for (size_t k = 0; k < n; k++) {
                if (steps[k].version <= prev || !steps[k].sql) {
                        set_err(db, "module '%s': migration step %zu has version %d after %d "
                                "(versions start at 1 and strictly increase)",
                                module, k, steps[k].version, prev);
                        return -EINVAL;
                }
                prev = steps[k].version;
        }
        return 0;
}

/* Refuses a database that a newer program has migrated past known. */
static int check_newest(struct db *db, const char *module, int known)
{
        struct db_stmt *st;
        int64_t newest = 0;
        int r;

        r = db_prepare(db, "SELECT max(version) FROM schema_migrations WHERE module = $1", &st);
        if (r < 0)
                return r;
        r = db_bind_text(st, 1, module, strlen(module));
        if (r == 0)
                r = db_step(st);
        if (r == 1)
                newest = db_column_int64(st, 0);
        db_stmt_done(st);
        if (r < 0)
                return r;
        if (newest > known) {
                set_err(db, "module '%s': database is at schema version %" PRId64
                        ", this program knows only up to %d: refusing to run an older program",
                        module, newest, known);
                return -EPROTO;
        }
        return 0;
}

/* Returns 1 if (module, version) is recorded, 0 if not, or an error. */
static int step_recorded(struct db *db, const char *module, int version)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(db, "SELECT 1 FROM schema_migrations WHERE module = $1 AND version = $2", &st);
        if (r < 0)
                return r;
        r = db_bind_params(st, DB_PARAMS(db_param_text(module, strlen(module)),
                                         db_param_int64(version)));
        if (r == 0)
                r = db_step(st);
        db_stmt_done(st);
        return r;
}

/* Applies one step unless recorded; the check runs inside the transaction so
 * two processes starting together cannot both apply it. */
static int apply_step(struct db *db, const char *module, const struct db_migration *m)
{
        char why[DB_ERRMSG_MAX];
        int r;

        r = db_begin(db);
        if (r < 0)
                goto fail;
        r = step_recorded(db, module, m->version);
        if (r == 1) {
                db_rollback(db);
                return 0;
        }
        if (r < 0)
                goto rollback;
        r = db_exec(db, m->sql);
        if (r < 0)
                goto rollback;
        r = db_exec_params(db, "INSERT INTO schema_migrations (module, version, applied_at) "
                           "VALUES ($1, $2, $3)",
                           DB_PARAMS(db_param_text(module, strlen(module)),
                                     db_param_int64(m->version),
                                     db_param_int64((int64_t)time(NULL))));
        if (r < 0)
                goto rollback;
        r = db_commit(db);
        if (r < 0)
                goto rollback;
        return 0;

rollback:
        memcpy(why, db->errmsg, sizeof(why));
        db_rollback(db);
        goto report;
fail:
        memcpy(why, db->errmsg, sizeof(why));
report:
        set_err(db, "module '%s' migration %d failed: %s", module, m->version, why);
        return r;
}

int db_migrate(struct db *db, const char *module, const struct db_migration *steps, size_t n)
{
        int r;

        assert_locked(db);
        r = check_steps(db, module, steps, n);
        if (r < 0)
                return r;
        r = db_exec(db, migrations_table_sql);
        if (r < 0)
                return r;
        r = check_newest(db, module, n > 0 ? steps[n - 1].version : 0);
        if (r < 0)
                return r;
        for (size_t k = 0; k < n; k++) {
                r = apply_step(db, module, &steps[k]);
                if (r < 0)
                        return r;
        }
        return 0;
}

int db_migrate_locked(struct db *db, const char *module, const struct db_migration *steps, size_t n)
{
        int r;

        db_lock(db);
        r = db_migrate(db, module, steps, n);
        db_unlock(db);
        return r;
}

int db_finish(struct db *db, int r)
{
        if (r == 0)
                r = db_commit(db);
        if (r < 0)
                db_rollback(db);
        return r;
}
