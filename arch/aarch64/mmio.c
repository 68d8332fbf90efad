/*
 * mmio.c - emulate_mmio: host accesses to the SMMU register windows (REFERENCE 5.3,
 * SPEC §9.16).
 *
 * The host keeps driving its SMMUs, but KCore owns their translation: it checks every
 * write under the smmu lock, substitutes its own table roots, and refuses every write
 * that would let a DMA bypass KCore's stage-2 tables, reach a bank the host does not own,
 * or walk KCore's tables with another geometry. Field layouts: Arm SMMU architecture v2
 * (IHI 0062), as in Linux drivers/iommu/arm/arm-smmu/arm-smmu.h.
 *
 * Rule table, register by register, field by field (offsets inside one SMMU's 64 KiB
 * window; n = bank or group index; "banks" = this SMMU's banks, hl_smmu_num_banks(index);
 * owner = the engine's smmu owner of bank n, read under the smmu lock):
 *
 *   access                          rule
 *   ---------------------------------------------------------------------------------------
 *   width (1 << SAS) not 4 or 8,    refused (reads and writes)
 *   unaligned, or no ISV
 *   read                            value of the emulated register into Rt
 *   --- global register space 0 (GR0) ---------------------------------------------------
 *   sCR0 0x000      CLIENTPD [0]    must be 0: 1 lets every stream bypass translation
 *                   EXIDENABLE [3]  must be 0: extended stream IDs move SMR.VALID into
 *                                   S2CR.EXIDVALID, outside these rules
 *                   USFCFG [10]     must be 1: 0 lets unmatched streams bypass
 *                   SMCFCFG [21]    must be 1: 0 lets a multi-match bypass (REFERENCE 5.3)
 *                   VMID16EN [31]   must be 0: CBA2R.VMID16 would tag banks instead of
 *                                   CBAR.VMID, outside the CBAR rule
 *                   other fields    written (fault reporting; attributes of bypass
 *                                   transactions, which the fields above exclude)
 *   sCR1 0x004                      refused (Secure-only: partitions banks and SMRs)
 *   sCR2 0x008      BPVMID [7:0]    must be 0 (REFERENCE 5.3); other fields written
 *   sACR 0x010                      written (auxiliary control, no translation effect)
 *   sIDR0..7 0x020..0x03C           refused (read-only)
 *   sGFAR 0x040, sGFSR 0x048,       written (global fault state)
 *   sGFSRRESTORE 0x04C,
 *   sGFSYNR0..2 0x050..0x058
 *   STLBIALL 0x060, TLBIVMID 0x064, written (an invalidation only drops cached
 *   TLBIALLNSNH 0x068, TLBIALLH     translations; it never makes one)
 *   0x06C, sTLBGSYNC 0x070
 *   SMRn 0x800 + 4n                 written: a stream match only selects an S2CR, and
 *                                   every S2CR is checked below
 *   S2CRn 0xC00 + 4n TYPE [17:16]   TRANS (0) or FAULT (2); BYPASS (1) and 3 refused
 *                   CBNDX [7:0]     TRANS: n < banks and owner == HOSTVISOR (a stream
 *                                   into a VM's or a free bank would DMA through it;
 *                                   host banks stay the host's: OSMMU_FREE of a host
 *                                   bank halts, so the check cannot go stale)
 *                   EXIDVALID [10]  must be 0
 *                   other fields    written (privilege/instruction/attribute overrides)
 *   any other GR0 offset            refused (read-only, Secure aliases, GATS: not modelled)
 *   --- global register space 1 (GR1, 0x1000) -------------------------------------------
 *   CBARn 0x1000 + 4n (n < banks)   free bank: refused
 *                   TYPE [17:16]    must be S2_TRANS (0): stage-1 types bypass or add a
 *                                   host-chosen stage
 *                   VMID [7:0]      host bank: HOSTVISOR (0); VM bank: the owner's vmid
 *                                   (another VM's VMID would share its TLB entries)
 *                   other fields    written (IRPTNDX; stage-1 attributes, unused)
 *   CBFRSYNRAn 0x1400 + 4n          written (fault syndrome)
 *   CBA2Rn 0x1800 + 4n (n < banks)  free bank: refused
 *                   VA64 [0]        must be 1: KCore's tables are AArch64 descriptors
 *                   VMID16 [31:16]  as CBAR.VMID (unused while VMID16EN is 0)
 *   any other GR1 offset            refused (includes banks past this SMMU's count)
 *   global pages 2..7 0x2000..0x7FFF refused (IMPDEF, PMU, SSD: not modelled)
 *   --- context bank n, 0x8000 + 0x1000 n (n < banks; any other bank refused) ----------
 *   SCTLR 0x000     M [0]           must be 1: 0 turns the bank's translation off (bypass)
 *                   E [4]           must be 0: big-endian walks misread KCore's tables
 *                   other fields    written (fault reporting, attribute overrides)
 *   ACTLR 0x004, RESUME 0x008       written
 *   TCR2 0x010, TTBR1 0x028,        written (stage-1 only: every bank is stage 2 only)
 *   MAIR0/1 0x038/0x03C
 *   TTBR0 0x020 (+0x024)            written, then replaced by KCore's root for the bank:
 *                                   either half, any width, leaves exactly that root
 *   TCR 0x030       T0SZ [5:0]      must be KCore's geometry (KC_SMMU_S2_TCR): 40-bit
 *                   SL0 [7:6]       input, start level 1 (two concatenated roots), 4 KiB
 *                   TG0 [15:14]     granule, 40-bit output. Another start level or size
 *                   PS [18:16]      would read a leaf as a table: host memory as tables
 *                   IRGN0/ORGN0/SH0 written (walk cacheability)
 *   CONTEXTIDR 0x034                refused (REFERENCE 5.3)
 *   PAR 0x050, FSR 0x058,           written (fault and translation-op results)
 *   FSRRESTORE 0x05C, FAR 0x060,
 *   FSYNR0/1 0x068/0x06C, IPAFAR 0x070
 *   TLBI* 0x600..0x63C, TLBSYNC     written (invalidations)
 *   0x7F0, ATS1* 0x800..0x81C
 *   any other bank offset           refused (read-only TLBSTATUS/ATSR, reserved)
 *
 * The registers are 32-bit except where a 64-bit access covers two: an 8-byte write is
 * written only if both words are allowed.
 *
 * Reset values (kcore_new): sCR0 = SMCFCFG | USFCFG, every S2CR = FAULT, every bank
 * SCTLR.M = 1, TCR = KC_SMMU_S2_TCR, TTBR0 = KCore's root, CBA2R.VA64 = 1: the rules hold
 * from the start, so no stream can DMA before the host programs anything. When a bank
 * changes hands (SMMU_ALLOC_PGD, SMMU_FREE_PGD) KCore writes the new owner's VMID into its
 * CBAR/CBA2R itself (kc_smmu_bank_owner_sync), so the CBAR rule holds for banks the host
 * never writes again too.
 *
 * A refused write changes nothing: no emulated register, no engine state, no record; the
 * host's PC still advances and the refusal is counted (mmio_rejected).
 * Deviation: REFERENCE 5.3 panics on a refused access; SPEC §8 says bad host input is
 * rejected without a halt. Deviation (SPEC §9.16): REFERENCE 5.3 lets the host write any
 * other register; the rules above are stricter, field by field.
 */
