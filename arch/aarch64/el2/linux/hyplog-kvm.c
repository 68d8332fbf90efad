// SPDX-License-Identifier: GPL-2.0
/*
 * hyplog-kvm.c - a Linux driver that runs VMs under hyplog's KCore through its hypercall ABI
 * (arch/aarch64/kcore.c; issue 12, deliverable 3). Linux is the untrusted SeKVM host: it
 * does from real Linux what the EL2 image's test kernel (image/host/host.c) does from its
 * own code.
 *
 * /dev/hyplog-kvm (misc device). The initramfs has only busybox sh, so the commands are
 * text lines written to it (`echo run > /dev/hyplog-kvm`); the same as ioctls:
 *   run       (HLK_IOC_RUN)     one VM's whole life, on the calling CPU and HLK's vCPU
 *                               threads: returns when it is cleared; -ENOSPC once KCore
 *                               has no vmid left (vmids are never reused: MAX_VM per boot)
 *   forbidden (HLK_IOC_FORBID)  the forbidden attempts that need no VM (once per call)
 *   report    (HLK_IOC_REPORT)  prints the totals (also what read() returns)
 *
 * One VM's life ("run"), every step a hypercall (arm_smccc_1_1_hvc):
 *   REGISTER_KVM (key index 0: the test key KCore has compiled in) -> vmid
 *   REGISTER_VCPU x vcpus (a zeroed page each: struct host_vcpu, read by KCore)
 *   SMMU_ALLOC_PGD: a context bank for the VM (before VERIFY: after it KCore halts)
 *   PHYS_ADDR_IOREMAP: one device page (virtio-mmio) for the guest
 *   the guest (guest-vm.S, signed at build time) copied into a 2 MiB chunk of host pages,
 *   SET_BOOT_INFO (with its signature), REMAP_VM_IMAGE per page, VERIFY_VM_IMAGE -> 1
 *   the host's own SMMU bank: map / iova_to_phys / clear cycles over host pages
 *   one kthread per vCPU, bound to CPU (caller + i) % online: VCPU_RUN until the guest is
 *   done, answering its stage-2 faults (a page alloc_page'd for each), its MMIO (the
 *   mailbox) and its IRQ exits (a physical IRQ exits to EL2 and is taken here, at EL1)
 *   vCPU 0 powers the VM off (PSCI SYSTEM_OFF) once every other vCPU is done
 *   SMMU_FREE_PGD, CLEAR_VM_S2_RANGE: every page comes back to Linux, zeroed
 *
 * Forbidden attempts (each must be refused, change nothing, and leave Linux running; each
 * counted as refused or, if KCore let it through, as a failure):
 *   per VM  CLEAR_VM_S2_RANGE of the running VM (while its vCPUs run on other CPUs):
 *           nothing cleared, which the guests' read-back checksums prove
 *           PHYS_ADDR_IOREMAP of KCore's memory into the VM
 *           a fault answered with a page of KCore's memory (the guest faults again)
 *           (not attempted: an SMMU map of KCore's memory, see forbidden_host)
 *           REGISTER_VCPU of a vCPU id past HL_VCPU_PER_VM, after the run
 *   once    a VM whose image signature is forged: VERIFY_VM_IMAGE answers 0 (that VM
 *           never runs, and its chunk is never given back to Linux: KCore may have moved it)
 *   forbidden command: REGISTER_KVM naming a key KCore does not hold, a signature in KCore's
 *           memory, VCPU_RUN of vmid 0 / past MAX_VM, CLEAR_VM_S2_RANGE unaligned / > 1 GiB,
 *           an unknown call
 * The calls whose refusal KCore defines as a halt of the CPU (VCPU_RUN of an unverified or
 * powered-off VM, a host access to a VM's page, SMMU_ALLOC_PGD / an SMMU map for a verified
 * VM) are never made: a halted CPU is a failed run.
 */
#include <linux/arm-smccc.h>
#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/kthread.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <asm/neon.h>

#include "layout.h"
#include "hyplog-kvm-abi.h"

