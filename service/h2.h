/*
 * h2.h - the DNS-over-HTTPS listener of one worker: HTTP/2 over TLS
 * (GnuTLS + nghttp2) on --doh-port, for DoH clients that speak only HTTP/2
 * (kdig +https). It serves GET/POST /dns-query through the same exchange
 * as the HTTP/1.1 endpoint (handlers/doh_core.h) and GET /healthz.
 *
 * Each worker binds its own socket on the port with SO_REUSEPORT, like the
 * demo listeners. Everything is non-blocking on the worker's loop.
 *
 * Loop thread only.
 */
#ifndef NP_H2_H
#define NP_H2_H

#include <stddef.h>

struct h2_server;
struct worker;
struct loop;
struct config;

/*
 * Binds c->doh_port on c->bind and starts accepting. w, l and c are
 * borrowed and must outlive the server; cert_pem and key_pem (PEM text) are
 * read during the call only. The worker's DNS resolver and metrics
 * (worker_dns, worker_metrics) are looked up when used. On failure err
 * names the flag at fault.
 */
int h2_new(struct worker *w, struct loop *l, const struct config *c, const char *cert_pem,
	   const char *key_pem, struct h2_server **out, char *err, size_t errlen);
/* Stops accepting and sends every connection a GOAWAY: each closes once its
 * streams are answered. NULL-safe; a second call does nothing. */
void h2_quiesce(struct h2_server *s);
/* Streams open on all connections (0 for NULL). */
unsigned h2_inflight(const struct h2_server *s);
/* Closes every connection (exchanges in flight are cancelled, their streams
 * counted as 499) and the listening socket. Call before the DNS resolver is
 * freed. NULL-safe. */
void h2_free(struct h2_server *s);

#endif
