/*
 * alloc_fail.h - the one allocator hook of the unit tests: allocations
 * that fail on demand, for the "every allocation failing in turn" sweeps
 * (c-ares' SetAllocFail does the same for its tests).
 *
 * Every unit test executable is linked with -Wl,--wrap= for malloc,
 * calloc, realloc, free, strdup, strndup and aligned_alloc (tests.cmake),
 * so each call to them in the test itself and in the static library
 * netprobe_core lands in alloc_fail.c; production code is unchanged.
 * Calls made inside shared libraries are not redirected: libc's own
 * internal allocations, cmocka's, c-ares', and jansson's unless the test
 * hands jansson the wrapped functions with json_set_alloc_funcs(malloc,
 * free) (the names resolve to the wrappers in a test executable).
 *
 * Unarmed (the default) the wrappers only count and pass through. Arm
 * only around the code under test, so that the test's own allocations
 * and asserts never see a failure.
 */
#ifndef NP_TEST_ALLOC_FAIL_H
#define NP_TEST_ALLOC_FAIL_H

#include <stddef.h>

/*
 * Arms the hook: the next n allocations succeed, then every later one
 * fails (NULL, errno ENOMEM) until alloc_fail_never() or the next
 * alloc_fail_after(). Resets alloc_count() and alloc_failures().
 * realloc(p, 0) and free() never fail and are not counted.
 */
void alloc_fail_after(long n);
/* Disarms the hook; resets alloc_count() and alloc_failures(). */
void alloc_fail_never(void);
/* Allocation calls since the last alloc_fail_after()/alloc_fail_never(),
 * the failed ones included. */
long alloc_count(void);
/* Allocations failed by the hook since then. */
long alloc_failures(void);
/*
 * Blocks allocated through the wrappers and not yet freed through them,
 * since the program started. Compare it before and after an operation to
 * see that a failed one leaves nothing behind; meaningless when the code
 * frees memory a shared library allocated with its own malloc.
 */
long alloc_outstanding(void);

/*
 * The sweep: runs op(ud) with alloc_fail_after(n) for n = 0, 1, 2, ...
 * until a run sees no failed allocation. Each run must return ok or oom
 * (ok is accepted after a failure too: some allocations are optional),
 * the last one ok, and op must free what it made before returning, so
 * that alloc_outstanding() is unchanged by every run (and LeakSanitizer
 * has nothing to report). Fails the cmocka test otherwise, with n. The
 * hook is disarmed before any check. Returns the number of allocations of
 * the run that went through: the allocation points covered.
 */
long alloc_fail_sweep(int (*op)(void *ud), void *ud, int ok, int oom);
/* The same without cmocka: -1 and a sentence in why (whylen bytes) where
 * alloc_fail_sweep() fails the test. */
long alloc_fail_sweep_check(int (*op)(void *ud), void *ud, int ok, int oom, char *why,
			    size_t whylen);

#endif
