/*
 * platform.c - the hosted SMP platform: CPU threads, the software MMU, the untrusted
 * host model (KCore's real client: it creates VMs, loads signed images, answers guest
 * stage-2 faults, runs vCPUs, drives SMMUs and tears VMs down) and scripted guests.
 */
#include "platform.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "hl_access.h"
#include "hl_testkey.h"
#include "hl_trans.h"
#include "hosted.h"
#include "hostile.h"
#include "sysreg.h"

#define PG HL_PAGE_SIZE
#define HP_GUEST_RAM 0x40000000ull     /* guest IPA of its RAM */
#define HP_GUEST_PAGES 32u             /* per vCPU */
#define HP_GUEST_MMIO 0x09000000ull    /* emulated by the host: never mapped */
#define HP_LOAD_ADDR 0x80000000ull     /* image, one 2 MiB block */
#define HP_IMG_BYTES (8u * 4096u)
#define HP_KEY_IDX 0u                  /* KCore key the host model's VMs use: the test key */
#define HP_BOOT_PC (HP_LOAD_ADDR + 0x100)
#define HP_PROG_LEN 2048u              /* instructions before the program loops */
#define HP_VM_DEV_PA 0x0A000000ull     /* device pages handed to VMs (PHYS_ADDR_IOREMAP) */
#define HP_HOST_DEV_PFN 0xB000u        /* device pages the host itself touches (shared) */
#define HP_VCPUS 2u
#define HP_MAX_VMS 3u                  /* per CPU at once */
#define HP_DMA_PAGES 2u                /* pages given to a VM's SMMU bank before it boots */

enum page_use { PU_FREE, PU_HOST, PU_VM, PU_IMAGE, PU_META, PU_LOST };

struct hp_page {
	uint8_t use;
	uint8_t vm;           /* slot of the VM that owns it */
	uint8_t smmu_maps;    /* host DMA mappings (count) */
	uint8_t written;      /* host wrote `val` there */
	uint64_t val;
};

struct hp_guest {
	uint32_t vmid, vcpuid;
	uint64_t mem[HP_GUEST_PAGES];   /* last value the guest wrote per page, 0 = none */
	uint8_t mapped[HP_GUEST_PAGES];
	uint8_t share[HP_GUEST_PAGES];  /* grants outstanding */
	bool poweroff;                  /* the host asked it to power off */
	uint64_t check_idx;             /* an MMIO read result to check at this index */
	unsigned check_rt;
	uint64_t check_val;
	uint64_t wval;                  /* value of the last MMIO write (host checks it) */
	bool wpending;
	uint64_t epoch;                 /* times the program looped */
};

struct hp_vm {
	uint32_t vmid;
	int state;                      /* 0 free slot, 1 running, 2 powered off */
	uint64_t meta_pfn;              /* key + signature page */
	uint64_t vcpu_pfn;              /* the host_vcpu structs, 512 bytes apart */
	uint64_t img_pfn;               /* first page of its 2 MiB image block */
	int bank;                       /* SMMU bank id, -1 none */
	uint64_t dma_pfn[HP_DMA_PAGES];
	uint64_t gfn_pfn[HP_VCPUS][HP_GUEST_PAGES];   /* host's answer for each guest page */
	uint64_t runs, lifetime;
	struct hp_guest g[HP_VCPUS];
};

/*
 * The per-CPU TLB model (SPEC §15). Each hosted CPU caches the host stage-2 translations
 * it used, and keeps using a cached one (even after the table changed) until an
 * invalidation reaches it, as hardware does. An access runs with its CPU's TLB lock held
 * from the lookup to the last byte copied ("in flight"); arch_tlbi_s2_ipa (hp_tlbi) takes
 * every CPU's TLB lock in turn, so it returns only after every access that used the old
 * translation completed, and no later access can find it: DSB ISH after TLBI ...IS.
 * A table walk runs without the TLB lock (it takes engine locks, and the invalidating
 * step holds those while it takes TLB locks); its result is cached only if no
 * invalidation reached the CPU meanwhile (gen), otherwise the walk is redone.
 *   lock order: engine locks -> one TLB lock; an access never takes an engine lock while
 *   it holds its TLB lock.
 */
#define HP_TLB_ENTRIES 64u
struct hp_tlbe {
	uint64_t page;        /* IPA page + 1; 0 = empty */
	uint64_t pfn;
	bool writable;
};
struct hp_tlb {
	pthread_mutex_t lock;
	uint64_t gen;         /* invalidations that reached this CPU */
	uint64_t hits, walks, invals;
	struct hp_tlbe e[HP_TLB_ENTRIES];
};

struct hp_cpu {
	struct hp_platform *p;
	unsigned id;
	uint64_t rng;
	uint64_t first_pfn, npages;
	struct hp_page *pg;
	struct hp_vm vm[HP_MAX_VMS];
	int host_bank;
	int vm_bank;                    /* a bank this CPU hands to its next VM */
	struct trap_frame frame;
	uint64_t pc;
	uint64_t ops_target;
	_Atomic uint64_t done;
	bool halted;
	/* Cache lines (issue 11): every other CPU's hp_tlbi takes this CPU's TLB lock and may
	 * clear an entry, so the TLB has lines of its own (before, its lock shared one with
	 * `done` and `halted`, which this CPU writes and reads on every action and access, and
	 * its last entries one with st, written on every trap) */
	struct hp_tlb tlb __attribute__((aligned(64)));
	struct hp_stats st __attribute__((aligned(64)));
	char err[240];
	pthread_t th;
} __attribute__((aligned(64)));
static_assert(offsetof(struct hp_cpu, tlb) % 64 == 0 && offsetof(struct hp_cpu, st) % 64 == 0 &&
	      offsetof(struct hp_cpu, st) >= offsetof(struct hp_cpu, tlb) + sizeof(struct hp_tlb) &&
	      sizeof(struct hp_cpu) % 64 == 0, "a CPU's TLB model on lines of its own");

struct hp_platform {
	struct hl_engine *e;
	struct kcore *k;
	struct hp_cfg cfg;
	struct hp_cpu *cpus;
	/* read by every guest run, written by a VM's boot on its CPU: a row starts a line (with 8
	 * vCPUs per VM a row is one line), so a boot does not evict another VM's row (before,
	 * rows straddled lines: VM v's boot hit VM v+1's runs on another CPU) */
	struct hp_guest *guest_of[HL_NR_PRINC][HL_VCPU_PER_VM] __attribute__((aligned(64)));
	/* tests: called inside every host RAM access, with the access in flight */
	void (*access_hook)(void *ctx, unsigned cpu, uint64_t pa);
	void *access_hook_ctx;
	struct hp_hostile *hostile;     /* mix hostile: the forbidden-action generator */
	/* an atomic every VM boot changes: a line of its own, away from what every host access
	 * and guest run reads above (issue 11; before, it shared one with access_hook, hostile
	 * and the end of guest_of) */
	_Atomic int vm_budget __attribute__((aligned(64)));
};
static_assert(offsetof(struct hp_platform, vm_budget) % 64 == 0 && sizeof(struct hp_platform) % 64 == 0,
	      "vm_budget alone on its line");

/* ---- small utilities --------------------------------------------------------------------- */
static uint64_t rnd(struct hp_cpu *c)
{
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545F4914F6CDD1Dull;
}

