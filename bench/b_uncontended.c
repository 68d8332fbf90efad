/*
 * b_uncontended.c - (a) uncontended cost of each transition, ns/op, one CPU, next to a
 * bare ck ticket lock+unlock pair measured in the same process (and bare MCS / hl_lock
 * pairs for reference). Each transition runs with logs on and with logs off.
 *
 * map_host is measured two ways: "map_host" re-maps one already-mapped host RAM page
 * (the steady state: lock s2page and npt(host), walk, rewrite the leaf, one record, unlock),
 * and "map_host_fresh" maps never-mapped pages in sequence (may also allocate tables).
 * The target uses the already-mapped page.
 * Times are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID): the benchmark host is shared,
 * and preemption by other processes must not count as engine time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bench.h"
#include "hl_testkey.h"
#include "hl_trans.h"
#include "locks/ck_mcs.h"
#include "locks/ck_ticket.h"
#include "locks/hl_ticket.h"

#define PG HL_PAGE_SIZE

static double bare_pair_ns(const struct hb_ctx *x, int which)
{
	union bl_lock l;
	struct bl_ctx c = { .cpu = 0 };
	uint64_t n = x->quick ? 2000000 : 20000000;
	double t0, t1;

	switch (which) {
	case 0:
		bl_ck_ticket_init(&l);
		t0 = hb_cpu_now();
		for (uint64_t i = 0; i < n; i++) {
			bl_ck_ticket_lock(&l, &c);
			bl_ck_ticket_unlock(&l, &c);
		}
		t1 = hb_cpu_now();
		break;
	case 1:
		bl_ck_mcs_init(&l);
		t0 = hb_cpu_now();
		for (uint64_t i = 0; i < n; i++) {
			bl_ck_mcs_lock(&l, &c);
			bl_ck_mcs_unlock(&l, &c);
		}
		t1 = hb_cpu_now();
		break;
	default:
		bl_hl_ticket_init(&l);
		t0 = hb_cpu_now();
		for (uint64_t i = 0; i < n; i++) {
			bl_hl_ticket_lock(&l, &c);
			bl_hl_ticket_unlock(&l, &c);
		}
		t1 = hb_cpu_now();
		break;
	}
	return (t1 - t0) * 1e9 / (double)n;
}

/* the boot protocol with a real signed image in the 2 MiB block at block_pfn */
static uint32_t boot_vm(struct hl_engine *e, uint64_t block_pfn, uint64_t load_addr)
{
	uint8_t sig[64];
	enum { IMG = 8192 };
	static uint8_t img[IMG];
	uint32_t vmid = 0, idx = 0;
	int verified = 0;

	if (sodium_init() < 0)
		return 0;
	if (hl_register_kvm(e, 0, 0x5000, 0, &vmid) != HL_OK)   /* KCore key 0: the test key */
		return 0;
	for (uint32_t vc = 0; vc < 2; vc++)
		if (hl_register_vcpu(e, 0, vmid, vc, 0x6000 + vc) != HL_OK)
			return 0;
	for (unsigned i = 0; i < IMG; i++)
		img[i] = (uint8_t)(i * 7 + vmid);
	for (unsigned pg = 0; pg < IMG / PG; pg++)
		memcpy(hl_ram_page(e, block_pfn + pg), img + pg * PG, PG);
	if (hl_testkey_sign_image(sig, img, IMG) != 0)
		return 0;
	if (hl_set_boot_info(e, 0, vmid, hl_ipa(load_addr), IMG, sig, &idx) != HL_OK)
		return 0;
	for (unsigned pg = 0; pg < IMG / PG; pg++)
		if (hl_remap_vm_image(e, 0, vmid, block_pfn + pg, idx) != HL_OK)
			return 0;
	if (hl_verify_vm_image(e, 0, vmid, &verified) != HL_OK || !verified)
		return 0;
	return vmid;
}

