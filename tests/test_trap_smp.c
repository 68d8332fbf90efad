/*
 * test_trap_smp.c - the trap layer on several physical CPUs at once (SPEC §7-8, §10).
 *
 * 1. Four host threads, each hosted CPU i, run the full boot protocol of two VMs at the
 *    same time (REGISTER_KVM, REGISTER_VCPU, SET_BOOT_INFO, REMAP_VM_IMAGE, VERIFY), run
 *    their vCPUs through every kind of exit (stage-2 faults answered by the host, MMIO
 *    reads and writes, SYS64, PV grant/revoke, WFx, IRQs, unknown PV calls), power them
 *    off and take their memory back. A scripted guest checks from the inside that its
 *    PC only moves as the exits say and that MMIO values and its memory are right.
 * 2. The platform's own host model (hp_setup + hp_run), mix all and mix boot, several
 *    seeds, VMs booted while the CPUs run.
 *
 * After each: no platform error, no halted CPU, no lock held, replay == live.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "hl_testkey.h"
#include "hl_access.h"
#include "hl_pgtable.h"
#include "hosted.h"
#include "kcore.h"
#include "platform.h"
#include "sysreg.h"

#define PG              4096ull
#define KERNEL          0x7FFull          /* C PAGE_S2_KERNEL */
#define GUEST_PTE       (1ull << 57)      /* PAGE_GUEST */
#define HOST_OFF        1000000000ull
#define NCPU            4u
#define VMS_PER_CPU     2u
#define NVCPU           2u
#define SLICE           (HL_RAM_PAGES / NCPU)   /* the platform gives CPU i this much RAM */
#define LOAD_ADDR       0x80000000ull
#define BOOT_PC         (LOAD_ADDR + 0x100)
#define IMG_BYTES       8192u
#define GUEST_RAM       0x40000000ull
#define GUEST_MMIO      0x09000000ull
#define NPAGES          3u                /* guest pages per vCPU */
#define PROG_LEN        (8u * NPAGES)     /* guest program length, instructions */

/* ---- the scripted guest (one per vCPU, touched only by the thread that owns its VM) ---- */
struct sguest {
	uint32_t vmid, vcpu;
	uint64_t next_pc;      /* where it must resume */
	uint64_t tag[NPAGES];  /* what it stored in each page */
	bool check_x9;
	uint64_t want_x9;
	bool poweroff;         /* the host asked for SYSTEM_OFF */
	bool done;
	uint64_t entries, checks;
	char err[200];
};

static struct sguest *guest_of[HL_NR_PRINC][HL_VCPU_PER_VM];
static struct hl_engine *E;
static struct kcore *K;
static struct hp_platform *P;

static uint64_t mmio_value(uint64_t ipa) { return 0x5A00000000000000ull ^ ipa; }
static uint64_t gpa_of(const struct sguest *g, unsigned p)
{
	return GUEST_RAM + ((uint64_t)g->vcpu * NPAGES + p) * PG;
}

static void gfail(struct sguest *g, const char *msg, uint64_t a, uint64_t b)
{
	if (!g->err[0])
		snprintf(g->err, sizeof(g->err), "vm %u vcpu %u: %s (%#llx, %#llx)", g->vmid, g->vcpu, msg,
			 (unsigned long long)a, (unsigned long long)b);
}

static unsigned trap_out(uint64_t pc, uint64_t esr, uint64_t ipa)
{
	arch_write_sysreg(SR_ELR_EL2, pc);
	arch_write_sysreg(SR_ESR_EL2, esr);
	arch_write_sysreg(SR_FAR_EL2, ipa);
	arch_write_sysreg(SR_HPFAR_EL2, ipa_to_hpfar(ipa));
	return ARCH_EXIT_TRAP;
}

static uint64_t dabt(unsigned rt, bool write)
{
	return esr_make(EC_DABT_LOW, ESR_ISV | (3u << ESR_SAS_SHIFT) | (rt << ESR_SRT_SHIFT) | (write ? ESR_WNR : 0) |
					     (FSC_TRANS_L0 + 3));
}