static uint64_t rndn(struct hp_cpu *c, uint64_t n)
{
	return n ? rnd(c) % n : 0;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xFF51AFD7ED558CCDull;
	x ^= x >> 33;
	x *= 0xC4CEB9FE1A85EC53ull;
	x ^= x >> 33;
	return x;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fail(struct hp_cpu *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct hp_cpu *c, const char *fmt, ...)
{
	va_list ap;
	/* hostile: once a CPU halted, objects may be stranded and the host model's own
	 * expectations are void; this CPU stops (hostile.c judges the forbidden actions) */
	if (c->p->hostile && (c->halted || __atomic_load_n(&c->p->e->halts, __ATOMIC_ACQUIRE))) {
		c->halted = true;
		return;
	}
	c->st.errors++;
	if (c->err[0])
		return;
	int n = snprintf(c->err, sizeof(c->err), "cpu %u: ", c->id);
	va_start(ap, fmt);
	vsnprintf(c->err + n, sizeof(c->err) - (size_t)n, fmt, ap);
	va_end(ap);
}

int hp_mix_parse(const char *s, unsigned *out)
{
	if (!strcmp(s, "boot"))
		*out = HP_MIX_BOOT;
	else if (!strcmp(s, "faults"))
		*out = HP_MIX_FAULTS;
	else if (!strcmp(s, "smmu"))
		*out = HP_MIX_SMMU;
	else if (!strcmp(s, "share"))
		*out = HP_MIX_SHARE;
	else if (!strcmp(s, "all"))
		*out = HP_MIX_ALL;
	else if (!strcmp(s, "hostile"))
		*out = HP_MIX_ALL | HP_MIX_HOSTILE;
	else
		return -1;
	return 0;
}

const char *hp_mix_name(unsigned mix)
{
	switch (mix) {
	case HP_MIX_BOOT: return "boot";
	case HP_MIX_FAULTS: return "faults";
	case HP_MIX_SMMU: return "smmu";
	case HP_MIX_SHARE: return "share";
	case HP_MIX_ALL: return "all";
	case HP_MIX_ALL | HP_MIX_HOSTILE: return "hostile";
	default: return "custom";
	}
}

/* ---- latency histograms ------------------------------------------------------------------ */
static unsigned lat_bucket(uint64_t ns)
{
	if (ns < 8)
		return (unsigned)ns;
	unsigned lg = 63u - (unsigned)__builtin_clzll(ns);
	unsigned sub = (unsigned)((ns >> (lg - 3)) & 7u);
	unsigned b = lg * 8 + sub;
	return b < HP_LAT_BUCKETS ? b : HP_LAT_BUCKETS - 1;
}

static uint64_t bucket_ns(unsigned b)
{
	if (b < 8)
		return b;
	unsigned lg = b / 8, sub = b % 8;
	return (8ull + sub) << (lg - 3);
}

static void lat_add(struct hp_lat *l, uint64_t ns)
{
	l->n++;
	l->sum_ns += ns;
	if (ns > l->max_ns)
		l->max_ns = ns;
	l->b[lat_bucket(ns)]++;
}

uint64_t hp_lat_percentile(const struct hp_lat *l, double pct)
{
	uint64_t want, acc = 0;

	if (!l->n)
		return 0;
	want = (uint64_t)(pct / 100.0 * (double)l->n);
	if (want >= l->n)
		want = l->n - 1;
	for (unsigned b = 0; b < HP_LAT_BUCKETS; b++) {
		acc += l->b[b];
		if (acc > want)
			return bucket_ns(b);
	}
	return l->max_ns;
}

void hp_lat_merge(struct hp_lat *dst, const struct hp_lat *src)
{
	dst->n += src->n;
	dst->sum_ns += src->sum_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
	for (unsigned b = 0; b < HP_LAT_BUCKETS; b++)
		dst->b[b] += src->b[b];
}

/* ---- traps from the host ------------------------------------------------------------------ */
static bool take_trap(struct hp_cpu *c, unsigned kind)
{
	uint64_t t0 = now_ns();
	enum kc_ret r = kcore_host_trap(c->p->k, &c->frame);

	lat_add(&c->st.lat[kind], now_ns() - t0);
	c->st.traps++;
	if (r == KC_RET_HALTED) {
		c->halted = true;
		return false;
	}
	return true;
}

int64_t hp_hvc(struct hp_platform *p, unsigned cpu, uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3,
	       uint64_t x4, uint64_t x5)
{
	struct hp_cpu *c = &p->cpus[cpu];
	struct trap_frame *f = &c->frame;

	if (c->halted)
		return KC_EBUSY;
	memset(f, 0, sizeof(*f));
	f->x[0] = x0;
	f->x[1] = x1;
	f->x[2] = x2;
	f->x[3] = x3;
	f->x[4] = x4;
	f->x[5] = x5;
	f->esr = esr_make(EC_HVC64, 0);
	f->elr = c->pc;
	if (!take_trap(c, x0 == HVC_VCPU_RUN ? KC_T_VCPU_RUN : KC_T_HVC))
		return KC_EBUSY;
	return (int64_t)f->x[0];
}

/* the host's data abort: what the software MMU raises when the host table has no entry */
static bool host_abort(struct hp_cpu *c, uint64_t pa, unsigned size, bool write, unsigned rt, uint64_t wval,
		       uint64_t *rval, bool *emulated)
{
	struct trap_frame *f = &c->frame;
	unsigned sas = size == 8 ? 3 : size == 4 ? 2 : size == 2 ? 1 : 0;
	uint64_t elr = c->pc;
	bool mmio = pa >= KC_SMMU_BASE && pa < KC_SMMU_BASE + HL_SMMU_NUM * KC_SMMU_SIZE;

	memset(f, 0, sizeof(*f));
	f->x[rt] = wval;
	f->esr = esr_make(EC_DABT_LOW, ESR_ISV | (sas << ESR_SAS_SHIFT) | (rt << ESR_SRT_SHIFT) |
					   (write ? ESR_WNR : 0) | (FSC_TRANS_L0 + 3));
	f->far = pa;
	f->hpfar = ipa_to_hpfar(pa);
	f->elr = elr;
	if (!take_trap(c, mmio ? KC_T_HOST_MMIO : KC_T_HOST_S2))
		return false;
	*emulated = f->elr != elr;
	if (*emulated && !write && rval)
		*rval = f->x[rt];
	return true;
}

/* the access itself, through a translation in this CPU's TLB: caller holds c->tlb.lock */
static void tlb_do_access(struct hp_cpu *c, const struct hp_tlbe *t, uint64_t pa, unsigned size, bool write,
			  uint64_t *val)
{
	uint64_t phys = t->pfn * PG + (pa & (PG - 1));
	uint8_t *page = hl_ram_page(c->p->e, t->pfn);

	if (!page) {   /* a device page: nothing behind it here */
		if (!write)
			*val = 0;
		return;
	}
	if (c->p->access_hook)
		c->p->access_hook(c->p->access_hook_ctx, c->id, pa);   /* tests widen the window */
	if (write)
		memcpy(page + (phys & (PG - 1)), val, size);
	else {
		*val = 0;
		memcpy(val, page + (phys & (PG - 1)), size);
	}
}

static struct hp_tlbe *tlb_slot(struct hp_cpu *c, uint64_t pa)
{
	return &c->tlb.e[(pa / PG) % HP_TLB_ENTRIES];
}

/* hosted backend of arch_tlbi_s2_ipa: every CPU drops the host's translation of `ipa`,
 * after every access in flight on it completed (each CPU's TLB lock in turn) */
static void hp_tlbi(void *arg, uint64_t vttbr, uint64_t ipa)
{
	struct hp_platform *p = arg;

	if ((vttbr >> VTTBR_VMID_SHIFT) != HL_HOSTVISOR)
		return;   /* only the host's translations are cached (guests walk every access) */
	for (unsigned i = 0; i < p->cfg.ncpus; i++) {
		struct hp_cpu *o = &p->cpus[i];
		struct hp_tlbe *t;
		pthread_mutex_lock(&o->tlb.lock);
		o->tlb.gen++;
		o->tlb.invals++;
		t = tlb_slot(o, ipa);
		if (t->page == ipa / PG + 1)
			t->page = 0;
		pthread_mutex_unlock(&o->tlb.lock);
	}
}

/* 1: done; 0: it would take a stage-2 fault (only with `probe`: no trap is taken);
 * -1: the CPU halted or the access cannot complete */
static int host_access_(struct hp_cpu *c, uint64_t pa, unsigned size, bool write, uint64_t *val, bool probe)
{
	struct hp_platform *p = c->p;
	struct hp_tlbe *t = tlb_slot(c, pa);

	for (unsigned tries = 0; tries < 4; tries++) {
		struct hl_pt_entry ent;
		bool emulated = false;
		uint64_t gen;
		int rc;

		if (c->halted)
			return -1;
		/* a cached translation, stale or not, is used until an invalidation drops it */
		pthread_mutex_lock(&c->tlb.lock);
		if (t->page == pa / PG + 1 && (!write || t->writable)) {
			c->tlb.hits++;
			tlb_do_access(c, t, pa, size, write, val);
			pthread_mutex_unlock(&c->tlb.lock);
			return 1;
		}
		gen = c->tlb.gen;
		pthread_mutex_unlock(&c->tlb.lock);
		/* miss: walk the host's stage-2 table (engine locks, no TLB lock) */
		rc = hl_translate(p->e, (int)c->id, HL_HOSTVISOR, hl_ipa(pa), &ent);
		if (rc == HL_E_STRANDED || rc == HL_E_CPU_HALTED)
			return -1;
		if (rc == HL_OK && ent.level && (ent.pte & HL_DESC_TYPE_MASK) == HL_DESC_TYPE_TABLE &&
		    (!write || (ent.pte & HL_PTE_S2_RDWR) == HL_PTE_S2_RDWR)) {
			pthread_mutex_lock(&c->tlb.lock);
			c->tlb.walks++;
			if (c->tlb.gen != gen) {
				/* an invalidation reached this CPU during the walk: its result may
				 * be the old translation; walk again (does not count as a try) */
				pthread_mutex_unlock(&c->tlb.lock);
				tries--;
				continue;
			}
			t->page = pa / PG + 1;
			t->pfn = ent.pfn;
			t->writable = (ent.pte & HL_PTE_S2_RDWR) == HL_PTE_S2_RDWR;
			tlb_do_access(c, t, pa, size, write, val);
			pthread_mutex_unlock(&c->tlb.lock);
			return 1;
		}
		if (probe)
			return 0;
		if (!host_abort(c, pa, size, write, (unsigned)rndn(c, 29) + 1, write ? *val : 0, val, &emulated))
			return -1;
		if (emulated)
			return 1;
	}
	return -1;
}

static bool host_access(struct hp_cpu *c, uint64_t pa, unsigned size, bool write, uint64_t *val)
{
	return host_access_(c, pa, size, write, val, false) == 1;
}

int hp_host_probe(struct hp_platform *p, unsigned cpu, uint64_t pa, unsigned size, bool write, uint64_t *val)
{
	return host_access_(&p->cpus[cpu], pa, size, write, val, true);
}

void hp_tlb_stats(struct hp_platform *p, unsigned cpu, uint64_t *hits, uint64_t *walks, uint64_t *invals)
{
	struct hp_cpu *c = &p->cpus[cpu];

	pthread_mutex_lock(&c->tlb.lock);
	*hits = c->tlb.hits;
	*walks = c->tlb.walks;
	*invals = c->tlb.invals;
	pthread_mutex_unlock(&c->tlb.lock);
}

void hp_set_access_hook(struct hp_platform *p, void (*fn)(void *ctx, unsigned cpu, uint64_t pa), void *ctx)
{
	p->access_hook = fn;
	p->access_hook_ctx = ctx;
}

bool hp_host_load(struct hp_platform *p, unsigned cpu, uint64_t pa, unsigned size, uint64_t *val)
{
	return host_access(&p->cpus[cpu], pa, size, false, val);
}

bool hp_host_store(struct hp_platform *p, unsigned cpu, uint64_t pa, unsigned size, uint64_t val)
{
	return host_access(&p->cpus[cpu], pa, size, true, &val);
}

static bool host_write_bytes(struct hp_cpu *c, uint64_t pa, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	for (size_t off = 0; off < len; off += 8) {
		uint64_t v = 0;
		memcpy(&v, b + off, len - off < 8 ? len - off : 8);
		if (!host_access(c, pa + off, 8, true, &v))
			return false;
	}
	return true;
}

void hp_enter_cpu(struct hp_platform *p, unsigned cpu)
{
	(void)p;
	hosted_cpu_init(cpu);
}

/* ---- scripted guests ---------------------------------------------------------------------- */
enum gact { G_TOUCH_R, G_TOUCH_W, G_MMIO_R, G_MMIO_W, G_SHARE, G_UNSHARE, G_SYS64, G_WFI, G_IRQ, G_BADPV };

static enum gact guest_action(struct hp_platform *p, const struct hp_guest *g, uint64_t idx, uint64_t *r)
{
	unsigned mix = p->cfg.mix;
	*r = mix64(p->cfg.seed ^ ((uint64_t)g->vmid << 40) ^ ((uint64_t)g->vcpuid << 32) ^ idx ^ (g->epoch << 52));
	unsigned x = (unsigned)(*r % 100);
	if (mix & HP_MIX_SHARE && x < 20)
		return x < 12 ? G_SHARE : G_UNSHARE;
	if (x < 55)
		return (*r >> 20) & 1 ? G_TOUCH_W : G_TOUCH_R;
	if (mix & HP_MIX_FAULTS && x < 70)
		return (*r >> 20) & 1 ? G_MMIO_W : G_MMIO_R;
	if (x < 80)
		return G_SYS64;
	if (x < 88)
		return G_WFI;
	if (x < 95)
		return G_IRQ;
	if (x < 97)
		return G_BADPV;
	return G_TOUCH_R;
}

static unsigned guest_trap(uint64_t pc, uint64_t esr, uint64_t far, uint64_t ipa)
{
	arch_write_sysreg(SR_ELR_EL2, pc);
	arch_write_sysreg(SR_ESR_EL2, esr);
	arch_write_sysreg(SR_FAR_EL2, far);
	arch_write_sysreg(SR_HPFAR_EL2, ipa_to_hpfar(ipa));
	return ARCH_EXIT_TRAP;
}

static uint64_t mmio_value(uint64_t gpa)
{
	return 0xD0000000ull ^ gpa;
}

/* runs the current guest until it traps; at most 32 instructions, then a timer IRQ */
static unsigned guest_run(void *arg, uint64_t *x)
{
	struct hp_platform *p = arg;
	unsigned cpu = arch_cpu_id();
	struct hp_cpu *c = &p->cpus[cpu];
	uint32_t vmid = (uint32_t)(arch_read_sysreg(SR_VTTBR_EL2) >> VTTBR_VMID_SHIFT);
	uint32_t vcpuid = (uint32_t)(arch_read_sysreg(SR_VMPIDR_EL2) & 0xFF);
	struct hp_guest *g = vmid < HL_NR_PRINC && vcpuid < HL_VCPU_PER_VM ? p->guest_of[vmid][vcpuid] : NULL;
	uint64_t pc = arch_read_sysreg(SR_ELR_EL2);

	if (!g) {
		fail(c, "guest runner: no guest for vmid %u vcpu %u", vmid, vcpuid);
		return guest_trap(pc, esr_make(EC_WFX, 0), 0, 0);
	}
	for (unsigned budget = 0; budget < 32; budget++) {
		uint64_t idx = (pc - HP_BOOT_PC) / 4, r;
		enum gact a = guest_action(p, g, idx, &r);
		if (p->hostile && hp_hostile_guest_burst(p->hostile, vmid, vcpuid))
			a = G_SHARE;   /* hostile: granting one page up to the maximum and past it */
		unsigned pgi = (unsigned)((r >> 8) % HP_GUEST_PAGES), rt = (unsigned)((r >> 16) % 29) + 1;
		uint64_t gpa = HP_GUEST_RAM + ((uint64_t)g->vcpuid * HP_GUEST_PAGES + pgi) * PG;

		if (idx >= HP_PROG_LEN) {
			/* the program's last instruction branches back to its start */
			g->epoch++;
			g->check_idx = 0;
			pc = HP_BOOT_PC;
			continue;
		}
		if (pc < HP_BOOT_PC || pc >= HP_LOAD_ADDR + HP_IMG_BYTES) {
			fail(c, "guest vm %u vcpu %u: PC %#llx left its image", vmid, vcpuid, (unsigned long long)pc);
			return guest_trap(pc, esr_make(EC_WFX, 0), 0, 0);
		}
		if (g->check_idx && g->check_idx == idx) {
			/* the MMIO read completed: Rt holds what the host emulated */
			if (x[g->check_rt] != g->check_val)
				fail(c, "guest vm %u: MMIO read gave %#llx, host supplied %#llx", vmid,
				     (unsigned long long)x[g->check_rt], (unsigned long long)g->check_val);
			else
				c->st.guest_checks++;
			g->check_idx = 0;
		}
		if (g->poweroff) {
			x[0] = PSCI_0_2_FN_SYSTEM_OFF;
			return guest_trap(pc + 4, esr_make(EC_HVC64, 0), 0, 0);   /* ELR: past the HVC */
		}
		switch (a) {
		case G_TOUCH_R:
		case G_TOUCH_W: {
			struct hl_pt_entry ent;
			uint64_t v;
			if (hl_translate(p->e, (int)cpu, vmid, hl_ipa(gpa), &ent) != HL_OK)
				return ARCH_EXIT_IRQ;
			if (!ent.level || (ent.pte & HL_DESC_TYPE_MASK) != HL_DESC_TYPE_TABLE)
				return guest_trap(pc, esr_make(EC_DABT_LOW, ESR_ISV | (3u << ESR_SAS_SHIFT) |
									(rt << ESR_SRT_SHIFT) |
									(a == G_TOUCH_W ? ESR_WNR : 0) |
									(FSC_TRANS_L0 + 3)),
						  gpa, gpa);
			g->mapped[pgi] = 1;
			if (a == G_TOUCH_W) {
				v = mix64(r) | 1;
				if (hl_vm_mem_access(p->e, (int)cpu, vmid, hl_pa(ent.pfn * PG), &v, 8, true) != HL_OK)
					fail(c, "guest vm %u: store to its own page refused", vmid);
				g->mem[pgi] = v;
				x[rt] = v;
			} else {
				v = 0;
				if (hl_vm_mem_access(p->e, (int)cpu, vmid, hl_pa(ent.pfn * PG), &v, 8, false) != HL_OK)
					fail(c, "guest vm %u: load from its own page refused", vmid);
				else if (g->mem[pgi] && v != g->mem[pgi])
					fail(c, "guest vm %u page %u: read %#llx, wrote %#llx", vmid, pgi,
					     (unsigned long long)v, (unsigned long long)g->mem[pgi]);
				else if (g->mem[pgi])
					c->st.guest_checks++;
				x[rt] = v;
			}
			pc += 4;
			break;
		}
		case G_MMIO_R: {
			uint64_t dev = HP_GUEST_MMIO + (r % 16) * PG + ((r >> 4) & 0xFF8);
			g->check_idx = idx + 1;
			g->check_rt = rt;
			g->check_val = mmio_value(dev);
			return guest_trap(pc, esr_make(EC_DABT_LOW, ESR_ISV | (3u << ESR_SAS_SHIFT) | (rt << ESR_SRT_SHIFT) |
								(FSC_TRANS_L0 + 3)),
					  dev, dev);
		}
		case G_MMIO_W: {
			uint64_t dev = HP_GUEST_MMIO + (r % 16) * PG;
			x[rt] = mix64(r ^ 77);
			g->wval = x[rt];
			g->wpending = true;
			return guest_trap(pc, esr_make(EC_DABT_LOW, ESR_ISV | (3u << ESR_SAS_SHIFT) | (rt << ESR_SRT_SHIFT) |
								ESR_WNR | (FSC_TRANS_L0 + 3)),
					  dev, dev);
		}
		case G_SHARE:
		case G_UNSHARE:
			/* share only what it mapped; the outstanding count stays small */
			if (p->hostile) {
				bool grant = a == G_SHARE;
				if (!hp_hostile_guest_share(p->hostile, vmid, vcpuid,
							    HP_GUEST_RAM + (uint64_t)g->vcpuid * HP_GUEST_PAGES * PG,
							    &grant, &pgi, r)) {
					pc += 4;
					break;
				}
				a = grant ? G_SHARE : G_UNSHARE;
				gpa = HP_GUEST_RAM + ((uint64_t)g->vcpuid * HP_GUEST_PAGES + pgi) * PG;
			} else if (!g->mapped[pgi] || (a == G_SHARE && g->share[pgi] >= 3) ||
			    (a == G_UNSHARE && g->share[pgi] == 0)) {
				pc += 4;
				break;
			} else
				g->share[pgi] += a == G_SHARE ? 1 : -1;
			x[0] = a == G_SHARE ? KVM_SET_DESC_PFN : KVM_UNSET_DESC_PFN;
			x[1] = gpa;
			x[2] = PG;
			/* an HVC's exception returns to the next instruction: ELR_EL2 = pc + 4 */
			return guest_trap(pc + 4, esr_make(EC_HVC64, 0), 0, 0);
		case G_SYS64:
			return guest_trap(pc, esr_make(EC_SYS64, 0x1234), 0, 0);
		case G_WFI:
			return guest_trap(pc, esr_make(EC_WFX, 0), 0, 0);
		case G_IRQ:
			arch_write_sysreg(SR_ELR_EL2, pc + 4);   /* taken after this instruction */
			return ARCH_EXIT_IRQ;
		case G_BADPV:
			x[0] = 0x99000;
			return guest_trap(pc + 4, esr_make(EC_HVC64, 0), 0, 0);
		}
	}
	arch_write_sysreg(SR_ELR_EL2, pc);
	return ARCH_EXIT_IRQ;
}

/* ---- the host model: pages -------------------------------------------------------------- */
static uint64_t pfn_of(struct hp_cpu *c, uint64_t i) { return c->first_pfn + i; }

/* a free page not in any block this CPU reserved for images */
static int64_t take_page(struct hp_cpu *c, enum page_use use, unsigned vm)
{
	for (unsigned tries = 0; tries < 64; tries++) {
		uint64_t i = rndn(c, c->npages);
		if (c->pg[i].use == PU_FREE && c->pg[i].smmu_maps == 0 && (i / 512) >= HP_MAX_VMS) {
			c->pg[i].use = (uint8_t)use;
			c->pg[i].vm = (uint8_t)vm;
			c->pg[i].written = 0;
			return (int64_t)i;
		}
	}
	for (uint64_t i = HP_MAX_VMS * 512; i < c->npages; i++)
		if (c->pg[i].use == PU_FREE && c->pg[i].smmu_maps == 0) {
			c->pg[i].use = (uint8_t)use;
			c->pg[i].vm = (uint8_t)vm;
			c->pg[i].written = 0;
			return (int64_t)i;
		}
	return -1;
}

static void expect_hvc(struct hp_cpu *c, const char *what, int64_t got, int64_t want)
{
	if (c->halted)
		return;
	if (got != want)
		fail(c, "%s returned %lld, expected %lld", what, (long long)got, (long long)want);
}

/* ---- the host model: VM lifecycle ---------------------------------------------------------- */
static bool boot_vm(struct hp_cpu *c, unsigned slot)
{
	struct hp_platform *p = c->p;
	struct hp_vm *vm = &c->vm[slot];
	uint8_t sig[64];
	uint8_t *img;
	int64_t meta, vcpus, rc, vmid, idx;

	if (atomic_fetch_sub(&p->vm_budget, 1) <= 0) {
		atomic_fetch_add(&p->vm_budget, 1);
		return false;   /* the host knows it has used every vmid KCore will hand out */
	}
	memset(vm, 0, sizeof(*vm));
	vm->bank = -1;
	meta = take_page(c, PU_META, slot);
	vcpus = take_page(c, PU_META, slot);
	if (meta < 0 || vcpus < 0)
		return false;
	vm->meta_pfn = pfn_of(c, (uint64_t)meta);
	vm->vcpu_pfn = pfn_of(c, (uint64_t)vcpus);
	/* SPEC §11: the VM uses KCore's key HP_KEY_IDX (the engine's configuration provisions
	 * the test key there); the image is signed with the test key pair (hl_testkey.h) */
	vmid = hp_hvc(p, c->id, HVC_REGISTER_KVM, HP_KEY_IDX, 0xFFFF000000000000ull | c->id, 0, 0, 0);
	if (vmid < 1 || vmid > HL_MAX_VM) {
		fail(c, "REGISTER_KVM returned %lld", (long long)vmid);
		return false;
	}
	vm->vmid = (uint32_t)vmid;
	for (unsigned v = 0; v < HP_VCPUS; v++) {
		uint64_t hv = vm->vcpu_pfn * PG + v * 512;
		struct hp_guest *g = &vm->g[v];
		memset(g, 0, sizeof(*g));
		g->vmid = vm->vmid;
		g->vcpuid = v;
		if (!hp_host_store(p, c->id, hv + offsetof(struct host_vcpu, boot_pc), 8, HP_BOOT_PC))
			return false;
		expect_hvc(c, "REGISTER_VCPU", hp_hvc(p, c->id, HVC_REGISTER_VCPU, vm->vmid, v, hv, 0, 0), 0);
		p->guest_of[vm->vmid][v] = g;
	}
	/* DMA first: the VM's SMMU bank gets pages while the VM is still READY */
	if ((p->cfg.mix & HP_MIX_SMMU) && c->vm_bank >= 0) {
		unsigned index = (unsigned)c->vm_bank / HL_SMMU_NUM_CB, cb = (unsigned)c->vm_bank % HL_SMMU_NUM_CB;
		expect_hvc(c, "SMMU_ALLOC_PGD(vm)", hp_hvc(p, c->id, HVC_SMMU_ALLOC_PGD, cb, vm->vmid, index, 0, 0), 0);
		vm->bank = c->vm_bank;
		c->vm_bank = -1;
		for (unsigned d = 0; d < HP_DMA_PAGES; d++) {
			int64_t i = take_page(c, PU_VM, slot);
			uint64_t gfn = (HP_GUEST_RAM / PG) + d;   /* vcpu 0's first pages */
			if (i < 0)
				break;
			vm->dma_pfn[d] = pfn_of(c, (uint64_t)i);
			vm->gfn_pfn[0][d] = vm->dma_pfn[d];
			if (p->hostile)   /* a page the host used (and its TLB holds) goes to the VM's bank */
				hp_host_store(p, c->id, vm->dma_pfn[d] * PG, 8, rnd(c));
			expect_hvc(c, "SMMU_LPAE_MAP(vm)",
				   hp_hvc(p, c->id, HVC_SMMU_LPAE_MAP, gfn * PG, vm->dma_pfn[d] * PG, 3, cb, index), 0);
			c->st.dma_maps++;
		}
	}
	/* device memory while READY */
	expect_hvc(c, "PHYS_ADDR_IOREMAP",
		   hp_hvc(p, c->id, HVC_PHYS_ADDR_IOREMAP, vm->vmid, 0x0C000000, HP_VM_DEV_PA + c->id * 4 * PG,
			  2 * PG, 0), 0);
	/* the signed image, in the 2 MiB block reserved for this slot */
	vm->img_pfn = c->first_pfn + slot * 512;
	img = malloc(HP_IMG_BYTES);
	if (!img)
		return false;
	for (unsigned i = 0; i < HP_IMG_BYTES; i++)
		img[i] = (uint8_t)rnd(c);
	for (unsigned i = 0; i < 512; i++)
		c->pg[slot * 512 + i].use = PU_IMAGE;
	if (!host_write_bytes(c, vm->img_pfn * PG, img, HP_IMG_BYTES)) {
		free(img);
		return false;
	}
	rc = hl_testkey_sign_image(sig, img, HP_IMG_BYTES);
	free(img);
	if (rc != 0) {
		fail(c, "signing the image failed");
		return false;
	}
	if (!host_write_bytes(c, vm->meta_pfn * PG + 64, sig, 64))
		return false;
	idx = hp_hvc(p, c->id, HVC_SET_BOOT_INFO, vm->vmid, HP_LOAD_ADDR, HP_IMG_BYTES, vm->meta_pfn * PG + 64, 0);
	if (idx != 0) {
		fail(c, "SET_BOOT_INFO returned %lld", (long long)idx);
		return false;
	}
	for (unsigned i = 0; i < HP_IMG_BYTES / PG; i++)
		expect_hvc(c, "REMAP_VM_IMAGE", hp_hvc(p, c->id, HVC_REMAP_VM_IMAGE, vm->vmid, vm->img_pfn + i, 0, 0, 0), 0);
	rc = hp_hvc(p, c->id, HVC_VERIFY_VM_IMAGE, vm->vmid, 0, 0, 0, 0);
	if (rc != 1) {
		fail(c, "VERIFY_VM_IMAGE of a correctly signed image returned %lld", (long long)rc);
		return false;
	}
	vm->state = 1;
	vm->lifetime = p->hostile ? 3 + rndn(c, 10) : 40 + rndn(c, 80);   /* hostile: teardowns often */
	c->st.vm_boots++;
	return true;
}

/* ---- mix hostile (hostile.c): what the host knows, and pages it can spare ---------------- */
static uint64_t hv_take_page(void *ctx)
{
	struct hp_cpu *c = ctx;
	int64_t i = take_page(c, PU_LOST, 0);
	return i < 0 ? 0 : pfn_of(c, (uint64_t)i);
}

static uint64_t hv_take_block(void *ctx)
{
	struct hp_cpu *c = ctx;

	for (uint64_t b = HP_MAX_VMS; b < c->npages / 512; b++) {
		uint64_t i = b * 512;
		while (i < (b + 1) * 512 && c->pg[i].use == PU_FREE && !c->pg[i].smmu_maps)
			i++;
		if (i < (b + 1) * 512 || (pfn_of(c, b * 512) & 511))
			continue;
		for (i = b * 512; i < (b + 1) * 512; i++)
			c->pg[i].use = PU_LOST;
		return pfn_of(c, b * 512);
	}
	return 0;
}

static void hostile_view(struct hp_cpu *c, struct hp_hview *v)
{
	memset(v, 0, sizeof(*v));
	v->p = c->p;
	v->cpu = c->id;
	v->r = rnd(c);
	v->host_bank = (c->p->cfg.mix & HP_MIX_SMMU) ? c->host_bank : -1;
	v->take_page = hv_take_page;
	v->take_block = hv_take_block;
	v->ctx = c;
	for (unsigned s = 0; s < HP_MAX_VMS && s < HP_HVIEW_VMS; s++) {
		struct hp_vm *vm = &c->vm[s];
		if (vm->state == 0)
			continue;
		v->vm[s].vmid = vm->vmid;
		v->vm[s].running = vm->state == 1;
		v->vm[s].bank = vm->bank;
		/* half the time a DMA page: the host wrote it before it went to the VM's bank */
		if ((v->r >> 50) & 1)
			v->vm[s].page_pfn = vm->dma_pfn[(v->r >> 51) % HP_DMA_PAGES];
		for (unsigned g = 0; g < HP_VCPUS * HP_GUEST_PAGES && !v->vm[s].page_pfn; g++) {
			unsigned k = (unsigned)(((v->r >> 8) + g) % (HP_VCPUS * HP_GUEST_PAGES));
			v->vm[s].page_pfn = vm->gfn_pfn[k / HP_GUEST_PAGES][k % HP_GUEST_PAGES];
		}
	}
}

struct hp_hostile *hp_hostile_of(struct hp_platform *p)
{
	return p->hostile;
}

/* after SYSTEM_OFF: the host takes its memory and SMMU bank back */
static void teardown_vm(struct hp_cpu *c, unsigned slot)
{
	struct hp_platform *p = c->p;
	struct hp_vm *vm = &c->vm[slot];
	bool bank_freed = false;

	if (p->hostile) {   /* clear while DMA-mapped, free a bank that maps pages (hostile.c) */
		struct hp_hview hvw;
		hostile_view(c, &hvw);
		bank_freed = hp_hostile_teardown(p->hostile, &hvw, vm->vmid, vm->bank, vm->dma_pfn, HP_DMA_PAGES,
						 HP_GUEST_RAM, HP_VCPUS * HP_GUEST_PAGES * PG);
	}

	/* DMA off first, so no SMMU entry ever points at a page that went back to the host */
	if (vm->bank >= 0) {
		unsigned index = (unsigned)vm->bank / HL_SMMU_NUM_CB, cb = (unsigned)vm->bank % HL_SMMU_NUM_CB;
		for (unsigned d = 0; d < HP_DMA_PAGES; d++)
			if (vm->dma_pfn[d] && !bank_freed)
				expect_hvc(c, "SMMU_CLEAR(vm)",
					   hp_hvc(p, c->id, HVC_SMMU_CLEAR, (HP_GUEST_RAM / PG + d) * PG, cb, index, 0, 0), 0);
		expect_hvc(c, "SMMU_FREE_PGD", hp_hvc(p, c->id, HVC_SMMU_FREE_PGD, cb, index, 0, 0, 0), 0);
		c->vm_bank = vm->bank;
	}
	expect_hvc(c, "CLEAR_VM_S2_RANGE",
		   hp_hvc(p, c->id, HVC_CLEAR_VM_S2_RANGE, vm->vmid, HP_GUEST_RAM, HP_VCPUS * HP_GUEST_PAGES * PG, 0, 0), 0);
	expect_hvc(c, "CLEAR_VM_S2_RANGE(image)",
		   hp_hvc(p, c->id, HVC_CLEAR_VM_S2_RANGE, vm->vmid, HP_LOAD_ADDR, HL_PMD_SIZE, 0, 0), 0);
	/* every page the VM had is the host's again, except DMA pages the VM never mapped
	 * (they were only in its SMMU bank, and CLEAR_VM_S2_RANGE walks its stage-2 table) */
	for (uint64_t i = 0; i < c->npages; i++) {
		struct hp_page *pg = &c->pg[i];
		if (pg->vm != slot || (pg->use != PU_VM && pg->use != PU_IMAGE && pg->use != PU_META))
			continue;
		pg->use = PU_FREE;
		pg->written = 0;
	}
	for (unsigned d = 0; d < HP_DMA_PAGES; d++)
		if (vm->dma_pfn[d] && !vm->g[0].mapped[d])
			c->pg[vm->dma_pfn[d] - c->first_pfn].use = PU_LOST;
	for (unsigned v = 0; v < HP_VCPUS; v++)
		p->guest_of[vm->vmid][v] = NULL;
	vm->state = 0;
}

/* run one vCPU once and do what its exit asks */
static void run_vcpu(struct hp_cpu *c, unsigned slot, unsigned v)
{
	struct hp_platform *p = c->p;
	struct hp_vm *vm = &c->vm[slot];
	struct hp_guest *g = &vm->g[v];
	uint64_t hv = vm->vcpu_pfn * PG + v * 512, vals[7];
	int64_t code;

	code = hp_hvc(p, c->id, HVC_VCPU_RUN, vm->vmid, v, 0, 0, 0);
	if (c->halted)
		return;
	if (code != ARCH_EXIT_TRAP && code != ARCH_EXIT_IRQ) {
		fail(c, "VCPU_RUN(%u, %u) returned %lld", vm->vmid, v, (long long)code);
		return;
	}
	vm->runs++;
	for (unsigned i = 0; i < 7; i++)
		if (!hp_host_load(p, c->id, hv + offsetof(struct host_vcpu, exit_code) + i * 8, 8, &vals[i]))
			return;
	uint64_t esr = vals[1], far = vals[2], hpfar = vals[3], dirty = vals[4], value = vals[5], flags = vals[6];
	uint64_t ipa = hpfar_to_ipa(hpfar, far);

	if (code == ARCH_EXIT_TRAP && esr_ec(esr) == EC_HVC64 && (uint32_t)value == PSCI_0_2_FN_SYSTEM_OFF) {
		c->st.vm_poweroffs++;
		vm->state = 2;
		teardown_vm(c, slot);
		return;
	}
	if (flags & PENDING_FSC_FAULT) {
		/* the guest touched memory it does not have: give it one of ours */
		uint64_t gpi = (ipa - HP_GUEST_RAM) / PG, pfn;
		unsigned gv = (unsigned)(gpi / HP_GUEST_PAGES), gp = (unsigned)(gpi % HP_GUEST_PAGES);
		if (ipa < HP_GUEST_RAM || gv >= HP_VCPUS) {
			fail(c, "guest faulted outside its RAM at %#llx", (unsigned long long)ipa);
			return;
		}
		if (p->hostile) {   /* maybe a bad answer instead (hostile.c) */
			struct hp_hview hvw;
			uint64_t other = 0;
			hostile_view(c, &hvw);
			for (unsigned k = 0; k < HP_GUEST_PAGES && !other; k++)
				if (k != gp && vm->gfn_pfn[gv][k] && vm->g[gv].mapped[k])
					other = HP_GUEST_RAM + ((uint64_t)gv * HP_GUEST_PAGES + k) * PG;
			if (hp_hostile_fault_answer(p->hostile, &hvw, vm->vmid, v, hv, ipa, other, hvw.r))
				return;
		}
		pfn = vm->gfn_pfn[gv][gp];
		if (!pfn) {
			int64_t i = take_page(c, PU_VM, slot);
			if (i < 0) {
				fail(c, "host out of pages for guest faults");
				return;
			}
			pfn = pfn_of(c, (uint64_t)i);
			vm->gfn_pfn[gv][gp] = pfn;
		}
		hp_host_store(p, c->id, hv + offsetof(struct host_vcpu, fault_addr), 8, ipa & ~(PG - 1));
		hp_host_store(p, c->id, hv + offsetof(struct host_vcpu, fault_pte), 8, pfn * PG | HL_PAGE_S2_KERNEL);
		hp_host_store(p, c->id, hv + offsetof(struct host_vcpu, fault_level), 8, 3);
		return;
	}
	if (code == ARCH_EXIT_TRAP && esr_ec(esr) == EC_DABT_LOW && ipa < HL_MAX_MMIO_ADDR) {
		if (esr_is_write(esr)) {
			if (!g->wpending || value != g->wval)
				fail(c, "MMIO write exit carries %#llx, guest wrote %#llx", (unsigned long long)value,
				     (unsigned long long)g->wval);
			else
				c->st.guest_checks++;
			g->wpending = false;
		} else {
			unsigned rt = esr_srt(esr);
			if (!(dirty & (1ull << rt)) || !(dirty & DIRTY_PC_FLAG))
				fail(c, "MMIO read exit without Rt dirty (dirty %#llx)", (unsigned long long)dirty);
			hp_host_store(p, c->id, hv + offsetof(struct host_vcpu, regs) + rt * 8, 8, mmio_value(ipa));
		}
	}
}

/* ---- the host model: SMMU ------------------------------------------------------------------ */
static void smmu_action(struct hp_cpu *c)
{
	struct hp_platform *p = c->p;
	unsigned index = (unsigned)c->host_bank / HL_SMMU_NUM_CB, cb = (unsigned)c->host_bank % HL_SMMU_NUM_CB;
	uint64_t base = KC_SMMU_BASE + index * KC_SMMU_SIZE, v = 0;

	switch (rndn(c, 6)) {
	case 0:
	case 1: { /* DMA map one of our pages (identity), translate it, unmap it */
		uint64_t i = HP_MAX_VMS * 512 + rndn(c, c->npages - HP_MAX_VMS * 512), pa = pfn_of(c, i) * PG;
		struct hp_page *pg = &c->pg[i];
		/* one mapping per page: a second map of one iova would leak a count (spec) */
		if ((pg->use != PU_FREE && pg->use != PU_HOST) || pg->smmu_maps)
			return;
		expect_hvc(c, "SMMU_LPAE_MAP(host)", hp_hvc(p, c->id, HVC_SMMU_LPAE_MAP, pa, pa, 3, cb, index), 0);
		pg->smmu_maps++;
		c->st.dma_maps++;
		expect_hvc(c, "SMMU_LPAE_IOVA_TO_PHYS",
			   hp_hvc(p, c->id, HVC_SMMU_LPAE_IOVA_TO_PHYS, pa + 0x18, cb, index, 0, 0), (int64_t)(pa + 0x18));
		if (rndn(c, 2)) {
			expect_hvc(c, "SMMU_CLEAR(host)", hp_hvc(p, c->id, HVC_SMMU_CLEAR, pa, cb, index, 0, 0), 0);
			pg->smmu_maps = 0;
		}
		return;
	}
	case 2: /* program our bank's TTBR0: KCore puts its own root there */
		if (!hp_host_store(p, c->id, base + KC_SMMU_GLOBAL_BASE + cb * KC_SMMU_CB_SIZE + SMMU_CB_TTBR0, 8,
				   0x123456789000ull) ||
		    !hp_host_load(p, c->id, base + KC_SMMU_GLOBAL_BASE + cb * KC_SMMU_CB_SIZE + SMMU_CB_TTBR0, 8, &v))
			return;
		if (v == 0x123456789000ull)
			fail(c, "SMMU TTBR0 kept the host's value");
		else
			c->st.guest_checks++;
		return;
	case 3: /* our own bank's CBAR: allowed */
		hp_host_store(p, c->id, base + SMMU_GR1_BASE + cb * 4, 4, 0);
		return;
	case 4: { /* try to clear SMCFCFG: refused, the bit stays */
		uint64_t before = c->p->k->cpu[c->id].mmio_rejected;
		hp_host_store(p, c->id, base + SMMU_GR0_sCR0, 4, 0);
		if (c->p->k->cpu[c->id].mmio_rejected != before + 1)
			fail(c, "sCR0 write clearing SMCFCFG was not refused");
		hp_host_load(p, c->id, base + SMMU_GR0_sCR0, 4, &v);
		if (!(v & SMMU_sCR0_SMCFCFG))
			fail(c, "sCR0.SMCFCFG cleared by the host");
		c->st.mmio_refused++;
		return;
	}
	default: { /* CONTEXTIDR: refused */
		uint64_t before = c->p->k->cpu[c->id].mmio_rejected;
		hp_host_store(p, c->id, base + KC_SMMU_GLOBAL_BASE + cb * KC_SMMU_CB_SIZE + SMMU_CB_CONTEXTIDR, 4, 7);
		if (c->p->k->cpu[c->id].mmio_rejected != before + 1)
			fail(c, "CONTEXTIDR write was not refused");
		c->st.mmio_refused++;
		return;
	}
	}
}

/* malformed hypercalls: each must be refused with an error and change nothing */
static void invalid_action(struct hp_cpu *c)
{
	struct hp_platform *p = c->p;

	switch (rndn(c, 8)) {
	case 0: expect_hvc(c, "unknown hvc", hp_hvc(p, c->id, 99 + rndn(c, 100), 0, 0, 0, 0, 0), KC_ENOSYS); break;
	case 1: expect_hvc(c, "ENCRYPT_BUF", hp_hvc(p, c->id, HVC_ENCRYPT_BUF, 1, 0, 0, 0, 0), KC_ENOTSUP); break;
	case 2: expect_hvc(c, "VCPU_RUN(bad vmid)", hp_hvc(p, c->id, HVC_VCPU_RUN, HL_MAX_VM + 1, 0, 0, 0, 0), KC_EINVAL); break;
	case 3: expect_hvc(c, "REGISTER_VCPU(bad vcpu)",
			   hp_hvc(p, c->id, HVC_REGISTER_VCPU, 1, HL_VCPU_PER_VM, 0, 0, 0), KC_EINVAL); break;
	case 4: expect_hvc(c, "SMMU_ALLOC_PGD(bad cb)",
			   hp_hvc(p, c->id, HVC_SMMU_ALLOC_PGD, HL_SMMU_NUM_CB, 1, 0, 0, 0), KC_EINVAL); break;
	case 5: expect_hvc(c, "SET_BOOT_INFO(sig not host memory)",
			   hp_hvc(p, c->id, HVC_SET_BOOT_INFO, 1, HP_LOAD_ADDR, 4096, HL_RAM_BASE + HL_RAM_SIZE, 0),
			   KC_EINVAL); break;
	case 6: expect_hvc(c, "REMAP_VM_IMAGE(mmio pfn)", hp_hvc(p, c->id, HVC_REMAP_VM_IMAGE, 1, 5, 0, 0, 0),
			   KC_EINVAL); break;
	default: expect_hvc(c, "SMMU_LPAE_MAP(unaligned)", hp_hvc(p, c->id, HVC_SMMU_LPAE_MAP, 0, 0x40000008, 3, 0, 0),
			    KC_EINVAL); break;
	}
}

/* the host touches its own memory (stage-2 faults the first time) or a device page */
static void host_touch(struct hp_cpu *c)
{
	struct hp_platform *p = c->p;
	uint64_t i = HP_MAX_VMS * 512 + rndn(c, c->npages - HP_MAX_VMS * 512), v;
	struct hp_page *pg = &c->pg[i];

	if (rndn(c, 8) == 0) {
		hp_host_load(p, c->id, (HP_HOST_DEV_PFN + rndn(c, 16)) * PG, 4, &v);
		return;
	}
	if (pg->use == PU_FREE)
		pg->use = PU_HOST;
	if (pg->use != PU_HOST)
		return;
	if (pg->written && rndn(c, 2)) {
		if (hp_host_load(p, c->id, pfn_of(c, i) * PG + 64, 8, &v) && v != pg->val)
			fail(c, "host page %#llx: read %#llx, wrote %#llx", (unsigned long long)pfn_of(c, i),
			     (unsigned long long)v, (unsigned long long)pg->val);
		return;
	}
	v = rnd(c);
	if (hp_host_store(p, c->id, pfn_of(c, i) * PG + 64, 8, v)) {
		pg->val = v;
		pg->written = 1;
	}
}

static void host_step(struct hp_cpu *c)
{
	unsigned mix = c->p->cfg.mix;
	unsigned r = (unsigned)rndn(c, 100);

	c->st.actions++;
	if (c->p->hostile && rndn(c, 100) < 20) {   /* a forbidden action (hostile.c) */
		struct hp_hview v;
		hostile_view(c, &v);
		hp_hostile_act(c->p->hostile, &v);
		return;
	}
	if (r < 3) {
		invalid_action(c);
		return;
	}
	if ((mix & HP_MIX_BOOT) && r < 8) {
		for (unsigned s = 0; s < HP_MAX_VMS; s++) {
			struct hp_vm *vm = &c->vm[s];
			if (vm->state == 0) {
				boot_vm(c, s);
				return;
			}
			if (vm->state == 1 && vm->runs > vm->lifetime)
				vm->g[0].poweroff = true;   /* the next run of vcpu 0 powers it off */
		}
		return;
	}
	if ((mix & HP_MIX_SMMU) && c->host_bank >= 0 && r < 25) {
		smmu_action(c);
		return;
	}
	if ((mix & HP_MIX_FAULTS) && r < 45) {
		host_touch(c);
		return;
	}
	/* run a vCPU of one of our VMs */
	unsigned s = (unsigned)rndn(c, HP_MAX_VMS);
	for (unsigned k = 0; k < HP_MAX_VMS; k++, s = (s + 1) % HP_MAX_VMS)
		if (c->vm[s].state == 1) {
			run_vcpu(c, s, (unsigned)rndn(c, HP_VCPUS));
			return;
		}
	host_touch(c);
}

/* ---- lifecycle --------------------------------------------------------------------------- */
struct hp_platform *hp_new(struct hl_engine *e, struct kcore *k, const struct hp_cfg *cfg)
{
	struct hp_platform *p = aligned_alloc(64, sizeof(*p));
	uint64_t slice;
	unsigned banks[HL_SMMU_CFG_SIZE], nbanks = 0;

	if (p)
		memset(p, 0, sizeof(*p));
	if (!p || cfg->ncpus < 1 || cfg->ncpus > e->cfg.ncpus)
		goto fail;
	/* the host model signs with the test key: KCore must hold it as key HP_KEY_IDX */
	if (e->cfg.nkeys <= HP_KEY_IDX || memcmp(e->cfg.kcore_keys[HP_KEY_IDX], hl_testkey_pk, 32) != 0)
		goto fail;
	p->e = e;
	p->k = k;
	p->cfg = *cfg;
	if ((cfg->mix & HP_MIX_HOSTILE) && !(p->hostile = hp_hostile_new(e, k, cfg->ncpus)))
		goto fail;
	atomic_init(&p->vm_budget, HL_MAX_VM);
	slice = (HL_RAM_PAGES / cfg->ncpus) & ~511ull;
	if (slice < (HP_MAX_VMS + 2) * 512)
		goto fail;
	p->cpus = aligned_alloc(64, sizeof(*p->cpus) * cfg->ncpus);
	if (!p->cpus)
		goto fail;
	memset(p->cpus, 0, sizeof(*p->cpus) * cfg->ncpus);
	for (unsigned idx = 0; idx < HL_SMMU_NUM; idx++)
		for (unsigned cb = 0; cb < hl_smmu_num_banks(idx); cb++)
			banks[nbanks++] = HL_SMMU_ID_OF(idx, cb);
	for (unsigned i = 0; i < cfg->ncpus; i++) {
		struct hp_cpu *c = &p->cpus[i];
		c->p = p;
		c->id = i;
		c->rng = mix64(cfg->seed * 1000003ull + i + 1) | 1;
		c->first_pfn = HL_RAM_BASE_PFN + i * slice;
		c->npages = slice;
		/* whole lines: no two CPUs' page arrays share one (a CPU writes its own on every
		 * page it takes or frees) */
		c->pg = aligned_alloc(64, (slice * sizeof(*c->pg) + 63) & ~(size_t)63);
		if (c->pg)
			memset(c->pg, 0, slice * sizeof(*c->pg));
		c->ops_target = cfg->ops / cfg->ncpus + (i < cfg->ops % cfg->ncpus);
		c->host_bank = 2 * i < nbanks ? (int)banks[2 * i] : -1;
		c->vm_bank = 2 * i + 1 < nbanks ? (int)banks[2 * i + 1] : -1;
		c->pc = 0xFFFF000010000000ull + i * 0x1000;
		pthread_mutex_init(&c->tlb.lock, NULL);
		if (!c->pg)
			goto fail;
	}
	hosted_set_guest_runner(guest_run, p);
	hosted_set_tlbi_hook(hp_tlbi, p);
	return p;
fail:
	hp_free(p);
	return NULL;
}

void hp_free(struct hp_platform *p)
{
	if (!p)
		return;
	hosted_set_tlbi_hook(NULL, NULL);
	hp_hostile_free(p->hostile);
	if (p->cpus)
		for (unsigned i = 0; i < p->cfg.ncpus; i++) {
			free(p->cpus[i].pg);
			pthread_mutex_destroy(&p->cpus[i].tlb.lock);
		}
	free(p->cpus);
	free(p);
}

int hp_setup(struct hp_platform *p)
{
	if (sodium_init() < 0)
		return -1;
	/* CPU by CPU on this thread: vmids, keys and banks do not depend on thread timing */
	unsigned per = p->cfg.vms / p->cfg.ncpus, extra = p->cfg.vms % p->cfg.ncpus;
	for (unsigned i = 0; i < p->cfg.ncpus; i++) {
		struct hp_cpu *c = &p->cpus[i];
		unsigned want = per + (i < extra);
		hp_enter_cpu(p, i);
		if (c->host_bank >= 0 && (p->cfg.mix & HP_MIX_SMMU)) {
			unsigned index = (unsigned)c->host_bank / HL_SMMU_NUM_CB, cb = (unsigned)c->host_bank % HL_SMMU_NUM_CB;
			expect_hvc(c, "SMMU_ALLOC_PGD(host)", hp_hvc(p, i, HVC_SMMU_ALLOC_PGD, cb, 0, index, 0, 0), 0);
		}
		for (unsigned s = 0; s < want && s < HP_MAX_VMS; s++)
			if (!boot_vm(c, s))
				break;
		if (c->err[0] || c->halted)
			return -1;
	}
	return 0;
}

static void *cpu_thread(void *arg)
{
	struct hp_cpu *c = arg;

	hp_enter_cpu(c->p, c->id);
	if (c->p->cfg.on_cpu)
		c->p->cfg.on_cpu(c->p->cfg.hook_ctx, c->id, true);
	for (uint64_t n = 0; n < c->ops_target && !c->halted; n++) {
		host_step(c);
		atomic_store_explicit(&c->done, n + 1, memory_order_relaxed);
	}
	atomic_store_explicit(&c->done, c->ops_target, memory_order_relaxed);
	if (c->p->cfg.on_cpu)
		c->p->cfg.on_cpu(c->p->cfg.hook_ctx, c->id, false);
	return NULL;
}

int hp_run(struct hp_platform *p)
{
	for (unsigned i = 0; i < p->cfg.ncpus; i++)
		if (pthread_create(&p->cpus[i].th, NULL, cpu_thread, &p->cpus[i]) != 0)
			return -1;
	for (unsigned i = 0; i < p->cfg.ncpus; i++)
		pthread_join(p->cpus[i].th, NULL);
	return hp_first_error(p) ? -1 : 0;
}

uint64_t hp_progress(struct hp_platform *p)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < p->cfg.ncpus; i++)
		n += atomic_load_explicit(&p->cpus[i].done, memory_order_relaxed);
	return n;
}

