/*
 * test_dns_batch_body.c - the fast reader of POST /dns bodies. Every
 * accepted body is checked against jansson with http_req_json_body()'s
 * flags (the names byte for byte, the other members by json_equal() and
 * by their dump, which also compares the order); every refused shape is
 * one the caller must leave to jansson, and where jansson accepts it too
 * the test says so, so that a refusal is known to be a choice and not
 * jansson's verdict.
 *
 * Bodies are copied into buffers of exactly their length, so that a read
 * past the end shows under ASan. dns_batch_body.c is included to reach its
 * statics; its allocations, and jansson's (handed the wrapped malloc and
 * free), fail on demand through the unit tests' allocator hook
 * (support/alloc_fail.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../handlers/dns_batch_body.c"

#include "support/alloc_fail.h"

/* ---- helpers ---- */

#define BIG ((size_t)1 << 20) /* max_names that keeps every name */

/* Bodies in failure messages are cut to this many bytes. */
#define SHOW(len) (int)((len) < 300 ? (len) : 300)

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A string literal as (text, length), embedded NULs included. */
#define S(lit) lit, sizeof(lit) - 1

static int jansson_accepts(const char *text, size_t len)
{
	json_error_t err;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);

	json_decref(j);
	return j != NULL;
}

/*
 * Scans text[0..len) from a buffer of exactly len bytes and, when the scan
 * accepts, checks it against jansson. Returns the scan's answer; *out
 * gets the result when out is not NULL (else it is freed here).
 */
static int scan_keep(const char *text, size_t len, size_t max_names, struct dns_batch_body **out)
{
	char *copy = malloc(len > 0 ? len : 1);
	struct dns_batch_body *b = (struct dns_batch_body *)&b; /* must be reset */
	json_error_t err;
	json_t *whole, *queries, *others;
	char *want, *got;
	int rc;

	assert_non_null(copy);
	memcpy(copy, text, len);
	rc = dns_batch_body_scan(copy, len, max_names, &b);
	assert_memory_equal(copy, text, len); /* not modified */
	free(copy);
	if (out != NULL)
		*out = NULL;
	if (rc != 1) {
		assert_null(b);
		return rc;
	}
	assert_non_null(b);

	whole = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (whole == NULL)
		fail_msg("accepted a body jansson refuses (%s): %.*s", err.text, SHOW(len), text);
	assert_true(json_is_object(whole));
	queries = json_object_get(whole, "queries");
	assert_true(json_is_array(queries));
	assert_int_equal(json_array_size(queries), dns_batch_body_count(b));
	for (size_t i = 0; i < json_array_size(queries); i++) {
		json_t *q = json_array_get(queries, i);
		const char *name = dns_batch_body_name(b, i);

		assert_true(json_is_string(q));
		if (i >= max_names) {
			assert_null(name);
			continue;
		}
		assert_non_null(name);
		assert_int_equal(strlen(name), json_string_length(q));
		assert_memory_equal(name, json_string_value(q), json_string_length(q));
	}
	assert_null(dns_batch_body_name(b, json_array_size(queries)));

	others = json_copy(whole);
	assert_non_null(others);
	assert_int_equal(json_object_del(others, "queries"), 0);
	assert_non_null(dns_batch_body_rest(b));
	assert_true(json_equal(others, dns_batch_body_rest(b)));
	want = json_dumps(others, JSON_COMPACT);
	got = json_dumps(dns_batch_body_rest(b), JSON_COMPACT);
	assert_non_null(want);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(want);
	free(got);
	json_decref(others);
	json_decref(whole);

	if (out != NULL)
		*out = b;
	else
		dns_batch_body_free(b);
	return rc;
}

static int scan(const char *text, size_t len)
{
	return scan_keep(text, len, BIG, NULL);
}

static void assert_accepts(const char *text, size_t len)
{
	if (scan(text, len) != 1)
		fail_msg("refused: %.*s", SHOW(len), text);
}

/* Refused by the reader; `jansson` says whether jansson accepts it. */
static void assert_falls_back(const char *text, size_t len, int jansson)
{
	if (scan(text, len) != 0)
		fail_msg("accepted: %.*s", SHOW(len), text);
	if (jansson_accepts(text, len) != jansson)
		fail_msg("jansson %s: %.*s", jansson ? "refuses" : "accepts", SHOW(len), text);
}

/* ---- the accepted shape ---- */

