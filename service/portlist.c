/* portlist.c - "22,80,8000-8100" into a set of ports (see portlist.h). */
#include "portlist.h"

#include <string.h>

#define PORTS 65536u

/* Digits at s[*i..len) as a number below PORTS; 0 when there are none or
 * it is too large (0 is not a port either). */
static unsigned long number(const char *s, size_t len, size_t *i)
{
	unsigned long v = 0;
	size_t start = *i;

	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		v = v * 10 + (unsigned long)(s[*i] - '0');
		if (v >= PORTS)
			return 0;
		(*i)++;
	}
	return *i == start ? 0 : v;
}

int portlist_add_item(const char *s, size_t len, unsigned char *set)
{
	size_t i = 0;
	unsigned long a = number(s, len, &i), b = a;

	if (a == 0)
		return -1;
	if (i < len && s[i] == '-') {
		i++;
		b = number(s, len, &i);
		if (b == 0 || b < a)
			return -1;
	}
	if (i != len)
		return -1;
	for (unsigned long p = a; p <= b; p++)
		set[p >> 3] |= (unsigned char)(1u << (p & 7));
	return 0;
}

int portlist_add_list(const char *s, unsigned char *set)
{
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);

		if (portlist_add_item(s, len, set) != 0)
			return -1;
		if (comma == NULL)
			return 0;
		s = comma + 1;
	}
}

int portlist_has(const unsigned char *set, unsigned p)
{
	return p < PORTS && ((set[p >> 3] >> (p & 7)) & 1u);
}

size_t portlist_count(const unsigned char *set)
{
	size_t n = 0;

	for (unsigned i = 0; i < PORTLIST_SET_BYTES; i++)
		n += (size_t)__builtin_popcount(set[i]);
	return n;
}
