/* cmd_export.c - `hyplog export [--format json] FILE`: the linearized history of a log file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "arch/aarch64/el2/image/layout.h"   /* LINUX_QEMU_RAM_MIB */
#include "hl_check.h"
#include "hl_olog.h"
#include "hl_file.h"
#include "hl_lock.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hyplog export [--format json] FILE\n"
		"\n"
		"  -f, --format F   output format; json (the only one, and the default)\n"
		"  -h, --help       this text\n"
		"\n"
		"Print the history of a log file as one JSON object: the operations in a\n"
		"linearization of the per-object logs (the order CalStateH replays), each with\n"
		"  op       operation ID \"cpu:counter\";  opid: the counter\n"
		"  cpu      physical CPU that ran it\n"
		"  call     the atomic event (OMAP_HOST, OASSIGN_VM, ...)\n"
		"  args     its arguments\n"
		"  result   \"ok\" or \"halt\";  ret: the value returned (vmid, load index)\n"
		"  dorc     the data-oracle value, hex (content digest, signature verdict)\n"
		"  start, end   call/return positions in the linearized history (2i, 2i+1)\n"
		"  lin      position in the linearization;  prog: index in its CPU's program order\n"
		"  objects  the objects it changed (one record each);  nested: ran inside verify\n"
		"  complete false if part of it lies before a checkpoint\n"
		"\n"
		"A log of the EL2 Linux image (`hyplog boot --linux`, s2page %u MiB) is read by\n"
		"hyplog-linux, which this command runs (it lies beside this binary).\n"
		"\n"
		"exit: 0 written, 1 the logs admit no linearization, 2 unreadable or malformed file\n", LINUX_QEMU_RAM_MIB);
}

struct oprec {
	uint64_t op;
	const struct hl_rec *r;
};

struct gather {
	struct oprec *v;
	size_t n, cap;
};

static int visit(const struct hl_rec *r, void *arg)
{
	struct gather *g = arg;

	if (g->n == g->cap) {
		size_t nc = g->cap ? g->cap * 2 : 4096;
		struct oprec *nv = realloc(g->v, nc * sizeof(*nv));
		if (!nv)
			return -1;
		g->v = nv;
		g->cap = nc;
	}
	g->v[g->n++] = (struct oprec){ r->op, r };
	return 0;
}

static int cmp_op(const void *a, const void *b)
{
	const struct oprec *x = a, *y = b;
	if (x->op != y->op)
		return x->op < y->op ? -1 : 1;
	return x->r->obj < y->r->obj ? -1 : x->r->obj > y->r->obj;
}