#include <string.h>

#include "hl_access.h"
#include "hl_pgtable.h"
#include "hl_trans.h"
#include "kc_internal.h"
#include "sysreg.h"

struct mmio_req {
	struct kcore *k;
	unsigned cpu;
	struct trap_frame *f;
	uint64_t ipa;
	bool refused;
};

static inline uint32_t field(uint32_t v, unsigned hi, unsigned lo)
{
	return (v >> lo) & (uint32_t)((1ull << (hi - lo + 1)) - 1);
}

/* the VMID a bank's CBAR/CBA2R must carry: its owner's; a free bank takes no writes */
static bool bank_vmid(const uint32_t *owners, unsigned index, uint32_t n, uint32_t *vmid)
{
	uint32_t owner;

	if (n >= hl_smmu_num_banks(index))
		return false;
	owner = owners[HL_SMMU_ID_OF(index, n)];
	if (owner != HL_HOSTVISOR && (owner < 1 || owner > HL_MAX_VM))
		return false;
	*vmid = owner;
	return true;
}

/* global register space 0 and 1 (offset < KC_SMMU_GLOBAL_BASE) */
static bool global_word_allowed(unsigned index, uint32_t off, uint32_t v, const uint32_t *owners)
{
	uint32_t n, vmid;

	switch (off) {
	case SMMU_GR0_sCR0:
		return !(v & SMMU_sCR0_CLIENTPD) && !(v & SMMU_sCR0_EXIDENABLE) && (v & SMMU_sCR0_USFCFG) &&
		       (v & SMMU_sCR0_SMCFCFG) && !(v & SMMU_sCR0_VMID16EN);
	case SMMU_GR0_sCR2:
		return (v & 0xFF) == 0;
	case 0x010:                                   /* sACR */
	case 0x040: case 0x044: case 0x048: case 0x04C: /* sGFAR, sGFSR, sGFSRRESTORE */
	case 0x050: case 0x054: case 0x058:           /* sGFSYNR0..2 */
	case 0x060: case 0x064: case 0x068: case 0x06C: case 0x070: /* TLB invalidation, sync */
		return true;
	default:
		break;
	}
	if (off >= SMMU_GR0_SMR_BASE && off < SMMU_GR0_S2CR_BASE)
		return true;
	if (off >= SMMU_GR0_S2CR_BASE && off < SMMU_GR1_BASE) {
		uint32_t type = field(v, 17, 16);
		if (v & SMMU_S2CR_EXIDVALID)
			return false;
		if (type == SMMU_S2CR_TYPE_FAULT)
			return true;
		if (type != SMMU_S2CR_TYPE_TRANS)
			return false;
		n = field(v, 7, 0);
		return n < hl_smmu_num_banks(index) && owners[HL_SMMU_ID_OF(index, n)] == HL_HOSTVISOR;
	}
	if (off >= SMMU_GR1_BASE && off < SMMU_GR1_BASE + 0x400) {              /* CBARn */
		n = (off - SMMU_GR1_BASE) / 4;
		return bank_vmid(owners, index, n, &vmid) &&
		       field(v, 17, 16) == SMMU_CBAR_TYPE_S2_TRANS && (v & SMMU_CBAR_VMID_MASK) == vmid;
	}
	if (off >= SMMU_GR1_BASE + 0x400 && off < SMMU_GR1_BASE + 0x800)        /* CBFRSYNRAn */
		return (off - SMMU_GR1_BASE - 0x400) / 4 < hl_smmu_num_banks(index);
	if (off >= SMMU_GR1_CBA2R && off < SMMU_GR1_CBA2R + 0x400) {             /* CBA2Rn */
		n = (off - SMMU_GR1_CBA2R) / 4;
		return bank_vmid(owners, index, n, &vmid) && (v & SMMU_CBA2R_VA64) && field(v, 31, 16) == vmid;
	}
	return false;
}

