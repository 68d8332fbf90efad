/*
 * cmd_boot.c - `hyplog boot`: boot the EL2 image (arch/aarch64/el2/image) on
 * qemu-system-aarch64 with N CPUs, collect the object logs it streams over the PL011 at the
 * end, write them as a log file (engine/hl_file.c's format, readable by `hyplog replay` and
 * `hyplog check`), read that file back and run every SPEC §10 oracle on it.
 *
 * The stream (arch/aarch64/el2/image/main.c): ASCII lines
 *   HLBEGIN 2 ncpus max_vm vcpus_per_vm nr_cpus ram_mib host_pmd vm_pmd core_pmd spt_pmd id_end rec_hdr
 *           nk base size ...   KCore's own RAM ranges (nk <= 4, hex): COREVISOR's in s2page
 *                             from the start (issue 12; the engine's configuration, the log
 *                             file's KCore ranges block)
 *   HLMAP obj_end nshards s2p_pages npth_mib   (version 3, right after HLBEGIN) the engine's
 *                             refinement map (issue 11): its object-ID bound, shard count and
 *                             the cfg sizes it was built from; then nshards lines
 *   HLSHARD id parent residual nranges off:len...   one shard (hex ranges of the parent's
 *                             image, ascending). The map must be exactly the one the engine
 *                             builds from those sizes (else the stream is rejected); the log
 *                             file's map block is written from it, and the oracle reads it there
 *   HLKEY idx hex             KCore's compiled-in key idx (0, 1, ... in order): the log
 *                             file's header carries them (SPEC §11)
 *   HLINIT obj pool_pa        a table object's initial image uses this real pool PA: the log
 *                             gets that initial image as a snapshot at seq 0
 *   HLOBJ obj first_seq nrecs bytes live_digest   every SPEC object and every shard of the map
 *   HLREC hex crc32           one record (crc32 of its bytes, checked here)
 *   HLCPU cpu halted status checks refused mmio_rejected hvc_errors name=count...
 *   HLEND records crc32-of-every-record-byte
 *   HLMAC hex                 HMAC-SHA-256 of the lines HLBEGIN..HLEND (each + '\n') under
 *                             this run's stream key
 * Every other line is the image's console and is echoed.
 *
 * Authentication (issue 12): the UART is shared with the EL1 host, which can print stream
 * lines of its own (a forged or replayed stream). Each run draws a fresh 32-byte key
 * (libsodium randombytes) and loads it with -device loader into KCore's memory at
 * EL2_STREAMKEY_PA, which the host's stage 2 never maps; the image wipes it there before any
 * host code runs. Every HLBEGIN starts a candidate stream; only one whose HLMAC verifies is
 * KCore's. Stream lines outside a candidate and candidates whose HLMAC does not verify (or
 * that a later HLBEGIN cuts off) are counted as forged, and any forgery fails the run
 * (--expect-forgery inverts that for the forging initramfs variant).
 *
 * Verdict: PASS iff QEMU exits 0 through semihosting (every host CPU's own test passed and
 * none halted), the stream is complete and intact, and the check holds. A hang is caught by
 * --timeout. Prints the trap counts per CPU and a final "RESULT: PASS|FAIL (...)" line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <sodium.h>

#include "cli.h"
#include "hl_check.h"
#include "hl_olog.h"
#include "hl_file.h"
#include "hl_pgtable.h"
#include "kcore.h"
#include "arch/aarch64/el2/image/layout.h"   /* LINUX_*_PA: where --linux loads its inputs */

#define MAX_LINE (2 * HL_REC_MAX + 64)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hyplog boot [--smp N] [--image ELF] [--log FILE] [--timeout SEC] [--qemu PATH]\n"
		"\n"
		"Boot the EL2 image on qemu-system-aarch64 (-M virt,virtualization=on -cpu max -m 1024 (--linux: 2048)\n"
		"-nographic -nic none -semihosting), with the engine and KCore's trap layer at EL2 and an\n"
		"EL1 host test kernel (and its guests) on every CPU. At the end the image streams every\n"
		"object log over the UART; they are written to FILE (the format of `hyplog check`) and\n"
		"checked. Prints the trap counts per CPU, the verdict and a RESULT: line.\n"
		"\n"
		"  --smp N         CPUs (default 4)\n"
		"  --image ELF     the image (default: $HYPLOG_EL2_IMAGE, else\n"
		"                  build-aarch64/arch/aarch64/el2/image/hyplog-el2.elf beside this binary's\n"
		"                  build directory or in the current directory)\n"
		"  --log FILE      where the log file goes (default hyplog-boot.log)\n"
		"  --timeout SEC   boot-to-stream limit (default 600)\n"
		"  --qemu PATH     qemu-system-aarch64\n"
		"  --quiet         do not echo the console\n"
		"  --min-traps N   also fail unless every CPU took >= N traps to EL2 and every trap kind\n"
		"                  the host kernel drives (all but irq) occurred on every CPU (--linux: the\n"
		"                  count only; Linux drives what its workload does)\n"
		"  --linux         boot Debian's arm64 kernel as the EL1 host instead of the test kernel\n"
		"                  (image hyplog-el2-linux.elf; Image, initramfs.cpio and linux-host.dtb\n"
		"                  from scripts/linux-fetch, loaded at layout.h's LINUX_*_PA): pass iff its\n"
		"                  init saw --smp CPUs and powered off, no host access was skipped, and\n"
		"                  the check holds. Prints the kernel's version string. Its logs are\n"
		"                  read by hyplog-linux (s2page over all 2048 MiB), which a hyplog\n"
		"                  built with another RAM size runs from its own directory\n"
		"  --linux-dir DIR scripts/linux-fetch's output (default $HYPLOG_LINUX_DIR, else build-linux)\n"
		"  --linux-variant V   boot build-linux's initramfs-V.cpio with linux-host-V.dtb instead\n"
		"                  (scripts/linux-fetch: 'forge', whose init prints a forged log stream)\n"
		"  --expect-violation  invert the verdict of the check (for an image built with a fault\n"
		"                  switch): pass iff the run completes and the check finds a violation\n"
		"  --transcript FILE  also write every line QEMU printed (console and stream) to FILE\n"
		"  --expect-forgery    pass iff forged stream lines were seen on the console and refused,\n"
		"                  and KCore's own (authenticated) stream passes everything else\n"
		"  --min-shards N  also fail unless the image's refinement map (s2page and npt(host) in\n"
		"                  shards, issue 11) has >= N shards\n"
		"\n"
		"The stream is authenticated: each run loads a fresh random key into KCore's memory\n"
		"(-device loader) and only a stream whose HMAC verifies under it is KCore's; any other\n"
		"stream line on the console is a forgery and fails the run.\n"
		"\n"
		"exit: 0 pass, 1 failure (host test, halt, check violation, hang, timeout), 2 usage\n");
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *default_image(char *buf, size_t n)
{
	const char *env = getenv("HYPLOG_EL2_IMAGE");
	const char *rel = "build-aarch64/arch/aarch64/el2/image/hyplog-el2.elf";
	char exe[PATH_MAX - 64];
	ssize_t k;

	if (env && *env)
		return env;
	k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (k > 0) {
		exe[k] = 0;
		char *s = strrchr(exe, '/');
		/* hyplog lives in <root>/build-xxx/; the image in <root>/build-aarch64/... */
		for (int up = 0; up < 3 && s; up++) {
			*s = 0;
			snprintf(buf, n, "%s/%s", exe, rel);
			if (access(buf, R_OK) == 0)
				return buf;
			s = strrchr(exe, '/');
		}
	}
	snprintf(buf, n, "%s", rel);
	return buf;
}

