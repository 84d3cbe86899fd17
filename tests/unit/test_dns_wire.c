/*
 * test_dns_wire.c - the DNS wire layer: type/class/rcode tables, query
 * name checks, the query builder, the parser's safety checks, and the
 * presentation of each rdata type, and every allocation of a parse failing
 * in turn. Every message is built by hand here; the expected texts are
 * what dig 9.18 prints for the same bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_wire.h"
#include "dns_wire_int.h"
#include "np.h"
#include "support/alloc_fail.h"

/* ---- a message builder ---- */

struct mb {
	unsigned char b[65536 + 1024];
	size_t n;
};

static void mb_u8(struct mb *m, unsigned v)
{
	assert_true(m->n < sizeof(m->b));
	m->b[m->n++] = (unsigned char)v;
}

static void mb_u16(struct mb *m, unsigned v)
{
	mb_u8(m, (v >> 8) & 0xff);
	mb_u8(m, v & 0xff);
}

static void mb_u32(struct mb *m, uint32_t v)
{
	mb_u16(m, v >> 16);
	mb_u16(m, v & 0xffff);
}

static void mb_raw(struct mb *m, const void *p, size_t n)
{
	if (n == 0)
		return;
	assert_true(m->n + n <= sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

/* "a.b." (or "a.b") as labels; "." is the root. No escapes. */
static void mb_name(struct mb *m, const char *name)
{
	const char *p = name;

	while (*p != '\0' && strcmp(p, ".") != 0) {
		const char *dot = strchr(p, '.');
		size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);

		mb_u8(m, (unsigned)n);
		mb_raw(m, p, n);
		p += n;
		if (*p == '.')
			p++;
	}
	mb_u8(m, 0);
}

static void mb_header(struct mb *m, unsigned id, unsigned flags, unsigned qd, unsigned an,
		      unsigned ns, unsigned ar)
{
	m->n = 0;
	mb_u16(m, id);
	mb_u16(m, flags);
	mb_u16(m, qd);
	mb_u16(m, an);
	mb_u16(m, ns);
	mb_u16(m, ar);
}

static void mb_question(struct mb *m, const char *name, unsigned type, unsigned qclass)
{
	mb_name(m, name);
	mb_u16(m, type);
	mb_u16(m, qclass);
}

/* Starts a record whose owner is a pointer to offset 12 (the question's
 * name); returns where its rdlength goes, for mb_rr_end(). */
static size_t mb_rr_ptr(struct mb *m, unsigned type, unsigned rclass, uint32_t ttl)
{
	size_t at;

	mb_u16(m, 0xc00c);
	mb_u16(m, type);
	mb_u16(m, rclass);
	mb_u32(m, ttl);
	at = m->n;
	mb_u16(m, 0);
	return at;
}

static void mb_rr_end(struct mb *m, size_t at)
{
	size_t len = m->n - at - 2;

	m->b[at] = (unsigned char)(len >> 8);
	m->b[at + 1] = (unsigned char)len;
}

static void mb_rr(struct mb *m, unsigned type, unsigned rclass, uint32_t ttl, const void *rd,
		  size_t len)
{
	size_t at = mb_rr_ptr(m, type, rclass, ttl);

	mb_raw(m, rd, len);
	mb_rr_end(m, at);
}

static struct dns_msg *parse_ok(const struct mb *m)
{
	struct dns_msg *msg = NULL;
	char err[256];
	int rc = dns_msg_parse(m->b, m->n, &msg, err, sizeof(err));

	if (rc != NP_OK)
		fail_msg("parse failed (%d): %s", rc, err);
	assert_non_null(msg);
	return msg;
}

static void parse_fails(const struct mb *m, int status, const char *want)
{
	struct dns_msg *msg = (struct dns_msg *)(uintptr_t)1;
	char err[256];
	int rc = dns_msg_parse(m->b, m->n, &msg, err, sizeof(err));

	assert_int_equal(rc, status);
	assert_null(msg);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

/* One answer record of the given type and class; checks its text. */
static void check_rdata_class(unsigned type, unsigned rclass, const void *rd, size_t len,
			      const char *want, int generic)
{
	struct mb m;
	struct dns_msg *msg;

	mb_header(&m, 1, 0x8180, 1, 1, 0, 0);
	mb_question(&m, "example.com.", type, rclass);
	mb_rr(&m, type, rclass, 300, rd, len);
	msg = parse_ok(&m);
	assert_int_equal(msg->n_answer, 1);
	assert_string_equal(msg->answer[0].name, "example.com.");
	assert_int_equal(msg->answer[0].type, type);
	assert_int_equal(msg->answer[0].rdlength, len);
	if (strcmp(msg->answer[0].data, want) != 0)
		fail_msg("type %u: got \"%s\", want \"%s\"", type, msg->answer[0].data, want);
	assert_int_equal(msg->answer[0].generic, generic);
	dns_msg_free(msg);
}

static void check_rdata(unsigned type, const void *rd, size_t len, const char *want)
{
	check_rdata_class(type, DNS_C_IN, rd, len, want, 0);
}

static void check_generic(unsigned type, const void *rd, size_t len, const char *want)
{
	check_rdata_class(type, DNS_C_IN, rd, len, want, 1);
}

/* Rdata assembled with the builder, starting at offset 0 of a scratch mb. */
#define RD(...) (const unsigned char[]){__VA_ARGS__}, sizeof((const unsigned char[]){__VA_ARGS__})

/* ---- tables ---- */

static void test_type_table(void **state)
{
	static const char *const names[] = {
		"A",     "NS",     "CNAME",    "SOA",   "PTR",   "HINFO",     "MX",
		"TXT",   "RP",     "AFSDB",    "AAAA",  "LOC",   "SRV",       "NAPTR",
		"KX",    "CERT",   "DNAME",    "OPT",   "APL",   "DS",        "SSHFP",
		"IPSECKEY", "RRSIG", "NSEC",   "DNSKEY", "DHCID", "NSEC3",    "NSEC3PARAM",
		"TLSA",  "SMIMEA", "CDS",      "CDNSKEY", "OPENPGPKEY", "CSYNC", "ZONEMD",
		"SVCB",  "HTTPS",  "SPF",      "EUI48", "EUI64", "TKEY",      "TSIG",
		"IXFR",  "AXFR",   "ANY",      "URI",   "CAA",   "NID",       "L32",
		"L64",   "LP",
	};
	char buf[DNS_TYPE_TEXT_MAX];
	uint16_t t;
	size_t i;

	(void)state;
	for (i = 0; i < NP_ARRAY_LEN(names); i++) {
		assert_int_equal(dns_type_from_text(names[i], &t), NP_OK);
		assert_string_equal(dns_type_to_text(t, buf, sizeof(buf)), names[i]);
	}
	assert_int_equal(dns_type_from_text("mx", &t), NP_OK);
	assert_int_equal(t, 15);
	assert_int_equal(dns_type_from_text("Https", &t), NP_OK);
	assert_int_equal(t, 65);
	assert_int_equal(dns_type_from_text("TYPE12345", &t), NP_OK);
	assert_int_equal(t, 12345);
	assert_int_equal(dns_type_from_text("type65535", &t), NP_OK);
	assert_int_equal(t, 65535);
	assert_int_equal(dns_type_from_text("TYPE1", &t), NP_OK);
	assert_int_equal(t, 1);
	assert_string_equal(dns_type_to_text(12345, buf, sizeof(buf)), "TYPE12345");
	assert_string_equal(dns_type_to_text(65280, buf, sizeof(buf)), "TYPE65280");
	assert_string_equal(dns_type_to_text(1, buf, sizeof(buf)), "A");
	assert_null(dns_type_name(65280));
	assert_string_equal(dns_type_name(DNS_T_NSEC3PARAM), "NSEC3PARAM");
	assert_string_equal(dns_type_name(104), "NID");
	assert_string_equal(dns_type_name(105), "L32");
	assert_string_equal(dns_type_name(106), "L64");
	assert_string_equal(dns_type_name(107), "LP");

	assert_int_equal(dns_type_from_text("TYPE65536", &t), NP_EINVAL);
	assert_int_equal(dns_type_from_text("TYPE", &t), NP_EINVAL);
	assert_int_equal(dns_type_from_text("TYPE1x", &t), NP_EINVAL);
	assert_int_equal(dns_type_from_text("TYPE-1", &t), NP_EINVAL);
	assert_int_equal(dns_type_from_text("TYPE000001", &t), NP_EINVAL);
	assert_int_equal(dns_type_from_text("MXX", &t), NP_EINVAL);
	assert_int_equal(dns_type_from_text("", &t), NP_EINVAL);
	assert_int_equal(dns_type_from_text("12", &t), NP_EINVAL);
	assert_int_equal(dns_type_from_text(NULL, &t), NP_EINVAL);

	/* A short buffer truncates and stays terminated. */
	assert_string_equal(dns_type_to_text(12345, buf, 5), "TYPE");
}

static void test_class_table(void **state)
{
	char buf[DNS_CLASS_TEXT_MAX];
	uint16_t c;

	(void)state;
	assert_int_equal(dns_class_from_text("IN", &c), NP_OK);
	assert_int_equal(c, 1);
	assert_int_equal(dns_class_from_text("ch", &c), NP_OK);
	assert_int_equal(c, 3);
	assert_int_equal(dns_class_from_text("CHAOS", &c), NP_OK);
	assert_int_equal(c, 3);
	assert_int_equal(dns_class_from_text("HS", &c), NP_OK);
	assert_int_equal(c, 4);
	assert_int_equal(dns_class_from_text("NONE", &c), NP_OK);
	assert_int_equal(c, 254);
	assert_int_equal(dns_class_from_text("any", &c), NP_OK);
	assert_int_equal(c, 255);
	assert_int_equal(dns_class_from_text("CLASS123", &c), NP_OK);
	assert_int_equal(c, 123);
	assert_int_equal(dns_class_from_text("CLASS70000", &c), NP_EINVAL);
	assert_int_equal(dns_class_from_text("INET", &c), NP_EINVAL);
	assert_string_equal(dns_class_to_text(3, buf, sizeof(buf)), "CH");
	assert_string_equal(dns_class_to_text(123, buf, sizeof(buf)), "CLASS123");
	assert_string_equal(dns_class_to_text(65535, buf, sizeof(buf)), "CLASS65535");
}

static void test_rcode_table(void **state)
{
	static const char *const names[] = {
		"NOERROR",  "FORMERR",  "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
		"YXDOMAIN", "YXRRSET",  "NXRRSET",  "NOTAUTH",  "NOTZONE",
	};
	char buf[DNS_RCODE_TEXT_MAX];
	uint16_t r;
	size_t i;

	(void)state;
	for (i = 0; i < NP_ARRAY_LEN(names); i++) {
		assert_int_equal(dns_rcode_from_text(names[i], &r), NP_OK);
		assert_int_equal(r, i);
		assert_string_equal(dns_rcode_to_text((uint16_t)i, buf, sizeof(buf)), names[i]);
	}
	assert_int_equal(dns_rcode_from_text("BADSIG", &r), NP_OK);
	assert_int_equal(r, 16);
	assert_int_equal(dns_rcode_from_text("badvers", &r), NP_OK);
	assert_int_equal(r, 16);
	assert_string_equal(dns_rcode_to_text(16, buf, sizeof(buf)), "BADVERS");
	assert_string_equal(dns_rcode_to_text(17, buf, sizeof(buf)), "BADKEY");
	assert_string_equal(dns_rcode_to_text(18, buf, sizeof(buf)), "BADTIME");
	assert_string_equal(dns_rcode_to_text(23, buf, sizeof(buf)), "BADCOOKIE");
	assert_string_equal(dns_rcode_to_text(123, buf, sizeof(buf)), "RCODE123");
	assert_string_equal(dns_rcode_to_text(11, buf, sizeof(buf)), "RCODE11");
	assert_int_equal(dns_rcode_from_text("RCODE4095", &r), NP_OK);
	assert_int_equal(r, 4095);
	assert_int_equal(dns_rcode_from_text("RCODE4096", &r), NP_EINVAL);
	assert_int_equal(dns_rcode_from_text("NOPE", &r), NP_EINVAL);
}

/* ---- name validation ---- */

static void expect_name_error(const char *name, const char *want)
{
	char err[256];

	assert_int_equal(dns_name_validate(name, err, sizeof(err)), NP_EINVAL);
	if (strcmp(err, want) != 0)
		fail_msg("name \"%s\": got \"%s\", want \"%s\"", name ? name : "(null)", err, want);
}

static void test_name_validate_ok(void **state)
{
	static const char *const good[] = {
		"example.com", "example.com.", ".", "_dmarc.example.com", "_sip._tcp.example.com",
		"*.example.com", "*", "a-b.c_d.e", "xn--bcher-kva.example", "1.2.3.4.in-addr.arpa",
		"EXAMPLE.COM", "-a-.b",
	};
	char label63[64], name253[260], name254[300];
	size_t i;

	(void)state;
	for (i = 0; i < NP_ARRAY_LEN(good); i++)
		assert_int_equal(dns_name_validate(good[i], NULL, 0), NP_OK);

	memset(label63, 'a', 63);
	label63[63] = '\0';
	assert_int_equal(dns_name_validate(label63, NULL, 0), NP_OK);

	/* 3 labels of 63 and one of 61: 63*3 + 61 + 3 dots = 253 */
	snprintf(name253, sizeof(name253), "%s.%s.%s.%.61s", label63, label63, label63, label63);
	assert_int_equal(strlen(name253), 253);
	assert_int_equal(dns_name_validate(name253, NULL, 0), NP_OK);
	snprintf(name254, sizeof(name254), "%s.", name253);
	assert_int_equal(dns_name_validate(name254, NULL, 0), NP_OK);
}

static void test_name_validate_errors(void **state)
{
	char label70[80], name[300];

	(void)state;
	expect_name_error(NULL, "no name was given");
	expect_name_error("", "the name is empty");
	memset(label70, 'b', 70);
	label70[70] = '\0';
	snprintf(name, sizeof(name), "a.%s.com", label70);
	expect_name_error(name, "label 2 is 70 bytes; the maximum is 63");
	memset(name, 'a', 254);
	name[254] = '\0';
	for (size_t i = 50; i < 254; i += 50)
		name[i] = '.';
	expect_name_error(name, "the name is 254 bytes; the maximum is 253");
	expect_name_error("a..b", "label 2 is empty: two dots in a row");
	expect_name_error("a.b..", "label 3 is empty: two dots in a row");
	expect_name_error(".a", "label 1 is empty: the name starts with a dot");
	expect_name_error("..", "label 1 is empty: the name starts with a dot");
	expect_name_error("a.*.b",
			  "label 2 contains '*' (byte 3); '*' is allowed only as the whole "
			  "leftmost label");
	expect_name_error("*a.b", "label 1 contains '*' (byte 1); '*' is allowed only as the "
				  "whole leftmost label");
	expect_name_error("b\xc3\xbc"
			  "cher.de",
			  "byte 2 (0xc3) is not ASCII: IDN names must be given in punycode "
			  "(xn--) form");
	expect_name_error("a b", "label 1 contains the byte 0x20 (byte 2); only letters, digits, "
				 "'-' and '_' are allowed");
	expect_name_error("ok.a!b", "label 2 contains '!' (byte 5); only letters, digits, '-' "
				    "and '_' are allowed");
	expect_name_error("a\\.b", "label 1 contains '\\' (byte 2); only letters, digits, '-' "
				   "and '_' are allowed");
	/* err may be NULL. */
	assert_int_equal(dns_name_validate("a..b", NULL, 0), NP_EINVAL);
}

/* ---- the query builder ---- */

static void test_query_build_plain(void **state)
{
	static const unsigned char want[] = {
		0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
		0, 15, 0, 1,
	};
	unsigned char buf[DNS_QUERY_MAX];
	size_t len = 99;

	(void)state;
	assert_int_equal(dns_query_build("example.com", DNS_T_MX, DNS_C_IN, 0x1234, DNS_Q_RD, NULL,
					 buf, sizeof(buf), &len),
			 NP_OK);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));

	/* A trailing dot makes no difference. */
	assert_int_equal(dns_query_build("example.com.", DNS_T_MX, DNS_C_IN, 0x1234, DNS_Q_RD, NULL,
					 buf, sizeof(buf), &len),
			 NP_OK);
	assert_memory_equal(buf, want, sizeof(want));
}

