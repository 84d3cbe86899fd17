/*
 * jsonw.c - the streaming JSON writer (see jsonw.h).
 *
 * One buffer, grown by doubling up to the cap (plus a byte for the NUL
 * that jsonw_take() adds). Each open container keeps two bits: object or
 * array, and whether it has a member yet (the next one needs a comma).
 * A string (or key) gets room for its worst case up front and is copied 8
 * bytes at a time while none of them needs an escape; only near the cap
 * is it written piece by piece, each piece checked, so that the cap
 * refuses exactly the documents longer than it.
 */
#include "jsonw.h"
#include "np.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_SIZE 4096
/* The small steps every value takes: inlined even where the compiler
 * would rather not. */
#define HOT static inline __attribute__((always_inline))
#define LEVEL_OBJECT 0x1u  /* the container is an object (else an array) */
#define LEVEL_MEMBERS 0x2u /* it has a member: the next one needs a comma */

struct jsonw {
	char *buf;
	size_t len;       /* bytes written */
	size_t size;      /* bytes allocated */
	size_t cap;       /* the most len may reach */
	int status;       /* NP_OK or the first error */
	int key_pending;  /* a key was written: its value comes next */
	int done;         /* the top-level value is complete */
	unsigned depth;   /* open containers */
	unsigned char level[JSONW_DEPTH_MAX];
};

static const char hex_digits[] = "0123456789ABCDEF";

/* ---- the buffer ---- */

static void set_error(struct jsonw *w, int status)
{
	if (w->status != NP_OK)
		return;
	w->status = status;
	/* Nothing more will be written: let a large partial text go now. */
	free(w->buf);
	w->buf = NULL;
	w->len = 0;
	w->size = 0;
}

static int grow(struct jsonw *w, size_t n)
{
	size_t want, size;
	char *p;

	if (n > w->cap - w->len) {
		set_error(w, NP_ELIMIT);
		return -1;
	}
	want = w->len + n + 1; /* the NUL */
	size = w->size != 0 ? w->size : FIRST_SIZE;
	while (size < want)
		size *= 2; /* cannot overflow: cap <= SIZE_MAX / 4 */
	if (size > w->cap + 1)
		size = w->cap + 1;
	p = realloc(w->buf, size);
	if (p == NULL) {
		set_error(w, NP_ENOMEM);
		return -1;
	}
	w->buf = p;
	w->size = size;
	return 0;
}

/* Room for n more bytes and a NUL, or an error. */
HOT int reserve(struct jsonw *w, size_t n)
{
	if (w->size - w->len > n)
		return 0;
	return grow(w, n);
}

HOT int put(struct jsonw *w, const void *p, size_t n)
{
	if (reserve(w, n) != 0)
		return -1;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	return 0;
}

HOT int put_char(struct jsonw *w, char c)
{
	if (reserve(w, 1) != 0)
		return -1;
	w->buf[w->len++] = c;
	return 0;
}

/*
 * memcpy() for the few bytes of a key, without the call: two overlapping
 * moves cover any length from 4 to 16 (keys are short); longer ones go
 * to memcpy().
 */
HOT void copy_short(char *out, const char *p, size_t n)
{
	if (n >= 8 && n <= 16) {
		uint64_t a, b;

		memcpy(&a, p, 8);
		memcpy(&b, p + n - 8, 8);
		memcpy(out, &a, 8);
		memcpy(out + n - 8, &b, 8);
	} else if (n >= 4 && n < 8) {
		uint32_t a, b;

		memcpy(&a, p, 4);
		memcpy(&b, p + n - 4, 4);
		memcpy(out, &a, 4);
		memcpy(out + n - 4, &b, 4);
	} else {
		memcpy(out, p, n);
	}
}

/* ---- structure ---- */

/* Before any value: the comma inside an array, the checks inside an
 * object (a key must come first) and at the top (only one value). */
HOT int value_begin(struct jsonw *w)
{
	unsigned char *lv;

	if (w->status != NP_OK)
		return -1;
	if (w->depth == 0) {
		if (w->done) {
			set_error(w, NP_EINVAL);
			return -1;
		}
		return 0;
	}
	lv = &w->level[w->depth - 1];
	if (*lv & LEVEL_OBJECT) {
		if (!w->key_pending) {
			set_error(w, NP_EINVAL);
			return -1;
		}
		w->key_pending = 0;
		return 0;
	}
	if ((*lv & LEVEL_MEMBERS) && put_char(w, ',') != 0)
		return -1;
	*lv |= LEVEL_MEMBERS;
	return 0;
}