/* ---- the hypercall ABI (arch/aarch64/kcore.h, sysreg.h, shared/hl_const.h) ---------------- */
#define HVC_VCPU_RUN 8
#define HVC_CLEAR_VM_S2_RANGE 9
#define HVC_SET_BOOT_INFO 10
#define HVC_REMAP_VM_IMAGE 11
#define HVC_VERIFY_VM_IMAGE 12
#define HVC_REGISTER_KVM 13
#define HVC_REGISTER_VCPU 14
#define HVC_SMMU_FREE_PGD 23
#define HVC_SMMU_ALLOC_PGD 24
#define HVC_SMMU_LPAE_MAP 25
#define HVC_SMMU_LPAE_IOVA_TO_PHYS 26
#define HVC_SMMU_CLEAR 27
#define HVC_PHYS_ADDR_IOREMAP 28
#define KC_EINVAL (-22)
#define KC_EPERM (-1)
#define KC_ENOSYS (-38)
#define ARCH_EXIT_IRQ 0
#define ARCH_EXIT_SERROR 1
#define ARCH_EXIT_TRAP 2
#define EC_WFX 0x01
#define EC_HVC64 0x16
#define EC_IABT_LOW 0x20
#define EC_DABT_LOW 0x24
#define HL_MAX_MMIO_ADDR 0x40000000ull
#define HL_PAGE_S2_KERNEL (3ull | (0xFull << 2) | (3ull << 6) | (3ull << 8) | (1ull << 10))
#define PSCI_CPU_OFF 0x84000002u
#define PSCI_SYSTEM_OFF 0x84000008u
#define HLK_MAX_VCPUS 8            /* HL_VCPU_PER_VM (meson option vcpus_per_vm, default 8) */
#define HLK_KEY_IDX 0              /* KCore's key 0: the test key the guest is signed with */
#define HLK_CLEAR_SIZE 0x400000ull /* the image block + every vCPU's data pages */

/* the host's per-vCPU structure KCore reads and writes (kcore.h struct host_vcpu) */
struct host_vcpu {
	u64 regs[31];
	u64 boot_pc;
	u64 fault_addr, fault_pte, fault_level;
	u64 irq;
	u64 exit_code, exit_esr, exit_far, exit_hpfar, exit_dirty, exit_value, exit_flags;
};
static_assert(sizeof(struct host_vcpu) == 8 * 43, "struct host_vcpu as in kcore.h");
static_assert(offsetof(struct host_vcpu, exit_code) == 8 * 36, "struct host_vcpu as in kcore.h");
static_assert(HLK_MAX_VCPUS * HLK_GUEST_PAGES * 4096 + 0x200000 <= HLK_CLEAR_SIZE, "clear range");

extern const u8 hlk_guest_bin[], hlk_guest_bin_end[], hlk_guest_sig[];
asm(".section .rodata\n.balign 16\n.global hlk_guest_bin, hlk_guest_bin_end, hlk_guest_sig\n"
    "hlk_guest_bin:\n.incbin \"" HLK_GUEST_BIN "\"\nhlk_guest_bin_end:\n.balign 16\n"
    "hlk_guest_sig:\n.incbin \"" HLK_GUEST_SIG "\"\n.previous\n");

static unsigned int vcpus = HLK_MAX_VCPUS;
module_param(vcpus, uint, 0444);
MODULE_PARM_DESC(vcpus, "vCPUs per VM (1..8)");
static unsigned int max_vm = 15;
module_param(max_vm, uint, 0444);
MODULE_PARM_DESC(max_vm, "KCore's MAX_VM (meson option max_vm): REGISTER_KVM past it halts the CPU");
static atomic_t vms_registered = ATOMIC_INIT(0);
static bool vmids_gone;
static unsigned int chunks = 4;
module_param(chunks, uint, 0444);
MODULE_PARM_DESC(chunks, "2 MiB image chunks allocated at load (VMs that can run at once)");

static long hvc(u64 a0, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5)
{
	struct arm_smccc_res res;

	arm_smccc_1_1_hvc(a0, a1, a2, a3, a4, a5, &res);
	return (long)res.a0;
}

/* REGISTER_KVM with the test key: vmids are never reused and KCore halts the CPU that asks
 * for one past MAX_VM (OREGISTER_KVM's halt branch, as SeKVM's C), so the driver never asks
 * for more than max_vm; 0 when they are all given out */
static long register_vm(u64 handle)
{
	if (atomic_inc_return(&vms_registered) > max_vm) {
		WRITE_ONCE(vmids_gone, true);
		return 0;
	}
	return hvc(HVC_REGISTER_KVM, HLK_KEY_IDX, handle, 0, 0, 0);
}

/* ---- totals -------------------------------------------------------------------------------- */
static atomic64_t st_vms, st_vcpu_runs, st_run_calls, st_irq_exits, st_faults, st_mmio, st_wfx,
	st_refused, st_failed, st_smmu_ops;
static atomic64_t st_cpu_runs[NR_CPUS];

#define FAIL(fmt, ...) do { atomic64_inc(&st_failed); pr_err("hyplog-kvm: FAIL " fmt "\n", ##__VA_ARGS__); } while (0)

/* a forbidden attempt: `ok` says whether KCore refused it as it must (each kind printed
 * the first time, then only counted: the console is a slow UART shared by 4 CPUs) */
static void forbidden_at(bool ok, const char *what, long got, bool *said)
{
	if (ok) {
		atomic64_inc(&st_refused);
		if (!xchg(said, true))
			pr_info("hyplog-kvm: refused as it must be: %s (%ld)\n", what, got);
	} else {
		FAIL("forbidden attempt NOT refused: %s (got %ld)", what, got);
	}
}
#define forbidden(ok, what, got) ({ static bool said_; forbidden_at((ok), (what), (got), &said_); })

