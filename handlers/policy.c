/*
 * handlers/policy.c - GET /policy/check?target=X: would the target policy
 * let the service connect to X, and which rule decides.
 *
 * For an address literal the answer needs no network (parsing and matching
 * take microseconds), so the handler replies before it returns. A host name
 * is resolved as every module resolves names before connecting (/etc/hosts,
 * then A and AAAA through the worker's DNS module) and every address judged, as a probe would judge each at connect time; the name
 * is allowed only if every address is.
 */
#include "handlers.h"

#include <string.h>
#include <jansson.h>

#include "dns.h"
#include "dns_wire.h"
#include "http.h"
#include "np.h"
#include "policy.h"
#include "worker.h"

#include <stdio.h>
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

/* ---- host names: resolve (/etc/hosts, A, AAAA), judge every address ---- */

struct name_check {
	struct http_req *req;
	struct dns_op *op;
	char name[DNS_NAME_TEXT_MAX];
};

static void name_check_cancel(void *ud)
{
	struct name_check *nc = ud;

	dns_op_cancel(nc->op);
	free(nc);
}

static void on_resolved(enum np_status st, const char *detail,
			const struct sockaddr_storage *addrs, size_t n, void *ud)
{
	struct name_check *nc = ud;
	const struct policy *pol = worker_policy(http_req_worker(nc->req));
	json_t *list = json_array();
	json_t *body;
	int all_allowed = 1;

	for (size_t i = 0; i < n; i++) {
		struct policy_addr addr;
		struct policy_decision d;
		json_t *one;

		if (policy_addr_from_sockaddr((const struct sockaddr *)&addrs[i], &addr) != NP_OK)
			continue;
		policy_check_addr(pol, &addr, &d);
		all_allowed &= d.verdict == POLICY_ALLOW;
		one = json_object();
		decision_json(one, &addr, &d);
		json_array_append_new(list, one);
	}
	body = json_pack("{s:s, s:s}", "target", nc->name, "name", nc->name);
	if (json_array_size(list) == 0) {
		/* Nothing to connect to: a finding, not a request error. */
		json_object_set_new(body, "allowed", json_false());
		json_object_set_new(body, "verdict", json_string("unresolved"));
		json_object_set_new(body, "error",
				    json_pack("{s:s, s:s}", "code",
					      st == NP_OK ? "not_found" : np_status_code(st),
					      "message", detail ? detail : "the name has no addresses"));
	} else {
		json_object_set_new(body, "allowed", json_boolean(all_allowed));
		json_object_set_new(body, "verdict", json_string(all_allowed ? "allow" : "deny"));
	}
	json_object_set_new(body, "addresses", list);
	nc->op = NULL;
	http_reply_json(nc->req, 200, body);
	free(nc);
}

static void check_name(struct http_req *r, const char *name)
{
	const struct config *c = worker_config(http_req_worker(r));
	struct name_check *nc;
	char why[160];
	size_t len = strlen(name);

	if (dns_name_validate(name, why, sizeof(why)) != NP_OK) {
		http_reply_problem(r, 400, "target", "not an IP address, and not a host name: %s",
				   why);
		return;
	}
	nc = calloc(1, sizeof(*nc));
	if (nc == NULL) {
		http_reply_problem(r, 503, NULL, "out of memory");
		return;
	}
	nc->req = r;
	snprintf(nc->name, sizeof(nc->name), "%s%s", name, name[len - 1] == '.' ? "" : ".");
	/* The name as other modules resolve it before connecting: /etc/hosts,
	 * then A and AAAA. */
	if (dns_resolve(worker_dns(http_req_worker(r)), name, c->default_timeout_ms, on_resolved, nc,
			&nc->op) != NP_OK) {
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
