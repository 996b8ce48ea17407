/*
 * The PV block backend (include/xenkvm/backends.h): the host-wide service
 * with its io_uring, one disk per disk = [ ... ] entry with its xenbus
 * device (xenbus_be.c), and connecting a frontend's rings: the keys it
 * wrote (Linux 6.1's xen-blkback connect_ring: protocol,
 * feature-persistent, multi-queue-num-queues, queue-N/, ring-page-order,
 * ring-ref / ring-refN, event-channel), its ring pages mapped through the
 * grant tables (several pages made contiguous), its event channel bound.
 * Requests themselves are blkback_io.c's.
 *
 * Why io_uring and not a thread pool: one ring serves every disk from the
 * loop thread (submissions batched per ring pass, completions signalled on
 * an eventfd the loop watches), so requests need no hand-off between
 * threads, no locks beyond the service's one, and a readv/writev goes to
 * the kernel straight on the guest's granted pages (docs/blkback.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blkback_int.h"

/* ---- loop and event-channel callbacks ---- */

/* The frontend notified (its vCPU thread): wake the loop, nothing more. */
static void on_event(void *arg, domid_t dom, evtchn_port_t port)
{
    (void)dom;
    (void)port;
    struct blk_ring *r = arg;
    eventfd_write(r->kick_fd, 1);
}

static void on_kick(void *opaque, uint32_t events)
{
    (void)events;
    struct blk_ring *r = opaque;
    eventfd_t v;
    eventfd_read(r->kick_fd, &v);
    pthread_mutex_lock(&r->d->bb->lock);
    blk_ring_serve(r);
    pthread_mutex_unlock(&r->d->bb->lock);
}

static void on_completion(void *opaque, uint32_t events)
{
    (void)events;
    struct be_blkback *bb = opaque;
    eventfd_t v;
    eventfd_read(bb->cq_fd, &v);
    pthread_mutex_lock(&bb->lock);
    blk_reap(bb);
    pthread_mutex_unlock(&bb->lock);
}

/* ---- rings ---- */

/* Map the ring's pages (writable: we answer there) and see them as one
 * ring. Several pages are made contiguous with mremap(old_size 0), which
 * adds a second view of a shared page: guest RAM is a shared memfd. */
static int ring_map(struct blk_ring *r, const grant_ref_t *refs,
                    unsigned int n, char *err, size_t errlen)
{
    struct be_blk_disk *d = r->d;
    for (unsigned int i = 0; i < n; i++) {
        int16_t st = gnttab_map(d->bb->env.gnttab, 0, d->cfg.domid, refs[i],
                                GNTMAP_host_map, &r->ring_maps[i]);
        if (st != GNTST_okay) {
            snprintf(err, errlen, "mapping ring %u page %u (gref %u): "
                     "grant status %d", r->idx, i, refs[i], st);
            return -EINVAL;
        }
        r->nr_ring_maps++;
    }
    void *base = r->ring_maps[0].addr;
    r->nr_pages = n;                /* what ring_disconnect unmaps */
    if (n > 1) {
        base = mmap(NULL, (size_t)n * BLK_PAGE, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED) {
            snprintf(err, errlen, "no address space for a %u-page ring", n);
            return -ENOMEM;
        }
        r->alias = base;
        for (unsigned int i = 0; i < n; i++)
            if (mremap(r->ring_maps[i].addr, 0, BLK_PAGE,
                       MREMAP_MAYMOVE | MREMAP_FIXED,
                       (char *)base + (size_t)i * BLK_PAGE) == MAP_FAILED) {
                int e = errno;
                snprintf(err, errlen, "ring %u: pages cannot be made "
                         "contiguous: %s", r->idx, strerror(e));
                return -e;
            }
    }
    if (r->x86_32)
        BACK_RING_INIT(&r->br.x32, (blkif_x86_32_sring_t *)base,
                       (size_t)n * BLK_PAGE);
    else
        BACK_RING_INIT(&r->br.native, (blkif_sring_t *)base,
                       (size_t)n * BLK_PAGE);
    return 0;
}

