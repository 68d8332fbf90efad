/*
 * crit-lite: the subset of the Criterion API the concurrency suites use, with a small
 * fork-per-test runner (tests/crit-lite/crit_lite.c). Used ONLY in ThreadSanitizer
 * builds (-Db_sanitize=thread, see tests/meson.build): Criterion's own runner cannot
 * start under TSan (Snaipe/Criterion#274: BoxFort maps its shared arena at random
 * addresses inside the ranges TSan reserves for its shadow memory, so it fails with
 * "Could not initialize inheritable arena" or crashes).
 *
 * Supported: Test(suite, name, .init/.fini/.timeout/.disabled/.description/.exit_code/
 * .signal), TestSuite(suite, same options), cr_assert*, cr_expect* (==, !=, <, <=, >, >=,
 * null, not_null, zero, not_zero, str, arr, float, not, fail), cr_skip_test, cr_log*.
 * Fatal failures end the test at once (from any thread), as in Criterion.
 */
#ifndef CRIT_LITE_CRITERION_H
#define CRIT_LITE_CRITERION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define CRIT_LITE 1

struct crl_opts {
	void (*init)(void);
	void (*fini)(void);
	double timeout;
	bool disabled;
	const char *description;
	int exit_code;
	int signal;
};

struct crl_test {
	const char *suite, *name;
	void (*fn)(void);
	struct crl_opts o;
	struct crl_test *next;
};

struct crl_suite {
	const char *name;
	struct crl_opts o;
	struct crl_suite *next;
};

void crl_register_test(struct crl_test *t);
void crl_register_suite(struct crl_suite *s);
void crl_fail(bool fatal, const char *file, int line, const char *expr, const char *fmt, ...);
void crl_skip(const char *fmt, ...);
void crl_log(const char *level, const char *fmt, ...);