static void test_query_build_edns(void **state)
{
	static const unsigned char want[] = {
		0xab, 0xcd, 0x01, 0x30, 0, 1, 0, 0, 0, 0, 0, 1,
		0, /* root */
		0, 2, 0, 1,
		0, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0, 0, 0,
	};
	static const struct dns_query_edns big = {.udp_size = 4096};
	static const struct dns_query_edns plain = {0};
	unsigned char buf[DNS_QUERY_MAX];
	size_t len;

	(void)state;
	assert_int_equal(dns_query_build(".", DNS_T_NS, DNS_C_IN, 0xabcd,
					 DNS_Q_RD | DNS_Q_AD | DNS_Q_CD | DNS_Q_DO, &big, buf,
					 sizeof(buf), &len),
			 NP_OK);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));

	/* DO alone: EDNS with the default size. */
	assert_int_equal(
	    dns_query_build("a", DNS_T_A, DNS_C_IN, 1, DNS_Q_DO, NULL, buf, sizeof(buf), &len),
	    NP_OK);
	assert_int_equal(len, 12 + 3 + 4 + 11);
	assert_int_equal(buf[len - 11 + 3] << 8 | buf[len - 11 + 4], DNS_EDNS_DEFAULT_UDP);
	assert_int_equal(buf[len - 11 + 7], 0x80);

	/* An options struct alone: EDNS without DO, the default size. */
	assert_int_equal(
	    dns_query_build("a", DNS_T_A, DNS_C_IN, 1, 0, &plain, buf, sizeof(buf), &len), NP_OK);
	assert_int_equal(buf[len - 11 + 7], 0);
	assert_int_equal(buf[2], 0); /* no RD */
}

static void test_query_build_errors(void **state)
{
	unsigned char buf[DNS_QUERY_MAX];
	size_t len = 7;

	(void)state;
	assert_int_equal(dns_query_build("a..b", 1, 1, 1, 0, NULL, buf, sizeof(buf), &len),
			 NP_EINVAL);
	assert_int_equal(len, 0);
	assert_int_equal(dns_query_build("a", 1, 1, 1, 0x100, NULL, buf, sizeof(buf), &len),
			 NP_EINVAL);
	assert_int_equal(dns_query_build("a", DNS_T_OPT, 1, 1, 0, NULL, buf, sizeof(buf), &len),
			 NP_EINVAL);
	assert_int_equal(dns_query_build(NULL, 1, 1, 1, 0, NULL, buf, sizeof(buf), &len),
			 NP_EINVAL);
	assert_int_equal(dns_query_build("a", 1, 1, 1, 0, NULL, NULL, 0, &len), NP_EINVAL);
	assert_int_equal(dns_query_build("a", 1, 1, 1, 0, NULL, buf, sizeof(buf), NULL), NP_EINVAL);
	/* "ab.c" needs 12 + 6 + 4 bytes. */
	assert_int_equal(dns_query_build("ab.c", 1, 1, 1, 0, NULL, buf, 21, &len), NP_ELIMIT);
	assert_int_equal(dns_query_build("ab.c", 1, 1, 1, 0, NULL, buf, 22, &len), NP_OK);
	assert_int_equal(len, 22);
	assert_int_equal(dns_query_build("ab.c", 1, 1, 1, DNS_Q_DO, NULL, buf, 32, &len),
			 NP_ELIMIT);
}

static void test_query_build_longest(void **state)
{
	char name[300];
	unsigned char buf[DNS_QUERY_MAX];
	size_t len, i;

	(void)state;
	/* 253 bytes: the longest name, which is 255 on the wire. */
	for (i = 0; i < 253; i++)
		name[i] = (i % 64 == 63) ? '.' : 'x';
	name[253] = '\0';
	assert_int_equal(dns_query_build(name, 1, 1, 1, DNS_Q_DO, NULL, buf, sizeof(buf), &len),
			 NP_OK);
	assert_int_equal(len, 12 + 255 + 4 + 11);
	assert_true(len <= DNS_QUERY_MAX);
}

static void test_roundtrip(void **state)
{
	static const struct dns_query_edns e1400 = {.udp_size = 1400};
	unsigned char buf[DNS_QUERY_MAX];
	struct dns_msg *m;
	char err[128];
	size_t len;

	(void)state;
	assert_int_equal(dns_query_build("_sip._tcp.Example.com", DNS_T_SRV, DNS_C_IN, 4242,
					 DNS_Q_RD | DNS_Q_DO, &e1400, buf, sizeof(buf), &len),
			 NP_OK);
	assert_int_equal(dns_msg_parse(buf, len, &m, err, sizeof(err)), NP_OK);
	assert_int_equal(m->id, 4242);
	assert_int_equal(m->qr, 0);
	assert_int_equal(m->rd, 1);
	assert_int_equal(m->opcode, 0);
	assert_int_equal(m->qdcount, 1);
	assert_int_equal(m->arcount, 1);
	assert_int_equal(m->n_question, 1);
	assert_string_equal(m->question[0].name, "_sip._tcp.Example.com.");
	assert_int_equal(m->question[0].type, DNS_T_SRV);
	assert_int_equal(m->question[0].qclass, DNS_C_IN);
	assert_int_equal(m->n_answer + m->n_authority + m->n_additional, 0);
	assert_true(m->edns.present);
	assert_int_equal(m->edns.udp_size, 1400);
	assert_int_equal(m->edns.version, 0);
	assert_true(m->edns.dnssec_ok);
	assert_int_equal(m->edns.n_options, 0);
	dns_msg_free(m);

	assert_int_equal(
	    dns_query_build(".", DNS_T_NS, DNS_C_IN, 1, 0, NULL, buf, sizeof(buf), &len), NP_OK);
	assert_int_equal(dns_msg_parse(buf, len, &m, NULL, 0), NP_OK);
	assert_string_equal(m->question[0].name, ".");
	assert_false(m->edns.present);
	dns_msg_free(m);
}

/* The OPT record "a" A queries end with: 12 + 3 + 4 bytes come first. */
#define OPT_AT (12 + 3 + 4)

static void test_query_build_nsid(void **state)
{
	static const struct dns_query_edns e = {.udp_size = 4096, .nsid = 1};
	static const unsigned char want[] = {
		0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 4, /* OPT, 4096, RDLENGTH 4 */
		0, 3, 0, 0,                             /* NSID, empty (RFC 5001 2.3) */
	};
	unsigned char buf[DNS_QUERY_MAX];
	size_t len;

	(void)state;
	assert_int_equal(dns_query_build("a", DNS_T_A, DNS_C_IN, 1, 0, &e, buf, sizeof(buf), &len),
			 NP_OK);
	assert_int_equal(len, OPT_AT + sizeof(want));
	assert_memory_equal(buf + OPT_AT, want, sizeof(want));
	assert_int_equal(buf[11], 1); /* ARCOUNT */
}

