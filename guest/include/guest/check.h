/*
 * Checks for test programs: one result line per check on the console and
 * the count a program's exit code comes from. Result lines (what the
 * integration scripts grep for):
 *
 *   check      "ok: WHAT"            / "FAIL: WHAT"
 *   check_eq   "ok: WHAT -> GOT"     / "FAIL: WHAT -> GOT, expected WANT"
 *   check_got  "ok: WHAT"            / "FAIL: WHAT (got GOT, want WANT)"
 *
 * Main flow only (vCPU 0, not from an IRQ handler): the counters are plain.
 */
#ifndef GUEST_CHECK_H
#define GUEST_CHECK_H

#include <stdbool.h>

/* Contract: count one check and print its line. Returns ok. */
bool check(bool ok, const char *what);

/* Contract: check(got == want) with both values in the line. Returns the
 * verdict. */
bool check_eq(const char *what, long got, long want);

/* Contract: check(ok) for a condition that is not an equality; got and
 * want are printed on failure only. Returns ok. */
bool check_got(bool ok, const char *what, long got, long want);

/* Failed checks so far. */
unsigned int check_failures(void);

/* Contract: print "NAME: N checks, P passed, F failed"; returns the exit
 * code that goes with it (0 when none failed, else 1). */
int check_summary(const char *name);

#endif
