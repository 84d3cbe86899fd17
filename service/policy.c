/*
 * policy.c - the target policy: CIDR allow and deny lists on top of built-in
 * denies, checked on every address the service is about to connect to.
 *
 * A policy is one allocation: a header and a flat array of rules, the allow
 * list first, then the deny list, then the built-in denies of the preset.
 * Because the explicit deny list and the built-ins both deny, and the deny
 * list comes first, a check is two linear scans: the allow rules, then
 * everything after them; the first rule that matches decides. Each rule is
 * a masked compare of at most 16 bytes, and nothing is allocated, so the
 * check can run for every connect attempt from any thread.
 *
 * Addresses are held in one shape for both families (struct policy_addr);
 * an IPv4-mapped IPv6 address (RFC 4291 section 2.5.5.2) is stored as the
 * IPv4 address it maps, so that "::ffff:169.254.169.254" cannot slip past a
 * rule written as "169.254.0.0/16", nor the reverse.
 */
#include "policy.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "np.h"

/* Longest list entry we look at; real CIDRs are under 50 characters. */
#define POLICY_ENTRY_MAX 96

struct policy_rule {
	struct policy_cidr cidr;
	const char *reason; /* static text reported when this rule decides */
};

struct policy {
	size_t n_allow;
	size_t n_deny;
	size_t n_builtin;
	struct policy_rule rules[]; /* allow, then deny, then built-in */
};

struct builtin_rule {
	const char *cidr;
	const char *reason;
	int public_only; /* only with POLICY_PRESET_PUBLIC_ONLY */
};

/*
 * Within the built-ins the first match decides, so narrower ranges come
 * before the wider ones that hold them: the metadata addresses before the
 * ULA and shared ranges, broadcast before the reserved class E block. The
 * always-denied rules come first for the same reason.
 */
/* clang-format off */
static const struct builtin_rule builtin_rules[] = {
	/* Always denied: metadata services answer with cloud credentials. */
	{"169.254.0.0/16", "link-local / cloud metadata", 0},   /* RFC 3927 */
	{"fe80::/10", "link-local / cloud metadata", 0},        /* RFC 4291 2.5.6 */
	{"fd00:ec2::254/128", "cloud metadata (AWS IPv6)", 0},
	{"100.100.100.200/32", "cloud metadata (Alibaba Cloud)", 0},
	{"224.0.0.0/4", "multicast", 0},                        /* RFC 5771 */
	{"ff00::/8", "multicast", 0},                           /* RFC 4291 2.7 */
	{"255.255.255.255/32", "broadcast", 0},                 /* RFC 919 section 7 */
	/* Linux connects 0.0.0.0 and :: to the local host. */
	{"0.0.0.0/8", "unspecified / this network", 0},         /* RFC 1122 3.2.1.3 */
	{"::/128", "unspecified", 0},                           /* RFC 4291 2.5.2 */
	{"240.0.0.0/4", "reserved", 0},                         /* RFC 1112 section 4 */

	/* The public-only preset: nothing on this host or a private network. */
	{"127.0.0.0/8", "loopback (public-only preset)", 1},    /* RFC 1122 3.2.1.3 */
	{"::1/128", "loopback (public-only preset)", 1},        /* RFC 4291 2.5.3 */
	{"10.0.0.0/8", "private network (public-only preset)", 1}, /* RFC 1918 */
	{"172.16.0.0/12", "private network (public-only preset)", 1},
	{"192.168.0.0/16", "private network (public-only preset)", 1},
	{"100.64.0.0/10", "shared address space / CGNAT (public-only preset)", 1}, /* RFC 6598 */
	{"fc00::/7", "unique local (public-only preset)", 1},   /* RFC 4193 */
	/* Translators and tunnels could carry a connection to any IPv4 address. */
	{"64:ff9b::/96", "NAT64 (public-only preset)", 1},      /* RFC 6052 */
	{"64:ff9b:1::/48", "NAT64 local use (public-only preset)", 1}, /* RFC 8215 */
	{"2002::/16", "6to4 (public-only preset)", 1},          /* RFC 3056 */
	{"2001::/32", "Teredo (public-only preset)", 1},        /* RFC 4380 */
	{"192.0.0.0/24", "IETF protocol assignments (public-only preset)", 1}, /* RFC 6890 */
	{"198.18.0.0/15", "benchmarking (public-only preset)", 1}, /* RFC 2544 */
	{"192.0.2.0/24", "documentation (public-only preset)", 1}, /* RFC 5737 */
	{"198.51.100.0/24", "documentation (public-only preset)", 1},
	{"203.0.113.0/24", "documentation (public-only preset)", 1},
	{"2001:db8::/32", "documentation (public-only preset)", 1}, /* RFC 3849 */
	{"100::/64", "discard-only (public-only preset)", 1},   /* RFC 6666 */
};
/* clang-format on */

