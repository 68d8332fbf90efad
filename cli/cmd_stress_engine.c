/*
 * cmd_stress_engine.c - `hyplog stress --engine-only`: N threads act as physical CPUs and issue random
 * operations, valid and invalid, directly against the engine; then the logs are
 * replayed (Cal<Obj> and CalStateH) and compared with the live state.
 *
 * Each CPU owns a slice of RAM, some VMs and some SMMU banks, and keeps a private model
 * of them, so it can choose operations the spec lets succeed (a halt would kill the
 * CPU) while every shared object (s2page, the host table, core, spt, smmu) is contended.
 * Every return code is checked against the model; a surprise fails the run.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "hl_file.h"
#include "hl_osrc.h"
#include "hl_report.h"
#include "hl_testkey.h"
#include "hl_trans.h"

#define PG HL_PAGE_SIZE
#define MMIO_BASE_PFN 0x10000u     /* a small shared MMIO window every CPU maps */
#define MMIO_PAGES 256u
#define IMG_BYTES (48u * 1024u)    /* signed boot image of each verified VM */
#define LOAD_ADDR 0x80000000ull    /* IPA of the image (2 MiB aligned) */
#define VM_GFN_BASE 0x10000ull     /* gfns handed out for assigned pages */

enum pstate { P_HOST, P_VM, P_VM_MAPPED, P_SMMU, P_SMMU_MAPPED, P_IMAGE };

struct page {
	uint8_t st;
	uint8_t vm;        /* index into the CPU's VM table */
	uint16_t count;    /* grants (VM pages) */
	uint64_t gfn;
};

struct vm {
	uint32_t vmid;
	bool verified;
	bool active;
	int bank;          /* SMMU bank (index*8+cbndx) owned, or -1 */
	uint32_t vcpu_lo, nvcpu;   /* the vCPUs this CPU runs: its own VM 0..1, a shared VM one of its own */
};

struct run;

struct cpu_ctx {
	int id;
	struct run *run;
	struct hl_engine *e;
	uint64_t ops_target;
	uint64_t seed;
	unsigned invalid_pct;
	uint64_t rng;
	uint64_t first_pfn, npages;
	struct page *pages;
	struct vm vms[4];
	unsigned nvms;
	_Atomic uint64_t done;
	uint64_t ok, rejected, unexpected;
	double t_start, t_end;
	uint64_t by_event[HL_EV__COUNT];
	char first_surprise[200];
	int setup_rc;
} __attribute__((aligned(64)));

struct run {
	struct hl_engine *e;
	struct cpu_ctx *cpus;
	unsigned ncpus;
	pthread_barrier_t go;
};

static uint64_t rnd(struct cpu_ctx *c)
{
	/* xorshift64*: deterministic per (seed, cpu) */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545F4914F6CDD1Dull;
}

static uint64_t rndn(struct cpu_ctx *c, uint64_t n)
{
	return n ? rnd(c) % n : 0;
}

static void expect(struct cpu_ctx *c, unsigned ev, int got, int want)
{
	c->by_event[ev]++;
	if (got == want) {
		if (got == HL_OK)
			c->ok++;
		else
			c->rejected++;
		return;
	}
	if (!c->unexpected++)
		snprintf(c->first_surprise, sizeof(c->first_surprise),
			 "cpu %d: %s returned %d (%s), expected %d (%s)", c->id, hl_event_name(ev), got,
			 hl_status_str(got), want, hl_status_str(want));
}

static uint64_t pfn_of(struct cpu_ctx *c, uint64_t i)
{
	return c->first_pfn + i;
}

