/*
 * hostile.c - the hostile workload's action generator (hostile.h). Every action goes
 * through an interface the real host or guest has: a hypercall (hp_hvc), a host load/store
 * that may trap (hp_host_load/store/probe), the fault answer it writes into its struct
 * host_vcpu, a guest PV call, an SMMU register store. What the host "knows" to aim at
 * (which frames it gave which VM) comes from the host model (struct hp_hview) and from
 * read-only probes (hl_page_get, hl_translate: the attacker's knowledge, not engine steps
 * that change anything).
 *
 * Each attempt is classified (refused / halted / no change / SUCCEEDED); a success of a
 * forbidden action is recorded as the run's error (hp_hostile_error). The oracles judge the
 * log independently: an attempt the engine wrongly let through must also break a relation.
 */
#include "hostile.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hl_access.h"
#include "hl_testkey.h"
#include "hl_trans.h"
#include "kcore.h"

#define PG HL_PAGE_SIZE
#define H_LOAD_ADDR 0x80000000ull     /* where the hostile VMs' images load (as the host model's) */
#define H_IMG_BYTES (8u * 4096u)
#define H_BAD_GPA 0x0D000000ull       /* a guest address for IOREMAP attempts */

static const char *const class_names[HC__COUNT] = {
	"host-touch-vm-page", "fault-answer-mapped-gfn", "fault-answer-l2-over-l3", "fault-answer-unaligned",
	"fault-answer-out-of-ram", "dma-map-vm-page", "smmu-map-over-entry", "clear-vm-dma-mapped",
	"smmu-free-mapped-bank", "grant-past-max", "revoke-at-0", "vmid-exhaustion", "run-unverified-vm",
	"image-bad-signature", "image-non-kcore-key", "bad-key-index", "smmu-sCR0-CLIENTPD",
	"smmu-S2CR-bypass", "smmu-CBAR-type-vmid", "ioremap-smmu-window", "out-of-range-args",
};
static const char *const ans_names[HA__COUNT] = { "refused", "halted", "no-change", "SUCCEEDED" };

const char *hp_hclass_name(unsigned c) { return c < HC__COUNT ? class_names[c] : "?"; }
const char *hp_hans_name(unsigned a) { return a < HA__COUNT ? ans_names[a] : "?"; }

/* a bad fault answer waiting for the vCPU's next run to apply or refuse it */
struct hfault {
	int cls;                /* -1 none */
	uint64_t ipa;           /* the address the answer named */
	uint64_t old_pfn;       /* what the VM mapped there before (MAPPED_GFN), 0 none */
	uint64_t bad_pfn;
};

/* a guest's hostile share state */
struct hguest {
	bool burst;             /* granting one page up to MAX_SHARE_COUNT, then once more */
	unsigned page;
	int pend_cls;           /* -1 none */
	uint64_t pend_pfn;
	uint32_t pend_count;
};

struct hp_hostile {
	struct hl_engine *e;
	struct kcore *k;
	unsigned ncpus;
	struct hp_hostile_stats *st;      /* per CPU */
	unsigned *images;                 /* bad images tried, per CPU */
	atomic_bool exhausted;            /* vmid exhaustion tried (once per run) */
	struct hfault fault[HL_NR_PRINC][HL_VCPU_PER_VM];
	struct hguest guest[HL_NR_PRINC][HL_VCPU_PER_VM];
	pthread_mutex_t err_lock;
	char err[300];
};

struct hp_hostile *hp_hostile_new(struct hl_engine *e, struct kcore *k, unsigned ncpus)
{
	struct hp_hostile *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->e = e;
	h->k = k;
	h->ncpus = ncpus;
	h->st = calloc(ncpus + 1, sizeof(*h->st));
	h->images = calloc(ncpus + 1, sizeof(*h->images));
	if (!h->st || !h->images) {
		hp_hostile_free(h);
		return NULL;
	}
	for (unsigned v = 0; v < HL_NR_PRINC; v++)
		for (unsigned c = 0; c < HL_VCPU_PER_VM; c++) {
			h->fault[v][c].cls = -1;
			h->guest[v][c].pend_cls = -1;
		}
	pthread_mutex_init(&h->err_lock, NULL);
	return h;
}

void hp_hostile_free(struct hp_hostile *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->err_lock);
	free(h->st);
	free(h->images);
	free(h);
}

const char *hp_hostile_error(struct hp_hostile *h)
{
	const char *r;

	pthread_mutex_lock(&h->err_lock);
	r = h->err[0] ? h->err : NULL;
	pthread_mutex_unlock(&h->err_lock);
	return r;
}

void hp_hostile_stats_get(struct hp_hostile *h, struct hp_hostile_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < h->ncpus; i++)
		for (unsigned c = 0; c < HC__COUNT; c++)
			for (unsigned a = 0; a < HA__COUNT; a++)
				out->n[c][a] += h->st[i].n[c][a];
}

