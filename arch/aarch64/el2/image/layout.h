/*
 * layout.h - the EL2 image's memory map and the private calls between the EL1 host test
 * kernel and the image, shared by the EL2 code, the host kernel and the guest.
 *
 * QEMU virt (-m 1024): RAM 0x40000000..0x80000000.
 *   0x40000000 .. +ram_mib     host RAM: the engine's s2page (the host kernel is loaded at
 *                              its start and runs from there under the engine's stage 2)
 *   0x48000000 ..              the EL2 image: text, data, bss, per-CPU stacks and TLS
 *   EL2_HEAP_BASE .. RAM end   the EL2 heap: engine state, table pools, log segments
 * Everything from EL2_MEM_BASE up is never mapped for the host:
 *   hyplog-el2.elf (test kernel, s2page = -Dram_mib below EL2_MEM_BASE): main.c refuses it
 *     before the engine sees the fault (the engine maps a PA below RAM as device memory)
 *   hyplog-el2-linux.elf (issue 12): QEMU -m LINUX_QEMU_RAM_MIB and s2page covers all of it
 *     (HL_RAM_MIB_OVERRIDE): [EL2_MEM_BASE, EL2_RAM_END) is KCore's range in the engine's
 *     configuration, owned by COREVISOR in s2page from the start, so the engine itself
 *     refuses the host's faults there (map_host of a page the host does not own halts);
 *     Linux's RAM is the rest: [HL_RAM_BASE, EL2_MEM_BASE) and [EL2_RAM_END, RAM end), and
 *     its device tree reserves KCore's range (no-map)
 */
#ifndef EL2IMG_LAYOUT_H
#define EL2IMG_LAYOUT_H

#define EL2_MEM_BASE      0x48000000
#define EL2_HEAP_BASE     0x50000000
#define EL2_RAM_END       0x80000000   /* -m 1024: the end of KCore's memory (heap end) */
#define LINUX_QEMU_RAM_MIB 2048        /* --linux: QEMU -m, = s2page (meson.build linux_ram_mib) */
#define EL2_UART_BASE     0x09000000
#define EL2_STACK_SIZE    0x20000      /* per CPU */
#define EL2_TLS_SIZE      0x1000       /* per CPU: TCB + .tdata + .tbss */
#define EL2_MAX_CPUS      8
/* the per-boot stream key (32 bytes): `hyplog boot` writes a fresh random one here with QEMU's
 * -device loader (4 x 8 bytes); the image reads it at boot, wipes the page and authenticates
 * the log stream with HMAC-SHA-256 under it (main.c). Above the image's end (image.ld), in
 * KCore's memory: never mapped for the host, so the host cannot read it */
#define EL2_STREAMKEY_PA  0x4ffff000

#define HOST_BASE         0x40000000   /* host kernel load address */
#define HOST_STACK_SIZE   0x10000
/* per host CPU c: a 12 MiB window at HOST_CPU_BASE + c * HOST_CPU_STRIDE */
#define HOST_CPU_BASE     0x40400000
#define HOST_CPU_STRIDE   0x00C00000
#define HOST_TOUCH_OFF    0x000000     /* pages the host touches: host stage-2 faults */
#define HOST_IMG_OFF      0x200000     /* 2 MiB-aligned chunks, one per VM image */
#define HOST_GPOOL_OFF    0x800000     /* pages handed to guests on their stage-2 faults */
#define HOST_SMMU_OFF     0xA00000     /* pages mapped through the SMMU */

/* hyplog-el2-linux.elf (issue 12): Debian's arm64 kernel as the EL1 host on CPU 0. `hyplog
 * boot --linux` loads these with QEMU's -device loader (scripts/linux-fetch builds them); the
 * device tree's memory node is rewritten by the image to the engine's s2page RAM only */
#define LINUX_IMAGE_PA    0x40200000   /* 2 MiB aligned: the Image's text_offset is added */
#define LINUX_INITRD_PA   0x42000000   /* the kernel's image_size must end below this */
#define LINUX_DTB_PA      0x43e00000   /* below HL_RAM_BASE + 64 MiB (-Dram_mib >= 64) */
#define LINUX_DTB_MAX     0x00100000