enum { T_MAP_HOST, T_MAP_HOST_FRESH, T_ASSIGN, T_GRANT, T_REVOKE, T_CLEAR, T_MAP_VM, T_VCPU, T_SMMU_MAP,
       T_SMMU_CLEAR, T_SMMU_GET, T_LOAD_INFO, T__N };
static const char *const tname[T__N] = {
	"map_host", "map_host_fresh", "assign_pfn_to_vm", "grant_vm_page", "revoke_vm_page", "clear_vm_page",
	"map_pfn_vm", "set_vcpu_active+inactive", "smmu_map_page", "smmu_clear", "smmu_iova_to_phys(ro)",
	"search_load_info(ro)",
};

struct tres {
	double ns[T__N];
	bool bad;
};

#define CHECK(call)                                                                      \
	do {                                                                             \
		int _rc = (call);                                                        \
		if (_rc != HL_OK && !r->bad) {                                           \
			fprintf(stderr, "bench uncontended: %s -> %d\n", #call, _rc);    \
			r->bad = true;                                                   \
		}                                                                        \
	} while (0)

/* one engine (logs on or off): every transition, ns/op */
static void measure(const struct hb_ctx *x, bool logs_off, uint64_t ckpt, struct tres *r)
{
	struct hl_engine *e = hb_engine(1, HL_LOCK_TICKET, false, logs_off, ckpt);
	uint64_t n = x->quick ? 100000 : 1000000;
	const uint64_t base = HL_RAM_BASE_PFN;
	const unsigned K = 1024, rounds = x->quick ? 4 : 32;
	uint32_t vmid;
	double t0, acc[T__N] = { 0 };
	uint64_t cnt[T__N] = { 0 };

	memset(r, 0, sizeof(*r));
	if (e && !x->cold)
		hb_engine_prefault(e);
	if (!e || !(vmid = boot_vm(e, base + 512, 0x80000000ull))) {
		fprintf(stderr, "bench uncontended: cannot boot a VM\n");
		r->bad = true;
		hl_engine_free(e);
		return;
	}
	/* map_host on an already-mapped host RAM page */
	uint64_t pa = (base + 4096) * PG;
	CHECK(hl_map_host(e, 0, hl_pa(pa)));
	t0 = hb_cpu_now();
	for (uint64_t i = 0; i < n; i++)
		CHECK(hl_map_host(e, 0, hl_pa(pa)));
	acc[T_MAP_HOST] = hb_cpu_now() - t0;
	cnt[T_MAP_HOST] = n;
	/* map_host on fresh pages */
	uint64_t nf = x->quick ? 2048 : 8192;
	t0 = hb_cpu_now();
	for (uint64_t i = 0; i < nf; i++)
		CHECK(hl_map_host(e, 0, hl_pa((base + 8192 + i) * PG)));
	acc[T_MAP_HOST_FRESH] = hb_cpu_now() - t0;
	cnt[T_MAP_HOST_FRESH] = nf;
	/* page lifecycle in blocks of K pages: assign, grant, revoke (1 -> 0), clear */
	for (unsigned rd = 0; rd < rounds; rd++) {
		uint64_t p0 = base + 2048;
		t0 = hb_cpu_now();
		for (unsigned i = 0; i < K; i++)
			CHECK(hl_assign_pfn_to_vm(e, 0, vmid, 0x40000 + i, p0 + i));
		acc[T_ASSIGN] += hb_cpu_now() - t0;
		t0 = hb_cpu_now();
		for (unsigned i = 0; i < K; i++)
			CHECK(hl_grant_vm_page(e, 0, vmid, p0 + i));
		acc[T_GRANT] += hb_cpu_now() - t0;
		t0 = hb_cpu_now();
		for (unsigned i = 0; i < K; i++)
			CHECK(hl_revoke_vm_page(e, 0, vmid, p0 + i));
		acc[T_REVOKE] += hb_cpu_now() - t0;
		t0 = hb_cpu_now();
		for (unsigned i = 0; i < K; i++)
			CHECK(hl_clear_vm_page(e, 0, vmid, p0 + i));
		acc[T_CLEAR] += hb_cpu_now() - t0;
		cnt[T_ASSIGN] += K;
		cnt[T_GRANT] += K;
		cnt[T_REVOKE] += K;
		cnt[T_CLEAR] += K;
	}
	/* map_pfn_vm: re-map 64 guest pages (tables exist after the first pass) */
	for (unsigned i = 0; i < 64; i++)
		CHECK(hl_map_pfn_vm(e, 0, vmid, hl_ipa(0x40000000ull + i * PG), (base + 3072 + i) * PG, 3));
	t0 = hb_cpu_now();
	for (uint64_t i = 0; i < n; i++)
		CHECK(hl_map_pfn_vm(e, 0, vmid, hl_ipa(0x40000000ull + (i & 63) * PG), (base + 3072 + (i & 63)) * PG, 3));
	acc[T_MAP_VM] = hb_cpu_now() - t0;
	cnt[T_MAP_VM] = n;
	/* vcpu active / inactive */
	t0 = hb_cpu_now();
	for (uint64_t i = 0; i < n / 2; i++) {
		CHECK(hl_set_vcpu_active(e, 0, vmid, 0));
		CHECK(hl_set_vcpu_inactive(e, 0, vmid, 0));
	}
	acc[T_VCPU] = hb_cpu_now() - t0;
	cnt[T_VCPU] = n / 2 * 2;
	/* SMMU: a host bank, identity DMA maps of host pages */
	CHECK(hl_smmu_alloc_pgd(e, 0, 0, HL_HOSTVISOR, 0));
	for (unsigned rd = 0; rd < rounds; rd++) {
		uint64_t p0 = base + 6144;
		t0 = hb_cpu_now();
		for (unsigned i = 0; i < K; i++)
			CHECK(hl_smmu_map_page(e, 0, 0, 0, hl_iova((p0 + i) * PG), (p0 + i) * PG | 3));
		acc[T_SMMU_MAP] += hb_cpu_now() - t0;
		t0 = hb_cpu_now();
		for (unsigned i = 0; i < K; i++) {
			uint64_t pa_out;
			CHECK(hl_smmu_iova_to_phys(e, 0, hl_iova((p0 + i) * PG), 0, 0, &pa_out));
		}
		acc[T_SMMU_GET] += hb_cpu_now() - t0;
		t0 = hb_cpu_now();
		for (unsigned i = 0; i < K; i++)
			CHECK(hl_smmu_clear(e, 0, hl_iova((p0 + i) * PG), 0, 0));
		acc[T_SMMU_CLEAR] += hb_cpu_now() - t0;
		cnt[T_SMMU_MAP] += K;
		cnt[T_SMMU_GET] += K;
		cnt[T_SMMU_CLEAR] += K;
	}
	t0 = hb_cpu_now();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t remap;
		CHECK(hl_search_load_info(e, 0, vmid, hl_ipa(0x80000000ull + (i & 1) * PG), &remap));
	}
	acc[T_LOAD_INFO] = hb_cpu_now() - t0;
	cnt[T_LOAD_INFO] = n;
	for (unsigned t = 0; t < T__N; t++)
		r->ns[t] = cnt[t] ? acc[t] * 1e9 / (double)cnt[t] : 0;
	hl_engine_free(e);
}

