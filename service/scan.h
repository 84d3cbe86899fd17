/*
 * scan.h - a TCP connect scan of one address, on the loop: the seed's
 * threaded port scan, with non-blocking connects instead of threads.
 *
 * Up to `concurrency` connects are in flight; each one that is not
 * answered within timeout_ms counts as filtered, a refusal (RST) as
 * closed, a completed connect as open (then, with banner, the first bytes
 * the peer sends within banner_ms are kept). A connection to our own
 * source port (TCP self-connect, possible on loopback), or two of our own
 * connects meeting each other (simultaneous open), counts as closed.
 * The whole scan stops at deadline_us: ports not settled by then are
 * unscanned. The address and ports are the caller's to check; this module
 * knows nothing of names, policy or HTTP. Loop thread only.
 */
#ifndef NP_SCAN_H
#define NP_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "np.h"

struct loop;
struct scan;

/* Most banner bytes kept per open port. */
#define SCAN_BANNER_MAX 256u

struct scan_opts {
	const uint16_t *ports;  /* distinct, ascending (copied) */
	size_t nports;
	unsigned timeout_ms;    /* per connect */
	unsigned concurrency;   /* connects in flight, >= 1 */
	int banner;
	unsigned banner_ms;
	uint64_t deadline_us;   /* np_now_us() by which the scan ends */
};

struct scan_open {
	uint16_t port;
	uint64_t rtt_us;                /* the connect */
	unsigned char banner[SCAN_BANNER_MAX];
	size_t banner_len;
	int banner_truncated;           /* SCAN_BANNER_MAX read, more may follow */
};

struct scan_result {
	enum np_status status;  /* NP_OK, or why the scan could not run */
	const char *detail;
	const struct scan_open *open; /* ascending */
	size_t nopen;
	size_t closed, filtered, unscanned;
	uint64_t start_us, end_us;
};

/* Called once, from a loop callback (never inside scan_start); the scan is
 * freed when it returns, with everything res points to. */
typedef void (*scan_cb)(const struct scan_result *res, void *ud);

/* NP_OK (cb will run), NP_ENOMEM or NP_EINVAL. */
int scan_start(struct loop *l, const struct sockaddr *sa, socklen_t salen,
	       const struct scan_opts *o, scan_cb cb, void *ud, struct scan **out);
/* Stops the scan without calling cb, and frees it. NULL-safe. */
void scan_cancel(struct scan *s);

#endif
