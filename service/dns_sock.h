/*
 * dns_sock.h - the socket functions every c-ares channel of one resolver
 * uses (ares_set_socket_functions): UDP queries leave in batches through
 * sendmmsg() and answers are read in batches through recvmmsg(). Internal
 * to the dns module (service/dns.c); one per resolver, so one per worker
 * loop.
 *
 * Loop thread only.
 */
#ifndef NP_DNS_SOCK_H
#define NP_DNS_SOCK_H

#include <ares.h>
#include <stddef.h>

struct dns_sock;
struct loop;

/*
 * A send on UDP socket fd failed for good (ECONNREFUSED after an ICMP port
 * unreachable, say). The error is kept for fd: the callee should have
 * c-ares read fd now (ares_process_fd), and c-ares then gets the error from
 * its read and runs its error path (retry, or end the queries).
 */
typedef void (*dns_sock_error_cb)(int fd, void *ud);

/*
 * Creates the socket layer for one loop and adds its before-sleep hook
 * (which sends whatever is queued before the loop waits). on_error runs
 * from a loop timer, never from inside a c-ares call. NP_OK, NP_ENOMEM, or
 * NP_ELIMIT (no before-sleep hook slot left).
 */
int dns_sock_new(struct loop *l, dns_sock_error_cb on_error, void *ud, struct dns_sock **out);
/* Destroy every channel it was installed on first. NULL-safe. */
void dns_sock_free(struct dns_sock *s);

/* Makes channel ch open, use and close its sockets through s. Call before
 * the channel opens any socket; s must outlive ch. */
void dns_sock_install(struct dns_sock *s, ares_channel ch);

/* Datagrams read from UDP socket fd and not yet handed to c-ares (0 for
 * an unknown fd). c-ares reads until it gets EAGAIN, so this is 0 after
 * ares_process_fd() unless c-ares stopped early. */
size_t dns_sock_buffered(const struct dns_sock *s, int fd);

#endif
