/*
 * host.c - the EL1 host test kernel: the untrusted KVM host of SeKVM, on every CPU at once.
 *
 * MMU off (every data access is Device memory: no exclusives, so the CPUs share nothing but
 * what EL2 provides), stage 2 on from the first instruction: every page it touches is a
 * host stage-2 fault that KCore maps through the engine. Per CPU c:
 *   1. touch HOST_TOUCH_PAGES pages of its window (host stage-2 faults)
 *   2. SMMU: a host-owned context bank, LPAE map / iova_to_phys / clear cycles, and the
 *      emulated register window (reads, allowed writes, refused writes)
 *   3. VMS_PER_CPU VMs, one after another: REGISTER_KVM, REGISTER_VCPU, (the first) an SMMU
 *      bank for the VM, PHYS_ADDR_IOREMAP, SET_BOOT_INFO, REMAP_VM_IMAGE, VERIFY_VM_IMAGE,
 *      then VCPU_RUN until the guest powers off, answering its stage-2 faults and MMIO,
 *      then SMMU_FREE_PGD and CLEAR_VM_S2_RANGE
 *   4. forbidden things, each expected to be refused (error code, nothing changed)
 *   5. HVC_LOOPS rounds of cheap calls (and refused ones) so every CPU traps >= 1000 times
 * and reports pass/fail with VH_DONE.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "kcore.h"
#include "layout.h"
#include "sysreg.h"

#define VMS_PER_CPU 3
#define HOST_TOUCH_PAGES 256
#define HVC_LOOPS 150
#define SMMU_PAGES 8

extern const uint8_t guest_bin[], guest_bin_end[], guest_sig[];
/* host_start.S: every lane of v0..v31 = v / how many lanes hold v (FP/SIMD switch check) */
void host_fp_set(uint64_t v);
uint64_t host_fp_count(uint64_t v);
/* host_start.S: the system-register switch check (vcpu.c's table) */
void host_sys_set(uint64_t v);
uint64_t host_sys_count(uint64_t v, uint64_t ctl);
uint64_t host_sys_absent(void);
/* KCore's key the guest is signed with: the EL2 image compiles the test key in as key 0 */
#define GUEST_KEY_IDX 0u

/* the compiler may call these for struct copies */
void *memcpy(void *d, const void *s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;
	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memset(void *d, int c, size_t n)
{
	uint8_t *dp = d;
	while (n--)
		*dp++ = (uint8_t)c;
	return d;
}

static uint64_t hvc(uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3, uint64_t x4, uint64_t x5)
{
	register uint64_t r0 __asm__("x0") = x0, r1 __asm__("x1") = x1, r2 __asm__("x2") = x2,
				  r3 __asm__("x3") = x3, r4 __asm__("x4") = x4, r5 __asm__("x5") = x5;
	__asm__ volatile("hvc #0" : "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3), "+r"(r4), "+r"(r5) : : "memory");
	return r0;
}

struct cpu_ctx {
	unsigned cpu;
	uint64_t checks, fails;
	char line[208];
	struct host_vcpu hv;
	uint8_t sig[64] __attribute__((aligned(16)));
} __attribute__((aligned(64)));

static struct cpu_ctx ctxs[EL2_MAX_CPUS];

/* ---- output through EL2 (one line at a time) ----------------------------------------------- */
static void put_u64(char **p, char *end, uint64_t v, unsigned base)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n && *p < end)
		*(*p)++ = tmp[--n];
}

/* a tiny formatter: %s %u (64-bit) %x (64-bit) */
static void say(struct cpu_ctx *c, const char *fmt, ...)
{
	char *p = c->line, *end = c->line + sizeof(c->line) - 1;
	va_list ap;

	va_start(ap, fmt);
	for (; *fmt && p < end; fmt++) {
		if (*fmt != '%') {
			*p++ = *fmt;
			continue;
		}
		fmt++;
		if (*fmt == 's')
			for (const char *s = va_arg(ap, const char *); *s && p < end; s++)
				*p++ = *s;
		else if (*fmt == 'u')
			put_u64(&p, end, va_arg(ap, uint64_t), 10);
		else if (*fmt == 'x')
			put_u64(&p, end, va_arg(ap, uint64_t), 16);
	}
	va_end(ap);
	*p = 0;
	hvc(VH_PUTS, (uint64_t)(uintptr_t)c->line, 0, 0, 0, 0);
}

static void expect(struct cpu_ctx *c, int ok, const char *what, uint64_t got)
{
	c->checks++;
	if (!ok) {
		c->fails++;
		say(c, "FAIL %s (got 0x%x)", what, got);
	}
}

