/* Unit tests for the router (handlers/routes.c): exact-path matching, 404
 * vs 405 with the Allow list, debug-only routes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "handlers.h"
#include "np.h"
#include "routes.h"

static int index_of(const char *method, const char *path)
{
	for (unsigned i = 0; i < routes_count; i++) {
		if (strcmp(routes_table[i].method, method) == 0 &&
		    strcmp(routes_table[i].path, path) == 0)
			return (int)i;
	}
	return -100;
}

static void test_exact_match(void **state)
{
	char allow[64];

	(void)state;
	assert_int_equal(routes_match("GET", "/healthz", 0, allow, sizeof(allow)),
			 index_of("GET", "/healthz"));
	assert_ptr_equal(routes_table[index_of("GET", "/healthz")].handler, handle_healthz);
	assert_int_equal(routes_match("POST", "/dns", 0, allow, sizeof(allow)),
			 index_of("POST", "/dns"));
	assert_int_equal(routes_match("GET", "/dns", 0, allow, sizeof(allow)),
			 index_of("GET", "/dns"));
}

static void test_unknown_path_is_404(void **state)
{
	char allow[64] = "junk";

	(void)state;
	assert_int_equal(routes_match("GET", "/nope", 0, allow, sizeof(allow)), -2);
	assert_string_equal(allow, "");
	/* No prefix or trailing-slash matching: paths are exact. */
	assert_int_equal(routes_match("GET", "/healthz/", 0, allow, sizeof(allow)), -2);
	assert_int_equal(routes_match("GET", "/health", 0, allow, sizeof(allow)), -2);
	assert_int_equal(routes_match("GET", "", 0, allow, sizeof(allow)), -2);
	/* Methods are case-sensitive (RFC 9110 9.1). */
	assert_int_equal(routes_match("get", "/healthz", 0, allow, sizeof(allow)), -1);
}

static void test_wrong_method_is_405_with_allow(void **state)
{
	char allow[64];

	(void)state;
	assert_int_equal(routes_match("DELETE", "/healthz", 0, allow, sizeof(allow)), -1);
	assert_string_equal(allow, "GET, HEAD");
	assert_int_equal(routes_match("PUT", "/dns", 0, allow, sizeof(allow)), -1);
	assert_string_equal(allow, "GET, HEAD, POST");
	assert_int_equal(routes_match("DELETE", "/dns-query", 0, allow, sizeof(allow)), -1);
	assert_string_equal(allow, "GET, HEAD, POST");
	/* allow may be NULL. */
	assert_int_equal(routes_match("DELETE", "/healthz", 0, NULL, 0), -1);
}

static void test_allow_is_truncated_safely(void **state)
{
	char allow[8];

	(void)state;
	assert_int_equal(routes_match("PUT", "/dns", 0, allow, sizeof(allow)), -1);
	assert_true(strlen(allow) < sizeof(allow));
	assert_int_equal(strncmp(allow, "GET, HE", 7), 0);
}

static void test_debug_routes_exist_only_when_enabled(void **state)
{
	char allow[64];

	(void)state;
	assert_int_equal(routes_match("GET", "/debug/delay", 0, allow, sizeof(allow)), -2);
	assert_int_equal(routes_match("GET", "/debug/delay", 1, allow, sizeof(allow)),
			 index_of("GET", "/debug/delay"));
	assert_true(routes_table[index_of("GET", "/debug/delay")].flags & ROUTE_DEBUG);
}

static void test_public_routes(void **state)
{
	(void)state;
	/* Health, metrics, the contract, the page and DoH need no token;
	 * probes do. */
	assert_true(routes_table[index_of("GET", "/healthz")].flags & ROUTE_PUBLIC);
	assert_true(routes_table[index_of("GET", "/metrics")].flags & ROUTE_PUBLIC);
	assert_true(routes_table[index_of("GET", "/dns-query")].flags & ROUTE_PUBLIC);
	assert_false(routes_table[index_of("GET", "/dns")].flags & ROUTE_PUBLIC);
	assert_false(routes_table[index_of("GET", "/rdns")].flags & ROUTE_PUBLIC);
	assert_false(routes_table[index_of("GET", "/policy/check")].flags & ROUTE_PUBLIC);
}

static void test_ops_routes(void **state)
{
	static const char *const ops[] = {"/",        "/dashboard.js", "/dashboard.css",
					  "/healthz", "/readyz",       "/version",
					  "/metrics", "/openapi.yaml"};
	unsigned nops = 0;

	(void)state;
	/* Exactly the routes that operate the service are exempt from
	 * --rate-limit; every probe, DoH included, is not. All ops routes
	 * are public. */
	for (size_t i = 0; i < NP_ARRAY_LEN(ops); i++) {
		unsigned flags = routes_table[index_of("GET", ops[i])].flags;

		assert_true(flags & ROUTE_OPS);
		assert_true(flags & ROUTE_PUBLIC);
	}
	for (unsigned i = 0; i < routes_count; i++)
		nops += (routes_table[i].flags & ROUTE_OPS) != 0;
	assert_int_equal(nops, NP_ARRAY_LEN(ops));
	assert_false(routes_table[index_of("GET", "/dns-query")].flags & ROUTE_OPS);
	assert_false(routes_table[index_of("POST", "/dns-query")].flags & ROUTE_OPS);
	assert_false(routes_table[index_of("POST", "/dns")].flags & ROUTE_OPS);
	assert_false(routes_table[index_of("GET", "/debug/delay")].flags & ROUTE_OPS);
}

static void test_table_has_no_duplicates(void **state)
{
	(void)state;
	for (unsigned i = 0; i < routes_count; i++) {
		for (unsigned k = i + 1; k < routes_count; k++)
			assert_false(strcmp(routes_table[i].method, routes_table[k].method) == 0 &&
				     strcmp(routes_table[i].path, routes_table[k].path) == 0);
		assert_non_null(routes_table[i].handler);
		assert_int_equal(routes_table[i].path[0], '/');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_match),
		cmocka_unit_test(test_unknown_path_is_404),
		cmocka_unit_test(test_wrong_method_is_405_with_allow),
		cmocka_unit_test(test_allow_is_truncated_safely),
		cmocka_unit_test(test_debug_routes_exist_only_when_enabled),
		cmocka_unit_test(test_public_routes),
		cmocka_unit_test(test_ops_routes),
		cmocka_unit_test(test_table_has_no_duplicates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
