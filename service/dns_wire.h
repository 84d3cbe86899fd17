/*
 * dns_wire.h - the DNS wire format, with no I/O: type, class and rcode
 * names; validation of names given for queries; building a query; parsing
 * a message into presentation text as dig (BIND 9.18) prints it; and the
 * names asked for reverse lookups.
 *
 * Two callers feed it: the c-ares based resolver, which sends the queries
 * built here with ares_send() and hands back the raw answer, and the
 * DNS-over-HTTPS endpoint, which parses messages from untrusted clients.
 * The parser therefore treats every byte as hostile: anything malformed is
 * NP_EPROTO with a message that says where ("answer record 3: rdata runs
 * past the end of the message"), and the text it produces is bounded.
 *
 * Every function is pure and thread-safe.
 */
#ifndef NP_DNS_WIRE_H
#define NP_DNS_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Resource record types (IANA "Resource Record (RR) TYPEs"). */
enum dns_type {
	DNS_T_A = 1,
	DNS_T_NS = 2,
	DNS_T_CNAME = 5,
	DNS_T_SOA = 6,
	DNS_T_PTR = 12,
	DNS_T_HINFO = 13,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_RP = 17,
	DNS_T_AFSDB = 18,
	DNS_T_AAAA = 28,
	DNS_T_LOC = 29,
	DNS_T_SRV = 33,
	DNS_T_NAPTR = 35,
	DNS_T_KX = 36,
	DNS_T_CERT = 37,
	DNS_T_DNAME = 39,
	DNS_T_OPT = 41,
	DNS_T_APL = 42,
	DNS_T_DS = 43,
	DNS_T_SSHFP = 44,
	DNS_T_IPSECKEY = 45,
	DNS_T_RRSIG = 46,
	DNS_T_NSEC = 47,
	DNS_T_DNSKEY = 48,
	DNS_T_DHCID = 49,
	DNS_T_NSEC3 = 50,
	DNS_T_NSEC3PARAM = 51,
	DNS_T_TLSA = 52,
	DNS_T_SMIMEA = 53,
	DNS_T_CDS = 59,
	DNS_T_CDNSKEY = 60,
	DNS_T_OPENPGPKEY = 61,
	DNS_T_CSYNC = 62,
	DNS_T_ZONEMD = 63,
	DNS_T_SVCB = 64,
	DNS_T_HTTPS = 65,
	DNS_T_SPF = 99,
	DNS_T_EUI48 = 108,
	DNS_T_EUI64 = 109,
	DNS_T_TKEY = 249,
	DNS_T_TSIG = 250,
	DNS_T_IXFR = 251,
	DNS_T_AXFR = 252,
	DNS_T_ANY = 255,
	DNS_T_URI = 256,
	DNS_T_CAA = 257,
};

enum dns_class {
	DNS_C_IN = 1,
	DNS_C_CH = 3,
	DNS_C_HS = 4,
	DNS_C_NONE = 254,
	DNS_C_ANY = 255,
};

enum dns_rcode {
	DNS_R_NOERROR = 0,
	DNS_R_FORMERR = 1,
	DNS_R_SERVFAIL = 2,
	DNS_R_NXDOMAIN = 3,
	DNS_R_NOTIMP = 4,
	DNS_R_REFUSED = 5,
	DNS_R_YXDOMAIN = 6,
	DNS_R_YXRRSET = 7,
	DNS_R_NXRRSET = 8,
	DNS_R_NOTAUTH = 9,
	DNS_R_NOTZONE = 10,
	DNS_R_BADVERS = 16, /* also BADSIG, in TSIG records */
	DNS_R_BADKEY = 17,
	DNS_R_BADTIME = 18,
	DNS_R_BADCOOKIE = 23,
};

/* Buffer sizes that always suffice (NUL included). */
#define DNS_TYPE_TEXT_MAX 16     /* "TYPE65535", "NSEC3PARAM" */
#define DNS_CLASS_TEXT_MAX 16    /* "CLASS65535" */
#define DNS_RCODE_TEXT_MAX 16    /* "RCODE4095", "BADCOOKIE" */
#define DNS_REVERSE_TEXT_MAX 80  /* 32 nibbles under ip6.arpa is 72 */
#define DNS_NAME_TEXT_MAX 1024   /* a 255-byte wire name, every byte as \DDD */
#define DNS_QUERY_MAX 512        /* any query dns_query_build() makes */
#define DNS_MSG_MAX 65535        /* the largest DNS message */
#define DNS_ARENA_MAX (1u << 20) /* cap on one parsed message's text */

