/*
 * main.c - the EL2 image: KCore's trap layer and the engine running at EL2 on every CPU.
 *
 *   CPU 0   console, heap, engine (table pools in real RAM, pool PA = their address),
 *           kcore; PSCI CPU_ON (SMC) for the others; then like every CPU:
 *   each    TLS + TCB, vectors, stage 2 = the engine's host table (VTTBR/VTCR), enter
 *           the EL1 host test kernel; from then on every host exception is a trap into
 *           kcore_host_trap (arch_el2_host_trap below)
 *   last    the CPU that finishes last streams every object log over the PL011 and
 *           leaves QEMU through semihosting SYS_EXIT
 *
 * The stream (read by `hyplog boot`, cli/cmd_boot.c), one ASCII line per item:
 *   HLBEGIN <version> <ncpus> <build config...>
 *   HLMAP <obj_end> <nshards> <s2page shard pages> <npt(host) shard MiB>
 *                                      the engine's refinement map (issue 11, DESIGN2.md): its
 *                                      object-ID bound, how many shards, the cfg sizes it was
 *                                      built from; then per shard, ascending id:
 *   HLSHARD <id> <parent> <residual> <nranges> <off>:<len>...   (off, len hex: bytes of the
 *                                      parent's image the shard owns, ascending)
 *   HLKEY <idx> <32 bytes, hex>        KCore's provisioned keys, idx 0, 1, ... (SPEC §11)
 *   HLINIT <obj> <pool pa>             table objects: their initial image's pool PA
 *   HLOBJ <obj> <first seq> <nrecs> <bytes> <live digest>
 *   HLREC <record bytes, hex> <crc32>  the object's records in sequence order
 *                                      (HLOBJ/HLREC for every SPEC object and every shard in
 *                                      the map, ascending id; a residual's digest is over its
 *                                      own bytes, the shards' zero, as the log file's)
 *   HLCPU <cpu> <halted> <status> <checks> <refused> <mmio_rejected> <hvc_errors> <traps...>
 *   HLEND <records> <crc32 of every record byte>
 *   HLMAC <hex>                        HMAC-SHA-256 (libsodium) of every stream line above,
 *                                      HLBEGIN to HLEND, each with its '\n' (no '\r'),
 *                                      under the per-boot stream key
 *
 * The stream key (issue 12): the PL011 is shared with the EL1 host, which can print lines
 * of its own (a Linux host can print a whole forged or replayed stream). `hyplog boot`
 * writes 32 fresh random bytes to EL2_STREAMKEY_PA (QEMU -device loader, in KCore's memory:
 * the host's stage 2 never maps it); CPU 0 copies them and wipes the page before any host
 * code runs. Only a stream whose HLMAC verifies is KCore's.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "el2.h"
#include "hl_access.h"
#include "hl_engine.h"
#include "hl_pgtable.h"
#include "hl_testkey.h"
#include "image.h"
#include "kcore.h"
#include "sysreg.h"
#include "hl_fault.h"

#include <sodium.h>

void el2_sys_init(void);

/* SPEC §16 (H10): the RAM the engine's s2page describes is host-owned at boot (the host may
 * SMMU-map it, give it to a VM or remap it into KCore's window) except KCore's own ranges
 * (engine cfg.kcore, COREVISOR's from the start). So s2page either ends below KCore's own
 * memory (text, data, table pools, logs: the test-kernel image, whose trap layer refuses
 * that memory to the host) or covers all of it, as KCore's range (the Linux image, issue
 * 12: the engine refuses it). Anything in between would hand KCore's pages to the host. */
#define KCORE_IN_S2PAGE (HL_RAM_BASE + HL_RAM_SIZE >= EL2_RAM_END)
_Static_assert(HL_RAM_BASE + HL_RAM_SIZE <= EL2_MEM_BASE || KCORE_IN_S2PAGE,
	       "ram_mib: s2page RAM would cover part of KCore's own memory");
#ifdef HL_EL2_LINUX
_Static_assert(HL_RAM_SIZE == (uint64_t)LINUX_QEMU_RAM_MIB << 20 && KCORE_IN_S2PAGE,
	       "the Linux image's s2page is all of QEMU's RAM (HL_RAM_MIB_OVERRIDE = LINUX_QEMU_RAM_MIB)");
#endif

/* KCore's image-verification keys, compiled in at build time (SPEC §11; the host never
 * supplies one, REGISTER_KVM names one by index). Public keys only: the image carries no
 * secret. Key 0 is the test key the host test kernel's guest is signed with (host/sign.c,
 * shared/hl_testkey.h). */
static const uint8_t el2_kcore_keys[][32] = { HL_TESTKEY_PK_INIT };

#define read_sysreg(r) ({ uint64_t __v; __asm__ volatile("mrs %0, " #r : "=r"(__v)); __v; })
#define write_sysreg(v, r) __asm__ volatile("msr " #r ", %x0" : : "rZ"((uint64_t)(v)))

/* The refinement (issue 11, DESIGN2.md): s2page and npt(host) in shards, each with its own
 * lock and log, so that host stage-2 faults on different CPUs take different locks. The
 * stream carries the map (HLMAP/HLSHARD) and every shard's log; `hyplog boot` writes a v6/v7
 * file from it. Sizes: at most 32 shards per class (HL_S2P_MAX_SHARDS, HL_NPTH_MAX_SHARDS).
 *   test-kernel image, 64 MiB of RAM:  s2page 512 pages (2 MiB, 32 shards); npt(host) 4 MiB
 *                                      (2 L3 tables, 16 shards)
 *   Linux image, 2048 MiB of RAM:      s2page 16384 pages (64 MiB, 32 shards); npt(host)
 *                                      64 MiB (32 L3 tables, 32 shards); the host pool has
 *                                      room for the 1024 preallocated RAM tables plus MMIO
 *                                      (HL_HOST_PMD_PAGES_OVERRIDE, meson.build) */
#ifdef HL_EL2_LINUX
#define EL2_S2P_SHARD_PAGES 16384u
#define EL2_NPTH_SHARD_MIB 64u
#else
#define EL2_S2P_SHARD_PAGES 512u
#define EL2_NPTH_SHARD_MIB 4u
#endif

