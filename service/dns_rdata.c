/*
 * dns_rdata.c - rdata in presentation form, as dig (BIND 9.18) prints it
 * with its default options: one line, long hex and base64 fields split
 * into 56-character chunks by spaces, names absolute.
 *
 * Each printer reads through a cursor (struct rd) whose reads fail softly:
 * a read past the rdata's end marks the cursor bad and returns zeros, so
 * the printers are written as the layout reads, and the verdict comes
 * once, at the end: rdata that was short, too long or broke a rule of its
 * type is written again in the RFC 3597 generic form, "\# len HEX". So an
 * rdata from the network can change what is printed, never where we read.
 *
 * Where BIND refuses rdata outright (dig then reports the whole message
 * malformed), the rule is kept here too, as the reason for the generic
 * form; each such rule is marked "as BIND".
 */
#include "dns_wire.h"
#include "dns_wire_int.h"
#include "np.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/*
 * dig's default +split: BIND breaks hex and base64 after (width - 2)
 * rounded down to whole groups, with width 60, which gives 56 characters.
 */
#define SPLIT 56

struct rd {
	const unsigned char *msg; /* the whole message, for compressed names */
	size_t pos;
	size_t end;
	int bad;
	struct dns_wire_text *t;
};

static size_t rd_left(const struct rd *r)
{
	return r->bad ? 0 : r->end - r->pos;
}

static void rd_fail(struct rd *r)
{
	r->bad = 1;
}

/* The next n bytes, or NULL (and the cursor bad) when there are fewer. */
static const unsigned char *rd_take(struct rd *r, size_t n)
{
	const unsigned char *p;

	if (r->bad || r->end - r->pos < n) {
		r->bad = 1;
		return NULL;
	}
	p = r->msg + r->pos;
	r->pos += n;
	return p;
}

static unsigned rd_u8(struct rd *r)
{
	const unsigned char *p = rd_take(r, 1);

	return p != NULL ? p[0] : 0;
}

static unsigned rd_u16(struct rd *r)
{
	const unsigned char *p = rd_take(r, 2);

	return p != NULL ? (unsigned)p[0] << 8 | p[1] : 0;
}

static uint32_t rd_u32(struct rd *r)
{
	const unsigned char *p = rd_take(r, 4);

	return p != NULL ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
			 : 0;
}

/* The rest of the rdata; *n is its length. */
static const unsigned char *rd_rest(struct rd *r, size_t *n)
{
	*n = rd_left(r);
	return rd_take(r, *n);
}

static void rd_name(struct rd *r)
{
	size_t next;

	if (r->bad)
		return;
	if (dns_wire_name(r->msg, r->end, r->pos, &next, r->t, NULL, 0) != 0) {
		r->bad = 1;
		return;
	}
	r->pos = next;
}

/*
 * Bytes of a character-string as BIND's txt_totext() writes them: `"` and
 * `\` escaped, bytes outside the printable range as \DDD; unquoted, a space
 * is \032 and `@` and `;` are escaped as well.
 */
static void put_text(struct dns_wire_text *t, const unsigned char *p, size_t n, int quote)
{
	size_t i;

	if (quote)
		dns_wire_putc(t, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (c < (quote ? 0x20 : 0x21) || c >= 0x7f) {
			dns_wire_printf(t, "\\%03u", c);
			continue;
		}
		if (c == '"' || c == '\\' || (!quote && (c == '@' || c == ';')))
			dns_wire_putc(t, '\\');
		dns_wire_putc(t, (char)c);
	}
	if (quote)
		dns_wire_putc(t, '"');
}

/* One <character-string> (RFC 1035 3.3): a length byte, then the bytes. */
static void rd_string(struct rd *r, int quote)
{
	unsigned n = rd_u8(r);
	const unsigned char *p = rd_take(r, n);

	if (p != NULL)
		put_text(r->t, p, n, quote);
}

/* The rest of the rdata as one quoted string (CAA value, URI target). */
static void rd_rest_text(struct rd *r)
{
	size_t n;
	const unsigned char *p = rd_rest(r, &n);

	if (p != NULL)
		put_text(r->t, p, n, 1);
}

/* The rest as split base64 or hex; it must not be empty. */
static void rd_rest_base64(struct rd *r)
{
	size_t n;
	const unsigned char *p = rd_rest(r, &n);

	if (p == NULL || n == 0) {
		rd_fail(r);
		return;
	}
	dns_wire_base64(r->t, p, n, SPLIT);
}

static void rd_rest_hex(struct rd *r)
{
	size_t n;
	const unsigned char *p = rd_rest(r, &n);

	if (p == NULL || n == 0) {
		rd_fail(r);
		return;
	}
	dns_wire_hex(r->t, p, n, SPLIT);
}

