/*
 * dns_lookup.c - parameters, groups of concurrent queries, and JSON for
 * the DNS handlers (GET/POST /dns, /rdns). Results are written straight
 * into the answer's buffer with service/jsonw.h: a batch of 100 names is
 * ~90 kB of JSON, and building a jansson tree for it, dumping and freeing
 * it took 78% of the service's CPU per name (bench/dns/README.md).
 */
#include "dns_lookup.h"
#include "config.h"
#include "http.h"
#include "jsonw.h"
#include "loop.h"
#include "policy.h"
#include "worker.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRIES_MAX 5
/* udp_size not among the parameters (no size is this large). */
#define UDP_SIZE_UNSET 65536u

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
	if (p->name != NULL)
		return strcmp(key, "name") == 0 ? p->name : NULL;
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

/* How messages name a parameter: "queries[3].type" in a batch item. */
static void param_name(const struct dns_params *p, const char *key, char *buf, size_t len)
{
	if (p->list != NULL)
		snprintf(buf, len, "%s[%zu].%s", p->list, p->index, key);
	else
		snprintf(buf, len, "%s", key);
}

static void bad_param(struct http_req *r, const struct dns_params *p, const char *key,
		      const char *why)
{
	char name[96];

	param_name(p, key, name, sizeof(name));
	http_reply_problem(r, 400, name, "%s", why);
}

static int read_text(struct http_req *r, const struct dns_params *p, const char *key,
		     const char **out)
{
	char buf[32];
	int bad;

	*out = param(p, key, buf, sizeof(buf), &bad);
	if (bad ||
	    (*out != NULL && p->json != NULL && !json_is_string(json_object_get(p->json, key)))) {
		bad_param(r, p, key, "must be a string");
		return -1;
	}
	return 0;
}

