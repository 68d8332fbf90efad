/*
 * test_kcore_mem.c - KCore's own memory inside s2page (issue 12) and the host's physical
 * address space.
 *
 *   - cfg.kcore ranges start COREVISOR-owned in s2page ({COREVISOR, 0, INVALID64, 0});
 *     every other RAM page starts as SPEC says (host-owned)
 *   - a host stage-2 fault on a KCore page is refused by the engine itself (map_host of a page
 *     the host does not own: the seed's halt), with nothing changed and no host entry; the
 *     pages around it still map
 *   - bad ranges (unaligned, empty, outside RAM, overlapping, out of order, too many) are
 *     refused by hl_engine_new
 *   - a log file carries the ranges (version 7): read back into the engine's configuration,
 *     replayed, and the oracles' init_state compares the seq-0 s2page with SPEC's initial
 *     state plus those ranges (a file whose header drops them, or adds some, is a violation);
 *     a corrupted ranges block is refused by both readers
 *   - map_host of a PA at or above RAM's end is malformed (HL_E_INVAL, nothing changed):
 *     only a PA below RAM's base is the host's MMIO (README deviation row, issue 12)
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "hl_check.h"
#include "hl_file.h"
#include "hl_olog.h"
#include "hl_osrc.h"
#include "hl_pgtable.h"
#include "hl_replay.h"
#include "hl_testkey.h"

#define PG 4096ull
/* 8 MiB of KCore memory in the middle of the test build's RAM (-Dram_mib >= 32) */
#define KC_BASE (HL_RAM_BASE + 16 * 1024 * 1024ull)
#define KC_SIZE (8 * 1024 * 1024ull)

static struct hl_engine *kc_engine(unsigned n, const uint64_t *base, const uint64_t *size)
{
	struct hl_engine_cfg cfg;

	hl_engine_cfg_default(&cfg);
	cfg.ncpus = 2;
	cfg.lock_order_check = true;
	(void)hl_engine_cfg_add_key(&cfg, hl_testkey_pk);
	cfg.kcore.n = n;
	for (unsigned i = 0; i < n && i < HL_MAX_KCORE_RANGES; i++) {
		cfg.kcore.r[i].base = base[i];
		cfg.kcore.r[i].size = size[i];
	}
	return hl_engine_new(&cfg);
}

static struct hl_engine *kc_default(void)
{
	struct hl_engine *e = kc_engine(1, (uint64_t[]){ KC_BASE }, (uint64_t[]){ KC_SIZE });
	cr_assert_not_null(e);
	return e;
}

static struct hl_s2page page(struct hl_engine *e, uint64_t pa)
{
	return hl_s2page_get(e->st, pa / PG);
}

static uint64_t host_entry(struct hl_engine *e, uint64_t pa)
{
	struct hl_pt_entry w;
	hl_npt_walk(e->st->npt[HL_HOSTVISOR], pa, &w);
	return w.level ? w.pte : 0;
}

Test(kcore_mem, ranges_start_corevisor_owned)
{
	struct hl_engine *e = kc_default();

	cr_assert_geq(HL_RAM_SIZE, KC_BASE + KC_SIZE - HL_RAM_BASE, "the test needs -Dram_mib >= 24");
	for (uint64_t pa = KC_BASE; pa < KC_BASE + KC_SIZE; pa += PG) {
		struct hl_s2page p = page(e, pa);
		cr_assert_eq(p.owner, HL_COREVISOR, "pa 0x%llx", (unsigned long long)pa);
		cr_assert_eq(p.count, 0);
		cr_assert_eq(p.gfn, HL_INVALID64);
		cr_assert_eq(p.dma, 0);
	}
	cr_assert_eq(page(e, KC_BASE - PG).owner, HL_HOSTVISOR);
	cr_assert_eq(page(e, KC_BASE - PG).gfn, (KC_BASE - PG) / PG + HL_SMMU_HOST_OFFSET);
	cr_assert_eq(page(e, KC_BASE + KC_SIZE).owner, HL_HOSTVISOR);
	hl_engine_free(e);
	/* without ranges: SPEC's initial state, every RAM page the host's */
	e = th_engine(2);
	cr_assert_eq(page(e, KC_BASE).owner, HL_HOSTVISOR);
	hl_engine_free(e);
}

