/* tour.h — what the tour's sections share: the table rows (a spinner on a terminal, plain
 * lines in a pipe), colour, failures, and running the seeds' Python beside weft.
 *
 * The tour runs on the process's main thread, one section after the other; these helpers
 * are called from there only (rows are not thread-safe: one row at a time).
 */
#ifndef TOUR_H
#define TOUR_H

#include <weft.h>

#include <stdbool.h>
#include <stdint.h>

#define TOUR_TIMEOUT (60 * WEFT_SEC)

#if defined(__SANITIZE_THREAD__)
#define TOUR_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TOUR_TSAN 1
#endif
#endif

/* Built with a sanitizer whose runtime cannot follow what the process rows do: ASan's
 * allocator is not fork-safe (a worker forked while another thread is in malloc hangs),
 * and TSan cannot start threads in the child of a threaded process. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TOUR_NO_FORK "not under a sanitizer"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TOUR_NO_FORK "not under a sanitizer"
#endif
#endif

extern bool tour_tty;       /* stdout is a terminal (and NO_COLOR is not set) */

/* Escape codes on a terminal, "" in a pipe. */
const char *tour_bold(void);
const char *tour_dim(void);
const char *tour_green(void);
const char *tour_red(void);
const char *tour_plain(void);

/* A section's title and its one-line explanation. */
void tour_heading(const char *title, const char *why);
/* Counts a wrong result (the tour then exits 1) and prints it. */
void tour_fail(const char *what);
int tour_failures(void);
/* A dim line under a table. */
void tour_remark(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints the column headings of a table: the time, and (speedup) the speed-up column. */
void tour_columns(bool speedup);

/* A row: begun, the work runs, ended. On a terminal a spinner thread turns meanwhile. */
typedef struct tour_row {
    weft_thread *spinner;
    weft_event *done;
    const char *label;
    int64_t t0;
} tour_row;

void tour_row_begin(tour_row *r, const char *label);
/* Ends the row: prints its time and, when base > 0, the speed-up base / time; returns the
 * time in seconds. A note may be NULL or "". */
double tour_row_end(tour_row *r, double base, const char *note);
/* Ends a row whose time another program measured (Python, without its start-up): prints
 * that time (measured <= 0: "did not run"). */
void tour_row_end_measured(tour_row *r, double measured, double base, const char *note);
/* Ends a row that could not run here, saying why (not a failure). */
void tour_row_skip(tour_row *r, const char *why);

/* Python beside weft: have_python is false without /usr/bin/python3 or with
 * WEFT_TOUR_NO_PYTHON=1 (the test runs). tour_python runs `python3 -c code args...`; its
 * stdout is the time in seconds the snippet measured. Returns it, or -1 (the error is shown
 * under the row by tour_row_end_measured; an AssertionError — a wrong page or answer — is
 * counted as a failure). */
bool tour_have_python(void);
double tour_python(const char *code, const char *arg1, const char *arg2);

/* The sections, in the order they run. */
void tour_io(void);               /* io.c */
void tour_cpu(void);              /* cpu.c */
void tour_counter(void);          /* threads.c */
void tour_say_after(void);        /* coroutines.c */
void tour_spinners(void);         /* spinners.c */
void tour_event(void);            /* coroutines.c */
void tour_exit(const char *self); /* threads.c */
void tour_sqlite(void);           /* sqlite.c */

/* The child half of tour_exit: `tour --exit-demo daemon|non-daemon` (threads.c). */
int tour_exit_child(const char *kind);

#endif /* TOUR_H */
