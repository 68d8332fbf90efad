/*
 * hl_images.h - one whole shared state as raw object images: the view the log file gives
 * (snapshots, Cal<Obj>) and the only view the oracle's model and checks use, so that they
 * depend on shared/ and the file format alone, never on engine code.
 *
 * img[obj] points at `len[obj]` bytes laid out as shared/hl_types.h describes (s2page with
 * flatmem, core, smmu, the spt pool image, npt(v) pool images, vminfo(v)); NULL for IDs
 * without state. `ram`, when not NULL, is the page memory from HL_RAM_BASE (HL_RAM_PAGES
 * pages) that flatmem's digests describe; only a live hosted run has it.
 */
#ifndef HL_IMAGES_H
#define HL_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include "hl_const.h"

struct hl_images {
	const uint8_t *img[HL_ID_END];
	size_t len[HL_ID_END];
	const uint8_t *ram;
};

/* KCore's provisioned public keys (SPEC §11), as the log file header carries them */
struct hl_keyset {
	unsigned nkeys;
	uint8_t key[HL_MAX_KEYS][32];
};

#endif /* HL_IMAGES_H */