/* ---- resources: 2 MiB chunks, SMMU banks ------------------------------------------------------ */
static DEFINE_MUTEX(res_lock);
static struct page *chunk_pool[16];
static unsigned int nchunks;
static DECLARE_WAIT_QUEUE_HEAD(res_wq);
/* SMMU 0 has 8 context banks, SMMU 1 has 4 (engine/hl_trans.c smmu_banks): banks 0..3 of
 * SMMU 0 are the host's own (one per CPU; a host bank is never freed: SMMU_FREE_PGD of a
 * bank whose owner is not powered off halts), the other 8 go to VMs, one each */
static const struct { u32 cb, idx; } vm_banks[] = {
	{ 4, 0 }, { 5, 0 }, { 6, 0 }, { 7, 0 }, { 0, 1 }, { 1, 1 }, { 2, 1 }, { 3, 1 },
};
static unsigned long banks_used;
static struct mutex host_bank_lock[4];
static bool host_bank_ready[4];
static bool forged_done;

static struct page *chunk_get(void)
{
	struct page *p = NULL;

	wait_event(res_wq, ({
		mutex_lock(&res_lock);
		if (nchunks)
			p = chunk_pool[--nchunks];
		mutex_unlock(&res_lock);
		p != NULL;
	}));
	return p;
}

static void chunk_put(struct page *p)
{
	mutex_lock(&res_lock);
	chunk_pool[nchunks++] = p;
	mutex_unlock(&res_lock);
	wake_up(&res_wq);
}

static int bank_get(void)
{
	int b = -1;

	wait_event(res_wq, ({
		mutex_lock(&res_lock);
		b = find_first_zero_bit(&banks_used, ARRAY_SIZE(vm_banks));
		if (b < ARRAY_SIZE(vm_banks))
			__set_bit(b, &banks_used);
		else
			b = -1;
		mutex_unlock(&res_lock);
		b >= 0;
	}));
	return b;
}

static void bank_put(int b)
{
	mutex_lock(&res_lock);
	__clear_bit(b, &banks_used);
	mutex_unlock(&res_lock);
	wake_up(&res_wq);
}

/* ---- one VM ------------------------------------------------------------------------------------ */
struct hlk_vm;

struct hlk_vcpu {
	struct hlk_vm *vm;
	unsigned int id;
	struct host_vcpu *hv;       /* a page of its own */
	struct completion done;
	u64 sum, runs, faults, mmio, irqs;
	bool finished, sum_seen, bad_answer_pending, probe_exit;
	u64 bad_answer_ipa;
};

struct hlk_vm {
	long vmid;
	unsigned int nvcpus;
	struct page *chunk;
	int bank;
	spinlock_t lock;            /* pages[], npages */
	struct page **pages;        /* what the driver gave the guests on their faults */
	unsigned int npages, maxpages;
	atomic_t ndone;             /* vCPUs other than 0 that are done */
	bool off_ok;                /* the mailbox answer for vCPU 0: power off now */
	bool powered_off;
	wait_queue_head_t wq;
	struct hlk_vcpu vc[HLK_MAX_VCPUS];
};

static u64 expected_sum(long vmid, unsigned int id)
{
	u64 s = HLK_VIRTIO_MAGIC + 0x600D0000ull + ((u64)vmid << 4) + id;

	for (unsigned int k = 0; k < HLK_GUEST_PAGES; k++)
		s += (HLK_GUEST_PAGES - k) + ((u64)id << 8);
	return s;   /* + share/unshare results, 0 each */
}

/* a stage-2 fault on guest RAM: a fresh page of Linux's, recorded so the clear can free it */
static int answer_fault(struct hlk_vcpu *vc, u64 ipa)
{
	struct hlk_vm *vm = vc->vm;
	struct host_vcpu *hv = vc->hv;
	struct page *pg;

	/* forbidden: vCPU 1's first fault answered with a page of KCore's own memory. KCore
	 * must refuse it (nothing mapped): the guest faults at the same address again */
	if (vc->id == 1 && vc->faults == 0 && !vc->bad_answer_pending) {
		vc->bad_answer_pending = true;
		vc->bad_answer_ipa = ipa & ~0xFFFull;
		hv->fault_addr = ipa & ~0xFFFull;
		hv->fault_pte = (u64)EL2_MEM_BASE | HL_PAGE_S2_KERNEL;
		hv->fault_level = 3;
		return 0;
	}
	if (vc->bad_answer_pending) {
		vc->bad_answer_pending = false;
		forbidden((ipa & ~0xFFFull) == vc->bad_answer_ipa, "a guest fault answered with KCore's memory",
			  (long)ipa);
	}
	pg = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!pg)
		return -ENOMEM;
	spin_lock(&vm->lock);
	if (vm->npages == vm->maxpages) {
		spin_unlock(&vm->lock);
		__free_page(pg);
		FAIL("vm %ld: more than %u guest faults", vm->vmid, vm->maxpages);
		return -E2BIG;
	}
	vm->pages[vm->npages++] = pg;
	spin_unlock(&vm->lock);
	hv->fault_addr = ipa & ~0xFFFull;
	hv->fault_pte = page_to_phys(pg) | HL_PAGE_S2_KERNEL;
	hv->fault_level = 3;
	vc->faults++;
	atomic64_inc(&st_faults);
	return 0;
}

