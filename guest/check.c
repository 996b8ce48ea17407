/*
 * Checks for test programs (include/guest/check.h): the line formats and
 * the one pair of counters every program's exit code comes from.
 */
#include <guest/guest.h>
#include <guest/check.h>

static unsigned int checks_run, checks_failed;

static bool count(bool ok)
{
    checks_run++;
    if (!ok)
        checks_failed++;
    return ok;
}

bool check(bool ok, const char *what)
{
    printk("%s: %s\n", ok ? "ok" : "FAIL", what);
    return count(ok);
}

bool check_eq(const char *what, long got, long want)
{
    bool ok = got == want;

    if (ok)
        printk("ok: %s -> %ld\n", what, got);
    else
        printk("FAIL: %s -> %ld, expected %ld\n", what, got, want);
    return count(ok);
}

bool check_got(bool ok, const char *what, long got, long want)
{
    if (ok)
        printk("ok: %s\n", what);
    else
        printk("FAIL: %s (got %ld, want %ld)\n", what, got, want);
    return count(ok);
}

unsigned int check_failures(void)
{
    return checks_failed;
}

int check_summary(const char *name)
{
    printk("%s: %u checks, %u passed, %u failed\n", name, checks_run,
           checks_run - checks_failed, checks_failed);
    return checks_failed ? 1 : 0;
}
