/*
 * sys.c - the system interface libsodium.a (Debian's arm64 build) links against, as it
 * exists at EL2: no files, no virtual-memory manager, no signals. Randomness comes from the
 * CPU (FEAT_RNG, RNDR; -cpu max has it), the stack-protector guard from it at boot.
 * Verification (crypto_sign_verify_detached) needs none of the failing calls; sodium_init
 * needs getrandom (for its canary) and the page size.
 */
/* both mmap and mmap64 are referenced (libsodium, hl_state.c): define each by its own name */
#undef _FILE_OFFSET_BITS
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "image.h"

uintptr_t __stack_chk_guard = 0x595e9fbd94fda766ull;

void __stack_chk_fail(void)
{
	el2_fatal("stack smashing detected (cpu %u, from %p)", el2_cpu(), __builtin_return_address(0));
}

static bool have_rndr(void)
{
	uint64_t isar0;
	__asm__ volatile("mrs %0, id_aa64isar0_el1" : "=r"(isar0));
	return ((isar0 >> 60) & 0xF) != 0;
}

/* one 64-bit random number; false if the CPU has none (or RNDR failed: NZCV.Z set) */
static bool rndr(uint64_t *v)
{
	uint64_t ok;
	if (!have_rndr())
		return false;
	__asm__ volatile("mrs %0, s3_3_c2_c4_0\n\tcset %1, ne" : "=r"(*v), "=r"(ok) : : "cc");
	return ok != 0;
}

void el2_sys_init(void)
{
	uint64_t v;
	if (rndr(&v))
		__stack_chk_guard = v & ~0xFFull;   /* a zero low byte stops string overreads */
}

ssize_t getrandom(void *buf, size_t n, unsigned flags)
{
	uint8_t *p = buf;
	size_t done = 0;

	(void)flags;
	while (done < n) {
		uint64_t v;
		size_t k = n - done < 8 ? n - done : 8;
		if (!rndr(&v)) {
			if (done)
				return (ssize_t)done;
			errno = ENOSYS;
			return -1;
		}
		memcpy(p + done, &v, k);
		done += k;
	}
	return (ssize_t)n;
}

long sysconf(int name)
{
	if (name == _SC_PAGESIZE)
		return 4096;
	errno = EINVAL;
	return -1;
}

/* no file system */
int open(const char *path, int flags, ...)
{
	(void)path;
	(void)flags;
	errno = ENOENT;
	return -1;
}

int close(int fd)
{
	(void)fd;
	errno = EBADF;
	return -1;
}

ssize_t read(int fd, void *buf, size_t n)
{
	(void)fd;
	(void)buf;
	(void)n;
	errno = EBADF;
	return -1;
}

int fstat(int fd, struct stat *st)
{
	(void)fd;
	(void)st;
	errno = EBADF;
	return -1;
}

int fcntl(int fd, int cmd, ...)
{
	(void)fd;
	(void)cmd;
	errno = EBADF;
	return -1;
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	(void)fds;
	(void)n;
	(void)timeout;
	errno = ENOSYS;
	return -1;
}

/* no virtual-memory manager: the EL2 map is fixed, every page is resident */
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	(void)addr;
	(void)len;
	(void)prot;
	(void)flags;
	(void)fd;
	(void)off;
	errno = ENOMEM;
	return MAP_FAILED;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	return mmap(addr, len, prot, flags, fd, (off_t)off);
}

int munmap(void *addr, size_t len)
{
	(void)addr;
	(void)len;
	errno = EINVAL;
	return -1;
}

int mprotect(void *addr, size_t len, int prot)
{
	(void)addr;
	(void)len;
	(void)prot;
	errno = ENOSYS;
	return -1;
}

int madvise(void *addr, size_t len, int advice)
{
	(void)addr;
	(void)len;
	(void)advice;
	return 0;   /* advice only */
}

int mlock(const void *addr, size_t len)
{
	(void)addr;
	(void)len;
	return 0;   /* never paged out */
}

int munlock(const void *addr, size_t len)
{
	(void)addr;
	(void)len;
	return 0;
}

int raise(int sig)
{
	el2_fatal("raise(%d) on cpu %u", sig, el2_cpu());
}

void __explicit_bzero_chk(void *p, size_t n, size_t cap)
{
	if (n > cap)
		el2_fatal("explicit_bzero overflow");
	memset(p, 0, n);
	__asm__ volatile("" : : "r"(p) : "memory");
}
