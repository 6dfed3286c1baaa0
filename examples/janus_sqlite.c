/* janus_sqlite.c — seed scenario 11: coroutines hand rows to one SQLite writer thread.
 *
 * In Python this needs janus, a queue with an asyncio face and a threading face, because
 * asyncio.Queue and queue.Queue do not talk to each other. In weft there is one queue:
 * a hundred coroutines put rows on it (each put suspends only its coroutine when the queue
 * is full), and one plain writer thread gets them (blocking) and writes them into a real
 * SQLite database in batches, one transaction per batch — SQLite connections want a single
 * writer, and batching is what makes it fast. weft_queue_shutdown tells the writer that
 * the producers are done: it drains what is left, then its get fails with -ESHUTDOWN.
 *
 * Exits 0 if every row is in the database at the end, each exactly once.
 */
#include <weft.h>

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define PRODUCERS 100
#define ROWS_EACH 200
#define BATCH 500

typedef struct {
    weft_queue *rows;
    sqlite3 *db;
    long batches;
} pipeline;

/* A row is a small heap object: the writer frees it after inserting. */
typedef struct {
    int producer, seq;
} row;

static int produce(void *arg, void **result)
{
    (void)result;
    pipeline *p = arg;
    static int next_id;
    int me = next_id++;                   /* one loop: no race between coroutines */
    for (int i = 0; i < ROWS_EACH; i++) {
        row *r = malloc(sizeof *r);
        r->producer = me;
        r->seq = i;
        if (weft_queue_put(p->rows, r, WEFT_FOREVER) != 0) return -1;
        if (i % 50 == 0) weft_sleep(100 * WEFT_US);   /* rows trickle in, as in real life */
    }
    return 0;
}

static int exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s: %s\n", sql, err);
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

/* The writer thread: take a row (blocking), then whatever else is already queued, up to
 * BATCH, and insert them all in one transaction. */
static int writer(void *arg, void **result)
{
    (void)result;
    pipeline *p = arg;
    sqlite3_stmt *ins;
    if (sqlite3_prepare_v2(p->db, "INSERT INTO rows(producer, seq) VALUES (?, ?)", -1, &ins,
                           NULL) != SQLITE_OK)
        return -1;
    void *item;
    while (weft_queue_get(p->rows, &item, WEFT_FOREVER) == 0) {
        exec(p->db, "BEGIN");
        int n = 0;
        do {
            row *r = item;
            sqlite3_bind_int(ins, 1, r->producer);
            sqlite3_bind_int(ins, 2, r->seq);
            if (sqlite3_step(ins) != SQLITE_DONE) return -1;
            sqlite3_reset(ins);
            free(r);
        } while (++n < BATCH && weft_queue_get(p->rows, &item, 0) == 0);
        exec(p->db, "COMMIT");
        p->batches++;
    }
    sqlite3_finalize(ins);
    return 0;
}

static int producers(void *arg, void **result)
{
    (void)result;
    weft_future *f[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) weft_spawn(&f[i], produce, arg);
    int failed = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        failed |= weft_future_result(f[i], WEFT_FOREVER, NULL) != 0;
        weft_future_release(f[i]);
    }
    return failed ? -1 : 0;
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

int main(void)
{
    char path[] = "/tmp/weft-janus-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    close(fd);
    pipeline p = { 0 };
    if (sqlite3_open(path, &p.db) != SQLITE_OK ||
        exec(p.db, "CREATE TABLE rows(producer INTEGER, seq INTEGER)") != 0)
        return 1;
    weft_queue_create(&p.rows, 256);

    int64_t t0 = weft_now();
    weft_thread *w;
    weft_thread_start(&w, NULL, writer, &p);              /* the single SQLite writer */
    int rc = weft_run(producers, &p, NULL);               /* the hundred coroutines */
    weft_queue_shutdown(p.rows, false);                   /* no more rows: drain, then stop */
    rc |= weft_thread_join(w, WEFT_FOREVER, NULL);
    weft_thread_release(w);

    long rows = count(p.db, "SELECT COUNT(*) FROM rows");
    long distinct = count(p.db, "SELECT COUNT(*) FROM (SELECT DISTINCT producer, seq FROM rows)");
    printf("%ld rows from %d coroutines written by one thread in %ld transactions, %.0f ms\n",
           rows, PRODUCERS, p.batches, (double)(weft_now() - t0) / 1e6);
    sqlite3_close(p.db);
    weft_queue_destroy(p.rows);
    unlink(path);
    long want = (long)PRODUCERS * ROWS_EACH;
    return rc == 0 && rows == want && distinct == want ? 0 : 1;
}
