/*
 * dns_lookup.c - parameters, groups of concurrent queries, and JSON for
 * the DNS handlers (GET/POST /dns, /rdns).
 */
#include "dns_lookup.h"
#include "config.h"
#include "http.h"
#include "loop.h"
#include "policy.h"
#include "worker.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRIES_MAX 5

/* ---- reading parameters ---- */

/*
 * A parameter as text, from the query string or the JSON object. JSON
 * numbers and booleans are turned into their text so that both sources go
 * through the same checks. Returns NULL when absent; -1 in *bad when the
 * JSON value has a type no parameter takes.
 */
static const char *param(const struct dns_params *p, const char *key, char *buf, size_t len,
			 int *bad)
{
	json_t *v;

	*bad = 0;
	if (p->json == NULL)
		return http_req_query(p->req, key);
	v = json_object_get(p->json, key);
	if (v == NULL || json_is_null(v))
		return NULL;
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	if (json_is_boolean(v)) {
		snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
		return buf;
	}
	*bad = 1;
	return NULL;
}

static void bad_param(struct http_req *r, const struct dns_params *p, const char *key,
		      const char *why)
{
	char name[96];

	snprintf(name, sizeof(name), "%s%s", p->prefix, key);
	http_reply_problem(r, 400, name, "%s", why);
}

static int read_text(struct http_req *r, const struct dns_params *p, const char *key,
		     const char **out)
{
	char buf[32];
	int bad;

	*out = param(p, key, buf, sizeof(buf), &bad);
	if (bad || (*out != NULL && p->json != NULL && !json_is_string(json_object_get(p->json, key)))) {
		bad_param(r, p, key, "must be a string");
		return -1;
	}
	return 0;
}

