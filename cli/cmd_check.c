/* cmd_check.c - `hyplog check FILE [--json]`: run the SPEC §10 oracles over a log file. */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "arch/aarch64/el2/image/layout.h"   /* LINUX_QEMU_RAM_MIB */
#include "hl_check.h"
#include "hl_file.h"
#include "hl_lock.h"
#include "hl_model.h"
#include "hl_olog.h"
#include "hl_osrc.h"
#include "hl_replay.h"

/*
 * The engine's side of the cross-check: its own reader and its CalStateH, in a thread of
 * its own beside the oracle's checks (they share nothing: the oracle parses the file
 * itself). out is NULL when the engine could not replay; msg says why.
 */
#define CROSS_AUTO_RECORDS 4000000ull

struct engine_side {
	const char *path;
	struct hl_state *out;
	int rc;                 /* 0 replayed, 1 the engine refuses the log, -1 no memory */
	char msg[300];
};

static void *engine_side_run(void *arg)
{
	struct engine_side *es = arg;
	struct hl_file_info info;
	struct hl_file_err ferr = { 0 };
	struct hl_replay_err err;
	struct hl_engine *e;

	e = hl_file_read(es->path, &info, &ferr);
	if (!e) {
		snprintf(es->msg, sizeof(es->msg), "the engine cannot read a file the oracle accepts: at offset %llu: %.200s",
			 (unsigned long long)ferr.offset, ferr.msg);
		es->rc = 1;
		return NULL;
	}
	es->out = hl_state_new(false);
	if (!es->out) {
		snprintf(es->msg, sizeof(es->msg), "out of memory");
		es->rc = -1;
	} else if (hl_calstateh(e, es->out, NULL, &err)) {
		snprintf(es->msg, sizeof(es->msg), "the engine's CalStateH fails on a log the oracle accepts: %.200s",
			 err.msg);
		es->rc = 1;
		hl_state_free(es->out);
		es->out = NULL;
	}
	hl_engine_free(e);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hyplog check [--json] [--crosscheck | --no-crosscheck] FILE\n"
		"\n"
		"Read a log file written by `hyplog stress --log` with the oracle's own parser and run\n"
		"the multi-CPU oracles (SPEC section 10) in order, stopping at the first violation:\n"
		"  H_CalLock        every object log is bracketed critical sections, one CPU each,\n"
		"                   consecutive sequence numbers; every record lists every lock of\n"
		"                   its step, in acquisition order = the global order\n"
		"  sync_shared      Cal<Obj>(log) equals the live object the file recorded; every\n"
		"                   delta lies inside its object\n"
		"  relate_hlock     nothing writes or reads an object a halted CPU left locked\n"
		"  serializability  the operation graph is acyclic (else: the cycle)\n"
		"  init_state       the spec's initial state equals the file's seq-0 images\n"
		"  relate_oracle    per CPU, everything between two of its views came from other\n"
		"                   CPUs; each operation, re-executed on the state it saw, reproduces\n"
		"                   its recorded result and effects; its lock set is the spec's\n"
		"  relate_log       an independent model replaying the linearization equals Cal<Obj>\n"
		"  security         the REFERENCE section 6 invariants hold on the initial state and\n"
		"                   after every step (across checkpoint cuts: from the first\n"
		"                   consistent state on)\n"
		"Then the engine's own CalStateH must give the same final state as the oracle's\n"
		"linearization (a cross-check of the two independent replays).\n"
		"\n"
		"  --json            print one JSON object instead of text\n"
		"  --crosscheck      always run the engine CalStateH cross-check (default: for logs of\n"
		"                    up to 4 M records; it costs about twice the oracle's time)\n"
		"  --no-crosscheck   never run it\n"
		"  -h, --help        this text\n"
		"\n"
		"A log of the EL2 Linux image (`hyplog boot --linux`, s2page %u MiB) is read by\n"
		"hyplog-linux, which this command runs (it lies beside this binary).\n"
		"\n"
		"exit: 0 every check holds, 1 a violation, 2 unreadable or malformed file\n", LINUX_QEMU_RAM_MIB);
}