/* ---- setup: VMs, a signed image for each verified VM, SMMU banks ------------------------- */
static int setup(struct cpu_ctx *c, unsigned nvms, int bank, unsigned extra_vcpus)
{
	struct hl_engine *e = c->e;
	unsigned img_block = 0;

	for (unsigned k = 0; k < nvms; k++) {
		struct vm *v = &c->vms[c->nvms];
		uint8_t sig[64];
		uint32_t vmid = 0, idx = 0;
		int verified = 0;
		bool want_verified = k == 0;

		/* KCore's key 0 is the test key (provisioned in main); images are signed with it */
		if (hl_register_kvm(e, c->id, 0xFFFF000000000000ull | c->id, 0, &vmid) != HL_OK)
			return -1;
		v->vmid = vmid;
		v->bank = -1;
		v->vcpu_lo = 0;
		v->nvcpu = 2;
		/* vCPUs 2.. are run by the CPUs that share this VM (more CPUs than VMs) */
		for (uint32_t vc = 0; vc < 2 + extra_vcpus; vc++)
			if (hl_register_vcpu(e, c->id, vmid, vc, 0xFFFF800000000000ull | vc) != HL_OK)
				return -1;
		if (want_verified) {
			/* image in a 2 MiB-aligned block of this CPU's RAM */
			uint64_t base = img_block * 512;
			uint8_t *img = malloc(IMG_BYTES);
			if (!img || base + 512 > c->npages)
				return -1;
			for (uint32_t i = 0; i < IMG_BYTES; i++)
				img[i] = (uint8_t)rnd(c);
			for (uint32_t pg = 0; pg < IMG_BYTES / PG; pg++)
				memcpy(hl_ram_page(e, pfn_of(c, base + pg)), img + pg * PG, PG);
			if (hl_testkey_sign_image(sig, img, IMG_BYTES) != 0) {
				free(img);
				return -1;
			}
			free(img);
			if (hl_set_boot_info(e, c->id, vmid, hl_ipa(LOAD_ADDR), IMG_BYTES, sig, &idx) != HL_OK)
				return -1;
			for (uint32_t pg = 0; pg < IMG_BYTES / PG; pg++)
				if (hl_remap_vm_image(e, c->id, vmid, pfn_of(c, base + pg), idx) != HL_OK)
					return -1;
			if (hl_verify_vm_image(e, c->id, vmid, &verified) != HL_OK || !verified)
				return -1;
			for (uint64_t i = base; i < base + 512; i++)
				c->pages[i].st = P_IMAGE;
			img_block++;
			v->verified = true;
		} else {
			if (bank >= 0) {
				unsigned index = (unsigned)bank / HL_SMMU_NUM_CB, cb = (unsigned)bank % HL_SMMU_NUM_CB;
				if (hl_smmu_alloc_pgd(e, c->id, cb, vmid, index) != HL_OK)
					return -1;
				v->bank = bank;
			}
		}
		c->nvms++;
	}
	return 0;
}

/* ---- one random operation ----------------------------------------------------------- */
static struct vm *pick_vm(struct cpu_ctx *c, bool verified)
{
	for (unsigned tries = 0; tries < 4; tries++) {
		struct vm *v = &c->vms[rndn(c, c->nvms)];
		if (v->verified == verified)
			return v;
	}
	for (unsigned i = 0; i < c->nvms; i++)
		if (c->vms[i].verified == verified)
			return &c->vms[i];
	return NULL;
}