void hp_hostile_print(const struct hp_hostile_stats *st, FILE *f)
{
	fprintf(f, "hostile: %-26s %9s %9s %9s %9s\n", "action class", "refused", "halted", "no-change", "SUCCEEDED");
	for (unsigned c = 0; c < HC__COUNT; c++) {
		uint64_t t = 0;
		for (unsigned a = 0; a < HA__COUNT; a++)
			t += st->n[c][a];
		if (!t)
			continue;
		fprintf(f, "hostile: %-26s %9llu %9llu %9llu %9llu\n", class_names[c],
			(unsigned long long)st->n[c][HA_REFUSED], (unsigned long long)st->n[c][HA_HALTED],
			(unsigned long long)st->n[c][HA_NOCHANGE], (unsigned long long)st->n[c][HA_SUCCEEDED]);
	}
}

static void count(struct hp_hostile *h, unsigned cpu, unsigned cls, unsigned ans)
{
	if (cpu > h->ncpus)
		cpu = h->ncpus;
	h->st[cpu].n[cls][ans]++;
}

static void bad(struct hp_hostile *h, unsigned cpu, unsigned cls, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void bad(struct hp_hostile *h, unsigned cpu, unsigned cls, const char *fmt, ...)
{
	va_list ap;

	count(h, cpu, cls, HA_SUCCEEDED);
	pthread_mutex_lock(&h->err_lock);
	if (!h->err[0]) {
		int n = snprintf(h->err, sizeof(h->err), "cpu %u: forbidden %s succeeded: ", cpu, class_names[cls]);
		va_start(ap, fmt);
		vsnprintf(h->err + n, sizeof(h->err) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&h->err_lock);
}

static bool cpu_halted(struct hp_hostile *h, unsigned cpu)
{
	return __atomic_load_n(&h->e->cpus[cpu].halted, __ATOMIC_ACQUIRE);
}

/* a hypercall whose forbidden effect must not happen: error => refused */
static int64_t hvc(const struct hp_hview *v, uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3, uint64_t x4,
		   uint64_t x5)
{
	return hp_hvc(v->p, v->cpu, x0, x1, x2, x3, x4, x5);
}

static void answer_rc(struct hp_hostile *h, const struct hp_hview *v, unsigned cls, int64_t rc, const char *what)
{
	if (cpu_halted(h, v->cpu))
		count(h, v->cpu, cls, HA_HALTED);
	else if (rc < 0)
		count(h, v->cpu, cls, HA_REFUSED);
	else
		bad(h, v->cpu, cls, "%s returned %lld", what, (long long)rc);
}

static bool page_of(struct hp_hostile *h, unsigned cpu, uint64_t pfn, struct hl_s2page *pg)
{
	return hl_page_get(h->e, (int)cpu, pfn, pg) == HL_OK;
}

/* ---- out-of-range arguments ------------------------------------------------------------ */
static void act_bad_args(struct hp_hostile *h, const struct hp_hview *v)
{
	uint64_t r = v->r >> 8, k = (r >> 8) % 1000;
	uint64_t badvm = HL_MAX_VM + 1 + k, end = HL_RAM_BASE + HL_RAM_SIZE;
	int64_t rc;
	const char *w;

	switch (r % 14) {
	case 0: w = "VCPU_RUN(bad vmid)"; rc = hvc(v, HVC_VCPU_RUN, badvm, 0, 0, 0, 0); break;
	case 1: w = "VCPU_RUN(bad vcpu)"; rc = hvc(v, HVC_VCPU_RUN, 1, HL_VCPU_PER_VM + k, 0, 0, 0); break;
	case 2: w = "CLEAR_VM_S2_RANGE(bad vmid)"; rc = hvc(v, HVC_CLEAR_VM_S2_RANGE, badvm, 0x40000000, PG, 0, 0); break;
	case 3: w = "CLEAR_VM_S2_RANGE(unaligned)"; rc = hvc(v, HVC_CLEAR_VM_S2_RANGE, 1, 0x40000001 + k, PG, 0, 0); break;
	case 4: w = "SET_BOOT_INFO(bad vmid)"; rc = hvc(v, HVC_SET_BOOT_INFO, badvm, H_LOAD_ADDR, PG, end + k * PG, 0); break;
	case 5: w = "REMAP_VM_IMAGE(pfn past RAM)"; rc = hvc(v, HVC_REMAP_VM_IMAGE, 1, end / PG + k, 0, 0, 0); break;
	case 6: w = "VERIFY_VM_IMAGE(bad vmid)"; rc = hvc(v, HVC_VERIFY_VM_IMAGE, k & 1 ? 0 : badvm, 0, 0, 0, 0); break;
	case 7: w = "REGISTER_VCPU(bad vcpu)"; rc = hvc(v, HVC_REGISTER_VCPU, 1, HL_VCPU_PER_VM + k, 0, 0, 0); break;
	case 8: w = "SMMU_ALLOC_PGD(bad bank)"; rc = hvc(v, HVC_SMMU_ALLOC_PGD, HL_SMMU_NUM_CB + k, 0, 0, 0, 0); break;
	case 9: w = "SMMU_FREE_PGD(bad smmu)"; rc = hvc(v, HVC_SMMU_FREE_PGD, 0, HL_SMMU_NUM + k, 0, 0, 0); break;
	case 10: w = "SMMU_LPAE_MAP(unaligned iova)";
		rc = hvc(v, HVC_SMMU_LPAE_MAP, 0x1000 + 8 + k * 8, HL_RAM_BASE, 3, 0, 0); break;
	case 11: w = "SMMU_LPAE_IOVA_TO_PHYS(iova past 40 bits)";
		rc = hvc(v, HVC_SMMU_LPAE_IOVA_TO_PHYS, HL_SMMU_IPA_SIZE + k * PG, 0, 0, 0, 0); break;
	case 12: w = "SMMU_CLEAR(bad smmu)"; rc = hvc(v, HVC_SMMU_CLEAR, 0, 0, HL_SMMU_NUM + k, 0, 0); break;
	default: w = "PHYS_ADDR_IOREMAP(vmid 0)"; rc = hvc(v, HVC_PHYS_ADDR_IOREMAP, 0, H_BAD_GPA, 0x0A000000, PG, 0); break;
	}
	answer_rc(h, v, HC_BAD_ARGS, rc, w);
}

/* ---- SMMU register abuse ----------------------------------------------------------------- */
static void act_smmu_regs(struct hp_hostile *h, const struct hp_hview *v, unsigned cls)
{
	unsigned index = (unsigned)((v->r >> 16) % HL_SMMU_NUM);
	uint64_t base = KC_SMMU_BASE + index * KC_SMMU_SIZE, reg, val, before, after = 0, old = 0;
	uint64_t rej = h->k->cpu[v->cpu].mmio_rejected;
	unsigned cb = (unsigned)((v->r >> 24) % hl_smmu_num_banks(index));
	bool forbidden_now;

	switch (cls) {
	case HC_SMMU_CLIENTPD:
		reg = base + SMMU_GR0_sCR0;
		if (!hp_host_load(v->p, v->cpu, reg, 4, &old))
			goto halted;
		val = old | SMMU_sCR0_CLIENTPD;
		break;
	case HC_SMMU_S2CR_BYPASS:
		reg = base + SMMU_GR0_S2CR_BASE + 4 * ((v->r >> 32) % 16);
		val = (uint64_t)SMMU_S2CR_TYPE_BYPASS << SMMU_S2CR_TYPE_SHIFT;
		break;
	default: /* CBAR: a type other than stage-2 translation, or another VMID */
		reg = base + SMMU_GR1_BASE + cb * 4;
		val = (v->r >> 40) & 1 ? (1ull << SMMU_CBAR_TYPE_SHIFT) : (HL_MAX_VM + 2 + ((v->r >> 41) % 64));
		break;
	}
	if (cls != HC_SMMU_CLIENTPD && !hp_host_load(v->p, v->cpu, reg, 4, &old))
		goto halted;
	before = old;
	if (!hp_host_store(v->p, v->cpu, reg, 4, val) || !hp_host_load(v->p, v->cpu, reg, 4, &after))
		goto halted;
	switch (cls) {
	case HC_SMMU_CLIENTPD: forbidden_now = (after & SMMU_sCR0_CLIENTPD) != 0; break;
	case HC_SMMU_S2CR_BYPASS:
		forbidden_now = ((after >> SMMU_S2CR_TYPE_SHIFT) & 3) == SMMU_S2CR_TYPE_BYPASS; break;
	default: forbidden_now = after == val && after != before; break;
	}
	if (forbidden_now)
		bad(h, v->cpu, cls, "SMMU %u register %#llx now reads %#llx (stored %#llx)", index,
		    (unsigned long long)(reg - base), (unsigned long long)after, (unsigned long long)val);
	else
		count(h, v->cpu, cls, h->k->cpu[v->cpu].mmio_rejected > rej ? HA_REFUSED : HA_NOCHANGE);
	return;
halted:
	count(h, v->cpu, cls, cpu_halted(h, v->cpu) ? HA_HALTED : HA_REFUSED);
}

/* ---- SMMU mappings -------------------------------------------------------------------------- */
static void act_smmu_map_over(struct hp_hostile *h, const struct hp_hview *v)
{
	unsigned index, cb;
	uint64_t pfn, pa;
	int64_t rc;

	if (v->host_bank < 0 || !(pfn = v->take_page(v->ctx)))
		return;
	index = (unsigned)v->host_bank / HL_SMMU_NUM_CB;
	cb = (unsigned)v->host_bank % HL_SMMU_NUM_CB;
	pa = pfn * PG;
	rc = hvc(v, HVC_SMMU_LPAE_MAP, pa, pa, 3, cb, index);
	if (rc != 0)
		return;   /* the first map is an ordinary one; it did not happen */
	/* the same page at the same iova again: refused (the seed would count it twice) */
	rc = hvc(v, HVC_SMMU_LPAE_MAP, pa, pa, 3, cb, index);
	answer_rc(h, v, HC_SMMU_MAP_OVER, rc, "SMMU_LPAE_MAP over a present entry");
	if (!cpu_halted(h, v->cpu))
		(void)hvc(v, HVC_SMMU_CLEAR, pa, cb, index, 0, 0);
}

static void act_dma_vm_page(struct hp_hostile *h, const struct hp_hview *v, const struct hp_hvm *vm)
{
	unsigned index = (unsigned)v->host_bank / HL_SMMU_NUM_CB, cb = (unsigned)v->host_bank % HL_SMMU_NUM_CB;
	struct hl_s2page pg;
	uint64_t pa = vm->page_pfn * PG, out = 0;
	int64_t rc;

	if (v->host_bank < 0 || !page_of(h, v->cpu, vm->page_pfn, &pg) || pg.owner != vm->vmid)
		return;
	rc = hvc(v, HVC_SMMU_LPAE_MAP, pa, pa, 3, cb, index);
	if (cpu_halted(h, v->cpu)) {
		count(h, v->cpu, HC_DMA_VM_PAGE, HA_HALTED);
		return;
	}
	if (hl_smmu_iova_to_phys(h->e, (int)v->cpu, hl_iova(pa), cb, index, &out) == HL_OK && out == pa)
		bad(h, v->cpu, HC_DMA_VM_PAGE, "the host's SMMU bank maps VM %u's page %#llx (rc %lld)", vm->vmid,
		    (unsigned long long)vm->page_pfn, (long long)rc);
	else
		count(h, v->cpu, HC_DMA_VM_PAGE, rc < 0 ? HA_REFUSED : HA_NOCHANGE);
}

/* ---- host memory ---------------------------------------------------------------------------- */
static void act_touch_vm(struct hp_hostile *h, const struct hp_hview *v, const struct hp_hvm *vm)
{
	struct hl_s2page pg;
	uint64_t val = 0, pa = vm->page_pfn * PG + ((v->r >> 20) & 0xFF8);
	int rc;

	/* a page the VM owns and has not shared: the host must never read it */
	if (!page_of(h, v->cpu, vm->page_pfn, &pg) || pg.owner != vm->vmid || (pg.count != 0 && pg.count != HL_INVALID))
		return;
	rc = hp_host_probe(v->p, v->cpu, pa, 8, false, &val);
	if (rc == 1) {
		bad(h, v->cpu, HC_HOST_TOUCH_VM, "the host read VM %u's page %#llx (%#llx)", vm->vmid,
		    (unsigned long long)vm->page_pfn, (unsigned long long)val);
		return;
	}
	if (rc < 0 || (v->r >> 30) % 8) {
		count(h, v->cpu, HC_HOST_TOUCH_VM, rc < 0 && cpu_halted(h, v->cpu) ? HA_HALTED : HA_REFUSED);
		return;
	}
	/* the access itself: the host's stage-2 fault on a VM page halts the CPU (SPEC) */
	(void)hp_host_load(v->p, v->cpu, pa, 8, &val);
	if (cpu_halted(h, v->cpu))
		count(h, v->cpu, HC_HOST_TOUCH_VM, HA_HALTED);
	else if (hp_host_probe(v->p, v->cpu, pa, 8, false, &val) == 1)
		bad(h, v->cpu, HC_HOST_TOUCH_VM, "the host's fault on VM %u's page %#llx mapped it for the host",
		    vm->vmid, (unsigned long long)vm->page_pfn);
	else
		count(h, v->cpu, HC_HOST_TOUCH_VM, HA_REFUSED);
}

/* not forbidden: the host reads a page its VM shared (count > 0), so the revoke that takes
 * it back has a host mapping (and a TLB entry) to remove */
static void touch_shared(struct hp_hostile *h, const struct hp_hview *v, const struct hp_hvm *vm)
{
	struct hl_s2page pg;
	uint64_t val;

	if (page_of(h, v->cpu, vm->page_pfn, &pg) && pg.owner == vm->vmid && pg.count != 0 && pg.count != HL_INVALID)
		(void)hp_host_load(v->p, v->cpu, vm->page_pfn * PG, 8, &val);
}

/* ---- VMs the host should not get ---------------------------------------------------------- */
static void act_bad_key_idx(struct hp_hostile *h, const struct hp_hview *v)
{
	uint64_t idx = h->e->cfg.nkeys + ((v->r >> 12) % 8);

	answer_rc(h, v, HC_BAD_KEY_IDX, hvc(v, HVC_REGISTER_KVM, idx, 0xBAD0000000000000ull | v->cpu, 0, 0, 0),
		  "REGISTER_KVM with a key index KCore does not have");
}

static void act_vmid_exhaust(struct hp_hostile *h, const struct hp_hview *v)
{
	bool no = false;

	if (!atomic_compare_exchange_strong(&h->exhausted, &no, true))
		return;
	for (unsigned i = 0; i <= HL_MAX_VM + 1; i++) {
		int64_t rc = hvc(v, HVC_REGISTER_KVM, 0, 0xE0000000000000ull | i, 0, 0, 0);
		if (cpu_halted(h, v->cpu)) {
			count(h, v->cpu, HC_VMID_EXHAUST, HA_HALTED);
			return;
		}
		if (rc < 0) {
			count(h, v->cpu, HC_VMID_EXHAUST, HA_REFUSED);
			return;
		}
		if (rc > HL_MAX_VM) {
			bad(h, v->cpu, HC_VMID_EXHAUST, "REGISTER_KVM handed out vmid %lld (max %u)", (long long)rc,
			    HL_MAX_VM);
			return;
		}
	}
	bad(h, v->cpu, HC_VMID_EXHAUST, "%u REGISTER_KVMs in a row succeeded", HL_MAX_VM + 2);
}

static void act_run_unverified(struct hp_hostile *h, const struct hp_hview *v)
{
	uint64_t hv_pfn = v->take_page(v->ctx), hv;
	int64_t vmid, rc;

	if (!hv_pfn)
		return;
	hv = hv_pfn * PG;
	vmid = hvc(v, HVC_REGISTER_KVM, 0, 0xC0000000000000ull | v->cpu, 0, 0, 0);
	if (vmid < 1 || vmid > HL_MAX_VM)
		return;   /* no vmid left: vmid exhaustion's business */
	if (!hp_host_store(v->p, v->cpu, hv + offsetof(struct host_vcpu, boot_pc), 8, H_LOAD_ADDR + 0x100) ||
	    hvc(v, HVC_REGISTER_VCPU, (uint64_t)vmid, 0, hv, 0, 0) != 0)
		return;
	rc = hvc(v, HVC_VCPU_RUN, (uint64_t)vmid, 0, 0, 0, 0);
	if (cpu_halted(h, v->cpu))
		count(h, v->cpu, HC_RUN_UNVERIFIED, HA_HALTED);
	else if (rc < 0)
		count(h, v->cpu, HC_RUN_UNVERIFIED, HA_REFUSED);
	else
		bad(h, v->cpu, HC_RUN_UNVERIFIED, "VCPU_RUN of unverified VM %lld returned %lld", (long long)vmid,
		    (long long)rc);
}

/* an image whose signature is not KCore's: it must never verify */
static void act_bad_image(struct hp_hostile *h, const struct hp_hview *v, unsigned cls)
{
	uint8_t *img, sig[64], digest[32], pk[32], sk[64], seed[32];
	uint64_t blk, meta;
	int64_t vmid, rc;
	bool ok = true;

	if (h->images[v->cpu]++ >= 1 || !(meta = v->take_page(v->ctx)) || !(blk = v->take_block(v->ctx)))
		return;
	vmid = hvc(v, HVC_REGISTER_KVM, 0, 0xD0000000000000ull | v->cpu, 0, 0, 0);
	if (vmid < 1 || vmid > HL_MAX_VM || !(img = malloc(H_IMG_BYTES)))
		return;
	for (unsigned i = 0; i < H_IMG_BYTES; i++)
		img[i] = (uint8_t)(v->r >> (i % 56)) ^ (uint8_t)i;
	for (unsigned off = 0; off < H_IMG_BYTES && ok; off += 8) {
		uint64_t w;
		memcpy(&w, img + off, 8);
		ok = hp_host_store(v->p, v->cpu, blk * PG + off, 8, w);
	}
	if (cls == HC_BAD_SIG) {
		ok = ok && hl_testkey_sign_image(sig, img, H_IMG_BYTES) == 0;
		sig[(v->r >> 8) % 64] ^= (uint8_t)(1u << ((v->r >> 16) % 8));
	} else {
		/* a well-formed signature by a key KCore was never given */
		memset(seed, 0x5A, sizeof(seed));
		seed[0] = (uint8_t)v->cpu;
		ok = ok && sodium_init() >= 0 && crypto_sign_seed_keypair(pk, sk, seed) == 0 &&
		     crypto_generichash(digest, 32, img, H_IMG_BYTES, NULL, 0) == 0 &&
		     crypto_sign_detached(sig, NULL, digest, 32, sk) == 0;
	}
	free(img);
	for (unsigned off = 0; off < 64 && ok; off += 8) {
		uint64_t w;
		memcpy(&w, sig + off, 8);
		ok = hp_host_store(v->p, v->cpu, meta * PG + 64 + off, 8, w);
	}
	if (!ok || hvc(v, HVC_SET_BOOT_INFO, (uint64_t)vmid, H_LOAD_ADDR, H_IMG_BYTES, meta * PG + 64, 0) != 0)
		return;
	for (unsigned i = 0; i < H_IMG_BYTES / PG; i++)
		if (hvc(v, HVC_REMAP_VM_IMAGE, (uint64_t)vmid, blk + i, 0, 0, 0) != 0)
			return;
	rc = hvc(v, HVC_VERIFY_VM_IMAGE, (uint64_t)vmid, 0, 0, 0, 0);
	if (cpu_halted(h, v->cpu))
		count(h, v->cpu, cls, HA_HALTED);
	else if (rc == 1)
		bad(h, v->cpu, cls, "VM %lld's image verified", (long long)vmid);
	else
		count(h, v->cpu, cls, HA_REFUSED);
}

static void act_ioremap_smmu(struct hp_hostile *h, const struct hp_hview *v, const struct hp_hvm *vm)
{
	unsigned index = (unsigned)((v->r >> 12) % HL_SMMU_NUM);
	uint64_t pa = KC_SMMU_BASE + index * KC_SMMU_SIZE + ((v->r >> 16) % (KC_SMMU_SIZE / PG)) * PG;

	answer_rc(h, v, HC_IOREMAP_SMMU, hvc(v, HVC_PHYS_ADDR_IOREMAP, vm->vmid, H_BAD_GPA, pa, PG, 0),
		  "PHYS_ADDR_IOREMAP of an SMMU window");
}

void hp_hostile_act(struct hp_hostile *h, const struct hp_hview *v)
{
	const struct hp_hvm *vm = &v->vm[(v->r >> 4) % HP_HVIEW_VMS];
	unsigned x = (unsigned)(v->r % 100);
	bool have_vm = vm->vmid && vm->running && vm->page_pfn;

	if (cpu_halted(h, v->cpu))
		return;
	/* the classes whose answer is a halt (the run loses the CPU, maybe more through the
	 * objects it strands) are rarer: an epoch should see many other actions first */
	if (x < 20)
		act_bad_args(h, v);
	else if (x < 26)
		act_smmu_regs(h, v, HC_SMMU_CLIENTPD);
	else if (x < 32)
		act_smmu_regs(h, v, HC_SMMU_S2CR_BYPASS);
	else if (x < 38)
		act_smmu_regs(h, v, HC_SMMU_CBAR);
	else if (x < 50)
		act_smmu_map_over(h, v);
	else if (x < 58)
		act_bad_key_idx(h, v);
	else if (x < 64)
		act_bad_image(h, v, HC_BAD_SIG);
	else if (x < 70)
		act_bad_image(h, v, HC_NONKCORE_KEY);
	else if (x < 78) {
		if (have_vm)
			act_ioremap_smmu(h, v, vm);
	} else if (x < 88) {
		if (have_vm)
			act_touch_vm(h, v, vm);
	} else if (x < 95) {
		if (have_vm)
			touch_shared(h, v, vm);
	} else if (x < 96) {
		if (have_vm)
			act_dma_vm_page(h, v, vm);
	} else if (x < 97)
		act_run_unverified(h, v);
	else if (x < 98)
		act_vmid_exhaust(h, v);
	else
		act_bad_args(h, v);
}

/* ---- bad fault answers ------------------------------------------------------------------ */
static void fault_resolve(struct hp_hostile *h, unsigned cpu, uint32_t vmid, unsigned vcpu)
{
	struct hfault *f = &h->fault[vmid][vcpu];
	struct hl_pt_entry ent;
	bool applied;

	if (f->cls < 0)
		return;
	memset(&ent, 0, sizeof(ent));
	if (hl_translate(h->e, (int)cpu, vmid, hl_ipa(f->ipa), &ent) != HL_OK) {
		f->cls = -1;
		return;
	}
	switch (f->cls) {
	case HC_FAULT_MAPPED_GFN: applied = ent.level && ent.pfn != f->old_pfn; break;
	case HC_FAULT_L2_OVER_L3:
	case HC_FAULT_UNALIGNED: applied = ent.level == 2; break;
	default: applied = ent.level && ent.pfn == f->bad_pfn; break;
	}
	if (applied)
		bad(h, cpu, (unsigned)f->cls, "VM %u maps %#llx at level %u after the answer (frame %#llx)", vmid,
		    (unsigned long long)f->ipa, ent.level, (unsigned long long)ent.pfn);
	else
		count(h, cpu, (unsigned)f->cls, HA_REFUSED);
	f->cls = -1;
}

bool hp_hostile_fault_answer(struct hp_hostile *h, const struct hp_hview *v, uint32_t vmid, unsigned vcpu,
			     uint64_t hv, uint64_t ipa, uint64_t other_ipa, uint64_t r)
{
	struct hfault *f;
	struct hl_pt_entry ent;
	uint64_t addr = ipa & ~(PG - 1), pte, level = 3, pfn;

	if (vmid >= HL_NR_PRINC || vcpu >= HL_VCPU_PER_VM)
		return false;
	f = &h->fault[vmid][vcpu];
	fault_resolve(h, v->cpu, vmid, vcpu);
	if (r % 3)
		return false;   /* the honest answer this time */
	f->old_pfn = 0;
	switch ((r >> 8) % 4) {
	case 0: /* a fresh page for a gfn the VM has mapped already (§13: set once) */
		memset(&ent, 0, sizeof(ent));
		if (!other_ipa || hl_translate(h->e, (int)v->cpu, vmid, hl_ipa(other_ipa), &ent) != HL_OK ||
		    !ent.level || !(pfn = v->take_page(v->ctx)))
			return false;
		f->cls = HC_FAULT_MAPPED_GFN;
		f->old_pfn = ent.pfn;
		addr = other_ipa & ~(PG - 1);
		pte = pfn * PG | HL_PAGE_S2_KERNEL;
		break;
	case 1: /* a level-2 block over the VM's level-3 table (other_ipa is mapped by one) */
		memset(&ent, 0, sizeof(ent));
		if (!other_ipa || hl_translate(h->e, (int)v->cpu, vmid, hl_ipa(other_ipa), &ent) != HL_OK ||
		    ent.level != 3)
			return false;
		f->cls = HC_FAULT_L2_OVER_L3;
		addr = other_ipa & ~(HL_PMD_SIZE - 1);
		pfn = (HL_RAM_BASE_PFN + ((r >> 16) % (HL_RAM_PAGES / 512)) * 512);
		pte = pfn * PG | HL_PAGE_S2_KERNEL;
		level = 2;
		break;
	case 2: /* a level-2 block at a frame that is not 2 MiB aligned */
		if (!(pfn = v->take_page(v->ctx)))
			return false;
		f->cls = HC_FAULT_UNALIGNED;
		addr &= ~(HL_PMD_SIZE - 1);
		pfn |= 1;
		pte = pfn * PG | HL_PAGE_S2_KERNEL;
		level = 2;
		break;
	default: /* a frame outside RAM */
		f->cls = HC_FAULT_OUT_OF_RAM;
		pfn = (HL_RAM_BASE + HL_RAM_SIZE) / PG + ((r >> 16) % 4096);
		pte = pfn * PG | HL_PAGE_S2_KERNEL;
		break;
	}
	f->ipa = addr;
	f->bad_pfn = pfn;
	if (!hp_host_store(v->p, v->cpu, hv + offsetof(struct host_vcpu, fault_addr), 8, addr) ||
	    !hp_host_store(v->p, v->cpu, hv + offsetof(struct host_vcpu, fault_pte), 8, pte) ||
	    !hp_host_store(v->p, v->cpu, hv + offsetof(struct host_vcpu, fault_level), 8, level)) {
		f->cls = -1;
		return true;
	}
	return true;
}

/* ---- teardown: clear while DMA-mapped, free a bank that still maps pages --------------- */
bool hp_hostile_teardown(struct hp_hostile *h, const struct hp_hview *v, uint32_t vmid, int bank,
			 const uint64_t *dma_pfn, unsigned ndma, uint64_t guest_ram, uint64_t size)
{
	unsigned index, cb;
	bool mapped = false, skip = false;

	if (vmid >= HL_NR_PRINC)
		return false;
	for (unsigned c = 0; c < HL_VCPU_PER_VM; c++)
		fault_resolve(h, v->cpu, vmid, c);
	if (bank < 0)
		return false;
	index = (unsigned)bank / HL_SMMU_NUM_CB;
	cb = (unsigned)bank % HL_SMMU_NUM_CB;
	/* a page the VM's bank maps and the VM's stage 2 maps too: CLEAR_VM_S2_RANGE must refuse */
	for (unsigned d = 0; d < ndma; d++) {
		struct hl_pt_entry ent;
		struct hl_s2page pg;
		memset(&ent, 0, sizeof(ent));
		if (dma_pfn[d] && hl_translate(h->e, (int)v->cpu, vmid, hl_ipa(guest_ram + d * PG), &ent) == HL_OK &&
		    ent.level && ent.pfn == dma_pfn[d] && page_of(h, v->cpu, dma_pfn[d], &pg) && pg.owner == vmid &&
		    pg.dma)
			mapped = true;
	}
	if (mapped && v->r % 2) {
		int64_t rc = hvc(v, HVC_CLEAR_VM_S2_RANGE, vmid, guest_ram, size, 0, 0);
		bool moved = false;
		for (unsigned d = 0; d < ndma; d++) {
			struct hl_s2page pg;
			uint64_t out = 0;
			if (dma_pfn[d] && page_of(h, v->cpu, dma_pfn[d], &pg) && pg.owner != vmid &&
			    hl_smmu_iova_to_phys(h->e, (int)v->cpu, hl_iova(guest_ram + d * PG), cb, index, &out) == HL_OK &&
			    out == dma_pfn[d] * PG)
				moved = true;
		}
		if (cpu_halted(h, v->cpu))
			count(h, v->cpu, HC_CLEAR_DMA_MAPPED, HA_HALTED);
		else if (moved)
			bad(h, v->cpu, HC_CLEAR_DMA_MAPPED, "a page VM %u's SMMU bank maps went back to the host (rc %lld)",
			    vmid, (long long)rc);
		else
			count(h, v->cpu, HC_CLEAR_DMA_MAPPED, rc < 0 ? HA_REFUSED : HA_NOCHANGE);
	}
	/* free the bank with its entries in place: KCore must clear them itself (§12) */
	if ((v->r >> 1) % 2 && !cpu_halted(h, v->cpu)) {
		int64_t rc = hvc(v, HVC_SMMU_FREE_PGD, cb, index, 0, 0, 0);
		bool left = false;
		if (cpu_halted(h, v->cpu)) {
			count(h, v->cpu, HC_FREE_MAPPED_BANK, HA_HALTED);
			return true;
		}
		for (unsigned d = 0; d < ndma; d++) {
			uint64_t out = 0;
			if (dma_pfn[d] &&
			    hl_smmu_iova_to_phys(h->e, (int)v->cpu, hl_iova(guest_ram + d * PG), cb, index, &out) == HL_OK &&
			    out != 0)
				left = true;
		}
		if (left && rc == 0)   /* a refused free (e.g. KC_EBUSY: a shard stranded) leaves the bank as it was */
			bad(h, v->cpu, HC_FREE_MAPPED_BANK, "SMMU bank %d still maps pages after SMMU_FREE_PGD (rc %lld)",
			    bank, (long long)rc);
		else
			count(h, v->cpu, HC_FREE_MAPPED_BANK, rc < 0 ? HA_REFUSED : HA_NOCHANGE);
		skip = rc == 0;
	}
	return skip;
}

/* ---- guests: revoke at 0, grant past the maximum ----------------------------------------- */
static void guest_resolve(struct hp_hostile *h, unsigned cpu, uint32_t vmid, struct hguest *g)
{
	struct hl_s2page pg;

	if (g->pend_cls < 0)
		return;
	/* (a page that left the VM since, at teardown, says nothing about the call) */
	if (page_of(h, cpu, g->pend_pfn, &pg) && pg.owner == vmid) {
		bool changed = pg.count != g->pend_count;
		if (changed)
			bad(h, cpu, (unsigned)g->pend_cls, "page %#llx's share count went %u -> %u",
			    (unsigned long long)g->pend_pfn, g->pend_count, pg.count);
		else
			count(h, cpu, (unsigned)g->pend_cls, HA_NOCHANGE);
	}
	g->pend_cls = -1;
}

bool hp_hostile_guest_burst(struct hp_hostile *h, uint32_t vmid, unsigned vcpu)
{
	return vmid < HL_NR_PRINC && vcpu < HL_VCPU_PER_VM && h->guest[vmid][vcpu].burst;
}

bool hp_hostile_guest_share(struct hp_hostile *h, uint32_t vmid, unsigned vcpu, uint64_t gpa_base, bool *grant,
			    unsigned *page, uint64_t r)
{
	unsigned cpu = arch_cpu_id();
	struct hguest *g;
	struct hl_pt_entry ent;
	struct hl_s2page pg;

	if (vmid >= HL_NR_PRINC || vcpu >= HL_VCPU_PER_VM)
		return false;
	g = &h->guest[vmid][vcpu];
	guest_resolve(h, cpu, vmid, g);
	if (g->burst)
		*page = g->page;
	memset(&ent, 0, sizeof(ent));
	if (hl_translate(h->e, (int)cpu, vmid, hl_ipa(gpa_base + (uint64_t)*page * PG), &ent) != HL_OK || !ent.level ||
	    !page_of(h, cpu, ent.pfn, &pg) || pg.owner != vmid || pg.count == HL_INVALID) {
		g->burst = false;   /* not mapped (yet): nothing to aim at */
		return false;
	}
	if (!g->burst && r % 4 == 0) {   /* grant this (mapped) page up to the maximum, then once more */
		g->burst = true;
		g->page = *page;
	}
	if (g->burst) {
		*grant = true;
		if (pg.count >= HL_MAX_SHARE_COUNT) {
			g->burst = false;
			g->pend_cls = HC_GRANT_PAST_MAX;
			g->pend_pfn = ent.pfn;
			g->pend_count = pg.count;
		}
		return true;
	}
	if (!*grant && pg.count == 0) {
		g->pend_cls = HC_REVOKE_AT_0;
		g->pend_pfn = ent.pfn;
		g->pend_count = 0;
	}
	return true;   /* anything else: an ordinary grant / revoke of its own page */
}