static void put_type(struct dns_wire_text *t, unsigned type)
{
	char buf[DNS_TYPE_TEXT_MAX];

	dns_wire_puts(t, dns_type_to_text((uint16_t)type, buf, sizeof(buf)));
}

/* ---- shared pieces ---- */

/*
 * The type bitmap of NSEC, NSEC3 and CSYNC (RFC 4034 4.1.2): windows in
 * increasing order, each 1 to 32 bytes with a non-zero last byte (as
 * BIND). Printed as " TYPE TYPE ...".
 */
static void rd_bitmap(struct rd *r, int allow_empty)
{
	size_t n, i = 0;
	const unsigned char *p = rd_rest(r, &n);
	int first = 1;
	unsigned last = 0;

	if (p == NULL || (n == 0 && !allow_empty)) {
		rd_fail(r);
		return;
	}
	while (i < n) {
		unsigned window, len, j, k;

		if (n - i < 2) {
			rd_fail(r);
			return;
		}
		window = p[i];
		len = p[i + 1];
		i += 2;
		if ((!first && window <= last) || len < 1 || len > 32 || n - i < len ||
		    p[i + len - 1] == 0) {
			rd_fail(r);
			return;
		}
		for (j = 0; j < len; j++) {
			for (k = 0; k < 8; k++) {
				if (p[i + j] & (0x80 >> k)) {
					dns_wire_putc(r->t, ' ');
					put_type(r->t, window * 256 + j * 8 + k);
				}
			}
		}
		i += len;
		last = window;
		first = 0;
	}
}

/* Days since 1970-01-01 to a civil date, proleptic Gregorian, for any
 * sign: shift to eras of 400 years that start on March 1st. */
static void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/*
 * An RRSIG time (RFC 4034 3.2): 32-bit seconds, read as BIND's
 * dns_time32_totext() does, as the moment within 2^31 seconds of now,
 * and printed YYYYMMDDHHMMSS in UTC.
 */
