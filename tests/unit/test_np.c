/* Unit tests for the small shared helpers: np_grow (the growable arrays'
 * step) and np_parse_bool (service/np.c), np_accept_error_is_transient
 * (service/netaddr.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"
#include "np.h"

static void test_grow_from_first_and_doubling(void **state)
{
	size_t cap = 0;
	int *a = NULL, *b;

	(void)state;
	a = np_grow(a, &cap, 1, sizeof(*a), 8, 0);
	assert_non_null(a);
	assert_int_equal(cap, 8);
	for (int i = 0; i < 8; i++)
		a[i] = i;
	/* Enough room already: the same array, untouched. */
	b = np_grow(a, &cap, 8, sizeof(*a), 8, 0);
	assert_ptr_equal(a, b);
	assert_int_equal(cap, 8);
	/* One more: doubled, contents kept. */
	a = np_grow(a, &cap, 9, sizeof(*a), 8, 0);
	assert_non_null(a);
	assert_int_equal(cap, 16);
	for (int i = 0; i < 8; i++)
		assert_int_equal(a[i], i);
	/* Far more: doubled until it fits. */
	a = np_grow(a, &cap, 100, sizeof(*a), 8, 0);
	assert_non_null(a);
	assert_int_equal(cap, 128);
	a[99] = 99;
	free(a);
}

static void test_grow_bounded_by_max(void **state)
{
	size_t cap = 0;
	unsigned char *a = NULL, *b;

	(void)state;
	a = np_grow(a, &cap, 5000, 1, 4096, 6000);
	assert_non_null(a);
	assert_int_equal(cap, 6000); /* 8192 would pass the bound */
	/* Past the bound: refused, the array and cap unchanged. */
	b = np_grow(a, &cap, 6001, 1, 4096, 6000);
	assert_null(b);
	assert_int_equal(cap, 6000);
	a[5999] = 1;
	free(a);
}

static void test_grow_overflow_refused(void **state)
{
	size_t cap = 4;
	uint64_t *a = malloc(4 * sizeof(*a));

	(void)state;
	assert_non_null(a);
	assert_null(np_grow(a, &cap, SIZE_MAX / 2, sizeof(*a), 4, 0));
	assert_null(np_grow(a, &cap, SIZE_MAX, 1, 4, 0));
	assert_int_equal(cap, 4);
	a[3] = 3; /* still ours */
	free(a);
}

static void test_grow_zero_first(void **state)
{
	size_t cap = 0;
	char *a = np_grow(NULL, &cap, 3, 1, 0, 0);

	(void)state;
	assert_non_null(a);
	assert_int_equal(cap, 4); /* from 1, doubled */
	free(a);
}

static void test_parse_bool(void **state)
{
	static const char *const yes[] = {"1", "true", "yes", "on", "TRUE"};
	static const char *const no[] = {"0", "false", "no", "off", "False"};
	int v;

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		assert_int_equal(np_parse_bool(yes[i], &v), 0);
		assert_int_equal(v, 1);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		assert_int_equal(np_parse_bool(no[i], &v), 0);
		assert_int_equal(v, 0);
	}
	assert_int_not_equal(np_parse_bool("maybe", &v), 0);
	assert_int_not_equal(np_parse_bool("", &v), 0);
}

static void test_accept_errors(void **state)
{
	static const int skip[] = {EINTR, ECONNABORTED, EPROTO, ENETDOWN, ENOPROTOOPT,
				   EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH};
	static const int pause[] = {EMFILE, ENFILE, ENOBUFS, ENOMEM, EBADF, EINVAL};

	(void)state;
	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		assert_true(np_accept_error_is_transient(skip[i]));
	for (size_t i = 0; i < sizeof(pause) / sizeof(pause[0]); i++)
		assert_false(np_accept_error_is_transient(pause[i]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grow_from_first_and_doubling),
		cmocka_unit_test(test_grow_bounded_by_max),
		cmocka_unit_test(test_grow_overflow_refused),
		cmocka_unit_test(test_grow_zero_first),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_accept_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
