/*
 * handlers/fetch.c - GET /fetch and POST /fetch: an HTTP or HTTPS request
 * (the seed's HTTP and HTTPS requests), with timing phases, TLS details,
 * and redirects followed here, hop by hop: each hop's host is resolved
 * through the worker's DNS module and every address checked against the
 * target policy before anything connects (service/fetch.c then pins the
 * address). The first hop's denial is a 403; a redirect to a denied
 * address ends the fetch with a finding.
 */
#define _GNU_SOURCE /* strptime, timegm */
#include "handlers.h"
#include "base64.h"
#include "body_fields.h"
#include "config.h"
#include "dns.h"
#include "dns_wire.h"
#include "fetch.h"
#include "http.h"
#include "metrics.h"
#include "netaddr.h"
#include "np.h"
#include "target.h"
#include "worker.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define URL_MAX 4096
#define FOLLOW_MAX 10
#define BODY_DEFAULT (1u << 20)
#define BODY_MAX (16u << 20)
#define REQ_HEADERS_MAX 64

struct hop {
	char *url;
	long status_code;
	char *location;
};

/* What a hop's URL says about where to connect. */
struct url_parts {
	char host[TARGET_HOST_MAX + 1]; /* as in the URL (IPv6 in brackets) */
	unsigned port;
	int https;
};

struct fetch_job {
	struct http_req *req;
	struct dns_op *op;
	struct fetch *fx;
	char method[16];
	char *url;                /* the current hop's */
	struct url_parts u;       /* its parts */
	int host_is_name;         /* u.host was resolved (not an address) */
	char *headers[REQ_HEADERS_MAX + 1]; /* "Name: value" */
	unsigned char *body;
	size_t body_len;
	unsigned follow;
	size_t max_body;
	int http2, insecure;
	uint64_t start_us, deadline_us, hop_start_us, resolve_us;
	union np_sockaddr addr;
	socklen_t addrlen;
	struct hop hops[FOLLOW_MAX];
	unsigned nhops;
	char *first_url;
};

static void job_free(struct fetch_job *j)
{
	for (unsigned i = 0; i < j->nhops; i++) {
		free(j->hops[i].url);
		free(j->hops[i].location);
	}
	for (unsigned i = 0; j->headers[i] != NULL; i++)
		free(j->headers[i]);
	free(j->body);
	free(j->url);
	free(j->first_url);
	free(j);
}

static void on_cancel(void *ud)
{
	struct fetch_job *j = ud;

	dns_op_cancel(j->op);
	fetch_cancel(j->fx);
	job_free(j);
}

static double ms(int64_t us)
{
	return us > 0 ? (double)us / 1000.0 : 0.0;
}

/* Days from now to an OpenSSL date text ("Jan  2 03:04:05 2027 GMT"). */
static json_t *days_left(const char *when)
{
	struct tm tm;
	time_t t;

	if (when == NULL)
		return NULL;
	memset(&tm, 0, sizeof(tm));
	if (strptime(when, "%b %d %H:%M:%S %Y GMT", &tm) == NULL)
		return NULL;
	t = timegm(&tm);
	return json_integer((json_int_t)((t - time(NULL)) / 86400));
}

static json_t *san_list(const char *san)
{
	json_t *a = json_array();

	while (san != NULL && *san != '\0') {
		const char *comma = strchr(san, ',');
		size_t n = comma != NULL ? (size_t)(comma - san) : strlen(san);

		while (n > 0 && *san == ' ') {
			san++;
			n--;
		}
		if (n > 0)
			json_array_append_new(a, json_stringn(san, n));
		san = comma != NULL ? comma + 1 : NULL;
	}
	return a;
}

