/*
 * Runtime start-up (guest_start, called by entry.c with the start_info
 * address), the upcall (guest_upcall) and fatal exceptions (guest_trap),
 * upcall registration, command line and shutdown.
 */
#include <guest/guest.h>
#include <guest/hypercall.h>
#include <guest/evtchn.h>
#include <guest/irq.h>
#include <guest/xenbus.h>
#include <xen/arch-x86/cpuid.h>

static const struct hvm_start_info *start_info;
static const char *cmdline = "";
static bool percpu_upcall;
static int my_domid = -1;

void guest_early_panic(const char *msg)
{
    while (*msg)
        cpu_outb(0xe9, (uint8_t)*msg++);
    /* No console: a triple fault, which the VMM reports as a crash
     * instead of a silent hang. */
    guest_triple_fault();
}

static const char *const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
    "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

/* Per-vCPU upcall vectors go through the LAPIC and need an EOI; the
 * legacy CALLBACK_IRQ vector does not (same rule as Linux). Linux sends it
 * first; we send it last (or before interrupts are enabled, see
 * guest_upcall_eoi), which keeps nesting possible and keeps the EOI's exit
 * off the path of an event a handler answers. */
static bool upcall_eoi_owed;

void guest_upcall_eoi(void)
{
    if (upcall_eoi_owed) {
        upcall_eoi_owed = false;
        lapic_eoi();
    }
}

void guest_upcall(void)
{
    upcall_eoi_owed = percpu_upcall;
    evtchn_do_upcall();
    guest_upcall_eoi();
}

/* Exceptions only (the upcall has its own stub): report and crash. */
void guest_trap(struct trap_frame *f)
{
    const char *name = f->vector < 32 && exception_names[f->vector] ? exception_names[f->vector] : "?";
#ifdef __x86_64__
    printk("FATAL: exception %s (vector %lu) error %#lx at rip=%016lx cr2=%016lx\n",
           name, (unsigned long)f->vector, (unsigned long)f->error,
           (unsigned long)f->rip, (unsigned long)cpu_read_cr2());
    printk("  rax=%016lx rbx=%016lx rcx=%016lx rdx=%016lx\n", (unsigned long)f->rax,
           (unsigned long)f->rbx, (unsigned long)f->rcx, (unsigned long)f->rdx);
    printk("  rsi=%016lx rdi=%016lx rsp=%016lx rbp=%016lx\n", (unsigned long)f->rsi,
           (unsigned long)f->rdi, (unsigned long)f->rsp, (unsigned long)f->rbp);
#else
    printk("FATAL: exception %s (vector %lu) error %#lx at eip=%08lx cr2=%08lx\n",
           name, (unsigned long)f->vector, (unsigned long)f->error,
           (unsigned long)f->eip, (unsigned long)cpu_read_cr2());
    printk("  eax=%08lx ebx=%08lx ecx=%08lx edx=%08lx\n", (unsigned long)f->eax,
           (unsigned long)f->ebx, (unsigned long)f->ecx, (unsigned long)f->edx);
    printk("  esi=%08lx edi=%08lx esp=%08lx ebp=%08lx\n", (unsigned long)f->esi,
           (unsigned long)f->edi, (unsigned long)f->esp, (unsigned long)f->ebp);
#endif
    guest_exit(128 + (int)f->vector);
}

/* ---- command line ---- */

const char *guest_cmdline(void)
{
    return cmdline;
}

int guest_cmdline_get(const char *key, char *buf, size_t len)
{
    size_t klen = strlen(key);
    const char *p = cmdline;

    while (*p) {
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        size_t wlen = (size_t)(p - w);
        if (wlen >= klen && strncmp(w, key, klen) == 0 &&
            (wlen == klen || w[klen] == '=')) {
            if (buf && len) {
                size_t vlen = wlen > klen ? wlen - klen - 1 : 0;
                if (vlen > len - 1)
                    vlen = len - 1;
                memcpy(buf, w + klen + (wlen > klen), vlen);
                buf[vlen] = '\0';
            }
            return 1;
        }
    }
    return 0;
}

long guest_cmdline_int(const char *key, long dflt)
{
    char buf[24];
    const char *end;

    if (!guest_cmdline_get(key, buf, sizeof(buf)) || !buf[0])
        return dflt;
    long v = strtol_simple(buf, &end);
    return *end ? dflt : v;
}

const struct hvm_start_info *guest_start_info(void)
{
    return start_info;
}

uint64_t guest_ram_end(void)
{
    uint64_t end = 0;

    if (!start_info || start_info->version < 1 || !start_info->memmap_paddr)
        return 0;
    const struct hvm_memmap_table_entry *m =
        (const void *)(uintptr_t)start_info->memmap_paddr;
    for (uint32_t i = 0; i < start_info->memmap_entries && i < 128; i++)
        if (m[i].type == XEN_HVM_MEMMAP_TYPE_RAM && m[i].addr + m[i].size > end)
            end = m[i].addr + m[i].size;
    return end;
}

int guest_domid(void)
{
    if (my_domid < 0 && xs_available()) {
        long v;
        if (xs_read_int(XBT_NIL, "domid", &v) == 0)
            my_domid = (int)v;
    }
    return my_domid;
}