static void put_time32(struct dns_wire_text *t, uint32_t v)
{
	int64_t now = (int64_t)time(NULL);
	uint32_t diff = v - (uint32_t)now;
	int64_t when, days, secs, year;
	unsigned mon, day;

	if (diff < 0x80000000u)
		when = now + diff;
	else
		when = now - (int64_t)(0x100000000ull - diff);
	days = when / 86400;
	secs = when % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	civil_from_days(days, &year, &mon, &day);
	dns_wire_printf(t, "%04lld%02u%02u%02u%02u%02u", (long long)year, mon, day,
			(unsigned)(secs / 3600), (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
}

/* Decimal digits of v (< 1000), no leading zeros; returns the end. */
static char *put_dec8(char *out, unsigned v)
{
	if (v >= 100)
		*out++ = (char)('0' + v / 100);
	if (v >= 10)
		*out++ = (char)('0' + v / 10 % 10);
	*out++ = (char)('0' + v % 10);
	return out;
}

/* "%u.%u.%u.%u", without printf: every A record goes through here. */
static void put_ip4(struct dns_wire_text *t, const unsigned char *p)
{
	char buf[16], *out = buf;

	for (int i = 0; i < 4; i++) {
		if (i > 0)
			*out++ = '.';
		out = put_dec8(out, p[i]);
	}
	dns_wire_putn(t, buf, (size_t)(out - buf));
}

static void put_ip6(struct dns_wire_text *t, const unsigned char *p)
{
	char buf[INET6_ADDRSTRLEN];

	if (inet_ntop(AF_INET6, p, buf, sizeof(buf)) != NULL)
		dns_wire_puts(t, buf);
}

/* ---- one printer per type ---- */

static void print_a(struct rd *r, uint16_t rclass)
{
	const unsigned char *p;

	if (rclass == DNS_C_CH) {
		/* Chaosnet: a domain and a 16-bit address, in octal. */
		rd_name(r);
		dns_wire_printf(r->t, " %o", rd_u16(r));
		return;
	}
	p = rd_take(r, 4);
	if (p != NULL)
		put_ip4(r->t, p);
}

static void print_aaaa(struct rd *r)
{
	const unsigned char *p = rd_take(r, 16);

	if (p != NULL)
		put_ip6(r->t, p);
}

/* WKS (RFC 1035 3.4.2): address, protocol, the ports set in a bitmap;
 * as BIND, the bitmap has no trailing zero bytes and ends by port 65535. */
static void print_wks(struct rd *r)
{
	const unsigned char *addr = rd_take(r, 4);
	unsigned proto = rd_u8(r), byte, bit;
	size_t n;
	const unsigned char *map = rd_rest(r, &n);

	if (addr == NULL || map == NULL || n > 8192 || (n > 0 && map[n - 1] == 0)) {
		rd_fail(r);
		return;
	}
	put_ip4(r->t, addr);
	dns_wire_printf(r->t, " %u", proto);
	for (byte = 0; byte < n; byte++) {
		for (bit = 0; bit < 8; bit++) {
			if (map[byte] & (0x80 >> bit))
				dns_wire_printf(r->t, " %u", byte * 8 + bit);
		}
	}
}

/* Two names: RP, MINFO. */
static void print_name2(struct rd *r)
{
	rd_name(r);
	dns_wire_putc(r->t, ' ');
	rd_name(r);
}

/* A 16-bit number and a name: MX, AFSDB, RT, KX, LP. */
static void print_u16_name(struct rd *r)
{
	dns_wire_printf(r->t, "%u ", rd_u16(r));
	rd_name(r);
}

static void print_soa(struct rd *r)
{
	unsigned i;

	print_name2(r);
	for (i = 0; i < 5; i++)
		dns_wire_printf(r->t, " %lu", (unsigned long)rd_u32(r));
}

/* TXT and SPF: one or more strings (as BIND, at least one). */
static void print_txt(struct rd *r)
{
	int first = 1;

	if (rd_left(r) == 0)
		rd_fail(r);
	while (rd_left(r) > 0) {
		if (!first)
			dns_wire_putc(r->t, ' ');
		rd_string(r, 1);
		first = 0;
	}
}

static void print_hinfo(struct rd *r)
{
	rd_string(r, 1);
	dns_wire_putc(r->t, ' ');
	rd_string(r, 1);
}

static void print_srv(struct rd *r)
{
	unsigned prio = rd_u16(r), weight = rd_u16(r), port = rd_u16(r);

	dns_wire_printf(r->t, "%u %u %u ", prio, weight, port);
	rd_name(r);
}

static void print_naptr(struct rd *r)
{
	unsigned order = rd_u16(r), pref = rd_u16(r);

	dns_wire_printf(r->t, "%u %u ", order, pref);
	rd_string(r, 1);
	dns_wire_putc(r->t, ' ');
	rd_string(r, 1);
	dns_wire_putc(r->t, ' ');
	rd_string(r, 1);
	dns_wire_putc(r->t, ' ');
	rd_name(r);
}

/* RFC 1876 sizes: mantissa and power of ten, in centimetres. */
static int loc_size_ok(unsigned b)
{
	return (b >> 4) <= 9 && (b & 0x0f) <= 9;
}

static void put_loc_size(struct dns_wire_text *t, unsigned b)
{
	unsigned long v = b >> 4;
	unsigned e = b & 0x0f, i;

	if (e >= 2) {
		for (i = 2; i < e; i++)
			v *= 10;
		dns_wire_printf(t, "%lum", v);
	} else {
		if (e == 1)
			v *= 10;
		dns_wire_printf(t, "0.%02lum", v);
	}
}

/* Degrees, minutes and seconds of a LOC coordinate (in ms of arc, with
 * 2^31 at the equator or prime meridian). */
static void put_loc_angle(struct dns_wire_text *t, uint32_t v, char pos, char neg)
{
	uint32_t a;
	char h;

	if (v >= 0x80000000u) {
		a = v - 0x80000000u;
		h = pos;
	} else {
		a = 0x80000000u - v;
		h = neg;
	}
	dns_wire_printf(t, "%lu %lu %lu.%03lu %c", (unsigned long)(a / 3600000),
			(unsigned long)(a / 60000 % 60), (unsigned long)(a / 1000 % 60),
			(unsigned long)(a % 1000), h);
}

static void print_loc(struct rd *r)
{
	const uint32_t deg = 3600000u;
	unsigned version = rd_u8(r), size = rd_u8(r), hp = rd_u8(r), vp = rd_u8(r);
	uint32_t lat = rd_u32(r), lon = rd_u32(r), alt = rd_u32(r);

	/* Only version 0 is defined; coordinates and sizes in range (as BIND). */
	if (r->bad || version != 0 || !loc_size_ok(size) || !loc_size_ok(hp) ||
	    !loc_size_ok(vp) || lat < 0x80000000u - 90 * deg || lat > 0x80000000u + 90 * deg ||
	    lon < 0x80000000u - 180 * deg || lon > 0x80000000u + 180 * deg) {
		rd_fail(r);
		return;
	}
	put_loc_angle(r->t, lat, 'N', 'S');
	dns_wire_putc(r->t, ' ');
	put_loc_angle(r->t, lon, 'E', 'W');
	/* Altitude: centimetres above 100 km below the WGS 84 spheroid. */
	if (alt < 10000000u) {
		alt = 10000000u - alt;
		dns_wire_putc(r->t, ' ');
		dns_wire_putc(r->t, '-');
	} else {
		alt -= 10000000u;
		dns_wire_putc(r->t, ' ');
	}
	dns_wire_printf(r->t, "%lu.%02lum ", (unsigned long)(alt / 100),
			(unsigned long)(alt % 100));
	put_loc_size(r->t, size);
	dns_wire_putc(r->t, ' ');
	put_loc_size(r->t, hp);
	dns_wire_putc(r->t, ' ');
	put_loc_size(r->t, vp);
}

static const char *cert_type_name(unsigned v)
{
	/* RFC 4398 2.1 */
	switch (v) {
	case 1: return "PKIX";
	case 2: return "SPKI";
	case 3: return "PGP";
	case 4: return "IPKIX";
	case 5: return "ISPKI";
	case 6: return "IPGP";
	case 7: return "ACPKIX";
	case 8: return "IACPKIX";
	case 253: return "URI";
	case 254: return "OID";
	default: return NULL;
	}
}

static const char *secalg_name(unsigned v)
{
	/* DNSSEC algorithm mnemonics, as BIND prints them in CERT. */
	switch (v) {
	case 1: return "RSAMD5";
	case 2: return "DH";
	case 3: return "DSA";
	case 5: return "RSASHA1";
	case 6: return "NSEC3DSA";
	case 7: return "NSEC3RSASHA1";
	case 8: return "RSASHA256";
	case 10: return "RSASHA512";
	case 12: return "ECCGOST";
	case 13: return "ECDSAP256SHA256";
	case 14: return "ECDSAP384SHA384";
	case 15: return "ED25519";
	case 16: return "ED448";
	case 252: return "INDIRECT";
	case 253: return "PRIVATEDNS";
	case 254: return "PRIVATEOID";
	default: return NULL;
	}
}

static void put_mnemonic(struct dns_wire_text *t, const char *name, unsigned v)
{
	if (name != NULL)
		dns_wire_puts(t, name);
	else
		dns_wire_printf(t, "%u", v);
}

static void print_cert(struct rd *r)
{
	unsigned type = rd_u16(r), tag = rd_u16(r), alg = rd_u8(r);

	put_mnemonic(r->t, cert_type_name(type), type);
	dns_wire_printf(r->t, " %u ", tag);
	put_mnemonic(r->t, secalg_name(alg), alg);
	dns_wire_putc(r->t, ' ');
	rd_rest_base64(r);
}

/* APL (RFC 3123): "[!]family:address/prefix" items. */
static void print_apl(struct rd *r)
{
	int first = 1;

	while (rd_left(r) > 0) {
		unsigned family = rd_u16(r), prefix = rd_u8(r), b = rd_u8(r);
		unsigned afdlen = b & 0x7f;
		unsigned char addr[16] = {0};
		const unsigned char *p = rd_take(r, afdlen);
		unsigned max_len = family == 1 ? 4 : 16, max_prefix = family == 1 ? 32 : 128;

		/* As BIND: known families, in range, no trailing zero bytes. */
		if (p == NULL || (family != 1 && family != 2) || afdlen > max_len ||
		    prefix > max_prefix || (afdlen > 0 && p[afdlen - 1] == 0)) {
			rd_fail(r);
			return;
		}
		memcpy(addr, p, afdlen);
		if (!first)
			dns_wire_putc(r->t, ' ');
		dns_wire_printf(r->t, "%s%u:", (b & 0x80) ? "!" : "", family);
		if (family == 1)
			put_ip4(r->t, addr);
		else
			put_ip6(r->t, addr);
		dns_wire_printf(r->t, "/%u", prefix);
		first = 0;
	}
}

/* DS, CDS, TA, DLV (RFC 4034 5.1). */
static void print_ds(struct rd *r)
{
	unsigned tag = rd_u16(r), alg = rd_u8(r), dtype = rd_u8(r);
	size_t n = rd_left(r);

	/* As BIND: the digest length of SHA-1, SHA-256 and SHA-384 is known. */
	if ((dtype == 1 && n != 20) || (dtype == 2 && n != 32) || (dtype == 4 && n != 48)) {
		rd_fail(r);
		return;
	}
	dns_wire_printf(r->t, "%u %u %u ", tag, alg, dtype);
	rd_rest_hex(r);
}

static void print_sshfp(struct rd *r)
{
	unsigned alg = rd_u8(r), fptype = rd_u8(r);
	size_t n = rd_left(r);

	/* As BIND: SHA-1 and SHA-256 fingerprints have their length. */
	if ((fptype == 1 && n != 20) || (fptype == 2 && n != 32)) {
		rd_fail(r);
		return;
	}
	dns_wire_printf(r->t, "%u %u ", alg, fptype);
	rd_rest_hex(r);
}

/* IPSECKEY (RFC 4025 2). */
static void print_ipseckey(struct rd *r)
{
	unsigned prec = rd_u8(r), gwtype = rd_u8(r), alg = rd_u8(r);
	const unsigned char *p;

	dns_wire_printf(r->t, "%u %u %u ", prec, gwtype, alg);
	switch (gwtype) {
	case 0:
		dns_wire_putc(r->t, '.');
		break;
	case 1:
		p = rd_take(r, 4);
		if (p != NULL)
			put_ip4(r->t, p);
		break;
	case 2:
		p = rd_take(r, 16);
		if (p != NULL)
			put_ip6(r->t, p);
		break;
	case 3:
		rd_name(r);
		break;
	default:
		rd_fail(r);
		return;
	}
	dns_wire_putc(r->t, ' ');
	rd_rest_base64(r);
}

/* RRSIG (RFC 4034 3.2) and SIG, which has the same layout. */
static void print_rrsig(struct rd *r)
{
	unsigned covered = rd_u16(r), alg = rd_u8(r), labels = rd_u8(r);
	uint32_t ttl = rd_u32(r), expire = rd_u32(r), incept = rd_u32(r);
	unsigned tag = rd_u16(r);

	put_type(r->t, covered);
	dns_wire_printf(r->t, " %u %u %lu ", alg, labels, (unsigned long)ttl);
	put_time32(r->t, expire);
	dns_wire_putc(r->t, ' ');
	put_time32(r->t, incept);
	dns_wire_printf(r->t, " %u ", tag);
	rd_name(r);
	dns_wire_putc(r->t, ' ');
	rd_rest_base64(r);
}

static void print_nsec(struct rd *r)
{
	rd_name(r);
	rd_bitmap(r, 0);
}

/* NSEC3 salt: hex, or "-" when empty (RFC 5155 3.3). */
static void rd_salt(struct rd *r)
{
	unsigned n = rd_u8(r);
	const unsigned char *p = rd_take(r, n);

	if (p == NULL)
		return;
	if (n == 0)
		dns_wire_putc(r->t, '-');
	else
		dns_wire_hex(r->t, p, n, 0);
}

/* Base32 with the extended hex alphabet, unpadded (RFC 4648 7, RFC 5155 3.3). */
static void put_base32hex(struct dns_wire_text *t, const unsigned char *p, size_t n)
{
	static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		acc = (acc << 8 | p[i]) & 0xfff;
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			dns_wire_putc(t, alphabet[(acc >> bits) & 0x1f]);
		}
	}
	if (bits > 0)
		dns_wire_putc(t, alphabet[(acc << (5 - bits)) & 0x1f]);
}

