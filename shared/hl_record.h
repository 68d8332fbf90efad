/*
 * hl_record.h - the atomic events (SPEC §6) and the per-object log record (SPEC §5).
 *
 * One record per object a step changed, appended under that object's lock:
 *
 *   struct hl_rec            88 bytes, fixed
 *   blob[blob_len]           data-oracle bytes (signature, image digests), padded to 8
 *   nlock x struct hl_rdep   EVERY object the step locked, in acquisition order (so
 *                            H_CalLock checks the global lock order over all of a step's
 *                            locks). An entry without HL_RD_WRITTEN is a read dependency:
 *                            the step locked the object and read it without changing it,
 *                            and `seq` is the last record it saw there (orders readers
 *                            before later writers, so CalStateH's linearization is
 *                            faithful). An entry with HL_RD_WRITTEN is an object the step
 *                            appended a record to; `seq` is that record's sequence number.
 *                            Every record of one step carries the same list.
 *   ndelta x { struct hl_delta, payload padded to 8 }
 *
 * A delta writes `len` bytes at byte offset `off` of the object image (or zero-fills
 * them). Records are 8-byte aligned and length-prefixed, so a reader can walk a segment
 * without knowing the event.
 */
#ifndef HL_RECORD_H
#define HL_RECORD_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

/* atomic events; numbering is hyplog's own and is part of the file format */
enum hl_event {
	HL_EV_NONE = 0,
	HL_EV_MAP_HOST,        /* addr */
	HL_EV_CLEAR_VM,        /* vmid, pfn */
	HL_EV_ASSIGN_VM,       /* vmid, gfn, pfn; dorc = content digest */
	HL_EV_MAP_VM,          /* vmid, addr, pte, level */
	HL_EV_MAP_IO,          /* vmid, gpa, pa */
	HL_EV_GRANT,           /* vmid, pfn */
	HL_EV_REVOKE,          /* vmid, pfn; dorc = content digest */
	HL_EV_GEN_VMID,        /* -; ret = vmid */
	/*
	 * KCore's keys (SPEC §11; hyplog: the C hard-codes one key). The log file header holds
	 * the run's provisioned Ed25519 public keys (engine/hl_file.c struct fhdr: nkeys, then
	 * kcore_keys[HL_MAX_KEYS][32], unused slots zero; hl_file_info.keys). OREG_KVM stores
	 * arg[2] = key_idx in vminfo.key_idx (shared/hl_types.h; it replaced public_key[32]);
	 * a live engine refuses key_idx >= nkeys before any step, so every OREG_KVM record
	 * has key_idx < the header's nkeys. OREG_KVM has no blob.
	 * OVERIFY's blob = digest_0 .. digest_{n-1}, 32 bytes each, n = vminfo.next_load_info:
	 * digest_i = BLAKE2b-256 (crypto_generichash, no key) of image i's load[i].size bytes
	 * as KCore read them through its remap window. With dorc = 1 (verified) the blob always
	 * holds all n digests, and a model recomputes the verdict as: for every i,
	 * crypto_sign_verify_detached(vminfo.load[i].signature, digest_i, 32,
	 * header key[vminfo.key_idx]) == 0 (signatures come from OBOOT_INFO's blob). A refused
	 * verification changes nothing and appends no record; a halted one has no blob.
	 */
	HL_EV_REG_KVM,         /* vmid, kvm handle, key_idx (SPEC §11: an index into KCore's keys) */
	HL_EV_REG_VCPU,        /* vmid, vcpuid, vcpu handle */
	HL_EV_VM_ACTIVE,       /* vmid, vcpuid */
	HL_EV_VM_INACTIVE,     /* vmid, vcpuid */
	HL_EV_VM_POWEROFF,     /* vmid */
	HL_EV_BOOT_INFO,       /* vmid, load_addr, size; blob = signature; ret = load_idx */
	HL_EV_REMAP_IMAGE,     /* vmid, pfn, load_idx */
	HL_EV_VERIFY,          /* vmid; dorc = 1 if every image signature verified, 2 if a load step
	                        * halted; blob = the images' BLAKE2b-256 digests (see above) */
	HL_EV_SMMU_ALLOC,      /* cbndx, vmid, index, num */
	HL_EV_SMMU_FREE,       /* cbndx, index */
	HL_EV_ASSIGN_SMMU,     /* cbndx, index, pfn, gfn; dorc = content digest */
	HL_EV_SMMU_MAP,        /* cbndx, index, iova, pte */
	HL_EV_SMMU_CLEAR,      /* iova, cbndx, index */
	HL_EV_SMMU_GET,        /* iova, cbndx, index (read-only, never logged) */
	HL_EV_VM_GET,          /* vmid, addr (read-only, never logged) */
	HL_EV__COUNT
};