/* Ring r's keys in dir ("" or "queue-N/"), as Linux's read_per_ring_refs. */
static int ring_connect(struct blk_ring *r, const char *dir, char *err,
                        size_t errlen)
{
    struct be_blk_disk *d = r->d;
    struct xenbus_be *xb = d->xb;
    char key[48];
    unsigned long order = 0, port, ref;
    grant_ref_t refs[BLK_MAX_RING_PAGES];
    snprintf(key, sizeof(key), "%sring-page-order", dir);
    int rc = xenbus_be_fe_read_uint(xb, key, BLK_MAX_RING_ORDER, &order);
    bool multi = rc == 0;
    if (rc && rc != -ENOENT) {
        snprintf(err, errlen, "%s: above %u or not a number", key,
                 BLK_MAX_RING_ORDER);
        return rc;
    }
    unsigned int n = 1u << order;
    for (unsigned int i = 0; i < n; i++) {
        if (multi)
            snprintf(key, sizeof(key), "%sring-ref%u", dir, i);
        else
            snprintf(key, sizeof(key), "%sring-ref", dir);
        if ((rc = xenbus_be_fe_read_uint(xb, key, UINT32_MAX, &ref))) {
            snprintf(err, errlen, "reading %s", key);
            return rc;
        }
        refs[i] = (grant_ref_t)ref;
    }
    snprintf(key, sizeof(key), "%sevent-channel", dir);
    if ((rc = xenbus_be_fe_read_uint(xb, key, UINT32_MAX, &port))) {
        snprintf(err, errlen, "reading %s", key);
        return rc;
    }
    if ((rc = ring_map(r, refs, n, err, errlen)))
        return rc;
    r->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->kick_fd < 0) {
        int e = errno;
        snprintf(err, errlen, "eventfd: %s", strerror(e));
        return -e;
    }
    if ((rc = util_loop_add(d->bb->env.loop, r->kick_fd, UTIL_LOOP_IN,
                            on_kick, r))) {
        snprintf(err, errlen, "loop: %s", strerror(-rc));
        return rc;
    }
    r->kick_registered = true;
    rc = evtchn_host_bind_interdomain(d->bb->env.evtchn, 0, d->cfg.domid,
                                      (evtchn_port_t)port, on_event, r,
                                      &r->port);
    if (rc) {
        snprintf(err, errlen, "binding event channel %lu: %d", port, rc);
        return rc;
    }
    r->port_bound = true;
    return 0;
}

/* Stop ring r and free what it holds (any thread but its own callbacks). */
static void ring_disconnect(struct blk_ring *r)
{
    struct be_blkback *bb = r->d->bb;
    if (r->port_bound)      /* waits for an on_event in flight */
        evtchn_host_close(bb->env.evtchn, 0, r->port);
    if (r->kick_registered) /* waits for an on_kick in flight */
        util_loop_del(bb->env.loop, r->kick_fd);
    pthread_mutex_lock(&bb->lock);
    blk_ring_quiesce(r);
    pthread_mutex_unlock(&bb->lock);
    if (r->alias)
        munmap(r->alias, (size_t)r->nr_pages * BLK_PAGE);
    for (unsigned int i = 0; i < r->nr_ring_maps; i++)
        gnttab_unmap(bb->env.gnttab, 0, r->ring_maps[i].handle);
    if (r->kick_fd >= 0)
        close(r->kick_fd);
}

static void disk_disconnect(void *opaque)
{
    struct be_blk_disk *d = opaque;
    for (unsigned int i = 0; i < d->nr_rings; i++)
        ring_disconnect(&d->rings[i]);
    pthread_mutex_lock(&d->bb->lock);
    free(d->rings);
    d->rings = NULL;
    if (d->nr_rings)
        d->last_rings = d->nr_rings;
    d->nr_rings = 0;
    pthread_mutex_unlock(&d->bb->lock);
}

