/*
 * test_file.c - log files (engine/hl_file.c): round trips, and every kind of damage a
 * file can suffer (flipped bytes, truncation, trailing junk, forged fields with valid
 * checksums, things that are not files) must be refused with a message and an offset
 * inside the file, never a crash. Writes go through NAME.tmp + rename: a failed write
 * leaves no file and never half-overwrites an existing one.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* nftw */
#endif
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "hl_file.h"
#include "helpers.h"
#include "hl_testkey.h"

/* ---- the on-disk layout, as far as the tests need it (see engine/hl_file.c) ------------ */
#define FHDR_SIZE (80u + HL_MAX_KEYS * 32u)   /* ... nobj, nkeys, kcore_keys[HL_MAX_KEYS][32], pad, crc */
#define FSEC_SIZE 96u
#define FTRL_SIZE 32u
/* section header field offsets */
#define SEC_OBJ 4u
#define SEC_HAS_SNAP 6u
#define SEC_FIRST_SEQ 8u
#define SEC_NRECS 16u
#define SEC_REC_BYTES 24u
#define SEC_SNAP_SEQ 32u
#define SEC_SNAP_RAW 40u
#define SEC_SNAP_COMP 48u
#define SEC_SNAP_CRC 64u
#define SEC_INIT_CRC 68u
#define SEC_INIT_RAW 72u
#define SEC_INIT_COMP 80u
#define SEC_CRC 92u
/* file header: ncpus and lock_kind follow the build configuration */
#define HDR_NCPUS 56u
#define HDR_CRC 68u
/* trailer */
#define TRL_RECORDS 8u
#define TRL_CRC 28u

struct sec_pos {
	uint64_t off;           /* section header */
	uint64_t init_off, init_len;   /* the seq-0 image */
	uint64_t snap_off, snap_len;
	uint64_t rec_off, rec_bytes, nrecs;
};

struct layout {
	uint64_t map_off, map_len;   /* the refinement map block (version 6): 16 + its bytes */
	struct sec_pos sec[HL_OBJ_END];
	uint64_t trailer;
};

/* ---- small file utilities -------------------------------------------------------------- */
static char tmpdir[256];

static void tmpdir_setup(void)
{
	strcpy(tmpdir, "/tmp/hl_test_file.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void tmpdir_teardown(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = 0;
}

static void tpath(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmpdir, name);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat sb;
	uint8_t *b;

	cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
	cr_assert_eq(fstat(fileno(f), &sb), 0);
	*len = (size_t)sb.st_size;
	b = malloc(*len ? *len : 1);
	cr_assert_not_null(b);
	cr_assert_eq(fread(b, 1, *len, f), *len);
	fclose(f);
	return b;
}

