/*
 * hostile.h - the hostile workload (mix "hostile", issue 10.4): the untrusted host and its
 * guests try every forbidden action class at random, through the real interfaces (host
 * hypercalls, host memory accesses and SMMU register stores that trap, fault answers in the
 * shared host_vcpu, guest PV calls). Each attempt is classified by how KCore answered it:
 *   refused    an error code (or, for a fault answer / verification, "not applied")
 *   halted     the CPU halted (the spec's answer for some of them: the run goes on with
 *              the CPUs that remain)
 *   no change  accepted as a no-op, and the state it aimed at is as it was
 *   SUCCEEDED  the forbidden thing happened (the host read a VM page, a bad image verified,
 *              a count passed its bound, ...): the run fails (hp_first_error)
 * The generator is here; platform.c calls it from the host model (a few dispatch calls)
 * and gives it what the host knows about its own VMs and pages (struct hp_hview).
 */
#ifndef HL_HOSTILE_H
#define HL_HOSTILE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "platform.h"

enum hp_hclass {
	HC_HOST_TOUCH_VM,      /* host load from a VM-owned page (TLB or a stage-2 fault) */
	HC_FAULT_MAPPED_GFN,   /* fault answer: a frame the VM maps at another gfn */
	HC_FAULT_L2_OVER_L3,   /* fault answer: a level-2 block where a level-3 table exists */
	HC_FAULT_UNALIGNED,    /* fault answer: level-2 block at an unaligned frame */
	HC_FAULT_OUT_OF_RAM,   /* fault answer: a frame outside RAM */
	HC_DMA_VM_PAGE,        /* SMMU_LPAE_MAP of a VM page into the host's bank */
	HC_SMMU_MAP_OVER,      /* SMMU_LPAE_MAP over a present entry */
	HC_CLEAR_DMA_MAPPED,   /* CLEAR_VM_S2_RANGE while the VM's SMMU bank maps its pages */
	HC_FREE_MAPPED_BANK,   /* SMMU_FREE_PGD of a bank that still maps pages (must clear them) */
	HC_GRANT_PAST_MAX,     /* guest grants one page past MAX_SHARE_COUNT */
	HC_REVOKE_AT_0,        /* guest revokes a page it never granted */
	HC_VMID_EXHAUST,       /* REGISTER_KVM until KCore has no vmid left */
	HC_RUN_UNVERIFIED,     /* VCPU_RUN of a VM whose image never verified */
	HC_BAD_SIG,            /* an image with a corrupted signature */
	HC_NONKCORE_KEY,       /* an image signed with a key KCore does not hold */
	HC_BAD_KEY_IDX,        /* REGISTER_KVM naming a key index KCore does not have */
	HC_SMMU_CLIENTPD,      /* sCR0.CLIENTPD := 1 (all streams bypass) */
	HC_SMMU_S2CR_BYPASS,   /* S2CR type bypass */
	HC_SMMU_CBAR,          /* CBAR of a bank: another type or another VMID */
	HC_IOREMAP_SMMU,       /* PHYS_ADDR_IOREMAP of an SMMU register window into a VM */
	HC_BAD_ARGS,           /* out-of-range arguments of a hypercall */
	HC__COUNT
};

enum hp_hans { HA_REFUSED, HA_HALTED, HA_NOCHANGE, HA_SUCCEEDED, HA__COUNT };

struct hp_hostile_stats {
	uint64_t n[HC__COUNT][HA__COUNT];
};

const char *hp_hclass_name(unsigned c);
const char *hp_hans_name(unsigned a);

/* what the host model knows about one of its VMs (platform.c fills it) */
struct hp_hvm {
	uint32_t vmid;          /* 0: empty slot */
	bool running;
	int bank;               /* SMMU bank id, -1 none */
	uint64_t page_pfn;      /* a frame the host gave the VM (0 none) */
};

#define HP_HVIEW_VMS 3u
struct hp_hview {
	struct hp_platform *p;
	unsigned cpu;
	uint64_t r;                     /* randomness for this action */
	int host_bank;                  /* the host's own bank, -1 none */
	struct hp_hvm vm[HP_HVIEW_VMS];
	/* a free host page (the host model stops using it), 0 if none */
	uint64_t (*take_page)(void *ctx);
	/* a free 512-page, 2 MiB-aligned block of host pages (never given back), 0 if none */
	uint64_t (*take_block)(void *ctx);
	void *ctx;
};

struct hp_hostile;

struct hp_hostile *hp_hostile_new(struct hl_engine *e, struct kcore *k, unsigned ncpus);
void hp_hostile_free(struct hp_hostile *h);
/* one forbidden action by host CPU v->cpu */
void hp_hostile_act(struct hp_hostile *h, const struct hp_hview *v);
/* the guest faulted at ipa: maybe write a bad answer into its host_vcpu at hv (true: done,
 * the host model writes none). other_ipa: an address the VM has mapped (0 none) */
bool hp_hostile_fault_answer(struct hp_hostile *h, const struct hp_hview *v, uint32_t vmid, unsigned vcpu,
			     uint64_t hv, uint64_t ipa, uint64_t other_ipa, uint64_t r);
/* a powered-off VM is torn down: try the forbidden steps first. true: the bank is free
 * already (the host model skips its per-entry SMMU_CLEARs) */
bool hp_hostile_teardown(struct hp_hostile *h, const struct hp_hview *v, uint32_t vmid, int bank,
			 const uint64_t *dma_pfn, unsigned ndma, uint64_t guest_ram, uint64_t size);
/* guests: true while vcpu is granting one page up to the maximum (every action a grant) */
bool hp_hostile_guest_burst(struct hp_hostile *h, uint32_t vmid, unsigned vcpu);
/* the guest's PV share/unshare of its page *page (gpa_base + page * 4K): in hostile mode it
 * may revoke what it never granted, or grant one page past the maximum. *grant and *page
 * are in/out; true: issue the call */
bool hp_hostile_guest_share(struct hp_hostile *h, uint32_t vmid, unsigned vcpu, uint64_t gpa_base, bool *grant,
			    unsigned *page, uint64_t r);
/* first forbidden action that succeeded, or NULL */
const char *hp_hostile_error(struct hp_hostile *h);
void hp_hostile_stats_get(struct hp_hostile *h, struct hp_hostile_stats *out);
/* the platform's generator (NULL unless the mix has HP_MIX_HOSTILE) */
struct hp_hostile *hp_hostile_of(struct hp_platform *p);
/* the table (one line per class with any attempt) */
void hp_hostile_print(const struct hp_hostile_stats *st, FILE *f);

#endif