/*
 * The program, by instruction index i (8 per page p = i / 8):
 *   0 store a tag to page p (stage-2 fault first)   4 PV revoke p
 *   1 PV grant p (KCore handles it)                  5 wfi
 *   2 ldr x9, [mmio]                                 6 load page p back, check; then an IRQ
 *   3 check x9; SYS64 (KCore skips it)               7 unknown PV call
 * Every exit either retries the instruction (stage-2 fault) or resumes after it.
 */
static unsigned guest(void *arg, uint64_t *x)
{
	unsigned cpu = arch_cpu_id();
	uint32_t vmid = (uint32_t)(arch_read_sysreg(SR_VTTBR_EL2) >> VTTBR_VMID_SHIFT);
	uint32_t vcpu = (uint32_t)(arch_read_sysreg(SR_VMPIDR_EL2) & 0xFF);
	struct sguest *g = vmid < HL_NR_PRINC && vcpu < HL_VCPU_PER_VM ? guest_of[vmid][vcpu] : NULL;
	uint64_t pc = arch_read_sysreg(SR_ELR_EL2);
	(void)arg;

	if (!g || g->vmid != vmid || g->vcpu != vcpu)
		return trap_out(pc, esr_make(EC_WFX, 0), 0);   /* cannot report: the host sees no progress */
	g->entries++;
	if (hl_engine_nheld(E, (int)cpu) != 0)
		gfail(g, "entered with engine locks held", hl_engine_nheld(E, (int)cpu), 0);
	if (pc != g->next_pc)
		gfail(g, "resumed at the wrong PC", pc, g->next_pc);
	pc = g->next_pc;
	if (g->check_x9) {
		if (x[9] != g->want_x9)
			gfail(g, "MMIO read result", x[9], g->want_x9);
		else
			g->checks++;
		g->check_x9 = false;
	}
	for (;;) {
		uint64_t i = (pc - BOOT_PC) / 4;
		unsigned p = (unsigned)(i / 8) % NPAGES;
		uint64_t gpa = gpa_of(g, p);
		struct hl_pt_entry ent;
		uint64_t v;

		g->next_pc = pc + 4;
		if (i >= PROG_LEN) {
			g->done = true;
			if (g->poweroff) {
				x[0] = PSCI_0_2_FN_SYSTEM_OFF;
				return trap_out(pc + 4, esr_make(EC_HVC64, 0), 0);
			}
			return trap_out(pc, esr_make(EC_WFX, 0), 0);
		}
		switch (i % 8) {
		case 0:
			if (hl_translate(E, (int)cpu, vmid, hl_ipa(gpa), &ent) != HL_OK)
				gfail(g, "translate refused", gpa, 0);
			if (ent.level == 0 || (ent.pte & 3) != 3) {
				g->next_pc = pc;   /* retried after the host's answer */
				x[3] = g->vmid;
				return trap_out(pc, dabt(3, true), gpa);
			}
			v = ((uint64_t)vmid << 48) | ((uint64_t)vcpu << 40) | (i << 8) | 0x5;
			if (hl_vm_mem_access(E, (int)cpu, vmid, hl_pa(ent.pfn * PG + 64), &v, 8, true) != HL_OK)
				gfail(g, "store to its own page refused", gpa, ent.pfn);
			g->tag[p] = v;
			pc += 4;
			continue;
		case 1:
		case 4:
			x[0] = i % 8 == 1 ? KVM_SET_DESC_PFN : KVM_UNSET_DESC_PFN;
			x[1] = gpa;
			x[2] = PG;
			return trap_out(pc + 4, esr_make(EC_HVC64, 0), 0);   /* handled: resumes at pc + 4 */
		case 2:
			g->check_x9 = true;
			g->want_x9 = mmio_value(GUEST_MMIO + i * 8);
			return trap_out(pc, dabt(9, false), GUEST_MMIO + i * 8);
		case 3:
			return trap_out(pc, esr_make(EC_SYS64, 0), 0);
		case 5:
			return trap_out(pc, esr_make(EC_WFX, 0), 0);
		case 6:
			v = 0;
			if (hl_translate(E, (int)cpu, vmid, hl_ipa(gpa), &ent) != HL_OK || ent.level != 3 ||
			    hl_vm_mem_access(E, (int)cpu, vmid, hl_pa(ent.pfn * PG + 64), &v, 8, false) != HL_OK)
				gfail(g, "load from its own page refused", gpa, ent.pfn);
			else if (v != g->tag[p])
				gfail(g, "its page changed under it", v, g->tag[p]);
			else
				g->checks++;
			arch_write_sysreg(SR_ELR_EL2, pc + 4);   /* taken after the load */
			return ARCH_EXIT_IRQ;
		default:
			x[0] = 0x99000;
			return trap_out(pc + 4, esr_make(EC_HVC64, 0), 0);
		}
	}
}