static int read_bool(struct http_req *r, const struct dns_params *p, const char *key, int def,
		     int *out)
{
	static const char *const yes[] = {"", "1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	char buf[32];
	int bad;
	const char *v = param(p, key, buf, sizeof(buf), &bad);

	*out = def;
	if (bad) {
		bad_param(r, p, key, "must be a boolean");
		return -1;
	}
	if (v == NULL)
		return 0;
	for (size_t i = 0; i < NP_ARRAY_LEN(yes); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
	}
	for (size_t i = 0; i < NP_ARRAY_LEN(no); i++) {
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	bad_param(r, p, key, "must be a boolean (true/false/1/0)");
	return -1;
}

static int read_uint(struct http_req *r, const struct dns_params *p, const char *key,
		     unsigned def, unsigned min, unsigned max, unsigned *out)
{
	char buf[32], why[128];
	int bad;
	const char *v = param(p, key, buf, sizeof(buf), &bad);
	char *end = NULL;
	unsigned long long n;

	*out = def;
	if (bad) {
		bad_param(r, p, key, "must be an integer");
		return -1;
	}
	if (v == NULL)
		return 0;
	errno = 0;
	n = isdigit((unsigned char)v[0]) ? strtoull(v, &end, 10) : 0;
	if (!isdigit((unsigned char)v[0]) || errno != 0 || *end != '\0') {
		snprintf(why, sizeof(why), "'%.40s' is not a non-negative integer", v);
		bad_param(r, p, key, why);
		return -1;
	}
	if (n < min || n > max) {
		snprintf(why, sizeof(why), "%llu is out of range [%u, %u]", n, min, max);
		bad_param(r, p, key, why);
		return -1;
	}
	*out = (unsigned)n;
	return 0;
}

/* Accepts a mnemonic, "TYPEn" or a bare number. */
static int parse_code(const char *v, int (*from_text)(const char *, uint16_t *), uint16_t *out)
{
	if (isdigit((unsigned char)v[0])) {
		char *end;
		unsigned long n;

		errno = 0;
		n = strtoul(v, &end, 10);
		if (errno != 0 || *end != '\0' || n > 65535)
			return -1;
		*out = (uint16_t)n;
		return 0;
	}
	return from_text(v, out) == NP_OK ? 0 : -1;
}

int dns_server_check(struct http_req *r, const char *param_name, const char *text, char *canon,
		     size_t canonlen)
{
	struct sockaddr_storage ss;
	struct policy_decision d;
	char why[200];

	if (dns_server_parse(text, &ss, canon, canonlen, why, sizeof(why)) != NP_OK) {
		http_reply_problem(r, 400, param_name, "%s", why);
		return -1;
	}
	policy_check(worker_policy(http_req_worker(r)), (const struct sockaddr *)&ss, &d);
	if (d.verdict == POLICY_DENY) {
		http_reply_problem(r, 403, param_name,
				   "the target policy denies %s (rule %s: %s)", canon, d.rule,
				   d.reason);
		return -1;
	}
	return 0;
}

int dns_lookup_read(struct http_req *r, const struct dns_params *p,
		    const struct dns_lookup *defaults, int need_name, struct dns_lookup *q)
{
	const struct config *c = worker_config(http_req_worker(r));
	const char *name, *type, *cls, *server, *transport;
	char why[160];
	int rd, cd, ad, dnssec, edns;
	size_t n;

	if (defaults != NULL) {
		*q = *defaults;
	} else {
		memset(q, 0, sizeof(*q));
		q->qtype = DNS_T_A;
		q->qclass = DNS_C_IN;
		q->flags = DNS_Q_RD;
		q->edns = 1;
		q->timeout_ms = c->default_timeout_ms;
		q->tries = 2;
	}
	if (read_text(r, p, "name", &name) || read_text(r, p, "type", &type) ||
	    read_text(r, p, "class", &cls) || read_text(r, p, "server", &server) ||
	    read_text(r, p, "transport", &transport))
		return -1;
	if (need_name) {
		if (name == NULL || name[0] == '\0') {
			bad_param(r, p, "name", "a name to look up is required");
			return -1;
		}
		if (dns_name_validate(name, why, sizeof(why)) != NP_OK) {
			bad_param(r, p, "name", why);
			return -1;
		}
		n = strlen(name);
		snprintf(q->name, sizeof(q->name), "%s%s", name,
			 (n > 0 && name[n - 1] == '.') ? "" : ".");
	}
	if (type != NULL && parse_code(type, dns_type_from_text, &q->qtype) != 0) {
		snprintf(why, sizeof(why),
			 "'%.40s' is not a record type (a name like MX, TYPE65400, or a number)",
			 type);
		bad_param(r, p, "type", why);
		return -1;
	}
	if (q->qtype == DNS_T_OPT || q->qtype == DNS_T_AXFR || q->qtype == DNS_T_IXFR) {
		bad_param(r, p, "type", "OPT, AXFR and IXFR cannot be asked this way");
		return -1;
	}
	if (cls != NULL && parse_code(cls, dns_class_from_text, &q->qclass) != 0) {
		snprintf(why, sizeof(why), "'%.40s' is not a class (IN, CH, HS, CLASSn)", cls);
		bad_param(r, p, "class", why);
		return -1;
	}
	if (server != NULL && server[0] != '\0') {
		char pname[96];

		snprintf(pname, sizeof(pname), "%sserver", p->prefix);
		if (dns_server_check(r, pname, server, q->server, sizeof(q->server)) != 0)
			return -1;
	}
	if (transport != NULL) {
		if (strcasecmp(transport, "udp") == 0) {
			q->tcp = 0;
		} else if (strcasecmp(transport, "tcp") == 0) {
			q->tcp = 1;
		} else {
			bad_param(r, p, "transport", "must be udp or tcp");
			return -1;
		}
	}
	if (read_uint(r, p, "timeout_ms", q->timeout_ms, 1, c->max_timeout_ms, &q->timeout_ms) ||
	    read_uint(r, p, "tries", q->tries, 1, TRIES_MAX, &q->tries))
		return -1;
	if (read_bool(r, p, "rd", (q->flags & DNS_Q_RD) != 0, &rd) ||
	    read_bool(r, p, "cd", (q->flags & DNS_Q_CD) != 0, &cd) ||
	    read_bool(r, p, "ad", (q->flags & DNS_Q_AD) != 0, &ad) ||
	    read_bool(r, p, "do", (q->flags & DNS_Q_DO) != 0, &dnssec) ||
	    read_bool(r, p, "edns", q->edns, &edns))
		return -1;
	if (dnssec && !edns) {
		bad_param(r, p, "do", "the DO bit travels in EDNS: do=1 needs edns=1");
		return -1;
	}
	q->flags = (rd ? DNS_Q_RD : 0) | (cd ? DNS_Q_CD : 0) | (ad ? DNS_Q_AD : 0) |
		   (dnssec ? DNS_Q_DO : 0);
	q->edns = edns;
	return 0;
}

/* ---- groups of queries ---- */

struct group_item {
	struct dns_group *g;
	size_t index;
	struct dns_op *op;
};

struct dns_group {
	struct worker *w;
	enum metrics_probe kind;
	struct dns_lookup *lookups;
	struct dns_result *results;
	struct group_item *items;
	size_t n, remaining;
	int keep_wire;
	int starting;
	dns_group_cb cb;
	void *ud;
	struct loop_timer *finish;
};

static const char *outcome_code(const struct dns_result *res)
{
	if (res->status == NP_OK) {
		const char *rc = dns_rcode_name(res->msg->rcode);

		return rc != NULL ? rc : "answered";
	}
	return np_status_code(res->status);
}

static void item_done(struct dns_group *g, struct group_item *it)
{
	struct dns_result *res = &g->results[it->index];

	it->op = NULL;
	metrics_probe_done(worker_metrics(g->w), g->kind, outcome_code(res), res->rtt_ms / 1000.0);
	if (--g->remaining == 0) {
		if (g->starting)
			loop_timer_arm(g->finish, 0); /* never call back from inside start */
		else
			g->cb(g, g->ud);
	}
}

static void on_answer(const struct dns_answer *a, void *ud)
{
	struct group_item *it = ud;
	struct dns_group *g = it->g;
	struct dns_result *res = &g->results[it->index];

	res->rtt_ms = a->rtt_ms;
	res->transport = a->transport;
	res->tc_retried = a->tc_retried;
	snprintf(res->server, sizeof(res->server), "%s", a->server);
	res->status = a->status;
	if (a->status != NP_OK) {
		snprintf(res->detail, sizeof(res->detail), "%s", a->detail ? a->detail : "");
	} else {
		res->message_size = a->wire_len;
		res->status = (enum np_status)dns_msg_parse(a->wire, a->wire_len, &res->msg,
							    res->detail, sizeof(res->detail));
		if (res->status != NP_OK)
			res->status = NP_EPROTO;
		if (g->keep_wire) {
			res->wire = malloc(a->wire_len);
			if (res->wire != NULL) {
				memcpy(res->wire, a->wire, a->wire_len);
				res->wire_len = a->wire_len;
			}
		}
	}
	item_done(g, it);
}

static void on_finish(void *ud)
{
	struct dns_group *g = ud;

	g->cb(g, g->ud);
}

int dns_group_start(struct worker *w, enum metrics_probe kind, const struct dns_lookup *lookups,
		    size_t n, int keep_wire, dns_group_cb cb, void *ud, struct dns_group **out)
{
	struct dns_group *g;

	*out = NULL;
	if (n == 0)
		return NP_EINVAL;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NP_ENOMEM;
	g->w = w;
	g->kind = kind;
	g->n = n;
	g->keep_wire = keep_wire;
	g->cb = cb;
	g->ud = ud;
	g->lookups = malloc(n * sizeof(*g->lookups));
	g->results = calloc(n, sizeof(*g->results));
	g->items = calloc(n, sizeof(*g->items));
	if (g->lookups == NULL || g->results == NULL || g->items == NULL ||
	    loop_timer_new(worker_loop(w), on_finish, g, &g->finish) != NP_OK) {
		dns_group_free(g);
		return NP_ENOMEM;
	}
	memcpy(g->lookups, lookups, n * sizeof(*lookups));
	g->remaining = n;
	g->starting = 1;
	for (size_t i = 0; i < n; i++) {
		const struct dns_lookup *q = &g->lookups[i];
		struct dns_result *res = &g->results[i];
		struct group_item *it = &g->items[i];
		unsigned char wire[DNS_QUERY_MAX];
		size_t len = 0;
		struct dns_send_opts o = {
			.server = q->server[0] ? q->server : NULL,
			.tcp = q->tcp,
			.timeout_ms = q->timeout_ms,
			.tries = q->tries,
		};
		int rc;

		it->g = g;
		it->index = i;
		res->transport = q->tcp ? "tcp" : "udp";
		snprintf(res->server, sizeof(res->server), "%s",
			 q->server[0] ? q->server : dns_resolver_default_servers(worker_dns(w)));
		rc = dns_query_build(q->name, q->qtype, q->qclass, 0, q->flags,
				     q->edns ? DNS_EDNS_DEFAULT_UDP : 0, wire, sizeof(wire), &len);
		if (rc == NP_OK)
			rc = dns_send(worker_dns(w), wire, len, &o, on_answer, it, &it->op);
		if (rc != NP_OK) {
			res->status = (enum np_status)rc;
			snprintf(res->detail, sizeof(res->detail), "could not send the query: %s",
				 np_strerror((enum np_status)rc));
			item_done(g, it);
		}
	}
	g->starting = 0;
	*out = g;
	return NP_OK;
}

const struct dns_result *dns_group_result(const struct dns_group *g, size_t i)
{
	return &g->results[i];
}

const struct dns_lookup *dns_group_lookup(const struct dns_group *g, size_t i)
{
	return &g->lookups[i];
}

size_t dns_group_size(const struct dns_group *g)
{
	return g->n;
}

void dns_group_free(struct dns_group *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; g->items != NULL && i < g->n; i++) {
		if (g->items[i].op != NULL)
			dns_op_cancel(g->items[i].op);
	}
	for (size_t i = 0; g->results != NULL && i < g->n; i++) {
		dns_msg_free(g->results[i].msg);
		free(g->results[i].wire);
	}
	loop_timer_free(g->finish);
	free(g->lookups);
	free(g->results);
	free(g->items);
	free(g);
}

/* ---- JSON ---- */

static json_t *type_json(uint16_t type)
{
	char buf[DNS_TYPE_TEXT_MAX];

	return json_string(dns_type_to_text(type, buf, sizeof(buf)));
}

static json_t *class_json(uint16_t cls)
{
	char buf[DNS_CLASS_TEXT_MAX];

	return json_string(dns_class_to_text(cls, buf, sizeof(buf)));
}

json_t *dns_rrs_json(const struct dns_rr *rrs, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr != NULL && i < n; i++) {
		const struct dns_rr *rr = &rrs[i];
		json_t *o = json_object();

		json_object_set_new(o, "name", json_string(rr->name));
		json_object_set_new(o, "type", type_json(rr->type));
		json_object_set_new(o, "type_code", json_integer(rr->type));
		json_object_set_new(o, "class", class_json(rr->rclass));
		json_object_set_new(o, "ttl", json_integer(rr->ttl));
		json_object_set_new(o, "data", json_string(rr->data));
		json_array_append_new(arr, o);
	}
	return arr;
}