static void value_end(struct jsonw *w)
{
	if (w->depth == 0)
		w->done = 1;
}

static void container_begin(struct jsonw *w, char open, unsigned kind)
{
	if (value_begin(w) != 0)
		return;
	if (w->depth == JSONW_DEPTH_MAX) {
		set_error(w, NP_EINVAL);
		return;
	}
	if (put_char(w, open) != 0)
		return;
	w->level[w->depth++] = (unsigned char)kind;
}

static void container_end(struct jsonw *w, char close, unsigned kind)
{
	if (w->status != NP_OK)
		return;
	if (w->depth == 0 || (w->level[w->depth - 1] & LEVEL_OBJECT) != kind || w->key_pending) {
		set_error(w, NP_EINVAL);
		return;
	}
	if (put_char(w, close) != 0)
		return;
	w->depth--;
	value_end(w);
}

/* ---- strings ---- */

/* 1 for the bytes not copied as they are: control characters, '"', '\\',
 * and 0x80-0xFF (decoded as UTF-8). DEL stays, as jansson leaves it. */
static const unsigned char special[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

#define BYTES(b) (0x0101010101010101ull * (b))

/*
 * Whether any of the 8 bytes in x is special, 8 at a time (the "has a
 * zero byte" and "has a byte less than n" tests of Bit Twiddling Hacks,
 * exact whenever they answer no): a byte >= 0x80, a byte < 0x20, '"' or
 * '\\'. Most DNS text has none, and is copied 8 bytes per step.
 */
static int any_special(uint64_t x)
{
	uint64_t quote = x ^ BYTES(0x22), bslash = x ^ BYTES(0x5C);
	uint64_t low = (x - BYTES(0x20)) & ~x;

	quote = (quote - BYTES(0x01)) & ~quote;
	bslash = (bslash - BYTES(0x01)) & ~bslash;
	return ((x | low | quote | bslash) & BYTES(0x80)) != 0;
}

/*
 * The UTF-8 sequence at s[0..n) (s[0] >= 0x80): returns its length with
 * the code point in *cp; when it is ill-formed, the length of its maximal
 * subpart (at least 1) with U+FFFD. Well-formed sequences are those of
 * Unicode 15.0 table 3-7: no overlong forms, no surrogates, nothing above
 * U+10FFFF.
 */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF; /* range of the second byte */
	uint32_t v;
	size_t need, i;

	if (c >= 0xC2 && c <= 0xDF) {
		need = 2;
		v = c & 0x1Fu;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		v = c & 0x0Fu;
		if (c == 0xE0)
			lo = 0xA0; /* overlong below */
		else if (c == 0xED)
			hi = 0x9F; /* surrogates above */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		v = c & 0x07u;
		if (c == 0xF0)
			lo = 0x90; /* overlong below */
		else if (c == 0xF4)
			hi = 0x8F; /* past U+10FFFF above */
	} else {
		*cp = 0xFFFD; /* a continuation byte, C0, C1 or F5-FF */
		return 1;
	}
	for (i = 1; i < need; i++) {
		if (i >= n || s[i] < lo || s[i] > hi) {
			*cp = 0xFFFD;
			return i;
		}
		v = v << 6 | (s[i] & 0x3Fu);
		lo = 0x80;
		hi = 0xBF;
	}
	*cp = v;
	return need;
}

static void u_escape(char *out, uint32_t u)
{
	out[0] = '\\';
	out[1] = 'u';
	out[2] = hex_digits[(u >> 12) & 0xF];
	out[3] = hex_digits[(u >> 8) & 0xF];
	out[4] = hex_digits[(u >> 4) & 0xF];
	out[5] = hex_digits[u & 0xF];
}

/*
 * The escape for the special character at s[0..n), into out (12 bytes
 * suffice); *len gets its length. Returns the input bytes it stands for.
 * Never more than 6 bytes out per byte in.
 */