static void test_common_shape(void **state)
{
	struct dns_batch_body *b;

	(void)state;
	assert_int_equal(
	    scan_keep(S("{\"type\":\"A\",\"queries\":[\"n0.bench.test\",\"n1.bench.test\"]}"), BIG,
		      &b),
	    1);
	assert_int_equal(dns_batch_body_count(b), 2);
	assert_string_equal(dns_batch_body_name(b, 0), "n0.bench.test");
	assert_string_equal(dns_batch_body_name(b, 1), "n1.bench.test");
	assert_null(dns_batch_body_name(b, 2));
	assert_int_equal(json_object_size(dns_batch_body_rest(b)), 1);
	assert_string_equal(json_string_value(json_object_get(dns_batch_body_rest(b), "type")),
			    "A");
	dns_batch_body_free(b);

	/* queries first; the only member; one name; members after it. */
	assert_accepts(S("{\"queries\":[\"a\"],\"type\":\"AAAA\",\"server\":\"1.1.1.1:53\"}"));
	assert_accepts(S("{\"queries\":[\"example.com\"]}"));
	assert_accepts(S("{\"type\":\"MX\",\"queries\":[\"a.\"],\"tcp\":true,\"timeout_ms\":500}"));
	dns_batch_body_free(NULL);
}

static void test_only_queries_gives_empty_rest(void **state)
{
	struct dns_batch_body *b;

	(void)state;
	assert_int_equal(scan_keep(S("{\"queries\":[\"a\",\"b\",\"c\"]}"), BIG, &b), 1);
	assert_true(json_is_object(dns_batch_body_rest(b)));
	assert_int_equal(json_object_size(dns_batch_body_rest(b)), 0);
	assert_int_equal(dns_batch_body_count(b), 3);
	dns_batch_body_free(b);
}

static void test_empty_array(void **state)
{
	struct dns_batch_body *b;

	(void)state;
	/* Accepted with no names: the caller answers "a non-empty array of
	 * queries is required", as it does for jansson's empty array. */
	assert_int_equal(scan_keep(S("{\"type\":\"A\",\"queries\":[]}"), BIG, &b), 1);
	assert_int_equal(dns_batch_body_count(b), 0);
	assert_null(dns_batch_body_name(b, 0));
	dns_batch_body_free(b);
	assert_accepts(S("{\"queries\":[ \t\r\n]}"));
	assert_falls_back(S("{\"queries\":[,]}"), 0);
}

static void test_every_plain_byte_in_a_name(void **state)
{
	char body[256];
	char name[100];
	size_t n = 0, len;
	struct dns_batch_body *b;

	(void)state;
	for (int c = 0x20; c <= 0x7F; c++)
		if (c != '"' && c != '\\')
			name[n++] = (char)c;
	name[n] = '\0';
	len = (size_t)snprintf(body, sizeof(body), "{\"queries\":[\"%s\",\"\"]}", name);
	assert_int_equal(scan_keep(body, len, BIG, &b), 1);
	assert_string_equal(dns_batch_body_name(b, 0), name);
	assert_string_equal(dns_batch_body_name(b, 1), "");
	dns_batch_body_free(b);
}

static void test_keys(void **state)
{
	(void)state;
	/* Any plain key is just another member; case matters. */
	assert_accepts(S("{\"\":1,\"Queries\":2,\"queries \":3,\"queries\":[\"a\"]}"));
	assert_accepts(S("{\"a b~\x7f\":\"x\",\"queries\":[\"a\"]}"));
	assert_falls_back(S("{\"Queries\":[\"a\"]}"), 1);
}

static void test_other_members_any_json(void **state)
{
	(void)state;
	assert_accepts(S("{\"o\":{\"a\":[1,2.5,{\"b\":null}],\"c\":\"\\u00e9\\\"\"},\"e\":{},"
			 "\"f\":[],\"s\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\",\"t\":true,\"u\":false,"
			 "\"n\":null,\"x\":\"\",\"esc\":\"a\\\\b\\/c\\n\\t\\ud83d\\ude00\","
			 "\"queries\":[\"a\"]}"));
	/* Strings with a bracket or a quote inside do not confuse the extent. */
	assert_accepts(S("{\"o\":[\"]\",\"}\",\"\\\"]\",{\"[\":\"{\"}],\"queries\":[\"a\"]}"));
	assert_accepts(S("{\"o\":\"}\",\"queries\":[\"a\"],\"p\":\"\\\\\"}"));
}

