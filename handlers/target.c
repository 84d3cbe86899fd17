/* target.c - probe targets: host parsing and the policy's word (see target.h). */
#include "target.h"
#include "dns_wire.h"
#include "http.h"
#include "np.h"
#include "policy.h"
#include "worker.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

int target_parse(struct http_req *r, const char *param, const char *host, unsigned port,
		 union np_sockaddr *addr, socklen_t *addrlen)
{
	char inner[TARGET_HOST_MAX + 1], why[160];
	size_t n = host != NULL ? strlen(host) : 0;

	*addrlen = 0;
	if (n == 0) {
		http_reply_problem(r, 400, param, "%s (an address or a host name) is required", param);
		return -1;
	}
	if (n > TARGET_HOST_MAX) {
		http_reply_problem(r, 400, param, "%s is not an address or a host name", param);
		return -1;
	}
	if (host[0] == '[' && n > 2 && host[n - 1] == ']')
		snprintf(inner, sizeof(inner), "%.*s", (int)(n - 2), host + 1);
	else
		snprintf(inner, sizeof(inner), "%s", host);
	if (np_addr_make(inner, port, addr, addrlen) == 0)
		return 1;
	*addrlen = 0;
	if (host[0] == '[' || strchr(host, ':') != NULL) {
		http_reply_problem(r, 400, param, "'%s' is not a valid IPv6 address", host);
		return -1;
	}
	if (strspn(host, "0123456789.") == n) {
		http_reply_problem(r, 400, param,
				   "'%s' is not a valid IPv4 address: use four decimal parts", host);
		return -1;
	}
	if (dns_name_validate(host, why, sizeof(why)) != NP_OK) {
		http_reply_problem(r, 400, param, "not an address, and not a host name: %s", why);
		return -1;
	}
	return 0;
}

int target_denied(const struct worker *w, const struct sockaddr *sa, char *why, size_t len)
{
	struct policy_decision d;
	struct policy_addr a;
	char text[POLICY_ADDR_TEXT_MAX] = "?";

	policy_check(worker_policy(w), sa, &d);
	if (d.verdict == POLICY_ALLOW)
		return 0;
	if (policy_addr_from_sockaddr(sa, &a) == NP_OK)
		policy_addr_format(&a, text, sizeof(text));
	snprintf(why, len, "the target policy denies %s (rule %s: %s)", text, d.rule, d.reason);
	return 1;
}

int target_check(struct http_req *r, const char *param, const struct sockaddr *sa)
{
	char why[256];

	if (!target_denied(http_req_worker(r), sa, why, sizeof(why)))
		return 0;
	http_reply_problem(r, 403, param, "%s", why);
	return -1;
}

int target_pick(const struct worker *w, const struct sockaddr_storage *addrs, size_t n,
		unsigned port, union np_sockaddr *addr, socklen_t *addrlen, char *why,
		size_t whylen)
{
	for (size_t i = 0; i < n; i++) {
		if (target_denied(w, (const struct sockaddr *)&addrs[i], why, whylen))
			return NP_EDENIED;
	}
	memset(addr, 0, sizeof(*addr));
	memcpy(&addr->ss, &addrs[0], sizeof(addrs[0]));
	if (addr->sa.sa_family == AF_INET) {
		addr->in4.sin_port = htons((uint16_t)port);
		*addrlen = sizeof(addr->in4);
	} else {
		addr->in6.sin6_port = htons((uint16_t)port);
		*addrlen = sizeof(addr->in6);
	}
	return NP_OK;
}