static void op_invalid(struct cpu_ctx *c)
{
	struct hl_engine *e = c->e;
	int id = c->id;

	switch (rndn(c, 10)) {
	case 0:
		expect(c, HL_EV_MAP_HOST, hl_map_host(e, id, hl_pa(HL_RAM_BASE + HL_RAM_SIZE + rndn(c, 1u << 30))),
		       HL_E_INVAL);
		break;
	case 1:
		expect(c, HL_EV_ASSIGN_VM, hl_assign_pfn_to_vm(e, id, 1, 5, MMIO_BASE_PFN), HL_E_INVAL);
		break;
	case 2:
		expect(c, HL_EV_ASSIGN_VM, hl_assign_pfn_to_vm(e, id, HL_MAX_VM + 1 + (uint32_t)rndn(c, 9), 5,
							       pfn_of(c, 0)), HL_E_INVAL);
		break;
	case 3:
		expect(c, HL_EV_MAP_VM, hl_map_pfn_vm(e, id, 1, hl_ipa(0x200000), (pfn_of(c, 1) << 12), 2),
		       HL_E_INVAL);   /* block PA not 2 MiB aligned */
		break;
	case 4:
		expect(c, HL_EV_VM_ACTIVE, hl_set_vcpu_active(e, id, 1, HL_VCPU_PER_VM + (uint32_t)rndn(c, 4)),
		       HL_E_INVAL);
		break;
	case 5:
		expect(c, HL_EV_SMMU_ALLOC, hl_smmu_alloc_pgd(e, id, HL_SMMU_NUM_CB + (uint32_t)rndn(c, 8), 1, 0),
		       HL_E_INVAL);
		break;
	case 6:
		expect(c, HL_EV_SMMU_MAP, hl_smmu_map_page(e, id, 0, HL_SMMU_NUM, hl_iova(0), 0), HL_E_INVAL);
		break;
	case 7: {
		static const uint8_t sig[64];
		expect(c, HL_EV_BOOT_INFO, hl_set_boot_info(e, id, 1, hl_ipa(LOAD_ADDR + PG), 4096, sig, NULL),
		       HL_E_INVAL);   /* misaligned load address */
		break;
	}
	case 8:
		expect(c, HL_EV_SMMU_CLEAR, hl_smmu_clear(e, id, hl_iova(HL_SMMU_IPA_SIZE), 0, 0), HL_E_INVAL);
		break;
	default:
		expect(c, HL_EV_REG_VCPU, hl_register_vcpu(e, id, 0, 0, 0), HL_E_INVAL);
		break;
	}
}

