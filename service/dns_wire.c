/*
 * dns_wire.c - DNS messages on the wire: the type, class and rcode tables,
 * checks on names given for queries, the query builder, the message
 * parser and reverse-lookup names. The per-type rdata printer is in
 * dns_rdata.c; what the two share is in dns_wire_int.h.
 *
 * How a message is parsed: the header's counts are first checked against
 * the bytes that follow, so a 12-byte message cannot make us allocate for
 * 65535 records. Then questions and records are read in order, their
 * names and rdata written as text into one arena (struct dns_wire_text)
 * with a hard cap, DNS_ARENA_MAX: compression lets a 2-byte pointer stand
 * for a 255-byte name, so a small message can print large. The arena may
 * move while it grows, so each string is remembered by its offset, in a
 * numbered slot, and the result's pointers are set once, at the end.
 */
#include "dns_wire.h"
#include "dns_wire_int.h"
#include "np.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- type, class and rcode names ---- */

struct mnemonic {
	uint16_t num;
	const char *name;
};

/*
 * Every type BIND 9.18 has a mnemonic for, so that type lists (NSEC
 * bitmaps, RRSIG's type covered) print as dig prints them. The rdata of
 * most of the rarer ones is printed in the generic form (dns_rdata.c).
 */
static const struct mnemonic type_names[] = {
	{1, "A"},           {2, "NS"},          {3, "MD"},          {4, "MF"},
	{5, "CNAME"},       {6, "SOA"},         {7, "MB"},          {8, "MG"},
	{9, "MR"},          {10, "NULL"},       {11, "WKS"},        {12, "PTR"},
	{13, "HINFO"},      {14, "MINFO"},      {15, "MX"},         {16, "TXT"},
	{17, "RP"},         {18, "AFSDB"},      {19, "X25"},        {20, "ISDN"},
	{21, "RT"},         {22, "NSAP"},       {23, "NSAP-PTR"},   {24, "SIG"},
	{25, "KEY"},        {26, "PX"},         {27, "GPOS"},       {28, "AAAA"},
	{29, "LOC"},        {30, "NXT"},        {31, "EID"},        {32, "NIMLOC"},
	{33, "SRV"},        {34, "ATMA"},       {35, "NAPTR"},      {36, "KX"},
	{37, "CERT"},       {38, "A6"},         {39, "DNAME"},      {40, "SINK"},
	{41, "OPT"},        {42, "APL"},        {43, "DS"},         {44, "SSHFP"},
	{45, "IPSECKEY"},   {46, "RRSIG"},      {47, "NSEC"},       {48, "DNSKEY"},
	{49, "DHCID"},      {50, "NSEC3"},      {51, "NSEC3PARAM"}, {52, "TLSA"},
	{53, "SMIMEA"},     {55, "HIP"},        {56, "NINFO"},      {57, "RKEY"},
	{58, "TALINK"},     {59, "CDS"},        {60, "CDNSKEY"},    {61, "OPENPGPKEY"},
	{62, "CSYNC"},      {63, "ZONEMD"},     {64, "SVCB"},       {65, "HTTPS"},
	{66, "DSYNC"},      {67, "HHIT"},       {68, "BRID"},       {99, "SPF"},
	{100, "UINFO"},     {101, "UID"},       {102, "GID"},       {103, "UNSPEC"},
	{104, "NID"},       {105, "L32"},       {106, "L64"},       {107, "LP"},
	{108, "EUI48"},     {109, "EUI64"},     {249, "TKEY"},      {250, "TSIG"},
	{251, "IXFR"},      {252, "AXFR"},      {253, "MAILB"},     {254, "MAILA"},
	{255, "ANY"},       {256, "URI"},       {257, "CAA"},       {258, "AVC"},
	{259, "DOA"},       {260, "AMTRELAY"},  {261, "RESINFO"},   {262, "WALLET"},
	{32768, "TA"},      {32769, "DLV"},
};

/*
 * EDNS option codes as dig (BIND 9.18) labels them in its OPT
 * PSEUDOSECTION; IANA's registry spells some differently
 * ("edns-client-subnet", "Extended DNS Error").
 */
static const struct mnemonic edns_option_names[] = {
	{1, "LLQ"},            {2, "UL"},             {3, "NSID"},           {5, "DAU"},
	{6, "DHU"},            {7, "N3U"},            {8, "CLIENT-SUBNET"},  {9, "EXPIRE"},
	{10, "COOKIE"},        {11, "TCP-KEEPALIVE"}, {12, "PADDING"},       {13, "CHAIN"},
	{14, "KEY-TAG"},       {15, "EDE"},           {16, "CLIENT-TAG"},    {17, "SERVER-TAG"},
};

static const struct mnemonic class_names[] = {
	{DNS_C_IN, "IN"}, {DNS_C_CH, "CH"}, {DNS_C_HS, "HS"}, {DNS_C_NONE, "NONE"}, {DNS_C_ANY, "ANY"},
};

/* Read as well as the names above, never written. */
static const struct mnemonic class_aliases[] = {
	{DNS_C_CH, "CHAOS"},
	{DNS_C_HS, "HESIOD"},
};

static const struct mnemonic rcode_names[] = {
	{0, "NOERROR"},   {1, "FORMERR"},  {2, "SERVFAIL"}, {3, "NXDOMAIN"}, {4, "NOTIMP"},
	{5, "REFUSED"},   {6, "YXDOMAIN"}, {7, "YXRRSET"},  {8, "NXRRSET"},  {9, "NOTAUTH"},
	{10, "NOTZONE"},  {16, "BADVERS"}, {17, "BADKEY"},  {18, "BADTIME"}, {19, "BADMODE"},
	{20, "BADNAME"},  {21, "BADALG"},  {22, "BADTRUNC"}, {23, "BADCOOKIE"},
};

static const struct mnemonic rcode_aliases[] = {
	{16, "BADSIG"},
};