static int vcpu_thread(void *arg)
{
	struct hlk_vcpu *vc = arg;
	struct hlk_vm *vm = vc->vm;
	struct host_vcpu *hv = vc->hv;
	unsigned int cpu = raw_smp_processor_id();

	while (!vc->finished) {
		long r;
		u64 ec, ipa;

		if (vc->runs > 100000) {
			FAIL("vm %ld vcpu %u: still running after %llu runs", vm->vmid, vc->id, vc->runs);
			break;
		}
		/* KCore does not switch FP/SIMD registers (the VM's HCR/CPTR do not trap them): as
		 * KVM's host does before a guest runs, the CPU's FP state is saved for its task and
		 * the registers marked not Linux's, so a guest touching them corrupts nothing */
		kernel_neon_begin();
		r = hvc(HVC_VCPU_RUN, vm->vmid, vc->id, 0, 0, 0);
		kernel_neon_end();
		vc->runs++;
		atomic64_inc(&st_run_calls);
		hv->fault_addr = 0;
		if (r == ARCH_EXIT_IRQ || r == ARCH_EXIT_SERROR) {
			/* a physical IRQ exited the guest to EL2; Linux takes it here, now that
			 * KCore restored the host (HCR_EL2.IMO clear again) */
			vc->irqs++;
			atomic64_inc(&st_irq_exits);
			cond_resched();
			continue;
		}
		if (r != ARCH_EXIT_TRAP) {
			FAIL("vm %ld vcpu %u: VCPU_RUN returned %ld", vm->vmid, vc->id, r);
			break;
		}
		ec = (hv->exit_esr >> 26) & 0x3F;
		switch (ec) {
		case EC_DABT_LOW:
		case EC_IABT_LOW:
			ipa = ((hv->exit_hpfar & 0x00000FFFFFFFFFF0ull) << 8) | (hv->exit_far & 0xFFF);
			if (ipa >= HL_MAX_MMIO_ADDR) {
				if (answer_fault(vc, ipa))
					goto out;
				break;
			}
			vc->mmio++;
			atomic64_inc(&st_mmio);
			if (hv->exit_dirty & 0x7FFFFFFFull) {   /* a load: the host supplies Rt */
				unsigned int rt = (hv->exit_esr >> 16) & 0x1F;
				u64 off = ipa - HLK_MB_IPA, v = 0;

				if (ipa == HLK_PROBE_IPA)
					vc->probe_exit = true;   /* v = 0: unmapped, as it must be */
				else if (off == HLK_MB_ANSWER)
					v = 0x600D0000ull + ((u64)vm->vmid << 4) + vc->id;
				else if (off == HLK_MB_OFF)
					v = vc->id == 0 && READ_ONCE(vm->off_ok);
				if (rt < 31)
					hv->regs[rt] = v;
			} else if (ipa == HLK_MB_IPA + HLK_MB_SUM) {
				vc->sum = hv->exit_value;
				vc->sum_seen = true;
			}
			break;
		case EC_HVC64:
			if ((u32)hv->exit_value == PSCI_SYSTEM_OFF) {
				vm->powered_off = true;
				vc->finished = true;
			} else if ((u32)hv->exit_value == PSCI_CPU_OFF) {
				if (vc->id != 0) {
					vc->finished = true;
					atomic_inc(&vm->ndone);
					wake_up(&vm->wq);
				} else {
					/* vCPU 0 powers the VM off once no other vCPU will run again */
					wait_event(vm->wq, atomic_read(&vm->ndone) == vm->nvcpus - 1);
					WRITE_ONCE(vm->off_ok, true);
				}
			}
			break;
		case EC_WFX:
			atomic64_inc(&st_wfx);
			break;
		default:
			break;
		}
	}
out:
	if (!vc->finished) {
		/* a vCPU that could not finish: the others must not wait for it, and vCPU 0 must
		 * never power off a VM whose vCPU may still run (it never runs again: ok) */
		atomic_inc(&vm->ndone);
		wake_up(&vm->wq);
	}
	atomic64_inc(&st_cpu_runs[cpu]);
	complete(&vc->done);
	return 0;
}