/* The Client Subnet option alone, as "a" A with source/addr gives it. */
static void expect_ecs(uint8_t family, uint8_t source, const char *addr, const unsigned char *want,
		       size_t wantlen)
{
	struct dns_query_edns e = {.ecs_family = family, .ecs_source = source};
	unsigned char buf[DNS_QUERY_MAX];
	size_t len;

	memcpy(e.ecs_addr, addr, 16);
	assert_int_equal(dns_query_build("a", DNS_T_A, DNS_C_IN, 1, 0, &e, buf, sizeof(buf), &len),
			 NP_OK);
	assert_int_equal(len, OPT_AT + 11 + wantlen);
	/* RDLENGTH is the option's length. */
	assert_int_equal(buf[OPT_AT + 9] << 8 | buf[OPT_AT + 10], wantlen);
	assert_memory_equal(buf + OPT_AT + 11, want, wantlen);
}

static void test_query_build_ecs(void **state)
{
	static const char v4[16] = "\xc0\x00\x02\x81";
	static const char v6[16] =
	    "\x20\x01\x0d\xb8\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01";
	static const char zero[16] = "";
	/* code 8, length, FAMILY, SOURCE, SCOPE 0, ADDRESS cut to the prefix */
	static const unsigned char v4_24[] = {0, 8, 0, 7, 0, 1, 24, 0, 0xc0, 0x00, 0x02};
	static const unsigned char v4_25[] = {0, 8, 0, 8, 0, 1, 25, 0, 0xc0, 0x00, 0x02, 0x80};
	static const unsigned char v4_32[] = {0, 8, 0, 8, 0, 1, 32, 0, 0xc0, 0x00, 0x02, 0x81};
	static const unsigned char v4_0[] = {0, 8, 0, 4, 0, 1, 0, 0};
	static const unsigned char v6_33[] = {
		0, 8, 0, 9, 0, 2, 33, 0, 0x20, 0x01, 0x0d, 0xb8, 0x80,
	};
	static const unsigned char v6_128[] = {
		0, 8, 0, 20, 0, 2, 128, 0,
		0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	};

	(void)state;
	expect_ecs(DNS_ECS_IPV4, 24, v4, v4_24, sizeof(v4_24));
	/* The bits past the prefix are zeroed: .129/25 goes as .128. */
	expect_ecs(DNS_ECS_IPV4, 25, v4, v4_25, sizeof(v4_25));
	expect_ecs(DNS_ECS_IPV4, 32, v4, v4_32, sizeof(v4_32));
	/* 0/0, as dig +subnet=0/0 sends it: no address bytes. */
	expect_ecs(DNS_ECS_IPV4, 0, zero, v4_0, sizeof(v4_0));
	expect_ecs(DNS_ECS_IPV6, 33, v6, v6_33, sizeof(v6_33));
	expect_ecs(DNS_ECS_IPV6, 128, v6, v6_128, sizeof(v6_128));
}

static void test_query_build_options_together(void **state)
{
	struct dns_query_edns e = {.udp_size = 512,
				   .nsid = 1,
				   .ecs_family = DNS_ECS_IPV4,
				   .ecs_source = 8,
				   .ecs_addr = {10, 1, 2, 3}};
	static const unsigned char want[] = {
		0, 0, 41, 0x02, 0x00, 0, 0, 0x80, 0, 0, 4 + 9, /* OPT, 512, DO */
		0, 3, 0, 0,                                   /* NSID first */
		0, 8, 0, 5, 0, 1, 8, 0, 10,                   /* then ECS 10/8 */
	};
	unsigned char buf[DNS_QUERY_MAX];
	size_t len;

	(void)state;
	assert_int_equal(
	    dns_query_build("a", DNS_T_A, DNS_C_IN, 1, DNS_Q_DO, &e, buf, sizeof(buf), &len),
	    NP_OK);
	assert_int_equal(len, OPT_AT + sizeof(want));
	assert_memory_equal(buf + OPT_AT, want, sizeof(want));
	/* One byte short of the whole: too small. */
	assert_int_equal(dns_query_build("a", DNS_T_A, DNS_C_IN, 1, DNS_Q_DO, &e, buf,
					 OPT_AT + sizeof(want) - 1, &len),
			 NP_ELIMIT);

	/* Bad families and prefixes are the caller's mistake. */
	e.ecs_family = 3;
	assert_int_equal(dns_query_build("a", 1, 1, 1, 0, &e, buf, sizeof(buf), &len), NP_EINVAL);
	e.ecs_family = DNS_ECS_IPV4;
	e.ecs_source = 33;
	assert_int_equal(dns_query_build("a", 1, 1, 1, 0, &e, buf, sizeof(buf), &len), NP_EINVAL);
	e.ecs_family = DNS_ECS_IPV6;
	e.ecs_source = 129;
	assert_int_equal(dns_query_build("a", 1, 1, 1, 0, &e, buf, sizeof(buf), &len), NP_EINVAL);
	e.ecs_source = 128;
	assert_int_equal(dns_query_build("a", 1, 1, 1, 0, &e, buf, sizeof(buf), &len), NP_OK);
}

static void test_query_build_longest_with_options(void **state)
{
	static const struct dns_query_edns e = {
	    .nsid = 1, .ecs_family = DNS_ECS_IPV6, .ecs_source = 128};
	char name[300];
	unsigned char buf[DNS_QUERY_MAX];
	size_t len, i;

	(void)state;
	for (i = 0; i < 253; i++)
		name[i] = (i % 64 == 63) ? '.' : 'x';
	name[253] = '\0';
	assert_int_equal(dns_query_build(name, 1, 1, 1, DNS_Q_DO, &e, buf, sizeof(buf), &len),
			 NP_OK);
	assert_int_equal(len, 12 + 255 + 4 + 11 + 4 + 24);
	assert_true(len <= DNS_QUERY_MAX);
}

/* ---- the parser: header, sections, EDNS ---- */

static void test_parse_header(void **state)
{
	struct mb m;
	struct dns_msg *msg;

	(void)state;
	/* QR, opcode 2, AA TC RD RA Z AD CD, rcode 3 */
	mb_header(&m, 0xbeef, 0x8000 | (2 << 11) | 0x0400 | 0x0200 | 0x0100 | 0x0080 | 0x0040 |
				      0x0020 | 0x0010 | 3,
		  0, 0, 0, 0);
	msg = parse_ok(&m);
	assert_int_equal(msg->id, 0xbeef);
	assert_int_equal(msg->qr, 1);
	assert_int_equal(msg->opcode, 2);
	assert_int_equal(msg->aa, 1);
	assert_int_equal(msg->tc, 1);
	assert_int_equal(msg->rd, 1);
	assert_int_equal(msg->ra, 1);
	assert_int_equal(msg->z, 1);
	assert_int_equal(msg->ad, 1);
	assert_int_equal(msg->cd, 1);
	assert_int_equal(msg->rcode, 3);
	assert_int_equal(msg->n_question, 0);
	assert_false(msg->edns.present);
	dns_msg_free(msg);

	mb_header(&m, 1, 0, 0, 0, 0, 0);
	msg = parse_ok(&m);
	assert_int_equal(msg->qr + msg->aa + msg->tc + msg->rd + msg->ra + msg->z + msg->ad +
				 msg->cd + msg->rcode + msg->opcode,
			 0);
	dns_msg_free(msg);
}

static void test_parse_sections(void **state)
{
	struct mb m;
	struct dns_msg *msg;
	size_t at;

	(void)state;
	mb_header(&m, 7, 0x8180, 1, 2, 1, 3);
	mb_question(&m, "example.com.", DNS_T_A, DNS_C_IN);
	mb_rr(&m, DNS_T_A, DNS_C_IN, 300, RD(192, 0, 2, 1));
	mb_rr(&m, DNS_T_A, DNS_C_IN, 60, RD(192, 0, 2, 2));
	at = mb_rr_ptr(&m, DNS_T_NS, DNS_C_IN, 3600);
	mb_name(&m, "ns1.example.com.");
	mb_rr_end(&m, at);
	/* additional: a glue A, the OPT, an AAAA */
	mb_name(&m, "ns1.example.com.");
	mb_u16(&m, DNS_T_A);
	mb_u16(&m, DNS_C_IN);
	mb_u32(&m, 3600);
	mb_u16(&m, 4);
	mb_raw(&m, "\x0a\x00\x00\x01", 4);
	mb_u8(&m, 0);
	mb_u16(&m, DNS_T_OPT);
	mb_u16(&m, 1232);
	mb_u32(&m, 0x00008000);
	mb_u16(&m, 0);
	mb_rr(&m, DNS_T_AAAA, DNS_C_IN, 5,
	      RD(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1));
	msg = parse_ok(&m);

	assert_int_equal(msg->ancount, 2);
	assert_int_equal(msg->nscount, 1);
	assert_int_equal(msg->arcount, 3);
	assert_int_equal(msg->n_answer, 2);
	assert_int_equal(msg->n_authority, 1);
	assert_int_equal(msg->n_additional, 2);
	assert_string_equal(msg->answer[0].data, "192.0.2.1");
	assert_int_equal(msg->answer[0].ttl, 300);
	assert_string_equal(msg->answer[1].data, "192.0.2.2");
	assert_string_equal(msg->authority[0].name, "example.com.");
	assert_string_equal(msg->authority[0].data, "ns1.example.com.");
	assert_int_equal(msg->authority[0].type, DNS_T_NS);
	assert_string_equal(msg->additional[0].name, "ns1.example.com.");
	assert_string_equal(msg->additional[0].data, "10.0.0.1");
	assert_string_equal(msg->additional[1].data, "2001:db8::1");
	assert_true(msg->edns.present);
	assert_int_equal(msg->edns.udp_size, 1232);
	assert_true(msg->edns.dnssec_ok);
	assert_int_equal(msg->edns.flags, 0x8000);
	/* The A glue's TTL does not count; answers and authority do. */
	{
		int found = 0;

		assert_int_equal(dns_msg_min_ttl(msg, &found), 60);
		assert_true(found);
	}
	dns_msg_free(msg);
}

static void test_parse_edns(void **state)
{
	struct mb m;
	struct dns_msg *msg;

	(void)state;
	/* header rcode 0 + extended 1 = 16 (BADVERS); version 1; two options */
	mb_header(&m, 1, 0x8000, 0, 0, 0, 1);
	mb_u8(&m, 0);
	mb_u16(&m, DNS_T_OPT);
	mb_u16(&m, 512);
	mb_u32(&m, 0x01010000);
	mb_u16(&m, 4 + 8 + 4);
	mb_u16(&m, 10); /* COOKIE */
	mb_u16(&m, 8);
	mb_raw(&m, "\x01\x23\x45\x67\x89\xab\xcd\xef", 8);
	mb_u16(&m, 12); /* PADDING, empty */
	mb_u16(&m, 0);
	msg = parse_ok(&m);
	assert_int_equal(msg->rcode, 16);
	assert_int_equal(msg->edns.version, 1);
	assert_false(msg->edns.dnssec_ok);
	assert_int_equal(msg->edns.udp_size, 512);
	assert_int_equal(msg->edns.n_options, 2);
	assert_int_equal(msg->edns.options[0].code, 10);
	assert_int_equal(msg->edns.options[0].length, 8);
	assert_string_equal(msg->edns.options[0].hex, "0123456789ABCDEF");
	assert_int_equal(msg->edns.options[1].code, 12);
	assert_string_equal(msg->edns.options[1].hex, "");
	assert_int_equal(msg->n_additional, 0);
	assert_int_equal(msg->arcount, 1);
	dns_msg_free(msg);

	/* header rcode 7 + extended 1: 23 (BADCOOKIE) */
	mb_header(&m, 1, 0x8007, 0, 0, 0, 1);
	mb_u8(&m, 0);
	mb_u16(&m, DNS_T_OPT);
	mb_u16(&m, 512);
	mb_u32(&m, 0x01000000);
	mb_u16(&m, 0);
	msg = parse_ok(&m);
	assert_int_equal(msg->rcode, 23);
	dns_msg_free(msg);
}

