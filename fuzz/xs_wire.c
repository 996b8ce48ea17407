/*
 * libFuzzer harness for the XenStore wire decoder and request handlers.
 *
 * The input is a script: it is cut into chunks, each fed to one of four
 * connections (domain 0 on a socket, two guests, one guest on a ring page
 * the script also scribbles on), so framing across chunk boundaries,
 * transactions, watches between connections, permissions and quotas are
 * all reached. The guests get small quotas so that short inputs run into
 * every one of them. After each input the store's invariants must hold
 * (store_check: no orphan, accounting equal to what is charged) and it
 * must still answer a request.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xenkvm/store.h"

static void quiet(void *o, enum store_log_level l, const char *m)
{
    (void)o;
    (void)l;
    (void)m;
}

static void nop(void *a)
{
    (void)a;
}

static void drain(struct store_conn *c)
{
    const void *p;
    size_t n;
    int rounds = 0;
    while ((n = store_conn_out_peek(c, &p)) > 0 && rounds++ < 100000)
        store_conn_out_consume(c, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct store_ops ops = { .log = quiet };
    struct store *s = store_create(&ops, NULL);
    if (!s)
        return 0;
    struct store_conn *c[4];
    c[0] = store_conn_new(s, 0, true, NULL, NULL);
    struct store_conn *setup = store_conn_new(s, 0, true, NULL, NULL);
    /* Guests 1 and 2 with their usual directories. */
    static const char intro1[] = "1\0" "0\0" "0";
    static const char intro2[] = "2\0" "0\0" "0";
    uint32_t rt, rl;
    char *r;
    if (!store_conn_request(setup, XS_INTRODUCE, 0, intro1, sizeof(intro1),
                            &rt, &r, &rl))
        free(r);
    if (!store_conn_request(setup, XS_INTRODUCE, 0, intro2, sizeof(intro2),
                            &rt, &r, &rl))
        free(r);
    static const char p1[] = "/local/domain/1\0n1\0r2";
    static const char mk1[] = "/local/domain/1";
    if (!store_conn_request(setup, XS_MKDIR, 0, mk1, sizeof(mk1), &rt, &r,
                            &rl))
        free(r);
    if (!store_conn_request(setup, XS_SET_PERMS, 0, p1, sizeof(p1), &rt, &r,
                            &rl))
        free(r);
    /* Small quotas for the guests (domain 3 is introduced by its ring). */
    static const struct { enum store_quota q; unsigned v; } small[] = {
        { STORE_Q_NODES, 24 }, { STORE_Q_MEMORY, 12000 },
        { STORE_Q_WATCHES, 4 }, { STORE_Q_TRANSACTIONS, 2 },
        { STORE_Q_TXN_NODES, 12 }, { STORE_Q_NODE_SIZE, 300 },
        { STORE_Q_OUTSTANDING, 4 },
    };
    c[1] = store_conn_new(s, 1, false, NULL, NULL);
    c[2] = store_conn_new(s, 2, false, NULL, NULL);
    struct xenstore_domain_interface *intf = calloc(1, 4096);
    c[3] = store_ring_attach(s, 3, intf, nop, NULL);
    for (domid_t d = 1; d <= 3; d++)
        for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++)
            store_quota_set(s, d, small[i].q, small[i].v);

    size_t off = 0;
    while (off + 2 <= size) {
        unsigned sel = data[off] & 3;
        unsigned op = data[off] >> 2;
        size_t len = data[off + 1];
        off += 2;
        if (len > size - off)
            len = size - off;
        if (sel == 3) {
            /* Ring: bytes into the request ring, sometimes raw index
             * writes (hostile guest), then a kick. */
            if (op & 1 && len >= 8) {
                memcpy(&intf->req_prod, data + off, 4);
                memcpy(&intf->rsp_cons, data + off + 4, 4);
            } else {
                for (size_t i = 0; i < len; i++) {
                    uint32_t prod = intf->req_prod;
                    if (prod - intf->req_cons >= XENSTORE_RING_SIZE)
                        break;
                    intf->req[MASK_XENSTORE_IDX(prod)] = (char)data[off + i];
                    intf->req_prod = prod + 1;
                }
            }
            if (op & 2)
                intf->connection = XENSTORE_RECONNECT;
            store_ring_kick(c[3]);
            /* The guest reads its responses. */
            intf->rsp_cons = intf->rsp_prod;
        } else if (c[sel]) {
            size_t fed = store_conn_feed(c[sel], data + off, len);
            (void)fed;
            if (!(op & 1))
                drain(c[sel]);
            if (store_conn_dead(c[sel])) {
                store_conn_free(c[sel]);
                c[sel] = NULL;
            }
        }
        off += len;
    }
    char why[256];
    if (store_check(s, why, sizeof(why))) {
        fprintf(stderr, "store invariant broken: %s\n", why);
        abort();
    }
    /* Still serving. */
    static const char zero[] = "0";
    if (store_conn_request(setup, XS_GET_DOMAIN_PATH, 0, zero, sizeof(zero),
                           &rt, &r, &rl) == 0) {
        if (rt != XS_GET_DOMAIN_PATH || strcmp(r, "/local/domain/0"))
            abort();
        free(r);
    } else {
        abort();
    }
    for (int i = 0; i < 3; i++)
        if (c[i])
            store_conn_free(c[i]);
    store_conn_free(setup);
    if (c[3])
        store_ring_detach(c[3]);
    store_destroy(s);
    free(intf);
    return 0;
}