#ifdef HL_RAM_MIB_OVERRIDE
_Static_assert(HL_CFG_RAM_MIB == LINUX_QEMU_RAM_MIB, "hyplog-linux: meson.build linux_ram_mib != layout.h LINUX_QEMU_RAM_MIB");
#endif

/* --linux from a build whose s2page is not the Linux machine's RAM (issue 12): the sizes are
 * build-time, so the reader of the Linux image's logs is hyplog-linux, built beside this
 * binary with RAM = LINUX_QEMU_RAM_MIB (meson.build). argv is cmd_boot's ("boot", ...). */
static __attribute__((unused)) int linux_reexec(int argc, char **argv)
{
	int rc = cli_exec_linux("boot --linux", argc, argv);   /* returns only if it cannot run it */

	printf("RESULT: FAIL (no hyplog-linux)\n");
	return rc;
}

/* ---- the Linux image's stream in memory (issue 12) -----------------------------------------
 * The image writes its stream (the same lines) into KCore's memory and prints `HLDUMP <pa>
 * <len>`; QEMU runs with a QMP socket, over which we stop the machine, copy the buffer out
 * (pmemsave) and quit. The Linux host can print an HLDUMP line of its own: the lines we read
 * are authenticated like console lines (a forgery fails the run, at worst it ends the run
 * early). */
struct qmp {
	int fd;
	char buf[4096];
	size_t len;
};

/* one reply line: {"return": ...} or {"error": ...} (events are skipped); 0 for a return */
static int qmp_reply(struct qmp *q, double deadline, char *out, size_t outn)
{
	for (;;) {
		char *nl = memchr(q->buf, '\n', q->len);
		if (nl) {
			size_t k = (size_t)(nl - q->buf) + 1;
			bool ret = strstr(q->buf, "\"return\"") && (size_t)(strstr(q->buf, "\"return\"") - q->buf) < k;
			bool err = strstr(q->buf, "\"error\"") && (size_t)(strstr(q->buf, "\"error\"") - q->buf) < k;
			if (out && (ret || err))
				snprintf(out, outn, "%.*s", (int)k, q->buf);
			memmove(q->buf, q->buf + k, q->len - k);
			q->len -= k;
			if (ret || err)
				return ret ? 0 : -1;
			continue;
		}
		if (q->len == sizeof(q->buf))
			q->len = 0;   /* an over-long event: dropped */
		struct pollfd p = { q->fd, POLLIN, 0 };
		double left = deadline - now();
		if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			return -1;
		ssize_t n = read(q->fd, q->buf + q->len, sizeof(q->buf) - 1 - q->len);
		if (n <= 0)
			return -1;
		q->len += (size_t)n;
		q->buf[q->len] = 0;
	}
}

static int qmp_cmd(struct qmp *q, const char *cmd, double deadline, char *out, size_t outn)
{
	size_t n = strlen(cmd);
	if (write(q->fd, cmd, n) != (ssize_t)n)
		return -1;
	return qmp_reply(q, deadline, out, outn);
}

/* connect, stop QEMU, copy [pa, pa + len) to path: 0 on success (why in err); q stays open
 * (on failure too, when connected) for qmp_end */
static int qmp_dump(struct qmp *qp, const char *sock, uint64_t pa, uint64_t len, const char *path, char *err,
		    size_t errn)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct qmp q = { .fd = -1 };
	double deadline = now() + 60;
	char cmd[PATH_MAX + 200], out[512] = "";
	int rc = -1;

	qp->fd = -1;
	if (strlen(sock) >= sizeof(a.sun_path)) {
		snprintf(err, errn, "QMP socket path too long");
		return -1;
	}
	memcpy(a.sun_path, sock, strlen(sock) + 1);
	for (int i = 0; i < 100 && q.fd < 0; i++) {
		q.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (q.fd >= 0 && connect(q.fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
			close(q.fd);
			q.fd = -1;
			usleep(50000);
		}
	}
	if (q.fd < 0) {
		snprintf(err, errn, "cannot connect to QEMU's QMP socket %.300s", sock);
		return -1;
	}
	/* the greeting ({"QMP": ...}) has no "return": read it with the first command's reply */
	if (qmp_cmd(&q, "{\"execute\": \"qmp_capabilities\"}\n", deadline, out, sizeof(out)) ||
	    qmp_cmd(&q, "{\"execute\": \"stop\"}\n", deadline, out, sizeof(out))) {
		snprintf(err, errn, "QMP: %.300s", out[0] ? out : "no answer");
		goto done;
	}
	snprintf(cmd, sizeof(cmd), "{\"execute\": \"pmemsave\", \"arguments\": {\"val\": %llu, \"size\": %llu, "
		 "\"filename\": \"%s\"}}\n", (unsigned long long)pa, (unsigned long long)len, path);
	if (qmp_cmd(&q, cmd, deadline, out, sizeof(out))) {
		snprintf(err, errn, "QMP pmemsave: %.300s", out[0] ? out : "no answer");
		goto done;
	}
	rc = 0;
done:
	*qp = q;
	return rc;
}

/* quit QEMU (KCore's stream is read) or let it go on (cont: the HLDUMP line was not KCore's) */
static void qmp_end(struct qmp *q, bool quit)
{
	if (q->fd < 0)
		return;
	(void)qmp_cmd(q, quit ? "{\"execute\": \"quit\"}\n" : "{\"execute\": \"cont\"}\n", now() + 10, NULL, 0);
	close(q->fd);
	q->fd = -1;
}

struct boot {
	struct hl_engine *e;
	unsigned ncpus;
	bool began, ended, bad;
	char why[256];
	unsigned cur_obj;
	uint64_t cur_n, cur_bytes, cur_first;
	/* HLBEGIN's configuration and the map the HLMAP/HLSHARD lines build (the engine is made
	 * once the map is complete) */
	struct hl_engine_cfg cfg;
	struct hl_refine ref;
	unsigned map_shards;         /* HLSHARD lines announced by HLMAP */
	bool have_map;
	uint64_t want_n[HL_OBJ_END], want_bytes[HL_OBJ_END];
	uint64_t live[HL_OBJ_END];
	bool have_obj[HL_OBJ_END];
	uint64_t got_n[HL_OBJ_END], got_bytes[HL_OBJ_END];
	uint64_t total;
	uint64_t hvc_errors_total;   /* hypercalls refused + host accesses skipped, all CPUs */
	uint64_t skipped_total;      /* host accesses KCore skipped (HLCPU skipped=, the Linux image:
				      * its hypercall errors include hyplog-kvm.ko's forbidden attempts) */
	bool have_skipped;
	uint32_t all_crc;
	char cpu_line[HL_NR_CPUS][400];
	unsigned halted_cpus, host_fail;
	uint64_t traps_total[HL_NR_CPUS];
	unsigned missing_kind[HL_NR_CPUS];   /* trap kinds (not irq) that never occurred */
	/* kept across candidate streams (boot_restart) */
	uint8_t key[crypto_auth_hmacsha256_KEYBYTES];
	crypto_auth_hmacsha256_state mac;
	bool authed;                 /* a candidate's HLMAC verified: it is KCore's stream */
	uint64_t forged_lines, forged_streams, late_lines;
};

