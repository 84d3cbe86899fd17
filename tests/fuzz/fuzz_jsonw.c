/*
 * fuzz_jsonw.c - libFuzzer target for the streaming JSON writer.
 *
 * The input bytes are written as a string (and, cut at the first NUL, as
 * a key) and the document is read back with jansson's json_loads(): it
 * must parse, be pure ASCII, and hold exactly the input when the input is
 * valid UTF-8, or else the input with each maximal ill-formed subsequence
 * replaced by U+FFFD. The expected text comes from a decoder built here
 * from a UTF-8 encoder (which prefixes of real encodings exist), not from
 * the writer's range table. Valid input must also give the very bytes
 * json_dumps(JSON_ENSURE_ASCII) gives.
 *
 * The same bytes also drive the cap (a document errs with NP_ELIMIT
 * exactly when its whole text is longer than the cap) and the numbers
 * (the first 8 bytes as a double and as an integer, printed as jansson
 * prints them with JSON_REAL_PRECISION(10)).
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "np.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP ((size_t)64 << 20)

/* ---- the reference decoder ---- */

static int ready;
static uint8_t lead_len[256];        /* encoding length for a lead byte, 0: none */
static uint8_t prefix2[1u << 13];    /* bit per 2-byte prefix of an encoding */
static uint8_t prefix3[1u << 21];    /* bit per 3-byte prefix */

static size_t encode(uint32_t cp, uint8_t *out)
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xC0 | cp >> 6);
		out[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (uint8_t)(0xE0 | cp >> 12);
		out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (uint8_t)(0xF0 | cp >> 18);
	out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

static void set_bit(uint8_t *map, uint32_t i)
{
	map[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static int get_bit(const uint8_t *map, uint32_t i)
{
	return (map[i >> 3] >> (i & 7)) & 1;
}

static void build_tables(void)
{
	for (uint32_t cp = 0; cp < 0x110000; cp++) {
		uint8_t b[4];
		size_t n;

		if (cp >= 0xD800 && cp <= 0xDFFF)
			continue;
		n = encode(cp, b);
		lead_len[b[0]] = (uint8_t)n;
		if (n >= 2)
			set_bit(prefix2, (uint32_t)b[0] << 8 | b[1]);
		if (n >= 3)
			set_bit(prefix3, (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2]);
	}
	ready = 1;
}

/* Is s[0..k) the start of some encoding of length lead_len[s[0]]? */
static int is_prefix(const uint8_t *s, size_t k)
{
	switch (k) {
	case 1: return lead_len[s[0]] != 0;
	case 2: return get_bit(prefix2, (uint32_t)s[0] << 8 | s[1]);
	case 3: return get_bit(prefix3, (uint32_t)s[0] << 16 | (uint32_t)s[1] << 8 | s[2]);
	default:
		/* The last byte of a 4-byte encoding is any continuation byte:
		 * the 64 code points under a 3-byte prefix are all in range. */
		return is_prefix(s, 3) && (s[3] & 0xC0) == 0x80;
	}
}

/* What the string should read as: out must hold 3 bytes per input byte. */
static size_t expected(const uint8_t *s, size_t n, uint8_t *out)
{
	size_t i = 0, o = 0;

	while (i < n) {
		size_t need = lead_len[s[i]], k = 0;

		while (k < need && i + k < n && is_prefix(s + i, k + 1))
			k++;
		if (need != 0 && k == need) {
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
		} else {
			memcpy(out + o, "\xEF\xBF\xBD", 3); /* U+FFFD */
			o += 3;
			i += k > 0 ? k : 1;
		}
	}
	return o;
}

/* ---- checks ---- */

static char *dump(json_t *j, size_t flags)
{
	char *text = json_dumps(j, flags | JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);

	json_decref(j);
	if (text == NULL)
		abort();
	return text;
}

static char *take(struct jsonw *w, size_t *len)
{
	char *text;

	if (jsonw_take(w, &text, len) != NP_OK)
		abort();
	jsonw_free(w);
	return text;
}

static void check_string(const uint8_t *data, size_t size)
{
	struct jsonw *w = jsonw_new(CAP);
	uint8_t *want = malloc(3 * size + 1);
	json_t *doc, *s, *orig;
	json_error_t err;
	const char *key;
	char *text;
	size_t len, want_len;

	if (w == NULL || want == NULL)
		abort();
	/* {"<data up to a NUL>": ["<data>"]} */
	{
		char *k = malloc(size + 1);

		if (k == NULL)
			abort();
		memcpy(k, data, size);
		k[size] = '\0';
		jsonw_object_begin(w);
		jsonw_key(w, k);
		jsonw_array_begin(w);
		jsonw_string_len(w, (const char *)data, size);
		jsonw_array_end(w);
		jsonw_object_end(w);
		free(k);
	}
	text = take(w, &len);
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)text[i] >= 0x80)
			abort();
	}
	doc = json_loadb(text, len, JSON_ALLOW_NUL, &err);
	if (doc == NULL || !json_is_object(doc) || json_object_size(doc) != 1)
		abort();
	key = json_object_iter_key(json_object_iter(doc));
	s = json_array_get(json_object_iter_value(json_object_iter(doc)), 0);
	if (!json_is_string(s))
		abort();
	want_len = expected(data, size, want);
	if (json_string_length(s) != want_len || memcmp(json_string_value(s), want, want_len) != 0)
		abort();
	want_len = expected(data, strnlen((const char *)data, size), want);
	want[want_len] = '\0';
	if (strcmp(key, (const char *)want) != 0)
		abort();
	json_decref(doc);

	/* Valid UTF-8: the bytes jansson itself prints. */
	orig = json_stringn((const char *)data, size);
	if (orig != NULL) {
		char *mine, *theirs = dump(orig, 0);

		w = jsonw_new(CAP);
		jsonw_string_len(w, (const char *)data, size);
		mine = take(w, &len);
		if (strcmp(mine, theirs) != 0)
			abort();
		free(mine);
		free(theirs);
	}
	free(text);
	free(want);
}

