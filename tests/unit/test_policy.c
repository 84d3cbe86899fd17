/*
 * test_policy.c - unit tests of the target policy (service/policy.c): CIDR
 * parsing and its error messages, the edges of every built-in range in both
 * presets, v4-mapped normalisation, the order allow > deny > built-in, and
 * policy_new()'s allocation failing.
 *
 * Every address check is made twice, once from text and once from a
 * sockaddr built from the same text, so both entry points agree.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "np.h"
#include "policy.h"
#include "support/alloc_fail.h"

#define ALLOW POLICY_ALLOW
#define DENY POLICY_DENY

#define R_DEFAULT "not in any list: allowed by default"
#define R_ALLOW "explicit allow list"
#define R_DENY "explicit deny list"
#define R_LINKLOCAL "link-local / cloud metadata"
#define R_AWS "cloud metadata (AWS IPv6)"
#define R_ALIBABA "cloud metadata (Alibaba Cloud)"
#define R_MULTICAST "multicast"
#define R_BROADCAST "broadcast"
#define R_THISNET "unspecified / this network"
#define R_UNSPEC "unspecified"
#define R_RESERVED "reserved"
#define R_LOOPBACK "loopback (public-only preset)"
#define R_PRIVATE "private network (public-only preset)"
#define R_CGNAT "shared address space / CGNAT (public-only preset)"
#define R_ULA "unique local (public-only preset)"
#define R_NAT64 "NAT64 (public-only preset)"
#define R_NAT64_LOCAL "NAT64 local use (public-only preset)"
#define R_6TO4 "6to4 (public-only preset)"
#define R_TEREDO "Teredo (public-only preset)"
#define R_IETF "IETF protocol assignments (public-only preset)"
#define R_BENCH "benchmarking (public-only preset)"
#define R_DOC "documentation (public-only preset)"
#define R_DISCARD "discard-only (public-only preset)"

#define MAX6 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

struct expect {
	const char *ip;
	enum policy_verdict verdict;
	const char *rule;
	const char *reason;
};

static struct policy *make_policy(enum policy_preset preset, const char *allow, const char *deny)
{
	struct policy *p = NULL;
	char err[256] = "";
	int rc = policy_new(preset, allow, deny, &p, err, sizeof err);

	if (rc != NP_OK)
		fail_msg("policy_new(%s, %s) failed: %s", allow ? allow : "NULL",
			 deny ? deny : "NULL", err);
	assert_non_null(p);
	return p;
}

/* Builds a sockaddr from text as written (no v4-mapped normalisation). */
static void make_sockaddr(const char *ip, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (strchr(ip, ':')) {
		struct sockaddr_in6 sin6;

		memset(&sin6, 0, sizeof sin6);
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(443);
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
		memcpy(ss, &sin6, sizeof sin6);
	} else {
		struct sockaddr_in sin;

		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_port = htons(80);
		assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
		memcpy(ss, &sin, sizeof sin);
	}
}

static void expect_decision(const char *what, const struct policy_decision *d,
			    const struct expect *e)
{
	if (d->verdict != e->verdict || strcmp(d->rule, e->rule) != 0 ||
	    (e->reason && (!d->reason || strcmp(d->reason, e->reason) != 0)))
		fail_msg(
		    "%s %s: got %s rule \"%s\" reason \"%s\"; want %s rule \"%s\" reason \"%s\"",
		    what, e->ip, d->verdict == ALLOW ? "allow" : "deny", d->rule,
		    d->reason ? d->reason : "(null)", e->verdict == ALLOW ? "allow" : "deny",
		    e->rule, e->reason ? e->reason : "(any)");
}

static void check_table(const struct policy *p, const struct expect *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct policy_decision d;
		struct sockaddr_storage ss;
		int valid = -1;

		memset(&d, 0xa5, sizeof d);
		policy_check_ip(p, t[i].ip, &d, &valid);
		if (valid != 1)
			fail_msg("%s: not accepted as an address literal", t[i].ip);
		expect_decision("text", &d, &t[i]);

		memset(&d, 0xa5, sizeof d);
		make_sockaddr(t[i].ip, &ss);
		policy_check(p, (const struct sockaddr *)&ss, &d);
		expect_decision("sockaddr", &d, &t[i]);
	}
}

