/* rows.c — the tour's tables: rows with a spinner on a terminal, colour, failures, and the
 * seeds' Python run beside weft. Main thread only (see tour.h). */
#include "tour.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool tour_tty;
static int failures;

const char *tour_bold(void) { return tour_tty ? "\033[1m" : ""; }
const char *tour_dim(void) { return tour_tty ? "\033[2m" : ""; }
const char *tour_green(void) { return tour_tty ? "\033[32m" : ""; }
const char *tour_red(void) { return tour_tty ? "\033[31m" : ""; }
const char *tour_plain(void) { return tour_tty ? "\033[0m" : ""; }

/* The explanation, wrapped at spaces to lines of at most WIDTH columns, indented by 3. */
#define WIDTH 92

void tour_heading(const char *title, const char *why)
{
    printf("\n%s%s%s\n%s", tour_bold(), title, tour_plain(), tour_dim());
    const char *p = why;
    while (*p) {
        size_t n = strlen(p);
        if (n > WIDTH - 3) {
            n = WIDTH - 3;
            while (n > 0 && p[n] != ' ') n--;
            if (n == 0) n = strcspn(p, " ");           /* a word longer than a line */
        }
        printf("   %.*s\n", (int)n, p);
        p += n;
        while (*p == ' ') p++;
    }
    printf("%s", tour_plain());
}

void tour_fail(const char *what)
{
    failures++;
    printf("  %sWRONG: %s%s\n", tour_red(), what, tour_plain());
}

int tour_failures(void) { return failures; }

void tour_remark(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("  %s", tour_dim());
    vprintf(fmt, ap);
    printf("%s\n", tour_plain());
    va_end(ap);
}

/* The spinner thread of a row on a terminal: a frame every 80 ms until the row ends. */
static int spin(void *arg, void **result)
{
    (void)result;
    tour_row *r = arg;
    static const char frames[] = "|/-\\";
    for (unsigned i = 0; weft_event_wait(r->done, 80 * WEFT_MS) == -ETIMEDOUT; i++) {
        printf("\r  %-38s %c", r->label, frames[i % 4]);
        fflush(stdout);
    }
    return 0;
}

void tour_row_begin(tour_row *r, const char *label)
{
    r->spinner = NULL;
    r->label = label;
    r->done = NULL;
    fflush(stdout);               /* nothing buffered is copied into a child process */
    if (tour_tty && weft_event_create(&r->done) == 0 &&
        weft_thread_start(&r->spinner, NULL, spin, r) != 0)
        r->spinner = NULL;
    r->t0 = weft_now();
}

/* Stops the row's spinner; returns the row's time in seconds. */
static double row_stop(tour_row *r)
{
    double s = (double)(weft_now() - r->t0) / 1e9;
    if (r->spinner) {
        weft_event_set(r->done);
        weft_thread_join(r->spinner, WEFT_FOREVER, NULL);
        weft_thread_release(r->spinner);
    }
    if (r->done) weft_event_destroy(r->done);
    return s;
}

/* Whether the current table has a speed-up column (tour_columns). */
static bool table_speedup;

void tour_columns(bool speedup)
{
    table_speedup = speedup;
    printf("  %s%-38s %10s%s%s\n", tour_dim(), "", "time",
           speedup ? "   speed-up over the first row" : "", tour_plain());
}

/* A Python row's error (the last line of its stderr), shown under the row once it ends. */
static char py_error[240];

/* On a terminal a row's line overwrites its spinner's. */
static const char *cr(void) { return tour_tty ? "\r" : ""; }

/* A row's line: its time (negative: did not run) and, in a table with a speed-up column,
 * the speed-up (blank for the first row, base <= 0); then the note, if any. */
static void row_print(const char *label, double s, double base, const char *note)
{
    if (s < 0) {
        printf("%s  %-38s %8s     (did not run)\n", cr(), label, "-");
        return;
    }
    printf("%s  %-38s %8.3f s", cr(), label, s);
    if (base > 0)
        printf(base / s < 0.1 ? "   %s%7.2fx%s" : "   %s%7.1fx%s", tour_green(), base / s,
               tour_plain());
    else if (table_speedup && note && *note) printf("%11s", "");
    if (note && *note) printf("   %s", note);
    printf("\n");
}

double tour_row_end(tour_row *r, double base, const char *note)
{
    double s = row_stop(r);
    row_print(r->label, s, base, note);
    return s;
}

void tour_row_end_measured(tour_row *r, double measured, double base, const char *note)
{
    row_stop(r);
    row_print(r->label, measured > 0 ? measured : -1, base, note);
    if (py_error[0]) tour_remark("(python: %s)", py_error);
    py_error[0] = 0;
}

void tour_row_skip(tour_row *r, const char *why)
{
    row_stop(r);
    printf("%s  %-38s %8s     %s(not run: %s)%s\n", cr(), r->label, "-", tour_dim(), why,
           tour_plain());
}

bool tour_have_python(void)
{
    const char *no = getenv("WEFT_TOUR_NO_PYTHON");
    return (!no || !*no || *no == '0') && access("/usr/bin/python3", X_OK) == 0;
}

/* Keeps the last non-empty line of err (a traceback's: the exception) in py_error. */
static void keep_last_line(const char *err, size_t len)
{
    while (len && (err[len - 1] == '\n' || err[len - 1] == ' ')) len--;
    size_t start = len;
    while (start && err[start - 1] != '\n') start--;
    snprintf(py_error, sizeof py_error, "%.*s", (int)(len - start), err + start);
}

double tour_python(const char *code, const char *arg1, const char *arg2)
{
    const char *argv[] = { "/usr/bin/python3", "-c", code, arg1, arg2, NULL };
    weft_subprocess_result r = { 0 };
    int rc = weft_subprocess_run(&r, argv, NULL, NULL, 0, 60 * WEFT_SEC,
                                 WEFT_SUBPROCESS_CAPTURE);
    double t = -1;
    if (rc == 0 && r.returncode == 0 && r.out) {
        t = atof(r.out);
    } else if (rc == 0 && r.err && r.err_len) {
        keep_last_line(r.err, r.err_len);
        /* The snippets assert what they got: a wrong page or answer is weft's server's
         * fault or the tour's, not Python's. */
        if (strstr(py_error, "AssertionError")) tour_fail("Python received a wrong result");
    } else if (rc) {
        snprintf(py_error, sizeof py_error, "%s", weft_strerror(rc));
    }
    weft_subprocess_result_free(&r);
    return t > 0 ? t : -1;
}