const char *hl_event_name(unsigned ev);
/* number of meaningful args of an event */
unsigned hl_event_nargs(unsigned ev);

enum hl_rec_result {
	HL_RES_OK = 0,
	HL_RES_HALT = 1,       /* the step halted its CPU (SPEC §8) */
};

enum hl_rec_flags {
	HL_RF_STRANDED = 1u << 0,   /* the halted CPU kept this object's lock (hlock false) */
	HL_RF_NESTED = 1u << 1,     /* step ran inside another step's critical section */
};

struct hl_rec {
	uint32_t len;        /* whole record, bytes, multiple of 8 */
	uint32_t crc;        /* crc32 of the record with crc = 0; filled when written to a file */
	uint64_t seq;        /* per-object sequence number: 1, 2, 3, ... */
	uint64_t op;         /* operation ID: (cpu << 48) | per-CPU counter; shared by a step */
	uint16_t obj;        /* object ID */
	uint8_t event;       /* enum hl_event */
	uint8_t cpu;         /* physical CPU that ran the step */
	uint8_t result;      /* enum hl_rec_result */
	uint8_t nrec;        /* records this operation appended, over all objects */
	uint16_t ndelta;
	uint16_t flags;      /* enum hl_rec_flags */
	uint16_t nlock;      /* lock entries (struct hl_rdep) that follow the blob */
	uint32_t blob_len;
	uint64_t arg[4];
	uint64_t dorc;       /* data-oracle value (content digest, signature verdict) */
	uint64_t ret;        /* value the step returned to its caller (vmid, load_idx) */
};
static_assert(sizeof(struct hl_rec) == 88, "record header layout is part of the file format");
static_assert(sizeof(struct hl_rec) % 8 == 0, "records are 8-byte aligned");
static_assert(offsetof(struct hl_rec, seq) == 8, "seq offset");
static_assert(offsetof(struct hl_rec, arg) == 40, "arg offset");

enum hl_rdep_flags {
	HL_RD_WRITTEN = 1u << 0,   /* the step appended a record to obj; seq = that record's */
};

/* one lock a step took; the list is in acquisition order */
struct hl_rdep {
	uint16_t obj;
	uint16_t flags;      /* enum hl_rdep_flags */
	uint32_t pad1;
	uint64_t seq;        /* read: last record of obj the step saw (0 = initial state);
				written: the record the step appended there */
};
static_assert(sizeof(struct hl_rdep) == 16, "lock entry layout");

enum hl_delta_flags {
	HL_DF_ZERO = 1u << 0,   /* zero-fill `len` bytes; no payload */
};

struct hl_delta {
	uint32_t off;
	uint16_t len;
	uint8_t flags;
	uint8_t pad;
};
static_assert(sizeof(struct hl_delta) == 8, "delta header layout");

/* HL_BLOB_MAX: OVERIFY carries HL_MAX_LOAD_INFO (5) x 32-byte digests = 160 bytes.
 * HL_REC_MAX grew by as much as HL_BLOB_MAX so that a stage's delta room (engine/hl_state.h)
 * stays the same. */
/* HL_REC_MAX grew by 64 lock entries (issue 11: a step may lock every shard, engine/hl_state.h
 * HL_MAX_STAGES = 8 + HL_SHARD_MAX), so the delta room stays the same */
#define HL_REC_MAX     3200u    /* bound on one record, header included */
#define HL_BLOB_MAX    192u
#define HL_ALIGN8(x)   (((x) + 7u) & ~(uint32_t)7u)

static inline const uint8_t *hl_rec_blob(const struct hl_rec *r)
{
	return (const uint8_t *)(r + 1);
}

/* the record's lock list: r->nlock entries, acquisition order (read and written) */
static inline const struct hl_rdep *hl_rec_rdeps(const struct hl_rec *r)
{
	return (const struct hl_rdep *)((const uint8_t *)(r + 1) + HL_ALIGN8(r->blob_len));
}

/* a lock entry that is a read dependency (the step did not write that object) */
static inline int hl_rdep_is_read(const struct hl_rdep *d)
{
	return !(d->flags & HL_RD_WRITTEN);
}

static inline const struct hl_delta *hl_rec_first_delta(const struct hl_rec *r)
{
	return (const struct hl_delta *)(hl_rec_rdeps(r) + r->nlock);
}

static inline const struct hl_delta *hl_delta_next(const struct hl_delta *d)
{
	uint32_t pl = (d->flags & HL_DF_ZERO) ? 0 : HL_ALIGN8(d->len);
	return (const struct hl_delta *)((const uint8_t *)(d + 1) + pl);
}

#define HL_OP_CPU(op)  ((unsigned)((op) >> 48))

#endif /* HL_RECORD_H */
