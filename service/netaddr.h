/*
 * netaddr.h - socket addresses from and to text, and the listening sockets
 * the workers' own servers open (demo listeners, the HTTP/2 DoH port):
 * non-blocking, SO_REUSEPORT so that every worker binds its own socket on
 * the same port.
 */
#ifndef NP_NETADDR_H
#define NP_NETADDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#include "np.h"

union np_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;
};

#define NP_ADDR_TEXT_MAX (INET6_ADDRSTRLEN + 8) /* "[addr]:port" */

/* Fills *a from a numeric IPv4 or IPv6 address; -1 if it is neither. */
int np_addr_make(const char *host, unsigned port, union np_sockaddr *a, socklen_t *alen);

/* "1.2.3.4:80" or "[::1]:80" into buf ("?" if unknown); the bare address
 * into ip when ip is not NULL. */
void np_addr_format(const union np_sockaddr *a, char *buf, size_t len, char *ip, size_t iplen);

/*
 * Opens a non-blocking socket of type (SOCK_STREAM or SOCK_DGRAM) bound to
 * a with SO_REUSEADDR and SO_REUSEPORT, listening with `backlog` if it is
 * TCP. On failure err names `flag` and the address, e.g. "--doh-port:
 * cannot bind 127.0.0.1:8443: Address already in use".
 */
int np_listen_socket(int type, const union np_sockaddr *a, socklen_t alen, int backlog,
		     const char *flag, int *out, char *err, size_t errlen);

/*
 * Whether accept(2)'s error e is the new connection's own (the client
 * reset or a network error already pending on it): skip it and accept the
 * next. Any other error (out of descriptors or memory) would leave the
 * listening socket readable, and the caller should pause instead.
 */
int np_accept_error_is_transient(int e);

/*
 * A failed connect(2) or socket call's errno e as a probe's finding:
 * NP_EREFUSED (nothing listening), NP_EUNREACH, NP_ETIMEOUT, NP_ENOMEM or
 * NP_ESYS, with the words for it in *detail (static).
 */
enum np_status np_connect_status(int e, const char **detail);

#endif