static void test_numbers(void **state)
{
	static const char *const good[] = {
	    "0",
	    "-0",
	    "7",
	    "-7",
	    "10",
	    "123456789012345678",
	    "-123456789012345678",
	    "1234567890123456789",
	    "9223372036854775807",
	    "-9223372036854775808",
	    "1.5",
	    "-0.0",
	    "0.5",
	    "1e5",
	    "1E+2",
	    "1e-2",
	    "2.5e10",
	    "1e308",
	    "4.9e-324",
	    "123456789012345678901234567890.5",
	};
	static const char *const bad[] = {
	    "01",
	    "-",
	    "--1",
	    "+1",
	    "1.",
	    ".5",
	    "1e",
	    "1e+",
	    "0x10",
	    "1e400",
	    "-1e400",
	    "9223372036854775808",
	    "-9223372036854775809",
	    "99999999999999999999",
	    "1.5.5",
	    "1-",
	    "Infinity",
	    "NaN",
	    "-01",
	    "00",
	};
	char body[200];
	size_t len;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		len =
		    (size_t)snprintf(body, sizeof(body), "{\"n\":%s,\"queries\":[\"a\"]}", good[i]);
		assert_accepts(body, len);
		len = (size_t)snprintf(body, sizeof(body), "{\"queries\":[\"a\"],\"n\":[%s]}",
				       good[i]);
		assert_accepts(body, len);
		len = (size_t)snprintf(body, sizeof(body), "{\"queries\":[\"a\"],\"n\":%s }",
				       good[i]);
		assert_accepts(body, len);
	}
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		len =
		    (size_t)snprintf(body, sizeof(body), "{\"n\":%s,\"queries\":[\"a\"]}", bad[i]);
		assert_falls_back(body, len, 0);
		len =
		    (size_t)snprintf(body, sizeof(body), "{\"queries\":[\"a\"],\"n\":%s}", bad[i]);
		assert_falls_back(body, len, 0);
	}
}

static void test_literals(void **state)
{
	(void)state;
	assert_accepts(S("{\"a\":true,\"b\":false,\"c\":null,\"queries\":[\"a\"],\"d\":true}"));
	assert_accepts(S("{\"a\":[true,false,null],\"queries\":[\"a\"]}"));
	assert_falls_back(S("{\"a\":tru,\"queries\":[\"a\"]}"), 0);
	assert_falls_back(S("{\"a\":True,\"queries\":[\"a\"]}"), 0);
	assert_falls_back(S("{\"a\":nulll,\"queries\":[\"a\"]}"), 0);
	assert_falls_back(S("{\"a\":truefalse,\"queries\":[\"a\"]}"), 0);
	assert_falls_back(S("{\"a\":true1,\"queries\":[\"a\"]}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"a\":nul}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"a\":t"), 0);
}

static void test_max_names(void **state)
{
	struct dns_batch_body *b;

	(void)state;
	assert_int_equal(
	    scan_keep(S("{\"queries\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"],\"type\":\"A\"}"), 4,
		      &b),
	    1);
	assert_int_equal(dns_batch_body_count(b), 6); /* counted, not kept */
	assert_string_equal(dns_batch_body_name(b, 3), "d");
	assert_null(dns_batch_body_name(b, 4));
	assert_null(dns_batch_body_name(b, 5));
	dns_batch_body_free(b);

	assert_int_equal(scan_keep(S("{\"queries\":[\"a\",\"b\"]}"), 0, &b), 1);
	assert_int_equal(dns_batch_body_count(b), 2);
	assert_null(dns_batch_body_name(b, 0));
	dns_batch_body_free(b);
	/* A bad name past the cap still refuses the body. */
	assert_int_equal(scan_keep(S("{\"queries\":[\"a\",\"b\\n\"]}"), 1, NULL), 0);
}

