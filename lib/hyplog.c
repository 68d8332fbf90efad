/*
 * lib/hyplog.c - the public facade (include/hyplog/hyplog.h) over the internal modules.
 *
 * Only this file knows both sides: it converts the public configuration, status values and
 * results to and from the engine's, the file reader's, the replay report's and the checks'.
 * When an internal API changes, this file changes; the public header does not.
 */
#include <hyplog/hyplog.h>

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hl_check.h"
#include "hl_olog.h"
#include "hl_const.h"
#include "hl_engine.h"
#include "hl_file.h"
#include "hl_report.h"
#include "hl_trans.h"

/* the public values are the engine's: a change on either side fails the build */
static_assert((int)HYPLOG_OK == (int)HL_OK && (int)HYPLOG_HALT == (int)HL_HALT && (int)HYPLOG_E_INVAL == (int)HL_E_INVAL &&
		      (int)HYPLOG_E_CPU_HALTED == (int)HL_E_CPU_HALTED && (int)HYPLOG_E_STRANDED == (int)HL_E_STRANDED &&
		      (int)HYPLOG_E_NOLOG == (int)HL_E_NOLOG && (int)HYPLOG_E_NOTSUP == (int)HL_E_NOTSUP && (int)HYPLOG_E_CPU == (int)HL_E_CPU &&
		      (int)HYPLOG_E_DENIED == (int)HL_E_DENIED,
	      "public status values differ from the engine's");
static_assert((int)HYPLOG_LOCK_TICKET == (int)HL_LOCK_TICKET && (int)HYPLOG_LOCK_MCS == (int)HL_LOCK_MCS &&
		      (int)HYPLOG_LOCK_MUTEX == (int)HL_LOCK_MUTEX,
	      "public lock kinds differ from the engine's");
static_assert(sizeof(((struct hyplog_config *)0)->keys) == sizeof(((struct hl_engine_cfg *)0)->kcore_keys),
	      "public key table differs from the engine's (HL_MAX_KEYS)");

struct hyplog_engine {
	struct hl_engine *e;
};

static int fail(struct hyplog_error *err, unsigned long long off, const char *msg)
{
	if (err) {
		err->offset = off;
		snprintf(err->msg, sizeof(err->msg), "%s", msg);
	}
	return HYPLOG_E_FILE;
}

const char *hyplog_version(void)
{
	return HYPLOG_VERSION;
}

const char *hyplog_strstatus(int status)
{
	if (status == HYPLOG_E_FILE)
		return "unreadable or malformed file";
	return hl_status_str(status);
}

void hyplog_build_info(struct hyplog_build_info *out)
{
	memset(out, 0, sizeof(*out));
	out->max_vm = HL_MAX_VM;
	out->vcpus_per_vm = HL_VCPU_PER_VM;
	out->max_cpus = HL_NR_CPUS;
	out->max_keys = HL_MAX_KEYS;
	out->page_size = HL_PAGE_SIZE;
	out->ram_base = HL_RAM_BASE;
	out->ram_size = HL_RAM_SIZE;
}

uint64_t hyplog_ram_base(void)
{
	return HL_RAM_BASE;
}

void hyplog_config_init(struct hyplog_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ncpus = 2;
	cfg->lock_kind = HYPLOG_LOCK_TICKET;
}

hyplog_engine *hyplog_engine_new(const struct hyplog_config *cfg, struct hyplog_error *err)
{
	struct hl_engine_cfg c;
	hyplog_engine *h;

	if (!cfg || cfg->ncpus < 1 || cfg->ncpus > HL_NR_CPUS) {
		fail(err, 0, "hyplog_engine_new: ncpus must be 1 .. max_cpus");
		return NULL;
	}
	if (cfg->nkeys > HL_MAX_KEYS || (unsigned)cfg->lock_kind > HYPLOG_LOCK_MUTEX) {
		fail(err, 0, "hyplog_engine_new: bad nkeys or lock_kind");
		return NULL;
	}
	hl_engine_cfg_default(&c);
	c.ncpus = cfg->ncpus;
	c.lock_kind = (enum hl_lock_kind)cfg->lock_kind;
	c.ckpt_every = cfg->checkpoint_every;
	c.log_cap_bytes = (size_t)cfg->log_cap_bytes;
	c.with_ram = true;
	for (unsigned i = 0; i < cfg->nkeys; i++)
		if (hl_engine_cfg_add_key(&c, cfg->keys[i]) < 0) {
			fail(err, 0, "hyplog_engine_new: too many keys");
			return NULL;
		}
	h = calloc(1, sizeof(*h));
	if (!h || !(h->e = hl_engine_new(&c))) {
		free(h);
		fail(err, 0, "hyplog_engine_new: out of memory");
		return NULL;
	}
	return h;
}

