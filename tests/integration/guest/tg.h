/* Shared helpers of the VMM's test guest. */
#ifndef TG_H
#define TG_H
#include <stdint.h>
long tg_hcall(unsigned int nr, uint64_t a1, uint64_t a2, uint64_t a3);
void tg_check(int cond, const char *what);
void tg_put_dec(const char *label, uint64_t v);
void tg_events(void);
void tg_pong(domid_t peer, uint64_t rounds);
void tg_ping(domid_t peer, evtchn_port_t port, uint64_t rounds);
#endif