/* A message whose OPT record holds the one option code/value. */
static struct dns_msg *parse_option(struct mb *m, unsigned code, const char *v, size_t n)
{
	mb_header(m, 1, 0x8000, 0, 0, 0, 1);
	mb_u8(m, 0);
	mb_u16(m, DNS_T_OPT);
	mb_u16(m, 1232);
	mb_u32(m, 0);
	mb_u16(m, (unsigned)(4 + n));
	mb_u16(m, code);
	mb_u16(m, (unsigned)n);
	mb_raw(m, v, n);
	return parse_ok(m);
}

static void expect_option_text(unsigned code, const char *v, size_t n, const char *text, int scope)
{
	struct mb m;
	struct dns_msg *msg = parse_option(&m, code, v, n);

	assert_int_equal(msg->edns.n_options, 1);
	assert_int_equal(msg->edns.options[0].code, code);
	if (text == NULL)
		assert_null(msg->edns.options[0].text);
	else
		assert_string_equal(msg->edns.options[0].text, text);
	assert_int_equal(msg->edns.options[0].scope, scope);
	dns_msg_free(msg);
}

static void test_parse_option_text(void **state)
{
	(void)state;
	/* NSID: printable bytes as text; any other byte: hex only. */
	expect_option_text(DNS_OPT_NSID, "ns1.np \"x\"\\", 11, "ns1.np \"x\"\\", -1);
	expect_option_text(DNS_OPT_NSID, "", 0, "", -1);
	expect_option_text(DNS_OPT_NSID, "ab\ncd", 5, NULL, -1);
	expect_option_text(DNS_OPT_NSID, "ab\0cd", 5, NULL, -1);
	expect_option_text(DNS_OPT_NSID, "caf\xc3\xa9", 5, NULL, -1);
	expect_option_text(DNS_OPT_NSID, "\x7f", 1, NULL, -1);
	/* Client Subnet: address/source, and the scope. */
	expect_option_text(DNS_OPT_ECS, "\x00\x01\x18\x10\xc0\x00\x02", 7, "192.0.2.0/24", 16);
	expect_option_text(DNS_OPT_ECS, "\x00\x01\x00\x00", 4, "0.0.0.0/0", 0);
	expect_option_text(DNS_OPT_ECS, "\x00\x02\x21\x00\x20\x01\x0d\xb8\x80", 9,
			   "2001:db8:8000::/33", 0);
	/* ... but not when the layout is wrong: address longer or shorter
	 * than the prefix, prefix past the family, unknown family, cut. */
	expect_option_text(DNS_OPT_ECS, "\x00\x01\x18\x00\xc0\x00\x02\x00", 8, NULL, -1);
	expect_option_text(DNS_OPT_ECS, "\x00\x01\x18\x00\xc0\x00", 6, NULL, -1);
	expect_option_text(DNS_OPT_ECS, "\x00\x01\x21\x00\xc0\x00\x02\x00\x00", 9, NULL, -1);
	expect_option_text(DNS_OPT_ECS, "\x00\x01\x08\x21\x0a", 5, NULL, -1);
	expect_option_text(DNS_OPT_ECS, "\x00\x03\x00\x00", 4, NULL, -1);
	expect_option_text(DNS_OPT_ECS, "\x00\x01\x00", 3, NULL, -1);
	/* Other codes are not decoded. */
	expect_option_text(DNS_OPT_COOKIE, "abcdefgh", 8, NULL, -1);
}

static void test_edns_option_names(void **state)
{
	(void)state;
	assert_string_equal(dns_edns_option_name(DNS_OPT_NSID), "NSID");
	assert_string_equal(dns_edns_option_name(DNS_OPT_ECS), "CLIENT-SUBNET");
	assert_string_equal(dns_edns_option_name(DNS_OPT_COOKIE), "COOKIE");
	assert_string_equal(dns_edns_option_name(DNS_OPT_EDE), "EDE");
	assert_string_equal(dns_edns_option_name(12), "PADDING");
	assert_null(dns_edns_option_name(4));
	assert_null(dns_edns_option_name(65001));
}

/* Many options: more slots than the parser keeps on its stack. */
static void test_parse_many_options(void **state)
{
	struct mb m;
	struct dns_msg *msg;
	size_t i;

	(void)state;
	mb_header(&m, 1, 0x8000, 0, 0, 0, 1);
	mb_u8(&m, 0);
	mb_u16(&m, DNS_T_OPT);
	mb_u16(&m, 1232);
	mb_u32(&m, 0);
	mb_u16(&m, 100 * 6);
	for (i = 0; i < 100; i++) {
		mb_u16(&m, i % 2 ? DNS_OPT_NSID : 65001);
		mb_u16(&m, 2);
		mb_raw(&m, "hi", 2);
	}
	msg = parse_ok(&m);
	assert_int_equal(msg->edns.n_options, 100);
	for (i = 0; i < 100; i++) {
		assert_string_equal(msg->edns.options[i].hex, "6869");
		if (i % 2)
			assert_string_equal(msg->edns.options[i].text, "hi");
		else
			assert_null(msg->edns.options[i].text);
	}
	dns_msg_free(msg);
}

static void test_parse_opt_errors(void **state)
{
	struct mb m;

	(void)state;
	/* OPT in the answer section */
	mb_header(&m, 1, 0x8000, 0, 1, 0, 0);
	mb_u8(&m, 0);
	mb_u16(&m, DNS_T_OPT);
	mb_u16(&m, 512);
	mb_u32(&m, 0);
	mb_u16(&m, 0);
	parse_fails(&m, NP_EPROTO, "answer record 1: OPT record in the answer section");

	/* two OPT records */
	mb_header(&m, 1, 0x8000, 0, 0, 0, 2);
	for (int i = 0; i < 2; i++) {
		mb_u8(&m, 0);
		mb_u16(&m, DNS_T_OPT);
		mb_u16(&m, 512);
		mb_u32(&m, 0);
		mb_u16(&m, 0);
	}
	parse_fails(&m, NP_EPROTO, "additional record 2: a second OPT record");

	/* OPT owned by a name other than the root */
	mb_header(&m, 1, 0x8000, 0, 0, 0, 1);
	mb_name(&m, "a.");
	mb_u16(&m, DNS_T_OPT);
	mb_u16(&m, 512);
	mb_u32(&m, 0);
	mb_u16(&m, 0);
	parse_fails(&m, NP_EPROTO, "additional record 1: the OPT record's owner is not the root");

	/* an option longer than the OPT record */
	mb_header(&m, 1, 0x8000, 0, 0, 0, 1);
	mb_u8(&m, 0);
	mb_u16(&m, DNS_T_OPT);
	mb_u16(&m, 512);
	mb_u32(&m, 0);
	mb_u16(&m, 6);
	mb_u16(&m, 10);
	mb_u16(&m, 8);
	mb_u16(&m, 0);
	parse_fails(&m, NP_EPROTO,
		    "additional record 1: EDNS option 1: its 8 bytes run past the end of the OPT "
		    "record");

	/* an option header cut short */
	mb_header(&m, 1, 0x8000, 0, 0, 0, 1);
	mb_u8(&m, 0);
	mb_u16(&m, DNS_T_OPT);
	mb_u16(&m, 512);
	mb_u32(&m, 0);
	mb_u16(&m, 2);
	mb_u16(&m, 10);
	parse_fails(&m, NP_EPROTO, "EDNS option 1: its header runs past the end of the OPT record");
}

/* ---- the parser: malformed messages ---- */

static void test_truncated_header(void **state)
{
	unsigned char buf[12] = {0};
	struct dns_msg *m;
	char err[128];
	size_t n;

	(void)state;
	for (n = 0; n < 12; n++) {
		assert_int_equal(dns_msg_parse(buf, n, &m, err, sizeof(err)), NP_EPROTO);
		assert_null(m);
		assert_non_null(strstr(err, "shorter than a DNS header"));
	}
	assert_int_equal(dns_msg_parse(buf, 12, &m, err, sizeof(err)), NP_OK);
	dns_msg_free(m);
	assert_int_equal(dns_msg_parse(NULL, 12, &m, err, sizeof(err)), NP_EINVAL);
	assert_int_equal(dns_msg_parse(buf, 12, NULL, err, sizeof(err)), NP_EINVAL);
	/* err may be NULL, or tiny */
	assert_int_equal(dns_msg_parse(buf, 3, &m, NULL, 0), NP_EPROTO);
	assert_int_equal(dns_msg_parse(buf, 3, &m, err, 1), NP_EPROTO);
	assert_string_equal(err, "");
}

static void test_counts_too_large(void **state)
{
	struct mb m;

	(void)state;
	mb_header(&m, 1, 0x8180, 1, 5000, 0, 0);
	mb_question(&m, "a.", 1, 1);
	parse_fails(&m, NP_EPROTO,
		    "the header's counts (QD 1, AN 5000, NS 0, AR 0) need at least 55005 bytes, "
		    "but only 7 follow the header");

	mb_header(&m, 1, 0x8180, 65535, 65535, 65535, 65535);
	parse_fails(&m, NP_EPROTO, "but only 0 follow the header");

	/* Counts that fit the minimum sizes but not the real records. */
	mb_header(&m, 1, 0x8180, 1, 1, 0, 0);
	mb_question(&m, "example.com.", 1, 1);
	mb_u16(&m, 0xc00c);
	mb_u16(&m, 1);
	parse_fails(&m, NP_EPROTO,
		    "answer record 1: type, class, TTL and length run past the end of the message");
}

static void test_question_truncated(void **state)
{
	struct mb m;

	(void)state;
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_name(&m, "example.com.");
	mb_u16(&m, 1);
	parse_fails(&m, NP_EPROTO, "question 1: type and class run past the end of the message");

	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_raw(&m, "\x07" "exa", 4);
	mb_u16(&m, 1);
	parse_fails(&m, NP_EPROTO, "question 1: name: label at offset 12 runs past the end");
}

static void test_rdata_past_end(void **state)
{
	struct mb m;
	size_t at;

	(void)state;
	mb_header(&m, 1, 0x8180, 1, 3, 0, 0);
	mb_question(&m, "example.com.", 1, 1);
	mb_rr(&m, 1, 1, 1, RD(1, 2, 3, 4));
	mb_rr(&m, 1, 1, 1, RD(1, 2, 3, 4));
	at = mb_rr_ptr(&m, 1, 1, 1);
	mb_raw(&m, "\x01\x02", 2);
	m.b[at + 1] = 4; /* claims 4 bytes, has 2 */
	parse_fails(&m, NP_EPROTO,
		    "answer record 3: rdata runs past the end of the message (4 bytes, 2 left)");
}

static void test_trailing_data(void **state)
{
	struct mb m;

	(void)state;
	mb_header(&m, 1, 0x8180, 1, 0, 0, 0);
	mb_question(&m, "a.", 1, 1);
	mb_raw(&m, "xyz", 3);
	parse_fails(&m, NP_EPROTO, "3 bytes of trailing data after the last record");
}

static void test_compression_valid(void **state)
{
	struct mb m;
	struct dns_msg *msg;
	size_t at, ns_off;

	(void)state;
	mb_header(&m, 1, 0x8180, 1, 2, 0, 0);
	mb_question(&m, "example.com.", DNS_T_NS, 1);
	at = mb_rr_ptr(&m, DNS_T_NS, 1, 1);
	ns_off = m.n;
	mb_raw(&m, "\x03ns1\xc0\x0c", 6); /* ns1 + pointer to example.com */
	mb_rr_end(&m, at);
	at = mb_rr_ptr(&m, DNS_T_MX, 1, 1);
	mb_u16(&m, 10);
	mb_raw(&m, "\x04mail", 5);
	mb_u8(&m, 0xc0);
	mb_u8(&m, (unsigned)ns_off); /* -> ns1 -> example.com: two hops */
	mb_rr_end(&m, at);
	msg = parse_ok(&m);
	assert_string_equal(msg->answer[0].data, "ns1.example.com.");
	assert_string_equal(msg->answer[1].data, "10 mail.ns1.example.com.");
	assert_string_equal(msg->answer[1].name, "example.com.");
	dns_msg_free(msg);

	/* The owner of the question itself may point back into the first one. */
	mb_header(&m, 1, 0, 2, 0, 0, 0);
	mb_question(&m, "example.com.", 1, 1);
	mb_raw(&m, "\x03www\xc0\x0c", 6);
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	msg = parse_ok(&m);
	assert_string_equal(msg->question[1].name, "www.example.com.");
	dns_msg_free(msg);
}

