/*
 * http.h - what a handler sees of an HTTP request, and how it answers.
 *
 * A handler is called once per request on its worker's loop thread, after
 * the whole body has arrived (bodies over --max-body are refused before).
 * It must answer exactly once, with one of the http_reply_* calls, either
 * before it returns or later from a loop callback (the connection stays
 * suspended meanwhile). Until the answer, the request has a deadline
 * (--max-timeout-ms plus a margin); if it passes, or the service shuts
 * down, the server answers 503/504 itself and calls the cancel callback the
 * handler registered, after which the handler must not touch the request.
 *
 * All functions: loop thread only.
 */
#ifndef NP_HTTP_H
#define NP_HTTP_H

#include <stddef.h>
#include <jansson.h>

struct http_req;
struct worker;

typedef void (*http_cancel_cb)(void *ud);

const char *http_req_method(const struct http_req *r);
const char *http_req_path(const struct http_req *r);
/* Query parameter value, "" for a bare key, NULL when absent. */
const char *http_req_query(const struct http_req *r, const char *key);
/* Request header (case-insensitive), NULL when absent. */
const char *http_req_header(const struct http_req *r, const char *name);
/* Body bytes (NUL-terminated for convenience; len excludes the NUL). */
const unsigned char *http_req_body(const struct http_req *r, size_t *len);
const char *http_req_id(const struct http_req *r);
/* Peer address as text, e.g. "127.0.0.1". */
const char *http_req_peer(const struct http_req *r);
struct worker *http_req_worker(const struct http_req *r);
/* Seconds the request may still run before the server gives up on it. */
unsigned http_req_remaining_ms(const struct http_req *r);

/*
 * Parses the body as a JSON object. On failure answers 400 itself and
 * returns NULL. The result is the caller's (json_decref it).
 */
json_t *http_req_json_body(struct http_req *r);

/* Register what to call if the request is abandoned before the answer. */
void http_req_on_cancel(struct http_req *r, http_cancel_cb cb, void *ud);

/* Adds a header to the eventual response (copied). */
void http_reply_header(struct http_req *r, const char *name, const char *value);

/* Content types given to the http_reply_* calls must be static strings
 * (literals): they are kept, not copied. */

/* Answers with a JSON document; takes the reference to body. */
void http_reply_json(struct http_req *r, unsigned status, json_t *body);
/* The same with another JSON media type (e.g. application/dns-json). */
void http_reply_json_as(struct http_req *r, unsigned status, const char *content_type,
			json_t *body);
/* Answers with bytes (copied) of the given content type. */
void http_reply_bytes(struct http_req *r, unsigned status, const char *content_type,
		      const void *data, size_t len);
/* Answers with a malloc'd buffer, which it takes over (freed with free()). */
void http_reply_take(struct http_req *r, unsigned status, const char *content_type, void *data,
		     size_t len);
/* Answers with static bytes that outlive the service (not copied). */
void http_reply_static(struct http_req *r, unsigned status, const char *content_type,
		       const void *data, size_t len);
/*
 * Answers with an RFC 9457 problem+json document. `param` names the
 * request parameter at fault (NULL if none); detail is printf-formatted.
 * The type URI and title follow from the status.
 */
void http_reply_problem(struct http_req *r, unsigned status, const char *param,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Parses an unsigned integer query parameter within [min, max]; absent
 * gives *out = def. On a bad value answers 400 naming the parameter and
 * returns -1; otherwise 0.
 */
int http_query_uint(struct http_req *r, const char *key, unsigned long def,
		    unsigned long min, unsigned long max, unsigned long *out);
/* Parses a boolean parameter (1/0/true/false/yes/no; bare key = true). */
int http_query_bool(struct http_req *r, const char *key, int def, int *out);

#endif
