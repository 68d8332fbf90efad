/*
 * test_mutation_tsan.c - the mutation suite's one mutant no oracle can see on x86
 * (tests/test_mutation.c lists it as an expected escape there): RELAXED_PUBLISH, a log
 * append that publishes the record's end with a relaxed store where a release is needed
 * (engine/hl_log.c: the release fence and its TSan annotation skipped). x86 keeps stores in
 * order, so no run can show a reader the record's bytes before they were written; the
 * C memory model allows it, and ThreadSanitizer sees the missing happens-before.
 *
 * Under TSan (scripts/test runs this concurrency suite in build-tsan with halt_on_error=1)
 * a forked child appends records from one CPU thread while another thread replays that
 * log (Cal<Obj>, an RCU reader) over and over, the mutant armed; TSan must stop the child with its exit code (66) and a data race
 * report. Without TSan the case only shows the mutant stays invisible (the run completes
 * and replays): that is why it needs TSan (or the aarch64 build's weaker ordering).
 *
 * Linked with the fault-injection copy of the library (tests/meson.build).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "hl_state.h"
#include "hl_fault.h"

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

struct writer {
	struct hl_engine *e;
	volatile int done;
};

/* CPU 0 maps host pages one after another: one record per step on npt(host)'s log */
static void *writer_thread(void *arg)
{
	struct writer *w = arg;

	for (uint64_t i = 0; i < 6000; i++)
		(void)hl_map_host(w->e, 0, hl_pa((HL_RAM_BASE_PFN + 4096 + i) * HL_PAGE_SIZE));
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* the workload: a writer appends while this thread replays the same log (Cal<Obj>) again
 * and again, so it reads records at the log's tail right after they were published */
static int workload(bool armed)
{
	struct writer w = { th_engine(2), 0 };
	struct hl_state *cal = hl_state_new(false);
	struct hl_replay_err err;
	pthread_t th;
	int rc = 0;

	if (!w.e || !cal)
		return 3;
	if (armed)
		hl_fault_set(HL_FAULT_RELAXED_PUBLISH, 1);
	pthread_create(&th, NULL, writer_thread, &w);
	while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE))
		if (hl_cal_obj(w.e, HL_NPT_OBJ(HL_HOSTVISOR), cal, &err) != 0)
			rc = 4;
	pthread_join(th, NULL);
	hl_fault_set(HL_FAULT_RELAXED_PUBLISH, 0);
	hl_state_free(cal);
	hl_engine_free(w.e);
	return rc;
}

/* exit status of a child that ran the workload with the mutant armed (or not) */
static int run_armed(bool armed)
{
#if defined(__aarch64__)
	/* qemu-aarch64 user mode (the cross build's suites) cannot start threads in a forked
	 * child of a threaded process; there is no TSan there: run it in-process */
	return workload(armed);
#else
	pid_t pid;
	int st = 0;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(workload(armed));
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
#endif
}

Test(mutation_tsan, relaxed_publish_caught_by_tsan, .timeout = 300)
{
	int clean = run_armed(false), armed;

	cr_assert_eq(clean, 0, "the run without the mutant failed (exit %d)", clean);
	armed = run_armed(true);
	if (UNDER_TSAN) {
		/* TSan's default exit code after a report (halt_on_error=1 in scripts/test) */
		cr_assert_eq(armed, 66, "RELAXED_PUBLISH: ThreadSanitizer did not report the missing release "
					"(child exit %d)", armed);
		printf("mutation suite: relaxed-publish -> caught by ThreadSanitizer (data race: a reader read a record "
		       "published without a release)\n");
	} else {
		cr_assert_eq(armed, 0, "the mutant's run failed without TSan (exit %d)", armed);
		printf("mutation suite: relaxed-publish is invisible without ThreadSanitizer on this platform "
		       "(run the concurrency suite in a -Db_sanitize=thread build)\n");
	}
}
