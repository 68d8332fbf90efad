/*
 * arch_hosted.c - the hosted backend of arch.h: each pthread is a physical CPU and its
 * system registers are thread-local variables. Guests run as scripted programs (see
 * hosted_guest.h) instead of at EL1.
 */
#include <sched.h>
#include <stddef.h>

#include "arch.h"
#include "hosted.h"

static __thread unsigned cpu_id;
static __thread void *cpu_data;
static __thread uint64_t sysregs[SR__COUNT];
static __thread struct arch_fpsimd fpregs;   /* this CPU's FP/SIMD register file */
static hosted_guest_fn guest_fn;
static void *guest_arg;

/* the CPU model: PAuth implemented (as QEMU's -cpu max) unless a test says otherwise; without
 * it the key registers read 0 and ignore writes, as arch_el2.c never touches them */
static bool cpu_pauth = true;

void hosted_set_pauth(bool on) { cpu_pauth = on; }
bool arch_has_pauth(void) { return cpu_pauth; }

static bool is_pauth_key(enum arch_sysreg r)
{
	return r >= SR_APIAKEYLO_EL1 && r <= SR_APGAKEYHI_EL1;
}

uint64_t arch_read_sysreg(enum arch_sysreg r)
{
	if (is_pauth_key(r) && !cpu_pauth)
		return 0;
	return r < SR__COUNT ? sysregs[r] : 0;
}

void arch_write_sysreg(enum arch_sysreg r, uint64_t v)
{
	if (is_pauth_key(r) && !cpu_pauth)
		return;
	if (r < SR__COUNT)
		sysregs[r] = v;
}

void arch_fpsimd_save(struct arch_fpsimd *s) { *s = fpregs; }
void arch_fpsimd_restore(const struct arch_fpsimd *s) { fpregs = *s; }
struct arch_fpsimd *hosted_fpsimd(void) { return &fpregs; }

unsigned arch_cpu_id(void) { return cpu_id; }
void *arch_this_cpu_data(void) { return cpu_data; }
void arch_set_this_cpu_data(void *p) { cpu_data = p; }

void arch_dsb_isb(void)
{
	/* every table change happens under its lock and every walk takes it: a compiler
	 * barrier is all the hosted software MMU needs */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void arch_tlbi_vmid(uint64_t vttbr)
{
	/* the software MMU walks the tables on every access: nothing is cached */
	(void)vttbr;
}

static hosted_tlbi_fn tlbi_fn;
static void *tlbi_arg;

void arch_tlbi_s2_ipa(uint64_t vttbr, uint64_t ipa)
{
	/* no platform: nothing caches a translation. With one: its per-CPU TLB model drops
	 * the entry everywhere and waits out every access in flight (platform.c) */
	hosted_tlbi_fn fn = __atomic_load_n(&tlbi_fn, __ATOMIC_ACQUIRE);

	if (fn)
		fn(__atomic_load_n(&tlbi_arg, __ATOMIC_RELAXED), vttbr, ipa);
}

void hosted_set_tlbi_hook(hosted_tlbi_fn fn, void *arg)
{
	__atomic_store_n(&tlbi_arg, arg, __ATOMIC_RELAXED);
	__atomic_store_n(&tlbi_fn, fn, __ATOMIC_RELEASE);
}

void arch_wait(void) { sched_yield(); }
void arch_wake_all(void) {}

unsigned arch_guest_enter(uint64_t *gprs)
{
	return guest_fn ? guest_fn(guest_arg, gprs) : ARCH_EXIT_IRQ;
}

void hosted_cpu_init(unsigned id)
{
	cpu_id = id;
	for (unsigned i = 0; i < SR__COUNT; i++)
		sysregs[i] = 0;
	fpregs = (struct arch_fpsimd){0};
}

void hosted_set_guest_runner(hosted_guest_fn fn, void *arg)
{
	guest_fn = fn;
	guest_arg = arg;
}