/* ---- the host, one thread per CPU ------------------------------------------------------------ */
struct svm {
	uint32_t vmid;
	uint64_t meta_pfn, vcpu_pfn, block_pfn;
	uint64_t given[NVCPU][NPAGES];
	struct sguest g[NVCPU];
};

struct sthread {
	unsigned id;
	uint64_t first_pfn, next_pfn;
	struct svm vm[VMS_PER_CPU];
	uint64_t runs, faults, mmio_reads, boots, poweroffs;
	char err[240];
	pthread_t th;
};

static pthread_barrier_t start_line;

#define TFAIL(t, ...)                                                            \
	do {                                                                     \
		if (!(t)->err[0])                                                \
			snprintf((t)->err, sizeof((t)->err), __VA_ARGS__);       \
		return false;                                                    \
	} while (0)

static bool nolocks(struct sthread *t, const char *what)
{
	if (hl_engine_nheld(E, (int)t->id) != 0)
		TFAIL(t, "cpu %u: %u locks held after %s", t->id, hl_engine_nheld(E, (int)t->id), what);
	return true;
}

static bool hvc(struct sthread *t, int64_t *out, uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3, uint64_t x4)
{
	*out = hp_hvc(P, t->id, x0, x1, x2, x3, x4, 0);
	return nolocks(t, "a hypercall");
}

static bool expect(struct sthread *t, const char *what, uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3,
		   uint64_t x4, int64_t want)
{
	int64_t r;
	if (!hvc(t, &r, x0, x1, x2, x3, x4))
		return false;
	if (r != want)
		TFAIL(t, "cpu %u: %s returned %lld, want %lld", t->id, what, (long long)r, (long long)want);
	return true;
}

static bool store(struct sthread *t, uint64_t pa, uint64_t v)
{
	if (!hp_host_store(P, t->id, pa, 8, v))
		TFAIL(t, "cpu %u: host store at %#llx failed", t->id, (unsigned long long)pa);
	return nolocks(t, "a host store");
}

static bool load(struct sthread *t, uint64_t pa, uint64_t *v)
{
	if (!hp_host_load(P, t->id, pa, 8, v))
		TFAIL(t, "cpu %u: host load at %#llx failed", t->id, (unsigned long long)pa);
	return nolocks(t, "a host load");
}

static bool write_bytes(struct sthread *t, uint64_t pa, const uint8_t *b, size_t len)
{
	for (size_t off = 0; off < len; off += 8) {
		uint64_t v = 0;
		memcpy(&v, b + off, len - off < 8 ? len - off : 8);
		if (!store(t, pa + off, v))
			return false;
	}
	return true;
}

