/*
 * handlers/policy.c - GET /policy/check?target=X: would the target policy
 * let the service connect to X, and which rule decides.
 *
 * For an address literal the answer needs no network (parsing and matching
 * take microseconds), so the handler replies before it returns. A host name
 * is resolved (A and AAAA, through the worker's DNS module) and every
 * address is judged, as a probe would judge each at connect time; the name
 * is allowed only if every address is.
 */
#include "handlers.h"

#include <string.h>
#include <jansson.h>

#include "dns_lookup.h"
#include "http.h"
#include "np.h"
#include "policy.h"
#include "worker.h"

#include <stdlib.h>

/* A DNS name is at most 253 characters (RFC 1035 2.3.4); allow for brackets. */
#define TARGET_MAX 255

/*
 * Only digits and dots: an attempt at IPv4 that inet_pton refused ("10.1",
 * "2130706433", "010.0.0.1"). It can never be a host name, because a top
 * level label is not all-numeric (RFC 3696 section 2), and the short and
 * octal forms some resolvers accept are exactly what should not pass here.
 */
static int looks_like_ipv4(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((*s < '0' || *s > '9') && *s != '.')
			return 0;
	}
	return 1;
}

/* Why `inner` (the target without brackets) is not accepted, for a 400. */
static const char *not_literal_detail(const char *inner, int bracketed)
{
	if (strchr(inner, '/'))
		return "target is one address, not a network: drop the /prefix";
	if (bracketed || strchr(inner, ':'))
		return "target is not a valid IPv6 address (give it bare or in brackets, "
		       "without a port or zone)";
	if (looks_like_ipv4(inner))
		return "target is not a valid IPv4 address: use four decimal parts, "
		       "e.g. 192.0.2.1";
	return NULL; /* may be a host name */
}

/* Adds one decision's fields to obj; returns -1 when out of memory. */
static int decision_json(json_t *obj, const struct policy_addr *addr,
			 const struct policy_decision *d)
{
	char text[POLICY_ADDR_TEXT_MAX];

	policy_addr_format(addr, text, sizeof(text));
	return json_object_set_new(obj, "address", json_string(text)) ||
	       json_object_set_new(obj, "family",
				   json_string(addr->family == AF_INET ? "ipv4" : "ipv6")) ||
	       json_object_set_new(obj, "allowed", json_boolean(d->verdict == POLICY_ALLOW)) ||
	       json_object_set_new(obj, "verdict",
				   json_string(d->verdict == POLICY_ALLOW ? "allow" : "deny")) ||
	       json_object_set_new(obj, "rule", json_string(d->rule)) ||
	       json_object_set_new(obj, "reason", json_string(d->reason));
}

/* ---- host names: resolve A and AAAA, judge every address ---- */

struct name_check {
	struct http_req *req;
	struct dns_group *group;
};

static void name_check_cancel(void *ud)
{
	struct name_check *nc = ud;

	dns_group_free(nc->group);
	free(nc);
}

static void on_resolved(struct dns_group *g, void *ud)
{
	struct name_check *nc = ud;
	const struct policy *pol = worker_policy(http_req_worker(nc->req));
	json_t *addrs = json_array();
	json_t *body;
	int all_allowed = 1;
	const struct dns_result *failed = NULL;

	for (size_t i = 0; i < dns_group_size(g); i++) {
		const struct dns_result *res = dns_group_result(g, i);
		uint16_t want = dns_group_lookup(g, i)->qtype;

		if (res->status != NP_OK) {
			failed = res;
			continue;
		}
		for (size_t k = 0; k < res->msg->n_answer; k++) {
			const struct dns_rr *rr = &res->msg->answer[k];
			struct policy_addr addr;
			struct policy_decision d;
			json_t *one;

			if (rr->type != want || policy_addr_parse(rr->data, &addr) != NP_OK)
				continue;
			policy_check_addr(pol, &addr, &d);
			all_allowed &= d.verdict == POLICY_ALLOW;
			one = json_object();
			decision_json(one, &addr, &d);
			json_array_append_new(addrs, one);
		}
	}
	body = json_pack("{s:s, s:s}", "target", dns_group_lookup(g, 0)->name, "name",
			 dns_group_lookup(g, 0)->name);
	if (json_array_size(addrs) == 0) {
		/* Nothing to connect to: a finding, not a request error. */
		json_object_set_new(body, "allowed", json_false());
		json_object_set_new(body, "verdict", json_string("unresolved"));
		json_object_set_new(body, "error",
				    json_pack("{s:s, s:s}", "code",
					      failed ? np_status_code(failed->status) : "not_found",
					      "message",
					      failed ? failed->detail
						     : "the name has no A or AAAA records"));
	} else {
		json_object_set_new(body, "allowed", json_boolean(all_allowed));
		json_object_set_new(body, "verdict", json_string(all_allowed ? "allow" : "deny"));
	}
	json_object_set_new(body, "addresses", addrs);
	http_reply_json(nc->req, 200, body);
	name_check_cancel(nc);
}