/* first index of op in the sorted records, or n */
static size_t find(const struct gather *g, uint64_t op)
{
	size_t lo = 0, hi = g->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (g->v[mid].op < op)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hl_file_info info;
	struct hl_file_err ferr = { 0 };
	struct gather g = { 0 };
	struct hl_verdict v;
	struct hl_engine *e;
	uint64_t *lin = NULL;
	size_t nlin = 0, *prog = NULL;
	int c, rc = HL_EXIT_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (strcmp(optarg, "json")) {
				fprintf(stderr, "hyplog export: --format: '%s' is not supported (json)\n", optarg);
				return HL_EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return HL_EXIT_OK;
		default:
			usage(stderr);
			return HL_EXIT_USAGE;
		}
	}
	if (!cli_one_file("export", argc, argv, optind)) {
		usage(stderr);
		return HL_EXIT_USAGE;
	}
	e = cli_read_log("export", argv[optind], &info, &ferr, argc, argv, &rc);
	if (!e)
		return rc;
	{
		struct hl_olog lg;
		struct hl_olog_err oerr;
		int r = hl_olog_read(&lg, argv[optind], &oerr);
		if (r)
			snprintf(v.what, sizeof(v.what), "at byte offset %llu: %.200s", (unsigned long long)oerr.offset, oerr.msg);
		else
			r = hl_check_serializable(&lg, &v, &lin, &nlin);
		hl_olog_free(&lg);
		if (r) {
			fprintf(stderr, "hyplog export: %s: %s\n", argv[optind], v.what);
			hl_engine_free(e);
			return r < 0 ? HL_EXIT_USAGE : HL_EXIT_MISMATCH;
		}
	}
	hl_rcu_reader_ensure();
	hl_rcu_read_lock();
	for (unsigned o = 1; o < HL_OBJ_END; o++)   /* shards too (issue 11) */
		if (hl_engine_has_obj(e, o) && hl_log_foreach(&e->logs[o], visit, &g)) {
			fprintf(stderr, "hyplog export: out of memory\n");
			rc = HL_EXIT_USAGE;
			goto out;
		}
	qsort(g.v, g.n, sizeof(*g.v), cmp_op);
	/* program order: ops of one CPU are contiguous and increasing in the sorted list */
	prog = malloc((g.n + 1) * sizeof(*prog));
	if (!prog) {
		fprintf(stderr, "hyplog export: out of memory\n");
		rc = HL_EXIT_USAGE;
		goto out;
	}
	for (size_t i = 0, k = 0, first = 0; i < g.n; i++) {
		if (i && g.v[i].op == g.v[i - 1].op) {
			prog[i] = prog[i - 1];
			continue;
		}
		if (i && HL_OP_CPU(g.v[i].op) != HL_OP_CPU(g.v[first].op)) {
			first = i;
			k = 0;
		}
		prog[i] = k++;
	}
	{
		json_t *name = cli_json_str(argv[optind]);
		printf("{\"file\": ");
		if (!name || json_dumpf(name, stdout, JSON_ENCODE_ANY)) {
			json_decref(name);
			fprintf(stderr, "hyplog export: out of memory\n");
			rc = HL_EXIT_USAGE;
			goto out;
		}
		json_decref(name);
	}
	printf(", \"cpus\": %u, \"operations\": [\n", info.ncpus);
	for (size_t i = 0; i < nlin; i++) {
		size_t at = find(&g, lin[i]);
		const struct hl_rec *r;
		json_t *o, *args, *objs;
		char buf[48], ob[24];
		unsigned nf = 0;

		if (at >= g.n || g.v[at].op != lin[i])
			continue;
		r = g.v[at].r;
		o = json_object();
		args = json_array();
		objs = json_array();
		snprintf(buf, sizeof(buf), "%u:%llu", HL_OP_CPU(r->op), (unsigned long long)(r->op & 0xFFFFFFFFFFFFull));
		for (unsigned a = 0; a < hl_event_nargs(r->event) && a < 4; a++)
			json_array_append_new(args, json_integer((json_int_t)r->arg[a]));
		for (size_t j = at; j < g.n && g.v[j].op == lin[i]; j++, nf++)
			json_array_append_new(objs, json_string(hl_obj_name(g.v[j].r->obj, ob, sizeof(ob))));
		json_object_set_new(o, "op", json_string(buf));
		json_object_set_new(o, "opid", json_integer((json_int_t)(r->op & 0xFFFFFFFFFFFFull)));
		json_object_set_new(o, "cpu", json_integer(r->cpu));
		json_object_set_new(o, "call", json_string(hl_event_name(r->event)));
		json_object_set_new(o, "args", args);
		json_object_set_new(o, "result", json_string(r->result == HL_RES_HALT ? "halt" : "ok"));
		json_object_set_new(o, "ret", json_integer((json_int_t)r->ret));
		snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)r->dorc);   /* digests use all 64 bits */
		json_object_set_new(o, "dorc", json_string(buf));
		json_object_set_new(o, "start", json_integer((json_int_t)(2 * i)));
		json_object_set_new(o, "end", json_integer((json_int_t)(2 * i + 1)));
		json_object_set_new(o, "lin", json_integer((json_int_t)i));
		json_object_set_new(o, "prog", json_integer((json_int_t)prog[at]));
		json_object_set_new(o, "objects", objs);
		json_object_set_new(o, "nested", json_boolean(r->flags & HL_RF_NESTED));
		json_object_set_new(o, "complete", json_boolean(nf == r->nrec));
		json_dumpf(o, stdout, JSON_COMPACT);
		printf("%s\n", i + 1 < nlin ? "," : "");
		json_decref(o);
	}
	printf("]}\n");
out:
	hl_rcu_read_unlock();
	free(prog);
	free(g.v);
	free(lin);
	hl_engine_free(e);
	return rc;
}
