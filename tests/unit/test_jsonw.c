/*
 * test_jsonw.c - the streaming JSON writer: escaping (every control
 * character, quotes, backslash, UTF-8 of 2, 3 and 4 bytes, ill-formed
 * UTF-8), structure and commas, misuse, the cap, allocation failure,
 * integers and reals. Wherever jansson has an answer the writer must give
 * the same bytes as json_dumps(JSON_COMPACT | JSON_ENSURE_ASCII |
 * JSON_REAL_PRECISION(10)), which is what the DNS handlers printed before
 * they wrote their JSON directly.
 *
 * jsonw.c is included to reach its statics; its allocations fail on demand
 * through the unit tests' allocator hook (support/alloc_fail.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../service/jsonw.c"

#include "support/alloc_fail.h"

/* ---- helpers ---- */

#define BIG_CAP ((size_t)64 << 20)

/* The finished document (free() it); fails the test on any error. */
static char *finish(struct jsonw *w, size_t *len_out)
{
	char *text;
	size_t len;

	assert_int_equal(jsonw_status(w), NP_OK);
	assert_int_equal(jsonw_take(w, &text, &len), NP_OK);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	jsonw_free(w);
	if (len_out != NULL)
		*len_out = len;
	return text;
}

/* jsonw's text for the string s[0..n). */
static char *jsonw_of(const char *s, size_t n)
{
	struct jsonw *w = jsonw_new(BIG_CAP);

	assert_non_null(w);
	jsonw_string_len(w, s, n);
	return finish(w, NULL);
}

/* jansson's text for the same string (NULL when it is not valid UTF-8). */
static char *jansson_of(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	char *text;

	if (j == NULL)
		return NULL;
	text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
	json_decref(j);
	assert_non_null(text);
	return text;
}

static void assert_string_out(const char *in, size_t n, const char *want)
{
	char *got = jsonw_of(in, n);

	assert_string_equal(got, want);
	free(got);
}

static void assert_same_as_jansson(const char *in, size_t n)
{
	char *got = jsonw_of(in, n), *want = jansson_of(in, n);

	assert_non_null(want);
	assert_string_equal(got, want);
	free(got);
	free(want);
}

static size_t utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static char *double_of(double v)
{
	struct jsonw *w = jsonw_new(BIG_CAP);

	assert_non_null(w);
	jsonw_double(w, v);
	return finish(w, NULL);
}