static bool boot(struct sthread *t, unsigned slot)
{
	struct svm *vm = &t->vm[slot];
	uint8_t sig[64];
	static _Thread_local uint8_t img[IMG_BYTES];
	int64_t vmid;

	memset(vm, 0, sizeof(*vm));
	vm->meta_pfn = t->first_pfn + 1 + 2 * slot;
	vm->vcpu_pfn = t->first_pfn + 2 + 2 * slot;
	vm->block_pfn = t->first_pfn + 512 * (slot + 1);
	/* KCore's key 0 (th_engine provisions the test key); the image is signed with it */
	if (!hvc(t, &vmid, HVC_REGISTER_KVM, 0, t->id, 0, 0))
		return false;
	if (vmid < 1 || vmid > HL_MAX_VM)
		TFAIL(t, "cpu %u: REGISTER_KVM returned %lld", t->id, (long long)vmid);
	vm->vmid = (uint32_t)vmid;
	for (unsigned v = 0; v < NVCPU; v++) {
		uint64_t hv = vm->vcpu_pfn * PG + v * 512;
		struct sguest *g = &vm->g[v];
		g->vmid = vm->vmid;
		g->vcpu = v;
		g->next_pc = BOOT_PC;
		if (!store(t, hv + offsetof(struct host_vcpu, boot_pc), BOOT_PC) ||
		    !expect(t, "REGISTER_VCPU", HVC_REGISTER_VCPU, vm->vmid, v, hv, 0, 0))
			return false;
		guest_of[vm->vmid][v] = g;
	}
	for (unsigned i = 0; i < IMG_BYTES; i++)
		img[i] = (uint8_t)(i * 31 + vm->vmid * 3 + t->id);
	if (!write_bytes(t, vm->block_pfn * PG, img, IMG_BYTES))
		return false;
	if (hl_testkey_sign_image(sig, img, IMG_BYTES) != 0)
		TFAIL(t, "cpu %u: signing failed", t->id);
	if (!write_bytes(t, vm->meta_pfn * PG + 64, sig, 64) ||
	    !expect(t, "SET_BOOT_INFO", HVC_SET_BOOT_INFO, vm->vmid, LOAD_ADDR, IMG_BYTES, vm->meta_pfn * PG + 64, 0))
		return false;
	for (unsigned i = 0; i < IMG_BYTES / PG; i++)
		if (!expect(t, "REMAP_VM_IMAGE", HVC_REMAP_VM_IMAGE, vm->vmid, vm->block_pfn + i, 0, 0, 0))
			return false;
	if (!expect(t, "VERIFY_VM_IMAGE", HVC_VERIFY_VM_IMAGE, vm->vmid, 0, 0, 0, 1))
		return false;
	t->boots++;
	return true;
}

static uint64_t hvf(const struct svm *vm, unsigned v, size_t off)
{
	return vm->vcpu_pfn * PG + v * 512 + off;
}