#define EXPECT_EQ(c, got, want, what)                                                        \
	do {                                                                                 \
		uint64_t _g = (uint64_t)(got);                                               \
		expect((c), _g == (uint64_t)(want), (what), _g);                             \
	} while (0)

static uint64_t win(unsigned cpu, uint64_t off)
{
	return HOST_CPU_BASE + (uint64_t)cpu * HOST_CPU_STRIDE + off;
}

/* MMIO accesses with a known encoding (ISV set: one register, no writeback) */
static uint32_t mmio_r32(uint64_t a)
{
	uint32_t v;
	__asm__ volatile("ldr %w0, [%1]" : "=r"(v) : "r"(a) : "memory");
	return v;
}

static void mmio_w32(uint64_t a, uint32_t v)
{
	__asm__ volatile("str %w0, [%1]" : : "r"(v), "r"(a) : "memory");
}

static uint64_t mmio_r64(uint64_t a)
{
	uint64_t v;
	__asm__ volatile("ldr %0, [%1]" : "=r"(v) : "r"(a) : "memory");
	return v;
}

static void mmio_w64(uint64_t a, uint64_t v)
{
	__asm__ volatile("str %0, [%1]" : : "r"(v), "r"(a) : "memory");
}

/* ---- 1. memory --------------------------------------------------------------------------------- */
static void touch_memory(struct cpu_ctx *c)
{
	for (unsigned i = 0; i < HOST_TOUCH_PAGES; i++) {
		volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)(win(c->cpu, HOST_TOUCH_OFF) + i * 4096ull);
		p[1] = 0x484F5354ull ^ i;
	}
	for (unsigned i = 0; i < HOST_TOUCH_PAGES; i++) {
		volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)(win(c->cpu, HOST_TOUCH_OFF) + i * 4096ull);
		if (p[1] != (0x484F5354ull ^ i))
			expect(c, 0, "touched page keeps its value", p[1]);
	}
	c->checks++;
}

/* ---- 2. SMMU ------------------------------------------------------------------------------------ */
static void smmu_host_bank(struct cpu_ctx *c)
{
	uint64_t cb = c->cpu, idx = 0, base = KC_SMMU_BASE + idx * KC_SMMU_SIZE;
	uint64_t cbreg = base + KC_SMMU_GLOBAL_BASE + cb * KC_SMMU_CB_SIZE;

	EXPECT_EQ(c, hvc(HVC_SMMU_ALLOC_PGD, cb, 0, idx, 0, 0), 0, "SMMU_ALLOC_PGD host bank");
	for (unsigned round = 0; round < 4; round++) {
		for (unsigned i = 0; i < SMMU_PAGES; i++) {
			uint64_t pa = win(c->cpu, HOST_SMMU_OFF) + i * 4096ull;
			EXPECT_EQ(c, hvc(HVC_SMMU_LPAE_MAP, pa, pa, 3, cb, idx), 0, "SMMU_LPAE_MAP (identity)");
			EXPECT_EQ(c, hvc(HVC_SMMU_LPAE_IOVA_TO_PHYS, pa + 0x10, cb, idx, 0, 0), pa + 0x10,
				  "SMMU_LPAE_IOVA_TO_PHYS");
		}
		for (unsigned i = 0; i < SMMU_PAGES; i++) {
			uint64_t pa = win(c->cpu, HOST_SMMU_OFF) + i * 4096ull;
			EXPECT_EQ(c, hvc(HVC_SMMU_CLEAR, pa, cb, idx, 0, 0), 0, "SMMU_CLEAR");
			EXPECT_EQ(c, hvc(HVC_SMMU_LPAE_IOVA_TO_PHYS, pa, cb, idx, 0, 0), 0, "iova unmapped after clear");
		}
	}
	/* the emulated register window (host MMIO traps) */
	expect(c, (mmio_r32(base + SMMU_GR0_sCR0) & SMMU_sCR0_SMCFCFG) != 0, "sCR0.SMCFCFG set", 0);
	mmio_w32(base + SMMU_GR0_sCR0, 0);   /* refused: would clear SMCFCFG */
	expect(c, (mmio_r32(base + SMMU_GR0_sCR0) & SMMU_sCR0_SMCFCFG) != 0, "sCR0 write refused", 0);
	mmio_w32(base + SMMU_GR1_BASE + cb * 4, 0x3000000);  /* CBAR of a host bank: stage 2, VMID 0 */
	EXPECT_EQ(c, mmio_r32(base + SMMU_GR1_BASE + cb * 4), 0x3000000, "CBAR of a host bank written");
	/* refused (mmio.c's rule table, SPEC §16): each would let DMA bypass KCore's tables */
	mmio_w32(base + SMMU_GR1_BASE + cb * 4, 0x12345);    /* CBAR type 1 (S2 bypass), VMID 0x45 */
	EXPECT_EQ(c, mmio_r32(base + SMMU_GR1_BASE + cb * 4), 0x3000000, "host CBAR type S1+bypass refused");
	mmio_w32(base + SMMU_GR0_sCR0, SMMU_sCR0_SMCFCFG | SMMU_sCR0_USFCFG | SMMU_sCR0_CLIENTPD);
	expect(c, !(mmio_r32(base + SMMU_GR0_sCR0) & SMMU_sCR0_CLIENTPD), "sCR0.CLIENTPD (bypass) refused", 0);
	mmio_w32(base + SMMU_GR0_S2CR_BASE + 4 * c->cpu, SMMU_S2CR_TYPE_BYPASS << SMMU_S2CR_TYPE_SHIFT);
	EXPECT_EQ(c, mmio_r32(base + SMMU_GR0_S2CR_BASE + 4 * c->cpu), SMMU_S2CR_TYPE_FAULT << SMMU_S2CR_TYPE_SHIFT,
		  "S2CR bypass refused");
	mmio_w32(base + SMMU_GR0_S2CR_BASE + 4 * c->cpu, (uint32_t)cb);   /* into its own bank: allowed */
	EXPECT_EQ(c, mmio_r32(base + SMMU_GR0_S2CR_BASE + 4 * c->cpu), cb, "S2CR into the host's bank");
	mmio_w32(cbreg + SMMU_CB_SCTLR, 0);                   /* translation off: refused */
	expect(c, (mmio_r32(cbreg + SMMU_CB_SCTLR) & SMMU_SCTLR_M) != 0, "SCTLR.M = 0 refused", 0);
	mmio_w64(cbreg + SMMU_CB_TTBR0, 0x1234000);          /* KCore keeps its own root */
	expect(c, mmio_r64(cbreg + SMMU_CB_TTBR0) != 0x1234000 && mmio_r64(cbreg + SMMU_CB_TTBR0) != 0,
	       "CB TTBR0 holds KCore's root", mmio_r64(cbreg + SMMU_CB_TTBR0));
	mmio_w32(cbreg + SMMU_CB_CONTEXTIDR, 7);             /* refused */
	EXPECT_EQ(c, mmio_r32(cbreg + SMMU_CB_CONTEXTIDR), 0, "CONTEXTIDR write refused");
}

