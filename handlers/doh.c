/*
 * doh.c - GET/POST /dns-query: DNS over HTTPS (RFC 8484), so that real
 * DoH clients (curl --doh-url, browsers) can use netprobe as their
 * resolver over HTTP/1.1. The exchange itself (checks, relay, the client's
 * message id, Cache-Control, SERVFAIL on upstream failure) is in
 * doh_core.c, which the HTTP/2 listener (service/h2.c, --doh-port) shares.
 */
#include "handlers.h"
#include "config.h"
#include "doh_core.h"
#include "http.h"
#include "np.h"
#include "worker.h"

#include <string.h>

static void on_cancel(void *ud)
{
	doh_exchange_cancel(ud);
}

static void on_reply(const struct doh_reply *rep, void *ud)
{
	struct http_req *r = ud;

	http_reply_header(r, "Cache-Control", rep->cache_control);
	http_reply_bytes(r, rep->status, rep->content_type, rep->body, rep->len);
}

void handle_dns_query(struct http_req *r)
{
	struct worker *w = http_req_worker(r);
	unsigned char buf[DOH_MSG_MAX];
	int post = strcmp(http_req_method(r), "POST") == 0;
	const unsigned char *body = NULL;
	const unsigned char *q;
	size_t body_len = 0, qlen;
	struct doh_exchange *x;
	struct doh_error e;

	if (post)
		body = http_req_body(r, &body_len);
	if (doh_request_check(post, post ? NULL : http_req_query(r, "dns"),
			      post ? http_req_header(r, "Content-Type") : NULL, body, body_len, buf,
			      sizeof(buf), &q, &qlen, &e) != NP_OK ||
	    doh_exchange_start(worker_dns(w), worker_metrics(w),
			       worker_config(w)->default_timeout_ms, q, qlen, on_reply, r, &x,
			       &e) != NP_OK) {
		http_reply_problem(r, e.status, e.param, "%s", e.detail);
		return;
	}
	http_req_on_cancel(r, on_cancel, x);
}
