/*
 * test_alloc_fail.c - the unit tests' allocator hook (support/alloc_fail.c)
 * itself: unarmed it passes through, armed it lets n allocations through
 * and fails every later one with ENOMEM, it reaches netprobe_core's calls
 * and the test's own strdup, it counts what is still allocated, and the
 * sweep reports a leak, a wrong status and the points it covered.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "np.h"
#include "support/alloc_fail.h"

static void test_unarmed_passes_through(void **state)
{
	void *p;

	(void)state;
	alloc_fail_never();
	p = malloc(16);
	assert_non_null(p);
	assert_int_equal(alloc_count(), 1);
	assert_int_equal(alloc_failures(), 0);
	free(p);
}

static void test_after_n_every_later_one_fails(void **state)
{
	void *a, *b, *c, *d;
	char *s;

	(void)state;
	alloc_fail_after(2);
	a = malloc(8);
	b = calloc(2, 8);
	errno = 0;
	c = realloc(NULL, 8);
	assert_int_equal(errno, ENOMEM);
	d = malloc(8);
	s = strdup("x");
	assert_int_equal(alloc_count(), 5);
	assert_int_equal(alloc_failures(), 3);
	alloc_fail_never();
	assert_non_null(a);
	assert_non_null(b);
	assert_null(c);
	assert_null(d);
	assert_null(s);
	free(a);
	free(b);
}

static void test_failed_realloc_keeps_the_block(void **state)
{
	char *p = malloc(4), *q;

	(void)state;
	assert_non_null(p);
	memcpy(p, "abc", 4);
	alloc_fail_after(0);
	q = realloc(p, 4096);
	alloc_fail_never();
	if (q != NULL) {
		free(q);
		fail_msg("realloc went through");
	} else {
		assert_string_equal(p, "abc");
		free(p);
	}
}

static void test_strdup_strndup_aligned_alloc_wrapped(void **state)
{
	long before = alloc_outstanding();
	char *a, *b;
	void *volatile c; /* volatile: else the compiler drops the unused pair */

	(void)state;
	alloc_fail_never();
	a = strdup("hello");
	b = strndup("hello", 3);
	c = aligned_alloc(64, 128);
	assert_int_equal(alloc_count(), 3);
	assert_int_equal(alloc_outstanding(), before + 3);
	assert_string_equal(a, "hello");
	assert_string_equal(b, "hel");
	assert_true(((uintptr_t)c & 63) == 0);
	free(a);
	free(b);
	free(c);
	assert_int_equal(alloc_outstanding(), before);
}

/* np_grow's realloc is in netprobe_core, a static library: wrapped too. */
static void test_reaches_netprobe_core(void **state)
{
	size_t cap = 0;
	int *v;

	(void)state;
	alloc_fail_after(0);
	v = np_grow(NULL, &cap, 10, sizeof(int), 8, 0);
	assert_int_equal(alloc_count(), 1);
	alloc_fail_never();
	assert_null(v);
	assert_int_equal(cap, 0);
	v = np_grow(NULL, &cap, 10, sizeof(int), 8, 0);
	assert_non_null(v);
	assert_int_equal(cap, 16);
	free(v);
}

/* jansson allocates inside its shared library: out of the linker's reach
 * until it is handed the wrapped functions. */
static void test_shared_libraries_only_when_handed(void **state)
{
	json_malloc_t saved_malloc;
	json_free_t saved_free;
	json_t *j;

	(void)state;
	alloc_fail_after(0);
	j = json_object();
	assert_int_equal(alloc_count(), 0);
	alloc_fail_never();
	assert_non_null(j);
	json_decref(j);

	json_get_alloc_funcs(&saved_malloc, &saved_free);
	json_set_alloc_funcs(malloc, free);
	alloc_fail_after(0);
	j = json_object();
	assert_true(alloc_count() > 0);
	alloc_fail_never();
	json_set_alloc_funcs(saved_malloc, saved_free);
	assert_null(j);
}

/* ---- the sweep ---- */

struct three {
	int leak_at; /* allocation whose failure leaks the first block; 0: none */
	int wrong;   /* return NP_EINVAL instead of NP_ENOMEM */
	void *kept;  /* the "leaked" block, freed by the test so LSan stays quiet */
};

static int alloc_three(void *ud)
{
	struct three *t = ud;
	void *p[3] = {NULL, NULL, NULL};
	int rc = NP_OK;

	for (int i = 0; i < 3; i++) {
		p[i] = malloc(32);
		if (p[i] != NULL)
			continue;
		rc = t->wrong ? NP_EINVAL : NP_ENOMEM;
		if (t->leak_at == i + 1) {
			t->kept = p[0];
			p[0] = NULL;
		}
		break;
	}
	for (int i = 0; i < 3; i++)
		free(p[i]);
	return rc;
}

static void test_sweep_counts_the_points(void **state)
{
	struct three t = {0, 0, NULL};

	(void)state;
	assert_int_equal(alloc_fail_sweep(alloc_three, &t, NP_OK, NP_ENOMEM), 3);
}

static void test_sweep_finds_a_leak(void **state)
{
	struct three t = {3, 0, NULL};
	char why[160];

	(void)state;
	assert_int_equal(alloc_fail_sweep_check(alloc_three, &t, NP_OK, NP_ENOMEM, why,
						sizeof(why)),
			 -1);
	assert_string_equal(why, "allocation 3 failing: 1 blocks left allocated");
	free(t.kept);
}

static void test_sweep_finds_a_wrong_status(void **state)
{
	struct three t = {0, 1, NULL};
	char why[160];

	(void)state;
	assert_int_equal(alloc_fail_sweep_check(alloc_three, &t, NP_OK, NP_ENOMEM, why,
						sizeof(why)),
			 -1);
	assert_string_equal(why, "allocation 1 failing: returned 2, not 0 or 1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unarmed_passes_through),
	    cmocka_unit_test(test_after_n_every_later_one_fails),
	    cmocka_unit_test(test_failed_realloc_keeps_the_block),
	    cmocka_unit_test(test_strdup_strndup_aligned_alloc_wrapped),
	    cmocka_unit_test(test_reaches_netprobe_core),
	    cmocka_unit_test(test_shared_libraries_only_when_handed),
	    cmocka_unit_test(test_sweep_counts_the_points),
	    cmocka_unit_test(test_sweep_finds_a_leak),
	    cmocka_unit_test(test_sweep_finds_a_wrong_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