static void test_many_names(void **state)
{
	size_t cap = 20000 * 24 + 64, len = 0;
	char *body = malloc(cap);
	struct dns_batch_body *b;

	(void)state;
	assert_non_null(body);
	len += (size_t)snprintf(body + len, cap - len, "{\"type\":\"A\",\"queries\":[");
	for (int i = 0; i < 20000; i++)
		len += (size_t)snprintf(body + len, cap - len, "%s\"n%d.bench.test\"", i ? "," : "",
					i);
	len += (size_t)snprintf(body + len, cap - len, "]}");
	assert_int_equal(scan_keep(body, len, BIG, &b), 1);
	assert_int_equal(dns_batch_body_count(b), 20000);
	assert_string_equal(dns_batch_body_name(b, 19999), "n19999.bench.test");
	dns_batch_body_free(b);
	/* The densest body: names of "" fill the room of len / 3 + 1. */
	len = 0;
	len += (size_t)snprintf(body + len, cap - len, "{\"queries\":[");
	for (int i = 0; i < 30000; i++)
		len += (size_t)snprintf(body + len, cap - len, "%s\"\"", i ? "," : "");
	len += (size_t)snprintf(body + len, cap - len, "]}");
	assert_int_equal(scan_keep(body, len, BIG, &b), 1);
	assert_int_equal(dns_batch_body_count(b), 30000);
	assert_string_equal(dns_batch_body_name(b, 29999), "");
	dns_batch_body_free(b);
	free(body);
}

/* ---- whitespace ---- */

/* '~' marks every place JSON allows whitespace. */
static const char ws_template[] =
    "~{~\"type\"~:~\"A\"~,~\"n\"~:~-12~,~\"o\"~:~{~\"x\"~:~[~1~,~\"y\"~]~}~,~\"t\"~:~true~,"
    "~\"queries\"~:~[~\"a\"~,~\"b.c\"~]~,~\"z\"~:~[~]~}~";

/* The template with `fill` at marker `at` (every marker when at < 0). */
static size_t ws_body(char *out, int at, const char *fill)
{
	size_t len = 0;
	int marker = 0;

	for (const char *t = ws_template; *t != '\0'; t++) {
		if (*t != '~') {
			out[len++] = *t;
			continue;
		}
		if (at < 0 || marker == at) {
			memcpy(out + len, fill, strlen(fill));
			len += strlen(fill);
		}
		marker++;
	}
	return len;
}

static int ws_markers(void)
{
	int n = 0;

	for (const char *t = ws_template; *t != '\0'; t++)
		n += *t == '~';
	return n;
}

static void test_whitespace_everywhere(void **state)
{
	static const char *const allowed[] = {" ", "\t", "\n", "\r", " \t\r\n\n  \t"};
	static const char *const other[] = {"\f", "\v", "\xc2\xa0", "\x1c", "\x85"};
	char body[1024];
	size_t len;

	(void)state;
	assert_accepts(body, ws_body(body, -2, ""));
	for (size_t a = 0; a < ARRAY_LEN(allowed); a++) {
		assert_accepts(body, ws_body(body, -1, allowed[a]));
		for (int m = 0; m < ws_markers(); m++)
			assert_accepts(body, ws_body(body, m, allowed[a]));
	}
	/* Not JSON whitespace: jansson refuses them at every marker (none is
	 * inside a string), and so do we. */
	for (size_t o = 0; o < ARRAY_LEN(other); o++) {
		for (int m = 0; m < ws_markers(); m++) {
			len = ws_body(body, m, other[o]);
			assert_falls_back(body, len, 0);
		}
	}
}

/* ---- refused shapes ---- */

static void test_not_an_object(void **state)
{
	(void)state;
	assert_int_equal(scan(S("")), 0);
	assert_falls_back(S(" \n"), 0);
	assert_falls_back(S("[\"a\"]"), 1);
	assert_falls_back(S("\"queries\""), 0);
	assert_falls_back(S("1"), 0);
	assert_falls_back(S("null"), 0);
	assert_falls_back(S("\xef\xbb\xbf{\"queries\":[\"a\"]}"), 0); /* a BOM */
	assert_falls_back(S("\0{\"queries\":[\"a\"]}"), 0);
}

static void test_no_queries_array(void **state)
{
	(void)state;
	assert_falls_back(S("{}"), 1);
	assert_falls_back(S(" { } "), 1);
	assert_falls_back(S("{\"type\":\"A\"}"), 1);
	assert_falls_back(S("{\"queries\":\"a\"}"), 1);
	assert_falls_back(S("{\"queries\":null}"), 1);
	assert_falls_back(S("{\"queries\":{}}"), 1);
	assert_falls_back(S("{\"queries\":1}"), 1);
	assert_falls_back(S("{\"queries\":[[\"a\"]]}"), 1);
}

