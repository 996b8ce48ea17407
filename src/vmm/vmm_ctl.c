/*
 * The VMM's control socket (`xenkvm run --control PATH`): a Unix stream
 * socket; a client sends one request line, we write the answer and close.
 *
 *   irq list            the ICU's table (irq_icu_format, as irq_ctl_serve)
 *   evtchn list [DOM]   every port of every domain (or of DOM), like lsevtchn
 *   irq raise LINE      signal an eventfd-backed host line once: a test and
 *                       simulation aid standing in for a device
 *
 * One thread accepts and serves connections one at a time; each has 2 s to
 * send its request and the answer's writes give up after 2 s without
 * progress (irq_ctl_write_all), so a silent or never-reading client delays
 * others by at most that and
 * never touches guest delivery (the ICU and the vCPUs have their own
 * threads). Answers are built in memory first, so a slow reader holds no
 * lock of ours.
 */
#include <stdint.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm_int.h"

struct vmm_ctl {
    int lfd;
    int stop_fd;
    char path[108];
    pthread_t thread;
};

/* Replies are best effort: a client that went away loses its answer. */
static void send_all(int fd, const char *p, size_t n)
{
    (void)irq_ctl_write_all(fd, p, n);
}

struct evl_ctx {
    FILE *out;
    domid_t dom;
};

static void evtchn_row(void *arg, const struct evtchn_port_info *pi)
{
    struct evl_ctx *c = arg;
    char peer[48];
    switch (pi->state) {
    case EVTCHN_STATE_UNBOUND:
        snprintf(peer, sizeof(peer), "dom%u", (unsigned int)pi->remote_dom);
        break;
    case EVTCHN_STATE_INTERDOMAIN:
        snprintf(peer, sizeof(peer), "dom%u port %u",
                 (unsigned int)pi->remote_dom, pi->remote_port);
        break;
    case EVTCHN_STATE_VIRQ:
        snprintf(peer, sizeof(peer), "virq %u", pi->virq);
        break;
    case EVTCHN_STATE_PIRQ:
        snprintf(peer, sizeof(peer), "pirq %u", pi->pirq);
        break;
    default:
        snprintf(peer, sizeof(peer), "-");
    }
    fprintf(c->out, "%-4u %-6u %-12s %-5u %-16s %-5s %-5s %-5u %s\n",
            (unsigned int)c->dom, pi->port, evtchn_state_name(pi->state),
            pi->vcpu, peer, pi->pending ? "yes" : "no",
            pi->masked ? "yes" : "no", (unsigned int)pi->priority,
            pi->host_consumer ? "host" : "-");
}

static void evtchn_list_dom(struct vmm_host *h, FILE *out, domid_t dom)
{
    struct vmm_domain *d = dom ? __atomic_load_n(&h->domains[dom],
                                                 __ATOMIC_ACQUIRE) : NULL;
    int abi = evtchn_domain_abi(h->evtchn, dom);
    const char *state = "";
    if (d)
        switch (vmm_domain_outcome(d, NULL)) {
        case VMM_RUNNING: state = d->started ? "running" : "created"; break;
        case VMM_SHUTDOWN: state = "shut down"; break;
        case VMM_CRASHED: state = "crashed"; break;
        case VMM_KILLED: state = "destroyed"; break;
        }
    fprintf(out, "# dom%u %s: %s ABI%s%s\n", (unsigned int)dom,
            d ? d->name : dom == 0 ? "Domain-0" : "(being built)", abi == 3 ? "FIFO" : "2-level",
            *state ? ", " : "", state);
    struct evl_ctx c = { .out = out, .dom = dom };
    evtchn_port_foreach(h->evtchn, dom, evtchn_row, &c);
}

static void evtchn_list(struct vmm_host *h, FILE *out, const char *arg)
{
    long only = -1;
    if (arg && *arg) {
        char *end;
        errno = 0;
        only = strtol(arg, &end, 10);
        if (errno || *end || only < 0 || only >= VMM_MAX_DOMAINS) {
            fprintf(out, "error: bad domain id '%.16s'\n", arg);
            return;
        }
        if (evtchn_domain_abi(h->evtchn, (domid_t)only) < 0) {
            fprintf(out, "error: no domain %ld\n", only);
            return;
        }
    }
    fprintf(out, "%-4s %-6s %-12s %-5s %-16s %-5s %-5s %-5s %s\n", "DOM",
            "PORT", "STATE", "VCPU", "REMOTE", "PEND", "MASK", "PRIO",
            "CONSUMER");
    for (int i = 0; i < VMM_MAX_DOMAINS; i++) {
        if (only >= 0 && i != only)
            continue;
        if (evtchn_domain_abi(h->evtchn, (domid_t)i) < 0)
            continue;
        evtchn_list_dom(h, out, (domid_t)i);
    }
}