#define PSCI_CPU_ON 0xC4000003ull
#define PSCI_AFFINITY_INFO 0xC4000004ull
/* VTCR_EL2: T0SZ 16 (48-bit IPA), SL0 2 (level-0 start, the engine's 4-level tables),
 * inner/outer WBWA, inner shareable, 4K granule, PS 48-bit, RES1 bit 31 */
#define VTCR_VAL (16ull | (2ull << 6) | (1ull << 8) | (1ull << 10) | (3ull << 12) | (5ull << 16) | (1ull << 31))
#define SCTLR_EL1_RESET 0x30D00800ull

/* ---- leaving QEMU --------------------------------------------------------------------------
 * The test-kernel image leaves through semihosting SYS_EXIT (its exit status is the image's
 * verdict). The Linux image runs QEMU without -semihosting: semihosting (HLT #0xF000) is
 * taken by QEMU's translator at any EL before exception routing, so EL2 cannot trap it from
 * a Linux host at EL1 (MDCR_EL2/HCR_EL2 route debug exceptions, and with semihosting off HLT
 * is simply UNDEFINED at EL1). It leaves through PSCI SYSTEM_OFF to QEMU instead (exit 0):
 * its verdict is in the authenticated stream (HLCPU status), never in QEMU's exit status. */
#ifdef HL_EL2_LINUX
static _Noreturn void el2_exit(int code)
{
	(void)code;
	el2_psci_smc(0x84000008u, 0, 0, 0);   /* PSCI SYSTEM_OFF; does not return */
	for (;;)
		__asm__ volatile("wfe");
}
#else
#define el2_exit el2_semihost_exit
#endif

/* ---- console --------------------------------------------------------------------------- */
#define UART_DR 0x00
#define UART_FR 0x18
#define UART_FR_TXFF (1u << 5)

static uint32_t con_lock;

static void uart_putc(char c)
{
	volatile uint32_t *base = (volatile uint32_t *)EL2_UART_BASE;

	while (base[UART_FR / 4] & UART_FR_TXFF)
		;
	base[UART_DR / 4] = (uint8_t)c;
}

static void uart_write_locked(const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			uart_putc('\r');
		uart_putc(*s);
	}
}

void el2_console_write(const char *s)
{
	el2_spin_lock(&con_lock);
	uart_write_locked(s);
	el2_spin_unlock(&con_lock);
}

void el2_printf(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	el2_console_write(line);
}

_Noreturn void el2_fatal(const char *fmt, ...)
{
	char line[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* no lock: the CPU that holds it may be the one that died */
	uart_write_locked("\nEL2 FATAL: ");
	uart_write_locked(line);
	uart_write_locked("\nRESULT: FAIL (EL2 fatal error)\n");
	el2_exit(3);
}

/* ---- per-CPU TLS and TCB ----------------------------------------------------------------- */
extern char __tdata_start[], __tdata_end[], __tbss_size[];
static uint8_t tls_area[EL2_MAX_CPUS][EL2_TLS_SIZE] __attribute__((aligned(64)));

static struct el2_tcb *tls_init(unsigned cpu)
{
	size_t td = (size_t)(__tdata_end - __tdata_start), tb = (size_t)(uintptr_t)__tbss_size;
	uint8_t *a = tls_area[cpu];

	if (sizeof(struct el2_tcb) + td + tb > EL2_TLS_SIZE)
		el2_fatal("TLS needs %zu bytes, the area has %u", td + tb, EL2_TLS_SIZE);
	memcpy(a + sizeof(struct el2_tcb), __tdata_start, td);
	memset(a + sizeof(struct el2_tcb) + td, 0, tb);
	return (struct el2_tcb *)a;
}

/* ---- engine environment: real memory for the state ----------------------------------------- */
/*
 * Every state image starts 4 KiB past an 8 KiB boundary: a table pool keeps its meta page
 * first and its roots from +4 KiB, so the SMMU roots (two concatenated level-1 tables,
 * 8 KiB each) are 8 KiB aligned as SMMU_CBn_TTBR0 requires (and as the checker's
 * init_state expects); the other roots need only 4 KiB.
 */
static void *page_alloc(size_t n)
{
	uint8_t *p = aligned_alloc(2 * HL_PAGE_SIZE, n + HL_PAGE_SIZE);

	return p ? p + HL_PAGE_SIZE : NULL;
}

static void page_free(void *p)
{
	if (p)
		free((uint8_t *)p - HL_PAGE_SIZE);
}

static uint64_t pool_pa(const void *img)
{
	return (uint64_t)(uintptr_t)img;   /* the EL2 stage 1 is an identity map */
}

/* ---- shared state ------------------------------------------------------------------------------ */
static struct hl_engine *eng;
static struct kcore *kc;
static unsigned ncpus;
static volatile uint32_t cpus_up, start_gate, host_barrier[2], ndone;
static struct {
	uint64_t status, checks, refused, done, halted;
} __attribute__((aligned(64))) cpu_res[EL2_MAX_CPUS];

static void wait_count(volatile uint32_t *c, uint32_t n)
{
	while (__atomic_load_n(c, __ATOMIC_ACQUIRE) < n)
		__asm__ volatile("wfe");
}

static void bump_count(volatile uint32_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_ACQ_REL);
	__asm__ volatile("dsb ish\n\tsev" : : : "memory");
}

/* ---- the log stream ------------------------------------------------------------------------------ */
static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32_upd(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
	return ~crc;
}

static uint8_t stream_key[crypto_auth_hmacsha256_KEYBYTES];
static crypto_auth_hmacsha256_state stream_mac;

/* CPU 0, before any host code runs: take the key `hyplog boot` left at EL2_STREAMKEY_PA and
 * wipe it there (nothing else in the image reads that page) */
static void stream_key_take(void)
{
	volatile uint8_t *k = (volatile uint8_t *)(uintptr_t)EL2_STREAMKEY_PA;
	uint8_t any = 0;

	for (unsigned i = 0; i < sizeof(stream_key); i++) {
		stream_key[i] = k[i];
		any |= stream_key[i];
		k[i] = 0;
	}
	if (!any)
		el2_fatal("no stream key at %#x (boot the image with `hyplog boot`, which loads one)", EL2_STREAMKEY_PA);
}

