/*
 * handlers/policy.c - GET /policy/check?target=X: would the target policy
 * let the service connect to X, and which rule decides.
 *
 * The answer needs no network (parsing and matching take microseconds), so
 * the handler replies before it returns and never suspends the request.
 * The decision is the one every module takes at connect time, from the
 * policy the worker shares with them.
 */
#include "handlers.h"

#include <string.h>
#include <jansson.h>

#include "http.h"
#include "np.h"
#include "policy.h"
#include "worker.h"

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
	/* TODO(dns): resolve names through worker_dns() and report each address */
	return "only IP address literals are accepted for now: host names are not "
	       "resolved yet";
}

void handle_policy_check(struct http_req *r)
{
	const char *target = http_req_query(r, "target");
	const char *bad = NULL;
	char inner[TARGET_MAX + 1];
	char addr_text[POLICY_ADDR_TEXT_MAX];
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
		goto done;
	}
	if (bracketed && !strchr(inner, ':')) {
		bad = "brackets are for IPv6 addresses: give an IPv4 address without them";
		goto done;
	}

	policy_check_addr(worker_policy(http_req_worker(r)), &addr, &d);
	policy_addr_format(&addr, addr_text, sizeof addr_text);
	/* target is plain ASCII here: it parsed as an address literal. */
	body = json_object();
	if (!body || json_object_set_new(body, "target", json_string(target)) ||
	    json_object_set_new(body, "address", json_string(addr_text)) ||
	    json_object_set_new(body, "family",
				json_string(addr.family == AF_INET ? "ipv4" : "ipv6")) ||
	    json_object_set_new(body, "allowed", json_boolean(d.verdict == POLICY_ALLOW)) ||
	    json_object_set_new(body, "verdict",
				json_string(d.verdict == POLICY_ALLOW ? "allow" : "deny")) ||
	    json_object_set_new(body, "rule", json_string(d.rule)) ||
	    json_object_set_new(body, "reason", json_string(d.reason))) {
		json_decref(body);
		http_reply_problem(r, 500, NULL, "out of memory building the response");
		goto done;
	}
	http_reply_json(r, 200, body);
done:
	if (bad)
		http_reply_problem(r, 400, "target", "%s", bad);
}
