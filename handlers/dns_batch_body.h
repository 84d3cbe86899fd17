/*
 * dns_batch_body.h - a fast reader for the common POST /dns body: one
 * JSON object whose "queries" member is an array of plain names, e.g.
 *
 *     {"type": "A", "queries": ["n0.bench.test", "n1.bench.test"]}
 *
 * The names are found in one pass over the text, with no allocation per
 * name; the other top-level members (the batch's defaults, a handful)
 * become a jansson object as usual. Any other body is left to jansson:
 * the reader says "not this shape" and the caller parses as before, so
 * answers and error messages do not depend on which path read the body.
 *
 * Whenever it accepts a body, json_loadb(buf, len, JSON_REJECT_DUPLICATES)
 * (http_req_json_body()'s call) accepts it too, and gives an object whose
 * "queries" is an array of exactly the names read here, byte for byte,
 * and whose other members equal dns_batch_body_rest() (json_equal(), and
 * in the same order). tests/fuzz/fuzz_dns_batch_body.c checks this.
 *
 * No global state: reentrant, callable from any thread.
 */
#ifndef NP_DNS_BATCH_BODY_H
#define NP_DNS_BATCH_BODY_H

#include <jansson.h>
#include <stddef.h>

struct dns_batch_body;

/*
 * Reads buf[0..len) (borrowed, not modified, need not be NUL-terminated).
 * Accepted shape: an object, with whitespace wherever JSON allows it,
 * whose keys are ASCII without escapes and all different, with a
 * "queries" member that is an array (possibly empty) of strings of
 * printable ASCII without escapes, and any other members of any valid
 * JSON, nested at most 32 deep.
 *
 * Names past max_names are checked and counted but not kept, which
 * bounds the memory a huge batch can take: dns_batch_body_count() still
 * gives their number, so the caller can refuse the batch with the same
 * message as for a jansson-parsed body.
 *
 * Returns 1 with *out set (free with dns_batch_body_free()); 0 when the
 * body is not of that shape, or may not be, or is not valid JSON: *out
 * is NULL and the caller parses the body with jansson; -1 when one of our
 * own allocations failed (*out NULL). An allocation failing inside
 * jansson may show as 0: the caller's own parse then meets it too.
 */
int dns_batch_body_scan(const char *buf, size_t len, size_t max_names, struct dns_batch_body **out);

/* How many names "queries" holds (all of them, kept or not). */
size_t dns_batch_body_count(const struct dns_batch_body *b);

/* Name i, NUL-terminated, as written in the body (no trailing dot added),
 * living as long as b; NULL when i >= count or i >= max_names. */
const char *dns_batch_body_name(const struct dns_batch_body *b, size_t i);

/* Every top-level member but "queries", as jansson would have parsed it;
 * an empty object when there are none. Borrowed: lives as long as b
 * (json_incref() it to keep it longer). Never NULL. */
json_t *dns_batch_body_rest(const struct dns_batch_body *b);

/* NULL-safe. */
void dns_batch_body_free(struct dns_batch_body *b);

#endif