/*
 * The Linux image's stream sink (issue 12): the same lines into KCore's own memory, not the
 * UART. Under QEMU every UART byte is a trap and a host write(2) (~1 MB/s; a 4-CPU Linux run
 * makes 100k+ records, 30+ MB of hex); a memory buffer costs nothing. When it is complete,
 * `HLDUMP <pa> <len>` on the UART asks `hyplog boot` to stop QEMU and copy the buffer out
 * (QMP pmemsave): KCore's memory, which the host's stage 2 never maps, so the host can
 * neither write nor read it; and the HMAC covers its lines as on the UART.
 */
static char *dump_buf;
static size_t dump_len, dump_cap;

static void stream_out(const char *s, size_t n)
{
	if (dump_buf) {
		if (n > dump_cap - dump_len)
			el2_fatal("log stream buffer full (%zu bytes)", dump_cap);
		memcpy(dump_buf + dump_len, s, n);
		dump_len += n;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			uart_putc('\r');
		uart_putc(s[i]);
	}
}

/* a piece of a stream line: to the UART and into the stream's MAC */
static void stream_put(const char *s, size_t n)
{
	crypto_auth_hmacsha256_update(&stream_mac, (const uint8_t *)s, n);
	if (dump_buf) {
		stream_out(s, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			uart_putc('\r');
		uart_putc(s[i]);
	}
}

static void stream_puts(const char *s)
{
	stream_put(s, strlen(s));
}

static void put_hex(const uint8_t *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	char buf[128];
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		buf[k++] = hx[p[i] >> 4];
		buf[k++] = hx[p[i] & 15];
		if (k == sizeof(buf)) {
			stream_put(buf, k);
			k = 0;
		}
	}
	stream_put(buf, k);
}

struct walk {
	uint64_t n, bytes;
	bool emit;
	uint32_t *all_crc;
};

static int rec_visit(const struct hl_rec *r, void *arg)
{
	struct walk *w = arg;

	w->n++;
	w->bytes += r->len;
	if (w->emit) {
		char tail[16];
		stream_puts("HLREC ");
		put_hex((const uint8_t *)r, r->len);
		snprintf(tail, sizeof(tail), " %08x\n", crc32_upd(0, (const uint8_t *)r, r->len));
		stream_puts(tail);
		*w->all_crc = crc32_upd(*w->all_crc, (const uint8_t *)r, r->len);
	}
	return 0;
}

/* the objects with a log in this run: every SPEC object (a fully sharded one's log is empty)
 * and every shard of the map */
static bool stream_obj(unsigned o)
{
	return o < HL_ID_END || hl_refine_is_shard(&eng->ref, o);
}

#ifdef HL_EL2_LINUX
static uint64_t linux_psci_count(unsigned cpu);
static uint64_t linux_skipped_count(unsigned cpu);
#endif

static void dump_logs(void)
{
	char line[512];
	uint64_t total = 0;
	uint32_t all_crc = 0;

	crc_init();
	crypto_auth_hmacsha256_init(&stream_mac, stream_key, sizeof(stream_key));
#ifdef HL_EL2_LINUX
	{   /* the stream into memory: room for every record in hex plus the other lines */
		uint64_t n = 0, bytes = 0;
		hl_rcu_read_lock();
		for (unsigned o = 1; o < HL_OBJ_END; o++) {
			struct walk w = { 0 };
			if (!stream_obj(o))
				continue;
			hl_log_base_foreach(hl_log_base_get(&eng->logs[o]), rec_visit, &w);
			n += w.n;
			bytes += w.bytes;
		}
		hl_rcu_read_unlock();
		dump_cap = 2 * bytes + 24 * n + (1u << 20);
		dump_buf = malloc(dump_cap);   /* NULL: the UART, as the test-kernel image */
		el2_printf("el2: %llu records (%llu bytes): stream into memory at %p (%zu KiB)\n", (unsigned long long)n,
			   (unsigned long long)bytes, (void *)dump_buf, dump_cap >> 10);
	}
#endif
	el2_spin_lock(&con_lock);   /* every other CPU is parked: the console is ours */
	{
		int n = snprintf(line, sizeof(line), "HLBEGIN 3 %u %u %u %u %u %u %u %u %u %u %zu %u", ncpus, HL_MAX_VM,
				 HL_VCPU_PER_VM, HL_NR_CPUS, HL_CFG_RAM_MIB, HL_CFG_HOST_PMD_PAGES, HL_CFG_VM_PMD_PAGES,
				 HL_CFG_CORE_PMD_PAGES, HL_CFG_SPT_PMD_PAGES, HL_ID_END, sizeof(struct hl_rec),
				 (unsigned)eng->cfg.kcore.n);
		for (unsigned i = 0; i < eng->cfg.kcore.n; i++)   /* KCore's ranges (issue 12) */
			n += snprintf(line + n, sizeof(line) - n, " %llx %llx", (unsigned long long)eng->cfg.kcore.r[i].base,
				      (unsigned long long)eng->cfg.kcore.r[i].size);
		snprintf(line + n, sizeof(line) - n, "\n");
	}
	stream_puts(line);
	/* the refinement map (version 3): the log file's map block comes from these lines */
	snprintf(line, sizeof(line), "HLMAP %u %u %llu %llu\n", HL_OBJ_END, eng->ref.nshards,
		 (unsigned long long)eng->cfg.s2page_shard_pages, (unsigned long long)eng->cfg.npt_host_shard_mib);
	stream_puts(line);
	for (unsigned k = 0; k < eng->ref.nshards; k++) {
		unsigned id = eng->ref.ids[k], p = eng->ref.sh[id - HL_ID_END].parent;
		const struct hl_range *rg = &eng->ref.ranges[eng->ref.sh[id - HL_ID_END].first];
		int n = snprintf(line, sizeof(line), "HLSHARD %u %u %u %u", id, p, eng->ref.parent[p].residual ? 1u : 0u,
				 (unsigned)eng->ref.sh[id - HL_ID_END].nranges);
		for (unsigned i = 0; i < eng->ref.sh[id - HL_ID_END].nranges && n < (int)sizeof(line) - 40; i++)
			n += snprintf(line + n, sizeof(line) - n, " %llx:%llx", (unsigned long long)rg[i].off,
				      (unsigned long long)rg[i].len);
		if (n >= (int)sizeof(line) - 40)
			el2_fatal("shard %u: %u ranges do not fit a stream line", id, eng->ref.sh[id - HL_ID_END].nranges);
		snprintf(line + n, sizeof(line) - n, "\n");
		stream_puts(line);
	}
	for (unsigned i = 0; i < eng->cfg.nkeys; i++) {
		int n = snprintf(line, sizeof(line), "HLKEY %u ", i);
		for (unsigned j = 0; j < 32; j++)
			n += snprintf(line + n, sizeof(line) - n, "%02x", eng->cfg.kcore_keys[i][j]);
		snprintf(line + n, sizeof(line) - n, "\n");
		stream_puts(line);
	}
	hl_rcu_read_lock();
	for (unsigned o = 1; o < HL_OBJ_END; o++) {
		const struct hl_log_base *b;
		struct walk w = { .all_crc = &all_crc };

		if (!stream_obj(o))
			continue;
		b = hl_log_base_get(&eng->logs[o]);
		if (b->snap)
			el2_fatal("object %u has a checkpoint: the stream has no snapshots", o);
		if (o == HL_SPT_ID || (o >= HL_NPT_ID && o < HL_INFO_ID)) {
			snprintf(line, sizeof(line), "HLINIT %u %llx\n", o,
				 (unsigned long long)hl_pt_meta(eng->st->img[o].base)->pool_pa);
			stream_puts(line);
		}
		hl_log_base_foreach(b, rec_visit, &w);
		snprintf(line, sizeof(line), "HLOBJ %u %llu %llu %llu %016llx\n", o, (unsigned long long)b->first_seq,
			 (unsigned long long)w.n, (unsigned long long)w.bytes,
			 (unsigned long long)hl_state_obj_digest(eng->st, o));
		stream_puts(line);
		w.emit = true;
		w.n = w.bytes = 0;
		hl_log_base_foreach(b, rec_visit, &w);
		total += w.n;
	}
	hl_rcu_read_unlock();
	for (unsigned c = 0; c < ncpus; c++) {
		int n = snprintf(line, sizeof(line), "HLCPU %u %u %llu %llu %llu %llu %llu", c,
				 hl_cpu_halted(eng, (int)c) ? 1u : 0u, (unsigned long long)cpu_res[c].status,
				 (unsigned long long)cpu_res[c].checks, (unsigned long long)cpu_res[c].refused,
				 (unsigned long long)kc->cpu[c].mmio_rejected, (unsigned long long)kc->cpu[c].hvc_errors);
		for (unsigned t = 0; t < KC_T__COUNT; t++)
			n += snprintf(line + n, sizeof(line) - n, " %s=%llu", kc_trap_kind_name(t),
				      (unsigned long long)kc->cpu[c].traps[t]);
#ifdef HL_EL2_LINUX
		/* the Linux host's PSCI SMCs (HCR_EL2.TSC), answered here, not by KCore */
		n += snprintf(line + n, sizeof(line) - n, " psci=%llu", (unsigned long long)linux_psci_count(c));
		n += snprintf(line + n, sizeof(line) - n, " skipped=%llu", (unsigned long long)linux_skipped_count(c));
#endif
		snprintf(line + n, sizeof(line) - n, "\n");
		stream_puts(line);
	}
	snprintf(line, sizeof(line), "HLEND %llu %08x\n", (unsigned long long)total, all_crc);
	stream_puts(line);
	{
		uint8_t mac[crypto_auth_hmacsha256_BYTES];
		char hex[2 * sizeof(mac) + 1];
		crypto_auth_hmacsha256_final(&stream_mac, mac);
		sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
		snprintf(line, sizeof(line), "HLMAC %s\n", hex);
		if (dump_buf)
			stream_out(line, strlen(line));
		else
			uart_write_locked(line);
	}
	el2_spin_unlock(&con_lock);
}

