/*
 * jsonw.h - a streaming JSON writer: values go straight into one growing
 * buffer, in order, with no tree in between. It is for large answers
 * built from data we already hold (DNS results); parsing and small
 * documents stay with jansson.
 *
 * The output is what jansson's json_dumps() prints with JSON_COMPACT |
 * JSON_ENSURE_ASCII | JSON_REAL_PRECISION(10) for the same values, byte
 * for byte: no spaces, every string pure ASCII (non-ASCII code points as
 * \uXXXX, above U+FFFF as a surrogate pair, uppercase hex), the short
 * escapes \" \\ \b \f \n \r \t and \u00XX for the other control
 * characters. Input that is not valid UTF-8 is never copied through: each
 * maximal ill-formed subsequence (Unicode 15.0 section 3.9, as Python and
 * browsers decode) becomes one \uFFFD.
 *
 * Commas and colons are placed by the writer. The buffer has a hard cap:
 * a document that would pass it sets an error, never a bigger buffer.
 * After the first error every call does nothing, so a caller writes a
 * whole document and checks once, at jsonw_take().
 *
 * Not thread-safe; one writer per document.
 */
#ifndef NP_JSONW_H
#define NP_JSONW_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct jsonw;

/* Containers may nest this deep; deeper is a usage error (NP_EINVAL). */
#define JSONW_DEPTH_MAX 32

/*
 * A writer whose document may be at most `cap` bytes (NUL excluded).
 * Nothing is allocated for the text until the first value. NULL when out
 * of memory.
 */
struct jsonw *jsonw_new(size_t cap);
/* Frees the writer and any text it still holds. NULL-safe. */
void jsonw_free(struct jsonw *w);

void jsonw_object_begin(struct jsonw *w);
void jsonw_object_end(struct jsonw *w);
void jsonw_array_begin(struct jsonw *w);
void jsonw_array_end(struct jsonw *w);
/* A member name inside an object; the next call writes its value. */
void jsonw_key(struct jsonw *w, const char *key);

/* s may be NULL: written as null. */
void jsonw_string(struct jsonw *w, const char *s);
/* len bytes of s, NUL bytes included (as \u0000). */
void jsonw_string_len(struct jsonw *w, const char *s, size_t len);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_uint(struct jsonw *w, uint64_t v);
void jsonw_bool(struct jsonw *w, int v);
void jsonw_null(struct jsonw *w);
/*
 * A real as jansson prints it with JSON_REAL_PRECISION(10): "%.10g", with
 * ".0" added when that has neither '.' nor 'e', and the exponent without
 * '+' or leading zeros (12.5, 3.0, 0.001, 1e-5, 1e20). NaN and infinities
 * have no JSON form and are written as null.
 */
void jsonw_double(struct jsonw *w, double v);

/* Key and value in one call. */
void jsonw_kstring(struct jsonw *w, const char *key, const char *s);
void jsonw_kint(struct jsonw *w, const char *key, int64_t v);
void jsonw_kuint(struct jsonw *w, const char *key, uint64_t v);
void jsonw_kbool(struct jsonw *w, const char *key, int v);
void jsonw_kdouble(struct jsonw *w, const char *key, double v);

/*
 * The same with a key of klen bytes that needs no escape (printable
 * ASCII other than '"' and '\\'), as the literals of the JSONW_K*
 * macros below are: the key is copied as it is, and key and value take
 * one step. The caller vouches for the key; nothing checks it.
 */
void jsonw_key_plain(struct jsonw *w, const char *key, size_t klen);
void jsonw_kstring_plain(struct jsonw *w, const char *key, size_t klen, const char *s);
void jsonw_kuint_plain(struct jsonw *w, const char *key, size_t klen, uint64_t v);
void jsonw_kbool_plain(struct jsonw *w, const char *key, size_t klen, int v);

/* Keys that are string literals of plain ASCII (see jsonw_key_plain). */
#define JSONW_KEY(w, lit) jsonw_key_plain((w), "" lit "", sizeof(lit) - 1)
#define JSONW_KSTRING(w, lit, s) jsonw_kstring_plain((w), "" lit "", sizeof(lit) - 1, (s))
#define JSONW_KUINT(w, lit, v) jsonw_kuint_plain((w), "" lit "", sizeof(lit) - 1, (v))
#define JSONW_KBOOL(w, lit, v) jsonw_kbool_plain((w), "" lit "", sizeof(lit) - 1, (v))

/*
 * Fixed shapes, fast: one value whose text the caller writes itself into
 * room reserved for its worst case, `max` bytes, with the piece writers
 * below and no check per piece. jsonw_raw_begin() returns where to write,
 * or NULL when that room would pass the cap or the writer has failed:
 * then nothing changed, and the caller writes the same value with the
 * calls above (which refuse exactly the documents longer than the cap).
 * jsonw_raw_end() takes the end of what was written, at most max bytes
 * after the start. The caller vouches that the text is one JSON value
 * (as jsonw_key_plain() vouches for its key).
 */
char *jsonw_raw_begin(struct jsonw *w, size_t max);
void jsonw_raw_end(struct jsonw *w, char *end);
/*
 * Both steps and the fallback in one: fn writes the value at out (room for
 * max bytes) and returns its end. Straight into the document when the
 * worst case fits under the cap; otherwise fn writes into scratch memory
 * and the value is appended only if it really fits, so the cap still
 * refuses exactly the documents longer than it.
 */
typedef char *(*jsonw_raw_fn)(char *out, const void *arg);
void jsonw_raw(struct jsonw *w, size_t max, jsonw_raw_fn fn, const void *arg);
/* Room a string of n bytes may take, quotes included. */
#define JSONW_RAW_STRING_MAX(n) (6 * (size_t)(n) + 2)
/* Room a number written by jsonw_raw_uint() may take. */
#define JSONW_RAW_UINT_MAX 20
/* The pieces; each returns the end of what it wrote. */
char *jsonw_raw_string(char *out, const char *s, size_t n); /* quoted, escaped */
/* Quoted as it is: for texts of our own that never need an escape
 * (printable ASCII other than '"' and '\\': type and class mnemonics,
 * addresses); the caller vouches for it. n + 2 bytes. */
char *jsonw_raw_plain(char *out, const char *s, size_t n);
char *jsonw_raw_uint(char *out, uint64_t v);
char *jsonw_raw_bool(char *out, int v);                     /* 5 bytes at most */
/* JSON text of a string literal, copied as it is. */
#define JSONW_RAW_LIT(out, lit) (memcpy((out), "" lit "", sizeof(lit) - 1), (out) + sizeof(lit) - 1)

/*
 * NP_OK, or the first error: NP_ELIMIT when the document would pass the
 * cap, NP_ENOMEM when the buffer could not grow, NP_EINVAL on misuse (a
 * value where a key belongs, an end without its begin, a second top-level
 * value, nesting deeper than JSONW_DEPTH_MAX).
 */
int jsonw_status(const struct jsonw *w);
/* Bytes written so far. */
size_t jsonw_len(const struct jsonw *w);

/*
 * Hands over the finished document: *out receives a malloc'd,
 * NUL-terminated buffer (free() it) and *len its length without the NUL.
 * Returns NP_OK, the writer's error, or NP_EINVAL when the document is
 * not complete (no value yet, or a container still open); then *out is
 * NULL. The writer is left empty either way and must still be freed.
 */
int jsonw_take(struct jsonw *w, char **out, size_t *len);

#endif