/* a new candidate stream: forget the previous one's parse state, keep the key and counters */
static void boot_restart(struct boot *b)
{
	uint8_t key[sizeof(b->key)];
	uint64_t fl = b->forged_lines, fs = b->forged_streams;

	memcpy(key, b->key, sizeof(key));
	if (b->e)
		hl_engine_free(b->e);
	memset(b, 0, sizeof(*b));
	memcpy(b->key, key, sizeof(key));
	sodium_memzero(key, sizeof(key));
	b->forged_lines = fl;
	b->forged_streams = fs;
}

static int bad(struct boot *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct boot *b, const char *fmt, ...)
{
	va_list ap;
	if (!b->bad) {
		va_start(ap, fmt);
		vsnprintf(b->why, sizeof(b->why), fmt, ap);
		va_end(ap);
	}
	b->bad = true;
	return -1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int on_begin(struct boot *b, const char *l)
{
	unsigned v, n, mv, vc, nc, rm, hp, vp, cp, sp, ie, rh, nk;
	int used = 0;
	struct hl_engine_cfg cfg;

	if (sscanf(l, "HLBEGIN %u %u %u %u %u %u %u %u %u %u %u %u %u%n", &v, &n, &mv, &vc, &nc, &rm, &hp, &vp, &cp,
		   &sp, &ie, &rh, &nk, &used) != 13 || nk > HL_MAX_KCORE_RANGES)
		return bad(b, "malformed HLBEGIN line");
	if (v != 3)
		return bad(b, "HLBEGIN version %u: this hyplog reads version 3 (the refinement map, issue 11)", v);
	/* version 2: KCore's own RAM ranges (issue 12), COREVISOR's in s2page from the start;
	 * version 3: the HLMAP line follows */
	hl_engine_cfg_default(&cfg);
	cfg.kcore.n = nk;
	for (unsigned i = 0; i < nk; i++) {
		unsigned long long base, size;
		int k = 0;
		if (sscanf(l + used, " %llx %llx%n", &base, &size, &k) != 2)
			return bad(b, "malformed HLBEGIN line (KCore range %u)", i);
		used += k;
		cfg.kcore.r[i].base = base;
		cfg.kcore.r[i].size = size;
	}
	if (!hl_kcore_ranges_valid(&cfg.kcore))
		return bad(b, "HLBEGIN: KCore's ranges are unaligned, empty, outside s2page RAM or out of order");
	if (mv != HL_MAX_VM || vc != HL_VCPU_PER_VM || nc != HL_NR_CPUS || rm != HL_CFG_RAM_MIB ||
	    hp != HL_CFG_HOST_PMD_PAGES || vp != HL_CFG_VM_PMD_PAGES || cp != HL_CFG_CORE_PMD_PAGES ||
	    sp != HL_CFG_SPT_PMD_PAGES || ie != HL_ID_END || rh != sizeof(struct hl_rec))
		return bad(b, "the image was built with another configuration (max_vm %u ram_mib %u ...)", mv, rm);
	if (n < 1 || n > HL_NR_CPUS)
		return bad(b, "HLBEGIN: %u CPUs", n);
	cfg.ncpus = n;
	cfg.with_ram = false;
	b->cfg = cfg;
	b->ncpus = n;
	b->began = true;
	return 0;
}

/* the engine, once the map is complete: built from HLBEGIN's configuration and HLMAP's sizes
 * (the image's own construction), and the streamed map must be exactly its map: shard ids,
 * parents, residual flags and ranges. A map the engine would not build is rejected here (the
 * log file, the replay and the oracle all assume the engine's routing) */
static int map_done(struct boot *b)
{
	const struct hl_refine *w;

	if (hl_refine_finish(&b->ref))
		return bad(b, "HLSHARD: the refinement map is not a refinement (two shards own a byte, or s2page has a gap)");
	b->e = hl_engine_new(&b->cfg);
	if (!b->e)
		return bad(b, "HLMAP: no engine for s2page shards of %llu pages, npt(host) shards of %llu MiB",
			   (unsigned long long)b->cfg.s2page_shard_pages, (unsigned long long)b->cfg.npt_host_shard_mib);
	w = &b->e->ref;
	if (w->nshards != b->ref.nshards || memcmp(w->ids, b->ref.ids, sizeof(w->ids[0]) * w->nshards))
		return bad(b, "HLSHARD: the map's shards differ from the engine's for these sizes (%u shards, want %u)",
			   b->ref.nshards, w->nshards);
	for (unsigned k = 0; k < w->nshards; k++) {
		unsigned i = w->ids[k] - HL_ID_END, p = w->sh[i].parent;
		if (b->ref.sh[i].parent != p || b->ref.sh[i].nranges != w->sh[i].nranges ||
		    b->ref.parent[p].residual != w->parent[p].residual ||
		    memcmp(&b->ref.ranges[b->ref.sh[i].first], &w->ranges[w->sh[i].first],
			   sizeof(struct hl_range) * w->sh[i].nranges))
			return bad(b, "HLSHARD %u: not the engine's shard (parent, residual flag or ranges differ)", w->ids[k]);
	}
	b->have_map = true;
	return 0;
}

static int on_map(struct boot *b, const char *l)
{
	unsigned oe, ns;
	unsigned long long pages, mib;

	if (b->have_map || b->map_shards || b->ref.nshards)
		return bad(b, "a second HLMAP line");
	if (sscanf(l, "HLMAP %u %u %llu %llu", &oe, &ns, &pages, &mib) != 4)
		return bad(b, "malformed HLMAP line");
	if (oe != HL_OBJ_END || ns > HL_SHARD_MAX)
		return bad(b, "HLMAP: object-ID bound %u, %u shards (this hyplog: %u, at most %u)", oe, ns,
			   HL_OBJ_END, HL_SHARD_MAX);
	b->cfg.s2page_shard_pages = pages;
	b->cfg.npt_host_shard_mib = mib;
	hl_refine_init(&b->ref);
	b->map_shards = ns;
	return ns ? 0 : map_done(b);
}

static int on_shard(struct boot *b, const char *l)
{
	unsigned id, parent, residual, nr;
	int used = 0;
	struct hl_range rg[HL_REFINE_MAX_RANGES];

	if (b->have_map || b->ref.nshards >= b->map_shards)
		return bad(b, "HLSHARD outside the map (no HLMAP, or more shards than announced)");
	if (sscanf(l, "HLSHARD %u %u %u %u%n", &id, &parent, &residual, &nr, &used) != 4 || residual > 1 || nr == 0 ||
	    nr > HL_REFINE_MAX_RANGES)
		return bad(b, "malformed HLSHARD line");
	for (unsigned i = 0; i < nr; i++) {
		unsigned long long off, len;
		int k = 0;
		if (sscanf(l + used, " %llx:%llx%n", &off, &len, &k) != 2)
			return bad(b, "HLSHARD %u: malformed range %u", id, i);
		used += k;
		rg[i] = (struct hl_range){ off, len };
	}
	if (l[used])
		return bad(b, "HLSHARD %u: trailing text", id);
	if (hl_refine_add_shard(&b->ref, id, parent, rg, nr, residual))
		return bad(b, "HLSHARD %u of object %u: not a valid shard (id, parent, ranges inside the parent, ascending "
			   "and disjoint, ids ascending)", id, parent);
	return b->ref.nshards == b->map_shards ? map_done(b) : 0;
}

/* one of KCore's compiled-in keys: into the reading engine's configuration, which the log
 * file's header copies, so that `hyplog check` recomputes verdicts with the image's keys */
static int on_key(struct boot *b, const char *l)
{
	unsigned idx;
	char hex[80];
	struct hl_engine_cfg *cfg = &b->e->cfg;

	if (sscanf(l, "HLKEY %u %79s", &idx, hex) != 2 || strlen(hex) != 64)
		return bad(b, "malformed HLKEY line");
	if (idx != cfg->nkeys || idx >= HL_MAX_KEYS)
		return bad(b, "HLKEY %u out of order or past HL_MAX_KEYS (%u)", idx, HL_MAX_KEYS);
	for (unsigned i = 0; i < 32; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return bad(b, "HLKEY %u: bad hex", idx);
		cfg->kcore_keys[idx][i] = (uint8_t)(hi << 4 | lo);
	}
	cfg->nkeys++;
	return 0;
}

/* the table object's initial image with the image's real pool PA, as a snapshot at seq 0 */
static int on_init(struct boot *b, const char *l)
{
	unsigned o;
	unsigned long long pa;
	struct hl_pool_layout lay;
	size_t size;
	uint8_t *img;
	int rc;

	if (sscanf(l, "HLINIT %u %llx", &o, &pa) != 2 || !(o == HL_SPT_ID || (o >= HL_NPT_ID && o < HL_INFO_ID)) ||
	    (pa & (HL_PAGE_SIZE - 1)))
		return bad(b, "malformed HLINIT line");
	size = b->e->st->img[o].size;
	img = calloc(1, size);
	if (!img)
		return bad(b, "out of memory");
	if (o == HL_SPT_ID) {
		hl_spt_layout(&lay);
		hl_pt_init(img, &lay, HL_INVALID, pa, 3);
	} else {
		hl_pool_layout_of(o - HL_NPT_ID, &lay);
		hl_pt_init(img, &lay, o - HL_NPT_ID, pa, 4);
		/* a sharded host table starts with its RAM tables preallocated (issue 11) */
		if (o == HL_NPT_OBJ(HL_HOSTVISOR) && hl_refine_sharded(&b->e->ref, o))
			hl_npth_prealloc(img);
	}
	rc = 0;
	if (hl_refine_sharded(&b->e->ref, o)) {
		/* each shard's seq-0 image: its ranges of this one, as a snapshot at seq 0; the
		 * residual keeps the rest, the shards' bytes zero (the log file's convention) */
		const struct hl_refine *r = &b->e->ref;
		for (unsigned k = 0; k < r->nshards && !rc; k++) {
			unsigned id = r->ids[k], i = id - HL_ID_END;
			uint8_t *sb;
			size_t at = 0;
			if (r->sh[i].parent != o)
				continue;
			if (!(sb = malloc(r->sh[i].size))) {
				rc = -1;
				break;
			}
			for (unsigned j = 0; j < r->sh[i].nranges; j++) {
				const struct hl_range *g = &r->ranges[r->sh[i].first + j];
				memcpy(sb + at, img + g->off, g->len);
				at += g->len;
			}
			rc = hl_log_set_snapshot(&b->e->logs[id], 0, sb, r->sh[i].size);
			free(sb);
		}
		for (unsigned k = 0; k < r->nshards; k++) {
			unsigned i = r->ids[k] - HL_ID_END;
			for (unsigned j = 0; r->sh[i].parent == o && j < r->sh[i].nranges; j++)
				memset(img + r->ranges[r->sh[i].first + j].off, 0, r->ranges[r->sh[i].first + j].len);
		}
	}
	if (!rc)
		rc = hl_log_set_snapshot(&b->e->logs[o], 0, img, size);
	free(img);
	return rc ? bad(b, "out of memory") : 0;
}

static int on_obj(struct boot *b, const char *l)
{
	unsigned o;
	unsigned long long first, n, bytes, dig;

	if (sscanf(l, "HLOBJ %u %llu %llu %llu %llx", &o, &first, &n, &bytes, &dig) != 5 || o < 1 || o >= HL_OBJ_END ||
	    (o >= HL_ID_END && !hl_refine_is_shard(&b->e->ref, o)) || b->have_obj[o])
		return bad(b, "malformed HLOBJ line");
	if (first != 1)
		return bad(b, "object %u: log starts at seq %llu (the image takes no checkpoints)", o, first);
	b->cur_obj = o;
	b->have_obj[o] = true;
	b->want_n[o] = n;
	b->want_bytes[o] = bytes;
	b->live[o] = dig;
	return 0;
}

static int on_rec(struct boot *b, char *l)
{
	uint64_t buf[HL_REC_MAX / 8];
	uint8_t *p = (uint8_t *)buf;
	char *hex = l + 6, *sp = strchr(hex, ' ');
	size_t nhex, len;
	unsigned long crc;
	unsigned o = b->cur_obj;
	const struct hl_rec *r = (const struct hl_rec *)buf;

	if (!o || !sp)
		return bad(b, "HLREC outside an object");
	nhex = (size_t)(sp - hex);
	len = nhex / 2;
	if (nhex % 2 || len < sizeof(struct hl_rec) || len > sizeof(buf))
		return bad(b, "object %u: record of bad length", o);
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return bad(b, "object %u: bad hex in a record", o);
		p[i] = (uint8_t)(hi << 4 | lo);
	}
	crc = strtoul(sp + 1, NULL, 16);
	if (crc32(0, p, (uInt)len) != crc)
		return bad(b, "object %u: record %llu checksum mismatch", o, (unsigned long long)b->got_n[o] + 1);
	if (r->len != len || r->obj != o || r->seq != b->got_n[o] + 1)
		return bad(b, "object %u: record %llu has len %u obj %u seq %llu", o,
			   (unsigned long long)b->got_n[o] + 1, r->len, r->obj, (unsigned long long)r->seq);
	if (!hl_log_ensure(&b->e->logs[o], r->len))
		return bad(b, "out of memory");
	hl_log_append(&b->e->logs[o], r);
	b->got_n[o]++;
	b->got_bytes[o] += len;
	b->total++;
	b->all_crc = (uint32_t)crc32(b->all_crc, p, (uInt)len);
	return 0;
}