/* ---- the TLB race (SPEC §15, issue 9.6) ---------------------------------------------------------------
 * CPU 1 keeps loading a page of CPU 0's while CPU 0 answers its first guest's first stage-2
 * fault with that page. From the hand-over (OASSIGN_VM, inside VCPU_RUN) on, CPU 1's load
 * must fault: the step invalidated every CPU's TLB before the guest could write there. The
 * image counts and skips the faulting loads (VH_TLB_PROBE), so a skipped load leaves the
 * sentinel in the register. Any other value than the host's mark is the VM's data. */
#define RACE_MARK 0x484F53544D41524Bull
#define RACE_SENTINEL 0x5E5E5E5E5E5E5E5Eull
#define RACE_SPIN 20000000ull
static volatile uint64_t race_phase;   /* 1 reader may start, 2 hand-over done */
static volatile uint64_t race_reads, race_leaked, race_leak_val, race_faulted, race_done, race_late;

static uint64_t race_page(void)
{
	return win(0, HOST_GPOOL_OFF) + 500 * 4096ull;   /* beyond what gpool_next hands out */
}

static void tlb_reader(struct cpu_ctx *c)
{
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)race_page();

	/* CPU 0 starts it (sev) when it answers its guest's first fault; wfe lets the other
	 * vCPUs run meanwhile (QEMU's single-threaded TCG runs them round-robin) */
	while (race_phase < 1)
		__asm__ volatile("wfe" : : : "memory");
	for (;;) {
		uint64_t v = RACE_SENTINEL, phase = race_phase;
		__asm__ volatile("ldr %0, [%1]" : "+r"(v) : "r"(p) : "memory");
		if (v == RACE_SENTINEL) {
			race_faulted = 1;   /* the load trapped: the translation was gone */
			break;
		}
		if (v != RACE_MARK) {
			race_leaked++;
			race_leak_val = v;
		}
		if (++race_reads == 16)
			__asm__ volatile("dsb sy\n\tsev" : : : "memory");   /* CPU 0 may hand it over */
		if (phase >= 2) {
			race_late = 1;      /* a load completed after the hand-over had finished */
			break;
		}
	}
	race_done = 1;
	c->checks++;
}

