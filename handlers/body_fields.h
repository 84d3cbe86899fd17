/*
 * body_fields.h - what the strict JSON bodies of the probe endpoints
 * (POST /fetch, /scan, /tcp, /udp) share: unknown fields refused,
 * integer fields in a range, and bytes from the network as a JSON value.
 */
#ifndef NP_BODY_FIELDS_H
#define NP_BODY_FIELDS_H

#include <jansson.h>
#include <stddef.h>

struct http_req;

/* Every field of body is one of known[0..n); else a 400 naming the first
 * stranger. 0, or -1 answered. */
int body_fields_known(struct http_req *r, json_t *body, const char *const *known, size_t n);

/* The integer field key in [min, max] into *out (left alone when absent);
 * 0, or -1 with a 400 naming key. */
int body_field_uint(struct http_req *r, json_t *body, const char *key, unsigned long min,
		    unsigned long max, unsigned long *out);

/* {"bytes", "encoding", "data", "truncated"}: the bytes as text when they
 * are UTF-8, else as padded base64 (RFC 4648). */
json_t *body_bytes_json(const unsigned char *p, size_t n, int truncated);

#endif