static int read_bool(struct http_req *r, const struct dns_params *p, const char *key, int def,
		     int *out)
{
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
	if (v[0] == '\0') { /* a bare key: ?rd */
		*out = 1;
		return 0;
	}
	if (np_parse_bool(v, out) == 0)
		return 0;
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

/* Everything in *from but the name, which is the bulk of the struct. */
static void lookup_copy_params(struct dns_lookup *q, const struct dns_lookup *from)
{
	q->qtype = from->qtype;
	q->qclass = from->qclass;
	q->flags = from->flags;
	q->edns = from->edns;
	q->opt = from->opt;
	memcpy(q->server, from->server, sizeof(q->server));
	q->tcp = from->tcp;
	q->timeout_ms = from->timeout_ms;
	q->tries = from->tries;
}

/* The name, checked, with a trailing dot added; answers 400 when it is
 * not a name we can ask for. */
static int lookup_set_name(struct http_req *r, const struct dns_params *p, const char *name,
			   struct dns_lookup *q)
{
	char why[160];
	size_t n;

	if (name == NULL || name[0] == '\0') {
		bad_param(r, p, "name", "a name to look up is required");
		return -1;
	}
	if (dns_name_validate(name, why, sizeof(why)) != NP_OK) {
		bad_param(r, p, "name", why);
		return -1;
	}
	/* Validated: at most 254 bytes, so the dot always fits. */
	n = strlen(name);
	memcpy(q->name, name, n);
	if (name[n - 1] != '.')
		q->name[n++] = '.';
	q->name[n] = '\0';
	return 0;
}

/*
 * subnet=ADDRESS[/PREFIX] for a Client Subnet option (RFC 7871), as dig's
 * +subnet reads it: a network as the target policy reads one
 * (policy_parse_cidr: IPv4 or IPv6, the whole address when the prefix is
 * left out, bits past the prefix zeroed as section 6 wants them on the
 * wire), and "0" or "0/0" for IPv4 0/0, which asks the resolver not to use
 * the client's address at all (RFC 7871 7.1.2). 0 with e's ecs_* set, or
 * -1 with why.
 */
static int subnet_parse(const char *v, struct dns_query_edns *e, char *why, size_t whylen)
{
	struct policy_cidr c;

	memset(e->ecs_addr, 0, sizeof(e->ecs_addr));
	if (strcmp(v, "0") == 0 || strcmp(v, "0/0") == 0) {
		e->ecs_family = DNS_ECS_IPV4; /* dig sends 0/0 as IPv4, no address bytes */
		e->ecs_source = 0;
		return 0;
	}
	if (policy_parse_cidr(v, &c, why, whylen) != NP_OK)
		return -1;
	memcpy(e->ecs_addr, c.net.bytes, sizeof(e->ecs_addr));
	e->ecs_family = c.net.family == AF_INET ? DNS_ECS_IPV4 : DNS_ECS_IPV6;
	e->ecs_source = (uint8_t)c.prefix;
	return 0;
}

/*
 * What travels in EDNS needs EDNS: names the first such parameter set
 * while edns is off (answering 400) and returns -1, else 0.
 */
static int edns_needed(struct http_req *r, const struct dns_params *p, const struct dns_lookup *q)
{
	if (q->edns)
		return 0;
	if (q->flags & DNS_Q_DO) {
		bad_param(r, p, "do", "the DO bit travels in EDNS: do=1 needs edns=1");
		return -1;
	}
	if (q->opt.nsid) {
		bad_param(r, p, "nsid", "NSID is an EDNS option: nsid=1 needs edns=1");
		return -1;
	}
	if (q->opt.ecs_family != 0) {
		bad_param(r, p, "subnet", "Client Subnet is an EDNS option: subnet needs edns=1");
		return -1;
	}
	if (q->opt.udp_size != 0) {
		bad_param(r, p, "udp_size",
			  "the UDP payload size is announced in EDNS: udp_size needs edns=1");
		return -1;
	}
	return 0;
}

int dns_lookup_read(struct http_req *r, const struct dns_params *p,
		    const struct dns_lookup *defaults, int need_name, struct dns_lookup *q)
{
	const struct config *c = worker_config(http_req_worker(r));
	const char *name, *type, *cls, *server, *transport, *subnet;
	char why[160];
	int rd, cd, ad, dnssec, edns, nsid;
	unsigned udp_size;

	if (defaults != NULL && p->name != NULL && need_name) {
		/*
		 * A batch item given as a bare name: every other parameter is
		 * the default, so the checks below come down to the name and
		 * these two (which the defaults passed already).
		 */
		lookup_copy_params(q, defaults);
		if (lookup_set_name(r, p, p->name, q) != 0)
			return -1;
		if (q->qtype == DNS_T_OPT || q->qtype == DNS_T_AXFR || q->qtype == DNS_T_IXFR) {
			bad_param(r, p, "type", "OPT, AXFR and IXFR cannot be asked this way");
			return -1;
		}
		if (edns_needed(r, p, q) != 0)
			return -1;
		q->flags &= DNS_Q_RD | DNS_Q_CD | DNS_Q_AD | DNS_Q_DO;
		return 0;
	}
	if (defaults != NULL) {
		/* The name only when the caller keeps it (need_name 0). */
		size_t n = need_name ? 0 : strnlen(defaults->name, sizeof(q->name) - 1);

		lookup_copy_params(q, defaults);
		memcpy(q->name, defaults->name, n);
		q->name[n] = '\0';
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
	    read_text(r, p, "transport", &transport) || read_text(r, p, "subnet", &subnet))
		return -1;
	if (need_name && lookup_set_name(r, p, name, q) != 0)
		return -1;
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

		param_name(p, "server", pname, sizeof(pname));
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
	    read_bool(r, p, "edns", q->edns, &edns) ||
	    read_bool(r, p, "nsid", q->opt.nsid, &nsid) ||
	    read_uint(r, p, "udp_size", UDP_SIZE_UNSET, 0, 65535, &udp_size))
		return -1;
	if (udp_size == UDP_SIZE_UNSET) {
		udp_size = q->opt.udp_size;
	} else if (udp_size < 512) {
		/* RFC 6891 6.2.5 reads sizes below 512 as 512: refused rather than
		 * sent as something that does not mean what it says. */
		snprintf(why, sizeof(why),
			 "%u is below 512, the least EDNS payload size (RFC 6891 6.2.5)", udp_size);
		bad_param(r, p, "udp_size", why);
		return -1;
	}
	if (subnet != NULL && subnet[0] == '\0') {
		q->opt.ecs_family = 0; /* "": no option, even if a default had one */
	} else if (subnet != NULL && subnet_parse(subnet, &q->opt, why, sizeof(why)) != 0) {
		bad_param(r, p, "subnet", why);
		return -1;
	}
	q->flags = (rd ? DNS_Q_RD : 0) | (cd ? DNS_Q_CD : 0) | (ad ? DNS_Q_AD : 0) |
		   (dnssec ? DNS_Q_DO : 0);
	q->edns = edns;
	q->opt.nsid = nsid;
	q->opt.udp_size = (uint16_t)udp_size;
	return edns_needed(r, p, q);
}

