/*
 * handlers/scan.c - GET /scan and POST /scan: a TCP connect scan of one
 * host (the seed's threaded port scan). GET takes query parameters, POST
 * the same fields in a JSON object (`ports` may then be an array of
 * numbers and "a-b" strings). The host is resolved and checked against
 * the target policy as for POST /tcp (handlers/rawx.c); the scan itself is
 * service/scan.c, bounded by the request's own deadline.
 */
#include "handlers.h"
#include "body_fields.h"
#include "config.h"
#include "dns.h"
#include "http.h"
#include "metrics.h"
#include "netaddr.h"
#include "np.h"
#include "portlist.h"
#include "scan.h"
#include "services.h"
#include "target.h"
#include "worker.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_DEFAULT_MS 1000u
#define CONCURRENCY_DEFAULT 100u
#define BANNER_DEFAULT_MS 500u
#define BANNER_MAX_MS 5000u
#define PORTS 65536u

struct scan_job {
	struct http_req *req;
	struct dns_op *op;
	struct scan *scan;
	struct scan_opts o;
	uint16_t *ports;
	char host[TARGET_HOST_MAX + 1];
	uint64_t start_us, resolved_us;
	union np_sockaddr addr;
	socklen_t addrlen;
};

static void job_free(struct scan_job *j)
{
	free(j->ports);
	free(j);
}

static void on_cancel(void *ud)
{
	struct scan_job *j = ud;

	dns_op_cancel(j->op);
	scan_cancel(j->scan);
	job_free(j);
}
static void reply(struct scan_job *j, const struct scan_result *res, enum np_status st,
		  const char *detail)
{
	json_t *body = json_object();
	json_t *open = json_array();
	uint64_t end_us = res != NULL ? res->end_us : np_now_us();
	size_t unscanned = res != NULL ? res->unscanned : j->o.nports;
	const char *code = st == NP_OK ? "ok" : np_status_code(st);

	json_object_set_new(body, "target", json_pack("{s:s}", "host", j->host));
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
	json_object_set_new(body, "ports_requested", json_integer((json_int_t)j->o.nports));
	json_object_set_new(body, "complete", json_boolean(st == NP_OK && unscanned == 0));
	for (size_t i = 0; res != NULL && i < res->nopen; i++) {
		const struct scan_open *o = &res->open[i];
		json_t *one = json_pack("{s:i}", "port", (int)o->port);
		const char *name = services_tcp_name(o->port);

		if (name != NULL)
			json_object_set_new(one, "service", json_string(name));
		json_object_set_new(one, "rtt_ms", json_real((double)o->rtt_us / 1000.0));
		if (j->o.banner)
			json_object_set_new(one, "banner",
					    body_bytes_json(o->banner, o->banner_len,
							    o->banner_truncated));
		json_array_append_new(open, one);
	}
	json_object_set_new(body, "open", open);
	json_object_set_new(body, "closed", json_integer((json_int_t)(res ? res->closed : 0)));
	json_object_set_new(body, "filtered", json_integer((json_int_t)(res ? res->filtered : 0)));
	json_object_set_new(body, "unscanned", json_integer((json_int_t)unscanned));
	json_object_set_new(body, "timing",
			    json_pack("{s:f, s:f}", "resolve_ms",
				      np_ms_between(j->start_us, j->resolved_us ? j->resolved_us : end_us),
				      "total_ms", np_ms_between(j->start_us, end_us)));
	metrics_probe_done(worker_metrics(http_req_worker(j->req)), PROBE_SCAN, code,
			   np_ms_between(j->start_us, end_us) / 1000.0);
	http_reply_json(j->req, 200, body);
}

static void on_scanned(const struct scan_result *res, void *ud)
{
	struct scan_job *j = ud;

	j->scan = NULL;
	reply(j, res, res->status, res->detail);
	job_free(j);
}

/* Starts the scan of j->addr: 0, or -1 with the request answered and j freed. */
static int start_scan(struct scan_job *j)
{
	int rc;

	j->o.ports = j->ports;
	rc = scan_start(worker_loop(http_req_worker(j->req)), &j->addr.sa, j->addrlen, &j->o,
			on_scanned, j, &j->scan);
	if (rc != NP_OK) {
		http_reply_problem(j->req, 503, NULL, "cannot start the scan: %s",
				   np_strerror((enum np_status)rc));
		job_free(j);
		return -1;
	}
	return 0;
}