static json_t *query_json(const struct dns_lookup *q, const struct dns_result *res)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(q->name));
	json_object_set_new(o, "type", type_json(q->qtype));
	json_object_set_new(o, "type_code", json_integer(q->qtype));
	json_object_set_new(o, "class", class_json(q->qclass));
	json_object_set_new(o, "server", json_string(res->server));
	json_object_set_new(o, "transport", json_string(res->transport));
	json_object_set_new(o, "rd", json_boolean(q->flags & DNS_Q_RD));
	json_object_set_new(o, "cd", json_boolean(q->flags & DNS_Q_CD));
	json_object_set_new(o, "ad", json_boolean(q->flags & DNS_Q_AD));
	json_object_set_new(o, "do", json_boolean(q->flags & DNS_Q_DO));
	json_object_set_new(o, "edns", json_boolean(q->edns));
	json_object_set_new(o, "timeout_ms", json_integer(q->timeout_ms));
	json_object_set_new(o, "tries", json_integer(q->tries));
	return o;
}

static const char *opcode_name(unsigned op)
{
	static const char *const names[] = {"QUERY", "IQUERY", "STATUS", "RESERVED3",
					    "NOTIFY", "UPDATE", "DSO"};

	return op < NP_ARRAY_LEN(names) ? names[op] : "RESERVED";
}

