/*
 * handlers/rawx.c - POST /tcp and POST /udp: the seed's TCP and UDP
 * clients (and its raw HTTP request) as an API. The body names the peer
 * and the bytes to send; the answer says what came back, how the exchange
 * ended, and when each step happened.
 *
 * A host name is resolved as every module resolves names before
 * connecting (/etc/hosts, then A and AAAA through the worker's DNS
 * module); every address must pass the target policy (else 403), and the
 * first one is used. The exchange itself is service/rawx.c.
 */
#include "handlers.h"
#include "base64.h"
#include "body_fields.h"
#include "config.h"
#include "dns.h"
#include "http.h"
#include "metrics.h"
#include "netaddr.h"
#include "np.h"
#include "rawx.h"
#include "target.h"
#include "worker.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BYTES_DEFAULT 65536u
#define MAX_BYTES_MAX (1u << 20)
#define DATAGRAMS_MAX 100u

struct rawx_job {
	struct http_req *req;
	int udp;
	struct dns_op *op;       /* resolving the host */
	struct rawx *x;          /* the exchange */
	struct rawx_opts o;
	unsigned char *data;     /* what to send (o.data) */
	char host[TARGET_HOST_MAX + 1];
	unsigned port;
	uint64_t start_us;
	uint64_t resolved_us;
	union np_sockaddr addr;
	socklen_t addrlen;
};

static void job_free(struct rawx_job *j)
{
	free(j->data);
	free(j);
}

static void on_cancel(void *ud)
{
	struct rawx_job *j = ud;

	dns_op_cancel(j->op);
	rawx_cancel(j->x);
	job_free(j);
}

/* The answer: the same shape for findings before and after connecting. */
static void reply(struct rawx_job *j, const struct rawx_result *res, enum np_status st,
		  const char *detail)
{
	json_t *body = json_object();
	json_t *timing = json_object();
	const char *code = st == NP_OK ? "ok" : np_status_code(st);
	uint64_t end_us = res != NULL ? res->end_us : np_now_us();
	enum rawx_end end = res != NULL ? res->end : RAWX_END_ERROR;

	if (res != NULL && res->end == RAWX_END_RESET)
		code = "connection_reset";
	json_object_set_new(body, "target",
			    json_pack("{s:s, s:i}", "host", j->host, "port", (int)j->port));
	if (j->addrlen > 0) {
		char buf[NP_ADDR_TEXT_MAX], ip[INET6_ADDRSTRLEN];

		np_addr_format(&j->addr, buf, sizeof(buf), ip, sizeof(ip));
		json_object_set_new(body, "address", json_string(ip));
		json_object_set_new(body, "family",
				    json_string(j->addr.sa.sa_family == AF_INET ? "ipv4" : "ipv6"));
	}
	json_object_set_new(body, "status", json_string(st == NP_OK ? "ok" : "error"));
	if (st != NP_OK)
		json_object_set_new(body, "error", json_pack("{s:s, s:s}", "code", code, "message",
							     detail ? detail : np_strerror(st)));
	json_object_set_new(body, "sent",
			    json_pack("{s:I}", "bytes", (json_int_t)(res ? res->sent : 0)));
	if (j->udp) {
		json_t *list = json_array();

		for (size_t i = 0; res != NULL && i < res->ndgrams; i++) {
			const struct rawx_dgram *d = &res->dgrams[i];
			json_t *one = body_bytes_json(res->buf + d->off, d->len,
						       d->full_len > d->len);

			json_object_set_new(one, "rtt_ms",
					    json_real(np_ms_between(res->start_us, d->at_us)));
			json_array_append_new(list, one);
		}
		json_object_set_new(body, "datagrams", list);
	} else {
		json_object_set_new(body, "received",
				    body_bytes_json(res ? res->buf : NULL, res ? res->len : 0,
						    res && res->truncated));
	}
	json_object_set_new(body, "ended_by", json_string(rawx_end_text(end)));
	json_object_set_new(timing, "resolve_ms",
			    json_real(np_ms_between(j->start_us, j->resolved_us ? j->resolved_us
										: end_us)));
	if (!j->udp && res != NULL && res->connect_us != 0)
		json_object_set_new(timing, "connect_ms",
				    json_real(np_ms_between(j->start_us, res->connect_us)));
	if (res != NULL && res->first_us != 0)
		json_object_set_new(timing, "first_byte_ms",
				    json_real(np_ms_between(j->start_us, res->first_us)));
	json_object_set_new(timing, "total_ms", json_real(np_ms_between(j->start_us, end_us)));
	json_object_set_new(body, "timing", timing);
	metrics_probe_done(worker_metrics(http_req_worker(j->req)), j->udp ? PROBE_UDP : PROBE_TCP,
			   code, np_ms_between(j->start_us, end_us) / 1000.0);
	http_reply_json(j->req, 200, body);
}

