/*
 * tap.h: a minimal TAP producer for the C unit tests (run by prove).
 *
 *   ok(cond, "name %d", i);   is_int(got, want, "name");   is_str(got, want, "name");
 *   return tap_done();        prints the plan and returns the exit status.
 */
#ifndef MCPGATE_TAP_H
#define MCPGATE_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3))) static int
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

#define is_int(got, want, ...)                                                               \
	do {                                                                                 \
		long long tap_g_ = (long long)(got), tap_w_ = (long long)(want);             \
		if (!ok(tap_g_ == tap_w_, __VA_ARGS__))                                      \
			printf("#   got %lld, want %lld\n", tap_g_, tap_w_);                     \
	} while (0)

#define is_str(got, want, ...)                                                               \
	do {                                                                                 \
		const char *tap_g_ = (got), *tap_w_ = (want);                                \
		int tap_eq_ = tap_g_ != NULL && tap_w_ != NULL ? strcmp(tap_g_, tap_w_) == 0 \
							       : tap_g_ == tap_w_;           \
		if (!ok(tap_eq_, __VA_ARGS__))                                               \
			printf("#   got \"%s\", want \"%s\"\n", tap_g_ ? tap_g_ : "(null)",     \
			       tap_w_ ? tap_w_ : "(null)");                                  \
	} while (0)

__attribute__((unused)) static void
diag(const char *msg)
{
	printf("# %s\n", msg);
}

static int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed == 0 ? 0 : 1;
}

#endif
