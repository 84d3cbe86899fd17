/*
 * fuzz_portlist.c - libFuzzer target for service/portlist.c, the parser of
 * /scan's ports ("22,80,8000-8100").
 *
 * Besides memory safety it checks that whatever parses, written back in
 * canonical form (ascending, runs as ranges), parses to the same set, and
 * that no port outside 1..65535 is ever set.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The set as "a-b,c,...": every port once, in order. */
static char *canonical(const unsigned char *set)
{
	size_t cap = 65536 * 12, n = 0;
	char *out = malloc(cap);

	if (out == NULL)
		abort();
	for (unsigned p = 1; p < 65536; p++) {
		unsigned q = p;

		if (!portlist_has(set, p))
			continue;
		while (q + 1 < 65536 && portlist_has(set, q + 1))
			q++;
		n += (size_t)snprintf(out + n, cap - n, "%s%u", n ? "," : "", p);
		if (q > p)
			n += (size_t)snprintf(out + n, cap - n, "-%u", q);
		p = q;
	}
	out[n] = '\0';
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char set[PORTLIST_SET_BYTES], again[PORTLIST_SET_BYTES];
	char *text = malloc(size + 1), *canon;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(set, 0, sizeof(set));
	if (portlist_add_list(text, set) == 0) {
		if (portlist_has(set, 0) || portlist_count(set) == 0)
			abort();
		canon = canonical(set);
		memset(again, 0, sizeof(again));
		if (portlist_add_list(canon, again) != 0 || memcmp(set, again, sizeof(set)) != 0)
			abort();
		free(canon);
	}
	free(text);
	return 0;
}