/* context bank space: `bank` < this SMMU's banks, `reg` the offset inside the bank */
static bool bank_word_allowed(uint32_t reg, uint32_t v)
{
	switch (reg) {
	case SMMU_CB_SCTLR:
		return (v & SMMU_SCTLR_M) && !(v & SMMU_SCTLR_E);
	case SMMU_CB_TCR:
		return (v & KC_SMMU_TCR_GEOMETRY) == (KC_SMMU_S2_TCR & KC_SMMU_TCR_GEOMETRY);
	case SMMU_CB_CONTEXTIDR:
		return false;
	case 0x004: case 0x008: case 0x010:          /* ACTLR, RESUME, TCR2 */
	case SMMU_CB_TTBR0: case SMMU_CB_TTBR0 + 4:  /* replaced by KCore's root */
	case 0x028: case 0x02C: case 0x038: case 0x03C: /* TTBR1, MAIR0/1: stage 1 only */
	case 0x050: case 0x054: case 0x058: case 0x05C: /* PAR, FSR, FSRRESTORE */
	case 0x060: case 0x064: case 0x068: case 0x06C: /* FAR, FSYNR0/1 */
	case 0x070: case 0x074:                      /* IPAFAR */
	case 0x7F0:                                  /* TLBSYNC */
		return true;
	default:
		return (reg >= 0x600 && reg < 0x640) || (reg >= 0x800 && reg < 0x820);   /* TLBI*, ATS1* */
	}
}

