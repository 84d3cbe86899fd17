/*
 * server.h - one worker's HTTP server: a libmicrohttpd daemon in external
 * epoll mode whose epoll fd is watched by the worker's loop. Requests are
 * routed to handlers (handlers/routes.c); a handler that needs the network
 * leaves its request suspended and answers later from a loop callback.
 *
 * All functions: loop thread of the owning worker only (server_new may run
 * on any thread before the loop starts).
 */
#ifndef NP_SERVER_H
#define NP_SERVER_H

#include <stddef.h>

struct server;
struct worker;
struct loop;
struct config;

/*
 * Starts a daemon bound to config bind:port (port overrides config->port,
 * so that later workers can join the port the first one got for port 0).
 * tls_cert/tls_key are PEM texts (borrowed, must outlive the server) or NULL.
 */
int server_new(struct worker *w, struct loop *l, const struct config *c, unsigned port,
	       const char *tls_cert, const char *tls_key, struct server **out, char *err,
	       size_t errlen);
/* Resumes and answers every suspended request, then stops the daemon. NULL-safe. */
void server_free(struct server *s);

unsigned server_port(const struct server *s);
/* Stops accepting new connections; open ones go on. */
void server_quiesce(struct server *s);
/* Requests accepted and not yet completed. */
unsigned server_inflight(const struct server *s);
/* Answers every request still waiting on a handler with 503 and cancels it. */
void server_cancel_pending(struct server *s);

#endif