static size_t escape(const unsigned char *s, size_t n, char *out, size_t *len)
{
	size_t used = 1;
	uint32_t cp;

	*len = 2;
	out[0] = '\\';
	switch (s[0]) {
	case '"': out[1] = '"'; return 1;
	case '\\': out[1] = '\\'; return 1;
	case '\b': out[1] = 'b'; return 1;
	case '\f': out[1] = 'f'; return 1;
	case '\n': out[1] = 'n'; return 1;
	case '\r': out[1] = 'r'; return 1;
	case '\t': out[1] = 't'; return 1;
	default: break;
	}
	if (s[0] < 0x80)
		cp = s[0];
	else
		used = utf8_decode(s, n, &cp);
	if (cp < 0x10000) {
		u_escape(out, cp);
		*len = 6;
	} else {
		/* A UTF-16 surrogate pair (RFC 8259 section 7), from 4 bytes. */
		cp -= 0x10000;
		u_escape(out, 0xD800 | (cp >> 10));
		u_escape(out + 6, 0xDC00 | (cp & 0x3FF));
		*len = 12;
	}
	return used;
}

/* Writes s[0..n) escaped at out, which has room for 6n bytes (the most
 * any escape takes per byte); returns the end. */
static char *copy_escaped(char *out, const unsigned char *s, size_t n)
{
	size_t i = 0, len, plain = 0; /* s[plain..i) went out as they came */
	int tail = n >= 8;            /* the last 8 bytes may still go in one step */

	while (i < n) {
		uint64_t x;

		if (n - i >= 8) {
			memcpy(&x, s + i, 8);
			if (!any_special(x)) {
				memcpy(out, &x, 8);
				out += 8;
				i += 8;
				continue;
			}
		} else if (tail) {
			/* The last 8 bytes, overlapping what went out as it came:
			 * rewriting those bytes changes nothing. */
			tail = 0;
			memcpy(&x, s + n - 8, 8);
			if (n - 8 >= plain && !any_special(x)) {
				memcpy(out - (i - (n - 8)), &x, 8);
				return out + (n - i);
			}
		}
		if (!special[s[i]]) {
			*out++ = (char)s[i++];
			continue;
		}
		i += escape(s + i, n - i, out, &len);
		out += len;
		plain = i;
	}
	return out;
}

/*
 * Room for a string of n bytes at its worst (6 bytes per byte) and
 * `extra` bytes around it, when that stays under the cap: then it is
 * copied with no check per byte. Only near the cap would the worst case
 * refuse a string that fits; there (NULL with no error) each piece is
 * checked on its own.
 */
static char *room_for_string(struct jsonw *w, size_t n, size_t extra)
{
	if (n > w->cap / 8 || 6 * n + extra > w->cap - w->len)
		return NULL;
	if (reserve(w, 6 * n + extra) != 0)
		return NULL;
	return w->buf + w->len;
}

/* The string in quotes, piece by piece, each piece under the cap. */
static void put_string_checked(struct jsonw *w, const unsigned char *s, size_t n)
{
	size_t i = 0, len;
	char seq[12];

	if (put_char(w, '"') != 0)
		return;
	while (i < n) {
		size_t start = i;

		while (i < n && !special[s[i]])
			i++;
		if (i > start && put(w, s + start, i - start) != 0)
			return;
		if (i == n)
			break;
		i += escape(s + i, n - i, seq, &len);
		if (put(w, seq, len) != 0)
			return;
	}
	put_char(w, '"');
}

static void put_string(struct jsonw *w, const unsigned char *s, size_t n)
{
	char *out = room_for_string(w, n, 2);

	if (out == NULL) {
		if (w->status == NP_OK)
			put_string_checked(w, s, n);
		return;
	}
	*out++ = '"';
	out = copy_escaped(out, s, n);
	*out++ = '"';
	w->len = (size_t)(out - w->buf);
}

/* ---- numbers ---- */

/* Digits of v, written backwards ending at end; returns the first. */
static char *u64_text(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return end;
}

/*
 * jansson's jsonp_dtostr() with precision 10. Returns the length, 0 when
 * the text does not fit (it always does in 32 bytes).
 */