/* one 32-bit register at `off` (global space or a context bank) written with `v` */
static bool word_allowed(unsigned index, uint32_t off, uint32_t v, const uint32_t *owners)
{
	uint32_t bank;

	if (off < KC_SMMU_GLOBAL_BASE)
		return global_word_allowed(index, off, v, owners);
	bank = (off - KC_SMMU_GLOBAL_BASE) / KC_SMMU_CB_SIZE;
	if (bank >= hl_smmu_num_banks(index))
		return false;
	return bank_word_allowed((off - KC_SMMU_GLOBAL_BASE) % KC_SMMU_CB_SIZE, v);
}

/* every 32-bit register the access covers must take its part of the value */
static bool write_allowed(unsigned index, uint32_t off, unsigned len, uint64_t val, const uint32_t *owners)
{
	for (unsigned w = 0; w < len; w += 4)
		if (!word_allowed(index, off + w, (uint32_t)(val >> (8 * w)), owners))
			return false;
	return true;
}

static uint64_t *reg_slot(struct kc_smmu_dev *d, uint32_t off)
{
	if (off < KC_SMMU_GLOBAL_BASE)
		return &d->global[off / 8];
	off -= KC_SMMU_GLOBAL_BASE;
	return &d->cb[off / KC_SMMU_CB_SIZE][(off % KC_SMMU_CB_SIZE) / 8];
}

static int mmio_locked(void *arg, const uint32_t *owners)
{
	struct mmio_req *m = arg;
	uint64_t esr = m->f->esr;
	unsigned index = (unsigned)((m->ipa - KC_SMMU_BASE) / KC_SMMU_SIZE);
	uint32_t off = (uint32_t)(m->ipa & (KC_SMMU_SIZE - 1));
	unsigned len = 1u << esr_sas(esr), rt = esr_srt(esr);
	struct kc_smmu_dev *d = &m->k->smmu_dev[index];
	uint64_t *slot, val;
	unsigned shift;

	if ((len != 4 && len != 8) || (off & (len - 1)) || !(esr & ESR_ISV)) {
		m->refused = true;
		return 0;
	}
	slot = reg_slot(d, off & ~7u);
	shift = (off & 4) * 8;
	if (!esr_is_write(esr)) {
		val = len == 8 ? *slot : (*slot >> shift) & 0xFFFFFFFFu;
		if (rt < 31)
			m->f->x[rt] = val;   /* xzr reads are discarded */
		return 0;
	}
	val = rt < 31 ? m->f->x[rt] : 0;
	if (len == 4)
		val &= 0xFFFFFFFFu;
	if (!write_allowed(index, off, len, val, owners)) {
		m->refused = true;
		return 0;
	}
	if (off >= KC_SMMU_GLOBAL_BASE && ((off - KC_SMMU_GLOBAL_BASE) % KC_SMMU_CB_SIZE & ~7u) == SMMU_CB_TTBR0) {
		/* the bank translates through KCore's table, whatever was written to either half */
		*slot = hl_spt_root_pa(m->k->e->st->spt, HL_SMMU_ID_OF(index, (off - KC_SMMU_GLOBAL_BASE) / KC_SMMU_CB_SIZE));
		return 0;
	}
	if (len == 8)
		*slot = val;
	else
		*slot = (*slot & ~(0xFFFFFFFFull << shift)) | (val << shift);
	return 0;
}

int kc_emulate_mmio(struct kcore *k, unsigned cpu, struct trap_frame *f, uint64_t ipa)
{
	struct mmio_req m = { .k = k, .cpu = cpu, .f = f, .ipa = ipa };
	int rc = hl_with_smmu_locked(k->e, (int)cpu, mmio_locked, &m);

	if (rc == 0 && m.refused)
		k->cpu[cpu].mmio_rejected++;
	return rc;
}

