/*
 * doh.c - GET/POST /dns-query: DNS over HTTPS (RFC 8484), so that real
 * DoH clients (curl --doh-url, kdig +https, browsers) can use netprobe as
 * their resolver. The client's message is checked, relayed to the
 * configured resolver and the answer returned as application/dns-message,
 * with the client's message id restored (c-ares picks its own) and a
 * Cache-Control max-age of the smallest TTL (RFC 8484 section 5.1).
 */
#include "handlers.h"
#include "config.h"
#include "dns.h"
#include "dns_wire.h"
#include "http.h"
#include "metrics.h"
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOH_MEDIA "application/dns-message"

struct doh_job {
	struct http_req *req;
	struct dns_op *op;
	uint16_t client_id;
	unsigned char *query;
	size_t query_len;
	size_t question_end;   /* offset just past the question section */
};

static void job_free(struct doh_job *j)
{
	free(j->query);
	free(j);
}

static void on_cancel(void *ud)
{
	struct doh_job *j = ud;

	dns_op_cancel(j->op);
	job_free(j);
}

/* RFC 4648 section 5 base64url, padding optional. Returns length or -1. */
static long base64url_decode(const char *in, unsigned char *out, size_t cap)
{
	unsigned acc = 0;
	int bits = 0;
	size_t n = 0;

	for (const char *p = in; *p != '\0'; p++) {
		int v;
		char c = *p;

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '-')
			v = 62;
		else if (c == '_')
			v = 63;
		else if (c == '=' && (p[1] == '\0' || (p[1] == '=' && p[2] == '\0')))
			break;
		else
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return (long)n;
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

/* A SERVFAIL answer built from the client's question, for upstream failure. */
static void reply_servfail(struct doh_job *j)
{
	unsigned char msg[DNS_MSG_MAX];
	size_t n = j->question_end;

	memcpy(msg, j->query, n);
	msg[2] = (unsigned char)(0x80 | (msg[2] & 0x79)); /* QR=1, keep opcode and RD */
	msg[3] = 0x80 | 2;                                /* RA=1, RCODE=SERVFAIL */
	memset(msg + 6, 0, 6);                            /* no AN, NS, AR */
	http_reply_header(j->req, "Cache-Control", "no-store");
	http_reply_bytes(j->req, 200, DOH_MEDIA, msg, n);
}

static void on_answer(const struct dns_answer *a, void *ud)
{
	struct doh_job *j = ud;
	struct metrics *m = worker_metrics(http_req_worker(j->req));
	struct dns_msg *msg = NULL;
	unsigned char *wire;
	char cc[48];
	int found = 0;
	uint32_t ttl;

	j->op = NULL;
	if (a->status != NP_OK || dns_msg_parse(a->wire, a->wire_len, &msg, NULL, 0) != NP_OK) {
		metrics_probe_done(m, PROBE_DOH,
				   a->status != NP_OK ? np_status_code(a->status) : "protocol_error",
				   a->rtt_ms / 1000.0);
		reply_servfail(j);
		goto done;
	}
	metrics_probe_done(m, PROBE_DOH,
			   dns_rcode_name(msg->rcode) ? dns_rcode_name(msg->rcode) : "answered",
			   a->rtt_ms / 1000.0);
	ttl = dns_msg_min_ttl(msg, &found);
	dns_msg_free(msg);
	wire = malloc(a->wire_len);
	if (wire == NULL) {
		http_reply_problem(j->req, 503, NULL, "out of memory");
		goto done;
	}
	memcpy(wire, a->wire, a->wire_len);
	wire[0] = (unsigned char)(j->client_id >> 8);
	wire[1] = (unsigned char)(j->client_id & 0xff);
	if (found)
		snprintf(cc, sizeof(cc), "max-age=%u", ttl);
	else
		snprintf(cc, sizeof(cc), "no-store");
	http_reply_header(j->req, "Cache-Control", cc);
	http_reply_bytes(j->req, 200, DOH_MEDIA, wire, a->wire_len);
	free(wire);
done:
	job_free(j);
}

void handle_dns_query(struct http_req *r)
{
	const struct config *c = worker_config(http_req_worker(r));
	unsigned char buf[DNS_MSG_MAX];
	const unsigned char *q;
	size_t qlen;
	struct dns_msg *msg = NULL;
	char why[200];
	struct doh_job *j;
	struct dns_send_opts o = {0};
	int rc;

	if (strcmp(http_req_method(r), "POST") == 0) {
		const char *ct = http_req_header(r, "Content-Type");

		if (ct == NULL || strncasecmp(ct, DOH_MEDIA, strlen(DOH_MEDIA)) != 0) {
			http_reply_problem(r, 415, "Content-Type", "the body must be %s", DOH_MEDIA);
			return;
		}
		q = http_req_body(r, &qlen);
	} else {
		const char *b64 = http_req_query(r, "dns");
		long n;

		if (b64 == NULL || b64[0] == '\0') {
			http_reply_problem(r, 400, "dns",
					   "a base64url-encoded DNS query is required (RFC 8484)");
			return;
		}
		n = base64url_decode(b64, buf, sizeof(buf));
		if (n < 0) {
			http_reply_problem(r, 400, "dns", "not valid base64url");
			return;
		}
		q = buf;
		qlen = (size_t)n;
	}
	if (dns_msg_parse(q, qlen, &msg, why, sizeof(why)) != NP_OK) {
		http_reply_problem(r, 400, "dns", "malformed DNS message: %s", why);
		return;
	}
	rc = msg->qr || msg->opcode != 0 || msg->n_question != 1;
	dns_msg_free(msg);
	if (rc) {
		http_reply_problem(r, 400, "dns", "the message must be a standard query with one question");
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL || (j->query = malloc(qlen)) == NULL) {
		free(j);
		http_reply_problem(r, 503, NULL, "out of memory");
		return;
	}
	memcpy(j->query, q, qlen);
	j->query_len = qlen;
	j->question_end = question_end(q, qlen);
	j->req = r;
	j->client_id = (uint16_t)(q[0] << 8 | q[1]);
	o.timeout_ms = c->default_timeout_ms;
	o.tries = 2;
	rc = dns_send(worker_dns(http_req_worker(r)), q, qlen, &o, on_answer, j, &j->op);
	if (rc != NP_OK) {
		job_free(j);
		http_reply_problem(r, 503, NULL, "cannot send the query: %s",
				   np_strerror((enum np_status)rc));
		return;
	}
	http_req_on_cancel(r, on_cancel, j);
}