static void host_smmu_cycle(unsigned int cpu, struct page **dma, unsigned int n)
{
	u32 cb = cpu % 4;

	mutex_lock(&host_bank_lock[cb]);
	if (!host_bank_ready[cb]) {
		long r = hvc(HVC_SMMU_ALLOC_PGD, cb, 0, 0, 0, 0);

		if (r)
			FAIL("SMMU_ALLOC_PGD host bank %u: %ld", cb, r);
		host_bank_ready[cb] = r == 0;
	}
	if (host_bank_ready[cb]) {
		for (unsigned int i = 0; i < n; i++) {
			u64 pa = page_to_phys(dma[i]);
			long r = hvc(HVC_SMMU_LPAE_MAP, pa, pa, 3, cb, 0);

			if (r)
				FAIL("SMMU_LPAE_MAP %llx in host bank %u: %ld", pa, cb, r);
			r = hvc(HVC_SMMU_LPAE_IOVA_TO_PHYS, pa + 0x10, cb, 0, 0, 0);
			if (r != (long)(pa + 0x10))
				FAIL("SMMU iova_to_phys %llx: %lx", pa, r);
			r = hvc(HVC_SMMU_CLEAR, pa, cb, 0, 0, 0);
			if (r)
				FAIL("SMMU_CLEAR %llx: %ld", pa, r);
			if (hvc(HVC_SMMU_LPAE_IOVA_TO_PHYS, pa, cb, 0, 0, 0) != 0)
				FAIL("SMMU iova %llx still mapped after the clear", pa);
			atomic64_add(4, &st_smmu_ops);
		}
	}
	mutex_unlock(&host_bank_lock[cb]);
}

/* the image: copied into the chunk, SET_BOOT_INFO with `sig`, remapped, verified */
static long load_and_verify(long vmid, struct page *chunk, const u8 *sig_src)
{
	size_t size = hlk_guest_bin_end - hlk_guest_bin;
	u8 *sig = kmalloc(64, GFP_KERNEL);
	long r;

	if (!sig)
		return -ENOMEM;
	memcpy(sig, sig_src, 64);
	memcpy(page_address(chunk), hlk_guest_bin, size);
	/* QEMU models no caches; on hardware the guest (MMU off) would need the image cleaned
	 * to the point of coherency here */
	r = hvc(HVC_SET_BOOT_INFO, vmid, GUEST_IPA, size, virt_to_phys(sig), 0);
	if (r != 0) {
		FAIL("vm %ld: SET_BOOT_INFO %ld", vmid, r);
		goto out;
	}
	for (size_t off = 0; off < size; off += PAGE_SIZE) {
		r = hvc(HVC_REMAP_VM_IMAGE, vmid, (page_to_phys(chunk) + off) >> PAGE_SHIFT, 0, 0, 0);
		if (r) {
			FAIL("vm %ld: REMAP_VM_IMAGE %ld", vmid, r);
			goto out;
		}
	}
	r = hvc(HVC_VERIFY_VM_IMAGE, vmid, 0, 0, 0, 0);
out:
	kfree(sig);
	return r;
}

/* once per boot: a VM whose signature is forged must not verify (costs one vmid; the chunk
 * stays with the driver for good: KCore may have given its pages to that VM) */
static void forged_vm(void)
{
	u8 sig[64];
	struct page *chunk;
	long vmid, r;

	mutex_lock(&res_lock);
	if (forged_done || vmids_gone) {
		mutex_unlock(&res_lock);
		return;
	}
	forged_done = true;
	mutex_unlock(&res_lock);
	chunk = alloc_pages(GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN, 9);
	if (!chunk) {
		pr_info("hyplog-kvm: forged-signature VM skipped: no 2 MiB chunk free\n");
		return;
	}
	vmid = register_vm(0xF0F0);
	if (vmid < 1) {
		pr_info("hyplog-kvm: forged-signature VM skipped: REGISTER_KVM %ld\n", vmid);
		__free_pages(chunk, 9);
		return;
	}
	memcpy(sig, hlk_guest_sig, 64);
	sig[17] ^= 0x40;
	r = load_and_verify(vmid, chunk, sig);
	forbidden(r == 0, "VERIFY_VM_IMAGE of an image with a forged signature", r);
	/* never VCPU_RUN it (KCore halts a CPU that runs an unverified VM), never free the chunk */
}