static void on_exchanged(const struct rawx_result *res, void *ud)
{
	struct rawx_job *j = ud;

	j->x = NULL;
	reply(j, res, res->status, res->detail);
	job_free(j);
}

/* Starts the exchange with j->addr: 0, or -1 with the request answered
 * and j freed. */
static int start_exchange(struct rawx_job *j)
{
	int rc;

	if (j->resolved_us == 0)
		j->resolved_us = np_now_us();
	j->o.data = j->data;
	rc = rawx_start(worker_loop(http_req_worker(j->req)), &j->addr.sa, j->addrlen, &j->o,
			on_exchanged, j, &j->x);
	if (rc != NP_OK) {
		http_reply_problem(j->req, 503, NULL, "cannot start the exchange: %s",
				   np_strerror((enum np_status)rc));
		job_free(j);
		return -1;
	}
	return 0;
}

static void on_resolved(enum np_status st, const char *detail,
			const struct sockaddr_storage *addrs, size_t n, void *ud)
{
	struct rawx_job *j = ud;

	j->op = NULL;
	j->resolved_us = np_now_us();
	if (st != NP_OK || n == 0) {
		/* Nothing to connect to: a finding, not a request error. */
		reply(j, NULL, st == NP_OK ? NP_ENOTFOUND : st,
		      detail ? detail : "the name has no addresses");
		job_free(j);
		return;
	}
	{
		char why[256];

		if (target_pick(http_req_worker(j->req), addrs, n, j->port, &j->addr, &j->addrlen,
				why, sizeof(why)) != NP_OK) {
			http_reply_problem(j->req, 403, "host", "%s", why);
			job_free(j);
			return;
		}
	}
	if (j->resolved_us >= j->o.deadline_us) {
		reply(j, NULL, NP_ETIMEOUT, "the name was resolved, but no time was left");
		job_free(j);
		return;
	}
	(void)start_exchange(j);
}

/* ---- the request body ---- */

/* data or data_base64 into j->data / j->o.len; 0, or -1 answered. */
static int read_data(struct http_req *r, json_t *body, struct rawx_job *j)
{
	json_t *text = json_object_get(body, "data");
	json_t *b64 = json_object_get(body, "data_base64");

	if (text != NULL && b64 != NULL) {
		http_reply_problem(r, 400, "data_base64", "give data or data_base64, not both");
		return -1;
	}
	if (text != NULL) {
		if (!json_is_string(text)) {
			http_reply_problem(r, 400, "data", "data must be a string");
			return -1;
		}
		j->o.len = json_string_length(text);
		j->data = malloc(j->o.len + 1);
		if (j->data == NULL)
			goto oom;
		memcpy(j->data, json_string_value(text), j->o.len);
	} else if (b64 != NULL) {
		const char *s;
		long n;

		if (!json_is_string(b64)) {
			http_reply_problem(r, 400, "data_base64", "data_base64 must be a string");
			return -1;
		}
		s = json_string_value(b64);
		j->data = malloc(base64_decoded_max(json_string_length(b64)) + 1);
		if (j->data == NULL)
			goto oom;
		n = base64_decode(s, json_string_length(b64), j->data);
		if (n < 0) {
			http_reply_problem(r, 400, "data_base64",
					   "data_base64 is not base64 (RFC 4648 section 4)");
			return -1;
		}
		j->o.len = (size_t)n;
	}
	return 0;
oom:
	http_reply_problem(r, 503, NULL, "out of memory");
	return -1;
}

