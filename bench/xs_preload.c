/*
 * xs_preload: an LD_PRELOAD library that lets Xen's own C xenstored
 * (Debian xen-utils-4.17, /usr/lib/xen-4.17/bin/xenstored) run alone on a
 * Linux host with no hypervisor, serving its Unix socket. It is the baseline
 * of bench/xenstore.sh and the reference of the differential conformance
 * tests; nothing in xenkvm itself links it.
 *
 * xenstored needs the hypervisor only to start up and to watch domains come
 * and go. From `nm -D` of the 4.17 binary and tools/xenstore/xenstored_domain.c
 * and xenstored_posix.c of RELEASE-4.17.x, it calls:
 *   xc_interface_open/close, xc_domain_getinfo   (does domain N exist?)
 *   xengnttab_open/close/set_max_grants/map_grant_ref/unmap (guest rings)
 *   xenevtchn_open/fdopen/fd/bind_virq/bind_interdomain/notify/pending/
 *     unmask/unbind                               (event channels)
 *   open("/proc/xen/xsd_port") and open+mmap("/proc/xen/xsd_kva") (dom0 ring)
 * This file defines those symbols, so the dynamic linker binds xenstored's
 * references here instead of to libxenctrl & co. (an unversioned definition
 * satisfies a versioned reference), and rewrites the two /proc/xen paths.
 *
 * What the stand-ins do:
 *  - xc_domain_getinfo(d, 1): reports domain d as existing and running when
 *    d < DOMID_FIRST_RESERVED and d is in $XS_PRELOAD_DOMAINS (a comma list
 *    of ids or ranges "a-b"; default "0-32751", i.e. every domid exists, which
 *    is what a store with no hypervisor to ask must assume). Domains never
 *    die, so xenstored never releases one on its own.
 *  - event channels: a pipe whose read end is the "event fd" xenstored polls;
 *    nothing is ever written to it, so no event ever arrives. Binds return
 *    fresh local port numbers; notify is a no-op.
 *  - grant maps (XS_INTRODUCE of a guest): a fresh zeroed anonymous page, so
 *    the guest's ring looks quiescent and INTRODUCE/RELEASE work.
 *  - /proc/xen/xsd_port -> $XS_PRELOAD_DIR/xsd_port (a port number), and
 *    /proc/xen/xsd_kva -> $XS_PRELOAD_DIR/xsd_kva (a 4 KiB file mmap'ed as
 *    dom0's ring page). XS_PRELOAD_DIR defaults to $XENSTORED_RUNDIR, then
 *    /tmp. Missing files are created ("1\n" and 4 KiB of zeros).
 *
 * How to run (see also bench/run-c-xenstored.sh, which does exactly this):
 *   mkdir -p /tmp/cxs
 *   XENSTORED_RUNDIR=/tmp/cxs XS_PRELOAD_DIR=/tmp/cxs \
 *   LD_PRELOAD=build/tests/conformance/xs_preload.so \
 *     /usr/lib/xen-4.17/bin/xenstored -N
 *   # socket: /tmp/cxs/socket (xenstored binds $XENSTORED_RUNDIR/socket,
 *   # or $XENSTORED_PATH if set); clients: XENSTORED_PATH=/tmp/cxs/socket
 */
/* We define open() and open64() themselves: with 64-bit file offsets
 * requested (meson does), <fcntl.h> would rename open to open64. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xenctrl.h>
#include <xenevtchn.h>
#include <xengnttab.h>

#define XSP_EXPORT __attribute__((visibility("default")))

/* ------------------------------------------------------------------ */
/* /proc/xen/xsd_port and /proc/xen/xsd_kva                            */

static const char *xsp_dir(void)
{
    const char *d = getenv("XS_PRELOAD_DIR");

    if (!d || !*d)
        d = getenv("XENSTORED_RUNDIR");
    if (!d || !*d)
        d = "/tmp";
    return d;
}

/* Create @path holding @len bytes of @data if it does not exist yet. */
static void xsp_make_file(int (*real_open)(const char *, int, ...),
                          const char *path, const char *data, size_t len)
{
    int fd = real_open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd < 0)
        return; /* exists (or cannot be made: the real open reports it) */
    if (write(fd, data, len) != (ssize_t)len)
        perror("xs_preload: write");
    close(fd);
}

typedef int (*xsp_open_fn)(const char *, int, ...);