static const char *obj_str(unsigned obj, char *buf, unsigned len)
{
	if (obj == HL_VERDICT_NO_OBJ)
		return "-";
	return hl_olog_obj_name(obj, buf, len);
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
		json_object_set_new(o, "object", v->obj != HL_VERDICT_NO_OBJ ? json_string(obj_str(v->obj, ob, sizeof(ob))) : json_null());
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
	json_object_set_new(o, "invariant_steps", json_integer((json_int_t)st->inv_steps));
	json_object_set_new(o, "steps_before_consistent_cut", json_integer((json_int_t)st->cut_ops));
	json_object_set_new(o, "init_checked", json_boolean(st->init_checked));
	return o;
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-crosscheck", no_argument, NULL, 'n' },
		{ "crosscheck", no_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hl_olog lg;
	struct hl_olog_err oerr = { 0 };
	struct hl_check_stats st;
	struct hl_verdict v;
	struct hl_model *final = NULL;
	struct timespec t0, t1;
	bool json = false, cross = true;
	int cross_opt = -1;   /* -1: automatic (logs up to CROSS_AUTO_RECORDS records) */
	double sec, cross_sec = 0;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'n':
			cross_opt = 0;
			break;
		case 'x':
			cross_opt = 1;
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
	if (hl_olog_read(&lg, argv[optind], &oerr)) {
		cross = false;
		rc = cli_other_ram_log("check", argv[optind], argc, argv);   /* the EL2 Linux image's log */
		if (rc >= 0)
			return rc;
		if (json) {
			json_t *o = json_object();
			json_object_set_new(o, "file", json_string(argv[optind]));
			json_object_set_new(o, "ok", json_false());
			json_object_set_new(o, "error", json_string(oerr.msg));
			json_object_set_new(o, "offset", json_integer((json_int_t)oerr.offset));
			json_dumpf(o, stdout, JSON_INDENT(2));
			putchar('\n');
			json_decref(o);
		}
		fprintf(stderr, "hyplog check: %s: at byte offset %llu: %s\n", argv[optind],
			(unsigned long long)oerr.offset, oerr.msg);
		return HL_EXIT_USAGE;
	}
	cross = cross_opt == 1 || (cross_opt == -1 && lg.records <= CROSS_AUTO_RECORDS);
	/* the engine's CalStateH runs beside the oracle (on two cores about free; it costs about
	 * twice the oracle's CPU time, so a very long log skips it unless asked) */
	{
		struct engine_side es = { .path = argv[optind] };
		pthread_t th;
		bool started = cross && pthread_create(&th, NULL, engine_side_run, &es) == 0;
		double tc;

		if (cross && !started)
			engine_side_run(&es);
		rc = hl_check_all_final(&lg, &v, &st, cross ? &final : NULL);
		hl_olog_free(&lg);
		tc = cli_now();
		if (started)
			pthread_join(th, NULL);
		if (rc == 0 && final) {
			/* two independent replays agree: the engine's reader, linearization and
			 * transitions against the oracle's parser, linearization and model */
			char msg[300];
			int xr = es.out ? hl_osrc_compare(es.out, final, msg, sizeof(msg)) : es.rc;
			if (!es.out)
				snprintf(msg, sizeof(msg), "%s", es.msg);
			if (xr) {
				memset(&v, 0, sizeof(v));
				v.rel = xr < 0 ? HL_REL_ERROR : HL_REL_LOG;
				v.obj = HL_VERDICT_NO_OBJ;
				v.cpu = -1;
				snprintf(v.what, sizeof(v.what), "cross-check: %s", msg);
				rc = xr;
			}
		}
		cross_sec = cli_now() - tc;   /* how long the oracle waited for the engine's side */
		hl_state_free(es.out);
	}
	hl_model_free(final);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	if (json) {
		json_t *o = verdict_json(argv[optind], &v, &st, sec);
		json_object_set_new(o, "crosscheck", json_boolean(cross));
		json_object_set_new(o, "crosscheck_wait_seconds", cross ? json_real(cross_sec) : json_null());
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else if (rc == 0) {
		printf("check %s: every oracle holds: H_CalLock, sync_shared, relate_hlock, serializability, "
		       "init_state, relate_oracle, relate_log, security%s\n", argv[optind],
		       cross ? "; the engine's CalStateH agrees" :
		       cross_opt == 0 ? "" : " (CalStateH cross-check skipped on a log this long: --crosscheck)");
		printf("  %llu records, %llu operations (%llu re-executed by the model, %llu across a checkpoint), "
		       "invariants after %llu steps%s, %.3f s\n",
		       (unsigned long long)st.records, (unsigned long long)st.ops, (unsigned long long)st.reexecuted,
		       (unsigned long long)st.resynced, (unsigned long long)st.inv_steps,
		       st.cut_ops ? " (from the first consistent state after the checkpoint cuts)" : "", sec);
	} else {
		char ob[24];
		printf("check %s: VIOLATION of %s\n", argv[optind], hl_rel_name(v.rel));
		printf("  %s\n", v.what);
		if (v.op)
			printf("  operation %u:%llu (%s) on cpu %d, object %s, seq %llu\n", HL_OP_CPU(v.op),
			       (unsigned long long)(v.op & 0xFFFFFFFFFFFFull), v.event ? hl_event_name(v.event) : "-",
			       v.cpu, obj_str(v.obj, ob, sizeof(ob)), (unsigned long long)v.seq);
		else if (v.obj != HL_VERDICT_NO_OBJ)
			printf("  object %s\n", obj_str(v.obj, ob, sizeof(ob)));
		if (v.expected[0] || v.actual[0])
			printf("  expected: %s\n  actual:   %s\n", v.expected, v.actual);
		print_ctx(&v);
	}
	if (rc < 0) {
		fprintf(stderr, "hyplog check: %s\n", v.what);
		return HL_EXIT_USAGE;
	}
	return rc ? HL_EXIT_MISMATCH : HL_EXIT_OK;
}
