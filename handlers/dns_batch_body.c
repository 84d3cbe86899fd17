/*
 * dns_batch_body.c - the fast reader of POST /dns bodies (see the
 * header for the contract). A batch of 100 names parsed by jansson is
 * 100 string allocations before the first query can go out; here the
 * body is copied once, the names are NUL-terminated in the copy, and only
 * the few other top-level members go through jansson.
 *
 * The reader is a recogniser, not a parser: it accepts a strict subset of
 * JSON on which it cannot disagree with jansson and says 0 for anything
 * else, so it needs no error messages. Every byte goes through exactly
 * one of three checks:
 *   - structure of the top-level object and the "queries" array
 *     (whitespace is the four bytes of RFC 8259 section 2, as in
 *     jansson's lexer);
 *   - keys and names: printable ASCII (and DEL) without '"' or '\\', so
 *     the bytes are the string, with no escapes or UTF-8 to decode;
 *   - any other member value: its extent is found by counting brackets
 *     outside strings, then that text alone is given to json_loadb() with
 *     the flags of http_req_json_body(). Jansson reads a value the same
 *     way wherever it stands, so it gets the value the whole-body parse
 *     would have. Plain strings, true/false/null and short integers are
 *     built directly, since json_loadb() costs ~0.3 us a call.
 *
 * The copy ends in a NUL that no check accepts, which stops every loop at
 * the end of the text without a bounds test.
 */
#include "dns_batch_body.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Containers nested deeper than this inside a member value are left to
 * jansson. A value read alone is one level less deep than in the whole
 * body; staying far below JSON_PARSER_MAX_DEPTH (2048) means that can
 * never let a value through that the whole-body parse refuses.
 */
#define NEST_MAX 32

/* An integer of this many digits or fewer cannot overflow json_int_t
 * (jansson says "too big integer" for those that do). */
#define INT_DIGITS_MAX 18

/* The copy of the body is followed by a NUL and 7 more zero bytes, so
 * that 8 bytes may be read at any place up to the NUL. */
#define TEXT_PAD 8

/* http_req_json_body()'s flags; JSON_DECODE_ANY because a member value
 * alone may be a scalar. */
#define LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

struct dns_batch_body {
	json_t *rest;	     /* the other members */
	size_t count;	     /* names in "queries" */
	size_t cap;	     /* names we keep at most */
	char *text;	     /* the copy of the body, after names[cap] */
	const char *names[]; /* min(count, cap) of them, pointing into text */
};

/* ---- bytes ---- */

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* What may follow a member value: whitespace, ',' or '}' (']' too, for
 * the values inside an array). */
static int is_delim(char c)
{
	return is_ws(c) || c == ',' || c == '}' || c == ']';
}

/*
 * A byte a string may hold as itself that needs no decoding: not a
 * control character (invalid in a string), not '"' or '\\', not part of
 * a UTF-8 sequence.
 */
static int is_plain(char c)
{
	unsigned char u = (unsigned char)c;

	return u >= 0x20 && u < 0x80 && u != '"' && u != '\\';
}

#define BYTES(b) (0x0101010101010101ull * (b))

/*
 * Whether the 8 bytes at p are all plain, 8 at a time as service/jsonw.c
 * does (the "has a zero byte" and "has a byte less than n" tests of Bit
 * Twiddling Hacks, exact whenever they answer yes here). A name is then
 * mostly two steps. p may be up to the NUL after the text: the copy has
 * TEXT_PAD bytes after it.
 */