/* run vCPU v once and do what the exit asks */
static bool run(struct sthread *t, struct svm *vm, unsigned v)
{
	uint64_t code_u, esr, far, hpfar, dirty, value, flags;
	int64_t code;

	if (!hvc(t, &code, HVC_VCPU_RUN, vm->vmid, v, 0, 0))
		return false;
	t->runs++;
	if (code != ARCH_EXIT_TRAP && code != ARCH_EXIT_IRQ)
		TFAIL(t, "cpu %u: VCPU_RUN(%u, %u) returned %lld", t->id, vm->vmid, v, (long long)code);
	if (!load(t, hvf(vm, v, offsetof(struct host_vcpu, exit_code)), &code_u) ||
	    !load(t, hvf(vm, v, offsetof(struct host_vcpu, exit_esr)), &esr) ||
	    !load(t, hvf(vm, v, offsetof(struct host_vcpu, exit_far)), &far) ||
	    !load(t, hvf(vm, v, offsetof(struct host_vcpu, exit_hpfar)), &hpfar) ||
	    !load(t, hvf(vm, v, offsetof(struct host_vcpu, exit_dirty)), &dirty) ||
	    !load(t, hvf(vm, v, offsetof(struct host_vcpu, exit_value)), &value) ||
	    !load(t, hvf(vm, v, offsetof(struct host_vcpu, exit_flags)), &flags))
		return false;
	if (code_u != (uint64_t)code)
		TFAIL(t, "cpu %u: exit code %llu in the vcpu struct, %lld in x0", t->id, (unsigned long long)code_u,
		      (long long)code);
	if (code == ARCH_EXIT_IRQ)
		return true;
	uint64_t ipa = hpfar_to_ipa(hpfar, far);
	if (flags & PENDING_FSC_FAULT) {
		uint64_t idx = (ipa - GUEST_RAM) / PG, pfn;
		if (ipa < GUEST_RAM || idx / NPAGES != v)
			TFAIL(t, "cpu %u: vm %u vcpu %u faulted at %#llx", t->id, vm->vmid, v, (unsigned long long)ipa);
		if (vm->given[v][idx % NPAGES])
			TFAIL(t, "cpu %u: vm %u faulted again on a page it was given", t->id, vm->vmid);
		pfn = t->next_pfn++;
		if (!store(t, pfn * PG + 64, 0xC0DE0000 + pfn))   /* host content; maps it for the host */
			return false;
		vm->given[v][idx % NPAGES] = pfn;
		t->faults++;
		return store(t, hvf(vm, v, offsetof(struct host_vcpu, fault_addr)), ipa & ~(PG - 1)) &&
		       store(t, hvf(vm, v, offsetof(struct host_vcpu, fault_pte)), pfn * PG | KERNEL) &&
		       store(t, hvf(vm, v, offsetof(struct host_vcpu, fault_level)), 3);
	}
	if (esr_ec(esr) == EC_DABT_LOW && ipa < HL_MAX_MMIO_ADDR && !esr_is_write(esr)) {
		unsigned rt = esr_srt(esr);
		if (dirty != ((1ull << rt) | DIRTY_PC_FLAG))
			TFAIL(t, "cpu %u: MMIO read exit with dirty %#llx", t->id, (unsigned long long)dirty);
		t->mmio_reads++;
		return store(t, hvf(vm, v, offsetof(struct host_vcpu, regs)) + rt * 8, mmio_value(ipa));
	}
	if (esr_ec(esr) == EC_HVC64 && (uint32_t)value == PSCI_0_2_FN_SYSTEM_OFF) {
		if (E->st->info[vm->vmid]->state != HL_VM_POWEROFF)
			TFAIL(t, "cpu %u: vm %u not powered off after SYSTEM_OFF", t->id, vm->vmid);
		t->poweroffs++;
		return true;
	}
	/* WFx: ELR at the instruction, skipped on the next run; HVC: ELR already past it,
	 * nothing to skip (issue 9.8) */
	if (esr_ec(esr) == EC_WFX || esr_ec(esr) == EC_HVC64) {
		if (dirty != (esr_ec(esr) == EC_WFX ? DIRTY_PC_FLAG : 0))
			TFAIL(t, "cpu %u: WFx/HVC exit with dirty %#llx", t->id, (unsigned long long)dirty);
		return true;
	}
	TFAIL(t, "cpu %u: unexpected exit esr %#llx (KCore should have handled it)", t->id, (unsigned long long)esr);
}

static bool lifecycle(struct sthread *t)
{
	/* every CPU starts its boots at once */
	pthread_barrier_wait(&start_line);
	for (unsigned s = 0; s < VMS_PER_CPU; s++)
		if (!boot(t, s))
			return false;
	/* interleave the vCPUs of both VMs until every program has run to its end */
	for (unsigned round = 0; round < 200; round++) {
		bool all = true;
		for (unsigned s = 0; s < VMS_PER_CPU; s++)
			for (unsigned v = 0; v < NVCPU; v++)
				if (!t->vm[s].g[v].done) {
					all = false;
					if (!run(t, &t->vm[s], v))
						return false;
				}
		if (all)
			break;
	}
	for (unsigned s = 0; s < VMS_PER_CPU; s++) {
		struct svm *vm = &t->vm[s];
		for (unsigned v = 0; v < NVCPU; v++)
			if (!vm->g[v].done || vm->g[v].err[0])
				TFAIL(t, "cpu %u: vm %u vcpu %u: %s", t->id, vm->vmid, v,
				      vm->g[v].err[0] ? vm->g[v].err : "did not finish its program");
		/* power off, then the host takes the memory back */
		vm->g[0].poweroff = true;
		if (!run(t, vm, 0))
			return false;
		if (E->st->info[vm->vmid]->state != HL_VM_POWEROFF)
			TFAIL(t, "cpu %u: vm %u still runs after SYSTEM_OFF", t->id, vm->vmid);
		if (!expect(t, "CLEAR_VM_S2_RANGE", HVC_CLEAR_VM_S2_RANGE, vm->vmid, GUEST_RAM, NVCPU * NPAGES * PG, 0, 0) ||
		    !expect(t, "CLEAR_VM_S2_RANGE(image)", HVC_CLEAR_VM_S2_RANGE, vm->vmid, LOAD_ADDR, HL_PMD_SIZE, 0, 0))
			return false;
		for (unsigned v = 0; v < NVCPU; v++)
			for (unsigned p = 0; p < NPAGES; p++) {
				uint64_t pfn = vm->given[v][p], val = 1;
				if (!pfn)
					TFAIL(t, "cpu %u: vm %u vcpu %u never faulted on page %u", t->id, vm->vmid, v, p);
				if (!load(t, pfn * PG + 64, &val))
					return false;
				if (val != 0)
					TFAIL(t, "cpu %u: a cleared VM page came back with %#llx", t->id, (unsigned long long)val);
			}
	}
	return true;
}