/* ---- groups of queries ---- */

struct group_item {
	struct dns_group *g;
	size_t index;
	struct dns_op *op;
	int done;
};

struct dns_group {
	struct worker *w;
	enum metrics_probe kind;
	struct dns_lookup *lookups;
	struct dns_result *results;
	struct group_item *items;
	size_t n, remaining;
	size_t next_ready;         /* items below it went to item_cb */
	int keep_wire;
	int starting;
	dns_group_cb cb;
	dns_group_item_cb item_cb;
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

/* Hands finished items to item_cb in index order, each once. */
static void group_advance(struct dns_group *g)
{
	if (g->item_cb == NULL)
		return;
	while (g->next_ready < g->n && g->items[g->next_ready].done)
		g->item_cb(g, g->next_ready++, g->ud);
}

static void item_done(struct dns_group *g, struct group_item *it)
{
	struct dns_result *res = &g->results[it->index];

	it->op = NULL;
	it->done = 1;
	metrics_probe_done(worker_metrics(g->w), g->kind, outcome_code(res), res->rtt_ms / 1000.0);
	if (--g->remaining == 0) {
		if (g->starting) {
			loop_timer_arm(g->finish, 0); /* never call back from inside start */
		} else {
			group_advance(g);
			g->cb(g, g->ud);
		}
	} else if (!g->starting && it->index == g->next_ready) {
		group_advance(g);
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
	/* The transport reports the text res->server already points at (the
	 * query's server, or the defaults); a->server is only lent to us, so
	 * copy it in the unexpected case that it differs. */
	if (strcmp(a->server, res->server) != 0) {
		free(res->server_copy);
		res->server_copy = strdup(a->server);
		if (res->server_copy != NULL)
			res->server = res->server_copy;
	}
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

	group_advance(g);
	g->cb(g, g->ud);
}

int dns_group_start(struct worker *w, enum metrics_probe kind, const struct dns_lookup *lookups,
		    size_t n, int keep_wire, dns_group_cb cb, void *ud, struct dns_group **out)
{
	struct dns_lookup *copy;

	*out = NULL;
	if (n == 0)
		return NP_EINVAL;
	copy = malloc(n * sizeof(*copy));
	if (copy == NULL)
		return NP_ENOMEM;
	memcpy(copy, lookups, n * sizeof(*lookups));
	return dns_group_start_owned(w, kind, copy, n, keep_wire, cb, ud, out);
}

int dns_group_start_owned(struct worker *w, enum metrics_probe kind, struct dns_lookup *lookups,
			  size_t n, int keep_wire, dns_group_cb cb, void *ud,
			  struct dns_group **out)
{
	struct dns_group *g;

	*out = NULL;
	if (n == 0) {
		free(lookups);
		return NP_EINVAL;
	}
	g = calloc(1, sizeof(*g));
	if (g == NULL) {
		free(lookups);
		return NP_ENOMEM;
	}
	g->w = w;
	g->kind = kind;
	g->n = n;
	g->keep_wire = keep_wire;
	g->cb = cb;
	g->ud = ud;
	g->lookups = lookups;
	g->results = calloc(n, sizeof(*g->results));
	g->items = calloc(n, sizeof(*g->items));
	if (g->results == NULL || g->items == NULL ||
	    loop_timer_new(worker_loop(w), on_finish, g, &g->finish) != NP_OK) {
		dns_group_free(g);
		return NP_ENOMEM;
	}
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
		/* Borrowed: the group's copy of the query, or the resolver's text,
		 * which lives as long as the worker. */
		res->server = q->server[0] ? q->server
					   : dns_resolver_default_servers(worker_dns(w));
		rc = dns_query_build(q->name, q->qtype, q->qclass, 0, q->flags,
				     q->edns ? &q->opt : NULL, wire, sizeof(wire), &len);
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

void dns_group_set_item_cb(struct dns_group *g, dns_group_item_cb cb)
{
	g->item_cb = cb;
}

void dns_group_release(struct dns_group *g, size_t i)
{
	struct dns_result *res = &g->results[i];

	dns_msg_free(res->msg);
	res->msg = NULL;
	free(res->wire);
	res->wire = NULL;
	res->wire_len = 0;
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
		free(g->results[i].server_copy);
	}
	loop_timer_free(g->finish);
	free(g->lookups);
	free(g->results);
	free(g->items);
	free(g);
}

/* ---- JSON ---- */

/*
 * Each shape is written field by field, in the order the API has always
 * answered with; these functions are the only place that order lives.
 * The bytes are those jansson printed for the same documents before the
 * handlers wrote directly: tests/unit/test_jsonw.c holds the writer's
 * escaping and numbers to jansson's.
 */

/* A text field's value: the string, or null for none. */
static size_t text_len(const char *s)
{
	return s != NULL ? strlen(s) : 4;
}

static char *text_put(char *p, const char *s, size_t n)
{
	return s != NULL ? jsonw_raw_string(p, s, n) : JSONW_RAW_LIT(p, "null");
}

/* A record, or a question entry (full 0: no ttl, no data). */
struct rr_text {
	const char *name, *type, *cls, *data;
	size_t nl, tl, cl, dl;
	uint16_t type_code;
	uint32_t ttl;
	int full;
};

/* {"name":…,"type":…,"type_code":…,"class":…[,"ttl":…,"data":…]} */
static char *rr_raw(char *p, const void *arg)
{
	const struct rr_text *r = arg;

	p = JSONW_RAW_LIT(p, "{\"name\":");
	p = text_put(p, r->name, r->nl);
	p = JSONW_RAW_LIT(p, ",\"type\":");
	p = jsonw_raw_plain(p, r->type, r->tl);
	p = JSONW_RAW_LIT(p, ",\"type_code\":");
	p = jsonw_raw_uint(p, r->type_code);
	p = JSONW_RAW_LIT(p, ",\"class\":");
	p = jsonw_raw_plain(p, r->cls, r->cl);
	if (r->full) {
		p = JSONW_RAW_LIT(p, ",\"ttl\":");
		p = jsonw_raw_uint(p, r->ttl);
		p = JSONW_RAW_LIT(p, ",\"data\":");
		p = text_put(p, r->data, r->dl);
	}
	*p++ = '}';
	return p;
}

/* One record or question entry, as one value written in one piece. */
static void rr_write(struct jsonw *w, const char *name, uint16_t type, uint16_t cls, int full,
		     uint32_t ttl, const char *data)
{
	char tbuf[DNS_TYPE_TEXT_MAX], cbuf[DNS_CLASS_TEXT_MAX];
	struct rr_text r = {
		.name = name,
		.type = dns_type_to_text(type, tbuf, sizeof(tbuf)),
		.cls = dns_class_to_text(cls, cbuf, sizeof(cbuf)),
		.data = data,
		.type_code = type,
		.ttl = ttl,
		.full = full,
	};

	r.nl = text_len(name);
	r.tl = strlen(r.type);
	r.cl = strlen(r.cls);
	r.dl = full ? text_len(data) : 0;
	/* 54 bytes of keys and punctuation at most, two numbers. */
	jsonw_raw(w,
		  JSONW_RAW_STRING_MAX(r.nl) + JSONW_RAW_STRING_MAX(r.tl) +
			  JSONW_RAW_STRING_MAX(r.cl) + JSONW_RAW_STRING_MAX(r.dl) +
			  2 * JSONW_RAW_UINT_MAX + 64,
		  rr_raw, &r);
}

/* A section's records: [{name, type, type_code, class, ttl, data}]. */
static void rrs_write(struct jsonw *w, const char *key, const struct dns_rr *rrs, size_t n)
{
	jsonw_key_plain(w, key, strlen(key));
	jsonw_array_begin(w);
	for (size_t i = 0; i < n; i++)
		rr_write(w, rrs[i].name, rrs[i].type, rrs[i].rclass, 1, rrs[i].ttl, rrs[i].data);
	jsonw_array_end(w);
}

/* The query as asked, with the texts it needs. */
struct query_text {
	const struct dns_lookup *q;
	const char *type, *cls, *server, *transport;
	char subnet[INET6_ADDRSTRLEN + 8]; /* "" when no Client Subnet */
	size_t nl, tl, cl, sl, xl, snl;
};

/* The echo of every parameter: {"name":…,…,"tries":…} */
static char *query_raw(char *p, const void *arg)
{
	const struct query_text *t = arg;
	const struct dns_lookup *q = t->q;

	p = JSONW_RAW_LIT(p, "{\"name\":");
	p = jsonw_raw_string(p, q->name, t->nl);
	p = JSONW_RAW_LIT(p, ",\"type\":");
	p = jsonw_raw_plain(p, t->type, t->tl);
	p = JSONW_RAW_LIT(p, ",\"type_code\":");
	p = jsonw_raw_uint(p, q->qtype);
	p = JSONW_RAW_LIT(p, ",\"class\":");
	p = jsonw_raw_plain(p, t->cls, t->cl);
	p = JSONW_RAW_LIT(p, ",\"server\":");
	p = text_put(p, t->server, t->sl);
	p = JSONW_RAW_LIT(p, ",\"transport\":");
	p = text_put(p, t->transport, t->xl);
	p = JSONW_RAW_LIT(p, ",\"rd\":");
	p = jsonw_raw_bool(p, (q->flags & DNS_Q_RD) != 0);
	p = JSONW_RAW_LIT(p, ",\"cd\":");
	p = jsonw_raw_bool(p, (q->flags & DNS_Q_CD) != 0);
	p = JSONW_RAW_LIT(p, ",\"ad\":");
	p = jsonw_raw_bool(p, (q->flags & DNS_Q_AD) != 0);
	p = JSONW_RAW_LIT(p, ",\"do\":");
	p = jsonw_raw_bool(p, (q->flags & DNS_Q_DO) != 0);
	p = JSONW_RAW_LIT(p, ",\"edns\":");
	p = jsonw_raw_bool(p, q->edns);
	/* The EDNS options only when asked for: older answers are unchanged. */
	if (q->opt.nsid)
		p = JSONW_RAW_LIT(p, ",\"nsid\":true");
	if (q->opt.ecs_family != 0) {
		p = JSONW_RAW_LIT(p, ",\"subnet\":");
		p = jsonw_raw_plain(p, t->subnet, t->snl);
	}
	if (q->opt.udp_size != 0) {
		p = JSONW_RAW_LIT(p, ",\"udp_size\":");
		p = jsonw_raw_uint(p, q->opt.udp_size);
	}
	p = JSONW_RAW_LIT(p, ",\"timeout_ms\":");
	p = jsonw_raw_uint(p, q->timeout_ms);
	p = JSONW_RAW_LIT(p, ",\"tries\":");
	p = jsonw_raw_uint(p, q->tries);
	*p++ = '}';
	return p;
}

/* The query as asked: the echo of every parameter, in one piece. */
static void query_write(struct jsonw *w, const struct dns_lookup *q, const struct dns_result *res)
{
	char tbuf[DNS_TYPE_TEXT_MAX], cbuf[DNS_CLASS_TEXT_MAX];
	struct query_text t = {
		.q = q,
		.type = dns_type_to_text(q->qtype, tbuf, sizeof(tbuf)),
		.cls = dns_class_to_text(q->qclass, cbuf, sizeof(cbuf)),
		.server = res->server,
		.transport = res->transport,
	};

	if (q->opt.ecs_family != 0) {
		char addr[INET6_ADDRSTRLEN];

		inet_ntop(q->opt.ecs_family == DNS_ECS_IPV4 ? AF_INET : AF_INET6, q->opt.ecs_addr,
			  addr, sizeof(addr));
		snprintf(t.subnet, sizeof(t.subnet), "%s/%u", addr, q->opt.ecs_source);
	}
	t.nl = strlen(q->name);
	t.tl = strlen(t.type);
	t.cl = strlen(t.cls);
	t.sl = text_len(t.server);
	t.xl = text_len(t.transport);
	t.snl = strlen(t.subnet);
	JSONW_KEY(w, "query");
	/* Keys, punctuation and bools: 176 bytes at most; four numbers. */
	jsonw_raw(w,
		  JSONW_RAW_STRING_MAX(t.nl) + JSONW_RAW_STRING_MAX(t.tl) +
			  JSONW_RAW_STRING_MAX(t.cl) + JSONW_RAW_STRING_MAX(t.sl) +
			  JSONW_RAW_STRING_MAX(t.xl) + JSONW_RAW_STRING_MAX(t.snl) +
			  4 * JSONW_RAW_UINT_MAX + 192,
		  query_raw, &t);
}

static const char *opcode_name(unsigned op)
{
	static const char *const names[] = {"QUERY", "IQUERY", "STATUS", "RESERVED3",
					    "NOTIFY", "UPDATE", "DSO"};

	return op < NP_ARRAY_LEN(names) ? names[op] : "RESERVED";
}

static int answered(const struct dns_result *res)
{
	return res->status == NP_OK && res->msg != NULL;
}

void dns_outcome_write(struct jsonw *w, const struct dns_result *res, unsigned flags)
{
	if (!answered(res)) {
		if (flags & DNS_OUTCOME_STATUS)
			JSONW_KSTRING(w, "status", "error");
		JSONW_KEY(w, "error");
		jsonw_object_begin(w);
		JSONW_KSTRING(w, "code", np_status_code(res->status));
		JSONW_KSTRING(w, "message", res->detail);
		jsonw_object_end(w);
		return;
	}
	{
		char rbuf[DNS_RCODE_TEXT_MAX];
		uint16_t rcode = res->msg->rcode;

		if (flags & DNS_OUTCOME_STATUS)
			JSONW_KSTRING(w, "status", "ok");
		JSONW_KSTRING(w, "rcode", dns_rcode_to_text(rcode, rbuf, sizeof(rbuf)));
		if (flags & DNS_OUTCOME_RCODE_CODE)
			JSONW_KUINT(w, "rcode_code", rcode);
	}
}

/*
 * One EDNS option: code, dig's name for it when it has one, the value in
 * hex, and decoded where dns_wire.c could: NSID's printable "text",
 * CLIENT-SUBNET's "subnet" and "scope".
 */
static void option_write(struct jsonw *w, const struct dns_edns_option *o)
{
	const char *name = dns_edns_option_name(o->code);

	jsonw_object_begin(w);
	JSONW_KUINT(w, "code", o->code);
	if (name != NULL)
		JSONW_KSTRING(w, "name", name);
	JSONW_KSTRING(w, "data_hex", o->hex);
	if (o->text != NULL && o->code == DNS_OPT_NSID) {
		JSONW_KSTRING(w, "text", o->text);
	} else if (o->text != NULL && o->code == DNS_OPT_ECS) {
		JSONW_KSTRING(w, "subnet", o->text);
		JSONW_KUINT(w, "scope", (unsigned)o->scope);
	}
	jsonw_object_end(w);
}

/* The header flags: {"qr":…,"aa":…,"tc":…,"rd":…,"ra":…,"ad":…,"cd":…} */
static char *flags_raw(char *p, const void *arg)
{
	const struct dns_msg *m = arg;

	p = JSONW_RAW_LIT(p, "{\"qr\":");
	p = jsonw_raw_bool(p, m->qr);
	p = JSONW_RAW_LIT(p, ",\"aa\":");
	p = jsonw_raw_bool(p, m->aa);
	p = JSONW_RAW_LIT(p, ",\"tc\":");
	p = jsonw_raw_bool(p, m->tc);
	p = JSONW_RAW_LIT(p, ",\"rd\":");
	p = jsonw_raw_bool(p, m->rd);
	p = JSONW_RAW_LIT(p, ",\"ra\":");
	p = jsonw_raw_bool(p, m->ra);
	p = JSONW_RAW_LIT(p, ",\"ad\":");
	p = jsonw_raw_bool(p, m->ad);
	p = JSONW_RAW_LIT(p, ",\"cd\":");
	p = jsonw_raw_bool(p, m->cd);
	*p++ = '}';
	return p;
}

void dns_result_write(struct jsonw *w, const struct dns_lookup *q, const struct dns_result *res)
{
	const struct dns_msg *m = res->msg;

	jsonw_object_begin(w);
	query_write(w, q, res);
	JSONW_KEY(w, "timing");
	jsonw_object_begin(w);
	/* Microsecond precision, as the API promises. */
	jsonw_kdouble(w, "total_ms", (double)(long long)(res->rtt_ms * 1000.0 + 0.5) / 1000.0);
	jsonw_object_end(w);
	dns_outcome_write(w, res, DNS_OUTCOME_STATUS | DNS_OUTCOME_RCODE_CODE);
	if (!answered(res)) {
		jsonw_object_end(w);
		return;
	}
	JSONW_KUINT(w, "id", m->id);
	JSONW_KSTRING(w, "opcode", opcode_name(m->opcode));
	JSONW_KEY(w, "flags");
	jsonw_raw(w, 96, flags_raw, m); /* 7 keys, 7 bools, braces: 79 */
	JSONW_KBOOL(w, "tc_retried_over_tcp", res->tc_retried);
	JSONW_KEY(w, "question");
	jsonw_array_begin(w);
	for (size_t i = 0; i < m->n_question; i++)
		rr_write(w, m->question[i].name, m->question[i].type, m->question[i].qclass, 0, 0,
			 NULL);
	jsonw_array_end(w);
	rrs_write(w, "answer", m->answer, m->n_answer);
	rrs_write(w, "authority", m->authority, m->n_authority);
	rrs_write(w, "additional", m->additional, m->n_additional);
	if (m->edns.present) {
		JSONW_KEY(w, "edns");
		jsonw_object_begin(w);
		JSONW_KUINT(w, "udp_size", m->edns.udp_size);
		JSONW_KUINT(w, "version", m->edns.version);
		JSONW_KBOOL(w, "do", m->edns.dnssec_ok);
		JSONW_KEY(w, "options");
		jsonw_array_begin(w);
		for (size_t i = 0; i < m->edns.n_options; i++)
			option_write(w, &m->edns.options[i]);
		jsonw_array_end(w);
		jsonw_object_end(w);
	}
	JSONW_KUINT(w, "message_size", res->message_size);
	jsonw_object_end(w);
}

/* Google's records: [{name, type, TTL, data}], types as numbers. */
static void google_rrs_write(struct jsonw *w, const char *key, const struct dns_rr *rrs,
			     size_t n)
{
	/* Google omits empty sections. */
	if (n == 0)
		return;
	jsonw_key_plain(w, key, strlen(key));
	jsonw_array_begin(w);
	for (size_t i = 0; i < n; i++) {
		jsonw_object_begin(w);
		JSONW_KSTRING(w, "name", rrs[i].name);
		JSONW_KUINT(w, "type", rrs[i].type);
		JSONW_KUINT(w, "TTL", rrs[i].ttl);
		JSONW_KSTRING(w, "data", rrs[i].data);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
}

static void google_flags_write(struct jsonw *w, unsigned status, int tc, int rd, int ra, int ad,
			       int cd)
{
	JSONW_KUINT(w, "Status", status);
	JSONW_KBOOL(w, "TC", tc);
	JSONW_KBOOL(w, "RD", rd);
	JSONW_KBOOL(w, "RA", ra);
	JSONW_KBOOL(w, "AD", ad);
	JSONW_KBOOL(w, "CD", cd);
}

void dns_result_google_write(struct jsonw *w, const struct dns_lookup *q,
			     const struct dns_result *res)
{
	const struct dns_msg *m = res->msg;
	/* Server texts are under 256 bytes (service/dns.c): never cut here. */
	char comment[768];

	jsonw_object_begin(w);
	if (!answered(res)) {
		/* Google answers SERVFAIL with a comment when upstream fails. */
		google_flags_write(w, DNS_R_SERVFAIL, 0, (q->flags & DNS_Q_RD) != 0, 0, 0,
				   (q->flags & DNS_Q_CD) != 0);
		JSONW_KEY(w, "Question");
		jsonw_array_begin(w);
		jsonw_object_begin(w);
		JSONW_KSTRING(w, "name", q->name);
		JSONW_KUINT(w, "type", q->qtype);
		jsonw_object_end(w);
		jsonw_array_end(w);
		snprintf(comment, sizeof(comment), "%s: %s (server %s)",
			 np_status_code(res->status), res->detail, res->server);
		JSONW_KSTRING(w, "Comment", comment);
		jsonw_object_end(w);
		return;
	}
	google_flags_write(w, m->rcode, m->tc, m->rd, m->ra, m->ad, m->cd);
	JSONW_KEY(w, "Question");
	jsonw_array_begin(w);
	for (size_t i = 0; i < m->n_question; i++) {
		jsonw_object_begin(w);
		JSONW_KSTRING(w, "name", m->question[i].name);
		JSONW_KUINT(w, "type", m->question[i].type);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	google_rrs_write(w, "Answer", m->answer, m->n_answer);
	google_rrs_write(w, "Authority", m->authority, m->n_authority);
	google_rrs_write(w, "Additional", m->additional, m->n_additional);
	snprintf(comment, sizeof(comment), "Response from %s over %s%s.", res->server,
		 res->transport, res->tc_retried ? " (UDP answer was truncated)" : "");
	JSONW_KSTRING(w, "Comment", comment);
	jsonw_object_end(w);
}

_Static_assert(DNS_REPLY_MAX % ((size_t)1 << 20) == 0, "dns_reply() names the cap in MiB");

void dns_reply(struct http_req *r, struct jsonw *w, const char *content_type)
{
	char *text;
	size_t len;
	int rc;

	if (w == NULL) {
		http_reply_problem(r, 503, NULL, "out of memory");
		return;
	}
	rc = jsonw_take(w, &text, &len);
	jsonw_free(w);
	if (rc == NP_ELIMIT) {
		/* Never a cut document: say what to change instead. */
		http_reply_problem(r, 503, NULL,
				   "the answer would be larger than %zu MiB; ask for fewer names "
				   "per request",
				   (size_t)DNS_REPLY_MAX >> 20);
		return;
	}
	if (rc != NP_OK) {
		http_reply_problem(r, 503, NULL, "cannot write the answer: %s",
				   np_strerror((enum np_status)rc));
		return;
	}
	http_reply_take(r, 200, content_type, text, len);
}