static int all_plain8(const char *p)
{
	uint64_t x, quote, bslash, low;

	memcpy(&x, p, sizeof(x));
	quote = x ^ BYTES(0x22);
	bslash = x ^ BYTES(0x5C);
	low = (x - BYTES(0x20)) & ~x;
	quote = (quote - BYTES(0x01)) & ~quote;
	bslash = (bslash - BYTES(0x01)) & ~bslash;
	return ((x | low | quote | bslash) & BYTES(0x80)) == 0;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char *skip_ws(char *p)
{
	while (is_ws(*p))
		p++;
	return p;
}

/* ---- keys and names ---- */

/*
 * The plain string whose opening quote is at p: NUL-terminates it in
 * place (it starts at p + 1) and returns the byte after its closing
 * quote, or NULL when it is not a string of plain bytes.
 */
static char *plain_string(char *p)
{
	if (*p != '"')
		return NULL;
	p++;
	while (all_plain8(p))
		p += 8;
	while (is_plain(*p))
		p++;
	if (*p != '"')
		return NULL;
	*p = '\0';
	return p + 1;
}

/* The "queries" array at p; returns the byte after its ']', or NULL. */
static char *read_names(struct dns_batch_body *b, char *p)
{
	if (*p != '[')
		return NULL;
	p = skip_ws(p + 1);
	if (*p == ']')
		return p + 1;
	for (;;) {
		char *name = p + 1;

		p = plain_string(p);
		if (p == NULL)
			return NULL;
		if (b->count < b->cap)
			b->names[b->count] = name;
		b->count++;
		p = skip_ws(p);
		if (*p == ']')
			return p + 1;
		if (*p != ',')
			return NULL;
		p = skip_ws(p + 1);
	}
}

/* ---- other member values ---- */

/* The end of the string whose opening quote is at p (the byte after the
 * closing quote), honouring backslash escapes; NULL at the end of text. */
static char *skip_string(char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '"')
			return p + 1;
		if (*p == '\\')
			p++; /* the escaped byte, whatever it is: jansson judges it */
	}
	return NULL;
}

/*
 * The end of the value that starts at p, or NULL when it runs past the
 * text or nests deeper than NEST_MAX. Only the extent is found here: a
 * wrong value gets an extent too, and json_loadb() refuses it. When the
 * value is valid its extent is exactly what jansson reads, since strings
 * end at the first unescaped '"', containers at their matching bracket
 * and scalars before a delimiter.
 */
static char *skip_value(char *p, const char *end)
{
	unsigned depth = 0;

	if (*p == '"')
		return skip_string(p, end);
	if (*p != '{' && *p != '[') {
		while (p < end && !is_delim(*p))
			p++;
		return p;
	}
	do {
		if (p >= end)
			return NULL;
		if (*p == '"') {
			p = skip_string(p, end);
			if (p == NULL)
				return NULL;
			continue;
		}
		if (*p == '{' || *p == '[') {
			if (++depth > NEST_MAX)
				return NULL;
		} else if (*p == '}' || *p == ']') {
			depth--;
		}
		p++;
	} while (depth > 0);
	return p;
}

/*
 * The common scalars, built without json_loadb(): a plain string, true,
 * false, null, or an integer of at most INT_DIGITS_MAX digits (written as
 * JSON writes integers: no '+', no leading zero), each followed by a
 * delimiter. Returns the end with *v set (NULL when out of memory), or
 * NULL when the value is none of these.
 */
static char *fast_scalar(char *p, const char *end, json_t **v)
{
	static const struct {
		const char *word;
		size_t len;
	} words[] = {{"true", 4}, {"false", 5}, {"null", 4}};
	char *q = p;

	if (*p == '"') {
		for (q = p + 1; is_plain(*q); q++)
			;
		if (*q != '"')
			return NULL;
		*v = json_stringn(p + 1, (size_t)(q - p - 1));
		return q + 1;
	}
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		/* end[0] is the NUL after the text, so p[len] may be read. */
		if ((size_t)(end - p) >= words[i].len &&
		    memcmp(p, words[i].word, words[i].len) == 0 && is_delim(p[words[i].len])) {
			*v = i == 0 ? json_true() : i == 1 ? json_false() : json_null();
			return p + words[i].len;
		}
	}
	if (*q == '-')
		q++;
	if (*q == '0') {
		q++;
	} else if (*q >= '1' && *q <= '9') {
		const char *digits = q;

		while (is_digit(*q) && q - digits < INT_DIGITS_MAX)
			q++;
	} else {
		return NULL;
	}
	if (!is_delim(*q))
		return NULL; /* a real, a longer integer, or not a number */
	{
		json_int_t n = 0;

		for (const char *d = *p == '-' ? p + 1 : p; d < q; d++)
			n = n * 10 + (*d - '0');
		*v = json_integer(*p == '-' ? -n : n);
	}
	return q;
}