void hp_stats(struct hp_platform *p, int cpu, struct hp_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < p->cfg.ncpus; i++) {
		const struct hp_stats *s = &p->cpus[i].st;
		if (cpu >= 0 && (unsigned)cpu != i)
			continue;
		out->actions += s->actions;
		out->traps += s->traps;
		out->errors += s->errors;
		out->vm_boots += s->vm_boots;
		out->vm_poweroffs += s->vm_poweroffs;
		out->guest_checks += s->guest_checks;
		out->mmio_refused += s->mmio_refused;
		out->dma_maps += s->dma_maps;
		for (unsigned k = 0; k < KC_T__COUNT; k++)
			hp_lat_merge(&out->lat[k], &s->lat[k]);
	}
}

const char *hp_first_error(struct hp_platform *p)
{
	if (p->hostile && hp_hostile_error(p->hostile))
		return hp_hostile_error(p->hostile);   /* a forbidden action succeeded */
	/* hostile: after a halt (objects may be stranded) the host model's expectations are
	 * void; only a forbidden action's success counts (hostile.c) */
	if (p->hostile && __atomic_load_n(&p->e->halts, __ATOMIC_ACQUIRE))
		return NULL;
	for (unsigned i = 0; i < p->cfg.ncpus; i++)
		if (p->cpus[i].err[0])
			return p->cpus[i].err;
	return NULL;
}

unsigned hp_halted_cpus(struct hp_platform *p)
{
	unsigned n = 0;
	for (unsigned i = 0; i < p->cfg.ncpus; i++)
		n += p->cpus[i].halted;
	return n;
}