#define Test(Suite, Name, ...)                                                                 \
	static void crl_##Suite##_##Name##_impl(void);                                         \
	static struct crl_test crl_##Suite##_##Name##_test = {                                 \
		#Suite, #Name, crl_##Suite##_##Name##_impl, { __VA_ARGS__ }, NULL };           \
	__attribute__((constructor)) static void crl_##Suite##_##Name##_reg(void)              \
	{                                                                                      \
		crl_register_test(&crl_##Suite##_##Name##_test);                               \
	}                                                                                      \
	static void crl_##Suite##_##Name##_impl(void)

#define TestSuite(Suite, ...)                                                                  \
	static struct crl_suite crl_suite_##Suite = { #Suite, { __VA_ARGS__ }, NULL };         \
	__attribute__((constructor)) static void crl_suite_##Suite##_reg(void)                 \
	{                                                                                      \
		crl_register_suite(&crl_suite_##Suite);                                        \
	}

/* the optional message must be a string literal, as in Criterion */
#define crl_check_(Fatal, Cond, Expr, ...)                                                     \
	do {                                                                                   \
		if (!(Cond))                                                                   \
			crl_fail((Fatal), __FILE__, __LINE__, (Expr), "" __VA_ARGS__);         \
	} while (0)

#define crl_cmp_(F, Op, A, B, ...) crl_check_(F, (A) Op (B), #A " " #Op " " #B, __VA_ARGS__)

#define cr_assert(C, ...)              crl_check_(true, C, #C, __VA_ARGS__)
#define cr_expect(C, ...)              crl_check_(false, C, #C, __VA_ARGS__)
#define cr_assert_not(C, ...)          crl_check_(true, !(C), "!(" #C ")", __VA_ARGS__)
#define cr_expect_not(C, ...)          crl_check_(false, !(C), "!(" #C ")", __VA_ARGS__)
#define cr_assert_eq(A, B, ...)        crl_cmp_(true, ==, A, B, __VA_ARGS__)
#define cr_expect_eq(A, B, ...)        crl_cmp_(false, ==, A, B, __VA_ARGS__)
#define cr_assert_neq(A, B, ...)       crl_cmp_(true, !=, A, B, __VA_ARGS__)
#define cr_expect_neq(A, B, ...)       crl_cmp_(false, !=, A, B, __VA_ARGS__)
#define cr_assert_lt(A, B, ...)        crl_cmp_(true, <, A, B, __VA_ARGS__)
#define cr_expect_lt(A, B, ...)        crl_cmp_(false, <, A, B, __VA_ARGS__)
#define cr_assert_leq(A, B, ...)       crl_cmp_(true, <=, A, B, __VA_ARGS__)
#define cr_expect_leq(A, B, ...)       crl_cmp_(false, <=, A, B, __VA_ARGS__)
#define cr_assert_gt(A, B, ...)        crl_cmp_(true, >, A, B, __VA_ARGS__)
#define cr_expect_gt(A, B, ...)        crl_cmp_(false, >, A, B, __VA_ARGS__)
#define cr_assert_geq(A, B, ...)       crl_cmp_(true, >=, A, B, __VA_ARGS__)
#define cr_expect_geq(A, B, ...)       crl_cmp_(false, >=, A, B, __VA_ARGS__)
#define cr_assert_null(P, ...)         crl_check_(true, (P) == NULL, #P " == NULL", __VA_ARGS__)
#define cr_expect_null(P, ...)         crl_check_(false, (P) == NULL, #P " == NULL", __VA_ARGS__)
#define cr_assert_not_null(P, ...)     crl_check_(true, (P) != NULL, #P " != NULL", __VA_ARGS__)
#define cr_expect_not_null(P, ...)     crl_check_(false, (P) != NULL, #P " != NULL", __VA_ARGS__)
#define cr_assert_zero(V, ...)         crl_check_(true, !(V), #V " == 0", __VA_ARGS__)
#define cr_expect_zero(V, ...)         crl_check_(false, !(V), #V " == 0", __VA_ARGS__)
#define cr_assert_not_zero(V, ...)     crl_check_(true, !!(V), #V " != 0", __VA_ARGS__)
#define cr_expect_not_zero(V, ...)     crl_check_(false, !!(V), #V " != 0", __VA_ARGS__)
#define cr_assert_str_eq(A, B, ...)    crl_check_(true, strcmp((A), (B)) == 0, #A " == " #B, __VA_ARGS__)
#define cr_expect_str_eq(A, B, ...)    crl_check_(false, strcmp((A), (B)) == 0, #A " == " #B, __VA_ARGS__)
#define cr_assert_str_neq(A, B, ...)   crl_check_(true, strcmp((A), (B)) != 0, #A " != " #B, __VA_ARGS__)
#define cr_expect_str_neq(A, B, ...)   crl_check_(false, strcmp((A), (B)) != 0, #A " != " #B, __VA_ARGS__)
#define cr_assert_str_empty(S, ...)    crl_check_(true, (S)[0] == 0, #S " is empty", __VA_ARGS__)
#define cr_assert_str_not_empty(S, ...) crl_check_(true, (S)[0] != 0, #S " is not empty", __VA_ARGS__)
#define cr_assert_arr_eq(A, B, N, ...) crl_check_(true, memcmp((A), (B), (N)) == 0, #A " == " #B, __VA_ARGS__)
#define cr_expect_arr_eq(A, B, N, ...) crl_check_(false, memcmp((A), (B), (N)) == 0, #A " == " #B, __VA_ARGS__)
#define cr_assert_arr_neq(A, B, N, ...) crl_check_(true, memcmp((A), (B), (N)) != 0, #A " != " #B, __VA_ARGS__)
#define cr_assert_float_eq(A, B, E, ...)                                                       \
	crl_check_(true, (A) - (B) <= (E) && (B) - (A) <= (E), #A " ~= " #B, __VA_ARGS__)
#define cr_expect_float_eq(A, B, E, ...)                                                       \
	crl_check_(false, (A) - (B) <= (E) && (B) - (A) <= (E), #A " ~= " #B, __VA_ARGS__)
#define cr_assert_fail(...)            crl_fail(true, __FILE__, __LINE__, "cr_assert_fail", "" __VA_ARGS__)
#define cr_expect_fail(...)            crl_fail(false, __FILE__, __LINE__, "cr_expect_fail", "" __VA_ARGS__)
#define cr_fatal(...)                  cr_assert_fail(__VA_ARGS__)
#define cr_skip_test(...)              crl_skip("" __VA_ARGS__)

#define cr_log_info(...)               crl_log("INFO", __VA_ARGS__)
#define cr_log_warn(...)               crl_log("WARN", __VA_ARGS__)
#define cr_log_error(...)              crl_log("ERR ", __VA_ARGS__)

#endif