/* The keys Linux's blkback writes in connect(), before Connected. */
static int write_connect_keys(struct be_blk_disk *d)
{
    struct xenbus_be *xb = d->xb;
    unsigned int info = (d->cfg.readonly ? VDISK_READONLY : 0) |
                        (d->cfg.cdrom ? VDISK_CDROM : 0);
    int rc = xenbus_be_printf(xb, "feature-flush-cache", "1");
    if (rc == 0 && !d->cfg.readonly)
        rc = xenbus_be_printf(xb, "feature-discard", "1");
    if (rc == 0 && !d->cfg.readonly)
        rc = xenbus_be_printf(xb, "discard-granularity", "%u",
                              d->discard_granularity);
    if (rc == 0 && !d->cfg.readonly)
        rc = xenbus_be_printf(xb, "discard-alignment", "0");
    if (rc == 0 && !d->cfg.readonly)
        rc = xenbus_be_printf(xb, "discard-secure", "0");
    if (rc == 0)
        rc = xenbus_be_printf(xb, "feature-barrier", "1");
    if (rc == 0)
        rc = xenbus_be_printf(xb, "feature-persistent", "1");
    if (rc == 0)
        rc = xenbus_be_printf(xb, "sectors", "%llu",
                              (unsigned long long)d->sectors);
    if (rc == 0)
        rc = xenbus_be_printf(xb, "info", "%u", info);
    if (rc == 0)
        rc = xenbus_be_printf(xb, "sector-size", "%u", BLK_SECTOR);
    if (rc == 0)
        rc = xenbus_be_printf(xb, "physical-sector-size", "%u", BLK_SECTOR);
    return rc;
}

/* The frontend is Initialised: its rings (Linux's connect_ring). */
static int disk_connect(void *opaque, char *err, size_t errlen)
{
    struct be_blk_disk *d = opaque;
    struct xenbus_be *xb = d->xb;
    bool x86_32 = false;
    char *proto = NULL;
    if (xenbus_be_fe_read(xb, "protocol", &proto) == 0) {
        if (!strcmp(proto, XEN_IO_PROTO_ABI_X86_32))
            x86_32 = true;
        else if (strcmp(proto, XEN_IO_PROTO_ABI_X86_64)) {
            snprintf(err, errlen, "unknown protocol '%.32s'", proto);
            free(proto);
            return -ENOSYS;
        }
        free(proto);
    }
    unsigned long pers = 0, nq = 1;
    xenbus_be_fe_read_uint(xb, "feature-persistent", 1, &pers);
    int rc = xenbus_be_fe_read_uint(xb, "multi-queue-num-queues",
                                    BLK_MAX_QUEUES, &nq);
    if ((rc && rc != -ENOENT) || nq == 0) {
        snprintf(err, errlen, "multi-queue-num-queues: 1..%u",
                 BLK_MAX_QUEUES);
        return -EINVAL;
    }
    struct blk_ring *rings = calloc(nq, sizeof(*rings));
    if (!rings)
        return -ENOMEM;
    pthread_mutex_lock(&d->bb->lock);       /* for be_blkback_disk_stats */
    d->rings = rings;
    d->persistent = pers != 0;
    d->indirect = true;
    pthread_mutex_unlock(&d->bb->lock);
    for (unsigned int i = 0; i < nq; i++) {
        struct blk_ring *r = &d->rings[i];
        r->d = d;
        r->idx = i;
        r->kick_fd = -1;
        r->x86_32 = x86_32;
        pthread_mutex_lock(&d->bb->lock);
        d->nr_rings = i + 1;
        pthread_mutex_unlock(&d->bb->lock);
        if (d->persistent &&
            !(r->pgrants = calloc(BLK_PGRANT_SLOTS, sizeof(*r->pgrants)))) {
            rc = -ENOMEM;
            break;
        }
        char dir[24] = "";
        if (nq > 1)
            snprintf(dir, sizeof(dir), "queue-%u/", i);
        if ((rc = ring_connect(r, dir, err, errlen)))
            break;
    }
    if (rc == 0)
        rc = write_connect_keys(d);
    if (rc) {
        disk_disconnect(d);
        return rc;
    }
    pthread_mutex_lock(&d->bb->lock);
    d->ring_pages = d->rings[0].nr_pages;
    d->last_rings = d->nr_rings;
    pthread_mutex_unlock(&d->bb->lock);
    if (!d->bb->env.quiet)     /* once per connection, as Linux's blkback */
        fprintf(stderr, "xenkvm: blkback d%u %s: connected: %u queue(s) of "
                "%u ring page(s), protocol %s, persistent grants %s\n",
                d->cfg.domid, d->cfg.vdev, d->nr_rings, d->ring_pages,
                d->rings[0].x86_32 ? XEN_IO_PROTO_ABI_X86_32 : XEN_IO_PROTO_ABI_X86_64,
                d->persistent ? "on" : "off");
    return 0;
}

