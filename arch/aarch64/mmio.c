/*
 * mmio.c - emulate_mmio: host accesses to the SMMU register windows (REFERENCE 5.3).
 *
 * The host keeps driving its SMMUs, but KCore owns their translation: it checks every
 * write under the smmu lock, substitutes its own table roots, and refuses writes that
 * would hand a context bank to someone else.
 *
 *   access                          rule
 *   --------------------------------------------------------------------------------
 *   width (1 << SAS) not 4 or 8     refused
 *   read                            value of the emulated register into Rt
 *   sCR0 (0x0)                      refused if it clears sCR0.SMCFCFG (bit 21)
 *   sCR2 (0x8)                      only with the low byte 0
 *   GR1 CBAR[n] (0x1000..0x17FF)    if bank n is the host's, or type S2_TRANS with
 *                                   VMID == the bank's owner
 *   other global registers          written
 *   CB TTBR0 (0x20)                 written, with KCore's own root for the bank
 *   CB CONTEXTIDR (0x34)            refused
 *   other context-bank registers    written
 *
 * The registers are 32-bit except TTBR0 (64-bit): an 8-byte write covers two registers and
 * is written only if both are allowed; a write to either half of TTBR0, of any width,
 * leaves exactly KCore's root there.
 *
 * Deviation: REFERENCE 5.3 panics on a refused access; SPEC §8 says bad host input is
 * rejected without a halt. A refused write is dropped (the host's PC still advances)
 * and counted; nothing changes.
 */
#include <string.h>

#include "hl_access.h"
#include "hl_pgtable.h"
#include "kc_internal.h"
#include "sysreg.h"

struct mmio_req {
	struct kcore *k;
	unsigned cpu;
	struct trap_frame *f;
	uint64_t ipa;
	bool refused;
};

/* one 32-bit register at `off` (global space or a context bank) written with `v` */
static bool word_allowed(unsigned index, uint32_t off, uint32_t v, const uint32_t *owners)
{
	if (off < KC_SMMU_GLOBAL_BASE) {
		if (off == SMMU_GR0_sCR0)
			return (v & SMMU_sCR0_SMCFCFG) != 0;
		if (off == SMMU_GR0_sCR2)
			return (v & 0xFF) == 0;
		if (off >= SMMU_GR1_BASE && off < SMMU_GR1_END) {
			uint32_t n = (off - SMMU_GR1_BASE) / 4;
			uint32_t owner;
			if (n >= HL_SMMU_NUM_CB)
				return false;
			owner = owners[HL_SMMU_ID_OF(index, n)];
			if (owner == HL_HOSTVISOR)
				return true;
			return ((v >> SMMU_CBAR_TYPE_SHIFT) & 3) == SMMU_CBAR_TYPE_S2_TRANS &&
			       (v & SMMU_CBAR_VMID_MASK) == owner;
		}
		return true;
	}
	return (off - KC_SMMU_GLOBAL_BASE) % KC_SMMU_CB_SIZE != SMMU_CB_CONTEXTIDR;
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