static size_t double_text(double v, char *buf, size_t size)
{
	const char *point;
	char *start, *end;
	size_t len;
	int n;

	/*
	 * The common case, a millisecond figure rounded to the microsecond:
	 * v is the double nearest k / 1000 for an integer k < 10^10. That
	 * decimal has at most 10 significant digits and an exponent between
	 * -3 and 6, so "%.10g" prints it exactly, without exponent, trailing
	 * zeros dropped; jansson then adds ".0" to a whole number.
	 */
	if (v >= 0 && v < 1e7 && !signbit(v) && size >= 24) {
		uint64_t k = (uint64_t)(v * 1000.0 + 0.5);

		if ((double)k / 1000.0 == v) {
			char digits[24], *p = u64_text(digits + sizeof(digits), k / 1000);
			unsigned frac = (unsigned)(k % 1000);

			len = (size_t)(digits + sizeof(digits) - p);
			memcpy(buf, p, len);
			buf[len++] = '.';
			if (frac == 0) {
				buf[len++] = '0';
			} else {
				buf[len++] = (char)('0' + frac / 100);
				if (frac % 100 != 0) {
					buf[len++] = (char)('0' + frac / 10 % 10);
					if (frac % 10 != 0)
						buf[len++] = (char)('0' + frac % 10);
				}
			}
			buf[len] = '\0';
			return len;
		}
	}
	n = snprintf(buf, size, "%.10g", v);
	if (n < 0 || (size_t)n >= size)
		return 0;
	len = (size_t)n;
	/* A locale's decimal comma becomes the point JSON needs. */
	point = localeconv()->decimal_point;
	if (*point != '.') {
		char *pos = strchr(buf, *point);

		if (pos != NULL)
			*pos = '.';
	}
	/* Keep it a real when read back: "3" becomes "3.0". */
	if (strchr(buf, '.') == NULL && strchr(buf, 'e') == NULL) {
		if (len + 3 > size)
			return 0;
		buf[len++] = '.';
		buf[len++] = '0';
		buf[len] = '\0';
	}
	/* "1e+20" -> "1e20", "1e-05" -> "1e-5". */
	start = strchr(buf, 'e');
	if (start != NULL) {
		start++;
		end = start + 1;
		if (*start == '-')
			start++;
		while (*end == '0')
			end++;
		if (end != start) {
			memmove(start, end, len - (size_t)(end - buf) + 1);
			len -= (size_t)(end - start);
		}
	}
	return len;
}

/* ---- raw values (fixed shapes) ---- */

char *jsonw_raw_begin(struct jsonw *w, size_t max)
{
	if (w->status != NP_OK || max > w->cap / 2 || max + 1 > w->cap - w->len)
		return NULL;
	/* Room for the value and the comma before it: value_begin() below
	 * then cannot fail for want of room. */
	if (reserve(w, max + 1) != 0)
		return NULL;
	if (value_begin(w) != 0)
		return NULL;
	return w->buf + w->len;
}

void jsonw_raw_end(struct jsonw *w, char *end)
{
	w->len = (size_t)(end - w->buf);
	value_end(w);
}

void jsonw_raw(struct jsonw *w, size_t max, jsonw_raw_fn fn, const void *arg)
{
	char *p = jsonw_raw_begin(w, max), *scratch, *end;

	if (p != NULL) {
		jsonw_raw_end(w, fn(p, arg));
		return;
	}
	if (w->status != NP_OK)
		return;
	/* Near the cap: the exact size decides. */
	scratch = malloc(max);
	if (scratch == NULL) {
		set_error(w, NP_ENOMEM);
		return;
	}
	end = fn(scratch, arg);
	if (value_begin(w) == 0 && put(w, scratch, (size_t)(end - scratch)) == 0)
		value_end(w);
	free(scratch);
}

char *jsonw_raw_string(char *out, const char *s, size_t n)
{
	*out++ = '"';
	out = copy_escaped(out, (const unsigned char *)s, n);
	*out++ = '"';
	return out;
}

char *jsonw_raw_plain(char *out, const char *s, size_t n)
{
	*out++ = '"';
	copy_short(out, s, n);
	out[n] = '"';
	return out + n + 1;
}

char *jsonw_raw_uint(char *out, uint64_t v)
{
	char digits[JSONW_RAW_UINT_MAX], *p = u64_text(digits + sizeof(digits), v);
	size_t n = (size_t)(digits + sizeof(digits) - p);

	memcpy(out, p, n);
	return out + n;
}