static uint32_t reg_word(struct kc_smmu_dev *d, uint32_t off)
{
	return (uint32_t)(*reg_slot(d, off & ~7u) >> ((off & 4) * 8));
}

static void set_word(struct kc_smmu_dev *d, uint32_t off, uint32_t v);

/*
 * A bank changed hands (SMMU_ALLOC_PGD / SMMU_FREE_PGD, H-redteam3): KCore writes the new
 * owner's VMID into the bank's CBAR.VMID and CBA2R.VMID16 itself (0 for the host and for a
 * free bank), the other fields as they are. The host-write rules above require exactly that
 * value, but a host that never writes the bank again used to leave the previous owner's
 * VMID there: a host bank tagged with a dead VM's VMID, a VM's bank with the host's 0
 * (SMMUv2 tags TLB entries by VMID; banks with different tables must not share one).
 *
 *   bank                        event                     CBAR.VMID, CBA2R.VMID16
 *   free (0)                    allocated to owner o      o (host: 0)
 *   owned by o                  host writes               must be o already (rules)
 *   owned by o                  freed                     0
 */
struct bank_sync {
	struct kcore *k;
	unsigned index, cbndx;
};

static int bank_sync_locked(void *arg, const uint32_t *owners)
{
	struct bank_sync *b = arg;
	struct kc_smmu_dev *d = &b->k->smmu_dev[b->index];
	uint32_t owner = owners[HL_SMMU_ID_OF(b->index, b->cbndx)], vmid;
	uint32_t cbar, cba2r;

	vmid = owner >= 1 && owner <= HL_MAX_VM ? owner : 0;   /* the host, free: 0 */
	cbar = reg_word(d, SMMU_GR1_BASE + 4 * b->cbndx);
	cba2r = reg_word(d, SMMU_GR1_CBA2R + 4 * b->cbndx);
	set_word(d, SMMU_GR1_BASE + 4 * b->cbndx, (cbar & ~SMMU_CBAR_VMID_MASK) | vmid);
	set_word(d, SMMU_GR1_CBA2R + 4 * b->cbndx, (cba2r & 0xFFFFu) | (vmid << 16));
	return 0;
}

int kc_smmu_bank_owner_sync(struct kcore *k, unsigned cpu, unsigned index, unsigned cbndx)
{
	struct bank_sync b = { k, index, cbndx };

	if (index >= HL_SMMU_NUM || cbndx >= hl_smmu_num_banks(index))
		return HL_E_INVAL;
	return hl_with_smmu_locked(k->e, (int)cpu, bank_sync_locked, &b);
}

/* a 32-bit register of the emulated file, for the reset values */
static void set_word(struct kc_smmu_dev *d, uint32_t off, uint32_t v)
{
	uint64_t *slot = reg_slot(d, off & ~7u);
	unsigned shift = (off & 4) * 8;

	*slot = (*slot & ~(0xFFFFFFFFull << shift)) | ((uint64_t)v << shift);
}

void kc_smmu_reset(struct kcore *k, unsigned index)
{
	struct kc_smmu_dev *d = &k->smmu_dev[index];

	memset(d, 0, sizeof(*d));
	set_word(d, SMMU_GR0_sCR0, SMMU_sCR0_SMCFCFG | SMMU_sCR0_USFCFG);
	for (uint32_t n = 0; n < (SMMU_GR1_BASE - SMMU_GR0_S2CR_BASE) / 4; n++)
		set_word(d, SMMU_GR0_S2CR_BASE + 4 * n, SMMU_S2CR_TYPE_FAULT << SMMU_S2CR_TYPE_SHIFT);
	for (uint32_t n = 0; n < hl_smmu_num_banks(index); n++) {
		uint32_t cb = KC_SMMU_GLOBAL_BASE + n * KC_SMMU_CB_SIZE;
		set_word(d, SMMU_GR1_CBA2R + 4 * n, SMMU_CBA2R_VA64);
		set_word(d, cb + SMMU_CB_SCTLR, SMMU_SCTLR_M);
		set_word(d, cb + SMMU_CB_TCR, KC_SMMU_S2_TCR);
		*reg_slot(d, cb + SMMU_CB_TTBR0) = hl_spt_root_pa(k->e->st->spt, HL_SMMU_ID_OF(index, n));
	}
}

