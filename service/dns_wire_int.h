/*
 * dns_wire_int.h - what dns_wire.c (messages, names) and dns_rdata.c (the
 * per-type rdata printer) share: the text arena a parsed message's strings
 * are written into, and the name reader. Not part of the public API.
 */
#ifndef NP_DNS_WIRE_INT_H
#define NP_DNS_WIRE_INT_H

#include <stddef.h>
#include <stdint.h>

/*
 * A growing text buffer with a hard cap. Appending never fails on the
 * spot: the first append that would pass max (NP_ELIMIT) or fails to grow
 * the buffer (NP_ENOMEM) sets status, and every later append does nothing,
 * so writers check once at the end. Strings are appended one after the
 * other, each closed by dns_wire_text_end(); they are addressed by offset
 * because the buffer may move while it grows.
 */
struct dns_wire_text {
	char *buf;
	size_t len; /* bytes in use */
	size_t cap; /* bytes allocated */
	size_t max; /* hard cap on len */
	int status; /* NP_OK, or the first failure; sticky */
};

void dns_wire_text_init(struct dns_wire_text *t, size_t max);
void dns_wire_text_free(struct dns_wire_text *t);
/* Ends the current string with a NUL. */
void dns_wire_text_end(struct dns_wire_text *t);
/* Drops everything written after offset mark (mark <= len). */
void dns_wire_text_rewind(struct dns_wire_text *t, size_t mark);

void dns_wire_putc(struct dns_wire_text *t, char c);
void dns_wire_putn(struct dns_wire_text *t, const char *s, size_t n);
void dns_wire_puts(struct dns_wire_text *t, const char *s);
void dns_wire_printf(struct dns_wire_text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * Uppercase hex, and base64 (RFC 4648 section 4, padded), with a space
 * after every `split` characters of output (0: never), as BIND splits
 * long fields.
 */
void dns_wire_hex(struct dns_wire_text *t, const unsigned char *p, size_t n, size_t split);
void dns_wire_base64(struct dns_wire_text *t, const unsigned char *p, size_t n, size_t split);

/*
 * Reads the name at msg[pos] and appends its presentation form (absolute,
 * escaped as BIND does) to t. Labels must lie before limit, which is the
 * end of the message or of the rdata holding the name. Compression
 * pointers (RFC 1035 4.1.4) must each point strictly before where the
 * previous one led, at most DNS_WIRE_MAX_HOPS of them, so no loop or
 * chain can hold the reader. On success returns 0 and sets *next just past
 * the name as it lies at pos; on a malformed name returns -1 with the
 * reason in why (what was appended to t is then undefined).
 */
#define DNS_WIRE_MAX_HOPS 128
int dns_wire_name(const unsigned char *msg, size_t limit, size_t pos, size_t *next,
		  struct dns_wire_text *t, char *why, size_t whylen);

/*
 * Appends the presentation form of one record's rdata, msg[off..off+len),
 * to t, as dig prints it. Types this printer does not know, and rdata
 * that does not fit its type's layout, come out in the RFC 3597 form
 * "\# len HEX". msg is the whole message, which names in rdata may point
 * into. Returns 1 when the generic form was used, 0 otherwise.
 */
int dns_rdata_print(const unsigned char *msg, size_t off, size_t len, uint16_t type,
		    uint16_t rclass, struct dns_wire_text *t);

#endif