int hb_uncontended(struct hb_ctx *x)
{
	unsigned reps = x->reps;
	double tk[16], mc[16], hl[16], ton[16][T__N], toff[16][T__N], tck[16][T__N];
	struct tres r;
	bool bad = false;
	char cfg[160];

	printf("== a. uncontended transitions (1 CPU, ticket locks, per-object) ==\n");
	if (reps > 16)
		reps = 16;
	for (unsigned i = 0; i < reps; i++) {
		tk[i] = bare_pair_ns(x, 0);
		mc[i] = bare_pair_ns(x, 1);
		hl[i] = bare_pair_ns(x, 2);
		measure(x, false, 0, &r);
		bad |= r.bad;
		memcpy(ton[i], r.ns, sizeof(r.ns));
		measure(x, true, 0, &r);
		bad |= r.bad;
		memcpy(toff[i], r.ns, sizeof(r.ns));
		measure(x, false, 4096, &r);
		bad |= r.bad;
		memcpy(tck[i], r.ns, sizeof(r.ns));
	}
	double ticket = hb_median(tk, reps), mcs = hb_median(mc, reps), hlt = hb_median(hl, reps);
	hb_result(x, "lock_pair", "lock=ck_ticket", 1e9 / ticket, ticket, 1.0, "ck_ticket_pair", NULL);
	hb_result(x, "lock_pair", "lock=ck_mcs", 1e9 / mcs, mcs, mcs / ticket, "ck_ticket_pair", NULL);
	hb_result(x, "lock_pair", "lock=hl_ticket", 1e9 / hlt, hlt, hlt / ticket, "ck_ticket_pair", NULL);
	double map_on = 0, map_ck = 0;
	FILE *dat = hb_datafile(x, "uncontended.dat");
	if (dat)
		fprintf(dat, "# transition ns_logs_on ns_logs_off ns_logs_on_ckpt4096 ck_ticket_pair_ns\n");
	for (unsigned t = 0; t < T__N; t++) {
		double v[16], on, off, ck;
		for (unsigned i = 0; i < reps; i++)
			v[i] = ton[i][t];
		on = hb_median(v, reps);
		for (unsigned i = 0; i < reps; i++)
			v[i] = toff[i][t];
		off = hb_median(v, reps);
		for (unsigned i = 0; i < reps; i++)
			v[i] = tck[i][t];
		ck = hb_median(v, reps);
		json_t *ex = json_object();
		json_object_set_new(ex, "transition", json_string(tname[t]));
		json_object_set_new(ex, "ns_logs_off", json_real(off));
		json_object_set_new(ex, "ns_logs_on_ckpt4096", json_real(ck));
		json_object_set_new(ex, "ticket_pair_ns", json_real(ticket));
		json_object_set_new(ex, "logs_on_vs_off", json_real(off > 0 ? on / off : 0));
		snprintf(cfg, sizeof(cfg), "op=%s,cpus=1,lock=ticket,logs=on,ckpt=0", tname[t]);
		hb_result(x, "uncontended", cfg, 1e9 / on, on, on / ticket, "ck_ticket_pair", ex);
		snprintf(cfg, sizeof(cfg), "op=%s,cpus=1,lock=ticket,logs=off", tname[t]);
		hb_result(x, "uncontended", cfg, 1e9 / off, off, off / ticket, "ck_ticket_pair", NULL);
		snprintf(cfg, sizeof(cfg), "op=%s,cpus=1,lock=ticket,logs=on,ckpt=4096", tname[t]);
		hb_result(x, "uncontended", cfg, 1e9 / ck, ck, ck / ticket, "ck_ticket_pair", NULL);
		if (dat)
			fprintf(dat, "\"%s\" %.2f %.2f %.2f %.2f\n", tname[t], on, off, ck, ticket);
		if (t == T_MAP_HOST) {
			map_on = on;
			map_ck = ck;
		}
	}
	if (dat)
		fclose(dat);
	hb_target(x, "map_host_vs_ticket_pair", map_on / ticket, true, 4.0,
		  "map_host(already-mapped host RAM page, lock+check+apply+log+unlock)=%.1f ns, ck ticket pair=%.1f ns "
		  "(logs on, no checkpoints; with checkpoints every 4096: %.1f ns = %.2fx)",
		  map_on, ticket, map_ck, map_ck / ticket);
	return bad ? 1 : 0;
}
