/*
 * policy.h - the target policy: which addresses the service may connect to.
 *
 * netprobe opens connections on behalf of its callers, so without a policy it
 * is an SSRF tool. Every module asks the policy about the resolved address
 * just before it opens a socket (curl's open-socket callback, the scanner's
 * and sock module's connect, custom DNS servers), so redirects and DNS
 * rebinding cannot reach a denied address. GET /policy/check exposes the
 * same decision to users.
 *
 * A decision is taken in this order:
 *   1. the explicit allow list (--allow-cidrs): any match allows;
 *   2. the explicit deny list (--deny-cidrs): any match denies;
 *   3. the built-in denies: link-local and cloud metadata, multicast,
 *      broadcast, unspecified and reserved ranges always; with the
 *      public-only preset also loopback, private, shared, NAT64, 6to4,
 *      Teredo, documentation and benchmarking ranges;
 *   4. otherwise the address is allowed.
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are turned into IPv4 before
 * matching, both in the lists and in the addresses checked, so one rule
 * covers both spellings.
 *
 * A policy is immutable once built: every function taking a
 * `const struct policy *` is thread-safe, and one policy is shared
 * read-only by all worker threads. Matching is a linear scan of a few dozen
 * masked compares and allocates nothing, so it is cheap enough to run for
 * every connect attempt of a port scan.
 */
#ifndef NP_POLICY_H
#define NP_POLICY_H

#include <stddef.h>
#include <sys/socket.h>

#include "config.h" /* enum policy_preset */

struct policy;

enum policy_verdict { POLICY_ALLOW = 0, POLICY_DENY = 1 };

/* Room for the longest CIDR text, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128". */
#define POLICY_RULE_MAX 64
/* Room for the longest address text (INET6_ADDRSTRLEN). */
#define POLICY_ADDR_TEXT_MAX 46
/* Most entries accepted in one allow or deny list. */
#define POLICY_LIST_MAX 1024

struct policy_decision {
	enum policy_verdict verdict;
	char rule[POLICY_RULE_MAX]; /* the CIDR that decided, e.g. "169.254.0.0/16", or "default" */
	const char *reason;	    /* static text naming the category that matched */
};

/*
 * An address in the form the policy matches on. `family` is AF_INET or
 * AF_INET6; bytes are in network order, IPv4 in the first four. An
 * IPv4-mapped IPv6 address is always held as IPv4.
 */
struct policy_addr {
	int family;
	unsigned char bytes[16];
};

/* A network: the address with every bit past `prefix` cleared. */
struct policy_cidr {
	struct policy_addr net;
	unsigned prefix; /* 0-32 for IPv4, 0-128 for IPv6 */
};

/*
 * Builds a policy from a preset and two comma-separated CIDR lists
 * (borrowed; NULL, "" or blanks mean an empty list; blanks around entries
 * are ignored, empty entries are an error). On NP_EINVAL `err` holds one
 * line naming the list and the bad entry; NP_ENOMEM if allocation fails.
 * *out is set only on NP_OK and is the caller's (policy_free).
 * err may be NULL when errlen is 0.
 */
int policy_new(enum policy_preset preset, const char *allow_csv, const char *deny_csv,
	       struct policy **out, char *err, size_t errlen);
void policy_free(struct policy *p); /* NULL-safe */

/*
 * Decides about the address in sa (AF_INET or AF_INET6; the port is
 * ignored). Anything else, a NULL sa or a NULL policy, is denied, so that a
 * caller's mistake fails closed. Thread-safe, allocation-free.
 */
void policy_check(const struct policy *p, const struct sockaddr *sa, struct policy_decision *d);
/* Same, for an address already in policy form. */
void policy_check_addr(const struct policy *p, const struct policy_addr *a,
		       struct policy_decision *d);
/*
 * Same, for an address literal such as "10.0.0.1" or "::1" (no brackets,
 * port or zone). *valid is set to 1 if ip_text is a literal, else 0 and the
 * decision is a denial; valid may be NULL.
 */
void policy_check_ip(const struct policy *p, const char *ip_text, struct policy_decision *d,
		     int *valid);

/*
 * Parses an address literal: dotted-quad IPv4 (no leading zeros, no short
 * forms like "10.1") or IPv6 text; ::ffff:a.b.c.d becomes IPv4.
 * Returns NP_OK or NP_EINVAL.
 */
int policy_addr_parse(const char *text, struct policy_addr *out);
/* Takes the address of an AF_INET or AF_INET6 sockaddr; NP_EINVAL otherwise. */
int policy_addr_from_sockaddr(const struct sockaddr *sa, struct policy_addr *out);
/* Writes the address as text ("10.0.0.1", "2001:db8::1"); len >= POLICY_ADDR_TEXT_MAX. */
void policy_addr_format(const struct policy_addr *a, char *buf, size_t len);

/*
 * Parses "address/prefix" or a bare address (a host route: /32 or /128).
 * Host bits past the prefix are accepted and cleared. A v4-mapped network
 * with a prefix of 96 or more becomes the IPv4 network it covers. Returns
 * NP_OK, or NP_EINVAL with a message naming the text and what is wrong in
 * err (err may be NULL when errlen is 0). Exposed for tests and fuzzing.
 */
int policy_parse_cidr(const char *text, struct policy_cidr *out, char *err, size_t errlen);
/* Writes the network as "address/prefix"; len >= POLICY_RULE_MAX. */
void policy_cidr_format(const struct policy_cidr *c, char *buf, size_t len);

#endif