/* the last CPU to finish streams the logs and ends the run */
static _Noreturn void cpu_finish(unsigned cpu)
{
	uint32_t n = __atomic_add_fetch(&ndone, 1, __ATOMIC_ACQ_REL);
	bool pass = true;

	if (n < ncpus)
		for (;;)
			__asm__ volatile("wfe");
	for (unsigned c = 0; c < ncpus; c++)
		pass &= cpu_res[c].status == 0 && !cpu_res[c].halted;
	el2_printf("el2: all %u CPUs done (heap %zu KiB); streaming the logs\n", ncpus, el2_heap_used() >> 10);
	dump_logs();
	el2_printf("el2: image verdict %s\n", pass ? "pass" : "FAIL");
	el2_exit(pass ? 0 : 1);
}

/* ---- the host's traps ------------------------------------------------------------------------------ */
static uint64_t tlb_probe_pa, tlb_probe_faults;
static uint64_t host_smc_refused[EL2_MAX_CPUS] __attribute__((unused));   /* the test kernel's SMCs */

static __attribute__((unused)) void vendor_call(unsigned cpu, struct trap_frame *f)   /* not in the Linux image */
{
	switch (f->x[0]) {
	case VH_PUTS: {
		char buf[208];
		/* host memory through the engine: only pages the host owns are readable */
		memset(buf, 0, sizeof(buf));
		if (kcore_host_read(kc, cpu, f->x[1], buf, 200) != HL_OK) {
			f->x[0] = (uint64_t)KC_EINVAL;
			return;
		}
		el2_printf("host%u: %s\n", cpu, buf);
		f->x[0] = 0;
		return;
	}
	case VH_BARRIER: {
		uint32_t gen = (uint32_t)f->x[1] & 1;
		bump_count(&host_barrier[gen]);
		wait_count(&host_barrier[gen], ncpus);
		f->x[0] = 0;
		return;
	}
	case VH_TLB_PROBE:
		/* test scaffolding for the TLB race (host.c tlb_race): x1 = a host page. Once it
		 * belongs to a VM, a host access to it is counted and skipped here instead of
		 * reaching the engine (whose OMAP_HOST halts the CPU, as the seed does): the
		 * reader sees that it faulted and keeps running */
		if ((f->x[1] & 0xFFF) || !hl_pfn_is_ram(f->x[1] / 4096)) {
			f->x[0] = (uint64_t)KC_EINVAL;
			return;
		}
		__atomic_store_n(&tlb_probe_pa, f->x[1], __ATOMIC_RELEASE);
		f->x[0] = ncpus;   /* the race needs a second CPU */
		return;
	case VH_TLB_PROBE_FAULTS:
		f->x[0] = __atomic_load_n(&tlb_probe_faults, __ATOMIC_ACQUIRE);
		return;
	case VH_DONE:
		cpu_res[cpu].status = f->x[1];
		cpu_res[cpu].checks = f->x[2];
		el2_printf("el2: cpu %u: host test %s (%llu checks, %llu host SMCs refused)\n", cpu,
			   f->x[1] ? "FAILED" : "passed", (unsigned long long)f->x[2],
			   (unsigned long long)host_smc_refused[cpu]);
		cpu_finish(cpu);
	default:
		f->x[0] = (uint64_t)KC_ENOSYS;
		return;
	}
}