static void on_resolved(enum np_status st, const char *detail,
			const struct sockaddr_storage *addrs, size_t n, void *ud)
{
	struct scan_job *j = ud;

	j->op = NULL;
	j->resolved_us = np_now_us();
	if (st != NP_OK || n == 0) {
		reply(j, NULL, st == NP_OK ? NP_ENOTFOUND : st,
		      detail ? detail : "the name has no addresses");
		job_free(j);
		return;
	}
	{
		char why[256];

		if (target_pick(http_req_worker(j->req), addrs, n, 0, &j->addr, &j->addrlen, why,
				sizeof(why)) != NP_OK) {
			http_reply_problem(j->req, 403, "host", "%s", why);
			job_free(j);
			return;
		}
	}
	(void)start_scan(j);
}

/* ---- reading the request ---- */

/* The set as an ascending list in j; 0, or -1 with the request answered. */
static int take_ports(struct http_req *r, const unsigned char *set, unsigned max,
		      struct scan_job *j)
{
	size_t n = portlist_count(set);

	if (n > max) {
		http_reply_problem(r, 400, "ports", "%zu ports: at most %u in one scan (--scan-max-ports)",
				   n, max);
		return -1;
	}
	j->ports = malloc(n * sizeof(*j->ports));
	if (j->ports == NULL) {
		http_reply_problem(r, 503, NULL, "out of memory");
		return -1;
	}
	n = 0;
	for (unsigned p = 1; p < PORTS; p++) {
		if (portlist_has(set, p))
			j->ports[n++] = (uint16_t)p;
	}
	j->o.nports = n;
	return 0;
}

#define PORTS_HELP "ports: a list like 22,80,8000-8100 (1 to 65535)"

struct scan_params {
	const char *host;
	unsigned long timeout_ms, concurrency, banner_ms;
	int banner;
};

static int read_get(struct http_req *r, const struct config *c, unsigned char *set,
		    struct scan_params *p)
{
	const char *ports = http_req_query(r, "ports");

	p->host = http_req_query(r, "host");
	if (ports == NULL || ports[0] == '\0') {
		http_reply_problem(r, 400, "ports", "ports is required; " PORTS_HELP);
		return -1;
	}
	if (portlist_add_list(ports, set) != 0) {
		http_reply_problem(r, 400, "ports", "'%.64s' is not a port list; " PORTS_HELP, ports);
		return -1;
	}
	if (http_query_uint(r, "timeout_ms", TIMEOUT_DEFAULT_MS, 1, c->max_timeout_ms,
			    &p->timeout_ms) != 0 ||
	    http_query_uint(r, "concurrency", CONCURRENCY_DEFAULT, 1, c->scan_concurrency_max,
			    &p->concurrency) != 0 ||
	    http_query_bool(r, "banner", 0, &p->banner) != 0 ||
	    http_query_uint(r, "banner_ms", BANNER_DEFAULT_MS, 1, BANNER_MAX_MS, &p->banner_ms) != 0)
		return -1;
	return 0;
}

