/*
 * doh_core.h - the DNS-over-HTTPS exchange (RFC 8484), apart from any HTTP
 * server: check the request, relay the client's message through dns_send,
 * and hand back the answer with the client's message id restored and the
 * Cache-Control value it deserves. Both front ends use it: GET/POST
 * /dns-query on the libmicrohttpd server (handlers/doh.c) and the HTTP/2
 * DoH listener (service/h2.c).
 *
 * Loop thread only.
 */
#ifndef NP_DOH_CORE_H
#define NP_DOH_CORE_H

#include <stddef.h>

#define DOH_MEDIA_TYPE "application/dns-message"
#define DOH_MSG_MAX 65535 /* the largest DNS message, hence the largest POST body */

struct doh_exchange;
struct dns_resolver;
struct metrics;

/* Why a request cannot be served: the HTTP status, the request parameter at
 * fault (a static string, or NULL) and a sentence for the problem detail. */
struct doh_error {
	unsigned status;
	const char *param;
	char detail[256];
};

/* The answer to send: the body is borrowed for the callback only. */
struct doh_reply {
	unsigned status;	   /* 200 */
	const char *content_type;  /* DOH_MEDIA_TYPE */
	const unsigned char *body; /* the DNS message */
	size_t len;
	const char *cache_control; /* "max-age=N" (RFC 8484 section 5.1) or "no-store" */
};

/* Called once per exchange that started, unless cancelled first. */
typedef void (*doh_reply_cb)(const struct doh_reply *rep, void *ud);

/*
 * Checks a /dns-query request and finds its DNS message. post: a POST (the
 * message is body/body_len, content_type must be DOH_MEDIA_TYPE); otherwise
 * a GET whose dns query parameter (percent-decoded, or NULL when absent) is
 * decoded into buf (cap bytes; DOH_MSG_MAX suffices). On NP_OK *query and
 * *len point at the message (inside body or buf); otherwise e says why
 * (415 naming Content-Type, 400 naming dns).
 */
int doh_request_check(int post, const char *dns, const char *content_type,
		      const unsigned char *body, size_t body_len, unsigned char *buf, size_t cap,
		      const unsigned char **query, size_t *len, struct doh_error *e);

/*
 * Relays a message doh_request_check() accepted (copied) to the resolver r
 * within timeout_ms (two tries), counting the outcome in m as a DoH probe.
 * When the resolver fails, the reply is a SERVFAIL made from the question.
 * r and m are borrowed and must outlive the exchange. On NP_OK *out
 * identifies the exchange until cb runs; otherwise e says why (503) and cb
 * never runs.
 */
int doh_exchange_start(struct dns_resolver *r, struct metrics *m, unsigned timeout_ms,
		       const unsigned char *query, size_t len, doh_reply_cb cb, void *ud,
		       struct doh_exchange **out, struct doh_error *e);
/* The callback will not run; everything is released. NULL-safe. Not from
 * inside the exchange's own callback. */
void doh_exchange_cancel(struct doh_exchange *x);

#endif
