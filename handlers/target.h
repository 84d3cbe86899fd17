/*
 * target.h - the host a probe connects to (/fetch, /scan, /tcp, /udp): an
 * address literal or a host name read from the request, and the target
 * policy's word on each address, before anything connects.
 *
 * Loop thread only.
 */
#ifndef NP_TARGET_H
#define NP_TARGET_H

#include <stddef.h>
#include <sys/socket.h>

#include "netaddr.h"

struct http_req;
struct worker;

/* Room for a host as the probes take it (a DNS name is at most 253
 * characters; an IPv6 literal in brackets fits too). */
#define TARGET_HOST_MAX 255

/*
 * Reads host: an IPv4 or IPv6 address (bare or in [brackets]) or a host
 * name. 1: an address, in *addr with port; 0: a name (to resolve); -1:
 * neither, answered with a 400 naming param.
 */
int target_parse(struct http_req *r, const char *param, const char *host, unsigned port,
		 union np_sockaddr *addr, socklen_t *addrlen);

/* The policy's word on sa: 0 allowed; 1 denied, with the denial in words
 * ("the target policy denies 169.254.169.254 (rule ...: ...)") in why. */
int target_denied(const struct worker *w, const struct sockaddr *sa, char *why, size_t len);

/* The same, answering 403 naming param when denied: 0 allowed, -1 answered. */
int target_check(struct http_req *r, const char *param, const struct sockaddr *sa);

/*
 * The addresses a name resolved to (n >= 1): NP_OK with the first one in
 * *addr (with port) when the policy allows every one of them, or
 * NP_EDENIED with the first denial in why.
 */
int target_pick(const struct worker *w, const struct sockaddr_storage *addrs, size_t n,
		unsigned port, union np_sockaddr *addr, socklen_t *addrlen, char *why,
		size_t whylen);

#endif
