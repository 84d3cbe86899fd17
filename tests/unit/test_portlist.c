/*
 * test_portlist.c - service/portlist.c: lists that parse to the ports they
 * name (single ports, ranges, overlaps, the two ends of the port space),
 * and every malformed list refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "portlist.h"

static unsigned char set[PORTLIST_SET_BYTES];

static void test_accepted(void **state)
{
	(void)state;
	memset(set, 0, sizeof(set));
	assert_int_equal(portlist_add_list("22,80,8000-8002,81-81,80", set), 0);
	assert_int_equal(portlist_count(set), 6);
	assert_true(portlist_has(set, 22) && portlist_has(set, 80) && portlist_has(set, 81));
	assert_true(portlist_has(set, 8000) && portlist_has(set, 8001) && portlist_has(set, 8002));
	assert_false(portlist_has(set, 8003));
	assert_false(portlist_has(set, 0));
	assert_false(portlist_has(set, 70000));

	memset(set, 0, sizeof(set));
	assert_int_equal(portlist_add_list("1-65535", set), 0);
	assert_int_equal(portlist_count(set), 65535);
	assert_true(portlist_has(set, 1) && portlist_has(set, 65535));
	assert_false(portlist_has(set, 0));

	memset(set, 0, sizeof(set));
	assert_int_equal(portlist_add_item("443", 3, set), 0);
	assert_int_equal(portlist_add_item("443-443", 7, set), 0);
	assert_int_equal(portlist_count(set), 1);
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"", "0", "65536", "10-5", "a", "1,,2", ",1", "1,", "1-2-3", "-1", "1-", "-",
		"1 ,2", " 1", "1;2", "0-5", "5-65536", "99999999999999999999", "1.5", "+1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(set, 0, sizeof(set));
		assert_int_equal(portlist_add_list(bad[i], set), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
