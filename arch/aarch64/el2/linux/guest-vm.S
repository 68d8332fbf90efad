/*
 * guest-vm.S - the guest hyplog-kvm.ko runs: raw code at GUEST_IPA (layout.h), signed with
 * KCore's test key at build time (scripts/linux-module), verified by KCore at EL2. Every vCPU
 * of a VM runs it from the boot PC (MMU off, its own stage-2 table) and makes KCore and the
 * Linux host do something:
 *   SCTLR_EL1 reads and writes (no trap: no HCR_EL2.TVM, sysreg.h)
 *   HLK_GUEST_PAGES data pages of its own (at GUEST_DATA_IPA + vcpuid * HLK_GUEST_PAGES * 4K):
 *     stage-2 faults the driver answers with pages it allocates
 *   KVM_SET_DESC_PFN / KVM_UNSET_DESC_PFN of its first data page (share/unshare, PV calls)
 *   wfi (a WFx exit), a read of the device KCore mapped (PHYS_ADDR_IOREMAP: virtio-mmio's
 *     magic "virt", no exit), a read of HLK_PROBE_IPA, which the host asked KCore to map to
 *     KCore's own memory (refused: an MMIO exit the host answers with 0)
 *   MMIO exits at HLK_MB: a read the host answers (+8), the data pages read back, then the
 *     checksum written (+16): a page taken from the running VM (a clear that was not
 *     refused) would read back as 0 and spoil it
 *   then "done" (PSCI CPU_OFF, an HVC KCore passes to the host) until the host's word at +24
 *     is nonzero; then PSCI SYSTEM_OFF powers the VM off (the host lets only vCPU 0 do that,
 *     once every other vCPU is done)
 */
#include "layout.h"
#include "hyplog-kvm-abi.h"

	.text
	.global	guest_start
guest_start:
	mrs	x19, mpidr_el1		/* VMPIDR_EL2 = (1 << 31) | vcpuid */
	and	x19, x19, #0xff
	mov	x20, #0			/* checksum */
	/* 1. SCTLR_EL1 writes (no trap: no HCR_EL2.TVM) */
	mov	x21, #16
1:	mrs	x0, sctlr_el1
	msr	sctlr_el1, x0
	subs	x21, x21, #1
	b.ne	1b
	/* 2. this vCPU's data pages: stage-2 faults; page k holds (PAGES - k) + (vcpuid << 8) */
	ldr	x1, =GUEST_DATA_IPA
	mov	x2, #(HLK_GUEST_PAGES * 4096)
	madd	x22, x19, x2, x1
	mov	x1, x22
	mov	x21, #HLK_GUEST_PAGES
2:	add	x3, x21, x19, lsl #8
	str	x3, [x1]
	add	x1, x1, #4096
	subs	x21, x21, #1
	b.ne	2b
	/* 3. share and unshare the first data page (x0 = 0 each when KCore did it) */
	ldr	x0, =0x81000
	mov	x1, x22
	mov	x2, #4096
	hvc	#0
	add	x20, x20, x0
	ldr	x0, =0x82000
	mov	x1, x22
	mov	x2, #4096
	hvc	#0
	add	x20, x20, x0
	/* 4. WFx exit */
	wfi
	/* 5. the device KCore mapped: virtio-mmio magic */
	ldr	x1, =GUEST_MMIO_IPA
	ldr	w3, [x1]
	add	x20, x20, x3
	/* the page the host asked KCore to map to KCore's own memory (refused): an MMIO exit
	 * the host answers with 0; mapped, it would read KCore's memory without an exit */
	ldr	x1, =HLK_PROBE_IPA
	ldr	x5, [x1]
	add	x20, x20, x5
	/* 6. MMIO: the host's answer, the data pages read back, the checksum reported */
	ldr	x1, =HLK_MB_IPA
	ldr	x4, [x1, #8]
	add	x20, x20, x4
	mov	x1, x22
	mov	x21, #HLK_GUEST_PAGES
3:	ldr	x3, [x1]
	add	x20, x20, x3
	add	x1, x1, #4096
	subs	x21, x21, #1
	b.ne	3b
	ldr	x1, =HLK_MB_IPA
	str	x20, [x1, #16]
	/* 7. done until the host says power off */
4:	ldr	x1, =HLK_MB_IPA
	ldr	x4, [x1, #24]
	cbnz	x4, 5f
	ldr	x0, =0x84000002		/* PSCI CPU_OFF: "this vCPU is done" */
	hvc	#0
	b	4b
5:	ldr	x0, =0x84000008		/* PSCI SYSTEM_OFF */
	hvc	#0
6:	b	6b
	.ltorg
	.global	guest_end
guest_end:

	.section .note.GNU-stack, "", %progbits
