/*
 * ACPI tables for a PVH domain, built by the VMM as Xen's toolstack does
 * (tools/libacpi): Linux's PVH entry finds them through
 * hvm_start_info.rsdp_paddr and takes its CPUs from the MADT.
 *
 *   RSDP (revision 2, both checksums) -> XSDT -> FADT, MADT
 *   FADT (revision 6) -> DSDT (a header only: there are no devices to
 *   describe). The FADT sets HW_REDUCED_ACPI, as Xen's PVH guests have it:
 *   no PM timer, SCI, GPE or sleep registers, so no FACS either. Boot
 *   flags: no VGA, no CMOS RTC (KVM emulates neither in the kernel), no
 *   8042.
 *   MADT: the local APIC at 0xfee00000, one enabled local APIC entry per
 *   vCPU (processor UID and APIC id i, the ids KVM gives vCPU i's
 *   in-kernel LAPIC), and KVM's in-kernel IOAPIC (id 0 after reset,
 *   0xfec00000, GSI base 0). PCAT_COMPAT: KVM's irqchip has the 8259s.
 *
 * The layouts are the ACPI specification's (6.x); Debian's libxen-dev has
 * no ACPI header, so the fields are written at their offsets, little
 * endian, without packed structs.
 */
#include <errno.h>
#include <string.h>

#include "vmm_int.h"

#define HDR_LEN        36     /* the System Description Table Header */
#define RSDP_LEN       36
#define RSDP_V1_LEN    20     /* the part the first checksum covers */
#define FADT_LEN       276    /* ACPI 6.0+ (hypervisor vendor id last) */
#define FADT_REV       6
#define MADT_HDR_LEN   44     /* header, local APIC address, flags */
#define MADT_LAPIC_LEN 8
#define MADT_IOAPIC_LEN 12

/* FADT field offsets */
#define FADT_DSDT        40
#define FADT_FLAGS       112
#define FADT_BOOT_ARCH   109
#define FADT_MINOR       131
#define FADT_X_DSDT      140

#define FADT_HW_REDUCED      (1u << 20)
#define BOOT_ARCH_NO_VGA     (1u << 2)
#define BOOT_ARCH_NO_CMOS_RTC (1u << 5)

#define MADT_PCAT_COMPAT     1u
#define MADT_TYPE_LAPIC      0
#define MADT_TYPE_IOAPIC     1
#define MADT_LAPIC_ENABLED   1u

#define LAPIC_GPA   0xfee00000u
#define IOAPIC_GPA  0xfec00000u
#define IOAPIC_ID   0          /* KVM's in-kernel IOAPIC after reset */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

uint8_t vmm_acpi_sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    while (len--)
        s += *p++;
    return s;
}

/* The byte at p[off] that makes p[0..len) sum to 0. */
static void set_checksum(uint8_t *p, size_t off, size_t len)
{
    p[off] = 0;
    p[off] = (uint8_t)-vmm_acpi_sum(p, len);
}

/* A table's header; its checksum is set once the body is written. */
static void header(uint8_t *t, const char sig[4], uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    put32(t + 4, len);
    t[8] = rev;
    memcpy(t + 10, "XENKVM", 6);
    memcpy(t + 16, "XENKVM  ", 8);
    put32(t + 24, 1);                   /* OEM revision */
    memcpy(t + 28, "XKVM", 4);          /* creator id */
    put32(t + 32, 1);                   /* creator revision */
}

static void finish(uint8_t *t, uint32_t len)
{
    set_checksum(t, 9, len);
}

int vmm_acpi_build(uint8_t *buf, size_t len, uint64_t gpa, uint32_t nr_vcpus,
                   uint64_t *rsdp_gpa)
{
    if (nr_vcpus == 0 || nr_vcpus > VMM_MAX_VCPUS)
        return -EINVAL;
    /* Each table 16-byte aligned, in this order. */
    size_t rsdp = 0, xsdt = 64, fadt = xsdt + 64;
    size_t dsdt = (fadt + FADT_LEN + 15) & ~(size_t)15;
    size_t madt = (dsdt + HDR_LEN + 15) & ~(size_t)15;
    size_t madt_len = MADT_HDR_LEN + MADT_IOAPIC_LEN +
                      (size_t)nr_vcpus * MADT_LAPIC_LEN;
    if (madt + madt_len > len || gpa + len > 0xffffffffull)
        return -ENOSPC;
    memset(buf, 0, len);

    uint8_t *t = buf + dsdt;
    header(t, "DSDT", HDR_LEN, 2);
    finish(t, HDR_LEN);

    t = buf + fadt;
    header(t, "FACP", FADT_LEN, FADT_REV);
    put32(t + FADT_DSDT, (uint32_t)(gpa + dsdt));
    put64(t + FADT_X_DSDT, gpa + dsdt);
    put32(t + FADT_FLAGS, FADT_HW_REDUCED);
    put16(t + FADT_BOOT_ARCH, BOOT_ARCH_NO_VGA | BOOT_ARCH_NO_CMOS_RTC);
    t[FADT_MINOR] = 0;
    finish(t, FADT_LEN);

    t = buf + madt;
    header(t, "APIC", (uint32_t)madt_len, 4);
    put32(t + 36, LAPIC_GPA);
    put32(t + 40, MADT_PCAT_COMPAT);
    uint8_t *e = t + MADT_HDR_LEN;
    e[0] = MADT_TYPE_IOAPIC;
    e[1] = MADT_IOAPIC_LEN;
    e[2] = IOAPIC_ID;
    put32(e + 4, IOAPIC_GPA);
    put32(e + 8, 0);                    /* GSI base */
    e += MADT_IOAPIC_LEN;
    for (uint32_t i = 0; i < nr_vcpus; i++, e += MADT_LAPIC_LEN) {
        e[0] = MADT_TYPE_LAPIC;
        e[1] = MADT_LAPIC_LEN;
        e[2] = (uint8_t)i;              /* ACPI processor UID */
        e[3] = (uint8_t)i;              /* APIC id = KVM's vCPU id */
        put32(e + 4, MADT_LAPIC_ENABLED);
    }
    finish(t, (uint32_t)madt_len);

    t = buf + xsdt;
    header(t, "XSDT", HDR_LEN + 2 * 8, 1);
    put64(t + HDR_LEN, gpa + fadt);
    put64(t + HDR_LEN + 8, gpa + madt);
    finish(t, HDR_LEN + 2 * 8);

    t = buf + rsdp;
    memcpy(t, "RSD PTR ", 8);
    memcpy(t + 9, "XENKVM", 6);
    t[15] = 2;                          /* revision: XSDT present */
    put32(t + 16, 0);                   /* no RSDT */
    put32(t + 20, RSDP_LEN);
    put64(t + 24, gpa + xsdt);
    set_checksum(t, 8, RSDP_V1_LEN);
    set_checksum(t, 32, RSDP_LEN);
    *rsdp_gpa = gpa + rsdp;
    return 0;
}