static void check_name(struct http_req *r, const char *name)
{
	const struct config *c = worker_config(http_req_worker(r));
	struct dns_lookup q[2];
	struct name_check *nc;
	char why[160];

	if (dns_name_validate(name, why, sizeof(why)) != NP_OK) {
		http_reply_problem(r, 400, "target", "not an IP address, and not a host name: %s",
				   why);
		return;
	}
	memset(q, 0, sizeof(q));
	snprintf(q[0].name, sizeof(q[0].name), "%s%s", name,
		 name[strlen(name) - 1] == '.' ? "" : ".");
	q[0].qclass = DNS_C_IN;
	q[0].flags = DNS_Q_RD;
	q[0].edns = 1;
	q[0].timeout_ms = c->default_timeout_ms;
	q[0].tries = 2;
	q[1] = q[0];
	q[0].qtype = DNS_T_A;
	q[1].qtype = DNS_T_AAAA;
	nc = calloc(1, sizeof(*nc));
	if (nc == NULL) {
		http_reply_problem(r, 503, NULL, "out of memory");
		return;
	}
	nc->req = r;
	if (dns_group_start(http_req_worker(r), PROBE_DNS, q, 2, 0, on_resolved, nc,
			    &nc->group) != NP_OK) {
		free(nc);
		http_reply_problem(r, 503, NULL, "cannot start resolving the name");
		return;
	}
	http_req_on_cancel(r, name_check_cancel, nc);
}

void handle_policy_check(struct http_req *r)
{
	const char *target = http_req_query(r, "target");
	const char *bad = NULL;
	char inner[TARGET_MAX + 1];
	struct policy_addr addr;
	struct policy_decision d;
	json_t *body = NULL;
	size_t len;
	int bracketed;

	if (!target) {
		bad = "the target parameter is required: an IPv4 or IPv6 address";
		goto done;
	}
	len = strlen(target);
	if (len == 0) {
		bad = "target is empty: give an IPv4 or IPv6 address";
		goto done;
	}
	if (len > TARGET_MAX) {
		bad = "target is too long (more than 255 characters)";
		goto done;
	}
	/* [2001:db8::1] as in URLs (RFC 3986 3.2.2); brackets hold IPv6 only. */
	bracketed = target[0] == '[';
	if (bracketed) {
		if (len < 2 || target[len - 1] != ']') {
			bad = "target starts with '[' but does not end with ']' (no port allowed)";
			goto done;
		}
		len -= 2;
		memcpy(inner, target + 1, len);
	} else {
		memcpy(inner, target, len);
	}
	inner[len] = '\0';

	if (policy_addr_parse(inner, &addr) != NP_OK) {
		bad = not_literal_detail(inner, bracketed);
		if (bad == NULL)
			check_name(r, inner);
		goto done;
	}
	if (bracketed && !strchr(inner, ':')) {
		bad = "brackets are for IPv6 addresses: give an IPv4 address without them";
		goto done;
	}

	policy_check_addr(worker_policy(http_req_worker(r)), &addr, &d);
	/* target is plain ASCII here: it parsed as an address literal. */
	body = json_object();
	if (!body || json_object_set_new(body, "target", json_string(target)) ||
	    decision_json(body, &addr, &d)) {
		json_decref(body);
		http_reply_problem(r, 500, NULL, "out of memory building the response");
		goto done;
	}
	http_reply_json(r, 200, body);
done:
	if (bad)
		http_reply_problem(r, 400, "target", "%s", bad);
}