static void print_nsec3(struct rd *r)
{
	unsigned alg = rd_u8(r), flags = rd_u8(r), iter = rd_u16(r), n;
	const unsigned char *p;

	dns_wire_printf(r->t, "%u %u %u ", alg, flags, iter);
	rd_salt(r);
	dns_wire_putc(r->t, ' ');
	n = rd_u8(r);
	p = rd_take(r, n);
	/* As BIND: the next hashed owner is not empty. */
	if (p == NULL || n == 0) {
		rd_fail(r);
		return;
	}
	put_base32hex(r->t, p, n);
	rd_bitmap(r, 1);
}

static void print_nsec3param(struct rd *r)
{
	unsigned alg = rd_u8(r), flags = rd_u8(r), iter = rd_u16(r);

	dns_wire_printf(r->t, "%u %u %u ", alg, flags, iter);
	rd_salt(r);
}

/* DNSKEY and CDNSKEY (RFC 4034 2.1); as BIND, the key is not empty. */
static void print_dnskey(struct rd *r)
{
	unsigned flags = rd_u16(r), proto = rd_u8(r), alg = rd_u8(r);

	dns_wire_printf(r->t, "%u %u %u ", flags, proto, alg);
	rd_rest_base64(r);
}

/* TLSA and SMIMEA (RFC 6698 2.1). */
static void print_tlsa(struct rd *r)
{
	unsigned usage = rd_u8(r), selector = rd_u8(r), mtype = rd_u8(r);

	dns_wire_printf(r->t, "%u %u %u ", usage, selector, mtype);
	rd_rest_hex(r);
}