#define GUEST_IPA         0x80000000ull   /* guest image load address (2 MiB block) */
#define GUEST_DATA_IPA    0x80200000ull   /* pages the guest touches (stage-2 faults) */
#define GUEST_MMIO_IPA    0x0a000000ull   /* unmapped device IPA: MMIO exits */
#define GUEST_DATA_PAGES  12
/* FP/SIMD switch check (guest.S, host.c): the guest's secret in every lane of v0..v31, the
 * host's own value per CPU (HOST_FP_VALUE + cpu) around each VCPU_RUN */
#define GUEST_FP_SECRET   0x5EC2E7F0A55AC3E1
#define HOST_FP_VALUE     0x4057F00D00000000
/* system-register switch check (guest.S, host.c; vcpu.c's table): the guest's secrets
 * GUEST_SYS_SECRET + k in TPIDR_EL0, TPIDRRO_EL0, TPIDR_EL1, SP_EL0, ELR_EL1, CNTV_CVAL_EL0
 * (k = 0..5) with CNTV_CTL_EL0 = 3 (on, masked); the host's HOST_SYS_VALUE + 16 * cpu + k
 * with CNTV_CTL_EL0 = 2 (off, masked) around each VCPU_RUN; the same with k = 6, 7 in the PAuth
 * keys APIAKEYLO_EL1, APGAKEYLO_EL1 (a guest runs with HCR_EL2.API = APK = 1 and its own keys)
 * and k = 8 in TPIDR2_EL0 (FEAT_SME); a register the CPU lacks counts as kept for the guest
 * and is left out of the host's count (host_sys_absent). SYS_SWITCHED registers in all */
#define GUEST_SYS_SECRET  0x5EC25E5000000000
#define HOST_SYS_VALUE    0x40575E5000000000
#define SYS_SWITCHED      10
/* and DISR_EL1 (VDISR_EL2 under HCR_EL2.AMO, FEAT_RAS): 0 at the guest's start whatever VM
 * ran on the CPU before, GUEST_DISR_SECRET (A | DFSC 0x11) to its end: the guest reports
 * SYS_SWITCHED + 2 (without FEAT_RAS it counts both); + 1: a PACGA with the guest's APGA
 * key at its start gives the same PAC at its end (the instruction runs without a trap and
 * the key survived every exit; counted without PAuth) */
#define GUEST_DISR_SECRET 0x80000011
/* + 2: MAIR_EL1 and CONTEXTIDR_EL1 keep GUEST_SYS_SECRET + 9, + 10 (written without a trap:
 * no HCR_EL2.TVM, sysreg.h; with TVM KCore skipped the writes and they were lost) */
#define SYS_GUEST_KEPT    (SYS_SWITCHED + 5)
#define SYS_REFUSED       3   /* DBGBVR0_EL1, PMCCNTR_EL0, CNTP_CVAL_EL0 */
/* el2red (guest.S 6e): the guest's SMCs KCore answers NOT_SUPPORTED, and its HVCs with the
 * host's call numbers that come back unanswered (x0 unchanged) */
#define GUEST_SMC_CALLS   6
#define GUEST_HOST_CALLS  8

/* SMCCC vendor-specific hypervisor service calls (fast, 64-bit): handled by the image,
 * never by KCore, so they are not engine operations */
#define VH_PUTS           0xC6000001   /* x1 = PA of a NUL-terminated line (<= 200 bytes) */
#define VH_DONE           0xC6000002   /* x1 = status (0 pass), x2 = host checks run */
#define VH_BARRIER        0xC6000003   /* wait until every host CPU called it */
#define VH_TLB_PROBE      0xC6000004   /* x1 = host page of the TLB race (host.c); x0 = ncpus */
#define VH_TLB_PROBE_FAULTS 0xC6000005 /* x0 = host accesses to it refused once a VM's */

#endif