static void irq_raise(struct vmm_host *h, FILE *out, const char *arg)
{
    char *end;
    errno = 0;
    long line = arg ? strtol(arg, &end, 10) : -1;
    if (!arg || errno || *end || line < 0 || line >= (long)IRQ_MAX_LINES) {
        fprintf(out, "error: usage: irq raise LINE\n");
        return;
    }
    struct irq_line_info li;
    if (irq_icu_line_info(h->icu, (unsigned int)line, &li) < 0 ||
        !li.has_source) {
        fprintf(out, "error: host line %ld has no source\n", line);
        return;
    }
    if (strncmp(li.source, "eventfd", 7)) {
        fprintf(out, "error: host line %ld is %s, not an eventfd line\n", line,
                li.source);
        return;
    }
    int fd = irq_icu_source_fd(h->icu, (unsigned int)line);
    uint64_t one = 1;
    if (fd < 0 || write(fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
        fprintf(out, "error: host line %ld: %s\n", line,
                strerror(fd < 0 ? -fd : errno));
    else
        fprintf(out, "ok\n");
}

static void serve(struct vmm_host *h, int fd)
{
    char req[128];
    if (irq_ctl_read_line(fd, req, sizeof(req)) < 0)
        return;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return;
    char *save = NULL;
    char *w1 = strtok_r(req, " \t", &save);
    char *w2 = w1 ? strtok_r(NULL, " \t", &save) : NULL;
    char *w3 = w2 ? strtok_r(NULL, " \t", &save) : NULL;
    char *w4 = w3 ? strtok_r(NULL, " \t", &save) : NULL;
    /* sink_lock: see vmm_int.h; the answer is only built here, sent later */
    pthread_mutex_lock(&h->sink_lock);
    if (w1 && w2 && !strcmp(w1, "irq") && !strcmp(w2, "list") && !w3)
        irq_icu_format(h->icu, out);
    else if (w1 && w2 && !strcmp(w1, "irq") && !strcmp(w2, "raise") && !w4)
        irq_raise(h, out, w3);
    else if (w1 && w2 && !strcmp(w1, "evtchn") && !strcmp(w2, "list") && !w4)
        evtchn_list(h, out, w3);
    else
        fprintf(out, "error: unknown request (known: irq list, evtchn list "
                "[DOMID], irq raise LINE)\n");
    pthread_mutex_unlock(&h->sink_lock);
    if (fclose(out) == 0)
        send_all(fd, text, len);
    free(text);
}

static void *ctl_thread(void *arg)
{
    struct vmm_host *h = arg;
    struct vmm_ctl *c = h->ctl;
    pthread_setname_np(pthread_self(), "xenkvm-ctl");
    for (;;) {
        struct pollfd p[2] = { { .fd = c->lfd, .events = POLLIN },
                               { .fd = c->stop_fd, .events = POLLIN } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        serve(h, fd);
        close(fd);
    }
    return NULL;
}

int vmm_ctl_start(struct vmm_host *h, const char *path, char *err,
                  size_t errlen)
{
    struct vmm_ctl *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->lfd = c->stop_fd = -1;
    snprintf(c->path, sizeof(c->path), "%s", path);
    c->lfd = util_unix_listen(path, 16, 0);
    if (c->lfd < 0) {
        int e = -c->lfd;
        if (e == EADDRINUSE)
            snprintf(err, errlen, "control socket %s is in use by another "
                     "xenkvm (give --control PATH)", path);
        else
            snprintf(err, errlen, "control socket %s: %s", path, strerror(e));
        free(c);
        return -e;
    }
    c->stop_fd = eventfd(0, EFD_CLOEXEC);
    h->ctl = c;
    int rc = c->stop_fd < 0 ? errno : pthread_create(&c->thread, NULL,
                                                     ctl_thread, h);
    if (rc) {
        snprintf(err, errlen, "control socket thread: %s", strerror(rc));
        h->ctl = NULL;
        close(c->lfd);
        if (c->stop_fd >= 0)
            close(c->stop_fd);
        unlink(path);
        free(c);
        return -rc;
    }
    return 0;
}

void vmm_ctl_stop(struct vmm_host *h)
{
    struct vmm_ctl *c = h->ctl;
    if (!c)
        return;
    uint64_t one = 1;
    if (write(c->stop_fd, &one, sizeof(one)) < 0) {
        /* cannot fail for a fresh eventfd */
    }
    pthread_join(c->thread, NULL);
    close(c->lfd);
    close(c->stop_fd);
    unlink(c->path);
    free(c);
    h->ctl = NULL;
}