static void print_csync(struct rd *r)
{
	uint32_t serial = rd_u32(r);
	unsigned flags = rd_u16(r);

	dns_wire_printf(r->t, "%lu %u", (unsigned long)serial, flags);
	rd_bitmap(r, 1);
}

/* ZONEMD (RFC 8976 2). */
static void print_zonemd(struct rd *r)
{
	uint32_t serial = rd_u32(r);
	unsigned scheme = rd_u8(r), alg = rd_u8(r);
	size_t n = rd_left(r);

	/* As BIND: SHA-384 and SHA-512 digests have their length, others at
	 * least 12 bytes (RFC 8976 2.2.4). */
	if ((alg == 1 && n != 48) || (alg == 2 && n != 64) || n < 12) {
		rd_fail(r);
		return;
	}
	dns_wire_printf(r->t, "%lu %u %u ", (unsigned long)serial, scheme, alg);
	rd_rest_hex(r);
}

static void print_eui(struct rd *r, size_t n)
{
	const unsigned char *p = rd_take(r, n);
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (i > 0)
			dns_wire_putc(r->t, '-');
		dns_wire_printf(r->t, "%02x", p[i]);
	}
}

/*
 * ILNP (RFC 6742 2): a 16-bit preference, then for NID and L64 a 64-bit
 * value written as four 16-bit groups in lowercase hex without leading
 * zeros ("10 14:4fff:ff20:ee64"). As BIND, the rdata is exactly 10 bytes.
 */