static int on_cpu(struct boot *b, const char *l)
{
	unsigned c, halted;
	unsigned long long status, checks;
	const char *t;

	if (sscanf(l, "HLCPU %u %u %llu %llu", &c, &halted, &status, &checks) != 4 || c >= b->ncpus)
		return bad(b, "malformed HLCPU line");
	snprintf(b->cpu_line[c], sizeof(b->cpu_line[c]), "%s", l + 6);
	if (halted) {
		b->halted_cpus++;
		b->e->cpus[c].halted = true;
	}
	if (status)
		b->host_fail++;
	/* exceptions taken to EL2: host hypercalls (VCPU_RUN included), host stage-2 faults,
	 * emulated SMMU accesses and VM exits (pv, sys64, guest_s2, wfx, irq, poweroff are
	 * kinds of VM exit) */
	for (t = strchr(l, '='); t; t = strchr(t + 1, '=')) {
		const char *k = t;
		while (k > l && k[-1] != ' ')
			k--;
		if (!strncmp(k, "skipped=", 8)) {   /* not a trap kind: skipped host accesses */
			b->skipped_total += strtoull(t + 1, NULL, 10);
			b->have_skipped = true;
			continue;
		}
		if (!strncmp(k, "hvc=", 4) || !strncmp(k, "host_s2=", 8) || !strncmp(k, "host_mmio=", 10) ||
		    !strncmp(k, "vm_exit=", 8) || !strncmp(k, "psci=", 5))
			b->traps_total[c] += strtoull(t + 1, NULL, 10);
		if (strncmp(k, "irq=", 4) && strtoull(t + 1, NULL, 10) == 0)
			b->missing_kind[c]++;
	}
	{
		unsigned cc, hh;
		unsigned long long st, ck, refused, mrej, herr;
		const char *kinds = strstr(l, "hvc=");
		if (sscanf(l, "HLCPU %u %u %llu %llu %llu %llu %llu", &cc, &hh, &st, &ck, &refused, &mrej, &herr) == 7 &&
		    (b->hvc_errors_total += herr, true))
			snprintf(b->cpu_line[c], sizeof(b->cpu_line[c]),
				 "%s; host test %s (%llu checks)%s, refused by EL2 %llu, SMMU writes refused %llu, "
				 "hypercall errors %llu", kinds ? kinds : "", st ? "FAILED" : "passed", ck,
				 hh ? ", HALTED" : "", refused, mrej, herr);
	}
	return 0;
}