static int xsp_open_redirect(xsp_open_fn real_open, const char *path,
                             int flags, mode_t mode)
{
    char buf[PATH_MAX];
    const char *name = NULL;

    if (!strcmp(path, "/proc/xen/xsd_port"))
        name = "xsd_port";
    else if (!strcmp(path, "/proc/xen/xsd_kva"))
        name = "xsd_kva";
    if (!name)
        return real_open(path, flags, mode);

    if (snprintf(buf, sizeof(buf), "%s/%s", xsp_dir(), name) >= (int)sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (name[4] == 'p') {
        xsp_make_file(real_open, buf, "1\n", 2);
    } else {
        static char page[4096];

        xsp_make_file(real_open, buf, page, sizeof(page));
    }
    return real_open(buf, flags, mode);
}

XSP_EXPORT int open(const char *path, int flags, ...)
{
    static xsp_open_fn real_open;
    mode_t mode = 0;

    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;

        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (!real_open)
        real_open = (xsp_open_fn)dlsym(RTLD_NEXT, "open");
    return xsp_open_redirect(real_open, path, flags, mode);
}

XSP_EXPORT int open64(const char *path, int flags, ...)
{
    static xsp_open_fn real_open64;
    mode_t mode = 0;

    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;

        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (!real_open64)
        real_open64 = (xsp_open_fn)dlsym(RTLD_NEXT, "open64");
    return xsp_open_redirect(real_open64, path, flags, mode);
}

/* ------------------------------------------------------------------ */
/* libxenctrl                                                          */

/* Any non-NULL pointer: xenstored only passes it back to us. */
static int xsp_xc_dummy;

XSP_EXPORT xc_interface *xc_interface_open(xentoollog_logger *logger,
                                           xentoollog_logger *dombuild_logger,
                                           unsigned open_flags)
{
    (void)logger; (void)dombuild_logger; (void)open_flags;
    return (xc_interface *)&xsp_xc_dummy;
}

XSP_EXPORT int xc_interface_close(xc_interface *xch)
{
    (void)xch;
    return 0;
}

/* Is @domid listed in $XS_PRELOAD_DOMAINS ("0,3,10-20"); all if unset. */
static int xsp_domain_exists(uint32_t domid)
{
    const char *s = getenv("XS_PRELOAD_DOMAINS");

    if (domid >= DOMID_FIRST_RESERVED)
        return 0;
    if (!s || !*s)
        return 1;
    while (*s) {
        char *end;
        unsigned long lo = strtoul(s, &end, 10), hi = lo;

        if (end == s)
            return 0; /* malformed list: only what was parsed so far */
        if (*end == '-') {
            s = end + 1;
            hi = strtoul(s, &end, 10);
        }
        if (domid >= lo && domid <= hi)
            return 1;
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return 0;
    }
    return 0;
}

/*
 * Fills info[] with existing domains whose id is >= first_domid, like the
 * real call. xenstored only ever asks for one (get_domain_info), so the
 * scan is bounded by max_doms and by DOMID_FIRST_RESERVED.
 */
XSP_EXPORT int xc_domain_getinfo(xc_interface *xch, uint32_t first_domid,
                                 unsigned int max_doms, xc_dominfo_t *info)
{
    unsigned int n = 0;

    (void)xch;
    for (uint32_t d = first_domid; d < DOMID_FIRST_RESERVED && n < max_doms; d++) {
        if (!xsp_domain_exists(d))
            continue;
        memset(&info[n], 0, sizeof(info[n]));
        info[n].domid = d;
        info[n].running = 1;
        info[n].hvm = 1;
        info[n].xenstore = (d == 0);
        info[n].nr_online_vcpus = 1;
        n++;
    }
    return (int)n;
}

/* ------------------------------------------------------------------ */
/* libxenevtchn                                                        */

/* The only handle: the read end of a pipe nobody writes to. */
static struct {
    int pipe[2];
    evtchn_port_t next_port;
} xsp_evtchn = { { -1, -1 }, 1 };

static xenevtchn_handle *xsp_evtchn_handle(void)
{
    if (xsp_evtchn.pipe[0] < 0 && pipe(xsp_evtchn.pipe) < 0)
        return NULL;
    return (xenevtchn_handle *)&xsp_evtchn;
}

XSP_EXPORT xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger,
                                            unsigned open_flags)
{
    (void)logger; (void)open_flags;
    return xsp_evtchn_handle();
}

XSP_EXPORT xenevtchn_handle *xenevtchn_fdopen(struct xentoollog_logger *logger,
                                              int fdno, unsigned open_flags)
{
    (void)logger; (void)fdno; (void)open_flags;
    return xsp_evtchn_handle();
}

XSP_EXPORT int xenevtchn_close(xenevtchn_handle *xce)
{
    (void)xce;
    return 0;
}

XSP_EXPORT int xenevtchn_fd(xenevtchn_handle *xce)
{
    (void)xce;
    return xsp_evtchn.pipe[0];
}

XSP_EXPORT int xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port)
{
    (void)xce; (void)port;
    return 0;
}

XSP_EXPORT xenevtchn_port_or_error_t
xenevtchn_bind_interdomain(xenevtchn_handle *xce, uint32_t domid,
                           evtchn_port_t remote_port)
{
    (void)xce; (void)domid; (void)remote_port;
    return (xenevtchn_port_or_error_t)xsp_evtchn.next_port++;
}

XSP_EXPORT xenevtchn_port_or_error_t
xenevtchn_bind_virq(xenevtchn_handle *xce, unsigned int virq)
{
    (void)xce; (void)virq;
    return (xenevtchn_port_or_error_t)xsp_evtchn.next_port++;
}

XSP_EXPORT int xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port)
{
    (void)xce; (void)port;
    return 0;
}

/* Never reached in practice: the event fd never becomes readable. */
XSP_EXPORT xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *xce)
{
    (void)xce;
    errno = EAGAIN;
    return -1;
}

XSP_EXPORT int xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port)
{
    (void)xce; (void)port;
    return 0;
}

/* ------------------------------------------------------------------ */
/* libxengnttab                                                        */

static int xsp_gnt_dummy;

XSP_EXPORT xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger,
                                            unsigned open_flags)
{
    (void)logger; (void)open_flags;
    return (xengnttab_handle *)&xsp_gnt_dummy;
}

XSP_EXPORT int xengnttab_close(xengnttab_handle *xgt)
{
    (void)xgt;
    return 0;
}

XSP_EXPORT int xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants)
{
    (void)xgt; (void)nr_grants;
    return 0;
}

/* A guest's xenstore ring: a zeroed private page (indexes 0: quiescent). */
XSP_EXPORT void *xengnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid,
                                         uint32_t ref, int prot)
{
    void *p;

    (void)xgt; (void)domid; (void)ref;
    p = mmap(NULL, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

XSP_EXPORT int xengnttab_unmap(xengnttab_handle *xgt, void *start_address,
                               uint32_t count)
{
    (void)xgt;
    return munmap(start_address, (size_t)count * 4096);
}