/* Text form of a type: the mnemonic ("MX"), or NULL when it has none. */
const char *dns_type_name(uint16_t type);
/*
 * The mnemonic (a static string, buf untouched), or the RFC 3597 form
 * "TYPE12345" written into buf (cap bytes; DNS_TYPE_TEXT_MAX always
 * suffices; truncated, still NUL-terminated, when smaller) and returned.
 */
const char *dns_type_to_text(uint16_t type, char *buf, size_t cap);
/* Parses a mnemonic (any case) or "TYPEn". NP_OK or NP_EINVAL. */
int dns_type_from_text(const char *text, uint16_t *out);

/* The same for classes: IN, CH, HS, NONE, ANY, "CLASSn" (CHAOS and HESIOD
 * are also read). */
const char *dns_class_name(uint16_t qclass);
const char *dns_class_to_text(uint16_t qclass, char *buf, size_t cap);
int dns_class_from_text(const char *text, uint16_t *out);

/* The same for response codes (12 bits with EDNS): NOERROR ... BADCOOKIE,
 * "RCODEn" otherwise. BADSIG is read as 16, which is written BADVERS. */
const char *dns_rcode_name(uint16_t rcode);
const char *dns_rcode_to_text(uint16_t rcode, char *buf, size_t cap);
int dns_rcode_from_text(const char *text, uint16_t *out);

/*
 * Checks a name given for a query: at most 253 bytes without the optional
 * trailing dot, labels of 1 to 63 bytes of letters, digits, '-' and '_'
 * ('*' only as the whole leftmost label); "." is the root. Names with
 * non-ASCII bytes must be given in punycode (xn--). Returns NP_OK, or
 * NP_EINVAL with a sentence in err (may be NULL) saying what is wrong, e.g.
 * "label 2 is 70 bytes; the maximum is 63".
 */
int dns_name_validate(const char *name, char *err, size_t errlen);

/* Flags for dns_query_build(). */
#define DNS_Q_RD 0x1u /* recursion desired */
#define DNS_Q_CD 0x2u /* checking disabled (RFC 4035 3.2.2) */
#define DNS_Q_AD 0x4u /* the AD bit is understood (RFC 6840 5.7) */
#define DNS_Q_DO 0x8u /* DNSSEC OK, in the EDNS OPT record (RFC 3225) */

/* UDP payload size announced when the caller gives none. */
#define DNS_EDNS_DEFAULT_UDP 1232

/* EDNS option codes (IANA "DNS EDNS0 Option Codes (OPT)"). */
enum dns_edns_code {
	DNS_OPT_NSID = 3,    /* RFC 5001 */
	DNS_OPT_ECS = 8,     /* Client Subnet, RFC 7871 */
	DNS_OPT_COOKIE = 10, /* RFC 7873 */
	DNS_OPT_EDE = 15,    /* Extended DNS Errors, RFC 8914 */
};

/* Client Subnet FAMILY (IANA "Address Family Numbers"), RFC 7871 6. */
#define DNS_ECS_IPV4 1
#define DNS_ECS_IPV6 2

/*
 * The name dig (BIND 9.18) prints for an EDNS option code ("NSID",
 * "CLIENT-SUBNET", "COOKIE", "EDE", ...), or NULL when it has none.
 */
const char *dns_edns_option_name(uint16_t code);

/* What the OPT record of a query carries besides the DO bit. */
struct dns_query_edns {
	uint16_t udp_size;	    /* announced; 0 for DNS_EDNS_DEFAULT_UDP */
	int nsid;		    /* an empty NSID option, asking for the
				     * server's identifier (RFC 5001 2.3) */
	uint8_t ecs_family;	    /* 0: no Client Subnet option; else
				     * DNS_ECS_IPV4 or DNS_ECS_IPV6 */
	uint8_t ecs_source;	    /* SOURCE PREFIX-LENGTH, at most 32 / 128 */
	unsigned char ecs_addr[16]; /* network order; only the first
				     * ecs_source bits are sent */
};

/*
 * Builds a standard query for one name (which must pass
 * dns_name_validate()) into buf. With edns (may be NULL; borrowed) or
 * DNS_Q_DO an RFC 6891 OPT record is added to the additional section,
 * announcing edns->udp_size (DNS_EDNS_DEFAULT_UDP when 0 or no edns) and
 * the DO bit if asked, and holding an empty NSID option when edns->nsid,
 * then a Client Subnet option when edns->ecs_family is set: its ADDRESS
 * cut to ceil(source / 8) bytes and the bits past the prefix zeroed (RFC
 * 7871 6). On NP_OK *len is the query's length (at most DNS_QUERY_MAX).
 * Returns NP_EINVAL for a bad name, unknown flag, a qtype of OPT, or an
 * unknown family or too long prefix, NP_ELIMIT when cap is too small.
 */