static void disk_free(struct be_blk_disk *d)
{
    if (d->fd >= 0)
        close(d->fd);
    free((char *)d->cfg.target);
    free((char *)d->cfg.vdev);
    free(d);
}

static void disk_gone(void *opaque)
{
    struct be_blk_disk *d = opaque;
    if (d->unplug_done)
        d->unplug_done(d->unplug_arg);
}

static const struct xenbus_be_ops disk_ops = {
    .connect = disk_connect,
    .disconnect = disk_disconnect,
    .gone = disk_gone,
};

/* ---- the public side ---- */

struct be_blkback *be_blkback_create(const struct be_env *env, char *err,
                                     size_t errlen)
{
    struct be_blkback *bb = calloc(1, sizeof(*bb));
    if (!bb) {
        snprintf(err, errlen, "blkback: out of memory");
        return NULL;
    }
    bb->env = *env;
    bb->cq_fd = -1;
    pthread_mutex_init(&bb->lock, NULL);
    int rc = io_uring_queue_init(BLK_URING_ENTRIES, &bb->uring, 0);
    if (rc) {
        snprintf(err, errlen, "blkback: io_uring: %s", strerror(-rc));
        pthread_mutex_destroy(&bb->lock);
        free(bb);
        return NULL;
    }
    bb->cq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (bb->cq_fd < 0 ||
        (rc = io_uring_register_eventfd(&bb->uring, bb->cq_fd)) ||
        (rc = util_loop_add(env->loop, bb->cq_fd, UTIL_LOOP_IN,
                            on_completion, bb)) ||
        (rc = store_client_new(env->store, 0, env->loop, &bb->client))) {
        snprintf(err, errlen, "blkback: %s",
                 strerror(bb->cq_fd < 0 ? errno : -rc));
        if (bb->cq_fd >= 0)
            util_loop_del(env->loop, bb->cq_fd);
        be_blkback_destroy(bb);
        return NULL;
    }
    return bb;
}

void be_blkback_destroy(struct be_blkback *bb)
{
    if (!bb)
        return;
    store_client_free(bb->client);
    if (bb->cq_fd >= 0) {
        util_loop_del(bb->env.loop, bb->cq_fd);  /* -ENOENT if never added */
        close(bb->cq_fd);
    }
    io_uring_queue_exit(&bb->uring);
    pthread_mutex_destroy(&bb->lock);
    free(bb);
}

