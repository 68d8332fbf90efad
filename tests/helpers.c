/* helpers.c - shared fixtures for the Criterion suites. */
#include "helpers.h"

#include <stdio.h>
#include <string.h>

struct hl_engine *th_engine(unsigned ncpus)
{
	struct hl_engine_cfg cfg;

	hl_engine_cfg_default(&cfg);
	cfg.ncpus = ncpus;
	cfg.lock_order_check = true;
	return hl_engine_new(&cfg);
}

uint64_t th_pfn(unsigned i)
{
	return HL_RAM_BASE_PFN + i;
}

int th_replay_matches(struct hl_engine *e)
{
	struct hl_state *a = hl_state_new(false), *b = hl_state_new(false);
	struct hl_replay_err err;
	size_t off = 0;
	int rc = 0, d;

	if (!a || !b)
		return -1;
	if (hl_cal_all(e, a, &err)) {
		fprintf(stderr, "Cal<Obj> failed: %s\n", err.msg);
		rc = 1;
	} else if ((d = hl_state_first_diff(a, e->st, &off)) >= 0) {
		fprintf(stderr, "Cal<Obj> != live at object %d byte %zu\n", d, off);
		rc = 2;
	} else if (hl_calstateh(e, b, NULL, &err)) {
		fprintf(stderr, "CalStateH failed: %s\n", err.msg);
		rc = 3;
	} else if ((d = hl_state_first_diff(b, e->st, &off)) >= 0) {
		fprintf(stderr, "CalStateH != live at object %d byte %zu\n", d, off);
		rc = 4;
	}
	hl_state_free(a);
	hl_state_free(b);
	return rc;
}

struct last_ctx {
	uint64_t n;
	const struct hl_rec *last;
};

static int last_visit(const struct hl_rec *r, void *arg)
{
	struct last_ctx *c = arg;
	c->n++;
	c->last = r;
	return 0;
}

uint64_t th_nrecs(struct hl_engine *e, unsigned obj)
{
	struct last_ctx c = { 0, NULL };
	hl_rcu_reader_ensure();
	urcu_memb_read_lock();
	hl_log_foreach(&e->logs[obj], last_visit, &c);
	urcu_memb_read_unlock();
	return c.n;
}

const struct hl_rec *th_last_rec(struct hl_engine *e, unsigned obj, uint8_t *buf, size_t len)
{
	struct last_ctx c = { 0, NULL };
	const struct hl_rec *r = NULL;
	hl_rcu_reader_ensure();
	urcu_memb_read_lock();
	hl_log_foreach(&e->logs[obj], last_visit, &c);
	if (c.last && c.last->len <= len) {
		memcpy(buf, c.last, c.last->len);
		r = (const struct hl_rec *)buf;
	}
	urcu_memb_read_unlock();
	return r;
}

uint32_t th_new_vm(struct hl_engine *e, int cpu)
{
	uint8_t key[32] = { 1, 2, 3 };
	uint32_t vmid = 0;
	if (hl_register_kvm(e, cpu, 0x1000, key, &vmid) != HL_OK)
		return 0;
	return vmid;
}
