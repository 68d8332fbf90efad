/* cmd_check.c - `hyplog check FILE [--json]`: run the SPEC §10 oracles over a log file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "hl_check.h"
#include "hl_file.h"
#include "hl_lock.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hyplog check [--json] FILE\n"
		"\n"
		"Read a log file written by `hyplog stress --log` and run the multi-CPU oracles\n"
		"(SPEC section 10) in order, stopping at the first violation:\n"
		"  H_CalLock        every object log is bracketed critical sections, one CPU each,\n"
		"                   consecutive sequence numbers, locks in the global order\n"
		"  sync_shared      Cal<Obj>(log) equals the live object the file recorded\n"
		"  relate_hlock     nothing touches an object a halted CPU left locked\n"
		"  serializability  the operation graph is acyclic (else: the cycle)\n"
		"  relate_log       an independent model replaying the linearization equals Cal<Obj>\n"
		"  relate_oracle    each operation, re-executed on the state it saw, reproduces its\n"
		"                   recorded result and effects; its footprint is its lock set\n"
		"  security         the REFERENCE section 6 invariants hold after every step\n"
		"\n"
		"  --json       print one JSON object instead of text\n"
		"  -h, --help   this text\n"
		"\n"
		"exit: 0 every check holds, 1 a violation, 2 unreadable or malformed file\n");
}

static const char *obj_str(unsigned obj, char *buf, unsigned len)
{
	if (obj >= HL_ID_END)
		return "-";
	return hl_obj_name(obj, buf, len);
}

static void print_ctx(const struct hl_verdict *v)
{
	char ob[24];

	if (!v->nctx)
		return;
	printf("  context:\n");
	for (unsigned i = 0; i < v->nctx; i++) {
		const struct hl_ctx_rec *c = &v->ctx[i];
		printf("  %s %-10s seq %-6llu op %u:%-8llu cpu %u %-13s args 0x%llx 0x%llx 0x%llx 0x%llx -> %s%s%s\n",
		       c->culprit ? ">" : " ", obj_str(c->obj, ob, sizeof(ob)), (unsigned long long)c->seq,
		       HL_OP_CPU(c->op), (unsigned long long)(c->op & 0xFFFFFFFFFFFFull), c->cpu,
		       hl_event_name(c->event), (unsigned long long)c->arg[0], (unsigned long long)c->arg[1],
		       (unsigned long long)c->arg[2], (unsigned long long)c->arg[3],
		       c->result ? "halt" : "ok", (c->flags & HL_RF_STRANDED) ? " stranded" : "",
		       (c->flags & HL_RF_NESTED) ? " nested" : "");
	}
}

static json_t *verdict_json(const char *path, const struct hl_verdict *v, const struct hl_check_stats *st,
			    double sec)
{
	json_t *o = json_object(), *ctx = json_array(), *t = json_object();
	char ob[24], opb[48];

	json_object_set_new(o, "file", json_string(path));
	json_object_set_new(o, "ok", json_boolean(v->rel == HL_REL_OK));
	json_object_set_new(o, "relation", json_string(hl_rel_name(v->rel)));
	if (v->rel != HL_REL_OK) {
		snprintf(opb, sizeof(opb), "%u:%llu", HL_OP_CPU(v->op), (unsigned long long)(v->op & 0xFFFFFFFFFFFFull));
		json_object_set_new(o, "op", v->op ? json_string(opb) : json_null());
		json_object_set_new(o, "object", v->obj < HL_ID_END ? json_string(obj_str(v->obj, ob, sizeof(ob))) : json_null());
		json_object_set_new(o, "cpu", v->cpu >= 0 ? json_integer(v->cpu) : json_null());
		json_object_set_new(o, "seq", v->seq ? json_integer((json_int_t)v->seq) : json_null());
		json_object_set_new(o, "event", v->event ? json_string(hl_event_name(v->event)) : json_null());
		json_object_set_new(o, "what", json_string(v->what));
		json_object_set_new(o, "expected", json_string(v->expected));
		json_object_set_new(o, "actual", json_string(v->actual));
		for (unsigned i = 0; i < v->nctx; i++) {
			const struct hl_ctx_rec *c = &v->ctx[i];
			json_t *r = json_object(), *args = json_array();
			for (unsigned a = 0; a < hl_event_nargs(c->event) && a < 4; a++)
				json_array_append_new(args, json_integer((json_int_t)c->arg[a]));
			snprintf(opb, sizeof(opb), "%u:%llu", HL_OP_CPU(c->op), (unsigned long long)(c->op & 0xFFFFFFFFFFFFull));
			json_object_set_new(r, "object", json_string(obj_str(c->obj, ob, sizeof(ob))));
			json_object_set_new(r, "seq", json_integer((json_int_t)c->seq));
			json_object_set_new(r, "op", json_string(opb));
			json_object_set_new(r, "cpu", json_integer(c->cpu));
			json_object_set_new(r, "event", json_string(hl_event_name(c->event)));
			json_object_set_new(r, "args", args);
			json_object_set_new(r, "result", json_string(c->result ? "halt" : "ok"));
			json_object_set_new(r, "stranded", json_boolean(c->flags & HL_RF_STRANDED));
			json_object_set_new(r, "nested", json_boolean(c->flags & HL_RF_NESTED));
			json_object_set_new(r, "culprit", json_boolean(c->culprit));
			json_array_append_new(ctx, r);
		}
	}
	json_object_set_new(o, "context", ctx);
	json_object_set_new(t, "total", json_real(sec));
	for (int r = HL_REL_CALLOCK; r < HL_REL_ERROR; r++)
		if (st->sec[r] > 0)
			json_object_set_new(t, hl_rel_name(r), json_real(st->sec[r]));
	json_object_set_new(o, "seconds", t);
	json_object_set_new(o, "records", json_integer((json_int_t)st->records));
	json_object_set_new(o, "operations", json_integer((json_int_t)st->ops));
	json_object_set_new(o, "reexecuted", json_integer((json_int_t)st->reexecuted));
	json_object_set_new(o, "resynced", json_integer((json_int_t)st->resynced));
	return o;
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hl_file_info info;
	struct hl_file_err ferr = { 0 };
	struct hl_check_stats st;
	struct hl_verdict v;
	struct hl_engine *e;
	struct timespec t0, t1;
	bool json = false;
	double sec;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return HL_EXIT_OK;
		default:
			usage(stderr);
			return HL_EXIT_USAGE;
		}
	}
	if (!cli_one_file("check", argc, argv, optind)) {
		usage(stderr);
		return HL_EXIT_USAGE;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	e = hl_file_read(argv[optind], &info, &ferr);
	if (!e) {
		if (json) {
			json_t *o = json_object();
			json_object_set_new(o, "file", json_string(argv[optind]));
			json_object_set_new(o, "ok", json_false());
			json_object_set_new(o, "error", json_string(ferr.msg));
			json_object_set_new(o, "offset", json_integer((json_int_t)ferr.offset));
			json_dumpf(o, stdout, JSON_INDENT(2));
			putchar('\n');
			json_decref(o);
		}
		fprintf(stderr, "hyplog check: %s: at byte offset %llu: %s\n", argv[optind],
			(unsigned long long)ferr.offset, ferr.msg);
		return HL_EXIT_USAGE;
	}
	{
		const struct hl_check_src src = { e, &info };
		rc = hl_check_all(&src, &v, &st);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	if (json) {
		json_t *o = verdict_json(argv[optind], &v, &st, sec);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else if (rc == 0) {
		printf("check %s: every oracle holds: H_CalLock, sync_shared, relate_hlock, serializability, "
		       "relate_log, relate_oracle, security\n", argv[optind]);
		printf("  %llu records, %llu operations (%llu re-executed by the model, %llu across a checkpoint), %.3f s\n",
		       (unsigned long long)st.records, (unsigned long long)st.ops, (unsigned long long)st.reexecuted,
		       (unsigned long long)st.resynced, sec);
	} else {
		char ob[24];
		printf("check %s: VIOLATION of %s\n", argv[optind], hl_rel_name(v.rel));
		printf("  %s\n", v.what);
		if (v.op)
			printf("  operation %u:%llu (%s) on cpu %d, object %s, seq %llu\n", HL_OP_CPU(v.op),
			       (unsigned long long)(v.op & 0xFFFFFFFFFFFFull), v.event ? hl_event_name(v.event) : "-",
			       v.cpu, obj_str(v.obj, ob, sizeof(ob)), (unsigned long long)v.seq);
		else if (v.obj < HL_ID_END)
			printf("  object %s\n", obj_str(v.obj, ob, sizeof(ob)));
		if (v.expected[0] || v.actual[0])
			printf("  expected: %s\n  actual:   %s\n", v.expected, v.actual);
		print_ctx(&v);
	}
	hl_engine_free(e);
	if (rc < 0) {
		fprintf(stderr, "hyplog check: %s\n", v.what);
		return HL_EXIT_USAGE;
	}
	return rc ? HL_EXIT_MISMATCH : HL_EXIT_OK;
}
