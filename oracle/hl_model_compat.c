/*
 * hl_model_compat.c - hl_state callers of the model (HL_MODEL_STATE_COMPAT in hl_model.h),
 * until oracle/hl_check.c (H5) takes its states as struct hl_images: each wrapper views a
 * state's object images as an hl_images and calls the model. This is the only model file
 * that includes an engine header; the model itself (hl_model.c, hl_mpt.c) does not.
 * Remove it, and the macros in hl_model.h, once no caller passes an hl_state.
 */
#include "hl_model.h"

#include <string.h>

#include "hl_state.h"

static void view(struct hl_images *im, const struct hl_state *st)
{
	memset(im, 0, sizeof(*im));
	for (unsigned o = 1; o < HL_ID_END; o++) {
		im->img[o] = st->img[o].base;
		im->len[o] = st->img[o].size;
	}
	im->ram = st->ram;
}

int hl_model_abstract_st(struct hl_model *m, const struct hl_state *st)
{
	struct hl_images im;

	view(&im, st);
	return (hl_model_abstract)(m, &im);
}

int hl_model_abstract_obj_st(struct hl_model *m, const struct hl_state *st, unsigned obj)
{
	struct hl_images im;

	view(&im, st);
	return (hl_model_abstract_obj)(m, &im, obj);
}

int hl_model_fact_cmp_st(const struct hl_model *m, const struct hl_state *st, const struct hl_fact *f,
			 struct hl_model_diff *d)
{
	struct hl_images im;

	view(&im, st);
	return (hl_model_fact_cmp)(m, &im, f, d);
}

int hl_model_fact_sync_st(struct hl_model *m, const struct hl_state *st, const struct hl_fact *f)
{
	struct hl_images im;

	view(&im, st);
	return (hl_model_fact_sync)(m, &im, f);
}
