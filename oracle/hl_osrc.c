/* hl_osrc.c - a live engine serialized for the oracle's parser; the CalStateH cross-check. */
#include "hl_osrc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hl_file.h"
#include "hl_model.h"
#include "hl_replay.h"
#include "hl_state.h"

/* the oracle reads files with its own parser: a format change in engine/hl_file.c must be
 * taught to oracle/hl_olog.c too (its layout structs, then HL_OLOG_VERSION_MAX) */
_Static_assert(HL_FILE_VERSION >= HL_OLOG_VERSION_MIN && HL_FILE_VERSION <= HL_OLOG_VERSION_MAX,
	       "engine/hl_file.c writes a file version oracle/hl_olog.c does not read");

static const char *tmp_dir(void)
{
	const char *t = getenv("TMPDIR");

	if (t && *t)
		return t;
	if (access("/dev/shm", W_OK) == 0)
		return "/dev/shm";
	return "/tmp";
}

/* a file written before the format carried seq-0 images: take them from this build */
static int fill_init(struct hl_olog *lg)
{
	struct hl_state *st;

	if (lg->has_init)
		return 0;
	st = hl_state_new(false);
	if (!st)
		return -1;
	for (unsigned o = 1; o < HL_ID_END; o++) {
		size_t n = hl_obj_valid(o) ? st->img[o].size : 0;
		if (!n || lg->obj[o].init)
			continue;
		if (lg->obj[o].size && lg->obj[o].size != n) {
			hl_state_free(st);
			return -1;
		}
		lg->own_img[1][o] = malloc(n);
		if (!lg->own_img[1][o]) {
			hl_state_free(st);
			return -1;
		}
		memcpy(lg->own_img[1][o], st->img[o].base, n);
		lg->obj[o].init = lg->own_img[1][o];
		lg->obj[o].size = n;
	}
	hl_state_free(st);
	return hl_olog_recompose(lg);
}

int hl_osrc_engine(struct hl_engine *e, unsigned flags, struct hl_olog *lg, struct hl_olog_err *err)
{
	static atomic_uint counter;
	struct hl_file_err fe;
	char path[512];
	int rc;

	memset(lg, 0, sizeof(*lg));
	snprintf(path, sizeof(path), "%s/hyplog-oracle-%d-%u.hlog", tmp_dir(), (int)getpid(),
		 atomic_fetch_add(&counter, 1));
	if (hl_file_write(e, path, &fe)) {
		if (err) {
			err->offset = fe.offset;
			snprintf(err->msg, sizeof(err->msg), "serializing the engine: %.170s", fe.msg);
		}
		return -1;
	}
	rc = hl_olog_read(lg, path, err);
	unlink(path);
	if (rc)
		return -1;
	if (fill_init(lg)) {
		hl_olog_free(lg);
		if (err) {
			err->offset = 0;
			snprintf(err->msg, sizeof(err->msg), "out of memory for the initial images");
		}
		return -1;
	}
	/* the live SPEC objects: the engine keeps each one contiguous, shards or not */
	if (flags & HL_OSRC_LIVE)
		for (unsigned o = 1; o < HL_ID_END; o++)
			if (lg->ab[o].size) {
				lg->live.img[o] = e->st->img[o].base;
				lg->live.len[o] = e->st->img[o].size;
			}
	lg->cuts_consistent = (flags & HL_OSRC_CUT_CONSISTENT) != 0;
	lg->quiesced = (flags & HL_OSRC_QUIESCED) != 0;
	if ((flags & HL_OSRC_RAM) && e->st->ram) {
		lg->live.ram = e->st->ram;
		lg->ram_exact = true;
	}
	return 0;
}

int hl_check_engine(struct hl_engine *e, unsigned flags, struct hl_verdict *v, struct hl_check_stats *st)
{
	struct hl_olog lg;
	struct hl_olog_err err;
	int rc;

	if (hl_osrc_engine(e, flags | HL_OSRC_LIVE, &lg, &err)) {
		memset(v, 0, sizeof(*v));
		v->rel = HL_REL_ERROR;
		v->obj = HL_VERDICT_NO_OBJ;
		v->cpu = -1;
		snprintf(v->what, sizeof(v->what), "%s (offset %llu)", err.msg, (unsigned long long)err.offset);
		return -1;
	}
	{
		struct hl_model *final = NULL;
		rc = hl_check_all_final(&lg, v, st, &final);
		hl_olog_free(&lg);
		if (rc == 0 && final) {
			/* the engine's CalStateH (its linearization, its transitions) must reach the
			 * state the oracle's model reached */
			char msg[300];
			int xr = hl_osrc_crosscheck(e, final, msg, sizeof(msg));
			if (xr) {
				memset(v, 0, sizeof(*v));
				v->rel = xr < 0 ? HL_REL_ERROR : HL_REL_LOG;
				v->obj = HL_VERDICT_NO_OBJ;
				v->cpu = -1;
				snprintf(v->what, sizeof(v->what), "cross-check: %s", msg);
				rc = xr;
			}
		}
		hl_model_free(final);
	}
	return rc;
}

int hl_osrc_crosscheck(struct hl_engine *e, const struct hl_model *final, char *msg, size_t len)
{
	struct hl_state *out = hl_state_new(false);
	struct hl_replay_err err;
	int rc;

	if (!out) {
		snprintf(msg, len, "out of memory");
		return -1;
	}
	if (hl_calstateh(e, out, NULL, &err)) {
		snprintf(msg, len, "the engine's CalStateH fails on a log the oracle accepts: %.200s", err.msg);
		rc = 1;
	} else {
		rc = hl_osrc_compare(out, final, msg, len);
	}
	hl_state_free(out);
	return rc;
}

int hl_osrc_compare(const struct hl_state *out, const struct hl_model *final, char *msg, size_t len)
{
	struct hl_model *t = hl_model_new();
	struct hl_model_diff d;
	struct hl_images im;
	int rc;

	if (!t) {
		snprintf(msg, len, "out of memory");
		return -1;
	}
	memset(&im, 0, sizeof(im));
	for (unsigned o = 1; o < HL_ID_END; o++)
		if (hl_obj_valid(o)) {
			im.img[o] = out->img[o].base;
			im.len[o] = out->img[o].size;
		}
	if (hl_model_abstract(t, &im)) {
		snprintf(msg, len, "the engine's CalStateH state cannot be read by the model");
		rc = 1;
		goto done;
	}
	rc = hl_model_diff(final, t, HL_ID_END, &d);
	if (rc)
		snprintf(msg, len, "the engine's CalStateH and the oracle's linearization replay differ at %s: "
			 "oracle %s, engine %s", d.where, d.a, d.b);
done:
	hl_model_free(t);
	return rc;
}