int dns_query_build(const char *name, uint16_t qtype, uint16_t qclass, uint16_t id, unsigned flags,
		    const struct dns_query_edns *edns, unsigned char *buf, size_t cap, size_t *len);

/*
 * A parsed message. Strings are in presentation form as dig prints them:
 * names absolute with the trailing dot, escaped as BIND does ("\." for a
 * dot inside a label, "\DDD" for bytes outside 0x21-0x7e, "\" before
 * " ( ) ; @ $ \"), rdata per type, or in the RFC 3597 generic form
 * "\# 4 0A000001" for unknown types and for rdata that does not fit its
 * type's layout. All strings live in one arena owned by the message.
 */
struct dns_question {
	const char *name;
	uint16_t type;
	uint16_t qclass;
};

struct dns_rr {
	const char *name; /* owner */
	uint16_t type;
	uint16_t rclass;
	uint32_t ttl;
	uint16_t rdlength;
	int generic;      /* 1 when data is in the "\# len hex" form */
	const char *data; /* rdata; "" for some types with empty rdata (APL) */
};

struct dns_edns_option {
	uint16_t code;
	uint16_t length;
	const char *hex; /* the value in uppercase hex, "" when empty */
	/*
	 * The value decoded, for the options that have a simple text form;
	 * NULL for the others and when the value does not fit the layout:
	 * NSID: the bytes themselves when all are printable ASCII
	 * (0x20-0x7e), so no control byte or invalid UTF-8 is ever passed
	 * on; CLIENT-SUBNET: "192.0.2.0/24", the address and SOURCE
	 * PREFIX-LENGTH.
	 */
	const char *text;
	int scope; /* CLIENT-SUBNET's SCOPE PREFIX-LENGTH when text is set,
		    * else -1 */
};

struct dns_edns {
	int present;       /* 1 when the message had an OPT record */
	uint16_t udp_size; /* the OPT record's class */
	uint8_t version;
	int dnssec_ok;     /* the DO bit */
	uint16_t flags;    /* all 16 flag bits of the OPT TTL; DO is 0x8000 */
	size_t n_options;
	struct dns_edns_option *options;
};

struct dns_msg {
	uint16_t id;
	unsigned qr, opcode, aa, tc, rd, ra, z, ad, cd;
	uint16_t rcode; /* the header's 4 bits, plus the OPT record's upper 8 */

	/* The counts as in the header. arcount includes the OPT record, which
	 * is not in additional[] but in edns. */
	uint16_t qdcount, ancount, nscount, arcount;

	/* Each list is NULL when empty. */
	struct dns_question *question;
	size_t n_question;
	struct dns_rr *answer;
	size_t n_answer;
	struct dns_rr *authority;
	size_t n_authority;
	struct dns_rr *additional;
	size_t n_additional;
	struct dns_edns edns;
};

/*
 * Parses the message buf[0..len) (borrowed; not kept). On NP_OK *out is a
 * new message for dns_msg_free(). Otherwise *out is NULL and err (may be
 * NULL) says why: NP_EPROTO for any malformed message, NP_ELIMIT when its
 * text would pass DNS_ARENA_MAX bytes (compression can make a small
 * message print large), NP_ENOMEM, NP_EINVAL for a NULL argument.
 */
int dns_msg_parse(const unsigned char *buf, size_t len, struct dns_msg **out, char *err,
		  size_t errlen);
void dns_msg_free(struct dns_msg *m); /* NULL-safe */

/*
 * The lowest TTL among the answer and authority records, counting an
 * SOA's MINIMUM field too (RFC 2308 section 5), which is what an RFC 8484
 * section 5.1 Cache-Control max-age may be. *found (may be NULL) is 0 and
 * the result 0 when there are no such records. m (from dns_msg_parse(), or
 * NULL) is borrowed.
 */
uint32_t dns_msg_min_ttl(const struct dns_msg *m, int *found);

/*
 * Writes the name to ask for a reverse lookup of ip: "4.3.2.1.in-addr.arpa"
 * for an IPv4 address, the nibble form under ip6.arpa for IPv6 (no trailing
 * dot). Returns NP_OK, NP_EINVAL for anything that is not an address, or
 * NP_ELIMIT when cap is too small (DNS_REVERSE_TEXT_MAX always suffices).
 */
int dns_reverse_name(const char *ip, char *out, size_t cap);

#endif