Test(kcore_mem, host_fault_on_kcore_page_is_refused_by_the_engine)
{
	struct hl_engine *e = kc_default();
	uint64_t dig[HL_ID_END];

	/* the host's neighbours of KCore's range map as usual */
	cr_assert_eq(hl_map_host(e, 1, hl_pa(KC_BASE - PG)), HL_OK);
	cr_assert_eq(hl_map_host(e, 1, hl_pa(KC_BASE + KC_SIZE)), HL_OK);
	cr_assert_neq(host_entry(e, KC_BASE - PG), 0);
	for (unsigned o = 1; o < HL_ID_END; o++)
		dig[o] = hl_state_obj_digest(e->st, o);
	/* a host access inside KCore's memory: the engine refuses it (halt, as the seed does for
	 * a page the host does not own), changing nothing and mapping nothing */
	cr_assert_eq(hl_map_host(e, 0, hl_pa(KC_BASE + 5 * PG + 0x10)), HL_HALT);
	cr_assert(hl_cpu_halted(e, 0));
	for (unsigned o = 1; o < HL_ID_END; o++)
		cr_assert_eq(hl_state_obj_digest(e->st, o), dig[o], "object %u changed", o);
	cr_assert_eq(host_entry(e, KC_BASE + 5 * PG), 0, "the host got a KCore page");
	cr_assert_eq(page(e, KC_BASE + 5 * PG).owner, HL_COREVISOR);
	cr_assert_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

Test(kcore_mem, bad_ranges_are_refused)
{
	const uint64_t end = HL_RAM_BASE + HL_RAM_SIZE;
	struct {
		unsigned n;
		uint64_t b[5], s[5];
	} bad[] = {
		{ 1, { KC_BASE + 1 }, { KC_SIZE } },                       /* unaligned base */
		{ 1, { KC_BASE }, { KC_SIZE + 8 } },                       /* unaligned size */
		{ 1, { KC_BASE }, { 0 } },                                 /* empty */
		{ 1, { HL_RAM_BASE - PG }, { 2 * PG } },                   /* starts below RAM */
		{ 1, { end - PG }, { 2 * PG } },                           /* runs past RAM */
		{ 1, { end }, { PG } },                                    /* above RAM */
		{ 1, { KC_BASE }, { ~0ull - KC_BASE + 1 } },               /* wraps */
		{ 2, { KC_BASE, KC_BASE + PG }, { 2 * PG, PG } },          /* overlap */
		{ 2, { KC_BASE + PG, KC_BASE }, { PG, PG } },              /* out of order */
		{ 5, { KC_BASE, KC_BASE + 2 * PG, KC_BASE + 4 * PG, KC_BASE + 6 * PG, KC_BASE + 8 * PG },
		     { PG, PG, PG, PG, PG } },                             /* too many */
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct hl_engine_cfg cfg;
		hl_engine_cfg_default(&cfg);
		cfg.ncpus = 1;
		cfg.kcore.n = bad[i].n;
		for (unsigned k = 0; k < bad[i].n && k < HL_MAX_KCORE_RANGES; k++) {
			cfg.kcore.r[k].base = bad[i].b[k];
			cfg.kcore.r[k].size = bad[i].s[k];
		}
		struct hl_engine *e = hl_engine_new(&cfg);
		cr_expect_null(e, "bad range set %u accepted", i);
		hl_engine_free(e);
	}
	/* adjacent ranges and a range up to RAM's end are fine */
	struct hl_engine *e = kc_engine(2, (uint64_t[]){ KC_BASE, KC_BASE + PG }, (uint64_t[]){ PG, end - KC_BASE - PG });
	cr_assert_not_null(e);
	hl_engine_free(e);
}

/* a few host steps around KCore's range, on both CPUs */
static void some_steps(struct hl_engine *e)
{
	for (unsigned i = 0; i < 8; i++)
		cr_assert_eq(hl_map_host(e, (int)(i & 1), hl_pa(HL_RAM_BASE + (i + 1) * PG)), HL_OK);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(KC_BASE + KC_SIZE + PG)), HL_OK);
}

