/* Unit tests for RFC 9457 problem documents (service/problem.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "problem.h"

static char *dump(json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);

	assert_non_null(text);
	return text;
}

static void test_full_document(void **state)
{
	json_t *doc = problem_new(400, "/dns", "type", "abc-01-1", "'X' is not a record type");
	char *text;

	(void)state;
	assert_non_null(doc);
	text = dump(doc);
	assert_string_equal(text,
			    "{\"detail\":\"'X' is not a record type\",\"instance\":\"/dns\","
			    "\"parameter\":\"type\",\"request_id\":\"abc-01-1\",\"status\":400,"
			    "\"title\":\"Bad Request\","
			    "\"type\":\"https://netprobe.dev/problems/invalid-parameter\"}");
	free(text);
	json_decref(doc);
}

static void test_no_parameter_field_without_param(void **state)
{
	json_t *doc = problem_new(404, "/nope", NULL, "id", "no such endpoint: /nope");

	(void)state;
	assert_non_null(doc);
	assert_null(json_object_get(doc, "parameter"));
	assert_int_equal(json_object_size(doc), 6);
	assert_string_equal(json_string_value(json_object_get(doc, "type")),
			    "https://netprobe.dev/problems/not-found");
	json_decref(doc);
}

static void test_titles_and_types(void **state)
{
	static const struct {
		unsigned status;
		const char *title;
		const char *slug;
	} want[] = {
		{401, "Unauthorized", "unauthorized"},
		{403, "Forbidden", "target-denied"},
		{405, "Method Not Allowed", "method-not-allowed"},
		{413, "Content Too Large", "body-too-large"},
		{414, "URI Too Long", "uri-too-long"},
		{415, "Unsupported Media Type", "unsupported-media-type"},
		{503, "Service Unavailable", "unavailable"},
		{504, "Gateway Timeout", "deadline-exceeded"},
		{599, "Error", "internal-error"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		json_t *doc = problem_new(want[i].status, "/", NULL, "id", "d");
		char type[128];

		assert_non_null(doc);
		assert_string_equal(problem_title(want[i].status), want[i].title);
		assert_string_equal(json_string_value(json_object_get(doc, "title")), want[i].title);
		snprintf(type, sizeof(type), "https://netprobe.dev/problems/%s", want[i].slug);
		assert_string_equal(json_string_value(json_object_get(doc, "type")), type);
		assert_int_equal(json_integer_value(json_object_get(doc, "status")), want[i].status);
		json_decref(doc);
	}
}

static void test_text_that_is_not_utf8(void **state)
{
	/* A request path with a raw 0xFF byte (MHD decodes %FF), quoted in
	 * the detail too: both must still make a valid document. */
	json_t *doc = problem_new(404, "/x\xffy", NULL, "id", "no such endpoint: /x\xffy");

	(void)state;
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "instance")), "/x?y");
	assert_string_equal(json_string_value(json_object_get(doc, "detail")),
			    "no such endpoint: /x?y");
	json_decref(doc);
}

static void test_valid_utf8_is_kept(void **state)
{
	json_t *doc = problem_new(400, "/caf\xc3\xa9", "name", "id", "bad: caf\xc3\xa9");

	(void)state;
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "instance")), "/caf\xc3\xa9");
	json_decref(doc);
}

static void test_null_instance(void **state)
{
	json_t *doc = problem_new(500, NULL, NULL, "id", "d");

	(void)state;
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "instance")), "");
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_document),
		cmocka_unit_test(test_no_parameter_field_without_param),
		cmocka_unit_test(test_titles_and_types),
		cmocka_unit_test(test_text_that_is_not_utf8),
		cmocka_unit_test(test_valid_utf8_is_kept),
		cmocka_unit_test(test_null_instance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
