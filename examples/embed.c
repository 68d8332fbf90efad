/*
 * embed.c - using the installed libhyplog from another program (issue 13).
 *
 * Two threads act as two physical CPUs of one engine: each maps host pages, registers a VM
 * and a vCPU and powers the VM off. Then the run's logs go to a file, which is replayed
 * (replay == live) and checked by the multi-CPU oracles.
 *
 *   cc embed.c $(pkg-config --cflags --libs hyplog) -o embed            (shared library)
 *   cc embed.c $(pkg-config --cflags hyplog) -Wl,-Bstatic -lhyplog -Wl,-Bdynamic \
 *      $(pkg-config --static --libs hyplog) -o embed                    (static library)
 *   ./embed [LOGFILE]
 *
 * Exit status: 0 everything agreed, 1 otherwise.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hyplog/hyplog.h>

#define PAGES_PER_CPU 16

struct cpu_arg {
	hyplog_engine *e;
	int cpu;
	int failed;
};

static int expect_ok(struct cpu_arg *a, const char *what, int rc)
{
	if (rc != HYPLOG_OK) {
		fprintf(stderr, "embed: cpu %d: %s: %s (%d)\n", a->cpu, what, hyplog_strstatus(rc), rc);
		a->failed = 1;
	}
	return rc;
}

static void *cpu_main(void *p)
{
	struct cpu_arg *a = p;
	struct hyplog_build_info b;
	uint32_t vmid = 0;

	hyplog_build_info(&b);
	/* host stage-2 faults on pages of its own: CPU c takes pages 64c .. 64c + 15 of RAM */
	for (unsigned i = 0; i < PAGES_PER_CPU; i++)
		expect_ok(a, "map_host", hyplog_map_host(a->e, a->cpu, b.ram_base + (64u * a->cpu + i) * b.page_size));
	if (expect_ok(a, "register_vm", hyplog_register_vm(a->e, a->cpu, 0x1000 + a->cpu, 0, &vmid)) == HYPLOG_OK) {
		expect_ok(a, "register_vcpu", hyplog_register_vcpu(a->e, a->cpu, vmid, 0, 0x2000 + a->cpu));
		expect_ok(a, "vm_poweroff", hyplog_vm_poweroff(a->e, a->cpu, vmid));
	}
	/* the host is untrusted: a bad argument is refused and changes nothing */
	if (hyplog_map_host(a->e, a->cpu, b.ram_base + b.ram_size) != HYPLOG_E_INVAL) {
		fprintf(stderr, "embed: cpu %d: a map_host above RAM was not refused\n", a->cpu);
		a->failed = 1;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "embed.hlog";
	struct hyplog_config cfg;
	struct hyplog_error err;
	struct hyplog_replay_result rep;
	struct hyplog_verdict v;
	struct cpu_arg cpus[2];
	pthread_t th[2];
	hyplog_engine *e;
	int rc, failed = 0;

	printf("embed: hyplog headers %s, library %s\n", HYPLOG_VERSION, hyplog_version());
	if (strcmp(HYPLOG_VERSION, hyplog_version()) != 0) {
		fprintf(stderr, "embed: header and library versions differ\n");
		return 1;
	}
	hyplog_config_init(&cfg);
	cfg.ncpus = 2;
	cfg.nkeys = 1;   /* KCore's image-verification key 0 (any Ed25519 public key) */
	memset(cfg.keys[0], 0x5a, sizeof(cfg.keys[0]));
	e = hyplog_engine_new(&cfg, &err);
	if (!e) {
		fprintf(stderr, "embed: %s\n", err.msg);
		return 1;
	}
	for (int c = 0; c < 2; c++) {
		cpus[c] = (struct cpu_arg){ e, c, 0 };
		if (pthread_create(&th[c], NULL, cpu_main, &cpus[c]) != 0) {
			fprintf(stderr, "embed: pthread_create failed\n");
			return 1;
		}
	}
	for (int c = 0; c < 2; c++) {
		pthread_join(th[c], NULL);
		failed |= cpus[c].failed;
	}
	/* every CPU has stopped: the live digests in the file are exact */
	if (hyplog_write_log(e, path, &err) != HYPLOG_OK) {
		fprintf(stderr, "embed: write %s: %s\n", path, err.msg);
		return 1;
	}
	hyplog_engine_free(e);

	rc = hyplog_replay_file(path, &rep, &err);
	if (rc == HYPLOG_E_FILE) {
		fprintf(stderr, "embed: replay %s: at byte %llu: %s\n", path, err.offset, err.msg);
		return 1;
	}
	printf("embed: replay: %llu records, %llu operations: %s\n", (unsigned long long)rep.records,
	       (unsigned long long)rep.operations, rc == HYPLOG_OK ? "replay == live" : rep.why);
	failed |= rc != HYPLOG_OK || rep.records == 0;

	rc = hyplog_check_file(path, &v, &err);
	if (rc == HYPLOG_E_FILE) {
		fprintf(stderr, "embed: check %s: at byte %llu: %s\n", path, err.offset, err.msg);
		return 1;
	}
	printf("embed: check: %llu operations: %s%s%s\n", (unsigned long long)v.operations,
	       rc == HYPLOG_OK ? "every oracle holds" : v.relation, rc == HYPLOG_OK ? "" : ": ",
	       rc == HYPLOG_OK ? "" : v.what);
	failed |= rc != HYPLOG_OK;
	printf("embed: %s\n", failed ? "FAILED" : "ok");
	return failed;
}
