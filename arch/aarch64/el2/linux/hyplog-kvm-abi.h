/*
 * hyplog-kvm-abi.h - what hyplog-kvm.ko and its guest (guest-vm.S) share. Plain #defines:
 * the assembler includes it too. The hypercall numbers and struct host_vcpu mirror
 * arch/aarch64/kcore.h (the kernel module cannot include that userspace header); the
 * module's build-time asserts check the struct's size and offsets against the numbers here.
 */
#ifndef HYPLOG_KVM_ABI_H
#define HYPLOG_KVM_ABI_H

#define HLK_GUEST_PAGES   8                                /* data pages per vCPU */
#define HLK_MB_IPA        (GUEST_MMIO_IPA + 0x1000000)     /* MMIO exits: the host's mailbox */
#define HLK_MB_ANSWER     8                                /* read: the host's answer */
#define HLK_MB_SUM        16                               /* write: the guest's checksum */
#define HLK_MB_OFF        24                               /* read: nonzero = power off */
#define HLK_VIRTIO_MAGIC  0x74726976                       /* "virt" at GUEST_MMIO_IPA */
#define HLK_PROBE_IPA     (GUEST_MMIO_IPA + 0x10000)       /* IOREMAP'd to KCore's memory: refused */

#endif