Test(kcore_mem, file_carries_the_ranges_and_init_state_uses_them)
{
	struct hl_engine *e = kc_default(), *r;
	struct hl_olog lg;
	struct hl_olog_err oerr;
	struct hl_verdict v;
	struct hl_file_info info;
	struct hl_file_err ferr;
	char path[] = "/tmp/hl-kcore-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	close(fd);
	some_steps(e);
	/* the engine's own reader: the ranges come back into the configuration */
	cr_assert_eq(hl_file_write(e, path, &ferr), 0, "%s", ferr.msg);
	r = hl_file_read(path, &info, &ferr);
	cr_assert_not_null(r, "%s", ferr.msg);
	cr_assert_eq(info.version, 7);
	cr_assert_eq(r->cfg.kcore.n, 1);
	cr_assert_eq(r->cfg.kcore.r[0].base, KC_BASE);
	cr_assert_eq(r->cfg.kcore.r[0].size, KC_SIZE);
	{   /* Cal<Obj> of the read logs, from the file's seq-0 images, is the live state */
		struct hl_state *out = hl_state_new(false);
		struct hl_replay_err rerr;
		cr_assert_not_null(out);
		cr_assert_eq(hl_cal_all(r, out, &rerr), 0, "%s", rerr.msg);
		for (unsigned o = 1; o < HL_ID_END; o++)
			if (o != HL_FLATMEM_ID)
				cr_assert_eq(hl_state_obj_digest(out, o), hl_state_obj_digest(e->st, o), "object %u", o);
		cr_assert_eq(hl_s2page_get(out, KC_BASE / PG).owner, HL_COREVISOR);
		hl_state_free(out);
	}
	hl_engine_free(r);
	/* the oracle's own reader, and every oracle (init_state with the ranges) */
	memset(&lg, 0, sizeof(lg));
	cr_assert_eq(hl_olog_read(&lg, path, &oerr), 0, "%s", oerr.msg);
	cr_assert_eq(lg.kcore_n, 1);
	cr_assert_eq(lg.kcore_base[0], KC_BASE);
	cr_assert_eq(lg.kcore_size[0], KC_SIZE);
	cr_assert_eq(hl_check_all(&lg, &v, NULL), 0, "%s: %s", hl_rel_name(v.rel), v.what);
	cr_assert_eq(hl_check_init(&lg, &v), 0, "%s", v.what);
	/* the header without the ranges: the seq-0 s2page is not SPEC's initial state */
	lg.kcore_n = 0;
	cr_assert_eq(hl_check_init(&lg, &v), 1, "seq-0 COREVISOR pages passed without KCore's ranges");
	cr_assert_eq(v.rel, HL_REL_INIT);
	/* ranges the seq-0 image does not have: a violation too */
	lg.kcore_n = 1;
	lg.kcore_base[0] = KC_BASE + KC_SIZE;
	cr_assert_eq(hl_check_init(&lg, &v), 1, "ranges missing from the seq-0 image passed");
	hl_olog_free(&lg);
	unlink(path);
	hl_engine_free(e);
}

Test(kcore_mem, corrupted_ranges_block_is_refused)
{
	struct hl_engine *e = kc_default();
	struct hl_file_info info;
	struct hl_file_err ferr;
	struct hl_olog lg;
	struct hl_olog_err oerr;
	char path[] = "/tmp/hl-kcore-XXXXXX";
	int fd = mkstemp(path);
	uint8_t *buf;
	long n, at = -1;
	FILE *f;

	cr_assert_geq(fd, 0);
	close(fd);
	some_steps(e);
	cr_assert_eq(hl_file_write(e, path, &ferr), 0, "%s", ferr.msg);
	f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	/* the block: magic "KRNG", n = 1, base, size */
	for (long i = 0; i + 24 <= n; i++)
		if (!memcmp(buf + i, "KRNG\1\0\0\0", 8)) {
			uint64_t b;
			memcpy(&b, buf + i + 8, 8);
			if (b == KC_BASE) {
				at = i;
				break;
			}
		}
	cr_assert_geq(at, 0, "no KCore ranges block in the file");
	buf[at + 8 + 2] ^= 1;   /* base + 64 KiB: still a valid range, but not the one written */
	f = fopen(path, "wb");
	cr_assert_eq(fwrite(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	cr_assert_null(hl_file_read(path, &info, &ferr), "a corrupted ranges block was read");
	cr_assert(strstr(ferr.msg, "KCore ranges"), "%s", ferr.msg);
	memset(&lg, 0, sizeof(lg));
	cr_assert_neq(hl_olog_read(&lg, path, &oerr), 0, "the oracle read a corrupted ranges block");
	cr_assert(strstr(oerr.msg, "KCore ranges"), "%s", oerr.msg);
	hl_olog_free(&lg);
	free(buf);
	unlink(path);
	hl_engine_free(e);
}

/* only a PA below RAM's base is the host's MMIO: from RAM's end up there is nothing, and the
 * engine refuses it as malformed, changing nothing (README deviation row, issue 12) */
Test(kcore_mem, host_map_at_or_above_ram_end_is_refused)
{
	struct hl_engine *e = th_engine(2);
	uint64_t dig[HL_ID_END], end = HL_RAM_BASE + HL_RAM_SIZE;

	for (unsigned o = 1; o < HL_ID_END; o++)
		dig[o] = hl_state_obj_digest(e->st, o);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(end)), HL_E_INVAL);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(end + 0x123456000ull)), HL_E_INVAL);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(0x4010000000ull)), HL_E_INVAL);   /* QEMU virt's PCIe ECAM */
	for (unsigned o = 1; o < HL_ID_END; o++)
		cr_assert_eq(hl_state_obj_digest(e->st, o), dig[o], "object %u changed", o);
	cr_assert_eq(host_entry(e, end), 0);
	cr_assert_not(hl_cpu_halted(e, 0));
	/* below RAM's base: MMIO, mapped as a device page */
	cr_assert_eq(hl_map_host(e, 0, hl_pa(HL_RAM_BASE - PG)), HL_OK);
	cr_assert_neq(host_entry(e, HL_RAM_BASE - PG), 0);
	hl_engine_free(e);
}