/* Denied whatever the preset: the edges of every always-on range. */
/* clang-format off */
static const struct expect always_denied[] = {
	{"169.254.0.0", DENY, "169.254.0.0/16", R_LINKLOCAL},
	{"169.254.169.254", DENY, "169.254.0.0/16", R_LINKLOCAL},
	{"169.254.255.255", DENY, "169.254.0.0/16", R_LINKLOCAL},
	{"169.253.255.255", ALLOW, "default", R_DEFAULT},
	{"169.255.0.0", ALLOW, "default", R_DEFAULT},

	{"fe80::", DENY, "fe80::/10", R_LINKLOCAL},
	{"fe80::a9fe:a9fe", DENY, "fe80::/10", R_LINKLOCAL},
	{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", DENY, "fe80::/10", R_LINKLOCAL},
	{"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ALLOW, "default", R_DEFAULT},
	{"fec0::", ALLOW, "default", R_DEFAULT},

	{"fd00:ec2::254", DENY, "fd00:ec2::254/128", R_AWS},

	{"100.100.100.200", DENY, "100.100.100.200/32", R_ALIBABA},

	{"224.0.0.0", DENY, "224.0.0.0/4", R_MULTICAST},
	{"239.255.255.255", DENY, "224.0.0.0/4", R_MULTICAST},
	{"223.255.255.255", ALLOW, "default", R_DEFAULT},

	{"240.0.0.0", DENY, "240.0.0.0/4", R_RESERVED},
	{"255.255.255.254", DENY, "240.0.0.0/4", R_RESERVED},
	{"255.255.255.255", DENY, "255.255.255.255/32", R_BROADCAST},

	{"ff00::", DENY, "ff00::/8", R_MULTICAST},
	{"ff02::1", DENY, "ff00::/8", R_MULTICAST},
	{MAX6, DENY, "ff00::/8", R_MULTICAST},
	{"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ALLOW, "default", R_DEFAULT},

	{"0.0.0.0", DENY, "0.0.0.0/8", R_THISNET},
	{"0.255.255.255", DENY, "0.0.0.0/8", R_THISNET},
	{"1.0.0.0", ALLOW, "default", R_DEFAULT},
	{"::", DENY, "::/128", R_UNSPEC},
	{"::2", ALLOW, "default", R_DEFAULT},

	{"8.8.8.8", ALLOW, "default", R_DEFAULT},
	{"1.1.1.1", ALLOW, "default", R_DEFAULT},
	{"2606:4700:4700::1111", ALLOW, "default", R_DEFAULT},
	{"2a00:1450:4001:80b::200e", ALLOW, "default", R_DEFAULT},
};
/* clang-format on */

/* What the default preset lets through and public-only does not. */
/* clang-format off */
static const struct expect default_allowed[] = {
	{"127.0.0.1", ALLOW, "default", R_DEFAULT},
	{"::1", ALLOW, "default", R_DEFAULT},
	{"10.0.0.1", ALLOW, "default", R_DEFAULT},
	{"172.16.0.1", ALLOW, "default", R_DEFAULT},
	{"192.168.1.1", ALLOW, "default", R_DEFAULT},
	{"100.64.0.1", ALLOW, "default", R_DEFAULT},
	{"100.100.100.199", ALLOW, "default", R_DEFAULT},
	{"100.100.100.201", ALLOW, "default", R_DEFAULT},
	{"fc00::1", ALLOW, "default", R_DEFAULT},
	{"fd00:ec2::253", ALLOW, "default", R_DEFAULT},
	{"fd00:ec2::255", ALLOW, "default", R_DEFAULT},
	{"64:ff9b::808:808", ALLOW, "default", R_DEFAULT},
	{"2002::1", ALLOW, "default", R_DEFAULT},
	{"2001::1", ALLOW, "default", R_DEFAULT},
	{"192.0.2.1", ALLOW, "default", R_DEFAULT},
	{"198.18.0.1", ALLOW, "default", R_DEFAULT},
	{"2001:db8::1", ALLOW, "default", R_DEFAULT},
	{"100::1", ALLOW, "default", R_DEFAULT},
};
/* clang-format on */

/* The edges of every range the public-only preset adds. */
/* clang-format off */
static const struct expect public_only[] = {
	{"127.0.0.0", DENY, "127.0.0.0/8", R_LOOPBACK},
	{"127.0.0.1", DENY, "127.0.0.0/8", R_LOOPBACK},
	{"127.255.255.255", DENY, "127.0.0.0/8", R_LOOPBACK},
	{"126.255.255.255", ALLOW, "default", R_DEFAULT},
	{"128.0.0.0", ALLOW, "default", R_DEFAULT},
	{"::1", DENY, "::1/128", R_LOOPBACK},
	{"::2", ALLOW, "default", R_DEFAULT},

	{"10.0.0.0", DENY, "10.0.0.0/8", R_PRIVATE},
	{"10.255.255.255", DENY, "10.0.0.0/8", R_PRIVATE},
	{"9.255.255.255", ALLOW, "default", R_DEFAULT},
	{"11.0.0.0", ALLOW, "default", R_DEFAULT},
	{"172.16.0.0", DENY, "172.16.0.0/12", R_PRIVATE},
	{"172.31.255.255", DENY, "172.16.0.0/12", R_PRIVATE},
	{"172.15.255.255", ALLOW, "default", R_DEFAULT},
	{"172.32.0.0", ALLOW, "default", R_DEFAULT},
	{"192.168.0.0", DENY, "192.168.0.0/16", R_PRIVATE},
	{"192.168.255.255", DENY, "192.168.0.0/16", R_PRIVATE},
	{"192.167.255.255", ALLOW, "default", R_DEFAULT},
	{"192.169.0.0", ALLOW, "default", R_DEFAULT},

	{"100.64.0.0", DENY, "100.64.0.0/10", R_CGNAT},
	{"100.127.255.255", DENY, "100.64.0.0/10", R_CGNAT},
	{"100.63.255.255", ALLOW, "default", R_DEFAULT},
	{"100.128.0.0", ALLOW, "default", R_DEFAULT},
	/* The narrower built-in inside a wider one still names itself. */
	{"100.100.100.200", DENY, "100.100.100.200/32", R_ALIBABA},
	{"100.100.100.201", DENY, "100.64.0.0/10", R_CGNAT},

	{"fc00::", DENY, "fc00::/7", R_ULA},
	{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", DENY, "fc00::/7", R_ULA},
	{"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ALLOW, "default", R_DEFAULT},
	{"fe00::", ALLOW, "default", R_DEFAULT},
	{"fd00:ec2::254", DENY, "fd00:ec2::254/128", R_AWS},
	{"fd00:ec2::253", DENY, "fc00::/7", R_ULA},

	{"64:ff9b::", DENY, "64:ff9b::/96", R_NAT64},
	{"64:ff9b::a9fe:a9fe", DENY, "64:ff9b::/96", R_NAT64},
	{"64:ff9b::ffff:ffff", DENY, "64:ff9b::/96", R_NAT64},
	{"64:ff9b::1:0:0", ALLOW, "default", R_DEFAULT},
	{"64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", ALLOW, "default", R_DEFAULT},
	{"64:ff9b:1::", DENY, "64:ff9b:1::/48", R_NAT64_LOCAL},
	{"64:ff9b:1:ffff:ffff:ffff:ffff:ffff", DENY, "64:ff9b:1::/48", R_NAT64_LOCAL},
	{"64:ff9b:0:ffff:ffff:ffff:ffff:ffff", ALLOW, "default", R_DEFAULT},
	{"64:ff9b:2::", ALLOW, "default", R_DEFAULT},

	{"2002::", DENY, "2002::/16", R_6TO4},
	{"2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", DENY, "2002::/16", R_6TO4},
	{"2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ALLOW, "default", R_DEFAULT},
	{"2003::", ALLOW, "default", R_DEFAULT},

	{"2001::", DENY, "2001::/32", R_TEREDO},
	{"2001:0:ffff:ffff:ffff:ffff:ffff:ffff", DENY, "2001::/32", R_TEREDO},
	{"2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ALLOW, "default", R_DEFAULT},
	{"2001:1::", ALLOW, "default", R_DEFAULT},

	{"192.0.0.0", DENY, "192.0.0.0/24", R_IETF},
	{"192.0.0.255", DENY, "192.0.0.0/24", R_IETF},
	{"191.255.255.255", ALLOW, "default", R_DEFAULT},
	{"192.0.1.0", ALLOW, "default", R_DEFAULT},

	{"198.18.0.0", DENY, "198.18.0.0/15", R_BENCH},
	{"198.19.255.255", DENY, "198.18.0.0/15", R_BENCH},
	{"198.17.255.255", ALLOW, "default", R_DEFAULT},
	{"198.20.0.0", ALLOW, "default", R_DEFAULT},

	{"192.0.2.0", DENY, "192.0.2.0/24", R_DOC},
	{"192.0.2.255", DENY, "192.0.2.0/24", R_DOC},
	{"192.0.1.255", ALLOW, "default", R_DEFAULT},
	{"192.0.3.0", ALLOW, "default", R_DEFAULT},
	{"198.51.100.0", DENY, "198.51.100.0/24", R_DOC},
	{"198.51.100.255", DENY, "198.51.100.0/24", R_DOC},
	{"198.51.99.255", ALLOW, "default", R_DEFAULT},
	{"198.51.101.0", ALLOW, "default", R_DEFAULT},
	{"203.0.113.0", DENY, "203.0.113.0/24", R_DOC},
	{"203.0.113.255", DENY, "203.0.113.0/24", R_DOC},
	{"203.0.112.255", ALLOW, "default", R_DEFAULT},
	{"203.0.114.0", ALLOW, "default", R_DEFAULT},
	{"2001:db8::", DENY, "2001:db8::/32", R_DOC},
	{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", DENY, "2001:db8::/32", R_DOC},
	{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", ALLOW, "default", R_DEFAULT},
	{"2001:db9::", ALLOW, "default", R_DEFAULT},

	{"100::", DENY, "100::/64", R_DISCARD},
	{"100::ffff:ffff:ffff:ffff", DENY, "100::/64", R_DISCARD},
	{"100:0:0:1::", ALLOW, "default", R_DEFAULT},
	{"ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ALLOW, "default", R_DEFAULT},
};
/* clang-format on */

static void test_default_preset_builtins(void **state)
{
	struct policy *p = make_policy(POLICY_PRESET_DEFAULT, NULL, NULL);

	(void)state;
	check_table(p, always_denied, NP_ARRAY_LEN(always_denied));
	check_table(p, default_allowed, NP_ARRAY_LEN(default_allowed));
	policy_free(p);
}

static void test_public_only_preset(void **state)
{
	struct policy *p = make_policy(POLICY_PRESET_PUBLIC_ONLY, "", "");

	(void)state;
	check_table(p, always_denied, NP_ARRAY_LEN(always_denied));
	check_table(p, public_only, NP_ARRAY_LEN(public_only));
	policy_free(p);
}

static void test_v4_mapped_addresses_are_ipv4(void **state)
{
	/* clang-format off */
	static const struct expect dflt[] = {
		{"::ffff:169.254.169.254", DENY, "169.254.0.0/16", R_LINKLOCAL},
		{"::ffff:a9fe:a9fe", DENY, "169.254.0.0/16", R_LINKLOCAL},
		{"::FFFF:A9FE:A9FE", DENY, "169.254.0.0/16", R_LINKLOCAL},
		{"0:0:0:0:0:ffff:169.254.0.1", DENY, "169.254.0.0/16", R_LINKLOCAL},
		{"::ffff:0.0.0.0", DENY, "0.0.0.0/8", R_THISNET},
		{"::ffff:255.255.255.255", DENY, "255.255.255.255/32", R_BROADCAST},
		{"::ffff:224.0.0.1", DENY, "224.0.0.0/4", R_MULTICAST},
		{"::ffff:8.8.8.8", ALLOW, "default", R_DEFAULT},
		{"::ffff:127.0.0.1", ALLOW, "default", R_DEFAULT},
	};
	static const struct expect pub[] = {
		{"::ffff:127.0.0.1", DENY, "127.0.0.0/8", R_LOOPBACK},
		{"::ffff:10.1.2.3", DENY, "10.0.0.0/8", R_PRIVATE},
		{"::ffff:192.168.0.1", DENY, "192.168.0.0/16", R_PRIVATE},
		{"::ffff:8.8.8.8", ALLOW, "default", R_DEFAULT},
	};
	/* clang-format on */
	struct policy *p = make_policy(POLICY_PRESET_DEFAULT, NULL, NULL);
	struct policy_addr a;
	char text[POLICY_ADDR_TEXT_MAX];

	(void)state;
	check_table(p, dflt, NP_ARRAY_LEN(dflt));
	policy_free(p);
	p = make_policy(POLICY_PRESET_PUBLIC_ONLY, NULL, NULL);
	check_table(p, pub, NP_ARRAY_LEN(pub));
	policy_free(p);

	assert_int_equal(policy_addr_parse("::ffff:192.0.2.1", &a), NP_OK);
	assert_int_equal(a.family, AF_INET);
	policy_addr_format(&a, text, sizeof text);
	assert_string_equal(text, "192.0.2.1");

	/* Only ::ffff:0:0/96 is mapped; the deprecated ::a.b.c.d form stays IPv6. */
	assert_int_equal(policy_addr_parse("::192.0.2.1", &a), NP_OK);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(policy_addr_parse("::fffe:192.0.2.1", &a), NP_OK);
	assert_int_equal(a.family, AF_INET6);
}

static void test_v4_mapped_cidrs_in_lists(void **state)
{
	/* clang-format off */
	static const struct expect t[] = {
		{"8.8.8.8", DENY, "8.8.8.0/24", R_DENY},
		{"::ffff:8.8.8.9", DENY, "8.8.8.0/24", R_DENY},
		{"8.8.9.8", ALLOW, "default", R_DEFAULT},
		{"169.254.169.254", ALLOW, "169.254.169.254/32", R_ALLOW},
		{"::ffff:169.254.169.254", ALLOW, "169.254.169.254/32", R_ALLOW},
		{"169.254.169.253", DENY, "169.254.0.0/16", R_LINKLOCAL},
	};
	/* clang-format on */
	struct policy *p =
	    make_policy(POLICY_PRESET_DEFAULT, "::ffff:169.254.169.254", "::ffff:8.8.8.0/120");

	(void)state;
	check_table(p, t, NP_ARRAY_LEN(t));
	policy_free(p);
}

static void test_allow_beats_deny_and_builtins(void **state)
{
	/* clang-format off */
	static const struct expect dflt[] = {
		/* An explicit allow opens a built-in deny, for that address only. */
		{"169.254.169.254", ALLOW, "169.254.169.254/32", R_ALLOW},
		{"169.254.169.253", DENY, "169.254.0.0/16", R_LINKLOCAL},
		/* Any allow match wins, even against a longer deny. */
		{"10.1.2.3", ALLOW, "10.0.0.0/8", R_ALLOW},
		{"10.2.0.1", ALLOW, "10.0.0.0/8", R_ALLOW},
		/* The same network in both lists: allow. */
		{"203.0.113.9", ALLOW, "203.0.113.0/24", R_ALLOW},
		{"2001:db8::1", ALLOW, "2001:db8::/32", R_ALLOW},
		{"fe80::1", ALLOW, "fe80::/64", R_ALLOW},
		{"fe80:0:0:1::1", DENY, "fe80::/10", R_LINKLOCAL},
	};
	static const struct expect pub[] = {
		{"127.0.0.1", ALLOW, "127.0.0.1/32", R_ALLOW},
		{"127.0.0.2", DENY, "127.0.0.0/8", R_LOOPBACK},
		{"::1", ALLOW, "::1/128", R_ALLOW},
		{"10.9.8.7", ALLOW, "10.9.0.0/16", R_ALLOW},
		{"10.10.0.1", DENY, "10.0.0.0/8", R_PRIVATE},
	};
	static const struct expect everything[] = {
		{"255.255.255.255", ALLOW, "0.0.0.0/0", R_ALLOW},
		{"0.0.0.0", ALLOW, "0.0.0.0/0", R_ALLOW},
		/* An IPv4 rule says nothing about IPv6. */
		{"fe80::1", DENY, "fe80::/10", R_LINKLOCAL},
	};
	/* clang-format on */
	struct policy *p;

	(void)state;
	p = make_policy(POLICY_PRESET_DEFAULT,
			"169.254.169.254/32, 10.0.0.0/8, 203.0.113.0/24, 2001:db8::/32, fe80::/64",
			"10.1.0.0/16,203.0.113.0/24,2001:db8::/32");
	check_table(p, dflt, NP_ARRAY_LEN(dflt));
	policy_free(p);

	p = make_policy(POLICY_PRESET_PUBLIC_ONLY, "127.0.0.1,::1,10.9.0.0/16", NULL);
	check_table(p, pub, NP_ARRAY_LEN(pub));
	policy_free(p);

	p = make_policy(POLICY_PRESET_DEFAULT, "0.0.0.0/0", NULL);
	check_table(p, everything, NP_ARRAY_LEN(everything));
	policy_free(p);
}

static void test_deny_list(void **state)
{
	/* clang-format off */
	static const struct expect t[] = {
		{"8.8.8.8", DENY, "8.8.8.0/24", R_DENY},
		{"8.8.8.255", DENY, "8.8.8.0/24", R_DENY},
		{"8.8.9.0", ALLOW, "default", R_DEFAULT},
		{"2001:4860:4860::8888", DENY, "2001:4860::/32", R_DENY},
		{"2001:4861::", ALLOW, "default", R_DEFAULT},
		/* Host bits in the list are cleared, and the rule shows the network. */
		{"10.200.0.1", DENY, "10.0.0.0/8", R_DENY},
		/* The deny list is consulted before the built-ins. */
		{"169.254.1.1", DENY, "169.254.0.0/16", R_DENY},
		{"1.2.3.4", DENY, "1.2.3.4/32", R_DENY},
		{"1.2.3.5", ALLOW, "default", R_DEFAULT},
	};
	/* clang-format on */
	struct policy *p =
	    make_policy(POLICY_PRESET_DEFAULT, NULL,
			"8.8.8.0/24,2001:4860::/32,10.1.2.3/8,169.254.0.0/16,1.2.3.4");

	(void)state;
	check_table(p, t, NP_ARRAY_LEN(t));
	policy_free(p);
}

struct range_case {
	const char *cidr; /* put in the deny list */
	const char *rule; /* as reported */
	const char *in[3];
	const char *out[3];
};

/* Prefixes off byte boundaries, and the extremes /0, /1, /31, /127, /128. */
static void test_prefix_edges(void **state)
{
	/* clang-format off */
	static const struct range_case cases[] = {
		{"fe80::/10", "fe80::/10", {"fe80::", "febf:" "ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		 {"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fec0::"}},
		{"2400::/12", "2400::/12", {"2400::", "240f:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		 {"23ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2410::"}},
		{"3000::/7", "3000::/7", {"3000::", "31ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		 {"2fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "3200::"}},
		{"2600:1f00::/10", "2600::/10",
		 {"2600::", "263f:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		 {"25ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2640::"}},
		{"2a00:1450:4000::/37", "2a00:1450:4000::/37",
		 {"2a00:1450:4000::", "2a00:1450:47ff:ffff:ffff:ffff:ffff:ffff"},
		 {"2a00:1450:3fff:ffff:ffff:ffff:ffff:ffff", "2a00:1450:4800::"}},
		{"2600::11/127", "2600::10/127", {"2600::10", "2600::11"}, {"2600::f", "2600::12"}},
		{"2600::1", "2600::1/128", {"2600::1"}, {"2600::", "2600::2"}},
		{"8000::/1", "8000::/1", {"8000::", MAX6},
		 {"7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
		{"::/0", "::/0", {"::1", "2001:db8::1"}, {"1.2.3.4", "::ffff:1.2.3.4"}},
		{"10.0.0.0/9", "10.0.0.0/9", {"10.0.0.0", "10.127.255.255"},
		 {"9.255.255.255", "10.128.0.0"}},
		{"172.16.0.0/12", "172.16.0.0/12", {"172.16.0.0", "172.31.255.255"},
		 {"172.15.255.255", "172.32.0.0"}},
		{"198.51.100.7/31", "198.51.100.6/31", {"198.51.100.6", "198.51.100.7"},
		 {"198.51.100.5", "198.51.100.8"}},
		{"128.0.0.0/1", "128.0.0.0/1", {"128.0.0.0", "223.255.255.255"},
		 {"127.255.255.255"}},
		{"0.0.0.0/0", "0.0.0.0/0", {"1.2.3.4", "255.255.255.255"}, {"::1", "::"}},
	};
	/* clang-format on */
	size_t i, j;

	(void)state;
	for (i = 0; i < NP_ARRAY_LEN(cases); i++) {
		struct policy *p = make_policy(POLICY_PRESET_DEFAULT, NULL, cases[i].cidr);

		for (j = 0; j < 3 && cases[i].in[j]; j++) {
			struct expect e = {cases[i].in[j], DENY, cases[i].rule, R_DENY};

			check_table(p, &e, 1);
		}
		for (j = 0; j < 3 && cases[i].out[j]; j++) {
			struct policy_decision d;
			int valid;

			policy_check_ip(p, cases[i].out[j], &d, &valid);
			assert_int_equal(valid, 1);
			if (strcmp(d.rule, cases[i].rule) == 0)
				fail_msg("%s must not match %s", cases[i].out[j], cases[i].cidr);
		}
		policy_free(p);
	}
}

static void test_parse_cidr_good(void **state)
{
	/* clang-format off */
	static const struct {
		const char *text;
		int family;
		unsigned prefix;
		const char *norm;
	} t[] = {
		{"10.0.0.0/8", AF_INET, 8, "10.0.0.0/8"},
		{"10.1.2.3/8", AF_INET, 8, "10.0.0.0/8"},
		{"1.2.3.4", AF_INET, 32, "1.2.3.4/32"},
		{"0.0.0.0/0", AF_INET, 0, "0.0.0.0/0"},
		{"1.2.3.4/0", AF_INET, 0, "0.0.0.0/0"},
		{"255.255.255.255/1", AF_INET, 1, "128.0.0.0/1"},
		{"192.168.77.1/20", AF_INET, 20, "192.168.64.0/20"},
		{"10.0.0.0/008", AF_INET, 8, "10.0.0.0/8"},
		{"::1", AF_INET6, 128, "::1/128"},
		{"::/0", AF_INET6, 0, "::/0"},
		{"fe80::1/10", AF_INET6, 10, "fe80::/10"},
		{"febf::/10", AF_INET6, 10, "fe80::/10"},
		{"fdff::/7", AF_INET6, 7, "fc00::/7"},
		{"2001:db8:1234::/12", AF_INET6, 12, "2000::/12"},
		{"2001:DB8::/32", AF_INET6, 32, "2001:db8::/32"},
		{"1:2:3:4:5:6:7:8/64", AF_INET6, 64, "1:2:3:4::/64"},
		{MAX6 "/128", AF_INET6, 128, MAX6 "/128"},
		{"::ffff:10.1.2.3/104", AF_INET, 8, "10.0.0.0/8"},
		{"::ffff:10.1.2.3", AF_INET, 32, "10.1.2.3/32"},
		{"::FFFF:A9FE:A9FE/128", AF_INET, 32, "169.254.169.254/32"},
		{"::ffff:0:0/96", AF_INET, 0, "0.0.0.0/0"},
		/* Shorter than /96 it covers more than mapped space: stays IPv6. */
		{"::ffff:0:0/95", AF_INET6, 95, "::fffe:0:0/95"},
		{"::ffff:1.2.3.4/80", AF_INET6, 80, "::/80"},
	};
	/* clang-format on */
	size_t i;

	(void)state;
	for (i = 0; i < NP_ARRAY_LEN(t); i++) {
		struct policy_cidr c, again;
		char err[200] = "";
		char text[POLICY_RULE_MAX];

		if (policy_parse_cidr(t[i].text, &c, err, sizeof err) != NP_OK)
			fail_msg("%s: refused: %s", t[i].text, err);
		policy_cidr_format(&c, text, sizeof text);
		if (c.net.family != t[i].family || c.prefix != t[i].prefix ||
		    strcmp(text, t[i].norm) != 0)
			fail_msg("%s: got %s (family %d), want %s (family %d)", t[i].text, text,
				 c.net.family, t[i].norm, t[i].family);
		/* The normalised text reads back as the same network. */
		assert_int_equal(policy_parse_cidr(text, &again, NULL, 0), NP_OK);
		assert_int_equal(again.net.family, c.net.family);
		assert_int_equal(again.prefix, c.prefix);
		assert_memory_equal(again.net.bytes, c.net.bytes, sizeof c.net.bytes);
	}
}

static void test_parse_cidr_bad(void **state)
{
	/* clang-format off */
	static const struct {
		const char *text;
		const char *why; /* a fragment the message must hold besides the text */
	} t[] = {
		{"10.0.0.0/33", "0 to 32"},
		{"1.2.3", "not an IPv4 or IPv6 address"},
		{"::g", "not an IPv4 or IPv6 address"},
		{"", "empty"},
		{"/8", "no address"},
		{"10.0.0.0/8/9", "prefix length"},
		{"::/129", "0 to 128"},
		{"::ffff:1.2.3.4/129", "0 to 128"},
		{"10.0.0.0/", "prefix length"},
		{"10.0.0.0/-1", "prefix length"},
		{"10.0.0.0/+8", "prefix length"},
		{"10.0.0.0/ 8", "prefix length"},
		{"10.0.0.0/8 ", "prefix length"},
		{"10.0.0.0/0x8", "prefix length"},
		{"10.0.0.0/1000", "prefix length"},
		{"10.0.0.0/99999999999999999999", "prefix length"},
		{"1.2.3.4/32a", "prefix length"},
		{" 10.0.0.0/8", "not an IPv4 or IPv6 address"},
		{"10.0.0.0 /8", "not an IPv4 or IPv6 address"},
		{"10.0.0.0\t/8", "not an IPv4 or IPv6 address"},
		{"256.0.0.0/8", "not an IPv4 or IPv6 address"},
		{"1.2.3.4.5", "not an IPv4 or IPv6 address"},
		{"010.0.0.1", "not an IPv4 or IPv6 address"},
		{"0x7f.0.0.1", "not an IPv4 or IPv6 address"},
		{"2130706433", "not an IPv4 or IPv6 address"},
		{"fe80::1%eth0/64", "not an IPv4 or IPv6 address"},
		{"[::1]/128", "not an IPv4 or IPv6 address"},
		{"1:2:3:4:5:6:7:8:9", "not an IPv4 or IPv6 address"},
		{"::ffff:1.2.3/120", "not an IPv4 or IPv6 address"},
		{"localhost", "not an IPv4 or IPv6 address"},
		{"0000:0000:0000:0000:0000:0000:0000:0000:0000:0000/8", "too long"},
		{",", "not an IPv4 or IPv6 address"},
	};
	/* clang-format on */
	size_t i;

	(void)state;
	for (i = 0; i < NP_ARRAY_LEN(t); i++) {
		struct policy_cidr c;
		char err[256] = "";
		char quoted[128];

		memset(&c, 0x5a, sizeof c);
		if (policy_parse_cidr(t[i].text, &c, err, sizeof err) != NP_EINVAL)
			fail_msg("\"%s\" was accepted", t[i].text);
		snprintf(quoted, sizeof quoted, "\"%s\"", t[i].text);
		if (!strstr(err, quoted) || !strstr(err, t[i].why))
			fail_msg("\"%s\": message \"%s\" must quote it and say \"%s\"", t[i].text,
				 err, t[i].why);
		/* A refused parse leaves nothing half-filled. */
		assert_int_equal(c.net.family, 0);
		assert_int_equal(c.prefix, 0);
	}
}

static void test_parse_cidr_err_buffer(void **state)
{
	struct policy_cidr c;
	char err[8];

	(void)state;
	assert_int_equal(policy_parse_cidr(NULL, &c, NULL, 0), NP_EINVAL);
	assert_int_equal(policy_parse_cidr("junk", &c, NULL, 0), NP_EINVAL);
	/* A short buffer gets a truncated, terminated message. */
	memset(err, 'x', sizeof err);
	assert_int_equal(policy_parse_cidr("10.0.0.0/33", &c, err, sizeof err), NP_EINVAL);
	assert_int_equal(strlen(err), sizeof err - 1);
	/* errlen 0 never writes. */
	memset(err, 'x', sizeof err);
	assert_int_equal(policy_parse_cidr("junk", &c, err, 0), NP_EINVAL);
	assert_int_equal(err[0], 'x');
}

static void expect_new_fails(enum policy_preset preset, const char *allow, const char *deny,
			     const char *frag1, const char *frag2)
{
	struct policy *p = (struct policy *)(uintptr_t)1; /* must be reset to NULL */
	char err[256] = "";
	int rc = policy_new(preset, allow, deny, &p, err, sizeof err);

	if (rc != NP_EINVAL)
		fail_msg("allow \"%s\" deny \"%s\": rc %d, want NP_EINVAL", allow ? allow : "NULL",
			 deny ? deny : "NULL", rc);
	assert_null(p);
	if (!strstr(err, frag1) || (frag2 && !strstr(err, frag2)))
		fail_msg("message \"%s\" must hold \"%s\" and \"%s\"", err, frag1,
			 frag2 ? frag2 : "");
}

static void test_policy_new_bad_lists(void **state)
{
	static const char *const bad[] = {"10.0.0.0/33", "1.2.3",	 "::g",
					  "/8",		 "10.0.0.0/8/9", "::/129"};
	size_t i;

	(void)state;
	for (i = 0; i < NP_ARRAY_LEN(bad); i++) {
		char quoted[64];

		snprintf(quoted, sizeof quoted, "\"%s\"", bad[i]);
		expect_new_fails(POLICY_PRESET_DEFAULT, bad[i], NULL, "allow list", quoted);
		expect_new_fails(POLICY_PRESET_PUBLIC_ONLY, NULL, bad[i], "deny list", quoted);
	}
	/* The bad entry is named even after good ones. */
	expect_new_fails(POLICY_PRESET_DEFAULT, NULL, "10.0.0.0/8, 192.168.0.0/16,10.0.0.0/33",
			 "deny list", "\"10.0.0.0/33\"");
	expect_new_fails(POLICY_PRESET_DEFAULT, "10.0.0.0/8", "1.2.3.4,junk", "deny list",
			 "\"junk\"");
	/* Empty entries are mistakes, not no-ops. */
	expect_new_fails(POLICY_PRESET_DEFAULT, "10.0.0.0/8,,1.2.3.4", NULL, "allow list",
			 "entry 2 is empty");
	expect_new_fails(POLICY_PRESET_DEFAULT, "10.0.0.0/8,", NULL, "allow list",
			 "entry 2 is empty");
	expect_new_fails(POLICY_PRESET_DEFAULT, NULL, ",10.0.0.0/8", "deny list",
			 "entry 1 is empty");
	expect_new_fails(POLICY_PRESET_DEFAULT, NULL, " , ", "deny list", "entry 1 is empty");
}

static void test_policy_new_limits(void **state)
{
	struct policy *p = NULL;
	char err[256] = "";
	char *csv;
	char longentry[300];
	size_t i, len = 0;

	(void)state;
	/* 1025 entries of "1.2.3.4,": one over the cap. */
	csv = malloc(1025 * 8 + 1);
	assert_non_null(csv);
	for (i = 0; i < 1025; i++) {
		memcpy(csv + len, "1.2.3.4,", 8);
		len += 8;
	}
	csv[len - 1] = '\0'; /* drop the last comma */
	expect_new_fails(POLICY_PRESET_DEFAULT, csv, NULL, "allow list has 1025 entries",
			 "limit of 1024");
	expect_new_fails(POLICY_PRESET_DEFAULT, NULL, csv, "deny list has 1025 entries", NULL);
	/* Exactly at the cap is fine. */
	csv[len - 9] = '\0';
	assert_int_equal(policy_new(POLICY_PRESET_DEFAULT, csv, csv, &p, err, sizeof err), NP_OK);
	assert_non_null(p);
	policy_free(p);
	free(csv);

	memset(longentry, '1', sizeof longentry - 1);
	longentry[sizeof longentry - 1] = '\0';
	expect_new_fails(POLICY_PRESET_DEFAULT, longentry, NULL, "allow list", "too long");

	p = (struct policy *)(uintptr_t)1;
	assert_int_equal(policy_new((enum policy_preset)7, NULL, NULL, &p, err, sizeof err),
			 NP_EINVAL);
	assert_null(p);
	assert_non_null(strstr(err, "unknown policy preset"));
}

static void test_policy_new_blank_lists(void **state)
{
	/* clang-format off */
	static const struct expect t[] = {
		{"10.1.1.1", DENY, "10.0.0.0/8", R_DENY},
		{"192.168.3.3", DENY, "192.168.0.0/16", R_DENY},
		{"127.0.0.1", ALLOW, "127.0.0.0/8", R_ALLOW},
		{"172.16.0.1", ALLOW, "default", R_DEFAULT},
	};
	/* clang-format on */
	static const char *const empty[] = {NULL, "", " ", "\t \n"};
	struct policy *p = NULL;
	char err[64];
	size_t i;

	(void)state;
	for (i = 0; i < NP_ARRAY_LEN(empty); i++) {
		assert_int_equal(
		    policy_new(POLICY_PRESET_DEFAULT, empty[i], empty[i], &p, err, sizeof err),
		    NP_OK);
		policy_free(p);
		/* err may be NULL when errlen is 0. */
		assert_int_equal(
		    policy_new(POLICY_PRESET_PUBLIC_ONLY, empty[i], empty[i], &p, NULL, 0), NP_OK);
		policy_free(p);
	}
	p = make_policy(POLICY_PRESET_DEFAULT, "\t127.0.0.0/8 ", " 10.0.0.0/8 ,\t192.168.0.0/16\n");
	check_table(p, t, NP_ARRAY_LEN(t));
	policy_free(p);
}

static void test_invalid_inputs_fail_closed(void **state)
{
	/* clang-format off */
	static const char *const not_ips[] = {
		"", "not-an-ip", "1.2.3", "[::1]", "::1%lo", "10.0.0.0/8", "1.2.3.4 ",
		"1.2.3.4:80", "localhost", "::ffff:1.2.3",
	};
	/* clang-format on */
	struct policy *p = make_policy(POLICY_PRESET_DEFAULT, "0.0.0.0/0,::/0", NULL);
	struct policy_decision d;
	struct policy_addr a;
	struct sockaddr_un sun;
	struct sockaddr_in sin;
	size_t i;
	int valid;

	(void)state;
	/* Even with everything allowed, what is not an address is denied. */
	for (i = 0; i < NP_ARRAY_LEN(not_ips); i++) {
		valid = -1;
		policy_check_ip(p, not_ips[i], &d, &valid);
		if (valid != 0 || d.verdict != DENY)
			fail_msg("\"%s\": valid %d verdict %d", not_ips[i], valid, d.verdict);
		assert_string_equal(d.rule, "default");
		assert_non_null(strstr(d.reason, "not an IPv4 or IPv6 address"));
	}
	valid = -1;
	policy_check_ip(p, NULL, &d, &valid);
	assert_int_equal(valid, 0);
	assert_int_equal(d.verdict, DENY);
	/* valid may be NULL. */
	policy_check_ip(p, "junk", &d, NULL);
	assert_int_equal(d.verdict, DENY);
	policy_check_ip(p, "8.8.8.8", &d, NULL);
	assert_int_equal(d.verdict, ALLOW);

	policy_check(p, NULL, &d);
	assert_int_equal(d.verdict, DENY);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	policy_check(p, (const struct sockaddr *)&sun, &d);
	assert_int_equal(d.verdict, DENY);
	assert_int_equal(policy_addr_from_sockaddr((const struct sockaddr *)&sun, &a), NP_EINVAL);

	memset(&a, 0, sizeof a);
	a.family = AF_UNIX;
	policy_check_addr(p, &a, &d);
	assert_int_equal(d.verdict, DENY);
	policy_check_addr(p, NULL, &d);
	assert_int_equal(d.verdict, DENY);
	policy_free(p);

	/* No policy at all: everything is denied. */
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x08080808);
	policy_check(NULL, (const struct sockaddr *)&sin, &d);
	assert_int_equal(d.verdict, DENY);
	assert_non_null(strstr(d.reason, "no policy"));
	policy_check_ip(NULL, "8.8.8.8", &d, &valid);
	assert_int_equal(valid, 1);
	assert_int_equal(d.verdict, DENY);

	policy_free(NULL);
}

static void test_addr_parse_and_format(void **state)
{
	/* clang-format off */
	static const struct {
		const char *text;
		int family;
		const char *norm;
	} t[] = {
		{"192.0.2.1", AF_INET, "192.0.2.1"},
		{"0.0.0.0", AF_INET, "0.0.0.0"},
		{"255.255.255.255", AF_INET, "255.255.255.255"},
		{"::", AF_INET6, "::"},
		{"2001:DB8:0:0:0:0:0:1", AF_INET6, "2001:db8::1"},
		{"::ffff:7f00:1", AF_INET, "127.0.0.1"},
		{MAX6, AF_INET6, MAX6},
	};
	/* clang-format on */
	struct policy_addr a;
	char text[POLICY_ADDR_TEXT_MAX];
	char tiny[4];
	size_t i;

	(void)state;
	for (i = 0; i < NP_ARRAY_LEN(t); i++) {
		assert_int_equal(policy_addr_parse(t[i].text, &a), NP_OK);
		assert_int_equal(a.family, t[i].family);
		policy_addr_format(&a, text, sizeof text);
		assert_string_equal(text, t[i].norm);
	}
	/* IPv4 leaves the tail of the buffer zero, so addresses compare whole. */
	assert_int_equal(policy_addr_parse("::ffff:1.2.3.4", &a), NP_OK);
	for (i = 4; i < sizeof a.bytes; i++)
		assert_int_equal(a.bytes[i], 0);

	assert_int_equal(policy_addr_parse("1.2.3", &a), NP_EINVAL);
	assert_int_equal(a.family, 0);
	assert_int_equal(policy_addr_parse(NULL, &a), NP_EINVAL);

	/* Too small a buffer gives an empty string, never a partial address. */
	assert_int_equal(policy_addr_parse("192.0.2.1", &a), NP_OK);
	policy_addr_format(&a, tiny, sizeof tiny);
	assert_string_equal(tiny, "");
}

static void test_longest_rule_fits(void **state)
{
	/* clang-format off */
	static const struct expect t[] = {
		{MAX6, ALLOW, MAX6 "/128", R_ALLOW},
		{"255.255.255.255", ALLOW, "255.255.255.255/32", R_ALLOW},
	};
	/* clang-format on */
	struct policy *p = make_policy(POLICY_PRESET_DEFAULT, MAX6 ",255.255.255.255", NULL);

	(void)state;
	check_table(p, t, NP_ARRAY_LEN(t));
	policy_free(p);
}

/* ---- allocation failure ---- */

struct new_args {
	enum policy_preset preset;
	const char *allow, *deny;
};

static int new_and_check(void *ud)
{
	const struct new_args *a = ud;
	struct policy *p = (struct policy *)(uintptr_t)1;
	struct policy_decision d;
	char err[256];
	int rc = policy_new(a->preset, a->allow, a->deny, &p, err, sizeof(err));

	if (rc != NP_OK) {
		assert_null(p);
		if (rc == NP_ENOMEM)
			assert_string_equal(err, "out of memory building the target policy");
		return rc;
	}
	policy_check_ip(p, "10.1.2.3", &d, NULL);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	policy_free(p);
	return rc;
}

static void test_policy_new_out_of_memory(void **state)
{
	struct new_args ok = {POLICY_PRESET_PUBLIC_ONLY, "10.0.0.0/8, 2001:db8::/32",
			      "192.0.2.0/24,198.51.100.7"};
	struct new_args bad = {POLICY_PRESET_DEFAULT, "10.0.0.0/8", "1.2.3.4,junk"};

	(void)state;
	assert_int_equal(alloc_fail_sweep(new_and_check, &ok, NP_OK, NP_ENOMEM), 1);
	/* A bad list: out of memory first, then the list's own error. */
	assert_int_equal(alloc_fail_sweep(new_and_check, &bad, NP_EINVAL, NP_ENOMEM), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_preset_builtins),
	    cmocka_unit_test(test_public_only_preset),
	    cmocka_unit_test(test_v4_mapped_addresses_are_ipv4),
	    cmocka_unit_test(test_v4_mapped_cidrs_in_lists),
	    cmocka_unit_test(test_allow_beats_deny_and_builtins),
	    cmocka_unit_test(test_deny_list),
	    cmocka_unit_test(test_prefix_edges),
	    cmocka_unit_test(test_parse_cidr_good),
	    cmocka_unit_test(test_parse_cidr_bad),
	    cmocka_unit_test(test_parse_cidr_err_buffer),
	    cmocka_unit_test(test_policy_new_bad_lists),
	    cmocka_unit_test(test_policy_new_limits),
	    cmocka_unit_test(test_policy_new_blank_lists),
	    cmocka_unit_test(test_invalid_inputs_fail_closed),
	    cmocka_unit_test(test_addr_parse_and_format),
	    cmocka_unit_test(test_longest_rule_fits),
	    cmocka_unit_test(test_policy_new_out_of_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
