/*
 * rawx.h - one raw exchange with a peer, on the loop: the seed's TCP client
 * and UDP client (and its raw HTTP request, which is a TCP exchange).
 *
 * TCP: connect without blocking, send the bytes given (optionally shutting
 * down the sending side after them), and read until the peer closes, a
 * byte cap, an idle gap, or the deadline. UDP: connect the socket (so that
 * an ICMP port unreachable is seen), send one datagram, and collect answer
 * datagrams until a count or the deadline.
 *
 * The address is the caller's to choose and to check against the target
 * policy; this module knows nothing of names, policy or HTTP. Loop thread
 * only.
 */
#ifndef NP_RAWX_H
#define NP_RAWX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "np.h"

struct loop;
struct rawx;

struct rawx_opts {
	int udp;                   /* 0: TCP, 1: UDP */
	const unsigned char *data; /* what to send (copied); NULL with len 0 */
	size_t len;
	uint64_t deadline_us;      /* np_now_us() by which the exchange ends */
	size_t max_bytes;          /* TCP: bytes read at most; UDP: kept per datagram */
	unsigned idle_ms;          /* TCP: stop after this long without a byte (0: off) */
	int half_close;            /* TCP: shutdown(SHUT_WR) once the data is sent */
	unsigned max_datagrams;    /* UDP: stop after this many answers (>= 1) */
};

/* How the exchange ended. */
enum rawx_end {
	RAWX_END_CLOSE,     /* TCP: the peer closed (EOF) */
	RAWX_END_MAX_BYTES, /* TCP: max_bytes read */
	RAWX_END_IDLE,      /* TCP: idle_ms without a byte */
	RAWX_END_TIMEOUT,   /* the deadline, after connecting */
	RAWX_END_RESET,     /* TCP: connection reset by the peer */
	RAWX_END_COUNT,     /* UDP: max_datagrams answers */
	RAWX_END_ERROR,     /* failed before the exchange could happen */
};

const char *rawx_end_text(enum rawx_end e);

struct rawx_dgram {
	size_t off, len;  /* kept bytes, in rawx_result.buf */
	size_t full_len;  /* the datagram's size (more than len: truncated) */
	uint64_t at_us;   /* when it arrived (np_now_us) */
};

struct rawx_result {
	enum np_status status;  /* NP_OK: the exchange happened (see end) */
	const char *detail;     /* words for a failure, else NULL */
	enum rawx_end end;
	size_t sent;            /* bytes sent */
	const unsigned char *buf; /* TCP: bytes read; UDP: the datagrams' kept bytes */
	size_t len;
	int truncated;          /* TCP: stopped at max_bytes with the peer still open */
	const struct rawx_dgram *dgrams; /* UDP answers, in arrival order */
	size_t ndgrams;
	uint64_t start_us;      /* rawx_start */
	uint64_t connect_us;    /* TCP connected (0: never) */
	uint64_t first_us;      /* first byte / datagram (0: none) */
	uint64_t end_us;
};

/* Called once, from a loop callback (never inside rawx_start); the
 * exchange is freed when it returns, with everything res points to. */
typedef void (*rawx_cb)(const struct rawx_result *res, void *ud);

/* NP_OK (cb will run), NP_ENOMEM or NP_EINVAL. */
int rawx_start(struct loop *l, const struct sockaddr *sa, socklen_t salen,
	       const struct rawx_opts *o, rawx_cb cb, void *ud, struct rawx **out);
/* Stops the exchange without calling cb, and frees it. NULL-safe. */
void rawx_cancel(struct rawx *x);

#endif