static const char reason_allow_list[] = "explicit allow list";
static const char reason_deny_list[] = "explicit deny list";
static const char reason_default[] = "not in any list: allowed by default";
static const char reason_not_ip[] = "not an IPv4 or IPv6 address: denied";
static const char reason_no_policy[] = "no policy configured: denied";


static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static unsigned family_bits(int family)
{
	return family == AF_INET ? 32u : 128u;
}

/* ::ffff:a.b.c.d (RFC 4291 2.5.5.2): ten zero bytes, then two 0xff. */
static int addr_is_v4_mapped(const struct policy_addr *a)
{
	static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return a->family == AF_INET6 && memcmp(a->bytes, prefix, sizeof prefix) == 0;
}

static void addr_unmap_v4(struct policy_addr *a)
{
	unsigned char v4[4];

	memcpy(v4, a->bytes + 12, sizeof v4);
	memset(a->bytes, 0, sizeof a->bytes);
	memcpy(a->bytes, v4, sizeof v4);
	a->family = AF_INET;
}

/* Parses a literal as written, without turning v4-mapped into IPv4. */
static int addr_parse_raw(const char *text, struct policy_addr *out)
{
	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, text, out->bytes) == 1) {
		out->family = AF_INET;
		return NP_OK;
	}
	if (inet_pton(AF_INET6, text, out->bytes) == 1) {
		out->family = AF_INET6;
		return NP_OK;
	}
	memset(out, 0, sizeof *out);
	return NP_EINVAL;
}

/* Clears every bit past the first `prefix` bits. */
static void addr_mask(struct policy_addr *a, unsigned prefix)
{
	unsigned i;

	for (i = 0; i < sizeof a->bytes; i++) {
		unsigned start = i * 8u;

		if (prefix >= start + 8u)
			continue;
		if (prefix <= start)
			a->bytes[i] = 0;
		else
			a->bytes[i] &= (unsigned char)(0xffu << (8u - (prefix - start)));
	}
}

static int cidr_contains(const struct policy_cidr *c, const struct policy_addr *a)
{
	unsigned full = c->prefix / 8u;
	unsigned rest = c->prefix % 8u;
	unsigned char mask;

	if (c->net.family != a->family)
		return 0;
	if (memcmp(c->net.bytes, a->bytes, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xffu << (8u - rest));
	return (a->bytes[full] & mask) == c->net.bytes[full];
}

static const struct policy_rule *rules_find(const struct policy_rule *rules, size_t n,
					    const struct policy_addr *a)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (cidr_contains(&rules[i].cidr, a))
			return &rules[i];
	}
	return NULL;
}

int policy_addr_parse(const char *text, struct policy_addr *out)
{
	int rc;

	if (!text) {
		memset(out, 0, sizeof *out);
		return NP_EINVAL;
	}
	rc = addr_parse_raw(text, out);
	if (rc == NP_OK && addr_is_v4_mapped(out))
		addr_unmap_v4(out);
	return rc;
}

int policy_addr_from_sockaddr(const struct sockaddr *sa, struct policy_addr *out)
{
	memset(out, 0, sizeof *out);
	if (!sa)
		return NP_EINVAL;
	/* Copies rather than casts: the caller's storage may be a plain sockaddr. */
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in sin;

		memcpy(&sin, sa, sizeof sin);
		memcpy(out->bytes, &sin.sin_addr, 4);
		out->family = AF_INET;
		return NP_OK;
	}
	if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, sa, sizeof sin6);
		memcpy(out->bytes, &sin6.sin6_addr, 16);
		out->family = AF_INET6;
		if (addr_is_v4_mapped(out))
			addr_unmap_v4(out);
		return NP_OK;
	}
	return NP_EINVAL;
}

void policy_addr_format(const struct policy_addr *a, char *buf, size_t len)
{
	if (len == 0)
		return;
	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    !inet_ntop(a->family, a->bytes, buf, (socklen_t)len))
		buf[0] = '\0';
}

void policy_cidr_format(const struct policy_cidr *c, char *buf, size_t len)
{
	char addr[POLICY_ADDR_TEXT_MAX];

	policy_addr_format(&c->net, addr, sizeof addr);
	if (len > 0)
		snprintf(buf, len, "%s/%u", addr, c->prefix);
}

/*
 * Reads the prefix length after the '/': one to three decimal digits, at
 * most max. Signs, blanks and anything else are refused, so that a typo
 * never silently becomes a different network.
 */