static long run_vm(void)
{
	unsigned int cpu = raw_smp_processor_id(), n = clamp(vcpus, 1u, (unsigned int)HLK_MAX_VCPUS);
	struct page *dma[4] = { NULL };
	struct hlk_vm *vm;
	long r, ret = 0, ioremap_rc;
	unsigned int i, ncpu = num_online_cpus();
	int bank;

	forged_vm();
	if (READ_ONCE(vmids_gone))
		return -ENOSPC;
	vm = kzalloc(sizeof(*vm), GFP_KERNEL);
	if (!vm)
		return -ENOMEM;
	vm->nvcpus = n;
	vm->maxpages = n * HLK_GUEST_PAGES + 8;
	vm->pages = kcalloc(vm->maxpages, sizeof(*vm->pages), GFP_KERNEL);
	spin_lock_init(&vm->lock);
	init_waitqueue_head(&vm->wq);
	for (i = 0; i < n; i++) {
		vm->vc[i].hv = (struct host_vcpu *)get_zeroed_page(GFP_KERNEL);
		if (!vm->vc[i].hv)
			ret = -ENOMEM;
	}
	for (i = 0; i < ARRAY_SIZE(dma); i++)
		if (!(dma[i] = alloc_page(GFP_KERNEL | __GFP_ZERO)))
			ret = -ENOMEM;
	if (ret || !vm->pages)
		goto free_mem;

	vm->chunk = chunk_get();
	vm->vmid = register_vm(0x1000 + cpu);
	if (vm->vmid < 1) {
		/* every vmid is given out: the boot's VMs are done */
		if (vm->vmid < 0)
			FAIL("REGISTER_KVM %ld", vm->vmid);
		WRITE_ONCE(vmids_gone, true);
		chunk_put(vm->chunk);
		ret = -ENOSPC;
		goto free_mem;
	}
	for (i = 0; i < n; i++) {
		vm->vc[i].vm = vm;
		vm->vc[i].id = i;
		init_completion(&vm->vc[i].done);
		vm->vc[i].hv->boot_pc = GUEST_IPA;
		r = hvc(HVC_REGISTER_VCPU, vm->vmid, i, virt_to_phys(vm->vc[i].hv), 0, 0);
		if (r)
			FAIL("vm %ld: REGISTER_VCPU %u: %ld", vm->vmid, i, r);
	}
	bank = bank_get();
	vm->bank = bank;
	r = hvc(HVC_SMMU_ALLOC_PGD, vm_banks[bank].cb, vm->vmid, vm_banks[bank].idx, 0, 0);
	if (r)
		FAIL("vm %ld: SMMU_ALLOC_PGD %u/%u: %ld", vm->vmid, vm_banks[bank].idx, vm_banks[bank].cb, r);
	if (hvc(HVC_SMMU_LPAE_IOVA_TO_PHYS, 0x1000, vm_banks[bank].cb, vm_banks[bank].idx, 0, 0) != 0)
		FAIL("vm %ld: a fresh SMMU bank maps iova 0x1000", vm->vmid);
	r = hvc(HVC_PHYS_ADDR_IOREMAP, vm->vmid, GUEST_MMIO_IPA, GUEST_MMIO_IPA, 4096, 0);
	if (r)
		FAIL("vm %ld: PHYS_ADDR_IOREMAP %ld", vm->vmid, r);
	/* forbidden: KCore's memory into the VM. KCore refuses it (-EINVAL / -EPERM) or, for a
	 * RAM page, OMAP_IO leaves it alone (0): either way nothing is mapped, which the guest's
	 * read of HLK_PROBE_IPA shows (an MMIO exit, checked after the run) */
	ioremap_rc = hvc(HVC_PHYS_ADDR_IOREMAP, vm->vmid, HLK_PROBE_IPA, EL2_MEM_BASE, 4096, 0);
	r = load_and_verify(vm->vmid, vm->chunk, hlk_guest_sig);
	if (r != 1) {
		/* not verified: it must never run; its chunk may be the VM's now: keep it */
		FAIL("vm %ld: VERIFY_VM_IMAGE %ld", vm->vmid, r);
		ret = -EIO;
		goto free_mem;
	}
	atomic64_inc(&st_vms);
	host_smmu_cycle(cpu, dma, ARRAY_SIZE(dma));

	/* the vCPUs, on every CPU */
	for (i = 0; i < n; i++) {
		struct task_struct *t = kthread_create(vcpu_thread, &vm->vc[i], "hlk-vm%ld-%u", vm->vmid, i);

		if (IS_ERR(t)) {
			FAIL("vm %ld: kthread_create %ld", vm->vmid, PTR_ERR(t));
			vm->vc[i].finished = true;
			atomic_inc(&vm->ndone);
			complete(&vm->vc[i].done);
			continue;
		}
		kthread_bind(t, (cpu + i) % ncpu);
		wake_up_process(t);
	}
	/* forbidden: clear the VM while its vCPUs run on the other CPUs. KCore clears only a
	 * powered-off VM: nothing may move (the guests' read-back checksums show it) */
	msleep(1);
	r = hvc(HVC_CLEAR_VM_S2_RANGE, vm->vmid, GUEST_IPA, HLK_CLEAR_SIZE, 0, 0);
	for (i = 0; i < n; i++)
		wait_for_completion(&vm->vc[i].done);
	{
		bool sums_ok = true;

		for (i = 0; i < n; i++) {
			struct hlk_vcpu *vc = &vm->vc[i];

			if (vc->finished && vc->sum_seen && vc->sum == expected_sum(vm->vmid, i)) {
				atomic64_inc(&st_vcpu_runs);
			} else {
				sums_ok = false;
				FAIL("vm %ld vcpu %u: finished %d, checksum %llx (want %llx)", vm->vmid, i, vc->finished,
				     vc->sum, expected_sum(vm->vmid, i));
			}
		}
		forbidden(r >= 0 && sums_ok, "CLEAR_VM_S2_RANGE of a running VM (nothing cleared)", r);
		for (i = 0; i < n; i++)
			forbidden((ioremap_rc == 0 || ioremap_rc == KC_EINVAL || ioremap_rc == KC_EPERM) &&
				  vm->vc[i].probe_exit,
				  "PHYS_ADDR_IOREMAP of KCore's memory into a VM (the guest's read exits: unmapped)",
				  ioremap_rc);
	}
	if (!vm->powered_off) {
		/* a vCPU may still be runnable: its pages stay the VM's, never given back */
		FAIL("vm %ld: not powered off", vm->vmid);
		ret = -EIO;
		goto free_mem;
	}
	r = hvc(HVC_SMMU_FREE_PGD, vm_banks[bank].cb, vm_banks[bank].idx, 0, 0, 0);
	if (r)
		FAIL("vm %ld: SMMU_FREE_PGD %ld", vm->vmid, r);
	bank_put(bank);
	r = hvc(HVC_REGISTER_VCPU, vm->vmid, HLK_MAX_VCPUS, virt_to_phys(vm->vc[0].hv), 0, 0);
	forbidden(r == KC_EINVAL, "REGISTER_VCPU of a vCPU id past the VM's", r);
	r = hvc(HVC_CLEAR_VM_S2_RANGE, vm->vmid, GUEST_IPA, HLK_CLEAR_SIZE, 0, 0);
	if (r) {
		FAIL("vm %ld: CLEAR_VM_S2_RANGE %ld: its pages stay with the driver", vm->vmid, r);
		ret = -EIO;
		goto free_mem;
	}
	/* every page is Linux's again, zeroed by KCore */
	if (*(volatile u64 *)page_address(vm->chunk) != 0)
		FAIL("vm %ld: the image chunk came back not zeroed", vm->vmid);
	pr_info("hyplog-kvm: vm %ld done (from cpu %u): %u vCPUs, %u guest pages given back\n", vm->vmid, cpu, n,
		vm->npages);
	for (i = 0; i < vm->npages; i++)
		__free_page(vm->pages[i]);
	vm->npages = 0;
	chunk_put(vm->chunk);
	kfree(vm->pages);
	vm->pages = NULL;
free_mem:
	/* on a failure after the VM got pages, they (and the chunk) are kept: never handed
	 * back to Linux while KCore may still count them as the VM's */
	if (ret && vm->vmid > 0)
		vm->pages = NULL;
	for (i = 0; i < n; i++)
		if (vm->vc[i].hv && (ret == 0 || vm->vmid < 1))
			free_page((unsigned long)vm->vc[i].hv);
	for (i = 0; i < ARRAY_SIZE(dma); i++)
		if (dma[i])
			__free_page(dma[i]);
	kfree(vm->pages);
	if (ret == 0 || vm->vmid < 1)
		kfree(vm);
	return ret;
}