static int on_end(struct boot *b, const char *l)
{
	unsigned long long n;
	unsigned crc;

	if (sscanf(l, "HLEND %llu %x", &n, &crc) != 2)
		return bad(b, "malformed HLEND line");
	if (n != b->total || crc != b->all_crc)
		return bad(b, "stream totals differ: %llu records crc %08x, got %llu crc %08x", n, crc,
			   (unsigned long long)b->total, b->all_crc);
	for (unsigned o = 1; o < HL_OBJ_END; o++)
		if ((o < HL_ID_END || hl_refine_is_shard(&b->e->ref, o)) &&
		    (!b->have_obj[o] || b->got_n[o] != b->want_n[o] || b->got_bytes[o] != b->want_bytes[o]))
			return bad(b, "object %u: %llu records announced, %llu received", o,
				   (unsigned long long)b->want_n[o], (unsigned long long)b->got_n[o]);
	b->ended = true;
	return 0;
}

static bool is_stream_line(const char *l)
{
	static const char *const kinds[] = { "HLBEGIN ", "HLREC ", "HLKEY ", "HLINIT ", "HLOBJ ", "HLCPU ", "HLEND ",
					     "HLMAC ", "HLMAP ", "HLSHARD " };
	for (unsigned i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strncmp(l, kinds[i], strlen(kinds[i])))
			return true;
	return false;
}

static void mac_line(struct boot *b, const char *l)
{
	crypto_auth_hmacsha256_update(&b->mac, (const unsigned char *)l, strlen(l));
	crypto_auth_hmacsha256_update(&b->mac, (const unsigned char *)"\n", 1);
}

/* HLMAC: does the candidate stream carry this run's key? */
static void on_mac(struct boot *b, const char *l)
{
	uint8_t want[crypto_auth_hmacsha256_BYTES], got[crypto_auth_hmacsha256_BYTES];
	size_t n = 0;
	const char *end = NULL;

	crypto_auth_hmacsha256_final(&b->mac, want);
	if (sodium_hex2bin(got, sizeof(got), l + 6, strlen(l + 6), NULL, &n, &end) == 0 && n == sizeof(got) &&
	    *end == 0 && sodium_memcmp(want, got, sizeof(got)) == 0) {
		b->authed = true;   /* KCore's stream: from here on every HL line is ignored */
		return;
	}
	b->forged_streams++;
	boot_restart(b);
}

static void on_line(struct boot *b, char *l, bool quiet)
{
	size_t n = strlen(l);

	while (n && (l[n - 1] == '\r' || l[n - 1] == '\n'))
		l[--n] = 0;
	if (!is_stream_line(l)) {
		if (!quiet)
			printf("  | %s\n", l);
		return;
	}
	if (b->authed) {   /* after KCore's stream: the host cannot have stopped, or replays */
		b->late_lines++;
		return;
	}
	if (!strncmp(l, "HLBEGIN ", 8)) {
		if (b->began) {   /* the previous candidate never authenticated */
			b->forged_streams++;
			boot_restart(b);
		}
		crypto_auth_hmacsha256_init(&b->mac, b->key, sizeof(b->key));
		mac_line(b, l);
		on_begin(b, l);
		b->began = true;   /* a candidate even when malformed: its lines are its own */
		return;
	}
	if (!b->began) {
		b->forged_lines++;   /* KCore writes no stream line outside a stream */
		return;
	}
	if (!strncmp(l, "HLMAC ", 6)) {
		on_mac(b, l);
		return;
	}
	mac_line(b, l);
	if (b->bad)
		return;
	if (!strncmp(l, "HLMAP ", 6)) {
		on_map(b, l);
		return;
	}
	if (!strncmp(l, "HLSHARD ", 8)) {
		on_shard(b, l);
		return;
	}
	if (!b->have_map) {   /* every other line needs the engine, which needs the map */
		bad(b, "%.8s line before the refinement map (HLMAP/HLSHARD) is complete", l);
		return;
	}
	if (!strncmp(l, "HLREC ", 6))
		on_rec(b, l);
	else if (!strncmp(l, "HLKEY ", 6))
		on_key(b, l);
	else if (!strncmp(l, "HLINIT ", 7))
		on_init(b, l);
	else if (!strncmp(l, "HLOBJ ", 6))
		on_obj(b, l);
	else if (!strncmp(l, "HLCPU ", 6))
		on_cpu(b, l);
	else if (!strncmp(l, "HLEND ", 6))
		on_end(b, l);
}

struct log_size {
	uint64_t n, bytes;
};

static int log_size_visit(const struct hl_rec *r, void *arg)
{
	struct log_size *ls = arg;
	ls->n++;
	ls->bytes += r->len;
	return 0;
}

/* per-object log sizes, one line, objects with records only */
static void print_log_sizes(struct hl_engine *e)
{
	printf("logs:");
	hl_rcu_reader_ensure();
	hl_rcu_read_lock();
	for (unsigned o = 1; o < HL_OBJ_END; o++) {
		struct log_size ls = { 0, 0 };
		if (o >= HL_ID_END && !hl_refine_is_shard(&e->ref, o))
			continue;
		char name[24];
		hl_log_foreach(&e->logs[o], log_size_visit, &ls);
		if (ls.n)
			printf(" %s %llu rec/%.1f KiB;", hl_obj_name(o, name, sizeof(name)), (unsigned long long)ls.n,
			       (double)ls.bytes / 1024.0);
	}
	hl_rcu_read_unlock();
	printf("\n");
}

