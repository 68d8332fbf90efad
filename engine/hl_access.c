/* hl_access.c - locked read-only steps for the trap layer. */
#include "hl_access.h"

#include <string.h>

#include <ck_pr.h>

#include "hl_pgtable.h"
#include "hl_step.h"

int hl_translate(struct hl_engine *e, int cpu, unsigned princ, hl_ipa_t ipa, struct hl_pt_entry *out)
{
	struct hl_step s;
	int rc;

	if (princ >= HL_NR_PRINC || ipa.v >= HL_ADDR_SPACE || !out)
		return HL_E_INVAL;
	rc = hl_step_begin(&s, e, cpu, HL_EV_NONE);
	if (rc)
		return rc;
	/* the host table in shards: the shard owning the entry (its upper entries are
	 * constant after init, engine/hl_pgtable.h), else the table itself */
	rc = hl_step_lock(&s, princ == HL_HOSTVISOR ? hl_npth_obj(e->st->ref, ipa.v) : HL_NPT_OBJ(princ));
	if (rc == 0)
		hl_npt_walk(e->st->npt[princ], ipa.v, out);
	return hl_step_end(&s, rc);
}

int hl_spt_translate(struct hl_engine *e, int cpu, unsigned bank, uint64_t iova, struct hl_pt_entry *out)
{
	struct hl_step s;
	int rc;

	if (bank >= HL_SMMU_CFG_SIZE || iova >= HL_SMMU_IPA_SIZE || !out)
		return HL_E_INVAL;
	rc = hl_step_begin(&s, e, cpu, HL_EV_NONE);
	if (rc)
		return rc;
	rc = hl_step_lock(&s, HL_SPT_ID);
	if (rc == 0)
		hl_spt_walk(e->st->spt, bank, iova, out);
	return hl_step_end(&s, rc);
}

/* copy page by page; every page must be RAM owned by `owner` */
static int mem_copy(struct hl_engine *e, int cpu, uint32_t owner, uint64_t pa, void *buf, uint32_t len,
		    bool write)
{
	struct hl_step s;
	int rc;

	if (len == 0 || pa + len < pa || !e->st->ram)
		return HL_E_INVAL;
	rc = hl_step_begin(&s, e, cpu, HL_EV_NONE);
	if (rc)
		return rc;
	/* s2page, or with shards the shards of the pages copied, ascending (issue 11) */
	rc = hl_step_lock_s2p(&s, pa / HL_PAGE_SIZE, (pa + len - 1) / HL_PAGE_SIZE - pa / HL_PAGE_SIZE + 1);
	for (uint64_t a = pa; rc == 0 && a < pa + len; a = (a & ~(HL_PAGE_SIZE - 1)) + HL_PAGE_SIZE)
		if (hl_s2page_get(e->st, a / HL_PAGE_SIZE).owner != owner)
			rc = HL_E_INVAL;
	if (rc == 0) {
		uint8_t *ram = e->st->ram + (pa - HL_RAM_BASE);
		if (write)
			memcpy(ram, buf, len);
		else
			memcpy(buf, ram, len);
	}
	return hl_step_end(&s, rc);
}

int hl_host_mem_read(struct hl_engine *e, int cpu, hl_pa_t pa, void *buf, uint32_t len)
{
	return mem_copy(e, cpu, HL_HOSTVISOR, pa.v, buf, len, false);
}

int hl_host_mem_write(struct hl_engine *e, int cpu, hl_pa_t pa, const void *buf, uint32_t len)
{
	return mem_copy(e, cpu, HL_HOSTVISOR, pa.v, (void *)buf, len, true);
}

int hl_vm_mem_access(struct hl_engine *e, int cpu, uint32_t vmid, hl_pa_t pa, void *buf, uint32_t len,
		     bool write)
{
	if (vmid < 1 || vmid > HL_MAX_VM)
		return HL_E_INVAL;
	return mem_copy(e, cpu, vmid, pa.v, buf, len, write);
}

int hl_with_smmu_locked(struct hl_engine *e, int cpu, hl_smmu_locked_fn fn, void *arg)
{
	struct hl_step s;
	int rc = hl_step_begin(&s, e, cpu, HL_EV_NONE);

	if (rc)
		return rc;
	int fr = 0;

	rc = hl_step_lock(&s, HL_SMMU_ID);
	if (rc == 0)
		fr = fn(arg, e->st->smmu->owner);
	rc = hl_step_end(&s, rc);
	return rc ? rc : fr;
}

int hl_vm_state(struct hl_engine *e, int cpu, uint32_t vmid, uint32_t *state, uint64_t *inc_exe)
{
	struct hl_step s;
	int rc;

	if (vmid < 1 || vmid > HL_MAX_VM)
		return HL_E_INVAL;
	rc = hl_step_begin(&s, e, cpu, HL_EV_VM_GET);
	if (rc)
		return rc;
	rc = hl_step_lock(&s, HL_INFO_OBJ(vmid));
	if (rc == 0) {
		if (state)
			*state = e->st->info[vmid]->state;
		if (inc_exe)
			*inc_exe = e->st->info[vmid]->inc_exe;
	}
	return hl_step_end(&s, rc);
}

int hl_vm_active_vcpus(struct hl_engine *e, int cpu, uint32_t vmid, uint32_t *state, unsigned *nactive)
{
	struct hl_step s;
	int rc;

	if (vmid < 1 || vmid > HL_MAX_VM || !state || !nactive)
		return HL_E_INVAL;
	rc = hl_step_begin(&s, e, cpu, HL_EV_VM_GET);
	if (rc)
		return rc;
	rc = hl_step_lock(&s, HL_INFO_OBJ(vmid));
	if (rc == 0) {
		const struct hl_vminfo *vi = e->st->info[vmid];
		*state = vi->state;
		*nactive = 0;
		for (unsigned v = 0; v < HL_VCPU_PER_VM; v++)
			*nactive += vi->vcpu_state[v] == HL_VCPU_ACTIVE;
	}
	return hl_step_end(&s, rc);
}

int hl_vcpu_handle(struct hl_engine *e, int cpu, uint32_t vmid, uint32_t vcpuid, uint64_t *handle)
{
	struct hl_step s;
	int rc;

	if (vmid < 1 || vmid > HL_MAX_VM || vcpuid >= HL_VCPU_PER_VM || !handle)
		return HL_E_INVAL;
	rc = hl_step_begin(&s, e, cpu, HL_EV_VM_GET);
	if (rc)
		return rc;
	rc = hl_step_lock(&s, HL_INFO_OBJ(vmid));
	if (rc == 0)
		*handle = e->st->info[vmid]->vcpu[vcpuid];
	return hl_step_end(&s, rc);
}

uint64_t hl_pt_root_pa_of(const struct hl_engine *e, unsigned princ)
{
	return hl_pt_root_pa(e->st->npt[princ]);
}

void hl_cpu_halt(struct hl_engine *e, int cpu)
{
	if (cpu < 0 || (unsigned)cpu > e->cfg.ncpus || e->cpus[cpu].halted)
		return;
	ck_pr_store_8((uint8_t *)&e->cpus[cpu].halted, 1);
	ck_pr_inc_64(&e->halts);
}
