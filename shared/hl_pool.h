/*
 * hl_pool.h - where the hosted engine places its page-table pools (physical addresses).
 *
 * A table descriptor holds a PA; the engine's table objects hold their own pool, whose
 * page 0 (the metadata page) sits at `pool_pa` (struct hl_pt_meta). A hosted run uses
 * these fixed PAs, above every PA a host or a VM may name (HL_PHYS_SIZE bounds host PAs
 * at 2^40, RAM ends far below 0x80_0000_0000), so a pool page is never RAM; the EL2 image
 * uses the pools' real addresses instead (the log file's seq-0 images carry whichever).
 * Shared by the engine (engine/hl_state.c) and the oracle's model (oracle/hl_model.c),
 * which must not include engine headers.
 */
#ifndef HL_POOL_H
#define HL_POOL_H

#define HL_PT_POOL_PA_BASE   0x8000000000ull   /* npt(v) pool at BASE + v * STRIDE */
#define HL_PT_POOL_PA_STRIDE 0x10000000ull
/* The SMMU roots are two concatenated 4 KiB tables (40-bit input at level 1), which the
 * Arm ARM requires aligned to their 8 KiB size; they start one (meta) page into the image,
 * so the image starts one page below an 8 KiB boundary. */
#define HL_SPT_POOL_PA       0x6FFFFFF000ull

#endif /* HL_POOL_H */