void hyplog_engine_free(hyplog_engine *h)
{
	if (!h)
		return;
	hl_engine_free(h->e);
	free(h);
}

unsigned hyplog_engine_ncpus(const hyplog_engine *h)
{
	return h->e->cfg.ncpus;
}

int hyplog_cpu_halted(const hyplog_engine *h, int cpu)
{
	return hl_cpu_halted(h->e, cpu);
}

/* ---- transitions: the engine checks the CPU id and every argument ------------------------ */
int hyplog_map_host(hyplog_engine *h, int cpu, uint64_t pa)
{
	return hl_map_host(h->e, cpu, hl_pa(pa));
}

int hyplog_register_vm(hyplog_engine *h, int cpu, uint64_t kvm, uint32_t key_index, uint32_t *vmid)
{
	uint32_t dummy;
	return hl_register_kvm(h->e, cpu, kvm, key_index, vmid ? vmid : &dummy);
}

int hyplog_register_vcpu(hyplog_engine *h, int cpu, uint32_t vmid, uint32_t vcpuid, uint64_t vcpu)
{
	return hl_register_vcpu(h->e, cpu, vmid, vcpuid, vcpu);
}

int hyplog_set_vcpu_active(hyplog_engine *h, int cpu, uint32_t vmid, uint32_t vcpuid)
{
	return hl_set_vcpu_active(h->e, cpu, vmid, vcpuid);
}

int hyplog_set_vcpu_inactive(hyplog_engine *h, int cpu, uint32_t vmid, uint32_t vcpuid)
{
	return hl_set_vcpu_inactive(h->e, cpu, vmid, vcpuid);
}

int hyplog_vm_poweroff(hyplog_engine *h, int cpu, uint32_t vmid)
{
	return hl_set_vm_poweroff(h->e, cpu, vmid);
}

int hyplog_assign_page(hyplog_engine *h, int cpu, uint32_t vmid, uint64_t gfn, uint64_t pfn)
{
	return hl_assign_pfn_to_vm(h->e, cpu, vmid, gfn, pfn);
}

int hyplog_clear_vm_page(hyplog_engine *h, int cpu, uint32_t vmid, uint64_t pfn)
{
	return hl_clear_vm_page(h->e, cpu, vmid, pfn);
}

int hyplog_map_vm(hyplog_engine *h, int cpu, uint32_t vmid, uint64_t ipa, uint64_t pte, unsigned level)
{
	return hl_map_pfn_vm(h->e, cpu, vmid, hl_ipa(ipa), pte, level);
}

int hyplog_map_vm_io(hyplog_engine *h, int cpu, uint32_t vmid, uint64_t gpa, uint64_t pa)
{
	return hl_map_vm_io(h->e, cpu, vmid, hl_ipa(gpa), hl_pa(pa));
}

int hyplog_grant_page(hyplog_engine *h, int cpu, uint32_t vmid, uint64_t pfn)
{
	return hl_grant_vm_page(h->e, cpu, vmid, pfn);
}

int hyplog_revoke_page(hyplog_engine *h, int cpu, uint32_t vmid, uint64_t pfn)
{
	return hl_revoke_vm_page(h->e, cpu, vmid, pfn);
}

int hyplog_set_boot_info(hyplog_engine *h, int cpu, uint32_t vmid, uint64_t load_addr, uint64_t size,
			 const uint8_t signature[64], uint32_t *load_index)
{
	uint32_t dummy;
	return hl_set_boot_info(h->e, cpu, vmid, hl_ipa(load_addr), size, signature, load_index ? load_index : &dummy);
}

