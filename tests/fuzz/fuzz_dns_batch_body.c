/*
 * fuzz_dns_batch_body.c - libFuzzer target for the fast reader of POST
 * /dns bodies, checked against jansson on every input.
 *
 * Whenever dns_batch_body_scan() accepts a body, json_loadb() with
 * http_req_json_body()'s flags must accept it too, with "queries" an
 * array of exactly the names read (byte for byte) and the other members
 * equal to the reader's rest, in the same order (json_equal() and the
 * compact dumps). A second scan with a small max_names must agree on the
 * count and keep only the first names. Any mismatch aborts.
 *
 * Random bytes rarely form an accepted body, so each input is also tried
 * inside a body: as the contents of the "queries" array (names) and as
 * the value of another member (the extent finder and json_loadb()).
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_batch_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_same_as_jansson(const char *text, size_t len, const struct dns_batch_body *b)
{
	json_error_t err;
	json_t *whole = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	json_t *queries, *others;
	char *want, *got;

	if (whole == NULL || !json_is_object(whole))
		abort();
	queries = json_object_get(whole, "queries");
	if (!json_is_array(queries) || json_array_size(queries) != dns_batch_body_count(b))
		abort();
	for (size_t i = 0; i < json_array_size(queries); i++) {
		json_t *q = json_array_get(queries, i);
		const char *name = dns_batch_body_name(b, i);

		if (!json_is_string(q) || name == NULL || strlen(name) != json_string_length(q) ||
		    memcmp(name, json_string_value(q), json_string_length(q)) != 0)
			abort();
	}
	others = json_copy(whole);
	if (others == NULL || json_object_del(others, "queries") != 0 ||
	    !json_equal(others, dns_batch_body_rest(b)))
		abort();
	want = json_dumps(others, JSON_COMPACT | JSON_ENCODE_ANY);
	got = json_dumps(dns_batch_body_rest(b), JSON_COMPACT | JSON_ENCODE_ANY);
	if (want == NULL || got == NULL || strcmp(want, got) != 0)
		abort();
	free(want);
	free(got);
	json_decref(others);
	json_decref(whole);
}

/* text is a buffer of exactly len bytes, so reads past it show. */
static void check(const char *text, size_t len)
{
	struct dns_batch_body *b = NULL, *capped = NULL;
	size_t cap = len % 4;
	int rc = dns_batch_body_scan(text, len, SIZE_MAX, &b);

	if (rc == 0 && b == NULL)
		return;
	if (rc != 1 || b == NULL)
		abort(); /* -1 (no allocation should fail here) or a bad *out */
	check_same_as_jansson(text, len, b);

	if (dns_batch_body_scan(text, len, cap, &capped) != 1 ||
	    dns_batch_body_count(capped) != dns_batch_body_count(b) ||
	    !json_equal(dns_batch_body_rest(capped), dns_batch_body_rest(b)))
		abort();
	for (size_t i = 0; i <= dns_batch_body_count(b); i++) {
		const char *want = i < cap ? dns_batch_body_name(b, i) : NULL;
		const char *got = dns_batch_body_name(capped, i);

		if ((want == NULL) != (got == NULL) || (want != NULL && strcmp(want, got) != 0))
			abort();
	}
	dns_batch_body_free(capped);
	dns_batch_body_free(b);
}

static void check_inside(const char *head, const uint8_t *data, size_t size, const char *tail)
{
	size_t hl = strlen(head), tl = strlen(tail);
	char *text = malloc(hl + size + tl);

	if (text == NULL)
		abort();
	memcpy(text, head, hl);
	if (size > 0)
		memcpy(text + hl, data, size);
	memcpy(text + hl + size, tail, tl);
	check(text, hl + size + tl);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check((const char *)data, size);
	check_inside("{\"type\":\"A\",\"queries\":[", data, size, "]}");
	check_inside("{\"queries\":[\"a\"],\"x\":", data, size, "}");
	return 0;
}