static int parse_prefix(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		if (s[n] < '0' || s[n] > '9' || n >= 3)
			return NP_EINVAL;
		v = v * 10u + (unsigned)(s[n] - '0');
	}
	if (n == 0 || v > max)
		return NP_EINVAL;
	*out = v;
	return NP_OK;
}

int policy_parse_cidr(const char *text, struct policy_cidr *out, char *err, size_t errlen)
{
	char addr_text[POLICY_ADDR_TEXT_MAX];
	const char *slash;
	size_t addr_len;
	unsigned max;
	unsigned prefix;
	int rc = NP_EINVAL;

	memset(out, 0, sizeof *out);
	if (!text) {
		np_set_err(err, errlen, "no CIDR given");
		goto done;
	}
	if (text[0] == '\0') {
		np_set_err(err, errlen, "bad CIDR \"\": empty");
		goto done;
	}
	slash = strchr(text, '/');
	addr_len = slash ? (size_t)(slash - text) : strlen(text);
	if (addr_len == 0) {
		np_set_err(err, errlen, "bad CIDR \"%.64s\": no address before the '/'", text);
		goto done;
	}
	if (addr_len >= sizeof addr_text) {
		np_set_err(err, errlen, "bad CIDR \"%.64s\": address part is too long", text);
		goto done;
	}
	memcpy(addr_text, text, addr_len);
	addr_text[addr_len] = '\0';
	if (addr_parse_raw(addr_text, &out->net) != NP_OK) {
		np_set_err(err, errlen, "bad CIDR \"%.64s\": \"%s\" is not an IPv4 or IPv6 address",
			text, addr_text);
		goto done;
	}
	max = family_bits(out->net.family);
	prefix = max;
	if (slash && parse_prefix(slash + 1, max, &prefix) != NP_OK) {
		np_set_err(err, errlen,
			"bad CIDR \"%.64s\": prefix length \"%.8s\" is not a number "
			"from 0 to %u for %s",
			text, slash + 1, max, out->net.family == AF_INET ? "IPv4" : "IPv6");
		goto done;
	}
	/*
	 * A v4-mapped network of /96 or longer holds only mapped addresses,
	 * which are matched as IPv4; a shorter one also covers other IPv6
	 * space and stays IPv6 (after masking it no longer looks mapped).
	 */
	if (addr_is_v4_mapped(&out->net) && prefix >= 96u) {
		addr_unmap_v4(&out->net);
		prefix -= 96u;
	}
	addr_mask(&out->net, prefix);
	out->prefix = prefix;
	rc = NP_OK;
done:
	if (rc != NP_OK)
		memset(out, 0, sizeof *out);
	return rc;
}

/* Entries in a comma-separated list: 0 if it is NULL or only blanks. */
static size_t list_count(const char *csv)
{
	size_t n = 1;
	const char *s;

	if (!csv)
		return 0;
	for (s = csv; is_blank(*s); s++)
		;
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (*s == ',')
			n++;
	}
	return n;
}

/*
 * Parses every entry of csv into rules[0..n), each tagged with reason.
 * `what` names the list in error messages ("allow list").
 */
static int list_parse(const char *what, const char *csv, const char *reason,
		      struct policy_rule *rules, size_t n, char *err, size_t errlen)
{
	char entry[POLICY_ENTRY_MAX];
	char why[160];
	const char *s = csv;
	size_t i;
	int rc = NP_OK;

	for (i = 0; i < n; i++) {
		const char *end = strchr(s, ',');
		size_t len;

		if (!end)
			end = s + strlen(s);
		while (s < end && is_blank(*s))
			s++;
		len = (size_t)(end - s);
		while (len > 0 && is_blank(s[len - 1]))
			len--;
		if (len == 0) {
			np_set_err(err, errlen, "%s: entry %zu is empty (stray comma?)", what, i + 1);
			rc = NP_EINVAL;
			goto done;
		}
		if (len >= sizeof entry) {
			np_set_err(err, errlen, "%s: entry %zu is too long to be a CIDR: \"%.40s...\"",
				what, i + 1, s);
			rc = NP_EINVAL;
			goto done;
		}
		memcpy(entry, s, len);
		entry[len] = '\0';
		rc = policy_parse_cidr(entry, &rules[i].cidr, why, sizeof why);
		if (rc != NP_OK) {
			np_set_err(err, errlen, "%s: %s", what, why);
			goto done;
		}
		rules[i].reason = reason;
		s = *end == ',' ? end + 1 : end;
	}
done:
	return rc;
}

