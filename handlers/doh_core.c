/*
 * doh_core.c - the DNS-over-HTTPS exchange shared by the HTTP/1.1 and the
 * HTTP/2 front ends. The client's message is checked (a standard query with
 * one question), relayed to the configured resolver with dns_send, and the
 * answer handed back with the client's message id restored (c-ares picks its
 * own) and a Cache-Control max-age of the smallest TTL (RFC 8484 section
 * 5.1). When the resolver fails, the answer is a SERVFAIL built from the
 * client's question, still 200, as DoH clients expect.
 */
#include "doh_core.h"
#include "base64.h"
#include "dns.h"
#include "dns_wire.h"
#include "metrics.h"
#include "np.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Header and question of a checked query: 12 + a name of at most 255 + 4. */
#define QUESTION_MAX 512

struct doh_exchange {
	struct dns_op *op;
	struct metrics *metrics;
	doh_reply_cb cb;
	void *ud;
	uint16_t client_id;
	unsigned char *question; /* the client's header and question, for a SERVFAIL */
	size_t question_len;
};

static void set_error(struct doh_error *e, unsigned status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_error(struct doh_error *e, unsigned status, const char *param, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	e->param = param;
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
}

/* Offset just past the (single) question, or 0 if it does not parse. */
static size_t question_end(const unsigned char *m, size_t len)
{
	size_t off = 12;

	while (off < len) {
		unsigned l = m[off];

		if (l == 0) {
			off += 1;
			break;
		}
		if ((l & 0xc0) == 0xc0) {
			off += 2;
			break;
		}
		off += 1 + l;
	}
	off += 4; /* QTYPE, QCLASS */
	return off <= len ? off : 0;
}

int doh_request_check(int post, const char *dns, const char *content_type,
		      const unsigned char *body, size_t body_len, unsigned char *buf, size_t cap,
		      const unsigned char **query, size_t *len, struct doh_error *e)
{
	const unsigned char *q;
	size_t qlen;
	struct dns_msg *msg = NULL;
	char why[200];
	int bad;

	*query = NULL;
	*len = 0;
	if (post) {
		if (content_type == NULL ||
		    strncasecmp(content_type, DOH_MEDIA_TYPE, strlen(DOH_MEDIA_TYPE)) != 0) {
			set_error(e, 415, "Content-Type", "the body must be %s", DOH_MEDIA_TYPE);
			return NP_EINVAL;
		}
		q = body;
		qlen = body_len;
	} else {
		long n;

		if (dns == NULL || dns[0] == '\0') {
			set_error(e, 400, "dns",
				  "a base64url-encoded DNS query is required (RFC 8484)");
			return NP_EINVAL;
		}
		n = base64_decoded_max(strlen(dns)) <= cap
			    ? base64url_decode(dns, strlen(dns), buf)
			    : -1;
		if (n < 0) {
			set_error(e, 400, "dns", "not valid base64url");
			return NP_EINVAL;
		}
		q = buf;
		qlen = (size_t)n;
	}
	if (dns_msg_parse(q, qlen, &msg, why, sizeof(why)) != NP_OK) {
		set_error(e, 400, "dns", "malformed DNS message: %s", why);
		return NP_EINVAL;
	}
	bad = msg->qr || msg->opcode != 0 || msg->n_question != 1;
	dns_msg_free(msg);
	if (bad || question_end(q, qlen) == 0) {
		set_error(e, 400, "dns", "the message must be a standard query with one question");
		return NP_EINVAL;
	}
	*query = q;
	*len = qlen;
	return NP_OK;
}

static void exchange_free(struct doh_exchange *x)
{
	free(x->question);
	free(x);
}

static void reply(struct doh_exchange *x, const unsigned char *msg, size_t len,
		  const char *cache_control)
{
	struct doh_reply rep;

	rep.status = 200;
	rep.content_type = DOH_MEDIA_TYPE;
	rep.body = msg;
	rep.len = len;
	rep.cache_control = cache_control;
	x->cb(&rep, x->ud);
}

/* A SERVFAIL answer built from the client's question, for upstream failure. */
static void reply_servfail(struct doh_exchange *x)
{
	unsigned char msg[QUESTION_MAX];
	size_t n = x->question_len;

	memcpy(msg, x->question, n);
	msg[2] = (unsigned char)(0x80 | (msg[2] & 0x79)); /* QR=1, keep opcode and RD */
	msg[3] = 0x80 | 2;				  /* RA=1, RCODE=SERVFAIL */
	memset(msg + 6, 0, 6);				  /* no AN, NS, AR */
	reply(x, msg, n, "no-store");
}

static void on_answer(const struct dns_answer *a, void *ud)
{
	struct doh_exchange *x = ud;
	struct dns_msg *msg = NULL;
	unsigned char wire[DOH_MSG_MAX];
	char cc[48];
	int found = 0;
	uint32_t ttl;

	x->op = NULL;
	if (a->status != NP_OK || a->wire_len > sizeof(wire) ||
	    dns_msg_parse(a->wire, a->wire_len, &msg, NULL, 0) != NP_OK) {
		metrics_probe_done(x->metrics, PROBE_DOH,
				   a->status != NP_OK ? np_status_code(a->status)
						      : "protocol_error",
				   a->rtt_ms / 1000.0);
		reply_servfail(x);
		goto done;
	}
	metrics_probe_done(x->metrics, PROBE_DOH,
			   dns_rcode_name(msg->rcode) ? dns_rcode_name(msg->rcode) : "answered",
			   a->rtt_ms / 1000.0);
	ttl = dns_msg_min_ttl(msg, &found);
	dns_msg_free(msg);
	memcpy(wire, a->wire, a->wire_len);
	wire[0] = (unsigned char)(x->client_id >> 8);
	wire[1] = (unsigned char)(x->client_id & 0xff);
	if (found)
		snprintf(cc, sizeof(cc), "max-age=%u", ttl);
	else
		snprintf(cc, sizeof(cc), "no-store");
	reply(x, wire, a->wire_len, cc);
done:
	exchange_free(x);
}

int doh_exchange_start(struct dns_resolver *r, struct metrics *m, unsigned timeout_ms,
		       const unsigned char *query, size_t len, doh_reply_cb cb, void *ud,
		       struct doh_exchange **out, struct doh_error *e)
{
	struct doh_exchange *x;
	struct dns_send_opts o = {0};
	size_t qend = question_end(query, len);
	int rc;

	*out = NULL;
	/* doh_request_check() made sure of both; a question fits in 12 + 255 + 4. */
	if (qend == 0 || qend > QUESTION_MAX) {
		set_error(e, 400, "dns", "the message must be a standard query with one question");
		return NP_EINVAL;
	}
	x = calloc(1, sizeof(*x));
	if (x != NULL)
		x->question = malloc(qend);
	if (x == NULL || x->question == NULL) {
		free(x);
		set_error(e, 503, NULL, "out of memory");
		return NP_ENOMEM;
	}
	memcpy(x->question, query, qend);
	x->question_len = qend;
	x->metrics = m;
	x->cb = cb;
	x->ud = ud;
	x->client_id = (uint16_t)(query[0] << 8 | query[1]);
	o.timeout_ms = timeout_ms;
	o.tries = 2;
	rc = dns_send(r, query, len, &o, on_answer, x, &x->op);
	if (rc != NP_OK) {
		exchange_free(x);
		set_error(e, 503, NULL, "cannot send the query: %s",
			  np_strerror((enum np_status)rc));
		return rc;
	}
	*out = x;
	return NP_OK;
}

void doh_exchange_cancel(struct doh_exchange *x)
{
	if (x == NULL)
		return;
	dns_op_cancel(x->op);
	exchange_free(x);
}
