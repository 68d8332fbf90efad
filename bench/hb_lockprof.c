/* hb_lockprof.c - collect, print and serialise an engine's lock profile (hb_lockprof.h). */
#include "hb_lockprof.h"

#include <stdlib.h>
#include <string.h>

#include "hl_state.h"

void hb_lockprof_enable(struct hl_engine *e, bool on)
{
	hl_lock_profile(&e->global, on);
	for (unsigned id = 0; id < HL_OBJ_END; id++)
		hl_lock_profile(&e->locks[id], on);
}

static void row(struct hb_lockrow *r, const struct hl_lock *lk, unsigned id, const char *name)
{
	memset(r, 0, sizeof(*r));
	r->id = id;
	if (name)
		snprintf(r->name, sizeof(r->name), "%s", name);
	else
		hl_obj_name(id, r->name, sizeof(r->name));
	hl_lock_stats(lk, &r->s);
}

static int by_wait(const void *a, const void *b)
{
	const struct hb_lockrow *x = a, *y = b;
	if (x->s.wait_ns != y->s.wait_ns)
		return x->s.wait_ns < y->s.wait_ns ? 1 : -1;
	if (x->s.acquisitions != y->s.acquisitions)
		return x->s.acquisitions < y->s.acquisitions ? 1 : -1;
	return x->id < y->id ? -1 : x->id > y->id;
}

unsigned hb_lockprof_collect(const struct hl_engine *e, struct hb_lockrow *rows)
{
	unsigned n = 0;

	if (e->global.acquisitions || e->global.giveups)
		row(&rows[n++], &e->global, HL_FLATMEM_ID, "global");
	for (unsigned id = 1; id < HL_OBJ_END; id++)
		if (hl_engine_has_obj(e, id) && (e->locks[id].acquisitions || e->locks[id].giveups))
			row(&rows[n++], &e->locks[id], id, NULL);
	/* a sharded object: one more row, the sum over its shards (its own share of the run) */
	for (unsigned p = 1; p < HL_ID_END; p++) {
		struct hb_lockrow sum;
		bool any = false;
		if (!hl_refine_sharded(&e->ref, p))
			continue;
		memset(&sum, 0, sizeof(sum));
		sum.id = p;
		hl_obj_name(p, sum.name, sizeof(sum.name));
		strncat(sum.name, "[*]", sizeof(sum.name) - strlen(sum.name) - 1);
		for (unsigned id = HL_ID_END; id < HL_OBJ_END; id++) {
			struct hl_lock_stats s;
			if (!hl_refine_is_shard(&e->ref, id) || hl_shard_parent(id) != p)
				continue;
			hl_lock_stats(&e->locks[id], &s);
			any |= s.acquisitions || s.giveups;
			sum.s.acquisitions += s.acquisitions;
			sum.s.contended += s.contended;
			sum.s.wait_ns += s.wait_ns;
			sum.s.hold_ns += s.hold_ns;
			sum.s.parks += s.parks;
			sum.s.park_timeouts += s.park_timeouts;
			sum.s.giveups += s.giveups;
			sum.s.hold_timed |= s.hold_timed;
		}
		if (any)
			rows[n++] = sum;
	}
	qsort(rows, n, sizeof(*rows), by_wait);
	return n;
}

void hb_lockprof_print(FILE *f, const struct hb_lockrow *rows, unsigned n, double run_s, unsigned ncpus)
{
	double cpu_ns = run_s * 1e9 * (ncpus ? ncpus : 1);
	bool hold = n && rows[0].s.hold_timed;

	fprintf(f, "lock profile (sorted by wait time; wait%% and hold%% are shares of %u CPU x %.3f s):\n", ncpus,
		run_s);
	fprintf(f, "  %-12s %12s %11s %6s %10s %9s %6s %10s %9s %6s %8s\n", "lock", "acquired", "contended", "cont%",
		"wait ms", "wait/c ns", "wait%", "hold ms", "hold ns", "hold%", "parks");
	for (unsigned i = 0; i < n; i++) {
		const struct hl_lock_stats *s = &rows[i].s;
		fprintf(f, "  %-12s %12llu %11llu %5.1f%% %10.2f %9.0f %5.1f%%", rows[i].name,
			(unsigned long long)s->acquisitions, (unsigned long long)s->contended,
			s->acquisitions ? 100.0 * s->contended / s->acquisitions : 0.0, s->wait_ns / 1e6,
			s->contended ? (double)s->wait_ns / s->contended : 0.0, cpu_ns > 0 ? 100.0 * s->wait_ns / cpu_ns : 0.0);
		if (hold)
			fprintf(f, " %10.2f %9.0f %5.1f%%", s->hold_ns / 1e6,
				s->acquisitions ? (double)s->hold_ns / s->acquisitions : 0.0,
				cpu_ns > 0 ? 100.0 * s->hold_ns / cpu_ns : 0.0);
		else
			fprintf(f, " %10s %9s %6s", "-", "-", "-");
		fprintf(f, " %8llu", (unsigned long long)s->parks);
		if (s->giveups || s->park_timeouts)
			fprintf(f, "  (%llu gave up on a stranded lock, %llu park timeouts)", (unsigned long long)s->giveups,
				(unsigned long long)s->park_timeouts);
		fputc('\n', f);
	}
	if (!hold)
		fprintf(f, "  (hold times not measured: run with --profile)\n");
}

json_t *hb_lockprof_json(const struct hb_lockrow *rows, unsigned n, double run_s, unsigned ncpus)
{
	json_t *a = json_array();
	double cpu_ns = run_s * 1e9 * (ncpus ? ncpus : 1);

	for (unsigned i = 0; i < n; i++) {
		const struct hl_lock_stats *s = &rows[i].s;
		json_t *o = json_object();
		json_object_set_new(o, "lock", json_string(rows[i].name));
		if (strstr(rows[i].name, "[*]"))   /* the sum over a sharded object's shard rows */
			json_object_set_new(o, "sum_of_shards", json_true());
		json_object_set_new(o, "acquisitions", json_integer((json_int_t)s->acquisitions));
		json_object_set_new(o, "contended", json_integer((json_int_t)s->contended));
		json_object_set_new(o, "wait_ns", json_integer((json_int_t)s->wait_ns));
		json_object_set_new(o, "wait_share", json_real(cpu_ns > 0 ? s->wait_ns / cpu_ns : 0));
		if (s->hold_timed) {
			json_object_set_new(o, "hold_ns", json_integer((json_int_t)s->hold_ns));
			json_object_set_new(o, "hold_share", json_real(cpu_ns > 0 ? s->hold_ns / cpu_ns : 0));
		} else {
			json_object_set_new(o, "hold_ns", json_null());
		}
		json_object_set_new(o, "parks", json_integer((json_int_t)s->parks));
		json_object_set_new(o, "park_timeouts", json_integer((json_int_t)s->park_timeouts));
		json_object_set_new(o, "stranded_giveups", json_integer((json_int_t)s->giveups));
		json_array_append_new(a, o);
	}
	return a;
}