static void test_items_not_plain_names(void **state)
{
	(void)state;
	/* Valid JSON the caller handles: objects, other types, escapes, UTF-8. */
	assert_falls_back(S("{\"queries\":[{\"name\":\"a\",\"type\":\"MX\"}]}"), 1);
	assert_falls_back(S("{\"queries\":[\"a\",{\"name\":\"b\"}]}"), 1);
	assert_falls_back(S("{\"queries\":[\"a\",1]}"), 1);
	assert_falls_back(S("{\"queries\":[\"a\",null]}"), 1);
	assert_falls_back(S("{\"queries\":[\"a\\u0062\"]}"), 1);
	assert_falls_back(S("{\"queries\":[\"a\\\"b\"]}"), 1);
	assert_falls_back(S("{\"queries\":[\"a\\\\\"]}"), 1);
	assert_falls_back(S("{\"queries\":[\"a\\/b\"]}"), 1);
	assert_falls_back(S("{\"queries\":[\"caf\xc3\xa9.test\"]}"), 1);
	assert_falls_back(S("{\"queries\":[\"\xf0\x9f\x98\x80\"]}"), 1);
	/* Not valid JSON: ill-formed UTF-8, control characters, NUL. */
	assert_falls_back(S("{\"queries\":[\"a\xff\"]}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\xc3\"]}"), 0);
	assert_falls_back(S("{\"queries\":[\"\xed\xa0\x80\"]}"), 0); /* a surrogate */
	assert_falls_back(S("{\"queries\":[\"\xc0\xaf\"]}"), 0);     /* overlong */
	assert_falls_back(S("{\"queries\":[\"a\x01\"]}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\tb\"]}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\nb\"]}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\x1f\"]}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\0b\"]}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\\u0000\"]}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\\x\"]}"), 0);
	/* Broken structure. */
	assert_falls_back(S("{\"queries\":[\"a\",]}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\" \"b\"]}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"]]}"), 0);
	assert_falls_back(S("{\"queries\":[\"a],\"b\"]}"), 0);
	assert_falls_back(S("{\"queries\":['a']}"), 0);
}

static void test_keys_not_plain(void **state)
{
	(void)state;
	/* jansson reads "\u0071ueries" as "queries": we do not try. */
	assert_falls_back(S("{\"\\u0071ueries\":[\"a\"]}"), 1);
	assert_falls_back(S("{\"ty\\u0070e\":\"A\",\"queries\":[\"a\"]}"), 1);
	assert_falls_back(S("{\"caf\xc3\xa9\":1,\"queries\":[\"a\"]}"), 1);
	assert_falls_back(S("{\"a\\\"\":1,\"queries\":[\"a\"]}"), 1);
	assert_falls_back(S("{\"a\xff\":1,\"queries\":[\"a\"]}"), 0);
	assert_falls_back(S("{\"a\tb\":1,\"queries\":[\"a\"]}"), 0);
	assert_falls_back(S("{\"a\0b\":1,\"queries\":[\"a\"]}"), 0);
	assert_falls_back(S("{\"a\\u0000b\":1,\"queries\":[\"a\"]}"), 0);
	assert_falls_back(S("{a:1,\"queries\":[\"a\"]}"), 0);
	assert_falls_back(S("{'a':1,\"queries\":[\"a\"]}"), 0);
	assert_falls_back(S("{1:1,\"queries\":[\"a\"]}"), 0);
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	/* http_req_json_body() parses with JSON_REJECT_DUPLICATES: every one
	 * of these is a 400 from jansson, so we must not accept it. */
	assert_falls_back(S("{\"queries\":[\"a\"],\"queries\":[\"b\"]}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"queries\":\"b\"}"), 0);
	assert_falls_back(S("{\"queries\":1,\"queries\":[\"b\"]}"), 0);
	assert_falls_back(S("{\"type\":\"A\",\"queries\":[\"a\"],\"type\":\"MX\"}"), 0);
	assert_falls_back(S("{\"type\":\"A\",\"type\":{\"x\":1},\"queries\":[\"a\"]}"), 0);
	assert_falls_back(S("{\"\":1,\"\":1,\"queries\":[\"a\"]}"), 0);
	assert_falls_back(S("{\"o\":{\"x\":1,\"x\":2},\"queries\":[\"a\"]}"), 0);
	assert_falls_back(S("{\"o\":[{\"x\":1,\"x\":2}],\"queries\":[\"a\"]}"), 0);
	/* The same key in different objects is no duplicate. */
	assert_accepts(S("{\"x\":{\"x\":{\"x\":1}},\"o\":{\"x\":2},\"queries\":[\"x\"]}"));
	/* And a duplicate only after unescaping is left to jansson. */
	assert_falls_back(S("{\"type\":1,\"typ\\u0065\":2,\"queries\":[\"a\"]}"), 0);
}

