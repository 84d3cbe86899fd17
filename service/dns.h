/*
 * dns.h - the DNS transport of one worker, on c-ares: it sends a query
 * message we built (service/dns_wire.h) to a resolver and hands back the
 * raw answer message with timing. Sockets and timeouts run on the worker's
 * loop (c-ares sock_state_cb -> loop watchers, ares_timeout -> a timer);
 * the sockets go through service/dns_sock.c, which batches UDP system calls.
 *
 * c-ares channels are kept per (servers, transport, timeout, tries), created
 * on first use and evicted least-recently-used when idle, so per-request
 * servers cost one channel each while they are in use.
 *
 * Loop thread only.
 */
#ifndef NP_DNS_H
#define NP_DNS_H

#include "np.h"

#include <stddef.h>
#include <sys/socket.h>

struct dns_resolver;
struct dns_op;
struct loop;
struct config;
struct policy;
struct metrics;

struct dns_send_opts {
	const char *server;   /* "ip", "ip:port", "[ipv6]:port"; NULL: the defaults */
	int tcp;              /* ask over TCP from the start */
	unsigned timeout_ms;  /* whole budget for the exchange, all tries included */
	unsigned tries;       /* attempts (>= 1) */
	int keep_truncated;   /* return a truncated UDP answer instead of retrying over TCP */
};

struct dns_answer {
	enum np_status status;          /* NP_OK: a message came back */
	const char *detail;             /* why not, when status != NP_OK */
	const unsigned char *wire;      /* the answer (borrowed for the callback) */
	size_t wire_len;
	const char *server;             /* the server(s) asked, as text */
	const char *transport;          /* "udp" or "tcp" */
	int tc_retried;                 /* UDP answer was truncated; repeated over TCP */
	double rtt_ms;                  /* from send to answer, retries included */
};

/* Called exactly once per dns_send that returned NP_OK, unless cancelled. */
typedef void (*dns_answer_cb)(const struct dns_answer *a, void *ud);

int dns_resolver_new(struct loop *l, const struct config *c, struct dns_resolver **out,
		     char *err, size_t errlen);
/* Cancels whatever is in flight (callbacks do not run). NULL-safe. */
void dns_resolver_free(struct dns_resolver *r);

/*
 * Parses a resolver address "ip", "ip:port" or "[ipv6]:port" (port 53 by
 * default). canon receives the c-ares server string form. NP_EINVAL with
 * err set on bad input.
 */
int dns_server_parse(const char *text, struct sockaddr_storage *ss, char *canon, size_t canonlen,
		     char *err, size_t errlen);

/*
 * Sends `query` (a full DNS message; copied) and calls cb with the answer.
 * The message id is chosen by c-ares; the answer carries that id.
 * *op_out (may be NULL) identifies the operation for dns_op_cancel.
 */
int dns_send(struct dns_resolver *r, const unsigned char *query, size_t len,
	     const struct dns_send_opts *o, dns_answer_cb cb, void *ud, struct dns_op **op_out);
/* The callback will not run; resources are released when c-ares is done. */
void dns_op_cancel(struct dns_op *op);

/*
 * Resolves a host name to its addresses as other modules need it (before
 * connecting): /etc/hosts first, then A and AAAA from the default
 * resolvers, through ares_getaddrinfo. cb gets NP_OK with n >= 1 addresses
 * (port 0), or a status and detail. Same callback contract as dns_send.
 */
typedef void (*dns_addrs_cb)(enum np_status st, const char *detail,
			     const struct sockaddr_storage *addrs, size_t n, void *ud);
int dns_resolve(struct dns_resolver *r, const char *name, unsigned timeout_ms, dns_addrs_cb cb,
		void *ud, struct dns_op **op_out);

/* The default servers, as text (for reports). */
const char *dns_resolver_default_servers(const struct dns_resolver *r);

#endif