static void test_compression_loops(void **state)
{
	struct mb m;

	(void)state;
	/* a pointer to itself */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_raw(&m, "\xc0\x0c", 2);
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	parse_fails(&m, NP_EPROTO,
		    "question 1: name: compression pointer at offset 12 to offset 12 does not "
		    "point backwards");

	/* a forward pointer */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_raw(&m, "\xc0\x0e\x00", 3);
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	parse_fails(&m, NP_EPROTO, "to offset 14 does not point backwards");

	/* a pointer past the end of the message */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_raw(&m, "\xc1\x00", 2);
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	parse_fails(&m, NP_EPROTO, "to offset 256 does not point backwards");

	/* a pointer cut in half by the end of the message */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_raw(&m, "\x03" "abc\xc0", 5);
	parse_fails(&m, NP_EPROTO,
		    "question 1: name: compression pointer runs past the end of the message");

	/* a loop through a label: "a", then a pointer back to the "a" */
	mb_header(&m, 1, 0x8180, 1, 1, 0, 0);
	mb_question(&m, "x.", 1, 1);
	mb_raw(&m, "\x01" "a\xc0\x13", 4); /* at 19: label a; at 21: pointer to 19 */
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	mb_u32(&m, 1);
	mb_u16(&m, 0);
	parse_fails(&m, NP_EPROTO,
		    "answer record 1: owner name: compression pointer at offset 21 to offset 19 "
		    "does not point backwards");
}

static void test_compression_hops(void **state)
{
	struct mb m;
	struct dns_msg *msg;
	size_t i, prev;
	const size_t hops_ok = DNS_WIRE_MAX_HOPS, hops_bad = DNS_WIRE_MAX_HOPS + 1;

	(void)state;
	/* A question "a." at 12, then a chain of questions, each name a
	 * pointer to the previous one. The last needs as many hops as there
	 * are pointers in the chain. */
	mb_header(&m, 1, 0, (unsigned)(hops_bad + 1), 0, 0, 0);
	mb_question(&m, "a.", 1, 1);
	prev = 12;
	for (i = 0; i < hops_bad; i++) {
		size_t here = m.n;

		mb_u16(&m, 0xc000 | (unsigned)prev);
		mb_u16(&m, 1);
		mb_u16(&m, 1);
		prev = here;
	}
	parse_fails(&m, NP_EPROTO, "question 130: name: more than 128 compression pointers");

	m.b[5] = (unsigned char)(hops_ok + 1);
	m.n -= 6;
	msg = parse_ok(&m);
	assert_string_equal(msg->question[hops_ok].name, "a.");
	dns_msg_free(msg);
}

static void test_label_rules(void **state)
{
	struct mb m;
	struct dns_msg *msg;
	unsigned i;

	(void)state;
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_u8(&m, 0x40);
	mb_u16(&m, 0);
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	parse_fails(&m, NP_EPROTO, "question 1: name: label type 0x40 at offset 12 is not supported");

	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_u8(&m, 0x80);
	mb_u16(&m, 0);
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	parse_fails(&m, NP_EPROTO, "label type 0x80 at offset 12 is not supported");

	/* 4 labels of 63 and one of 2: 4*64 + 3 + 1 = 260 > 255 */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	for (i = 0; i < 4; i++) {
		mb_u8(&m, 63);
		memset(m.b + m.n, 'x', 63);
		m.n += 63;
	}
	mb_raw(&m, "\x02xx\x00", 4);
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	parse_fails(&m, NP_EPROTO, "question 1: name: name is longer than 255 bytes");

	/* exactly 255: 3*64 + 62 + 1 */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	for (i = 0; i < 3; i++) {
		mb_u8(&m, 63);
		memset(m.b + m.n, 'x', 63);
		m.n += 63;
	}
	mb_u8(&m, 61);
	memset(m.b + m.n, 'y', 61);
	m.n += 61;
	mb_u8(&m, 0);
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	msg = parse_ok(&m);
	assert_int_equal(strlen(msg->question[0].name), 253 + 1);
	dns_msg_free(msg);

	/* A name made long by compression is caught too. */
	mb_header(&m, 1, 0, 2, 0, 0, 0);
	for (i = 0; i < 3; i++) {
		mb_u8(&m, 63);
		memset(m.b + m.n, 'x', 63);
		m.n += 63;
	}
	mb_u8(&m, 0);
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	mb_u8(&m, 63);
	memset(m.b + m.n, 'z', 63);
	m.n += 63;
	mb_u16(&m, 0xc00c);
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	parse_fails(&m, NP_EPROTO, "question 2: name: name is longer than 255 bytes");
}

static void test_name_escaping(void **state)
{
	struct mb m;
	struct dns_msg *msg;

	(void)state;
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	/* a.b in one label, then .")(;\@$, then space \n DEL 0x80 0xff, then *, ` */
	mb_raw(&m, "\x03" "a.b", 4);
	mb_raw(&m, "\x08.\"()\\;@$", 9);
	mb_raw(&m, "\x05 \n\x7f\x80\xff", 6);
	mb_raw(&m, "\x01*\x01`\x00", 5);
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	msg = parse_ok(&m);
	assert_string_equal(msg->question[0].name,
			    "a\\.b.\\.\\\"\\(\\)\\\\\\;\\@\\$.\\032\\010\\127\\128\\255.*.`.");
	dns_msg_free(msg);
}

static void test_arena_limit(void **state)
{
	struct mb m;
	unsigned i, count;

	(void)state;
	/* A 255-byte name of bytes that print as \DDD (about 1000 characters),
	 * then as many CNAME records as fit, owner and target both pointing at
	 * it: about 2000 characters for every 14 bytes. */
	mb_header(&m, 1, 0x8180, 1, 0, 0, 0);
	for (i = 0; i < 3; i++) {
		mb_u8(&m, 63);
		memset(m.b + m.n, 0x01, 63);
		m.n += 63;
	}
	mb_u8(&m, 61);
	memset(m.b + m.n, 0x01, 61);
	m.n += 61;
	mb_u8(&m, 0);
	mb_u16(&m, 5);
	mb_u16(&m, 1);
	for (count = 0; m.n + 14 <= DNS_MSG_MAX; count++)
		mb_rr(&m, DNS_T_CNAME, 1, 1, "\xc0\x0c", 2);
	m.b[6] = (unsigned char)(count >> 8);
	m.b[7] = (unsigned char)count;
	parse_fails(&m, NP_ELIMIT, "the message's text form is larger than the limit of 1048576");

	/* Still well under: 100 such records. */
	m.b[6] = 0;
	m.b[7] = 100;
	m.n = 12 + 255 + 4 + 100 * 14;
	{
		struct dns_msg *msg = parse_ok(&m);

		assert_int_equal(msg->n_answer, 100);
		assert_string_equal(msg->answer[99].name, msg->answer[99].data);
		dns_msg_free(msg);
	}
}

static void test_message_too_big(void **state)
{
	static unsigned char big[DNS_MSG_MAX + 1];
	struct dns_msg *m;
	char err[128];

	(void)state;
	assert_int_equal(dns_msg_parse(big, sizeof(big), &m, err, sizeof(err)), NP_EPROTO);
	assert_string_equal(err, "the message is 65536 bytes; the maximum is 65535");
}

static void test_min_ttl(void **state)
{
	struct mb m;
	struct dns_msg *msg;
	size_t at;
	int found = 7;

	(void)state;
	/* NXDOMAIN with an SOA: TTL 3600, MINIMUM 30 */
	mb_header(&m, 1, 0x8183, 1, 0, 1, 0);
	mb_question(&m, "nx.example.", 1, 1);
	at = mb_rr_ptr(&m, DNS_T_SOA, 1, 3600);
	mb_name(&m, "ns.example.");
	mb_name(&m, "host.example.");
	mb_u32(&m, 2024010101);
	mb_u32(&m, 7200);
	mb_u32(&m, 900);
	mb_u32(&m, 1209600);
	mb_u32(&m, 30);
	mb_rr_end(&m, at);
	msg = parse_ok(&m);
	assert_string_equal(msg->authority[0].data,
			    "ns.example. host.example. 2024010101 7200 900 1209600 30");
	assert_int_equal(dns_msg_min_ttl(msg, &found), 30);
	assert_true(found);
	dns_msg_free(msg);

	mb_header(&m, 1, 0x8180, 1, 0, 0, 0);
	mb_question(&m, "a.", 1, 1);
	msg = parse_ok(&m);
	assert_int_equal(dns_msg_min_ttl(msg, &found), 0);
	assert_false(found);
	dns_msg_free(msg);

	assert_int_equal(dns_msg_min_ttl(NULL, &found), 0);
	assert_false(found);
	assert_int_equal(dns_msg_min_ttl(NULL, NULL), 0);
	dns_msg_free(NULL);
}

/* ---- presentation, type by type ---- */