int hyplog_remap_image(hyplog_engine *h, int cpu, uint32_t vmid, uint64_t pfn, uint32_t load_index)
{
	return hl_remap_vm_image(h->e, cpu, vmid, pfn, load_index);
}

int hyplog_verify_vm(hyplog_engine *h, int cpu, uint32_t vmid, int *verified)
{
	int dummy;
	return hl_verify_vm_image(h->e, cpu, vmid, verified ? verified : &dummy);
}

int hyplog_smmu_alloc(hyplog_engine *h, int cpu, uint32_t cbndx, uint32_t vmid, uint32_t index)
{
	return hl_smmu_alloc_pgd(h->e, cpu, cbndx, vmid, index);
}

int hyplog_smmu_free(hyplog_engine *h, int cpu, uint32_t cbndx, uint32_t index)
{
	return hl_smmu_free_pgd(h->e, cpu, cbndx, index);
}

int hyplog_smmu_assign_page(hyplog_engine *h, int cpu, uint32_t cbndx, uint32_t index, uint64_t pfn,
			    uint64_t gfn)
{
	return hl_smmu_assign_page(h->e, cpu, cbndx, index, pfn, gfn);
}

int hyplog_smmu_map(hyplog_engine *h, int cpu, uint32_t cbndx, uint32_t index, uint64_t iova, uint64_t pte)
{
	return hl_smmu_map_page(h->e, cpu, cbndx, index, hl_iova(iova), pte);
}

int hyplog_smmu_clear(hyplog_engine *h, int cpu, uint32_t cbndx, uint32_t index, uint64_t iova)
{
	return hl_smmu_clear(h->e, cpu, hl_iova(iova), cbndx, index);
}

/* ---- files ------------------------------------------------------------------------------ */
int hyplog_write_log(hyplog_engine *h, const char *path, struct hyplog_error *err)
{
	struct hl_file_err fe = { 0 };

	if (hl_file_write(h->e, path, &fe))
		return fail(err, fe.offset, fe.msg);
	return HYPLOG_OK;
}

int hyplog_replay_file(const char *path, struct hyplog_replay_result *res, struct hyplog_error *err)
{
	struct hl_file_info info;
	struct hl_file_err fe = { 0 };
	struct hl_report rep;
	struct hl_engine *e;
	int rc;

	memset(res, 0, sizeof(*res));
	e = hl_file_read(path, &info, &fe);
	if (!e)
		return fail(err, fe.offset, fe.msg);
	rc = hl_report_replay(e, &info, false, stderr, &rep);
	hl_engine_free(e);
	res->records = rep.records;
	res->operations = rep.calh.ops;
	res->cal_eq_live = rep.cal_ok && rep.cal_eq_live;
	res->calh_eq_cal = rep.calh_ok && rep.calh_eq_cal;
	snprintf(res->why, sizeof(res->why), "%s", rc ? rep.why : "");
	return rc ? HYPLOG_MISMATCH : HYPLOG_OK;
}

/* the oracle's entry point for a file: the one place that knows the check API (the
 * oracle reads the file with its own parser, oracle/hl_olog.h) */
static int check_file(const char *path, struct hl_verdict *v, struct hl_check_stats *st, struct hyplog_error *err)
{
	struct hl_olog lg;
	struct hl_olog_err fe = { 0 };
	int rc;

	if (hl_olog_read(&lg, path, &fe))
		return fail(err, fe.offset, fe.msg);
	rc = hl_check_all(&lg, v, st);
	hl_olog_free(&lg);
	return rc;
}

int hyplog_check_file(const char *path, struct hyplog_verdict *out, struct hyplog_error *err)
{
	struct hl_check_stats st;
	struct hl_verdict v;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&st, 0, sizeof(st));
	memset(&v, 0, sizeof(v));
	rc = check_file(path, &v, &st, err);
	if (rc == HYPLOG_E_FILE)
		return rc;
	out->operations = st.ops;
	if (rc < 0)
		return fail(err, 0, v.what);
	if (rc > 0) {
		out->relation = hl_rel_name(v.rel);
		snprintf(out->what, sizeof(out->what), "%s", v.what);
		return HYPLOG_MISMATCH;
	}
	return HYPLOG_OK;
}
