/*
 * fuzz_dns_wire.c - libFuzzer target for the DNS wire layer.
 *
 * The input is parsed as a DNS message, as the DoH endpoint parses a
 * client's; when that succeeds every string is read to its end and the
 * counts are checked against the header. The same bytes, cut at the
 * first NUL, are then a name for dns_name_validate() and, when valid,
 * for dns_query_build(), whose query must parse back to the same name;
 * and an address for dns_reverse_name(), and a mnemonic for the tables.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_wire.h"
#include "np.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

static void touch(const char *s)
{
	sink += strlen(s);
}

static void touch_rrs(const struct dns_rr *rr, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		touch(rr[i].name);
		touch(rr[i].data);
		/* An absolute name always ends with a dot. */
		if (rr[i].name[strlen(rr[i].name) - 1] != '.')
			abort();
	}
}

/* A decoded NSID is the value itself, all printable; a decoded Client
 * Subnet holds a slash and a scope; nothing else is decoded. */
static void option_check(const struct dns_edns_option *o)
{
	const char *t = o->text;

	if (t == NULL) {
		if (o->scope != -1)
			abort();
		return;
	}
	touch(t);
	if (o->code == DNS_OPT_NSID) {
		if (strlen(t) != o->length || o->scope != -1)
			abort();
		for (; *t != '\0'; t++) {
			if (*t < 0x20 || *t > 0x7e)
				abort();
		}
	} else if (o->code == DNS_OPT_ECS) {
		if (strchr(t, '/') == NULL || o->scope < 0 || o->scope > 128)
			abort();
	} else {
		abort();
	}
}

static void fuzz_parse(const uint8_t *data, size_t size)
{
	struct dns_msg *m;
	char err[256];
	size_t i, n_ar;
	int found;

	if (dns_msg_parse(data, size, &m, err, sizeof(err)) != NP_OK) {
		touch(err);
		return;
	}
	for (i = 0; i < m->n_question; i++)
		touch(m->question[i].name);
	touch_rrs(m->answer, m->n_answer);
	touch_rrs(m->authority, m->n_authority);
	touch_rrs(m->additional, m->n_additional);
	for (i = 0; i < m->edns.n_options; i++) {
		touch(m->edns.options[i].hex);
		if (strlen(m->edns.options[i].hex) != 2u * m->edns.options[i].length)
			abort();
		option_check(&m->edns.options[i]);
	}
	n_ar = m->n_additional + (m->edns.present ? 1 : 0);
	if (m->n_question != m->qdcount || m->n_answer != m->ancount ||
	    m->n_authority != m->nscount || n_ar != m->arcount)
		abort();
	sink += dns_msg_min_ttl(m, &found);
	dns_msg_free(m);
}

static void fuzz_text(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char err[256], name[DNS_NAME_TEXT_MAX + 2], rev[DNS_REVERSE_TEXT_MAX];
	unsigned char q[DNS_QUERY_MAX];
	/* Every option the builder writes, with the longest address. */
	static const struct dns_query_edns edns = {
	    .udp_size = 1232,
	    .nsid = 1,
	    .ecs_family = DNS_ECS_IPV6,
	    .ecs_source = 127,
	    .ecs_addr = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			 0xff, 0xff, 0xff, 0xff},
	};
	struct dns_msg *m;
	size_t qlen, n;
	uint16_t v;
	int rc;

	if (s == NULL)
		return;
	memcpy(s, data, size);
	s[size] = '\0';

	rc = dns_name_validate(s, err, sizeof(err));
	touch(err);
	if (dns_query_build(s, DNS_T_A, DNS_C_IN, 1, DNS_Q_RD | DNS_Q_DO, &edns, q, sizeof(q),
			    &qlen) == NP_OK) {
		if (rc != NP_OK)
			abort();
		/* Built from a valid name, the query parses back to it. */
		if (dns_msg_parse(q, qlen, &m, err, sizeof(err)) != NP_OK)
			abort();
		n = strlen(s);
		memcpy(name, s, n + 1);
		if (strcmp(name, ".") != 0 && name[n - 1] != '.') {
			name[n] = '.';
			name[n + 1] = '\0';
		}
		if (m->n_question != 1 || strcmp(m->question[0].name, name) != 0)
			abort();
		if (m->edns.n_options != 2 || m->edns.options[1].text == NULL ||
		    strcmp(m->edns.options[1].text, "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe/127") !=
			0)
			abort();
		dns_msg_free(m);
	} else if (rc == NP_OK) {
		abort();
	}

	dns_reverse_name(s, rev, sizeof(rev));
	touch(rev);
	dns_type_from_text(s, &v);
	dns_class_from_text(s, &v);
	dns_rcode_from_text(s, &v);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_parse(data, size);
	fuzz_text(data, size);
	return 0;
}