static void op_valid(struct cpu_ctx *c)
{
	struct hl_engine *e = c->e;
	int id = c->id;
	uint64_t i = rndn(c, c->npages);
	struct page *p = &c->pages[i];
	uint64_t pfn = pfn_of(c, i);
	struct vm *v;

	switch (rndn(c, 12)) {
	case 0: /* host touches a shared MMIO page */
		expect(c, HL_EV_MAP_HOST, hl_map_host(e, id, hl_pa((MMIO_BASE_PFN + rndn(c, MMIO_PAGES)) * PG)),
		       HL_OK);
		break;
	case 1: /* host touches its own RAM page, or a VM page the VM shared */
		if (p->st == P_HOST || ((p->st == P_VM || p->st == P_VM_MAPPED) && p->count > 0))
			expect(c, HL_EV_MAP_HOST, hl_map_host(e, id, hl_pa(pfn * PG + rndn(c, PG))), HL_OK);
		break;
	case 2: /* host gives a page to a VM */
		if (p->st == P_HOST && (v = &c->vms[rndn(c, c->nvms)])) {
			p->gfn = VM_GFN_BASE + (c->first_pfn - HL_RAM_BASE_PFN) + i;
			expect(c, HL_EV_ASSIGN_VM, hl_assign_pfn_to_vm(e, id, v->vmid, p->gfn, pfn), HL_OK);
			p->st = P_VM;
			p->vm = (uint8_t)(v - c->vms);
			p->count = 0;
		}
		break;
	case 3: /* the VM maps it (pages stay mapped: no VM unmap exists in the spec) */
		if (p->st == P_VM && i % 8 == 0) {
			expect(c, HL_EV_MAP_VM, hl_map_pfn_vm(e, id, c->vms[p->vm].vmid, hl_ipa(p->gfn * PG),
							      pfn * PG, 3), HL_OK);
			p->st = P_VM_MAPPED;
		}
		break;
	case 4: /* teardown of an unmapped VM page: back to the host */
		if (p->st == P_VM) {
			expect(c, HL_EV_CLEAR_VM, hl_clear_vm_page(e, id, c->vms[p->vm].vmid, pfn), HL_OK);
			p->st = P_HOST;
		}
		break;
	case 5: /* guest shares / unshares a page */
		if ((p->st == P_VM || p->st == P_VM_MAPPED) && p->count < HL_MAX_SHARE_COUNT && rndn(c, 2)) {
			expect(c, HL_EV_GRANT, hl_grant_vm_page(e, id, c->vms[p->vm].vmid, pfn), HL_OK);
			p->count++;
		} else if ((p->st == P_VM || p->st == P_VM_MAPPED) && p->count > 0) {
			expect(c, HL_EV_REVOKE, hl_revoke_vm_page(e, id, c->vms[p->vm].vmid, pfn), HL_OK);
			p->count--;
		}
		break;
	case 6: /* a vCPU runs and exits */
		if ((v = pick_vm(c, true))) {
			uint32_t vc = v->vcpu_lo + (uint32_t)rndn(c, v->nvcpu);
			expect(c, HL_EV_VM_ACTIVE, hl_set_vcpu_active(e, id, v->vmid, vc), HL_OK);
			expect(c, HL_EV_VM_INACTIVE, hl_set_vcpu_inactive(e, id, v->vmid, vc), HL_OK);
		}
		break;
	case 7: /* device memory for a VM being built */
		if ((v = pick_vm(c, false)))
			expect(c, HL_EV_MAP_IO, hl_map_vm_io(e, id, v->vmid, hl_ipa(0x9000000 + rndn(c, 64) * PG),
							     hl_pa((MMIO_BASE_PFN + rndn(c, MMIO_PAGES)) * PG)), HL_OK);
		break;
	case 8: /* DMA: a page goes to the VM's SMMU bank and gets mapped */
		if ((v = pick_vm(c, false)) && v->bank >= 0 && p->st == P_HOST) {
			unsigned index = (unsigned)v->bank / HL_SMMU_NUM_CB, cb = (unsigned)v->bank % HL_SMMU_NUM_CB;
			p->gfn = VM_GFN_BASE + (c->first_pfn - HL_RAM_BASE_PFN) + i;
			expect(c, HL_EV_ASSIGN_SMMU, hl_smmu_assign_page(e, id, cb, index, pfn, p->gfn), HL_OK);
			expect(c, HL_EV_SMMU_MAP, hl_smmu_map_page(e, id, cb, index, hl_iova(p->gfn * PG),
								   pfn * PG | 0x7C3), HL_OK);
			p->st = P_SMMU_MAPPED;
			p->vm = (uint8_t)(v - c->vms);
		}
		break;
	case 9: /* DMA unmap, translate, and the page back to the host */
		if (p->st == P_SMMU_MAPPED) {
			v = &c->vms[p->vm];
			unsigned index = (unsigned)v->bank / HL_SMMU_NUM_CB, cb = (unsigned)v->bank % HL_SMMU_NUM_CB;
			uint64_t pa = 0;
			expect(c, HL_EV_SMMU_GET, hl_smmu_iova_to_phys(e, id, hl_iova(p->gfn * PG + 8), cb, index, &pa),
			       HL_OK);
			if (pa != pfn * PG + 8)
				expect(c, HL_EV_SMMU_GET, -100, HL_OK);
			expect(c, HL_EV_SMMU_CLEAR, hl_smmu_clear(e, id, hl_iova(p->gfn * PG), cb, index), HL_OK);
			expect(c, HL_EV_CLEAR_VM, hl_clear_vm_page(e, id, v->vmid, pfn), HL_OK);
			p->st = P_HOST;
		}
		break;
	case 10: /* KCore looks up a boot PC */
		if ((v = pick_vm(c, true))) {
			uint64_t remap = 0;
			expect(c, HL_EV_VM_GET, hl_search_load_info(e, id, v->vmid, hl_ipa(LOAD_ADDR + 16), &remap),
			       HL_OK);
		}
		break;
	default: /* the host maps a page of another CPU's VM: only shared ones succeed */
		expect(c, HL_EV_MAP_HOST, hl_map_host(e, id, hl_pa((MMIO_BASE_PFN + rndn(c, MMIO_PAGES)) * PG)),
		       HL_OK);
		break;
	}
}

