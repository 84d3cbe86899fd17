/* np.c - status texts and the monotonic clock. */
#include "np.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

static const struct {
	const char *code;
	const char *text;
} status_names[NP_STATUS_MAX] = {
	[NP_OK] = {"ok", "success"},
	[NP_ENOMEM] = {"out_of_memory", "out of memory"},
	[NP_EINVAL] = {"invalid_argument", "invalid argument"},
	[NP_ESYS] = {"system_error", "system call failed"},
	[NP_ETIMEOUT] = {"timeout", "operation timed out"},
	[NP_ECANCELLED] = {"cancelled", "operation cancelled"},
	[NP_EDENIED] = {"denied_by_policy", "target denied by policy"},
	[NP_ELIMIT] = {"limit_reached", "a configured limit was reached"},
	[NP_ENOTFOUND] = {"not_found", "not found"},
	[NP_EPROTO] = {"protocol_error", "protocol error"},
	[NP_EREFUSED] = {"connect_refused", "connection refused"},
	[NP_EUNREACH] = {"unreachable", "network or host unreachable"},
	[NP_ETLS] = {"tls_error", "TLS failure"},
};

const char *np_strerror(enum np_status s)
{
	if ((unsigned)s >= NP_STATUS_MAX)
		return "unknown error";
	return status_names[s].text;
}

const char *np_status_code(enum np_status s)
{
	if ((unsigned)s >= NP_STATUS_MAX)
		return "unknown";
	return status_names[s].code;
}

uint64_t np_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

double np_ms_between(uint64_t from_us, uint64_t to_us)
{
	return to_us > from_us ? (double)(to_us - from_us) / 1000.0 : 0.0;
}

void np_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int np_parse_bool(const char *v, int *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};

	for (size_t i = 0; i < NP_ARRAY_LEN(yes); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

void np_request_id(char *buf, uint32_t prefix, unsigned worker, uint64_t counter)
{
	/* Written by hand: snprintf showed in profiles of the per-request path. */
	static const char hex[] = "0123456789abcdef";
	unsigned wid = worker % 100u;
	char *p = buf;

	for (int i = 7; i >= 0; i--)
		*p++ = hex[(prefix >> (i * 4)) & 0xf];
	*p++ = '-';
	*p++ = (char)('0' + wid / 10u);
	*p++ = (char)('0' + wid % 10u);
	*p++ = '-';
	for (int i = 9; i >= 0; i--)
		*p++ = hex[(counter >> (i * 4)) & 0xf];
	*p = '\0';
}

void *np_grow(void *items, size_t *cap, size_t need, size_t size, size_t first, size_t max)
{
	size_t ncap = *cap != 0 ? *cap : (first != 0 ? first : 1);
	void *p;

	if (need <= *cap)
		return items;
	if (max != 0 && need > max)
		return NULL;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return NULL;
		ncap *= 2;
	}
	if (max != 0 && ncap > max)
		ncap = max;
	if (size != 0 && ncap > SIZE_MAX / size)
		return NULL;
	p = realloc(items, ncap * size);
	if (p == NULL)
		return NULL;
	*cap = ncap;
	return p;
}