static void reply(struct fetch_job *j, const struct fetch_result *res, enum np_status st,
		  const char *detail)
{
	json_t *body = json_object();
	json_t *timing = json_object();
	json_t *redirects = json_array();
	const char *code = st == NP_OK ? "ok" : np_status_code(st);
	uint64_t end_us = np_now_us();
	int64_t base = (int64_t)(j->hop_start_us - j->start_us);

	json_object_set_new(body, "url", json_string(j->first_url));
	json_object_set_new(body, "final_url", json_string(j->url));
	if (j->addrlen > 0) {
		char buf[NP_ADDR_TEXT_MAX], ip[INET6_ADDRSTRLEN];

		np_addr_format(&j->addr, buf, sizeof(buf), ip, sizeof(ip));
		json_object_set_new(body, "address", json_string(ip));
	}
	json_object_set_new(body, "status", json_string(st == NP_OK ? "ok" : "error"));
	if (st != NP_OK)
		json_object_set_new(body, "error", json_pack("{s:s, s:s}", "code", code, "message",
							     detail ? detail : np_strerror(st)));
	if (res != NULL && res->status_code > 0) {
		json_t *hdrs = json_array();

		json_object_set_new(body, "status_code", json_integer(res->status_code));
		json_object_set_new(body, "http_version", json_string(res->http_version));
		for (size_t i = 0; i < res->nheaders; i++)
			json_array_append_new(hdrs, json_pack("[s, s]", res->headers[i].name,
							      res->headers[i].value));
		json_object_set_new(body, "headers", hdrs);
		json_object_set_new(body, "body",
				    body_bytes_json(res->body, res->body_len, res->body_truncated));
	}
	for (unsigned i = 0; i < j->nhops; i++)
		json_array_append_new(redirects, json_pack("{s:s, s:i, s:s}", "url", j->hops[i].url,
							   "status_code", (int)j->hops[i].status_code,
							   "location", j->hops[i].location));
	json_object_set_new(body, "redirects", redirects);
	if (res != NULL && j->u.https && res->tls_version != NULL) {
		json_t *tls = json_object();
		json_t *cert = json_object();

		json_object_set_new(tls, "version", json_string(res->tls_version));
		if (res->tls_cipher != NULL)
			json_object_set_new(tls, "cipher", json_string(res->tls_cipher));
		json_object_set_new(tls, "verified", json_boolean(res->verified));
		if (!res->verified && res->verify_error != NULL)
			json_object_set_new(tls, "verify_error", json_string(res->verify_error));
		if (res->cert_subject != NULL)
			json_object_set_new(cert, "subject", json_string(res->cert_subject));
		if (res->cert_issuer != NULL)
			json_object_set_new(cert, "issuer", json_string(res->cert_issuer));
		if (res->cert_not_before != NULL)
			json_object_set_new(cert, "not_before", json_string(res->cert_not_before));
		if (res->cert_not_after != NULL) {
			json_t *d = days_left(res->cert_not_after);

			json_object_set_new(cert, "not_after", json_string(res->cert_not_after));
			if (d != NULL)
				json_object_set_new(cert, "days_left", d);
		}
		json_object_set_new(cert, "san", san_list(res->cert_san));
		json_object_set_new(tls, "certificate", cert);
		json_object_set_new(body, "tls", tls);
	}
	json_object_set_new(timing, "resolve_ms", json_real(ms((int64_t)j->resolve_us)));
	if (res != NULL && res->connect_us > 0)
		json_object_set_new(timing, "connect_ms", json_real(ms(base + res->connect_us)));
	if (res != NULL && j->u.https && res->tls_us > 0)
		json_object_set_new(timing, "tls_ms", json_real(ms(base + res->tls_us)));
	if (res != NULL && res->ttfb_us > 0 && res->status_code > 0)
		json_object_set_new(timing, "ttfb_ms", json_real(ms(base + res->ttfb_us)));
	json_object_set_new(timing, "total_ms",
			    json_real(ms((int64_t)(end_us - j->start_us))));
	json_object_set_new(body, "timing", timing);
	metrics_probe_done(worker_metrics(http_req_worker(j->req)), PROBE_FETCH, code,
			   (double)(end_us - j->start_us) / 1e6);
	http_reply_json(j->req, 200, body);
}

/* ---- URLs ---- */

/* Parses url into *p; NULL, or why it is refused. */
static const char *url_parse(const char *url, struct url_parts *p)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL;
	const char *why = NULL;

	if (u == NULL)
		return "out of memory";
	if (strlen(url) > URL_MAX)
		why = "the URL is longer than 4096 characters";
	else if (strstr(url, ":///") != NULL && strstr(url, ":///") == strstr(url, ":"))
		why = "the URL has no host";
	else if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		why = "not an absolute http:// or https:// URL";
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		 (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		why = "only http:// and https:// URLs are fetched";
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
		why = "credentials in the URL are not accepted (use an Authorization header)";
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0' ||
		 strlen(host) >= sizeof(p->host))
		why = "the URL has no host";
	else if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		why = "the URL's port is not valid";
	if (why == NULL) {
		snprintf(p->host, sizeof(p->host), "%s", host);
		p->port = (unsigned)strtoul(port, NULL, 10);
		p->https = strcmp(scheme, "https") == 0;
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(user);
	curl_url_cleanup(u);
	return why;
}

