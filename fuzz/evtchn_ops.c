/*
 * libFuzzer harness for the event-channel core: the input is a sequence of
 * operations over three domains (0 privileged, 1 and 2 guests with two
 * vCPUs) with arbitrary arguments, interleaved with hostile writes into the
 * guests' memory (shared_info, FIFO control blocks, event arrays), with
 * latches of a domain's shared_info layout (x86_64's or i386's) and with
 * the guest-side consumers of both ABIs. After every step the core's
 * invariants are checked for every domain (evtchn_debug_check: both ends of
 * every interdomain channel agree, VIRQ/PIRQ tables match, counts match,
 * FIFO tails sane); the core asserts that a free port is never linked.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evtchn_harness.h"
#include "fuzz_input.h"

/* Mostly small numbers (real ports, vCPUs, domids), sometimes anything. */
static uint32_t num(struct in *in)
{
    uint8_t sel = u8(in);
    if (sel < 200)
        return sel % 24;
    if (sel < 230)
        return u32(in);
    static const uint32_t edge[] = { DOMID_SELF, 4095, 4096, 131071, 131072,
                                     0x7fffffff, 0x80000000u, 0xffffffffu };
    return edge[sel % 8];
}

static void check_all(struct hx *x)
{
    for (domid_t d = 0; d < 3; d++)
        if (x->d[d].exists && evtchn_debug_check(x->h, d) != 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = { data, size };
    struct hx *x = hx_create_with_pirq();
    if (!x)
        return 0;
    /* The IRQ router's answer to bind_pirq: yes, not granted, or busy. */
    static const int answers[] = { 0, -XEN_EPERM, -XEN_EBUSY, 0 };
    x->pirq_answer = answers[u8(&in) % 4];
    hx_dom_add(x, 0, true, 1, 0);
    hx_dom_add(x, 1, false, 2, 0);
    hx_dom_add(x, 2, false, 2, 0);
    evtchn_port_t hostports[8] = { 0 };
    uint32_t got[64];

    for (int step = 0; step < 256 && in.n; step++) {
        uint8_t op = u8(&in);
        domid_t dom = (domid_t)(u8(&in) % 4);   /* 3: no such domain */
        switch (op % 24) {
        case 0 ... 13: {
            /* A hypercall with arbitrary argument bytes, some fields set to
             * plausible values. */
            union {
                uint8_t raw[64];
                uint32_t w[16];
            } arg;
            for (size_t i = 0; i < 16; i++)
                arg.w[i] = num(&in);
            unsigned cmd = op % 24;
            if (cmd == EVTCHNOP_bind_interdomain || cmd == EVTCHNOP_alloc_unbound ||
                cmd == EVTCHNOP_status || cmd == EVTCHNOP_reset) {
                /* domid_t fields are 16-bit: make some of them real ids. */
                uint16_t *h16 = (uint16_t *)arg.raw;
                h16[0] = (uint16_t)(arg.w[0] % 5 == 4 ? DOMID_SELF : arg.w[0] % 5);
                h16[1] = (uint16_t)(arg.w[1] % 5 == 4 ? DOMID_SELF : arg.w[1] % 5);
            }
            if (cmd == EVTCHNOP_init_control || cmd == EVTCHNOP_expand_array) {
                /* gfn: 64-bit; mostly inside the guest's 160 frames. */
                uint64_t gfn = arg.w[0] % 200;
                memcpy(arg.raw, &gfn, sizeof(gfn));
                if (cmd == EVTCHNOP_init_control)
                    arg.w[2] = arg.w[2] % 3 ? (arg.w[2] * 8) % 4096 : arg.w[2];
            }
            evtchn_do_op(x->h, dom, 0, cmd, arg.raw);
            break;
        }
        case 14: case 15: {
            /* Hostile guest write anywhere in its memory (16-bit offset
             * covers shared_info, the control blocks and array pages). */
            if (dom < 3 && x->d[dom].exists) {
                uint32_t off = (u32(&in) % (160u * 4096u)) & ~3u;
                uint32_t val = u32(&in);
                memcpy(x->d[dom].mem + off, &val, 4);
                if (op & 1) {   /* aim at the first control block / array */
                    uint32_t o2 = (4096 + (off % (20 * 4096))) & ~3u;
                    memcpy(x->d[dom].mem + o2, &val, 4);
                }
            }
            break;
        }
        case 16:
            evtchn_send_virq(x->h, dom, num(&in), num(&in));
            break;
        case 17:
            evtchn_send_pirq(x->h, dom, num(&in));
            break;
        case 18: {
            evtchn_port_t p;
            if (evtchn_host_bind_interdomain(x->h, 0, dom, num(&in), hx_host_cb, x, &p) == 0)
                hostports[p % 8] = p;
            break;
        }
        case 19:
            evtchn_host_send(x->h, 0, hostports[u8(&in) % 8]);
            break;
        case 20:
            evtchn_host_close(x->h, 0, hostports[u8(&in) % 8]);
            break;
        case 21:
            /* A guest dies and its domid is reused. */
            if (dom == 1 || dom == 2) {
                hx_dom_del(x, dom);
                hx_dom_add(x, dom, false, 2, u8(&in) % 2 ? 0 : 40);
            }
            break;
        case 22:
            /* The guest consumes events like Linux would. */
            if (dom < 3 && x->d[dom].exists) {
                uint32_t v = u8(&in) % 2;
                if (evtchn_domain_abi(x->h, dom) == 3) {
                    if (x->d[dom].v[v].cb && x->d[dom].array_pages)
                        hx_fifo_consume(x, dom, v, got, 64);
                } else {
                    hx_2l_consume(x, dom, v, got, 64);
                }
            }
            break;
        case 23:
            switch (u8(&in) % 5) {
            case 0:
                if (dom < 3 && x->d[dom].exists)
                    hx_fifo_init(x, dom, u8(&in) % 3);
                break;
            case 1:
                if (dom < 3 && x->d[dom].exists)
                    hx_fifo_expand(x, dom);
                break;
            case 2:
                evtchn_domain_set_paused(x->h, dom, u8(&in) & 1);
                break;
            case 3:
                if (dom < 3 && x->d[dom].exists)
                    evtchn_vcpu_set_info(x->h, dom, u8(&in) % 3,
                                         (struct vcpu_info *)(x->d[dom].mem + 50 * 4096 +
                                                              (u8(&in) % 60) * 64));
                break;
            case 4:
                /* The guest's mode latches the shared_info layout (i386:
                 * 1024 2-level ports); the wallclock follows it. */
                evtchn_domain_latch_shinfo(x->h, dom, u8(&in) & 1);
                evtchn_domain_set_wallclock(x->h, dom, u32(&in), u32(&in));
                break;
            }
            break;
        }
        check_all(x);
    }
    hx_destroy(x);
    return 0;
}
