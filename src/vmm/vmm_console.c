/*
 * The guest console, served by domain 0: the PV console ring at
 * HVM_PARAM_CONSOLE_PFN (<xen/io/console.h>) with its event channel, and
 * the console_io hypercall's output. Both end on the host's console FILE,
 * line by line, prefixed with the domain name when several guests share it.
 */
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <xen/event_channel.h>
#include <xen/hvm/params.h>
#include <xen/io/console.h>

#include "vmm_int.h"

static struct xencons_interface *ring(struct vmm_domain *d)
{
    return (struct xencons_interface *)(d->special +
                                        VMM_SPECIAL_CONSOLE * VMM_PAGE);
}

/* Emit bytes; caller holds con.lock. Control bytes other than \n and \t are
 * shown as '?', so a guest cannot drive the host terminal. */
static void emit(struct vmm_domain *d, const char *buf, size_t len)
{
    struct vmm_console *c = &d->con;
    for (size_t i = 0; i < len; i++) {
        char ch = buf[i];
        if (ch == '\r')
            continue;
        if ((unsigned char)ch < 0x20 && ch != '\n' && ch != '\t')
            ch = '?';
        if (ch == '\n' || c->line_len == sizeof(c->line) - 1) {
            if (c->prefix)
                fprintf(c->out, "%s: %.*s\n", d->name, (int)c->line_len,
                        c->line);
            else
                fprintf(c->out, "%.*s\n", (int)c->line_len, c->line);
            c->line_len = 0;
            if (ch == '\n')
                continue;
        }
        c->line[c->line_len++] = ch;
    }
    fflush(c->out);
}

void vmm_console_write(struct vmm_domain *d, const char *buf, size_t len)
{
    pthread_mutex_lock(&d->con.lock);
    emit(d, buf, len);
    pthread_mutex_unlock(&d->con.lock);
}

/* Drain the output ring. Indices are free-running; a producer index more
 * than a ring ahead is a guest bug: like xenconsoled, consume nothing
 * (re-reading the ring would replay stale text into the log) and say so
 * once, until the guest puts a sane index there again. */
static void drain(struct vmm_domain *d)
{
    struct xencons_interface *r = ring(d);
    uint32_t prod = __atomic_load_n(&r->out_prod, __ATOMIC_ACQUIRE);
    uint32_t cons = d->con.ring_cons;
    if (prod - cons > sizeof(r->out)) {
        if (!d->con.bad_index_logged)
            vmm_log(d, "console ring: producer index %u is %u bytes past ours "
                    "(ring is %zu): ignoring the ring until it is sane",
                    prod, prod - cons, sizeof(r->out));
        d->con.bad_index_logged = true;
        return;
    }
    d->con.bad_index_logged = false;
    char tmp[sizeof(r->out)];
    size_t n = 0;
    while (cons != prod)
        tmp[n++] = r->out[MASK_XENCONS_IDX(cons++, r->out)];
    d->con.ring_cons = cons;
    __atomic_store_n(&r->out_cons, cons, __ATOMIC_RELEASE);
    emit(d, tmp, n);
}

static void console_event(void *arg, domid_t dom, evtchn_port_t port)
{
    (void)dom;
    (void)port;
    struct vmm_domain *d = arg;
    pthread_mutex_lock(&d->con.lock);
    drain(d);
    pthread_mutex_unlock(&d->con.lock);
    /* Tell the guest there is room again. */
    evtchn_host_send(d->h->evtchn, 0, d->con.port);
}

int vmm_console_init(struct vmm_domain *d)
{
    struct vmm_console *c = &d->con;
    pthread_mutex_init(&c->lock, NULL);
    c->out = d->h->console;
    c->prefix = d->h->cfg.prefix_console;
    memset(ring(d), 0, VMM_PAGE);
    /* As xl does: an unbound port of the guest for domain 0, which the
     * console daemon (here: us) then binds. */
    struct evtchn_alloc_unbound au = { .dom = d->domid, .remote_dom = 0 };
    int rc = evtchn_do_op(d->h->evtchn, 0, 0, EVTCHNOP_alloc_unbound, &au);
    if (rc)
        return rc;
    rc = evtchn_host_bind_interdomain(d->h->evtchn, 0, d->domid, au.port,
                                      console_event, d, &c->port);
    if (rc)
        return rc;
    c->guest_port = au.port;
    hv_set_param(d->hv, HVM_PARAM_CONSOLE_PFN,
                 VMM_SPECIAL_GPA / VMM_PAGE + VMM_SPECIAL_CONSOLE);
    hv_set_param(d->hv, HVM_PARAM_CONSOLE_EVTCHN, au.port);
    return 0;
}

void vmm_console_flush(struct vmm_domain *d)
{
    pthread_mutex_lock(&d->con.lock);
    drain(d);
    if (d->con.line_len)
        emit(d, "\n", 1);
    pthread_mutex_unlock(&d->con.lock);
}

void vmm_console_fini(struct vmm_domain *d)
{
    if (d->con.port && d->h->evtchn)
        evtchn_host_close(d->h->evtchn, 0, d->con.port);
    if (d->con.out)
        pthread_mutex_destroy(&d->con.lock);
}
