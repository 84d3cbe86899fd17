/*
 * fuzz_base64.c - libFuzzer target for service/base64.c.
 *
 * Any input is tried as base64 text: what decodes, encoded again, decodes
 * to the same bytes (and the padded encoding of what an unpadded input
 * gave is that input plus padding). Any input is also taken as bytes:
 * encoded, it decodes back to itself. The URL-safe decoder agrees with
 * the standard one on the same text with '-' and '_' for '+' and '/'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *bytes = malloc(base64_decoded_max(size) + 1);
	unsigned char *back = malloc(size + 1);
	char *text = malloc(base64_encoded_len(size) + 1);
	long n;

	if (bytes == NULL || back == NULL || text == NULL)
		abort();
	/* as text */
	n = base64_decode((const char *)data, size, bytes);
	if (n >= 0) {
		char *again = malloc(base64_encoded_len((size_t)n) + 1);
		size_t len;
		unsigned char *twice = malloc((size_t)n + 1);

		if (again == NULL || twice == NULL)
			abort();
		len = base64_encode(bytes, (size_t)n, again);
		/* the canonical form starts with the input (padding aside) */
		if (len < size || memcmp(again, data, size) != 0)
			abort();
		if (base64_decode(again, len, twice) != n || memcmp(twice, bytes, (size_t)n) != 0)
			abort();
		free(again);
		free(twice);
	}
	/* the URL-safe alphabet decodes what the standard one does, '-' and
	 * '_' standing for '+' and '/' */
	if (memchr(data, '+', size) == NULL && memchr(data, '/', size) == NULL) {
		char *std = malloc(size + 1);
		unsigned char *a = malloc(base64_decoded_max(size) + 1);
		long na, nb;

		if (std == NULL || a == NULL)
			abort();
		for (size_t i = 0; i < size; i++)
			std[i] = data[i] == '-' ? '+' : data[i] == '_' ? '/' : (char)data[i];
		na = base64url_decode((const char *)data, size, a);
		nb = base64_decode(std, size, bytes);
		if (na != nb || (na > 0 && memcmp(a, bytes, (size_t)na) != 0))
			abort();
		free(std);
		free(a);
	}
	/* as bytes */
	n = (long)base64_encode(data, size, text);
	if (base64_decode(text, (size_t)n, back) != (long)size || memcmp(back, data, size) != 0)
		abort();
	free(bytes);
	free(back);
	free(text);
	return 0;
}