/* ---- the SMMU's TLB and translation path (H-redteam3, SPEC §15) -------------------------------
 *
 * What a device's access through SMMU `index` does, over the emulated registers (Arm IHI 0062,
 * "Translation flow"; the fields the rules above constrain):
 *   sCR0.CLIENTPD 1                       bypass (output = input)
 *   SMRn: VALID [31], MASK [30:16], ID [14:0]; a stream matches if (sid ^ ID) & ~MASK == 0
 *   no match: sCR0.USFCFG 1 => fault, 0 => bypass; two matches: SMCFCFG 1 => fault
 *   S2CRn.TYPE BYPASS => bypass; FAULT (or 3) => fault; TRANS => bank CBNDX (< banks)
 *   CBARn.TYPE not S2_TRANS => fault (every bank KCore runs is stage 2 only)
 *   SCTLR.M 0 => bypass
 *   TLB entry (CBAR.VMID, iova page) => its output; otherwise walk the table at TTBR0 (the
 *   bank whose root KCore wrote there), leaf S2AP [7:6]: 01 read, 10 write, 11 both; cache it
 * The output must be RAM (a DMA elsewhere faults here: no device model behind it).
 *
 *   TLB entry of (index, iova page)     event (all under the smmu lock)          next
 *   absent                              DMA walk finds a leaf                    cached
 *   cached                              DMA                                      used, no walk
 *   cached                              the spt leaf removed / bank reset        dropped (kc_smmu_tlbi)
 */
void kc_smmu_tlbi(void *ctx, unsigned bank, uint64_t iova)
{
	struct kcore *k = ctx;
	unsigned index = bank / HL_SMMU_NUM_CB;
	struct kc_smmu_tlb *t;

	if (index >= HL_SMMU_NUM)
		return;
	t = &k->smmu_tlb[index];
	t->invals++;
	/* TLBIALLNSNH-strength for one iova: every VMID tag, so a CBAR.VMID the host left from
	 * an earlier owner cannot keep an entry alive */
	for (unsigned i = 0; i < KC_SMMU_TLB_ENTRIES; i++)
		if (t->e[i].valid && (iova == HL_SPT_TLBI_ALL || t->e[i].iova_pg == iova / HL_PAGE_SIZE))
			t->e[i].valid = false;
}

struct dma_req {
	struct kcore *k;
	unsigned cpu, index;
	uint32_t sid;
	uint64_t iova;
	void *buf;
	uint32_t len;
	bool write;
};