static void *host_thread(void *arg)
{
	struct sthread *t = arg;

	hp_enter_cpu(P, t->id);
	(void)lifecycle(t);
	return NULL;
}

static struct hl_engine *new_platform(unsigned ncpus, const struct hp_cfg *tmpl)
{
	struct hp_cfg cfg = *tmpl;

	cr_assert(sodium_init() >= 0);
	E = th_engine(ncpus);
	cr_assert_not_null(E);
	K = kcore_new(E);
	cr_assert_not_null(K);
	cfg.ncpus = E->cfg.ncpus;
	P = hp_new(E, K, &cfg);
	cr_assert_not_null(P);
	return E;
}

static void free_platform(void)
{
	hp_free(P);
	kcore_free(K);
	hl_engine_free(E);
	P = NULL;
	K = NULL;
	E = NULL;
}

static void assert_clean(unsigned ncpus, const char *what)
{
	cr_assert_null(hp_first_error(P), "%s: %s", what, hp_first_error(P));
	cr_assert_eq(hp_halted_cpus(P), 0, "%s: %u CPUs halted", what, hp_halted_cpus(P));
	for (unsigned i = 0; i < ncpus; i++) {
		cr_assert(!hl_cpu_halted(E, (int)i), "%s: cpu %u halted", what, i);
		cr_assert_eq(hl_engine_nheld(E, (int)i), 0, "%s: cpu %u holds locks", what, i);
	}
	cr_assert_eq(E->halts, 0, "%s", what);
	cr_assert_eq(th_replay_matches(E), 0, "%s: replay != live", what);
}

TestSuite(trap_smp, .timeout = 300);