/* the forbidden attempts that need no VM */
static void forbidden_host(void)
{
	long r;

	r = hvc(HVC_REGISTER_KVM, HLK_KEY_IDX + 1, 0, 0, 0, 0);
	forbidden(r == KC_EINVAL, "REGISTER_KVM naming a key KCore does not hold", r);
	r = hvc(HVC_REGISTER_KVM, EL2_MEM_BASE, 0, 0, 0, 0);
	forbidden(r == KC_EINVAL, "REGISTER_KVM with an address for a key index", r);
	r = hvc(HVC_VCPU_RUN, 0, 0, 0, 0, 0);
	forbidden(r == KC_EINVAL, "VCPU_RUN of vmid 0 (the host)", r);
	r = hvc(HVC_VCPU_RUN, 1000, 0, 0, 0, 0);
	forbidden(r == KC_EINVAL, "VCPU_RUN of a vmid past MAX_VM", r);
	r = hvc(HVC_SET_BOOT_INFO, 1, GUEST_IPA, 4096, EL2_MEM_BASE, 0);
	forbidden(r == KC_EINVAL, "SET_BOOT_INFO with its signature in KCore's memory", r);
	r = hvc(HVC_CLEAR_VM_S2_RANGE, 1, 0x123, 4096, 0, 0);
	forbidden(r == KC_EINVAL, "CLEAR_VM_S2_RANGE unaligned", r);
	r = hvc(HVC_CLEAR_VM_S2_RANGE, 1, 0, 2ull << 30, 0, 0);
	forbidden(r == KC_EINVAL, "CLEAR_VM_S2_RANGE of more than 1 GiB", r);
	r = hvc(99, 0, 0, 0, 0, 0);
	forbidden(r == KC_ENOSYS, "an unknown hypercall", r);
	/* not attempted: an SMMU map of KCore's memory. KCore refuses a non-RAM page with
	 * -EINVAL, but a RAM page KCore owns (s2page owner COREVISOR) halts the CPU in
	 * OSMMU_MAP (the seed's rule): KCore's defined answer, not a refusal Linux survives */
}

