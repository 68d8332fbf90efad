/* hl_shared.c - names for the shared vocabulary (events, status codes). */
#include <stdio.h>
#include "hl_const.h"
#include "hl_record.h"

static const struct {
	const char *name;
	unsigned nargs;
} ev_tab[HL_EV__COUNT] = {
	[HL_EV_NONE] = { "NONE", 0 },
	[HL_EV_MAP_HOST] = { "OMAP_HOST", 1 },
	[HL_EV_CLEAR_VM] = { "OCLEAR_VM", 2 },
	[HL_EV_ASSIGN_VM] = { "OASSIGN_VM", 3 },
	[HL_EV_MAP_VM] = { "OMAP_VM", 4 },
	[HL_EV_MAP_IO] = { "OMAP_IO", 3 },
	[HL_EV_GRANT] = { "OGRANT", 2 },
	[HL_EV_REVOKE] = { "OREVOKE", 2 },
	[HL_EV_GEN_VMID] = { "OGEN_VMID", 0 },
	[HL_EV_REG_KVM] = { "OREG_KVM", 2 },
	[HL_EV_REG_VCPU] = { "OREG_VCPU", 3 },
	[HL_EV_VM_ACTIVE] = { "OVM_ACTIVE", 2 },
	[HL_EV_VM_INACTIVE] = { "OVM_INACTIVE", 2 },
	[HL_EV_VM_POWEROFF] = { "OVM_POWEROFF", 1 },
	[HL_EV_BOOT_INFO] = { "OBOOT_INFO", 3 },
	[HL_EV_REMAP_IMAGE] = { "OREMAP_IMAGE", 3 },
	[HL_EV_VERIFY] = { "OVERIFY", 1 },
	[HL_EV_SMMU_ALLOC] = { "OSMMU_ALLOC", 4 },
	[HL_EV_SMMU_FREE] = { "OSMMU_FREE", 2 },
	[HL_EV_ASSIGN_SMMU] = { "OASSIGN_SMMU", 4 },
	[HL_EV_SMMU_MAP] = { "OSMMU_MAP", 4 },
	[HL_EV_SMMU_CLEAR] = { "OSMMU_CLEAR", 3 },
	[HL_EV_SMMU_GET] = { "OSMMU_GET", 3 },
	[HL_EV_VM_GET] = { "OVM_GET", 2 },
};

const char *hl_event_name(unsigned ev)
{
	return ev < HL_EV__COUNT ? ev_tab[ev].name : "?";
}

unsigned hl_event_nargs(unsigned ev)
{
	return ev < HL_EV__COUNT ? ev_tab[ev].nargs : 0;
}

const char *hl_status_str(int st)
{
	switch (st) {
	case HL_OK: return "ok";
	case HL_HALT: return "halt";
	case HL_E_INVAL: return "invalid argument";
	case HL_E_CPU_HALTED: return "cpu halted";
	case HL_E_STRANDED: return "object left locked by a halted cpu";
	case HL_E_NOLOG: return "log memory exhausted";
	case HL_E_NOTSUP: return "not supported";
	case HL_E_CPU: return "bad cpu id";
	case HL_E_DENIED: return "denied by an isolation rule";
	default: return "?";
	}
}

/* an object ID as the spec names it: "s2page", "npt(3)", "vminfo(1)" */
const char *hl_obj_name(unsigned id, char *buf, unsigned len)
{
	if (id == HL_FLATMEM_ID)
		snprintf(buf, len, "flatmem");
	else if (id == HL_CORE_ID)
		snprintf(buf, len, "core");
	else if (id == HL_S2PAGE_ID)
		snprintf(buf, len, "s2page");
	else if (id == HL_SPT_ID)
		snprintf(buf, len, "spt");
	else if (id == HL_SMMU_ID)
		snprintf(buf, len, "smmu");
	else if (id >= HL_NPT_ID && id < HL_INFO_ID)
		snprintf(buf, len, "npt(%u)", id - HL_NPT_ID);
	else if (id >= HL_INFO_ID && id < HL_ID_END)
		snprintf(buf, len, "vminfo(%u)", id - HL_INFO_ID);
	else if (hl_shard_parent(id) == HL_S2PAGE_ID)
		snprintf(buf, len, "s2page[%u]", hl_shard_index(id));
	else if (hl_shard_parent(id) == HL_NPT_OBJ(HL_HOSTVISOR))
		snprintf(buf, len, "npt(0)[%u]", hl_shard_index(id));
	else
		snprintf(buf, len, "obj#%u", id);
	return buf;
}