Test(trap_smp, four_cpus_boot_run_and_tear_down_two_vms_each)
{
	struct hp_cfg cfg = { .vms = 0, .mix = HP_MIX_ALL, .seed = 1 };
	static struct sthread th[NCPU];

	new_platform(NCPU, &cfg);
	hosted_set_guest_runner(guest, NULL);
	memset(guest_of, 0, sizeof(guest_of));
	memset(th, 0, sizeof(th));
	cr_assert_eq(pthread_barrier_init(&start_line, NULL, NCPU), 0);
	for (unsigned i = 0; i < NCPU; i++) {
		th[i].id = i;
		th[i].first_pfn = HL_RAM_BASE_PFN + i * SLICE;
		th[i].next_pfn = th[i].first_pfn + 2048;
		cr_assert_eq(pthread_create(&th[i].th, NULL, host_thread, &th[i]), 0);
	}
	for (unsigned i = 0; i < NCPU; i++)
		pthread_join(th[i].th, NULL);
	pthread_barrier_destroy(&start_line);

	uint64_t runs = 0, checks = 0;
	for (unsigned i = 0; i < NCPU; i++) {
		cr_assert_eq(th[i].err[0], 0, "%s", th[i].err);
		cr_assert_eq(th[i].boots, VMS_PER_CPU);
		cr_assert_eq(th[i].poweroffs, VMS_PER_CPU);
		cr_assert_eq(th[i].faults, VMS_PER_CPU * NVCPU * NPAGES);
		cr_assert_eq(th[i].mmio_reads, VMS_PER_CPU * NVCPU * NPAGES);
		runs += th[i].runs;
		for (unsigned s = 0; s < VMS_PER_CPU; s++)
			for (unsigned v = 0; v < NVCPU; v++)
				checks += th[i].vm[s].g[v].checks;
	}
	/* each guest checked every MMIO read and every page it read back */
	cr_assert_eq(checks, NCPU * VMS_PER_CPU * NVCPU * NPAGES * 2);
	assert_clean(NCPU, "boot protocol");

	/* vmids: each VM got its own; every page it had is the host's again */
	bool seen[HL_NR_PRINC] = { false };
	for (unsigned i = 0; i < NCPU; i++)
		for (unsigned s = 0; s < VMS_PER_CPU; s++) {
			const struct svm *vm = &th[i].vm[s];
			cr_assert(!seen[vm->vmid], "vmid %u handed out twice", vm->vmid);
			seen[vm->vmid] = true;
			cr_assert_eq(E->st->info[vm->vmid]->state, HL_VM_POWEROFF);
			for (unsigned v = 0; v < NVCPU; v++) {
				cr_assert_eq(E->st->info[vm->vmid]->vcpu_state[v], HL_VCPU_READY);
				for (unsigned p = 0; p < NPAGES; p++) {
					struct hl_s2page pg = hl_s2page_get(E->st, vm->given[v][p]);
					cr_assert_eq(pg.owner, HL_HOSTVISOR);
					cr_assert_eq(pg.count, 0);
					cr_assert_eq(pg.gfn, vm->given[v][p] + HOST_OFF);
				}
			}
			for (unsigned p = 0; p < 512; p++)
				cr_assert_eq(hl_s2page_get(E->st, vm->block_pfn + p).owner, HL_HOSTVISOR);
		}
	cr_assert_eq(E->st->core->next_vmid, 1 + NCPU * VMS_PER_CPU);
	(void)runs;
	free_platform();
}

/* the platform's host model on 4 CPUs: VMs boot, run and die while the other CPUs work */
static void platform_run(unsigned vms, unsigned mix, uint64_t seed, uint64_t ops)
{
	struct hp_cfg cfg = { .vms = vms, .mix = mix, .seed = seed, .ops = ops };
	struct hp_stats st;
	char what[64];

	snprintf(what, sizeof(what), "vms %u mix %s seed %llu", vms, hp_mix_name(mix), (unsigned long long)seed);
	new_platform(NCPU, &cfg);
	cr_assert_eq(hp_setup(P), 0, "%s: setup: %s", what, hp_first_error(P) ? hp_first_error(P) : "halted");
	cr_assert_eq(hp_run(P), 0, "%s: %s", what, hp_first_error(P) ? hp_first_error(P) : "?");
	hp_stats(P, -1, &st);
	cr_assert_eq(st.errors, 0, "%s", what);
	cr_assert_gt(st.vm_boots, vms, "%s: no VM booted while the CPUs ran", what);
	assert_clean(NCPU, what);
	cr_assert_eq(st.actions, ops, "%s: a CPU stopped early", what);
	cr_assert_gt(st.vm_poweroffs, 0, "%s: no VM was powered off and torn down", what);
	free_platform();
}

Test(trap_smp, platform_mix_all_boots_while_running)
{
	for (uint64_t seed = 1; seed <= 3; seed++)
		platform_run(0, HP_MIX_ALL, seed, 3000);
}

Test(trap_smp, platform_mix_boot)
{
	for (uint64_t seed = 11; seed <= 12; seed++)
		platform_run(0, HP_MIX_BOOT, seed, 2000);
}

Test(trap_smp, platform_mix_all_with_vms_at_start)
{
	for (uint64_t seed = 21; seed <= 22; seed++)
		platform_run(8, HP_MIX_ALL, seed, 4000);
}