static void test_trailing_bytes(void **state)
{
	(void)state;
	assert_accepts(S("{\"queries\":[\"a\"]} \t\r\n"));
	assert_falls_back(S("{\"queries\":[\"a\"]}x"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"]}{}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"]},"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"]}}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"]}\0"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"]} \0"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"]}\xef\xbb\xbf"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"]}\f"), 0);
}

static void test_broken_objects(void **state)
{
	(void)state;
	assert_falls_back(S("{\"type\":\"A\",\"queries\":[\"a\"],}"), 0);
	assert_falls_back(S("{,\"queries\":[\"a\"]}"), 0);
	assert_falls_back(S("{\"queries\" [\"a\"]}"), 0);
	assert_falls_back(S("{\"queries\"::[\"a\"]}"), 0);
	assert_falls_back(S("{\"type\":\"A\" \"queries\":[\"a\"]}"), 0);
	assert_falls_back(S("{\"type\":,\"queries\":[\"a\"]}"), 0);
	assert_falls_back(S("{\"type\"}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"]"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"o\":{\"x\":1}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"o\":{\"x\":1]}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"o\":[1}}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"o\":\"abc}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"o\":\"abc\\\"}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"o\":\"a\\"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"o\":[\"a\\"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"o\":\"a\tb\"}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"o\":\"a\\u0000\"}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"o\":\"a\0\"}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"o\":[1 2]}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"o\":\"\xff\"}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"o\":\"\\ud800\"}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"o\":}"), 0);
	assert_falls_back(S("{\"queries\":[\"a\"],\"o\"\0:1}"), 0);
}

/* Whether the body with an array nested `depth` deep as the member "d"
 * is accepted (checked against jansson as every scan is). */
static int scan_nested(size_t depth)
{
	char *body = malloc(2 * depth + 64);
	size_t len;
	int rc;

	assert_non_null(body);
	len = (size_t)sprintf(body, "{\"queries\":[\"a\"],\"d\":");
	memset(body + len, '[', depth);
	len += depth;
	body[len++] = '1';
	memset(body + len, ']', depth);
	len += depth;
	body[len++] = '}';
	rc = scan(body, len);
	assert_int_equal(jansson_accepts(body, len), depth <= JSON_PARSER_MAX_DEPTH - 2);
	free(body);
	return rc;
}

static void test_nesting(void **state)
{
	(void)state;
	/* jansson's limit first: the object, "d" and the 1 make three levels,
	 * one more than "d" read alone would have. */
	assert_int_equal(scan_nested(JSON_PARSER_MAX_DEPTH - 1), 0);
	assert_int_equal(scan_nested(JSON_PARSER_MAX_DEPTH), 0);
	assert_int_equal(scan_nested(4000), 0);
	/* Below it, deeper than NEST_MAX is left to jansson too. */
	assert_int_equal(scan_nested(JSON_PARSER_MAX_DEPTH - 2), 0);
	assert_int_equal(scan_nested(NEST_MAX + 1), 0);
	assert_int_equal(scan_nested(NEST_MAX), 1);
	assert_int_equal(scan_nested(1), 1);
	assert_accepts(S("{\"queries\":[\"a\"],\"d\":{\"a\":{\"b\":[{\"c\":[[1]]}]}}}"));
}

/* ---- every small change of a body ---- */

static const char mutate_base[] = "{\"type\":\"A\",\"n\":-1,\"o\":{\"k\":[1.5,\"\\u00e9\"]},"
				  "\"queries\":[\"a.b\",\"c\"],\"t\":true}";

static void test_every_prefix(void **state)
{
	size_t n = sizeof(mutate_base) - 1;

	(void)state;
	for (size_t len = 0; len < n; len++) {
		assert_int_equal(scan(mutate_base, len), 0);
		assert_false(jansson_accepts(mutate_base, len));
	}
	assert_accepts(mutate_base, n);
}