json_t *dns_result_json(const struct dns_lookup *q, const struct dns_result *res)
{
	json_t *o = json_object();
	const struct dns_msg *m = res->msg;

	json_object_set_new(o, "query", query_json(q, res));
	/* Microsecond precision, as the API promises. */
	json_object_set_new(o, "timing",
			    json_pack("{s:f}", "total_ms", (double)(long long)(res->rtt_ms * 1000.0 + 0.5) / 1000.0));
	if (res->status != NP_OK || m == NULL) {
		json_object_set_new(o, "status", json_string("error"));
		json_object_set_new(o, "error", json_pack("{s:s, s:s}", "code",
							  np_status_code(res->status), "message",
							  res->detail));
		return o;
	}
	{
		char rbuf[DNS_RCODE_TEXT_MAX];

		json_object_set_new(o, "status", json_string("ok"));
		json_object_set_new(o, "rcode",
				    json_string(dns_rcode_to_text(m->rcode, rbuf, sizeof(rbuf))));
		json_object_set_new(o, "rcode_code", json_integer(m->rcode));
	}
	json_object_set_new(o, "id", json_integer(m->id));
	json_object_set_new(o, "opcode", json_string(opcode_name(m->opcode)));
	json_object_set_new(o, "flags",
			    json_pack("{s:b, s:b, s:b, s:b, s:b, s:b, s:b}", "qr", m->qr, "aa",
				      m->aa, "tc", m->tc, "rd", m->rd, "ra", m->ra, "ad", m->ad,
				      "cd", m->cd));
	json_object_set_new(o, "tc_retried_over_tcp", json_boolean(res->tc_retried));
	{
		json_t *qs = json_array();

		for (size_t i = 0; i < m->n_question; i++) {
			json_t *qq = json_object();

			json_object_set_new(qq, "name", json_string(m->question[i].name));
			json_object_set_new(qq, "type", type_json(m->question[i].type));
			json_object_set_new(qq, "type_code", json_integer(m->question[i].type));
			json_object_set_new(qq, "class", class_json(m->question[i].qclass));
			json_array_append_new(qs, qq);
		}
		json_object_set_new(o, "question", qs);
	}
	json_object_set_new(o, "answer", dns_rrs_json(m->answer, m->n_answer));
	json_object_set_new(o, "authority", dns_rrs_json(m->authority, m->n_authority));
	json_object_set_new(o, "additional", dns_rrs_json(m->additional, m->n_additional));
	if (m->edns.present) {
		json_t *opts = json_array();

		for (size_t i = 0; i < m->edns.n_options; i++)
			json_array_append_new(opts, json_pack("{s:i, s:s}", "code",
							      (json_int_t)m->edns.options[i].code,
							      "data_hex", m->edns.options[i].hex));
		json_object_set_new(o, "edns",
				    json_pack("{s:i, s:i, s:b, s:o}", "udp_size",
					      (json_int_t)m->edns.udp_size, "version",
					      (json_int_t)m->edns.version, "do",
					      m->edns.dnssec_ok, "options", opts));
	}
	json_object_set_new(o, "message_size", json_integer((json_int_t)res->message_size));
	return o;
}

