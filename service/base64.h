/*
 * base64.h - base64 (RFC 4648 section 4; section 5's URL-safe alphabet
 * for decoding too) for byte payloads in JSON and DoH: encoding always padded; decoding accepts the padded form and the
 * form without padding, and nothing else (no whitespace, no other
 * alphabet, no bits left over in the last character).
 */
#ifndef NP_BASE64_H
#define NP_BASE64_H

#include <stddef.h>

/* Characters base64_encode writes for n bytes (without the NUL). */
size_t base64_encoded_len(size_t n);
/* Writes the padded encoding of in[0..n) and a NUL to out, which has room
 * for base64_encoded_len(n) + 1. Returns the length written. */
size_t base64_encode(const unsigned char *in, size_t n, char *out);
/* Most bytes base64_decode can produce from len characters. */
size_t base64_decoded_max(size_t len);
/* Decodes text[0..len) into out (room for base64_decoded_max(len)).
 * Returns the byte count, or -1 when text is not base64 as above. */
long base64_decode(const char *text, size_t len, unsigned char *out);
/* The same in the URL-safe alphabet (RFC 4648 section 5: '-' and '_'),
 * as DNS-over-HTTPS GET requests carry their message (RFC 8484). */
long base64url_decode(const char *text, size_t len, unsigned char *out);

#endif
