/*
 * np.h - the one status enum of the service, and small helpers every module
 * uses (monotonic time). Modules return these codes; the OS errno is kept
 * beside them where it explains a failure.
 */
#ifndef NP_H
#define NP_H

#include <stddef.h>
#include <stdint.h>

enum np_status {
	NP_OK = 0,
	NP_ENOMEM,       /* allocation failed */
	NP_EINVAL,       /* bad argument */
	NP_ESYS,         /* a system call failed; see errno kept beside it */
	NP_ETIMEOUT,     /* deadline passed */
	NP_ECANCELLED,   /* operation cancelled (client went away, shutdown) */
	NP_EDENIED,      /* target denied by policy */
	NP_ELIMIT,       /* a configured limit was reached */
	NP_ENOTFOUND,    /* name or item not found */
	NP_EPROTO,       /* peer spoke something we could not parse */
	NP_EREFUSED,     /* connection refused */
	NP_EUNREACH,     /* network or host unreachable */
	NP_ETLS,         /* TLS failure */
	NP_STATUS_MAX
};

/* Stable, human-readable text for a status. Never NULL. */
const char *np_strerror(enum np_status s);
/* Stable snake_case code for a status ("timeout", "connect_refused"...). */
const char *np_status_code(enum np_status s);

/* Formats an error message into err (errlen bytes); err may be NULL when
 * errlen is 0. The one way modules report a message to their caller. */
void np_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Reads a boolean word: 1/true/yes/on or 0/false/no/off, any case.
 * Returns 0 with *out set, or -1 for anything else (out untouched). */
int np_parse_bool(const char *v, int *out);

/* Request ids "PPPPPPPP-WW-CCCCCCCCCC" (random prefix, worker, counter in
 * hex), the same for both HTTP servers. buf holds NP_REQUEST_ID_LEN + 1. */
#define NP_REQUEST_ID_LEN 22
void np_request_id(char *buf, uint32_t prefix, unsigned worker, uint64_t counter);

/* Monotonic clock in microseconds. Thread-safe. */
uint64_t np_now_us(void);
/* Milliseconds from one np_now_us() reading to a later one (0 if not later). */
double np_ms_between(uint64_t from_us, uint64_t to_us);

/*
 * The growable arrays' one step: returns items (realloc'd when needed)
 * with room for at least `need` elements of `size` bytes, *cap updated;
 * the room doubles from `first`, but never past `max` (0: no bound). NULL
 * when out of memory, when need passes max, or when the size overflows:
 * then items and *cap are unchanged and still the caller's.
 */
void *np_grow(void *items, size_t *cap, size_t need, size_t size, size_t first, size_t max);

#define NP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