int be_blkback_disk_add(struct be_blkback *bb, const struct be_blk_config *cfg,
                        struct be_blk_disk **out)
{
    struct be_blk_disk *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->bb = bb;
    d->cfg = *cfg;
    d->cfg.target = strdup(cfg->target);
    d->cfg.vdev = strdup(cfg->vdev ? cfg->vdev : "");
    d->fd = -1;
    if (!d->cfg.target || !d->cfg.vdev) {
        disk_free(d);
        return -ENOMEM;
    }
    d->fd = open(cfg->target, (cfg->readonly ? O_RDONLY : O_RDWR) |
                 O_CLOEXEC | O_NOCTTY);
    struct stat st;
    off_t size;
    if (d->fd < 0 || fstat(d->fd, &st) ||
        (size = lseek(d->fd, 0, SEEK_END)) < 0) {
        int rc = -errno;
        disk_free(d);
        return rc;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        disk_free(d);
        return -EINVAL;
    }
    d->sectors = (uint64_t)size / BLK_SECTOR;
    d->discard_granularity = st.st_blksize > 0 ? (uint32_t)st.st_blksize
                                               : BLK_PAGE;
    char devid[16];
    snprintf(devid, sizeof(devid), "%u", cfg->devid);
    const char *type = cfg->cdrom ? "cdrom" : "disk";
    const char *fe_keys[] = { "virtual-device", devid, "device-type", type,
                              NULL };
    const char *be_keys[] = {
        "dev", d->cfg.vdev, "type", "xenkvm", "params", d->cfg.target,
        "mode", cfg->readonly ? "r" : "w", "device-type", type,
        "removable", cfg->cdrom ? "1" : "0", "bootable", "1", NULL };
    const struct xenbus_be_config xc = {
        .client = bb->client, .type = "vbd", .fe_domid = cfg->domid,
        .devid = cfg->devid, .fe_keys = fe_keys, .be_keys = be_keys,
        .ops = &disk_ops, .opaque = d,
    };
    int rc = xenbus_be_create(&xc, &d->xb);
    if (rc) {
        disk_free(d);
        return rc;
    }
    /* what Linux's blkback probe offers before InitWait */
    if ((rc = xenbus_be_printf(d->xb, "feature-max-indirect-segments", "%u",
                               BLK_MAX_INDIRECT_SEGS)) ||
        (rc = xenbus_be_printf(d->xb, "multi-queue-max-queues", "%u",
                               BLK_MAX_QUEUES)) ||
        (rc = xenbus_be_printf(d->xb, "max-ring-page-order", "%u",
                               BLK_MAX_RING_ORDER)) ||
        (rc = xenbus_be_start(d->xb))) {
        xenbus_be_destroy(d->xb);
        disk_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void be_blkback_disk_unplug(struct be_blk_disk *d, void (*done)(void *arg),
                            void *arg)
{
    d->unplug_done = done;
    d->unplug_arg = arg;
    xenbus_be_unplug(d->xb);
}

void be_blkback_disk_remove(struct be_blk_disk *d)
{
    if (!d)
        return;
    xenbus_be_destroy(d->xb);       /* disconnects: nothing mapped after */
    disk_free(d);
}

void be_blkback_disk_stats(struct be_blk_disk *d, struct be_blk_stats *out)
{
    memset(out, 0, sizeof(*out));
    xenbus_be_states(d->xb, &out->be_state, &out->fe_state);
    pthread_mutex_lock(&d->bb->lock);
    /* a closed connection: what the last one had */
    out->nr_rings = d->nr_rings ? d->nr_rings : d->last_rings;
    out->ring_pages = d->ring_pages;
    out->persistent = d->persistent && out->nr_rings;
    out->indirect = atomic_load(&d->indirect_used);
    pthread_mutex_unlock(&d->bb->lock);
    out->reads = atomic_load(&d->reads);
    out->writes = atomic_load(&d->writes);
    out->flushes = atomic_load(&d->flushes);
    out->discards = atomic_load(&d->discards);
    out->errors = atomic_load(&d->errors);
    out->bytes_read = atomic_load(&d->bytes_read);
    out->bytes_written = atomic_load(&d->bytes_written);
}
