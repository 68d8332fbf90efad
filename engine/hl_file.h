/*
 * hl_file.h - a run's logs in one versioned binary file (SPEC §5 "Files").
 *
 *   header      magic "HYPLOG\r\n", version, the build configuration, the run's
 *               configuration, KCore's public keys (nkeys + keys), crc32
 *   per object  section header (object, first seq, record count, snapshot sizes,
 *               the live object's digest at write time, seq-0 image sizes and crc32,
 *               crc32), the zlib-compressed seq-0 (initial) image of the object (every
 *               object with state has one: a checker needs no engine code to start from
 *               it), the zlib-compressed checkpoint snapshot if any, then the records,
 *               each with its crc32
 *   trailer     magic, object and record totals, halted-CPU mask, crc32
 *
 * Files are written to NAME.tmp and renamed, so a crash never leaves a half-written log.
 * The reader checks every length, checksum and bound and reports the byte offset of the
 * first problem; it never trusts a field before checking it.
 */
#ifndef HL_FILE_H
#define HL_FILE_H

#include <stdint.h>

#include "hl_engine.h"
#include "hl_images.h"

/* 4: seq-0 images in the object sections; 5: KCore's keys in the header; 6: the refinement
 * map (shards, issue 11) after the header, sections for every id below HL_OBJ_END */
#define HL_FILE_VERSION 7u   /* 7: the KCore ranges block (issue 12) */

struct hl_file_info {
	uint32_t version;
	uint32_t ncpus;
	uint32_t lock_kind;
	struct hl_keyset keys;       /* KCore's provisioned public keys, from the header */
	uint64_t halted_mask;
	uint64_t records;
	uint64_t nsnap;
	uint64_t live_digest[HL_OBJ_END];
	uint8_t has_live_digest[HL_OBJ_END];   /* the section has state (0: no object in this run) */
	unsigned nshards;            /* shards in the file's refinement map */
	uint64_t file_bytes;
};

struct hl_file_err {
	uint64_t offset;
	char msg[200];
};

/* Write every log of `e` (RCU reader; quiesce the CPUs first for exact live digests). */
int hl_file_write(struct hl_engine *e, const char *path, struct hl_file_err *err);
/* The same, with the live digests given (HL_OBJ_END entries: shards too; [0] unused): for logs whose live
 * state is elsewhere (collected from the EL2 image by `hyplog boot`). NULL: digest e->st. */
int hl_file_write_live(struct hl_engine *e, const char *path, const uint64_t *live_digest,
		       struct hl_file_err *err);
/* Read a file into a new engine (no page memory) whose logs are the file's. */
struct hl_engine *hl_file_read(const char *path, struct hl_file_info *info, struct hl_file_err *err);
/* The seq-0 (initial) image of `obj` that a file written from e carries, into buf (`size`
 * must be the object's image size): the file's own if e was read from one, else e's
 * initial image (a seq-0 snapshot, or what hl_state_new builds). 0, or -1. */
int hl_file_seq0(struct hl_engine *e, unsigned obj, void *buf, size_t size);

#endif