static void print_ilnp64(struct rd *r)
{
	unsigned pref = rd_u16(r), a = rd_u16(r), b = rd_u16(r), c = rd_u16(r), d = rd_u16(r);

	dns_wire_printf(r->t, "%u %x:%x:%x:%x", pref, a, b, c, d);
}

/* L32: the preference and a 32-bit locator as an IPv4 address; as BIND,
 * exactly 6 bytes. (LP, a preference and a name, is print_u16_name().) */
static void print_l32(struct rd *r)
{
	unsigned pref = rd_u16(r);
	const unsigned char *p = rd_take(r, 4);

	if (p == NULL)
		return;
	dns_wire_printf(r->t, "%u ", pref);
	put_ip4(r->t, p);
}

static void print_uri(struct rd *r)
{
	unsigned prio = rd_u16(r), weight = rd_u16(r);

	dns_wire_printf(r->t, "%u %u ", prio, weight);
	rd_rest_text(r);
}

/* CAA (RFC 8659 4.1); as BIND, the tag is 1 or more letters and digits. */
static void print_caa(struct rd *r)
{
	unsigned flags = rd_u8(r), taglen = rd_u8(r), i;
	const unsigned char *tag = rd_take(r, taglen);

	if (tag == NULL || taglen == 0) {
		rd_fail(r);
		return;
	}
	for (i = 0; i < taglen; i++) {
		unsigned char c = tag[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
			rd_fail(r);
			return;
		}
	}
	dns_wire_printf(r->t, "%u ", flags);
	dns_wire_putn(r->t, (const char *)tag, taglen);
	dns_wire_putc(r->t, ' ');
	rd_rest_text(r);
}

/* ---- SVCB and HTTPS (RFC 9460) ---- */

enum {
	SVC_MANDATORY = 0,
	SVC_ALPN = 1,
	SVC_NO_DEFAULT_ALPN = 2,
	SVC_PORT = 3,
	SVC_IPV4HINT = 4,
	SVC_ECH = 5,
	SVC_IPV6HINT = 6,
};

/* The key names BIND 9.18 knows; others (dohpath, 7, included) are keyN. */
static const char *const svc_key_names[] = {
	"mandatory", "alpn", "no-default-alpn", "port", "ipv4hint", "ech", "ipv6hint",
};

static void put_svc_key(struct dns_wire_text *t, unsigned key)
{
	if (key < NP_ARRAY_LEN(svc_key_names))
		dns_wire_puts(t, svc_key_names[key]);
	else
		dns_wire_printf(t, "key%u", key);
}

static unsigned get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* alpn: a list of non-empty character-strings. */
static int alpn_ok(const unsigned char *v, size_t n)
{
	size_t i = 0;

	if (n == 0)
		return 0;
	while (i < n) {
		if (v[i] == 0 || n - i - 1 < v[i])
			return 0;
		i += 1 + (size_t)v[i];
	}
	return 1;
}

/*
 * Checks the SvcParams (RFC 9460 2.2, 7) at p[0..n): keys strictly
 * increasing, values that fit their key, and (as BIND) mandatory keys
 * that are all present, and no no-default-alpn without alpn.
 */