/* Each byte replaced by each value, deleted, and each value inserted
 * before it: the contract holds for all, and the accepted ones are
 * counted to show that the check ran on accepted bodies too. */
static void test_every_one_byte_change(void **state)
{
	size_t n = sizeof(mutate_base) - 1, accepted = 0, refused_valid = 0;
	char body[sizeof(mutate_base) + 1];

	(void)state;
	for (size_t i = 0; i <= n; i++) {
		for (int c = 0; c < 256; c++) {
			int rc;

			if (i < n) {
				memcpy(body, mutate_base, n);
				body[i] = (char)c;
				rc = scan(body, n);
				accepted += rc == 1;
				refused_valid += rc == 0 && jansson_accepts(body, n);
			}
			memcpy(body, mutate_base, i);
			body[i] = (char)c;
			memcpy(body + i + 1, mutate_base + i, n - i);
			rc = scan(body, n + 1);
			accepted += rc == 1;
			refused_valid += rc == 0 && jansson_accepts(body, n + 1);
		}
		if (i < n) {
			memcpy(body, mutate_base, i);
			memcpy(body + i, mutate_base + i + 1, n - i - 1);
			accepted += scan(body, n - 1) == 1;
		}
	}
	print_message("one-byte changes: %zu accepted, %zu valid JSON left to jansson\n", accepted,
		      refused_valid);
	assert_true(accepted > 1000);
}

/* ---- out of memory ---- */

/* Fails the k-th allocation for every k until the scan gets through:
 * each failure must be -1 (or 0 inside json_loadb()), leak nothing, and
 * leave *out NULL. jansson is handed the wrapped malloc and free (in a
 * test executable the names are the wrappers), so its allocations fail
 * and are counted too. */
static void assert_oom_paths(const char *text, size_t len, int only_ours)
{
	json_malloc_t saved_malloc;
	json_free_t saved_free;
	struct dns_batch_body *b;
	long k, failed = 1;
	int rc = -1;

	json_get_alloc_funcs(&saved_malloc, &saved_free);
	json_set_alloc_funcs(malloc, free);
	for (k = 0; k < 1000 && failed > 0; k++) {
		long before = alloc_outstanding();

		alloc_fail_after(k);
		b = (struct dns_batch_body *)&b;
		rc = dns_batch_body_scan(text, len, BIG, &b);
		failed = alloc_failures();
		alloc_fail_never();
		if (failed == 0)
			break;
		assert_null(b);
		assert_int_equal(alloc_outstanding(), before);
		if (only_ours)
			assert_int_equal(rc, -1);
		else
			assert_true(rc == -1 || rc == 0);
	}
	json_set_alloc_funcs(saved_malloc, saved_free);
	assert_int_equal(rc, 1);
	assert_true(k > 2);
	dns_batch_body_free(b);
	assert_int_equal(scan(text, len), 1);
}

static void test_out_of_memory(void **state)
{
	(void)state;
	/* Fast scalars only: every allocation is ours or a jansson call of
	 * ours, so every failure must say -1. */
	assert_oom_paths(S("{\"type\":\"A\",\"n\":5,\"t\":true,\"queries\":[\"a\",\"b\"]}"), 1);
	/* A member jansson parses: a failure inside it may say 0. */
	assert_oom_paths(S("{\"o\":{\"a\":[1,\"x\"]},\"r\":1.5,\"queries\":[\"a\"]}"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_common_shape),
	    cmocka_unit_test(test_only_queries_gives_empty_rest),
	    cmocka_unit_test(test_empty_array),
	    cmocka_unit_test(test_every_plain_byte_in_a_name),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_other_members_any_json),
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_literals),
	    cmocka_unit_test(test_max_names),
	    cmocka_unit_test(test_many_names),
	    cmocka_unit_test(test_whitespace_everywhere),
	    cmocka_unit_test(test_not_an_object),
	    cmocka_unit_test(test_no_queries_array),
	    cmocka_unit_test(test_items_not_plain_names),
	    cmocka_unit_test(test_keys_not_plain),
	    cmocka_unit_test(test_duplicate_keys),
	    cmocka_unit_test(test_trailing_bytes),
	    cmocka_unit_test(test_broken_objects),
	    cmocka_unit_test(test_nesting),
	    cmocka_unit_test(test_every_prefix),
	    cmocka_unit_test(test_every_one_byte_change),
	    cmocka_unit_test(test_out_of_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