static const char *mnemonic_find(const struct mnemonic *tab, size_t n, unsigned num)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (tab[i].num == num)
			return tab[i].name;
	}
	return NULL;
}

static int ascii_casecmp(const char *a, const char *b)
{
	unsigned char ca, cb;

	do {
		ca = (unsigned char)*a++;
		cb = (unsigned char)*b++;
		if (ca >= 'a' && ca <= 'z')
			ca = (unsigned char)(ca - 'a' + 'A');
		if (cb >= 'a' && cb <= 'z')
			cb = (unsigned char)(cb - 'a' + 'A');
	} while (ca == cb && ca != '\0');
	return ca == cb ? 0 : 1;
}

static int mnemonic_parse(const struct mnemonic *tab, size_t n, const char *text, uint16_t *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (ascii_casecmp(tab[i].name, text) == 0) {
			*out = tab[i].num;
			return 0;
		}
	}
	return -1;
}

/* "TYPE123"-style generic forms (RFC 3597 5): prefix, then 1-5 digits. */
static int generic_parse(const char *prefix, const char *text, unsigned max, uint16_t *out)
{
	size_t plen = strlen(prefix);
	size_t i;
	unsigned long v = 0;

	for (i = 0; i < plen; i++) {
		char c = text[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c != prefix[i])
			return -1;
	}
	text += plen;
	if (*text == '\0' || strlen(text) > 5)
		return -1;
	for (; *text != '\0'; text++) {
		if (*text < '0' || *text > '9')
			return -1;
		v = v * 10 + (unsigned long)(*text - '0');
	}
	if (v > max)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static const char *to_text(const char *name, const char *prefix, unsigned num, char *buf,
			   size_t cap)
{
	if (name != NULL)
		return name;
	if (buf == NULL || cap == 0)
		return "";
	snprintf(buf, cap, "%s%u", prefix, num);
	return buf;
}

const char *dns_type_name(uint16_t type)
{
	return mnemonic_find(type_names, NP_ARRAY_LEN(type_names), type);
}

const char *dns_type_to_text(uint16_t type, char *buf, size_t cap)
{
	return to_text(dns_type_name(type), "TYPE", type, buf, cap);
}

int dns_type_from_text(const char *text, uint16_t *out)
{
	if (text == NULL || out == NULL)
		return NP_EINVAL;
	if (mnemonic_parse(type_names, NP_ARRAY_LEN(type_names), text, out) == 0)
		return NP_OK;
	if (generic_parse("TYPE", text, 65535, out) == 0)
		return NP_OK;
	return NP_EINVAL;
}

const char *dns_edns_option_name(uint16_t code)
{
	return mnemonic_find(edns_option_names, NP_ARRAY_LEN(edns_option_names), code);
}

const char *dns_class_name(uint16_t qclass)
{
	return mnemonic_find(class_names, NP_ARRAY_LEN(class_names), qclass);
}

const char *dns_class_to_text(uint16_t qclass, char *buf, size_t cap)
{
	return to_text(dns_class_name(qclass), "CLASS", qclass, buf, cap);
}

int dns_class_from_text(const char *text, uint16_t *out)
{
	if (text == NULL || out == NULL)
		return NP_EINVAL;
	if (mnemonic_parse(class_names, NP_ARRAY_LEN(class_names), text, out) == 0 ||
	    mnemonic_parse(class_aliases, NP_ARRAY_LEN(class_aliases), text, out) == 0)
		return NP_OK;
	if (generic_parse("CLASS", text, 65535, out) == 0)
		return NP_OK;
	return NP_EINVAL;
}

const char *dns_rcode_name(uint16_t rcode)
{
	return mnemonic_find(rcode_names, NP_ARRAY_LEN(rcode_names), rcode);
}

const char *dns_rcode_to_text(uint16_t rcode, char *buf, size_t cap)
{
	return to_text(dns_rcode_name(rcode), "RCODE", rcode, buf, cap);
}

int dns_rcode_from_text(const char *text, uint16_t *out)
{
	if (text == NULL || out == NULL)
		return NP_EINVAL;
	if (mnemonic_parse(rcode_names, NP_ARRAY_LEN(rcode_names), text, out) == 0 ||
	    mnemonic_parse(rcode_aliases, NP_ARRAY_LEN(rcode_aliases), text, out) == 0)
		return NP_OK;
	/* 12 bits: 4 in the header, 8 in the OPT record (RFC 6891 6.1.3). */
	if (generic_parse("RCODE", text, 4095, out) == 0)
		return NP_OK;
	return NP_EINVAL;
}

/* ---- the text arena ---- */

void dns_wire_text_init(struct dns_wire_text *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->max = max;
	t->status = NP_OK;
}

void dns_wire_text_free(struct dns_wire_text *t)
{
	free(t->buf);
	t->buf = NULL;
	t->len = 0;
	t->cap = 0;
}

/* Makes room for n more bytes; -1 (and status set) when it cannot. */
static int text_reserve(struct dns_wire_text *t, size_t n)
{
	size_t ncap;
	char *nbuf;

	if (t->status != NP_OK)
		return -1;
	if (n > t->max - t->len) {
		t->status = NP_ELIMIT;
		return -1;
	}
	if (t->len + n <= t->cap)
		return 0;
	ncap = t->cap != 0 ? t->cap : 512;
	while (ncap < t->len + n)
		ncap = ncap > t->max / 2 ? t->max : ncap * 2;
	nbuf = realloc(t->buf, ncap);
	if (nbuf == NULL) {
		t->status = NP_ENOMEM;
		return -1;
	}
	t->buf = nbuf;
	t->cap = ncap;
	return 0;
}

void dns_wire_putn(struct dns_wire_text *t, const char *s, size_t n)
{
	if (n == 0 || text_reserve(t, n) != 0)
		return;
	memcpy(t->buf + t->len, s, n);
	t->len += n;
}

void dns_wire_putc(struct dns_wire_text *t, char c)
{
	dns_wire_putn(t, &c, 1);
}

void dns_wire_puts(struct dns_wire_text *t, const char *s)
{
	dns_wire_putn(t, s, strlen(s));
}

void dns_wire_printf(struct dns_wire_text *t, const char *fmt, ...)
{
	char small[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		dns_wire_putn(t, small, (size_t)n);
		return;
	}
	/* Longer than any format this module uses; kept correct anyway. */
	if (text_reserve(t, (size_t)n + 1) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

void dns_wire_text_end(struct dns_wire_text *t)
{
	if (text_reserve(t, 1) != 0)
		return;
	t->buf[t->len++] = '\0';
}

void dns_wire_text_rewind(struct dns_wire_text *t, size_t mark)
{
	if (mark < t->len)
		t->len = mark;
}

void dns_wire_hex(struct dns_wire_text *t, const unsigned char *p, size_t n, size_t split)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t i, col = 0;
	char pair[2];

	for (i = 0; i < n; i++) {
		if (split != 0 && col >= split) {
			dns_wire_putc(t, ' ');
			col = 0;
		}
		pair[0] = digits[p[i] >> 4];
		pair[1] = digits[p[i] & 0x0f];
		dns_wire_putn(t, pair, 2);
		col += 2;
	}
}

void dns_wire_base64(struct dns_wire_text *t, const unsigned char *p, size_t n, size_t split)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, col = 0;
	char quad[4];

	for (i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t left = n - i;

		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		quad[0] = alphabet[(v >> 18) & 0x3f];
		quad[1] = alphabet[(v >> 12) & 0x3f];
		quad[2] = left > 1 ? alphabet[(v >> 6) & 0x3f] : '=';
		quad[3] = left > 2 ? alphabet[v & 0x3f] : '=';
		if (split != 0 && col >= split) {
			dns_wire_putc(t, ' ');
			col = 0;
		}
		dns_wire_putn(t, quad, 4);
		col += 4;
	}
}

/* ---- names ---- */

static void set_why(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* How put_label() writes a byte: 0 as it is, 1 behind a backslash, 2 as \DDD. */
static const unsigned char label_class[256] = {
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
	1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

/*
 * One label as BIND's dns_name_totext() writes it: the characters that
 * mean something in master files behind a backslash, bytes outside the
 * printable range as \DDD.
 */
static void put_label_slow(struct dns_wire_text *t, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = p[i];

		switch (c) {
		case '"':
		case '(':
		case ')':
		case '.':
		case ';':
		case '\\':
		case '@':
		case '$':
			dns_wire_putc(t, '\\');
			dns_wire_putc(t, (char)c);
			break;
		default:
			if (c > 0x20 && c < 0x7f)
				dns_wire_putc(t, (char)c);
			else
				dns_wire_printf(t, "\\%03u", c);
			break;
		}
	}
}

/*
 * The label and the dot after it. When its worst case (4 bytes per byte)
 * fits under the arena's cap, room is made once and the bytes are
 * written straight in; near the cap, piece by piece as before, so that
 * the cap refuses exactly the names that do not fit.
 */
static void put_label(struct dns_wire_text *t, const unsigned char *p, size_t n)
{
	char *out;
	size_t i;

	if (t->status != NP_OK || 4 * n + 1 > t->max - t->len ||
	    (4 * n + 1 > t->cap - t->len && text_reserve(t, 4 * n + 1) != 0)) {
		put_label_slow(t, p, n);
		dns_wire_putc(t, '.');
		return;
	}
	out = t->buf + t->len;
	for (i = 0; i < n; i++) {
		unsigned char c = p[i];

		switch (label_class[c]) {
		case 0:
			*out++ = (char)c;
			break;
		case 1:
			*out++ = '\\';
			*out++ = (char)c;
			break;
		default:
			*out++ = '\\';
			*out++ = (char)('0' + c / 100);
			*out++ = (char)('0' + c / 10 % 10);
			*out++ = (char)('0' + c % 10);
			break;
		}
	}
	*out++ = '.';
	t->len = (size_t)(out - t->buf);
}

int dns_wire_name(const unsigned char *msg, size_t limit, size_t pos, size_t *next,
		  struct dns_wire_text *t, char *why, size_t whylen)
{
	size_t cur = pos;
	size_t floor = pos; /* the next pointer must lead below this */
	size_t end = 0;     /* just past the name where it lies; set at the first pointer */
	size_t wirelen = 1; /* the uncompressed length, root byte included */
	unsigned hops = 0;

	for (;;) {
		unsigned c;

		if (cur >= limit) {
			set_why(why, whylen, "name runs past the end of the message");
			return -1;
		}
		c = msg[cur];
		if (c == 0) {
			cur++;
			break;
		}
		if ((c & 0xc0) == 0xc0) {
			size_t target;

			if (limit - cur < 2) {
				set_why(why, whylen,
					"compression pointer runs past the end of the message");
				return -1;
			}
			target = (size_t)(c & 0x3f) << 8 | msg[cur + 1];
			if (end == 0)
				end = cur + 2;
			/* Strictly decreasing targets: no loop can form. */
			if (target >= floor) {
				set_why(why, whylen,
					"compression pointer at offset %zu to offset %zu does not "
					"point backwards",
					cur, target);
				return -1;
			}
			if (++hops > DNS_WIRE_MAX_HOPS) {
				set_why(why, whylen, "more than %d compression pointers",
					DNS_WIRE_MAX_HOPS);
				return -1;
			}
			floor = target;
			cur = target;
			continue;
		}
		if ((c & 0xc0) != 0) {
			/* 0x40 was RFC 2673's bit labels, 0x80 is unassigned. */
			set_why(why, whylen, "label type 0x%02x at offset %zu is not supported",
				c & 0xc0, cur);
			return -1;
		}
		if (limit - cur - 1 < c) {
			set_why(why, whylen, "label at offset %zu runs past the end of the message",
				cur);
			return -1;
		}
		wirelen += c + 1;
		if (wirelen > 255) {
			set_why(why, whylen, "name is longer than 255 bytes");
			return -1;
		}
		put_label(t, msg + cur + 1, c);
		cur += 1 + c;
	}
	if (wirelen == 1)
		dns_wire_putc(t, '.');
	*next = end != 0 ? end : cur;
	return 0;
}

static int verr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int verr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return NP_EINVAL;
}

/* Letters, digits, '-' and '_': what a label may hold (a table: every
 * byte of every name asked for is checked, twice). */
static const unsigned char name_chars[256] = {
	['-'] = 1, ['_'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
	['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
	['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
	['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
	['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
	['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
	['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static int is_name_char(char c)
{
	return name_chars[(unsigned char)c];
}

/*
 * The common case in one pass: labels of 1-63 letters, digits, '-' and
 * '_', at most 253 bytes without the final dot. 0 for anything else
 * (also for names that are fine, with a wildcard): the full check below
 * then finds which rule, if any, is broken, and says so.
 */
static int name_plain_ok(const char *name, size_t len)
{
	size_t i, start = 0;

	if (name[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (i == start || i - start > 63)
				return 0;
			start = i + 1;
		} else if (!name_chars[c]) {
			return 0;
		}
	}
	return len - start > 0 && len - start <= 63;
}

int dns_name_validate(const char *name, char *err, size_t errlen)
{
	size_t len, i, start = 0;
	unsigned label = 1;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (name == NULL)
		return verr(err, errlen, "no name was given");
	len = strlen(name);
	if (len == 0)
		return verr(err, errlen, "the name is empty");
	if (strcmp(name, ".") == 0 || name_plain_ok(name, len))
		return NP_OK;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c >= 0x80)
			return verr(err, errlen,
				    "byte %zu (0x%02x) is not ASCII: IDN names must be given in "
				    "punycode (xn--) form",
				    i + 1, c);
	}
	if (name[len - 1] == '.')
		len--;
	if (len > 253)
		return verr(err, errlen, "the name is %zu bytes; the maximum is 253", len);

	for (i = 0; i <= len; i++) {
		char c = i < len ? name[i] : '.';

		if (c == '.') {
			size_t n = i - start;

			if (n == 0 && i == 0)
				return verr(err, errlen, "label 1 is empty: the name starts with a dot");
			if (n == 0)
				return verr(err, errlen, "label %u is empty: two dots in a row", label);
			if (n > 63)
				return verr(err, errlen, "label %u is %zu bytes; the maximum is 63",
					    label, n);
			start = i + 1;
			label++;
			continue;
		}
		if (c == '*') {
			/* RFC 4592: a wildcard is a whole leftmost label. */
			if (i == 0 && (len == 1 || name[1] == '.'))
				continue;
			return verr(err, errlen,
				    "label %u contains '*' (byte %zu); '*' is allowed only as the "
				    "whole leftmost label",
				    label, i + 1);
		}
		if (is_name_char(c))
			continue;
		if (c > 0x20 && c < 0x7f)
			return verr(err, errlen,
				    "label %u contains '%c' (byte %zu); only letters, digits, '-' "
				    "and '_' are allowed",
				    label, c, i + 1);
		return verr(err, errlen,
			    "label %u contains the byte 0x%02x (byte %zu); only letters, digits, "
			    "'-' and '_' are allowed",
			    label, (unsigned char)c, i + 1);
	}
	return NP_OK;
}

/* ---- the query builder ---- */

static void put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/* Bytes a Client Subnet option takes in the OPT record, header included
 * (RFC 7871 6): family, two prefix lengths, the address cut to the
 * source prefix. */
static size_t ecs_option_len(const struct dns_query_edns *e)
{
	return 4 + 4 + ((size_t)e->ecs_source + 7) / 8;
}

/* The longest name, OPT, NSID and an IPv6 Client Subnet all fit. */
_Static_assert(12 + 255 + 4 + 11 + 4 + 8 + 16 <= DNS_QUERY_MAX, "DNS_QUERY_MAX is too small");

int dns_query_build(const char *name, uint16_t qtype, uint16_t qclass, uint16_t id, unsigned flags,
		    const struct dns_query_edns *edns, unsigned char *buf, size_t cap, size_t *len)
{
	size_t namelen, wirelen, need, n, i, start, rdlen = 0;
	unsigned hdr = 0;
	int opt;

	if (len != NULL)
		*len = 0;
	if (name == NULL || buf == NULL || len == NULL)
		return NP_EINVAL;
	if ((flags & ~(DNS_Q_RD | DNS_Q_CD | DNS_Q_AD | DNS_Q_DO)) != 0 || qtype == DNS_T_OPT)
		return NP_EINVAL;
	if (dns_name_validate(name, NULL, 0) != NP_OK)
		return NP_EINVAL;
	if (edns != NULL && edns->ecs_family != 0) {
		unsigned max = edns->ecs_family == DNS_ECS_IPV4 ? 32 : 128;

		if (edns->ecs_family != DNS_ECS_IPV4 && edns->ecs_family != DNS_ECS_IPV6)
			return NP_EINVAL;
		if (edns->ecs_source > max)
			return NP_EINVAL;
		rdlen += ecs_option_len(edns);
	}
	if (edns != NULL && edns->nsid)
		rdlen += 4;

	namelen = strlen(name);
	if (name[namelen - 1] == '.')
		namelen--;
	/* One length byte per label stands where each dot was, plus the first
	 * one and the root's zero. */
	wirelen = namelen == 0 ? 1 : namelen + 2;
	opt = edns != NULL || (flags & DNS_Q_DO) != 0;
	need = 12 + wirelen + 4 + (opt ? 11 + rdlen : 0);
	if (need > cap)
		return NP_ELIMIT;

	/* Header (RFC 1035 4.1.1; AD and CD from RFC 4035 3.2). */
	if (flags & DNS_Q_RD)
		hdr |= 0x0100;
	if (flags & DNS_Q_AD)
		hdr |= 0x0020;
	if (flags & DNS_Q_CD)
		hdr |= 0x0010;
	put16(buf, id);
	put16(buf + 2, hdr);
	put16(buf + 4, 1);
	put16(buf + 6, 0);
	put16(buf + 8, 0);
	put16(buf + 10, opt ? 1 : 0);
	n = 12;

	start = 0;
	for (i = 0; i <= namelen && namelen > 0; i++) {
		if (i == namelen || name[i] == '.') {
			buf[n++] = (unsigned char)(i - start);
			memcpy(buf + n, name + start, i - start);
			n += i - start;
			start = i + 1;
		}
	}
	buf[n++] = 0;
	put16(buf + n, qtype);
	put16(buf + n + 2, qclass);
	n += 4;

	if (opt) {
		uint16_t udp =
		    edns != NULL && edns->udp_size > 0 ? edns->udp_size : DNS_EDNS_DEFAULT_UDP;

		/* OPT (RFC 6891 6.1.2): root owner, class = UDP payload size,
		 * TTL = extended rcode 0, version 0, flags with DO (RFC 3225). */
		buf[n++] = 0;
		put16(buf + n, DNS_T_OPT);
		put16(buf + n + 2, udp);
		put32(buf + n + 4, (flags & DNS_Q_DO) ? 0x8000u : 0);
		put16(buf + n + 8, (unsigned)rdlen);
		n += 10;
	}
	if (opt && edns != NULL && edns->nsid) {
		/* RFC 5001 2.3: a query asks with an empty NSID option. */
		put16(buf + n, DNS_OPT_NSID);
		put16(buf + n + 2, 0);
		n += 4;
	}
	if (opt && edns != NULL && edns->ecs_family != 0) {
		/* RFC 7871 6: FAMILY, SOURCE PREFIX-LENGTH, SCOPE PREFIX-LENGTH
		 * 0 in queries, then ADDRESS truncated to the source prefix,
		 * with the bits past it zero. */
		size_t alen = ((size_t)edns->ecs_source + 7) / 8;
		unsigned rest = edns->ecs_source % 8;

		put16(buf + n, DNS_OPT_ECS);
		put16(buf + n + 2, (unsigned)(ecs_option_len(edns) - 4));
		put16(buf + n + 4, edns->ecs_family);
		buf[n + 6] = edns->ecs_source;
		buf[n + 7] = 0;
		n += 8;
		memcpy(buf + n, edns->ecs_addr, alen);
		if (rest != 0)
			buf[n + alen - 1] &= (unsigned char)(0xffu << (8 - rest));
		n += alen;
	}
	*len = n;
	return NP_OK;
}

/* ---- the parser ---- */

/*
 * What the caller sees is the dns_msg; the rest is ours. The questions
 * and records live in the same allocation, behind the block: one
 * allocation for the block, one for the text arena (and one for EDNS
 * options when there are any).
 */
struct msg_block {
	struct dns_msg m; /* first, so dns_msg_free() can find the block */
	char *arena;
	struct dns_rr *rrs; /* answer, authority and additional, in that order */
	uint32_t min_ttl;
	int min_ttl_found;
};

enum section { SEC_ANSWER, SEC_AUTHORITY, SEC_ADDITIONAL };

#define WHERE_QUESTION 3
#define WHERE_NONE (-1)
/* Slots for this many strings live in the parser; more are allocated. */
#define SLOTS_SMALL 64

static const char *const section_names[] = {"answer", "authority", "additional"};

struct parser {
	const unsigned char *buf;
	size_t len;
	size_t pos;
	struct msg_block *b;
	struct dns_wire_text text;
	/* Offsets in text of every string, by slot: question i is slot i,
	 * record j's owner and data are n_question + 2j and + 1, EDNS option
	 * k's hex and text come after all records (read_options()). */
	size_t *slots;
	size_t n_slots;
	size_t n_rrs;   /* records stored so far (not the OPT) */
	/* What is being read, for messages: a section, WHERE_QUESTION or
	 * WHERE_NONE, and which one of them, counted from 1. */
	int where_sec;
	unsigned where_i;
	char *err;
	size_t errlen;
	size_t slots_small[SLOTS_SMALL]; /* last: not cleared before a parse */
};

static int fail(struct parser *p, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, int status, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (p->err == NULL || p->errlen == 0)
		return status;
	/* "answer record 3: ", formatted only now that it is needed. */
	if (p->where_sec == WHERE_QUESTION)
		n = snprintf(p->err, p->errlen, "question %u: ", p->where_i);
	else if (p->where_sec >= SEC_ANSWER && p->where_sec <= SEC_ADDITIONAL)
		n = snprintf(p->err, p->errlen, "%s record %u: ", section_names[p->where_sec],
			     p->where_i);
	if (n < 0 || (size_t)n >= p->errlen)
		return status;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return status;
}

/* The arena's failure, if any, as a status and a message. */
static int text_failed(struct parser *p)
{
	p->where_sec = WHERE_NONE;
	if (p->text.status == NP_ELIMIT)
		return fail(p, NP_ELIMIT,
			    "the message's text form is larger than the limit of %zu bytes",
			    p->text.max);
	return fail(p, NP_ENOMEM, "out of memory");
}

static unsigned get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* Reads a name at p->pos into the arena as a string of its own. */
static int read_name(struct parser *p, const char *what, size_t *slot_off)
{
	char why[128];
	size_t next;

	*slot_off = p->text.len;
	if (dns_wire_name(p->buf, p->len, p->pos, &next, &p->text, why, sizeof(why)) != 0)
		return fail(p, NP_EPROTO, "%s: %s", what, why);
	dns_wire_text_end(&p->text);
	if (p->text.status != NP_OK)
		return text_failed(p);
	p->pos = next;
	return NP_OK;
}

static void note_ttl(struct msg_block *b, uint32_t ttl)
{
	if (!b->min_ttl_found || ttl < b->min_ttl)
		b->min_ttl = ttl;
	b->min_ttl_found = 1;
}

/* No decoded text: the slot that says so. */
#define SLOT_NONE ((size_t)-1)

/* NSID (RFC 5001 2.3): any bytes; as text only when all are printable. */
static int nsid_text(struct parser *p, const unsigned char *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i] < 0x20 || v[i] > 0x7e)
			return 0;
	}
	dns_wire_putn(&p->text, (const char *)v, n);
	return 1;
}

/*
 * Client Subnet (RFC 7871 6) as "address/source", and its scope: only
 * when the layout is right, FAMILY 1 or 2, a source prefix within the
 * family's bits and an ADDRESS of exactly ceil(source / 8) bytes. Bits
 * past the prefix are shown as sent.
 */
static int ecs_text(struct parser *p, const unsigned char *v, size_t n, int *scope)
{
	unsigned char addr[16] = {0};
	char buf[64];
	unsigned family, source, max;
	int af;

	if (n < 4)
		return 0;
	family = get16(v);
	source = v[2];
	if (family == DNS_ECS_IPV4) {
		af = AF_INET;
		max = 32;
	} else if (family == DNS_ECS_IPV6) {
		af = AF_INET6;
		max = 128;
	} else {
		return 0;
	}
	if (source > max || v[3] > max || n - 4 != (source + 7) / 8)
		return 0;
	memcpy(addr, v + 4, n - 4);
	if (inet_ntop(af, addr, buf, sizeof(buf)) == NULL)
		return 0;
	dns_wire_printf(&p->text, "%s/%u", buf, source);
	*scope = v[3];
	return 1;
}

/*
 * The options of the OPT record (RFC 6891 6.1.2), each as code and hex,
 * and as text for those with a simple text form. Option i has two slots
 * after the records': its hex, and its text or SLOT_NONE.
 */
static int read_options(struct parser *p, size_t rdoff, size_t rdlen)
{
	struct dns_edns *e = &p->b->m.edns;
	const unsigned char *o = p->buf + rdoff;
	size_t pos, count = 0, i, *nslots, need;

	for (pos = 0; pos < rdlen; count++) {
		size_t olen;

		if (rdlen - pos < 4)
			return fail(p, NP_EPROTO,
				    "EDNS option %zu: its header runs past the end of the OPT "
				    "record",
				    count + 1);
		olen = get16(o + pos + 2);
		if (rdlen - pos - 4 < olen)
			return fail(p, NP_EPROTO,
				    "EDNS option %zu: its %zu bytes run past the end of the OPT "
				    "record",
				    count + 1, olen);
		pos += 4 + olen;
	}
	if (count == 0)
		return NP_OK;

	e->options = calloc(count, sizeof(*e->options));
	if (e->options == NULL)
		return fail(p, NP_ENOMEM, "out of memory");
	need = p->n_slots + 2 * count;
	if (p->slots == p->slots_small) {
		if (need > SLOTS_SMALL) {
			nslots = malloc(need * sizeof(*p->slots));
			if (nslots == NULL)
				return fail(p, NP_ENOMEM, "out of memory");
			memcpy(nslots, p->slots, p->n_slots * sizeof(*p->slots));
			p->slots = nslots;
		}
	} else {
		nslots = realloc(p->slots, need * sizeof(*p->slots));
		if (nslots == NULL)
			return fail(p, NP_ENOMEM, "out of memory");
		p->slots = nslots;
	}
	for (pos = 0, i = 0; i < count; i++) {
		struct dns_edns_option *opt = &e->options[i];
		const unsigned char *v = o + pos + 4;
		size_t olen = get16(o + pos + 2), mark;
		int decoded = 0;

		opt->code = (uint16_t)get16(o + pos);
		opt->length = (uint16_t)olen;
		opt->scope = -1;
		p->slots[p->n_slots + 2 * i] = p->text.len;
		dns_wire_hex(&p->text, v, olen, 0);
		dns_wire_text_end(&p->text);
		mark = p->text.len;
		if (opt->code == DNS_OPT_NSID)
			decoded = nsid_text(p, v, olen);
		else if (opt->code == DNS_OPT_ECS)
			decoded = ecs_text(p, v, olen, &opt->scope);
		if (decoded) {
			dns_wire_text_end(&p->text);
			p->slots[p->n_slots + 2 * i + 1] = mark;
		} else {
			p->slots[p->n_slots + 2 * i + 1] = SLOT_NONE;
		}
		pos += 4 + olen;
	}
	if (p->text.status != NP_OK)
		return text_failed(p);
	e->n_options = count;
	return NP_OK;
}

/* RFC 6891 6.1: the OPT pseudo-record, kept as EDNS info. */
static int take_opt(struct parser *p, enum section sec, size_t owner_off, unsigned rclass,
		    uint32_t ttl, size_t rdoff, size_t rdlen)
{
	struct dns_msg *m = &p->b->m;

	if (sec != SEC_ADDITIONAL)
		return fail(p, NP_EPROTO,
			    "OPT record in the %s section; RFC 6891 allows it only in the "
			    "additional section",
			    section_names[sec]);
	if (m->edns.present)
		return fail(p, NP_EPROTO, "a second OPT record (RFC 6891 6.1.1 allows one)");
	if (strcmp(p->text.buf + owner_off, ".") != 0)
		return fail(p, NP_EPROTO, "the OPT record's owner is not the root");
	m->edns.present = 1;
	m->edns.udp_size = (uint16_t)rclass;
	m->edns.version = (uint8_t)(ttl >> 16);
	m->edns.flags = (uint16_t)ttl;
	m->edns.dnssec_ok = (ttl & 0x8000u) != 0;
	m->rcode = (uint16_t)((ttl >> 24) << 4 | m->rcode);
	/* Its owner is not kept. */
	dns_wire_text_rewind(&p->text, owner_off);
	return read_options(p, rdoff, rdlen);
}

static int read_record(struct parser *p, enum section sec)
{
	struct msg_block *b = p->b;
	struct dns_rr *rr;
	size_t owner_off, data_off, rdoff;
	unsigned type, rclass, rdlen;
	uint32_t ttl;
	int rc, generic;

	rc = read_name(p, "owner name", &owner_off);
	if (rc != NP_OK)
		return rc;
	if (p->len - p->pos < 10)
		return fail(p, NP_EPROTO, "type, class, TTL and length run past the end of the "
					  "message");
	type = get16(p->buf + p->pos);
	rclass = get16(p->buf + p->pos + 2);
	ttl = get32(p->buf + p->pos + 4);
	rdlen = get16(p->buf + p->pos + 8);
	p->pos += 10;
	if (p->len - p->pos < rdlen)
		return fail(p, NP_EPROTO,
			    "rdata runs past the end of the message (%u bytes, %zu left)", rdlen,
			    p->len - p->pos);
	rdoff = p->pos;
	p->pos += rdlen;

	if (type == DNS_T_OPT)
		return take_opt(p, sec, owner_off, rclass, ttl, rdoff, rdlen);

	data_off = p->text.len;
	generic = dns_rdata_print(p->buf, rdoff, rdlen, (uint16_t)type, (uint16_t)rclass,
				  &p->text);
	dns_wire_text_end(&p->text);
	if (p->text.status != NP_OK)
		return text_failed(p);

	rr = &b->rrs[p->n_rrs];
	rr->type = (uint16_t)type;
	rr->rclass = (uint16_t)rclass;
	rr->ttl = ttl;
	rr->rdlength = (uint16_t)rdlen;
	rr->generic = generic;
	p->slots[b->m.n_question + 2 * p->n_rrs] = owner_off;
	p->slots[b->m.n_question + 2 * p->n_rrs + 1] = data_off;
	p->n_rrs++;

	if (sec != SEC_ADDITIONAL) {
		note_ttl(b, ttl);
		/* A negative answer may be cached for the SOA's MINIMUM at most
		 * (RFC 2308 5). The printer accepted the SOA, so it is two names
		 * and five 32-bit fields, MINIMUM last. */
		if (type == DNS_T_SOA && !generic)
			note_ttl(b, get32(p->buf + rdoff + rdlen - 4));
	}
	return NP_OK;
}

/* Turns the slots' offsets into pointers, now that the arena holds still. */
static void set_pointers(struct parser *p)
{
	struct msg_block *b = p->b;
	struct dns_msg *m = &b->m;
	char *a = b->arena;
	size_t i, nq = m->n_question;

	for (i = 0; i < nq; i++)
		m->question[i].name = a + p->slots[i];
	for (i = 0; i < p->n_rrs; i++) {
		b->rrs[i].name = a + p->slots[nq + 2 * i];
		b->rrs[i].data = a + p->slots[nq + 2 * i + 1];
	}
	for (i = 0; i < m->edns.n_options; i++) {
		size_t text = p->slots[p->n_slots + 2 * i + 1];

		m->edns.options[i].hex = a + p->slots[p->n_slots + 2 * i];
		m->edns.options[i].text = text == SLOT_NONE ? NULL : a + text;
	}
}

static int parse_header(struct parser *p)
{
	struct dns_msg *m = &p->b->m;
	const unsigned char *h = p->buf;
	unsigned flags = get16(h + 2);
	size_t need, left = p->len - 12;

	m->id = (uint16_t)get16(h);
	m->qr = (flags >> 15) & 1;
	m->opcode = (flags >> 11) & 0xf;
	m->aa = (flags >> 10) & 1;
	m->tc = (flags >> 9) & 1;
	m->rd = (flags >> 8) & 1;
	m->ra = (flags >> 7) & 1;
	m->z = (flags >> 6) & 1;
	m->ad = (flags >> 5) & 1;
	m->cd = (flags >> 4) & 1;
	m->rcode = (uint16_t)(flags & 0xf);
	m->qdcount = (uint16_t)get16(h + 4);
	m->ancount = (uint16_t)get16(h + 6);
	m->nscount = (uint16_t)get16(h + 8);
	m->arcount = (uint16_t)get16(h + 10);

	/* The smallest question is 5 bytes (root name, type, class), the
	 * smallest record 11; counts that cannot fit are refused before
	 * anything is allocated for them. */
	need = (size_t)m->qdcount * 5 +
	       ((size_t)m->ancount + m->nscount + m->arcount) * 11;
	if (need > left)
		return fail(p, NP_EPROTO,
			    "the header's counts (QD %u, AN %u, NS %u, AR %u) need at least %zu "
			    "bytes, but only %zu follow the header",
			    m->qdcount, m->ancount, m->nscount, m->arcount, need, left);
	p->pos = 12;
	return NP_OK;
}

/* Sizes are rounded up to this, so that what follows is aligned. */
#define BLOCK_ALIGN 16
#define ALIGN_UP(n) (((n) + (BLOCK_ALIGN - 1)) & ~(size_t)(BLOCK_ALIGN - 1))

/*
 * The block with room for the questions and records behind it, replacing
 * the header-only one the parser read into (*p->b, on the stack).
 */
static int alloc_parts(struct parser *p)
{
	struct msg_block *b;
	const struct dns_msg *h = &p->b->m;
	size_t nrr = (size_t)h->ancount + h->nscount + h->arcount;
	size_t qoff = ALIGN_UP(sizeof(*b));
	size_t roff = qoff + ALIGN_UP((size_t)h->qdcount * sizeof(struct dns_question));

	p->n_slots = (size_t)h->qdcount + 2 * nrr;
	if (p->n_slots <= SLOTS_SMALL) {
		p->slots = p->slots_small;
	} else {
		p->slots = calloc(p->n_slots, sizeof(*p->slots));
		if (p->slots == NULL)
			return fail(p, NP_ENOMEM, "out of memory");
	}
	b = calloc(1, roff + nrr * sizeof(struct dns_rr));
	if (b == NULL)
		return fail(p, NP_ENOMEM, "out of memory");
	*b = *p->b;
	if (h->qdcount > 0)
		b->m.question = (struct dns_question *)(void *)((char *)b + qoff);
	if (nrr > 0)
		b->rrs = (struct dns_rr *)(void *)((char *)b + roff);
	p->b = b;
	return NP_OK;
}

static int parse_body(struct parser *p)
{
	struct msg_block *b = p->b;
	struct dns_msg *m = &b->m;
	const unsigned counts[] = {m->ancount, m->nscount, m->arcount};
	size_t before[3];
	unsigned i;
	int rc, s;

	for (i = 0; i < m->qdcount; i++) {
		struct dns_question *q = &m->question[i];

		p->where_sec = WHERE_QUESTION;
		p->where_i = i + 1;
		rc = read_name(p, "name", &p->slots[i]);
		if (rc != NP_OK)
			return rc;
		if (p->len - p->pos < 4)
			return fail(p, NP_EPROTO,
				    "type and class run past the end of the message");
		q->type = (uint16_t)get16(p->buf + p->pos);
		q->qclass = (uint16_t)get16(p->buf + p->pos + 2);
		p->pos += 4;
		m->n_question++;
	}

	for (s = SEC_ANSWER; s <= SEC_ADDITIONAL; s++) {
		before[s] = p->n_rrs;
		for (i = 0; i < counts[s]; i++) {
			p->where_sec = s;
			p->where_i = i + 1;
			rc = read_record(p, (enum section)s);
			if (rc != NP_OK)
				return rc;
		}
	}
	p->where_sec = WHERE_NONE;
	if (p->pos != p->len)
		return fail(p, NP_EPROTO, "%zu bytes of trailing data after the last record",
			    p->len - p->pos);

	m->n_answer = before[SEC_AUTHORITY] - before[SEC_ANSWER];
	m->n_authority = before[SEC_ADDITIONAL] - before[SEC_AUTHORITY];
	m->n_additional = p->n_rrs - before[SEC_ADDITIONAL];
	if (m->n_answer > 0)
		m->answer = b->rrs;
	if (m->n_authority > 0)
		m->authority = b->rrs + before[SEC_AUTHORITY];
	if (m->n_additional > 0)
		m->additional = b->rrs + before[SEC_ADDITIONAL];
	return NP_OK;
}

int dns_msg_parse(const unsigned char *buf, size_t len, struct dns_msg **out, char *err,
		  size_t errlen)
{
	struct parser p;
	struct msg_block head;
	int rc;

	memset(&p, 0, offsetof(struct parser, slots_small));
	p.where_sec = WHERE_NONE;
	p.err = err;
	p.errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL)
		return fail(&p, NP_EINVAL, "no place for the result");
	*out = NULL;
	if (buf == NULL)
		return fail(&p, NP_EINVAL, "no message");
	if (len < 12)
		return fail(&p, NP_EPROTO, "the message is %zu bytes, shorter than a DNS header "
					   "(12)", len);
	if (len > DNS_MSG_MAX)
		return fail(&p, NP_EPROTO, "the message is %zu bytes; the maximum is %u", len,
			    DNS_MSG_MAX);

	p.buf = buf;
	p.len = len;
	dns_wire_text_init(&p.text, DNS_ARENA_MAX);
	/* The header is read into a block on the stack; alloc_parts() then
	 * allocates the real one, sized by the counts the header checked. */
	memset(&head, 0, sizeof(head));
	p.b = &head;
	rc = parse_header(&p);
	if (rc == NP_OK)
		rc = alloc_parts(&p);
	if (p.b == &head)
		p.b = NULL;
	if (rc != NP_OK)
		goto done;
	rc = parse_body(&p);
	if (rc != NP_OK)
		goto done;

	/* The arena stops moving here: hand it to the message. */
	p.b->arena = p.text.buf;
	p.text.buf = NULL;
	set_pointers(&p);
	*out = &p.b->m;
	p.b = NULL;
	rc = NP_OK;
done:
	if (p.b != NULL)
		dns_msg_free(&p.b->m);
	dns_wire_text_free(&p.text);
	if (p.slots != p.slots_small)
		free(p.slots);
	return rc;
}

void dns_msg_free(struct dns_msg *m)
{
	struct msg_block *b = (struct msg_block *)m;

	if (b == NULL)
		return;
	/* Questions and records are part of the block. */
	free(b->m.edns.options);
	free(b->arena);
	free(b);
}

uint32_t dns_msg_min_ttl(const struct dns_msg *m, int *found)
{
	const struct msg_block *b = (const struct msg_block *)m;

	if (found != NULL)
		*found = b != NULL && b->min_ttl_found;
	if (b == NULL || !b->min_ttl_found)
		return 0;
	return b->min_ttl;
}

/* ---- reverse names ---- */

int dns_reverse_name(const char *ip, char *out, size_t cap)
{
	static const char nibble[] = "0123456789abcdef";
	unsigned char a[16];
	size_t n = 0;
	int i;

	if (out != NULL && cap > 0)
		out[0] = '\0';
	if (ip == NULL || out == NULL)
		return NP_EINVAL;
	if (inet_pton(AF_INET, ip, a) == 1) {
		int w = snprintf(out, cap, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);

		if (w < 0 || (size_t)w >= cap) {
			if (cap > 0)
				out[0] = '\0';
			return NP_ELIMIT;
		}
		return NP_OK;
	}
	if (inet_pton(AF_INET6, ip, a) != 1)
		return NP_EINVAL;
	/* RFC 3596 2.5: nibbles, least significant first. */
	if (cap < 32 * 2 + sizeof("ip6.arpa"))
		return NP_ELIMIT;
	for (i = 15; i >= 0; i--) {
		out[n++] = nibble[a[i] & 0x0f];
		out[n++] = '.';
		out[n++] = nibble[a[i] >> 4];
		out[n++] = '.';
	}
	memcpy(out + n, "ip6.arpa", sizeof("ip6.arpa"));
	return NP_OK;
}