/* CPU 0, before its first VM: the page, mapped for the host, and the image told of it */
static bool tlb_race_begin(struct cpu_ctx *c)
{
	uint64_t ncpus;

	*(volatile uint64_t *)(uintptr_t)race_page() = RACE_MARK;
	ncpus = hvc(VH_TLB_PROBE, race_page(), 0, 0, 0, 0);   /* x0: the number of CPUs */
	expect(c, (int64_t)ncpus >= 1, "VH_TLB_PROBE", ncpus);
	if ((int64_t)ncpus < 2) {
		say(c, "TLB race not run: it needs a second CPU");
		return false;
	}
	return true;
}

/* CPU 0, answering the first fault with the race page: the reader starts, and the next
 * VCPU_RUN hands the page over only once the reader has it in its TLB */
static void tlb_race_start(void)
{
	race_phase = 1;
	__asm__ volatile("dsb sy\n\tsev" : : : "memory");
	while (race_reads < 16 && !race_done)
		__asm__ volatile("wfe" : : : "memory");
}

static void tlb_race_end(struct cpu_ctx *c)
{
	uint64_t spin = 0;

	race_phase = 2;
	while (!race_done && spin++ < RACE_SPIN)
		;
	expect(c, race_done != 0, "TLB race: the reader finished", race_reads);
	EXPECT_EQ(c, race_leaked, 0, "TLB race: the host read the VM's page after the hand-over");
	expect(c, race_faulted != 0 && !race_late, "TLB race: the reader's load faulted after the hand-over",
	       race_late);
	expect(c, hvc(VH_TLB_PROBE_FAULTS, 0, 0, 0, 0, 0) >= 1, "TLB race: the image saw the faulting load", 0);
	say(c, "TLB race: %u host loads before the hand-over, then a fault (leaked %u, value 0x%x)", race_reads,
	    race_leaked, race_leak_val);
}

/* ---- 3. VMs ----------------------------------------------------------------------------------------- */
static uint64_t gpool_next(struct cpu_ctx *c, unsigned *n)
{
	return win(c->cpu, HOST_GPOOL_OFF) + (uint64_t)(*n)++ * 4096ull;
}