static void report(char *buf, size_t len)
{
	int n = scnprintf(buf, len,
			  "hyplog-kvm: summary vms %lld vcpu_runs %lld vcpu_run_calls %lld irq_exits %lld faults %lld mmio %lld wfx %lld smmu_ops %lld refused %lld failed %lld per_cpu",
			  atomic64_read(&st_vms), atomic64_read(&st_vcpu_runs), atomic64_read(&st_run_calls),
			  atomic64_read(&st_irq_exits), atomic64_read(&st_faults), atomic64_read(&st_mmio),
			  atomic64_read(&st_wfx), atomic64_read(&st_smmu_ops), atomic64_read(&st_refused),
			  atomic64_read(&st_failed));
	for (unsigned int c = 0; c < num_possible_cpus() && c < NR_CPUS; c++)
		n += scnprintf(buf + n, len - n, " %lld", atomic64_read(&st_cpu_runs[c]));
	scnprintf(buf + n, len - n, "\n");
}

#define HLK_IOC_RUN _IO('H', 1)
#define HLK_IOC_FORBID _IO('H', 2)
#define HLK_IOC_REPORT _IO('H', 3)

static long hlk_cmd(unsigned int cmd)
{
	char line[320];

	switch (cmd) {
	case HLK_IOC_RUN:
		return run_vm();
	case HLK_IOC_FORBID:
		forbidden_host();
		return 0;
	case HLK_IOC_REPORT:
		report(line, sizeof(line));
		pr_info("%s", line);
		return 0;
	default:
		return -ENOTTY;
	}
}

static long hlk_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	return hlk_cmd(cmd);
}

static ssize_t hlk_write(struct file *f, const char __user *ubuf, size_t len, loff_t *pos)
{
	char cmd[16] = { 0 };
	long r;

	if (copy_from_user(cmd, ubuf, min(len, sizeof(cmd) - 1)))
		return -EFAULT;
	if (!strncmp(cmd, "run", 3))
		r = hlk_cmd(HLK_IOC_RUN);
	else if (!strncmp(cmd, "forbidden", 9))
		r = hlk_cmd(HLK_IOC_FORBID);
	else if (!strncmp(cmd, "report", 6))
		r = hlk_cmd(HLK_IOC_REPORT);
	else
		r = -EINVAL;
	return r < 0 ? r : (ssize_t)len;
}

static ssize_t hlk_read(struct file *f, char __user *ubuf, size_t len, loff_t *pos)
{
	char line[320];

	report(line, sizeof(line));
	return simple_read_from_buffer(ubuf, len, pos, line, strlen(line));
}

static const struct file_operations hlk_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = hlk_ioctl,
	.write = hlk_write,
	.read = hlk_read,
	.llseek = noop_llseek,
};

static struct miscdevice hlk_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "hyplog-kvm",
	.fops = &hlk_fops,
};

static int __init hlk_init(void)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(host_bank_lock); i++)
		mutex_init(&host_bank_lock[i]);
	for (unsigned int i = 0; i < min(chunks, (unsigned int)ARRAY_SIZE(chunk_pool)); i++) {
		struct page *p = alloc_pages(GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN, 9);

		if (!p)
			break;
		chunk_pool[nchunks++] = p;
	}
	if (!nchunks) {
		pr_err("hyplog-kvm: no 2 MiB chunk for a VM image\n");
		return -ENOMEM;
	}
	pr_info("hyplog-kvm: %u image chunks, %u vCPUs per VM, guest %zu bytes\n", nchunks, vcpus,
		(size_t)(hlk_guest_bin_end - hlk_guest_bin));
	return misc_register(&hlk_dev);
}

static void __exit hlk_exit(void)
{
	misc_deregister(&hlk_dev);
	while (nchunks)
		__free_pages(chunk_pool[--nchunks], 9);
}

module_init(hlk_init);
module_exit(hlk_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("hyplog: run VMs under KCore through its hypercall ABI");
