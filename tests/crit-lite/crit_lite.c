/*
 * crit_lite.c - the runner behind tests/crit-lite/criterion/criterion.h (ThreadSanitizer
 * builds only; see that header for why).
 *
 * Every test runs in its own forked process, as with Criterion: suite .init, test .init,
 * the body, test .fini, suite .fini. The parent never starts a thread, so the children
 * fork from a single-threaded process. A fatal assertion ends the child with exit code
 * 97 (from any thread); an expectation failure makes it exit 97 at the end; a skip exits
 * 98; .timeout is enforced with alarm(). Output imitates Criterion's, ending with its
 * "Synthesis" line; the exit status is 0 iff every test that ran passed.
 *
 * Options: --filter GLOB (on "suite/name"), --list, --verbose, --help; --jobs N and other
 * Criterion options are accepted and ignored.
 */
#include "criterion/criterion.h"

#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CRL_FAIL_CODE 97
#define CRL_SKIP_CODE 98

static struct crl_test *tests;
static struct crl_suite *suites;
static volatile int crl_failed;

void crl_register_test(struct crl_test *t)
{
	t->next = tests;
	tests = t;
}

void crl_register_suite(struct crl_suite *s)
{
	s->next = suites;
	suites = s;
}

void crl_fail(bool fatal, const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;
	char msg[1024] = "";

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "[----] %s:%d: %s\n[----]   %s%s%s\n", file, line,
		fatal ? "Assertion Failed" : "Expectation Failed", expr, msg[0] ? ": " : "", msg);
	fflush(stderr);
	__atomic_store_n(&crl_failed, 1, __ATOMIC_SEQ_CST);
	if (fatal)
		_exit(CRL_FAIL_CODE);
}

void crl_skip(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[----] skipped: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
	_exit(CRL_SKIP_CODE);
}

void crl_log(const char *level, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[%s] ", level);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static const struct crl_suite *suite_of(const struct crl_test *t)
{
	for (const struct crl_suite *s = suites; s; s = s->next)
		if (!strcmp(s->name, t->suite))
			return s;
	return NULL;
}

static int cmp_test(const void *a, const void *b)
{
	const struct crl_test *x = *(struct crl_test *const *)a, *y = *(struct crl_test *const *)b;
	int c = strcmp(x->suite, y->suite);
	return c ? c : strcmp(x->name, y->name);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void usage(const char *argv0)
{
	printf("usage: %s [--filter GLOB] [--list] [--verbose] [--jobs N (ignored)]\n"
	       "crit-lite: a minimal Criterion-compatible runner for ThreadSanitizer builds\n",
	       argv0);
}

static void run_child(const struct crl_test *t, const struct crl_suite *s, double timeout)
{
	signal(SIGALRM, SIG_DFL);
	if (timeout > 0)
		alarm((unsigned)timeout + (timeout > (double)(unsigned)timeout));
	if (s && s->o.init)
		s->o.init();
	if (t->o.init)
		t->o.init();
	t->fn();
	if (t->o.fini)
		t->o.fini();
	if (s && s->o.fini)
		s->o.fini();
	fflush(stdout);
	fflush(stderr);
	exit(__atomic_load_n(&crl_failed, __ATOMIC_SEQ_CST) ? CRL_FAIL_CODE : 0);
}

int main(int argc, char **argv)
{
	const char *filter = NULL;
	bool list = false, verbose = false;
	size_t n = 0, k = 0;
	unsigned tested = 0, passing = 0, failing = 0, crashing = 0, skipped = 0;
	struct crl_test **v;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(argv[0]);
			return 0;
		} else if (!strcmp(a, "--list") || !strcmp(a, "-l")) {
			list = true;
		} else if (!strncmp(a, "--verbose", 9)) {
			verbose = true;
		} else if (!strncmp(a, "--filter=", 9)) {
			filter = a + 9;
		} else if (!strcmp(a, "--filter") && i + 1 < argc) {
			filter = argv[++i];
		} else if ((!strcmp(a, "--jobs") || !strcmp(a, "-j")) && i + 1 < argc) {
			i++;   /* one test at a time, always */
		} else if (a[0] == '-') {
			fprintf(stderr, "crit-lite: ignoring option %s\n", a);
		}
	}
	for (struct crl_test *t = tests; t; t = t->next)
		n++;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return 2;
	for (struct crl_test *t = tests; t; t = t->next)
		v[k++] = t;
	qsort(v, n, sizeof(*v), cmp_test);

	if (list) {
		for (size_t i = 0; i < n; i++)
			printf("%s::%s%s\n", v[i]->suite, v[i]->name, v[i]->o.disabled ? " (disabled)" : "");
		free(v);
		return 0;
	}
	printf("[====] Running %zu tests (crit-lite runner)\n", n);
	fflush(stdout);
	for (size_t i = 0; i < n; i++) {
		const struct crl_test *t = v[i];
		const struct crl_suite *s = suite_of(t);
		double timeout = t->o.timeout > 0 ? t->o.timeout : (s ? s->o.timeout : 0);
		int exit_code = t->o.exit_code ? t->o.exit_code : (s ? s->o.exit_code : 0);
		int sig = t->o.signal ? t->o.signal : (s ? s->o.signal : 0);
		char full[512];
		double t0;
		int st = 0;
		pid_t pid;

		snprintf(full, sizeof(full), "%s/%s", t->suite, t->name);
		if (filter && fnmatch(filter, full, 0) != 0)
			continue;
		if (t->o.disabled || (s && s->o.disabled)) {
			printf("[SKIP] %s::%s: test is disabled\n", t->suite, t->name);
			skipped++;
			continue;
		}
		if (verbose)
			printf("[RUN ] %s::%s\n", t->suite, t->name);
		fflush(stdout);
		fflush(stderr);
		t0 = now();
		pid = fork();
		if (pid < 0) {
			perror("crit-lite: fork");
			return 2;
		}
		if (pid == 0)
			run_child(t, s, timeout);
		while (waitpid(pid, &st, 0) < 0)
			;
		tested++;
		if (WIFEXITED(st) && WEXITSTATUS(st) == CRL_SKIP_CODE) {
			tested--;
			skipped++;
			printf("[SKIP] %s::%s\n", t->suite, t->name);
		} else if (WIFEXITED(st) && WEXITSTATUS(st) == exit_code && !sig) {
			passing++;
			if (verbose)
				printf("[PASS] %s::%s: (%.2fs)\n", t->suite, t->name, now() - t0);
		} else if (WIFSIGNALED(st) && sig && WTERMSIG(st) == sig) {
			passing++;
			if (verbose)
				printf("[PASS] %s::%s: (%.2fs)\n", t->suite, t->name, now() - t0);
		} else if (WIFSIGNALED(st)) {
			crashing++;
			if (WTERMSIG(st) == SIGALRM && timeout > 0)
				printf("[FAIL] %s::%s: timed out after %.0fs\n", t->suite, t->name, timeout);
			else
				printf("[FAIL] %s::%s: CRASH! (signal %d, %s)\n", t->suite, t->name, WTERMSIG(st),
				       strsignal(WTERMSIG(st)));
		} else {
			failing++;
			printf("[FAIL] %s::%s: (%.2fs, exit status %d)\n", t->suite, t->name, now() - t0,
			       WEXITSTATUS(st));
		}
		fflush(stdout);
	}
	printf("[====] Synthesis: Tested: %u | Passing: %u | Failing: %u | Crashing: %u\n", tested, passing,
	       failing, crashing);
	free(v);
	return failing || crashing ? 1 : 0;
}