static void run_vm(struct cpu_ctx *c, unsigned j, unsigned *gp, bool race)
{
	struct host_vcpu *hv = &c->hv;
	uint64_t chunk = win(c->cpu, HOST_IMG_OFF) + (uint64_t)j * 0x200000ull;
	uint64_t size = (uint64_t)(guest_bin_end - guest_bin), vmid, r, runs = 0;
	bool first = j == 0, off = false;
	uint64_t mmio_seen = 0, reported = 0, faults = 0;
	uint64_t fp_leaks = 0, fp_lost = 0, guest_fp = ~0ull;
	uint64_t sys_leaks = 0, sys_lost = 0, guest_sys = ~0ull, guest_raz = ~0ull;
	uint64_t guest_hostcalls = ~0ull, guest_smcs = ~0ull, hvc_exits = 0;

	for (unsigned i = 0; i < 64; i++)
		c->sig[i] = guest_sig[i];
	memset(hv, 0, sizeof(*hv));
	hv->boot_pc = GUEST_IPA;
	vmid = hvc(HVC_REGISTER_KVM, GUEST_KEY_IDX, 0x1000 + c->cpu * 16 + j, 0, 0, 0);
	expect(c, (int64_t)vmid >= 1 && vmid <= HL_MAX_VM, "REGISTER_KVM gives a vmid", vmid);
	if ((int64_t)vmid < 1)
		return;
	EXPECT_EQ(c, hvc(HVC_REGISTER_VCPU, vmid, 0, (uint64_t)(uintptr_t)hv, 0, 0), 0, "REGISTER_VCPU");
	if (first)
		EXPECT_EQ(c, hvc(HVC_SMMU_ALLOC_PGD, c->cpu, vmid, 1, 0, 0), 0, "SMMU_ALLOC_PGD for the VM");
	EXPECT_EQ(c, hvc(HVC_PHYS_ADDR_IOREMAP, vmid, GUEST_MMIO_IPA, GUEST_MMIO_IPA, 4096, 0), 0,
		  "PHYS_ADDR_IOREMAP");
	for (uint64_t i = 0; i < size; i++)
		((volatile uint8_t *)(uintptr_t)chunk)[i] = guest_bin[i];
	EXPECT_EQ(c, hvc(HVC_SET_BOOT_INFO, vmid, GUEST_IPA, size, (uint64_t)(uintptr_t)c->sig, 0), 0,
		  "SET_BOOT_INFO gives load index 0");
	for (uint64_t off4k = 0; off4k < size; off4k += 4096)
		EXPECT_EQ(c, hvc(HVC_REMAP_VM_IMAGE, vmid, (chunk + off4k) / 4096, 0, 0, 0), 0, "REMAP_VM_IMAGE");
	r = hvc(HVC_VERIFY_VM_IMAGE, vmid, 0, 0, 0, 0);
	EXPECT_EQ(c, r, 1, "VERIFY_VM_IMAGE verifies the signed image");
	if (r != 1)
		return;   /* VCPU_RUN of an unverified VM halts the CPU (OVM_ACTIVE) */
	EXPECT_EQ(c, hvc(HVC_TIMER_SET_CNTVOFF, 0, 0, 0, 0, 0), 0, "TIMER_SET_CNTVOFF");
	EXPECT_EQ(c, hvc(HVC_ENABLE_S2_TRANS, 0, 0, 0, 0, 0), 0, "ENABLE_S2_TRANS");

	while (!off && runs < 200) {
		/* FP/SIMD (REFERENCE 5.4): the host's own value in every lane before the run; after
		 * it, the host must find exactly that again, never the guest's secret */
		host_fp_set(HOST_FP_VALUE + c->cpu);
		/* system registers (vcpu.c's table): the same for TPIDR*, SP_EL0, ELR_EL1 and the
		 * virtual timer; and the debug/PMU/physical-timer values the guest must not read */
		host_sys_set(HOST_SYS_VALUE + 16 * c->cpu);
		r = hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0);
		runs++;
		fp_leaks += host_fp_count(GUEST_FP_SECRET);
		fp_lost += 64 - host_fp_count(HOST_FP_VALUE + c->cpu);
		sys_leaks += host_sys_count(GUEST_SYS_SECRET, 3);
		sys_lost += SYS_SWITCHED - host_sys_absent() - host_sys_count(HOST_SYS_VALUE + 16 * c->cpu, 2);
		if (race && faults == 1 && race_phase == 1)
			tlb_race_end(c);   /* that run handed the page over and ran the guest */
		hv->fault_addr = 0;
		if (r != ARCH_EXIT_TRAP) {
			expect(c, 0, "VCPU_RUN exits with a trap", r);
			break;
		}
		switch (esr_ec(hv->exit_esr)) {
		case EC_DABT_LOW:
		case EC_IABT_LOW: {
			uint64_t ipa = hpfar_to_ipa(hv->exit_hpfar, hv->exit_far);
			if (ipa >= HL_MAX_MMIO_ADDR) {
				/* the host picks a page of its own for the guest */
				/* the TLB race: the first fault gets the page cpu 1 is reading */
				uint64_t pa = race && faults == 0 ? race_page() : gpool_next(c, gp);
				if (race && faults == 0)
					tlb_race_start();
				hv->fault_addr = ipa & ~0xFFFull;
				hv->fault_pte = pa | HL_PAGE_S2_KERNEL;
				hv->fault_level = 3;
				faults++;
			} else if (hv->exit_dirty & 0x7FFFFFFFull) {
				unsigned rt = esr_srt(hv->exit_esr);
				hv->regs[rt] = 0x600D0000ull + c->cpu;   /* an MMIO read the host answers */
				mmio_seen++;
			} else {
				if ((ipa & 0xFF) == 16)
					reported = hv->exit_value;
				if ((ipa & 0xFF) == 24)
					guest_fp = hv->exit_value;
				if ((ipa & 0xFF) == 32)
					guest_sys = hv->exit_value;
				if ((ipa & 0xFF) == 40)
					guest_raz = hv->exit_value;
				if ((ipa & 0xFF) == 48)
					guest_hostcalls = hv->exit_value;
				if ((ipa & 0xFF) == 56)
					guest_smcs = hv->exit_value;
				mmio_seen++;
			}
			break;
		}
		case EC_HVC64:
			if ((uint32_t)hv->exit_value == PSCI_0_2_FN_SYSTEM_OFF)
				off = true;
			else
				hvc_exits++;   /* guest.S 6e: a host call number from the guest */
			break;
		default:
			break;   /* WFx: nothing to do */
		}
	}
	expect(c, off, "the guest powered off", runs);
	EXPECT_EQ(c, faults, GUEST_DATA_PAGES, "guest stage-2 faults answered");
	EXPECT_EQ(c, mmio_seen, 8, "guest MMIO exits");
	/* el2red: the guest's SMCs never reached the firmware nor stopped this CPU, and its HVCs
	 * with the host's call numbers came to the host as unknown exits, unanswered */
	EXPECT_EQ(c, guest_smcs, GUEST_SMC_CALLS, "guest SMCs (PSCI RESET/OFF/CPU_ON...) answered NOT_SUPPORTED by KCore");
	EXPECT_EQ(c, guest_hostcalls, GUEST_HOST_CALLS, "guest HVCs with host call numbers left unanswered");
	EXPECT_EQ(c, hvc_exits, GUEST_HOST_CALLS, "guest HVCs with host call numbers exit to the host");
	EXPECT_EQ(c, fp_leaks, 0, "FP/SIMD lanes of the guest the host read after VCPU_RUN");
	EXPECT_EQ(c, fp_lost, 0, "FP/SIMD lanes of the host not restored after VCPU_RUN");
	EXPECT_EQ(c, guest_fp, 64, "FP/SIMD lanes the guest kept across its exits");
	EXPECT_EQ(c, sys_leaks, 0, "system registers (TPIDR*, SP_EL0, ELR_EL1, CNTV_*, PAuth keys) of the guest the host read after VCPU_RUN");
	EXPECT_EQ(c, sys_lost, 0, "system registers of the host not restored after VCPU_RUN");
	/* QEMU 7.2's -cpu max has PAuth and SME: the key and TPIDR2_EL0 checks are not vacuous */
	EXPECT_EQ(c, host_sys_absent(), 0, "PAuth / TPIDR2_EL0 registers this CPU lacks");
	EXPECT_EQ(c, guest_sys, SYS_GUEST_KEPT, "system registers the guest kept across its exits (DISR_EL1 0 at its start, PACGA ran)");
	EXPECT_EQ(c, guest_raz, SYS_REFUSED, "debug/PMU/CNTP registers that read as 0 in the guest");
	EXPECT_EQ(c, reported, 0x600D0000ull + c->cpu, "the guest read the host's MMIO answer");
	/* forbidden: a powered-off VM's bank may go, a second REGISTER_VCPU slot out of range */
	if (first)
		EXPECT_EQ(c, hvc(HVC_SMMU_FREE_PGD, c->cpu, 1, 0, 0, 0), 0, "SMMU_FREE_PGD after power-off");
	EXPECT_EQ(c, (int64_t)hvc(HVC_REGISTER_VCPU, vmid, HL_VCPU_PER_VM, (uint64_t)(uintptr_t)hv, 0, 0), KC_EINVAL,
		  "REGISTER_VCPU with vcpuid out of range refused");
	EXPECT_EQ(c, hvc(HVC_CLEAR_VM_S2_RANGE, vmid, GUEST_IPA, 0x400000, 0, 0), 0, "CLEAR_VM_S2_RANGE");
	/* the image chunk is the host's again, zeroed by KCore */
	EXPECT_EQ(c, *(volatile uint64_t *)(uintptr_t)chunk, 0, "cleared VM page comes back zeroed");
}

