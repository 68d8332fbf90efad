/*
 * test_logpool.c - the log pool's reserve (cfg.log_reserve_bytes, hl_segpool_reserve; issue
 * 11 log cost): segments created and populated by hl_engine_new before any CPU calls in, so
 * that the steps take them instead of growing the pool; never past the pool's cap; none
 * with logs off; and the records are the same as without a reserve.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "helpers.h"
#include "hl_engine.h"
#include "hl_testkey.h"
#include "hl_trans.h"

#define SEG_BYTES ((size_t)HL_CFG_LOG_SEGMENT_KIB << 10)

static struct hl_engine *engine(size_t reserve, size_t cap, bool logs_off)
{
	struct hl_engine_cfg cfg;

	hl_engine_cfg_default(&cfg);
	cfg.ncpus = 2;
	cfg.lock_order_check = true;
	cfg.log_reserve_bytes = reserve;
	cfg.log_cap_bytes = cap;
	cfg.logs_off = logs_off;
	(void)hl_engine_cfg_add_key(&cfg, hl_testkey_pk);
	return hl_engine_new(&cfg);
}

static void workload(struct hl_engine *e, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(hl_map_host(e, (int)(i % 2), hl_pa(th_pfn(i) << 12)), 0, "map_host %u", i);
}

Test(logpool, a_reserve_is_made_at_init_and_the_steps_grow_nothing)
{
	struct hl_engine *e0 = engine(0, 0, false), *e = engine(8u << 20, 0, false);
	struct hl_log_stats a0, a, b;

	cr_assert_not_null(e0);
	cr_assert_not_null(e);
	hl_engine_log_stats(e0, &a0);
	hl_engine_log_stats(e, &a);
	/* without a reserve the pool holds what the logs' first segments needed */
	cr_assert_lt(a0.seg_bytes_alloc, (size_t)8 << 20);
	cr_assert_geq(a.seg_bytes_alloc, (size_t)8 << 20, "reserved %zu", a.seg_bytes_alloc);
	cr_assert_lt(a.seg_bytes_alloc, ((size_t)8 << 20) + 16 * SEG_BYTES);
	workload(e, 400);
	hl_engine_log_stats(e, &b);
	cr_assert_gt(b.records, a.records);
	cr_assert_eq(b.seg_bytes_alloc, a.seg_bytes_alloc, "the steps grew the pool");
	cr_assert_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
	hl_engine_free(e0);
}

Test(logpool, a_reserve_stops_at_the_cap)
{
	struct hl_engine *e0 = engine(0, 32u << 20, false), *e = engine(64u << 20, 32u << 20, false);
	struct hl_log_stats a;

	cr_assert_not_null(e0, "a 32 MiB cap holds every log's first segment");
	cr_assert_not_null(e, "a reserve above the cap must not fail the engine");
	hl_engine_log_stats(e, &a);
	cr_assert_leq(a.seg_bytes_alloc, (size_t)32 << 20);
	cr_assert_geq(a.seg_bytes_alloc, ((size_t)32 << 20) - 16 * SEG_BYTES);
	hl_engine_free(e);
	hl_engine_free(e0);
}

Test(logpool, no_reserve_with_logs_off)
{
	struct hl_engine *e = engine(8u << 20, 0, true);
	struct hl_log_stats a;

	cr_assert_not_null(e);
	hl_engine_log_stats(e, &a);
	cr_assert_lt(a.seg_bytes_alloc, (size_t)8 << 20);
	hl_engine_free(e);
}