static int svc_params_ok(const unsigned char *p, size_t n)
{
	size_t i = 0, mand_off = 0, mand_len = 0;
	int first = 1, have_mandatory = 0, have_alpn = 0, have_nda = 0;
	unsigned last = 0;

	while (i < n) {
		unsigned key, len;
		const unsigned char *v;

		if (n - i < 4)
			return 0;
		key = get16(p + i);
		len = get16(p + i + 2);
		if (n - i - 4 < len || (!first && key <= last))
			return 0;
		v = p + i + 4;
		switch (key) {
		case SVC_MANDATORY:
			if (len == 0 || len % 2 != 0)
				return 0;
			have_mandatory = 1;
			mand_off = i + 4;
			mand_len = len;
			break;
		case SVC_ALPN:
			if (!alpn_ok(v, len))
				return 0;
			have_alpn = 1;
			break;
		case SVC_NO_DEFAULT_ALPN:
			if (len != 0)
				return 0;
			have_nda = 1;
			break;
		case SVC_PORT:
			if (len != 2)
				return 0;
			break;
		case SVC_IPV4HINT:
			if (len == 0 || len % 4 != 0)
				return 0;
			break;
		case SVC_IPV6HINT:
			if (len == 0 || len % 16 != 0)
				return 0;
			break;
		default:
			break;
		}
		last = key;
		first = 0;
		i += 4 + len;
	}
	if (have_nda && !have_alpn)
		return 0;
	if (have_mandatory) {
		/* Both lists are strictly increasing: walk them side by side. */
		size_t j, k = 0;
		unsigned prev = 0;

		for (j = 0; j < mand_len; j += 2) {
			unsigned want = get16(p + mand_off + j);

			if (want == SVC_MANDATORY || (j > 0 && want <= prev))
				return 0;
			prev = want;
			while (k < n && get16(p + k) < want)
				k += 4 + get16(p + k + 2);
			if (k >= n || get16(p + k) != want)
				return 0;
		}
	}
	return 1;
}

/*
 * One alpn id inside the quoted list, as BIND's commatxt_totext() writes
 * it: ',' becomes \\, and '\' becomes \\\\ (escaped once for the list and
 * once for the string), '"' becomes \", bytes outside 0x21-0x7e \DDD.
 */
static void put_alpn_id(struct dns_wire_text *t, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (c < 0x21 || c >= 0x7f)
			dns_wire_printf(t, "\\%03u", c);
		else if (c == ',')
			dns_wire_puts(t, "\\\\,");
		else if (c == '\\')
			dns_wire_puts(t, "\\\\\\\\");
		else if (c == '"')
			dns_wire_puts(t, "\\\"");
		else
			dns_wire_putc(t, (char)c);
	}
}

static void put_svc_value(struct dns_wire_text *t, unsigned key, const unsigned char *v,
			  size_t len)
{
	size_t i;

	switch (key) {
	case SVC_MANDATORY:
		for (i = 0; i < len; i += 2) {
			if (i > 0)
				dns_wire_putc(t, ',');
			put_svc_key(t, get16(v + i));
		}
		break;
	case SVC_ALPN:
		dns_wire_putc(t, '"');
		for (i = 0; i < len; i += 1 + (size_t)v[i]) {
			if (i > 0)
				dns_wire_putc(t, ',');
			put_alpn_id(t, v + i + 1, v[i]);
		}
		dns_wire_putc(t, '"');
		break;
	case SVC_PORT:
		dns_wire_printf(t, "%u", get16(v));
		break;
	case SVC_IPV4HINT:
		for (i = 0; i < len; i += 4) {
			if (i > 0)
				dns_wire_putc(t, ',');
			put_ip4(t, v + i);
		}
		break;
	case SVC_IPV6HINT:
		for (i = 0; i < len; i += 16) {
			if (i > 0)
				dns_wire_putc(t, ',');
			put_ip6(t, v + i);
		}
		break;
	case SVC_ECH:
		dns_wire_base64(t, v, len, 0);
		break;
	default:
		put_text(t, v, len, 1);
		break;
	}
}

static void print_svcb(struct rd *r)
{
	unsigned prio = rd_u16(r);
	const unsigned char *p;
	size_t n, i;

	dns_wire_printf(r->t, "%u ", prio);
	rd_name(r);
	p = rd_rest(r, &n);
	if (p == NULL || !svc_params_ok(p, n)) {
		rd_fail(r);
		return;
	}
	for (i = 0; i < n;) {
		unsigned key = get16(p + i), len = get16(p + i + 2);

		dns_wire_putc(r->t, ' ');
		put_svc_key(r->t, key);
		/* An empty value is written as the bare key. */
		if (len > 0) {
			dns_wire_putc(r->t, '=');
			put_svc_value(r->t, key, p + i + 4, len);
		}
		i += 4 + len;
	}
}

/* ---- dispatch ---- */

/* RFC 3597 5: "\# <length> <hex>", the hex split as dig splits it. */
static void print_generic(struct dns_wire_text *t, const unsigned char *p, size_t n)
{
	dns_wire_printf(t, "\\# %zu", n);
	if (n > 0) {
		dns_wire_putc(t, ' ');
		dns_wire_hex(t, p, n, SPLIT);
	}
}

