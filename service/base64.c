/* base64.c - RFC 4648 section 4 base64, see base64.h. */
#include "base64.h"

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

size_t base64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];

		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)in[i] << 16;

		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;

		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

size_t base64_decoded_max(size_t len)
{
	return (len + 3) / 4 * 3;
}

/* A character's value in the standard (url = 0) or URL-safe alphabet; -1. */
static int value_of(char c, int url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

static long decode(const char *text, size_t len, unsigned char *out, int url)
{
	size_t n = 0, data = len;
	unsigned acc = 0;
	int bits = 0;

	/* Padding: only as the end of a complete group of four. */
	if (len % 4 == 0 && len >= 4) {
		if (text[len - 1] == '=')
			data--;
		if (text[len - 2] == '=') {
			if (data != len - 1)
				return -1; /* "x=" followed by something else */
			data--;
		}
	}
	if (data % 4 == 1)
		return -1; /* one character cannot hold a byte */
	for (size_t i = 0; i < data; i++) {
		int v = value_of(text[i], url);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* The bits left over must be zero (RFC 4648 section 3.5). */
	if (acc != 0)
		return -1;
	return (long)n;
}

long base64_decode(const char *text, size_t len, unsigned char *out)
{
	return decode(text, len, out, 0);
}

long base64url_decode(const char *text, size_t len, unsigned char *out)
{
	return decode(text, len, out, 1);
}