static void spit(const char *path, const uint8_t *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f, "create %s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(b, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static bool exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

static uint64_t get64(const uint8_t *b, uint64_t off)
{
	uint64_t v;
	memcpy(&v, b + off, 8);
	return v;
}

static uint16_t get16(const uint8_t *b, uint64_t off)
{
	uint16_t v;
	memcpy(&v, b + off, 2);
	return v;
}

static void put64(uint8_t *b, uint64_t off, uint64_t v)
{
	memcpy(b + off, &v, 8);
}

static void put32(uint8_t *b, uint64_t off, uint32_t v)
{
	memcpy(b + off, &v, 4);
}

static void put16(uint8_t *b, uint64_t off, uint16_t v)
{
	memcpy(b + off, &v, 2);
}

/* recompute the crc32 that closes a fixed-size struct (its last 4 bytes) */
static void fix_struct_crc(uint8_t *b, uint64_t off, uint32_t size)
{
	put32(b, off + size - 4, (uint32_t)crc32(0L, b + off, size - 4));
}

/* recompute a record's crc (crc32 of the record with its crc field zero) */
static void fix_rec_crc(uint8_t *b, uint64_t off)
{
	uint32_t len;
	memcpy(&len, b + off, 4);
	if (len < sizeof(struct hl_rec) || len > HL_REC_MAX)
		return;   /* a forged length: the reader refuses it before looking at the crc */
	put32(b, off + 4, 0);
	put32(b, off + 4, (uint32_t)crc32(0L, b + off, len));
}

static void parse_layout(const uint8_t *b, size_t len, struct layout *L)
{
	uint64_t off = FHDR_SIZE;
	uint32_t mbytes;

	memset(L, 0, sizeof(*L));
	cr_assert_leq(off + 16, len);
	cr_assert_eq(get64(b, off) & 0xFFFFFFFFu, 0x50414D52u, "refinement map magic");
	memcpy(&mbytes, b + off + 8, 4);
	L->map_off = off;
	L->map_len = 16u + mbytes;
	off += L->map_len;
	/* version 7: KCore's ranges block (u32 "KRNG", u32 n, n x 16 bytes, u32 crc, u32 0) */
	cr_assert_eq(get64(b, off) & 0xFFFFFFFFu, 0x474E524Bu, "KCore ranges magic");
	off += 8u + 16u * (get64(b, off) >> 32) + 8u;
	for (unsigned o = 1; o < HL_OBJ_END; o++) {
		struct sec_pos *s = &L->sec[o];
		cr_assert_leq(off + FSEC_SIZE, len);
		cr_assert_eq(get16(b, off + SEC_OBJ), o);
		s->off = off;
		off += FSEC_SIZE;
		s->init_off = off;
		s->init_len = get64(b, s->off + SEC_INIT_COMP);
		off += s->init_len;
		if (get16(b, s->off + SEC_HAS_SNAP)) {
			s->snap_off = off;
			s->snap_len = get64(b, s->off + SEC_SNAP_COMP);
			off += s->snap_len;
		}
		s->rec_off = off;
		s->rec_bytes = get64(b, s->off + SEC_REC_BYTES);
		s->nrecs = get64(b, s->off + SEC_NRECS);
		off += s->rec_bytes;
	}
	L->trailer = off;
	cr_assert_eq(off + FTRL_SIZE, len, "layout: trailer at %llu, file has %zu bytes",
		     (unsigned long long)off, len);
}

/* ---- workloads --------------------------------------------------------------------------- */
#define VM_GFN0 0x100u

static void ok(int rc, const char *what)
{
	cr_assert_eq(rc, HL_OK, "%s: %s", what, hl_status_str(rc));
}

/* phase 1: host mappings, a VM with pages, grants, a vCPU, boot info and a remap */
static uint32_t workload_phase1(struct hl_engine *e)
{
	uint8_t sig[64];
	uint32_t vmid, idx = 99;

	for (unsigned i = 0; i < 12; i++)
		ok(hl_map_host(e, (int)(i % 2), hl_pa(th_pfn(i) << 12)), "map_host");
	ok(hl_map_host(e, 0, hl_pa(0x09000000)), "map_host (MMIO)");
	vmid = th_new_vm(e, 0);
	cr_assert_neq(vmid, 0, "register_kvm failed");
	ok(hl_register_vcpu(e, 1, vmid, 0, 0xABC0), "register_vcpu");
	for (unsigned i = 16; i < 24; i++) {
		int cpu = (int)(i % 2);
		ok(hl_assign_pfn_to_vm(e, cpu, vmid, VM_GFN0 + i, th_pfn(i)), "assign_pfn_to_vm");
		ok(hl_map_pfn_vm(e, cpu, vmid, hl_ipa((uint64_t)(VM_GFN0 + i) << 12), th_pfn(i) << 12, 3),
		   "map_pfn_vm");
	}
	for (unsigned i = 16; i < 20; i++)
		ok(hl_grant_vm_page(e, (int)(i % 2), vmid, th_pfn(i)), "grant_vm_page");
	ok(hl_grant_vm_page(e, 1, vmid, th_pfn(16)), "grant_vm_page again");
	ok(hl_revoke_vm_page(e, 0, vmid, th_pfn(17)), "revoke_vm_page");
	ok(hl_map_vm_io(e, 1, vmid, hl_ipa(0x8000000), hl_pa(0x09000000)), "map_vm_io");
	memset(sig, 0x5A, sizeof(sig));
	ok(hl_set_boot_info(e, 0, vmid, hl_ipa(4 * HL_PMD_SIZE), 2 * 4096 + 17, sig, &idx), "set_boot_info");
	cr_assert_eq(idx, 0);
	ok(hl_remap_vm_image(e, 1, vmid, th_pfn(30), idx), "remap_vm_image");
	ok(hl_remap_vm_image(e, 0, vmid, th_pfn(31), idx), "remap_vm_image");
	return vmid;
}

/* phase 2: SMMU, more VM pages, a second VM, clears */
static void workload_phase2(struct hl_engine *e, uint32_t vmid)
{
	uint32_t vm2;

	ok(hl_smmu_alloc_pgd(e, 0, 0, vmid, 0), "smmu_alloc_pgd");
	ok(hl_smmu_assign_page(e, 1, 0, 0, th_pfn(40), 0x500), "smmu_assign_page");
	ok(hl_smmu_map_page(e, 0, 0, 0, hl_iova(0x500ull << 12), th_pfn(40) << 12), "smmu_map_page");
	ok(hl_smmu_alloc_pgd(e, 1, 1, HL_HOSTVISOR, 0), "smmu_alloc_pgd (host)");
	ok(hl_smmu_map_page(e, 1, 1, 0, hl_iova(th_pfn(41) << 12), th_pfn(41) << 12), "smmu_map_page (host)");
	ok(hl_smmu_clear(e, 0, hl_iova(th_pfn(41) << 12), 1, 0), "smmu_clear");
	for (unsigned i = 24; i < 28; i++) {
		ok(hl_assign_pfn_to_vm(e, (int)(i % 2), vmid, VM_GFN0 + i, th_pfn(i)), "assign_pfn_to_vm");
		ok(hl_map_pfn_vm(e, (int)(i % 2), vmid, hl_ipa((uint64_t)(VM_GFN0 + i) << 12), th_pfn(i) << 12, 3),
		   "map_pfn_vm");
	}
	vm2 = th_new_vm(e, 1);
	cr_assert_neq(vm2, 0);
	ok(hl_assign_pfn_to_vm(e, 1, vm2, 0x10, th_pfn(50)), "assign_pfn_to_vm (vm2)");
	ok(hl_register_vcpu(e, 0, vm2, 1, 0xDEF0), "register_vcpu (vm2)");
	ok(hl_set_vm_poweroff(e, 0, vm2), "set_vm_poweroff");
	ok(hl_clear_vm_page(e, 1, vm2, th_pfn(50)), "clear_vm_page");
	ok(hl_clear_vm_page(e, 0, vmid, th_pfn(27)), "clear_vm_page");
	for (unsigned i = 12; i < 16; i++)
		ok(hl_map_host(e, (int)(i % 2), hl_pa(th_pfn(i) << 12)), "map_host");
}

/* ---- comparing engines --------------------------------------------------------------------- */
struct collect {
	uint8_t *buf;
	size_t len, cap;
	uint64_t n;
};

static int collect_visit(const struct hl_rec *r, void *arg)
{
	struct collect *c = arg;
	if (c->len + r->len > c->cap) {
		c->cap = (c->len + r->len) * 2;
		c->buf = realloc(c->buf, c->cap);
		cr_assert_not_null(c->buf);
	}
	memcpy(c->buf + c->len, r, r->len);
	/* the crc field is filled only in files */
	put32(c->buf, c->len + 4, 0);
	c->len += r->len;
	c->n++;
	return 0;
}

/* every record of obj, crc fields zeroed; also the snapshot's seq (or -1) */
static void collect_log(struct hl_engine *e, unsigned obj, struct collect *c, int64_t *snap_seq,
			uint64_t *snap_digest, uint64_t *first_seq)
{
	const struct hl_snapshot *s;

	memset(c, 0, sizeof(*c));
	hl_rcu_reader_ensure();
	hl_rcu_read_lock();
	s = hl_log_snapshot(&e->logs[obj]);
	*snap_seq = s ? (int64_t)s->seq : -1;
	*snap_digest = s ? hl_digest(s->img, s->size) : 0;
	*first_seq = hl_log_first_seq(&e->logs[obj]);
	hl_log_foreach(&e->logs[obj], collect_visit, c);
	hl_rcu_read_unlock();
}

static void check_replays_to(struct hl_engine *loaded, const struct hl_state *live)
{
	struct hl_state *a = hl_state_new(false), *b = hl_state_new(false);
	struct hl_replay_err rerr;
	struct hl_calh_stats stats;
	size_t off = 0;
	int d;

	cr_assert_not_null(a);
	cr_assert_not_null(b);
	memset(&rerr, 0, sizeof(rerr));
	cr_assert_eq(hl_cal_all(loaded, a, &rerr), 0, "Cal<Obj> on the loaded engine: %s", rerr.msg);
	d = hl_state_first_diff(a, live, &off);
	cr_assert_eq(d, -1, "Cal<Obj> of the file differs from the live state at object %d byte %zu", d, off);
	cr_assert_eq(hl_calstateh(loaded, b, &stats, &rerr), 0, "CalStateH on the loaded engine: %s", rerr.msg);
	d = hl_state_first_diff(b, live, &off);
	cr_assert_eq(d, -1, "CalStateH of the file differs from the live state at object %d byte %zu", d, off);
	hl_state_free(a);
	hl_state_free(b);
}

/* write e to `path`, read it back, and check that the file holds exactly e's logs */
static struct hl_engine *roundtrip(struct hl_engine *e, const char *path, struct hl_file_info *info)
{
	struct hl_file_err err;
	struct hl_engine *l;
	char tmp[512];
	uint64_t total = 0, nsnap = 0;
	struct stat sb;

	memset(&err, 0, sizeof(err));
	cr_assert_eq(hl_file_write(e, path, &err), 0, "hl_file_write: %s", err.msg);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	cr_assert(!exists(tmp), "%s left behind", tmp);
	cr_assert_eq(stat(path, &sb), 0);

	l = hl_file_read(path, info, &err);
	cr_assert_not_null(l, "hl_file_read: %s (offset %llu)", err.msg, (unsigned long long)err.offset);
	cr_assert_eq(info->version, HL_FILE_VERSION);
	cr_assert_eq(info->ncpus, e->cfg.ncpus);
	cr_assert_eq(info->lock_kind, (uint32_t)e->cfg.lock_kind);
	cr_assert_eq(info->file_bytes, (uint64_t)sb.st_size);
	cr_assert_eq(l->cfg.ncpus, e->cfg.ncpus);

	for (unsigned o = 1; o < HL_ID_END; o++) {
		struct collect ce, cl;
		int64_t se, sl;
		uint64_t de, dl, fe, fl;
		char nb[32];

		collect_log(e, o, &ce, &se, &de, &fe);
		collect_log(l, o, &cl, &sl, &dl, &fl);
		hl_obj_name(o, nb, sizeof(nb));
		cr_assert_eq(cl.n, ce.n, "%s: %llu records in the file, %llu live", nb,
			     (unsigned long long)cl.n, (unsigned long long)ce.n);
		cr_assert_eq(cl.n, th_nrecs(l, o));
		cr_assert_eq(th_nrecs(e, o), th_nrecs(l, o));
		cr_assert_eq(cl.len, ce.len, "%s: record bytes differ", nb);
		cr_assert(cl.len == 0 || memcmp(cl.buf, ce.buf, cl.len) == 0, "%s: records differ", nb);
		cr_assert_eq(sl, se, "%s: snapshot seq %lld in the file, %lld live", nb, (long long)sl,
			     (long long)se);
		cr_assert_eq(dl, de, "%s: snapshot contents differ", nb);
		cr_assert_eq(fl, fe, "%s: first seq differs", nb);
		cr_assert(info->has_live_digest[o], "%s: no live digest", nb);
		cr_assert_eq(info->live_digest[o], hl_state_obj_digest(e->st, o), "%s: live digest", nb);
		total += ce.n;
		nsnap += se >= 0;
		free(ce.buf);
		free(cl.buf);
	}
	cr_assert_eq(info->records, total);
	cr_assert_eq(info->nsnap, nsnap);
	for (unsigned c = 0; c < e->cfg.ncpus; c++) {
		cr_assert_eq(hl_cpu_halted(l, (int)c), hl_cpu_halted(e, (int)c), "cpu %u halted state", c);
		cr_assert_eq(!!(info->halted_mask & (1ull << c)), hl_cpu_halted(e, (int)c));
	}
	check_replays_to(l, e->st);
	return l;
}

/* ---- round trips ---------------------------------------------------------------------- */
TestSuite(file, .init = tmpdir_setup, .fini = tmpdir_teardown, .timeout = 600);

Test(file, empty_engine_roundtrip)
{
	struct hl_engine *e = th_engine(2), *l;
	struct hl_file_info info;
	char p[512];

	cr_assert_not_null(e);
	tpath(p, sizeof(p), "empty.hlog");
	l = roundtrip(e, p, &info);
	cr_assert_eq(info.records, 0);
	cr_assert_eq(info.nsnap, 0);
	hl_engine_free(l);
	hl_engine_free(e);
}

Test(file, roundtrip)
{
	struct hl_engine *e = th_engine(2), *l;
	struct hl_file_info info;
	char p[512];

	cr_assert_not_null(e);
	workload_phase2(e, workload_phase1(e));
	cr_assert_eq(th_replay_matches(e), 0);
	tpath(p, sizeof(p), "run.hlog");
	l = roundtrip(e, p, &info);
	cr_assert_gt(info.records, 60);
	cr_assert_eq(info.nsnap, 0);
	cr_assert_gt(th_nrecs(l, HL_S2PAGE_ID), 0);
	cr_assert_gt(th_nrecs(l, HL_NPT_OBJ(HL_HOSTVISOR)), 0);
	cr_assert_gt(th_nrecs(l, HL_SPT_ID), 0);
	cr_assert_gt(th_nrecs(l, HL_SMMU_ID), 0);
	cr_assert_gt(th_nrecs(l, HL_CORE_ID), 0);
	cr_assert_gt(th_nrecs(l, HL_NPT_OBJ(HL_COREVISOR)), 0);
	hl_engine_free(l);

	/* a second write replaces the file atomically; the new one reads back too */
	ok(hl_map_host(e, 0, hl_pa(th_pfn(60) << 12)), "map_host");
	l = roundtrip(e, p, &info);
	hl_engine_free(l);
	hl_engine_free(e);
}

Test(file, roundtrip_with_checkpoints)
{
	struct hl_engine *e = th_engine(2), *l;
	struct hl_file_info info;
	uint32_t vmid;
	char p[512];
	int n;

	cr_assert_not_null(e);
	vmid = workload_phase1(e);
	n = hl_engine_checkpoint_all(e);
	cr_assert_gt(n, 3, "only %d checkpoints", n);
	workload_phase2(e, vmid);
	cr_assert_eq(th_replay_matches(e), 0);
	tpath(p, sizeof(p), "ckpt.hlog");
	l = roundtrip(e, p, &info);
	cr_assert_eq(info.nsnap, (uint64_t)n);
	hl_engine_free(l);

	/* checkpoint again with nothing after it: snapshots only, empty record runs */
	cr_assert_gt(hl_engine_checkpoint_all(e), 0);
	l = roundtrip(e, p, &info);
	cr_assert_eq(info.records, 0);
	hl_engine_free(l);
	hl_engine_free(e);
}

Test(file, roundtrip_automatic_checkpoints_and_halt)
{
	struct hl_engine_cfg cfg;
	struct hl_engine *e, *l;
	struct hl_file_info info;
	uint32_t vmid;
	char p[512];

	hl_engine_cfg_default(&cfg);
	cfg.ncpus = 2;
	cfg.lock_order_check = true;
	cfg.ckpt_every = 5;
	(void)hl_engine_cfg_add_key(&cfg, hl_testkey_pk);   /* KCore's key 0: the test key */
	e = hl_engine_new(&cfg);
	cr_assert_not_null(e);
	vmid = workload_phase1(e);
	workload_phase2(e, vmid);
	/* vCPU 0 of a VM that was never verified cannot become active: cpu 1 halts */
	cr_assert_eq(hl_set_vcpu_active(e, 1, vmid, 0), HL_HALT);
	cr_assert(hl_cpu_halted(e, 1));
	cr_assert_eq(th_replay_matches(e), 0);
	tpath(p, sizeof(p), "auto.hlog");
	l = roundtrip(e, p, &info);
	cr_assert_gt(info.nsnap, 0);
	cr_assert_eq(info.halted_mask, 2);
	cr_assert(hl_cpu_halted(l, 1));
	cr_assert(!hl_cpu_halted(l, 0));
	hl_engine_free(l);
	hl_engine_free(e);
}

/* ---- failed writes ------------------------------------------------------------------------ */
Test(file, write_to_missing_directory_fails_cleanly)
{
	struct hl_engine *e = th_engine(2);
	struct hl_file_err err;
	char p[512], d[512];

	cr_assert_not_null(e);
	workload_phase1(e);
	tpath(d, sizeof(d), "nope");
	tpath(p, sizeof(p), "nope/run.hlog");
	memset(&err, 0, sizeof(err));
	cr_assert_neq(hl_file_write(e, p, &err), 0);
	cr_assert_neq(err.msg[0], 0);
	cr_assert(!exists(d));
	hl_engine_free(e);
}

Test(file, write_over_directory_fails_and_leaves_no_tmp)
{
	struct hl_engine *e = th_engine(2);
	struct hl_file_err err;
	char p[512], t[600];
	struct stat sb;

	cr_assert_not_null(e);
	workload_phase1(e);
	tpath(p, sizeof(p), "adir");
	cr_assert_eq(mkdir(p, 0700), 0);
	memset(&err, 0, sizeof(err));
	cr_assert_neq(hl_file_write(e, p, &err), 0, "writing over a directory succeeded");
	cr_assert_neq(err.msg[0], 0);
	snprintf(t, sizeof(t), "%s.tmp", p);
	cr_assert(!exists(t), "%s left behind", t);
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert(S_ISDIR(sb.st_mode));
	hl_engine_free(e);
}

Test(file, failed_write_keeps_the_old_file)
{
	struct hl_engine *e = th_engine(2), *l;
	struct hl_file_err err;
	struct hl_file_info info;
	struct rlimit old, lim;
	uint8_t *before, *after;
	size_t nb, na;
	char p[512], t[600];
	uint32_t vmid;

	cr_assert_not_null(e);
	vmid = workload_phase1(e);
	tpath(p, sizeof(p), "keep.hlog");
	snprintf(t, sizeof(t), "%s.tmp", p);
	memset(&err, 0, sizeof(err));
	cr_assert_eq(hl_file_write(e, p, &err), 0, "%s", err.msg);
	before = slurp(p, &nb);

	/* more records and a file size limit below what they need: the write fails midway */
	workload_phase2(e, vmid);
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = nb / 2;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	memset(&err, 0, sizeof(err));
	cr_assert_neq(hl_file_write(e, p, &err), 0, "write under a %zu-byte limit succeeded", nb / 2);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	cr_assert_neq(err.msg[0], 0);
	cr_assert(!exists(t), "%s left behind after a failed write", t);
	after = slurp(p, &na);
	cr_assert_eq(na, nb, "the old file changed size");
	cr_assert(memcmp(before, after, nb) == 0, "the old file changed");
	l = hl_file_read(p, &info, &err);
	cr_assert_not_null(l, "old file no longer reads: %s", err.msg);
	hl_engine_free(l);
	free(before);
	free(after);
	hl_engine_free(e);
}

/* ---- damaged files -------------------------------------------------------------------------- */

/* A checkpointed run with a halt, written to `p`; *L describes the file. */
static uint8_t *good_file(char *p, size_t plen, size_t *len, struct layout *L)
{
	struct hl_engine *e = th_engine(2);
	struct hl_file_err err;
	uint32_t vmid;
	uint8_t *b;

	cr_assert_not_null(e);
	vmid = workload_phase1(e);
	cr_assert_gt(hl_engine_checkpoint_all(e), 0);
	workload_phase2(e, vmid);
	tpath(p, plen, "good.hlog");
	memset(&err, 0, sizeof(err));
	cr_assert_eq(hl_file_write(e, p, &err), 0, "%s", err.msg);
	hl_engine_free(e);
	b = slurp(p, len);
	parse_layout(b, *len, L);
	return b;
}

/* `b[0..len)` written to `bad.hlog` must be refused properly */
static unsigned refused_count;

static void expect_refused(const uint8_t *b, size_t len, const char *what, uint64_t at)
{
	char p[512];
	struct hl_file_err err;
	struct hl_file_info info;
	struct hl_engine *l;

	tpath(p, sizeof(p), "bad.hlog");
	spit(p, b, len);
	memset(&err, 0, sizeof(err));
	err.offset = UINT64_MAX;
	l = hl_file_read(p, &info, &err);
	if (l)
		hl_engine_free(l);
	cr_assert_null(l, "%s at %llu: a damaged file was accepted", what, (unsigned long long)at);
	cr_assert_neq(err.msg[0], 0, "%s at %llu: no error message", what, (unsigned long long)at);
	cr_assert_leq(err.offset, (uint64_t)len, "%s at %llu: error offset %llu beyond the file (%zu bytes): %s",
		      what, (unsigned long long)at, (unsigned long long)err.offset, len, err.msg);
	refused_count++;
}

static void flip_at(const uint8_t *good, size_t len, uint64_t at, uint8_t mask, const char *what)
{
	uint8_t *b = malloc(len);
	cr_assert_not_null(b);
	memcpy(b, good, len);
	b[at] ^= mask;
	expect_refused(b, len, what, at);
	free(b);
}

Test(file, good_file_reads)
{
	struct layout L;
	struct hl_file_err err;
	struct hl_file_info info;
	struct hl_engine *l;
	size_t len;
	char p[512];
	uint8_t *good = good_file(p, sizeof(p), &len, &L);
	unsigned with_snap = 0;

	for (unsigned o = 1; o < HL_ID_END; o++)
		with_snap += L.sec[o].snap_len > 0;
	cr_assert_gt(with_snap, 3);
	/* compressed snapshots have arbitrary lengths, so records after them are unaligned */
	l = hl_file_read(p, &info, &err);
	cr_assert_not_null(l, "%s", err.msg);
	hl_engine_free(l);
	cr_log_info("%u damaged files refused", refused_count);
	free(good);
}

Test(file, flipped_header_bytes)
{
	struct layout L;
	size_t len;
	char p[512];
	uint8_t *good = good_file(p, sizeof(p), &len, &L);

	for (uint64_t i = 0; i < FHDR_SIZE; i++)
		flip_at(good, len, i, (uint8_t)(0x81u << (i % 2)), "header bit flip");
	cr_log_info("%u damaged files refused", refused_count);
	free(good);
}

Test(file, flipped_section_header_bytes)
{
	struct layout L;
	size_t len;
	char p[512];
	uint8_t *good = good_file(p, sizeof(p), &len, &L);
	/* one section with a snapshot and records, one with neither */
	const unsigned objs[] = { HL_NPT_OBJ(HL_HOSTVISOR), HL_ID_END - 1 };

	for (unsigned k = 0; k < sizeof(objs) / sizeof(objs[0]); k++)
		for (uint64_t i = 0; i < FSEC_SIZE; i++)
			flip_at(good, len, L.sec[objs[k]].off + i, (uint8_t)(1u << (i % 8)), "section header flip");
	cr_log_info("%u damaged files refused", refused_count);
	free(good);
}

Test(file, flipped_record_bytes)
{
	struct layout L;
	size_t len;
	char p[512];
	uint8_t *good = good_file(p, sizeof(p), &len, &L);
	unsigned done = 0;

	/* every byte of the first record of s2page (header, read list, deltas) */
	{
		const struct sec_pos *s = &L.sec[HL_S2PAGE_ID];
		uint32_t rl;
		cr_assert_gt(s->nrecs, 0);
		memcpy(&rl, good + s->rec_off, 4);
		for (uint64_t i = 0; i < rl; i++)
			flip_at(good, len, s->rec_off + i, 0x10, "record byte flip");
		done += rl;
	}
	/* a stride over the records of every object */
	for (unsigned o = 1; o < HL_ID_END; o++) {
		const struct sec_pos *s = &L.sec[o];
		for (uint64_t i = 0; i < s->rec_bytes; i += 401) {
			flip_at(good, len, s->rec_off + i, 0xFF, "record byte flip");
			done++;
		}
		if (s->rec_bytes)
			flip_at(good, len, s->rec_off + s->rec_bytes - 1, 0x01, "last record byte flip");
	}
	cr_assert_gt(done, 40);
	cr_log_info("%u damaged files refused", refused_count);
	free(good);
}

Test(file, flipped_snapshot_bytes)
{
	struct layout L;
	size_t len;
	char p[512];
	uint8_t *good = good_file(p, sizeof(p), &len, &L);
	unsigned n = 0;

	for (unsigned o = 1; o < HL_ID_END; o++) {
		const struct sec_pos *s = &L.sec[o];
		if (!s->snap_len)
			continue;
		flip_at(good, len, s->snap_off, 0x01, "snapshot flip");
		flip_at(good, len, s->snap_off + s->snap_len / 2, 0x40, "snapshot flip");
		flip_at(good, len, s->snap_off + s->snap_len - 1, 0x80, "snapshot flip");
		n++;
	}
	cr_assert_gt(n, 0);
	cr_log_info("%u damaged files refused", refused_count);
	free(good);
}

Test(file, flipped_trailer_bytes)
{
	struct layout L;
	size_t len;
	char p[512];
	uint8_t *good = good_file(p, sizeof(p), &len, &L);

	for (uint64_t i = 0; i < FTRL_SIZE; i++)
		flip_at(good, len, L.trailer + i, 0x04, "trailer flip");
	cr_log_info("%u damaged files refused", refused_count);
	free(good);
}

Test(file, truncated_everywhere)
{
	struct layout L;
	size_t len;
	char p[512];
	uint8_t *good = good_file(p, sizeof(p), &len, &L);

	/*
	 * Every 37 bytes, except deep inside a compressed snapshot or a run of records: the
	 * reader checks a run's length against the bytes left before it parses the run, so
	 * every cut there meets the same check. Those runs are most of the file, and every
	 * read that gets past the header costs a whole engine; sample them every 37*16 bytes.
	 */
	for (size_t cut = 0; cut < len; cut += 37) {
		bool deep = false;
		for (unsigned o = 1; o < HL_ID_END; o++) {
			const uint64_t start[3] = { L.sec[o].snap_off, L.sec[o].rec_off, L.sec[o].init_off };
			const uint64_t n[3] = { L.sec[o].snap_len, L.sec[o].rec_bytes, L.sec[o].init_len };
			for (unsigned k = 0; k < 3; k++)
				deep |= n[k] && cut > start[k] + 37 * 3 && cut + 37 * 3 < start[k] + n[k] &&
					(cut - start[k]) % (37 * 16) >= 37;
		}
		if (!deep)
			expect_refused(good, cut, "truncated", cut);
	}
	/* and at the boundaries of every section that holds something, +-1 byte */
	for (unsigned o = 1; o < HL_ID_END; o++) {
		const uint64_t at[] = { L.sec[o].off, L.sec[o].off + FSEC_SIZE, L.sec[o].rec_off };
		if (!L.sec[o].snap_len && !L.sec[o].rec_bytes && o != HL_ID_END - 1)
			continue;
		for (unsigned k = 0; k < 3; k++) {
			expect_refused(good, at[k], "truncated", at[k]);
			expect_refused(good, at[k] + 1, "truncated", at[k] + 1);
			expect_refused(good, at[k] - 1, "truncated", at[k] - 1);
		}
	}
	expect_refused(good, L.trailer, "truncated", L.trailer);
	expect_refused(good, len - 1, "truncated", len - 1);
	cr_log_info("%u damaged files refused", refused_count);
	free(good);
}

Test(file, trailing_junk)
{
	struct layout L;
	size_t len;
	char p[512];
	uint8_t *good = good_file(p, sizeof(p), &len, &L);
	uint8_t *b = malloc(len * 2 + 100);
	const size_t extra[] = { 1, 7, 8, 32, 100 };

	cr_assert_not_null(b);
	for (unsigned k = 0; k < sizeof(extra) / sizeof(extra[0]); k++) {
		memcpy(b, good, len);
		memset(b + len, 0xA5, extra[k]);
		expect_refused(b, len + extra[k], "junk appended", len);
		memset(b + len, 0, extra[k]);
		expect_refused(b, len + extra[k], "zeros appended", len);
	}
	/* the trailer twice */
	memcpy(b, good, len);
	memcpy(b + len, good + L.trailer, FTRL_SIZE);
	expect_refused(b, len + FTRL_SIZE, "trailer appended", len);
	/* the whole file twice */
	memcpy(b + len, good, len);
	expect_refused(b, len * 2, "file appended", len);
	free(b);
	cr_log_info("%u damaged files refused", refused_count);
	free(good);
}

/*
 * Damage with valid checksums: the reader must check every field itself, not rely on
 * crc32 to catch it.
 */
static void forged(const uint8_t *good, size_t len, void (*mut)(uint8_t *, const struct layout *, uint64_t),
		   const struct layout *L, uint64_t arg, const char *what)
{
	uint8_t *b = malloc(len);
	cr_assert_not_null(b);
	memcpy(b, good, len);
	mut(b, L, arg);
	expect_refused(b, len, what, arg);
	free(b);
}

static void m_ncpus(uint8_t *b, const struct layout *L, uint64_t v)
{
	(void)L;
	put32(b, HDR_NCPUS, (uint32_t)v);
	fix_struct_crc(b, 0, FHDR_SIZE);
}

static void m_lock_kind(uint8_t *b, const struct layout *L, uint64_t v)
{
	(void)L;
	put32(b, HDR_NCPUS + 4, (uint32_t)v);
	fix_struct_crc(b, 0, FHDR_SIZE);
}

static void m_build(uint8_t *b, const struct layout *L, uint64_t field)
{
	uint32_t v;
	(void)L;
	/* 32-bit header field number `field` after the magic */
	memcpy(&v, b + 8 + 4 * field, 4);
	put32(b, 8 + 4 * field, v + 1);
	fix_struct_crc(b, 0, FHDR_SIZE);
}

static uint64_t forged_obj;

static void m_sec64(uint8_t *b, const struct layout *L, uint64_t spec)
{
	/* spec = field offset << 32 | delta kind */
	uint64_t so = L->sec[forged_obj].off, fo = spec >> 32;
	uint64_t v = get64(b, so + fo);
	switch (spec & 0xFFFFFFFFu) {
	case 0: v += 1; break;
	case 1: v -= 1; break;
	case 2: v = UINT64_MAX; break;
	case 3: v = UINT64_MAX / 2; break;
	case 4: v = 0; break;
	default: v += 8; break;
	}
	put64(b, so + fo, v);
	fix_struct_crc(b, so, FSEC_SIZE);
}

static void m_sec16(uint8_t *b, const struct layout *L, uint64_t spec)
{
	uint64_t so = L->sec[forged_obj].off;
	put16(b, so + (spec >> 32), (uint16_t)(spec & 0xFFFF));
	fix_struct_crc(b, so, FSEC_SIZE);
}

static void m_snapcrc(uint8_t *b, const struct layout *L, uint64_t unused)
{
	/* change the compressed bytes and make the crc agree: zlib must refuse them */
	const struct sec_pos *s = &L->sec[forged_obj];
	(void)unused;
	for (uint64_t i = s->snap_len / 3; i < s->snap_len; i += 5)
		b[s->snap_off + i] ^= 0x5A;
	put32(b, s->off + SEC_SNAP_CRC, (uint32_t)crc32(0L, b + s->snap_off, (uInt)s->snap_len));
	fix_struct_crc(b, s->off, FSEC_SIZE);
}

/* record fields, crc fixed: spec = byte offset in the first record << 32 | value kind */
static void m_rec(uint8_t *b, const struct layout *L, uint64_t spec)
{
	uint64_t ro = L->sec[forged_obj].rec_off, fo = spec >> 32;
	switch (spec & 0xFFFFFFFFu) {
	case 0: put64(b, ro + fo, get64(b, ro + fo) + 1); break;            /* 64-bit field + 1 */
	case 1: put16(b, ro + fo, 0xFFFF); break;                           /* 16-bit field max */
	case 2: b[ro + fo] = 0xFF; break;                                   /* byte field max */
	case 3: b[ro + fo] = 0; break;                                      /* byte field zero */
	case 4: put32(b, ro + fo, 0xFFFFFFFFu); break;                      /* 32-bit field max */
	case 5: put16(b, ro + fo, (uint16_t)(get16(b, ro + fo) + 1)); break; /* 16-bit field + 1 */
	}
	fix_rec_crc(b, ro);
}

/* byte offset of the first delta inside the record at ro */
static uint64_t first_delta_at(const uint8_t *b, uint64_t ro)
{
	struct hl_rec r;
	memcpy(&r, b + ro, sizeof(r));
	return sizeof(r) + HL_ALIGN8(r.blob_len) + r.nlock * sizeof(struct hl_rdep);
}

/* the first delta of the first record of forged_obj writes past the object */
static void m_delta_off(uint8_t *b, const struct layout *L, uint64_t kind)
{
	uint64_t ro = L->sec[forged_obj].rec_off;
	struct hl_rec r;
	uint64_t d;

	memcpy(&r, b + ro, sizeof(r));
	cr_assert_gt(r.ndelta, 0);
	d = ro + sizeof(r) + HL_ALIGN8(r.blob_len) + r.nlock * sizeof(struct hl_rdep);
	if (kind == 0 || (kind == 1 && (b[d + 6] & HL_DF_ZERO)))
		put32(b, d, 0xFFFFFFF0u);                 /* off (outside the object: for the oracles) */
	else if (kind == 1)
		put16(b, d + 4, 0xFFFF);                  /* len (a zero-fill this long may fit) */
	else if (kind == 2)
		b[d + 6] ^= HL_DF_ZERO;                   /* payload / zero-fill mix-up */
	else
		b[d + 6] |= 0x80;                         /* an unknown delta flag */
	fix_rec_crc(b, ro);
}

static void m_trailer(uint8_t *b, const struct layout *L, uint64_t kind)
{
	if (kind == 0)
		put64(b, L->trailer + TRL_RECORDS, get64(b, L->trailer + TRL_RECORDS) + 1);
	else
		put32(b, L->trailer + 4, 1);   /* nobj */
	fix_struct_crc(b, L->trailer, FTRL_SIZE);
}

Test(file, forged_fields_with_valid_checksums)
{
	struct layout L;
	size_t len;
	char p[512];
	uint8_t *good = good_file(p, sizeof(p), &len, &L);
	unsigned snap_obj = 0, plain_obj = 0;

	/* header */
	forged(good, len, m_ncpus, &L, 0, "ncpus 0");
	forged(good, len, m_ncpus, &L, HL_NR_CPUS + 1, "ncpus too big");
	forged(good, len, m_ncpus, &L, UINT32_MAX, "ncpus huge");
	forged(good, len, m_lock_kind, &L, 3, "lock kind");
	/* version, hdr_len, the ten build sizes, nobj (ncpus and lock_kind are tested above) */
	for (uint64_t f = 0; f < 15; f++)
		if (f != 12 && f != 13)
			forged(good, len, m_build, &L, f, "build configuration");

	for (unsigned o = 1; o < HL_ID_END; o++) {
		if (L.sec[o].snap_len && L.sec[o].nrecs && !snap_obj)
			snap_obj = o;
		if (!L.sec[o].snap_len && L.sec[o].nrecs && !plain_obj)
			plain_obj = o;
	}
	cr_assert_neq(snap_obj, 0, "no object with a snapshot and records");
	cr_assert_neq(plain_obj, 0, "no object with records and no snapshot");

	/* section headers */
	const unsigned objs[] = { snap_obj, plain_obj };
	for (unsigned k = 0; k < 2; k++) {
		forged_obj = objs[k];
		const uint64_t f64[] = { SEC_FIRST_SEQ, SEC_NRECS, SEC_REC_BYTES, SEC_SNAP_SEQ, SEC_SNAP_RAW,
					 SEC_SNAP_COMP };
		for (unsigned f = 0; f < sizeof(f64) / sizeof(f64[0]); f++)
			for (uint64_t kind = 0; kind < 6; kind++) {
				/* fields a section without a snapshot ignores */
				if (!L.sec[forged_obj].snap_len &&
				    (f64[f] == SEC_SNAP_SEQ || f64[f] == SEC_SNAP_RAW || f64[f] == SEC_SNAP_COMP))
					continue;
				/* records after the last: fewer/more records than rec_bytes hold */
				forged(good, len, m_sec64, &L, f64[f] << 32 | kind, "section field");
			}
		forged(good, len, m_sec16, &L, (uint64_t)SEC_OBJ << 32 | (forged_obj + 1), "section object");
		forged(good, len, m_sec16, &L, (uint64_t)SEC_OBJ << 32 | 0xFFFF, "section object");
		forged(good, len, m_sec16, &L, (uint64_t)SEC_HAS_SNAP << 32 | 2, "has_snap 2");
		forged(good, len, m_sec16, &L,
		       (uint64_t)SEC_HAS_SNAP << 32 | (L.sec[forged_obj].snap_len ? 0 : 1), "has_snap toggled");
	}
	forged_obj = snap_obj;
	forged(good, len, m_snapcrc, &L, 0, "snapshot garbage with a valid crc");

	/* records (the first record of each chosen object), crc recomputed */
	for (unsigned k = 0; k < 2; k++) {
		forged_obj = objs[k];
		forged(good, len, m_rec, &L, 0ull << 32 | 4, "record len max");
		/* a seq out of order and a delta outside the object are read as they are: the
		 * oracles report them (checksummed_gap_and_oob_delta_reach_the_relations) */
		forged(good, len, m_rec, &L, 24ull << 32 | 5, "record obj");
		forged(good, len, m_rec, &L, 24ull << 32 | 1, "record obj max");
		forged(good, len, m_rec, &L, 26ull << 32 | 2, "record event");
		forged(good, len, m_rec, &L, 26ull << 32 | 3, "record event none");
		forged(good, len, m_rec, &L, 27ull << 32 | 2, "record cpu");
		forged(good, len, m_rec, &L, 28ull << 32 | 2, "record result");
		forged(good, len, m_rec, &L, 29ull << 32 | 3, "record nrec 0");
		forged(good, len, m_rec, &L, 29ull << 32 | 2, "record nrec max");
		forged(good, len, m_rec, &L, 30ull << 32 | 1, "record ndelta max");
		forged(good, len, m_rec, &L, 30ull << 32 | 5, "record ndelta + 1");
		forged(good, len, m_rec, &L, 34ull << 32 | 1, "record nlock max");
		forged(good, len, m_rec, &L, 34ull << 32 | 5, "record nlock + 1");
		forged(good, len, m_rec, &L, 36ull << 32 | 4, "record blob_len max");
		if (!(good[L.sec[forged_obj].rec_off + first_delta_at(good, L.sec[forged_obj].rec_off) + 6] &
		      HL_DF_ZERO))   /* a payload longer than the record: a length error */
			forged(good, len, m_delta_off, &L, 1, "delta length");
		forged(good, len, m_delta_off, &L, 3, "delta flags");
		forged(good, len, m_delta_off, &L, 2, "delta zero flag");
	}
	forged(good, len, m_trailer, &L, 0, "trailer record count");
	forged(good, len, m_trailer, &L, 1, "trailer object count");
	cr_log_info("%u damaged files refused", refused_count);
	free(good);
}

Test(file, not_a_log_file)
{
	struct hl_file_err err;
	struct hl_file_info info;
	char p[512];
	uint8_t junk[4096] = { 0 };

	/* zero-length file */
	expect_refused(junk, 0, "empty file", 0);

	/* random bytes, and a text file */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	expect_refused(junk, sizeof(junk), "junk", 0);
	expect_refused((const uint8_t *)"HYPLOG\r\n", 8, "magic only", 0);
	expect_refused((const uint8_t *)"hello, world\n", 13, "text", 0);

	/* a path that does not exist */
	tpath(p, sizeof(p), "does-not-exist.hlog");
	memset(&err, 0, sizeof(err));
	cr_assert_null(hl_file_read(p, &info, &err));
	cr_assert_neq(err.msg[0], 0);
	cr_assert_eq(err.offset, 0);

	/* a directory */
	memset(&err, 0, sizeof(err));
	cr_assert_null(hl_file_read(tmpdir, &info, &err));
	cr_assert_neq(err.msg[0], 0);
	cr_assert_eq(err.offset, 0);

	/* NULL info and NULL err are allowed */
	cr_assert_null(hl_file_read(p, NULL, NULL));
}

/*
 * A record forged with a valid crc and sound structure passes the reader: telling it
 * from a real one is the replay's job. CalStateH re-executes the step and must refuse it.
 */
Test(file, forged_step_is_caught_by_calstateh)
{
	struct layout L;
	struct hl_file_err err;
	struct hl_file_info info;
	struct hl_replay_err rerr;
	struct hl_engine *l;
	struct hl_state *out;
	size_t len;
	char p[512];
	uint8_t *good = good_file(p, sizeof(p), &len, &L);
	const struct sec_pos *s = &L.sec[HL_NPT_OBJ(HL_HOSTVISOR)];
	uint64_t off = s->rec_off, last = 0;
	struct hl_rec r;

	/* the last record of npt(host): a map_host after the checkpoint */
	while (off < s->rec_off + s->rec_bytes) {
		uint32_t rl;
		memcpy(&rl, good + off, 4);
		last = off;
		off += rl;
	}
	memcpy(&r, good + last, sizeof(r));
	cr_assert_eq(r.event, HL_EV_MAP_HOST);
	put64(good, last + offsetof(struct hl_rec, arg), th_pfn(200) << 12);
	fix_rec_crc(good, last);
	tpath(p, sizeof(p), "forged.hlog");
	spit(p, good, len);

	l = hl_file_read(p, &info, &err);
	cr_assert_not_null(l, "%s", err.msg);
	out = hl_state_new(false);
	cr_assert_not_null(out);
	memset(&rerr, 0, sizeof(rerr));
	cr_assert_neq(hl_calstateh(l, out, NULL, &rerr), 0, "CalStateH accepted a forged step");
	cr_assert_neq(rerr.msg[0], 0);
	hl_state_free(out);
	hl_engine_free(l);
	free(good);
}

/* ---- issue 10: the file carries every object's seq-0 (initial) image ------------------ */
static uint32_t s0_get32(const uint8_t *b, uint64_t off)
{
	uint32_t v;
	memcpy(&v, b + off, 4);
	return v;
}

static uint8_t *inflate_all(const uint8_t *src, uint64_t n, size_t want)
{
	uint8_t *out = malloc(want ? want : 1);
	uLongf got = want;
	cr_assert_not_null(out);
	cr_assert_eq(uncompress(out, &got, src, (uLong)n), Z_OK, "seq-0 image does not inflate");
	cr_assert_eq(got, want);
	return out;
}

Test(file, seq0_images_are_the_initial_state_even_after_checkpoints)
{
	struct layout L;
	size_t len;
	char p[512];
	uint8_t *good = good_file(p, sizeof(p), &len, &L);   /* checkpoints: snapshots at seq > 0 */
	struct hl_state *init = hl_state_new(false);
	struct hl_file_err err;
	struct hl_engine *l;
	unsigned nsnap = 0;

	cr_assert_not_null(init);
	l = hl_file_read(p, NULL, &err);
	cr_assert_not_null(l, "%s", err.msg);
	for (unsigned o = 1; o < HL_ID_END; o++) {
		const struct sec_pos *s = &L.sec[o];
		size_t n = hl_obj_image_size(o);
		char nb[32];
		hl_obj_name(o, nb, sizeof(nb));
		cr_assert_eq(get64(good, s->off + SEC_INIT_RAW), n, "%s: seq-0 image size", nb);
		nsnap += s->snap_len != 0;
		if (!n) {
			cr_assert_eq(s->init_len, 0);
			continue;
		}
		cr_assert_gt(s->init_len, 0, "%s: no seq-0 image in the file", nb);
		cr_assert_eq(s0_get32(good, s->off + SEC_INIT_CRC), (uint32_t)crc32(0L, good + s->init_off, (uInt)s->init_len));
		{
			uint8_t *img = inflate_all(good + s->init_off, s->init_len, n);
			uint8_t *mine = malloc(n);
			cr_assert_eq(memcmp(img, init->img[o].base, n), 0, "%s: seq-0 image is not the initial state", nb);
			/* the reader keeps it */
			cr_assert_not_null(mine);
			cr_assert_eq(hl_file_seq0(l, o, mine, n), 0);
			cr_assert_eq(memcmp(mine, img, n), 0, "%s: hl_file_seq0 of the read engine", nb);
			free(mine);
			free(img);
		}
	}
	cr_assert_gt(nsnap, 3, "the file should hold checkpoint snapshots");
	cr_assert_eq(hl_file_seq0(l, 0, NULL, 0), -1);
	cr_assert_eq(hl_file_seq0(l, HL_CORE_ID, NULL, 1), -1);
	hl_engine_free(l);
	hl_state_free(init);
	free(good);
}

/* replace object o's seq-0 image in a file by `img` (recompressed): the rest moves */
static uint8_t *with_seq0(const uint8_t *b, size_t len, const struct layout *L, unsigned o,
			  const uint8_t *img, size_t n, size_t *newlen)
{
	const struct sec_pos *s = &L->sec[o];
	uLongf cl = compressBound(n);
	uint8_t *c = malloc(cl), *out;

	cr_assert_not_null(c);
	cr_assert_eq(compress2(c, &cl, img, n, 9), Z_OK);
	*newlen = len - s->init_len + cl;
	out = malloc(*newlen);
	cr_assert_not_null(out);
	memcpy(out, b, s->init_off);
	memcpy(out + s->init_off, c, cl);
	memcpy(out + s->init_off + cl, b + s->init_off + s->init_len, len - s->init_off - s->init_len);
	put64(out, s->off + SEC_INIT_COMP, cl);
	put32(out, s->off + SEC_INIT_CRC, (uint32_t)crc32(0L, c, (uInt)cl));
	fix_struct_crc(out, s->off, FSEC_SIZE);
	free(c);
	return out;
}

/* the seq-0 images are the file's: reading and writing again never replaces them by the
 * reader's own initial state (a checker must see what the run claimed it started from) */
Test(file, seq0_images_survive_read_and_write)
{
	struct layout L, L2;
	size_t len, len2, len3;
	char p[512], p2[512];
	uint8_t *good = good_file(p, sizeof(p), &len, &L), *forged_b, *again;
	size_t n = hl_obj_image_size(HL_CORE_ID);
	uint8_t *img = inflate_all(good + L.sec[HL_CORE_ID].init_off, L.sec[HL_CORE_ID].init_len, n);
	uint8_t *back = malloc(n);
	struct hl_file_err err;
	struct hl_engine *l;

	cr_assert_not_null(back);
	img[0] ^= 0x40;   /* a run that claims next_vmid started elsewhere */
	forged_b = with_seq0(good, len, &L, HL_CORE_ID, img, n, &len2);
	tpath(p, sizeof(p), "seq0.hlog");
	spit(p, forged_b, len2);
	l = hl_file_read(p, NULL, &err);
	cr_assert_not_null(l, "%s (offset %llu)", err.msg, (unsigned long long)err.offset);
	cr_assert_eq(hl_file_seq0(l, HL_CORE_ID, back, n), 0);
	cr_assert_eq(memcmp(back, img, n), 0, "the reader did not keep the file's seq-0 image");
	tpath(p2, sizeof(p2), "seq0-again.hlog");
	cr_assert_eq(hl_file_write(l, p2, &err), 0, "%s", err.msg);
	hl_engine_free(l);
	again = slurp(p2, &len3);
	parse_layout(again, len3, &L2);
	free(back);
	back = inflate_all(again + L2.sec[HL_CORE_ID].init_off, L2.sec[HL_CORE_ID].init_len, n);
	cr_assert_eq(memcmp(back, img, n), 0, "writing a read engine replaced the file's seq-0 image");
	free(back);
	free(again);
	free(forged_b);
	free(img);
	free(good);
}

static void m_init(uint8_t *b, const struct layout *L, uint64_t kind)
{
	const struct sec_pos *s = &L->sec[forged_obj];
	if (kind == 0) {
		/* garbage with a valid crc: zlib must refuse it */
		for (uint64_t i = s->init_len / 3; i < s->init_len; i += 3)
			b[s->init_off + i] ^= 0x5A;
		put32(b, s->off + SEC_INIT_CRC, (uint32_t)crc32(0L, b + s->init_off, (uInt)s->init_len));
	} else if (kind == 1) {
		put64(b, s->off + SEC_INIT_RAW, get64(b, s->off + SEC_INIT_RAW) + 8);
	} else if (kind == 2) {
		put64(b, s->off + SEC_INIT_RAW, 0);
	} else if (kind == 3) {
		put64(b, s->off + SEC_INIT_COMP, get64(b, s->off + SEC_INIT_COMP) + 1);
	} else if (kind == 4) {
		put64(b, s->off + SEC_INIT_COMP, UINT64_MAX - 16);
	} else {
		put64(b, s->off + SEC_INIT_COMP, 0);
	}
	fix_struct_crc(b, s->off, FSEC_SIZE);
}

Test(file, damaged_seq0_images_are_refused)
{
	struct layout L;
	size_t len, len2;
	char p[512];
	uint8_t *good = good_file(p, sizeof(p), &len, &L);
	const unsigned objs[] = { HL_CORE_ID, HL_S2PAGE_ID, HL_NPT_OBJ(HL_HOSTVISOR) };

	for (unsigned k = 0; k < 3; k++) {
		const struct sec_pos *s = &L.sec[objs[k]];
		forged_obj = objs[k];
		for (uint64_t kind = 0; kind < 6; kind++)
			forged(good, len, m_init, &L, kind, "seq-0 image field");
		for (uint64_t i = 0; i < s->init_len; i += 1 + s->init_len / 50)
			flip_at(good, len, s->init_off + i, 0x08, "seq-0 image flip");
	}
	/* a valid stream of the wrong size (one byte short, one byte long) */
	for (int d = -1; d <= 1; d += 2) {
		size_t n = hl_obj_image_size(HL_CORE_ID) + (size_t)d;
		uint8_t *img = calloc(1, n), *b;
		cr_assert_not_null(img);
		b = with_seq0(good, len, &L, HL_CORE_ID, img, n, &len2);
		expect_refused(b, len2, "seq-0 image of the wrong size", L.sec[HL_CORE_ID].init_off);
		free(b);
		free(img);
	}
	cr_log_info("%u damaged files refused", refused_count);
	free(good);
}

/* ---- issue 10: a checksummed record's meaning is the oracles' -------------------------- */
/* run `hyplog CMD path`; its exit status, and its output in out (NULL: none) */
static int run_cli(const char *cmd, const char *path, char *out, size_t outlen)
{
	const char *bin = getenv("HYPLOG");
	char line[1200];
	FILE *p;
	size_t n = 0;
	int st;

	if (!bin)
		return -1;
	snprintf(line, sizeof(line), "'%s' %s '%s' 2>&1", bin, cmd, path);
	p = popen(line, "r");
	cr_assert_not_null(p);
	while (out && n + 1 < outlen && fgets(out + n, (int)(outlen - n), p))
		n += strlen(out + n);
	while (fgets(line, sizeof(line), p))
		;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect_relation(const uint8_t *b, size_t len, const char *tag, const char *rel, const char *why)
{
	char p[512], out[8192];
	struct hl_file_err err;
	struct hl_file_info info;
	struct hl_engine *l;
	struct hl_state *st = hl_state_new(false);
	struct hl_replay_err rerr;
	int rc;

	tpath(p, sizeof(p), tag);
	spit(p, b, len);
	memset(&err, 0, sizeof(err));
	l = hl_file_read(p, &info, &err);
	cr_assert_not_null(l, "%s: a checksummed record was refused as a malformed file: %s (offset %llu)", tag,
			   err.msg, (unsigned long long)err.offset);
	memset(&rerr, 0, sizeof(rerr));
	cr_assert_neq(hl_cal_all(l, st, &rerr), 0, "%s: Cal<Obj> accepted it", tag);
	cr_assert(strstr(rerr.msg, why), "%s: Cal<Obj> says '%s', expected '%s'", tag, rerr.msg, why);
	hl_state_free(st);
	hl_engine_free(l);
	out[0] = 0;
	rc = run_cli("check", p, out, sizeof(out));
	if (rc == -1 && !getenv("HYPLOG"))
		return;   /* run outside meson: the library-level checks above still hold */
	cr_assert_eq(rc, 1, "%s: `hyplog check` exited %d, expected 1 (a violation):\n%s", tag, rc, out);
	cr_assert(strstr(out, "VIOLATION of") && strstr(out, rel), "%s: `hyplog check` did not name %s:\n%s",
		  tag, rel, out);
	rc = run_cli("replay", p, out, sizeof(out));
	cr_assert_eq(rc, 1, "%s: `hyplog replay` exited %d, expected 1 (a mismatch):\n%s", tag, rc, out);
	cr_assert(strstr(out, why), "%s: `hyplog replay` did not say '%s':\n%s", tag, why, out);
}

Test(file, checksummed_gap_and_oob_delta_reach_the_relations)
{
	struct layout L;
	size_t len;
	char p[512];
	uint8_t *good = good_file(p, sizeof(p), &len, &L), *b = malloc(len);
	unsigned plain = 0, snap = 0;

	cr_assert_not_null(b);
	for (unsigned o = 1; o < HL_ID_END; o++) {
		if (!L.sec[o].snap_len && L.sec[o].nrecs > 1 && !plain)
			plain = o;
		if (L.sec[o].snap_len && L.sec[o].nrecs > 1 && !snap)
			snap = o;
	}
	cr_assert(plain && snap);
	for (unsigned k = 0; k < 2; k++) {
		const struct sec_pos *s = &L.sec[k ? snap : plain];
		uint64_t ro = s->rec_off;
		/* a sequence gap: the first record claims the next seq */
		memcpy(b, good, len);
		put64(b, ro + 8, get64(b, ro + 8) + 1);
		fix_rec_crc(b, ro);
		expect_relation(b, len, "gap.hlog", "H_CalLock", "sequence gap");
		/* a repeat: the second record has the first one's seq */
		memcpy(b, good, len);
		{
			uint32_t l0;
			memcpy(&l0, b + ro, 4);
			put64(b, ro + l0 + 8, get64(b, ro + 8));
			fix_rec_crc(b, ro + l0);
		}
		expect_relation(b, len, "repeat.hlog", "H_CalLock", "sequence gap");
		/* a delta outside the object */
		memcpy(b, good, len);
		put32(b, ro + first_delta_at(b, ro), 0xFFFFFFF0u);
		fix_rec_crc(b, ro);
		expect_relation(b, len, "oob.hlog", "sync_shared", "delta outside the object");
	}
	free(b);
	free(good);
}