/* the output address of a DMA, or false (fault) */
static bool dma_translate(struct dma_req *r, uint64_t *pa)
{
	struct kc_smmu_dev *d = &r->k->smmu_dev[r->index];
	struct kc_smmu_tlb *t = &r->k->smmu_tlb[r->index];
	uint32_t scr0 = reg_word(d, SMMU_GR0_sCR0), s2cr, cbar, cb, vmid;
	int match = -1;
	uint64_t ttbr, pg = r->iova / HL_PAGE_SIZE;
	struct hl_pt_entry ent;
	unsigned ap, bank = HL_SMMU_CFG_SIZE, slot;

	if (scr0 & SMMU_sCR0_CLIENTPD) {
		*pa = r->iova;
		return true;
	}
	for (uint32_t n = 0; n < (SMMU_GR0_S2CR_BASE - SMMU_GR0_SMR_BASE) / 4; n++) {
		uint32_t smr = reg_word(d, SMMU_GR0_SMR_BASE + 4 * n);
		if (!(smr >> 31) || ((r->sid ^ smr) & ~(smr >> 16) & 0x7FFFu))
			continue;
		if (match >= 0 && (scr0 & SMMU_sCR0_SMCFCFG))
			return false;
		match = (int)n;
	}
	if (match < 0) {
		*pa = r->iova;
		return !(scr0 & SMMU_sCR0_USFCFG);
	}
	s2cr = reg_word(d, SMMU_GR0_S2CR_BASE + 4 * (uint32_t)match);
	if (field(s2cr, 17, 16) == SMMU_S2CR_TYPE_BYPASS) {
		*pa = r->iova;
		return true;
	}
	if (field(s2cr, 17, 16) != SMMU_S2CR_TYPE_TRANS || (cb = field(s2cr, 7, 0)) >= hl_smmu_num_banks(r->index))
		return false;
	cbar = reg_word(d, SMMU_GR1_BASE + 4 * cb);
	if (field(cbar, 17, 16) != SMMU_CBAR_TYPE_S2_TRANS)
		return false;
	if (!(reg_word(d, KC_SMMU_GLOBAL_BASE + cb * KC_SMMU_CB_SIZE + SMMU_CB_SCTLR) & SMMU_SCTLR_M)) {
		*pa = r->iova;
		return true;
	}
	if (r->iova >= HL_SMMU_IPA_SIZE)
		return false;
	vmid = cbar & SMMU_CBAR_VMID_MASK;
	for (unsigned i = 0; i < KC_SMMU_TLB_ENTRIES; i++)
		if (t->e[i].valid && t->e[i].vmid == vmid && t->e[i].iova_pg == pg) {
			t->hits++;
			*pa = t->e[i].pa_pg * HL_PAGE_SIZE + (r->iova & (HL_PAGE_SIZE - 1));
			return !r->write || t->e[i].writable;
		}
	ttbr = *reg_slot(d, KC_SMMU_GLOBAL_BASE + cb * KC_SMMU_CB_SIZE + SMMU_CB_TTBR0);
	for (unsigned b = 0; b < hl_smmu_num_banks(r->index); b++)
		if (hl_spt_root_pa(r->k->e->st->spt, HL_SMMU_ID_OF(r->index, b)) == ttbr)
			bank = HL_SMMU_ID_OF(r->index, b);
	if (bank == HL_SMMU_CFG_SIZE ||
	    hl_spt_translate(r->k->e, (int)r->cpu, bank, r->iova, &ent) != HL_OK || ent.pte == 0)
		return false;
	ap = (unsigned)((ent.pte >> 6) & 3);
	if (!(ap & 1) && !(ap & 2))
		return false;
	slot = (unsigned)(pg % KC_SMMU_TLB_ENTRIES);
	t->e[slot] = (struct kc_smmu_tlbe){ .iova_pg = pg, .pa_pg = ent.pfn, .vmid = vmid, .valid = true,
					    .writable = (ap & 2) != 0 };
	t->fills++;
	*pa = ent.pfn * HL_PAGE_SIZE + (r->iova & (HL_PAGE_SIZE - 1));
	return r->write ? (ap & 2) != 0 : (ap & 1) != 0;
}

static int dma_locked(void *arg, const uint32_t *owners)
{
	struct dma_req *r = arg;
	uint64_t pa = 0;
	uint8_t *page;

	(void)owners;
	if (!dma_translate(r, &pa))
		return KC_DMA_FAULT;
	page = hl_ram_page(r->k->e, pa / HL_PAGE_SIZE);
	if (!page)
		return KC_DMA_FAULT;
	if (r->write)
		memcpy(page + (pa & (HL_PAGE_SIZE - 1)), r->buf, r->len);
	else
		memcpy(r->buf, page + (pa & (HL_PAGE_SIZE - 1)), r->len);
	return 0;
}

int kcore_smmu_dma(struct kcore *k, unsigned cpu, unsigned index, uint32_t sid, uint64_t iova, void *buf,
		   uint32_t len, bool write)
{
	struct dma_req r = { k, cpu, index, sid, iova, buf, len, write };

	if (index >= HL_SMMU_NUM || !buf || len == 0 || (iova & (HL_PAGE_SIZE - 1)) + len > HL_PAGE_SIZE)
		return HL_E_INVAL;
	return hl_with_smmu_locked(k->e, (int)cpu, dma_locked, &r);
}