#ifdef HL_EL2_LINUX
/* ---- the Linux host (hyplog-el2-linux.elf, issue 12) -------------------------------------------
 * Debian's arm64 kernel runs at EL1 under the engine's host stage 2; its PSCI calls (SMC,
 * trapped by HCR_EL2.TSC) come here. KCore proxies CPU_ON so that each secondary enters EL2
 * first (vectors, VTTBR) and only then Linux's entry point at EL1; SYSTEM_OFF/RESET end the
 * run with the log stream. What it does not proxy it answers NOT_SUPPORTED. */
#define PSCI_VERSION 0x84000000u
#define PSCI_CPU_OFF 0x84000002u
#define PSCI_MIGRATE_INFO_TYPE 0x84000006u
#define PSCI_SYSTEM_OFF 0x84000008u
#define PSCI_SYSTEM_RESET 0x84000009u
#define PSCI_FEATURES 0x8400000Au
#define PSCI_NOT_SUPPORTED ((uint64_t)-1)
#define PSCI_INVALID_PARAMS ((uint64_t)-2)
#define PSCI_ALREADY_ON ((uint64_t)-4)

/* per CPU, for CPU_ON (a second CPU_ON must not overwrite the entry point of a CPU that is
 * on its way up):
 *   LX_OFF     --CPU_ON (CAS)-->  LX_PENDING   entry, ctx written; QEMU's CPU_ON called
 *   LX_PENDING --QEMU refused-->  LX_OFF
 *   LX_PENDING --EL2 entry---->   LX_ON        the CPU read entry, ctx and enters Linux
 *   LX_ON      --CPU_OFF------>   LX_OFF       (back to LX_ON if QEMU's CPU_OFF returns) */
enum { LX_OFF, LX_PENDING, LX_ON };

static struct {
	uint32_t state;
	uint64_t entry, ctx, psci_calls;
	uint64_t skipped_ipa[4];   /* the first host accesses KCore skipped (hvc_errors) */
	/* hvc_errors counts both host accesses KCore skipped and hypercalls it refused; a Linux
	 * host makes refused hypercalls on purpose (hyplog-kvm.ko's forbidden attempts), so the
	 * skipped accesses are counted apart (HLCPU skipped=, `hyplog boot --linux` fails on any) */
	uint64_t skipped, refused_hvc;
} __attribute__((aligned(64))) linux_cpu[EL2_MAX_CPUS];

static uint64_t linux_psci_count(unsigned cpu)
{
	return linux_cpu[cpu].psci_calls;
}

static uint64_t linux_skipped_count(unsigned cpu)
{
	return linux_cpu[cpu].skipped;
}
static uint64_t linux_entry0, linux_dtb;
static uint32_t linux_finishing;

static bool linux_psci_known(uint32_t fn)
{
	switch (fn) {
	case PSCI_VERSION: case PSCI_CPU_OFF: case (uint32_t)PSCI_CPU_ON: case 0x84000003u:
	case (uint32_t)PSCI_AFFINITY_INFO: case 0x84000004u: case PSCI_MIGRATE_INFO_TYPE:
	case PSCI_SYSTEM_OFF: case PSCI_SYSTEM_RESET: case PSCI_FEATURES:
		return true;
	default:
		return false;
	}
}

/* SYSTEM_OFF/RESET: Linux stopped its other CPUs (smp_send_stop) before the call */
static _Noreturn void linux_finish(unsigned cpu, bool off)
{
	if (__atomic_exchange_n(&linux_finishing, 1, __ATOMIC_ACQ_REL))
		for (;;)
			__asm__ volatile("wfe");
	el2_printf("\nel2: cpu %u: Linux called PSCI %s; streaming the logs\n", cpu, off ? "SYSTEM_OFF" : "SYSTEM_RESET");
	for (unsigned c = 0; c < ncpus; c++)
		el2_printf("el2: cpu %u: %llu PSCI calls, %llu hypercalls refused, %llu host accesses skipped (first at %llx %llx %llx %llx)\n", c,
			   (unsigned long long)linux_cpu[c].psci_calls, (unsigned long long)linux_cpu[c].refused_hvc,
			   (unsigned long long)linux_cpu[c].skipped,
			   (unsigned long long)linux_cpu[c].skipped_ipa[0], (unsigned long long)linux_cpu[c].skipped_ipa[1],
			   (unsigned long long)linux_cpu[c].skipped_ipa[2], (unsigned long long)linux_cpu[c].skipped_ipa[3]);
	cpu_res[cpu].status = off ? 0 : 1;   /* a reset is Linux's panic=-1: a failure */
	dump_logs();
	el2_printf("el2: image verdict %s\n", off ? "pass" : "FAIL (SYSTEM_RESET)");
	if (dump_buf) {
		/* `hyplog boot` stops QEMU, copies the stream out and quits QEMU: KCore waits here
		 * (powering off first would end QEMU with the stream unread) */
		__asm__ volatile("dsb sy" : : : "memory");
		el2_printf("HLDUMP %llx %zu\n", (unsigned long long)(uintptr_t)dump_buf, dump_len);
		for (;;)
			__asm__ volatile("wfe");
	}
	el2_exit(off ? 0 : 1);
}