/* ---- 4/5. forbidden things and the hypercall mill ------------------------------------------------- */
static void forbidden(struct cpu_ctx *c)
{
	volatile uint64_t *el2mem = (volatile uint64_t *)(uintptr_t)EL2_MEM_BASE;
	uint64_t v = 0x5AFE;

	EXPECT_EQ(c, (int64_t)hvc(99, 0, 0, 0, 0, 0), KC_ENOSYS, "unknown hypercall refused");
	EXPECT_EQ(c, (int64_t)hvc(HVC_ENCRYPT_BUF, 0, 0, 0, 0, 0), KC_ENOTSUP, "ENCRYPT_BUF not supported");
	EXPECT_EQ(c, (int64_t)hvc(HVC_VCPU_RUN, 0, 0, 0, 0, 0), KC_EINVAL, "VCPU_RUN of vmid 0 refused");
	EXPECT_EQ(c, (int64_t)hvc(HVC_VCPU_RUN, HL_MAX_VM + 1, 0, 0, 0, 0), KC_EINVAL, "VCPU_RUN of COREVISOR refused");
	EXPECT_EQ(c, (int64_t)hvc(HVC_SMMU_LPAE_MAP, 0x1000, EL2_MEM_BASE, 3, c->cpu, 0), KC_EINVAL,
		  "SMMU map of a non-RAM page refused");
	EXPECT_EQ(c, (int64_t)hvc(HVC_SMMU_LPAE_MAP, 0x1000, win(c->cpu, HOST_SMMU_OFF), 7, c->cpu, 0), KC_EINVAL,
		  "SMMU map with bad prot refused");
	EXPECT_EQ(c, (int64_t)hvc(HVC_PHYS_ADDR_IOREMAP, 0, 0, 0, 4096, 0), KC_EINVAL, "IOREMAP for the host refused");
	EXPECT_EQ(c, (int64_t)hvc(HVC_CLEAR_VM_S2_RANGE, 1, 0x123, 4096, 0, 0), KC_EINVAL,
		  "CLEAR_VM_S2_RANGE unaligned refused");
	EXPECT_EQ(c, (int64_t)hvc(HVC_REGISTER_KVM, GUEST_KEY_IDX + 1, 0, 0, 0, 0), KC_EINVAL,
		  "REGISTER_KVM naming a key KCore does not hold refused");
	EXPECT_EQ(c, (int64_t)hvc(HVC_REGISTER_KVM, EL2_MEM_BASE, 0, 0, 0, 0), KC_EINVAL,
		  "REGISTER_KVM with an address for a key index refused");
	/* the hypervisor's memory: the access is refused and skipped, v keeps its value */
	__asm__ volatile("ldr %0, [%1]" : "+r"(v) : "r"(el2mem) : "memory");
	EXPECT_EQ(c, v, 0x5AFE, "load from EL2 memory refused");
}