/* ---- hops ---- */

static void start_hop(struct fetch_job *j);

static void on_fetched(const struct fetch_result *res, void *ud)
{
	struct fetch_job *j = ud;
	struct url_parts next_parts;
	char *next;

	j->fx = NULL;
	if (res->status != NP_OK || res->location == NULL || j->nhops >= j->follow) {
		reply(j, res, res->status, res->detail);
		job_free(j);
		return;
	}
	if (url_parse(res->location, &next_parts) != NULL) {
		/* somewhere we do not go (another scheme): the redirect is the answer */
		reply(j, res, NP_OK, NULL);
		job_free(j);
		return;
	}
	/* follow: record the hop, then the next URL */
	next = strdup(res->location);
	j->hops[j->nhops].url = j->url;
	j->hops[j->nhops].status_code = res->status_code;
	j->hops[j->nhops].location = strdup(res->location);
	j->url = NULL;
	j->nhops++;
	if (next == NULL || j->hops[j->nhops - 1].location == NULL) {
		free(next);
		j->url = strdup(j->hops[j->nhops - 1].url);
		reply(j, res, NP_ENOMEM, "out of memory");
		job_free(j);
		return;
	}
	j->url = next;
	j->u = next_parts;
	if (res->status_code == 303 ||
	    ((res->status_code == 301 || res->status_code == 302) && strcmp(j->method, "POST") == 0)) {
		if (strcmp(j->method, "HEAD") != 0)
			snprintf(j->method, sizeof(j->method), "GET");
		free(j->body);
		j->body = NULL;
		j->body_len = 0;
	}
	j->addrlen = 0;
	start_hop(j);
}

/* Connects the current hop to j->addr. */
static void connect_hop(struct fetch_job *j)
{
	struct fetch_opts o;
	const struct config *c = worker_config(http_req_worker(j->req));
	int rc;

	memset(&o, 0, sizeof(o));
	o.url = j->url;
	o.method = j->method;
	o.headers = (const char *const *)j->headers;
	o.body = j->body;
	o.body_len = j->body_len;
	o.host = j->host_is_name ? j->u.host : NULL;
	o.port = j->u.port;
	o.addr = &j->addr.sa;
	o.addrlen = j->addrlen;
	o.deadline_us = j->deadline_us;
	o.max_body = j->max_body;
	o.http2 = j->http2;
	o.insecure = j->insecure;
	o.ca_file = c->fetch_ca_file;
	j->hop_start_us = np_now_us();
	rc = fetch_start(worker_fetcher(http_req_worker(j->req)), &o, on_fetched, j, &j->fx);
	if (rc != NP_OK) {
		reply(j, NULL, (enum np_status)rc, "cannot start the request");
		job_free(j);
	}
}

/* A denied address: the first hop answers 403, a redirect's a finding. */
static void hop_denied(struct fetch_job *j, const char *why)
{
	char redirect[320];

	if (j->nhops == 0) {
		http_reply_problem(j->req, 403, "url", "%s", why);
		return;
	}
	snprintf(redirect, sizeof(redirect), "a redirect leads where %s", why);
	reply(j, NULL, NP_EDENIED, redirect);
}

static void on_resolved(enum np_status st, const char *detail,
			const struct sockaddr_storage *addrs, size_t n, void *ud)
{
	struct fetch_job *j = ud;

	j->op = NULL;
	j->resolve_us = np_now_us() - j->hop_start_us;
	if (st != NP_OK || n == 0) {
		reply(j, NULL, st == NP_OK ? NP_ENOTFOUND : st,
		      detail ? detail : "the name has no addresses");
		job_free(j);
		return;
	}
	{
		char why[256];

		if (target_pick(http_req_worker(j->req), addrs, n, j->u.port, &j->addr, &j->addrlen,
				why, sizeof(why)) != NP_OK) {
			hop_denied(j, why);
			job_free(j);
			return;
		}
	}
	connect_hop(j);
}