/* The body's fields, per protocol. */
static const char *const tcp_fields[] = {"host", "port", "data", "data_base64", "timeout_ms",
					 "max_bytes", "idle_ms", "half_close"};
static const char *const udp_fields[] = {"host", "port", "data", "data_base64", "timeout_ms",
					 "max_bytes", "max_datagrams"};

/* host: 1 an address literal (in j->addr), 0 a name, -1 answered. */
static int read_host(struct http_req *r, json_t *body, struct rawx_job *j)
{
	json_t *v = json_object_get(body, "host");
	const char *h = json_string_value(v); /* NULL unless a string */

	if (h != NULL && strlen(h) != json_string_length(v)) {
		http_reply_problem(r, 400, "host", "host is not an address or a host name");
		return -1;
	}
	if (h != NULL)
		snprintf(j->host, sizeof(j->host), "%s", h);
	return target_parse(r, "host", h, j->port, &j->addr, &j->addrlen);
}

static void handle_rawx(struct http_req *r, int udp)
{
	const struct config *c = worker_config(http_req_worker(r));
	json_t *body = http_req_json_body(r);
	struct rawx_job *j;
	unsigned long port = 0, timeout = c->default_timeout_ms, max_bytes = MAX_BYTES_DEFAULT;
	unsigned long idle = 0, dgrams = 1;
	json_t *hc;
	int literal;

	if (body == NULL)
		return; /* answered */
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		json_decref(body);
		http_reply_problem(r, 503, NULL, "out of memory");
		return;
	}
	j->req = r;
	j->udp = udp;
	j->start_us = np_now_us();
	if (udp ? body_fields_known(r, body, udp_fields, NP_ARRAY_LEN(udp_fields)) != 0
		: body_fields_known(r, body, tcp_fields, NP_ARRAY_LEN(tcp_fields)) != 0)
		goto answered;
	if (json_object_get(body, "port") == NULL) {
		http_reply_problem(r, 400, "port", "port (1 to 65535) is required");
		goto answered;
	}
	if (body_field_uint(r, body, "port", 1, 65535, &port) != 0 ||
	    body_field_uint(r, body, "timeout_ms", 1, c->max_timeout_ms, &timeout) != 0 ||
	    body_field_uint(r, body, "max_bytes", 1, MAX_BYTES_MAX, &max_bytes) != 0 ||
	    body_field_uint(r, body, "idle_ms", 1, timeout, &idle) != 0 ||
	    body_field_uint(r, body, "max_datagrams", 1, DATAGRAMS_MAX, &dgrams) != 0)
		goto answered;
	hc = json_object_get(body, "half_close");
	if (hc != NULL && !json_is_boolean(hc)) {
		http_reply_problem(r, 400, "half_close", "half_close must be true or false");
		goto answered;
	}
	j->port = (unsigned)port;
	literal = read_host(r, body, j);
	if (literal < 0 || read_data(r, body, j) != 0)
		goto answered;
	/* (hc points into body: read before it goes) */
	j->o.half_close = hc != NULL && json_is_true(hc);
	json_decref(body);
	body = NULL;
	j->o.udp = udp;
	j->o.deadline_us = j->start_us + (uint64_t)timeout * 1000u;
	j->o.max_bytes = (size_t)max_bytes;
	j->o.idle_ms = (unsigned)idle;
	j->o.max_datagrams = (unsigned)dgrams;
	if (literal) {
		j->resolved_us = j->start_us; /* nothing to resolve */
		if (target_check(r, "host", &j->addr.sa) != 0) {
			job_free(j);
			return;
		}
		if (start_exchange(j) == 0)
			http_req_on_cancel(r, on_cancel, j);
		return;
	}
	if (dns_resolve(worker_dns(http_req_worker(r)), j->host, (unsigned)timeout, on_resolved, j,
			&j->op) != NP_OK) {
		http_reply_problem(r, 503, NULL, "cannot start resolving the name");
		job_free(j);
		return;
	}
	http_req_on_cancel(r, on_cancel, j);
	return;
answered:
	json_decref(body);
	job_free(j);
}

void handle_tcp(struct http_req *r)
{
	handle_rawx(r, 0);
}

void handle_udp(struct http_req *r)
{
	handle_rawx(r, 1);
}