/* Types whose layout is defined for class IN only (BIND's in_1 types). */
static int in_class_only(uint16_t type)
{
	switch (type) {
	case 11: /* WKS */
	case DNS_T_AAAA:
	case DNS_T_SRV:
	case DNS_T_NAPTR:
	case DNS_T_KX:
	case DNS_T_APL:
	case DNS_T_DHCID:
	case DNS_T_SVCB:
	case DNS_T_HTTPS:
		return 1;
	default:
		return 0;
	}
}

/* Returns 0 when the type has no printer here. */
static int print_typed(struct rd *r, uint16_t type, uint16_t rclass)
{
	if (in_class_only(type) && rclass != DNS_C_IN)
		return 0;
	switch (type) {
	case DNS_T_A:
		if (rclass != DNS_C_IN && rclass != DNS_C_HS && rclass != DNS_C_CH)
			return 0;
		print_a(r, rclass);
		break;
	case DNS_T_NS:
	case 3: /* MD */
	case 4: /* MF */
	case DNS_T_CNAME:
	case 7: /* MB */
	case 8: /* MG */
	case 9: /* MR */
	case DNS_T_PTR:
	case DNS_T_DNAME:
		rd_name(r);
		break;
	case DNS_T_SOA:
		print_soa(r);
		break;
	case 11: /* WKS */
		print_wks(r);
		break;
	case DNS_T_HINFO:
		print_hinfo(r);
		break;
	case 14: /* MINFO */
	case DNS_T_RP:
		print_name2(r);
		break;
	case DNS_T_MX:
	case DNS_T_AFSDB:
	case 21: /* RT */
	case DNS_T_KX:
		print_u16_name(r);
		break;
	case DNS_T_TXT:
	case DNS_T_SPF:
		print_txt(r);
		break;
	case DNS_T_AAAA:
		print_aaaa(r);
		break;
	case DNS_T_LOC:
		print_loc(r);
		break;
	case DNS_T_SRV:
		print_srv(r);
		break;
	case DNS_T_NAPTR:
		print_naptr(r);
		break;
	case DNS_T_CERT:
		print_cert(r);
		break;
	case DNS_T_APL:
		print_apl(r);
		break;
	case DNS_T_DS:
	case DNS_T_CDS:
	case 32768: /* TA */
	case 32769: /* DLV */
		print_ds(r);
		break;
	case DNS_T_SSHFP:
		print_sshfp(r);
		break;
	case DNS_T_IPSECKEY:
		print_ipseckey(r);
		break;
	case 24: /* SIG */
	case DNS_T_RRSIG:
		print_rrsig(r);
		break;
	case DNS_T_NSEC:
		print_nsec(r);
		break;
	case DNS_T_DNSKEY:
	case DNS_T_CDNSKEY:
		print_dnskey(r);
		break;
	case DNS_T_DHCID:
	case DNS_T_OPENPGPKEY:
		rd_rest_base64(r);
		break;
	case DNS_T_NSEC3:
		print_nsec3(r);
		break;
	case DNS_T_NSEC3PARAM:
		print_nsec3param(r);
		break;
	case DNS_T_TLSA:
	case DNS_T_SMIMEA:
		print_tlsa(r);
		break;
	case DNS_T_CSYNC:
		print_csync(r);
		break;
	case DNS_T_ZONEMD:
		print_zonemd(r);
		break;
	case DNS_T_SVCB:
	case DNS_T_HTTPS:
		print_svcb(r);
		break;
	case DNS_T_EUI48:
		print_eui(r, 6);
		break;
	case DNS_T_EUI64:
		print_eui(r, 8);
		break;
	case 104: /* NID */
	case 106: /* L64 */
		print_ilnp64(r);
		break;
	case 105: /* L32 */
		print_l32(r);
		break;
	case 107: /* LP */
		print_u16_name(r);
		break;
	case DNS_T_URI:
		print_uri(r);
		break;
	case DNS_T_CAA:
		print_caa(r);
		break;
	default:
		return 0;
	}
	return 1;
}

int dns_rdata_print(const unsigned char *msg, size_t off, size_t len, uint16_t type,
		    uint16_t rclass, struct dns_wire_text *t)
{
	struct rd r;
	size_t mark = t->len;

	r.msg = msg;
	r.pos = off;
	r.end = off + len;
	r.bad = 0;
	r.t = t;
	if (print_typed(&r, type, rclass) && !r.bad && r.pos == r.end)
		return 0;
	dns_wire_text_rewind(t, mark);
	print_generic(t, msg + off, len);
	return 1;
}