char *jsonw_raw_bool(char *out, int v)
{
	return v ? JSONW_RAW_LIT(out, "true") : JSONW_RAW_LIT(out, "false");
}

/* ---- public ---- */

struct jsonw *jsonw_new(size_t cap)
{
	struct jsonw *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->cap = cap < SIZE_MAX / 4 ? cap : SIZE_MAX / 4;
	return w;
}

void jsonw_free(struct jsonw *w)
{
	if (w == NULL)
		return;
	free(w->buf);
	free(w);
}

void jsonw_object_begin(struct jsonw *w)
{
	container_begin(w, '{', LEVEL_OBJECT);
}

void jsonw_object_end(struct jsonw *w)
{
	container_end(w, '}', LEVEL_OBJECT);
}

void jsonw_array_begin(struct jsonw *w)
{
	container_begin(w, '[', 0);
}

void jsonw_array_end(struct jsonw *w)
{
	container_end(w, ']', 0);
}

void jsonw_key(struct jsonw *w, const char *key)
{
	unsigned char *lv;
	char *out;
	size_t n;

	if (w->status != NP_OK)
		return;
	if (w->depth == 0 || key == NULL) {
		set_error(w, NP_EINVAL);
		return;
	}
	lv = &w->level[w->depth - 1];
	if (!(*lv & LEVEL_OBJECT) || w->key_pending) {
		set_error(w, NP_EINVAL);
		return;
	}
	n = strlen(key);
	/* Comma, quotes and colon with the key, in one step when there is room. */
	out = room_for_string(w, n, 4);
	if (out != NULL) {
		if (*lv & LEVEL_MEMBERS)
			*out++ = ',';
		*out++ = '"';
		out = copy_escaped(out, (const unsigned char *)key, n);
		*out++ = '"';
		*out++ = ':';
		w->len = (size_t)(out - w->buf);
	} else {
		if (w->status != NP_OK)
			return;
		if ((*lv & LEVEL_MEMBERS) && put_char(w, ',') != 0)
			return;
		put_string_checked(w, (const unsigned char *)key, n);
		if (put_char(w, ':') != 0)
			return;
	}
	*lv |= LEVEL_MEMBERS;
	w->key_pending = 1;
}

void jsonw_string_len(struct jsonw *w, const char *s, size_t len)
{
	if (s == NULL) {
		jsonw_null(w);
		return;
	}
	if (value_begin(w) != 0)
		return;
	put_string(w, (const unsigned char *)s, len);
	value_end(w);
}