static json_t *google_rrs(const struct dns_rr *rrs, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:i, s:i, s:s}", "name", rrs[i].name,
						     "type", (json_int_t)rrs[i].type, "TTL",
						     (json_int_t)rrs[i].ttl, "data", rrs[i].data));
	return arr;
}

json_t *dns_result_google_json(const struct dns_lookup *q, const struct dns_result *res)
{
	const struct dns_msg *m = res->msg;
	json_t *o;

	if (res->status != NP_OK || m == NULL) {
		/* Google answers SERVFAIL with a comment when upstream fails. */
		char comment[640];

		snprintf(comment, sizeof(comment), "%s: %s (server %s)",
			 np_status_code(res->status), res->detail, res->server);
		return json_pack("{s:i, s:b, s:b, s:b, s:b, s:b, s:[{s:s, s:i}], s:s}", "Status", 2,
				 "TC", 0, "RD", (q->flags & DNS_Q_RD) != 0, "RA", 0, "AD", 0, "CD",
				 (q->flags & DNS_Q_CD) != 0, "Question", "name", q->name, "type",
				 (json_int_t)q->qtype, "Comment", comment);
	}
	o = json_pack("{s:i, s:b, s:b, s:b, s:b, s:b}", "Status", (json_int_t)m->rcode, "TC",
		      m->tc, "RD", m->rd, "RA", m->ra, "AD", m->ad, "CD", m->cd);
	{
		json_t *qs = json_array();

		for (size_t i = 0; i < m->n_question; i++)
			json_array_append_new(qs, json_pack("{s:s, s:i}", "name",
							    m->question[i].name, "type",
							    (json_int_t)m->question[i].type));
		json_object_set_new(o, "Question", qs);
	}
	/* Google omits empty sections. */
	if (m->n_answer > 0)
		json_object_set_new(o, "Answer", google_rrs(m->answer, m->n_answer));
	if (m->n_authority > 0)
		json_object_set_new(o, "Authority", google_rrs(m->authority, m->n_authority));
	if (m->n_additional > 0)
		json_object_set_new(o, "Additional", google_rrs(m->additional, m->n_additional));
	{
		char comment[320];

		snprintf(comment, sizeof(comment), "Response from %s over %s%s.", res->server,
			 res->transport, res->tc_retried ? " (UDP answer was truncated)" : "");
		json_object_set_new(o, "Comment", json_string(comment));
	}
	return o;
}
