/* netaddr.c - socket addresses and listening sockets (see netaddr.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerror_r returning char * */
#endif
#include "netaddr.h"
#include "np.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int np_addr_make(const char *host, unsigned port, union np_sockaddr *a, socklen_t *alen)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, host, &a->in4.sin_addr) == 1) {
		a->in4.sin_family = AF_INET;
		a->in4.sin_port = htons((uint16_t)port);
		*alen = sizeof(a->in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a->in6.sin6_addr) == 1) {
		a->in6.sin6_family = AF_INET6;
		a->in6.sin6_port = htons((uint16_t)port);
		*alen = sizeof(a->in6);
		return 0;
	}
	return -1;
}

void np_addr_format(const union np_sockaddr *a, char *buf, size_t len, char *ip, size_t iplen)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (a->sa.sa_family == AF_INET &&
	    inet_ntop(AF_INET, &a->in4.sin_addr, host, sizeof(host)) != NULL)
		snprintf(buf, len, "%s:%u", host, (unsigned)ntohs(a->in4.sin_port));
	else if (a->sa.sa_family == AF_INET6 &&
		 inet_ntop(AF_INET6, &a->in6.sin6_addr, host, sizeof(host)) != NULL)
		snprintf(buf, len, "[%s]:%u", host, (unsigned)ntohs(a->in6.sin6_port));
	else
		snprintf(buf, len, "?");
	if (ip != NULL)
		snprintf(ip, iplen, "%s", host);
}

int np_listen_socket(int type, const union np_sockaddr *a, socklen_t alen, int backlog,
		     const char *flag, int *out, char *err, size_t errlen)
{
	char where[NP_ADDR_TEXT_MAX];
	char ebuf[128];
	const char *what = "cannot open a socket for";
	int one = 1;
	int fd;
	int rc = NP_ESYS;

	*out = -1;
	np_addr_format(a, where, sizeof(where), NULL, 0);
	fd = socket(a->sa.sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto done;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		goto done;
	what = "cannot bind";
	if (bind(fd, &a->sa, alen) != 0)
		goto done;
	what = "cannot listen on";
	if (type == SOCK_STREAM && listen(fd, backlog) != 0)
		goto done;
	*out = fd;
	fd = -1;
	rc = NP_OK;
done:
	if (rc != NP_OK && err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s %s: %s", flag, what, where,
			 strerror_r(errno, ebuf, sizeof(ebuf)));
	if (fd >= 0)
		close(fd);
	return rc;
}

enum np_status np_connect_status(int e, const char **detail)
{
	switch (e) {
	case ECONNREFUSED:
		*detail = "the peer refused the connection (nothing listening on that port)";
		return NP_EREFUSED;
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
		*detail = "the network or host is unreachable";
		return NP_EUNREACH;
	case ETIMEDOUT:
		*detail = "the connection timed out";
		return NP_ETIMEOUT;
	case ENOMEM:
	case ENOBUFS:
		*detail = "out of memory";
		return NP_ENOMEM;
	default:
		*detail = "a socket call failed";
		return NP_ESYS;
	}
}

int np_accept_error_is_transient(int e)
{
	return e == EINTR || e == ECONNABORTED || e == EPROTO || e == ENETDOWN ||
	       e == ENOPROTOOPT || e == EHOSTDOWN || e == ENONET || e == EHOSTUNREACH ||
	       e == EOPNOTSUPP || e == ENETUNREACH;
}