/* Whether a document errs at a cap depends only on its whole length. */
static void check_cap(const uint8_t *data, size_t size)
{
	size_t cap = size > 0 ? (size_t)data[0] * (size / 4 + 1) : 0, full, len;
	struct jsonw *w;
	int st;

	for (int pass = 0; pass < 2; pass++) {
		w = jsonw_new(pass == 0 ? CAP : cap);
		jsonw_array_begin(w);
		for (size_t i = 0; i + 2 <= size; i += 2) {
			size_t n = data[i + 1] % 8u;

			jsonw_string_len(w, (const char *)data + i, n < size - i ? n : size - i);
		}
		jsonw_int(w, (int64_t)size);
		jsonw_array_end(w);
		if (pass == 0) {
			free(take(w, &full));
			continue;
		}
		st = jsonw_status(w);
		if ((st == NP_ELIMIT) != (full > cap) || (st != NP_OK && st != NP_ELIMIT))
			abort();
		if (st == NP_OK) {
			free(take(w, &len));
			if (len != full)
				abort();
		} else {
			jsonw_free(w);
		}
	}
}

static void check_numbers(const uint8_t *data, size_t size)
{
	double v;
	int64_t i;
	struct jsonw *w;
	char *mine, *theirs;
	size_t len;

	if (size < 8)
		return;
	memcpy(&v, data, sizeof(v));
	memcpy(&i, data, sizeof(i));
	w = jsonw_new(CAP);
	jsonw_int(w, i);
	mine = take(w, &len);
	theirs = dump(json_integer(i), 0);
	if (strcmp(mine, theirs) != 0)
		abort();
	free(mine);
	free(theirs);
	/* Also as a timing: microseconds of a millisecond figure. */
	for (int pass = 0; pass < 2; pass++) {
		double x = pass == 0 ? v : (double)((uint64_t)i % 100000000000ull) / 1000.0;
		json_t *j = json_real(x);

		w = jsonw_new(CAP);
		jsonw_double(w, x);
		mine = take(w, &len);
		if (j == NULL) {
			/* NaN and infinities: jansson has no real for them. */
			if (strcmp(mine, "null") != 0)
				abort();
			free(mine);
			continue;
		}
		theirs = dump(j, JSON_REAL_PRECISION(10));
		if (strcmp(mine, theirs) != 0)
			abort();
		free(mine);
		free(theirs);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ready)
		build_tables();
	check_string(data, size);
	check_cap(data, size);
	check_numbers(data, size);
	return 0;
}