/* Resolves (or reads) the hop's host, checks it, connects. */
static void start_hop(struct fetch_job *j)
{
	char inner[TARGET_HOST_MAX + 1], why[256];
	size_t n = strlen(j->u.host);
	uint64_t now = np_now_us();

	j->hop_start_us = now;
	j->resolve_us = 0;
	if (j->u.host[0] == '[' && n > 2 && j->u.host[n - 1] == ']')
		snprintf(inner, sizeof(inner), "%.*s", (int)(n - 2), j->u.host + 1);
	else
		snprintf(inner, sizeof(inner), "%s", j->u.host);
	j->host_is_name = np_addr_make(inner, j->u.port, &j->addr, &j->addrlen) != 0;
	if (!j->host_is_name) {
		if (target_denied(http_req_worker(j->req), &j->addr.sa, why, sizeof(why))) {
			hop_denied(j, why);
			job_free(j);
			return;
		}
		connect_hop(j);
		return;
	}
	if (now >= j->deadline_us ||
	    dns_resolve(worker_dns(http_req_worker(j->req)), inner,
			(unsigned)((j->deadline_us - now) / 1000u) + 1, on_resolved, j, &j->op) != NP_OK) {
		reply(j, NULL, now >= j->deadline_us ? NP_ETIMEOUT : NP_ENOMEM,
		      "cannot start resolving the name");
		job_free(j);
	}
}

/* ---- reading the request ---- */

struct fetch_params {
	const char *url, *method, *http_version;
	unsigned long follow, timeout_ms, max_body;
	int insecure;
};

static int method_ok(const char *m)
{
	static const char *const ok[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};

	for (size_t i = 0; i < NP_ARRAY_LEN(ok); i++) {
		if (strcmp(m, ok[i]) == 0)
			return 1;
	}
	return 0;
}

static int header_name_ok(const char *n)
{
	if (*n == '\0')
		return 0;
	for (; *n; n++) {
		if (!isalnum((unsigned char)*n) && strchr("!#$%&'*+-.^_`|~", *n) == NULL)
			return 0;
	}
	return 1;
}

static int read_post(struct http_req *r, const struct config *c, json_t *body,
		     struct fetch_params *p, struct fetch_job *j)
{
	static const char *const known[] = {"url",     "method",  "headers",  "body",
					    "body_base64", "follow", "timeout_ms", "max_body_bytes",
					    "insecure", "http_version"};
	const char *key;
	json_t *v, *hdrs, *text, *b64;
	unsigned nh = 0;

	if (body_fields_known(r, body, known, NP_ARRAY_LEN(known)) != 0)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		static const char *const strs[] = {"url", "method", "http_version"};

		v = json_object_get(body, strs[i]);
		if (v != NULL && !json_is_string(v)) {
			http_reply_problem(r, 400, strs[i], "%s must be a string", strs[i]);
			return -1;
		}
	}
	p->url = json_string_value(json_object_get(body, "url"));
	if (json_object_get(body, "method") != NULL)
		p->method = json_string_value(json_object_get(body, "method"));
	p->http_version = json_string_value(json_object_get(body, "http_version"));
	v = json_object_get(body, "insecure");
	if (v != NULL && !json_is_boolean(v)) {
		http_reply_problem(r, 400, "insecure", "insecure must be true or false");
		return -1;
	}
	p->insecure = v != NULL && json_is_true(v);
	if (body_field_uint(r, body, "follow", 0, FOLLOW_MAX, &p->follow) != 0 ||
	    body_field_uint(r, body, "timeout_ms", 1, c->max_timeout_ms, &p->timeout_ms) != 0 ||
	    body_field_uint(r, body, "max_body_bytes", 0, BODY_MAX, &p->max_body) != 0)
		return -1;
	hdrs = json_object_get(body, "headers");
	if (hdrs != NULL && !json_is_object(hdrs)) {
		http_reply_problem(r, 400, "headers", "headers must be an object of names to values");
		return -1;
	}
	json_object_foreach(hdrs, key, v) {
		char param[96];
		const char *val;
		size_t len;

		snprintf(param, sizeof(param), "headers.%.80s", key);
		if (!header_name_ok(key) || !json_is_string(v) || nh == REQ_HEADERS_MAX ||
		    strpbrk(json_string_value(v), "\r\n") != NULL ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			http_reply_problem(r, 400, param,
					   "a header needs a token name and a one-line string value "
					   "(at most %d headers)", REQ_HEADERS_MAX);
			return -1;
		}
		val = json_string_value(v);
		len = strlen(key) + strlen(val) + 3;
		j->headers[nh] = malloc(len);
		if (j->headers[nh] == NULL) {
			http_reply_problem(r, 503, NULL, "out of memory");
			return -1;
		}
		/* "Name:" alone would remove the header; an empty value is "Name;" */
		if (val[0] == '\0')
			snprintf(j->headers[nh], len, "%s;", key);
		else
			snprintf(j->headers[nh], len, "%s: %s", key, val);
		nh++;
	}
	text = json_object_get(body, "body");
	b64 = json_object_get(body, "body_base64");
	if (text != NULL && b64 != NULL) {
		http_reply_problem(r, 400, "body_base64", "give body or body_base64, not both");
		return -1;
	}
	if (text != NULL || b64 != NULL) {
		json_t *s = text != NULL ? text : b64;
		const char *name = text != NULL ? "body" : "body_base64";
		size_t n;

		if (!json_is_string(s)) {
			http_reply_problem(r, 400, name, "%s must be a string", name);
			return -1;
		}
		n = json_string_length(s);
		j->body = malloc(base64_decoded_max(n) + n + 1);
		if (j->body == NULL) {
			http_reply_problem(r, 503, NULL, "out of memory");
			return -1;
		}
		if (text != NULL) {
			memcpy(j->body, json_string_value(s), n);
			j->body_len = n;
		} else {
			long got = base64_decode(json_string_value(s), n, j->body);

			if (got < 0) {
				http_reply_problem(r, 400, "body_base64",
						   "body_base64 is not base64 (RFC 4648 section 4)");
				return -1;
			}
			j->body_len = (size_t)got;
		}
	}
	return 0;
}