/*
 * The member value at *pp, into *v (a new reference). Returns 1 with *pp
 * moved past it, 0 when it is not valid JSON (or jansson failed for a
 * reason it did not call out of memory), -1 out of memory.
 */
static int read_value(char **pp, const char *end, json_t **v)
{
	json_error_t err;
	char *q;

	*v = NULL;
	q = fast_scalar(*pp, end, v);
	if (q != NULL) {
		if (*v == NULL)
			return -1;
		*pp = q;
		return 1;
	}
	q = skip_value(*pp, end);
	if (q == NULL)
		return 0;
	memset(&err, 0, sizeof(err));
	*v = json_loadb(*pp, (size_t)(q - *pp), LOAD_FLAGS, &err);
	if (*v == NULL)
		return json_error_code(&err) == json_error_out_of_memory ? -1 : 0;
	*pp = q;
	return 1;
}

/* ---- the body ---- */

int dns_batch_body_scan(const char *buf, size_t len, size_t max_names, struct dns_batch_body **out)
{
	struct dns_batch_body *b = NULL;
	int seen_queries = 0;
	int rc = 0;
	size_t cap, brace;
	char *p, *end;

	*out = NULL;
	/* The size below cannot overflow, and a body that does not start like
	 * an object costs no allocation. */
	if (len == 0 || len > SIZE_MAX / 8 - TEXT_PAD)
		return 0;
	for (brace = 0; brace < len && is_ws(buf[brace]); brace++)
		;
	if (brace == len || buf[brace] != '{')
		return 0;

	/* Each name takes at least 3 bytes ("", plus a comma or the ']'). */
	cap = len / 3 + 1;
	if (cap > max_names)
		cap = max_names;
	b = malloc(sizeof(*b) + cap * sizeof(b->names[0]) + len + TEXT_PAD);
	if (b == NULL)
		return -1;
	b->count = 0;
	b->cap = cap;
	b->text = (char *)(b->names + cap);
	memcpy(b->text, buf, len);
	memset(b->text + len, 0, TEXT_PAD);
	b->rest = json_object();
	if (b->rest == NULL) {
		rc = -1;
		goto done;
	}

	end = b->text + len;
	p = skip_ws(b->text + brace + 1);
	for (;;) {
		char *key = p + 1;

		p = plain_string(p);
		if (p == NULL)
			goto done; /* '}' of an empty object lands here too: no queries */
		p = skip_ws(p);
		if (*p != ':')
			goto done;
		p = skip_ws(p + 1);
		if (strcmp(key, "queries") == 0) {
			if (seen_queries)
				goto done; /* a duplicate key */
			seen_queries = 1;
			p = read_names(b, p);
			if (p == NULL)
				goto done;
		} else {
			json_t *v;
			int r;

			if (json_object_get(b->rest, key) != NULL)
				goto done; /* a duplicate key */
			r = read_value(&p, end, &v);
			if (r != 1) {
				rc = r;
				goto done;
			}
			if (json_object_set_new(b->rest, key, v) != 0) {
				rc = -1;
				goto done;
			}
		}
		p = skip_ws(p);
		if (*p == '}')
			break;
		if (*p != ',')
			goto done;
		p = skip_ws(p + 1);
	}
	/* jansson accepts only whitespace after the object. */
	if (!seen_queries || skip_ws(p + 1) != end)
		goto done;
	*out = b;
	b = NULL;
	rc = 1;
done:
	dns_batch_body_free(b);
	return rc;
}

size_t dns_batch_body_count(const struct dns_batch_body *b)
{
	return b->count;
}

const char *dns_batch_body_name(const struct dns_batch_body *b, size_t i)
{
	return i < b->count && i < b->cap ? b->names[i] : NULL;
}

json_t *dns_batch_body_rest(const struct dns_batch_body *b)
{
	return b->rest;
}

void dns_batch_body_free(struct dns_batch_body *b)
{
	if (b == NULL)
		return;
	json_decref(b->rest);
	free(b);
}