void jsonw_string(struct jsonw *w, const char *s)
{
	jsonw_string_len(w, s, s != NULL ? strlen(s) : 0);
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
	char digits[24], *p;

	if (value_begin(w) != 0)
		return;
	p = u64_text(digits + sizeof(digits), v);
	put(w, p, (size_t)(digits + sizeof(digits) - p));
	value_end(w);
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	char digits[24], *p;

	if (value_begin(w) != 0)
		return;
	/* The magnitude in unsigned arithmetic: -INT64_MIN does not overflow. */
	p = u64_text(digits + sizeof(digits), v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
	if (v < 0)
		*--p = '-';
	put(w, p, (size_t)(digits + sizeof(digits) - p));
	value_end(w);
}

void jsonw_bool(struct jsonw *w, int v)
{
	if (value_begin(w) != 0)
		return;
	if (v)
		put(w, "true", 4);
	else
		put(w, "false", 5);
	value_end(w);
}

void jsonw_null(struct jsonw *w)
{
	if (value_begin(w) != 0)
		return;
	put(w, "null", 4);
	value_end(w);
}

void jsonw_double(struct jsonw *w, double v)
{
	char text[40];
	size_t len;

	if (!isfinite(v)) {
		jsonw_null(w);
		return;
	}
	if (value_begin(w) != 0)
		return;
	len = double_text(v, text, sizeof(text));
	if (len == 0)
		set_error(w, NP_EINVAL); /* cannot happen: "%.10g" fits in 40 bytes */
	else
		put(w, text, len);
	value_end(w);
}

void jsonw_kstring(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_string(w, s);
}

void jsonw_kint(struct jsonw *w, const char *key, int64_t v)
{
	jsonw_key(w, key);
	jsonw_int(w, v);
}

void jsonw_kuint(struct jsonw *w, const char *key, uint64_t v)
{
	jsonw_key(w, key);
	jsonw_uint(w, v);
}

void jsonw_kbool(struct jsonw *w, const char *key, int v)
{
	jsonw_key(w, key);
	jsonw_bool(w, v);
}

void jsonw_kdouble(struct jsonw *w, const char *key, double v)
{
	jsonw_key(w, key);
	jsonw_double(w, v);
}

/*
 * Comma, the plain key and its colon, with room for `extra` more bytes
 * behind them; returns where the value goes, the value's bytes still to
 * be counted in w->len. NULL when the writer has failed, on misuse, or
 * when the worst case would not fit under the cap: then the caller takes
 * the slow path, which checks every piece.
 */
HOT char *plain_key_room(struct jsonw *w, const char *key, size_t klen, size_t extra)
{
	unsigned char *lv;
	char *out;

	if (w->status != NP_OK || w->depth == 0 || w->key_pending)
		return NULL;
	lv = &w->level[w->depth - 1];
	if (!(*lv & LEVEL_OBJECT) || klen > w->cap / 8 || extra > w->cap / 2 ||
	    klen + 4 + extra > w->cap - w->len || reserve(w, klen + 4 + extra) != 0)
		return NULL;
	out = w->buf + w->len;
	if (*lv & LEVEL_MEMBERS)
		*out++ = ',';
	*out++ = '"';
	copy_short(out, key, klen);
	out += klen;
	*out++ = '"';
	*out++ = ':';
	*lv |= LEVEL_MEMBERS;
	return out;
}

void jsonw_key_plain(struct jsonw *w, const char *key, size_t klen)
{
	char *out = plain_key_room(w, key, klen, 0);

	if (out == NULL) {
		jsonw_key(w, key);
		return;
	}
	w->len = (size_t)(out - w->buf);
	w->key_pending = 1;
}

void jsonw_kstring_plain(struct jsonw *w, const char *key, size_t klen, const char *s)
{
	size_t n;
	char *out;

	if (s == NULL) {
		jsonw_key_plain(w, key, klen);
		jsonw_null(w);
		return;
	}
	n = strlen(s);
	out = n <= w->cap / 8 ? plain_key_room(w, key, klen, 6 * n + 2) : NULL;
	if (out == NULL) {
		jsonw_key_plain(w, key, klen);
		jsonw_string_len(w, s, n);
		return;
	}
	*out++ = '"';
	out = copy_escaped(out, (const unsigned char *)s, n);
	*out++ = '"';
	w->len = (size_t)(out - w->buf);
}

void jsonw_kuint_plain(struct jsonw *w, const char *key, size_t klen, uint64_t v)
{
	char digits[24], *p, *out;
	size_t n;

	p = u64_text(digits + sizeof(digits), v);
	n = (size_t)(digits + sizeof(digits) - p);
	out = plain_key_room(w, key, klen, n);
	if (out == NULL) {
		jsonw_key_plain(w, key, klen);
		jsonw_uint(w, v);
		return;
	}
	memcpy(out, p, n);
	w->len = (size_t)(out + n - w->buf);
}

void jsonw_kbool_plain(struct jsonw *w, const char *key, size_t klen, int v)
{
	char *out = plain_key_room(w, key, klen, 5);

	if (out == NULL) {
		jsonw_key_plain(w, key, klen);
		jsonw_bool(w, v);
		return;
	}
	if (v) {
		memcpy(out, "true", 4);
		out += 4;
	} else {
		memcpy(out, "false", 5);
		out += 5;
	}
	w->len = (size_t)(out - w->buf);
}

int jsonw_status(const struct jsonw *w)
{
	return w->status;
}

size_t jsonw_len(const struct jsonw *w)
{
	return w->len;
}

int jsonw_take(struct jsonw *w, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if (w->status != NP_OK)
		return w->status;
	if (!w->done)
		return NP_EINVAL;
	w->buf[w->len] = '\0'; /* reserve() always kept a byte for it */
	*out = w->buf;
	*len = w->len;
	w->buf = NULL;
	w->len = 0;
	w->size = 0;
	w->done = 0;
	return NP_OK;
}