static void *cpu_main(void *arg)
{
	struct cpu_ctx *c = arg;
	struct run *r = c->run;

	c->rng = (c->seed + 1) * 0x9E3779B97F4A7C15ull + (uint64_t)c->id * 0xD1B54A32D192ED03ull;
	if (!c->rng)
		c->rng = 1;
	pthread_barrier_wait(&r->go);
	c->t_start = cli_now();
	for (uint64_t n = 0; n < c->ops_target; n++) {
		if (rndn(c, 100) < c->invalid_pct)
			op_invalid(c);
		else
			op_valid(c);
		atomic_store_explicit(&c->done, n + 1, memory_order_relaxed);
		if (hl_engine_nheld(c->e, c->id) != 0 && !hl_cpu_halted(c->e, c->id)) {
			fprintf(stderr, "hyplog: cpu %d returned from a step holding a lock\n", c->id);
			abort();
		}
	}
	c->t_end = cli_now();
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hyplog stress --engine-only [OPTIONS]\n"
		"\n"
		"N threads act as physical CPUs and issue random operations, valid and invalid,\n"
		"directly against the engine; then the logs are replayed (Cal<Obj> and CalStateH)\n"
		"and compared with the live state.\n"
		"\n"
		"  --cpus N          CPU threads (1..%u, default 2)\n"
		"  --ops M           operations in total (default 200000)\n"
		"  --seed S          random seed (default 1)\n"
		"  --log FILE        write the run's logs to FILE (read with `hyplog replay`)\n"
		"  --lock KIND       ticket (default), mcs or mutex\n"
		"  --global-lock     one lock for every object (baseline)\n"
		"  --logs-off        no records (baseline; skips the replay)\n"
		"  --ckpt-every N    checkpoint an object every N records (default 16384, 0 = never)\n"
		"  --s2p-shard-pages N  s2page in shards of N pages (default 512; 0: one object)\n"
		"  --npt-shard-mib M npt(host) RAM tables in shards of M MiB (default 4; 0: one object)\n"
		"  --invalid-pct P   share of malformed operations (default 5)\n"
		"  --no-replay       skip the replay comparison\n"
		"  --check           run every oracle on the quiesced engine, with its page memory:\n"
		"                    only the transitions write it here, so flatmem must describe\n"
		"                    every RAM page (a cleared page that was not zeroed is caught)\n"
		"  --quiet           no progress output\n"
		"  -h, --help        this text\n"
		"\n"
		"exit: 0 ok and replay == live, 1 unexpected result or mismatch, 2 bad usage\n",
		HL_NR_CPUS);
}