static void assert_double_as_jansson(double v)
{
	json_t *j = json_real(v);
	char *want, *got;

	assert_non_null(j);
	want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
	json_decref(j);
	assert_non_null(want);
	got = double_of(v);
	if (strcmp(got, want) != 0)
		fail_msg("%.17g: jsonw wrote %s, jansson %s", v, got, want);
	free(got);
	free(want);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

/* ---- strings ---- */

static void test_every_control_char(void **state)
{
	(void)state;
	for (unsigned c = 0; c < 0x20; c++) {
		char in = (char)c;

		assert_same_as_jansson(&in, 1);
	}
	/* The forms themselves, so the test does not only trust jansson. */
	assert_string_out("\0", 1, "\"\\u0000\"");
	assert_string_out("\x01\x1f", 2, "\"\\u0001\\u001F\"");
	assert_string_out("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"");
	assert_string_out("\x0b", 1, "\"\\u000B\"");
	assert_string_out("a\0b", 3, "\"a\\u0000b\"");
}

static void test_quotes_backslash_and_ascii(void **state)
{
	char all[0x80 - 0x20 + 1];

	(void)state;
	assert_string_out("say \"hi\"", 8, "\"say \\\"hi\\\"\"");
	assert_string_out("back\\slash", 10, "\"back\\\\slash\"");
	/* Neither '/' nor DEL is escaped (jansson without JSON_ESCAPE_SLASH). */
	assert_string_out("a/b\x7f", 4, "\"a/b\x7f\"");
	assert_string_out("", 0, "\"\"");
	for (unsigned c = 0x20; c < 0x80; c++)
		all[c - 0x20] = (char)c;
	assert_same_as_jansson(all, sizeof(all) - 1);
}

static void test_utf8_two_three_four_bytes(void **state)
{
	(void)state;
	assert_string_out("caf\xc3\xa9", 5, "\"caf\\u00E9\"");          /* U+00E9 */
	assert_string_out("\xc2\x80", 2, "\"\\u0080\"");                /* smallest 2-byte */
	assert_string_out("\xdf\xbf", 2, "\"\\u07FF\"");                /* largest 2-byte */
	assert_string_out("\xe2\x82\xac", 3, "\"\\u20AC\"");            /* euro sign */
	assert_string_out("\xe0\xa0\x80", 3, "\"\\u0800\"");            /* smallest 3-byte */
	assert_string_out("\xef\xbf\xbf", 3, "\"\\uFFFF\"");            /* largest 3-byte */
	assert_string_out("\xee\x80\x80", 3, "\"\\uE000\"");            /* after surrogates */
	assert_string_out("\xf0\x9f\x98\x80", 4, "\"\\uD83D\\uDE00\""); /* U+1F600 */
	assert_string_out("\xf0\x90\x80\x80", 4, "\"\\uD800\\uDC00\""); /* U+10000 */
	assert_string_out("\xf4\x8f\xbf\xbf", 4, "\"\\uDBFF\\uDFFF\""); /* U+10FFFF */
	assert_string_out("x\xc3\xa9y\xf0\x9f\x98\x80z", 9, "\"x\\u00E9y\\uD83D\\uDE00z\"");
}

/* Every code point, in UTF-8, against jansson: one string per 4096. */
static void test_every_code_point_as_jansson(void **state)
{
	char *buf = malloc(4096 * 4);

	(void)state;
	assert_non_null(buf);
	for (uint32_t base = 0; base < 0x110000; base += 4096) {
		size_t n = 0;

		for (uint32_t cp = base; cp < base + 4096; cp++) {
			if (cp >= 0xD800 && cp <= 0xDFFF)
				continue;
			n += utf8_encode(cp, buf + n);
		}
		assert_same_as_jansson(buf, n);
	}
	free(buf);
}

static void test_invalid_utf8(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		const char *want;
	} cases[] = {
		{"\x80", 1, "\"\\uFFFD\""},                      /* lone continuation byte */
		{"a\xbf" "b", 3, "\"a\\uFFFDb\""},
		{"\xc0\x80", 2, "\"\\uFFFD\\uFFFD\""},          /* overlong NUL */
		{"\xc1\xbf", 2, "\"\\uFFFD\\uFFFD\""},          /* overlong DEL */
		{"\xe0\x80\x80", 3, "\"\\uFFFD\\uFFFD\\uFFFD\""}, /* overlong 3-byte */
		{"\xf0\x80\x80\x80", 4, "\"\\uFFFD\\uFFFD\\uFFFD\\uFFFD\""},
		{"\xed\xa0\x80", 3, "\"\\uFFFD\\uFFFD\\uFFFD\""}, /* surrogate U+D800 */
		{"\xed\xbf\xbf", 3, "\"\\uFFFD\\uFFFD\\uFFFD\""}, /* surrogate U+DFFF */
		{"\xf4\x90\x80\x80", 4, "\"\\uFFFD\\uFFFD\\uFFFD\\uFFFD\""}, /* U+110000 */
		{"\xf5\x80", 2, "\"\\uFFFD\\uFFFD\""},
		{"\xff\xfe", 2, "\"\\uFFFD\\uFFFD\""},
		/* A truncated sequence is one U+FFFD (its maximal subpart). */
		{"\xc3", 1, "\"\\uFFFD\""},
		{"\xe2\x82", 2, "\"\\uFFFD\""},
		{"\xe2\x82" "A", 3, "\"\\uFFFDA\""},
		{"\xf0\x9f\x98", 3, "\"\\uFFFD\""},
		{"\xf0\x9f\x98" "\xf0\x9f\x98\x80", 7, "\"\\uFFFD\\uD83D\\uDE00\""},
		{"\xe2\x82\xe2\x82\xac", 5, "\"\\uFFFD\\u20AC\""},
		{"caf\xe9", 4, "\"caf\\uFFFD\""}, /* Latin-1 */
	};

	(void)state;
	for (size_t i = 0; i < NP_ARRAY_LEN(cases); i++) {
		char *got = jsonw_of(cases[i].in, cases[i].n);

		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: got %s, want %s", i, got, cases[i].want);
		free(got);
		/* jansson refuses these strings: nothing to compare with. */
		assert_null(jansson_of(cases[i].in, cases[i].n));
	}
}

/* Random bytes: the output is ASCII, parses, and is valid JSON whose
 * string is the input when the input is valid UTF-8. */
static void test_random_bytes(void **state)
{
	char in[64];

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t n = rnd() % sizeof(in);
		char *got;
		json_t *j, *orig;
		json_error_t err;

		for (size_t i = 0; i < n; i++) {
			uint64_t r = rnd();

			/* Mostly high bytes and continuation bytes: the hard cases. */
			in[i] = (char)(r % 4 == 0 ? (r >> 8) % 0x80 : 0x80 + (r >> 8) % 0x80);
		}
		got = jsonw_of(in, n);
		for (const char *p = got; *p != '\0'; p++)
			assert_true((unsigned char)*p < 0x80);
		j = json_loads(got, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
		if (j == NULL)
			fail_msg("not JSON: %s (%s)", got, err.text);
		assert_true(json_is_string(j));
		orig = json_stringn(in, n);
		if (orig != NULL) {
			assert_true(json_equal(j, orig));
			json_decref(orig);
		}
		json_decref(j);
		free(got);
	}
}

static void test_keys_are_escaped(void **state)
{
	struct jsonw *w = jsonw_new(BIG_CAP);
	char *text;

	(void)state;
	jsonw_object_begin(w);
	jsonw_kstring(w, "a\"b\n\xc3\xa9", "v");
	jsonw_kstring(w, "null", NULL);
	jsonw_object_end(w);
	text = finish(w, NULL);
	assert_string_equal(text, "{\"a\\\"b\\n\\u00E9\":\"v\",\"null\":null}");
	free(text);
}

/* ---- structure ---- */

static void test_nesting_and_commas(void **state)
{
	struct jsonw *w = jsonw_new(BIG_CAP);
	char *text;
	size_t len;

	(void)state;
	jsonw_object_begin(w);
	jsonw_key(w, "a");
	jsonw_array_begin(w);
	jsonw_int(w, 1);
	jsonw_object_begin(w);
	jsonw_key(w, "b");
	jsonw_array_begin(w);
	jsonw_array_end(w);
	jsonw_kbool(w, "t", 1);
	jsonw_kbool(w, "f", 0);
	jsonw_object_end(w);
	jsonw_array_begin(w);
	jsonw_null(w);
	jsonw_null(w);
	jsonw_array_end(w);
	jsonw_object_begin(w);
	jsonw_object_end(w);
	jsonw_string(w, "s");
	jsonw_array_end(w);
	jsonw_key(w, "c");
	jsonw_object_begin(w);
	jsonw_object_end(w);
	jsonw_kint(w, "n", -5);
	jsonw_kuint(w, "u", 7);
	jsonw_kdouble(w, "d", 0.5);
	jsonw_object_end(w);
	text = finish(w, &len);
	assert_string_equal(text, "{\"a\":[1,{\"b\":[],\"t\":true,\"f\":false},[null,null],{},"
				  "\"s\"],\"c\":{},\"n\":-5,\"u\":7,\"d\":0.5}");
	free(text);
}

static void test_top_level_scalars(void **state)
{
	struct jsonw *w = jsonw_new(BIG_CAP);
	char *text;

	(void)state;
	jsonw_int(w, 42);
	text = finish(w, NULL);
	assert_string_equal(text, "42");
	free(text);
	w = jsonw_new(BIG_CAP);
	jsonw_array_begin(w);
	jsonw_array_end(w);
	text = finish(w, NULL);
	assert_string_equal(text, "[]");
	free(text);
}

static void test_deepest_nesting(void **state)
{
	struct jsonw *w = jsonw_new(BIG_CAP);
	char *text, want[2 * JSONW_DEPTH_MAX + 1];

	(void)state;
	for (int i = 0; i < JSONW_DEPTH_MAX; i++)
		jsonw_array_begin(w);
	for (int i = 0; i < JSONW_DEPTH_MAX; i++)
		jsonw_array_end(w);
	text = finish(w, NULL);
	memset(want, '[', JSONW_DEPTH_MAX);
	memset(want + JSONW_DEPTH_MAX, ']', JSONW_DEPTH_MAX);
	want[2 * JSONW_DEPTH_MAX] = '\0';
	assert_string_equal(text, want);
	free(text);

	w = jsonw_new(BIG_CAP);
	for (int i = 0; i <= JSONW_DEPTH_MAX; i++)
		jsonw_array_begin(w);
	assert_int_equal(jsonw_status(w), NP_EINVAL);
	jsonw_free(w);
}

/* Each misuse is NP_EINVAL, sticks, and leaves nothing to take. */
static void test_misuse(void **state)
{
	enum { VALUE_WITHOUT_KEY, KEY_IN_ARRAY, KEY_AT_TOP, KEY_TWICE, WRONG_END, END_AT_TOP,
	       END_AFTER_KEY, TWO_TOP_VALUES, NULL_KEY, N_CASES };

	(void)state;
	for (int c = 0; c < N_CASES; c++) {
		struct jsonw *w = jsonw_new(BIG_CAP);
		static char dummy;
		char *text = &dummy;
		size_t len = 1;

		switch (c) {
		case VALUE_WITHOUT_KEY:
			jsonw_object_begin(w);
			jsonw_int(w, 1);
			break;
		case KEY_IN_ARRAY:
			jsonw_array_begin(w);
			jsonw_key(w, "k");
			break;
		case KEY_AT_TOP:
			jsonw_key(w, "k");
			break;
		case KEY_TWICE:
			jsonw_object_begin(w);
			jsonw_key(w, "k");
			jsonw_key(w, "k");
			break;
		case WRONG_END:
			jsonw_object_begin(w);
			jsonw_array_end(w);
			break;
		case END_AT_TOP:
			jsonw_object_end(w);
			break;
		case END_AFTER_KEY:
			jsonw_object_begin(w);
			jsonw_key(w, "k");
			jsonw_object_end(w);
			break;
		case TWO_TOP_VALUES:
			jsonw_int(w, 1);
			jsonw_int(w, 2);
			break;
		case NULL_KEY:
			jsonw_object_begin(w);
			jsonw_key(w, NULL);
			break;
		}
		assert_int_equal(jsonw_status(w), NP_EINVAL);
		/* Later calls change nothing. */
		jsonw_string(w, "more");
		jsonw_object_end(w);
		assert_int_equal(jsonw_status(w), NP_EINVAL);
		assert_int_equal(jsonw_take(w, &text, &len), NP_EINVAL);
		assert_null(text);
		assert_int_equal(len, 0);
		jsonw_free(w);
	}
}

static void test_incomplete_document(void **state)
{
	struct jsonw *w = jsonw_new(BIG_CAP);
	char *text;
	size_t len;

	(void)state;
	assert_int_equal(jsonw_take(w, &text, &len), NP_EINVAL); /* nothing written */
	assert_null(text);
	jsonw_object_begin(w);
	jsonw_kint(w, "a", 1);
	assert_int_equal(jsonw_take(w, &text, &len), NP_EINVAL); /* still open */
	assert_null(text);
	assert_int_equal(jsonw_status(w), NP_OK);
	jsonw_object_end(w);
	assert_int_equal(jsonw_take(w, &text, &len), NP_OK);
	assert_string_equal(text, "{\"a\":1}");
	free(text);
	/* Taken: the writer is empty again and can write a new document. */
	assert_int_equal(jsonw_len(w), 0);
	jsonw_null(w);
	text = finish(w, NULL);
	assert_string_equal(text, "null");
	free(text);
	jsonw_free(NULL);
}

/* ---- keys known to need no escape ---- */

/* One object written through the generic calls (plain 0) or the
 * JSONW_K* macros (plain 1); both must give the same bytes. */
static void write_plain_doc(struct jsonw *w, int plain, const char *s)
{
	jsonw_object_begin(w);
	if (plain) {
		JSONW_KSTRING(w, "name", s);
		JSONW_KUINT(w, "type_code", 65535);
		JSONW_KBOOL(w, "rd", 1);
		JSONW_KBOOL(w, "cd", 0);
		JSONW_KSTRING(w, "null", NULL);
		JSONW_KEY(w, "list");
	} else {
		jsonw_kstring(w, "name", s);
		jsonw_kuint(w, "type_code", 65535);
		jsonw_kbool(w, "rd", 1);
		jsonw_kbool(w, "cd", 0);
		jsonw_kstring(w, "null", NULL);
		jsonw_key(w, "list");
	}
	jsonw_array_begin(w);
	jsonw_object_begin(w);
	if (plain)
		JSONW_KUINT(w, "a_rather_long_key_name_past_16", 0);
	else
		jsonw_kuint(w, "a_rather_long_key_name_past_16", 0);
	jsonw_object_end(w);
	jsonw_array_end(w);
	jsonw_object_end(w);
}

static void test_plain_keys_same_bytes(void **state)
{
	static const char *const values[] = {
		"", "A", "udp", "n0.bench.test.", "exactly8", "exactly16bytes!!",
		"seventeen bytes..", "q\"uote", "12345678\n", "caf\xc3\xa9 \xff\x01",
		"long text with an escape at the end\t",
	};
	(void)state;
	for (size_t i = 0; i < NP_ARRAY_LEN(values); i++) {
		struct jsonw *a = jsonw_new(BIG_CAP), *b = jsonw_new(BIG_CAP);
		char *ta, *tb;
		size_t la, lb;

		write_plain_doc(a, 0, values[i]);
		write_plain_doc(b, 1, values[i]);
		ta = finish(a, &la);
		tb = finish(b, &lb);
		assert_int_equal(la, lb);
		assert_memory_equal(ta, tb, la);
		free(ta);
		free(tb);
	}
}

/*
 * write(w, 0) and write(w, 1) write the same document, the second through
 * a fast path that reserves room for its worst case: with any cap, it is
 * refused exactly when longer than the cap, whatever step crosses it.
 */
static void assert_cap_exact(void (*write)(struct jsonw *w, int fast), size_t slack)
{
	size_t full, len;
	char *text;
	struct jsonw *w = jsonw_new(BIG_CAP);

	write(w, 0);
	free(finish(w, &full)); /* frees w */
	for (size_t cap = 0; cap <= full + slack; cap++) {
		w = jsonw_new(cap);
		write(w, 1);
		if (cap >= full) {
			assert_int_equal(jsonw_take(w, &text, &len), NP_OK);
			assert_int_equal(len, full);
			free(text);
		} else {
			assert_int_equal(jsonw_status(w), NP_ELIMIT);
		}
		jsonw_free(w);
	}
}

static void plain_doc(struct jsonw *w, int fast)
{
	write_plain_doc(w, fast, "n0.bench.test.");
}

static void test_plain_keys_cap_exact(void **state)
{
	(void)state;
	assert_cap_exact(plain_doc, 8);
}

static void test_plain_keys_misuse(void **state)
{
	struct jsonw *w = jsonw_new(BIG_CAP);

	(void)state;
	/* A key outside an object. */
	jsonw_array_begin(w);
	JSONW_KUINT(w, "a", 1);
	assert_int_equal(jsonw_status(w), NP_EINVAL);
	jsonw_free(w);
	/* A key where a value belongs. */
	w = jsonw_new(BIG_CAP);
	jsonw_object_begin(w);
	JSONW_KEY(w, "a");
	JSONW_KBOOL(w, "b", 1);
	assert_int_equal(jsonw_status(w), NP_EINVAL);
	jsonw_free(w);
	/* At the top level. */
	w = jsonw_new(BIG_CAP);
	JSONW_KSTRING(w, "a", "b");
	assert_int_equal(jsonw_status(w), NP_EINVAL);
	jsonw_free(w);
}

/* ---- the cap ---- */

static void test_cap_exact_fit_and_overflow(void **state)
{
	(void)state;
	/* ["abc",1] is 9 bytes. */
	for (size_t cap = 0; cap <= 12; cap++) {
		struct jsonw *w = jsonw_new(cap);
		char *text;
		size_t len;

		jsonw_array_begin(w);
		jsonw_string(w, "abc");
		jsonw_int(w, 1);
		jsonw_array_end(w);
		if (cap >= 9) {
			assert_int_equal(jsonw_take(w, &text, &len), NP_OK);
			assert_string_equal(text, "[\"abc\",1]");
			assert_int_equal(len, 9);
			free(text);
		} else {
			assert_int_equal(jsonw_status(w), NP_ELIMIT);
			assert_int_equal(jsonw_take(w, &text, &len), NP_ELIMIT);
			assert_null(text);
		}
		jsonw_free(w);
	}
}

static void test_cap_large_document(void **state)
{
	const size_t cap = 1u << 20;
	struct jsonw *w = jsonw_new(cap);
	char *text;
	size_t len, i;

	(void)state;
	/* 0123456789 as a string is 12 bytes with its quotes and comma. */
	jsonw_array_begin(w);
	for (i = 0; jsonw_status(w) == NP_OK; i++)
		jsonw_string(w, "0123456789");
	/* Stopped at the cap: never past it, never a bigger buffer. */
	assert_int_equal(jsonw_status(w), NP_ELIMIT);
	assert_true(i * 13 > cap);
	assert_true((i - 1) * 13 <= cap + 13);
	assert_int_equal(jsonw_take(w, &text, &len), NP_ELIMIT);
	assert_null(text);
	jsonw_free(w);

	/* Just under the cap, across many growth steps, the text is whole. */
	w = jsonw_new(cap);
	jsonw_array_begin(w);
	for (i = 0; i < (cap - 2) / 13; i++)
		jsonw_string(w, "0123456789");
	jsonw_array_end(w);
	text = finish(w, &len);
	assert_true(len <= cap);
	assert_int_equal(len, 2 + i * 13 - 1);
	assert_memory_equal(text + len - 14, ",\"0123456789\"]", 14);
	free(text);
}

static void test_cap_inside_escape(void **state)
{
	/* The cap falls inside a 12-byte surrogate-pair escape. */
	struct jsonw *w = jsonw_new(10);

	(void)state;
	jsonw_string(w, "\xf0\x9f\x98\x80");
	assert_int_equal(jsonw_status(w), NP_ELIMIT);
	jsonw_free(w);
}

/* ---- allocation failure ---- */

static void test_out_of_memory(void **state)
{
	struct jsonw *w;
	char *text;
	size_t len;
	int status, took;

	(void)state;
	alloc_fail_after(0);
	w = jsonw_new(BIG_CAP);
	alloc_fail_never();
	assert_null(w);

	/* The first buffer cannot be had. */
	alloc_fail_after(1);
	w = jsonw_new(BIG_CAP);
	jsonw_array_begin(w);
	status = jsonw_status(w);
	jsonw_int(w, 1);
	jsonw_array_end(w);
	took = jsonw_take(w, &text, &len);
	alloc_fail_never();
	assert_int_equal(status, NP_ENOMEM);
	assert_int_equal(took, NP_ENOMEM);
	assert_null(text);
	jsonw_free(w);

	/* A later growth fails: the partial text is released at once. */
	alloc_fail_after(2);
	w = jsonw_new(BIG_CAP);
	jsonw_array_begin(w);
	for (int i = 0; i < 1000 && jsonw_status(w) == NP_OK; i++)
		jsonw_string(w, "0123456789");
	took = jsonw_take(w, &text, &len);
	alloc_fail_never();
	assert_int_equal(jsonw_status(w), NP_ENOMEM);
	assert_null(w->buf);
	assert_int_equal(took, NP_ENOMEM);
	jsonw_free(w);
}

/* A document with every kind of value, long enough for the buffer to grow
 * a few times: NP_ENOMEM from jsonw_take() (or no writer at all) at each
 * failing allocation, never a partial text, nothing left allocated. */
static int write_document(void *ud)
{
	struct jsonw *w = jsonw_new(BIG_CAP);
	char *text = (char *)&text;
	size_t len;
	int rc;

	(void)ud;
	if (w == NULL)
		return NP_ENOMEM;
	jsonw_object_begin(w);
	jsonw_key(w, "answers");
	jsonw_array_begin(w);
	for (int i = 0; i < 400; i++) {
		jsonw_object_begin(w);
		jsonw_key(w, "name");
		jsonw_string(w, "www.example.com.\t\"q\"\xc3\xa9");
		jsonw_key(w, "ttl");
		jsonw_int(w, i);
		jsonw_key(w, "ok");
		jsonw_bool(w, i % 2);
		jsonw_key(w, "none");
		jsonw_null(w);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	jsonw_object_end(w);
	rc = jsonw_take(w, &text, &len);
	jsonw_free(w);
	if (rc != NP_OK) {
		assert_null(text);
		return rc;
	}
	assert_int_equal(strlen(text), len);
	free(text);
	return rc;
}

static void test_out_of_memory_sweep(void **state)
{
	long points;

	(void)state;
	points = alloc_fail_sweep(write_document, NULL, NP_OK, NP_ENOMEM);
	print_message("a 400-object document: %ld allocations\n", points);
	assert_true(points >= 5);
}

/* ---- numbers ---- */

/* ---- raw values ---- */

/* [{"k":<s>,"n":<v>,"b":<b>}, same again] written field by field (raw 0)
 * or as raw values (raw 1); with a raw value that does not fit, the
 * caller's fallback is the field-by-field form, as handlers do. */
static void write_raw_doc(struct jsonw *w, int raw, const char *s, uint64_t v, int b)
{
	jsonw_array_begin(w);
	for (int i = 0; i < 2; i++) {
		size_t n = strlen(s);
		char *p = raw ? jsonw_raw_begin(w, JSONW_RAW_STRING_MAX(n) + JSONW_RAW_UINT_MAX +
							   32)
			      : NULL;

		if (p != NULL) {
			p = JSONW_RAW_LIT(p, "{\"k\":");
			p = jsonw_raw_string(p, s, n);
			p = JSONW_RAW_LIT(p, ",\"n\":");
			p = jsonw_raw_uint(p, v);
			p = JSONW_RAW_LIT(p, ",\"b\":");
			p = jsonw_raw_bool(p, b);
			*p++ = '}';
			jsonw_raw_end(w, p);
			continue;
		}
		jsonw_object_begin(w);
		JSONW_KSTRING(w, "k", s);
		JSONW_KUINT(w, "n", v);
		JSONW_KBOOL(w, "b", b);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
}

static void test_raw_same_bytes(void **state)
{
	static const char *const values[] = {
		"", "A", "udp", "n0.bench.test.", "exactly8", "q\"uote\\", "12345678\n",
		"caf\xc3\xa9 \xff\x01\x7f", "\xf0\x9f\x98\x80 four bytes", "\xed\xa0\x80",
	};
	static const uint64_t numbers[] = {0, 9, 10, 65535, 4294967295u, UINT64_MAX};
	(void)state;
	for (size_t i = 0; i < NP_ARRAY_LEN(values); i++) {
		for (size_t k = 0; k < NP_ARRAY_LEN(numbers); k++) {
			struct jsonw *a = jsonw_new(BIG_CAP), *b = jsonw_new(BIG_CAP);
			char *ta, *tb;
			size_t la, lb;

			write_raw_doc(a, 0, values[i], numbers[k], (int)(k & 1));
			write_raw_doc(b, 1, values[i], numbers[k], (int)(k & 1));
			ta = finish(a, &la);
			tb = finish(b, &lb);
			assert_int_equal(la, lb);
			assert_memory_equal(ta, tb, la);
			free(ta);
			free(tb);
		}
	}
}

static void test_raw_every_byte_as_string(void **state)
{
	(void)state;
	for (int c = 1; c < 256; c++) {
		char in[4] = {'x', (char)c, 'y', '\0'}, out[JSONW_RAW_STRING_MAX(3)];
		struct jsonw *w = jsonw_new(BIG_CAP);
		char *end = jsonw_raw_string(out, in, 3), *text;
		size_t len;

		jsonw_string(w, in);
		text = finish(w, &len);
		assert_int_equal((size_t)(end - out), len);
		assert_memory_equal(out, text, len);
		assert_true((size_t)(end - out) <= JSONW_RAW_STRING_MAX(3));
		free(text);
	}
}

static void test_raw_plain(void **state)
{
	static const char *const values[] = {"", "A", "IN", "udp", "TYPE65400",
					     "127.0.0.1:5353", "[2001:db8::1]:53,127.0.0.1:53"};
	(void)state;
	for (size_t i = 0; i < NP_ARRAY_LEN(values); i++) {
		size_t n = strlen(values[i]);
		char a[64], b[JSONW_RAW_STRING_MAX(64)];
		char *ea = jsonw_raw_plain(a, values[i], n), *eb = jsonw_raw_string(b, values[i], n);

		assert_int_equal((size_t)(ea - a), n + 2);
		assert_int_equal(ea - a, eb - b);
		assert_memory_equal(a, b, n + 2);
	}
}

static void raw_doc(struct jsonw *w, int raw)
{
	write_raw_doc(w, raw, "n0.bench.test.", 3600, 1);
}

/* A raw value is refused (NULL, no error) when its worst case does not
 * fit, and written field by field instead. */
static void test_raw_cap_exact(void **state)
{
	(void)state;
	assert_cap_exact(raw_doc, 64);
}

/* jsonw_raw(): the same document, with the fallback its own (scratch
 * memory near the cap, appended only when it fits). */
struct raw_item {
	const char *s;
	uint64_t v;
	int b;
};

static char *raw_item_text(char *p, const void *arg)
{
	const struct raw_item *it = arg;

	p = JSONW_RAW_LIT(p, "{\"k\":");
	p = jsonw_raw_string(p, it->s, strlen(it->s));
	p = JSONW_RAW_LIT(p, ",\"n\":");
	p = jsonw_raw_uint(p, it->v);
	p = JSONW_RAW_LIT(p, ",\"b\":");
	p = jsonw_raw_bool(p, it->b);
	*p++ = '}';
	return p;
}

static void raw_fn_doc(struct jsonw *w, int raw)
{
	struct raw_item it = {"n0.bench.test.", 3600, 1};

	if (!raw) {
		write_raw_doc(w, 0, it.s, it.v, it.b);
		return;
	}
	jsonw_array_begin(w);
	for (int i = 0; i < 2; i++)
		jsonw_raw(w, JSONW_RAW_STRING_MAX(strlen(it.s)) + JSONW_RAW_UINT_MAX + 32,
			  raw_item_text, &it);
	jsonw_array_end(w);
}

static void test_raw_fn_cap_exact(void **state)
{
	(void)state;
	assert_cap_exact(raw_fn_doc, 64);
}

static void test_raw_after_error_and_misuse(void **state)
{
	struct jsonw *w = jsonw_new(BIG_CAP);
	char *room;

	(void)state;
	/* Inside an object a value needs its key first. */
	jsonw_object_begin(w);
	assert_null(jsonw_raw_begin(w, 16));
	assert_int_equal(jsonw_status(w), NP_EINVAL);
	/* A failed writer gives no room. */
	assert_null(jsonw_raw_begin(w, 16));
	jsonw_free(w);
	/* Out of memory while reserving: the error is kept. */
	w = jsonw_new(BIG_CAP);
	alloc_fail_after(0);
	room = jsonw_raw_begin(w, 16);
	alloc_fail_never();
	assert_null(room);
	assert_int_equal(jsonw_status(w), NP_ENOMEM);
	jsonw_free(w);
}

static void test_integers(void **state)
{
	static const int64_t ints[] = {0, 1, -1, 9, 10, -10, 65535, 4294967295ll, INT64_MAX,
				       INT64_MIN, INT64_MIN + 1};
	struct jsonw *w;
	char *text;

	(void)state;
	for (size_t i = 0; i < NP_ARRAY_LEN(ints); i++) {
		json_t *j = json_integer(ints[i]);
		char *want = json_dumps(j, JSON_ENCODE_ANY);

		w = jsonw_new(BIG_CAP);
		jsonw_int(w, ints[i]);
		text = finish(w, NULL);
		assert_string_equal(text, want);
		free(text);
		free(want);
		json_decref(j);
	}
	w = jsonw_new(BIG_CAP);
	jsonw_array_begin(w);
	jsonw_uint(w, 0);
	jsonw_uint(w, UINT64_MAX);
	jsonw_uint(w, 4294967295u);
	jsonw_array_end(w);
	text = finish(w, NULL);
	assert_string_equal(text, "[0,18446744073709551615,4294967295]");
	free(text);
}

static void test_doubles_fixed(void **state)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {
		{0.212, "0.212"}, {12.5, "12.5"}, {3.0, "3.0"}, {0.0, "0.0"}, {-0.0, "-0.0"},
		{0.001, "0.001"}, {0.005, "0.005"}, {0.05, "0.05"}, {1.01, "1.01"},
		{1234567.891, "1234567.891"}, {9999999.999, "9999999.999"},
		{10000000.0, "10000000.0"}, {1e-5, "1e-5"}, {1e20, "1e20"}, {-2.5, "-2.5"},
		{1.0 / 3.0, "0.3333333333"}, {123456789012.0, "1.23456789e11"},
		{0.0001, "0.0001"}, {1.5e-300, "1.5e-300"}, {-1e100, "-1e100"},
	};

	(void)state;
	for (size_t i = 0; i < NP_ARRAY_LEN(cases); i++) {
		char *got = double_of(cases[i].v);

		if (strcmp(got, cases[i].want) != 0)
			fail_msg("%.17g: got %s, want %s", cases[i].v, got, cases[i].want);
		free(got);
		assert_double_as_jansson(cases[i].v);
	}
	/* No JSON form: null. */
	{
		char *got = double_of(NAN);

		assert_string_equal(got, "null");
		free(got);
		got = double_of(-INFINITY);
		assert_string_equal(got, "null");
		free(got);
	}
}

/* The timings the DNS JSON prints: milliseconds rounded to the
 * microsecond, as (double)(long long)(ms * 1000 + 0.5) / 1000. */
static void test_doubles_microsecond_ms_as_jansson(void **state)
{
	(void)state;
	for (long long k = 0; k < 200000; k++)
		assert_double_as_jansson((double)k / 1000.0);
	for (int i = 0; i < 200000; i++) {
		/* k up to 2e10: both sides of the fast path's 1e10 limit. */
		long long k = (long long)(rnd() % 20000000000ull);
		double ms = (double)(rnd() % 100000000) / 997.0;

		assert_double_as_jansson((double)k / 1000.0);
		assert_double_as_jansson((double)(long long)(ms * 1000.0 + 0.5) / 1000.0);
	}
}

/* The next double towards +inf or 0 (v > 0, finite): nextafter() is in
 * libm, which the tests do not link. */
static double step(double v, int up)
{
	uint64_t bits;

	memcpy(&bits, &v, sizeof(bits));
	bits = up ? bits + 1 : bits - 1;
	memcpy(&v, &bits, sizeof(v));
	return v;
}

static void test_doubles_random_bits_as_jansson(void **state)
{
	(void)state;
	for (int i = 0; i < 200000; i++) {
		uint64_t bits = rnd();
		double v;

		memcpy(&v, &bits, sizeof(v));
		if (isfinite(v))
			assert_double_as_jansson(v);
		/* And values near the fast path: neither k / 1000 nor far off. */
		v = (double)(1 + rnd() % 10000000000ull) / 1000.0;
		assert_double_as_jansson(step(v, 0));
		assert_double_as_jansson(step(v, 1));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_control_char),
		cmocka_unit_test(test_quotes_backslash_and_ascii),
		cmocka_unit_test(test_utf8_two_three_four_bytes),
		cmocka_unit_test(test_every_code_point_as_jansson),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_keys_are_escaped),
		cmocka_unit_test(test_nesting_and_commas),
		cmocka_unit_test(test_top_level_scalars),
		cmocka_unit_test(test_deepest_nesting),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_incomplete_document),
		cmocka_unit_test(test_cap_exact_fit_and_overflow),
		cmocka_unit_test(test_cap_large_document),
		cmocka_unit_test(test_cap_inside_escape),
		cmocka_unit_test(test_out_of_memory),
		cmocka_unit_test(test_out_of_memory_sweep),
		cmocka_unit_test(test_plain_keys_same_bytes),
		cmocka_unit_test(test_plain_keys_cap_exact),
		cmocka_unit_test(test_plain_keys_misuse),
		cmocka_unit_test(test_raw_same_bytes),
		cmocka_unit_test(test_raw_every_byte_as_string),
		cmocka_unit_test(test_raw_plain),
		cmocka_unit_test(test_raw_cap_exact),
		cmocka_unit_test(test_raw_fn_cap_exact),
		cmocka_unit_test(test_raw_after_error_and_misuse),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_doubles_fixed),
		cmocka_unit_test(test_doubles_microsecond_ms_as_jansson),
		cmocka_unit_test(test_doubles_random_bits_as_jansson),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
