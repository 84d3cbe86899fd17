/*
 * ratelimit.h - per-client token buckets for --rate-limit, one table shared
 * by every worker.
 *
 * A client is its address as the TCP connection shows it: an IPv4 address
 * (an IPv4-mapped IPv6 peer, ::ffff:a.b.c.d, is that IPv4 address), or an
 * IPv6 network of --rate-limit-ipv6-prefix bits (a host usually owns a whole
 * /64 and can pick any address in it). Each client has a bucket of `burst`
 * tokens that refills at `rate` tokens per second; a request takes one, and
 * is refused while the bucket is empty.
 *
 * The table has a fixed number of slots, allocated once: clients past it
 * take the slot of a bucket that has refilled to full (forgetting it loses
 * nothing: a new bucket starts full) or, failing that, of the least recently
 * seen client of the same set. Memory never grows with the number of clients.
 *
 * Thread-safe: every call may come from any worker. A call holds one of up
 * to 64 mutexes for a few dozen instructions and never blocks otherwise.
 */
#ifndef NP_RATELIMIT_H
#define NP_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ratelimit;

/* What ratelimit_client_text writes at most, NUL included:
 * "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128". */
#define RATELIMIT_CLIENT_TEXT_MAX 52

struct ratelimit_stats {
	unsigned long long clients;   /* slots holding a client (never shrinks) */
	unsigned long long slots;     /* size of the table */
	unsigned long long evictions; /* clients still refilling dropped for a newcomer */
};

/*
 * A table for at least max_clients clients (rounded up to a whole number of
 * sets), each allowed `rate` requests per second in bursts of `burst`.
 * rate, burst and max_clients must be at least 1; v6_prefix is 1..128.
 * Returns NP_OK, NP_EINVAL or NP_ENOMEM; *out is set only on success.
 */
int ratelimit_new(unsigned rate, unsigned burst, unsigned max_clients, unsigned v6_prefix,
		  struct ratelimit **out);
void ratelimit_free(struct ratelimit *rl); /* NULL-safe */

/*
 * Takes one token from the bucket of the client at `peer` (borrowed; any
 * address family) at time now_us, a reading of the monotonic clock
 * (np_now_us(); tests pass their own). Returns 1 when the request may go
 * on; 0 when it is refused, with *retry_after_s set to the whole seconds
 * (at least 1) until the bucket holds a token again. A peer that is not
 * IPv4 or IPv6, or NULL, has no bucket and is always allowed.
 */
int ratelimit_allow(struct ratelimit *rl, const struct sockaddr *peer, uint64_t now_us,
		    unsigned *retry_after_s);

/*
 * ratelimit_allow() at the current time for a request from `peer`, with
 * the refusal's words: returns 1 when it may go on (always when rl is
 * NULL: no limit); 0 with *retry_after_s set and `why` holding "too many
 * requests from CLIENT: at most R per second in bursts of B (--rate-limit,
 * --rate-burst); retry in N s", for the 429 both HTTP servers send.
 */
int ratelimit_admit(struct ratelimit *rl, const struct sockaddr *peer, unsigned *retry_after_s,
		    char *why, size_t len);

/* The client `peer` is counted as: "192.0.2.1", or "2001:db8:1:2::/64". */
void ratelimit_client_text(const struct ratelimit *rl, const struct sockaddr *peer, char *buf,
			   size_t len);

/* Counters for /metrics, read without locking. rl may be NULL (all zero). */
void ratelimit_stats(const struct ratelimit *rl, struct ratelimit_stats *out);

#endif