int cmd_stress_engine(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cpus", required_argument, NULL, 'c' },
		{ "ops", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, 's' },
		{ "log", required_argument, NULL, 'l' },
		{ "lock", required_argument, NULL, 'k' },
		{ "global-lock", no_argument, NULL, 'g' },
		{ "logs-off", no_argument, NULL, 'n' },
		{ "ckpt-every", required_argument, NULL, 'p' },
		{ "s2p-shard-pages", required_argument, NULL, 'S' },
		{ "npt-shard-mib", required_argument, NULL, 'N' },
		{ "invalid-pct", required_argument, NULL, 'i' },
		{ "no-replay", no_argument, NULL, 'R' },
		{ "check", no_argument, NULL, 'C' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long ncpus = 2, ops = 200000, seed = 1, ckpt = 16384, invalid = 5;
	const char *logpath = NULL;
	bool quiet = false, no_replay = false, check = false;
	struct hl_engine_cfg cfg;
	struct run r;
	pthread_t th[HL_NR_CPUS];
	double t0, t1;
	int opt, rc = HL_EXIT_OK;

	hl_engine_cfg_default(&cfg);
	cfg.s2page_shard_pages = HL_S2P_SHARD_PAGES_SCALE;   /* issue 11: faults of many CPUs spread */
	cfg.npt_host_shard_mib = HL_NPTH_SHARD_MIB_SCALE;    /* and their host-table entries */
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (cli_parse_u64("--cpus", optarg, 1, HL_NR_CPUS, &ncpus))
				return HL_EXIT_USAGE;
			break;
		case 'o':
			if (cli_parse_u64("--ops", optarg, 0, 1ull << 40, &ops))
				return HL_EXIT_USAGE;
			break;
		case 's':
			if (cli_parse_u64("--seed", optarg, 0, UINT64_MAX, &seed))
				return HL_EXIT_USAGE;
			break;
		case 'l':
			logpath = optarg;
			break;
		case 'k':
		case 'g':
		case 'n':
		case 'p':
		case 'S':
		case 'N':
			if (cli_engine_option(opt, optarg, &cfg, &ckpt) < 0)
				return HL_EXIT_USAGE;
			break;
		case 'i':
			if (cli_parse_u64("--invalid-pct", optarg, 0, 100, &invalid))
				return HL_EXIT_USAGE;
			break;
		case 'R':
			no_replay = true;
			break;
		case 'C':
			check = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return HL_EXIT_OK;
		default:
			usage(stderr);
			return HL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "hyplog stress: unexpected argument '%s'\n", argv[optind]);
		return HL_EXIT_USAGE;
	}
	if (cfg.logs_off && logpath) {
		fprintf(stderr, "hyplog stress: --log needs logs; drop --logs-off\n");
		return HL_EXIT_USAGE;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "hyplog stress: libsodium failed to initialise\n");
		return HL_EXIT_MISMATCH;
	}
	cfg.ncpus = (unsigned)ncpus;
	cfg.ckpt_every = ckpt;
	cfg.with_ram = true;
	(void)hl_engine_cfg_add_key(&cfg, hl_testkey_pk);   /* KCore's key 0: the test key */
	/* stress runs are long: the order check stays on in debug builds only */
	r.e = hl_engine_new(&cfg);
	if (!r.e) {
		fprintf(stderr, "hyplog stress: cannot create the engine (out of memory?)\n");
		return HL_EXIT_MISMATCH;
	}
	r.ncpus = (unsigned)ncpus;
	r.cpus = aligned_alloc(64, sizeof(struct cpu_ctx) * ncpus);
	memset(r.cpus, 0, sizeof(struct cpu_ctx) * ncpus);
	pthread_barrier_init(&r.go, NULL, (unsigned)ncpus + 1);

	/* slices: RAM split evenly, 2 MiB aligned; up to 14 VMs; SMMU banks round-robin */
	uint64_t slice = (HL_RAM_PAGES / ncpus) & ~511ull;
	unsigned nvm_total = ncpus * 2 > HL_MAX_VM - 1 ? HL_MAX_VM - 1 : (unsigned)ncpus * 2;
	unsigned banks[HL_SMMU_CFG_SIZE], nbanks = 0;
	for (unsigned idx = 0; idx < HL_SMMU_NUM; idx++)
		for (unsigned cb = 0; cb < hl_smmu_num_banks(idx); cb++)
			banks[nbanks++] = HL_SMMU_ID_OF(idx, cb);
	if (slice < 1024) {
		fprintf(stderr, "hyplog stress: %llu cpus need 4 MiB of RAM each (%llu MiB), this build has %u MiB: use "
			"at most %llu cpus, or rebuild with meson option -Dram_mib=%llu or more\n", ncpus, ncpus * 4,
			(unsigned)HL_CFG_RAM_MIB, (unsigned long long)(HL_RAM_PAGES / 1024), ncpus * 4);
		return HL_EXIT_USAGE;
	}
	/* More CPUs than VMs (over 14 with the default -Dmax_vm=15): the first `owners` CPUs
	 * own the VMs, every other CPU shares the VMs of owner (i % owners) and runs a vCPU of
	 * its own there (vCPU 1 + i / owners; the owner runs vCPUs 0 and 1). Pages stay per
	 * CPU, and a page's gfn is its index in all of RAM, so sharers never collide. */
	unsigned owners = ncpus < nvm_total ? (unsigned)ncpus : nvm_total;
	if (owners == 0 || (ncpus + owners - 1) / owners > HL_VCPU_PER_VM - 1) {
		fprintf(stderr, "hyplog stress: %llu cpus over %u VMs need %llu vCPUs per VM, this build has %u: use at "
			"most %u cpus, or rebuild with meson option -Dvcpus_per_vm or -Dmax_vm larger\n", ncpus, owners,
			1 + (ncpus + owners - 1) / owners, HL_VCPU_PER_VM, owners * (HL_VCPU_PER_VM - 1));
		return HL_EXIT_USAGE;
	}
	t0 = cli_now();
	for (unsigned i = 0; i < ncpus; i++) {
		struct cpu_ctx *c = &r.cpus[i];
		unsigned mine = nvm_total / ncpus + (i < nvm_total % ncpus);
		c->id = (int)i;
		c->e = r.e;
		c->ops_target = ops / ncpus + (i < ops % ncpus);
		c->seed = seed;
		c->invalid_pct = (unsigned)invalid;
		c->first_pfn = HL_RAM_BASE_PFN + i * slice;
		c->npages = slice;
		c->pages = calloc(slice, sizeof(struct page));
		c->rng = (seed + 7) * 0x9E3779B97F4A7C15ull + i;
		/* setup runs CPU by CPU so vmids and keys do not depend on thread timing */
		unsigned sharers = 0;
		for (unsigned j = owners; j < ncpus; j++)
			sharers += j % owners == i;
		if (c->pages && i >= owners) {
			/* a sharer: the owner's VMs, one vCPU of its own in each */
			const struct cpu_ctx *o = &r.cpus[i % owners];
			memcpy(c->vms, o->vms, sizeof(c->vms));
			c->nvms = o->nvms;
			for (unsigned k = 0; k < c->nvms; k++) {
				c->vms[k].vcpu_lo = 1 + i / owners;
				c->vms[k].nvcpu = 1;
			}
		} else if (!c->pages || setup(c, mine ? mine : 1, i < nbanks ? (int)banks[i] : -1, i < owners ? sharers : 0)) {
			fprintf(stderr, "hyplog stress: setup of cpu %u failed\n", i);
			return HL_EXIT_MISMATCH;
		}
		c->run = &r;
	}
	for (unsigned i = 0; i < ncpus; i++)
		pthread_create(&th[i], NULL, cpu_main, &r.cpus[i]);
	pthread_barrier_wait(&r.go);
	t1 = cli_now();
	if (!quiet)
		fprintf(stderr, "stress: %llu cpus, %llu ops, seed %llu, %s locks%s%s\n", ncpus, ops, seed,
			hl_lock_kind_name(cfg.lock_kind), cfg.global_lock ? " (one global lock)" : "",
			cfg.logs_off ? ", logs off" : "");
	struct cli_progress prog = { .quiet = quiet, .t0 = t1 };
	for (;;) {
		uint64_t done = 0;
		for (unsigned i = 0; i < ncpus; i++)
			done += atomic_load_explicit(&r.cpus[i].done, memory_order_relaxed);
		cli_progress(&prog, done, ops, "ops");
		if (done >= ops)
			break;
		usleep(20000);
	}
	for (unsigned i = 0; i < ncpus; i++)
		pthread_join(th[i], NULL);
	/* the CPU threads' own first start to last end */
	double run_s = 0, first = r.cpus[0].t_start;
	for (unsigned i = 0; i < ncpus; i++)
		if (r.cpus[i].t_start < first)
			first = r.cpus[i].t_start;
	for (unsigned i = 0; i < ncpus; i++)
		if (r.cpus[i].t_end - first > run_s)
			run_s = r.cpus[i].t_end - first;
	cli_progress_end(&prog);

	uint64_t ok = 0, rej = 0, unexp = 0;
	for (unsigned i = 0; i < ncpus; i++) {
		ok += r.cpus[i].ok;
		rej += r.cpus[i].rejected;
		unexp += r.cpus[i].unexpected;
		if (r.cpus[i].unexpected)
			fprintf(stderr, "hyplog stress: %llu unexpected results; first: %s\n",
				(unsigned long long)r.cpus[i].unexpected, r.cpus[i].first_surprise);
	}
	struct hl_log_stats ls;
	hl_engine_log_stats(r.e, &ls);
	printf("stress: %llu ops in %.3f s = %.0f ops/s (%llu ok, %llu rejected as malformed, %llu unexpected)\n",
	       ops, run_s, run_s > 0 ? ops / run_s : 0.0, (unsigned long long)ok, (unsigned long long)rej,
	       (unsigned long long)unexp);
	printf("logs: %llu records, %llu bytes (%.1f B/op), %llu checkpoints, %llu live records, "
	       "segments %.1f MiB, peak RSS %.1f MiB, setup %.2f s\n",
	       (unsigned long long)ls.records, (unsigned long long)ls.bytes,
	       ops ? (double)ls.bytes / ops : 0.0, (unsigned long long)ls.checkpoints,
	       (unsigned long long)ls.live_records, ls.seg_bytes_alloc / 1048576.0, cli_peak_rss_kib() / 1024.0,
	       t1 - t0);
	if (unexp)
		rc = HL_EXIT_MISMATCH;

	const char *replay = "skipped";
	if (!cfg.logs_off && !no_replay) {
		struct hl_report rep;
		if (hl_report_replay(r.e, NULL, false, stdout, &rep)) {
			printf("replay MISMATCH: %s\n", rep.why);
			replay = "mismatch";
			rc = HL_EXIT_MISMATCH;
		} else {
			printf("replay: Cal<Obj> %.3f s, CalStateH %.3f s (%llu ops: %llu re-executed, %llu by delta)\n",
			       rep.cal_sec, rep.calh_sec, (unsigned long long)rep.calh.ops,
			       (unsigned long long)rep.calh.reexecuted, (unsigned long long)rep.calh.delta_applied);
			printf("replay == live\n");
			replay = "ok";
		}
	}
	if (check && !cfg.logs_off) {
		/* the oracles (oracle/hl_osrc.h): serialized, parsed, checked; RAM vs flatmem */
		struct hl_verdict v;
		struct hl_check_stats cs;
		double tc = cli_now();
		int cr = hl_check_engine(r.e, HL_OSRC_RAM, &v, &cs);
		printf("check: %s in %.3f s\n", cr == 0 ? "all relations hold" : hl_rel_name(v.rel), cli_now() - tc);
		if (cr != 0) {
			printf("  %s violated: %s (expected %s, actual %s)\n", hl_rel_name(v.rel), v.what, v.expected,
			       v.actual);
			rc = HL_EXIT_MISMATCH;
		}
	}
	if (logpath) {
		struct hl_file_err fe = { 0 };
		if (hl_file_write(r.e, logpath, &fe)) {
			fprintf(stderr, "hyplog stress: cannot write %s: %s\n", logpath, fe.msg);
			rc = HL_EXIT_MISMATCH;
		} else {
			printf("log written to %s\n", logpath);
		}
	}
	printf("SUMMARY stress cpus=%llu ops=%llu lock=%s global=%d logs=%s ops_per_s=%.0f ns_per_op=%.1f "
	       "records=%llu log_bytes=%llu peak_rss_mib=%.1f replay=%s\n",
	       ncpus, ops, hl_lock_kind_name(cfg.lock_kind), cfg.global_lock, cfg.logs_off ? "off" : "on",
	       run_s > 0 ? ops / run_s : 0.0, ops ? run_s * 1e9 / ops : 0.0, (unsigned long long)ls.records,
	       (unsigned long long)ls.bytes, cli_peak_rss_kib() / 1024.0, replay);
	for (unsigned i = 0; i < ncpus; i++)
		free(r.cpus[i].pages);
	free(r.cpus);
	pthread_barrier_destroy(&r.go);
	hl_engine_free(r.e);
	return rc;
}