static void test_rdata_addresses(void **state)
{
	(void)state;
	check_rdata(DNS_T_A, RD(10, 0, 0, 1), "10.0.0.1");
	check_rdata(DNS_T_AAAA, RD(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
		    "2001:db8::1");
	check_rdata(DNS_T_AAAA, RD(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4),
		    "::ffff:1.2.3.4");
	check_rdata(DNS_T_AAAA, RD(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), "::");
	check_rdata(DNS_T_EUI48, RD(0x00, 0x11, 0x22, 0x33, 0x44, 0xaa), "00-11-22-33-44-aa");
	check_rdata(DNS_T_EUI64, RD(0x00, 0x11, 0x22, 0x33, 0x44, 0xaa, 0xbb, 0xcc),
		    "00-11-22-33-44-aa-bb-cc");
	/* WKS: TCP, ports 25 and 80 */
	{
		unsigned char rd[5 + 11] = {192, 0, 2, 1, 6};

		rd[5 + 3] = 0x40;  /* 25 */
		rd[5 + 10] = 0x80; /* 80 */
		check_rdata(11, rd, sizeof(rd), "192.0.2.1 6 25 80");
	}
	/* Chaosnet A: a name and an octal address */
	check_rdata_class(DNS_T_A, DNS_C_CH, RD(1, 'a', 1, 'b', 0, 0x02, 0x9c), "a.b. 1234", 0);
	check_rdata_class(DNS_T_A, DNS_C_HS, RD(1, 2, 3, 4), "1.2.3.4", 0);
}

static void test_rdata_names(void **state)
{
	(void)state;
	check_rdata(DNS_T_NS, RD(2, 'n', 's', 1, 'a', 0), "ns.a.");
	check_rdata(DNS_T_CNAME, RD(0), ".");
	check_rdata(DNS_T_PTR, RD(4, 'h', 'o', 's', 't', 0), "host.");
	check_rdata(DNS_T_DNAME, RD(1, 'd', 0xc0, 0x0c), "d.example.com.");
	check_rdata(DNS_T_MX, RD(0, 10, 4, 'm', 'a', 'i', 'l', 0xc0, 0x0c), "10 mail.example.com.");
	check_rdata(DNS_T_MX, RD(0, 0, 0), "0 .");
	check_rdata(DNS_T_AFSDB, RD(0, 1, 1, 'x', 0), "1 x.");
	check_rdata(DNS_T_KX, RD(0, 5, 1, 'k', 0), "5 k.");
	check_rdata(DNS_T_RP, RD(1, 'm', 0, 0), "m. .");
	check_rdata(DNS_T_SRV, RD(0, 1, 0, 2, 0x01, 0xbb, 1, 't', 0), "1 2 443 t.");
	check_rdata(DNS_T_SOA,
		    RD(2, 'n', 's', 0, 1, 'h', 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4,
		       0xff, 0xff, 0xff, 0xff),
		    "ns. h. 1 2 3 4 4294967295");
}

static void test_rdata_text(void **state)
{
	(void)state;
	check_rdata(DNS_T_TXT, RD(5, 'h', 'e', 'l', 'l', 'o', 5, 'w', 'o', 'r', 'l', 'd'),
		    "\"hello\" \"world\"");
	check_rdata(DNS_T_TXT, RD(0), "\"\"");
	/* quote, comma, backslash, DEL; space and tab; ; and @ need nothing */
	check_rdata(DNS_T_TXT, RD(4, '"', ',', '\\', 0x7f), "\"\\\",\\\\\\127\"");
	check_rdata(DNS_T_TXT, RD(5, 'a', ' ', '\t', ';', '@'), "\"a \\009;@\"");
	check_rdata(DNS_T_TXT, RD(3, 0x00, 0xff, 0x80), "\"\\000\\255\\128\"");
	check_rdata(DNS_T_SPF, RD(3, 'v', '=', 's'), "\"v=s\"");
	check_rdata(DNS_T_HINFO, RD(3, 'a', ' ', 'b', 0), "\"a b\" \"\"");
	check_rdata(DNS_T_NAPTR,
		    RD(0, 100, 0, 10, 1, 'U', 7, 'E', '2', 'U', '+', 's', 'i', 'p', 27, '!', '^',
		       '.', '*', '$', '!', 's', 'i', 'p', ':', 'i', 'n', 'f', 'o', '@', 'e', 'x',
		       'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', '!', 0),
		    "100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:info@example.com!\" .");
	check_rdata(DNS_T_CAA,
		    RD(0, 5, 'i', 's', 's', 'u', 'e', 'l', 'e', 't', 's', 'e', 'n', 'c', 'r', 'y',
		       'p', 't', '.', 'o', 'r', 'g'),
		    "0 issue \"letsencrypt.org\"");
	check_rdata(DNS_T_CAA, RD(128, 5, 'i', 'o', 'd', 'e', 'f'), "128 iodef \"\"");
	check_rdata(DNS_T_CAA, RD(0, 5, 'i', 's', 's', 'u', 'e', '"', '\\', 1, ' '),
		    "0 issue \"\\\"\\\\\\001 \"");
	check_rdata(DNS_T_URI, RD(0, 10, 0, 1, 'h', 't', 't', 'p', ':', '/', '/', 'x', '/'),
		    "10 1 \"http://x/\"");
	check_rdata(DNS_T_URI, RD(0, 10, 0, 1), "10 1 \"\"");
}

static void test_rdata_dnssec(void **state)
{
	unsigned char rd[300];
	size_t n = 0, i;

	(void)state;
	/* DS with SHA-256: 64 hex digits, split after 56 as dig does */
	memcpy(rd, "\x30\x39\x08\x02", 4);
	memset(rd + 4, 0xab, 32);
	check_rdata(DNS_T_DS, rd, 36,
		    "12345 8 2 ABABABABABABABABABABABABABABABABABABABABABABABABABABABAB ABABABAB");
	check_rdata(DNS_T_CDS, RD(0, 0, 0, 0, 0), "0 0 0 00");

	/* DNSKEY: base64 split after 56 characters */
	memcpy(rd, "\x01\x01\x03\x08", 4);
	memset(rd + 4, 0x01, 60);
	check_rdata(DNS_T_DNSKEY, rd, 64,
		    "257 3 8 AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB "
		    "AQEBAQEBAQEBAQEBAQEBAQEB");
	check_rdata(DNS_T_CDNSKEY, RD(0, 0, 3, 0, 0), "0 3 0 AA==");
	check_rdata(DNS_T_DNSKEY, RD(1, 1, 3, 8, 1, 2, 3, 4), "257 3 8 AQIDBA==");

	/* RRSIG: times as YYYYMMDDHHMMSS, signer absolute */
	n = 0;
	memcpy(rd, "\x00\x01\x08\x02\x00\x00\x0e\x10", 8); /* A, alg 8, 2 labels, 3600 */
	memcpy(rd + 8, "\x65\x53\xf1\x00", 4);             /* 1700000000 */
	memcpy(rd + 12, "\x64\xbb\x5a\x80", 4);            /* 1690000000 */
	memcpy(rd + 16, "\x30\x39", 2);
	memcpy(rd + 18, "\x07" "example\x03" "com\x00", 13);
	n = 31;
	for (i = 0; i < 100; i++)
		rd[n++] = 0x01;
	check_rdata(DNS_T_RRSIG, rd, n,
		    "A 8 2 3600 20231114221320 20230722042640 12345 example.com. "
		    "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB "
		    "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB "
		    "AQEBAQEBAQEBAQEBAQEBAQ==");
	/* An unknown type covered prints as TYPEn. */
	rd[0] = 0xff;
	rd[1] = 0x00;
	check_rdata(DNS_T_RRSIG, rd, 32,
		    "TYPE65280 8 2 3600 20231114221320 20230722042640 12345 example.com. AQ==");

	/* NSEC: A RRSIG NSEC, and a second window */
	check_rdata(DNS_T_NSEC, RD(1, 'a', 0, 0, 6, 0x40, 0, 0, 0, 0, 3),
		    "a. A RRSIG NSEC");
	check_rdata(DNS_T_NSEC, RD(1, 'a', 0, 0, 1, 0x24, 1, 1, 0x40), "a. NS CNAME CAA");
	check_rdata(DNS_T_NSEC, RD(1, 'a', 0, 0xff, 1, 0x80), "a. TYPE65280");

	/* NSEC3 with salt and a 20-byte hash, and without salt or types */
	n = 0;
	memcpy(rd, "\x01\x01\x00\x64\x04\xaa\xbb\xcc\xdd\x14", 10);
	n = 10;
	memset(rd + n, 0xab, 20);
	n += 20;
	memcpy(rd + n, "\x00\x01\x62", 3);
	n += 3;
	check_rdata(DNS_T_NSEC3, rd, n,
		    "1 1 100 AABBCCDD LELQNATBLELQNATBLELQNATBLELQNATB A NS SOA");
	memcpy(rd, "\x01\x00\x00\x00\x00\x14", 6);
	memset(rd + 6, 0, 20);
	check_rdata(DNS_T_NSEC3, rd, 26, "1 0 0 - 00000000000000000000000000000000");
	check_rdata(DNS_T_NSEC3PARAM, RD(1, 0, 0, 0, 0), "1 0 0 -");
	check_rdata(DNS_T_NSEC3PARAM, RD(1, 0, 0, 10, 2, 0xab, 0xcd), "1 0 10 ABCD");

	/* SSHFP and TLSA: hex split after 56 */
	memcpy(rd, "\x01\x02", 2);
	memset(rd + 2, 0xab, 32);
	check_rdata(DNS_T_SSHFP, rd, 34,
		    "1 2 ABABABABABABABABABABABABABABABABABABABABABABABABABABABAB ABABABAB");
	check_rdata(DNS_T_SSHFP, RD(1, 3, 0xab, 0xcd), "1 3 ABCD");
	check_rdata(DNS_T_TLSA, RD(3, 1, 1, 0), "3 1 1 00");
	memcpy(rd, "\x03\x01\x01", 3);
	memset(rd + 3, 0xcd, 32);
	check_rdata(DNS_T_SMIMEA, rd, 35,
		    "3 1 1 CDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCD CDCDCDCD");

	/* CSYNC and ZONEMD */
	check_rdata(DNS_T_CSYNC, RD(0, 0, 0, 1, 0, 3, 0, 1, 0x62), "1 3 A NS SOA");
	check_rdata(DNS_T_CSYNC, RD(0, 0, 0, 1, 0, 3), "1 3");
	memcpy(rd, "\x00\x00\x00\x01\x01\x09", 6);
	memset(rd + 6, 0xab, 12);
	check_rdata(DNS_T_ZONEMD, rd, 18, "1 1 9 ABABABABABABABABABABABAB");

	/* CERT, IPSECKEY, DHCID, OPENPGPKEY */
	check_rdata(DNS_T_CERT, RD(0, 1, 0x30, 0x39, 8, 1, 2, 3), "PKIX 12345 RSASHA256 AQID");
	check_rdata(DNS_T_CERT, RD(0xfd, 0xe8, 0x30, 0x39, 200, 1, 2, 3), "65000 12345 200 AQID");
	check_rdata(DNS_T_IPSECKEY, RD(10, 0, 2, 1, 2, 3), "10 0 2 . AQID");
	check_rdata(DNS_T_IPSECKEY, RD(10, 1, 2, 1, 2, 3, 4, 1, 2, 3), "10 1 2 1.2.3.4 AQID");
	check_rdata(DNS_T_IPSECKEY, RD(10, 3, 2, 2, 'g', 'w', 0, 1, 2, 3), "10 3 2 gw. AQID");
	check_rdata(DNS_T_DHCID, RD(0, 1), "AAE=");
	check_rdata(DNS_T_OPENPGPKEY, RD(0, 0xff), "AP8=");
}

static void test_rdata_svcb(void **state)
{
	(void)state;
	check_rdata(DNS_T_HTTPS,
		    RD(0, 1, 0,                               /* 1 . */
		       0, 1, 0, 6, 2, 'h', '2', 2, 'h', '3',  /* alpn */
		       0, 3, 0, 2, 0x01, 0xbb,                /* port */
		       0, 4, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8,    /* ipv4hint */
		       0, 6, 0, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
		    "1 . alpn=\"h2,h3\" port=443 ipv4hint=1.2.3.4,5.6.7.8 ipv6hint=2001:db8::1");
	check_rdata(DNS_T_HTTPS, RD(0, 0, 1, 'a', 1, 'b', 0), "0 a.b.");
	check_rdata(DNS_T_HTTPS,
		    RD(0, 1, 0, 0, 0, 0, 2, 0, 1, 0, 1, 0, 3, 2, 'h', '2'),
		    "1 . mandatory=alpn alpn=\"h2\"");
	/* a comma and a backslash inside an alpn id */
	check_rdata(DNS_T_HTTPS, RD(0, 1, 0, 0, 1, 0, 6, 5, 'a', ',', 'b', '\\', 'c'),
		    "1 . alpn=\"a\\\\,b\\\\\\\\c\"");
	check_rdata(DNS_T_HTTPS, RD(0, 1, 0, 0, 1, 0, 3, 2, 'a', 1, 0, 2, 0, 0),
		    "1 . alpn=\"a\\001\" no-default-alpn");
	/* ech is base64; 7 (dohpath) is not known to BIND 9.18 */
	check_rdata(DNS_T_HTTPS,
		    RD(0, 1, 0, 0, 5, 0, 3, 1, 2, 3, 0, 7, 0, 4, '/', 'q', '"', '\\'),
		    "1 . ech=AQID key7=\"/q\\\"\\\\\"");
	check_rdata(DNS_T_SVCB, RD(0, 1, 0, 0xfd, 0xe8, 0, 3, 'a', ' ', 'b', 0xfd, 0xe9, 0, 0),
		    "1 . key65000=\"a b\" key65001");
	check_rdata(DNS_T_SVCB, RD(0, 0, 0, 0, 3, 0, 2, 0, 53), "0 . port=53");

	/* broken: keys out of order, a bad port, mandatory naming a missing key,
	 * no-default-alpn without alpn, an empty alpn id */
	check_generic(DNS_T_SVCB, RD(0, 1, 0, 0, 3, 0, 2, 0, 1, 0, 1, 0, 3, 2, 'h', '2'),
		      "\\# 16 00010000030002000100010003026832");
	check_generic(DNS_T_SVCB, RD(0, 1, 0, 0, 3, 0, 3, 'a', 'b', 'c'),
		      "\\# 10 00010000030003616263");
	check_generic(DNS_T_SVCB, RD(0, 1, 0, 0, 0, 0, 2, 0, 4),
		      "\\# 9 000100000000020004");
	check_generic(DNS_T_SVCB, RD(0, 1, 0, 0, 2, 0, 0), "\\# 7 00010000020000");
	check_generic(DNS_T_HTTPS, RD(0, 1, 0, 0, 1, 0, 4, 2, 'h', '2', 0),
		      "\\# 11 0001000001000402683200");
	check_generic(DNS_T_HTTPS, RD(0, 1), "\\# 2 0001");
	/* SVCB is for class IN only */
	check_rdata_class(DNS_T_SVCB, DNS_C_CH, RD(0, 0, 0), "\\# 3 000000", 1);
}

static void test_rdata_loc_apl(void **state)
{
	(void)state;
	check_rdata(DNS_T_LOC,
		    RD(0, 0x12, 0x16, 0x13, 0x8c, 0xef, 0x0f, 0x1f, 0x80, 0x04, 0x4d, 0xf0, 0x00,
		       0x98, 0x95, 0xb8),
		    "60 16 33.567 N 0 4 42.096 E -2.00m 1m 10000m 10m");
	check_rdata(DNS_T_LOC, RD(0, 0, 0, 0, 0x80, 0, 0, 0, 0x80, 0, 0, 0, 0, 0x98, 0x96, 0x80),
		    "0 0 0.000 N 0 0 0.000 E 0.00m 0.00m 0.00m 0.00m");
	check_rdata(DNS_T_LOC,
		    RD(0, 0x10, 0x10, 0x13, 0x7f, 0xff, 0xff, 0xff, 0x80, 0, 0, 1, 0, 0x98, 0x96,
		       0x81),
		    "0 0 0.001 S 0 0 0.001 E 0.01m 0.01m 0.01m 10m");
	/* version 1, and a size with a mantissa of 10: generic */
	check_generic(DNS_T_LOC, RD(1, 0x12, 0x16, 0x13, 0x80, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0),
		      "\\# 16 01121613800000008000000000000000");
	check_generic(DNS_T_LOC, RD(0, 0xa2, 0x16, 0x13, 0x80, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0),
		      "\\# 16 00A21613800000008000000000000000");

	check_rdata(DNS_T_APL,
		    RD(0, 1, 24, 3, 192, 168, 1, 0, 2, 32, 0x84, 0x20, 0x01, 0x0d, 0xb8),
		    "1:192.168.1.0/24 !2:2001:db8::/32");
	check_rdata(DNS_T_APL, NULL, 0, "");
	check_generic(DNS_T_APL, RD(0, 1, 33, 1, 192), "\\# 5 00012101C0");
	check_generic(DNS_T_APL, RD(0, 3, 24, 1, 192), "\\# 5 00031801C0");
	check_generic(DNS_T_APL, RD(0, 1, 24, 4, 192, 168, 0, 0), "\\# 8 00011804C0A80000");
}

/* ILNP (RFC 6742): NID 104, L32 105, L64 106, LP 107. */
static void test_rdata_ilnp(void **state)
{
	(void)state;
	/* NID and L64: four 16-bit groups in hex, no leading zeros */
	check_rdata(104, RD(0, 10, 0x00, 0x14, 0x4f, 0xff, 0xff, 0x20, 0xee, 0x64),
		    "10 14:4fff:ff20:ee64");
	check_rdata(104, RD(0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0), "65535 0:0:0:0");
	check_rdata(106, RD(0, 10, 0x20, 0x01, 0x0d, 0xb8, 0x11, 0x40, 0x10, 0x00),
		    "10 2001:db8:1140:1000");
	check_rdata(106, RD(0, 0, 0xff, 0xff, 0xab, 0xcd, 0x00, 0x01, 0x0f, 0xf0),
		    "0 ffff:abcd:1:ff0");
	/* L32: a dotted quad */
	check_rdata(105, RD(0, 10, 10, 1, 2, 0), "10 10.1.2.0");
	check_rdata(105, RD(0x01, 0x00, 255, 255, 255, 255), "256 255.255.255.255");
	/* LP: a name, compressed or not */
	check_rdata(107,
		    RD(0, 10, 11, 'l', '6', '4', '-', 's', 'u', 'b', 'n', 'e', 't', '1', 2, 'n',
		       'p', 4, 't', 'e', 's', 't', 0),
		    "10 l64-subnet1.np.test.");
	check_rdata(107, RD(0, 20, 1, 'x', 0xc0, 0x0c), "20 x.example.com.");
	check_rdata(107, RD(0, 0, 0), "0 .");
	/* The layout is the same in every class. */
	check_rdata_class(105, DNS_C_CH, RD(0, 1, 1, 2, 3, 4), "1 1.2.3.4", 0);
	check_rdata_class(104, DNS_C_HS, RD(0, 1, 0, 0, 0, 0, 0, 0, 0, 1), "1 0:0:0:1", 0);

	/* Lengths that do not fit: generic */
	check_generic(104, NULL, 0, "\\# 0");
	check_generic(104, RD(0, 10, 0, 0x14, 0x4f, 0xff, 0xff, 0x20, 0xee),
		      "\\# 9 000A00144FFFFF20EE");
	check_generic(104, RD(0, 10, 0, 0x14, 0x4f, 0xff, 0xff, 0x20, 0xee, 0x64, 0),
		      "\\# 11 000A00144FFFFF20EE6400");
	check_generic(106, RD(0, 10), "\\# 2 000A");
	check_generic(106, RD(0, 10, 0x20, 0x01, 0x0d, 0xb8, 0x11, 0x40, 0x10),
		      "\\# 9 000A20010DB8114010");
	check_generic(106, RD(0, 10, 0x20, 0x01, 0x0d, 0xb8, 0x11, 0x40, 0x10, 0x00, 0xff),
		      "\\# 11 000A20010DB811401000FF");
	check_generic(105, NULL, 0, "\\# 0");
	check_generic(105, RD(0, 10, 10, 1, 2), "\\# 5 000A0A0102");
	check_generic(105, RD(0, 10, 10, 1, 2, 0, 0), "\\# 7 000A0A01020000");
	check_generic(107, NULL, 0, "\\# 0");
	check_generic(107, RD(0), "\\# 1 00");
	check_generic(107, RD(0, 10), "\\# 2 000A");
	check_generic(107, RD(0, 10, 1, 'x'), "\\# 4 000A0178");
	check_generic(107, RD(0, 10, 1, 'x', 0, 0), "\\# 6 000A01780000");
	check_generic(107, RD(0, 10, 0xc0, 0xff), "\\# 4 000AC0FF");
}

static void test_rdata_generic(void **state)
{
	unsigned char rd[41];
	size_t i;

	(void)state;
	check_generic(65280, RD(0x0a, 0, 0, 1), "\\# 4 0A000001");
	check_generic(65280, NULL, 0, "\\# 0");
	for (i = 0; i < sizeof(rd); i++)
		rd[i] = (unsigned char)i;
	check_generic(65280, rd, sizeof(rd),
		      "\\# 41 000102030405060708090A0B0C0D0E0F101112131415161718191A1B "
		      "1C1D1E1F202122232425262728");
	/* Known types whose rdata does not fit: */
	check_generic(DNS_T_A, RD(10, 0, 0, 1, 2), "\\# 5 0A00000102");
	check_generic(DNS_T_A, RD(10, 0, 0), "\\# 3 0A0000");
	check_generic(DNS_T_AAAA, RD(1, 2, 3, 4), "\\# 4 01020304");
	check_generic(DNS_T_TXT, NULL, 0, "\\# 0");
	check_generic(DNS_T_TXT, RD(5, 'a', 'b', 'c'), "\\# 4 05616263");
	check_generic(DNS_T_HINFO, RD(1, 'A'), "\\# 2 0141");
	check_generic(DNS_T_NS, RD(2, 'n', 's'), "\\# 3 026E73");
	check_generic(DNS_T_NS, RD(1, 'a', 0, 0), "\\# 4 01610000");
	check_generic(DNS_T_MX, RD(0, 10, 0xc0, 0xff), "\\# 4 000AC0FF");
	check_generic(DNS_T_DNSKEY, RD(1, 1, 3, 8), "\\# 4 01010308");
	check_generic(DNS_T_DS, RD(0x30, 0x39, 8, 1, 0xab), "\\# 5 30390801AB");
	check_generic(DNS_T_SSHFP, RD(1, 1, 0xab), "\\# 3 0101AB");
	check_generic(DNS_T_TLSA, RD(3, 1, 1), "\\# 3 030101");
	check_generic(DNS_T_NSEC, RD(1, 'a', 0), "\\# 3 016100");
	check_generic(DNS_T_NSEC, RD(1, 'a', 0, 1, 1, 0x40, 0, 1, 2), "\\# 9 016100010140000102");
	check_generic(DNS_T_NSEC3PARAM, RD(1, 0, 0, 0, 0, 0xff), "\\# 6 0100000000FF");
	check_generic(DNS_T_CAA, RD(0, 6, 'i', 's', '-', 's', 'u', 'e', 'x'),
		      "\\# 9 000669732D73756578");
	check_generic(DNS_T_CAA, RD(0, 0, 'x'), "\\# 3 000078");
	check_generic(DNS_T_ZONEMD, RD(0, 0, 0, 1, 1, 1, 0xab), "\\# 7 000000010101AB");
	check_generic(DNS_T_IPSECKEY, RD(10, 4, 2, 1, 2, 3), "\\# 6 0A0402010203");
	check_generic(DNS_T_URI, RD(0, 10), "\\# 2 000A");
	check_generic(DNS_T_SRV, RD(0, 1, 0, 2, 0x01, 0xbb), "\\# 6 0001000201BB");
	/* SRV outside class IN; TSIG, TKEY and NULL are always generic here */
	check_rdata_class(DNS_T_SRV, DNS_C_CH, RD(0, 1, 0, 2, 0x01, 0xbb, 0), "\\# 7 0001000201BB00",
			  1);
	check_generic(10, RD(0xab, 0xcd), "\\# 2 ABCD");
}

/* ---- reverse names ---- */

static void test_reverse_name(void **state)
{
	char out[DNS_REVERSE_TEXT_MAX];

	(void)state;
	assert_int_equal(dns_reverse_name("1.2.3.4", out, sizeof(out)), NP_OK);
	assert_string_equal(out, "4.3.2.1.in-addr.arpa");
	assert_int_equal(dns_reverse_name("192.0.2.255", out, sizeof(out)), NP_OK);
	assert_string_equal(out, "255.2.0.192.in-addr.arpa");
	assert_int_equal(dns_reverse_name("2001:db8::1", out, sizeof(out)), NP_OK);
	assert_string_equal(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."
				 "ip6.arpa");
	assert_int_equal(dns_reverse_name("::", out, sizeof(out)), NP_OK);
	assert_int_equal(strlen(out), 72);
	assert_int_equal(dns_reverse_name("::ffff:1.2.3.4", out, sizeof(out)), NP_OK);
	assert_string_equal(out, "4.0.3.0.2.0.1.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
				 "ip6.arpa");
	assert_int_equal(dns_reverse_name("FE80::ABCD", out, sizeof(out)), NP_OK);
	assert_string_equal(out, "d.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f."
				 "ip6.arpa");

	assert_int_equal(dns_reverse_name("1.2.3", out, sizeof(out)), NP_EINVAL);
	assert_string_equal(out, "");
	assert_int_equal(dns_reverse_name("1.2.3.256", out, sizeof(out)), NP_EINVAL);
	assert_int_equal(dns_reverse_name("example.com", out, sizeof(out)), NP_EINVAL);
	assert_int_equal(dns_reverse_name("", out, sizeof(out)), NP_EINVAL);
	assert_int_equal(dns_reverse_name(" 1.2.3.4", out, sizeof(out)), NP_EINVAL);
	assert_int_equal(dns_reverse_name("fe80::1%eth0", out, sizeof(out)), NP_EINVAL);
	assert_int_equal(dns_reverse_name(NULL, out, sizeof(out)), NP_EINVAL);
	assert_int_equal(dns_reverse_name("1.2.3.4", out, 20), NP_ELIMIT);
	assert_string_equal(out, "");
	assert_int_equal(dns_reverse_name("1.2.3.4", out, 21), NP_OK);
	assert_int_equal(dns_reverse_name("::1", out, 72), NP_ELIMIT);
	assert_int_equal(dns_reverse_name("::1", out, 73), NP_OK);
}

/* ---- the text arena and name reader directly ---- */

static void test_text_arena(void **state)
{
	struct dns_wire_text t;

	(void)state;
	dns_wire_text_init(&t, 8);
	dns_wire_puts(&t, "abcd");
	dns_wire_printf(&t, "%d", 123);
	assert_int_equal(t.status, NP_OK);
	assert_int_equal(t.len, 7);
	dns_wire_puts(&t, "xy"); /* 9 > 8 */
	assert_int_equal(t.status, NP_ELIMIT);
	assert_int_equal(t.len, 7);
	dns_wire_putc(&t, 'z'); /* sticky: nothing more is written */
	assert_int_equal(t.len, 7);
	dns_wire_text_free(&t);

	dns_wire_text_init(&t, 1 << 16);
	dns_wire_printf(&t, "%0300d", 5); /* longer than printf's small buffer */
	dns_wire_text_end(&t);
	assert_int_equal(t.len, 301);
	assert_int_equal(t.buf[299], '5');
	dns_wire_text_rewind(&t, 2);
	dns_wire_base64(&t, (const unsigned char *)"foobar", 6, 0);
	dns_wire_putc(&t, ' ');
	dns_wire_base64(&t, (const unsigned char *)"fo", 2, 0);
	dns_wire_putc(&t, ' ');
	dns_wire_hex(&t, (const unsigned char *)"\x01\xfe\x10", 3, 2);
	dns_wire_text_end(&t);
	assert_string_equal(t.buf + 2, "Zm9vYmFy Zm8= 01 FE 10");
	dns_wire_text_free(&t);
}

/* ---- allocation failure ---- */

struct parse_sweep {
	const struct mb *m;
	size_t n_answer;
	size_t n_options;
	const char *first_data; /* the first answer's rdata */
};

/* One parse under the hook: NP_ENOMEM with nothing kept and the message
 * saying so, or the whole message. Frees what it made. */
static int parse_op(void *ud)
{
	const struct parse_sweep *w = ud;
	struct dns_msg *msg = (struct dns_msg *)&msg;
	char err[256];
	int rc = dns_msg_parse(w->m->b, w->m->n, &msg, err, sizeof(err));

	if (rc != NP_OK) {
		assert_null(msg);
		if (rc == NP_ENOMEM)
			assert_non_null(strstr(err, "out of memory"));
		return rc;
	}
	assert_int_equal(msg->n_answer, w->n_answer);
	assert_int_equal(msg->edns.n_options, w->n_options);
	if (w->first_data != NULL)
		assert_string_equal(msg->answer[0].data, w->first_data);
	dns_msg_free(msg);
	return rc;
}

static long sweep_parse(const struct mb *m, size_t n_answer, size_t n_options,
			const char *first_data)
{
	struct parse_sweep w = {m, n_answer, n_options, first_data};

	return alloc_fail_sweep(parse_op, &w, NP_OK, NP_ENOMEM);
}

/* An OPT record (owner root) holding nsid, a Client Subnet, a cookie and
 * an EDE, then `extra` empty options of an unknown code. */
static void mb_opt_with_options(struct mb *m, unsigned extra)
{
	size_t at;

	mb_u8(m, 0);
	mb_u16(m, DNS_T_OPT);
	mb_u16(m, 1232);
	mb_u32(m, 0x00008000);
	at = m->n;
	mb_u16(m, 0);
	mb_u16(m, DNS_OPT_NSID);
	mb_u16(m, 6);
	mb_raw(m, "ns1.np", 6);
	mb_u16(m, DNS_OPT_ECS);
	mb_u16(m, 7);
	mb_raw(m, "\x00\x01\x18\x10\xc0\x00\x02", 7);
	mb_u16(m, DNS_OPT_COOKIE);
	mb_u16(m, 8);
	mb_raw(m, "\x01\x23\x45\x67\x89\xab\xcd\xef", 8);
	mb_u16(m, DNS_OPT_EDE);
	mb_u16(m, 2);
	mb_u16(m, 18);
	for (unsigned i = 0; i < extra; i++) {
		mb_u16(m, 65001);
		mb_u16(m, 0);
	}
	mb_rr_end(m, at);
}

static void test_parse_out_of_memory_small(void **state)
{
	struct mb *m = malloc(sizeof(*m));
	size_t at;
	long points;

	(void)state;
	assert_non_null(m);
	/* The shape of a common answer: question, answers, authority, glue
	 * and an OPT with options; slots fit on the stack. */
	mb_header(m, 7, 0x8180, 1, 2, 1, 3);
	mb_question(m, "example.com.", DNS_T_A, DNS_C_IN);
	mb_rr(m, DNS_T_A, DNS_C_IN, 300, RD(192, 0, 2, 1));
	mb_rr(m, DNS_T_A, DNS_C_IN, 60, RD(192, 0, 2, 2));
	at = mb_rr_ptr(m, DNS_T_NS, DNS_C_IN, 3600);
	mb_name(m, "ns1.example.com.");
	mb_rr_end(m, at);
	mb_name(m, "ns1.example.com.");
	mb_u16(m, DNS_T_A);
	mb_u16(m, DNS_C_IN);
	mb_u32(m, 3600);
	mb_u16(m, 4);
	mb_raw(m, "\x0a\x00\x00\x01", 4);
	mb_opt_with_options(m, 0);
	mb_rr(m, DNS_T_AAAA, DNS_C_IN, 5,
	      RD(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1));
	points = sweep_parse(m, 2, 4, "192.0.2.1");
	print_message("small answer with EDNS options: %ld allocations\n", points);
	assert_true(points >= 3); /* block, arena, options */

	/* No record at all: the block and nothing else. */
	mb_header(m, 7, 0x8183, 1, 0, 0, 0);
	mb_question(m, "example.com.", DNS_T_A, DNS_C_IN);
	assert_true(sweep_parse(m, 0, 0, NULL) >= 1);
	free(m);
}

/* More options than the stack's slots: their slots move to the heap. */
static void test_parse_out_of_memory_many_options(void **state)
{
	struct mb *m = malloc(sizeof(*m));
	long points;

	(void)state;
	assert_non_null(m);
	mb_header(m, 1, 0x8180, 1, 1, 0, 1);
	mb_question(m, "example.com.", DNS_T_A, DNS_C_IN);
	mb_rr(m, DNS_T_A, DNS_C_IN, 300, RD(192, 0, 2, 1));
	mb_opt_with_options(m, 60);
	points = sweep_parse(m, 1, 64, "192.0.2.1");
	print_message("many EDNS options: %ld allocations\n", points);
	assert_true(points >= 4);
	free(m);
}

/* Many records: slots on the heap from the start, the options' slots
 * grown by realloc, and an arena that doubles several times. */
static void test_parse_out_of_memory_many_records(void **state)
{
	struct mb *m = malloc(sizeof(*m));
	unsigned char txt[201];
	long points;
	size_t i;

	(void)state;
	assert_non_null(m);
	memset(txt, 'x', sizeof(txt));
	txt[0] = 200;
	mb_header(m, 1, 0x8180, 1, 250, 0, 1);
	mb_question(m, "example.com.", DNS_T_TXT, DNS_C_IN);
	for (i = 0; i < 250; i++)
		mb_rr(m, DNS_T_TXT, DNS_C_IN, 300, txt, sizeof(txt));
	mb_opt_with_options(m, 2);
	points = sweep_parse(m, 250, 6, NULL);
	print_message("250 TXT records and EDNS options: %ld allocations\n", points);
	assert_true(points >= 10);
	free(m);
}

static int query_build_op(void *ud)
{
	static const struct dns_query_edns edns = {
	    .udp_size = 4096, .nsid = 1, .ecs_family = DNS_ECS_IPV4, .ecs_source = 24,
	    .ecs_addr = {192, 0, 2, 0}};
	unsigned char buf[DNS_QUERY_MAX];
	size_t len;

	(void)ud;
	return dns_query_build("www.example.com", DNS_T_AAAA, DNS_C_IN, 1, DNS_Q_RD | DNS_Q_DO,
			       &edns, buf, sizeof(buf), &len);
}

/* The builder writes into the caller's buffer: it never allocates. */
static void test_query_build_allocates_nothing(void **state)
{
	(void)state;
	assert_int_equal(alloc_fail_sweep(query_build_op, NULL, NP_OK, NP_ENOMEM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_table),
		cmocka_unit_test(test_class_table),
		cmocka_unit_test(test_rcode_table),
		cmocka_unit_test(test_name_validate_ok),
		cmocka_unit_test(test_name_validate_errors),
		cmocka_unit_test(test_query_build_plain),
		cmocka_unit_test(test_query_build_edns),
		cmocka_unit_test(test_query_build_errors),
		cmocka_unit_test(test_query_build_longest),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_query_build_nsid),
		cmocka_unit_test(test_query_build_ecs),
		cmocka_unit_test(test_query_build_options_together),
		cmocka_unit_test(test_query_build_longest_with_options),
		cmocka_unit_test(test_parse_header),
		cmocka_unit_test(test_parse_sections),
		cmocka_unit_test(test_parse_edns),
		cmocka_unit_test(test_parse_option_text),
		cmocka_unit_test(test_edns_option_names),
		cmocka_unit_test(test_parse_many_options),
		cmocka_unit_test(test_parse_opt_errors),
		cmocka_unit_test(test_truncated_header),
		cmocka_unit_test(test_counts_too_large),
		cmocka_unit_test(test_question_truncated),
		cmocka_unit_test(test_rdata_past_end),
		cmocka_unit_test(test_trailing_data),
		cmocka_unit_test(test_compression_valid),
		cmocka_unit_test(test_compression_loops),
		cmocka_unit_test(test_compression_hops),
		cmocka_unit_test(test_label_rules),
		cmocka_unit_test(test_name_escaping),
		cmocka_unit_test(test_arena_limit),
		cmocka_unit_test(test_message_too_big),
		cmocka_unit_test(test_min_ttl),
		cmocka_unit_test(test_rdata_addresses),
		cmocka_unit_test(test_rdata_names),
		cmocka_unit_test(test_rdata_text),
		cmocka_unit_test(test_rdata_dnssec),
		cmocka_unit_test(test_rdata_svcb),
		cmocka_unit_test(test_rdata_loc_apl),
		cmocka_unit_test(test_rdata_ilnp),
		cmocka_unit_test(test_rdata_generic),
		cmocka_unit_test(test_reverse_name),
		cmocka_unit_test(test_text_arena),
		cmocka_unit_test(test_parse_out_of_memory_small),
		cmocka_unit_test(test_parse_out_of_memory_many_options),
		cmocka_unit_test(test_parse_out_of_memory_many_records),
		cmocka_unit_test(test_query_build_allocates_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