/* ---- 4b. EL2-only attacks (el2red): what exists only in the real trap path ---------------------- */
static uint64_t smc(uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3)
{
	register uint64_t r0 __asm__("x0") = x0, r1 __asm__("x1") = x1, r2 __asm__("x2") = x2,
				  r3 __asm__("x3") = x3;
	__asm__ volatile("smc #0" : "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3) : : "memory");
	return r0;
}

static void el2_attacks(struct cpu_ctx *c)
{
	volatile uint64_t *el2mem = (volatile uint64_t *)(uintptr_t)(EL2_MEM_BASE + 0x100);
	uint64_t other = (c->cpu + 1) % EL2_MAX_CPUS, r;

	/* the firmware is KCore's, never the host's: QEMU's PSCI CPU_ON starts a CPU at EL2,
	 * so a host that reaches it (no HCR_EL2.TSC) runs its own code at EL2 after CPU_OFF +
	 * CPU_ON. A harmless probe first: the firmware answers VERSION with 0x1xxxx; KCore
	 * answers every host SMC NOT_SUPPORTED. Only when the probe shows that KCore answers are
	 * the calls that would stop this CPU or the machine made (on a KCore without the trap
	 * they would hang the run instead of failing it) */
	r = smc(PSCI_0_2_FN_VERSION, 0, 0, 0);
	EXPECT_EQ(c, r, SMCCC_RET_NOT_SUPPORTED, "host SMC PSCI_VERSION answered by KCore, not the firmware");
	if (r == SMCCC_RET_NOT_SUPPORTED) {
		EXPECT_EQ(c, smc(PSCI_0_2_FN64_CPU_ON, other, EL2_MEM_BASE, 0), SMCCC_RET_NOT_SUPPORTED,
			  "host SMC CPU_ON with an entry point in KCore's memory refused");
		EXPECT_EQ(c, smc(PSCI_0_2_FN64_CPU_ON, c->cpu, HOST_BASE, 0), SMCCC_RET_NOT_SUPPORTED,
			  "host SMC CPU_ON of its own (on) CPU refused");
		EXPECT_EQ(c, smc(PSCI_0_2_FN_CPU_OFF, 0, 0, 0), SMCCC_RET_NOT_SUPPORTED,
			  "host SMC CPU_OFF refused (the CPU keeps running)");
		EXPECT_EQ(c, smc(PSCI_1_1_FN_MEM_PROTECT, 1, 0, 0), SMCCC_RET_NOT_SUPPORTED,
			  "host SMC MEM_PROTECT refused");
		EXPECT_EQ(c, smc(PSCI_0_2_FN_SYSTEM_RESET | (1ull << 32), 0, 0, 0), SMCCC_RET_NOT_SUPPORTED,
			  "host SMC with upper bits in the function id refused");
		EXPECT_EQ(c, smc(PSCI_0_2_FN_SYSTEM_RESET, 0, 0, 0), SMCCC_RET_NOT_SUPPORTED,
			  "host SMC SYSTEM_RESET refused (VMs still hold memory)");
		EXPECT_EQ(c, smc(PSCI_0_2_FN_SYSTEM_OFF, 0, 0, 0), SMCCC_RET_NOT_SUPPORTED,
			  "host SMC SYSTEM_OFF refused");
	}
	/* HVC #imm != 0: the immediate is not part of the call; an unknown call stays refused */
	{
		register uint64_t r0 __asm__("x0") = 99;
		__asm__ volatile("hvc #0x5a" : "+r"(r0) : : "memory", "x1", "x2", "x3", "x4", "x5");
		EXPECT_EQ(c, (int64_t)r0, KC_ENOSYS, "HVC #0x5a with an unknown call refused");
	}
	/* 32-bit arguments with upper bits set: no handler may truncate them into a valid id */
	EXPECT_EQ(c, (int64_t)hvc(HVC_ENCRYPT_BUF | (1ull << 32), 0, 0, 0, 0, 0), KC_ENOSYS,
		  "call number with upper bits set is not the 32-bit call");
	EXPECT_EQ(c, (int64_t)hvc(HVC_VCPU_RUN, 1ull << 32 | 1, 0, 0, 0, 0), KC_EINVAL,
		  "VCPU_RUN of vmid 2^32+1 refused (not vmid 1)");
	EXPECT_EQ(c, (int64_t)hvc(HVC_VCPU_RUN, 1, 1ull << 32, 0, 0, 0), KC_EINVAL,
		  "VCPU_RUN of vcpu 2^32 refused (not vcpu 0)");
	EXPECT_EQ(c, (int64_t)hvc(HVC_VERIFY_VM_IMAGE, 1ull << 32 | 1, 0, 0, 0, 0), KC_EINVAL,
		  "VERIFY_VM_IMAGE of vmid 2^32+1 refused");
	EXPECT_EQ(c, (int64_t)hvc(HVC_SMMU_ALLOC_PGD, 1ull << 32 | c->cpu, 0, 0, 0, 0), KC_EINVAL,
		  "SMMU_ALLOC_PGD with bank 2^32+cpu refused");
	EXPECT_EQ(c, (int64_t)hvc(HVC_REGISTER_KVM, 1ull << 32, 0, 0, 0, 0), KC_EINVAL,
		  "REGISTER_KVM with key index 2^32 refused (not key 0)");
	/* stores into KCore's memory, one with a syndrome (STR) and one without (STP: ISV = 0),
	 * and into the stream-key page: refused and skipped; KCore's stream still verifies */
	__asm__ volatile("str %0, [%1]" : : "r"(0xBADull), "r"(el2mem) : "memory");
	__asm__ volatile("stp %0, %0, [%1]" : : "r"(0xBADull), "r"(el2mem) : "memory");
	__asm__ volatile("str %0, [%1]" : : "r"(0xBADull), "r"((uint64_t)EL2_STREAMKEY_PA) : "memory");
	c->checks++;
}

static void hvc_mill(struct cpu_ctx *c)
{
	for (unsigned i = 0; i < HVC_LOOPS; i++) {
		uint64_t pa = win(c->cpu, HOST_SMMU_OFF) + (i % SMMU_PAGES) * 4096ull;
		EXPECT_EQ(c, hvc(HVC_TIMER_SET_CNTVOFF, i, 0, 0, 0, 0), 0, "TIMER_SET_CNTVOFF");
		EXPECT_EQ(c, hvc(HVC_SMMU_LPAE_MAP, pa, pa, 1 + (i & 1), c->cpu, 0), 0, "SMMU map (mill)");
		EXPECT_EQ(c, hvc(HVC_SMMU_LPAE_IOVA_TO_PHYS, pa, c->cpu, 0, 0, 0), pa, "SMMU walk (mill)");
		EXPECT_EQ(c, hvc(HVC_SMMU_CLEAR, pa, c->cpu, 0, 0, 0), 0, "SMMU clear (mill)");
		EXPECT_EQ(c, (int64_t)hvc(HVC_DECRYPT_BUF, 0, 0, 0, 0, 0), KC_ENOTSUP, "DECRYPT_BUF (mill)");
		(void)mmio_r32(KC_SMMU_BASE + SMMU_GR0_sCR0);
	}
}

void host_main(unsigned cpu);
void host_main(unsigned cpu)
{
	struct cpu_ctx *c = &ctxs[cpu];
	unsigned gp = 0;
	bool race;

	c->cpu = cpu;
	say(c, "EL1 host test kernel on cpu %u, stage 2 from the engine", (uint64_t)cpu);
	touch_memory(c);
	hvc(VH_BARRIER, 0, 0, 0, 0, 0);
	if (cpu == 1)
		tlb_reader(c);
	race = cpu == 0 && tlb_race_begin(c);
	smmu_host_bank(c);
	for (unsigned j = 0; j < VMS_PER_CPU; j++)
		run_vm(c, j, &gp, race && j == 0);
	forbidden(c);
	el2_attacks(c);
	hvc_mill(c);
	say(c, "done: %u checks, %u failed", c->checks, c->fails);
	hvc(VH_DONE, c->fails ? 1 : 0, c->checks, 0, 0, 0);
}
