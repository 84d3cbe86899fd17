/*
 * alloc_fail.c - the wrappers behind alloc_fail.h. The linker sends every
 * call to malloc & co. in the test executable's own objects (the test and
 * netprobe_core's members) here (-Wl,--wrap=malloc: an undefined malloc
 * becomes __wrap_malloc, __real_malloc becomes the real one, or ASan's).
 * Counters are atomic so that a loop or worker thread allocating beside
 * the test is safe; "the next n succeed" is then counted across threads.
 */
#include "alloc_fail.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__real_aligned_alloc(size_t align, size_t n);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);

static atomic_long limit = -1; /* allocations left to succeed; -1: unarmed */
static atomic_long calls;
static atomic_long failures;
static atomic_long outstanding;

void alloc_fail_after(long n)
{
	atomic_store(&calls, 0);
	atomic_store(&failures, 0);
	atomic_store(&limit, n < 0 ? 0 : n);
}

void alloc_fail_never(void)
{
	atomic_store(&limit, -1);
	atomic_store(&calls, 0);
	atomic_store(&failures, 0);
}

long alloc_count(void)
{
	return atomic_load(&calls);
}

long alloc_failures(void)
{
	return atomic_load(&failures);
}

long alloc_outstanding(void)
{
	return atomic_load(&outstanding);
}

/* Counts one allocation; 0 when it must fail (errno set). */
static int may_allocate(void)
{
	long i = atomic_fetch_add(&calls, 1);
	long lim = atomic_load(&limit);

	if (lim < 0 || i < lim)
		return 1;
	atomic_fetch_add(&failures, 1);
	errno = ENOMEM;
	return 0;
}

static void *counted(void *p)
{
	if (p != NULL)
		atomic_fetch_add(&outstanding, 1);
	return p;
}

void *__wrap_malloc(size_t n)
{
	return may_allocate() ? counted(__real_malloc(n)) : NULL;
}

void *__wrap_calloc(size_t n, size_t size)
{
	return may_allocate() ? counted(__real_calloc(n, size)) : NULL;
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
	return may_allocate() ? counted(__real_aligned_alloc(align, n)) : NULL;
}

void *__wrap_realloc(void *p, size_t n)
{
	void *q;

	if (p == NULL)
		return __wrap_malloc(n);
	if (n == 0) {
		/* glibc (and ASan) free p and return NULL: not an allocation. */
		q = __real_realloc(p, 0);
		if (q == NULL)
			atomic_fetch_sub(&outstanding, 1);
		return q;
	}
	if (!may_allocate())
		return NULL; /* p untouched, as a real failure leaves it */
	return __real_realloc(p, n);
}

void __wrap_free(void *p)
{
	if (p != NULL)
		atomic_fetch_sub(&outstanding, 1);
	__real_free(p);
}

/* libc's strdup would allocate inside libc, out of the linker's reach. */
char *__wrap_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = __wrap_malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

char *__wrap_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = __wrap_malloc(len + 1);

	if (d != NULL) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

/* A safety net for runaway sweeps: no operation here allocates this often. */
#define SWEEP_MAX 100000

long alloc_fail_sweep_check(int (*op)(void *ud), void *ud, int ok, int oom, char *why,
			    size_t whylen)
{
	for (long n = 0; n < SWEEP_MAX; n++) {
		long before = alloc_outstanding();
		long count, failed;
		int rc;

		alloc_fail_after(n);
		rc = op(ud);
		count = alloc_count();
		failed = alloc_failures();
		alloc_fail_never();
		if (rc != ok && rc != oom) {
			snprintf(why, whylen, "allocation %ld failing: returned %d, not %d or %d",
				 n + 1, rc, ok, oom);
			return -1;
		}
		if (alloc_outstanding() != before) {
			snprintf(why, whylen, "allocation %ld failing: %ld blocks left allocated",
				 n + 1, alloc_outstanding() - before);
			return -1;
		}
		if (failed == 0) {
			if (rc == ok)
				return count;
			snprintf(why, whylen, "no allocation failed, yet returned %d", rc);
			return -1;
		}
	}
	snprintf(why, whylen, "still failing after %d allocations", SWEEP_MAX);
	return -1;
}

long alloc_fail_sweep(int (*op)(void *ud), void *ud, int ok, int oom)
{
	char why[160];
	long points = alloc_fail_sweep_check(op, ud, ok, oom, why, sizeof(why));

	if (points < 0)
		fail_msg("%s", why);
	return points;
}
