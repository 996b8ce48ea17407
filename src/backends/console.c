/*
 * The guest console, served by domain 0: the PV console ring at
 * HVM_PARAM_CONSOLE_PFN (<xen/io/console.h>) with its event channel, and
 * the console_io hypercall's output. Both end on the host's console FILE,
 * line by line, prefixed with the domain name when several guests share it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
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

/* Length of the UTF-8 sequence lead byte c starts (0: not a lead byte),
 * and whether c2 may follow it as the second byte (no overlong form, no
 * surrogate, nothing above U+10FFFF). */
static unsigned int utf8_len(unsigned char c)
{
    return c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
           : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
}

static bool utf8_second_ok(unsigned char lead, unsigned char c2)
{
    unsigned char lo = 0x80, hi = 0xbf;
    if (lead == 0xe0)
        lo = 0xa0;
    else if (lead == 0xed)
        hi = 0x9f;
    else if (lead == 0xf0)
        lo = 0x90;
    else if (lead == 0xf4)
        hi = 0x8f;
    return c2 >= lo && c2 <= hi;
}

size_t vmm_console_sanitize(struct vmm_con_utf8 *st, const char *in, size_t n,
                            char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (st->need) {
            bool ok = st->have == 1 ? utf8_second_ok(st->seq[0], c)
                                    : c >= 0x80 && c <= 0xbf;
            if (!ok) {
                /* malformed: the bytes so far are shown as '?' and c
                 * starts afresh */
                for (unsigned int k = 0; k < st->have; k++)
                    out[o++] = '?';
                st->need = st->have = 0;
            } else {
                st->seq[st->have++] = c;
                if (st->have < st->need)
                    continue;
                /* complete; U+0080-U+009F (C2 80-C2 9F) are the C1
                 * controls (CSI, OSC, ...): not for the terminal */
                if (st->need == 2 && st->seq[0] == 0xc2 && st->seq[1] <= 0x9f)
                    out[o++] = '?';
                else
                    for (unsigned int k = 0; k < st->need; k++)
                        out[o++] = (char)st->seq[k];
                st->need = st->have = 0;
                continue;
            }
        }
        if (c == '\r')
            continue;
        if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f)) {
            out[o++] = (char)c;
        } else if (utf8_len(c)) {
            st->seq[0] = c;
            st->have = 1;
            st->need = utf8_len(c);
        } else {
            out[o++] = '?';    /* C0 (ESC...), DEL, raw C1, stray bytes */
        }
    }
    return o;
}

/* Emit bytes; caller holds con.lock. Everything goes through
 * vmm_console_sanitize, so a guest cannot drive the host terminal. A full
 * line buffer is flushed only between characters, never inside a UTF-8
 * sequence. */
static void emit(struct vmm_domain *d, const char *buf, size_t len)
{
    struct vmm_console *c = &d->con;
    char clean[512 + 3];
    while (len) {
        size_t chunk = len < 512 ? len : 512;
        size_t n = vmm_console_sanitize(&c->utf8, buf, chunk, clean);
        buf += chunk;
        len -= chunk;
        for (size_t i = 0; i < n; i++) {
            char ch = clean[i];
            bool starts_char = ((unsigned char)ch & 0xc0) != 0x80;
            if (ch == '\n' ||
                (starts_char && c->line_len >= sizeof(c->line) - 4)) {
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
 * (rate-limited: a guest toggling a bad and a sane index must not flood the
 * host's log), until the guest puts a sane index there again.
 *
 * The ring is always consumed in full, and what is shown draws on the
 * domain's console_io budget (hv_console_allow: 32 KiB/s, 64 KiB burst):
 * bytes over it are dropped, counted, and announced rate-limited. Dropping
 * rather than deferring (leaving them in the ring, as xenconsoled's
 * throttle does) because nothing here would wake us to drain later: a
 * Linux guest (hvc_xen) notifies only when it wrote something, so a ring
 * left full could wedge its console for good. What is shown keeps the
 * guest's order; only the tail of a burst goes missing. */
static void drain(struct vmm_domain *d)
{
    struct xencons_interface *r = ring(d);
    uint32_t prod = __atomic_load_n(&r->out_prod, __ATOMIC_ACQUIRE);
    uint32_t cons = d->con.ring_cons;
    if (prod - cons > sizeof(r->out)) {
        if (!d->con.bad_index_logged)
            vmm_log_guest(d, "console ring: producer index %u is %u bytes "
                          "past ours (ring is %zu): ignoring the ring until "
                          "it is sane", prod, prod - cons, sizeof(r->out));
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
    if (!n)
        return;
    size_t ok = d->hv ? hv_console_allow(d->hv, n) : n;
    emit(d, tmp, ok);
    if (ok < n)
        vmm_log_guest(d, "console ring: %zu bytes dropped (over the 32 KiB/s "
                      "console rate)", n - ok);
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