static void linux_psci(unsigned cpu, struct trap_frame *f)
{
	uint32_t fn = (uint32_t)f->x[0];

	linux_cpu[cpu].psci_calls++;
	f->elr += 4;   /* a trapped SMC returns to the SMC itself */
	if (f->x[0] >> 32) {
		f->x[0] = PSCI_NOT_SUPPORTED;
		return;
	}
	switch (fn) {
	case (uint32_t)PSCI_CPU_ON:
	case 0x84000003u: {
		uint64_t mpidr = fn == 0x84000003u ? (uint32_t)f->x[1] : f->x[1];
		unsigned t = (unsigned)(mpidr & 0xFF);
		int64_t rc;

		uint32_t off = LX_OFF;

		if ((mpidr & ~0xFFull) || t >= ncpus) {
			f->x[0] = PSCI_INVALID_PARAMS;
			return;
		}
		if (!__atomic_compare_exchange_n(&linux_cpu[t].state, &off, LX_PENDING, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE)) {
			f->x[0] = PSCI_ALREADY_ON;
			return;
		}
		/* Linux's entry point and context id wait here for the target's EL2 entry */
		linux_cpu[t].entry = f->x[2];
		linux_cpu[t].ctx = f->x[3];
		__asm__ volatile("dsb ish" : : : "memory");
		rc = el2_psci_smc(PSCI_CPU_ON, mpidr, (uint64_t)(uintptr_t)el2_secondary_entry, t);
		if (rc != 0)
			__atomic_store_n(&linux_cpu[t].state, LX_OFF, __ATOMIC_RELEASE);
		f->x[0] = (uint64_t)rc;
		return;
	}
	case PSCI_CPU_OFF:
		__atomic_store_n(&linux_cpu[cpu].state, LX_OFF, __ATOMIC_RELEASE);
		f->x[0] = (uint64_t)el2_psci_smc(fn, 0, 0, 0);   /* returns only on failure */
		__atomic_store_n(&linux_cpu[cpu].state, LX_ON, __ATOMIC_RELEASE);
		return;
	case PSCI_SYSTEM_OFF:
		linux_finish(cpu, true);
	case PSCI_SYSTEM_RESET:
		linux_finish(cpu, false);
	case PSCI_FEATURES:
		if (!linux_psci_known((uint32_t)f->x[1])) {
			f->x[0] = PSCI_NOT_SUPPORTED;
			return;
		}
		f->x[0] = (uint64_t)el2_psci_smc(fn, f->x[1], 0, 0);
		return;
	default:
		if (!linux_psci_known(fn)) {
			f->x[0] = PSCI_NOT_SUPPORTED;
			return;
		}
		/* VERSION, AFFINITY_INFO, MIGRATE_INFO_TYPE: QEMU's PSCI answers */
		f->x[0] = (uint64_t)el2_psci_smc(fn, f->x[1], f->x[2], f->x[3]);
		return;
	}
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* the device tree (loaded at LINUX_DTB_PA, scripts/linux-fetch): its one memory node's reg
 * becomes the engine's s2page RAM, so Linux never uses KCore's memory (EL2_MEM_BASE up) */
static void linux_fix_dtb(void)
{
	uint8_t *d = (uint8_t *)(uintptr_t)LINUX_DTB_PA;
	uint32_t total = be32(d + 4), off_st = be32(d + 8), off_str = be32(d + 12), sz_st = be32(d + 36);
	unsigned depth = 0, mem_depth = 0, fixed = 0;

	if (be32(d) != 0xD00DFEEDu || total > LINUX_DTB_MAX || off_st + sz_st > total || off_str > total)
		el2_fatal("no device tree at %#x (hyplog boot --linux loads it)", LINUX_DTB_PA);
	for (uint32_t o = off_st; o + 4 <= off_st + sz_st;) {
		uint32_t tok = be32(d + o);
		o += 4;
		if (tok == 1) {   /* FDT_BEGIN_NODE */
			const char *name = (const char *)d + o;
			depth++;
			if (depth == 2 && !strncmp(name, "memory@", 7))
				mem_depth = depth;
			o = (o + (uint32_t)strlen(name) + 1 + 3) & ~3u;
		} else if (tok == 3) {   /* FDT_PROP */
			uint32_t len = be32(d + o), no = be32(d + o + 4);
			if (mem_depth && depth == mem_depth && !strcmp((const char *)d + off_str + no, "reg")) {
				if (len != 16)
					el2_fatal("device tree: memory reg is %u bytes, want 16", len);
				put_be64(d + o + 8, HL_RAM_BASE);
				put_be64(d + o + 16, HL_RAM_SIZE);
				fixed++;
			}
			o = (o + 8 + len + 3) & ~3u;
		} else if (tok == 2) {   /* FDT_END_NODE */
			if (depth == mem_depth)
				mem_depth = 0;
			depth--;
		} else if (tok == 9) {
			break;
		} else if (tok != 4) {
			el2_fatal("device tree: bad token %u at %u", tok, o - 4);
		}
	}
	if (fixed != 1)
		el2_fatal("device tree: %u memory nodes, want 1", fixed);
	linux_dtb = LINUX_DTB_PA;
}

/* the arm64 Image header (Documentation/arch/arm64/booting.rst): magic, text_offset, size */
static void linux_check_image(void)
{
	const uint8_t *h = (const uint8_t *)(uintptr_t)LINUX_IMAGE_PA;
	uint64_t text_offset, image_size;

	memcpy(&text_offset, h + 8, 8);
	memcpy(&image_size, h + 16, 8);
	if (memcmp(h + 56, "ARM\x64", 4) != 0)
		el2_fatal("no arm64 Linux Image at %#x (hyplog boot --linux loads it)", LINUX_IMAGE_PA);
	if (LINUX_IMAGE_PA + text_offset + image_size > LINUX_INITRD_PA)
		el2_fatal("the Image (text_offset %#llx, image_size %#llx) overlaps the initrd at %#x",
			  (unsigned long long)text_offset, (unsigned long long)image_size, LINUX_INITRD_PA);
	linux_entry0 = LINUX_IMAGE_PA + text_offset;
	el2_printf("el2: Linux Image at %#x (text_offset %#llx, image_size %#llx), device tree at %#x\n",
		   LINUX_IMAGE_PA, (unsigned long long)text_offset, (unsigned long long)image_size, LINUX_DTB_PA);
}
#endif

void arch_el2_host_trap(struct trap_frame *f)
{
	unsigned cpu = arch_cpu_id(), ec = esr_ec(f->esr);
	uint64_t call = f->x[0];

#ifndef HL_EL2_LINUX
	/* the test kernel's private calls (layout.h): never offered to Linux, whose HVCs all
	 * go to KCore (VH_DONE would end the run, VH_TLB_PROBE skip its faults) */
	if (ec == EC_HVC64 && (call >> 24) == 0xC6) {
		vendor_call(cpu, f);
		return;
	}
	/* the test kernel's SMCs (HCR_EL2.TSC, boot_cpu0): it needs no firmware call, so none
	 * reaches the firmware (PSCI CPU_ON/CPU_OFF/SYSTEM_RESET/MEM_PROTECT, any SMCCC call
	 * with an address the firmware would write to or jump to): every one is answered
	 * NOT_SUPPORTED, nothing else changes, and the host resumes after its SMC
	 *   host SMC  --KCore-->  x0 = -1, elr += 4 */
	if (ec == EC_SMC64) {
		host_smc_refused[cpu]++;
		f->x[0] = SMCCC_RET_NOT_SUPPORTED;
		f->elr += 4;   /* a trapped SMC returns to the SMC itself */
		return;
	}
#else
	if (ec == EC_SMC64) {
		linux_psci(cpu, f);
		return;
	}
#endif
	if (ec == EC_DABT_LOW || ec == EC_IABT_LOW) {
		uint64_t ipa = hpfar_to_ipa(f->hpfar, f->far);
		/* the hypervisor's own memory outside s2page (the test-kernel image): never the
		 * host's (the engine maps a PA below RAM as a device page). Inside s2page (the Linux
		 * image) it is COREVISOR's and the engine refuses it */
		if (!KCORE_IN_S2PAGE && ipa >= EL2_MEM_BASE && ipa < EL2_RAM_END) {
			cpu_res[cpu].refused++;
			f->elr += 4;
			return;
		}
		uint64_t probe = __atomic_load_n(&tlb_probe_pa, __ATOMIC_ACQUIRE);
		if (probe && (ipa & ~0xFFFull) == probe &&
		    hl_s2page_get(eng->st, probe / 4096).owner != HL_HOSTVISOR) {
			__atomic_add_fetch(&tlb_probe_faults, 1, __ATOMIC_ACQ_REL);
			f->elr += 4;
			return;
		}
	}
#ifdef HL_EL2_LINUX
	uint64_t errs = kc->cpu[cpu].hvc_errors;
#endif
	if (kcore_host_trap(kc, f) == KC_RET_HALTED) {
		cpu_res[cpu].halted = 1;
		el2_printf("el2: cpu %u HALTED by the engine (esr %llx x0 %llx)\n", cpu, (unsigned long long)f->esr,
			   (unsigned long long)call);
		cpu_res[cpu].status = 0xDEAD;
#ifdef HL_EL2_LINUX
		/* the other CPUs still run Linux (no VH_DONE ever comes): no stream, a failure */
		el2_printf("RESULT: FAIL (cpu %u halted under Linux)\n", cpu);
		el2_exit(1);
#endif
		cpu_finish(cpu);
	}
	/* SPEC §15: a step that took a page from the host invalidated every CPU's TLB inside
	 * the step (arch_tlbi_s2_ipa from the engine's host_unmap), before the page changed
	 * hands: nothing is left to invalidate here (there used to be a TLBI VMALLS12E1IS
	 * here, after the whole call, which for VCPU_RUN is after the guest ran) */
#ifdef HL_EL2_LINUX
	if (kc->cpu[cpu].hvc_errors != errs) {
		if (ec == EC_DABT_LOW || ec == EC_IABT_LOW) {
			uint64_t k = linux_cpu[cpu].skipped++;
			if (k < 4)
				linux_cpu[cpu].skipped_ipa[k] = hpfar_to_ipa(f->hpfar, f->far);
		} else {
			linux_cpu[cpu].refused_hvc++;
		}
	}
#endif
	__asm__ volatile("dsb ish" : : : "memory");   /* new host entries before the retry */
}

/* ---- bring-up ------------------------------------------------------------------------------------ */
extern char host_image_start[];

static _Noreturn void enter_host(unsigned cpu)
{
	write_sysreg(VTCR_VAL, vtcr_el2);
	write_sysreg(hl_pt_root_pa_of(eng, HL_HOSTVISOR), vttbr_el2);   /* VMID 0 */
	/* kc->host_hcr: the Linux image adds TSC (boot_cpu0); IMO/FMO clear while the host
	 * runs: its interrupts go straight to EL1 (the VM flags set them while a guest runs:
	 * a physical IRQ then exits the guest to EL2, VCPU_RUN returns ARCH_EXIT_IRQ and Linux
	 * takes the still-pending IRQ at EL1 once restore_host has cleared IMO again) */
	write_sysreg(kc->host_hcr, hcr_el2);
	write_sysreg(read_sysreg(midr_el1), vpidr_el2);
	write_sysreg(read_sysreg(mpidr_el1), vmpidr_el2);
	write_sysreg(0, mdcr_el2);
	write_sysreg(SCTLR_EL1_RESET, sctlr_el1);
	write_sysreg(0, vbar_el1);
	__asm__ volatile("isb\n\ttlbi vmalls12e1\n\tdsb ish\n\tisb" : : : "memory");
#ifdef HL_EL2_LINUX
	/* booting.rst: x0 = the device tree (CPU 0) or the context id (CPU_ON), x1-x3 = 0,
	 * MMU and caches off at EL1 (SCTLR_EL1 reset value above) */
	if (cpu == 0) {
		linux_cpu[0].state = LX_ON;
		el2_enter_el1(linux_entry0, linux_dtb);
	}
	uint64_t entry = linux_cpu[cpu].entry, ctx = linux_cpu[cpu].ctx;
	__atomic_store_n(&linux_cpu[cpu].state, LX_ON, __ATOMIC_RELEASE);
	el2_enter_el1(entry, ctx);
#endif
	bump_count(&cpus_up);
	wait_count(&start_gate, 1);   /* every host CPU starts at the same time */
	el2_enter_el1(HOST_BASE, cpu);
}

static void boot_cpu0(void)
{
	struct hl_state_env env = { page_alloc, page_free, pool_pa, (uint8_t *)(uintptr_t)HL_RAM_BASE };
	struct hl_engine_cfg cfg;
	uint64_t el = read_sysreg(CurrentEL) >> 2;

	el2_printf("\nhyplog EL2 image: CPU 0 at EL%llu, MMU on, %s\n", (unsigned long long)el,
#ifdef HL_FAULT_INJECTION
		   "FAULT-INJECTION engine (WRONG_DELTA)"
#else
		   "engine"
#endif
	);
	if (el != 2)
		el2_fatal("not at EL2");
	el2_heap_init(EL2_HEAP_BASE, EL2_RAM_END);
	/* how many CPUs: PSCI AFFINITY_INFO answers ON/OFF for a present CPU, an error else */
	ncpus = 1;
	while (ncpus < EL2_MAX_CPUS && ncpus < HL_NR_CPUS && el2_psci_smc(PSCI_AFFINITY_INFO, ncpus, 0, 0) >= 0)
		ncpus++;
	hl_state_set_env(&env);
	hl_engine_cfg_default(&cfg);
	cfg.ncpus = ncpus;
	cfg.with_ram = true;
	cfg.ckpt_every = 0;
	cfg.s2page_shard_pages = EL2_S2P_SHARD_PAGES;   /* issue 11: the sizes above */
	cfg.npt_host_shard_mib = EL2_NPTH_SHARD_MIB;
	if (KCORE_IN_S2PAGE) {   /* KCore's own memory: COREVISOR's in s2page (issue 12) */
		cfg.kcore.n = 1;
		cfg.kcore.r[0].base = EL2_MEM_BASE;
		cfg.kcore.r[0].size = EL2_RAM_END - EL2_MEM_BASE;
	}
	for (unsigned i = 0; i < sizeof(el2_kcore_keys) / sizeof(el2_kcore_keys[0]); i++)
		if (hl_engine_cfg_add_key(&cfg, el2_kcore_keys[i]) < 0)
			el2_fatal("more compiled-in KCore keys than HL_MAX_KEYS");
	eng = hl_engine_new(&cfg);
	if (!eng)
		el2_fatal("hl_engine_new failed (s2page shards of %u pages, npt(host) shards of %u MiB: do the "
			  "host pool's %u L3 tables hold RAM's?)", EL2_S2P_SHARD_PAGES, EL2_NPTH_SHARD_MIB,
			  (unsigned)HL_CFG_HOST_PMD_PAGES);
	if (!hl_refine_sharded(&eng->ref, HL_S2PAGE_ID) || !hl_refine_sharded(&eng->ref, HL_NPT_OBJ(HL_HOSTVISOR)))
		el2_fatal("the engine did not shard s2page and npt(host)");
	kc = kcore_new(eng);
	if (!kc)
		el2_fatal("kcore_new failed");
	/* the host's SMCs trap (HCR_EL2.TSC), also after a guest ran on the CPU (restore_host
	 * writes kc->host_hcr): Linux's PSCI calls are proxied (linux_psci), the test kernel's
	 * are refused (host_smc_refused). el2red: the test-kernel image used to run its host
	 * without TSC, so the host's SMCs went straight to QEMU's PSCI firmware, whose CPU_ON
	 * starts the target CPU at EL2 (the highest EL): a host that powered one of its CPUs
	 * off (CPU_OFF) and on again (CPU_ON with its own entry point) ran its code at EL2 */
	kc->host_hcr |= HCR_TSC;   /* kcore_new's flags (API/APK with PAuth) + TSC */
	/* what KCore owns on this platform besides the SMMU windows (SPEC §16): its console
	 * and its own memory never go to a VM (IOREMAP) nor to the host */
#ifdef HL_EL2_LINUX
	/* Linux's console is the same PL011: the host owns it (KCore writes to it only before
	 * Linux starts and after SYSTEM_OFF, when Linux has stopped its CPUs). KCore's own
	 * memory is COREVISOR's in s2page (cfg.kcore above): the engine refuses it to the host
	 * and to IOREMAP (a RAM page is never an IO page), so no trap-layer range for it */
#else
	if (!kcore_own_range(kc, EL2_UART_BASE, 0x1000) ||
	    !kcore_own_range(kc, EL2_MEM_BASE, EL2_RAM_END - EL2_MEM_BASE))
		el2_fatal("kcore_own_range failed");
#endif
#ifdef HL_FAULT_INJECTION
	hl_fault_set(HL_FAULT_WRONG_DELTA, 97);
#endif
	el2_printf("el2: engine up: %u CPUs, host stage-2 root %llx, heap %zu KiB, %u shards (s2page %llu pages "
		   "each, npt(host) %llu MiB each)\n", ncpus, (unsigned long long)hl_pt_root_pa_of(eng, HL_HOSTVISOR),
		   el2_heap_used() >> 10, eng->ref.nshards, (unsigned long long)eng->cfg.s2page_shard_pages,
		   (unsigned long long)eng->cfg.npt_host_shard_mib);
#ifdef HL_EL2_LINUX
	linux_check_image();
	linux_fix_dtb();
	el2_printf("el2: entering Linux at EL1 on cpu 0 (%u CPUs, host RAM %#llx + %llu MiB); secondaries via PSCI CPU_ON\n",
		   ncpus, (unsigned long long)HL_RAM_BASE, (unsigned long long)(HL_RAM_SIZE >> 20));
	return;
#endif
	for (unsigned c = 1; c < ncpus; c++) {
		int64_t rc = el2_psci_smc(PSCI_CPU_ON, c, (uint64_t)(uintptr_t)el2_secondary_entry, c);
		if (rc != 0)
			el2_fatal("PSCI CPU_ON(%u) = %lld", c, (long long)rc);
	}
	wait_count(&cpus_up, ncpus - 1);
	el2_printf("el2: %u CPUs at EL2; entering the EL1 host on each\n", ncpus);
	bump_count(&cpus_up);
	__atomic_store_n(&start_gate, 1, __ATOMIC_RELEASE);
	__asm__ volatile("dsb ish\n\tsev" : : : "memory");
}

static struct el2_tcb *tcbs[EL2_MAX_CPUS];

_Noreturn void el2_cpu_main(unsigned cpu);
_Noreturn void el2_cpu_main(unsigned cpu)
{
	if (cpu == 0) {
		el2_sys_init();   /* the stack-protector guard, before libsodium runs */
		stream_key_take();
	}
	tcbs[cpu] = tls_init(cpu);
	arch_el2_init_cpu(tcbs[cpu]);
	if (cpu == 0) {
		boot_cpu0();
		/* cpus_up counted CPU 0 too */
		write_sysreg(VTCR_VAL, vtcr_el2);
	} else {
		el2_printf("el2: cpu %u up (PSCI CPU_ON), stack %p\n", cpu, __builtin_frame_address(0));
	}
	enter_host(cpu);
}