static int read_post(struct http_req *r, const struct config *c, json_t *body,
		     unsigned char *set, struct scan_params *p)
{
	static const char *const known[] = {"host",   "ports",  "timeout_ms",
					    "concurrency", "banner", "banner_ms"};
	json_t *ports = json_object_get(body, "ports");
	json_t *v;

	if (body_fields_known(r, body, known, NP_ARRAY_LEN(known)) != 0)
		return -1;
	v = json_object_get(body, "host");
	if (v != NULL && !json_is_string(v)) {
		http_reply_problem(r, 400, "host", "host (an address or a host name) must be a string");
		return -1;
	}
	p->host = v != NULL ? json_string_value(v) : NULL;
	if (ports == NULL || (json_is_string(ports) && json_string_length(ports) == 0) ||
	    (json_is_array(ports) && json_array_size(ports) == 0)) {
		http_reply_problem(r, 400, "ports", "ports is required; " PORTS_HELP);
		return -1;
	}
	if (json_is_string(ports)) {
		if (portlist_add_list(json_string_value(ports), set) != 0)
			goto bad_ports;
	} else if (json_is_array(ports)) {
		size_t i;

		json_array_foreach(ports, i, v) {
			char item[16];

			if (json_is_integer(v) && json_integer_value(v) >= 1 &&
			    json_integer_value(v) < (json_int_t)PORTS) {
				snprintf(item, sizeof(item), "%lld", (long long)json_integer_value(v));
			} else if (!json_is_string(v) || json_string_length(v) >= sizeof(item) ||
				   strchr(json_string_value(v), ',') != NULL) {
				goto bad_ports;
			} else {
				snprintf(item, sizeof(item), "%s", json_string_value(v));
			}
			if (portlist_add_item(item, strlen(item), set) != 0)
				goto bad_ports;
		}
	} else {
		goto bad_ports;
	}
	v = json_object_get(body, "banner");
	if (v != NULL && !json_is_boolean(v)) {
		http_reply_problem(r, 400, "banner", "banner must be true or false");
		return -1;
	}
	p->banner = v != NULL && json_is_true(v);
	p->timeout_ms = TIMEOUT_DEFAULT_MS;
	p->concurrency = CONCURRENCY_DEFAULT;
	p->banner_ms = BANNER_DEFAULT_MS;
	if (body_field_uint(r, body, "timeout_ms", 1, c->max_timeout_ms, &p->timeout_ms) != 0 ||
	    body_field_uint(r, body, "concurrency", 1, c->scan_concurrency_max,
			    &p->concurrency) != 0 ||
	    body_field_uint(r, body, "banner_ms", 1, BANNER_MAX_MS, &p->banner_ms) != 0)
		return -1;
	return 0;
bad_ports:
	http_reply_problem(r, 400, "ports",
			   "ports must be a string like \"22,80,8000-8100\" or an array of "
			   "ports (1 to 65535) and \"a-b\" ranges");
	return -1;
}

void handle_scan(struct http_req *r)
{
	const struct config *c = worker_config(http_req_worker(r));
	int post = strcmp(http_req_method(r), "POST") == 0;
	json_t *body = NULL;
	unsigned char *set = NULL;
	struct scan_params p;
	struct scan_job *j = NULL;
	int literal;
	unsigned budget;

	memset(&p, 0, sizeof(p));
	if (post && (body = http_req_json_body(r)) == NULL)
		return; /* answered */
	set = calloc(PORTLIST_SET_BYTES, 1);
	j = calloc(1, sizeof(*j));
	if (set == NULL || j == NULL) {
		http_reply_problem(r, 503, NULL, "out of memory");
		goto answered;
	}
	j->req = r;
	j->start_us = np_now_us();
	if ((post ? read_post(r, c, body, set, &p) : read_get(r, c, set, &p)) != 0)
		goto answered;
	if (p.host != NULL)
		snprintf(j->host, sizeof(j->host), "%s", p.host);
	literal = target_parse(r, "host", p.host, 0, &j->addr, &j->addrlen);
	if (literal < 0 || take_ports(r, set, c->scan_max_ports, j) != 0)
		goto answered;
	free(set);
	set = NULL;
	json_decref(body);
	body = NULL;
	/* The scan ends before the request's own deadline, with what it has. */
	budget = http_req_remaining_ms(r);
	budget = budget > 200 ? budget - 200 : budget / 2;
	j->o.timeout_ms = (unsigned)p.timeout_ms;
	j->o.concurrency = (unsigned)p.concurrency;
	j->o.banner = p.banner;
	j->o.banner_ms = (unsigned)p.banner_ms;
	j->o.deadline_us = j->start_us + (uint64_t)budget * 1000u;
	if (literal) {
		j->resolved_us = j->start_us;
		if (target_check(r, "host", &j->addr.sa) != 0) {
			job_free(j);
			return;
		}
		if (start_scan(j) == 0)
			http_req_on_cancel(r, on_cancel, j);
		return;
	}
	if (dns_resolve(worker_dns(http_req_worker(r)), j->host, c->default_timeout_ms, on_resolved,
			j, &j->op) != NP_OK) {
		http_reply_problem(r, 503, NULL, "cannot start resolving the name");
		job_free(j);
		return;
	}
	http_req_on_cancel(r, on_cancel, j);
	return;
answered:
	json_decref(body);
	free(set);
	if (j != NULL)
		job_free(j);
}