int cmd_boot(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "smp", required_argument, NULL, 's' },
		{ "image", required_argument, NULL, 'i' },
		{ "log", required_argument, NULL, 'l' },
		{ "timeout", required_argument, NULL, 't' },
		{ "qemu", required_argument, NULL, 'q' },
		{ "quiet", no_argument, NULL, 'Q' },
		{ "min-traps", required_argument, NULL, 'm' },
		{ "expect-violation", no_argument, NULL, 'V' },
		{ "linux", no_argument, NULL, 'L' },
		{ "linux-dir", required_argument, NULL, 'D' },
		{ "linux-variant", required_argument, NULL, 'W' },
		{ "expect-forgery", no_argument, NULL, 'F' },
		{ "transcript", required_argument, NULL, 'T' },
		{ "min-shards", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long smp = 4, timeout = 600, min_traps = 0, min_shards = 0;
	bool expect_violation = false, linux_host = false, expect_forgery = false;
	const char *lx_variant = NULL, *transcript = NULL;
	FILE *tf = NULL;
	char lx_initrd_name[64] = "initramfs.cpio", lx_dtb_name[64] = "linux-host.dtb";
	char keyarg[4][96];
	const char *linux_dir = getenv("HYPLOG_LINUX_DIR");
	char lx_kernel[PATH_MAX + 64], lx_initrd[PATH_MAX + 64], lx_dtb[PATH_MAX + 64], lx_version[200] = "";
	int lx_cpus = -1, lx_work_done = 0;
	/* hyplog-kvm.ko (scripts/linux-module): VMs run by a Linux driver through KCore's ABI */
	bool kvm_loaded = false;
	long long kvm_vms = -1, kvm_runs = -1, kvm_refused = -1, kvm_failed = -1;
	char kvm_line[320] = "";
	const char *image = NULL, *log = "hyplog-boot.log", *qemu = "qemu-system-aarch64";
	char imgbuf[PATH_MAX], smpbuf[16], accel[64], membuf[16];
	char qdir[] = "/tmp/hyplog-boot.XXXXXX", qsock[PATH_MAX], qarg[PATH_MAX + 40], qdump[PATH_MAX];
	bool dumped = false;
	double t_dump = 0;
	bool quiet = false, timed_out = false;
	struct boot *b;
	int c, pfd[2], status = 0, qrc = -1, rc = HL_EXIT_MISMATCH;
	pid_t pid;
	double t0 = now(), t_stream = 0, t_check = 0;
	char *line = NULL;
	size_t lcap = 0;
	FILE *in;
	long host_cores;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (cli_parse_u64("--smp", optarg, 1, HL_NR_CPUS < 8 ? HL_NR_CPUS : 8, &smp))
				return HL_EXIT_USAGE;
			break;
		case 'i': image = optarg; break;
		case 'l': log = optarg; break;
		case 't':
			if (cli_parse_u64("--timeout", optarg, 1, 86400, &timeout))
				return HL_EXIT_USAGE;
			break;
		case 'q': qemu = optarg; break;
		case 'Q': quiet = true; break;
		case 'm':
			if (cli_parse_u64("--min-traps", optarg, 0, 1ull << 40, &min_traps))
				return HL_EXIT_USAGE;
			break;
		case 'V': expect_violation = true; break;
		case 'L': linux_host = true; break;
		case 'D': linux_dir = optarg; break;
		case 'W':
			if (!*optarg || strlen(optarg) > 32 || strspn(optarg, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(optarg)) {
				fprintf(stderr, "hyplog boot: --linux-variant: want a short [a-z0-9] name\n");
				return HL_EXIT_USAGE;
			}
			lx_variant = optarg;
			break;
		case 'F': expect_forgery = true; break;
		case 'T': transcript = optarg; break;
		case 'S':
			if (cli_parse_u64("--min-shards", optarg, 0, HL_SHARD_MAX, &min_shards))
				return HL_EXIT_USAGE;
			break;
		case 'h': usage(stdout); return HL_EXIT_OK;
		default: usage(stderr); return HL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "hyplog boot: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return HL_EXIT_USAGE;
	}
#if HL_CFG_RAM_MIB != LINUX_QEMU_RAM_MIB
	if (linux_host)   /* the Linux image's logs need s2page over all of its RAM */
		return linux_reexec(argc, argv);
#endif
	if (!image) {
		image = default_image(imgbuf, sizeof(imgbuf));
		size_t il = strlen(image);
		if (linux_host && image == imgbuf && il >= 4 && il + 6 < sizeof(imgbuf))
			snprintf(imgbuf + il - 4, sizeof(imgbuf) - il + 4, "-linux.elf");   /* hyplog-el2-linux.elf */
	}
	if (linux_host) {
		const char *d = linux_dir && *linux_dir ? linux_dir : "build-linux";
		snprintf(lx_kernel, sizeof(lx_kernel), "loader,file=%s/Image,addr=%#x,force-raw=on", d, LINUX_IMAGE_PA);
		if (lx_variant) {
			snprintf(lx_initrd_name, sizeof(lx_initrd_name), "initramfs-%s.cpio", lx_variant);
			snprintf(lx_dtb_name, sizeof(lx_dtb_name), "linux-host-%s.dtb", lx_variant);
		}
		snprintf(lx_initrd, sizeof(lx_initrd), "loader,file=%s/%s,addr=%#x,force-raw=on", d, lx_initrd_name,
			 LINUX_INITRD_PA);
		snprintf(lx_dtb, sizeof(lx_dtb), "loader,file=%s/%s,addr=%#x,force-raw=on", d, lx_dtb_name, LINUX_DTB_PA);
		const char *need[] = { "Image", lx_initrd_name, lx_dtb_name };
		for (unsigned i = 0; i < 3; i++) {
			char f[PATH_MAX + 32];
			snprintf(f, sizeof(f), "%s/%s", d, need[i]);
			if (access(f, R_OK) != 0) {
				fprintf(stderr, "hyplog boot: --linux: no %s (run scripts/linux-fetch, or pass --linux-dir)\n", f);
				printf("RESULT: FAIL (no Linux inputs)\n");
				return HL_EXIT_USAGE;
			}
		}
	}
	if (access(image, R_OK) != 0) {
		fprintf(stderr, "hyplog boot: no image at %s (build it: scripts/test-aarch64, or pass --image)\n", image);
		printf("RESULT: FAIL (no EL2 image)\n");
		return HL_EXIT_USAGE;
	}
	{
		/* qemu would block on a FIFO until the timeout: only a regular file is an image */
		struct stat st;
		if (stat(image, &st) != 0 || !S_ISREG(st.st_mode)) {
			fprintf(stderr, "hyplog boot: --image %s is not a regular file\n", image);
			printf("RESULT: FAIL (no EL2 image)\n");
			return HL_EXIT_USAGE;
		}
	}
	/* multi-threaded TCG only when every vCPU has a host core */
	host_cores = sysconf(_SC_NPROCESSORS_ONLN);
	snprintf(accel, sizeof(accel), "tcg,thread=%s", host_cores >= (long)smp ? "multi" : "single");
	snprintf(smpbuf, sizeof(smpbuf), "%llu", smp);
	/* --linux: s2page covers all of QEMU's RAM, KCore's memory inside it (issue 12) */
	snprintf(membuf, sizeof(membuf), "%u", linux_host ? LINUX_QEMU_RAM_MIB : 1024);
	if (linux_host) {   /* QMP for the stream in memory (HLDUMP) */
		if (!mkdtemp(qdir)) {
			perror("hyplog boot: mkdtemp");
			return HL_EXIT_USAGE;
		}
		snprintf(qsock, sizeof(qsock), "%s/qmp.sock", qdir);
		snprintf(qarg, sizeof(qarg), "unix:%s,server=on,wait=off", qsock);
		snprintf(qdump, sizeof(qdump), "%s/stream", qdir);
	}
	b = calloc(1, sizeof(*b));
	if (!b || pipe(pfd) != 0) {
		perror("hyplog boot");
		return HL_EXIT_USAGE;
	}
	if (transcript && !(tf = fopen(transcript, "w"))) {
		fprintf(stderr, "hyplog boot: --transcript %s: %s\n", transcript, strerror(errno));
		return HL_EXIT_USAGE;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "hyplog boot: libsodium failed to initialise\n");
		return HL_EXIT_USAGE;
	}
	/* this run's stream key, 4 x 8 bytes little-endian into KCore's memory (layout.h) */
	randombytes_buf(b->key, sizeof(b->key));
	for (unsigned i = 0; i < 4; i++) {
		uint64_t w = 0;
		for (unsigned j = 0; j < 8; j++)
			w |= (uint64_t)b->key[8 * i + j] << (8 * j);
		snprintf(keyarg[i], sizeof(keyarg[i]), "loader,addr=%#x,data=%#llx,data-len=8",
			 EL2_STREAMKEY_PA + 8 * i, (unsigned long long)w);
	}
	printf("boot: %s -M virt,virtualization=on -cpu max -smp %s -m %s -accel %s -kernel %s\n", qemu, smpbuf, membuf,
	       accel, image);
	fflush(stdout);
	pid_t parent = getpid();
	pid = fork();
	if (pid < 0) {
		perror("hyplog boot: fork");
		return HL_EXIT_USAGE;
	}
	if (pid == 0) {
		char *args[32] = { (char *)qemu, "-M", "virt,virtualization=on", "-cpu", "max", "-smp", smpbuf, "-m", membuf,
				   "-nographic", "-nic", "none", "-accel", accel, "-kernel", (char *)image };
		char **a = &args[16];
		for (unsigned i = 0; i < 4; i++)
			*a++ = "-device", *a++ = keyarg[i];
		if (linux_host) {   /* the kernel, its initramfs and device tree: hyplog-el2-linux.elf */
			*a++ = "-device", *a++ = lx_kernel, *a++ = "-device", *a++ = lx_initrd;
			*a++ = "-device", *a++ = lx_dtb;
			*a++ = "-qmp", *a++ = qarg;
			/* no -semihosting: QEMU would serve it to Linux at EL1 too (HLT #0xF000 is
			 * taken by QEMU before EL2 could trap it); the image leaves by PSCI SYSTEM_OFF */
		} else {
			*a++ = "-semihosting";
		}
		*a = NULL;
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		setpgid(0, 0);
		/* QEMU runs in a group of its own (a terminal's ^C is ours to handle), so a
		 * timeout that kills us (meson, timeout(1): SIGKILL to our group) would leave it
		 * running, orphaned, a CPU busy for ever: it dies with us instead */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			_exit(127);
		execvp(qemu, args);
		fprintf(stderr, "hyplog boot: cannot run %s: %s\n", qemu, strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	in = fdopen(pfd[0], "r");
	for (;;) {
		struct pollfd p = { pfd[0], POLLIN, 0 };
		double left = t0 + (double)timeout - now();
		ssize_t n;
		if (left <= 0) {
			timed_out = true;
			break;
		}
		/* stdio may hold whole lines already: only poll when its buffer is empty */
		if (in->_IO_read_ptr >= in->_IO_read_end && poll(&p, 1, (int)(left * 1000) + 1) == 0)
			continue;
		n = getline(&line, &lcap, in);
		if (n < 0)
			break;
		if (tf)
			fwrite(line, 1, (size_t)n, tf);
		if (linux_host && !b->authed) {
			const char *v = strstr(line, "Linux version ");
			if (v && !lx_version[0])
				snprintf(lx_version, sizeof(lx_version), "%.*s", (int)strcspn(v, "\r\n"), v);
			if (!strncmp(line, "hyplog-linux: cpus ", 19))
				lx_cpus = atoi(line + 19);
			if (!strncmp(line, "hyplog-linux: cpu ", 18) && strstr(line, " workload done"))
				lx_work_done++;   /* the initramfs's per-CPU workload (scripts/linux-fetch) */
			if (strstr(line, "hyplog-kvm: ") && strstr(line, " image chunks, "))
				kvm_loaded = true;   /* the driver's load line: its summary must follow */
			if (!strncmp(line, "hyplog-kvm: summary ", 20)) {
				const char *r = strstr(line, " refused "), *fl = strstr(line, " failed ");
				snprintf(kvm_line, sizeof(kvm_line), "%.*s", (int)strcspn(line + 20, "\r\n"), line + 20);
				if (sscanf(line, "hyplog-kvm: summary vms %lld vcpu_runs %lld", &kvm_vms, &kvm_runs) != 2)
					kvm_vms = kvm_runs = -1;
				kvm_refused = r ? atoll(r + 9) : -1;
				kvm_failed = fl ? atoll(fl + 8) : -1;
			}
		}
		if (linux_host && !b->authed && !strncmp(line, "HLDUMP ", 7)) {
			/* the stream is in KCore's memory: stop QEMU, copy it out, read its lines as
			 * if they had come over the UART; then quit QEMU if they were KCore's stream
			 * (its HMAC verified), else let QEMU go on: Linux can print an HLDUMP line
			 * too, a forgery like any stream line it prints */
			unsigned long long pa, len;
			char why[400] = "";
			struct qmp q = { .fd = -1 };
			FILE *df = NULL;
			double td = now();
			if (!quiet)
				printf("  | %s", line);
			if (sscanf(line, "HLDUMP %llx %llu", &pa, &len) != 2 || len == 0 || len > (256ull << 20) ||
			    qmp_dump(&q, qsock, pa, len, qdump, why, sizeof(why)) || !(df = fopen(qdump, "r"))) {
				fprintf(stderr, "hyplog boot: an HLDUMP stream could not be read: %s\n",
					why[0] ? why : "malformed HLDUMP line");
				b->forged_lines++;
				unlink(qdump);
				qmp_end(&q, false);
				continue;
			}
			while ((n = getline(&line, &lcap, df)) >= 0) {
				if (tf)
					fwrite(line, 1, (size_t)n, tf);
				on_line(b, line, quiet);
			}
			fclose(df);
			unlink(qdump);
			if (!b->authed)
				b->forged_lines++;   /* no stream of KCore's there */
			qmp_end(&q, b->authed);
			if (b->authed) {
				dumped = true;
				t_dump = now() - td;
				if (!t_stream)
					t_stream = now();
			}
			continue;
		}
		on_line(b, line, quiet);
		if (b->authed && !t_stream)
			t_stream = now();
	}
	if (linux_host) {
		unlink(qsock);
		rmdir(qdir);
	}
	if (timed_out) {
		kill(pid, SIGKILL);
		fprintf(stderr, "hyplog boot: timeout after %llu s: killed QEMU (pid %d)\n", timeout, (int)pid);
	}
	if (waitpid(pid, &status, 0) == pid && WIFEXITED(status))
		qrc = WEXITSTATUS(status);
	fclose(in);
	free(line);
	if (tf && fclose(tf) != 0)
		fprintf(stderr, "hyplog boot: --transcript %s: write error\n", transcript);

	if (!t_stream)
		t_stream = now();
	printf("boot: QEMU exited %s%d after %.1f s\n", WIFEXITED(status) ? "with " : "by signal ",
	       WIFEXITED(status) ? qrc : WTERMSIG(status), t_stream - t0);
	if (dumped)
		printf("boot: the log stream came from KCore's memory (HLDUMP, QMP pmemsave) in %.2f s\n", t_dump);
	if (b->authed)
		for (unsigned i = 0; i < b->ncpus; i++)
			if (b->cpu_line[i][0])
				printf("  cpu %u: %llu traps to EL2: %s\n", i, (unsigned long long)b->traps_total[i], b->cpu_line[i]);
	if (linux_host) {
		printf("linux: %s\n", lx_version[0] ? lx_version : "(no 'Linux version' line: the kernel printed nothing)");
		printf("linux: init saw %d CPUs (want %llu); workload finished on %d CPUs; host accesses KCore "
		       "skipped: %llu\n", lx_cpus, smp, lx_work_done,
		       (unsigned long long)(b->have_skipped ? b->skipped_total : b->hvc_errors_total));
		if (kvm_loaded)
			printf("linux: hyplog-kvm.ko: %s\n", kvm_line[0] ? kvm_line : "no summary (its VM runs never finished)");
	}
	if (timed_out) {
		printf("RESULT: FAIL (timeout after %llu s)\n", timeout);
		goto out;
	}
	printf("boot: stream %s; forged stream lines refused: %llu outside a stream, %llu candidate streams "
	       "without this run's HMAC, %llu after KCore's\n", b->authed ? "authenticated (HMAC-SHA-256, per-boot key)" :
	       "NOT authenticated", (unsigned long long)b->forged_lines, (unsigned long long)b->forged_streams,
	       (unsigned long long)b->late_lines);
	if (!b->authed) {
		printf("RESULT: FAIL (no authenticated log stream: %s)\n",
		       b->bad ? b->why : b->began ? "the last candidate has no valid HLMAC" :
		       b->forged_streams ? "no candidate stream's HLMAC verified under this run's key" : "no HLBEGIN");
		goto out;
	}
	if (b->bad || !b->ended) {
		printf("boot: log stream %s: %s\n", b->bad ? "rejected" : "incomplete",
		       b->bad ? b->why : "no HLEND (the image died or hung before streaming its logs)");
		printf("RESULT: FAIL (log stream %s)\n", b->bad ? "rejected" : "incomplete");
		goto out;
	}
	{
		struct hl_file_err ferr = { 0 };
		struct hl_file_info info;
		struct hl_check_stats st;
		struct hl_verdict v;
		struct hl_engine *e2;
		int crc;
		double tc = now();

		if (hl_file_write_live(b->e, log, b->live, &ferr)) {
			printf("boot: cannot write %s: %s\nRESULT: FAIL (log file)\n", log, ferr.msg);
			goto out;
		}
		e2 = hl_file_read(log, &info, &ferr);
		if (!e2) {
			printf("boot: %s does not read back: %s\nRESULT: FAIL (log file)\n", log, ferr.msg);
			goto out;
		}
		{
			/* the oracle reads the file with its own parser */
			struct hl_olog lg;
			struct hl_olog_err oerr;
			memset(&v, 0, sizeof(v));
			memset(&st, 0, sizeof(st));
			if (hl_olog_read(&lg, log, &oerr)) {
				crc = -1;
				v.rel = HL_REL_ERROR;
				snprintf(v.what, sizeof(v.what), "the oracle cannot read %s: at offset %llu: %.200s", log,
					 (unsigned long long)oerr.offset, oerr.msg);
			} else {
				crc = hl_check_all(&lg, &v, &st);
				hl_olog_free(&lg);
			}
		}
		t_check = now() - tc;
		printf("boot: %llu records from %u CPUs in %s (%llu bytes)\n", (unsigned long long)info.records,
		       b->ncpus, log, (unsigned long long)info.file_bytes);
		printf("boot: refinement map: %u shards (s2page %s, %llu pages each; npt(host) %s, %llu MiB each)\n",
		       b->e->ref.nshards, hl_refine_sharded(&b->e->ref, HL_S2PAGE_ID) ? "sharded" : "one object",
		       (unsigned long long)b->e->cfg.s2page_shard_pages,
		       hl_refine_sharded(&b->e->ref, HL_NPT_OBJ(HL_HOSTVISOR)) ? "sharded" : "one object",
		       (unsigned long long)b->e->cfg.npt_host_shard_mib);
		print_log_sizes(e2);
		if (crc == 0)
			printf("check: pass (every oracle holds: H_CalLock, sync_shared, relate_hlock, serializability, "
			       "relate_log, relate_oracle, security; %llu operations, %.2f s)\n", (unsigned long long)st.ops,
			       t_check);
		else
			printf("check: fail: VIOLATION of %s: %s\n  expected: %s\n  actual:   %s\n", hl_rel_name(v.rel), v.what,
			       v.expected, v.actual);
		hl_engine_free(e2);
		printf("boot-to-verdict %.1f s (QEMU %.1f s, check %.2f s)\n", now() - t0, t_stream - t0, t_check);
		{
			uint64_t lo = UINT64_MAX;
			unsigned missing = 0;
			for (unsigned i = 0; i < b->ncpus; i++) {
				lo = b->traps_total[i] < lo ? b->traps_total[i] : lo;
				missing += b->missing_kind[i];
			}
			if (qrc != 0 || b->host_fail || b->halted_cpus)
				printf("RESULT: FAIL (image exit %d, %u host tests failed, %u CPUs halted)\n", qrc,
				       b->host_fail, b->halted_cpus);
			else if (linux_host && (!lx_version[0] || lx_cpus != (int)smp || (b->have_skipped ? b->skipped_total : b->hvc_errors_total) ||
						lx_work_done != (int)smp || lo == 0))
				printf("RESULT: FAIL (Linux: %s, init saw %d of %llu CPUs, workload done on %d, fewest traps "
				       "on a CPU %llu, %llu host accesses skipped)\n",
				       lx_version[0] ? "booted" : "no version line", lx_cpus, smp, lx_work_done,
				       (unsigned long long)lo,
				       (unsigned long long)(b->have_skipped ? b->skipped_total : b->hvc_errors_total));
			else if (linux_host && kvm_loaded && (kvm_vms < 1 || kvm_runs < 1 || kvm_refused < 1 || kvm_failed != 0))
				printf("RESULT: FAIL (hyplog-kvm.ko: %lld VMs, %lld vCPU runs, %lld forbidden attempts refused, "
				       "%lld failures)\n", kvm_vms, kvm_runs, kvm_refused, kvm_failed);
			else if (!expect_forgery && (b->forged_lines || b->forged_streams || b->late_lines))
				printf("RESULT: FAIL (forged log-stream lines on the console: %llu lines, %llu streams, %llu late)\n",
				       (unsigned long long)b->forged_lines, (unsigned long long)b->forged_streams,
				       (unsigned long long)b->late_lines);
			else if (b->e->ref.nshards < min_shards)
				printf("RESULT: FAIL (the image's refinement map has %u shards, want >= %llu)\n",
				       b->e->ref.nshards, min_shards);
			else if (expect_forgery && !b->forged_lines && !b->forged_streams)
				printf("RESULT: FAIL (--expect-forgery: no forged stream line was seen)\n");
			else if (min_traps && (lo < min_traps || (!linux_host && missing)))
				printf("RESULT: FAIL (fewest traps on a CPU %llu, want >= %llu; %u trap kinds never seen)\n",
				       (unsigned long long)lo, min_traps, missing);
			else if (expect_violation && crc == 1) {
				printf("RESULT: PASS (the broken engine's logs fail the check: %s)\n", hl_rel_name(v.rel));
				rc = HL_EXIT_OK;
			} else if (expect_violation)
				printf("RESULT: FAIL (a violation was expected, the check %s)\n", crc ? "could not run" : "holds");
			else if (crc != 0)
				printf("RESULT: FAIL (check: %s)\n", hl_rel_name(v.rel));
			else {
				printf("RESULT: PASS (%s%u CPUs, >= %llu traps per CPU, %llu records, check holds%s)\n",
				       linux_host ? "Linux host, " : "", b->ncpus, (unsigned long long)lo,
				       (unsigned long long)info.records,
				       expect_forgery ? "; the forged stream was refused" : "");
				rc = HL_EXIT_OK;
			}
		}
	}
out:
	if (b->e)
		hl_engine_free(b->e);
	free(b);
	fflush(stdout);
	return rc;
}