int policy_new(enum policy_preset preset, const char *allow_csv, const char *deny_csv,
	       struct policy **out, char *err, size_t errlen)
{
	struct policy *p = NULL;
	struct policy_rule *builtin;
	size_t n_allow = list_count(allow_csv);
	size_t n_deny = list_count(deny_csv);
	size_t n_builtin = 0;
	size_t i;
	char why[160];
	int rc = NP_EINVAL;

	*out = NULL;
	if (preset != POLICY_PRESET_DEFAULT && preset != POLICY_PRESET_PUBLIC_ONLY) {
		np_set_err(err, errlen, "unknown policy preset %d", (int)preset);
		goto done;
	}
	if (n_allow > POLICY_LIST_MAX || n_deny > POLICY_LIST_MAX) {
		np_set_err(err, errlen, "%s list has %zu entries, more than the limit of %d",
			n_allow > POLICY_LIST_MAX ? "allow" : "deny",
			n_allow > POLICY_LIST_MAX ? n_allow : n_deny, POLICY_LIST_MAX);
		goto done;
	}
	for (i = 0; i < NP_ARRAY_LEN(builtin_rules); i++) {
		if (!builtin_rules[i].public_only || preset == POLICY_PRESET_PUBLIC_ONLY)
			n_builtin++;
	}

	p = calloc(1, sizeof *p + (n_allow + n_deny + n_builtin) * sizeof p->rules[0]);
	if (!p) {
		np_set_err(err, errlen, "out of memory building the target policy");
		rc = NP_ENOMEM;
		goto done;
	}
	p->n_allow = n_allow;
	p->n_deny = n_deny;
	p->n_builtin = n_builtin;

	rc = list_parse("allow list", allow_csv, reason_allow_list, p->rules, n_allow, err, errlen);
	if (rc != NP_OK)
		goto done;
	rc = list_parse("deny list", deny_csv, reason_deny_list, p->rules + n_allow, n_deny, err,
			errlen);
	if (rc != NP_OK)
		goto done;

	builtin = p->rules + n_allow + n_deny;
	for (i = 0; i < NP_ARRAY_LEN(builtin_rules); i++) {
		if (builtin_rules[i].public_only && preset != POLICY_PRESET_PUBLIC_ONLY)
			continue;
		/* The table is ours; a failure here is a bug the unit tests catch. */
		rc = policy_parse_cidr(builtin_rules[i].cidr, &builtin->cidr, why, sizeof why);
		if (rc != NP_OK) {
			np_set_err(err, errlen, "built-in rule: %s", why);
			goto done;
		}
		builtin->reason = builtin_rules[i].reason;
		builtin++;
	}

	*out = p;
	p = NULL;
	rc = NP_OK;
done:
	policy_free(p);
	return rc;
}

void policy_free(struct policy *p)
{
	free(p);
}

static void decide(struct policy_decision *d, enum policy_verdict verdict, const char *rule,
		   const char *reason)
{
	d->verdict = verdict;
	snprintf(d->rule, sizeof d->rule, "%s", rule);
	d->reason = reason;
}

void policy_check_addr(const struct policy *p, const struct policy_addr *a,
		       struct policy_decision *d)
{
	const struct policy_rule *hit;
	enum policy_verdict verdict = POLICY_ALLOW;

	assert(d);
	if (!p) {
		decide(d, POLICY_DENY, "default", reason_no_policy);
		return;
	}
	if (!a || (a->family != AF_INET && a->family != AF_INET6)) {
		decide(d, POLICY_DENY, "default", reason_not_ip);
		return;
	}
	/* Any allow match wins; then the deny list, then the built-ins, in one run. */
	hit = rules_find(p->rules, p->n_allow, a);
	if (!hit) {
		verdict = POLICY_DENY;
		hit = rules_find(p->rules + p->n_allow, p->n_deny + p->n_builtin, a);
	}
	if (!hit) {
		decide(d, POLICY_ALLOW, "default", reason_default);
		return;
	}
	d->verdict = verdict;
	policy_cidr_format(&hit->cidr, d->rule, sizeof d->rule);
	d->reason = hit->reason;
}

void policy_check(const struct policy *p, const struct sockaddr *sa, struct policy_decision *d)
{
	struct policy_addr a;

	if (policy_addr_from_sockaddr(sa, &a) != NP_OK) {
		policy_check_addr(p, NULL, d);
		return;
	}
	policy_check_addr(p, &a, d);
}

void policy_check_ip(const struct policy *p, const char *ip_text, struct policy_decision *d,
		     int *valid)
{
	struct policy_addr a;
	int ok = policy_addr_parse(ip_text, &a) == NP_OK;

	if (valid)
		*valid = ok;
	policy_check_addr(p, ok ? &a : NULL, d);
}