static int read_get(struct http_req *r, const struct config *c, struct fetch_params *p)
{
	p->url = http_req_query(r, "url");
	if (http_req_query(r, "method") != NULL)
		p->method = http_req_query(r, "method");
	p->http_version = http_req_query(r, "http_version");
	return http_query_uint(r, "follow", 0, 0, FOLLOW_MAX, &p->follow) != 0 ||
	       http_query_uint(r, "timeout_ms", c->default_timeout_ms, 1, c->max_timeout_ms,
			       &p->timeout_ms) != 0 ||
	       http_query_uint(r, "max_body_bytes", BODY_DEFAULT, 0, BODY_MAX, &p->max_body) != 0 ||
	       http_query_bool(r, "insecure", 0, &p->insecure) != 0
		       ? -1
		       : 0;
}

void handle_fetch(struct http_req *r)
{
	const struct config *c = worker_config(http_req_worker(r));
	int post = strcmp(http_req_method(r), "POST") == 0;
	json_t *body = NULL;
	struct fetch_params p;
	struct fetch_job *j;
	const char *why;

	memset(&p, 0, sizeof(p));
	p.method = "GET";
	p.timeout_ms = c->default_timeout_ms;
	p.max_body = BODY_DEFAULT;
	if (post && (body = http_req_json_body(r)) == NULL)
		return;
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		json_decref(body);
		http_reply_problem(r, 503, NULL, "out of memory");
		return;
	}
	j->req = r;
	j->start_us = np_now_us();
	if ((post ? read_post(r, c, body, &p, j) : read_get(r, c, &p)) != 0)
		goto answered;
	if (p.url == NULL || p.url[0] == '\0') {
		http_reply_problem(r, 400, "url", "url (http:// or https://) is required");
		goto answered;
	}
	if ((why = url_parse(p.url, &j->u)) != NULL) {
		http_reply_problem(r, 400, "url", "%s", why);
		goto answered;
	}
	if (!method_ok(p.method)) {
		http_reply_problem(r, 400, "method",
				   "method must be GET, HEAD, POST, PUT, DELETE, PATCH or OPTIONS");
		goto answered;
	}
	if (p.http_version != NULL && strcmp(p.http_version, "1.1") != 0 &&
	    strcmp(p.http_version, "2") != 0) {
		http_reply_problem(r, 400, "http_version", "http_version must be \"1.1\" or \"2\"");
		goto answered;
	}
	snprintf(j->method, sizeof(j->method), "%s", p.method);
	j->url = strdup(p.url);
	j->first_url = strdup(p.url);
	if (j->url == NULL || j->first_url == NULL) {
		http_reply_problem(r, 503, NULL, "out of memory");
		goto answered;
	}
	/* (p's strings point into body: read them before it goes) */
	j->http2 = p.http_version != NULL && strcmp(p.http_version, "2") == 0;
	json_decref(body);
	body = NULL;
	p.url = p.method = p.http_version = NULL;
	j->follow = (unsigned)p.follow;
	j->max_body = p.max_body;
	j->insecure = p.insecure;
	j->deadline_us = j->start_us + (uint64_t)p.timeout_ms * 1000u;
	http_req_on_cancel(r, on_cancel, j);
	start_hop(j);
	return;
answered:
	json_decref(body);
	job_free(j);
}
