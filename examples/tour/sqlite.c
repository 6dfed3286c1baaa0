/* sqlite.c — tour section 8: janus's job without janus. A hundred coroutines put rows on
 * one weft_queue (a full queue parks only the putting coroutine); one plain thread takes
 * them (blocking) and writes them into a real SQLite database, a transaction per batch of
 * what is queued. SQLite wants one writer; Python needs janus for a queue with an asyncio
 * side and a threading side, weft's queue is both. Built when SQLite is there (TOUR_SQLITE). */
#include "tour.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef TOUR_SQLITE
#include <sqlite3.h>

#define PRODUCERS 100
#define ROWS_EACH 100
#define BATCH 1000

typedef struct {
    weft_queue *rows;
    sqlite3 *db;
    long batches;
    int next_producer;          /* producers' numbers: one loop, no race */
} pipeline;

typedef struct {
    int producer, seq;
} db_row;

static int produce(void *arg, void **result)
{
    (void)result;
    pipeline *p = arg;
    int me = p->next_producer++;
    for (int i = 0; i < ROWS_EACH; i++) {
        db_row *r = malloc(sizeof *r);
        if (!r) return -ENOMEM;
        r->producer = me;
        r->seq = i;
        int rc = weft_queue_put(p->rows, r, WEFT_FOREVER);
        if (rc) {
            free(r);
            return rc;
        }
        if (i % 25 == 0) weft_sleep(200 * WEFT_US);   /* rows trickle in, as in real life */
    }
    return 0;
}

static int producers(void *arg, void **result)
{
    (void)result;
    weft_group *g;
    int rc = weft_group_create(&g);
    if (rc) return rc;
    for (int i = 0; i < PRODUCERS && rc == 0; i++)
        rc = weft_group_spawn(g, NULL, NULL, produce, arg);
    int w = weft_group_wait(g);
    weft_group_destroy(g);
    return rc ? rc : w;
}

/* The single writer thread: one row (blocking), then what else is queued, up to BATCH,
 * in one transaction. Ends when the queue is shut down and drained. */
static int writer(void *arg, void **result)
{
    (void)result;
    pipeline *p = arg;
    sqlite3_stmt *ins;
    if (sqlite3_prepare_v2(p->db, "INSERT INTO rows(producer, seq) VALUES (?, ?)", -1, &ins,
                           NULL) != SQLITE_OK) {
        weft_queue_shutdown(p->rows, true);     /* the producers' puts fail: no hang */
        return -EIO;
    }
    int rc = 0;
    void *item;
    while (weft_queue_get(p->rows, &item, WEFT_FOREVER) == 0) {
        if (sqlite3_exec(p->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) rc = -EIO;
        int n = 0;
        do {
            db_row *r = item;
            sqlite3_bind_int(ins, 1, r->producer);
            sqlite3_bind_int(ins, 2, r->seq);
            if (sqlite3_step(ins) != SQLITE_DONE) rc = -EIO;
            sqlite3_reset(ins);
            free(r);
        } while (++n < BATCH && weft_queue_get(p->rows, &item, 0) == 0);
        if (sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) rc = -EIO;
        p->batches++;
    }
    sqlite3_finalize(ins);
    return rc;
}

static long count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    long n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

void tour_sqlite(void)
{
    tour_heading("8. 100 coroutines hand rows to one SQLite writer thread",
                 "Python needs janus (a queue with an asyncio side and a threading side) for "
                 "this; here it is one weft_queue: a put parks only its coroutine, the writer "
                 "thread's get blocks only the writer, which commits what is queued in one "
                 "transaction.");
    const char *dir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/weft-tour-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        tour_fail("no temporary file for the database");
        return;
    }
    close(fd);
    pipeline p = { 0 };
    tour_columns(false);
    tour_row r;
    tour_row_begin(&r, "100 coroutines -> 1 writer thread");
    int rc = -EIO;
    if (sqlite3_open(path, &p.db) == SQLITE_OK &&
        sqlite3_exec(p.db, "CREATE TABLE rows(producer INTEGER, seq INTEGER)", NULL, NULL,
                     NULL) == SQLITE_OK &&
        (rc = weft_queue_create(&p.rows, 256)) == 0) {
        weft_thread *w;
        rc = weft_thread_start(&w, NULL, writer, &p);
        if (rc == 0) {
            rc = weft_run(producers, &p, NULL);
            weft_queue_shutdown(p.rows, false);        /* no more rows: drain, then stop */
            int wrc = weft_thread_join(w, WEFT_FOREVER, NULL);
            weft_thread_release(w);
            if (!rc) rc = wrc;
        }
        weft_queue_destroy(p.rows);
    }
    long rows = count(p.db, "SELECT COUNT(*) FROM rows");
    long distinct = count(p.db, "SELECT COUNT(*) FROM (SELECT DISTINCT producer, seq FROM rows)");
    char note[96];
    snprintf(note, sizeof note, "%ld rows, %ld distinct, in %ld transactions", rows, distinct,
             p.batches);
    tour_row_end(&r, 0, note);
    long want = (long)PRODUCERS * ROWS_EACH;
    if (rc) tour_fail(weft_strerror(rc));
    else if (rows != want || distinct != want) tour_fail("rows lost or written twice");
    sqlite3_close(p.db);
    unlink(path);
}
#else
void tour_sqlite(void)
{
    tour_heading("8. 100 coroutines hand rows to one SQLite writer thread",
                 "This tour was built without SQLite (libsqlite3-dev).");
    tour_row r;
    tour_row_begin(&r, "100 coroutines -> 1 writer thread");
    tour_row_skip(&r, "built without SQLite");
}
#endif
