/* The tour — `make demo`: the seed notes' comparisons, measured on this machine.
 *
 * The seeds teach concurrency through a handful of contrasts: sequential vs threads vs
 * coroutines vs processes on I/O-bound work; threads vs processes on CPU-bound work (and
 * why Python's threads do not help there); a counter that loses updates until a lock guards
 * it; awaiting in turn vs spawning; a spinner that turns while something slow happens; one
 * event waking many waiters; what exit does with daemon and non-daemon threads; coroutines
 * feeding one database writer thread. This program runs each with weft and prints a short
 * explanation and a measured table; where python3 is installed, the seeds' own Python
 * versions of the two big workloads run beside weft in the same tour, on the same server.
 *
 * On a terminal it uses colour and a spinner while a row runs; in a pipe (CI) it prints
 * plain lines (NO_COLOR=1 or TERM=dumb asks for them on a terminal too). Exits 0 only if every result
 * was right (every page intact, every count exact). Under a minute; no network but
 * 127.0.0.1. One file per section (tour.h lists them).
 */
#include "tour.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--exit-demo") == 0) return tour_exit_child(argv[2]);
    const char *no_color = getenv("NO_COLOR"), *term = getenv("TERM");
    tour_tty = isatty(STDOUT_FILENO) && !(no_color && *no_color) &&
               !(term && strcmp(term, "dumb") == 0);
    printf("%sweft tour%s — Python's classic concurrency comparisons, in C, measured on this "
           "machine%s\n",
           tour_bold(), tour_plain(),
           tour_have_python() ? " (Python beside weft)" : " (without Python's rows)");
    int64_t t0 = weft_now();
    tour_io();
    tour_cpu();
    tour_counter();
    tour_say_after();
    tour_spinners();
    tour_event();
    tour_exit("/proc/self/exe");
    tour_sqlite();
    printf("\n%stour: %s in %.1f s%s\n", tour_bold(),
           tour_failures() ? "SOME RESULTS WERE WRONG" : "every result checked",
           (double)(weft_now() - t0) / 1e9, tour_plain());
    return tour_failures() ? 1 : 0;
}