void guest_wait_until(bool (*cond)(void *), void *arg)
{
    for (;;) {
        int req = xs_poll_shutdown();
        if (req)
            guest_shutdown_reason((unsigned int)req - 1);
        cpu_cli();
        if (cond(arg))
            break;
        cpu_safe_halt();
    }
    cpu_sti();
}

void guest_shutdown_reason(unsigned int reason)
{
    struct sched_shutdown sd = { .reason = reason };

    cpu_cli();
    console_flush();
    HYPERVISOR_sched_op(SCHEDOP_shutdown, &sd);
    for (;;)
        __asm__ __volatile__("cli; hlt");
}

void guest_exit(int code)
{
    cpu_cli();
    printk("guest: exit code %d\n", code);
    guest_shutdown_reason(code == 0 ? SHUTDOWN_poweroff : SHUTDOWN_crash);
}

/* ---- upcall registration ---- */

int guest_upcall_percpu(void)
{
    return percpu_upcall;
}

static int upcall_setup(void)
{
    char opt[16] = "";
    bool can_percpu = (hypervisor_info.hvm_features & XEN_HVM_CPUID_UPCALL_VECTOR) != 0;

    guest_cmdline_get("upcall", opt, sizeof(opt));
    if (strcmp(opt, "legacy") != 0 && can_percpu) {
        struct xen_hvm_evtchn_upcall_vector uv = { .vcpu = 0, .vector = GUEST_UPCALL_VECTOR };
        long rc = HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, &uv);
        if (rc == 0) {
            percpu_upcall = true;
            return 0;
        }
        printk("guest: HVMOP_set_evtchn_upcall_vector failed (%ld), using CALLBACK_IRQ\n", rc);
    } else if (strcmp(opt, "percpu") == 0) {
        printk("guest: upcall=percpu requested but CPUID does not advertise it\n");
    }
    uint64_t via = ((uint64_t)HVM_PARAM_CALLBACK_TYPE_VECTOR << 56) | GUEST_UPCALL_VECTOR;
    return hvm_set_param(HVM_PARAM_CALLBACK_IRQ, via);
}

/* ---- start ---- */

void guest_start(uint32_t start_info_pa)
{
    start_info = (const struct hvm_start_info *)(uintptr_t)start_info_pa;
    if (!start_info || start_info->magic != XEN_HVM_START_MAGIC_VALUE)
        guest_early_panic("guest: bad hvm_start_info magic\n");
    if (start_info->cmdline_paddr && start_info->cmdline_paddr < (1ULL << 32))
        cmdline = (const char *)(uintptr_t)start_info->cmdline_paddr;

    if (hypercall_init() != 0)
        guest_early_panic("guest: no Xen CPUID leaves / hypercall page\n");
    my_domid = hypervisor_info.domid;

    guest_idt_init();
    console_init();
#ifdef __x86_64__
    const char *arch = "x86_64";
#else
    const char *arch = (cpu_read_cr4() & 0x20) ? "i386, PAE paging" : "i386, 2-level paging";
#endif
    printk("guest: xenkvm test guest (%s), Xen interface %u.%u, cmdline \"%s\"\n", arch,
           hypervisor_info.version >> 16, hypervisor_info.version & 0xffff, cmdline);

    int rc = evtchn_map_shared_info();
    if (rc) {
        printk("guest: XENMEM_add_to_physmap(shared_info) failed: %d\n", rc);
        guest_exit(2);
    }
    lapic_enable();

    char opt[16] = "";
    guest_cmdline_get("evtchn", opt, sizeof(opt));
    enum evtchn_abi abi = evtchn_init(strcmp(opt, "fifo") == 0 ? EVTCHN_ABI_FIFO : EVTCHN_ABI_2L);
    irq_init();

    if (guest_cmdline_get("vcpuinfo", opt, sizeof(opt)) && strcmp(opt, "register") == 0) {
        rc = evtchn_register_vcpu_info();
        if (rc) {
            printk("guest: VCPUOP_register_vcpu_info failed: %d\n", rc);
            guest_exit(2);
        }
        printk("guest: vcpu_info registered at %p\n", (void *)evtchn_vcpu_info());
    }
    /* HVM guests take upcalls by the interrupt flag, not the mask byte. */
    evtchn_vcpu_info()->evtchn_upcall_mask = 0;
    rc = upcall_setup();
    if (rc) {
        printk("guest: cannot register the upcall vector: %d\n", rc);
        guest_exit(2);
    }
    printk("guest: event channels: %s ABI, %s upcall vector %#x\n",
           abi == EVTCHN_ABI_FIFO ? "FIFO" : "2-level",
           percpu_upcall ? "per-vCPU" : "CALLBACK_IRQ", GUEST_UPCALL_VECTOR);
    /* An event raised before the vector existed left upcall_pending set
     * with no interrupt behind it; every later event would then find it
     * already set and not interrupt us either. Scan once by hand (with
     * IF=0, as in a real upcall) so delivery starts from a clean state. */
    if (evtchn_vcpu_info()->evtchn_upcall_pending) {
        printk("guest: upcall pending before the vector was registered; scanning\n");
        evtchn_do_upcall();
    }
    cpu_sti();

    rc = xs_init();
    if (rc)
        printk("guest: no XenStore (%d)\n", rc);

    guest_exit(guest_main(cmdline));
}
